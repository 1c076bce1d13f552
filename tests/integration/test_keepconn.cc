// FastCGI connection reuse (issue 17): nginx `fastcgi_keep_conn on` with an
// upstream keepalive pool for GET/HEAD/OPTIONS (a new connection for the
// rest), served by pre-forked workers that each keep at most one connection
// and never let it hold them (src/http/fcgi.h, src/daemon/worker.h).
//
//   * reuse: requests through the shipped nginx files do come on kept
//     connections (the status page's "reused conn");
//   * starvation: with every worker holding an idle kept connection of one
//     nginx pool, a request nginx sends on a new connection (another pool:
//     its cache is empty) is still answered at once — a worker waiting on
//     its kept connection alone would leave it in the backlog until nginx's
//     read timeout;
//   * a reload with every worker idle on a kept connection: the old workers
//     go at once, none waits for drain_timeout;
//   * load: 4 clients per worker (GETs, field updates, uploads), three
//     reloads and recycling every 25 requests during the run: every answer
//     200, and no update ever failed on an upstream connection (only GETs
//     ride kept connections; nginx retries those).
//
// Stacks are started by main() before the tests fork (see test_daemon.cc).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/load.h"
#include "../support/nginx_proc.h"
#include "../support/payload.h"
#include "../support/stack.h"
#include "../support/temp_dir.h"
#include "../support/timing.h"

// Last: check.h defines a fail() macro that breaks the standard headers.
#include <check.h>

namespace t = talentd::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kWorkers = 2;

t::Stack* g_load = nullptr;   // 2 workers, max_requests = 25: the load test
t::Stack* g_idle = nullptr;   // 2 workers: reuse, starvation, reload when idle
struct TwoPools;
TwoPools* g_pools = nullptr;  // the test's own nginx in front of g_idle

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// The inodes of the server ends of connections to the unix socket `path`:
// an accepted socket carries its listening socket's path in /proc/net/unix,
// in state 03 (connected); the listening socket itself is in state 01.
std::set<std::string> accepted_inodes(const std::string& path) {
    std::set<std::string> out;
    std::istringstream in(t::read_file("/proc/net/unix"));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string num, refs, proto, flags, type, state, inode, name;
        if (!(fields >> num >> refs >> proto >> flags >> type >> state >> inode)) continue;
        fields >> name;
        if (name == path && state == "03") out.insert(inode);
    }
    return out;
}

// How many FastCGI connections `pid` holds open.
int connections_held(pid_t pid, const std::set<std::string>& inodes) {
    int n = 0;
    std::error_code ec;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code lec;
        std::string link = std::filesystem::read_symlink(fd.path(), lec).string();
        if (link.rfind("socket:[", 0) != 0) continue;
        if (inodes.count(link.substr(8, link.size() - 9))) ++n;
    }
    return n;
}

// Every worker of `stack` holds exactly one FastCGI connection.
bool every_worker_keeps_one(const t::Stack& stack, std::string* state) {
    const auto inodes = accepted_inodes(stack.get("TALENTD_SOCKET"));
    const auto workers = stack.talentd_workers();
    bool all = workers.size() == static_cast<size_t>(kWorkers);
    state->clear();
    for (pid_t w : workers) {
        const int held = connections_held(w, inodes);
        *state += "worker " + std::to_string(w) + " holds " + std::to_string(held) + "; ";
        all = all && held == 1;
    }
    return all;
}

// `n` GETs of `url` at once; the statuses.
std::vector<long> burst(const std::string& url, int n, long timeout_seconds) {
    std::vector<long> statuses(static_cast<size_t>(n));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&, i] { statuses[static_cast<size_t>(i)] = t::http_request("GET", url, "", {}, timeout_seconds).status; });
    for (auto& th : threads) th.join();
    return statuses;
}

// A value of the plain-text status page ("reused conn:  12"); -1 if absent.
long long status_value(const t::Stack& stack, const std::string& name) {
    t::HttpResponse r = stack.request("GET", stack.get("OPS_URL") + "/status", "", {}, 30);
    if (r.status != 200) return -1;
    const size_t at = r.body.find(name + ":");
    if (at == std::string::npos) return -1;
    return std::atoll(r.body.c_str() + at + name.size() + 1);
}

