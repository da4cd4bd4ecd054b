/*
 * Unit tests of the sort= compiler: the ORDER BY text it writes, its errors
 * and limits, and the order SQLite returns rows in when the text is used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "filter_fixture.h"
#include "stagehand/core.h"

static void expect_sort(const char *text, const char *sql, size_t nparams)
{
    struct sh_filter_sql q;
    struct sh_filter_error err = {0};
    if (sh_sort_compile(text, strlen(text), &fixture_posts, &q, &err) != 0)
        fail_msg("%s: %s", text, err.message);
    assert_string_equal(q.sql ? q.sql : "", sql);
    assert_int_equal(q.nparams, nparams);
    sh_filter_sql_deinit(&q);
}

static void expect_sort_error(const char *text, const char *message)
{
    struct sh_filter_sql q;
    struct sh_filter_error err = {0};
    assert_int_equal(sh_sort_compile(text, strlen(text), &fixture_posts, &q, &err), SH_EINVAL);
    assert_null(q.sql);
    assert_string_equal(err.message, message);
}

static void test_sort_compile_terms(void **state)
{
    (void)state;
    expect_sort("-created,title", "\"posts\".\"created\" DESC, \"posts\".\"title\" ASC", 0);
    expect_sort("+views", "\"posts\".\"views\" ASC", 0);
    expect_sort("@random", "RANDOM()", 0);
    expect_sort("-@rowid", "\"posts\".rowid DESC", 0);
    expect_sort(" title , ,-id, ", "\"posts\".\"title\" ASC, \"posts\".\"id\" DESC", 0);
    expect_sort("", "", 0);
    expect_sort("-author.name",
                "(SELECT \"__r1\".\"name\" FROM \"users\" AS \"__r1\" WHERE \"__r1\".\"id\" = "
                "\"posts\".\"author\") DESC",
                0);
    expect_sort("data.a.0", "json_extract(\"posts\".\"data\", ?) ASC", 1);
    expect_sort("title:lower,tags:length",
                "LOWER(\"posts\".\"title\") ASC, json_array_length(CASE WHEN "
                "json_valid(\"posts\".\"tags\") IS 1 THEN \"posts\".\"tags\" ELSE '[]' END) ASC",
                0);
    expect_sort(
        "id,id,id,id,id,id,id,id",
        "\"posts\".\"id\" ASC, \"posts\".\"id\" ASC, \"posts\".\"id\" ASC, \"posts\".\"id\" "
        "ASC, \"posts\".\"id\" ASC, \"posts\".\"id\" ASC, \"posts\".\"id\" ASC, "
        "\"posts\".\"id\" ASC",
        0);
}

static void test_sort_compile_errors(void **state)
{
    (void)state;
    expect_sort_error("id,id,id,id,id,id,id,id,id", "Invalid sort: too many terms (max 8).");
    expect_sort_error("-nope", "Invalid sort: unknown field \"nope\".");
    expect_sort_error("title,author.nope", "Invalid sort: unknown field \"author.nope\".");
    expect_sort_error("tags", "Invalid sort: cannot sort by multi-valued \"tags\".");
    expect_sort_error("editors.name",
                      "Invalid sort: cannot sort by multi-valued \"editors.name\".");
    expect_sort_error("secret", "Invalid sort: cannot use field \"secret\".");
    expect_sort_error("title; DROP TABLE posts", "Invalid sort: bad term at offset 0.");
    expect_sort_error("title,'x'", "Invalid sort: bad term at offset 6.");
    expect_sort_error("title DESC", "Invalid sort: bad term at offset 0.");
    expect_sort_error("--title", "Invalid sort: bad term at offset 1.");
    expect_sort_error("@request.auth.id", "Invalid sort: bad term at offset 0.");
    expect_sort_error("title = 1 || id", "Invalid sort: bad term at offset 0.");
    expect_sort_error("title // x", "Invalid sort: bad term at offset 0.");
    expect_sort_error("title =1 //", "Invalid sort: bad term at offset 0.");
    expect_sort_error("title:isset", "Invalid sort: bad term at offset 0.");
    expect_sort_error("@nope", "Invalid sort: bad term at offset 0.");
    expect_sort_error("ti\xff", "Invalid sort: invalid character at offset 2.");

    char big[SH_FILTER_MAX_LEN + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_sort_error(big, "Invalid sort: too long (max 3500 characters).");
}

static void test_sort_exec_order(void **state)
{
    (void)state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, fixture_sql, NULL, NULL, NULL), SQLITE_OK);
    static const struct {
        const char *sort, *ids;
    } cases[] = {
        {"-views,id", "p4,p1,p6,p2,p5,p3"},
        {"author.name,-id", "p4,p3,p5,p1,p2,p6"},
        {"-data.a.0,id", "p4,p1,p2,p3,p5,p6"},
        {"published,-created", "p6,p3,p2,p5,p4,p1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sh_filter_sql q;
        struct sh_filter_error err;
        assert_int_equal(
            sh_sort_compile(cases[i].sort, strlen(cases[i].sort), &fixture_posts, &q, &err), 0);
        char *sql = sqlite3_mprintf("SELECT id FROM posts ORDER BY %s", q.sql);
        sqlite3_stmt *stmt;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
        assert_int_equal(sh_filter_sql_bind(&q, stmt, 1), SQLITE_OK);
        char ids[64] = "";
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            if (ids[0])
                strcat(ids, ",");
            strcat(ids, (const char *)sqlite3_column_text(stmt, 0));
        }
        assert_string_equal(ids, cases[i].ids);
        sqlite3_finalize(stmt);
        sqlite3_free(sql);
        sh_filter_sql_deinit(&q);
    }
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_compile_terms),
        cmocka_unit_test(test_sort_compile_errors),
        cmocka_unit_test(test_sort_exec_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
