/*
 * The types of a view's computed columns inferred from the query's text
 * (src/db/schema/view_types.c): counts, sums, comparisons and arithmetic
 * are numbers, `||` and text functions are text, casts follow SQLite's
 * affinity, subqueries, CASE and unknown calls stay json (NULL); the
 * outermost SELECT's columns are found past CTEs, strings, quoted names and
 * comments, and a `*` or a column count that does not match gives up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "schema_int.h"

/* The types of query's n columns joined by commas ("-" for json), or
 * "FAIL" when the columns could not be matched. */
static const char *types_of(const char *query, int n)
{
    static char out[512];
    const char *t[16];
    assert_true(n <= 16);
    bool ok = sh__view_column_types(query, n, t);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!ok)
            assert_null(t[i]);
        strcat(out, i ? "," : "");
        strcat(out, t[i] ? t[i] : "-");
    }
    return ok ? out : "FAIL";
}

#define TYPES(query, n, want) assert_string_equal(types_of((query), (n)), (want))

static void test_view_types_expressions(void **state)
{
    (void)state;
    TYPES("SELECT id, count(*) AS n, sum(score) s, avg(score) AS a, total(x) AS t FROM p", 5,
          "-,number,number,number,number");
    TYPES("SELECT id, title || '!' AS t, upper(title) AS u, group_concat(tag, ',') AS g FROM p", 4,
          "-,text,text,text");
    TYPES("SELECT id, score > 2 AS big, title = 'x' AS eq, score BETWEEN 1 AND 3 AS mid,"
          " title LIKE 'a%' AS l, tag IN ('a','b') AS i, x IS NULL AS z, NOT draft AS nd,"
          " EXISTS (SELECT 1 FROM q) AS e FROM p",
          9, "-,number,number,number,number,number,number,number,number");
    TYPES("SELECT id, score * 2 AS d, -score AS neg, score % 3 AS m, 42 AS k, 'x' AS s,"
          " TRUE AS yes, NULL AS nothing FROM p",
          8, "-,number,number,number,number,text,bool,-");
    /* comparison binds looser than ||: a || b = c is a comparison */
    TYPES("SELECT id, a || b = c AS x FROM p", 2, "-,number");
    TYPES("SELECT id, CAST(score AS INTEGER) AS i, cast(x as real) AS r, CAST(y AS TEXT) AS t,"
          " CAST(z AS VARCHAR(10)) AS v, CAST(b AS BOOLEAN) AS b, CAST(c AS BLOB) AS c FROM p",
          7, "-,number,number,text,text,bool,-");
    /* unknown: a subquery, CASE, min/max/coalesce, JSON arrows, a column of a subquery */
    TYPES("SELECT id, (SELECT count(*) FROM q WHERE q.p = p.id) AS n,"
          " CASE WHEN score > 1 THEN 'a' ELSE 'b' END AS c, max(score) AS m,"
          " coalesce(x, 0) AS co, data->>'$.a' AS j, x.n AS xn FROM p",
          7, "-,-,-,-,-,-,-");
    /* parentheses, window and filter clauses, a call after an arithmetic */
    TYPES("SELECT id, (count(*)) AS n, row_number() OVER (ORDER BY id) AS r,"
          " count(*) FILTER (WHERE draft) AS d, length(title) + 1 AS l FROM p",
          5, "-,number,number,number,number");
}

static void test_view_types_columns(void **state)
{
    (void)state;
    /* CTEs, strings with commas and keywords, comments, quoted names */
    TYPES("WITH c(a, b) AS (SELECT 1, 'x, FROM y') SELECT id, /* , */ count(*) AS \"n, m\" -- ,\n"
          ", 'FROM, ' || x AS [weird name] FROM c GROUP BY id",
          3, "-,number,text");
    TYPES("SELECT DISTINCT id, count(*) AS n FROM p UNION SELECT id, 'x' FROM q", 2, "-,number");
    TYPES("select id, count(*) as n from p;", 2, "-,number");
    /* no alias given: the expression as a whole */
    TYPES("SELECT id, count(*) FROM p", 2, "-,number");
    /* give up: a star, a count that does not match */
    TYPES("SELECT *, count(*) AS n FROM p", 2, "FAIL");
    TYPES("SELECT p.*, count(*) AS n FROM p", 3, "FAIL");
    TYPES("SELECT id, count(*) AS n FROM p", 3, "FAIL");
    TYPES("SELECT id, count(*) AS n, x FROM p", 2, "FAIL");
    TYPES("VALUES (1, 2)", 2, "FAIL");
    TYPES("", 1, "FAIL");
    TYPES("SELECT", 1, "FAIL");
    TYPES("SELECT id, 'unterminated", 2, "-,text");
    TYPES("SELECT id, (((", 2, "-,-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_types_expressions),
        cmocka_unit_test(test_view_types_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
