/*
 * The accounts findings of the security run (issue 7: 1, 5, 6, 10, 11, 12,
 * 17), replayed as an attacker against the real binary and its SQLite file:
 *
 *  - oldPassword guessing: guests, other users and other collections' users
 *    get 404 before any hash (a flood of them leaves a one-thread, one-slot
 *    hash pool free for the owner's sign-in); where the rule lets a caller
 *    reach the record, every oldPassword check counts against the same
 *    limits as sign-in (per address, per account and address);
 *  - protected fields decided on final values: verified in any spelling,
 *    duplicate keys, tokenKey (read back from data.db), email changes
 *    refused for non-superusers, a superuser's email change unverifying;
 *  - no lockout by strangers: many addresses fill the account ceiling, the
 *    owner from a clean address still signs in (users and superusers), and
 *    IPv6 addresses of one /64 count as one client;
 *  - cascade deletes (one and two levels) end the sessions of the auth
 *    records they reach, before the answer (data.db checked too);
 *  - reset tokens: never in the log (a 0600 mail.log instead; --mailer log
 *    and off), one mail per account per throttle window, void after an
 *    email change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "test_auth_client.h"

static const char schema[] =
    "["
    "{'name':'users','type':'auth','fields':[{'name':'name','type':'text'}],"
    "  'listRule':'','viewRule':'','createRule':'',"
    "  'updateRule':'id = @request.auth.id','deleteRule':'id = @request.auth.id'},"
    "{'name':'open','type':'auth','fields':[],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':null},"
    "{'name':'orgs','fields':[{'name':'name','type':'text'}],"
    "  'listRule':'','viewRule':'','createRule':null,'updateRule':null,'deleteRule':null},"
    "{'name':'teams','fields':[{'name':'org','type':'relation','collectionId':'orgs',"
    "  'maxSelect':1,'cascadeDelete':true}],"
    "  'listRule':'','viewRule':'','createRule':null,'updateRule':null,'deleteRule':null},"
    "{'name':'members','type':'auth','fields':["
    "  {'name':'org','type':'relation','collectionId':'orgs','maxSelect':1,'cascadeDelete':true},"
    "  {'name':'team','type':'relation','collectionId':'teams','maxSelect':1,"
    "   'cascadeDelete':true}],"
    "  'listRule':'id = @request.auth.id','viewRule':'id = @request.auth.id',"
    "  'createRule':null,'updateRule':null,'deleteRule':null}"
    "]";

#define PW       "victim password 1"
#define PROXY    "--trusted-proxy", "127.0.0.1/32"
#define NO_IP_RL "--rate-limit-auth", "off"

static void stop(struct it_server *s)
{
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

/* A request with an optional token and client address (via the trusted proxy). */
static struct rc_resp *req(struct it_conn *c, const char *method, const char *path,
                           const char *token, const char *ip, const char *body)
{
    const char *h = it_sprintf("%s%s", token ? it_sprintf("Authorization: %s\r\n", token) : "",
                               ip ? it_sprintf("X-Forwarded-For: %s\r\n", ip) : "");
    return ac_reqh(c, method, path, h, body ? rc_q(body) : NULL);
}

static struct rc_resp *login_from(struct it_conn *c, const char *coll, const char *ip,
                                  const char *email, const char *password)
{
    return req(c, "POST", it_sprintf("/api/collections/%s/auth-with-password", coll), NULL, ip,
               it_sprintf("{'identity':'%s','password':'%s'}", email, password));
}

static const char *rec_path(const char *coll, const char *id)
{
    return it_sprintf("/api/collections/%s/records/%s", coll, id);
}

/* The request: a new password with a guess as oldPassword. */
static const char *guess_body(const char *guess)
{
    return it_sprintf("{'password':'attacker pass 1','passwordConfirm':'attacker pass 1',"
                      "'oldPassword':'%s'}",
                      guess);
}

