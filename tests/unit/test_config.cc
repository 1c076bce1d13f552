// Unit tests of core/config: the file format, values, the TALENTD_
// environment, secret files (systemd credentials first) and the cross-key
// rules; and the shipped docs/talentd.conf.example, whose every key must
// load and whose commented defaults must be the real ones.
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../support/temp_dir.h"
#include "core/config.h"
#include "db/database.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

using talentd::Config;
using talentd::ConfigError;
namespace t = talentd::test;

// Compares as std::string (ck_assert_str_eq would keep a pointer into a temporary).
#define CK_STR_EQ(a, b)                                                                 \
    do {                                                                                \
        std::string ck_a_ = (a), ck_b_ = (b);                                           \
        ck_assert_msg(ck_a_ == ck_b_, "\"%s\" != \"%s\"", ck_a_.c_str(), ck_b_.c_str()); \
    } while (0)

#define CK_CONTAINS(haystack, needle)                                                           \
    do {                                                                                        \
        std::string ck_h_ = (haystack), ck_n_ = (needle);                                       \
        ck_assert_msg(ck_h_.find(ck_n_) != std::string::npos, "\"%s\" lacks \"%s\"", ck_h_.c_str(), \
                      ck_n_.c_str());                                                           \
    } while (0)

namespace {

// apply_config_text on defaults; the error message ("" on success).
std::string parse(const std::string& text, Config* out = nullptr) {
    Config c;
    ConfigError e;
    bool ok = talentd::apply_config_text(c, text, "test.conf", &e);
    if (out) *out = c;
    return ok ? "" : e.message;
}

// A directory with a configuration file and a jwt secret next to it.
struct Files {
    t::TempDir dir{"talentd-config-test"};
    std::string conf;
    explicit Files(const std::string& text, const std::string& secret = "file-secret\n") {
        conf = dir.file("talentd.conf");
        t::write_file(conf, text);
        if (!secret.empty()) t::write_file(dir.file("jwt_secret"), secret);
    }
};

std::optional<Config> load(const std::string& path, const std::map<std::string, std::string>& env,
                           std::string* error) {
    ConfigError e;
    auto c = talentd::load_config(path, env, &e);
    if (!c && error) *error = e.message;
    return c;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : "|") + s;
    return out;
}

// Every field as text, to compare two Configs.
std::string describe(const Config& c) {
    std::ostringstream o;
    o << c.listen << ';' << c.listen_backlog << ';' << c.socket_mode << ';' << c.workers << ';' << c.max_requests
      << ';' << c.drain_timeout << ';' << c.respawn_backoff_max << ';' << c.log_level << ';' << c.max_request_size
      << ';' << joined(c.trusted_origins) << ';' << c.cookie_name << ';' << c.demo_login << ';' << c.jwt_algorithm
      << ';' << c.jwt_secret_file << ';' << c.jwt_public_key_file << ';' << c.jwt_private_key_file << ';'
      << c.jwt_user_id_claim << ';' << c.jwt_issuer << ';' << c.jwt_audience << ';' << c.jwt_leeway << ';'
      << c.jwt_access_token_lifetime << ';' << c.max_image_size << ';' << c.max_video_size << ';'
      << joined(c.allowed_image_types) << ';' << joined(c.allowed_video_types) << ';' << c.max_image_pixels << ';'
      << c.max_total_pixels << ';' << c.max_frames << ';' << c.max_decode_memory << ';' << c.max_progressive_scans
      << ';' << c.strip_metadata << ';' << c.strip_keep_icc << ';' << c.database << ';' << c.database_busy_timeout
      << ';' << c.database_layout << ';' << c.database_password_file << ';' << c.database_connect_timeout << ';'
      << c.database_timeout << ';' << c.database_retries << ';' << c.django_user_table << ';'
      << c.django_profile_table << ';' << c.django_media_location << ';' << c.s3_endpoint << ';' << c.s3_bucket << ';'
      << c.s3_protocol << ';' << c.s3_uri_style << ';' << c.s3_access_key << ';' << c.s3_secret_key_file << ';'
      << c.s3_acl << ';' << c.s3_timeout << ';' << c.media_prefix << ';' << c.public_base_url << ';'
      << c.retry_after << ';' << c.reap_interval << ';' << c.pending_grace << ';' << c.reap_backoff_base << ';'
      << c.reap_backoff_max << ';' << c.test_crash_at << ';' << c.decode_sandbox << ';' << c.decode_cpu_limit << ';'
      << c.decode_memory_limit << ';' << c.test_decoder_hooks;
    return o.str();
}

