/*
 * The strict JSON entry point (stagehand/json.h): each rule with many cases,
 * as tables of text and expected code, for the validating pass alone
 * (sh_json_check) and for the whole parse (sh_json_parse: duplicate keys,
 * number range, long numbers, the limits). Every refused case here is one
 * that cJSON 1.7 alone accepts or misreads unless noted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "stagehand/core.h"
#include "stagehand/json.h"

struct jcase {
    const char *text;
    size_t len; /* 0: strlen(text) */
    int code;
};

#define L(lit) lit, sizeof(lit) - 1 /* a literal with its embedded NULs */

static void run(const struct jcase *c, size_t n, unsigned depth)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = c[i].len ? c[i].len : strlen(c[i].text);
        struct sh_json_error err;
        int rc = sh_json_check(c[i].text, len, depth, &err);
        if (rc != c[i].code)
            fail_msg("case %zu %.*s: got %d, expected %d (offset %zu)", i, (int)len, c[i].text, rc,
                     c[i].code, err.offset);
        assert_int_equal(err.code, rc);
    }
}

static void test_json_accepts_the_grammar(void **state)
{
    (void)state;
    static const struct jcase ok[] = {
        {"{}", 0, 0},
        {"[]", 0, 0},
        {" \t\r\n{ \"a\" : [ 1 , 2 ] } \n", 0, 0},
        {"0", 0, 0},
        {"-0", 0, 0},
        {"-0.0e-0", 0, 0},
        {"1E+2", 0, 0},
        {"123.456e78", 0, 0},
        {"\"\"", 0, 0},
        {"true", 0, 0},
        {"false", 0, 0},
        {"null", 0, 0},
        {"[null,true,false,{},[],\"x\",0]", 0, 0},
        {"\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", 0, 0},
        {"\"\\u00e9\\u20AC\\uD834\\uDD1E\"", 0, 0},
        {"\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"", 0, 0}, /* U+10FFFF */
        {"\"\xef\xbb\xbf\"", 0, 0},                                            /* BOM inside */
        {"{\"a\":{\"b\":{\"c\":[[[1]]]}}}", 0, 0},
        {"\"\x7f\"", 0, 0}, /* DEL is not a control character to JSON */
    };
    run(ok, SH_ARRAY_LEN(ok), 64);
}

static void test_json_refuses_bad_numbers(void **state)
{
    (void)state;
    static const struct jcase bad[] = {
        {"012", 0, SH_JSON_ESYNTAX},      {"-01", 0, SH_JSON_ESYNTAX},
        {"1.", 0, SH_JSON_ESYNTAX},       {"-.123", 0, SH_JSON_ESYNTAX},
        {"2.e3", 0, SH_JSON_ESYNTAX},     {".5", 0, SH_JSON_ESYNTAX},
        {"+1", 0, SH_JSON_ESYNTAX},       {"1e", 0, SH_JSON_ESYNTAX},
        {"1e+", 0, SH_JSON_ESYNTAX},      {"[1.e1]", 0, SH_JSON_ESYNTAX},
        {"0x10", 0, SH_JSON_ETRAILING},   {"[00]", 0, SH_JSON_ESYNTAX},
        {"Infinity", 0, SH_JSON_ESYNTAX}, {"[NaN]", 0, SH_JSON_ESYNTAX},
        {"-", 0, SH_JSON_ESYNTAX},        {"[- 1]", 0, SH_JSON_ESYNTAX},
        {"1 2", 0, SH_JSON_ETRAILING},    {"{\"a\":012}", 0, SH_JSON_ESYNTAX},
        {"[1,]", 0, SH_JSON_ESYNTAX},     {"1_000", 0, SH_JSON_ETRAILING},
    };
    run(bad, SH_ARRAY_LEN(bad), 64);
}

static void test_json_refuses_trailing_data(void **state)
{
    (void)state;
    static const struct jcase bad[] = {
        {"{\"title\":\"x\"} trailing", 0, SH_JSON_ETRAILING},
        {"{\"title\":\"one\"}{\"title\":\"two\"}", 0, SH_JSON_ETRAILING},
        {"{\"a\":\"b\"}/**/", 0, SH_JSON_ETRAILING},
        {"{\"a\":\"b\"}//", 0, SH_JSON_ETRAILING},
        {"{}#", 0, SH_JSON_ETRAILING},
        {"[]]", 0, SH_JSON_ETRAILING},
        {"{}}", 0, SH_JSON_ETRAILING},
        {L("{}\0"), SH_JSON_ETRAILING},
        {"\"a\" \"b\"", 0, SH_JSON_ETRAILING},
        {"{} \f", 0, SH_JSON_ETRAILING}, /* form feed is not JSON whitespace */
        {"null x", 0, SH_JSON_ETRAILING},
    };
    run(bad, SH_ARRAY_LEN(bad), 64);
}

static void test_json_refuses_bad_structure(void **state)
{
    (void)state;
    static const struct jcase bad[] = {
        {"", 0, SH_JSON_EEMPTY},
        {" \r\n\t", 0, SH_JSON_EEMPTY},
        {"{", 0, SH_JSON_ESYNTAX},
        {"[", 0, SH_JSON_ESYNTAX},
        {"{\"a\"", 0, SH_JSON_ESYNTAX},
        {"{\"a\":", 0, SH_JSON_ESYNTAX},
        {"{\"a\" 1}", 0, SH_JSON_ESYNTAX},
        {"{\"a\":1,}", 0, SH_JSON_ESYNTAX},
        {"{,}", 0, SH_JSON_ESYNTAX},
        {"{a:1}", 0, SH_JSON_ESYNTAX},
        {"{'a':1}", 0, SH_JSON_ESYNTAX},
        {"{1:1}", 0, SH_JSON_ESYNTAX},
        {"[1 2]", 0, SH_JSON_ESYNTAX},
        {"[,1]", 0, SH_JSON_ESYNTAX},
        {"tru", 0, SH_JSON_ESYNTAX},
        {"True", 0, SH_JSON_ESYNTAX},
        {"nul", 0, SH_JSON_ESYNTAX},
        {"\xef\xbb\xbf{}", 0, SH_JSON_ESYNTAX}, /* a BOM before the value */
        {"'x'", 0, SH_JSON_ESYNTAX},
        {"[\"a\":1]", 0, SH_JSON_ESYNTAX},
        {"\xc3\xa9", 0, SH_JSON_ESYNTAX}, /* valid UTF-8, not JSON */
    };
    run(bad, SH_ARRAY_LEN(bad), 64);
}

static void test_json_refuses_raw_control_characters(void **state)
{
    (void)state;
    static const struct jcase bad[] = {
        {"\"a\tb\"", 0, SH_JSON_ECTRL},        {"\"a\nb\"", 0, SH_JSON_ECTRL},
        {"\"a\rb\"", 0, SH_JSON_ECTRL},        {L("\"a\0b\""), SH_JSON_ECTRL},
        {"\"\x01\"", 0, SH_JSON_ECTRL},        {"\"\x1f\"", 0, SH_JSON_ECTRL},
        {"{\"k\x1b\":1}", 0, SH_JSON_ECTRL}, /* in a key */
        {"[\"ok\",\"\b\"]", 0, SH_JSON_ECTRL},
    };
    run(bad, SH_ARRAY_LEN(bad), 64);
}

static void test_json_refuses_bad_escapes(void **state)
{
    (void)state;
    static const struct jcase bad[] = {
        {"\"\\uqqqq\"", 0, SH_JSON_EESCAPE},
        {"\"\\u12\"", 0, SH_JSON_EESCAPE},
        {"\"\\u12", 0, SH_JSON_EESCAPE},
        {"\"\\x41\"", 0, SH_JSON_EESCAPE},
        {"\"\\a\"", 0, SH_JSON_EESCAPE},
        {"\"\\'\"", 0, SH_JSON_EESCAPE},
        {"\"\\U0041\"", 0, SH_JSON_EESCAPE},
        {"\"\\uD800\"", 0, SH_JSON_EESCAPE},        /* lone high surrogate */
        {"\"\\uDBFFx\"", 0, SH_JSON_EESCAPE},       /* high, then not an escape */
        {"\"\\uD800\\n\"", 0, SH_JSON_EESCAPE},     /* high, then another escape */
        {"\"\\uD800\\u0041\"", 0, SH_JSON_EESCAPE}, /* high, then not a low */
        {"\"\\uD800\\uD800\"", 0, SH_JSON_EESCAPE}, /* high, high */
        {"\"\\uDC00\"", 0, SH_JSON_EESCAPE},        /* lone low */
        {"\"\\uDD1E\\uD834\"", 0, SH_JSON_EESCAPE}, /* inverted pair */
        {"\"\\", 0, SH_JSON_ESYNTAX},
        {"{\"\\uZZZZ\":1}", 0, SH_JSON_EESCAPE}, /* in a key */
    };
    run(bad, SH_ARRAY_LEN(bad), 64);
}

static void test_json_refuses_invalid_utf8(void **state)
{
    (void)state;
    static const struct jcase bad[] = {
        {"\"\x80\"", 0, SH_JSON_EUTF8},                     /* lone continuation */
        {"\"\xbf\"", 0, SH_JSON_EUTF8},                     /* lone continuation */
        {"\"\xc0\xaf\"", 0, SH_JSON_EUTF8},                 /* overlong '/' */
        {"\"\xc1\xbf\"", 0, SH_JSON_EUTF8},                 /* overlong */
        {"\"\xe0\x80\xaf\"", 0, SH_JSON_EUTF8},             /* overlong 3 bytes */
        {"\"\xf0\x80\x80\xaf\"", 0, SH_JSON_EUTF8},         /* overlong 4 bytes */
        {"\"\xed\xa0\x80\"", 0, SH_JSON_EUTF8},             /* U+D800 encoded */
        {"\"\xed\xbf\xbf\"", 0, SH_JSON_EUTF8},             /* U+DFFF encoded */
        {"\"\xf4\x90\x80\x80\"", 0, SH_JSON_EUTF8},         /* U+110000 */
        {"\"\xf5\x80\x80\x80\"", 0, SH_JSON_EUTF8},         /* F5 lead */
        {"\"\xff\"", 0, SH_JSON_EUTF8},                     /* never in UTF-8 */
        {"\"\xfe\xff\"", 0, SH_JSON_EUTF8},                 /* UTF-16 BOM bytes */
        {"\"\xe9t\xe9\"", 0, SH_JSON_EUTF8},                /* ISO-8859-1 */
        {"\"\xe2\x82\"", 0, SH_JSON_EUTF8},                 /* truncated before the quote */
        {"\"\xe2\x82", 0, SH_JSON_EUTF8},                   /* truncated at the end */
        {"\"\xf0\x9f\x98\"", 0, SH_JSON_EUTF8},             /* truncated 4 bytes */
        {"\"\xfc\x80\x80\x80\x80\x80\"", 0, SH_JSON_EUTF8}, /* 6-byte form */
        {"{\"\xe9\":1}", 0, SH_JSON_EUTF8},                 /* in a key */
        {"[\xe9]", 0, SH_JSON_EUTF8},                       /* outside a string */
    };
    run(bad, SH_ARRAY_LEN(bad), 64);
}

static void test_json_refuses_nul(void **state)
{
    (void)state;
    static const struct jcase bad[] = {
        {"\"\\u0000\"", 0, SH_JSON_ENUL},
        {"\"abc\\u0000def\"", 0, SH_JSON_ENUL},
        {"{\"title\":\"x\\u0000y\"}", 0, SH_JSON_ENUL},
        {"{\"a\\u0000b\":1}", 0, SH_JSON_ENUL},
        {"[\"\\u0000\"]", 0, SH_JSON_ENUL},
    };
    run(bad, SH_ARRAY_LEN(bad), 64);
    /* other escapes of low code points are fine */
    static const struct jcase ok[] = {{"\"\\u0001\\u001f\\u0020\"", 0, 0}};
    run(ok, 1, 64);
}

static void test_json_depth_limit(void **state)
{
    (void)state;
    char buf[2100];
    for (unsigned d = 1; d <= 1000; d += 333) {
        /* d levels pass a limit of d, d + 1 do not */
        for (int extra = 0; extra <= 1; extra++) {
            unsigned n = d + (unsigned)extra, k = 0;
            for (unsigned i = 0; i < n; i++)
                buf[k++] = '[';
            for (unsigned i = 0; i < n; i++)
                buf[k++] = ']';
            int rc = sh_json_check(buf, k, d, NULL);
            assert_int_equal(rc, extra ? SH_JSON_EDEPTH : 0);
        }
    }
    static const struct jcase mixed[] = {
        {"{\"a\":[{\"b\":[1]}]}", 0, 0},
        {"{\"a\":[{\"b\":[[1]]}]}", 0, SH_JSON_EDEPTH},
        {"[[[[[", 0, SH_JSON_EDEPTH},
    };
    run(mixed, SH_ARRAY_LEN(mixed), 4);
    /* a limit above cJSON's own is clamped to it */
    memset(buf, '[', 1001);
    memset(buf + 1001, ']', 1001);
    assert_int_equal(sh_json_check(buf, 2002, 5000, NULL), SH_JSON_EDEPTH);
}

static void test_json_parse_refuses_duplicate_keys(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{\"verified\":false,\"verified\":true}",
        "{\"tokenKey\":\"x\",\"tokenKey\":\"y\"}",
        "{\"a\":1,\"a\":1}",
        "{\"a\":1,\"\\u0061\":2}", /* the same key once unescaped */
        "{\"\\u00e9\":1,\"\xc3\xa9\":2}",
        "{\"x\":{\"a\":1,\"b\":2,\"a\":3}}",
        "[{\"a\":1},{\"b\":1,\"b\":2}]",
        "{\"\":1,\"\":2}",
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        struct sh_json_error err;
        cJSON *j = sh_json_parse(bad[i], strlen(bad[i]), &err);
        if (j || err.code != SH_JSON_EDUPKEY)
            fail_msg("%s: code %d", bad[i], err.code);
    }
    /* many keys (sorted path): the duplicate is found wherever it is */
    char big[8192];
    for (int dup = 0; dup <= 1; dup++) {
        size_t k = 0;
        big[k++] = '{';
        for (int i = 0; i < 500; i++)
            k += (size_t)snprintf(big + k, sizeof(big) - k, "%s\"k%d\":%d", i ? "," : "", i, i);
        if (dup)
            k += (size_t)snprintf(big + k, sizeof(big) - k, ",\"k250\":0");
        big[k++] = '}';
        struct sh_json_error err;
        cJSON *j = sh_json_parse(big, k, &err);
        assert_int_equal(err.code, dup ? SH_JSON_EDUPKEY : 0);
        assert_true(dup ? j == NULL : cJSON_GetArraySize(j) == 500);
        cJSON_Delete(j);
    }
    /* same keys in different objects are fine; so are keys differing in case */
    const char *ok = "{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}],\"A\":0}";
    cJSON *j = sh_json_parse(ok, strlen(ok), NULL);
    assert_non_null(j);
    cJSON_Delete(j);
}

static void test_json_parse_number_range(void **state)
{
    (void)state;
    static const char *bad[] = {"1e999999", "[1e309]", "[-1e400]", "{\"n\":123.456e789}",
                                "[1.5E+99999]"};
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        struct sh_json_error err;
        cJSON *j = sh_json_parse(bad[i], strlen(bad[i]), &err);
        if (j || err.code != SH_JSON_ENUMBER)
            fail_msg("%s: code %d", bad[i], err.code);
    }
    /* underflow reads as 0; the largest doubles are kept */
    const char *ok = "[1e-999999,1.7976931348623157e308,-1.7976931348623157e308]";
    cJSON *j = sh_json_parse(ok, strlen(ok), NULL);
    assert_non_null(j);
    assert_true(cJSON_GetArrayItem(j, 0)->valuedouble == 0);
    assert_true(cJSON_GetArrayItem(j, 1)->valuedouble == 1.7976931348623157e308);
    cJSON_Delete(j);
}

