/*
 * The logs API in PocketBase's shapes (apis/logs.go; the JS SDK's
 * LogService), superusers only:
 *   GET /api/logs          the list envelope of {id, created, data, message, level};
 *                          page, perPage (default 30, at most 1000), skipTotal,
 *                          filter and sort over id, created, level, message, data.*
 *   GET /api/logs/stats    [{total, date}] per hour, oldest first, with filter
 *   GET /api/logs/:id      one entry, 404 if there is none
 *   DELETE /api/logs       deletes every stored entry (by the log thread) → 204
 * Filters and sorts are compiled by src/filter against a schema describing
 * the _logs table (data is a JSON field, so `data.status >= 400` reads
 * json_extract), with bound parameters only. Reads run on the loop's
 * read-only connection to auxiliary.db under --query-budget: a query past
 * it is stopped and answered 400, as the records API does.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api_int.h"
#include "ops_int.h"
#include "stagehand/auth.h"
#include "stagehand/filter.h"

#define DEFAULT_PER_PAGE 30
#define MAX_PER_PAGE     1000

static const struct sh_filter_field log_fields[] = {
    {"id", SH_FIELD_TEXT, 0, NULL},      {"created", SH_FIELD_AUTODATE, 0, NULL},
    {"level", SH_FIELD_NUMBER, 0, NULL}, {"message", SH_FIELD_TEXT, 0, NULL},
    {"data", SH_FIELD_JSON, 0, NULL},
};
static const struct sh_filter_schema log_schema = {
    .table = "_logs",
    .fields = log_fields,
    .nfields = SH_ARRAY_LEN(log_fields),
};

struct budget {
    uint64_t deadline_ns;
    int hit;
};

static int on_progress(void *arg)
{
    struct budget *b = arg;
    if (uv_hrtime() > b->deadline_ns) {
        b->hit = 1;
        return 1;
    }
    return 0;
}

static void budget_start(sqlite3 *db, struct sh_logs *l, struct budget *b)
{
    b->deadline_ns = uv_hrtime() + (uint64_t)sh__logs_budget_ms(l) * 1000000u;
    b->hit = 0;
    sqlite3_progress_handler(db, 1000, on_progress, b);
}

static void budget_end(sqlite3 *db)
{
    sqlite3_progress_handler(db, 0, NULL, NULL);
}

static void answer_sqlite(struct sh_req *r, const struct budget *b, sqlite3 *db)
{
    if (b->hit) {
        sh__api_fail(r, SH_EBUDGET);
        return;
    }
    sh_log_warn("logs", "reading auxiliary.db: %s", sqlite3_errmsg(db));
    sh__api_error(r, 400, "Something went wrong while processing your request.", NULL);
}

/* The filter parameter compiled against the logs schema into *w; -1 after
 * answering 400. */
static int filter_or_reply(struct sh_req *r, struct sh_filter_sql *w)
{
    memset(w, 0, sizeof(*w));
    const char *text = sh_req_query(r, "filter");
    struct sh_filter *f = NULL;
    struct sh_filter_error err;
    int rc = sh_filter_parse(text ? text : "", text ? strlen(text) : 0, &f, &err);
    if (rc == 0 && sh_filter_uses_request(f))
        rc = SH_EINVAL;
    if (rc == 0)
        rc = sh_filter_compile(f, &log_schema, NULL, w, &err);
    sh_filter_free(f);
    if (rc) {
        sh__api_error(r, 400, "Something went wrong while processing your request. Invalid filter.",
                      NULL);
        return -1;
    }
    return 0;
}

static cJSON *row_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", (const char *)sqlite3_column_text(st, 0));
    cJSON_AddStringToObject(o, "created", (const char *)sqlite3_column_text(st, 4));
    cJSON *data = cJSON_Parse((const char *)sqlite3_column_text(st, 3));
    cJSON_AddItemToObject(o, "data", data ? data : cJSON_CreateObject());
    cJSON_AddStringToObject(o, "message", (const char *)sqlite3_column_text(st, 2));
    cJSON_AddNumberToObject(o, "level", sqlite3_column_int(st, 1));
    return o;
}

