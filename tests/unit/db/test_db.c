/*
 * Tests of the db handle and the read side, on real files in a temporary
 * directory: migrations (idempotent, all-or-nothing, refusing a newer
 * database), the pragmas actually in effect on both write paths and the
 * read connection's cache, the
 * statement cache, the read budget aborting a runaway query with SH_EBUDGET
 * and a log line, the loop running on while the writer is busy, the CLI's
 * exclusive path and the schema version a running server polls.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db_tmp.h"
#include "engine_int.h"

static int setup(void **state)
{
    *state = tmp_env_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    return tmp_env_free(*state) == 0 ? 0 : -1;
}

/* Runs `sql` (one integer result) on the loop's read connection. */
static int64_t read_int(struct sh_db *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sh_db_prepare(db, sql, &st), 0);
    assert_int_equal(sh_db_step(db, st), 1);
    int64_t v = sqlite3_column_int64(st, 0);
    sh_db_release(db, st);
    return v;
}

static void test_db_open_migrates_idempotently(void **state)
{
    struct tmp_env *e = *state;
    for (int round = 0; round < 2; round++) {
        struct sh_db *db;
        assert_int_equal(sh_db_open(&db, &e->loop, e->dir, NULL), 0);
        assert_true(sh__db_migrations_last() >= 3);
        assert_int_equal(read_int(db, "SELECT count(*) FROM _migrations"),
                         sh__db_migrations_last());
        assert_int_equal(read_int(db, "SELECT max(version) FROM _migrations"),
                         sh__db_migrations_last());
        assert_int_equal(read_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                      "AND name IN ('_collections', '_meta', '_migrations', "
                                      "'_sessions', '_superusers')"),
                         5);
        int64_t v = -1;
        assert_int_equal(sh_db_schema_version(db, &v), 0);
        assert_int_equal(v, 1); /* migration 2 stored _superusers */
        assert_int_equal(tmp_close_db(e, db), 0);
        /* The writer closed last: the WAL was checkpointed and removed. */
        assert_false(tmp_file_exists(e, "-wal"));
        assert_true(tmp_file_exists(e, ""));
    }
}

static int count_tables(sqlite3 *c, const char *name)
{
    sqlite3_stmt *st;
    sqlite3_prepare_v2(c, "SELECT count(*) FROM sqlite_master WHERE name = ?", -1, &st, NULL);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_step(st);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_db_migration_failure_applies_nothing(void **state)
{
    struct tmp_env *e = *state;
    sqlite3 *c;
    assert_int_equal(sqlite3_open(e->path, &c), SQLITE_OK);
    const struct sh__migration bad[] = {{1, "CREATE TABLE t1 (x)"}, {2, "CREATE TABLE oops ("}};
    assert_int_not_equal(sh__db_migrate(c, bad, 2), 0);
    assert_int_equal(count_tables(c, "t1"), 0);
    assert_int_equal(count_tables(c, "_migrations"), 0);

    const struct sh__migration good[] = {{1, "CREATE TABLE t1 (x)"}, {2, "CREATE TABLE t2 (x)"}};
    assert_int_equal(sh__db_migrate(c, good, 1), 0);
    assert_int_equal(sh__db_migrate(c, good, 1), 0); /* nothing left to do */
    assert_int_equal(sh__db_migrate(c, good, 2), 0); /* only version 2 runs */
    assert_int_equal(count_tables(c, "t2"), 1);
    /* A database migrated further than this binary knows is refused. */
    assert_int_equal(sh__db_migrate(c, good, 1), SH_EINVAL);
    assert_int_equal(sqlite3_close(c), SQLITE_OK);
}

static void test_db_not_a_database_is_refused(void **state)
{
    struct tmp_env *e = *state;
    FILE *f = fopen(e->path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database\n", f);
    fclose(f);
    struct sh_db *db = (struct sh_db *)&db;
    sh_log_min_level = SH_LOG_OFF;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, NULL), SH_EINVAL);
    sh_log_min_level = SH_LOG_INFO;
    assert_null(db);
}

