/*
 * Unit tests of the format checks behind record validation: date-times
 * parsed in the forms clients send and normalised to UTC, their formatting,
 * email addresses, URLs (and their hosts), and `[class]{n}` autogenerate
 * patterns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "stagehand/validate.h"

static void expect_date(const char *in, const char *want)
{
    char out[SH_DATETIME_LEN + 1];
    if (sh_datetime_parse(in, strlen(in), out))
        fail_msg("\"%s\" refused", in);
    assert_string_equal(out, want);
}

static void expect_bad_date(const char *in)
{
    char out[SH_DATETIME_LEN + 1];
    if (sh_datetime_parse(in, strlen(in), out) == 0)
        fail_msg("\"%s\" accepted as %s", in, out);
}

static void test_validate_date_parse(void **state)
{
    (void)state;
    expect_date("2024-01-02", "2024-01-02 00:00:00.000Z");
    expect_date("2024-01-02 03:04:05.000Z", "2024-01-02 03:04:05.000Z");
    expect_date("2024-01-02T03:04:05Z", "2024-01-02 03:04:05.000Z");
    expect_date("2024-01-02t03:04:05z", "2024-01-02 03:04:05.000Z");
    expect_date("2024-01-02 03:04", "2024-01-02 03:04:00.000Z");
    expect_date("2024-01-02T03:04:05.1", "2024-01-02 03:04:05.100Z");
    expect_date("2024-01-02T03:04:05.123456789Z", "2024-01-02 03:04:05.123Z");
    expect_date("2024-01-02T03:04:05.123+02:00", "2024-01-02 01:04:05.123Z");
    expect_date("2024-01-01T00:30:00+0100", "2023-12-31 23:30:00.000Z");
    expect_date("2023-12-31T23:30:00-01:00", "2024-01-01 00:30:00.000Z");
    expect_date("2024-02-29", "2024-02-29 00:00:00.000Z");
    expect_date("2000-02-29", "2000-02-29 00:00:00.000Z");
    expect_date(" 2024-01-02 ", "2024-01-02 00:00:00.000Z");
    expect_date("9999-12-31 23:59:59.999Z", "9999-12-31 23:59:59.999Z");
    expect_bad_date("");
    expect_bad_date("garbage");
    expect_bad_date("2023-02-29");
    expect_bad_date("1900-02-29");
    expect_bad_date("2024-13-01");
    expect_bad_date("2024-00-10");
    expect_bad_date("2024-04-31");
    expect_bad_date("2024-1-1");
    expect_bad_date("24-01-01");
    expect_bad_date("2024-01-02T25:00");
    expect_bad_date("2024-01-02T03:04:60");
    expect_bad_date("2024-01-02T03");
    expect_bad_date("2024-01-02T03:04:05.");
    expect_bad_date("2024-01-02T03:04:05+1");
    expect_bad_date("2024-01-02T03:04:05Zjunk");
    expect_bad_date("9999-12-31T23:59:59-01:00");
    char nul[] = "2024-01-02\0x";
    char out[SH_DATETIME_LEN + 1];
    assert_int_not_equal(sh_datetime_parse(nul, sizeof(nul) - 1, out), 0);
}

static void test_validate_date_format(void **state)
{
    (void)state;
    char out[SH_DATETIME_LEN + 1];
    sh_datetime_format(0, out);
    assert_string_equal(out, "1970-01-01 00:00:00.000Z");
    sh_datetime_format(INT64_C(1718452800123), out);
    assert_string_equal(out, "2024-06-15 12:00:00.123Z");
    sh_datetime_format(-1, out);
    assert_string_equal(out, "1969-12-31 23:59:59.999Z");
    sh_datetime_format(INT64_C(951782400000), out); /* 2000-02-29 */
    assert_string_equal(out, "2000-02-29 00:00:00.000Z");
    sh_datetime_format(INT64_C(253402300799999), out); /* the last millisecond of 9999 */
    assert_string_equal(out, "9999-12-31 23:59:59.999Z");
    sh_datetime_format(INT64_C(253402300800000), out); /* past it: clamped */
    assert_string_equal(out, "9999-12-31 23:59:59.999Z");
    sh_datetime_format(INT64_C(-62167219200001), out); /* before year 0: clamped */
    assert_string_equal(out, "0000-01-01 00:00:00.000Z");
    /* Against gmtime_r and snprintf over instants spread across 0001..9999. */
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        int64_t ms = (int64_t)(x % UINT64_C(253370764800000)) - INT64_C(62135596800000);
        time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        char want[64];
        snprintf(want, sizeof(want), "%04d-%02d-%02d %02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms - (int64_t)t * 1000));
        sh_datetime_format(ms, out);
        if (strcmp(out, want) != 0)
            fail_msg("%lld: got %s, want %s", (long long)ms, out, want);
    }
}

