/*
 * POST /api/batch (API.md "Batch"): a list of records writes that commit
 * together or not at all. Each request is a create (POST .../records), an
 * update (PATCH .../records/{id}), a delete (DELETE .../records/{id}) or an
 * upsert (PUT .../records: an update when body.id names a stored record,
 * else a create), and each becomes the same records write a single request
 * would be (api/records/write.c: the same rule selection and compile, the
 * same writer work with validation, rules and protected fields checked
 * inside the transaction, the same answer and the same completion).
 *
 * On the loop, every request is prepared as if sent alone by the caller:
 * its collection, its rule (a null rule is 403 for anyone but a
 * superuser), its rule context (the batch's own auth — the caller's
 * Authorization, as PocketBase keeps the batch's auth for every request —
 * @request.method of the request, @request.query of its url,
 * @request.headers of the batch with the request's own headers over them,
 * @request.body of its body, @request.context "batch"). Then one writer job
 * runs them in order under one savepoint: a later request sees what an
 * earlier one wrote (its rule, its validation and its relations are
 * checked against the state inside the batch), and the first failure rolls
 * back everything. A request that could not be prepared on the loop fails
 * the batch at its index after the requests before it ran (so the index
 * named is the one PocketBase would name). Past --batch-timeout the job
 * stops between requests and rolls back: the writer is held for at most
 * the timeout plus one request.
 *
 * After the COMMIT, on the loop, each write passes through
 * sh_api_records_committed in order, then the answer is [{"status","body"},
 * ...] in request order. A failure is 400 "Batch transaction failed." with
 * data {"requests":{"<i>":{"code":"batch_request_failed","message":"Batch
 * request failed.","response":<the error that request alone would get>}}},
 * as PocketBase's apis/batch.go answers.
 *
 * Passwords a request sets are hashed on the hashing pool before the job,
 * one at a time, as for a single write (a sign-up counts against the auth
 * routes' per-address limit); changing the password of a stored record
 * needs its old password checked first, which only a single update does:
 * in a batch it is refused unless a superuser asks. A batch the writer
 * finds on an older schema (a CLI import a moment ago) is answered 503, to
 * be sent again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "auth_int.h"
#include "batch_int.h"
#include "stagehand/config.h"

enum kind { K_CREATE, K_UPDATE, K_DELETE, K_UPSERT };

struct item {
    enum kind kind;
    struct sh__rec_req q; /* the request's context; q.acc.ctx points at q.ctx */
    struct sh_rec_write w;
    /* upsert: the update rule (w holds the create one), and which of the
     * two rules is null for this caller */
    struct sh_filter_sql upd_rule;
    bool upd_has_rule, upd_denied, create_denied;
    bool denied; /* out: the upsert took the path of a null rule (403) */
    char *expand, *fields;
    cJSON *query, *headers;      /* @request.query and @request.headers */
    char **plain;                /* passwords to hash (sh__rec_collect_passwords) */
    struct sh__rec_files *files; /* its uploads (records/files.c); NULL = none */
    /* a request that could not be prepared (or whose files were refused
     * before the job): its error */
    int fail_status;
    const char *fail_message;
    char *fail_owned; /* fail_message when it is not static */
    cJSON *fail_data; /* NULL: {} */
};

