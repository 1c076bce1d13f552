#include "daemon/master.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "daemon/listen_queue.h"
#include "daemon/scoreboard.h"
#include "daemon/supervisor.h"
#include "daemon/worker.h"

namespace talentd::daemon {
namespace {

volatile sig_atomic_t got_chld = 0, got_hup = 0, got_term = 0;

void on_signal(int sig) {
    if (sig == SIGCHLD) got_chld = 1;
    else if (sig == SIGHUP) got_hup = 1;
    else got_term = 1;
}

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

class Master {
public:
    Master(Config config, int listen_fd, const MasterHooks& hooks)
        : config_(std::move(config)),
          listen_fd_(listen_fd),
          hooks_(hooks),
          supervisor_(config_.workers, config_.respawn_backoff_max) {}

    int run();

private:
    pid_t spawn_worker();
    void spawn_reaper();
    void reap_children();
    void reload();
    void shutdown();
    void start_missing(double now);
    int wait_timeout_ms(double now) const;
    void observe();

    Config config_;
    int listen_fd_;
    const MasterHooks& hooks_;
    Supervisor supervisor_;
    sigset_t wait_mask_{};
    double next_spawn_at_ = 0;          // earliest time a replacement may start
    double next_reap_at_ = 0;
    pid_t reaper_pid_ = 0;
    std::vector<std::pair<pid_t, double>> draining_;   // old workers and their SIGKILL deadline
    Scoreboard* board_ = hooks_.scoreboard;
    double next_observe_at_ = 0;
    std::vector<std::pair<pid_t, uint64_t>> reported_slow_;   // requests already in the slow log
};

pid_t Master::spawn_worker() {
    const int slot = board_ ? board_->assign_slot() : -1;
    if (board_ && slot < 0) {
        LOG_ERROR("no free scoreboard slot for another worker");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        LOG_ERROR("fork failed: %s", std::strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prepare_worker_signals();
        sigset_t none;
        sigemptyset(&none);
        sigaddset(&none, SIGTERM);
        sigaddset(&none, SIGHUP);
        sigaddset(&none, SIGINT);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        signal(SIGCHLD, SIG_DFL);
        if (board_) board_->become_worker(slot);
        _exit(hooks_.worker(config_, listen_fd_));
    }
    if (board_) board_->spawned(slot, pid, supervisor_.generation());
    supervisor_.started(pid, now_s());
    LOG_DEBUG("worker %d started (generation %d)", static_cast<int>(pid), supervisor_.generation());
    return pid;
}

void Master::spawn_reaper() {
    if (!hooks_.reaper || reaper_pid_ > 0) return;
    pid_t pid = fork();
    if (pid < 0) {
        LOG_ERROR("fork (reaper) failed: %s", std::strerror(errno));
        return;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGHUP, SIG_IGN);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_IGN);
        close(listen_fd_);
        _exit(hooks_.reaper(config_));
    }
    reaper_pid_ = pid;
}

void Master::reap_children() {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == reaper_pid_) {
            reaper_pid_ = 0;
            if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                LOG_WARN("reaper pass failed (status %d)", status);
            continue;
        }
        if (hooks_.worker_exited) hooks_.worker_exited(pid);
        draining_.erase(std::remove_if(draining_.begin(), draining_.end(),
                                       [pid](const auto& d) { return d.first == pid; }),
                        draining_.end());
        const bool normal = WIFEXITED(status);
        const int code = normal ? WEXITSTATUS(status) : 0;
        Supervisor::Exit e = supervisor_.exited(pid, normal, code, now_s());
        if (!e.known) continue;
        if (board_) {
            board_->reaped(pid);
            if (e.replace) board_->count_respawn(e.crashed ? RespawnCause::Crash : RespawnCause::Recycle);
        }
        if (e.crashed) {
            if (WIFSIGNALED(status))
                LOG_WARN("worker %d killed by signal %d", static_cast<int>(pid), WTERMSIG(status));
            else
                LOG_WARN("worker %d exited with status %d", static_cast<int>(pid), code);
        }
        if (e.replace && e.delay > 0) {
            LOG_WARN("%d consecutive worker crashes: next start in %.0f s", supervisor_.consecutive_crashes(),
                     e.delay);
            next_spawn_at_ = std::max(next_spawn_at_, now_s() + e.delay);
        }
    }
}

void Master::start_missing(double now) {
    if (now < next_spawn_at_) return;
    for (int n = supervisor_.missing(); n > 0; --n)
        if (spawn_worker() < 0) {
            next_spawn_at_ = now + 1;
            break;
        }
}

void Master::reload() {
    sd_notify(0, "RELOADING=1");
    Config fresh = config_;
    std::string why;
    if (!hooks_.reload || !hooks_.reload(&fresh, &why)) {
        LOG_ERROR("reload failed, keeping the running configuration: %s", why.c_str());
        sd_notify(0, "READY=1\nSTATUS=reload failed; running the previous configuration");
        return;
    }
    if (fresh.listen != config_.listen)
        LOG_WARN("listen changed from %s to %s: takes effect at the next restart", config_.listen.c_str(),
                 fresh.listen.c_str());
    fresh.listen = config_.listen;
    config_ = std::move(fresh);
    log::configure(config_.log_level, "talentd");
    // New workers first: they accept on the same socket while the old ones finish.
    std::vector<pid_t> old = supervisor_.new_generation(config_.workers);
    if (board_) {
        board_->set_workers_configured(config_.workers);
        board_->count_respawn(RespawnCause::Reload, static_cast<int>(old.size()));
    }
    next_spawn_at_ = 0;
    start_missing(now_s());
    const double deadline = now_s() + config_.drain_timeout;
    for (pid_t pid : old) {
        kill(pid, SIGTERM);
        draining_.push_back({pid, deadline});
    }
    LOG_INFO("reloaded: generation %d, %d workers", supervisor_.generation(), config_.workers);
    sd_notify(0, "READY=1\nSTATUS=serving (reloaded)");
}

