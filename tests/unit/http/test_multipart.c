/*
 * Unit tests for the incremental multipart/form-data reader
 * (src/http/multipart.c). Every well-formed body is fed whole, byte by
 * byte, and split in two and in three at every position: the parts read
 * back (names, file names, types, contents) must be the same each time.
 * Malformed bodies (no closing delimiter, a delimiter without CRLF, bad
 * headers, too many parts, huge header blocks, long or badly encoded names)
 * must fail with their code at every split too. Inputs are heap copies of
 * exactly their bytes, so ASan catches a read past a piece's end.
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
#include "stagehand/multipart.h"

/* What the callbacks saw, as text: "[name|filename|file?|ctype]data" per part. */
struct seen {
    char out[1 << 18];
    size_t len;
    int refuse_at; /* part index whose begin refuses; -1 none */
};

static void put(struct seen *s, const char *p, size_t n)
{
    assert_true(s->len + n < sizeof(s->out));
    memcpy(s->out + s->len, p, n);
    s->len += n;
    s->out[s->len] = 0;
}

static int on_begin(void *ud, const struct sh_mp_part *p)
{
    struct seen *s = ud;
    if ((int)p->index == s->refuse_at)
        return 1;
    char b[4096];
    int n = snprintf(b, sizeof(b), "[%s|%s|%d|%s]", p->name, p->filename, p->is_file, p->ctype);
    put(s, b, (size_t)n);
    return 0;
}

static int on_data(void *ud, const char *at, size_t len)
{
    assert_true(len > 0);
    put(ud, at, len);
    return 0;
}

static int on_end(void *ud)
{
    put(ud, ";", 1);
    return 0;
}

static const struct sh_mp_callbacks cbs = {on_begin, on_data, on_end};
static const struct sh_mp_limits lim = {
    .max_parts = 100, .max_header_bytes = 1024, .max_name = 64, .max_filename = 255};

/* Feeds body in pieces cut at a and b (0 <= a <= b <= n; a piece may be
 * empty), each a heap copy; returns feed's or finish's code. */
static int run_split(const char *boundary, const char *body, size_t n, size_t a, size_t b,
                     const struct sh_mp_limits *l, struct seen *s)
{
    char *hdr = malloc(SH_MP_HDRBUF_SIZE(l->max_header_bytes));
    struct sh_multipart m;
    s->len = 0;
    s->out[0] = 0;
    sh_multipart_init(&m, boundary, l, &cbs, s, hdr);
    size_t cuts[] = {0, a, b, n};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        size_t len = cuts[i + 1] - cuts[i];
        char *piece = malloc(len ? len : 1);
        memcpy(piece, body + cuts[i], len);
        rc = sh_multipart_feed(&m, piece, len);
        free(piece);
    }
    if (rc == 0)
        rc = sh_multipart_finish(&m);
    free(hdr);
    return rc;
}

/* Checks body under every split into 2 and 3 pieces and byte by byte:
 * same code and, on success, the same parts as expect. */
static void check_all_splits(const char *boundary, const char *body, size_t n,
                             const struct sh_mp_limits *l, int code, const char *expect)
{
    static struct seen s;
    s.refuse_at = -1;
    size_t sa = n > 400 ? 31 : 1, sb = n > 400 ? 17 : 1; /* long bodies: a sample of splits */
    for (size_t a = 0; a <= n; a += sa)
        for (size_t b = a; b <= n; b += sb) {
            int rc = run_split(boundary, body, n, a, b, l, &s);
            if (rc != code || (code == 0 && strcmp(s.out, expect) != 0))
                fail_msg("split %zu/%zu: rc %d (want %d), parts %s (want %s)", a, b, rc, code,
                         s.out, expect);
        }
    /* byte by byte */
    char *hdr = malloc(SH_MP_HDRBUF_SIZE(l->max_header_bytes));
    struct sh_multipart m;
    s.len = 0;
    s.out[0] = 0;
    sh_multipart_init(&m, boundary, l, &cbs, &s, hdr);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *one = malloc(1);
        *one = body[i];
        rc = sh_multipart_feed(&m, one, 1);
        free(one);
    }
    if (rc == 0)
        rc = sh_multipart_finish(&m);
    free(hdr);
    assert_int_equal(rc, code);
    if (code == 0)
        assert_string_equal(s.out, expect);
}

#define CHECK(b, body, code, expect) check_all_splits(b, body, sizeof(body) - 1, &lim, code, expect)