struct bjob {
    struct sh__api_job job; /* first: the request-bound job (api/job.c) */
    struct sh_api_records *api;
    struct item *items;
    size_t n;       /* requests in the batch */
    size_t ready;   /* prepared: items[0..ready); items[ready] failed when < n */
    size_t failed;  /* out: the request whose write failed; n when none */
    bool timed_out; /* out */
    bool ok;        /* the job committed */
    uint64_t timeout_ms;
    size_t hash_item, hash_k; /* the next password to hash: items[hash_item].plain[hash_k] */
    size_t move_item;         /* the next item whose uploads go to their folder */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void job_free(struct sh__api_job *job)
{
    struct bjob *j = (struct bjob *)job;
    for (size_t i = 0; i < j->n; i++) {
        struct item *it = &j->items[i];
        /* uploads of a batch that did not commit go; after a commit, the
         * files its updates dropped and the folders of what it deleted */
        sh__rec_files_after(j->api, it->files, &it->w, j->ok);
        sh__rec_files_free(it->files);
        cJSON_Delete(it->fail_data);
        sh__rec_passwords_free(&it->w, it->plain);
        sh_rec_write_deinit(&it->w);
        sh_filter_sql_deinit(&it->upd_rule);
        free(it->expand);
        free(it->fields);
        free(it->fail_owned);
        cJSON_Delete(it->query);
        cJSON_Delete(it->headers);
    }
    free(j->items);
    free(j);
}

/* ---- the writer ---- */

/* Upsert: an update when body.id names a stored record of the collection,
 * else a create; then the rule of that path. 0, or SH_EFORBIDDEN with
 * it->denied for a null rule. */
static int upsert_choose(sqlite3 *wdb, struct item *it)
{
    struct sh_rec_write *w = &it->w;
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(w->body, "id");
    bool exists = false;
    if (cJSON_IsString(idv) && idv->valuestring[0]) {
        struct sh_buf b;
        sh_buf_init(&b);
        sh_buf_appends(&b, "SELECT 1 FROM \"");
        sh_buf_appends(&b, w->c->name); /* a validated identifier */
        sh_buf_appends(&b, "\" WHERE \"id\" = ?");
        sh_buf_append(&b, "", 1);
        sqlite3_stmt *st;
        int rc = sh_db_writer_prepare(wdb, b.data, &st);
        sh_buf_deinit(&b);
        if (rc)
            return rc;
        sqlite3_bind_text(st, 1, idv->valuestring, -1, SQLITE_TRANSIENT);
        int src = sqlite3_step(st);
        exists = src == SQLITE_ROW;
        sh_db_writer_release(wdb, st);
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            return sh_db_errcode(src);
    }
    if (!exists) {
        it->denied = it->create_denied;
        return it->denied ? SH_EFORBIDDEN : 0;
    }
    if (it->upd_denied) {
        it->denied = true;
        return SH_EFORBIDDEN;
    }
    w->op = SH_REC_UPDATE;
    w->id = sh_strdup(idv->valuestring);
    struct sh_filter_sql t = w->rule;
    w->rule = it->upd_rule;
    it->upd_rule = t;
    w->has_rule = it->upd_has_rule;
    return 0;
}

/* WRITER thread: the requests in order, under the job's one savepoint. */
static int bjob_run(sqlite3 *wdb, void *arg)
{
    struct bjob *j = arg;
    uint64_t deadline = mono_ms() + j->timeout_ms;
    for (size_t i = 0; i < j->ready; i++) {
        struct item *it = &j->items[i];
        int rc = it->kind == K_UPSERT ? upsert_choose(wdb, it) : 0;
        if (rc == 0)
            rc = sh__rec_write_item_run(wdb, &it->w);
        if (rc) {
            j->failed = i;
            return rc;
        }
        if (mono_ms() > deadline) {
            j->timed_out = true;
            return SH_EINVAL;
        }
    }
    if (j->ready < j->n) {
        j->failed = j->ready; /* could not be prepared: the batch fails there */
        return SH_EINVAL;
    }
    return 0;
}

/* ---- the answer ---- */

/* Appends the error shape {"status","message","data"} to arr. */
static void add_response(cJSON *o, int status, const char *message, const cJSON *data)
{
    cJSON *resp = cJSON_AddObjectToObject(o, "response");
    cJSON_AddNumberToObject(resp, "status", status);
    cJSON_AddStringToObject(resp, "message", message);
    if (data)
        cJSON_AddItemToObject(resp, "data", cJSON_Duplicate(data, true));
    else
        cJSON_AddObjectToObject(resp, "data");
}

/* 400 "Batch transaction failed." naming request i and its error. */
static void answer_failed(struct sh_req *r, struct bjob *j, size_t i, int rc)
{
    struct item *it = &j->items[i];
    cJSON *data = cJSON_CreateObject(), *reqs = cJSON_AddObjectToObject(data, "requests");
    char key[24];
    snprintf(key, sizeof(key), "%zu", i);
    cJSON *e = cJSON_AddObjectToObject(reqs, key);
    cJSON_AddStringToObject(e, "code", "batch_request_failed");
    cJSON_AddStringToObject(e, "message", "Batch request failed.");
    if (i >= j->ready || it->fail_status) {
        add_response(e, it->fail_status, it->fail_message, it->fail_data);
    } else if (it->denied) {
        add_response(e, 403, "Only superusers can perform this action.", NULL);
    } else {
        struct sh__rec_answer a;
        sh__rec_write_answer(j->api, r, &it->q.acc, &it->w, rc, NULL, NULL, &a);
        add_response(e, a.status, a.message, a.data);
        cJSON_free(a.owned);
    }
    sh__api_error(r, 400, "Batch transaction failed.", data);
    cJSON_Delete(data);
}

static void answer_timeout(struct sh_req *r, struct bjob *j)
{
    cJSON *data = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(data, "batch");
    char msg[120];
    snprintf(msg, sizeof(msg), "The batch ran longer than the batch timeout (%llu ms).",
             (unsigned long long)j->timeout_ms);
    cJSON_AddStringToObject(e, "code", "batch_timeout");
    cJSON_AddStringToObject(e, "message", msg);
    sh__api_error(r, 400, "Batch transaction failed.", data);
    cJSON_Delete(data);
}

/* [{"status":..,"body":..}, ...] in request order. */
static void answer_ok(struct sh_req *r, struct bjob *j)
{
    struct sh_buf out;
    sh_buf_init(&out);
    sh_buf_appends(&out, "[");
    for (size_t i = 0; i < j->n; i++) {
        struct item *it = &j->items[i];
        struct sh__rec_answer a;
        sh__rec_write_answer(j->api, r, &it->q.acc, &it->w, 0, it->expand, it->fields, &a);
        char head[48];
        snprintf(head, sizeof(head), "%s{\"status\":%d,\"body\":", i ? "," : "", a.status);
        sh_buf_appends(&out, head);
        if (a.status == 204) {
            sh_buf_appends(&out, "null");
        } else if (a.status >= 400) { /* after the commit: an expand that failed */
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "status", a.status);
            cJSON_AddStringToObject(o, "message", a.message);
            cJSON_AddItemToObject(o, "data",
                                  a.data ? cJSON_Duplicate(a.data, true) : cJSON_CreateObject());
            char *t = cJSON_PrintUnformatted(o);
            SH_ASSERT(t);
            sh_buf_appends(&out, t);
            cJSON_free(t);
            cJSON_Delete(o);
        } else {
            sh_buf_append(&out, a.json, a.len);
        }
        sh_buf_appends(&out, "}");
        cJSON_free(a.owned);
    }
    sh_buf_appends(&out, "]");
    sh_res_json(r, 200, out.data, out.len);
    sh_buf_deinit(&out);
}