// Every key talentd.conf(5) documents.
const std::vector<std::string> kAllKeys = {
    "listen", "listen_backlog", "socket_mode", "workers", "max_requests", "drain_timeout", "respawn_backoff_max",
    "log_level", "max_request_size", "trusted_origins", "cookie_name", "demo_login", "jwt_algorithm",
    "jwt_secret_file", "jwt_public_key_file", "jwt_private_key_file", "jwt_user_id_claim", "jwt_issuer",
    "jwt_audience", "jwt_leeway", "jwt_access_token_lifetime", "max_image_size", "max_video_size",
    "allowed_image_types", "allowed_video_types", "max_image_pixels", "max_total_pixels", "max_frames",
    "max_decode_memory", "max_progressive_scans", "strip_metadata", "strip_keep_icc", "database",
    "database_busy_timeout", "database_layout", "database_password_file", "database_connect_timeout",
    "database_timeout", "database_retries", "django_user_table", "django_profile_table", "django_media_location",
    "s3_endpoint", "s3_bucket",
    "s3_protocol", "s3_uri_style", "s3_access_key", "s3_secret_key_file", "s3_acl", "s3_timeout", "media_prefix",
    "public_base_url", "retry_after", "reap_interval", "pending_grace", "reap_backoff_base", "reap_backoff_max",
    "test_crash_at", "decode_sandbox", "decode_memory_limit", "test_decoder_hooks", "max_decoded_bytes",
    "decode_cpu_limit", "max_icc_profile_size", "max_part_header_size", "max_header_parameters"};

}  // namespace

// --- the file format ------------------------------------------------------------

START_TEST(defaults) {
    Config c;
    CK_STR_EQ(c.listen, "unix:/run/talentd/talentd.sock");
    ck_assert_int_eq(c.workers, 4);
    ck_assert_int_eq(c.max_request_size, 6 * 1024 * 1024);
    ck_assert_int_eq(c.max_image_size, 5242880);
    CK_STR_EQ(c.jwt_algorithm, "HS256");
    CK_STR_EQ(c.cookie_name, "access_token");
    ck_assert(!c.demo_login);
    CK_STR_EQ(c.media_prefix, "media/profile_pictures/");
    CK_STR_EQ(joined(c.allowed_image_types), "jpg|jpeg|png|gif|webp");
    ck_assert_int_eq(c.pending_grace, 3600);
}
END_TEST

START_TEST(comments_blanks_spacing_and_quotes) {
    Config c;
    CK_STR_EQ(parse("# a comment\n"
                    "\n"
                    "   # indented comment\n"
                    "workers=7\n"
                    "  log_level   =   debug  \n"
                    "\tcookie_name\t=\t\"my cookie\"\r\n"
                    "jwt_issuer = \"\"\n"
                    "s3_bucket = a=b\n",
                    &c),
              "");
    ck_assert_int_eq(c.workers, 7);
    CK_STR_EQ(c.log_level, "debug");
    CK_STR_EQ(c.cookie_name, "my cookie");
    CK_STR_EQ(c.jwt_issuer, "");
    CK_STR_EQ(c.s3_bucket, "a=b");  // the first = separates
}
END_TEST

START_TEST(later_line_wins) {
    Config c;
    CK_STR_EQ(parse("workers = 2\nworkers = 9\n", &c), "");
    ck_assert_int_eq(c.workers, 9);
}
END_TEST

START_TEST(unknown_key_names_line) {
    CK_STR_EQ(parse("# one\nworkers = 2\nwrokers = 3\n"), "test.conf:3: unknown key \"wrokers\"");
}
END_TEST

START_TEST(line_without_equals) {
    CK_STR_EQ(parse("workers 4\n"), "test.conf:1: expected \"key = value\"");
}
END_TEST

