/*
 * One field of a collection: its PocketBase JSON object parsed and checked
 * option by option (the settings checks of PocketBase's field types: text
 * lengths and a pattern that compiles, number limits, date limits that parse,
 * select values, relation targets, autodate flags, ...), written back with
 * PocketBase's keys in its (alphabetical) order, copied and freed. Whether a
 * relation's collection exists and whether a field may appear in this
 * collection at all is decided by schema_parse.c.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"
#include "stagehand/formats.h"
#include "stagehand/schema.h"

struct fctx {
    const char *coll;
    const char *name; /* the field's name for errors; may be NULL early on */
    struct sh_schema_error *err;
};

static int ffail(const struct fctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An error about one field: `collection "c": field "f": <fmt>`. */
static int ffail(const struct fctx *x, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sh__schema_fail(x->err, x->coll, x->name ? x->name : "", "fields",
                           "validation_invalid_field", "%s", msg);
}

static int opt_bool(const struct fctx *x, const cJSON *o, const char *key, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return ffail(x, "\"%s\" must be a boolean.", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int opt_int(const struct fctx *x, const cJSON *o, const char *key, int64_t lo, int64_t hi,
                   int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return ffail(x, "\"%s\" must be a whole number in range.", key);
    *out = (int64_t)v->valuedouble;
    return 0;
}

static int opt_num(const struct fctx *x, const cJSON *o, const char *key, double *out, bool *has)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ffail(x, "\"%s\" must be a number or null.", key);
    *out = v->valuedouble;
    *has = true;
    return 0;
}

/* A string option; null and "" leave *out NULL. */
static int opt_str(const struct fctx *x, const cJSON *o, const char *key, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return ffail(x, "\"%s\" must be a string.", key);
    if (v->valuestring[0])
        *out = sh_strdup(v->valuestring);
    return 0;
}

static int opt_list(const struct fctx *x, const cJSON *o, const char *key, char ***out, size_t *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsArray(v))
        return ffail(x, "\"%s\" must be an array of strings.", key);
    int count = cJSON_GetArraySize(v);
    if (count > SH_SCHEMA_MAX_VALUES)
        return ffail(x, "\"%s\" has too many values.", key);
    *out = sh_calloc((size_t)count + 1, sizeof(char *));
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e) || !e->valuestring[0])
            return ffail(x, "\"%s\" must be an array of non-empty strings.", key);
        (*out)[(*n)++] = sh_strdup(e->valuestring);
    }
    return 0;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static char **copy_list(char *const *l, size_t n)
{
    if (!l)
        return NULL;
    char **c = sh_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c[i] = sh_strdup(l[i]);
    return c;
}

