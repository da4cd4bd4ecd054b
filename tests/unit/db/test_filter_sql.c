/*
 * Unit tests of the filter compiler: the exact SQL written for each kind of
 * comparison and operand (equality with the NULL-is-"" rule, LIKE patterns,
 * any/all over multi-valued fields, relation subqueries, JSON paths,
 * @request values for users and guests, date macros) with its bound
 * parameters, and the errors for fields the schema does not allow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "filter_check.h"
#include "filter_int.h"

/* ---- compiler ---- */

static void test_filter_compile_equality(void **state)
{
    (void)state;
    struct sh_filter_sql q = expect_sql("title = \"hello\"", "\"posts\".\"title\" = ?");
    assert_int_equal(q.nparams, 1);
    assert_text_param(&q, 0, "hello");
    sh_filter_sql_deinit(&q);

    q = expect_sql("title = ''", "(\"posts\".\"title\" = ? OR \"posts\".\"title\" IS NULL)");
    assert_text_param(&q, 0, "");
    sh_filter_sql_deinit(&q);
    q = expect_sql("title = null", "(\"posts\".\"title\" = ? OR \"posts\".\"title\" IS NULL)");
    sh_filter_sql_deinit(&q);
    q = expect_sql("'' = title", "(\"posts\".\"title\" = ? OR \"posts\".\"title\" IS NULL)");
    sh_filter_sql_deinit(&q);
    q = expect_sql("title != \"\"",
                   "(\"posts\".\"title\" IS NOT ? AND \"posts\".\"title\" IS NOT NULL)");
    sh_filter_sql_deinit(&q);
    q = expect_sql("title != 'x'", "\"posts\".\"title\" IS NOT ?");
    sh_filter_sql_deinit(&q);
    q = expect_sql("title = body",
                   "COALESCE(\"posts\".\"title\", ?) = COALESCE(\"posts\".\"body\", ?)");
    assert_text_param(&q, 0, "");
    assert_text_param(&q, 1, "");
    sh_filter_sql_deinit(&q);
    q = expect_sql("'' = null", "1");
    assert_int_equal(q.nparams, 0);
    sh_filter_sql_deinit(&q);
    q = expect_sql("null != ''", "0");
    sh_filter_sql_deinit(&q);
    q = expect_sql("1 = 1", "? = ?");
    assert_int_param(&q, 0, 1);
    sh_filter_sql_deinit(&q);
    q = expect_sql("id = 'abc' && created >= '2024-01-01' && updated < '2025'",
                   "(\"posts\".\"id\" = ? AND \"posts\".\"created\" >= ? AND "
                   "\"posts\".\"updated\" < ?)");
    sh_filter_sql_deinit(&q);
}

static void test_filter_compile_logic(void **state)
{
    (void)state;
    struct sh_filter_sql q =
        expect_sql("views > 10 && (published = true || views <= -2.5)",
                   "(\"posts\".\"views\" > ? AND (\"posts\".\"published\" = ? OR "
                   "\"posts\".\"views\" <= ?))");
    assert_int_equal(q.nparams, 3);
    assert_int_param(&q, 0, 10);
    assert_int_param(&q, 1, 1);
    assert_int_equal(q.params[2].type, SH_FILTER_PARAM_DOUBLE);
    assert_true(q.params[2].d == -2.5);
    sh_filter_sql_deinit(&q);

    q = expect_sql("((views >= 1)) || views < 0 || published = false",
                   "(\"posts\".\"views\" >= ? OR \"posts\".\"views\" < ? OR "
                   "\"posts\".\"published\" = ?)");
    assert_int_param(&q, 2, 0);
    sh_filter_sql_deinit(&q);
}

