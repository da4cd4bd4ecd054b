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
 * Buckets live in core's hash table with a recency order (lru.h), keyed by
 * SipHash under a random key (guests choose their addresses, so they must
 * not be able to aim collisions at one chain), at most BUCKETS of them per
 * server (struct sh_api_records owns the table): a new
 * bucket past that takes the place of the least recently charged one, so
 * memory is constant whatever the number of clients, and a flood of
 * addresses can only evict one another's buckets, which lets nobody spend
 * more than the budget of one window per window it is not evicted in. Loop
 * thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth_int.h"
#include "stagehand/lru.h"

#define BUCKETS 4096

struct bucket {
    struct sh_lru_node node;      /* first member; recency = last charge */
    char key[SH__BUDGET_KEY_MAX]; /* "g:<address>" or "a:<collection id>:<record id>" */
    uint64_t window_start_ms;
    uint64_t spent_us;
};

struct sh__budgets {
    struct sh_lru lru; /* struct bucket */
    unsigned char hkey[crypto_shorthash_KEYBYTES];
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct bucket *bucket_from(struct sh_lru_node *n)
{
    return (struct bucket *)(void *)n;
}

static bool key_eq(const struct sh_lru_node *n, const void *key)
{
    return strcmp(((const struct bucket *)(const void *)n)->key, key) == 0;
}

struct sh__budgets *sh__budgets_new(void)
{
    struct sh__budgets *t = sh_calloc(1, sizeof(*t));
    sh_lru_init(&t->lru, BUCKETS);
    randombytes_buf(t->hkey, sizeof(t->hkey));
    return t;
}

void sh__budgets_free(struct sh__budgets *t)
{
    if (!t)
        return;
    struct bucket *b;
    while ((b = bucket_from(sh_lru_oldest(&t->lru)))) {
        sh_lru_remove(&t->lru, &b->node);
        free(b);
    }
    sh_lru_deinit(&t->lru);
    free(t);
}

/* The caller's key and budget in ms; false when it is not counted. */
/* Bounded concatenation into a fixed buffer (what does not fit is cut). */
struct keybuf {
    char *p;
    size_t len, cap;
};

static void key_add(struct keybuf *k, const char *s)
{
    size_t n = strlen(s);
    if (n > k->cap - k->len)
        n = k->cap - k->len;
    memcpy(k->p + k->len, s, n);
    k->len += n;
}

static bool caller(const struct sh_req *r, const struct sh__rec_req *q, char *key, unsigned *budget)
{
    const struct sh_api_auth *a = q->api->auth;
    if (!a || !a->cfg || q->superuser || sh__rl_exempt(r, a))
        return false;
    /* Keys are put together by hand: this runs on every read, and
     * snprintf cost more than the rest of the budget together. */
    struct keybuf k = {key, 0, SH__BUDGET_KEY_MAX - 1};
    if (r->auth) {
        *budget = a->cfg->client_query_budget;
        key_add(&k, "a:");
        key_add(&k, r->auth->collection_id);
        key_add(&k, ":");
        key_add(&k, r->auth->record_id);
    } else {
        *budget = a->cfg->guest_query_budget;
        char ip[64]; /* an IPv6 guest counts by its /64, as every per-address limit */
        sh_client_ip_bucket(r->client_ip, ip, sizeof(ip));
        key_add(&k, "g:");
        key_add(&k, ip);
    }
    key[k.len] = 0;
    return *budget > 0 && a->cfg->query_budget_window > 0;
}

/* The bucket of key, made the most recent (created when absent, in the
 * place of the least recently charged one when the table is full). */
static struct bucket *bucket_of(struct sh__budgets *t, const char *key, uint64_t now_ms)
{
    unsigned char d[crypto_shorthash_BYTES];
    crypto_shorthash(d, (const unsigned char *)key, strlen(key), t->hkey);
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    struct bucket *b = bucket_from(sh_lru_find(&t->lru, h, key_eq, key));
    if (b) {
        sh_lru_touch(&t->lru, &b->node);
        return b;
    }
    if (t->lru.size >= BUCKETS) {
        b = bucket_from(sh_lru_oldest(&t->lru));
        sh_lru_remove(&t->lru, &b->node);
    } else {
        b = sh_malloc(sizeof(*b));
    }
    memset(b, 0, sizeof(*b));
    memcpy(b->key, key, strlen(key) + 1); /* both SH__BUDGET_KEY_MAX */
    b->window_start_ms = now_ms;
    sh_lru_insert(&t->lru, &b->node, h);
    return b;
}

int sh__budget_begin(struct sh_req *r, const struct sh__rec_req *q, struct sh__budget *b)
{
    b->start_us = mono_us();
    unsigned budget;
    b->counted = caller(r, q, b->key, &budget);
    if (!b->counted)
        return 0;
    b->window_ms = q->api->auth->cfg->query_budget_window;
    b->table = q->api->budgets;
    uint64_t now = b->start_us / 1000;
    struct bucket *k = bucket_of(b->table, b->key, now);
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
    struct bucket *k = bucket_of(b->table, b->key, now_us / 1000);
    k->spent_us += now_us - b->start_us;
}
