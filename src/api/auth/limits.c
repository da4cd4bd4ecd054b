/*
 * The client's address and the rate limits (API.md "Auth"; DESIGN.md
 * "Request path"). The address is the socket peer, or, only when the peer is
 * one of --trusted-proxy, the right-most untrusted address of
 * X-Forwarded-For (sh_client_ip): a client that talks to the server directly
 * cannot choose the address it is counted under.
 *
 * Limits (each a sliding window per key, memory bounded by sh_ratelimit):
 *  - --rate-limit-auth per client address on sign-in, refresh, sign-up and
 *    password reset (default 30 a minute: a person never notices, a script
 *    trying passwords across many accounts from one address slows to 1 try
 *    every 2 s);
 *  - --rate-limit-identity per account on auth-with-password (default 100 an
 *    hour: at most 100 guesses per account per hour from anywhere);
 *  - --rate-limit-all per client address on every route (off by default).
 * Superusers and --rate-limit-exempt addresses are never limited. Limited
 * responses carry X-RateLimit-Limit, -Remaining and -Reset (seconds until a
 * hit frees up); a refusal is 429 with Retry-After.
 */
#include "auth_int.h"

#include <stdio.h>
#include <string.h>

int sh_api_mw_client_ip(struct sh_req *r, void *ud)
{
    struct sh_api_auth *a = ud;
    const char *peer = sh_req_peer(r);
    const char *xff = NULL;
    size_t xfflen = 0;
    if (sh_cidr_list_contains(a->trusted, peer)) {
        /* Several X-Forwarded-For lines count as one list, in order. */
        char *joined = NULL;
        for (unsigned i = 0; i < r->nheaders; i++) {
            const struct sh_header *h = &r->headers[i];
            if (!sh_str_caseeq(h->name, "X-Forwarded-For"))
                continue;
            if (!xff) {
                xff = h->value.ptr;
                xfflen = h->value.len;
                continue;
            }
            char *j = sh_arena_sprintf(r->arena, "%.*s,%.*s", (int)xfflen, xff, (int)h->value.len,
                                       h->value.ptr);
            if (!j)
                break; /* over the arena's limit: the lines so far */
            xff = joined = j;
            xfflen = strlen(joined);
        }
    }
    sh_client_ip(a->trusted, peer, xff, xfflen, r->client_ip, sizeof(r->client_ip));
    return SH_PASS;
}

bool sh__rl_exempt(const struct sh_req *r, const struct sh_api_auth *a)
{
    return (r->auth && r->auth->superuser) || sh_cidr_list_contains(a->exempt, r->client_ip);
}

static void header_u64(struct sh_req *r, const char *name, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    sh_res_header(r, name, buf);
}

/* quiet: the headers only on a refusal (the general limit, so that an auth
 * route's own limit is the one its responses describe). */
static int hit(struct sh_req *r, const struct sh_api_auth *a, struct sh_ratelimit *rl,
               const char *key, size_t keylen, bool quiet)
{
    if (!rl || sh__rl_exempt(r, a))
        return 0;
    struct sh_ratelimit_result res;
    sh_ratelimit_hit(rl, key, keylen, uv_now(a->loop), &res);
    if (quiet && res.allowed)
        return 0;
    header_u64(r, "X-RateLimit-Limit", res.limit);
    header_u64(r, "X-RateLimit-Remaining", res.remaining);
    header_u64(r, "X-RateLimit-Reset", (res.reset_ms + 999) / 1000);
    if (res.allowed)
        return 0;
    uint64_t retry = (res.retry_after_ms + 999) / 1000;
    header_u64(r, "Retry-After", retry ? retry : 1);
    sh_res_error(r, 429, "Too many requests; try again later.", NULL);
    return -1;
}

int sh__rl_hit(struct sh_req *r, const struct sh_api_auth *a, struct sh_ratelimit *rl,
               const char *key, size_t keylen)
{
    return hit(r, a, rl, key, keylen, false);
}

int sh__rl_auth(struct sh_req *r, const struct sh_api_auth *a)
{
    return hit(r, a, a->rl_auth, r->client_ip, strlen(r->client_ip), false);
}

int sh_api_mw_ratelimit(struct sh_req *r, void *ud)
{
    struct sh_api_auth *a = ud;
    if (!a->rl_all || r->method == SH_METHOD_OPTIONS)
        return SH_PASS;
    return hit(r, a, a->rl_all, r->client_ip, strlen(r->client_ip), true) ? SH_HANDLED : SH_PASS;
}
