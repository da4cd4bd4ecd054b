/*
 * What every records request needs before its handler's own work: the
 * collection named by :collection (looked up in a catalog snapshot the
 * request keeps until it ends, so a reload meanwhile cannot pull the
 * definition away; an unknown name first reloads the catalog if the schema
 * moved, so a collection the CLI created a moment ago is found at once), the rule context of
 * filter.h (@request.auth.* from the
 * token middleware's r->auth — any field of the auth record, hidden ones
 * included, collectionName, and relations from it —, @request.query.*,
 * @request.headers.*, @request.method, the clock), superusers (who bypass
 * every rule and see hidden fields), the rule check shared by the five
 * handlers, the request body (one strict JSON object: stagehand/json.h),
 * and the final JSON response with `fields`; also the records state of a
 * server (sh_api_records_new: the filter and count caches, the read budgets
 * and the response buffer for rows written as JSON text). @request.query
 * and @request.headers are only built when a rule or the filter can read
 * them.
 */
#include "auth_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "stagehand/config.h"
#include "stagehand/filter.h"
#include "stagehand/json.h"

int64_t sh__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Query parameters as {name: value} (the first of repeated names wins). */
static cJSON *query_json(const struct sh_req *r)
{
    cJSON *o = cJSON_CreateObject();
    for (unsigned i = 0; i < r->nqparams; i++) {
        const struct sh_query_param *q = &r->qparams[i];
        if (q->name.ptr[0] && !cJSON_GetObjectItemCaseSensitive(o, q->name.ptr))
            cJSON_AddStringToObject(o, q->name.ptr, q->value.ptr);
    }
    return o;
}

/* Headers as {lower_case_name_with_underscores: value}, as PocketBase shows
 * them to rules. */
