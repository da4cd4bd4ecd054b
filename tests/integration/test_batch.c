/*
 * POST /api/batch on the real binary: each action (create, update, delete,
 * upsert both ways) answered in request order; a batch whose later request
 * depends on an earlier one (an update of a record created in the batch, a
 * relation to it); rules checked per request for the batch's caller, with
 * a forbidden or refused request failing the whole batch and leaving
 * nothing; the failure naming the request and its error as PocketBase
 * does; auth from the batch's own Authorization (a request's own
 * Authorization header changes nothing but @request.headers); malformed
 * bodies and items; the PocketBase SDK's multipart form and a form with a
 * file; and the three limits (--batch-max-requests, --batch-max-body,
 * --batch-timeout), each in the error shape.
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

#define OPEN "'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''"

static const char schema[] =
    "["
    "{'name':'users','type':'auth','fields':[{'name':'name','type':'text'}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'id = @request.auth.id',"
    "  'deleteRule':null},"
    "{'name':'notes','type':'base','fields':[{'name':'title','type':'text','required':true},"
    "  {'name':'n','type':'number'},{'name':'tag','type':'text'}]," OPEN "},"
    "{'name':'posts','type':'base','fields':[{'name':'title','type':'text'},"
    "  {'name':'author','type':'relation','collectionId':'users','maxSelect':1}],"
    "  'listRule':'','viewRule':'',"
    "  'createRule':'@request.auth.id != \\\"\\\" && author = @request.auth.id',"
    "  'updateRule':'author = @request.auth.id','deleteRule':'author = @request.auth.id'},"
    "{'name':'secrets','type':'base','fields':[{'name':'x','type':'text'}],"
    "  'listRule':'','viewRule':'','createRule':null,'updateRule':null,'deleteRule':null},"
    "{'name':'gated','type':'base','fields':[{'name':'x','type':'text'}],'listRule':'',"
    "  'viewRule':'','createRule':'@request.headers.x_pass = \\\"yes\\\" && "
    "@request.context = \\\"batch\\\" && @request.method = \\\"POST\\\"',"
    "  'updateRule':'','deleteRule':''},"
    "{'name':'parents','type':'base','fields':[{'name':'name','type':'text'}]," OPEN "},"
    "{'name':'kids','type':'base','fields':[{'name':'parent','type':'relation',"
    "  'collectionId':'parents','maxSelect':1,'required':true,'cascadeDelete':true}]," OPEN "}"
    "]";

static struct it_server *srv;
static struct it_conn *conn;
static const char *ann, *bob, *ta, *tb, *tsu;

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    ac_superuser(srv, "root@example.com", "root password");
    struct it_conn *c = it_conn_open(srv);
    if (!c)
        return -1;
    ann = ac_signup(c, "users", "ann@example.com", "anns password", "\"name\":\"ann\"");
    bob = ac_signup(c, "users", "bob@example.com", "bobs password", "\"name\":\"bob\"");
    ta = ac_login(c, "users", "ann@example.com", "anns password", NULL);
    tb = ac_login(c, "users", "bob@example.com", "bobs password", NULL);
    tsu = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    return 0;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

/* POST /api/batch with body (single quotes for double), as token (NULL: a guest). */
static struct rc_resp *batch(const char *token, const char *body)
{
    return ac_req(conn, "POST", "/api/batch", token, rc_q(body));
}

/* The records of coll whose filter matches, counted. */
static int count(const char *coll, const char *filter)
{
    struct rc_resp *r =
        ac_req(conn, "GET",
               it_sprintf("/api/collections/%s/records?perPage=1&filter=%s", coll, rc_enc(filter)),
               tsu, NULL);
    return (int)rc_num(rc_ok(r, 200), "totalItems");
}

/* Item i of a 200 batch answer: asserts its status, returns its body. */
static const cJSON *item(const struct rc_resp *r, int i, int status)
{
    assert_int_equal(r->status, 200);
    assert_true(cJSON_IsArray(r->json));
    const cJSON *it = cJSON_GetArrayItem(r->json, i);
    assert_non_null(it);
    assert_int_equal((int)rc_num(it, "status"), status);
    return cJSON_GetObjectItemCaseSensitive(it, "body");
}

