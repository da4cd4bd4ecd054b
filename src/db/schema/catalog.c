/*
 * The catalog's snapshots and the loop's catalog: loading `_collections`
 * (each row's JSON definition, parsed together as one import batch so that
 * relations between them resolve in any order), reference counting, lookup,
 * and the 1 s poll of the schema version that replaces the snapshot when
 * another process (the CLI) or this one changed the schema. Schema writes
 * are catalog_apply.c's.
 */
#include "stagehand/catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"

#define MOD "catalog"

static const struct sh_collection *snap_find_cb(void *ud, const char *key)
{
    return sh_catalog_snap_find(ud, key);
}

const struct sh_collection *sh_catalog_snap_find(const struct sh_catalog_snap *s,
                                                 const char *id_or_name)
{
    if (!s || !id_or_name)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->list[i]->id, id_or_name) == 0)
            return s->list[i];
    for (size_t i = 0; i < s->n; i++)
        if (sh_schema_name_eq(s->list[i]->name, id_or_name))
            return s->list[i];
    return NULL;
}

static struct sh_catalog_snap *snap_new(int64_t version)
{
    struct sh_catalog_snap *s = sh_calloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->version = version;
    s->resolver.find = snap_find_cb;
    s->resolver.ud = s;
    return s;
}

struct sh_catalog_snap *sh_catalog_snap_ref(struct sh_catalog_snap *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void sh_catalog_snap_free(struct sh_catalog_snap *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    sh_collection_list_free(s->list, s->n);
    free(s);
}

int sh_catalog_load(sqlite3 *conn, int64_t version, struct sh_catalog_snap **out,
                    struct sh_schema_error *err)
{
    *out = NULL;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        conn, "SELECT schema, created, updated FROM _collections ORDER BY rowid", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sh_log_error(MOD, "cannot read _collections: %s", sqlite3_errmsg(conn));
        return sh_db_errcode(rc);
    }
    cJSON *arr = cJSON_CreateArray();
    cJSON *stamps = cJSON_CreateArray(); /* [created, updated] of each row */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *cr = (const char *)sqlite3_column_text(st, 1);
        const char *up = (const char *)sqlite3_column_text(st, 2);
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(cr ? cr : ""));
        cJSON_AddItemToArray(pair, cJSON_CreateString(up ? up : ""));
        cJSON_AddItemToArray(stamps, pair);
        const char *text = (const char *)sqlite3_column_text(st, 0);
        cJSON *o = text ? cJSON_Parse(text) : NULL;
        if (!o) {
            /* Not ours to repair: refuse rather than serve a partial schema. */
            sh_log_error(MOD, "a stored collection definition is not valid JSON");
            rc = SQLITE_CORRUPT;
            break;
        }
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        cJSON_Delete(stamps);
        if (rc != SQLITE_CORRUPT)
            sh_log_error(MOD, "cannot read _collections: %s", sqlite3_errmsg(conn));
        return rc == SQLITE_CORRUPT ? SH_EINVAL : sh_db_errcode(rc);
    }
    struct sh_catalog_snap *s = snap_new(version);
    rc = sh_collection_import(arr, NULL, &s->list, &s->n, err);
    cJSON_Delete(arr);
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        const cJSON *pair = cJSON_GetArrayItem(stamps, (int)i);
        s->list[i]->created = sh_strdup(cJSON_GetArrayItem(pair, 0)->valuestring);
        s->list[i]->updated = sh_strdup(cJSON_GetArrayItem(pair, 1)->valuestring);
    }
    cJSON_Delete(stamps);
    if (rc) {
        sh_log_error(MOD, "stored collections do not load: %s", err ? err->message : "?");
        sh_catalog_snap_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- the loop's catalog ---- */

/* Reads the version and the collections in one read transaction, so the two
 * agree. A transaction the caller had open stays open (the token middleware
 * refreshes inside the one its handler's reads share: ending it would cost
 * the request a second snapshot and the turn its once-per-turn version
 * check); one begun here ends here. */
static int reload(struct sh_catalog *cat, int force)
{
    struct sh_db *db = cat->db;
    int64_t v = 0;
    bool outer = sh_db_read_active(db);
    int rc = sh_db_read_begin(db);
    if (rc == 0)
        rc = sh_db_schema_version(db, &v);
    if (rc == 0 && !force && cat->snap && v == cat->snap->version) {
        if (!outer)
            sh_db_read_end(db);
        return 0;
    }
    struct sh_catalog_snap *s = NULL;
    struct sh_schema_error err;
    memset(&err, 0, sizeof(err));
    if (rc == 0)
        rc = sh_catalog_load(sh_db_reader(db), v, &s, &err);
    if (!outer)
        sh_db_read_end(db);
    if (rc) {
        sh_log_error(MOD, "cannot load the collections (%d); keeping the previous ones", rc);
        return rc;
    }
    struct sh_catalog_snap *old = cat->snap;
    cat->snap = s;
    if (old) {
        cat->reloads++;
        sh_log_info(MOD, "schema version %lld: %zu collections loaded", (long long)v, s->n);
    }
    sh_catalog_snap_free(old);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    sh_catalog_refresh(t->data);
}

int sh_catalog_open(struct sh_catalog *cat, uv_loop_t *loop, struct sh_db *db)
{
    memset(cat, 0, sizeof(*cat));
    cat->db = db;
    int rc = reload(cat, 1);
    if (rc)
        return rc;
    uv_timer_init(loop, &cat->timer);
    cat->timer.data = cat;
    uv_timer_start(&cat->timer, on_timer, 1000, 1000);
    uv_unref((uv_handle_t *)&cat->timer);
    cat->open = 1;
    sh_log_info(MOD, "%zu collections loaded", cat->snap->n);
    return 0;
}

void sh_catalog_close(struct sh_catalog *cat)
{
    if (cat->open) {
        uv_timer_stop(&cat->timer);
        uv_close((uv_handle_t *)&cat->timer, NULL);
        cat->open = 0;
    }
    sh_catalog_snap_free(cat->snap);
    cat->snap = NULL;
}

int sh_catalog_refresh(struct sh_catalog *cat)
{
    if (!cat->snap)
        return -ECANCELED;
    return reload(cat, 0);
}

struct sh_catalog_snap *sh_catalog_acquire(struct sh_catalog *cat)
{
    return cat->snap ? sh_catalog_snap_ref(cat->snap) : NULL;
}

const struct sh_collection *sh_catalog_find(const struct sh_catalog *cat, const char *id_or_name)
{
    return sh_catalog_snap_find(cat->snap, id_or_name);
}
