/*
 * A row as a record object: the column list every records query selects and
 * the conversion of each column to JSON by its field's type (the inverse of
 * the column types of schema_sql.c: '' and 0 are stored for empty values,
 * multi-valued fields hold JSON arrays, json fields JSON text or NULL), with
 * the visibility rules of PocketBase for non-superusers: no hidden fields,
 * and an auth record's email only when emailVisibility is set; an auth
 * record's tokenKey is left out for everyone (only SH_REC_RAW has it).
 *
 * The same record is built either as a cJSON object (sh_rec_from_row: for
 * expand and `fields`, which work on trees) or written straight to JSON
 * text (sh_rec_row_json and the plan behind it: which keys, in which order,
 * their `,"name":` fragments, worked out once per query, then one pass per
 * row with no allocation). A create's answer is written from the values it
 * inserted (sh_rec_json_plan_values) rather than read back.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/records.h"

/* Appends `"name"` with one reserve (every records query's SQL is a run
 * of these). */
static void put_quoted(struct sh_buf *b, const char *name, size_t n)
{
    sh_buf_reserve(b, n + 2);
    char *p = b->data + b->len;
    p[0] = '"';
    memcpy(p + 1, name, n);
    p[n + 1] = '"';
    b->len += n + 2;
}

void sh__rec_quote(struct sh_buf *b, const char *name)
{
    /* Names were validated as [A-Za-z_][A-Za-z0-9_]* when the collection
     * was parsed: quoting cannot be escaped. */
    put_quoted(b, name, strlen(name));
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
    size_t tn = strlen(c->name);
    for (size_t i = 0; i < c->nfields; i++) {
        if (!selected(&c->fields[i], raw))
            continue;
        if (n++)
            sh_buf_append(out, ", ", 2);
        put_quoted(out, c->name, tn);
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
    /* stored json is always JSON; a view's computed column may be plain text */
    if (!v && s && sqlite3_column_type(st, col) == SQLITE_TEXT)
        return cJSON_CreateString(s);
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
    case SH_FIELD_GEOPOINT:
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
        /* the one visibility answer filters and sorts also use (schema_view.c) */
        enum sh_field_access a = raw ? SH_FIELD_ACCESS_ALL : sh_field_access(c, f, all);
        if (a == SH_FIELD_ACCESS_NONE)
            continue;
        if (a == SH_FIELD_ACCESS_OWNER_OR_VISIBLE && hide_email)
            continue;
        if (!raw && c->type == SH_COLLECTION_AUTH && f->system && strcmp(f->name, "tokenKey") == 0)
            continue; /* never shown, not even to superusers */
        cJSON_AddItemToObject(o, f->name, value_of(f, st, at));
    }
    return o;
}

/* ---- the same row as JSON text ---- */

/* Where a row's columns come from: the current row of a statement, or the
 * values a create just wrote (sh_record_input: the same columns in the same
 * order, each stored as given: TEXT in TEXT columns, INT/REAL in NUMERIC
 * ones, where a REAL that SQLite would store as an INTEGER is one past 2^53
 * and prints the same either way). */
struct row {
    sqlite3_stmt *st;
    int first;
    const struct sh_record_column *cols; /* when st is NULL; one per selected column */
};

static const struct sh_value *val_of(const struct row *r, int col)
{
    return &r->cols[col].value;
}

static int row_type(const struct row *r, int col)
{
    if (r->st)
        return sqlite3_column_type(r->st, r->first + col);
    switch (val_of(r, col)->type) {
    case SH_VALUE_INT:
        return SQLITE_INTEGER;
    case SH_VALUE_REAL:
        return SQLITE_FLOAT;
    case SH_VALUE_TEXT:
        return SQLITE_TEXT;
    case SH_VALUE_NULL:
        break;
    }
    return SQLITE_NULL;
}

static int64_t row_int(const struct row *r, int col)
{
    if (r->st)
        return sqlite3_column_int64(r->st, r->first + col);
    const struct sh_value *v = val_of(r, col);
    return v->type == SH_VALUE_INT    ? v->i
           : v->type == SH_VALUE_REAL ? (int64_t)v->d
           : v->type == SH_VALUE_TEXT ? strtoll(v->text, NULL, 10)
                                      : 0;
}

