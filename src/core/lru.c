/*
 * The hash table with a recency order of lru.h. Buckets are a fixed power of
 * two chosen from the capacity the caller bounds its cache to, so lookups stay
 * O(1) without rehashing; an entry costs one intrusive node and nothing else.
 */
#include "stagehand/lru.h"

#include <stdlib.h>
#include <string.h>

#include "stagehand/core.h"

/* Eight bytes per step (FxHash's rotate-xor-multiply, as rustc's tables use),
 * then the tail, then a final mix (splitmix64's) so that the low bits the
 * buckets take depend on every input bit. Byte-wise FNV-1a cost ~1 200
 * instructions per request on the statement cache's SQL keys alone. Keys
 * here are never chosen to collide by a client in a way that matters: the
 * tables are bounded and chains are compared by key. */
static inline uint64_t step(uint64_t h, uint64_t w)
{
    return (((h << 5) | (h >> 59)) ^ w) * UINT64_C(0x517cc1b727220a95);
}

uint64_t sh_hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = step(h, w);
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = step(h, w ^ ((uint64_t)n << 56));
    }
    h ^= h >> 31;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    return h ^ (h >> 29);
}

void sh_lru_init(struct sh_lru *t, size_t capacity)
{
    size_t nb = 8;
    while (nb < capacity * 2 && nb < ((size_t)1 << 30))
        nb *= 2;
    t->buckets = sh_calloc(nb, sizeof(*t->buckets));
    t->nbuckets = nb;
    t->size = 0;
    sh_list_init(&t->order);
}

void sh_lru_deinit(struct sh_lru *t)
{
    free(t->buckets);
    t->buckets = NULL;
    t->nbuckets = 0;
    t->size = 0;
    sh_list_init(&t->order);
}

static struct sh_lru_node **bucket(const struct sh_lru *t, uint64_t hash)
{
    return &t->buckets[hash & (t->nbuckets - 1)];
}

struct sh_lru_node *sh_lru_find(const struct sh_lru *t, uint64_t hash, sh_lru_eq_cb eq,
                                const void *key)
{
    for (struct sh_lru_node *n = *bucket(t, hash); n; n = n->chain)
        if (n->hash == hash && eq(n, key))
            return n;
    return NULL;
}

void sh_lru_insert(struct sh_lru *t, struct sh_lru_node *n, uint64_t hash)
{
    struct sh_lru_node **b = bucket(t, hash);
    n->hash = hash;
    n->chain = *b;
    *b = n;
    sh_list_insert_head(&t->order, &n->order);
    t->size++;
}

void sh_lru_touch(struct sh_lru *t, struct sh_lru_node *n)
{
    if (t->order.next == &n->order)
        return;
    sh_list_remove(&n->order);
    sh_list_insert_head(&t->order, &n->order);
}

void sh_lru_remove(struct sh_lru *t, struct sh_lru_node *n)
{
    struct sh_lru_node **pp = bucket(t, n->hash);
    while (*pp != n) {
        SH_ASSERT(*pp); /* not linked in this table */
        pp = &(*pp)->chain;
    }
    *pp = n->chain;
    n->chain = NULL;
    sh_list_remove(&n->order);
    t->size--;
}

struct sh_lru_node *sh_lru_oldest(const struct sh_lru *t)
{
    struct sh_list *l = sh_list_last(&t->order);
    return l ? sh_list_entry(l, struct sh_lru_node, order) : NULL;
}

struct sh_lru_node *sh_lru_newer(const struct sh_lru *t, const struct sh_lru_node *n)
{
    struct sh_list *l = n->order.prev;
    return l == &t->order ? NULL : sh_list_entry(l, struct sh_lru_node, order);
}
