// The profile API through real nginx, talentd, SQLite and s3rver: every
// status code and body of SPEC §1–§3, full and partial updates by JSON,
// urlencoded and multipart, with the database checked afterwards.
#include <jansson.h>
#include <time.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "auth/jwt.h"
#include "db/database.h"
#include "../support/payload.h"
#include "../support/stack.h"

// Last: check.h defines macros (fail) that clash with the C++ library.
#include <check.h>

using talentd::test::HttpResponse;
using talentd::test::Part;
using talentd::test::Stack;

// Compares as std::string: ck_assert_str_eq would keep a pointer into a
// temporary that is gone by the time it compares.
#define EXPECT_STR(actual, expected)                                                                    \
    do {                                                                                                \
        const std::string ck_a_ = (actual), ck_e_ = (expected);                                         \
        ck_assert_msg(ck_a_ == ck_e_, "%s is \"%s\", expected \"%s\"", #actual, ck_a_.c_str(), ck_e_.c_str()); \
    } while (0)

namespace {

// One stack for the whole suite (unchecked fixture: started in the parent,
// shared by the forked tests).
Stack* stack = nullptr;
const char* kPath = "/api/profile/talent/";

void start_stack() {
    std::string why;
    static std::unique_ptr<Stack> owned = Stack::start({{"STACK_WORKERS", "2"}}, &why);
    if (!owned) {
        fprintf(stderr, "stack did not start:\n%s\n", why.c_str());
        abort();
    }
    stack = owned.get();
    // Users: 10 talent (fresh per test via its own id), 90 not a talent, 91 inactive talent.
    ck_assert_msg(stack->add_user(90, "plain@example.com", false, true, &why), "%s", why.c_str());
    ck_assert_msg(stack->add_user(91, "gone@example.com", true, false, &why), "%s", why.c_str());
}

void stop_stack() {}

// A fresh talent user per test, so tests do not see each other's updates.
int64_t fresh_user() {
    // Each test runs in its own fork of the suite: the pid keeps ids apart.
    static int64_t next = 0;
    if (next == 0) next = 100000 + static_cast<int64_t>(getpid() % 100000) * 10;
    int64_t id = next++;
    std::string why;
    if (!stack->add_talent_user(id, &why)) ck_abort_msg("add user: %s", why.c_str());
    return id;
}

std::vector<std::string> bearer(const std::string& token, bool talent = true) {
    std::vector<std::string> h = {"Authorization: Bearer " + token};
    if (talent) h.push_back("is-talent: true");
    return h;
}

HttpResponse call(const std::string& method, const std::string& path, const std::string& body,
                  std::vector<std::string> headers) {
    return stack->request(method, path, body, headers);
}

// The JSON body parsed; aborts the test when it is not JSON.
struct Json {
    json_t* root = nullptr;
    explicit Json(const std::string& text) {
        json_error_t error;
        root = json_loadb(text.data(), text.size(), 0, &error);
        if (!root) ck_abort_msg("not JSON (%s): %s", error.text, text.c_str());
    }
    ~Json() { json_decref(root); }
    json_t* at(const char* path) const {
        json_t* node = root;
        std::string p(path);
        size_t start = 0;
        while (node && start <= p.size()) {
            size_t dot = p.find('.', start);
            std::string key = p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            node = json_is_array(node) ? json_array_get(node, std::stoul(key)) : json_object_get(node, key.c_str());
            if (dot == std::string::npos) break;
            start = dot + 1;
        }
        return node;
    }
    std::string str(const char* path) const {
        json_t* n = at(path);
        if (!n || !json_is_string(n)) ck_abort_msg("%s is not a string", path);
        return json_string_value(n);
    }
    long long integer(const char* path) const {
        json_t* n = at(path);
        if (!n || !json_is_integer(n)) ck_abort_msg("%s is not an integer", path);
        return json_integer_value(n);
    }
    bool boolean(const char* path) const {
        json_t* n = at(path);
        if (!n || !json_is_boolean(n)) ck_abort_msg("%s is not a boolean", path);
        return json_is_true(n);
    }
    bool is_null(const char* path) const { return json_is_null(at(path)); }
};

std::unique_ptr<talentd::db::Database> database() {
    std::string why;
    auto db = stack->open_database(&why);
    if (!db) ck_abort_msg("open database: %s", why.c_str());
    return db;
}

talentd::db::Account account(int64_t id) {
    std::string why;
    auto a = database()->load_account(id, &why);
    if (!a || !a->profile) ck_abort_msg("user %lld has no profile", static_cast<long long>(id));
    return *a;
}

std::string jwt_with(int64_t user_id, int64_t now, int ttl) {
    talentd::auth::JwtSettings s;
    s.algorithm = "HS256";
    s.verify_key = s.signing_key = stack->get("JWT_SECRET");
    std::string why;
    auto t = talentd::auth::mint_access_token(user_id, s, now, ttl, &why);
    if (!t) ck_abort_msg("mint: %s", why.c_str());
    return *t;
}

std::string b64url(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
        out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
    }
    if (in.size() - i == 1) {
        unsigned v = (unsigned char)in[i] << 16;
        out += {t[v >> 18], t[(v >> 12) & 63]};
    } else if (in.size() - i == 2) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
        out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63]};
    }
    return out;
}

