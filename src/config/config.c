/*
 * Command-line and environment settings. One table describes every option:
 * its flag, its STAGEHAND_* variable, its kind and where it is stored, so the
 * parser, the environment reader and the usage text cannot disagree.
 */
#include "stagehand/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/core.h"

enum opt_kind {
    OPT_STR,
    OPT_LISTEN,
    OPT_LOGLEVEL,
    OPT_SIZE,
    OPT_COUNT,
    OPT_COUNT0, /* a count where 0 means off */
    OPT_DURATION,
    OPT_DURATION0, /* a duration where 0 means off */
    OPT_SYNC,
    OPT_RATE,
    OPT_BOOL, /* a flag without a value (--x, or --x=true|false); 1|0|true|false in the variable */
    OPT_INIT_SCHEMA, /* default|none */
};

struct opt {
    const char *flag; /* without the leading "--" */
    const char *env;
    enum opt_kind kind;
    size_t offset;
    size_t width; /* sizeof the field for numbers */
    const char *help;
};

#define F(field) offsetof(struct sh_config, field), sizeof(((struct sh_config *)0)->field)

static const struct opt opts[] = {
    {"listen", "STAGEHAND_LISTEN", OPT_LISTEN, F(listen),
     "address to listen on: host:port, [::1]:port or unix:/path (repeatable; "
     "comma-separated in the variable)"},
    {"dir", "STAGEHAND_DIR", OPT_STR, F(dir), "data directory"},
    {"public", "STAGEHAND_PUBLIC", OPT_STR, F(public_dir), "serve static files from this folder"},
    {"log-level", "STAGEHAND_LOG_LEVEL", OPT_LOGLEVEL, F(log_level), "debug|info|warn|error|off"},
    {"cors-origins", "STAGEHAND_CORS_ORIGINS", OPT_STR, F(cors_origins),
     "allowed CORS origins: * or a comma-separated list"},
    {"max-url", "STAGEHAND_MAX_URL", OPT_SIZE, F(max_url), "longest request target (414)"},
    {"max-header-bytes", "STAGEHAND_MAX_HEADER_BYTES", OPT_SIZE, F(max_header_bytes),
     "largest request head (431)"},
    {"max-headers", "STAGEHAND_MAX_HEADERS", OPT_COUNT, F(max_headers), "most header fields (431)"},
    {"max-body", "STAGEHAND_MAX_BODY", OPT_SIZE, F(max_body), "largest request body (413)"},
    {"max-json-body", "STAGEHAND_MAX_JSON_BODY", OPT_SIZE, F(max_json_body),
     "largest JSON request body the API parses (413)"},
    {"max-json-depth", "STAGEHAND_MAX_JSON_DEPTH", OPT_COUNT, F(max_json_depth),
     "deepest nesting of arrays and objects in client JSON, 1..1000 (400)"},
    {"max-chunk-ext", "STAGEHAND_MAX_CHUNK_EXT", OPT_SIZE, F(max_chunk_ext),
     "chunk-extension bytes per request (400)"},
    {"max-connections", "STAGEHAND_MAX_CONNECTIONS", OPT_COUNT, F(max_connections),
     "open connections; beyond it new ones are closed at once"},
    {"max-write-buffer", "STAGEHAND_MAX_WRITE_BUFFER", OPT_SIZE, F(max_write_buffer),
     "queued response bytes per connection before its reading pauses"},
    {"max-output", "STAGEHAND_MAX_OUTPUT", OPT_SIZE, F(max_output),
     "unwritten response bytes of all connections together; over it every connection "
     "with output waiting pauses until its own drains"},
    {"max-requests-per-read", "STAGEHAND_MAX_REQUESTS_PER_READ", OPT_COUNT,
     F(max_requests_per_read),
     "pipelined requests answered per batch before other connections get a turn"},
    {"head-timeout", "STAGEHAND_HEAD_TIMEOUT", OPT_DURATION, F(head_timeout),
     "deadline for a whole request head (408)"},
    {"body-timeout", "STAGEHAND_BODY_TIMEOUT", OPT_DURATION, F(body_timeout),
     "deadline for a whole request body (408)"},
    {"idle-timeout", "STAGEHAND_IDLE_TIMEOUT", OPT_DURATION, F(idle_timeout),
     "keep-alive idle time before closing"},
    {"write-timeout", "STAGEHAND_WRITE_TIMEOUT", OPT_DURATION, F(write_timeout),
     "deadline for a queued response write"},
    {"drain-timeout", "STAGEHAND_DRAIN_TIMEOUT", OPT_DURATION, F(drain_timeout),
     "on SIGTERM, how long in-flight requests may finish"},
    {"sync", "STAGEHAND_SYNC", OPT_SYNC, F(sync_normal),
     "full|normal: SQLite synchronous level of commits"},
    {"query-budget", "STAGEHAND_QUERY_BUDGET", OPT_COUNT, F(query_budget_ms),
     "milliseconds of CPU time (its own work) one read query may use before it is aborted"},
    {"query-elapsed-limit", "STAGEHAND_QUERY_ELAPSED_LIMIT", OPT_COUNT0, F(query_elapsed_ms),
     "milliseconds of elapsed time after which a read query is aborted whatever its CPU "
     "time (a safety limit far above --query-budget; 0: none)"},
    {"writer-queue", "STAGEHAND_WRITER_QUEUE", OPT_COUNT, F(writer_queue),
     "write jobs in flight before writes are refused with 503"},
    {"count-cache", "STAGEHAND_COUNT_CACHE", OPT_COUNT0, F(count_cache),
     "list totals kept until their collection's next write (entries; 0: off)"},
    {"init-empty", "STAGEHAND_INIT_EMPTY", OPT_BOOL, F(init_empty),
     "initialise an existing 0-byte data.db as a new database (refused otherwise)"},
    {"wal-max", "STAGEHAND_WAL_MAX", OPT_SIZE, F(wal_max),
     "WAL size past which the writer checkpoints and truncates it"},
    {"read-cache", "STAGEHAND_READ_CACHE", OPT_SIZE, F(read_cache),
     "SQLite page cache of the read connection every list and view goes through (filled as "
     "pages are read, up to this)"},
    {"write-cache", "STAGEHAND_WRITE_CACHE", OPT_SIZE, F(write_cache),
     "SQLite page cache of the writer's connection (filled as pages are read, up to this)"},
    {"lock-timeout", "STAGEHAND_LOCK_TIMEOUT", OPT_DURATION, F(lock_timeout),
     "how long a write waits for another process's database lock before 503"},
    {"trusted-proxy", "STAGEHAND_TRUSTED_PROXY", OPT_STR, F(trusted_proxy),
     "CIDRs of proxies whose X-Forwarded-For names the client (default: none)"},
    {"rate-limit-auth", "STAGEHAND_RATE_LIMIT_AUTH", OPT_RATE, F(rate_limit_auth),
     "N/DURATION per client IP on sign-in, refresh, sign-up, password reset, or off"},
    {"rate-limit-identity", "STAGEHAND_RATE_LIMIT_IDENTITY", OPT_RATE, F(rate_limit_identity),
     "N/DURATION failed password checks per account; past it only addresses without a "
     "failure on the account are checked, or off"},
    {"rate-limit-identity-ip", "STAGEHAND_RATE_LIMIT_IDENTITY_IP", OPT_RATE,
     F(rate_limit_identity_ip),
     "N/DURATION failed password checks per account and client address, or off"},
    {"rate-limit-reset", "STAGEHAND_RATE_LIMIT_RESET", OPT_RATE, F(rate_limit_reset),
     "N/DURATION password-reset mails per account, or off"},
    {"mailer", "STAGEHAND_MAILER", OPT_STR, F(mailer),
     "file: mails (reset links) appended to <dir>/mail.log, mode 0600; log: printed in the "
     "log (development only: the log then holds credentials); off"},
    {"rate-limit-all", "STAGEHAND_RATE_LIMIT_ALL", OPT_RATE, F(rate_limit_all),
     "N/DURATION requests per client IP on every route, or off"},
    {"rate-limit-exempt", "STAGEHAND_RATE_LIMIT_EXEMPT", OPT_STR, F(rate_limit_exempt),
     "CIDRs exempt from rate limits (superusers always are)"},
    {"hash-threads", "STAGEHAND_HASH_THREADS", OPT_COUNT, F(hash_threads),
     "threads hashing passwords (Argon2id); default one per CPU the process may use"},
    {"hash-queue", "STAGEHAND_HASH_QUEUE", OPT_COUNT, F(hash_queue),
     "password hashes waiting for a thread before sign-ins get 503"},
    {"hash-nice", "STAGEHAND_HASH_NICE", OPT_COUNT0, F(hash_nice),
     "0..19 added to the hash threads' nice value so the loop wins a shared CPU (0: none)"},
    {"hash-sched", "STAGEHAND_HASH_SCHED", OPT_STR, F(hash_sched),
     "batch: hash threads run SCHED_BATCH plus --hash-nice (the loop preempts them); idle: "
     "SCHED_IDLE; normal: SCHED_OTHER plus --hash-nice"},
    {"argon2-memory", "STAGEHAND_ARGON2_MEMORY", OPT_SIZE, F(argon2_memory),
     "memory of each new Argon2id hash (OWASP: 19MiB with 2 iterations)"},
    {"argon2-iterations", "STAGEHAND_ARGON2_ITERATIONS", OPT_COUNT, F(argon2_iterations),
     "passes of each new Argon2id hash; older hashes are verified with their own and remade"},
    {"token-cache", "STAGEHAND_TOKEN_CACHE", OPT_COUNT0, F(token_cache),
     "verified auth tokens remembered until a revocation or 60 s (entries; 0: off)"},
    {"token-ttl", "STAGEHAND_TOKEN_TTL", OPT_DURATION, F(token_ttl),
     "lifetime of auth tokens and sessions (a collection's authToken.duration wins)"},
    {"filter-max-multi-hops", "STAGEHAND_FILTER_MAX_MULTI_HOPS", OPT_COUNT0,
     F(filter_max_multi_hops),
     "multi-valued relations one path of a non-superuser's filter or sort may cross (400; 0: any)"},
    {"expand-max-records", "STAGEHAND_EXPAND_MAX_RECORDS", OPT_COUNT, F(expand_max_records),
     "records the expand of one response may produce (400 beyond)"},
    {"guest-query-budget", "STAGEHAND_GUEST_QUERY_BUDGET", OPT_COUNT0, F(guest_query_budget),
     "milliseconds of record reads per guest address per window before 429 (0: off)"},
    {"sql-max-rows", "STAGEHAND_SQL_MAX_ROWS", OPT_COUNT, F(sql_max_rows),
     "rows one POST /api/sql answer holds (the rest is cut; \"truncated\": true)"},
    {"sql-write-budget", "STAGEHAND_SQL_WRITE_BUDGET", OPT_COUNT, F(sql_write_budget_ms),
     "milliseconds one POST /api/sql write may hold the writer thread before it is rolled back"},
    {"backup-rate", "STAGEHAND_BACKUP_RATE", OPT_COUNT0, F(backup_rate),
     "bytes per second a backup reads (snapshot and archive), so writes keep the disk (0: any)"},
    {"client-query-budget", "STAGEHAND_CLIENT_QUERY_BUDGET", OPT_COUNT0, F(client_query_budget),
     "milliseconds of record reads per signed-in record per window before 429 (0: off)"},
    {"realtime-idle", "STAGEHAND_REALTIME_IDLE", OPT_DURATION, F(realtime_idle),
     "a realtime stream without a message for this long closes (the SDK reconnects)"},
    {"realtime-heartbeat", "STAGEHAND_REALTIME_HEARTBEAT", OPT_DURATION, F(realtime_heartbeat),
     "a comment line on a quiet realtime stream this often, for proxies"},
    {"realtime-coalesce", "STAGEHAND_REALTIME_COALESCE", OPT_DURATION0, F(realtime_coalesce),
     "events for a realtime stream this soon after its last ones wait, then leave in one write"},
    {"realtime-queue", "STAGEHAND_REALTIME_QUEUE", OPT_SIZE, F(realtime_queue),
     "unwritten bytes per realtime stream; a client further behind is disconnected"},
    {"realtime-max-subscriptions", "STAGEHAND_REALTIME_MAX_SUBSCRIPTIONS", OPT_COUNT,
     F(realtime_max_subscriptions), "subscriptions one realtime client may hold (400 beyond)"},
    {"realtime-max-topic", "STAGEHAND_REALTIME_MAX_TOPIC", OPT_COUNT, F(realtime_max_topic),
     "characters of one subscription (400 beyond)"},
    {"realtime-max-clients", "STAGEHAND_REALTIME_MAX_CLIENTS", OPT_COUNT, F(realtime_max_clients),
     "open realtime streams; beyond it GET /api/realtime answers 503"},
    {"query-budget-window", "STAGEHAND_QUERY_BUDGET_WINDOW", OPT_DURATION, F(query_budget_window),
     "window of --guest-query-budget and --client-query-budget"},
    {"redis", "STAGEHAND_REDIS", OPT_STR, F(redis),
     "Redis for shared state and cached reads: redis://[[user]:password@]host[:port][/db] or "
     "unix:/path[?db=N]; the password may come from STAGEHAND_REDIS_PASSWORD (default: none)"},
    {"redis-timeout", "STAGEHAND_REDIS_TIMEOUT", OPT_DURATION, F(redis_timeout),
     "deadline of each Redis command; a late answer counts as a cache miss"},
    {"redis-max-pending", "STAGEHAND_REDIS_MAX_PENDING", OPT_COUNT, F(redis_max_pending),
     "Redis commands in flight; beyond it lookups skip Redis"},
    {"redis-backoff-max", "STAGEHAND_REDIS_BACKOFF_MAX", OPT_DURATION, F(redis_backoff_max),
     "longest wait between two attempts to reach Redis"},
    {"redis-ttl", "STAGEHAND_REDIS_TTL", OPT_DURATION, F(redis_ttl),
     "how long an expensive list answer stays in Redis"},
    {"redis-max-entry", "STAGEHAND_REDIS_MAX_ENTRY", OPT_SIZE, F(redis_max_entry),
     "largest list answer stored in Redis"},
    {"redis-min-cost", "STAGEHAND_REDIS_MIN_COST", OPT_COUNT0, F(redis_min_cost_us),
     "microseconds of work below which a list is never looked up in Redis (0: every list)"},
    {"batch-max-requests", "STAGEHAND_BATCH_MAX_REQUESTS", OPT_COUNT0, F(batch_max_requests),
     "requests one POST /api/batch may hold (400 beyond; 0: batches off, 403)"},
    {"batch-timeout", "STAGEHAND_BATCH_TIMEOUT", OPT_DURATION, F(batch_timeout),
     "how long one batch may run on the writer before it is rolled back (400)"},
    {"batch-max-body", "STAGEHAND_BATCH_MAX_BODY", OPT_SIZE, F(batch_max_body),
     "largest POST /api/batch body (413)"},
    {"max-upload", "STAGEHAND_MAX_UPLOAD", OPT_SIZE, F(max_upload),
     "largest multipart/form-data body (413); other bodies: --max-body"},
    {"max-form-parts", "STAGEHAND_MAX_FORM_PARTS", OPT_COUNT, F(max_form_parts),
     "parts of one multipart/form-data body (400)"},
    {"max-part-header", "STAGEHAND_MAX_PART_HEADER", OPT_SIZE, F(max_part_header),
     "header bytes of one multipart part (400)"},
    {"max-filename", "STAGEHAND_MAX_FILENAME", OPT_SIZE, F(max_filename),
     "bytes of an uploaded file's name as sent (400)"},
    {"orphan-min-age", "STAGEHAND_ORPHAN_MIN_AGE", OPT_DURATION0, F(orphan_min_age),
     "stored files no record names are removed at start-up once this old (0: all of them)"},
    {"init-schema", "STAGEHAND_INIT_SCHEMA", OPT_INIT_SCHEMA, F(init_schema_none),
     "default|none: whether a new data directory starts with PocketBase's `users` collection"},
    {"metrics-token", "STAGEHAND_METRICS_TOKEN", OPT_STR, F(metrics_token),
     "bearer token that may read GET /api/metrics besides superusers"},
    {"metrics-listen", "STAGEHAND_METRICS_LISTEN", OPT_STR, F(metrics_listen),
     "host:port of a listener of its own serving only GET /api/metrics"},
    {"logs-max-days", "STAGEHAND_LOGS_MAX_DAYS", OPT_COUNT0, F(logs_max_days),
     "days stored logs (<dir>/auxiliary.db) are kept (0: no logs are stored)"},
    {"logs-max-size", "STAGEHAND_LOGS_MAX_SIZE", OPT_SIZE, F(logs_max_size),
     "size of the stored logs past which the oldest are deleted"},
    {"logs-queue", "STAGEHAND_LOGS_QUEUE", OPT_COUNT, F(logs_queue),
     "log entries waiting for the log thread; beyond it entries are dropped (counted)"},
    {"logs-prune-interval", "STAGEHAND_LOGS_PRUNE_INTERVAL", OPT_DURATION, F(logs_prune_interval),
     "how often old stored logs are pruned"},
    {"thumb-workers", "STAGEHAND_THUMB_WORKERS", OPT_COUNT, F(thumb_workers),
     "thumbnails (?thumb=) made at once, each on a threadpool thread"},
    {"thumb-queue", "STAGEHAND_THUMB_QUEUE", OPT_COUNT0, F(thumb_queue),
     "thumbnails waiting for a worker; beyond it the original is served"},
    {"thumb-max-pixels", "STAGEHAND_THUMB_MAX_PIXELS", OPT_COUNT, F(thumb_max_pixels),
     "width x height (of the header, before decoding) past which no thumbnail is made and "
     "the original is served"},
    {"file-type-cache", "STAGEHAND_FILE_TYPE_CACHE", OPT_COUNT0, F(file_type_cache),
     "stored files whose sniffed content type is remembered (0: sniff on every download)"},
};

