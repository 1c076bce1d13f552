// talentctl — talentd's administration tool.  See talentctl(8).
// It reuses talentd's modules: no query or rule is written twice.
#include <getopt.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "auth/jwt.h"
#include "cleanup/pictures.h"
#include "core/config.h"
#include "core/log.h"
#include "db/database.h"
#include "image/decoder_process.h"
#include "image/sandbox.h"
#include "http/fcgi_client.h"
#include "storage/egress_check.h"
#include "storage/store.h"

// TALENTD_VERSION: from the file VERSION, passed by the Makefile.
#ifndef TALENTD_VERSION
#error "TALENTD_VERSION is not defined: build with make (it passes -DTALENTD_VERSION from VERSION)"
#endif

using namespace talentd;

namespace {

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: talentctl [-c PATH] COMMAND [ARGS]\n"
                 "\n"
                 "  init                      create or migrate the database\n"
                 "  check                     configuration valid, database and storage reachable,\n"
                 "                            pictures decode in the sandbox (warns when decode_sandbox = off)\n"
                 "  user add --id N --email E [--first-name F] [--last-name L] [--talent] [--inactive]\n"
                 "  user set --id N [--email E] [--first-name F] [--last-name L]\n"
                 "           [--talent|--no-talent] [--active|--inactive]\n"
                 "  user list                 one line per user\n"
                 "                            (add, set and import refuse with database_layout = django)\n"
                 "  user import FILE          CSV: id,email,first_name,last_name,is_talent,is_active\n"
                 "                            (header row required; all rows or none)\n"
                 "  token --user N [--ttl S]  mint an access token (default ttl jwt_access_token_lifetime)\n"
                 "  reap                      one reaper pass now: retry removals, drop abandoned uploads\n"
                 "  journal                   list the storage journal: what waits and why\n"
                 "  audit                     bucket keys no profile references, referenced keys missing\n"
                 "  create-bucket             create s3_bucket (local and test stores)\n"
                 "  status [--full] [--json|--html|--metrics] [--socket ADDRESS]\n"
                 "                            talentd's status page (or metrics) from its socket;\n"
                 "                            exit 1 when talentd is not running\n"
                 "\n"
                 "  -c, --config PATH  configuration file (default %s)\n"
                 "  -h, --help         this text\n"
                 "  -V, --version      the version\n"
                 "Exit status: 0 ok, 1 failure, 64 usage, 78 configuration.  See talentctl(8).\n",
                 kDefaultConfigPath);
}

int die(const std::string& message, int status = 1) {
    std::fprintf(stderr, "talentctl: %s\n", message.c_str());
    return status;
}

// --- status -----------------------------------------------------------------

// Asks talentd itself, over its FastCGI socket, as nginx's operator location
// would: whoever may write to the socket may already send it anything.
int status_command(const Config& config, int argc, char** argv) {
    enum { kFull = 1, kJson, kHtml, kMetrics, kSocket };
    static const option options[] = {{"full", no_argument, nullptr, kFull},
                                     {"json", no_argument, nullptr, kJson},
                                     {"html", no_argument, nullptr, kHtml},
                                     {"metrics", no_argument, nullptr, kMetrics},
                                     {"socket", required_argument, nullptr, kSocket},
                                     {nullptr, 0, nullptr, 0}};
    bool full = false, metrics = false;
    std::string format, address = config.listen;
    // systemd socket activation: the path talentd.socket gives it.
    if (address == "systemd") address = "unix:/run/talentd/talentd.sock";
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, nullptr)) != -1) {
        switch (opt) {
            case kFull: full = true; break;
            case kJson: format = "json"; break;
            case kHtml: format = "html"; break;
            case kMetrics: metrics = true; break;
            case kSocket: address = optarg; break;
            default: return die("status: unknown option", 64);
        }
    }
    if (optind != argc) return die("status: unexpected argument", 64);
    std::string query = format;
    if (full) query += query.empty() ? "full" : "&full";
    const std::string path = metrics ? "/metrics" : "/status";
    std::vector<std::pair<std::string, std::string>> params = {
        {"GATEWAY_INTERFACE", "CGI/1.1"},
        {"REQUEST_METHOD", "GET"},
        {"SCRIPT_NAME", path},
        {"DOCUMENT_URI", path},
        {"REQUEST_URI", query.empty() ? path : path + "?" + query},
        {"QUERY_STRING", metrics ? "" : query},
        {"SERVER_PROTOCOL", "HTTP/1.1"},
        {"CONTENT_LENGTH", "0"},
        {"REMOTE_ADDR", "talentctl"},
        {"TALENTD_OPERATOR", "1"},
    };
    int status = 0;
    std::string body, why;
    if (!http::fcgi_get(address, params, 10, &status, &body, &why))
        return die("talentd is not running or does not answer (" + why + ")");
    std::fwrite(body.data(), 1, body.size(), stdout);
    if (status != 200) return die("talentd answered " + std::to_string(status));
    return 0;
}

