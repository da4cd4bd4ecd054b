/*
 * The SQL console (POST /api/sql) as a client sees it: guests 401, users
 * 403; reads answered {execTime, affectedRows, columns, rows} with each
 * SQLite type; a runaway read stopped by --query-budget (400); writes to a
 * collection's table through the writer (affectedRows, RETURNING, seen at
 * once by the records API and its list totals); refused with 400 and
 * nothing done: writes to internal tables, schema changes, BEGIN, pragma
 * writes, two statements, an empty query, a syntax error; --sql-max-rows
 * cuts rows ("truncated"); --sql-write-budget rolls a long write back;
 * every statement logged with the superuser's id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_auth_client.h"

static const char schema[] =
    "[{'name':'users','type':'auth','fields':[],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':null,'deleteRule':null},"
    " {'name':'notes','type':'base','fields':[{'name':'title','type':'text'}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''}]";

static struct it_server *srv;
static const char *su_id;

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = it_server_new();
    if (!srv || rc_import(srv, "schema.json", rc_q(schema)) != 0)
        return -1;
    char *out = NULL, *err = NULL;
    if (ac_run(&out, &err, "superuser", "upsert", "root@example.com", "root password 1", "--dir",
               srv->data_dir, NULL) != 0)
        return -1;
    return it_server_run(srv, (const char *const[]){"--rate-limit-auth", "off", "--sql-max-rows",
                                                    "5", "--sql-write-budget", "50", NULL});
}

static const char *su(struct it_conn *c)
{
    const cJSON *rec = NULL;
    const char *t = ac_login(c, "_superusers", "root@example.com", "root password 1", &rec);
    su_id = it_strdup(rc_str(rec, "id"));
    return t;
}

static struct rc_resp *sql(struct it_conn *c, const char *tok, const char *query)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "query", query);
    char *json = cJSON_PrintUnformatted(b);
    char *copy = it_strdup(json);
    cJSON_free(json);
    cJSON_Delete(b);
    return ac_req(c, "POST", "/api/sql", tok, copy);
}

static void refused(struct it_conn *c, const char *tok, const char *query, const char *code)
{
    struct rc_resp *r = sql(c, tok, query);
    if (r->status != 400)
        fail_msg("%s answered %d: %s", query, r->status, r->raw->body);
    rc_assert_error(r, 400, "query", code);
}

static int notes_total(struct it_conn *c)
{
    return (int)rc_num(rc_ok(rc_req(c, "GET", "/api/collections/notes/records", NULL), 200),
                       "totalItems");
}

static void test_sql_access(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    ac_signup(c, "users", "u@example.com", "user password", NULL);
    const char *user = ac_login(c, "users", "u@example.com", "user password", NULL);
    rc_assert_error(sql(c, NULL, "SELECT 1"), 401, NULL, NULL);
    rc_assert_error(sql(c, user, "SELECT 1"), 403, NULL, NULL);
    rc_assert_error(sql(c, user, "DELETE FROM notes"), 403, NULL, NULL);
    it_conn_close(c);
}

static void test_sql_reads(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    const char *tok = su(c);
    const cJSON *j =
        rc_ok(sql(c, tok, "SELECT 1 AS i, 2.5 AS f, 'x' AS t, NULL AS n, x'00ff' AS b"), 200);
    assert_true(rc_num(j, "execTime") >= 0);
    assert_int_equal((int)rc_num(j, "affectedRows"), 0);
    const cJSON *cols = rc_get(j, "columns"), *row = cJSON_GetArrayItem(rc_get(j, "rows"), 0);
    assert_int_equal(cJSON_GetArraySize(cols), 5);
    assert_string_equal(cJSON_GetArrayItem(cols, 2)->valuestring, "t");
    assert_int_equal((int)cJSON_GetArrayItem(row, 0)->valuedouble, 1);
    assert_true(cJSON_GetArrayItem(row, 1)->valuedouble == 2.5);
    assert_string_equal(cJSON_GetArrayItem(row, 2)->valuestring, "x");
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(row, 3)));
    assert_string_equal(cJSON_GetArrayItem(row, 4)->valuestring, "AP8=");
    /* internal tables can be read */
    j = rc_ok(sql(c, tok, "SELECT count(*) FROM _superusers"), 200);
    assert_int_equal(
        (int)cJSON_GetArrayItem(cJSON_GetArrayItem(rc_get(j, "rows"), 0), 0)->valuedouble, 1);
    /* --sql-max-rows 5 */
    j = rc_ok(sql(c, tok,
                  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 9) "
                  "SELECT x FROM c"),
              200);
    assert_int_equal(cJSON_GetArraySize(rc_get(j, "rows")), 5);
    assert_true(cJSON_IsTrue(rc_get(j, "truncated")));
    /* a runaway read: stopped by the query budget, the server answers on */
    int64_t t0 = it_now_ms();
    refused(c, tok,
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
            "validation_invalid_query");
    assert_true(it_now_ms() - t0 < IT_SLOW(5000));
    assert_int_equal(ac_req(c, "GET", "/api/health", NULL, NULL)->status, 200);
    it_conn_close(c);
}

