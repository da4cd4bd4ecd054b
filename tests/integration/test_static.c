/*
 * Static files (--public): content types, validators and 304s, HEAD,
 * index.html, a 1 MiB body byte for byte, and no way out of the folder (dot
 * segments raw or percent-encoded, symlinks pointing outside) nor into /api.
 * One server serves the group; its folder is made in the server's temporary
 * directory with a secret file next to (outside) the public folder.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define BIG_SIZE (1024 * 1024)

static const char hello[] = "hello, static world\n";
static const char index_html[] = "<!doctype html><title>home</title>\n";
static const char sub_index[] = "<!doctype html><title>sub</title>\n";
static const char secret[] = "TOP SECRET: outside the public folder\n";
static const time_t old_mtime = 1577880000; /* 2020-01-01 12:00:00 UTC */

static struct it_server *srv;
static unsigned char *big; /* the 1 MiB file's bytes */

static const char *pub(const char *rel)
{
    return it_sprintf("%s/public/%s", srv->dir, rel);
}

static int put(const char *rel, const void *data, size_t len)
{
    return it_write_file(pub(rel), data, len);
}

static int make_tree(void)
{
    int rc = 0;
    rc |= mkdir(it_sprintf("%s/public", srv->dir), 0755);
    rc |= mkdir(pub("sub"), 0755);
    rc |= mkdir(pub("api"), 0755);
    rc |= put("index.html", index_html, strlen(index_html));
    rc |= put("sub/index.html", sub_index, strlen(sub_index));
    rc |= put("hello.txt", hello, strlen(hello));
    rc |= put("style.css", "body{}\n", 7);
    rc |= put("app.js", "let a=1;\n", 9);
    rc |= put("data.json", "{\"a\":1}\n", 8);
    rc |= put("api/secret.txt", secret, strlen(secret));
    rc |= it_write_file(it_sprintf("%s/secret.txt", srv->dir), secret, strlen(secret));
    big = it_alloc(BIG_SIZE);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < BIG_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = (unsigned char)x;
    }
    rc |= put("big.bin", big, BIG_SIZE);
    /* symlinks: two out of the folder (relative, absolute), a folder out,
     * and one that stays inside */
    rc |= symlink("../secret.txt", pub("link.txt"));
    rc |= symlink(it_sprintf("%s/secret.txt", srv->dir), pub("abslink.txt"));
    rc |= symlink(srv->dir, pub("outdir"));
    rc |= symlink("hello.txt", pub("inlink.txt"));
    /* a known, old modification time for hello.txt */
    struct timespec ts[2] = {{old_mtime, 0}, {old_mtime, 0}};
    rc |= utimensat(AT_FDCWD, pub("hello.txt"), ts, 0);
    return rc ? -1 : 0;
}

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = it_server_new();
    if (!srv || make_tree() != 0)
        return -1;
    const char *args[] = {"--public", pub(""), NULL};
    return it_server_run(srv, args);
}

/* GET target on c with extra header lines (each ending in CRLF, may be ""). */
static struct it_resp *get(struct it_conn *c, const char *method, const char *target,
                           const char *extra)
{
    assert_int_equal(it_conn_sendf(c, "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n", method, target, extra),
                     IT_OK);
    struct it_resp *r = it_conn_read(c, strcmp(method, "HEAD") == 0 ? IT_NO_BODY : 0, IT_MS_IO);
    if (!r)
        fail_msg("%s %s: no response (error %d)", method, target, c->err);
    return r;
}

