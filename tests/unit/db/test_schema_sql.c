/*
 * Unit tests of the DDL and migrations, executed against an in-memory
 * SQLite database: CREATE TABLE with PocketBase's zero-value defaults and the
 * indexes, then migrations run in one transaction — fields added, removed,
 * renamed and swapped, type changes with their conversions, collection
 * renames (also case-only), index-only changes, and refusals — checking that
 * rows and kept values survive and that the indexes exist (PRAGMA
 * index_list).
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

/* Runs the statements in one transaction, as the writer does. */
static void run(sqlite3 *db, struct sh_schema_sql *s)
{
    exec(db, "BEGIN");
    for (size_t i = 0; i < s->n; i++)
        exec(db, s->stmts[i]);
    exec(db, "COMMIT");
    sh_schema_sql_deinit(s);
}

static sqlite3 *open_with(const struct sh_collection *c)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    struct sh_schema_sql s = {0};
    sh_schema_create_sql(c, &s);
    run(db, &s);
    return db;
}

/* The first column of every row of sql joined by '|'; NULL shows as "NULL". */
static char *rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    static char out[1024];
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (out[0])
            strcat(out, "|");
        strncat(out, v ? v : "NULL", sizeof(out) - strlen(out) - 1);
    }
    sqlite3_finalize(st);
    return out;
}

static void migrate(sqlite3 *db, const struct sh_collection *old, const struct sh_collection *next,
                    size_t expect_n)
{
    struct sh_schema_sql s = {0};
    struct sh_schema_error err;
    if (sh_schema_migrate_sql(old, next, &s, &err))
        fail_msg("migration refused: %s", err.message);
    if (expect_n != (size_t)-1 && s.n != expect_n) {
        for (size_t i = 0; i < s.n; i++)
            print_message("  %s\n", s.stmts[i]);
        fail_msg("%zu statements, expected %zu", s.n, expect_n);
    }
    run(db, &s);
}

static const char posts_json[] =
    "{\"id\":\"postsid00000001\",\"name\":\"posts\",\"fields\":["
    "{\"name\":\"title\",\"type\":\"text\"},{\"name\":\"views\",\"type\":\"number\"},"
    "{\"name\":\"ok\",\"type\":\"bool\"},"
    "{\"name\":\"tags\",\"type\":\"select\",\"values\":[\"a\",\"b\",\"c\"],\"maxSelect\":3},"
    "{\"name\":\"kind\",\"type\":\"select\",\"values\":[\"a\",\"b\"]},"
    "{\"name\":\"data\",\"type\":\"json\"},"
    "{\"name\":\"author\",\"type\":\"relation\",\"collectionId\":\"postsid00000001\"}],"
    "\"indexes\":[\"CREATE INDEX idx_posts_title ON posts (title COLLATE NOCASE)\","
    "\"CREATE UNIQUE INDEX idx_posts_kind ON posts (kind, views DESC)\"]}";

