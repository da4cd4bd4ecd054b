/*
 * Uploads inside POST /api/batch, as the PocketBase SDK sends them: a
 * multipart body with the file parts named requests.<index>.<field> (and
 * `field+`) before the `@jsonPayload` field. The files of every request
 * are stored with their records and served; a batch that fails (a later
 * request's validation, a refused content type, a size over maxSize)
 * leaves no file of any of its requests in storage nor in storage/.tmp;
 * a file part that names no request, or a field that takes no files, is
 * a 400; a delete inside a batch removes the record's folder after the
 * commit, but never a file a later request put there (the same id
 * created again in the same batch).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_files_client.h"

#define OPEN "'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''"

static const char schema[] =
    "[{'name':'docs','type':'base','fields':[{'name':'title','type':'text','required':true},"
    "  {'name':'one','type':'file','maxSelect':1,'maxSize':1000},"
    "  {'name':'many','type':'file','maxSelect':4},"
    "  {'name':'pic','type':'file','maxSelect':1,'mimeTypes':['image/png']}]," OPEN "}]";

static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

static struct it_server *srv;
static struct it_conn *conn;
static const char *cid;

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    struct it_conn *c = it_conn_open(srv);
    if (!c)
        return -1;
    ac_superuser(srv, "root@example.com", "root password");
    const char *tsu = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    struct rc_resp *r = ac_req(c, "GET", "/api/collections/docs", tsu, NULL);
    if (r->status != 200)
        return -1;
    cid = it_sprintf("%s", rc_str(r->json, "id"));
    it_conn_close(c);
    return 0;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

/* Sends b with the @jsonPayload (single quotes allowed) last, as the SDK. */
static struct rc_resp *batch(struct fc_body *b, const char *payload)
{
    fc_text(b, "@jsonPayload", rc_q(payload));
    return fc_send(conn, "POST", "/api/batch", NULL, b);
}

/* The body of item i of a 200 batch answer, checked to be status. */
static const cJSON *item(const struct rc_resp *r, int i, int status)
{
    assert_int_equal(r->status, 200);
    const cJSON *it = cJSON_GetArrayItem(r->json, i);
    assert_non_null(it);
    assert_int_equal((int)rc_num(it, "status"), status);
    return rc_get(it, "body");
}

static void assert_served(const char *id, const char *name, const void *data, size_t n)
{
    struct rc_resp *r = rc_req(conn, "GET", it_sprintf("/api/files/docs/%s/%s", id, name), NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->raw->body_len, n);
    assert_memory_equal(r->raw->body, data, n);
}

/* Records whose title is t. */
static int count_title(const char *t)
{
    struct rc_resp *r = rc_req(
        conn, "GET",
        it_sprintf("/api/collections/docs/records?filter=%s", rc_enc(it_sprintf("title='%s'", t))),
        NULL);
    assert_int_equal(r->status, 200);
    return (int)rc_num(r->json, "totalItems");
}

/* Folders under storage/<cid> and files under storage/.tmp. */
static int folders(void)
{
    int n = fc_count(srv, cid);
    return n < 0 ? 0 : n;
}

static void settle(void)
{
    struct timespec ts = {0, 300 * 1000 * 1000}; /* removals queued after the answer */
    nanosleep(&ts, NULL);
}

/* Two creates and an update with files in one batch: every file stored
 * under its record and served; `many+` appends to a stored record. */
