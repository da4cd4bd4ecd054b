/*
 * GET /api/collections/{c}/records and GET .../records/{id}. Reads run
 * inline on the loop's read connection, in one read transaction per request
 * (the page, its count and its expansions see one snapshot), each query
 * bounded by --query-budget: a query stopped by it answers 400 (errors.c says
 * why 400). The list follows PocketBase: page (default 1), perPage (default
 * 30, at most 1000, the value used is echoed so the SDK's getFullList stops
 * on a short page), skipTotal (then totalItems and totalPages are -1), sort,
 * filter ANDed with listRule, expand and fields. Only superusers may use
 * @request.* in filter or sort (403), and a null rule is superusers only
 * (403); the view rule hides a record as 404. A signed-in user sees their
 * own email wherever their record appears.
 *
 * A non-superuser's filter and sort are confined (db/records_read.c,
 * SH_SCHEMA_VIEW_CLIENT): hidden fields unusable, hidden emails read as
 * NULL and unsortable, no hop into a collection it may not list, other hops
 * restricted by their listRule, and at most --filter-max-multi-hops
 * multi-valued relations per path. An expand producing more than
 * --expand-max-records copies is a 400. Each list and view is charged to
 * the caller's read budget (query_budget.c): 429 once it is spent.
 *
 * Without expand and fields, rows go straight from SQLite to JSON text in
 * the loop's response buffer (no cJSON tree); totals come from the count
 * cache (db/records_count.c), current until the collection's next write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "auth_int.h"

#define DEFAULT_PER_PAGE 30
#define MAX_PER_PAGE     1000

/* A sort term naming @request.* (only superusers may). */
static bool sort_uses_request(const char *s)
{
    for (const char *p = s; p && *p;) {
        while (*p == ' ' || *p == ',' || *p == '-' || *p == '+')
            p++;
        if (strncmp(p, "@request.", 9) == 0 || strncmp(p, "@collection.", 12) == 0)
            return true;
        p = strchr(p, ',');
    }
    return false;
}

static void drop_filter(void *f)
{
    sh_filter_free(f);
}

/* The `filter` parameter, parsed (cached) and checked; *out NULL when absent.
 * A superuser's filter may read @request.query and headers: they are built
 * then. Returns 0, or -1 after answering 400/403/413. */
static int user_filter_or_reply(struct sh_req *r, struct sh__rec_req *q, struct sh_filter **out)
{
    *out = NULL;
    const char *text = sh_req_query(r, "filter");
    if (!text || !*text)
        return 0;
    struct sh_filter_error err;
    if (sh_filter_cache_parse(q->api->filters, q->c->id, text, strlen(text), out, &err)) {
        sh__api_error(r, 400, err.message, NULL);
        return -1;
    }
    if (sh_arena_defer(r->arena, drop_filter, *out) != 0) {
        sh_filter_free(*out);
        sh__api_fail(r, -ENOMEM);
        return -1;
    }
    if (!q->superuser && sh_filter_uses_request(*out)) {
        sh__api_error(r, 403, "Only superusers can filter by @request.", NULL);
        return -1;
    }
    if (!q->superuser && (sh_filter_uses(*out) & SH_FILTER_USES_COLLECTION)) {
        sh__api_error(r, 403, "Only superusers can filter by @collection.", NULL);
        return -1;
    }
    if ((sh_filter_uses(*out) & (SH_FILTER_USES_QUERY | SH_FILTER_USES_HEADERS)) &&
        sh__rec_request_json_or_reply(r, q))
        return -1;
    return 0;
}

/* Answers a failed read, or returns 1 when it should run again: a query
 * that fails in SQLite (not in the filter compiler, whose SH_EINVAL carries
 * a message) may have met a table another process migrated a moment ago
 * (api/retry.c decides). */