void assert_json_headers(const HttpResponse& r) {
    EXPECT_STR(r.header("content-type").c_str(), "application/json");
    EXPECT_STR(r.header("cache-control").c_str(), "no-store");
    EXPECT_STR(r.header("x-content-type-options").c_str(), "nosniff");
}

}  // namespace

// --- §2 authentication and permission ----------------------------------------

START_TEST(test_no_credentials) {
    HttpResponse r = call("GET", kPath, "", {"is-talent: true"});
    ck_assert_int_eq(r.status, 401);
    assert_json_headers(r);
    EXPECT_STR(r.header("www-authenticate").c_str(), "Bearer realm=\"api\"");
    EXPECT_STR(Json(r.body).str("detail").c_str(), "Authentication credentials were not provided.");
}
END_TEST

START_TEST(test_bad_tokens) {
    int64_t id = fresh_user();
    const int64_t now = time(nullptr);
    std::string none_token = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." +
                             b64url("{\"token_type\":\"access\",\"exp\":" + std::to_string(now + 300) +
                                    ",\"jti\":\"x\",\"user_id\":" + std::to_string(id) + "}") +
                             ".";
    std::string good = jwt_with(id, now, 300);
    std::string forged = good.substr(0, good.rfind('.') + 1) + b64url(std::string(32, 'x'));
    for (const std::string& token : {std::string("garbage"), jwt_with(id, now - 1000, 10), none_token, forged,
                                     std::string(7000, 'a')}) {
        HttpResponse r = call("GET", kPath, "", bearer(token));
        ck_assert_int_eq(r.status, 401);
        Json j(r.body);
        EXPECT_STR(j.str("detail").c_str(), "Given token not valid for any token type");
        EXPECT_STR(j.str("code").c_str(), "token_not_valid");
        EXPECT_STR(r.header("www-authenticate").c_str(), "Bearer realm=\"api\"");
    }
    // The good one still works: the refusals above were about the tokens.
    ck_assert_int_eq(call("GET", kPath, "", bearer(good)).status, 200);
}
END_TEST

START_TEST(test_malformed_authorization_header) {
    HttpResponse r = call("GET", kPath, "", {"Authorization: Bearer", "is-talent: true"});
    ck_assert_int_eq(r.status, 401);
    EXPECT_STR(Json(r.body).str("code"), "bad_authorization_header");
    EXPECT_STR(Json(r.body).str("detail"), "Authorization header must contain two space-delimited values");
    // Another scheme is no credentials at all, as simplejwt sees it.
    r = call("GET", kPath, "", {"Authorization: Basic dXNlcjpwYXNz", "is-talent: true"});
    ck_assert_int_eq(r.status, 401);
    EXPECT_STR(Json(r.body).str("detail"), "Authentication credentials were not provided.");
}
END_TEST

