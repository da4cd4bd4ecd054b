/*
 * List and view queries on the loop's read connection. The SQL is built from
 * validated, quoted names only; the collection rule and the client's filter
 * are compiled by filter.h into boolean expressions with bound parameters and
 * ANDed; the sort becomes an ORDER BY that always ends with the rowid, so
 * pages are stable when sort keys tie. Rules see hidden fields (a rule may
 * test them); a guest's filter and sort do not.
 *
 * Every statement goes through the db's statement cache (the SQL text of a
 * given filter shape repeats) and is stepped under the read budget.
 */
#include "db/records.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* The compiled WHERE of one query: rule AND filter. */
struct where {
    struct sh_filter_sql rule, filter;
    bool has_rule, has_filter;
};

static void where_deinit(struct where *w)
{
    sh_filter_sql_deinit(&w->rule);
    sh_filter_sql_deinit(&w->filter);
}

static int where_compile(const struct sh_rec_access *acc, const struct sh_collection *c,
                         const struct sh_filter *rule, const struct sh_filter *filter,
                         struct where *w, struct sh_filter_error *err)
{
    memset(w, 0, sizeof(*w));
    int rc = 0;
    bool su = acc->flags & SH_REC_SUPERUSER;
    if (rule && !su && !sh_filter_is_empty(rule)) {
        struct sh_schema_view v;
        sh_schema_view_init(&v, c, acc->resolver, SH_SCHEMA_VIEW_HIDDEN);
        rc = sh_filter_compile(rule, &v.schema, acc->ctx, &w->rule, err);
        sh_schema_view_deinit(&v);
        w->has_rule = rc == 0;
    }
    if (rc == 0 && filter && !sh_filter_is_empty(filter)) {
        struct sh_schema_view v;
        sh_schema_view_init(&v, c, acc->resolver, su ? SH_SCHEMA_VIEW_HIDDEN : 0);
        rc = sh_filter_compile(filter, &v.schema, acc->ctx, &w->filter, err);
        sh_schema_view_deinit(&v);
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
        sh_buf_appends(b, w->rule.sql);
    }
    if (w->has_filter) {
        sh_buf_appends(b, " AND ");
        sh_buf_appends(b, w->filter.sql);
    }
}

/* Binds the WHERE's parameters from index 1; returns the next index. */
static int where_bind(const struct where *w, sqlite3_stmt *st)
{
    int i = 1;
    if (w->has_rule) {
        sh_filter_sql_bind(&w->rule, st, i);
        i += (int)w->rule.nparams;
    }
    if (w->has_filter) {
        sh_filter_sql_bind(&w->filter, st, i);
        i += (int)w->filter.nparams;
    }
    return i;
}

static void take_buf(struct sh_buf *b)
{
    sh_buf_append(b, "", 1);
}

static int count_rows(struct sh_db *db, const struct sh_collection *c, const struct where *w,
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

int sh_rec_list(struct sh_db *db, const struct sh_rec_access *acc,
                const struct sh_rec_list_query *q, cJSON **items, int64_t *total,
                struct sh_filter_error *err)
{
    const struct sh_collection *c = q->c;
    *items = NULL;
    *total = -1;
    struct where w;
    int rc = where_compile(acc, c, q->rule, q->filter, &w, err);
    if (rc)
        return rc;
    struct sh_filter_sql sort;
    memset(&sort, 0, sizeof(sort));
    if (q->sort && *q->sort) {
        struct sh_schema_view v;
        sh_schema_view_init(&v, c, acc->resolver,
                            (acc->flags & SH_REC_SUPERUSER) ? SH_SCHEMA_VIEW_HIDDEN : 0);
        rc = sh_sort_compile(q->sort, strlen(q->sort), &v.schema, &sort, err);
        sh_schema_view_deinit(&v);
        if (rc) {
            where_deinit(&w);
            return rc;
        }
    }

    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT ");
    sh_rec_columns(c, false, &b);
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, c->name);
    where_sql(&w, &b);
    sh_buf_appends(&b, " ORDER BY ");
    if (sort.len) {
        sh_buf_appends(&b, sort.sql);
        sh_buf_appends(&b, ", ");
    }
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, ".rowid LIMIT ? OFFSET ?");
    take_buf(&b);

    sqlite3_stmt *st;
    rc = sh_db_prepare(db, b.data, &st);
    sh_buf_deinit(&b);
    if (rc)
        goto out;
    int i = where_bind(&w, st);
    if (sort.nparams) {
        sh_filter_sql_bind(&sort, st, i);
        i += (int)sort.nparams;
    }
    sqlite3_bind_int64(st, i, q->limit);
    sqlite3_bind_int64(st, i + 1, q->offset);
    cJSON *arr = cJSON_CreateArray();
    while ((rc = sh_db_step(db, st)) == 1)
        cJSON_AddItemToArray(arr, sh_rec_from_row(c, st, 0, acc->flags));
    sh_db_release(db, st);
    if (rc == 0 && q->count)
        rc = count_rows(db, c, &w, total);
    if (rc)
        cJSON_Delete(arr);
    else
        *items = arr;
out:
    sh_filter_sql_deinit(&sort);
    where_deinit(&w);
    return rc;
}

int sh_rec_view(struct sh_db *db, const struct sh_rec_access *acc, const struct sh_collection *c,
                const struct sh_filter *rule, const char *id, cJSON **out,
                struct sh_filter_error *err)
{
    *out = NULL;
    struct where w;
    int rc = where_compile(acc, c, rule, NULL, &w, err);
    if (rc)
        return rc;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT ");
    sh_rec_columns(c, false, &b);
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, c->name);
    where_sql(&w, &b);
    sh_buf_appends(&b, " AND ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, ".\"id\" = ?");
    take_buf(&b);
    sqlite3_stmt *st;
    rc = sh_db_prepare(db, b.data, &st);
    sh_buf_deinit(&b);
    if (rc == 0) {
        int i = where_bind(&w, st);
        sqlite3_bind_text(st, i, id, -1, SQLITE_TRANSIENT);
        rc = sh_db_step(db, st);
        if (rc == 1) {
            *out = sh_rec_from_row(c, st, 0, acc->flags);
            rc = 0;
        } else if (rc == 0) {
            rc = SH_ENOTFOUND;
        }
        sh_db_release(db, st);
    }
    where_deinit(&w);
    return rc;
}

int sh__rec_fetch_ids(struct sh_db *db, const struct sh_rec_access *acc,
                      const struct sh_collection *c, const struct sh_filter *rule,
                      const char *ids_json, cJSON **out)
{
    *out = NULL;
    struct where w;
    struct sh_filter_error err;
    int rc = where_compile(acc, c, rule, NULL, &w, &err);
    if (rc)
        return rc;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT ");
    sh_rec_columns(c, false, &b);
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, c->name);
    where_sql(&w, &b);
    sh_buf_appends(&b, " AND ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, ".\"id\" IN (SELECT value FROM json_each(?))");
    take_buf(&b);
    sqlite3_stmt *st;
    rc = sh_db_prepare(db, b.data, &st);
    sh_buf_deinit(&b);
    if (rc == 0) {
        int i = where_bind(&w, st);
        sqlite3_bind_text(st, i, ids_json, -1, SQLITE_TRANSIENT);
        cJSON *arr = cJSON_CreateArray();
        while ((rc = sh_db_step(db, st)) == 1)
            cJSON_AddItemToArray(arr, sh_rec_from_row(c, st, 0, acc->flags));
        sh_db_release(db, st);
        if (rc)
            cJSON_Delete(arr);
        else
            *out = arr;
    }
    where_deinit(&w);
    return rc;
}
