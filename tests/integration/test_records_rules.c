/*
 * The rules, validation and relation integrity of records writes, for a
 * guest (auth is a later issue): a null rule is 403 on every route; an
 * expression filters lists, hides records from view/update/delete as 404,
 * and refuses a create with 400 (checked on the stored row, so nothing is
 * kept); rules may read @request.query/body. Validation answers 400 with one
 * entry per bad field and PocketBase's codes, unique indexes answer
 * validation_not_unique. Deleting a record cascades, unsets or is refused
 * (required relation) as PocketBase does. Also: the writer queue limit is a
 * 503 with Retry-After, and a client that leaves before its write commits
 * does not disturb the server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_records_client.h"

#define OPEN "'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''"

static const char schema[] =
    "["
    "{'name':'secrets','type':'base','fields':[{'name':'x','type':'text'}],"
    "  'listRule':null,'viewRule':null,'createRule':null,'updateRule':null,'deleteRule':null},"
    "{'name':'notes','type':'base','fields':["
    "  {'name':'title','type':'text'},{'name':'public','type':'bool'},"
    "  {'name':'locked','type':'bool'},{'name':'kind','type':'text'}],"
    "  'listRule':'public = true','viewRule':'public = true',"
    "  'createRule':'title != \\\"forbidden\\\" && @request.body.kind != \\\"bad\\\"',"
    "  'updateRule':'locked = false','deleteRule':'locked = false'},"
    "{'name':'tokens','type':'base','fields':[{'name':'v','type':'text'}],"
    "  'listRule':'@request.query.token = \\\"letmein\\\"','viewRule':'','createRule':'',"
    "  'updateRule':'','deleteRule':''},"
    "{'name':'forms','type':'base','fields':["
    "  {'name':'word','type':'text','min':3,'max':10,'pattern':'^[a-z]+$'},"
    "  {'name':'mail','type':'email'},{'name':'site','type':'url'},"
    "  {'name':'num','type':'number','min':1,'max':10,'onlyInt':true},"
    "  {'name':'choice','type':'select','values':['a','b'],'maxSelect':1},"
    "  {'name':'when','type':'date'},{'name':'blob','type':'json','maxSize':20},"
    "  {'name':'note','type':'relation','collectionId':'notes','maxSelect':1},"
    "  {'name':'must','type':'text','required':true}]," OPEN "},"
    "{'name':'uniq','type':'base','fields':[{'name':'code','type':'text'},"
    "  {'name':'a','type':'number'},{'name':'b','type':'number'}],"
    "  'indexes':['CREATE UNIQUE INDEX idx_code ON uniq (code) WHERE code != \\'\\'',"
    "             'CREATE UNIQUE INDEX idx_ab ON uniq (a, b)']," OPEN "},"
    "{'name':'parents','type':'base','fields':[{'name':'name','type':'text'}]," OPEN "},"
    "{'name':'kids','type':'base','fields':[{'name':'parent','type':'relation',"
    "  'collectionId':'parents','maxSelect':1,'required':true,'cascadeDelete':true}]," OPEN "},"
    "{'name':'pins','type':'base','fields':[{'name':'parent','type':'relation',"
    "  'collectionId':'parents','maxSelect':1,'required':true}]," OPEN "},"
    "{'name':'loose','type':'base','fields':[{'name':'parents','type':'relation',"
    "  'collectionId':'parents','maxSelect':3}]," OPEN "},"
    "{'name':'members','type':'auth','fields':[{'name':'nick','type':'text'}]," OPEN "}"
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

/* GET of a path formatted with one string (a macro keeps the format checked). */
#define get(fmt, a) rc_req(conn, "GET", it_sprintf(fmt, a), NULL)

/* ---- rules ---- */

