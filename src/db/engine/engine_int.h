/*
 * Internals of the db storage engine shared by db.c (the handle, reads, the
 * budget), open.c (connections, pragmas, the CLI path), migrate.c (internal
 * schema), stmt_cache.c (prepared statements) and writer.c (the writer
 * thread). Not a public interface: tests include it to reach the migration
 * runner and the statement cache directly.
 */
#ifndef STAGEHAND_DB_INT_H
#define STAGEHAND_DB_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "stagehand/db.h"
#include "stagehand/lru.h"

#define SH_DB_MOD "db"

/* ---- statement cache (stmt_cache.c): one per connection, one thread ---- */
struct sh__stmt_entry;

struct sh__stmt_out {
    sqlite3_stmt *stmt;
    struct sh__stmt_entry *entry; /* NULL: a private statement, finalized on put */
};

struct sh__stmt_cache {
    sqlite3 *conn;
    unsigned cap;
    struct sh_lru lru;        /* struct sh__stmt_entry by SQL text */
    struct sh__stmt_out *out; /* checked-out statements */
    size_t nout, capout;
    struct sh_db_stmt_stats stats;
};

/* Prepares c for conn (cap statements, at least 1). Allocates. */
void sh__stmt_cache_init(struct sh__stmt_cache *c, sqlite3 *conn, unsigned cap);
/* Finalizes every statement, also those still checked out. */
void sh__stmt_cache_deinit(struct sh__stmt_cache *c);
/* Checks out a reset statement for sql: 0, or SH_EINVAL (logged). */
int sh__stmt_cache_get(struct sh__stmt_cache *c, const char *sql, sqlite3_stmt **out);
/* Gives a statement back (reset, unbound); a private one is finalized. */
void sh__stmt_cache_put(struct sh__stmt_cache *c, sqlite3_stmt *stmt);
/* The cache sh_db_writer_prepare uses on this thread (writer or CLI). */
void sh__stmt_cache_bind_thread(struct sh__stmt_cache *c);

/* ---- connections (open.c) ---- */

/* "<dir>/data.db", heap-allocated; creates dir (0700) if missing. 0 or -errno. */
int sh__db_path(const char *dir, char **out);
/* Opens the write connection with the pragmas of opt and applies the
 * migrations. 0 or a negative code (logged). */
int sh__db_open_writer(const char *path, const struct sh_db_options *opt, sqlite3 **out);
/* Opens the read-only connection. 0 or a negative code (logged). */
int sh__db_open_reader(const char *path, const struct sh_db_options *opt, sqlite3 **out);
/* sqlite3_exec that logs a failure with what; returns the SQLite code. */
int sh__db_exec(sqlite3 *conn, const char *sql, const char *what);
/* Logs an SQLite failure (message of conn) once and returns sh_db_errcode. */
int sh__db_fail(sqlite3 *conn, int rc, const char *what);

/* ---- migrations (migrate.c) ---- */
struct sh__migration {
    int version; /* 1, 2, ... in order */
    const char *sql;
};

/* Applies the migrations of list newer than the highest recorded in
 * _migrations, all in one IMMEDIATE transaction (all or none). SH_EINVAL if
 * the database records a version newer than the list knows. */
int sh__db_migrate(sqlite3 *wdb, const struct sh__migration *list, size_t n);
/* sh__db_migrate with stagehand's own list. */
int sh__db_migrate_all(sqlite3 *wdb);
/* The version of stagehand's last migration (for tests). */
int sh__db_migrations_last(void);

/* ---- table versions (versions.c) ---- */
#define SH__VERSIONS_TABLES 32

/* Tables touched by the write connection's open transaction. */
struct sh__versions {
    char names[SH__VERSIONS_TABLES][128];
    unsigned n, last;
    int all; /* more tables (or a longer name) than fit: bump "*" */
};

