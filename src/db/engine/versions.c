/*
 * Table versions: a counter per table in `_versions`, bumped in the same
 * transaction as every change to the table, so that whoever reads the
 * database — this process, another stagehand on the same file, a cache
 * keyed by them — can tell whether a table changed since it last looked,
 * with one point read and no message that could be lost.
 *
 * How a change is noticed. SQLite's update hook reports every row inserted,
 * updated or deleted through the write connection, by table name, foreign
 * key actions included; the writer keeps the set of tables touched by the
 * open transaction (a few names: a linear scan with the last hit first) and
 * just before COMMIT bumps each of them once:
 *     INSERT INTO _versions (tbl, v) VALUES (?, 1)
 *       ON CONFLICT (tbl) DO UPDATE SET v = v + 1
 * one statement per table per group commit, whatever the number of rows.
 * The bump commits with the data or not at all: a snapshot that holds a
 * write holds its bump. A job rolled back to its savepoint may leave its
 * tables bumped anyway, which costs a cache miss, never a stale answer.
 *
 * What the hook does not see, and the answer: `_versions` is WITHOUT ROWID
 * (so its own bumps are not reported back); a DELETE without WHERE on a
 * table without triggers takes SQLite's truncate shortcut and is not
 * reported: code that empties a table calls sh_db_writer_touch. More tables
 * in one transaction than the set holds bump the global version "*" instead,
 * which sh_db_versions adds into every answer.
 */
#include <errno.h>
#include <string.h>

#include "engine_int.h"

#define BUMP_SQL                                                                                   \
    "INSERT INTO _versions (tbl, v) VALUES (?1, 1) ON CONFLICT (tbl) DO UPDATE SET v = v + 1"
#define READ_SQL "SELECT v FROM _versions WHERE tbl = ?1"

static void on_update(void *arg, int op, const char *dbname, const char *table, sqlite3_int64 rowid)
{
    (void)op;
    (void)rowid;
    struct sh__versions *v = arg;
    if (v->all || strcmp(dbname, "main") != 0)
        return;
    if (v->n && strcmp(v->names[v->last], table) == 0)
        return;
    for (unsigned i = 0; i < v->n; i++) {
        if (strcmp(v->names[i], table) == 0) {
            v->last = i;
            return;
        }
    }
    size_t len = strlen(table);
    if (v->n == SH__VERSIONS_TABLES || len >= sizeof v->names[0]) {
        v->all = 1;
        return;
    }
    memcpy(v->names[v->n], table, len + 1);
    v->last = v->n++;
}

void sh__versions_attach(sqlite3 *wdb, struct sh__versions *v)
{
    memset(v, 0, sizeof *v);
    sqlite3_update_hook(wdb, on_update, v);
}

static int bump(sqlite3 *wdb, const char *table)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, BUMP_SQL, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sh_db_writer_release(wdb, st);
    return src == SQLITE_DONE ? 0 : sh__db_fail(wdb, src, "version bump");
}

int sh__versions_flush(sqlite3 *wdb, struct sh__versions *v)
{
    int rc = 0;
    if (v->all)
        rc = bump(wdb, "*");
    for (unsigned i = 0; rc == 0 && !v->all && i < v->n; i++)
        rc = bump(wdb, v->names[i]);
    sh__versions_reset(v);
    return rc;
}

void sh__versions_reset(struct sh__versions *v)
{
    v->n = 0;
    v->last = 0;
    v->all = 0;
}

int sh_db_writer_touch(sqlite3 *wdb, const char *table)
{
    return bump(wdb, table ? table : "*");
}

int sh_db_versions(struct sh_db *db, const char *const *tables, size_t n, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sh_db_prepare(db, READ_SQL, &st);
    if (rc)
        return rc;
    int64_t all = 0;
    for (size_t i = 0; rc == 0 && i <= n; i++) {
        sqlite3_bind_text(st, 1, i == n ? "*" : tables[i], -1, SQLITE_STATIC);
        int src = sh_db_step(db, st); /* 1 row, 0 none, or a negative code */
        int64_t val = src == 1 ? sqlite3_column_int64(st, 0) : 0;
        if (src < 0)
            rc = src;
        sqlite3_reset(st);
        if (i == n)
            all = val;
        else
            out[i] = val;
    }
    sh_db_release(db, st);
    for (size_t i = 0; rc == 0 && i < n; i++)
        out[i] += all; /* both only grow: equal sums mean neither moved */
    return rc;
}

int sh_db_versions_all(struct sh_db *db, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sh_db_prepare(db, "SELECT coalesce(sum(v), 0) FROM _versions", &st);
    if (rc)
        return rc;
    rc = sh_db_step(db, st);
    *out = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
    sh_db_release(db, st);
    return rc == 1 ? 0 : rc < 0 ? rc : SH_EINTERNAL;
}

int sh_db_data_version(struct sh_db *db, int64_t *out)
{
    if (!db->rdb)
        return -ECANCELED;
    return sh__db_data_version(db, out);
}
