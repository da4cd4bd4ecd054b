/*
 * The password gate: the one way a password is checked against a stored
 * hash (sign-in, the oldPassword of a password change, and whatever comes
 * later). Whoever calls it has already authorized the request as far as it
 * can without the password (the collection allows sign-in; for a change,
 * the update rule let the caller reach the record), so a hash is computed
 * only for a request that could succeed, and every check is counted here
 * before the hash is queued:
 *
 *  - per client address (--rate-limit-auth; IPv6 by /64), unless the route
 *    counted the request already (the auth routes do, at their start);
 *  - per (account, address) (--rate-limit-identity-ip, default 10 / 15 min);
 *  - per account (--rate-limit-identity, default 100 / hour), a ceiling
 *    that does not lock the owner out (ASVS 4.0.3 V2.2.1): past it, an
 *    address with no failed check on the account in the pair window is
 *    still checked (and a correct password signs in), while every other
 *    address is refused. So strangers cannot lock an account by failing on
 *    purpose, and a botnet gets at most one guess per address per pair
 *    window once the ceiling is reached.
 *
 * A check is counted before the hash (so that parallel guesses cannot all
 * pass an empty counter) and given back when the password matched: the
 * counters hold failures and checks in flight. A refusal is 429 with
 * Retry-After and X-RateLimit-* (of the limit that refused). Superusers and
 * --rate-limit-exempt addresses are not counted.
 */
#include "api/auth_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct gate {
    struct sh_api_auth *a;
    sh_hash_cb cb;
    void *arg;
    bool pair_counted, acct_counted;
    size_t pair_len, acct_len;
    char keys[]; /* the pair key, then the account key */
};

static void checked(void *arg, int rc, const char *hash)
{
    struct gate *g = arg;
    if (rc == 0) { /* a match is no guess: give its counts back */
        uint64_t now = uv_now(g->a->loop);
        if (g->pair_counted && g->a->rl_pair)
            sh_ratelimit_undo(g->a->rl_pair, g->keys, g->pair_len, now);
        if (g->acct_counted && g->a->rl_identity)
            sh_ratelimit_undo(g->a->rl_identity, g->keys + g->pair_len, g->acct_len, now);
    }
    sh_hash_cb cb = g->cb;
    void *cb_arg = g->arg;
    free(g);
    cb(cb_arg, rc, hash);
}

/* "collectionId\0account" then, for the pair, "\0" and the address bucket. */
static struct gate *gate_new(struct sh_req *r, const struct sh_collection *c,
                             const char *account)
{
    char addr[SH__RL_ADDR_MAX];
    sh__rl_addr(r, addr);
    size_t cl = strlen(c->id), al = strlen(account), dl = strlen(addr);
    size_t acct_len = cl + 1 + al, pair_len = acct_len + 1 + dl;
    struct gate *g = sh_calloc(1, sizeof(*g) + pair_len + acct_len);
    char *p = g->keys;
    memcpy(p, c->id, cl + 1);
    memcpy(p + cl + 1, account, al + 1);
    memcpy(p + acct_len + 1, addr, dl);
    memcpy(p + pair_len, p, acct_len);
    g->pair_len = pair_len;
    g->acct_len = acct_len;
    return g;
}

/* Takes the counts of one check; 0, or 1 after answering 429. */
static int count(struct sh_req *r, struct sh_api_auth *a, struct gate *g, unsigned flags)
{
    if (sh__rl_exempt(r, a))
        return 0;
    if (!(flags & SH__GATE_IP_COUNTED) && sh__rl_auth(r, a))
        return 1;
    uint64_t now = uv_now(a->loop);
    const char *pair = g->keys, *acct = g->keys + g->pair_len;
    struct sh_ratelimit_result pr = {0}, ar = {0};
    if (a->rl_pair) {
        sh_ratelimit_peek(a->rl_pair, pair, g->pair_len, now, &pr);
        if (!pr.allowed) {
            sh__rl_answer(r, &pr);
            return 1;
        }
    }
    bool over = false;
    if (a->rl_identity) {
        sh_ratelimit_peek(a->rl_identity, acct, g->acct_len, now, &ar);
        over = !ar.allowed;
        /* Past the ceiling only a clean address is let through; without a
         * pair limit, nobody is (the old, lockout-prone behaviour). */
        if (over && (!a->rl_pair || pr.used > 0)) {
            sh__rl_answer(r, &ar);
            return 1;
        }
    }
    if (a->rl_pair) {
        sh_ratelimit_hit(a->rl_pair, pair, g->pair_len, now, &pr);
        g->pair_counted = true;
    }
    if (a->rl_identity && !over) {
        sh_ratelimit_hit(a->rl_identity, acct, g->acct_len, now, &ar);
        g->acct_counted = true;
    }
    /* The headers of the limit this check counted against (the ceiling's
     * while it has room, else the pair's). */
    if (g->acct_counted)
        sh__rl_answer(r, &ar);
    else if (g->pair_counted)
        sh__rl_answer(r, &pr);
    return 0;
}

int sh__auth_check_password(struct sh_req *r, struct sh_api_auth *a, const struct sh_collection *c,
                            const char *account, const char *hash, const char *password,
                            size_t len, unsigned flags, sh_hash_cb cb, void *arg)
{
    if (!a->pool)
        return -ECANCELED;
    struct gate *g = gate_new(r, c, account);
    g->a = a;
    g->cb = cb;
    g->arg = arg;
    if (count(r, a, g, flags)) {
        free(g);
        return 1;
    }
    int rc = sh_hash_pool_verify(a->pool, hash, password, len, checked, g);
    if (rc) { /* not checked after all: nothing to count */
        uint64_t now = uv_now(a->loop);
        if (g->pair_counted)
            sh_ratelimit_undo(a->rl_pair, g->keys, g->pair_len, now);
        if (g->acct_counted)
            sh_ratelimit_undo(a->rl_identity, g->keys + g->pair_len, g->acct_len, now);
        free(g);
    }
    return rc;
}