START_TEST(bad_values) {
    const char* cases[][2] = {
        {"workers = 0", "workers"},          {"workers = four", "workers"},
        {"workers = 4x", "workers"},         {"workers = 2000", "workers"},
        {"max_requests = -1", "max_requests"}, {"log_level = loud", "log_level"},
        {"demo_login = maybe", "demo_login"}, {"socket_mode = 0999", "socket_mode"},
        {"socket_mode = 66", "socket_mode"}, {"jwt_algorithm = none", "jwt_algorithm"},
        {"jwt_algorithm = hs256", "jwt_algorithm"}, {"s3_protocol = ftp", "s3_protocol"},
        {"s3_uri_style = vhost", "s3_uri_style"}, {"s3_acl = public", "s3_acl"},
        {"s3_timeout = 0", "s3_timeout"},    {"max_image_size = 0", "max_image_size"},
        {"max_decode_memory = 1000", "max_decode_memory"}, {"test_crash_at = later", "test_crash_at"},
        {"listen_backlog = 99999999999999999999", "listen_backlog"},
        {"decode_cpu_limit = -1", "decode_cpu_limit"},
        {"decode_cpu_limit = 1e3", "decode_cpu_limit"}, {"decode_cpu_limit = nan", "decode_cpu_limit"},
        {"decode_cpu_limit = 2s", "decode_cpu_limit"}, {"decode_cpu_limit = 3601", "decode_cpu_limit"},
        {"decode_memory_limit = 1000", "decode_memory_limit"}, {"decode_sandbox = maybe", "decode_sandbox"},
    };
    for (auto& c : cases) {
        std::string error = parse(std::string("# x\n") + c[0] + "\n");
        ck_assert_msg(!error.empty(), "accepted: %s", c[0]);
        CK_CONTAINS(error, "test.conf:2:");
        CK_CONTAINS(error, c[1]);
        CK_CONTAINS(error, "invalid value");
    }
}
END_TEST

START_TEST(decimal_seconds) {
    Config c;
    ConfigError e;
    ck_assert(talentd::set_config_value(c, "decode_cpu_limit", "0.25", &e));
    ck_assert(c.decode_cpu_limit == 0.25);
    ck_assert(talentd::set_config_value(c, "decode_cpu_limit", "3", &e));
    ck_assert(c.decode_cpu_limit == 3.0);
    ck_assert(Config{}.decode_cpu_limit == 0.5);
    ck_assert(Config{}.decode_sandbox);
}
END_TEST

START_TEST(booleans) {
    for (const char* yes : {"true", "TRUE", "yes", "on", "1", "True"}) {
        Config c;
        CK_STR_EQ(parse(std::string("demo_login = ") + yes, &c), "");
        ck_assert_msg(c.demo_login, "%s", yes);
    }
    for (const char* no : {"false", "no", "off", "0", "OFF"}) {
        Config c;
        c.demo_login = true;
        ConfigError e;
        ck_assert(talentd::apply_config_text(c, std::string("demo_login = ") + no, "x", &e));
        ck_assert_msg(!c.demo_login, "%s", no);
    }
}
END_TEST

START_TEST(lists) {
    Config c;
    CK_STR_EQ(parse("trusted_origins = https://a.example, https://b.example  https://c.example\n"
                    "allowed_image_types = png,gif\n"
                    "allowed_video_types =\n",
                    &c),
              "");
    CK_STR_EQ(joined(c.trusted_origins), "https://a.example|https://b.example|https://c.example");
    CK_STR_EQ(joined(c.allowed_image_types), "png|gif");
    ck_assert_int_eq(c.allowed_video_types.size(), 0);
}
END_TEST

START_TEST(set_config_value_single_key) {
    Config c;
    ConfigError e;
    ck_assert(talentd::set_config_value(c, "max_requests", "0", &e));
    ck_assert_int_eq(c.max_requests, 0);
    ck_assert(!talentd::set_config_value(c, "nope", "1", &e));
    CK_STR_EQ(e.message, "unknown key \"nope\"");
    ck_assert(!talentd::set_config_value(c, "workers", "", &e));
    CK_STR_EQ(e.message, "invalid value \"\" for workers");
}
END_TEST

// --- load_config: file, environment, secrets -------------------------------------------

START_TEST(missing_file) {
    std::string error;
    ck_assert(!load("/nonexistent/talentd.conf", {}, &error));
    CK_CONTAINS(error, "cannot read configuration file /nonexistent/talentd.conf");
    ConfigError e;
    auto c = talentd::load_config("/nonexistent/talentd.conf", {{"TALENTD_JWT_SECRET_FILE", "/nonexistent/s"}}, &e,
                                  true);
    ck_assert(!c);  // the secret file is still required
    t::TempDir dir("talentd-config-test");
    t::write_file(dir.file("s"), "x");
    c = talentd::load_config("/nonexistent/talentd.conf", {{"TALENTD_JWT_SECRET_FILE", dir.file("s")}}, &e, true);
    ck_assert_msg(c.has_value(), "%s", e.message.c_str());
    CK_STR_EQ(c->source_path, "");
}
END_TEST