static void test_rules_null_is_403(void **state)
{
    (void)state;
    const char *base = "/api/collections/secrets/records";
    struct rc_resp *r = rc_req(conn, "GET", base, NULL);
    rc_assert_error(r, 403, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"), "Only superusers can perform this action.");
    rc_assert_error(rc_req(conn, "GET", it_sprintf("%s/aaaaaaaaaaaaaaa", base), NULL), 403, NULL,
                    NULL);
    rc_assert_error(rc_req(conn, "POST", base, "{\"x\":\"1\"}"), 403, NULL, NULL);
    rc_assert_error(rc_req(conn, "PATCH", it_sprintf("%s/aaaaaaaaaaaaaaa", base), "{}"), 403, NULL,
                    NULL);
    rc_assert_error(rc_req(conn, "DELETE", it_sprintf("%s/aaaaaaaaaaaaaaa", base), NULL), 403, NULL,
                    NULL);
}

static void test_rules_expressions(void **state)
{
    (void)state;
    const char *pub = rc_create(conn, "notes", "{'title':'pub','public':true}");
    const char *priv = rc_create(conn, "notes", "{'title':'priv','public':false}");
    const char *locked = rc_create(conn, "notes", "{'title':'locked','public':true,'locked':true}");

    /* list: filtered, not refused; the client's filter is ANDed */
    const cJSON *l = rc_ok(get("/api/collections/notes/records%s", ""), 200);
    assert_true(rc_num(l, "totalItems") == 2);
    l = rc_ok(get("/api/collections/notes/records?filter=%s", rc_enc("title = 'priv'")), 200);
    assert_true(rc_num(l, "totalItems") == 0);
    l = rc_ok(get("/api/collections/notes/records?filter=%s", rc_enc("public = false")), 200);
    assert_true(rc_num(l, "totalItems") == 0);

    /* view: 404 for what the rule hides */
    rc_ok(get("/api/collections/notes/records/%s", pub), 200);
    rc_assert_error(get("/api/collections/notes/records/%s", priv), 404, NULL, NULL);

    /* update and delete: 404 when the stored record fails the rule */
    const char *lp = it_sprintf("/api/collections/notes/records/%s", locked);
    rc_assert_error(rc_req(conn, "PATCH", lp, rc_q("{'title':'changed'}")), 404, NULL, NULL);
    rc_assert_error(rc_req(conn, "DELETE", lp, NULL), 404, NULL, NULL);
    assert_string_equal(rc_str(rc_ok(rc_req(conn, "GET", lp, NULL), 200), "title"), "locked");
    const char *pp = it_sprintf("/api/collections/notes/records/%s", pub);
    assert_string_equal(
        rc_str(rc_ok(rc_req(conn, "PATCH", pp, rc_q("{'title':'pub2'}")), 200), "title"), "pub2");
    /* the rule is checked on the stored record: locking it is allowed, then it is locked */
    rc_ok(rc_req(conn, "PATCH", pp, rc_q("{'locked':true}")), 200);
    rc_assert_error(rc_req(conn, "PATCH", pp, rc_q("{'locked':false}")), 404, NULL, NULL);

    /* create: 400 when the new record fails the rule, and nothing is stored */
    struct rc_resp *r =
        rc_req(conn, "POST", "/api/collections/notes/records", rc_q("{'title':'forbidden'}"));
    rc_assert_error(r, 400, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"), "Failed to create record.");
    rc_assert_error(rc_req(conn, "POST", "/api/collections/notes/records",
                           rc_q("{'title':'ok','kind':'bad','public':true}")),
                    400, NULL, NULL);
    rc_create(conn, "notes", "{'title':'ok','kind':'good','public':true}");
    l = rc_ok(get("/api/collections/notes/records?filter=%s", rc_enc("title = 'forbidden'")), 200);
    assert_true(rc_num(l, "totalItems") == 0);
    l = rc_ok(get("/api/collections/notes/records?filter=%s", rc_enc("kind = 'bad'")), 200);
    assert_true(rc_num(l, "totalItems") == 0);
}

static void test_rules_request_query(void **state)
{
    (void)state;
    rc_create(conn, "tokens", "{'v':'a'}");
    rc_create(conn, "tokens", "{'v':'b'}");
    assert_true(rc_num(rc_ok(get("/api/collections/tokens/records%s", ""), 200), "totalItems") ==
                0);
    assert_true(rc_num(rc_ok(get("/api/collections/tokens/records?token=%s", "letmein"), 200),
                       "totalItems") == 2);
}

/* ---- validation ---- */

static void test_validation_codes(void **state)
{
    (void)state;
    struct rc_resp *r =
        rc_req(conn, "POST", "/api/collections/forms/records",
               rc_q("{'word':'Ab','mail':'nope','site':'x y','num':2.5,"
                    "'choice':'z','when':'yesterday','blob':'0123456789012345678901',"
                    "'note':'missingmissing1'}"));
    rc_assert_error(r, 400, "must", "validation_required");
    assert_string_equal(rc_str(r->json, "message"), "Failed to create record.");
    rc_assert_error(r, 400, "word", "validation_min_text_constraint");
    rc_assert_error(r, 400, "mail", "validation_is_email");
    rc_assert_error(r, 400, "site", "validation_is_url");
    rc_assert_error(r, 400, "num", "validation_only_int_constraint");
    rc_assert_error(r, 400, "choice", "validation_invalid_value");
    rc_assert_error(r, 400, "when", "validation_invalid_date");
    rc_assert_error(r, 400, "blob", "validation_json_size_limit");
    rc_assert_error(r, 400, "note", "validation_missing_rel_records");
    const cJSON *m = rc_get(rc_get(rc_get(r->json, "data"), "must"), "message");
    assert_true(cJSON_IsString(m) && m->valuestring[0]);

    r = rc_req(conn, "POST", "/api/collections/forms/records",
               rc_q("{'must':'x','word':'abcdefghijkl','num':11}"));
    rc_assert_error(r, 400, "word", "validation_max_text_constraint");
    rc_assert_error(r, 400, "num", "validation_max_number_constraint");
    r = rc_req(conn, "POST", "/api/collections/forms/records",
               rc_q("{'must':'x','word':'abc1','num':-1,'when':'2024-01-02'}"));
    rc_assert_error(r, 400, "word", "validation_invalid_format");
    rc_assert_error(r, 400, "num", "validation_min_number_constraint");
    assert_null(cJSON_GetObjectItemCaseSensitive(rc_get(r->json, "data"), "when"));

    /* a valid one, with coercions (numeric strings, a date normalised) */
    const char *note = rc_create(conn, "notes", "{'title':'n'}");
    const cJSON *ok1 = rc_ok(rc_req(conn, "POST", "/api/collections/forms/records",
                                    rc_q(it_sprintf("{'must':'x','word':'abc','num':'7',"
                                                    "'mail':'a@b.co','site':'https://x.io/p',"
                                                    "'when':'2024-01-02T03:04:05+01:00',"
                                                    "'choice':'b','note':'%s'}",
                                                    note))),
                             200);
    assert_true(rc_num(ok1, "num") == 7);
    assert_string_equal(rc_str(ok1, "when"), "2024-01-02 02:04:05.000Z");
    /* update validates the merged record */
    const char *p = it_sprintf("/api/collections/forms/records/%s", rc_str(ok1, "id"));
    rc_assert_error(rc_req(conn, "PATCH", p, rc_q("{'must':''}")), 400, "must",
                    "validation_required");
    assert_string_equal(rc_str(rc_req(conn, "PATCH", p, rc_q("{'must':''}"))->json, "message"),
                        "Failed to update record.");
}

static void test_validation_unique(void **state)
{
    (void)state;
    rc_create(conn, "uniq", "{'code':'A1','a':1,'b':1}");
    struct rc_resp *r =
        rc_req(conn, "POST", "/api/collections/uniq/records", rc_q("{'code':'A1','a':1,'b':2}"));
    rc_assert_error(r, 400, "code", "validation_not_unique");
    assert_string_equal(rc_str(r->json, "message"), "Failed to create record.");
    /* a composite index names each of its fields */
    r = rc_req(conn, "POST", "/api/collections/uniq/records", rc_q("{'code':'B','a':1,'b':1}"));
    rc_assert_error(r, 400, "a", "validation_not_unique");
    rc_assert_error(r, 400, "b", "validation_not_unique");
    /* the partial index lets empty codes repeat */
    rc_create(conn, "uniq", "{'a':2,'b':1}");
    rc_create(conn, "uniq", "{'a':2,'b':2}");
    /* and an update into a taken value is refused the same way */
    const char *id = rc_create(conn, "uniq", "{'code':'C','a':3,'b':3}");
    r = rc_req(conn, "PATCH", it_sprintf("/api/collections/uniq/records/%s", id),
               rc_q("{'code':'A1'}"));
    rc_assert_error(r, 400, "code", "validation_not_unique");
}

/* ---- relations on delete ---- */

static void test_delete_relations(void **state)
{
    (void)state;
    const char *p1 = rc_create(conn, "parents", "{'name':'one'}");
    const char *p2 = rc_create(conn, "parents", "{'name':'two'}");
    const char *k1 = rc_create(conn, "kids", it_sprintf("{'parent':'%s'}", p1));
    const char *k2 = rc_create(conn, "kids", it_sprintf("{'parent':'%s'}", p1));
    const char *l1 = rc_create(conn, "loose", it_sprintf("{'parents':['%s','%s']}", p1, p2));

    /* cascadeDelete removes the kids; the optional multi relation loses the id */
    struct rc_resp *r =
        rc_req(conn, "DELETE", it_sprintf("/api/collections/parents/records/%s", p1), NULL);
    assert_int_equal(r->status, 204);
    rc_assert_error(get("/api/collections/kids/records/%s", k1), 404, NULL, NULL);
    rc_assert_error(get("/api/collections/kids/records/%s", k2), 404, NULL, NULL);
    const cJSON *lr = rc_ok(get("/api/collections/loose/records/%s", l1), 200);
    const cJSON *ps = rc_get(lr, "parents");
    assert_int_equal(cJSON_GetArraySize(ps), 1);
    assert_string_equal(cJSON_GetArrayItem(ps, 0)->valuestring, p2);

    /* a required relation without cascade refuses the delete, which changes nothing */
    const char *pin = rc_create(conn, "pins", it_sprintf("{'parent':'%s'}", p2));
    r = rc_req(conn, "DELETE", it_sprintf("/api/collections/parents/records/%s", p2), NULL);
    rc_assert_error(r, 400, NULL, NULL);
    assert_non_null(strstr(rc_str(r->json, "message"), "Failed to delete record."));
    rc_ok(get("/api/collections/parents/records/%s", p2), 200);
    rc_ok(get("/api/collections/pins/records/%s", pin), 200);
    lr = rc_ok(get("/api/collections/loose/records/%s", l1), 200);
    assert_int_equal(cJSON_GetArraySize(rc_get(lr, "parents")), 1);

    /* once the pin is gone, the delete goes through */
    assert_int_equal(
        rc_req(conn, "DELETE", it_sprintf("/api/collections/pins/records/%s", pin), NULL)->status,
        204);
    assert_int_equal(
        rc_req(conn, "DELETE", it_sprintf("/api/collections/parents/records/%s", p2), NULL)->status,
        204);
    lr = rc_ok(get("/api/collections/loose/records/%s", l1), 200);
    assert_int_equal(cJSON_GetArraySize(rc_get(lr, "parents")), 0);
}

/* Sign-up in an auth collection: the password is hashed (never returned),
 * passwordConfirm must match, emails are unique, and a guest cannot make
 * itself verified. */
static void test_auth_signup(void **state)
{
    (void)state;
    const char *base = "/api/collections/members/records";
    rc_assert_error(rc_req(conn, "POST", base,
                           rc_q("{'email':'m1@x.io','password':'longenough1',"
                                "'passwordConfirm':'longenough1','verified':true,'nick':'m'}")),
                    400, "verified", "validation_values_mismatch");
    const cJSON *m =
        rc_ok(rc_req(conn, "POST", base,
                     rc_q("{'email':'m1@x.io','password':'longenough1',"
                          "'passwordConfirm':'longenough1','verified':false,"
                          "'tokenKey':'mine-mine-mine-mine-mine-mine-mine','nick':'m'}")),
              200);
    assert_null(cJSON_GetObjectItemCaseSensitive(m, "password"));
    assert_null(cJSON_GetObjectItemCaseSensitive(m, "tokenKey"));
    assert_null(cJSON_GetObjectItemCaseSensitive(m, "email")); /* emailVisibility false */
    assert_true(cJSON_IsFalse(rc_get(m, "verified")));
    assert_string_equal(rc_str(m, "nick"), "m");
    const cJSON *v = rc_ok(rc_req(conn, "POST", base,
                                  rc_q("{'email':'m2@x.io','password':'longenough1',"
                                       "'passwordConfirm':'longenough1','emailVisibility':true}")),
                           200);
    assert_string_equal(rc_str(v, "email"), "m2@x.io");
    rc_assert_error(rc_req(conn, "POST", base,
                           rc_q("{'email':'m1@x.io','password':'longenough1',"
                                "'passwordConfirm':'longenough1'}")),
                    400, "email", "validation_not_unique");
    rc_assert_error(rc_req(conn, "POST", base,
                           rc_q("{'email':'m3@x.io','password':'longenough1',"
                                "'passwordConfirm':'other'}")),
                    400, "passwordConfirm", "validation_values_mismatch");
    rc_assert_error(
        rc_req(conn, "POST", base,
               rc_q("{'email':'m3@x.io','password':'short','passwordConfirm':'short'}")),
        400, "password", "validation_min_text_constraint");
    rc_assert_error(rc_req(conn, "POST", base, rc_q("{'email':'m3@x.io'}")), 400, "password",
                    "validation_required");
    /* a guest can't filter by the password */
    rc_assert_error(get("/api/collections/members/records?filter=%s", rc_enc("password != ''")),
                    400, NULL, NULL);
}

/* ---- the writer's limits ---- */

static void test_writer_queue_full_503(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), "--writer-queue", "1", NULL);
    assert_non_null(s);
    enum { N = 24 };
    struct it_conn *c[N];
    const char body[] = "{\"name\":\"q\"}";
    for (int i = 0; i < N; i++) {
        c[i] = it_conn_open(s);
        assert_non_null(c[i]);
    }
    /* Everything but the last byte first, then the last bytes back to back,
     * so the requests complete together and meet a busy writer. */
    char *req = it_sprintf("POST /api/collections/parents/records HTTP/1.1\r\n"
                           "Host: t\r\nContent-Length: %zu\r\n\r\n%s",
                           sizeof(body) - 1, body);
    size_t len = strlen(req);
    for (int i = 0; i < N; i++)
        assert_int_equal(it_conn_send(c[i], req, len - 1, IT_MS_IO), IT_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(it_conn_send(c[i], req + len - 1, 1, IT_MS_IO), IT_OK);
    int ok200 = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        struct it_resp *r = it_conn_read(c[i], 0, 20000);
        assert_non_null(r);
        if (r->status == 200) {
            ok200++;
        } else {
            assert_int_equal(it_resp_check_error(r, 503), 0);
            assert_string_equal(it_resp_header(r, "Retry-After"), "1");
            busy++;
        }
    }
    it_note("writer queue of 1: %d created, %d refused with 503", ok200, busy);
    assert_true(ok200 >= 1);
    assert_true(busy >= 1);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

/* Clients that leave before their write commits: the writes happen, the
 * server carries on. */
static void test_writer_client_gone(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        struct it_conn *c = it_conn_open(srv);
        assert_non_null(c);
        assert_int_equal(it_conn_sends(c,
                                       "POST /api/collections/parents/records HTTP/1.1\r\n"
                                       "Host: t\r\nContent-Length: 15\r\n\r\n{\"name\":\"gone\"}"),
                         IT_OK);
        it_conn_abort(c);
    }
    const cJSON *l =
        rc_ok(get("/api/collections/parents/records?filter=%s", rc_enc("name = 'gone'")), 200);
    /* every write that reached the writer committed; the server still answers */
    assert_true(rc_num(l, "totalItems") <= 20);
    assert_true(it_server_alive(srv));
}

