/*
 * stagehand db: the SQLite storage engine. One file, <dir>/data.db, in WAL mode
 * with two connections:
 *  - a READ-ONLY connection owned by the loop thread: reads run inline, under a
 *    wall-time budget (a runaway query fails with SH_EBUDGET instead of
 *    stalling every client), with cached prepared statements and an optional
 *    read transaction shared by the reads of one loop turn;
 *  - the only WRITE connection, owned by one writer thread: the loop submits
 *    jobs, the writer runs everything queued in one transaction (group commit),
 *    each job under its own SAVEPOINT, and the loop gets each job's completion
 *    by callback only after the COMMIT succeeded.
 * Internal tables start with `_`; their schema is a list of numbered
 * migrations applied at open in one transaction.
 *
 * Threads: everything here is called on the loop thread unless its comment
 * says otherwise. Nothing here blocks the loop on disk I/O after sh_db_open
 * (which runs migrations at start-up, before the server accepts clients).
 */
#ifndef STAGEHAND_DB_H
#define STAGEHAND_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "stagehand/core.h"

/* A read query ran past its time budget and was aborted (the API answers 503
 * or 400 as it sees fit; the query is logged once). */
#define SH_EBUDGET (-10101)
/* The database file is locked by another process (an outside write lock held
 * past busy_timeout_ms). Not retried by the API: answered 503 at once. */
#define SH_ELOCKED (-10102)

struct sh_db;

/* ---- options ---- */
struct sh_db_options {
    int sync_normal;             /* 0: synchronous=FULL (default); 1: NORMAL */
    unsigned busy_timeout_ms;    /* writer/CLI waits this long for a lock held by
                                    another process; default 5000 */
    unsigned read_busy_ms;       /* the loop's read connection waits at most this
                                    long (WAL recovery only); default 100 */
    unsigned read_budget_ms;     /* CPU time (the loop thread's) of one read
                                    query; 0 = unlimited; default 200 */
    unsigned read_wall_ms;       /* elapsed time of one read query, a safety
                                    limit far above read_budget_ms (I/O waits,
                                    a starved process); 0 = none; default 5000 */
    unsigned budget_check_steps; /* VM steps between budget checks; default 1000 */
    unsigned stmt_cache_size;    /* cached statements per connection; default 64 */
    unsigned max_batch;          /* jobs per writer transaction; default 1024 */
    unsigned max_queue;          /* jobs submitted and not yet completed; beyond
                                    it sh_db_submit returns SH_EBUSY; default 10000 */
    int init_empty;              /* 1: an existing 0-byte data.db is initialised as a
                                    new database; 0 (default): refused (SH_EINVAL) */
    uint64_t wal_max;            /* bytes of WAL beyond which the writer checkpoints
                                    with TRUNCATE after a batch; also the
                                    journal_size_limit; 0: SQLite's defaults only;
                                    default 64 MiB */
    uint64_t read_cache;         /* bytes of SQLite page cache of the loop's read
                                    connection (allocated as pages are read, up
                                    to this); 0: SQLite's default (2 MiB);
                                    default 8 MiB (a larger cache makes reads
                                    that sweep it slower: more memory touched) */
    uint64_t write_cache;        /* bytes of SQLite page cache of the writer's
                                    connection (allocated as pages are read, up
                                    to this); 0: SQLite's default (2 MiB);
                                    default 32 MiB: inserts at random ids touch
                                    index pages all over the file, which 2 MiB
                                    read back from the OS once per create */
};

/* Fills o with the defaults above. Any thread. */
void sh_db_options_init(struct sh_db_options *o);

/* ---- open and close ---- */

/* Opens (creating if needed, with mode 0700 for a missing directory)
 * <dir>/data.db, applies pending migrations in one transaction, opens the read
 * connection and starts the writer thread. opt may be NULL for the defaults.
 * Runs on the loop thread before the loop serves clients (it does disk I/O).
 * An existing data.db must be a database: a 0-byte file is refused unless
 * opt->init_empty, a file without a valid SQLite header always (both
 * SH_EINVAL, logged naming the file).
 * Returns 0 and *out, or a negative code (errors are logged): -errno for the
 * directory, SH_EINVAL if the file was written by a newer stagehand or is not
 * a database, SH_ELOCKED if another process holds the write lock past the
 * busy timeout, SH_EINTERNAL otherwise. */
