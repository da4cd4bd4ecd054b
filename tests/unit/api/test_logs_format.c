/* What the stored logs' thread formats (api/ops/logs_format.c): dates
 * against gmtime_r across eras and leap days, and an entry's data JSON and
 * message, escapes and invalid UTF-8 included, appended batch-wise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ops_int.h"

static void expect_date(int64_t ms)
{
    char got[32], want[96];
    sh__logs_format_date(ms, got);
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(want, sizeof(want), "%04d-%02d-%02d %02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    assert_string_equal(got, want);
}

static void test_dates_match_gmtime(void **state)
{
    (void)state;
    expect_date(0);
    expect_date(951782400000);  /* 2000-02-29 */
    expect_date(951868799999);  /* 2000-02-29 23:59:59.999 */
    expect_date(4107542400000); /* 2100-03-01, not a leap year */
    expect_date(1798675199123); /* 2026-12-31 23:59:59 */
    /* every ~17 h 37 min for 130 years: all days of the month and hours */
    for (int64_t ms = 0; ms < 4102444800000; ms += 63452123)
        expect_date(ms);
}

static struct sh__log_entry *entry(char *mem, const char *const *vals)
{
    struct sh__log_entry *e = (struct sh__log_entry *)mem;
    memset(e, 0, sizeof(*e));
    for (unsigned i = 0; i < SH__LF_COUNT; i++) {
        e->f[i] = vals[i];
        e->n[i] = vals[i] ? (uint32_t)strlen(vals[i]) : 0;
    }
    return e;
}

static void test_request_json(void **state)
{
    (void)state;
    _Alignas(16) char mem[sizeof(struct sh__log_entry)];
    const char *v[SH__LF_COUNT] = {0};
    v[SH__LF_METHOD] = "GET";
    v[SH__LF_URL] = "/api/x?a=\"b\\&token=abc";
    v[SH__LF_REFERER] = "https://x/?password=p&y=1";
    v[SH__LF_REMOTE_IP] = "127.0.0.1";
    v[SH__LF_USER_IP] = "10.0.0.1";
    v[SH__LF_UA] = "ua\x01\x7f\xc3\xa9\xff\xed\xa0\x80!";
    v[SH__LF_RID] = "r1";
    struct sh__log_entry *e = entry(mem, v);
    e->request = 1;
    e->status = 404;
    e->exec_us = 12045;
    struct sh_buf js, msg;
    sh_buf_init(&js);
    sh_buf_init(&msg);
    sh_buf_append(&js, "x", 2); /* appended after what is there */
    sh__logs_entry_json(e, &js, &msg);
    assert_string_equal(
        js.data + 2,
        "{\"type\":\"request\",\"url\":\"/api/x?a=\\\"b\\\\&token=\",\"method\":\"GET\","
        "\"status\":404,\"execTime\":12.045,\"remoteIP\":\"127.0.0.1\","
        "\"userIP\":\"10.0.0.1\",\"userAgent\":\"ua\\u0001\\u007f\xc3\xa9"
        "\\ufffd\\ufffd\\ufffd\\ufffd!\",\"referer\":\"https://x/?password=&y=1\","
        "\"requestId\":\"r1\"}");
    assert_int_equal(js.len, 2 + strlen(js.data + 2) + 1);
    assert_string_equal(msg.data, "GET /api/x?a=\"b\\&token=");
    assert_int_equal(msg.len, strlen(msg.data) + 1);

    v[SH__LF_AUTH] = "users";
    v[SH__LF_AUTH_ID] = "abc";
    e = entry(mem, v);
    e->request = 1;
    e->status = 200;
    e->exec_us = 7;
    size_t at = js.len;
    sh__logs_entry_json(e, &js, &msg);
    assert_non_null(strstr(js.data + at, "\"execTime\":0.007,"));
    assert_null(strstr(js.data + 2, "token=abc"));
    assert_null(strstr(js.data + 2, "password=p"));
    assert_null(strstr(msg.data + strlen(msg.data) + 1, "token=abc"));
    assert_non_null(strstr(js.data + at, ",\"auth\":\"users\",\"authId\":\"abc\",\"requestId\""));
    sh_buf_deinit(&js);
    sh_buf_deinit(&msg);
}

static void test_app_json(void **state)
{
    (void)state;
    _Alignas(16) char mem[sizeof(struct sh__log_entry)];
    const char *v[SH__LF_COUNT] = {0};
    v[SH__LF_MOD] = "net";
    v[SH__LF_MSG] = "accept failed: \"x\"";
    struct sh__log_entry *e = entry(mem, v);
    struct sh_buf js, msg;
    sh_buf_init(&js);
    sh_buf_init(&msg);
    sh__logs_entry_json(e, &js, &msg);
    assert_string_equal(js.data, "{\"type\":\"app\",\"module\":\"net\"}");
    assert_string_equal(msg.data, "accept failed: \"x\"");
    sh_buf_deinit(&js);
    sh_buf_deinit(&msg);
}

static void test_strip_secrets(void **state)
{
    (void)state;
    const char *u = "/a?token=abc&x=1&My%50assword=p&client_secret=s";
    char out[128];
    size_t n = sh__logs_strip_secrets(out, u, strlen(u));
    assert_string_equal(out, "/a?token=&x=1&My%50assword=&client_secret=");
    assert_int_equal(n, strlen(out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates_match_gmtime),
        cmocka_unit_test(test_request_json),
        cmocka_unit_test(test_app_json),
        cmocka_unit_test(test_strip_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
