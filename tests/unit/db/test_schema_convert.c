/*
 * Unit tests of the value conversions a migration applies when a kept
 * field's column type changes (text, number, bool, json, single and multi
 * select), executed against an in-memory SQLite database, and of the
 * migrations that are refused as a whole.
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

#include "stagehand/schema.h"

static struct sh_collection *parse(const char *json, const struct sh_collection *old)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        fail_msg("bad test JSON: %s", json);
    struct sh_collection *c = NULL;
    struct sh_schema_error err;
    if (sh_collection_parse(j, old, NULL, &c, &err))
        fail_msg("refused %s: %s", json, err.message);
    cJSON_Delete(j);
    return c;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char copy[512];
        snprintf(copy, sizeof(copy), "%s", msg ? msg : "?");
        sqlite3_free(msg);
        fail_msg("%s: %s", sql, copy);
    }
}

static void run(sqlite3 *db, struct sh_schema_sql *s)
{
    exec(db, "BEGIN");
    for (size_t i = 0; i < s->n; i++)
        exec(db, s->stmts[i]);
    exec(db, "COMMIT");
    sh_schema_sql_deinit(s);
}

/* quote() of column col for every row, by id, joined by '|'. */
static char *column(sqlite3 *db, const char *col)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT quote(\"%s\") FROM c ORDER BY id", col);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    static char out[1024];
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (out[0])
            strcat(out, "|");
        strncat(out, (const char *)sqlite3_column_text(st, 0), sizeof(out) - strlen(out) - 1);
    }
    sqlite3_finalize(st);
    return out;
}

static const char before[] =
    "{\"id\":\"cccccccccccccc1\",\"name\":\"c\",\"fields\":["
    "{\"name\":\"t2n\",\"type\":\"text\"},{\"name\":\"n2t\",\"type\":\"number\"},"
    "{\"name\":\"b2t\",\"type\":\"bool\"},{\"name\":\"j2t\",\"type\":\"json\"},"
    "{\"name\":\"s2m\",\"type\":\"select\",\"values\":[\"a\",\"b\"]},"
    "{\"name\":\"m2s\",\"type\":\"relation\",\"collectionId\":\"c\",\"maxSelect\":5},"
    "{\"name\":\"t2b\",\"type\":\"text\"},{\"name\":\"n2b\",\"type\":\"number\"},"
    "{\"name\":\"t2j\",\"type\":\"email\"},{\"name\":\"j2m\",\"type\":\"json\"},"
    "{\"name\":\"j2n\",\"type\":\"json\"},{\"name\":\"m2j\",\"type\":\"select\",\"values\":"
    "[\"a\",\"b\"],\"maxSelect\":2}]}";

static const char after[] =
    "{\"fields\":["
    "{\"name\":\"t2n\",\"type\":\"number\"},{\"name\":\"n2t\",\"type\":\"text\"},"
    "{\"name\":\"b2t\",\"type\":\"text\"},{\"name\":\"j2t\",\"type\":\"url\"},"
    "{\"name\":\"s2m\",\"type\":\"select\",\"values\":[\"a\",\"b\"],\"maxSelect\":2},"
    "{\"name\":\"m2s\",\"type\":\"relation\",\"collectionId\":\"c\",\"maxSelect\":1},"
    "{\"name\":\"t2b\",\"type\":\"bool\"},{\"name\":\"n2b\",\"type\":\"bool\"},"
    "{\"name\":\"t2j\",\"type\":\"json\"},{\"name\":\"j2m\",\"type\":\"relation\","
    "\"collectionId\":\"c\",\"maxSelect\":9},"
    "{\"name\":\"j2n\",\"type\":\"number\"},{\"name\":\"m2j\",\"type\":\"json\"}]}";

