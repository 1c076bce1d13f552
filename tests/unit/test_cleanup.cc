// Pure parts of the cleanup and API modules: the reaper's backoff and the
// partial flag.
#include "api/profile_api.h"
#include "cleanup/pictures.h"

#include <check.h>

using talentd::api::partial_requested;
using talentd::cleanup::backoff_seconds;

START_TEST(test_backoff_doubles_and_caps) {
    ck_assert_int_eq(backoff_seconds(1, 60, 86400), 60);
    ck_assert_int_eq(backoff_seconds(2, 60, 86400), 120);
    ck_assert_int_eq(backoff_seconds(3, 60, 86400), 240);
    ck_assert_int_eq(backoff_seconds(11, 60, 86400), 61440);
    ck_assert_int_eq(backoff_seconds(12, 60, 86400), 86400);
    ck_assert_int_eq(backoff_seconds(1000, 60, 86400), 86400);   // no overflow
    ck_assert_int_eq(backoff_seconds(0, 60, 86400), 60);
}
END_TEST

START_TEST(test_partial_flag) {
    ck_assert(partial_requested("partial=true"));
    ck_assert(partial_requested("partial=True"));
    ck_assert(partial_requested("a=b&partial=1"));
    ck_assert(partial_requested("partial=yes"));
    ck_assert(!partial_requested("partial=false"));
    ck_assert(!partial_requested("partial=0"));
    ck_assert(!partial_requested("partial="));
    ck_assert(!partial_requested(""));
    ck_assert(!partial_requested("partially=true"));
}
END_TEST

int main() {
    Suite* s = suite_create("cleanup");
    TCase* tc = tcase_create("pure");
    tcase_add_test(tc, test_backoff_doubles_and_caps);
    tcase_add_test(tc, test_partial_flag);
    suite_add_tcase(s, tc);
    SRunner* r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
