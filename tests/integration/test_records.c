/*
 * The records API as a client sees it (API.md "Records"): every route with
 * PocketBase's shapes and status codes, paging (page, perPage default and
 * cap, the echoed perPage, skipTotal), sort (terms, -, @random, the 8-term
 * limit), filter (operators, relations, errors), expand (one and two levels,
 * multi relations, viewRule of the related collection), fields (nested
 * paths, *, :excerpt), hidden fields, and the error shape everywhere. One
 * server, its folder prepared by `stagehand collections import`, serves the
 * group.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_records_client.h"

#define RULES_OPEN "'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''"

static const char schema[] =
    "["
    "{'name':'orgs','type':'base','fields':[{'name':'name','type':'text'}]," RULES_OPEN "},"
    "{'name':'authors','type':'base','fields':["
    "  {'name':'name','type':'text','required':true},"
    "  {'name':'org','type':'relation','collectionId':'orgs','maxSelect':1},"
    "  {'name':'secret','type':'text','hidden':true}]," RULES_OPEN "},"
    "{'name':'tags','type':'base','fields':[{'name':'label','type':'text'}]," RULES_OPEN "},"
    "{'name':'private','type':'base','fields':[{'name':'x','type':'text'}],"
    "  'listRule':null,'viewRule':null,'createRule':'','updateRule':null,'deleteRule':null},"
    "{'name':'posts','type':'base','fields':["
    "  {'name':'title','type':'text','required':true,'max':200},"
    "  {'name':'body','type':'text'},"
    "  {'name':'views','type':'number'},"
    "  {'name':'published','type':'bool'},"
    "  {'name':'author','type':'relation','collectionId':'authors','maxSelect':1},"
    "  {'name':'tags','type':'relation','collectionId':'tags','maxSelect':5},"
    "  {'name':'priv','type':'relation','collectionId':'private','maxSelect':1},"
    "  {'name':'meta','type':'json'},"
    "  {'name':'created','type':'autodate','onCreate':true},"
    "  {'name':'updated','type':'autodate','onCreate':true,'onUpdate':true}],"
    "  'indexes':['CREATE INDEX idx_posts_views ON posts (views)'], " RULES_OPEN "},"
    "{'name':'items','type':'base','fields':["
    "  {'name':'n','type':'number'},{'name':'label','type':'text'}]," RULES_OPEN "}"
    "]";

static struct it_server *srv;
static struct it_conn *conn;

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", NULL);
    return srv ? 0 : -1;
}

/* Each test's connection to the group's server (in the test's scope). */
static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

static void assert_matches(const char *s, const char *re)
{
    regex_t rx;
    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    int m = regexec(&rx, s, 0, NULL, 0);
    regfree(&rx);
    if (m != 0)
        fail_msg("\"%s\" does not match %s", s, re);
}

/* ---- CRUD and shapes ---- */

