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
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "../support/temp_dir.h"
#include "../support/timing.h"
#include "core/config.h"
#include "core/log.h"
#include "daemon/listener.h"
#include "daemon/master.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

namespace t = talentd::test;
using talentd::Config;

namespace {

double monotonic() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

// One line appended with one write(2) (O_APPEND): lines of several processes never mix.
void event(const std::string& file, const std::string& line) {
    int fd = open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    std::string text = line + "\n";
    ssize_t ignored = write(fd, text.data(), text.size());
    (void)ignored;
    close(fd);
}

struct Event {
    std::string what;   // start, term, reap, reload
    long pid = 0;
    double at = 0;      // CLOCK_MONOTONIC
    int workers = 0;    // the configuration the process got
};

std::vector<Event> events(const std::string& file) {
    std::vector<Event> out;
    std::istringstream in(t::read_file(file));
    std::string line;
    while (std::getline(in, line)) {
        Event e;
        std::istringstream fields(line);
        fields >> e.what >> e.pid >> e.at >> e.workers;
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
    Serve,   // waits for SIGTERM/SIGHUP/SIGINT, writes "term", exits 0
    Crash,   // exits 1 at once
};

// run_master() in a child process; the master's log (stderr) in DIR/master.log.
class MasterUnderTest {
  public:
    MasterUnderTest(Config config, WorkerKind kind, bool with_reaper) : kind_(kind) {
        config.listen = "unix:" + dir_.file("talentd.sock");
        config.log_level = "debug";
        config_ = config;
        events_ = dir_.file("events");
        reload_ = dir_.file("reload");
        std::string why;
        listen_fd_ = talentd::daemon::open_listener(config_.listen, 16, config_.socket_mode, &why);
        ck_assert_msg(listen_fd_ >= 0, "open_listener: %s", why.c_str());
        const std::string events = events_, reload = reload_;
        hooks_.worker = [events, kind](const Config& c, int) {
            event(events, "start " + std::to_string(getpid()) + " " + std::to_string(monotonic()) + " " +
                              std::to_string(c.workers));
            if (kind == WorkerKind::Crash) return 1;
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
        if (with_reaper)
            hooks_.reaper = [events](const Config& c) {
                event(events, "reap " + std::to_string(getpid()) + " " + std::to_string(monotonic()) + " " +
                                  std::to_string(c.workers));
                return 0;
            };
        // The reload hook reads DIR/reload: "workers N" or "broken".
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
            return true;
        };
        pid_ = fork();
        ck_assert_int_ge(pid_, 0);
        if (pid_ == 0) {
            int log = open(dir_.file("master.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            dup2(log, 2);
            talentd::log::configure("debug", "talentd");
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

  private:
    t::TempDir dir_{"talentd-master-test"};
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

}  // namespace

// SIGTERM to the master: every worker is asked with SIGTERM (a drain), not
// killed, and the master exits 0 once they have finished.
START_TEST(stop_sends_sigterm_to_workers) {
    MasterUnderTest m(base_config(3), WorkerKind::Serve, false);
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

int main() {
    Suite* s = suite_create("master");
    TCase* tc = tcase_create("processes");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, stop_sends_sigterm_to_workers);
    tcase_add_test(tc, reload_applies_the_changed_configuration);
    tcase_add_test(tc, reload_with_a_broken_configuration_keeps_running);
    tcase_add_test(tc, crash_loop_backs_off);
    tcase_add_test(tc, master_runs_the_periodic_reaper);
    tcase_add_test(tc, unix_socket_has_socket_mode);
    suite_add_tcase(s, tc);
    SRunner* r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
