/*
 * Route matching. Patterns are split into segments once, when added; a path
 * is matched segment by segment against each route with no allocation, and
 * parameters are slices of the (already percent-decoded) path. Routes are few
 * (tens), so a linear scan beats a trie in both code and time here; it only
 * visits the routes of the path's segment count (by_len, kept by
 * sh_router_add), a handful instead of every route on every request, and
 * most of those are turned down by the length and first byte of their last
 * static segment, kept beside their index. Of the
 * routes matching a request, the most specific wins (static segments over
 * parameters, see sh__route_specificity()); Allow lists every method of
 * any route matching the path. A path that is byte for byte a static
 * pattern is answered from the exact table first (exact.c), by these rules.
 */
#include <stdlib.h>
#include <string.h>

#include "router_int.h"

void sh_router_init(struct sh_router *rt, const struct sh_config *cfg)
{
    memset(rt, 0, sizeof(*rt));
    rt->cfg = cfg;
}

void sh_router_deinit(struct sh_router *rt)
{
    sh__router_exact_free(rt);
    free(rt->routes);
    for (size_t n = 0; n < SH_ARRAY_LEN(rt->by_len); n++)
        free(rt->by_len[n]);
    memset(rt, 0, sizeof(*rt));
}

/* Splits p at '/' into segs; returns the count or -1 if there are too many. */
static int split(const char *p, size_t len, struct sh_str *segs, unsigned max)
{
    unsigned n = 0;
    size_t i = 0;
    while (i < len) {
        if (p[i] == '/') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && p[i] != '/')
            i++;
        if (n == max)
            return -1;
        segs[n++] = (struct sh_str){p + start, i - start};
    }
    return (int)n;
}

int sh_router_add(struct sh_router *rt, unsigned methods, const char *pattern, sh_handler_fn fn,
                  void *ud)
{
    struct sh_route r;
    memset(&r, 0, sizeof(r));
    r.methods = methods;
    r.pattern = pattern;
    r.fn = fn;
    r.ud = ud;
    int n = split(pattern, strlen(pattern), r.segs, SH_ROUTER_MAX_SEGMENTS);
    if (n < 0 || pattern[0] != '/')
        return SH_EINVAL;
    r.nsegs = (unsigned)n;
    if (n > 0 && sh_str_eq(r.segs[n - 1], "*")) {
        r.tail = 1;
        r.nsegs--;
    }
    unsigned params = 0;
    for (unsigned i = 0; i < r.nsegs; i++)
        if (r.segs[i].len > 1 && r.segs[i].ptr[0] == ':')
            params++;
    if (params > SH_REQ_MAX_PARAMS)
        return SH_EINVAL;
    if (rt->nroutes == rt->cap) {
        rt->cap = rt->cap ? rt->cap * 2 : 16;
        rt->routes = sh_realloc(rt->routes, rt->cap * sizeof(*rt->routes));
        for (size_t k = 0; k < SH_ARRAY_LEN(rt->by_len); k++)
            rt->by_len[k] = sh_realloc(rt->by_len[k], rt->cap * sizeof(*rt->by_len[k]));
    }
    struct sh_route_key key = {.route = rt->nroutes};
    for (unsigned i = r.nsegs; i-- > 0;)
        if (!(r.segs[i].len > 1 && r.segs[i].ptr[0] == ':')) {
            key = (struct sh_route_key){rt->nroutes, i, r.segs[i].len,
                                        (unsigned char)r.segs[i].ptr[0], 1};
            break;
        }
    for (unsigned k = r.nsegs; k < SH_ARRAY_LEN(rt->by_len) && (k == r.nsegs || r.tail); k++)
        rt->by_len[k][rt->nby_len[k]++] = key;
    rt->routes[rt->nroutes++] = r;
    sh__router_exact_add(rt, rt->nroutes - 1);
    return 0;
}

int sh_router_use(struct sh_router *rt, sh_handler_fn fn, void *ud)
{
    if (rt->nmiddleware == SH_ROUTER_MAX_MIDDLEWARE)
        return SH_EINVAL;
    rt->middleware[rt->nmiddleware] = fn;
    rt->middleware_ud[rt->nmiddleware++] = ud;
    return 0;
}

void sh_router_fallback(struct sh_router *rt, sh_handler_fn fn, void *ud)
{
    rt->fallback = fn;
    rt->fallback_ud = ud;
}

static int is_param(const struct sh_str *ps)
{
    return ps->len > 1 && ps->ptr[0] == ':';
}

/* Whether r matches the path's segments. Checked from the last segment to
 * the first: routes share their leading segments ("api", "collections"), so
 * a route that does not match differs soonest at the end, most often in
 * length or first byte, before any memcmp. */
int sh__route_fits(const struct sh_route *r, const struct sh_str *segs, unsigned nsegs)
{
    if (nsegs < r->nsegs || (!r->tail && nsegs != r->nsegs))
        return 0;
    for (unsigned i = r->nsegs; i-- > 0;) {
        const struct sh_str *ps = &r->segs[i];
        if (is_param(ps))
            continue;
        if (ps->len != segs[i].len || (ps->len && ps->ptr[0] != segs[i].ptr[0]) ||
            memcmp(ps->ptr, segs[i].ptr, ps->len) != 0)
            return 0;
    }
    return 1;
}

