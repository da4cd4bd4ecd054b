/*
 * List totals come from the count cache (records_count.c) and records are
 * written straight from rows as JSON text; what a client sees of both:
 * a total read right after an acknowledged write counts it (create, update
 * moving a record in or out of the filter, delete, a delete cascading into
 * or clearing another collection's relation, a filter through a relation
 * whose target changed, a password reset verifying an account, and
 * `stagehand superuser` writing _superusers from another process, a
 * logout-all rotating a tokenKey a filter reads through a relation); many
 * writes completing together; the same answers with --count-cache 0. And a
 * record's bytes are the same wherever it is answered (create, view, list
 * item) and mean the same JSON as the tree path (`fields=*`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "test_auth_client.h"

#define OPEN "'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''"

static const char schema[] =
    "["
    "{'name':'notes','type':'base','fields':["
    "  {'name':'tag','type':'select','values':['a','b','c'],'maxSelect':1},"
    "  {'name':'n','type':'number'}],"
    "  'indexes':['CREATE INDEX idx_notes_tag ON notes (tag)']," OPEN "},"
    "{'name':'parents','type':'base','fields':[{'name':'name','type':'text'}]," OPEN "},"
    "{'name':'kids','type':'base','fields':["
    "  {'name':'parent','type':'relation','collectionId':'parents','maxSelect':1,"
    "   'cascadeDelete':true},"
    "  {'name':'friend','type':'relation','collectionId':'parents','maxSelect':3}]," OPEN "},"
    "{'name':'members','type':'auth','fields':[]," OPEN "},"
    "{'name':'owned','type':'base','fields':["
    "  {'name':'owner','type':'relation','collectionId':'members','maxSelect':1}]," OPEN "},"
    "{'name':'shapes','type':'base','fields':["
    "  {'name':'title','type':'text'},{'name':'n','type':'number'},"
    "  {'name':'ok','type':'bool'},{'name':'meta','type':'json'},"
    "  {'name':'tags','type':'select','values':['x','y','z'],'maxSelect':3},"
    "  {'name':'when','type':'date'},"
    "  {'name':'created','type':'autodate','onCreate':true},"
    "  {'name':'updated','type':'autodate','onCreate':true,'onUpdate':true}]," OPEN "}"
    "]";

static struct it_server *srv;
static struct it_conn *conn;

static int start(const char *cache)
{
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", "--count-cache",
                    cache, NULL);
    return srv ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    return start("64");
}

static int group_setup_off(void **state)
{
    (void)state;
    return start("0");
}

/* Each test's connection to the group's server (in the test's scope). */
static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

/* totalItems of a list of coll with filter (token may be NULL); also checks
 * totalPages and that a second read (a cache hit) says the same. */
static int total_as(const char *coll, const char *filter, const char *token)
{
    const char *path =
        it_sprintf("/api/collections/%s/records?perPage=2&filter=%s", coll, rc_enc(filter));
    int n = -1;
    for (int i = 0; i < 2; i++) {
        const cJSON *j = rc_ok(ac_req(conn, "GET", path, token, NULL), 200);
        int t = (int)rc_num(j, "totalItems");
        assert_int_equal((int)rc_num(j, "totalPages"), (t + 1) / 2);
        if (i)
            assert_int_equal(t, n);
        n = t;
    }
    return n;
}

static int total(const char *coll, const char *filter)
{
    return total_as(coll, filter, NULL);
}

/* ---- totals right after writes ---- */

static void test_counts_follow_writes(void **state)
{
    (void)state;
    const char *f = "tag = 'a'";
    int a0 = total("notes", f), b0 = total("notes", "tag = 'b'"), all0 = total("notes", "n >= 0");
    const char *id = rc_create(conn, "notes", "{'tag':'a','n':1}");
    assert_int_equal(total("notes", f), a0 + 1); /* at once: no stale total */
    rc_create(conn, "notes", "{'tag':'a','n':2}");
    assert_int_equal(total("notes", f), a0 + 2);
    assert_int_equal(total("notes", "tag = 'b'"), b0);
    assert_int_equal(total("notes", "n >= 0"), all0 + 2);

    /* an update moves a record out of one filter and into another */
    const char *one = it_sprintf("/api/collections/notes/records/%s", id);
    rc_ok(rc_req(conn, "PATCH", one, rc_q("{'tag':'b'}")), 200);
    assert_int_equal(total("notes", f), a0 + 1);
    assert_int_equal(total("notes", "tag = 'b'"), b0 + 1);
    /* the same filter with another value is another count */
    assert_int_equal(total("notes", "tag = 'c'"), 0);

    /* a refused write changes nothing, and nothing goes stale */
    rc_assert_error(rc_req(conn, "PATCH", one, rc_q("{'tag':'nope'}")), 400, "tag", NULL);
    assert_int_equal(total("notes", "tag = 'b'"), b0 + 1);

    assert_int_equal(rc_req(conn, "DELETE", one, NULL)->status, 204);
    assert_int_equal(total("notes", "tag = 'b'"), b0);
    assert_int_equal(total("notes", "n >= 0"), all0 + 1);

    /* skipTotal answers -1, and a list without a filter counts everything */
    const cJSON *j =
        rc_ok(rc_req(conn, "GET", "/api/collections/notes/records?skipTotal=1", NULL), 200);
    assert_int_equal((int)rc_num(j, "totalItems"), -1);
    assert_int_equal((int)rc_num(j, "totalPages"), -1);
    j = rc_ok(rc_req(conn, "GET", "/api/collections/notes/records", NULL), 200);
    assert_int_equal((int)rc_num(j, "totalItems"), all0 + 1);
}

