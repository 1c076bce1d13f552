// Unit tests of daemon/master and daemon/listener with real processes and
// signals but no HTTP: run_master() runs in a child of the test with hooks
// that write what happens to them into an event file — workers that started
// (with the configuration they got), the signal that stopped them, reaper
// passes, reloads.  They catch a master that stops its workers with SIGKILL
// instead of SIGTERM, that keeps the old configuration on SIGHUP or drops
// the running one on a broken reload, that ignores the crash backoff, that
// never runs the periodic reaper; and a unix socket created with the wrong
// mode.
//
// No upper time bound: waits are generous (scaled by TALENTD_TIME_SCALE) and
// only lower bounds are asserted, which a slow machine cannot break.
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../support/temp_dir.h"
#include "../support/timing.h"
#include "core/config.h"
#include "core/log.h"
#include "daemon/listener.h"
#include "daemon/master.h"
#include "daemon/scoreboard.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

namespace t = talentd::test;
using talentd::Config;

namespace {

using t::monotonic_seconds;
const auto& monotonic = monotonic_seconds;
const auto& event = t::append_line;



struct Event {
    std::string what;   // start, term, reap, reload, exited, reaperterm
    long pid = 0;
    double at = 0;      // CLOCK_MONOTONIC
    int workers = 0;    // the configuration the process got
    std::string listen; // ... and its listen (start events)
    std::string extra;  // sigs events: the process's signal state (signal_state())
};

std::vector<Event> events(const std::string& file) {
    std::vector<Event> out;
    std::istringstream in(t::read_file(file));
    std::string line;
    while (std::getline(in, line)) {
        Event e;
        std::istringstream fields(line);
        fields >> e.what >> e.pid >> e.at >> e.workers >> e.listen >> e.extra;
        out.push_back(e);
    }
    return out;
}

std::vector<Event> only(const std::vector<Event>& all, const std::string& what) {
    std::vector<Event> out;
    for (const Event& e : all)
        if (e.what == what) out.push_back(e);
    return out;
}

// How a test's workers behave.
enum class WorkerKind {
    Serve,     // waits for SIGTERM/SIGHUP/SIGINT, writes "term", exits 0
    Crash,     // exits 1 at once
    Stubborn,  // ignores SIGTERM: only the master's SIGKILL after drain_timeout ends it
    Slow,      // like Serve, inside a request (on the scoreboard) that never ends
    RecycleOnce,  // the first worker exits 0 at once (recycled), the others serve
    StubbornButOne,  // the first worker serves, the others ignore SIGTERM
};

// How the test's reaper behaves (None: no reaper hook at all).
enum class ReaperKind {
    None,
    Quick,     // writes "reap" and exits 0
    Sleepy,    // writes "reap", then sleeps until a signal; SIGTERM writes "reaperterm"
    Stubborn,  // writes "reap", ignores SIGTERM and sleeps
};

struct Extras {
    bool scoreboard = false;   // hooks.scoreboard: shared memory the test reads too
    // Runs on the scoreboard before the master starts.
    std::function<void(talentd::daemon::Scoreboard*)> prepare;
    // The master inherits SIGTERM, SIGHUP, SIGINT and SIGCHLD blocked (as a
    // shell or a supervisor may start it).
    bool start_blocked = false;
    // Every fork of the master fails with EAGAIN (a seccomp filter on the
    // clone family: as root, RLIMIT_NPROC would not make it fail).
    bool fork_fails = false;
    // The master's stderr is a pipe nobody reads any more (a journal stream
    // gone): each log line it writes gets EPIPE, and SIGPIPE.
    bool stderr_broken = false;
};

// The filter behind Extras::fork_fails, in the master's process only.
bool make_forks_fail() {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return false;
    bool ok = true;
    for (int call : {SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(fork), SCMP_SYS(vfork)})
        ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAGAIN), call, 0) == 0;
    ok = ok && seccomp_load(ctx) == 0;
    seccomp_release(ctx);
    return ok;
}

// How a forked child starts, as one word: the stop signals it blocks (of
// TERM, HUP, INT, CHLD; any other blocked one as +NUMBER), each one's disposition (dfl, ign or handler), and
// whether the listening socket `listen_fd` is open in it.
std::string signal_state(int listen_fd) {
    sigset_t mask;
    sigprocmask(SIG_SETMASK, nullptr, &mask);
    std::string out = "blocked=";
    const std::pair<int, const char*> sigs[] = {{SIGTERM, "T"}, {SIGHUP, "H"}, {SIGINT, "I"}, {SIGCHLD, "C"}};
    for (const auto& [sig, letter] : sigs)
        if (sigismember(&mask, sig) == 1) out += letter;
    // Any other signal blocked (none should be): its number.
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGTERM && sig != SIGHUP && sig != SIGINT && sig != SIGCHLD && sigismember(&mask, sig) == 1)
            out += "+" + std::to_string(sig);
    for (const auto& [sig, letter] : sigs) {
        struct sigaction sa{};
        sigaction(sig, nullptr, &sa);
        out += std::string(",") + letter + "=" +
               (sa.sa_handler == SIG_DFL ? "dfl" : sa.sa_handler == SIG_IGN ? "ign" : "handler");
    }
    out += fcntl(listen_fd, F_GETFD) >= 0 ? ",listen=open" : ",listen=closed";
    return out;
}

// The Sleepy reaper's SIGTERM handler: finishes "the row it is on" (half a
// second, longer than the workers take to stop), writes one line and exits
// (async-signal-safe: the line is made before the signal can come).  A
// master that stopped waiting once the workers were gone would SIGKILL it
// before the line.
std::string reaper_events;
char reaper_term_line[64];
size_t reaper_term_length = 0;
void on_reaper_term(int) {
    timespec row{0, 500 * 1000 * 1000};
    while (nanosleep(&row, &row) != 0) {
    }
    int fd = open(reaper_events.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t ignored = write(fd, reaper_term_line, reaper_term_length);
        (void)ignored;
    }
    _exit(0);
}

// run_master() in a child process; the master's log (stderr) in DIR/master.log.
class MasterUnderTest {
  public:
    MasterUnderTest(Config config, WorkerKind kind, bool with_reaper)
        : MasterUnderTest(config, kind, with_reaper ? ReaperKind::Quick : ReaperKind::None, Extras{}) {}

