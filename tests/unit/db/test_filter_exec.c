/*
 * Execution tests of the filter compiler: compiled filters run against a real
 * in-memory SQLite database (filter_fixture.h) and must select the expected
 * rows: LIKE with `%`, `_` and `\` in the data, `= ""` matching NULL, any/all
 * over JSON array columns, relation subqueries (also self-relations and
 * several hops), @request values and date macros. Random filters must always
 * compile to SQL that SQLite accepts and runs.
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
#include <sqlite3.h>

#include "filter_fixture.h"
#include "stagehand/core.h"

static int setup(void **state)
{
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return -1;
    char *msg = NULL;
    if (sqlite3_exec(db, fixture_sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "fixture: %s\n", msg);
        sqlite3_free(msg);
        sqlite3_close(db);
        return -1;
    }
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    sqlite3_close(*state);
    return 0;
}

/* Runs `SELECT id FROM posts WHERE <filter> ORDER BY id` and returns the ids
 * joined by commas (static buffer), or NULL if SQLite refused the SQL. */
static const char *run(sqlite3 *db, const char *filter, const struct sh_filter_ctx *ctx)
{
    static char ids[256];
    struct sh_filter *f;
    struct sh_filter_error err;
    struct sh_filter_sql q;
    if (sh_filter_parse(filter, strlen(filter), &f, &err) != 0)
        fail_msg("parse %s: %s", filter, err.message);
    if (sh_filter_compile(f, &fixture_posts, ctx, &q, &err) != 0)
        fail_msg("compile %s: %s", filter, err.message);
    sh_filter_free(f);

    char *sql = sqlite3_mprintf("SELECT id FROM posts WHERE %s ORDER BY id", q.sql);
    sqlite3_stmt *stmt = NULL;
    const char *result = ids;
    ids[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare: %s\n  %s\n", sqlite3_errmsg(db), sql);
        result = NULL;
        goto done;
    }
    assert_int_equal(sqlite3_bind_parameter_count(stmt), (int)q.nparams);
    assert_int_equal(sh_filter_sql_bind(&q, stmt, 1), SQLITE_OK);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (ids[0])
            strcat(ids, ",");
        strcat(ids, (const char *)sqlite3_column_text(stmt, 0));
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "step: %s\n  %s\n", sqlite3_errmsg(db), sql);
        result = NULL;
    }
done:
    sqlite3_finalize(stmt);
    sqlite3_free(sql);
    sh_filter_sql_deinit(&q);
    return result;
}

#define EXPECT(db, filter, ctx, want)                                                              \
    do {                                                                                           \
        const char *got_ = run((db), (filter), (ctx));                                             \
        assert_non_null(got_);                                                                     \
        if (strcmp(got_, (want)) != 0)                                                             \
            fail_msg("%s: got \"%s\", want \"%s\"", (filter), got_, (want));                       \
    } while (0)

static void test_filter_exec_basic(void **state)
{
    sqlite3 *db = *state;
    EXPECT(db, "", NULL, "p1,p2,p3,p4,p5,p6");
    EXPECT(db, "views >= 7 && published = true", NULL, "p1,p4");
    EXPECT(db, "views > 5 || title = 'a_b'", NULL, "p1,p2,p4,p6");
    EXPECT(db, "(views > 5 || title = 'a_b') && views < 10", NULL, "p2,p6");
    EXPECT(db, "id = 'p3' || id = \"p5\"", NULL, "p3,p5");
    EXPECT(db, "title != 'a_b'", NULL, "p1,p3,p4,p5,p6"); /* NULL-safe: p3 too */
    EXPECT(db, "title = body", NULL, "p2,p3");            /* NULL = NULL too */
    EXPECT(db, "title != body", NULL, "p1,p4,p5,p6");
    EXPECT(db, "created > '2024-06-15'", NULL, "p2,p3,p6");
    EXPECT(db, "1 = 2", NULL, "");
}

static void test_filter_exec_empty_is_null(void **state)
{
    sqlite3 *db = *state;
    EXPECT(db, "title = ''", NULL, "p3,p4");
    EXPECT(db, "title = null", NULL, "p3,p4");
    EXPECT(db, "title != \"\"", NULL, "p1,p2,p5,p6");
    EXPECT(db, "body = ''", NULL, "p3,p6");
    EXPECT(db, "'' = data", NULL, "p2,p3,p5,p6");
}