START_TEST(test_user_import) {
    if (stack->django_layout()) {
        // Django owns the users: talentctl refuses to create or change one.
        const std::string csv = stack->dir() + "/django.csv";
        ck_assert(talentd::test::write_file(csv, "id,email,first_name,last_name,is_talent,is_active\n"
                                                 "5003,c@example.com,C,Three,1,1\n"));
        std::string out;
        for (const auto& args : std::vector<std::vector<std::string>>{
                 {"user", "import", csv},
                 {"user", "add", "--id", "5003", "--email", "c@example.com", "--talent"},
                 {"user", "set", "--id", "90", "--talent"}}) {
            ck_assert_int_eq(stack->talentctl(args, &out), 1);
            ck_assert_msg(out.find("belong to the Django site") != std::string::npos, "%s", out.c_str());
        }
        std::string why;
        ck_assert(!database()->load_account(5003, &why));
        ck_assert_int_eq(call("GET", kPath, "", bearer(stack->token_for(90))).status, 403);
        return;
    }
    const std::string bad = stack->dir() + "/bad.csv";
    const std::string good = stack->dir() + "/good.csv";
    ck_assert(talentd::test::write_file(bad, "id,email,first_name,last_name,is_talent,is_active\n"
                                             "5001,a@example.com,A,One,1,1\n"
                                             "5002,b@example.com,B,Two,yes,1\n"));
    std::string out;
    ck_assert_int_ne(stack->talentctl({"user", "import", bad}, &out), 0);
    ck_assert_msg(out.find(":3:") != std::string::npos, "line number in: %s", out.c_str());
    std::string why;
    ck_assert(!database()->load_account(5001, &why));   // nothing imported
    ck_assert(talentd::test::write_file(good, "id,email,first_name,last_name,is_talent,is_active\n"
                                              "5001,a@example.com,A,One,1,1\n"
                                              "5002,\"b,c@example.com\",B,Two,0,1\n"));
    ck_assert_int_eq(stack->talentctl({"user", "import", good}, &out), 0);
    ck_assert(database()->load_account(5001, &why)->profile.has_value());
    auto b = database()->load_account(5002, &why);
    ck_assert(b && !b->profile);
    EXPECT_STR(b->user.email, "b,c@example.com");
    ck_assert_int_eq(call("GET", kPath, "", bearer(stack->token_for(5001))).status, 200);
    ck_assert_int_eq(call("GET", kPath, "", bearer(stack->token_for(5002))).status, 403);
}
END_TEST

START_TEST(test_unknown_and_inactive_users) {
    HttpResponse r = call("GET", kPath, "", bearer(stack->token_for(424242)));
    ck_assert_int_eq(r.status, 401);
    EXPECT_STR(Json(r.body).str("code").c_str(), "user_not_found");
    EXPECT_STR(Json(r.body).str("detail").c_str(), "User not found");
    r = call("GET", kPath, "", bearer(stack->token_for(91)));
    ck_assert_int_eq(r.status, 401);
    EXPECT_STR(Json(r.body).str("code").c_str(), "user_inactive");
    EXPECT_STR(Json(r.body).str("detail").c_str(), "User is inactive");
}
END_TEST

START_TEST(test_permission) {
    int64_t id = fresh_user();
    const char* forbidden = "You do not have permission to perform this action.";
    HttpResponse r = call("GET", kPath, "", bearer(stack->token_for(id), false));
    ck_assert_int_eq(r.status, 403);
    EXPECT_STR(Json(r.body).str("detail").c_str(), forbidden);
    r = call("GET", kPath, "", {"Authorization: Bearer " + stack->token_for(id), "is-talent: false"});
    ck_assert_int_eq(r.status, 403);
    r = call("GET", kPath, "", {"Authorization: Bearer " + stack->token_for(id), "is-talent: TRUE"});
    ck_assert_int_eq(r.status, 200);
    r = call("GET", kPath, "", bearer(stack->token_for(90)));
    ck_assert_int_eq(r.status, 403);
    EXPECT_STR(Json(r.body).str("detail").c_str(), forbidden);
}
END_TEST

// --- §1 requests ----------------------------------------------------------------

START_TEST(test_methods_and_redirect) {
    int64_t id = fresh_user();
    auto h = bearer(stack->token_for(id));
    for (const char* m : {"PUT", "DELETE"}) {
        HttpResponse r = call(m, kPath, "", h);
        ck_assert_int_eq(r.status, 405);
        EXPECT_STR(r.header("allow").c_str(), "GET, POST, PATCH, HEAD, OPTIONS");
        EXPECT_STR(Json(r.body).str("detail").c_str(), (std::string("Method \"") + m + "\" not allowed.").c_str());
    }
    HttpResponse r = call("GET", "/api/profile/talent?partial=true", "", h);
    ck_assert_int_eq(r.status, 308);
    EXPECT_STR(r.header("location").c_str(), "/api/profile/talent/?partial=true");
    r = call("GET", "/nope", "", {});
    ck_assert_int_eq(r.status, 404);
    EXPECT_STR(Json(r.body).str("detail").c_str(), "Not found.");
    r = call("HEAD", kPath, "", h);
    ck_assert_int_eq(r.status, 200);
    ck_assert(r.body.empty());
}
END_TEST