static void test_sql_writes(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    const char *tok = su(c);
    int before = notes_total(c); /* also fills the list-total cache */
    const cJSON *j = rc_ok(
        sql(c, tok, "INSERT INTO notes (title) VALUES ('one'), ('two') RETURNING title"), 200);
    assert_int_equal((int)rc_num(j, "affectedRows"), 2);
    assert_int_equal(cJSON_GetArraySize(rc_get(j, "rows")), 2);
    assert_int_equal(notes_total(c), before + 2); /* the cached total was dropped */
    j = rc_ok(sql(c, tok, "UPDATE notes SET title = 'changed' WHERE title = 'one'"), 200);
    assert_int_equal((int)rc_num(j, "affectedRows"), 1);
    const cJSON *l = rc_ok(
        rc_req(c, "GET",
               it_sprintf("/api/collections/notes/records?filter=%s", rc_enc("title='changed'")),
               NULL),
        200);
    assert_int_equal((int)rc_num(l, "totalItems"), 1);
    /* refused, nothing done */
    refused(c, tok, "DELETE FROM _superusers", "validation_invalid_query");
    refused(c, tok, "UPDATE _collections SET name = 'x'", "validation_invalid_query");
    refused(c, tok, "INSERT INTO _sessions (id) VALUES ('x')", "validation_invalid_query");
    refused(c, tok, "DROP TABLE notes", "validation_invalid_query");
    refused(c, tok, "CREATE TABLE t (x)", "validation_invalid_query");
    refused(c, tok, "ALTER TABLE notes ADD COLUMN y", "validation_invalid_query");
    refused(c, tok, "BEGIN", "validation_invalid_query");
    refused(c, tok, "PRAGMA user_version = 7", "validation_invalid_query");
    refused(c, tok, "ATTACH DATABASE '/tmp/x.db' AS x", "validation_invalid_query");
    refused(c, tok, "SELECT 1; DELETE FROM notes", "validation_invalid_query");
    refused(c, tok, "selec 1", "validation_invalid_query");
    refused(c, tok, "  ;", "validation_required");
    rc_assert_error(ac_req(c, "POST", "/api/sql", tok, "{\"query\":5}"), 400, "query",
                    "validation_required");
    j = rc_ok(sql(c, tok, "SELECT count(*) FROM _superusers"), 200);
    assert_int_equal(
        (int)cJSON_GetArrayItem(cJSON_GetArrayItem(rc_get(j, "rows"), 0), 0)->valuedouble, 1);
    assert_int_equal(notes_total(c), before + 2);
    /* a write past --sql-write-budget (50 ms) is rolled back whole */
    refused(c, tok,
            "INSERT INTO notes (title) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 "
            "FROM c WHERE x < 50000000) SELECT 'bulk' FROM c",
            "validation_invalid_query");
    assert_int_equal(notes_total(c), before + 2);
    /* the server still writes */
    rc_create(c, "notes", "{'title':'after'}");
    assert_int_equal(notes_total(c), before + 3);
    /* every statement is in the log, with the superuser's id */
    assert_true(it_server_wait_log(srv, "DELETE FROM _superusers", 3000));
    char *log = it_server_log(srv);
    assert_true(it_log_count(log, "mod=sql", it_sprintf("superuser=%s", su_id), "DROP TABLE notes",
                             NULL) == 1);
    it_conn_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_sql_access),
        it_test(test_sql_reads),
        it_test(test_sql_writes),
    };
    return cmocka_run_group_tests_name("sql", tests, group_setup, it_group_teardown);
}