/* One text column of a row of data.db (scope memory), NULL when none. */
static char *db_text(const struct it_server *s, const char *sql, const char *arg)
{
    sqlite3 *db;
    char *out = NULL;
    assert_int_equal(
        sqlite3_open_v2(it_sprintf("%s/data.db", s->data_dir), &db, SQLITE_OPEN_READONLY, NULL),
        SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = it_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static int sessions_of(const struct it_server *s, const char *record_id)
{
    return atoi(db_text(s, "SELECT COUNT(*) FROM _sessions WHERE recordId = ?", record_id));
}

static const char *superuser(struct it_server *s, struct it_conn *c)
{
    ac_superuser(s, "root@example.com", "root password");
    return ac_login(c, "_superusers", "root@example.com", "root password", NULL);
}

/* ---- 1: oldPassword ---- */

static void test_old_password_refused_before_any_hash(void **state)
{
    (void)state;
    /* one hash thread and a queue of one: a single guess that reached the
     * pool alongside another would make the owner's sign-in a 503 */
    struct it_server *s =
        rc_server(rc_q(schema), NO_IP_RL, "--hash-threads", "1", "--hash-queue", "1", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    const char *victim = ac_signup(c, "users", "victim@example.com", PW, NULL);
    ac_signup(c, "users", "mallory@example.com", "mallory pass 1", NULL);
    ac_signup(c, "open", "eve@example.com", "eve password 1", NULL);
    const char *other = ac_login(c, "users", "mallory@example.com", "mallory pass 1", NULL);
    const char *foreign = ac_login(c, "open", "eve@example.com", "eve password 1", NULL);
    const char *callers[] = {NULL, other, foreign};
    const char *guesses[] = {"wrong guess", PW, ""};
    const char *first = NULL;
    for (size_t i = 0; i < 3; i++)
        for (size_t g = 0; g < 3; g++) {
            struct rc_resp *r = req(c, "PATCH", rec_path("users", victim), callers[i], NULL,
                                    guess_body(guesses[g]));
            rc_assert_error(r, 404, NULL, NULL); /* right or wrong: the same answer */
            assert_null(it_resp_header(r->raw, "X-RateLimit-Limit")); /* nothing checked */
            if (!first)
                first = r->raw->body;
            assert_string_equal(r->raw->body, first);
        }
    /* a record that does not exist: 404 too, and no hash for the new password */
    rc_assert_error(
        req(c, "PATCH", rec_path("users", "nosuchrecord123"), other, NULL, guess_body(PW)), 404,
        NULL, NULL);

    /* a flood of parallel guesses while the owner signs in */
    enum { FLOOD = 24 };
    struct it_conn *fl[FLOOD];
    const char *body = rc_q(guess_body("flood guess"));
    for (int i = 0; i < FLOOD; i++) {
        fl[i] = it_conn_open(s);
        assert_non_null(fl[i]);
        assert_int_equal(it_conn_sendf(fl[i],
                                       "PATCH %s HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                       "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                       rec_path("users", victim), strlen(body), body),
                         IT_OK);
    }
    assert_int_equal(login_from(c, "users", NULL, "victim@example.com", PW)->status, 200);
    for (int i = 0; i < FLOOD; i++) {
        struct it_resp *r = it_conn_read(fl[i], 0, 20000);
        assert_non_null(r);
        assert_int_equal(r->status, 404);
    }

    /* the owner: a wrong old password is a field error, the right one works */
    const char *own = ac_login(c, "users", "victim@example.com", PW, NULL);
    rc_assert_error(req(c, "PATCH", rec_path("users", victim), own, NULL, guess_body("nope")), 400,
                    "oldPassword", "validation_invalid_old_password");
    rc_assert_error(req(c, "PATCH", rec_path("users", victim), own, NULL,
                        "{'password':'owner pass 22','passwordConfirm':'owner pass 22'}"),
                    400, "oldPassword", "validation_required");
    assert_int_equal(req(c, "PATCH", rec_path("users", victim), own, NULL,
                         "{'password':'owner pass 22','passwordConfirm':'owner pass 22',"
                         "'oldPassword':'" PW "'}")
                         ->status,
                     200);
    /* a superuser needs no old password */
    const char *su = superuser(s, c);
    assert_int_equal(req(c, "PATCH", rec_path("users", victim), su, NULL,
                         "{'password':'super set pass','passwordConfirm':'super set pass'}")
                         ->status,
                     200);
    assert_int_equal(login_from(c, "users", NULL, "victim@example.com", "super set pass")->status,
                     200);
    it_conn_close(c);
    stop(s);
}

static void test_old_password_checks_are_counted(void **state)
{
    (void)state;
    /* `open` lets anyone update: the check runs, and counts */
    struct it_server *s = rc_server(rc_q(schema), NO_IP_RL, PROXY, "--rate-limit-identity-ip",
                                    "3/15m", "--rate-limit-identity", "100/1h", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    const char *victim = ac_signup(c, "open", "olive@example.com", PW, NULL);
    const char *path = rec_path("open", victim);
    for (int i = 0; i < 3; i++) {
        struct rc_resp *r = req(c, "PATCH", path, NULL, "10.0.0.1", guess_body("guess"));
        rc_assert_error(r, 400, "oldPassword", "validation_invalid_old_password");
        assert_non_null(it_resp_header(r->raw, "X-RateLimit-Limit"));
    }
    struct rc_resp *r = req(c, "PATCH", path, NULL, "10.0.0.1", guess_body(PW));
    rc_assert_error(r, 429, NULL, NULL);
    assert_non_null(it_resp_header(r->raw, "Retry-After"));
    /* sign-in and oldPassword share the counters of (account, address) */
    rc_assert_error(login_from(c, "open", "10.0.0.1", "olive@example.com", PW), 429, NULL, NULL);
    rc_assert_error(login_from(c, "open", "10.0.0.3", "olive@example.com", "bad 1"), 400, NULL,
                    NULL);
    rc_assert_error(login_from(c, "open", "10.0.0.3", "olive@example.com", "bad 2"), 400, NULL,
                    NULL);
    rc_assert_error(req(c, "PATCH", path, NULL, "10.0.0.3", guess_body("bad 3")), 400,
                    "oldPassword", NULL);
    rc_assert_error(req(c, "PATCH", path, NULL, "10.0.0.3", guess_body(PW)), 429, NULL, NULL);
    /* another address is not affected */
    assert_int_equal(req(c, "PATCH", path, NULL, "10.0.0.2",
                         "{'password':'olive pass 2','passwordConfirm':'olive pass 2',"
                         "'oldPassword':'" PW "'}")
                         ->status,
                     200);
    it_conn_close(c);
    stop(s);

    /* the per-address limit counts oldPassword checks too, across accounts */
    s = rc_server(rc_q(schema), PROXY, "--rate-limit-auth", "3/1m", NULL);
    assert_non_null(s);
    c = it_conn_open(s);
    const char *ids[4];
    for (int i = 0; i < 4; i++) /* sign-ups count per address too: each from its own */
        ids[i] = rc_str(
            rc_ok(req(c, "POST", "/api/collections/open/records", NULL, it_sprintf("10.9.%d.1", i),
                      it_sprintf("{'email':'o%d@example.com','password':'" PW
                                 "','passwordConfirm':'" PW "'}",
                                 i)),
                  200),
            "id");
    for (int i = 0; i < 3; i++)
        rc_assert_error(
            req(c, "PATCH", rec_path("open", ids[i]), NULL, "10.0.0.5", guess_body("guess")), 400,
            "oldPassword", NULL);
    rc_assert_error(req(c, "PATCH", rec_path("open", ids[3]), NULL, "10.0.0.5", guess_body(PW)),
                    429, NULL, NULL);
    it_conn_close(c);
    stop(s);
}

/* ---- 10 and 17: lockout, IPv6 ---- */

static void lockout_case(struct it_conn *c, const char *coll, const char *email,
                         const char *password)
{
    /* five strangers, one wrong password each: the ceiling is full */
    for (int i = 0; i < 5; i++)
        rc_assert_error(login_from(c, coll, it_sprintf("203.0.113.%d", i), email, "wrong pass"),
                        400, NULL, NULL);
    rc_assert_error(login_from(c, coll, "203.0.113.0", email, password), 429, NULL, NULL);
    /* the owner, from a clean address, signs in, more than once */
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_from(c, coll, "198.51.100.7", email, password)->status, 200);
    /* a new stranger gets one guess, then nothing, not even the password */
    rc_assert_error(login_from(c, coll, "192.0.2.1", email, "wrong pass"), 400, NULL, NULL);
    rc_assert_error(login_from(c, coll, "192.0.2.1", email, password), 429, NULL, NULL);
    /* a clean IPv6 client too */
    assert_int_equal(login_from(c, coll, "2001:db8:9::1", email, password)->status, 200);
}

static void test_no_lockout_by_strangers(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), NO_IP_RL, PROXY, "--rate-limit-identity", "5/1h",
                                    "--rate-limit-identity-ip", "3/15m", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    ac_signup(c, "users", "owner@example.com", PW, NULL);
    lockout_case(c, "users", "owner@example.com", PW);
    ac_superuser(s, "root@example.com", "root password");
    lockout_case(c, "_superusers", "root@example.com", "root password");

    /* (account, address) with IPv6: one /64 is one address */
    ac_signup(c, "users", "six@example.com", PW, NULL);
    const char *in64[] = {"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"};
    for (int i = 0; i < 3; i++)
        rc_assert_error(login_from(c, "users", in64[i], "six@example.com", "wrong pass"), 400, NULL,
                        NULL);
    rc_assert_error(login_from(c, "users", "2001:db8:1:2::ffff", "six@example.com", PW), 429, NULL,
                    NULL);
    assert_int_equal(login_from(c, "users", "2001:db8:1:3::1", "six@example.com", PW)->status, 200);
    it_conn_close(c);
    stop(s);
}

static void test_ipv6_address_limit_by_64(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), PROXY, "--rate-limit-auth", "3/1m",
                                    "--rate-limit-identity", "off", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    const char *same[] = {"2001:db8::1", "2001:db8::2", "2001:db8::ffff:1"};
    for (int i = 0; i < 3; i++)
        rc_assert_error(login_from(c, "users", same[i], it_sprintf("n%d@example.com", i), "x"), 400,
                        NULL, NULL);
    rc_assert_error(login_from(c, "users", "2001:db8::abcd", "n9@example.com", "x"), 429, NULL,
                    NULL);
    /* sign-ups and resets from the same /64 are the same client */
    rc_assert_error(req(c, "POST", "/api/collections/users/records", NULL, "2001:db8::77",
                        "{'email':'s@example.com','password':'12345678',"
                        "'passwordConfirm':'12345678'}"),
                    429, NULL, NULL);
    rc_assert_error(req(c, "POST", "/api/collections/users/request-password-reset", NULL,
                        "2001:db8::78", "{'email':'s@example.com'}"),
                    429, NULL, NULL);
    /* the next /64 and IPv4 are other clients */
    rc_assert_error(login_from(c, "users", "2001:db8:0:1::1", "n9@example.com", "x"), 400, NULL,
                    NULL);
    rc_assert_error(login_from(c, "users", "10.1.1.1", "n9@example.com", "x"), 400, NULL, NULL);
    it_conn_close(c);
    stop(s);
}

/* ---- 5 and 6: protected fields ---- */

static void test_protected_fields_on_sign_up(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), NO_IP_RL, NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    const char *su = superuser(s, c);
    const char *spellings[] = {"true", "'true'", "1", "'1'", "'t'"};
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        const char *email = it_sprintf("v%zu@example.com", i);
        rc_assert_error(req(c, "POST", "/api/collections/users/records", NULL, NULL,
                            it_sprintf("{'email':'%s','password':'" PW "','passwordConfirm':'" PW
                                       "','verified':%s}",
                                       email, spellings[i])),
                        400, "verified", "validation_values_mismatch");
        rc_assert_error(login_from(c, "users", NULL, email, PW), 400, NULL, NULL); /* not made */
    }
    /* duplicate keys, the body: refused (JSON parser), or at most an
     * account that is NOT verified - never a verified one */
    struct rc_resp *r = req(c, "POST", "/api/collections/users/records", NULL, NULL,
                            "{'email':'dup@example.com','password':'" PW "','passwordConfirm':'" PW
                            "','verified':false,'verified':true}");
    assert_true(r->status == 400 || r->status == 200);
    if (r->status == 200) {
        const char *dup = rc_str(r->json, "id");
        assert_true(cJSON_IsFalse(
            rc_get(rc_ok(req(c, "GET", rec_path("users", dup), su, NULL, NULL), 200), "verified")));
    }
    /* a chosen tokenKey is not stored: the server makes its own */
    const char *chosen = "chosen-chosen-chosen-chosen-chosen-chosen-chosen-ch";
    rc_ok(req(c, "POST", "/api/collections/users/records", NULL, NULL,
              it_sprintf("{'email':'tk@example.com','password':'" PW "','passwordConfirm':'" PW
                         "','tokenKey':'%s'}",
                         chosen)),
          200);
    const char *stored = db_text(s, "SELECT tokenKey FROM users WHERE email = ?", "tk@example.com");
    assert_non_null(stored);
    assert_string_not_equal(stored, chosen);
    assert_true(strlen(stored) >= 30);
    /* a superuser may create a verified account */
    const cJSON *v = rc_ok(req(c, "POST", "/api/collections/users/records", su, NULL,
                               "{'email':'ok@example.com','password':'" PW
                               "','passwordConfirm':'" PW "','verified':true}"),
                           200);
    assert_true(cJSON_IsTrue(rc_get(v, "verified")));
    it_conn_close(c);
    stop(s);
}

