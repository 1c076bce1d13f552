#include "core/config.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

extern char** environ;

namespace talentd {
namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

bool fail(ConfigError* error, std::string message) {
    if (error) error->message = std::move(message);
    return false;
}

bool parse_int64(const std::string& text, int64_t min, int64_t max, int64_t* out) {
    if (text.empty()) return false;
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return false;
    *out = v;
    return true;
}

bool parse_bool(const std::string& text, bool* out) {
    std::string t;
    for (char c : text) t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (t == "1" || t == "true" || t == "yes" || t == "on") return *out = true, true;
    if (t == "0" || t == "false" || t == "no" || t == "off") return *out = false, true;
    return false;
}

// Lists are separated by commas and/or white space.
std::vector<std::string> parse_list(const std::string& text) {
    std::vector<std::string> items;
    std::string cur;
    for (char c : text) {
        if (c == ',' || c == ' ' || c == '\t') {
            if (!cur.empty()) items.push_back(cur), cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) items.push_back(cur);
    return items;
}

using Setter = std::function<bool(Config&, const std::string&)>;

Setter str(std::string Config::*field) {
    return [field](Config& c, const std::string& v) { c.*field = v; return true; };
}
Setter integer(int Config::*field, int64_t min, int64_t max) {
    return [=](Config& c, const std::string& v) {
        int64_t n;
        if (!parse_int64(v, min, max, &n)) return false;
        c.*field = static_cast<int>(n);
        return true;
    };
}
Setter integer64(int64_t Config::*field, int64_t min, int64_t max) {
    return [=](Config& c, const std::string& v) { return parse_int64(v, min, max, &(c.*field)); };
}
// Seconds with decimals ("0.5", "2"), within [min, max].
Setter decimal(double Config::*field, double min, double max) {
    return [=](Config& c, const std::string& v) {
        // Digits and a point only: strtod's other forms (1e3, hex, inf, nan) are refused.
        if (v.empty() || v.find_first_not_of("0123456789.") != std::string::npos) return false;
        errno = 0;
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (errno != 0 || *end != '\0' || !(d >= min && d <= max)) return false;
        c.*field = d;
        return true;
    };
}
Setter boolean(bool Config::*field) {
    return [=](Config& c, const std::string& v) { return parse_bool(v, &(c.*field)); };
}
Setter list(std::vector<std::string> Config::*field) {
    return [=](Config& c, const std::string& v) { c.*field = parse_list(v); return true; };
}
Setter one_of(std::string Config::*field, std::vector<std::string> choices) {
    return [=](Config& c, const std::string& v) {
        for (const auto& choice : choices)
            if (v == choice) return c.*field = v, true;
        return false;
    };
}

// An SQL table name, optionally schema-qualified: [a-z_][a-z0-9_]* (.same).
// Quoted by the database module; this keeps it free of anything to quote.
Setter identifier(std::string Config::*field) {
    return [=](Config& c, const std::string& v) {
        auto part_ok = [](const std::string& p) {
            if (p.empty() || p.size() > 63 || (p[0] >= '0' && p[0] <= '9')) return false;
            for (char ch : p)
                if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
            return true;
        };
        auto dot = v.find('.');
        if (dot == std::string::npos ? !part_ok(v) : !part_ok(v.substr(0, dot)) || !part_ok(v.substr(dot + 1)))
            return false;
        c.*field = v;
        return true;
    };
}

const std::map<std::string, Setter>& setters() {
    static const std::map<std::string, Setter> table = {
        {"listen", str(&Config::listen)},
        {"listen_backlog", integer(&Config::listen_backlog, 1, 65535)},
        {"socket_mode", [](Config& c, const std::string& v) {
             if (v.size() < 3 || v.size() > 4 || v.find_first_not_of("01234567") != std::string::npos) return false;
             c.socket_mode = v;
             return true;
         }},
        {"workers", integer(&Config::workers, 1, 1024)},
        {"max_requests", [](Config& c, const std::string& v) {
             int64_t n;
             if (!parse_int64(v, 0, INT64_MAX, &n)) return false;
             c.max_requests = static_cast<long>(n);
             return true;
         }},
        {"drain_timeout", integer(&Config::drain_timeout, 0, 86400)},
        {"respawn_backoff_max", integer(&Config::respawn_backoff_max, 1, 3600)},
        {"worker_memory_limit", integer64(&Config::worker_memory_limit, 0, INT64_MAX)},
        {"slow_request_threshold", integer(&Config::slow_request_threshold, 0, 86400)},
        {"log_level", one_of(&Config::log_level, {"error", "warn", "info", "debug"})},
        {"max_request_size", integer64(&Config::max_request_size, 1, INT64_MAX)},
        {"trusted_origins", list(&Config::trusted_origins)},
        {"cookie_name", str(&Config::cookie_name)},
        {"demo_login", boolean(&Config::demo_login)},
        {"max_part_header_size", integer64(&Config::max_part_header_size, 64, 1 << 20)},
        {"max_header_parameters", integer64(&Config::max_header_parameters, 2, 100000)},
        {"jwt_algorithm", one_of(&Config::jwt_algorithm, {"HS256", "HS384", "HS512", "RS256", "ES256"})},
        {"jwt_secret_file", str(&Config::jwt_secret_file)},
        {"jwt_public_key_file", str(&Config::jwt_public_key_file)},
        {"jwt_private_key_file", str(&Config::jwt_private_key_file)},
        {"jwt_user_id_claim", str(&Config::jwt_user_id_claim)},
        {"jwt_issuer", str(&Config::jwt_issuer)},
        {"jwt_audience", str(&Config::jwt_audience)},
        {"jwt_leeway", integer(&Config::jwt_leeway, 0, 86400)},
        {"jwt_access_token_lifetime", integer(&Config::jwt_access_token_lifetime, 1, 365 * 86400)},
        {"max_image_size", integer64(&Config::max_image_size, 1, INT64_MAX)},
        {"max_video_size", integer64(&Config::max_video_size, 1, INT64_MAX)},
        {"allowed_image_types", list(&Config::allowed_image_types)},
        {"allowed_video_types", list(&Config::allowed_video_types)},
        {"max_image_pixels", integer64(&Config::max_image_pixels, 1, INT64_MAX)},
        {"max_total_pixels", integer64(&Config::max_total_pixels, 1, INT64_MAX)},
        {"max_frames", integer64(&Config::max_frames, 1, INT64_MAX)},
        {"max_decode_memory", integer64(&Config::max_decode_memory, 1 << 20, INT64_MAX)},
        {"max_progressive_scans", integer(&Config::max_progressive_scans, 1, 100000)},
        {"decode_sandbox", boolean(&Config::decode_sandbox)},
        {"decode_memory_limit", integer64(&Config::decode_memory_limit, 16 << 20, INT64_MAX)},
        {"decoder_max_jobs", integer(&Config::decoder_max_jobs, 1, 100000)},
        {"strip_metadata", boolean(&Config::strip_metadata)},
        {"strip_keep_icc", boolean(&Config::strip_keep_icc)},
        {"max_decoded_bytes", integer64(&Config::max_decoded_bytes, 1, INT64_MAX)},
        {"decode_cpu_limit", decimal(&Config::decode_cpu_limit, 0, 3600)},
        {"max_icc_profile_size", integer64(&Config::max_icc_profile_size, 1024, INT64_MAX)},
        {"database", str(&Config::database)},
        {"database_busy_timeout", integer(&Config::database_busy_timeout, 0, 600000)},
        {"database_layout", one_of(&Config::database_layout, {"talentd", "django"})},
        {"database_password_file", str(&Config::database_password_file)},
        {"database_connect_timeout", integer(&Config::database_connect_timeout, 1, 600)},
        {"database_timeout", integer(&Config::database_timeout, 100, 600000)},
        {"database_retries", integer(&Config::database_retries, 0, 100)},
        {"django_user_table", identifier(&Config::django_user_table)},
        {"django_profile_table", identifier(&Config::django_profile_table)},
        {"django_media_location", str(&Config::django_media_location)},
        {"s3_endpoint", str(&Config::s3_endpoint)},
        {"s3_bucket", str(&Config::s3_bucket)},
        {"s3_protocol", one_of(&Config::s3_protocol, {"http", "https"})},
        {"s3_uri_style", one_of(&Config::s3_uri_style, {"path", "virtual"})},
        {"s3_access_key", str(&Config::s3_access_key)},
        {"s3_secret_key_file", str(&Config::s3_secret_key_file)},
        {"s3_acl", one_of(&Config::s3_acl, {"private", "public-read", "public-read-write", "authenticated-read"})},
        {"s3_timeout", integer(&Config::s3_timeout, 1, 3600)},
        {"s3_egress_config", str(&Config::s3_egress_config)},
        {"store_concurrency", integer(&Config::store_concurrency, 0, 512)},
        {"store_busy_wait", integer(&Config::store_busy_wait, 0, 60000)},
        {"store_breaker_failures", integer(&Config::store_breaker_failures, 0, 1000000)},
        {"store_breaker_cooldown", integer(&Config::store_breaker_cooldown, 0, 86400)},
        {"media_prefix", str(&Config::media_prefix)},
        {"public_base_url", str(&Config::public_base_url)},
        {"retry_after", integer(&Config::retry_after, 1, 86400)},
        {"reap_interval", integer(&Config::reap_interval, 0, 30 * 86400)},
        {"pending_grace", integer(&Config::pending_grace, 0, 30 * 86400)},
        {"reap_backoff_base", integer(&Config::reap_backoff_base, 1, 86400)},
        {"reap_backoff_max", integer(&Config::reap_backoff_max, 1, 30 * 86400)},
        {"test_crash_at", one_of(&Config::test_crash_at,
                                 {"", "after_pending", "after_put", "after_commit", "after_delete"})},
        {"test_decoder_hooks", boolean(&Config::test_decoder_hooks)},
    };
    return table;
}

// Secret file: absolute, relative to $CREDENTIALS_DIRECTORY when that has it,
// else relative to the configuration file's folder.
bool read_secret(const std::string& name, const std::string& config_path,
                 const std::map<std::string, std::string>& env, std::string* out, ConfigError* error) {
    std::vector<std::string> candidates;
    if (!name.empty() && name[0] == '/') {
        candidates.push_back(name);
    } else {
        auto creds = env.find("CREDENTIALS_DIRECTORY");
        if (creds != env.end() && !creds->second.empty()) candidates.push_back(creds->second + "/" + name);
        auto slash = config_path.rfind('/');
        candidates.push_back(slash == std::string::npos ? name : config_path.substr(0, slash + 1) + name);
    }
    for (const auto& path : candidates) {
        std::ifstream in(path, std::ios::binary);
        if (!in) continue;
        std::stringstream ss;
        ss << in.rdbuf();
        std::string s = ss.str();
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        if (s.empty()) return fail(error, "secret file " + path + " is empty");
        *out = std::move(s);
        return true;
    }
    return fail(error, "cannot read secret file " + candidates.front());
}

}  // namespace

bool set_config_value(Config& config, const std::string& key, const std::string& value, ConfigError* error) {
    auto it = setters().find(key);
    if (it == setters().end()) return fail(error, "unknown key \"" + key + "\"");
    if (!it->second(config, value)) return fail(error, "invalid value \"" + value + "\" for " + key);
    return true;
}

bool apply_config_text(Config& config, const std::string& text, const std::string& origin, ConfigError* error) {
    std::istringstream in(text);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        std::string t = trim(line);
        if (t.empty() || t[0] == '#') continue;
        auto eq = t.find('=');
        if (eq == std::string::npos)
            return fail(error, origin + ":" + std::to_string(number) + ": expected \"key = value\"");
        std::string key = trim(t.substr(0, eq));
        std::string value = trim(t.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        ConfigError e;
        if (!set_config_value(config, key, value, &e))
            return fail(error, origin + ":" + std::to_string(number) + ": " + e.message);
    }
    return true;
}

bool validate_config(const Config& c, ConfigError* error) {
    if (c.jwt_algorithm.rfind("HS", 0) == 0) {
        if (c.jwt_secret.empty()) return fail(error, "jwt_secret_file is required for " + c.jwt_algorithm);
    } else if (c.jwt_public_key.empty()) {
        return fail(error, "jwt_public_key_file is required for " + c.jwt_algorithm);
    }
    if (c.max_image_size > c.max_request_size)
        return fail(error, "max_image_size must not exceed max_request_size");
    if (c.media_prefix.empty() || c.media_prefix[0] == '/')
        return fail(error, "media_prefix must be a relative key prefix such as media/profile_pictures/");
    if (c.public_base_url.empty()) return fail(error, "public_base_url is required");
    if (c.s3_bucket.empty()) return fail(error, "s3_bucket is required");
    if (c.reap_backoff_base > c.reap_backoff_max)
        return fail(error, "reap_backoff_base must not exceed reap_backoff_max");
    if (c.listen.empty()) return fail(error, "listen is required");
    if (c.decode_memory_limit < c.max_decode_memory)
        return fail(error, "decode_memory_limit must not be below max_decode_memory");
    if (c.database.empty()) return fail(error, "database is required");
    if (c.database_layout == "django") {
        if (!database_is_postgresql(c.database))
            return fail(error, "database_layout = django needs a PostgreSQL database (postgresql://…)");
        const std::string& loc = c.django_media_location;
        if (loc.empty() || loc.front() == '/' || loc.back() == '/')
            return fail(error, "django_media_location must be a key prefix without slashes at its ends, such as media");
        if (c.media_prefix.compare(0, loc.size() + 1, loc + "/") != 0)
            return fail(error, "media_prefix must lie under django_media_location (" + loc +
                                   "/…) so Django and talentd build the same URL");
    }
    return true;
}

std::optional<Config> load_config(const std::string& path, const std::map<std::string, std::string>& env,
                                  ConfigError* error, bool allow_missing) {
    Config config;
    std::ifstream in(path);
    if (in) {
        std::stringstream ss;
        ss << in.rdbuf();
        if (!apply_config_text(config, ss.str(), path, error)) return std::nullopt;
        config.source_path = path;
    } else if (!allow_missing) {
        fail(error, "cannot read configuration file " + path);
        return std::nullopt;
    }
    for (const auto& [name, value] : env) {
        if (name.rfind("TALENTD_", 0) != 0) continue;
        std::string key;
        for (char ch : name.substr(8)) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
        // Variables of the test harness and of systemd share the prefix but are not keys.
        if (!setters().count(key)) continue;
        ConfigError e;
        if (!set_config_value(config, key, value, &e)) {
            fail(error, name + ": " + e.message);
            return std::nullopt;
        }
    }
    struct Secret {
        const std::string* file;
        std::string* value;
    } secrets[] = {
        {&config.jwt_secret_file, &config.jwt_secret},
        {&config.jwt_public_key_file, &config.jwt_public_key},
        {&config.jwt_private_key_file, &config.jwt_private_key},
        {&config.s3_secret_key_file, &config.s3_secret_key},
        {&config.database_password_file, &config.database_password},
    };
    for (auto& s : secrets) {
        if (s.file->empty()) continue;
        if (!read_secret(*s.file, path, env, s.value, error)) return std::nullopt;
    }
    // An RS/ES service verifies with the public key; talentctl may mint with the private one.
    if (!validate_config(config, error)) return std::nullopt;
    return config;
}

bool database_is_postgresql(const std::string& database) {
    if (database.rfind("postgresql://", 0) == 0 || database.rfind("postgres://", 0) == 0) return true;
    // A libpq connection string starts with "keyword=" (white space allowed
    // around the sign); a file name with '=' further on stays a file.
    size_t i = 0;
    while (i < database.size() && ((database[i] >= 'a' && database[i] <= 'z') || database[i] == '_')) ++i;
    if (i == 0) return false;
    while (i < database.size() && database[i] == ' ') ++i;
    return i < database.size() && database[i] == '=';
}

std::map<std::string, std::string> process_environment() {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return env;
}

}  // namespace talentd