static regex_t *compile(const char *pattern)
{
    regex_t *re = sh_malloc(sizeof(*re));
    if (regcomp(re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
        free(re);
        return NULL;
    }
    return re;
}

static int parse_date_opt(const struct fctx *x, const cJSON *o, const char *key, char **out)
{
    char *raw = NULL;
    int rc = opt_str(x, o, key, &raw);
    if (rc || !raw)
        return rc;
    char norm[SH_DATETIME_LEN + 1];
    rc = sh_datetime_parse(raw, strlen(raw), norm);
    free(raw);
    if (rc)
        return ffail(x, "\"%s\" is not a valid date.", key);
    *out = sh_strdup(norm);
    return 0;
}

static int parse_text(const struct fctx *x, const cJSON *o, struct sh_field *f)
{
    int rc;
    const int64_t big = (INT64_C(1) << 53) - 1;
    int64_t hi = f->kind == SH_FIELD_PASSWORD ? 4096 : big;
    if ((rc = opt_int(x, o, "min", 0, hi, &f->min_len)) ||
        (rc = opt_int(x, o, "max", 0, hi, &f->max_len)) ||
        (rc = opt_str(x, o, "pattern", &f->pattern)))
        return rc;
    if (f->max_len && f->max_len < f->min_len)
        return ffail(x, "\"max\" must not be less than \"min\".");
    if (f->pattern && !(f->re = compile(f->pattern)))
        return ffail(x, "invalid pattern \"%s\".", f->pattern);
    if (f->kind == SH_FIELD_PASSWORD) {
        int64_t cost = 0;
        rc = opt_int(x, o, "cost", 0, 31, &cost);
        f->cost = (int)cost;
        return rc;
    }
    if ((rc = opt_bool(x, o, "primaryKey", &f->primary_key)) ||
        (rc = opt_str(x, o, "autogeneratePattern", &f->autogen)))
        return rc;
    if (f->autogen) {
        int n = sh_autogen_check(f->autogen);
        if (n < 0)
            return ffail(x, "unsupported autogeneratePattern \"%s\" (only [class]{n}).",
                         f->autogen);
        if (n < f->min_len || (f->max_len && n > f->max_len))
            return ffail(x, "autogeneratePattern \"%s\" gives values of the wrong length.",
                         f->autogen);
    }
    return 0;
}

static int parse_options(const struct fctx *x, const cJSON *o, struct sh_field *f)
{
    int rc = 0;
    int64_t v;
    switch (f->kind) {
    case SH_FIELD_TEXT:
    case SH_FIELD_PASSWORD:
        return parse_text(x, o, f);
    case SH_FIELD_NUMBER:
        if ((rc = opt_num(x, o, "min", &f->min, &f->has_min)) ||
            (rc = opt_num(x, o, "max", &f->max, &f->has_max)) ||
            (rc = opt_bool(x, o, "onlyInt", &f->only_int)))
            return rc;
        if (f->has_min && f->has_max && f->max < f->min)
            return ffail(x, "\"max\" must not be less than \"min\".");
        if (f->only_int &&
            ((f->has_min && f->min != floor(f->min)) || (f->has_max && f->max != floor(f->max))))
            return ffail(x, "\"min\" and \"max\" must be whole numbers with \"onlyInt\".");
        return 0;
    case SH_FIELD_EMAIL:
    case SH_FIELD_URL:
        if ((rc = opt_list(x, o, "onlyDomains", &f->only_domains, &f->nonly_domains)) ||
            (rc = opt_list(x, o, "exceptDomains", &f->except_domains, &f->nexcept_domains)))
            return rc;
        if (f->nonly_domains && f->nexcept_domains)
            return ffail(x, "\"onlyDomains\" and \"exceptDomains\" exclude each other.");
        return 0;
    case SH_FIELD_DATE:
        if ((rc = parse_date_opt(x, o, "min", &f->min_date)) ||
            (rc = parse_date_opt(x, o, "max", &f->max_date)))
            return rc;
        if (f->min_date && f->max_date && strcmp(f->max_date, f->min_date) < 0)
            return ffail(x, "\"max\" must not be before \"min\".");
        return 0;
    case SH_FIELD_AUTODATE:
        if ((rc = opt_bool(x, o, "onCreate", &f->on_create)) ||
            (rc = opt_bool(x, o, "onUpdate", &f->on_update)))
            return rc;
        if (!f->on_create && !f->on_update)
            return ffail(x, "either \"onCreate\" or \"onUpdate\" must be enabled.");
        return 0;
    case SH_FIELD_SELECT:
        v = 0;
        if ((rc = opt_list(x, o, "values", &f->values, &f->nvalues)) ||
            (rc = opt_int(x, o, "maxSelect", 0, SH_SCHEMA_MAX_VALUES, &v)))
            return rc;
        f->max_select = (int)v;
        if (f->nvalues == 0)
            return ffail(x, "\"values\" must list at least one value.");
        if ((size_t)f->max_select > f->nvalues)
            return ffail(x, "\"maxSelect\" must not exceed the number of values.");
        return 0;
    case SH_FIELD_RELATION:
        v = 0;
        if ((rc = opt_str(x, o, "collectionId", &f->collection_id)) ||
            (rc = opt_bool(x, o, "cascadeDelete", &f->cascade_delete)) ||
            (rc = opt_int(x, o, "maxSelect", 0, 1000000, &v)))
            return rc;
        f->max_select = (int)v;
        v = 0;
        if ((rc = opt_int(x, o, "minSelect", 0, 1000000, &v)))
            return rc;
        f->min_select = (int)v;
        if (!f->collection_id)
            return ffail(x, "\"collectionId\" is required.");
        if (f->min_select > 0 && f->max_select < f->min_select)
            return ffail(x, "\"maxSelect\" must be at least \"minSelect\".");
        return 0;
    case SH_FIELD_JSON:
        return opt_int(x, o, "maxSize", 0, (INT64_C(1) << 53) - 1, &f->max_size);
    case SH_FIELD_EDITOR:
        if ((rc = opt_int(x, o, "maxSize", 0, (INT64_C(1) << 53) - 1, &f->max_size)))
            return rc;
        return opt_bool(x, o, "convertURLs", &f->convert_urls);
    case SH_FIELD_FILE:
        v = 0;
        if ((rc = opt_int(x, o, "maxSelect", 0, SH_SCHEMA_MAX_VALUES, &v)) ||
            (rc = opt_int(x, o, "maxSize", 0, (INT64_C(1) << 53) - 1, &f->max_size)) ||
            (rc = opt_list(x, o, "mimeTypes", &f->mime_types, &f->nmime_types)) ||
            (rc = opt_list(x, o, "thumbs", &f->thumbs, &f->nthumbs)) ||
            (rc = opt_bool(x, o, "protected", &f->protected_files)))
            return rc;
        f->max_select = (int)v;
        return 0;
    case SH_FIELD_BOOL:
    case SH_FIELD_GEOPOINT:
        return 0;
    }
    return 0;
}

/* The keys PocketBase's JSON carries for a field of kind k (besides the
 * common ones); NULL-terminated. */
static const char *const *kind_keys(enum sh_field_kind k)
{
    static const char *const text[] = {"min",        "max", "pattern", "autogeneratePattern",
                                       "primaryKey", NULL};
    static const char *const password[] = {"min", "max", "pattern", "cost", NULL};
    static const char *const number[] = {"min", "max", "onlyInt", NULL};
    static const char *const domains[] = {"onlyDomains", "exceptDomains", NULL};
    static const char *const date[] = {"min", "max", NULL};
    static const char *const autodate[] = {"onCreate", "onUpdate", NULL};
    static const char *const select[] = {"values", "maxSelect", NULL};
    static const char *const relation[] = {"collectionId", "cascadeDelete", "maxSelect",
                                           "minSelect", NULL};
    static const char *const json[] = {"maxSize", NULL};
    static const char *const editor[] = {"maxSize", "convertURLs", NULL};
    static const char *const file[] = {"maxSelect", "maxSize",   "mimeTypes",
                                       "thumbs",    "protected", NULL};
    static const char *const none[] = {NULL};
    switch (k) {
    case SH_FIELD_FILE:
        return file;
    case SH_FIELD_TEXT:
        return text;
    case SH_FIELD_PASSWORD:
        return password;
    case SH_FIELD_NUMBER:
        return number;
    case SH_FIELD_EMAIL:
    case SH_FIELD_URL:
        return domains;
    case SH_FIELD_DATE:
        return date;
    case SH_FIELD_AUTODATE:
        return autodate;
    case SH_FIELD_SELECT:
        return select;
    case SH_FIELD_RELATION:
        return relation;
    case SH_FIELD_JSON:
        return json;
    case SH_FIELD_EDITOR:
        return editor;
    case SH_FIELD_BOOL:
    case SH_FIELD_GEOPOINT:
        return none;
    }
    return none;
}

/* Refuses, naming it, a key that PocketBase's JSON does not carry for the
 * field's type or that stagehand does not support: never dropped. */
static int check_keys(const struct fctx *x, const cJSON *obj, enum sh_field_kind k)
{
    static const char *const common[] = {"id",          "name",     "type",      "system", "hidden",
                                         "presentable", "required", "encrypted", "help"};
    const cJSON *e;
    cJSON_ArrayForEach(e, obj) {
        bool ok = false;
        for (size_t i = 0; !ok && i < SH_ARRAY_LEN(common); i++)
            ok = strcmp(e->string, common[i]) == 0;
        for (const char *const *p = kind_keys(k); !ok && *p; p++)
            ok = strcmp(e->string, *p) == 0;
        if (!ok)
            return ffail(x, "unknown or unsupported option \"%.60s\" for a %s field.", e->string,
                         sh_field_kind_name(k));
    }
    return 0;
}

/* Names a record's JSON or SQLite gives a meaning of their own: a column
 * called rowid, oid or _rowid_ would hide the table's rowid, which ordering
 * and the writer rely on. Compared case-insensitively, as SQLite does. */
static const char *const reserved_names[] = {
    "expand", "collectionId", "collectionName", "null", "true", "false", "_rowid_", "rowid", "oid"};

int sh__field_parse(const cJSON *obj, const char *coll, struct sh_field *f,
                    struct sh_schema_error *err)
{
    memset(f, 0, sizeof(*f));
    struct fctx x = {.coll = coll, .name = NULL, .err = err};
    if (!cJSON_IsObject(obj))
        return sh__schema_fail(err, coll, "", "fields", "validation_invalid_field",
                               "every field must be an object.");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (cJSON_IsString(name))
        x.name = name->valuestring;
    if (!cJSON_IsString(name) || !name->valuestring[0])
        return ffail(&x, "a field has no name.");
    size_t nlen = strlen(name->valuestring);
    if (!sh__schema_name_ok(name->valuestring, nlen))
        return ffail(&x, "invalid name (letters, digits and _, not starting with a digit, "
                         "at most 100).");
    for (size_t i = 0; i < SH_ARRAY_LEN(reserved_names); i++)
        if (sh_schema_name_eq(name->valuestring, reserved_names[i]))
            return ffail(&x, "the name is reserved.");
    if (strstr(name->valuestring, "_via_"))
        return ffail(&x, "the name must not contain \"_via_\".");
    f->name = sh_strdup(name->valuestring);

    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (!cJSON_IsString(type))
        return ffail(&x, "missing type.");
    if (sh_field_kind_parse(type->valuestring, &f->kind))
        return ffail(&x, "unknown type \"%s\".", type->valuestring);

    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (id && !cJSON_IsNull(id)) {
        if (!cJSON_IsString(id))
            return ffail(&x, "\"id\" must be a string.");
        size_t ilen = strlen(id->valuestring);
        if (ilen > SH_SCHEMA_NAME_MAX ||
            strspn(id->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
                                    "XYZ0123456789_") != ilen)
            return ffail(&x, "invalid field id \"%s\".", id->valuestring);
        if (ilen)
            f->id = sh_strdup(id->valuestring);
    }
    int rc;
    if ((rc = check_keys(&x, obj, f->kind)) || (rc = opt_str(&x, obj, "help", &f->help)))
        return rc;
    if ((rc = opt_bool(&x, obj, "system", &f->system)) ||
        (rc = opt_bool(&x, obj, "hidden", &f->hidden)) ||
        (rc = opt_bool(&x, obj, "presentable", &f->presentable)) ||
        (rc = opt_bool(&x, obj, "required", &f->required)) ||
        (rc = opt_bool(&x, obj, "encrypted", &f->encrypted)))
        return rc;
    if (f->encrypted && f->kind != SH_FIELD_TEXT && f->kind != SH_FIELD_JSON)
        return ffail(&x, "\"encrypted\" is only supported on text and json fields.");
    if (f->kind == SH_FIELD_AUTODATE)
        f->required = false;
    if ((rc = parse_options(&x, obj, f)))
        return rc;
    if (f->primary_key && strcmp(f->name, "id") != 0)
        return ffail(&x, "only the \"id\" field can be the primary key.");
    return 0;
}

void sh__field_deinit(struct sh_field *f)
{
    free(f->id);
    free(f->name);
    free(f->pattern);
    if (f->re) {
        regfree(f->re);
        free(f->re);
    }
    free(f->autogen);
    free(f->min_date);
    free(f->max_date);
    free_list(f->values, f->nvalues);
    free_list(f->only_domains, f->nonly_domains);
    free_list(f->except_domains, f->nexcept_domains);
    free_list(f->mime_types, f->nmime_types);
    free_list(f->thumbs, f->nthumbs);
    free(f->collection_id);
    free(f->help);
    memset(f, 0, sizeof(*f));
}

static char *dup_or_null(const char *s)
{
    return s ? sh_strdup(s) : NULL;
}

void sh__field_copy(struct sh_field *dst, const struct sh_field *src)
{
    *dst = *src;
    dst->id = dup_or_null(src->id);
    dst->name = dup_or_null(src->name);
    dst->pattern = dup_or_null(src->pattern);
    dst->re = src->pattern ? compile(src->pattern) : NULL;
    dst->autogen = dup_or_null(src->autogen);
    dst->min_date = dup_or_null(src->min_date);
    dst->max_date = dup_or_null(src->max_date);
    dst->values = copy_list(src->values, src->nvalues);
    dst->only_domains = copy_list(src->only_domains, src->nonly_domains);
    dst->except_domains = copy_list(src->except_domains, src->nexcept_domains);
    dst->mime_types = copy_list(src->mime_types, src->nmime_types);
    dst->thumbs = copy_list(src->thumbs, src->nthumbs);
    dst->collection_id = dup_or_null(src->collection_id);
    dst->help = dup_or_null(src->help);
}

/* ---- JSON output: keys collected, then added in alphabetical order ---- */
struct kv {
    const char *key;
    cJSON *val;
};

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

static cJSON *str_list(char *const *l, size_t n, bool null_if_empty)
{
    if (!n && null_if_empty)
        return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(l[i]));
    return a;
}

