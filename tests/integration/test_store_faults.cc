// A store that stops answering must not stall the API: the bulkhead
// (store_concurrency) keeps a worker free of store calls and the breaker
// (store_breaker_failures, store_breaker_cooldown) refuses uploads at once
// while the store is down, so GETs and field-only updates keep being
// answered.  Through the real stack: nginx, the egress proxy, s3rver frozen
// with SIGSTOP (connections are taken, never answered: the worst case).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../support/load.h"
#include "../support/payload.h"
#include "../support/stack.h"
#include "../support/temp_dir.h"

// Last: check.h defines a fail() macro that breaks the standard headers.
#include <check.h>

namespace t = talentd::test;

namespace {

t::Stack* g_stack = nullptr;   // 4 workers: store_concurrency 3 by default

bool wait_until(const std::function<bool()>& done, double seconds) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

bool reads(const t::LoadRecord& r) { return r.kind == t::LoadKind::Get || r.kind == t::LoadKind::Fields; }

double p99(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(v.size() * 0.99))];
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

// 12 clients (GETs, field updates, uploads) on 4 workers; 10 s of normal
// service measured; then s3rver frozen for 15 s.  During the freeze, and
// during its first 8 s alone (before the breaker can open), the rate of
// GETs and field updates completed must be at least a fifth of the normal
// one (without the gate every worker sits in a PUT until
// s3_timeout and almost none complete), none of them fails, uploads are
// answered 503 with Retry-After (never 500), the breaker opens and, after
// the thaw, a probe closes it and uploads succeed again.
START_TEST(frozen_store_does_not_stall_reads) {
    t::Stack& s = *g_stack;
    std::vector<int64_t> users;
    for (int64_t id = 1; id <= 8; ++id) {
        std::string why;
        ck_assert_msg(s.add_talent_user(id, &why), "%s", why.c_str());
        users.push_back(id);
    }
    t::LoadOptions o;
    o.clients = 12;
    o.users = users;
    for (const char* name : {"valid/jpeg/testorig.jpg", "valid/jpeg/grayscale.jpg", "valid/jpeg/progressive.jpg"})
        o.pictures.push_back(t::read_file(t::corpus_dir() + "/" + name));
    o.get = 45;
    o.fields = 20;
    o.upload = 35;
    o.clear = 0;
    o.invalid = 0;
    t::Load load(s, o);
    load.start();
    wait_until([&] { return load.completed() >= 50; }, 120);

    const double normal_from = load.now();
    sleep_s(10);
    const double normal_to = load.now();
    std::string out;
    ck_assert_msg(s.control("freeze-s3", &out) == 0, "freeze-s3: %s", out.c_str());
    const double frozen_from = load.now();
    sleep_s(15);
    const double frozen_to = load.now();
    ck_assert_msg(s.control("thaw-s3", &out) == 0, "thaw-s3: %s", out.c_str());
    // After the thaw: the breaker's cool-down, then a probe; uploads succeed again.
    bool recovered = wait_until(
        [&] {
            for (const auto& r : load.records())
                if (r.kind == t::LoadKind::Upload && r.status == 200 && r.start > frozen_to) return true;
            return false;
        },
        90);
    load.stop();

    const auto records = load.records();
    // Before any store call of the freeze can time out (s3_timeout, 10 s in
    // the stack) the breaker cannot open: reads then rely on the bulkhead alone.
    const double bulkhead_only_to = frozen_from + 8;
    size_t normal_reads = 0, frozen_reads = 0, bulkhead_only_reads = 0, uploads_503 = 0, uploads_200_frozen = 0;
    std::vector<double> normal_latency, frozen_latency;
    for (const auto& r : records) {
        ck_assert_msg(r.status != 500 && r.status != 0, "%s at %.1f s: %ld %s", t::load_kind_name(r.kind), r.start,
                      r.status, r.error.c_str());
        if (reads(r)) {
            ck_assert_msg(r.status == 200, "%s at %.1f-%.1f s: %ld %s", t::load_kind_name(r.kind), r.start, r.end,
                          r.status, r.error.c_str());
            if (r.end >= normal_from && r.end < normal_to) {
                ++normal_reads;
                normal_latency.push_back(r.end - r.start);
            }
            if (r.end >= frozen_from && r.end < bulkhead_only_to) ++bulkhead_only_reads;
            if (r.end >= frozen_from && r.end < frozen_to) {
                ++frozen_reads;
                frozen_latency.push_back(r.end - r.start);
            }
            continue;
        }
        ck_assert_msg(r.status == 200 || r.status == 503, "upload at %.1f s: %ld %s", r.start, r.status,
                      r.error.c_str());
        if (r.status == 503) {
            ++uploads_503;
            ck_assert_msg(!r.retry_after.empty(), "503 without Retry-After");
        } else if (r.start >= frozen_from && r.end < frozen_to) {
            ++uploads_200_frozen;
        }
    }
    const double normal_rate = normal_reads / (normal_to - normal_from);
    const double frozen_rate = frozen_reads / (frozen_to - frozen_from);
    const double bulkhead_only_rate = bulkhead_only_reads / (bulkhead_only_to - frozen_from);
    std::fprintf(stderr,
                 "frozen store: reads %.1f/s normally (p99 %.3f s), %.1f/s frozen (p99 %.3f s), %.1f/s in its "
                 "first 8 s; %zu uploads answered 503\n",
                 normal_rate, p99(normal_latency), frozen_rate, p99(frozen_latency), bulkhead_only_rate, uploads_503);
    ck_assert_msg(normal_reads >= 20, "the normal phase served only %zu reads", normal_reads);
    ck_assert_msg(frozen_rate >= normal_rate / 5, "reads stalled by the frozen store: %.1f/s against %.1f/s normally",
                  frozen_rate, normal_rate);
    ck_assert_msg(bulkhead_only_rate >= normal_rate / 5,
                  "reads stalled in the first 8 s of the freeze (bulkhead alone): %.1f/s against %.1f/s normally",
                  bulkhead_only_rate, normal_rate);
    ck_assert_msg(uploads_200_frozen == 0, "%zu uploads succeeded while the store was frozen", uploads_200_frozen);
    ck_assert_msg(uploads_503 > 0, "no upload was refused during the freeze");
    const std::string log = s.talentd_log();
    if (count_of(log, "store breaker open:") == 0) std::fprintf(stderr, "%s\n", log.c_str());
    ck_assert_msg(count_of(log, "store breaker open:") >= 1, "the breaker never opened (log above)");
    ck_assert_msg(recovered, "no upload succeeded within 90 s of the thaw");
    ck_assert_msg(count_of(log, "store breaker closed") >= 1, "no probe closed the breaker");
    ck_assert_msg(count_of(log, "upload refused at once") >= 1, "no upload refused by the gate");
}
END_TEST

int main() {
    std::string why;
    auto stack = t::Stack::start({{"STACK_REAP_INTERVAL", "0"}, {"STACK_WORKERS", "4"}}, &why);
    if (!stack) {
        std::fprintf(stderr, "test_store_faults: %s\n", why.c_str());
        return 1;
    }
    g_stack = stack.get();
    Suite* suite = suite_create("store_faults");
    TCase* tc = tcase_create("freeze");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, frozen_store_does_not_stall_reads);
    suite_add_tcase(suite, tc);
    SRunner* runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