int sh_db_open(struct sh_db **out, uv_loop_t *loop, const char *dir,
               const struct sh_db_options *opt);

typedef void (*sh_db_close_cb)(void *arg, int rc);

/* Starts closing: further sh_db_submit calls fail with -ECANCELED, the writer
 * runs and commits every job already queued (their done callbacks run as
 * usual), then both connections are closed (the writer's last, so that the WAL
 * is checkpointed and removed) and cb(arg, rc) runs on the loop thread, rc
 * being 0 or SH_EINTERNAL if a connection did not close cleanly. db is freed
 * after cb returns. The loop must keep running until then; it stays alive by
 * itself while closing. cb may be NULL. Call once. */
void sh_db_close(struct sh_db *db, sh_db_close_cb cb, void *arg);

/* ---- reads, on the loop thread's read-only connection ---- */

/* Returns a prepared statement for sql on the read connection, from the
 * statement cache when possible (keyed by the SQL text), with no bindings and
 * reset. The statement belongs to the cache: give it back with sh_db_release
 * (never sqlite3_finalize). The same SQL may be checked out twice at once (the
 * second one is a private statement). Only one statement per sql text: a tail
 * after the first statement is SH_EINVAL.
 * Returns 0, SH_EINVAL (SQL error, logged), -ECANCELED after close. */
int sh_db_prepare(struct sh_db *db, const char *sql, sqlite3_stmt **out);

/* Gives back a statement from sh_db_prepare: it is reset and its bindings
 * cleared. NULL is ignored. */
void sh_db_release(struct sh_db *db, sqlite3_stmt *stmt);

/* sh_db_prepare whose release is deferred to the arena's reset (a request's
 * end). Returns as sh_db_prepare, or -ENOMEM past the arena's limit. */
int sh_db_prepare_arena(struct sh_db *db, struct sh_arena *a, const char *sql, sqlite3_stmt **out);

/* Steps a read statement under the time budget. Returns 1 for a row, 0 when
 * done, SH_EBUDGET if the budget was exceeded (logged with the SQL), or the
 * code of sh_db_errcode (logged). The budget clock starts at the statement's
 * first step after a reset. */
int sh_db_step(struct sh_db *db, sqlite3_stmt *stmt);

/* The raw read connection, for what the helpers do not cover. Loop thread
 * only; never write through it (it is SQLITE_OPEN_READONLY), never close it. */
sqlite3 *sh_db_reader(struct sh_db *db);

/* Begins a read transaction shared by the reads that follow (~2 µs per point
 * read instead of ~5 µs). Idempotent. It ends at sh_db_read_end, at the end of
 * the current loop turn, and before any write completion is delivered, so a
 * read that starts after a write was acknowledged always sees it.
 * Returns 0, SH_EINTERNAL, -ECANCELED after close. */
int sh_db_read_begin(struct sh_db *db);

/* Ends the shared read transaction, if any. */
void sh_db_read_end(struct sh_db *db);

/* Whether the shared read transaction is open (begun and not yet ended), so
 * that a helper which needs one can leave its caller's open behind it. */
bool sh_db_read_active(const struct sh_db *db);

/* Reads the schema version counter of _meta, which every change of
 * _collections bumps (also a change made by the CLI in another process).
 * Cheap to poll: once per loop turn (until sh_db_read_end, which the turn's
 * end and every write completion call) the answer is remembered, and while
 * `PRAGMA data_version` is unchanged no query runs. Returns 0 and *out, or a
 * negative code. */
int sh_db_schema_version(struct sh_db *db, int64_t *out);

