/*
 * The schema a new data directory starts with (--init-schema): PocketBase's
 * default `users` auth collection (id `_pb_users_auth_`, its fields but the
 * `avatar` file field, which stagehand has no type for, and its rules: each
 * user lists, views, updates and deletes only itself; anyone signs up).
 *
 * "New" is decided once per data directory and remembered in _meta
 * (`init_schema`): the first server start on a database that has no
 * collection but the system ones creates `users` (with `default`), and
 * every start after that does nothing, so a `users` deleted later stays
 * deleted, and a directory first served with `none` never gets one.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/catalog.h"
#include "stagehand/core.h"

#define MOD "schema"

static const char users_json[] =
    "{\"id\":\"_pb_users_auth_\",\"name\":\"users\",\"type\":\"auth\",\"system\":false,"
    "\"fields\":[{\"name\":\"name\",\"type\":\"text\",\"max\":255,\"id\":\"text1579384326\"}],"
    "\"listRule\":\"id = @request.auth.id\",\"viewRule\":\"id = @request.auth.id\","
    "\"createRule\":\"\",\"updateRule\":\"id = @request.auth.id\","
    "\"deleteRule\":\"id = @request.auth.id\",\"authRule\":\"\",\"manageRule\":null}";

struct init_ctx {
    bool with_default;
    bool created;
    struct sh_schema_error err;
};

static int one_int(sqlite3 *wdb, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, sql, &st);
    if (rc)
        return rc;
    int src = sqlite3_step(st);
    *out = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sh_db_writer_release(wdb, st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : sh_db_errcode(src);
}

static int init_fn(sqlite3 *wdb, void *arg)
{
    struct init_ctx *x = arg;
    int64_t seen, others;
    int rc = one_int(wdb, "SELECT count(*) FROM _meta WHERE key = 'init_schema'", &seen);
    if (rc || seen > 0)
        return rc;
    sqlite3_stmt *st;
    rc =
        sh_db_writer_prepare(wdb, "INSERT INTO _meta (key, value) VALUES ('init_schema', ?1)", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, x->with_default ? "default" : "none", -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sh_db_writer_release(wdb, st);
    if (src != SQLITE_DONE)
        return sh_db_errcode(src);
    rc = one_int(wdb, "SELECT count(*) FROM _collections WHERE system = 0", &others);
    if (rc || !x->with_default || others != 0)
        return rc;
    struct sh_catalog_snap *snap;
    rc = sh_catalog_load(wdb, 0, &snap, &x->err);
    if (rc)
        return rc;
    cJSON *json = cJSON_Parse(users_json);
    SH_ASSERT(json);
    struct sh_collection *users = NULL;
    rc = sh_collection_parse(json, NULL, &snap->resolver, &users, &x->err);
    cJSON_Delete(json);
    if (!rc)
        rc = sh_catalog_apply(wdb, NULL, users, &x->err);
    x->created = rc == 0;
    sh_collection_free(users);
    sh_catalog_snap_free(snap);
    return rc;
}

int sh_catalog_init_schema(const char *dir, const struct sh_db_options *opt, bool with_default)
{
    struct init_ctx x = {.with_default = with_default};
    int rc = sh_db_run_exclusive(dir, opt, init_fn, &x);
    if (rc)
        sh_log_error(MOD, "initial schema: %s (code %d)", x.err.message[0] ? x.err.message : "",
                     rc);
    else if (x.created)
        sh_log_info(MOD, "new data directory: created the default `users` collection");
    return rc;
}
