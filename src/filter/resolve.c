/*
 * Operand resolution, the request's side (the other half of operand.c):
 * @request.auth.* paths (through the auth record's relations and
 * back-relations, confined to the client's view in a client's own filter),
 * @request.body.*:changed against the stored record, @collection.* joins
 * with their aliases, and sh__resolve, which dispatches every operand kind
 * to its resolver.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "filter_int.h"
#include "stagehand/core.h"

static int resolve_auth(struct sh__compiler *c, const struct sh__opnd *o, struct sh__val *out)
{
    const struct sh_filter_ctx *ctx = c->ctx;
    if (!ctx->auth) {
        sh__val_set_null(out); /* a guest: every @request.auth.* is NULL */
        return 0;
    }
    size_t n = strcspn(o->text, ".");
    char first[SH_FILTER_MAX_LEN + 1];
    if (n >= sizeof(first))
        return sh__path_fail(c, "@request.auth.", o->text, n, "unknown field", o->off);
    memcpy(first, o->text, n);
    first[n] = '\0';
    const struct sh_filter_schema *as = ctx->auth_schema;
    /* a client's filter reads through the auth record only what the
     * client may list (rules compile unconfined and see everything) */
    if ((c->schema->access & SH_FILTER_ACCESS_CONFINED) && as &&
        !(as->access & SH_FILTER_ACCESS_CONFINED))
        as = ctx->auth_client_schema;
    const struct sh_filter_field *f = as ? sh__find_field(as, first) : NULL;
    const struct sh_filter_schema *via_src;
    const struct sh_filter_field *via_rel;
    const cJSON *auth_id = cJSON_GetObjectItemCaseSensitive(ctx->auth, "id");
    if (!f && as && cJSON_IsString(auth_id) && sh__find_via(as, first, &via_src, &via_rel)) {
        /* A back-relation from the signed-in record: the rows pointing at
         * its id, bound as a parameter. */
        struct sh__val start = {0};
        sh__val_set_text(&start, auth_id->valuestring, strlen(auth_id->valuestring));
        int rc =
            sh__resolve_path(c, as, &start.val, "@request.auth.", o->text, o->mod, o->off, out);
        sh__val_deinit(&start);
        return rc;
    }
    if (!o->text[n]) {
        sh__set_json(c, cJSON_GetObjectItemCaseSensitive(ctx->auth, o->text), o->mod, out);
        return 0;
    }
    if (f && f->kind == SH_FIELD_RELATION) {
        /* Traverse from the auth record's relation value, bound as a parameter. */
        struct sh__val start = {0};
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(ctx->auth, first);
        if (cJSON_IsArray(ids)) { /* bound as JSON text for SRC() to enumerate */
            char *json = cJSON_PrintUnformatted(ids);
            if (!json)
                abort();
            sh__val_set_text(&start, json, strlen(json));
            cJSON_free(json);
        } else {
            sh__set_json(c, ids, SH_MOD_NONE, &start);
        }
        int rc =
            sh__resolve_path(c, as, &start.val, "@request.auth.", o->text, o->mod, o->off, out);
        sh__val_deinit(&start);
        return rc;
    }
    const cJSON *item = sh__json_walk(ctx->auth, o->text);
    const cJSON *parent = cJSON_GetObjectItemCaseSensitive(ctx->auth, first);
    if (parent && !cJSON_IsNull(parent) && !cJSON_IsObject(parent) && !cJSON_IsArray(parent))
        return sh__path_fail(c, "@request.auth.", o->text, strlen(o->text), "cannot resolve",
                             o->off);
    sh__set_json(c, item, o->mod, out);
    return 0;
}

/* @request.body.<name>:changed in an update rule: false when the body lacks
 * the key, else whether the sent value differs from the stored column (NULL
 * and "" equal; a multi-valued field compares as normalised JSON arrays). */