    MasterUnderTest(Config config, WorkerKind kind, ReaperKind reaper, Extras extras) : kind_(kind) {
        config.listen = "unix:" + dir_.file("talentd.sock");
        config.log_level = "debug";
        config_ = config;
        events_ = dir_.file("events");
        reload_ = dir_.file("reload");
        std::string why;
        listen_fd_ = talentd::daemon::open_listener(config_.listen, 16, config_.socket_mode, &why);
        ck_assert_msg(listen_fd_ >= 0, "open_listener: %s", why.c_str());
        if (extras.scoreboard) {
            board_ = talentd::daemon::Scoreboard::create(&why);
            ck_assert_msg(board_ != nullptr, "scoreboard: %s", why.c_str());
            hooks_.scoreboard = board_.get();
            if (extras.prepare) extras.prepare(board_.get());
        }
        const std::string events = events_, reload = reload_;
        talentd::daemon::Scoreboard* board = board_.get();
        hooks_.worker = [events, kind, board](const Config& c, int fd) {
            event(events, "sigs " + std::to_string(getpid()) + " 0 0 - " + signal_state(fd));
            event(events, "start " + std::to_string(getpid()) + " " + std::to_string(monotonic()) + " " +
                              std::to_string(c.workers) + " " + c.listen);
            if (kind == WorkerKind::Crash) return 1;
            // Exactly one worker wins the exclusive create and recycles itself.
            if (kind == WorkerKind::RecycleOnce) {
                int once = open((events + ".recycled").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (once >= 0) {
                    close(once);
                    return 0;
                }
            }
            bool stubborn = kind == WorkerKind::Stubborn;
            if (kind == WorkerKind::StubbornButOne) {
                int once = open((events + ".polite").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (once >= 0) close(once);
                stubborn = once < 0;
            }
            if (stubborn) {
                signal(SIGTERM, SIG_IGN);
                for (;;) pause();
            }
            if (kind == WorkerKind::Slow && board) board->begin("POST", "/api/slow-test");
            sigset_t stop;
            sigemptyset(&stop);
            sigaddset(&stop, SIGTERM);
            sigaddset(&stop, SIGHUP);
            sigaddset(&stop, SIGINT);
            sigprocmask(SIG_BLOCK, &stop, nullptr);
            int sig = 0;
            sigwait(&stop, &sig);
            event(events, std::string(sig == SIGTERM ? "term " : "othersignal ") + std::to_string(getpid()) + " " +
                              std::to_string(monotonic()));
            return 0;
        };
        const int listen_fd = listen_fd_;
        if (reaper != ReaperKind::None)
            hooks_.reaper = [events, reaper, listen_fd](const Config& c) {
                event(events, "sigs " + std::to_string(getpid()) + " 0 0 - " + signal_state(listen_fd));
                event(events, "reap " + std::to_string(getpid()) + " " + std::to_string(monotonic()) + " " +
                                  std::to_string(c.workers));
                if (reaper == ReaperKind::Quick) return 0;
                reaper_events = events;
                reaper_term_length = static_cast<size_t>(std::snprintf(
                    reaper_term_line, sizeof reaper_term_line, "reaperterm %d 0\n", static_cast<int>(getpid())));
                signal(SIGTERM, reaper == ReaperKind::Stubborn ? SIG_IGN : on_reaper_term);
                for (;;) pause();
            };
        hooks_.worker_exited = [events](pid_t pid) {
            event(events, "exited " + std::to_string(pid) + " " + std::to_string(monotonic()));
        };
        // The reload hook reads DIR/reload: "workers N [listen L] [log LEVEL]
        // [drain S]", or anything else (a broken configuration).
        hooks_.reload = [events, reload](Config* c, std::string* why) {
            event(events, "reload " + std::to_string(getpid()) + " " + std::to_string(monotonic()));
            std::istringstream in(t::read_file(reload));
            std::string word;
            int n = 0;
            in >> word >> n;
            if (word != "workers" || n < 1) {
                *why = "reload: malformed test configuration";
                return false;
            }
            c->workers = n;
            std::string key, value;
            while (in >> key >> value) {
                if (key == "listen") c->listen = value;
                else if (key == "log") c->log_level = value;
                else if (key == "drain") c->drain_timeout = std::atoi(value.c_str());
            }
            return true;
        };
        pid_ = fork();
        ck_assert_int_ge(pid_, 0);
        if (pid_ == 0) {
            int log = open(dir_.file("master.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            dup2(log, 2);
            talentd::log::configure("debug", "talentd");
            if (extras.start_blocked) {
                sigset_t inherited;
                sigemptyset(&inherited);
                for (int sig : {SIGTERM, SIGHUP, SIGINT, SIGCHLD}) sigaddset(&inherited, sig);
                sigprocmask(SIG_BLOCK, &inherited, nullptr);
            }
            if (extras.fork_fails && !make_forks_fail()) _exit(99);
            if (extras.stderr_broken) {
                int gone[2];
                if (pipe(gone) != 0 || dup2(gone[1], 2) < 0) _exit(98);
                close(gone[0]);
                close(gone[1]);
            }
            _exit(talentd::daemon::run_master(config_, listen_fd_, hooks_));
        }
        owner_ = getpid();
    }

    ~MasterUnderTest() {
        if (getpid() != owner_ || pid_ <= 0) return;
        if (waitpid(pid_, nullptr, WNOHANG) == 0) {
            kill(pid_, SIGTERM);
            if (!t::wait_for([&] { return waitpid(pid_, &status_, WNOHANG) == pid_; }, 30)) {
                kill(pid_, SIGKILL);
                waitpid(pid_, &status_, 0);
            }
        }
        if (listen_fd_ >= 0) close(listen_fd_);
    }

    // Waits for the master to exit; its waitpid status in *status.
    bool wait_exit(double seconds, int* status) {
        bool done = t::wait_for([&] { return waitpid(pid_, &status_, WNOHANG) == pid_; }, seconds);
        if (done) {
            *status = status_;
            pid_ = 0;
        }
        return done;
    }

    std::vector<Event> all() const { return events(events_); }
    std::string log() const { return t::read_file(dir_.file("master.log")); }
    void set_reload(const std::string& text) const { ck_assert(t::write_file(reload_, text)); }
    pid_t pid() const { return pid_; }
    const Config& config() const { return config_; }
    talentd::daemon::Snapshot snapshot() const { return board_->snapshot(); }
    talentd::daemon::Scoreboard* board() const { return board_.get(); }

  private:
    t::TempDir dir_{"talentd-master-test"};
    std::unique_ptr<talentd::daemon::Scoreboard> board_;
    WorkerKind kind_;
    Config config_;
    std::string events_, reload_;
    int listen_fd_ = -1;
    talentd::daemon::MasterHooks hooks_;
    pid_t pid_ = -1;
    pid_t owner_ = -1;
    int status_ = 0;
};

Config base_config(int workers) {
    Config c;
    c.workers = workers;
    c.reap_interval = 0;
    c.drain_timeout = 30;
    return c;
}

bool alive(long pid) { return kill(static_cast<pid_t>(pid), 0) == 0; }

// How often a process has gone to sleep and been woken (its voluntary
// context switches); -1 when /proc cannot tell.
long wake_ups(pid_t pid) {
    std::istringstream in(t::read_file("/proc/" + std::to_string(pid) + "/status"));
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::atol(line.c_str() + 24);
    return -1;
}

// This test process adopts whatever the master leaves behind, so that a
// child the master killed but did not wait for shows in
// expect_no_child_left() (init would reap it; "alive" alone would miss it).
void adopt_orphans() { ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0); }

// After the master has exited (and been waited for): it waited for each of
// its children itself, so none was left to this process.
void expect_no_child_left() {
    int status = 0;
    const pid_t orphan = waitpid(-1, &status, WNOHANG);
    ck_assert_msg(orphan == -1 && errno == ECHILD, "the master exited before waiting for its child %d",
                  static_cast<int>(orphan));
}

}  // namespace

// SIGTERM to the master: every worker is asked with SIGTERM (a drain), not
// killed, and the master exits 0 once they have finished.
START_TEST(stop_sends_sigterm_to_workers) {
    Extras extras;
    extras.scoreboard = true;
    MasterUnderTest m(base_config(3), WorkerKind::Serve, ReaperKind::None, extras);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() == 3; }, 20),
                  "workers did not start: %s", m.log().c_str());
    ck_assert_int_eq(kill(m.pid(), SIGTERM), 0);
    int status = 0;
    ck_assert_msg(m.wait_exit(60, &status), "the master did not exit");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "master status %d", status);
    std::vector<Event> all = m.all();
    std::vector<Event> starts = only(all, "start"), terms = only(all, "term");
    ck_assert_msg(terms.size() == 3, "%zu of 3 workers saw SIGTERM (others were killed)\n%s", terms.size(),
                  m.log().c_str());
    for (const Event& s : starts) ck_assert_msg(!alive(s.pid), "worker %ld outlived the master", s.pid);
    ck_assert_msg(m.log().find("did not finish within drain_timeout") == std::string::npos, "%s", m.log().c_str());
    // Workers that finish at a stop are not respawns, and leave no row.
    talentd::daemon::Snapshot s = m.snapshot();
    for (int cause = 0; cause < talentd::daemon::kRespawnCauseCount; ++cause)
        ck_assert_msg(s.respawns[cause] == 0, "a stop counted %llu respawns (%s)",
                      static_cast<unsigned long long>(s.respawns[cause]),
                      talentd::daemon::respawn_cause_name(static_cast<talentd::daemon::RespawnCause>(cause)));
    ck_assert_msg(s.workers.empty(), "%zu rows after the stop", s.workers.size());
}
END_TEST

