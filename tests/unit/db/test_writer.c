/*
 * Tests of the writer thread with a real libuv loop and real files: a
 * thousand jobs grouped into fewer transactions, each acknowledged on the
 * loop thread only once its row is committed (visible to the read
 * connection), results carried back from run(), one failing job rolled back
 * alone, a failing COMMIT failing its whole batch, the queue bound, closing
 * that drains the queue, and read-your-writes across a shared read
 * transaction.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db_tmp.h"

static pthread_t loop_thread;

static int setup(void **state)
{
    struct tmp_env *e = tmp_env_new();
    *state = e;
    loop_thread = pthread_self();
    return e ? 0 : -1;
}

static int teardown(void **state)
{
    return tmp_env_free(*state) == 0 ? 0 : -1;
}

static int create_tables(sqlite3 *wdb, void *arg)
{
    (void)arg;
    return sqlite3_exec(wdb,
                        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE NOT NULL);"
                        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                        "CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES "
                        "parent (id) DEFERRABLE INITIALLY DEFERRED);"
                        "INSERT INTO t (v) VALUES ('dup');",
                        NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : SH_EINTERNAL;
}

static struct sh_db *open_db(struct tmp_env *e, const struct sh_db_options *o)
{
    assert_int_equal(sh_db_run_exclusive(e->dir, o, create_tables, NULL), 0);
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, o), 0);
    return db;
}

static int64_t count_v(struct sh_db *db, const char *v)
{
    sqlite3_stmt *st;
    assert_int_equal(sh_db_prepare(db, "SELECT count(*) FROM t WHERE v = ?", &st), 0);
    sqlite3_bind_text(st, 1, v, -1, SQLITE_TRANSIENT);
    assert_int_equal(sh_db_step(db, st), 1);
    int64_t n = sqlite3_column_int64(st, 0);
    sh_db_release(db, st);
    return n;
}

/* ---- a job inserting one row and returning it as JSON ---- */

struct ins {
    struct sh_db_job job; /* first: done() gets back to the struct */
    struct sh_db *db;
    char v[32];
    char *json;        /* set by run() on the writer thread, freed by done() */
    const char *extra; /* inserted first, to check a failing job's rollback */
    int rc, done, visible_at_done, on_loop;
};

