/*
 * POST /api/sql, the SQL console (PocketBase v0.39's shape): a superuser
 * sends {"query": "..."} and gets {"execTime": ms, "affectedRows": n,
 * "columns": [...], "rows": [[...], ...]} (plus "truncated": true when
 * --sql-max-rows cut the rows). One statement per request.
 *  - A statement SQLite calls read-only runs on the loop on a read-only
 *    connection of its own (not the records' one, so its statements and
 *    budget state are apart), under --query-budget like every read: past it
 *    the answer is 400 and the query is stopped.
 *  - Anything else is a job for the writer thread, inside its batch
 *    transaction under a savepoint of its own, stopped and rolled back past
 *    --sql-write-budget; an authorizer refuses, when the statement is
 *    compiled, writes to internal tables (names starting with "_" or
 *    "sqlite_"), schema changes (collections change through their API, which
 *    keeps the catalog in step), transaction control, ATTACH/DETACH and
 *    pragmas that write: 400, nothing done.
 * Every statement is logged (mod=sql) with the superuser's id before it runs.
 * Values: integers and reals as numbers, text as strings, NULL as null,
 * blobs as base64 strings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "api_int.h"
#include "auth_int.h"
#include "ops_int.h"
#include "stagehand/api.h"
#include "stagehand/config.h"

#define MAX_QUERY 65536

#define MAX_TABLES 16 /* tables one console write names; more: every count is dropped */

struct sh_api_sql {
    struct sh_db *db;
    struct sh_api_auth *auth; /* its count cache and token epoch see console writes */
    sqlite3 *ro;              /* our own read-only connection; NULL if it would not open */
    unsigned read_budget_ms, write_budget_ms, max_rows;
    int64_t deadline_ns; /* of the statement the read connection runs */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int budget_cb(void *arg)
{
    const int64_t *deadline = arg;
    return *deadline && now_ns() > *deadline;
}

/* ---- the authorizer of console writes ---- */

static int internal_name(const char *t)
{
    return t && (t[0] == '_' || strncmp(t, "sqlite_", 7) == 0);
}

/* The tables a write names (the authorizer's ud on the writer). */
struct written {
    char *names[MAX_TABLES];
    unsigned n;
    int overflow;
};

static void note_table(struct written *w, const char *t)
{
    if (!w || !t)
        return;
    for (unsigned i = 0; i < w->n; i++)
        if (strcmp(w->names[i], t) == 0)
            return;
    if (w->n == MAX_TABLES)
        w->overflow = 1;
    else
        w->names[w->n++] = sh_strdup(t);
}

static int authorize(void *ud, int action, const char *a1, const char *a2, const char *db,
                     const char *trigger)
{
    (void)a2;
    (void)db;
    if (trigger)
        return SQLITE_OK; /* the program of a trigger on a table already allowed */
    switch (action) {
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
        if (internal_name(a1))
            return SQLITE_DENY;
        note_table(ud, a1);
        return SQLITE_OK;
    case SQLITE_READ:
    case SQLITE_SELECT:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        return a2 ? SQLITE_DENY : SQLITE_OK; /* "PRAGMA x = v" writes */
    default: /* schema changes, transactions, savepoints, ATTACH, ANALYZE, ... */
        return SQLITE_DENY;
    }
}

/* ---- results ---- */

static cJSON *value_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return cJSON_CreateNumber((double)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return cJSON_CreateNumber(sqlite3_column_double(st, i));
    case SQLITE_TEXT:
        return cJSON_CreateString((const char *)sqlite3_column_text(st, i));
    case SQLITE_BLOB: {
        int n = sqlite3_column_bytes(st, i);
        size_t b64 = sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_ORIGINAL);
        char *out = sh_malloc(b64);
        sodium_bin2base64(out, b64, sqlite3_column_blob(st, i), (size_t)n,
                          sodium_base64_VARIANT_ORIGINAL);
        cJSON *v = cJSON_CreateString(out);
        free(out);
        return v;
    }
    default:
        return cJSON_CreateNull();
    }
}

/* Steps st to the end into a result object; the step's code (SQLITE_DONE
 * when it ran to the end). *res gets columns and rows. */
static int collect(sqlite3_stmt *st, unsigned max_rows, cJSON **res)
{
    cJSON *o = cJSON_CreateObject(), *cols = cJSON_CreateArray(), *rows = cJSON_CreateArray();
    int n = sqlite3_column_count(st), rc;
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(cols, cJSON_CreateString(sqlite3_column_name(st, i)));
    unsigned count = 0;
    int truncated = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count >= max_rows) {
            truncated = 1; /* keep stepping: a write's RETURNING must run to the end */
            continue;
        }
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(row, value_json(st, i));
        cJSON_AddItemToArray(rows, row);
        count++;
    }
    cJSON_AddItemToObject(o, "columns", cols);
    cJSON_AddItemToObject(o, "rows", rows);
    if (truncated)
        cJSON_AddTrueToObject(o, "truncated");
    *res = o;
    return rc;
}

