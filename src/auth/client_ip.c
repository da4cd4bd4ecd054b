/*
 * The client's address behind reverse proxies. X-Forwarded-For is written by
 * whoever sent the request, so only the part appended by proxies we trust
 * means anything: each proxy appends the address it received from, so the
 * list is read from the right, skipping the trusted proxies, and the first
 * address that is not trusted is the client. Everything to its left came from
 * the client and is ignored. When the peer itself is not trusted, the header
 * is ignored altogether.
 *
 * A malformed entry (a port, a zone, "unknown", an empty item) ends the walk
 * and is never taken as the client: the answer is then the last address that
 * was walked, which is a trusted proxy, or the peer. That may lump several
 * clients under one proxy address (stricter rate limits), but it can never
 * let a client choose its own address.
 *
 * Addresses are compared in binary (inet_pton); an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, what a dual-stack socket reports) is treated as the IPv4
 * address, both in lists and in the addresses checked against them.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/auth.h"

#define MAX_HOPS 32

struct ip {
    unsigned char len; /* 4 or 16 */
    unsigned char b[16];
};

struct cidr {
    struct ip ip;
    unsigned prefix; /* bits */
};

struct sh_cidr_list {
    size_t n;
    struct cidr e[];
};

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses a textual address of n bytes; 0 or -1. */
static int ip_parse(const char *s, size_t n, struct ip *out, int *was_mapped)
{
    char buf[INET6_ADDRSTRLEN];
    if (was_mapped)
        *was_mapped = 0;
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, out->b) == 1) {
        out->len = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->b) != 1)
        return -1;
    out->len = 16;
    if (memcmp(out->b, v4_mapped, sizeof v4_mapped) == 0) {
        memmove(out->b, out->b + 12, 4);
        out->len = 4;
        if (was_mapped)
            *was_mapped = 1;
    }
    return 0;
}

static void ip_format(const struct ip *ip, char *out, size_t outlen)
{
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(ip->len == 4 ? AF_INET : AF_INET6, ip->b, buf, sizeof buf))
        buf[0] = '\0';
    snprintf(out, outlen, "%s", buf);
}

static int cidr_match(const struct cidr *c, const struct ip *ip)
{
    if (c->ip.len != ip->len)
        return 0;
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->ip.b, ip->b, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff00u >> rest);
    return (c->ip.b[full] & mask) == (ip->b[full] & mask);
}

static int list_has(const struct sh_cidr_list *l, const struct ip *ip)
{
    if (!l)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (cidr_match(&l->e[i], ip))
            return 1;
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs from both ends of [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && is_space(**s))
        (*s)++;
    while (*e > *s && is_space((*e)[-1]))
        (*e)--;
}

/* One entry: an address, or address/prefix. 0 or -1. */
static int cidr_parse(const char *s, size_t n, struct cidr *out)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    int mapped;
    if (ip_parse(s, alen, &out->ip, &mapped))
        return -1;
    unsigned max = mapped ? 128 : out->ip.len * 8u;
    unsigned prefix = max;
    if (slash) {
        const char *d = slash + 1, *end = s + n;
        if (d == end || end - d > 3)
            return -1;
        prefix = 0;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            prefix = prefix * 10 + (unsigned)(*d - '0');
        }
        if (prefix > max)
            return -1;
    }
    if (mapped) {
        if (prefix < 96) { /* wider than the mapped block: keep it as IPv6 */
            memmove(out->ip.b + 12, out->ip.b, 4);
            memcpy(out->ip.b, v4_mapped, sizeof v4_mapped);
            out->ip.len = 16;
        } else {
            prefix -= 96;
        }
    }
    out->prefix = prefix;
    /* mask the host bits: 10.1.2.3/8 is 10.0.0.0/8 */
    for (unsigned bit = prefix; bit < out->ip.len * 8u; bit++)
        out->ip.b[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    return 0;
}