START_TEST(test_bodies_refused) {
    int64_t id = fresh_user();
    auto h = bearer(stack->token_for(id));
    auto with = [&](const std::string& type) {
        auto v = h;
        v.push_back("Content-Type: " + type);
        return v;
    };
    HttpResponse r = call("POST", kPath, "hello", with("text/plain"));
    ck_assert_int_eq(r.status, 415);
    EXPECT_STR(Json(r.body).str("detail").c_str(), "Unsupported media type \"text/plain\" in request.");
    r = call("PATCH", kPath, "{\"city\": ", with("application/json"));
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(Json(r.body).str("detail").rfind("JSON parse error - ", 0) == 0, "%s", r.body.c_str());
    r = call("PATCH", kPath, "--nope\r\ngarbage", with("multipart/form-data; boundary=zzz"));
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(Json(r.body).str("detail").rfind("Multipart form parse error - ", 0) == 0, "%s", r.body.c_str());
    // Over max_request_size (6 MiB): refused with DRF's JSON, whoever notices first.
    r = call("PATCH", kPath, std::string(7 * 1024 * 1024, 'a'), with("application/x-www-form-urlencoded"));
    ck_assert_int_eq(r.status, 413);
    EXPECT_STR(Json(r.body).str("detail").c_str(), "Request body too large.");
    // Nothing of it reached the profile.
    EXPECT_STR(account(id).profile->city.c_str(), "");
}
END_TEST

START_TEST(test_refused_before_body_is_read) {
    // A refused request never costs a body read: the 401 comes back even for
    // a body that would be too large and unparseable.
    HttpResponse r = call("POST", kPath, std::string(5 * 1024 * 1024, '{'),
                          {"Content-Type: application/json", "is-talent: true"});
    ck_assert_int_eq(r.status, 401);
}
END_TEST

START_TEST(test_cors_preflight) {
    std::string origin = stack->get("BASE_URL");
    HttpResponse r = call("OPTIONS", kPath, "",
                          {"Origin: " + origin, "Access-Control-Request-Method: POST",
                           "Access-Control-Request-Headers: authorization, is-talent, content-type"});
    ck_assert_int_eq(r.status, 200);
    EXPECT_STR(r.header("access-control-allow-origin").c_str(), origin.c_str());
    ck_assert_msg(r.header("access-control-allow-headers").find("is-talent") != std::string::npos, "headers");
    ck_assert_msg(r.header("access-control-allow-headers").find("authorization") != std::string::npos, "headers");
    r = call("OPTIONS", kPath, "", {"Origin: https://evil.example", "Access-Control-Request-Method: POST"});
    ck_assert_int_eq(r.status, 200);
    EXPECT_STR(r.header("access-control-allow-origin").c_str(), "");
}
END_TEST

// --- §3 the profile -----------------------------------------------------------

START_TEST(test_get_profile) {
    int64_t id = fresh_user();
    HttpResponse r = call("GET", kPath, "", bearer(stack->token_for(id)));
    ck_assert_int_eq(r.status, 200);
    assert_json_headers(r);
    Json j(r.body);
    ck_assert_int_eq(j.integer("user.id"), id);
    EXPECT_STR(j.str("user.email").c_str(), ("user" + std::to_string(id) + "@example.com").c_str());
    ck_assert(j.is_null("profile_picture"));
    ck_assert(j.is_null("date_of_birth"));
    EXPECT_STR(j.str("account_type").c_str(), "free");
    ck_assert(!j.boolean("is_verified"));
    ck_assert(!j.boolean("profile_complete"));
    ck_assert_int_eq(j.integer("profile_score"), 20);   // first and last name
    ck_assert_int_eq(j.integer("file_limits.max_image_size"), 5242880);
    ck_assert_int_eq(j.integer("file_limits.max_video_size"), 104857600);
    EXPECT_STR(j.str("file_limits.allowed_image_types.4").c_str(), "webp");
    EXPECT_STR(j.str("file_limits.allowed_video_types.2").c_str(), "avi");
}
END_TEST

