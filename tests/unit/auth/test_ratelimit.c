/*
 * Tests of the rate limiter with a fake clock: the limit, Retry-After exact
 * to the millisecond (a hit one ms earlier is refused, at it is allowed), the
 * previous window's weight decaying as the current one advances, the full
 * reset after two idle windows, independent keys, long keys, and eviction
 * that holds the number of keys at max_keys while keeping recently hit keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/auth.h"

static struct sh_ratelimit_result hit(struct sh_ratelimit *rl, const char *key, uint64_t t)
{
    struct sh_ratelimit_result r;
    sh_ratelimit_hit(rl, key, strlen(key), t, &r);
    return r;
}

static void test_ratelimit_bad_params(void **state)
{
    (void)state;
    assert_null(sh_ratelimit_new(0, 1000, 10));
    assert_null(sh_ratelimit_new(5, 0, 10));
    assert_null(sh_ratelimit_new(5, 1000, 0));
    assert_null(sh_ratelimit_new(5, SH_RATELIMIT_WINDOW_MAX + 1, 10));
    struct sh_ratelimit *rl = sh_ratelimit_new(5, SH_RATELIMIT_WINDOW_MAX, 10);
    assert_non_null(rl);
    sh_ratelimit_free(rl);
    sh_ratelimit_free(NULL);
}

static void test_ratelimit_limit_reached(void **state)
{
    (void)state;
    struct sh_ratelimit *rl = sh_ratelimit_new(3, 1000, 16);
    const uint64_t t0 = 50000; /* the start of window 50 */
    struct sh_ratelimit_result r = hit(rl, "1.2.3.4", t0);
    assert_true(r.allowed);
    assert_int_equal(r.limit, 3);
    assert_int_equal(r.remaining, 2);
    /* the hit is fully forgotten at the end of the next window */
    assert_int_equal(r.reset_ms, 2000);
    assert_int_equal(hit(rl, "1.2.3.4", t0 + 1).remaining, 1);
    r = hit(rl, "1.2.3.4", t0 + 2);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);

    r = hit(rl, "1.2.3.4", t0 + 2);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    /* at t0+1000+x the estimate is 3*(1000-x)/1000; a hit fits once it is
     * <= 2, i.e. x >= 334: 1332 ms from t0+2 */
    assert_int_equal(r.retry_after_ms, 1332);
    assert_int_equal(r.reset_ms, r.retry_after_ms);
    r = hit(rl, "1.2.3.4", t0 + 2 + 1331);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_ms, 1);
    r = hit(rl, "1.2.3.4", t0 + 2 + 1332);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);

    /* refused hits are not counted: waiting works even while retrying */
    for (int i = 0; i < 100; i++)
        assert_false(hit(rl, "1.2.3.4", t0 + 1400).allowed);
    assert_true(hit(rl, "1.2.3.4", t0 + 3000).allowed);
    sh_ratelimit_free(rl);
}

/* Property: wherever a hit is refused, retry_after_ms is exact. */
static void test_ratelimit_retry_after_exact(void **state)
{
    (void)state;
    for (unsigned limit = 1; limit <= 7; limit++) {
        for (uint64_t start = 0; start < 1000; start += 97) {
            struct sh_ratelimit *a = sh_ratelimit_new(limit, 1000, 4);
            struct sh_ratelimit *b = sh_ratelimit_new(limit, 1000, 4);
            uint64_t t = start;
            /* a burst, some spread hits, and then a refusal */
            struct sh_ratelimit_result r;
            unsigned n = 0;
            do {
                t += n++ % 3 == 0 ? 0 : 137;
                r = hit(a, "k", t);
                hit(b, "k", t);
            } while (r.allowed);
            assert_true(r.retry_after_ms > 0);
            /* b has the same history: one ms early is refused, on time is not */
            assert_false(hit(b, "k", t + r.retry_after_ms - 1).allowed);
            assert_true(hit(a, "k", t + r.retry_after_ms).allowed);
            sh_ratelimit_free(a);
            sh_ratelimit_free(b);
        }
    }
}

static void test_ratelimit_sliding_decay(void **state)
{
    (void)state;
    struct sh_ratelimit *rl = sh_ratelimit_new(10, 1000, 16);
    for (int i = 0; i < 10; i++)
        assert_true(hit(rl, "k", (uint64_t)i).allowed);
    assert_false(hit(rl, "k", 999).allowed);
    /* a fixed window would reset here; the previous one still weighs 10 */
    assert_false(hit(rl, "k", 1000).allowed);
    /* halfway: weight 5, so 4 more fit (5 + 4 + the rounding of 1) */
    struct sh_ratelimit_result r = hit(rl, "k", 1500);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 4);
    for (int i = 0; i < 4; i++)
        assert_true(hit(rl, "k", 1500).allowed);
    assert_false(hit(rl, "k", 1500).allowed);
    /* at 1900 prev weighs 1 and cur holds 5: this hit and 3 more */
    r = hit(rl, "k", 1900);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 3);
    /* two windows of silence forget everything */
    r = hit(rl, "k", 4000);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 9);
    sh_ratelimit_free(rl);
}