struct sh_cidr_list *sh_cidr_list_parse(const char *s, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!s)
        s = "";
    size_t cap = 1;
    for (const char *c = s; *c; c++)
        cap += *c == ',';
    struct sh_cidr_list *l = sh_calloc(1, sizeof *l + cap * sizeof l->e[0]);

    const char *all_s = s, *all_e = s + strlen(s);
    trim(&all_s, &all_e);
    if (all_s == all_e)
        return l; /* an empty list */
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        const char *b = p, *e = comma ? comma : p + strlen(p);
        trim(&b, &e);
        if (b == e || cidr_parse(b, (size_t)(e - b), &l->e[l->n]) != 0) {
            if (err && errlen) {
                if (b == e)
                    snprintf(err, errlen, "empty entry in address list");
                else
                    snprintf(err, errlen, "invalid address or CIDR block \"%.*s\"",
                             (int)((size_t)(e - b) > 64 ? 64 : (size_t)(e - b)), b);
            }
            free(l);
            return NULL;
        }
        l->n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return l;
}

void sh_cidr_list_free(struct sh_cidr_list *l)
{
    free(l);
}

int sh_cidr_list_contains(const struct sh_cidr_list *l, const char *ip)
{
    struct ip a;
    if (!l || !l->n || !ip || ip_parse(ip, strlen(ip), &a, NULL)) /* no list: no parse */
        return 0;
    return list_has(l, &a);
}

void sh_client_ip(const struct sh_cidr_list *trusted, const char *peer, const char *xff,
                  size_t xfflen, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return;
    size_t plen = peer ? strlen(peer) : 0;
    if (peer && (!xff || !xfflen || !trusted || !trusted->n) && !memchr(peer, ':', plen)) {
        /* No proxy to believe and an IPv4 (or unix) peer: the peer as net/
         * formatted it, without parsing and formatting it again on every
         * request (that was a quarter of a health check's instructions). IPv6
         * peers take the long way, which writes v4-mapped ones as IPv4. */
        plen = plen < outlen ? plen : outlen - 1;
        memcpy(out, peer, plen);
        out[plen] = 0;
        return;
    }
    struct ip client;
    if (!peer || ip_parse(peer, plen, &client, NULL)) {
        snprintf(out, outlen, "%s", peer ? peer : "");
        return;
    }
    if (xff && xfflen && list_has(trusted, &client)) {
        const char *end = xff + xfflen;
        for (unsigned hops = 0; hops < MAX_HOPS; hops++) {
            const char *start = end;
            while (start > xff && start[-1] != ',')
                start--;
            const char *b = start, *e = end;
            trim(&b, &e);
            struct ip ip;
            if (ip_parse(b, (size_t)(e - b), &ip, NULL))
                break; /* malformed: keep the last address walked */
            client = ip;
            if (!list_has(trusted, &ip) || start == xff)
                break;       /* the client, or the left end of the chain */
            end = start - 1; /* before the comma */
        }
    }
    ip_format(&client, out, outlen);
}

void sh_client_ip_bucket(const char *ip, char *out, size_t outlen)
{
    struct ip a;
    if (outlen == 0)
        return;
    size_t n = strlen(ip);
    if (!memchr(ip, ':', n)) { /* IPv4 or "unix": as it is, without parsing (every request) */
        n = n < outlen ? n : outlen - 1;
        memcpy(out, ip, n);
        out[n] = 0;
        return;
    }
    if (ip_parse(ip, n, &a, NULL) != 0 || a.len == 4) {
        snprintf(out, outlen, "%s", ip); /* IPv4 (mapped ones included), or not an address */
        return;
    }
    /* One holder of a /64 has 2^64 addresses: they count as one client. */
    memset(a.b + 8, 0, 8);
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop(AF_INET6, a.b, text, sizeof text)) {
        snprintf(out, outlen, "%s", ip);
        return;
    }
    snprintf(out, outlen, "%s/64", text);
}