struct sh_db_stmt_stats {
    uint64_t hits;      /* sh_db_prepare served from the cache */
    uint64_t misses;    /* prepared anew (then cached) */
    uint64_t uncached;  /* prepared for a second concurrent use (not cached) */
    uint64_t evictions; /* least recently used statements finalized */
    uint32_t size;      /* statements in the cache now */
};

/* Snapshot of the read connection's statement cache counters. */
void sh_db_stmt_stats(struct sh_db *db, struct sh_db_stmt_stats *out);

/* ---- writes: jobs for the writer thread ---- */

struct sh_db_job;

/* Runs on the WRITER thread inside the batch transaction, under a SAVEPOINT of
 * its own: returning nonzero (a negative code, e.g. from sh_db_errcode) rolls
 * back this job's changes only. Must not BEGIN/COMMIT/ROLLBACK the outer
 * transaction and must reset every statement it steps (sh_db_writer_release
 * does). May write results into arg (or the structure embedding the job):
 * done() sees those writes. */
typedef int (*sh_db_job_run_fn)(sqlite3 *wdb, void *arg);

/* Runs on the LOOP thread once the job's batch has committed (rc = the job's
 * run result), or with the error if the batch could not commit (then nothing
 * of the batch is stored). The job may be freed or resubmitted inside. */
typedef void (*sh_db_job_done_fn)(struct sh_db_job *job, int rc);

/* A unit of write work. Caller-owned storage (embed it in a request, or
 * allocate it); it must stay valid and untouched until done() runs. */
struct sh_db_job {
    sh_db_job_run_fn run;
    sh_db_job_done_fn done;
    void *arg;
    /* private to the db module */
    struct sh_db_job *next_;
    int rc_;
};

/* Queues a job for the writer. Returns 0 (done() will be called exactly
 * once), SH_EBUSY if max_queue jobs are already in flight (answer 503 with
 * Retry-After; done() is not called), -ECANCELED once closing has started.
 * Loop thread only. Never blocks. */
int sh_db_submit(struct sh_db *db, struct sh_db_job *job);

/* For the bodies of run(): a cached statement on the write connection (the
 * writer thread's cache, or the CLI's inside sh_db_run_exclusive), with the
 * contract of sh_db_prepare. Writer thread / exclusive function only. */
int sh_db_writer_prepare(sqlite3 *wdb, const char *sql, sqlite3_stmt **out);
/* Gives it back, reset and unbound. */
void sh_db_writer_release(sqlite3 *wdb, sqlite3_stmt *stmt);

/* Maps an SQLite result code to a stagehand code, any thread: OK/ROW/DONE 0,
 * UNIQUE/PRIMARY KEY constraint SH_ECONFLICT, other constraints SH_EINVAL,
 * BUSY SH_ELOCKED (another process holds the lock), LOCKED SH_EBUSY, FULL
 * -ENOSPC, NOMEM -ENOMEM, anything else SH_EINTERNAL. */
int sh_db_errcode(int sqlite_rc);

/* Bumps the _meta schema version counter. Changes to _collections bump it by
 * trigger; call this for other schema changes. Writer thread / exclusive
 * function only. Returns 0 or a negative code. */
int sh_db_schema_bump(sqlite3 *wdb);

/* ---- table versions (versions.c) ----
 * Every table the write connection changes has its counter in _versions
 * bumped in the same transaction (once per commit), whichever process
 * wrote: a cache entry stamped with the versions of the tables it read is
 * current exactly while they are unchanged. */

/* The versions of tables[0..n) as the read connection sees them now (inside
 * the shared read transaction if one is open: the same snapshot as the reads
 * around it). A table never written reads 0. Values only grow; equal values
 * mean no change. Loop thread. Returns 0 or a negative code. */
int sh_db_versions(struct sh_db *db, const char *const *tables, size_t n, int64_t *out);
/* PRAGMA data_version of the read connection: changes when any connection
 * (another process included) committed since the last call. */
int sh_db_data_version(struct sh_db *db, int64_t *out);
/* The sum of every table's version: moves with any write to any table. */
int sh_db_versions_all(struct sh_db *db, int64_t *out);

