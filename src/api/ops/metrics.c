/*
 * The metrics registry and what the loop counts. A finished request costs a
 * few increments of plain integers in fixed slots indexed by route id,
 * method and status class (no lock, no formatting, no allocation); the
 * request duration histogram is a short scan of fixed bounds. The loop's lag
 * is the lateness of a 100 ms timer. Everything other threads own (the
 * writer, the hashing pool, the log thread) is read when scraped, from the
 * snapshots they already keep. The text is built by metrics_text.c only when
 * GET /api/metrics asks.
 *
 * Access: a superuser's token, or `Authorization: Bearer <--metrics-token>`
 * (compared in constant time); a guest gets 401, another record 403.
 */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth_int.h"
#include "ops_int.h"

#define LAG_INTERVAL_MS 100

const uint64_t sh__m_dur_bounds_us[SH__M_DUR_BUCKETS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
const uint64_t sh__m_lag_bounds_us[SH__M_LAG_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};

static void lag_arm(struct sh_metrics *m);

/* Families of one sample, registered with sh_metrics_add as later ones
 * (cache, realtime) will be. */
static double read_log_failures(void *ud)
{
    struct sh__logs_stats st;
    sh__logs_stats(ud, &st);
    return (double)st.write_failed;
}

static double read_wal_truncations(void *ud)
{
    struct sh_db_writer_stats w;
    sh_db_writer_stats(ud, &w);
    return (double)w.wal_truncations;
}

static void on_lag_timer(uv_timer_t *t)
{
    struct sh_metrics *m = t->data;
    uint64_t now = uv_hrtime();
    uint64_t due = m->lag_armed_ns + (uint64_t)LAG_INTERVAL_MS * 1000000u;
    uint64_t late_us = now > due ? (now - due) / 1000 : 0;
    unsigned b = 0;
    while (b < SH__M_LAG_BUCKETS && late_us > sh__m_lag_bounds_us[b])
        b++;
    m->lag_buckets[b]++;
    m->lag_sum_us += late_us;
    m->lag_count++;
    lag_arm(m);
}

static void lag_arm(struct sh_metrics *m)
{
    m->lag_armed_ns = uv_hrtime();
    uv_timer_start(&m->lag_timer, on_lag_timer, LAG_INTERVAL_MS, 0);
}

struct sh_metrics *sh_metrics_new(uv_loop_t *loop, const struct sh_config *cfg,
                                  const struct sh_router *rt, const struct sh_http_server *http,
                                  struct sh_db *db, struct sh_api_auth *auth, struct sh_logs *logs)
{
    struct sh_metrics *m = sh_calloc(1, sizeof(*m));
    m->loop = loop;
    m->cfg = cfg;
    m->router = rt;
    m->http = http;
    m->db = db;
    m->pool = auth ? auth->pool : NULL;
    m->logs = logs;
    size_t slots = SH__M_ROUTE_SLOTS;
    m->requests = sh_calloc(slots * SH__M_METHODS * SH__M_CLASSES, sizeof(uint64_t));
    m->dur_buckets = sh_calloc(slots * (SH__M_DUR_BUCKETS + 1), sizeof(uint64_t));
    m->dur_sum_us = sh_calloc(slots, sizeof(uint64_t));
    m->dur_count = sh_calloc(slots, sizeof(uint64_t));
    m->rate_limited = sh_calloc(slots, sizeof(uint64_t));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    uv_timer_init(loop, &m->lag_timer);
    m->lag_timer.data = m;
    uv_unref((uv_handle_t *)&m->lag_timer); /* never keeps the loop alive */
    lag_arm(m);
    sh_metrics_add(m, "stagehand_writer_wal_truncations_total",
                   "Checkpoints that truncated the WAL past --wal-max.", "counter",
                   read_wal_truncations, db);
    if (logs)
        sh_metrics_add(m, "stagehand_logs_write_failures_total",
                       "Log entries lost because auxiliary.db could not be written.", "counter",
                       read_log_failures, logs);
    return m;
}

int sh_metrics_add(struct sh_metrics *m, const char *name, const char *help, const char *type,
                   double (*read)(void *ud), void *ud)
{
    if (m->nfamilies >= SH__M_MAX_FAMILIES)
        return SH_EINVAL;
    m->families[m->nfamilies++] = (struct sh__m_family){name, help, type, read, ud};
    return 0;
}

void sh_metrics_on_done(const struct sh_req *r, void *ud)
{
    struct sh_metrics *m = ud;
    unsigned slot = r->route_id < SH__M_ROUTE_SLOTS ? r->route_id : 0;
    unsigned method = r->method ? (unsigned)__builtin_ctz((unsigned)r->method) : 7;
    if (method >= SH__M_METHODS)
        method = SH__M_METHODS - 1;
    unsigned cls = (unsigned)r->status / 100;
    cls = cls >= 1 && cls <= 5 ? cls - 1 : 4;
    m->requests[(slot * SH__M_METHODS + method) * SH__M_CLASSES + cls]++;
    uint64_t us = r->start_ns ? (uv_hrtime() - r->start_ns) / 1000 : 0;
    unsigned b = 0;
    while (b < SH__M_DUR_BUCKETS && us > sh__m_dur_bounds_us[b])
        b++;
    m->dur_buckets[slot * (SH__M_DUR_BUCKETS + 1) + b]++;
    m->dur_sum_us[slot] += us;
    m->dur_count[slot]++;
    if (r->status == 429)
        m->rate_limited[slot]++;
    if (m->logs)
        sh_logs_request(m->logs, r, us);
}

/* Is Authorization the --metrics-token (with or without "Bearer ")? */
static int metrics_token_ok(const struct sh_req *r, const char *want)
{
    if (!want || !*want)
        return 0;
    const struct sh_str *h = sh_req_header(r, "authorization");
    if (!h)
        return 0;
    const char *p = h->ptr;
    size_t n = h->len;
    if (n > 7 && strncasecmp(p, "Bearer ", 7) == 0) {
        p += 7;
        n -= 7;
    }
    size_t wn = strlen(want);
    return n == wn && sodium_memcmp(p, want, wn) == 0;
}

int sh_api_metrics(struct sh_req *r, void *ud)
{
    struct sh_metrics *m = ud;
    if (!metrics_token_ok(r, m->cfg->metrics_token) && sh__ops_superuser_or_reply(r))
        return SH_HANDLED;
    sh__metrics_format(m);
    sh_res_header(r, "Cache-Control", "no-store");
    sh_res_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", m->text.data, m->text.len);
    return SH_HANDLED;
}

int sh_metrics_register(struct sh_router *rt, struct sh_metrics *m)
{
    return sh_router_add(rt, SH_METHOD_GET, "/api/metrics", sh_api_metrics, m);
}

void sh_metrics_stop(struct sh_metrics *m)
{
    if (m && !uv_is_closing((uv_handle_t *)&m->lag_timer))
        uv_close((uv_handle_t *)&m->lag_timer, NULL);
}

void sh_metrics_free(struct sh_metrics *m)
{
    if (!m)
        return;
    free(m->requests);
    free(m->dur_buckets);
    free(m->dur_sum_us);
    free(m->dur_count);
    free(m->rate_limited);
    sh_buf_deinit(&m->text);
    free(m);
}
