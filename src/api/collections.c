/*
 * The collections API (API.md "Collections"), superusers only:
 * GET /api/collections (the list envelope; page, perPage, skipTotal, and
 * filter/sort over id, name, type, system, created, updated),
 * POST /api/collections, GET/PATCH/DELETE /api/collections/{idOrName}
 * (import, truncate and the meta routes: collections_meta.c).
 * Definitions go through the same code as `stagehand collections import`:
 * sh_collection_parse validates (PATCH semantics against the stored
 * definition), and sh_catalog_save migrates the table and writes the
 * `_collections` row in one writer job, refused with 409 if the schema moved
 * since the definition was read. A refusal is 400 with the collection key or
 * field at fault in `data`. The token secret of auth collections
 * (authToken.secret) is never shown; a PATCH without it keeps it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth_int.h"

#define DEFAULT_PER_PAGE 30
#define MAX_PER_PAGE     1000

/* The collection as clients see it: no token secrets, an authToken
 * duration of 0 (none stored) shown as the --token-ttl that applies, and
 * created/updated from `_collections`. */
cJSON *sh__coll_shown(const struct sh_api_records *api, const struct sh_collection *c)
{
    static const char *const toks[] = {"authToken", "passwordResetToken", "emailChangeToken",
                                       "verificationToken", "fileToken"};
    cJSON *o = sh_collection_to_json(c);
    for (size_t i = 0; i < SH_ARRAY_LEN(toks); i++)
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, toks[i]),
                                                "secret");
    cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "authToken"),
                                                "duration");
    if (cJSON_IsNumber(d) && d->valuedouble == 0)
        cJSON_SetNumberValue(d, (double)(api->cfg->token_ttl / 1000));
    cJSON_AddStringToObject(o, "created", c->created ? c->created : "");
    cJSON_AddStringToObject(o, "updated", c->updated ? c->updated : "");
    return o;
}

static void drop_snap(void *p)
{
    sh_catalog_snap_free(p);
}

/* The superuser check and the snapshot the request reads. NULL after
 * answering. */
struct sh_catalog_snap *sh__coll_begin_or_reply(struct sh_req *r, struct sh_api_records *api)
{
    if (!r->auth) {
        sh__api_error(r, 401, "The request requires superuser authorization token to be set.",
                      NULL);
        return NULL;
    }
    if (!r->auth->superuser) {
        sh__api_error(r, 403, "The authorized record is not allowed to perform this action.", NULL);
        return NULL;
    }
    sh_catalog_refresh(api->catalog); /* a CLI import a moment ago */
    struct sh_catalog_snap *s = sh_catalog_acquire(api->catalog);
    if (!s) {
        sh__api_fail(r, -ECANCELED);
        return NULL;
    }
    if (sh_arena_defer(r->arena, drop_snap, s) != 0) {
        sh_catalog_snap_free(s);
        sh__api_fail(r, -ENOMEM);
        return NULL;
    }
    return s;
}

/* :collection in s; NULL after answering 404. */
const struct sh_collection *sh__coll_target_or_reply(struct sh_req *r,
                                                     const struct sh_catalog_snap *s)
{
    const struct sh_str *p = sh_req_param(r, "collection");
    char *name = p ? sh_arena_strndup(r->arena, p->ptr, p->len) : NULL;
    const struct sh_collection *c = name ? sh_catalog_snap_find(s, name) : NULL;
    if (!c)
        sh__api_error(r, 404, "The requested resource wasn't found.", NULL);
    return c;
}

/* The collections of s that `filter` selects, in `sort`'s order (both in
 * the filter language over the columns of `_collections`: id, name, type,
 * system, created, updated), into the arena: *out[0..*n). Without either,
 * s's own order. A small table read on the loop's connection under the
 * query budget. 0, or -1 after answering 400. */