std::unique_ptr<db::Database> open_db(const Config& config, bool require_current) {
    std::string why;
    auto db = db::Database::open(config, &why);
    if (!db) {
        die(why);
        return nullptr;
    }
    if (!require_current) return db;
    const int version = db->schema_version();
    if (version < 0) {
        db->ping(&why);
        die("database " + db::Database::describe(config.database) + " unreachable: " + why);
        return nullptr;
    }
    if (version != db->expected_schema_version()) {
        die("database " + db::Database::describe(config.database) + " is at schema version " +
            std::to_string(version) + ", expected " + std::to_string(db->expected_schema_version()) +
            ": run `talentctl init`");
        return nullptr;
    }
    return db;
}

// Django's layout: the site owns its users; talentd only reads them.
bool refuse_user_changes(const db::Database& db) {
    if (db.manages_users()) return false;
    die("users belong to the Django site in database_layout = django: create and change them in Django "
        "(its admin or manage.py); talentd serves them as soon as they exist");
    return true;
}

bool parse_id(const char* text, int64_t* id) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text, &end, 10);
    if (errno || !*text || *end || v <= 0) return false;
    *id = v;
    return true;
}

std::string format_time(int64_t t) {
    char buf[32];
    time_t tt = static_cast<time_t>(t);
    tm parts{};
    gmtime_r(&tt, &parts);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return buf;
}

// --- user -----------------------------------------------------------------

struct UserOptions {
    bool has_id = false, has_email = false, has_first = false, has_last = false;
    int talent = -1, active = -1;
    profile::User user;
};

bool parse_user_options(int argc, char** argv, UserOptions* o, std::string* why) {
    enum { kId = 1, kEmail, kFirst, kLast, kTalent, kNoTalent, kActive, kInactive };
    static const option options[] = {{"id", required_argument, nullptr, kId},
                                     {"email", required_argument, nullptr, kEmail},
                                     {"first-name", required_argument, nullptr, kFirst},
                                     {"last-name", required_argument, nullptr, kLast},
                                     {"talent", no_argument, nullptr, kTalent},
                                     {"no-talent", no_argument, nullptr, kNoTalent},
                                     {"active", no_argument, nullptr, kActive},
                                     {"inactive", no_argument, nullptr, kInactive},
                                     {nullptr, 0, nullptr, 0}};
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, nullptr)) != -1) {
        switch (opt) {
            case kId:
                if (!parse_id(optarg, &o->user.id)) return *why = "--id must be a positive integer", false;
                o->has_id = true;
                break;
            case kEmail: o->user.email = optarg, o->has_email = true; break;
            case kFirst: o->user.first_name = optarg, o->has_first = true; break;
            case kLast: o->user.last_name = optarg, o->has_last = true; break;
            case kTalent: o->talent = 1; break;
            case kNoTalent: o->talent = 0; break;
            case kActive: o->active = 1; break;
            case kInactive: o->active = 0; break;
            default: return *why = "unknown option", false;
        }
    }
    if (!o->has_id) return *why = "--id is required", false;
    return true;
}

// CSV with the header row id,email,first_name,last_name,is_talent,is_active;
// fields may be quoted with "" (RFC 4180, no newlines inside fields).
bool parse_csv_line(const std::string& line, std::vector<std::string>* fields) {
    fields->clear();
    std::string cur;
    bool quoted = false, was_quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cur.push_back('"'), ++i;
            else if (c == '"') quoted = false;
            else cur.push_back(c);
        } else if (c == '"' && cur.empty() && !was_quoted) {
            quoted = was_quoted = true;
        } else if (c == ',') {
            fields->push_back(cur), cur.clear(), was_quoted = false;
        } else {
            if (was_quoted) return false;
            cur.push_back(c);
        }
    }
    if (quoted) return false;
    fields->push_back(cur);
    return true;
}

