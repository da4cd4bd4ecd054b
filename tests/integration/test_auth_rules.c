/*
 * Rules with an identity: the same requests as a guest, the owner, another
 * user and a superuser (who bypasses every rule, null ones included); rules
 * reading @request.auth.id, @request.auth.collectionName, any field of the
 * auth record, and @request.body.*:isset. Then the collections API: 401 for
 * a guest, 403 for a user, and list/create/view/update/delete for a
 * superuser, with refusals naming what is wrong, the token secret never
 * shown, and tokens still valid after their collection is updated. Rules
 * compiled once and kept (per snapshot, user and request values) answer
 * each user as their own rule does.
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
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'id = @request.auth.id',"
    "  'deleteRule':null},"
    "{'name':'posts','type':'base','fields':[{'name':'title','type':'text'},"
    "  {'name':'author','type':'relation','collectionId':'users','maxSelect':1},"
    "  {'name':'secret','type':'bool'}],"
    "  'listRule':'@request.auth.id != \\\"\\\"',"
    "  'viewRule':'author = @request.auth.id || secret = false',"
    "  'createRule':'@request.auth.id != \\\"\\\" && author = @request.auth.id',"
    "  'updateRule':'author = @request.auth.id && @request.body.author:isset = false',"
    "  'deleteRule':'author = @request.auth.id'},"
    "{'name':'notes','type':'base','fields':[{'name':'x','type':'text'}],"
    "  'listRule':'@request.auth.collectionName = \\\"users\\\" && @request.auth.name = "
    "\\\"ann\\\"',"
    "  'viewRule':null,'createRule':null,'updateRule':null,'deleteRule':null},"
    "{'name':'locked','type':'base','fields':[{'name':'x','type':'text'}],"
    "  'listRule':null,'viewRule':null,'createRule':null,'updateRule':null,'deleteRule':null}"
    "]";

static struct it_server *srv;
static struct it_conn *conn;
static const char *ann, *bob;     /* record ids */
static const char *ta, *tb, *tsu; /* tokens */

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    ac_superuser(srv, "root@example.com", "root password");
    struct it_conn *c = it_conn_open(srv);
    ann = ac_signup(c, "users", "ann@example.com", "anns password", "\"name\":\"ann\"");
    bob = ac_signup(c, "users", "bob@example.com", "bobs password", "\"name\":\"bob\"");
    ta = ac_login(c, "users", "ann@example.com", "anns password", NULL);
    tb = ac_login(c, "users", "bob@example.com", "bobs password", NULL);
    tsu = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    it_conn_close(c);
    return 0;
}

/* Each test's connection to the group's server (in the test's scope). */
static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

static struct rc_resp *as(const char *token, const char *method, const char *path, const char *json)
{
    return ac_req(conn, method, path, token, json ? rc_q(json) : NULL);
}

static const char *ok_id(struct rc_resp *r)
{
    if (r->status != 200)
        fail_msg("status %d: %s", r->status, r->raw->body);
    return it_strdup(rc_str(r->json, "id"));
}

static int count(struct rc_resp *r)
{
    if (r->status != 200)
        fail_msg("status %d: %s", r->status, r->raw->body);
    return cJSON_GetArraySize(rc_get(r->json, "items"));
}