#undef F

void sh_config_init(struct sh_config *c)
{
    memset(c, 0, sizeof(*c));
    c->dir = "stagehand_data";
    c->log_level = SH_LOG_INFO;
    c->cors_origins = "*";
    c->max_url = 8 * 1024;
    c->max_header_bytes = 16 * 1024;
    c->max_headers = 100;
    c->max_body = 32 * 1024 * 1024;
    c->max_chunk_ext = 1024;
    c->max_json_body = 1024 * 1024; /* SH_JSON_MAX_BYTES_DEFAULT */
    c->max_json_depth = 64;         /* SH_JSON_MAX_DEPTH_DEFAULT */
    c->max_connections = 10000;
    c->max_write_buffer = 1024 * 1024;
    c->max_output = (size_t)256 * 1024 * 1024;
    c->max_requests_per_read = 64;
    c->head_timeout = 10000;
    c->body_timeout = 30000;
    c->idle_timeout = 75000;
    c->write_timeout = 30000;
    c->drain_timeout = 10000;
    c->query_budget_ms = 200;
    c->query_elapsed_ms = 5000;
    c->writer_queue = 10000;
    c->count_cache = 4096;
    c->wal_max = 64u << 20;
    c->read_cache = 8u << 20;
    c->write_cache = 32u << 20;
    c->backup_rate = 32u << 20; /* SH_BACKUP_RATE_DEFAULT */
    c->sql_max_rows = 1000;
    c->sql_write_budget_ms = 2000;
    c->lock_timeout = 1000;
    c->rate_limit_auth = (struct sh_config_rate){30, 60000};
    c->rate_limit_identity = (struct sh_config_rate){100, 3600000};
    c->rate_limit_identity_ip = (struct sh_config_rate){10, 900000};
    c->rate_limit_reset = (struct sh_config_rate){1, 120000};
    c->mailer = "file";
    c->hash_queue = 64;
    c->hash_nice = 19; /* SH_HASH_NICE_DEFAULT */
    c->hash_sched = "batch";
    c->argon2_memory = 19u << 20; /* OWASP's first Argon2id choice: m=19 MiB, t=2, p=1 */
    c->argon2_iterations = 2;
    c->token_cache = 4096;
    c->token_ttl = 7ull * 24 * 3600000; /* PocketBase's default for auth collections */
    c->filter_max_multi_hops = 3;
    c->expand_max_records = 10000;
    c->guest_query_budget = 2000;
    c->client_query_budget = 4000;
    c->query_budget_window = 10000;
    c->redis_timeout = 5;
    c->redis_max_pending = 4096;
    c->redis_backoff_max = 5000;
    c->redis_ttl = 5 * 60 * 1000;
    c->redis_max_entry = 1024 * 1024;
    c->redis_min_cost_us = 500;
    c->batch_max_requests = 50;
    c->batch_timeout = 3000;
    c->batch_max_body = 4u << 20;
    c->max_upload = 128u << 20;
    c->max_form_parts = 1000; /* Go's multipart default, as PocketBase runs it */
    c->max_part_header = 8 * 1024;
    c->max_filename = 1024;
    c->orphan_min_age = 600000;
    c->realtime_idle = 5 * 60000;
    c->realtime_heartbeat = 30000;
    c->realtime_coalesce = 0; /* 50 ms halves CPU per event under load but lengthened the fan-out
                                 tail on the shared VM: opt-in */
    c->realtime_queue = 256 * 1024;
    c->realtime_max_subscriptions = 1000;
    c->realtime_max_topic = 2500;
    c->realtime_max_clients = 50000;
    c->logs_max_days = 5; /* PocketBase's logs.maxDays */
    c->logs_max_size = 256ull << 20;
    c->logs_queue = 10000;
    c->logs_prune_interval = 600000;
    c->thumb_workers = 2;
    c->thumb_queue = 32;
    c->thumb_max_pixels = 40000000;
    c->file_type_cache = 4096;
}