/* Loop, before any answer: every write of a committed batch, in order. */
static void committed(struct sh__api_job *job, int rc)
{
    struct bjob *j = (struct bjob *)job;
    j->ok = rc == 0;
    for (size_t i = 0; i < j->ready; i++)
        sh__rec_write_done(j->api, &j->items[i].w, rc);
}

static int respond(struct sh__api_job *job, struct sh_req *r, int rc)
{
    struct bjob *j = (struct bjob *)job;
    if (rc == 0)
        answer_ok(r, j);
    else if (j->timed_out)
        answer_timeout(r, j);
    else if (j->failed < j->n)
        answer_failed(r, j, j->failed, rc);
    else
        return rc; /* the commit, the queue, the schema: errors.c's table */
    return 0;
}

static const struct sh__api_job_ops bjob_ops = {
    .run = bjob_run, .committed = committed, .answer = respond, .free = job_free};

/* ---- preparing the requests on the loop ---- */

static void fail_item(struct item *it, int status, const char *message)
{
    it->fail_status = status;
    it->fail_message = message;
}

/* Percent-decodes s[0..n) as a path segment into a new string; NULL when
 * malformed or empty. */
static char *segment(const char *s, size_t n)
{
    if (n == 0)
        return NULL;
    char *d = sh_malloc(n + 1);
    long len = sh_http_percent_decode(d, s, n, SH_PCT_PATH);
    if (len <= 0 || memchr(d, '/', (size_t)len)) {
        free(d);
        return NULL;
    }
    return d;
}