static void test_filter_exec_like(void **state)
{
    sqlite3 *db = *state;
    EXPECT(db, "title ~ 'a_b'", NULL, "p2");     /* `_` is literal */
    EXPECT(db, "title ~ 'a_b%'", NULL, "p2,p5"); /* a pattern: `_` is a wildcard */
    EXPECT(db, "title ~ '0%'", NULL, "");        /* a pattern: starts with 0 */
    EXPECT(db, "title ~ '100%'", NULL, "p1");    /* starts with 100 */
    EXPECT(db, "title ~ '0\\%'", NULL, "");      /* literal "0\%" */
    EXPECT(db, "title ~ '\\\\'", NULL, "p6");    /* a backslash */
    EXPECT(db, "title ~ '%\\%%'", NULL, "p1");   /* pattern with an escaped % */
    EXPECT(db, "title ~ 'REAL'", NULL, "p1");    /* case-insensitive */
    EXPECT(db, "title !~ 'b'", NULL, "p1,p4");   /* NULL is neither */
    EXPECT(db, "title ~ body", NULL, "p2");      /* '%' || body || '%' */
    EXPECT(db, "title ~ 100", NULL, "p1");
}

static void test_filter_exec_multi(void **state)
{
    sqlite3 *db = *state;
    EXPECT(db, "tags ?= 'a'", NULL, "p1,p5");
    EXPECT(db, "tags = 'a'", NULL, "p5"); /* every element */
    EXPECT(db, "tags ?!= 'a'", NULL, "p1,p2,p3,p4,p6");
    EXPECT(db, "tags != 'a'", NULL, "p2,p3,p4,p6");
    EXPECT(db, "tags = ''", NULL, "p2,p3,p6"); /* [], NULL and malformed: no items */
    EXPECT(db, "tags != ''", NULL, "p1,p4,p5");
    EXPECT(db, "tags ?~ 'B'", NULL, "p1,p4");
    EXPECT(db, "tags:length = 0", NULL, "p2,p3,p6");
    EXPECT(db, "tags:length >= 2", NULL, "p1");
    EXPECT(db, "'b' ?= tags", NULL, "p1,p4");
}

static void test_filter_exec_relations(void **state)
{
    sqlite3 *db = *state;
    EXPECT(db, "author.name = 'ann'", NULL, "p1,p5");
    EXPECT(db, "author.name = ''", NULL, "p3,p4"); /* no author, missing author */
    EXPECT(db, "author.org.name ~ 'acme'", NULL, "p1,p5");
    EXPECT(db, "author.roles ?= 'admin'", NULL, "p1,p5");
    EXPECT(db, "author.roles = ''", NULL, "p2,p3,p4,p6");
    EXPECT(db, "editors.name ?= 'cy'", NULL, "p1");
    EXPECT(db, "editors.name = 'ann'", NULL, "p4,p5");
    EXPECT(db, "editors.name ?= ''", NULL, "p2,p3,p6");
    EXPECT(db, "editors ?= 'u1'", NULL, "p4,p5");
    EXPECT(db, "editors.org.name ?= 'Acme'", NULL, "p4,p5");
    EXPECT(db, "parent.title = '100% real'", NULL, "p2,p4"); /* self-relation */
    EXPECT(db, "parent.parent.title = '100% real'", NULL, "p3");
    EXPECT(db, "parent.author.name = 'ann' && author.name = 'bob'", NULL, "p2");
    EXPECT(db, "data.a.0 = 3 || data.a.1 = 2", NULL, "p1,p4");
}

static void test_filter_exec_request(void **state)
{
    sqlite3 *db = *state;
    cJSON *auth = cJSON_Parse("{\"id\":\"u1\",\"org\":\"o1\",\"roles\":[\"admin\"]}");
    cJSON *body = cJSON_Parse("{\"tags\":[\"b\",\"z\"],\"title\":\"a_b\"}");
    struct sh_filter_ctx user = {.auth = auth, .auth_schema = &fixture_users, .body = body};
    struct sh_filter_ctx guest = {.auth_schema = &fixture_users, .body = body};
    const char *rule = "@request.auth.id != '' && author = @request.auth.id";
    EXPECT(db, rule, &user, "p1,p5");
    EXPECT(db, rule, &guest, "");
    EXPECT(db, "author = @request.auth.id", &guest, "p3"); /* why rules check id != '' */
    EXPECT(db, "@request.auth.org.name = 'Acme' && views > 9", &user, "p1,p4");
    EXPECT(db, "@request.auth.org.name = 'Acme'", &guest, "");
    EXPECT(db, "@request.auth.roles ?= 'admin' && id = 'p1'", &user, "p1");
    EXPECT(db, "editors ?= @request.auth.id", &user, "p4,p5");
    EXPECT(db, "@request.body.tags ?= tags", &user, "p1,p4");
    EXPECT(db, "@request.body.tags = 'b'", &user, ""); /* not every item is b */
    EXPECT(db, "title = @request.body.title && @request.body.title:isset = true", &user, "p2");
    EXPECT(db, "@request.body.nope:isset = true", &user, "");

    struct sh_filter_ctx clock = {.now_ms = FIXTURE_NOW_MS};
    EXPECT(db, "created >= @todayStart && created <= @todayEnd", &clock, "p2,p3");
    EXPECT(db, "created < @now", &clock, "p1,p2,p4,p5");
    EXPECT(db, "created >= @yearStart", &clock, "p1,p2,p3,p4,p6");
    cJSON_Delete(auth);
    cJSON_Delete(body);
}