static int read_fail_or_retry(struct sh_req *r, struct sh__rec_req *q, int rc,
                              const struct sh_filter_error *err, unsigned *attempts)
{
    if (rc == SH_EINVAL && err->message[0]) {
        sh__api_error(r, 400, err->message, NULL);
        return 0;
    }
    if (rc == SH_EFORBIDDEN) { /* only the refusal of an unindexed back-relation expand */
        sh__api_error(r, 400,
                      "Invalid expand: a back-relation needs an index on a single relation "
                      "field (ask a superuser to add one).",
                      NULL);
        return 0;
    }
    if (rc == SH_ETOOBIG) { /* only the expand cap answers it here */
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "Invalid expand: it would produce more than %u records; expand less or ask "
                 "for fewer records per page.",
                 sh_rec_access_limits(&q->acc)->expand_max_records);
        sh__api_error(r, 400, msg, NULL);
        return 0;
    }
    if (rc != SH_ENOTFOUND && sh__api_retry_if_stale(q->api->catalog, q->snap, rc, attempts))
        return 1;
    sh__api_fail(r, rc);
    return 0;
}

static int list_read(struct sh_req *r, struct sh__rec_req *q, const struct sh_rec_list_query *lqp,
                     int64_t page, int64_t per, unsigned *attempts);

static int list_once(struct sh_req *r, void *ud, unsigned *attempts)
{
    struct sh__rec_req *q = sh__rec_begin_or_reply(r, ud);
    const struct sh_filter *rule;
    if (!q || sh__rec_rule_or_reply(r, q, SH_RULE_LIST, &rule))
        return SH_HANDLED;
    int64_t page, per;
    bool skip;
    if (sh_req_query_int(r, "page", 1, &page) ||
        sh_req_query_int(r, "perPage", DEFAULT_PER_PAGE, &per) ||
        sh_req_query_bool(r, "skipTotal", false, &skip)) {
        sh__api_error(r, 400, "Invalid page, perPage or skipTotal parameter.", NULL);
        return SH_HANDLED;
    }
    if (page < 1)
        page = 1;
    if (per < 1)
        per = DEFAULT_PER_PAGE;
    if (per > MAX_PER_PAGE)
        per = MAX_PER_PAGE;
    if (page > INT64_MAX / MAX_PER_PAGE)
        page = INT64_MAX / MAX_PER_PAGE;
    struct sh_filter *filter;
    if (user_filter_or_reply(r, q, &filter))
        return SH_HANDLED;
    const char *sort = sh_req_query(r, "sort");
    if (!q->superuser && sort_uses_request(sort)) {
        sh__api_error(r, 403, "Only superusers can filter by @request.", NULL);
        return SH_HANDLED;
    }
    struct sh_rec_list_query lq = {
        .c = q->c,
        .rule = rule,
        .filter = filter,
        .sort = sort,
        .limit = per,
        .offset = (page - 1) * per,
        .count = !skip,
        .counts = q->api->counts,
        .schema_version = q->snap->version,
    };
    struct sh__budget b;
    if (sh__budget_begin(r, q, &b))
        return SH_HANDLED;
    int rc = list_read(r, q, &lq, page, per, attempts);
    sh__budget_end(&b); /* r's arena may be reset: b holds what it needs */
    return rc;
}

/* The reads and the answer of a list (list_once's second half). */
static int list_read(struct sh_req *r, struct sh__rec_req *q, const struct sh_rec_list_query *lqp,
                     int64_t page, int64_t per, unsigned *attempts)
{
    const struct sh_rec_list_query lq = *lqp;
    struct sh_filter_error err = {0};
    struct sh_db *db = q->api->db;
    int rc = sh_db_read_begin(db);
    const char *expand = sh_req_query(r, "expand"), *fields = sh_req_query(r, "fields");
    if ((!expand || !*expand) && (!fields || !*fields)) {
        /* The common page: rows go straight from SQLite to JSON text. */
        struct sh_buf *out = sh__rec_out(q->api);
        if (rc == 0)
            rc = sh_rec_list_json(db, &q->acc, &lq, page, sh__rec_own_id(r, q), out, &err);
        if (rc)
            return read_fail_or_retry(r, q, rc, &err, attempts);
        sh__rec_send_out(r, q->api);
        return SH_HANDLED;
    }
    cJSON *items = NULL;
    int64_t total = -1;
    if (rc == 0)
        rc = sh_rec_list(db, &q->acc, &lq, &items, &total, &err);
    if (rc == 0)
        rc = sh_rec_expand(db, &q->acc, q->c, items, expand);
    if (rc) {
        cJSON_Delete(items);
        return read_fail_or_retry(r, q, rc, &err, attempts);
    }
    cJSON *env = cJSON_CreateObject();
    cJSON_AddNumberToObject(env, "page", (double)page);
    cJSON_AddNumberToObject(env, "perPage", (double)per);
    cJSON_AddNumberToObject(env, "totalItems", (double)total);
    cJSON_AddNumberToObject(env, "totalPages",
                            total < 0 ? -1.0 : (double)((total + per - 1) / per));
    cJSON_AddItemToObject(env, "items", items);
    sh__auth_own_email(r, items);
    sh__rec_send(r, env, fields, true);
    cJSON_Delete(env);
    return SH_HANDLED;
}