static void test_validate_email(void **state)
{
    (void)state;
    const char *good[] = {"a@b.c", "a.b+c@x-y.example.com", "user@localhost",
                          "o'neil!#$%&*/=?^_`{|}~-@ex.com", "A@B.CO"};
    const char *bad[] = {"",       "@b.c",   "a@",       "a b@c.d", "a@b..c",
                         "a@-b.c", "a@b.c-", "a@@b.c",   "a@b_c.d", "a\"b@c.d",
                         "a@.b",   "a@b.",   "a(b)@c.d", "a@b c.d", "ab.c"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!sh_email_valid(good[i], strlen(good[i])))
            fail_msg("\"%s\" refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sh_email_valid(bad[i], strlen(bad[i])))
            fail_msg("\"%s\" accepted", bad[i]);
    char longer[300];
    memset(longer, 'a', sizeof(longer));
    memcpy(longer + 250, "@b.cd", 6);
    assert_false(sh_email_valid(longer, strlen(longer)));
}

static void test_validate_url(void **state)
{
    (void)state;
    const char *host;
    size_t hlen;
    assert_true(sh_url_valid("https://example.com", 19, &host, &hlen));
    assert_int_equal(hlen, 11);
    assert_memory_equal(host, "example.com", 11);
    const char *u = "http://user:pw@Sub.Example.com:8080/x?y#z";
    assert_true(sh_url_valid(u, strlen(u), &host, &hlen));
    assert_int_equal(hlen, 15);
    assert_memory_equal(host, "Sub.Example.com", 15);
    const char *good[] = {"ftp://a.b/c",   "http://localhost", "http://[::1]:80/",
                          "a+b.c-d://x.y", "https://ex.com?q", "https://ex.com#f"};
    const char *bad[] = {"",
                         "example.com",
                         "http://",
                         "https://ex ample.com",
                         "javascript:alert(1)",
                         "http://a..b",
                         "http://ex.com:port",
                         "http://ex.com:",
                         "1http://a.b",
                         "http:/a.b",
                         "http://a.b/\x01",
                         "http://[::1/",
                         "http://-a.b"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!sh_url_valid(good[i], strlen(good[i]), NULL, NULL))
            fail_msg("\"%s\" refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sh_url_valid(bad[i], strlen(bad[i]), NULL, NULL))
            fail_msg("\"%s\" accepted", bad[i]);
}

static void test_validate_autogen(void **state)
{
    (void)state;
    assert_int_equal(sh_autogen_check("[a-z0-9]{15}"), 15);
    assert_int_equal(sh_autogen_check("[a-zA-Z0-9]{50}"), 50);
    assert_int_equal(sh_autogen_check("[ab_-]{3}"), 3);
    const char *bad[] = {"[a-z]+",    "abc",      "[^a]{3}",    "[a-z]{0}", "[]{3}",
                         "[a-z]{3}x", "[a\\]{3}", "[a-z]{256}", "[z-a]{3}", "[a-z]{}",
                         "[a-z]",     "",         "[a b]{2}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sh_autogen_check(bad[i]) >= 0)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_null(sh_autogen_generate(bad[i]));
    }
    char *a = sh_autogen_generate("[a-z0-9]{15}");
    char *b = sh_autogen_generate("[a-z0-9]{15}");
    assert_int_equal(strlen(a), 15);
    assert_int_equal(strspn(a, "abcdefghijklmnopqrstuvwxyz0123456789"), 15);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    a = sh_autogen_generate("[xy]{200}");
    assert_int_equal(strspn(a, "xy"), 200);
    assert_non_null(strchr(a, 'x'));
    assert_non_null(strchr(a, 'y'));
    free(a);
    /* The last pattern's parse is remembered: switching patterns, a bad one
     * after a good one, and one too long to remember all answer afresh. */
    const char *longp = "[abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.~]{40}";
    const char *seq[] = {"[a-z0-9]{15}", "[xy]{3}", "[a-z]{256}", "[xy]{3}", longp,
                         "[a-z0-9]{15}", longp,     "",           "[q]{2}"};
    const int len[] = {15, 3, -1, 3, 40, 15, 40, -1, 2};
    const char *set[] = {"abcdefghijklmnopqrstuvwxyz0123456789",
                         "xy",
                         NULL,
                         "xy",
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.~",
                         "abcdefghijklmnopqrstuvwxyz0123456789",
                         NULL,
                         NULL,
                         "q"};
    set[6] = set[4];
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        a = sh_autogen_generate(seq[i]);
        if (len[i] < 0) {
            assert_null(a);
            continue;
        }
        assert_non_null(a);
        assert_int_equal(strlen(a), (size_t)len[i]);
        assert_int_equal(strspn(a, set[i]), (size_t)len[i]);
        free(a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_date_parse), cmocka_unit_test(test_validate_date_format),
        cmocka_unit_test(test_validate_email),      cmocka_unit_test(test_validate_url),
        cmocka_unit_test(test_validate_autogen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
