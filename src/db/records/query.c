/*
 * List and view queries on the loop's read connection. The SQL is built from
 * validated, quoted names only; the collection rule and the client's filter
 * are compiled by filter.h into boolean expressions with bound parameters and
 * ANDed; the sort becomes an ORDER BY that always ends with the rowid, so
 * pages are stable when sort keys tie. The rowid runs in the direction of
 * the last sort term: `sort=-n` is `n DESC, rowid DESC`, which an index on n
 * (or on (tag, n) under `tag = ?`) gives by walking backwards, where
 * `rowid ASC` made SQLite sort every page again (a third of the page's
 * cost). Rules see hidden fields (a rule may test them); a non-superuser's
 * filter and sort are confined to what it may see (client_view).
 *
 * Rows are answered as cJSON trees (sh_rec_list, sh_rec_view: expand and
 * `fields` work on trees) or written straight to JSON text (the _json
 * variants: the common page). Totals go through the count cache
 * (records_count.c) when the caller passes one.
 *
 * Every statement goes through the db's statement cache (the SQL text of a
 * given filter shape repeats) and is stepped under the read budget.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "stagehand/records.h"

/* The compiled WHERE of one query: rule AND filter. The rule comes from
 * the caller's compiled-rule cache (acc->rules; shared, released here). */
struct where {
    const struct sh_filter_sql *rule;
    struct sh_filter_sql filter;
    bool has_rule, has_filter;
};

static void where_deinit(struct where *w)
{
    sh_filter_cache_release(w->rule);
    w->rule = NULL;
    sh_filter_sql_deinit(&w->filter);
}

const struct sh_rec_limits *sh_rec_access_limits(const struct sh_rec_access *acc)
{
    static const struct sh_rec_limits defaults = {SH_REC_DEFAULT_MAX_MULTI_HOPS,
                                                  SH_REC_DEFAULT_EXPAND_MAX_RECORDS};
    return acc && acc->limits ? acc->limits : &defaults;
}

/* The view of c with flags that rules (SH_SCHEMA_VIEW_HIDDEN) and a client's
 * own filter and sort compile against: from the caller's set of views of
 * the snapshot when it keeps one (built once per snapshot), else built into
 * *tmp, which the caller deinits (zeroed when unused). */
static const struct sh_filter_schema *view_of(const struct sh_rec_access *acc,
                                              const struct sh_collection *c, unsigned flags,
                                              struct sh_schema_view *tmp)
{
    memset(tmp, 0, sizeof(*tmp));
    if (acc->views)
        return sh_schema_views_get(acc->views, c, flags);
    sh_schema_view_init(tmp, c, acc->resolver, flags);
    if (flags & SH_SCHEMA_VIEW_CLIENT)
        tmp->schema.max_multi_hops = sh_rec_access_limits(acc)->max_multi_hops;
    return &tmp->schema;
}

/* A client's own filter and sort: everything for a superuser; otherwise
 * confined (SH_SCHEMA_VIEW_CLIENT: hidden fields and emails, collections it
 * may not list, rows their listRule excludes) with the fan-out cap. */
static unsigned client_flags(const struct sh_rec_access *acc)
{
    return acc->flags & SH_REC_SUPERUSER ? SH_SCHEMA_VIEW_HIDDEN : SH_SCHEMA_VIEW_CLIENT;
}

static int where_compile(const struct sh_rec_access *acc, const struct sh_collection *c,
                         const struct sh_filter *rule, const struct sh_filter *filter,
                         struct where *w, struct sh_filter_error *err)
{
    memset(w, 0, sizeof(*w));
    int rc = 0;
    bool su = acc->flags & SH_REC_SUPERUSER;
    struct sh_schema_view tmp;
    if (rule && !su && !sh_filter_is_empty(rule)) {
        const struct sh_filter_schema *s = view_of(acc, c, SH_SCHEMA_VIEW_HIDDEN, &tmp);
        rc = sh_filter_cache_compile(acc->rules, rule, s, acc->ctx, &w->rule, err);
        sh_schema_view_deinit(&tmp);
        w->has_rule = rc == 0;
    }
    if (rc == 0 && filter && !sh_filter_is_empty(filter)) {
        const struct sh_filter_schema *s = view_of(acc, c, client_flags(acc), &tmp);
        rc = sh_filter_compile(filter, s, acc->ctx, &w->filter, err);
        sh_schema_view_deinit(&tmp);
        w->has_filter = rc == 0;
    }
    if (rc)
        where_deinit(w);
    return rc;
}