static void test_rules_owner_other_guest_superuser(void **state)
{
    (void)state;
    const char *posts = "/api/collections/posts/records";
    /* create: only signed-in users, as themselves */
    rc_assert_error(as(NULL, "POST", posts, "{'title':'g'}"), 400, NULL, NULL);
    const char *mine =
        ok_id(as(ta, "POST", posts, it_sprintf("{'title':'a1','author':'%s','secret':true}", ann)));
    const char *open =
        ok_id(as(ta, "POST", posts, it_sprintf("{'title':'a2','author':'%s'}", ann)));
    rc_assert_error(as(ta, "POST", posts, it_sprintf("{'title':'x','author':'%s'}", bob)), 400,
                    NULL, NULL);
    /* list: signed-in users only */
    assert_int_equal(count(as(NULL, "GET", posts, NULL)), 0);
    assert_int_equal(count(as(tb, "GET", posts, NULL)), 2);
    /* view: the author, or anyone when not secret */
    const char *one = it_sprintf("%s/%s", posts, mine), *two = it_sprintf("%s/%s", posts, open);
    assert_int_equal(as(ta, "GET", one, NULL)->status, 200);
    rc_assert_error(as(tb, "GET", one, NULL), 404, NULL, NULL);
    rc_assert_error(as(NULL, "GET", one, NULL), 404, NULL, NULL);
    assert_int_equal(as(NULL, "GET", two, NULL)->status, 200);
    /* update: the author, without touching author (:isset on the body) */
    rc_assert_error(as(tb, "PATCH", one, "{'title':'bob was here'}"), 404, NULL, NULL);
    assert_int_equal(as(ta, "PATCH", one, "{'title':'a1b'}")->status, 200);
    rc_assert_error(as(ta, "PATCH", one, it_sprintf("{'author':'%s'}", ann)), 404, NULL, NULL);
    /* delete: the author */
    rc_assert_error(as(tb, "DELETE", two, NULL), 404, NULL, NULL);
    rc_assert_error(as(NULL, "DELETE", two, NULL), 404, NULL, NULL);
    assert_int_equal(as(ta, "DELETE", two, NULL)->status, 204);
    /* a superuser bypasses every rule */
    const char *su = ok_id(as(tsu, "POST", posts, it_sprintf("{'title':'s','author':'%s'}", bob)));
    assert_int_equal(as(tsu, "GET", one, NULL)->status, 200);
    assert_int_equal(as(tsu, "PATCH", one, it_sprintf("{'author':'%s'}", bob))->status, 200);
    assert_int_equal(as(tsu, "DELETE", it_sprintf("%s/%s", posts, su), NULL)->status, 204);
    /* the record moved to bob: now bob's */
    assert_int_equal(as(tb, "GET", one, NULL)->status, 200);
    rc_assert_error(as(ta, "GET", one, NULL), 404, NULL, NULL);
    /* users: each updates only itself */
    rc_assert_error(
        as(tb, "PATCH", it_sprintf("/api/collections/users/records/%s", ann), "{'name':'x'}"), 404,
        NULL, NULL);
    assert_int_equal(
        as(tb, "PATCH", it_sprintf("/api/collections/users/records/%s", bob), "{'name':'bobby'}")
            ->status,
        200);
    /* ... but a user cannot make itself verified (400 naming the field, as
     * PocketBase's form answers), and nothing was stored */
    rc_assert_error(
        as(tb, "PATCH", it_sprintf("/api/collections/users/records/%s", bob), "{'verified':true}"),
        400, "verified", "validation_values_mismatch");
    struct rc_resp *r = as(tb, "GET", it_sprintf("/api/collections/users/records/%s", bob), NULL);
    assert_true(cJSON_IsFalse(rc_get(r->json, "verified")));
}

static void test_rules_null_and_auth_fields(void **state)
{
    (void)state;
    const char *locked = "/api/collections/locked/records";
    rc_assert_error(as(NULL, "GET", locked, NULL), 403, NULL, NULL);
    rc_assert_error(as(ta, "GET", locked, NULL), 403, NULL, NULL);
    rc_assert_error(as(ta, "POST", locked, "{'x':'1'}"), 403, NULL, NULL);
    ok_id(as(tsu, "POST", locked, "{'x':'1'}"));
    assert_int_equal(count(as(tsu, "GET", locked, NULL)), 1);
    rc_assert_error(as(ta, "DELETE", "/api/collections/users/records/x", NULL), 403, NULL, NULL);

    /* @request.auth.collectionName and a field of the auth record */
    const char *notes = "/api/collections/notes/records";
    ok_id(as(tsu, "POST", notes, "{'x':'n'}"));
    assert_int_equal(count(as(ta, "GET", notes, NULL)), 1);
    assert_int_equal(count(as(tb, "GET", notes, NULL)), 0);
    assert_int_equal(count(as(NULL, "GET", notes, NULL)), 0);
    assert_int_equal(count(as(tsu, "GET", notes, NULL)), 1);
    /* only superusers may filter by @request.* */
    rc_assert_error(
        as(ta, "GET", it_sprintf("%s?filter=%s", notes, rc_enc("@request.auth.id != ''")), NULL),
        403, NULL, NULL);
    assert_int_equal(
        count(as(tsu, "GET", it_sprintf("%s?filter=%s", notes, rc_enc("@request.auth.id != ''")),
                 NULL)),
        1);
}