static void send_result(struct sh_req *r, cJSON *res, int64_t t0, int64_t affected)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "execTime", (double)((now_ns() - t0) / 1000) / 1000.0);
    cJSON_AddNumberToObject(out, "affectedRows", (double)affected);
    cJSON *c;
    while ((c = res->child) != NULL)
        cJSON_AddItemToObject(out, c->string, cJSON_DetachItemViaPointer(res, c));
    cJSON_Delete(res);
    sh__api_send_json(r, 200, out);
}

static void sql_error(struct sh_req *r, const char *msg)
{
    sh__api_field_error(r, "Failed to execute the query.", "query", "validation_invalid_query",
                        msg);
}

/* ---- writes, on the writer thread ---- */

struct sql_write {
    struct sh__api_job j; /* first */
    struct sh_api_sql *s;
    char *query;
    int64_t t0, deadline_ns, affected;
    cJSON *res;
    int denied;
    char err[256];
    struct written tables;
};

static int write_run(sqlite3 *wdb, void *arg)
{
    struct sql_write *w = arg;
    sqlite3_stmt *st = NULL;
    sqlite3_set_authorizer(wdb, authorize, &w->tables);
    int rc = sqlite3_prepare_v2(wdb, w->query, -1, &st, NULL);
    sqlite3_set_authorizer(wdb, NULL, NULL);
    if (rc != SQLITE_OK) {
        w->denied = rc == SQLITE_AUTH;
        snprintf(w->err, sizeof(w->err), "%s", sqlite3_errmsg(wdb));
        sqlite3_finalize(st);
        return SH_EINVAL;
    }
    int64_t before = sqlite3_total_changes64(wdb);
    w->deadline_ns = now_ns() + (int64_t)w->s->write_budget_ms * 1000000;
    sqlite3_progress_handler(wdb, 1000, budget_cb, &w->deadline_ns);
    rc = collect(st, w->s->max_rows, &w->res);
    sqlite3_progress_handler(wdb, 0, NULL, NULL);
    if (rc != SQLITE_DONE) {
        snprintf(w->err, sizeof(w->err), "%s",
                 rc == SQLITE_INTERRUPT
                     ? "the write ran past --sql-write-budget and was rolled back"
                     : sqlite3_errmsg(wdb));
        sqlite3_finalize(st);
        return rc == SQLITE_INTERRUPT ? SH_EBUDGET : SH_EINVAL;
    }
    w->affected = sqlite3_total_changes64(wdb) - before;
    sqlite3_finalize(st);
    return 0;
}

/* Loop, after the commit: what the records API and the token cache keep
 * must not outlive a console write (list totals, verified tokens). */
static void write_committed(struct sh__api_job *j, int rc)
{
    struct sql_write *w = (struct sql_write *)j;
    if (rc || !w->affected)
        return;
    struct sh_rec_counts *cc = w->s->auth->counts;
    if (w->tables.overflow)
        sh_rec_counts_bump(cc, "");
    for (unsigned i = 0; i < w->tables.n; i++)
        sh_rec_counts_bump(cc, w->tables.names[i]);
    sh__auth_epoch_bump(w->s->auth);
}

static int write_answer(struct sh__api_job *j, struct sh_req *r, int rc)
{
    struct sql_write *w = (struct sql_write *)j;
    if (rc == SH_EINVAL || rc == SH_EBUDGET) {
        sql_error(r, w->denied ? "Internal tables, schema changes, transactions, ATTACH and "
                                 "pragma writes are not allowed in the console."
                               : w->err);
        return 0;
    }
    if (rc)
        return rc;
    send_result(r, w->res, w->t0, w->affected);
    w->res = NULL;
    return 0;
}

static void write_free(struct sh__api_job *j)
{
    struct sql_write *w = (struct sql_write *)j;
    cJSON_Delete(w->res);
    for (unsigned i = 0; i < w->tables.n; i++)
        free(w->tables.names[i]);
    free(w->query);
    free(w);
}

static const struct sh__api_job_ops write_ops = {
    .run = write_run,
    .committed = write_committed,
    .answer = write_answer,
    .free = write_free,
};

/* ---- the handler ---- */

