/*
 * The value of one field of a record: the stored value (on update) and the
 * request body's key and modifiers combined, coerced the way PocketBase
 * coerces (cast.ToString, cast.ToFloat64, cast.ToBool, ToUniqueStringSlice,
 * the JSON field's string normalisation), then checked against the field's
 * options with PocketBase's codes (editor: text within maxSize bytes;
 * geoPoint: {lon, lat} within range, stored as {"lon":x,"lat":y}). Autodate and password fields,
 * and the assembly of a whole record, are validate.c's.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"
#include "stagehand/json.h"
#include "stagehand/validate.h"

static int verr(struct sh__verr *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int verr(struct sh__verr *e, const char *code, const char *fmt, ...)
{
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return SH_EINVAL;
}

static void set_text(struct sh_value *v, char *s)
{
    v->type = SH_VALUE_TEXT;
    v->text = s;
    v->len = strlen(s);
}

size_t sh__utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Shortest decimal form that reads back as d ("12", "1.5"). */
static char *format_number(double d)
{
    char buf[40];
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(buf, sizeof(buf), "%.0f", d);
        if (strcmp(buf, "-0") == 0)
            strcpy(buf, "0");
        return sh_strdup(buf);
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return sh_strdup(buf);
}

char *sh__json_to_text(const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return sh_strdup("");
    if (cJSON_IsString(v))
        return sh_strdup(v->valuestring);
    if (cJSON_IsNumber(v))
        return format_number(v->valuedouble);
    if (cJSON_IsBool(v))
        return sh_strdup(cJSON_IsTrue(v) ? "true" : "false");
    return NULL;
}

/* ---- text, email, url ---- */
static bool domain_in(char *const *list, size_t n, const char *d, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncasecmp(list[i], d, len) == 0)
            return true;
    return false;
}

/* Whether s matches f's pattern (f->re). The commonest patterns, a bracket
 * class of letters, digits and ranges of them repeated "+" between anchors
 * (every collection's id field has "^[a-z0-9]+$"), are matched here by a
 * byte table: regexec costs thousands of instructions per call and every
 * create runs it on the id. In the C locale (stagehand never calls
 * setlocale) that is exactly what regcomp's REG_EXTENDED reading of such a
 * pattern accepts. Any other pattern goes to regexec. The table of the last
 * pattern is kept per thread, keyed by the pattern's text. */
struct simple_class {
    char pattern[64]; /* "" = none yet */
    bool simple;      /* the pattern has the form above */
    bool set[256];
};

/* 1 lower-case letter, 2 upper-case, 3 digit, 4 '_', 0 anything else. */
static int class_kind(unsigned char c)
{
    if (c >= 'a' && c <= 'z')
        return 1;
    if (c >= 'A' && c <= 'Z')
        return 2;
    if (c >= '0' && c <= '9')
        return 3;
    return c == '_' ? 4 : 0;
}

/* Parses "^[class]+$" with class made of letters, digits, '_' and ranges
 * a-b of two of the same kind (both lower, upper or digits). */
static bool simple_parse(const char *p, bool set[256])
{
    memset(set, 0, 256);
    size_t len = strlen(p);
    if (len < 6 || strncmp(p, "^[", 2) != 0 || strcmp(p + len - 3, "]+$") != 0)
        return false;
    size_t end = len - 3;
    for (size_t i = 2; i < end;) {
        unsigned char a = (unsigned char)p[i];
        if (!class_kind(a))
            return false;
        if (i + 2 < end && p[i + 1] == '-') {
            unsigned char b = (unsigned char)p[i + 2];
            if (class_kind(a) > 3 || class_kind(a) != class_kind(b) || a > b)
                return false;
            for (unsigned c = a; c <= b; c++)
                set[c] = true;
            i += 3;
        } else {
            set[a] = true;
            i++;
        }
    }
    return true;
}

static bool pattern_match(const struct sh_field *f, const char *s)
{
    static _Thread_local struct simple_class last;
    size_t plen = strlen(f->pattern);
    if (plen < sizeof(last.pattern)) {
        if (strcmp(last.pattern, f->pattern) != 0) {
            last.simple = simple_parse(f->pattern, last.set);
            memcpy(last.pattern, f->pattern, plen + 1);
        }
        if (last.simple) {
            if (!*s)
                return false;
            for (const unsigned char *q = (const unsigned char *)s; *q; q++)
                if (!last.set[*q])
                    return false;
            return true;
        }
    }
    return regexec(f->re, s, 0, NULL, 0) == 0;
}