static int select_or_reply(struct sh_req *r, struct sh_api_records *api,
                           const struct sh_catalog_snap *s, const struct sh_collection ***out,
                           size_t *n)
{
    const char *filter = sh_req_query(r, "filter"), *sort = sh_req_query(r, "sort");
    const struct sh_collection **list = sh_arena_alloc(r->arena, (s->n + 1) * sizeof(*list));
    if (!list) {
        sh__api_fail(r, -ENOMEM);
        return -1;
    }
    *out = list;
    *n = 0;
    if ((!filter || !*filter) && (!sort || !*sort)) {
        for (size_t i = 0; i < s->n; i++)
            list[(*n)++] = s->list[i];
        return 0;
    }
    static const struct sh_filter_field cols[] = {
        {"id", SH_FIELD_TEXT, 0, NULL},          {"name", SH_FIELD_TEXT, 0, NULL},
        {"type", SH_FIELD_TEXT, 0, NULL},        {"system", SH_FIELD_BOOL, 0, NULL},
        {"created", SH_FIELD_AUTODATE, 0, NULL}, {"updated", SH_FIELD_AUTODATE, 0, NULL},
    };
    const struct sh_filter_schema schema = {
        .table = "_collections", .fields = cols, .nfields = SH_ARRAY_LEN(cols)};
    struct sh_filter *f = NULL;
    struct sh_filter_sql where = {0}, order = {0};
    struct sh_filter_error err = {0};
    int rc = sh_filter_parse(filter ? filter : "", filter ? strlen(filter) : 0, &f, &err);
    if (!rc)
        rc = sh_filter_compile(f, &schema, NULL, &where, &err);
    if (!rc && sort && *sort)
        rc = sh_sort_compile(sort, strlen(sort), &schema, &order, &err);
    sh_filter_free(f);
    char *sql = NULL;
    sqlite3_stmt *st = NULL;
    if (!rc) {
        sql = sh_arena_sprintf(r->arena, "SELECT id FROM \"_collections\" WHERE %s ORDER BY %s%s",
                               where.sql ? where.sql : "1", order.len ? order.sql : "",
                               order.len ? ", rowid" : "rowid");
        rc = sql ? sh_db_prepare(api->db, sql, &st) : -ENOMEM;
    }
    if (!rc && where.nparams && sh_filter_sql_bind(&where, st, 1) != SQLITE_OK)
        rc = SH_EINTERNAL;
    if (!rc && order.nparams && sh_filter_sql_bind(&order, st, (int)where.nparams + 1) != SQLITE_OK)
        rc = SH_EINTERNAL;
    while (!rc) {
        rc = sh_db_step(api->db, st);
        if (rc != 1)
            break;
        rc = 0;
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const struct sh_collection *c = id ? sh_catalog_snap_find(s, id) : NULL;
        if (c && *n < s->n)
            list[(*n)++] = c; /* a row newer than the snapshot is left out */
    }
    sh_db_release(api->db, st);
    sh_filter_sql_deinit(&where);
    sh_filter_sql_deinit(&order);
    if (rc == SH_EINVAL && err.message[0]) {
        sh__api_error(r, 400, err.message, NULL);
        return -1;
    }
    if (rc) {
        sh__api_fail(r, rc);
        return -1;
    }
    return 0;
}

int sh_api_collections_list(struct sh_req *r, void *ud)
{
    struct sh_catalog_snap *s = sh__coll_begin_or_reply(r, ud);
    if (!s)
        return SH_HANDLED;
    /* Lenient: a malformed page or perPage reads as the default. */
    int64_t page, per;
    bool no_total;
    (void)sh_req_query_int(r, "page", 1, &page);
    (void)sh_req_query_int(r, "perPage", DEFAULT_PER_PAGE, &per);
    (void)sh_req_query_bool(r, "skipTotal", false, &no_total);
    if (page < 1)
        page = 1;
    if (per < 1)
        per = DEFAULT_PER_PAGE;
    if (per > MAX_PER_PAGE)
        per = MAX_PER_PAGE;
    const struct sh_collection **list;
    size_t n;
    if (select_or_reply(r, ud, s, &list, &n))
        return SH_HANDLED;
    int64_t total = (int64_t)n;
    cJSON *env = cJSON_CreateObject();
    cJSON_AddNumberToObject(env, "page", (double)page);
    cJSON_AddNumberToObject(env, "perPage", (double)per);
    cJSON_AddNumberToObject(env, "totalItems", no_total ? -1.0 : (double)total);
    cJSON_AddNumberToObject(env, "totalPages", no_total ? -1.0 : (double)((total + per - 1) / per));
    cJSON *items = cJSON_AddArrayToObject(env, "items");
    if (page <= INT64_MAX / per) {
        for (int64_t i = (page - 1) * per; i < total && i < page * per; i++)
            cJSON_AddItemToArray(items, sh__coll_shown(ud, list[i]));
    }
    sh__api_send_json(r, 200, env);
    return SH_HANDLED;
}

int sh_api_collections_view(struct sh_req *r, void *ud)
{
    struct sh_catalog_snap *s = sh__coll_begin_or_reply(r, ud);
    const struct sh_collection *c = s ? sh__coll_target_or_reply(r, s) : NULL;
    if (c)
        sh__api_send_json(r, 200, sh__coll_shown(ud, c));
    return SH_HANDLED;
}

/* ---- changes: one writer job through the catalog ---- */

