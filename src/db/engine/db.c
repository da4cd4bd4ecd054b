/*
 * The db handle and the loop thread's side of it: opening (write connection
 * and migrations, then the read-only connection, then the writer thread),
 * reads with cached statements under a cost budget, the read transaction
 * shared by one loop turn, the schema version poll, and the close sequence.
 *
 * Budget: a progress handler runs every `budget_check_steps` VM steps of the
 * read connection and aborts the statement (SQLITE_INTERRUPT, reported as
 * SH_EBUDGET and logged once) when the query's own cost, the CPU time the
 * loop thread spent since its first step (CLOCK_THREAD_CPUTIME_ID), passes
 * `read_budget_ms`, or when the elapsed time passes `read_wall_ms`, a much
 * larger safety limit for what CPU time does not see (waits for the disk).
 * Elapsed time alone was wrong on a loaded machine: a query of well under
 * 1 ms of work, preempted by other processes, was aborted at "200 ms" and a
 * correct request got a 400. The CPU clock is a system call, so it is read
 * at a query's first check (a query of fewer than budget_check_steps steps
 * never pays it) and then only once the elapsed time has passed the budget
 * (CPU time never exceeds elapsed time on one thread). sh_db_step starts the
 * clock at a statement's first step; for statements stepped by hand the
 * clock starts at the first check after a prepare, a read_begin or the start
 * of a loop turn.
 *
 * Shared read transaction: BEGIN is deferred, so the snapshot is taken by the
 * first read after sh_db_read_begin. A uv_check handle ends it after each loop
 * turn's I/O (so it never outlives a turn nor holds back checkpoints), and the
 * write completion path ends it before acknowledging writes.
 *
 * Close: the loop asks the writer to stop; the writer drains and reports;
 * the loop then closes the read connection and tells the writer, which closes
 * the write connection last (so that it checkpoints and removes the WAL) and
 * exits; the loop joins it and closes its handles. No step waits on disk on
 * the loop thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 1; /* never: Linux has had the clock since 2.6.12 */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 1; /* never 0 */
}

static void log_budget(struct sh_db *db, uint64_t cpu_ns, uint64_t elapsed_ns, const char *limit)
{
    struct sh_buf kv;
    sh_buf_init(&kv);
    sh_buf_appendf(&kv, " limit=%s budget_ms=%u cpu_ms=%llu elapsed_ms=%llu elapsed_limit_ms=%u",
                   limit, db->opt.read_budget_ms, (unsigned long long)(cpu_ns / 1000000),
                   (unsigned long long)(elapsed_ns / 1000000), db->opt.read_wall_ms);
    for (sqlite3_stmt *st = sqlite3_next_stmt(db->rdb, NULL); st;
         st = sqlite3_next_stmt(db->rdb, st)) {
        if (sqlite3_stmt_busy(st) && sqlite3_stmt_readonly(st) && sqlite3_sql(st)) {
            const char *sql = sqlite3_sql(st);
            size_t n = strlen(sql);
            sh_log_kv(&kv, "sql", sql, n > 300 ? 300 : n);
            break;
        }
    }
    sh_buf_append(&kv, "", 1);
    if (SH_LOG_WARN >= sh_log_min_level)
        sh_log_write(SH_LOG_WARN, SH_DB_MOD, kv.data, "read query aborted: time budget exceeded");
    sh_buf_deinit(&kv);
}

static int budget_cb(void *arg)
{
    struct sh_db *db = arg;
    if (db->budget_tripped)
        return 1;
    uint64_t now = uv_hrtime();
    if (!db->budget_start)
        db->budget_start = now;
    if (!db->budget_cpu0) {
        db->budget_cpu0 = thread_cpu_ns();
        return 0;
    }
    uint64_t elapsed = now - db->budget_start;
    int over_wall = db->wall_ns && elapsed >= db->wall_ns;
    if (!over_wall && (!db->budget_ns || elapsed < db->budget_ns))
        return 0; /* CPU time <= elapsed time < the budget */
    uint64_t cpu = thread_cpu_ns() - db->budget_cpu0;
    int over_cpu = db->budget_ns && cpu >= db->budget_ns;
    if (!over_cpu && !over_wall)
        return 0;
    db->budget_tripped = 1;
    log_budget(db, cpu, elapsed, over_cpu ? "cpu" : "elapsed");
    return 1;
}

static void budget_rearm(struct sh_db *db)
{
    db->budget_start = 0;
    db->budget_cpu0 = 0;
    db->budget_tripped = 0;
}

static void on_check(uv_check_t *h)
{
    struct sh_db *db = h->data;
    sh_db_read_end(db);
    budget_rearm(db);
}

