/*
 * Accounts against the real server: sign-up, sign-in (email in any case,
 * one answer for every mismatch), the two Authorization forms, tampered and
 * garbage tokens (a guest), refresh, logout, logout-all, a password change
 * (old password required, older tokens dead), superusers made and removed by
 * the CLI while the server runs, the password reset flow through the log
 * mailer, email visibility, auth-methods, and token expiry.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_auth_client.h"

static const char schema[] =
    "["
    "{'name':'users','type':'auth','fields':[{'name':'name','type':'text'},"
    "  {'name':'note','type':'text','hidden':true}],"
    "  'listRule':'id = @request.auth.id','viewRule':'id = @request.auth.id',"
    "  'createRule':'','updateRule':'id = @request.auth.id','deleteRule':'id = @request.auth.id'},"
    "{'name':'people','type':'auth','fields':[],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':null,'deleteRule':null},"
    "{'name':'things','type':'base','fields':[{'name':'x','type':'text'}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''}"
    "]";

static struct it_server *srv;
static struct it_conn *conn;

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    return srv ? 0 : -1;
}

/* Each test's connection to the group's server (in the test's scope). */
static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

/* Items of GET /api/collections/users/records as token (NULL: a guest). */
static int own_count(const char *token)
{
    struct rc_resp *r = ac_req(conn, "GET", "/api/collections/users/records", token, NULL);
    assert_int_equal(r->status, 200);
    return cJSON_GetArraySize(rc_get(r->json, "items"));
}

static const char *bearer(const char *token)
{
    return it_sprintf("Bearer %s", token);
}

