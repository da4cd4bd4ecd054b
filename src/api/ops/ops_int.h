/*
 * Operations inside the api library: the metrics registry (metrics.c counts
 * on the loop, metrics_text.c formats when scraped), the stored logs
 * (logs_store.c: a thread of its own writing <dir>/auxiliary.db;
 * logs_api.c: the /api/logs routes reading it) and the state that ties them
 * to the server (ops.c). Not a public interface.
 */
#ifndef STAGEHAND_OPS_INT_H
#define STAGEHAND_OPS_INT_H

#include <stdint.h>

#include <sqlite3.h>

#include "stagehand/api.h"
#include "stagehand/core.h"
#include "stagehand/db.h"
#include "stagehand/http.h"

struct sh_hash_pool;
struct sh_logs;

/* ---- metrics.c: what the loop counts ---- */

#define SH__M_METHODS      8  /* GET HEAD POST PUT PATCH DELETE OPTIONS other */
#define SH__M_CLASSES      5  /* 1xx .. 5xx (anything else counts as 5xx) */
#define SH__M_DUR_BUCKETS  16 /* request duration bounds (µs), then +Inf */
#define SH__M_LAG_BUCKETS  12 /* event-loop lag bounds (µs), then +Inf */
#define SH__M_MAX_FAMILIES 32
#define SH__M_ROUTE_SLOTS  128 /* routes counted apart; later ones count as "other" */

extern const uint64_t sh__m_dur_bounds_us[SH__M_DUR_BUCKETS];
extern const uint64_t sh__m_lag_bounds_us[SH__M_LAG_BUCKETS];

/* A family registered by sh_metrics_add: one sample read when scraped. */
struct sh__m_family {
    const char *name, *help, *type;
    double (*read)(void *ud);
    void *ud;
};

struct sh_metrics {
    uv_loop_t *loop;
    const struct sh_config *cfg;
    const struct sh_http_server *http;
    struct sh_db *db;
    const struct sh_hash_pool *pool; /* may be NULL */
    struct sh_logs *logs;            /* may be NULL */
    /* route label of slot i: the router's route i-1 (slot 0: no route
     * matched, or a route past the slots), read when scraped */
    const struct sh_router *router;
    /* plain integers, loop thread only; indexed [route][method][class] */
    uint64_t *requests;
    uint64_t *dur_buckets; /* [route][bucket], not cumulative; last = +Inf */
    uint64_t *dur_sum_us, *dur_count, *rate_limited; /* [route] */
    /* event-loop lag: a timer's lateness */
    uv_timer_t lag_timer;
    uint64_t lag_armed_ns;
    uint64_t lag_buckets[SH__M_LAG_BUCKETS + 1];
    uint64_t lag_sum_us, lag_count;
    double start_time; /* Unix seconds */
    struct sh__m_family families[SH__M_MAX_FAMILIES];
    unsigned nfamilies;
    struct sh_buf text; /* the last scrape's body */
};

/* Formats every family into m->text (metrics_text.c). Loop thread. */
void sh__metrics_format(struct sh_metrics *m);

/* ---- logs_store.c: the stored logs' thread and file ---- */

/* PocketBase's levels (slog): what `level` holds in a stored log. */
#define SH__LOG_LEVEL_DEBUG (-4)
#define SH__LOG_LEVEL_INFO  0
#define SH__LOG_LEVEL_WARN  4
#define SH__LOG_LEVEL_ERROR 8

struct sh__logs_stats {
    uint64_t written, dropped, batches, pruned, write_failed;
    uint32_t queued;
    uint64_t file_bytes; /* auxiliary.db and its WAL, as last measured by the thread */
};
void sh__logs_stats(struct sh_logs *l, struct sh__logs_stats *out);
/* The loop's read-only connection to auxiliary.db (for logs_api.c). */
sqlite3 *sh__logs_reader(struct sh_logs *l);
/* Query budget in ms the loop's reads of the logs may take. */
unsigned sh__logs_budget_ms(const struct sh_logs *l);
/*
 * Asks the thread to delete every stored log and to call done(arg) on the
 * loop once it has (after what was queued before the call is written).
 * 0, or SH_EBUSY when too many deletes wait already.
 */
int sh__logs_clear(struct sh_logs *l, void (*done)(void *arg), void *arg);

/* ---- logs_api.c ---- */
int sh__logs_list(struct sh_req *r, void *ud);
int sh__logs_stats_route(struct sh_req *r, void *ud);
int sh__logs_view(struct sh_req *r, void *ud);
int sh__logs_delete(struct sh_req *r, void *ud);

/* ---- ops.c ---- */
/* Answers 401/403 unless r is a superuser's (then 0); -1 after answering. */
int sh__ops_superuser_or_reply(struct sh_req *r);

#endif