static void test_schema_sql_create(void **state)
{
    (void)state;
    struct sh_collection *c = parse(posts_json, NULL);
    struct sh_schema_sql s = {0};
    sh_schema_create_sql(c, &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(
        s.stmts[0],
        "CREATE TABLE \"posts\" (\"id\" TEXT PRIMARY KEY DEFAULT ('r'||lower(hex(randomblob(7)))) "
        "NOT NULL, \"title\" TEXT DEFAULT '' NOT NULL, \"views\" NUMERIC DEFAULT 0 NOT NULL, "
        "\"ok\" INTEGER DEFAULT 0 NOT NULL, \"tags\" TEXT DEFAULT '[]' NOT NULL, \"kind\" TEXT "
        "DEFAULT '' NOT NULL, \"data\" TEXT DEFAULT NULL, \"author\" TEXT DEFAULT '' NOT NULL, "
        "\"created\" TEXT DEFAULT '' NOT NULL, \"updated\" TEXT DEFAULT '' NOT NULL)");
    assert_string_equal(s.stmts[1], "CREATE INDEX \"idx_posts_title\" ON \"posts\" (\"title\" "
                                    "COLLATE NOCASE)");
    assert_string_equal(s.stmts[2], "CREATE UNIQUE INDEX \"idx_posts_kind\" ON \"posts\" "
                                    "(\"kind\", \"views\" DESC)");
    sh_schema_sql_deinit(&s);

    sqlite3 *db = open_with(c);
    exec(db, "INSERT INTO posts (id) VALUES ('aaaaaaaaaaaaaaa')");
    assert_string_equal(rows(db, "SELECT quote(title) || ',' || quote(views) || ',' || quote(ok) "
                                 "|| ',' || quote(tags) || ',' || quote(data) FROM posts"),
                        "'',0,0,'[]',NULL");
    assert_string_equal(rows(db, "SELECT name FROM pragma_index_list('posts') WHERE origin = 'c' "
                                 "ORDER BY name"),
                        "idx_posts_kind|idx_posts_title");
    /* Rows inserted by raw SQL still get an id. */
    exec(db, "INSERT INTO posts (title, kind) VALUES ('x', 'b')");
    assert_string_equal(rows(db, "SELECT length(id) FROM posts WHERE title = 'x'"), "15");

    struct sh_schema_sql d = {0};
    sh_schema_drop_sql(c, &d);
    assert_string_equal(d.stmts[0], "DROP TABLE \"posts\"");
    run(db, &d);
    assert_string_equal(rows(db, "SELECT count(*) FROM sqlite_master"), "0");
    sqlite3_close(db);
    sh_collection_free(c);
}

static void test_schema_sql_auth_indexes(void **state)
{
    (void)state;
    struct sh_collection *c = parse("{\"id\":\"usersid00000001\",\"name\":\"users\",\"type\":"
                                    "\"auth\"}",
                                    NULL);
    sqlite3 *db = open_with(c);
    /* Empty emails may repeat (PocketBase's partial index); others may not. */
    exec(db, "INSERT INTO users (id, tokenKey) VALUES ('a', 'k1'), ('b', 'k2')");
    exec(db, "INSERT INTO users (id, tokenKey, email) VALUES ('c', 'k3', 'x@y.z')");
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO users (id, tokenKey, email) VALUES ('d', "
                                      "'k4', 'x@y.z')",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(
        sqlite3_exec(db, "INSERT INTO users (id, tokenKey) VALUES ('e', 'k1')", NULL, NULL, NULL),
        SQLITE_OK);
    assert_string_equal(rows(db, "SELECT name FROM pragma_index_list('users') WHERE origin = 'c' "
                                 "ORDER BY name"),
                        "idx_email_usersid00000001|idx_tokenKey_usersid00000001");
    sqlite3_close(db);
    sh_collection_free(c);
}

static void test_schema_sql_add_remove_rename_fields(void **state)
{
    (void)state;
    struct sh_collection *v1 = parse(posts_json, NULL);
    sqlite3 *db = open_with(v1);
    exec(db, "INSERT INTO posts (id, title, views, ok, tags, kind, data, created) VALUES "
             "('p1', 'Hello', 3, 1, '[\"a\",\"b\"]', 'a', '{\"k\":1}', '2024-01-01'),"
             "('p2', 'World', 5, 0, '[]', 'b', NULL, '2024-01-02')");

    /* Add a field (and an index on it). */
    struct sh_collection *v2 = parse(
        "{\"fields\":[{\"name\":\"title\",\"type\":\"text\"},{\"name\":\"views\",\"type\":"
        "\"number\"},{\"name\":\"ok\",\"type\":\"bool\"},{\"name\":\"tags\",\"type\":\"select\","
        "\"values\":[\"a\",\"b\",\"c\"],\"maxSelect\":3},{\"name\":\"kind\",\"type\":\"select\","
        "\"values\":[\"a\",\"b\"]},{\"name\":\"data\",\"type\":\"json\"},{\"name\":\"author\","
        "\"type\":\"relation\",\"collectionId\":\"postsid00000001\"},{\"name\":\"body\",\"type\":"
        "\"text\"}],\"indexes\":[\"CREATE INDEX idx_posts_title ON posts (title COLLATE NOCASE)\","
        "\"CREATE UNIQUE INDEX idx_posts_kind ON posts (kind, views DESC)\",\"CREATE INDEX "
        "idx_body ON posts (body)\"]}",
        v1);
    migrate(db, v1, v2, 8); /* drop tmp, create, insert, drop, rename, 3 indexes */
    assert_string_equal(rows(db, "SELECT id || ':' || title || ':' || views || ':' || ok || ':' || "
                                 "tags || ':' || kind || ':' || ifnull(data, 'NULL') || ':' || "
                                 "quote(body) || ':' || created FROM posts ORDER BY id"),
                        "p1:Hello:3:1:[\"a\",\"b\"]:a:{\"k\":1}:'':2024-01-01|"
                        "p2:World:5:0:[]:b:NULL:'':2024-01-02");
    assert_string_equal(rows(db, "SELECT name FROM pragma_index_list('posts') WHERE origin = 'c' "
                                 "ORDER BY name"),
                        "idx_body|idx_posts_kind|idx_posts_title");

    /* Remove two fields, rename one and swap the names of two others by id. */
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"fields\":[{\"id\":\"%s\",\"name\":\"body\",\"type\":\"text\"},"
             "{\"id\":\"%s\",\"name\":\"title\",\"type\":\"text\"},{\"id\":\"%s\",\"name\":"
             "\"hits\",\"type\":\"number\"},{\"name\":\"kind\",\"type\":\"select\",\"values\":"
             "[\"a\",\"b\"]},{\"name\":\"author\",\"type\":\"relation\",\"collectionId\":"
             "\"postsid00000001\"}],\"indexes\":[\"CREATE INDEX idx_hits ON posts (hits)\"]}",
             sh_collection_field(v2, "title")->id, sh_collection_field(v2, "body")->id,
             sh_collection_field(v2, "views")->id);
    struct sh_collection *v3 = parse(json, v2);
    migrate(db, v2, v3, (size_t)-1);
    assert_string_equal(rows(db, "SELECT quote(title) || ':' || body || ':' || hits FROM posts "
                                 "ORDER BY id"),
                        "'':Hello:3|'':World:5");
    assert_string_equal(rows(db, "SELECT group_concat(name) FROM pragma_table_info('posts')"),
                        "id,body,title,hits,kind,author,created,updated");
    assert_string_equal(rows(db, "SELECT name FROM pragma_index_list('posts') WHERE origin = 'c'"),
                        "idx_hits");
    assert_string_equal(rows(db, "SELECT count(*) FROM sqlite_master WHERE name LIKE '_tmp_%'"),
                        "0");
    sqlite3_close(db);
    sh_collection_free(v1);
    sh_collection_free(v2);
    sh_collection_free(v3);
}

static void test_schema_sql_rename_collection(void **state)
{
    (void)state;
    struct sh_collection *v1 = parse(posts_json, NULL);
    sqlite3 *db = open_with(v1);
    exec(db, "INSERT INTO posts (id, title, kind) VALUES ('p1', 'Hello', 'a')");

    /* Only the name: one ALTER TABLE; the indexes follow the table. */
    struct sh_collection *v2 = parse("{\"name\":\"articles\"}", v1);
    migrate(db, v1, v2, 1);
    assert_string_equal(rows(db, "SELECT title FROM articles"), "Hello");
    assert_string_equal(rows(db, "SELECT name FROM pragma_index_list('articles') WHERE origin = "
                                 "'c' ORDER BY name"),
                        "idx_posts_kind|idx_posts_title");

    /* A change of case only goes through a temporary name. */
    struct sh_collection *v3 = parse("{\"name\":\"Articles\"}", v2);
    migrate(db, v2, v3, 2);
    assert_string_equal(rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'"),
                        "Articles");

    /* Rename and a field change together: a rebuild under the new name. */
    struct sh_collection *v4 = parse(
        "{\"name\":\"notes\",\"fields\":[{\"name\":\"title\",\"type\":\"text\"},{\"name\":"
        "\"kind\",\"type\":\"select\",\"values\":[\"a\",\"b\"]},{\"name\":\"views\",\"type\":"
        "\"number\"}],\"indexes\":[\"CREATE UNIQUE INDEX idx_posts_kind ON Articles (kind, views "
        "DESC)\"]}",
        v3);
    migrate(db, v3, v4, (size_t)-1);
    assert_string_equal(rows(db, "SELECT title || kind FROM notes"), "Helloa");
    assert_string_equal(rows(db, "SELECT name FROM pragma_index_list('notes') WHERE origin = 'c'"),
                        "idx_posts_kind");
    assert_string_equal(rows(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"), "1");

    /* Only rules or options: nothing to run. */
    struct sh_collection *v5 = parse("{\"listRule\":\"\",\"fields\":[{\"name\":\"title\",\"type\":"
                                     "\"text\",\"max\":10,\"required\":true},{\"name\":\"kind\","
                                     "\"type\":\"select\",\"values\":[\"a\",\"b\",\"c\"]},{\"name\""
                                     ":\"views\",\"type\":\"number\",\"min\":1}]}",
                                     v4);
    migrate(db, v4, v5, 0);
    /* Index changes alone: a drop and a create, no rebuild. */
    struct sh_collection *v6 =
        parse("{\"indexes\":[\"CREATE INDEX idx_title ON notes (title)\"]}", v5);
    migrate(db, v5, v6, 2);
    assert_string_equal(rows(db, "SELECT name FROM pragma_index_list('notes') WHERE origin = 'c'"),
                        "idx_title");
    assert_string_equal(rows(db, "SELECT title FROM notes"), "Hello");
    sqlite3_close(db);
    sh_collection_free(v1);
    sh_collection_free(v2);
    sh_collection_free(v3);
    sh_collection_free(v4);
    sh_collection_free(v5);
    sh_collection_free(v6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_sql_create),
        cmocka_unit_test(test_schema_sql_auth_indexes),
        cmocka_unit_test(test_schema_sql_add_remove_rename_fields),
        cmocka_unit_test(test_schema_sql_rename_collection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