int user_import(const Config& config, const char* path) {
    std::ifstream in(path);
    if (!in) return die(std::string("cannot read ") + path);
    std::string line;
    std::vector<std::string> f;
    int number = 0;
    std::vector<profile::User> users;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (number == 1) {
            if (line != "id,email,first_name,last_name,is_talent,is_active")
                return die(std::string(path) +
                           ":1: the header row must be id,email,first_name,last_name,is_talent,is_active");
            continue;
        }
        if (line.empty()) continue;
        auto bad = [&](const std::string& why) {
            return die(std::string(path) + ":" + std::to_string(number) + ": " + why + "; nothing imported");
        };
        if (!parse_csv_line(line, &f) || f.size() != 6) return bad("expected 6 comma-separated fields");
        profile::User u;
        if (!parse_id(f[0].c_str(), &u.id)) return bad("id must be a positive integer");
        if (f[1].find('@') == std::string::npos) return bad("email must contain @");
        u.email = f[1];
        u.first_name = f[2];
        u.last_name = f[3];
        if ((f[4] != "0" && f[4] != "1") || (f[5] != "0" && f[5] != "1")) return bad("flags must be 1 or 0");
        u.is_talent = f[4] == "1";
        u.is_active = f[5] == "1";
        users.push_back(std::move(u));
    }
    auto db = open_db(config, true);
    if (!db) return 1;
    if (refuse_user_changes(*db)) return 1;
    std::string why;
    if (!db->import_users(users, &why)) return die(std::string(path) + ": " + why + "; nothing imported");
    std::printf("imported %zu users\n", users.size());
    return 0;
}

int user_command(const Config& config, int argc, char** argv) {
    if (argc < 2) return usage(stderr), 64;
    std::string sub = argv[1];
    if (sub == "list") {
        auto db = open_db(config, true);
        if (!db) return 1;
        std::vector<db::Account> accounts;
        std::string why;
        if (!db->list_users(&accounts, &why)) return die(why);
        std::printf("%-8s %-32s %-20s %-20s %-6s %-6s %s\n", "ID", "EMAIL", "FIRST_NAME", "LAST_NAME", "TALENT",
                    "ACTIVE", "PICTURE");
        for (const auto& a : accounts)
            std::printf("%-8lld %-32s %-20s %-20s %-6s %-6s %s\n", static_cast<long long>(a.user.id),
                        a.user.email.c_str(), a.user.first_name.c_str(), a.user.last_name.c_str(),
                        a.user.is_talent ? "yes" : "no", a.user.is_active ? "yes" : "no",
                        a.profile && a.profile->picture_key ? a.profile->picture_key->c_str() : "-");
        return 0;
    }
    if (sub == "import") {
        if (argc != 3) return usage(stderr), 64;
        return user_import(config, argv[2]);
    }
    if (sub != "add" && sub != "set") return usage(stderr), 64;
    UserOptions o;
    std::string why;
    if (!parse_user_options(argc - 1, argv + 1, &o, &why)) return die(why, 64);
    auto db = open_db(config, true);
    if (!db) return 1;
    if (refuse_user_changes(*db)) return 1;
    if (sub == "add") {
        if (!o.has_email) return die("--email is required", 64);
        o.user.is_talent = o.talent == 1;
        o.user.is_active = o.active != 0;
        if (!db->add_user(o.user, &why)) return die(why);
        std::printf("user %lld added\n", static_cast<long long>(o.user.id));
        return 0;
    }
    auto current = db->load_account(o.user.id, &why);
    if (!current) return die(why.empty() ? "no user " + std::to_string(o.user.id) : why);
    profile::User u = current->user;
    if (o.has_email) u.email = o.user.email;
    if (o.has_first) u.first_name = o.user.first_name;
    if (o.has_last) u.last_name = o.user.last_name;
    if (o.talent >= 0) u.is_talent = o.talent == 1;
    if (o.active >= 0) u.is_active = o.active == 1;
    if (!db->update_user(u, &why)) return die(why);
    std::printf("user %lld updated\n", static_cast<long long>(u.id));
    return 0;
}

// --- token ------------------------------------------------------------------

