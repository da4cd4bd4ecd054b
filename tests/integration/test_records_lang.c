/*
 * Issue 9's filter language through the records API, on a PocketBase-style
 * blog imported as is: posts (author, tags, labels, drafts), comments via
 * post, editors (superusers only, read by the posts rules through
 * @collection), and notes whose relation to posts has no index. Each case
 * runs as a guest, the owner, another user and a superuser, and checks the
 * rows (titles) each sees: back-relation filters, sorts and expands under
 * the viewer's rules, @collection in rules (one alias, one joined row) and
 * its 403 in a client's filter, :each and :length on a multiple select,
 * :changed in an update rule, the 400 of a client's back-relation
 * through an unindexed relation, back-relation counts (`:length`),
 * back-relations from the signed-in user (`@request.auth.x_via_y`) and
 * through a multiple relation (lists of posts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_auth_client.h"

/* The posts rule: published, or mine, or I am one of its editors (the same
 * editors row must name me and this post: PocketBase's shared join). */
#define POST_RULE                                                                                  \
    "draft = false || author = @request.auth.id || (@collection.editors.user ?= @request.auth.id " \
    "&& @collection.editors.post ?= id)"

/* Threads: those of the posts I commented on, and the open one to authors
 * of two posts or more (back-relations from the signed-in user). */
#define THREAD_RULE                                                                                \
    "@request.auth.comments_via_author.post ?= post || "                                           \
    "(@request.auth.posts_via_author:length >= 2 && title = \\\"open\\\")"

static const char schema[] =
    "["
    "{'name':'users','type':'auth','fields':[{'name':'name','type':'text'}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':null,'deleteRule':null},"
    "{'name':'posts','type':'base','fields':[{'name':'title','type':'text'},"
    "  {'name':'author','type':'relation','collectionId':'users','maxSelect':1},"
    "  {'name':'labels','type':'select','values':['news','tech','life'],'maxSelect':3},"
    "  {'name':'draft','type':'bool'}],"
    "  'indexes':['CREATE INDEX idx_posts_author ON posts (author)'],"
    "  'listRule':'" POST_RULE "','viewRule':'" POST_RULE "','createRule':null,"
    "  'updateRule':'author = @request.auth.id && @request.body.author:changed = false',"
    "  'deleteRule':null},"
    "{'name':'comments','type':'base','fields':[{'name':'text','type':'text'},"
    "  {'name':'post','type':'relation','collectionId':'posts','maxSelect':1},"
    "  {'name':'author','type':'relation','collectionId':'users','maxSelect':1}],"
    "  'indexes':['CREATE INDEX idx_comments_post ON comments (post)'],"
    "  'listRule':'post.draft = false || post.author = @request.auth.id',"
    "  'viewRule':'post.draft = false || post.author = @request.auth.id',"
    "  'createRule':null,'updateRule':null,'deleteRule':null},"
    "{'name':'editors','type':'base','fields':["
    "  {'name':'post','type':'relation','collectionId':'posts','maxSelect':1},"
    "  {'name':'user','type':'relation','collectionId':'users','maxSelect':1}],"
    "  'listRule':null,'viewRule':null,'createRule':null,'updateRule':null,'deleteRule':null},"
    "{'name':'threads','type':'base','fields':[{'name':'title','type':'text'},"
    "  {'name':'post','type':'relation','collectionId':'posts','maxSelect':1}],"
    "  'listRule':'" THREAD_RULE "','viewRule':'" THREAD_RULE "',"
    "  'createRule':null,'updateRule':null,'deleteRule':null},"
    "{'name':'notes','type':'base','fields':[{'name':'text','type':'text'},"
    "  {'name':'post','type':'relation','collectionId':'posts','maxSelect':1}],"
    "  'listRule':'','viewRule':'','createRule':null,'updateRule':null,'deleteRule':null},"
    "{'name':'lists','type':'base','fields':[{'name':'kind','type':'text'},"
    "  {'name':'posts','type':'relation','collectionId':'posts','maxSelect':5}],"
    "  'indexes':['CREATE INDEX idx_lists_kind ON lists (kind)'],"
    "  'listRule':'','viewRule':'','createRule':null,'updateRule':null,'deleteRule':null}"
    "]";

static struct it_server *srv;
static struct it_conn *conn;
static const char *ann, *bob, *cy;     /* users */
static const char *ta, *tb, *tc, *tsu; /* tokens */
static const char *p1, *p2, *p3, *p4;  /* posts */

static struct rc_resp *as(const char *token, const char *method, const char *path, const char *json)
{
    return ac_req(conn, method, path, token, json ? rc_q(json) : NULL);
}

