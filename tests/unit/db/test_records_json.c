/*
 * JSON text written straight from rows (records_json.c): string escaping
 * (RFC 8259, on both sides of the 8-byte scan), numbers as Go's
 * encoding/json writes a float64 (-0, 0.1, 1e21, 1e-7, integers past 2^53,
 * the shortest round-trip digits), NaN and infinities never emitted as
 * invalid JSON, the validator of stored JSON text; and the count cache
 * (records_count.c): hits, a write to the table (or to any table, for a
 * WHERE reading other tables) making its counts stale, LRU eviction, a
 * capacity of 0 turning it off, and a write job bumping its own cache.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "stagehand/records.h"

/* ---- strings ---- */

static char *str_json(const char *s, size_t n)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh__json_str(&b, s, n);
    sh_buf_append(&b, "", 1);
    return b.data;
}

static void expect_str(const char *in, const char *want)
{
    char *got = str_json(in, strlen(in));
    assert_string_equal(got, want);
    free(got);
}

static void test_json_str_escapes(void **state)
{
    (void)state;
    expect_str("", "\"\"");
    expect_str("plain text", "\"plain text\"");
    expect_str("a\"b\\c", "\"a\\\"b\\\\c\"");
    expect_str("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    expect_str("\x01\x1f", "\"\\u0001\\u001f\"");
    expect_str("/ \x7f <>&", "\"/ \x7f <>&\""); /* no escape needed */
    expect_str("h\xc3\xa9llo \xe2\x82\xac", "\"h\xc3\xa9llo \xe2\x82\xac\"");
    /* an embedded NUL is data, not the end */
    char *got = str_json("a\0b", 3);
    assert_string_equal(got, "\"a\\u0000b\"");
    free(got);
}

/* Every position of an escape relative to the 8-byte scan, against a
 * byte-at-a-time reference, and what cJSON reads back. */
static void test_json_str_positions(void **state)
{
    (void)state;
    const char specials[] = {'"', '\\', '\n', '\x02', '\x1f', ' ', '~', (char)0x80, (char)0xff};
    char in[40], want[300];
    for (size_t len = 0; len < 33; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t k = 0; k < sizeof(specials); k++) {
                for (size_t i = 0; i < len; i++)
                    in[i] = (char)('a' + i % 26);
                in[pos] = specials[k];
                in[len] = 0;
                size_t w = 0;
                want[w++] = '"';
                for (size_t i = 0; i < len; i++) {
                    unsigned char c = (unsigned char)in[i];
                    if (c == '"' || c == '\\') {
                        want[w++] = '\\';
                        want[w++] = (char)c;
                    } else if (c == '\n') {
                        want[w++] = '\\';
                        want[w++] = 'n';
                    } else if (c < 0x20) {
                        w += (size_t)snprintf(want + w, 7, "\\u%04x", c);
                    } else {
                        want[w++] = (char)c;
                    }
                }
                want[w++] = '"';
                want[w] = 0;
                char *got = str_json(in, len);
                assert_string_equal(got, want);
                if ((unsigned char)specials[k] < 0x80) {
                    cJSON *j = cJSON_Parse(got);
                    assert_true(cJSON_IsString(j));
                    assert_string_equal(j->valuestring, in);
                    cJSON_Delete(j);
                }
                free(got);
            }
        }
    }
}

/* ---- numbers ---- */

static char *num_json(double d)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh__json_double(&b, d);
    sh_buf_append(&b, "", 1);
    return b.data;
}

static void expect_num(double d, const char *want)
{
    char *got = num_json(d);
    if (strcmp(got, want) != 0)
        fail_msg("%.17g printed as %s, expected %s", d, got, want);
    free(got);
}

static void expect_int(int64_t v, const char *want)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh__json_int(&b, v);
    sh_buf_append(&b, "", 1);
    assert_string_equal(b.data, want);
    sh_buf_deinit(&b);
}

/* The strings are what Go's json.Marshal(float64) writes. */
static void test_json_numbers_go(void **state)
{
    (void)state;
    expect_num(0, "0");
    expect_num(-0.0, "-0");
    expect_num(1, "1");
    expect_num(-1, "-1");
    expect_num(100, "100");
    expect_num(0.1, "0.1");
    expect_num(-2.5, "-2.5");
    expect_num(0.1 + 0.2, "0.30000000000000004");
    expect_num(1.0 / 3, "0.3333333333333333");
    expect_num(123456789.123, "123456789.123");
    expect_num(1e6, "1000000");
    expect_num(1e20, "100000000000000000000");
    expect_num(1e21, "1e+21");
    expect_num(-1.5e21, "-1.5e+21");
    expect_num(1.2345e100, "1.2345e+100");
    expect_num(1.7976931348623157e308, "1.7976931348623157e+308");
    expect_num(0.000001, "0.000001");
    expect_num(0.0000012, "0.0000012");
    expect_num(1e-7, "1e-7");
    expect_num(-1.5e-7, "-1.5e-7");
    expect_num(1e-10, "1e-10");
    expect_num(5e-324, "5e-324");
    expect_num(2.2250738585072014e-308, "2.2250738585072014e-308");
    expect_num(9007199254740992.0, "9007199254740992");       /* 2^53 */
    expect_num(9007199254740994.0, "9007199254740994");       /* past it: shortest digits */
    expect_num(1152921504606846976.0, "1152921504606847000"); /* 2^60 */
    expect_num(123456789012345678.0, "123456789012345680");
    expect_num(999999999999999868928.0, "999999999999999900000"); /* just below 1e21 */
    /* never stored (validation refuses them), never invalid JSON */
    expect_num(NAN, "null");
    expect_num(INFINITY, "null");
    expect_num(-INFINITY, "null");
}

