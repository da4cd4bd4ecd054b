/*
 * Settings of `stagehand serve`, from flags and matching STAGEHAND_*
 * environment variables (a flag wins over the environment). Every limit and
 * timeout of the server lives here with its default.
 */
#ifndef STAGEHAND_CONFIG_H
#define STAGEHAND_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SH_CONFIG_MAX_LISTEN 8

/* A rate: at most `limit` hits per `window_ms`; limit 0 = off. */
struct sh_config_rate {
    unsigned limit;
    uint64_t window_ms;
};

struct sh_config {
    const char *listen[SH_CONFIG_MAX_LISTEN]; /* "host:port", "[::1]:port", "unix:/path" */
    unsigned nlisten;
    const char *dir;          /* data directory */
    const char *public_dir;   /* static files, NULL = none */
    int log_level;            /* enum sh_log_level */
    const char *cors_origins; /* "*" or a comma-separated list of origins */

    /* limits */
    size_t max_url;
    size_t max_header_bytes;
    unsigned max_headers;
    uint64_t max_body;
    size_t max_chunk_ext;
    unsigned max_connections;
    size_t max_write_buffer; /* queued response bytes per connection before reading pauses */
    size_t max_output;       /* queued response bytes of the whole process (--max-output) */
    /* pipelined requests answered per batch before other connections' turn */
    unsigned max_requests_per_read;
    uint64_t max_json_body;  /* largest JSON body the API parses (413), below max_body */
    unsigned max_json_depth; /* deepest nesting of arrays and objects in client JSON (400) */

    /* timeouts, milliseconds */
    uint64_t head_timeout;
    uint64_t body_timeout;
    uint64_t idle_timeout;
    uint64_t write_timeout;
    uint64_t drain_timeout;

    /* storage */
    int sync_normal;           /* --sync normal: synchronous=NORMAL; full (0) by default */
    unsigned query_budget_ms;  /* CPU time one read query may take */
    unsigned query_elapsed_ms; /* elapsed time one read query may take; 0 = no limit */
    unsigned writer_queue;     /* write jobs in flight before writes get 503 */
    unsigned count_cache;      /* list totals cached until their collection's next write; 0 = off */
    int init_empty;            /* --init-empty: a 0-byte data.db becomes a new database */
    uint64_t wal_max;      /* WAL bytes before the writer truncates it (and journal_size_limit) */
    uint64_t read_cache;   /* bytes of SQLite page cache of the loop's read connection */
    uint64_t write_cache;  /* bytes of SQLite page cache of the writer's connection */
    uint64_t lock_timeout; /* ms a write waits for another process's lock before 503 */
    uint64_t backup_rate;  /* bytes/s a backup reads (--backup-rate); 0 = unlimited */
    unsigned sql_max_rows; /* rows one POST /api/sql answer holds */
    unsigned sql_write_budget_ms; /* ms one POST /api/sql write may hold the writer */

    /* accounts: client address, rate limits, password hashing, tokens */
    const char *trusted_proxy;     /* CIDRs whose X-Forwarded-For is believed; NULL = none */
    const char *rate_limit_exempt; /* CIDRs no rate limit applies to; NULL = none */
    struct sh_config_rate rate_limit_auth;        /* per client IP on the auth routes */
    struct sh_config_rate rate_limit_identity;    /* failed password checks per account */
    struct sh_config_rate rate_limit_identity_ip; /* ... per account and client address */
    struct sh_config_rate rate_limit_reset;       /* reset mails per account */
    const char *mailer;                           /* "file" (<dir>/mail.log), "log", "off" */
    struct sh_config_rate rate_limit_all;         /* per client IP on every route; off */
    unsigned hash_threads;                        /* Argon2id threads; 0 = one per usable CPU */
    unsigned hash_queue;                          /* hash jobs waiting before 503 */
    unsigned hash_nice;                           /* added to hash threads' nice value (0..19) */
    const char *hash_sched;     /* hash threads' policy: "batch" (+nice), "idle", "normal" */
    uint64_t argon2_memory;     /* bytes of memory per Argon2id hash (new hashes) */
    unsigned argon2_iterations; /* Argon2id passes (t) of new hashes */
    unsigned token_cache;       /* verified tokens kept on the loop; 0 = off */
    uint64_t token_ttl;         /* ms an auth token (and session) lasts */

    /* client filters and expansions: what one request may make the loop read */
    unsigned filter_max_multi_hops; /* multi-valued segments in one path of a
                                       non-superuser's filter/sort; 0 = any */
    unsigned expand_max_records;    /* records one response's expand may produce (400) */
    unsigned guest_query_budget;    /* ms of reads per client address per window, guests */
    unsigned client_query_budget;   /* ms of reads per auth record per window */
    uint64_t query_budget_window;   /* ms over which those budgets are counted */