static void test_filter_exec_hostile(void **state)
{
    sqlite3 *db = *state;
    EXPECT(db, "title = \"' OR 1=1 --\"", NULL, "");
    EXPECT(db, "title = '\\'; DROP TABLE posts; --'", NULL, "");
    EXPECT(db, "title ~ \"%' OR '1'='1\"", NULL, "");
    EXPECT(db, "title != \"x\\\" OR \\\"\\\"=\\\"\"", NULL, "p1,p2,p3,p4,p5,p6");
    EXPECT(db, "", NULL, "p1,p2,p3,p4,p5,p6"); /* the table is still there */
}

/* Random well-formed filters over every kind of operand must all be valid
 * SQL for SQLite, with the right number of parameters. */
static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static void test_filter_exec_random(void **state)
{
    sqlite3 *db = *state;
    static const char *const operands[] = {"title",
                                           "tags",
                                           "author.name",
                                           "editors.name",
                                           "data.a.1",
                                           "@request.auth.id",
                                           "@request.body.tags:isset",
                                           "@request.body.tags",
                                           "tags:length",
                                           "'x'",
                                           "''",
                                           "'%_\\\\'",
                                           "12",
                                           "-3.5",
                                           "null",
                                           "true",
                                           "parent.parent.title",
                                           "author.org.name",
                                           "@now",
                                           "author.roles",
                                           "@request.auth.org.name",
                                           "title:lower",
                                           "editors",
                                           "@request.auth.roles",
                                           "editors.roles:length",
                                           "parent.editors.org.name",
                                           "@request.query.q",
                                           "views"};
    static const char *const ops[] = {"=",  "!=",  "~",  "!~",  ">",  ">=",  "<",  "<=",
                                      "?=", "?!=", "?~", "?!~", "?>", "?>=", "?<", "?<="};
    cJSON *auth = cJSON_Parse("{\"id\":\"u1\",\"org\":\"o1\",\"roles\":[\"admin\",\"x\"]}");
    cJSON *body = cJSON_Parse("{\"tags\":[\"b\",\"z\"]}");
    cJSON *query = cJSON_Parse("{\"q\":\"a\"}");
    struct sh_filter_ctx ctx = {
        .auth = auth, .auth_schema = &fixture_users, .body = body, .query = query, .now_ms = 1};
    uint64_t x = 0x2545f4914f6cdd1du;
    for (int iter = 0; iter < 3000; iter++) {
        char text[1024];
        size_t n = 0;
        int terms = 1 + (int)(rnd(&x) % 5), open = 0;
        for (int k = 0; k < terms; k++) {
            const char *parts[6];
            size_t np = 0;
            if (k > 0)
                parts[np++] = rnd(&x) % 2 ? "&&" : "||";
            if (rnd(&x) % 3 == 0)
                parts[np++] = "(", open++;
            parts[np++] = operands[rnd(&x) % (sizeof(operands) / sizeof(operands[0]))];
            parts[np++] = ops[rnd(&x) % (sizeof(ops) / sizeof(ops[0]))];
            parts[np++] = operands[rnd(&x) % (sizeof(operands) / sizeof(operands[0]))];
            if (open > 0 && rnd(&x) % 2 == 0)
                parts[np++] = ")", open--;
            for (size_t i = 0; i < np; i++) {
                size_t an = strlen(parts[i]);
                memcpy(text + n, parts[i], an);
                n += an;
                text[n++] = ' ';
            }
        }
        while (open-- > 0)
            text[n++] = ')';
        text[n] = '\0';
        if (!run(db, text, (rnd(&x) & 1) ? &ctx : NULL))
            fail_msg("SQLite refused the SQL compiled from: %s", text);
    }
    cJSON_Delete(auth);
    cJSON_Delete(body);
    cJSON_Delete(query);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_filter_exec_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_exec_empty_is_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_exec_like, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_exec_multi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_exec_relations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_exec_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_exec_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_exec_random, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