static void test_records_crud(void **state)
{
    (void)state;
    struct rc_resp *r = rc_req(conn, "POST", "/api/collections/posts/records",
                               rc_q("{'title':'Hello','views':3,'published':true,"
                                    "'meta':{'k':[1,2]},'unknown':1}"));
    const cJSON *rec = rc_ok(r, 200);
    assert_string_equal(it_resp_header(r->raw, "Content-Type"), "application/json");
    const char *id = it_strdup(rc_str(rec, "id"));
    assert_matches(id, "^[a-z0-9]{15}$");
    assert_string_equal(rc_str(rec, "collectionName"), "posts");
    assert_matches(rc_str(rec, "collectionId"), "^[a-z0-9]{15}$");
    assert_matches(rc_str(rec, "created"), "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
                                           "\\.[0-9]{3}Z$");
    assert_string_equal(rc_str(rec, "created"), rc_str(rec, "updated"));
    assert_string_equal(rc_str(rec, "title"), "Hello");
    assert_string_equal(rc_str(rec, "body"), "");
    assert_true(rc_num(rec, "views") == 3);
    assert_true(cJSON_IsTrue(rc_get(rec, "published")));
    assert_string_equal(rc_str(rec, "author"), "");
    assert_true(cJSON_IsArray(rc_get(rec, "tags")));
    assert_int_equal(cJSON_GetArraySize(rc_get(rec, "tags")), 0);
    assert_true(cJSON_IsObject(rc_get(rec, "meta")));
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "unknown"));
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "expand"));

    /* view by collection name and by collection id */
    const char *one = it_sprintf("/api/collections/posts/records/%s", id);
    const cJSON *v = rc_ok(rc_req(conn, "GET", one, NULL), 200);
    assert_string_equal(rc_str(v, "title"), "Hello");
    const char *by_id =
        it_sprintf("/api/collections/%s/records/%s", rc_str(rec, "collectionId"), id);
    assert_string_equal(rc_str(rc_ok(rc_req(conn, "GET", by_id, NULL), 200), "id"), id);

    /* update: a partial body, a modifier, autodate moves */
    const cJSON *u = rc_ok(rc_req(conn, "PATCH", one, rc_q("{'views+':2,'body':'text'}")), 200);
    assert_true(rc_num(u, "views") == 5);
    assert_string_equal(rc_str(u, "title"), "Hello");
    assert_string_equal(rc_str(u, "body"), "text");
    assert_string_equal(rc_str(u, "created"), rc_str(rec, "created"));
    assert_true(strcmp(rc_str(u, "updated"), rc_str(rec, "updated")) >= 0);

    /* delete: 204 with no body, then 404 everywhere */
    struct rc_resp *d = rc_req(conn, "DELETE", one, NULL);
    assert_int_equal(d->status, 204);
    assert_int_equal(d->raw->body_len, 0);
    rc_assert_error(rc_req(conn, "GET", one, NULL), 404, NULL, NULL);
    rc_assert_error(rc_req(conn, "PATCH", one, "{}"), 404, NULL, NULL);
    rc_assert_error(rc_req(conn, "DELETE", one, NULL), 404, NULL, NULL);
}

/* A client-chosen id is kept; a duplicate one is a field error. */
static void test_records_custom_id(void **state)
{
    (void)state;
    const cJSON *r = rc_ok(rc_req(conn, "POST", "/api/collections/tags/records",
                                  rc_q("{'id':'customid0000001','label':'x'}")),
                           200);
    assert_string_equal(rc_str(r, "id"), "customid0000001");
    rc_assert_error(
        rc_req(conn, "POST", "/api/collections/tags/records", rc_q("{'id':'customid0000001'}")),
        400, "id", "validation_not_unique");
    rc_assert_error(rc_req(conn, "POST", "/api/collections/tags/records", rc_q("{'id':'BAD'}")),
                    400, "id", NULL);
    rc_assert_error(rc_req(conn, "PATCH", "/api/collections/tags/records/customid0000001",
                           rc_q("{'id':'otherid00000001'}")),
                    400, "id", NULL);
}

static void test_records_errors(void **state)
{
    (void)state;
    struct rc_resp *r = rc_req(conn, "GET", "/api/collections/nope/records", NULL);
    rc_assert_error(r, 404, NULL, NULL);
    rc_assert_error(rc_req(conn, "POST", "/api/collections/nope/records", "{}"), 404, NULL, NULL);
    rc_assert_error(rc_req(conn, "GET", "/api/collections/posts/records/doesnotexist123", NULL),
                    404, NULL, NULL);
    /* malformed and non-object bodies */
    r = rc_req(conn, "POST", "/api/collections/posts/records", "{\"title\":");
    rc_assert_error(r, 400, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"),
                        "Failed to load the submitted data due to invalid formatting.");
    rc_assert_error(rc_req(conn, "POST", "/api/collections/posts/records", "[1,2]"), 400, NULL,
                    NULL);
    rc_assert_error(rc_req(conn, "POST", "/api/collections/posts/records", "\"x\""), 400, NULL,
                    NULL);
    /* an empty body is an empty object: the required title is missing */
    r = rc_req(conn, "POST", "/api/collections/posts/records", NULL);
    rc_assert_error(r, 400, "title", "validation_required");
    assert_string_equal(rc_str(r->json, "message"), "Failed to create record.");
    /* methods the route does not take */
    r = rc_req(conn, "PUT", "/api/collections/posts/records", "{}");
    rc_assert_error(r, 405, NULL, NULL);
    assert_non_null(strstr(it_resp_header(r->raw, "Allow"), "POST"));
    /* HEAD of a list: the length of the GET, no body */
    r = rc_req(conn, "HEAD", "/api/collections/posts/records", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->raw->body_len, 0);
    /* bad paging parameters */
    rc_assert_error(rc_req(conn, "GET", "/api/collections/posts/records?page=x", NULL), 400, NULL,
                    NULL);
    rc_assert_error(rc_req(conn, "GET", "/api/collections/posts/records?skipTotal=maybe", NULL),
                    400, NULL, NULL);
}

