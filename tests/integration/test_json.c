/*
 * Strict JSON on the real server, written as an attacker would send it
 * (issue 7, findings 5, 8, 13, 18): duplicate keys that would smuggle
 * `verified` or `tokenKey` past the strip of protected fields, data after
 * the body, numbers outside the grammar or a double's range, raw control
 * characters, bad escapes, invalid UTF-8 and \u0000 in text, nesting, the
 * empty body as PocketBase treats it, json-field values given as strings,
 * and the JSON body limit with the loop's stall and the server's memory
 * measured for a body at the limit and one far past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/core.h"
#include "stagehand/json.h"
#include "test_json_client.h"

static struct it_server *srv;
static struct it_conn *conn;
static const char *su; /* a superuser's token */

#define DOCS "/api/collections/docs/records"

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(jc_schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    struct it_conn *c = it_conn_open(srv);
    ac_superuser(srv, "root@example.com", "root password");
    su = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    return 0;
}

/* Each test's connection to the group's server (in the test's scope). */
static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

static struct rc_resp *post(const char *path, const char *token, const char *body, size_t len)
{
    return jc_req(conn, "POST", path, token, body, len);
}

static struct rc_resp *post_s(const char *path, const char *body)
{
    return post(path, NULL, body, strlen(body));
}

/* Asserts body (its own length) is refused with PocketBase's message and
 * data.body.message starting with why (NULL: any). */
static void assert_refused(const char *method, const char *path, const char *token,
                           const char *body, size_t len, const char *why)
{
    struct rc_resp *r = jc_req(conn, method, path, token, body, len);
    if (!jc_is_bad_json(r))
        fail_msg("%s %s %.*s: %d %s", method, path, (int)len, body, r->status, r->raw->body);
    if (why) {
        const cJSON *b = rc_get(rc_get(r->json, "data"), "body");
        if (strncmp(rc_str(b, "message"), why, strlen(why)) != 0)
            fail_msg("%.*s: message %s, expected %s...", (int)len, body, rc_str(b, "message"), why);
    }
}

#define REFUSED(path, token, lit, why)                                                             \
    assert_refused("POST", path, token, lit, sizeof(lit) - 1, why)

/* Number of records of users whose email is email (as a superuser). */
static int users_with(const char *email)
{
    struct rc_resp *r = ac_req(conn, "GET",
                               it_sprintf("/api/collections/users/records?filter=%s",
                                          rc_enc(it_sprintf("email = '%s'", email))),
                               su, NULL);
    assert_int_equal(r->status, 200);
    return cJSON_GetArraySize(rc_get(r->json, "items"));
}

