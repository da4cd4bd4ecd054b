/*
 * The verified-token cache against the real server (--log-level debug, so
 * that each cache hit is a log line): a token used twice is answered from
 * the cache the second time, and every way of revoking it - logout,
 * logout-all, a new password, deleting the record, deleting a superuser
 * through the API or with the CLI - holds from the very next request.
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
    "["
    "{'name':'users','type':'auth','fields':[{'name':'name','type':'text'}],"
    "  'listRule':'id = @request.auth.id','viewRule':'id = @request.auth.id',"
    "  'createRule':'','updateRule':'id = @request.auth.id','deleteRule':'id = @request.auth.id'}"
    "]";

static struct it_server *srv;
static struct it_conn *conn;

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", "--log-level",
                    "debug", NULL);
    return srv ? 0 : -1;
}

/* Each test's connection to the group's server (in the test's scope). */
static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

static int hits_seen;

/* Waits for the server to log one more cache hit than seen so far. */
static void assert_one_more_hit(void)
{
    hits_seen++;
    const char *needle = it_sprintf("token cache hit hits=%d ", hits_seen);
    assert_true(it_server_wait_log(srv, needle, 3000));
}

/* GET of record id as token: its status. */
static int get_status(const char *id, const char *token)
{
    return ac_req(conn, "GET", it_sprintf("/api/collections/users/records/%s", id), token, NULL)
        ->status;
}

/* Signs up and in, and uses the token twice: the second is a cache hit. */
static const char *warm(const char *email, const char **id)
{
    *id = ac_signup(conn, "users", email, "a good password", NULL);
    const char *t = ac_login(conn, "users", email, "a good password", NULL);
    assert_int_equal(get_status(*id, t), 200);
    assert_int_equal(get_status(*id, t), 200);
    assert_one_more_hit();
    return t;
}

static void test_cache_logout(void **state)
{
    (void)state;
    const char *id;
    const char *t = warm("a@example.com", &id);
    assert_int_equal(ac_req(conn, "POST", "/api/collections/users/auth-logout", t, NULL)->status,
                     204);
    assert_int_equal(get_status(id, t), 404); /* a guest: the view rule hides it */
}

static void test_cache_logout_all(void **state)
{
    (void)state;
    const char *id;
    const char *t = warm("b@example.com", &id);
    const char *other = ac_login(conn, "users", "b@example.com", "a good password", NULL);
    assert_int_equal(get_status(id, other), 200);
    assert_int_equal(get_status(id, other), 200);
    assert_one_more_hit();
    assert_int_equal(
        ac_req(conn, "POST", "/api/collections/users/auth-logout-all", t, NULL)->status, 204);
    assert_int_equal(get_status(id, other), 404);
    assert_int_equal(get_status(id, t), 404);
}

static void test_cache_password_change(void **state)
{
    (void)state;
    const char *id;
    const char *t = warm("c@example.com", &id);
    const char *path = it_sprintf("/api/collections/users/records/%s", id);
    struct rc_resp *r = ac_req(conn, "PATCH", path, t,
                               rc_q("{'password':'second password','passwordConfirm':'second "
                                    "password','oldPassword':'a good password'}"));
    assert_int_equal(r->status, 200);
    assert_int_equal(get_status(id, t), 404);
}

static void test_cache_record_delete(void **state)
{
    (void)state;
    const char *id;
    const char *t = warm("d@example.com", &id);
    const char *path = it_sprintf("/api/collections/users/records/%s", id);
    assert_int_equal(ac_req(conn, "DELETE", path, t, NULL)->status, 204);
    rc_assert_error(ac_req(conn, "POST", "/api/collections/users/auth-refresh", t, NULL), 401, NULL,
                    NULL);
}

static void test_cache_superuser_api_and_cli(void **state)
{
    (void)state;
    ac_superuser(srv, "root@example.com", "root password");
    ac_superuser(srv, "root2@example.com", "root password");
    const cJSON *rec;
    const char *su = ac_login(conn, "_superusers", "root@example.com", "root password", &rec);
    const char *su2 = ac_login(conn, "_superusers", "root2@example.com", "root password", NULL);
    const char *id2 = NULL;
    struct rc_resp *r = ac_req(conn, "GET", "/api/collections/_superusers/records", su, NULL);
    assert_int_equal(r->status, 200);
    const cJSON *e;
    cJSON_ArrayForEach(e, rc_get(r->json, "items")) {
        if (strcmp(rc_str(e, "email"), "root2@example.com") == 0)
            id2 = it_strdup(rc_str(e, "id"));
    }
    assert_non_null(id2);
    assert_int_equal(ac_req(conn, "GET", "/api/collections", su2, NULL)->status, 200);
    assert_int_equal(ac_req(conn, "GET", "/api/collections", su2, NULL)->status, 200);
    assert_one_more_hit();
    /* deleted through the API by the other superuser */
    assert_int_equal(
        ac_req(conn, "DELETE", it_sprintf("/api/collections/_superusers/records/%s", id2), su, NULL)
            ->status,
        204);
    rc_assert_error(ac_req(conn, "GET", "/api/collections", su2, NULL), 401, NULL, NULL);

    /* deleted by the CLI, another process: from the next request as well */
    assert_int_equal(ac_req(conn, "GET", "/api/collections", su, NULL)->status, 200);
    assert_int_equal(ac_req(conn, "GET", "/api/collections", su, NULL)->status, 200);
    assert_one_more_hit();
    char *err = NULL;
    assert_int_equal(
        ac_run(NULL, &err, "superuser", "delete", "root@example.com", "--dir", srv->data_dir, NULL),
        0);
    rc_assert_error(ac_req(conn, "GET", "/api/collections", su, NULL), 401, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_cache_logout, open_conn),
        it_test_each(test_cache_logout_all, open_conn),
        it_test_each(test_cache_password_change, open_conn),
        it_test_each(test_cache_record_delete, open_conn),
        it_test_each(test_cache_superuser_api_and_cli, open_conn),
    };
    return cmocka_run_group_tests(tests, group_setup, it_group_teardown);
}
