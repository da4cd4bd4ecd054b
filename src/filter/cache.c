/*
 * A bounded LRU of parsed filters keyed by (collection, filter text), so that
 * the rules of a collection and the filters clients repeat are parsed once.
 * A hash table (chained, FNV-1a) finds entries; a doubly linked list orders
 * them from most to least recently used, and the tail is evicted when full.
 * Entries hold a reference to the parsed filter and hand out new ones, so an
 * eviction never frees a filter a caller is still compiling. The AST does not
 * depend on the schema (fields are resolved at compile time), so a schema
 * change needs no invalidation; sh_filter_cache_forget only frees memory.
 */
#include "filter_int.h"

#include "stagehand/core.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *prev, *next; /* LRU list, head = most recent */
    struct entry *hnext;       /* hash chain */
    uint64_t hash;
    size_t collen, klen; /* key = collection '\0' text */
    char *key;
    struct sh_filter *filter;
};

struct sh_filter_cache {
    size_t capacity;
    struct entry **buckets;
    size_t nbuckets; /* a power of two >= 2 * capacity */
    struct entry *head, *tail;
    struct sh_filter_cache_stats stats;
};

static uint64_t fnv1a(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

struct sh_filter_cache *sh_filter_cache_new(size_t capacity)
{
    if (capacity == 0)
        capacity = 1;
    struct sh_filter_cache *c = sh__filter_xmalloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->capacity = capacity;
    c->nbuckets = 2;
    while (c->nbuckets < 2 * capacity)
        c->nbuckets *= 2;
    c->buckets = sh__filter_xmalloc(c->nbuckets * sizeof(*c->buckets));
    memset(c->buckets, 0, c->nbuckets * sizeof(*c->buckets));
    return c;
}

static void lru_unlink(struct sh_filter_cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct sh_filter_cache *c, struct entry *e)
{
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void entry_remove(struct sh_filter_cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    sh_filter_free(e->filter);
    free(e->key);
    free(e);
    c->stats.entries--;
}

void sh_filter_cache_free(struct sh_filter_cache *c)
{
    if (!c)
        return;
    while (c->head)
        entry_remove(c, c->head);
    free(c->buckets);
    free(c);
}

int sh_filter_cache_parse(struct sh_filter_cache *c, const char *collection, const char *text,
                          size_t len, struct sh_filter **out, struct sh_filter_error *err)
{
    if (!collection)
        collection = "";
    size_t collen = strlen(collection);
    uint64_t h = fnv1a(collection, collen + 1, UINT64_C(14695981039346656037));
    h = fnv1a(text, len, h);
    for (struct entry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext) {
        if (e->hash == h && e->collen == collen && e->klen == collen + 1 + len &&
            memcmp(e->key, collection, collen) == 0 &&
            (len == 0 || memcmp(e->key + collen + 1, text, len) == 0)) {
            c->stats.hits++;
            lru_unlink(c, e);
            lru_push_front(c, e);
            *out = sh_filter_ref(e->filter);
            return 0;
        }
    }
    c->stats.misses++;
    int rc = sh_filter_parse(text, len, out, err);
    if (rc)
        return rc;
    if (c->stats.entries == c->capacity) {
        entry_remove(c, c->tail);
        c->stats.evictions++;
    }
    struct entry *e = sh__filter_xmalloc(sizeof(*e));
    memset(e, 0, sizeof(*e));
    e->hash = h;
    e->collen = collen;
    e->klen = collen + 1 + len;
    e->key = sh__filter_xmalloc(e->klen);
    memcpy(e->key, collection, collen + 1);
    if (len)
        memcpy(e->key + collen + 1, text, len);
    e->filter = sh_filter_ref(*out);
    struct entry **b = &c->buckets[h & (c->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    lru_push_front(c, e);
    c->stats.entries++;
    return 0;
}

void sh_filter_cache_forget(struct sh_filter_cache *c, const char *collection)
{
    size_t collen = collection ? strlen(collection) : 0;
    for (struct entry *e = c->head, *next; e; e = next) {
        next = e->next;
        if (!collection || (e->collen == collen && memcmp(e->key, collection, collen) == 0))
            entry_remove(c, e);
    }
}

void sh_filter_cache_stats(const struct sh_filter_cache *c, struct sh_filter_cache_stats *out)
{
    *out = c->stats;
}