    /* Redis (optional): the cache module's client */
    const char *redis;          /* redis://... or unix:/path; NULL = no Redis */
    uint64_t redis_timeout;     /* ms deadline of each command; late = a miss */
    unsigned redis_max_pending; /* commands in flight before more are refused (a miss) */
    uint64_t redis_backoff_max; /* ms, longest wait between reconnect attempts */
    uint64_t redis_ttl;         /* ms an expensive list answer stays in Redis */
    uint64_t redis_max_entry;   /* bytes: larger answers are not stored */
    unsigned redis_min_cost_us; /* a list costing less is never looked up in Redis */
    /* POST /api/batch */
    unsigned batch_max_requests; /* requests in one batch (400 beyond); 0 = off (403) */
    uint64_t batch_timeout;      /* ms the batch's writer job may run (400 beyond) */
    uint64_t batch_max_body;     /* bytes of one batch body (413 beyond) */
    /* uploads: multipart/form-data bodies, read as they arrive */
    uint64_t max_upload;     /* whole multipart body (413); --max-body is for the rest */
    unsigned max_form_parts; /* parts of one multipart body (400) */
    size_t max_part_header;  /* header bytes of one part (400) */
    size_t max_filename;     /* bytes of one part's file name (400) */
    /* ms: the start-up sweep removes stored files no record names once they
     * are this old (younger ones may be another server's, about to commit) */
    uint64_t orphan_min_age;
    /* realtime (SSE): api/realtime/ */
    uint64_t realtime_idle;              /* ms without a message before a stream closes */
    uint64_t realtime_heartbeat;         /* ms between comment lines on a quiet stream */
    uint64_t realtime_queue;             /* unwritten bytes per stream before it is dropped */
    uint64_t realtime_coalesce;          /* ms: a stream written this recently gets its next events
                                          * in one write this much later; 0 = every turn */
    unsigned realtime_max_subscriptions; /* topics one client may hold (400 beyond) */
    unsigned realtime_max_topic;         /* characters of one topic (400 beyond) */
    unsigned realtime_max_clients;       /* open streams; beyond it GET answers 503 */
    /* --init-schema none: a new data directory starts without the default
     * `users` collection (default: with it, as PocketBase's) */
    int init_schema_none;
    /* operations: metrics and stored logs (api/ops) */
    const char *metrics_token;    /* bearer token that may scrape /api/metrics; NULL = none */
    const char *metrics_listen;   /* a listener of its own for /api/metrics; NULL = none */
    unsigned logs_max_days;       /* stored logs kept this many days; 0 = none stored */
    uint64_t logs_max_size;       /* bytes of auxiliary.db past which the oldest go */
    unsigned logs_queue;          /* entries waiting for the log thread before drops */
    uint64_t logs_prune_interval; /* ms between prunes */
    /* thumbnails of image files (?thumb=; api/records/thumbs.c) */
    unsigned thumb_workers;    /* made at once (threadpool threads they may hold) */
    unsigned thumb_queue;      /* waiting for a worker; beyond it the original is served */
    uint64_t thumb_max_pixels; /* header width x height past which none is made */
    unsigned file_type_cache;  /* stored files' sniffed types kept (0: none) */

    /* storage in the process heap owned by the config (strings from the environment) */
    char *owned[16];
    unsigned nowned;
    uint64_t set_mask[4]; /* options given by a flag or a variable (sh_config_is_set) */
};

/* Fills every field with its default. */
void sh_config_init(struct sh_config *c);
/* Frees what the config owns. */
void sh_config_deinit(struct sh_config *c);

/*
 * Applies STAGEHAND_* variables from envp, then the flags argv[0..argc).
 * Returns 0, or -1 with a one-line message naming the flag or variable in
 * err (errlen bytes). Strings point into argv/envp or storage the config owns.
 */
int sh_config_parse(struct sh_config *c, int argc, const char *const *argv, const char *const *envp,
                    char *err, size_t errlen);

/* Writes the usage text of `serve` (flags, variables, defaults) to f. */
void sh_config_usage(FILE *f);

/* Whether option flag (without "--", e.g. "logs-max-days") was given by a
 * flag or a STAGEHAND_* variable rather than left at its default: such a
 * value wins over the same setting stored by PATCH /api/settings. */
bool sh_config_is_set(const struct sh_config *c, const char *flag);

/* Parses "250ms", "10s", "5m", "1h" or a bare number of seconds into ms; -1 on error. */
int sh_config_parse_duration(const char *s, uint64_t *ms);
/* Parses "1024", "64k", "32M", "1G" (powers of 1024) into bytes; -1 on error. */
int sh_config_parse_size(const char *s, uint64_t *bytes);
/* Parses a rate "N/DURATION" ("30/1m", "100/1h", "5/10s"; a window of at
 * most 12 days) or "off"/"0" (limit 0); -1 on error. */
int sh_config_parse_rate(const char *s, struct sh_config_rate *out);

#endif
