/*
 * A bounded LRU of parsed filters keyed by (collection, filter text), so that
 * the rules of a collection and the filters clients repeat are parsed once.
 * The table is core's hash table with a recency order (lru.h, FNV-1a over the
 * key); when full, the least recently used entry is evicted. Entries hold a
 * reference to the parsed filter and hand out new ones, so an eviction never
 * frees a filter a caller is still compiling. The AST does not depend on the
 * schema (fields are resolved at compile time), so a schema change needs no
 * invalidation; sh_filter_cache_forget only frees memory.
 *
 * The same table also keeps compiled filters (sh_filter_cache_compile), for
 * a cache that lives as long as the schemas it compiles against (one per
 * catalog snapshot): keyed by the filter (a reference held, so its address
 * is not reused), the schema and the auth schemas by address, and every
 * request value the compile reads (rule_key.c). A hit hands out the stored
 * SQL and parameters as they are, shared and reference-counted, so a
 * request whose rule reads `@request.auth.id` only binds. Compiles that
 * cannot be keyed (the clock, a confined schema, a row rule compiled
 * inside) are compiled each time and handed out the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "filter_int.h"
#include "stagehand/core.h"
#include "stagehand/lru.h"

/* A compiled filter handed out: callers and the cache entry each hold a
 * reference (one thread: the cache's). */
struct compiled {
    struct sh_filter_sql q; /* first member: callers see &q */
    unsigned refs;
};

struct entry {
    struct sh_lru_node node; /* first member */
    bool is_compiled;        /* a compiled entry: key = the bytes of struct ckey */
    size_t collen, klen;     /* key = collection '\0' text */
    char *key;
    struct sh_filter *filter;
    struct compiled *compiled; /* is_compiled */
};

/* The fixed part of a compiled entry's key, followed by the ctx key. */
struct ckey {
    const struct sh_filter *f;
    const struct sh_filter_schema *schema, *auth_schema, *auth_client_schema;
};

struct sh_filter_cache {
    size_t capacity;
    struct sh_lru lru; /* struct entry */
    struct sh_filter_cache_stats stats;
};

/* What a lookup compares an entry with. */
struct lookup {
    const char *collection, *text;
    size_t collen, len;
};

static struct entry *entry_of(struct sh_lru_node *n)
{
    return (struct entry *)(void *)n;
}

static bool key_eq(const struct sh_lru_node *n, const void *key)
{
    const struct entry *e = (const struct entry *)(const void *)n;
    const struct lookup *k = key;
    return !e->is_compiled && e->collen == k->collen && e->klen == k->collen + 1 + k->len &&
           memcmp(e->key, k->collection, k->collen) == 0 &&
           (k->len == 0 || memcmp(e->key + k->collen + 1, k->text, k->len) == 0);
}

struct sh_filter_cache *sh_filter_cache_new(size_t capacity)
{
    if (capacity == 0)
        capacity = 1;
    struct sh_filter_cache *c = sh__filter_xmalloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->capacity = capacity;
    sh_lru_init(&c->lru, capacity);
    return c;
}

static void compiled_unref(struct compiled *q)
{
    if (q && --q->refs == 0) {
        sh_filter_sql_deinit(&q->q);
        free(q);
    }
}

static void entry_remove(struct sh_filter_cache *c, struct entry *e)
{
    sh_lru_remove(&c->lru, &e->node);
    compiled_unref(e->compiled);
    sh_filter_free(e->filter);
    free(e->key);
    free(e);
    c->stats.entries--;
}

void sh_filter_cache_free(struct sh_filter_cache *c)
{
    if (!c)
        return;
    struct entry *e;
    while ((e = entry_of(sh_lru_oldest(&c->lru))))
        entry_remove(c, e);
    sh_lru_deinit(&c->lru);
    free(c);
}

static void make_room(struct sh_filter_cache *c)
{
    if (c->stats.entries == c->capacity) {
        entry_remove(c, entry_of(sh_lru_oldest(&c->lru)));
        c->stats.evictions++;
    }
}

