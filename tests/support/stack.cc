#include "stack.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/config.h"
#include "temp_dir.h"

extern char** environ;

namespace talentd::test {

namespace fs = std::filesystem;

namespace {

std::string executable_dir() {
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? "" : exe.parent_path().string();
}

// The first of `start` and its ancestors for which `ok` holds, "" if none.
template <typename Pred>
std::string find_upwards(const std::string& start, Pred ok) {
    if (start.empty()) return "";
    for (fs::path dir = start; !dir.empty(); dir = dir.parent_path()) {
        if (ok(dir)) return dir.string();
        if (dir == dir.root_path()) break;
    }
    return "";
}

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// Undoes bash's printf %q for the values tests/stack writes: '...' quoting,
// $'...' quoting of control characters is not expected, backslash escapes.
std::string unquote_shell(const std::string& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        char c = v[i];
        if (c == '\'') {
            size_t end = v.find('\'', i + 1);
            if (end == std::string::npos) end = v.size();
            out += v.substr(i + 1, end - i - 1);
            i = end;
        } else if (c == '\\' && i + 1 < v.size()) {
            out.push_back(v[++i]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

void close_inherited_fds() {
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = 3; fd < max; ++fd) close(fd);
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* headers = static_cast<std::map<std::string, std::string>*>(user);
    std::string line(data, size * count);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        (*headers)[name] = trim(line.substr(colon + 1));
    }
    return size * count;
}

bool is_loopback_url(const std::string& url) {
    for (const char* prefix : {"https://127.0.0.1", "http://127.0.0.1", "https://localhost", "http://localhost"}) {
        std::string p = prefix;
        if (url.compare(0, p.size(), p) == 0 &&
            (url.size() == p.size() || url[p.size()] == ':' || url[p.size()] == '/'))
            return true;
    }
    return false;
}

}  // namespace

std::string stack_source_root() {
    if (const char* root = getenv("TALENTD_SOURCE_DIR"); root && *root) return root;
    auto has_script = [](const fs::path& d) {
        std::error_code ec;
        return fs::exists(d / "tests" / "stack", ec) && fs::exists(d / "nginx" / "talentd-location.conf", ec);
    };
    std::error_code ec;
    std::string root = find_upwards(fs::current_path(ec).string(), has_script);
    return root.empty() ? find_upwards(executable_dir(), has_script) : root;
}

std::string stack_build_dir() {
    if (const char* build = getenv("TALENTD_BUILD"); build && *build) return build;
    return find_upwards(executable_dir(), [](const fs::path& d) {
        return access((d / "talentd").c_str(), X_OK) == 0 && access((d / "talentctl").c_str(), X_OK) == 0;
    });
}

int run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env_extra,
                std::string* output) {
    if (argv.empty()) return -1;
    // Everything the child needs is built before fork (a test may have threads).
    std::vector<std::string> env_strings;
    for (char** e = environ; e && *e; ++e) {
        std::string kv = *e;
        std::string name = kv.substr(0, kv.find('='));
        if (!env_extra.count(name)) env_strings.push_back(kv);
    }
    for (const auto& [k, v] : env_extra) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = argv;
    for (auto& s : argv_copy) args.push_back(s.data());
    args.push_back(nullptr);

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close_inherited_fds();
        execve(args[0], args.data(), envp.data());
        const char msg[] = "run_command: exec failed\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    close(pipefd[1]);
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n > 0) out.append(buf, static_cast<size_t>(n));
        else if (n < 0 && errno == EINTR) continue;
        else break;
    }
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (output) *output = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<pid_t> child_pids(pid_t parent) {
    std::vector<pid_t> out;
    DIR* proc = opendir("/proc");
    if (!proc) return out;
    while (dirent* e = readdir(proc)) {
        if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
        std::string stat = read_file(std::string("/proc/") + e->d_name + "/stat");
        size_t close_paren = stat.rfind(')');
        if (close_paren == std::string::npos) continue;
        std::istringstream rest(stat.substr(close_paren + 1));
        std::string state;
        long ppid = 0;
        rest >> state >> ppid;
        if (ppid == parent && state != "Z") out.push_back(static_cast<pid_t>(std::atol(e->d_name)));
    }
    closedir(proc);
    std::sort(out.begin(), out.end());
    return out;
}

bool process_alive(pid_t pid) {
    if (pid <= 0) return false;
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return false;
    return stat[close_paren + 2] != 'Z';
}

std::unique_ptr<Stack> Stack::start(const std::map<std::string, std::string>& env_extra, std::string* why) {
    std::string root = stack_source_root();
    std::string build = stack_build_dir();
    if (root.empty()) return *why = "tests/stack not found (set TALENTD_SOURCE_DIR)", nullptr;
    if (build.empty()) return *why = "build directory not found (set TALENTD_BUILD)", nullptr;
    curl_global_init(CURL_GLOBAL_DEFAULT);

    const char* base = getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/talentd-stack.XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (!mkdtemp(buffer.data())) return *why = std::string("mkdtemp: ") + std::strerror(errno), nullptr;

    std::unique_ptr<Stack> stack(new Stack());
    stack->dir_ = buffer.data();
    stack->script_ = root + "/tests/stack";
    stack->build_ = fs::absolute(build).string();
    stack->owner_ = getpid();
    std::map<std::string, std::string> env = env_extra;
    env["TALENTD_BUILD"] = stack->build_;
    env["STACK_OWNER_PID"] = std::to_string(getpid());
    std::string output;
    int status = run_command({"/bin/bash", stack->script_, "start", stack->dir_}, env, &output);
    stack->started_ = true;  // a failed start stopped what it had started; the destructor checks again
    if (status != 0) {
        *why = "tests/stack start failed (status " + std::to_string(status) + "):\n" + output;
        return nullptr;
    }
    return stack;
}

