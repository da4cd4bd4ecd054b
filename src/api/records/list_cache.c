/*
 * Expensive list answers shared through Redis (--redis): a list page whose
 * reads cost SQLite real work (a filter or rule it must count through, an
 * expand) is stored in Redis under a key that names everything the answer
 * depends on, so the next identical request — on this instance or another —
 * is answered with one Redis round trip and no SQLite work.
 *
 * The key is a BLAKE2b digest of: the request target (path and query: the
 * collection, page, perPage, sort, filter, expand, fields, skipTotal), the
 * caller (guest, superuser, or collection and record id: rules and email
 * visibility differ), the schema version, and the version of every
 * collection table of the snapshot (db/engine/versions.c). Versions are
 * bumped in the transaction of every write, by any process, so an entry can
 * only be found while nothing it could have read has changed: there is no
 * invalidation to miss and nothing stale after Redis restarts empty. Reading
 * every table's version rather than only those the answer read costs a point
 * read per collection and some hit ratio (any write makes the entries of
 * that snapshot unreachable); it cannot be wrong. Entries expire after
 * --redis-ttl and are at most --redis-max-entry bytes.
 *
 * What is never cached: answers that depend on something outside the key —
 * the collection's list rule, with expand any list or view rule (expanded
 * records pass them), or the filter reading @request.headers or a time
 * macro (@now, @todayStart, ...) — and anything but a 200.
 *
 * What is looked up: every request shape (target and caller, no versions)
 * except those whose last computation cost less than --redis-min-cost,
 * remembered in a small table on the loop: a cheap list waits for Redis once
 * per instance, then never again (until the table forgets it); an expensive
 * one computed by another instance is found at the first request here.
 *
 * A lookup is asynchronous: the request waits for the reply (at most
 * --redis-timeout, then it is a miss) and the loop serves others meanwhile.
 * A miss runs the list as without Redis and stores the answer under the
 * versions read in the same read snapshot the list used. Redis down, slow or
 * refusing: every answer comes from SQLite.
 */
#include <hiredis/hiredis.h>
#include <string.h>

#include <sodium.h>

#include "records_int.h"
#include "stagehand/auth.h"
#include "stagehand/cache.h"
#include "stagehand/lru.h"

#define KEY_PREFIX "sh:l:"
#define DIGEST     16
#define SHAPES_MAX 4096

struct shape {
    struct sh_lru_node node; /* first */
    unsigned char digest[DIGEST];
};

struct sh__list_cache {
    struct sh_redis *redis;
    uint64_t min_cost_us, ttl_ms;
    size_t max_entry;
    struct sh_lru shapes; /* struct shape: cheap, not worth a lookup */
    struct sh__list_cache_stats st;
};

/* One lookup in flight. */
struct lookup {
    struct sh_req_watch watch;
    struct sh__list_cache *lc;
    struct sh_api_records *api;
};

struct sh__list_cache *sh__list_cache_new(struct sh_redis *redis, const struct sh_config *cfg)
{
    struct sh__list_cache *lc = sh_calloc(1, sizeof *lc);
    lc->redis = redis;
    lc->min_cost_us = cfg->redis_min_cost_us;
    lc->ttl_ms = cfg->redis_ttl;
    lc->max_entry = cfg->redis_max_entry;
    sh_lru_init(&lc->shapes, SHAPES_MAX);
    return lc;
}

void sh__list_cache_free(struct sh__list_cache *lc)
{
    if (!lc)
        return;
    struct sh_lru_node *n;
    while ((n = sh_lru_oldest(&lc->shapes))) {
        sh_lru_remove(&lc->shapes, n);
        free(n);
    }
    sh_lru_deinit(&lc->shapes);
    free(lc);
}

void sh__list_cache_stats(const struct sh__list_cache *lc, struct sh__list_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (lc)
        *out = lc->st;
}

/* ---- what the answer depends on ---- */

static bool outside_key(const struct sh_filter *f)
{
    return f && (sh_filter_uses(f) & (SH_FILTER_USES_HEADERS | SH_FILTER_USES_TIME));
}