static const char *su_create(const char *coll, const char *json)
{
    struct rc_resp *r = as(tsu, "POST", it_sprintf("/api/collections/%s/records", coll), json);
    if (r->status != 200)
        fail_msg("create %s: %d %s", coll, r->status, r->raw->body);
    return it_strdup(rc_str(r->json, "id"));
}

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    ac_superuser(srv, "root@example.com", "root password");
    conn = it_conn_open(srv);
    ann = ac_signup(conn, "users", "ann@example.com", "anns password", "\"name\":\"ann\"");
    bob = ac_signup(conn, "users", "bob@example.com", "bobs password", "\"name\":\"bob\"");
    cy = ac_signup(conn, "users", "cy@example.com", "cys password", "\"name\":\"cy\"");
    ta = ac_login(conn, "users", "ann@example.com", "anns password", NULL);
    tb = ac_login(conn, "users", "bob@example.com", "bobs password", NULL);
    tc = ac_login(conn, "users", "cy@example.com", "cys password", NULL);
    tsu = ac_login(conn, "_superusers", "root@example.com", "root password", NULL);
    p1 = su_create("posts",
                   it_sprintf("{'title':'P1','author':'%s','labels':['news','tech']}", ann));
    p2 = su_create("posts", it_sprintf("{'title':'P2','author':'%s','draft':true}", ann));
    p3 = su_create("posts", it_sprintf("{'title':'P3','author':'%s','labels':['tech']}", bob));
    p4 = su_create("posts", it_sprintf("{'title':'P4','author':'%s','draft':true}", bob));
    su_create("comments", it_sprintf("{'text':'great post','post':'%s','author':'%s'}", p1, bob));
    su_create("comments", it_sprintf("{'text':'meh','post':'%s','author':'%s'}", p1, cy));
    su_create("comments", it_sprintf("{'text':'nice','post':'%s','author':'%s'}", p3, ann));
    su_create("comments", it_sprintf("{'text':'draft note','post':'%s','author':'%s'}", p2, ann));
    /* cy edits P4; bob edits P2: an uncorrelated rule would show P2 to cy */
    su_create("editors", it_sprintf("{'post':'%s','user':'%s'}", p4, cy));
    su_create("editors", it_sprintf("{'post':'%s','user':'%s'}", p2, bob));
    su_create("notes", it_sprintf("{'text':'n1','post':'%s'}", p1));
    su_create("lists", it_sprintf("{'kind':'fav','posts':['%s','%s']}", p3, p1));
    su_create("lists", it_sprintf("{'kind':'fav','posts':['%s']}", p3));
    su_create("lists", it_sprintf("{'kind':'old','posts':['%s']}", p4));
    su_create("lists", "{'kind':'fav','posts':[]}");
    su_create("threads", it_sprintf("{'title':'T1','post':'%s'}", p1));
    su_create("threads", it_sprintf("{'title':'T3','post':'%s'}", p3));
    su_create("threads", it_sprintf("{'title':'T4','post':'%s'}", p4));
    su_create("threads", it_sprintf("{'title':'open','post':'%s'}", p2));
    it_conn_close(conn);
    conn = NULL;
    return 0;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

/* The titles a list answers, sorted by the request (or by title when the
 * query has no sort), comma-separated. */
static const char *titles(const char *token, const char *query)
{
    bool sorted = strstr(query, "sort=") != NULL;
    struct rc_resp *r = as(token, "GET",
                           it_sprintf("/api/collections/posts/records?perPage=100%s%s",
                                      sorted ? "" : "&sort=title", query),
                           NULL);
    if (r->status != 200)
        fail_msg("%s: status %d: %s", query, r->status, r->raw->body);
    char *out = it_strdup("");
    const cJSON *e;
    cJSON_ArrayForEach(e, rc_get(r->json, "items")) {
        out = it_sprintf("%s%s%s", out, out[0] ? "," : "", rc_str(e, "title"));
    }
    return out;
}

static const char *filt(const char *f)
{
    return it_sprintf("&filter=%s", rc_enc(f));
}

