/*
 * Connections to <dir>/data.db and the settings every one of them needs: the
 * write connection (WAL, synchronous FULL or NORMAL, foreign keys, busy
 * timeout, migrations), the loop's read-only connection, the mapping of
 * SQLite result codes to stagehand's, and the CLI's exclusive path, which
 * opens the database, runs one function in one write transaction and closes.
 *
 * Connections are opened with SQLITE_OPEN_NOMUTEX: each is used by one thread
 * at a time (the loop, the writer, or a CLI), so SQLite's per-connection mutex
 * would only cost time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"

void sh_db_options_init(struct sh_db_options *o)
{
    memset(o, 0, sizeof(*o));
    o->busy_timeout_ms = 5000;
    o->read_busy_ms = 100;
    o->read_budget_ms = 200;
    o->read_wall_ms = 5000;
    o->budget_check_steps = 1000;
    o->stmt_cache_size = 64;
    o->max_batch = 1024;
    o->max_queue = 10000;
    o->wal_max = 64u << 20;
    o->read_cache = 8u << 20;
    o->write_cache = 32u << 20;
}

int sh_db_errcode(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_CONSTRAINT:
        if (sqlite_rc == SQLITE_CONSTRAINT_UNIQUE || sqlite_rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return SH_ECONFLICT;
        return SH_EINVAL;
    case SQLITE_BUSY:
        return SH_ELOCKED;
    case SQLITE_LOCKED:
        return SH_EBUSY;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_NOMEM:
        return -ENOMEM;
    default:
        return SH_EINTERNAL;
    }
}

int sh__db_fail(sqlite3 *conn, int rc, const char *what)
{
    int sys = conn ? sqlite3_system_errno(conn) : 0;
    sh_log_error(SH_DB_MOD, "%s: %s (sqlite %d, errno %d)", what, conn ? sqlite3_errmsg(conn) : "?",
                 rc, sys);
    /* A full disk may surface as an I/O error of the write that hit it. */
    if ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT || sys == EFBIG))
        return -ENOSPC;
    return sh_db_errcode(rc);
}

int sh__db_exec(sqlite3 *conn, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(conn, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        sh_log_error(SH_DB_MOD, "%s: %s (sqlite %d)", what, msg ? msg : sqlite3_errstr(rc), rc);
    sqlite3_free(msg);
    return rc;
}

int sh__db_path(const char *dir, char **out)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int err = errno;
        sh_log_error(SH_DB_MOD, "cannot create data directory %s: %s", dir, strerror(err));
        return -err;
    }
    size_t n = strlen(dir) + sizeof("/data.db");
    *out = sh_malloc(n);
    snprintf(*out, n, "%s/data.db", dir);
    return 0;
}

/* Refuses an existing file that is not a database before SQLite sees it:
 * SQLite takes a 0-byte file for a new, empty database, which would hide
 * every collection and account and pile new writes into a fresh file; and
 * it reports a damaged header only at the first read. */
static int check_file(const char *path, int init_empty)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* a new database */
        int err = errno;
        sh_log_error(SH_DB_MOD, "cannot open %s: %s", path, strerror(err));
        return -err;
    }
    unsigned char h[100];
    struct stat st;
    ssize_t n = fstat(fd, &st) == 0 ? pread(fd, h, sizeof(h), 0) : -1;
    int err = n < 0 ? errno : 0;
    close(fd);
    if (n < 0) {
        sh_log_error(SH_DB_MOD, "cannot read %s: %s", path, strerror(err));
        return -err;
    }
    if (st.st_size == 0) {
        if (init_empty) {
            sh_log_warn(SH_DB_MOD, "%s is empty: initialising a new database (--init-empty)", path);
            return 0;
        }
        sh_log_error(
            SH_DB_MOD,
            "%s exists but is empty (0 bytes): refusing to start with a new database in "
            "its place; restore it from a backup, or start `stagehand serve --init-empty` to "
            "initialise it",
            path);
        return SH_EINVAL;
    }
    unsigned page = n == sizeof(h) ? (unsigned)h[16] << 8 | h[17] : 0;
    if (page == 1)
        page = 65536;
    bool ok = n == sizeof(h) && memcmp(h, "SQLite format 3", 16) == 0 && page >= 512 &&
              (page & (page - 1)) == 0 && h[18] >= 1 && h[18] <= 2 && h[19] >= 1 && h[19] <= 2 &&
              h[21] == 64 && h[22] == 32 && h[23] == 32 && (uint64_t)st.st_size >= page;
    if (!ok) {
        sh_log_error(SH_DB_MOD,
                     "%s is not a SQLite database (missing or damaged header, %lld bytes): "
                     "refusing to start; restore it from a backup or move it aside",
                     path, (long long)st.st_size);
        return SH_EINVAL;
    }
    return 0;
}

/* Opening a file that is not a database is a user's mistake, not ours. */
static int open_code(int rc)
{
    return (rc & 0xff) == SQLITE_NOTADB ? SH_EINVAL : sh_db_errcode(rc);
}

static int set_wal(sqlite3 *wdb)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(wdb, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
        if (rc != SQLITE_OK)
            sh_log_error(SH_DB_MOD, "cannot use WAL (journal_mode is %s)", mode ? mode : "?");
    }
    sqlite3_finalize(st);
    return rc;
}

