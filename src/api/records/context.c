/*
 * What every records request needs before its handler's own work:
 *  - the collection named by :collection, looked up in a catalog snapshot
 *    the request keeps until it ends (a reload meanwhile cannot pull the
 *    definition away); an unknown name first reloads the catalog if the
 *    schema moved (api/retry.c), so a collection the CLI created a moment
 *    ago is found at once;
 *  - the schema views of that snapshot, built once for every request on it
 *    (rules, filters and sorts compile against them; a request that goes on
 *    after its handler returns holds a reference, so a reload frees them
 *    after the last request on the old snapshot), with whether any rule
 *    reads @request.query or headers;
 *  - the rule context of filter.h: @request.auth.* from the token
 *    middleware's r->auth (any field of the auth record, hidden ones
 *    included, collectionName, and relations from it), @request.query.* and
 *    @request.headers.* (built only when a rule or the filter reads them, as
 *    their parsed ASTs say), @request.method, the clock; superusers bypass
 *    every rule and see hidden fields;
 *  - the rule check shared by the five handlers, the request body (one
 *    strict JSON object: stagehand/json.h), and the final JSON response with
 *    `fields`; also the records state of a server (sh_api_records_new: the
 *    filter and count caches, the read budgets and the response buffer for
 *    rows written as JSON text).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "auth_int.h"
#include "realtime_int.h"
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
bool sh__rec_header_name(char *out, size_t size, const char *name, size_t n)
{
    if (n >= size)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = name[k];
        out[k] = c == '-' ? '_' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = 0;
    return true;
}

static cJSON *headers_json(const struct sh_req *r)
{
    cJSON *o = cJSON_CreateObject();
    char name[128], *val;
    for (unsigned i = 0; i < r->nheaders; i++) {
        const struct sh_header *h = &r->headers[i];
        if (!sh__rec_header_name(name, sizeof(name), h->name.ptr, h->name.len))
            continue;
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

/* ---- the views of a snapshot, built once for every request on it ---- */

/* Compiled rules kept per snapshot: one per (rule, auth collection and
 * signed-in record, request values the rule reads), so about the rules in
 * use times the users active since the last schema change, least recently
 * used first out; each entry is its SQL text and parameters (~0.5 KiB). */
#define RULE_CACHE_SIZE 1024

/* The schema views of one catalog snapshot and what its rules read,
 * shared by the requests on it: the records state keeps the current one,
 * each request a reference until it ends (its compiled ctx points into
 * them), so a reload frees them only after the last request on the old
 * snapshot. Loop thread. */
struct sh__rec_views {
    unsigned refs;
    struct sh_catalog_snap *snap; /* a reference */
    struct sh_schema_views *views;
    struct sh_filter_cache *rules; /* the rules compiled against views (acc.rules) */
    bool rules_read_request;       /* a rule reads @request.query or @request.headers */
};

static void views_unref(void *p)
{
    struct sh__rec_views *v = p;
    if (!v || --v->refs)
        return;
    sh_filter_cache_free(v->rules); /* keyed by the views' addresses: first */
    sh_schema_views_free(v->views);
    sh_catalog_snap_free(v->snap);
    free(v);
}

void sh__rec_views_drop(struct sh_api_records *api)
{
    views_unref(api->views);
    api->views = NULL;
}

/* The views of snap: the set api keeps when snap is the current snapshot
 * (a new one after a reload), else a set of its own for a request still on
 * an older snapshot (no reference counted yet: the caller takes one). */
static struct sh__rec_views *views_of(struct sh_api_records *api, struct sh_catalog_snap *snap)
{
    if (api->views && api->views->snap == snap)
        return api->views;
    struct sh__rec_views *v = sh_calloc(1, sizeof(*v));
    v->snap = sh_catalog_snap_ref(snap);
    v->views = sh_schema_views_new(&snap->resolver, api->limits.max_multi_hops);
    v->rules = sh_filter_cache_new(RULE_CACHE_SIZE);
    /* Any rule of the snapshot: expand reads related collections under
     * their view rule. Asked of the parsed rules, not their text. */
    for (size_t i = 0; i < snap->n && !v->rules_read_request; i++)
        for (size_t k = 0; k < SH_RULE_COUNT && !v->rules_read_request; k++) {
            const struct sh_filter *f = snap->list[i]->rule_filters[k];
            v->rules_read_request =
                f && (sh_filter_uses(f) & (SH_FILTER_USES_QUERY | SH_FILTER_USES_HEADERS));
        }
    if (snap == api->catalog->snap) { /* kept for the next requests on it */
        sh__rec_views_drop(api);
        v->refs = 1;
        api->views = v;
    }
    return v;
}

