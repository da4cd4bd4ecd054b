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
 *  - per account and per (account, address) on every password check
 *    (auth_gate.c: --rate-limit-identity, --rate-limit-identity-ip);
 *  - --rate-limit-reset per account on reset mails (auth_reset.c);
 *  - --rate-limit-all per client address on every route (off by default).
 * An IPv6 client is counted by its /64 (sh_client_ip_bucket).
 * Superusers and --rate-limit-exempt addresses are never limited. Limited
 * responses carry X-RateLimit-Limit, -Remaining and -Reset (seconds until a
 * hit frees up); a refusal is 429 with Retry-After.
 */
#include <stdio.h>
#include <string.h>

#include "auth_int.h"

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

void sh__rl_answer(struct sh_req *r, const struct sh_ratelimit_result *res)
{
    header_u64(r, "X-RateLimit-Limit", res->limit);
    header_u64(r, "X-RateLimit-Remaining", res->remaining);
    header_u64(r, "X-RateLimit-Reset", (res->reset_ms + 999) / 1000);
    if (res->allowed)
        return;
    uint64_t retry = (res->retry_after_ms + 999) / 1000;
    header_u64(r, "Retry-After", retry ? retry : 1);
    sh_res_error(r, 429, "Too many requests; try again later.", NULL);
}

void sh__rl_addr(const struct sh_req *r, char out[SH__RL_ADDR_MAX])
{
    sh_client_ip_bucket(r->client_ip, out, SH__RL_ADDR_MAX);
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
    if (res.allowed)
        sh__rl_share(a, rl, rl == a->rl_all ? "all" : "auth", key, keylen);
    if (quiet && res.allowed)
        return 0;
    sh__rl_answer(r, &res);
    return res.allowed ? 0 : -1;
}

static int hit_addr(struct sh_req *r, const struct sh_api_auth *a, struct sh_ratelimit *rl,
                    bool quiet)
{
    char addr[SH__RL_ADDR_MAX];
    sh__rl_addr(r, addr);
    return hit(r, a, rl, addr, strlen(addr), quiet);
}

int sh__rl_auth_or_reply(struct sh_req *r, const struct sh_api_auth *a)
{
    return hit_addr(r, a, a->rl_auth, false);
}

int sh_api_mw_ratelimit(struct sh_req *r, void *ud)
{
    struct sh_api_auth *a = ud;
    if (!a->rl_all || r->method == SH_METHOD_OPTIONS)
        return SH_PASS;
    return hit_addr(r, a, a->rl_all, true) ? SH_HANDLED : SH_PASS;
}