static void test_signup_and_login(void **state)
{
    (void)state;
    const char *id =
        ac_signup(conn, "users", "Ann@Example.com", "correct horse", "\"name\":\"ann\"");
    /* email in another case is the same account */
    rc_assert_error(rc_req(conn, "POST", "/api/collections/users/records",
                           rc_q("{'email':'ann@example.COM','password':'12345678',"
                                "'passwordConfirm':'12345678'}")),
                    400, "email", "validation_not_unique");
    const cJSON *rec;
    const char *tok = ac_login(conn, "users", "ANN@example.com", "correct horse", &rec);
    assert_int_equal(strchr(strchr(tok, '.') + 1, '.') - tok > 0, 1);
    assert_string_equal(rc_str(rec, "id"), id);
    assert_string_equal(rc_str(rec, "email"), "Ann@Example.com"); /* the owner sees it */
    assert_null(cJSON_GetObjectItem(rec, "password"));
    assert_null(cJSON_GetObjectItem(rec, "tokenKey"));
    assert_null(cJSON_GetObjectItem(rec, "note")); /* hidden */

    /* every mismatch gets the same answer */
    struct rc_resp *bad = rc_req(conn, "POST", "/api/collections/users/auth-with-password",
                                 rc_q("{'identity':'ann@example.com','password':'wrong horse'}"));
    struct rc_resp *unknown = rc_req(conn, "POST", "/api/collections/users/auth-with-password",
                                     rc_q("{'identity':'nobody@example.com','password':'x'}"));
    rc_assert_error(bad, 400, NULL, NULL);
    rc_assert_error(unknown, 400, NULL, NULL);
    assert_string_equal(bad->raw->body, unknown->raw->body);
    assert_string_equal(rc_str(bad->json, "message"), "Failed to authenticate.");
    rc_assert_error(rc_req(conn, "POST", "/api/collections/users/auth-with-password",
                           rc_q("{'identity':'ann@example.com'}")),
                    400, "password", "validation_required");
    rc_assert_error(rc_req(conn, "POST", "/api/collections/things/auth-with-password",
                           rc_q("{'identity':'a@b.c','password':'12345678'}")),
                    404, NULL, NULL);

    /* both Authorization forms; anything else is a guest */
    assert_int_equal(own_count(tok), 1);
    assert_int_equal(own_count(bearer(tok)), 1);
    assert_int_equal(own_count(NULL), 0);
    assert_int_equal(own_count("garbage"), 0);
    char *tampered = it_strdup(tok);
    size_t n = strlen(tampered);
    tampered[n - 2] = tampered[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(own_count(tampered), 0);
    /* an expression rule sees the identity; a guest may still not filter by it */
    rc_assert_error(ac_req(conn, "GET",
                           it_sprintf("/api/collections/users/records?filter=%s",
                                      rc_enc("@request.auth.id != ''")),
                           NULL, NULL),
                    403, NULL, NULL);
}

static void test_refresh_and_logout(void **state)
{
    (void)state;
    ac_signup(conn, "users", "bob@example.com", "bobs password", NULL);
    const char *t1 = ac_login(conn, "users", "bob@example.com", "bobs password", NULL);
    struct rc_resp *r = ac_req(conn, "POST", "/api/collections/users/auth-refresh", t1, NULL);
    assert_int_equal(r->status, 200);
    const char *t2 = it_strdup(rc_str(r->json, "token"));
    assert_string_equal(rc_str(rc_get(r->json, "record"), "email"), "bob@example.com");
    assert_int_equal(own_count(t2), 1);
    assert_int_equal(own_count(t1), 1); /* same session */
    rc_assert_error(ac_req(conn, "POST", "/api/collections/users/auth-refresh", NULL, NULL), 401,
                    NULL, NULL);
    /* another collection's token is not this collection's identity */
    rc_assert_error(ac_req(conn, "POST", "/api/collections/people/auth-refresh", t2, NULL), 403,
                    NULL, NULL);

    assert_int_equal(ac_req(conn, "POST", "/api/collections/users/auth-logout", t2, NULL)->status,
                     204);
    assert_int_equal(own_count(t1), 0);
    assert_int_equal(own_count(t2), 0);
    rc_assert_error(ac_req(conn, "POST", "/api/collections/users/auth-refresh", t1, NULL), 401,
                    NULL, NULL);
    rc_assert_error(ac_req(conn, "POST", "/api/collections/users/auth-logout", t1, NULL), 401, NULL,
                    NULL);
}

static void test_logout_all(void **state)
{
    (void)state;
    ac_signup(conn, "users", "cat@example.com", "cats password", NULL);
    const char *a = ac_login(conn, "users", "cat@example.com", "cats password", NULL);
    const char *b = ac_login(conn, "users", "cat@example.com", "cats password", NULL);
    assert_string_not_equal(a, b);
    assert_int_equal(own_count(a), 1);
    assert_int_equal(own_count(b), 1);
    assert_int_equal(
        ac_req(conn, "POST", "/api/collections/users/auth-logout-all", a, NULL)->status, 204);
    assert_int_equal(own_count(a), 0);
    assert_int_equal(own_count(b), 0);
    const char *c = ac_login(conn, "users", "cat@example.com", "cats password", NULL);
    assert_int_equal(own_count(c), 1);
}

static void test_password_change(void **state)
{
    (void)state;
    const char *id = ac_signup(conn, "users", "dan@example.com", "first password", NULL);
    const char *t = ac_login(conn, "users", "dan@example.com", "first password", NULL);
    const char *other = ac_login(conn, "users", "dan@example.com", "first password", NULL);
    const char *path = it_sprintf("/api/collections/users/records/%s", id);
    rc_assert_error(ac_req(conn, "PATCH", path, t,
                           rc_q("{'password':'second password','passwordConfirm':'second "
                                "password'}")),
                    400, "oldPassword", "validation_required");
    rc_assert_error(ac_req(conn, "PATCH", path, t,
                           rc_q("{'password':'second password','passwordConfirm':'second "
                                "password','oldPassword':'not it'}")),
                    400, "oldPassword", "validation_invalid_old_password");
    assert_int_equal(own_count(t), 1); /* nothing changed */
    struct rc_resp *r = ac_req(conn, "PATCH", path, t,
                               rc_q("{'password':'second password','passwordConfirm':'second "
                                    "password','oldPassword':'first password','name':'dan'}"));
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(r->json, "name"), "dan");
    /* every older token is dead at once, the new password works */
    assert_int_equal(own_count(t), 0);
    assert_int_equal(own_count(other), 0);
    rc_assert_error(rc_req(conn, "POST", "/api/collections/users/auth-with-password",
                           rc_q("{'identity':'dan@example.com','password':'first password'}")),
                    400, NULL, NULL);
    assert_int_equal(own_count(ac_login(conn, "users", "dan@example.com", "second password", NULL)),
                     1);
}

