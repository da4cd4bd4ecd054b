/*
 * Form bodies against the real server: sign-in and record writes with
 * multipart/form-data (as pocketbase-typegen and the JS SDK send them) and
 * application/x-www-form-urlencoded; repeated keys as arrays, scalars
 * converted by the field's type, the SDK's @jsonPayload merged; malformed
 * bodies and every part limit answered 400 in the error shape with the
 * connection still usable; --max-upload (413 before the body) and values
 * past --max-json-body (413 after reading); a large multipart body read with
 * the server's memory bounded (VmHWM from /proc), in one stream and in tiny
 * chunked pieces, its file part streamed to a temporary file that is gone
 * after the request; an aborted upload leaves no temporary file; kill -9
 * during uploads, then a restart removes what they left; a chunked body
 * past --max-upload cut with 413 and its file removed; a stalled
 * upload is cut at --body-timeout.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "test_auth_client.h"

static const char schema[] =
    "["
    "{'name':'users','type':'auth','fields':[],"
    "  'listRule':'id = @request.auth.id','viewRule':'id = @request.auth.id',"
    "  'createRule':'','updateRule':null,'deleteRule':null},"
    "{'name':'things','type':'base','fields':[{'name':'title','type':'text'},"
    "  {'name':'n','type':'number'},{'name':'ok','type':'bool'},"
    "  {'name':'tags','type':'select','maxSelect':3,'values':['a','b','c']},"
    "  {'name':'meta','type':'json'}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''}"
    "]";

static struct it_server *srv;
static struct it_conn *conn;

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off",
                    "--max-form-parts", "20", "--max-part-header", "512", "--max-filename", "64",
                    "--max-json-body", "64k", "--max-upload", "200M", NULL);
    return srv ? 0 : -1;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

#define B "----formboundary7MA4YWxk"

/* Sends body with Content-Type ctype and reads the answer as JSON. */
static struct rc_resp *send_typed(const char *method, const char *path, const char *ctype,
                                  const char *body, size_t blen)
{
    char *head = it_sprintf("%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            method, path, ctype, blen);
    assert_int_equal(it_conn_sends(conn, head), IT_OK);
    if (blen)
        assert_int_equal(it_conn_send(conn, body, blen, IT_MS_IO), IT_OK);
    struct rc_resp *r = it_alloc(sizeof(*r));
    r->raw = it_conn_read(conn, 0, 20000);
    if (!r->raw)
        fail_msg("%s %s: no response (error %d)", method, path, conn->err);
    r->status = r->raw->status;
    r->json =
        r->raw->body_len ? rc_track(cJSON_ParseWithLength(r->raw->body, r->raw->body_len)) : NULL;
    return r;
}

static struct rc_resp *send_multipart(const char *path, const char *body)
{
    return send_typed("POST", path, "multipart/form-data; boundary=" B, body, strlen(body));
}

/* One text part of a body with boundary B. */
static char *field(const char *name, const char *value)
{
    return it_sprintf("--" B "\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", name,
                      value);
}

static void test_sign_in_with_multipart_and_urlencoded(void **state)
{
    (void)state;
    const char *id = ac_signup(conn, "users", "ann@example.com", "correct horse", NULL);
    /* pocketbase-typegen's body: FormData with identity and password */
    char *body = it_sprintf("%s%s--" B "--\r\n", field("identity", "ann@example.com"),
                            field("password", "correct horse"));
    struct rc_resp *r = send_multipart("/api/collections/users/auth-with-password", body);
    const cJSON *j = rc_ok(r, 200);
    assert_true(strlen(rc_str(j, "token")) > 20);
    assert_string_equal(rc_str(rc_get(j, "record"), "id"), id);
    /* the same as a urlencoded form, escapes and '+' decoded */
    const char *form = "identity=ann%40example.com&password=correct+horse";
    r = send_typed("POST", "/api/collections/users/auth-with-password",
                   "application/x-www-form-urlencoded", form, strlen(form));
    assert_string_equal(rc_str(rc_get(rc_ok(r, 200), "record"), "id"), id);
    /* a wrong password is the usual answer, not a format error */
    form = "identity=ann%40example.com&password=wrong";
    r = send_typed("POST", "/api/collections/users/auth-with-password",
                   "application/x-www-form-urlencoded; charset=utf-8", form, strlen(form));
    rc_assert_error(r, 400, NULL, NULL);
    assert_string_equal(rc_str(r->json, "message"), "Failed to authenticate.");
}

static void test_record_fields_converted_and_repeated(void **state)
{
    (void)state;
    char *body = it_sprintf("%s%s%s%s%s%s%s--" B "--\r\n", field("title", "hello\r\nworld"),
                            field("n", "12.5"), field("ok", "true"), field("tags", "a"),
                            field("tags", "c"), field("meta", "{\"k\":[1,2]}"),
                            field("@jsonPayload", "{\"title\":\"payload\",\"n\":3}"));
    struct rc_resp *r = send_multipart("/api/collections/things/records", body);
    const cJSON *rec = rc_ok(r, 200);
    assert_string_equal(rc_str(rec, "title"), "hello\r\nworld"); /* the plain field wins */
    assert_true(rc_num(rec, "n") == 12.5);
    assert_true(cJSON_IsTrue(rc_get(rec, "ok")));
    const cJSON *tags = rc_get(rec, "tags");
    assert_int_equal(cJSON_GetArraySize(tags), 2);
    assert_string_equal(cJSON_GetArrayItem(tags, 0)->valuestring, "a");
    assert_string_equal(cJSON_GetArrayItem(tags, 1)->valuestring, "c");
    assert_int_equal(cJSON_GetArrayItem(rc_get(rc_get(rec, "meta"), "k"), 1)->valueint, 2);

    /* the SDK's shape: everything but files in @jsonPayload */
    body = it_sprintf("%s--" B "--\r\n",
                      field("@jsonPayload", "{\"title\":\"sdk\",\"n\":7,\"tags\":[\"b\"]}"));
    rec = rc_ok(send_multipart("/api/collections/things/records", body), 200);
    assert_string_equal(rc_str(rec, "title"), "sdk");
    assert_true(rc_num(rec, "n") == 7);
    assert_string_equal(cJSON_GetArrayItem(rc_get(rec, "tags"), 0)->valuestring, "b");

    /* urlencoded: repeats too, and a bad number is the field's own error */
    const char *form = "title=x&tags=a&tags=b&n=nope";
    r = send_typed("POST", "/api/collections/things/records", "application/x-www-form-urlencoded",
                   form, strlen(form));
    rc_assert_error(r, 400, "n", NULL);
    form = "title=caf%C3%A9&tags=a&tags=b&n=-4";
    rec = rc_ok(send_typed("POST", "/api/collections/things/records",
                           "application/x-www-form-urlencoded", form, strlen(form)),
                200);
    assert_string_equal(rc_str(rec, "title"), "caf\xc3\xa9");
    assert_int_equal(cJSON_GetArraySize(rc_get(rec, "tags")), 2);
    assert_true(rc_num(rec, "n") == -4);
    /* an update with a form */
    const char *id = rc_str(rec, "id");
    body = it_sprintf("%s--" B "--\r\n", field("title", "changed"));
    r = send_typed("PATCH", it_sprintf("/api/collections/things/records/%s", id),
                   "multipart/form-data; boundary=" B, body, strlen(body));
    assert_string_equal(rc_str(rc_ok(r, 200), "title"), "changed");
}

/* A refused body: 400 in the error shape with data.body.code, and the
 * connection answers the next request. */
static void expect_bad(const char *ctype, const char *body, const char *code)
{
    struct rc_resp *r =
        send_typed("POST", "/api/collections/things/records", ctype, body, strlen(body));
    assert_int_equal(it_resp_check_error(r->raw, 400), 0);
    assert_string_equal(rc_str(r->json, "message"),
                        "Failed to load the submitted data due to invalid formatting.");
    assert_string_equal(rc_str(rc_get(rc_get(r->json, "data"), "body"), "code"), code);
    rc_ok(rc_req(conn, "GET", "/api/collections/things/records?perPage=1", NULL), 200);
}

static void test_malformed_and_limits_are_400(void **state)
{
    (void)state;
    const char *mp = "multipart/form-data; boundary=" B;
    /* no closing delimiter; garbage after a delimiter; bad part headers */
    expect_bad(mp, field("title", "x"), "validation_invalid_multipart");
    expect_bad(mp, "--" B "zz\r\n", "validation_invalid_multipart");
    expect_bad(mp, "--" B "\r\nno colon\r\n\r\nx\r\n--" B "--", "validation_invalid_multipart");
    /* no boundary, or a bad one */
    expect_bad("multipart/form-data", "x", "validation_invalid_multipart");
    expect_bad("multipart/form-data; boundary=\"\"", "x", "validation_invalid_multipart");
    expect_bad("multipart/mixed; boundary=" B, "x", "validation_invalid_multipart");
    /* --max-form-parts 20 */
    char *many = it_strdup("");
    for (int i = 0; i < 21; i++)
        many = it_sprintf("%s%s", many, field("title", "x"));
    expect_bad(mp, it_sprintf("%s--" B "--", many), "validation_invalid_multipart");
    /* --max-part-header 512 */
    char pad[600];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = 0;
    expect_bad(mp,
               it_sprintf("--" B "\r\nContent-Disposition: form-data; name=t\r\nX-Pad: %s\r\n\r\n"
                          "x\r\n--" B "--",
                          pad),
               "validation_invalid_multipart");
    /* --max-filename 64, a file name that is not UTF-8 */
    char *body = it_sprintf("--" B "\r\nContent-Disposition: form-data; name=f; filename=\"%.*s\""
                            "\r\n\r\nx\r\n--" B "--",
                            100, pad);
    expect_bad(mp, body, "validation_invalid_multipart");
    expect_bad(mp,
               "--" B "\r\nContent-Disposition: form-data; name=f; filename=\"\xff.png\"\r\n\r\n"
               "x\r\n--" B "--",
               "validation_invalid_multipart");
    /* values: not UTF-8, NUL; @jsonPayload not an object */
    expect_bad(mp, it_sprintf("%s--" B "--", field("title", "\xc3(")), "validation_invalid_form");
    expect_bad("application/x-www-form-urlencoded", "title=a%00b", "validation_invalid_form");
    expect_bad(mp, it_sprintf("%s--" B "--", field("@jsonPayload", "[1]")),
               "validation_invalid_json");
    expect_bad(mp, it_sprintf("%s--" B "--", field("@jsonPayload", "{\"a\":1,\"a\":2}")),
               "validation_invalid_json");
    /* a file part under a key that is no file field: refused by name */
    struct rc_resp *r =
        send_multipart("/api/collections/things/records",
                       "--" B "\r\nContent-Disposition: form-data; name=doc; filename=\"a.txt\"\r\n"
                       "Content-Type: text/plain\r\n\r\nhello\r\n--" B "--\r\n");
    rc_assert_error(r, 400, "doc", "validation_file_unsupported");
}

static void test_size_limits_are_413(void **state)
{
    (void)state;
    /* --max-upload: refused from Content-Length before the body */
    const char *head = "POST /api/collections/things/records HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: multipart/form-data; boundary=" B "\r\n"
                       "Content-Length: 300000000\r\n\r\n";
    assert_int_equal(it_conn_sends(conn, head), IT_OK);
    struct it_resp *raw = it_conn_read_or_fail(conn, 0);
    assert_int_equal(it_resp_check_error(raw, 413), 0);
    it_conn_close(conn);
    conn = it_conn_open_or_fail(srv);
    /* field values past --max-json-body (64k): read on and answered 413 */
    char *big = it_alloc(100001);
    memset(big, 'v', 100000);
    struct rc_resp *r = send_multipart("/api/collections/things/records",
                                       it_sprintf("%s--" B "--\r\n", field("title", big)));
    assert_int_equal(it_resp_check_error(r->raw, 413), 0);
    rc_ok(rc_req(conn, "GET", "/api/collections/things/records?perPage=1", NULL), 200);
    /* a urlencoded body past --max-json-body */
    char *form = it_sprintf("title=%s", big);
    r = send_typed("POST", "/api/collections/things/records", "application/x-www-form-urlencoded",
                   form, strlen(form));
    assert_int_equal(it_resp_check_error(r->raw, 413), 0);
}

/* Files in <data>/storage/.tmp/ (0 when the folder is missing); *bytes
 * (may be NULL) gets their total size. */
static int tmp_files(uint64_t *bytes)
{
    char *dir = it_sprintf("%s/storage/.tmp", srv->data_dir);
    DIR *d = opendir(dir);
    int n = 0;
    if (bytes)
        *bytes = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        struct stat st;
        if (stat(it_sprintf("%s/%s", dir, e->d_name), &st) == 0 && bytes)
            *bytes += (uint64_t)st.st_size;
        n++;
    }
    closedir(d);
    return n;
}