/* The query of a url as {name: value} (the first of repeated names). */
static cJSON *query_of(const char *q)
{
    cJSON *o = cJSON_CreateObject();
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        size_t kn = eq ? (size_t)(eq - q) : n;
        char *k = sh_malloc(kn + 1), *v = sh_malloc(n - kn + 1);
        sh_http_percent_decode(k, q, kn, SH_PCT_FORM);
        if (eq)
            sh_http_percent_decode(v, eq + 1, n - kn - 1, SH_PCT_FORM);
        else
            v[0] = 0;
        if (k[0] && !cJSON_GetObjectItemCaseSensitive(o, k))
            cJSON_AddStringToObject(o, k, v);
        free(k);
        free(v);
        q = amp ? amp + 1 : NULL;
    }
    return o;
}

/* The batch's headers with the request's own over them, as rules see them. */
static cJSON *headers_of(const cJSON *base, const cJSON *own)
{
    cJSON *o = base ? cJSON_Duplicate(base, true) : cJSON_CreateObject();
    const cJSON *h;
    cJSON_ArrayForEach(h, own) {
        char name[128];
        if (!cJSON_IsString(h) ||
            !sh__rec_header_name(name, sizeof(name), h->string, strlen(h->string)))
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(o, name);
        cJSON_AddStringToObject(o, name, h->valuestring);
    }
    return o;
}

/* Which action method and url name (PocketBase's ValidBatchActions), with
 * the collection and id (new strings) and the query (into url). -1 when
 * none does. */
static int action_of(const char *method, const char *url, char **cname, char **id,
                     const char **query, enum kind *kind)
{
    static const char prefix[] = "/api/collections/";
    *cname = *id = NULL;
    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    const char *p = url + sizeof(prefix) - 1;
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    *query = q ? q + 1 : NULL;
    const char *slash = memchr(p, '/', plen);
    if (!slash)
        return -1;
    const char *rest = slash, *end = p + plen;
    static const char records[] = "/records";
    size_t rl = sizeof(records) - 1;
    if ((size_t)(end - rest) < rl || strncmp(rest, records, rl) != 0)
        return -1;
    rest += rl;
    bool one = rest < end;
    if (one && (*rest != '/' || rest + 1 == end || memchr(rest + 1, '/', (size_t)(end - rest - 1))))
        return -1;
    if (!one && strcmp(method, "POST") == 0)
        *kind = K_CREATE;
    else if (!one && strcmp(method, "PUT") == 0)
        *kind = K_UPSERT;
    else if (one && strcmp(method, "PATCH") == 0)
        *kind = K_UPDATE;
    else if (one && strcmp(method, "DELETE") == 0)
        *kind = K_DELETE;
    else
        return -1;
    *cname = segment(p, (size_t)(slash - p));
    if (one)
        *id = segment(rest + 1, (size_t)(end - rest - 1));
    if (!*cname || (one && !*id)) {
        free(*cname);
        free(*id);
        *cname = *id = NULL;
        return -1;
    }
    return 0;
}

