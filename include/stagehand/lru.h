/*
 * The two containers every cache in stagehand is made of, so that the
 * statement, filter, count and token caches and the rate limiter share one
 * implementation and each keeps only its key and its eviction policy:
 *
 *  - struct sh_list, an intrusive circular doubly linked list with a
 *    sentinel head (libuv's queue, the Linux kernel's list_head): a node is
 *    embedded in its owner and sh_list_entry() gets the owner back;
 *  - struct sh_lru, a chained hash table of intrusive nodes with a recency
 *    order. The caller hashes its key (sh_hash_bytes, or bits of a digest it
 *    already has) and compares keys in a callback; the table never allocates
 *    entries, never frees them and never evicts by itself — the caller walks
 *    from sh_lru_oldest() and removes what its policy says (skipping entries
 *    in use, say).
 *
 * Not thread-safe: each table belongs to one thread. Defined in
 * src/core/lru.c.
 */
#ifndef STAGEHAND_LRU_H
#define STAGEHAND_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sh_list {
    struct sh_list *prev, *next;
};

#define sh_list_entry(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void sh_list_init(struct sh_list *head)
{
    head->prev = head->next = head;
}

static inline bool sh_list_empty(const struct sh_list *head)
{
    return head->next == head;
}

/* Inserts n right after head (at the front). */
static inline void sh_list_insert_head(struct sh_list *head, struct sh_list *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

/* Inserts n right before head (at the back). */
static inline void sh_list_insert_tail(struct sh_list *head, struct sh_list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

/* Unlinks n; n is left pointing at itself (safe to remove again). */
static inline void sh_list_remove(struct sh_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* The first / last node, or NULL when the list is empty. */
static inline struct sh_list *sh_list_first(const struct sh_list *head)
{
    return head->next == head ? NULL : head->next;
}

static inline struct sh_list *sh_list_last(const struct sh_list *head)
{
    return head->prev == head ? NULL : head->prev;
}

/* An entry of a struct sh_lru, embedded in the caller's entry. */
struct sh_lru_node {
    struct sh_lru_node *chain; /* next in the bucket */
    struct sh_list order;      /* recency: head = most recent */
    uint64_t hash;
};

struct sh_lru {
    struct sh_lru_node **buckets;
    size_t nbuckets; /* a power of two */
    size_t size;     /* entries linked */
    struct sh_list order;
};

/* True if node n holds key (the caller's key type). */
typedef bool (*sh_lru_eq_cb)(const struct sh_lru_node *n, const void *key);

/* A fast 64-bit hash of n bytes, continuing from h (start with SH_HASH_SEED);
 * not cryptographic. */
#define SH_HASH_SEED UINT64_C(14695981039346656037)
uint64_t sh_hash_bytes(const void *p, size_t n, uint64_t h);

/* Prepares an empty table sized for about `capacity` entries (buckets: the
 * next power of two >= 2 x capacity, at least 8). Allocates (aborts on OOM). */
void sh_lru_init(struct sh_lru *t, size_t capacity);
/* Frees the bucket array; the entries are the caller's and must have been
 * removed or be freed by the caller. */
void sh_lru_deinit(struct sh_lru *t);

/* The entry with this hash for which eq(node, key) holds, or NULL. Does not
 * change the recency order (sh_lru_touch does). */
struct sh_lru_node *sh_lru_find(const struct sh_lru *t, uint64_t hash, sh_lru_eq_cb eq,
                                const void *key);
/* Links n as the most recent entry under hash. n must not be linked. */
void sh_lru_insert(struct sh_lru *t, struct sh_lru_node *n, uint64_t hash);
/* Makes n the most recent entry. */
void sh_lru_touch(struct sh_lru *t, struct sh_lru_node *n);
/* Unlinks n (the caller frees it). */
void sh_lru_remove(struct sh_lru *t, struct sh_lru_node *n);
/* The least recently used entry, or NULL when empty; sh_lru_newer() walks
 * towards the most recent (NULL after it). Removing the node in hand is
 * safe if its successor was taken first. */
struct sh_lru_node *sh_lru_oldest(const struct sh_lru *t);
struct sh_lru_node *sh_lru_newer(const struct sh_lru *t, const struct sh_lru_node *n);

#endif