static int resolve_changed(struct sh__compiler *c, const struct sh__opnd *o, struct sh__val *out)
{
    const cJSON *item =
        c->ctx->body ? cJSON_GetObjectItemCaseSensitive(c->ctx->body, o->text) : NULL;
    const struct sh_filter_schema *s = c->schema;
    const struct sh_filter_field *f = sh__find_field(s, o->text);
    const char *qual = s->alias ? s->alias : s->table;
    if (!f || !sh__ident_ok(f->name) || !sh__ident_ok(qual))
        return sh__path_fail(c, "@request.body.", o->text, o->len, ":changed needs a field of",
                             o->off);
    if ((f->flags & SH_FILTER_FIELD_NOFILTER) || f->kind == SH_FIELD_PASSWORD)
        return sh__path_fail(c, "@request.body.", o->text, o->len, "cannot use field", o->off);
    if (!item) {
        sh__val_set_int(out, 0);
        return 0;
    }
    if (f->flags & SH_FILTER_FIELD_HIDDEN)
        *c->reads |= SH_FILTER_READS_HIDDEN;
    struct sh__val col = {0}, body = {0};
    sh__sql_putq(&col.val, qual);
    sh__sql_puts(&col.val, ".");
    sh__sql_putq(&col.val, f->name);
    sh__sql_puts(&out->val, "(");
    if (f->flags & SH_FILTER_FIELD_MULTI) {
        cJSON *arr = cJSON_IsArray(item) ? cJSON_Duplicate(item, 1) : cJSON_CreateArray();
        if (!arr)
            abort();
        if (!cJSON_IsArray(item) && !cJSON_IsNull(item)) {
            cJSON *one = cJSON_Duplicate(item, 1);
            if (!one)
                abort();
            cJSON_AddItemToArray(arr, one);
        }
        char *json = cJSON_PrintUnformatted(arr);
        cJSON_Delete(arr);
        if (!json)
            abort();
        sh__sql_puts(&out->val, "json(CASE WHEN json_valid(");
        sh__sql_append(&out->val, &col.val);
        sh__sql_puts(&out->val, ") IS 1 THEN ");
        sh__sql_append(&out->val, &col.val);
        sh__sql_puts(&out->val, " ELSE '[]' END) IS NOT json(");
        sh__sql_param_text(&out->val, json, strlen(json));
        sh__sql_puts(&out->val, ")");
        cJSON_free(json);
    } else {
        sh__set_json(c, item, SH_MOD_NONE, &body);
        if (body.multi) { /* an array sent for a single field: compare its JSON */
            sh__val_deinit(&body);
            memset(&body, 0, sizeof(body));
            char *json = cJSON_PrintUnformatted(item);
            if (!json)
                abort();
            sh__val_set_text(&body, json, strlen(json));
            cJSON_free(json);
        }
        sh__emit_equal(&out->val, false, &col, &body);
    }
    sh__sql_puts(&out->val, ")");
    sh__val_deinit(&col);
    sh__val_deinit(&body);
    return 0;
}

