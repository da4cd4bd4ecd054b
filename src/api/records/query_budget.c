/*
 * The read budget of each client (issue 7, finding 9): the loop has one
 * read connection, so a client sending slow queries back to back takes the
 * whole loop from everyone else. Every records list and view charges the
 * wall time of its reads (query, count, expand, JSON) to the caller's
 * bucket — a signed-in record by its id (--client-query-budget), a guest by
 * its client address (--guest-query-budget, smaller) — over a fixed window
 * (--query-budget-window). Once a bucket has spent its budget, the caller's
 * next list or view is refused at once with 429 and Retry-After until the
 * window ends; the request that crosses the line still completes (each one
 * is bounded by --query-budget). Superusers and --rate-limit-exempt
 * addresses are not counted.
 *
 * Buckets live in a fixed table (BUCKETS slots, open addressing with a
 * short probe; a full probe replaces the bucket whose window is oldest), so
 * memory is constant whatever the number of clients: a flood of addresses
 * can only evict one another's buckets, which lets nobody spend more than
 * the budget of one window per window it is not evicted in. Loop thread.
 */
#include "auth_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define BUCKETS 4096
#define PROBE   8

struct bucket {
    char key[SH__BUDGET_KEY_MAX]; /* "g:<address>" or "a:<collection id>:<record id>"; "" = free */
    uint64_t window_start_ms;
    uint64_t spent_us;
};

static struct bucket table[BUCKETS];

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The caller's key and budget in ms; false when it is not counted. */
static bool caller(const struct sh_req *r, const struct sh__rec_req *q, char *key, unsigned *budget)
{
    const struct sh_api_auth *a = q->api->auth;
    if (!a || !a->cfg || q->superuser || sh__rl_exempt(r, a))
        return false;
    if (r->auth) {
        *budget = a->cfg->client_query_budget;
        snprintf(key, SH__BUDGET_KEY_MAX, "a:%s:%s", r->auth->collection_id, r->auth->record_id);
    } else {
        *budget = a->cfg->guest_query_budget;
        char ip[64]; /* an IPv6 guest counts by its /64, as every per-address limit */
        sh_client_ip_bucket(r->client_ip, ip, sizeof(ip));
        snprintf(key, SH__BUDGET_KEY_MAX, "g:%s", ip);
    }
    return *budget > 0 && a->cfg->query_budget_window > 0;
}

/* The bucket of key (created, or an old one taken over, when absent). */
static struct bucket *bucket_of(const char *key, uint64_t now_ms, uint64_t window_ms)
{
    uint32_t h = fnv1a(key);
    struct bucket *victim = NULL;
    for (unsigned i = 0; i < PROBE; i++) {
        struct bucket *b = &table[(h + i) % BUCKETS];
        if (strcmp(b->key, key) == 0)
            return b;
        if (!b->key[0] || now_ms - b->window_start_ms >= window_ms) {
            if (!victim || victim->key[0])
                victim = b; /* a free or expired slot first */
        } else if (!victim || (victim->key[0] && b->window_start_ms < victim->window_start_ms)) {
            victim = b;
        }
    }
    snprintf(victim->key, SH__BUDGET_KEY_MAX, "%s", key);
    victim->window_start_ms = now_ms;
    victim->spent_us = 0;
    return victim;
}

int sh__budget_begin(struct sh_req *r, const struct sh__rec_req *q, struct sh__budget *b)
{
    b->start_us = mono_us();
    unsigned budget;
    b->counted = caller(r, q, b->key, &budget);
    if (!b->counted)
        return 0;
    b->window_ms = q->api->auth->cfg->query_budget_window;
    uint64_t now = b->start_us / 1000;
    struct bucket *k = bucket_of(b->key, now, b->window_ms);
    if (now - k->window_start_ms >= b->window_ms) {
        k->window_start_ms = now;
        k->spent_us = 0;
    }
    if (k->spent_us < (uint64_t)budget * 1000)
        return 0;
    uint64_t left_ms = k->window_start_ms + b->window_ms - now;
    char buf[24];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)((left_ms + 999) / 1000));
    sh_res_header(r, "Retry-After", buf);
    sh__api_error(r, 429, "Too much query time used by this client; try again later.", NULL);
    return -1;
}

void sh__budget_end(const struct sh__budget *b)
{
    if (!b->counted)
        return;
    uint64_t now_us = mono_us();
    struct bucket *k = bucket_of(b->key, now_us / 1000, b->window_ms);
    k->spent_us += now_us - b->start_us;
}