// SIGHUP with a changed configuration: a new generation runs with it, the
// old workers get SIGTERM; the master stays.
START_TEST(reload_applies_the_changed_configuration) {
    MasterUnderTest m(base_config(2), WorkerKind::Serve, false);
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 2; }, 20));
    std::vector<Event> first = only(m.all(), "start");
    for (const Event& s : first) ck_assert_int_eq(s.workers, 2);
    m.set_reload("workers 3\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() == 5 && only(m.all(), "term").size() == 2; },
                              20),
                  "after the reload: %zu starts, %zu stopped\n%s", only(m.all(), "start").size(),
                  only(m.all(), "term").size(), m.log().c_str());
    std::vector<Event> starts = only(m.all(), "start");
    for (size_t i = 2; i < starts.size(); ++i)
        ck_assert_msg(starts[i].workers == 3, "a new worker got workers = %d, not the reloaded 3", starts[i].workers);
    // They exited (and the master reaps them a moment later).
    ck_assert_msg(t::wait_for(
                      [&] {
                          for (const Event& s : first)
                              if (alive(s.pid)) return false;
                          return true;
                      },
                      20),
                  "an old worker still runs");
    ck_assert(alive(m.pid()));
    ck_assert_msg(m.log().find("reloaded: generation 2, 3 workers") != std::string::npos, "%s", m.log().c_str());
}
END_TEST

// SIGHUP with a configuration that does not load: the running workers and
// configuration stay; a later good reload still works.
START_TEST(reload_with_a_broken_configuration_keeps_running) {
    MasterUnderTest m(base_config(2), WorkerKind::Serve, false);
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 2; }, 20));
    m.set_reload("broken\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(t::wait_for([&] { return m.log().find("reload failed") != std::string::npos; }, 20),
                  "no reload failure logged: %s", m.log().c_str());
    std::vector<Event> after = m.all();
    ck_assert_msg(only(after, "start").size() == 2 && only(after, "term").empty(),
                  "a broken reload changed the workers: %zu starts, %zu stopped", only(after, "start").size(),
                  only(after, "term").size());
    for (const Event& s : only(after, "start")) ck_assert(alive(s.pid));
    // The master still reloads afterwards, from the configuration it kept.
    m.set_reload("workers 1\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() == 3 && only(m.all(), "term").size() == 2; },
                              20),
                  "%s", m.log().c_str());
}
END_TEST

// A worker that crashes at once: the first replacement starts at once, then
// 1 s, 2 s, 2 s (respawn_backoff_max) apart.  Only lower bounds are checked.
START_TEST(crash_loop_backs_off) {
    Config c = base_config(1);
    c.respawn_backoff_max = 2;
    MasterUnderTest m(c, WorkerKind::Crash, false);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() >= 5; }, 60), "%s",
                  m.log().c_str());
    std::vector<Event> s = only(m.all(), "start");
    const double gap2 = s[2].at - s[1].at, gap3 = s[3].at - s[2].at, gap4 = s[4].at - s[3].at;
    ck_assert_msg(gap2 >= 0.95, "third start %.3f s after the second, backoff 1 s", gap2);
    ck_assert_msg(gap3 >= 1.95, "fourth start %.3f s after the third, backoff 2 s", gap3);
    ck_assert_msg(gap4 >= 1.95, "fifth start %.3f s after the fourth, backoff capped at 2 s", gap4);
    ck_assert_msg(m.log().find("consecutive worker crashes: next start in 2 s") != std::string::npos, "%s",
                  m.log().c_str());
    // It sleeps through each backoff: a wait cut to whole seconds would
    // spin through the fractions (seconds of CPU over these 5 s).
    const double used = t::process_cpu_seconds(m.pid());
    ck_assert_msg(used < 0.5, "the master used %.2f s of CPU through 5 s of backoff", used);
}
END_TEST