Stack::~Stack() {
    if (dir_.empty() || getpid() != owner_) return;
    if (started_) {
        std::string output;
        int status = run_command({"/bin/bash", script_, "stop", dir_}, {}, &output);
        if (status != 0) {
            // Something may still run in there: keep its logs and pids.
            std::fprintf(stderr, "stack: `tests/stack stop %s` failed (status %d); the folder is kept\n%s\n",
                         dir_.c_str(), status, output.c_str());
            return;
        }
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
}

std::string Stack::get(const std::string& key) const {
    std::istringstream in(read_file(dir_ + "/stack.env"));
    std::string line;
    while (std::getline(in, line)) {
        size_t eq = line.find('=');
        if (eq == std::string::npos || line.compare(0, eq, key) != 0 || eq != key.size()) continue;
        return unquote_shell(line.substr(eq + 1));
    }
    return "";
}

int Stack::talentctl(const std::vector<std::string>& args, std::string* output) const {
    std::vector<std::string> argv = {build_ + "/talentctl", "-c", get("TALENTD_CONF")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, {}, output);
}

std::string Stack::token_for(int64_t user_id) const {
    std::string output;
    if (talentctl({"token", "--user", std::to_string(user_id), "--ttl", "3600"}, &output) != 0) return "";
    // The token is the last line (a warning may come before it on stderr).
    std::string text = trim(output);
    size_t nl = text.rfind('\n');
    return nl == std::string::npos ? text : trim(text.substr(nl + 1));
}

bool Stack::add_talent_user(int64_t id, std::string* why) const {
    return add_user(id, "user" + std::to_string(id) + "@example.com", true, true, why);
}

namespace {
std::string sql_text(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "''";
        else out.push_back(c);
    }
    return out + "'";
}
}  // namespace

bool Stack::add_user(int64_t id, const std::string& email, bool talent, bool active, std::string* why) const {
    const std::string n = std::to_string(id);
    std::string output;
    int status;
    if (django_layout()) {
        // As Django's create_user: unusable password, username, flags, date_joined.
        status = sql("INSERT INTO accounts_user (id, password, last_login, is_superuser, username, first_name, "
                     "last_name, is_staff, is_active, date_joined, email, is_talent) VALUES (" +
                         n + ", '!unusable', NULL, false, " + sql_text("user" + n) + ", 'Test', " +
                         sql_text("User" + n) + ", false, " + (active ? "true" : "false") + ", now(), " +
                         sql_text(email) + ", " + (talent ? "true" : "false") + ")",
                     &output);
    } else {
        std::vector<std::string> args = {"user", "add", "--id", n, "--email", email, "--first-name", "Test",
                                         "--last-name", "User" + n};
        if (talent) args.push_back("--talent");
        if (!active) args.push_back("--inactive");
        status = talentctl(args, &output);
    }
    if (status != 0 && why) *why = "add user " + n + ": status " + std::to_string(status) + ": " + output;
    return status == 0;
}

int Stack::sql(const std::string& statement, std::string* output) const {
    return run_command({"/bin/bash", script_, "sql", dir_, statement}, {}, output);
}

std::unique_ptr<db::Database> Stack::open_database(std::string* why) const {
    ConfigError error;
    auto config = load_config(get("TALENTD_CONF"), {}, &error);
    if (!config) return *why = "configuration: " + error.message, nullptr;
    return db::Database::open(*config, why);
}

int Stack::control(const std::string& command, std::string* output) const {
    // In a session of its own: Check kills a test's whole process group when
    // the test ends, and a talentd or s3rver restarted from inside a test
    // must outlive it.
    return run_command({"/usr/bin/setsid", "/bin/bash", script_, command, dir_}, {}, output);
}

HttpResponse Stack::request(const std::string& method, const std::string& target, const std::string& body,
                            const std::vector<std::string>& headers, long timeout_seconds) const {
    HttpResponse response;
    std::string url = target.rfind("http", 0) == 0 ? target : get("BASE_URL") + target;
    if (!is_loopback_url(url)) {
        response.error = "refused: not a loopback URL: " + url;
        return response;
    }
    CURL* c = curl_easy_init();
    if (!c) {
        response.error = "curl_easy_init failed";
        return response;
    }
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    std::string ca = get("CA_CERT");
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CAINFO, ca.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_seconds);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
    if (list) curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (method != "GET") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    CURLcode code = curl_easy_perform(c);
    if (code != CURLE_OK) response.error = curl_easy_strerror(code);
    else curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return response;
}

pid_t Stack::talentd_pid() const { return static_cast<pid_t>(std::atol(get("TALENTD_PID").c_str())); }

std::vector<pid_t> Stack::talentd_workers() const { return child_pids(talentd_pid()); }

std::string Stack::talentd_log() const { return read_file(get("TALENTD_LOG")); }

}  // namespace talentd::test
