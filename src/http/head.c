/*
 * The request-head validator (see head.h): a strict RFC 9112 check of the
 * request line and header lines, run before llhttp sees the bytes. Each line
 * is scanned once with a 256-entry class table; a line that is still
 * incomplete is checked as far as it goes (so a bare LF, a bad byte or an
 * over-long target is reported as soon as it arrives) and the next call
 * resumes where that check stopped, so even one long line trickled byte by
 * byte costs linear time. No allocation, no strlen: this runs on every request.
 */
#include "head.h"

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_SKIP   8                   /* empty lines tolerated before the request line */
#define CL_MAX     ((uint64_t)1 << 62) /* larger Content-Length values are rejected */
#define VERSION_SZ 8                   /* "HTTP/1.1" */

enum {
    C_TCHAR = 1, /* token character (RFC 9110 §5.6.2) */
    C_VCHAR = 2, /* visible ASCII 0x21-0x7E */
    C_FVAL = 4,  /* field-value byte: VCHAR, obs-text, SP, HTAB */
};

#define T (C_TCHAR | C_VCHAR | C_FVAL)
#define V (C_VCHAR | C_FVAL)
#define O C_FVAL
/* clang-format off */
static const unsigned char cls[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, O, 0, 0, 0, 0, 0, 0, /* 0x00: HTAB only */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    O, T, V, T, T, T, T, T, V, V, T, T, V, T, T, V, /* SP ! " # $ % & ' ( ) * + , - . / */
    T, T, T, T, T, T, T, T, T, T, V, V, V, V, V, V, /* 0-9 : ; < = > ? */
    V, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, /* @ A-O */
    T, T, T, T, T, T, T, T, T, T, T, V, V, V, T, T, /* P-Z [ \ ] ^ _ */
    T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, /* ` a-o */
    T, T, T, T, T, T, T, T, T, T, T, V, T, V, T, 0, /* p-z { | } ~ DEL */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, /* 0x80-0xFF: obs-text */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
};
/* clang-format on */
#undef T
#undef V
#undef O

/*
 * Line checkers return 1 (line complete and valid, *next is the offset after
 * its CRLF), 0 (line incomplete, valid so far: resumed on the next call) or
 * -1 (st->status set).
 */

static int fail(struct sh_head_state *st, int status, const char *reason)
{
    st->status = status;
    st->reason = reason;
    return -1;
}

/* A scan stopped at *p where the grammar wants something else: a bare LF or
 * bare CR is named as such, since that is the likelier mistake. */
static int fail_at(struct sh_head_state *st, const unsigned char *p, const unsigned char *end,
                   const char *reason)
{
    if (*p == '\n')
        reason = "Line ends in a bare LF, not CRLF.";
    else if (*p == '\r' && p + 1 < end && p[1] != '\n')
        reason = "Bare CR not followed by LF.";
    return fail(st, 400, reason);
}

/* *p is CR or LF where a line may end. 1: CRLF; 0: CR is the last byte so far. */
static int line_end(struct sh_head_state *st, const unsigned char *p, const unsigned char *end)
{
    if (*p == '\n')
        return fail(st, 400, "Line ends in a bare LF, not CRLF.");
    if (p + 1 == end)
        return 0;
    if (p[1] != '\n')
        return fail(st, 400, "Bare CR not followed by LF.");
    return 1;
}

static int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* ASCII case-insensitive comparison of n bytes with a lower-case literal. */
static int ieq(const unsigned char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)lit[i])
            return 0;
    }
    return 1;
}

/* The current line is incomplete: the next call resumes at p, in the part
 * recorded by sep1/sep2, so a line trickled byte by byte is checked once. */
static int suspend(struct sh_head_state *st, const unsigned char *b, const unsigned char *p)
{
    st->scan = (size_t)(p - b);
    return 0;
}

/* The first byte at or after p that is not VCHAR (0x21-0x7E), or end: a
 * request target, sixteen bytes at a time with SSE2 while that many are
 * there, then byte by byte. */
static const unsigned char *skip_vchar(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
    /* signed bytes: 0x80-0xFF are negative, so they fail "above 0x20" */
    const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7F);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(x, sp), _mm_cmplt_epi8(x, del));
        unsigned m = (unsigned)_mm_movemask_epi8(ok) ^ 0xFFFFu;
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (p < end && (cls[*p] & C_VCHAR))
        p++;
    return p;
}

