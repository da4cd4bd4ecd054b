/*
 * The rest of PocketBase's collections API, superusers only:
 *  - PUT /api/collections/import {"collections": [...], "deleteMissing":
 *    bool}: the array as PocketBase exports it, validated all together
 *    (sh_collection_import: relations and rules may name any collection of
 *    the array), then, in one writer job and one transaction, the stored
 *    collections the array does not list deleted (with deleteMissing; never
 *    system ones) and every listed one created or migrated. 204; a refusal
 *    is 400 "Failed to import collections." with the collection and key at
 *    fault, and nothing changes.
 *  - GET /api/collections/meta/scaffolds: {"base": {...}, "auth": {...}},
 *    a new collection of each type with its default fields and options,
 *    id and name empty.
 *  - GET /api/collections/meta/oauth2-providers: [] (no OAuth2 yet).
 *  - POST /api/collections/meta/dry-run-view {"viewQuery"}: the view
 *    collection that query would make (sh_view_infer's fields), unsaved.
 *  - DELETE /api/collections/{c}/truncate: every record deleted in one
 *    writer job (sh_rec_truncate_run: relations pointing at them cleared or
 *    cascaded, an auth collection's sessions with them); 204.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth_int.h"

/* ---- import ---- */

struct import_job {
    struct sh__api_job job; /* first: the request-bound job (api/job.c) */
    struct sh_catalog_snap *snap;
    struct sh_schema_error err;
    struct sh__files_capture *files; /* stored files the import lets go */
    int saved_rc;                    /* its outcome; -1 until saved */
};

static void import_free(struct sh__api_job *job)
{
    struct import_job *x = (struct import_job *)job;
    sh__rec_files_schema_saved(x->files, x->saved_rc);
    sh_catalog_snap_free(x->snap);
    free(x);
}

static void import_error(struct sh_req *r, const struct sh_schema_error *err)
{
    cJSON *d = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(d, "collections");
    cJSON_AddStringToObject(e, "code", err->vcode ? err->vcode : "validation_invalid_value");
    cJSON_AddStringToObject(e, "message", err->message[0] ? err->message : "Invalid value.");
    sh__api_error(r, 400, "Failed to import collections.", d);
    cJSON_Delete(d);
}

static int import_answer(struct sh__api_job *job, struct sh_req *r, int rc)
{
    struct import_job *x = (struct import_job *)job;
    if (rc == 0) {
        sh_res_send(r, 204, NULL, NULL, 0);
    } else if (rc == SH_EINVAL && x->err.message[0]) {
        import_error(r, &x->err);
    } else if (rc == SH_ECONFLICT) {
        struct sh_schema_error e = {.vcode = "validation_not_unique"};
        snprintf(e.message, sizeof(e.message), "A collection name is already in use.");
        import_error(r, &e);
    } else if (rc == SH_ESTALE) {
        sh__api_error(r, 409, "The schema changed meanwhile; read it again and retry.", NULL);
    } else {
        return rc;
    }
    return 0;
}

static void imported(void *arg, int rc, const struct sh_schema_error *err)
{
    struct import_job *x = arg;
    if (err)
        x->err = *err;
    x->saved_rc = rc;
    sh__api_job_complete(&x->job, rc);
}

static const struct sh__api_job_ops import_ops = {.answer = import_answer, .free = import_free};

static const struct sh_collection *by_id(const struct sh_catalog_snap *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->list[i]->id, id) == 0)
            return s->list[i];
    return NULL;
}

/* With deleteMissing: refuses deleting d while a collection that stays has
 * a relation to it. */
static int check_deletable(const struct sh_collection *d, struct sh_collection **list, size_t n,
                           struct sh_schema_error *err)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < list[i]->nfields; k++) {
            const struct sh_field *f = &list[i]->fields[k];
            if (f->kind == SH_FIELD_RELATION && f->collection_id &&
                strcmp(f->collection_id, d->id) == 0) {
                err->code = SH_EINVAL;
                err->vcode = "validation_collection_in_use";
                snprintf(err->message, sizeof(err->message),
                         "collection \"%s\" cannot be deleted: \"%s.%s\" still relates to it.",
                         d->name, list[i]->name, f->name);
                return SH_EINVAL;
            }
        }
    return 0;
}