START_TEST(test_full_update_json) {
    int64_t id = fresh_user();
    auto h = bearer(stack->token_for(id));
    h.push_back("Content-Type: application/json");
    std::string body = R"({"first_name": "  Zoë ", "last_name": "Ångström", "aboutyou": "Actor.", "city": "New York",
        "country": "USA", "gender": "Female", "date_of_birth": "1990-01-01", "phone": "+1 (234) 567-890",
        "is_verified": true, "account_type": "pro", "email": "x@evil.example", "id": 9, "unknown": 1})";
    HttpResponse r = call("POST", kPath, body, h);
    ck_assert_int_eq(r.status, 200);
    assert_json_headers(r);
    Json j(r.body);
    EXPECT_STR(j.str("message").c_str(), "Profile updated successfully");
    EXPECT_STR(j.str("profile.user.first_name").c_str(), "Zoë");
    EXPECT_STR(j.str("profile.phone").c_str(), "+1234567890");
    ck_assert(!j.boolean("profile.is_verified"));
    EXPECT_STR(j.str("profile.account_type").c_str(), "free");
    EXPECT_STR(j.str("profile.user.email").c_str(), ("user" + std::to_string(id) + "@example.com").c_str());
    ck_assert_int_eq(j.integer("profile.profile_score"), 65);   // everything but the picture and verification
    ck_assert(!j.boolean("profile.profile_complete"));
    auto a = account(id);
    EXPECT_STR(a.user.first_name.c_str(), "Zoë");
    EXPECT_STR(a.user.last_name.c_str(), "Ångström");
    EXPECT_STR(a.profile->city.c_str(), "New York");
    EXPECT_STR(a.profile->date_of_birth.value_or("").c_str(), "1990-01-01");
    ck_assert(!a.profile->is_verified);
    EXPECT_STR(a.user.email.c_str(), ("user" + std::to_string(id) + "@example.com").c_str());
}
END_TEST

START_TEST(test_full_update_requires_names) {
    int64_t id = fresh_user();
    auto h = bearer(stack->token_for(id));
    h.push_back("Content-Type: application/json");
    HttpResponse r = call("POST", kPath, R"({"city": "Paris", "last_name": "  "})", h);
    ck_assert_int_eq(r.status, 400);
    Json j(r.body);
    EXPECT_STR(j.str("first_name.0").c_str(), "This field is required.");
    EXPECT_STR(j.str("last_name.0").c_str(), "This field may not be blank.");
    EXPECT_STR(account(id).profile->city.c_str(), "");   // all or nothing
    // The same as a partial update succeeds for city and still refuses the blank name.
    r = call("POST", std::string(kPath) + "?partial=yes", R"({"city": "Paris"})", h);
    ck_assert_int_eq(r.status, 200);
    EXPECT_STR(account(id).profile->city.c_str(), "Paris");
}
END_TEST

START_TEST(test_partial_urlencoded_and_patch) {
    int64_t id = fresh_user();
    auto h = bearer(stack->token_for(id));
    h.push_back("Content-Type: application/x-www-form-urlencoded");
    HttpResponse r = call("POST", std::string(kPath) + "?partial=1", "city=S%C3%A3o+Paulo&gender=Other", h);
    ck_assert_int_eq(r.status, 200);
    auto a = account(id);
    EXPECT_STR(a.profile->city.c_str(), "São Paulo");
    EXPECT_STR(a.profile->gender.c_str(), "Other");
    EXPECT_STR(a.user.first_name.c_str(), "Test");   // untouched
    r = call("PATCH", kPath, "country=Brazil", h);
    ck_assert_int_eq(r.status, 200);
    EXPECT_STR(account(id).profile->country.c_str(), "Brazil");
    EXPECT_STR(Json(r.body).str("profile.city").c_str(), "São Paulo");
}
END_TEST

START_TEST(test_partial_multipart_without_file) {
    int64_t id = fresh_user();
    auto mp = talentd::test::make_multipart({{"aboutyou", "Dancer & singer <3", "", ""}, {"phone", "555-123-4567", "", ""}});
    auto h = bearer(stack->token_for(id));
    h.push_back("Content-Type: " + mp.content_type);
    HttpResponse r = call("PATCH", kPath, mp.body, h);
    ck_assert_int_eq(r.status, 200);
    auto a = account(id);
    EXPECT_STR(a.profile->aboutyou.c_str(), "Dancer & singer <3");
    EXPECT_STR(a.profile->phone.c_str(), "5551234567");
}
END_TEST