static void test_json_parse_long_numbers(void **state)
{
    (void)state;
    /* longer than the 63 characters cJSON reads: rewritten, not refused */
    const char *t = "{\"a\":-0.0000000000000000000000000000000000000000000000000000000000000000000"
                    "000000001,\"s\":\"1234567890123456789012345678901234567890123456789012345678"
                    "901234567890\",\"b\":123456789012345678901234567890123456789012345678901234"
                    "567890123456789e-60}";
    struct sh_json_error err;
    cJSON *j = sh_json_parse(t, strlen(t), &err);
    assert_non_null(j);
    double a = cJSON_GetObjectItem(j, "a")->valuedouble;
    assert_true(a < -1e-80 && a > -1e-70); /* -1e-76, within a rounding of %.17g */
    assert_int_equal(strlen(cJSON_GetObjectItem(j, "s")->valuestring), 70); /* untouched */
    assert_true(
        cJSON_GetObjectItem(j, "b")->valuedouble ==
        strtod("123456789012345678901234567890123456789012345678901234567890123456789e-60", NULL));
    cJSON_Delete(j);
    const char *huge = "[1000000000000000000000000000000000000000000000000000000000000000000e999]";
    assert_null(sh_json_parse(huge, strlen(huge), &err));
    assert_int_equal(err.code, SH_JSON_ENUMBER);
}