static int request_line(struct sh_head_state *st, const unsigned char *b, size_t pos, size_t len,
                        const struct sh_head_limits *lim, size_t *next)
{
    const unsigned char *end = b + len, *m = b + pos;
    const unsigned char *p = b + (st->scan > pos ? st->scan : pos);

    if (!st->sep1) {
        while (p < end && (cls[*p] & C_TCHAR))
            p++;
        if (p == end)
            return suspend(st, b, p);
        if (p == m || *p != ' ')
            return fail_at(st, p, end, "Request method is not a token.");
        if (p - m == 7 && memcmp(m, "CONNECT", 7) == 0)
            return fail(st, 400, "CONNECT is not supported.");
        st->sep1 = (size_t)(++p - b);
    }

    if (!st->sep2) {
        /* Scan at most max_url + 1 bytes of target: enough to know it is too long. */
        const unsigned char *t = b + st->sep1;
        const unsigned char *tend = (size_t)(end - t) > lim->max_url ? t + lim->max_url + 1 : end;
        p = skip_vchar(p, tend);
        if ((size_t)(p - t) > lim->max_url)
            return fail(st, 414, "Request target is too long.");
        if (p == end)
            return suspend(st, b, p);
        if (p == t)
            return fail_at(st, p, end,
                           *p == ' ' ? "Request line has two spaces in a row."
                                     : "Request target is missing or has an invalid byte.");
        if (*p != ' ')
            return fail_at(st, p, end,
                           *p == '\r' ? "Request line has no HTTP version."
                                      : "Request target has an invalid byte.");
        st->sep2 = (size_t)(++p - b);
    }

    const unsigned char *v = b + st->sep2;
    if (p == v && end - v >= VERSION_SZ + 2 && memcmp(v, "HTTP/1.1\r\n", VERSION_SZ + 2) == 0) {
        /* the version nearly every request has: the checks below, at once */
        st->http_minor = 1;
        *next = (size_t)(v + VERSION_SZ + 2 - b);
        st->rl_sp1 = st->sep1 - 1;
        st->rl_sp2 = st->sep2 - 1;
        st->rl_end = *next;
        return 1;
    }
    const unsigned char *vend = (size_t)(end - v) > VERSION_SZ ? v + VERSION_SZ + 1 : end;
    while (p < vend && (cls[*p] & C_VCHAR))
        p++;
    if (p - v > VERSION_SZ)
        return fail(st, 400, "Request line has an invalid HTTP version.");
    if (p == end)
        return suspend(st, b, p);
    if (*p != '\r' && *p != '\n')
        return fail(st, 400, "Request line has an invalid HTTP version.");
    int rc = line_end(st, p, end);
    if (rc <= 0)
        return rc < 0 ? rc : suspend(st, b, p);

    if (p - v == VERSION_SZ && memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '0' || v[7] == '1')) {
        st->http_minor = v[7] - '0';
    } else if (p - v == VERSION_SZ && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
               v[5] != '1' && v[6] == '.' && v[7] >= '0' && v[7] <= '9') {
        return fail(st, 505, "HTTP version is not supported.");
    } else {
        return fail(st, 400, "Request line has an invalid HTTP version.");
    }
    *next = (size_t)(p + 2 - b);
    st->rl_sp1 = st->sep1 - 1;
    st->rl_sp2 = st->sep2 - 1;
    st->rl_end = *next;
    return 1;
}

static int content_length(struct sh_head_state *st, const unsigned char *v, const unsigned char *ve)
{
    uint64_t n = 0;

    if (st->has_content_length)
        return fail(st, 400, "Content-Length appears more than once.");
    if (st->chunked || st->te_other)
        return fail(st, 400, "Both Transfer-Encoding and Content-Length are present.");
    if (v == ve)
        return fail(st, 400, "Content-Length is not a number.");
    for (; v < ve; v++) {
        if (*v < '0' || *v > '9')
            return fail(st, 400, "Content-Length is not a number.");
        unsigned d = (unsigned)(*v - '0');
        if (n > (CL_MAX - d) / 10)
            return fail(st, 400, "Content-Length is too large.");
        n = n * 10 + d;
    }
    st->has_content_length = 1;
    st->content_length = n;
    return 1;
}

/* Several Transfer-Encoding lines form one list, so state carries over:
 * te_other records codings seen before; chunked must come last, once. */
