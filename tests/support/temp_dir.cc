#include <cstdio>
#include <sys/un.h>
#include <sys/socket.h>
#include "temp_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace talentd::test {

TempDir::TempDir(const std::string& tag) : owner_(getpid()) {
    const char* base = getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/" + tag + ".XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data())) path_ = buffer.data();
}

TempDir::~TempDir() {
    if (path_.empty() || getpid() != owner_) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

void append_line(const std::string& path, const std::string& line) {
    int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    const std::string text = line + "\n";
    ssize_t ignored = write(fd, text.data(), text.size());
    (void)ignored;
    close(fd);
}

int connect_unix(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    return static_cast<bool>(out.flush());
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

std::string source_path(const std::string& relative) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (const char* root = getenv("TALENTD_SOURCE_DIR"); root && *root) {
        fs::path candidate = fs::path(root) / relative;
        return fs::exists(candidate, ec) ? candidate.string() : "";
    }
    for (fs::path dir = fs::current_path(ec); !dir.empty(); dir = dir.parent_path()) {
        fs::path candidate = dir / relative;
        if (fs::exists(candidate, ec)) return fs::absolute(candidate, ec).string();
        if (dir == dir.root_path()) break;
    }
    return "";
}

std::string find_program(const std::string& name) {
    const char* path = getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "";
}

bool ChildProcess::start(const std::vector<std::string>& argv, const std::string& log_path, std::string* error) {
    if (argv.empty()) {
        *error = "no program";
        return false;
    }
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
        *error = log_path + ": " + strerror(errno);
        return false;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *error = std::string("fork: ") + strerror(errno);
        close(log);
        return false;
    }
    if (pid == 0) {
        // Only async-signal-safe calls from here to exec.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        execv(args[0], args.data());
        _exit(127);
    }
    close(log);
    pid_ = pid;
    owner_ = parent;
    status_ = 0;
    return true;
}

bool ChildProcess::running() {
    if (pid_ <= 0 || getpid() != owner_) return false;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    if (r == pid_) status_ = status;
    pid_ = -1;
    return false;
}

void ChildProcess::stop(int signal, double grace_seconds) {
    if (pid_ <= 0 || getpid() != owner_) return;
    kill(pid_, signal);
    timespec start{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_ || (r < 0 && errno != EINTR)) {
            status_ = status;
            break;
        }
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = double(now.tv_sec - start.tv_sec) + double(now.tv_nsec - start.tv_nsec) / 1e9;
        if (elapsed > grace_seconds) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status_, 0);
            break;
        }
        usleep(10 * 1000);
    }
    pid_ = -1;
}

}  // namespace talentd::test
