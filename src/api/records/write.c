/*
 * POST, PATCH and DELETE on records. The handler checks what needs only the
 * request (the rule is not null, the body is a JSON object), compiles the
 * rule against the request (its @request.* values become bound parameters),
 * and submits a writer job (db/records.h) that does the rest inside the
 * write transaction. The response is sent from the job's completion, which
 * runs only after the COMMIT: an acknowledged write is durable. The job is
 * the request-bound job of api/job.c: it owns everything it uses (heap
 * memory and a catalog snapshot reference), finds its request again only
 * while the client is there, and is bound again to the current catalog when
 * the writer finds the schema moved (SH_ESTALE). The rule is looked up once
 * per write and compiled on the snapshot's views.
 *
 * Passwords (auth collections) are hashed with Argon2id on the hashing
 * pool (auth.h) before the job is submitted, never on the loop or the
 * writer, and one at a time; a full pool queue is 503 with Retry-After.
 * Before any hash of an update, the update rule must let the caller reach
 * the record (else 404); then anyone but a superuser who sets a new
 * password must give the current one as oldPassword, checked through the
 * password gate (auth_gate.c, whose limits count it), as in PocketBase. A new password rotates the
 * record's tokenKey (in validation) and the same job deletes its sessions, as does deleting an auth
 * record: every token of the record stops working at once. Sign-ups count against the per-address
 * limit of the auth routes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "auth_int.h"
#include "stagehand/validate.h"

struct wjob {
    struct sh__api_job job; /* first: the request-bound job (api/job.c) */
    struct sh_rec_write w;
    struct sh_api_records *api;
    struct sh__rec_req *q;       /* request memory: valid while sh__api_job_req() */
    char **plain;                /* passwords to hash, sodium_malloc'd; nhashes of them */
    size_t hashed;               /* how many of them are done */
    struct sh__rec_files *files; /* uploads (files.c); NULL = none */
    bool files_moved;            /* they are in the record's folder */
    bool ok;                     /* the last run of the job committed */
};

static const enum sh_rule_kind rule_of[] = {SH_RULE_CREATE, SH_RULE_UPDATE, SH_RULE_DELETE};

void sh__rec_passwords_free(struct sh_rec_write *w, char **plain)
{
    for (size_t i = 0; plain && i < w->nhashes; i++)
        if (plain[i])
            sodium_free(plain[i]);
    free(plain);
    if (w->body) { /* no plain password left in freed memory */
        static const char *const secret[] = {"password", "passwordConfirm", "oldPassword"};
        for (size_t i = 0; i < SH_ARRAY_LEN(secret); i++) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(w->body, secret[i]);
            if (cJSON_IsString(v))
                sodium_memzero(v->valuestring, strlen(v->valuestring));
        }
    }
}

static void job_free(struct sh__api_job *job)
{
    struct wjob *j = (struct wjob *)job;
    sh__rec_files_after(j->api, j->files, &j->w, j->ok);
    sh__rec_files_free(j->files);
    sh__rec_passwords_free(&j->w, j->plain);
    sh_rec_write_deinit(&j->w);
    free(j);
}

static bool sets_password(const struct sh_rec_write *w)
{
    for (size_t i = 0; i < w->nhashes; i++)
        if (strcmp(w->hashes[i].field, "password") == 0)
            return true;
    return false;
}

int sh__rec_write_item_run(sqlite3 *wdb, struct sh_rec_write *w)
{
    int rc = sh_rec_write_run(wdb, w);
    if (rc || w->c->type != SH_COLLECTION_AUTH || w->op != SH_REC_UPDATE)
        return rc; /* a delete took the sessions with the record (records_delete.c) */
    if (sets_password(w))
        rc = sh_session_delete_record(wdb, w->c->id, w->id);
    return rc;
}

static int wjob_run(sqlite3 *wdb, void *arg)
{
    struct wjob *j = arg;
    return sh__rec_write_item_run(wdb, &j->w);
}

static const char *op_message(enum sh_rec_op op)
{
    switch (op) {
    case SH_REC_CREATE:
        return "Failed to create record.";
    case SH_REC_UPDATE:
        return "Failed to update record.";
    case SH_REC_DELETE:
        break;
    }
    return "Failed to delete record. Make sure that the record is not part of a required "
           "relation reference.";
}

