/* Unit tests of the date formatting and its once-a-second cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/core.h"

static void test_clock_format_http_known_date(void **state)
{
    (void)state;
    char out[32];
    /* RFC 9110's example: Sun, 06 Nov 1994 08:49:37 GMT */
    assert_int_equal(sh_date_format_http(784111777, out), 29);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
}

static void test_clock_parse_roundtrip(void **state)
{
    (void)state;
    char out[32];
    for (time_t t = 0; t < 4000000000; t += 123456789) {
        sh_date_format_http(t, out);
        assert_int_equal(sh_date_parse_http(out, strlen(out)), t);
    }
}

static void test_clock_parse_rejects_garbage(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "Sun, 06 Nov 1994 08:49:37 UTC",
                         "Sunday, 06-Nov-94 08:49:37 GMT",
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "Sun, 99 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 08:4x:37 GMT"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sh_date_parse_http(bad[i], strlen(bad[i])), -1);
}

static void test_clock_cache_changes_once_per_second(void **state)
{
    (void)state;
    struct sh_date_cache c;
    memset(&c, 0, sizeof(c));
    sh_date_cache_update(&c, 784111777);
    assert_string_equal(c.http, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_string_equal(c.iso, "1994-11-06T08:49:37Z");
    /* same second: untouched (a marker survives) */
    c.http[0] = 'X';
    sh_date_cache_update(&c, 784111777);
    assert_int_equal(c.http[0], 'X');
    sh_date_cache_update(&c, 784111778);
    assert_string_equal(c.http, "Sun, 06 Nov 1994 08:49:38 GMT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_format_http_known_date),
        cmocka_unit_test(test_clock_parse_roundtrip),
        cmocka_unit_test(test_clock_parse_rejects_garbage),
        cmocka_unit_test(test_clock_cache_changes_once_per_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