/* ---- pragmas, seen from a write job and from the CLI path ---- */

struct pragmas {
    int synchronous, foreign_keys, done, rc;
    int64_t cache_size; /* of the write connection */
    pthread_t thread;
};

static int read_pragmas(sqlite3 *wdb, void *arg)
{
    struct pragmas *p = arg;
    sqlite3_stmt *st;
    if (sh_db_writer_prepare(wdb, "PRAGMA synchronous", &st) || sqlite3_step(st) != SQLITE_ROW)
        return SH_EINTERNAL;
    p->synchronous = sqlite3_column_int(st, 0);
    sh_db_writer_release(wdb, st);
    if (sh_db_writer_prepare(wdb, "PRAGMA foreign_keys", &st) || sqlite3_step(st) != SQLITE_ROW)
        return SH_EINTERNAL;
    p->foreign_keys = sqlite3_column_int(st, 0);
    sh_db_writer_release(wdb, st);
    if (sh_db_writer_prepare(wdb, "PRAGMA cache_size", &st) || sqlite3_step(st) != SQLITE_ROW)
        return SH_EINTERNAL;
    p->cache_size = sqlite3_column_int64(st, 0);
    sh_db_writer_release(wdb, st);
    p->thread = pthread_self();
    return 0;
}

static void pragmas_done(struct sh_db_job *job, int rc)
{
    struct pragmas *p = job->arg;
    p->done++;
    p->rc = rc;
}

static void check_pragmas(struct tmp_env *e, int sync_normal)
{
    struct sh_db_options o;
    sh_db_options_init(&o);
    o.sync_normal = sync_normal;
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, &o), 0);
    sqlite3_stmt *st;
    assert_int_equal(sh_db_prepare(db, "PRAGMA journal_mode", &st), 0);
    assert_int_equal(sh_db_step(db, st), 1);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sh_db_release(db, st);

    struct pragmas p = {0};
    struct sh_db_job job = {.run = read_pragmas, .done = pragmas_done, .arg = &p};
    assert_int_equal(sh_db_submit(db, &job), 0);
    uv_run(&e->loop, UV_RUN_DEFAULT); /* returns once no job is in flight */
    assert_int_equal(p.done, 1);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.synchronous, sync_normal ? 1 : 2); /* NORMAL = 1, FULL = 2 */
    assert_int_equal(p.foreign_keys, 1);
    assert_false(pthread_equal(p.thread, pthread_self())); /* ran on the writer thread */
    assert_int_equal(tmp_close_db(e, db), 0);

    /* The CLI's path applies the same settings. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(sh_db_run_exclusive(e->dir, &o, read_pragmas, &p), 0);
    assert_int_equal(p.synchronous, sync_normal ? 1 : 2);
    assert_int_equal(p.foreign_keys, 1);
}

static void test_db_pragmas_in_effect(void **state)
{
    check_pragmas(*state, 0);
    check_pragmas(*state, 1);
}

/* The read connection's page cache is --read-cache (in KiB, SQLite's
 * negative cache_size): a list that reads more pages than SQLite's 2 MiB
 * default must not re-read them from the OS on every request. */