int sh__resolve_collection(struct sh__compiler *c, const struct sh__opnd *o, bool joined,
                           struct sh__val *out)
{
    memset(out, 0, sizeof(*out));
    const struct sh_filter_schema *root = c->schema;
    if (root->access & SH_FILTER_ACCESS_CONFINED)
        return sh__filter_fail(c->err, o->off, "Only superusers can filter by @collection.");
    const struct sh_filter_schema *t =
        root->resolve ? root->resolve(root->resolve_ud, o->coll) : NULL;
    if (!t || !sh__ident_ok(t->table))
        return sh__filter_fail(c->err, o->off,
                               "Invalid %s: unknown collection \"@collection.%.64s\".", c->what,
                               o->coll);
    if (t->access & SH_FILTER_ACCESS_CONFINED)
        return sh__filter_fail(c->err, o->off, "Only superusers can filter by @collection.");
    if (!c->root || strcasecmp(t->table, c->root) != 0)
        *c->reads |= SH_FILTER_READS_OTHER_TABLE;
    unsigned n = 0;
    if (joined) {
        for (unsigned i = 0; i < c->njoins; i++)
            if (strcmp(c->joins[i].calias, o->calias) == 0)
                n = c->joins[i].n;
    }
    bool fresh = n == 0;
    if (fresh)
        n = ++c->next_alias;
    char alias[32], prefix[SH_FILTER_MAX_LEN + 16];
    snprintf(alias, sizeof(alias), "__c%u", n);
    snprintf(prefix, sizeof(prefix), "@collection.%s.", o->coll);
    struct sh_filter_schema at = *t;
    at.alias = alias;
    at.max_multi_hops = 0;
    struct sh__val v;
    memset(&v, 0, sizeof(v));
    int rc = sh__resolve_path(c, &at, NULL, prefix, o->text, o->mod, o->off, &v);
    if (rc)
        return rc;
    v.nonempty = false; /* the LEFT JOIN's NULL row of an empty collection */
    if (!fresh) {
        *out = v;
        return 0;
    }
    /* Every row of the collection (one NULL row when it is empty): a
     * multi-valued operand of its own, correlated with nothing else. */
    out->multi = true;
    sh__sql_puts(&out->from, "(SELECT 1) LEFT JOIN ");
    sh__sql_putq(&out->from, t->table);
    sh__sql_puts(&out->from, " AS ");
    sh__sql_putq(&out->from, alias);
    sh__sql_puts(&out->from, " ON 1");
    if (v.multi) {
        sh__sql_puts(&out->from, " JOIN ");
        sh__sql_append(&out->from, &v.from);
    }
    out->val = v.val;
    v.val = (struct sh_filter_sql){0};
    sh__val_deinit(&v);
    return 0;
}

int sh__resolve(struct sh__compiler *c, const struct sh__opnd *o, struct sh__val *out)
{
    memset(out, 0, sizeof(*out));
    const struct sh_filter_ctx *ctx = c->ctx;
    switch (o->kind) {
    case SH_OPND_NULL:
        sh__val_set_null(out);
        return 0;
    case SH_OPND_BOOL:
    case SH_OPND_INT:
        sh__val_set_int(out, o->i);
        return 0;
    case SH_OPND_DOUBLE:
        sh__sql_param_double(&out->val, o->d);
        out->known = true;
        return 0;
    case SH_OPND_TEXT:
        sh__val_set_text(out, o->text, o->len);
        return 0;
    case SH_OPND_FIELD:
        return sh__resolve_path(c, c->schema, NULL, "", o->text, o->mod, o->off, out);
    case SH_OPND_FUNC:
        return sh__resolve_func(c, o, out);
    case SH_OPND_MACRO:
        break;
    }
    switch (o->macro) {
    case SH_MACRO_AUTH:
        return resolve_auth(c, o, out);
    case SH_MACRO_COLLECTION:
        return sh__resolve_collection(c, o, false, out);
    case SH_MACRO_BODY:
        if (o->mod == SH_MOD_CHANGED)
            return resolve_changed(c, o, out);
        sh__set_json(c, sh__json_walk(ctx->body, o->text), o->mod, out);
        return 0;
    case SH_MACRO_QUERY:
        sh__set_json(c, ctx->query ? cJSON_GetObjectItemCaseSensitive(ctx->query, o->text) : NULL,
                     SH_MOD_NONE, out);
        return 0;
    case SH_MACRO_HEADERS:
        sh__set_json(c,
                     ctx->headers ? cJSON_GetObjectItemCaseSensitive(ctx->headers, o->text) : NULL,
                     SH_MOD_NONE, out);
        return 0;
    case SH_MACRO_METHOD:
        sh__val_set_text(out, ctx->method ? ctx->method : "",
                         ctx->method ? strlen(ctx->method) : 0);
        return 0;
    case SH_MACRO_CONTEXT:
        sh__val_set_text(out, ctx->context ? ctx->context : "",
                         ctx->context ? strlen(ctx->context) : 0);
        return 0;
    default:
        sh__set_time_macro(o->macro, ctx->now_ms, out);
        return 0;
    }
}
