/*
 * Unit tests of the strict index parser (index_parse.c): the accepted forms
 * and their regenerated DDL, and hostile or malformed strings that must be
 * refused with a sentence — second statements, comments, unbalanced quotes,
 * expressions, schema-qualified names, general WHERE clauses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/schema.h"

static struct sh_index parse_ok(const char *text)
{
    struct sh_index ix;
    char msg[200];
    int rc = sh_index_parse(text, strlen(text), &ix, msg, sizeof(msg));
    if (rc)
        fail_msg("\"%s\" refused: %s", text, msg);
    return ix;
}

static void expect_ddl(const char *text, const char *table, const char *ddl)
{
    struct sh_index ix = parse_ok(text);
    char *s = sh_index_format(&ix, table, '"', false);
    assert_string_equal(s, ddl);
    free(s);
    sh_index_deinit(&ix);
}

static void expect_refused(const char *text, const char *needle)
{
    struct sh_index ix;
    char msg[200];
    int rc = sh_index_parse(text, strlen(text), &ix, msg, sizeof(msg));
    if (rc == 0) {
        sh_index_deinit(&ix);
        fail_msg("\"%s\" was accepted", text);
    }
    assert_int_equal(rc, -10003); /* SH_EINVAL */
    assert_null(ix.name);
    assert_int_equal(ix.ncols, 0);
    size_t n = strlen(msg);
    assert_true(n > 0 && msg[n - 1] == '.');
    if (needle && !strstr(msg, needle))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", text, msg, needle);
}

static void test_index_simple(void **state)
{
    (void)state;
    struct sh_index ix = parse_ok("CREATE INDEX idx_posts_author ON posts (author)");
    assert_string_equal(ix.name, "idx_posts_author");
    assert_string_equal(ix.table, "posts");
    assert_false(ix.unique);
    assert_false(ix.if_not_exists);
    assert_int_equal(ix.ncols, 1);
    assert_string_equal(ix.cols[0].name, "author");
    assert_false(ix.cols[0].nocase);
    assert_int_equal(ix.cols[0].order, SH_INDEX_ORDER_NONE);
    assert_null(ix.where_not_empty);
    sh_index_deinit(&ix);
    expect_ddl("CREATE INDEX idx_posts_author ON posts (author)", "posts",
               "CREATE INDEX \"idx_posts_author\" ON \"posts\" (\"author\")");
}

static void test_index_full_form(void **state)
{
    (void)state;
    struct sh_index ix = parse_ok("  create unique index if not exists \"idx_a\" on `posts` "
                                  "([title] collate nocase desc, views ASC, created);  ");
    assert_true(ix.unique);
    assert_true(ix.if_not_exists);
    assert_string_equal(ix.name, "idx_a");
    assert_int_equal(ix.ncols, 3);
    assert_true(ix.cols[0].nocase);
    assert_int_equal(ix.cols[0].order, SH_INDEX_ORDER_DESC);
    assert_int_equal(ix.cols[1].order, SH_INDEX_ORDER_ASC);
    assert_string_equal(ix.cols[2].name, "created");
    char *s = sh_index_format(&ix, "articles", '`', true);
    assert_string_equal(s, "CREATE UNIQUE INDEX IF NOT EXISTS `idx_a` ON `articles` (`title` "
                           "COLLATE NOCASE DESC, `views` ASC, `created`)");
    free(s);
    s = sh_index_format(&ix, "articles", '"', false);
    assert_string_equal(s, "CREATE UNIQUE INDEX \"idx_a\" ON \"articles\" (\"title\" COLLATE "
                           "NOCASE DESC, \"views\" ASC, \"created\")");
    free(s);
    sh_index_deinit(&ix);
}

static void test_index_names_that_look_like_keywords(void **state)
{
    (void)state;
    /* An index named "if" and columns named like keywords are identifiers. */
    expect_ddl("CREATE INDEX if ON t (order, asc)", "t",
               "CREATE INDEX \"if\" ON \"t\" (\"order\", \"asc\")");
    expect_ddl("CREATE INDEX x ON t (\"where\" DESC)", "t",
               "CREATE INDEX \"x\" ON \"t\" (\"where\" DESC)");
    expect_ddl("CREATE\tINDEX\nx\r\nON t(a,b)", "t", "CREATE INDEX \"x\" ON \"t\" (\"a\", \"b\")");
}

static void test_index_pocketbase_partial_email(void **state)
{
    (void)state;
    struct sh_index ix =
        parse_ok("CREATE UNIQUE INDEX `idx_email_pbc_1` ON `users` (`email`) WHERE `email` != ''");
    assert_string_equal(ix.where_not_empty, "email");
    char *s = sh_index_format(&ix, "users", '"', false);
    assert_string_equal(s, "CREATE UNIQUE INDEX \"idx_email_pbc_1\" ON \"users\" (\"email\") "
                           "WHERE \"email\" != ''");
    free(s);
    sh_index_deinit(&ix);
    ix = parse_ok("CREATE UNIQUE INDEX i ON users (email) WHERE email <> '';");
    assert_string_equal(ix.where_not_empty, "email");
    sh_index_deinit(&ix);
}