#define SEES(token, query, want)                                                                   \
    do {                                                                                           \
        const char *got_ = titles((token), (query));                                               \
        if (strcmp(got_, (want)) != 0)                                                             \
            fail_msg("%s as %s: got \"%s\", want \"%s\"", (query), #token, got_, (want));          \
    } while (0)

static void test_collection_rule_by_viewer(void **state)
{
    (void)state;
    SEES(NULL, "", "P1,P3");
    SEES(ta, "", "P1,P2,P3");    /* her draft */
    SEES(tb, "", "P1,P2,P3,P4"); /* his draft, and P2 he edits */
    SEES(tc, "", "P1,P3,P4");    /* P4 she edits; not P2 (bob's editor row) */
    SEES(tsu, "", "P1,P2,P3,P4");
    /* view follows the same rule */
    rc_assert_error(as(tc, "GET", it_sprintf("/api/collections/posts/records/%s", p2), NULL), 404,
                    NULL, NULL);
    assert_int_equal(
        as(tc, "GET", it_sprintf("/api/collections/posts/records/%s", p4), NULL)->status, 200);
}

static void test_collection_filter_superusers_only(void **state)
{
    (void)state;
    const char *q = filt("@collection.comments.post ?= id");
    struct rc_resp *r =
        as(NULL, "GET", it_sprintf("/api/collections/posts/records?%s", q + 1), NULL);
    rc_assert_error(r, 403, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"), "Only superusers can filter by @collection.");
    rc_assert_error(as(ta, "GET", it_sprintf("/api/collections/posts/records?%s", q + 1), NULL),
                    403, NULL, NULL);
    rc_assert_error(as(ta, "GET",
                       it_sprintf("/api/collections/posts/records?sort=%s",
                                  rc_enc("@collection.comments.text")),
                       NULL),
                    403, NULL, NULL);
    SEES(tsu, q, "P1,P2,P3");
    SEES(tsu, filt("@collection.comments:c.post ?= id && @collection.comments:c.author ?= author"),
         "P2");
    rc_assert_error(as(tsu, "GET",
                       it_sprintf("/api/collections/posts/records?filter=%s",
                                  rc_enc("@collection.nowhere.x ?= id || title = 'P1'")),
                       NULL),
                    400, NULL, NULL);
}

static void test_back_relation_filter(void **state)
{
    (void)state;
    const char *great = filt("comments_via_post.text ?~ 'great'");
    SEES(NULL, great, "P1");
    SEES(tc, great, "P1");
    SEES(tsu, filt("comments_via_post.author.name ?= 'ann'"), "P2,P3");
    /* the comment on P2 is visible to its post's author only */
    const char *draft = filt("comments_via_post.text ?~ 'draft'");
    SEES(ta, draft, "P2");
    SEES(tb, draft, ""); /* bob sees P2, not the comment */
    SEES(tsu, draft, "P2");
    /* every comment (no comments: the empty value) */
    SEES(NULL, filt("comments_via_post.text ~ 'e'"), "P1,P3");
    SEES(NULL, filt("comments_via_post.id = ''"), "");
    SEES(tb, filt("comments_via_post.id = ''"), "P2,P4"); /* P2's comment is hidden from bob */
    SEES(tsu, filt("comments_via_post.id = ''"), "P4");
    /* sort by the latest comment's text */
    SEES(NULL, "&sort=-comments_via_post.text,title", "P3,P1");
    /* a back-relation without an index: refused for clients, not superusers */
    struct rc_resp *r = as(NULL, "GET",
                           it_sprintf("/api/collections/posts/records?filter=%s",
                                      rc_enc("notes_via_post.text ?= 'n1'")),
                           NULL);
    rc_assert_error(r, 400, NULL, NULL);
    assert_non_null(strstr(rc_str(r->json, "message"), "needs an index"));
    SEES(tsu, filt("notes_via_post.text ?= 'n1'"), "P1");
    /* through a multiple relation (lists.posts) on an indexed column: the
     * semi-join over the lists' ids, the same rows as the per-post probe
     * (:lower); refused for clients like any multiple back-relation */
    SEES(tsu, filt("lists_via_posts.kind ?= 'fav'"), "P1,P3");
    SEES(tsu, filt("lists_via_posts.kind:lower ?= 'fav'"), "P1,P3");
    SEES(tsu, filt("'old' ?= lists_via_posts.kind"), "P4");
    SEES(tsu, filt("lists_via_posts.kind ?= 'fav' && title != 'P3'"), "P1");
    SEES(tsu, filt("lists_via_posts.kind ?= 'none'"), "");
    r = as(ta, "GET",
           it_sprintf("/api/collections/posts/records?filter=%s",
                      rc_enc("lists_via_posts.kind ?= 'fav'")),
           NULL);
    rc_assert_error(r, 400, NULL, NULL);
    assert_non_null(strstr(rc_str(r->json, "message"), "needs an index"));
    /* unknown back-relations are unknown fields */
    rc_assert_error(as(NULL, "GET",
                       it_sprintf("/api/collections/posts/records?filter=%s",
                                  rc_enc("nothing_via_post.x ?= 1")),
                       NULL),
                    400, NULL, NULL);
}

/* expand.<name> of the list item titled title (NULL when absent). */
static const cJSON *expand_of(const cJSON *list, const char *title, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, rc_get(list, "items")) {
        if (strcmp(rc_str(e, "title"), title) == 0) {
            const cJSON *x = cJSON_GetObjectItem(e, "expand");
            return x ? cJSON_GetObjectItem(x, name) : NULL;
        }
    }
    fail_msg("no item %s", title);
    return NULL;
}

static void test_back_relation_expand(void **state)
{
    (void)state;
    const char *path = "/api/collections/posts/records?sort=title&expand=";
    struct rc_resp *r = as(NULL, "GET", it_sprintf("%s%s", path, "comments_via_post"), NULL);
    assert_int_equal(r->status, 200);
    const cJSON *c1 = expand_of(r->json, "P1", "comments_via_post");
    assert_true(cJSON_IsArray(c1));
    assert_int_equal(cJSON_GetArraySize(c1), 2);
    assert_int_equal(cJSON_GetArraySize(expand_of(r->json, "P3", "comments_via_post")), 1);

    /* nested, under the viewer's rules, emails hidden as usual */
    r = as(tb, "GET", it_sprintf("%s%s", path, rc_enc("comments_via_post.author")), NULL);
    assert_int_equal(r->status, 200);
    assert_null(expand_of(r->json, "P2", "comments_via_post")); /* the comment is ann's to see */
    const cJSON *e;
    int authors = 0;
    cJSON_ArrayForEach(e, expand_of(r->json, "P1", "comments_via_post")) {
        const cJSON *a = rc_get(rc_get(e, "expand"), "author");
        if (strcmp(rc_str(a, "id"), bob) != 0 && cJSON_GetObjectItem(a, "email"))
            fail_msg("another user's hidden email in an expand: %s", r->raw->body);
        assert_non_null(cJSON_GetObjectItem(a, "name"));
        authors++;
    }
    assert_int_equal(authors, 2);
    r = as(ta, "GET", it_sprintf("%s%s", path, "comments_via_post"), NULL);
    assert_int_equal(cJSON_GetArraySize(expand_of(r->json, "P2", "comments_via_post")), 1);

    /* view, and the fields selector reaching into the expand */
    r = as(NULL, "GET",
           it_sprintf("/api/collections/posts/records/%s?expand=comments_via_post&fields=%s", p1,
                      rc_enc("title,expand.comments_via_post.text")),
           NULL);
    assert_int_equal(r->status, 200);
    const cJSON *list = rc_get(rc_get(r->json, "expand"), "comments_via_post");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    cJSON_ArrayForEach(e, list) {
        assert_non_null(cJSON_GetObjectItem(e, "text"));
        assert_null(cJSON_GetObjectItem(e, "id"));
    }
    assert_null(cJSON_GetObjectItem(r->json, "id"));

    /* an unknown name is ignored, as PocketBase does; an unindexed one is a
     * 400 for clients and expands for superusers */
    r = as(NULL, "GET", it_sprintf("%s%s", path, "nothing_via_post,comments_via_title"), NULL);
    assert_int_equal(r->status, 200);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(rc_get(r->json, "items"), 0), "expand"));
    rc_assert_error(as(NULL, "GET", it_sprintf("%s%s", path, "notes_via_post"), NULL), 400, NULL,
                    NULL);
    r = as(tsu, "GET", it_sprintf("%s%s", path, "notes_via_post"), NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(cJSON_GetArraySize(expand_of(r->json, "P1", "notes_via_post")), 1);
}