START_TEST(test_field_errors_all_at_once) {
    int64_t id = fresh_user();
    auto h = bearer(stack->token_for(id));
    h.push_back("Content-Type: application/json");
    std::string long_name(151, 'x');
    HttpResponse r = call("PATCH", kPath,
                          "{\"first_name\": \"" + long_name +
                              "\", \"gender\": \"Robot\", \"date_of_birth\": \"2999-01-01\", \"phone\": \"12\", "
                              "\"city\": \"ok\", \"aboutyou\": \"a\\u0000b\"}",
                          h);
    ck_assert_int_eq(r.status, 400);
    Json j(r.body);
    EXPECT_STR(j.str("first_name.0").c_str(), "Ensure this field has no more than 150 characters.");
    EXPECT_STR(j.str("gender.0").c_str(), "\"Robot\" is not a valid choice.");
    ck_assert_msg(j.at("date_of_birth.0") != nullptr, "date_of_birth error");
    ck_assert_msg(j.at("phone.0") != nullptr, "phone error");
    EXPECT_STR(j.str("aboutyou.0").c_str(), "Null characters are not allowed.");
    ck_assert(j.at("city") == nullptr);
    EXPECT_STR(account(id).profile->city.c_str(), "");   // nothing changed
}
END_TEST

START_TEST(test_picture_upload_and_refusal) {
    int64_t id = fresh_user();
    auto h = bearer(stack->token_for(id));
    std::string png = talentd::test::read_file(talentd::test::corpus_dir() + "/valid/png/basn6a08.png");
    ck_assert(!png.empty());
    // PNG bytes named .jpg and sent as image/jpeg: stored as what they are.
    auto mp = talentd::test::make_multipart({{"profile_picture", png, "photo.jpg", "image/jpeg"}});
    auto hh = h;
    hh.push_back("Content-Type: " + mp.content_type);
    HttpResponse r = call("POST", std::string(kPath) + "?partial=true", mp.body, hh);
    ck_assert_int_eq(r.status, 200);
    Json j(r.body);
    std::string url = j.str("profile.profile_picture");
    std::string prefix = stack->get("PUBLIC_BASE_URL") + "/" + stack->get("MEDIA_PREFIX") + "user_" +
                         std::to_string(id) + "_";
    ck_assert_msg(url.rfind(prefix, 0) == 0, "url %s", url.c_str());
    ck_assert_msg(url.size() == prefix.size() + 32 + 4 && url.substr(url.size() - 4) == ".png", "url %s", url.c_str());
    ck_assert_int_eq(j.integer("profile.profile_score"), 40);
    HttpResponse object = stack->request("GET", url);
    ck_assert_int_eq(object.status, 200);
    ck_assert(object.body == png);
    EXPECT_STR(object.header("content-type").c_str(), "image/png");

    // A truncated JPEG is refused with Django's message and changes nothing.
    std::string bad = talentd::test::read_file(talentd::test::corpus_dir() + "/invalid/jpeg/truncated_50pct.jpg");
    auto mp2 = talentd::test::make_multipart({{"profile_picture", bad, "x.jpg", "image/jpeg"}, {"city", "Rome", "", ""}});
    hh = h;
    hh.push_back("Content-Type: " + mp2.content_type);
    r = call("PATCH", kPath, mp2.body, hh);
    ck_assert_int_eq(r.status, 400);
    EXPECT_STR(Json(r.body).str("profile_picture.0").c_str(),
                     "Upload a valid image. The file you uploaded was either not an image or a corrupted image.");
    auto a = account(id);
    EXPECT_STR(a.profile->city.c_str(), "");
    ck_assert_msg(a.profile->picture_key && url.find(*a.profile->picture_key) != std::string::npos, "picture kept");

    // A text value where the file belongs.
    hh = h;
    hh.push_back("Content-Type: application/x-www-form-urlencoded");
    r = call("PATCH", kPath, "profile_picture=hello", hh);
    ck_assert_int_eq(r.status, 400);
    EXPECT_STR(Json(r.body).str("profile_picture.0").c_str(),
                     "The submitted data was not a file. Check the encoding type on the form.");
    // An empty file.
    auto mp3 = talentd::test::make_multipart({{"profile_picture", "", "empty.jpg", "image/jpeg"}});
    hh = h;
    hh.push_back("Content-Type: " + mp3.content_type);
    r = call("PATCH", kPath, mp3.body, hh);
    ck_assert_int_eq(r.status, 400);
    EXPECT_STR(Json(r.body).str("profile_picture.0").c_str(), "The submitted file is empty.");
}
END_TEST