static void test_protected_fields_on_update(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), NO_IP_RL, NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    const char *su = superuser(s, c);
    const char *id = ac_signup(c, "users", "self@example.com", PW, NULL);
    const char *tok = ac_login(c, "users", "self@example.com", PW, NULL);
    const char *path = rec_path("users", id);
    const char *key0 = db_text(s, "SELECT tokenKey FROM users WHERE id = ?", id);
    const char *bodies[] = {
        "{'verified':true}",
        "{'verified':'true'}",
        "{'verified':1}",
        "{'verified':'1'}",
        "{'verified':true,'verified':true}",
        "{'name':'x','verified':true}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        assert_int_equal(req(c, "PATCH", path, tok, NULL, bodies[i])->status, 400);
    rc_assert_error(req(c, "PATCH", path, tok, NULL, "{'verified':true}"), 400, "verified",
                    "validation_values_mismatch");
    assert_true(cJSON_IsFalse(rc_get(rc_ok(req(c, "GET", path, su, NULL, NULL), 200), "verified")));
    /* the same value is no change */
    assert_int_equal(req(c, "PATCH", path, tok, NULL, "{'verified':false}")->status, 200);
    /* tokenKey: ignored, the stored one stays and the token still works */
    assert_int_equal(req(c, "PATCH", path, tok, NULL,
                         "{'tokenKey':'chosen-chosen-chosen-chosen-chosen-chosen-chosen-c'}")
                         ->status,
                     200);
    assert_string_equal(db_text(s, "SELECT tokenKey FROM users WHERE id = ?", id), key0);
    assert_int_equal(req(c, "GET", path, tok, NULL, NULL)->status, 200);
    /* emailVisibility is the owner's to set */
    assert_int_equal(req(c, "PATCH", path, tok, NULL, "{'emailVisibility':true}")->status, 200);

    /* 6: email changes: refused for the owner (any spelling), allowed to a superuser */
    const char *emails[] = {"{'email':'attacker@example.com'}", "{'email':'SELF@example.com'}",
                            "{'name':'n','email':'attacker@example.com'}"};
    for (size_t i = 0; i < sizeof emails / sizeof emails[0]; i++)
        rc_assert_error(req(c, "PATCH", path, tok, NULL, emails[i]), 400, "email",
                        "validation_values_mismatch");
    assert_string_equal(db_text(s, "SELECT email FROM users WHERE id = ?", id), "self@example.com");
    assert_int_equal(req(c, "PATCH", path, tok, NULL, "{'email':'self@example.com'}")->status,
                     200); /* unchanged: fine */
    /* a superuser verifies, then changes the email: verified is cleared */
    assert_true(cJSON_IsTrue(
        rc_get(rc_ok(req(c, "PATCH", path, su, NULL, "{'verified':true}"), 200), "verified")));
    const cJSON *r = rc_ok(req(c, "PATCH", path, su, NULL, "{'email':'new@example.com'}"), 200);
    assert_true(cJSON_IsFalse(rc_get(r, "verified")));
    assert_string_equal(rc_str(r, "email"), "new@example.com");
    /* ... unless the superuser sets both at once */
    r = rc_ok(req(c, "PATCH", path, su, NULL, "{'email':'newer@example.com','verified':true}"),
              200);
    assert_true(cJSON_IsTrue(rc_get(r, "verified")));
    it_conn_close(c);
    stop(s);
}

