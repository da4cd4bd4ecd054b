/* GET /api/health: PocketBase's answer, byte for byte. */
#include "stagehand/api.h"

int sh_api_health(struct sh_req *r, void *ud)
{
    static const char body[] = "{\"code\":200,\"message\":\"API is healthy.\",\"data\":{}}";
    (void)ud;
    sh_res_json(r, 200, body, sizeof(body) - 1);
    return SH_HANDLED;
}