void sh_config_deinit(struct sh_config *c)
{
    for (unsigned i = 0; i < c->nowned; i++)
        free(c->owned[i]);
    c->nowned = 0;
}

int sh_config_parse_duration(const char *s, uint64_t *ms)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    uint64_t mul;
    if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (*end == 0 || strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else
        return -1;
    if (v > UINT64_MAX / mul / 2)
        return -1;
    *ms = v * mul;
    return 0;
}

int sh_config_parse_size(const char *s, uint64_t *bytes)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'm' || *end == 'M')
        shift = 20;
    else if (*end == 'g' || *end == 'G')
        shift = 30;
    if (shift)
        end++;
    if (*end == 'i' && shift) /* accept KiB-style "64Ki" */
        end++;
    if ((*end == 'b' || *end == 'B') && shift)
        end++;
    if (*end != 0 || v > (UINT64_MAX >> (shift + 1)))
        return -1;
    *bytes = (uint64_t)v << shift;
    return 0;
}

int sh_config_parse_rate(const char *s, struct sh_config_rate *out)
{
    if (strcmp(s, "off") == 0 || strcmp(s, "0") == 0) {
        *out = (struct sh_config_rate){0, 0};
        return 0;
    }
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    uint64_t ms;
    if (errno || *end != '/' || n == 0 || n > UINT32_MAX ||
        sh_config_parse_duration(end + 1, &ms) || ms == 0 || ms > (1ull << 30))
        return -1;
    *out = (struct sh_config_rate){(unsigned)n, ms};
    return 0;
}