START_TEST(file_and_source_path) {
    Files f("workers = 3\njwt_secret_file = jwt_secret\n");
    std::string error;
    auto c = load(f.conf, {}, &error);
    ck_assert_msg(c.has_value(), "%s", error.c_str());
    ck_assert_int_eq(c->workers, 3);
    CK_STR_EQ(c->source_path, f.conf);
    CK_STR_EQ(c->jwt_secret, "file-secret");  // trailing newline stripped
}
END_TEST

START_TEST(file_error_names_path_and_line) {
    Files f("jwt_secret_file = jwt_secret\n\nworkers = lots\n");
    std::string error;
    ck_assert(!load(f.conf, {}, &error));
    CK_STR_EQ(error, f.conf + ":3: invalid value \"lots\" for workers");
}
END_TEST

START_TEST(environment_overrides_file) {
    Files f("workers = 3\nlog_level = warn\njwt_secret_file = jwt_secret\n");
    std::string error;
    auto c = load(f.conf,
                  {{"TALENTD_WORKERS", "8"}, {"TALENTD_LISTEN", "systemd"}, {"TALENTD_BUILD", "/ignored"},
                   {"TALENTD_CORPUS", "/ignored"}, {"WORKERS", "1"}},
                  &error);
    ck_assert_msg(c.has_value(), "%s", error.c_str());
    ck_assert_int_eq(c->workers, 8);
    CK_STR_EQ(c->listen, "systemd");
    CK_STR_EQ(c->log_level, "warn");
}
END_TEST

START_TEST(environment_bad_value_is_named) {
    Files f("jwt_secret_file = jwt_secret\n");
    std::string error;
    ck_assert(!load(f.conf, {{"TALENTD_WORKERS", "0"}}, &error));
    CK_STR_EQ(error, "TALENTD_WORKERS: invalid value \"0\" for workers");
}
END_TEST

START_TEST(environment_names_the_secret_file) {
    Files f("workers = 2\n");
    t::write_file(f.dir.file("other"), "from-env\n");
    std::string error;
    auto c = load(f.conf, {{"TALENTD_JWT_SECRET_FILE", "other"}}, &error);
    ck_assert_msg(c.has_value(), "%s", error.c_str());
    CK_STR_EQ(c->jwt_secret, "from-env");
}
END_TEST

START_TEST(secret_from_credentials_directory_first) {
    Files f("jwt_secret_file = jwt_secret\ns3_secret_key_file = s3_secret_key\n");
    t::TempDir creds("talentd-creds");
    t::write_file(creds.file("jwt_secret"), "credential-secret");
    t::write_file(f.dir.file("s3_secret_key"), "s3-next-to-file\r\n");
    std::string error;
    auto c = load(f.conf, {{"CREDENTIALS_DIRECTORY", creds.path()}}, &error);
    ck_assert_msg(c.has_value(), "%s", error.c_str());
    CK_STR_EQ(c->jwt_secret, "credential-secret");
    // Not among the credentials: next to the configuration file.
    CK_STR_EQ(c->s3_secret_key, "s3-next-to-file");
    // Without credentials, both come from next to the file.
    c = load(f.conf, {}, &error);
    ck_assert(c.has_value());
    CK_STR_EQ(c->jwt_secret, "file-secret");
}
END_TEST

START_TEST(absolute_secret_path_ignores_credentials) {
    t::TempDir other("talentd-secret");
    t::write_file(other.file("key"), "absolute");
    Files f("jwt_secret_file = " + other.file("key") + "\n");
    t::TempDir creds("talentd-creds");
    t::write_file(creds.file("key"), "credential");
    std::string error;
    auto c = load(f.conf, {{"CREDENTIALS_DIRECTORY", creds.path()}}, &error);
    ck_assert_msg(c.has_value(), "%s", error.c_str());
    CK_STR_EQ(c->jwt_secret, "absolute");
}
END_TEST

START_TEST(secret_problems) {
    {
        Files f("jwt_secret_file = missing\n");
        std::string error;
        ck_assert(!load(f.conf, {}, &error));
        CK_CONTAINS(error, "cannot read secret file");
        CK_CONTAINS(error, "missing");
    }
    {
        Files f("jwt_secret_file = jwt_secret\n", "\n");
        std::string error;
        ck_assert(!load(f.conf, {}, &error));
        CK_CONTAINS(error, "is empty");
    }
    {
        Files f("workers = 2\n");  // HS256 and no secret file at all
        std::string error;
        ck_assert(!load(f.conf, {}, &error));
        CK_STR_EQ(error, "jwt_secret_file is required for HS256");
    }
}
END_TEST