/* Bumps a table's version (NULL: every table's) for a change the update hook
 * does not report: `DELETE FROM t` without WHERE (SQLite's truncate
 * shortcut). Writer thread / exclusive function, inside the transaction.
 * Returns 0 or a negative code. */
int sh_db_writer_touch(sqlite3 *wdb, const char *table);

/* ---- writer metrics ---- */
#define SH_DB_BATCH_BUCKETS 16 /* bucket i: batches of 2^i .. 2^(i+1)-1 jobs */
#define SH_DB_COMMIT_BUCKETS                                                                       \
    24 /* bucket i: COMMITs of 2^i .. 2^(i+1)-1 µs                                                \
          (bucket 0 includes 0 µs; the last, all above) */

struct sh_db_writer_stats {
    uint64_t batches;       /* transactions attempted */
    uint64_t jobs;          /* jobs run */
    uint64_t jobs_failed;   /* jobs whose run() failed (rolled back alone) */
    uint64_t commit_failed; /* batches whose BEGIN or COMMIT failed */
    uint64_t rejected;      /* submits refused with SH_EBUSY */
    uint64_t commit_us_total;
    uint64_t batch_size[SH_DB_BATCH_BUCKETS];
    uint64_t commit_us[SH_DB_COMMIT_BUCKETS];
    uint64_t wal_truncations;      /* TRUNCATE checkpoints past wal_max that completed */
    uint64_t wal_truncations_busy; /* ... that readers held up (tried again later) */
    uint32_t max_batch_seen;
    uint32_t queue_depth; /* submitted, not yet taken by the writer */
    uint32_t in_flight;   /* submitted, done() not yet called */
};

/* Consistent snapshot of the writer's counters. Loop thread. */
void sh_db_writer_stats(struct sh_db *db, struct sh_db_writer_stats *out);

/* ---- long reads on connections of their own (backups) ---- */

/* A read transaction held for long by another connection of this process
 * (a backup's snapshot) begins / ends. While any is under way the writer
 * skips its TRUNCATE checkpoints past wal_max, which would wait
 * busy_timeout_ms for that reader at every try and stall every write
 * meanwhile; the WAL grows until the read ends (SQLite's passive
 * checkpoints go on). Calls pair up. Any thread. */
void sh_db_long_read_begin(struct sh_db *db);
void sh_db_long_read_end(struct sh_db *db);

/* ---- the data directory's lock ---- */

/* Takes the exclusive lock of a serving process on <dir>/.lock (flock,
 * created 0600) and writes the pid into it. Returns 0 and the descriptor to
 * keep open for as long as the directory is served; SH_EBUSY if another live
 * process holds it (*holder: its pid, 0 if the file does not tell; holder may
 * be NULL); or -errno (logged). The lock is dropped by sh_db_dir_unlock or
 * when the process exits in any way. Blocking (file I/O): at start-up only. */
int sh_db_dir_lock(const char *dir, int *fd, long *holder);
/* The same lock held shared, by a member of a group of instances on one
 * directory (--redis): members coexist; a server holding it exclusively
 * and a member exclude each other (SH_EBUSY, *holder as above). */
int sh_db_dir_lock_group(const char *dir, int *fd, long *holder);
/* Releases a lock from sh_db_dir_lock; -1 is ignored. */
void sh_db_dir_unlock(int fd);

/* ---- the CLI's path, without a server ---- */

/* Opens <dir>/data.db like sh_db_open (same pragmas, migrations), runs
 * fn(wdb, arg) in one write transaction (BEGIN IMMEDIATE; waits up to the busy
 * timeout for a running server's writer), commits if fn returned 0 and rolls
 * back otherwise, and closes. Blocking: for command-line tools, never the
 * loop. fn may use sh_db_writer_prepare. Returns fn's nonzero result, or 0, or
 * a negative code of its own. */
int sh_db_run_exclusive(const char *dir, const struct sh_db_options *opt,
                        int (*fn)(sqlite3 *wdb, void *arg), void *arg);

#endif