static int insert_run(sqlite3 *wdb, void *arg)
{
    struct ins *in = arg;
    sqlite3_stmt *st;
    int rc;
    if (in->extra) {
        if ((rc = sh_db_writer_prepare(wdb, "INSERT INTO t (v) VALUES (?)", &st)) != 0)
            return rc;
        sqlite3_bind_text(st, 1, in->extra, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sh_db_writer_release(wdb, st);
        if (rc != SQLITE_DONE)
            return sh_db_errcode(rc);
    }
    rc = sh_db_writer_prepare(
        wdb, "INSERT INTO t (v) VALUES (?) RETURNING json_object('id', id, 'v', v)", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, in->v, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        in->json = sh_strdup((const char *)sqlite3_column_text(st, 0));
        rc = sqlite3_step(st);
    }
    sh_db_writer_release(wdb, st);
    return rc == SQLITE_DONE ? 0 : sh_db_errcode(rc);
}

static int done_total;

static void insert_done(struct sh_db_job *job, int rc)
{
    struct ins *in = (struct ins *)job;
    in->done++;
    in->rc = rc;
    in->on_loop = pthread_equal(pthread_self(), loop_thread);
    /* Acknowledged means committed: the read connection already sees it. */
    in->visible_at_done = (int)count_v(in->db, in->v);
    done_total++;
}

static void ins_init(struct ins *in, struct sh_db *db, const char *v)
{
    memset(in, 0, sizeof(*in));
    in->job = (struct sh_db_job){.run = insert_run, .done = insert_done, .arg = in};
    in->db = db;
    snprintf(in->v, sizeof(in->v), "%s", v);
}

enum { NJOBS = 1000 };

static void test_writer_thousand_jobs_group_commit(void **state)
{
    struct tmp_env *e = *state;
    struct sh_db *db = open_db(e, NULL);
    struct ins *jobs = calloc(NJOBS, sizeof(*jobs));
    assert_non_null(jobs);
    /* A shared read transaction holding an old snapshot must not hide
     * acknowledged writes. */
    assert_int_equal(sh_db_read_begin(db), 0);
    assert_int_equal(count_v(db, "k0"), 0);
    done_total = 0;
    for (int i = 0; i < NJOBS; i++) {
        char v[32];
        snprintf(v, sizeof(v), "k%d", i);
        ins_init(&jobs[i], db, v);
        assert_int_equal(sh_db_submit(db, &jobs[i].job), 0);
    }
    uv_run(&e->loop, UV_RUN_DEFAULT); /* returns when nothing is in flight */
    assert_int_equal(done_total, NJOBS);
    for (int i = 0; i < NJOBS; i++) {
        assert_int_equal(jobs[i].done, 1);
        assert_int_equal(jobs[i].rc, 0);
        assert_true(jobs[i].on_loop);
        assert_int_equal(jobs[i].visible_at_done, 1);
        char want[64];
        snprintf(want, sizeof(want), "\"v\":\"%s\"", jobs[i].v);
        assert_non_null(jobs[i].json);
        assert_non_null(strstr(jobs[i].json, want));
        free(jobs[i].json);
    }
    sqlite3_stmt *st;
    assert_int_equal(sh_db_prepare(db, "SELECT count(*) FROM t WHERE v LIKE 'k%'", &st), 0);
    assert_int_equal(sh_db_step(db, st), 1);
    assert_int_equal(sqlite3_column_int(st, 0), NJOBS);
    sh_db_release(db, st);

    struct sh_db_writer_stats s;
    sh_db_writer_stats(db, &s);
    assert_int_equal(s.jobs, NJOBS);
    assert_int_equal(s.jobs_failed, 0);
    assert_int_equal(s.commit_failed, 0);
    assert_true(s.batches < NJOBS); /* group commit happened */
    assert_true(s.max_batch_seen > 1);
    uint64_t sum = 0, lat = 0;
    for (int i = 0; i < SH_DB_BATCH_BUCKETS; i++)
        sum += s.batch_size[i];
    for (int i = 0; i < SH_DB_COMMIT_BUCKETS; i++)
        lat += s.commit_us[i];
    assert_int_equal(sum, s.batches);
    assert_int_equal(lat, s.batches);
    assert_int_equal(s.queue_depth, 0);
    assert_int_equal(s.in_flight, 0);
    print_message("# %d jobs in %llu batches (largest %u), %llu us committing\n", NJOBS,
                  (unsigned long long)s.batches, s.max_batch_seen,
                  (unsigned long long)s.commit_us_total);
    free(jobs);
    assert_int_equal(tmp_close_db(e, db), 0);
}

/* ---- several jobs forced into one batch behind a job that waits ---- */

struct blocker {
    uv_sem_t sem;
    atomic_int inside;
    int done;
};

static int block_run(sqlite3 *wdb, void *arg)
{
    (void)wdb;
    struct blocker *b = arg;
    atomic_store(&b->inside, 1);
    uv_sem_wait(&b->sem);
    return 0;
}

/* Submits the blocker and waits (in the test, not on a running loop) until
 * the writer is inside it: jobs submitted next queue up as one batch. */
static void submit_blocker(struct sh_db *db, struct blocker *b, struct sh_db_job *job)
{
    assert_int_equal(uv_sem_init(&b->sem, 0), 0);
    atomic_init(&b->inside, 0);
    assert_int_equal(sh_db_submit(db, job), 0);
    while (!atomic_load(&b->inside))
        usleep(100);
}

static void block_done(struct sh_db_job *job, int rc)
{
    assert_int_equal(rc, 0);
    ((struct blocker *)job->arg)->done++;
}

static void test_writer_failing_job_fails_alone(void **state)
{
    struct tmp_env *e = *state;
    struct sh_db *db = open_db(e, NULL);
    struct blocker b = {.done = 0};
    struct sh_db_job bj = {.run = block_run, .done = block_done, .arg = &b};
    struct ins a, bad, c;
    ins_init(&a, db, "a");
    ins_init(&bad, db, "dup"); /* UNIQUE violation ... */
    bad.extra = "b-first";     /* ... after a successful insert of its own */
    ins_init(&c, db, "c");
    submit_blocker(db, &b, &bj);
    assert_int_equal(sh_db_submit(db, &a.job), 0);
    assert_int_equal(sh_db_submit(db, &bad.job), 0);
    assert_int_equal(sh_db_submit(db, &c.job), 0);
    uv_sem_post(&b.sem); /* a, bad and c are queued together */
    uv_run(&e->loop, UV_RUN_DEFAULT);

    assert_int_equal(b.done, 1);
    assert_int_equal(a.rc, 0);
    assert_int_equal(bad.rc, SH_ECONFLICT);
    assert_int_equal(c.rc, 0);
    assert_int_equal(count_v(db, "a"), 1);
    assert_int_equal(count_v(db, "c"), 1);
    assert_int_equal(count_v(db, "dup"), 1);
    assert_int_equal(count_v(db, "b-first"), 0); /* the failing job's own work is undone */
    assert_null(bad.json);
    free(a.json);
    free(c.json);
    struct sh_db_writer_stats s;
    sh_db_writer_stats(db, &s);
    assert_int_equal(s.jobs_failed, 1);
    assert_int_equal(s.commit_failed, 0);
    assert_int_equal(s.batches, 2);
    assert_int_equal(s.max_batch_seen, 3); /* a, bad and c shared a transaction */
    uv_sem_destroy(&b.sem);
    assert_int_equal(tmp_close_db(e, db), 0);
}

/* A job that records its completion without reading anything. */
struct rec {
    struct sh_db_job job; /* first */
    int rc, done;
};

static void rec_done(struct sh_db_job *job, int rc)
{
    struct rec *r = (struct rec *)job;
    r->rc = rc;
    r->done++;
}

static int orphan_run(sqlite3 *wdb, void *arg)
{
    (void)arg; /* a deferred foreign key: accepted now, refused at COMMIT */
    return sqlite3_exec(wdb, "INSERT INTO child (p) VALUES (999)", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : SH_EINTERNAL;
}

static int64_t read_int(struct sh_db *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sh_db_prepare(db, sql, &st), 0);
    assert_int_equal(sh_db_step(db, st), 1);
    int64_t v = sqlite3_column_int64(st, 0);
    sh_db_release(db, st);
    return v;
}

static void test_writer_commit_failure_fails_batch(void **state)
{
    struct tmp_env *e = *state;
    struct sh_db *db = open_db(e, NULL);
    struct blocker b = {.done = 0};
    struct rec bj = {.job = {.run = block_run, .done = rec_done, .arg = &b}};
    struct rec orphan = {.job = {.run = orphan_run, .done = rec_done}};
    struct ins a, c;
    ins_init(&a, db, "a");
    ins_init(&c, db, "c");
    submit_blocker(db, &b, &bj.job);
    assert_int_equal(sh_db_submit(db, &a.job), 0);
    assert_int_equal(sh_db_submit(db, &orphan.job), 0);
    assert_int_equal(sh_db_submit(db, &c.job), 0);
    sh_log_min_level = SH_LOG_OFF; /* the failed COMMIT is logged */
    uv_sem_post(&b.sem);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    sh_log_min_level = SH_LOG_INFO;

    /* Each job succeeded alone, but the batch's COMMIT failed: all fail. */
    assert_int_equal(orphan.done, 1);
    assert_int_equal(orphan.rc, SH_EINVAL);
    assert_int_equal(a.rc, SH_EINVAL);
    assert_int_equal(c.rc, SH_EINVAL);
    assert_int_equal(a.visible_at_done, 0);
    assert_int_equal(count_v(db, "a"), 0);
    assert_int_equal(count_v(db, "c"), 0);
    assert_int_equal(read_int(db, "SELECT count(*) FROM child"), 0);
    free(a.json); /* produced by run() before the COMMIT failed */
    free(c.json);
    struct sh_db_writer_stats s;
    sh_db_writer_stats(db, &s);
    assert_int_equal(s.commit_failed, 1);
    assert_int_equal(bj.rc, 0); /* the blocker's batch committed */

    /* The writer carries on. */
    struct ins d;
    ins_init(&d, db, "d");
    assert_int_equal(sh_db_submit(db, &d.job), 0);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.visible_at_done, 1);
    free(d.json);
    uv_sem_destroy(&b.sem);
    assert_int_equal(tmp_close_db(e, db), 0);
}