static void where_sql(const struct where *w, struct sh_buf *b)
{
    sh_buf_appends(b, " WHERE 1");
    if (w->has_rule) {
        sh_buf_appends(b, " AND ");
        sh_buf_appends(b, w->rule->sql);
    }
    if (w->has_filter) {
        sh_buf_appends(b, " AND ");
        sh_buf_appends(b, w->filter.sql);
    }
}

/* Binds the WHERE's parameters from index first; returns the next index.
 * Text is bound in place: every statement is given back (sh_db_release:
 * reset, bindings cleared) before its where_deinit. */
static int where_bind_at(const struct where *w, sqlite3_stmt *st, int first)
{
    int i = first;
    if (w->has_rule) {
        sh_filter_sql_bind_static(w->rule, st, i);
        i += (int)w->rule->nparams;
    }
    if (w->has_filter) {
        sh_filter_sql_bind_static(&w->filter, st, i);
        i += (int)w->filter.nparams;
    }
    return i;
}

static int where_bind(const struct where *w, sqlite3_stmt *st)
{
    return where_bind_at(w, st, 1);
}

static void take_buf(struct sh_buf *b)
{
    sh_buf_append(b, "", 1);
}

/* ---- counts, through the count cache (records_count.c) ---- */

static void key_param(struct sh_buf *k, const struct sh_filter_param *p)
{
    char t = (char)('0' + (int)p->type);
    sh_buf_append(k, &t, 1);
    switch (p->type) {
    case SH_FILTER_PARAM_INT:
        sh_buf_append(k, &p->i, sizeof(p->i));
        break;
    case SH_FILTER_PARAM_DOUBLE:
        sh_buf_append(k, &p->d, sizeof(p->d));
        break;
    case SH_FILTER_PARAM_TEXT: {
        uint64_t n = p->len;
        sh_buf_append(k, &n, sizeof(n));
        sh_buf_append(k, p->text, p->len);
        break;
    }
    case SH_FILTER_PARAM_NULL:
        break;
    }
}

static void key_sql(struct sh_buf *k, const struct sh_filter_sql *q)
{
    uint64_t n = q->len;
    sh_buf_append(k, &n, sizeof(n));
    sh_buf_append(k, q->sql, q->len);
    n = q->nparams;
    sh_buf_append(k, &n, sizeof(n));
    for (size_t i = 0; i < q->nparams; i++)
        key_param(k, &q->params[i]);
}

/* Longest count key kept: bounds the cache's memory to about
 * --count-cache x 1 KiB whatever the filters. */
#define COUNT_KEY_MAX 1024

/* Whether a count of c under w may be cached (see records_count.c: tables
 * and columns that only records jobs write), and if so its key. */
static bool count_key(const struct sh_rec_list_query *q, const struct where *w, struct sh_buf *k,
                      struct sh_rec_count_key *out)
{
    const struct sh_collection *c = q->c;
    if (!q->counts || c->name[0] == '_')
        return false;
    const struct sh_filter_sql *parts[2] = {w->has_rule ? w->rule : NULL,
                                            w->has_filter ? &w->filter : NULL};
    bool other = false;
    for (size_t i = 0; i < 2; i++) {
        if (!parts[i])
            continue;
        /* A hidden field (an auth collection's tokenKey) may be written by
         * jobs that are not records writes (logout-all rotates it): such a
         * count is never cached. What the WHERE reads, its compiler says. */
        if (parts[i]->reads & SH_FILTER_READS_HIDDEN)
            return false;
        other = other || (parts[i]->reads & SH_FILTER_READS_OTHER_TABLE);
    }
    sh_buf_appends(k, c->id);
    sh_buf_append(k, "", 1);
    sh_buf_append(k, &q->schema_version, sizeof(q->schema_version));
    for (size_t i = 0; i < 2; i++) {
        char present = parts[i] ? 1 : 0;
        sh_buf_append(k, &present, 1);
        if (parts[i])
            key_sql(k, parts[i]);
    }
    if (k->len > COUNT_KEY_MAX)
        return false; /* a long filter: counted each time rather than cached */
    /* A view reads other tables: any write may change its count. */
    *out = (struct sh_rec_count_key){c->name, other || c->type == SH_COLLECTION_VIEW, k->data,
                                     k->len, 0};
    return true;
}