static void test_static_file(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    struct it_resp *r = get(c, "GET", "/hello.txt", "");
    assert_int_equal(r->status, 200);
    assert_string_equal(it_resp_header(r, "Content-Type"), "text/plain; charset=utf-8");
    assert_int_equal(r->body_len, strlen(hello));
    assert_memory_equal(r->body, hello, strlen(hello));

    static const struct {
        const char *path, *type;
    } types[] = {
        {"/style.css", "text/css; charset=utf-8"},
        {"/app.js", "text/javascript; charset=utf-8"},
        {"/data.json", "application/json"},
        {"/big.bin", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        r = get(c, "HEAD", types[i].path, "");
        assert_int_equal(r->status, 200);
        assert_string_equal(it_resp_header(r, "Content-Type"), types[i].type);
    }

    /* Pipelined file requests come back in order. */
    assert_int_equal(it_conn_sends(c, "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n"
                                      "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                                      "GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n"
                                      "GET /data.json HTTP/1.1\r\nHost: t\r\n\r\n"),
                     IT_OK);
    r = it_conn_read(c, 0, IT_MS_IO);
    assert_non_null(r);
    assert_string_equal(r->body, "body{}\n");
    r = it_conn_read(c, 0, IT_MS_IO);
    assert_non_null(r);
    assert_string_equal(r->body, hello);
    r = it_conn_read(c, 0, IT_MS_IO);
    assert_non_null(r);
    assert_non_null(strstr(r->body, "API is healthy."));
    r = it_conn_read(c, 0, IT_MS_IO);
    assert_non_null(r);
    assert_string_equal(r->body, "{\"a\":1}\n");
    assert_int_equal(it_conn_closed(c, 50), 0);
}

static void test_static_validators(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    struct it_resp *r = get(c, "GET", "/hello.txt", "");
    assert_int_equal(r->status, 200);
    const char *etag = it_resp_header(r, "ETag");
    const char *lm = it_resp_header(r, "Last-Modified");
    assert_non_null(etag);
    assert_non_null(lm);
    assert_true(strlen(etag) >= 3 && etag[0] == '"' && etag[strlen(etag) - 1] == '"');
    assert_string_equal(lm, "Wed, 01 Jan 2020 12:00:00 GMT");
    /* Stable across requests. */
    struct it_resp *r2 = get(c, "GET", "/hello.txt", "");
    assert_string_equal(it_resp_header(r2, "ETag"), etag);
    /* Different files, different tags. */
    struct it_resp *r3 = get(c, "GET", "/style.css", "");
    assert_string_not_equal(it_resp_header(r3, "ETag"), etag);
}

static void test_static_if_none_match_304(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    const char *etag = it_resp_header(get(c, "GET", "/hello.txt", ""), "ETag");
    assert_non_null(etag);
    struct it_resp *r = get(c, "GET", "/hello.txt", it_sprintf("If-None-Match: %s\r\n", etag));
    assert_int_equal(r->status, 304);
    assert_int_equal(r->body_len, 0);
    assert_string_equal(it_resp_header(r, "ETag"), etag);
    /* weak comparison and lists */
    r = get(c, "GET", "/hello.txt", it_sprintf("If-None-Match: \"nope\", W/%s\r\n", etag));
    assert_int_equal(r->status, 304);
    r = get(c, "GET", "/hello.txt", "If-None-Match: *\r\n");
    assert_int_equal(r->status, 304);
    /* another tag: the full file */
    r = get(c, "GET", "/hello.txt", "If-None-Match: \"something-else\"\r\n");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, hello);
    /* If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2) */
    r = get(c, "GET", "/hello.txt",
            "If-None-Match: \"something-else\"\r\n"
            "If-Modified-Since: Fri, 01 Jan 2038 00:00:00 GMT\r\n");
    assert_int_equal(r->status, 200);
    /* the connection is still in step after the 304s */
    r = get(c, "GET", "/api/health", "");
    assert_int_equal(r->status, 200);
}

