/*
 * Internal schema: numbered migrations, applied at open. The list below only
 * ever grows; a migration, once released, is never edited (a fix is a new
 * migration). `_migrations` records which versions were applied and when.
 * Everything pending is applied in ONE transaction, so a failure leaves the
 * database exactly as it was, and a database written by a newer stagehand
 * (a version this binary does not know) is refused rather than misread.
 *
 * `_meta.schema_version` counts schema changes: triggers on `_collections`
 * bump it on every insert, update and delete, whoever makes them (the server's
 * writer or the CLI in another process), so a running server notices by
 * polling it (sh_db_schema_version).
 */
#include "db_int.h"

#define BUMP "UPDATE _meta SET value = value + 1 WHERE key = 'schema_version';"

static const struct sh__migration migrations[] = {
    {1, "CREATE TABLE _collections ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  name TEXT UNIQUE NOT NULL COLLATE NOCASE,"
        "  type TEXT NOT NULL,"
        "  system INTEGER NOT NULL DEFAULT 0,"
        "  schema TEXT NOT NULL," /* the collection as JSON */
        "  created TEXT NOT NULL,"
        "  updated TEXT NOT NULL);"
        "CREATE TABLE _meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL);"
        "INSERT INTO _meta (key, value) VALUES ('schema_version', 0);"
        "CREATE TRIGGER _collections_ai AFTER INSERT ON _collections BEGIN " BUMP " END;"
        "CREATE TRIGGER _collections_au AFTER UPDATE ON _collections BEGIN " BUMP " END;"
        "CREATE TRIGGER _collections_ad AFTER DELETE ON _collections BEGIN " BUMP " END;"},
};

static int current_version(sqlite3 *wdb, int *out)
{
    sqlite3_stmt *st;
    int rc =
        sqlite3_prepare_v2(wdb, "SELECT coalesce(max(version), 0) FROM _migrations", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int record(sqlite3 *wdb, int version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(wdb,
                                "INSERT INTO _migrations (version, applied) VALUES "
                                "(?, strftime('%Y-%m-%d %H:%M:%fZ', 'now'))",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int(st, 1, version);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sh__db_migrate(sqlite3 *wdb, const struct sh__migration *list, size_t n)
{
    for (size_t i = 1; i < n; i++)
        SH_ASSERT(list[i].version > list[i - 1].version);
    int rc = sh__db_exec(wdb, "BEGIN IMMEDIATE", "migrations: begin");
    if (rc != SQLITE_OK)
        return sh_db_errcode(rc);
    rc = sh__db_exec(wdb,
                     "CREATE TABLE IF NOT EXISTS _migrations ("
                     "version INTEGER PRIMARY KEY, applied TEXT NOT NULL)",
                     "migrations: create _migrations");
    int cur = 0, last = n ? list[n - 1].version : 0, applied = 0;
    if (rc == SQLITE_OK && (rc = current_version(wdb, &cur)) != SQLITE_OK)
        sh__db_fail(wdb, rc, "migrations: read version");
    if (rc == SQLITE_OK && cur > last) {
        sh_log_error(SH_DB_MOD,
                     "database schema version %d is newer than this binary's %d: refusing to open",
                     cur, last);
        sqlite3_exec(wdb, "ROLLBACK", NULL, NULL, NULL);
        return SH_EINVAL;
    }
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        if (list[i].version <= cur)
            continue;
        rc = sh__db_exec(wdb, list[i].sql, "migration");
        if (rc == SQLITE_OK && (rc = record(wdb, list[i].version)) != SQLITE_OK)
            sh__db_fail(wdb, rc, "migrations: record");
        if (rc != SQLITE_OK)
            sh_log_error(SH_DB_MOD, "migration %d failed; nothing applied", list[i].version);
        applied++;
    }
    if (rc == SQLITE_OK)
        rc = sh__db_exec(wdb, "COMMIT", "migrations: commit");
    if (rc != SQLITE_OK) {
        if (!sqlite3_get_autocommit(wdb))
            sqlite3_exec(wdb, "ROLLBACK", NULL, NULL, NULL);
        return sh_db_errcode(rc);
    }
    if (applied)
        sh_log_info(SH_DB_MOD, "schema migrated from version %d to %d", cur, last);
    return 0;
}

int sh__db_migrate_all(sqlite3 *wdb)
{
    return sh__db_migrate(wdb, migrations, SH_ARRAY_LEN(migrations));
}

int sh_db_schema_bump(sqlite3 *wdb)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, BUMP, &st);
    if (rc)
        return rc;
    rc = sqlite3_step(st);
    sh_db_writer_release(wdb, st);
    return rc == SQLITE_DONE ? 0 : sh__db_fail(wdb, rc, "schema version bump");
}
