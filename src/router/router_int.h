/*
 * What router.c and exact.c share: the scan's fit and ranking rules, which
 * the exact table must apply the same way. Not a public header.
 */
#ifndef SH_ROUTER_INT_H
#define SH_ROUTER_INT_H

#include "stagehand/router.h"

/* Whether r matches a path split into segs[0..nsegs). */
int sh__route_fits(const struct sh_route *r, const struct sh_str *segs, unsigned nsegs);
/* How specific r is: of two routes fitting a path, the higher wins; the
 * first added wins a tie. */
unsigned sh__route_specificity(const struct sh_route *r);

/* exact.c */
/* Route routes[idx] was just added: updates the entries it fits and, for a
 * fully static pattern not seen before, adds its entry. */
void sh__router_exact_add(struct sh_router *rt, unsigned idx);
/* The scan's answer for a path that is byte for byte a static pattern,
 * when that answer needs no parameters: 1 with out filled as
 * sh_router_match would; 0 when the scan must decide. */
int sh__router_exact_match(const struct sh_router *rt, enum sh_method m, struct sh_str path,
                           struct sh_route_match *out);
void sh__router_exact_free(struct sh_router *rt);

#endif
