/*
 * JSON text written straight into a buffer, for records read from SQLite:
 * the list and view responses are the hot path of the records API, and
 * building a cJSON tree per row only to print it cost more than the query
 * (a malloc per value, cJSON's number printing through sprintf + sscanf).
 *
 * The output is what PocketBase (Go's encoding/json) sends for the same
 * values, as far as JSON can tell the difference:
 *  - strings: `"` and `\` escaped, \b \f \n \r \t, other bytes below 0x20
 *    as \u00XX; everything else (UTF-8 included) verbatim, as cJSON wrote it.
 *  - numbers: a float64 the way Go formats it: integral values without a
 *    decimal point, other values with the shortest digits that read back to
 *    the same double, exponent form below 1e-6 and from 1e21 on ("1e+21",
 *    "1e-7"); -0 is "-0". NaN and infinities are never stored (validation
 *    refuses them); they print as null rather than as invalid JSON.
 *  - JSON column text is spliced verbatim once sh__json_valid accepted it
 *    (it was printed by cJSON when stored).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/records.h"

static bool needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* Whether any of the 8 bytes of v is below 0x20, '"' or '\' (the classic
 * bit tricks: a byte minus 0x20, or a byte XOR the character minus 1, sets
 * its high bit through the borrow only if the byte was smaller). */
static bool needs_escape8(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t lt = (v - 0x20 * ones) & ~v;
    uint64_t q = v ^ (0x22 * ones), bs = v ^ (0x5c * ones);
    q = (q - ones) & ~q;
    bs = (bs - ones) & ~bs;
    return ((lt | q | bs) & highs) != 0;
}

/* The index of the first byte from i on that needs an escape, or len. */
static size_t next_escape(const char *s, size_t i, size_t len)
{
    for (;;) {
        for (uint64_t v; i + 8 <= len; i += 8) {
            memcpy(&v, s + i, 8);
            if (needs_escape8(v))
                break;
        }
        size_t stop = i + 8 <= len ? i + 8 : len;
        for (; i < stop; i++)
            if (needs_escape((unsigned char)s[i]))
                return i;
        if (i >= len)
            return len;
    }
}

void sh__json_str(struct sh_buf *b, const char *s, size_t len)
{
    /* Reserve for the common case (nothing to escape); escapes grow it. */
    if (b->cap - b->len < len + 2)
        sh_buf_reserve(b, len + 2);
    b->data[b->len++] = '"';
    size_t run = 0;
    for (size_t i; (i = next_escape(s, run, len)) < len; run = i + 1) {
        unsigned char c = (unsigned char)s[i];
        sh_buf_reserve(b, (i - run) + 7 + (len - i));
        memcpy(b->data + b->len, s + run, i - run);
        b->len += i - run;
        char *p = b->data + b->len;
        p[0] = '\\';
        char short_esc = c == '"'    ? '"'
                         : c == '\\' ? '\\'
                         : c == '\b' ? 'b'
                         : c == '\f' ? 'f'
                         : c == '\n' ? 'n'
                         : c == '\r' ? 'r'
                         : c == '\t' ? 't'
                                     : 0;
        if (short_esc) {
            p[1] = short_esc;
            b->len += 2;
        } else {
            static const char hex[] = "0123456789abcdef";
            memcpy(p + 1, "u00", 3);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 15];
            b->len += 6;
        }
    }
    if (b->cap - b->len < (len - run) + 1)
        sh_buf_reserve(b, (len - run) + 1);
    memcpy(b->data + b->len, s + run, len - run);
    b->len += len - run;
    b->data[b->len++] = '"';
}