/* The list's collection, when its answers may be cached for this caller. */
static const struct sh_collection *cacheable(struct sh_req *r, const struct sh_catalog_snap *snap,
                                             struct sh_api_records *api)
{
    const struct sh_str *param = sh_req_param(r, "collection");
    char name[256];
    if (!param || param->len >= sizeof name)
        return NULL;
    memcpy(name, param->ptr, param->len);
    name[param->len] = 0;
    const struct sh_collection *c = sh_catalog_snap_find(snap, name);
    if (!c || (!(r->auth && r->auth->superuser) && !c->rules[SH_RULE_LIST]))
        return NULL; /* unknown or superusers only: the normal path answers */
    if (outside_key(c->rule_filters[SH_RULE_LIST]))
        return NULL;
    const char *expand = sh_req_query(r, "expand");
    for (size_t i = 0; expand && *expand && i < snap->n; i++) {
        /* expanded records pass their collection's rules */
        const struct sh_collection *o = snap->list[i];
        if (outside_key(o->rule_filters[SH_RULE_LIST]) ||
            outside_key(o->rule_filters[SH_RULE_VIEW]))
            return NULL;
    }
    const char *text = sh_req_query(r, "filter");
    if (text && *text) {
        struct sh_filter *f;
        struct sh_filter_error err;
        if (sh_filter_cache_parse(api->filters, c->id, text, strlen(text), &f, &err))
            return NULL; /* the normal path answers the 400 */
        bool out = outside_key(f);
        sh_filter_free(f);
        if (out)
            return NULL;
    }
    const char *sort = sh_req_query(r, "sort");
    if (sort && strchr(sort, '@'))
        return NULL;
    return c;
}

/* The shape: target, caller, schema version. */
static void shape_digest(struct sh_req *r, const struct sh_catalog_snap *snap,
                         unsigned char out[DIGEST])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, DIGEST);
    crypto_generichash_update(&h, (const unsigned char *)r->target.ptr, r->target.len);
    const struct sh_auth *au = r->auth;
    const char *who = !au ? "guest" : au->superuser ? "superuser" : au->collection_id;
    crypto_generichash_update(&h, (const unsigned char *)"\0", 1);
    crypto_generichash_update(&h, (const unsigned char *)who, strlen(who) + 1);
    if (au && !au->superuser)
        crypto_generichash_update(&h, (const unsigned char *)au->record_id,
                                  strlen(au->record_id) + 1);
    crypto_generichash_update(&h, (const unsigned char *)&snap->version, sizeof snap->version);
    crypto_generichash_final(&h, out, DIGEST);
}

/* The Redis key: the shape and every collection table's version now. */
static int entry_key(struct sh_api_records *api, const struct sh_catalog_snap *snap,
                     const unsigned char shape[DIGEST], char *key, size_t cap)
{
    const char *names[256];
    int64_t vers[256];
    if (snap->n > 256)
        return -1;
    for (size_t i = 0; i < snap->n; i++)
        names[i] = snap->list[i]->name;
    if (sh_db_read_begin(api->db) || sh_db_versions(api->db, names, snap->n, vers))
        return -1;
    unsigned char d[DIGEST];
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, DIGEST);
    crypto_generichash_update(&h, shape, DIGEST);
    crypto_generichash_update(&h, (const unsigned char *)vers, snap->n * sizeof vers[0]);
    crypto_generichash_final(&h, d, DIGEST);
    if (cap < sizeof KEY_PREFIX + 2 * DIGEST)
        return -1;
    memcpy(key, KEY_PREFIX, sizeof KEY_PREFIX - 1);
    sodium_bin2hex(key + sizeof KEY_PREFIX - 1, 2 * DIGEST + 1, d, DIGEST);
    return 0;
}

static bool shape_eq(const struct sh_lru_node *n, const void *key)
{
    return memcmp(((const struct shape *)(const void *)n)->digest, key, DIGEST) == 0;
}

static uint64_t shape_hash(const unsigned char d[DIGEST])
{
    uint64_t h;
    memcpy(&h, d, sizeof h);
    return h;
}

static bool shape_cheap(struct sh__list_cache *lc, const unsigned char d[DIGEST])
{
    struct sh_lru_node *n = sh_lru_find(&lc->shapes, shape_hash(d), shape_eq, d);
    if (n)
        sh_lru_touch(&lc->shapes, n);
    return n != NULL;
}

static void shape_remember(struct sh__list_cache *lc, const unsigned char d[DIGEST], bool worth)
{
    struct sh_lru_node *n = sh_lru_find(&lc->shapes, shape_hash(d), shape_eq, d);
    if (worth) {
        if (n) {
            sh_lru_remove(&lc->shapes, n);
            free(n);
        }
        return;
    }
    if (n)
        return;
    if (lc->shapes.size >= SHAPES_MAX) {
        struct sh_lru_node *old = sh_lru_oldest(&lc->shapes);
        sh_lru_remove(&lc->shapes, old);
        free(old);
    }
    struct shape *s = sh_malloc(sizeof *s);
    memcpy(s->digest, d, DIGEST);
    sh_lru_insert(&lc->shapes, &s->node, shape_hash(d));
}