static void test_superuser_cli_live(void **state)
{
    (void)state;
    /* a guest or a user cannot use _superusers */
    rc_assert_error(ac_req(conn, "GET", "/api/collections/_superusers/records", NULL, NULL), 403,
                    NULL, NULL);
    ac_superuser(srv, "root@example.com", "root password");
    const cJSON *rec;
    const char *su = ac_login(conn, "_superusers", "root@example.com", "root password", &rec);
    assert_string_equal(rc_str(rec, "collectionName"), "_superusers");
    /* superusers bypass rules and see emails */
    ac_signup(conn, "users", "eve@example.com", "eves password", NULL);
    struct rc_resp *r = ac_req(conn, "GET", "/api/collections/users/records?perPage=100", su, NULL);
    assert_int_equal(r->status, 200);
    assert_true(cJSON_GetArraySize(rc_get(r->json, "items")) >= 2);
    const cJSON *first = cJSON_GetArrayItem(rc_get(r->json, "items"), 0);
    assert_non_null(cJSON_GetObjectItem(first, "email"));
    assert_non_null(cJSON_GetObjectItem(first, "note")); /* hidden fields too */
    assert_null(cJSON_GetObjectItem(first, "tokenKey")); /* never */
    assert_int_equal(ac_req(conn, "GET", "/api/collections", su, NULL)->status, 200);

    /* a new password from the CLI ends the superuser's sessions */
    ac_superuser(srv, "root@example.com", "root password 2");
    rc_assert_error(ac_req(conn, "GET", "/api/collections", su, NULL), 401, NULL, NULL);
    su = ac_login(conn, "_superusers", "root@example.com", "root password 2", NULL);
    assert_int_equal(ac_req(conn, "GET", "/api/collections", su, NULL)->status, 200);
    char *err = NULL;
    assert_int_equal(
        ac_run(NULL, &err, "superuser", "delete", "root@example.com", "--dir", srv->data_dir, NULL),
        0);
    rc_assert_error(ac_req(conn, "GET", "/api/collections", su, NULL), 401, NULL, NULL);
    assert_int_equal(
        ac_run(NULL, &err, "superuser", "delete", "root@example.com", "--dir", srv->data_dir, NULL),
        1);
    assert_int_equal(ac_run(NULL, &err, "superuser", "upsert", "root@example.com", "short", "--dir",
                            srv->data_dir, NULL),
                     1);
    assert_non_null(strstr(err, "password"));
}

static void test_password_reset(void **state)
{
    (void)state;
    ac_signup(conn, "users", "fay@example.com", "fays password", NULL);
    const char *old = ac_login(conn, "users", "fay@example.com", "fays password", NULL);
    const char *base = "/api/collections/users/";
    assert_int_equal(rc_req(conn, "POST", it_sprintf("%srequest-password-reset", base),
                            rc_q("{'email':'nobody@example.com'}"))
                         ->status,
                     204);
    assert_int_equal(rc_req(conn, "POST", it_sprintf("%srequest-password-reset", base),
                            rc_q("{'email':'FAY@example.com'}"))
                         ->status,
                     204);
    const char *tok = ac_mailed_token(srv, "fay@example.com", 1);
    const char *confirm = it_sprintf("%sconfirm-password-reset", base);
    rc_assert_error(rc_reqf(conn, "POST", confirm,
                            "{\"token\":\"%s\",\"password\":\"new fay pass\","
                            "\"passwordConfirm\":\"other\"}",
                            tok),
                    400, "passwordConfirm", NULL);
    rc_assert_error(rc_reqf(conn, "POST", confirm,
                            "{\"token\":\"%sx\",\"password\":\"new fay pass\","
                            "\"passwordConfirm\":\"new fay pass\"}",
                            tok),
                    400, "token", "validation_invalid_token");
    rc_assert_error(rc_reqf(conn, "POST", confirm,
                            "{\"token\":\"%s\",\"password\":\"short\","
                            "\"passwordConfirm\":\"short\"}",
                            tok),
                    400, "password", "validation_min_text_constraint");
    /* an auth token is not a reset token */
    rc_assert_error(rc_reqf(conn, "POST", confirm,
                            "{\"token\":\"%s\",\"password\":\"new fay pass\","
                            "\"passwordConfirm\":\"new fay pass\"}",
                            old),
                    400, "token", "validation_invalid_token");
    assert_int_equal(rc_reqf(conn, "POST", confirm,
                             "{\"token\":\"%s\",\"password\":\"new fay pass\","
                             "\"passwordConfirm\":\"new fay pass\"}",
                             tok)
                         ->status,
                     204);
    assert_int_equal(own_count(old), 0);
    const cJSON *rec;
    ac_login(conn, "users", "fay@example.com", "new fay pass", &rec);
    assert_true(cJSON_IsTrue(rc_get(rec, "verified")));
    /* a reset token works once */
    rc_assert_error(rc_reqf(conn, "POST", confirm,
                            "{\"token\":\"%s\",\"password\":\"third pass\","
                            "\"passwordConfirm\":\"third pass\"}",
                            tok),
                    400, "token", "validation_invalid_token");
}

static const cJSON *find_id(const cJSON *items, const char *id)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, items) {
        if (strcmp(rc_str(e, "id"), id) == 0)
            return e;
    }
    fail_msg("record %s not listed", id);
    return NULL;
}