/* The parameters of r (which fits) from the path's segments. */
static void take_params(const struct sh_route *r, const struct sh_str *segs,
                        struct sh_route_match *out)
{
    unsigned np = 0;
    for (unsigned i = 0; i < r->nsegs; i++) {
        const struct sh_str *ps = &r->segs[i];
        if (is_param(ps)) {
            out->param_names[np] = (struct sh_str){ps->ptr + 1, ps->len - 1};
            out->params[np++] = segs[i];
        }
    }
    out->nparams = np;
}

/* How specific r is: bit (MAX - i) set for a static segment i, so that of
 * two routes matching one path the one with a static segment where the
 * other has a parameter, at the first place they differ, wins
 * ("/api/collections/import" over "/api/collections/:collection"). */
unsigned sh__route_specificity(const struct sh_route *r)
{
    unsigned s = 0;
    for (unsigned i = 0; i < r->nsegs; i++)
        if (!(r->segs[i].len > 1 && r->segs[i].ptr[0] == ':') &&
            !(r->segs[i].len == 1 && r->segs[i].ptr[0] == '*'))
            s |= 1u << (SH_ROUTER_MAX_SEGMENTS - i);
    return s;
}

int sh_router_match(const struct sh_router *rt, enum sh_method m, struct sh_str path,
                    struct sh_route_match *out)
{
    struct sh_str segs[SH_ROUTER_MAX_SEGMENTS + 1];
    out->route = NULL; /* the parameter arrays are filled up to nparams only */
    out->allow = 0;
    out->nparams = 0;
    if (sh__router_exact_match(rt, m, path, out))
        return 1; /* a static pattern, byte for byte: no split, no scan */
    int n = split(path.ptr, path.len, segs, SH_ROUTER_MAX_SEGMENTS + 1);
    if (n < 0)
        return 0; /* deeper than any route */
    unsigned want = m == SH_METHOD_HEAD ? (SH_METHOD_HEAD | SH_METHOD_GET) : (unsigned)m;
    const struct sh_route *best = NULL;
    unsigned best_spec = 0;
    const struct sh_route_key *cand = rt->by_len[n];
    for (unsigned i = 0; i < rt->nby_len[n]; i++) {
        const struct sh_route_key *k = &cand[i];
        if (k->has && (segs[k->seg].len != k->len || (unsigned char)segs[k->seg].ptr[0] != k->c0))
            continue; /* most routes end here, without reading the route */
        const struct sh_route *r = &rt->routes[k->route];
        if (!sh__route_fits(r, segs, (unsigned)n))
            continue;
        out->allow |= r->methods;
        if (!(r->methods & want))
            continue;
        unsigned spec = sh__route_specificity(r);
        if (!best || spec > best_spec) { /* the first added wins a tie */
            best = r;
            best_spec = spec;
        }
    }
    if (!best)
        return 0;
    take_params(best, segs, out);
    out->route = best;
    return 1;
}

void sh_router_format_allow(unsigned methods, char *buf, size_t len)
{
    static const struct {
        unsigned m;
        const char *name;
    } names[] = {{SH_METHOD_GET, "GET"},        {SH_METHOD_HEAD, "HEAD"},
                 {SH_METHOD_POST, "POST"},      {SH_METHOD_PUT, "PUT"},
                 {SH_METHOD_PATCH, "PATCH"},    {SH_METHOD_DELETE, "DELETE"},
                 {SH_METHOD_OPTIONS, "OPTIONS"}};
    if (methods & SH_METHOD_GET)
        methods |= SH_METHOD_HEAD;
    methods |= SH_METHOD_OPTIONS;
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < SH_ARRAY_LEN(names); i++) {
        if (!(methods & names[i].m))
            continue;
        size_t nl = strlen(names[i].name);
        if (o + nl + 3 > len)
            break;
        if (o) {
            memcpy(buf + o, ", ", 2);
            o += 2;
        }
        memcpy(buf + o, names[i].name, nl + 1);
        o += nl;
    }
}

int sh_router_dispatch(struct sh_req *r, void *ud)
{
    struct sh_router *rt = ud;
    /* Matched before the middleware, so that what a middleware answers (a
     * 429) is counted and logged under its route; the match is pure. */
    struct sh_route_match m;
    int matched = sh_router_match(rt, r->method, r->path, &m);
    if (matched) {
        r->route = m.route->pattern;
        r->route_id = (unsigned)(m.route - rt->routes) + 1;
        r->nparams = m.nparams;
        for (unsigned i = 0; i < m.nparams; i++) { /* a few: no memcpy call per request */
            r->param_names[i] = m.param_names[i];
            r->params[i] = m.params[i];
        }
    }
    for (unsigned i = 0; i < rt->nmiddleware; i++)
        if (rt->middleware[i](r, rt->middleware_ud[i]) == SH_HANDLED)
            return SH_HANDLED;
    if (matched)
        return m.route->fn(r, m.route->ud);
    if (m.allow) {
        char allow[96];
        sh_router_format_allow(m.allow, allow, sizeof(allow));
        sh_res_header(r, "Allow", allow);
        sh_res_error(r, 405, "Method not allowed.", NULL);
        return SH_HANDLED;
    }
    if (rt->fallback && rt->fallback(r, rt->fallback_ud) == SH_HANDLED)
        return SH_HANDLED;
    sh_res_error(r, 404, "The requested resource wasn't found.", NULL);
    return SH_HANDLED;
}