// reap_interval = 1: the master forks the reaper again and again.
START_TEST(master_runs_the_periodic_reaper) {
    Config c = base_config(1);
    c.reap_interval = 1;
    MasterUnderTest m(c, WorkerKind::Serve, true);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "reap").size() >= 3; }, 30),
                  "%zu reaper passes\n%s", only(m.all(), "reap").size(), m.log().c_str());
    std::vector<Event> reaps = only(m.all(), "reap");
    for (const Event& r : reaps) ck_assert_msg(r.pid != m.pid(), "the reaper ran in the master");
    ck_assert_msg(reaps[2].at - reaps[1].at >= 0.95, "passes %.3f s apart, reap_interval 1 s",
                  reaps[2].at - reaps[1].at);
    // Between passes it sleeps: each reaper's exit wakes it a fraction of a
    // second before the next pass is due, and a wait cut to whole seconds
    // would spin through that fraction (most of each second).
    const double used = t::process_cpu_seconds(m.pid());
    ck_assert_msg(used < 0.5, "the master used %.2f s of CPU over %zu reaper passes", used, reaps.size());
    // A finished reaper is not a worker: worker_exited is not called for it.
    ck_assert_msg(only(m.all(), "exited").empty(), "worker_exited called for pid %ld (a reaper)",
                  only(m.all(), "exited").empty() ? 0L : only(m.all(), "exited")[0].pid);
}
END_TEST

// The unix socket talentd creates has socket_mode, whatever the umask.
START_TEST(unix_socket_has_socket_mode) {
    t::TempDir dir("talentd-listener-test");
    const char* modes[] = {"0660", "0600", "0666"};
    for (const char* mode : modes) {
        std::string path = dir.file(std::string("s") + mode + ".sock"), why;
        mode_t old = umask(022);
        int fd = talentd::daemon::open_listener("unix:" + path, 16, mode, &why);
        umask(old);
        ck_assert_msg(fd >= 0, "%s", why.c_str());
        struct stat st;
        ck_assert_int_eq(stat(path.c_str(), &st), 0);
        ck_assert_msg(S_ISSOCK(st.st_mode), "not a socket");
        ck_assert_msg((st.st_mode & 07777) == std::strtoul(mode, nullptr, 8), "mode %o, socket_mode %s",
                      st.st_mode & 07777, mode);
        close(fd);
    }
    // An existing socket is replaced, not an error.
    std::string path = dir.file("s0660.sock"), why;
    int fd = talentd::daemon::open_listener("unix:" + path, 16, "0660", &why);
    ck_assert_msg(fd >= 0, "%s", why.c_str());
    close(fd);
}
END_TEST


// What the master writes on the scoreboard (the status page and /metrics
// read it): the configured number of workers, a row per live worker with
// its generation, respawns by cause; worker_exited for every reaped worker.
START_TEST(master_keeps_the_scoreboard) {
    Extras extras;
    extras.scoreboard = true;
    MasterUnderTest m(base_config(2), WorkerKind::RecycleOnce, ReaperKind::None, extras);
    // One worker recycles itself at once and is replaced: 3 starts.
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() == 3; }, 20), "%s", m.log().c_str());
    ck_assert_msg(t::wait_for([&] { return m.snapshot().workers.size() == 2; }, 20), "%zu scoreboard rows",
                  m.snapshot().workers.size());
    talentd::daemon::Snapshot s = m.snapshot();
    ck_assert_msg(only(m.all(), "exited").size() == 1, "worker_exited called %zu times for one recycled worker",
                  only(m.all(), "exited").size());
    const long recycled = only(m.all(), "exited")[0].pid;
    std::vector<long> live;
    for (const Event& e : only(m.all(), "start"))
        if (e.pid != recycled) live.push_back(e.pid);
    ck_assert_msg(live.size() == 2, "worker_exited named pid %ld, which no worker had", recycled);
    ck_assert_int_eq(s.workers_configured, 2);
    ck_assert_msg(s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Recycle)] == 1 &&
                      s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Crash)] == 0,
                  "respawns: recycle %llu, crash %llu",
                  static_cast<unsigned long long>(s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Recycle)]),
                  static_cast<unsigned long long>(s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Crash)]));
    for (const auto& row : s.workers) {
        ck_assert_int_eq(row.generation, 1);
        ck_assert_msg(row.pid == live[0] || row.pid == live[1], "row of pid %d, not a live worker",
                      static_cast<int>(row.pid));
    }

    m.set_reload("workers 3\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "exited").size() == 3; }, 20),
                  "worker_exited: %zu calls\n%s", only(m.all(), "exited").size(), m.log().c_str());
    ck_assert_msg(t::wait_for([&] { return m.snapshot().workers.size() == 3; }, 20), "%zu scoreboard rows",
                  m.snapshot().workers.size());
    s = m.snapshot();
    ck_assert_int_eq(s.workers_configured, 3);
    ck_assert_int_eq(s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Reload)], 2);
    ck_assert_int_eq(s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Recycle)], 1);
    std::vector<Event> exited = only(m.all(), "exited");
    for (const auto& row : s.workers) {
        ck_assert_msg(row.generation == 2, "row of pid %d: generation %d", static_cast<int>(row.pid), row.generation);
        for (const Event& e : exited) ck_assert_int_ne(row.pid, e.pid);
    }
    for (long old : live) {
        bool seen = false;
        for (const Event& e : exited) seen = seen || e.pid == old;
        ck_assert_msg(seen, "worker_exited not called for old worker %ld", old);
    }
}
END_TEST

