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
 * it counted. A WHERE that reads other tables (relation paths, subqueries:
 * SH_FILTER_READS_OTHER_TABLE, reported by the compiler) is stamped with the sum of every table's
 * version instead, so any write invalidates it. Schema changes change the key (the schema version
 * is part of it).
 *
 * Why a total is never older than an acknowledged write. A records write
 * job marks each table it writes as pending (sh_rec_counts_write_begin, on
 * the writer thread, before its changes can commit), and
 * sh_rec_write_deinit, on the loop once the job's completion has been
 * handled, bumps the table's version in the job's cache (sh_rec_write.counts,
 * the one the records API made before any job could start) and clears the
 * mark (sh_rec_counts_write_end). While a table has a write pending, its counts
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
 * written by the CLI, from another process) and WHEREs reading a hidden
 * field, at the root or through a relation, as their compiler reports it
 * (SH_FILTER_READS_HIDDEN: an auth collection's tokenKey is rotated by the
 * auth routes' own jobs). Any other
 * new writer of collection rows must mark and bump here. Another process
 * writing the same database (the CLI, another instance) is seen through the
 * shared version the caller puts in the key (db/engine/versions.c, bumped
 * in the transaction of every write): an entry counted at another shared
 * version is stale.
 *
 * Bounded: at most `capacity` entries, least recently used evicted first;
 * capacity 0 disables the cache. Loop thread only.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/lru.h"
#include "stagehand/records.h"

#define TABLE_BUCKETS 64
#define PENDING_SLOTS 256

struct entry {
    struct sh_lru_node node; /* first member: keyed by (table, any_table, key) */
    uint64_t stamp;
    int64_t shared; /* the table's shared version when counted */
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
    size_t capacity;
    struct sh_lru lru; /* struct entry */
    struct table_version *tables[TABLE_BUCKETS];
    uint64_t all; /* every bump of every table */
    struct sh_rec_counts_stats stats;
};

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* SQLite table names are case-insensitive; collection names are ASCII. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = SH_HASH_SEED;
    char low[64]; /* hashed a piece at a time, lower-cased */
    size_t n = 0;
    for (; *s; s++) {
        low[n++] = lower(*s);
        if (n == sizeof(low)) {
            h = sh_hash_bytes(low, n, h);
            n = 0;
        }
    }
    return sh_hash_bytes(low, n, h);
}

/* Writes in progress per slot of table names, and in all. The only state
 * of this file outside a struct, and process-wide on purpose: the writer
 * thread sets a mark from inside a job (sh__rec_touch) whatever cache the
 * job's creator holds, and a mark must hold for every cache that could
 * serve the table. Two servers in one process sharing them only recount
 * more often; a mark can never be missed. */
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
        if (sh_schema_name_eq(t->name, name))
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

static struct entry *entry_of(struct sh_lru_node *n)
{
    return (struct entry *)(void *)n;
}

static void drop(struct sh_rec_counts *cc, struct entry *e)
{
    sh_lru_remove(&cc->lru, &e->node);
    free(e->key);
    free(e);
}

struct sh_rec_counts *sh_rec_counts_new(size_t capacity)
{
    struct sh_rec_counts *cc = sh_calloc(1, sizeof(*cc));
    cc->capacity = capacity;
    sh_lru_init(&cc->lru, capacity);
    return cc;
}

void sh_rec_counts_free(struct sh_rec_counts *cc)
{
    if (!cc)
        return;
    struct entry *e;
    while ((e = entry_of(sh_lru_oldest(&cc->lru))))
        drop(cc, e);
    for (size_t i = 0; i < TABLE_BUCKETS; i++)
        for (struct table_version *t = cc->tables[i], *next; t; t = next) {
            next = t->next;
            free(t);
        }
    sh_lru_deinit(&cc->lru);
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
    h = sh_hash_bytes(&k->any_table, sizeof(k->any_table), h);
    return sh_hash_bytes(k->key, k->len, h);
}

static bool key_eq(const struct sh_lru_node *n, const void *key)
{
    const struct entry *e = (const struct entry *)(const void *)n;
    const struct sh_rec_count_key *k = key;
    size_t tn = strlen(k->table);
    return e->klen == tn + 2 + k->len && sh_schema_name_eq(e->key, k->table) &&
           (e->key[tn + 1] != 0) == k->any_table && memcmp(e->key + tn + 2, k->key, k->len) == 0;
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
    struct entry *e = entry_of(sh_lru_find(&cc->lru, key_hash(k), key_eq, k));
    if (!e) {
        cc->stats.misses++;
        return false;
    }
    if (e->stamp != stamp_of(cc, k) || e->shared != k->shared) {
        /* written since: the count is gone for good (versions only grow) */
        drop(cc, e);
        cc->stats.stale++;
        cc->stats.misses++;
        return false;
    }
    sh_lru_touch(&cc->lru, &e->node);
    *out = e->count;
    cc->stats.hits++;
    return true;
}

void sh_rec_counts_put(struct sh_rec_counts *cc, const struct sh_rec_count_key *k, int64_t count)
{
    if (!cc || !cc->capacity || write_pending(k))
        return;
    uint64_t h = key_hash(k);
    struct entry *e = entry_of(sh_lru_find(&cc->lru, h, key_eq, k));
    if (e) {
        sh_lru_touch(&cc->lru, &e->node);
    } else {
        if (cc->lru.size >= cc->capacity) {
            drop(cc, entry_of(sh_lru_oldest(&cc->lru)));
            cc->stats.evictions++;
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
        sh_lru_insert(&cc->lru, &e->node, h);
    }
    e->stamp = stamp_of(cc, k);
    e->shared = k->shared;
    e->count = count;
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
    out->entries = cc->lru.size;
    out->capacity = cc->capacity;
}
