/* The cron expressions of the scheduled jobs (api/ops/cron.c): the five
 * fields, ranges, steps, lists, macros, both day fields, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ops_int.h"

/* 2026-01-05 is a Monday. */
#define MON_2026_01_05_0000 1767571200

static int at(const char *expr, int64_t t)
{
    struct sh__cron c;
    assert_int_equal(sh__cron_parse(expr, &c), 0);
    return sh__cron_match(&c, t);
}

static void test_cron_fields(void **state)
{
    (void)state;
    int64_t t = MON_2026_01_05_0000 + 3 * 3600 + 30 * 60; /* 03:30 */
    assert_true(at("* * * * *", t));
    assert_true(at("30 3 * * *", t));
    assert_false(at("31 3 * * *", t));
    assert_true(at("*/15 * * * *", t));
    assert_false(at("*/7 * * * *", t));
    assert_true(at("0-40/10 1-5 * * *", t));
    assert_true(at("10,20,30 * * * *", t));
    assert_true(at("30 3 * * 1", t));
    assert_false(at("30 3 * * 0", t));
    assert_true(at("30 3 * * 7", t + 6 * 86400)); /* Sunday as 7 */
    assert_true(at("30 3 5 1 *", t));
    assert_false(at("30 3 5 2 *", t));
    /* both day fields restricted: either */
    assert_true(at("30 3 1 * 1", t));
    assert_true(at("30 3 5 * 0", t));
    assert_false(at("30 3 1 * 0", t));
    assert_true(at("@hourly", MON_2026_01_05_0000 + 3600));
    assert_true(at("@daily", MON_2026_01_05_0000));
    assert_false(at("@daily", t));
    assert_true(at("@weekly", MON_2026_01_05_0000 - 86400));
}

static void test_cron_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",          "* * * *",    "* * * * * *", "60 * * * *",  "* 24 * * *",
        "* * 0 * *", "* * * 13 *", "* * * * 8",   "*/0 * * * *", "5-1 * * * *",
        "a * * * *", "1, * * * *", "@often"};
    struct sh__cron c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sh__cron_parse(bad[i], &c), -1);
    assert_int_equal(sh__cron_parse(NULL, &c), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_fields),
        cmocka_unit_test(test_cron_refused),
    };
    return cmocka_run_group_tests_name("cron", tests, NULL, NULL);
}
