/*
 * The route table: every API route in one place, with the middleware chain
 * that runs before them (CORS preflight; then, from sh_api_auth_register,
 * the client address, the token, the general rate limit).
 */
#include "auth_int.h"
#include "realtime_int.h"
#include "stagehand/api.h"
#include "stagehand/static.h"

int sh_api_register(struct sh_router *rt, struct sh_static *files, struct sh_api_health *health)
{
    int rc = 0;
    rc |= sh_router_use(rt, sh_mw_cors, rt);
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/health", sh_api_health, health);
    if (files)
        sh_router_fallback(rt, sh_static_handle, files);
    return rc ? SH_EINVAL : 0;
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
    rc |= sh_router_add(rt, SH_METHOD_POST, "/api/batch", sh_api_batch, a);
    rc |= sh_router_add(rt, SH_METHOD_GET | SH_METHOD_HEAD, "/api/files/:collection/:id/:filename",
                        sh_api_files_get, a);
    return rc ? SH_EINVAL : 0;
}

int sh_api_auth_register(struct sh_router *rt, struct sh_api_auth *a)
{
#define AUTH_ROUTE(name) "/api/collections/:collection/" name
    static const struct {
        unsigned method;
        const char *pattern;
        sh_handler_fn fn;
    } routes[] = {
        {SH_METHOD_POST, AUTH_ROUTE("auth-with-password"), sh_api_auth_with_password},
        {SH_METHOD_POST, AUTH_ROUTE("auth-refresh"), sh_api_auth_refresh},
        {SH_METHOD_GET, AUTH_ROUTE("auth-methods"), sh_api_auth_methods},
        {SH_METHOD_POST, AUTH_ROUTE("auth-logout"), sh_api_auth_logout},
        {SH_METHOD_POST, AUTH_ROUTE("auth-logout-all"), sh_api_auth_logout_all},
        {SH_METHOD_POST, AUTH_ROUTE("request-password-reset"), sh_api_auth_request_reset},
        {SH_METHOD_POST, AUTH_ROUTE("confirm-password-reset"), sh_api_auth_confirm_reset},
    };
#undef AUTH_ROUTE
    int rc = 0;
    rc |= sh_router_use(rt, sh_api_mw_client_ip, a);
    rc |= sh_router_use(rt, sh_api_mw_auth, a);
    rc |= sh_router_use(rt, sh_api_mw_ratelimit, a);
    for (size_t i = 0; i < SH_ARRAY_LEN(routes); i++)
        rc |= sh_router_add(rt, routes[i].method, routes[i].pattern, routes[i].fn, a);
    return rc ? SH_EINVAL : 0;
}

int sh_api_realtime_register(struct sh_router *rt, struct sh_api_records *a)
{
    if (!a->realtime)
        a->realtime = sh__rt_new(a);
    if (a->auth)
        a->auth->records = a;
    int rc = 0;
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/realtime", sh_api_realtime_connect, a);
    rc |= sh_router_add(rt, SH_METHOD_POST, "/api/realtime", sh_api_realtime_subscribe, a);
    return rc ? SH_EINVAL : 0;
}
