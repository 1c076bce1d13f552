// Unit tests of daemon/worker: run_worker() in a child process on a real
// unix socket, with a small handler of the test's own, spoken to by a
// FastCGI client written here the way nginx speaks (BEGIN_REQUEST with or
// without FCGI_KEEP_CONN, PARAMS, an empty STDIN).  What worker.h promises:
// recycling after max_requests (and never with 0), a stop that finishes the
// request in flight and takes no other, connections kept only after GET,
// HEAD or OPTIONS when nginx asks and one at most, closed after
// keepalive_timeout idle seconds, a retiring worker that still serves its
// kept connection for kRetireMs and declines it, the handler's idle memory
// given back after kIdleReleaseMs, the slow log and the scoreboard's counts.
//
// No upper time bound on the code under test: waits are generous (scaled
// by TALENTD_TIME_SCALE); only lower bounds are asserted.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../support/temp_dir.h"
#include "../support/timing.h"
#include "core/config.h"
#include "core/log.h"
#include "daemon/listener.h"
#include "daemon/scoreboard.h"
#include "daemon/worker.h"
#include "http/fcgi_client.h"
#include "http/handler.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

namespace t = talentd::test;
using talentd::Config;

namespace {

const auto& monotonic = t::monotonic_seconds;
const auto& event = t::append_line;



struct Event {
    std::string what;  // begin, idle
    std::string path;
    double at = 0;
};

std::vector<Event> events(const std::string& file, const std::string& what) {
    std::vector<Event> out;
    std::istringstream in(t::read_file(file));
    std::string line;
    while (std::getline(in, line)) {
        Event e;
        std::istringstream fields(line);
        fields >> e.what >> e.path >> e.at;
        if (e.what == what) out.push_back(e);
    }
    return out;
}

// Answers "served METHOD PATH".  /slow sleeps QUERY_STRING milliseconds;
// /hold keeps "memory" for the next request until idle() is called.
class TestHandler : public talentd::http::Handler {
  public:
    explicit TestHandler(std::string events) : events_(std::move(events)) {}
    talentd::http::Response handle(const talentd::http::Request& request, talentd::http::BodySource&,
                                   talentd::http::RequestNote*) override {
        event(events_, "begin " + request.path + " " + std::to_string(monotonic()));
        if (request.path == "/slow" || request.path == "/slowbig") {
            // A stop signal must wait until the request is answered: it
            // would cut this sleep short (EINTR) if it were delivered now.
            const long ms = std::atol(request.query.c_str());
            timespec left{ms / 1000, (ms % 1000) * 1000000L};
            if (nanosleep(&left, &left) != 0) event(events_, "interrupted " + request.path + " " + std::to_string(monotonic()));
        }
        if (request.path == "/hold") holding_ = true;
        talentd::http::Response r;
        r.content_type = "text/plain";
        r.body = "served " + request.method + " " + request.path;
        if (request.path == "/big" || request.path == "/slowbig") r.body.assign(8 << 20, 'b');
        return r;
    }
    bool holds_idle_memory() const override { return holding_; }
    void idle() override {
        event(events_, "idle - " + std::to_string(monotonic()));
        holding_ = false;
    }