int sh__db_open_writer(const char *path, const struct sh_db_options *opt, sqlite3 **out)
{
    sqlite3 *wdb = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = check_file(path, opt->init_empty);
    if (rc)
        return rc;
    rc = sqlite3_open_v2(path, &wdb, flags, NULL);
    if (rc != SQLITE_OK) {
        sh__db_fail(wdb, rc, "open");
        rc = open_code(rc);
        goto fail;
    }
    sqlite3_extended_result_codes(wdb, 1);
    sqlite3_busy_timeout(wdb, (int)opt->busy_timeout_ms);
    rc = set_wal(wdb);
    if (rc != SQLITE_OK) {
        sh__db_fail(wdb, rc, "journal_mode=WAL");
        rc = open_code(rc);
        goto fail;
    }
    /* wal_autocheckpoint: checkpoint every ~40 MB of WAL (10 000 pages)
     * instead of SQLite's 1 000 pages: under a stream of group commits the
     * default checkpoints several times a second and was a fifth of the cost
     * of a create in the benchmark (52-56 -> 42-45 CPU us per create).
     * Durability is unchanged: it is set by synchronous. */
    rc = sh__db_exec(wdb,
                     opt->sync_normal ? "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                                        "PRAGMA wal_autocheckpoint=10000"
                                      : "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                                        "PRAGMA wal_autocheckpoint=10000",
                     "pragmas");
    if (rc != SQLITE_OK) {
        rc = open_code(rc);
        goto fail;
    }
    /* After a checkpoint resets the WAL, SQLite truncates the file to this
     * size: without it the WAL keeps its high-water mark for ever. */
    if (opt->wal_max) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%llu",
                 (unsigned long long)opt->wal_max);
        rc = sh__db_exec(wdb, sql, "journal_size_limit");
        if (rc != SQLITE_OK) {
            rc = open_code(rc);
            goto fail;
        }
    }
    if (opt->write_cache) {
        char sql[64];
        uint64_t kib = opt->write_cache / 1024;
        snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%llu",
                 (unsigned long long)(kib < 1           ? 1
                                      : kib > INT32_MAX ? INT32_MAX
                                                        : kib));
        rc = sh__db_exec(wdb, sql, "cache_size");
        if (rc != SQLITE_OK) {
            rc = open_code(rc);
            goto fail;
        }
    }
    rc = sh__db_migrate_all(wdb);
    if (rc)
        goto fail;
    *out = wdb;
    return 0;
fail:
    sqlite3_close(wdb);
    return rc;
}

int sh__db_open_reader(const char *path, const struct sh_db_options *opt, sqlite3 **out)
{
    sqlite3 *rdb = NULL;
    int rc = sqlite3_open_v2(path, &rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sh__db_fail(rdb, rc, "open read connection");
        rc = open_code(rc);
        sqlite3_close(rdb);
        return rc;
    }
    sqlite3_extended_result_codes(rdb, 1);
    sqlite3_busy_timeout(rdb, (int)opt->read_busy_ms);
    if (opt->read_cache) {
        /* The loop reads every list through this connection: with SQLite's
         * 2 MiB, a back-relation semi-join reading 1 000 scattered rows of a
         * 200 MB table re-read their pages from the OS on every request. */
        uint64_t kib = opt->read_cache / 1024;
        if (kib < 1)
            kib = 1;
        if (kib > INT32_MAX)
            kib = INT32_MAX;
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%llu", (unsigned long long)kib);
        rc = sqlite3_exec(rdb, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            sh__db_fail(rdb, rc, "set the read connection's cache");
            rc = open_code(rc);
            sqlite3_close(rdb);
            return rc;
        }
    }
    *out = rdb;
    return 0;
}

int sh_db_run_exclusive(const char *dir, const struct sh_db_options *opt,
                        int (*fn)(sqlite3 *wdb, void *arg), void *arg)
{
    struct sh_db_options defaults;
    if (!opt) {
        sh_db_options_init(&defaults);
        opt = &defaults;
    }
    char *path = NULL;
    sqlite3 *wdb = NULL;
    int rc = sh__db_path(dir, &path);
    if (rc)
        return rc;
    rc = sh__db_open_writer(path, opt, &wdb);
    if (rc)
        goto out;

    struct sh__stmt_cache cache;
    sh__stmt_cache_init(&cache, wdb, opt->stmt_cache_size);
    sh__stmt_cache_bind_thread(&cache);
    struct sh__versions versions; /* this process writes too: bump what it changes */
    sh__versions_attach(wdb, &versions);
    int src = sqlite3_exec(wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = sh__db_fail(wdb, src, "begin");
    } else {
        rc = fn(wdb, arg);
        if (rc == 0)
            rc = sh__versions_flush(wdb, &versions);
        if (rc == 0) {
            src = sqlite3_exec(wdb, "COMMIT", NULL, NULL, NULL);
            if (src != SQLITE_OK)
                rc = sh__db_fail(wdb, src, "commit");
        }
        if (!sqlite3_get_autocommit(wdb))
            sqlite3_exec(wdb, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_update_hook(wdb, NULL, NULL);
    sh__stmt_cache_deinit(&cache);
    src = sqlite3_close(wdb);
    if (src != SQLITE_OK) {
        sh_log_error(SH_DB_MOD, "close: %s (statements left unfinalized?)", sqlite3_errstr(src));
        if (rc == 0)
            rc = SH_EINTERNAL;
    }
out:
    free(path);
    return rc;
}