static void test_json_parse_limits_and_messages(void **state)
{
    (void)state;
    struct sh_json_error err;
    char msg[128];
    sh_json_limits_set(10, 2);
    assert_int_equal(sh_json_max_bytes(), 10);
    assert_int_equal(sh_json_max_depth(), 2);
    assert_null(sh_json_parse("{\"a\":12345}", 11, &err));
    assert_int_equal(err.code, SH_JSON_ETOOBIG);
    cJSON *j = sh_json_parse("[[1]]", 5, &err);
    assert_non_null(j);
    cJSON_Delete(j);
    assert_null(sh_json_parse("[[[1]]]", 7, &err));
    assert_int_equal(err.code, SH_JSON_EDEPTH);
    sh_json_limits_set(SH_JSON_MAX_BYTES_DEFAULT, 0); /* clamped to 1 */
    assert_int_equal(sh_json_max_depth(), 1);
    sh_json_limits_set(SH_JSON_MAX_BYTES_DEFAULT, SH_JSON_MAX_DEPTH_DEFAULT);

    assert_null(sh_json_parse("{\"a\":\"\xc3\x28\"}", 10, &err));
    assert_string_equal(sh_json_error_format(&err, msg, sizeof(msg)), "Invalid UTF-8 at byte 6.");
    assert_null(sh_json_parse("{\"a\":\"\\u0000\"}", 14, &err));
    assert_string_equal(sh_json_error_format(&err, msg, sizeof(msg)),
                        "A NUL character (\\u0000) in a string at byte 6.");
    assert_null(sh_json_parse("{} x", 4, &err));
    assert_string_equal(sh_json_error_format(&err, msg, sizeof(msg)),
                        "Unexpected data after the JSON value at byte 3.");
    assert_null(sh_json_parse("{\"a\":1,\"a\":2}", 13, &err));
    assert_string_equal(sh_json_error_format(&err, msg, sizeof(msg)),
                        "An object has the same key twice.");
    /* a short buffer truncates the sentence, always terminated */
    char tiny[8];
    assert_int_equal(strlen(sh_json_error_format(&err, tiny, sizeof(tiny))), 7);
}