static void test_json_duplicate_keys_cannot_set_protected_fields(void **state)
{
    (void)state;
    /* guest sign-ups that would come out verified or with a chosen tokenKey */
    static const char *const signups[] = {
        "{\"email\":\"m1@example.com\",\"password\":\"12345678\",\"passwordConfirm\":\"12345678\","
        "\"verified\":false,\"verified\":true}",
        "{\"email\":\"m1@example.com\",\"password\":\"12345678\",\"passwordConfirm\":\"12345678\","
        "\"verified\":true,\"verified\":true}",
        "{\"email\":\"m1@example.com\",\"password\":\"12345678\",\"passwordConfirm\":\"12345678\","
        "\"verified\":false,\"\\u0076erified\":true}", /* the same key, escaped */
        "{\"email\":\"m1@example.com\",\"password\":\"12345678\",\"passwordConfirm\":\"12345678\","
        "\"tokenKey\":\"x\",\"tokenKey\":\"01234567890123456789012345678901234567890123456789\"}",
        "{\"email\":\"m1@example.com\",\"email\":\"m2@example.com\",\"password\":\"12345678\","
        "\"passwordConfirm\":\"12345678\"}",
        "{\"email\":\"m1@example.com\",\"password\":\"12345678\",\"password\":\"other pass\","
        "\"passwordConfirm\":\"12345678\"}",
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(signups); i++)
        assert_refused("POST", "/api/collections/users/records", NULL, signups[i],
                       strlen(signups[i]), "An object has the same key twice.");
    assert_int_equal(users_with("m1@example.com"), 0);
    assert_int_equal(users_with("m2@example.com"), 0);

    /* the owner's own PATCH cannot self-verify or pick a tokenKey either */
    const char *id = ac_signup(conn, "users", "own@example.com", "12345678", NULL);
    const char *tok = ac_login(conn, "users", "own@example.com", "12345678", NULL);
    const char *self = it_sprintf("/api/collections/users/records/%s", id);
    static const char *const patches[] = {
        "{\"verified\":true,\"verified\":true}", "{\"verified\":false,\"verified\":true}",
        "{\"tokenKey\":\"x\",\"tokenKey\":\"01234567890123456789012345678901234567890123456789\"}",
        "{\"name\":\"a\",\"nested\":{\"k\":1,\"k\":2}}", /* at any depth */
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(patches); i++)
        assert_refused("PATCH", self, tok, patches[i], strlen(patches[i]),
                       "An object has the same key twice.");
    struct rc_resp *r = ac_req(conn, "GET", self, su, NULL);
    assert_int_equal(r->status, 200);
    assert_false(cJSON_IsTrue(rc_get(r->json, "verified")));
    /* the token still works: tokenKey did not change */
    assert_int_equal(ac_req(conn, "GET", self, tok, NULL)->status, 200);
    /* duplicate keys in sign-in and in the collections API too */
    REFUSED("/api/collections/users/auth-with-password", NULL,
            "{\"identity\":\"own@example.com\",\"password\":\"x\",\"password\":\"12345678\"}",
            "An object has the same key twice.");
    REFUSED("/api/collections", su, "{\"name\":\"c1\",\"type\":\"base\",\"type\":\"auth\"}",
            "An object has the same key twice.");
}

static void test_json_refuses_data_after_the_body(void **state)
{
    (void)state;
    REFUSED(DOCS, NULL, "{\"title\":\"x\"} trailing", "Unexpected data after the JSON value");
    REFUSED(DOCS, NULL, "{\"title\":\"one\"}{\"title\":\"two\"}", "Unexpected data");
    REFUSED(DOCS, NULL, "{\"a\":\"b\"}/**/", "Unexpected data");
    REFUSED(DOCS, NULL, "{\"a\":\"b\"}//", "Unexpected data");
    REFUSED(DOCS, NULL, "{}\0", "Unexpected data");
    REFUSED(DOCS, NULL, "{},", "Unexpected data");
    REFUSED(DOCS, NULL, "{}]", "Unexpected data");
    /* whitespace around the value is fine */
    struct rc_resp *r = post_s(DOCS, " \r\n\t{\"title\":\"ws\"} \r\n\t");
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(r->json, "title"), "ws");
    /* and nothing of the second object was created */
    r = ac_req(conn, "GET", DOCS "?filter=title%3D'two'", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "items")), 0);
}

static void test_json_refuses_numbers_outside_the_grammar(void **state)
{
    (void)state;
    static const char *const bad[] = {"012",       "-01", "1.",  "-.123", "2.e3",
                                      ".5",        "+1",  "1e",  "0x1F",  "Infinity",
                                      "-Infinity", "NaN", "1_0", "01.5"};
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        char *b = it_sprintf("{\"data\":%s}", bad[i]);
        assert_refused("POST", DOCS, NULL, b, strlen(b), NULL);
        b = it_sprintf("{\"data\":[1,%s]}", bad[i]);
        assert_refused("POST", DOCS, NULL, b, strlen(b), NULL);
    }
    /* beyond a double: refused, never stored as null */
    static const char *const big[] = {"1e999999", "-1e400", "1.5e309", "[1e309]",
                                      "{\"x\":123e4567}"};
    for (size_t i = 0; i < SH_ARRAY_LEN(big); i++) {
        char *b = it_sprintf("{\"data\":%s}", big[i]);
        assert_refused("POST", DOCS, NULL, b, strlen(b), "A number is out of range");
    }
    /* the grammar's own forms are kept */
    struct rc_resp *r =
        post_s(DOCS, "{\"data\":[-0,0.5,1E3,-1.5e-3,1e-999999,12345678901234567890]}");
    assert_int_equal(r->status, 200);
    const cJSON *d = rc_get(r->json, "data");
    assert_true(cJSON_GetArrayItem(d, 2)->valuedouble == 1000);
    assert_true(cJSON_GetArrayItem(d, 3)->valuedouble == -1.5e-3);
    assert_true(cJSON_GetArrayItem(d, 4)->valuedouble == 0);
}

