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
#include <memory>
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
t::Stack* g_hosts = nullptr;  // 2 hosts on PostgreSQL, 2 workers each, max_requests = 25
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

// Every worker of `stack` holds at least one FastCGI connection (a worker
// keeps every connection nginx pools, http/fcgi.h).
bool every_worker_keeps_one(const t::Stack& stack, std::string* state) {
    const auto inodes = accepted_inodes(stack.get("TALENTD_SOCKET"));
    const auto workers = stack.talentd_workers();
    bool all = workers.size() == static_cast<size_t>(kWorkers);
    state->clear();
    for (pid_t w : workers) {
        const int held = connections_held(w, inodes);
        *state += "worker " + std::to_string(w) + " holds " + std::to_string(held) + "; ";
        all = all && held >= 1;
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

// The outcome of load_with_reloads().
struct LoadOutcome {
    int ok = 0, bad = 0;
    std::string first_bad;
    long long reused = 0;
    int recycled = 0;           // "recycling after 25 requests" lines, all hosts
    int upstream_lines = 0;     // nginx error log lines naming the upstream
    int no_live = 0;            // of those, "no live upstreams" (every server tried or marked failed)
    int disabled = 0;           // "upstream server temporarily disabled" (max_fails reached)
    std::string update_on_kept; // a line about a request other than GET, if any
};

// `clients` clients (GETs, field updates, uploads) on users first_user ..
// first_user + 5 through the shipped nginx files, a SIGHUP to each of
// `masters` in turn every 150 answers (`reloads` in all), workers recycled
// every 25 requests (the stack's max_requests): every answer must be 200.
LoadOutcome load_with_reloads(const t::Stack& stack, const std::vector<pid_t>& masters, int clients, int reloads,
                              int64_t first_user) {
    std::vector<int64_t> users;
    for (int64_t id = first_user; id < first_user + 6; ++id) {
        std::string why;
        ck_assert_msg(stack.add_talent_user(id, &why), "user %lld: %s", static_cast<long long>(id), why.c_str());
        users.push_back(id);
    }
    t::LoadOptions o;
    o.clients = clients;
    o.users = users;
    for (const char* name : {"valid/jpeg/testorig.jpg", "valid/jpeg/grayscale.jpg", "valid/jpeg/progressive.jpg"})
        o.pictures.push_back(t::read_file(t::corpus_dir() + "/" + name));
    o.get = 60;
    o.fields = 25;
    o.upload = 15;
    o.clear = 0;
    o.invalid = 0;
    LoadOutcome out;
    const long long reused_before = status_value(stack, "reused conn");
    t::Load load(stack, o);
    const auto started = Clock::now();
    load.start();
    for (int reload = 0; reload < reloads; ++reload) {
        const size_t target = load.completed() + 150;
        t::wait_for([&] { return load.completed() >= target; }, 120);
        kill(masters[static_cast<size_t>(reload) % masters.size()], SIGHUP);
    }
    const size_t target = load.completed() + 150;
    t::wait_for([&] { return load.completed() >= target; }, 120);
    load.stop();
    const double took = seconds_since(started);
    out.reused = status_value(stack, "reused conn") - reused_before;
    for (const auto& r : load.records()) {
        if (r.status == 200) {
            ++out.ok;
            continue;
        }
        if (out.bad++ == 0)
            out.first_bad = std::string(t::load_kind_name(r.kind)) + " at " + std::to_string(r.start) + " s: " +
                            std::to_string(r.status) + " " + r.error;
    }
    std::string log = stack.talentd_log();
    if (!stack.get("TALENTD2_LOG").empty()) log += t::read_file(stack.get("TALENTD2_LOG"));
    for (size_t at = log.find("recycling after 25 requests"); at != std::string::npos;
         at = log.find("recycling after 25 requests", at + 1))
        ++out.recycled;
    const std::string nginx_log = t::read_file(stack.dir() + "/nginx/error.log");
    // A request sent on a kept connection a worker closed at that moment is
    // logged by nginx, then sent again on a new connection: only GETs
    // travel on kept connections, never an update.
    std::istringstream lines(nginx_log);
    for (std::string line; std::getline(lines, line);) {
        if (line.find("upstream") == std::string::npos) continue;
        ++out.upstream_lines;
        if (line.find("no live upstreams") != std::string::npos) ++out.no_live;
        if (line.find("temporarily disabled") != std::string::npos) ++out.disabled;
        if (line.find("request: \"GET ") == std::string::npos && out.update_on_kept.empty()) out.update_on_kept = line;
    }
    std::fprintf(stderr,
                 "load (%zu host(s), %d clients, %.1f s): %d ok, %d not 200, %lld on kept connections (first host), %d "
                 "recyclings, %d reloads; nginx error log: %d lines naming the upstream, %d \"no live upstreams\", "
                 "%d \"temporarily disabled\"\n",
                 masters.size(), clients, took, out.ok, out.bad, out.reused, out.recycled, reloads, out.upstream_lines,
                 out.no_live, out.disabled);
    if (out.upstream_lines > 0) std::fprintf(stderr, "%s\n", nginx_log.substr(0, 4000).c_str());
    ck_assert_msg(out.bad == 0, "%d answers not 200, the first: %s", out.bad, out.first_bad.c_str());
    ck_assert_msg(out.update_on_kept.empty(), "a request other than GET failed on an upstream connection: %s",
                  out.update_on_kept.c_str());
    ck_assert_msg(log.find("did not finish within drain_timeout") == std::string::npos,
                  "a worker was killed at drain_timeout");
    ck_assert_msg(out.reused > 0, "no request came on a kept connection");
    return out;
}

// 8 clients on 2 workers (GETs, field updates, uploads) through the shipped
// nginx files, three SIGHUPs, and workers recycled every 25 requests: every
// answer is 200, and connections were reused meanwhile.
START_TEST(load_with_reloads_and_recycling) {
    const std::vector<pid_t> first = g_load->talentd_workers();
    const LoadOutcome out = load_with_reloads(*g_load, {g_load->talentd_pid()}, 4 * kWorkers, 3, 900);
    ck_assert_msg(out.ok >= 600, "only %d requests", out.ok);
    ck_assert_msg(out.recycled >= 4, "only %d recyclings", out.recycled);
    std::vector<pid_t> now;
    ck_assert_msg(t::wait_for([&] { return (now = g_load->talentd_workers()).size() == kWorkers; }, 10),
                  "workers after the load: %zu", now.size());
    for (pid_t w : now) ck_assert_msg(std::find(first.begin(), first.end(), w) == first.end(), "a first worker survived");
}
END_TEST

// Two hosts behind one upstream (STACK_HOSTS=2, PostgreSQL), 2 workers
// each: 12 clients, four SIGHUPs (each master twice), recycling every 25
// requests.  nginx tries each server once per request: a kept connection
// closed under a request on each host in turn, or both servers marked
// failed (max_fails) after such resets, is a 502 ("no live upstreams") —
// what every GET got before workers stopped closing connections nginx
// pools (http/fcgi.h).
START_TEST(two_hosts_load_with_reloads_and_recycling) {
    const pid_t second = static_cast<pid_t>(std::atol(g_hosts->get("TALENTD2_PID").c_str()));
    ck_assert_msg(second > 0, "no second host in the stack");
    const LoadOutcome out = load_with_reloads(*g_hosts, {g_hosts->talentd_pid(), second}, 12, 4, 920);
    ck_assert_msg(out.no_live == 0 && out.disabled == 0, "nginx gave up on a server: %d \"no live upstreams\", %d "
                  "\"temporarily disabled\"", out.no_live, out.disabled);
    ck_assert_msg(out.ok >= 750, "only %d requests", out.ok);
    ck_assert_msg(out.recycled >= 6, "only %d recyclings", out.recycled);
}
END_TEST

// One of the two hosts stopped: nginx's connect to its socket fails at once
// and the request goes to the other — GETs (kept pool) and updates (a
// connection each) are still answered 200.
START_TEST(two_hosts_one_stopped) {
    const pid_t second = static_cast<pid_t>(std::atol(g_hosts->get("TALENTD2_PID").c_str()));
    ck_assert_msg(second > 0 && kill(second, SIGTERM) == 0, "could not stop the second host");
    ck_assert_msg(t::wait_for([&] { return !t::process_alive(second); }, 30), "the second host did not stop");
    std::string why;
    ck_assert_msg(g_hosts->add_talent_user(930, &why), "user 930: %s", why.c_str());
    const std::vector<std::string> auth = {"Authorization: Bearer " + g_hosts->token_for(930), "is-talent: true"};
    int ok = 0;
    const auto start = Clock::now();
    for (int i = 0; i < 40; ++i) {
        t::HttpResponse r = g_hosts->request("GET", "/api/profile/talent/", "", auth);
        ck_assert_msg(r.status == 200, "GET %d with one host stopped: %ld %s", i, r.status, r.error.c_str());
        ++ok;
    }
    const double took = seconds_since(start);
    std::vector<long> statuses(8);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < statuses.size(); ++i)
        threads.emplace_back([&, i] { statuses[i] = g_hosts->request("GET", "/healthz").status; });
    for (auto& th : threads) th.join();
    for (long s : statuses) ck_assert_msg(s == 200, "healthz at once with one host stopped: %ld", s);
    std::vector<std::string> json = auth;
    json.push_back("Content-Type: application/json");
    for (int i = 0; i < 4; ++i) {
        t::HttpResponse r = g_hosts->request("PATCH", "/api/profile/talent/", "{\"city\":\"Stopped" +
                                             std::to_string(i) + "\"}", json);
        ck_assert_msg(r.status == 200, "update %d with one host stopped: %ld %s", i, r.status, r.body.c_str());
    }
    const std::string nginx_log = t::read_file(g_hosts->dir() + "/nginx/error.log");
    int refused = 0;
    for (size_t at = nginx_log.find("talentd2.sock failed"); at != std::string::npos;
         at = nginx_log.find("talentd2.sock failed", at + 1))
        ++refused;
    std::fprintf(stderr, "one host stopped: %d GETs 200 in %.3f s, 8 healthz and 4 updates 200; nginx logged %d "
                 "failed connects to it\n", ok, took, refused);
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
    // Two hosts need PostgreSQL: run in the PostgreSQL pass of make check
    // (STACK_DATABASE=postgresql), or with TALENTD_KEEPCONN_HOSTS=1.
    const char* database = std::getenv("STACK_DATABASE");
    const char* hosts_wanted = std::getenv("TALENTD_KEEPCONN_HOSTS");
    std::unique_ptr<t::Stack> hosts_stack;
    if ((database && std::string(database) == "postgresql") || (hosts_wanted && std::string(hosts_wanted) == "1")) {
        hosts_stack = t::Stack::start({{"STACK_REAP_INTERVAL", "0"}, {"STACK_FASTCGI_KEEP_CONN", "on"},
                                       {"STACK_HOSTS", "2"}, {"STACK_DATABASE", "postgresql"},
                                       {"STACK_DB_LAYOUT", "django"}, {"STACK_WORKERS", std::to_string(kWorkers)},
                                       {"STACK_EXTRA_CONF", "max_requests = 25\nstore_concurrency = 2"}},
                                      &why);
        if (!hosts_stack) {
            std::fprintf(stderr, "test_keepconn: two hosts: %s\n", why.c_str());
            return 1;
        }
    } else {
        std::fprintf(stderr, "test_keepconn: the two-host cases run on PostgreSQL only (STACK_DATABASE=postgresql, "
                     "as in make check's second pass, or TALENTD_KEEPCONN_HOSTS=1)\n");
    }
    g_load = load_stack.get();
    g_idle = idle_stack.get();
    g_hosts = hosts_stack.get();
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
    if (g_hosts) {
        TCase* hosts = tcase_create("hosts");
        tcase_set_timeout(hosts, 600);
        tcase_add_test(hosts, two_hosts_load_with_reloads_and_recycling);
        tcase_add_test(hosts, two_hosts_one_stopped);
        suite_add_tcase(suite, hosts);
    }

    SRunner* runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
