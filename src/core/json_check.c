/*
 * A validating pass over JSON text before cJSON sees it. cJSON 1.7 is
 * lenient where RFC 8259 is not (it takes `012`, `1.`, `-.5`, raw tabs and
 * newlines in strings, `\uqqqq`, lone surrogates, invalid UTF-8, and stops
 * at the end of the first value so `{"a":1}{"a":2}` passes as the first), so
 * every text a client sends goes through this single-purpose checker first:
 * the RFC's grammar exactly, UTF-8 per RFC 3629 (no overlong forms, no
 * surrogates, nothing past U+10FFFF), no U+0000 in strings, and a nesting
 * limit. It keeps no tree and allocates nothing: containers are tracked in a
 * bit stack (1 = object) of at most SH_JSON_MAX_DEPTH_LIMIT levels, so its
 * memory is constant and its time one pass over the bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "json_int.h"
#include "stagehand/json.h"

struct scan {
    const unsigned char *p, *end, *start;
    struct sh_json_error *err;
    size_t long_numbers; /* numbers of more than SH__JSON_NUMBER_MAX characters */
};

static int fail(struct scan *s, int code, const unsigned char *at)
{
    if (s->err) {
        s->err->code = code;
        s->err->offset = (size_t)(at - s->start);
    }
    return code;
}

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p (p + 4 <= end checked by the caller); -1 if not. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* One UTF-8 sequence starting at s->p (a byte >= 0x80), RFC 3629 table 4. */
static int utf8(struct scan *s)
{
    const unsigned char *p = s->p;
    unsigned char c = *p;
    unsigned char lo = 0x80, hi = 0xBF;
    int more;
    if (c >= 0xC2 && c <= 0xDF) {
        more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        more = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* U+D800..U+DFFF: surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        more = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else {
        return fail(s, SH_JSON_EUTF8, p); /* continuation byte, C0/C1 overlong, F5..FF */
    }
    if (s->end - p <= more)
        return fail(s, SH_JSON_EUTF8, p);
    if (p[1] < lo || p[1] > hi)
        return fail(s, SH_JSON_EUTF8, p);
    for (int i = 2; i <= more; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return fail(s, SH_JSON_EUTF8, p);
    s->p = p + more + 1;
    return 0;
}

/* A \u escape at s->p (pointing at the backslash): four hex digits, not
 * U+0000, and a high surrogate only when a \u low surrogate follows. */
static int escape_u(struct scan *s)
{
    const unsigned char *at = s->p;
    if (s->end - at < 6)
        return fail(s, SH_JSON_EESCAPE, at);
    long cp = hex4(at + 2);
    if (cp < 0)
        return fail(s, SH_JSON_EESCAPE, at);
    if (cp == 0)
        return fail(s, SH_JSON_ENUL, at);
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(s, SH_JSON_EESCAPE, at); /* a low surrogate first */
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (s->end - at < 12 || at[6] != '\\' || at[7] != 'u')
            return fail(s, SH_JSON_EESCAPE, at);
        long lo = hex4(at + 8);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(s, SH_JSON_EESCAPE, at);
        s->p = at + 12;
        return 0;
    }
    s->p = at + 6;
    return 0;
}

/* Whether the 8 bytes at p are all printable ASCII other than '"' and '\\'
 * (the usual content of a string), tested a word at a time: for x < 0x80,
 * (x - n) & ~x has its high bit set exactly when x < n. */
static bool plain8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t v, q, b;
    memcpy(&v, p, 8);
    q = v ^ (ones * '"');
    b = v ^ (ones * '\\');
    return !((((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b) | v) & high);
}

/* A string at s->p (pointing at the opening quote). */
static int string(struct scan *s)
{
    s->p++;
    for (;;) {
        /* the common case: printable ASCII, a word, then a byte at a time */
        while (s->end - s->p >= 8 && plain8(s->p))
            s->p += 8;
        while (s->p < s->end && *s->p >= 0x20 && *s->p < 0x80 && *s->p != '"' && *s->p != '\\')
            s->p++;
        if (s->p >= s->end)
            return fail(s, SH_JSON_ESYNTAX, s->p); /* unterminated */
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return fail(s, SH_JSON_ECTRL, s->p);
        if (c >= 0x80) {
            int rc = utf8(s);
            if (rc)
                return rc;
            continue;
        }
        /* a backslash */
        if (s->end - s->p < 2)
            return fail(s, SH_JSON_ESYNTAX, s->p);
        switch (s->p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            s->p += 2;
            break;
        case 'u': {
            int rc = escape_u(s);
            if (rc)
                return rc;
            break;
        }
        default:
            return fail(s, SH_JSON_EESCAPE, s->p);
        }
    }
}

static bool digit(const struct scan *s)
{
    return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

/* number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT ).
 * Numbers longer than cJSON reads are counted (json_parse.c shortens them);
 * the range is checked on the parsed tree. */
static int number(struct scan *s)
{
    const unsigned char *start = s->p;
    if (*s->p == '-')
        s->p++;
    if (!digit(s))
        return fail(s, SH_JSON_ESYNTAX, s->p);
    if (*s->p == '0') {
        s->p++;
        if (digit(s))
            return fail(s, SH_JSON_ESYNTAX, s->p); /* a leading zero: 012, -01 */
    } else {
        while (digit(s))
            s->p++;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digit(s))
            return fail(s, SH_JSON_ESYNTAX, s->p); /* 1. and 2.e3 */
        while (digit(s))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digit(s))
            return fail(s, SH_JSON_ESYNTAX, s->p);
        while (digit(s))
            s->p++;
    }
    if (s->p - start > SH__JSON_NUMBER_MAX)
        s->long_numbers++;
    return 0;
}

