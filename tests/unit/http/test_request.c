/*
 * Unit tests for the request toolkit (src/http/request.c): the one
 * percent-decoder in both its modes, the query table decoded once per
 * request, and the lookups handlers use (sh_req_query, sh_req_query_int,
 * sh_req_query_bool), and the head read in one pass (sh__parser_feed_head:
 * fields cut from the validated head, llhttp fed only what frames the
 * message). The inputs are heap copies of exactly their bytes, so ASan
 * catches a read past the end.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn.h"

/* Decodes s with mode; returns the length, the result in out (room for 256). */
static long decode(const char *s, enum sh_pct_mode mode, char *out)
{
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    long len = sh_http_percent_decode(out, copy, n, mode);
    free(copy);
    return len;
}

static void test_pct_path_decodes_escapes(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(decode("/a%20b/%C3%a9", SH_PCT_PATH, out), 7);
    assert_memory_equal(out, "/a b/\xc3\xa9", 8);
    assert_int_equal(decode("/a+b", SH_PCT_PATH, out), 4); /* '+' is itself in a path */
    assert_string_equal(out, "/a+b");
    assert_int_equal(decode("/%2F%2e", SH_PCT_PATH, out), 3);
    assert_string_equal(out, "//.");
    assert_int_equal(decode("", SH_PCT_PATH, out), 0);
    assert_string_equal(out, "");
}

static void test_pct_path_rejects_malformed_and_nul(void **state)
{
    (void)state;
    char out[256];
    static const char *const bad[] = {"/%",   "/%4",  "/a%4", "/%zz",
                                      "/%4g", "/%g4", "/%00", "/a%00b"};
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++)
        assert_int_equal(decode(bad[i], SH_PCT_PATH, out), -1);
}

static void test_pct_form_plus_and_lenient_escapes(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(decode("a+b%2Bc", SH_PCT_FORM, out), 5);
    assert_string_equal(out, "a b+c");
    /* Malformed escapes are kept as they are, as browsers send them. */
    assert_int_equal(decode("100%", SH_PCT_FORM, out), 4);
    assert_string_equal(out, "100%");
    assert_int_equal(decode("%zz%4", SH_PCT_FORM, out), 5);
    assert_string_equal(out, "%zz%4");
    /* %00 is a byte like any other in a query value. */
    assert_int_equal(decode("a%00b", SH_PCT_FORM, out), 3);
    assert_memory_equal(out, "a\0b", 4);
}

static void test_pct_decodes_in_place(void **state)
{
    (void)state;
    char buf[] = "x%41+%42y";
    assert_int_equal(sh_http_percent_decode(buf, buf, strlen(buf), SH_PCT_FORM), 5);
    assert_string_equal(buf, "xA By");
}

/* A request whose query table was built from q (the arena outlives it). */
struct fixture {
    struct sh_arena arena;
    struct sh_req r;
    char *raw;
};

static void req_with_query(struct fixture *f, const char *q)
{
    memset(f, 0, sizeof(*f));
    sh_arena_init(&f->arena, 256, 64 * 1024);
    size_t n = strlen(q);
    f->raw = malloc(n ? n : 1);
    assert_non_null(f->raw);
    memcpy(f->raw, q, n);
    f->r.arena = &f->arena;
    f->r.query = (struct sh_str){f->raw, n};
    assert_int_equal(sh__query_parse(&f->arena, f->r.query, &f->r.qparams, &f->r.nqparams), 0);
}

static void fixture_done(struct fixture *f)
{
    sh_arena_deinit(&f->arena);
    free(f->raw);
}

static void test_query_table_in_order_with_repeats(void **state)
{
    (void)state;
    struct fixture f;
    req_with_query(&f, "a=1&b=x+y&a=3&&flag&=v&k=");
    assert_int_equal(f.r.nqparams, 6); /* the empty piece between && is skipped */
    static const char *const names[] = {"a", "b", "a", "flag", "", "k"};
    static const char *const values[] = {"1", "x y", "3", "", "v", ""};
    for (unsigned i = 0; i < f.r.nqparams; i++) {
        assert_string_equal(f.r.qparams[i].name.ptr, names[i]);
        assert_int_equal(f.r.qparams[i].name.len, strlen(names[i]));
        assert_string_equal(f.r.qparams[i].value.ptr, values[i]);
        assert_int_equal(f.r.qparams[i].value.len, strlen(values[i]));
    }
    assert_string_equal(sh_req_query(&f.r, "a"), "1"); /* the first wins */
    assert_string_equal(sh_req_query(&f.r, "b"), "x y");
    assert_string_equal(sh_req_query(&f.r, "flag"), ""); /* present without '=' */
    assert_string_equal(sh_req_query(&f.r, "k"), "");
    assert_null(sh_req_query(&f.r, "c"));
    assert_null(sh_req_query(&f.r, "fla")); /* whole names only */
    fixture_done(&f);
}

