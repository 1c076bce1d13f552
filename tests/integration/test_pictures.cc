// Profile pictures through the real stack (nginx, talentd, SQLite, s3rver):
// SPEC §5 end to end.  What lands in the bucket (canonical bytes, headers,
// key), replacement and clearing without orphans, storage outages and an
// untrusted store certificate (503, nothing changed), failed deletes kept in
// the journal and retried with growing backoff, a worker killed at each step
// of the replacement protocol (the reaper restores the invariant: the
// bucket's keys are the profiles' keys), a pending key claimed by the
// reaper while its upload is in flight (the late commit fails and leaves no
// orphan), and 16 concurrent uploads for one user leaving exactly one object.
//
// Two stacks, one after the other: "pictures" (shared by most tests) and
// "faults" (test_crash_at).  A test that changes talentd's configuration
// appends lines after kMarker and restarts talentd; every test's setup
// strips them again (and starts s3rver) in case an earlier test failed half
// way.  Restarts run in a session of their own (see control()).  The bucket
// is checked independently of talentd by listing s3rver's data directory.
#include <jansson.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "db/database.h"
#include "image/validate.h"
#include "../support/free_port.h"
#include "../support/http_client.h"
#include "../support/nginx_proc.h"
#include "../support/payload.h"
#include "../support/stack.h"
#include "../support/temp_dir.h"
#include "../support/timing.h"
#include "../support/talent.h"

// Last: check.h defines macros (fail) that clash with the C++ library.
#include <check.h>

namespace t = talentd::test;
using t::HttpResponse;
using t::Part;
using t::Stack;