static int literal(struct scan *s, const char *word, size_t len)
{
    if ((size_t)(s->end - s->p) < len)
        return fail(s, SH_JSON_ESYNTAX, s->p);
    for (size_t i = 0; i < len; i++)
        if (s->p[i] != (unsigned char)word[i])
            return fail(s, SH_JSON_ESYNTAX, s->p + i);
    s->p += len;
    return 0;
}

/* A key and its colon, at s->p (which must be a quote), then whitespace. */
static int key(struct scan *s)
{
    if (s->p >= s->end || *s->p != '"')
        return fail(s, SH_JSON_ESYNTAX, s->p);
    int rc = string(s);
    if (rc)
        return rc;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
        return fail(s, SH_JSON_ESYNTAX, s->p);
    s->p++;
    skip_ws(s);
    return 0;
}

int sh_json_check(const char *text, size_t n, unsigned max_depth, struct sh_json_error *err)
{
    size_t ignored;
    return sh__json_check(text, n, max_depth, err, &ignored);
}

int sh__json_check(const char *text, size_t n, unsigned max_depth, struct sh_json_error *err,
                   size_t *long_numbers)
{
    struct scan sc = {(const unsigned char *)text, (const unsigned char *)text + n,
                      (const unsigned char *)text, err, 0};
    struct scan *s = &sc;
    uint64_t objects[SH_JSON_MAX_DEPTH_LIMIT / 64 + 1] = {0}; /* bit d: level d is an object */
    unsigned depth = 0;
    int rc;
    if (err) {
        err->code = 0;
        err->offset = 0;
    }
    if (max_depth > SH_JSON_MAX_DEPTH_LIMIT)
        max_depth = SH_JSON_MAX_DEPTH_LIMIT;
    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, SH_JSON_EEMPTY, s->p);

value:
    if (s->p >= s->end)
        return fail(s, SH_JSON_ESYNTAX, s->p);
    switch (*s->p) {
    case '{':
    case '[': {
        bool obj = *s->p == '{';
        if (depth >= max_depth)
            return fail(s, SH_JSON_EDEPTH, s->p);
        if (obj)
            objects[depth / 64] |= (uint64_t)1 << (depth % 64);
        else
            objects[depth / 64] &= ~((uint64_t)1 << (depth % 64));
        depth++;
        s->p++;
        skip_ws(s);
        if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
            s->p++;
            depth--;
            goto after;
        }
        if (obj && (rc = key(s)) != 0)
            return rc;
        goto value;
    }
    case '"':
        rc = string(s);
        break;
    case 't':
        rc = literal(s, "true", 4);
        break;
    case 'f':
        rc = literal(s, "false", 5);
        break;
    case 'n':
        rc = literal(s, "null", 4);
        break;
    default: {
        const unsigned char *at = s->p;
        if (*at == '-' || (*at >= '0' && *at <= '9'))
            rc = number(s);
        else if (*at >= 0x80 && (rc = utf8(s)) != 0)
            ; /* invalid UTF-8 outside a string: say so */
        else
            rc = fail(s, SH_JSON_ESYNTAX, at);
        break;
    }
    }
    if (rc)
        return rc;

after:
    skip_ws(s);
    if (depth == 0) {
        if (s->p != s->end)
            return fail(s, SH_JSON_ETRAILING, s->p);
        *long_numbers = s->long_numbers;
        return 0;
    }
    if (s->p >= s->end)
        return fail(s, SH_JSON_ESYNTAX, s->p);
    bool obj = (objects[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
    if (*s->p == ',') {
        s->p++;
        skip_ws(s);
        if (obj && (rc = key(s)) != 0)
            return rc;
        goto value;
    }
    if (*s->p == (obj ? '}' : ']')) {
        s->p++;
        depth--;
        goto after;
    }
    return fail(s, SH_JSON_ESYNTAX, s->p);
}