// An nginx of the test's own in front of g_idle's socket: two servers, each
// passing /healthz to its own upstream pool with fastcgi_keep_conn on, so
// that one pool's idle connections can fill the workers while the other
// pool (its cache empty) must open a new connection.
struct TwoPools {
    t::NginxProc nginx;
    std::vector<int> ports;
    std::string url(int pool) const { return "http://127.0.0.1:" + std::to_string(ports[pool]) + "/healthz"; }
};

bool start_two_pools(TwoPools* p, const std::string& socket, std::string* error) {
    return p->nginx.start_on_ports(
        2,
        [&](const std::vector<int>& ports) {
            std::string conf;
            for (int i = 0; i < 2; ++i) {
                const std::string pool = "pool" + std::to_string(i);
                conf += "upstream " + pool + " {\n    server unix:" + socket +
                        ";\n    keepalive 8;\n    keepalive_timeout 60s;\n}\n";
                conf += "server {\n    listen 127.0.0.1:" + std::to_string(ports[static_cast<size_t>(i)]) +
                        ";\n    location = /healthz {\n        fastcgi_pass " + pool +
                        ";\n        include /etc/nginx/fastcgi_params;\n        fastcgi_keep_conn on;\n"
                        "        fastcgi_read_timeout 60s;\n    }\n}\n";
            }
            return conf;
        },
        &p->ports, error);
}

// Fills every worker of g_idle with an idle kept connection of pool 0:
// bursts of as many requests as workers until each holds one.
void fill_workers(const TwoPools& p) {
    std::string state;
    const bool filled = t::wait_for(
        [&] {
            for (long s : burst(p.url(0), kWorkers, 30)) ck_assert_msg(s == 200, "filling: %ld", s);
            return every_worker_keeps_one(*g_idle, &state);
        },
        30);
    ck_assert_msg(filled, "the workers do not each keep a connection: %s", state.c_str());
}

}  // namespace

// Sequential requests through the shipped nginx files come on kept
// connections: "reused conn" grows with them.
START_TEST(shipped_nginx_files_reuse_connections) {
    const long long before = status_value(*g_idle, "reused conn");
    ck_assert_msg(before >= 0, "no \"reused conn\" on the status page");
    for (int i = 0; i < 20; ++i) {
        t::HttpResponse r = g_idle->request("GET", "/healthz");
        ck_assert_msg(r.status == 200, "request %d: %ld %s", i, r.status, r.error.c_str());
    }
    const long long after = status_value(*g_idle, "reused conn");
    std::fprintf(stderr, "reuse: %lld of 20 sequential requests on a kept connection\n", after - before);
    ck_assert_msg(after - before >= 15, "only %lld of 20 requests on a kept connection", after - before);
}
END_TEST

// Every worker idle on a kept connection of pool 0; a request through pool
// 1 (a new connection) is answered at once, and so are two at once.
START_TEST(idle_kept_connections_do_not_starve_new_ones) {
    const TwoPools& p = *g_pools;
    fill_workers(p);
    // The bound is for a request that a free worker takes at once; a
    // starved one waits for nginx's fastcgi_read_timeout (60 s).
    const double bound = t::scaled(5);
    const auto start = Clock::now();
    t::HttpResponse r = t::http_request("GET", p.url(1), "", {}, static_cast<long>(t::scaled(20)));
    const double took = seconds_since(start);
    std::string state;
    every_worker_keeps_one(*g_idle, &state);
    std::fprintf(stderr, "starvation: a new connection answered %ld in %.3f s (bound %.1f s); %s\n", r.status, took,
                 bound, state.c_str());
    ck_assert_msg(r.status == 200, "new connection with every worker keeping one: %ld %s (after %.1f s)", r.status,
                  r.error.c_str(), took);
    ck_assert_msg(took < bound, "new connection waited %.2f s with every worker keeping one", took);
    // Again with the workers full, and more new connections than workers.
    fill_workers(p);
    const auto start2 = Clock::now();
    for (long s : burst(p.url(1), 2 * kWorkers, static_cast<long>(t::scaled(20))))
        ck_assert_msg(s == 200, "one of %d new connections: %ld", 2 * kWorkers, s);
    ck_assert_msg(seconds_since(start2) < bound, "%d new connections took %.2f s", 2 * kWorkers,
                  seconds_since(start2));
}
END_TEST