struct change {
    struct sh__api_job job; /* first: the request-bound job (api/job.c) */
    struct sh_api_records *api;
    struct sh_catalog_snap *snap; /* keeps `old` alive */
    char *id;                     /* the collection's id, to show it afterwards */
    bool deleting, creating;
    struct sh__files_capture *files; /* stored files the change lets go */
    int saved_rc;                    /* the change's outcome; -1 until saved */
    struct sh_schema_error err;      /* the catalog's refusal, copied from its callback */
};

void sh__coll_schema_error(struct sh_req *r, const char *message, const struct sh_schema_error *err)
{
    cJSON *d = cJSON_CreateObject();
    const char *key = err->key && *err->key ? err->key : err->field[0] ? "fields" : "name";
    cJSON *e = cJSON_AddObjectToObject(d, key);
    cJSON_AddStringToObject(e, "code", err->vcode ? err->vcode : "validation_invalid_value");
    cJSON_AddStringToObject(e, "message", err->message[0] ? err->message : "Invalid value.");
    sh__api_error(r, 400, message, d);
    cJSON_Delete(d);
}

static const char *fail_message(const struct change *x)
{
    return x->deleting   ? "Failed to delete collection."
           : x->creating ? "Failed to create collection."
                         : "Failed to update collection.";
}

static void change_free(struct sh__api_job *job)
{
    struct change *x = (struct change *)job;
    sh__rec_files_schema_saved(x->files, x->saved_rc);
    sh_catalog_snap_free(x->snap);
    free(x->id);
    free(x);
}

static int change_answer(struct sh__api_job *job, struct sh_req *r, int rc)
{
    struct change *x = (struct change *)job;
    if (rc == 0 && x->deleting) {
        sh_res_send(r, 204, NULL, NULL, 0);
    } else if (rc == 0) {
        const struct sh_collection *c = sh_catalog_find(x->api->catalog, x->id);
        if (!c)
            return SH_EINTERNAL;
        sh__api_send_json(r, 200, sh__coll_shown(x->api, c));
    } else if (rc == SH_EINVAL && x->err.message[0]) {
        sh__coll_schema_error(r, fail_message(x), &x->err);
    } else if (rc == SH_ECONFLICT) { /* the name is another collection's */
        cJSON *d = cJSON_Parse("{\"name\":{\"code\":\"validation_not_unique\","
                               "\"message\":\"The name is already in use.\"}}");
        sh__api_error(r, 400, fail_message(x), d);
        cJSON_Delete(d);
    } else if (rc == SH_ESTALE) { /* the definition changed since it was read */
        sh__api_error(r, 409, "The schema changed meanwhile; read it again and retry.", NULL);
    } else {
        return rc;
    }
    return 0;
}

/* The catalog's save job is done (after its commit and reload). */
static void saved(void *arg, int rc, const struct sh_schema_error *err)
{
    struct change *x = arg;
    if (err)
        x->err = *err;
    x->saved_rc = rc;
    sh__api_job_complete(&x->job, rc);
}

/* No writer job of its own: sh_catalog_save runs it and calls saved. */
static const struct sh__api_job_ops change_ops = {.answer = change_answer, .free = change_free};

/* Submits olds[i] -> nexts[i] for i < n (nexts taken over), in one
 * transaction; the answer is about the first. Answers on failure. */
static void save_many(struct sh_req *r, struct sh_api_records *api, struct sh_catalog_snap *s,
                      size_t n, const struct sh_collection *const *olds,
                      struct sh_collection **nexts)
{
    struct change *x = sh_calloc(1, sizeof(*x));
    x->api = api;
    x->snap = sh_catalog_snap_ref(s);
    x->id = sh_strdup(nexts[0] ? nexts[0]->id : olds[0]->id);
    x->deleting = !nexts[0];
    x->creating = !olds[0];
    x->saved_rc = -1;
    x->files = sh__rec_files_capture(api, n, olds, nexts);
    sh__api_job_start(&x->job, r, &change_ops, api->db, NULL, s);
    int rc = sh_catalog_save_many(api->catalog, n, olds, nexts, saved, x);
    if (rc)
        sh__api_job_end(&x->job, rc);
}

/* Submits old -> next (next taken over). Answers on failure. */
static void save(struct sh_req *r, struct sh_api_records *api, struct sh_catalog_snap *s,
                 const struct sh_collection *old, struct sh_collection *next)
{
    save_many(r, api, s, 1, &old, &next);
}

/* Saves old -> next together with the other collections whose rules named
 * what the update renames, those rules rewritten (rename_refs.c). Answers. */