static void test_db_read_cache_size(void **state)
{
    struct tmp_env *e = *state;
    static const struct {
        uint64_t bytes;
        int64_t want;
    } cases[] = {{8u << 20, -8192}, {64u << 20, -65536}, {100, -1}, {0, -2000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sh_db_options o;
        sh_db_options_init(&o);
        if (i == 0)
            assert_int_equal(o.read_cache, 8u << 20); /* the default */
        o.read_cache = cases[i].bytes;
        struct sh_db *db;
        assert_int_equal(sh_db_open(&db, &e->loop, e->dir, &o), 0);
        assert_int_equal(read_int(db, "PRAGMA cache_size"), cases[i].want);
        assert_int_equal(tmp_close_db(e, db), 0);
    }
}

/* The writer connection's page cache is --write-cache, seen from a write
 * job: inserts at random ids dirty index pages all over the file, which
 * SQLite's 2 MiB default read back from the OS on nearly every create. */
static void test_db_write_cache_size(void **state)
{
    struct tmp_env *e = *state;
    static const struct {
        uint64_t bytes;
        int64_t want;
    } cases[] = {{32u << 20, -32768}, {64u << 20, -65536}, {100, -1}, {0, -2000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sh_db_options o;
        sh_db_options_init(&o);
        if (i == 0)
            assert_int_equal(o.write_cache, 32u << 20); /* the default */
        o.write_cache = cases[i].bytes;
        struct sh_db *db;
        assert_int_equal(sh_db_open(&db, &e->loop, e->dir, &o), 0);
        struct pragmas p = {0};
        struct sh_db_job job = {.run = read_pragmas, .done = pragmas_done, .arg = &p};
        assert_int_equal(sh_db_submit(db, &job), 0);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        assert_int_equal(p.rc, 0);
        assert_int_equal(p.cache_size, cases[i].want);
        assert_int_equal(read_int(db, "PRAGMA cache_size"), -8192); /* the reader's own */
        assert_int_equal(tmp_close_db(e, db), 0);
    }
}

/* ---- statement cache ---- */

static void test_db_stmt_cache_hits(void **state)
{
    struct tmp_env *e = *state;
    struct sh_db_options o;
    sh_db_options_init(&o);
    o.stmt_cache_size = 2;
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, &o), 0);
    struct sh_db_stmt_stats s0, s;
    sh_db_stmt_stats(db, &s0);

    sqlite3_stmt *a, *b, *nested;
    assert_int_equal(sh_db_prepare(db, "SELECT 1", &a), 0);
    assert_int_equal(sqlite3_bind_int(a, 1, 5), SQLITE_RANGE); /* no parameters */
    sh_db_release(db, a);
    assert_int_equal(sh_db_prepare(db, "SELECT 1", &b), 0);
    assert_ptr_equal(a, b); /* served from the cache */
    /* The same SQL again while b is checked out: a private statement. */
    assert_int_equal(sh_db_prepare(db, "SELECT 1", &nested), 0);
    assert_ptr_not_equal(nested, b);
    assert_int_equal(sh_db_step(db, b), 1);
    assert_int_equal(sh_db_step(db, nested), 1);
    sh_db_release(db, nested);
    sh_db_release(db, b);
    sh_db_stmt_stats(db, &s);
    assert_int_equal(s.hits - s0.hits, 1);
    assert_int_equal(s.misses - s0.misses, 1);
    assert_int_equal(s.uncached - s0.uncached, 1);

    /* Bindings are cleared on release. */
    assert_int_equal(sh_db_prepare(db, "SELECT ?", &a), 0);
    sqlite3_bind_int(a, 1, 42);
    sh_db_release(db, a);
    assert_int_equal(sh_db_prepare(db, "SELECT ?", &a), 0);
    assert_int_equal(sh_db_step(db, a), 1);
    assert_int_equal(sqlite3_column_type(a, 0), SQLITE_NULL);
    sh_db_release(db, a);

    /* Bounded: a third distinct statement evicts the least recently used. */
    assert_int_equal(sh_db_prepare(db, "SELECT 2", &a), 0);
    sh_db_release(db, a);
    sh_db_stmt_stats(db, &s);
    assert_int_equal(s.size, 2);
    assert_true(s.evictions - s0.evictions >= 1);

    sh_log_min_level = SH_LOG_OFF;
    assert_int_equal(sh_db_prepare(db, "SELEKT 1", &a), SH_EINVAL);
    assert_null(a);
    assert_int_equal(sh_db_prepare(db, "SELECT 1; SELECT 2", &a), SH_EINVAL);
    sh_log_min_level = SH_LOG_INFO;
    assert_int_equal(tmp_close_db(e, db), 0);
}

/* ---- budget ---- */

static const char runaway_sql[] = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                                  "SELECT count(*) FROM c";

/* Runs fn with stderr redirected to a file and returns what it logged
 * (static buffer). */