int sh_api_collections_import(struct sh_req *r, void *ud)
{
    struct sh_api_records *api = ud;
    struct sh_catalog_snap *s = sh__coll_begin_or_reply(r, api);
    if (!s)
        return SH_HANDLED;
    cJSON *body = sh__api_body_or_reply(r);
    if (!body)
        return SH_HANDLED;
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "collections");
    const cJSON *dm = cJSON_GetObjectItemCaseSensitive(body, "deleteMissing");
    struct sh_schema_error err;
    memset(&err, 0, sizeof(err));
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0 || (dm && !cJSON_IsBool(dm))) {
        err.vcode = "validation_required";
        snprintf(err.message, sizeof(err.message),
                 "\"collections\" must be a non-empty array and \"deleteMissing\" a boolean.");
        import_error(r, &err);
        return SH_HANDLED;
    }
    cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        const struct sh_collection *old = cJSON_IsString(id) ? by_id(s, id->valuestring) : NULL;
        if (!old && cJSON_IsString(nm))
            old = sh_catalog_snap_find(s, nm->valuestring);
        if (sh_view_infer_into(sh_db_reader(api->db), e, old, &s->resolver, &err) != 0) {
            import_error(r, &err);
            return SH_HANDLED;
        }
    }
    struct sh_collection **list = NULL;
    size_t n = 0;
    if (sh_collection_import(arr, &s->resolver, &list, &n, &err) != 0) {
        import_error(r, &err);
        return SH_HANDLED;
    }
    /* Deletions first (a listed collection may reuse a deleted one's name),
     * then every listed collection in the array's order. */
    size_t cap = n + s->n;
    const struct sh_collection **olds = sh_calloc(cap + 1, sizeof(*olds));
    struct sh_collection **nexts = sh_calloc(cap + 1, sizeof(*nexts));
    size_t m = 0;
    int rc = 0;
    for (size_t k = 0; cJSON_IsTrue(dm) && k < s->n && !rc; k++) {
        const struct sh_collection *old = s->list[k];
        bool kept = old->system;
        for (size_t i = 0; i < n && !kept; i++)
            kept = strcmp(list[i]->id, old->id) == 0;
        if (kept)
            continue;
        rc = check_deletable(old, list, n, &err);
        olds[m] = old;
        nexts[m++] = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        olds[m] = by_id(s, list[i]->id);
        nexts[m++] = list[i];
    }
    free(list);
    if (rc) {
        for (size_t i = 0; i < m; i++)
            sh_collection_free(nexts[i]);
        free(olds);
        free(nexts);
        import_error(r, &err);
        return SH_HANDLED;
    }
    struct import_job *x = sh_calloc(1, sizeof(*x));
    x->snap = sh_catalog_snap_ref(s);
    x->saved_rc = -1;
    x->files = sh__rec_files_capture(api, m, olds, nexts);
    sh__api_job_start(&x->job, r, &import_ops, api->db, NULL, s);
    rc = sh_catalog_save_many(api->catalog, m, olds, nexts, imported, x);
    free(olds);
    free(nexts);
    if (rc)
        sh__api_job_end(&x->job, rc);
    return SH_HANDLED;
}

/* ---- scaffolds and providers ---- */

static cJSON *scaffold(const struct sh_api_records *api, const char *type)
{
    cJSON *def = cJSON_CreateObject();
    cJSON_AddStringToObject(def, "name", "scaffold");
    cJSON_AddStringToObject(def, "type", type);
    struct sh_collection *c = NULL;
    struct sh_schema_error err;
    int rc = sh_collection_parse(def, NULL, NULL, &c, &err);
    SH_ASSERT(rc == 0);
    cJSON_Delete(def);
    cJSON *o = sh__coll_shown(api, c);
    sh_collection_free(c);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "id", cJSON_CreateString(""));
    cJSON_ReplaceItemInObjectCaseSensitive(o, "name", cJSON_CreateString(""));
    /* The default indexes are made for the name the collection gets. */
    cJSON_ReplaceItemInObjectCaseSensitive(o, "indexes", cJSON_CreateArray());
    return o;
}

int sh_api_collections_scaffolds(struct sh_req *r, void *ud)
{
    if (!sh__coll_begin_or_reply(r, ud))
        return SH_HANDLED;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "auth", scaffold(ud, "auth"));
    cJSON_AddItemToObject(o, "base", scaffold(ud, "base"));
    /* a view's fields come from its query: the scaffold has none */
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "id", "");
    cJSON_AddStringToObject(v, "name", "");
    cJSON_AddStringToObject(v, "type", "view");
    cJSON_AddBoolToObject(v, "system", 0);
    cJSON_AddArrayToObject(v, "fields");
    cJSON_AddArrayToObject(v, "indexes");
    static const char *const rules[] = {"listRule", "viewRule", "createRule", "updateRule",
                                        "deleteRule"};
    for (size_t i = 0; i < SH_ARRAY_LEN(rules); i++)
        cJSON_AddNullToObject(v, rules[i]);
    cJSON_AddStringToObject(v, "viewQuery", "");
    cJSON_AddItemToObject(o, "view", v);
    sh__api_send_json(r, 200, o);
    return SH_HANDLED;
}

int sh_api_collections_oauth2_providers(struct sh_req *r, void *ud)
{
    if (!sh__coll_begin_or_reply(r, ud))
        return SH_HANDLED;
    sh__api_send_json(r, 200, cJSON_CreateArray());
    return SH_HANDLED;
}

