/*
 * Prepared-statement cache, one per connection, keyed by the SQL text. Every
 * request runs the same few dozen statements, and preparing costs more than a
 * point read, so statements are prepared once (SQLITE_PREPARE_PERSISTENT) and
 * kept in core's hash table with a recency order (lru.h), bounded to `cap`
 * entries; entries checked out are never evicted.
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
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "stagehand/lru.h"

struct sh__stmt_entry {
    struct sh_lru_node node; /* keyed by the SQL text */
    char *sql;
    int in_use;
    sqlite3_stmt *stmt;
};

/* The write connection's cache of the thread running jobs (the writer's, or
 * the CLI's): per thread, so each server's writer thread finds its own. */
static _Thread_local struct sh__stmt_cache *thread_cache;

/* The node is the entry's first member. */
static struct sh__stmt_entry *entry_of(struct sh_lru_node *n)
{
    return (struct sh__stmt_entry *)(void *)n;
}

static bool sql_eq(const struct sh_lru_node *n, const void *key)
{
    return strcmp(((const struct sh__stmt_entry *)(const void *)n)->sql, key) == 0;
}

void sh__stmt_cache_init(struct sh__stmt_cache *c, sqlite3 *conn, unsigned cap)
{
    memset(c, 0, sizeof(*c));
    c->conn = conn;
    c->cap = cap ? cap : 1;
    sh_lru_init(&c->lru, c->cap);
}

static void entry_free(struct sh__stmt_cache *c, struct sh__stmt_entry *e)
{
    sh_lru_remove(&c->lru, &e->node);
    sqlite3_finalize(e->stmt);
    free(e->sql);
    free(e);
    c->stats.size--;
}

void sh__stmt_cache_deinit(struct sh__stmt_cache *c)
{
    if (!c->lru.buckets)
        return;
    for (size_t i = 0; i < c->nout; i++)
        if (!c->out[i].entry)
            sqlite3_finalize(c->out[i].stmt);
    struct sh__stmt_entry *e;
    while ((e = entry_of(sh_lru_oldest(&c->lru))))
        entry_free(c, e);
    sh_lru_deinit(&c->lru);
    free(c->out);
    if (thread_cache == c)
        thread_cache = NULL;
    memset(c, 0, sizeof(*c));
}

/* Evicts least recently used entries that are not checked out until the
 * cache is within its bound (it may stay above if all are in use). */
static void evict(struct sh__stmt_cache *c)
{
    struct sh__stmt_entry *e = entry_of(sh_lru_oldest(&c->lru));
    while (c->stats.size > c->cap && e) {
        struct sh__stmt_entry *newer = entry_of(sh_lru_newer(&c->lru, &e->node));
        if (!e->in_use) {
            entry_free(c, e);
            c->stats.evictions++;
        }
        e = newer;
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
    uint64_t h = sh_hash_bytes(sql, strlen(sql), SH_HASH_SEED);
    struct sh__stmt_entry *e = entry_of(sh_lru_find(&c->lru, h, sql_eq, sql));
    if (e && !e->in_use) {
        c->stats.hits++;
        sh_lru_touch(&c->lru, &e->node);
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
    e->stmt = stmt;
    e->in_use = 1;
    sh_lru_insert(&c->lru, &e->node, h);
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
