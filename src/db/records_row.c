/*
 * A row as a record object: the column list every records query selects and
 * the conversion of each column to JSON by its field's type (the inverse of
 * the column types of schema_sql.c: '' and 0 are stored for empty values,
 * multi-valued fields hold JSON arrays, json fields JSON text or NULL), with
 * the visibility rules of PocketBase for non-superusers: no hidden fields,
 * and an auth record's email only when emailVisibility is set; an auth
 * record's tokenKey is left out for everyone (only SH_REC_RAW has it).
 */
#include "db/records.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

void sh__rec_quote(struct sh_buf *b, const char *name)
{
    /* Names were validated as [A-Za-z_][A-Za-z0-9_]* when the collection
     * was parsed: quoting cannot be escaped. */
    sh_buf_append(b, "\"", 1);
    sh_buf_appends(b, name);
    sh_buf_append(b, "\"", 1);
}

int sh__rec_bind_value(sqlite3_stmt *st, int i, const struct sh_value *v)
{
    switch (v->type) {
    case SH_VALUE_INT:
        return sqlite3_bind_int64(st, i, v->i);
    case SH_VALUE_REAL:
        return sqlite3_bind_double(st, i, v->d);
    case SH_VALUE_TEXT:
        return sqlite3_bind_text(st, i, v->text, (int)v->len, SQLITE_TRANSIENT);
    case SH_VALUE_NULL:
        break;
    }
    return sqlite3_bind_null(st, i);
}

static bool selected(const struct sh_field *f, bool raw)
{
    return raw || f->kind != SH_FIELD_PASSWORD;
}

int sh_rec_columns(const struct sh_collection *c, bool raw, struct sh_buf *out)
{
    int n = 0;
    for (size_t i = 0; i < c->nfields; i++) {
        if (!selected(&c->fields[i], raw))
            continue;
        if (n++)
            sh_buf_appends(out, ", ");
        sh__rec_quote(out, c->name);
        sh_buf_append(out, ".", 1);
        sh__rec_quote(out, c->fields[i].name);
    }
    return n;
}

static cJSON *text_of(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return cJSON_CreateString(s ? s : "");
}

static cJSON *number_of(sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        return cJSON_CreateNumber((double)sqlite3_column_int64(st, col));
    case SQLITE_FLOAT:
    case SQLITE_TEXT: /* NUMERIC affinity keeps non-numeric text; read as SQLite converts */
        return cJSON_CreateNumber(sqlite3_column_double(st, col));
    default:
        return cJSON_CreateNumber(0);
    }
}

static cJSON *json_of(sqlite3_stmt *st, int col, bool array)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    cJSON *v = s ? cJSON_ParseWithLength(s, (size_t)sqlite3_column_bytes(st, col)) : NULL;
    if (array && !cJSON_IsArray(v)) {
        cJSON_Delete(v);
        return cJSON_CreateArray();
    }
    return v ? v : cJSON_CreateNull();
}

static cJSON *value_of(const struct sh_field *f, sqlite3_stmt *st, int col)
{
    if (sh_field_is_multi(f))
        return json_of(st, col, true);
    switch (f->kind) {
    case SH_FIELD_NUMBER:
        return number_of(st, col);
    case SH_FIELD_BOOL:
        return cJSON_CreateBool(sqlite3_column_int64(st, col) != 0);
    case SH_FIELD_JSON:
        return json_of(st, col, false);
    default:
        return text_of(st, col);
    }
}

/* Non-superusers see an auth record's email only if emailVisibility. */
static bool email_visible(const struct sh_collection *c, sqlite3_stmt *st, int first)
{
    int col = first;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct sh_field *f = &c->fields[i];
        if (!selected(f, false))
            continue;
        if (f->system && strcmp(f->name, "emailVisibility") == 0)
            return sqlite3_column_int64(st, col) != 0;
        col++;
    }
    return false;
}

cJSON *sh_rec_from_row(const struct sh_collection *c, sqlite3_stmt *st, int first, unsigned flags)
{
    bool raw = flags & SH_REC_RAW, all = raw || (flags & SH_REC_SUPERUSER);
    bool hide_email = !all && c->type == SH_COLLECTION_AUTH && !email_visible(c, st, first);
    cJSON *o = cJSON_CreateObject();
    SH_ASSERT(o);
    if (!raw) {
        cJSON_AddStringToObject(o, "collectionId", c->id);
        cJSON_AddStringToObject(o, "collectionName", c->name);
    }
    int col = first;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct sh_field *f = &c->fields[i];
        if (!selected(f, raw))
            continue;
        int at = col++;
        if (!all && f->hidden)
            continue;
        if (hide_email && f->system && f->kind == SH_FIELD_EMAIL && strcmp(f->name, "email") == 0)
            continue;
        if (!raw && c->type == SH_COLLECTION_AUTH && f->system && strcmp(f->name, "tokenKey") == 0)
            continue; /* never shown, not even to superusers */
        cJSON_AddItemToObject(o, f->name, value_of(f, st, at));
    }
    return o;
}