static double row_double(const struct row *r, int col)
{
    if (r->st)
        return sqlite3_column_double(r->st, r->first + col);
    const struct sh_value *v = val_of(r, col);
    return v->type == SH_VALUE_REAL   ? v->d
           : v->type == SH_VALUE_INT  ? (double)v->i
           : v->type == SH_VALUE_TEXT ? strtod(v->text, NULL)
                                      : 0;
}

/* The text of a column (NULL for SQL NULL) and its length. */
static const char *row_text(const struct row *r, int col, size_t *len)
{
    if (r->st) {
        const char *s = (const char *)sqlite3_column_text(r->st, r->first + col);
        *len = s ? (size_t)sqlite3_column_bytes(r->st, r->first + col) : 0;
        return s;
    }
    const struct sh_value *v = val_of(r, col);
    *len = v->type == SH_VALUE_TEXT ? v->len : 0;
    return v->type == SH_VALUE_TEXT ? v->text : NULL;
}

static void text_json(struct sh_buf *out, const struct row *r, int col)
{
    size_t n;
    const char *s = row_text(r, col, &n);
    sh__json_str(out, s ? s : "", s ? n : 0);
}

static void number_json(struct sh_buf *out, const struct row *r, int col)
{
    switch (row_type(r, col)) {
    case SQLITE_INTEGER:
        sh__json_int(out, row_int(r, col));
        return;
    case SQLITE_FLOAT:
    case SQLITE_TEXT: /* NUMERIC affinity keeps non-numeric text; read as SQLite converts */
        sh__json_double(out, row_double(r, col));
        return;
    default:
        sh__buf_put(out, "0", 1);
    }
}

/* Stored JSON text, spliced as is when it is valid (it was printed by cJSON
 * when written); else what sh_rec_from_row makes of it ([] or null). */
static void stored_json(struct sh_buf *out, const struct row *r, int col, bool array)
{
    size_t n;
    const char *s = row_text(r, col, &n);
    if (s && sh__json_valid(s, n)) {
        const char *p = s;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!array || *p == '[') {
            sh__buf_put(out, s, n);
            return;
        }
    }
    if (array)
        sh__buf_put(out, "[]", 2);
    else if (s && row_type(r, col) == SQLITE_TEXT) /* a view's computed text */
        sh__json_str(out, s, n);
    else
        sh__buf_put(out, "null", 4);
}

enum vkind { V_TEXT, V_NUMBER, V_BOOL, V_JSON, V_MULTI };

/* One key of the output: its `,"name":` and how to write its column. */
struct sh__rec_json_key {
    const struct sh_field *f;
    int col;
    uint8_t kind; /* enum vkind */
    bool email;   /* the auth email: shown per row */
    uint32_t frag_off, frag_len;
};

void sh_rec_json_plan_init(struct sh_rec_json_plan *p, const struct sh_collection *c,
                           unsigned flags, const char *own_id)
{
    memset(p, 0, sizeof(*p));
    bool raw = flags & SH_REC_RAW, all = raw || (flags & SH_REC_SUPERUSER);
    bool auth = c->type == SH_COLLECTION_AUTH;
    p->c = c;
    p->raw = raw;
    p->own_id = own_id;
    p->id_col = p->visible_col = -1;
    p->email_rule = !all && auth;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_append(&b, "{", 1);
    if (!raw) {
        sh_buf_appends(&b, "\"collectionId\":");
        sh__json_str(&b, c->id, strlen(c->id));
        sh_buf_appends(&b, ",\"collectionName\":");
        sh__json_str(&b, c->name, strlen(c->name));
    }
    p->head_len = b.len;
    p->fields = sh_calloc(c->nfields ? c->nfields : 1, sizeof(*p->fields));
    int col = 0;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct sh_field *f = &c->fields[i];
        if (!selected(f, raw))
            continue;
        int at = col++;
        if (f->primary_key)
            p->id_col = at;
        if (auth && f->system && strcmp(f->name, "emailVisibility") == 0)
            p->visible_col = at;
        /* the one visibility answer filters and sorts also use (schema_view.c) */
        enum sh_field_access a = raw ? SH_FIELD_ACCESS_ALL : sh_field_access(c, f, all);
        if (a == SH_FIELD_ACCESS_NONE)
            continue;
        if (!raw && auth && f->system && strcmp(f->name, "tokenKey") == 0)
            continue; /* never shown, not even to superusers */
        struct sh__rec_json_key *pf = &p->fields[p->nfields++];
        pf->f = f;
        pf->col = at;
        pf->email = a == SH_FIELD_ACCESS_OWNER_OR_VISIBLE;
        pf->kind = sh_field_is_multi(f)                                       ? V_MULTI
                   : f->kind == SH_FIELD_NUMBER                               ? V_NUMBER
                   : f->kind == SH_FIELD_BOOL                                 ? V_BOOL
                   : f->kind == SH_FIELD_JSON || f->kind == SH_FIELD_GEOPOINT ? V_JSON
                                                                              : V_TEXT;
        pf->frag_off = (uint32_t)b.len;
        /* Field names are validated identifiers: nothing to escape. */
        sh_buf_appends(&b, ",\"");
        sh_buf_appends(&b, f->name);
        sh_buf_appends(&b, "\":");
        pf->frag_len = (uint32_t)(b.len - pf->frag_off);
    }
    p->ncols = col;
    p->text = b.data;
}