static int transfer_encoding(struct sh_head_state *st, const unsigned char *p,
                             const unsigned char *ve)
{
    if (st->http_minor == 0)
        return fail(st, 400, "Transfer-Encoding is not allowed in HTTP/1.0.");
    if (st->has_content_length)
        return fail(st, 400, "Both Transfer-Encoding and Content-Length are present.");
    for (;;) {
        const unsigned char *t = p;
        while (p < ve && (cls[*p] & C_TCHAR))
            p++;
        if (p == t)
            return fail(st, 400, "Transfer-Encoding is not a list of codings.");
        if (st->chunked)
            return fail(st, 400, "Transfer-Encoding has a coding after chunked.");
        if (p - t == 7 && ieq(t, "chunked", 7))
            st->chunked = 1;
        else
            st->te_other = 1;
        while (p < ve && is_ows(*p))
            p++;
        if (p == ve)
            return 1;
        if (*p != ',')
            return fail(st, 400, "Transfer-Encoding is not a list of codings.");
        p++;
        while (p < ve && is_ows(*p))
            p++;
    }
}

/* Connection is a comma list of tokens; only close and keep-alive matter
 * (llhttp 8.1 does not trim trailing whitespace, so the validator decides). */
static void connection(struct sh_head_state *st, const unsigned char *p, const unsigned char *ve)
{
    while (p < ve) {
        while (p < ve && (is_ows(*p) || *p == ','))
            p++;
        const unsigned char *t = p;
        while (p < ve && *p != ',' && !is_ows(*p))
            p++;
        if (p - t == 5 && ieq(t, "close", 5))
            st->conn_close = 1;
        else if (p - t == 10 && ieq(t, "keep-alive", 10))
            st->conn_keep_alive = 1;
    }
}

/* Acts on the fields whose meaning the validator needs; v..ve is OWS-trimmed. */
static int field(struct sh_head_state *st, const unsigned char *name, size_t nlen,
                 const unsigned char *v, const unsigned char *ve)
{
    switch (nlen) {
    case 4:
        if (!ieq(name, "host", 4))
            break;
        if (st->has_host)
            return fail(st, 400, "Host appears more than once.");
        for (const unsigned char *p = v; p < ve; p++)
            if (!(cls[*p] & C_VCHAR))
                return fail(st, 400, "Host has an invalid byte.");
        st->has_host = 1;
        break;
    case 6:
        if (ieq(name, "expect", 6) && ve - v == 12 && ieq(v, "100-continue", 12))
            st->expect_continue = 1;
        break;
    case 10:
        if (ieq(name, "connection", 10))
            connection(st, v, ve);
        break;
    case 14:
        if (ieq(name, "content-length", 14))
            return content_length(st, v, ve);
        break;
    case 17:
        if (ieq(name, "transfer-encoding", 17))
            return transfer_encoding(st, v, ve);
        break;
    default:
        break;
    }
    return 1;
}

/* The first byte at or after p that is not a field-value byte, or end.
 * Sixteen bytes at a time with SSE2 (every x86-64 has it), else eight with
 * a SWAR test, while none of them is below 0x20 or DEL; the block with one
 * of them, HTAB included, goes byte by byte from it. Header values are the
 * longest part of most heads (tokens, user agents, cookies). */
static const unsigned char *skip_field_value(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
    /* signed bytes: 0x80-0xFF are negative, so "below 0x20 and not
     * negative" is exactly the control range */
    const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7F), zero = _mm_setzero_si128();
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i ctl = _mm_andnot_si128(_mm_cmplt_epi8(x, zero), _mm_cmplt_epi8(x, sp));
        int m = _mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(x, del)));
        if (m) {
            p += __builtin_ctz((unsigned)m);
            break;
        }
        p += 16;
    }
#else
    /* a byte below n borrows into its own high bit, which a byte of 0x80 or
     * more has set already, so only those it cannot be are counted */
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    while (end - p >= 8) {
        uint64_t x, y;
        memcpy(&x, p, sizeof(x));
        y = x ^ (ones * 0x7F);
        if (((x - ones * 0x20) & ~x & high) | ((y - ones) & ~y & high))
            break;
        p += 8;
    }
#endif
    while (p < end && (cls[*p] & C_FVAL))
        p++;
    return p;
}