static void test_index_hostile_statements(void **state)
{
    (void)state;
    expect_refused("CREATE INDEX i ON posts (title); DROP TABLE posts", "unexpected text");
    expect_refused("CREATE INDEX i ON posts (title);; ", "unexpected");
    expect_refused("CREATE INDEX i ON posts (title) -- comment", "comments");
    expect_refused("CREATE INDEX i ON posts (title /* c */)", "comments");
    expect_refused("CREATE INDEX i ON posts (title) /* c */", "comments");
    expect_refused("CREATE INDEX \"i ON posts (title)", "quoted identifier");
    expect_refused("CREATE INDEX i ON `posts (title)", "quoted identifier");
    expect_refused("CREATE INDEX i ON [posts (title)", "quoted identifier");
    expect_refused("CREATE INDEX \"a\"\"b\" ON posts (title)", NULL);
    expect_refused("CREATE INDEX \"a b\" ON posts (title)", "quoted identifier");
    expect_refused("CREATE INDEX i ON posts (\"ti\"\"tle\")", NULL);
    expect_refused("CREATE INDEX i ON main.posts (title)", "unexpected character");
    expect_refused("CREATE INDEX i ON posts (lower(title))", "expected");
    expect_refused("CREATE INDEX i ON posts (title + 1)", "unexpected character");
    expect_refused("CREATE INDEX i ON posts (title COLLATE BINARY)", "NOCASE");
    expect_refused("CREATE INDEX i ON posts (title) WHERE views > 3", "WHERE");
    expect_refused("CREATE INDEX i ON posts (title) WHERE title != '' AND 1", "WHERE");
    expect_refused("CREATE INDEX i ON posts (title) WHERE title != 'x'", NULL);
    expect_refused("CREATE INDEX i ON posts (title, title)", "duplicate column");
    expect_refused("CREATE INDEX i ON posts (title, TITLE)", "duplicate column");
    expect_refused("CREATE INDEX sqlite_autoindex_x ON posts (title)", "sqlite_");
    expect_refused("CREATE TABLE x (a)", "INDEX");
    expect_refused("DROP INDEX i", "CREATE");
    expect_refused("CREATE INDEX i ON posts ()", "column name");
    expect_refused("CREATE INDEX i ON posts (a,)", "column name");
    expect_refused("CREATE INDEX i ON posts (a", "expected");
    expect_refused("CREATE INDEX i posts (a)", "ON");
    expect_refused("CREATE INDEX ON posts (a)", "ON");
    expect_refused("CREATE INDEX IF NOT i ON posts (a)", "EXISTS");
    expect_refused("CREATE INDEX 1i ON posts (a)", "unexpected character");
    expect_refused("CREATE INDEX i ON posts (a) ASC", "unexpected");
    expect_refused("", "CREATE");
    expect_refused("CREATE INDEX i ON posts (é)", "unexpected character");
}

static void test_index_embedded_nul(void **state)
{
    (void)state;
    const char text[] = "CREATE INDEX i ON posts (a)\0; DROP TABLE posts";
    struct sh_index ix;
    char msg[200];
    assert_int_not_equal(sh_index_parse(text, sizeof(text) - 1, &ix, msg, sizeof(msg)), 0);
    /* Only the bytes given are read: the prefix alone parses. */
    assert_int_equal(sh_index_parse(text, strlen(text), &ix, NULL, 0), 0);
    sh_index_deinit(&ix);
}

static void test_index_limits(void **state)
{
    (void)state;
    char text[6000] = "CREATE INDEX i ON t (";
    for (int i = 0; i < 40; i++) {
        char col[16];
        snprintf(col, sizeof(col), "%sc%d", i ? ", " : "", i);
        strcat(text, col);
    }
    strcat(text, ")");
    expect_refused(text, "too many columns");
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    memcpy(text, "CREATE INDEX ", 13);
    expect_refused(text, "too long");
    char name[150] = "CREATE INDEX ";
    memset(name + 13, 'x', 101);
    strcpy(name + 114, " ON t (a)");
    expect_refused(name, "invalid index name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_simple),
        cmocka_unit_test(test_index_full_form),
        cmocka_unit_test(test_index_names_that_look_like_keywords),
        cmocka_unit_test(test_index_pocketbase_partial_email),
        cmocka_unit_test(test_index_hostile_statements),
        cmocka_unit_test(test_index_embedded_nul),
        cmocka_unit_test(test_index_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
