/*
 * The incremental multipart/form-data reader (stagehand/multipart.h). Body
 * bytes are scanned for the delimiter (CRLF "--" boundary) with a KMP
 * automaton: the only state carried across pieces is how many delimiter
 * bytes are matched, and bytes that turn out not to be a delimiter are
 * given back from the delimiter itself (they equal its prefix), so nothing
 * of the body is copied. Only a part's header block is buffered, up to its
 * limit, and decoded in place into the part's name, file name and type.
 */
#include "stagehand/multipart.h"

#include <string.h>
#include <strings.h>

static int fail(struct sh_multipart *m, int code)
{
    m->state = SH_MP_ERROR;
    m->error = code;
    return code;
}

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=?" and space (not last). */
static bool bchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           strchr("'()+_,-./:=? ", c) != NULL;
}

static bool tchar(unsigned char c)
{
    return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- header values: `type; param=value; param="quoted"` ---- */

struct cursor {
    const char *p, *end;
};

static void skip_ows(struct cursor *c)
{
    while (c->p < c->end && ows(*c->p))
        c->p++;
}

/* Reads a token into out (NUL-terminated); its length, 0 when none. */
static size_t read_token(struct cursor *c, char *out)
{
    size_t n = 0;
    while (c->p < c->end && tchar((unsigned char)*c->p))
        out[n++] = *c->p++;
    out[n] = 0;
    return n;
}

/* Reads a token or a quoted string (backslash escapes any byte) into out;
 * its length, or -1 when malformed. */
static long read_value(struct cursor *c, char *out)
{
    if (c->p < c->end && *c->p == '"') {
        size_t n = 0;
        for (c->p++; c->p < c->end; c->p++) {
            char ch = *c->p;
            if (ch == '"') {
                c->p++;
                out[n] = 0;
                return (long)n;
            }
            if (ch == '\\') {
                if (++c->p == c->end)
                    return -1;
                ch = *c->p;
            }
            out[n++] = ch;
        }
        return -1; /* no closing quote */
    }
    size_t n = read_token(c, out);
    return n ? (long)n : -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Is s[0..n) valid UTF-8 without NUL, overlongs, surrogates or > U+10FFFF? */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        if (!len || c > 0xf4 || i + len > n)
            return false;
        unsigned cp = c & (0x3f >> (len - 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

bool sh_multipart_utf8_valid(const char *s, size_t n)
{
    return utf8_ok((const unsigned char *)s, n);
}

/* RFC 5987 ext-value `charset'lang'pct-encoded`, decoded in place; its
 * length, or -1 when the charset is not UTF-8/US-ASCII or an escape is bad. */
static long decode_ext(char *v, size_t n)
{
    char *q1 = memchr(v, '\'', n);
    char *q2 = q1 ? memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - v)) : NULL;
    if (!q2)
        return -1;
    size_t cs = (size_t)(q1 - v);
    if (!((cs == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
          (cs == 8 && strncasecmp(v, "us-ascii", 8) == 0)))
        return -1;
    size_t o = 0;
    for (const char *p = q2 + 1, *end = v + n; p < end; p++) {
        if (*p == '%') {
            if (end - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0)
                return -1;
            char ch = (char)(hexval(p[1]) << 4 | hexval(p[2]));
            if (!ch)
                return -1; /* a NUL would cut the name short */
            v[o++] = ch;
            p += 2;
        } else {
            v[o++] = *p;
        }
    }
    v[o] = 0;
    return (long)o;
}

/* Content-Disposition: form-data; name=...; filename=...; filename*=... */
static int parse_disposition(struct sh_multipart *m, struct cursor c, char **out)
{
    char *w = *out;
    skip_ows(&c);
    char *type = w;
    if (!read_token(&c, type))
        return SH_MP_ESYNTAX;
    w += strlen(type) + 1;
    bool form = strcasecmp(type, "form-data") == 0;
    const char *name = NULL, *filename = NULL, *ext = NULL;
    for (;;) {
        skip_ows(&c);
        if (c.p == c.end)
            break;
        if (*c.p++ != ';')
            return SH_MP_ESYNTAX;
        skip_ows(&c);
        if (c.p == c.end)
            break; /* a trailing ';' */
        char *key = w;
        if (!read_token(&c, key))
            return SH_MP_ESYNTAX;
        w += strlen(key) + 1;
        skip_ows(&c);
        if (c.p == c.end || *c.p++ != '=')
            return SH_MP_ESYNTAX;
        skip_ows(&c);
        char *val = w;
        long n = read_value(&c, val);
        if (n < 0)
            return SH_MP_ESYNTAX;
        w += n + 1;
        const char **slot = strcasecmp(key, "name") == 0        ? &name
                            : strcasecmp(key, "filename") == 0  ? &filename
                            : strcasecmp(key, "filename*") == 0 ? &ext
                                                                : NULL;
        if (!slot)
            continue; /* other parameters are ignored */
        if (*slot)
            return SH_MP_ESYNTAX; /* the same parameter twice: which one would count? */
        if (slot == &ext && (n = decode_ext(val, (size_t)n)) < 0)
            return SH_MP_EFILENAME;
        *slot = val;
    }
    *out = w;
    if (!form)
        return 0; /* not a form field: the part is read and skipped */
    if (name) {
        if (strlen(name) > m->limits.max_name)
            return SH_MP_ENAME;
        m->part.name = name;
    }
    const char *fn = ext ? ext : filename;
    if (fn) {
        size_t n = strlen(fn);
        if (n > m->limits.max_filename || !utf8_ok((const unsigned char *)fn, n))
            return SH_MP_EFILENAME;
        m->part.filename = fn;
        m->part.is_file = true;
    }
    return 0;
}

/* Splits the header block hdr[0..hlen) (CRLF-terminated lines, then an
 * empty line) and decodes what a part needs into the second half of the
 * buffer. */
static int parse_headers(struct sh_multipart *m)
{
    char *w = m->hdr + m->hlen + 1;
    m->part = (struct sh_mp_part){.name = "", .filename = "", .ctype = "", .index = m->parts - 1};
    bool seen_cd = false, seen_ct = false;
    const char *p = m->hdr, *end = m->hdr + m->hlen - 2; /* the empty line's CRLF */
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol[1] != '\n')
            return SH_MP_ESYNTAX;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p)
            return SH_MP_ESYNTAX;
        for (const char *k = p; k < colon; k++)
            if (!tchar((unsigned char)*k))
                return SH_MP_ESYNTAX; /* obs-fold, whitespace before ':', stray bytes */
        for (const char *k = colon + 1; k < eol; k++)
            if (((unsigned char)*k < 32 && *k != '\t') || *k == 127)
                return SH_MP_ESYNTAX;
        struct cursor v = {colon + 1, eol};
        size_t nlen = (size_t)(colon - p);
        if (nlen == 19 && strncasecmp(p, "Content-Disposition", 19) == 0) {
            if (seen_cd)
                return SH_MP_ESYNTAX;
            seen_cd = true;
            int rc = parse_disposition(m, v, &w);
            if (rc)
                return rc;
        } else if (nlen == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
            if (seen_ct)
                return SH_MP_ESYNTAX;
            seen_ct = true;
            skip_ows(&v);
            while (v.end > v.p && ows(v.end[-1]))
                v.end--;
            memcpy(w, v.p, (size_t)(v.end - v.p));
            w[v.end - v.p] = 0;
            m->part.ctype = w;
            w += v.end - v.p + 1;
        }
        p = eol + 2;
    }
    return 0;
}