static int field_line(struct sh_head_state *st, const unsigned char *b, size_t pos, size_t len,
                      size_t *next)
{
    const unsigned char *end = b + len, *name = b + pos;
    const unsigned char *p = b + (st->scan > pos ? st->scan : pos);

    if (!st->sep1) {
        if (p == name && is_ows(*p))
            return fail(st, 400, "Header line starts with whitespace (obs-fold).");
        while (p < end && (cls[*p] & C_TCHAR))
            p++;
        if (p == end)
            return suspend(st, b, p);
        if (p == name)
            return fail_at(st, p, end, "Header name is empty or has an invalid byte.");
        if (*p != ':') {
            if (is_ows(*p))
                return fail(st, 400, "Whitespace before the colon in a header line.");
            return fail_at(st, p, end,
                           *p == '\r' ? "Header line has no colon."
                                      : "Header name has an invalid byte.");
        }
        st->sep1 = (size_t)(++p - b);
    }

    p = skip_field_value(p, end); /* OWS included */
    if (p == end)
        return suspend(st, b, p);
    if (*p != '\r' && *p != '\n')
        return fail(st, 400, "Header value has a control byte.");
    int rc = line_end(st, p, end);
    if (rc <= 0)
        return rc < 0 ? rc : suspend(st, b, p);
    *next = (size_t)(p + 2 - b);

    const unsigned char *v = b + st->sep1, *ve = p;
    while (v < ve && is_ows(*v))
        v++;
    while (ve > v && is_ows(ve[-1]))
        ve--;
    st->nheaders++;
    return field(st, name, st->sep1 - 1 - pos, v, ve);
}

/* The empty line ending the head has arrived: checks that need every field. */
static enum sh_head_result finish(struct sh_head_state *st, size_t head_len)
{
    if (st->http_minor == 1 && !st->has_host) {
        fail(st, 400, "Host is missing.");
        return SH_HEAD_ERROR;
    }
    if (st->te_other) {
        if (st->chunked)
            fail(st, 501, "Transfer coding is not implemented.");
        else
            fail(st, 400, "Transfer-Encoding does not end in chunked.");
        return SH_HEAD_ERROR;
    }
    st->pos = head_len;
    st->head_len = head_len;
    return SH_HEAD_DONE;
}

void sh_head_init(struct sh_head_state *st)
{
    memset(st, 0, sizeof(*st));
}

enum sh_head_result sh_head_feed(struct sh_head_state *st, const char *buf, size_t len,
                                 const struct sh_head_limits *lim)
{
    const unsigned char *b = (const unsigned char *)buf;

    if (st->status)
        return SH_HEAD_ERROR;
    if (st->head_len)
        return SH_HEAD_DONE;

    while (st->pos < len) {
        size_t pos = st->pos, next = 0;
        int rc;

        if (b[pos] == '\r' || b[pos] == '\n') {
            /* An empty line: before the request line it is skipped, after it
             * it ends the head. */
            rc = line_end(st, b + pos, b + len);
            if (rc < 0)
                return SH_HEAD_ERROR;
            if (rc == 0)
                break;
            if (pos + 2 > lim->max_head) {
                fail(st, 431, "Request head is too large.");
                return SH_HEAD_ERROR;
            }
            if (st->line > 0)
                return finish(st, pos + 2);
            if (++st->skip > MAX_SKIP) {
                fail(st, 400, "Too many empty lines before the request line.");
                return SH_HEAD_ERROR;
            }
            st->pos = pos + 2;
            continue;
        }

        if (st->line == 0) {
            rc = request_line(st, b, pos, len, lim, &next);
        } else if (st->nheaders >= lim->max_headers) {
            fail(st, 431, "Too many header fields.");
            return SH_HEAD_ERROR;
        } else {
            rc = field_line(st, b, pos, len, &next);
        }
        if (rc < 0)
            return SH_HEAD_ERROR;
        if (rc == 0)
            break;
        if (next > lim->max_head) {
            fail(st, 431, "Request head is too large.");
            return SH_HEAD_ERROR;
        }
        st->line++;
        st->pos = next;
        st->scan = st->sep1 = st->sep2 = 0;
    }

    /* Everything received belongs to the unfinished head. */
    if (len > lim->max_head) {
        fail(st, 431, "Request head is too large.");
        return SH_HEAD_ERROR;
    }
    return SH_HEAD_MORE;
}
