/*
 * Create, update and delete as writer jobs. Everything that decides whether
 * a write may happen runs here, inside the write transaction, so it sees
 * exactly the state the write applies to: the schema version (a job prepared
 * against an older catalog is refused with SH_ESTALE rather than applied to a
 * migrated table), the stored record an update starts from (so `count+`
 * modifiers never lose an increment), relation targets, the update/delete
 * rule on the stored record and the create rule on the inserted one, and
 * the protected fields of auth records on the values about to be stored
 * (records_protect.c). A failing job returns an error and the writer rolls
 * back its savepoint.
 *
 * SQL text is built from validated names and cached per text on the writer's
 * connection; values are always bound.
 *
 * The answer: a cJSON record read back (w->record), or, when the handler
 * needs no tree (w->record_json), JSON text: a create without a create rule
 * writes it from the values it inserted, an update or a ruled create from
 * the row read back (the rule checked by the same read). With capture the
 * row as committed (a delete's as it was) is copied out (sh_rec_row_capture)
 * for the change events. Every table a job
 * writes is marked in the count cache until sh_rec_write_deinit
 * (records_count.c).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/records.h"
#include "stagehand/validate.h"

static void fin(struct sh_buf *b)
{
    sh_buf_append(b, "", 1);
}

static int check_version(sqlite3 *wdb, int64_t want)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, "SELECT value FROM _meta WHERE key = 'schema_version'", &st);
    if (rc)
        return rc;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sh_db_writer_release(wdb, st);
    return v == want ? 0 : SH_ESTALE;
}

struct rel_ctx {
    sqlite3 *wdb;
    const struct sh_catalog_snap *snap;
};

/* validate.h's rel_check: every id names a record of the target. */
static int rel_check(void *ud, const struct sh_field *f, const char *const *ids, size_t n)
{
    struct rel_ctx *rc = ud;
    const struct sh_collection *t = sh_catalog_snap_find(rc->snap, f->collection_id);
    if (!t)
        return 0;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
    char *json = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    SH_ASSERT(json);
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT COUNT(DISTINCT \"id\") FROM ");
    sh__rec_quote(&b, t->name);
    sh_buf_appends(&b, " WHERE \"id\" IN (SELECT value FROM json_each(?))");
    fin(&b);
    sqlite3_stmt *st;
    int ok = -1;
    if (sh_db_writer_prepare(rc->wdb, b.data, &st) == 0) {
        sqlite3_bind_text(st, 1, json, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            ok = sqlite3_column_int64(st, 0) == (int64_t)n;
        sh_db_writer_release(rc->wdb, st);
    }
    sh_buf_deinit(&b);
    cJSON_free(json);
    return ok;
}

/* Reads record id of c (all columns, or only the visible ones), if it
 * satisfies the job's rule when `ruled`, into *out; or, when out is NULL,
 * as the job's answer (w->record, or w->record_text when w->record_json). */
static int load_as(sqlite3 *wdb, struct sh_rec_write *w, const char *id, bool raw, unsigned flags,
                   bool ruled, cJSON **out)
{
    const struct sh_collection *c = w->c;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT ");
    sh_rec_columns(c, raw, &b);
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, " WHERE ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, ".\"id\" = ?");
    if (ruled && w->has_rule) {
        sh_buf_appends(&b, " AND ");
        sh_buf_appends(&b, w->rule.sql);
    }
    fin(&b);
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, b.data, &st);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (ruled && w->has_rule)
        sh_filter_sql_bind(&w->rule, st, 2);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && !out && w->record_json) {
        struct sh_buf t;
        sh_buf_init(&t);
        sh_rec_row_json(c, st, 0, w->flags, w->own_id, &t);
        free(w->record_text);
        w->record_text = t.data;
        w->record_len = t.len;
        rc = 0;
    } else if (src == SQLITE_ROW) {
        cJSON *rec = sh_rec_from_row(c, st, 0, flags);
        if (out) {
            *out = rec;
        } else {
            cJSON_Delete(w->record);
            w->record = rec;
        }
        rc = 0;
    } else {
        rc = src == SQLITE_DONE ? SH_ENOTFOUND : sh_db_errcode(src);
    }
    sh_db_writer_release(wdb, st);
    return rc;
}