static cJSON *headers_json(const struct sh_req *r)
{
    cJSON *o = cJSON_CreateObject();
    char name[128], *val;
    for (unsigned i = 0; i < r->nheaders; i++) {
        const struct sh_header *h = &r->headers[i];
        if (h->name.len >= sizeof(name))
            continue;
        for (size_t k = 0; k < h->name.len; k++) {
            char c = h->name.ptr[k];
            name[k] = c == '-' ? '_' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        name[h->name.len] = 0;
        if (cJSON_GetObjectItemCaseSensitive(o, name))
            continue;
        val = sh_malloc(h->value.len + 1);
        memcpy(val, h->value.ptr, h->value.len);
        val[h->value.len] = 0;
        cJSON_AddStringToObject(o, name, val);
        free(val);
    }
    return o;
}

static void drop_json(void *p)
{
    cJSON_Delete(p);
}

static void drop_snap(void *p)
{
    sh_catalog_snap_free(p);
}

static void drop_view(void *p)
{
    sh_schema_view_deinit(p);
}

static bool mentions_query_headers(const char *text)
{
    return text && (strstr(text, "@request.query") || strstr(text, "@request.headers"));
}

/* Whether anything this request may compile reads @request.query.* or
 * @request.headers.*: a rule of any collection of the snapshot (expand reads
 * related collections under their view rule), or the `filter` parameter.
 * Building both objects costs a few dozen allocations per request, so they
 * are left NULL (every value reads as NULL) when nothing can read them. A
 * false positive (the words inside a string literal) only costs the build.
 * Remembered in api for the last snapshot seen. */
static bool needs_query_headers(struct sh_req *r, struct sh_api_records *api,
                                const struct sh_catalog_snap *snap)
{
    if (snap != api->qh_snap || snap->version != api->qh_version) {
        bool needs = false;
        for (size_t i = 0; i < snap->n && !needs; i++)
            for (size_t k = 0; k < SH_RULE_COUNT && !needs; k++)
                needs = mentions_query_headers(snap->list[i]->rules[k]);
        api->qh_needs = needs;
        api->qh_snap = snap;
        api->qh_version = snap->version;
    }
    return api->qh_needs || mentions_query_headers(sh_req_query(r, "filter"));
}

/* @request.auth.*: the record, and its collection's schema for paths through
 * its relations (@request.auth.team.name). 0 or -ENOMEM. */
static int auth_context(struct sh_req *r, struct sh__rec_req *q)
{
    if (!r->auth)
        return 0;
    q->superuser = r->auth->superuser;
    q->ctx.auth = r->auth->record;
    const struct sh_collection *ac = sh_catalog_snap_find(q->snap, r->auth->collection_id);
    if (!ac)
        return 0;
    struct sh_schema_view *v = sh_arena_alloc(r->arena, sizeof(*v));
    if (!v)
        return -ENOMEM;
    sh_schema_view_init(v, ac, &q->snap->resolver, SH_SCHEMA_VIEW_HIDDEN);
    if (sh_arena_defer(r->arena, drop_view, v) != 0) {
        sh_schema_view_deinit(v);
        return -ENOMEM;
    }
    q->ctx.auth_schema = &v->schema;
    return 0;
}

struct sh__rec_req *sh__rec_begin(struct sh_req *r, struct sh_api_records *api)
{
    const struct sh_str *name = sh_req_param(r, "collection");
    struct sh__rec_req *q = sh_arena_alloc(r->arena, sizeof(*q));
    char *cname = name ? sh_arena_strndup(r->arena, name->ptr, name->len) : NULL;
    char *method = sh_arena_strndup(r->arena, r->method_name.ptr, r->method_name.len);
    if (!q || !cname || !method) {
        sh__api_fail(r, -ENOMEM);
        return NULL;
    }
    memset(q, 0, sizeof(*q));
    q->api = api;
    q->snap = sh_catalog_acquire(api->catalog);
    if (!q->snap) {
        sh__api_fail(r, -ECANCELED); /* shutting down */
        return NULL;
    }
    if (sh_arena_defer(r->arena, drop_snap, q->snap) != 0) {
        sh_catalog_snap_free(q->snap);
        sh__api_fail(r, -ENOMEM);
        return NULL;
    }
    q->c = sh_catalog_snap_find(q->snap, cname);
    if (!q->c && sh_catalog_refresh(api->catalog) == 0 && api->catalog->snap != q->snap) {
        /* created a moment ago by another process: don't wait for the poll */
        struct sh_catalog_snap *now = sh_catalog_acquire(api->catalog);
        if (sh_arena_defer(r->arena, drop_snap, now) != 0) {
            sh_catalog_snap_free(now);
            sh__api_fail(r, -ENOMEM);
            return NULL;
        }
        q->snap = now;
        q->c = sh_catalog_snap_find(q->snap, cname);
    }
    if (!q->c) {
        sh__api_error(r, 404, "Missing collection context.", NULL);
        return NULL;
    }
    if (needs_query_headers(r, api, q->snap)) {
        cJSON *query = query_json(r), *headers = headers_json(r);
        if (sh_arena_defer(r->arena, drop_json, query) != 0 ||
            sh_arena_defer(r->arena, drop_json, headers) != 0) {
            /* the arena is full: whichever was not registered is freed here */
            cJSON_Delete(headers);
            cJSON_Delete(query);
            sh__api_fail(r, -ENOMEM);
            return NULL;
        }
        q->ctx.query = query;
        q->ctx.headers = headers;
    }
    q->ctx.method = method;
    q->ctx.context = "default";
    q->ctx.now_ms = sh__now_ms();
    if (auth_context(r, q) != 0) {
        sh__api_fail(r, -ENOMEM);
        return NULL;
    }
    q->acc.resolver = &q->snap->resolver;
    q->acc.ctx = &q->ctx;
    q->acc.flags = q->superuser ? SH_REC_SUPERUSER : 0;
    q->acc.limits = &api->limits;
    return q;
}

int sh__rec_rule(struct sh_req *r, struct sh__rec_req *q, enum sh_rule_kind k,
                 const struct sh_filter **out)
{
    *out = NULL;
    if (q->superuser)
        return 0;
    if (!q->c->rules[k]) {
        sh__api_error(r, 403, "Only superusers can perform this action.", NULL);
        return -1;
    }
    if (q->c->rule_filters[k] && !sh_filter_is_empty(q->c->rule_filters[k]))
        *out = q->c->rule_filters[k];
    return 0;
}

#define BAD_JSON "Failed to load the submitted data due to invalid formatting."

cJSON *sh__rec_body(struct sh_req *r)
{
    /* No body at all is no data, as PocketBase's BindBody (Content-Length 0);
     * anything else must be one strict JSON object (stagehand/json.h). */
    if (r->body_len == 0 && !r->body_over)
        return cJSON_CreateObject();
    if (r->body_over || r->body_len > sh_json_max_bytes()) {
        /* before a byte is parsed: the loop never spends more than the limit */
        sh__api_error(r, 413, "Request body is too large.", NULL);
        return NULL;
    }
    struct sh_json_error err;
    cJSON *o = sh_json_parse(r->body, r->body_len, &err);
    if (!o || !cJSON_IsObject(o)) {
        char why[128];
        if (o)
            snprintf(why, sizeof(why), "The body must be a JSON object.");
        else
            sh_json_error_format(&err, why, sizeof(why));
        cJSON_Delete(o);
        cJSON *data = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(data, "body");
        cJSON_AddStringToObject(b, "code", "validation_invalid_json");
        cJSON_AddStringToObject(b, "message", why);
        sh__api_error(r, 400, BAD_JSON, data);
        cJSON_Delete(data);
        return NULL;
    }
    return o;
}

void sh__rec_send(struct sh_req *r, cJSON *obj, const char *fields, bool list)
{
    if (fields && *fields) {
        if (list) {
            cJSON *e;
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(obj, "items"))
            {
                sh__fields_pick(e, fields);
            }
        } else {
            sh__fields_pick(obj, fields);
        }
    }
    char *json = cJSON_PrintUnformatted(obj);
    SH_ASSERT(json);
    sh_res_json(r, 200, json, strlen(json));
    cJSON_free(json);
}