// SIGHUP with every worker idle on a kept connection: the old workers close
// it and exit at once (not after drain_timeout), the new ones serve.
START_TEST(reload_with_idle_kept_connections) {
    const TwoPools& p = *g_pools;
    fill_workers(p);
    const std::vector<pid_t> old = g_idle->talentd_workers();
    const auto start = Clock::now();
    ck_assert_int_eq(kill(g_idle->talentd_pid(), SIGHUP), 0);
    const bool gone = t::wait_for(
        [&] {
            for (pid_t w : old)
                if (t::process_alive(w)) return false;
            return true;
        },
        10);
    std::fprintf(stderr, "reload with idle kept connections: old workers gone in %.3f s\n", seconds_since(start));
    ck_assert_msg(gone, "old workers idle on kept connections still alive after the reload");
    // Pool 0 still holds the old workers' connections, now closed: its
    // requests go on new ones.
    for (long s : burst(p.url(0), 2 * kWorkers, 30)) ck_assert_msg(s == 200, "after the reload: %ld", s);
    for (long s : burst(p.url(1), 2 * kWorkers, 30)) ck_assert_msg(s == 200, "after the reload: %ld", s);
    ck_assert_msg(g_idle->talentd_log().find("did not finish within drain_timeout") == std::string::npos,
                  "an idle worker was killed at drain_timeout");
}
END_TEST

// 8 clients on 2 workers (GETs, field updates, uploads) through the shipped
// nginx files, three SIGHUPs, and workers recycled every 25 requests: every
// answer is 200, and connections were reused meanwhile.
START_TEST(load_with_reloads_and_recycling) {
    std::vector<int64_t> users;
    for (int64_t id = 900; id < 906; ++id) {
        std::string why;
        ck_assert_msg(g_load->add_talent_user(id, &why), "user %lld: %s", static_cast<long long>(id), why.c_str());
        users.push_back(id);
    }
    t::LoadOptions o;
    o.clients = 4 * kWorkers;
    o.users = users;
    for (const char* name : {"valid/jpeg/testorig.jpg", "valid/jpeg/grayscale.jpg", "valid/jpeg/progressive.jpg"})
        o.pictures.push_back(t::read_file(t::corpus_dir() + "/" + name));
    o.get = 60;
    o.fields = 25;
    o.upload = 15;
    o.clear = 0;
    o.invalid = 0;
    const long long reused_before = status_value(*g_load, "reused conn");
    const pid_t master = g_load->talentd_pid();
    const std::vector<pid_t> first = g_load->talentd_workers();
    t::Load load(*g_load, o);
    load.start();
    for (int reload = 1; reload <= 3; ++reload) {
        const size_t target = load.completed() + 150;
        t::wait_for([&] { return load.completed() >= target; }, 120);
        kill(master, SIGHUP);
    }
    const size_t target = load.completed() + 150;
    t::wait_for([&] { return load.completed() >= target; }, 120);
    load.stop();
    const long long reused = status_value(*g_load, "reused conn") - reused_before;
    int ok = 0, bad = 0;
    std::string first_bad;
    for (const auto& r : load.records()) {
        if (r.status == 200) {
            ++ok;
            continue;
        }
        if (bad++ == 0)
            first_bad = std::string(t::load_kind_name(r.kind)) + " at " + std::to_string(r.start) + " s: " +
                        std::to_string(r.status) + " " + r.error;
    }
    const std::string log = g_load->talentd_log();
    int recycled = 0;
    for (size_t at = log.find("recycling after 25 requests"); at != std::string::npos;
         at = log.find("recycling after 25 requests", at + 1))
        ++recycled;
    const std::string nginx_log = t::read_file(g_load->dir() + "/nginx/error.log");
    // A request sent on a kept connection a worker closed at that moment
    // (a reload, a recycling) is logged by nginx, then sent again on a new
    // connection: only GETs travel on kept connections, never an update.
    int retried = 0;
    std::string update_on_kept;
    std::istringstream lines(nginx_log);
    for (std::string line; std::getline(lines, line);) {
        if (line.find("upstream") == std::string::npos) continue;
        ++retried;
        if (line.find("request: \"GET ") == std::string::npos && update_on_kept.empty()) update_on_kept = line;
    }
    std::fprintf(stderr,
                 "load: %d ok, %d not 200, %lld on kept connections, %d recyclings, 3 reloads; nginx error log: %d "
                 "lines naming the upstream\n",
                 ok, bad, reused, recycled, retried);
    if (retried > 0) std::fprintf(stderr, "%s\n", nginx_log.c_str());
    ck_assert_msg(bad == 0, "%d answers not 200, the first: %s", bad, first_bad.c_str());
    ck_assert_msg(update_on_kept.empty(), "a request other than GET failed on an upstream connection: %s",
                  update_on_kept.c_str());
    ck_assert_msg(ok >= 600, "only %d requests", ok);
    ck_assert_msg(recycled >= 4, "only %d recyclings", recycled);
    ck_assert_msg(reused > 0, "no request came on a kept connection");
    ck_assert_msg(log.find("did not finish within drain_timeout") == std::string::npos,
                  "a worker was killed at drain_timeout");
    std::vector<pid_t> now;
    ck_assert_msg(t::wait_for([&] { return (now = g_load->talentd_workers()).size() == kWorkers; }, 10),
                  "workers after the load: %zu", now.size());
    for (pid_t w : now) ck_assert_msg(std::find(first.begin(), first.end(), w) == first.end(), "a first worker survived");
}
END_TEST

