// The decoder sandbox through the real stack (nginx, talentd, SQLite,
// s3rver), talentd(8) SECURITY:
//
//   * an upload whose decoder opens a file, creates a socket, execve()s,
//     writes to another descriptor, crashes, aborts, loops for ever or
//     allocates without end (test_decoder_hooks) is answered 400 with SPEC
//     §4's invalid-image message; the log names the cause; the worker is the
//     same process afterwards and stores the next upload; nothing is stored;
//   * the memory of the worker's decoder zygote and of a live decoder child
//     (idle, and in the middle of a decode) holds neither the JWT secret nor
//     the S3 secret key, read through /proc/PID/mem; the same search finds
//     both secrets in the worker (so the search works) and the picture's own
//     bytes in the busy decoder;
//   * seccomp unavailable (tests/tools/talentd-noseccomp) stops talentd at
//     start-up; decode_sandbox = off starts with a warning, and
//     `talentctl check` warns.
//
// One stack with one worker (so "the same worker" is one pid), hooks on,
// decode_cpu_limit 1 s, and an S3 secret of its own (random, long) instead
// of s3rver's well-known one; s3rver runs lenient, so uploads still work.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/http_client.h"
#include "../support/payload.h"
#include "../support/stack.h"
#include "../support/temp_dir.h"
#include "../support/talent.h"

#include <check.h>

namespace t = talentd::test;
using t::HttpResponse;
using t::Stack;