static int count_query(struct sh_db *db, const struct sh_collection *c, const struct where *w,
                       int64_t *total)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT COUNT(*) FROM ");
    sh__rec_quote(&b, c->name);
    where_sql(w, &b);
    take_buf(&b);
    sqlite3_stmt *st;
    int rc = sh_db_prepare(db, b.data, &st);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    where_bind(w, st);
    rc = sh_db_step(db, st);
    if (rc == 1) {
        *total = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (rc == 0) {
        *total = 0;
    }
    sh_db_release(db, st);
    return rc;
}

/* COUNT(*) of the matches, from the count cache when it has a current
 * one. Reads run inside the caller's read transaction (see records_count.c
 * for why a cached count is never older than an acknowledged write). */
static int count_rows(struct sh_db *db, const struct sh_rec_list_query *q, const struct where *w,
                      int64_t *total)
{
    struct sh_buf kb;
    sh_buf_init(&kb);
    struct sh_rec_count_key key;
    bool cacheable = count_key(q, w, &kb, &key);
    /* the shared version: another process's writes (the CLI, another
     * instance on this file) move it too */
    if (cacheable)
        cacheable = (key.any_table ? sh_db_versions_all(db, &key.shared)
                                   : sh_db_versions(db, &key.table, 1, &key.shared)) == 0;
    int rc = 0;
    if (!cacheable || !sh_rec_counts_get(q->counts, &key, total)) {
        rc = count_query(db, q->c, w, total);
        if (rc == 0 && cacheable)
            sh_rec_counts_put(q->counts, &key, *total);
    }
    sh_buf_deinit(&kb);
    return rc;
}

/* ---- list pages ---- */

struct page {
    struct where w;
    struct sh_filter_sql sort;
    sqlite3_stmt *st;
};

static void page_deinit(struct sh_db *db, struct page *p)
{
    sh_db_release(db, p->st);
    sh_filter_sql_deinit(&p->sort);
    where_deinit(&p->w);
}

/* Compiles the WHERE and the sort of q. */
static int page_compile(const struct sh_rec_access *acc, const struct sh_rec_list_query *q,
                        struct page *p, struct sh_filter_error *err)
{
    memset(p, 0, sizeof(*p));
    int rc = where_compile(acc, q->c, q->rule, q->filter, &p->w, err);
    if (rc)
        return rc;
    if (q->sort && *q->sort) {
        struct sh_schema_view tmp;
        const struct sh_filter_schema *s = view_of(acc, q->c, client_flags(acc), &tmp);
        rc = sh_sort_compile_ctx(q->sort, strlen(q->sort), s, acc->ctx, &p->sort, err);
        sh_schema_view_deinit(&tmp);
        if (rc) {
            where_deinit(&p->w);
            return rc;
        }
    }
    return 0;
}

/* Whether the ORDER BY list ends descending (then the rowid tiebreak runs
 * the same way, so that an index on the sort column(s) walked backwards
 * gives the order with no sorting step). */
static bool ends_desc(const struct sh_filter_sql *sort)
{
    return sort->len >= 5 && strcmp(sort->sql + sort->len - 5, " DESC") == 0;
}

