/* Unit tests of growable buffers, string slices and logfmt quoting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/core.h"

static void test_buf_append_grows_and_consumes(void **state)
{
    (void)state;
    struct sh_buf b;
    sh_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        sh_buf_appends(&b, "abc");
    assert_int_equal(b.len, 3000);
    sh_buf_consume(&b, 2999);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 'c');
    sh_buf_consume(&b, 5);
    assert_int_equal(b.len, 0);
    sh_buf_deinit(&b);
}

static void test_buf_appendf_long_output(void **state)
{
    (void)state;
    struct sh_buf b;
    sh_buf_init(&b);
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    sh_buf_appendf(&b, "[%s]", big);
    assert_int_equal(b.len, sizeof(big) + 1);
    assert_int_equal(b.data[0], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    sh_buf_deinit(&b);
}

static void test_buf_append_u64(void **state)
{
    (void)state;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_append_u64(&b, 0);
    sh_buf_append(&b, " ", 1);
    sh_buf_append_u64(&b, UINT64_MAX);
    sh_buf_append(&b, "", 1);
    assert_string_equal(b.data, "0 18446744073709551615");
    sh_buf_deinit(&b);
}

static void test_str_case_insensitive(void **state)
{
    (void)state;
    struct sh_str s = {"Content-LENGTH", 14};
    assert_true(sh_str_caseeq(s, "content-length"));
    assert_false(sh_str_caseeq(s, "content-lengt"));
    assert_false(sh_str_caseeq(s, "content-lengths"));
    assert_false(sh_str_eq(s, "content-length"));
    assert_true(sh_str_eq(s, "Content-LENGTH"));
}

static void test_log_kv_quotes_and_escapes(void **state)
{
    (void)state;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_log_kv(&b, "path", "/plain", 6);
    sh_log_kv(&b, "msg", "a \"b\"\n", 6);
    sh_log_kv(&b, "empty", "", 0);
    sh_buf_append(&b, "", 1);
    assert_string_equal(b.data, " path=/plain msg=\"a \\\"b\\\"\\x0a\" empty=\"\"");
    sh_buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_grows_and_consumes),
        cmocka_unit_test(test_buf_appendf_long_output),
        cmocka_unit_test(test_buf_append_u64),
        cmocka_unit_test(test_str_case_insensitive),
        cmocka_unit_test(test_log_kv_quotes_and_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
