/*
 * Operations inside the api library: the metrics registry (metrics.c counts
 * on the loop, metrics_text.c formats when scraped), the stored logs
 * (logs_store.c: a thread of its own writing <dir>/auxiliary.db;
 * logs_api.c: the /api/logs routes reading it) and the state that ties them
 * to the server (ops.c), and the backups state that backups.c (routes, the
 * backup thread) and backup_download.c share. Not a public interface.
 */
#ifndef STAGEHAND_OPS_INT_H
#define STAGEHAND_OPS_INT_H

#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "stagehand/api.h"
#include "stagehand/backup.h"
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
#define SH__M_MAX_FAMILIES 48
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

/* ---- logs_format.c: the pieces of an entry the thread formats ---- */

enum {
    SH__LF_METHOD,
    SH__LF_URL,
    SH__LF_REMOTE_IP,
    SH__LF_USER_IP,
    SH__LF_UA,
    SH__LF_REFERER,
    SH__LF_AUTH,
    SH__LF_AUTH_ID,
    SH__LF_RID,
    SH__LF_MOD,
    SH__LF_MSG,
    SH__LF_COUNT
};

/* One log entry (the loop or a logging thread fills it with copies, the
 * log thread formats it): fixed fields, then its strings in the same
 * allocation. A request's SH__LF_URL and SH__LF_REFERER are as received:
 * sh__logs_entry_json cuts their secrets. A request always has METHOD, URL,
 * REMOTE_IP, USER_IP and RID; an app line MOD and MSG. */
struct sh__log_entry {
    struct sh__log_entry *next; /* on a free list */
    unsigned pooled;            /* a pool entry of logs_store.c, goes back to the pool */
    int64_t ms;
    int level;
    int request; /* a request log (else an app line: SH__LF_MOD, SH__LF_MSG) */
    int status;
    uint64_t exec_us;
    const char *f[SH__LF_COUNT]; /* NULL = absent */
    uint32_t n[SH__LF_COUNT];    /* their lengths (without the NUL) */
    char s[];
};

/* A generator of log ids; seed s once from randombytes. One per thread. */
struct sh__logs_ids {
    uint64_t s;
};
/* Writes the id of an entry made at ms (Unix ms): 15 characters and a NUL. */
void sh__logs_id_new(struct sh__logs_ids *g, int64_t ms, char out[16]);
/* ms (Unix) as "2006-01-02 15:04:05.000Z", NUL-terminated. */
void sh__logs_format_date(int64_t ms, char out[32]);
/* Copies the url src[0..n) into dst (room for n + 1), NUL-terminated,
 * without the values of query parameters whose decoded name contains
 * "token", "password" or "secret" (case-insensitive): their names stay.
 * Returns the length written. */
size_t sh__logs_strip_secrets(char *dst, const char *src, size_t n);
/* Appends the entry's data JSON to js and its message to msg, each
 * followed by a NUL (len counts it): a batch's strings share two buffers. */
void sh__logs_entry_json(const struct sh__log_entry *e, struct sh_buf *js, struct sh_buf *msg);
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

struct sh_api_auth;

enum {
    SH__BK_CREATE = 1, /* POST /api/backups */
    SH__BK_AUTO,       /* the backups.cron job: create "@auto_...", then prune */
    SH__BK_RESTORE,    /* POST /api/backups/{key}/restore: extract and validate */
};

struct sh_api_backups {
    uv_loop_t *loop;
    const char *dir; /* the data directory (borrowed from the config) */
    struct sh_api_auth *auth;
    void (*on_restore)(void *arg); /* a validated restore asks the server to swap */
    void *arg;
    uv_async_t async; /* the thread's end */
    uv_thread_t thread;
    int nice;          /* added to the backup thread's nice value */
    uint64_t rate;     /* --backup-rate: bytes/s the backup reads; 0 = unlimited */
    unsigned max_keep; /* scheduled backups kept (cronMaxKeep); 0 = all */
    int running;       /* a thread runs (one operation at a time) */
    int restoring;     /* a restore was validated: the server is stopping */
    int stopped;
    int long_read;     /* sh_db_long_read_begin is in force for the running backup */
    atomic_int cancel; /* set by sh_api_backups_stop: a running backup ends soon */
    /* the operation; written by the thread, read by the loop after the join */
    int kind;
    unsigned keep; /* max_keep when the operation started (the thread reads this copy) */
    char key[SH_BACKUP_KEY_MAX + 1];
    int rc;
    char err[256];
    struct sh_req_watch watch;          /* the request to answer; cleared if it went */
    void (*done_cb)(void *arg, int rc); /* a scheduled run's end (crons), or NULL */
    void *done_arg;
};

/* ---- cron.c: five-field cron expressions (UTC) ---- */

struct sh__cron {
    uint64_t minute; /* bit i: minute i */
    uint32_t hour, dom;
    uint16_t month; /* bits 1..12 */
    uint8_t dow;    /* bits 0..6, Sunday 0 */
    uint8_t dom_star, dow_star;
};
/* Parses expr (five fields, or @hourly ... @yearly). 0 or -1. */
int sh__cron_parse(const char *expr, struct sh__cron *out);
/* 1 if the minute of unix_s (UTC) matches c. */
int sh__cron_match(const struct sh__cron *c, int64_t unix_s);

/* Starts operation kind on key on the backup thread, answering r (may be
 * NULL: a scheduled run) when it ends. 0, SH_EBUSY (one runs, a restore is
 * under way, or stopping), SH_EINTERNAL (no thread). Loop thread. */
int sh__ops_backup_start(struct sh_api_backups *b, int kind, const char *key, struct sh_req *r);

/* crons.c: the backup job's expression ("" = none) and cronMaxKeep, from
 * the settings (applied at once). */
struct sh_api_crons;
void sh__crons_backup_set(struct sh_api_crons *c, const char *expr, unsigned max_keep);

/* GET /api/backups/{key}?token= (backup_download.c). */
int sh__ops_backup_download(struct sh_req *r, void *ud);

/* ---- backup_upload.c ---- */

/* POST /api/backups/upload after the superuser check: the form's `file`
 * part moved into <dir>/backups/ on the threadpool (answered later). */
int sh__ops_backup_upload(struct sh_req *r, const char *dir, uv_loop_t *loop);

#endif