/* Prepares and binds the page query of a compiled page. */
static int page_prepare(struct sh_db *db, const struct sh_rec_list_query *q, struct page *p)
{
    const struct sh_collection *c = q->c;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT ");
    sh_rec_columns(c, false, &b);
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, c->name);
    where_sql(&p->w, &b);
    sh_buf_appends(&b, " ORDER BY ");
    if (p->sort.len) {
        sh_buf_appends(&b, p->sort.sql);
        sh_buf_appends(&b, ", ");
    }
    sh__rec_quote(&b, c->name);
    /* a view has no rowid: its id breaks the ties */
    const char *tie = c->type == SH_COLLECTION_VIEW ? ".\"id\"" : ".rowid";
    sh_buf_appends(&b, tie);
    sh_buf_appends(&b, ends_desc(&p->sort) ? " DESC LIMIT ? OFFSET ?" : " LIMIT ? OFFSET ?");
    take_buf(&b);
    int rc = sh_db_prepare(db, b.data, &p->st);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    int i = where_bind(&p->w, p->st);
    if (p->sort.nparams) {
        sh_filter_sql_bind(&p->sort, p->st, i);
        i += (int)p->sort.nparams;
    }
    sqlite3_bind_int64(p->st, i, q->limit);
    sqlite3_bind_int64(p->st, i + 1, q->offset);
    return 0;
}

int sh_rec_list(struct sh_db *db, const struct sh_rec_access *acc,
                const struct sh_rec_list_query *q, cJSON **items, int64_t *total,
                struct sh_filter_error *err)
{
    *items = NULL;
    *total = -1;
    struct page p;
    int rc = page_compile(acc, q, &p, err);
    if (rc)
        return rc;
    rc = page_prepare(db, q, &p);
    if (rc == 0) {
        cJSON *arr = cJSON_CreateArray();
        while ((rc = sh_db_step(db, p.st)) == 1)
            cJSON_AddItemToArray(arr, sh_rec_from_row(q->c, p.st, 0, acc->flags));
        sh_db_release(db, p.st);
        p.st = NULL;
        if (rc == 0 && q->count)
            rc = count_rows(db, q, &p.w, total);
        if (rc)
            cJSON_Delete(arr);
        else
            *items = arr;
    }
    page_deinit(db, &p);
    return rc;
}

static void put_field_i64(struct sh_buf *out, const char *name, int64_t v)
{
    sh_buf_appends(out, name);
    if (v < 0) {
        sh_buf_append(out, "-", 1);
        sh_buf_append_u64(out, 0 - (uint64_t)v);
    } else {
        sh_buf_append_u64(out, (uint64_t)v);
    }
}

int sh_rec_list_json(struct sh_db *db, const struct sh_rec_access *acc,
                     const struct sh_rec_list_query *q, int64_t page, const char *own_id,
                     struct sh_buf *out, struct sh_filter_error *err)
{
    struct page p;
    int rc = page_compile(acc, q, &p, err);
    if (rc)
        return rc;
    /* The envelope puts the totals before the items: count first (same
     * read transaction, so the same snapshot either way). */
    int64_t total = -1;
    if (q->count)
        rc = count_rows(db, q, &p.w, &total);
    if (rc == 0)
        rc = page_prepare(db, q, &p);
    if (rc == 0) {
        put_field_i64(out, "{\"page\":", page);
        put_field_i64(out, ",\"perPage\":", q->limit);
        put_field_i64(out, ",\"totalItems\":", total);
        put_field_i64(out, ",\"totalPages\":", total < 0 ? -1 : (total + q->limit - 1) / q->limit);
        sh_buf_appends(out, ",\"items\":[");
        struct sh_rec_json_plan plan;
        sh_rec_json_plan_init(&plan, q->c, acc->flags, own_id);
        bool first = true;
        while ((rc = sh_db_step(db, p.st)) == 1) {
            if (!first)
                sh__buf_put(out, ",", 1);
            first = false;
            sh_rec_json_plan_row(&plan, p.st, 0, out);
        }
        sh_rec_json_plan_deinit(&plan);
        sh_buf_appends(out, "]}");
    }
    page_deinit(db, &p);
    return rc;
}

/* SELECT of c's rows under rule whose id matches `id_sql` (the text after
 * "<table>.\"id\" " with one ?), prepared and bound to value. On success *w
 * holds the compiled rule (where_deinit after the statement). */
