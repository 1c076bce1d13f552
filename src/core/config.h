// Config — talentd's configuration, read once per process and passed down.
//
// Source, in order of precedence (last wins):
//   1. the defaults below;
//   2. the file (`/etc/talentd/talentd.conf`, or `-c PATH`): `key = value`
//      lines, `#` comments, blank lines; values may be quoted with "…";
//   3. the environment: TALENTD_<KEY> (key upper-cased), e.g. TALENTD_WORKERS=8.
// Secrets are never values: `*_file` keys name a file whose content (trailing
// newline stripped) is the secret.  A relative secret file name is looked up
// in $CREDENTIALS_DIRECTORY first (systemd LoadCredential=).
//
// Every limit is a key here with its documented default (talentd.conf(5)).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace talentd {

struct Config {
    // --- daemon -------------------------------------------------------------
    std::string listen = "unix:/run/talentd/talentd.sock";  // unix:PATH | HOST:PORT | systemd
    int listen_backlog = 1024;
    std::string socket_mode = "0660";     // permissions of a unix socket talentd creates
    int workers = 4;
    long max_requests = 10000;            // a worker is recycled after this many
    int drain_timeout = 30;               // seconds SIGTERM/SIGHUP waits for in-flight requests
    int respawn_backoff_max = 30;         // seconds, cap of the crash-loop backoff
    std::string log_level = "info";       // error | warn | info | debug
    int64_t worker_memory_limit = 512LL << 20;   // RLIMIT_DATA of a worker, bytes (0: none)
    int slow_request_threshold = 5;       // seconds; a slower request is logged with its steps (0: off)

    // --- request ------------------------------------------------------------
    int64_t max_request_size = 6 * 1024 * 1024;
    std::vector<std::string> trusted_origins;    // e.g. https://app.example.com
    std::string cookie_name = "access_token";
    bool demo_login = false;                     // /demo/login sets the cookie (demo only)
    int64_t max_part_header_size = 1024;         // bytes of one multipart part's header block
    int64_t max_header_parameters = 64;          // parameters in one part header line (or the Content-Type)

    // --- authentication (simplejwt) ----------------------------------------
    std::string jwt_algorithm = "HS256";         // HS256 HS384 HS512 RS256 ES256
    std::string jwt_secret_file;                 // HS*: the shared SIGNING_KEY
    std::string jwt_public_key_file;             // RS256/ES256: PEM public key (verify)
    std::string jwt_private_key_file;            // RS256/ES256: PEM private key (talentctl token)
    std::string jwt_user_id_claim = "user_id";
    std::string jwt_issuer;                      // checked when set
    std::string jwt_audience;                    // checked when set
    int jwt_leeway = 0;                          // seconds
    int jwt_access_token_lifetime = 300;         // seconds, talentctl token default
    // Loaded from the files above by load_config():
    std::string jwt_secret;
    std::string jwt_public_key;
    std::string jwt_private_key;

    // --- limits (file_limits in GET) ----------------------------------------
    int64_t max_image_size = 5242880;
    int64_t max_video_size = 104857600;
    std::vector<std::string> allowed_image_types = {"jpg", "jpeg", "png", "gif", "webp"};
    std::vector<std::string> allowed_video_types = {"mp4", "mov", "avi"};
    int64_t max_image_pixels = 50000000;
    int64_t max_total_pixels = 250000000;
    int64_t max_frames = 500;
    int64_t max_decode_memory = 64 * 1024 * 1024;   // bytes a decoder may allocate
    int max_progressive_scans = 100;                // JPEG scans before a file is refused
    bool strip_metadata = true;                     // remove EXIF/XMP/IPTC/comments before storage
    bool strip_keep_icc = true;                     // ... but keep the ICC profile
    int64_t max_decoded_bytes = 200LL << 20;        // what the codecs decode, summed over frames (estimate)
    double decode_cpu_limit = 0.5;                  // seconds of CPU decoding one picture may take (0: none)
    int64_t max_icc_profile_size = 1 << 20;         // PNG iCCP inflated at most this far

    // --- the decoder sandbox (talentd(8), SECURITY) ----------------------------
    bool decode_sandbox = true;                     // decode uploads in a sandboxed process
    int64_t decode_memory_limit = 192LL << 20;      // RLIMIT_DATA of a decoder process, bytes
    int decoder_max_jobs = 64;                      // pictures one decoder process decodes, if all were valid