/* ---- 11: cascades end sessions ---- */

static void test_cascade_ends_sessions(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), NO_IP_RL, NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    const char *su = superuser(s, c);
    for (int depth = 1; depth <= 3; depth++) {
        const char *org = rc_str(
            rc_ok(req(c, "POST", "/api/collections/orgs/records", su, NULL, "{'name':'o'}"), 200),
            "id");
        const char *link = it_sprintf("'org':'%s'", org);
        if (depth == 2) { /* orgs -> teams -> members */
            const char *team = rc_str(rc_ok(req(c, "POST", "/api/collections/teams/records", su,
                                                NULL, it_sprintf("{'org':'%s'}", org)),
                                            200),
                                      "id");
            link = it_sprintf("'team':'%s'", team);
        }
        const char *email = it_sprintf("m%d@example.com", depth);
        const char *mid = rc_str(
            rc_ok(req(c, "POST", "/api/collections/members/records", su, NULL,
                      it_sprintf("{'email':'%s','password':'" PW "','passwordConfirm':'" PW "',%s}",
                                 email, link)),
                  200),
            "id");
        const char *t = ac_login(c, "members", email, PW, NULL);
        const char *t2 = ac_login(c, "members", email, PW, NULL);
        const char *mine = rec_path("members", mid);
        for (int i = 0; i < 3; i++) /* warm the token cache */
            assert_int_equal(req(c, "GET", mine, t, NULL, NULL)->status, 200);
        assert_int_equal(sessions_of(s, mid), 2);
        /* depth 3: the member itself is deleted directly */
        const char *del = depth == 3 ? mine : rec_path("orgs", org);
        assert_int_equal(req(c, "DELETE", del, su, NULL, NULL)->status, 204);
        /* the very next request: no token of the member works */
        rc_assert_error(req(c, "GET", mine, t, NULL, NULL), 404, NULL, NULL);
        rc_assert_error(req(c, "POST", "/api/collections/members/auth-refresh", t, NULL, NULL), 401,
                        NULL, NULL);
        rc_assert_error(req(c, "POST", "/api/collections/members/auth-refresh", t2, NULL, NULL),
                        401, NULL, NULL);
        assert_int_equal(sessions_of(s, mid), 0);
    }
    it_conn_close(c);
    stop(s);
}