static void fill_defaults(struct sh_db_options *o)
{
    struct sh_db_options d;
    sh_db_options_init(&d);
    if (!o->budget_check_steps)
        o->budget_check_steps = d.budget_check_steps;
    if (!o->stmt_cache_size)
        o->stmt_cache_size = d.stmt_cache_size;
    if (!o->max_batch)
        o->max_batch = d.max_batch;
    if (!o->max_queue)
        o->max_queue = d.max_queue;
}

static int prepare_own(sqlite3 *conn, const char *sql, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v3(conn, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return rc == SQLITE_OK ? 0 : sh__db_fail(conn, rc, sql);
}

static void free_reader(struct sh_db *db)
{
    sh__stmt_cache_deinit(&db->rcache);
    sqlite3_finalize(db->begin_stmt);
    sqlite3_finalize(db->commit_stmt);
    sqlite3_finalize(db->dv_stmt);
    db->begin_stmt = db->commit_stmt = db->dv_stmt = NULL;
    if (db->rdb && sqlite3_close(db->rdb) != SQLITE_OK) {
        sh_log_error(SH_DB_MOD, "read connection did not close cleanly");
        db->close_rc = SH_EINTERNAL;
    }
    db->rdb = NULL;
}

static void on_handle_closed(uv_handle_t *h);

int sh_db_open(struct sh_db **out, uv_loop_t *loop, const char *dir,
               const struct sh_db_options *opt)
{
    struct sh_db *db = sh_calloc(1, sizeof(*db));
    db->loop = loop;
    if (opt)
        db->opt = *opt;
    else
        sh_db_options_init(&db->opt);
    fill_defaults(&db->opt);
    db->budget_ns = (uint64_t)db->opt.read_budget_ms * 1000000u;
    db->wall_ns = (uint64_t)db->opt.read_wall_ms * 1000000u;

    int rc = sh__db_path(dir, &db->path);
    if (rc == 0)
        rc = sh__db_open_writer(db->path, &db->opt, &db->w.wdb);
    if (rc == 0)
        rc = sh__db_open_reader(db->path, &db->opt, &db->rdb);
    if (rc)
        goto fail;
    sh__stmt_cache_init(&db->rcache, db->rdb, db->opt.stmt_cache_size);
    if ((rc = prepare_own(db->rdb, "BEGIN", &db->begin_stmt)) != 0 ||
        (rc = prepare_own(db->rdb, "COMMIT", &db->commit_stmt)) != 0 ||
        (rc = prepare_own(db->rdb, "PRAGMA data_version", &db->dv_stmt)) != 0)
        goto fail;
    if (db->budget_ns || db->wall_ns)
        sqlite3_progress_handler(db->rdb, (int)db->opt.budget_check_steps, budget_cb, db);

    rc = sh__writer_start(db);
    if (rc)
        goto fail;
    uv_check_init(loop, &db->check);
    db->check.data = db;
    uv_check_start(&db->check, on_check);
    uv_unref((uv_handle_t *)&db->check);
    db->handles_open = 2;
    *out = db;
    return 0;
fail:
    sh_log_error(SH_DB_MOD, "cannot open the database in %s", dir);
    free_reader(db);
    sh__writer_free_stmts(&db->w);
    sqlite3_close(db->w.wdb);
    *out = NULL;
    if (db->handles_open) { /* the async handle: db is freed once it is closed */
        uv_close((uv_handle_t *)&db->async, on_handle_closed);
        return rc;
    }
    free(db->path);
    free(db);
    return rc;
}

/* ---- close ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct sh_db *db = h->data;
    if (--db->handles_open > 0)
        return;
    sh_db_close_cb cb = db->close_cb;
    void *arg = db->close_arg;
    int rc = db->close_rc;
    free(db->path);
    free(db);
    if (cb)
        cb(arg, rc);
}

void sh_db_close(struct sh_db *db, sh_db_close_cb cb, void *arg)
{
    SH_ASSERT(!db->closing);
    db->closing = 1;
    db->close_cb = cb;
    db->close_arg = arg;
    sh_db_read_end(db);
    uv_ref((uv_handle_t *)&db->async); /* the loop stays alive until closed */
    sh__writer_stop(db);
}

void sh__db_reader_close(struct sh_db *db)
{
    free_reader(db);
}

void sh__db_finish_close(struct sh_db *db)
{
    uv_thread_join(&db->w.thread);
    if (db->w.close_rc != SQLITE_OK) {
        sh_log_error(SH_DB_MOD, "write connection did not close cleanly (sqlite %d)",
                     db->w.close_rc);
        db->close_rc = SH_EINTERNAL;
    }
    uv_mutex_destroy(&db->w.lock);
    uv_cond_destroy(&db->w.cond);
    uv_close((uv_handle_t *)&db->async, on_handle_closed);
    uv_close((uv_handle_t *)&db->check, on_handle_closed);
}

/* ---- reads ---- */

sqlite3 *sh_db_reader(struct sh_db *db)
{
    return db->rdb;
}

