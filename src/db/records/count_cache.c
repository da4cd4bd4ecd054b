/*
 * The count cache: list totals (`totalItems`) remembered until the next write
 * to the collection they count. COUNT(*) walks every matching index entry
 * (~50 ns each: a filter matching 20,000 records costs ~1 ms of the loop per
 * request), while the page itself costs tens of microseconds; so the count
 * of a (collection, WHERE) is kept and reused.
 *
 * Key: the collection id, its schema version, the compiled WHERE text (list
 * rule AND filter) and every bound parameter value, built by the caller
 * (records_read.c). Value: the count, stamped with the version of the table
 * it counted. A WHERE that reads other tables (relation paths, subqueries)
 * is stamped with the sum of every table's version instead, so any write
 * invalidates it. Schema changes change the key (the schema version is part
 * of it).
 *
 * Why a total is never older than an acknowledged write. A records write
 * job marks each table it writes as pending (sh_rec_counts_write_begin, on
 * the writer thread, before its changes can commit), and
 * sh_rec_write_deinit, on the loop once the job's completion has been
 * handled, bumps the table's version and clears the mark
 * (sh_rec_counts_write_end). While a table has a write pending, its counts
 * are neither served nor stored. So:
 *  - between the commit and the end of the completion (the answer goes out
 *    in between, and a request pipelined behind it on the same connection
 *    is handled right then), the mark is set: totals are counted afresh, on
 *    a snapshot that holds the write (the writer's completions end the
 *    loop's shared read transaction before any done callback runs);
 *  - a count stored before the mark was set may come from a snapshot
 *    without the write; the bump at the end makes it stale;
 *  - a count cannot be stored while the mark is set.
 * The marks are counters in a small fixed table of atomics indexed by a
 * hash of the table name: two tables sharing a slot only cost each other
 * some recounts. A job whose deinit never ran would leave its tables
 * uncached, never stale.
 *
 * What the caller must not cache (records_read.c decides): counts on tables
 * written outside records write jobs (struct sh_rec_write, which the auth
 * routes' password reset uses too): system collections (`_superusers` is
 * written by the CLI, from another process) and WHERE texts reading an auth
 * collection's tokenKey (rotated by the auth routes' own jobs). Any other
 * new writer of collection rows must mark and bump here. Another process
 * writing the same database (a future --workers) would need a shared
 * version instead.
 *
 * Bounded: at most `capacity` entries, least recently used evicted first;
 * capacity 0 disables the cache. Loop thread only.
 */
#include "stagehand/records.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_BUCKETS 64
#define PENDING_SLOTS 256

struct entry {
    struct entry *prev, *next; /* LRU: head is the most recent */
    struct entry *chain;       /* hash bucket */
    uint64_t hash;
    uint64_t stamp;
    int64_t count;
    size_t klen;
    char *key; /* table name (lower case), NUL, then the caller's key */
};

struct table_version {
    struct table_version *next;
    uint64_t version;
    char name[]; /* lower case */
};

struct sh_rec_counts {
    size_t capacity, n;
    size_t nbuckets; /* a power of two */
    struct entry **buckets;
    struct entry *head, *tail;
    struct table_version *tables[TABLE_BUCKETS];
    uint64_t all; /* every bump of every table */
    struct sh_rec_counts_stats stats;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

#define FNV_SEED 14695981039346656037ull

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* SQLite table names are case-insensitive; collection names are ASCII. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = FNV_SEED;
    for (; *s; s++) {
        char c = lower(*s);
        h = fnv(h, &c, 1);
    }
    return h;
}

/* Writes in progress per slot of table names, and in all (any thread). */
static atomic_uint pending[PENDING_SLOTS];
static atomic_uint pending_all;

static bool write_pending(const struct sh_rec_count_key *k)
{
    if (k->any_table)
        return atomic_load(&pending_all) != 0;
    return atomic_load(&pending[name_hash(k->table) & (PENDING_SLOTS - 1)]) != 0;
}

void sh_rec_counts_write_begin(const char *table)
{
    atomic_fetch_add(&pending[name_hash(table) & (PENDING_SLOTS - 1)], 1);
    atomic_fetch_add(&pending_all, 1);
}

void sh_rec_counts_write_end(struct sh_rec_counts *cc, const char *table)
{
    /* bump first: once the mark is gone, older counts must already be stale */
    sh_rec_counts_bump(cc, table);
    atomic_fetch_sub(&pending[name_hash(table) & (PENDING_SLOTS - 1)], 1);
    atomic_fetch_sub(&pending_all, 1);
}

static struct table_version *table_find(struct sh_rec_counts *cc, const char *name, bool create)
{
    size_t b = (size_t)(name_hash(name) & (TABLE_BUCKETS - 1));
    for (struct table_version *t = cc->tables[b]; t; t = t->next)
        if (sh__caseeq(t->name, name))
            return t;
    if (!create)
        return NULL;
    size_t n = strlen(name);
    struct table_version *t = sh_calloc(1, sizeof(*t) + n + 1);
    for (size_t i = 0; i < n; i++)
        t->name[i] = lower(name[i]);
    t->next = cc->tables[b];
    cc->tables[b] = t;
    return t;
}

