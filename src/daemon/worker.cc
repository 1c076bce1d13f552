#include "daemon/worker.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "core/log.h"
#include "daemon/scoreboard.h"
#include "http/fcgi.h"

namespace talentd::daemon {
namespace {

volatile sig_atomic_t stop_requested = 0;

void on_stop(int) { stop_requested = 1; }

// Linux runs the handler of a signal that ppoll() unblocks only when ppoll
// fails with EINTR.  When the socket is already readable, ppoll returns it
// and puts the blocked mask back with the signal still pending: a worker
// whose socket never goes idle (a queue of requests) would keep accepting
// until the master's drain_timeout SIGKILLed it mid-request.  So look at
// what is pending after every wake-up, before accepting anything.
bool stop_signal_pending() {
    sigset_t pending;
    if (sigpending(&pending) != 0) return false;
    return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGHUP) == 1 ||
           sigismember(&pending, SIGINT) == 1;
}

double now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// The slow log: one line with each step's time, like php-fpm's
// request_slowlog_timeout (without a stack trace).
void note_slow(const Config& config, const http::Request& request, const http::Response& response,
               const http::RequestNote& note, const RequestTimes& times, Scoreboard& board) {
    if (config.slow_request_threshold <= 0 || times.seconds < config.slow_request_threshold) return;
    board.count_slow();
    LOG_WARN("slow request: %s %s %d user=%lld %.3fs (cpu %.3fs): %s", request.method.c_str(), request.path.c_str(),
             response.status, static_cast<long long>(note.user_id), times.seconds, times.cpu_seconds,
             format_steps(times).c_str());
}

}  // namespace

void prepare_worker_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    struct sigaction sa{};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    // A worker never outlives its master.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

int run_worker(const Config& config, int listen_fd, http::Handler& handler, Scoreboard* board) {
    http::FcgiChannel channel(listen_fd);
    sigset_t wait_mask;
    sigprocmask(SIG_SETMASK, nullptr, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGHUP);
    sigdelset(&wait_mask, SIGINT);

    long served = 0;
    while (!stop_requested) {
        if (config.max_requests > 0 && served >= config.max_requests) {
            LOG_INFO("recycling after %ld requests", served);
            break;
        }
        pollfd pfd{listen_fd, POLLIN, 0};
        const timespec idle_wait{kIdleReleaseMs / 1000, (kIdleReleaseMs % 1000) * 1000000};
        int ready = ppoll(&pfd, 1, handler.holds_idle_memory() ? &idle_wait : nullptr, &wait_mask);
        if (ready < 0) {
            if (errno == EINTR) continue;
            LOG_ERROR("poll on the listening socket failed: %s", strerror(errno));
            return 1;
        }
        if (ready == 0) {
            handler.idle();
            continue;
        }
        if (stop_requested || stop_signal_pending()) break;
        // Another worker may have taken the connection: accept then fails
        // with EAGAIN on the non-blocking socket and we wait again.
        if (!channel.accept()) continue;
        const double started = now_ms();
        http::Request request = channel.request();
        if (board) board->begin(request.method, request.path);
        http::RequestNote note;
        http::Response response = handler.handle(request, channel.body(), &note);
        if (board) board->step(trace::Step::Responding);
        size_t bytes = channel.respond(response);
        channel.finish();
        ++served;
        if (board) note_slow(config, request, response, note, board->finish(response.status, note.route), *board);
        LOG_INFO("%s %s %d user=%lld bytes=%zu %.2fms%s%s", request.method.c_str(), request.path.c_str(),
                 response.status, static_cast<long long>(note.user_id), bytes, now_ms() - started,
                 note.detail.empty() ? "" : " ", note.detail.c_str());
    }
    return 0;
}

}  // namespace talentd::daemon