/* A list pipelined right behind a create on the same connection is answered
 * after the create's acknowledgement, so it counts the new record. */
static void test_counts_pipelined(void **state)
{
    (void)state;
    const char *list = "/api/collections/notes/records?perPage=1&filter=tag%3D%27b%27";
    for (int round = 0; round < 5; round++) {
        int b0 = total("notes", "tag='b'"); /* cached now */
        const char *body = "{\"tag\":\"b\",\"n\":7}";
        assert_int_equal(it_conn_sendf(conn,
                                       "POST /api/collections/notes/records HTTP/1.1\r\n"
                                       "Host: x\r\nContent-Type: application/json\r\n"
                                       "Content-Length: %zu\r\n\r\n%s"
                                       "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
                                       strlen(body), body, list),
                         IT_OK);
        struct it_resp *c = it_conn_read(conn, 0, IT_MS_IO);
        assert_non_null(c);
        assert_int_equal(c->status, 200);
        struct it_resp *l = it_conn_read(conn, 0, IT_MS_IO);
        assert_non_null(l);
        assert_int_equal(l->status, 200);
        cJSON *j = rc_track(cJSON_Parse(l->body));
        assert_int_equal((int)rc_num(j, "totalItems"), b0 + 1);
    }
}

static char *note_body(int i, void *ud)
{
    (void)ud;
    return it_sprintf("{\"tag\":\"c\",\"n\":%d}", i);
}

/* Writes completing together (one group commit) are all counted. */
static void test_counts_many_writes(void **state)
{
    (void)state;
    int c0 = total("notes", "tag = 'c'");
    rc_bulk_create(srv, "notes", 200, note_body, NULL);
    assert_int_equal(total("notes", "tag = 'c'"), c0 + 200);
    rc_bulk_create(srv, "notes", 50, note_body, NULL);
    assert_int_equal(total("notes", "tag = 'c'"), c0 + 250);
}

/* Deleting a parent cascades into kids (parent) and clears their friend
 * lists: totals of kids, and of kids through the relation, move at once. */
static void test_counts_relations(void **state)
{
    (void)state;
    const char *p1 = rc_create(conn, "parents", "{'name':'p1'}");
    const char *p2 = rc_create(conn, "parents", "{'name':'p2'}");
    rc_create(conn, "kids", it_sprintf("{'parent':'%s','friend':['%s']}", p1, p2));
    rc_create(conn, "kids", it_sprintf("{'parent':'%s','friend':['%s']}", p2, p2));
    rc_create(conn, "kids", it_sprintf("{'parent':'%s'}", p2));
    const char *of_p1 = it_sprintf("parent = '%s'", p1);
    const char *friends_p2 = it_sprintf("friend ?= '%s'", p2);
    assert_int_equal(total("kids", of_p1), 1);
    assert_int_equal(total("kids", friends_p2), 2);
    assert_int_equal(total("kids", "parent.name = 'p1'"), 1);
    assert_int_equal(total("kids", "parent.name = 'p3'"), 0);

    /* renaming the parent changes a count through the relation */
    rc_ok(rc_req(conn, "PATCH", it_sprintf("/api/collections/parents/records/%s", p1),
                 rc_q("{'name':'p3'}")),
          200);
    assert_int_equal(total("kids", "parent.name = 'p1'"), 0);
    assert_int_equal(total("kids", "parent.name = 'p3'"), 1);

    /* deleting p1 deletes its kid (cascade); deleting p2 deletes the other
     * two, and would clear friend lists */
    assert_int_equal(
        rc_req(conn, "DELETE", it_sprintf("/api/collections/parents/records/%s", p1), NULL)->status,
        204);
    assert_int_equal(total("kids", of_p1), 0);
    assert_int_equal(total("kids", friends_p2), 1); /* p1's kid was a friend of p2 */
    const char *p4 = rc_create(conn, "parents", "{'name':'p4'}");
    rc_create(conn, "kids", it_sprintf("{'parent':'%s','friend':['%s']}", p4, p2));
    assert_int_equal(total("kids", friends_p2), 2);
    assert_int_equal(
        rc_req(conn, "DELETE", it_sprintf("/api/collections/parents/records/%s", p2), NULL)->status,
        204);
    /* p2's kids are gone; p4's kid lost p2 from its friends */
    assert_int_equal(total("kids", friends_p2), 0);
    assert_int_equal(total("kids", it_sprintf("parent = '%s'", p4)), 1);
    assert_int_equal(total("kids", "friend:length = 0"), 1);
}