struct sh_rec_counts *sh_rec_counts_new(size_t capacity)
{
    struct sh_rec_counts *cc = sh_calloc(1, sizeof(*cc));
    cc->capacity = capacity;
    size_t nb = 16;
    while (nb < capacity)
        nb *= 2;
    cc->nbuckets = nb;
    cc->buckets = capacity ? sh_calloc(nb, sizeof(*cc->buckets)) : NULL;
    return cc;
}

void sh_rec_counts_free(struct sh_rec_counts *cc)
{
    if (!cc)
        return;
    for (struct entry *e = cc->head, *next; e; e = next) {
        next = e->next;
        free(e->key);
        free(e);
    }
    for (size_t i = 0; i < TABLE_BUCKETS; i++)
        for (struct table_version *t = cc->tables[i], *next; t; t = next) {
            next = t->next;
            free(t);
        }
    free(cc->buckets);
    free(cc);
}

static uint64_t stamp_of(struct sh_rec_counts *cc, const struct sh_rec_count_key *k)
{
    if (k->any_table)
        return cc->all;
    const struct table_version *t = table_find(cc, k->table, false);
    return t ? t->version : 0;
}

static uint64_t key_hash(const struct sh_rec_count_key *k)
{
    uint64_t h = name_hash(k->table);
    h = fnv(h, &k->any_table, sizeof(k->any_table));
    return fnv(h, k->key, k->len);
}

static bool key_eq(const struct entry *e, uint64_t h, const struct sh_rec_count_key *k)
{
    size_t tn = strlen(k->table);
    return e->hash == h && e->klen == tn + 2 + k->len && sh__caseeq(e->key, k->table) &&
           (e->key[tn + 1] != 0) == k->any_table && memcmp(e->key + tn + 2, k->key, k->len) == 0;
}

static struct entry **slot_of(struct sh_rec_counts *cc, uint64_t h,
                              const struct sh_rec_count_key *k)
{
    struct entry **pp = &cc->buckets[h & (cc->nbuckets - 1)];
    while (*pp && !key_eq(*pp, h, k))
        pp = &(*pp)->chain;
    return pp;
}

static void lru_unlink(struct sh_rec_counts *cc, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        cc->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        cc->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(struct sh_rec_counts *cc, struct entry *e)
{
    e->prev = NULL;
    e->next = cc->head;
    if (cc->head)
        cc->head->prev = e;
    cc->head = e;
    if (!cc->tail)
        cc->tail = e;
}

static void drop(struct sh_rec_counts *cc, struct entry **slot)
{
    struct entry *e = *slot;
    *slot = e->chain;
    lru_unlink(cc, e);
    free(e->key);
    free(e);
    cc->n--;
}

bool sh_rec_counts_get(struct sh_rec_counts *cc, const struct sh_rec_count_key *k, int64_t *out)
{
    if (!cc || !cc->capacity)
        return false;
    if (write_pending(k)) {
        cc->stats.pending++;
        cc->stats.misses++;
        return false;
    }
    uint64_t h = key_hash(k);
    struct entry **slot = slot_of(cc, h, k);
    struct entry *e = *slot;
    if (!e) {
        cc->stats.misses++;
        return false;
    }
    if (e->stamp != stamp_of(cc, k)) {
        /* written since: the count is gone for good (versions only grow) */
        drop(cc, slot);
        cc->stats.stale++;
        cc->stats.misses++;
        return false;
    }
    lru_unlink(cc, e);
    lru_front(cc, e);
    *out = e->count;
    cc->stats.hits++;
    return true;
}

void sh_rec_counts_put(struct sh_rec_counts *cc, const struct sh_rec_count_key *k, int64_t count)
{
    if (!cc || !cc->capacity || write_pending(k))
        return;
    uint64_t h = key_hash(k);
    struct entry **slot = slot_of(cc, h, k);
    struct entry *e = *slot;
    if (e) {
        lru_unlink(cc, e);
    } else {
        if (cc->n >= cc->capacity) {
            struct entry *old = cc->tail;
            struct entry **os = &cc->buckets[old->hash & (cc->nbuckets - 1)];
            while (*os != old)
                os = &(*os)->chain;
            drop(cc, os);
            cc->stats.evictions++;
            slot = slot_of(cc, h, k); /* the chain may have changed */
        }
        size_t tn = strlen(k->table);
        e = sh_calloc(1, sizeof(*e));
        e->klen = tn + 2 + k->len;
        e->key = sh_malloc(e->klen);
        for (size_t i = 0; i < tn; i++)
            e->key[i] = lower(k->table[i]);
        e->key[tn] = 0;
        e->key[tn + 1] = k->any_table ? 1 : 0;
        memcpy(e->key + tn + 2, k->key, k->len);
        e->hash = h;
        e->chain = NULL;
        *slot = e;
        cc->n++;
    }
    e->stamp = stamp_of(cc, k);
    e->count = count;
    lru_front(cc, e);
}

void sh_rec_counts_bump(struct sh_rec_counts *cc, const char *table)
{
    if (!cc)
        return;
    table_find(cc, table, true)->version++;
    cc->all++;
}

void sh_rec_counts_stats(const struct sh_rec_counts *cc, struct sh_rec_counts_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!cc)
        return;
    *out = cc->stats;
    out->entries = cc->n;
    out->capacity = cc->capacity;
}

/* ---- the loop's instance ---- */

static struct sh_rec_counts *installed;

void sh_rec_counts_install(struct sh_rec_counts *cc)
{
    installed = cc;
}

struct sh_rec_counts *sh_rec_counts_installed(void)
{
    return installed;
}