static const enum sh_rule_kind rule_of[] = {
    [K_CREATE] = SH_RULE_CREATE, [K_UPDATE] = SH_RULE_UPDATE, [K_DELETE] = SH_RULE_DELETE};
static const enum sh_rec_op op_of[] = {[K_CREATE] = SH_REC_CREATE,
                                       [K_UPDATE] = SH_REC_UPDATE,
                                       [K_DELETE] = SH_REC_DELETE,
                                       [K_UPSERT] = SH_REC_CREATE};

/* Compiles the rule of kind k for it into it->w (method as @request.method).
 * 0; 1 when the rule is null for this caller; -1 with the item failed. */
static int bind_rule(struct item *it, enum sh_rule_kind k, const char *method)
{
    const struct sh_filter *rule;
    if (sh__rec_rule(&it->q, k, &rule))
        return 1;
    it->q.ctx.method = method;
    struct sh_filter_error err;
    if (sh__rec_write_bind(&it->q, &it->w, rule, &err)) {
        it->fail_owned = sh_strdup(err.message);
        fail_item(it, 400, it->fail_owned);
        return -1;
    }
    return 0;
}

/* Passwords the request sets are hashed before the job, as for a single
 * write: a sign-up counts against the per-address limit of the auth routes;
 * a password change needs the old password checked first (write.c), which
 * a batch does not do yet: refused, unless by a superuser. 0; -1 with the
 * item failed; -2 after answering r (429). */
static int passwords(struct sh_req *r, struct bjob *j, struct item *it)
{
    if (it->kind == K_DELETE || it->w.c->type != SH_COLLECTION_AUTH ||
        !sh__rec_collect_passwords(&it->w, &it->plain))
        return 0;
    if (!j->api->auth) {
        fail_item(it, 500, "Something went wrong while processing your request.");
        return -1;
    }
    if (it->q.superuser)
        return 0;
    if (it->kind != K_CREATE) {
        fail_item(it, 400, "Password changes are not supported in batch requests yet.");
        return -1;
    }
    return sh__rl_auth_or_reply(r, j->api->auth) ? -2 : 0;
}

static void hash_next(struct bjob *j);
static void move_next(struct bjob *j);

static void moved(void *ud, int rc)
{
    struct bjob *j = ud;
    struct sh_req *r = sh__api_job_resume(&j->job);
    if (!r)
        return; /* freed: job_free removed the files */
    size_t i = j->move_item++;
    struct item *it = &j->items[i];
    if (rc == SH_EINVAL) { /* a content type the field refuses: the batch fails there */
        struct sh__rec_files_fail e;
        sh__rec_files_refused(it->files, it->w.op, &e);
        it->fail_status = e.status;
        it->fail_message = e.message;
        it->fail_data = sh__rec_files_fail_data(&e);
        answer_failed(r, j, i, SH_EINVAL);
        sh__api_job_end(&j->job, 0);
    } else if (rc) {
        sh__api_job_end(&j->job, rc);
    } else {
        move_next(j);
    }
}

/* Moves the uploads of each request into its record's folder (fsynced,
 * on the threadpool), one request after the other, then submits the job. */
static void move_next(struct bjob *j)
{
    for (; j->move_item < j->ready; j->move_item++) {
        struct item *it = &j->items[j->move_item];
        if (!it->files)
            continue;
        int rc = sh__rec_files_move(j->api, it->files, moved, j);
        if (rc)
            sh__api_job_end(&j->job, rc);
        return; /* threadpool callbacks always come later, from the loop */
    }
    sh__api_job_submit(&j->job);
}