/* ---- the reader ---- */

int sh_multipart_boundary(const char *ctype, size_t len, char *out)
{
    struct cursor c = {ctype, ctype + len};
    char tok[64];
    skip_ows(&c);
    size_t i = 0;
    while (c.p < c.end && i < sizeof(tok) - 1 && *c.p != ';' && !ows(*c.p))
        tok[i++] = *c.p++;
    tok[i] = 0;
    if (strcasecmp(tok, "multipart/form-data") != 0)
        return SH_MP_EBOUNDARY;
    bool found = false;
    while (c.p < c.end) {
        skip_ows(&c);
        if (c.p == c.end)
            break;
        if (*c.p++ != ';')
            return SH_MP_EBOUNDARY;
        skip_ows(&c);
        char key[32];
        size_t k = 0;
        while (c.p < c.end && tchar((unsigned char)*c.p) && k < sizeof(key) - 1)
            key[k++] = *c.p++;
        key[k] = 0;
        if (!k || c.p == c.end || *c.p++ != '=')
            return SH_MP_EBOUNDARY;
        bool is_b = strcasecmp(key, "boundary") == 0;
        if (is_b && found)
            return SH_MP_EBOUNDARY;
        /* values are at most a header's length; boundary must fit out */
        size_t n = 0;
        if (c.p < c.end && *c.p == '"') {
            for (c.p++;; c.p++) {
                if (c.p == c.end)
                    return SH_MP_EBOUNDARY;
                char ch = *c.p;
                if (ch == '"') {
                    c.p++;
                    break;
                }
                if (ch == '\\' && ++c.p == c.end)
                    return SH_MP_EBOUNDARY;
                if (is_b) {
                    if (n == SH_MP_MAX_BOUNDARY)
                        return SH_MP_EBOUNDARY;
                    out[n] = *c.p;
                }
                n++;
            }
        } else {
            for (; c.p < c.end && tchar((unsigned char)*c.p); c.p++, n++)
                if (is_b) {
                    if (n == SH_MP_MAX_BOUNDARY)
                        return SH_MP_EBOUNDARY;
                    out[n] = *c.p;
                }
            if (!n)
                return SH_MP_EBOUNDARY;
        }
        if (is_b) {
            if (n == 0 || out[n - 1] == ' ')
                return SH_MP_EBOUNDARY;
            for (size_t j = 0; j < n; j++)
                if (!bchar((unsigned char)out[j]))
                    return SH_MP_EBOUNDARY;
            out[n] = 0;
            found = true;
        }
    }
    return found ? 0 : SH_MP_EBOUNDARY;
}