static void test_filter_compile_like(void **state)
{
    (void)state;
    struct sh_filter_sql q = expect_sql("title ~ 'a_b'", "\"posts\".\"title\" LIKE ? ESCAPE '\\'");
    assert_text_param(&q, 0, "%a\\_b%");
    sh_filter_sql_deinit(&q);
    q = expect_sql("title ~ 'a_b%'", "\"posts\".\"title\" LIKE ? ESCAPE '\\'");
    assert_text_param(&q, 0, "a_b%"); /* a pattern: used as given */
    sh_filter_sql_deinit(&q);
    q = expect_sql("title !~ 'x\\y'", "\"posts\".\"title\" NOT LIKE ? ESCAPE '\\'");
    assert_text_param(&q, 0, "%x\\\\y%");
    sh_filter_sql_deinit(&q);
    q = expect_sql("title ~ '50\\%'", "\"posts\".\"title\" LIKE ? ESCAPE '\\'");
    assert_text_param(&q, 0, "%50\\\\\\%%"); /* escaped %: literal, escaped again */
    sh_filter_sql_deinit(&q);
    q = expect_sql("title ~ 12.5", "\"posts\".\"title\" LIKE ? ESCAPE '\\'");
    assert_text_param(&q, 0, "%12.5%");
    sh_filter_sql_deinit(&q);
    q = expect_sql("title ~ null", "\"posts\".\"title\" LIKE ? ESCAPE '\\'");
    assert_text_param(&q, 0, "%%");
    sh_filter_sql_deinit(&q);
    q = expect_sql("title ~ body",
                   "\"posts\".\"title\" LIKE ('%' || \"posts\".\"body\" || '%') ESCAPE '\\'");
    assert_int_equal(q.nparams, 0);
    sh_filter_sql_deinit(&q);
}

static void test_filter_compile_multi(void **state)
{
    (void)state;
    struct sh_filter_sql q =
        expect_sql("tags ?= 'a'",
                   "EXISTS (SELECT 1 FROM " SRC("\"posts\".\"tags\"") " AS \"__j1\" WHERE "
                                                                      "\"__j1\".\"value\" = ?)");
    assert_text_param(&q, 0, "a");
    sh_filter_sql_deinit(&q);
    q = expect_sql("tags = 'a'", "NOT EXISTS (SELECT 1 FROM " SRC(
                                     "\"posts\".\"tags\"") " AS \"__j1\" WHERE NOT "
                                                           "COALESCE(\"__j1\".\"value\" = ?, 0))");
    sh_filter_sql_deinit(&q);
    q = expect_sql("'a' ?!= tags",
                   "EXISTS (SELECT 1 FROM " SRC("\"posts\".\"tags\"") " AS \"__j1\" WHERE ? IS "
                                                                      "NOT \"__j1\".\"value\")");
    sh_filter_sql_deinit(&q);
    q = expect_sql("tags:length > 1",
                   "json_array_length(CASE WHEN json_valid(\"posts\".\"tags\") IS 1 THEN "
                   "\"posts\".\"tags\" ELSE '[]' END) > ?");
    sh_filter_sql_deinit(&q);
    q = expect_sql("title ?= 'a'", "\"posts\".\"title\" = ?"); /* single value: ?op = op */
    sh_filter_sql_deinit(&q);
    q = expect_sql(
        "tags ?~ 'x' || tags ?= editors",
        "(EXISTS (SELECT 1 FROM " SRC(
            "\"posts\".\"tags\"") " AS \"__j1\" WHERE "
                                  "\"__j1\".\"value\" LIKE ? ESCAPE '\\') OR EXISTS (SELECT 1 "
                                  "FROM " SRC("\"posts\".\"tags\"") " AS \"__j2\", " SRC(
                                      "\"posts\".\"editors\"") " AS "
                                                               "\"__j3\" WHERE "
                                                               "COALESCE(\"__j2\".\"value\", ?) = "
                                                               "COALESCE(\"__j3\".\"value\", "
                                                               "?)))");
    sh_filter_sql_deinit(&q);
}