int sh__rec_write_bind(const struct sh__rec_req *q, struct sh_rec_write *w,
                       const struct sh_filter *rule, struct sh_filter_error *err)
{
    w->check_password_confirm = w->c->type == SH_COLLECTION_AUTH;
    sh_filter_sql_deinit(&w->rule);
    w->has_rule = false;
    if (!rule)
        return 0;
    struct sh_filter_ctx ctx = q->ctx;
    ctx.body = w->body;
    const struct sh_filter_schema *view =
        sh_schema_views_get(q->acc.views, w->c, SH_SCHEMA_VIEW_HIDDEN);
    if (sh_filter_compile(rule, view, &ctx, &w->rule, err))
        return SH_EINVAL;
    w->has_rule = true;
    return 0;
}

void sh__rec_write_init(struct sh_rec_write *w, struct sh_api_records *api,
                        const struct sh__rec_req *q, enum sh_rec_op op, struct cJSON *body,
                        char *id)
{
    w->op = op;
    w->body = body;
    w->id = id;
    w->c = q->c;
    w->now_ms = q->ctx.now_ms;
    w->flags = q->acc.flags;
    w->counts = api->counts;
    w->capture = sh_api_records_listened(api, q->c); /* its row for the change event */
}

/* Points the job (and the request's reads) at collection c of snapshot snap
 * (a new reference is taken) and compiles rule (c's rule for this write, as
 * sh__rec_rule_or_reply gave it; NULL = none applies) against the request,
 * on the snapshot's views. 0, or -1 after answering. */
static int bind_snapshot_or_reply(struct sh_req *r, struct wjob *j, struct sh_catalog_snap *snap,
                                  const struct sh_collection *c, const struct sh_filter *rule)
{
    struct sh__rec_req *q = j->q;
    struct sh_rec_write *w = &j->w;
    struct sh_catalog_snap *old = w->snap;
    w->snap = sh_catalog_snap_ref(snap);
    sh_catalog_snap_free(old);
    j->job.snap = snap;
    w->c = q->c = c;
    q->acc.resolver = &snap->resolver;
    struct sh_filter_error err;
    if (sh__rec_write_bind(q, w, rule, &err)) {
        sh__api_error(r, 400, err.message, NULL);
        return -1;
    }
    return 0;
}

/* The writer found the schema newer than the job's snapshot (a CLI import a
 * moment ago) and the catalog moved (api/retry.c): bind to the current
 * definition so the client never sees the window. 0 to resubmit, -1 after
 * answering (the collection is gone, or its rule now refuses). */
static int rebind(struct sh__api_job *job, struct sh_req *r)
{
    struct wjob *j = (struct wjob *)job;
    struct sh_catalog_snap *snap = sh_catalog_acquire(j->api->catalog);
    if (!snap) {
        sh__api_fail(r, -ECANCELED); /* shutting down */
        return -1;
    }
    const struct sh_collection *c = sh_catalog_snap_find(snap, j->w.c->id);
    const struct sh_filter *rule = NULL;
    int rc = -1;
    if (!c)
        sh__api_error(r, 404, "Missing collection context.", NULL);
    else if ((j->q->acc.views = sh__rec_views_or_reply(r, j->api, snap)) != NULL) {
        j->q->acc.rules = NULL; /* the cache of q's first snapshot keys on its views */
        j->q->c = c;
        if (sh__rec_rule_or_reply(r, j->q, rule_of[j->w.op], &rule) == 0)
            rc = bind_snapshot_or_reply(r, j, snap, c, rule);
    }
    sh_catalog_snap_free(snap);
    return rc;
}

static void answer_code(struct sh__rec_answer *a, int code)
{
    a->status = sh__api_status(code, &a->message);
}

void sh__rec_write_answer(struct sh_api_records *api, const struct sh_req *r,
                          const struct sh_rec_access *acc, struct sh_rec_write *w, int rc,
                          const char *expand, const char *fields, struct sh__rec_answer *a)
{
    memset(a, 0, sizeof(*a));
    switch (rc) {
    case 0:
        break;
    case SH_EINVAL:
    case SH_ECONFLICT:  /* the records issue: a unique violation is a field error */
    case SH_EFORBIDDEN: /* the new record fails the create rule */
        a->status = 400;
        a->message = op_message(w->op);
        a->data = w->errors;
        return;
    default:
        answer_code(a, rc);
        return;
    }
    if (w->op == SH_REC_DELETE) {
        a->status = 204;
        return;
    }
    a->status = 200;
    if (w->record_json) { /* written by the job, straight from the row */
        a->json = w->record_text ? w->record_text : "{}";
        a->len = w->record_text ? w->record_len : 2;
        return;
    }
    int erc = sh_rec_expand(api->db, acc, w->c, w->record, expand);
    if (erc) {
        answer_code(a, erc);
        return;
    }
    sh__auth_own_email(r, w->record);
    if (fields && *fields)
        sh__fields_pick(w->record, fields);
    a->owned = cJSON_PrintUnformatted(w->record);
    SH_ASSERT(a->owned);
    a->json = a->owned;
    a->len = strlen(a->owned);
}

