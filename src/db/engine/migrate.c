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
#include "engine_int.h"

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
    /* Accounts (API.md "Auth"): sessions, the token secret of every auth
     * collection stored so far (authToken.secret; new ones get theirs when
     * parsed), and the system collection _superusers with its table (the
     * JSON and DDL stagehand's schema code produced for it, frozen here). */
    {2, "CREATE TABLE _sessions ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  collectionId TEXT NOT NULL,"
        "  recordId TEXT NOT NULL,"
        "  created INTEGER NOT NULL," /* Unix ms, as lastUsed and expires */
        "  lastUsed INTEGER NOT NULL,"
        "  expires INTEGER NOT NULL,"
        "  ip TEXT NOT NULL DEFAULT '',"
        "  userAgent TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX _sessions_record ON _sessions (collectionId, recordId);"
        "CREATE INDEX _sessions_expires ON _sessions (expires);"
        "UPDATE _collections SET schema = json_set(schema, '$.authToken.secret',"
        "  lower(hex(randomblob(25)))) WHERE type = 'auth' AND"
        "  json_extract(schema, '$.authToken.secret') IS NULL;"
        "CREATE TABLE \"_superusers\" (\"id\" TEXT PRIMARY KEY DEFAULT"
        "  ('r'||lower(hex(randomblob(7)))) NOT NULL, \"password\" TEXT DEFAULT '' NOT NULL,"
        "  \"tokenKey\" TEXT DEFAULT '' NOT NULL, \"email\" TEXT DEFAULT '' NOT NULL,"
        "  \"emailVisibility\" INTEGER DEFAULT 0 NOT NULL, \"verified\" INTEGER DEFAULT 0 NOT NULL,"
        "  \"created\" TEXT DEFAULT '' NOT NULL, \"updated\" TEXT DEFAULT '' NOT NULL);"
        "CREATE UNIQUE INDEX \"idx_tokenKey_pbc_3142635823\" ON \"_superusers\" (\"tokenKey\");"
        "CREATE UNIQUE INDEX \"idx_email_pbc_3142635823\" ON \"_superusers\""
        "  (\"email\" COLLATE NOCASE) WHERE \"email\" != '';"
        "INSERT INTO _collections (id, name, type, system, schema, created, updated) VALUES"
        "  ('pbc_3142635823', '_superusers', 'auth', 1, json_set('"
        "{\"id\":\"pbc_3142635823\",\"name\":\"_superusers\",\"type\":\"auth\","
        "\"system\":true,\"fields\":[{\"autogeneratePattern\":\"[a-z0-9]{15}\","
        "\"hidden\":false,\"id\":\"text3208210256\",\"max\":15,\"min\":15,\"name\":\"id\","
        "\"pattern\":\"^[a-z0-9]+$\",\"presentable\":false,\"primaryKey\":true,"
        "\"required\":true,\"system\":true,\"type\":\"text\"},{\"cost\":0,\"hidden\":true,"
        "\"id\":\"password901924565\",\"max\":0,\"min\":8,\"name\":\"password\","
        "\"pattern\":\"\",\"presentable\":false,\"required\":true,\"system\":true,"
        "\"type\":\"password\"},{\"autogeneratePattern\":\"[a-zA-Z0-9]{50}\",\"hidden\":true,"
        "\"id\":\"text2504183744\",\"max\":60,\"min\":30,\"name\":\"tokenKey\","
        "\"pattern\":\"\",\"presentable\":false,\"primaryKey\":false,\"required\":true,"
        "\"system\":true,\"type\":\"text\"},{\"exceptDomains\":null,\"hidden\":false,"
        "\"id\":\"email3885137012\",\"name\":\"email\",\"onlyDomains\":null,"
        "\"presentable\":false,\"required\":true,\"system\":true,\"type\":\"email\"},"
        "{\"hidden\":false,\"id\":\"bool1547992806\",\"name\":\"emailVisibility\","
        "\"presentable\":false,\"required\":false,\"system\":true,\"type\":\"bool\"},"
        "{\"hidden\":false,\"id\":\"bool256245529\",\"name\":\"verified\","
        "\"presentable\":false,\"required\":false,\"system\":true,\"type\":\"bool\"},"
        "{\"hidden\":false,\"id\":\"autodate2990389176\",\"name\":\"created\","
        "\"onCreate\":true,\"onUpdate\":false,\"presentable\":false,\"system\":false,"
        "\"type\":\"autodate\"},{\"hidden\":false,\"id\":\"autodate3332085495\","
        "\"name\":\"updated\",\"onCreate\":true,\"onUpdate\":true,\"presentable\":false,"
        "\"system\":false,\"type\":\"autodate\"}],"
        "\"indexes\":[\"CREATE UNIQUE INDEX `idx_tokenKey_pbc_3142635823` ON `_superusers` "
        "(`tokenKey`)\","
        "\"CREATE UNIQUE INDEX `idx_email_pbc_3142635823` ON `_superusers` (`email` COLLATE "
        "NOCASE) WHERE `email` != ''''\"],"
        "\"listRule\":null,\"viewRule\":null,\"createRule\":null,\"updateRule\":null,"
        "\"deleteRule\":null,\"authRule\":\"\",\"manageRule\":null,"
        "\"passwordAuth\":{\"enabled\":true,\"identityFields\":[\"email\"]},"
        "\"authToken\":{\"duration\":86400}}"
        "', '$.authToken.secret', lower(hex(randomblob(25)))),"
        "  strftime('%Y-%m-%d %H:%M:%fZ', 'now'), strftime('%Y-%m-%d %H:%M:%fZ', 'now'));"},
    /* Table versions (versions.c): bumped with every change, read by caches
     * to know whether what they hold is current. WITHOUT ROWID keeps its own
     * bumps out of the update hook. */
    {3, "CREATE TABLE _versions (tbl TEXT PRIMARY KEY NOT NULL, v INTEGER NOT NULL) "
        "WITHOUT ROWID;"},
    /* Settings (GET/PATCH /api/settings): PocketBase's _params table, one
     * row per key, the value JSON; "settings" holds the settings object. */
    {4, "CREATE TABLE _params ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  value TEXT NOT NULL,"
        "  created TEXT NOT NULL DEFAULT '',"
        "  updated TEXT NOT NULL DEFAULT '');"},
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

int sh__db_migrations_last(void)
{
    return migrations[SH_ARRAY_LEN(migrations) - 1].version;
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
