#include "load.h"

#include <ctime>
#include <cstdlib>

#include "auth/jwt.h"
#include "payload.h"

namespace talentd::test {
namespace {

constexpr const char* kPath = "/api/profile/talent/";

}  // namespace

const char* load_kind_name(LoadKind kind) {
    switch (kind) {
        case LoadKind::Get: return "GET";
        case LoadKind::Fields: return "fields";
        case LoadKind::Upload: return "upload";
        case LoadKind::Clear: return "clear";
        case LoadKind::Invalid: return "invalid";
    }
    return "?";
}

std::string picture_key_in(const std::string& body, const std::string& media_prefix) {
    size_t at = body.find(media_prefix + "user_");
    if (at == std::string::npos) return "";
    size_t end = body.find_first_of("\"?# ", at);
    return body.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

Load::Load(const Stack& stack, LoadOptions options) : stack_(stack), options_(std::move(options)) {
    auth::JwtSettings settings;
    settings.algorithm = "HS256";
    settings.verify_key = settings.signing_key = stack_.get("JWT_SECRET");
    for (int64_t user : options_.users) {
        std::string why;
        auto token = auth::mint_access_token(user, settings, std::time(nullptr), 24 * 3600, &why);
        tokens_.push_back(token ? *token : "");
    }
}

Load::~Load() { stop(); }

void Load::start() {
    started_ = std::chrono::steady_clock::now();
    stopping_ = false;
    for (int i = 0; i < options_.clients; ++i) threads_.emplace_back([this, i] { client(i); });
}

void Load::stop() {
    stopping_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
}

double Load::now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

std::vector<LoadRecord> Load::records() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return records_;
}

void Load::client(int index) {
    unsigned seed = static_cast<unsigned>(index * 7919 + 17);
    const int total = options_.get + options_.fields + options_.upload + options_.clear + options_.invalid;
    while (!stopping_) {
        int pick = total > 0 ? static_cast<int>(rand_r(&seed) % total) : 0;
        LoadKind kind = LoadKind::Get;
        if ((pick -= options_.get) >= 0) {
            kind = LoadKind::Fields;
            if ((pick -= options_.fields) >= 0) {
                kind = LoadKind::Upload;
                if ((pick -= options_.upload) >= 0) kind = (pick -= options_.clear) >= 0 ? LoadKind::Invalid : LoadKind::Clear;
            }
        }
        if (kind == LoadKind::Upload && options_.pictures.empty()) kind = LoadKind::Get;
        size_t u = options_.users.empty() ? 0 : rand_r(&seed) % options_.users.size();
        LoadRecord r = one(kind, options_.users.empty() ? 0 : options_.users[u], &seed);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            records_.push_back(std::move(r));
        }
        completed_.fetch_add(1);
    }
}

LoadRecord Load::one(LoadKind kind, int64_t user, unsigned* seed) {
    LoadRecord r;
    r.kind = kind;
    r.user = user;
    std::string token;
    for (size_t i = 0; i < options_.users.size(); ++i)
        if (options_.users[i] == user) token = tokens_[i];
    std::vector<std::string> headers = {"Authorization: Bearer " + token, "is-talent: true"};
    std::string method = "GET", target = kPath, body;
    std::vector<Part> parts;
    switch (kind) {
        case LoadKind::Get: break;
        case LoadKind::Fields:
            parts = {{"city", "City" + std::to_string(rand_r(seed) % 1000), "", ""}};
            break;
        case LoadKind::Upload:
            r.picture = static_cast<int>(rand_r(seed) % options_.pictures.size());
            parts = {{"profile_picture", options_.pictures[r.picture], "photo.jpg", "image/jpeg"}};
            break;
        case LoadKind::Clear: parts = {{"profile_picture", "", "", ""}}; break;
        case LoadKind::Invalid:
            parts = {{"profile_picture", std::string(2000, 'x'), "photo.jpg", "image/jpeg"}};
            break;
    }
    if (!parts.empty()) {
        Multipart mp = make_multipart(parts);
        method = "PATCH";
        body = std::move(mp.body);
        headers.push_back("Content-Type: " + mp.content_type);
    }
    r.start = now();
    HttpResponse response = stack_.request(method, target, body, headers, options_.timeout_seconds);
    r.end = now();
    r.status = response.status;
    r.error = response.error;
    if (response.status == 200 && kind == LoadKind::Upload) r.key = picture_key_in(response.body, stack_.get("MEDIA_PREFIX"));
    if (response.status == 503) r.retry_after = response.header("retry-after");
    if (response.status != 200 && response.status != 0) r.error = response.body.substr(0, 200);
    return r;
}

}  // namespace talentd::test