void sh__rec_answer_send(struct sh_req *r, struct sh__rec_answer *a)
{
    if (a->status >= 400)
        sh__api_error(r, a->status, a->message, a->data);
    else if (a->status == 204)
        sh_res_send(r, 204, NULL, NULL, 0);
    else
        sh_res_json(r, a->status, a->json, a->len);
    cJSON_free(a->owned);
    a->owned = NULL;
}

/* The answer after the commit: the record (its JSON straight from the
 * job, or a tree with expand and fields), 204 for a delete, or the error. */
static int respond(struct sh__api_job *job, struct sh_req *r, int rc)
{
    struct wjob *j = (struct wjob *)job;
    struct sh__rec_answer a;
    sh__rec_write_answer(j->api, r, &j->q->acc, &j->w, rc, sh_req_query(r, "expand"),
                         sh_req_query(r, "fields"), &a);
    sh__rec_answer_send(r, &a);
    return 0;
}

void sh__rec_write_done(struct sh_api_records *api, struct sh_rec_write *w, int rc)
{
    /* Cached tokens: an auth record written (or cascaded into) is verified
     * again by the next request; after a failed write too (nothing was
     * stored, but it costs nothing to look again). List totals need nothing
     * here: the marks of the tables w wrote end in sh_rec_write_deinit,
     * which bumps them. */
    sh__auth_record_written(api->auth, w);
    if (rc == 0) /* committed: its change event, in commit order */
        sh_api_records_committed(api, w);
}

/* Before any answer, whatever rc: one completed write (sh__rec_write_done). */
static void committed(struct sh__api_job *job, int rc)
{
    struct wjob *j = (struct wjob *)job;
    j->ok = rc == 0;
    sh__rec_write_done(j->api, &j->w, rc);
}

static const struct sh__api_job_ops wjob_ops = {
    .run = wjob_run, .committed = committed, .rebind = rebind, .answer = respond, .free = job_free};

/* ---- passwords on the hashing pool ---- */

/* Ends the request with code (if it is still there) and frees j. A full
 * pool queue (-ENOMEM from the pool) is busy. */
static void give_up(struct wjob *j, int code)
{
    sh__api_job_end(&j->job, code == -ENOMEM ? SH_EBUSY : code);
}

static void hash_next(struct wjob *j);

static void files_moved(void *ud, int rc)
{
    struct wjob *j = ud;
    struct sh_req *r = sh__api_job_resume(&j->job);
    if (!r)
        return; /* freed: job_free removed the files */
    j->files_moved = true;
    if (rc == SH_EINVAL) {
        sh__rec_files_reply(r, j->files, j->w.op);
        sh__api_job_end(&j->job, 0);
    } else if (rc) {
        give_up(j, rc);
    } else {
        sh__api_job_submit(&j->job);
    }
}

/* Submits the job, once its uploads are in the record's folder. */
static void submit(struct wjob *j)
{
    if (j->files && !j->files_moved) {
        int rc = sh__rec_files_move(j->api, j->files, files_moved, j);
        if (rc)
            give_up(j, rc);
        return;
    }
    sh__api_job_submit(&j->job);
}

static void hashed(void *arg, int rc, const char *hash)
{
    struct wjob *j = arg;
    size_t i = j->hashed++;
    sodium_free(j->plain[i]);
    j->plain[i] = NULL;
    if (!sh__api_job_resume(&j->job))
        return;
    if (rc) {
        give_up(j, rc);
        return;
    }
    j->w.hashes[i].hash = sh_strdup(hash);
    hash_next(j);
}

/* Hashes the next password, or submits the job when all are. */
static void hash_next(struct wjob *j)
{
    if (j->hashed == j->w.nhashes) {
        submit(j);
        return;
    }
    const char *p = j->plain[j->hashed];
    int rc = sh__auth_hash(j->api->auth, p, strlen(p), hashed, j);
    if (rc)
        give_up(j, rc);
}

static void field_error(struct sh_req *r, const char *field, const char *code, const char *msg)
{
    sh__api_field_error(r, "Failed to update record.", field, code, msg);
}

