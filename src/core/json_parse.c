/*
 * sh_json_parse: the strict entry point of stagehand/json.h. Order matters
 * for cost: the size limit is checked before any byte is read, the
 * validating pass (json_check.c) runs before cJSON allocates a node, and the
 * two rules that need decoded values — duplicate keys (`"a"` and `"\u0061"`
 * are the same key) and numbers out of a double's range (cJSON would keep
 * inf, which prints as null) — are checked in one walk of the finished tree.
 * Keys of an object are compared pairwise when it has few, else put in a
 * hash set (an object of 100 000 keys costs linear time, not n²). cJSON reads at most 63
 * characters of a number; a checked text with longer ones (RFC 8259 allows
 * `-0.000…0001` with 80 zeros) is first copied with each of them rewritten
 * as the shortest text of the same double.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_int.h"
#include "stagehand/json.h"

/* Written before the loop and threads start; read-only afterwards. Process
 * configuration rather than state: the validator on the writer thread and
 * every body parser read them, and a server embedded with other limits
 * would pass them here once before it starts (json.h). */
static size_t max_bytes = SH_JSON_MAX_BYTES_DEFAULT;
static unsigned max_depth = SH_JSON_MAX_DEPTH_DEFAULT;

void sh_json_limits_set(size_t bytes, unsigned depth)
{
    max_bytes = bytes;
    if (depth < 1)
        depth = 1;
    if (depth > SH_JSON_MAX_DEPTH_LIMIT)
        depth = SH_JSON_MAX_DEPTH_LIMIT;
    max_depth = depth;
}

size_t sh_json_max_bytes(void)
{
    return max_bytes;
}

unsigned sh_json_max_depth(void)
{
    return max_depth;
}

static size_t hash_key(const char *k)
{
    size_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return h;
}

/* Whether object o has a key twice: 1, 0, or -1 without memory. */
static int has_duplicate(const cJSON *o)
{
    size_t n = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        n++;
    if (n < 2)
        return 0;
    if (n <= 16) {
        for (const cJSON *a = o->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (!strcmp(a->string, b->string))
                    return 1;
        return 0;
    }
    /* an open-addressing set of the keys, at most half full */
    size_t cap = 32;
    while (cap < 2 * n)
        cap *= 2;
    const char **set = calloc(cap, sizeof(*set));
    if (!set)
        return -1;
    int dup = 0;
    for (const cJSON *c = o->child; c && !dup; c = c->next) {
        size_t i = hash_key(c->string) & (cap - 1);
        while (set[i] && !(dup = !strcmp(set[i], c->string)))
            i = (i + 1) & (cap - 1);
        set[i] = c->string;
    }
    free(set);
    return dup;
}

/* SH_JSON_EDUPKEY or SH_JSON_ENUMBER for the first offending value under v,
 * else 0. Recursion is bounded by the depth limit sh_json_check enforced. */
static int walk(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return isfinite(v->valuedouble) ? 0 : SH_JSON_ENUMBER;
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return 0;
    if (cJSON_IsObject(v)) {
        int dup = has_duplicate(v);
        if (dup)
            return dup < 0 ? SH_JSON_ETOOBIG : SH_JSON_EDUPKEY;
    }
    for (const cJSON *c = v->child; c; c = c->next) {
        int rc = walk(c);
        if (rc)
            return rc;
    }
    return 0;
}

/* A copy of the checked text t[0..n) with numbers longer than cJSON reads
 * rewritten as "%.17g" of their value; NULL (err set) when one overflows a
 * double or memory runs out. The text is known valid, so a scanner that
 * skips strings and takes any other run of number characters is exact. */
static char *shorten_numbers(const char *t, size_t n, struct sh_json_error *err, size_t *out_len)
{
    char *out = malloc(n + 1), *o = out;
    char num[32];
    if (!out) {
        err->code = SH_JSON_ETOOBIG;
        return NULL;
    }
    for (size_t i = 0; i < n;) {
        char c = t[i];
        if (c == '"') {
            size_t j = i + 1;
            while (t[j] != '"')
                j += t[j] == '\\' ? 2 : 1;
            memcpy(o, t + i, j + 1 - i);
            o += j + 1 - i;
            i = j + 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < n && t[j] && strchr("0123456789+-.eE", t[j]))
                j++;
            if (j - i > SH__JSON_NUMBER_MAX) {
                char *copy = malloc(j - i + 1);
                if (!copy) {
                    free(out);
                    err->code = SH_JSON_ETOOBIG;
                    return NULL;
                }
                memcpy(copy, t + i, j - i);
                copy[j - i] = 0;
                double d = strtod(copy, NULL);
                free(copy);
                if (!isfinite(d)) {
                    free(out);
                    err->code = SH_JSON_ENUMBER;
                    err->offset = i;
                    return NULL;
                }
                int len = snprintf(num, sizeof(num), "%.17g", d);
                memcpy(o, num, (size_t)len); /* 24 characters at most: shorter than 64 */
                o += len;
            } else {
                memcpy(o, t + i, j - i);
                o += j - i;
            }
            i = j;
        } else {
            *o++ = c;
            i++;
        }
    }
    *o = 0;
    *out_len = (size_t)(o - out);
    return out;
}