    // --- database -------------------------------------------------------------
    // An SQLite file, or PostgreSQL: postgresql://… or a libpq connection
    // string ("host=… dbname=…"; sslmode and the rest pass through).
    std::string database = "/var/lib/talentd/talentd.db";
    int database_busy_timeout = 5000;               // milliseconds (SQLite)
    std::string database_layout = "talentd";        // talentd | django (PostgreSQL only)
    std::string database_password_file;             // PostgreSQL password (or libpq's own ways)
    std::string database_password;                  // loaded from database_password_file
    int database_connect_timeout = 5;               // seconds, PostgreSQL connection attempt
    int database_timeout = 5000;                    // milliseconds, deadline of each PostgreSQL round trip
    int database_retries = 3;                       // reruns of a transaction after a serialization failure or deadlock
    std::string django_user_table = "accounts_user";      // database_layout = django: Django's user table
    std::string django_profile_table = "talent_profile";  // … and the talent profile table
    std::string django_media_location = "media";          // the storage location (MEDIA prefix) of Django's names

    // --- storage (S3 / DigitalOcean Spaces via libs3) ------------------------
    std::string s3_endpoint = "127.0.0.1:8081";     // host[:port] libs3 talks to
    std::string s3_bucket = "talentd";
    std::string s3_protocol = "http";               // http (to the egress proxy) | https
    std::string s3_uri_style = "path";              // path | virtual
    std::string s3_access_key;
    std::string s3_secret_key_file;
    std::string s3_secret_key;                      // loaded from s3_secret_key_file
    std::string s3_acl = "public-read";             // private | public-read | public-read-write | authenticated-read
    int s3_timeout = 10;                            // seconds, deadline of every store call
    std::string s3_egress_config;                   // the egress proxy's nginx file: its timeouts are
                                                    // checked against s3_timeout ("" = not checked)
    int store_concurrency = 0;                      // workers inside a store call at once (0: workers - 1, min 1)
    int store_busy_wait = 250;                      // ms a call beyond the bulkhead waits while the store is quick
    int store_breaker_failures = 3;                 // consecutive unavailable store calls that open the breaker (0: never)
    int store_breaker_cooldown = 10;                // seconds an open breaker refuses uploads before a probe
    std::string media_prefix = "media/profile_pictures/";
    std::string public_base_url = "https://gan7club-spaces.fra1.cdn.digitaloceanspaces.com";
    int retry_after = 30;                           // seconds, Retry-After on 503

    // --- cleanup ------------------------------------------------------------------
    int reap_interval = 300;          // seconds between the master's reaper passes (0: never)
    int pending_grace = 3600;         // seconds before a pending key counts as abandoned
    int reap_backoff_base = 60;       // seconds, first retry delay of a failed removal
    int reap_backoff_max = 86400;     // seconds, cap of the retry delay

    // --- testing only ---------------------------------------------------------------
    std::string test_crash_at;        // a replacement step at which a worker SIGKILLs itself
    bool test_decoder_hooks = false;  // an upload may ask its decoder to misbehave (tests only)

    std::string source_path;          // the file this was read from ("" = defaults only)
};

// Why a configuration could not be loaded: "talentd.conf:12: unknown key \"wrokers\"".
struct ConfigError {
    std::string message;
};

// Reads `path` (missing file is an error unless allow_missing), applies the
// environment `env` (normally from environ), loads the secret files and
// validates every value.  On failure returns nullopt and fills *error.
std::optional<Config> load_config(const std::string& path, const std::map<std::string, std::string>& env,
                                  ConfigError* error, bool allow_missing = false);

// Parses configuration text (no secrets loaded, no validation); for tests
// and for load_config.  `origin` names the text in error messages.
bool apply_config_text(Config& config, const std::string& text, const std::string& origin,
                       ConfigError* error);

// Sets one key from its textual value; false with *error if the key is
// unknown or the value malformed.
bool set_config_value(Config& config, const std::string& key, const std::string& value,
                      ConfigError* error);

// Checks cross-key rules (workers >= 1, known algorithm, key material present…).
bool validate_config(const Config& config, ConfigError* error);

// True when `database` names a PostgreSQL server: postgresql:// or
// postgres:// URI, or a libpq connection string ("keyword=value ...").
bool database_is_postgresql(const std::string& database);

// The process environment as a map, for load_config.
std::map<std::string, std::string> process_environment();

// Default path of the configuration file.
inline constexpr const char* kDefaultConfigPath = "/etc/talentd/talentd.conf";

}  // namespace talentd
