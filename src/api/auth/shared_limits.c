/*
 * Rate limits shared by a group of instances (sh_api_auth_join_group with
 * Redis): without it, a client whose requests a proxy spreads over N
 * instances would get N times every limit — N times the password guesses.
 *
 * The decision stays local and synchronous (the limiter of src/auth, no
 * request waits for Redis). What each instance counts is also counted in
 * Redis, per fixed window: one script call per counted hit, atomically
 * INCR the window's key (expiring after two windows) and read the previous
 * window's, both returned; the answer raises the local counts to the shared
 * ones (sh_ratelimit_raise, never lowering them). So every instance decides
 * on what the whole group counted, as of its last answer: a client can pass
 * the limit by at most the hits in flight during one round trip per
 * instance. Windows agree across instances because the limiter's clock is
 * the loop's monotonic clock, which counts from the machine's boot: the
 * same for every process of the machine the group runs on.
 *
 * What is shared: the per-address limits (--rate-limit-auth,
 * --rate-limit-all), the password-reset mails per account, and the failed
 * password checks per account and per (account, address) — counted in Redis
 * once a check failed (a success is given back locally and never sent).
 * Keys are BLAKE2b digests of the local keys (no address or email in Redis
 * in clear). With Redis away, each instance counts alone, as without a
 * group.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth_int.h"
#include "stagehand/cache.h"

static const char script[] = "local c = redis.call('INCR', KEYS[1]) "
                             "if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
                             "local p = redis.call('GET', KEYS[2]) "
                             "return {c, tonumber(p) or 0}";

struct share {
    struct sh_ratelimit *rl;
    uint64_t win;
    size_t keylen;
    char key[];
};

static unsigned clamp(long long v)
{
    return v < 0 ? 0 : v > 1000000000 ? 1000000000u : (unsigned)v;
}

static void on_counted(void *arg, const struct redisReply *rep)
{
    struct share *s = arg;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER &&
        rep->element[1]->type == REDIS_REPLY_INTEGER)
        sh_ratelimit_raise(s->rl, s->key, s->keylen, s->win, clamp(rep->element[0]->integer),
                           clamp(rep->element[1]->integer));
    free(s);
}

void sh__rl_share(const struct sh_api_auth *a, struct sh_ratelimit *rl, const char *name,
                  const char *key, size_t keylen)
{
    if (!a->redis || !rl || sh_redis_state(a->redis) != SH_REDIS_UP)
        return;
    uint64_t w = sh_ratelimit_window(rl), win = uv_now(a->loop) / w;
    unsigned char d[16];
    char hex[2 * sizeof d + 1];
    crypto_generichash(d, sizeof d, (const unsigned char *)key, keylen, NULL, 0);
    sodium_bin2hex(hex, sizeof hex, d, sizeof d);
    char k1[96], k2[96], ttl[24];
    snprintf(k1, sizeof k1, "sh:rl:%s:%s:%llu", name, hex, (unsigned long long)win);
    snprintf(k2, sizeof k2, "sh:rl:%s:%s:%llu", name, hex, (unsigned long long)(win - 1));
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)(2 * w));
    const char *argv[] = {"EVAL", script, "2", k1, k2, ttl};
    size_t lens[] = {4, sizeof script - 1, 1, strlen(k1), strlen(k2), strlen(ttl)};
    struct share *s = sh_malloc(sizeof *s + keylen);
    s->rl = rl;
    s->win = win;
    s->keylen = keylen;
    memcpy(s->key, key, keylen);
    if (sh_redis_command(a->redis, on_counted, s, 6, argv, lens, NULL))
        free(s);
}