static void old_checked(void *arg, int rc, const char *hash)
{
    (void)hash;
    struct wjob *j = arg;
    struct sh_req *r = sh__api_job_resume(&j->job);
    if (!r)
        return;
    if (rc == SH_EFORBIDDEN) {
        field_error(r, "oldPassword", "validation_invalid_old_password",
                    "Missing or invalid old password.");
        sh__api_job_end(&j->job, 0);
        return;
    }
    if (rc) {
        give_up(j, rc);
        return;
    }
    hash_next(j);
}

/* An update that needs a hash is authorized before any: the record must
 * exist and the update rule (rule; NULL = none applies) must let this
 * caller reach it with this body, as PocketBase fetches the record through
 * the rule before it loads the form. 0, or -1 after answering (404 as the
 * job would: nothing tells a guest whether the record exists). The writer
 * checks the rule again in its transaction. */
static int authorize_or_reply(struct sh_req *r, struct wjob *j, const struct sh_filter *rule)
{
    struct sh__rec_req *q = j->q;
    struct sh_filter_ctx ctx = q->ctx;
    ctx.body = j->w.body;
    struct sh_rec_access acc = q->acc;
    acc.ctx = &ctx;
    struct sh_filter_error err = {0};
    cJSON *rec = NULL;
    int rc = sh_rec_view(j->api->db, &acc, j->w.c, rule, j->w.id, &rec, &err);
    cJSON_Delete(rec);
    if (rc == SH_EINVAL)
        sh__api_error(r, 400, err.message, NULL);
    else if (rc)
        sh__api_fail(r, rc);
    return rc ? -1 : 0;
}

/* A caller other than a superuser setting a new password: oldPassword must
 * match the stored one first, checked through the password gate (its
 * limits count every check). 1 when the check was started (it goes on to
 * the hashing), 0 when there is nothing to check, -1 after answering. */
static int check_old_password(struct sh_req *r, struct wjob *j)
{
    const struct sh_collection *c = j->w.c;
    if (j->w.op != SH_REC_UPDATE || c->type != SH_COLLECTION_AUTH || j->q->superuser ||
        !sets_password(&j->w))
        return 0;
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(j->w.body, "oldPassword");
    if (!cJSON_IsString(old) || !old->valuestring[0]) {
        field_error(r, "oldPassword", "validation_required", "Missing required value.");
        return -1;
    }
    struct sh_auth_row row;
    int rc = sh_auth_find_id(j->api->db, NULL, c, j->w.id, &row);
    if (rc) {
        sh__api_fail(r, rc);
        return -1;
    }
    char *account = sh_arena_sprintf(r->arena, "r:%s", row.id);
    if (!account) {
        sh_auth_row_deinit(&row);
        sh__api_fail(r, -ENOMEM);
        return -1;
    }
    /* The pool copies the password and the hash. */
    rc = sh__auth_check_password(r, j->api->auth, c, account,
                                 row.password_hash[0] ? row.password_hash : NULL, old->valuestring,
                                 strlen(old->valuestring), 0, old_checked, j);
    sh_auth_row_deinit(&row);
    if (rc == 1)
        return -1; /* 429 */
    if (rc == SH_ETOOBIG) {
        field_error(r, "oldPassword", "validation_invalid_old_password",
                    "Missing or invalid old password.");
        return -1;
    }
    if (rc) {
        sh__api_fail(r, rc == -ENOMEM ? SH_EBUSY : rc);
        return -1;
    }
    return 1;
}

/* Non-empty strings the body gives to password fields: they are hashed
 * first; the writer validates them (length, pattern) from the body. One
 * that validation refuses (sh_field_password_ok, the same rule) is not
 * hashed: the writer answers 400 before a hash would be needed, so a bad
 * sign-up costs no Argon2 run. */
size_t sh__rec_collect_passwords(struct sh_rec_write *w, char ***plain)
{
    const struct sh_collection *c = w->c;
    size_t n = 0;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct sh_field *f = &c->fields[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(w->body, f->name);
        if (f->kind != SH_FIELD_PASSWORD || !cJSON_IsString(v) || !v->valuestring[0])
            continue;
        if (!sh_field_password_ok(f, v->valuestring))
            continue;
        if (!*plain) {
            *plain = sh_calloc(c->nfields, sizeof(**plain));
            w->hashes = sh_calloc(c->nfields, sizeof(*w->hashes));
        }
        size_t len = strlen(v->valuestring);
        (*plain)[n] = sodium_malloc(len + 1);
        if (!(*plain)[n])
            sh_panic(__FILE__, __LINE__, "sodium_malloc failed");
        memcpy((*plain)[n], v->valuestring, len + 1);
        w->hashes[n].field = sh_strdup(f->name);
        w->nhashes = ++n;
    }
    return n;
}