/* A password reset (the auth routes' own job) verifies the account: a total
 * over `verified` moves at once. */
static void test_counts_password_reset(void **state)
{
    (void)state;
    ac_signup(conn, "members", "mia@example.com", "mias password", NULL);
    int v0 = total("members", "verified = true");
    assert_int_equal(rc_req(conn, "POST", "/api/collections/members/request-password-reset",
                            rc_q("{'email':'mia@example.com'}"))
                         ->status,
                     204);
    const char *tok = ac_mailed_token(srv, "mia@example.com", 1);
    assert_int_equal(rc_reqf(conn, "POST", "/api/collections/members/confirm-password-reset",
                             "{\"token\":\"%s\",\"password\":\"new mia pass\","
                             "\"passwordConfirm\":\"new mia pass\"}",
                             tok)
                         ->status,
                     204);
    assert_int_equal(total("members", "verified = true"), v0 + 1);
}

/* _superusers is written by `stagehand superuser` in another process: its
 * totals are never cached. */
static void test_counts_superusers_cli(void **state)
{
    (void)state;
    ac_superuser(srv, "root@example.com", "root password");
    const char *su = ac_login(conn, "_superusers", "root@example.com", "root password", NULL);
    const char *f = "email ~ 'example.com'";
    int n0 = total_as("_superusers", f, su);
    assert_true(n0 >= 1);
    ac_superuser(srv, "second@example.com", "second password");
    assert_int_equal(total_as("_superusers", f, su), n0 + 1);
}