static void test_static_if_modified_since_304(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    struct it_resp *r =
        get(c, "GET", "/hello.txt", "If-Modified-Since: Wed, 01 Jan 2020 12:00:00 GMT\r\n");
    assert_int_equal(r->status, 304);
    assert_int_equal(r->body_len, 0);
    r = get(c, "GET", "/hello.txt", "If-Modified-Since: Sat, 01 Jan 2022 00:00:00 GMT\r\n");
    assert_int_equal(r->status, 304);
    /* older than the file: the full file */
    r = get(c, "GET", "/hello.txt", "If-Modified-Since: Wed, 01 Jan 2020 11:59:59 GMT\r\n");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, hello);
    /* not a date: ignored */
    r = get(c, "GET", "/hello.txt", "If-Modified-Since: yesterday\r\n");
    assert_int_equal(r->status, 200);
}

static void test_static_head(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    /* HEAD then GET in one write: no body may follow the HEAD's head. */
    assert_int_equal(it_conn_sends(c, "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                                      "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
                     IT_OK);
    struct it_resp *r = it_conn_read(c, IT_NO_BODY, IT_MS_IO);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_true(r->has_length);
    assert_int_equal(r->content_length, BIG_SIZE);
    assert_non_null(it_resp_header(r, "ETag"));
    r = it_conn_read(c, 0, IT_MS_IO);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, hello);
    assert_int_equal(it_conn_pending(c), 0);
}

static void test_static_index(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    struct it_resp *r = get(c, "GET", "/", "");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, index_html);
    assert_string_equal(it_resp_header(r, "Content-Type"), "text/html; charset=utf-8");
    r = get(c, "GET", "/sub/", "");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, sub_index);
    r = get(c, "GET", "/index.html", "");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, index_html);
}

/* Nothing outside the folder, however the dot segments are spelled. */
static void test_static_traversal(void **state)
{
    (void)state;
    static const char *const targets[] = {
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/sub/../../secret.txt",
        "/sub/..%2F..%2Fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%5csecret.txt",
        "/sub/..%5c..%5csecret.txt",
        "http://t/../secret.txt",
    };
    struct it_conn *c = it_conn_open_or_fail(srv);
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        struct it_resp *r = get(c, "GET", targets[i], "");
        if (r->status != 404 || strstr(r->body, "TOP SECRET"))
            fail_msg("GET %s: %d %s", targets[i], r->status, r->body);
        assert_int_equal(it_resp_check_error(r, 404), 0);
    }
}

static void test_static_symlink_outside(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    static const char *const targets[] = {"/link.txt", "/abslink.txt", "/outdir/secret.txt",
                                          "/outdir/"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        struct it_resp *r = get(c, "GET", targets[i], "");
        if (r->status != 404 || strstr(r->body, "TOP SECRET"))
            fail_msg("GET %s: %d %s", targets[i], r->status, r->body);
    }
    /* A symlink that stays inside is followed. */
    struct it_resp *r = get(c, "GET", "/inlink.txt", "");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, hello);
}

static void test_static_large_file(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    assert_int_equal(it_conn_sends(c, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"), IT_OK);
    struct it_resp *r = it_conn_read(c, 0, 10000);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->content_length, BIG_SIZE);
    assert_int_equal(r->body_len, BIG_SIZE);
    assert_memory_equal(r->body, big, BIG_SIZE);
    /* Twice in one write, then a small one: all in order and intact. */
    assert_int_equal(it_conn_sends(c, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                                      "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                                      "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
                     IT_OK);
    for (int i = 0; i < 2; i++) {
        r = it_conn_read(c, 0, 10000);
        assert_non_null(r);
        assert_int_equal(r->body_len, BIG_SIZE);
        assert_memory_equal(r->body, big, BIG_SIZE);
    }
    r = it_conn_read(c, 0, IT_MS_IO);
    assert_non_null(r);
    assert_string_equal(r->body, hello);
}

/* /api/... is the API's: a file under public/api is never served. */
static void test_static_api_not_served(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    struct it_resp *r = get(c, "GET", "/api/secret.txt", "");
    assert_int_equal(it_resp_check_error(r, 404), 0);
    assert_null(strstr(r->body, "TOP SECRET"));
    r = get(c, "GET", "/api", "");
    assert_int_equal(r->status, 404);
    r = get(c, "GET", "/api/health", "");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "API is healthy."));
}

