/*
 * The stored logs' file and thread. <dir>/auxiliary.db is a SQLite file of
 * its own (WAL, synchronous=NORMAL, auto_vacuum=INCREMENTAL) with one table,
 * _logs (id, level, message, data, created), as PocketBase keeps it, so the
 * data writer never waits for it and it never waits for the data writer.
 *
 * The loop (a finished request) and any thread (a warn or error line, via
 * the log sink) copy what they log into one allocation and push it on a
 * bounded ring under a mutex: pushing never blocks on I/O, and when the ring
 * is full the entry is dropped and counted (stagehand_logs_dropped_total)
 * rather than slowing a request. The thread takes whatever is queued every
 * 200 ms (at once past 2048 entries, or half the ring if smaller), cuts the
 * secrets out of urls, builds each entry's JSON and inserts the lot in one
 * transaction, with INSERTs of up to 64 rows prepared once; every
 * --logs-prune-interval it deletes entries older than --logs-max-days, then the oldest ones while
 * the live pages pass
 * --logs-max-size, and gives the freed pages back to the file system. A
 * DELETE /api/logs is run by the thread too, after what was queued before
 * it; the loop hears of its end through a uv_async_t.
 *
 * The loop reads the file on a read-only connection of its own
 * (sh__logs_reader), which WAL lets it do while the thread writes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ops_int.h"
#include "stagehand/auth.h"
#define BATCH_MAX   4096 /* entries per transaction */
#define KICK_AT     2048 /* queued entries that wake the thread at once */
#define WAIT_MS     200  /* otherwise it looks every WAIT_MS */
#define UA_MAX      512  /* bytes of User-Agent kept */
#define REFERER_MAX 1024
#define MAX_CLEARS  16
/* Request entries that fit in POOL_BYTES are recycled rather than freed: the
 * thread gives them back in bulk, the loop takes them without a lock from a
 * list of its own refilled while it holds the queue's lock anyway, so a
 * request log costs no malloc and no free. At most POOL_MAX are kept. */
#define POOL_BYTES 768
#define POOL_MAX   1024

struct clear_waiter {
    void (*done)(void *arg);
    void *arg;
    uint64_t ticket;
};

struct sh_logs {
    uv_loop_t *loop;
    const struct sh_config *cfg;
    char path[4096];
    sqlite3 *wdb; /* the thread's */
    sqlite3 *rdb; /* the loop's, read-only */
    pthread_t thread;
    int thread_started;
    uv_async_t async; /* the thread finished a clear */
    int closed;

    /* under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct sh__log_entry **ring;
    unsigned cap, head, count;
    unsigned kick; /* count that wakes the thread: KICK_AT, or cap / 2 if smaller */
    int stopping;
    uint64_t clear_asked, clear_done; /* tickets */
    uint64_t dropped;
    struct sh__log_entry *pool; /* entries the thread gave back */
    unsigned npool;

    /* written by the thread, read by anyone */
    _Atomic uint64_t written, batches, pruned, write_failed, file_bytes;
    _Atomic unsigned max_days;
    _Atomic uint64_t max_size;

    /* loop only */
    struct sh__log_entry *local; /* pooled entries for the loop's next request logs */
    struct clear_waiter waiters[MAX_CLEARS];
    unsigned nwaiters;
};

/* Set on the log thread: what it logs itself is not queued for itself (a
 * full disk would otherwise feed it an error per failed batch, forever). */
static _Thread_local int on_log_thread;
/* Its last error line, so that a lasting failure logs once per 10 s. */
static _Thread_local int64_t last_error_ms;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- what the loop and the other threads push ---- */

/* Queues e (any thread; from_loop: the loop, which then also takes back
 * the pooled entries while it holds the lock). */