static void test_browser_body(void **state)
{
    (void)state;
    /* as Chrome and Node's FormData send it, with a field, a file, a JSON payload */
    static const char body[] =
        "------WebKitFormBoundaryx7Yz\r\n"
        "Content-Disposition: form-data; name=\"title\"\r\n"
        "\r\n"
        "hello\r\nworld\r\n"
        "------WebKitFormBoundaryx7Yz\r\n"
        "Content-Disposition: form-data; name=\"doc\"; filename=\"a b.txt\"\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "\r\n--not the boundary\r\n-----WebKitFormBoundaryx7Y\r\r\n\r\n"
        "------WebKitFormBoundaryx7Yz\r\n"
        "content-disposition: form-data; name=\"@jsonPayload\"\r\n"
        "\r\n"
        "{\"n\":1}\r\n"
        "------WebKitFormBoundaryx7Yz--\r\n";
    CHECK("----WebKitFormBoundaryx7Yz", body, 0,
          "[title||0|]hello\r\nworld;"
          "[doc|a b.txt|1|text/plain]\r\n--not the boundary\r\n-----WebKitFormBoundaryx7Y\r\r\n;"
          "[@jsonPayload||0|]{\"n\":1};");
}

static void test_preamble_epilogue_padding_empty(void **state)
{
    (void)state;
    /* preamble and epilogue ignored, transport padding after a delimiter,
     * a part without headers, an empty part, a part that is not form-data */
    static const char body[] = "preamble\r\n--xx \t\r\n"
                               "\r\n"
                               "no headers\r\n"
                               "--xx\r\n"
                               "Content-Disposition: form-data; name=e\r\n"
                               "\r\n"
                               "\r\n"
                               "--xx\r\n"
                               "Content-Disposition: attachment; name=\"z\"\r\n"
                               "\r\n"
                               "skip\r\n"
                               "--xx--epilogue --xx\r\n";
    CHECK("xx", body, 0, "[||0|]no headers;[e||0|];[||0|]skip;");
}

static void test_filenames_quoted_and_rfc5987(void **state)
{
    (void)state;
    static const char body[] =
        "--b\r\n"
        "Content-Disposition: form-data; name=\"f\"; filename=\"q\\\"uo\\\\te.png\"\r\n\r\nA\r\n"
        "--b\r\n"
        "Content-Disposition: form-data; name=f; filename=\"plain.txt\"; "
        "filename*=UTF-8''%C3%A9t%C3%A9%20%E2%82%AC.txt\r\n\r\nB\r\n"
        "--b\r\n"
        "Content-Disposition: form-data; name=f; filename=\"\"\r\n\r\n\r\n"
        "--b\r\n"
        "Content-Disposition: form-data; name=f; filename=\"../../etc/passwd\"\r\n\r\nC\r\n"
        "--b--";
    CHECK("b", body, 0,
          "[f|q\"uo\\te.png|1|]A;[f|\xc3\xa9t\xc3\xa9 \xe2\x82\xac.txt|1|]B;[f||1|];"
          "[f|../../etc/passwd|1|]C;");
}

static void test_repeated_names_kept_in_order(void **state)
{
    (void)state;
    static const char body[] = "--b\r\nContent-Disposition: form-data; name=tags\r\n\r\na\r\n"
                               "--b\r\nContent-Disposition: form-data; name=tags\r\n\r\nb\r\n"
                               "--b\r\nContent-Disposition: form-data; name=tags\r\n\r\na\r\n"
                               "--b--\r\n";
    CHECK("b", body, 0, "[tags||0|]a;[tags||0|]b;[tags||0|]a;");
}

static void test_malformed_bodies(void **state)
{
    (void)state;
    /* no closing delimiter, or none at all */
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nxyz", SH_MP_ETRUNCATED, "");
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nxyz\r\n--b", SH_MP_ETRUNCATED,
          "");
    CHECK("b", "just text", SH_MP_ETRUNCATED, "");
    CHECK("b", "", SH_MP_ETRUNCATED, "");
    /* the boundary inside data without its CRLF is data; with a bad tail it is an error */
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx--b\r\n--bX\r\n",
          SH_MP_ESYNTAX, "");
    CHECK("b", "--b-x", SH_MP_ESYNTAX, "");
    CHECK("b", "--b\r\r\n", SH_MP_ESYNTAX, "");
    /* headers: bare LF, no colon, obs-fold, space before colon, control byte */
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a\n\r\n\r\n--b--", SH_MP_ESYNTAX, "");
    CHECK("b", "--b\r\nno colon here\r\n\r\nx\r\n--b--", SH_MP_ESYNTAX, "");
    CHECK("b", "--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b--", SH_MP_ESYNTAX,
          "");
    CHECK("b", "--b\r\nContent-Disposition : form-data; name=a\r\n\r\nx\r\n--b--", SH_MP_ESYNTAX,
          "");
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=\"a\x01\"\r\n\r\nx\r\n--b--",
          SH_MP_ESYNTAX, "");
    /* disposition parameters: unterminated quote, no '=', repeated name */
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b--", SH_MP_ESYNTAX,
          "");
    CHECK("b", "--b\r\nContent-Disposition: form-data; name\r\n\r\nx\r\n--b--", SH_MP_ESYNTAX, "");
    CHECK("b", "--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--b--",
          SH_MP_ESYNTAX, "");
    CHECK("b",
          "--b\r\nContent-Disposition: form-data; name=a\r\n"
          "Content-Disposition: form-data; name=b\r\n\r\nx\r\n--b--",
          SH_MP_ESYNTAX, "");
}