static const char *capture_log(void (*fn)(void *), void *arg)
{
    static char out[4096];
    char path[] = "/tmp/sh-db-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    sh_log_flush();
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn(arg);
    sh_log_flush();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return out;
}

struct budget_run {
    struct sh_db *db;
    int rc;
    uint64_t elapsed_ns;
};

static void run_runaway(void *arg)
{
    struct budget_run *r = arg;
    sqlite3_stmt *st;
    assert_int_equal(sh_db_prepare(r->db, runaway_sql, &st), 0);
    uint64_t t0 = uv_hrtime();
    r->rc = sh_db_step(r->db, st);
    r->elapsed_ns = uv_hrtime() - t0;
    sh_db_release(r->db, st);
}

static void test_db_budget_aborts_runaway_query(void **state)
{
    struct tmp_env *e = *state;
    struct sh_db_options o;
    sh_db_options_init(&o);
    o.read_budget_ms = 200;
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, &o), 0);

    for (int shared = 0; shared < 2; shared++) {
        if (shared) /* also inside a shared read transaction */
            assert_int_equal(sh_db_read_begin(db), 0);
        struct budget_run r = {db, 0, 0};
        const char *log = capture_log(run_runaway, &r);
        assert_int_equal(r.rc, SH_EBUDGET);
        assert_true(r.elapsed_ns >= 200 * 1000000ull); /* the clock starts at the step */
        assert_true(r.elapsed_ns < 5000 * 1000000ull);
        assert_non_null(strstr(log, "level=warn mod=db"));
        assert_non_null(strstr(log, "time budget exceeded"));
        assert_non_null(strstr(log, "budget_ms=200"));
        /* the query's own CPU time tripped it (the elapsed limit is 5 s) */
        assert_true(strstr(log, "limit=cpu") || strstr(log, "limit=elapsed"));
        assert_non_null(strstr(log, "WITH RECURSIVE"));
        /* The connection is fine afterwards, and a short query is not aborted. */
        assert_int_equal(read_int(db, "SELECT count(*) FROM _migrations"),
                         sh__db_migrations_last());
        sh_db_read_end(db);
    }
    assert_int_equal(tmp_close_db(e, db), 0);
}

/* The elapsed-time safety limit stops a query whatever its CPU budget. */
static void test_db_elapsed_limit_aborts_query(void **state)
{
    struct tmp_env *e = *state;
    struct sh_db_options o;
    sh_db_options_init(&o);
    o.read_budget_ms = 1000000; /* CPU: never */
    o.read_wall_ms = 100;
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, &o), 0);
    struct budget_run r = {db, 0, 0};
    const char *log = capture_log(run_runaway, &r);
    assert_int_equal(r.rc, SH_EBUDGET);
    assert_true(r.elapsed_ns >= 100 * 1000000ull);
    assert_non_null(strstr(log, "limit=elapsed"));
    assert_non_null(strstr(log, "elapsed_limit_ms=100"));
    assert_int_equal(read_int(db, "SELECT count(*) FROM _migrations"), sh__db_migrations_last());
    sh_db_read_end(db);
    assert_int_equal(tmp_close_db(e, db), 0);
}

/* ---- the loop runs on while the writer is inside a job ---- */

struct gate {
    uv_sem_t release;
    atomic_int inside;
    int read_while_busy; /* rows the loop saw while the job held its insert */
    int ticks, done, rc;
    struct sh_db *db;
    uv_timer_t timer;
};

static int slow_insert(sqlite3 *wdb, void *arg)
{
    struct gate *g = arg;
    if (sqlite3_exec(wdb, "INSERT INTO t (v) VALUES ('slow')", NULL, NULL, NULL) != SQLITE_OK)
        return SH_EINTERNAL;
    atomic_store(&g->inside, 1);
    uv_sem_wait(&g->release); /* the writer is stuck until the loop lets it go */
    return 0;
}

static void slow_done(struct sh_db_job *job, int rc)
{
    struct gate *g = job->arg;
    g->done++;
    g->rc = rc;
}

