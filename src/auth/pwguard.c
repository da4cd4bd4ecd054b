/*
 * The limits of password checks (ASVS 4.0.3 V2.2.1: slow brute force down
 * without letting strangers lock an account). Two sliding-window limiters:
 *
 *  - pair: failed checks per (account, client address), the tight one;
 *  - account: failed checks per account from anywhere, a ceiling.
 *
 * Under the ceiling an address may fail `pair` times per pair window. At
 * or over it, an address that holds no failure on the account (a clean
 * address, such as the owner's) is still checked, once at a time: a right
 * password passes, a wrong one makes the address dirty, and every dirty
 * address is refused until its failures leave the window. Strangers who
 * fail on purpose therefore lock out only themselves, and a distributed
 * guesser gets one guess per address per pair window past the ceiling.
 *
 * A check is counted when it is taken (before the hash runs, so that
 * parallel checks cannot pass an empty counter) and given back by
 * sh_pwguard_settle when the password matched: the counters hold failures
 * and checks in flight. Either limiter may be NULL (off); with no pair
 * limiter a full ceiling refuses everyone (nobody is "clean").
 */
#include <string.h>

#include "stagehand/auth.h"

void sh_pwguard_take(struct sh_ratelimit *pair, struct sh_ratelimit *account,
                     const struct sh_pwguard_keys *k, uint64_t now_ms, struct sh_pwguard_ticket *t)
{
    struct sh_ratelimit_result pr = {0}, ar = {0};
    memset(t, 0, sizeof(*t));
    t->allowed = 1;
    t->limited = pair || account;
    if (pair) {
        sh_ratelimit_peek(pair, k->pair, k->pair_len, now_ms, &pr);
        if (!pr.allowed) {
            t->allowed = 0;
            t->res = pr;
            return;
        }
    }
    int over = 0;
    if (account) {
        sh_ratelimit_peek(account, k->account, k->account_len, now_ms, &ar);
        over = !ar.allowed;
        if (over && (!pair || pr.used > 0)) {
            t->allowed = 0;
            t->res = ar;
            return;
        }
    }
    if (pair) {
        sh_ratelimit_hit(pair, k->pair, k->pair_len, now_ms, &pr);
        t->pair_counted = 1;
        t->res = pr;
    }
    if (account && !over) {
        sh_ratelimit_hit(account, k->account, k->account_len, now_ms, &ar);
        t->account_counted = 1;
        t->res = ar; /* the ceiling's headers while it has room */
    }
}

void sh_pwguard_settle(struct sh_ratelimit *pair, struct sh_ratelimit *account,
                       const struct sh_pwguard_keys *k, uint64_t now_ms,
                       const struct sh_pwguard_ticket *t, int matched)
{
    if (!matched)
        return; /* a failure stays counted */
    if (t->pair_counted && pair)
        sh_ratelimit_undo(pair, k->pair, k->pair_len, now_ms);
    if (t->account_counted && account)
        sh_ratelimit_undo(account, k->account, k->account_len, now_ms);
}