static void test_bad_filename_encodings(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "filename=\"\xff\xfe.png\"",        /* not UTF-8 */
        "filename=\"\xc0\xaf.png\"",        /* overlong '/' */
        "filename=\"\xed\xa0\x80.png\"",    /* a surrogate */
        "filename=\"a\xe2\x82.png\"",       /* truncated sequence */
        "filename*=UTF-8''%ff.png",         /* decodes to invalid UTF-8 */
        "filename*=UTF-8''a%00b.png",       /* NUL */
        "filename*=UTF-8''a%zz.png",        /* bad escape */
        "filename*=UTF-8''a%4",             /* truncated escape */
        "filename*=ISO-8859-1''caf%E9.txt", /* another charset */
        "filename*=caf%C3%A9.txt",          /* no charset'lang' */
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        char body[512];
        int n =
            snprintf(body, sizeof(body),
                     "--b\r\nContent-Disposition: form-data; name=f; %s\r\n\r\nx\r\n--b--", bad[i]);
        check_all_splits("b", body, (size_t)n, &lim, SH_MP_EFILENAME, "");
    }
}

static void test_limits_names_and_headers(void **state)
{
    (void)state;
    struct sh_mp_limits l = lim;
    char body[8192];
    /* a name of max_name bytes passes, one more fails */
    char name[80];
    memset(name, 'n', 65);
    name[64] = 0;
    int n = snprintf(body, sizeof(body),
                     "--b\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\nv\r\n--b--", name);
    char expect[128];
    snprintf(expect, sizeof(expect), "[%s||0|]v;", name);
    check_all_splits("b", body, (size_t)n, &l, 0, expect);
    name[64] = 'n';
    name[65] = 0;
    n = snprintf(body, sizeof(body),
                 "--b\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\nv\r\n--b--", name);
    check_all_splits("b", body, (size_t)n, &l, SH_MP_ENAME, "");
    /* a file name past max_filename (a 1000-character name) */
    char fn[1001];
    memset(fn, 'a', 1000);
    fn[1000] = 0;
    l.max_header_bytes = 4096;
    n = snprintf(body, sizeof(body),
                 "--b\r\nContent-Disposition: form-data; name=f; filename=\"%s\"\r\n\r\nv\r\n--b--",
                 fn);
    check_all_splits("b", body, (size_t)n, &l, SH_MP_EFILENAME, "");
    l.max_filename = 1000;
    char *want = malloc(2048);
    snprintf(want, 2048, "[f|%s|1|]v;", fn);
    check_all_splits("b", body, (size_t)n, &l, 0, want);
    free(want);
    /* a header block past max_header_bytes, however it arrives */
    l = lim;
    l.max_header_bytes = 100;
    n = snprintf(body, sizeof(body),
                 "--b\r\nContent-Disposition: form-data; name=a\r\nX-Pad: %0100d\r\n\r\nv\r\n--b--",
                 0);
    check_all_splits("b", body, (size_t)n, &l, SH_MP_EHEADER, "");
    /* a header block that never ends */
    size_t big = 6000;
    char *huge = malloc(big + 16);
    memcpy(huge, "--b\r\n", 5);
    memset(huge + 5, 'x', big);
    check_all_splits("b", huge, big + 5, &lim, SH_MP_EHEADER, "");
    free(huge);
}

/* 10 000 parts: refused at the limit (fed in one piece and in 1000-byte
 * pieces), and all read when the limit allows them. */
static void test_ten_thousand_parts(void **state)
{
    (void)state;
    static const char part[] = "--b\r\nContent-Disposition: form-data; name=k\r\n\r\nv\r\n";
    size_t plen = sizeof(part) - 1, n = 10000 * plen + 5;
    char *body = malloc(n + 1);
    for (size_t i = 0; i < 10000; i++)
        memcpy(body + i * plen, part, plen);
    memcpy(body + 10000 * plen, "--b--", 5);
    static struct seen s;
    s.refuse_at = -1;
    struct sh_mp_limits l = lim;
    l.max_parts = 1000;
    assert_int_equal(run_split("b", body, n, 0, n, &l, &s), SH_MP_EPARTS);
    assert_int_equal(run_split("b", body, n, 5000, 1000 * plen + 3, &l, &s), SH_MP_EPARTS);
    /* exactly 1000 parts pass */
    memcpy(body + 1000 * plen, "--b--", 5);
    assert_int_equal(run_split("b", body, 1000 * plen + 5, 17, 4000, &l, &s), 0);
    l.max_parts = 10000;
    memcpy(body + 1000 * plen, part, plen);
    assert_int_equal(run_split("b", body, n, 333, n / 2, &l, &s), 0);
    assert_int_equal(s.len, 10000 * strlen("[k||0|]v;"));
    free(body);
}