static char *parent_body(int i, void *ud)
{
    (void)ud;
    return it_sprintf("{\"name\":\"budget parent number %06d with some padding text\"}", i);
}

/* A query past --query-budget is stopped and answered 400; the next
 * queries are served as usual. */
static void test_query_budget(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), "--sync", "normal", "--query-budget", "1", NULL);
    assert_non_null(s);
    rc_bulk_create(s, "parents", 2000, parent_body, NULL);
    struct it_conn *c = it_conn_open(s);
    assert_non_null(c);
    /* 150 LIKEs per row over 2,000 rows: far more than a millisecond */
    char *f = it_strdup("name ~ 'zz0'");
    for (int i = 1; i < 150; i++)
        f = it_sprintf("%s || name ~ 'zz%d'", f, i);
    struct rc_resp *r =
        rc_req(c, "GET", it_sprintf("/api/collections/parents/records?filter=%s", rc_enc(f)), NULL);
    rc_assert_error(r, 400, NULL, NULL);
    assert_non_null(strstr(rc_str(r->json, "message"), "took too long"));
    assert_int_equal(it_server_wait_log(s, "time budget exceeded", 2000), 1);
    r = rc_req(c, "GET", "/api/collections/parents/records?perPage=5&skipTotal=1", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "items")), 5);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_rules_null_is_403, open_conn),
        it_test_each(test_rules_expressions, open_conn),
        it_test_each(test_rules_request_query, open_conn),
        it_test_each(test_validation_codes, open_conn),
        it_test_each(test_validation_unique, open_conn),
        it_test_each(test_delete_relations, open_conn),
        it_test_each(test_auth_signup, open_conn),
        it_test_each(test_writer_queue_full_503, open_conn),
        it_test_each(test_writer_client_gone, open_conn),
        it_test_each(test_query_budget, open_conn),
    };
    return cmocka_run_group_tests_name("records_rules", tests, group_setup, it_group_teardown);
}