// --- validate_config ------------------------------------------------------------------

START_TEST(validation_rules) {
    auto check = [](const std::function<void(Config&)>& change) {
        Config c;
        c.jwt_secret = "s";
        change(c);
        ConfigError e;
        return talentd::validate_config(c, &e) ? std::string() : e.message;
    };
    CK_STR_EQ(check([](Config&) {}), "");
    CK_STR_EQ(check([](Config& c) { c.jwt_secret.clear(); }), "jwt_secret_file is required for HS256");
    CK_STR_EQ(check([](Config& c) { c.jwt_algorithm = "RS256"; }), "jwt_public_key_file is required for RS256");
    CK_STR_EQ(check([](Config& c) { c.jwt_algorithm = "ES256"; c.jwt_public_key = "pem"; }), "");
    CK_CONTAINS(check([](Config& c) { c.max_image_size = c.max_request_size + 1; }), "max_image_size");
    CK_CONTAINS(check([](Config& c) { c.media_prefix = ""; }), "media_prefix");
    CK_CONTAINS(check([](Config& c) { c.media_prefix = "/abs/"; }), "media_prefix");
    CK_CONTAINS(check([](Config& c) { c.public_base_url = ""; }), "public_base_url");
    CK_CONTAINS(check([](Config& c) { c.s3_bucket = ""; }), "s3_bucket");
    CK_CONTAINS(check([](Config& c) { c.reap_backoff_base = 100; c.reap_backoff_max = 10; }), "reap_backoff_base");
    CK_CONTAINS(check([](Config& c) { c.listen = ""; }), "listen");
    CK_CONTAINS(check([](Config& c) { c.decode_memory_limit = c.max_decode_memory - 1; }), "decode_memory_limit");
}
END_TEST

// --- the shipped example ------------------------------------------------------------------

START_TEST(example_configuration_loads) {
    std::string path = t::source_path("docs/talentd.conf.example");
    ck_assert_msg(!path.empty(), "docs/talentd.conf.example not found");
    t::TempDir creds("talentd-creds");
    t::write_file(creds.file("jwt_secret"), "django-signing-key");
    t::write_file(creds.file("s3_secret_key"), "spaces-secret");
    std::string error;
    auto c = load(path, {{"CREDENTIALS_DIRECTORY", creds.path()}}, &error);
    ck_assert_msg(c.has_value(), "%s", error.c_str());
    CK_STR_EQ(c->jwt_secret, "django-signing-key");
    CK_STR_EQ(c->s3_secret_key, "spaces-secret");
    CK_STR_EQ(c->s3_protocol, "http");
    CK_STR_EQ(c->s3_endpoint, "127.0.0.1:8081");  // nginx/talentd-egress.conf's listen
    ck_assert(!c->demo_login);
}
END_TEST

// Every key appears, and each commented "#key = value" is the real default.
START_TEST(example_configuration_documents_defaults) {
    std::string text = t::read_file(t::source_path("docs/talentd.conf.example"));
    ck_assert(!text.empty());
    std::istringstream in(text);
    std::string line, defaults;
    std::map<std::string, int> seen;
    while (std::getline(in, line)) {
        std::string body = line[0] == '#' ? line.substr(1) : line;
        size_t eq = body.find(" =");
        if (eq == std::string::npos || eq == 0 || body.find(' ') != eq) continue;
        std::string key = body.substr(0, eq);
        bool known = false;
        for (const auto& k : kAllKeys) known = known || k == key;
        if (!known) continue;
        ++seen[key];
        if (line[0] == '#') defaults += body + "\n";
    }
    for (const auto& k : kAllKeys) ck_assert_msg(seen[k] == 1, "key %s appears %d times", k.c_str(), seen[k]);
    Config documented;
    ConfigError e;
    ck_assert_msg(talentd::apply_config_text(documented, defaults, "example", &e), "%s", e.message.c_str());
    CK_STR_EQ(describe(documented), describe(Config{}));
}
END_TEST

// --- the database keys --------------------------------------------------------------------

