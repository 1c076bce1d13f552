// talentd — the talent profile FastCGI daemon.  See talentd(8).
#include <getopt.h>
#include <malloc.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "api/operator_api.h"
#include "api/profile_api.h"
#include "cleanup/pictures.h"
#include "core/config.h"
#include "core/log.h"
#include "daemon/listener.h"
#include "daemon/master.h"
#include "daemon/scoreboard.h"
#include "daemon/worker.h"
#include "db/database.h"
#include "image/decoder_process.h"
#include "image/sandbox.h"
#include "storage/egress_check.h"
#include "storage/store.h"
#include "storage/store_gate.h"

using namespace talentd;

namespace {

// TALENTD_VERSION comes from the file VERSION, through the Makefile: the one
// place the version is written (debian/changelog is checked against it).
#ifndef TALENTD_VERSION
#error "TALENTD_VERSION is not defined: build with make (it passes -DTALENTD_VERSION from VERSION)"
#endif
constexpr const char* kVersion = "talentd " TALENTD_VERSION;

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: talentd [-c PATH] [-t] [-h] [-V]\n"
                 "\n"
                 "The talent profile service: a master that pre-forks FastCGI workers\n"
                 "behind nginx.  Serves /api/profile/talent/ and /healthz, and for operators\n"
                 "(nginx's operator server only) /status and /metrics.\n"
                 "\n"
                 "  -c, --config PATH  configuration file (default %s);\n"
                 "                     every key may be overridden by TALENTD_<KEY>\n"
                 "  -t, --test         check the configuration, the database schema and, with\n"
                 "                     s3_egress_config, the egress proxy's timeouts; then exit\n"
                 "  -h, --help         this text\n"
                 "  -V, --version      the version\n"
                 "\n"
                 "Signals: SIGHUP reloads (new workers, old ones finish their request),\n"
                 "SIGTERM/SIGINT drain and stop.  See talentd(8) and talentd.conf(5).\n",
                 kDefaultConfigPath);
}

bool load(const std::string& path, Config* config, std::string* why) {
    ConfigError error;
    auto loaded = load_config(path, process_environment(), &error);
    if (!loaded) {
        *why = error.message;
        return false;
    }
    *config = std::move(*loaded);
    return true;
}

// Opens the database and checks its schema.  A PostgreSQL server that is
// down is no reason to stop: requests get 503 until it is back, and every
// connection is made lazily (and remade) by the backend.
std::unique_ptr<db::Database> open_database(const Config& config) {
    std::string why;
    auto db = db::Database::open(config, &why);
    if (!db) {
        LOG_ERROR("%s", why.c_str());
        return nullptr;
    }
    int version = db->schema_version();
    if (version < 0 && db->failure() == db::Failure::Unavailable) {
        LOG_WARN("database %s unreachable: requests get 503 until it answers",
                 db::Database::describe(config.database).c_str());
        return db;
    }
    if (version != db->expected_schema_version()) {
        LOG_ERROR("database %s has schema version %d, this talentd needs %d: run `talentctl init`",
                  db::Database::describe(config.database).c_str(), version, db->expected_schema_version());
        return nullptr;
    }
    return db;
}

// A last line of defence under the decoders' own bounds: an allocation a
// crafted image makes a codec library attempt beyond this limit fails (and
// the picture is refused) instead of taking the machine's memory.
// AddressSanitizer reserves terabytes of shadow memory, so sanitizer builds
// skip it.
void limit_worker_memory(const Config& config) {
#if defined(__SANITIZE_ADDRESS__)
    (void)config;
#else
    if (config.worker_memory_limit <= 0) return;
    rlimit limit{static_cast<rlim_t>(config.worker_memory_limit), static_cast<rlim_t>(config.worker_memory_limit)};
    if (setrlimit(RLIMIT_DATA, &limit) != 0) LOG_WARN("setrlimit(RLIMIT_DATA): %s", std::strerror(errno));
#endif
}