static void send_json(struct sh_req *r, cJSON *body)
{
    char *json = cJSON_PrintUnformatted(body);
    sh_res_json(r, 200, json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(body);
}

int sh__logs_list(struct sh_req *r, void *ud)
{
    struct sh_logs *l = ud;
    if (sh__ops_superuser_or_reply(r))
        return SH_HANDLED;
    int64_t page, per;
    bool skip;
    if (sh_req_query_int(r, "page", 1, &page) ||
        sh_req_query_int(r, "perPage", DEFAULT_PER_PAGE, &per) ||
        sh_req_query_bool(r, "skipTotal", false, &skip)) {
        sh__api_error(r, 400, "Invalid page, perPage or skipTotal parameter.", NULL);
        return SH_HANDLED;
    }
    page = page < 1 ? 1 : page > INT64_MAX / MAX_PER_PAGE ? INT64_MAX / MAX_PER_PAGE : page;
    per = per < 1 ? DEFAULT_PER_PAGE : per > MAX_PER_PAGE ? MAX_PER_PAGE : per;
    struct sh_filter_sql w, s;
    if (filter_or_reply(r, &w))
        return SH_HANDLED;
    const char *sort = sh_req_query(r, "sort");
    struct sh_filter_error err;
    if (sh_sort_compile(sort ? sort : "", sort ? strlen(sort) : 0, &log_schema, &s, &err)) {
        sh_filter_sql_deinit(&w);
        sh__api_error(r, 400, "Something went wrong while processing your request. Invalid sort.",
                      NULL);
        return SH_HANDLED;
    }
    /* Entries of one millisecond tie on created: they follow the order they
     * were written in, in the direction of the first sort term (newest
     * first without a sort, as PocketBase's -rowid). */
    const char *first = sort ? sort + strspn(sort, " ") : "";
    const char *tie = !s.len || *first == '-' ? "DESC" : "ASC";
    struct sh_buf sql;
    sh_buf_init(&sql);
    sh_buf_appendf(&sql,
                   "SELECT id, level, message, data, created FROM _logs WHERE %s ORDER BY %s%s"
                   "rowid %s LIMIT ? OFFSET ?",
                   w.sql ? w.sql : "1", s.len ? s.sql : "", s.len ? ", " : "", tie);
    sqlite3 *db = sh__logs_reader(l);
    struct budget b;
    budget_start(db, l, &b);
    sqlite3_stmt *st = NULL;
    cJSON *items = cJSON_CreateArray();
    int64_t total = -1;
    int rc = sqlite3_prepare_v2(db, sql.data, (int)sql.len, &st, NULL);
    if (rc == SQLITE_OK) {
        sh_filter_sql_bind(&w, st, 1);
        sh_filter_sql_bind(&s, st, 1 + (int)w.nparams);
        int at = 1 + (int)w.nparams + (int)s.nparams;
        sqlite3_bind_int64(st, at, per);
        sqlite3_bind_int64(st, at + 1, (page - 1) * per);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            cJSON_AddItemToArray(items, row_json(st));
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == SQLITE_DONE && !skip) {
        sql.len = 0;
        sh_buf_appendf(&sql, "SELECT count(*) FROM _logs WHERE %s", w.sql ? w.sql : "1");
        rc = sqlite3_prepare_v2(db, sql.data, (int)sql.len, &st, NULL);
        if (rc == SQLITE_OK) {
            sh_filter_sql_bind(&w, st, 1);
            if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                total = sqlite3_column_int64(st, 0);
                rc = SQLITE_DONE;
            }
            sqlite3_finalize(st);
        }
    }
    budget_end(db);
    sh_buf_deinit(&sql);
    sh_filter_sql_deinit(&w);
    sh_filter_sql_deinit(&s);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(items);
        answer_sqlite(r, &b, db);
        return SH_HANDLED;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "page", (double)page);
    cJSON_AddNumberToObject(body, "perPage", (double)per);
    cJSON_AddNumberToObject(body, "totalItems", (double)total);
    cJSON_AddNumberToObject(body, "totalPages", total < 0 ? -1 : (double)((total + per - 1) / per));
    cJSON_AddItemToObject(body, "items", items);
    send_json(r, body);
    return SH_HANDLED;
}

