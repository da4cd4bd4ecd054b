/*
 * Tests of the password-check limits (src/auth/pwguard.c) with a fake
 * clock: the pair limit per (account, address); the per-account ceiling that
 * strangers fill from many addresses while the owner, from a clean address,
 * is still checked (and a right password gives its count back); a clean
 * address that then fails is refused; parallel checks in flight count;
 * failures leave the window; either limiter off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/auth.h"

#define MINUTE 60000ull

static struct sh_pwguard_keys keys(const char *account, const char *addr, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%s|%s", account, addr);
    return (struct sh_pwguard_keys){buf, (size_t)len, account, strlen(account)};
}

/* One check of account from addr at t that matched or not; its ticket. */
static struct sh_pwguard_ticket check(struct sh_ratelimit *pair, struct sh_ratelimit *acct,
                                      const char *account, const char *addr, uint64_t t,
                                      int matched)
{
    char buf[128];
    struct sh_pwguard_keys k = keys(account, addr, buf, sizeof buf);
    struct sh_pwguard_ticket tk;
    sh_pwguard_take(pair, acct, &k, t, &tk);
    if (tk.allowed)
        sh_pwguard_settle(pair, acct, &k, t, &tk, matched);
    return tk;
}

static void test_pwguard_pair_limit(void **state)
{
    (void)state;
    struct sh_ratelimit *pair = sh_ratelimit_new(3, 15 * MINUTE, 100);
    struct sh_ratelimit *acct = sh_ratelimit_new(100, 60 * MINUTE, 100);
    for (int i = 0; i < 3; i++)
        assert_true(check(pair, acct, "ann", "10.0.0.1", 1000, 0).allowed);
    struct sh_pwguard_ticket t = check(pair, acct, "ann", "10.0.0.1", 1000, 1);
    assert_false(t.allowed); /* even the right password, from this address */
    assert_int_equal(t.res.limit, 3);
    assert_true(t.res.retry_after_ms > 0);
    /* another address, another account: unaffected */
    assert_true(check(pair, acct, "ann", "10.0.0.2", 1000, 1).allowed);
    assert_true(check(pair, acct, "bob", "10.0.0.1", 1000, 0).allowed);
    /* the failures leave the window */
    assert_true(check(pair, acct, "ann", "10.0.0.1", 1000 + 31 * MINUTE, 1).allowed);
    sh_ratelimit_free(pair);
    sh_ratelimit_free(acct);
}

static void test_pwguard_no_lockout_by_strangers(void **state)
{
    (void)state;
    struct sh_ratelimit *pair = sh_ratelimit_new(3, 15 * MINUTE, 100);
    struct sh_ratelimit *acct = sh_ratelimit_new(5, 60 * MINUTE, 100);
    char addr[32];
    /* five strangers fail once each: the ceiling is reached */
    for (int i = 0; i < 5; i++) {
        snprintf(addr, sizeof addr, "203.0.113.%d", i);
        assert_true(check(pair, acct, "ann", addr, 1000, 0).allowed);
    }
    /* a stranger who failed is refused now, by the ceiling */
    struct sh_pwguard_ticket t = check(pair, acct, "ann", "203.0.113.0", 2000, 0);
    assert_false(t.allowed);
    assert_int_equal(t.res.limit, 5);
    /* the owner from a clean address is checked, and signs in, again and again */
    for (int i = 0; i < 4; i++)
        assert_true(check(pair, acct, "ann", "198.51.100.7", 3000 + (uint64_t)i, 1).allowed);
    /* a new stranger gets one guess, then is refused */
    assert_true(check(pair, acct, "ann", "192.0.2.1", 4000, 0).allowed);
    assert_false(check(pair, acct, "ann", "192.0.2.1", 4001, 0).allowed);
    assert_false(check(pair, acct, "ann", "192.0.2.1", 4002, 1).allowed);
    /* other accounts are untouched */
    assert_true(check(pair, acct, "bob", "203.0.113.0", 5000, 0).allowed);
    sh_ratelimit_free(pair);
    sh_ratelimit_free(acct);
}

static void test_pwguard_in_flight_counts(void **state)
{
    (void)state;
    struct sh_ratelimit *pair = sh_ratelimit_new(2, 15 * MINUTE, 100);
    struct sh_ratelimit *acct = sh_ratelimit_new(100, 60 * MINUTE, 100);
    char buf[128];
    struct sh_pwguard_keys k = keys("ann", "10.0.0.9", buf, sizeof buf);
    struct sh_pwguard_ticket t[4];
    int allowed = 0;
    for (int i = 0; i < 4; i++) { /* four parallel checks, none settled yet */
        sh_pwguard_take(pair, acct, &k, 1000, &t[i]);
        allowed += t[i].allowed;
    }
    assert_int_equal(allowed, 2);
    /* both matched: their counts come back, the address is clean again */
    sh_pwguard_settle(pair, acct, &k, 1000, &t[0], 1);
    sh_pwguard_settle(pair, acct, &k, 1000, &t[1], 1);
    struct sh_ratelimit_result r;
    sh_ratelimit_peek(pair, k.pair, k.pair_len, 1000, &r);
    assert_int_equal(r.used, 0);
    sh_ratelimit_peek(acct, k.account, k.account_len, 1000, &r);
    assert_int_equal(r.used, 0);
    sh_ratelimit_free(pair);
    sh_ratelimit_free(acct);
}

static void test_pwguard_limiters_off(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++)
        assert_true(check(NULL, NULL, "ann", "10.0.0.1", 1000, 0).allowed);
    assert_false(check(NULL, NULL, "ann", "10.0.0.1", 1000, 0).limited);
    /* only a ceiling: once full nobody is clean (the old behaviour) */
    struct sh_ratelimit *acct = sh_ratelimit_new(2, 60 * MINUTE, 100);
    assert_true(check(NULL, acct, "ann", "10.0.0.1", 1000, 0).allowed);
    assert_true(check(NULL, acct, "ann", "10.0.0.2", 1000, 0).allowed);
    assert_false(check(NULL, acct, "ann", "10.0.0.3", 1000, 1).allowed);
    sh_ratelimit_free(acct);
    /* only a pair limit */
    struct sh_ratelimit *pair = sh_ratelimit_new(1, 60 * MINUTE, 100);
    assert_true(check(pair, NULL, "ann", "10.0.0.1", 1000, 0).allowed);
    assert_false(check(pair, NULL, "ann", "10.0.0.1", 1000, 1).allowed);
    assert_true(check(pair, NULL, "ann", "10.0.0.2", 1000, 1).allowed);
    sh_ratelimit_free(pair);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pwguard_pair_limit),
        cmocka_unit_test(test_pwguard_no_lockout_by_strangers),
        cmocka_unit_test(test_pwguard_in_flight_counts),
        cmocka_unit_test(test_pwguard_limiters_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
