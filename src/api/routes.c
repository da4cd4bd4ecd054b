/*
 * The route table: every API route in one place, with the middleware chain
 * that runs before them.
 */
#include "stagehand/api.h"
#include "stagehand/static.h"

int sh_api_register(struct sh_router *rt, struct sh_static *files)
{
    int rc = 0;
    rc |= sh_router_use(rt, sh_mw_cors, rt);
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/health", sh_api_health, NULL);
    if (files)
        sh_router_fallback(rt, sh_static_handle, files);
    return rc ? SH_EINVAL : 0;
}