static int check_text(const struct sh_field *f, const char *s, struct sh__verr *e)
{
    if (!*s)
        return f->required || f->primary_key
                   ? verr(e, "validation_required", "Missing required value.")
                   : 0;
    size_t n = sh__utf8_count(s);
    if (f->kind == SH_FIELD_TEXT) {
        int64_t max = f->max_len ? f->max_len : SH_TEXT_DEFAULT_MAX;
        if (f->min_len && (int64_t)n < f->min_len)
            return verr(e, "validation_min_text_constraint", "Must be at least %lld character(s).",
                        (long long)f->min_len);
        if ((int64_t)n > max)
            return verr(e, "validation_max_text_constraint",
                        "Must be no more than %lld character(s).", (long long)max);
        if (f->re && !pattern_match(f, s))
            return verr(e, "validation_invalid_format", "Invalid value format.");
        return 0;
    }
    const char *dom;
    size_t dlen;
    if (f->kind == SH_FIELD_EMAIL) {
        if (!sh_email_valid(s, strlen(s)))
            return verr(e, "validation_is_email", "Must be a valid email address.");
        dom = strrchr(s, '@') + 1;
        dlen = strlen(dom);
    } else {
        if (!sh_url_valid(s, strlen(s), &dom, &dlen))
            return verr(e, "validation_is_url", "Must be a valid url.");
    }
    const char *code = f->kind == SH_FIELD_EMAIL ? "validation_email_domain_not_allowed"
                                                 : "validation_url_domain_not_allowed";
    if ((f->nonly_domains && !domain_in(f->only_domains, f->nonly_domains, dom, dlen)) ||
        domain_in(f->except_domains, f->nexcept_domains, dom, dlen))
        return verr(e, code, "%s domain is not allowed.",
                    f->kind == SH_FIELD_EMAIL ? "Email" : "Url");
    return 0;
}

static int text_value(const struct sh_field *f, const cJSON *base, const cJSON *body, bool create,
                      struct sh_value *out, bool *touched, struct sh__verr *e)
{
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, f->name);
    char *s = sh__json_to_text(set ? set : base);
    if (!s)
        return verr(e, "validation_invalid_value", "Must be a string.");
    *touched = set != NULL;
    if (f->primary_key && !create) {
        /* The id of a stored record never changes. */
        char *was = sh__json_to_text(base);
        bool same = was && strcmp(was, s) == 0;
        free(s);
        if (!same) {
            free(was);
            return verr(e, "validation_pk_change", "The record primary key cannot be changed.");
        }
        set_text(out, was);
        *touched = false;
        return 0;
    }
    if (create && !*s && f->autogen) {
        free(s);
        s = sh_autogen_generate(f->autogen);
        if (!s)
            s = sh_strdup("");
        *touched = true;
    }
    if (f->primary_key && strpbrk(s, "/\\")) {
        free(s);
        return verr(e, "validation_pk_forbidden",
                    "The record primary key contains forbidden characters.");
    }
    int rc = check_text(f, s, e);
    if (rc) {
        free(s);
        return rc;
    }
    set_text(out, s);
    return 0;
}

/* The key of a modifier of field name in a body ("n+", "+tags", "tags-"):
 * pre, name, suf into key (SH_SCHEMA_NAME_MAX + 2 bytes; one of pre and
 * suf is ""), truncated as snprintf would. Without a format call: every
 * number and list field of every write looks its modifiers up. */
static const char *mod_key(char *key, const char *pre, const char *name, const char *suf)
{
    size_t cap = SH_SCHEMA_NAME_MAX + 1, n = 0; /* characters, before the NUL */
    for (const char *p = pre; *p && n < cap; p++)
        key[n++] = *p;
    for (const char *p = name; *p && n < cap; p++)
        key[n++] = *p;
    for (const char *p = suf; *p && n < cap; p++)
        key[n++] = *p;
    key[n] = 0;
    return key;
}

