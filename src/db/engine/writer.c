/*
 * The writer thread: the only write connection, group commit. The loop
 * appends jobs to a queue under a mutex (held for a few pointer moves, never
 * across I/O) and wakes the writer when the queue becomes non-empty. The
 * writer takes everything queued (at most max_batch jobs), runs the jobs in
 * one IMMEDIATE transaction, each under SAVEPOINT so that a failing job is
 * rolled back alone, commits once (one fsync at synchronous=FULL for the whole
 * batch), then hands the batch back and wakes the loop with uv_async_send.
 * While it commits, new jobs queue up and form the next batch, so the batch
 * size grows by itself with the load.
 *
 * On the loop, the async callback ends the shared read transaction first (an
 * acknowledged write must be visible to every later read), then calls each
 * job's done() in submission order. The async handle is referenced only while
 * jobs are in flight, so an idle db does not keep the loop alive.
 *
 * Counters are kept by the writer per batch and merged under the same mutex
 * when the batch is handed back, so a snapshot is consistent.
 *
 * The WAL: SQLite's passive checkpoints cannot copy frames newer than the
 * oldest reader's snapshot, and the WAL restarts from its beginning only
 * when a write starts with every frame copied and no reader inside it; under
 * steady load the loop's read transactions always overlap some frame, so the
 * file only grows. A WAL hook of our own records its length after every
 * commit (and keeps SQLite's passive autocheckpoint); once the batch has been
 * handed back and the WAL is past opt.wal_max, the writer runs a TRUNCATE
 * checkpoint. That takes the write lock (we are the only writer), copies
 * every frame, then waits (busy handler, at most busy_timeout_ms) until the
 * readers that started before the copy finished leave: the loop ends its
 * shared read transaction at the end of every loop turn, and reads that
 * start after the copy read from the database file alone, so the wait is
 * one loop turn. Then the WAL is truncated to 0 bytes. If readers did not
 * leave in time it is tried again a second later, never in between.
 *
 * Disk full: a commit or a job that hits it fails with -ENOSPC, and so does
 * every job of a transaction SQLite rolled back because of it; nothing of
 * that transaction was acknowledged.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "engine_int.h"

/* Frames between SQLite's own passive checkpoints (wal_autocheckpoint; see
 * open.c for why not SQLite's 1 000). */
#define AUTOCHECKPOINT_FRAMES 10000
/* After a TRUNCATE checkpoint that readers held up, the next try. */
#define CHECKPOINT_RETRY_NS (1000u * 1000000u)

enum { ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO };

static const char *const stmt_sql[SH__WRITER_NSTMTS] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",  [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",      [ST_SAVEPOINT] = "SAVEPOINT sh_job",
    [ST_RELEASE] = "RELEASE sh_job", [ST_ROLLBACK_TO] = "ROLLBACK TO sh_job",
};

/* Counters of one batch, merged into the shared ones under the lock. */
struct batch_stats {
    uint64_t failed;
    int commit_failed;
    uint64_t commit_us;
};

static unsigned bucket_of(uint64_t v, unsigned nbuckets)
{
    unsigned b = 0;
    while (v > 1 && b < nbuckets - 1) {
        v >>= 1;
        b++;
    }
    return b;
}