static int set_number(void *field, size_t width, uint64_t v)
{
    if (width == sizeof(uint64_t)) {
        *(uint64_t *)field = v;
    } else if (width == sizeof(unsigned)) {
        if (v > UINT32_MAX)
            return -1;
        *(unsigned *)field = (unsigned)v;
    } else {
        return -1;
    }
    return 0;
}

static int add_listen(struct sh_config *c, const char *val)
{
    if (!*val || c->nlisten >= SH_CONFIG_MAX_LISTEN)
        return -1;
    c->listen[c->nlisten++] = val;
    return 0;
}

static int apply_value(struct sh_config *c, const struct opt *o, const char *val);

/* Applies one option; val is owned by the caller (argv) or by the config.
 * An option applied successfully is remembered as set (sh_config_is_set). */
static int apply(struct sh_config *c, const struct opt *o, const char *val)
{
    int rc = apply_value(c, o, val);
    size_t i = (size_t)(o - opts);
    if (rc == 0 && i < 64 * SH_ARRAY_LEN(c->set_mask))
        c->set_mask[i / 64] |= UINT64_C(1) << (i % 64);
    return rc;
}

bool sh_config_is_set(const struct sh_config *c, const char *flag)
{
    for (size_t i = 0; i < SH_ARRAY_LEN(opts) && i < 64 * SH_ARRAY_LEN(c->set_mask); i++)
        if (strcmp(opts[i].flag, flag) == 0)
            return (c->set_mask[i / 64] >> (i % 64)) & 1;
    return false;
}