static void test_json_numbers_int(void **state)
{
    (void)state;
    expect_int(0, "0");
    expect_int(-7, "-7");
    expect_int(1000000, "1000000");
    expect_int(9007199254740992LL, "9007199254740992");
    expect_int(-9007199254740992LL, "-9007199254740992");
    /* a number field is a float64: past 2^53 the integer prints as its double */
    expect_int(9007199254740993LL, "9007199254740992");
    expect_int(INT64_MAX, "9223372036854776000");
    expect_int(INT64_MIN, "-9223372036854776000");
}

/* Random doubles: the text reads back as the same double, has no more
 * digits than %.17g needs, and is valid JSON. */
static void test_json_numbers_roundtrip(void **state)
{
    (void)state;
    srand(7);
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (!isfinite(d))
            continue;
        if (i % 3 == 0)
            d = (double)(rand() % 100000) / (double)(1 + rand() % 1000);
        char *got = num_json(d);
        double back = strtod(got, NULL);
        if (back != d || signbit(back) != signbit(d))
            fail_msg("%.17g printed as %s", d, got);
        assert_true(sh__json_valid(got, strlen(got)));
        cJSON *j = cJSON_Parse(got);
        assert_true(cJSON_IsNumber(j));
        cJSON_Delete(j);
        free(got);
    }
}

/* ---- stored JSON ---- */

static bool valid(const char *s)
{
    return sh__json_valid(s, strlen(s));
}

static void test_json_valid(void **state)
{
    (void)state;
    assert_true(valid("null"));
    assert_true(valid("true"));
    assert_true(valid("0"));
    assert_true(valid("-0.5e+10"));
    assert_true(valid("\"a\\u00e9\\n\""));
    assert_true(valid("[]"));
    assert_true(valid(" [1, \"x\", {\"a\": [null]}] "));
    assert_true(valid("{\"a\":{\"b\":{}},\"c\":[true,false]}"));
    assert_false(valid(""));
    assert_false(valid("   "));
    assert_false(valid("[1,]"));
    assert_false(valid("{\"a\"}"));
    assert_false(valid("{\"a\":1,}"));
    assert_false(valid("[1] x"));
    assert_false(valid("01"));
    assert_false(valid("1."));
    assert_false(valid(".5"));
    assert_false(valid("\"\x01\""));
    assert_false(valid("\"\\x\""));
    assert_false(valid("\"\\u12\""));
    assert_false(valid("\"open"));
    assert_false(valid("tru"));
    assert_false(valid("NaN"));
    assert_false(valid("{'a':1}"));
    /* nesting: 1000 levels are fine (cJSON's limit), more are refused */
    char deep[2100];
    for (int depth = 1000; depth <= 1001; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        assert_int_equal(sh__json_valid(deep, 2 * (size_t)depth), depth == 1000);
    }
}

/* ---- the count cache ---- */

static struct sh_rec_count_key key(const char *table, bool any, const char *k)
{
    return (struct sh_rec_count_key){table, any, k, strlen(k), 0};
}

/* Another process's write moves the shared version the caller puts in the
 * key (db/engine/versions.c): the entry counted at the old one is stale,
 * though this process bumped nothing. */
static void test_count_cache_shared_version(void **state)
{
    (void)state;
    struct sh_rec_counts *cc = sh_rec_counts_new(16);
    int64_t n = -1;
    struct sh_rec_count_key k = key("posts", false, "tag=b");
    k.shared = 7;
    sh_rec_counts_put(cc, &k, 42);
    assert_true(sh_rec_counts_get(cc, &k, &n));
    assert_int_equal(n, 42);
    k.shared = 8; /* written elsewhere */
    assert_false(sh_rec_counts_get(cc, &k, &n));
    k.shared = 7; /* dropped for good: versions only grow */
    assert_false(sh_rec_counts_get(cc, &k, &n));
    sh_rec_counts_free(cc);
}