static int by_id_prepare(struct sh_db *db, const struct sh_rec_access *acc,
                         const struct sh_collection *c, const struct sh_filter *rule,
                         const char *id_sql, const char *value, struct where *w, sqlite3_stmt **st,
                         struct sh_filter_error *err)
{
    *st = NULL;
    int rc = where_compile(acc, c, rule, NULL, w, err);
    if (rc)
        return rc;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_reserve(&b, 1024); /* one allocation for the usual statement */
    sh_buf_appends(&b, "SELECT ");
    sh_rec_columns(c, false, &b);
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, c->name);
    where_sql(w, &b);
    sh_buf_appends(&b, " AND ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, ".\"id\" ");
    sh_buf_appends(&b, id_sql);
    take_buf(&b);
    rc = sh_db_prepare(db, b.data, st);
    sh_buf_deinit(&b);
    if (rc) {
        where_deinit(w);
        return rc;
    }
    int i = where_bind(w, *st);
    sqlite3_bind_text(*st, i, value, -1, SQLITE_TRANSIENT);
    return 0;
}

/* The view query of record id under rule, prepared and bound. */
static int view_prepare(struct sh_db *db, const struct sh_rec_access *acc,
                        const struct sh_collection *c, const struct sh_filter *rule, const char *id,
                        struct where *w, sqlite3_stmt **st, struct sh_filter_error *err)
{
    return by_id_prepare(db, acc, c, rule, "= ?", id, w, st, err);
}

int sh_rec_view_json(struct sh_db *db, const struct sh_rec_access *acc,
                     const struct sh_collection *c, const struct sh_filter *rule, const char *id,
                     const char *own_id, struct sh_buf *out, struct sh_filter_error *err)
{
    struct where w;
    sqlite3_stmt *st;
    int rc = view_prepare(db, acc, c, rule, id, &w, &st, err);
    if (rc)
        return rc;
    rc = sh_db_step(db, st);
    if (rc == 1) {
        sh_rec_row_json(c, st, 0, acc->flags, own_id, out);
        rc = 0;
    } else if (rc == 0) {
        rc = SH_ENOTFOUND;
    }
    sh_db_release(db, st);
    where_deinit(&w);
    return rc;
}

int sh_rec_view(struct sh_db *db, const struct sh_rec_access *acc, const struct sh_collection *c,
                const struct sh_filter *rule, const char *id, cJSON **out,
                struct sh_filter_error *err)
{
    *out = NULL;
    struct where w;
    sqlite3_stmt *st;
    int rc = view_prepare(db, acc, c, rule, id, &w, &st, err);
    if (rc)
        return rc;
    rc = sh_db_step(db, st);
    if (rc == 1) {
        *out = sh_rec_from_row(c, st, 0, acc->flags);
        rc = 0;
    } else if (rc == 0) {
        rc = SH_ENOTFOUND;
    }
    sh_db_release(db, st);
    where_deinit(&w);
    return rc;
}

static int fetch_where(struct sh_db *db, const struct sh_rec_access *acc,
                       const struct sh_collection *c, const struct sh_filter *rule,
                       const char *id_sql, const char *value, cJSON **out)
{
    *out = NULL;
    struct where w;
    struct sh_filter_error err;
    sqlite3_stmt *st;
    int rc = by_id_prepare(db, acc, c, rule, id_sql, value, &w, &st, &err);
    if (rc)
        return rc;
    cJSON *arr = cJSON_CreateArray();
    while ((rc = sh_db_step(db, st)) == 1)
        cJSON_AddItemToArray(arr, sh_rec_from_row(c, st, 0, acc->flags));
    sh_db_release(db, st);
    if (rc)
        cJSON_Delete(arr);
    else
        *out = arr;
    where_deinit(&w);
    return rc;
}

int sh__rec_fetch_ids(struct sh_db *db, const struct sh_rec_access *acc,
                      const struct sh_collection *c, const struct sh_filter *rule,
                      const char *ids_json, cJSON **out)
{
    return fetch_where(db, acc, c, rule, "IN (SELECT value FROM json_each(?))", ids_json, out);
}