static int exec(struct sh__writer *w, int which)
{
    int rc = sqlite3_step(w->stmts[which]);
    sqlite3_reset(w->stmts[which]);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Fails every job from `from` to the end of the batch with err. */
static void fail_from(struct sh_db_job *from, int err)
{
    for (struct sh_db_job *j = from; j; j = j->next_)
        j->rc_ = err;
}

/* Resets statements a job left running; they would keep RELEASE/COMMIT from
 * completing ("SQL statements in progress"). */
static void reset_busy(sqlite3 *wdb)
{
    for (sqlite3_stmt *st = sqlite3_next_stmt(wdb, NULL); st; st = sqlite3_next_stmt(wdb, st))
        if (sqlite3_stmt_busy(st)) {
            sh_log_warn(SH_DB_MOD, "write job left a statement running: %.200s", sqlite3_sql(st));
            sqlite3_reset(st);
        }
}

/* Runs one job under its savepoint; returns its result. */
static int run_job(struct sh__writer *w, struct sh_db_job *job)
{
    int rc = exec(w, ST_SAVEPOINT);
    if (rc != SQLITE_OK)
        return sh__db_fail(w->wdb, rc, "savepoint");
    int r = job->run(w->wdb, job->arg);
    if (r > 0) /* an SQLite code returned by mistake */
        r = sh_db_errcode(r) ? sh_db_errcode(r) : SH_EINTERNAL;
    if (sqlite3_get_autocommit(w->wdb))
        return r ? r : SH_EINTERNAL; /* the transaction is gone; the caller copes */
    if (r == 0 && exec(w, ST_RELEASE) == SQLITE_OK)
        return 0;
    if (r == 0) { /* RELEASE failed: the job left a statement running */
        reset_busy(w->wdb);
        r = SH_EINTERNAL;
    }
    rc = exec(w, ST_ROLLBACK_TO);
    if (rc == SQLITE_OK)
        rc = exec(w, ST_RELEASE);
    if (rc != SQLITE_OK) {
        reset_busy(w->wdb);
        if (exec(w, ST_ROLLBACK_TO) != SQLITE_OK || exec(w, ST_RELEASE) != SQLITE_OK)
            sh__db_fail(w->wdb, rc, "rollback to savepoint");
    }
    return r;
}

/* Runs a batch in one transaction and sets every job's rc_. */
static void run_batch(struct sh__writer *w, struct sh_db_job *head, struct batch_stats *bs)
{
    struct sh_db_job *live = head; /* first job whose work is in the open transaction */
    int rc = exec(w, ST_BEGIN);
    if (rc != SQLITE_OK) {
        fail_from(head, sh__db_fail(w->wdb, rc, "writer begin"));
        bs->commit_failed = 1;
        return;
    }
    for (struct sh_db_job *j = head; j; j = j->next_) {
        j->rc_ = run_job(w, j);
        if (j->rc_)
            bs->failed++;
        if (!sqlite3_get_autocommit(w->wdb))
            continue;
        /* SQLite rolled the whole transaction back (disk full, I/O error) or the
         * job ended it: the earlier jobs' work is lost with it. */
        sh_log_error(SH_DB_MOD, "write transaction lost during a job (%s)", sqlite3_errmsg(w->wdb));
        int lost = j->rc_ == -ENOSPC || (sqlite3_errcode(w->wdb) & 0xff) == SQLITE_FULL
                       ? -ENOSPC
                       : SH_EINTERNAL;
        for (struct sh_db_job *k = live; k != j; k = k->next_)
            if (k->rc_ == 0) {
                k->rc_ = lost;
                bs->failed++;
            }
        if (j->rc_ == 0) {
            j->rc_ = lost;
            bs->failed++;
        } else if (lost == -ENOSPC) {
            j->rc_ = lost;
        }
        live = j->next_;
        if (live && (rc = exec(w, ST_BEGIN)) != SQLITE_OK) {
            fail_from(live, sh__db_fail(w->wdb, rc, "writer begin"));
            bs->commit_failed = 1;
            return;
        }
    }
    if (!live) {
        sh__versions_reset(&w->versions);
        return;
    }
    uint64_t t0 = uv_hrtime();
    int vrc = sh__versions_flush(w->wdb, &w->versions);
    rc = vrc ? SQLITE_ERROR : exec(w, ST_COMMIT);
    bs->commit_us = (uv_hrtime() - t0) / 1000;
    if (rc != SQLITE_OK) {
        int err = vrc ? vrc : sh__db_fail(w->wdb, rc, "writer commit");
        if (!sqlite3_get_autocommit(w->wdb)) {
            reset_busy(w->wdb);
            exec(w, ST_ROLLBACK);
        }
        fail_from(live, err);
        bs->commit_failed = 1;
    }
}

/* After every commit of the write connection (writer thread): remembers the
 * WAL's length and runs SQLite's passive autocheckpoint, which this hook
 * replaces. */
static int wal_hook(void *arg, sqlite3 *wdb, const char *name, int frames)
{
    struct sh__writer *w = arg;
    w->wal_frames = (uint32_t)frames;
    if (frames >= AUTOCHECKPOINT_FRAMES)
        sqlite3_wal_checkpoint_v2(wdb, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

/* Writer thread, between batches: truncates the WAL once it is past the
 * bound (see the top of the file). Returns 1 if it was truncated. */
static int bound_wal(struct sh_db *db)
{
    struct sh__writer *w = &db->w;
    if (!db->opt.wal_max || (uint64_t)w->wal_frames * (w->page_size + 24) + 32 <= db->opt.wal_max)
        return 0;
    /* A backup's snapshot holds a read transaction for its whole copy: the
     * checkpoint would wait busy_timeout_ms for it at every try, stalling
     * every write meanwhile. The WAL grows until the backup ends instead. */
    if (atomic_load(&db->long_reads))
        return 0;
    uint64_t now = uv_hrtime();
    if (now < w->checkpoint_next)
        return 0;
    int frames = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(w->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, &frames, &copied);
    if (rc == SQLITE_OK) {
        w->wal_frames = 0;
        return 1;
    }
    w->checkpoint_next = now + CHECKPOINT_RETRY_NS;
    if (!w->checkpoint_warned++)
        sh_log_warn(SH_DB_MOD,
                    "WAL past %llu bytes (%d frames) and the checkpoint could not truncate it: %s "
                    "(trying again every second; logged once)",
                    (unsigned long long)db->opt.wal_max, frames, sqlite3_errmsg(w->wdb));
    return -1;
}

static void writer_main(void *arg)
{
    struct sh_db *db = arg;
    struct sh__writer *w = &db->w;
    (void)pthread_setname_np(pthread_self(), "sh-writer"); /* top, gdb and /proc show it */
    struct sh__stmt_cache cache;
    sh__stmt_cache_init(&cache, w->wdb, db->opt.stmt_cache_size);
    sh__stmt_cache_bind_thread(&cache);

    uv_mutex_lock(&w->lock);
    for (;;) {
        while (!w->q_head && !w->stopping)
            uv_cond_wait(&w->cond, &w->lock);
        if (!w->q_head)
            break; /* stopping, and the queue is drained */
        struct sh_db_job *head = w->q_head, *tail = head;
        uint32_t n = 1;
        while (tail->next_ && n < db->opt.max_batch) {
            tail = tail->next_;
            n++;
        }
        w->q_head = tail->next_;
        if (!w->q_head)
            w->q_tail = NULL;
        tail->next_ = NULL;
        w->q_len -= n;
        uv_mutex_unlock(&w->lock);

        struct batch_stats bs = {0};
        run_batch(w, head, &bs);

        uv_mutex_lock(&w->lock);
        if (w->done_tail)
            w->done_tail->next_ = head;
        else
            w->done_head = head;
        w->done_tail = tail;
        struct sh_db_writer_stats *s = &w->stats;
        s->batches++;
        s->jobs += n;
        s->jobs_failed += bs.failed;
        s->commit_failed += (uint64_t)bs.commit_failed;
        s->commit_us_total += bs.commit_us;
        s->batch_size[bucket_of(n, SH_DB_BATCH_BUCKETS)]++;
        if (!bs.commit_failed)
            s->commit_us[bucket_of(bs.commit_us, SH_DB_COMMIT_BUCKETS)]++;
        if (n > s->max_batch_seen)
            s->max_batch_seen = n;
        uv_mutex_unlock(&w->lock);
        uv_async_send(&db->async);
        int truncated = bound_wal(db); /* the batch is acknowledged already */
        uv_mutex_lock(&w->lock);
        if (truncated > 0)
            w->stats.wal_truncations++;
        else if (truncated < 0)
            w->stats.wal_truncations_busy++;
    }
    w->drained = 1;
    uv_mutex_unlock(&w->lock);
    uv_async_send(&db->async);

    uv_mutex_lock(&w->lock);
    while (!w->reader_closed)
        uv_cond_wait(&w->cond, &w->lock);
    uv_mutex_unlock(&w->lock);

    /* Last connection to close: SQLite checkpoints and removes the WAL. */
    sh__stmt_cache_deinit(&cache);
    sh__writer_free_stmts(w);
    int rc = sqlite3_close(w->wdb);

    uv_mutex_lock(&w->lock);
    w->wdb = NULL;
    w->close_rc = rc;
    w->exited = 1;
    uv_mutex_unlock(&w->lock);
    /* db stays valid: the loop frees it only after joining this thread. */
    uv_async_send(&db->async);
}

/* Loop thread: completions, then the steps of closing. */
static void on_async(uv_async_t *h)
{
    struct sh_db *db = h->data;
    struct sh__writer *w = &db->w;
    uv_mutex_lock(&w->lock);
    struct sh_db_job *job = w->done_head;
    w->done_head = w->done_tail = NULL;
    int drained = w->drained, exited = w->exited, reader_closed = w->reader_closed;
    uv_mutex_unlock(&w->lock);

    if (job) {
        sh_db_read_end(db); /* reads after an acknowledgement see the write */
        while (job) {
            struct sh_db_job *next = job->next_;
            db->in_flight--;
            job->done(job, job->rc_); /* may free or resubmit job */
            job = next;
        }
        if (db->in_flight == 0 && !db->closing)
            uv_unref((uv_handle_t *)&db->async);
    }
    if (drained && !reader_closed) {
        sh__db_reader_close(db);
        uv_mutex_lock(&w->lock);
        w->reader_closed = 1;
        uv_cond_signal(&w->cond);
        uv_mutex_unlock(&w->lock);
    }
    if (exited)
        sh__db_finish_close(db);
}

void sh__writer_free_stmts(struct sh__writer *w)
{
    for (int i = 0; i < SH__WRITER_NSTMTS; i++) {
        sqlite3_finalize(w->stmts[i]);
        w->stmts[i] = NULL;
    }
}

int sh__writer_start(struct sh_db *db)
{
    struct sh__writer *w = &db->w;
    sqlite3_stmt *ps;
    w->page_size = 4096;
    if (sqlite3_prepare_v2(w->wdb, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK) {
        if (sqlite3_step(ps) == SQLITE_ROW && sqlite3_column_int(ps, 0) > 0)
            w->page_size = (unsigned)sqlite3_column_int(ps, 0);
        sqlite3_finalize(ps);
    }
    sqlite3_wal_hook(w->wdb, wal_hook, w);
    sh__versions_attach(w->wdb, &w->versions);
    for (int i = 0; i < SH__WRITER_NSTMTS; i++) {
        int rc = sqlite3_prepare_v3(w->wdb, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &w->stmts[i], NULL);
        if (rc != SQLITE_OK)
            return sh__db_fail(w->wdb, rc, stmt_sql[i]);
    }
    int rc = uv_async_init(db->loop, &db->async, on_async);
    if (rc) {
        sh_log_error(SH_DB_MOD, "uv_async_init: %s", sh_strerror(rc));
        return rc;
    }
    db->async.data = db;
    db->handles_open = 1;
    uv_unref((uv_handle_t *)&db->async);
    SH_ASSERT(uv_mutex_init(&w->lock) == 0);
    SH_ASSERT(uv_cond_init(&w->cond) == 0);
    rc = uv_thread_create(&w->thread, writer_main, db);
    if (rc) {
        sh_log_error(SH_DB_MOD, "cannot start the writer thread: %s", sh_strerror(rc));
        uv_mutex_destroy(&w->lock);
        uv_cond_destroy(&w->cond);
        return rc;
    }
    return 0;
}

void sh__writer_stop(struct sh_db *db)
{
    uv_mutex_lock(&db->w.lock);
    db->w.stopping = 1;
    uv_cond_signal(&db->w.cond);
    uv_mutex_unlock(&db->w.lock);
}

int sh_db_submit(struct sh_db *db, struct sh_db_job *job)
{
    SH_ASSERT(job->run && job->done);
    if (db->closing)
        return -ECANCELED;
    if (db->in_flight >= db->opt.max_queue) {
        db->rejected++;
        return SH_EBUSY;
    }
    job->next_ = NULL;
    job->rc_ = 0;
    if (db->in_flight++ == 0)
        uv_ref((uv_handle_t *)&db->async);
    struct sh__writer *w = &db->w;
    uv_mutex_lock(&w->lock);
    if (w->q_tail)
        w->q_tail->next_ = job;
    else
        w->q_head = job;
    w->q_tail = job;
    if (w->q_len++ == 0) /* the writer waits only on an empty queue */
        uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->lock);
    return 0;
}

void sh_db_writer_stats(struct sh_db *db, struct sh_db_writer_stats *out)
{
    uv_mutex_lock(&db->w.lock);
    *out = db->w.stats;
    out->queue_depth = db->w.q_len;
    uv_mutex_unlock(&db->w.lock);
    out->in_flight = db->in_flight;
    out->rejected = db->rejected;
}