// A crashing worker is counted as a crash, and its row is cleared.
START_TEST(crashes_are_counted_on_the_scoreboard) {
    Config c = base_config(1);
    c.respawn_backoff_max = 1;
    Extras extras;
    extras.scoreboard = true;
    MasterUnderTest m(c, WorkerKind::Crash, ReaperKind::None, extras);
    ck_assert(t::wait_for([&] { return only(m.all(), "exited").size() >= 3; }, 30));
    talentd::daemon::Snapshot s = m.snapshot();
    ck_assert_msg(s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Crash)] >= 2 &&
                      s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Recycle)] == 0,
                  "respawns: crash %llu, recycle %llu",
                  static_cast<unsigned long long>(s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Crash)]),
                  static_cast<unsigned long long>(s.respawns[static_cast<int>(talentd::daemon::RespawnCause::Recycle)]));
    // Every start but the newest has exited: at most that one has a row.
    ck_assert_msg(s.workers.size() <= 1, "%zu rows for 1 worker", s.workers.size());
}
END_TEST

// A fork that fails is logged and tried again a second later, not in a
// busy loop (a failed spawn taken for a started one retried at once).
START_TEST(failed_fork_is_retried_each_second) {
    Extras extras;
    extras.fork_fails = true;
    auto owner = std::make_unique<MasterUnderTest>(base_config(2), WorkerKind::Serve, ReaperKind::None, extras);
    MasterUnderTest* m = owner.get();
    ck_assert_msg(t::wait_for([&] { return m->log().find("fork failed") != std::string::npos; }, 20), "%s",
                  m->log().c_str());
    auto count = [&] {
        const std::string log = m->log();
        size_t lines = 0;
        for (size_t at = 0; (at = log.find("fork failed", at)) != std::string::npos; ++at) ++lines;
        return lines;
    };
    // Over 5 s: 4 to 7 tries (one every 2 s would make at most 3).
    const size_t first = count();
    const double from = monotonic(), wait = t::scaled(5);
    while (monotonic() - from < wait) usleep(100 * 1000);
    const size_t lines = count() - first;
    ck_assert_msg(lines >= static_cast<size_t>(wait * 0.8) && lines <= wait + 2,
                  "%zu 'fork failed' lines in %.0f s (one a second)", lines, wait);
    ck_assert_msg(only(m->all(), "start").empty(), "a worker started although every fork fails");
    int status = 0;
    kill(m->pid(), SIGTERM);
    ck_assert_msg(m->wait_exit(t::scaled(10), &status), "the master did not stop");
    ck_assert_msg(WIFEXITED(status), "the master ended with status %#x", status);
}
END_TEST

// A log the master can no longer write (its stderr a pipe whose reader is
// gone) does not kill it: it ignores SIGPIPE, starts its workers, reloads
// and stops as usual.
START_TEST(master_survives_a_broken_stderr) {
    Extras extras;
    extras.stderr_broken = true;
    MasterUnderTest m(base_config(1), WorkerKind::Serve, ReaperKind::None, extras);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() == 1; }, 20), "no worker started");
    m.set_reload("workers 2\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() == 3; }, 20),
                  "no new generation after the reload");
    int status = 0;
    ck_assert_int_eq(kill(m.pid(), SIGTERM), 0);
    ck_assert_msg(m.wait_exit(t::scaled(10), &status), "the master did not stop");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the master ended with status %#x", status);
}
END_TEST

// The master starts every worker before it says it is serving; with no
// scoreboard slot left it logs it and tries again a second later (not in a
// busy loop), and starts the worker once a slot is free.
START_TEST(no_free_slot_is_retried_each_second) {
    Extras extras;
    extras.scoreboard = true;
    // Every slot but one taken, by pids no process can have (above pid_max).
    extras.prepare = [](talentd::daemon::Scoreboard* b) {
        for (int i = 0; i < talentd::daemon::kSlotCapacity - 1; ++i) {
            int slot = b->assign_slot();
            ck_assert_int_ge(slot, 0);
            b->spawned(slot, static_cast<pid_t>(0x7ff00000 + i), 1);
        }
    };
    auto owner = std::make_unique<MasterUnderTest>(base_config(2), WorkerKind::Serve, ReaperKind::None, extras);
    MasterUnderTest* m = owner.get();
    ck_assert_msg(t::wait_for([&] { return m->log().find("no free scoreboard slot") != std::string::npos; }, 20),
                  "%s", m->log().c_str());
    ck_assert_msg(t::wait_for([&] { return only(m->all(), "start").size() == 1; }, 20), "%zu starts",
                  only(m->all(), "start").size());
    // Retried about once a second: a few lines in 3 s, not thousands.
    const double from = monotonic(), wait = t::scaled(3);
    while (monotonic() - from < wait) usleep(100 * 1000);
    const std::string log = m->log();
    size_t lines = 0;
    for (size_t at = 0; (at = log.find("no free scoreboard slot", at)) != std::string::npos; ++at) ++lines;
    ck_assert_msg(lines >= 2 && lines <= wait + 3, "%zu 'no free slot' lines in %.0f s and a bit (one a second)", lines,
                  wait);
    m->board()->reaped(static_cast<pid_t>(0x7ff00000));
    ck_assert_msg(t::wait_for([&] { return only(m->all(), "start").size() == 2; }, 20),
                  "the second worker did not start once a slot was free\n%s", m->log().c_str());
}
END_TEST

// Every worker starts before the master announces that it serves (one pass,
// not one worker per timer tick).
START_TEST(all_workers_start_before_serving) {
    MasterUnderTest m(base_config(3), WorkerKind::Serve, false);
    ck_assert(t::wait_for([&] { return m.log().find("master ") != std::string::npos; }, 20));
    const std::string log = m.log();
    const size_t serving = log.find("master ");
    size_t started = 0;
    for (size_t at = 0; (at = log.find(" started (generation 1)", at)) != std::string::npos && at < serving; ++at)
        ++started;
    ck_assert_msg(started == 3, "%zu of 3 workers started before 'master ... 3 workers on'\n%s", started, log.c_str());
}
END_TEST