static void save_renamed(struct sh_req *r, struct sh_api_records *api, struct sh_catalog_snap *s,
                         const struct sh_collection *old, struct sh_collection *next)
{
    const struct sh_collection **olds = sh_calloc(s->n + 2, sizeof(*olds));
    struct sh_collection **nexts = sh_calloc(s->n + 2, sizeof(*nexts));
    size_t n = 0;
    olds[n] = old;
    nexts[n++] = next;
    struct sh_schema_error err;
    memset(&err, 0, sizeof(err));
    for (size_t i = 0; i < s->n; i++) {
        struct sh_collection *y;
        if (sh_collection_follow_rename(s->list[i], old, next, &s->resolver, &y, &err) != 0) {
            for (size_t k = 0; k < n; k++)
                sh_collection_free(nexts[k]);
            sh__coll_schema_error(r, "Failed to update collection.", &err);
            free(olds);
            free(nexts);
            return;
        }
        if (y) {
            olds[n] = s->list[i];
            nexts[n++] = y;
        }
    }
    save_many(r, api, s, n, olds, nexts);
    free(olds);
    free(nexts);
}

static int upsert(struct sh_req *r, struct sh_api_records *api, bool create)
{
    struct sh_catalog_snap *s = sh__coll_begin_or_reply(r, api);
    const struct sh_collection *old = s && !create ? sh__coll_target_or_reply(r, s) : NULL;
    if (!s || (!create && !old))
        return SH_HANDLED;
    cJSON *body = sh__api_body_or_reply(r);
    if (!body)
        return SH_HANDLED;
    struct sh_collection *next = NULL;
    struct sh_schema_error err;
    memset(&err, 0, sizeof(err));
    /* a view's fields come from its query, prepared (not run) on the loop's
     * read connection: bounded by SH_VIEW_QUERY_MAX */
    if (sh_view_infer_into(sh_db_reader(api->db), body, old, &s->resolver, &err) != 0 ||
        sh_collection_parse(body, old, &s->resolver, &next, &err) != 0) {
        sh__coll_schema_error(
            r, create ? "Failed to create collection." : "Failed to update collection.", &err);
        return SH_HANDLED;
    }
    if (old)
        save_renamed(r, api, s, old, next);
    else
        save(r, api, s, old, next);
    return SH_HANDLED;
}

int sh_api_collections_create(struct sh_req *r, void *ud)
{
    return upsert(r, ud, true);
}

int sh_api_collections_update(struct sh_req *r, void *ud)
{
    return upsert(r, ud, false);
}

int sh_api_collections_delete(struct sh_req *r, void *ud)
{
    struct sh_catalog_snap *s = sh__coll_begin_or_reply(r, ud);
    const struct sh_collection *c = s ? sh__coll_target_or_reply(r, s) : NULL;
    if (!c)
        return SH_HANDLED;
    struct sh_schema_error err;
    memset(&err, 0, sizeof(err));
    if (c->system) {
        sh__api_error(r, 400, "System collections cannot be deleted.", NULL);
        return SH_HANDLED;
    }
    if (sh_catalog_check_delete(s, c, &err) != 0) {
        sh__coll_schema_error(r, "Failed to delete collection.", &err);
        return SH_HANDLED;
    }
    save(r, ud, s, c, NULL);
    return SH_HANDLED;
}

int sh_api_collections_register(struct sh_router *rt, struct sh_api_records *a)
{
    static const char all[] = "/api/collections";
    static const char one[] = "/api/collections/:collection";
    int rc = 0;
    rc |= sh_router_add(rt, SH_METHOD_GET, all, sh_api_collections_list, a);
    rc |= sh_router_add(rt, SH_METHOD_POST, all, sh_api_collections_create, a);
    rc |= sh_router_add(rt, SH_METHOD_GET, one, sh_api_collections_view, a);
    rc |= sh_router_add(rt, SH_METHOD_PATCH, one, sh_api_collections_update, a);
    rc |= sh_router_add(rt, SH_METHOD_DELETE, one, sh_api_collections_delete, a);
    /* Static segments win over :collection (router.c), whatever the order. */
    rc |= sh_router_add(rt, SH_METHOD_PUT, "/api/collections/import", sh_api_collections_import, a);
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/collections/meta/scaffolds",
                        sh_api_collections_scaffolds, a);
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/collections/meta/oauth2-providers",
                        sh_api_collections_oauth2_providers, a);
    rc |= sh_router_add(rt, SH_METHOD_DELETE, "/api/collections/:collection/truncate",
                        sh_api_collections_truncate, a);
    rc |= sh_router_add(rt, SH_METHOD_POST, "/api/collections/meta/dry-run-view",
                        sh_api_collections_dry_run_view, a);
    return rc ? SH_EINVAL : 0;
}
