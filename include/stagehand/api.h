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

/* Registers every API route and middleware on rt; static files (may be NULL)
 * become the router's fallback. 0 or a negative code. */
int sh_api_register(struct sh_router *rt, struct sh_static *files);

int sh_api_health(struct sh_req *r, void *ud);

/* ---- records (API.md "Records") ---- */

/* What the records handlers share: the storage, the collection catalog and a
 * cache of parsed `filter` parameters. Process lifetime; loop thread. */
struct sh_api_records {
    uv_loop_t *loop;
    struct sh_db *db;
    struct sh_catalog *catalog;
    struct sh_filter_cache *filters;
};

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
