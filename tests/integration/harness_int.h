/*
 * What the harness's parts share and tests do not: how a part hands an
 * object to the current scope with its own release function, and how the
 * fixtures find the servers a scope owns. Scopes (harness_scope.c) know no
 * object kind; each part says how its objects are released.
 */
#ifndef SH_IT_HARNESS_INT_H
#define SH_IT_HARNESS_INT_H

#include <stddef.h>

/* A kind of scope-owned object. release(p, keep) frees p and what it holds;
 * keep is 1 when the scope saw a failed test (or SH_IT_KEEP=1 is set), so
 * evidence on disk (a server's folder) should stay. */
struct it_res_type {
    const char *name;
    void (*release)(void *p, int keep);
};

/* calloc that aborts on exhaustion (not scope-owned). */
void *it_xcalloc(size_t n);
/* Records p in the current scope (the process's outermost one if none is
 * open). */
void it_track(const struct it_res_type *type, void *p);
/* Calls fn on every object of type owned by the innermost open scope,
 * oldest first. */
void it_scope_each(const struct it_res_type *type, void (*fn)(void *p, void *ud), void *ud);
/* Milliseconds left until deadline, in [0, 60000] (for poll). */
int it_left_ms(long long deadline);

/* The kinds the parts define. */
extern const struct it_res_type it_res_server; /* struct it_server (harness_process.c) */

#endif
