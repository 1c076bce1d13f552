// Test scratch space: a temporary directory, small file helpers, the source
// tree, and child processes started inside the directory.
//
// Everything here is owned by the process that created it: a Check test
// forked from the process that made a TempDir or a ChildProcess never removes
// or stops it (its destructors do nothing in another pid).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace talentd::test {

// mkdtemp("$TMPDIR/<tag>.XXXXXX"); removed recursively by the destructor.
class TempDir {
  public:
    explicit TempDir(const std::string& tag = "talentd-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }  // path()/name

  private:
    std::string path_;
    pid_t owner_;
};

bool write_file(const std::string& path, const std::string& content);
// `line` and a newline appended with one write(2) (O_APPEND): lines that
// several processes append never mix.  Nothing on error.
void append_line(const std::string& path, const std::string& line);
// A connection to the unix socket at `path`; -1 if refused.
int connect_unix(const std::string& path);
std::string read_file(const std::string& path);  // "" if unreadable

// Absolute path of `relative` (e.g. "nginx/talentd-egress.conf") in the source
// tree: $TALENTD_SOURCE_DIR if set, else the first ancestor of the working
// directory that holds it; "" if not found.
std::string source_path(const std::string& relative);

// The absolute path of an executable found in $PATH, "" if none.
std::string find_program(const std::string& name);

// A child process: argv[0] is the program's path; stdout and stderr go to
// log_path; no other descriptor is inherited; it gets SIGTERM if the
// process that started it dies.
class ChildProcess {
  public:
    ChildProcess() = default;
    ~ChildProcess() { stop(); }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    bool start(const std::vector<std::string>& argv, const std::string& log_path, std::string* error);
    // Sends `signal` to this pid only, waits up to grace_seconds, then
    // SIGKILL; reaps it.  No-op when not running or in another process.
    void stop(int signal = 15, double grace_seconds = 5);
    // True while the child runs; reaps it if it has exited.
    bool running();
    pid_t pid() const { return pid_; }
    int exit_status() const { return status_; }  // waitpid status once reaped

  private:
    pid_t pid_ = -1;
    pid_t owner_ = -1;
    int status_ = 0;
};

}  // namespace talentd::test
