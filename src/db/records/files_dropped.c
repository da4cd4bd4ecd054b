/*
 * Which stored files an update stops referencing. The writer computes it
 * inside its transaction, from the record as it was (existing) and the
 * values about to be written; the caller deletes those files only after
 * the COMMIT (a rolled-back write must find them still there). Likewise
 * the folders of the records a delete, a cascade or a truncate removed
 * (w->gone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"
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

void sh_rec_files_gone_add(struct sh_rec_write *w, const struct sh_collection *c, const char *id)
{
    if (!w || !folder_safe(id) || !folder_safe(c->id))
        return;
    bool files = false;
    for (size_t i = 0; i < c->nfields && !files; i++)
        files = c->fields[i].kind == SH_FIELD_FILE;
    if (!files)
        return;
    size_t n = strlen(c->id) + strlen(id) + 2;
    char *p = sh_malloc(n);
    snprintf(p, n, "%s/%s", c->id, id);
    w->gone = sh_realloc(w->gone, (w->ngone + 1) * sizeof(*w->gone));
    w->gone[w->ngone++] = p;
}

void sh_rec_files_gone_clear(struct sh_rec_write *w)
{
    for (size_t i = 0; i < w->ngone; i++)
        free(w->gone[i]);
    free(w->gone);
    w->gone = NULL;
    w->ngone = 0;
}