void sh_multipart_init(struct sh_multipart *m, const char *b, const struct sh_mp_limits *limits,
                       const struct sh_mp_callbacks *cb, void *ud, char *hdrbuf)
{
    memset(m, 0, sizeof(*m));
    size_t n = strnlen(b, SH_MP_MAX_BOUNDARY);
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, b, n);
    m->dlen = 4 + n;
    /* KMP failure function: fail[i] is the longest proper prefix of
     * delim[0..i] that is also its suffix. */
    m->fail[0] = 0;
    for (size_t i = 1, k = 0; i < m->dlen; i++) {
        while (k && m->delim[i] != m->delim[k])
            k = m->fail[k - 1];
        if (m->delim[i] == m->delim[k])
            k++;
        m->fail[i] = (unsigned char)k;
    }
    m->match = 2; /* the first delimiter may start the body: as if CRLF came before */
    m->state = SH_MP_PREAMBLE;
    m->limits = *limits;
    m->cb = *cb;
    m->ud = ud;
    m->hdr = hdrbuf;
    m->hcap = limits->max_header_bytes;
}

/* Body bytes of the current part (or of the preamble, dropped). */
static int emit(struct sh_multipart *m, const char *at, size_t len)
{
    if (!len || m->state != SH_MP_DATA)
        return 0;
    if (m->cb.part_data && m->cb.part_data(m->ud, at, len))
        return fail(m, SH_MP_ECALLBACK);
    return 0;
}

/* Scans data[*pos..len) for the delimiter, handing over what is body; on a
 * delimiter ends the part and moves to AFTER_DELIM with *pos past it. */
