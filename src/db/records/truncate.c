/*
 * Truncating a collection (DELETE /api/collections/{c}/truncate): every
 * record goes in one writer transaction, as if each were deleted
 * (PocketBase's TruncateCollection deletes record by record): relations
 * elsewhere that point at them are cleared or cascaded by sh__rec_delete,
 * and a required relation left empty refuses the whole truncate. When no
 * relation field of any collection targets c, the records go with one
 * DELETE instead (unless c has a file field: each deleted record's folder
 * is noted in w->gone). An auth collection's sessions go with its records (and
 * the job's auth_written makes cached tokens be checked again).
 */
#include <stdlib.h>
#include <string.h>

#include "stagehand/records.h"
#include "stagehand/sessions.h"

static int exec(sqlite3 *wdb, const char *sql, const char *bind)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, sql, &st);
    if (rc)
        return rc;
    if (bind)
        sqlite3_bind_text(st, 1, bind, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    sh_db_writer_release(wdb, st);
    return src == SQLITE_DONE ? 0 : sh_db_errcode(src) ? sh_db_errcode(src) : SH_EINTERNAL;
}

/* Whether a relation field of any collection of the snapshot targets c. */
static bool referenced(const struct sh_catalog_snap *snap, const struct sh_collection *c)
{
    for (size_t i = 0; i < snap->n; i++)
        for (size_t k = 0; k < snap->list[i]->nfields; k++) {
            const struct sh_field *f = &snap->list[i]->fields[k];
            if (f->kind == SH_FIELD_RELATION && f->collection_id &&
                strcmp(f->collection_id, c->id) == 0)
                return true;
        }
    return false;
}

static bool has_files(const struct sh_collection *c)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (c->fields[i].kind == SH_FIELD_FILE)
            return true;
    return false;
}

/* Every id of c, in a new array of *n strings. */
static int all_ids(sqlite3 *wdb, const struct sh_collection *c, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT \"id\" FROM ");
    sh__rec_quote(&b, c->name);
    sh_buf_append(&b, "", 1);
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, b.data, &st);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    size_t cap = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *out = sh_realloc(*out, cap * sizeof(**out));
        }
        const char *id = (const char *)sqlite3_column_text(st, 0);
        (*out)[(*n)++] = sh_strdup(id ? id : "");
    }
    sh_db_writer_release(wdb, st);
    if (src != SQLITE_DONE)
        return sh_db_errcode(src) ? sh_db_errcode(src) : SH_EINTERNAL;
    return 0;
}

int sh_rec_truncate_run(sqlite3 *wdb, void *arg)
{
    struct sh_rec_write *w = arg;
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, "SELECT value FROM _meta WHERE key = 'schema_version'", &st);
    if (rc)
        return rc;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sh_db_writer_release(wdb, st);
    if (v != w->snap->version)
        return SH_ESTALE;
    sh__rec_touch(w, w->c);
    sh_rec_files_gone_clear(w);
    if (!referenced(w->snap, w->c) && !has_files(w->c)) {
        struct sh_buf b;
        sh_buf_init(&b);
        sh_buf_appends(&b, "DELETE FROM ");
        sh__rec_quote(&b, w->c->name);
        sh_buf_append(&b, "", 1);
        rc = exec(wdb, b.data, NULL);
        sh_buf_deinit(&b);
        /* SQLite's truncate shortcut reports no row to the update hook: the
         * table version (db/engine/versions.c) is bumped here */
        if (rc == 0)
            rc = sh_db_writer_touch(wdb, w->c->name);
        if (rc == 0 && w->c->type == SH_COLLECTION_AUTH)
            rc = exec(wdb, "DELETE FROM _sessions WHERE collectionId = ?1", w->c->id);
        return rc;
    }
    char **ids;
    size_t n;
    rc = all_ids(wdb, w->c, &ids, &n);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = sh__rec_delete(wdb, w->snap, w->c, ids[i], w->now_ms, 0, w);
        free(ids[i]);
    }
    free(ids);
    return rc;
}