static void push(struct sh_logs *l, struct sh__log_entry *e, int from_loop)
{
    pthread_mutex_lock(&l->lock);
    if (from_loop && !l->local && l->pool) {
        l->local = l->pool;
        l->pool = NULL;
        l->npool = 0;
    }
    if (l->count == l->cap || l->stopping) {
        l->dropped += !l->stopping;
        pthread_mutex_unlock(&l->lock);
        if (e->pooled && from_loop) {
            e->next = l->local;
            l->local = e;
        } else {
            free(e);
        }
        return;
    }
    l->ring[(l->head + l->count) % l->cap] = e;
    l->count++;
    if (l->count == l->kick)
        pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

/* A new entry with room for `need` bytes of strings; l: the loop, whose
 * pool it comes from when it fits (NULL on other threads). Its fields are
 * all absent. */
static struct sh__log_entry *entry_take(struct sh_logs *l, size_t need)
{
    struct sh__log_entry *e;
    if (l && sizeof(*e) + need <= POOL_BYTES) {
        e = l->local;
        if (e)
            l->local = e->next;
        else
            e = sh_malloc(POOL_BYTES);
        e->pooled = 1;
    } else {
        e = sh_malloc(sizeof(*e) + need);
        e->pooled = 0;
    }
    memset(e->f, 0, sizeof(e->f));
    memset(e->n, 0, sizeof(e->n));
    return e;
}

/* Copies v[0..n) at *w as field f of e, NUL-terminated. */
static inline void put(struct sh__log_entry *e, char **w, unsigned f, const char *v, size_t n)
{
    e->f[f] = *w;
    e->n[f] = (uint32_t)n;
    memcpy(*w, v, n);
    (*w)[n] = 0;
    *w += n + 1;
}

void sh_logs_request(struct sh_logs *l, const struct sh_req *r, uint64_t exec_us)
{
    if (!atomic_load_explicit(&l->max_days, memory_order_relaxed))
        return;
    /* copies only: the url and referer are cut of their secrets, and all is
     * formatted, on the log thread */
    struct sh_str method = r->method_name.ptr ? r->method_name : (struct sh_str){"-", 1};
    struct sh_str url = r->target.ptr ? r->target : (struct sh_str){"-", 1};
    const char *peer = sh_req_peer(r);
    const char *ip = r->client_ip[0] ? r->client_ip : peer;
    size_t peer_n = strlen(peer), ip_n = ip == peer ? peer_n : strlen(ip);
    size_t rid_n = strlen(r->rid);
    struct sh_str ua = {NULL, 0}, ref = {NULL, 0};
    for (unsigned i = 0; i < r->nheaders && (!ua.ptr || !ref.ptr); i++) {
        const struct sh_header *h = &r->headers[i];
        if (h->name.len == 10 && !ua.ptr && strncasecmp(h->name.ptr, "user-agent", 10) == 0)
            ua = (struct sh_str){h->value.ptr, h->value.len < UA_MAX ? h->value.len : UA_MAX};
        else if (h->name.len == 7 && !ref.ptr && strncasecmp(h->name.ptr, "referer", 7) == 0)
            ref = (struct sh_str){h->value.ptr,
                                  h->value.len < REFERER_MAX ? h->value.len : REFERER_MAX};
    }
    const char *coll = NULL, *id = NULL;
    size_t coll_n = 0, id_n = 0;
    if (r->auth) {
        coll = r->auth->collection_name ? r->auth->collection_name : "";
        id = r->auth->record_id ? r->auth->record_id : "";
        coll_n = strlen(coll);
        id_n = strlen(id);
    }
    size_t need = method.len + url.len + peer_n + ip_n + rid_n + ua.len + ref.len + coll_n + id_n +
                  SH__LF_COUNT;
    struct sh__log_entry *e = entry_take(l, need);
    char *w = e->s;
    put(e, &w, SH__LF_METHOD, method.ptr, method.len);
    put(e, &w, SH__LF_URL, url.ptr, url.len);
    put(e, &w, SH__LF_REMOTE_IP, peer, peer_n);
    put(e, &w, SH__LF_USER_IP, ip, ip_n);
    if (ua.ptr)
        put(e, &w, SH__LF_UA, ua.ptr, ua.len);
    if (ref.ptr)
        put(e, &w, SH__LF_REFERER, ref.ptr, ref.len);
    if (coll) {
        put(e, &w, SH__LF_AUTH, coll, coll_n);
        put(e, &w, SH__LF_AUTH_ID, id, id_n);
    }
    put(e, &w, SH__LF_RID, r->rid, rid_n);
    e->ms = now_ms();
    e->request = 1;
    e->status = r->status;
    e->exec_us = exec_us;
    e->level = r->status >= 500   ? SH__LOG_LEVEL_ERROR
               : r->status >= 400 ? SH__LOG_LEVEL_WARN
                                  : SH__LOG_LEVEL_INFO;
    push(l, e, 1);
}

/* The log's sink: a warn or error line from any thread. */
static void on_log_line(enum sh_log_level lvl, const char *mod, const char *msg, size_t len,
                        void *ud)
{
    struct sh_logs *l = ud;
    if (on_log_thread || !atomic_load_explicit(&l->max_days, memory_order_relaxed))
        return;
    /* --mailer log writes reset links (credentials) as warn lines of the
     * mailer, on purpose, to stderr only: they never reach the stored logs. */
    if (lvl == SH_LOG_WARN && strcmp(mod, "mailer") == 0)
        return;
    size_t mod_n = strlen(mod);
    struct sh__log_entry *e = entry_take(NULL, mod_n + len + 2);
    char *w = e->s;
    put(e, &w, SH__LF_MOD, mod, mod_n);
    put(e, &w, SH__LF_MSG, msg, len);
    e->ms = now_ms();
    e->request = 0;
    e->status = 0;
    e->exec_us = 0;
    e->level = lvl >= SH_LOG_ERROR ? SH__LOG_LEVEL_ERROR : SH__LOG_LEVEL_WARN;
    push(l, e, 0);
}

/* ---- the thread ---- */

/* Logs what failed on auxiliary.db: on the log thread at most once per
 * 10 s, so that a lasting failure (a full disk) does not flood stderr. */
static void db_failed(const char *what)
{
    int64_t now = now_ms();
    if (!on_log_thread || now - last_error_ms >= 10000) {
        last_error_ms = now;
        sh_log_error("logs", "auxiliary.db: %s", what);
    }
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        db_failed(err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
    }
    return rc;
}

/* Rows of one INSERT: a batch is written in statements of CHUNK_ROWS[k] rows
 * (largest first), so that the statement's own cost (cursors opened and
 * closed, its halt) is paid once per 64 rows, not per row. */
static const unsigned chunk_rows[] = {64, 16, 4, 1};
#define NCHUNKS   (sizeof(chunk_rows) / sizeof(chunk_rows[0]))
#define CHUNK_MAX 64

/* What the thread keeps from batch to batch: its statements, prepared once,
 * its id generator and the buffers a chunk's strings are built in. */
struct writer {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *ins[NCHUNKS];
    struct sh__logs_ids ids;
    struct sh_buf js, msg;
    int64_t date_sec; /* the second date holds (-1: none yet) */
    char date[32];    /* its "2006-01-02 15:04:05.000Z"; entries of that second change the ms */
};

/* *st, prepared on first use (NULL after a failure, logged). */
static sqlite3_stmt *prepared(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
    if (!*st && sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
        db_failed(sqlite3_errmsg(db));
        sqlite3_finalize(*st);
        *st = NULL;
    }
    return *st;
}

/* Steps st once and resets it; 0 when it ran to its end. */
static int run(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (st && rc != SQLITE_DONE)
        db_failed(sqlite3_errmsg(db));
    if (st)
        sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The created date of an entry made at ms (>= 0): entries come in bursts
 * within one second, which then only differ in their milliseconds. */
static void created_of(struct writer *wr, int64_t ms, char out[32])
{
    if (ms < 0 || ms / 1000 != wr->date_sec) {
        sh__logs_format_date(ms, wr->date);
        wr->date_sec = ms < 0 ? -1 : ms / 1000;
    }
    memcpy(out, wr->date, 32);
    if (ms >= 0) {
        unsigned m = (unsigned)(ms % 1000);
        out[20] = (char)('0' + m / 100);
        out[21] = (char)('0' + m / 10 % 10);
        out[22] = (char)('0' + m % 10);
    }
}

/* Inserts rows[0..chunk_rows[k]) with one statement. */
static int insert_chunk(struct writer *wr, unsigned k, struct sh__log_entry **rows)
{
    unsigned n = chunk_rows[k];
    if (!wr->ins[k]) {
        /* OR FAIL, not the default ABORT: an ABORT of a statement of many
         * rows must undo the rows it made, so SQLite keeps a statement
         * journal for it, a temporary file that took twice the bytes of
         * the WAL in writes; a failure rolls the whole batch back anyway */
        struct sh_buf sql;
        sh_buf_init(&sql);
        sh_buf_appends(&sql, "INSERT OR FAIL INTO _logs(id, level, message, data, created) VALUES");
        for (unsigned i = 0; i < n; i++)
            sh_buf_appends(&sql, i ? ",(?,?,?,?,?)" : "(?,?,?,?,?)");
        sh_buf_append(&sql, "", 1);
        prepared(wr->db, &wr->ins[k], sql.data);
        sh_buf_deinit(&sql);
        if (!wr->ins[k])
            return -1;
    }
    sqlite3_stmt *st = wr->ins[k];
    char ids[CHUNK_MAX][16], created[CHUNK_MAX][32];
    size_t js_at[CHUNK_MAX + 1], msg_at[CHUNK_MAX + 1];
    wr->js.len = 0;
    wr->msg.len = 0;
    for (unsigned i = 0; i < n; i++) {
        sh__logs_id_new(&wr->ids, rows[i]->ms, ids[i]);
        created_of(wr, rows[i]->ms, created[i]);
        js_at[i] = wr->js.len;
        msg_at[i] = wr->msg.len;
        sh__logs_entry_json(rows[i], &wr->js, &wr->msg);
    }
    js_at[n] = wr->js.len;
    msg_at[n] = wr->msg.len;
    /* bound only now: the buffers may have moved while they grew */
    for (unsigned i = 0; i < n; i++) {
        int p = (int)i * 5;
        sqlite3_bind_text(st, p + 1, ids[i], 15, SQLITE_STATIC);
        sqlite3_bind_int(st, p + 2, rows[i]->level);
        sqlite3_bind_text(st, p + 3, wr->msg.data + msg_at[i], (int)(msg_at[i + 1] - msg_at[i] - 1),
                          SQLITE_STATIC);
        sqlite3_bind_text(st, p + 4, wr->js.data + js_at[i], (int)(js_at[i + 1] - js_at[i] - 1),
                          SQLITE_STATIC);
        sqlite3_bind_text(st, p + 5, created[i], 24, SQLITE_STATIC);
    }
    return run(wr->db, st);
}

/* Writes batch[0..n) in one transaction; on failure none of it. */
static void write_batch(struct sh_logs *l, struct writer *wr, struct sh__log_entry **batch,
                        unsigned n)
{
    if (run(wr->db, prepared(wr->db, &wr->begin, "BEGIN IMMEDIATE")) != 0)
        goto fail;
    for (unsigned i = 0, k = 0; i < n; i += chunk_rows[k]) {
        while (n - i < chunk_rows[k])
            k++;
        if (insert_chunk(wr, k, batch + i) != 0)
            goto rollback;
    }
    if (run(wr->db, prepared(wr->db, &wr->commit, "COMMIT")) != 0)
        goto rollback;
    atomic_fetch_add(&l->written, n);
    atomic_fetch_add(&l->batches, 1);
    return;
rollback:
    if (!sqlite3_get_autocommit(wr->db))
        exec_sql(wr->db, "ROLLBACK");
fail:
    atomic_fetch_add(&l->write_failed, n);
}

/* Deletes by `where` (oldest first, in pieces) and counts what went. */
static int64_t delete_chunk(struct sh_logs *l, const char *sql, const char *arg, int64_t limit)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->wdb, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int i = 1;
    if (arg)
        sqlite3_bind_text(st, i++, arg, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, i, limit);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    int64_t n = sqlite3_changes64(l->wdb);
    atomic_fetch_add(&l->pruned, (uint64_t)n);
    return n;
}

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void prune(struct sh_logs *l)
{
    unsigned days = atomic_load(&l->max_days);
    uint64_t max_size = atomic_load(&l->max_size);
    if (days) {
        char cutoff[32];
        sh__logs_format_date(now_ms() - (int64_t)days * 86400000, cutoff);
        while (delete_chunk(l,
                            "DELETE FROM _logs WHERE rowid IN (SELECT rowid FROM _logs WHERE "
                            "created < ? ORDER BY created LIMIT ?)",
                            cutoff, 5000) == 5000)
            ;
    }
    for (int round = 0; max_size && round < 64; round++) {
        int64_t live = (pragma_int(l->wdb, "PRAGMA page_count") -
                        pragma_int(l->wdb, "PRAGMA freelist_count")) *
                       pragma_int(l->wdb, "PRAGMA page_size");
        if (live <= (int64_t)max_size)
            break;
        int64_t rows = pragma_int(l->wdb, "SELECT count(*) FROM _logs");
        if (rows == 0)
            break;
        int64_t cut = rows / 10 > 100 ? rows / 10 : 100;
        if (delete_chunk(l,
                         "DELETE FROM _logs WHERE rowid IN (SELECT rowid FROM _logs ORDER BY "
                         "created LIMIT ?)",
                         NULL, cut) <= 0)
            break;
    }
    exec_sql(l->wdb, "PRAGMA incremental_vacuum");
    exec_sql(l->wdb, "PRAGMA wal_checkpoint(TRUNCATE)");
}

static void *thread_main(void *arg)
{
    struct sh_logs *l = arg;
    (void)pthread_setname_np(pthread_self(), "sh-logs");
    on_log_thread = 1;
    struct sh__log_entry **batch = sh_malloc(BATCH_MAX * sizeof(*batch));
    struct writer wr = {.db = l->wdb, .date_sec = -1};
    randombytes_buf(&wr.ids.s, sizeof(wr.ids.s));
    sh_buf_init(&wr.js);
    sh_buf_init(&wr.msg);
    int64_t next_prune = now_ms() + 1000;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        if (l->count < l->kick && !l->stopping && l->clear_asked == l->clear_done) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += WAIT_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&l->cond, &l->lock, &ts);
        }
        unsigned n = 0;
        while (l->count && n < BATCH_MAX) {
            batch[n++] = l->ring[l->head];
            l->head = (l->head + 1) % l->cap;
            l->count--;
        }
        uint64_t clear = l->clear_asked;
        int clearing = clear != l->clear_done;
        int stop = l->stopping && !l->count;
        pthread_mutex_unlock(&l->lock);

        if (n)
            write_batch(l, &wr, batch, n);
        struct sh__log_entry *back = NULL;
        unsigned nback = 0;
        for (unsigned i = 0; i < n; i++) {
            if (batch[i]->pooled && nback < POOL_MAX) {
                batch[i]->next = back;
                back = batch[i];
                nback++;
            } else {
                free(batch[i]);
            }
        }
        if (clearing) {
            exec_sql(l->wdb, "DELETE FROM _logs");
            exec_sql(l->wdb, "PRAGMA incremental_vacuum");
        }
        if (now_ms() >= next_prune && !stop) {
            prune(l);
            next_prune = now_ms() + (int64_t)l->cfg->logs_prune_interval;
        }
        pthread_mutex_lock(&l->lock);
        while (back) { /* back to the pool, up to POOL_MAX */
            struct sh__log_entry *e = back;
            back = e->next;
            if (l->npool < POOL_MAX) {
                e->next = l->pool;
                l->pool = e;
                l->npool++;
            } else {
                free(e);
            }
        }
        if (clearing) {
            l->clear_done = clear;
            uv_async_send(&l->async); /* under the lock: close joins us first */
        }
        if (stop)
            break;
    }
    pthread_mutex_unlock(&l->lock);
    sqlite3_finalize(wr.begin);
    sqlite3_finalize(wr.commit);
    for (unsigned k = 0; k < NCHUNKS; k++)
        sqlite3_finalize(wr.ins[k]);
    sh_buf_deinit(&wr.js);
    sh_buf_deinit(&wr.msg);
    free(batch);
    return NULL;
}

