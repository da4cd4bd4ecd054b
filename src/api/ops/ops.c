/*
 * What the operations routes share: the superuser gate with PocketBase's
 * answers (a guest 401, any other record 403).
 */
#include "api_int.h"
#include "ops_int.h"
#include "stagehand/auth.h"

int sh__ops_superuser_or_reply(struct sh_req *r)
{
    if (!r->auth) {
        sh__api_error(r, 401, "The request requires valid record authorization token.", NULL);
        return -1;
    }
    if (!r->auth->superuser) {
        sh__api_error(r, 403, "The authorized record is not allowed to perform this action.", NULL);
        return -1;
    }
    return 0;
}