static void test_modifiers(void **state)
{
    (void)state;
    SEES(NULL, filt("labels:each ~ 'e'"), "P1,P3");
    SEES(NULL, filt("labels:each ?= 'news'"), "P1");
    SEES(NULL, filt("labels:length = 2"), "P1");
    SEES(NULL, filt("title:lower = 'p3'"), "P3");
    rc_assert_error(
        as(NULL, "GET",
           it_sprintf("/api/collections/posts/records?filter=%s", rc_enc("title:each = 'x'")),
           NULL),
        400, NULL, NULL);
    /* :changed in the update rule: the author may edit, not hand the post over */
    const char *one = it_sprintf("/api/collections/posts/records/%s", p1);
    assert_int_equal(as(ta, "PATCH", one, "{'title':'P1'}")->status, 200);
    assert_int_equal(as(ta, "PATCH", one, it_sprintf("{'title':'P1','author':'%s'}", ann))->status,
                     200); /* sent, unchanged */
    rc_assert_error(as(ta, "PATCH", one, it_sprintf("{'author':'%s'}", bob)), 404, NULL, NULL);
    rc_assert_error(as(tb, "PATCH", one, "{'title':'mine now'}"), 404, NULL, NULL);
    struct rc_resp *r = as(NULL, "GET", one, NULL);
    assert_string_equal(rc_str(r->json, "author"), ann);
    assert_string_equal(rc_str(r->json, "title"), "P1");
}