/* ---- number ---- */
static int to_number(const cJSON *v, double *out)
{
    if (!v || cJSON_IsNull(v)) {
        *out = 0;
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 0;
    }
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
        return 0;
    }
    if (!cJSON_IsString(v))
        return -1;
    const char *s = v->valuestring;
    while (*s == ' ')
        s++;
    if (!*s) {
        *out = 0;
        return 0;
    }
    /* decimal only: no hex, inf or nan */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE ", *p))
            return -1;
    char *end;
    double d = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (end == s || *end || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int number_value(const struct sh_field *f, const cJSON *base, const cJSON *body,
                        struct sh_value *out, bool *touched, struct sh__verr *e)
{
    const char *bad = "The submitted number is not properly formatted.";
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, f->name);
    double v, delta;
    if (to_number(set ? set : base, &v))
        return verr(e, "validation_not_a_number", "%s", bad);
    *touched = set != NULL;
    char key[SH_SCHEMA_NAME_MAX + 2];
    for (int sign = 1; sign >= -1; sign -= 2) {
        const cJSON *m =
            cJSON_GetObjectItemCaseSensitive(body, mod_key(key, "", f->name, sign > 0 ? "+" : "-"));
        if (!m)
            continue;
        if (to_number(m, &delta))
            return verr(e, "validation_not_a_number", "%s", bad);
        v += sign * delta;
        *touched = true;
    }
    if (!isfinite(v))
        return verr(e, "validation_not_a_number", "%s", bad);
    if (v == 0 && f->required)
        return verr(e, "validation_required", "Missing required value.");
    if (v != 0 && f->only_int && v != floor(v))
        return verr(e, "validation_only_int_constraint", "Decimal numbers are not allowed.");
    if (v != 0 && f->has_min && v < f->min)
        return verr(e, "validation_min_number_constraint", "Must be larger than %g.", f->min);
    if (v != 0 && f->has_max && v > f->max)
        return verr(e, "validation_max_number_constraint", "Must be less than %g.", f->max);
    if (v == floor(v) && fabs(v) <= 9007199254740992.0) {
        out->type = SH_VALUE_INT;
        out->i = (int64_t)v;
    } else {
        out->type = SH_VALUE_REAL;
        out->d = v;
    }
    return 0;
}

/* ---- bool ---- */
static int to_bool(const cJSON *v, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"", "0", "f", "F", "false", "FALSE", "False"};
    *out = false;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsBool(v) || cJSON_IsNumber(v)) {
        *out = cJSON_IsBool(v) ? cJSON_IsTrue(v) : v->valuedouble != 0;
        return 0;
    }
    if (!cJSON_IsString(v))
        return -1;
    for (size_t i = 0; i < SH_ARRAY_LEN(yes); i++)
        if (strcmp(v->valuestring, yes[i]) == 0) {
            *out = true;
            return 0;
        }
    for (size_t i = 0; i < SH_ARRAY_LEN(no); i++)
        if (strcmp(v->valuestring, no[i]) == 0)
            return 0;
    return -1;
}

static int bool_value(const struct sh_field *f, const cJSON *base, const cJSON *body,
                      struct sh_value *out, bool *touched, struct sh__verr *e)
{
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, f->name);
    bool b;
    if (to_bool(set ? set : base, &b))
        return verr(e, "validation_invalid_value", "Must be a boolean.");
    *touched = set != NULL;
    if (!b && f->required)
        return verr(e, "validation_required", "Missing required value.");
    out->type = SH_VALUE_INT;
    out->i = b;
    return 0;
}

/* ---- date ---- */
static int date_value(const struct sh_field *f, const cJSON *base, const cJSON *body,
                      struct sh_value *out, bool *touched, struct sh__verr *e)
{
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, f->name);
    const cJSON *v = set ? set : base;
    char norm[SH_DATETIME_LEN + 1] = "";
    *touched = set != NULL;
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && fabs(v->valuedouble) < 253402300800.0) {
        sh_datetime_format((int64_t)(v->valuedouble * 1000), norm); /* Unix seconds */
    } else if (cJSON_IsString(v) && v->valuestring[0]) {
        if (sh_datetime_parse(v->valuestring, strlen(v->valuestring), norm))
            return verr(e, "validation_invalid_date", "Must be a valid date.");
    } else if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
        return verr(e, "validation_invalid_date", "Must be a valid date.");
    }
    if (!norm[0] && f->required)
        return verr(e, "validation_required", "Missing required value.");
    if (norm[0] && f->min_date && strcmp(norm, f->min_date) < 0)
        return verr(e, "validation_min_greater_equal_than_required", "Must be no less than %s.",
                    f->min_date);
    if (norm[0] && f->max_date && strcmp(norm, f->max_date) > 0)
        return verr(e, "validation_max_less_equal_than_required", "Must be no greater than %s.",
                    f->max_date);
    set_text(out, sh_strdup(norm));
    return 0;
}