static size_t collect_passwords(struct wjob *j)
{
    return sh__rec_collect_passwords(&j->w, &j->plain);
}

/* ---- the three handlers ---- */

static char *param_id(struct sh_req *r)
{
    const struct sh_str *p = sh_req_param(r, "id");
    char *id = sh_malloc(p->len + 1);
    memcpy(id, p->ptr, p->len);
    id[p->len] = 0;
    return id;
}

static int start(struct sh_req *r, void *ud, enum sh_rec_op op)
{
    struct sh_api_records *api = ud;
    struct sh__rec_req *q = sh__rec_begin_or_reply(r, ud);
    const struct sh_filter *rule; /* the one evaluation of the rule for this write */
    if (q && q->c->type == SH_COLLECTION_VIEW) {
        sh__api_error(r, 400, "View collections are read-only: records cannot be written.", NULL);
        return SH_HANDLED;
    }
    if (!q || sh__rec_rule_or_reply(r, q, rule_of[op], &rule) ||
        sh__rec_keep_views_or_reply(r, q)) /* the job uses q's views after this returns */
        return SH_HANDLED;
    if (op == SH_REC_CREATE && q->c->type == SH_COLLECTION_AUTH && api->auth &&
        sh__rl_auth_or_reply(r, api->auth))
        return SH_HANDLED; /* sign-ups cost a hash: the auth routes' limit */
    cJSON *body = NULL;
    if (op != SH_REC_DELETE &&
        !(body = r->is_form ? sh__api_form_files_body_or_reply(r) : sh__rec_body_or_reply(r)))
        return SH_HANDLED;
    struct sh__rec_files *files = NULL;
    if (op != SH_REC_DELETE) {
        const struct sh_str *pid = op == SH_REC_UPDATE ? sh_req_param(r, "id") : NULL;
        char *uid = pid ? sh_arena_alloc(r->arena, pid->len + 1) : NULL;
        if (uid) {
            memcpy(uid, pid->ptr, pid->len);
            uid[pid->len] = 0;
        }
        if ((pid && !uid) || sh__rec_files_collect_or_reply(r, api, q->c, op, uid, body, &files)) {
            if (pid && !uid)
                sh__api_fail(r, -ENOMEM);
            cJSON_Delete(body);
            return SH_HANDLED;
        }
    }
    /* verified, tokenKey and email are guarded in the writer, against the
     * record's final values (db/records_protect.c), not here. */

    struct wjob *j = sh_calloc(1, sizeof(*j));
    j->api = api;
    j->q = q;
    sh__rec_write_init(&j->w, api, q, op, body, op == SH_REC_CREATE ? NULL : param_id(r));
    j->files = files;
    sh__rec_files_names(files, &j->w);
    /* From here every exit goes through the job (api/job.c). */
    sh__api_job_start(&j->job, r, &wjob_ops, api->db, api->catalog, q->snap);
    const char *expand = sh_req_query(r, "expand"), *fields = sh_req_query(r, "fields");
    if (op != SH_REC_DELETE && (!expand || !*expand) && (!fields || !*fields)) {
        /* No tree needed on the loop: the job writes the answer's JSON. */
        const char *own = sh__rec_own_id(r, q);
        j->w.record_json = true;
        j->w.own_id = own ? sh_strdup(own) : NULL;
    }
    if (bind_snapshot_or_reply(r, j, q->snap, q->c, rule)) {
        sh__api_job_end(&j->job, 0);
        return SH_HANDLED;
    }
    if (op != SH_REC_DELETE && collect_passwords(j)) {
        if (!api->auth) {
            sh__api_job_end(&j->job, SH_EINTERNAL);
            return SH_HANDLED;
        }
        if (op == SH_REC_UPDATE && authorize_or_reply(r, j, rule)) {
            sh__api_job_end(&j->job, 0);
            return SH_HANDLED;
        }
        /* Pool callbacks always come later, from the loop. */
        int rc = check_old_password(r, j);
        if (rc < 0)
            sh__api_job_end(&j->job, 0);
        else if (rc == 0)
            hash_next(j);
        return SH_HANDLED;
    }
    submit(j);
    return SH_HANDLED;
}

int sh_api_records_create(struct sh_req *r, void *ud)
{
    return start(r, ud, SH_REC_CREATE);
}

int sh_api_records_update(struct sh_req *r, void *ud)
{
    return start(r, ud, SH_REC_UPDATE);
}

int sh_api_records_delete(struct sh_req *r, void *ud)
{
    return start(r, ud, SH_REC_DELETE);
}