/* `x_via_y:length` counts the rows pointing at each record that the viewer
 * may list (filters and sorts); a client's count through an unindexed
 * relation is a 400 as the other back-relation forms. */
static void test_back_relation_length(void **state)
{
    (void)state;
    SEES(NULL, filt("comments_via_post:length = 2"), "P1");
    SEES(NULL, filt("comments_via_post:length > 0"), "P1,P3");
    SEES(tb, filt("comments_via_post:length = 0"), "P2,P4"); /* P2's comment is ann's to see */
    SEES(ta, filt("comments_via_post:length = 1"), "P2,P3");
    SEES(tsu, filt("comments_via_post:length = 0"), "P4");
    SEES(NULL, "&sort=comments_via_post:length,title", "P3,P1");
    SEES(tsu, "&sort=-comments_via_post:length,title", "P1,P2,P3,P4");
    struct rc_resp *r = as(
        NULL, "GET",
        it_sprintf("/api/collections/posts/records?filter=%s", rc_enc("notes_via_post:length > 0")),
        NULL);
    rc_assert_error(r, 400, NULL, NULL);
    assert_non_null(strstr(rc_str(r->json, "message"), "needs an index"));
    SEES(tsu, filt("notes_via_post:length = 1"), "P1");
    rc_assert_error(
        as(NULL, "GET",
           it_sprintf("/api/collections/posts/records?filter=%s", rc_enc("title:length > 0")),
           NULL),
        400, NULL, NULL);

    SEES(tsu, filt("comments_via_post:length = 1 && comments_via_post.author.name ?= 'ann'"),
         "P2,P3");
}

/* The threads a list answers to token, by title. */
static const char *threads(const char *token)
{
    struct rc_resp *r = as(token, "GET", "/api/collections/threads/records?sort=title", NULL);
    if (r->status != 200)
        fail_msg("threads: status %d: %s", r->status, r->raw->body);
    char *out = it_strdup("");
    const cJSON *e;
    cJSON_ArrayForEach(e, rc_get(r->json, "items")) {
        out = it_sprintf("%s%s%s", out, out[0] ? "," : "", rc_str(e, "title"));
    }
    return out;
}

/* A rule through back-relations from the signed-in user
 * (`@request.auth.comments_via_author.post ?= post`, and the number of
 * her posts): each user lists the threads of what she commented on. */
static void test_auth_back_relation_rule(void **state)
{
    (void)state;
    assert_string_equal(threads(NULL), "");
    assert_string_equal(threads(ta), "T3,open"); /* commented on P3 and P2; two posts */
    assert_string_equal(threads(tb), "T1,open"); /* commented on P1; two posts */
    assert_string_equal(threads(tc), "T1");      /* commented on P1; no posts */
    assert_string_equal(threads(tsu), "T1,T3,T4,open");
    const char *c =
        su_create("comments", it_sprintf("{'text':'later','post':'%s','author':'%s'}", p4, cy));
    assert_string_equal(threads(tc), "T1,T4");
    struct rc_resp *r = as(tc, "GET", "/api/collections/threads/records?sort=title", NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 2);
    assert_int_equal(
        as(tsu, "DELETE", it_sprintf("/api/collections/comments/records/%s", c), NULL)->status,
        204);
    assert_string_equal(threads(tc), "T1");
    /* a non-superuser's own filter may not name @request (PocketBase's 403) */
    rc_assert_error(as(ta, "GET",
                       it_sprintf("/api/collections/posts/records?filter=%s",
                                  rc_enc("@request.auth.comments_via_author:length > 0")),
                       NULL),
                    403, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_collection_rule_by_viewer, open_conn),
        it_test_each(test_collection_filter_superusers_only, open_conn),
        it_test_each(test_back_relation_filter, open_conn),
        it_test_each(test_back_relation_expand, open_conn),
        it_test_each(test_modifiers, open_conn),
        it_test_each(test_back_relation_length, open_conn),
        it_test_each(test_auth_back_relation_rule, open_conn),
    };
    return cmocka_run_group_tests_name("records_lang", tests, group_setup, it_group_teardown);
}