image::SandboxSettings sandbox_settings(const Config& config) {
    image::SandboxSettings s;
    s.cpu_limit = config.decode_cpu_limit > 0 ? config.decode_cpu_limit : 3600;  // 0: no limit
    s.memory_limit = config.decode_memory_limit;
    s.test_hooks = config.test_decoder_hooks;
    s.max_jobs = config.decoder_max_jobs;
    return s;
}

// Start-up (and -t): decoding in a sandbox must work here, or be switched off.
bool check_sandbox(const Config& config) {
    if (!config.decode_sandbox) {
        LOG_WARN("decode_sandbox is off: the image codecs run inside the workers, which hold the secrets "
                 "and the connections (see SECURITY in talentd(8))");
        return true;
    }
    std::string why;
    if (!image::probe_sandbox(image::default_decoder_program(), sandbox_settings(config), &why)) {
        LOG_ERROR("decoder sandbox: %s (decode_sandbox = off runs the codecs without it; see talentd(8))",
                  why.c_str());
        return false;
    }
    return true;
}

// What a child process opens after fork: its own database connection and
// its own libs3 state.
struct ChildServices {
    std::unique_ptr<db::Database> db;
    std::unique_ptr<storage::Store> store;
    ~ChildServices() {
        if (store) storage::shutdown_process();
    }
};

bool open_child_services(const Config& config, ChildServices* services, trace::Recorder* recorder) {
    services->db = open_database(config);
    if (!services->db) return false;
    storage::StoreSettings settings = storage::store_settings_from(config);
    std::string why;
    if (!storage::initialize_process(settings, &why)) {
        LOG_ERROR("storage: %s", why.c_str());
        return false;
    }
    services->store = std::make_unique<storage::Store>(settings);
    services->store->set_recorder(recorder);
    return true;
}

// Fork first, then open: everything below runs in the worker process.
int worker_main(const Config& config, int listen_fd, storage::StoreGate* gate, daemon::Scoreboard& board) {
    log::configure(config.log_level, "talentd");
    limit_worker_memory(config);
    // Upload bodies and decoder buffers (megabytes) get their own mappings,
    // returned to the system when freed, so an idle worker shrinks back.
    // These calls override GLIBC_TUNABLES' glibc.malloc.mmap_threshold and
    // trim_threshold (why raising those changed nothing: issue 17).  Reuse
    // across uploads is explicit instead: the worker keeps its upload
    // buffers between requests and frees them when idle (api::ProfileApi's
    // body_ and strip_buffer_, daemon::kIdleReleaseMs).
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    // The zygote first, while this process has opened nothing: it is a fresh
    // execve anyway, but it then inherits no descriptor even by mistake.
    std::unique_ptr<image::DecoderSandbox> sandbox;
    if (config.decode_sandbox) {
        std::string why;
        sandbox = image::DecoderSandbox::start(image::default_decoder_program(), sandbox_settings(config), &why);
        if (!sandbox) {
            LOG_ERROR("decoder sandbox: %s", why.c_str());
            return 2;
        }
    }
    ChildServices services;
    if (!open_child_services(config, &services, &board)) return 2;
    api::ProfileApi api(config, *services.db, *services.store, gate, board, sandbox.get());
    api::OperatorApi pages(config, *services.db, board, listen_fd, api, gate);
    return daemon::run_worker(config, listen_fd, pages, &board);
}

