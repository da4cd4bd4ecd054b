/*
 * Unit tests for the request-head validator (src/http/head.c). Every input is
 * fed twice: whole, and one byte at a time from a heap copy of exactly the
 * bytes "received" so far, so that ASan catches any read past len and the
 * incremental result can be compared with the whole one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "head.h"

static const struct sh_head_limits lim = {.max_url = 64, .max_head = 512, .max_headers = 8};

#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"

/* Feeds s[0..n) from an exact-size heap copy. */
static enum sh_head_result feed_n(struct sh_head_state *st, const char *s, size_t n,
                                  const struct sh_head_limits *l)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    enum sh_head_result r = sh_head_feed(st, copy, n, l);
    free(copy);
    return r;
}

static enum sh_head_result feed(struct sh_head_state *st, const char *s)
{
    sh_head_init(st);
    return feed_n(st, s, strlen(s), &lim);
}

/* Offset just after the last complete "\r\n" in s[0..n): where a resuming
 * validator must stand. */
static size_t last_line_start(const char *s, size_t n)
{
    for (size_t i = n; i >= 2; i--)
        if (s[i - 2] == '\r' && s[i - 1] == '\n')
            return i;
    return 0;
}

/* s is a valid head (possibly followed by body bytes after head_len). */
static struct sh_head_state accept_head(const char *s, size_t head_len)
{
    struct sh_head_state whole, st;

    assert_int_equal(feed(&whole, s), SH_HEAD_DONE);
    assert_int_equal(whole.head_len, head_len);

    sh_head_init(&st);
    for (size_t i = 1; i < head_len; i++) {
        assert_int_equal(feed_n(&st, s, i, &lim), SH_HEAD_MORE);
        assert_int_equal(st.pos, last_line_start(s, i));
    }
    assert_int_equal(feed_n(&st, s, head_len, &lim), SH_HEAD_DONE);
    assert_int_equal(st.head_len, whole.head_len);

    /* Two pieces, split anywhere: the second call resumes mid-line. */
    for (size_t k = 1; k < head_len; k++) {
        struct sh_head_state two;
        sh_head_init(&two);
        assert_int_equal(feed_n(&two, s, k, &lim), SH_HEAD_MORE);
        assert_int_equal(feed_n(&two, s, strlen(s), &lim), SH_HEAD_DONE);
        assert_int_equal(two.head_len, head_len);
        assert_int_equal(two.content_length, whole.content_length);
        assert_int_equal(two.chunked, whole.chunked);
    }
    assert_int_equal(st.http_minor, whole.http_minor);
    assert_int_equal(st.has_host, whole.has_host);
    assert_int_equal(st.has_content_length, whole.has_content_length);
    assert_int_equal(st.content_length, whole.content_length);
    assert_int_equal(st.chunked, whole.chunked);
    assert_int_equal(st.expect_continue, whole.expect_continue);
    return whole;
}

static struct sh_head_state accept_all(const char *s)
{
    return accept_head(s, strlen(s));
}

/*
 * s is invalid with the given status. Fed byte by byte, the error must come
 * no later than the end of the line containing marker (or the end of s when
 * marker is NULL), with the same status as fed whole.
 */
static void reject_by(const char *s, int status, const char *marker)
{
    struct sh_head_state st;
    size_t n = strlen(s), by = n, i;
    enum sh_head_result r = SH_HEAD_MORE;

    assert_int_equal(feed(&st, s), SH_HEAD_ERROR);
    assert_int_equal(st.status, status);
    assert_non_null(st.reason);
    size_t rl = strlen(st.reason);
    assert_true(rl > 1 && st.reason[rl - 1] == '.');

    if (marker) {
        const char *m = strstr(s, marker);
        assert_non_null(m);
        const char *lf = strchr(m, '\n');
        if (lf)
            by = (size_t)(lf - s) + 1;
    }
    sh_head_init(&st);
    for (i = 1; i <= n; i++) {
        r = feed_n(&st, s, i, &lim);
        if (r != SH_HEAD_MORE)
            break;
    }
    assert_int_equal(r, SH_HEAD_ERROR);
    assert_true(i <= by);
    assert_int_equal(st.status, status);

    /* Two pieces, split anywhere before the error shows. */
    for (size_t k = 1; k < i; k++) {
        struct sh_head_state two;
        sh_head_init(&two);
        assert_int_equal(feed_n(&two, s, k, &lim), SH_HEAD_MORE);
        assert_int_equal(feed_n(&two, s, n, &lim), SH_HEAD_ERROR);
        assert_int_equal(two.status, status);
    }
    /* The state sticks. */
    assert_int_equal(feed_n(&st, s, n, &lim), SH_HEAD_ERROR);
}

