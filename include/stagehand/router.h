/*
 * stagehand router: routes by method and path with `:param` segments, matched
 * without allocation (parameters are slices of the request path), 404 and
 * 405 with Allow in the API error shape, a middleware chain, CORS preflight.
 */
#ifndef STAGEHAND_ROUTER_H
#define STAGEHAND_ROUTER_H

#include "stagehand/http.h"

#define SH_ROUTER_MAX_SEGMENTS   12
#define SH_ROUTER_MAX_MIDDLEWARE 8

struct sh_route {
    unsigned methods; /* OR of enum sh_method */
    const char *pattern;
    sh_handler_fn fn;
    void *ud;
    /* the pattern split at '/', precomputed by sh_router_add */
    struct sh_str segs[SH_ROUTER_MAX_SEGMENTS];
    unsigned nsegs;
    unsigned tail : 1; /* pattern ends in '*': matches any rest */
};

/* A route as the first test of a match sees it: its last static segment
 * (index, length, first byte), checked before the route itself is read. */
struct sh_route_key {
    unsigned route; /* index in routes */
    unsigned seg;   /* the last static segment's index; has == 0: none */
    size_t len;
    unsigned char c0; /* its first byte */
    unsigned char has;
};

/* A fully static pattern, found by the path's exact bytes before any scan
 * (exact.c). Per method (bit index of enum sh_method; HEAD takes GET
 * routes too) the route the scan would choose, as index + 1 (0: none), and
 * allow: the methods of every route that fits the path. */
struct sh_route_exact {
    const char *path; /* the pattern of the route that made it */
    size_t len;
    uint64_t hash;
    unsigned origin;   /* that route's index: its segments are the path's */
    unsigned allow;    /* OR of enum sh_method */
    unsigned best[7];  /* by method bit index */
    unsigned noparams; /* bit i: best[i] has no parameter, so no scan is needed */
};

struct sh_router {
    struct sh_route *routes;
    unsigned nroutes, cap;
    /* by_len[n]: the routes, in the order added, that a path of n segments
     * can match (nsegs == n, or a tail route with nsegs <= n); each array has
     * room for cap entries */
    struct sh_route_key *by_len[SH_ROUTER_MAX_SEGMENTS + 2];
    unsigned nby_len[SH_ROUTER_MAX_SEGMENTS + 2];
    sh_handler_fn middleware[SH_ROUTER_MAX_MIDDLEWARE];
    void *middleware_ud[SH_ROUTER_MAX_MIDDLEWARE];
    unsigned nmiddleware;
    sh_handler_fn fallback; /* tried when no route matches (static files) */
    void *fallback_ud;
    const struct sh_config *cfg;
    /* exact[0..nexact): the fully static patterns, hashed into slots
     * (entry index + 1, 0 = empty; exact_mask + 1 slots, a power of two) */
    struct sh_route_exact *exact;
    unsigned nexact, exact_cap;
    unsigned *exact_slots;
    unsigned exact_mask;
};

struct sh_route_match {
    const struct sh_route *route; /* NULL: no route for this method */
    unsigned allow;               /* methods with a route for this path (for 405) */
    struct sh_str param_names[SH_REQ_MAX_PARAMS];
    struct sh_str params[SH_REQ_MAX_PARAMS];
    unsigned nparams;
};

void sh_router_init(struct sh_router *rt, const struct sh_config *cfg);
void sh_router_deinit(struct sh_router *rt);
/* Adds a route. pattern: "/api/collections/:collection/records/:id"; a last
 * segment "*" matches any rest. 0, or SH_EINVAL for a pattern with too many segments/params. */
int sh_router_add(struct sh_router *rt, unsigned methods, const char *pattern, sh_handler_fn fn,
                  void *ud);
/* Appends middleware run before every handler, in order; each returns SH_PASS
 * to continue or SH_HANDLED after answering. */
int sh_router_use(struct sh_router *rt, sh_handler_fn fn, void *ud);
void sh_router_fallback(struct sh_router *rt, sh_handler_fn fn, void *ud);

/* Matches method and path. Returns 1 when a route matched (out->route set), 0
 * otherwise (out->allow says which methods would match the path). HEAD
 * matches GET routes. */
int sh_router_match(const struct sh_router *rt, enum sh_method m, struct sh_str path,
                    struct sh_route_match *out);

/* The server's handler: middleware, match, handler; 404/405 otherwise.
 * ud is the struct sh_router. */
int sh_router_dispatch(struct sh_req *r, void *ud);

/* Formats an Allow header value for a method mask into buf (>= 64 bytes). */
void sh_router_format_allow(unsigned methods, char *buf, size_t len);

/* Middleware: answers CORS preflight and plain OPTIONS. */
int sh_mw_cors(struct sh_req *r, void *ud);

#endif