static void test_query_names_compare_decoded(void **state)
{
    (void)state;
    struct fixture f;
    req_with_query(&f, "per%50age=7&sort+by=-n&f%69lter=a%3D%27b%27");
    assert_string_equal(sh_req_query(&f.r, "perPage"), "7");
    assert_string_equal(sh_req_query(&f.r, "sort by"), "-n");
    assert_string_equal(sh_req_query(&f.r, "filter"), "a='b'");
    assert_null(sh_req_query(&f.r, "per%50age"));
    fixture_done(&f);
}

static void test_query_empty_and_absent(void **state)
{
    (void)state;
    struct fixture f;
    req_with_query(&f, "");
    assert_int_equal(f.r.nqparams, 0);
    assert_null(sh_req_query(&f.r, "a"));
    assert_null(sh_req_query(&f.r, ""));
    fixture_done(&f);
    req_with_query(&f, "&&&");
    assert_int_equal(f.r.nqparams, 0);
    fixture_done(&f);
}

static void test_query_arena_limit_is_an_error(void **state)
{
    (void)state;
    struct sh_arena a;
    sh_arena_init(&a, 64, 128);
    char q[512];
    memset(q, 'x', sizeof(q));
    const struct sh_query_param *t = NULL;
    unsigned n = 99;
    assert_int_equal(sh__query_parse(&a, (struct sh_str){q, sizeof(q)}, &t, &n), -ENOMEM);
    assert_int_equal(n, 0);
    sh_arena_deinit(&a);
}

