// The whole local stack (tests/stack) for integration tests: s3rver, one
// nginx (the HTTPS server from nginx/talentd.conf + talentd-location.conf,
// and the storage egress proxy) and talentd, in a fresh temporary directory.
//
//   std::string why;
//   auto stack = talentd::test::Stack::start({{"STACK_WORKERS", "2"}}, &why);
//   if (!stack) ... why holds the script's output (logs included);
//   auto r = stack->request("GET", "/healthz");          // HTTPS, verified with CA_CERT
//   stack->add_talent_user(7, &why);
//   std::string token = stack->token_for(7);
//
// start() runs `tests/stack start DIR` with env_extra added to the
// environment (STACK_WORKERS, STACK_EXTRA_CONF, STACK_DEMO, ...; see
// tests/stack) and STACK_OWNER_PID set to this process, so that a test
// binary that dies without its destructor still leaves nothing running.
// The destructor runs `tests/stack stop DIR` and removes DIR, in the process
// that called start() only: a Check test forked from it never stops it.  When
// the stop fails (a process would not die), DIR is kept and the destructor
// says so on stderr.
//
// The source tree is $TALENTD_SOURCE_DIR, else the first ancestor of the
// working directory or of this executable that holds tests/stack; the build
// directory is $TALENTD_BUILD (set by make), else the first ancestor of this
// executable that holds talentd and talentctl.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "db/database.h"
#include "http_client.h"

namespace talentd::test {

class Stack {
  public:
    static std::unique_ptr<Stack> start(const std::map<std::string, std::string>& env_extra, std::string* why);
    ~Stack();
    Stack(const Stack&) = delete;
    Stack& operator=(const Stack&) = delete;

    // A value of DIR/stack.env (BASE_URL, TALENTD_CONF, TALENTD_PID, CA_CERT,
    // S3_ENDPOINT, ...), read afresh at each call: restart-talentd and
    // start-s3 change pids.  "" when absent.
    std::string get(const std::string& key) const;
    const std::string& dir() const { return dir_; }

    // talentctl -c TALENTD_CONF args...; stdout and stderr in *output.
    // Returns its exit status (-1 if it could not run or was killed).
    int talentctl(const std::vector<std::string>& args, std::string* output) const;
    // `talentctl token --user ID --ttl 3600`; "" on failure.
    std::string token_for(int64_t user_id) const;
    // An active talent user: userID@example.com, "Test" "User<ID>".
    bool add_talent_user(int64_t id, std::string* why) const;
    // A user created by whoever owns the users: `talentctl user add` in
    // talentd's layout; in Django's (STACK_DB_LAYOUT=django) an INSERT into
    // accounts_user with every column Django's create_user fills, and no
    // profile row (Django's view makes it on first access).
    bool add_user(int64_t id, const std::string& email, bool talent, bool active, std::string* why) const;
    // "sqlite" or "postgresql"; "talentd" or "django".
    std::string database_kind() const { return get("DATABASE_KIND"); }
    bool django_layout() const { return get("DB_LAYOUT") == "django"; }
    // SQL as PostgreSQL's superuser on the stack's database (`tests/stack
    // sql`): psql -At output in *output.  Returns psql's exit status.
    int sql(const std::string& statement, std::string* output = nullptr) const;
    // The database as talentd sees it, opened from TALENTD_CONF (either backend).
    std::unique_ptr<db::Database> open_database(std::string* why) const;

    // tests/stack COMMAND DIR: "restart-talentd", "stop-s3", "start-s3",
    // "stop-db", "start-db", "status", "stop".  Returns the exit status; output in *output.
    int control(const std::string& command, std::string* output = nullptr) const;

    // An HTTPS request to the stack's nginx, the certificate verified against
    // CA_CERT.  `target` is a path ("/healthz") appended to BASE_URL, or a
    // whole loopback URL.  headers: "Name: value".
    HttpResponse request(const std::string& method, const std::string& target, const std::string& body = "",
                         const std::vector<std::string>& headers = {}, long timeout_seconds = 30) const;

    pid_t talentd_pid() const;                 // the master, from stack.env
    std::vector<pid_t> talentd_workers() const; // its children now, sorted
    std::string talentd_log() const;

  private:
    Stack() = default;
    std::string dir_;
    std::string script_;
    std::string build_;
    pid_t owner_ = -1;
    bool started_ = false;
};

// Locations, as Stack finds them ("" if not found).
std::string stack_source_root();
std::string stack_build_dir();

// The pids whose parent is `parent` (from /proc/*/stat), sorted.
std::vector<pid_t> child_pids(pid_t parent);
// True while `pid` exists and is not a zombie.
bool process_alive(pid_t pid);

// Runs argv (argv[0] a path) with env_extra added to the environment, stdin
// from /dev/null, stdout and stderr into *output, no other descriptor
// inherited.  Returns the exit status, or -1.
int run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env_extra,
                std::string* output);

}  // namespace talentd::test