static void test_ratelimit_keys_independent(void **state)
{
    (void)state;
    struct sh_ratelimit *rl = sh_ratelimit_new(1, 60000, 16);
    assert_true(hit(rl, "a", 0).allowed);
    assert_false(hit(rl, "a", 1).allowed);
    assert_true(hit(rl, "b", 1).allowed);
    /* keys are bytes, not strings */
    struct sh_ratelimit_result r;
    sh_ratelimit_hit(rl, "a\0x", 3, 2, &r);
    assert_true(r.allowed);
    sh_ratelimit_hit(rl, "a\0y", 3, 2, &r);
    assert_true(r.allowed);
    sh_ratelimit_hit(rl, "", 0, 2, &r);
    assert_true(r.allowed);
    assert_int_equal(sh_ratelimit_size(rl), 5);

    /* long keys (stored as digests) stay distinct and stable */
    char k1[300], k2[300];
    memset(k1, 'x', sizeof k1 - 1);
    k1[sizeof k1 - 1] = '\0';
    memcpy(k2, k1, sizeof k1);
    k2[298] = 'y';
    assert_true(hit(rl, k1, 3).allowed);
    assert_false(hit(rl, k1, 4).allowed);
    assert_true(hit(rl, k2, 4).allowed);
    sh_ratelimit_free(rl);
}

static void test_ratelimit_eviction_bounded(void **state)
{
    (void)state;
    enum { MAX = 100 };
    struct sh_ratelimit *rl = sh_ratelimit_new(1, 60000, MAX);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
        assert_true(hit(rl, key, 1000).allowed);
        /* the hot key is hit all the time and must never be evicted */
        struct sh_ratelimit_result r = hit(rl, "hot", 1000);
        assert_int_equal(r.allowed, i == 0);
        assert_true(sh_ratelimit_size(rl) <= MAX);
    }
    assert_int_equal(sh_ratelimit_size(rl), MAX);
    /* the most recent keys are still limited, the first ones were dropped */
    assert_false(hit(rl, "10.0.19.135", 1001).allowed); /* key 4999 */
    assert_true(hit(rl, "10.0.0.0", 1001).allowed);     /* key 0, evicted */
    assert_int_equal(sh_ratelimit_size(rl), MAX);
    sh_ratelimit_free(rl);
}

static void test_ratelimit_clock_going_back(void **state)
{
    (void)state;
    struct sh_ratelimit *rl = sh_ratelimit_new(2, 1000, 4);
    assert_true(hit(rl, "k", 5500).allowed);
    assert_true(hit(rl, "k", 4000).allowed); /* counted in the newer window */
    struct sh_ratelimit_result r = hit(rl, "k", 4000);
    assert_false(r.allowed);
    assert_true(r.retry_after_ms > 0);
    sh_ratelimit_free(rl);
}

static void test_ratelimit_peek_and_undo(void **state)
{
    (void)state;
    struct sh_ratelimit *rl = sh_ratelimit_new(2, 1000, 10);
    struct sh_ratelimit_result r;
    /* peeking a new key makes no entry and counts nothing */
    sh_ratelimit_peek(rl, "k", 1, 100, &r);
    assert_true(r.allowed);
    assert_int_equal(r.used, 0);
    assert_int_equal(sh_ratelimit_size(rl), 0);
    assert_true(hit(rl, "k", 100).allowed);
    sh_ratelimit_peek(rl, "k", 1, 100, &r);
    assert_int_equal(r.used, 1);
    assert_true(hit(rl, "k", 100).allowed);
    sh_ratelimit_peek(rl, "k", 1, 100, &r);
    assert_false(r.allowed);
    assert_int_equal(r.used, 2);
    assert_false(hit(rl, "k", 100).allowed);
    /* a hit given back frees its place */
    sh_ratelimit_undo(rl, "k", 1, 100);
    assert_true(hit(rl, "k", 100).allowed);
    /* in the next window, the undo takes from the previous one */
    sh_ratelimit_undo(rl, "k", 1, 1000);
    sh_ratelimit_undo(rl, "k", 1, 1000);
    sh_ratelimit_peek(rl, "k", 1, 1000, &r);
    assert_int_equal(r.used, 0);
    /* never below zero; unknown keys ignored */
    sh_ratelimit_undo(rl, "k", 1, 1000);
    sh_ratelimit_undo(rl, "other", 5, 1000);
    assert_true(hit(rl, "k", 1000).allowed);
    assert_true(hit(rl, "k", 1000).allowed);
    assert_false(hit(rl, "k", 1000).allowed);
    sh_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_bad_params),
        cmocka_unit_test(test_ratelimit_limit_reached),
        cmocka_unit_test(test_ratelimit_retry_after_exact),
        cmocka_unit_test(test_ratelimit_sliding_decay),
        cmocka_unit_test(test_ratelimit_keys_independent),
        cmocka_unit_test(test_ratelimit_eviction_bounded),
        cmocka_unit_test(test_ratelimit_clock_going_back),
        cmocka_unit_test(test_ratelimit_peek_and_undo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