int sh_db_prepare(struct sh_db *db, const char *sql, sqlite3_stmt **out)
{
    *out = NULL;
    if (!db->rdb)
        return -ECANCELED;
    budget_rearm(db);
    return sh__stmt_cache_get(&db->rcache, sql, out);
}

void sh_db_release(struct sh_db *db, sqlite3_stmt *stmt)
{
    if (db->rdb)
        sh__stmt_cache_put(&db->rcache, stmt);
}

struct deferred_stmt {
    struct sh_db *db;
    sqlite3_stmt *stmt;
};

static void release_deferred(void *arg)
{
    struct deferred_stmt *d = arg;
    sh_db_release(d->db, d->stmt);
}

int sh_db_prepare_arena(struct sh_db *db, struct sh_arena *a, const char *sql, sqlite3_stmt **out)
{
    *out = NULL;
    struct deferred_stmt *d = sh_arena_alloc(a, sizeof(*d));
    if (!d)
        return -ENOMEM;
    int rc = sh_db_prepare(db, sql, &d->stmt);
    if (rc)
        return rc;
    d->db = db;
    if (sh_arena_defer(a, release_deferred, d) != 0) {
        sh_db_release(db, d->stmt);
        return -ENOMEM;
    }
    *out = d->stmt;
    return 0;
}

int sh_db_step(struct sh_db *db, sqlite3_stmt *stmt)
{
    if (!sqlite3_stmt_busy(stmt)) {
        budget_rearm(db);
        if (db->budget_ns || db->wall_ns)
            db->budget_start = uv_hrtime();
    }
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    if ((rc & 0xff) == SQLITE_INTERRUPT && db->budget_tripped)
        return SH_EBUDGET;
    return sh__db_fail(db->rdb, rc, "read");
}

int sh_db_read_begin(struct sh_db *db)
{
    if (!db->rdb)
        return -ECANCELED;
    if (!sqlite3_get_autocommit(db->rdb))
        return 0;
    budget_rearm(db);
    int rc = sqlite3_step(db->begin_stmt);
    sqlite3_reset(db->begin_stmt);
    return rc == SQLITE_DONE ? 0 : sh__db_fail(db->rdb, rc, "read begin");
}

void sh_db_read_end(struct sh_db *db)
{
    db->version_fresh = 0; /* the next turn, or a write acknowledged now, looks again */
    if (!db->rdb || sqlite3_get_autocommit(db->rdb))
        return;
    int rc = sqlite3_step(db->commit_stmt);
    sqlite3_reset(db->commit_stmt);
    if (rc != SQLITE_DONE)
        sh__db_fail(db->rdb, rc, "read end");
}

int sh__db_data_version(struct sh_db *db, int64_t *out)
{
    int rc = sqlite3_step(db->dv_stmt);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(db->dv_stmt, 0) : 0;
    sqlite3_reset(db->dv_stmt);
    return rc == SQLITE_ROW ? 0 : sh__db_fail(db->rdb, rc, "PRAGMA data_version");
}

bool sh_db_read_active(const struct sh_db *db)
{
    return db->rdb && !sqlite3_get_autocommit(db->rdb);
}

static int read_int64(struct sh_db *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sh_db_prepare(db, sql, &st);
    if (rc)
        return rc;
    rc = sh_db_step(db, st);
    if (rc == 1) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (rc == 0) {
        rc = SH_ENOTFOUND;
    }
    sh_db_release(db, st);
    return rc;
}

int sh_db_schema_version(struct sh_db *db, int64_t *out)
{
    int64_t dv = 0, v = 0;
    /* Once per loop turn: the check handle and every write completion end
     * the turn's read transaction (sh_db_read_end), which makes the next
     * call look again; within a turn the answer stands, so the requests of
     * one turn pay one PRAGMA between them. */
    if (db->version_fresh && db->have_schema_version) {
        *out = db->schema_version;
        return 0;
    }
    /* Both reads see the same snapshot: data_version is the connection's view
     * as of its current read transaction. */
    int rc = sh__db_data_version(db, &dv);
    if (rc)
        return rc;
    if (db->have_schema_version && dv == db->data_version) {
        db->version_fresh = 1;
        *out = db->schema_version;
        return 0;
    }
    rc = read_int64(db, "SELECT value FROM _meta WHERE key = 'schema_version'", &v);
    if (rc)
        return rc;
    db->data_version = dv;
    db->schema_version = v;
    db->have_schema_version = 1;
    db->version_fresh = 1;
    *out = v;
    return 0;
}

void sh_db_stmt_stats(struct sh_db *db, struct sh_db_stmt_stats *out)
{
    *out = db->rcache.stats;
}

void sh_db_long_read_begin(struct sh_db *db)
{
    atomic_fetch_add(&db->long_reads, 1);
}

void sh_db_long_read_end(struct sh_db *db)
{
    atomic_fetch_sub(&db->long_reads, 1);
}