int reaper_main(const Config& config, daemon::Scoreboard& board) {
    log::configure(config.log_level, "talentd-reaper");
    ChildServices services;
    if (!open_child_services(config, &services, &board)) {
        board.reaper_pass(false, 0, 0, 0);
        return 2;
    }
    cleanup::ReapReport report;
    std::string why;
    if (!cleanup::reap(config, *services.db, *services.store, static_cast<int64_t>(::time(nullptr)), &report,
                       &why)) {
        board.reaper_pass(false, report.removed, report.failed, report.claimed_pending);
        board.db_error();
        LOG_ERROR("reaper: %s", why.c_str());
        return 1;
    }
    board.reaper_pass(true, report.removed, report.failed, report.claimed_pending);
    if (report.removed || report.failed || report.claimed_pending || report.dropped_referenced)
        LOG_INFO("reaper: removed %d, failed %d, abandoned uploads %d, stale entries %d", report.removed,
                 report.failed, report.claimed_pending, report.dropped_referenced);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // A worker's decoder zygote (image/decoder_process.h): nothing else runs.
    if (argc == 2 && std::strcmp(argv[1], image::kZygoteArgument) == 0)
        return image::run_decoder_zygote(image::kZygoteFd);
    std::string config_path = kDefaultConfigPath;
    bool test_only = false;
    static const option options[] = {{"config", required_argument, nullptr, 'c'},
                                     {"test", no_argument, nullptr, 't'},
                                     {"help", no_argument, nullptr, 'h'},
                                     {"version", no_argument, nullptr, 'V'},
                                     {nullptr, 0, nullptr, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:thV", options, nullptr)) != -1) {
        switch (opt) {
            case 'c': config_path = optarg; break;
            case 't': test_only = true; break;
            case 'h': usage(stdout); return 0;
            case 'V': std::puts(kVersion); return 0;
            default: usage(stderr); return 64;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 64;
    }

    Config config;
    std::string why;
    log::configure("info", "talentd");
    if (!load(config_path, &config, &why)) {
        LOG_ERROR("configuration: %s", why.c_str());
        return 78;
    }
    log::configure(config.log_level, "talentd");
    const bool egress_checked = !config.s3_egress_config.empty();
    if (egress_checked && !storage::check_egress_file(config.s3_egress_config, config.s3_timeout, &why)) {
        if (test_only) {
            LOG_ERROR("configuration: %s", why.c_str());
            return 78;
        }
        LOG_WARN("%s", why.c_str());
    }
    if (config.demo_login)
        LOG_WARN("demo_login is on: /demo/login signs any browser in as any user (demonstrations only, never in "
                 "production)");
    if (test_only) {
        auto db = open_database(config);
        if (!db) return 1;
        if (!check_sandbox(config)) return 1;
        std::printf("talentd: configuration %s ok\n", config_path.c_str());
        return 0;
    }

    int listen_fd = daemon::open_listener(config.listen, config.listen_backlog, config.socket_mode, &why);
    if (listen_fd < 0) {
        LOG_ERROR("%s", why.c_str());
        return 1;
    }
    // Fail at start, not in every worker, when the database is missing or old
    // or the decoder sandbox cannot be set up.
    if (!open_database(config)) return 1;
    if (!check_sandbox(config)) return 1;

    // The bulkhead and breaker every worker shares: mapped before the first fork.
    auto gate = storage::StoreGate::create(&why);
    if (!gate) {
        LOG_ERROR("%s", why.c_str());
        return 1;
    }
    // The scoreboard, also before the first fork: every child shares it.
    auto board = daemon::Scoreboard::create(&why);
    if (!board) {
        LOG_ERROR("%s", why.c_str());
        return 1;
    }
    daemon::Scoreboard* shared = board.get();
    daemon::MasterHooks hooks;
    hooks.worker = [&gate, shared](const Config& c, int fd) { return worker_main(c, fd, gate.get(), *shared); };
    hooks.worker_exited = [&gate](pid_t pid) { gate->release_process(pid); };
    hooks.reaper = [shared](const Config& c) { return reaper_main(c, *shared); };
    hooks.scoreboard = shared;
    hooks.reload = [config_path, &gate](Config* fresh, std::string* reason) {
        if (!load(config_path, fresh, reason)) return false;
        gate->next_generation();   // the new workers count in the other half of the bulkhead
        return true;
    };
    int status = daemon::run_master(config, listen_fd, hooks);
    std::string path;
    if (daemon::listener_is_unix_path(config.listen, &path)) unlink(path.c_str());
    return status;
}