static int apply_value(struct sh_config *c, const struct opt *o, const char *val)
{
    void *field = (char *)c + o->offset;
    uint64_t v = 0;
    switch (o->kind) {
    case OPT_STR:
        *(const char **)field = val;
        return 0;
    case OPT_LISTEN:
        return add_listen(c, val);
    case OPT_LOGLEVEL: {
        int lvl = sh_log_level_parse(val);
        if (lvl < 0)
            return -1;
        *(int *)field = lvl;
        return 0;
    }
    case OPT_SIZE:
        if (sh_config_parse_size(val, &v) || v == 0)
            return -1;
        return set_number(field, o->width, v);
    case OPT_COUNT:
    case OPT_COUNT0:
        if (sh_config_parse_size(val, &v) || (v == 0 && o->kind == OPT_COUNT))
            return -1;
        return set_number(field, o->width, v);
    case OPT_DURATION:
        if (sh_config_parse_duration(val, &v) || v == 0)
            return -1;
        return set_number(field, o->width, v);
    case OPT_DURATION0:
        if (sh_config_parse_duration(val, &v))
            return -1;
        return set_number(field, o->width, v);
    case OPT_SYNC:
        if (strcmp(val, "full") != 0 && strcmp(val, "normal") != 0)
            return -1;
        *(int *)field = strcmp(val, "normal") == 0;
        return 0;
    case OPT_RATE:
        return sh_config_parse_rate(val, (struct sh_config_rate *)field);
    case OPT_INIT_SCHEMA:
        if (strcmp(val, "default") != 0 && strcmp(val, "none") != 0)
            return -1;
        *(int *)field = strcmp(val, "none") == 0;
        return 0;
    case OPT_BOOL:
        if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0)
            *(int *)field = 1;
        else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0)
            *(int *)field = 0;
        else
            return -1;
        return 0;
    }
    return -1;
}