static int noop_run(sqlite3 *wdb, void *arg)
{
    (void)wdb;
    (void)arg;
    return 0;
}

static void test_writer_queue_full_is_ebusy(void **state)
{
    struct tmp_env *e = *state;
    struct sh_db_options o;
    sh_db_options_init(&o);
    o.max_queue = 4;
    struct sh_db *db = open_db(e, &o);
    struct rec r[6];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 6; i++)
        r[i].job = (struct sh_db_job){.run = noop_run, .done = rec_done};
    for (int i = 0; i < 4; i++)
        assert_int_equal(sh_db_submit(db, &r[i].job), 0);
    /* In flight until the loop delivers their completions: the fifth waits. */
    assert_int_equal(sh_db_submit(db, &r[4].job), SH_EBUSY);
    struct sh_db_writer_stats s;
    sh_db_writer_stats(db, &s);
    assert_int_equal(s.rejected, 1);
    assert_int_equal(s.in_flight, 4);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i].done, 1);
    assert_int_equal(r[4].done, 0); /* a refused job is never called back */
    assert_int_equal(sh_db_submit(db, &r[5].job), 0);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(r[5].done, 1);
    assert_int_equal(r[5].rc, 0);
    assert_int_equal(tmp_close_db(e, db), 0);
}

struct drain {
    int done_before_close;
    int closed;
    int close_rc;
};