int sh_api_collections_dry_run_view(struct sh_req *r, void *ud)
{
    struct sh_api_records *api = ud;
    struct sh_catalog_snap *s = sh__coll_begin_or_reply(r, api);
    if (!s)
        return SH_HANDLED;
    cJSON *body = sh__api_body_or_reply(r);
    if (!body)
        return SH_HANDLED;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "viewQuery");
    cJSON *def = cJSON_CreateObject();
    cJSON_AddStringToObject(def, "name", "dry_run");
    cJSON_AddStringToObject(def, "type", "view");
    cJSON_AddStringToObject(def, "viewQuery", cJSON_IsString(q) ? q->valuestring : "");
    struct sh_schema_error err;
    memset(&err, 0, sizeof(err));
    struct sh_collection *c = NULL;
    if (sh_view_infer_into(sh_db_reader(api->db), def, NULL, &s->resolver, &err) != 0 ||
        sh_collection_parse(def, NULL, &s->resolver, &c, &err) != 0) {
        cJSON_Delete(def);
        sh__coll_schema_error(r, "Invalid view query.", &err);
        return SH_HANDLED;
    }
    cJSON_Delete(def);
    cJSON *o = sh__coll_shown(api, c);
    sh_collection_free(c);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "id", cJSON_CreateString(""));
    cJSON_ReplaceItemInObjectCaseSensitive(o, "name", cJSON_CreateString(""));
    sh__api_send_json(r, 200, o);
    return SH_HANDLED;
}

/* ---- truncate ---- */

struct truncate_job {
    struct sh__api_job job; /* first */
    struct sh_rec_write w;
    struct sh_api_records *api;
};

static int truncate_run(sqlite3 *wdb, void *arg)
{
    struct truncate_job *t = arg;
    return sh_rec_truncate_run(wdb, &t->w);
}

static void truncate_committed(struct sh__api_job *job, int rc)
{
    struct truncate_job *t = (struct truncate_job *)job;
    sh__auth_record_written(t->api->auth, &t->w);
    if (rc == 0) /* the folders of the records it deleted */
        sh__rec_files_after(t->api, NULL, &t->w, true);
}

/* SH_ESTALE: the same collection in the current snapshot. */
static int truncate_rebind(struct sh__api_job *job, struct sh_req *r)
{
    struct truncate_job *t = (struct truncate_job *)job;
    struct sh_catalog_snap *snap = sh_catalog_acquire(t->api->catalog);
    if (!snap) {
        sh__api_fail(r, -ECANCELED);
        return -1;
    }
    const struct sh_collection *c = sh_catalog_snap_find(snap, t->w.c->id);
    if (!c) {
        sh_catalog_snap_free(snap);
        sh__api_error(r, 404, "The requested resource wasn't found.", NULL);
        return -1;
    }
    sh_catalog_snap_free(t->w.snap);
    t->w.snap = snap; /* the acquired reference */
    t->w.c = c;
    job->snap = snap;
    return 0;
}

static int truncate_answer(struct sh__api_job *job, struct sh_req *r, int rc)
{
    (void)job;
    if (rc == 0) {
        sh_res_send(r, 204, NULL, NULL, 0);
        return 0;
    }
    if (rc == SH_EINVAL) {
        sh__api_error(r, 400,
                      "Failed to truncate collection. Make sure that no record is part of a "
                      "required relation reference.",
                      NULL);
        return 0;
    }
    return rc;
}

static void truncate_free(struct sh__api_job *job)
{
    struct truncate_job *t = (struct truncate_job *)job;
    sh_rec_write_deinit(&t->w);
    free(t);
}

static const struct sh__api_job_ops truncate_ops = {.run = truncate_run,
                                                    .committed = truncate_committed,
                                                    .rebind = truncate_rebind,
                                                    .answer = truncate_answer,
                                                    .free = truncate_free};

int sh_api_collections_truncate(struct sh_req *r, void *ud)
{
    struct sh_api_records *api = ud;
    struct sh_catalog_snap *s = sh__coll_begin_or_reply(r, api);
    const struct sh_collection *c = s ? sh__coll_target_or_reply(r, s) : NULL;
    if (!c)
        return SH_HANDLED;
    if (c->system || c->type == SH_COLLECTION_VIEW) {
        sh__api_error(r, 400,
                      c->system ? "System collections cannot be truncated."
                                : "View collections cannot be truncated.",
                      NULL);
        return SH_HANDLED;
    }
    struct truncate_job *t = sh_calloc(1, sizeof(*t));
    t->api = api;
    t->w.op = SH_REC_DELETE;
    t->w.snap = sh_catalog_snap_ref(s);
    t->w.c = c;
    t->w.now_ms = sh__now_ms();
    t->w.counts = api->counts;
    sh__api_job_start(&t->job, r, &truncate_ops, api->db, api->catalog, s);
    sh__api_job_submit(&t->job);
    return SH_HANDLED;
}