static void test_batch_uploads_are_stored(void **state)
{
    (void)state;
    const char *target = rc_create(conn, "docs", "{'title':'target'}");
    struct fc_body b = {0};
    fc_file(&b, "requests.0.one", "first.txt", "one-0", 5);
    fc_file(&b, "requests.0.many", "m1.txt", "many-1", 6);
    fc_file(&b, "requests.0.many", "m2.txt", "many-2", 6);
    fc_file(&b, "requests.1.pic", "p.png", png, sizeof(png) - 1);
    fc_file(&b, "requests.2.many+", "add.txt", "added", 5);
    struct rc_resp *r = batch(
        &b,
        it_sprintf("{'requests':["
                   "{'method':'POST','url':'/api/collections/docs/records','body':{'title':'b0'}},"
                   "{'method':'POST','url':'/api/collections/docs/records','body':{'title':'b1'}},"
                   "{'method':'PATCH','url':'/api/collections/docs/records/%s','body':{}}]}",
                   target));
    const cJSON *r0 = item(r, 0, 200), *r1 = item(r, 1, 200), *r2 = item(r, 2, 200);
    const char *id0 = rc_str(r0, "id"), *id1 = rc_str(r1, "id");
    assert_string_equal(rc_str(r0, "title"), "b0");
    assert_int_equal(strncmp(rc_str(r0, "one"), "first_", 6), 0);
    assert_int_equal(cJSON_GetArraySize(rc_get(r0, "many")), 2);
    assert_served(id0, rc_str(r0, "one"), "one-0", 5);
    assert_served(id0, cJSON_GetArrayItem(rc_get(r0, "many"), 1)->valuestring, "many-2", 6);
    assert_served(id1, rc_str(r1, "pic"), png, sizeof(png) - 1);
    assert_int_equal(cJSON_GetArraySize(rc_get(r2, "many")), 1);
    assert_served(target, cJSON_GetArrayItem(rc_get(r2, "many"), 0)->valuestring, "added", 5);
    assert_int_equal(fc_count(srv, it_sprintf("%s/%s", cid, id0)), 3);
    assert_int_equal(fc_count(srv, ".tmp"), 0);
    /* the records as stored name the same files */
    r = rc_req(conn, "GET", it_sprintf("/api/collections/docs/records/%s", id0), NULL);
    assert_string_equal(rc_str(r->json, "one"), rc_str(r0, "one"));
}

/* Each way a batch with files can fail leaves no file of it anywhere. */
static void test_failed_batch_leaves_no_file(void **state)
{
    (void)state;
    int before = folders();
    /* a later request fails validation (title is required) */
    struct fc_body b = {0};
    fc_file(&b, "requests.0.many", "a.txt", "aaa", 3);
    fc_file(&b, "requests.1.many", "b.txt", "bbb", 3);
    struct rc_resp *r = batch(
        &b, "{'requests':["
            "{'method':'POST','url':'/api/collections/docs/records','body':{'title':'gone1'}},"
            "{'method':'POST','url':'/api/collections/docs/records','body':{}}]}");
    rc_assert_error(r, 400, NULL, NULL);
    const cJSON *resp =
        rc_get(rc_get(rc_get(rc_get(r->json, "data"), "requests"), "1"), "response");
    assert_string_equal(rc_str(rc_get(rc_get(resp, "data"), "title"), "code"),
                        "validation_required");
    /* a content type the field refuses, in the second request */
    b = (struct fc_body){0};
    fc_file(&b, "requests.0.many", "a.txt", "aaa", 3);
    fc_file(&b, "requests.1.pic", "fake.png", "not a png at all", 16);
    r = batch(&b,
              "{'requests':["
              "{'method':'POST','url':'/api/collections/docs/records','body':{'title':'gone2'}},"
              "{'method':'POST','url':'/api/collections/docs/records','body':{'title':'gone2'}}"
              "]}");
    rc_assert_error(r, 400, NULL, NULL);
    resp = rc_get(rc_get(rc_get(rc_get(r->json, "data"), "requests"), "1"), "response");
    assert_string_equal(rc_str(rc_get(rc_get(resp, "data"), "pic"), "code"),
                        "validation_invalid_mime_type");
    /* a file over maxSize */
    b = (struct fc_body){0};
    char big[1001];
    memset(big, 'x', sizeof(big));
    fc_file(&b, "requests.0.many", "a.txt", "aaa", 3);
    fc_file(&b, "requests.1.one", "big.txt", big, sizeof(big));
    r = batch(&b,
              "{'requests':["
              "{'method':'POST','url':'/api/collections/docs/records','body':{'title':'gone3'}},"
              "{'method':'POST','url':'/api/collections/docs/records','body':{'title':'gone3'}}"
              "]}");
    rc_assert_error(r, 400, NULL, NULL);
    resp = rc_get(rc_get(rc_get(rc_get(r->json, "data"), "requests"), "1"), "response");
    assert_string_equal(rc_str(rc_get(rc_get(resp, "data"), "one"), "code"),
                        "validation_file_size_limit");
    settle();
    assert_int_equal(count_title("gone1") + count_title("gone2") + count_title("gone3"), 0);
    assert_int_equal(folders(), before);
    assert_int_equal(fc_count(srv, ".tmp"), 0);
}

/* File parts that name no request, a field that takes no files, or a
 * delete: 400, nothing stored. */