/* ---- the loop side ---- */

static void on_async(uv_async_t *a)
{
    struct sh_logs *l = a->data;
    pthread_mutex_lock(&l->lock);
    uint64_t done = l->clear_done;
    pthread_mutex_unlock(&l->lock);
    unsigned k = 0;
    for (unsigned i = 0; i < l->nwaiters; i++) {
        struct clear_waiter w = l->waiters[i];
        if (w.ticket <= done)
            w.done(w.arg);
        else
            l->waiters[k++] = w;
    }
    l->nwaiters = k;
}

int sh__logs_clear(struct sh_logs *l, void (*done)(void *arg), void *arg)
{
    if (l->nwaiters == MAX_CLEARS)
        return SH_EBUSY;
    pthread_mutex_lock(&l->lock);
    uint64_t ticket = ++l->clear_asked;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
    l->waiters[l->nwaiters++] = (struct clear_waiter){done, arg, ticket};
    return 0;
}

void sh_logs_set_retention(struct sh_logs *l, unsigned max_days, uint64_t max_size)
{
    atomic_store(&l->max_days, max_days);
    atomic_store(&l->max_size, max_size);
}

void sh__logs_stats(struct sh_logs *l, struct sh__logs_stats *out)
{
    pthread_mutex_lock(&l->lock);
    out->dropped = l->dropped;
    out->queued = l->count;
    pthread_mutex_unlock(&l->lock);
    out->written = atomic_load(&l->written);
    out->batches = atomic_load(&l->batches);
    out->pruned = atomic_load(&l->pruned);
    out->write_failed = atomic_load(&l->write_failed);
    out->file_bytes = atomic_load(&l->file_bytes);
}