static void test_email_visibility(void **state)
{
    (void)state;
    const char *a = ac_signup(conn, "people", "hidden@example.com", "people pass", NULL);
    const char *b =
        ac_signup(conn, "people", "shown@example.com", "people pass", "\"emailVisibility\":true");
    const char *ta = ac_login(conn, "people", "hidden@example.com", "people pass", NULL);
    const char *tb = ac_login(conn, "people", "shown@example.com", "people pass", NULL);
    const char *tokens[] = {NULL, ta, tb};
    for (int i = 0; i < 3; i++) {
        struct rc_resp *r = ac_req(conn, "GET", "/api/collections/people/records", tokens[i], NULL);
        assert_int_equal(r->status, 200);
        const cJSON *items = rc_get(r->json, "items");
        const cJSON *ra = find_id(items, a), *rb = find_id(items, b);
        /* a's email only to a; b's to everyone */
        if (i == 1)
            assert_string_equal(rc_str(ra, "email"), "hidden@example.com");
        else
            assert_null(cJSON_GetObjectItem(ra, "email"));
        assert_string_equal(rc_str(rb, "email"), "shown@example.com");
    }
    struct rc_resp *r =
        ac_req(conn, "GET", it_sprintf("/api/collections/people/records/%s", a), ta, NULL);
    assert_string_equal(rc_str(r->json, "email"), "hidden@example.com");
    r = ac_req(conn, "GET", it_sprintf("/api/collections/people/records/%s", a), tb, NULL);
    assert_null(cJSON_GetObjectItem(r->json, "email"));
}

static void test_auth_methods(void **state)
{
    (void)state;
    struct rc_resp *r = rc_req(conn, "GET", "/api/collections/users/auth-methods", NULL);
    assert_int_equal(r->status, 200);
    const cJSON *pw = rc_get(r->json, "password");
    assert_true(cJSON_IsTrue(rc_get(pw, "enabled")));
    assert_string_equal(cJSON_GetArrayItem(rc_get(pw, "identityFields"), 0)->valuestring, "email");
    assert_true(cJSON_IsFalse(rc_get(rc_get(r->json, "oauth2"), "enabled")));
    rc_assert_error(rc_req(conn, "GET", "/api/collections/things/auth-methods", NULL), 404, NULL,
                    NULL);
    rc_assert_error(rc_req(conn, "GET", "/api/collections/nope/auth-methods", NULL), 404, NULL,
                    NULL);
}

/* The exp claim of a token (its payload decoded). */
static int64_t token_exp(const char *tok)
{
    const char *p = strchr(tok, '.') + 1, *end = strchr(p, '.');
    size_t n = (size_t)(end - p);
    char *b64 = it_alloc(n + 4);
    for (size_t i = 0; i < n; i++)
        b64[i] = p[i] == '-' ? '+' : p[i] == '_' ? '/' : p[i];
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = it_alloc(n + 1);
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 6) | (unsigned)(strchr(tbl, b64[i]) - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    cJSON *j = rc_track(cJSON_ParseWithLength(out, o));
    assert_non_null(j);
    assert_string_equal(rc_str(j, "type"), "auth");
    assert_true(cJSON_IsTrue(rc_get(j, "refreshable")));
    return (int64_t)rc_num(j, "exp");
}

static void test_token_ttl(void **state)
{
    (void)state;
    const char *t = ac_login(conn, "users", "bob@example.com", "bobs password", NULL);
    int64_t exp = token_exp(t), now = (int64_t)time(NULL);
    assert_true(exp > now + 7 * 86400 - 60 && exp <= now + 7 * 86400 + 1); /* default 7 days */

    struct it_server *s = rc_server(rc_q(schema), "--token-ttl", "1s", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    ac_signup(c, "users", "short@example.com", "short lived", NULL);
    const char *st = ac_login(c, "users", "short@example.com", "short lived", NULL);
    struct rc_resp *r = ac_req(c, "GET", "/api/collections/users/records", st, NULL);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "items")), 1);
    int64_t deadline = it_now_ms() + 5000;
    int n = 1;
    while (n && it_now_ms() < deadline) {
        poll(NULL, 0, 100);
        r = ac_req(c, "GET", "/api/collections/users/records", st, NULL);
        n = cJSON_GetArraySize(rc_get(r->json, "items"));
    }
    assert_int_equal(n, 0); /* expired: a guest */
    rc_assert_error(ac_req(c, "POST", "/api/collections/users/auth-refresh", st, NULL), 401, NULL,
                    NULL);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_signup_and_login, open_conn),
        it_test_each(test_refresh_and_logout, open_conn),
        it_test_each(test_logout_all, open_conn),
        it_test_each(test_password_change, open_conn),
        it_test_each(test_superuser_cli_live, open_conn),
        it_test_each(test_password_reset, open_conn),
        it_test_each(test_email_visibility, open_conn),
        it_test_each(test_auth_methods, open_conn),
        it_test_each(test_token_ttl, open_conn),
    };
    return cmocka_run_group_tests_name("auth", tests, group_setup, it_group_teardown);
}