static int scan(struct sh_multipart *m, const char *data, size_t len, size_t *pos)
{
    size_t i = *pos, run = i;
    while (i < len) {
        if (m->match == 0) {
            const char *cr = memchr(data + i, '\r', len - i);
            if (!cr) {
                i = len;
                break;
            }
            i = (size_t)(cr - data);
            if (emit(m, data + run, i - run))
                return m->error;
            m->match = 1;
            run = ++i;
            continue;
        }
        char c = data[i];
        while (m->match && m->delim[m->match] != c) {
            size_t keep = m->fail[m->match - 1];
            if (emit(m, m->delim, m->match - keep))
                return m->error;
            m->match = keep;
        }
        if (m->delim[m->match] != c) {
            run = i++; /* a body byte: the run goes on from here */
            continue;
        }
        run = ++i;
        if (++m->match == m->dlen) {
            m->match = 0;
            if (m->state == SH_MP_DATA) {
                m->in_part = false;
                if (m->cb.part_end && m->cb.part_end(m->ud))
                    return fail(m, SH_MP_ECALLBACK);
            }
            m->state = SH_MP_AFTER_DELIM;
            *pos = i;
            return 0;
        }
    }
    if (emit(m, data + run, i - run))
        return m->error;
    *pos = i;
    return 0;
}

static int header_byte(struct sh_multipart *m, char c)
{
    if (m->hlen == m->hcap)
        return fail(m, SH_MP_EHEADER);
    m->hdr[m->hlen++] = c;
    bool done = (m->hlen == 2 && m->hdr[0] == '\r' && m->hdr[1] == '\n') ||
                (m->hlen >= 4 && memcmp(m->hdr + m->hlen - 4, "\r\n\r\n", 4) == 0);
    if (!done)
        return 0;
    m->hdr[m->hlen] = 0;
    int rc = parse_headers(m);
    if (rc)
        return fail(m, rc);
    m->state = SH_MP_DATA;
    m->in_part = true;
    if (m->cb.part_begin && m->cb.part_begin(m->ud, &m->part))
        return fail(m, SH_MP_ECALLBACK);
    return 0;
}

int sh_multipart_feed(struct sh_multipart *m, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        char c = data[i];
        switch (m->state) {
        case SH_MP_PREAMBLE:
        case SH_MP_DATA:
            if (scan(m, data, len, &i))
                return m->error;
            continue;
        case SH_MP_AFTER_DELIM:
            m->state = c == '-'                ? SH_MP_AFTER_DASH
                       : c == '\r'             ? SH_MP_PADDING_CR
                       : c == ' ' || c == '\t' ? SH_MP_PADDING
                                               : SH_MP_ERROR;
            break;
        case SH_MP_AFTER_DASH:
            m->state = c == '-' ? SH_MP_EPILOGUE : SH_MP_ERROR;
            break;
        case SH_MP_PADDING:
            m->state = c == '\r' ? SH_MP_PADDING_CR : ows(c) ? SH_MP_PADDING : SH_MP_ERROR;
            break;
        case SH_MP_PADDING_CR:
            if (c != '\n')
                return fail(m, SH_MP_ESYNTAX);
            if (m->parts >= m->limits.max_parts)
                return fail(m, SH_MP_EPARTS);
            m->parts++;
            m->hlen = 0;
            m->state = SH_MP_HEADERS;
            break;
        case SH_MP_HEADERS:
            if (header_byte(m, c))
                return m->error;
            break;
        case SH_MP_EPILOGUE:
            return 0;
        case SH_MP_ERROR:
            return m->error ? m->error : fail(m, SH_MP_ESYNTAX);
        }
        if (m->state == SH_MP_ERROR)
            return fail(m, SH_MP_ESYNTAX);
        i++;
    }
    return 0;
}

int sh_multipart_finish(struct sh_multipart *m)
{
    if (m->state == SH_MP_ERROR)
        return m->error;
    return m->state == SH_MP_EPILOGUE ? 0 : fail(m, SH_MP_ETRUNCATED);
}

const char *sh_multipart_strerror(int code)
{
    switch (code) {
    case SH_MP_EBOUNDARY:
        return "The multipart body has no valid boundary.";
    case SH_MP_EPARTS:
        return "The multipart body has too many parts.";
    case SH_MP_EHEADER:
        return "A multipart part's headers are too large.";
    case SH_MP_ENAME:
        return "A multipart part's name is too long.";
    case SH_MP_EFILENAME:
        return "A multipart file name is too long or not valid UTF-8.";
    case SH_MP_ETRUNCATED:
        return "The multipart body ends before its closing boundary.";
    case SH_MP_ECALLBACK:
        return "The multipart body was refused.";
    default:
        return "The multipart body is malformed.";
    }
}
