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
struct sh_config;
struct sh_api_auth;
struct sh_api_records;

/* Registers every API route and middleware on rt; static files (may be NULL)
 * become the router's fallback. 0 or a negative code. */
int sh_api_register(struct sh_router *rt, struct sh_static *files);

int sh_api_health(struct sh_req *r, void *ud);

/* ---- accounts (API.md "Auth"; api/auth/) ---- */

/*
 * The accounts state (struct sh_api_auth, opaque; api/auth/auth_int.h): the
 * hashing pool, the rate limiters, the trusted-proxy and exempt address
 * lists, the verified-token cache and the batch of session "last used"
 * times waiting to be written. One per server; loop thread.
 */

/* Starts the hashing pool and the limiters of cfg (loop, cfg, db and catalog
 * are borrowed and must outlive it). The new state, or NULL with a one-line
 * message in err (a bad CIDR list, a bad --mailer or --hash-nice, threads
 * that would not start). */
struct sh_api_auth *sh_api_auth_new(uv_loop_t *loop, const struct sh_config *cfg, struct sh_db *db,
                                    struct sh_catalog *catalog, char *err, size_t errlen);
/* Before the database closes: writes the pending session times, stops the
 * pool (queued hash jobs fail with -ECANCELED) and closes the timer. Safe to
 * call twice. */
void sh_api_auth_stop(struct sh_api_auth *a);
/* This server shares its data directory with other instances (--redis): a
 * revocation made by any of them (logout, password change, deleted
 * account) is honoured here from the next request, through the shared
 * table versions (db/engine/versions.c) that the verified-token cache then
 * checks (each check costs a PRAGMA data_version), and rate limits are
 * counted for the group in redis (api/auth/shared_limits.c; the client must
 * outlive a's use: sh_api_auth_stop first). */
struct sh_redis;
void sh_api_auth_join_group(struct sh_api_auth *a, struct sh_redis *redis);
/* After sh_api_auth_stop and once the loop has run the close callbacks:
 * frees the rest. NULL is ignored. */
void sh_api_auth_free(struct sh_api_auth *a);
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

/* Adds GET/POST /api/collections, GET/PATCH/DELETE
 * /api/collections/:collection and the routes below. ud is the struct
 * sh_api_records. */
int sh_api_collections_register(struct sh_router *rt, struct sh_api_records *a);
int sh_api_collections_list(struct sh_req *r, void *ud);
int sh_api_collections_view(struct sh_req *r, void *ud);
int sh_api_collections_create(struct sh_req *r, void *ud);
int sh_api_collections_update(struct sh_req *r, void *ud);
int sh_api_collections_delete(struct sh_req *r, void *ud);
/* PUT /api/collections/import {collections, deleteMissing} (PocketBase's):
 * every collection created or updated, and with deleteMissing the others
 * (not system ones) deleted, in one transaction; 204. collections_meta.c. */
int sh_api_collections_import(struct sh_req *r, void *ud);
/* GET /api/collections/meta/scaffolds: a template collection per type. */
int sh_api_collections_scaffolds(struct sh_req *r, void *ud);
/* GET /api/collections/meta/oauth2-providers: [] until OAuth2 exists. */
int sh_api_collections_oauth2_providers(struct sh_req *r, void *ud);
/* DELETE /api/collections/{c}/truncate: every record deleted; 204. */
int sh_api_collections_truncate(struct sh_req *r, void *ud);
/* POST /api/collections/meta/dry-run-view {"viewQuery"}: the view
 * collection the query would make (its inferred fields), nothing stored. */
int sh_api_collections_dry_run_view(struct sh_req *r, void *ud);

/* ---- records (API.md "Records") ---- */

/* What the records handlers share (struct sh_api_records, opaque;
 * api/records/records_int.h): the storage, the collection catalog, a cache
 * of parsed `filter` parameters, the count cache of list totals, the read
 * budgets of clients and the response buffer for rows written as JSON, plus
 * the accounts state (passwords are hashed on its pool; sign-ups count
 * against its per-IP limit). Everything but the borrowed pointers belongs
 * to it, so two servers can live in one process. Loop thread. */

/* A new records state; loop, cfg, db, catalog and auth are borrowed and
 * must outlive it (auth's password reset writes end their count cache marks
 * in its count cache). Allocation failure aborts. */
struct sh_api_records *sh_api_records_new(uv_loop_t *loop, const struct sh_config *cfg,
                                          struct sh_db *db, struct sh_catalog *catalog,
                                          struct sh_api_auth *auth);
/* After the database closed (no write job left): frees it. NULL is ignored. */
void sh_api_records_free(struct sh_api_records *a);
/* Shares expensive list answers through this Redis client (NULL: stop).
 * The client must outlive a's use of it (sh_api_records_use_redis(a, NULL)
 * before closing it). */
struct sh_redis;
void sh_api_records_use_redis(struct sh_api_records *a, struct sh_redis *redis);
/* Adds the five records routes of API.md and POST /api/batch. 0 or a
 * negative code. */
int sh_api_records_register(struct sh_router *rt, struct sh_api_records *a);

int sh_api_records_list(struct sh_req *r, void *ud);
int sh_api_records_view(struct sh_req *r, void *ud);
int sh_api_records_create(struct sh_req *r, void *ud);
int sh_api_records_update(struct sh_req *r, void *ud);
int sh_api_records_delete(struct sh_req *r, void *ud);

/* POST /api/batch (API.md "Batch"; api/batch/): records creates, updates,
 * deletes and upserts that commit together or not at all. ud is the
 * struct sh_api_records; registered by sh_api_records_register. */
int sh_api_batch(struct sh_req *r, void *ud);
/* ---- realtime (API.md "Realtime"; api/realtime/) ---- */

/* Starts the realtime broker of a (its sweep timer and delivery handle,
 * closed with the loop's other handles; freed by sh_api_records_free) and
 * adds GET and POST /api/realtime. ud of both handlers is a. 0 or a
 * negative code. */
int sh_api_realtime_register(struct sh_router *rt, struct sh_api_records *a);
int sh_api_realtime_connect(struct sh_req *r, void *ud);
int sh_api_realtime_subscribe(struct sh_req *r, void *ud);

#endif
