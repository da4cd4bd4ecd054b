/*
 * The metric families of the optional features, each one sample read when
 * scraped (sh_metrics_add): the Redis client (state, commands, timeouts,
 * failures, refusals, breaker openings), the list answers shared through
 * Redis (lookups, hits, misses, stores), and realtime (open streams,
 * streams dropped for falling behind).
 */
#include "ops_int.h"
#include "realtime_int.h"
#include "records_int.h"
#include "stagehand/cache.h"

static struct sh_redis_stats redis_now(void *ud)
{
    struct sh_redis_stats st;
    sh_redis_stats(ud, &st);
    return st;
}

static double redis_up(void *ud)
{
    return redis_now(ud).state == SH_REDIS_UP ? 1 : 0;
}
static double redis_commands(void *ud)
{
    return (double)redis_now(ud).commands;
}
static double redis_timeouts(void *ud)
{
    return (double)redis_now(ud).timeouts;
}
static double redis_errors(void *ud)
{
    struct sh_redis_stats st = redis_now(ud);
    return (double)(st.failures + st.error_replies);
}
static double redis_refused(void *ud)
{
    return (double)redis_now(ud).refused;
}
static double redis_breaker(void *ud)
{
    return (double)redis_now(ud).breaker_opens;
}

void sh_metrics_add_redis(struct sh_metrics *m, struct sh_redis *redis)
{
    if (!m || !redis)
        return;
    sh_metrics_add(m, "stagehand_redis_up", "Whether the Redis connection is up (1) or not (0).",
                   "gauge", redis_up, redis);
    sh_metrics_add(m, "stagehand_redis_commands_total", "Redis commands sent.", "counter",
                   redis_commands, redis);
    sh_metrics_add(m, "stagehand_redis_timeouts_total",
                   "Redis commands that passed --redis-timeout (a cache miss).", "counter",
                   redis_timeouts, redis);
    sh_metrics_add(m, "stagehand_redis_errors_total",
                   "Redis commands that failed or were answered with an error.", "counter",
                   redis_errors, redis);
    sh_metrics_add(m, "stagehand_redis_refused_total",
                   "Redis commands not sent: connection down or too many in flight.", "counter",
                   redis_refused, redis);
    sh_metrics_add(m, "stagehand_redis_breaker_opens_total",
                   "Redis connections dropped after repeated failures.", "counter", redis_breaker,
                   redis);
}

static struct sh__list_cache_stats lists_now(void *ud)
{
    struct sh__list_cache_stats st;
    sh__list_cache_stats(((struct sh_api_records *)ud)->list_cache, &st);
    return st;
}
static double list_lookups(void *ud)
{
    return (double)lists_now(ud).lookups;
}
static double list_hits(void *ud)
{
    return (double)lists_now(ud).hits;
}
static double list_misses(void *ud)
{
    return (double)lists_now(ud).misses;
}
static double list_stores(void *ud)
{
    return (double)lists_now(ud).stores;
}
static double rt_clients(void *ud)
{
    const struct sh__rt *rt = ((struct sh_api_records *)ud)->realtime;
    return rt ? (double)rt->nclients : 0;
}
static double rt_dropped(void *ud)
{
    const struct sh__rt *rt = ((struct sh_api_records *)ud)->realtime;
    return rt ? (double)rt->dropped : 0;
}

void sh_metrics_add_records(struct sh_metrics *m, struct sh_api_records *a)
{
    if (!m || !a)
        return;
    sh_metrics_add(m, "stagehand_cache_lookups_total", "List answers looked up in Redis.",
                   "counter", list_lookups, a);
    sh_metrics_add(m, "stagehand_cache_hits_total", "List answers served from Redis.", "counter",
                   list_hits, a);
    sh_metrics_add(m, "stagehand_cache_misses_total",
                   "List lookups computed instead (no entry, late or failed reply).", "counter",
                   list_misses, a);
    sh_metrics_add(m, "stagehand_cache_stores_total", "List answers stored in Redis.", "counter",
                   list_stores, a);
    sh_metrics_add(m, "stagehand_realtime_clients", "Open realtime (SSE) streams.", "gauge",
                   rt_clients, a);
    sh_metrics_add(m, "stagehand_realtime_dropped_total",
                   "Realtime streams dropped for falling behind (--realtime-queue).", "counter",
                   rt_dropped, a);
}