struct sh_schema_views *sh__rec_views_get_ref(struct sh_api_records *api,
                                              struct sh_catalog_snap *snap, void **ref)
{
    struct sh__rec_views *v = views_of(api, snap);
    v->refs++;
    *ref = v;
    return v->views;
}

void sh__rec_views_put(void *ref)
{
    views_unref(ref);
}

/* r holds a reference to v until it ends. 0, or -1 after answering. */
static int views_hold_or_reply(struct sh_req *r, struct sh__rec_views *v)
{
    v->refs++;
    if (sh_arena_defer(r->arena, views_unref, v) != 0) {
        views_unref(v);
        sh__api_fail(r, -ENOMEM);
        return -1;
    }
    return 0;
}

/* A reference to snap's views for r, until r ends. NULL after answering. */
static struct sh__rec_views *views_for_or_reply(struct sh_req *r, struct sh_api_records *api,
                                                struct sh_catalog_snap *snap)
{
    struct sh__rec_views *v = views_of(api, snap);
    return views_hold_or_reply(r, v) ? NULL : v;
}

int sh__rec_keep_views_or_reply(struct sh_req *r, struct sh__rec_req *q)
{
    if (q->views_held)
        return 0;
    if (views_hold_or_reply(r, q->views))
        return -1;
    q->views_held = true;
    return 0;
}

struct sh_schema_views *sh__rec_views_or_reply(struct sh_req *r, struct sh_api_records *api,
                                               struct sh_catalog_snap *snap)
{
    struct sh__rec_views *v = views_for_or_reply(r, api, snap);
    return v ? v->views : NULL;
}

int sh__rec_request_json_or_reply(struct sh_req *r, struct sh__rec_req *q)
{
    if (q->ctx.query)
        return 0; /* built already */
    cJSON *query = query_json(r), *headers = headers_json(r);
    if (sh_arena_defer(r->arena, drop_json, query) != 0 ||
        sh_arena_defer(r->arena, drop_json, headers) != 0) {
        /* the arena is full: whichever was not registered is freed here */
        cJSON_Delete(headers);
        cJSON_Delete(query);
        sh__api_fail(r, -ENOMEM);
        return -1;
    }
    q->ctx.query = query;
    q->ctx.headers = headers;
    return 0;
}

static struct sh__rec_req *begin_or_reply(struct sh_req *r, struct sh_api_records *api,
                                          const char *cname);

/* @request.auth.*: the record, and its collection's schema for paths through
 * its relations (@request.auth.team.name), from the snapshot's views. */
static void auth_context(struct sh_req *r, struct sh__rec_req *q)
{
    if (!r->auth)
        return;
    q->superuser = r->auth->superuser;
    q->ctx.auth = r->auth->record;
    const struct sh_collection *ac = sh_catalog_snap_find(q->snap, r->auth->collection_id);
    if (ac) {
        q->ctx.auth_schema = sh_schema_views_get(q->acc.views, ac, SH_SCHEMA_VIEW_HIDDEN);
        q->ctx.auth_client_schema = sh_schema_views_get(q->acc.views, ac, SH_SCHEMA_VIEW_CLIENT);
    }
}

struct sh__rec_req *sh__rec_begin_or_reply(struct sh_req *r, struct sh_api_records *api)
{
    const struct sh_str *name = sh_req_param(r, "collection");
    char *cname = name ? sh_arena_strndup(r->arena, name->ptr, name->len) : NULL;
    if (!cname) {
        sh__api_fail(r, -ENOMEM);
        return NULL;
    }
    return begin_or_reply(r, api, cname);
}

struct sh__rec_req *sh__rec_begin_any_or_reply(struct sh_req *r, struct sh_api_records *api)
{
    return begin_or_reply(r, api, NULL);
}

