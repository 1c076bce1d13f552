// Unit tests of daemon/supervisor: the master's bookkeeping without
// processes — crash backoff, its reset, recycling, generations, stop.
#include <sys/types.h>

#include <algorithm>
#include <vector>

#include "daemon/supervisor.h"

// Last: check.h defines a `fail` macro that breaks the standard headers.
#include <check.h>

using talentd::daemon::Supervisor;

namespace {

constexpr bool kNormal = true;     // exited (WIFEXITED)
constexpr bool kSignaled = false;  // killed by a signal

// One worker that keeps crashing right after it starts; the delays asked for.
std::vector<double> crash_loop(Supervisor& s, int crashes, double* clock, pid_t* next_pid) {
    std::vector<double> delays;
    for (int i = 0; i < crashes; ++i) {
        pid_t pid = (*next_pid)++;
        s.started(pid, *clock);
        *clock += 0.5;
        Supervisor::Exit e = s.exited(pid, kSignaled, 0, *clock);
        ck_assert(e.known && e.crashed && e.replace);
        delays.push_back(e.delay);
        *clock += e.delay;
    }
    return delays;
}

}  // namespace

START_TEST(starts_with_all_missing) {
    Supervisor s(3, 30);
    ck_assert_int_eq(s.missing(), 3);
    ck_assert_int_eq(s.generation(), 1);
    s.started(100, 0);
    s.started(101, 0);
    ck_assert_int_eq(s.missing(), 1);
    s.started(102, 0);
    ck_assert_int_eq(s.missing(), 0);
    ck_assert_int_eq(s.running(), 3);
    std::vector<pid_t> pids = s.pids();
    std::sort(pids.begin(), pids.end());
    ck_assert(pids == std::vector<pid_t>({100, 101, 102}));
}
END_TEST

START_TEST(backoff_doubles_and_is_capped) {
    Supervisor s(1, 30, 10);
    double clock = 0;
    pid_t pid = 100;
    std::vector<double> delays = crash_loop(s, 9, &clock, &pid);
    const std::vector<double> expected = {0, 1, 2, 4, 8, 16, 30, 30, 30};
    for (size_t i = 0; i < expected.size(); ++i)
        ck_assert_msg(delays[i] == expected[i], "crash %zu: delay %g, expected %g", i + 1, delays[i], expected[i]);
    ck_assert_int_eq(s.consecutive_crashes(), 9);
}
END_TEST

START_TEST(backoff_cap_is_configurable) {
    Supervisor s(1, 5, 10);
    double clock = 0;
    pid_t pid = 100;
    std::vector<double> delays = crash_loop(s, 6, &clock, &pid);
    const std::vector<double> expected = {0, 1, 2, 4, 5, 5};
    for (size_t i = 0; i < expected.size(); ++i)
        ck_assert_msg(delays[i] == expected[i], "crash %zu: delay %g, expected %g", i + 1, delays[i], expected[i]);
}
END_TEST

START_TEST(nonzero_exit_status_is_a_crash) {
    Supervisor s(1, 30);
    s.started(100, 0);
    Supervisor::Exit e = s.exited(100, kNormal, 2, 1);
    ck_assert(e.known && e.crashed && e.replace);
    ck_assert_int_eq(s.consecutive_crashes(), 1);
}
END_TEST

START_TEST(stable_run_resets_backoff) {
    Supervisor s(1, 30, 10);
    double clock = 0;
    pid_t pid = 100;
    crash_loop(s, 4, &clock, &pid);  // next delay would be 8
    s.started(pid, clock);
    clock += 10;  // ran stable_after seconds
    Supervisor::Exit e = s.exited(pid++, kSignaled, 0, clock);
    ck_assert(e.crashed && e.replace);
    ck_assert_msg(e.delay == 0, "delay %g after a stable run", e.delay);
    ck_assert_int_eq(s.consecutive_crashes(), 1);
    // And the sequence starts again: 1, 2, ...
    std::vector<double> delays = crash_loop(s, 2, &clock, &pid);
    ck_assert(delays == std::vector<double>({1, 2}));
}
END_TEST