/* ---- lists ---- */

static char *item_body(int i, void *ud)
{
    (void)ud;
    return it_sprintf("{\"n\":%d,\"label\":\"item %03d %s\"}", i, i, i % 2 ? "odd" : "even");
}

static void seed_items(void)
{
    static int seeded;
    if (!seeded)
        rc_bulk_create(srv, "items", 120, item_body, NULL);
    seeded = 1;
}

static const cJSON *list(const char *query)
{
    return rc_ok(rc_req(conn, "GET", it_sprintf("/api/collections/items/records?%s", query), NULL),
                 200);
}

static void test_records_list_paging(void **state)
{
    (void)state;
    seed_items();
    const cJSON *l = list("");
    assert_true(rc_num(l, "page") == 1);
    assert_true(rc_num(l, "perPage") == 30);
    assert_true(rc_num(l, "totalItems") == 120);
    assert_true(rc_num(l, "totalPages") == 4);
    assert_int_equal(cJSON_GetArraySize(rc_get(l, "items")), 30);

    l = list("page=3&perPage=50");
    assert_true(rc_num(l, "page") == 3);
    assert_true(rc_num(l, "perPage") == 50);
    assert_true(rc_num(l, "totalPages") == 3);
    assert_int_equal(cJSON_GetArraySize(rc_get(l, "items")), 20);

    /* perPage is capped at 1000 and the value used is echoed */
    l = list("perPage=5000");
    assert_true(rc_num(l, "perPage") == 1000);
    assert_int_equal(cJSON_GetArraySize(rc_get(l, "items")), 120);
    l = list("perPage=0&page=0");
    assert_true(rc_num(l, "perPage") == 30);
    assert_true(rc_num(l, "page") == 1);

    /* past the end: an empty page */
    l = list("page=99&perPage=10");
    assert_int_equal(cJSON_GetArraySize(rc_get(l, "items")), 0);
    assert_true(rc_num(l, "totalItems") == 120);

    /* skipTotal */
    l = list("skipTotal=1&perPage=7");
    assert_true(rc_num(l, "totalItems") == -1);
    assert_true(rc_num(l, "totalPages") == -1);
    assert_int_equal(cJSON_GetArraySize(rc_get(l, "items")), 7);
    l = list("skipTotal=true&filter=n%3E=100");
    assert_true(rc_num(l, "totalItems") == -1);
    assert_int_equal(cJSON_GetArraySize(rc_get(l, "items")), 20);

    /* pages without a sort are stable (rowid order) and do not overlap */
    const cJSON *a = rc_get(list("perPage=60&page=1"), "items");
    const cJSON *b = rc_get(list("perPage=60&page=2"), "items");
    const cJSON *x, *y;
    cJSON_ArrayForEach(x, a) {
        cJSON_ArrayForEach(y, b) {
            assert_string_not_equal(rc_str(x, "id"), rc_str(y, "id"));
        }
    }
}

static void test_records_list_sort(void **state)
{
    (void)state;
    seed_items();
    const cJSON *items = rc_get(list("sort=-n&perPage=3"), "items");
    assert_true(rc_num(cJSON_GetArrayItem(items, 0), "n") == 119);
    assert_true(rc_num(cJSON_GetArrayItem(items, 2), "n") == 117);
    items = rc_get(list(it_sprintf("sort=%s&perPage=4", rc_enc("label,+n"))), "items");
    assert_string_equal(rc_str(cJSON_GetArrayItem(items, 0), "label"), "item 000 even");
    items = rc_get(list("sort=@random&perPage=120"), "items");
    assert_int_equal(cJSON_GetArraySize(items), 120);
    /* id, created and updated always sort */
    list("sort=-created,id,updated");

    /* nine terms are too many; unknown fields and @request are refused */
    rc_assert_error(
        rc_req(conn, "GET", "/api/collections/items/records?sort=n,n,n,n,n,n,n,n,n", NULL), 400,
        NULL, NULL);
    list("sort=n,n,n,n,n,n,n,n");
    rc_assert_error(rc_req(conn, "GET", "/api/collections/items/records?sort=nope", NULL), 400,
                    NULL, NULL);
    rc_assert_error(
        rc_req(conn, "GET", "/api/collections/items/records?sort=-%40request.auth.id", NULL), 403,
        NULL, NULL);
}