int main() {
    std::string why;
    // No reaper: its child would count as a worker.
    auto load_stack = t::Stack::start({{"STACK_REAP_INTERVAL", "0"}, {"STACK_FASTCGI_KEEP_CONN", "on"},
                                       {"STACK_WORKERS", std::to_string(kWorkers)},
                                       {"STACK_EXTRA_CONF", "max_requests = 25\nstore_concurrency = 2"}},
                                      &why);
    if (!load_stack) {
        std::fprintf(stderr, "test_keepconn: %s\n", why.c_str());
        return 1;
    }
    auto idle_stack = t::Stack::start(
        {{"STACK_REAP_INTERVAL", "0"}, {"STACK_FASTCGI_KEEP_CONN", "on"}, {"STACK_WORKERS", std::to_string(kWorkers)},
         {"STACK_EXTRA_CONF", "max_requests = 0"}},
        &why);
    if (!idle_stack) {
        std::fprintf(stderr, "test_keepconn: %s\n", why.c_str());
        return 1;
    }
    g_load = load_stack.get();
    g_idle = idle_stack.get();
    // Started here, not in a test: a failing test exits without destructors.
    TwoPools pools;
    if (!start_two_pools(&pools, g_idle->get("TALENTD_SOCKET"), &why)) {
        std::fprintf(stderr, "test_keepconn: nginx: %s\n", why.c_str());
        return 1;
    }
    g_pools = &pools;

    Suite* suite = suite_create("keepconn");
    TCase* idle = tcase_create("idle");
    tcase_set_timeout(idle, 180);
    tcase_add_test(idle, shipped_nginx_files_reuse_connections);
    tcase_add_test(idle, idle_kept_connections_do_not_starve_new_ones);
    tcase_add_test(idle, reload_with_idle_kept_connections);
    suite_add_tcase(suite, idle);
    TCase* load = tcase_create("load");
    tcase_set_timeout(load, 600);
    tcase_add_test(load, load_with_reloads_and_recycling);
    suite_add_tcase(suite, load);

    SRunner* runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