/* ---- 12 and 17: reset tokens ---- */

static void test_reset_tokens_never_logged(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), NO_IP_RL, NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    ac_signup(c, "users", "rita@example.com", PW, NULL);
    ac_superuser(s, "root@example.com", "root password");
    assert_int_equal(req(c, "POST", "/api/collections/users/request-password-reset", NULL, NULL,
                         "{'email':'rita@example.com'}")
                         ->status,
                     204);
    assert_int_equal(req(c, "POST", "/api/collections/_superusers/request-password-reset", NULL,
                         NULL, "{'email':'root@example.com'}")
                         ->status,
                     204);
    const char *t1 = ac_mailed_token(s, "rita@example.com", 1);
    const char *t2 = ac_mailed_token(s, "root@example.com", 1);
    assert_true(it_server_wait_log(s, "appended to mail.log", 3000));
    const char *log = it_server_log(s);
    assert_null(strstr(log, t1));
    assert_null(strstr(log, t2));
    assert_null(strstr(log, "eyJ")); /* no JWT at all */
    /* the mailed token is the real one */
    assert_int_equal(
        req(c, "POST", "/api/collections/_superusers/confirm-password-reset", NULL, NULL,
            it_sprintf("{'token':'%s','password':'root pass 2','passwordConfirm':'root pass 2'}",
                       t2))
            ->status,
        204);
    it_conn_close(c);
    stop(s);

    /* --mailer off: nothing written anywhere; --mailer log: the explicit
     * development choice, and only then, the log holds the token */
    const char *modes[] = {"off", "log"};
    for (int m = 0; m < 2; m++) {
        s = rc_server(rc_q(schema), NO_IP_RL, "--mailer", modes[m], NULL);
        assert_non_null(s);
        c = it_conn_open(s);
        ac_signup(c, "users", "rita@example.com", PW, NULL);
        assert_int_equal(req(c, "POST", "/api/collections/users/request-password-reset", NULL, NULL,
                             "{'email':'rita@example.com'}")
                             ->status,
                         204);
        assert_true(it_server_wait_log(s, "password reset for", 3000));
        struct stat st;
        assert_int_not_equal(stat(it_sprintf("%s/mail.log", s->data_dir), &st), 0);
        assert_true((strstr(it_server_log(s), "eyJ") != NULL) == (m == 1));
        it_conn_close(c);
        stop(s);
    }
    /* a bad value is refused at start */
    char *err = NULL;
    assert_int_equal(ac_run(NULL, &err, "serve", "--mailer", "smtp", NULL), 2);
}