static void test_count_cache_versions(void **state)
{
    (void)state;
    struct sh_rec_counts *cc = sh_rec_counts_new(16);
    int64_t n = -1;
    struct sh_rec_count_key a = key("posts", false, "tag=b");
    struct sh_rec_count_key a2 = key("posts", false, "tag=c");
    struct sh_rec_count_key other = key("users", false, "x");
    struct sh_rec_count_key joined = key("posts", true, "author.name=x");
    assert_false(sh_rec_counts_get(cc, &a, &n));
    sh_rec_counts_put(cc, &a, 42);
    sh_rec_counts_put(cc, &a2, 7);
    sh_rec_counts_put(cc, &other, 3);
    sh_rec_counts_put(cc, &joined, 5);
    assert_true(sh_rec_counts_get(cc, &a, &n));
    assert_int_equal(n, 42);
    assert_true(sh_rec_counts_get(cc, &a2, &n));
    assert_int_equal(n, 7);

    /* a write to posts: its counts are stale, users' are not, except the
     * one whose WHERE reads other tables */
    sh_rec_counts_bump(cc, "POSTS"); /* table names are case-insensitive */
    assert_false(sh_rec_counts_get(cc, &a, &n));
    assert_false(sh_rec_counts_get(cc, &a2, &n));
    assert_false(sh_rec_counts_get(cc, &joined, &n));
    assert_true(sh_rec_counts_get(cc, &other, &n));
    assert_int_equal(n, 3);
    sh_rec_counts_put(cc, &joined, 6);
    sh_rec_counts_bump(cc, "tags"); /* any write makes the joined one stale */
    assert_false(sh_rec_counts_get(cc, &joined, &n));
    assert_true(sh_rec_counts_get(cc, &other, &n));

    /* recounted after the write: current again */
    sh_rec_counts_put(cc, &a, 43);
    assert_true(sh_rec_counts_get(cc, &a, &n));
    assert_int_equal(n, 43);
    struct sh_rec_counts_stats st;
    sh_rec_counts_stats(cc, &st);
    assert_int_equal(st.stale, 4);
    assert_true(st.hits >= 5);
    sh_rec_counts_free(cc);
}

static void test_count_cache_lru(void **state)
{
    (void)state;
    struct sh_rec_counts *cc = sh_rec_counts_new(3);
    char k[4][8];
    struct sh_rec_count_key keys[4];
    for (int i = 0; i < 4; i++) {
        snprintf(k[i], sizeof(k[i]), "k%d", i);
        keys[i] = key("t", false, k[i]);
    }
    int64_t n;
    for (int i = 0; i < 3; i++)
        sh_rec_counts_put(cc, &keys[i], i);
    assert_true(sh_rec_counts_get(cc, &keys[0], &n)); /* k0 is now the most recent */
    sh_rec_counts_put(cc, &keys[3], 3);               /* evicts k1 */
    assert_false(sh_rec_counts_get(cc, &keys[1], &n));
    static const int kept[] = {0, 2, 3};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        assert_true(sh_rec_counts_get(cc, &keys[kept[i]], &n));
        assert_int_equal(n, kept[i]);
    }
    /* a put on a present key replaces its count in place */
    sh_rec_counts_put(cc, &keys[2], 20);
    assert_true(sh_rec_counts_get(cc, &keys[2], &n));
    assert_int_equal(n, 20);
    struct sh_rec_counts_stats st;
    sh_rec_counts_stats(cc, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 1);
    sh_rec_counts_free(cc);

    /* capacity 0: off */
    cc = sh_rec_counts_new(0);
    sh_rec_counts_put(cc, &keys[0], 1);
    assert_false(sh_rec_counts_get(cc, &keys[0], &n));
    sh_rec_counts_bump(cc, "t");
    sh_rec_counts_free(cc);
    /* NULL: off too */
    assert_false(sh_rec_counts_get(NULL, &keys[0], &n));
    sh_rec_counts_put(NULL, &keys[0], 1);
    sh_rec_counts_bump(NULL, "t");
}

/* A write in progress: its table's counts are neither served nor stored
 * until it ends, and what was stored before is stale after. */
