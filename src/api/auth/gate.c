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
 *  - per (account, address) (--rate-limit-identity-ip, default 10 / 15 min)
 *    and per account (--rate-limit-identity, default 100 / hour), a
 *    ceiling that does not lock the owner out: sh_pwguard_take
 *    (auth/pwguard.c) decides, and a match gives the counts back. A refusal is 429 with
 * Retry-After and X-RateLimit-* (of the limit that refused). Superusers and
 * --rate-limit-exempt addresses are not counted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"

struct gate {
    struct sh_api_auth *a;
    sh_hash_cb cb;
    void *arg;
    struct sh_pwguard_keys k;
    struct sh_pwguard_ticket t;
    char keys[]; /* the pair key, then the account key */
};

static void checked(void *arg, int rc, const char *hash)
{
    struct gate *g = arg;
    sh_pwguard_settle(g->a->rl_pair, g->a->rl_identity, &g->k, uv_now(g->a->loop), &g->t, rc == 0);
    if (rc != 0) { /* a failure stays counted: by the whole group */
        if (g->t.pair_counted)
            sh__rl_share(g->a, g->a->rl_pair, "pair", g->k.pair, g->k.pair_len);
        if (g->t.account_counted)
            sh__rl_share(g->a, g->a->rl_identity, "account", g->k.account, g->k.account_len);
    }
    sh_hash_cb cb = g->cb;
    void *cb_arg = g->arg;
    free(g);
    cb(cb_arg, rc, hash);
}

int sh__auth_job_gone(sh_hash_cb cb, void *arg, void *ctx)
{
    (void)ctx;
    if (cb == checked)
        arg = ((struct gate *)arg)->arg;
    const struct sh__api_job *j = arg; /* first in the caller's struct (auth_int.h) */
    struct sh_req *r = sh__api_job_req(j);
    return !r || sh_req_peer_gone(r);
}

/* "collectionId\0account" then, for the pair, "\0" and the address bucket. */
static struct gate *gate_new(struct sh_req *r, const struct sh_collection *c, const char *account)
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
    g->k = (struct sh_pwguard_keys){p, pair_len, p + pair_len, acct_len};
    return g;
}

/* Takes the counts of one check; 0, or 1 after answering 429. */
static int count(struct sh_req *r, struct sh_api_auth *a, struct gate *g, unsigned flags)
{
    if (sh__rl_exempt(r, a))
        return 0;
    if (!(flags & SH__GATE_IP_COUNTED) && sh__rl_auth_or_reply(r, a))
        return 1;
    sh_pwguard_take(a->rl_pair, a->rl_identity, &g->k, uv_now(a->loop), &g->t);
    if (g->t.allowed && !g->t.limited)
        return 0;
    sh__rl_answer(r, &g->t.res); /* the headers; 429 when refused */
    return g->t.allowed ? 0 : 1;
}

int sh__auth_check_password(struct sh_req *r, struct sh_api_auth *a, const struct sh_collection *c,
                            const char *account, const char *hash, const char *password, size_t len,
                            unsigned flags, sh_hash_cb cb, void *arg)
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
        sh_pwguard_settle(a->rl_pair, a->rl_identity, &g->k, uv_now(a->loop), &g->t, 1);
        free(g);
    }
    return rc;
}