/* Waits up to ms for tmp_files to reach n files (and at least bytes). */
static int wait_tmp(int n, uint64_t bytes, int ms)
{
    int64_t end = it_now_ms() + ms;
    for (;;) {
        uint64_t b;
        int got = tmp_files(&b);
        if (got == n && b >= bytes)
            return 1;
        if (it_now_ms() > end) {
            it_note("%d temporary files of %llu bytes, waited for %d of %llu", got,
                    (unsigned long long)b, n, (unsigned long long)bytes);
            return 0;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* 160 MiB of file part is read as it comes: the peak RSS moves by less
 * than a few MiB (a buffered body would add 160). Then the same in chunked
 * pieces of 1..4093 bytes. */
static void test_large_body_memory_bounded(void **state)
{
    (void)state;
    const char *pre = "--" B "\r\nContent-Disposition: form-data; name=title\r\n\r\nbig\r\n"
                      "--" B "\r\nContent-Disposition: form-data; name=doc; filename=\"x.bin\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n";
    const char *post = "\r\n--" B "--\r\n";
    size_t data = (size_t)160 << 20, chunk = 1 << 20;
    char *buf = it_alloc(chunk);
    for (size_t i = 0; i < chunk; i++)
        buf[i] = (char)("\r\n-x" B)[i % 7];
    long before = it_server_mem_kib(srv, 1);
    char *head = it_sprintf("POST /api/collections/things/records HTTP/1.1\r\nHost: t\r\n"
                            "Content-Type: multipart/form-data; boundary=" B "\r\n"
                            "Content-Length: %zu\r\n\r\n%s",
                            strlen(pre) + data + strlen(post), pre);
    assert_int_equal(it_conn_sends(conn, head), IT_OK);
    for (size_t sent = 0; sent < data; sent += chunk)
        assert_int_equal(it_conn_send(conn, buf, chunk, 20000), IT_OK);
    /* before the close delimiter: the part is on disk, whole, in one file */
    assert_true(wait_tmp(1, data, 20000));
    assert_int_equal(it_conn_sends(conn, post), IT_OK);
    struct it_resp *raw = it_conn_read(conn, 0, 30000);
    assert_non_null(raw);
    assert_int_equal(raw->status, 400); /* the file part: `doc` is no file field */
    assert_non_null(strstr(raw->body, "validation_file_unsupported"));
    long after = it_server_mem_kib(srv, 1);
    assert_true(wait_tmp(0, 0, 5000)); /* removed once the request ended */
    it_note("server VmHWM %ld KiB before, %ld KiB after a 160 MiB multipart body", before, after);
    if (getenv("SH_SANITIZE") && strstr(getenv("SH_SANITIZE"), "thread"))
        return;
    assert_true(after - before < 16 * 1024);

    /* chunked, in odd pieces */
    assert_int_equal(it_conn_sends(conn,
                                   "POST /api/collections/things/records HTTP/1.1\r\nHost: t\r\n"
                                   "Content-Type: multipart/form-data; boundary=" B "\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n"),
                     IT_OK);
    char *all = it_sprintf("%s%s%s--" B "--\r\n", field("title", "pieces"), field("tags", "a"),
                           field("tags", "b"));
    size_t n = strlen(all);
    for (size_t off = 0, k = 1; off < n; off += k, k = k * 7 % 13 + 1) {
        size_t len = off + k > n ? n - off : k;
        assert_int_equal(
            it_conn_sends(conn, it_sprintf("%zx\r\n%.*s\r\n", len, (int)len, all + off)), IT_OK);
    }
    assert_int_equal(it_conn_sends(conn, "0\r\n\r\n"), IT_OK);
    raw = it_conn_read_or_fail(conn, 0);
    assert_int_equal(raw->status, 200);
    cJSON *rec = rc_track(cJSON_Parse(raw->body));
    assert_string_equal(rc_str(rec, "title"), "pieces");
    assert_int_equal(cJSON_GetArraySize(rc_get(rec, "tags")), 2);
}

/* A client that goes away in the middle of a file part, or whose body is
 * malformed after one: no temporary file is left. */
static void test_aborted_upload_leaves_no_temp_file(void **state)
{
    (void)state;
    const char *head = "POST /api/collections/things/records HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: multipart/form-data; boundary=" B "\r\n"
                       "Content-Length: 100000000\r\n\r\n"
                       "--" B "\r\nContent-Disposition: form-data; name=doc; filename=a\r\n\r\n";
    size_t n = 2 << 20;
    char *data = it_alloc(n);
    memset(data, 'd', n);
    assert_int_equal(it_conn_sends(conn, head), IT_OK);
    assert_int_equal(it_conn_send(conn, data, n, 20000), IT_OK);
    assert_true(wait_tmp(1, n, 20000));
    it_conn_abort(conn);
    assert_true(wait_tmp(0, 0, 5000));

    /* malformed after a file's bytes: 400, and the file goes with the request */
    conn = it_conn_open_or_fail(srv);
    char *body = it_sprintf("--" B "\r\nContent-Disposition: form-data; name=doc; filename=a\r\n"
                            "\r\n%.*s\r\n--" B "garbage",
                            1000, data);
    struct rc_resp *r = send_multipart("/api/collections/things/records", body);
    assert_int_equal(it_resp_check_error(r->raw, 400), 0);
    assert_true(wait_tmp(0, 0, 5000));
}

/* kill -9 while uploads are on their way: the restarted server removes the
 * temporary files the dead one left (nothing refers to them). */
static void test_kill_during_uploads_then_restart(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), "--sync", "normal", NULL);
    assert_non_null(s);
    const char *head = "POST /api/collections/things/records HTTP/1.1\r\nHost: t\r\n"
                       "Content-Type: multipart/form-data; boundary=" B "\r\n"
                       "Content-Length: 100000000\r\n\r\n"
                       "--" B "\r\nContent-Disposition: form-data; name=doc; filename=a\r\n\r\n";
    size_t n = 1 << 20;
    char *data = it_alloc(n);
    memset(data, 'k', n);
    for (int i = 0; i < 4; i++) {
        struct it_conn *c = it_conn_open_or_fail(s);
        assert_int_equal(it_conn_sends(c, head), IT_OK);
        assert_int_equal(it_conn_send(c, data, n, 20000), IT_OK);
    }
    struct it_server *keep = srv;
    srv = s; /* tmp_files looks in srv's folder */
    int ok = wait_tmp(4, 4 * (uint64_t)n, 20000);
    it_server_kill(s);
    int left = tmp_files(NULL);
    assert_int_equal(it_server_run(s, (const char *const[]){"--sync", "normal", NULL}), 0);
    int after = tmp_files(NULL);
    srv = keep;
    assert_true(ok);
    assert_int_equal(left, 4); /* the crash left them */
    assert_int_equal(after, 0);
    assert_true(it_server_wait_log(s, "removed 4 unfinished uploads", 5000));
}

/* A chunked body (no Content-Length to refuse up front) past --max-upload
 * is cut as it passes the limit: 413, closed, and its temporary file gone. */
static void test_chunked_over_max_upload_is_cut(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(schema), "--max-upload", "1M", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open_or_fail(s);
    assert_int_equal(it_conn_sends(c, "POST /api/collections/things/records HTTP/1.1\r\n"
                                      "Host: t\r\nContent-Type: multipart/form-data; boundary=" B
                                      "\r\nTransfer-Encoding: chunked\r\n\r\n"),
                     IT_OK);
    const char *pre = "--" B "\r\nContent-Disposition: form-data; name=doc; filename=a\r\n\r\n";
    assert_int_equal(it_conn_sends(c, it_sprintf("%zx\r\n%s\r\n", strlen(pre), pre)), IT_OK);
    size_t n = 64 << 10;
    char *piece = it_alloc(n);
    memset(piece, 'c', n);
    int rc = IT_OK;
    struct it_server *keep = srv;
    srv = s;                                      /* tmp_files looks in srv's folder */
    for (int i = 0; i < 24 && rc == IT_OK; i++) { /* 1.5 MiB */
        rc = it_conn_sends(c, it_sprintf("%zx\r\n", n));
        if (rc == IT_OK)
            rc = it_conn_send(c, piece, n, 5000);
        if (rc == IT_OK)
            rc = it_conn_sends(c, "\r\n");
        if (i == 7 && !wait_tmp(1, 8 * n, 10000)) { /* the first 512 KiB are on disk */
            srv = keep;
            fail_msg("no temporary file of 512 KiB");
        }
    }
    struct it_resp *raw = it_conn_read(c, 0, 10000);
    int gone = wait_tmp(0, 0, 5000);
    srv = keep;
    assert_non_null(raw);
    assert_int_equal(it_resp_check_error(raw, 413), 0);
    assert_true(gone);
    assert_int_equal(it_conn_closed(c, 5000), 1);
}

/* A client that stops sending in the middle of a file part is cut at
 * --body-timeout (408, closed), measured from before the body started. */
static void test_stalled_upload_is_cut(void **state)
{
    (void)state;
    struct it_server *s = it_server_start("--body-timeout", "1s", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open_or_fail(s);
    int64_t t0 = it_now_ms();
    assert_int_equal(it_conn_sends(c, "POST /api/collections/things/records HTTP/1.1\r\nHost: t\r\n"
                                      "Content-Type: multipart/form-data; boundary=" B "\r\n"
                                      "Content-Length: 100000\r\n\r\n"
                                      "--" B
                                      "\r\nContent-Disposition: form-data; name=doc; filename=a\r\n"
                                      "\r\npartial data"),
                     IT_OK);
    struct it_resp *raw = it_conn_read(c, 0, 10000);
    assert_non_null(raw);
    assert_int_equal(it_resp_check_error(raw, 408), 0);
    int64_t took = it_now_ms() - t0;
    assert_true(took >= 900 && took < IT_SLOW(8000));
    assert_int_equal(it_conn_closed(c, 5000), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_sign_in_with_multipart_and_urlencoded, open_conn),
        it_test_each(test_record_fields_converted_and_repeated, open_conn),
        it_test_each(test_malformed_and_limits_are_400, open_conn),
        it_test_each(test_size_limits_are_413, open_conn),
        it_test_each(test_large_body_memory_bounded, open_conn),
        it_test_each(test_aborted_upload_leaves_no_temp_file, open_conn),
        it_test(test_kill_during_uploads_then_restart),
        it_test(test_chunked_over_max_upload_is_cut),
        it_test(test_stalled_upload_is_cut),
    };
    return cmocka_run_group_tests(tests, group_setup, it_group_teardown);
}
