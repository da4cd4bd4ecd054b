/*
 * stagehand api: the HTTP handlers of API.md and the table that registers
 * them with the router.
 */
#ifndef STAGEHAND_API_H
#define STAGEHAND_API_H

#include <stdbool.h>

#include <uv.h>

#include "stagehand/router.h"

struct sh_static;
struct sh_db;
struct sh_catalog;
struct sh_config;
struct sh_api_auth;
struct sh_api_records;

struct sh_api_backups;

/* What GET /api/health reports beyond the router's configuration: the
 * backups state (NULL: none, canBackup is then true). Owned by the caller;
 * it must outlive the router. */
struct sh_api_health {
    const struct sh_router *rt;
    const struct sh_api_backups *backups;
};

/* Registers every API route and middleware on rt; static files (may be NULL)
 * become the router's fallback; health (not NULL, health->rt == rt) is
 * GET /api/health's state. 0 or a negative code. */
int sh_api_register(struct sh_router *rt, struct sh_static *files, struct sh_api_health *health);

/* GET /api/health; ud is a struct sh_api_health. */
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
/* Start-up, before serving: removes stored files under <dir>/storage/ that
 * no record's file field names (a crash's leftovers; files changed in the
 * last 10 minutes are kept) and the folders of records that do not exist.
 * Returns the files removed (api/records/files_sweep.c). */
unsigned sh_api_records_sweep_files(struct sh_api_records *a);
/* Shares expensive list answers through this Redis client (NULL: stop).
 * The client must outlive a's use of it (sh_api_records_use_redis(a, NULL)
 * before closing it). */
struct sh_redis;
void sh_api_records_use_redis(struct sh_api_records *a, struct sh_redis *redis);
/* POST /api/batch's limits from the settings' batch (enabled, maxRequests,
 * timeout in ms, maxBodySize in bytes with 0 = the --batch-max-body default),
 * each unless its --batch-* flag (or variable) was given. Loop thread. */
void sh_api_records_set_batch(struct sh_api_records *a, bool enabled, unsigned max_requests,
                              uint64_t timeout_ms, uint64_t max_body);
/* Adds the five records routes of API.md and POST /api/batch. 0 or a
 * negative code. */
int sh_api_records_register(struct sh_router *rt, struct sh_api_records *a);

int sh_api_records_list(struct sh_req *r, void *ud);
int sh_api_records_view(struct sh_req *r, void *ud);
int sh_api_records_create(struct sh_req *r, void *ud);
int sh_api_records_update(struct sh_req *r, void *ud);
int sh_api_records_delete(struct sh_req *r, void *ud);
/* GET /api/files/:collection/:id/:filename (api/records/files_get.c): a
 * record's stored file; registered by sh_api_records_register. */
int sh_api_files_get(struct sh_req *r, void *ud);

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
/* In a group (--redis): every committed write's change event is published
 * through pub and the others' are received on a subscriber connection of
 * its own, opened with o (the server's Redis options), so subscribers of
 * any instance get every event once (api/realtime/remote.c).
 * sh_api_realtime_stop_redis closes it, before pub is closed. */
struct sh_redis_options;
void sh_api_realtime_use_redis(struct sh_api_records *a, struct sh_redis *pub,
                               const struct sh_redis_options *o);
void sh_api_realtime_stop_redis(struct sh_api_records *a);
/* ---- operations: metrics and stored logs (API.md "Health and operations"; api/ops/) ---- */

struct sh_http_server;
struct sh_metrics;
struct sh_logs;

/*
 * The stored logs: request logs and warn/error lines written to
 * <cfg->dir>/auxiliary.db (WAL, synchronous=NORMAL) in batches by a thread of
 * its own, through a queue of cfg->logs_queue entries (beyond it entries are
 * dropped and counted), pruned every cfg->logs_prune_interval to
 * cfg->logs_max_days and cfg->logs_max_size. Opens the file (blocking: at
 * start-up), starts the thread and becomes the log's warn/error sink. The
 * state, or NULL with a one-line message in err. cfg and loop are borrowed.
 */
struct sh_logs *sh_logs_open(uv_loop_t *loop, const struct sh_config *cfg, char *err,
                             size_t errlen);
/* Retention from now on (the settings API calls this): days kept (0: store
 * nothing more) and the size cap in bytes (0: none). Any thread. */
