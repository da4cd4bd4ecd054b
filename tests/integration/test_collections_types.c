/*
 * Schema features of issue 9 on the real binary, beside the collections API
 * of test_collections_api.c: the field types editor and geoPoint (values,
 * ranges, defaults, filters), view collections (fields inferred from the
 * query, list/view with rules, filters, sorts and expand, read-only, every
 * forbidden query named, dry-run-view) and a field rename that keeps the
 * data and rewrites the rules and indexes naming the field.
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

static struct it_server *srv;
static struct it_conn *conn;
static const char *tsu; /* a superuser's token */

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(NULL, "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    ac_superuser(srv, "root@example.com", "root password");
    struct it_conn *c = it_conn_open(srv);
    tsu = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    it_conn_close(c);
    return 0;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

static struct rc_resp *as(const char *token, const char *method, const char *path, const char *json)
{
    return ac_req(conn, method, path, token, json ? rc_q(json) : NULL);
}

/* PUT /api/collections/import of collections (JSON text of an array). */
static struct rc_resp *import(const char *collections, bool delete_missing)
{
    return ac_req(conn, "PUT", "/api/collections/import", tsu,
                  it_sprintf("{\"collections\":%s,\"deleteMissing\":%s}", collections,
                             delete_missing ? "true" : "false"));
}

/* Each refused with 400 naming the key, and nothing created. */
static void refused(const char *json, const char *key, const char *named)
{
    struct rc_resp *r = as(tsu, "POST", "/api/collections", json);
    rc_assert_error(r, 400, key, NULL);
    if (!strstr(r->raw->body, named))
        fail_msg("%s: the message does not name %s: %s", json, named, r->raw->body);
    rc_assert_error(as(tsu, "GET", "/api/collections/refused", NULL), 404, NULL, NULL);
}

static void test_editor_and_geopoint(void **state)
{
    (void)state;
    struct rc_resp *r =
        as(tsu, "POST", "/api/collections",
           "{'name':'places','listRule':'','viewRule':'','createRule':'','updateRule':'',"
           "'fields':[{'name':'where','type':'geoPoint'},{'name':'pin','type':'geoPoint',"
           "'required':true},{'name':'notes','type':'editor','maxSize':20}]}");
    if (r->status != 200)
        fail_msg("create: %d %s", r->status, r->raw->body);
    const char *recs = "/api/collections/places/records";
    r = as(NULL, "POST", recs, "{'pin':{'lon':12.5,'lat':-45.25},'notes':'<p>hi</p>'}");
    if (r->status != 200)
        fail_msg("record: %d %s", r->status, r->raw->body);
    const char *id = it_strdup(rc_str(r->json, "id"));
    /* stored as {lon, lat}; a missing one is PocketBase's {0, 0} */
    assert_int_equal(strstr(r->raw->body, "\"pin\":{\"lon\":12.5,\"lat\":-45.25}") != NULL, 1);
    assert_int_equal(strstr(r->raw->body, "\"where\":{\"lon\":0,\"lat\":0}") != NULL, 1);
    assert_string_equal(rc_str(r->json, "notes"), "<p>hi</p>");
    r = as(NULL, "GET", it_sprintf("%s/%s", recs, id), NULL);
    assert_true(strstr(r->raw->body, "\"pin\":{\"lon\":12.5,\"lat\":-45.25}") != NULL);
    /* ranges, types, required (the zero point is "missing", as in PocketBase) */
    rc_assert_error(as(NULL, "POST", recs, "{'pin':{'lon':181,'lat':0}}"), 400, "pin",
                    "validation_invalid_geo_point");
    rc_assert_error(as(NULL, "POST", recs, "{'pin':{'lon':1,'lat':-90.5}}"), 400, "pin",
                    "validation_invalid_geo_point");
    rc_assert_error(as(NULL, "POST", recs, "{'pin':{'lon':'1','lat':2}}"), 400, "pin",
                    "validation_invalid_geo_point");
    rc_assert_error(as(NULL, "POST", recs, "{'pin':[1,2]}"), 400, "pin",
                    "validation_invalid_geo_point");
    rc_assert_error(as(NULL, "POST", recs, "{'pin':{'lon':0,'lat':0}}"), 400, "pin",
                    "validation_required");
    rc_assert_error(
        as(NULL, "POST", recs, "{'pin':{'lon':1,'lat':1},'notes':'0123456789012345678901'}"), 400,
        "notes", NULL);
    /* an update keeps what it does not set; filters read lon and lat */
    r = as(NULL, "PATCH", it_sprintf("%s/%s", recs, id), "{'where':{'lon':-3,'lat':7.5}}");
    assert_int_equal(r->status, 200);
    assert_true(strstr(r->raw->body, "\"pin\":{\"lon\":12.5,\"lat\":-45.25}") != NULL);
    as(NULL, "POST", recs, "{'pin':{'lon':1,'lat':1}}");
    r = as(NULL, "GET", it_sprintf("%s?filter=%s", recs, rc_enc("pin.lat < 0 && where.lon = -3")),
           NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 1);
    assert_string_equal(rc_str(cJSON_GetArrayItem(rc_get(r->json, "items"), 0), "id"), id);
    r = as(NULL, "GET", it_sprintf("%s?filter=%s", recs, rc_enc("notes ~ 'hi'")), NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 1);
    /* a geoPoint keeps its type */
    rc_assert_error(as(tsu, "PATCH", "/api/collections/places",
                       "{'fields':[{'name':'where','type':'text'},{'name':'pin','type':'geoPoint',"
                       "'required':true},{'name':'notes','type':'editor','maxSize':20}]}"),
                    400, "fields", "validation_field_type_change");
    /* editor options as PocketBase's; geoPoint has none of its own */
    r = as(tsu, "GET", "/api/collections/places", NULL);
    assert_non_null(strstr(r->raw->body, "\"convertURLs\":false"));
    refused("{'name':'refused','fields':[{'name':'g','type':'geoPoint','max':1}]}", "fields",
            "max");
}

static const cJSON *field_named(const cJSON *c, const char *name)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, rc_get(c, "fields")) {
        if (strcmp(rc_str(f, "name"), name) == 0)
            return f;
    }
    return NULL;
}

