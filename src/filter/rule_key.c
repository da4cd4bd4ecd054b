/*
 * The request side of a compiled-filter cache key: every request value a
 * compile of a parsed filter reads, found by walking its AST the way
 * operand resolution (resolve.c, operand.c) reads sh_filter_ctx, written
 * as tagged bytes. Two requests whose keys are equal compile the filter to
 * the same SQL and parameters against the same schema, so a cache entry
 * found by (filter, schemas, this key) can be bound as it is.
 *
 * What is read: the signed-in record's presence, collectionId and id
 * (a guest's @request.auth.* is NULL; the email guard and back-relations
 * read the id), for each @request.auth.<first>... operand the auth
 * record's top-level value <first> (paths walk inside it), for
 * @request.body the top-level value the path starts at (and the whole name
 * for :changed), @request.query/@request.headers values, @request.method
 * and @request.context. Time macros (@now, ...) move with the clock: a
 * filter using them has no key. Values are written whole (strings with
 * their length, numbers as double and int, arrays and objects as printed
 * JSON), so a key longer than its buffer is refused rather than cut.
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "filter_int.h"

static void put(struct sh__ctx_key *k, const void *p, size_t n)
{
    if (k->over || n > sizeof(k->buf) - k->len) {
        k->over = true;
        return;
    }
    memcpy(k->buf + k->len, p, n);
    k->len += n;
}

static void put_tag(struct sh__ctx_key *k, char t)
{
    put(k, &t, 1);
}

static void put_str(struct sh__ctx_key *k, const char *s, size_t n)
{
    uint32_t n32 = (uint32_t)n;
    if (n > UINT32_MAX) {
        k->over = true;
        return;
    }
    put(k, &n32, sizeof(n32));
    put(k, s, n);
}

/* One JSON value (NULL: absent) as a tag and its whole content. */
static void put_json(struct sh__ctx_key *k, const cJSON *v)
{
    if (!v) {
        put_tag(k, 'x');
    } else if (cJSON_IsString(v) && v->valuestring) {
        put_tag(k, 's');
        put_str(k, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsNumber(v)) {
        put_tag(k, 'd');
        put(k, &v->valuedouble, sizeof(v->valuedouble));
        put(k, &v->valueint, sizeof(v->valueint));
    } else if (cJSON_IsTrue(v)) {
        put_tag(k, 't');
    } else if (cJSON_IsFalse(v)) {
        put_tag(k, 'f');
    } else if (cJSON_IsNull(v)) {
        put_tag(k, 'n');
    } else {
        char *json = cJSON_PrintUnformatted(v);
        if (!json) {
            k->over = true;
            return;
        }
        put_tag(k, 'j');
        put_str(k, json, strlen(json));
        cJSON_free(json);
    }
}

/* The first segment of a dotted path, as a key of its object. */
static const cJSON *first_of(const cJSON *obj, const char *path)
{
    size_t n = strcspn(path, ".");
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
        if (it->string && strlen(it->string) == n && memcmp(it->string, path, n) == 0)
            return it;
    return NULL;
}

/* What a path into obj (NULL: absent) can reach: the top-level value it
 * starts at when obj is an object, else obj whole. */
static void put_part(struct sh__ctx_key *k, const cJSON *obj, const char *path)
{
    if (cJSON_IsObject(obj))
        put_json(k, first_of(obj, path));
    else
        put_json(k, obj);
}

static void put_cstr(struct sh__ctx_key *k, const char *s)
{
    put_str(k, s ? s : "", s ? strlen(s) : 0);
}

/* Returns false when o's value cannot be keyed. */
static bool key_opnd(const struct sh__opnd *o, const struct sh_filter_ctx *ctx,
                     struct sh__ctx_key *k)
{
    if (o->kind == SH_OPND_FUNC) {
        for (unsigned i = 0; i < o->nargs; i++)
            if (!key_opnd(&o->args[i], ctx, k))
                return false;
        return true;
    }
    if (o->kind != SH_OPND_MACRO)
        return true;
    put_tag(k, (char)('A' + (int)o->macro));
    switch (o->macro) {
    case SH_MACRO_AUTH:
        put_cstr(k, o->text);
        put_part(k, ctx->auth, o->text);
        return true;
    case SH_MACRO_BODY:
        put_cstr(k, o->text);
        put_part(k, ctx->body, o->text);
        if (cJSON_IsObject(ctx->body)) /* :changed reads the whole name */
            put_json(k, cJSON_GetObjectItemCaseSensitive(ctx->body, o->text));
        return true;
    case SH_MACRO_QUERY:
        put_cstr(k, o->text);
        put_json(k, ctx->query ? cJSON_GetObjectItemCaseSensitive(ctx->query, o->text) : NULL);
        return true;
    case SH_MACRO_HEADERS:
        put_cstr(k, o->text);
        put_json(k, ctx->headers ? cJSON_GetObjectItemCaseSensitive(ctx->headers, o->text) : NULL);
        return true;
    case SH_MACRO_METHOD:
        put_cstr(k, ctx->method);
        return true;
    case SH_MACRO_CONTEXT:
        put_cstr(k, ctx->context);
        return true;
    case SH_MACRO_COLLECTION:
    case SH_MACRO_NONE:
        return true; /* other rows, no request value */
    default:
        return false; /* a time macro */
    }
}

static bool key_node(const struct sh__node *n, const struct sh_filter_ctx *ctx,
                     struct sh__ctx_key *k)
{
    for (; n; n = n->next) {
        switch (n->kind) {
        case SH_NODE_TRUE:
            break;
        case SH_NODE_AND:
        case SH_NODE_OR:
            if (!key_node(n->first, ctx, k))
                return false;
            break;
        case SH_NODE_CMP:
            if (!key_opnd(&n->l, ctx, k) || !key_opnd(&n->r, ctx, k))
                return false;
            break;
        }
    }
    return true;
}

bool sh__filter_ctx_key(const struct sh_filter *f, const struct sh_filter_ctx *ctx,
                        struct sh__ctx_key *k)
{
    static const struct sh_filter_ctx guest = {0};
    if (!ctx)
        ctx = &guest;
    if (f->uses & SH_FILTER_USES_TIME)
        return false;
    if (ctx->auth) {
        put_tag(k, 'U');
        put_json(k, cJSON_GetObjectItemCaseSensitive(ctx->auth, "collectionId"));
        put_json(k, cJSON_GetObjectItemCaseSensitive(ctx->auth, "id"));
    } else {
        put_tag(k, 'G');
    }
    if (!key_node(f->root, ctx, k))
        return false;
    return !k->over;
}
