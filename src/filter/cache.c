/*
 * A bounded LRU of parsed filters keyed by (collection, filter text), so that
 * the rules of a collection and the filters clients repeat are parsed once.
 * The table is core's hash table with a recency order (lru.h, FNV-1a over the
 * key); when full, the least recently used entry is evicted. Entries hold a
 * reference to the parsed filter and hand out new ones, so an eviction never
 * frees a filter a caller is still compiling. The AST does not depend on the
 * schema (fields are resolved at compile time), so a schema change needs no
 * invalidation; sh_filter_cache_forget only frees memory.
 */
#include <stdlib.h>
#include <string.h>

#include "filter_int.h"
#include "stagehand/core.h"
#include "stagehand/lru.h"

struct entry {
    struct sh_lru_node node; /* first member */
    size_t collen, klen;     /* key = collection '\0' text */
    char *key;
    struct sh_filter *filter;
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
    return e->collen == k->collen && e->klen == k->collen + 1 + k->len &&
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

static void entry_remove(struct sh_filter_cache *c, struct entry *e)
{
    sh_lru_remove(&c->lru, &e->node);
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
    if (c->stats.entries == c->capacity) {
        entry_remove(c, entry_of(sh_lru_oldest(&c->lru)));
        c->stats.evictions++;
    }
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
        if (!collection || (e->collen == collen && memcmp(e->key, collection, collen) == 0))
            entry_remove(c, e);
    }
}

void sh_filter_cache_stats(const struct sh_filter_cache *c, struct sh_filter_cache_stats *out)
{
    *out = c->stats;
}
