/*
 * Prepared-statement cache, one per connection, keyed by the SQL text. Every
 * request runs the same few dozen statements, and preparing costs more than a
 * point read, so statements are prepared once (SQLITE_PREPARE_PERSISTENT) and
 * kept in a chained hash table with an LRU list bounded to `cap` entries.
 *
 * A statement is checked out while in use and never evicted then; if the same
 * SQL is needed again before it comes back (a nested query), a private
 * statement is prepared for that use and finalized when given back. The list
 * of checked-out statements maps a returned sqlite3_stmt back to its entry; it
 * is a few entries deep, so a scan from the end is the fastest lookup.
 *
 * A cache is used by one thread only: the loop's for the read connection, the
 * writer thread's (or the CLI's) for the write connection, reached by
 * sh_db_writer_prepare through a thread-local pointer.
 */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

struct sh__stmt_entry {
    char *sql;
    uint32_t hash;
    int in_use;
    sqlite3_stmt *stmt;
    struct sh__stmt_entry *chain; /* next in bucket */
    struct sh__stmt_entry *prev, *next;
};

static _Thread_local struct sh__stmt_cache *thread_cache;

static uint32_t hash_sql(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void sh__stmt_cache_init(struct sh__stmt_cache *c, sqlite3 *conn, unsigned cap)
{
    memset(c, 0, sizeof(*c));
    c->conn = conn;
    c->cap = cap ? cap : 1;
    c->nbuckets = 8;
    while (c->nbuckets < c->cap * 2)
        c->nbuckets *= 2;
    c->buckets = sh_calloc(c->nbuckets, sizeof(*c->buckets));
}

static void lru_unlink(struct sh__stmt_cache *c, struct sh__stmt_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct sh__stmt_cache *c, struct sh__stmt_entry *e)
{
    e->prev = NULL;
    e->next = c->lru_head;
    if (c->lru_head)
        c->lru_head->prev = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

static void entry_free(struct sh__stmt_cache *c, struct sh__stmt_entry *e)
{
    struct sh__stmt_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(c, e);
    sqlite3_finalize(e->stmt);
    free(e->sql);
    free(e);
    c->stats.size--;
}

void sh__stmt_cache_deinit(struct sh__stmt_cache *c)
{
    if (!c->buckets)
        return;
    for (size_t i = 0; i < c->nout; i++)
        if (!c->out[i].entry)
            sqlite3_finalize(c->out[i].stmt);
    while (c->lru_head)
        entry_free(c, c->lru_head);
    free(c->buckets);
    free(c->out);
    if (thread_cache == c)
        thread_cache = NULL;
    memset(c, 0, sizeof(*c));
}

/* Evicts least recently used entries that are not checked out until the
 * cache is within its bound (it may stay above if all are in use). */
static void evict(struct sh__stmt_cache *c)
{
    struct sh__stmt_entry *e = c->lru_tail;
    while (c->stats.size > c->cap && e) {
        struct sh__stmt_entry *prev = e->prev;
        if (!e->in_use) {
            entry_free(c, e);
            c->stats.evictions++;
        }
        e = prev;
    }
}

static int prepare(struct sh__stmt_cache *c, const char *sql, unsigned flags, sqlite3_stmt **out)
{
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->conn, sql, -1, flags, out, &tail);
    if (rc != SQLITE_OK) {
        sh_log_error(SH_DB_MOD, "prepare failed: %s (%.200s)", sqlite3_errmsg(c->conn), sql);
        return SH_EINVAL;
    }
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r'))
        tail++;
    if (!*out || (tail && *tail)) {
        sh_log_error(SH_DB_MOD, "prepare: expected exactly one statement (%.200s)", sql);
        sqlite3_finalize(*out);
        *out = NULL;
        return SH_EINVAL;
    }
    return 0;
}

static void out_push(struct sh__stmt_cache *c, sqlite3_stmt *stmt, struct sh__stmt_entry *e)
{
    if (c->nout == c->capout) {
        c->capout = c->capout ? c->capout * 2 : 8;
        c->out = sh_realloc(c->out, c->capout * sizeof(*c->out));
    }
    c->out[c->nout++] = (struct sh__stmt_out){stmt, e};
}

int sh__stmt_cache_get(struct sh__stmt_cache *c, const char *sql, sqlite3_stmt **out)
{
    uint32_t h = hash_sql(sql);
    struct sh__stmt_entry **bucket = &c->buckets[h & (c->nbuckets - 1)];
    struct sh__stmt_entry *e = *bucket;
    while (e && (e->hash != h || strcmp(e->sql, sql) != 0))
        e = e->chain;
    if (e && !e->in_use) {
        c->stats.hits++;
        lru_unlink(c, e);
        lru_push_front(c, e);
        e->in_use = 1;
        out_push(c, e->stmt, e);
        *out = e->stmt;
        return 0;
    }
    if (e) { /* nested use of the same SQL: a private statement */
        int rc = prepare(c, sql, 0, out);
        if (rc == 0) {
            c->stats.uncached++;
            out_push(c, *out, NULL);
        }
        return rc;
    }
    sqlite3_stmt *stmt;
    int rc = prepare(c, sql, SQLITE_PREPARE_PERSISTENT, &stmt);
    if (rc)
        return rc;
    c->stats.misses++;
    e = sh_calloc(1, sizeof(*e));
    e->sql = sh_strdup(sql);
    e->hash = h;
    e->stmt = stmt;
    e->in_use = 1;
    e->chain = *bucket;
    *bucket = e;
    lru_push_front(c, e);
    c->stats.size++;
    out_push(c, stmt, e);
    evict(c);
    *out = stmt;
    return 0;
}

void sh__stmt_cache_put(struct sh__stmt_cache *c, sqlite3_stmt *stmt)
{
    if (!stmt)
        return;
    size_t i = c->nout;
    while (i > 0 && c->out[i - 1].stmt != stmt)
        i--;
    SH_ASSERT(i > 0); /* not from this cache, or given back twice */
    struct sh__stmt_entry *e = c->out[i - 1].entry;
    memmove(&c->out[i - 1], &c->out[i], (c->nout - i) * sizeof(*c->out));
    c->nout--;
    if (!e) {
        sqlite3_finalize(stmt);
        return;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    e->in_use = 0;
    evict(c); /* in case it was held past the bound */
}

void sh__stmt_cache_bind_thread(struct sh__stmt_cache *c)
{
    thread_cache = c;
}

int sh_db_writer_prepare(sqlite3 *wdb, const char *sql, sqlite3_stmt **out)
{
    struct sh__stmt_cache *c = thread_cache;
    if (c && c->conn == wdb)
        return sh__stmt_cache_get(c, sql, out);
    /* No cache on this thread (a caller outside the writer): plain statement. */
    struct sh__stmt_cache tmp = {.conn = wdb};
    return prepare(&tmp, sql, 0, out);
}

void sh_db_writer_release(sqlite3 *wdb, sqlite3_stmt *stmt)
{
    struct sh__stmt_cache *c = thread_cache;
    if (c && c->conn == wdb)
        sh__stmt_cache_put(c, stmt);
    else
        sqlite3_finalize(stmt);
}