// A request running past slow_request_threshold is logged once (not every
// second), and the listen queue's depth reaches the scoreboard.
START_TEST(slow_request_logged_once_and_listen_queue_sampled) {
    Config c = base_config(1);
    c.slow_request_threshold = 1;
    Extras extras;
    extras.scoreboard = true;
    MasterUnderTest m(c, WorkerKind::Slow, ReaperKind::None, extras);
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 1; }, 20));
    const long worker = only(m.all(), "start")[0].pid;
    const std::string line = "slow request running: worker " + std::to_string(worker) + " POST /api/slow-test";
    ck_assert_msg(t::wait_for([&] { return m.log().find(line) != std::string::npos; }, 20), "no '%s'\n%s",
                  line.c_str(), m.log().c_str());
    // Nobody accepts: three connections wait in the queue.
    std::vector<int> clients;
    for (int i = 0; i < 3; ++i) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string path = m.config().listen.substr(5);
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        ck_assert_int_eq(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        clients.push_back(fd);
    }
    ck_assert_msg(t::wait_for([&] { return m.snapshot().listen_queue_max == 3; }, 20), "listen_queue_max %llu",
                  static_cast<unsigned long long>(m.snapshot().listen_queue_max));
    for (int fd : clients) close(fd);
    // Two more samples at least (one a second) while the request still runs.
    const double from = monotonic();
    while (monotonic() - from < 2.5) usleep(100 * 1000);
    size_t lines = 0;
    const std::string log = m.log();
    for (size_t at = 0; (at = log.find(line, at)) != std::string::npos; ++at) ++lines;
    ck_assert_msg(lines == 1, "the slow request was logged %zu times\n%s", lines, log.c_str());
}
END_TEST

// Old workers that ignore SIGTERM are killed drain_timeout after a reload,
// not before; the new generation runs on.
START_TEST(reload_kills_old_workers_after_drain_timeout) {
    Config c = base_config(2);
    c.drain_timeout = 1;
    MasterUnderTest m(c, WorkerKind::Stubborn, false);
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 2; }, 20));
    std::vector<Event> old = only(m.all(), "start");
    m.set_reload("workers 1 drain 1\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "exited").size() == 2; }, 20),
                  "old workers still run\n%s", m.log().c_str());
    const double reloaded = only(m.all(), "reload")[0].at;
    for (const Event& e : only(m.all(), "exited")) {
        ck_assert_msg(e.at - reloaded >= 0.95, "an old worker was killed %.3f s after the reload, drain_timeout 1 s",
                      e.at - reloaded);
        ck_assert(!alive(e.pid));
    }
    ck_assert_msg(m.log().find("old worker " + std::to_string(old[0].pid) + " did not finish within drain_timeout") !=
                      std::string::npos,
                  "%s", m.log().c_str());
    ck_assert_int_eq(only(m.all(), "start").size(), 3);
    ck_assert(alive(only(m.all(), "start")[2].pid));
}
END_TEST

// A reload starts the new generation at once, even during a crash loop's
// backoff: the operator's fix is not kept waiting for it.  (The bound is
// scaled under sanitizers; in a plain build it is half the 4 s backoff.)
START_TEST(reload_starts_workers_during_a_backoff) {
    Config c = base_config(1);
    c.respawn_backoff_max = 8;
    MasterUnderTest m(c, WorkerKind::Crash, false);
    ck_assert_msg(t::wait_for([&] { return m.log().find("next start in 4 s") != std::string::npos; }, 60), "%s",
                  m.log().c_str());
    const size_t before = only(m.all(), "start").size();
    m.set_reload("workers 1\n");
    const double reload_at = monotonic();
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() > before; }, 20), "no start after the reload");
    const double after = only(m.all(), "start")[before].at - reload_at;
    ck_assert_msg(after < t::scaled(2), "the new generation started %.2f s after the reload, in a 4 s backoff", after);
}
END_TEST

// Of two old workers, one finishes at once and the other ignores SIGTERM:
// the one that finished does not take the other's drain deadline with it,
// so the stubborn one is still killed at drain_timeout.
START_TEST(reload_kills_the_stubborn_one_of_two) {
    Config c = base_config(2);
    MasterUnderTest m(c, WorkerKind::StubbornButOne, false);
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 2; }, 20));
    m.set_reload("workers 1 drain 1\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "term").size() == 1; }, 20), "the polite worker did not finish");
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "exited").size() == 2; }, 20),
                  "the stubborn old worker still runs\n%s", m.log().c_str());
    ck_assert_msg(m.log().find("did not finish within drain_timeout") != std::string::npos, "%s", m.log().c_str());
}
END_TEST

// Stop with workers and a reaper that ignore SIGTERM: after drain_timeout
// both are killed, their rows cleared, and the master exits 0.
START_TEST(stop_kills_what_outlives_drain_timeout) {
    Config c = base_config(2);
    c.drain_timeout = 1;
    c.reap_interval = 1;
    Extras extras;
    extras.scoreboard = true;
    adopt_orphans();
    MasterUnderTest m(c, WorkerKind::Stubborn, ReaperKind::Stubborn, extras);
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 2 && only(m.all(), "reap").size() == 1; },
                          30));
    const long reaper = only(m.all(), "reap")[0].pid;
    ck_assert_int_eq(kill(m.pid(), SIGTERM), 0);
    int status = 0;
    const bool exited = m.wait_exit(60, &status);
    if (!exited && alive(reaper)) kill(static_cast<pid_t>(reaper), SIGKILL);
    ck_assert_msg(exited, "the master did not exit\n%s", m.log().c_str());
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "master status %d", status);
    ck_assert_msg(!alive(reaper), "the reaper outlived the master");
    for (const Event& e : only(m.all(), "start")) ck_assert_msg(!alive(e.pid), "worker %ld outlived the master", e.pid);
    expect_no_child_left();
    ck_assert_msg(m.log().find("did not finish within drain_timeout: killing it") != std::string::npos, "%s",
                  m.log().c_str());
    ck_assert_msg(m.snapshot().workers.empty(), "%zu rows left after the stop", m.snapshot().workers.size());
}
END_TEST

// Workers that drain in time, a reaper that ignores SIGTERM: the reaper is
// killed at drain_timeout, and the master waits for it before it exits.
START_TEST(stop_waits_for_the_killed_reaper) {
    Config c = base_config(1);
    c.drain_timeout = 1;
    c.reap_interval = 1;
    adopt_orphans();
    MasterUnderTest m(c, WorkerKind::Serve, ReaperKind::Stubborn, Extras{});
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 1 && only(m.all(), "reap").size() == 1; },
                          30));
    ck_assert_int_eq(kill(m.pid(), SIGTERM), 0);
    int status = 0;
    ck_assert_msg(m.wait_exit(60, &status), "the master did not exit\n%s", m.log().c_str());
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "master status %d", status);
    expect_no_child_left();
}
END_TEST

