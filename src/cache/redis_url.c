/*
 * Redis addresses as users write them: `redis://[[user]:password@]host[:port][/db]`
 * and `unix:/path.sock[?db=N&password=P]`. Pure string work, no lookups:
 * host names are resolved later, on the loop, with uv_getaddrinfo.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/cache.h"
#include "stagehand/core.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes with the NUL). NUL bytes and
 * bad escapes are refused. */
static int decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

static int parse_uint(const char *s, size_t n, long max, long *out)
{
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* `db=N&password=P` after a unix path. */
static int parse_unix_query(const char *q, struct sh_redis_addr *out, const char **why)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        if (!eq) {
            *why = "a unix address's options are key=value pairs";
            return SH_EINVAL;
        }
        size_t klen = (size_t)(eq - q), vlen = len - klen - 1;
        long v;
        if (klen == 2 && memcmp(q, "db", 2) == 0) {
            if (parse_uint(eq + 1, vlen, 65535, &v)) {
                *why = "db must be a number from 0 to 65535";
                return SH_EINVAL;
            }
            out->db = (int)v;
        } else if (klen == 8 && memcmp(q, "password", 8) == 0) {
            if (decode(eq + 1, vlen, out->password, sizeof out->password)) {
                *why = "the password is badly escaped or too long";
                return SH_EINVAL;
            }
        } else {
            *why = "a unix address takes only db= and password=";
            return SH_EINVAL;
        }
        q += len + (amp ? 1 : 0);
    }
    return 0;
}

static int parse_unix(const char *p, struct sh_redis_addr *out, const char **why)
{
    /* unix:/path, unix:///path (the empty authority of a URL) */
    if (strncmp(p, "//", 2) == 0)
        p += 2;
    if (p[0] != '/') {
        *why = "a unix socket path must be absolute";
        return SH_EINVAL;
    }
    const char *q = strchr(p, '?');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    if (decode(p, n, out->host, sizeof out->host)) {
        *why = "the socket path is badly escaped or too long";
        return SH_EINVAL;
    }
    out->unix_socket = 1;
    return q ? parse_unix_query(q + 1, out, why) : 0;
}

static int parse_userinfo(const char *s, size_t n, struct sh_redis_addr *out, const char **why)
{
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon ? (size_t)(colon - s) : 0;
    /* redis://password@host is read as a password (as redis-cli does) */
    const char *pw = colon ? colon + 1 : s;
    size_t pwlen = colon ? n - ulen - 1 : n;
    if (decode(s, ulen, out->user, sizeof out->user) ||
        decode(pw, pwlen, out->password, sizeof out->password)) {
        *why = "the user or password is badly escaped or too long";
        return SH_EINVAL;
    }
    return 0;
}

static int parse_tcp(const char *p, struct sh_redis_addr *out, const char **why)
{
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *c = p; c < end; c++)
        if (*c == '@')
            at = c;
    if (at) {
        if (parse_userinfo(p, (size_t)(at - p), out, why))
            return SH_EINVAL;
        p = at + 1;
    }
    const char *hend, *port = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) {
            *why = "an IPv6 address needs its closing bracket";
            return SH_EINVAL;
        }
        if (decode(p + 1, (size_t)(rb - p - 1), out->host, sizeof out->host))
            goto bad_host;
        hend = rb + 1;
        if (hend < end && *hend != ':') {
            *why = "only a port may follow an IPv6 address";
            return SH_EINVAL;
        }
    } else {
        hend = memchr(p, ':', (size_t)(end - p));
        if (!hend)
            hend = end;
        if (decode(p, (size_t)(hend - p), out->host, sizeof out->host))
            goto bad_host;
    }
    if (out->host[0] == 0)
        goto bad_host;
    for (const char *h = out->host; *h; h++)
        if (!isalnum((unsigned char)*h) && !strchr(".-_:", *h))
            goto bad_host;
    if (hend < end && *hend == ':')
        port = hend + 1;
    if (port) {
        long v;
        if (parse_uint(port, (size_t)(end - port), 65535, &v) || v == 0) {
            *why = "the port must be a number from 1 to 65535";
            return SH_EINVAL;
        }
        out->port = (int)v;
    }
    if (*end == '/' && end[1]) {
        long v;
        if (parse_uint(end + 1, strlen(end + 1), 65535, &v)) {
            *why = "the database must be a number from 0 to 65535 after the host";
            return SH_EINVAL;
        }
        out->db = (int)v;
    } else if (*end && !(*end == '/' && end[1] == 0)) {
        *why = "a redis:// address takes no query or fragment";
        return SH_EINVAL;
    }
    return 0;
bad_host:
    *why = "the host is missing or not a host name or address";
    return SH_EINVAL;
}

int sh_redis_parse_url(const char *url, struct sh_redis_addr *out, const char **why)
{
    static const char *ignored;
    if (!why)
        why = &ignored;
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!url || !*url) {
        *why = "the address is empty";
        return SH_EINVAL;
    }
    if (strncmp(url, "unix:", 5) == 0)
        return parse_unix(url + 5, out, why);
    if (strncmp(url, "redis://", 8) == 0)
        return parse_tcp(url + 8, out, why);
    if (strncmp(url, "rediss://", 9) == 0)
        *why = "rediss:// (TLS) is not supported by hiredis 0.14; use a unix socket or a TLS "
               "tunnel";
    else
        *why = "the address must start with redis:// or unix:";
    return SH_EINVAL;
}