static int count(const char *filter)
{
    const cJSON *l = list(it_sprintf("perPage=1&filter=%s", rc_enc(filter)));
    return (int)rc_num(l, "totalItems");
}

static void test_records_list_filter(void **state)
{
    (void)state;
    seed_items();
    assert_int_equal(count("n >= 100"), 20);
    assert_int_equal(count("n > 10 && n < 20"), 9);
    assert_int_equal(count("n = 5 || n = 7 || (n >= 118)"), 4);
    assert_int_equal(count("label ~ 'odd'"), 60);
    assert_int_equal(count("label !~ 'odd' && n < 10"), 5);
    assert_int_equal(count("label ~ 'item 00%'"), 10);
    assert_int_equal(count("label = 'item 007 odd'"), 1);
    assert_int_equal(count("label != ''"), 120);
    assert_int_equal(count("n > 200 // a comment"), 0);
    assert_int_equal(count(""), 120);

    /* errors: 400 with a sentence; @request.* is for superusers (403) */
    struct rc_resp *r =
        rc_req(conn, "GET",
               it_sprintf("/api/collections/items/records?filter=%s", rc_enc("nope = 1")), NULL);
    rc_assert_error(r, 400, NULL, NULL);
    r = rc_req(conn, "GET",
               it_sprintf("/api/collections/items/records?filter=%s", rc_enc("n = (1")), NULL);
    rc_assert_error(r, 400, NULL, NULL);
    r = rc_req(
        conn, "GET",
        it_sprintf("/api/collections/items/records?filter=%s", rc_enc("@request.auth.id != ''")),
        NULL);
    rc_assert_error(r, 403, NULL, NULL);
    char *longf = it_alloc(4000);
    memset(longf, 'a', 3990);
    memcpy(longf, "label='", 7);
    memcpy(longf + 3980, "'", 2);
    r = rc_req(conn, "GET", it_sprintf("/api/collections/items/records?filter=%s", rc_enc(longf)),
               NULL);
    rc_assert_error(r, 400, NULL, NULL);
}

/* ---- expand, fields, hidden ---- */