/* ---- computing and storing ---- */

static void on_stored(void *arg, const struct redisReply *reply)
{
    (void)arg;
    (void)reply;
}

static void store(struct sh__list_cache *lc, const char *key, const struct sh_buf *body)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)lc->ttl_ms);
    const char *argv[] = {"SET", key, body->data, "PX", ttl};
    size_t lens[] = {3, strlen(key), body->len, 2, strlen(ttl)};
    if (sh_redis_command(lc->redis, on_stored, NULL, 5, argv, lens, NULL) == 0)
        lc->st.stores++;
}

/* Runs the list as without Redis, timed and captured; stores what was
 * worth it. */
static void compute(struct sh_req *r, struct sh_api_records *api, const unsigned char shape[DIGEST])
{
    struct sh__list_cache *lc = api->list_cache;
    struct sh_buf body;
    sh_buf_init(&body);
    sh__rec_capture(&body);
    uint64_t t0 = uv_hrtime();
    sh__rec_list_uncached(r, api);
    uint64_t cost_us = (uv_hrtime() - t0) / 1000;
    sh__rec_capture(NULL);
    bool worth = r->responded && r->status == 200 && body.len && cost_us >= lc->min_cost_us;
    shape_remember(lc, shape, worth);
    if (worth && body.len <= lc->max_entry && sh_redis_state(lc->redis) == SH_REDIS_UP) {
        /* the versions of the snapshot the list just read: the shared read
         * transaction is still open (no write completion ran in between) */
        struct sh_catalog_snap *snap = sh_catalog_acquire(api->catalog);
        char key[sizeof KEY_PREFIX + 2 * DIGEST + 1];
        if (entry_key(api, snap, shape, key, sizeof key) == 0)
            store(lc, key, &body);
        sh_catalog_snap_free(snap);
    }
    sh_buf_deinit(&body);
}

static void on_lookup(void *arg, const struct redisReply *reply)
{
    struct lookup *l = arg;
    struct sh_req *r = l->watch.req;
    struct sh__list_cache *lc = l->lc;
    struct sh_api_records *api = l->api;
    if (r)
        sh_req_unwatch(&l->watch);
    free(l);
    if (!r)
        return; /* the client went away */
    if (reply && reply->type == REDIS_REPLY_STRING) {
        lc->st.hits++;
        sh_res_header(r, "Cache-Status", "stagehand; hit");
        sh_res_json(r, 200, reply->str, reply->len);
        return;
    }
    lc->st.misses++;
    sh_res_header(r, "Cache-Status", "stagehand; fwd=miss");
    unsigned char shape[DIGEST];
    struct sh_catalog_snap *snap = sh_catalog_acquire(api->catalog);
    shape_digest(r, snap, shape);
    sh_catalog_snap_free(snap);
    compute(r, api, shape);
}

int sh__rec_list_cached(struct sh_req *r, struct sh_api_records *api)
{
    struct sh__list_cache *lc = api->list_cache;
    if (sh_redis_state(lc->redis) != SH_REDIS_UP)
        return sh__rec_list_uncached(r, api);
    struct sh_catalog_snap *snap = sh_catalog_acquire(api->catalog);
    const struct sh_collection *c = cacheable(r, snap, api);
    if (!c) {
        sh_catalog_snap_free(snap);
        lc->st.uncacheable++;
        return sh__rec_list_uncached(r, api);
    }
    unsigned char shape[DIGEST];
    shape_digest(r, snap, shape);
    char key[sizeof KEY_PREFIX + 2 * DIGEST + 1];
    if (shape_cheap(lc, shape) || entry_key(api, snap, shape, key, sizeof key)) {
        sh_catalog_snap_free(snap);
        compute(r, api, shape);
        return SH_HANDLED;
    }
    sh_catalog_snap_free(snap);
    struct lookup *l = sh_malloc(sizeof *l);
    l->lc = lc;
    l->api = api;
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, strlen(key)};
    if (sh_redis_command(lc->redis, on_lookup, l, 2, argv, lens, NULL)) {
        free(l);
        compute(r, api, shape);
        return SH_HANDLED;
    }
    lc->st.lookups++;
    sh_req_watch(r, &l->watch);
    return SH_HANDLED;
}

void sh_api_records_use_redis(struct sh_api_records *a, struct sh_redis *redis)
{
    sh__list_cache_free(a->list_cache);
    a->list_cache = redis ? sh__list_cache_new(redis, a->cfg) : NULL;
}