int sh_filter_cache_parse(struct sh_filter_cache *c, const char *collection, const char *text,
                          size_t len, struct sh_filter **out, struct sh_filter_error *err)
{
    struct lookup k = {collection ? collection : "", text, 0, len};
    k.collen = strlen(k.collection);
    uint64_t h = sh_hash_bytes(k.collection, k.collen + 1, SH_HASH_SEED);
    h = sh_hash_bytes(text, len, h);
    struct entry *e = entry_of(sh_lru_find(&c->lru, h, key_eq, &k));
    if (e) {
        c->stats.hits++;
        sh_lru_touch(&c->lru, &e->node);
        *out = sh_filter_ref(e->filter);
        return 0;
    }
    c->stats.misses++;
    int rc = sh_filter_parse(text, len, out, err);
    if (rc)
        return rc;
    make_room(c);
    e = sh__filter_xmalloc(sizeof(*e));
    memset(e, 0, sizeof(*e));
    e->collen = k.collen;
    e->klen = k.collen + 1 + len;
    e->key = sh__filter_xmalloc(e->klen);
    memcpy(e->key, k.collection, k.collen + 1);
    if (len)
        memcpy(e->key + k.collen + 1, text, len);
    e->filter = sh_filter_ref(*out);
    sh_lru_insert(&c->lru, &e->node, h);
    c->stats.entries++;
    return 0;
}

void sh_filter_cache_forget(struct sh_filter_cache *c, const char *collection)
{
    size_t collen = collection ? strlen(collection) : 0;
    for (struct sh_lru_node *n = sh_lru_oldest(&c->lru), *next; n; n = next) {
        next = sh_lru_newer(&c->lru, n);
        struct entry *e = entry_of(n);
        if (e->is_compiled) {
            if (!collection) /* their schemas are the caller's: only all at once */
                entry_remove(c, e);
            continue;
        }
        if (!collection || (e->collen == collen && memcmp(e->key, collection, collen) == 0))
            entry_remove(c, e);
    }
}

void sh_filter_cache_stats(const struct sh_filter_cache *c, struct sh_filter_cache_stats *out)
{
    *out = c->stats;
}

/* ---- compiled filters ---- */

struct clookup {
    const char *key;
    size_t len;
};

static bool ckey_eq(const struct sh_lru_node *n, const void *key)
{
    const struct entry *e = (const struct entry *)(const void *)n;
    const struct clookup *k = key;
    return e->is_compiled && e->klen == k->len && memcmp(e->key, k->key, k->len) == 0;
}

int sh_filter_cache_compile(struct sh_filter_cache *c, const struct sh_filter *f,
                            const struct sh_filter_schema *schema, const struct sh_filter_ctx *ctx,
                            const struct sh_filter_sql **out, struct sh_filter_error *err)
{
    *out = NULL;
    struct ckey fixed;
    memset(&fixed, 0, sizeof(fixed));
    fixed.f = f;
    fixed.schema = schema;
    if (ctx) {
        fixed.auth_schema = ctx->auth_schema;
        fixed.auth_client_schema = ctx->auth_client_schema;
    }
    /* the key: the fixed part, then the request values */
    struct sh__ctx_key k;
    memcpy(k.buf, &fixed, sizeof(fixed));
    k.len = sizeof(fixed);
    k.over = false;
    bool keyed =
        c && !(schema->access & SH_FILTER_ACCESS_CONFINED) && sh__filter_ctx_key(f, ctx, &k);
    struct clookup lk = {k.buf, k.len};
    uint64_t h = 0;
    if (keyed) {
        h = sh_hash_bytes(k.buf, k.len, SH_HASH_SEED);
        struct entry *e = entry_of(sh_lru_find(&c->lru, h, ckey_eq, &lk));
        if (e) {
            c->stats.hits++;
            sh_lru_touch(&c->lru, &e->node);
            e->compiled->refs++;
            *out = &e->compiled->q;
            return 0;
        }
        c->stats.misses++;
    }
    struct compiled *q = sh__filter_xmalloc(sizeof(*q));
    bool nested = false;
    int rc = sh__filter_compile_nested(f, schema, ctx, &q->q, err, &nested);
    if (rc) {
        free(q);
        return rc;
    }
    q->refs = 1;
    *out = &q->q;
    if (!keyed || nested)
        return 0;
    make_room(c);
    struct entry *e = sh__filter_xmalloc(sizeof(*e));
    memset(e, 0, sizeof(*e));
    e->is_compiled = true;
    e->klen = lk.len;
    e->key = sh__filter_xmalloc(lk.len);
    memcpy(e->key, k.buf, lk.len);
    e->filter = sh_filter_ref((struct sh_filter *)(uintptr_t)f); /* refs are atomic */
    e->compiled = q;
    q->refs++;
    sh_lru_insert(&c->lru, &e->node, h);
    c->stats.entries++;
    return 0;
}

void sh_filter_cache_release(const struct sh_filter_sql *q)
{
    compiled_unref((struct compiled *)(void *)(uintptr_t)q);
}