static void test_filter_compile_relations(void **state)
{
    (void)state;
    struct sh_filter_sql q =
        expect_sql("author.name = 'ann'", "(SELECT \"__r1\".\"name\" FROM \"users\" AS \"__r1\" "
                                          "WHERE \"__r1\".\"id\" = \"posts\".\"author\") = ?");
    sh_filter_sql_deinit(&q);
    q = expect_sql("author.org.name ~ 'acme'",
                   "(SELECT \"__r2\".\"name\" FROM \"users\" AS \"__r1\" LEFT JOIN \"orgs\" AS "
                   "\"__r2\" ON \"__r2\".\"id\" = \"__r1\".\"org\" WHERE \"__r1\".\"id\" = "
                   "\"posts\".\"author\") LIKE ? ESCAPE '\\'");
    sh_filter_sql_deinit(&q);
    q = expect_sql("editors.name ?= 'bob'",
                   "EXISTS (SELECT 1 FROM " SRC(
                       "\"posts\".\"editors\"") " AS \"__j1\" LEFT JOIN "
                                                "\"users\" AS \"__r2\" ON \"__r2\".\"id\" = "
                                                "\"__j1\".\"value\" WHERE "
                                                "\"__r2\".\"name\" = ?)");
    sh_filter_sql_deinit(&q);
    q = expect_sql("author.roles ?= 'admin'",
                   "EXISTS (SELECT 1 FROM (SELECT 1) LEFT JOIN \"users\" AS \"__r1\" ON "
                   "\"__r1\".\"id\" = \"posts\".\"author\" JOIN " SRC(
                       "\"__r1\".\"roles\"") " AS "
                                             "\"__j2\" WHERE \"__j2\".\"value\" = ?)");
    sh_filter_sql_deinit(&q);
    q = expect_sql("data.a.0 = 1", "json_extract(\"posts\".\"data\", ?) = ?");
    assert_text_param(&q, 0, "$.\"a\"[0]");
    assert_int_param(&q, 1, 1);
    sh_filter_sql_deinit(&q);
    q = expect_sql("title:lower = 'abc'", "LOWER(\"posts\".\"title\") = ?");
    sh_filter_sql_deinit(&q);
    q = expect_sql("parent.parent.author.org.name:lower = 'x'",
                   "(SELECT LOWER(\"__r4\".\"name\") FROM \"posts\" AS \"__r1\" LEFT JOIN "
                   "\"posts\" AS \"__r2\" ON \"__r2\".\"id\" = \"__r1\".\"parent\" LEFT JOIN "
                   "\"users\" AS \"__r3\" ON \"__r3\".\"id\" = \"__r2\".\"author\" LEFT JOIN "
                   "\"orgs\" AS \"__r4\" ON \"__r4\".\"id\" = \"__r3\".\"org\" WHERE "
                   "\"__r1\".\"id\" = \"posts\".\"parent\") = ?");
    sh_filter_sql_deinit(&q);
}

static void test_filter_compile_alias(void **state)
{
    (void)state;
    struct sh_filter_schema s = fixture_posts;
    s.alias = "p";
    struct sh_filter *f;
    struct sh_filter_error err;
    struct sh_filter_sql q;
    assert_int_equal(sh_filter_parse("title = 'x'", 11, &f, &err), 0);
    assert_int_equal(sh_filter_compile(f, &s, NULL, &q, &err), 0);
    assert_string_equal(q.sql, "\"p\".\"title\" = ?");
    sh_filter_sql_deinit(&q);
    s.alias = "p; DROP TABLE x";
    assert_int_equal(sh_filter_compile(f, &s, NULL, &q, &err), SH_EINVAL);
    assert_string_equal(err.message, "Invalid filter: unknown collection.");
    sh_filter_free(f);
}