/* The stored tokenKey of members record id, read from the data file. */
static const char *token_key(const char *id)
{
    sqlite3 *db;
    assert_int_equal(
        sqlite3_open_v2(it_sprintf("%s/data.db", srv->data_dir), &db, SQLITE_OPEN_READONLY, NULL),
        SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT tokenKey FROM members WHERE id = ?", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *key = it_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_true(key[0] != 0);
    return key;
}

/* A total through a hidden field (an auth record's tokenKey, which
 * logout-all rotates in a job that is not a records write) is never served
 * from the cache: the compiler reports the read, and the total moves at
 * once. */
static void test_counts_hidden_field(void **state)
{
    (void)state;
    ac_superuser(srv, "keys@example.com", "keys password");
    const char *su = ac_login(conn, "_superusers", "keys@example.com", "keys password", NULL);
    const char *id = ac_signup(conn, "members", "kim@example.com", "kims password", NULL);
    const char *kim = ac_login(conn, "members", "kim@example.com", "kims password", NULL);
    rc_create(conn, "owned", it_sprintf("{'owner':'%s'}", id));
    const char *key = token_key(id); /* never shown by the API, even to superusers */
    const char *f = it_sprintf("owner.tokenKey = '%s'", key);
    assert_int_equal(total_as("owned", f, su), 1);
    assert_int_equal(
        ac_req(conn, "POST", "/api/collections/members/auth-logout-all", kim, NULL)->status, 204);
    assert_int_equal(total_as("owned", f, su), 0);
}

/* ---- the bytes of a record ---- */

static const char *item_bytes(const char *body)
{
    /* the one item of a list page: between "items":[ and the final ]} */
    const char *p = strstr(body, "\"items\":[");
    assert_non_null(p);
    p += 9;
    size_t n = strlen(p);
    assert_true(n >= 2 && strcmp(p + n - 2, "]}") == 0);
    char *s = it_alloc(n - 1);
    memcpy(s, p, n - 2);
    s[n - 2] = 0;
    return s;
}

static void test_json_same_bytes(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"title\":\"plain\",\"n\":1,\"ok\":true,\"meta\":{\"k\":[1,2.5,\"x\"]},"
        "\"tags\":[\"x\",\"z\"],\"when\":\"2024-01-02 03:04:05.678Z\"}",
        "{\"title\":\"q\\\"uote\\\\ back\\nline\\ttab \\u0001 \\u00e9 \\u20ac \\ud83d\\ude00\","
        "\"n\":0.1}",
        "{\"n\":1e20,\"meta\":\"just text\"}",
        "{\"n\":-2.5e-7,\"meta\":[]}",
        "{\"n\":123456789012,\"meta\":null,\"ok\":false}",
        "{\"n\":0.30000000000000004,\"tags\":[\"y\"]}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct rc_resp *c = rc_req(conn, "POST", "/api/collections/shapes/records", bodies[i]);
        rc_ok(c, 200);
        const char *id = rc_str(c->json, "id");
        struct rc_resp *v =
            rc_req(conn, "GET", it_sprintf("/api/collections/shapes/records/%s", id), NULL);
        rc_ok(v, 200);
        struct rc_resp *l = rc_req(conn, "GET",
                                   it_sprintf("/api/collections/shapes/records?filter=%s",
                                              rc_enc(it_sprintf("id='%s'", id))),
                                   NULL);
        rc_ok(l, 200);
        /* create (from the values written), view and list (from the row) */
        assert_string_equal(c->raw->body, v->raw->body);
        assert_string_equal(item_bytes(l->raw->body), v->raw->body);
        /* the same JSON as the tree path */
        struct rc_resp *t = rc_req(
            conn, "GET", it_sprintf("/api/collections/shapes/records/%s?fields=*", id), NULL);
        rc_ok(t, 200);
        if (!cJSON_Compare(t->json, v->json, 1))
            fail_msg("%s\nvs\n%s", v->raw->body, t->raw->body);
        /* key order: collectionId, collectionName, then the fields in order */
        assert_true(strncmp(v->raw->body, "{\"collectionId\":\"", 17) == 0);
        const char *keys[] = {
            "\"collectionName\":", "\"id\":",   "\"title\":", "\"n\":",       "\"ok\":",
            "\"meta\":",           "\"tags\":", "\"when\":",  "\"created\":", "\"updated\":"};
        const char *at = v->raw->body;
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            const char *p = strstr(at, keys[k]);
            if (!p)
                fail_msg("%s missing or out of order in %s", keys[k], v->raw->body);
            at = p;
        }
    }
    /* numbers as Go writes them */
    struct rc_resp *c = rc_req(conn, "POST", "/api/collections/shapes/records", "{\"n\":1e21}");
    assert_non_null(strstr(rc_ok(c, 200) ? c->raw->body : "", "\"n\":1e+21,"));
    c = rc_req(conn, "POST", "/api/collections/shapes/records", "{\"n\":1e20}");
    assert_non_null(strstr(rc_ok(c, 200) ? c->raw->body : "", "\"n\":100000000000000000000,"));
    c = rc_req(conn, "POST", "/api/collections/shapes/records", "{\"n\":0.000001}");
    assert_non_null(strstr(rc_ok(c, 200) ? c->raw->body : "", "\"n\":0.000001,"));
    /* the list envelope */
    struct rc_resp *l =
        rc_req(conn, "GET",
               "/api/collections/shapes/records?perPage=2&filter=n%3E100000000000000000000", NULL);
    rc_ok(l, 200);
    const char *head = "{\"page\":1,\"perPage\":2,\"totalItems\":1,\"totalPages\":1,"
                       "\"items\":[{\"collectionId\":";
    if (strncmp(l->raw->body, head, strlen(head)) != 0)
        fail_msg("%s", l->raw->body);
    l = rc_req(conn, "GET", "/api/collections/shapes/records?filter=n%3E1000000000000000000000",
               NULL);
    assert_string_equal(
        rc_ok(l, 200) ? l->raw->body : "",
        "{\"page\":1,\"perPage\":30,\"totalItems\":0,\"totalPages\":0,\"items\":[]}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_counts_follow_writes, open_conn),
        it_test_each(test_counts_pipelined, open_conn),
        it_test_each(test_counts_many_writes, open_conn),
        it_test_each(test_counts_relations, open_conn),
        it_test_each(test_counts_password_reset, open_conn),
        it_test_each(test_counts_superusers_cli, open_conn),
        it_test_each(test_counts_hidden_field, open_conn),
        it_test_each(test_json_same_bytes, open_conn),
    };
    /* the same answers with the cache off */
    const struct CMUnitTest off[] = {
        it_test_each(test_counts_follow_writes, open_conn),
        it_test_each(test_counts_relations, open_conn),
    };
    int failed =
        cmocka_run_group_tests_name("count cache on", tests, group_setup, it_group_teardown);
    failed +=
        cmocka_run_group_tests_name("count cache off", off, group_setup_off, it_group_teardown);
    return failed;
}