void Master::shutdown() {
    sd_notify(0, "STOPPING=1");
    LOG_INFO("stopping: draining %zu workers (up to %d s)", supervisor_.running(), config_.drain_timeout);
    supervisor_.stop();
    for (pid_t pid : supervisor_.pids()) kill(pid, SIGTERM);
    if (reaper_pid_ > 0) kill(reaper_pid_, SIGTERM);
    const double deadline = now_s() + config_.drain_timeout;
    while ((supervisor_.running() > 0 || reaper_pid_ > 0) && now_s() < deadline) {
        timespec ts{0, 50 * 1000 * 1000};
        ppoll(nullptr, 0, &ts, &wait_mask_);
        reap_children();
    }
    for (pid_t pid : supervisor_.pids()) {
        LOG_WARN("worker %d did not finish within drain_timeout: killing it", static_cast<int>(pid));
        kill(pid, SIGKILL);
    }
    if (reaper_pid_ > 0) kill(reaper_pid_, SIGKILL);
    while (supervisor_.running() > 0 || reaper_pid_ > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) break;
        if (pid == reaper_pid_) {
            reaper_pid_ = 0;
            continue;
        }
        supervisor_.exited(pid, WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : 0, now_s());
        if (board_) board_->reaped(pid);
    }
    LOG_INFO("stopped");
}

int Master::wait_timeout_ms(double now) const {
    double next = now + 60;
    if (supervisor_.missing() > 0) next = std::min(next, next_spawn_at_);
    if (hooks_.reaper && config_.reap_interval > 0) next = std::min(next, next_reap_at_);
    for (const auto& d : draining_) next = std::min(next, d.second);
    if (board_) next = std::min(next, next_observe_at_);
    return std::max(0, static_cast<int>(std::ceil((next - now) * 1000)));
}

// Once a second: the listen queue's high-water mark, and a slow-log line for
// each request that has run past slow_request_threshold and is still
// running (the worker logs its steps when it ends; a stuck one may never).
void Master::observe() {
    ListenQueue queue;
    std::string why;
    if (read_listen_queue(listen_fd_, &queue, &why)) board_->note_listen_queue(queue.waiting);
    if (config_.slow_request_threshold <= 0) return;
    std::vector<std::pair<pid_t, uint64_t>> still;
    for (const RunningRequest& r : board_->running_longer_than(config_.slow_request_threshold)) {
        std::pair<pid_t, uint64_t> id{r.pid, r.sequence};
        still.push_back(id);
        if (std::find(reported_slow_.begin(), reported_slow_.end(), id) != reported_slow_.end()) continue;
        LOG_WARN("slow request running: worker %d %s %s user=%lld %.3fs so far, %s for %.3fs",
                 static_cast<int>(r.pid), r.method.c_str(), r.path.c_str(), static_cast<long long>(r.user_id),
                 r.request_seconds, trace::step_name(r.step), r.step_seconds);
    }
    reported_slow_ = std::move(still);
}

int Master::run() {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &wait_mask_);
    sigdelset(&wait_mask_, SIGCHLD);
    sigdelset(&wait_mask_, SIGHUP);
    sigdelset(&wait_mask_, SIGTERM);
    sigdelset(&wait_mask_, SIGINT);
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    if (board_) board_->set_workers_configured(config_.workers);
    start_missing(now_s());
    next_reap_at_ = now_s() + std::min(config_.reap_interval, 5);
    LOG_INFO("master %d: %d workers on %s", static_cast<int>(getpid()), config_.workers, config_.listen.c_str());
    sd_notifyf(0, "READY=1\nMAINPID=%d\nSTATUS=serving", static_cast<int>(getpid()));

    for (;;) {
        double now = now_s();
        int ms = wait_timeout_ms(now);
        timespec ts{ms / 1000, (ms % 1000) * 1000000L};
        ppoll(nullptr, 0, &ts, &wait_mask_);
        if (got_term) {
            shutdown();
            return 0;
        }
        if (got_chld) {
            got_chld = 0;
            reap_children();
        }
        if (got_hup) {
            got_hup = 0;
            reload();
        }
        now = now_s();
        for (auto& d : draining_)
            if (now >= d.second) {
                LOG_WARN("old worker %d did not finish within drain_timeout: killing it", static_cast<int>(d.first));
                kill(d.first, SIGKILL);
                d.second = now + 1;
            }
        start_missing(now);
        if (board_ && now >= next_observe_at_) {
            observe();
            next_observe_at_ = now + 1;
        }
        if (hooks_.reaper && config_.reap_interval > 0 && now >= next_reap_at_) {
            spawn_reaper();
            next_reap_at_ = now + config_.reap_interval;
        }
    }
}

}  // namespace

int run_master(Config config, int listen_fd, const MasterHooks& hooks) {
    Master master(std::move(config), listen_fd, hooks);
    return master.run();
}

}  // namespace talentd::daemon
