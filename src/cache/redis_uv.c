/*
 * hiredis's own libuv adapter (adapters/libuv.h, a header of static
 * functions shipped with libhiredis-dev), compiled once here.
 */
#include "cache_int.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <hiredis/adapters/libuv.h>
#pragma GCC diagnostic pop

int sh_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    return redisLibuvAttach(ac, loop);
}