static int load(sqlite3 *wdb, struct sh_rec_write *w, const char *id, bool raw, bool ruled,
                cJSON **out)
{
    return load_as(wdb, w, id, raw, raw ? SH_REC_RAW : w->flags, ruled, out);
}

/* "UNIQUE constraint failed: posts.a, posts.b" -> errors on a and b. */
static cJSON *unique_errors(sqlite3 *wdb, const struct sh_collection *c)
{
    cJSON *e = cJSON_CreateObject();
    const char *msg = sqlite3_errmsg(wdb);
    const char *p = strstr(msg, "failed: ");
    for (p = p ? p + 8 : NULL; p && *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *dot = memchr(p, '.', n);
        if (dot) {
            char name[SH_SCHEMA_NAME_MAX + 1];
            size_t k = n - (size_t)(dot + 1 - p);
            if (k <= SH_SCHEMA_NAME_MAX) {
                memcpy(name, dot + 1, k);
                name[k] = 0;
                const struct sh_field *f = sh_collection_field(c, name);
                if (f && !cJSON_GetObjectItemCaseSensitive(e, f->name)) {
                    cJSON *o = cJSON_AddObjectToObject(e, f->name);
                    cJSON_AddStringToObject(o, "code", "validation_not_unique");
                    cJSON_AddStringToObject(o, "message", "Value must be unique.");
                }
            }
        }
        p = end ? end + 1 : NULL;
        while (p && *p == ' ')
            p++;
    }
    return e;
}

static const char *hash_for(const struct sh_rec_write *w, const char *field)
{
    for (size_t i = 0; i < w->nhashes; i++)
        if (strcmp(w->hashes[i].field, field) == 0)
            return w->hashes[i].hash;
    return NULL;
}

/* Passwords set by the body need the hash made before the job. */
static int check_secrets(struct sh_rec_write *w, const struct sh_record_input *in)
{
    for (size_t i = 0; i < in->nsecrets; i++) {
        if (hash_for(w, in->secrets[i].field->name))
            continue;
        w->errors = cJSON_CreateObject();
        cJSON *o = cJSON_AddObjectToObject(w->errors, in->secrets[i].field->name);
        cJSON_AddStringToObject(o, "code", "validation_invalid_value");
        cJSON_AddStringToObject(o, "message", "Cannot be set here.");
        return SH_EINVAL;
    }
    return 0;
}

/* Binds v to parameter k without a copy: the values of an input outlive
 * the statement's use (sh_db_writer_release resets it and clears its
 * bindings before the input is freed). sh__rec_bind_value copies. */
static void bind_kept(sqlite3_stmt *st, int k, const struct sh_value *v)
{
    if (v->type == SH_VALUE_TEXT)
        sqlite3_bind_text(st, k, v->text, (int)v->len, SQLITE_STATIC);
    else
        sh__rec_bind_value(st, k, v);
}

static int step_write(sqlite3 *wdb, sqlite3_stmt *st, struct sh_rec_write *w)
{
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE)
        return 0;
    int rc = sh_db_errcode(src);
    if (rc == SH_ECONFLICT)
        w->errors = unique_errors(wdb, w->c);
    else
        sh_log_error("records", "write failed: %s", sqlite3_errmsg(wdb));
    return rc ? rc : SH_EINTERNAL;
}

static int insert(sqlite3 *wdb, struct sh_rec_write *w, const struct sh_record_input *in)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "INSERT INTO ");
    sh__rec_quote(&b, w->c->name);
    sh_buf_appends(&b, " (");
    size_t n = 0;
    for (size_t i = 0; i < in->ncols; i++, n++) {
        if (n)
            sh_buf_appends(&b, ", ");
        sh__rec_quote(&b, in->cols[i].field->name);
    }
    for (size_t i = 0; i < in->nsecrets; i++, n++) {
        sh_buf_appends(&b, ", ");
        sh__rec_quote(&b, in->secrets[i].field->name);
    }
    sh_buf_appends(&b, ") VALUES (");
    for (size_t i = 0; i < n; i++)
        sh_buf_appends(&b, i ? ", ?" : "?");
    sh_buf_appends(&b, ")");
    fin(&b);
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, b.data, &st);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    int k = 1;
    for (size_t i = 0; i < in->ncols; i++)
        bind_kept(st, k++, &in->cols[i].value);
    for (size_t i = 0; i < in->nsecrets; i++)
        sqlite3_bind_text(st, k++, hash_for(w, in->secrets[i].field->name), -1, SQLITE_STATIC);
    rc = step_write(wdb, st, w);
    sh_db_writer_release(wdb, st);
    return rc;
}