/* Rules are compiled once per snapshot and request values (the filter
 * cache's compiled entries): requests of different users, interleaved and
 * repeated, each see what their own rule allows; a change of the signed-in
 * record's fields and a change of the rule itself show at once. */
static void test_rules_cached_per_request(void **state)
{
    (void)state;
    const char *posts = "/api/collections/posts/records";
    const char *a =
        ok_id(as(ta, "POST", posts, it_sprintf("{'title':'c1','author':'%s','secret':true}", ann)));
    const char *b =
        ok_id(as(tb, "POST", posts, it_sprintf("{'title':'c2','author':'%s','secret':true}", bob)));
    const char *pa = it_sprintf("%s/%s", posts, a), *pb = it_sprintf("%s/%s", posts, b);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(as(ta, "GET", pa, NULL)->status, 200);
        rc_assert_error(as(tb, "GET", pa, NULL), 404, NULL, NULL);
        rc_assert_error(as(NULL, "GET", pa, NULL), 404, NULL, NULL);
        assert_int_equal(as(tb, "GET", pb, NULL)->status, 200);
        rc_assert_error(as(ta, "GET", pb, NULL), 404, NULL, NULL);
    }
    /* notes: listed only while the signed-in record's name is "ann" */
    const char *notes = "/api/collections/notes/records";
    const char *me = it_sprintf("/api/collections/users/records/%s", ann);
    ok_id(as(tsu, "POST", notes, "{'x':'c'}"));
    int before = count(as(ta, "GET", notes, NULL));
    assert_true(before >= 1);
    assert_int_equal(count(as(tb, "GET", notes, NULL)), 0);
    assert_int_equal(as(ta, "PATCH", me, "{'name':'zed'}")->status, 200);
    assert_int_equal(count(as(ta, "GET", notes, NULL)), 0);
    assert_int_equal(as(ta, "PATCH", me, "{'name':'ann'}")->status, 200);
    assert_int_equal(count(as(ta, "GET", notes, NULL)), before);
    /* a new rule applies from the next request */
    assert_int_equal(
        as(tsu, "PATCH", "/api/collections/posts", "{'viewRule':'author != @request.auth.id'}")
            ->status,
        200);
    rc_assert_error(as(ta, "GET", pa, NULL), 404, NULL, NULL);
    assert_int_equal(as(tb, "GET", pa, NULL)->status, 200);
    assert_int_equal(as(tsu, "PATCH", "/api/collections/posts",
                        "{'viewRule':'author = @request.auth.id || secret = false'}")
                         ->status,
                     200);
    assert_int_equal(as(ta, "GET", pa, NULL)->status, 200);
    rc_assert_error(as(tb, "GET", pa, NULL), 404, NULL, NULL);
}

static const cJSON *find_name(const cJSON *items, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, items) {
        if (strcmp(rc_str(e, "name"), name) == 0)
            return e;
    }
    return NULL;
}

