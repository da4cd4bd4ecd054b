/*
 * Which stored files an update stops referencing. The writer computes it
 * inside its transaction, from the record as it was (existing) and the
 * values about to be written; the caller deletes those files only after
 * the COMMIT (a rolled-back write must find them still there). Likewise
 * the stored names of the records a delete, a cascade or a truncate
 * removed (w->gone: read just before each DELETE, with their folders).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "stagehand/core.h"
#include "stagehand/db.h"
#include "stagehand/files.h"
#include "stagehand/json.h"
#include "stagehand/records.h"
#include "stagehand/validate.h"

/* Calls fn(name, ud) for each valid stored name in v: a string (one name,
 * or a JSON array's text) or an array of strings. */
static void each_name(const cJSON *v, void (*fn)(const char *, void *), void *ud)
{
    cJSON *parsed = NULL;
    if (cJSON_IsString(v) && v->valuestring[0] == '[')
        v = parsed = sh_json_parse(v->valuestring, strlen(v->valuestring), NULL);
    if (cJSON_IsString(v)) {
        if (sh_file_name_valid(v->valuestring))
            fn(v->valuestring, ud);
    } else if (cJSON_IsArray(v)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (cJSON_IsString(x) && sh_file_name_valid(x->valuestring))
                fn(x->valuestring, ud);
        }
    }
    cJSON_Delete(parsed);
}

struct keep {
    const char *name;
    bool found;
};

static void match(const char *name, void *ud)
{
    struct keep *k = ud;
    if (strcmp(k->name, name) == 0)
        k->found = true;
}

struct drop_ctx {
    struct sh_rec_write *w;
    cJSON *now; /* the new value, parsed */
};

static void drop_if_gone(const char *name, void *ud)
{
    struct drop_ctx *d = ud;
    struct keep k = {name, false};
    each_name(d->now, match, &k);
    if (k.found)
        return;
    struct sh_rec_write *w = d->w;
    w->dropped = sh_realloc(w->dropped, (w->ndropped + 1) * sizeof(*w->dropped));
    w->dropped[w->ndropped++] = sh_strdup(name);
}

void sh_rec_files_dropped(struct sh_rec_write *w, const cJSON *existing,
                          const struct sh_record_input *in)
{
    sh_rec_files_dropped_clear(w);
    for (size_t i = 0; existing && i < in->ncols; i++) {
        const struct sh_record_column *col = &in->cols[i];
        if (col->field->kind != SH_FIELD_FILE || !col->changed)
            continue;
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(existing, col->field->name);
        const char *t = col->value.text ? col->value.text : "";
        struct drop_ctx d = {w, t[0] == '[' ? sh_json_parse(t, strlen(t), NULL)
                                            : cJSON_CreateString(t)};
        each_name(old, drop_if_gone, &d);
        cJSON_Delete(d.now);
    }
}

void sh_rec_files_dropped_clear(struct sh_rec_write *w)
{
    for (size_t i = 0; i < w->ndropped; i++)
        free(w->dropped[i]);
    free(w->dropped);
    w->dropped = NULL;
    w->ndropped = 0;
}

/* Whether s can name a folder: [A-Za-z0-9_-], 1..100 bytes. */
static bool folder_safe(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static void gone_push(struct sh_rec_write *w, const char *cid, const char *id, const char *name)
{
    size_t n = strlen(cid) + strlen(id) + (name ? strlen(name) + 1 : 0) + 2;
    char *p = sh_malloc(n);
    if (name)
        snprintf(p, n, "%s/%s/%s", cid, id, name);
    else
        snprintf(p, n, "%s/%s", cid, id);
    w->gone = sh_realloc(w->gone, (w->ngone + 1) * sizeof(*w->gone));
    w->gone[w->ngone++] = p;
}

struct gone_ctx {
    struct sh_rec_write *w;
    const char *cid, *id;
};

static void push_name(const char *name, void *ud)
{
    const struct gone_ctx *g = ud;
    gone_push(g->w, g->cid, g->id, name);
}

int sh_rec_files_gone_add(sqlite3 *wdb, struct sh_rec_write *w, const struct sh_collection *c,
                          const char *id)
{
    if (!w || !folder_safe(id) || !folder_safe(c->id))
        return 0;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT ");
    int ncols = 0;
    for (size_t i = 0; i < c->nfields; i++) {
        if (c->fields[i].kind != SH_FIELD_FILE)
            continue;
        if (ncols++)
            sh_buf_appends(&b, ", ");
        sh__rec_quote(&b, c->fields[i].name);
    }
    if (!ncols) {
        sh_buf_deinit(&b);
        return 0;
    }
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, " WHERE \"id\" = ?1");
    sh_buf_append(&b, "", 1);
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, b.data, &st);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        gone_push(w, c->id, id, NULL); /* the folder, removed once empty */
        struct gone_ctx g = {w, c->id, id};
        for (int k = 0; k < ncols; k++) {
            const char *v = (const char *)sqlite3_column_text(st, k);
            cJSON *j = v && *v ? cJSON_CreateString(v) : NULL;
            each_name(j, push_name, &g);
            cJSON_Delete(j);
        }
    }
    sh_db_writer_release(wdb, st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : SH_EINTERNAL;
}

void sh_rec_files_gone_clear(struct sh_rec_write *w)
{
    for (size_t i = 0; i < w->ngone; i++)
        free(w->gone[i]);
    free(w->gone);
    w->gone = NULL;
    w->ngone = 0;
}