static void reject(const char *s, int status)
{
    reject_by(s, status, NULL);
}

/* The reason is what the client reads in the error body: the same whether
 * the head came whole or byte by byte. */
static void reject_reason(const char *s, const char *reason)
{
    struct sh_head_state st;
    assert_int_equal(feed(&st, s), SH_HEAD_ERROR);
    assert_string_equal(st.reason, reason);

    sh_head_init(&st);
    size_t i = 1, n = strlen(s);
    while (i < n && feed_n(&st, s, i, &lim) == SH_HEAD_MORE)
        i++;
    assert_int_equal(feed_n(&st, s, i, &lim), SH_HEAD_ERROR);
    assert_string_equal(st.reason, reason);
}

/* Expected byte classes, from RFC 9110 §5.6.2 and §5.5, written as ranges
 * independently of the validator's table. */
static int oracle_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int oracle_fvalue(int c)
{
    return (c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t';
}

/* ---- valid heads ---- */

static void test_head_valid_get(void **state)
{
    (void)state;
    struct sh_head_state st =
        accept_all("GET /index.html?q=1&r=%20 HTTP/1.1\r\nHost: example.com\r\n"
                   "User-Agent: t/1.0\r\nAccept: */*\r\n\r\n");
    assert_int_equal(st.http_minor, 1);
    assert_true(st.has_host);
    assert_false(st.has_content_length);
    assert_false(st.chunked);
    assert_false(st.expect_continue);
}

static void test_head_valid_post_with_body(void **state)
{
    (void)state;
    const char *head = "POST /api/items HTTP/1.1\r\nhost: a\r\ncontent-length:  5 \r\n"
                       "Content-Type: application/json\r\n\r\n";
    char buf[256];
    snprintf(buf, sizeof(buf), "%s{\"a\"}GET / HTTP/1.1\r\n", head);
    struct sh_head_state st = accept_head(buf, strlen(head));
    assert_true(st.has_content_length);
    assert_int_equal(st.content_length, 5);
    assert_false(st.chunked);
}

static void test_head_valid_field_values(void **state)
{
    (void)state;
    /* HTAB, inner SP, obs-text and every VCHAR are fine in a value. */
    accept_all(H11 "X-A:\tv\t\r\nX-B: a b\xc3\xa9\xff\r\nX-C:\r\nX-D: "
                   "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\r\n\r\n");
    /* Empty Host is allowed. */
    struct sh_head_state st = accept_all("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    assert_true(st.has_host);
    /* Any token is a method; the target may be absolute or "*". */
    accept_all("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n");
    accept_all("OPTIONS http://a/b?c HTTP/1.1\r\nHost: a\r\n\r\n");
    accept_all("connect / HTTP/1.1\r\nHost: a\r\n\r\n"); /* methods are case-sensitive */
}

static void test_head_leading_crlf_skipped(void **state)
{
    (void)state;
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    struct sh_head_state st = accept_all(s);
    assert_int_equal(st.head_len, strlen(s));
    assert_int_equal(st.skip, 2);
    accept_all("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
}

static void test_head_too_many_leading_crlf(void **state)
{
    (void)state;
    reject("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_head_http10_without_host(void **state)
{
    (void)state;
    struct sh_head_state st = accept_all("GET / HTTP/1.0\r\n\r\n");
    assert_int_equal(st.http_minor, 0);
    assert_false(st.has_host);
    st = accept_all("GET / HTTP/1.0\r\nContent-Length: 3\r\n\r\n");
    assert_int_equal(st.content_length, 3);
}

static void test_head_chunked(void **state)
{
    (void)state;
    struct sh_head_state st = accept_all(H11 "Transfer-Encoding: chunked\r\n\r\n");
    assert_true(st.chunked);
    assert_false(st.has_content_length);
    st = accept_all(H11 "transfer-encoding:  ChUnKeD \t\r\n\r\n");
    assert_true(st.chunked);
    st = accept_all(H11 "Content-Length: 0\r\n\r\n");
    assert_false(st.chunked);
}

static void test_head_content_length_value(void **state)
{
    (void)state;
    struct sh_head_state st = accept_all(H11 "Content-Length: 0\r\n\r\n");
    assert_true(st.has_content_length);
    assert_int_equal(st.content_length, 0);
    st = accept_all(H11 "Content-Length:\t007\t\r\n\r\n");
    assert_int_equal(st.content_length, 7);
    st = accept_all(H11 "Content-Length: 4611686018427387904\r\n\r\n");
    assert_int_equal(st.content_length, (uint64_t)1 << 62);
}

static void test_head_expect_continue(void **state)
{
    (void)state;
    struct sh_head_state st = accept_all(H11 "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
    assert_true(st.expect_continue);
    st = accept_all(H11 "Expect: something-else\r\n\r\n");
    assert_false(st.expect_continue);
    st = accept_all(H11 "X-Expect: 100-continue\r\n\r\n");
    assert_false(st.expect_continue);
}

static void test_head_limits_exact(void **state)
{
    (void)state;
    char target[65];
    char buf[600];

    /* A target of exactly max_url bytes. */
    memset(target, 'a', 64);
    target[0] = '/';
    target[64] = '\0';
    snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", target);
    accept_all(buf);

    /* Exactly max_headers fields. */
    accept_all(H11 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n\r\n");

    /* A head of exactly max_head bytes. */
    size_t n = (size_t)snprintf(buf, sizeof(buf), H11 "X: ");
    memset(buf + n, 'x', lim.max_head - n - 4);
    memcpy(buf + lim.max_head - 4, "\r\n\r\n", 5);
    assert_int_equal(strlen(buf), lim.max_head);
    accept_all(buf);
}

static void test_head_done_is_sticky(void **state)
{
    (void)state;
    const char *s = H11 "\r\n";
    struct sh_head_state st;
    assert_int_equal(feed(&st, s), SH_HEAD_DONE);
    assert_int_equal(sh_head_feed(&st, s, strlen(s), &lim), SH_HEAD_DONE);
    assert_int_equal(st.head_len, strlen(s));
}

static void test_head_byte_classes(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        char buf[64];
        struct sh_head_state st;

        /* In a field value (between two other bytes, so OWS is not trimmed). */
        snprintf(buf, sizeof(buf), H11 "X: a%cb\r\n\r\n", c);
        assert_int_equal(feed(&st, buf), oracle_fvalue(c) ? SH_HEAD_DONE : SH_HEAD_ERROR);
        /* In a field name (a colon there just makes the name "X"). */
        snprintf(buf, sizeof(buf), H11 "X%cY: a\r\n\r\n", c);
        assert_int_equal(feed(&st, buf),
                         oracle_tchar(c) || c == ':' ? SH_HEAD_DONE : SH_HEAD_ERROR);
        /* In the method. */
        snprintf(buf, sizeof(buf), "G%cT / HTTP/1.1\r\nHost: a\r\n\r\n", c);
        assert_int_equal(feed(&st, buf), oracle_tchar(c) ? SH_HEAD_DONE : SH_HEAD_ERROR);
        /* In the target: visible ASCII only. */
        snprintf(buf, sizeof(buf), "GET /%c HTTP/1.1\r\nHost: a\r\n\r\n", c);
        assert_int_equal(feed(&st, buf), c >= 0x21 && c <= 0x7e ? SH_HEAD_DONE : SH_HEAD_ERROR);
    }
}

/* Long values are checked eight bytes at a time: every byte value at every
 * position of a 40-byte value (five words, and the tail of another head
 * with 3 more bytes) is judged as the one-byte oracle says. */
static void test_head_long_value_every_byte(void **state)
{
    (void)state;
    static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: ";
    for (size_t vlen = 40; vlen <= 43; vlen += 3)
        for (size_t k = 0; k < vlen; k++)
            for (int c = 0; c < 256; c++) {
                if (c == '\r' || c == '\n')
                    continue; /* line ends: other rules */
                char buf[160];
                size_t n = sizeof(pre) - 1;
                memcpy(buf, pre, n);
                memset(buf + n, 'a', vlen);
                buf[n + k] = (char)c;
                memcpy(buf + n + vlen, "\r\n\r\n", 4);
                n += vlen + 4;
                struct sh_head_state st;
                sh_head_init(&st);
                enum sh_head_result r = feed_n(&st, buf, n, &lim);
                if (oracle_fvalue(c)) {
                    if (r != SH_HEAD_DONE)
                        fail_msg("byte 0x%02x at %zu of %zu refused", c, k, vlen);
                } else {
                    if (r != SH_HEAD_ERROR || st.status != 400)
                        fail_msg("byte 0x%02x at %zu of %zu accepted", c, k, vlen);
                }
            }
}

static void test_head_reasons(void **state)
{
    (void)state;
    reject_reason("GET / HTTP/1.1\n", "Line ends in a bare LF, not CRLF.");
    reject_reason(H11 "X: a\rb\r\n\r\n", "Bare CR not followed by LF.");
    reject_reason(H11 " X: a\r\n\r\n", "Header line starts with whitespace (obs-fold).");
    reject_reason(H11 "X : a\r\n\r\n", "Whitespace before the colon in a header line.");
    reject_reason("GET /\r\n\r\n", "Request line has no HTTP version.");
    reject_reason("CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n", "CONNECT is not supported.");
    reject_reason(H11 "Content-Length: 1\r\nContent-Length: 1\r\n\r\n",
                  "Content-Length appears more than once.");
    reject_reason("GET / HTTP/1.1\r\n\r\n", "Host is missing.");
}

/* ---- request line ---- */

static void test_head_request_line_rejected(void **state)
{
    (void)state;
    reject_by("GET /\r\nHost: a\r\n\r\n", 400, "GET");           /* HTTP/0.9 */
    reject_by("GET\r\nHost: a\r\n\r\n", 400, "GET");             /* no target */
    reject_by("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET"); /* two spaces */
    reject_by("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET"); /* two spaces */
    reject_by("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "GET"); /* trailing SP */
    reject_by("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET"); /* HTAB separator */
    reject_by(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET"); /* empty method */
    reject_by("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "G(T");  /* non-token method */
    reject_by("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "GET");  /* case of HTTP */
    reject_by("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400, "GET");
    reject_by("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "GET");
    reject_by("GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "GET");
    reject_by("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, "GET");
    reject_by("GET / FTP/1.1\r\nHost: a\r\n\r\n", 400, "GET");
    reject_by("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET"); /* UTF-8 */
    reject_by("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET");     /* control */
    reject_by("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET");    /* DEL */
    reject_by("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 400, "CONNECT");
}

static void test_head_version_not_supported(void **state)
{
    (void)state;
    reject_by("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "GET");
    reject_by("GET / HTTP/0.9\r\n\r\n", 505, "GET");
}

static void test_head_garbage_rejected_early(void **state)
{
    (void)state;
    /* A TLS ClientHello on the plain port is refused at its first byte. */
    struct sh_head_state st;
    sh_head_init(&st);
    assert_int_equal(feed_n(&st, "\x16\x03\x01", 1, &lim), SH_HEAD_ERROR);
    assert_int_equal(st.status, 400);
    /* CONNECT as soon as its SP arrives. */
    sh_head_init(&st);
    assert_int_equal(feed_n(&st, "CONNECT", 7, &lim), SH_HEAD_MORE);
    assert_int_equal(feed_n(&st, "CONNECT ", 8, &lim), SH_HEAD_ERROR);
    assert_int_equal(st.status, 400);
}

static void test_head_target_too_long(void **state)
{
    (void)state;
    char buf[600];
    char target[66];
    memset(target, 'a', 65);
    target[0] = '/';
    target[65] = '\0';
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", target);
    reject_by(buf, 414, "GET");

    /* Reported as soon as the target exceeds max_url, long before CRLF. */
    struct sh_head_state st;
    sh_head_init(&st);
    size_t over = 4 + 65; /* "GET " + max_url + 1 */
    assert_int_equal(feed_n(&st, buf, over - 1, &lim), SH_HEAD_MORE);
    assert_int_equal(feed_n(&st, buf, over, &lim), SH_HEAD_ERROR);
    assert_int_equal(st.status, 414);
    assert_true(over < n);
}

/* ---- line endings ---- */

static void test_head_bare_lf_at_once(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "GET / HTTP/1.1\n",
        "GET / HTTP/1.1\r\nHost: a\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n",
        "GET /\n",
        "GET / HTTP/1.1\r\nHost\n",
        "\r\n\n",
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const char *s = cases[c];
        size_t lf = 0;
        while (s[lf] != '\n' || (lf > 0 && s[lf - 1] == '\r'))
            lf++;
        struct sh_head_state st;
        sh_head_init(&st);
        for (size_t i = 1; i <= lf; i++)
            assert_int_equal(feed_n(&st, s, i, &lim), SH_HEAD_MORE);
        assert_int_equal(feed_n(&st, s, lf + 1, &lim), SH_HEAD_ERROR);
        assert_int_equal(st.status, 400);
        reject(s, 400);
    }
}

static void test_head_bare_cr(void **state)
{
    (void)state;
    reject_by("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400, "GET");
    reject_by("GET /\rx HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET");
    reject_by(H11 "X: a\rb\r\n\r\n", 400, "X:");
    reject_by(H11 "X: a\r\r\n\r\n", 400, "X:");
    reject_by(H11 "\rX: a\r\n\r\n", 400, "\rX");
    reject_by("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET");

    /* A CR that is the last byte so far is not yet an error. */
    struct sh_head_state st;
    sh_head_init(&st);
    assert_int_equal(feed_n(&st, "GET / HTTP/1.1\r", 15, &lim), SH_HEAD_MORE);
    assert_int_equal(feed_n(&st, "GET / HTTP/1.1\rX", 16, &lim), SH_HEAD_ERROR);
    assert_int_equal(st.status, 400);
}

/* ---- header lines ---- */

static void test_head_field_line_rejected(void **state)
{
    (void)state;
    reject_by(H11 "X: a\r\n folded\r\n\r\n", 400, " folded");   /* obs-fold */
    reject_by(H11 "X: a\r\n\tfolded\r\n\r\n", 400, "\tfolded"); /* obs-fold */
    reject_by("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, " Host");
    reject_by("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "Host");
    reject_by("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, "Host");
    reject_by(H11 ": a\r\n\r\n", 400, ": a\r\n\r\n");
    reject_by(H11 "X(Y: a\r\n\r\n", 400, "X(Y");
    reject_by(H11 "X\xc3\xa9: a\r\n\r\n", 400, "X\xc3");
    reject_by(H11 "NoColon\r\n\r\n", 400, "NoColon");
    reject_by(H11 "X: a\x01z\r\n\r\n", 400, "X:");
    reject_by(H11 "X: a\x7fz\r\n\r\n", 400, "X:");
    reject_by(H11 "X: \x1b[0m\r\n\r\n", 400, "X:");

    /* A NUL byte (not expressible in a C string literal) in a value. */
    static const char nul[] = H11 "X: a\0b\r\n\r\n";
    struct sh_head_state st;
    sh_head_init(&st);
    assert_int_equal(feed_n(&st, nul, sizeof(nul) - 1, &lim), SH_HEAD_ERROR);
    assert_int_equal(st.status, 400);
}

static void test_head_too_many_headers(void **state)
{
    (void)state;
    reject_by(H11 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n\r\n", 431,
              "H: 8");
}

static void test_head_too_large(void **state)
{
    (void)state;
    char buf[700];
    size_t n = (size_t)snprintf(buf, sizeof(buf), H11 "X: ");
    memset(buf + n, 'x', lim.max_head - n - 3);
    memcpy(buf + lim.max_head - 3, "\r\n\r\n", 5);
    assert_int_equal(strlen(buf), lim.max_head + 1);
    reject(buf, 431);

    /* The line crossing max_head is refused before later lines are looked
     * at, as it is when trickled: 431, not the 400 of the obs-fold after it. */
    memset(buf + n, 'x', lim.max_head - n);
    memcpy(buf + lim.max_head, "\r\n fold\r\n\r\n", sizeof("\r\n fold\r\n\r\n"));
    reject(buf, 431);

    /* Without its end, a head is refused once it holds more than max_head. */
    memset(buf + n, 'x', sizeof(buf) - n - 1);
    buf[sizeof(buf) - 1] = '\0';
    struct sh_head_state st;
    sh_head_init(&st);
    assert_int_equal(feed_n(&st, buf, lim.max_head, &lim), SH_HEAD_MORE);
    assert_int_equal(feed_n(&st, buf, lim.max_head + 1, &lim), SH_HEAD_ERROR);
    assert_int_equal(st.status, 431);

    /* Also with a long method, which has no limit of its own. */
    memset(buf, 'G', sizeof(buf) - 1);
    sh_head_init(&st);
    assert_int_equal(feed_n(&st, buf, lim.max_head, &lim), SH_HEAD_MORE);
    assert_int_equal(feed_n(&st, buf, lim.max_head + 1, &lim), SH_HEAD_ERROR);
    assert_int_equal(st.status, 431);
}

/* ---- Host ---- */

static void test_head_host_rejected(void **state)
{
    (void)state;
    reject("GET / HTTP/1.1\r\nX: a\r\n\r\n", 400);
    reject_by("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, "host");
    reject_by("GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", 400, "HOST");
    reject_by("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "Host");
    reject_by("GET / HTTP/1.1\r\nHost: \xc3\xa9.example\r\n\r\n", 400, "Host");
}

/* ---- Content-Length ---- */

static void test_head_content_length_rejected(void **state)
{
    (void)state;
    reject_by(H11 "Content-Length:\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: abc\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: -1\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: +5\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: 0x10\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: 5 5\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: 5,5\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: 5, 5\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: 5\r\ncontent-length: 5\r\n\r\n", 400, "content");
    reject_by(H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, "th: 6");
    reject_by(H11 "Content-Length: 4611686018427387905\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: 18446744073709551616\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: 99999999999999999999999999\r\n\r\n", 400, "Content");
}

/* ---- Transfer-Encoding ---- */

static void test_head_transfer_encoding_rejected(void **state)
{
    (void)state;
    reject(H11 "Transfer-Encoding: gzip\r\n\r\n", 400);
    reject(H11 "Transfer-Encoding: identity\r\n\r\n", 400);
    reject(H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    reject_by(H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 400, "Transfer");
    reject_by(H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400, "Transfer");
    reject_by(H11 "Transfer-Encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n", 400,
              "transfer");
    reject_by(H11 "Transfer-Encoding:\r\n\r\n", 400, "Transfer");
    reject_by(H11 "Transfer-Encoding: chunked,\r\n\r\n", 400, "Transfer");
    reject_by(H11 "Transfer-Encoding: , chunked\r\n\r\n", 400, "Transfer");
    reject_by(H11 "Transfer-Encoding: gzip,,chunked\r\n\r\n", 400, "Transfer");
    reject_by(H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 400, "Transfer");
    reject_by(H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", 400, "Transfer");
    reject_by(H11 "Transfer-Encoding: chunked x\r\n\r\n", 400, "Transfer");
    reject(H11 "Transfer-Encoding: gzip;chunked\r\n\r\n", 400);
    reject(H11 "Transfer-Encoding: gzip chunked\r\n\r\n", 400);
    reject_by(H11 "Transfer-Encoding: chunk\xc3\xa9\r\n\r\n", 400, "Transfer");
}

static void test_head_transfer_encoding_not_implemented(void **state)
{
    (void)state;
    reject(H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501);
    reject(H11 "Transfer-Encoding: GZIP ,\tdeflate , Chunked\r\n\r\n", 501);
    reject(H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
}

static void test_head_transfer_encoding_with_content_length(void **state)
{
    (void)state;
    reject_by(H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400, "Content");
    reject_by(H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer");
    reject_by(H11 "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n", 400, "Content");
}

static void test_head_transfer_encoding_http10(void **state)
{
    (void)state;
    reject_by("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_valid_get),
        cmocka_unit_test(test_head_valid_post_with_body),
        cmocka_unit_test(test_head_valid_field_values),
        cmocka_unit_test(test_head_leading_crlf_skipped),
        cmocka_unit_test(test_head_too_many_leading_crlf),
        cmocka_unit_test(test_head_http10_without_host),
        cmocka_unit_test(test_head_chunked),
        cmocka_unit_test(test_head_content_length_value),
        cmocka_unit_test(test_head_expect_continue),
        cmocka_unit_test(test_head_limits_exact),
        cmocka_unit_test(test_head_done_is_sticky),
        cmocka_unit_test(test_head_byte_classes),
        cmocka_unit_test(test_head_reasons),
        cmocka_unit_test(test_head_request_line_rejected),
        cmocka_unit_test(test_head_version_not_supported),
        cmocka_unit_test(test_head_garbage_rejected_early),
        cmocka_unit_test(test_head_target_too_long),
        cmocka_unit_test(test_head_bare_lf_at_once),
        cmocka_unit_test(test_head_bare_cr),
        cmocka_unit_test(test_head_field_line_rejected),
        cmocka_unit_test(test_head_too_many_headers),
        cmocka_unit_test(test_head_too_large),
        cmocka_unit_test(test_head_host_rejected),
        cmocka_unit_test(test_head_content_length_rejected),
        cmocka_unit_test(test_head_transfer_encoding_rejected),
        cmocka_unit_test(test_head_transfer_encoding_not_implemented),
        cmocka_unit_test(test_head_transfer_encoding_with_content_length),
        cmocka_unit_test(test_head_transfer_encoding_http10),
        cmocka_unit_test(test_head_long_value_every_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