static void test_json_refuses_bad_strings(void **state)
{
    (void)state;
    REFUSED(DOCS, NULL, "{\"title\":\"a\tb\"}", "A raw control character");
    REFUSED(DOCS, NULL, "{\"title\":\"a\nb\"}", "A raw control character");
    REFUSED(DOCS, NULL, "{\"title\":\"a\0b\"}", "A raw control character");
    REFUSED(DOCS, NULL, "{\"title\":\"\x1f\"}", "A raw control character");
    REFUSED(DOCS, NULL, "{\"title\":\"\\uqqqq\"}", "An invalid escape");
    REFUSED(DOCS, NULL, "{\"title\":\"\\u12\"}", "An invalid escape");
    REFUSED(DOCS, NULL, "{\"title\":\"\\x41\"}", "An invalid escape");
    REFUSED(DOCS, NULL, "{\"title\":\"\\uD800\"}", "An invalid escape");
    REFUSED(DOCS, NULL, "{\"title\":\"\\uDC00\\uD800\"}", "An invalid escape");
    REFUSED(DOCS, NULL, "{\"title\":'x'}", "Invalid JSON syntax");
    REFUSED(DOCS, NULL, "{title:\"x\"}", "Invalid JSON syntax");
    REFUSED(DOCS, NULL, "{\"title\":\"x\",}", "Invalid JSON syntax");
    /* escapes that are fine, decoded */
    struct rc_resp *r = post_s(DOCS, "{\"title\":\"\\u00e9\\uD83D\\uDE00\\t\"}");
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(r->json, "title"), "\xc3\xa9\xf0\x9f\x98\x80\t");
}

static void test_json_refuses_invalid_utf8_and_nul(void **state)
{
    (void)state;
    /* invalid UTF-8 in a text field, a json field, a key, a sign-in */
    REFUSED(DOCS, NULL, "{\"title\":\"caf\xe9\"}", "Invalid UTF-8 at byte 13.");
    REFUSED(DOCS, NULL, "{\"title\":\"\xc0\xaf\"}", "Invalid UTF-8");
    REFUSED(DOCS, NULL, "{\"title\":\"\xed\xa0\x80\"}", "Invalid UTF-8");
    REFUSED(DOCS, NULL, "{\"title\":\"\xf4\x90\x80\x80\"}", "Invalid UTF-8");
    REFUSED(DOCS, NULL, "{\"title\":\"\xe2\x82\"}", "Invalid UTF-8");
    REFUSED(DOCS, NULL, "{\"title\":\"\xff\"}", "Invalid UTF-8");
    REFUSED(DOCS, NULL, "{\"data\":[\"\x80\"]}", "Invalid UTF-8");
    REFUSED(DOCS, NULL, "{\"ti\xe9tle\":\"x\"}", "Invalid UTF-8");
    REFUSED("/api/collections/users/auth-with-password", NULL,
            "{\"identity\":\"\xe9@example.com\",\"password\":\"x\"}", "Invalid UTF-8");
    /* \u0000 would truncate text: refused in any string */
    REFUSED(DOCS, NULL, "{\"title\":\"public\\u0000secret\"}", "A NUL character");
    REFUSED(DOCS, NULL, "{\"data\":{\"k\":\"\\u0000\"}}", "A NUL character");
    REFUSED(DOCS, NULL, "{\"title\\u0000x\":\"y\"}", "A NUL character");
    REFUSED("/api/collections/users/request-password-reset", NULL,
            "{\"email\":\"own@example.com\\u0000x\"}", "A NUL character");
    /* what was stored stays valid for a strict client: the list parses */
    struct it_conn *c = conn;
    char *head = it_sprintf("GET %s?perPage=500 HTTP/1.1\r\nHost: t\r\n\r\n", DOCS);
    assert_int_equal(it_conn_sends(c, head), IT_OK);
    struct it_resp *lr = it_conn_read(c, 0, 20000);
    assert_non_null(lr);
    assert_int_equal(lr->status, 200);
    assert_int_equal(sh_json_check(lr->body, lr->body_len, 64, NULL), 0);
}

