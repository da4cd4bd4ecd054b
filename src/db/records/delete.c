/*
 * Deleting a record and what pointed at it, as PocketBase does: the record
 * is deleted first, then every relation field of every collection that
 * targets its collection is searched for its id. A referencing record loses
 * the id from its relation; if that leaves the relation empty and the field
 * has cascadeDelete, the referencing record is deleted too (recursively);
 * if it leaves a required relation empty otherwise, the whole delete is
 * refused (SH_EINVAL, and the writer rolls the job back). Deleting first
 * makes cycles (a record pointing at itself, A -> B -> A) terminate: a
 * deleted record is never found again.
 *
 * Deleting an auth record, at any depth, deletes its sessions too.
 *
 * Relation columns are not foreign keys (PocketBase's aren't either), so
 * this is the only place that keeps them consistent on delete.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/records.h"
#include "stagehand/sessions.h"

#define MAX_CASCADE_DEPTH 64

static void fin(struct sh_buf *b)
{
    sh_buf_append(b, "", 1);
}

static int exec_id(sqlite3 *wdb, const char *sql, const char *id)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    sh_db_writer_release(wdb, st);
    return src == SQLITE_DONE ? 0 : sh_db_errcode(src) ? sh_db_errcode(src) : SH_EINTERNAL;
}

/* A referencing row: its id and its relation value without `id`. */
struct ref {
    char *id;
    char *rest; /* the new column value: '' or a JSON array */
    bool empty;
};

static void refs_free(struct ref *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].rest);
    }
    free(v);
}

static char *without(const char *json, const char *id, bool *empty)
{
    cJSON *arr = cJSON_Parse(json ? json : "[]");
    cJSON *out = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (cJSON_IsString(e) && strcmp(e->valuestring, id) != 0)
            cJSON_AddItemToArray(out, cJSON_CreateString(e->valuestring));
    }
    *empty = cJSON_GetArraySize(out) == 0;
    char *s = cJSON_PrintUnformatted(out);
    SH_ASSERT(s);
    cJSON_Delete(arr);
    cJSON_Delete(out);
    char *copy = sh_strdup(s);
    cJSON_free(s);
    return copy;
}

/* Rows of o whose relation field f holds id. */
static int find_refs(sqlite3 *wdb, const struct sh_collection *o, const struct sh_field *f,
                     const char *id, struct ref **out, size_t *n)
{
    bool multi = sh_field_is_multi(f);
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT \"id\", ");
    sh__rec_quote(&b, f->name);
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, o->name);
    if (multi) {
        sh_buf_appends(&b, " WHERE EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(");
        sh__rec_quote(&b, f->name);
        sh_buf_appends(&b, ") THEN ");
        sh__rec_quote(&b, f->name);
        sh_buf_appends(&b, " ELSE '[]' END) WHERE value = ?1)");
    } else {
        sh_buf_appends(&b, " WHERE ");
        sh__rec_quote(&b, f->name);
        sh_buf_appends(&b, " = ?1");
    }
    fin(&b);
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, b.data, &st);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = sh_realloc(*out, cap * sizeof(**out));
        }
        struct ref *r = &(*out)[(*n)++];
        r->id = sh_strdup((const char *)sqlite3_column_text(st, 0));
        if (multi) {
            r->rest = without((const char *)sqlite3_column_text(st, 1), id, &r->empty);
        } else {
            r->rest = sh_strdup("");
            r->empty = true;
        }
    }
    sh_db_writer_release(wdb, st);
    return src == SQLITE_DONE ? 0 : sh_db_errcode(src) ? sh_db_errcode(src) : SH_EINTERNAL;
}

/* Sets the relation to what is left of it, and touches onUpdate dates. */
static int set_rest(sqlite3 *wdb, const struct sh_collection *o, const struct sh_field *f,
                    const struct ref *r, const char *now)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "UPDATE ");
    sh__rec_quote(&b, o->name);
    sh_buf_appends(&b, " SET ");
    sh__rec_quote(&b, f->name);
    sh_buf_appends(&b, " = ?1");
    for (size_t i = 0; i < o->nfields; i++) {
        if (o->fields[i].kind != SH_FIELD_AUTODATE || !o->fields[i].on_update)
            continue;
        sh_buf_appends(&b, ", ");
        sh__rec_quote(&b, o->fields[i].name);
        sh_buf_appends(&b, " = ?3");
    }
    sh_buf_appends(&b, " WHERE \"id\" = ?2");
    fin(&b);
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, b.data, &st);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, r->rest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    sh_db_writer_release(wdb, st);
    return src == SQLITE_DONE ? 0 : sh_db_errcode(src) ? sh_db_errcode(src) : SH_EINTERNAL;
}

static int unlink_refs(sqlite3 *wdb, const struct sh_catalog_snap *snap,
                       const struct sh_collection *c, const char *id, int64_t now_ms, int depth,
                       struct sh_rec_write *w)
{
    char now[SH_DATETIME_LEN + 1];
    sh_datetime_format(now_ms, now);
    for (size_t i = 0; i < snap->n; i++) {
        const struct sh_collection *o = snap->list[i];
        for (size_t k = 0; k < o->nfields; k++) {
            const struct sh_field *f = &o->fields[k];
            if (f->kind != SH_FIELD_RELATION || strcmp(f->collection_id, c->id) != 0)
                continue;
            struct ref *refs = NULL;
            size_t n = 0;
            int rc = find_refs(wdb, o, f, id, &refs, &n);
            for (size_t r = 0; r < n && rc == 0; r++) {
                if (refs[r].empty && f->cascade_delete) {
                    rc = sh__rec_delete(wdb, snap, o, refs[r].id, now_ms, depth + 1, w);
                } else if (refs[r].empty && f->required) {
                    rc = SH_EINVAL;
                } else {
                    sh__rec_touch(w, o);
                    rc = set_rest(wdb, o, f, &refs[r], now);
                }
            }
            refs_free(refs, n);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int sh__rec_delete(sqlite3 *wdb, const struct sh_catalog_snap *snap, const struct sh_collection *c,
                   const char *id, int64_t now_ms, int depth, struct sh_rec_write *w)
{
    if (depth > MAX_CASCADE_DEPTH)
        return SH_EINVAL;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "DELETE FROM ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, " WHERE \"id\" = ?1");
    fin(&b);
    sh__rec_touch(w, c); /* marked before anything is written */
    /* its stored files go after the commit, whatever reached it */
    int rc = sh_rec_files_gone_add(wdb, w, c, id);
    if (rc == 0)
        rc = exec_id(wdb, b.data, id);
    sh_buf_deinit(&b);
    if (rc == 0 && sqlite3_changes(wdb) == 0)
        return 0; /* already gone (a cycle): nothing more to follow */
    /* An auth record's sessions go with it in the same transaction, however
     * it was reached (directly or by a cascade): no token of it outlives the
     * commit (the caller moves the auth epoch, w->auth_written). */
    if (rc == 0 && c->type == SH_COLLECTION_AUTH)
        rc = sh_session_delete_record(wdb, c->id, id);
    if (rc == 0)
        rc = unlink_refs(wdb, snap, c, id, now_ms, depth, w);
    return rc;
}