static void hashed(void *arg, int rc, const char *hash)
{
    struct bjob *j = arg;
    struct item *it = &j->items[j->hash_item];
    size_t k = j->hash_k++;
    sodium_free(it->plain[k]);
    it->plain[k] = NULL;
    if (!sh__api_job_resume(&j->job))
        return;
    if (rc) { /* a full pool queue (-ENOMEM from the pool) is busy */
        sh__api_job_end(&j->job, rc == -ENOMEM ? SH_EBUSY : rc);
        return;
    }
    it->w.hashes[k].hash = sh_strdup(hash);
    hash_next(j);
}

/* Hashes the next password of the batch, one at a time, or submits the
 * job when all are done. */
static void hash_next(struct bjob *j)
{
    for (; j->hash_item < j->ready; j->hash_item++, j->hash_k = 0) {
        struct item *it = &j->items[j->hash_item];
        if (j->hash_k < it->w.nhashes) {
            const char *p = it->plain[j->hash_k];
            int rc = sh__auth_hash(j->api->auth, p, strlen(p), hashed, j);
            if (rc)
                sh__api_job_end(&j->job, rc == -ENOMEM ? SH_EBUSY : rc);
            return; /* pool callbacks always come later, from the loop */
        }
    }
    move_next(j);
}

/* The uploads of request index(it) (parts requests.<index>.<key>), named
 * in its body as a single write's are. 0; -1 with the item failed. */
static int files_of(struct sh_req *r, struct bjob *j, struct item *it)
{
    if (!r->is_form)
        return 0;
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "requests.%zu.", (size_t)(it - j->items));
    struct sh__rec_files_fail e;
    int rc;
    if (it->kind == K_DELETE) { /* a delete takes no files */
        size_t pl = strlen(prefix);
        for (unsigned i = 0; i < r->nform; i++)
            if (r->form[i].is_file && r->form[i].name.len > pl &&
                memcmp(r->form[i].name.ptr, prefix, pl) == 0) {
                fail_item(it, 400, "A delete request takes no files.");
                return -1;
            }
        return 0;
    }
    /* an upsert's files go under body.id when it has one (the record it
     * updates or creates), else under the id its create will get */
    rc =
        sh__rec_files_collect(j->api, it->w.c, it->kind == K_UPDATE ? SH_REC_UPDATE : SH_REC_CREATE,
                              it->w.id, it->w.body, r->form, r->nform, prefix, &it->files, &e);
    if (rc) {
        fail_item(it, e.status, e.message);
        it->fail_data = sh__rec_files_fail_data(&e);
        return -1;
    }
    sh__rec_files_names(it->files, &it->w);
    return 0;
}

/* Prepares request src of the batch as item it, from base (the batch's own
 * context). 0; -1 with the item failed; -2 after answering r. */
