/*
 * Output assembly for the filter compiler: a growable SQL text buffer paired
 * with the list of parameters its `?` placeholders stand for, kept in the same
 * order, so that a fragment can be appended (even twice) to another with its
 * parameters. Also binding to an SQLite statement, identifier validation, the
 * error helper and the aborting allocators shared by the filter files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "filter_int.h"
#include "stagehand/core.h"

void *sh__filter_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("stagehand: out of memory in the filter compiler\n", stderr);
        abort();
    }
    return p;
}

void *sh__filter_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("stagehand: out of memory in the filter compiler\n", stderr);
        abort();
    }
    return q;
}

int sh__filter_fail(struct sh_filter_error *err, size_t offset, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = SH_EINVAL;
        err->offset = offset;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return SH_EINVAL;
}

bool sh__ident_ok(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && (n == 0 || c < '0' || c > '9'))
            return false;
    }
    return n > 0 && n <= 128;
}

void sh__sql_put(struct sh_filter_sql *q, const char *s, size_t n)
{
    if (q->len + n + 1 > q->sql_cap) {
        size_t cap = q->sql_cap ? q->sql_cap : 64;
        while (cap < q->len + n + 1)
            cap *= 2;
        q->sql = sh__filter_xrealloc(q->sql, cap);
        q->sql_cap = cap;
    }
    memcpy(q->sql + q->len, s, n);
    q->len += n;
    q->sql[q->len] = '\0';
}

void sh__sql_puts(struct sh_filter_sql *q, const char *s)
{
    sh__sql_put(q, s, strlen(s));
}

void sh__sql_putq(struct sh_filter_sql *q, const char *name)
{
    sh__sql_put(q, "\"", 1);
    sh__sql_puts(q, name);
    sh__sql_put(q, "\"", 1);
}

static struct sh_filter_param *add_param(struct sh_filter_sql *q)
{
    if (q->nparams == q->params_cap) {
        size_t cap = q->params_cap ? q->params_cap * 2 : 4;
        q->params = sh__filter_xrealloc(q->params, cap * sizeof(*q->params));
        q->params_cap = cap;
    }
    struct sh_filter_param *p = &q->params[q->nparams++];
    memset(p, 0, sizeof(*p));
    sh__sql_put(q, "?", 1);
    return p;
}

void sh__sql_param_null(struct sh_filter_sql *q)
{
    add_param(q)->type = SH_FILTER_PARAM_NULL;
}

void sh__sql_param_int(struct sh_filter_sql *q, int64_t v)
{
    struct sh_filter_param *p = add_param(q);
    p->type = SH_FILTER_PARAM_INT;
    p->i = v;
}

void sh__sql_param_double(struct sh_filter_sql *q, double v)
{
    struct sh_filter_param *p = add_param(q);
    p->type = SH_FILTER_PARAM_DOUBLE;
    p->d = v;
}

void sh__sql_param_text(struct sh_filter_sql *q, const char *s, size_t n)
{
    struct sh_filter_param *p = add_param(q);
    p->type = SH_FILTER_PARAM_TEXT;
    p->text = sh__filter_xmalloc(n + 1);
    if (n)
        memcpy(p->text, s, n);
    p->text[n] = '\0';
    p->len = n;
}

void sh__sql_append(struct sh_filter_sql *q, const struct sh_filter_sql *src)
{
    /* Walk src's text placeholder by placeholder so that each `?` and its
     * parameter are appended together and stay in order. */
    size_t start = 0, k = 0;
    for (size_t i = 0; i < src->len; i++) {
        if (src->sql[i] != '?')
            continue;
        sh__sql_put(q, src->sql + start, i - start);
        start = i + 1;
        const struct sh_filter_param *p = &src->params[k++];
        switch (p->type) {
        case SH_FILTER_PARAM_NULL:
            sh__sql_param_null(q);
            break;
        case SH_FILTER_PARAM_INT:
            sh__sql_param_int(q, p->i);
            break;
        case SH_FILTER_PARAM_DOUBLE:
            sh__sql_param_double(q, p->d);
            break;
        case SH_FILTER_PARAM_TEXT:
            sh__sql_param_text(q, p->text, p->len);
            break;
        }
    }
    if (src->len > start)
        sh__sql_put(q, src->sql + start, src->len - start);
}

void sh_filter_sql_deinit(struct sh_filter_sql *q)
{
    for (size_t i = 0; i < q->nparams; i++)
        free(q->params[i].text);
    free(q->params);
    free(q->sql);
    memset(q, 0, sizeof(*q));
}

static int bind(const struct sh_filter_sql *q, struct sqlite3_stmt *stmt, int first,
                void (*text_dtor)(void *))
{
    for (size_t i = 0; i < q->nparams; i++) {
        const struct sh_filter_param *p = &q->params[i];
        int idx = first + (int)i, rc = SQLITE_OK;
        switch (p->type) {
        case SH_FILTER_PARAM_NULL:
            rc = sqlite3_bind_null(stmt, idx);
            break;
        case SH_FILTER_PARAM_INT:
            rc = sqlite3_bind_int64(stmt, idx, p->i);
            break;
        case SH_FILTER_PARAM_DOUBLE:
            rc = sqlite3_bind_double(stmt, idx, p->d);
            break;
        case SH_FILTER_PARAM_TEXT:
            rc = sqlite3_bind_text64(stmt, idx, p->text, p->len, text_dtor, SQLITE_UTF8);
            break;
        }
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

int sh_filter_sql_bind(const struct sh_filter_sql *q, struct sqlite3_stmt *stmt, int first)
{
    return bind(q, stmt, first, SQLITE_TRANSIENT);
}

int sh_filter_sql_bind_static(const struct sh_filter_sql *q, struct sqlite3_stmt *stmt, int first)
{
    return bind(q, stmt, first, SQLITE_STATIC);
}