/* The text need not be NUL-terminated: nothing past n is read (ASan checks). */
static void test_json_reads_only_n_bytes(void **state)
{
    (void)state;
    static const char *texts[] = {"{\"a\":[1,2,{\"b\":\"\\u00e9\"}]}", "\"\\uD834\\uDD1E\"",
                                  "[-0.5e+3]", "\"\xf0\x9f\x98\x80\""};
    for (size_t i = 0; i < SH_ARRAY_LEN(texts); i++) {
        size_t n = strlen(texts[i]);
        for (size_t cut = 0; cut <= n; cut++) {
            char *copy = malloc(cut ? cut : 1);
            memcpy(copy, texts[i], cut);
            int rc = sh_json_check(copy, cut, 64, NULL);
            assert_true(cut == n ? rc == 0 : rc != 0);
            cJSON *j = sh_json_parse(copy, cut, NULL);
            assert_true(cut == n ? j != NULL : j == NULL);
            cJSON_Delete(j);
            free(copy);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_accepts_the_grammar),
        cmocka_unit_test(test_json_refuses_bad_numbers),
        cmocka_unit_test(test_json_refuses_trailing_data),
        cmocka_unit_test(test_json_refuses_bad_structure),
        cmocka_unit_test(test_json_refuses_raw_control_characters),
        cmocka_unit_test(test_json_refuses_bad_escapes),
        cmocka_unit_test(test_json_refuses_invalid_utf8),
        cmocka_unit_test(test_json_refuses_nul),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_json_parse_refuses_duplicate_keys),
        cmocka_unit_test(test_json_parse_number_range),
        cmocka_unit_test(test_json_parse_long_numbers),
        cmocka_unit_test(test_json_parse_limits_and_messages),
        cmocka_unit_test(test_json_reads_only_n_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