static void test_json_empty_body_as_pocketbase(void **state)
{
    (void)state;
    /* Content-Length: 0 is no data (PocketBase's BindBody): a record with
     * defaults, as PocketBase creates one when no field is required */
    struct rc_resp *r = post(DOCS, NULL, NULL, 0);
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(r->json, "title"), "");
    /* but a body that holds no value is malformed (Go's decoder: EOF) */
    REFUSED(DOCS, NULL, " ", "No JSON value.");
    REFUSED(DOCS, NULL, "\r\n\t ", "No JSON value.");
    /* and non-objects are not records */
    REFUSED(DOCS, NULL, "[]", "The body must be a JSON object.");
    REFUSED(DOCS, NULL, "null", "The body must be a JSON object.");
    REFUSED(DOCS, NULL, "\"x\"", "The body must be a JSON object.");
    REFUSED(DOCS, NULL, "1", "The body must be a JSON object.");
}

static void test_json_nesting_limit(void **state)
{
    (void)state;
    /* the body object is level 1: 63 arrays inside reach the default 64 */
    for (int extra = 0; extra <= 1; extra++) {
        int n = 63 + extra;
        char *b = it_alloc((size_t)n * 2 + 16);
        size_t k = (size_t)sprintf(b, "{\"data\":");
        for (int i = 0; i < n; i++)
            b[k++] = '[';
        for (int i = 0; i < n; i++)
            b[k++] = ']';
        b[k++] = '}';
        if (extra) {
            assert_refused("POST", DOCS, NULL, b, k, "Arrays and objects are nested too deeply");
        } else {
            assert_int_equal(post(DOCS, NULL, b, k)->status, 200);
        }
    }
    /* 100 000 levels (the JSONTestSuite's) are refused, not recursed into */
    size_t n = 100000;
    char *b = it_alloc(n + 16);
    memset(b, '[', n);
    assert_refused("POST", DOCS, NULL, b, n, "Arrays and objects are nested too deeply");
}

/* A json field given as a string is JSON only when strictly so (PocketBase:
 * "[1,2]" is an array, other text stays a string); a select given as JSON
 * text likewise. */
static void test_json_field_strings_parsed_strictly(void **state)
{
    (void)state;
    static const struct {
        const char *sent, *stored; /* the value of "data" read back, as JSON */
    } cases[] = {
        {"\"[1,2]\"", "[1,2]"},
        {"\"{\\\"a\\\":1}\"", "{\"a\":1}"},
        {"\"12\"", "12"},
        {"\"012\"", "\"012\""},
        {"\"1.\"", "\"1.\""},
        {"\"[1,2] x\"", "\"[1,2] x\""},
        {"\"[1,2]]\"", "\"[1,2]]\""},
        {"\"1e999999\"", "\"1e999999\""},
        {"\"{\\\"a\\\":1,\\\"a\\\":2}\"", "\"{\\\"a\\\":1,\\\"a\\\":2}\""},
        {"\"[\\\"\\\\uqqqq\\\"]\"", "\"[\\\"\\\\uqqqq\\\"]\""},
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
        char *b = it_sprintf("{\"data\":%s}", cases[i].sent);
        struct rc_resp *r = post(DOCS, NULL, b, strlen(b));
        if (r->status != 200)
            fail_msg("%s: %d %s", b, r->status, r->raw->body);
        const char *id = it_strdup(rc_str(r->json, "id"));
        r = jc_req(conn, "GET", it_sprintf(DOCS "/%s", id), NULL, NULL, 0);
        cJSON *want = cJSON_Parse(cases[i].stored);
        if (!jc_equal(rc_get(r->json, "data"), want))
            fail_msg("%s read back as %s, expected %s", b, r->raw->body, cases[i].stored);
        cJSON_Delete(want);
    }
    /* a select given as JSON text with trailing data is one (invalid) value */
    struct rc_resp *r = post_s(DOCS, "{\"tags\":\"[\\\"a\\\"] x\"}");
    rc_assert_error(r, 400, "tags", NULL);
    r = post_s(DOCS, "{\"tags\":\"[\\\"a\\\",\\\"b\\\"]\"}");
    assert_int_equal(r->status, 200);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "tags")), 2);
}