static const struct opt *find_flag(const char *name, size_t n)
{
    for (size_t i = 0; i < SH_ARRAY_LEN(opts); i++)
        if (strlen(opts[i].flag) == n && memcmp(opts[i].flag, name, n) == 0)
            return &opts[i];
    return NULL;
}

static char *own(struct sh_config *c, const char *s)
{
    if (c->nowned >= SH_ARRAY_LEN(c->owned))
        return NULL;
    return c->owned[c->nowned++] = sh_strdup(s);
}

static int apply_env(struct sh_config *c, const char *const *envp, char *err, size_t errlen)
{
    for (const char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, "STAGEHAND_", 10) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        size_t klen = (size_t)(eq - *e);
        for (size_t i = 0; i < SH_ARRAY_LEN(opts); i++) {
            const struct opt *o = &opts[i];
            if (strlen(o->env) != klen || memcmp(o->env, *e, klen) != 0)
                continue;
            if (o->kind == OPT_LISTEN) {
                /* comma-separated list of addresses */
                char *copy = own(c, eq + 1), *save = NULL;
                for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
                     tok = strtok_r(NULL, ",", &save)) {
                    if (add_listen(c, tok)) {
                        snprintf(err, errlen, "invalid value for %s: %s", o->env, eq + 1);
                        return -1;
                    }
                }
            } else if (apply(c, o, eq + 1)) {
                snprintf(err, errlen, "invalid value for %s: %s", o->env, eq + 1);
                return -1;
            }
        }
    }
    return 0;
}