static int update(sqlite3 *wdb, struct sh_rec_write *w, const struct sh_record_input *in)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "UPDATE ");
    sh__rec_quote(&b, w->c->name);
    sh_buf_appends(&b, " SET ");
    size_t n = 0;
    for (size_t i = 0; i < in->ncols; i++) {
        if (!in->cols[i].changed)
            continue;
        sh_buf_appends(&b, n++ ? ", " : "");
        sh__rec_quote(&b, in->cols[i].field->name);
        sh_buf_appends(&b, " = ?");
    }
    for (size_t i = 0; i < in->nsecrets; i++) {
        sh_buf_appends(&b, n++ ? ", " : "");
        sh__rec_quote(&b, in->secrets[i].field->name);
        sh_buf_appends(&b, " = ?");
    }
    sh_buf_appends(&b, " WHERE \"id\" = ?");
    fin(&b);
    int rc = 0;
    if (n) {
        sqlite3_stmt *st;
        rc = sh_db_writer_prepare(wdb, b.data, &st);
        if (rc == 0) {
            int k = 1;
            for (size_t i = 0; i < in->ncols; i++)
                if (in->cols[i].changed)
                    bind_kept(st, k++, &in->cols[i].value);
            for (size_t i = 0; i < in->nsecrets; i++)
                sqlite3_bind_text(st, k++, hash_for(w, in->secrets[i].field->name), -1,
                                  SQLITE_TRANSIENT);
            sqlite3_bind_text(st, k, w->id, -1, SQLITE_TRANSIENT);
            rc = step_write(wdb, st, w);
            sh_db_writer_release(wdb, st);
        }
    }
    sh_buf_deinit(&b);
    return rc;
}

static int validate(sqlite3 *wdb, struct sh_rec_write *w, const cJSON *existing,
                    struct sh_record_input *in)
{
    struct rel_ctx rel = {wdb, w->snap};
    struct sh_validate_opts o = {
        .now_ms = w->now_ms,
        .existing = existing,
        .rel_check = rel_check,
        .rel_ud = &rel,
        .check_password_confirm = w->check_password_confirm,
        .uploads = w->uploads,
        .nuploads = w->nuploads,
    };
    int rc = sh_record_input_parse(in, w->c, w->body, &o);
    if (rc) {
        w->errors = sh_record_input_take_errors(in);
        if (!w->errors)
            w->errors = cJSON_CreateObject();
        return SH_EINVAL;
    }
    return check_secrets(w, in);
}

/* The answer to a create without a rule, from the values just inserted:
 * the same JSON as reading the row back, without the read. */
static int answer_from_values(struct sh_rec_write *w, const struct sh_record_input *in)
{
    struct sh_rec_json_plan p;
    sh_rec_json_plan_init(&p, w->c, w->flags, w->own_id);
    struct sh_buf t;
    sh_buf_init(&t);
    int rc = sh_rec_json_plan_values(&p, in, &t);
    sh_rec_json_plan_deinit(&p);
    if (rc) {
        sh_buf_deinit(&t);
        return rc;
    }
    free(w->record_text);
    w->record_text = t.data;
    w->record_len = t.len;
    return 0;
}

static int do_create(sqlite3 *wdb, struct sh_rec_write *w)
{
    struct sh_record_input in;
    int rc = validate(wdb, w, NULL, &in);
    if (rc == 0)
        rc = sh__rec_protect(w, NULL, &in);
    if (rc == 0)
        rc = insert(wdb, w, &in);
    if (rc == 0 && w->capture)
        rc = sh_rec_row_capture(wdb, w->c, in.id, &w->row);
    if (rc == 0 && !w->has_rule && w->record_json && answer_from_values(w, &in) == 0) {
        sh_record_input_deinit(&in);
        return rc;
    }
    /* One read of the row as stored gives the answer and, with a create
     * rule, checks the rule against it (no row: the rule refuses). */
    if (rc == 0)
        rc = load(wdb, w, in.id, false, true, NULL);
    if (rc == SH_ENOTFOUND && w->has_rule)
        rc = SH_EFORBIDDEN;
    sh_record_input_deinit(&in);
    return rc;
}

