/*
 * The exact table: most requests name a fully static route (/api/health,
 * /api/realtime, /api/collections/users/auth-with-password is not one, but
 * /api/batch is), and such a path need not be split and scanned against
 * every route of its segment count. Each fully static pattern gets an entry,
 * found by hashing the request path's bytes as they are; the entry holds,
 * per method, the route the scan would choose for that path, kept up to date
 * as routes are added by the scan's own rules (sh__route_fits,
 * sh__route_specificity, first added wins a tie), and the methods of every
 * route fitting it (Allow). A path that differs from the pattern in bytes
 * only (an empty segment, a trailing slash) misses the table and is scanned,
 * with the same outcome; so does a method whose chosen route has parameters.
 */
#include <stdlib.h>
#include <string.h>

#include "router_int.h"

#define METHOD_SLOTS 7

/* Eight bytes at a time: a path is hashed on every request. */
static uint64_t path_hash(const char *p, size_t n)
{
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    }
    if (n) {
        w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)p[i] << (8 * i);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    }
    return h ^ (h >> 31);
}

static unsigned want_of(unsigned slot)
{
    unsigned m = 1u << slot;
    return m == SH_METHOD_HEAD ? (SH_METHOD_HEAD | SH_METHOD_GET) : m;
}

static int has_params(const struct sh_route *r)
{
    for (unsigned i = 0; i < r->nsegs; i++)
        if (r->segs[i].len > 1 && r->segs[i].ptr[0] == ':')
            return 1;
    return 0;
}

/* Route j fits e's path: what the scan would do with it. */
static void consider(struct sh_router *rt, struct sh_route_exact *e, unsigned j)
{
    const struct sh_route *r = &rt->routes[j];
    e->allow |= r->methods;
    for (unsigned s = 0; s < METHOD_SLOTS; s++) {
        if (!(r->methods & want_of(s)))
            continue;
        if (e->best[s] &&
            sh__route_specificity(r) <= sh__route_specificity(&rt->routes[e->best[s] - 1]))
            continue;
        e->best[s] = j + 1;
        if (has_params(r))
            e->noparams &= ~(1u << s);
        else
            e->noparams |= 1u << s;
    }
}

/* a[0..n) == b[0..n), eight bytes at a time (no call for a short path) */
static int same(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
    }
    for (; n; a++, b++, n--)
        if (*a != *b)
            return 0;
    return 1;
}

static const struct sh_route_exact *find(const struct sh_router *rt, const char *p, size_t n,
                                         uint64_t h)
{
    for (unsigned i = (unsigned)h & rt->exact_mask;; i = (i + 1) & rt->exact_mask) {
        unsigned k = rt->exact_slots[i];
        if (!k)
            return NULL;
        const struct sh_route_exact *e = &rt->exact[k - 1];
        if (e->hash == h && e->len == n && same(e->path, p, n))
            return e;
    }
}

static void rehash(struct sh_router *rt)
{
    unsigned size = 16;
    while (size < 2 * (rt->nexact + 1))
        size *= 2;
    free(rt->exact_slots);
    rt->exact_slots = sh_calloc(size, sizeof(*rt->exact_slots));
    rt->exact_mask = size - 1;
    for (unsigned k = 0; k < rt->nexact; k++) {
        unsigned i = (unsigned)rt->exact[k].hash & rt->exact_mask;
        while (rt->exact_slots[i])
            i = (i + 1) & rt->exact_mask;
        rt->exact_slots[i] = k + 1;
    }
}

void sh__router_exact_add(struct sh_router *rt, unsigned idx)
{
    const struct sh_route *r = &rt->routes[idx];
    for (unsigned k = 0; k < rt->nexact; k++) {
        struct sh_route_exact *e = &rt->exact[k];
        const struct sh_route *o = &rt->routes[e->origin];
        if (sh__route_fits(r, o->segs, o->nsegs))
            consider(rt, e, idx);
    }
    if (r->tail || has_params(r))
        return;
    size_t n = strlen(r->pattern);
    uint64_t h = path_hash(r->pattern, n);
    if (rt->exact_mask && find(rt, r->pattern, n, h))
        return; /* the same pattern again: considered above */
    if (rt->nexact == rt->exact_cap) {
        rt->exact_cap = rt->exact_cap ? rt->exact_cap * 2 : 32;
        rt->exact = sh_realloc(rt->exact, rt->exact_cap * sizeof(*rt->exact));
    }
    struct sh_route_exact *e = &rt->exact[rt->nexact++];
    memset(e, 0, sizeof(*e));
    e->path = r->pattern;
    e->len = n;
    e->hash = h;
    e->origin = idx;
    for (unsigned j = 0; j <= idx; j++)
        if (sh__route_fits(&rt->routes[j], r->segs, r->nsegs))
            consider(rt, e, j);
    if (2 * rt->nexact > rt->exact_mask) /* at most half full */
        rehash(rt);
    else {
        unsigned i = (unsigned)h & rt->exact_mask;
        while (rt->exact_slots[i])
            i = (i + 1) & rt->exact_mask;
        rt->exact_slots[i] = rt->nexact;
    }
}

int sh__router_exact_match(const struct sh_router *rt, enum sh_method m, struct sh_str path,
                           struct sh_route_match *out)
{
    if (!rt->exact_mask || m == SH_METHOD_OTHER)
        return 0;
    const struct sh_route_exact *e = find(rt, path.ptr, path.len, path_hash(path.ptr, path.len));
    unsigned s = (unsigned)__builtin_ctz((unsigned)m);
    if (!e || s >= METHOD_SLOTS || !e->best[s] || !(e->noparams & (1u << s)))
        return 0;
    out->route = &rt->routes[e->best[s] - 1];
    out->allow = e->allow;
    out->nparams = 0;
    return 1;
}

void sh__router_exact_free(struct sh_router *rt)
{
    free(rt->exact);
    free(rt->exact_slots);
}