/* Decimal digits of v (no sign) at the end of tmp[24]; returns the start. */
static char *u64_digits(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static void put_i64(struct sh_buf *b, int64_t v)
{
    char tmp[24], *end = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = u64_digits(u, end);
    if (v < 0)
        *--p = '-';
    sh__buf_put(b, p, (size_t)(end - p));
}

/* Reads "D.DDDe[+-]XX" (or "De[+-]XX") into digits and the exponent. */
static size_t split(const char *t, char *d, int *e)
{
    size_t n = 0;
    for (; *t && *t != 'e'; t++)
        if (*t != '.')
            d[n++] = *t;
    *e = atoi(t + 1);
    return n;
}

/* Whether digits d[0..n) with exponent e read back as a. */
static bool reads_as(double a, const char *d, size_t n, int e)
{
    char t[48];
    size_t k = 0;
    t[k++] = d[0];
    t[k++] = '.';
    memcpy(t + k, d + 1, n - 1);
    k += n - 1;
    snprintf(t + k, sizeof(t) - k, "e%d", e);
    return strtod(t, NULL) == a;
}

/* The other p-digit neighbour of a: one unit up (or down) in the last
 * digit, carrying (9.99 + 0.01 = 10.0) or borrowing (1.00 - 0.01 = 0.99). */
static size_t neighbour(char *d, size_t n, int *e, bool up)
{
    size_t i = n;
    if (up) {
        while (i > 0 && d[i - 1] == '9')
            d[--i] = '0';
        if (i == 0) {
            d[0] = '1'; /* all nines: 10.00 -> 1.000e+1 */
            (*e)++;
        } else {
            d[i - 1]++;
        }
        return n;
    }
    while (i > 0 && d[i - 1] == '0')
        d[--i] = '9';
    if (i == 0)
        return 0; /* not a number of ours: the first digit is never 0 */
    d[i - 1]--;
    if (d[0] == '0') { /* 0.999: one digit less, one decade down */
        memmove(d, d + 1, n - 1);
        (*e)--;
        return n - 1;
    }
    return n;
}

/* The shortest decimal digits of a (> 0, finite) that read back as a, the
 * closest to a among those of that length: what Go's strconv (Ryu) picks.
 * A normal double's interval of values that read back as it is narrower
 * than the gap between 15-digit decimals, so the correctly rounded 15-digit
 * form, its zeros stripped, is the shortest when one of 15 digits or fewer
 * exists; otherwise 16 digits may do: the correctly rounded one, or (when
 * the interval is lopsided, at a power of two) its neighbour on the other
 * side of a; else 17 always do. Subnormals, whose interval is wide, are
 * tried from one digit up. Writes the digits without trailing zeros to d
 * (NUL terminated) and returns the decimal exponent of the first digit. */
static int shortest(double a, char d[24], size_t *nd)
{
    char t[48];
    size_t n = 0;
    int e = 0;
    for (int p = a < DBL_MIN ? 1 : 15; p <= 17; p++) {
        snprintf(t, sizeof(t), "%.*e", p - 1, a);
        n = split(t, d, &e);
        double r = strtod(t, NULL);
        if (r == a || p == 17)
            break;
        char alt[24];
        int ae = e;
        memcpy(alt, d, n);
        size_t an = neighbour(alt, n, &ae, r < a);
        if (an > 0 && reads_as(a, alt, an, ae)) {
            memcpy(d, alt, an);
            n = an;
            e = ae;
            break;
        }
    }
    while (n > 1 && d[n - 1] == '0')
        n--;
    d[n] = 0;
    *nd = n;
    return e;
}

void sh__json_double(struct sh_buf *b, double v)
{
    if (!isfinite(v)) {
        sh__buf_put(b, "null", 4);
        return;
    }
    if (v == 0) {
        if (signbit(v))
            sh__buf_put(b, "-0", 2);
        else
            sh__buf_put(b, "0", 1);
        return;
    }
    double a = fabs(v);
    /* Integral values below 2^53 are exact and their digits are the
     * shortest form: print them as integers without printf. */
    if (a <= 9007199254740992.0 && v == (double)(int64_t)v) {
        put_i64(b, (int64_t)v);
        return;
    }
    char d[24];
    size_t nd;
    int e = shortest(a, d, &nd);
    char out[48], *p = out;
    if (v < 0)
        *p++ = '-';
    if (a < 1e-6 || a >= 1e21) {
        /* Go: %e with the shortest digits, exponent of at least two digits,
         * then "e-07" cleaned to "e-7". */
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, d + 1, nd - 1);
            p += nd - 1;
        }
        *p++ = 'e';
        *p++ = e < 0 ? '-' : '+';
        int x = e < 0 ? -e : e;
        if (x >= 100)
            *p++ = (char)('0' + x / 100);
        if (x >= 10)
            *p++ = (char)('0' + x / 10 % 10);
        *p++ = (char)('0' + x % 10);
    } else {
        int point = e + 1; /* digits before the decimal point */
        if (point <= 0) {
            *p++ = '0';
            *p++ = '.';
            for (int i = point; i < 0; i++)
                *p++ = '0';
            memcpy(p, d, nd);
            p += nd;
        } else if ((size_t)point >= nd) {
            memcpy(p, d, nd);
            p += nd;
            for (size_t i = nd; i < (size_t)point; i++)
                *p++ = '0';
        } else {
            memcpy(p, d, (size_t)point);
            p += point;
            *p++ = '.';
            memcpy(p, d + point, nd - (size_t)point);
            p += nd - (size_t)point;
        }
    }
    sh__buf_put(b, out, (size_t)(p - out));
}

void sh__json_int(struct sh_buf *b, int64_t v)
{
    /* A number field is a float64 in PocketBase: past 2^53 it prints as the
     * double it becomes. */
    if (v >= -9007199254740992LL && v <= 9007199254740992LL)
        put_i64(b, v);
    else
        sh__json_double(b, (double)v);
}

/* ---- validation (RFC 8259), without allocating ---- */

#define MAX_DEPTH 1000 /* cJSON's nesting limit: what it stored, it can nest */

struct scan {
    const char *p, *end;
};

static void ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool lit(struct scan *s, const char *w, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool hexd(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool string(struct scan *s)
{
    s->p++; /* the opening quote */
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (s->p >= s->end)
            return false;
        c = (unsigned char)*s->p++;
        if (c == 'u') {
            if (s->end - s->p < 4 || !hexd(s->p[0]) || !hexd(s->p[1]) || !hexd(s->p[2]) ||
                !hexd(s->p[3]))
                return false;
            s->p += 4;
        } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
            return false;
        }
    }
    return false;
}

static bool digits(struct scan *s)
{
    const char *at = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > at;
}

static bool number(struct scan *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return false;
    }
    return true;
}

static bool value(struct scan *s, int depth)
{
    ws(s);
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '"':
        return string(s);
    case 't':
        return lit(s, "true", 4);
    case 'f':
        return lit(s, "false", 5);
    case 'n':
        return lit(s, "null", 4);
    case '[':
    case '{': {
        char close = *s->p == '[' ? ']' : '}';
        bool obj = close == '}';
        if (depth >= MAX_DEPTH)
            return false;
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return true;
        }
        for (;;) {
            if (obj) {
                ws(s);
                if (s->p >= s->end || *s->p != '"' || !string(s))
                    return false;
                ws(s);
                if (s->p >= s->end || *s->p++ != ':')
                    return false;
            }
            if (!value(s, depth + 1))
                return false;
            ws(s);
            if (s->p >= s->end)
                return false;
            char c = *s->p++;
            if (c == close)
                return true;
            if (c != ',')
                return false;
        }
    }
    default:
        return number(s);
    }
}

bool sh__json_valid(const char *text, size_t len)
{
    struct scan s = {text, text + len};
    if (!value(&s, 0))
        return false;
    ws(&s);
    return s.p == s.end;
}