int token_command(const Config& config, int argc, char** argv) {
    int64_t user_id = 0;
    long ttl = config.jwt_access_token_lifetime;
    static const option options[] = {{"user", required_argument, nullptr, 'u'},
                                     {"ttl", required_argument, nullptr, 't'},
                                     {nullptr, 0, nullptr, 0}};
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, nullptr)) != -1) {
        if (opt == 'u' && parse_id(optarg, &user_id)) continue;
        if (opt == 't') {
            char* end = nullptr;
            ttl = std::strtol(optarg, &end, 10);
            if (*end == '\0' && ttl > 0) continue;
        }
        return die("usage: talentctl token --user N [--ttl SECONDS]", 64);
    }
    if (user_id <= 0) return die("usage: talentctl token --user N [--ttl SECONDS]", 64);
    auth::JwtSettings settings = auth::jwt_settings_from(config);
    if (settings.signing_key.empty())
        return die("no signing key: set jwt_private_key_file for " + config.jwt_algorithm, 78);
    std::string why;
    auto token = auth::mint_access_token(user_id, settings, static_cast<int64_t>(::time(nullptr)),
                                         static_cast<int>(ttl), &why);
    if (!token) return die(why);
    std::printf("%s\n", token->c_str());
    return 0;
}

// --- storage ------------------------------------------------------------------

struct StoreSession {
    std::unique_ptr<storage::Store> store;
    ~StoreSession() {
        if (store) storage::shutdown_process();
    }
};

bool open_store(const Config& config, StoreSession* session) {
    storage::StoreSettings settings = storage::store_settings_from(config);
    std::string why;
    if (!storage::initialize_process(settings, &why)) return die("storage: " + why), false;
    session->store = std::make_unique<storage::Store>(settings);
    return true;
}

int reap_command(const Config& config) {
    auto db = open_db(config, true);
    if (!db) return 1;
    StoreSession s;
    if (!open_store(config, &s)) return 1;
    cleanup::ReapReport report;
    std::string why;
    if (!cleanup::reap(config, *db, *s.store, static_cast<int64_t>(::time(nullptr)), &report, &why))
        return die(why);
    std::printf("removed %d, retry later %d, abandoned uploads %d, stale entries dropped %d\n", report.removed,
                report.failed, report.claimed_pending, report.dropped_referenced);
    for (const auto& e : report.errors) std::printf("  failed: %s\n", e.c_str());
    return report.failed ? 1 : 0;
}

int journal_command(const Config& config) {
    auto db = open_db(config, true);
    if (!db) return 1;
    std::vector<db::JournalEntry> entries;
    std::string why;
    if (!db->journal_entries(&entries, &why)) return die(why);
    std::printf("%-8s %-8s %-20s %-8s %-20s %-60s %s\n", "STATE", "USER", "SINCE", "ATTEMPTS", "NEXT", "KEY",
                "LAST_ERROR");
    for (const auto& e : entries)
        std::printf("%-8s %-8lld %-20s %-8d %-20s %-60s %s\n", e.state.c_str(), static_cast<long long>(e.user_id),
                    format_time(e.created_at).c_str(), e.attempts,
                    e.state == "pending" ? ("after " + format_time(e.created_at + config.pending_grace)).c_str()
                                         : format_time(e.next_attempt_at).c_str(),
                    e.key.c_str(), e.last_error.empty() ? "-" : e.last_error.c_str());
    std::printf("%zu entries\n", entries.size());
    return 0;
}

int audit_command(const Config& config) {
    auto db = open_db(config, true);
    if (!db) return 1;
    StoreSession s;
    if (!open_store(config, &s)) return 1;
    cleanup::AuditReport report;
    std::string why;
    if (!cleanup::audit(config, *db, *s.store, &report, &why)) return die(why);
    for (const auto& k : report.unreferenced) std::printf("unreferenced %s\n", k.c_str());
    for (const auto& k : report.missing) std::printf("missing %s\n", k.c_str());
    std::printf("%zu keys in the bucket under %s, %zu referenced, %zu unreferenced, %zu missing\n",
                report.bucket_keys, config.media_prefix.c_str(), report.referenced_keys, report.unreferenced.size(),
                report.missing.size());
    return report.unreferenced.empty() && report.missing.empty() ? 0 : 1;
}