/* Starts recording the tables wdb changes into v (SQLite's update hook). */
void sh__versions_attach(sqlite3 *wdb, struct sh__versions *v);
/* Inside the transaction, just before COMMIT: bumps every recorded table's
 * version and forgets them. 0 or a negative code (then roll back). */
int sh__versions_flush(sqlite3 *wdb, struct sh__versions *v);
/* Forgets the recorded tables (after a rollback). */
void sh__versions_reset(struct sh__versions *v);

/* ---- the handle (db.c, writer.c) ---- */
#define SH__WRITER_NSTMTS 6

struct sh__writer {
    sqlite3 *wdb;                           /* owned by the writer thread once started */
    sqlite3_stmt *stmts[SH__WRITER_NSTMTS]; /* BEGIN, COMMIT, ... (writer.c) */
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t cond;
    /* under lock */
    struct sh_db_job *q_head, *q_tail;
    uint32_t q_len;
    struct sh_db_job *done_head, *done_tail;
    int stopping;      /* loop: finish the queue and stop */
    int drained;       /* writer: queue finished, waiting for reader_closed */
    int reader_closed; /* loop: the read connection is closed */
    int exited;        /* writer: write connection closed, thread returning */
    int close_rc;      /* writer: sqlite3_close of the write connection */
    struct sh_db_writer_stats stats;
    /* writer thread only */
    struct sh__versions versions; /* tables the open transaction touched */
    uint32_t wal_frames;          /* frames in the WAL after the last commit */
    unsigned page_size;           /* of the database, for the WAL's size */
    uint64_t checkpoint_next;     /* uv_hrtime before which no TRUNCATE is tried */
    unsigned checkpoint_warned;
};

struct sh_db {
    uv_loop_t *loop;
    struct sh_db_options opt;
    char *path;

    /* loop thread */
    sqlite3 *rdb;
    struct sh__stmt_cache rcache;
    sqlite3_stmt *begin_stmt, *commit_stmt;
    sqlite3_stmt *dv_stmt; /* PRAGMA data_version: checked once per loop turn, kept prepared */
    uint64_t budget_ns;    /* CPU time of one read query; 0: no budget */
    uint64_t wall_ns;      /* elapsed time of one read query; 0: no limit */
    uint64_t budget_start; /* uv_hrtime; 0: not armed; set at the first check */
    uint64_t budget_cpu0;  /* the loop thread's CPU time then; 0: not read yet */
    int budget_tripped;
    int64_t data_version; /* last PRAGMA data_version seen */
    int version_fresh;    /* schema_version read this loop turn (reset by read_end) */
    int64_t schema_version;
    int have_schema_version;
    uv_check_t check;
    uv_async_t async;
    int closing;
    int handles_open;
    uint32_t in_flight;
    uint64_t rejected;
    sh_db_close_cb close_cb;
    void *close_arg;
    int close_rc;

    struct sh__writer w;
    /* any thread: long reads of other connections under way (backups);
     * while nonzero the writer tries no TRUNCATE checkpoint */
    atomic_int long_reads;
};

/* Prepares the writer's statements, initialises the async handle (then
 * db->handles_open = 1) and starts the writer thread on db->w.wdb. 0 or a
 * negative code; on failure the caller closes what was set up. */
int sh__writer_start(struct sh_db *db);
/* Finalizes the writer's own statements (before closing its connection). */
void sh__writer_free_stmts(struct sh__writer *w);
/* Asks the writer to finish the queue and stop (loop thread). */
void sh__writer_stop(struct sh_db *db);
/* Closes the read side once the writer has drained; called by the async
 * callback (db.c). */
void sh__db_reader_close(struct sh_db *db);
/* Closes the handles and frees db once the writer has exited (db.c). */
void sh__db_finish_close(struct sh_db *db);

/* PRAGMA data_version on the read connection through its own prepared
 * statement (no statement-cache lookup); 0 or SH_EINTERNAL. Loop thread. */
int sh__db_data_version(struct sh_db *db, int64_t *out);

#endif