/* A view POSTed as c with viewQuery q is refused, naming viewQuery, with
 * the message containing named. */
static void view_refused(const char *q, const char *named)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "refused");
    cJSON_AddStringToObject(o, "type", "view");
    cJSON_AddStringToObject(o, "viewQuery", q);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    struct rc_resp *r = ac_req(conn, "POST", "/api/collections", tsu, it_strdup(text));
    free(text);
    rc_assert_error(r, 400, "viewQuery", NULL);
    if (!strstr(r->raw->body, named))
        fail_msg("%s: the message does not name %s: %s", q, named, r->raw->body);
}

static void test_view_collections(void **state)
{
    (void)state;
    struct rc_resp *r = import(
        rc_q("[{'name':'vauthors','type':'base','listRule':'','viewRule':'','createRule':'',"
             " 'fields':[{'name':'name','type':'text'}]},"
             "{'name':'vmembers','type':'auth'},"
             "{'name':'vposts','type':'base','listRule':'','viewRule':'','createRule':'',"
             " 'fields':[{'name':'title','type':'text'},{'name':'score','type':'number'},"
             "  {'name':'draft','type':'bool'},"
             "  {'name':'author','type':'relation','collectionId':'vauthors','maxSelect':1}]}]"),
        false);
    if (r->status != 204)
        fail_msg("import: %d %s", r->status, r->raw->body);
    const char *ann = rc_create(conn, "vauthors", "{'name':'ann'}");
    const char *bob = rc_create(conn, "vauthors", "{'name':'bob'}");
    const char *p1 =
        rc_create(conn, "vposts", it_sprintf("{'title':'alpha','score':5,'author':'%s'}", ann));
    rc_create(conn, "vposts", it_sprintf("{'title':'beta','score':1,'author':'%s'}", ann));
    rc_create(conn, "vposts",
              it_sprintf("{'title':'gamma','score':9,'author':'%s','draft':true}", bob));
    rc_create(conn, "vposts", it_sprintf("{'title':'delta','score':3,'author':'%s'}", bob));
    r = as(
        tsu, "POST", "/api/collections",
        "{'name':'post_stats','type':'view','listRule':'score > 1','viewRule':'',"
        "'viewQuery':'SELECT p.id, p.title AS title, p.author, p.score, (SELECT count(*) FROM "
        "vposts q WHERE q.author = p.author) AS by_author, upper(p.title) AS loud, p.score * 2 AS "
        "twice FROM vposts p WHERE p.draft = FALSE'}");
    if (r->status != 200)
        fail_msg("view: %d %s", r->status, r->raw->body);
    /* fields inferred as PocketBase does: copies of the source fields, json otherwise */
    assert_string_equal(rc_str(r->json, "type"), "view");
    assert_string_equal(rc_str(field_named(r->json, "id"), "type"), "text");
    assert_string_equal(rc_str(field_named(r->json, "title"), "type"), "text");
    assert_string_equal(rc_str(field_named(r->json, "score"), "type"), "number");
    assert_string_equal(rc_str(field_named(r->json, "author"), "type"), "relation");
    assert_string_equal(rc_str(field_named(r->json, "by_author"), "type"), "json"); /* subquery */
    /* computed columns typed by their expression: text functions, arithmetic */
    assert_string_equal(rc_str(field_named(r->json, "loud"), "type"), "text");
    assert_string_equal(rc_str(field_named(r->json, "twice"), "type"), "number");
    assert_null(field_named(r->json, "created"));
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "fields")), 7);
    assert_true(cJSON_IsNull(rc_get(r->json, "createRule")));

    /* list and view through the records API, with the rules, filters, sorts */
    const char *recs = "/api/collections/post_stats/records";
    r = as(NULL, "GET", it_sprintf("%s?sort=-score", recs), NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 2); /* alpha 5, delta 3 */
    const cJSON *first = cJSON_GetArrayItem(rc_get(r->json, "items"), 0);
    assert_string_equal(rc_str(first, "title"), "alpha");
    assert_int_equal((int)rc_num(first, "by_author"), 2);
    assert_string_equal(rc_str(first, "loud"), "ALPHA");
    assert_string_equal(rc_str(first, "collectionName"), "post_stats");
    r = as(NULL, "GET", it_sprintf("%s?filter=%s", recs, rc_enc("title ~ 'elt'")), NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 1);
    r = as(NULL, "GET", it_sprintf("%s?filter=%s", recs, rc_enc("twice > 9")), NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 1); /* alpha: 10 */
    assert_true(cJSON_IsNumber(rc_get(cJSON_GetArrayItem(rc_get(r->json, "items"), 0), "twice")));
    r = as(NULL, "GET", it_sprintf("%s?expand=author&filter=%s", recs, rc_enc("score = 5")), NULL);
    first = cJSON_GetArrayItem(rc_get(r->json, "items"), 0);
    assert_string_equal(rc_str(rc_get(rc_get(first, "expand"), "author"), "name"), "ann");
    assert_int_equal(as(NULL, "GET", it_sprintf("%s/%s", recs, p1), NULL)->status, 200);
    /* the draft is not in the view; beta fails the listRule but not the viewRule */
    r = as(tsu, "GET", it_sprintf("%s?perPage=10", recs), NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 3);
    /* a write to the source shows at once, totals included */
    rc_create(conn, "vposts", it_sprintf("{'title':'eps','score':7,'author':'%s'}", bob));
    r = as(NULL, "GET", recs, NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 3);
    /* read-only */
    rc_assert_error(as(NULL, "POST", recs, "{'title':'x'}"), 400, NULL, NULL);
    rc_assert_error(as(tsu, "PATCH", it_sprintf("%s/%s", recs, p1), "{'title':'x'}"), 400, NULL,
                    NULL);
    rc_assert_error(as(tsu, "DELETE", it_sprintf("%s/%s", recs, p1), NULL), 400, NULL, NULL);
    rc_assert_error(as(tsu, "DELETE", "/api/collections/post_stats/truncate", NULL), 400, NULL,
                    NULL);
    rc_assert_error(as(tsu, "PATCH", "/api/collections/post_stats", "{'createRule':''}"), 400,
                    "createRule", NULL);
    /* a new query, new fields (the listRule must still compile against them) */
    r = as(tsu, "PATCH", "/api/collections/post_stats",
           "{'viewQuery':'SELECT id, title FROM vposts'}");
    rc_assert_error(r, 400, "listRule", NULL);
    r = as(tsu, "PATCH", "/api/collections/post_stats",
           "{'viewQuery':'SELECT id, title FROM vposts','listRule':''}");
    assert_int_equal(r->status, 200);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "fields")), 2);
    r = as(NULL, "GET", recs, NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 5);

    /* what a view may not do, each named */
    view_refused("DELETE FROM vposts", "SELECT");
    view_refused("SELECT id FROM vposts; SELECT id FROM vauthors", "one statement");
    view_refused("SELECT id, recordId FROM _sessions", "_sessions");
    view_refused("SELECT id, email FROM _superusers", "_superusers");
    view_refused("SELECT name AS id FROM sqlite_master", "sqlite_master");
    view_refused("SELECT * FROM pragma_table_info('vposts')", "allowed");
    view_refused("SELECT title FROM vposts", "id");
    view_refused("SELECT id, title || 'x' FROM vposts", "alias");
    view_refused("SELECT id, password FROM vmembers", "password");
    view_refused("SELECT id FROM nowhere", "nowhere");
    view_refused("SELECT id, load_extension('x') AS e FROM vposts", "load_extension");
    rc_assert_error(as(tsu, "GET", "/api/collections/refused", NULL), 404, NULL, NULL);

    /* dry run: the fields, nothing stored */
    r = as(tsu, "POST", "/api/collections/meta/dry-run-view",
           "{'viewQuery':'SELECT a.id, a.name, count(p.id) AS posts FROM vauthors a LEFT JOIN "
           "vposts p ON p.author = a.id GROUP BY a.id'}");
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(field_named(r->json, "name"), "type"), "text");
    assert_string_equal(rc_str(field_named(r->json, "posts"), "type"), "number"); /* count() */
    rc_assert_error(as(tsu, "POST", "/api/collections/meta/dry-run-view", "{'viewQuery':'DROP'}"),
                    400, "viewQuery", NULL);
    rc_assert_error(as(NULL, "POST", "/api/collections/meta/dry-run-view", "{}"), 401, NULL, NULL);
    /* a view goes like any collection */
    assert_int_equal(as(tsu, "DELETE", "/api/collections/post_stats", NULL)->status, 204);
    rc_assert_error(as(NULL, "GET", recs, NULL), 404, NULL, NULL);
    (void)bob;
}

