/*
 * The route table: every API route in one place, with the middleware chain
 * that runs before them, and the state the records handlers share.
 */
#include "stagehand/api.h"

#include <string.h>

#include "db/filter.h"
#include "stagehand/static.h"

#define FILTER_CACHE_SIZE 512

int sh_api_register(struct sh_router *rt, struct sh_static *files)
{
    int rc = 0;
    rc |= sh_router_use(rt, sh_mw_cors, rt);
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/health", sh_api_health, NULL);
    if (files)
        sh_router_fallback(rt, sh_static_handle, files);
    return rc ? SH_EINVAL : 0;
}

void sh_api_records_init(struct sh_api_records *a, uv_loop_t *loop, struct sh_db *db,
                         struct sh_catalog *catalog)
{
    memset(a, 0, sizeof(*a));
    a->loop = loop;
    a->db = db;
    a->catalog = catalog;
    a->filters = sh_filter_cache_new(FILTER_CACHE_SIZE);
}

void sh_api_records_deinit(struct sh_api_records *a)
{
    sh_filter_cache_free(a->filters);
    memset(a, 0, sizeof(*a));
}

int sh_api_records_register(struct sh_router *rt, struct sh_api_records *a)
{
    static const char list[] = "/api/collections/:collection/records";
    static const char one[] = "/api/collections/:collection/records/:id";
    int rc = 0;
    rc |= sh_router_add(rt, SH_METHOD_GET, list, sh_api_records_list, a);
    rc |= sh_router_add(rt, SH_METHOD_POST, list, sh_api_records_create, a);
    rc |= sh_router_add(rt, SH_METHOD_GET, one, sh_api_records_view, a);
    rc |= sh_router_add(rt, SH_METHOD_PATCH, one, sh_api_records_update, a);
    rc |= sh_router_add(rt, SH_METHOD_DELETE, one, sh_api_records_delete, a);
    return rc ? SH_EINVAL : 0;
}
