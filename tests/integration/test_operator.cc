// What an operator sees, through the real stack (tests/stack: nginx with the
// shipped talentd.conf, its operator server and talentd-operator.conf,
// s3rver, talentd): the status page and the metrics under load, a request
// stuck on a frozen store, crashed, recycled and reloaded workers, the slow
// log, Prometheus's own parser (promtool), the public server's 404, and
// `talentctl status`.
//
// Two stacks are started by main() before the tests fork (a failing Check
// test exits without destructors): g_ops (2 workers, max_requests 40) and
// g_stuck (2 workers, slow_request_threshold 1), whose s3rver the stuck
// tests stop with SIGSTOP (by the pid the stack recorded) and always
// continue; main() continues it once more whatever happened.
#include <jansson.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../support/payload.h"
#include "../support/stack.h"
#include "../support/temp_dir.h"

// Last: check.h defines a fail() macro that breaks the standard headers.
#include <check.h>

namespace t = talentd::test;
using Clock = std::chrono::steady_clock;

namespace {

t::Stack* g_ops = nullptr;
t::Stack* g_stuck = nullptr;
constexpr const char* kProfile = "/api/profile/talent/";

bool wait_until(const std::function<bool()>& done, double seconds) {
    auto end = Clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
        if (done()) return true;
        if (Clock::now() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

struct JsonFree {
    void operator()(json_t* j) const { json_decref(j); }
};
using Json = std::unique_ptr<json_t, JsonFree>;

t::HttpResponse ops_get(const t::Stack& s, const std::string& path) {
    return s.request("GET", s.get("OPS_URL") + path, "", {}, 30);
}

// /status?json&full, parsed; aborts the test on anything else.
Json status_json(const t::Stack& s) {
    t::HttpResponse r = ops_get(s, "/status?json&full");
    ck_assert_msg(r.status == 200, "status page: %ld %s %s", r.status, r.error.c_str(), r.body.c_str());
    json_error_t error;
    Json j(json_loads(r.body.c_str(), 0, &error));
    ck_assert_msg(j != nullptr, "status JSON: %s in %s", error.text, r.body.c_str());
    return j;
}

long long num(json_t* o, const char* key) {
    json_t* v = json_object_get(o, key);
    ck_assert_msg(v && json_is_integer(v), "status JSON has no integer \"%s\"", key);
    return json_integer_value(v);
}

long long respawns(json_t* o, const char* cause) { return num(json_object_get(o, "respawns"), cause); }

long long sum_statuses(json_t* o) {
    long long n = 0;
    const char* key;
    json_t* v;
    json_object_foreach(json_object_get(o, "statuses"), key, v) n += json_integer_value(v);
    return n;
}

// The value of one sample line ("name{labels} value") of the metrics; -1 if absent.
double metric(const std::string& text, const std::string& series) {
    size_t pos = 0;
    while ((pos = text.find(series + " ", pos)) != std::string::npos) {
        if (pos == 0 || text[pos - 1] == '\n') return std::atof(text.c_str() + pos + series.size() + 1);
        pos += series.size();
    }
    return -1;
}

std::string metrics_text(const t::Stack& s) {
    t::HttpResponse r = ops_get(s, "/metrics");
    ck_assert_msg(r.status == 200, "metrics: %ld %s", r.status, r.error.c_str());
    std::string type = r.header("content-type");
    ck_assert_msg(type.rfind("text/plain; version=0.0.4", 0) == 0, "metrics content-type %s", type.c_str());
    return r.body;
}

std::vector<std::string> bearer(const t::Stack& s, int64_t user_id) {
    std::string token = s.token_for(user_id);
    ck_assert_msg(!token.empty(), "no token for user %lld", static_cast<long long>(user_id));
    return {"Authorization: Bearer " + token, "is-talent: true"};
}

t::HttpResponse upload(const t::Stack& s, int64_t user_id, const std::string& bytes) {
    auto mp = t::make_multipart({{"profile_picture", bytes, "photo.jpg", "image/jpeg"}});
    auto h = bearer(s, user_id);
    h.push_back("Content-Type: " + mp.content_type);
    return s.request("POST", std::string(kProfile) + "?partial=true", mp.body, h, 60);
}

std::string corpus(const std::string& relative) {
    std::string bytes = t::read_file(t::corpus_dir() + "/" + relative);
    if (bytes.empty()) ck_abort_msg("corpus file %s missing", relative.c_str());
    return bytes;
}

// The per-worker row of `pid` in a status JSON, or null.
json_t* row_of(json_t* status, pid_t pid) {
    size_t i;
    json_t* row;
    json_array_foreach(json_object_get(status, "processes"), i, row) if (num(row, "pid") == pid) return row;
    return nullptr;
}

// The first row whose step is `step`, or null.
json_t* row_in_step(json_t* status, const char* step) {
    size_t i;
    json_t* row;
    json_array_foreach(json_object_get(status, "processes"), i, row) {
        const char* s = json_string_value(json_object_get(row, "step"));
        if (s && std::string(s) == step) return row;
    }
    return nullptr;
}

pid_t s3rver_pid(const t::Stack& s) { return static_cast<pid_t>(std::atol(s.get("S3RVER_PID").c_str())); }

// Freezes the stack's s3rver for the life of this object.
class FrozenStore {
public:
    explicit FrozenStore(const t::Stack& s) : pid_(s3rver_pid(s)) {
        ck_assert_msg(pid_ > 0 && kill(pid_, SIGSTOP) == 0, "cannot stop s3rver %d", static_cast<int>(pid_));
    }
    ~FrozenStore() { thaw(); }
    void thaw() {
        if (pid_ > 0) kill(pid_, SIGCONT);
        pid_ = 0;
    }

private:
    pid_t pid_;
};

}  // namespace

// --- only for operators -----------------------------------------------------------

START_TEST(public_server_gives_404) {
    for (const char* path : {"/status", "/status?json&full", "/metrics", "/status?html"}) {
        t::HttpResponse r = g_ops->request("GET", path);
        ck_assert_msg(r.status == 404, "public GET %s: %ld %s", path, r.status, r.error.c_str());
        ck_assert_str_eq(r.body.c_str(), "{\"detail\":\"Not found.\"}");
    }
    // The operator server answers them, and nothing else.
    ck_assert_int_eq(ops_get(*g_ops, "/status").status, 200);
    ck_assert_int_eq(ops_get(*g_ops, "/metrics").status, 200);
    t::HttpResponse other = ops_get(*g_ops, "/healthz");
    ck_assert_msg(other.status == 404, "operator server GET /healthz: %ld", other.status);
    t::HttpResponse api = ops_get(*g_ops, kProfile);
    ck_assert_msg(api.status == 404, "operator server GET the API: %ld", api.status);
}
END_TEST

START_TEST(status_formats) {
    t::HttpResponse text = ops_get(*g_ops, "/status");
    ck_assert_int_eq(text.status, 200);
    for (const char* line : {"pool:", "start time:", "start since:", "accepted conn:", "listen queue:",
                             "max listen queue:", "idle processes:", "active processes:", "total processes:",
                             "max children reached:", "slow requests:", "respawns crash:", "respawns recycle:",
                             "respawns reload:"})
        ck_assert_msg(text.body.find(line) != std::string::npos, "no \"%s\" in %s", line, text.body.c_str());
    ck_assert_msg(text.body.find("*****") == std::string::npos, "rows without ?full");
    t::HttpResponse full = ops_get(*g_ops, "/status?full");
    ck_assert_msg(full.body.find("request path:") != std::string::npos, "no rows with ?full: %s", full.body.c_str());
    t::HttpResponse html = ops_get(*g_ops, "/status?html&full");
    ck_assert_msg(html.header("content-type").rfind("text/html", 0) == 0, "html content-type");
    ck_assert_msg(html.body.find("<table>") != std::string::npos, "html body: %s", html.body.c_str());
    Json j = status_json(*g_ops);
    ck_assert_int_eq(num(j.get(), "configured processes"), 2);
    ck_assert_msg(json_array_size(json_object_get(j.get(), "processes")) >= 1, "no process rows");
    // The listen queue of the unix socket, read from the kernel (sock_diag).
    ck_assert_msg(num(j.get(), "listen queue len") > 0, "listen queue len unknown");
}
END_TEST

// --- under load -------------------------------------------------------------------

// 8 clients against 2 workers (recycled every 40 requests): every request
// the clients made is in the counters, by route and status, although the
// workers that served them are gone; accepted = answered + in flight.
START_TEST(counters_add_up_under_load) {
    std::string why;
    ck_assert_msg(g_ops->add_talent_user(21, &why), "%s", why.c_str());
    const std::vector<std::string> auth = bearer(*g_ops, 21);
    const std::string before = metrics_text(*g_ops);
    Json status_before = status_json(*g_ops);

    constexpr int kThreads = 8, kEach = 60;
    std::map<std::string, int> sent;   // "route status" -> count
    std::mutex mu;
    std::atomic<bool> loading{true};
    std::vector<std::string> violations;
    std::thread poller([&] {
        while (loading.load()) {
            t::HttpResponse r = ops_get(*g_ops, "/status?json");
            json_error_t e;
            Json j(json_loads(r.body.c_str(), 0, &e));
            if (!j) continue;
            long long busy = json_integer_value(json_object_get(j.get(), "active processes"));
            long long total = json_integer_value(json_object_get(j.get(), "total processes"));
            long long configured = json_integer_value(json_object_get(j.get(), "configured processes"));
            if (busy < 1 || busy > total || total > configured) {
                std::lock_guard<std::mutex> lock(mu);
                violations.push_back(r.body);
            }
        }
    });
    std::vector<std::thread> clients;
    for (int th = 0; th < kThreads; ++th)
        clients.emplace_back([&, th] {
            for (int i = 0; i < kEach; ++i) {
                std::string key;
                t::HttpResponse r;
                switch ((th + i) % 4) {
                    case 0: r = g_ops->request("GET", "/healthz"), key = "healthz"; break;
                    case 1: r = g_ops->request("GET", kProfile, "", auth), key = "profile"; break;
                    case 2: r = g_ops->request("GET", kProfile), key = "profile"; break;
                    default: r = g_ops->request("GET", "/api/profile/talent"), key = "profile_redirect"; break;
                }
                std::lock_guard<std::mutex> lock(mu);
                ++sent[key + " " + std::to_string(r.status)];
            }
        });
    for (auto& c : clients) c.join();
    loading = false;
    poller.join();
    ck_assert_msg(violations.empty(), "%zu status pages with busy > total or total > workers, e.g. %s",
                  violations.size(), violations.empty() ? "" : violations[0].c_str());
    ck_assert_int_eq(sent["healthz 200"], kThreads * kEach / 4);
    ck_assert_int_eq(sent["profile 200"], kThreads * kEach / 4);
    ck_assert_int_eq(sent["profile 401"], kThreads * kEach / 4);
    ck_assert_int_eq(sent["profile_redirect 308"], kThreads * kEach / 4);

    const std::string after = metrics_text(*g_ops);
    for (const auto& [key, count] : sent) {
        std::string route = key.substr(0, key.find(' ')), code = key.substr(key.find(' ') + 1);
        std::string series =
            "talentd_http_requests_total{method=\"GET\",route=\"" + route + "\",status=\"" + code + "\"}";
        double was = std::max(0.0, metric(before, series)), now = metric(after, series);
        ck_assert_msg(now - was == count, "%s: %g more, the clients got %d", series.c_str(), now - was, count);
    }
    // accepted = answered + in flight (this very request).
    Json j = status_json(*g_ops);
    ck_assert_int_eq(num(j.get(), "accepted conn") - sum_statuses(j.get()) - num(j.get(), "aborted requests"),
                     num(j.get(), "active processes"));
    ck_assert_int_eq(num(j.get(), "active processes"), 1);
    // Every worker served at most 40: the counters outlived many of them.
    long long recycled = respawns(j.get(), "recycle") - respawns(status_before.get(), "recycle");
    ck_assert_msg(recycled >= kThreads * kEach / 40 - 2, "only %lld recycles", recycled);
    // 8 clients, 2 workers: some request found both busy.
    ck_assert_msg(num(j.get(), "max children reached") > num(status_before.get(), "max children reached"),
                  "max children reached did not move");
    ck_assert_msg(metric(after, "talentd_http_request_duration_seconds_count{route=\"healthz\"}") >=
                      kThreads * kEach / 4,
                  "no duration histogram for healthz");
}
END_TEST

// On g_stuck, whose workers are never recycled: a crash is not mistaken for
// a recycle (nor the other way round).
START_TEST(killed_worker_is_a_crash_respawn) {
    Json before = status_json(*g_stuck);
    std::vector<pid_t> workers;
    ck_assert_msg(wait_until([&] { return (workers = g_stuck->talentd_workers()).size() == 2; }, 10), "workers");
    const pid_t victim = workers[0];
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    Json after;
    bool seen = wait_until(
        [&] {
            after = status_json(*g_stuck);
            return respawns(after.get(), "crash") == respawns(before.get(), "crash") + 1 &&
                   num(after.get(), "total processes") == 2 && row_of(after.get(), victim) == nullptr;
        },
        15);
    ck_assert_msg(seen, "no crash respawn counted: %lld before, %lld after", respawns(before.get(), "crash"),
                  after ? respawns(after.get(), "crash") : -1);
    // It was idle: no request lost; and it was no recycle.
    ck_assert_int_eq(num(after.get(), "aborted requests"), num(before.get(), "aborted requests"));
    ck_assert_int_eq(respawns(after.get(), "recycle"), respawns(before.get(), "recycle"));
    const std::string m = metrics_text(*g_stuck);
    ck_assert_msg(metric(m, "talentd_worker_respawns_total{cause=\"crash\"}") == respawns(after.get(), "crash"),
                  "metrics disagree with the status page");
}
END_TEST

START_TEST(reload_counts_reload_respawns) {
    Json before = status_json(*g_ops);
    ck_assert_int_eq(kill(g_ops->talentd_pid(), SIGHUP), 0);
    bool seen = wait_until(
        [&] {
            Json j = status_json(*g_ops);
            return respawns(j.get(), "reload") == respawns(before.get(), "reload") + 2;
        },
        30);
    ck_assert_msg(seen, "no reload respawns counted");
}
END_TEST

// Prometheus's own parser and linter accept the metrics, with every family
// the issue lists present after an upload.
START_TEST(promtool_accepts_metrics) {
    std::string why;
    ck_assert_msg(g_ops->add_talent_user(22, &why), "%s", why.c_str());
    t::HttpResponse up = upload(*g_ops, 22, corpus("valid/jpeg/testorig.jpg"));
    ck_assert_msg(up.status == 200, "upload: %ld %s", up.status, up.body.c_str());
    const std::string m = metrics_text(*g_ops);
    t::TempDir dir("talentd-promtool");
    ck_assert(t::write_file(dir.file("metrics.txt"), m));
    std::string out;
    int rc = t::run_command({"/bin/sh", "-c", "promtool check metrics < \"$0\"", dir.file("metrics.txt")}, {}, &out);
    // Check's messages are capped at a few KiB: the metrics go to stderr.
    if (rc != 0) std::fprintf(stderr, "%s\n", m.c_str());
    ck_assert_msg(rc == 0, "promtool check metrics: %d %.1500s", rc, out.c_str());
    for (const char* series :
         {"talentd_http_requests_total{method=\"POST\",route=\"profile\",status=\"200\"}",
          "talentd_http_request_duration_seconds_bucket{route=\"profile\",le=\"+Inf\"}",
          "talentd_upload_size_bytes_count", "talentd_image_decode_duration_seconds_count{format=\"jpeg\"}",
          "talentd_store_request_duration_seconds_count{operation=\"put\"}",
          "talentd_store_requests_total{operation=\"put\",result=\"ok\"}", "talentd_storage_journal_rows{state=\"pending\"}",
          "talentd_storage_journal_rows{state=\"remove\"}",
          "talentd_storage_journal_oldest_age_seconds{state=\"pending\"}", "talentd_reaper_runs_total{result=\"ok\"}",
          "talentd_db_errors_total", "talentd_accepted_requests_total", "talentd_max_children_reached_total",
          "talentd_listen_queue_connections", "talentd_workers{state=\"busy\"}"})
        if (metric(m, series) < 0) {
            std::fprintf(stderr, "%s\n", m.c_str());
            ck_abort_msg("no %s in the metrics (above)", series);
        }
    ck_assert_msg(metric(m, "talentd_upload_size_bytes_count") >= 1, "upload not counted");
    // Issue 11's store gate, beside the rest: closed, the upload admitted.
    ck_assert_msg(metric(m, "talentd_store_breaker_state{state=\"closed\"}") == 1, "breaker state");
    ck_assert_msg(metric(m, "talentd_store_gate_admitted_total") >= 1, "gate admissions");
    ck_assert_msg(metric(m, "talentd_store_calls_in_flight") == 0, "store calls in flight");
    // Nothing secret: no token, no e-mail address.
    ck_assert_msg(m.find("@example.com") == std::string::npos, "an e-mail address in the metrics");
    ck_assert_msg(m.find("Bearer") == std::string::npos && m.find("eyJ") == std::string::npos, "a token");
}
END_TEST

START_TEST(talentctl_status) {
    std::string out;
    int rc = g_ops->talentctl({"status"}, &out);
    ck_assert_msg(rc == 0, "talentctl status: %d %s", rc, out.c_str());
    ck_assert_msg(out.find("accepted conn:") != std::string::npos, "%s", out.c_str());
    rc = g_ops->talentctl({"status", "--json", "--full"}, &out);
    ck_assert_msg(rc == 0, "talentctl status --json --full: %d %s", rc, out.c_str());
    json_error_t e;
    Json j(json_loads(out.c_str(), 0, &e));
    ck_assert_msg(j && json_array_size(json_object_get(j.get(), "processes")) >= 1, "%s", out.c_str());
    rc = g_ops->talentctl({"status", "--metrics"}, &out);
    ck_assert_msg(rc == 0 && out.find("talentd_accepted_requests_total") != std::string::npos, "%s", out.c_str());
    // Not running: a socket nobody listens on.
    t::TempDir dir("talentd-status");
    rc = g_ops->talentctl({"status", "--socket", "unix:" + dir.file("none.sock")}, &out);
    ck_assert_msg(rc != 0, "talentctl status with nothing listening exited 0: %s", out.c_str());
    ck_assert_msg(out.find("not running") != std::string::npos, "%s", out.c_str());
}
END_TEST

// --- a stuck request ----------------------------------------------------------------

// An upload whose PUT the store never answers (s3rver SIGSTOPped): the
// status page shows it in step "storing" with its age and user id, the
// master's slow log names it while it runs, and once the store answers the
// worker logs its steps with their times.
START_TEST(stuck_request_shows_its_step) {
    std::string why;
    ck_assert_msg(g_stuck->add_talent_user(31, &why), "%s", why.c_str());
    const std::vector<std::string> auth = bearer(*g_stuck, 31);
    const std::string jpeg = corpus("valid/jpeg/testorig.jpg");
    t::HttpResponse answer;
    std::thread client;
    {
        FrozenStore frozen(*g_stuck);
        client = std::thread([&] { answer = upload(*g_stuck, 31, jpeg); });
        Json j;
        json_t* row = nullptr;
        bool seen = wait_until(
            [&] {
                j = status_json(*g_stuck);
                row = row_in_step(j.get(), "storing");
                return row && json_real_value(json_object_get(row, "request duration")) >= 1.5;
            },
            6);
        ck_assert_msg(seen, "no request in step storing for 1.5 s");
        ck_assert_str_eq(json_string_value(json_object_get(row, "request method")), "POST");
        ck_assert_str_eq(json_string_value(json_object_get(row, "request path")), kProfile);
        ck_assert_int_eq(num(row, "user id"), 31);
        ck_assert_msg(json_real_value(json_object_get(row, "step duration")) > 0, "no step age");
        ck_assert_int_eq(num(j.get(), "active processes"), 2);
        // The text page says the same, without e-mail or token.
        t::HttpResponse text = ops_get(*g_stuck, "/status?full");
        ck_assert_msg(text.body.find("storing") != std::string::npos, "%s", text.body.c_str());
        ck_assert_msg(text.body.find("@example.com") == std::string::npos, "an e-mail on the status page");
        ck_assert_msg(text.body.find(auth[0].substr(auth[0].size() - 20)) == std::string::npos, "a token on the status page");
        // The master's slow log while it runs (it looks once a second).
        bool logged = wait_until(
            [&] {
                std::string log = g_stuck->talentd_log();
                return log.find("slow request running") != std::string::npos &&
                       log.find("user=31") != std::string::npos && log.find("storing for") != std::string::npos;
            },
            4);
        ck_assert_msg(logged, "no slow log line for the running request:\n%s", g_stuck->talentd_log().c_str());
    }
    client.join();
    ck_assert_msg(answer.status == 200, "the upload after the store came back: %ld %s", answer.status,
                  answer.body.c_str());
    bool finished = wait_until(
        [&] {
            std::string log = g_stuck->talentd_log();
            size_t at = log.find("slow request: POST /api/profile/talent/ 200 user=31");
            return at != std::string::npos && log.find("storing ", at) != std::string::npos &&
                   log.find("decoding ", at) != std::string::npos;
        },
        5);
    ck_assert_msg(finished, "no slow log line with the steps:\n%s", g_stuck->talentd_log().c_str());
    Json j = status_json(*g_stuck);
    ck_assert_msg(num(j.get(), "slow requests") >= 1, "slow requests not counted");
}
END_TEST

// A worker killed in the middle of a request: a crash respawn, the request
// counted as aborted, its row gone.
START_TEST(worker_killed_mid_request_is_accounted) {
    std::string why;
    ck_assert_msg(g_stuck->add_talent_user(32, &why), "%s", why.c_str());
    const std::string jpeg = corpus("valid/jpeg/testorig.jpg");
    Json before = status_json(*g_stuck);
    t::HttpResponse answer;
    std::thread client;
    pid_t victim = 0;
    {
        FrozenStore frozen(*g_stuck);
        client = std::thread([&] { answer = upload(*g_stuck, 32, jpeg); });
        bool seen = wait_until(
            [&] {
                Json j = status_json(*g_stuck);
                json_t* row = row_in_step(j.get(), "storing");
                if (row) victim = static_cast<pid_t>(num(row, "pid"));
                return row != nullptr;
            },
            6);
        ck_assert_msg(seen && victim > 0, "no request in step storing");
        ck_assert_int_eq(kill(victim, SIGKILL), 0);
        Json after;
        bool accounted = wait_until(
            [&] {
                after = status_json(*g_stuck);
                return respawns(after.get(), "crash") == respawns(before.get(), "crash") + 1 &&
                       num(after.get(), "aborted requests") == num(before.get(), "aborted requests") + 1 &&
                       row_of(after.get(), victim) == nullptr && num(after.get(), "total processes") == 2;
            },
            10);
        ck_assert_msg(accounted, "the killed worker was not accounted");
    }
    client.join();
    ck_assert_msg(answer.status == 502 || answer.status == 0, "answer of the killed request: %ld", answer.status);
}
END_TEST

int main() {
    std::string why;
    // No reaper: its child would count as a worker in talentd_workers().
    auto ops = t::Stack::start({{"STACK_REAP_INTERVAL", "0"},
                                {"STACK_WORKERS", "2"},
                                {"STACK_EXTRA_CONF", "max_requests = 40\nslow_request_threshold = 5"}},
                               &why);
    if (!ops) {
        std::fprintf(stderr, "test_operator: %s\n", why.c_str());
        return 1;
    }
    auto stuck = t::Stack::start(
        {{"STACK_REAP_INTERVAL", "0"}, {"STACK_WORKERS", "2"}, {"STACK_EXTRA_CONF", "slow_request_threshold = 1"}},
        &why);
    if (!stuck) {
        std::fprintf(stderr, "test_operator: %s\n", why.c_str());
        return 1;
    }
    g_ops = ops.get();
    g_stuck = stuck.get();

    Suite* suite = suite_create("operator");
    TCase* pages = tcase_create("pages");
    tcase_set_timeout(pages, 180);
    tcase_add_test(pages, public_server_gives_404);
    tcase_add_test(pages, status_formats);
    tcase_add_test(pages, counters_add_up_under_load);
    tcase_add_test(pages, reload_counts_reload_respawns);
    tcase_add_test(pages, promtool_accepts_metrics);
    tcase_add_test(pages, talentctl_status);
    suite_add_tcase(suite, pages);
    TCase* stuck_case = tcase_create("stuck");
    tcase_set_timeout(stuck_case, 120);
    tcase_add_test(stuck_case, killed_worker_is_a_crash_respawn);
    tcase_add_test(stuck_case, stuck_request_shows_its_step);
    tcase_add_test(stuck_case, worker_killed_mid_request_is_accounted);
    suite_add_tcase(suite, stuck_case);

    SRunner* runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    kill(s3rver_pid(*g_stuck), SIGCONT);
    return failed == 0 ? 0 : 1;
}