static int do_update(sqlite3 *wdb, struct sh_rec_write *w)
{
    cJSON *existing = NULL;
    int rc = load(wdb, w, w->id, true, true, &existing);
    if (rc)
        return rc;
    struct sh_record_input in;
    rc = validate(wdb, w, existing, &in);
    if (rc == 0)
        rc = sh__rec_protect(w, existing, &in);
    if (rc == 0)
        sh_rec_files_dropped(w, existing, &in);
    if (rc == 0)
        rc = update(wdb, w, &in);
    if (rc == 0)
        rc = load(wdb, w, w->id, false, false, NULL);
    if (rc == 0 && w->capture)
        rc = sh_rec_row_capture(wdb, w->c, w->id, &w->row);
    sh_record_input_deinit(&in);
    cJSON_Delete(existing);
    return rc;
}

static int do_delete(sqlite3 *wdb, struct sh_rec_write *w)
{
    cJSON *row = NULL;
    int rc = load(wdb, w, w->id, false, true, &row);
    cJSON_Delete(row);
    if (rc == 0 && w->capture) /* the record as it was, for its delete event */
        rc = sh_rec_row_capture(wdb, w->c, w->id, &w->row);
    if (rc == 0)
        rc = sh__rec_delete(wdb, w->snap, w->c, w->id, w->now_ms, 0, w);
    return rc;
}

void sh__rec_touch(struct sh_rec_write *w, const struct sh_collection *c)
{
    if (!w)
        return;
    if (c->type == SH_COLLECTION_AUTH)
        w->auth_written = true;
    /* By name: a job run again after a schema reload has new collections. */
    for (size_t i = 0; i < w->ntouched; i++)
        if (sh_schema_name_eq(w->touched[i], c->name))
            return;
    if (w->ntouched == w->touched_cap) {
        w->touched_cap = w->touched_cap ? w->touched_cap * 2 : 4;
        w->touched = sh_realloc(w->touched, w->touched_cap * sizeof(*w->touched));
    }
    w->touched[w->ntouched++] = sh_strdup(c->name);
    sh_rec_counts_write_begin(c->name);
}

int sh_rec_write_run(sqlite3 *wdb, void *arg)
{
    struct sh_rec_write *w = arg;
    sh_rec_row_free(w->row); /* of an earlier run that did not commit */
    w->row = NULL;
    sh_rec_files_gone_clear(w);
    int rc = check_version(wdb, w->snap->version);
    if (rc)
        return rc;
    /* Marked before anything is written, whatever the outcome: a bump for
     * a rolled-back write costs a recount. */
    sh__rec_touch(w, w->c);
    switch (w->op) {
    case SH_REC_CREATE:
        return do_create(wdb, w);
    case SH_REC_UPDATE:
        return do_update(wdb, w);
    case SH_REC_DELETE:
        return do_delete(wdb, w);
    }
    return SH_EINTERNAL;
}

void sh_rec_write_deinit(struct sh_rec_write *w)
{
    sh_rec_row_free(w->row);
    w->row = NULL;
    for (size_t i = 0; i < w->ntouched; i++) {
        sh_rec_counts_write_end(w->counts, w->touched[i]);
        free(w->touched[i]);
    }
    free(w->touched);
    free(w->own_id);
    free(w->record_text);
    free(w->id);
    cJSON_Delete(w->body);
    sh_filter_sql_deinit(&w->rule);
    for (size_t i = 0; i < w->nhashes; i++) {
        free(w->hashes[i].field);
        free(w->hashes[i].hash);
    }
    free(w->hashes);
    sh_rec_files_dropped_clear(w);
    sh_rec_files_gone_clear(w);
    cJSON_Delete(w->record);
    cJSON_Delete(w->errors);
    sh_catalog_snap_free(w->snap);
    memset(w, 0, sizeof(*w));
}