START_TEST(test_picture_limits_through_nginx) {
    int64_t id = fresh_user();
    auto h = bearer(stack->token_for(id));
    auto upload = [&](const std::string& file, const std::string& name) {
        std::string bytes = talentd::test::read_file(talentd::test::corpus_dir() + "/" + file);
        ck_assert_msg(!bytes.empty(), "corpus file %s", file.c_str());
        auto mp = talentd::test::make_multipart({{"profile_picture", bytes, name, "image/jpeg"}});
        auto hh = h;
        hh.push_back("Content-Type: " + mp.content_type);
        return call("PATCH", kPath, mp.body, hh);
    };
    // One byte over max_image_size: refused on size, both sizes named.
    HttpResponse r = upload("invalid/size/over_limit_5242881_bytes.jpg", "big.jpg");
    ck_assert_int_eq(r.status, 400);
    std::string message = Json(r.body).str("profile_picture.0");
    ck_assert_msg(message.find("5242880") != std::string::npos && message.find("5242881") != std::string::npos,
                  "%s", message.c_str());
    // A recognised but disallowed format, named with the allowed list.
    r = upload("invalid/other/vgl_6434_0018a.bmp", "photo.jpg");
    ck_assert_int_eq(r.status, 400);
    EXPECT_STR(Json(r.body).str("profile_picture.0"),
               "File extension \u201cbmp\u201d is not allowed. Allowed extensions are: jpg, jpeg, png, gif, webp.");
    // A pixel bomb: refused from its header with the dimensions.
    r = upload("invalid/bomb/jpeg_sof_65000x65000.jpg", "bomb.jpg");
    ck_assert_int_eq(r.status, 400);
    message = Json(r.body).str("profile_picture.0");
    ck_assert_msg(message.find("65000x65000") != std::string::npos, "%s", message.c_str());
    ck_assert(!account(id).profile->picture_key);
}
END_TEST

// --- §2 cookies, for HTML forms -------------------------------------------------------

START_TEST(test_cookie_form_post) {
    int64_t id = fresh_user();
    std::string origin = stack->get("BASE_URL");
    std::string cookie = "Cookie: access_token=" + stack->token_for(id);
    auto mp = talentd::test::make_multipart({{"is_talent", "true", "", ""}, {"city", "Oslo", "", ""}});
    std::vector<std::string> h = {cookie, "Origin: " + origin, "Content-Type: " + mp.content_type};
    HttpResponse r = call("POST", std::string(kPath) + "?partial=true", mp.body, h);
    ck_assert_int_eq(r.status, 200);
    EXPECT_STR(account(id).profile->city.c_str(), "Oslo");

    // Another origin: Django's CSRF message, nothing changed.
    auto mp2 = talentd::test::make_multipart({{"is_talent", "true", "", ""}, {"city", "Evil", "", ""}});
    h = {cookie, "Origin: https://evil.example", "Content-Type: " + mp2.content_type};
    r = call("POST", std::string(kPath) + "?partial=true", mp2.body, h);
    ck_assert_int_eq(r.status, 403);
    EXPECT_STR(Json(r.body).str("detail").c_str(),
                     "CSRF Failed: Origin checking failed - https://evil.example does not match any trusted origins.");
    // Neither Origin nor Referer.
    h = {cookie, "Content-Type: " + mp2.content_type};
    ck_assert_int_eq(call("POST", std::string(kPath) + "?partial=true", mp2.body, h).status, 403);
    // A Referer from the trusted origin stands in for a missing Origin.
    h = {cookie, "Referer: " + origin + "/", "Content-Type: " + mp2.content_type};
    ck_assert_int_eq(call("POST", std::string(kPath) + "?partial=true", mp2.body, h).status, 200);
    // Without the is_talent form field: forbidden.
    auto mp3 = talentd::test::make_multipart({{"city", "Nowhere", "", ""}});
    h = {cookie, "Origin: " + origin, "Content-Type: " + mp3.content_type};
    r = call("POST", std::string(kPath) + "?partial=true", mp3.body, h);
    ck_assert_int_eq(r.status, 403);
    EXPECT_STR(account(id).profile->city.c_str(), "Evil");
}
END_TEST