int sh_config_parse(struct sh_config *c, int argc, const char *const *argv, const char *const *envp,
                    char *err, size_t errlen)
{
    if (apply_env(c, envp, err, errlen))
        return -1;
    unsigned env_listen = c->nlisten;
    int flag_listen = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument: %s", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = find_flag(name, n);
        if (!o) {
            snprintf(err, errlen, "unknown flag: --%.*s", (int)n, name);
            return -1;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val && o->kind == OPT_BOOL)
            val = "true";
        if (!val) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "missing value for --%s", o->flag);
                return -1;
            }
            val = argv[++i];
        }
        if (o->kind == OPT_LISTEN && !flag_listen) {
            /* flags replace addresses given in the environment */
            flag_listen = 1;
            c->nlisten -= env_listen;
            memmove(c->listen, c->listen + env_listen, c->nlisten * sizeof(c->listen[0]));
        }
        if (apply(c, o, val)) {
            snprintf(err, errlen, "invalid value for --%s: %s", o->flag, val);
            return -1;
        }
    }
    if (c->nlisten == 0)
        c->listen[c->nlisten++] = "127.0.0.1:8090";
    return 0;
}

void sh_config_usage(FILE *f)
{
    fputs("usage: stagehand serve [flags]\n\nflags (each also read from its environment "
          "variable; a flag wins):\n",
          f);
    for (size_t i = 0; i < SH_ARRAY_LEN(opts); i++)
        fprintf(f, "  --%-19s %-29s %s\n", opts[i].flag, opts[i].env, opts[i].help);
    fputs("\nDurations take ms, s, m or h (a bare number is seconds); sizes take k, M or G.\n", f);
}