/* ---- select and relation: lists of unique non-empty strings ---- */
struct slist {
    char **v;
    size_t n, cap;
};

static void slist_add(struct slist *l, char *s)
{
    bool dup = !*s;
    for (size_t i = 0; i < l->n && !dup; i++)
        dup = strcmp(l->v[i], s) == 0;
    if (dup) {
        free(s);
        return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = sh_realloc(l->v, l->cap * sizeof(char *));
    }
    l->v[l->n++] = s;
}

static void slist_free(struct slist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Appends the values of v: an array, a single scalar, or a string holding
 * a JSON array. Returns -1 for an object. */
static int slist_from(struct slist *l, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v) && v->valuestring[0] == '[') {
        cJSON *arr = sh_json_parse(v->valuestring, strlen(v->valuestring), NULL);
        int rc = 0;
        if (cJSON_IsArray(arr))
            rc = slist_from(l, arr);
        else
            slist_add(l, sh_strdup(v->valuestring));
        cJSON_Delete(arr);
        return rc;
    }
    if (cJSON_IsArray(v)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            char *s = sh__json_to_text(x);
            if (!s)
                return -1;
            slist_add(l, s);
        }
        return 0;
    }
    char *s = sh__json_to_text(v);
    if (!s)
        return -1;
    slist_add(l, s);
    return 0;
}

/* A file field names only files it already holds (base) or that this
 * request uploaded (o->uploads): a client can never point a record at a
 * name it made up, or at another record's file. */
static bool file_known(const char *name, const cJSON *base, const struct sh_validate_opts *o)
{
    for (size_t i = 0; o && i < o->nuploads; i++)
        if (strcmp(o->uploads[i], name) == 0)
            return true;
    struct slist old = {0};
    bool found = false;
    if (slist_from(&old, base) == 0)
        for (size_t i = 0; i < old.n && !found; i++)
            found = strcmp(old.v[i], name) == 0;
    slist_free(&old);
    return found;
}