/* ---- responses written straight from rows ---- */

/* Past this size the buffer is given back after the response (a page of
 * 1,000 large records should not pin megabytes for the process's life). */
#define OUT_KEEP (256 * 1024)

struct sh_buf *sh__rec_out(struct sh_api_records *api)
{
    api->out.len = 0;
    return &api->out;
}

void sh__rec_send_out(struct sh_req *r, struct sh_api_records *api)
{
    struct sh_buf *out = &api->out;
    sh_res_json(r, 200, out->data ? out->data : "", out->len);
    if (out->cap > OUT_KEEP)
        sh_buf_deinit(out);
}

const char *sh__rec_own_id(const struct sh_req *r, const struct sh__rec_req *q)
{
    const struct sh_auth *au = r->auth;
    if (!au || au->superuser || strcmp(au->collection_id, q->c->id) != 0)
        return NULL;
    return au->record_id;
}

/* ---- the state ---- */

#define FILTER_CACHE_SIZE 512

struct sh_api_records *sh_api_records_new(uv_loop_t *loop, const struct sh_config *cfg,
                                          struct sh_db *db, struct sh_catalog *catalog,
                                          struct sh_api_auth *auth)
{
    struct sh_api_records *a = sh_calloc(1, sizeof(*a));
    a->loop = loop;
    a->cfg = cfg;
    a->db = db;
    a->catalog = catalog;
    a->auth = auth;
    a->filters = sh_filter_cache_new(FILTER_CACHE_SIZE);
    /* Made now, before any write job can start: a job marks the tables it
     * writes in the cache it was given, so a cache made later could store a
     * total counted before a write that no mark or bump covers. */
    a->counts = sh_rec_counts_new(cfg->count_cache);
    if (auth)
        auth->counts = a->counts;
    a->limits = (struct sh_rec_limits){cfg->filter_max_multi_hops, cfg->expand_max_records};
    a->budgets = sh__budgets_new();
    sh_buf_init(&a->out);
    return a;
}

void sh_api_records_free(struct sh_api_records *a)
{
    if (!a)
        return;
    if (a->auth && a->auth->counts == a->counts)
        a->auth->counts = NULL;
    sh_filter_cache_free(a->filters);
    sh_rec_counts_free(a->counts);
    sh__budgets_free(a->budgets);
    sh_buf_deinit(&a->out);
    free(a);
}