/* A large part: its bytes come back exactly, in pieces, whatever the split,
 * including data full of near-delimiters. */
static void test_large_part_exact(void **state)
{
    (void)state;
    size_t dn = 50000;
    const char *head = "--bnd\r\nContent-Disposition: form-data; name=f; filename=x.bin\r\n\r\n";
    size_t hn = strlen(head);
    char *body = malloc(hn + dn + 16);
    memcpy(body, head, hn);
    uint32_t x = 12345;
    for (size_t i = 0; i < dn; i++) {
        x = x * 1103515245 + 12345;
        static const char alpha[] = "\r\n-bnd";
        body[hn + i] = alpha[(x >> 16) % 6];
    }
    memcpy(body + hn + dn, "\r\n--bnd--", 9);
    size_t n = hn + dn + 9;
    /* the data must not hold the delimiter itself: break each one */
    for (char *d; (d = memmem(body + hn, dn, "\r\n--bnd", 7));)
        d[6] = 'x';
    assert_null(memmem(body + hn, dn, "\r\n--bnd", 7));
    static struct seen s;
    s.refuse_at = -1;
    size_t cuts[][2] = {{0, n}, {hn + 1, hn + 2}, {n - 8, n - 3}, {n / 3, 2 * n / 3}};
    for (size_t c = 0; c < SH_ARRAY_LEN(cuts); c++) {
        assert_int_equal(run_split("bnd", body, n, cuts[c][0], cuts[c][1], &lim, &s), 0);
        size_t pre = strlen("[f|x.bin|1|]");
        assert_int_equal(s.len, pre + dn + 1);
        assert_memory_equal(s.out + pre, body + hn, dn);
    }
    free(body);
}

static void test_callback_refusal_stops(void **state)
{
    (void)state;
    static const char body[] = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
                               "--b\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n--b--";
    static struct seen s;
    s.refuse_at = 1;
    char hdr[SH_MP_HDRBUF_SIZE(1024)];
    struct sh_multipart m;
    sh_multipart_init(&m, "b", &lim, &cbs, &s, hdr);
    s.len = 0;
    assert_int_equal(sh_multipart_feed(&m, body, sizeof(body) - 1), SH_MP_ECALLBACK);
    assert_string_equal(s.out, "[a||0|]1;");
    assert_int_equal(sh_multipart_feed(&m, "x", 1), SH_MP_ECALLBACK); /* sticky */
    assert_int_equal(sh_multipart_finish(&m), SH_MP_ECALLBACK);
}

static void test_boundary_parameter(void **state)
{
    (void)state;
    char b[SH_MP_MAX_BOUNDARY + 1];
    const char *ok[][2] = {
        {"multipart/form-data; boundary=abc", "abc"},
        {"Multipart/Form-Data;boundary=\"a b:c\"", "a b:c"},
        {"multipart/form-data; charset=utf-8; boundary=----x", "----x"},
        {"multipart/form-data; boundary=\"0123456789012345678901234567890123456789012345678901234"
         "567890123456789\"",
         "0123456789012345678901234567890123456789012345678901234567890123456789"},
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(ok); i++) {
        assert_int_equal(sh_multipart_boundary(ok[i][0], strlen(ok[i][0]), b), 0);
        assert_string_equal(b, ok[i][1]);
    }
    const char *bad[] = {
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"ends with space \"",
        "multipart/form-data; boundary=\"bad\x01\"",
        "multipart/form-data; boundary=\"unterminated",
        "multipart/form-data; boundary=a; boundary=b",
        "multipart/mixed; boundary=abc",
        "application/json; boundary=abc",
        ("multipart/form-data; boundary=\"01234567890123456789012345678901234567890123456789012345"
         "6789012345678901\""),
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++)
        assert_int_equal(sh_multipart_boundary(bad[i], strlen(bad[i]), b), SH_MP_EBOUNDARY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_browser_body),
        cmocka_unit_test(test_preamble_epilogue_padding_empty),
        cmocka_unit_test(test_filenames_quoted_and_rfc5987),
        cmocka_unit_test(test_repeated_names_kept_in_order),
        cmocka_unit_test(test_malformed_bodies),
        cmocka_unit_test(test_bad_filename_encodings),
        cmocka_unit_test(test_limits_names_and_headers),
        cmocka_unit_test(test_ten_thousand_parts),
        cmocka_unit_test(test_large_part_exact),
        cmocka_unit_test(test_callback_refusal_stops),
        cmocka_unit_test(test_boundary_parameter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
