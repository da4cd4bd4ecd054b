/*
 * Schema changes: a collection's table is created, migrated or dropped and
 * its `_collections` row written in the same transaction, so the stored
 * definitions and the tables never disagree (the row write bumps the schema
 * version by trigger, which is how every server process notices). The DDL
 * comes from schema_sql.c and runs with sqlite3_exec: each statement runs
 * once, so caching them would only evict the statements that matter.
 *
 * From the loop, sh_catalog_save wraps this in a writer job whose first step
 * checks that the schema is still the version the change was computed
 * against: two concurrent changes cannot both apply to the same old state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/catalog.h"
#include "stagehand/core.h"

#define MOD "catalog"
#define NOW "strftime('%Y-%m-%d %H:%M:%fZ', 'now')"

static int run_stmts(sqlite3 *wdb, const struct sh_schema_sql *q)
{
    for (size_t i = 0; i < q->n; i++) {
        char *msg = NULL;
        int rc = sqlite3_exec(wdb, q->stmts[i], NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            sh_log_error(MOD, "schema change failed: %s (%.200s)", msg ? msg : "?", q->stmts[i]);
            sqlite3_free(msg);
            return sh_db_errcode(rc) ? sh_db_errcode(rc) : SH_EINTERNAL;
        }
    }
    return 0;
}

static int write_row(sqlite3 *wdb, const struct sh_collection *old,
                     const struct sh_collection *next)
{
    const char *sql;
    if (!next)
        sql = "DELETE FROM _collections WHERE id = ?1";
    else if (!old)
        sql = "INSERT INTO _collections (id, name, type, system, schema, created, updated) "
              "VALUES (?1, ?2, ?3, ?4, ?5, " NOW ", " NOW ")";
    else
        sql = "UPDATE _collections SET name = ?2, type = ?3, system = ?4, schema = ?5, "
              "updated = " NOW " WHERE id = ?1";
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, sql, &st);
    if (rc)
        return rc;
    char *json = NULL;
    const struct sh_collection *c = next ? next : old;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
    if (next) {
        cJSON *o = sh_collection_to_json(next);
        json = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        SH_ASSERT(json);
        sqlite3_bind_text(st, 2, next->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3,
                          next->type == SH_COLLECTION_AUTH   ? "auth"
                          : next->type == SH_COLLECTION_VIEW ? "view"
                                                             : "base",
                          -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, next->system);
        sqlite3_bind_text(st, 5, json, -1, SQLITE_TRANSIENT);
    }
    int src = sqlite3_step(st);
    int changed = sqlite3_changes(wdb);
    sh_db_writer_release(wdb, st);
    cJSON_free(json);
    if (src != SQLITE_DONE) {
        sh_log_error(MOD, "cannot write _collections: %s", sqlite3_errmsg(wdb));
        return sh_db_errcode(src) ? sh_db_errcode(src) : SH_EINTERNAL;
    }
    return old && changed == 0 ? SH_ENOTFOUND : 0;
}

/* The object of the database called name (case-insensitively, as SQLite
 * compares names): 1 with its type and table copied out, 0 if none, or a
 * negative code. */
static int find_object(sqlite3 *wdb, const char *name, char *type, size_t tcap, char *table,
                       size_t cap)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(
        wdb, "SELECT type, tbl_name FROM sqlite_schema WHERE name = ?1 COLLATE NOCASE LIMIT 1",
        &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        snprintf(type, tcap, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(table, cap, "%s", (const char *)sqlite3_column_text(st, 1));
        rc = 1;
    } else if (src != SQLITE_DONE) {
        rc = sh_db_errcode(src) ? sh_db_errcode(src) : SH_EINTERNAL;
    }
    sh_db_writer_release(wdb, st);
    return rc;
}

/* SQLite has one namespace for tables, indexes, triggers and views: the
 * table and the indexes next would create must not take a name that another
 * object already has, unless that object is old's own table or index (which
 * the change drops or keeps). Refused with a 400 naming the key, so that no
 * collision reaches the DDL as an internal error. */
static int check_objects(sqlite3 *wdb, const struct sh_collection *old,
                         const struct sh_collection *next, struct sh_schema_error *err)
{
    char type[16], table[SH_SCHEMA_NAME_MAX + 16];
    if (!old || !sh_schema_name_eq(old->name, next->name)) {
        int rc = find_object(wdb, next->name, type, sizeof(type), table, sizeof(table));
        if (rc < 0)
            return rc;
        if (rc)
            return sh__schema_fail(err, next->name, "", "name", "validation_collection_name_exists",
                                   "the name is already used by %s of \"%s\".",
                                   strcmp(type, "table") == 0 ? "the table" : "an index or trigger",
                                   table);
    }
    for (size_t i = 0; i < next->nindexes; i++) {
        const char *name = next->indexes[i].name;
        int rc = find_object(wdb, name, type, sizeof(type), table, sizeof(table));
        if (rc < 0)
            return rc;
        if (rc && old && strcmp(type, "index") == 0 && sh_schema_name_eq(table, old->name))
            continue;
        if (rc)
            return sh__schema_fail(
                err, next->name, "", "indexes", "validation_duplicated_index_name",
                "index %zu: the name \"%s\" is already used by %s.", i + 1, name,
                strcmp(type, "index") == 0 ? "an index of another table" : "a table or trigger");
    }
    return 0;
}