static struct drain drain_state;

static void drain_done(struct sh_db_job *job, int rc)
{
    struct ins *in = (struct ins *)job;
    in->rc = rc;
    in->done++;
    in->on_loop = pthread_equal(pthread_self(), loop_thread);
    if (!drain_state.closed)
        drain_state.done_before_close++;
}

static void drain_closed(void *arg, int rc)
{
    (void)arg;
    drain_state.closed = 1;
    drain_state.close_rc = rc;
}

enum { NDRAIN = 300 };

static void test_writer_close_drains_queue(void **state)
{
    struct tmp_env *e = *state;
    struct sh_db *db = open_db(e, NULL);
    struct ins *jobs = calloc(NDRAIN, sizeof(*jobs));
    assert_non_null(jobs);
    memset(&drain_state, 0, sizeof(drain_state));
    for (int i = 0; i < NDRAIN; i++) {
        char v[32];
        snprintf(v, sizeof(v), "q%d", i);
        ins_init(&jobs[i], db, v);
        jobs[i].job.done = drain_done;
        assert_int_equal(sh_db_submit(db, &jobs[i].job), 0);
    }
    sh_db_close(db, drain_closed, NULL); /* before the loop ever ran */
    struct rec late = {.job = {.run = noop_run, .done = rec_done}};
    assert_int_equal(sh_db_submit(db, &late.job), -ECANCELED);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_true(drain_state.closed);
    assert_int_equal(drain_state.close_rc, 0);
    assert_int_equal(drain_state.done_before_close, NDRAIN);
    for (int i = 0; i < NDRAIN; i++) {
        assert_int_equal(jobs[i].rc, 0);
        assert_true(jobs[i].on_loop);
        free(jobs[i].json);
    }
    free(jobs);
    assert_int_equal(late.done, 0);
    /* Everything reached the file, and the WAL was folded in and removed. */
    assert_false(tmp_file_exists(e, "-wal"));
    sqlite3 *c;
    assert_int_equal(sqlite3_open_v2(e->path, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(c, "SELECT count(*) FROM t WHERE v LIKE 'q%'", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), NDRAIN);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(c), SQLITE_OK);
}

/* The shared read transaction really holds a snapshot (so the test above,
 * where done() reads through one, can fail), and a write completion ends it. */
static void test_writer_read_after_done_sees_row(void **state)
{
    struct tmp_env *e = *state;
    struct sh_db *db = open_db(e, NULL);
    assert_int_equal(sh_db_read_begin(db), 0);
    assert_int_equal(count_v(db, "outside"), 0);
    sqlite3 *other; /* another process, as far as SQLite can tell */
    assert_int_equal(sqlite3_open(e->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "INSERT INTO t (v) VALUES ('outside')", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_close(other), SQLITE_OK);
    assert_int_equal(count_v(db, "outside"), 0); /* the snapshot */
    sh_db_read_end(db);
    assert_int_equal(count_v(db, "outside"), 1);

    assert_int_equal(sh_db_read_begin(db), 0);
    assert_int_equal(count_v(db, "mine"), 0);
    struct ins in;
    ins_init(&in, db, "mine");
    assert_int_equal(sh_db_submit(db, &in.job), 0);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(in.rc, 0);
    assert_int_equal(in.visible_at_done, 1);
    free(in.json);
    assert_int_equal(tmp_close_db(e, db), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writer_thousand_jobs_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_failing_job_fails_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_commit_failure_fails_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_queue_full_is_ebusy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_close_drains_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_read_after_done_sees_row, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