cJSON *sh__field_to_json(const struct sh_field *f)
{
    struct kv kv[20];
    size_t n = 0;
#define PUT(k, v) (kv[n].key = (k), kv[n++].val = (v))
    PUT("id", cJSON_CreateString(f->id ? f->id : ""));
    PUT("name", cJSON_CreateString(f->name));
    PUT("type", cJSON_CreateString(sh_field_kind_name(f->kind)));
    PUT("system", cJSON_CreateBool(f->system));
    PUT("hidden", cJSON_CreateBool(f->hidden));
    PUT("presentable", cJSON_CreateBool(f->presentable));
    if (f->kind != SH_FIELD_AUTODATE)
        PUT("required", cJSON_CreateBool(f->required));
    if (f->encrypted)
        PUT("encrypted", cJSON_CreateTrue());
    if (f->help)
        PUT("help", cJSON_CreateString(f->help));
    switch (f->kind) {
    case SH_FIELD_TEXT:
    case SH_FIELD_PASSWORD:
        PUT("min", cJSON_CreateNumber((double)f->min_len));
        PUT("max", cJSON_CreateNumber((double)f->max_len));
        PUT("pattern", cJSON_CreateString(f->pattern ? f->pattern : ""));
        if (f->kind == SH_FIELD_PASSWORD) {
            PUT("cost", cJSON_CreateNumber(f->cost));
        } else {
            PUT("autogeneratePattern", cJSON_CreateString(f->autogen ? f->autogen : ""));
            PUT("primaryKey", cJSON_CreateBool(f->primary_key));
        }
        break;
    case SH_FIELD_NUMBER:
        PUT("min", f->has_min ? cJSON_CreateNumber(f->min) : cJSON_CreateNull());
        PUT("max", f->has_max ? cJSON_CreateNumber(f->max) : cJSON_CreateNull());
        PUT("onlyInt", cJSON_CreateBool(f->only_int));
        break;
    case SH_FIELD_EMAIL:
    case SH_FIELD_URL:
        PUT("onlyDomains", str_list(f->only_domains, f->nonly_domains, true));
        PUT("exceptDomains", str_list(f->except_domains, f->nexcept_domains, true));
        break;
    case SH_FIELD_DATE:
        PUT("min", cJSON_CreateString(f->min_date ? f->min_date : ""));
        PUT("max", cJSON_CreateString(f->max_date ? f->max_date : ""));
        break;
    case SH_FIELD_AUTODATE:
        PUT("onCreate", cJSON_CreateBool(f->on_create));
        PUT("onUpdate", cJSON_CreateBool(f->on_update));
        break;
    case SH_FIELD_SELECT:
        PUT("values", str_list(f->values, f->nvalues, false));
        PUT("maxSelect", cJSON_CreateNumber(f->max_select));
        break;
    case SH_FIELD_RELATION:
        PUT("collectionId", cJSON_CreateString(f->collection_id ? f->collection_id : ""));
        PUT("cascadeDelete", cJSON_CreateBool(f->cascade_delete));
        PUT("maxSelect", cJSON_CreateNumber(f->max_select));
        PUT("minSelect", cJSON_CreateNumber(f->min_select));
        break;
    case SH_FIELD_JSON:
        PUT("maxSize", cJSON_CreateNumber((double)f->max_size));
        break;
    case SH_FIELD_EDITOR:
        PUT("maxSize", cJSON_CreateNumber((double)f->max_size));
        PUT("convertURLs", cJSON_CreateBool(f->convert_urls));
        break;
    case SH_FIELD_FILE:
        PUT("maxSelect", cJSON_CreateNumber(f->max_select));
        PUT("maxSize", cJSON_CreateNumber((double)f->max_size));
        PUT("mimeTypes", str_list(f->mime_types, f->nmime_types, false));
        PUT("thumbs", str_list(f->thumbs, f->nthumbs, false));
        PUT("protected", cJSON_CreateBool(f->protected_files));
        break;
    case SH_FIELD_BOOL:
    case SH_FIELD_GEOPOINT:
        break;
    }
#undef PUT
    qsort(kv, n, sizeof(kv[0]), kv_cmp);
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToObject(o, kv[i].key, kv[i].val);
    return o;
}