static void test_reset_throttle_and_email_binding(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), NO_IP_RL, NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    const char *su = superuser(s, c);
    const char *id = ac_signup(c, "users", "tess@example.com", PW, NULL);
    ac_signup(c, "users", "uma@example.com", PW, NULL);
    const char *ask = "/api/collections/users/request-password-reset";
    for (int i = 0; i < 5; i++) /* the same answer, one mail */
        assert_int_equal(req(c, "POST", ask, NULL, NULL, "{'email':'tess@example.com'}")->status,
                         204);
    assert_true(it_server_wait_log(s, "not sent: one was sent recently", 3000));
    const char *tok = ac_mailed_token(s, "tess@example.com", 1);
    assert_int_equal(req(c, "POST", ask, NULL, NULL, "{'email':'uma@example.com'}")->status, 204);
    ac_mailed_token(s, "uma@example.com", 1);
    assert_int_equal(ac_mail_count(s, "tess@example.com"), 1);
    /* the email changes: the token made for the old address is void */
    assert_int_equal(
        req(c, "PATCH", rec_path("users", id), su, NULL, "{'email':'tess2@example.com'}")->status,
        200);
    rc_assert_error(req(c, "POST", "/api/collections/users/confirm-password-reset", NULL, NULL,
                        it_sprintf("{'token':'%s','password':'taken over 1',"
                                   "'passwordConfirm':'taken over 1'}",
                                   tok)),
                    400, "token", "validation_invalid_token");
    assert_int_equal(login_from(c, "users", NULL, "tess2@example.com", PW)->status, 200);
    it_conn_close(c);
    stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_old_password_refused_before_any_hash),
        it_test(test_old_password_checks_are_counted),
        it_test(test_no_lockout_by_strangers),
        it_test(test_ipv6_address_limit_by_64),
        it_test(test_protected_fields_on_sign_up),
        it_test(test_protected_fields_on_update),
        it_test(test_cascade_ends_sessions),
        it_test(test_reset_tokens_never_logged),
        it_test(test_reset_throttle_and_email_binding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