static void test_rename_keeps_data_rules_indexes(void **state)
{
    (void)state;
    assert_int_equal(as(tsu, "POST", "/api/collections",
                        "{'name':'drafters','fields':[{'name':'title','type':'text'}]}")
                         ->status,
                     200);
    struct rc_resp *r =
        as(tsu, "POST", "/api/collections",
           "{'name':'drafts','listRule':'title != \\\"\\\" && owner.title = \\\"title\\\"',"
           "'viewRule':'','createRule':'','updateRule':null,'deleteRule':null,"
           "'fields':[{'name':'title','type':'text'},{'name':'owner','type':'relation',"
           "'collectionId':'drafters','maxSelect':1}],"
           "'indexes':['CREATE INDEX idx_drafts_title ON drafts (title)']}");
    if (r->status != 200)
        fail_msg("create: %d %s", r->status, r->raw->body);
    const char *id = rc_create(conn, "drafts", "{'title':'kept'}");
    const cJSON *f = field_named(r->json, "title");
    const char *fid = it_strdup(rc_str(f, "id"));
    /* the field renamed (same id), the collection renamed */
    r = as(
        tsu, "PATCH", "/api/collections/drafts",
        it_sprintf("{'name':'notes2','fields':[{'id':'%s','name':'headline','type':'text'},"
                   "{'name':'owner','type':'relation','collectionId':'drafters','maxSelect':1}]}",
                   fid));
    if (r->status != 200)
        fail_msg("rename: %d %s", r->status, r->raw->body);
    /* only the root identifier changes: a string and another record's field stay */
    assert_string_equal(rc_str(r->json, "listRule"), "headline != \"\" && owner.title = \"title\"");
    char *ix = cJSON_PrintUnformatted(rc_get(r->json, "indexes"));
    bool follows = strstr(ix, "ON `notes2` (`headline`)") != NULL;
    free(ix);
    assert_true(follows);
    /* the data stayed, under the new names */
    r = as(NULL, "GET", it_sprintf("/api/collections/notes2/records/%s", id), NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(r->json, "headline"), "kept");
    r = as(tsu, "GET",
           it_sprintf("/api/collections/notes2/records?filter=%s", rc_enc("headline = 'kept'")),
           NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 1);
    rc_assert_error(as(NULL, "GET", "/api/collections/drafts/records", NULL), 404, NULL, NULL);
    /* a rule the update sets is taken as written */
    r = as(tsu, "PATCH", "/api/collections/notes2",
           it_sprintf("{'fields':[{'id':'%s','name':'title','type':'text'},"
                      "{'name':'owner','type':'relation','collectionId':'drafters','maxSelect':1}],"
                      "'listRule':'title = \\\"kept\\\"'}",
                      fid));
    if (r->status != 200)
        fail_msg("rename back: %d %s", r->status, r->raw->body);
    assert_string_equal(rc_str(r->json, "listRule"), "title = \"kept\"");
    assert_int_equal(
        (int)rc_num(as(NULL, "GET", "/api/collections/notes2/records", NULL)->json, "totalItems"),
        1);
}

