/*
 * GET /api/health: PocketBase's answer, byte for byte, for everyone but a
 * superuser, who also gets PocketBase's extra fields: canBackup (no backup
 * or restore is running), realIP (the
 * client address as --trusted-proxy resolves it) and possibleProxyHeader
 * (a proxy header the request carries while no --trusted-proxy is set, so
 * the operator learns that client addresses are the proxy's).
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/api.h"
#include "stagehand/auth.h"

static const char *const proxy_headers[] = {"CF-Connecting-IP", "Fly-Client-IP", "X-Real-IP",
                                            "X-Forwarded-For"};

int sh_api_health(struct sh_req *r, void *ud)
{
    static const char body[] = "{\"code\":200,\"message\":\"API is healthy.\",\"data\":{}}";
    const struct sh_api_health *h = ud;
    const struct sh_config *cfg = h && h->rt ? h->rt->cfg : NULL;
    if (!r->auth || !r->auth->superuser) {
        sh_res_json(r, 200, body, sizeof(body) - 1);
        return SH_HANDLED;
    }
    const char *proxy = "";
    if (!cfg || !cfg->trusted_proxy || !*cfg->trusted_proxy) {
        for (size_t i = 0; i < SH_ARRAY_LEN(proxy_headers) && !*proxy; i++)
            if (sh_req_header(r, proxy_headers[i]))
                proxy = proxy_headers[i];
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "code", 200);
    cJSON_AddStringToObject(o, "message", "API is healthy.");
    cJSON *d = cJSON_AddObjectToObject(o, "data");
    cJSON_AddBoolToObject(d, "canBackup", !(h && h->backups && sh_api_backups_busy(h->backups)));
    cJSON_AddStringToObject(d, "realIP", r->client_ip[0] ? r->client_ip : sh_req_peer(r));
    cJSON_AddStringToObject(d, "possibleProxyHeader", proxy);
    char *json = cJSON_PrintUnformatted(o);
    sh_res_json(r, 200, json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(o);
    return SH_HANDLED;
}