int sh__rec_fetch_via(struct sh_db *db, const struct sh_rec_access *acc,
                      const struct sh_collection *c, const struct sh_filter *rule,
                      const char *field, bool multi, const char *ids_json, size_t limit,
                      cJSON **out)
{
    /* by_id_prepare ends the statement with `AND "c"."id" <id_sql>`: the
     * rows whose relation holds a wanted id, then the cap. */
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "IS NOT NULL AND ");
    if (multi) {
        sh_buf_appends(&b, "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(");
        sh__rec_quote(&b, c->name);
        sh_buf_appends(&b, ".");
        sh__rec_quote(&b, field);
        sh_buf_appends(&b, ") IS 1 THEN ");
        sh__rec_quote(&b, c->name);
        sh_buf_appends(&b, ".");
        sh__rec_quote(&b, field);
        sh_buf_appends(&b, " ELSE '[]' END) AS \"__v\" WHERE \"__v\".\"value\" IN "
                           "(SELECT value FROM json_each(?)))");
    } else {
        sh__rec_quote(&b, c->name);
        sh_buf_appends(&b, ".");
        sh__rec_quote(&b, field);
        sh_buf_appends(&b, " IN (SELECT value FROM json_each(?))");
    }
    if (limit) {
        char lim[40];
        snprintf(lim, sizeof(lim), " LIMIT %zu", limit);
        sh_buf_appends(&b, lim);
    }
    take_buf(&b);
    int rc = fetch_where(db, acc, c, rule, b.data, ids_json, out);
    sh_buf_deinit(&b);
    return rc;
}

/* ---- a record as committed (change events) ---- */

int sh_rec_row_capture(sqlite3 *db, const struct sh_collection *c, const char *id,
                       struct sh_rec_row **out)
{
    *out = NULL;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT * FROM ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, " WHERE \"id\" = ?");
    take_buf(&b);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, b.data, -1, &st, NULL);
    sh_buf_deinit(&b);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct sh_rec_row *row = sh_calloc(1, sizeof(*row));
        row->n = sqlite3_column_count(st);
        row->names = sh_calloc((size_t)row->n, sizeof(*row->names));
        row->vals = sh_calloc((size_t)row->n, sizeof(*row->vals));
        for (int i = 0; i < row->n; i++) {
            row->names[i] = sh_strdup(sqlite3_column_name(st, i));
            row->vals[i] = sqlite3_value_dup(sqlite3_column_value(st, i));
            if (!row->vals[i])
                sh_panic(__FILE__, __LINE__, "sqlite3_value_dup failed");
        }
        *out = row;
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? SH_ENOTFOUND : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

void sh_rec_row_free(struct sh_rec_row *row)
{
    if (!row)
        return;
    for (int i = 0; i < row->n; i++) {
        free(row->names[i]);
        sqlite3_value_free(row->vals[i]);
    }
    free(row->names);
    free(row->vals);
    free(row);
}

int sh_rec_match(struct sh_db *db, const struct sh_rec_access *acc, const struct sh_collection *c,
                 const struct sh_filter *rule, const struct sh_filter *filter,
                 const struct sh_rec_row *row, cJSON **out, struct sh_filter_error *err)
{
    *out = NULL;
    struct where w;
    int rc = where_compile(acc, c, rule, filter, &w, err);
    if (rc)
        return rc;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "WITH ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, "(");
    for (int i = 0; i < row->n; i++) {
        if (i)
            sh_buf_appends(&b, ",");
        sh__rec_quote(&b, row->names[i]);
    }
    sh_buf_appends(&b, ") AS (VALUES(");
    for (int i = 0; i < row->n; i++)
        sh_buf_appends(&b, i ? ",?" : "?");
    sh_buf_appends(&b, ")) SELECT ");
    sh_rec_columns(c, false, &b);
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, c->name);
    where_sql(&w, &b);
    take_buf(&b);
    sqlite3_stmt *st;
    rc = sh_db_prepare(db, b.data, &st);
    sh_buf_deinit(&b);
    if (rc) {
        where_deinit(&w);
        return rc;
    }
    for (int i = 0; i < row->n; i++)
        sqlite3_bind_value(st, i + 1, row->vals[i]);
    where_bind_at(&w, st, row->n + 1);
    rc = sh_db_step(db, st);
    if (rc == 1) {
        *out = sh_rec_from_row(c, st, 0, acc->flags);
        rc = 0;
    } else if (rc == 0) {
        rc = SH_ENOTFOUND;
    }
    sh_db_release(db, st);
    where_deinit(&w);
    return rc;
}