int sh__logs_stats_route(struct sh_req *r, void *ud)
{
    struct sh_logs *l = ud;
    if (sh__ops_superuser_or_reply(r))
        return SH_HANDLED;
    struct sh_filter_sql w;
    if (filter_or_reply(r, &w))
        return SH_HANDLED;
    struct sh_buf sql;
    sh_buf_init(&sql);
    sh_buf_appendf(&sql,
                   "SELECT count(id), strftime('%%Y-%%m-%%d %%H:00:00', created) AS d FROM _logs"
                   " WHERE %s GROUP BY d ORDER BY d",
                   w.sql ? w.sql : "1");
    sqlite3 *db = sh__logs_reader(l);
    struct budget b;
    budget_start(db, l, &b);
    sqlite3_stmt *st = NULL;
    cJSON *out = cJSON_CreateArray();
    int rc = sqlite3_prepare_v2(db, sql.data, (int)sql.len, &st, NULL);
    if (rc == SQLITE_OK) {
        sh_filter_sql_bind(&w, st, 1);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            cJSON *o = cJSON_CreateObject();
            char date[40];
            const char *d = (const char *)sqlite3_column_text(st, 1);
            snprintf(date, sizeof(date), "%s.000Z", d ? d : "");
            cJSON_AddNumberToObject(o, "total", (double)sqlite3_column_int64(st, 0));
            cJSON_AddStringToObject(o, "date", date);
            cJSON_AddItemToArray(out, o);
        }
        sqlite3_finalize(st);
    }
    budget_end(db);
    sh_buf_deinit(&sql);
    sh_filter_sql_deinit(&w);
    if (rc != SQLITE_DONE) {
        cJSON_Delete(out);
        answer_sqlite(r, &b, db);
        return SH_HANDLED;
    }
    send_json(r, out);
    return SH_HANDLED;
}

int sh__logs_view(struct sh_req *r, void *ud)
{
    struct sh_logs *l = ud;
    if (sh__ops_superuser_or_reply(r))
        return SH_HANDLED;
    const struct sh_str *id = sh_req_param(r, "id");
    sqlite3 *db = sh__logs_reader(l);
    sqlite3_stmt *st = NULL;
    struct budget b;
    budget_start(db, l, &b);
    int rc = sqlite3_prepare_v2(
        db, "SELECT id, level, message, data, created FROM _logs WHERE id = ?", -1, &st, NULL);
    cJSON *row = NULL;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id->ptr, (int)id->len, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            row = row_json(st);
            rc = SQLITE_DONE;
        }
        sqlite3_finalize(st);
    }
    budget_end(db);
    if (rc != SQLITE_DONE) {
        answer_sqlite(r, &b, db);
        return SH_HANDLED;
    }
    if (!row) {
        sh__api_fail(r, SH_ENOTFOUND);
        return SH_HANDLED;
    }
    send_json(r, row);
    return SH_HANDLED;
}

struct clear_wait {
    struct sh_req_watch watch;
};

static void on_cleared(void *arg)
{
    struct clear_wait *c = arg;
    if (c->watch.req) {
        struct sh_req *r = c->watch.req;
        sh_req_unwatch(&c->watch);
        sh_res_send(r, 204, NULL, NULL, 0);
    }
    free(c);
}

int sh__logs_delete(struct sh_req *r, void *ud)
{
    struct sh_logs *l = ud;
    if (sh__ops_superuser_or_reply(r))
        return SH_HANDLED;
    struct clear_wait *c = sh_calloc(1, sizeof(*c));
    sh_req_watch(r, &c->watch);
    if (sh__logs_clear(l, on_cleared, c)) {
        sh_req_unwatch(&c->watch);
        free(c);
        sh__api_fail(r, SH_EBUSY);
    }
    return SH_HANDLED;
}

int sh_logs_register(struct sh_router *rt, struct sh_logs *l)
{
    int rc = 0;
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/logs", sh__logs_list, l);
    rc |= sh_router_add(rt, SH_METHOD_DELETE, "/api/logs", sh__logs_delete, l);
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/logs/stats", sh__logs_stats_route, l);
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/logs/:id", sh__logs_view, l);
    return rc ? SH_EINVAL : 0;
}