// A reaper pass that outlasts reap_interval is not joined by another; a
// stop during it asks the reaper with SIGTERM (it finishes the row it is
// on), not SIGKILL.
START_TEST(stop_asks_the_reaper_with_sigterm) {
    Config c = base_config(1);
    c.reap_interval = 1;
    MasterUnderTest m(c, WorkerKind::Serve, ReaperKind::Sleepy, Extras{});
    ck_assert(t::wait_for([&] { return only(m.all(), "reap").size() == 1; }, 30));
    // One pass at a time: no second reaper while the first still runs,
    // however many reap_intervals pass.
    const double from = monotonic();
    while (monotonic() - from < 2.5) usleep(100 * 1000);
    ck_assert_msg(only(m.all(), "reap").size() == 1, "%zu reaper passes at once", only(m.all(), "reap").size());
    ck_assert_int_eq(kill(m.pid(), SIGTERM), 0);
    int status = 0;
    ck_assert_msg(m.wait_exit(60, &status), "the master did not exit");
    ck_assert_msg(only(m.all(), "reaperterm").size() == 1,
                  "the reaper did not get SIGTERM, or was killed before it finished\n%s", m.log().c_str());
    ck_assert(!alive(only(m.all(), "reap")[0].pid));
    ck_assert_msg(m.log().find("did not finish within drain_timeout") == std::string::npos, "%s", m.log().c_str());
}
END_TEST

// The first reaper pass comes 5 s after the start even with a long
// reap_interval (a restart does not postpone clean-up by reap_interval).
START_TEST(first_reaper_pass_comes_soon_after_start) {
    Config c = base_config(1);
    c.reap_interval = 300;
    // Before the master exists: its start can only be later (a lower bound
    // that a slow fork cannot break).
    const double before_start = monotonic();
    MasterUnderTest m(c, WorkerKind::Serve, true);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "reap").size() == 1; }, 30), "no reaper pass\n%s",
                  m.log().c_str());
    const double after = only(m.all(), "reap")[0].at - before_start;
    ck_assert_msg(after >= 4.95, "first pass %.3f s after the start, expected 5 s", after);
}
END_TEST

// SIGHUP cannot move the listening socket (it is open already): the new
// workers keep the old listen, the change is logged; a new log_level applies
// at once.
START_TEST(reload_keeps_listen_and_applies_log_level) {
    MasterUnderTest m(base_config(1), WorkerKind::Serve, false);
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 1; }, 20));
    m.set_reload("workers 1 listen unix:/nonexistent/elsewhere.sock log warn\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() == 2; }, 20), "%s", m.log().c_str());
    const Event fresh = only(m.all(), "start")[1];
    ck_assert_msg(fresh.listen == m.config().listen, "the new worker got listen %s, not %s", fresh.listen.c_str(),
                  m.config().listen.c_str());
    const std::string log = m.log();
    ck_assert_msg(log.find("listen changed from " + m.config().listen + " to unix:/nonexistent/elsewhere.sock") !=
                      std::string::npos,
                  "%s", log.c_str());
    ck_assert_msg(log.find("(generation 2)") == std::string::npos, "debug lines after a reload to warn:\n%s",
                  log.c_str());
}
END_TEST

// Type=notify: systemd learns from NOTIFY_SOCKET that the master is ready
// (with its pid), reloading and ready again (or still running the previous
// configuration), and stopping.  Every message, in order, on a datagram
// socket the test binds as systemd does.
START_TEST(master_notifies_systemd) {
    t::TempDir dir("talentd-notify-test");
    const std::string path = dir.file("notify");
    int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ck_assert_int_eq(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    std::vector<std::string> got;
    auto receive = [&](size_t n) {
        return t::wait_for(
            [&] {
                char buf[512];
                ssize_t len;
                while ((len = recv(sock, buf, sizeof buf, MSG_DONTWAIT)) > 0) got.emplace_back(buf, len);
                return got.size() >= n;
            },
            20);
    };
    MasterUnderTest m(base_config(1), WorkerKind::Serve, false);
    unsetenv("NOTIFY_SOCKET");
    ck_assert_msg(receive(1), "no READY=1");
    const std::string ready = "READY=1\nMAINPID=" + std::to_string(m.pid()) + "\nSTATUS=serving";
    ck_assert_str_eq(got[0].c_str(), ready.c_str());
    m.set_reload("workers 1\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(receive(3), "%zu messages after a reload", got.size());
    ck_assert_str_eq(got[1].c_str(), "RELOADING=1");
    ck_assert_str_eq(got[2].c_str(), "READY=1\nSTATUS=serving (reloaded)");
    m.set_reload("broken\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert_msg(receive(5), "%zu messages after a broken reload", got.size());
    ck_assert_str_eq(got[3].c_str(), "RELOADING=1");
    ck_assert_str_eq(got[4].c_str(), "READY=1\nSTATUS=reload failed; running the previous configuration");
    ck_assert_int_eq(kill(m.pid(), SIGTERM), 0);
    ck_assert_msg(receive(6), "no STOPPING=1");
    ck_assert_str_eq(got[5].c_str(), "STOPPING=1");
    close(sock);
}
END_TEST


// An idle master sleeps between its timers (the once-a-second scoreboard
// sample, the workers' watch): over 3 s it uses a few milliseconds of CPU.
// A wrong wake-up time (a timer in the past, a timeout rounded to zero)
// makes it spin, which uses most of a core even on a busy machine.
START_TEST(idle_master_sleeps) {
    Extras extras;
    extras.scoreboard = true;
    // Also with a reaper hook and reap_interval = 0 (the reaper off): no
    // timer of a reaper that never runs.
    for (ReaperKind reaper : {ReaperKind::None, ReaperKind::Quick}) {
        MasterUnderTest m(base_config(2), WorkerKind::Serve, reaper, extras);
        ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 2; }, 20));
        usleep(300 * 1000);
        const double before = t::process_cpu_seconds(m.pid()), from = monotonic();
        const long woken_before = wake_ups(m.pid());
        ck_assert_msg(woken_before >= 0, "no voluntary_ctxt_switches in /proc/%d/status", static_cast<int>(m.pid()));
        while (monotonic() - from < 3) usleep(100 * 1000);
        const double used = t::process_cpu_seconds(m.pid()) - before;
        const long woken = wake_ups(m.pid()) - woken_before;
        const char* what = reaper == ReaperKind::None ? "no reaper" : "reap_interval 0";
        ck_assert_msg(used < 0.3, "the idle master (%s) used %.2f s of CPU in %.1f s", what, used, monotonic() - from);
        // Woken by its timers (the scoreboard's sample once a second), not
        // every millisecond: a timeout far too short costs little CPU, but
        // shows as thousands of wake-ups.
        ck_assert_msg(woken < 30, "the idle master (%s) woke %ld times in %.1f s", what, woken,
                      monotonic() - from);
        ck_assert_msg(only(m.all(), "reap").empty(), "a reaper pass with reap_interval = 0");
    }
}
END_TEST

