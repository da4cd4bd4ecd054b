/*
 * Helpers shared by the filter compiler tests: compile a filter against the
 * fixture schema, compare the SQL, check its parameters, and check that the
 * SQL is sane (one parameter per `?`, no quoted text but the compiler's own
 * constants). Include after cmocka.h.
 */
#ifndef STAGEHAND_TESTS_FILTER_CHECK_H
#define STAGEHAND_TESTS_FILTER_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "filter_fixture.h"
#include "stagehand/core.h"

static inline size_t count_char(const char *s, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

/* Every `?` has a parameter, and the only quoted literals in the SQL are the
 * compiler's own constants: no user text can have reached the SQL. */
static inline void assert_sql_sane(const struct sh_filter_sql *q)
{
    assert_non_null(q->sql);
    assert_int_equal(count_char(q->sql, q->len, '?'), q->nparams);
    assert_int_equal(strlen(q->sql), q->len);
    static const char *const constants[] = {"'[null]'", "'[]'", "'%'", "ESCAPE '\\'"};
    char *copy = strdup(q->sql);
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
        char *p;
        while ((p = strstr(copy, constants[i])))
            memset(p, ' ', strlen(constants[i]));
    }
    assert_null(strchr(copy, '\''));
    assert_null(strchr(copy, ';'));
    assert_null(strstr(copy, "--"));
    free(copy);
}

static inline int compile_ctx(const char *text, const struct sh_filter_ctx *ctx,
                              struct sh_filter_sql *q, struct sh_filter_error *err)
{
    struct sh_filter *f;
    memset(q, 0, sizeof(*q));
    memset(err, 0, sizeof(*err));
    int rc = sh_filter_parse(text, strlen(text), &f, err);
    if (rc) {
        assert_null(f);
        return rc;
    }
    rc = sh_filter_compile(f, &fixture_posts, ctx, q, err);
    sh_filter_free(f);
    if (rc == 0)
        assert_sql_sane(q);
    else
        assert_null(q->sql);
    return rc;
}

/* Compiles text and checks the SQL exactly; returns the output for checking
 * parameters (the caller deinits it). */
static inline struct sh_filter_sql expect_sql_ctx(const char *text, const struct sh_filter_ctx *ctx,
                                                  const char *sql)
{
    struct sh_filter_sql q;
    struct sh_filter_error err;
    int rc = compile_ctx(text, ctx, &q, &err);
    if (rc)
        fail_msg("%s: %s", text, err.message);
    assert_string_equal(q.sql, sql);
    return q;
}

static inline struct sh_filter_sql expect_sql(const char *text, const char *sql)
{
    return expect_sql_ctx(text, NULL, sql);
}

static inline void expect_error(const char *text, const char *message)
{
    struct sh_filter_sql q;
    struct sh_filter_error err;
    assert_int_equal(compile_ctx(text, NULL, &q, &err), SH_EINVAL);
    assert_int_equal(err.code, SH_EINVAL);
    assert_string_equal(err.message, message);
    sh_filter_sql_deinit(&q);
}

static inline void assert_text_param(const struct sh_filter_sql *q, size_t i, const char *v)
{
    assert_true(i < q->nparams);
    assert_int_equal(q->params[i].type, SH_FILTER_PARAM_TEXT);
    assert_int_equal(q->params[i].len, strlen(v));
    assert_string_equal(q->params[i].text, v);
}

static inline void assert_int_param(const struct sh_filter_sql *q, size_t i, int64_t v)
{
    assert_true(i < q->nparams);
    assert_int_equal(q->params[i].type, SH_FILTER_PARAM_INT);
    assert_int_equal(q->params[i].i, v);
}

#define SRC(x)                                                                                     \
    "json_each(CASE WHEN json_valid(" x ") IS NOT 1 THEN '[null]' WHEN json_array_length(" x       \
    ") = 0 THEN '[null]' ELSE " x " END)"

#endif