static void test_filter_compile_macros(void **state)
{
    (void)state;
    cJSON *auth = cJSON_Parse("{\"id\":\"u1\",\"org\":\"o1\",\"age\":30,\"ok\":true,"
                              "\"ratio\":0.5,\"meta\":{\"k\":\"v\"},\"roles\":[\"a\",\"b\"]}");
    cJSON *body = cJSON_Parse("{\"title\":\"t\",\"tags\":[\"x\"],\"none\":[],\"n\":null}");
    cJSON *query = cJSON_Parse("{\"q\":\"search\"}");
    cJSON *headers = cJSON_Parse("{\"x_token\":\"abc\"}");
    struct sh_filter_ctx ctx = {.auth = auth,
                                .auth_schema = &fixture_users,
                                .body = body,
                                .query = query,
                                .headers = headers,
                                .method = "PATCH",
                                .context = "default",
                                .now_ms = FIXTURE_NOW_MS};

    struct sh_filter_sql q = expect_sql_ctx("@request.auth.id != '' && author = @request.auth.id",
                                            &ctx, "(? IS NOT ? AND \"posts\".\"author\" = ?)");
    assert_text_param(&q, 0, "u1");
    assert_text_param(&q, 2, "u1");
    sh_filter_sql_deinit(&q);

    q = expect_sql_ctx("@request.auth.age = 30 && @request.auth.ok = true && "
                       "@request.auth.ratio < 1 && @request.auth.meta.k = 'v' && "
                       "@request.auth.missing = ''",
                       &ctx, "(? = ? AND ? = ? AND ? < ? AND ? = ? AND 1)");
    assert_int_param(&q, 0, 30);
    assert_int_param(&q, 2, 1);
    assert_int_equal(q.params[4].type, SH_FILTER_PARAM_DOUBLE);
    assert_text_param(&q, 6, "v");
    sh_filter_sql_deinit(&q);

    q = expect_sql_ctx("@request.auth.org.name = 'Acme'", &ctx,
                       "(SELECT \"__r1\".\"name\" FROM \"orgs\" AS \"__r1\" WHERE \"__r1\".\"id\" "
                       "= ?) = ?");
    assert_text_param(&q, 0, "o1");
    sh_filter_sql_deinit(&q);

    q = expect_sql_ctx("@request.auth.roles ?= 'a'", &ctx,
                       "EXISTS (SELECT 1 FROM " SRC("?") " AS \"__j1\" WHERE \"__j1\".\"value\" = "
                                                         "?)");
    assert_int_equal(q.nparams, 4);
    assert_text_param(&q, 0, "[\"a\",\"b\"]");
    sh_filter_sql_deinit(&q);

    q = expect_sql_ctx("@request.body.title:isset = true && @request.body.nope:isset = false && "
                       "@request.body.tags:length = 1 && @request.body.n:isset = true",
                       &ctx, "(? = ? AND ? = ? AND ? = ? AND ? = ?)");
    assert_int_param(&q, 0, 1);
    assert_int_param(&q, 2, 0);
    assert_int_param(&q, 4, 1);
    assert_int_param(&q, 6, 1);
    sh_filter_sql_deinit(&q);

    q = expect_sql_ctx("@request.body.none ?= tags", &ctx,
                       "EXISTS (SELECT 1 FROM " SRC("?") " AS \"__j1\", " SRC(
                           "\"posts\".\"tags\"") " AS \"__j2\" WHERE "
                                                 "COALESCE(\"__j1\".\"value\", ?) = "
                                                 "COALESCE(\"__j2\".\"value\", ?))");
    assert_text_param(&q, 0, "[]"); /* SRC() reads an empty array as one NULL element */
    sh_filter_sql_deinit(&q);

    q = expect_sql_ctx("@request.method = 'PATCH' && @request.context = 'default' && "
                       "@request.query.q = 'search' && @request.headers.x_token = 'abc' && "
                       "@request.query.nope = null",
                       &ctx, "(? = ? AND ? = ? AND ? = ? AND ? = ? AND 1)");
    assert_text_param(&q, 0, "PATCH");
    assert_text_param(&q, 2, "default");
    assert_text_param(&q, 4, "search");
    assert_text_param(&q, 6, "abc");
    sh_filter_sql_deinit(&q);

    /* A string is not something to traverse into. */
    cJSON *plain = cJSON_Parse("{\"id\":\"u1\",\"org\":\"o1\"}");
    struct sh_filter_ctx noschema = {.auth = plain};
    struct sh_filter_error err;
    assert_int_equal(compile_ctx("@request.auth.org.name = 'x'", &noschema, &q, &err), SH_EINVAL);
    assert_string_equal(err.message, "Invalid filter: cannot resolve \"@request.auth.org.name\".");
    assert_int_equal(compile_ctx("@request.auth.org.nope = 'x'", &ctx, &q, &err), SH_EINVAL);
    assert_string_equal(err.message, "Invalid filter: unknown field \"@request.auth.org.nope\".");

    cJSON_Delete(plain);
    cJSON_Delete(auth);
    cJSON_Delete(body);
    cJSON_Delete(query);
    cJSON_Delete(headers);
}

static void test_filter_compile_guest(void **state)
{
    (void)state;
    struct sh_filter_ctx guest = {.auth_schema = &fixture_users, .now_ms = FIXTURE_NOW_MS};
    struct sh_filter_sql q =
        expect_sql_ctx("@request.auth.id != '' && author = @request.auth.id", &guest,
                       "(0 AND (\"posts\".\"author\" = ? OR \"posts\".\"author\" IS NULL))");
    sh_filter_sql_deinit(&q);
    q = expect_sql_ctx("@request.auth.org.name = 'x' || @request.method = ''", &guest,
                       "(? = ? OR 1)");
    assert_int_equal(q.params[0].type, SH_FILTER_PARAM_NULL);
    sh_filter_sql_deinit(&q);
}

