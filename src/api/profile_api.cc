#include "api/profile_api.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdlib>

#include "api/page.h"
#include "image/strip.h"
#include "auth/credentials.h"
#include "auth/jwt.h"
#include "core/log.h"
#include "profile/render.h"

namespace talentd::api {
namespace {

constexpr const char* kProfilePath = "/api/profile/talent/";
constexpr const char* kAllow = "GET, POST, PATCH, HEAD, OPTIONS";
constexpr const char* kWwwAuthenticate = "Bearer realm=\"api\"";

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool truthy(const std::string& v) { return lower(v) == "true"; }

ApiError unauthenticated(std::string_view message) {
    return ApiError::detail(401, message).with_header("WWW-Authenticate", kWwwAuthenticate);
}
ApiError token_not_valid() {
    return ApiError::detail_code(401, "Given token not valid for any token type", "token_not_valid")
        .with_header("WWW-Authenticate", kWwwAuthenticate);
}
ApiError forbidden() { return ApiError::detail(403, "You do not have permission to perform this action."); }

profile::Today today_utc() {
    time_t t = ::time(nullptr);
    tm parts{};
    gmtime_r(&t, &parts);
    return profile::Today{parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday};
}

// DRF reports fields in declaration order; the picture comes after the names.
void insert_picture_error(FieldErrors& errors, const std::string& message) {
    auto it = std::find_if(errors.begin(), errors.end(), [](const auto& e) {
        return e.first != "first_name" && e.first != "last_name";
    });
    errors.insert(it, {"profile_picture", {message}});
}

trace::ImageFormat traced_format(image::Format format) {
    switch (format) {
        case image::Format::Jpeg: return trace::ImageFormat::Jpeg;
        case image::Format::Png: return trace::ImageFormat::Png;
        case image::Format::Gif: return trace::ImageFormat::Gif;
        case image::Format::Webp: return trace::ImageFormat::Webp;
        default: return trace::ImageFormat::Other;
    }
}

}  // namespace

bool partial_requested(const std::string& query) {
    auto params = form::parse_query(query);
    auto it = params.find("partial");
    if (it == params.end()) return false;
    std::string v = lower(it->second);
    return v == "true" || v == "1" || v == "yes";
}

ProfileApi::ProfileApi(const Config& config, db::Database& db, storage::Store& store, storage::StoreGate* gate,
                       trace::Recorder& recorder, image::DecoderSandbox* sandbox)
    : config_(config),
      db_(db),
      store_(store),
      recorder_(recorder),
      pictures_(config, db, store, gate),
      sandbox_(sandbox),
      jwt_(auth::jwt_settings_from(config)) {
    limits_.max_image_size = config.max_image_size;
    limits_.max_image_pixels = config.max_image_pixels;
    limits_.max_total_pixels = config.max_total_pixels;
    limits_.max_frames = config.max_frames;
    limits_.max_decode_memory = config.max_decode_memory;
    limits_.max_progressive_scans = config.max_progressive_scans;
    body_limits_.max_part_header_size = size_t(config.max_part_header_size);
    body_limits_.max_header_parameters = size_t(config.max_header_parameters);
    limits_.max_decoded_bytes = config.max_decoded_bytes;
    limits_.decode_cpu_limit = config.decode_cpu_limit;
    limits_.max_icc_profile_size = config.max_icc_profile_size;
    limits_.allowed_types = config.allowed_image_types;
}

// ---------------------------------------------------------------------------
// Routing.

void ProfileApi::idle() {
    body_.release();
    std::string().swap(strip_buffer_);
}

http::Response ProfileApi::handle(const http::Request& request, http::BodySource& body, http::RequestNote* note) {
    if (request.path == kProfilePath) {
        note->route = trace::Route::Profile;
        return profile_endpoint(request, body, note);
    }
    if (request.path == "/api/profile/talent") {
        note->route = trace::Route::ProfileRedirect;
        http::Response r;
        r.status = 308;
        r.content_type.clear();
        r.add_header("Location", std::string(kProfilePath) + (request.query.empty() ? "" : "?" + request.query));
        return r;
    }
    if (request.path == "/healthz" && (request.method == "GET" || request.method == "HEAD")) {
        note->route = trace::Route::Healthz;
        std::string why;
        if (!db_.ping(&why)) {
            recorder_.db_error();
            LOG_ERROR("healthz: %s", why.c_str());
            return respond_error(ApiError::detail(503, "Database unavailable.")
                                     .with_header("Retry-After", std::to_string(config_.retry_after)),
                                 request);
        }
        return respond_json(200, "{\"status\":\"ok\"}", request);
    }
    if (request.path == "/" && (request.method == "GET" || request.method == "HEAD")) {
        note->route = trace::Route::Page;
        return page(request, note);
    }
    if (request.path == "/demo/login" && config_.demo_login && request.method == "GET") {
        note->route = trace::Route::DemoLogin;
        return demo_login(request);
    }
    return respond_error(ApiError::detail(404, "Not found."), request);
}

// ---------------------------------------------------------------------------
// The endpoint: one request, top to bottom.

http::Response ProfileApi::profile_endpoint(const http::Request& request, http::BodySource& body,
                                            http::RequestNote* note) {
    if (request.method == "OPTIONS" && request.has_header("access-control-request-method")) return preflight(request);

    Caller caller;
    Answer answer;
    answer.html = prefers_html(request.header("accept")) && !request.has_header("authorization") &&
                  request.method != "GET" && request.method != "HEAD";
    recorder_.step(trace::Step::Authenticating);
    if (auto e = authenticate(request, &caller, note)) return respond_error(*e, request, answer);  // 401
    answer.html = answer.html && caller.via_cookie;
    answer.caller = &caller;
    if (auto e = authorize(request, caller)) return respond_error(*e, request, answer);          // 403
    if (auto e = check_method(request)) return respond_error(*e, request, answer);               // 405

    const db::Account& account = caller.account;
    if (request.method == "GET" || request.method == "HEAD") {
        http::Response r = respond_json(
            200, profile::render_profile_with_limits(account.user, *account.profile, config_), request);
        r.head_only = request.method == "HEAD";
        return r;
    }
    if (request.method == "OPTIONS") {
        return respond_json(200,
                            "{\"name\":\"Talent User Profile\",\"description\":\"\",\"renders\":[\"application/json\"],"
                            "\"parses\":[\"application/json\",\"application/x-www-form-urlencoded\","
                            "\"multipart/form-data\"]}",
                            request);
    }
    return update(request, body, caller, answer, note);
}

http::Response ProfileApi::update(const http::Request& request, http::BodySource& body, Caller& caller,
                                  Answer& answer, http::RequestNote* note) {
    const bool partial = request.method == "PATCH" || partial_requested(request.query);
    form::Fields fields;   // files point into body_
    profile::Changes changes;
    image::Verdict picture;

    auto fail = [&](const ApiError& e) { return respond_error(e, request, answer); };
    if (auto e = check_size(request)) return fail(*e);                                     // 413
    recorder_.step(trace::Step::Reading);
    if (auto e = read_and_parse(request, body, &body_, &fields)) return fail(*e);          // 400, 415
    answer.fields = &fields;
    if (auto e = check_form_talent_flag(caller, fields)) return fail(*e);                  // 403
    recorder_.step(trace::Step::Decoding);
    if (auto e = validate(fields, partial, &changes, &picture)) return fail(*e);           // 400
    std::span<const uint8_t> picture_bytes;
    if (auto e = strip_picture(changes, picture, caller.account.user.id, &picture_bytes))
        return fail(*e);                                                                   // 400

    profile::User user = caller.account.user;
    profile::Profile prof = *caller.account.profile;
    profile::apply_changes(changes, user, prof);
    db::PictureUpdate picture_update;
    std::optional<std::string> old_key;

    recorder_.step(trace::Step::Storing);
    if (auto e = store_picture(changes, picture, picture_bytes, user, &prof, &picture_update)) return fail(*e);  // 503
    recorder_.step(trace::Step::Committing);
    if (auto e = commit(user, prof, picture_update, &old_key)) return fail(*e);            // 503, 500
    recorder_.step(trace::Step::CleaningUp);
    if (old_key) pictures_.clean_up(*old_key, user.id);                                    // best effort

    if (picture_update.kind == db::PictureUpdate::Kind::Replace) note->detail = "picture " + picture_update.new_key;
    else if (picture_update.kind == db::PictureUpdate::Kind::Clear) note->detail = "picture cleared";
    return respond_updated(request, answer, fields, user, prof);
}

// ---------------------------------------------------------------------------
// Steps.

std::optional<ApiError> ProfileApi::authenticate(const http::Request& request, Caller* caller,
                                                 http::RequestNote* note) {
    std::string token;
    switch (auth::parse_bearer(request.header("authorization"), &token)) {
        case auth::BearerParse::Malformed:
            return ApiError::detail_code(401, "Authorization header must contain two space-delimited values",
                                         "bad_authorization_header")
                .with_header("WWW-Authenticate", kWwwAuthenticate);
        case auth::BearerParse::Token: break;
        case auth::BearerParse::Absent: {
            auto cookie = auth::cookie_value(request.header("cookie"), config_.cookie_name);
            if (!cookie || cookie->empty())
                return unauthenticated("Authentication credentials were not provided.");
            token = *cookie;
            caller->via_cookie = true;
            break;
        }
    }
    std::string why;
    auto identity = auth::verify_access_token(token, jwt_, static_cast<int64_t>(::time(nullptr)), &why);
    if (!identity) {
        note->detail = "token refused: " + why;
        return token_not_valid();
    }
    auto account = db_.load_account(identity->user_id, &why);
    if (!account) {
        if (!why.empty()) {
            recorder_.db_error();
            LOG_ERROR("loading user %lld: %s", static_cast<long long>(identity->user_id), why.c_str());
            return cleanup::database_error(config_, db_);   // 503 when unreachable, else 500
        }
        return ApiError::detail_code(401, "User not found", "user_not_found")
            .with_header("WWW-Authenticate", kWwwAuthenticate);
    }
    if (!account->user.is_active)
        return ApiError::detail_code(401, "User is inactive", "user_inactive")
            .with_header("WWW-Authenticate", kWwwAuthenticate);
    note->user_id = account->user.id;
    recorder_.user(account->user.id);
    caller->account = std::move(*account);
    return std::nullopt;
}

std::optional<ApiError> ProfileApi::authorize(const http::Request& request, const Caller& caller) {
    const bool unsafe = request.method != "GET" && request.method != "HEAD" && request.method != "OPTIONS";
    if (caller.via_cookie && unsafe) {
        // A form post rides on the browser's cookie: only trusted origins may send one.
        if (auto failure = auth::csrf_origin_failure(request.header("origin"), request.header("referer"),
                                                     config_.trusted_origins))
            return ApiError::detail(403, *failure);
    }
    if (!caller.account.user.is_talent || !caller.account.profile) return forbidden();
    if (caller.via_cookie) {
        // Forms cannot send the is-talent header: it comes as the is_talent
        // form field instead, checked once the body is parsed.
        if (unsafe) return std::nullopt;
        auto query = form::parse_query(request.query);
        if (truthy(request.header("is-talent")) || truthy(query["is_talent"])) return std::nullopt;
        return forbidden();
    }
    if (!truthy(request.header("is-talent"))) return forbidden();
    return std::nullopt;
}

std::optional<ApiError> ProfileApi::check_method(const http::Request& request) {
    const std::string& m = request.method;
    if (m == "GET" || m == "HEAD" || m == "POST" || m == "PATCH" || m == "OPTIONS") return std::nullopt;
    return ApiError::detail(405, "Method \"" + m + "\" not allowed.");
}

std::optional<ApiError> ProfileApi::check_size(const http::Request& request) {
    if (request.content_length > config_.max_request_size)
        return ApiError::detail(413, "Request body too large.");
    return std::nullopt;
}

std::optional<ApiError> ProfileApi::read_and_parse(const http::Request& request, http::BodySource& body,
                                                   http::BodyBuffer* raw, form::Fields* fields) {
    // Unsupported types are refused before a byte of the body is read.
    if (form::classify(request.content_type) == form::BodyType::Unsupported && request.content_length != 0)
        return form::unsupported_media_type(request.content_type);
    bool too_large = false;
    if (!http::read_body(body, config_.max_request_size, raw, &too_large, request.content_length)) {
        if (too_large) return ApiError::detail(413, "Request body too large.");
        return ApiError::detail(400, "Request body could not be read.");
    }
    recorder_.upload(static_cast<int64_t>(raw->size()));
    recorder_.step(trace::Step::Parsing);
    ApiError error;
    auto parsed = form::parse_body(request.content_type, raw->view(), &error, body_limits_);
    if (!parsed) return error;
    *fields = std::move(*parsed);
    return std::nullopt;
}

std::optional<ApiError> ProfileApi::check_form_talent_flag(const Caller& caller, const form::Fields& fields) {
    if (!caller.via_cookie) return std::nullopt;
    auto it = fields.find("is_talent");
    if (it != fields.end() && it->second.kind == form::Value::Kind::Text && truthy(it->second.text))
        return std::nullopt;
    if (it != fields.end() && it->second.kind == form::Value::Kind::Other && it->second.text == "true")
        return std::nullopt;
    return forbidden();
}

ApiError ProfileApi::validation_unavailable() const {
    // The zygote is gone and could not be restarted: not the picture's fault.
    return ApiError::detail(503, "Picture validation temporarily unavailable, please retry.")
        .with_header("Retry-After", std::to_string(config_.retry_after));
}

image::Verdict ProfileApi::decode(const uint8_t* data, size_t size, bool* unavailable) {
    *unavailable = false;
    return sandbox_ ? sandbox_->validate(data, size, limits_, unavailable) : image::validate(data, size, limits_);
}

std::optional<ApiError> ProfileApi::validate(const form::Fields& fields, bool partial, profile::Changes* changes,
                                             image::Verdict* picture) {
    FieldErrors errors;
    auto valid = profile::validate_update(fields, partial, today_utc(), &errors);
    // DRF validates every field, the picture included, and reports all errors together.
    auto file = fields.find("profile_picture");
    if (file != fields.end() && file->second.kind == form::Value::Kind::File) {
        const auto* data = reinterpret_cast<const uint8_t*>(file->second.file.data.data());
        const size_t size = file->second.file.data.size();
        const auto started = std::chrono::steady_clock::now();
        bool unavailable = false;
        *picture = decode(data, size, &unavailable);
        recorder_.decoded(traced_format(picture->format),
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        if (unavailable)
            return validation_unavailable();
        for (const auto& w : picture->warnings) LOG_INFO("picture accepted with a metadata warning: %s", w.c_str());
        if (!picture->ok) {
            LOG_INFO("picture refused: %s", picture->reason.c_str());
            insert_picture_error(errors, picture->message);
        }
    }
    if (!errors.empty() || !valid) return ApiError::fields(errors);
    *changes = *valid;
    return std::nullopt;
}

std::optional<ApiError> ProfileApi::strip_picture(const profile::Changes& changes, const image::Verdict& picture,
                                                  int64_t user_id, std::span<const uint8_t>* bytes) {
    if (changes.picture != profile::PictureChange::Replace) return std::nullopt;
    // Only the canonical bytes: what follows the format's end is dropped.
    const std::span<const uint8_t> canonical{reinterpret_cast<const uint8_t*>(changes.picture_file->data.data()),
                                             picture.canonical_length};
    *bytes = canonical;
    if (!config_.strip_metadata) return std::nullopt;
    image::StripOptions options;
    options.keep_icc = config_.strip_keep_icc;
    image::Stripped s = image::strip_metadata(canonical, picture.format, options, &strip_buffer_);
    if (!s.ok) {
        // Validation walked the same structure: this cannot happen, and a
        // picture whose metadata cannot be removed is not stored.
        LOG_WARN("user=%lld picture refused: metadata stripper: %s", static_cast<long long>(user_id), s.reason.c_str());
        FieldErrors errors;
        errors.push_back({"profile_picture", {image::kInvalidMessage}});
        return ApiError::fields(errors);
    }
    if (s.revalidate) {
        bool unavailable = false;
        const image::Verdict again =
            decode(reinterpret_cast<const uint8_t*>(s.bytes.data()), s.bytes.size(), &unavailable);
        if (unavailable)
            return validation_unavailable();
        if (!again.ok) {
            // Its image data reached into what the stripper removed.
            LOG_INFO("user=%lld picture refused: needs its metadata to decode: %s", static_cast<long long>(user_id),
                     again.reason.c_str());
            FieldErrors errors;
            errors.push_back({"profile_picture", {image::kInvalidMessage}});
            return ApiError::fields(errors);
        }
    }
    LOG_DEBUG("user=%lld picture metadata: %zu -> %zu bytes; removed %s; kept orientation %d, ICC %zu bytes",
              static_cast<long long>(user_id), canonical.size(), s.bytes.size(),
              image::describe_removed(s.removed).c_str(), s.orientation, s.icc_size);
    *bytes = {reinterpret_cast<const uint8_t*>(s.bytes.data()), s.bytes.size()};
    return std::nullopt;
}

std::optional<ApiError> ProfileApi::store_picture(const profile::Changes& changes, const image::Verdict& picture,
                                                  std::span<const uint8_t> bytes_to_store, const profile::User& user,
                                                  profile::Profile* prof, db::PictureUpdate* update) {
    if (changes.picture == profile::PictureChange::Clear) {
        update->kind = db::PictureUpdate::Kind::Clear;
        prof->picture_key.reset();
        return std::nullopt;
    }
    if (changes.picture != profile::PictureChange::Replace) return std::nullopt;
    cleanup::PictureBytes bytes{bytes_to_store.data(), bytes_to_store.size(), picture.extension,
                                picture.content_type};
    ApiError error;
    auto key = pictures_.store(user.id, bytes, &error);
    if (!key) {
        // Not the store's 503: the journal could not be written.
        if (error.body != cleanup::storage_unavailable(config_).body) recorder_.db_error();
        return error;
    }
    *update = {db::PictureUpdate::Kind::Replace, *key};
    prof->picture_key = *key;
    return std::nullopt;
}

std::optional<ApiError> ProfileApi::commit(const profile::User& user, const profile::Profile& prof,
                                           const db::PictureUpdate& picture_update,
                                           std::optional<std::string>* old_key) {
    std::string why;
    switch (pictures_.commit(user, prof, picture_update, old_key, &why)) {
        case db::CommitResult::Committed: return std::nullopt;
        case db::CommitResult::PendingLost:
            LOG_WARN("user=%lld pending key %s was reaped before the commit", static_cast<long long>(user.id),
                     picture_update.new_key.c_str());
            return cleanup::storage_unavailable(config_);
        case db::CommitResult::NoProfile: return forbidden();
        case db::CommitResult::Error: recorder_.db_error(); break;
    }
    LOG_ERROR("user=%lld commit failed: %s", static_cast<long long>(user.id), why.c_str());
    // The pending row (if any) stays: the reaper removes the uploaded object.
    return cleanup::database_error(config_, db_);
}

// ---------------------------------------------------------------------------
// Rendering.

void ProfileApi::add_cors(const http::Request& request, http::Response* response) const {
    const std::string& origin = request.header("origin");
    if (origin.empty() || !auth::is_trusted_origin(origin, config_.trusted_origins)) return;
    response->add_header("Access-Control-Allow-Origin", origin);
    response->add_header("Access-Control-Allow-Credentials", "true");
    response->add_header("Vary", "Origin");
}

http::Response ProfileApi::respond_json(int status, std::string body, const http::Request& request) const {
    http::Response r;
    r.status = status;
    r.body = std::move(body);
    r.add_header("Cache-Control", "no-store");
    r.add_header("X-Content-Type-Options", "nosniff");
    if (request.path == kProfilePath) {
        r.add_header("Allow", kAllow);
        r.add_header("Vary", "Accept");
    }
    add_cors(request, &r);
    r.head_only = request.method == "HEAD";
    return r;
}

http::Response ProfileApi::respond_error(const ApiError& error, const http::Request& request) const {
    http::Response r = respond_json(error.status, error.body, request);
    for (const auto& h : error.headers) r.headers.push_back(h);
    return r;
}

http::Response ProfileApi::respond_updated(const http::Request& request, const Answer& answer,
                                           const form::Fields& fields, const profile::User& user,
                                           const profile::Profile& prof) const {
    if (!answer.html)
        return respond_json(200, profile::render_update_success(user, prof, config_.public_base_url), request);
    auto next = fields.find("next");
    if (next != fields.end() && next->second.kind == form::Value::Kind::Text && safe_next_path(next->second.text)) {
        http::Response r;
        r.status = 303;
        r.content_type.clear();
        r.add_header("Location", next->second.text);
        r.add_header("Cache-Control", "no-store");
        return r;
    }
    PageModel m;
    m.user = user;
    m.profile = prof;
    m.picture_url = profile::picture_url(config_.public_base_url, prof.picture_key);
    m.banner = "Profile updated successfully";
    return respond_html(200, render_page(m));
}

http::Response ProfileApi::respond_html(int status, std::string html) const {
    http::Response r;
    r.status = status;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::move(html);
    r.add_header("Cache-Control", "no-store");
    r.add_header("X-Content-Type-Options", "nosniff");
    r.add_header("X-Frame-Options", "DENY");
    r.add_header("Referrer-Policy", "same-origin");
    r.add_header("Content-Security-Policy", page_security_policy(config_.public_base_url));
    return r;
}

http::Response ProfileApi::respond_error(const ApiError& error, const http::Request& request,
                                         const Answer& answer) const {
    if (!answer.html) return respond_error(error, request);
    PageModel m;
    m.status = error.status;
    if (answer.caller && answer.caller->account.profile) {
        m.user = answer.caller->account.user;
        m.profile = answer.caller->account.profile;
        m.picture_url = profile::picture_url(config_.public_base_url, m.profile->picture_key);
    }
    m.banner_is_error = true;
    m.banner = error.detail_text.empty() ? "Please correct the errors below." : error.detail_text;
    if (error.status == 400 && answer.fields) {
        // Field errors go next to their fields; the typed values stay.
        m.errors = error.field_errors;
        for (const auto& [name, value] : *answer.fields)
            if (value.kind == form::Value::Kind::Text) m.typed[name] = value.text;
    }
    http::Response r = respond_html(error.status, render_page(m));
    for (const auto& h : error.headers) r.headers.push_back(h);
    return r;
}

http::Response ProfileApi::page(const http::Request& request, http::RequestNote* note) {
    PageModel m;
    Caller caller;
    if (auto e = authenticate(request, &caller, note)) {
        m.status = 401;
        m.banner = "Please sign in.";
        m.banner_is_error = true;
        return respond_html(401, render_page(m));
    }
    if (!caller.account.user.is_talent || !caller.account.profile) {
        m.banner = "You do not have permission to perform this action.";
        m.banner_is_error = true;
        return respond_html(403, render_page(m));
    }
    m.user = caller.account.user;
    m.profile = caller.account.profile;
    m.picture_url = profile::picture_url(config_.public_base_url, m.profile->picture_key);
    // The form's next is "/?saved=1": after the 303, say that the save worked.
    if (form::parse_query(request.query)["saved"] == "1") m.banner = "Profile updated successfully";
    http::Response r = respond_html(200, render_page(m));
    r.head_only = request.method == "HEAD";
    return r;
}

// Demo only (demo_login = true): signs the browser in as a user by setting
// the access-token cookie, so `make demo` can offer a one-click link.
http::Response ProfileApi::demo_login(const http::Request& request) {
    int64_t user_id = 1;
    auto query = form::parse_query(request.query);
    if (!query["user"].empty()) user_id = std::strtoll(query["user"].c_str(), nullptr, 10);
    std::string why;
    auto token = auth::mint_access_token(user_id, jwt_, static_cast<int64_t>(::time(nullptr)),
                                         config_.jwt_access_token_lifetime, &why);
    if (!token) return respond_error(ApiError::detail(500, "Cannot mint a demo token: " + why), request);
    http::Response r;
    r.status = 303;
    r.content_type.clear();
    r.add_header("Set-Cookie", config_.cookie_name + "=" + *token + "; Path=/; Max-Age=" +
                                   std::to_string(config_.jwt_access_token_lifetime) +
                                   "; Secure; HttpOnly; SameSite=Lax");
    r.add_header("Location", "/");
    r.add_header("Cache-Control", "no-store");
    return r;
}

http::Response ProfileApi::preflight(const http::Request& request) const {
    http::Response r;
    r.status = 200;
    r.content_type = "text/html; charset=utf-8";
    const std::string& origin = request.header("origin");
    if (!origin.empty() && auth::is_trusted_origin(origin, config_.trusted_origins)) {
        r.add_header("Access-Control-Allow-Origin", origin);
        r.add_header("Access-Control-Allow-Credentials", "true");
        r.add_header("Access-Control-Allow-Methods", kAllow);
        r.add_header("Access-Control-Allow-Headers",
                     "accept, authorization, content-type, is-talent, user-agent, x-requested-with");
        r.add_header("Access-Control-Max-Age", "86400");
    }
    r.add_header("Vary", "Origin");
    return r;
}

}  // namespace talentd::api
