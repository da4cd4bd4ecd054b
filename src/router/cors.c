/*
 * Middleware that runs before every route. CORS: PocketBase allows every
 * origin by default; --cors-origins narrows it. A preflight (OPTIONS with
 * Origin and Access-Control-Request-Method) is answered here with 204; a plain
 * OPTIONS gets 204 with Allow for the path. The Access-Control-Allow-Origin
 * header of ordinary responses is added by the response writer, so errors
 * produced below the router carry it too.
 */
#include <string.h>

#include "stagehand/router.h"

int sh_mw_cors(struct sh_req *r, void *ud)
{
    struct sh_router *rt = ud;
    if (r->method != SH_METHOD_OPTIONS)
        return SH_PASS;
    struct sh_route_match m;
    sh_router_match(rt, SH_METHOD_OPTIONS, r->path, &m);
    char allow[96];
    sh_router_format_allow(m.allow ? m.allow : (SH_METHOD_GET | SH_METHOD_HEAD), allow,
                           sizeof(allow));
    const struct sh_str *origin = sh_req_header(r, "Origin");
    const struct sh_str *acrm = sh_req_header(r, "Access-Control-Request-Method");
    if (origin && acrm) {
        sh_res_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE");
        const struct sh_str *acrh = sh_req_header(r, "Access-Control-Request-Headers");
        if (acrh && acrh->len < 1024) {
            char *h = sh_arena_strndup(r->arena, acrh->ptr, acrh->len);
            if (h)
                sh_res_header(r, "Access-Control-Allow-Headers", h);
        }
        sh_res_header(r, "Access-Control-Max-Age", "86400");
    } else {
        sh_res_header(r, "Allow", allow);
    }
    sh_res_send(r, 204, NULL, NULL, 0);
    return SH_HANDLED;
}