static void test_misnamed_file_parts(void **state)
{
    (void)state;
    int before = folders();
    static const char *const names[] = {"requests.1.many", "many", "requests.x.many", "requests.0",
                                        "requests.00.many"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct fc_body b = {0};
        fc_file(&b, names[i], "a.txt", "aaa", 3);
        struct rc_resp *r = batch(&b, "{'requests':[{'method':'POST','url':"
                                      "'/api/collections/docs/records','body':{'title':'mis'}}]}");
        rc_assert_error(r, 400, NULL, NULL);
        assert_string_equal(rc_str(r->json, "message"), "Failed to read the submitted batch data.");
    }
    struct fc_body b = {0};
    fc_file(&b, "requests.0.title", "a.txt", "aaa", 3);
    struct rc_resp *r = batch(&b, "{'requests':[{'method':'POST','url':"
                                  "'/api/collections/docs/records','body':{'title':'mis'}}]}");
    rc_assert_error(r, 400, NULL, NULL);
    const cJSON *resp =
        rc_get(rc_get(rc_get(rc_get(r->json, "data"), "requests"), "0"), "response");
    assert_string_equal(rc_str(rc_get(rc_get(resp, "data"), "title"), "code"),
                        "validation_file_unsupported");
    settle();
    assert_int_equal(count_title("mis"), 0);
    assert_int_equal(folders(), before);
    assert_int_equal(fc_count(srv, ".tmp"), 0);
}

/* An upsert with a file creates its record under body.id; a delete in a
 * batch removes the deleted record's folder after the commit. */
static void test_upsert_and_delete(void **state)
{
    (void)state;
    struct fc_body b = {0};
    fc_file(&b, "requests.0.one", "u.txt", "upserted", 8);
    struct rc_resp *r = batch(&b, "{'requests':[{'method':'PUT','url':'/api/collections/docs/"
                                  "records','body':{'id':'upsertwithfile1','title':'ups'}}]}");
    const cJSON *u = item(r, 0, 200);
    assert_string_equal(rc_str(u, "id"), "upsertwithfile1");
    assert_served("upsertwithfile1", rc_str(u, "one"), "upserted", 8);
    b = (struct fc_body){0};
    r = batch(&b, "{'requests':[{'method':'DELETE','url':'/api/collections/docs/records/"
                  "upsertwithfile1'}]}");
    item(r, 0, 204);
    assert_int_equal(fc_wait_exists(srv, it_sprintf("%s/upsertwithfile1", cid), 0, 5000), 0);
}

/* A batch that deletes a record and creates one with the same id and a
 * new file: after the commit only the deleted record's files go; the new
 * record's file (same folder) stays and is served. */
static void test_delete_then_create_same_id(void **state)
{
    (void)state;
    struct fc_body b = {0};
    fc_file(&b, "one", "old.txt", "old bytes", 9);
    fc_text(&b, "id", "sameidrecreate1");
    fc_text(&b, "title", "old");
    const cJSON *old = rc_ok(fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b), 200);
    const char *old_name = it_strdup(rc_str(old, "one"));
    b = (struct fc_body){0};
    fc_file(&b, "requests.1.one", "new.txt", "new bytes", 9);
    struct rc_resp *r =
        batch(&b, "{'requests':["
                  "{'method':'DELETE','url':'/api/collections/docs/records/sameidrecreate1'},"
                  "{'method':'POST','url':'/api/collections/docs/records',"
                  " 'body':{'id':'sameidrecreate1','title':'new'}}]}");
    item(r, 0, 204);
    const cJSON *made = item(r, 1, 200);
    const char *new_name = it_strdup(rc_str(made, "one"));
    assert_int_equal(
        fc_wait_exists(srv, it_sprintf("%s/sameidrecreate1/%s", cid, old_name), 0, 5000), 0);
    settle();
    assert_served("sameidrecreate1", new_name, "new bytes", 9);
    assert_int_equal(fc_count(srv, it_sprintf("%s/sameidrecreate1", cid)), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_batch_uploads_are_stored, open_conn),
        it_test_each(test_failed_batch_leaves_no_file, open_conn),
        it_test_each(test_misnamed_file_parts, open_conn),
        it_test_each(test_upsert_and_delete, open_conn),
        it_test_each(test_delete_then_create_same_id, open_conn),
    };
    return cmocka_run_group_tests(tests, group_setup, it_group_teardown);
}