static int only_space(const char *p)
{
    for (; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n' && *p != ';')
            return 0;
    return 1;
}

static int sql_handler(struct sh_req *r, void *ud)
{
    struct sh_api_sql *s = ud;
    if (!r->auth) {
        sh__api_error(r, 401, "The request requires superuser authorization token to be set.",
                      NULL);
        return SH_HANDLED;
    }
    if (!r->auth->superuser) {
        sh__api_error(r, 403, "The authorized record is not allowed to perform this action.", NULL);
        return SH_HANDLED;
    }
    cJSON *body = sh__api_body_or_reply(r);
    if (!body)
        return SH_HANDLED;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "query");
    if (!cJSON_IsString(q) || only_space(q->valuestring)) {
        sh__api_field_error(r, "An error occurred while validating the submitted data.", "query",
                            "validation_required", "Cannot be blank.");
        return SH_HANDLED;
    }
    if (strlen(q->valuestring) > MAX_QUERY) {
        sh__api_field_error(r, "An error occurred while validating the submitted data.", "query",
                            "validation_length_too_long", "The length must be no more than 65536.");
        return SH_HANDLED;
    }
    sh_log_info("sql", "superuser=%s query=%.900s", r->auth->record_id, q->valuestring);
    int64_t t0 = now_ns();
    if (!s->ro) {
        sh__api_fail(r, SH_EINTERNAL);
        return SH_HANDLED;
    }
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(s->ro, q->valuestring, -1, &st, &tail);
    if (rc == SQLITE_OK && st && tail && !only_space(tail)) {
        sqlite3_finalize(st);
        sql_error(r, "One statement at a time.");
        return SH_HANDLED;
    }
    if (rc == SQLITE_OK && !st) {
        sql_error(r, "The query holds no statement.");
        return SH_HANDLED;
    }
    if (rc == SQLITE_OK && sqlite3_stmt_readonly(st)) {
        s->deadline_ns = now_ns() + (int64_t)s->read_budget_ms * 1000000;
        cJSON *res = NULL;
        rc = collect(st, s->max_rows, &res);
        s->deadline_ns = 0;
        if (rc != SQLITE_DONE) {
            char msg[256];
            snprintf(msg, sizeof(msg), "%s",
                     rc == SQLITE_INTERRUPT ? "The query took too long and was stopped."
                                            : sqlite3_errmsg(s->ro));
            cJSON_Delete(res);
            sqlite3_finalize(st);
            sql_error(r, msg);
            return SH_HANDLED;
        }
        sqlite3_finalize(st);
        if (!sqlite3_get_autocommit(s->ro)) /* never: the authorizer refuses BEGIN */
            (void)sqlite3_exec(s->ro, "ROLLBACK", NULL, NULL, NULL);
        send_result(r, res, t0, 0);
        return SH_HANDLED;
    }
    /* A write (or a statement the read-only connection cannot compile,
     * which the writer compiles again and reports): the writer's job. */
    sqlite3_finalize(st);
    struct sql_write *w = sh_calloc(1, sizeof(*w));
    w->s = s;
    w->query = sh_strdup(q->valuestring);
    w->t0 = t0;
    sh__api_job_start(&w->j, r, &write_ops, s->db, NULL, NULL);
    sh__api_job_submit(&w->j);
    return SH_HANDLED;
}

/* ---- life ---- */

struct sh_api_sql *sh_api_sql_new(const struct sh_config *cfg, struct sh_db *db,
                                  struct sh_api_auth *auth)
{
    struct sh_api_sql *s = sh_calloc(1, sizeof(*s));
    s->db = db;
    s->auth = auth;
    s->read_budget_ms = cfg->query_budget_ms ? cfg->query_budget_ms : 200;
    s->write_budget_ms = cfg->sql_write_budget_ms;
    s->max_rows = cfg->sql_max_rows;
    char path[4096];
    snprintf(path, sizeof(path), "%s/data.db", cfg->dir);
    /* At start-up, before serving: the database exists (sh_db_open made it). */
    if (sqlite3_open_v2(path, &s->ro, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sh_log_error("sql", "cannot open a read connection for the SQL console: %s",
                     sqlite3_errmsg(s->ro));
        sqlite3_close(s->ro);
        s->ro = NULL;
    } else {
        sqlite3_busy_timeout(s->ro, 100);
        /* BEGIN is "read-only" to SQLite: left open it would pin an old
         * snapshot; refused here as in writes. */
        sqlite3_set_authorizer(s->ro, authorize, NULL);
        sqlite3_progress_handler(s->ro, 1000, budget_cb, &s->deadline_ns);
    }
    return s;
}

void sh_api_sql_stop(struct sh_api_sql *s)
{
    if (s && s->ro) {
        sqlite3_close(s->ro);
        s->ro = NULL;
    }
}

void sh_api_sql_free(struct sh_api_sql *s)
{
    if (!s)
        return;
    sqlite3_close(s->ro);
    free(s);
}

int sh_api_sql_register(struct sh_router *rt, struct sh_api_sql *s)
{
    return sh_router_add(rt, SH_METHOD_POST, "/api/sql", sql_handler, s) ? SH_EINVAL : 0;
}