void sh_logs_set_retention(struct sh_logs *l, unsigned max_days, uint64_t max_size);
/* Queues the request log of r, which took exec_us (loop; never blocks: a
 * full queue drops the entry and counts it). No secret is copied: no
 * Authorization, Cookie or body, and `token` query values are cut from the
 * url and referer. */
void sh_logs_request(struct sh_logs *l, const struct sh_req *r, uint64_t exec_us);
/* Adds GET /api/logs, /api/logs/stats, /api/logs/:id and DELETE /api/logs
 * (superusers only). 0 or a negative code. */
int sh_logs_register(struct sh_router *rt, struct sh_logs *l);
/* At shutdown, after the last request: writes what is queued, stops the
 * thread, leaves the log sink and closes the handles (run the loop once more
 * for their callbacks). Safe to call twice; NULL is ignored. */
void sh_logs_close(struct sh_logs *l);
/* After sh_logs_close and the loop's close callbacks. NULL is ignored. */
void sh_logs_free(struct sh_logs *l);

/*
 * The metrics of GET /api/metrics (Prometheus text 0.0.4). Counts on the
 * loop in plain integers (no lock, no formatting per request); reads the
 * other threads' counters (writer, hashing pool, log thread) and the process
 * when scraped. rt, http, db, auth and logs are borrowed (auth and logs may be
 * NULL) and must outlive it. Allocation failure aborts.
 */
struct sh_metrics *sh_metrics_new(uv_loop_t *loop, const struct sh_config *cfg,
                                  const struct sh_router *rt, const struct sh_http_server *http,
                                  struct sh_db *db, struct sh_api_auth *auth, struct sh_logs *logs);
/* Registers a family of one sample, read(ud) when scraped: a later
 * metric (cache, realtime) is one call. type is "counter" (name ends in
 * _total) or "gauge". 0, or SH_EINVAL when the table is full. */
int sh_metrics_add(struct sh_metrics *m, const char *name, const char *help, const char *type,
                   double (*read)(void *ud), void *ud);
/* The http server's on_done hook (ud: the struct sh_metrics): counts r and
 * queues its stored log. Loop thread. */
void sh_metrics_on_done(const struct sh_req *r, void *ud);
/* The families of the Redis client (redis may be NULL: none), and of the
 * records' Redis list answers and realtime streams (ops/metrics_features.c). */
struct sh_redis;
void sh_metrics_add_redis(struct sh_metrics *m, struct sh_redis *redis);
void sh_metrics_add_records(struct sh_metrics *m, struct sh_api_records *a);
/* Adds GET /api/metrics with ud m. 0 or a negative code. */
int sh_metrics_register(struct sh_router *rt, struct sh_metrics *m);
/* GET /api/metrics: a superuser, or `Authorization: Bearer <--metrics-token>`. */
int sh_api_metrics(struct sh_req *r, void *ud);
/* Closes the lag timer (run the loop for its callback before the free). */
void sh_metrics_stop(struct sh_metrics *m);
void sh_metrics_free(struct sh_metrics *m);
/* ---- backups (PocketBase's backups API; api/ops/) ---- */

/*
 * The backups state (struct sh_api_backups, opaque; api/ops/ops_int.h): the
 * backup thread (one operation at a time) and its completion. on_restore(arg)
 * runs on the loop once a restore's archive was validated and staged (the
 * 204 is sent): the server must then drain, close its database, call
 * sh_backup_restore_swap and restart (main.c re-executes itself).
 */
struct sh_api_backups;
/* cfg and auth are borrowed and must outlive it. Allocation failure aborts. */
struct sh_api_backups *sh_api_backups_new(uv_loop_t *loop, const struct sh_config *cfg,
                                          struct sh_api_auth *auth, void (*on_restore)(void *),
                                          void *arg);
/* Before the database closes: waits for a running backup thread (shutdown
 * finishes the archive being written) and closes the async handle. Safe to
 * call twice. */
void sh_api_backups_stop(struct sh_api_backups *b);
/* After sh_api_backups_stop and the close callbacks. NULL is ignored. */
void sh_api_backups_free(struct sh_api_backups *b);
/* True while a backup, an upload's validation or a restore runs (health's
 * canBackup is false then, as PocketBase's). Loop thread. */
