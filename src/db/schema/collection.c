/*
 * Small pieces shared by the schema code: error sentences naming the
 * collection and field, identifier checks, PocketBase's CRC-32 field ids,
 * type and rule names, look-ups and the freeing of collections and
 * statement lists (random ids: random_pool.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/core.h"
#include "stagehand/filter.h"
#include "stagehand/schema.h"

static const char *const kind_names[] = {
    [SH_FIELD_TEXT] = "text",         [SH_FIELD_NUMBER] = "number",
    [SH_FIELD_BOOL] = "bool",         [SH_FIELD_EMAIL] = "email",
    [SH_FIELD_URL] = "url",           [SH_FIELD_DATE] = "date",
    [SH_FIELD_AUTODATE] = "autodate", [SH_FIELD_SELECT] = "select",
    [SH_FIELD_JSON] = "json",         [SH_FIELD_RELATION] = "relation",
    [SH_FIELD_PASSWORD] = "password", [SH_FIELD_EDITOR] = "editor",
    [SH_FIELD_GEOPOINT] = "geoPoint", [SH_FIELD_FILE] = "file",
};

static const char *const rule_names[SH_RULE_COUNT] = {
    [SH_RULE_LIST] = "listRule",     [SH_RULE_VIEW] = "viewRule",
    [SH_RULE_CREATE] = "createRule", [SH_RULE_UPDATE] = "updateRule",
    [SH_RULE_DELETE] = "deleteRule", [SH_RULE_AUTH] = "authRule",
    [SH_RULE_MANAGE] = "manageRule",
};

const char *sh_field_kind_name(enum sh_field_kind kind)
{
    if ((size_t)kind >= SH_ARRAY_LEN(kind_names))
        return "";
    return kind_names[kind];
}

int sh_field_kind_parse(const char *name, enum sh_field_kind *out)
{
    for (size_t i = 0; i < SH_ARRAY_LEN(kind_names); i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (enum sh_field_kind)i;
            return 0;
        }
    }
    return SH_EINVAL;
}

const char *sh_rule_kind_name(enum sh_rule_kind k)
{
    return (size_t)k < SH_RULE_COUNT ? rule_names[k] : "";
}

bool sh_field_is_multi(const struct sh_field *f)
{
    return (f->kind == SH_FIELD_SELECT || f->kind == SH_FIELD_RELATION ||
            f->kind == SH_FIELD_FILE) &&
           f->max_select > 1;
}

/* Copies a name for display: printable ASCII kept, the rest shown as '?'. */
static void show_name(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    dst[i] = '\0';
}

int sh__schema_fail(struct sh_schema_error *err, const char *coll, const char *field,
                    const char *key, const char *vcode, const char *fmt, ...)
{
    if (!err)
        return SH_EINVAL;
    err->code = SH_EINVAL;
    show_name(err->collection, sizeof(err->collection), coll ? coll : "");
    show_name(err->field, sizeof(err->field), field ? field : "");
    err->key = key ? key : "";
    err->vcode = vcode ? vcode : "validation_invalid_value";

    size_t n = 0, cap = sizeof(err->message);
    int w;
    if (err->collection[0]) {
        w = snprintf(err->message, cap, "collection \"%s\": ", err->collection);
        n = w > 0 ? (size_t)w : 0;
    }
    if (n < cap && err->field[0]) {
        w = snprintf(err->message + n, cap - n, "field \"%s\": ", err->field);
        n += w > 0 ? (size_t)w : 0;
    } else if (n < cap && err->key[0] && strcmp(err->key, "fields") != 0) {
        w = snprintf(err->message + n, cap - n, "%s: ", err->key);
        n += w > 0 ? (size_t)w : 0;
    }
    if (n < cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message + n, cap - n, fmt, ap);
        va_end(ap);
    }
    err->message[cap - 1] = '\0';
    return SH_EINVAL;
}

bool sh__schema_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > SH_SCHEMA_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

static bool caseprefix(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++) {
        unsigned char x = (unsigned char)*s;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (x != (unsigned char)*prefix)
            return false;
    }
    return true;
}

bool sh__schema_name_reserved(const char *name)
{
    static const char *const internal[] = {"_collections", "_meta", "_migrations", "_sessions"};
    if (caseprefix(name, "sqlite_") || caseprefix(name, "_tmp_"))
        return true;
    for (size_t i = 0; i < SH_ARRAY_LEN(internal); i++)
        if (sh_schema_name_eq(name, internal[i]))
            return true;
    return false;
}

bool sh_schema_name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
        if (!x)
            return true;
    }
}

uint32_t sh__crc32(const char *s, size_t len)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned char)s[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

const struct sh_field *sh_collection_field(const struct sh_collection *c, const char *name)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (strcmp(c->fields[i].name, name) == 0)
            return &c->fields[i];
    for (size_t i = 0; i < c->nfields; i++)
        if (sh_schema_name_eq(c->fields[i].name, name))
            return &c->fields[i];
    return NULL;
}

const struct sh_field *sh_collection_field_by_id(const struct sh_collection *c, const char *id)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (c->fields[i].id && strcmp(c->fields[i].id, id) == 0)
            return &c->fields[i];
    return NULL;
}

void sh_index_deinit(struct sh_index *ix)
{
    free(ix->name);
    free(ix->table);
    for (size_t i = 0; i < ix->ncols; i++)
        free(ix->cols[i].name);
    free(ix->cols);
    free(ix->where_not_empty);
    memset(ix, 0, sizeof(*ix));
}

void sh_collection_free(struct sh_collection *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->name);
    for (size_t i = 0; i < c->nfields; i++)
        sh__field_deinit(&c->fields[i]);
    free(c->fields);
    for (size_t i = 0; i < c->nindexes; i++)
        sh_index_deinit(&c->indexes[i]);
    free(c->indexes);
    for (size_t i = 0; i < SH_RULE_COUNT; i++) {
        free(c->rules[i]);
        sh_filter_free(c->rule_filters[i]);
    }
    free(c->token_secret);
    free(c->view_query);
    sh__auth_options_free(c);
    free(c->created);
    free(c->updated);
    free(c);
}

void sh_collection_list_free(struct sh_collection **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        sh_collection_free(list[i]);
    free(list);
}

void sh_schema_sql_deinit(struct sh_schema_sql *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->stmts[i]);
    free(s->stmts);
    memset(s, 0, sizeof(*s));
}

void sh__sql_push(struct sh_schema_sql *s, char *stmt)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->stmts = sh_realloc(s->stmts, s->cap * sizeof(*s->stmts));
    }
    s->stmts[s->n++] = stmt;
}