// What a forked child starts with.  A worker: the stop signals blocked
// (they are delivered only while it waits, worker.h) and caught, SIGCHLD
// at its default, the listening socket open.  A reaper: nothing blocked,
// SIGTERM at its default (a stop ends it), SIGHUP and SIGINT ignored (they
// are for the master), the listening socket closed (a long pass must not
// hold it after the master is gone).
START_TEST(children_start_with_their_signals) {
    Config c = base_config(1);
    c.reap_interval = 1;
    MasterUnderTest m(c, WorkerKind::Serve, true);
    ck_assert(t::wait_for([&] { return only(m.all(), "reap").size() == 1; }, 30));
    const long worker = only(m.all(), "start")[0].pid, reaper = only(m.all(), "reap")[0].pid;
    std::string worker_state, reaper_state;
    for (const Event& e : only(m.all(), "sigs")) {
        if (e.pid == worker) worker_state = e.extra;
        if (e.pid == reaper) reaper_state = e.extra;
    }
    ck_assert_str_eq(worker_state.c_str(), "blocked=THI,T=handler,H=handler,I=handler,C=dfl,listen=open");
    ck_assert_str_eq(reaper_state.c_str(), "blocked=,T=dfl,H=ign,I=ign,C=dfl,listen=closed");
}
END_TEST

// A master started with its signals blocked (a shell's or a supervisor's
// mask is inherited across exec) still hears each of them while it waits:
// SIGHUP reloads, SIGCHLD reaps the old worker, SIGINT and SIGTERM stop it.
// Without a scoreboard it sleeps up to 60 s between timers, so a signal it
// only saw at the next timer would miss every deadline here.
START_TEST(signals_blocked_at_start_are_still_heard) {
    Extras extras;
    extras.start_blocked = true;
    for (int stop : {SIGINT, SIGTERM}) {
        MasterUnderTest m(base_config(1), WorkerKind::Serve, ReaperKind::None, extras);
        ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 1; }, 20));
        m.set_reload("workers 1\n");
        ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
        ck_assert_msg(t::wait_for([&] { return only(m.all(), "start").size() == 2; }, 20), "SIGHUP unheard\n%s",
                      m.log().c_str());
        ck_assert_msg(t::wait_for([&] { return only(m.all(), "exited").size() == 1; }, 20),
                      "the old worker's SIGCHLD unheard\n%s", m.log().c_str());
        ck_assert_int_eq(kill(m.pid(), stop), 0);
        int status = 0;
        ck_assert_msg(m.wait_exit(20, &status), "%s unheard\n%s", strsignal(stop), m.log().c_str());
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}
END_TEST

// Old workers that finish within drain_timeout are not killed: no "did not
// finish" line after the deadline has passed.
START_TEST(drained_workers_are_not_killed) {
    Config c = base_config(2);
    c.drain_timeout = 1;
    MasterUnderTest m(c, WorkerKind::Serve, false);
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 2; }, 20));
    m.set_reload("workers 2 drain 1\n");
    ck_assert_int_eq(kill(m.pid(), SIGHUP), 0);
    ck_assert(t::wait_for([&] { return only(m.all(), "exited").size() == 2 && only(m.all(), "start").size() == 4; }, 20));
    const double from = monotonic();
    while (monotonic() - from < 1.5) usleep(100 * 1000);
    ck_assert_msg(m.log().find("did not finish") == std::string::npos, "a drained worker was killed:\n%s",
                  m.log().c_str());
    ck_assert_int_eq(only(m.all(), "term").size(), 2);
}
END_TEST

// slow_request_threshold = 0 turns the slow log off: a request that runs
// for seconds is not reported.
START_TEST(slow_log_off_at_zero) {
    Config c = base_config(1);
    c.slow_request_threshold = 0;
    Extras extras;
    extras.scoreboard = true;
    MasterUnderTest m(c, WorkerKind::Slow, ReaperKind::None, extras);
    ck_assert(t::wait_for([&] { return only(m.all(), "start").size() == 1; }, 20));
    const double from = monotonic();
    while (monotonic() - from < 2.5) usleep(100 * 1000);
    ck_assert_msg(m.log().find("slow request running") == std::string::npos, "%s", m.log().c_str());
}
END_TEST

int main() {
    Suite* s = suite_create("master");
    TCase* tc = tcase_create("processes");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, stop_sends_sigterm_to_workers);
    tcase_add_test(tc, signals_blocked_at_start_are_still_heard);
    tcase_add_test(tc, reload_applies_the_changed_configuration);
    tcase_add_test(tc, reload_with_a_broken_configuration_keeps_running);
    tcase_add_test(tc, crash_loop_backs_off);
    tcase_add_test(tc, master_runs_the_periodic_reaper);
    tcase_add_test(tc, unix_socket_has_socket_mode);
    tcase_add_test(tc, master_notifies_systemd);
    tcase_add_test(tc, idle_master_sleeps);
    tcase_add_test(tc, children_start_with_their_signals);
    tcase_add_test(tc, drained_workers_are_not_killed);
    tcase_add_test(tc, slow_log_off_at_zero);
    tcase_add_test(tc, master_keeps_the_scoreboard);
    tcase_add_test(tc, crashes_are_counted_on_the_scoreboard);
    tcase_add_test(tc, no_free_slot_is_retried_each_second);
    tcase_add_test(tc, failed_fork_is_retried_each_second);
    tcase_add_test(tc, master_survives_a_broken_stderr);
    tcase_add_test(tc, all_workers_start_before_serving);
    tcase_add_test(tc, slow_request_logged_once_and_listen_queue_sampled);
    tcase_add_test(tc, reload_kills_old_workers_after_drain_timeout);
    tcase_add_test(tc, reload_kills_the_stubborn_one_of_two);
    tcase_add_test(tc, reload_starts_workers_during_a_backoff);
    tcase_add_test(tc, stop_kills_what_outlives_drain_timeout);
    tcase_add_test(tc, stop_waits_for_the_killed_reaper);
    tcase_add_test(tc, stop_asks_the_reaper_with_sigterm);
    tcase_add_test(tc, first_reaper_pass_comes_soon_after_start);
    tcase_add_test(tc, reload_keeps_listen_and_applies_log_level);
    suite_add_tcase(s, tc);
    SRunner* r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