int check_command(const Config& config) {
    int failures = 0;
    std::printf("configuration: ok (%s)\n", config.source_path.empty() ? "defaults" : config.source_path.c_str());
    auto db = open_db(config, false);
    if (!db) {
        ++failures;
    } else {
        std::string why;
        int version = db->schema_version();
        if (!db->ping(&why)) {
            std::printf("database: FAILED %s\n", why.c_str());
            ++failures;
        } else if (version != db->expected_schema_version()) {
            std::printf("database: FAILED schema version %d, expected %d (run talentctl init)\n", version,
                        db->expected_schema_version());
            ++failures;
        } else {
            std::printf("database: ok (%s, %s layout, schema %d)\n",
                        db::Database::describe(config.database).c_str(), config.database_layout.c_str(), version);
        }
    }
    if (!config.decode_sandbox) {
        std::printf("decoder sandbox: WARNING decode_sandbox = off: the image codecs run inside the workers, "
                    "which hold the secrets and the connections\n");
    } else {
        image::SandboxSettings settings;
        settings.cpu_limit = config.decode_cpu_limit > 0 ? config.decode_cpu_limit : 3600;  // 0: no limit
        settings.memory_limit = config.decode_memory_limit;
        std::string why;
        if (image::probe_sandbox(image::default_decoder_program(), settings, &why)) {
            std::printf("decoder sandbox: ok (seccomp, decode_cpu_limit %g s, decode_memory_limit %lld bytes)\n",
                        config.decode_cpu_limit, static_cast<long long>(config.decode_memory_limit));
        } else {
            std::printf("decoder sandbox: FAILED %s\n", why.c_str());
            ++failures;
        }
    }
    StoreSession s;
    if (!open_store(config, &s)) {
        ++failures;
    } else {
        // A HEAD of a key that does not exist proves the store answers and
        // accepts our signature (404), without needing list permission.
        storage::ObjectInfo info;
        storage::Result r = s.store->head(config.media_prefix + ".talentctl-check", &info);
        if (r.ok() || r.outcome == storage::Outcome::NotFound) {
            std::printf("storage: ok (%s, bucket %s)\n", config.s3_endpoint.c_str(), config.s3_bucket.c_str());
        } else {
            std::printf("storage: FAILED %s (%s)\n", r.detail.c_str(), config.s3_endpoint.c_str());
            ++failures;
        }
    }
    // One deadline: the egress proxy must not answer before s3_timeout.
    if (config.s3_egress_config.empty()) {
        std::printf("egress proxy: not checked (s3_egress_config unset)\n");
    } else {
        std::string why;
        if (storage::check_egress_file(config.s3_egress_config, config.s3_timeout, &why)) {
            std::printf("egress proxy: ok (%s: its timeouts are longer than s3_timeout, %d s)\n",
                        config.s3_egress_config.c_str(), config.s3_timeout);
        } else {
            std::printf("egress proxy: FAILED %s\n", why.c_str());
            ++failures;
        }
    }
    return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    // `talentctl check` probes the decoder sandbox with this binary as its zygote.
    if (argc == 2 && std::strcmp(argv[1], image::kZygoteArgument) == 0)
        return image::run_decoder_zygote(image::kZygoteFd);
    std::string config_path = kDefaultConfigPath;
    // Global options come before the command; the command parses the rest.
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-c" || a == "--config") && i + 1 < argc) config_path = argv[++i];
        else if (a.rfind("--config=", 0) == 0) config_path = a.substr(9);
        else if (a == "-h" || a == "--help") return usage(stdout), 0;
        else if (a == "-V" || a == "--version") return std::puts("talentctl " TALENTD_VERSION), 0;
        else break;
    }
    if (i >= argc) return usage(stderr), 64;
    std::string command = argv[i];
    int sub_argc = argc - i;
    char** sub_argv = argv + i;

    log::configure("warn", "talentctl");
    ConfigError error;
    auto config = load_config(config_path, process_environment(), &error);
    if (!config) return die("configuration: " + error.message, 78);

    if (command == "init") {
        auto db = open_db(*config, false);
        if (!db) return 1;
        int applied = 0;
        std::string why;
        if (!db->migrate(&applied, &why)) return die(why);
        std::printf("database %s: schema version %d (%d migration%s applied)\n",
                    db::Database::describe(config->database).c_str(), db->schema_version(), applied,
                    applied == 1 ? "" : "s");
        return 0;
    }
    if (command == "check") return check_command(*config);
    if (command == "user") return user_command(*config, sub_argc, sub_argv);
    if (command == "token") return token_command(*config, sub_argc, sub_argv);
    if (command == "reap") return reap_command(*config);
    if (command == "journal") return journal_command(*config);
    if (command == "audit") return audit_command(*config);
    if (command == "status") return status_command(*config, sub_argc, sub_argv);
    if (command == "create-bucket") {
        StoreSession s;
        if (!open_store(*config, &s)) return 1;
        storage::Result r = s.store->create_bucket();
        if (!r.ok()) return die("create bucket " + config->s3_bucket + ": " + r.detail);
        std::printf("bucket %s ready\n", config->s3_bucket.c_str());
        return 0;
    }
    usage(stderr);
    return 64;
}