static void check_dates(int64_t now, const char *const *want_text, const int64_t *want_int)
{
    struct sh_filter_ctx ctx = {.now_ms = now};
    struct sh_filter_sql q;
    struct sh_filter_error err;
    const char *text =
        "@now = 1 || @yesterday = 1 || @tomorrow = 1 || @todayStart = 1 || @todayEnd = 1 || "
        "@monthStart = 1 || @monthEnd = 1 || @yearStart = 1 || @yearEnd = 1 || @second = 1 || "
        "@minute = 1 || @hour = 1 || @weekday = 1 || @day = 1 || @month = 1 || @year = 1";
    assert_int_equal(compile_ctx(text, &ctx, &q, &err), 0);
    assert_int_equal(q.nparams, 32);
    for (size_t i = 0; i < 9; i++)
        assert_text_param(&q, 2 * i, want_text[i]);
    for (size_t i = 0; i < 7; i++)
        assert_int_param(&q, 18 + 2 * i, want_int[i]);
    sh_filter_sql_deinit(&q);
}

static void test_filter_compile_dates(void **state)
{
    (void)state;
    static const char *const june[] = {
        "2024-06-15 12:00:01.234Z", "2024-06-14 12:00:01.234Z", "2024-06-16 12:00:01.234Z",
        "2024-06-15 00:00:00.000Z", "2024-06-15 23:59:59.999Z", "2024-06-01 00:00:00.000Z",
        "2024-06-30 23:59:59.999Z", "2024-01-01 00:00:00.000Z", "2024-12-31 23:59:59.999Z"};
    static const int64_t june_i[] = {1, 0, 12, 6 /* Saturday */, 15, 6, 2024};
    check_dates(FIXTURE_NOW_MS + 1234, june, june_i);

    static const char *const leap[] = {
        "2024-02-29 23:59:59.999Z", "2024-02-28 23:59:59.999Z", "2024-03-01 23:59:59.999Z",
        "2024-02-29 00:00:00.000Z", "2024-02-29 23:59:59.999Z", "2024-02-01 00:00:00.000Z",
        "2024-02-29 23:59:59.999Z", "2024-01-01 00:00:00.000Z", "2024-12-31 23:59:59.999Z"};
    static const int64_t leap_i[] = {59, 59, 23, 4 /* Thursday */, 29, 2, 2024};
    check_dates(INT64_C(1709251199999), leap, leap_i);

    static const char *const before[] = {
        "1969-12-31 23:59:59.999Z", "1969-12-30 23:59:59.999Z", "1970-01-01 23:59:59.999Z",
        "1969-12-31 00:00:00.000Z", "1969-12-31 23:59:59.999Z", "1969-12-01 00:00:00.000Z",
        "1969-12-31 23:59:59.999Z", "1969-01-01 00:00:00.000Z", "1969-12-31 23:59:59.999Z"};
    static const int64_t before_i[] = {59, 59, 23, 3 /* Wednesday */, 31, 12, 1969};
    check_dates(-1, before, before_i);
}

/* ---- compile-time errors ---- */

static void test_filter_compile_errors(void **state)
{
    (void)state;
    expect_error("foo = 1", "Invalid filter: unknown field \"foo\".");
    expect_error("title = 1 && foo.bar = 2", "Invalid filter: unknown field \"foo\".");
    expect_error("author.nope = 1", "Invalid filter: unknown field \"author.nope\".");
    expect_error("title.x = 1", "Invalid filter: not a relation field \"title\".");
    expect_error("secret = 1", "Invalid filter: cannot use field \"secret\".");
    expect_error("password != ''", "Invalid filter: cannot use field \"password\".");
    expect_error("author.org.name.x = 1",
                 "Invalid filter: not a relation field \"author.org.name\".");
    expect_error("ghost.name = 1", "Invalid filter: unknown relation \"ghost\".");
    expect_error("title:length > 1",
                 "Invalid filter: :length needs a multi-valued field, not \"title\".");
    expect_error("parent.parent.parent.parent.parent.parent.parent.title = 1",
                 "Invalid filter: too many relation levels in "
                 "\"parent.parent.parent.parent.parent.parent.parent\".");
    /* Six hops are allowed. */
    struct sh_filter_sql q;
    struct sh_filter_error err;
    assert_int_equal(
        compile_ctx("parent.parent.parent.parent.parent.parent.title = 1", NULL, &q, &err), 0);
    sh_filter_sql_deinit(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_compile_equality),
        cmocka_unit_test(test_filter_compile_logic),
        cmocka_unit_test(test_filter_compile_like),
        cmocka_unit_test(test_filter_compile_multi),
        cmocka_unit_test(test_filter_compile_relations),
        cmocka_unit_test(test_filter_compile_alias),
        cmocka_unit_test(test_filter_compile_macros),
        cmocka_unit_test(test_filter_compile_guest),
        cmocka_unit_test(test_filter_compile_dates),
        cmocka_unit_test(test_filter_compile_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