static int list_value(const struct sh_field *f, const cJSON *base, const cJSON *body,
                      const struct sh_validate_opts *o, struct sh_value *out, bool *touched,
                      struct sh__verr *e)
{
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, f->name);
    struct slist l = {0}, mod = {0};
    char key[SH_SCHEMA_NAME_MAX + 2];
    int rc = 0;
    *touched = set != NULL;
    if (slist_from(&l, set ? set : base))
        goto bad;
    /* "+name" prepends, "name+" appends, "name-" removes (PocketBase's order). */
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, mod_key(key, "+", f->name, ""));
    if (m) {
        if (slist_from(&mod, m))
            goto bad;
        for (size_t i = 0; i < l.n; i++)
            slist_add(&mod, l.v[i]);
        free(l.v);
        l = mod;
        memset(&mod, 0, sizeof(mod));
        *touched = true;
    }
    if ((m = cJSON_GetObjectItemCaseSensitive(body, mod_key(key, "", f->name, "+")))) {
        if (slist_from(&l, m))
            goto bad;
        *touched = true;
    }
    if ((m = cJSON_GetObjectItemCaseSensitive(body, mod_key(key, "", f->name, "-")))) {
        if (slist_from(&mod, m))
            goto bad;
        size_t k = 0;
        for (size_t i = 0; i < l.n; i++) {
            bool drop = false;
            for (size_t j = 0; j < mod.n && !drop; j++)
                drop = strcmp(l.v[i], mod.v[j]) == 0;
            if (drop)
                free(l.v[i]);
            else
                l.v[k++] = l.v[i];
        }
        l.n = k;
        slist_free(&mod);
        *touched = true;
    }
    bool multi = sh_field_is_multi(f);
    if (!multi && l.n > 1) { /* a single value keeps the last one given */
        for (size_t i = 0; i + 1 < l.n; i++)
            free(l.v[i]);
        l.v[0] = l.v[l.n - 1];
        l.n = 1;
    }
    size_t max = f->max_select > 1 ? (size_t)f->max_select : 1;
    if (l.n == 0 && f->required)
        rc = verr(e, "validation_required", "Missing required value.");
    else if (l.n && f->kind == SH_FIELD_RELATION && f->min_select > 0 &&
             l.n < (size_t)f->min_select)
        rc = verr(e, "validation_not_enough_values", "Select at least %d.", f->min_select);
    else if (l.n > max)
        rc = verr(e, "validation_too_many_values", "Select no more than %zu.", max);
    for (size_t i = 0; !rc && f->kind == SH_FIELD_SELECT && i < l.n; i++) {
        bool ok = false;
        for (size_t k = 0; k < f->nvalues && !ok; k++)
            ok = strcmp(f->values[k], l.v[i]) == 0;
        if (!ok)
            rc = verr(e, "validation_invalid_value", "Invalid value %.100s.", l.v[i]);
    }
    for (size_t i = 0; !rc && f->kind == SH_FIELD_FILE && i < l.n; i++)
        if (!file_known(l.v[i], base, o))
            rc = verr(e, "validation_invalid_file", "Unknown file %.100s.", l.v[i]);
    if (!rc && l.n && f->kind == SH_FIELD_RELATION && o && o->rel_check &&
        o->rel_check(o->rel_ud, f, (const char *const *)l.v, l.n) != 1)
        rc = verr(e, "validation_missing_rel_records",
                  "Failed to find all relation records with the provided ids.");
    if (!rc) {
        if (multi) {
            cJSON *arr = cJSON_CreateArray();
            for (size_t i = 0; i < l.n; i++)
                cJSON_AddItemToArray(arr, cJSON_CreateString(l.v[i]));
            set_text(out, cJSON_PrintUnformatted(arr));
            cJSON_Delete(arr);
        } else {
            set_text(out, l.n ? l.v[0] : sh_strdup(""));
            if (l.n)
                l.n = 0; /* ownership moved to out */
        }
    }
    slist_free(&l);
    return rc;
bad:
    slist_free(&l);
    slist_free(&mod);
    return verr(e, "validation_invalid_value", "Must be a string or a list of strings.");
}

/* ---- json ---- */

/* PocketBase's rules for a JSON field given as a string: "", and text that is
 * not JSON, become a JSON string; "null", "true", "false" and JSON starting
 * with a digit, '-', '"', '[' or '{' are taken as JSON — by the strict parse
 * of stagehand/json.h, so "012", "[1] x", "1e999" or {"a":1,"a":2} stay
 * strings instead of being stored as text no strict reader could load. */
static char *json_from_string(const char *s)
{
    bool as_json = !strcmp(s, "null") || !strcmp(s, "true") || !strcmp(s, "false");
    if (!as_json && *s && strchr("0123456789-\"[{", *s)) {
        cJSON *p = sh_json_parse(s, strlen(s), NULL);
        as_json = p != NULL;
        cJSON_Delete(p);
    }
    if (as_json)
        return sh_strdup(s);
    cJSON *str = cJSON_CreateString(s);
    char *out = cJSON_PrintUnformatted(str);
    cJSON_Delete(str);
    return out;
}

static int json_value(const struct sh_field *f, const cJSON *base, const cJSON *body,
                      struct sh_value *out, bool *touched, struct sh__verr *e)
{
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, f->name);
    const cJSON *v = set ? set : base;
    *touched = set != NULL;
    char *text = NULL;
    if (cJSON_IsString(v) && set)
        text = json_from_string(v->valuestring);
    else if (v && !cJSON_IsNull(v))
        text = cJSON_PrintUnformatted(v);
    int64_t max = f->max_size ? f->max_size : SH_JSON_DEFAULT_MAX;
    if (text && (int64_t)strlen(text) > max) {
        free(text);
        return verr(e, "validation_json_size_limit", "The maximum allowed JSON size is %lld bytes.",
                    (long long)max);
    }
    if (f->required && (!text || !strcmp(text, "null") || !strcmp(text, "\"\"") ||
                        !strcmp(text, "[]") || !strcmp(text, "{}"))) {
        free(text);
        return verr(e, "validation_required", "Missing required value.");
    }
    if (text)
        set_text(out, text);
    else
        out->type = SH_VALUE_NULL;
    return 0;
}