static void test_static_missing(void **state)
{
    (void)state;
    struct it_conn *c = it_conn_open_or_fail(srv);
    struct it_resp *r = get(c, "GET", "/missing.txt", "");
    assert_int_equal(it_resp_check_error(r, 404), 0);
    r = get(c, "GET", "/sub/missing/deeper.txt", "");
    assert_int_equal(it_resp_check_error(r, 404), 0);
    r = get(c, "HEAD", "/missing.txt", "");
    assert_int_equal(r->status, 404);
    r = get(c, "GET", "/hello.txt", "");
    assert_int_equal(r->status, 200);
}

/* Clients that go away mid-file (before the answer, after a few bytes, in
 * the middle) leave the server healthy: later requests are served and the
 * group's clean stop (ASan included) still passes. */
static void test_static_client_gone(void **state)
{
    (void)state;
    static const size_t cut[] = {0, 1, 300, 70000, 500000};
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        struct it_conn *c = it_conn_open_or_fail(srv);
        assert_int_equal(it_conn_sends(c, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                                          "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"),
                         IT_OK);
        while (it_conn_pending(c) < cut[i])
            if (it_conn_fill(c, IT_MS_IO) < 0)
                fail_msg("stream ended early at %zu bytes", it_conn_pending(c));
        it_conn_abort(c); /* unread data: the kernel sends a reset */
    }
    struct it_conn *c = it_conn_open_or_fail(srv);
    struct it_resp *r = get(c, "GET", "/big.bin", "");
    assert_int_equal(r->status, 200);
    assert_memory_equal(r->body, big, BIG_SIZE);
}

/* A client that stops reading in the middle of a streamed file is dropped at
 * --write-timeout: the stream's deadline holds while it waits for the queue
 * to drain, so a stalled reader cannot pin a connection and a file forever.
 * The file is larger than both sockets' buffers can hold. */
static void test_static_stalled_reader_dropped(void **state)
{
    (void)state;
    const size_t huge = 64u * 1024 * 1024;
    char *dir = it_sprintf("%s", pub(""));
    char *path = it_sprintf("%s/huge.bin", dir);
    char *data = calloc(1, huge);
    assert_non_null(data);
    assert_int_equal(it_write_file(path, data, huge), 0);
    free(data);
    struct it_server *s = it_server_new();
    assert_non_null(s);
    const char *args[] = {"--public", dir, "--write-timeout", "300ms", NULL};
    assert_int_equal(it_server_run(s, args), 0);

    struct it_conn *c = it_conn_open(s);
    assert_non_null(c);
    assert_int_equal(it_conn_sends(c, "GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n"), IT_OK);
    usleep(1500 * 1000); /* well past the write timeout, reading nothing */
    assert_int_equal(it_conn_read_to_eof(c, IT_MS_IO), IT_OK);
    assert_true(it_conn_pending(c) < huge); /* cut short: the server gave up */

    struct it_conn *c2 = it_conn_open(s);
    assert_non_null(c2);
    assert_int_equal(it_conn_sends(c2, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"), IT_OK);
    struct it_resp *r = it_conn_read(c2, 0, IT_MS_IO);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_static_file),
        it_test(test_static_validators),
        it_test(test_static_if_none_match_304),
        it_test(test_static_if_modified_since_304),
        it_test(test_static_head),
        it_test(test_static_index),
        it_test(test_static_traversal),
        it_test(test_static_symlink_outside),
        it_test(test_static_large_file),
        it_test(test_static_api_not_served),
        it_test(test_static_missing),
        it_test(test_static_client_gone),
        it_test(test_static_stalled_reader_dropped),
    };
    return cmocka_run_group_tests_name("integration/static", tests, group_setup, it_group_teardown);
}