/* GET /api/health on a second connection, in ms. */
static int64_t health_ms(struct it_conn *c)
{
    int64_t t0 = it_now_ms();
    assert_int_equal(it_conn_sends(c, "GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n"), IT_OK);
    struct it_resp *r = it_conn_read(c, 0, 20000);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    return it_now_ms() - t0;
}

/* A body of n bytes: {"data":[0,0,...,0]} padded with spaces to exactly n. */
static char *big_body(size_t n)
{
    char *b = it_alloc(n + 1);
    size_t k = (size_t)sprintf(b, "{\"data\":[0");
    while (k + 4 <= n)
        k += (size_t)sprintf(b + k, ",0");
    b[k++] = ']';
    b[k++] = '}';
    memset(b + k, ' ', n - k);
    return b;
}

static void test_json_body_limit(void **state)
{
    (void)state;
    /* a server of its own, so that its peak RSS starts from this test */
    struct it_server *s = rc_server(rc_q(jc_schema), "--rate-limit-auth", "off", NULL);
    assert_non_null(s);
    conn = it_conn_open(s);
    struct it_conn *probe = it_conn_open(s);
    assert_non_null(probe);
    health_ms(probe);
    long hwm0 = it_server_mem_kib(s, 1);

    /* at the limit (1 MiB, half a million values): parsed, stored */
    size_t limit = SH_JSON_MAX_BYTES_DEFAULT;
    char *b = big_body(limit);
    assert_int_equal(it_conn_sendf(conn,
                                   "POST " DOCS " HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                   "application/json\r\nContent-Length: %zu\r\n\r\n",
                                   limit),
                     IT_OK);
    assert_int_equal(it_conn_send(conn, b, limit, 20000), IT_OK);
    int64_t stall = health_ms(probe);
    struct it_resp *r = it_conn_read(conn, 0, 30000);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    long hwm1 = it_server_mem_kib(s, 1);

    /* one byte past it: 413 before any parse, the connection still usable */
    b = big_body(limit + 1);
    struct rc_resp *rr = post(DOCS, NULL, b, limit + 1);
    assert_int_equal(it_resp_check_error(rr->raw, 413), 0);
    assert_int_equal(post_s(DOCS, "{}")->status, 200);

    /* far past it (16 MiB, under --max-body): refused without the parse
     * that cost ~40x its size and seconds of the loop before */
    size_t huge = 16u << 20;
    b = big_body(huge);
    assert_int_equal(it_conn_sendf(conn,
                                   "POST /api/collections/users/auth-with-password HTTP/1.1\r\n"
                                   "Host: t\r\nContent-Type: application/json\r\n"
                                   "Content-Length: %zu\r\n\r\n",
                                   huge),
                     IT_OK);
    assert_int_equal(it_conn_send(conn, b, huge, 30000), IT_OK);
    int64_t stall_huge = health_ms(probe);
    r = it_conn_read(conn, 0, 30000);
    assert_non_null(r);
    assert_int_equal(it_resp_check_error(r, 413), 0);
    long hwm2 = it_server_mem_kib(s, 1);
    printf("# 1 MiB JSON body: /api/health answered in %lld ms during it, peak RSS +%ld KiB; "
           "16 MiB body: 413, health %lld ms, peak RSS +%ld KiB more\n",
           (long long)stall, hwm1 - hwm0, (long long)stall_huge, hwm2 - hwm1);
    /* bounds for a loaded machine under ASan, far below what parsing did */
    assert_true(stall < IT_SLOW(2000));
    assert_true(stall_huge < IT_SLOW(1000));
    assert_true(hwm2 - hwm1 < 96 * 1024); /* the body's buffers, not a tree (~650 MiB) */
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    it_server_cleanup(s);
}

/* Bodies past --max-json-body are dropped as they arrive, never buffered:
 * 24 connections each sending 8 MiB (under --max-body) at once would hold
 * 192 MiB if kept. Each gets its 413 and its connection stays usable. */