sqlite3 *sh__logs_reader(struct sh_logs *l)
{
    return l->rdb;
}

unsigned sh__logs_budget_ms(const struct sh_logs *l)
{
    return l->cfg->query_budget_ms;
}

static const char schema_sql[] = "PRAGMA auto_vacuum=INCREMENTAL;"
                                 "PRAGMA journal_mode=WAL;"
                                 "PRAGMA synchronous=NORMAL;"
                                 "PRAGMA journal_size_limit=67108864;"
                                 "CREATE TABLE IF NOT EXISTS _logs ("
                                 " id TEXT PRIMARY KEY NOT NULL,"
                                 " level INTEGER NOT NULL DEFAULT 0,"
                                 " message TEXT NOT NULL DEFAULT '',"
                                 " data TEXT NOT NULL DEFAULT '{}',"
                                 " created TEXT NOT NULL);"
                                 "CREATE INDEX IF NOT EXISTS idx_logs_created ON _logs (created);"
                                 "CREATE INDEX IF NOT EXISTS idx_logs_level ON _logs (level);";

struct sh_logs *sh_logs_open(uv_loop_t *loop, const struct sh_config *cfg, char *err, size_t errlen)
{
    struct sh_logs *l = sh_calloc(1, sizeof(*l));
    l->loop = loop;
    l->cfg = cfg;
    l->cap = cfg->logs_queue ? cfg->logs_queue : 1;
    l->ring = sh_calloc(l->cap, sizeof(*l->ring));
    l->kick = l->cap / 2 < KICK_AT ? (l->cap / 2 ? l->cap / 2 : 1) : KICK_AT;
    atomic_store(&l->max_days, cfg->logs_max_days);
    atomic_store(&l->max_size, cfg->logs_max_size);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    if ((size_t)snprintf(l->path, sizeof(l->path), "%s/auxiliary.db", cfg->dir) >=
        sizeof(l->path)) {
        snprintf(err, errlen, "the data directory's path is too long for auxiliary.db");
        goto fail;
    }
    if (sqlite3_open_v2(l->path, &l->wdb,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", l->path, sqlite3_errmsg(l->wdb));
        goto fail;
    }
    sqlite3_busy_timeout(l->wdb, 5000);
    if (exec_sql(l->wdb, schema_sql) != SQLITE_OK) {
        snprintf(err, errlen, "cannot initialise %s (see the log)", l->path);
        goto fail;
    }
    if (sqlite3_open_v2(l->path, &l->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", l->path, sqlite3_errmsg(l->rdb));
        goto fail;
    }
    sqlite3_busy_timeout(l->rdb, 10); /* the loop: at most 10 ms */
    uv_async_init(loop, &l->async, on_async);
    l->async.data = l;
    uv_unref((uv_handle_t *)&l->async);
    if (pthread_create(&l->thread, NULL, thread_main, l) != 0) {
        snprintf(err, errlen, "cannot start the log thread");
        uv_close((uv_handle_t *)&l->async, NULL);
        l->closed = 1;
        goto fail_handles;
    }
    l->thread_started = 1;
    sh_log_set_sink(on_log_line, l);
    return l;
fail:
    l->closed = 1;
fail_handles:
    sqlite3_close(l->rdb);
    sqlite3_close(l->wdb);
    l->rdb = l->wdb = NULL;
    if (!uv_is_closing((uv_handle_t *)&l->async))
        sh_logs_free(l);
    return NULL;
}

void sh_logs_close(struct sh_logs *l)
{
    if (!l || l->closed)
        return;
    l->closed = 1;
    sh_log_set_sink(NULL, NULL);
    pthread_mutex_lock(&l->lock);
    l->stopping = 1;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
    if (l->thread_started)
        pthread_join(l->thread, NULL);
    l->thread_started = 0;
    sqlite3_close(l->rdb);
    sqlite3_close(l->wdb);
    l->rdb = l->wdb = NULL;
    uv_close((uv_handle_t *)&l->async, NULL);
}

void sh_logs_free(struct sh_logs *l)
{
    if (!l)
        return;
    for (unsigned i = 0; i < l->count; i++)
        free(l->ring[(l->head + i) % l->cap]);
    for (struct sh__log_entry *lists[2] = {l->pool, l->local}, **p = lists; p < lists + 2; p++) {
        while (*p) {
            struct sh__log_entry *e = *p;
            *p = e->next;
            free(e);
        }
    }
    free(l->ring);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    free(l);
}