// Compares as std::string: ck_assert_str_eq would keep a pointer into a
// temporary that is gone by the time it compares.
#define EXPECT_STR(actual, expected)                                                                    \
    do {                                                                                                \
        const std::string ck_a_ = (actual), ck_e_ = (expected);                                         \
        ck_assert_msg(ck_a_ == ck_e_, "%s is \"%s\", expected \"%s\"", #actual, ck_a_.c_str(), ck_e_.c_str()); \
    } while (0)

#define EXPECT_CONTAINS(haystack, needle)                                                               \
    do {                                                                                                \
        const std::string ck_h_ = (haystack), ck_n_ = (needle);                                         \
        ck_assert_msg(ck_h_.find(ck_n_) != std::string::npos, "%s does not contain \"%s\":\n%s", #haystack, \
                      ck_n_.c_str(), ck_h_.c_str());                                                    \
    } while (0)

namespace {

namespace fs = std::filesystem;

const std::string kPath = "/api/profile/talent/";
const char* kMarker = "# test_pictures: overrides\n";
const char* kUnavailable = "{\"detail\":\"Storage temporarily unavailable, please retry.\"}";

Stack* pictures_stack = nullptr;   // tcase "pictures"
Stack* faults_stack = nullptr;     // tcase "faults"

// --- files and images --------------------------------------------------------------

std::string corpus(const std::string& relative) {
    std::string bytes = t::read_file(t::corpus_dir() + "/" + relative);
    if (bytes.empty()) ck_abort_msg("corpus file %s missing (TALENTD_CORPUS=%s)", relative.c_str(), t::corpus_dir().c_str());
    return bytes;
}

// What talentd must store for `bytes`: its own validator's canonical prefix.
std::string canonical(const std::string& bytes) {
    talentd::image::Limits limits;
    auto v = talentd::image::validate(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), limits);
    ck_assert_msg(v.ok, "test image refused: %s", v.reason.c_str());
    return bytes.substr(0, v.canonical_length);
}

// The same JPEG with another JFIF pixel density: a different, valid file
// whose difference survives metadata stripping (JFIF is kept; a comment
// would be removed).
std::string with_density(const std::string& jpeg, unsigned density) {
    ck_assert_msg(jpeg.compare(6, 5, std::string("JFIF\0", 5)) == 0, "no JFIF APP0 right after SOI");
    std::string out = jpeg;
    out[14] = static_cast<char>(density >> 8);   // X density
    out[15] = static_cast<char>(density & 0xFF);
    return out;
}

// key == head + 32 lowercase hex digits + tail.
bool has_shape(const std::string& key, const std::string& head, const std::string& tail) {
    if (key.size() != head.size() + 32 + tail.size()) return false;
    if (key.compare(0, head.size(), head) != 0 || key.compare(head.size() + 32, tail.size(), tail) != 0) return false;
    return std::all_of(key.begin() + head.size(), key.begin() + head.size() + 32,
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

void wait_until(int64_t epoch_seconds) {
    while (static_cast<int64_t>(time(nullptr)) < epoch_seconds) usleep(50 * 1000);
}

// --- the stack -----------------------------------------------------------------------

int64_t fresh_user(const Stack& s) { return talentd::test::fresh_talent_user(s, 100000); }

using talentd::test::bearer;

HttpResponse upload(const Stack& s, int64_t user_id, const std::string& bytes, const std::vector<Part>& extra = {}) {
    std::vector<Part> parts = {{"profile_picture", bytes, "photo.jpg", "image/jpeg"}};
    parts.insert(parts.end(), extra.begin(), extra.end());
    auto mp = t::make_multipart(parts);
    auto h = bearer(s, user_id);
    h.push_back("Content-Type: " + mp.content_type);
    return s.request("POST", kPath + "?partial=true", mp.body, h, 60);
}

std::string url_of(const Stack& s, const std::string& key) { return s.get("PUBLIC_BASE_URL") + "/" + key; }

// The object as s3rver serves it (anonymous GET, as a browser would).
HttpResponse object(const Stack& s, const std::string& key) { return s.request("GET", url_of(s, key)); }

// talentctl -c TALENTD_CONF args..., with env_extra in its environment.
int ctl(const Stack& s, const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
        std::string* output) {
    std::vector<std::string> argv = {t::stack_build_dir() + "/talentctl", "-c", s.get("TALENTD_CONF")};
    argv.insert(argv.end(), args.begin(), args.end());
    return t::run_command(argv, env, output);
}

std::unique_ptr<talentd::db::Database> database(const Stack& s) {
    std::string why;
    auto db = s.open_database(&why);
    if (!db) ck_abort_msg("open database: %s", why.c_str());
    return db;
}

// Sets a journal row's next_attempt_at, nothing else (attempts unchanged).
void set_next_attempt(const Stack& s, const std::string& key, int64_t when) {
    if (s.database_kind() == "postgresql") {
        const std::string table = s.django_layout() ? "talentd_storage_journal" : "storage_journal";
        std::string changed;
        ck_assert_int_eq(s.sql("WITH u AS (UPDATE " + table + " SET next_attempt_at = " + std::to_string(when) +
                                   " WHERE key = '" + key + "' RETURNING 1) SELECT count(*) FROM u",
                               &changed),
                         0);
        ck_assert_msg(changed.find('1') == 0, "rows changed: %s", changed.c_str());
        return;
    }
    sqlite3* db = nullptr;
    ck_assert_int_eq(sqlite3_open((s.dir() + "/talentd.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE storage_journal SET next_attempt_at = ? WHERE key = ?", -1, &st,
                                        nullptr),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, when);
    sqlite3_bind_text(st, 2, key.c_str(), -1, SQLITE_TRANSIENT);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    ck_assert_int_eq(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

talentd::db::Account account(const Stack& s, int64_t id) {
    std::string why;
    auto a = database(s)->load_account(id, &why);
    if (!a || !a->profile) ck_abort_msg("user %lld has no profile %s", static_cast<long long>(id), why.c_str());
    return *a;
}

std::string picture_key(const Stack& s, int64_t id) { return account(s, id).profile->picture_key.value_or(""); }

std::vector<talentd::db::JournalEntry> journal(const Stack& s) {
    std::vector<talentd::db::JournalEntry> entries;
    std::string why;
    if (!database(s)->journal_entries(&entries, &why)) ck_abort_msg("journal: %s", why.c_str());
    return entries;
}

std::vector<talentd::db::JournalEntry> journal_of(const Stack& s, int64_t user_id) {
    auto all = journal(s);
    std::vector<talentd::db::JournalEntry> mine;
    for (auto& e : all)
        if (e.user_id == user_id) mine.push_back(e);
    return mine;
}

// The bucket's keys under media_prefix, read from s3rver's data directory
// (DIR/s3/BUCKET/<key>._S3rver_object): independent of talentd and libs3.
std::set<std::string> bucket_keys(const Stack& s) {
    const fs::path bucket = fs::path(s.dir()) / "s3" / s.get("S3_BUCKET");
    const std::string prefix = s.get("MEDIA_PREFIX");
    const std::string suffix = "._S3rver_object";
    std::set<std::string> keys;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(bucket, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        std::string rel = fs::relative(it->path(), bucket).string();
        if (rel.size() <= suffix.size() || rel.compare(rel.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        rel.resize(rel.size() - suffix.size());
        if (rel.rfind(prefix, 0) == 0) keys.insert(rel);
    }
    return keys;
}

std::set<std::string> keys_of_user(const Stack& s, int64_t user_id) {
    std::set<std::string> mine;
    const std::string head = s.get("MEDIA_PREFIX") + "user_" + std::to_string(user_id) + "_";
    for (const auto& k : bucket_keys(s))
        if (k.rfind(head, 0) == 0) mine.insert(k);
    return mine;
}

std::set<std::string> referenced_keys(const Stack& s) {
    std::vector<talentd::db::Account> accounts;
    std::string why;
    if (!database(s)->list_users(&accounts, &why)) ck_abort_msg("list users: %s", why.c_str());
    std::set<std::string> keys;
    for (const auto& a : accounts)
        if (a.profile && a.profile->picture_key) keys.insert(*a.profile->picture_key);
    return keys;
}

std::string join(const std::set<std::string>& keys) {
    std::string out;
    for (const auto& k : keys) out += "  " + k + "\n";
    return out.empty() ? "  (none)\n" : out;
}

// SPEC §5's invariant, after a reaper pass: `talentctl audit` agrees, the
// bucket's keys (listed independently) are exactly the profiles' keys, and
// every profile's URL serves one of `images` (when given).
void assert_invariant(const Stack& s, const std::vector<std::string>& images) {
    std::string out;
    int rc = ctl(s, {"audit"}, {}, &out);
    ck_assert_msg(rc == 0, "talentctl audit: status %d\n%s", rc, out.c_str());
    EXPECT_CONTAINS(out, " 0 unreferenced, 0 missing");
    std::set<std::string> in_bucket = bucket_keys(s), referenced = referenced_keys(s);
    ck_assert_msg(in_bucket == referenced, "bucket keys:\n%sprofile keys:\n%s", join(in_bucket).c_str(),
                  join(referenced).c_str());
    for (const auto& key : referenced) {
        HttpResponse r = object(s, key);
        ck_assert_msg(r.status == 200, "GET %s: %ld %s", key.c_str(), r.status, r.error.c_str());
        if (!images.empty())
            ck_assert_msg(std::find(images.begin(), images.end(), r.body) != images.end(),
                          "%s serves %zu bytes that are none of the pictures uploaded", key.c_str(), r.body.size());
    }
}

// A talentctl reap pass that treats every pending entry as abandoned.
std::string reap_all(const Stack& s, const std::map<std::string, std::string>& env_extra = {}) {
    std::map<std::string, std::string> env = env_extra;
    env["TALENTD_PENDING_GRACE"] = "0";
    std::string out;
    int rc = ctl(s, {"reap"}, env, &out);
    ck_assert_msg(rc == 0, "talentctl reap: status %d\n%s", rc, out.c_str());
    return out;
}

// tests/stack COMMAND DIR in a session of its own.  Check runs each test in
// a forked process group and SIGKILLs that group when the test ends: a
// talentd or s3rver (re)started by Stack::control from inside a test would
// die with it, leaving the next test a dead socket.
int control(const Stack& s, const std::string& command, std::string* output) {
    return t::run_command({"/usr/bin/setsid", "/bin/bash", t::stack_source_root() + "/tests/stack", command, s.dir()},
                          {}, output);
}

// talentd.conf without this test's overrides, plus `lines`; talentd restarted.
void configure(const Stack& s, const std::string& lines) {
    const std::string path = s.get("TALENTD_CONF");
    std::string text = t::read_file(path);
    size_t at = text.find(kMarker);
    if (at != std::string::npos) text.resize(at);
    if (!lines.empty()) text += std::string(kMarker) + lines + "\n";
    ck_assert_msg(t::write_file(path, text), "cannot write %s", path.c_str());
    std::string out;
    int rc = control(s, "restart-talentd", &out);
    ck_assert_msg(rc == 0, "restart-talentd: status %d\n%s", rc, out.c_str());
}

// Setup of every test: the stack as started (no overrides, s3rver up).
void normalize(const Stack& s) {
    if (t::read_file(s.get("TALENTD_CONF")).find(kMarker) != std::string::npos) configure(s, "");
    std::string out;
    int rc = control(s, "start-s3", &out);
    ck_assert_msg(rc == 0, "start-s3: %s", out.c_str());
}

// The picture URL of an update's answer: the absolute URL of a fresh key.
std::string answered_key(const Stack& s, const HttpResponse& r, int64_t user_id) {
    json_error_t error;
    json_t* root = json_loadb(r.body.data(), r.body.size(), 0, &error);
    if (!root) ck_abort_msg("not JSON (%s): %s", error.text, r.body.c_str());
    json_t* url = json_object_get(json_object_get(root, "profile"), "profile_picture");
    std::string text = json_is_string(url) ? json_string_value(url) : "";
    bool is_null = json_is_null(url);
    json_decref(root);
    if (is_null) return "";
    const std::string base = s.get("PUBLIC_BASE_URL") + "/";
    ck_assert_msg(text.rfind(base, 0) == 0, "profile_picture %s is not under %s", text.c_str(), base.c_str());
    std::string key = text.substr(base.size());
    ck_assert_msg(has_shape(key, s.get("MEDIA_PREFIX") + "user_" + std::to_string(user_id) + "_", ".jpg"),
                  "key %s", key.c_str());
    return key;
}

bool answered_null_picture(const HttpResponse& r) {
    json_error_t error;
    json_t* root = json_loadb(r.body.data(), r.body.size(), 0, &error);
    if (!root) ck_abort_msg("not JSON (%s): %s", error.text, r.body.c_str());
    json_t* profile = json_object_get(root, "profile");
    bool is_null = profile && json_is_null(json_object_get(profile, "profile_picture"));
    json_decref(root);
    return is_null;
}

std::string tail(const std::string& text, size_t lines) {
    size_t at = text.size();
    while (lines-- > 0 && at > 0) {
        at = text.rfind('\n', at - 1);
        if (at == std::string::npos) return text;
    }
    return text.substr(at);
}

// The end of talentd's and nginx's logs, for failure messages.
std::string logs(const Stack& s) {
    return "--- talentd.log\n" + tail(s.talentd_log(), 15) + "\n--- nginx error.log\n" +
           tail(t::read_file(s.get("NGINX_ERROR_LOG")), 8);
}

// An upload that must succeed; returns the new key.
std::string upload_ok(const Stack& s, int64_t user_id, const std::string& bytes) {
    HttpResponse r = upload(s, user_id, bytes);
    ck_assert_msg(r.status == 200, "upload: %ld %s %s\n%s", r.status, r.error.c_str(), r.body.c_str(),
                  logs(s).c_str());
    std::string key = answered_key(s, r, user_id);
    EXPECT_STR(picture_key(s, user_id), key);
    return key;
}

void assert_object(const Stack& s, const std::string& key, const std::string& expected) {
    HttpResponse r = object(s, key);
    ck_assert_msg(r.status == 200, "GET %s: %ld %s", key.c_str(), r.status, r.error.c_str());
    ck_assert_msg(r.body == expected, "%s: %zu bytes, expected %zu", key.c_str(), r.body.size(), expected.size());
}

void assert_gone(const Stack& s, const std::string& key) {
    HttpResponse r = object(s, key);
    ck_assert_msg(r.status == 404, "GET %s: %ld, expected 404 (the object should be deleted)", key.c_str(), r.status);
    ck_assert_msg(!bucket_keys(s).count(key), "%s still in s3rver's data directory", key.c_str());
}

// --- fixtures ----------------------------------------------------------------------------

std::unique_ptr<Stack> start_or_die(const std::map<std::string, std::string>& env, const char* name) {
    std::string why;
    auto s = Stack::start(env, &why);
    if (!s) {
        fprintf(stderr, "test_pictures: stack %s did not start:\n%s\n", name, why.c_str());
        abort();
    }
    return s;
}

std::unique_ptr<Stack> pictures_owned, faults_owned;

// reap_interval 0: no reaper pass from the master; the tests run talentctl reap.
void start_pictures() {
    // store_concurrency = workers: these tests are about the replacement
    // protocol, so the bulkhead must not shed their concurrent uploads
    // (test_store_faults tests it).  retry_after is not its default (30):
    // a hard-coded Retry-After shows.
    pictures_owned = start_or_die({{"STACK_WORKERS", "4"},
                                   {"STACK_REAP_INTERVAL", "0"},
                                   {"STACK_EXTRA_CONF", "store_concurrency = 4\nretry_after = 17"}},
                                  "pictures");
    pictures_stack = pictures_owned.get();
}
void stop_pictures() {
    pictures_stack = nullptr;
    pictures_owned.reset();
}
void start_faults() {
    faults_owned = start_or_die({{"STACK_WORKERS", "2"}, {"STACK_REAP_INTERVAL", "0"}}, "faults");
    faults_stack = faults_owned.get();
}
void stop_faults() {
    faults_stack = nullptr;
    faults_owned.reset();
}
// The master's own reaper every second, with the default pending_grace
// (1 h), and workers that die right after each commit (before deleting
// the replaced key): only the master's reaper removes replaced keys here.
std::unique_ptr<Stack> reaper_owned;
const Stack* reaper_stack = nullptr;
void start_reaper() {
    reaper_owned = start_or_die({{"STACK_WORKERS", "2"},
                                 {"STACK_REAP_INTERVAL", "1"},
                                 {"STACK_PENDING_GRACE", "3600"},
                                 {"STACK_EXTRA_CONF", "test_crash_at = after_commit"}},
                                "reaper");
    reaper_stack = reaper_owned.get();
}
void stop_reaper() {
    reaper_stack = nullptr;
    reaper_owned.reset();
}

void setup_pictures() { normalize(*pictures_stack); }
void setup_faults() { normalize(*faults_stack); }

}  // namespace

// --- 1. what lands in the bucket ---------------------------------------------------------

START_TEST(test_upload_stores_canonical_object) {
    const Stack& s = *pictures_stack;
    int64_t id = fresh_user(s);
    const std::string jpeg = corpus("valid/jpeg/testorig.jpg");
    HttpResponse r = upload(s, id, jpeg);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.c_str());
    std::string key = answered_key(s, r, id);   // absolute URL, key shape
    EXPECT_STR(picture_key(s, id), key);
    for (const char* method : {"GET", "HEAD"}) {
        HttpResponse o = s.request(method, url_of(s, key));
        ck_assert_msg(o.status == 200, "%s %s: %ld", method, key.c_str(), o.status);
        EXPECT_STR(o.header("content-type"), "image/jpeg");
        EXPECT_STR(o.header("cache-control"), "public, max-age=31536000, immutable");
        EXPECT_STR(o.header("content-length"), std::to_string(jpeg.size()));
        if (std::string(method) == "GET") ck_assert_msg(o.body == jpeg, "stored bytes differ from the upload");
    }

    // A JPEG with a ZIP archive after its EOI: only the JPEG is stored.
    const std::string polyglot = corpus("policy/jpeg_trailing_zip_polyglot.jpg");
    const std::string original = corpus("valid/jpeg/baseline_420_q90.jpg");   // what the polyglot was made from
    const std::string expected = canonical(polyglot);
    ck_assert_uint_eq(expected.size(), original.size());
    ck_assert_uint_eq(polyglot.size(), original.size() + 166);   // MANIFEST: a 166-byte ZIP appended
    ck_assert(expected == original);
    r = upload(s, id, polyglot);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.c_str());
    std::string key2 = answered_key(s, r, id);
    ck_assert_msg(key2 != key, "a new key for each upload");
    HttpResponse o = object(s, key2);
    ck_assert_int_eq(o.status, 200);
    ck_assert_msg(o.body == original, "stored %zu bytes, expected the %zu bytes up to EOI", o.body.size(),
                  original.size());
    ck_assert_msg(o.body.find("PK\x03\x04") == std::string::npos, "the ZIP was stored");
    EXPECT_STR(o.header("content-type"), "image/jpeg");
    EXPECT_STR(o.header("cache-control"), "public, max-age=31536000, immutable");
    HttpResponse head = s.request("HEAD", url_of(s, key2));
    EXPECT_STR(head.header("content-length"), std::to_string(original.size()));
    // The profile page's GET shows the same absolute URL.
    HttpResponse g = s.request("GET", kPath, "", bearer(s, id));
    ck_assert_int_eq(g.status, 200);
    EXPECT_CONTAINS(g.body, "\"profile_picture\":\"" + url_of(s, key2) + "\"");
}
END_TEST

// --- 2. replacement deletes the old object ----------------------------------------------

START_TEST(test_replace_deletes_old_object) {
    const Stack& s = *pictures_stack;
    int64_t id = fresh_user(s);
    const std::string a = corpus("valid/jpeg/testorig.jpg"), b = corpus("valid/jpeg/grayscale.jpg");
    std::string key_a = upload_ok(s, id, a);
    assert_object(s, key_a, a);
    std::string key_b = upload_ok(s, id, b);
    assert_gone(s, key_a);
    assert_object(s, key_b, b);
    EXPECT_STR(join(keys_of_user(s, id)), join({key_b}));
    std::string out;
    ck_assert_int_eq(ctl(s, {"journal"}, {}, &out), 0);
    EXPECT_CONTAINS(out, "\n0 entries\n");
    ck_assert_uint_eq(journal(s).size(), 0);
}
END_TEST

// --- 3. clearing deletes the object -----------------------------------------------------

START_TEST(test_clear_deletes_object) {
    const Stack& s = *pictures_stack;
    int64_t id = fresh_user(s);
    const std::string jpeg = corpus("valid/jpeg/testorig.jpg");

    // JSON null.
    std::string key = upload_ok(s, id, jpeg);
    auto h = bearer(s, id);
    h.push_back("Content-Type: application/json");
    HttpResponse r = s.request("PATCH", kPath, "{\"profile_picture\": null}", h);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.c_str());
    ck_assert_msg(answered_null_picture(r), "%s", r.body.c_str());
    ck_assert(!account(s, id).profile->picture_key);
    assert_gone(s, key);

    // Multipart, an empty text value.
    key = upload_ok(s, id, jpeg);
    auto mp = t::make_multipart({{"profile_picture", "", "", ""}});
    h = bearer(s, id);
    h.push_back("Content-Type: " + mp.content_type);
    r = s.request("PATCH", kPath, mp.body, h);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body.c_str());
    ck_assert_msg(answered_null_picture(r), "%s", r.body.c_str());
    ck_assert(!account(s, id).profile->picture_key);
    assert_gone(s, key);
    ck_assert_uint_eq(keys_of_user(s, id).size(), 0);
    ck_assert_uint_eq(journal_of(s, id).size(), 0);

    // Clearing what is already clear changes nothing and journals nothing.
    r = s.request("PATCH", kPath, "{\"profile_picture\": null}", {h[0], h[1], "Content-Type: application/json"});
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(journal_of(s, id).size(), 0);
}
END_TEST

// --- 4. storage down: 503 and nothing changed -------------------------------------------

START_TEST(test_storage_down_is_503) {
    const Stack& s = *pictures_stack;
    int64_t id = fresh_user(s);
    const std::string a = corpus("valid/jpeg/testorig.jpg"), b = corpus("valid/jpeg/grayscale.jpg"),
                      c = corpus("valid/jpeg/progressive.jpg");
    std::string key_a = upload_ok(s, id, a);

    std::string out;
    ck_assert_msg(control(s, "stop-s3", &out) == 0, "stop-s3: %s", out.c_str());
    HttpResponse r = upload(s, id, b, {{"city", "Changed", "", ""}});
    ck_assert_msg(r.status == 503, "%ld %s", r.status, r.body.c_str());
    EXPECT_STR(r.body, kUnavailable);
    EXPECT_STR(r.header("retry-after"), "17");   // retry_after of this stack
    EXPECT_STR(r.header("content-type"), "application/json");
    auto acc = account(s, id);
    EXPECT_STR(acc.profile->picture_key.value_or(""), key_a);
    EXPECT_STR(acc.profile->city, "");
    // The profile still reads fine without storage.
    HttpResponse g = s.request("GET", kPath, "", bearer(s, id));
    ck_assert_int_eq(g.status, 200);
    EXPECT_CONTAINS(g.body, url_of(s, key_a));
    // The PUT certainly wrote nothing (the egress proxy could not connect:
    // <Egress>no-connection</Egress>): the worker dropped its pending row,
    // nothing is left for the reaper.  One more refused upload: still none.
    // (Two, not three: a third consecutive failure would open the store
    // breaker, store_breaker_failures, and refuse the upload below.)
    ck_assert_msg(journal_of(s, id).empty(), "the refused upload left %zu journal rows\n%s", journal_of(s, id).size(),
                  logs(s).c_str());
    for (int i = 0; i < 1; ++i) {
        HttpResponse again = upload(s, id, c);
        ck_assert_msg(again.status == 503, "%ld %s", again.status, again.body.c_str());
    }
    ck_assert_msg(journal_of(s, id).empty(), "a refused upload left %zu journal rows", journal_of(s, id).size());

    ck_assert_msg(control(s, "start-s3", &out) == 0, "start-s3: %s", out.c_str());
    assert_object(s, key_a, a);   // same data after the restart
    std::string key_c = upload_ok(s, id, c);
    assert_object(s, key_c, c);
    assert_gone(s, key_a);

    // Nothing was abandoned: the reaper finds no pending key.
    out = reap_all(s);
    EXPECT_CONTAINS(out, "abandoned uploads 0");
    ck_assert_uint_eq(journal_of(s, id).size(), 0);
    assert_invariant(s, {});
}
END_TEST

// --- 5. a store with an untrusted certificate: 503 ----------------------------------------

START_TEST(test_untrusted_store_certificate_is_503) {
    const Stack& s = *pictures_stack;
    int64_t id = fresh_user(s);
    const std::string a = corpus("valid/jpeg/testorig.jpg"), b = corpus("valid/jpeg/grayscale.jpg"),
                      c = corpus("valid/jpeg/progressive.jpg");
    std::string key_a = upload_ok(s, id, a);

    // s3rver behind a TLS front ("s3.test", self-signed); two egress servers
    // rendered from nginx/talentd-egress.conf: one trusts another CA, one the
    // front's own certificate.
    t::NginxProc nginx;
    std::string error;
    const std::string d = nginx.dir();
    ck_assert_msg(t::make_self_signed_cert(d, "store", "s3.test", &error), "%s", error.c_str());
    ck_assert_msg(t::make_self_signed_cert(d, "other", "s3.test", &error), "%s", error.c_str());
    int front = 0, bad = 0, good = 0;
    auto http = [&](const std::vector<int>& ports) {
        good = ports[0];
        front = ports[1];
        bad = ports[2];
        std::string text =
            "    server {\n"
            "        listen 127.0.0.1:" + std::to_string(front) + " ssl;\n"
            "        server_name s3.test;\n"
            "        ssl_certificate " + d + "/store.pem;\n"
            "        ssl_certificate_key " + d + "/store.key;\n"
            "        client_max_body_size 16m;\n"
            "        location / { proxy_pass " + s.get("S3_ENDPOINT") + "; }\n"
            "    }\n";
        for (auto [port, ca] : {std::pair{bad, d + "/other.pem"}, std::pair{good, d + "/store.pem"}}) {
            std::string conf, why;
            if (!t::render_egress_conf({port, "s3.test", "127.0.0.1:" + std::to_string(front), ca}, &conf, &why))
                return "# " + why + "\n";
            text += conf;
        }
        return text;
    };
    std::vector<int> ports;
    ck_assert_msg(nginx.start_on_ports(3, http, &ports, &error), "%s", error.c_str());

    configure(s, "s3_endpoint = 127.0.0.1:" + std::to_string(bad));
    HttpResponse r = upload(s, id, b, {{"city", "Changed", "", ""}});
    ck_assert_msg(r.status == 503, "%ld %s", r.status, r.body.c_str());
    EXPECT_STR(r.body, kUnavailable);
    ck_assert_msg(!r.header("retry-after").empty(), "Retry-After");
    auto acc = account(s, id);
    EXPECT_STR(acc.profile->picture_key.value_or(""), key_a);
    EXPECT_STR(acc.profile->city, "");
    assert_object(s, key_a, a);
    EXPECT_STR(join(keys_of_user(s, id)), join({key_a}));
    EXPECT_CONTAINS(nginx.error_log(), "certificate");   // refused by the egress, not by chance

    // The right CA: the same path works end to end, old object deleted through it.
    configure(s, "s3_endpoint = 127.0.0.1:" + std::to_string(good));
    std::string key_c = upload_ok(s, id, c);
    assert_object(s, key_c, c);
    assert_gone(s, key_a);

    configure(s, "");
    reap_all(s);
    ck_assert_uint_eq(journal_of(s, id).size(), 0);
    assert_invariant(s, {});
}
END_TEST

// --- 6. a failed delete stays journaled; the reaper retries with backoff -------------------

START_TEST(test_failed_delete_is_retried_with_backoff) {
    const Stack& s = *pictures_stack;
    int64_t id = fresh_user(s);
    const std::string a = corpus("valid/jpeg/testorig.jpg"), b = corpus("valid/jpeg/grayscale.jpg");

    // A proxy in front of s3rver that refuses every DELETE (503) and passes
    // the rest: PUTs land, deletes fail.
    t::NginxProc nginx;
    std::string error;
    auto http = [&](const std::vector<int>& ports) {
        return "    server {\n"
               "        listen 127.0.0.1:" + std::to_string(ports[0]) + ";\n"
               "        client_max_body_size 16m;\n"
               "        client_body_buffer_size 8m;\n"
               "        location / {\n"
               "            if ($request_method = DELETE) { return 503; }\n"
               "            proxy_pass " + s.get("S3_ENDPOINT") + ";\n"
               "        }\n"
               "    }\n";
    };
    std::vector<int> ports;
    ck_assert_msg(nginx.start_on_ports(1, http, &ports, &error), "%s", error.c_str());
    const int port = ports[0];
    configure(s, "s3_endpoint = 127.0.0.1:" + std::to_string(port) + "\nreap_backoff_base = 1");

    std::string key_a = upload_ok(s, id, a);
    const int64_t t0 = time(nullptr);
    std::string key_b = upload_ok(s, id, b);   // the delete of key_a fails: still 200
    const int64_t t1 = time(nullptr);
    assert_object(s, key_a, a);                // kept, journaled
    assert_object(s, key_b, b);
    auto rows = journal_of(s, id);
    ck_assert_uint_eq(rows.size(), 1);
    EXPECT_STR(rows[0].key, key_a);
    EXPECT_STR(rows[0].state, "remove");
    ck_assert_int_eq(rows[0].attempts, 1);
    ck_assert_msg(!rows[0].last_error.empty(), "last_error");
    ck_assert_msg(rows[0].next_attempt_at >= t0 + 1 && rows[0].next_attempt_at <= t1 + 1, "next %lld, t0 %lld",
                  static_cast<long long>(rows[0].next_attempt_at), static_cast<long long>(t0));
    std::string out;
    ck_assert_int_eq(ctl(s, {"journal"}, {}, &out), 0);
    EXPECT_CONTAINS(out, key_a);
    EXPECT_CONTAINS(out, "remove");
    EXPECT_CONTAINS(out, rows[0].last_error);
    EXPECT_CONTAINS(out, "\n1 entries\n");

    // Second failure, by the reaper through the same proxy: attempts 2, delay 2.
    wait_until(rows[0].next_attempt_at);
    int64_t before = time(nullptr);
    int rc = ctl(s, {"reap"}, {}, &out);
    int64_t after = time(nullptr);
    ck_assert_msg(rc == 1, "reap: status %d\n%s", rc, out.c_str());
    EXPECT_CONTAINS(out, "removed 0, retry later 1");
    EXPECT_CONTAINS(out, "failed: " + key_a);
    rows = journal_of(s, id);
    ck_assert_uint_eq(rows.size(), 1);
    ck_assert_int_eq(rows[0].attempts, 2);
    ck_assert_msg(rows[0].next_attempt_at >= before + 2 && rows[0].next_attempt_at <= after + 2, "next %lld",
                  static_cast<long long>(rows[0].next_attempt_at - before));

    // Third failure: the store itself is down (through the stack's egress proxy).
    const std::map<std::string, std::string> egress = {{"TALENTD_S3_ENDPOINT", s.get("S3_PROXY")}};
    ck_assert_msg(control(s, "stop-s3", &out) == 0, "stop-s3: %s", out.c_str());
    wait_until(rows[0].next_attempt_at);
    before = time(nullptr);
    rc = ctl(s, {"reap"}, egress, &out);
    after = time(nullptr);
    ck_assert_msg(rc == 1, "reap: status %d\n%s", rc, out.c_str());
    EXPECT_CONTAINS(out, "failed: " + key_a);
    rows = journal_of(s, id);
    ck_assert_uint_eq(rows.size(), 1);
    ck_assert_int_eq(rows[0].attempts, 3);
    ck_assert_msg(rows[0].next_attempt_at >= before + 4 && rows[0].next_attempt_at <= after + 4, "next %lld",
                  static_cast<long long>(rows[0].next_attempt_at - before));
    const std::string error3 = rows[0].last_error;
    ck_assert_msg(!error3.empty(), "last_error");

    // Before it is due, a pass leaves it alone.  The row's next attempt is
    // moved an hour ahead for that pass, so that it is certainly not due
    // however slow the machine (at 4 s it could be, and the check skipped).
    ck_assert_msg(control(s, "start-s3", &out) == 0, "start-s3: %s", out.c_str());
    const int64_t due = rows[0].next_attempt_at;
    set_next_attempt(s, key_a, time(nullptr) + 3600);   // as a long backoff would
    rc = ctl(s, {"reap"}, egress, &out);
    ck_assert_msg(rc == 0, "reap: status %d\n%s", rc, out.c_str());
    EXPECT_CONTAINS(out, "removed 0, retry later 0");
    ck_assert_int_eq(journal_of(s, id).at(0).attempts, 3);
    assert_object(s, key_a, a);
    set_next_attempt(s, key_a, due);
    // Due, store up: removed.
    wait_until(rows[0].next_attempt_at);
    rc = ctl(s, {"reap"}, egress, &out);
    ck_assert_msg(rc == 0, "reap: status %d\n%s", rc, out.c_str());
    EXPECT_CONTAINS(out, "removed 1, retry later 0");
    assert_gone(s, key_a);
    assert_object(s, key_b, b);
    ck_assert_uint_eq(journal_of(s, id).size(), 0);

    configure(s, "");
    assert_invariant(s, {});
}
END_TEST

// --- the reaper claims a pending key while its upload is in flight -----------------------

START_TEST(test_pending_claimed_while_in_flight) {
    const Stack& s = *pictures_stack;
    int64_t id = fresh_user(s);
    const std::string a = corpus("valid/jpeg/testorig.jpg");

    // A proxy in front of s3rver that holds PUTs: after a warm-up PUT, the
    // next one waits ~5 s (limit_req delays, it does not refuse, within the
    // burst).  Two tiers: the first reads the body at once, as the egress
    // proxy does, so talentd's "Expect: 100-continue" is answered at once
    // (libs3 2.0 fails a PUT whose "100 Continue" comes after curl stopped
    // waiting for it and sent the body); the second delays.
    t::NginxProc nginx;
    std::string error;
    int port = 0, inner = 0;
    auto http = [&](const std::vector<int>& ports) {
        port = ports[0];
        inner = ports[1];
        return "    map $request_method $slow_key { PUT slow; default \"\"; }\n"
               "    limit_req_zone $slow_key zone=slow:1m rate=12r/m;\n"
               "    server {\n"
               "        listen 127.0.0.1:" + std::to_string(port) + ";\n"
               "        client_max_body_size 16m;\n"
               "        client_body_buffer_size 8m;\n"
               "        location / { proxy_pass http://127.0.0.1:" + std::to_string(inner) + "; }\n"
               "    }\n"
               "    server {\n"
               "        listen 127.0.0.1:" + std::to_string(inner) + ";\n"
               "        client_max_body_size 16m;\n"
               "        client_body_buffer_size 8m;\n"
               "        location / {\n"
               "            limit_req zone=slow burst=20;\n"
               "            proxy_pass " + s.get("S3_ENDPOINT") + ";\n"
               "        }\n"
               "    }\n";
    };
    std::vector<int> ports;
    ck_assert_msg(nginx.start_on_ports(2, http, &ports, &error), "%s", error.c_str());
    configure(s, "s3_endpoint = 127.0.0.1:" + std::to_string(port));

    // Takes the free slot (an anonymous PUT outside media_prefix: refused or not, it counts).
    t::http_request("PUT", "http://127.0.0.1:" + std::to_string(port) + "/" + s.get("S3_BUCKET") + "/warm-up", "x");
    HttpResponse answer;
    std::thread uploader([&] { answer = upload(s, id, a); });

    // In flight: the key is journaled as pending and `talentctl journal` shows it.
    std::vector<talentd::db::JournalEntry> rows;
    t::wait_for([&] { return !(rows = journal_of(s, id)).empty(); }, 5);
    ck_assert_uint_eq(rows.size(), 1);
    EXPECT_STR(rows[0].state, "pending");
    std::string out;
    ck_assert_int_eq(ctl(s, {"journal"}, {}, &out), 0);
    EXPECT_CONTAINS(out, rows[0].key);
    EXPECT_CONTAINS(out, "pending");

    // A reaper pass with no grace (straight to s3rver's egress) claims it
    // before the PUT lands: the late commit must fail, and the object the
    // PUT then writes must not stay behind unreferenced.
    out = reap_all(s, {{"TALENTD_S3_ENDPOINT", s.get("S3_PROXY")}});
    EXPECT_CONTAINS(out, "abandoned uploads 1");
    uploader.join();
    ck_assert_msg(answer.status == 503, "%ld %s\n%s", answer.status, answer.body.c_str(), logs(s).c_str());
    EXPECT_STR(answer.body, kUnavailable);
    ck_assert(!account(s, id).profile->picture_key);
    // The worker deleted what its PUT wrote, at once.
    ck_assert_msg(keys_of_user(s, id).empty(), "left in the bucket:\n%s%s", join(keys_of_user(s, id)).c_str(),
                  logs(s).c_str());
    ck_assert_uint_eq(journal_of(s, id).size(), 0);

    configure(s, "");
    reap_all(s);
    ck_assert_uint_eq(journal_of(s, id).size(), 0);
    ck_assert_msg(keys_of_user(s, id).empty(), "left in the bucket:\n%s", join(keys_of_user(s, id)).c_str());
    assert_invariant(s, {});
}
END_TEST

// --- 8. concurrent uploads for one user --------------------------------------------------

START_TEST(test_concurrent_uploads_leave_one_object) {
    const Stack& s = *pictures_stack;
    int64_t id = fresh_user(s);
    constexpr int kUploads = 16;
    const std::string base = corpus("valid/jpeg/testorig.jpg");
    std::vector<std::string> images;
    for (int i = 0; i < kUploads; ++i) images.push_back(with_density(base, 100 + i));
    for (const auto& img : images) ck_assert(canonical(img) == img);

    // Everything a thread needs is ready before it starts.
    const auto h0 = bearer(s, id);
    std::vector<t::Multipart> bodies;
    for (const auto& img : images) bodies.push_back(t::make_multipart({{"profile_picture", img, "p.jpg", "image/jpeg"}}));
    std::vector<HttpResponse> answers(kUploads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kUploads; ++i) {
        threads.emplace_back([&, i] {
            auto h = h0;
            h.push_back("Content-Type: " + bodies[i].content_type);
            ++ready;
            while (ready.load() < kUploads) std::this_thread::yield();
            answers[i] = s.request("POST", kPath + "?partial=true", bodies[i].body, h, 60);
        });
    }
    for (auto& th : threads) th.join();

    std::map<std::string, int> key_to_image;
    for (int i = 0; i < kUploads; ++i) {
        ck_assert_msg(answers[i].status == 200, "upload %d: %ld %s %s\n%s", i, answers[i].status,
                      answers[i].error.c_str(), answers[i].body.c_str(), logs(s).c_str());
        key_to_image[answered_key(s, answers[i], id)] = i;
    }
    ck_assert_uint_eq(key_to_image.size(), kUploads);

    std::string out;
    int rc = ctl(s, {"reap"}, {}, &out);
    ck_assert_msg(rc == 0, "reap: status %d\n%s", rc, out.c_str());
    EXPECT_CONTAINS(out, "removed 0, retry later 0");   // every delete already happened inline

    const std::string current = picture_key(s, id);
    ck_assert_msg(key_to_image.count(current), "profile key %s is none of the answers", current.c_str());
    EXPECT_STR(join(keys_of_user(s, id)), join({current}));
    assert_object(s, current, images[key_to_image[current]]);
    ck_assert_uint_eq(journal_of(s, id).size(), 0);
    ck_assert_int_eq(ctl(s, {"journal"}, {}, &out), 0);
    EXPECT_CONTAINS(out, "\n0 entries\n");
    assert_invariant(s, {});
}
END_TEST

// --- 7. a worker killed at each step of the replacement -----------------------------------

namespace {

const char* kOld = "valid/jpeg/testorig.jpg";
const char* kNew = "valid/jpeg/baseline_420_q90.jpg";

// Replaces a picture with talentd killing its worker at `step`; then the
// reaper; then SPEC §5's invariant and the right picture on the profile.
void crash_at(const char* step, bool new_survives, const char* expected_reap) {
    const Stack& s = *faults_stack;
    int64_t id = fresh_user(s);
    const std::string old_bytes = corpus(kOld), new_bytes = corpus(kNew);
    std::string old_key = upload_ok(s, id, old_bytes);

    configure(s, std::string("test_crash_at = ") + step);
    HttpResponse r = upload(s, id, new_bytes);
    ck_assert_msg(r.status == 502, "%s: upload answered %ld %s %s", step, r.status, r.error.c_str(), r.body.c_str());
    EXPECT_CONTAINS(s.talentd_log(), std::string("test_crash_at=") + step);

    // What the crash left behind: only journaled keys besides the profile's.
    const std::string current = picture_key(s, id);
    auto rows = journal_of(s, id);
    std::set<std::string> mine = keys_of_user(s, id);
    const std::string step_name = step;
    if (step_name == "after_pending" || step_name == "after_put") {
        EXPECT_STR(current, old_key);
        ck_assert_uint_eq(rows.size(), 1);
        EXPECT_STR(rows[0].state, "pending");
        ck_assert_uint_eq(mine.size(), step_name == "after_put" ? 2 : 1);   // the new object landed after the PUT
        ck_assert_msg(mine.count(old_key), "old object kept");
        if (step_name == "after_put") ck_assert_msg(mine.count(rows[0].key), "new object stored");
    } else if (step_name == "after_commit") {
        ck_assert_msg(current != old_key && !current.empty(), "committed: the profile has the new key");
        ck_assert_uint_eq(rows.size(), 1);
        EXPECT_STR(rows[0].state, "remove");
        EXPECT_STR(rows[0].key, old_key);
        EXPECT_STR(join(mine), join({old_key, current}));
    } else {   // after_delete
        ck_assert_msg(current != old_key && !current.empty(), "committed: the profile has the new key");
        ck_assert_uint_eq(rows.size(), 0);
        EXPECT_STR(join(mine), join({current}));
    }

    configure(s, "");
    std::string out = reap_all(s);
    EXPECT_CONTAINS(out, expected_reap);
    ck_assert_uint_eq(journal(s).size(), 0);
    assert_invariant(s, {old_bytes, new_bytes});

    const std::string survivor = picture_key(s, id);
    assert_object(s, survivor, new_survives ? new_bytes : old_bytes);
    if (new_survives) assert_gone(s, old_key);
    else EXPECT_STR(survivor, old_key);
    EXPECT_STR(join(keys_of_user(s, id)), join({survivor}));

    // And the daemon, restored, replaces pictures normally again.
    std::string fresh = upload_ok(s, id, new_survives ? old_bytes : new_bytes);
    assert_gone(s, survivor);
    EXPECT_STR(join(keys_of_user(s, id)), join({fresh}));
    ck_assert_uint_eq(journal(s).size(), 0);
}

}  // namespace

START_TEST(test_crash_after_pending) {
    crash_at("after_pending", false, "removed 1, retry later 0, abandoned uploads 1, stale entries dropped 0");
}
END_TEST

START_TEST(test_crash_after_put) {
    crash_at("after_put", false, "removed 1, retry later 0, abandoned uploads 1, stale entries dropped 0");
}
END_TEST

START_TEST(test_crash_after_commit) {
    crash_at("after_commit", true, "removed 1, retry later 0, abandoned uploads 0, stale entries dropped 0");
}
END_TEST

START_TEST(test_crash_after_delete) {
    crash_at("after_delete", true, "removed 0, retry later 0, abandoned uploads 0, stale entries dropped 0");
}
END_TEST

// --- 8. the master's periodic reaper, default pending_grace ----------------------------

START_TEST(test_master_reaper_removes_replaced_keys_within_grace_rules) {
    const Stack& s = *reaper_stack;
    int64_t id = fresh_user(s);
    const std::string a = corpus("valid/jpeg/testorig.jpg"), b = corpus("valid/jpeg/grayscale.jpg"),
                      c = corpus("valid/jpeg/progressive.jpg");
    // An upload in flight (journaled as pending a moment ago): inside the
    // grace for the whole test.
    const std::string pending = std::string("media/profile_pictures/user_") + std::to_string(id) + "_" +
                                std::string(32, 'a') + ".jpg";
    {
        auto db = database(s);
        std::string why;
        ck_assert_msg(db->journal_pending(pending, id, time(nullptr), &why), "%s", why.c_str());
    }
    auto rows = journal_of(s, id);
    ck_assert_uint_eq(rows.size(), 1);
    EXPECT_STR(rows[0].state, "pending");

    // Two uploads; each worker dies after its commit, so the first key is
    // replaced but never deleted by the worker.
    upload(s, id, a);
    const std::string key_a = picture_key(s, id);
    ck_assert_msg(!key_a.empty(), "the first upload was not committed");
    ck_assert_msg(t::wait_for([&] { return upload(s, id, b).status != 0 && picture_key(s, id) != key_a; }, 60),
                  "the second upload was not committed");
    const std::string key_b = picture_key(s, id);
    assert_object(s, key_b, b);

    // No talentctl here: the master's reaper deletes key_a within a few passes.
    bool reaped = t::wait_for(
        [&] {
            for (const auto& e : journal_of(s, id))
                if (e.key == key_a) return false;
            return object(s, key_a).status == 404;
        },
        60);
    ck_assert_msg(reaped, "the master's reaper did not remove %s\n%s", key_a.c_str(), logs(s).c_str());
    EXPECT_CONTAINS(s.talentd_log(), "reaper: removed " + key_a);
    assert_object(s, key_b, b);
    // The pending row went through those passes untouched (1 h grace).
    rows = journal_of(s, id);
    ck_assert_uint_eq(rows.size(), 1);
    EXPECT_STR(rows[0].key, pending);
    EXPECT_STR(rows[0].state, "pending");
    ck_assert_int_eq(rows[0].attempts, 0);
}
END_TEST

Suite* pictures_suite() {
    Suite* s = suite_create("pictures");

    TCase* tc = tcase_create("pictures");
    tcase_set_timeout(tc, 90);
    tcase_add_unchecked_fixture(tc, start_pictures, stop_pictures);
    tcase_add_checked_fixture(tc, setup_pictures, nullptr);
    tcase_add_test(tc, test_upload_stores_canonical_object);
    tcase_add_test(tc, test_replace_deletes_old_object);
    tcase_add_test(tc, test_clear_deletes_object);
    tcase_add_test(tc, test_storage_down_is_503);
    tcase_add_test(tc, test_untrusted_store_certificate_is_503);
    tcase_add_test(tc, test_failed_delete_is_retried_with_backoff);
    tcase_add_test(tc, test_pending_claimed_while_in_flight);
    tcase_add_test(tc, test_concurrent_uploads_leave_one_object);
    suite_add_tcase(s, tc);

    TCase* faults = tcase_create("faults");
    tcase_set_timeout(faults, 90);
    tcase_add_unchecked_fixture(faults, start_faults, stop_faults);
    tcase_add_checked_fixture(faults, setup_faults, nullptr);
    tcase_add_test(faults, test_crash_after_pending);
    tcase_add_test(faults, test_crash_after_put);
    tcase_add_test(faults, test_crash_after_commit);
    tcase_add_test(faults, test_crash_after_delete);
    suite_add_tcase(s, faults);

    TCase* reaper = tcase_create("master reaper");
    tcase_set_timeout(reaper, 180);
    tcase_add_unchecked_fixture(reaper, start_reaper, stop_reaper);
    tcase_add_test(reaper, test_master_reaper_removes_replaced_keys_within_grace_rules);
    suite_add_tcase(s, reaper);
    return s;
}

int main() {
    SRunner* runner = srunner_create(pictures_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    stop_pictures();
    stop_faults();
    stop_reaper();
    return failed == 0 ? 0 : 1;
}
