#include "daemon/worker.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

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

// Only these requests come on kept connections with the shipped nginx
// files (their map $talentd_upstream): nginx sends one again on a new
// connection when its kept one was closed under it, which it does for no
// other method.  A connection that carried another is one nginx closes
// after the answer; keeping it would only displace the kept one.
bool idempotent(const std::string& method) { return method == "GET" || method == "HEAD" || method == "OPTIONS"; }

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

    const double keepalive_ms = config.keepalive_timeout * 1e3;
    double retire_until = -1;     // retiring (see the header): until then
    bool last_from_kept = false;  // the last request came on a kept connection
    size_t next_kept = 0;         // where the search for a ready kept connection starts
    std::vector<pollfd> pfd;
    long served = 0;
    while (true) {
        const bool recycle = config.max_requests > 0 && served >= config.max_requests;
        if (retire_until < 0 && (recycle || stop_requested || stop_signal_pending())) {
            if (recycle) {
                LOG_INFO("recycling after %ld requests", served);
            } else {
                LOG_INFO("stopping with %zu kept connections", channel.kept().size());
            }
            retire_until = now_ms() + kRetireMs;
        }
        const bool retiring = retire_until >= 0;
        if (retiring && (channel.kept().empty() || now_ms() >= retire_until)) {
            // nginx may still send on these (a reset, a retry): say so.
            if (!channel.kept().empty())
                LOG_INFO("closing %zu idle kept connections after %ld ms of retiring", channel.kept().size(),
                         static_cast<long>(now_ms() - (retire_until - kRetireMs)));
            break;
        }

        // Wait for the listening socket AND the kept connections, never for
        // some of them alone (see the header); a retiring worker only for
        // its kept connections.
        pfd.clear();
        if (!retiring) pfd.push_back({listen_fd, POLLIN, 0});
        const size_t first_kept = pfd.size();
        for (const auto& k : channel.kept()) pfd.push_back({k.fd, POLLIN, 0});
        // The wait ends when the oldest kept connection's keepalive_timeout
        // passes, at the end of retiring, or after kIdleReleaseMs while the
        // handler keeps memory for the next request
        // (Handler::holds_idle_memory).
        double wait_ms = -1;
        if (retiring) {
            wait_ms = std::max(0.0, retire_until - now_ms());
        } else if (keepalive_ms > 0) {
            wait_ms = channel.release_idle(keepalive_ms);  // -1: none kept
        }
        const bool holding = !retiring && handler.holds_idle_memory();
        if (holding) wait_ms = wait_ms < 0 ? double(kIdleReleaseMs) : std::min(wait_ms, double(kIdleReleaseMs));
        timespec timeout{};
        if (wait_ms >= 0) {
            timeout.tv_sec = static_cast<time_t>(wait_ms / 1e3);
            timeout.tv_nsec = static_cast<long>((wait_ms - timeout.tv_sec * 1e3) * 1e6);
        }
        int ready = ppoll(pfd.data(), pfd.size(), wait_ms >= 0 ? &timeout : nullptr, &wait_mask);
        if (ready < 0) {
            if (errno == EINTR) continue;
            LOG_ERROR("poll on the listening socket failed: %s", strerror(errno));
            return 1;
        }
        // A stop signal: retire (top of the loop) before taking anything.
        if (!retiring && (stop_requested || stop_signal_pending())) continue;
        if (ready == 0) {
            if (holding) handler.idle();
            continue;
        }
        // The kept connections in turn, from where the last search ended.
        int kept_fd = -1;
        const size_t kept_count = pfd.size() - first_kept;
        for (size_t i = 0; i < kept_count; ++i) {
            const size_t j = (next_kept + i) % kept_count;
            if ((pfd[first_kept + j].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                kept_fd = pfd[first_kept + j].fd;
                next_kept = j + 1;
                break;
            }
        }
        // Both ready: a kept connection first (nginx chose it for a
        // request), but never twice in a row, so a new connection waits for
        // at most one request of each idle worker's kept connections.
        const bool listen_ready = !retiring && (pfd[0].revents & POLLIN) != 0;
        const bool from_kept = kept_fd >= 0 && !(listen_ready && last_from_kept);
        if (!from_kept && !listen_ready) continue;
        last_from_kept = from_kept;
        // Another worker may have taken the connection: accept then fails
        // with EAGAIN on the non-blocking socket and we wait again.
        if (!channel.accept(from_kept ? kept_fd : -1)) continue;
        const double started = now_ms();
        http::Request request = channel.request();
        if (board) board->begin(request.method, request.path, from_kept);
        http::RequestNote note;
        http::Response response = handler.handle(request, channel.body(), &note);
        if (board) board->step(trace::Step::Responding);
        size_t bytes = channel.respond(response);
        ++served;
        // A worker about to stop or be recycled declines the connection with
        // its answer (http/fcgi.h): nginx closes it instead of pooling it.
        const bool last = retiring || stop_requested || stop_signal_pending() ||
                          (config.max_requests > 0 && served >= config.max_requests);
        channel.finish(keepalive_ms > 0 && !last && idempotent(request.method));
        if (board) note_slow(config, request, response, note, board->finish(response.status, note.route), *board);
        LOG_INFO("%s %s %d user=%lld bytes=%zu %.2fms%s%s", request.method.c_str(), request.path.c_str(),
                 response.status, static_cast<long long>(note.user_id), bytes, now_ms() - started,
                 note.detail.empty() ? "" : " ", note.detail.c_str());
    }
    // Kept connections still idle are closed here, by FcgiChannel's
    // destructor.
    return 0;
}

}  // namespace talentd::daemon