START_TEST(database_kinds) {
    ck_assert(talentd::database_is_postgresql("postgresql://talentd@db/site?sslmode=verify-full"));
    ck_assert(talentd::database_is_postgresql("postgres://db/site"));
    ck_assert(talentd::database_is_postgresql("host=/run/postgresql dbname=site"));
    ck_assert(talentd::database_is_postgresql("service = site"));
    ck_assert(!talentd::database_is_postgresql("/var/lib/talentd/talentd.db"));
    ck_assert(!talentd::database_is_postgresql("talentd.db"));
    ck_assert(!talentd::database_is_postgresql("./a=b.db"));
    ck_assert(!talentd::database_is_postgresql(""));
}
END_TEST

START_TEST(database_passwords_never_shown) {
    using talentd::db::Database;
    CK_STR_EQ(Database::describe("postgresql://talentd:s3cret@db:5432/site?sslmode=require"),
              "postgresql://talentd:***@db:5432/site?sslmode=require");
    CK_STR_EQ(Database::describe("postgresql://db/site?password=s3cret&sslmode=require"),
              "postgresql://db/site?password=***&sslmode=require");
    CK_STR_EQ(Database::describe("postgresql://talentd@db/site"), "postgresql://talentd@db/site");
    CK_STR_EQ(Database::describe("host=db password=s3cret dbname=site"), "host=db password=*** dbname=site");
    CK_STR_EQ(Database::describe("host=db password = 'se cr\\'et' dbname=site"), "host=db password = *** dbname=site");
    CK_STR_EQ(Database::describe("/var/lib/talentd/talentd.db"), "/var/lib/talentd/talentd.db");
}
END_TEST

START_TEST(django_layout_rules) {
    Config c;
    CK_STR_EQ(parse("database_layout = django\ndatabase = postgresql://db/site\n", &c), "");
    c.jwt_secret = "k";
    ConfigError e;
    ck_assert_msg(talentd::validate_config(c, &e), "%s", e.message.c_str());
    c.database = "/var/lib/talentd/talentd.db";
    ck_assert(!talentd::validate_config(c, &e));
    ck_assert_msg(e.message.find("PostgreSQL") != std::string::npos, "%s", e.message.c_str());
    c.database = "postgresql://db/site";
    c.media_prefix = "pictures/";
    ck_assert(!talentd::validate_config(c, &e));
    ck_assert_msg(e.message.find("django_media_location") != std::string::npos, "%s", e.message.c_str());
    c.django_media_location = "pictures";
    ck_assert_msg(talentd::validate_config(c, &e), "%s", e.message.c_str());
    // Table names are identifiers, never SQL.
    ck_assert(!talentd::set_config_value(c, "django_user_table", "users; DROP TABLE x", &e));
    ck_assert(!talentd::set_config_value(c, "django_user_table", "Users", &e));
    ck_assert(talentd::set_config_value(c, "django_profile_table", "site.talent_profile", &e));
    ck_assert(!talentd::set_config_value(c, "database_layout", "rails", &e));
}
END_TEST

int main() {
    Suite* suite = suite_create("config");
    TCase* format = tcase_create("format");
    tcase_add_test(format, defaults);
    tcase_add_test(format, comments_blanks_spacing_and_quotes);
    tcase_add_test(format, later_line_wins);
    tcase_add_test(format, unknown_key_names_line);
    tcase_add_test(format, line_without_equals);
    tcase_add_test(format, bad_values);
    tcase_add_test(format, booleans);
    tcase_add_test(format, decimal_seconds);
    tcase_add_test(format, lists);
    tcase_add_test(format, set_config_value_single_key);
    tcase_add_test(format, database_kinds);
    tcase_add_test(format, database_passwords_never_shown);
    tcase_add_test(format, django_layout_rules);
    suite_add_tcase(suite, format);

    TCase* loading = tcase_create("load");
    tcase_add_test(loading, missing_file);
    tcase_add_test(loading, file_and_source_path);
    tcase_add_test(loading, file_error_names_path_and_line);
    tcase_add_test(loading, environment_overrides_file);
    tcase_add_test(loading, environment_bad_value_is_named);
    tcase_add_test(loading, environment_names_the_secret_file);
    tcase_add_test(loading, secret_from_credentials_directory_first);
    tcase_add_test(loading, absolute_secret_path_ignores_credentials);
    tcase_add_test(loading, secret_problems);
    tcase_add_test(loading, validation_rules);
    tcase_add_test(loading, example_configuration_loads);
    tcase_add_test(loading, example_configuration_documents_defaults);
    suite_add_tcase(suite, loading);

    SRunner* runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