static int view_read(struct sh_req *r, struct sh__rec_req *q, const struct sh_filter *rule,
                     const char *id, unsigned *attempts);

static int view_once(struct sh_req *r, void *ud, unsigned *attempts)
{
    struct sh__rec_req *q = sh__rec_begin_or_reply(r, ud);
    const struct sh_filter *rule;
    if (!q || sh__rec_rule_or_reply(r, q, SH_RULE_VIEW, &rule))
        return SH_HANDLED;
    const struct sh_str *idp = sh_req_param(r, "id");
    char *id = idp ? sh_arena_strndup(r->arena, idp->ptr, idp->len) : NULL;
    if (!id) {
        sh__api_fail(r, -ENOMEM);
        return SH_HANDLED;
    }
    struct sh__budget b;
    if (sh__budget_begin(r, q, &b))
        return SH_HANDLED;
    int rc = view_read(r, q, rule, id, attempts);
    sh__budget_end(&b);
    return rc;
}

/* The reads and the answer of a view (view_once's second half). */
static int view_read(struct sh_req *r, struct sh__rec_req *q, const struct sh_filter *rule,
                     const char *id, unsigned *attempts)
{
    struct sh_filter_error err = {0};
    struct sh_db *db = q->api->db;
    int rc = sh_db_read_begin(db);
    const char *expand = sh_req_query(r, "expand"), *fields = sh_req_query(r, "fields");
    if ((!expand || !*expand) && (!fields || !*fields)) {
        struct sh_buf *out = sh__rec_out(q->api);
        if (rc == 0)
            rc = sh_rec_view_json(db, &q->acc, q->c, rule, id, sh__rec_own_id(r, q), out, &err);
        if (rc)
            return read_fail_or_retry(r, q, rc, &err, attempts);
        sh__rec_send_out(r, q->api);
        return SH_HANDLED;
    }
    cJSON *rec = NULL;
    if (rc == 0)
        rc = sh_rec_view(db, &q->acc, q->c, rule, id, &rec, &err);
    if (rc == 0)
        rc = sh_rec_expand(db, &q->acc, q->c, rec, expand);
    if (rc) {
        cJSON_Delete(rec);
        return read_fail_or_retry(r, q, rc, &err, attempts);
    }
    sh__auth_own_email(r, rec);
    sh__rec_send(r, rec, fields, false);
    cJSON_Delete(rec);
    return SH_HANDLED;
}

/* Each runs again (a new snapshot, parameters read again) while the read
 * failed for a schema that moved (read_fail_or_retry returns 1 = RETRY). */
#define RETRY 1

int sh__rec_list_uncached(struct sh_req *r, struct sh_api_records *api)
{
    unsigned attempts = 0;
    while (list_once(r, api, &attempts) == RETRY)
        ;
    return SH_HANDLED;
}

int sh_api_records_list(struct sh_req *r, void *ud)
{
    struct sh_api_records *api = ud;
    if (api->list_cache)
        return sh__rec_list_cached(r, api);
    return sh__rec_list_uncached(r, api);
}

int sh_api_records_view(struct sh_req *r, void *ud)
{
    unsigned attempts = 0;
    while (view_once(r, ud, &attempts) == RETRY)
        ;
    return SH_HANDLED;
}