START_TEST(test_cookie_form_post_html_answers) {
    int64_t id = fresh_user();
    std::string origin = stack->get("BASE_URL");
    std::string cookie = "Cookie: access_token=" + stack->token_for(id);
    auto mp = talentd::test::make_multipart({{"is_talent", "true", "", ""}, {"city", "Lima", "", ""}, {"next", "/", "", ""}});
    std::vector<std::string> h = {cookie, "Origin: " + origin, "Content-Type: " + mp.content_type,
                                  "Accept: text/html,application/xhtml+xml"};
    HttpResponse r = call("POST", std::string(kPath) + "?partial=true", mp.body, h);
    ck_assert_int_eq(r.status, 303);
    EXPECT_STR(r.header("location").c_str(), "/");
    // An absolute next is ignored: the page itself comes back.
    auto mp2 = talentd::test::make_multipart(
        {{"is_talent", "true", "", ""}, {"city", "Quito", "", ""}, {"next", "https://evil.example/", "", ""}});
    h[2] = "Content-Type: " + mp2.content_type;
    r = call("POST", std::string(kPath) + "?partial=true", mp2.body, h);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(r.header("content-type").rfind("text/html", 0) == 0, "%s", r.header("content-type").c_str());
    ck_assert_msg(r.body.find("Profile updated successfully") != std::string::npos, "banner");
    // Errors next to their fields, typed values kept and escaped.
    auto mp3 = talentd::test::make_multipart(
        {{"is_talent", "true", "", ""}, {"city", "<b>Bad</b>", "", ""}, {"gender", "<script>", "", ""}});
    h[2] = "Content-Type: " + mp3.content_type;
    r = call("POST", std::string(kPath) + "?partial=true", mp3.body, h);
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(r.body.find("&quot;&lt;script&gt;&quot; is not a valid choice.") != std::string::npos, "%s",
                  r.body.c_str());
    ck_assert_msg(r.body.find("value=\"&lt;b&gt;Bad&lt;/b&gt;\"") != std::string::npos, "typed value kept");
    ck_assert_msg(r.body.find("<script>\"") == std::string::npos, "escaped");
    EXPECT_STR(account(id).profile->city.c_str(), "Quito");
}
END_TEST

START_TEST(test_page) {
    int64_t id = fresh_user();
    HttpResponse r = call("GET", "/", "", {"Cookie: access_token=" + stack->token_for(id)});
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(r.body.find("enctype=\"multipart/form-data\"") != std::string::npos, "form");
    ck_assert_msg(r.body.find("user" + std::to_string(id) + "@example.com") != std::string::npos, "email");
    ck_assert_msg(!r.header("content-security-policy").empty(), "CSP");
    r = call("GET", "/", "", {});
    ck_assert_int_eq(r.status, 401);
}
END_TEST

Suite* api_suite() {
    Suite* s = suite_create("api");
    TCase* tc = tcase_create("stack");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, start_stack, stop_stack);
    tcase_add_test(tc, test_no_credentials);
    tcase_add_test(tc, test_bad_tokens);
    tcase_add_test(tc, test_malformed_authorization_header);
    tcase_add_test(tc, test_user_import);
    tcase_add_test(tc, test_unknown_and_inactive_users);
    tcase_add_test(tc, test_permission);
    tcase_add_test(tc, test_methods_and_redirect);
    tcase_add_test(tc, test_bodies_refused);
    tcase_add_test(tc, test_refused_before_body_is_read);
    tcase_add_test(tc, test_cors_preflight);
    tcase_add_test(tc, test_get_profile);
    tcase_add_test(tc, test_full_update_json);
    tcase_add_test(tc, test_full_update_requires_names);
    tcase_add_test(tc, test_partial_urlencoded_and_patch);
    tcase_add_test(tc, test_partial_multipart_without_file);
    tcase_add_test(tc, test_field_errors_all_at_once);
    tcase_add_test(tc, test_picture_upload_and_refusal);
    tcase_add_test(tc, test_picture_limits_through_nginx);
    tcase_add_test(tc, test_cookie_form_post);
    tcase_add_test(tc, test_cookie_form_post_html_answers);
    tcase_add_test(tc, test_page);
    suite_add_tcase(s, tc);
    return s;
}

int main() {
    SRunner* runner = srunner_create(api_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