namespace {

const std::string kPath = "/api/profile/talent/";
const std::string kInvalid =
    "{\"profile_picture\":[\"Upload a valid image. The file you uploaded was either not an image or a corrupted "
    "image.\"]}";

Stack* stack = nullptr;
std::unique_ptr<Stack> stack_owned;
std::unique_ptr<t::TempDir> secrets_dir;
std::string s3_secret;

std::string corpus(const std::string& relative) {
    std::string bytes = t::read_file(t::corpus_dir() + "/" + relative);
    if (bytes.empty()) ck_abort_msg("corpus file %s missing", relative.c_str());
    return bytes;
}

std::string with_hook(const std::string& name) {
    return corpus("valid/png/basn2c08.png") + "talentd-test-hook:" + name + ";";
}

std::string random_hex(size_t bytes) {
    std::ifstream in("/dev/urandom", std::ios::binary);
    std::string out;
    static const char* digits = "0123456789abcdef";
    for (size_t i = 0; i < bytes; ++i) {
        unsigned char c = static_cast<unsigned char>(in.get());
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

int64_t fresh_user(const Stack& s) { return talentd::test::fresh_talent_user(s, 200000); }

using talentd::test::bearer;

HttpResponse upload(const Stack& s, int64_t user_id, const std::string& bytes) {
    auto mp = t::make_multipart({{"profile_picture", bytes, "photo.png", "image/png"}});
    auto h = bearer(s, user_id);
    h.push_back("Content-Type: " + mp.content_type);
    return s.request("POST", kPath + "?partial=true", mp.body, h, 120);
}

HttpResponse profile(const Stack& s, int64_t user_id) { return s.request("GET", kPath, "", bearer(s, user_id)); }

std::string comm(pid_t pid) {
    std::string c = t::read_file("/proc/" + std::to_string(pid) + "/comm");
    while (!c.empty() && c.back() == '\n') c.pop_back();
    return c;
}

std::vector<pid_t> children_named(pid_t parent, const std::string& name) {
    std::vector<pid_t> out;
    for (pid_t p : t::child_pids(parent))
        if (comm(p) == name) out.push_back(p);
    return out;
}

pid_t the_worker(const Stack& s) {
    auto workers = s.talentd_workers();
    ck_assert_msg(workers.size() == 1, "%zu workers, expected 1", workers.size());
    return workers[0];
}

// CPU time (user + system) of a process, in clock ticks.
long cpu_ticks(pid_t pid) {
    std::string stat = t::read_file("/proc/" + std::to_string(pid) + "/stat");
    size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) return -1;
    std::istringstream rest(stat.substr(close_paren + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::atol(field.c_str());
        if (i == 15) stime = std::atol(field.c_str());
    }
    return utime + stime;
}

// Searches every readable mapping of `pid` (through /proc/PID/mem) for each
// needle; returns which were found.  *scanned: bytes read.  Mappings over
// 1 GiB (ASan's shadow reservations) are skipped.
// `vanished` given: a process that is gone (a decoder killed meanwhile) is
// no failure; it is set and nothing is found.
std::set<std::string> search_memory(pid_t pid, const std::vector<std::string>& needles, size_t* scanned,
                                    bool* vanished = nullptr) {
    std::set<std::string> found;
    *scanned = 0;
    const std::string base = "/proc/" + std::to_string(pid);
    std::ifstream maps(base + "/maps");
    int mem = open((base + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    if (vanished) *vanished = mem < 0 && (errno == ESRCH || errno == ENOENT);
    if (vanished && *vanished) return found;
    ck_assert_msg(mem >= 0 && maps.good(), "cannot open %s/mem: %s", base.c_str(), strerror(errno));
    size_t longest = 0;
    for (const auto& n : needles) longest = std::max(longest, n.size());
    // Smallest regions first: the picture's memfd and the heap are read
    // before a sanitizer's shadow (256 MiB under ASan), in case the process
    // is killed (a looping decoder reaching its CPU limit) while it is read.
    std::vector<std::pair<unsigned long, unsigned long>> regions;
    std::string line;
    while (std::getline(maps, line)) {
        unsigned long start = 0, end = 0;
        char perms[5] = {};
        if (sscanf(line.c_str(), "%lx-%lx %4s", &start, &end, perms) != 3 || perms[0] != 'r') continue;
        if (line.find("[vvar") != std::string::npos || line.find("[vsyscall]") != std::string::npos) continue;
        if (end - start > (1UL << 30)) continue;
        regions.emplace_back(start, end);
    }
    std::stable_sort(regions.begin(), regions.end(),
                     [](const auto& a, const auto& b) { return a.second - a.first < b.second - b.first; });
    std::vector<char> buf;
    for (const auto& [start, end] : regions) {
        std::string carry;
        const size_t chunk = 1 << 20;
        for (unsigned long at = start; at < end; at += chunk) {
            size_t want = std::min<unsigned long>(chunk, end - at);
            buf.resize(want);
            ssize_t n = pread(mem, buf.data(), want, static_cast<off_t>(at));
            if (n <= 0) break;
            *scanned += static_cast<size_t>(n);
            std::string window = carry + std::string(buf.data(), static_cast<size_t>(n));
            for (const auto& needle : needles)
                if (window.find(needle) != std::string::npos) found.insert(needle);
            carry = window.substr(window.size() > longest ? window.size() - longest : 0);
        }
    }
    close(mem);
    return found;
}

void start_stack() {
    secrets_dir = std::make_unique<t::TempDir>("talentd-sandbox");
    s3_secret = "s3-secret-" + random_hex(24);
    {
        std::ofstream out(secrets_dir->file("s3_secret"));
        out << s3_secret << "\n";
    }
    std::string why;
    stack_owned = Stack::start({{"STACK_WORKERS", "1"},
                                {"STACK_REAP_INTERVAL", "0"},
                                {"STACK_EXTRA_CONF", "test_decoder_hooks = on\n"
                                                     "decode_cpu_limit = 1\n"
                                                     "decode_memory_limit = 134217728\n"
                                                     "s3_secret_key_file = " +
                                                         secrets_dir->file("s3_secret") + "\n"}},
                               &why);
    if (!stack_owned) {
        fprintf(stderr, "test_sandbox: stack did not start:\n%s\n", why.c_str());
        abort();
    }
    stack = stack_owned.get();
}

void stop_stack() {
    stack = nullptr;
    stack_owned.reset();
    secrets_dir.reset();
}

struct Hook {
    const char* name;
    const char* logged;  // in talentd's log line "picture refused: decoder ..."
};

const Hook kHooks[] = {
    {"open", "killed by seccomp"},  {"socket", "killed by seccomp"}, {"execve", "killed by seccomp"},
    {"write", "killed by seccomp"}, {"segv", "crashed (SIGSEGV)"},    {"abort", "aborted (SIGABRT)"},
    {"loop", "limit exceeded"},
#if !defined(__SANITIZE_ADDRESS__)
    {"memory", "out of memory"},
#endif
};

}  // namespace

START_TEST(test_misbehaving_decoder_is_400_and_the_worker_goes_on) {
    const Hook& hook = kHooks[_i];
    const Stack& s = *stack;
    const int64_t id = fresh_user(s);
    const pid_t worker = the_worker(s);
    const size_t log_before = s.talentd_log().size();

    HttpResponse r = upload(s, id, with_hook(hook.name));
    ck_assert_msg(r.status == 400, "hook %s: %ld %s %s", hook.name, r.status, r.error.c_str(), r.body.c_str());
    ck_assert_msg(r.body == kInvalid, "hook %s: body %s", hook.name, r.body.c_str());
    const std::string log = s.talentd_log().substr(log_before);
    const size_t at = log.find(" error: picture refused: decoder ");
    ck_assert_msg(at != std::string::npos, "hook %s: no error line in the log:\n%s", hook.name, log.c_str());
    const std::string line = log.substr(at, log.find('\n', at) - at);
    ck_assert_msg(line.find(hook.logged) != std::string::npos, "hook %s: \"%s\" does not say \"%s\"", hook.name,
                  line.c_str(), hook.logged);

    // Nothing stored, the same worker, and it serves the next request.
    HttpResponse p = profile(s, id);
    ck_assert_msg(p.status == 200 && p.body.find("\"profile_picture\":null") != std::string::npos, "%ld %s",
                  p.status, p.body.c_str());
    ck_assert_int_eq(the_worker(s), worker);
    HttpResponse ok = upload(s, id, corpus("valid/png/basn2c08.png"));
    ck_assert_msg(ok.status == 200, "next upload after hook %s: %ld %s", hook.name, ok.status, ok.body.c_str());
    ck_assert_int_eq(the_worker(s), worker);
}
END_TEST

START_TEST(test_decoder_memory_holds_no_secret) {
    const Stack& s = *stack;
    const std::string jwt_secret = s.get("JWT_SECRET");
    ck_assert_uint_ge(jwt_secret.size(), 32);
    const std::vector<std::string> secrets = {jwt_secret, s3_secret};
    const pid_t worker = the_worker(s);
    size_t scanned = 0;

    // The search works: the worker holds both.
    auto in_worker = search_memory(worker, secrets, &scanned);
    ck_assert_msg(in_worker.count(jwt_secret) && in_worker.count(s3_secret),
                  "the worker's memory (%zu bytes read) should hold both secrets: the search is broken", scanned);

    auto zygotes = children_named(worker, "talentd-zygote");
    ck_assert_msg(zygotes.size() == 1, "%zu decoder zygotes under worker %d", zygotes.size(), worker);
    const pid_t zygote = zygotes[0];
    char exe[4096] = {};
    ck_assert(readlink(("/proc/" + std::to_string(zygote) + "/exe").c_str(), exe, sizeof exe - 1) > 0);
    ck_assert_msg(std::string(exe).ends_with("/talentd-decoder"), "the zygote runs %s", exe);
    auto in_zygote = search_memory(zygote, secrets, &scanned);
    ck_assert_msg(in_zygote.empty(), "the decoder zygote holds a secret (%zu bytes read)", scanned);
    ck_assert_uint_gt(scanned, 1 << 20);

    auto warm = children_named(zygote, "talentd-decode");
    ck_assert_msg(warm.size() == 1, "%zu idle decoders under the zygote", warm.size());
    const pid_t decoder = warm[0];
    auto in_idle = search_memory(decoder, secrets, &scanned);
    ck_assert_msg(in_idle.empty(), "the idle decoder holds a secret (%zu bytes read)", scanned);

    // The child that takes the picture: normally the idle one searched above,
    // but whichever child of the zygote decodes it is searched while it loops.
    const int64_t id = fresh_user(s);
    const std::string picture = with_hook("loop");
    std::map<pid_t, long> first_seen = {{decoder, cpu_ticks(decoder)}};
    std::atomic<long> status{0};
    std::atomic<bool> answered{false};
    std::thread request([&] {
        status = upload(s, id, picture).status;
        answered = true;
    });
    bool busy = false;
    for (int i = 0; i < 2000 && !busy && !answered; ++i) {
        for (pid_t kid : children_named(zygote, "talentd-decode")) {
            const long ticks = cpu_ticks(kid);
            auto seen = first_seen.emplace(kid, ticks).first;
            if (ticks >= seen->second + 5) {  // 50 ms more CPU than when first seen: in the loop
                busy = true;
            }
        }
        if (!busy) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Every child of the zygote is searched, again and again until one holds
    // the picture or the upload is answered: the child whose CPU grew may be
    // a spare still starting, and the one that takes the picture may still
    // be arming (both slow under ASan, where a single search of the first
    // busy-looking child once missed the picture).
    std::set<std::string> in_busy;
    std::string holders;
    size_t busy_scanned = 0;
    const std::string marker = "talentd-test-hook:loop;";
    while (busy && !answered && !in_busy.count(marker)) {
        for (pid_t kid : children_named(zygote, "talentd-decode")) {
            size_t n = 0;
            bool gone = false;
            auto found = search_memory(kid, {jwt_secret, s3_secret, marker}, &n, &gone);
            busy_scanned += n;
            for (const auto& f : found) {
                in_busy.insert(f);
                holders += " " + std::to_string(kid) + (f == marker ? ":picture" : ":SECRET");
            }
        }
    }
    request.join();
    ck_assert_msg(busy, "the decoder never started decoding");
    ck_assert_msg(in_busy.count(marker), "no decoder's memory (%zu bytes) holds the picture: search broken?",
                  busy_scanned);
    ck_assert_msg(!in_busy.count(jwt_secret), "a busy decoder holds the JWT secret:%s", holders.c_str());
    ck_assert_msg(!in_busy.count(s3_secret), "a busy decoder holds the S3 secret:%s", holders.c_str());
    ck_assert_int_eq(status.load(), 400);
}
END_TEST

START_TEST(test_seccomp_unavailable_is_a_startup_error) {
    const Stack& s = *stack;
    const std::string build = t::stack_build_dir();
    const std::string wrapper = build + "/tests/tools/talentd-noseccomp";
    t::TempDir dir("talentd-noseccomp");
    const std::map<std::string, std::string> env = {{"TALENTD_LISTEN", "unix:" + dir.file("talentd.sock")},
                                                    {"TALENTD_WORKERS", "1"}};
    std::string out;
    // The whole daemon: it must stop before serving (timeout: a hang fails).
    int rc = t::run_command({"/usr/bin/timeout", "120", wrapper, build + "/talentd", "-c", s.get("TALENTD_CONF")},
                            env, &out);
    ck_assert_msg(rc != 0 && rc != 124, "talentd without seccomp: exit %d\n%s", rc, out.c_str());
    ck_assert_msg(out.find("decoder sandbox: the decoder sandbox cannot be set up: ") != std::string::npos,
                  "no reason given:\n%s", out.c_str());
    ck_assert_msg(out.find("serving") == std::string::npos && out.find("workers on") == std::string::npos,
                  "it started serving:\n%s", out.c_str());

    // Without the wrapper the check passes (-t probes the sandbox too), and
    // under a filter like the systemd unit's (seccomp(2) denied, prctl allowed).
    rc = t::run_command({build + "/talentd", "-t", "-c", s.get("TALENTD_CONF")}, env, &out);
    ck_assert_msg(rc == 0, "talentd -t: %d\n%s", rc, out.c_str());
    rc = t::run_command({wrapper, "--like-unit", build + "/talentd", "-t", "-c", s.get("TALENTD_CONF")}, env, &out);
    ck_assert_msg(rc == 0, "talentd -t under the unit's filter: %d\n%s", rc, out.c_str());

    // Switched off: starts (here: -t), with a warning.
    auto off = env;
    off["TALENTD_DECODE_SANDBOX"] = "off";
    rc = t::run_command({wrapper, build + "/talentd", "-t", "-c", s.get("TALENTD_CONF")}, off, &out);
    ck_assert_msg(rc == 0, "talentd -t, sandbox off: %d\n%s", rc, out.c_str());
    ck_assert_msg(out.find("decode_sandbox is off") != std::string::npos, "no warning:\n%s", out.c_str());

    // talentctl check: ok, a warning when off, a failure without seccomp.
    rc = t::run_command({build + "/talentctl", "-c", s.get("TALENTD_CONF"), "check"}, {}, &out);
    ck_assert_msg(out.find("decoder sandbox: ok") != std::string::npos, "talentctl check (%d):\n%s", rc, out.c_str());
    t::run_command({build + "/talentctl", "-c", s.get("TALENTD_CONF"), "check"}, off, &out);
    ck_assert_msg(out.find("decoder sandbox: WARNING decode_sandbox = off") != std::string::npos,
                  "talentctl check, off:\n%s", out.c_str());
    rc = t::run_command({wrapper, build + "/talentctl", "-c", s.get("TALENTD_CONF"), "check"}, {}, &out);
    ck_assert_msg(rc != 0 && out.find("decoder sandbox: FAILED") != std::string::npos,
                  "talentctl check without seccomp (%d):\n%s", rc, out.c_str());
}
END_TEST

int main() {
    Suite* s = suite_create("sandbox");
    TCase* tc = tcase_create("stack");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, start_stack, stop_stack);
    tcase_add_loop_test(tc, test_misbehaving_decoder_is_400_and_the_worker_goes_on, 0,
                        int(sizeof kHooks / sizeof kHooks[0]));
    tcase_add_test(tc, test_decoder_memory_holds_no_secret);
    tcase_add_test(tc, test_seccomp_unavailable_is_a_startup_error);
    suite_add_tcase(s, tc);
    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