static cJSON *refuse(struct sh_json_error *err, int code, size_t offset)
{
    if (err) {
        err->code = code;
        err->offset = offset;
    }
    return NULL;
}

cJSON *sh_json_parse(const char *s, size_t n, struct sh_json_error *err)
{
    return sh_json_parse_max(s, n, max_bytes, err);
}

cJSON *sh_json_parse_max(const char *s, size_t n, size_t limit, struct sh_json_error *err)
{
    struct sh_json_error local;
    if (!err)
        err = &local;
    err->code = 0;
    err->offset = 0;
    if (n > limit)
        return refuse(err, SH_JSON_ETOOBIG, limit);
    size_t long_numbers = 0;
    if (sh__json_check(s, n, max_depth, err, &long_numbers) != 0)
        return NULL;
    char *copy = NULL;
    if (long_numbers) {
        if (!(copy = shorten_numbers(s, n, err, &n)))
            return NULL;
        s = copy;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    int rc = 0;
    size_t at = 0;
    if (!j) { /* cannot happen for a checked text but for lack of memory */
        rc = SH_JSON_ETOOBIG;
        goto done;
    }
    /* the check allowed only whitespace after the value */
    for (const char *p = end; p && p < s + n && !rc; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = SH_JSON_ETRAILING;
            at = (size_t)(p - s);
        }
    }
    if (!rc)
        rc = walk(j);
done:
    free(copy);
    if (rc) {
        cJSON_Delete(j);
        return refuse(err, rc, at);
    }
    return j;
}

const char *sh_json_error_format(const struct sh_json_error *err, char *buf, size_t size)
{
    const char *what;
    int at = 1; /* whether the offset means something */
    switch (err->code) {
    case SH_JSON_ETRAILING:
        what = "Unexpected data after the JSON value";
        break;
    case SH_JSON_ECTRL:
        what = "A raw control character in a string (escape it)";
        break;
    case SH_JSON_EESCAPE:
        what = "An invalid escape sequence in a string";
        break;
    case SH_JSON_EUTF8:
        what = "Invalid UTF-8";
        break;
    case SH_JSON_ENUL:
        what = "A NUL character (\\u0000) in a string";
        break;
    case SH_JSON_EDEPTH:
        what = "Arrays and objects are nested too deeply";
        break;
    case SH_JSON_EDUPKEY:
        what = "An object has the same key twice";
        at = 0;
        break;
    case SH_JSON_ENUMBER:
        what = "A number is out of range or too long";
        at = 0;
        break;
    case SH_JSON_ETOOBIG:
        what = "The JSON text is too large";
        at = 0;
        break;
    case SH_JSON_EEMPTY:
        what = "No JSON value";
        at = 0;
        break;
    default:
        what = "Invalid JSON syntax";
        break;
    }
    if (at)
        snprintf(buf, size, "%s at byte %zu.", what, err->offset);
    else
        snprintf(buf, size, "%s.", what);
    return buf;
}