static void test_records_expand(void **state)
{
    (void)state;
    const char *org = rc_create(conn, "orgs", "{'name':'Acme'}");
    const char *au =
        rc_create(conn, "authors", it_sprintf("{'name':'Ann','org':'%s','secret':'s'}", org));
    const char *t1 = rc_create(conn, "tags", "{'label':'c'}");
    const char *t2 = rc_create(conn, "tags", "{'label':'go'}");
    const char *pv = rc_create(conn, "private", "{'x':'hidden'}");
    const char *post = rc_create(conn, "posts",
                                 it_sprintf("{'title':'Expand me','author':'%s',"
                                            "'tags':['%s','%s'],'priv':'%s'}",
                                            au, t2, t1, pv));
    const char *path = it_sprintf("/api/collections/posts/records/%s?expand=%s", post,
                                  rc_enc("author,author.org,tags,priv,nope,title"));
    const cJSON *r = rc_ok(rc_req(conn, "GET", path, NULL), 200);
    const cJSON *x = rc_get(r, "expand");
    const cJSON *a = rc_get(x, "author");
    assert_string_equal(rc_str(a, "name"), "Ann");
    assert_string_equal(rc_str(a, "collectionName"), "authors");
    assert_null(cJSON_GetObjectItemCaseSensitive(a, "secret")); /* hidden */
    assert_string_equal(rc_str(rc_get(rc_get(a, "expand"), "org"), "name"), "Acme");
    const cJSON *tags = rc_get(x, "tags");
    assert_int_equal(cJSON_GetArraySize(tags), 2);
    /* stored order, not storage order */
    assert_string_equal(rc_str(cJSON_GetArrayItem(tags, 0), "label"), "go");
    assert_string_equal(rc_str(cJSON_GetArrayItem(tags, 1), "label"), "c");
    /* a related collection whose viewRule is null is not expanded for a guest */
    assert_null(cJSON_GetObjectItemCaseSensitive(x, "priv"));
    assert_null(cJSON_GetObjectItemCaseSensitive(x, "nope"));

    /* in a list, with fields picking into the expansion */
    const char *lp =
        it_sprintf("/api/collections/posts/records?filter=%s&expand=author.org&fields=%s",
                   rc_enc(it_sprintf("id = '%s'", post)),
                   rc_enc("id,title,expand.author.name,"
                          "expand.author.expand.org.name"));
    const cJSON *l = rc_ok(rc_req(conn, "GET", lp, NULL), 200);
    const cJSON *it = cJSON_GetArrayItem(rc_get(l, "items"), 0);
    assert_int_equal(cJSON_GetArraySize(it), 3); /* id, title, expand */
    const cJSON *ea = rc_get(rc_get(it, "expand"), "author");
    assert_int_equal(cJSON_GetArraySize(ea), 2); /* name, expand */
    assert_string_equal(rc_str(ea, "name"), "Ann");
    assert_string_equal(rc_str(rc_get(rc_get(ea, "expand"), "org"), "name"), "Acme");

    /* a filter through a relation */
    const char *fp = it_sprintf("/api/collections/posts/records?filter=%s",
                                rc_enc("author.org.name = 'Acme' && tags.label ?= 'go'"));
    assert_true(rc_num(rc_ok(rc_req(conn, "GET", fp, NULL), 200), "totalItems") == 1);

    /* the write responses honour expand and fields too */
    const cJSON *u = rc_ok(rc_req(conn, "PATCH",
                                  it_sprintf("/api/collections/posts/records/%s?expand=author"
                                             "&fields=id,expand",
                                             post),
                                  "{}"),
                           200);
    assert_string_equal(rc_str(rc_get(rc_get(u, "expand"), "author"), "name"), "Ann");
    assert_null(cJSON_GetObjectItemCaseSensitive(u, "title"));
}

static void test_records_fields(void **state)
{
    (void)state;
    const char *id = rc_create(conn, "posts",
                               "{'title':'Fields','body':'<p>Hello   <b>big</b> world "
                               "of records</p>'}");
    const char *p = it_sprintf("/api/collections/posts/records/%s?fields=%s", id,
                               rc_enc("*,body:excerpt(9,true)"));
    const cJSON *r = rc_ok(rc_req(conn, "GET", p, NULL), 200);
    assert_string_equal(rc_str(r, "title"), "Fields");
    assert_string_equal(rc_str(r, "body"), "Hello big...");
    assert_string_equal(rc_str(r, "collectionName"), "posts");
    p = it_sprintf("/api/collections/posts/records/%s?fields=%s", id, rc_enc("title, views"));
    r = rc_ok(rc_req(conn, "GET", p, NULL), 200);
    assert_int_equal(cJSON_GetArraySize(r), 2);
    assert_true(rc_num(r, "views") == 0);
}

static void test_records_hidden(void **state)
{
    (void)state;
    const char *id = rc_create(conn, "authors", "{'name':'Hid','secret':'k'}");
    const cJSON *r = rc_ok(
        rc_req(conn, "GET", it_sprintf("/api/collections/authors/records/%s", id), NULL), 200);
    assert_null(cJSON_GetObjectItemCaseSensitive(r, "secret"));
    /* a guest can't filter or sort by a hidden field */
    rc_assert_error(
        rc_req(conn, "GET",
               it_sprintf("/api/collections/authors/records?filter=%s", rc_enc("secret = 'k'")),
               NULL),
        400, NULL, NULL);
    rc_assert_error(rc_req(conn, "GET", "/api/collections/authors/records?sort=secret", NULL), 400,
                    NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_records_crud, open_conn),
        it_test_each(test_records_custom_id, open_conn),
        it_test_each(test_records_errors, open_conn),
        it_test_each(test_records_list_paging, open_conn),
        it_test_each(test_records_list_sort, open_conn),
        it_test_each(test_records_list_filter, open_conn),
        it_test_each(test_records_expand, open_conn),
        it_test_each(test_records_fields, open_conn),
        it_test_each(test_records_hidden, open_conn),
    };
    return cmocka_run_group_tests_name("records", tests, group_setup, it_group_teardown);
}