static void test_schema_convert_types(void **state)
{
    (void)state;
    struct sh_collection *v1 = parse(before, NULL);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    struct sh_schema_sql s = {0};
    sh_schema_create_sql(v1, &s);
    run(db, &s);
    exec(db,
         "INSERT INTO c (id, t2n, n2t, b2t, j2t, s2m, m2s, t2b, n2b, t2j, j2m, j2n, m2j) VALUES"
         "('r1', '12', 12, 1, '\"hi\"', 'a', '[\"x\",\"y\"]', 'true', 3, 'abc', '[1,\"b\"]', "
         "'7', '[\"a\"]'),"
         "('r2', '1.5', 1.5, 0, '{\"k\":1}', '', '[]', '1', 0, '[1,2]', '\"s\"', '\"7\"', '[]'),"
         "('r3', 'abc', 12.0, 0, NULL, 'b', 'bad json', 'no', -2, '', NULL, '2.5', '[]'),"
         "('r4', '', -3, 1, 'null', '', '[\"z\"]', ' T ', 0.5, '12', '{\"o\":1}', NULL, "
         "'[\"b\",\"a\"]'),"
         "('r5', ' 7 ', 0, 0, '[1]', 'a', '', '0', 0, '\"q\"', 'true', 'x', '[]')");
    struct sh_collection *v2 = parse(after, v1);
    struct sh_schema_error err;
    assert_int_equal(sh_schema_migrate_sql(v1, v2, &s, &err), 0);
    run(db, &s);

    /* numeric text -> number, anything else -> 0 */
    assert_string_equal(column(db, "t2n"), "12|1.5|0|0|7");
    assert_string_equal(column(db, "n2t"), "'12'|'1.5'|'12'|'-3'|'0'");
    assert_string_equal(column(db, "b2t"), "'true'|'false'|'false'|'true'|'false'");
    /* a JSON string loses its quotes; null becomes '' */
    assert_string_equal(column(db, "j2t"), "'hi'|'{\"k\":1}'|''|''|'[1]'");
    assert_string_equal(column(db, "s2m"), "'[\"a\"]'|'[]'|'[\"b\"]'|'[]'|'[\"a\"]'");
    /* the last element, as PocketBase keeps the last selected */
    assert_string_equal(column(db, "m2s"), "'y'|''|'bad json'|'z'|''");
    assert_string_equal(column(db, "t2b"), "1|1|0|1|0");
    assert_string_equal(column(db, "n2b"), "1|0|1|1|0");
    /* text -> JSON: JSON text kept, other text quoted, '' -> NULL */
    assert_string_equal(column(db, "t2j"), "'\"abc\"'|'[1,2]'|NULL|'12'|'\"q\"'");
    assert_string_equal(column(db, "j2m"), "'[1,\"b\"]'|'[\"s\"]'|'[]'|'[{\"o\":1}]'|'[true]'");
    assert_string_equal(column(db, "j2n"), "7|0|2.5|0|0");
    assert_string_equal(column(db, "m2j"), "'[\"a\"]'|'[]'|'[]'|'[\"b\",\"a\"]'|'[]'");
    assert_string_equal(column(db, "id"), "'r1'|'r2'|'r3'|'r4'|'r5'");
    sqlite3_close(db);
    sh_collection_free(v1);
    sh_collection_free(v2);
}

static void test_schema_convert_refused(void **state)
{
    (void)state;
    struct sh_collection *base = parse("{\"id\":\"sameid000000001\",\"name\":\"x\"}", NULL);
    struct sh_collection *auth =
        parse("{\"id\":\"sameid000000001\",\"name\":\"x\",\"type\":\"auth\"}", NULL);
    struct sh_collection *other = parse("{\"id\":\"otherid00000001\",\"name\":\"x\"}", NULL);
    struct sh_schema_sql s = {0};
    struct sh_schema_error err;
    assert_int_equal(sh_schema_migrate_sql(base, auth, &s, &err), -10003);
    assert_string_equal(err.message, "collection \"x\": type: the collection type cannot be "
                                     "changed.");
    assert_int_equal(s.n, 0);
    assert_int_equal(sh_schema_migrate_sql(base, other, &s, &err), -10003);
    assert_string_equal(err.message, "collection \"x\": id: the collection id cannot be changed.");
    assert_int_equal(s.n, 0);
    /* A system field that disappears is refused, naming it. */
    struct sh_collection *bare = parse("{\"id\":\"sameid000000001\",\"name\":\"x\",\"type\":"
                                       "\"auth\"}",
                                       NULL);
    free(bare->fields[1].id); /* pretend password was replaced by another field */
    bare->fields[1].id = strdup("password_other");
    assert_int_equal(sh_schema_migrate_sql(auth, bare, &s, &err), -10003);
    assert_string_equal(err.message, "collection \"x\": field \"password\": system fields cannot "
                                     "be deleted or renamed.");
    assert_int_equal(s.n, 0);
    sh_collection_free(base);
    sh_collection_free(auth);
    sh_collection_free(other);
    sh_collection_free(bare);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_convert_types),
        cmocka_unit_test(test_schema_convert_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