static void test_count_cache_pending(void **state)
{
    (void)state;
    struct sh_rec_counts *cc = sh_rec_counts_new(16);
    struct sh_rec_count_key a = key("pend_a", false, "k"), b = key("pend_b", false, "k");
    struct sh_rec_count_key any = key("pend_b", true, "k");
    int64_t n;
    sh_rec_counts_put(cc, &a, 1);
    sh_rec_counts_put(cc, &b, 2);
    sh_rec_counts_write_begin("PEND_A"); /* as a writer thread would */
    assert_false(sh_rec_counts_get(cc, &a, &n));
    sh_rec_counts_put(cc, &a, 5); /* counted on a snapshot that may lack the write */
    assert_false(sh_rec_counts_get(cc, &a, &n));
    assert_true(sh_rec_counts_get(cc, &b, &n)); /* another table is unaffected... */
    sh_rec_counts_put(cc, &any, 3);             /* ...but not a WHERE reading any table */
    assert_false(sh_rec_counts_get(cc, &any, &n));
    sh_rec_counts_write_end(cc, "pend_a");
    assert_false(sh_rec_counts_get(cc, &a, &n)); /* the count from before is stale */
    sh_rec_counts_put(cc, &a, 6);
    assert_true(sh_rec_counts_get(cc, &a, &n));
    assert_int_equal(n, 6);
    /* two writes to one table: the mark holds until both end */
    sh_rec_counts_write_begin("pend_a");
    sh_rec_counts_write_begin("pend_a");
    sh_rec_counts_write_end(cc, "pend_a");
    sh_rec_counts_put(cc, &a, 7);
    assert_false(sh_rec_counts_get(cc, &a, &n));
    sh_rec_counts_write_end(NULL, "pend_a"); /* no cache: the mark still ends */
    sh_rec_counts_put(cc, &a, 8);
    assert_true(sh_rec_counts_get(cc, &a, &n));
    assert_int_equal(n, 8);
    struct sh_rec_counts_stats st;
    sh_rec_counts_stats(cc, &st);
    assert_true(st.pending >= 3);
    sh_rec_counts_free(cc);
}

/* A write job ends its marks and bumps its tables in the cache it was given
 * (sh_rec_write.counts, the one its server serves totals from), not in a
 * process-wide one: another server's cache of the same table name keeps
 * its totals (its database was not written), and a job without a cache
 * (the CLI's) still ends its marks. */
static void test_count_cache_of_the_job(void **state)
{
    (void)state;
    struct sh_rec_counts *mine = sh_rec_counts_new(16), *other = sh_rec_counts_new(16);
    struct sh_rec_count_key k = key("jobs_t", false, "k");
    int64_t n;
    sh_rec_counts_put(mine, &k, 1);
    sh_rec_counts_put(other, &k, 2);
    char name[] = "jobs_t", id[] = "pbc_jobs";
    struct sh_collection c = {.id = id, .name = name, .type = SH_COLLECTION_BASE};
    struct sh_rec_write w;
    memset(&w, 0, sizeof(w));
    w.counts = mine;
    sh__rec_touch(&w, &c); /* as sh_rec_write_run does on the writer thread */
    assert_false(sh_rec_counts_get(mine, &k, &n)); /* pending */
    sh_rec_write_deinit(&w);
    assert_false(sh_rec_counts_get(mine, &k, &n)); /* bumped: counted again */
    sh_rec_counts_put(mine, &k, 3);
    assert_true(sh_rec_counts_get(mine, &k, &n));
    assert_int_equal(n, 3);
    assert_true(sh_rec_counts_get(other, &k, &n)); /* another server's cache */
    assert_int_equal(n, 2);

    memset(&w, 0, sizeof(w)); /* no cache: the mark still ends */
    sh__rec_touch(&w, &c);
    sh_rec_write_deinit(&w);
    sh_rec_counts_put(mine, &k, 4);
    assert_true(sh_rec_counts_get(mine, &k, &n));
    assert_int_equal(n, 4);
    sh_rec_counts_free(mine);
    sh_rec_counts_free(other);
}

/* Keys that differ in any byte (parameter values included) are distinct,
 * also when they collide in a small table. */
static void test_count_cache_keys(void **state)
{
    (void)state;
    struct sh_rec_counts *cc = sh_rec_counts_new(2048);
    char k[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "where\x01%d", i);
        struct sh_rec_count_key kk = {"t", false, k, strlen(k) + 1, 0};
        sh_rec_counts_put(cc, &kk, i);
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "where\x01%d", i);
        struct sh_rec_count_key kk = {"t", false, k, strlen(k) + 1, 0};
        int64_t n;
        assert_true(sh_rec_counts_get(cc, &kk, &n));
        assert_int_equal(n, i);
        kk.any_table = true; /* part of the key */
        assert_false(sh_rec_counts_get(cc, &kk, &n));
    }
    sh_rec_counts_free(cc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_str_escapes),
        cmocka_unit_test(test_json_str_positions),
        cmocka_unit_test(test_json_numbers_go),
        cmocka_unit_test(test_json_numbers_int),
        cmocka_unit_test(test_json_numbers_roundtrip),
        cmocka_unit_test(test_json_valid),
        cmocka_unit_test(test_count_cache_versions),
        cmocka_unit_test(test_count_cache_lru),
        cmocka_unit_test(test_count_cache_pending),
        cmocka_unit_test(test_count_cache_keys),
        cmocka_unit_test(test_count_cache_of_the_job),
        cmocka_unit_test(test_count_cache_shared_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