/* sh__rec_begin_or_reply for collection cname, or none when NULL. */
static struct sh__rec_req *begin_or_reply(struct sh_req *r, struct sh_api_records *api,
                                          const char *cname)
{
    struct sh__rec_req *q = sh_arena_alloc(r->arena, sizeof(*q));
    char *method = sh_arena_strndup(r->arena, r->method_name.ptr, r->method_name.len);
    if (!q || !method) {
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
    q->c = cname ? sh_catalog_snap_find(q->snap, cname) : NULL;
    unsigned attempts = 0;
    if (cname && !q->c && sh__api_retry_if_stale(api->catalog, q->snap, SH_ENOTFOUND, &attempts)) {
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
    if (cname && !q->c) {
        sh__api_error(r, 404, "Missing collection context.", NULL);
        return NULL;
    }
    /* A request answered before it returns (a read) ends before any reload
     * can replace api's set: it needs no reference of its own, saving a
     * defer on every read. A set api does not keep is the request's to hold;
     * a request that goes on later (a write) takes one too. */
    struct sh__rec_views *views =
        api->views && api->views->snap == q->snap ? api->views : views_of(api, q->snap);
    q->views_held = views != api->views;
    if (q->views_held && views_hold_or_reply(r, views))
        return NULL;
    q->views = views;
    q->acc.views = views->views;
    q->acc.rules = views->rules;
    if (views->rules_read_request && sh__rec_request_json_or_reply(r, q))
        return NULL;
    q->ctx.method = method;
    q->ctx.context = "default";
    q->ctx.now_ms = sh__now_ms();
    auth_context(r, q);
    q->acc.resolver = &q->snap->resolver;
    q->acc.ctx = &q->ctx;
    q->acc.flags = q->superuser ? SH_REC_SUPERUSER : 0;
    q->acc.limits = &api->limits;
    return q;
}

int sh__rec_rule(const struct sh__rec_req *q, enum sh_rule_kind k, const struct sh_filter **out)
{
    *out = NULL;
    if (q->superuser)
        return 0;
    if (!q->c->rules[k])
        return SH_EFORBIDDEN;
    if (q->c->rule_filters[k] && !sh_filter_is_empty(q->c->rule_filters[k]))
        *out = q->c->rule_filters[k];
    return 0;
}

int sh__rec_rule_or_reply(struct sh_req *r, struct sh__rec_req *q, enum sh_rule_kind k,
                          const struct sh_filter **out)
{
    if (sh__rec_rule(q, k, out) == 0)
        return 0;
    sh__api_error(r, 403, "Only superusers can perform this action.", NULL);
    return -1;
}

#define BAD_JSON "Failed to load the submitted data due to invalid formatting."

cJSON *sh__rec_body_or_reply(struct sh_req *r)
{
    /* No body at all is no data, as PocketBase's BindBody (Content-Length 0);
     * a form is bound as PocketBase binds it (api/form_body.c); anything else
     * must be one strict JSON object (stagehand/json.h). */
    if (sh__api_is_form(r))
        return sh__api_form_body_or_reply(r);
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

cJSON *sh__api_body_or_reply(struct sh_req *r)
{
    cJSON *b = sh__rec_body_or_reply(r);
    if (b && sh_arena_defer(r->arena, drop_json, b) != 0) {
        cJSON_Delete(b);
        sh__api_fail(r, -ENOMEM);
        return NULL;
    }
    return b;
}

/* The capture of list_cache.c (loop thread only, set around one handler
 * call): the one piece of module state, so that the two response paths
 * need no new parameter. */
static struct sh_buf *capture;

void sh__rec_capture(struct sh_buf *b)
{
    capture = b;
}

void sh__rec_send(struct sh_req *r, cJSON *obj, const char *fields, bool list)
{
    if (fields && *fields) {
        if (list) {
            cJSON *e;
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(obj, "items")) {
                sh__fields_pick(e, fields);
            }
        } else {
            sh__fields_pick(obj, fields);
        }
    }
    char *json = cJSON_PrintUnformatted(obj);
    SH_ASSERT(json);
    size_t len = strlen(json);
    if (capture)
        sh_buf_append(capture, json, len);
    sh_res_json(r, 200, json, len);
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
    if (capture && out->len)
        sh_buf_append(capture, out->data, out->len);
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
    if (auth) {
        auth->counts = a->counts;
        auth->records = a;
    }
    a->limits = (struct sh_rec_limits){cfg->filter_max_multi_hops, cfg->expand_max_records};
    a->batch =
        (struct sh__batch_limits){cfg->batch_max_requests, cfg->batch_timeout, cfg->batch_max_body};
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
    if (a->auth && a->auth->records == a)
        a->auth->records = NULL;
    sh__rt_free(a->realtime);
    sh__thumbs_free(a->thumbs);
    sh__file_types_free(a->file_types);
    sh__rec_views_drop(a);
    sh_filter_cache_free(a->filters);
    sh_rec_counts_free(a->counts);
    sh__budgets_free(a->budgets);
    sh__list_cache_free(a->list_cache);
    sh_buf_deinit(&a->out);
    free(a);
}

void sh_api_records_set_batch(struct sh_api_records *a, bool enabled, unsigned max_requests,
                              uint64_t timeout_ms, uint64_t max_body)
{
    const struct sh_config *cfg = a->cfg;
    if (!sh_config_is_set(cfg, "batch-max-requests"))
        a->batch.max_requests = enabled ? max_requests : 0;
    if (!sh_config_is_set(cfg, "batch-timeout") && timeout_ms)
        a->batch.timeout_ms = timeout_ms;
    if (!sh_config_is_set(cfg, "batch-max-body"))
        a->batch.max_body = max_body ? max_body : cfg->batch_max_body;
}