int sh_catalog_apply(sqlite3 *wdb, const struct sh_collection *old,
                     const struct sh_collection *next, struct sh_schema_error *err)
{
    SH_ASSERT(old || next);
    struct sh_schema_sql q;
    memset(&q, 0, sizeof(q));
    int rc = next ? check_objects(wdb, old, next, err) : 0;
    if (rc)
        return rc;
    if (!old)
        sh_schema_create_sql(next, &q);
    else if (!next)
        sh_schema_drop_sql(old, &q);
    else
        rc = sh_schema_migrate_sql(old, next, &q, err);
    if (rc == 0)
        rc = run_stmts(wdb, &q);
    sh_schema_sql_deinit(&q);
    if (rc == 0)
        rc = write_row(wdb, old, next);
    return rc;
}

int sh_catalog_check_delete(const struct sh_catalog_snap *s, const struct sh_collection *c,
                            struct sh_schema_error *err)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct sh_collection *o = s->list[i];
        if (o == c || strcmp(o->id, c->id) == 0)
            continue;
        for (size_t k = 0; k < o->nfields; k++)
            if (o->fields[k].kind == SH_FIELD_RELATION &&
                strcmp(o->fields[k].collection_id, c->id) == 0)
                return sh__schema_fail(err, c->name, "", "", "validation_collection_in_use",
                                       "collection \"%s\" still has a relation to it (field "
                                       "\"%s\").",
                                       o->name, o->fields[k].name);
    }
    return 0;
}

/* ---- from the loop: one writer job ---- */
struct save_job {
    struct sh_db_job job;
    struct sh_catalog *cat;
    struct sh_catalog_snap *snap; /* keeps olds alive; its version is the expected one */
    size_t n;
    const struct sh_collection **olds;
    struct sh_collection **nexts;
    struct sh_schema_error err;
    sh_catalog_save_cb cb;
    void *arg;
};

static int save_run(sqlite3 *wdb, void *arg)
{
    struct save_job *j = arg;
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, "SELECT value FROM _meta WHERE key = 'schema_version'", &st);
    if (rc)
        return rc;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sh_db_writer_release(wdb, st);
    if (v != j->snap->version)
        return SH_ESTALE;
    for (size_t i = 0; i < j->n && rc == 0; i++)
        rc = sh_catalog_apply(wdb, j->olds[i], j->nexts[i], &j->err);
    return rc;
}

static void save_free(struct save_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        sh_collection_free(j->nexts[i]);
    free(j->nexts);
    free(j->olds);
    sh_catalog_snap_free(j->snap);
    free(j);
}

static void save_done(struct sh_db_job *job, int rc)
{
    struct save_job *j = (struct save_job *)job;
    if (rc == 0 && j->cat->snap)
        sh_catalog_refresh(j->cat);
    if (j->cb)
        j->cb(j->arg, rc, &j->err);
    save_free(j);
}

int sh_catalog_save_many(struct sh_catalog *cat, size_t n, const struct sh_collection *const *olds,
                         struct sh_collection **nexts, sh_catalog_save_cb cb, void *arg)
{
    struct save_job *j = sh_calloc(1, sizeof(*j));
    j->n = n;
    j->olds = sh_calloc(n + 1, sizeof(*j->olds));
    j->nexts = sh_calloc(n + 1, sizeof(*j->nexts));
    for (size_t i = 0; i < n; i++) {
        j->olds[i] = olds[i];
        j->nexts[i] = nexts[i];
    }
    if (!cat->snap) {
        save_free(j);
        return -ECANCELED;
    }
    j->job.run = save_run;
    j->job.done = save_done;
    j->job.arg = j;
    j->cat = cat;
    j->snap = sh_catalog_acquire(cat);
    j->cb = cb;
    j->arg = arg;
    int rc = sh_db_submit(cat->db, &j->job);
    if (rc)
        save_free(j);
    return rc;
}

int sh_catalog_save(struct sh_catalog *cat, const struct sh_collection *old,
                    struct sh_collection *next, sh_catalog_save_cb cb, void *arg)
{
    return sh_catalog_save_many(cat, 1, &old, &next, cb, arg);
}