static void test_query_int(void **state)
{
    (void)state;
    struct fixture f;
    req_with_query(&f, "page=12&neg=-3&empty=&bad=12x&huge=99999999999999999999&sp=+5");
    int64_t v;
    assert_int_equal(sh_req_query_int(&f.r, "page", 1, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(sh_req_query_int(&f.r, "neg", 1, &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(sh_req_query_int(&f.r, "absent", 30, &v), 0);
    assert_int_equal(v, 30);
    assert_int_equal(sh_req_query_int(&f.r, "empty", 30, &v), 0);
    assert_int_equal(v, 30);
    assert_int_equal(sh_req_query_int(&f.r, "bad", 30, &v), -EINVAL);
    assert_int_equal(v, 30);
    assert_int_equal(sh_req_query_int(&f.r, "huge", 30, &v), -EINVAL);
    assert_int_equal(v, 30);
    assert_int_equal(sh_req_query_int(&f.r, "sp", 30, &v), 0); /* '+' is a space: strtoll */
    assert_int_equal(v, 5);
    fixture_done(&f);
}

static void test_query_bool_reads_like_go(void **state)
{
    (void)state;
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False", ""};
    static const char *const bad[] = {"yes", "tRUE", "2", "on", "truee", "%20true"};
    char q[64];
    struct fixture f;
    bool v;
    for (size_t i = 0; i < SH_ARRAY_LEN(yes); i++) {
        snprintf(q, sizeof(q), "skipTotal=%s", yes[i]);
        req_with_query(&f, q);
        assert_int_equal(sh_req_query_bool(&f.r, "skipTotal", false, &v), 0);
        assert_true(v);
        fixture_done(&f);
    }
    for (size_t i = 0; i < SH_ARRAY_LEN(no); i++) {
        snprintf(q, sizeof(q), "skipTotal=%s", no[i]);
        req_with_query(&f, q);
        assert_int_equal(sh_req_query_bool(&f.r, "skipTotal", true, &v), 0);
        assert_false(v);
        fixture_done(&f);
    }
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        snprintf(q, sizeof(q), "skipTotal=%s", bad[i]);
        req_with_query(&f, q);
        assert_int_equal(sh_req_query_bool(&f.r, "skipTotal", true, &v), -EINVAL);
        assert_true(v); /* the default */
        fixture_done(&f);
    }
    req_with_query(&f, "other=1");
    assert_int_equal(sh_req_query_bool(&f.r, "skipTotal", true, &v), 0);
    assert_true(v);
    assert_int_equal(sh_req_query_bool(&f.r, "skipTotal", false, &v), 0);
    assert_false(v);
    fixture_done(&f);
}

/* A connection that reads one head: validator, then sh__parser_feed_head. */
struct head_rig {
    struct sh_config cfg;
    struct sh_http_server srv;
    struct sh_http_conn hc;
    char *buf;
};

static llhttp_errno_t feed_head(struct head_rig *t, const char *s)
{
    memset(t, 0, sizeof(*t));
    sh_config_init(&t->cfg);
    t->srv.cfg = &t->cfg;
    t->hc.srv = &t->srv;
    sh_arena_init(&t->hc.arena, 4096, 0);
    sh__parser_init(&t->hc);
    sh__req_begin(&t->hc);
    size_t n = strlen(s);
    t->buf = malloc(n);
    assert_non_null(t->buf);
    memcpy(t->buf, s, n);
    sh_head_init(&t->hc.head);
    struct sh_head_limits lim = {1024, 8192, 32};
    assert_int_equal(sh_head_feed(&t->hc.head, t->buf, n, &lim), SH_HEAD_DONE);
    llhttp_errno_t err = sh__parser_feed_head(&t->hc, t->buf);
    memset(t->buf, '#', n); /* the read buffer is reused: nothing may point into it */
    return err;
}

static void rig_free(struct head_rig *t)
{
    sh_arena_deinit(&t->hc.arena);
    sh_buf_deinit(&t->hc.body);
    sh_config_deinit(&t->cfg);
    free(t->buf);
}

static void test_head_fields_in_one_pass(void **state)
{
    (void)state;
    struct head_rig t;
    /* two empty lines first, OWS around values, an empty value, a long one */
    assert_int_equal(feed_head(&t,
                               "\r\n\r\nGET /a?x=1 HTTP/1.1\r\nHost:  bench \r\n"
                               "Authorization: Bearer abc.def.ghi\t\r\nX-Empty:\r\n"
                               "X-Spaces:   \r\nx-lower: v\r\n"
                               "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit\r\n\r\n"),
                     HPE_PAUSED); /* no body: the message is complete */
    struct sh_req *r = &t.hc.req;
    assert_int_equal(r->nheaders, 6);
    assert_true(sh_str_eq(r->headers[0].name, "Host"));
    assert_string_equal(r->headers[0].value.ptr, "bench"); /* trimmed, NUL-terminated */
    assert_int_equal(r->headers[0].value.len, 5);
    assert_string_equal(sh_req_header(r, "authorization")->ptr, "Bearer abc.def.ghi");
    assert_int_equal(sh_req_header(r, "X-EMPTY")->len, 0);
    assert_string_equal(sh_req_header(r, "X-Empty")->ptr, "");
    assert_int_equal(sh_req_header(r, "x-spaces")->len, 0);
    assert_string_equal(sh_req_header(r, "X-Lower")->ptr, "v");
    assert_string_equal(sh_req_header(r, "user-agent")->ptr,
                        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit");
    assert_null(sh_req_header(r, "X-Absent"));
    assert_null(sh_req_header(r, "Hos"));
    assert_string_equal(r->headers[0].name.ptr, "Host");
    assert_true(sh_str_eq(r->path, "/a"));
    assert_string_equal(r->method_name.ptr, "GET");
    assert_string_equal(r->target.ptr, "/a?x=1");
    assert_int_equal(r->method, SH_METHOD_GET);
    assert_int_equal(r->http_minor, 1);
    assert_false(t.hc.close_after);
    rig_free(&t);
    /* a method llhttp does not know is still refused by it */
    llhttp_errno_t err = feed_head(&t, "ANNOUNCE / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(err != HPE_OK && err != HPE_PAUSED);
    rig_free(&t);
    /* an Upgrade goes through llhttp, and closes the connection after it */
    assert_int_equal(feed_head(&t, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                                   "Upgrade: h2c\r\n\r\n"),
                     HPE_PAUSED);
    assert_true(t.hc.close_after);
    assert_int_equal(t.hc.req.nheaders, 3);
    rig_free(&t);
}

/* The framing fields still reach llhttp: a body follows Content-Length or
 * chunked, whatever the fields around them. */
static void test_head_framing_reaches_llhttp(void **state)
{
    (void)state;
    struct head_rig t;
    assert_int_equal(feed_head(&t, "POST /x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
                                   "content-LENGTH: 5\r\nX-B: 2\r\n\r\n"),
                     HPE_OK); /* waiting for the body */
    assert_int_equal(t.hc.req.nheaders, 4);
    assert_string_equal(sh_req_header(&t.hc.req, "Content-Length")->ptr, "5");
    assert_int_equal(llhttp_execute(&t.hc.parser, "hello", 5), HPE_PAUSED);
    assert_int_equal(t.hc.body.len, 5);
    assert_memory_equal(t.hc.body.data, "hello", 5);
    rig_free(&t);
    assert_int_equal(feed_head(&t, "POST /x HTTP/1.1\r\nHost: h\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n"),
                     HPE_OK);
    assert_int_equal(llhttp_execute(&t.hc.parser, "3\r\nabc\r\n0\r\n\r\n", 15), HPE_PAUSED);
    assert_int_equal(t.hc.body.len, 3);
    assert_memory_equal(t.hc.body.data, "abc", 3);
    rig_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_fields_in_one_pass),
        cmocka_unit_test(test_head_framing_reaches_llhttp),
        cmocka_unit_test(test_pct_path_decodes_escapes),
        cmocka_unit_test(test_pct_path_rejects_malformed_and_nul),
        cmocka_unit_test(test_pct_form_plus_and_lenient_escapes),
        cmocka_unit_test(test_pct_decodes_in_place),
        cmocka_unit_test(test_query_table_in_order_with_repeats),
        cmocka_unit_test(test_query_names_compare_decoded),
        cmocka_unit_test(test_query_empty_and_absent),
        cmocka_unit_test(test_query_arena_limit_is_an_error),
        cmocka_unit_test(test_query_int),
        cmocka_unit_test(test_query_bool_reads_like_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
