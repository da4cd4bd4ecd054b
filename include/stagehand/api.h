/*
 * stagehand api: the HTTP handlers of API.md and the table that registers
 * them with the router.
 */
#ifndef STAGEHAND_API_H
#define STAGEHAND_API_H

#include <uv.h>

#include "stagehand/router.h"

struct sh_static;
struct sh_db;
struct sh_catalog;
struct sh_filter_cache;
struct sh_config;
struct sh_hash_pool;
struct sh_ratelimit;
struct sh_cidr_list;
struct sh__touch;
struct sh__auth_cache;
struct sh_api_records;
struct sh__rec_views;

/* Registers every API route and middleware on rt; static files (may be NULL)
 * become the router's fallback. 0 or a negative code. */
int sh_api_register(struct sh_router *rt, struct sh_static *files);

int sh_api_health(struct sh_req *r, void *ud);

/* ---- accounts (API.md "Auth"; api/auth_*.c) ---- */

/*
 * What the auth middleware and routes share: the hashing pool, the rate
 * limiters, the trusted-proxy and exempt address lists, and the batch of
 * session "last used" times waiting to be written. Process lifetime; loop
 * thread.
 */
struct sh_api_auth {
    uv_loop_t *loop;
    const struct sh_config *cfg;
    struct sh_db *db;
    struct sh_catalog *catalog;
    struct sh_hash_pool *pool;
    struct sh_cidr_list *trusted, *exempt;
    struct sh_ratelimit *rl_auth, *rl_identity, *rl_all; /* NULL = off */
    struct sh_ratelimit *rl_pair, *rl_reset;             /* per (account, address); reset mails */
    int mailer;                                          /* enum in api/auth_mail.c */
    struct sh__touch *touch;                             /* pending lastUsed writes */
    uv_timer_t timer;                                    /* flushes them; sweeps sessions */
    uint64_t ticks;
    struct sh__auth_cache *cache; /* verified tokens (--token-cache); NULL = off */
    uint64_t epoch;               /* moves at every revocation (api/auth_cache.c) */
    int started;
};

/* Starts the hashing pool and the limiters of cfg (db and catalog are
 * borrowed). 0, or -1 with a one-line message in err (a bad CIDR list). */
int sh_api_auth_init(struct sh_api_auth *a, uv_loop_t *loop, const struct sh_config *cfg,
                     struct sh_db *db, struct sh_catalog *catalog, char *err, size_t errlen);
/* Before the database closes: writes the pending session times, stops the
 * pool (queued hash jobs fail with -ECANCELED) and closes the timer. */
void sh_api_auth_stop(struct sh_api_auth *a);
/* After the loop has run the close callbacks: frees the rest. */
void sh_api_auth_deinit(struct sh_api_auth *a);
/* Adds the client address, token and general rate limit middleware and the
 * auth routes of API.md. 0 or a negative code. */
int sh_api_auth_register(struct sh_router *rt, struct sh_api_auth *a);

/* Middleware, in this order: the client address (r->client_ip); the token
 * of Authorization (r->auth; a missing, malformed, expired or revoked token
 * leaves the request a guest); the per-IP limit of --rate-limit-all. */
int sh_api_mw_client_ip(struct sh_req *r, void *ud);
int sh_api_mw_auth(struct sh_req *r, void *ud);
int sh_api_mw_ratelimit(struct sh_req *r, void *ud);

int sh_api_auth_with_password(struct sh_req *r, void *ud);
int sh_api_auth_refresh(struct sh_req *r, void *ud);
int sh_api_auth_methods(struct sh_req *r, void *ud);
int sh_api_auth_logout(struct sh_req *r, void *ud);
int sh_api_auth_logout_all(struct sh_req *r, void *ud);
int sh_api_auth_request_reset(struct sh_req *r, void *ud);
int sh_api_auth_confirm_reset(struct sh_req *r, void *ud);

/* ---- collections (API.md "Collections"; superusers only) ---- */

/* Adds GET/POST /api/collections and GET/PATCH/DELETE
 * /api/collections/:collection. ud is the struct sh_api_records. */
int sh_api_collections_register(struct sh_router *rt, struct sh_api_records *a);
int sh_api_collections_list(struct sh_req *r, void *ud);
int sh_api_collections_view(struct sh_req *r, void *ud);
int sh_api_collections_create(struct sh_req *r, void *ud);
int sh_api_collections_update(struct sh_req *r, void *ud);
int sh_api_collections_delete(struct sh_req *r, void *ud);

/* What the records handlers share: the storage, the collection catalog and a
 * cache of parsed `filter` parameters, and the accounts state (passwords are
 * hashed on its pool; sign-ups count against its per-IP limit). Process
 * lifetime; loop thread. */
struct sh_api_records {
    uv_loop_t *loop;
    struct sh_db *db;
    struct sh_catalog *catalog;
    struct sh_filter_cache *filters;
    struct sh_api_auth *auth;    /* set after sh_api_records_init */
    struct sh__rec_views *views; /* the current snapshot's schema views (records/context.c) */
};

/* ---- records (API.md "Records") ---- */

/* Prepares a (db and catalog are borrowed and must outlive it). */
void sh_api_records_init(struct sh_api_records *a, uv_loop_t *loop, struct sh_db *db,
                         struct sh_catalog *catalog);
void sh_api_records_deinit(struct sh_api_records *a);
/* Adds the five records routes of API.md. 0 or a negative code. */
int sh_api_records_register(struct sh_router *rt, struct sh_api_records *a);

int sh_api_records_list(struct sh_req *r, void *ud);
int sh_api_records_view(struct sh_req *r, void *ud);
int sh_api_records_create(struct sh_req *r, void *ud);
int sh_api_records_update(struct sh_req *r, void *ud);
int sh_api_records_delete(struct sh_req *r, void *ud);

#endif