static void on_tick(uv_timer_t *t)
{
    struct gate *g = t->data;
    g->ticks++;
    if (!atomic_load(&g->inside))
        return;
    g->read_while_busy = (int)read_int(g->db, "SELECT count(*) FROM t");
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    uv_sem_post(&g->release);
}

static int create_t(sqlite3 *wdb, void *arg)
{
    (void)arg;
    return sqlite3_exec(wdb, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)", NULL, NULL,
                        NULL) == SQLITE_OK
               ? 0
               : SH_EINTERNAL;
}

static void test_db_loop_not_blocked_by_writer(void **state)
{
    struct tmp_env *e = *state;
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, create_t, NULL), 0);
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, NULL), 0);
    struct gate g = {.db = db};
    assert_int_equal(uv_sem_init(&g.release, 0), 0);
    atomic_init(&g.inside, 0);
    struct sh_db_job job = {.run = slow_insert, .done = slow_done, .arg = &g};
    assert_int_equal(sh_db_submit(db, &job), 0);
    uv_timer_init(&e->loop, &g.timer);
    g.timer.data = &g;
    uv_timer_start(&g.timer, on_tick, 1, 1);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    /* The loop ran timers and a read while the writer sat in its transaction,
     * and that read did not see the uncommitted row. */
    assert_true(g.ticks >= 1);
    assert_int_equal(g.read_while_busy, 0);
    assert_int_equal(g.done, 1);
    assert_int_equal(g.rc, 0);
    assert_int_equal(read_int(db, "SELECT count(*) FROM t"), 1);
    uv_sem_destroy(&g.release);
    assert_int_equal(tmp_close_db(e, db), 0);
}

/* ---- CLI path and the schema version ---- */

static int add_collection(sqlite3 *wdb, void *arg)
{
    const char *name = arg;
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb,
                                  "INSERT INTO _collections (id, name, type, schema, created, "
                                  "updated) VALUES (?1, ?1, 'base', '{}', 'now', 'now')",
                                  &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sh_db_writer_release(wdb, st);
    return rc == SQLITE_DONE ? 0 : sh_db_errcode(rc);
}

static int add_then_fail(sqlite3 *wdb, void *arg)
{
    int rc = add_collection(wdb, arg);
    return rc ? rc : SH_EINVAL;
}

static void test_db_exclusive_and_schema_version(void **state)
{
    static char posts[] = "posts", tags[] = "tags", posts_upper[] = "POSTS";
    struct tmp_env *e = *state;
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, NULL), 0);
    int64_t v0 = -1, v = -1;
    assert_int_equal(sh_db_schema_version(db, &v0), 0);
    assert_int_equal(sh_db_schema_version(db, &v), 0);
    assert_int_equal(v, v0);

    /* "stagehand collections import" while the server runs. */
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, add_collection, posts), 0);
    /* within one loop turn the answer stands: one PRAGMA per turn */
    assert_int_equal(sh_db_schema_version(db, &v), 0);
    assert_int_equal(v, v0);
    sh_db_read_end(db); /* the turn ends (the check handle does this) */
    assert_int_equal(sh_db_schema_version(db, &v), 0);
    assert_int_equal(v, v0 + 1);
    /* A failing function changes nothing. */
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, add_then_fail, tags), SH_EINVAL);
    /* A name that differs only in case conflicts (COLLATE NOCASE). */
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, add_collection, posts_upper), SH_ECONFLICT);
    sh_db_read_end(db);
    assert_int_equal(sh_db_schema_version(db, &v), 0);
    assert_int_equal(v, v0 + 1);
    assert_int_equal(read_int(db, "SELECT count(*) FROM _collections"), 2); /* + _superusers */
    assert_int_equal(tmp_close_db(e, db), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_db_open_migrates_idempotently, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_migration_failure_applies_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_not_a_database_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_pragmas_in_effect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_read_cache_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_write_cache_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_stmt_cache_hits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_budget_aborts_runaway_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_elapsed_limit_aborts_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_loop_not_blocked_by_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_exclusive_and_schema_version, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