static int prepare(struct sh_req *r, struct bjob *j, const struct sh__rec_req *base,
                   const cJSON *src, struct item *it)
{
    const char *method = cJSON_GetObjectItemCaseSensitive(src, "method")->valuestring;
    const char *url = cJSON_GetObjectItemCaseSensitive(src, "url")->valuestring;
    const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(src, "headers");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(src, "body");
    char *cname, *id;
    const char *query;
    if (action_of(method, url, &cname, &id, &query, &it->kind)) {
        fail_item(it, 400, "Unknown batch request action.");
        return -1;
    }
    const struct sh_collection *c = sh_catalog_snap_find(base->snap, cname);
    free(cname);
    if (!c) {
        free(id);
        fail_item(it, 404, "Missing collection context.");
        return -1;
    }
    it->query = query_of(query);
    it->headers = headers_of(base->ctx.headers, cJSON_IsObject(hdrs) ? hdrs : NULL);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(it->query, "expand");
    const cJSON *fi = cJSON_GetObjectItemCaseSensitive(it->query, "fields");
    if (cJSON_IsString(ex) && ex->valuestring[0])
        it->expand = sh_strdup(ex->valuestring);
    if (cJSON_IsString(fi) && fi->valuestring[0])
        it->fields = sh_strdup(fi->valuestring);

    it->q = *base;
    it->q.c = c;
    it->q.ctx.query = it->query;
    it->q.ctx.headers = it->headers;
    it->q.ctx.context = "batch";
    it->q.acc.ctx = &it->q.ctx;
    cJSON *b = NULL;
    if (it->kind != K_DELETE)
        b = cJSON_IsObject(body) ? cJSON_Duplicate(body, true) : cJSON_CreateObject();
    sh__rec_write_init(&it->w, j->api, &it->q, op_of[it->kind], b, id);
    it->w.snap = sh_catalog_snap_ref(base->snap);
    if (files_of(r, j, it) != 0)
        return -1;
    if (it->kind != K_DELETE && !it->expand && !it->fields) {
        const char *own = sh__rec_own_id(r, &it->q);
        it->w.record_json = true; /* the job writes the answer's JSON */
        it->w.own_id = own ? sh_strdup(own) : NULL;
    }
    int rc;
    if (it->kind != K_UPSERT) {
        rc = bind_rule(it, rule_of[it->kind], method);
        if (rc == 1)
            fail_item(it, 403, "Only superusers can perform this action.");
        return rc ? -1 : passwords(r, j, it);
    }
    /* Upsert: the writer picks the path, so both rules are made ready,
     * each with the method PocketBase gives that path. */
    rc = bind_rule(it, SH_RULE_UPDATE, "PATCH");
    if (rc < 0)
        return -1;
    it->upd_denied = rc == 1;
    it->upd_rule = it->w.rule;
    it->upd_has_rule = it->w.has_rule;
    memset(&it->w.rule, 0, sizeof(it->w.rule));
    it->w.has_rule = false;
    rc = bind_rule(it, SH_RULE_CREATE, "POST");
    if (rc < 0)
        return -1;
    it->create_denied = rc == 1;
    return passwords(r, j, it);
}

int sh_api_batch(struct sh_req *r, void *ud)
{
    struct sh_api_records *api = ud;
    const struct sh__batch_limits *lim = &api->batch; /* the flags, or the settings' batch */
    const cJSON *list;
    if (lim->max_requests == 0) { /* as PocketBase with batches disabled */
        sh__api_error(r, 403, "Batch requests are not allowed.", NULL);
        return SH_HANDLED;
    }
    cJSON *root = sh__batch_body_or_reply(r, lim->max_body, lim->max_requests, &list);
    if (!root)
        return SH_HANDLED;
    struct sh__rec_req *base = sh__rec_begin_any_or_reply(r, api);
    if (!base || sh__rec_request_json_or_reply(r, base) || sh__rec_keep_views_or_reply(r, base)) {
        cJSON_Delete(root);
        return SH_HANDLED;
    }
    struct bjob *j = sh_calloc(1, sizeof(*j));
    j->api = api;
    j->n = (size_t)cJSON_GetArraySize(list);
    j->items = sh_calloc(j->n, sizeof(*j->items));
    j->failed = j->n;
    j->timeout_ms = lim->timeout_ms;
    /* From here every exit goes through the job (api/job.c). */
    sh__api_job_start(&j->job, r, &bjob_ops, api->db, NULL, base->snap);
    const cJSON *src;
    int rc = 0;
    cJSON_ArrayForEach(src, list) {
        if ((rc = prepare(r, j, base, src, &j->items[j->ready])) != 0)
            break;
        j->ready++;
    }
    cJSON_Delete(root);
    if (rc == -2) { /* answered */
        sh__api_job_end(&j->job, 0);
        return SH_HANDLED;
    }
    if (j->ready == 0) { /* nothing runs before the failure */
        answer_failed(r, j, 0, SH_EINVAL);
        sh__api_job_end(&j->job, 0);
        return SH_HANDLED;
    }
    if (j->ready < j->n) /* it cannot succeed: no password is hashed for it */
        sh__api_job_submit(&j->job);
    else
        hash_next(j);
    return SH_HANDLED;
}