static void test_json_body_dropped_past_limit(void **state)
{
    (void)state;
    enum { K = 24, SIZE = 8 << 20 };
    struct it_server *s = rc_server(rc_q(jc_schema), "--rate-limit-auth", "off", NULL);
    assert_non_null(s);
    /* the dummy Argon2 hash made at start (64 MiB for a moment) has come and
     * gone once a sign-in for an unknown identity is answered */
    assert_int_equal(post_s("/api/collections/users/auth-with-password",
                            "{\"identity\":\"nobody@example.com\",\"password\":\"x\"}")
                         ->status,
                     400);
    char *pad = it_alloc(SIZE);
    memset(pad, ' ', SIZE);
    pad[0] = '{';
    pad[SIZE - 1] = '}';
    long base = it_server_mem_kib(s, 0);
    struct it_conn *c[K];
    for (int k = 0; k < K; k++) {
        c[k] = it_conn_open(s);
        assert_non_null(c[k]);
        assert_int_equal(it_conn_sendf(c[k],
                                       "POST " DOCS " HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                       "application/json\r\nContent-Length: %d\r\n\r\n",
                                       SIZE),
                         IT_OK);
    }
    /* interleaved, so that every body is in flight at once */
    for (size_t off = 0; off < SIZE; off += 1 << 20)
        for (int k = 0; k < K; k++)
            assert_int_equal(it_conn_send(c[k], pad + off, 1 << 20, 30000), IT_OK);
    for (int k = 0; k < K; k++) {
        struct it_resp *r = it_conn_read(c[k], 0, 30000);
        assert_non_null(r);
        assert_int_equal(it_resp_check_error(r, 413), 0);
    }
    /* every body was received and answered; a kept one would still be held
     * until its connection's next request */
    long held = it_server_mem_kib(s, 0);
    for (int k = 0; k < K; k++) {
        assert_int_equal(it_conn_sends(c[k], "GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n"), IT_OK);
        struct it_resp *r = it_conn_read(c[k], 0, IT_MS_IO);
        assert_non_null(r);
        assert_int_equal(r->status, 200);
        it_conn_close(c[k]);
    }
    printf("# %d x %d MiB JSON bodies at once, all answered 413: RSS %ld -> %ld KiB\n", K,
           SIZE >> 20, base, held);
    assert_true(held - base < 96 * 1024); /* kept, they were 192 MiB */
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    it_server_cleanup(s);
}

static void test_json_limit_flags(void **state)
{
    (void)state;
    /* the flags set the limits; a depth beyond cJSON's own is refused at start */
    struct it_server *s = rc_server(rc_q(jc_schema), "--max-json-body", "64", "--max-json-depth",
                                    "2", "--rate-limit-auth", "off", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    const char *b65 = "{\"identity\":\"a@example.com\",\"password\":\"01234567890123456789012\"}";
    assert_int_equal(strlen(b65), 65);
    struct rc_resp *r =
        jc_req(c, "POST", "/api/collections/users/auth-with-password", NULL, b65, strlen(b65));
    assert_int_equal(it_resp_check_error(r->raw, 413), 0);
    r = jc_req(c, "POST", "/api/collections/users/auth-with-password", NULL,
               "{\"identity\":[[1]],\"password\":\"x\"}", 33);
    assert_true(jc_is_bad_json(r));
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    it_server_cleanup(s);
    char *out, *err;
    assert_int_equal(ac_run(&out, &err, "serve", "--max-json-depth", "5000", NULL), 2);
    assert_non_null(strstr(err, "--max-json-depth"));
    assert_int_equal(ac_run(&out, &err, "serve", "--max-json-body", "0", NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_json_duplicate_keys_cannot_set_protected_fields, open_conn),
        it_test_each(test_json_refuses_data_after_the_body, open_conn),
        it_test_each(test_json_refuses_numbers_outside_the_grammar, open_conn),
        it_test_each(test_json_refuses_bad_strings, open_conn),
        it_test_each(test_json_refuses_invalid_utf8_and_nul, open_conn),
        it_test_each(test_json_empty_body_as_pocketbase, open_conn),
        it_test_each(test_json_nesting_limit, open_conn),
        it_test_each(test_json_field_strings_parsed_strictly, open_conn),
        it_test_each(test_json_body_limit, open_conn),
        it_test_each(test_json_body_dropped_past_limit, open_conn),
        it_test_each(test_json_limit_flags, open_conn),
    };
    return cmocka_run_group_tests(tests, group_setup, it_group_teardown);
}