static void test_collections_api(void **state)
{
    (void)state;
    rc_assert_error(as(NULL, "GET", "/api/collections", NULL), 401, NULL, NULL);
    rc_assert_error(as(ta, "GET", "/api/collections", NULL), 403, NULL, NULL);
    rc_assert_error(as(ta, "POST", "/api/collections", "{'name':'nope'}"), 403, NULL, NULL);
    rc_assert_error(as(tb, "DELETE", "/api/collections/posts", NULL), 403, NULL, NULL);

    struct rc_resp *r = as(tsu, "GET", "/api/collections?perPage=100", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 5);
    const cJSON *items = rc_get(r->json, "items");
    const cJSON *su = find_name(items, "_superusers"), *users = find_name(items, "users");
    assert_non_null(su);
    assert_true(cJSON_IsTrue(rc_get(su, "system")));
    assert_null(cJSON_GetObjectItem(rc_get(users, "authToken"), "secret"));
    r = as(tsu, "GET", "/api/collections?perPage=2&page=3", NULL);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "items")), 1);
    /* skipTotal reads as the records list reads it (Go's strconv.ParseBool) */
    static const char *const skips[] = {"1", "t", "T", "true", "True", "TRUE"};
    for (size_t i = 0; i < sizeof(skips) / sizeof(skips[0]); i++) {
        r = as(tsu, "GET", it_sprintf("/api/collections?skipTotal=%s", skips[i]), NULL);
        assert_int_equal(r->status, 200);
        assert_int_equal((int)rc_num(r->json, "totalItems"), -1);
    }
    r = as(tsu, "GET", "/api/collections?skipTotal=False", NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 5);

    /* create, view by name and id, use */
    r = as(tsu, "POST", "/api/collections",
           "{'name':'extra','type':'base','fields':[{'name':'v','type':'text','max':5}],"
           "'listRule':'','viewRule':'','createRule':null,'updateRule':null,'deleteRule':null}");
    const char *id = ok_id(r);
    assert_string_equal(rc_str(r->json, "name"), "extra");
    assert_int_equal(as(tsu, "GET", "/api/collections/extra", NULL)->status, 200);
    assert_string_equal(
        rc_str(as(tsu, "GET", it_sprintf("/api/collections/%s", id), NULL)->json, "name"), "extra");
    rc_assert_error(as(ta, "POST", "/api/collections/extra/records", "{'v':'a'}"), 403, NULL, NULL);
    ok_id(as(tsu, "POST", "/api/collections/extra/records", "{'v':'kept'}"));
    assert_int_equal(count(as(NULL, "GET", "/api/collections/extra/records", NULL)), 1);

    /* refusals name the key or field */
    rc_assert_error(as(tsu, "POST", "/api/collections", "{'name':'extra'}"), 400, "name", NULL);
    rc_assert_error(as(tsu, "POST", "/api/collections",
                       "{'name':'bad','fields':[{'name':'f','type':'texty'}]}"),
                    400, "fields", NULL);
    rc_assert_error(as(tsu, "POST", "/api/collections", "{'name':'bad2','listRule':'nope ='}"), 400,
                    "listRule", NULL);

    /* update keeps data of kept fields */
    r = as(tsu, "PATCH", "/api/collections/extra",
           "{'createRule':'','fields':[{'name':'v','type':'text','max':5},"
           "{'name':'w','type':'number'}]}");
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(r->json, "createRule"), "");
    r = as(NULL, "GET", "/api/collections/extra/records", NULL);
    assert_string_equal(rc_str(cJSON_GetArrayItem(rc_get(r->json, "items"), 0), "v"), "kept");
    ok_id(as(ta, "POST", "/api/collections/extra/records", "{'v':'b','w':2}"));

    /* an auth collection's update keeps its secret: tokens stay valid */
    r = as(tsu, "PATCH", "/api/collections/users", "{'listRule':'id = @request.auth.id'}");
    assert_int_equal(r->status, 200);
    assert_int_equal(count(as(ta, "GET", "/api/collections/users/records", NULL)), 1);
    assert_int_equal(count(as(NULL, "GET", "/api/collections/users/records", NULL)), 0);

    /* delete: refused while referenced, never for system collections */
    rc_assert_error(as(tsu, "DELETE", "/api/collections/users", NULL), 400, NULL, NULL);
    rc_assert_error(as(tsu, "DELETE", "/api/collections/_superusers", NULL), 400, NULL, NULL);
    rc_assert_error(as(tsu, "PATCH", "/api/collections/_superusers", "{'listRule':''}"), 400, NULL,
                    NULL);
    assert_int_equal(as(tsu, "DELETE", "/api/collections/extra", NULL)->status, 204);
    rc_assert_error(as(tsu, "GET", "/api/collections/extra", NULL), 404, NULL, NULL);
    rc_assert_error(as(NULL, "GET", "/api/collections/extra/records", NULL), 404, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_rules_owner_other_guest_superuser, open_conn),
        it_test_each(test_rules_null_and_auth_fields, open_conn),
        it_test_each(test_rules_cached_per_request, open_conn),
        it_test_each(test_collections_api, open_conn),
    };
    return cmocka_run_group_tests_name("auth_rules", tests, group_setup, it_group_teardown);
}
