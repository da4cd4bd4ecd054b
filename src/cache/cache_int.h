/*
 * Private to the cache module: the glue to hiredis's libuv adapter, kept in
 * a file of its own because the adapter is a header of static functions.
 */
#ifndef STAGEHAND_CACHE_INT_H
#define STAGEHAND_CACHE_INT_H

#include <hiredis/async.h>

#include <uv.h>

/* Drives ac from loop (hiredis's adapters/libuv.h). REDIS_OK or REDIS_ERR. */
int sh_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