void sh_rec_json_plan_deinit(struct sh_rec_json_plan *p)
{
    free(p->text);
    free(p->fields);
    memset(p, 0, sizeof(*p));
}

/* Non-superusers see an auth record's email if emailVisibility, or if it
 * is their own record. */
static bool email_shown(const struct sh_rec_json_plan *p, const struct row *r)
{
    if (p->visible_col >= 0 && row_int(r, p->visible_col) != 0)
        return true;
    if (p->own_id && p->id_col >= 0) {
        size_t n;
        const char *id = row_text(r, p->id_col, &n);
        return id && strcmp(id, p->own_id) == 0;
    }
    return false;
}

static void plan_write(const struct sh_rec_json_plan *p, const struct row *r, struct sh_buf *out)
{
    bool hide_email = p->email_rule && !email_shown(p, r);
    bool comma = p->head_len > 1; /* the collection keys came first */
    sh__buf_put(out, p->text, p->head_len);
    for (size_t i = 0; i < p->nfields; i++) {
        const struct sh__rec_json_key *pf = &p->fields[i];
        if (pf->email && hide_email)
            continue;
        /* the fragment is `,"name":`; the first key goes without the comma */
        sh__buf_put(out, p->text + pf->frag_off + !comma, pf->frag_len - !comma);
        comma = true;
        switch (pf->kind) {
        case V_MULTI:
            stored_json(out, r, pf->col, true);
            break;
        case V_NUMBER:
            number_json(out, r, pf->col);
            break;
        case V_BOOL:
            if (row_int(r, pf->col) != 0)
                sh__buf_put(out, "true", 4);
            else
                sh__buf_put(out, "false", 5);
            break;
        case V_JSON:
            stored_json(out, r, pf->col, false);
            break;
        default:
            text_json(out, r, pf->col);
        }
    }
    sh__buf_put(out, "}", 1);
}

void sh_rec_json_plan_row(const struct sh_rec_json_plan *p, sqlite3_stmt *st, int first,
                          struct sh_buf *out)
{
    struct row r = {st, first, NULL};
    plan_write(p, &r, out);
}

int sh_rec_json_plan_values(const struct sh_rec_json_plan *p, const struct sh_record_input *in,
                            struct sh_buf *out)
{
    /* The input holds every column but passwords, in field order: the
     * columns a non-raw plan selects. Anything else: read the row. */
    if (p->raw || in->ncols != (size_t)p->ncols)
        return -1;
    for (size_t i = 0; i < p->nfields; i++)
        if (in->cols[p->fields[i].col].field != p->fields[i].f)
            return -1;
    struct row r = {NULL, 0, in->cols};
    plan_write(p, &r, out);
    return 0;
}

void sh_rec_row_json(const struct sh_collection *c, sqlite3_stmt *st, int first, unsigned flags,
                     const char *own_id, struct sh_buf *out)
{
    struct sh_rec_json_plan p;
    sh_rec_json_plan_init(&p, c, flags, own_id);
    sh_rec_json_plan_row(&p, st, first, out);
    sh_rec_json_plan_deinit(&p);
}
