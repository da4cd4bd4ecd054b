/*
 * What handlers read from a request: headers, route parameters, the query,
 * the peer, request ids, and the watch that tells an asynchronous step
 * whether its request is still there. Also the tree's one percent-decoder,
 * used for the path (strict) and the query (form encoding).
 *
 * The query is decoded once, when the head is read (sh__query_parse, called
 * by the parser), into a table in the request arena; sh_req_query and its
 * typed forms are lookups in it. A list request reads eight parameters, and
 * rules may read all of them (@request.query.*): each used to re-scan and
 * re-decode the raw query.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

/* ---- headers, parameters, peer ---- */

const struct sh_str *sh_req_header_n(const struct sh_req *r, const char *name, size_t n)
{
    if (!(r->header_lens & ((uint64_t)1 << (n & 63))))
        return NULL;
    for (unsigned i = 0; i < r->nheaders; i++)
        if (r->headers[i].name.len == n && sh_str_caseeq(r->headers[i].name, name))
            return &r->headers[i].value;
    return NULL;
}

const struct sh_str *sh_req_param(const struct sh_req *r, const char *name)
{
    for (unsigned i = 0; i < r->nparams; i++)
        if (sh_str_eq(r->param_names[i], name))
            return &r->params[i];
    return NULL;
}

const char *sh_req_peer(const struct sh_req *r)
{
    return r->conn->base.peer;
}

/* ---- the percent-decoder ---- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 32;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long sh_http_percent_decode(char *dst, const char *src, size_t n, enum sh_pct_mode mode)
{
    size_t o = 0, i = 0;
    while (i < n) {
        /* The bytes up to the next '%' go in one copy: most paths have none. */
        const char *pct = memchr(src + i, '%', n - i);
        size_t run = pct ? (size_t)(pct - src) - i : n - i;
        memmove(dst + o, src + i, run);
        if (mode == SH_PCT_FORM)
            for (size_t k = o; k < o + run; k++)
                if (dst[k] == '+')
                    dst[k] = ' ';
        o += run;
        i += run;
        if (i == n)
            break;
        int hi = i + 2 < n ? hexval((unsigned char)src[i + 1]) : -1;
        int lo = i + 2 < n ? hexval((unsigned char)src[i + 2]) : -1;
        if (hi >= 0 && lo >= 0 && (hi | lo || mode == SH_PCT_FORM)) {
            dst[o++] = (char)(hi * 16 + lo);
            i += 3;
        } else if (mode == SH_PCT_PATH) {
            return -1;
        } else {
            dst[o++] = '%'; /* kept as it is */
            i++;
        }
    }
    dst[o] = 0;
    return (long)o;
}

/* ---- the query table ---- */

int sh__query_parse(struct sh_arena *a, struct sh_str query, const struct sh_query_param **out,
                    unsigned *n)
{
    *out = NULL;
    *n = 0;
    if (!query.len)
        return 0;
    const char *p = query.ptr, *end = p + query.len;
    size_t pieces = 1;
    for (const char *s = p; (s = memchr(s, '&', (size_t)(end - s))); s++)
        pieces++;
    /* Decoding never grows a piece; each keeps two NULs. */
    struct sh_query_param *t = sh_arena_alloc(a, pieces * sizeof(*t));
    char *d = sh_arena_alloc(a, query.len + 2 * pieces);
    if (!t || !d)
        return -ENOMEM;
    unsigned k = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *kend = eq ? eq : stop;
            const char *val = eq ? eq + 1 : stop; /* no '=': the empty value */
            struct sh_query_param *q = &t[k++];
            long len = sh_http_percent_decode(d, p, (size_t)(kend - p), SH_PCT_FORM);
            q->name = (struct sh_str){d, (size_t)len};
            d += len + 1;
            len = sh_http_percent_decode(d, val, (size_t)(stop - val), SH_PCT_FORM);
            q->value = (struct sh_str){d, (size_t)len};
            d += len + 1;
        }
        p = stop + 1;
    }
    *out = t;
    *n = k;
    return 0;
}

const char *sh_req_query(const struct sh_req *r, const char *name)
{
    size_t nlen = strlen(name);
    for (unsigned i = 0; i < r->nqparams; i++) {
        const struct sh_query_param *q = &r->qparams[i];
        if (q->name.len == nlen && memcmp(q->name.ptr, name, nlen) == 0)
            return q->value.ptr;
    }
    return NULL;
}

int sh_req_query_int(const struct sh_req *r, const char *name, int64_t dflt, int64_t *out)
{
    const char *s = sh_req_query(r, name);
    *out = dflt;
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

int sh_req_query_bool(const struct sh_req *r, const char *name, bool dflt, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False", ""};
    const char *s = sh_req_query(r, name);
    *out = dflt;
    if (!s)
        return 0;
    for (size_t i = 0; i < SH_ARRAY_LEN(yes); i++)
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
    for (size_t i = 0; i < SH_ARRAY_LEN(no); i++)
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    return -EINVAL;
}

/* ---- request ids ---- */

static int rid_ok(const struct sh_str *v)
{
    if (!v || v->len == 0 || v->len > 64)
        return 0;
    for (size_t i = 0; i < v->len; i++) {
        char c = v->ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

void sh__req_assign_id(struct sh_http_server *s, struct sh_req *r)
{
    const struct sh_str *v = sh_req_header(r, "X-Request-Id");
    if (rid_ok(v)) {
        memcpy(r->rid, v->ptr, v->len);
        r->rid[v->len] = 0;
        return;
    }
    /* splitmix64 over the server's counter: unique per server, cheap, not
     * guessable from outside without the seed (sh_http_server_init). */
    uint64_t z = s->rid_seed + ++s->rid_count * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    /* Two hex digits per step: this runs on every request. */
    static const char hex2[513] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    for (int i = 14; i >= 0; i -= 2, z >>= 8)
        memcpy(r->rid + i, hex2 + 2 * (z & 255), 2);
    r->rid[16] = 0;
}

/* ---- watching a request across an asynchronous step ---- */

void sh_req_watch(struct sh_req *r, struct sh_req_watch *w)
{
    w->req = r;
    r->conn->watch = w;
}

void sh_req_unwatch(struct sh_req_watch *w)
{
    if (w->req && w->req->conn->watch == w)
        w->req->conn->watch = NULL;
    w->req = NULL;
}

void sh__req_watch_clear(struct sh_http_conn *hc)
{
    if (hc->watch) {
        hc->watch->req = NULL;
        hc->watch = NULL;
    }
}

int sh_req_peer_gone(const struct sh_req *r)
{
    struct sh_http_conn *hc = r->conn;
    if (hc->base.closing || hc->state == SH_ST_DEAD)
        return 1;
    uv_os_fd_t fd;
    if (uv_fileno(&hc->base.h.handle, &fd) != 0)
        return 1;
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    int n;
    do
        n = poll(&pfd, 1, 0);
    while (n < 0 && errno == EINTR);
    return n > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

int sh_req_alive(const struct sh_req *r, uint32_t gen)
{
    return r->gen == gen && !r->conn->base.closing && !r->responded;
}