bool sh_api_backups_busy(const struct sh_api_backups *b);
/* Adds the backups routes and POST /api/files/token. 0 or a negative code. */
int sh_api_backups_register(struct sh_router *rt, struct sh_api_backups *b);

/* ---- settings and scheduled jobs (api/ops/settings.c, crons.c) ---- */

/*
 * The crons state (struct sh_api_crons, opaque): the once-a-minute timer and
 * the jobs (the backups cron, sessions cleanup, temporary-file sweep). db,
 * cfg and backups are borrowed. Allocation failure aborts.
 */
struct sh_api_crons;
struct sh_api_crons *sh_api_crons_new(uv_loop_t *loop, const struct sh_config *cfg,
                                      struct sh_db *db, struct sh_api_backups *backups);
/* Before the database closes: no job starts any more; closes the timer. */
void sh_api_crons_stop(struct sh_api_crons *c);
/* After the database closed (no job left) and the close callbacks. */
void sh_api_crons_free(struct sh_api_crons *c);
/* Schedules job id (shown by GET /api/crons; unique, < 64 bytes) at expr
 * (five cron fields, UTC; "" = listed nowhere, never run). At each match
 * (or POST /api/crons/{id}) start(arg) runs on the loop unless the job is
 * still running: it must begin the work off the loop and return 0 (the job
 * then calls sh_api_crons_done(c, id) on the loop when the work ends), or
 * return a code (the run is over). 0, or SH_EINVAL (bad expr, duplicate
 * id, 16 jobs already). Loop thread, before or while serving. */
int sh_api_crons_add(struct sh_api_crons *c, const char *id, const char *expr,
                     int (*start)(void *arg), void *arg);
/* The run of job id ended (it may run again). */
void sh_api_crons_done(struct sh_api_crons *c, const char *id);
/* GET /api/crons and POST /api/crons/:id. 0 or a negative code. */
int sh_api_crons_register(struct sh_router *rt, struct sh_api_crons *c);

/*
 * The settings state (struct sh_api_settings, opaque): the current settings
 * (read from the database at start-up, before serving) and what they apply
 * live (the rateLimits rules, the trusted proxies, the backups cron). cfg,
 * db, auth and crons are borrowed. Allocation failure aborts.
 */
struct sh_api_settings;
struct sh_api_settings *sh_api_settings_new(uv_loop_t *loop, const struct sh_config *cfg,
                                            struct sh_db *db, struct sh_api_auth *auth,
                                            struct sh_api_crons *crons);
/* The stored logs whose retention the settings' logs.maxDays sets (applied
 * now and at every change), unless --logs-max-days (or its variable) was
 * given: then GET names it in "overriddenBy". */
void sh_api_settings_use_logs(struct sh_api_settings *s, struct sh_logs *logs);
/* The records API whose batch limits the settings' batch sets (applied now
 * and at every change; the --batch-* flags win). */
void sh_api_settings_use_records(struct sh_api_settings *s, struct sh_api_records *records);
/* After the database closed (no settings write left). NULL is ignored. */
void sh_api_settings_free(struct sh_api_settings *s);
/* The rateLimits middleware (after sh_api_auth_register's) and GET/PATCH
 * /api/settings. 0 or a negative code. */
int sh_api_settings_register(struct sh_router *rt, struct sh_api_settings *s);

/* ---- the SQL console (api/ops/sql.c) ---- */

/* Its state (opaque): a read-only connection of its own (opened now, at
 * start-up) and the limits of cfg; db and auth (whose list-total cache and
 * token epoch a console write invalidates) are borrowed. Allocation failure
 * aborts. */
struct sh_api_sql;
struct sh_api_sql *sh_api_sql_new(const struct sh_config *cfg, struct sh_db *db,
                                  struct sh_api_auth *auth);
/* Before the database closes: closes the console's read connection (so the
 * database's own close removes the WAL); reads answer 500 afterwards. */
void sh_api_sql_stop(struct sh_api_sql *s);
/* After the database closed (no console write left). NULL is ignored. */
void sh_api_sql_free(struct sh_api_sql *s);
/* POST /api/sql. 0 or a negative code. */
int sh_api_sql_register(struct sh_router *rt, struct sh_api_sql *s);

#endif