  private:
    std::string events_;
    bool holding_ = false;
};

class WorkerUnderTest {
  public:
    // also_blocked: a signal the worker's parent left blocked (0: none).
    explicit WorkerUnderTest(Config config, int also_blocked = 0) {
        path_ = dir_.file("w.sock");
        events_ = dir_.file("events");
        std::string why;
        listen_fd_ = talentd::daemon::open_listener("unix:" + path_, 16, "0600", &why);
        ck_assert_msg(listen_fd_ >= 0, "%s", why.c_str());
        board_ = talentd::daemon::Scoreboard::create(&why);
        ck_assert_msg(board_ != nullptr, "%s", why.c_str());
        const int slot = board_->assign_slot();
        pid_ = fork();
        ck_assert_int_ge(pid_, 0);
        if (pid_ == 0) {
            int log = open(dir_.file("worker.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            dup2(log, 2);
            talentd::log::configure("debug", "talentd");
            if (also_blocked) {
                sigset_t inherited;
                sigemptyset(&inherited);
                sigaddset(&inherited, also_blocked);
                sigprocmask(SIG_BLOCK, &inherited, nullptr);
            }
            talentd::daemon::prepare_worker_signals();
            board_->become_worker(slot);
            TestHandler handler(events_);
            _exit(talentd::daemon::run_worker(config, listen_fd_, handler, board_.get()));
        }
        board_->spawned(slot, pid_, 1);
        owner_ = getpid();
    }
    ~WorkerUnderTest() {
        if (getpid() != owner_) return;
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        close(listen_fd_);
    }

    bool wait_exit(double seconds, int* status) {
        int s = 0;
        bool done = t::wait_for([&] { return waitpid(pid_, &s, WNOHANG) == pid_; }, seconds);
        if (done) {
            pid_ = 0;
            *status = s;
        }
        return done;
    }
    bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
    pid_t pid() const { return pid_; }
    const std::string& socket_path() const { return path_; }
    std::vector<Event> all(const std::string& what) const { return events(events_, what); }
    std::string log() const { return t::read_file(dir_.file("worker.log")); }
    talentd::daemon::Snapshot snapshot() const { return board_->snapshot(); }

  private:
    t::TempDir dir_{"talentd-worker-test"};
    std::string path_, events_;
    int listen_fd_ = -1;
    std::unique_ptr<talentd::daemon::Scoreboard> board_;
    pid_t pid_ = -1;
    pid_t owner_ = -1;
};

Config base_config() {
    Config c;
    c.max_requests = 0;
    c.keepalive_timeout = 75;
    c.slow_request_threshold = 0;
    return c;
}

// --- a FastCGI client, as nginx speaks ------------------------------------

void record(std::string* out, int type, const std::string& content) {
    const size_t n = content.size();
    const char header[8] = {1, static_cast<char>(type), 0, 1, static_cast<char>(n >> 8), static_cast<char>(n & 0xff),
                            0, 0};
    out->append(header, 8);
    out->append(content);
}

void pair(std::string* out, const std::string& name, const std::string& value) {
    out->push_back(static_cast<char>(name.size()));
    out->push_back(static_cast<char>(value.size()));
    *out += name;
    *out += value;
}

std::string encode(const std::string& method, const std::string& path, const std::string& query, bool keep) {
    std::string out;
    const char begin[8] = {0, 1, static_cast<char>(keep ? 1 : 0), 0, 0, 0, 0, 0};
    record(&out, 1, std::string(begin, 8));
    std::string params;
    pair(&params, "REQUEST_METHOD", method);
    pair(&params, "DOCUMENT_URI", path);
    pair(&params, "REQUEST_URI", path + (query.empty() ? "" : "?" + query));
    pair(&params, "QUERY_STRING", query);
    pair(&params, "CONTENT_LENGTH", "0");
    record(&out, 4, params);
    record(&out, 4, "");
    record(&out, 5, "");
    return out;
}

int connect_to(const std::string& path) {
    int fd = t::connect_unix(path);
    ck_assert_msg(fd >= 0, "connect %s", path.c_str());
    return fd;
}

void send_request(int fd, const std::string& method, const std::string& path, bool keep,
                  const std::string& query = "") {
    const std::string bytes = encode(method, path, query, keep);
    ck_assert_int_eq(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

// Reads one answer (up to FCGI_END_REQUEST); "" if the connection ended
// first or nothing came within the wait.
std::string read_answer(int fd, double seconds = 20) {
    talentd::http::FcgiAnswerReader reader;
    const double until = monotonic() + t::scaled(seconds);
    while (!reader.ended()) {
        pollfd p{fd, POLLIN, 0};
        const int ms = static_cast<int>((until - monotonic()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0) return "";
        // One byte at a time: what follows FCGI_END_REQUEST (a declining
        // record) stays unread for closes().
        uint8_t byte;
        if (read(fd, &byte, 1) != 1) return "";
        std::string why;
        ck_assert_msg(reader.feed(&byte, 1, &why), "not a FastCGI answer: %s", why.c_str());
    }
    int status = 0;
    std::string body;
    ck_assert(talentd::http::split_cgi_answer(reader.out(), &status, &body));
    return std::to_string(status) + " " + body;
}

std::string ask(int fd, const std::string& method, const std::string& path, bool keep, const std::string& query = "") {
    send_request(fd, method, path, keep, query);
    return read_answer(fd);
}

void expect_answer(const std::string& expected, int fd, const std::string& method, const std::string& path, bool keep,
                   const std::string& query = "") {
    const std::string answer = ask(fd, method, path, keep, query);
    ck_assert_msg(answer == expected, "%s %s: '%s', expected '%s'", method.c_str(), path.c_str(), answer.c_str(),
                  expected.c_str());
}

// Whether the worker closes the connection within `seconds` (anything it
// still sends is read and dropped).
bool closes(int fd, double seconds) {
    const double until = monotonic() + seconds;
    char buf[256];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int ms = static_cast<int>((until - monotonic()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0) return false;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) return true;
    }
}

// After an answer read to its FCGI_END_REQUEST: "declined" when the worker
// sent one more record and closed (what makes nginx close rather than pool
// the connection), "closed" when it closed without one, "open" when it did
// neither within `seconds`.
std::string after_answer(int fd, double seconds) {
    const double until = monotonic() + seconds;
    size_t extra = 0;
    char buf[256];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int ms = static_cast<int>((until - monotonic()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0) return "open";
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) return extra > 0 ? "declined" : "closed";
        extra += static_cast<size_t>(n);
    }
}

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; ++at) ++n;
    return n;
}

}  // namespace

// max_requests = 3: three answers, then the worker exits 0 (the master
// replaces it); each request has its log line.
START_TEST(recycles_after_max_requests) {
    Config c = base_config();
    c.max_requests = 3;
    c.keepalive_timeout = 0;
    WorkerUnderTest w(c);
    for (int i = 0; i < 3; ++i) {
        int fd = connect_to(w.socket_path());
        const std::string answer = ask(fd, "GET", "/r" + std::to_string(i), false);
        ck_assert_msg(answer == "200 served GET /r" + std::to_string(i), "answer %d: '%s'", i, answer.c_str());
        close(fd);
    }
    int status = 0;
    ck_assert_msg(w.wait_exit(20, &status), "the worker did not recycle after 3 requests\n%s", w.log().c_str());
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    const std::string log = w.log();
    ck_assert_msg(log.find("recycling after 3 requests") != std::string::npos, "%s", log.c_str());
    ck_assert_msg(log.find("GET /r2 200 user=0 bytes=14 ") != std::string::npos, "no request line\n%s", log.c_str());
    ck_assert_uint_eq(w.snapshot().accepted, 3);
    // slow_request_threshold = 0: no slow log.
    ck_assert_uint_eq(w.snapshot().slow, 0);
    ck_assert_msg(log.find("slow request") == std::string::npos, "%s", log.c_str());
}
END_TEST

// max_requests = 0: never recycled.
START_TEST(max_requests_zero_never_recycles) {
    Config c = base_config();
    c.keepalive_timeout = 0;
    WorkerUnderTest w(c);
    for (int i = 0; i < 3; ++i) {
        int fd = connect_to(w.socket_path());
        expect_answer("200 served GET /a", fd, "GET", "/a", false);
        close(fd);
    }
    usleep(300 * 1000);
    ck_assert_msg(w.alive(), "the worker exited with max_requests = 0\n%s", w.log().c_str());
}
END_TEST

// SIGTERM during a request: it is answered, the connection queued behind it
// is not taken, and the worker exits 0.
START_TEST(stop_finishes_the_request_in_flight_and_takes_no_other) {
    const int signals[] = {SIGTERM, SIGHUP, SIGINT};
    const int stop = signals[_i];
    Config c = base_config();
    c.keepalive_timeout = 0;
    WorkerUnderTest w(c);
    int slow = connect_to(w.socket_path());
    send_request(slow, "GET", "/slow", false, "400");
    ck_assert(t::wait_for([&] { return w.all("begin").size() == 1; }, 20));
    int queued = connect_to(w.socket_path());
    send_request(queued, "GET", "/queued", false);
    ck_assert_int_eq(kill(w.pid(), stop), 0);
    const std::string answer = read_answer(slow);
    ck_assert_msg(answer == "200 served GET /slow", "signal %d: the request in flight got '%s'", stop, answer.c_str());
    ck_assert_msg(w.all("interrupted").empty(), "signal %d interrupted the request in flight", stop);
    int status = 0;
    ck_assert_msg(w.wait_exit(20, &status), "the worker did not stop\n%s", w.log().c_str());
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    ck_assert_msg(w.all("begin").size() == 1, "signal %d: a stopping worker took another request", stop);
    ck_assert_msg(w.log().find("stopping with 0 kept connections") != std::string::npos, "%s", w.log().c_str());
    close(slow);
    close(queued);
}
END_TEST

// FCGI_KEEP_CONN after a GET: the connection is kept and serves the next
// request (counted as reused); after a POST it is declined and closed, and
// so is one nginx did not ask to keep.
START_TEST(kept_connection_serves_the_next_request) {
    WorkerUnderTest w(base_config());
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /one", fd, "GET", "/one", true);
    ck_assert_msg(!closes(fd, 0.3), "a kept GET connection was closed");
    expect_answer("200 served HEAD /two", fd, "HEAD", "/two", true);
    expect_answer("200 served OPTIONS /three", fd, "OPTIONS", "/three", true);
    talentd::daemon::Snapshot s = w.snapshot();
    ck_assert_uint_eq(s.accepted, 3);
    ck_assert_uint_eq(s.reused, 2);
    expect_answer("200 served POST /four", fd, "POST", "/four", true);
    const std::string after_post = after_answer(fd, t::scaled(20));
    ck_assert_msg(after_post == "declined", "after a POST on a kept connection: %s", after_post.c_str());
    close(fd);
    fd = connect_to(w.socket_path());
    expect_answer("200 served GET /five", fd, "GET", "/five", false);
    const std::string after_plain = after_answer(fd, t::scaled(20));
    ck_assert_msg(after_plain == "closed", "a connection nginx did not ask to keep: %s", after_plain.c_str());
    close(fd);
    ck_assert_uint_eq(w.snapshot().reused, 3);
}
END_TEST

// One kept connection per worker: a second is declined, the first stays.
START_TEST(only_one_connection_kept) {
    WorkerUnderTest w(base_config());
    int first = connect_to(w.socket_path());
    expect_answer("200 served GET /a", first, "GET", "/a", true);
    int second = connect_to(w.socket_path());
    expect_answer("200 served GET /b", second, "GET", "/b", true);
    const std::string after_second = after_answer(second, t::scaled(20));
    ck_assert_msg(after_second == "declined", "a second kept connection: %s", after_second.c_str());
    expect_answer("200 served GET /c", first, "GET", "/c", true);
    close(first);
    close(second);
}
END_TEST

// keepalive_timeout = 1: an idle kept connection is closed after 1 s, not
// before; 0 keeps none.
START_TEST(kept_connection_closed_after_keepalive_timeout) {
    Config c = base_config();
    c.keepalive_timeout = 1;
    WorkerUnderTest w(c);
    int fd = connect_to(w.socket_path());
    // Taken before the request: the connection's idle time starts later.
    const double answered = monotonic();
    expect_answer("200 served GET /a", fd, "GET", "/a", true);
    const std::string after_idle = after_answer(fd, t::scaled(20));
    ck_assert_msg(after_idle == "closed", "an idle kept connection after keepalive_timeout: %s", after_idle.c_str());
    ck_assert_msg(monotonic() - answered >= 0.95, "closed %.3f s after the answer, keepalive_timeout 1 s",
                  monotonic() - answered);
    close(fd);
    ck_assert(w.alive());
    ck_assert_msg(w.all("idle").empty(), "idle() called for a handler holding nothing");
}
END_TEST

START_TEST(keepalive_timeout_zero_keeps_nothing) {
    Config c = base_config();
    c.keepalive_timeout = 0;
    WorkerUnderTest w(c);
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /a", fd, "GET", "/a", true);
    ck_assert_msg(closes(fd, t::scaled(20)), "kept a connection with keepalive_timeout = 0");
    close(fd);
}
END_TEST

// The last answer before recycling declines its connection (nginx must not
// pool a connection to a worker about to exit).
START_TEST(last_answer_before_recycling_declines) {
    Config c = base_config();
    c.max_requests = 2;
    WorkerUnderTest w(c);
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /a", fd, "GET", "/a", true);
    expect_answer("200 served GET /b", fd, "GET", "/b", true);
    const std::string after_last = after_answer(fd, t::scaled(20));
    ck_assert_msg(after_last == "declined", "the last answer before recycling: %s", after_last.c_str());
    int status = 0;
    ck_assert(w.wait_exit(20, &status));
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    close(fd);
}
END_TEST

// SIGTERM with a kept connection: the retiring worker serves a request sent
// on it (and declines the connection), takes no new connection, and exits
// once it holds none.
START_TEST(retiring_worker_serves_its_kept_connection) {
    WorkerUnderTest w(base_config());
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /a", fd, "GET", "/a", true);
    // The last request before the stop came on the kept connection: the
    // turn would now be the listening socket's, which a retiring worker
    // no longer has.
    expect_answer("200 served GET /a2", fd, "GET", "/a2", true);
    ck_assert_int_eq(kill(w.pid(), SIGTERM), 0);
    ck_assert(t::wait_for([&] { return w.log().find("stopping with 1 kept connections") != std::string::npos; }, 20));
    int fresh = connect_to(w.socket_path());
    send_request(fresh, "GET", "/new", false);
    expect_answer("200 served GET /b", fd, "GET", "/b", true);
    const std::string after_retiring = after_answer(fd, t::scaled(20));
    ck_assert_msg(after_retiring == "declined", "an answer of a retiring worker: %s", after_retiring.c_str());
    int status = 0;
    ck_assert_msg(w.wait_exit(20, &status), "%s", w.log().c_str());
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    ck_assert_msg(w.all("begin").size() == 3, "a retiring worker took a new connection");
    ck_assert_msg(w.log().find("closing") == std::string::npos, "%s", w.log().c_str());
    close(fd);
    close(fresh);
}
END_TEST

// SIGTERM with a kept connection nginx leaves idle: the worker waits
// kRetireMs for a request on it, then closes it (logged) and exits.
START_TEST(retiring_worker_gives_up_an_idle_kept_connection) {
    WorkerUnderTest w(base_config());
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /a", fd, "GET", "/a", true);
    const double stopped = monotonic();
    ck_assert_int_eq(kill(w.pid(), SIGTERM), 0);
    int status = 0;
    ck_assert_msg(w.wait_exit(20, &status), "%s", w.log().c_str());
    ck_assert_msg(monotonic() - stopped >= talentd::daemon::kRetireMs / 1e3 - 0.05,
                  "exited %.3f s after SIGTERM, before kRetireMs", monotonic() - stopped);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    ck_assert_msg(w.log().find("closing 1 idle kept connections after ") != std::string::npos, "%s", w.log().c_str());
    const std::string after_giving_up = after_answer(fd, t::scaled(20));
    ck_assert_msg(after_giving_up == "closed", "an idle kept connection given up: %s", after_giving_up.c_str());
    close(fd);
}
END_TEST

// The handler's idle memory is given back once kIdleReleaseMs pass without
// a request, once; a handler holding none is not called.
START_TEST(idle_memory_given_back_after_a_second) {
    WorkerUnderTest w(base_config());
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /plain", fd, "GET", "/plain", false);
    close(fd);
    fd = connect_to(w.socket_path());
    // Taken before the request: the idle wait starts after its answer.
    const double answered = monotonic();
    expect_answer("200 served GET /hold", fd, "GET", "/hold", false);
    close(fd);
    ck_assert_msg(t::wait_for([&] { return w.all("idle").size() == 1; }, 20), "idle() never called\n%s",
                  w.log().c_str());
    const double after = w.all("idle")[0].at - answered;
    ck_assert_msg(after >= talentd::daemon::kIdleReleaseMs / 1e3 - 0.05, "idle() %.3f s after the answer", after);
    usleep(static_cast<useconds_t>(talentd::daemon::kIdleReleaseMs * 1500));
    ck_assert_msg(w.all("idle").size() == 1, "idle() called %zu times for one hold", w.all("idle").size());
    ck_assert(w.alive());
}
END_TEST

// A request slower than slow_request_threshold: one slow-log line with its
// steps, counted; a fast one is neither.
START_TEST(slow_request_logged_and_counted) {
    Config c = base_config();
    c.slow_request_threshold = 1;
    c.keepalive_timeout = 0;
    WorkerUnderTest w(c);
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /fast", fd, "GET", "/fast", false);
    close(fd);
    fd = connect_to(w.socket_path());
    expect_answer("200 served POST /slow", fd, "POST", "/slow", false, "1100");
    close(fd);
    ck_assert_msg(t::wait_for([&] { return w.snapshot().slow == 1; }, 20), "slow count %llu",
                  static_cast<unsigned long long>(w.snapshot().slow));
    const std::string log = w.log();
    ck_assert_msg(count(log, "slow request: ") == 1, "%s", log.c_str());
    ck_assert_msg(log.find("slow request: POST /slow 200 user=0 ") != std::string::npos, "%s", log.c_str());
    ck_assert_uint_eq(w.snapshot().accepted, 2);
}
END_TEST

// The worker unblocks only the stop signals while it waits: a signal its
// parent left blocked (SIGUSR1 here, whose default action ends a process)
// stays blocked and pending, and the worker goes on serving.
START_TEST(other_blocked_signals_stay_blocked_while_waiting) {
    WorkerUnderTest w(base_config(), SIGUSR1);
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /a", fd, "GET", "/a", false);
    close(fd);
    ck_assert_int_eq(kill(w.pid(), SIGUSR1), 0);
    usleep(300 * 1000);
    ck_assert_msg(w.alive(), "SIGUSR1, blocked by the parent, was delivered while the worker waited");
    fd = connect_to(w.socket_path());
    expect_answer("200 served GET /b", fd, "GET", "/b", false);
    close(fd);
}
END_TEST

// Each request's access-log line gives its duration: never less than the
// time the handler took (here 60 ms each; a clock that ran backwards or
// jumped would show as a negative or short duration).
START_TEST(access_log_gives_each_request_its_duration) {
    Config c = base_config();
    c.keepalive_timeout = 0;
    WorkerUnderTest w(c);
    for (int i = 0; i < 5; ++i) {
        int fd = connect_to(w.socket_path());
        expect_answer("200 served GET /slow", fd, "GET", "/slow", false, "60");
        close(fd);
    }
    ck_assert(t::wait_for([&] { return count(w.log(), "GET /slow 200 user=0 bytes=") == 5; }, 20));
    const std::string log = w.log();
    size_t at = 0;
    for (int i = 0; i < 5; ++i) {
        at = log.find("GET /slow 200 user=0 bytes=", at);
        const size_t space = log.find(' ', log.find("bytes=", at));
        const double ms = std::strtod(log.c_str() + space + 1, nullptr);
        ck_assert_msg(ms >= 60, "request %d logged %.2f ms, the handler took 60 ms:\n%s", i, ms, log.c_str());
        at = space;
    }
}
END_TEST

// Both a kept connection and the listening socket ready: the kept one goes
// first, but never twice in a row, so a new connection waits for at most
// one request of a busy kept connection.  While the worker is inside a
// request that came on its kept connection, a new connection and the kept
// connection's next request both arrive: the new one is served first.
START_TEST(kept_connection_never_twice_in_a_row) {
    WorkerUnderTest w(base_config());
    int kept = connect_to(w.socket_path());
    expect_answer("200 served GET /a", kept, "GET", "/a", true);    // came by the listening socket
    send_request(kept, "GET", "/slow", true, "400");                 // on the kept connection
    ck_assert(t::wait_for([&] { return w.all("begin").size() == 2; }, 20));
    int fresh = connect_to(w.socket_path());
    send_request(fresh, "GET", "/new", false);
    send_request(kept, "GET", "/k2", true);
    const std::string slow = read_answer(kept), fresh_answer = read_answer(fresh), second = read_answer(kept);
    ck_assert_str_eq(slow.c_str(), "200 served GET /slow");
    ck_assert_str_eq(fresh_answer.c_str(), "200 served GET /new");
    ck_assert_str_eq(second.c_str(), "200 served GET /k2");
    std::string order;
    for (const Event& e : w.all("begin")) order += e.path + " ";
    ck_assert_str_eq(order.c_str(), "/a /slow /new /k2 ");
    close(kept);
    close(fresh);
}
END_TEST

// max_requests = 1: the only answer already declines its connection.
START_TEST(single_request_worker_declines_its_connection) {
    Config c = base_config();
    c.max_requests = 1;
    WorkerUnderTest w(c);
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /a", fd, "GET", "/a", true);
    const std::string after = after_answer(fd, t::scaled(20));
    ck_assert_msg(after == "declined", "the only answer of a max_requests = 1 worker: %s", after.c_str());
    int status = 0;
    ck_assert(w.wait_exit(20, &status));
    close(fd);
}
END_TEST

// nginx gives up on a request (its client went away) and closes the
// connection before the answer: writing the answer must not kill the
// worker (SIGPIPE); it serves the next request.
START_TEST(client_gone_before_the_answer) {
    Config c = base_config();
    c.keepalive_timeout = 0;
    WorkerUnderTest w(c);
    int fd = connect_to(w.socket_path());
    send_request(fd, "GET", "/slowbig", false, "300");
    ck_assert(t::wait_for([&] { return w.all("begin").size() == 1; }, 20));
    // Gone before the 8 MiB answer: its writes meet a closed connection
    // (EPIPE, and SIGPIPE unless ignored).
    close(fd);
    fd = connect_to(w.socket_path());
    expect_answer("200 served GET /next", fd, "GET", "/next", false);
    close(fd);
    ck_assert_msg(w.alive(), "the worker died writing to a closed connection");
}
END_TEST

// A worker never outlives its master (PR_SET_PDEATHSIG): when the process
// that forked it dies, it stops as if told to.
START_TEST(worker_stops_when_its_master_dies) {
    t::TempDir dir("talentd-worker-test");
    std::string why;
    const std::string path = dir.file("w.sock");
    int listen_fd = talentd::daemon::open_listener("unix:" + path, 16, "0600", &why);
    ck_assert_msg(listen_fd >= 0, "%s", why.c_str());
    int report[2];
    ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
    pid_t master = fork();
    ck_assert_int_ge(master, 0);
    if (master == 0) {
        pid_t worker = fork();
        if (worker == 0) {
            talentd::daemon::prepare_worker_signals();
            int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
            dup2(null, 2);
            TestHandler handler(dir.file("events"));
            _exit(talentd::daemon::run_worker(base_config(), listen_fd, handler, nullptr));
        }
        ssize_t ignored = write(report[1], &worker, sizeof worker);
        (void)ignored;
        // Wait until the worker serves, so that it is past prepare_worker_signals().
        int fd = connect_to(path);
        const std::string answer = ask(fd, "GET", "/up", false);
        _exit(answer == "200 served GET /up" ? 0 : 1);
    }
    close(report[1]);
    pid_t worker = 0;
    ck_assert_int_eq(read(report[0], &worker, sizeof worker), static_cast<ssize_t>(sizeof worker));
    close(report[0]);
    int status = 0;
    waitpid(master, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the worker did not serve (status %d)", status);
    // The worker is now a child of init (or of a subreaper): gone means ESRCH
    // or a zombie nobody has reaped yet.
    const bool gone = t::wait_for(
        [&] {
            if (kill(worker, 0) != 0) return true;
            const std::string stat = t::read_file("/proc/" + std::to_string(worker) + "/stat");
            const size_t paren = stat.rfind(')');
            return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
        },
        20);
    if (!gone) kill(worker, SIGKILL);
    ck_assert_msg(gone, "the worker outlived its master");
    close(listen_fd);
}
END_TEST

// An idle worker sleeps in ppoll (no timeout when nothing is kept): over 2 s
// it uses almost no CPU.  A timeout of zero would make it spin.
START_TEST(idle_worker_sleeps) {
    // Three ways to be idle: nothing kept (an endless wait), keepalive off
    // (no timer at all), and a kept connection waiting out a 2 s
    // keepalive_timeout (a timed wait with a fraction of a second in it).
    for (int setup = 0; setup < 3; ++setup) {
        Config c = base_config();
        if (setup == 1) c.keepalive_timeout = 0;
        if (setup == 2) c.keepalive_timeout = 2;
        WorkerUnderTest w(c);
        int fd = connect_to(w.socket_path());
        expect_answer("200 served GET /a", fd, "GET", "/a", setup == 2);
        if (setup != 2) close(fd);
        auto cpu = [&] { return t::process_cpu_seconds(w.pid()); };
        const double before = cpu(), from = monotonic();
        while (monotonic() - from < 2.5) usleep(100 * 1000);
        const double used = cpu() - before;
        ck_assert_msg(used < 0.2, "the idle worker (setup %d) used %.2f s of CPU in %.1f s", setup, used,
                      monotonic() - from);
        if (setup == 2) {
            const std::string after = after_answer(fd, t::scaled(20));
            ck_assert_str_eq(after.c_str(), "closed");
            close(fd);
        }
    }
}
END_TEST

// While the answer is being written (a slow reader), the scoreboard says
// so: the status page shows "responding", not the handler's last step.
START_TEST(responding_shows_on_the_scoreboard) {
    Config c = base_config();
    c.keepalive_timeout = 0;
    WorkerUnderTest w(c);
    int fd = connect_to(w.socket_path());
    send_request(fd, "GET", "/big", false);
    ck_assert_msg(t::wait_for(
                      [&] {
                          auto s = w.snapshot();
                          return s.workers.size() == 1 && s.workers[0].step == talentd::trace::Step::Responding;
                      },
                      20),
                  "the worker writing an 8 MiB answer is not shown responding");
    // Read it all: the worker finishes and is idle again.
    size_t total = 0;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) total += static_cast<size_t>(n);
    ck_assert_uint_gt(total, 8u << 20);
    close(fd);
    ck_assert(t::wait_for([&] { return w.snapshot().workers[0].step == talentd::trace::Step::Idle; }, 20));
}
END_TEST

// An idle worker (asleep in ppoll) stops on each of the stop signals.
START_TEST(idle_worker_stops_on_each_signal) {
    const int signals[] = {SIGTERM, SIGHUP, SIGINT};
    WorkerUnderTest w(base_config());
    int fd = connect_to(w.socket_path());
    expect_answer("200 served GET /a", fd, "GET", "/a", false);
    close(fd);
    ck_assert_int_eq(kill(w.pid(), signals[_i]), 0);
    int status = 0;
    ck_assert_msg(w.wait_exit(20, &status), "an idle worker ignored signal %d", signals[_i]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "signal %d: status %d", signals[_i], status);
}
END_TEST

int main() {
    Suite* s = suite_create("worker");
    TCase* tc = tcase_create("requests");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, recycles_after_max_requests);
    tcase_add_test(tc, max_requests_zero_never_recycles);
    tcase_add_loop_test(tc, stop_finishes_the_request_in_flight_and_takes_no_other, 0, 3);
    tcase_add_test(tc, kept_connection_serves_the_next_request);
    tcase_add_test(tc, only_one_connection_kept);
    tcase_add_test(tc, keepalive_timeout_zero_keeps_nothing);
    tcase_add_test(tc, last_answer_before_recycling_declines);
    tcase_add_test(tc, retiring_worker_serves_its_kept_connection);
    tcase_add_test(tc, access_log_gives_each_request_its_duration);
    tcase_add_test(tc, other_blocked_signals_stay_blocked_while_waiting);
    tcase_add_test(tc, kept_connection_never_twice_in_a_row);
    tcase_add_test(tc, kept_connection_closed_after_keepalive_timeout);
    tcase_add_test(tc, retiring_worker_gives_up_an_idle_kept_connection);
    tcase_add_test(tc, slow_request_logged_and_counted);
    tcase_add_test(tc, idle_memory_given_back_after_a_second);
    tcase_add_test(tc, single_request_worker_declines_its_connection);
    tcase_add_test(tc, client_gone_before_the_answer);
    tcase_add_test(tc, worker_stops_when_its_master_dies);
    tcase_add_test(tc, idle_worker_sleeps);
    tcase_add_test(tc, responding_shows_on_the_scoreboard);
    tcase_add_loop_test(tc, idle_worker_stops_on_each_signal, 0, 3);
    suite_add_tcase(s, tc);
    SRunner* r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