/* A failed batch: 400 "Batch transaction failed." naming request i, whose
 * own error had status; returns that error (the response object). */
static const cJSON *failed(const struct rc_resp *r, int i, int status)
{
    rc_assert_error(r, 400, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"), "Batch transaction failed.");
    const cJSON *reqs = rc_get(rc_get(r->json, "data"), "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), 1);
    const cJSON *e = rc_get(reqs, it_sprintf("%d", i));
    assert_string_equal(rc_str(e, "code"), "batch_request_failed");
    assert_string_equal(rc_str(e, "message"), "Batch request failed.");
    const cJSON *resp = rc_get(e, "response");
    assert_int_equal((int)rc_num(resp, "status"), status);
    assert_true(cJSON_IsObject(rc_get(resp, "data")));
    return resp;
}

/* Every action, answered in order, and what it left. */
static void test_each_action(void **state)
{
    (void)state;
    const char *a = rc_create(conn, "notes", "{'title':'a','tag':'each'}");
    const char *b = rc_create(conn, "notes", "{'title':'b','tag':'each'}");
    const char *up = rc_create(conn, "notes", "{'title':'u','tag':'each'}");
    struct rc_resp *r =
        batch(NULL, it_sprintf("{'requests':["
                               "{'method':'POST','url':'/api/collections/notes/records',"
                               " 'body':{'title':'new','tag':'each','n':1}},"
                               "{'method':'PATCH','url':'/api/collections/notes/records/%s',"
                               " 'body':{'n':7}},"
                               "{'method':'DELETE','url':'/api/collections/notes/records/%s'},"
                               "{'method':'PUT','url':'/api/collections/notes/records',"
                               " 'body':{'id':'%s','title':'upserted'}},"
                               "{'method':'PUT','url':'/api/collections/notes/records',"
                               " 'body':{'id':'upsertnew00001x','title':'fresh','tag':'each'}},"
                               "{'method':'PUT','url':'/api/collections/notes/records',"
                               " 'body':{'title':'noid','tag':'each'}}]}",
                               a, b, up));
    assert_int_equal(cJSON_GetArraySize(r->json), 6);
    const cJSON *created = item(r, 0, 200);
    assert_string_equal(rc_str(created, "title"), "new");
    assert_string_equal(rc_str(created, "collectionName"), "notes");
    assert_string_equal(rc_str(item(r, 1, 200), "id"), a);
    assert_int_equal((int)rc_num(item(r, 1, 200), "n"), 7);
    assert_true(cJSON_IsNull(item(r, 2, 204)));
    assert_string_equal(rc_str(item(r, 3, 200), "id"), up); /* upsert: an update */
    assert_string_equal(rc_str(item(r, 3, 200), "title"), "upserted");
    assert_string_equal(rc_str(item(r, 4, 200), "id"), "upsertnew00001x"); /* a create */
    assert_string_equal(rc_str(item(r, 5, 200), "title"), "noid");

    /* what a GET sees afterwards */
    rc_ok(rc_req(conn, "GET", it_sprintf("/api/collections/notes/records/%s", b), NULL), 404);
    const cJSON *u =
        rc_ok(rc_req(conn, "GET", it_sprintf("/api/collections/notes/records/%s", up), NULL), 200);
    assert_string_equal(rc_str(u, "title"), "upserted");
    assert_int_equal(count("notes", "tag = 'each'"), 5); /* a, up, new, fresh, noid */
    /* expand and fields of a request's url apply to its answer */
    r = batch(NULL,
              "{'requests':[{'method':'POST',"
              "'url':'/api/collections/notes/records?fields=title,n','body':{'title':'f'}}]}");
    const cJSON *f = item(r, 0, 200);
    assert_int_equal(cJSON_GetArraySize(f), 2);
    assert_string_equal(rc_str(f, "title"), "f");
}

/* A request sees what earlier ones of its batch wrote. */
static void test_depends_on_earlier(void **state)
{
    (void)state;
    struct rc_resp *r = batch(NULL, "{'requests':["
                                    "{'method':'POST','url':'/api/collections/notes/records',"
                                    " 'body':{'id':'chainrecord001x','title':'one','n':1}},"
                                    "{'method':'PATCH','url':'/api/collections/notes/records/"
                                    "chainrecord001x','body':{'n+':2}},"
                                    "{'method':'PUT','url':'/api/collections/notes/records',"
                                    " 'body':{'id':'chainrecord001x','title':'three'}},"
                                    "{'method':'POST','url':'/api/collections/parents/records',"
                                    " 'body':{'id':'chainparent001x','name':'p'}},"
                                    "{'method':'POST','url':'/api/collections/kids/records',"
                                    " 'body':{'parent':'chainparent001x'}}]}");
    assert_int_equal((int)rc_num(item(r, 1, 200), "n"), 3);
    assert_string_equal(rc_str(item(r, 2, 200), "title"), "three");
    assert_int_equal((int)rc_num(item(r, 2, 200), "n"), 3);
    assert_string_equal(rc_str(item(r, 4, 200), "parent"), "chainparent001x");
    /* the update rule of posts sees a record the same batch created */
    r = batch(ta, it_sprintf("{'requests':["
                             "{'method':'POST','url':'/api/collections/posts/records',"
                             " 'body':{'id':'chainpost0001xx','title':'p','author':'%s'}},"
                             "{'method':'PATCH','url':'/api/collections/posts/records/"
                             "chainpost0001xx','body':{'title':'edited'}}]}",
                             ann));
    assert_string_equal(rc_str(item(r, 1, 200), "title"), "edited");
    /* and a delete in the batch is seen by a later request: 404 there */
    r = batch(NULL, "{'requests':["
                    "{'method':'DELETE','url':'/api/collections/notes/records/chainrecord001x'},"
                    "{'method':'PATCH','url':'/api/collections/notes/records/chainrecord001x',"
                    " 'body':{'n':1}}]}");
    failed(r, 1, 404);
    assert_int_equal(count("notes", "id = 'chainrecord001x'"), 1); /* the delete rolled back */
}

/* A forbidden or refused request fails the batch; nothing of it stays. */
static void test_all_or_nothing(void **state)
{
    (void)state;
    /* a null rule: 403 in the failed request's response */
    struct rc_resp *r = batch(NULL, "{'requests':["
                                    "{'method':'POST','url':'/api/collections/notes/records',"
                                    " 'body':{'title':'x','tag':'aon1'}},"
                                    "{'method':'POST','url':'/api/collections/secrets/records',"
                                    " 'body':{'x':'1'}}]}");
    const cJSON *e = failed(r, 1, 403);
    assert_string_equal(rc_str(e, "message"), "Only superusers can perform this action.");
    assert_int_equal(count("notes", "tag = 'aon1'"), 0);
    /* the same batch as a superuser: rules do not apply */
    r = batch(tsu, "{'requests':["
                   "{'method':'POST','url':'/api/collections/notes/records',"
                   " 'body':{'title':'x','tag':'aon1'}},"
                   "{'method':'POST','url':'/api/collections/secrets/records','body':{'x':'1'}}]}");
    item(r, 1, 200);
    assert_int_equal(count("notes", "tag = 'aon1'"), 1);
    /* validation: the failed request is named, with its field errors */
    r = batch(NULL, "{'requests':["
                    "{'method':'POST','url':'/api/collections/notes/records',"
                    " 'body':{'title':'x','tag':'aon2'}},"
                    "{'method':'POST','url':'/api/collections/notes/records',"
                    " 'body':{'title':'y','tag':'aon2'}},"
                    "{'method':'POST','url':'/api/collections/notes/records',"
                    " 'body':{'tag':'aon2','n':'not a number'}}]}");
    e = failed(r, 2, 400);
    assert_string_equal(rc_str(e, "message"), "Failed to create record.");
    assert_string_equal(rc_str(rc_get(rc_get(e, "data"), "title"), "code"), "validation_required");
    assert_int_equal(count("notes", "tag = 'aon2'"), 0);
    /* an expression rule refusing the created record (posts: author must be
     * the caller): ann may create her own post, not one for bob */
    r = batch(ta, it_sprintf("{'requests':["
                             "{'method':'POST','url':'/api/collections/posts/records',"
                             " 'body':{'title':'aon3','author':'%s'}},"
                             "{'method':'POST','url':'/api/collections/posts/records',"
                             " 'body':{'title':'aon3','author':'%s'}}]}",
                             ann, bob));
    failed(r, 1, 400);
    assert_int_equal(count("posts", "title = 'aon3'"), 0);
    /* an update or delete rule hiding the record: 404, as alone */
    const char *mine =
        rc_str(rc_ok(ac_req(conn, "POST", "/api/collections/posts/records", ta,
                            it_sprintf("{\"title\":\"aon4\",\"author\":\"%s\"}", ann)),
                     200),
               "id");
    r = batch(tb, it_sprintf("{'requests':[{'method':'DELETE',"
                             "'url':'/api/collections/posts/records/%s'}]}",
                             mine));
    failed(r, 0, 404);
    assert_int_equal(count("posts", "title = 'aon4'"), 1);
    /* a request after the failing one is not run either; an unknown
     * collection fails where it stands, after the writes before it */
    r = batch(NULL, "{'requests':["
                    "{'method':'POST','url':'/api/collections/notes/records',"
                    " 'body':{'title':'x','tag':'aon5'}},"
                    "{'method':'POST','url':'/api/collections/nope/records','body':{}},"
                    "{'method':'POST','url':'/api/collections/notes/records',"
                    " 'body':{'title':'z','tag':'aon5'}}]}");
    assert_string_equal(rc_str(failed(r, 1, 404), "message"), "Missing collection context.");
    assert_int_equal(count("notes", "tag = 'aon5'"), 0);
    /* ... but a write that fails before it is the one named */
    r = batch(NULL, "{'requests':["
                    "{'method':'POST','url':'/api/collections/notes/records','body':{}},"
                    "{'method':'POST','url':'/api/collections/nope/records','body':{}}]}");
    failed(r, 0, 400);
}

/* Auth is the batch's own Authorization; a request's own header is only a
 * header. */
static void test_auth_per_batch(void **state)
{
    (void)state;
    /* a guest batch carrying ann's token in a request's headers stays a guest */
    struct rc_resp *r = batch(NULL, it_sprintf("{'requests':[{'method':'POST',"
                                               "'url':'/api/collections/posts/records',"
                                               "'headers':{'Authorization':'%s'},"
                                               "'body':{'title':'apb1','author':'%s'}}]}",
                                               ta, ann));
    failed(r, 0, 400);
    /* ann's batch with bob's token in a request's headers is still ann's */
    r = batch(ta, it_sprintf("{'requests':[{'method':'POST','url':'/api/collections/posts/records',"
                             "'headers':{'Authorization':'%s'},"
                             "'body':{'title':'apb1','author':'%s'}}]}",
                             tb, ann));
    item(r, 0, 200);
    r = batch(ta, it_sprintf("{'requests':[{'method':'POST','url':'/api/collections/posts/records',"
                             "'body':{'title':'apb1','author':'%s'}}]}",
                             bob));
    failed(r, 0, 400);
    assert_int_equal(count("posts", "title = 'apb1'"), 1);
    /* an own record's email is shown to its owner in a batch answer as alone */
    r = batch(ta, it_sprintf("{'requests':[{'method':'PATCH','url':'/api/collections/users/"
                             "records/%s','body':{'name':'ann2'}}]}",
                             ann));
    assert_string_equal(rc_str(item(r, 0, 200), "email"), "ann@example.com");
    /* a request's headers, @request.context and @request.method reach rules */
    r = batch(NULL, "{'requests':[{'method':'POST','url':'/api/collections/gated/records',"
                    "'headers':{'X-Pass':'yes'},'body':{'x':'in'}}]}");
    item(r, 0, 200);
    r = batch(NULL, "{'requests':[{'method':'POST','url':'/api/collections/gated/records',"
                    "'headers':{'X-Pass':'no'},'body':{'x':'out'}}]}");
    failed(r, 0, 400);
    r = ac_reqh(conn, "POST", "/api/collections/gated/records", "X-Pass: yes\r\n", "{\"x\":\"z\"}");
    assert_int_equal(r->status, 400); /* alone the context is "default" */
    assert_int_equal(count("gated", "x != ''"), 1);
}

/* Passwords: sign-ups in a batch are hashed and work; a password change
 * needs the old password checked, which a batch does not do: refused, but
 * for a superuser. */
static void test_passwords(void **state)
{
    (void)state;
    struct rc_resp *r = batch(
        NULL,
        "{'requests':["
        "{'method':'POST','url':'/api/collections/users/records','body':{"
        "'email':'cy@example.com','password':'cys password','passwordConfirm':'cys password'}},"
        "{'method':'POST','url':'/api/collections/users/records','body':{"
        "'email':'di@example.com','password':'dis password','passwordConfirm':'dis password'}}"
        "]}");
    const char *cy = it_strdup(rc_str(item(r, 0, 200), "id"));
    assert_null(cJSON_GetObjectItemCaseSensitive(item(r, 0, 200), "password"));
    ac_login(conn, "users", "cy@example.com", "cys password", NULL);
    ac_login(conn, "users", "di@example.com", "dis password", NULL);
    /* a failing batch signs nobody up */
    r = batch(NULL, "{'requests':["
                    "{'method':'POST','url':'/api/collections/users/records','body':{"
                    "'email':'ed@example.com','password':'eds password',"
                    "'passwordConfirm':'eds password'}},"
                    "{'method':'POST','url':'/api/collections/notes/records','body':{}}]}");
    failed(r, 1, 400);
    r = rc_req(conn, "POST", "/api/collections/users/auth-with-password",
               "{\"identity\":\"ed@example.com\",\"password\":\"eds password\"}");
    assert_int_equal(r->status, 400);
    /* the owner changing a password: refused in a batch */
    const char *tcy = ac_login(conn, "users", "cy@example.com", "cys password", NULL);
    r = batch(tcy, it_sprintf("{'requests':[{'method':'PATCH','url':'/api/collections/users/"
                              "records/%s','body':{'oldPassword':'cys password',"
                              "'password':'new password','passwordConfirm':'new password'}}]}",
                              cy));
    assert_non_null(strstr(rc_str(failed(r, 0, 400), "message"), "not supported"));
    ac_login(conn, "users", "cy@example.com", "cys password", NULL);
    /* a superuser may */
    r = batch(tsu, it_sprintf("{'requests':[{'method':'PATCH','url':'/api/collections/users/"
                              "records/%s','body':{'password':'new password',"
                              "'passwordConfirm':'new password'}}]}",
                              cy));
    item(r, 0, 200);
    ac_login(conn, "users", "cy@example.com", "new password", NULL);
    /* and, as alone, the new password ended the record's sessions */
    r = ac_req(conn, "POST", "/api/collections/users/auth-refresh", tcy, NULL);
    assert_int_equal(r->status, 401);
}

/* Answers come in request order, one per request. */
static void test_order(void **state)
{
    (void)state;
    char *body = it_strdup("{'requests':[");
    for (int i = 0; i < 50; i++)
        body = it_sprintf("%s%s{'method':'POST','url':'/api/collections/notes/records',"
                          "'body':{'title':'o','tag':'order','n':%d}}",
                          body, i ? "," : "", i);
    body = it_sprintf("%s]}", body);
    struct rc_resp *r = batch(NULL, body);
    assert_int_equal(cJSON_GetArraySize(r->json), 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal((int)rc_num(item(r, i, 200), "n"), i);
    assert_int_equal(count("notes", "tag = 'order'"), 50);
}

/* Bodies and items that are not a batch: 400 in the error shape. */
static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *body, *message;
    } cases[] = {
        {"{", "Failed to read the submitted batch data."},
        {"[]", "Failed to read the submitted batch data."},
        {"{'requests':{}}", "Failed to read the submitted batch data."},
        {"{'requests':[1]}", "Failed to read the submitted batch data."},
        {"{'requests':[{'method':1,'url':'/x'}]}", "Failed to read the submitted batch data."},
        {"{'requests':[{'method':'POST','url':'/x','body':[]}]}",
         "Failed to read the submitted batch data."},
        {"{'requests':[{'method':'POST','url':'/x','headers':{'a':1}}]}",
         "Failed to read the submitted batch data."},
        {"{}", "Invalid batch request data."},
        {"{'requests':[]}", "Invalid batch request data."},
        {"{'requests':[{'url':'/api/collections/notes/records'}]}", "Invalid batch request data."},
        {"{'requests':[{'method':'post','url':'/api/collections/notes/records'}]}",
         "Invalid batch request data."},
        {"{'requests':[{'method':'POST'}]}", "Invalid batch request data."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rc_resp *r = batch(NULL, cases[i].body);
        if (r->status != 400)
            fail_msg("%s: %d %s", cases[i].body, r->status, r->raw->body);
        rc_assert_error(r, 400, NULL, NULL);
        assert_string_equal(rc_str(r->json, "message"), cases[i].message);
    }
    struct rc_resp *r = batch(NULL, "{'requests':[{'method':'POST'}]}");
    const cJSON *e = rc_get(rc_get(rc_get(r->json, "data"), "requests"), "0");
    assert_string_equal(rc_str(rc_get(e, "url"), "code"), "validation_required");
    /* actions that are not records writes */
    static const char *const unknown[] = {
        "{'method':'GET','url':'/api/collections/notes/records'}",
        "{'method':'POST','url':'/api/collections/notes/records/abc'}",
        "{'method':'PATCH','url':'/api/collections/notes/records'}",
        "{'method':'DELETE','url':'/api/health'}",
        "{'method':'POST','url':'/api/collections//records'}",
        "{'method':'PATCH','url':'/api/collections/notes/records/a/b'}",
        "{'method':'POST','url':'/api/batch'}",
    };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        r = batch(NULL, it_sprintf("{'requests':[%s]}", unknown[i]));
        assert_string_equal(rc_str(failed(r, 0, 400), "message"), "Unknown batch request action.");
    }
}

/* POST /api/batch with Content-Type ctype (a form) as a guest. */
static struct rc_resp *form_req(const char *ctype, const char *body)
{
    size_t n = strlen(body);
    assert_int_equal(it_conn_sendf(conn,
                                   "POST /api/batch HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\n"
                                   "Content-Length: %zu\r\n\r\n",
                                   ctype, n),
                     IT_OK);
    assert_int_equal(it_conn_send(conn, body, n, IT_MS_IO), IT_OK);
    struct rc_resp *r = it_alloc(sizeof(*r));
    r->raw = it_conn_read_or_fail(conn, 0);
    r->status = r->raw->status;
    r->json = rc_track(cJSON_ParseWithLength(r->raw->body, r->raw->body_len));
    return r;
}

/* The SDK's form: one @jsonPayload field; a file part for a field that
 * takes no files fails its request (files_batch has the uploads). */
static void test_multipart(void **state)
{
    (void)state;
    const char *payload = rc_q("{'requests':[{'method':'POST','url':'/api/collections/notes/"
                               "records','body':{'title':'form','tag':'mp'}}]}");
    const char *bd = "----formdata-test-123";
    char *form = it_sprintf("--%s\r\nContent-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n"
                            "%s\r\n--%s--\r\n",
                            bd, payload, bd);
    char *hdr = it_sprintf("multipart/form-data; boundary=%s", bd);
    struct rc_resp *r = form_req(hdr, form);
    assert_string_equal(rc_str(item(r, 0, 200), "title"), "form");
    char *with_file =
        it_sprintf("--%s\r\nContent-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n%s\r\n"
                   "--%s\r\nContent-Disposition: form-data; name=\"requests.0.doc\"; "
                   "filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--%s--\r\n",
                   bd, payload, bd, bd);
    r = form_req(hdr, with_file);
    rc_assert_error(r, 400, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"), "Batch transaction failed.");
    const cJSON *resp =
        rc_get(rc_get(rc_get(rc_get(r->json, "data"), "requests"), "0"), "response");
    assert_string_equal(rc_str(rc_get(rc_get(resp, "data"), "doc"), "code"),
                        "validation_file_unsupported");
    char *other = it_sprintf("--%s\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--%s--"
                             "\r\n",
                             bd, bd);
    r = form_req(hdr, other);
    rc_assert_error(r, 400, NULL, NULL);
    r = form_req("multipart/form-data", form);
    rc_assert_error(r, 400, NULL, NULL);
    assert_int_equal(count("notes", "tag = 'mp'"), 1);
}

static char *kid_body(int i, void *ud)
{
    (void)i;
    return it_sprintf("{\"parent\":\"%s\"}", (const char *)ud);
}

/* The three limits, each in the error shape, and nothing written. */
static void test_limits(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), "--sync", "normal", "--batch-max-requests", "3",
                                    "--batch-max-body", "2k", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open_or_fail(s);
    const char *one = "{'method':'POST','url':'/api/collections/notes/records',"
                      "'body':{'title':'l','tag':'lim'}}";
    struct rc_resp *r = rc_req(c, "POST", "/api/batch",
                               rc_q(it_sprintf("{'requests':[%s,%s,%s,%s]}", one, one, one, one)));
    rc_assert_error(r, 400, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"), "Invalid batch request data.");
    const cJSON *e = rc_get(rc_get(r->json, "data"), "requests");
    assert_string_equal(rc_str(e, "code"), "validation_length_too_long");
    assert_string_equal(rc_str(e, "message"), "The length must be no more than 3.");
    /* three are fine */
    r = rc_req(c, "POST", "/api/batch", rc_q(it_sprintf("{'requests':[%s,%s,%s]}", one, one, one)));
    assert_int_equal(r->status, 200);
    /* the body cap, before any parse */
    char *big = it_alloc(3000);
    memset(big, 'x', 2999);
    r = rc_req(c, "POST", "/api/batch",
               rc_q(it_sprintf("{'requests':[{'method':'POST','url':'/api/collections/notes/"
                               "records','body':{'title':'%s'}}]}",
                               big)));
    rc_assert_error(r, 413, NULL, NULL);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    /* the timeout: a cascade over 3,000 records takes far more than 1 ms;
     * the batch is rolled back whole */
    s = rc_server(rc_q(schema), "--sync", "normal", "--batch-timeout", "1ms", NULL);
    assert_non_null(s);
    c = it_conn_open_or_fail(s);
    const char *p = rc_create(c, "parents", "{'name':'big'}");
    rc_bulk_create(s, "kids", 3000, kid_body, it_strdup(p));
    int64_t t0 = it_now_ms();
    r = rc_req(c, "POST", "/api/batch",
               rc_q(it_sprintf("{'requests':[{'method':'DELETE','url':'/api/collections/parents/"
                               "records/%s'},%s]}",
                               p, one)));
    rc_assert_error(r, 400, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"), "Batch transaction failed.");
    assert_string_equal(rc_str(rc_get(rc_get(r->json, "data"), "batch"), "code"), "batch_timeout");
    assert_true(it_now_ms() - t0 < IT_SLOW(10000));
    rc_ok(rc_req(c, "GET", it_sprintf("/api/collections/parents/records/%s", p), NULL), 200);
    r = rc_req(c, "GET", "/api/collections/kids/records?perPage=1", NULL);
    assert_int_equal((int)rc_num(rc_ok(r, 200), "totalItems"), 3000);
    r = rc_req(c, "GET", "/api/collections/notes/records?perPage=1", NULL);
    assert_int_equal((int)rc_num(rc_ok(r, 200), "totalItems"), 0);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    /* the limits are flags with variables, checked at start; 0 requests
     * turns batches off, as PocketBase's setting does */
    char *err = NULL;
    assert_int_equal(it_run(NULL, &err, "serve", "--batch-timeout", "0", NULL), 2);
    assert_non_null(strstr(err, "batch-timeout"));
    s = rc_server(rc_q(schema), "--sync", "normal", "--batch-max-requests", "0", NULL);
    assert_non_null(s);
    c = it_conn_open_or_fail(s);
    r = rc_req(c, "POST", "/api/batch", rc_q(it_sprintf("{'requests':[%s]}", one)));
    rc_assert_error(r, 403, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"), "Batch requests are not allowed.");
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_each_action, open_conn),
        it_test_each(test_depends_on_earlier, open_conn),
        it_test_each(test_all_or_nothing, open_conn),
        it_test_each(test_auth_per_batch, open_conn),
        it_test_each(test_passwords, open_conn),
        it_test_each(test_order, open_conn),
        it_test_each(test_malformed, open_conn),
        it_test_each(test_multipart, open_conn),
        it_test_each(test_limits, open_conn),
    };
    return cmocka_run_group_tests_name("batch", tests, group_setup, it_group_teardown);
}