/* ---- editor: HTML text of at most maxSize bytes ---- */
static int editor_value(const struct sh_field *f, const cJSON *base, const cJSON *body,
                        struct sh_value *out, bool *touched, struct sh__verr *e)
{
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, f->name);
    char *s = sh__json_to_text(set ? set : base);
    if (!s)
        return verr(e, "validation_invalid_value", "Must be a string.");
    *touched = set != NULL;
    int64_t max = f->max_size ? f->max_size : SH_EDITOR_DEFAULT_MAX;
    if ((int64_t)strlen(s) > max) {
        free(s);
        return verr(e, "validation_max_text_constraint", "Must be less than %lld bytes.",
                    (long long)max);
    }
    if (f->required && !*s) {
        free(s);
        return verr(e, "validation_required", "Missing required value.");
    }
    set_text(out, s);
    return 0;
}

/* ---- geoPoint: {"lon": -180..180, "lat": -90..90}, stored as JSON text ---- */
static int geo_value(const struct sh_field *f, const cJSON *base, const cJSON *body,
                     struct sh_value *out, bool *touched, struct sh__verr *e)
{
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, f->name);
    const cJSON *v = set ? set : base;
    *touched = set != NULL;
    cJSON *parsed = NULL;
    if (cJSON_IsString(v) && v->valuestring[0]) /* multipart forms send JSON text */
        v = parsed = cJSON_Parse(v->valuestring);
    double lonlat[2] = {0, 0};
    int rc = 0;
    if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !v->valuestring[0])) {
        static const char *const keys[2] = {"lon", "lat"};
        if (!cJSON_IsObject(v))
            rc = verr(e, "validation_invalid_geo_point",
                      "Must be an object {\"lon\": number, \"lat\": number}.");
        for (size_t k = 0; !rc && k < 2; k++) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(v, keys[k]);
            if (n && !cJSON_IsNumber(n))
                rc = verr(e, "validation_invalid_geo_point", "\"%s\" must be a number.", keys[k]);
            else if (n)
                lonlat[k] = n->valuedouble;
        }
        if (!rc &&
            (!(lonlat[0] >= -180 && lonlat[0] <= 180) || !(lonlat[1] >= -90 && lonlat[1] <= 90)))
            rc = verr(e, "validation_invalid_geo_point",
                      "The longitude must be between -180 and 180 and the latitude between -90 "
                      "and 90.");
    }
    cJSON_Delete(parsed);
    if (rc)
        return rc;
    if (f->required && lonlat[0] == 0 && lonlat[1] == 0)
        return verr(e, "validation_required", "Missing required value.");
    char *lon = format_number(lonlat[0]), *lat = format_number(lonlat[1]);
    size_t len = strlen(lon) + strlen(lat) + 20;
    char *text = sh_malloc(len);
    snprintf(text, len, "{\"lon\":%s,\"lat\":%s}", lon, lat);
    free(lon);
    free(lat);
    set_text(out, text);
    return 0;
}

int sh__field_value(const struct sh_field *f, const cJSON *base, const cJSON *body, bool create,
                    const struct sh_validate_opts *o, struct sh_value *out, bool *touched,
                    struct sh__verr *e)
{
    memset(out, 0, sizeof(*out));
    *touched = false;
    switch (f->kind) {
    case SH_FIELD_TEXT:
    case SH_FIELD_EMAIL:
    case SH_FIELD_URL:
        return text_value(f, base, body, create, out, touched, e);
    case SH_FIELD_NUMBER:
        return number_value(f, base, body, out, touched, e);
    case SH_FIELD_BOOL:
        return bool_value(f, base, body, out, touched, e);
    case SH_FIELD_DATE:
        return date_value(f, base, body, out, touched, e);
    case SH_FIELD_SELECT:
    case SH_FIELD_RELATION:
    case SH_FIELD_FILE:
        return list_value(f, base, body, o, out, touched, e);
    case SH_FIELD_JSON:
        return json_value(f, base, body, out, touched, e);
    case SH_FIELD_EDITOR:
        return editor_value(f, base, body, out, touched, e);
    case SH_FIELD_GEOPOINT:
        return geo_value(f, base, body, out, touched, e);
    case SH_FIELD_AUTODATE:
    case SH_FIELD_PASSWORD:
        break;
    }
    return verr(e, "validation_invalid_value", "Invalid value.");
}
