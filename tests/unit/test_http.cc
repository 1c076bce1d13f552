// Unit tests of http::read_body and http::BodyBuffer (issue 17): the body is
// read in place into a buffer sized from CONTENT_LENGTH, with no growth and
// no copy, and the next body of no larger size reuses the same memory; a
// worker left without requests has its handler give such memory back.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/config.h"
#include "daemon/worker.h"
#include "http/body_buffer.h"
#include "http/handler.h"
#include "http/message.h"
#include "../support/temp_dir.h"
#include "../support/timing.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

namespace {

using talentd::http::BodyBuffer;
using talentd::http::BodySource;
using talentd::http::read_body;

// Gives `data` in pieces of at most `piece` bytes, then the end (or an error).
class Source : public BodySource {
public:
    Source(std::string data, size_t piece, bool fail_at_end = false)
        : data_(std::move(data)), piece_(piece), fail_at_end_(fail_at_end) {}
    long read(char* buf, size_t size) override {
        ++reads;
        largest_ask = std::max(largest_ask, size);
        if (at_ == data_.size()) return fail_at_end_ ? -1 : 0;
        const size_t n = std::min({size, piece_, data_.size() - at_});
        std::memcpy(buf, data_.data() + at_, n);
        at_ += n;
        return static_cast<long>(n);
    }
    int reads = 0;
    size_t largest_ask = 0;

private:
    std::string data_;
    size_t piece_;
    bool fail_at_end_;
    size_t at_ = 0;
};

std::string pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + i / 251);
    return s;
}

}  // namespace

START_TEST(announced_size_is_one_allocation_read_in_place) {
    const std::string data = pattern(1100000);
    BodyBuffer body;
    bool too_large = true;
    Source source(data, 1 << 20);
    ck_assert(read_body(source, 6 << 20, &body, &too_large, static_cast<int64_t>(data.size())));
    ck_assert(!too_large);
    ck_assert(body.view() == data);
    ck_assert_uint_eq(body.capacity(), data.size());       // exactly the announced size: no growth
    ck_assert_uint_ge(source.largest_ask, 1 << 20);        // read straight into the buffer, not 64 KiB at a time
    // The next body of no larger size: the same memory, no allocation.
    const char* memory = body.view().data();
    const std::string next = pattern(900000);
    Source again(next, 65536);
    ck_assert(read_body(again, 6 << 20, &body, &too_large, static_cast<int64_t>(next.size())));
    ck_assert(body.view() == next);
    ck_assert(body.view().data() == memory);
    body.release();
    ck_assert_uint_eq(body.capacity(), 0);
    ck_assert_uint_eq(body.size(), 0);
}
END_TEST

START_TEST(unknown_or_wrong_length_still_reads_it_whole) {
    const std::string data = pattern(300001);
    for (int64_t expected : {int64_t{-1}, int64_t{0}, int64_t{1000}, int64_t{300000}}) {
        BodyBuffer body;
        bool too_large = true;
        Source source(data, 5000);
        ck_assert_msg(read_body(source, 6 << 20, &body, &too_large, expected), "expected %lld", (long long)expected);
        ck_assert(!too_large);
        ck_assert_msg(body.view() == data, "expected %lld: bytes differ", (long long)expected);
    }
    // Shorter than announced: what came.
    BodyBuffer body;
    bool too_large = true;
    Source source(data, 5000);
    ck_assert(read_body(source, 6 << 20, &body, &too_large, 400000));
    ck_assert(body.view() == data);
}
END_TEST

START_TEST(limit_and_errors) {
    const std::string data = pattern(10001);
    for (int64_t expected : {int64_t{-1}, int64_t{10001}, int64_t{10000}, int64_t{100}}) {
        BodyBuffer body;
        bool too_large = false;
        Source source(data, 4096);
        ck_assert(!read_body(source, 10000, &body, &too_large, expected));
        ck_assert_msg(too_large, "expected %lld: not too large", (long long)expected);
        ck_assert_uint_le(body.capacity(), 10000);   // never more memory than the limit
    }
    BodyBuffer body;
    bool too_large = true;
    Source exact(pattern(10000), 4096);
    ck_assert(read_body(exact, 10000, &body, &too_large, 10000));
    ck_assert(!too_large && body.size() == 10000);
    Source broken(data, 4096, true);
    ck_assert(!read_body(broken, 1 << 20, &body, &too_large, -1));
    ck_assert(!too_large);
}
END_TEST

// A handler holding memory, as ProfileApi does after an upload: idle()
// reports on a pipe and stops the worker.
class Holding : public talentd::http::Handler {
public:
    explicit Holding(int report) : report_(report) {}
    talentd::http::Response handle(const talentd::http::Request&, BodySource&, talentd::http::RequestNote*) override {
        return {};
    }
    bool holds_idle_memory() const override { return holding_; }
    void idle() override {
        holding_ = false;
        (void)!write(report_, "i", 1);
        kill(getpid(), SIGTERM);   // delivered in the worker's next wait: it stops
    }

private:
    int report_;
    bool holding_ = true;
};

// A worker whose handler holds memory gives it back after kIdleReleaseMs
// without a request: idle() is called while nothing arrives.
START_TEST(idle_worker_gives_memory_back) {
    talentd::test::TempDir dir("talentd-http-unit");
    const int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = dir.file("w.sock");
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ck_assert(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && listen(listener, 8) == 0);
    int report[2];
    ck_assert(pipe(report) == 0);
    const pid_t pid = fork();
    if (pid == 0) {
        talentd::daemon::prepare_worker_signals();
        Holding handler(report[1]);
        talentd::Config config;
        _exit(talentd::daemon::run_worker(config, listener, handler) == 0 ? 0 : 3);
    }
    close(report[1]);
    int status = -1;
    const bool ended = talentd::test::wait_for([&] { return waitpid(pid, &status, WNOHANG) == pid; }, 20);
    if (!ended) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    char c = 0;
    const bool called = read(report[0], &c, 1) == 1 && c == 'i';
    close(report[0]);
    close(listener);
    ck_assert_msg(ended && called, "idle() was not called on a worker left without requests");
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

int main() {
    Suite* s = suite_create("http");
    TCase* tc = tcase_create("core");
    tcase_add_test(tc, announced_size_is_one_allocation_read_in_place);
    tcase_add_test(tc, unknown_or_wrong_length_still_reads_it_whole);
    tcase_add_test(tc, limit_and_errors);
    tcase_add_test(tc, idle_worker_gives_memory_back);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner* sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