START_TEST(recycled_worker_replaced_at_once) {
    Supervisor s(2, 30, 10);
    double clock = 0;
    pid_t pid = 100;
    crash_loop(s, 3, &clock, &pid);
    int crashes = s.consecutive_crashes();
    s.started(200, clock);
    Supervisor::Exit e = s.exited(200, kNormal, 0, clock + 0.1);  // max_requests reached
    ck_assert(e.known && !e.crashed && e.replace);
    ck_assert(e.delay == 0);
    ck_assert_int_eq(s.consecutive_crashes(), crashes);  // neither counted nor reset
}
END_TEST

START_TEST(unknown_pid_is_ignored) {
    Supervisor s(1, 30);
    s.started(100, 0);
    Supervisor::Exit e = s.exited(999, kSignaled, 0, 1);
    ck_assert(!e.known && !e.replace);
    ck_assert_int_eq(s.running(), 1);
    ck_assert_int_eq(s.consecutive_crashes(), 0);
}
END_TEST

START_TEST(old_generation_not_replaced) {
    Supervisor s(2, 30);
    s.started(100, 0);
    s.started(101, 0);
    std::vector<pid_t> old = s.new_generation(3);
    std::sort(old.begin(), old.end());
    ck_assert(old == std::vector<pid_t>({100, 101}));
    ck_assert_int_eq(s.generation(), 2);
    ck_assert_int_eq(s.missing(), 3);  // old workers do not count
    s.started(200, 1);
    s.started(201, 1);
    s.started(202, 1);
    ck_assert_int_eq(s.missing(), 0);
    ck_assert_int_eq(s.running(), 5);
    // Old workers finish (drained) or crash: never replaced.
    Supervisor::Exit a = s.exited(100, kNormal, 0, 2);
    ck_assert(a.known && !a.replace);
    Supervisor::Exit b = s.exited(101, kSignaled, 0, 2);
    ck_assert(b.known && b.crashed && !b.replace);
    ck_assert_int_eq(s.missing(), 0);
    // New ones are.
    Supervisor::Exit c = s.exited(201, kSignaled, 0, 3);
    ck_assert(c.known && c.replace);
    ck_assert_int_eq(s.missing(), 1);
}
END_TEST

START_TEST(new_generation_resets_backoff) {
    Supervisor s(1, 30, 10);
    double clock = 0;
    pid_t pid = 100;
    crash_loop(s, 5, &clock, &pid);
    s.new_generation(1);
    ck_assert_int_eq(s.consecutive_crashes(), 0);
    std::vector<double> delays = crash_loop(s, 2, &clock, &pid);
    ck_assert(delays == std::vector<double>({0, 1}));
}
END_TEST

START_TEST(new_generation_can_shrink) {
    Supervisor s(4, 30);
    for (pid_t p = 100; p < 104; ++p) s.started(p, 0);
    s.new_generation(1);
    ck_assert_int_eq(s.missing(), 1);
}
END_TEST

START_TEST(stop_replaces_nothing) {
    Supervisor s(2, 30);
    s.started(100, 0);
    s.started(101, 0);
    s.stop();
    ck_assert_int_eq(s.missing(), 0);
    Supervisor::Exit a = s.exited(100, kNormal, 0, 1);
    ck_assert(a.known && !a.replace);
    Supervisor::Exit b = s.exited(101, kSignaled, 0, 1);
    ck_assert(b.known && b.crashed && !b.replace);
    ck_assert_int_eq(s.running(), 0);
    ck_assert_int_eq(s.missing(), 0);
}
END_TEST

int main() {
    Suite* suite = suite_create("supervisor");
    TCase* tc = tcase_create("supervisor");
    tcase_add_test(tc, starts_with_all_missing);
    tcase_add_test(tc, backoff_doubles_and_is_capped);
    tcase_add_test(tc, backoff_cap_is_configurable);
    tcase_add_test(tc, nonzero_exit_status_is_a_crash);
    tcase_add_test(tc, stable_run_resets_backoff);
    tcase_add_test(tc, recycled_worker_replaced_at_once);
    tcase_add_test(tc, unknown_pid_is_ignored);
    tcase_add_test(tc, old_generation_not_replaced);
    tcase_add_test(tc, new_generation_resets_backoff);
    tcase_add_test(tc, new_generation_can_shrink);
    tcase_add_test(tc, stop_replaces_nothing);
    suite_add_tcase(suite, tc);

    SRunner* runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