/* Renaming a field or a collection rewrites the rules of the OTHER
 * collections that name it: through a relation, with @collection, and both
 * parts of a back-relation; strings and other names stay. */
static void test_rename_rewrites_other_rules(void **state)
{
    (void)state;
    struct rc_resp *r = as(tsu, "POST", "/api/collections",
                           "{'name':'writers','listRule':'','createRule':'','fields':[{'name':'"
                           "name','type':'text'}]}");
    if (r->status != 200)
        fail_msg("writers: %d %s", r->status, r->raw->body);
    const char *wname = it_strdup(rc_str(field_named(r->json, "name"), "id"));
    r = as(tsu, "POST", "/api/collections",
           "{'name':'pieces','createRule':'','listRule':'author.name != \\\"name\\\" && "
           "@collection.writers.name ?= author.name',"
           "'fields':[{'name':'title','type':'text'},{'name':'author','type':'relation',"
           "'collectionId':'writers','maxSelect':1}],"
           "'indexes':['CREATE INDEX idx_pieces_author ON pieces (author)']}");
    if (r->status != 200)
        fail_msg("pieces: %d %s", r->status, r->raw->body);
    const char *ptitle = it_strdup(rc_str(field_named(r->json, "title"), "id"));
    const char *pauthor = it_strdup(rc_str(field_named(r->json, "author"), "id"));
    r = as(tsu, "PATCH", "/api/collections/writers",
           "{'listRule':'pieces_via_author.title ?= \\\"x\\\" || name = \\\"bob\\\"'}");
    if (r->status != 200)
        fail_msg("writers rule: %d %s", r->status, r->raw->body);
    const char *bob = rc_create(conn, "writers", "{'name':'bob'}");
    rc_create(conn, "pieces", it_sprintf("{'title':'t1','author':'%s'}", bob));

    /* writers.name -> handle: pieces' rule follows, its string stays */
    r = as(tsu, "PATCH", "/api/collections/writers",
           it_sprintf("{'fields':[{'id':'%s','name':'handle','type':'text'}]}", wname));
    if (r->status != 200)
        fail_msg("rename field: %d %s", r->status, r->raw->body);
    assert_string_equal(rc_str(r->json, "listRule"),
                        "pieces_via_author.title ?= \"x\" || handle = \"bob\"");
    r = as(tsu, "GET", "/api/collections/pieces", NULL);
    assert_string_equal(rc_str(r->json, "listRule"),
                        "author.handle != \"name\" && @collection.writers.handle ?= author.handle");

    /* pieces -> works and its author -> writer, at once: the back-relation
     * in writers' rule follows both */
    r = as(tsu, "PATCH", "/api/collections/pieces",
           it_sprintf("{'name':'works','fields':[{'id':'%s','name':'title','type':'text'},"
                      "{'id':'%s','name':'writer','type':'relation','collectionId':'writers',"
                      "'maxSelect':1}]}",
                      ptitle, pauthor));
    if (r->status != 200)
        fail_msg("rename collection: %d %s", r->status, r->raw->body);
    assert_string_equal(rc_str(r->json, "listRule"),
                        "writer.handle != \"name\" && @collection.writers.handle ?= writer.handle");
    r = as(tsu, "GET", "/api/collections/writers", NULL);
    assert_string_equal(rc_str(r->json, "listRule"),
                        "works_via_writer.title ?= \"x\" || handle = \"bob\"");
    /* and the rules work: the data is listed under the new names */
    r = as(NULL, "GET", "/api/collections/works/records", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 1);
    r = as(NULL, "GET", "/api/collections/writers/records", NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_editor_and_geopoint, open_conn),
        it_test_each(test_view_collections, open_conn),
        it_test_each(test_rename_keeps_data_rules_indexes, open_conn),
        it_test_each(test_rename_rewrites_other_rules, open_conn),
    };
    return cmocka_run_group_tests_name("collections_types", tests, group_setup, it_group_teardown);
}
