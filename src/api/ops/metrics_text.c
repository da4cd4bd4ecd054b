/*
 * The Prometheus text exposition (format 0.0.4) of the metrics, built only
 * when scraped: `# HELP` and `# TYPE` once per family, label values escaped
 * (backslash, double quote, newline), counters ending in `_total`,
 * histograms as cumulative `_bucket{le=...}` samples ending in `+Inf`, then
 * `_sum` and `_count`. Reads the loop's counters directly, the other
 * threads' through the snapshots they keep, and the process from getrusage,
 * /proc/self and stat(2) of the data files (bounded work: a scrape costs no
 * more than the number of routes, open descriptors and buckets).
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops_int.h"
#include "stagehand/auth.h"

static const char *const method_names[SH__M_METHODS] = {"GET",   "HEAD",   "POST",    "PUT",
                                                        "PATCH", "DELETE", "OPTIONS", "OTHER"};

static void head(struct sh_buf *b, const char *name, const char *type, const char *help)
{
    sh_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends a label value escaped as the format wants. */
static void label_value(struct sh_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            sh_buf_append(b, "\\\\", 2);
        else if (*v == '"')
            sh_buf_append(b, "\\\"", 2);
        else if (*v == '\n')
            sh_buf_append(b, "\\n", 2);
        else
            sh_buf_append(b, v, 1);
    }
}

static void sample_u64(struct sh_buf *b, const char *name, uint64_t v)
{
    sh_buf_appendf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void sample_f(struct sh_buf *b, const char *name, double v)
{
    sh_buf_appendf(b, "%s %.17g\n", name, v);
}

static const char *route_name(const struct sh_metrics *m, unsigned slot)
{
    if (slot == 0)
        return "none";
    if (slot - 1 < m->router->nroutes)
        return m->router->routes[slot - 1].pattern;
    return "other";
}

/* A histogram of non-cumulative buckets b[0..n] (b[n]: above the last
 * bound), with bounds in bound_unit (le = bound * scale). */
static void histogram(struct sh_buf *b, const char *name, const char *labels,
                      const uint64_t *buckets, const uint64_t *bounds, unsigned n, double scale,
                      double sum, uint64_t count)
{
    uint64_t cum = 0;
    const char *sep = labels && *labels ? "," : "";
    for (unsigned i = 0; i < n; i++) {
        cum += buckets[i];
        sh_buf_appendf(b, "%s_bucket{%s%sle=\"%.9g\"} %llu\n", name, labels ? labels : "", sep,
                       (double)bounds[i] * scale, (unsigned long long)cum);
    }
    cum += buckets[n];
    sh_buf_appendf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels ? labels : "", sep,
                   (unsigned long long)cum);
    if (labels && *labels) {
        sh_buf_appendf(b, "%s_sum{%s} %.17g\n%s_count{%s} %llu\n", name, labels, sum, name, labels,
                       (unsigned long long)count);
    } else {
        sh_buf_appendf(b, "%s_sum %.17g\n%s_count %llu\n", name, sum, name,
                       (unsigned long long)count);
    }
}

static void requests(struct sh_metrics *m, struct sh_buf *b)
{
    head(b, "stagehand_http_requests_total", "counter",
         "Finished HTTP requests by route pattern, method and status class.");
    for (unsigned s = 0; s < SH__M_ROUTE_SLOTS; s++) {
        for (unsigned mt = 0; mt < SH__M_METHODS; mt++) {
            for (unsigned c = 0; c < SH__M_CLASSES; c++) {
                uint64_t v = m->requests[(s * SH__M_METHODS + mt) * SH__M_CLASSES + c];
                if (!v)
                    continue;
                sh_buf_appends(b, "stagehand_http_requests_total{route=\"");
                label_value(b, route_name(m, s));
                sh_buf_appendf(b, "\",method=\"%s\",status=\"%ux\"} %llu\n", method_names[mt],
                               c + 1, (unsigned long long)v);
            }
        }
    }
    head(b, "stagehand_http_request_duration_seconds", "histogram",
         "Time from the first byte of a request to its response, by route pattern.");
    struct sh_buf lab;
    sh_buf_init(&lab);
    for (unsigned s = 0; s < SH__M_ROUTE_SLOTS; s++) {
        if (!m->dur_count[s])
            continue;
        lab.len = 0;
        sh_buf_appends(&lab, "route=\"");
        label_value(&lab, route_name(m, s));
        sh_buf_append(&lab, "\"", 2); /* with the NUL */
        histogram(b, "stagehand_http_request_duration_seconds", lab.data,
                  &m->dur_buckets[s * (SH__M_DUR_BUCKETS + 1)], sh__m_dur_bounds_us,
                  SH__M_DUR_BUCKETS, 1e-6, (double)m->dur_sum_us[s] / 1e6, m->dur_count[s]);
    }
    head(b, "stagehand_rate_limited_total", "counter",
         "Requests answered 429 (rate limits and read budgets), by route pattern.");
    for (unsigned s = 0; s < SH__M_ROUTE_SLOTS; s++) {
        if (!m->rate_limited[s])
            continue;
        sh_buf_appends(b, "stagehand_rate_limited_total{route=\"");
        label_value(b, route_name(m, s));
        sh_buf_appendf(b, "\"} %llu\n", (unsigned long long)m->rate_limited[s]);
    }
    sh_buf_deinit(&lab);
}

static void server(struct sh_metrics *m, struct sh_buf *b)
{
    const struct sh_http_server *h = m->http;
    head(b, "stagehand_http_requests_in_flight", "gauge",
         "Requests handed to a handler and not yet answered.");
    sample_u64(b, "stagehand_http_requests_in_flight", h->in_flight);
    head(b, "stagehand_connections_open", "gauge", "Open client connections.");
    sample_u64(b, "stagehand_connections_open", h->net.nconns);
    head(b, "stagehand_connections_accepted_total", "counter", "Connections accepted.");
    sample_u64(b, "stagehand_connections_accepted_total", h->net.accepted);
    head(b, "stagehand_connections_refused_total", "counter",
         "Connections closed at once: past --max-connections, or at the open-file limit.");
    sh_buf_appendf(b,
                   "stagehand_connections_refused_total{reason=\"max_connections\"} %llu\n"
                   "stagehand_connections_refused_total{reason=\"fd_limit\"} %llu\n",
                   (unsigned long long)h->net.rejected, (unsigned long long)h->net.fd_refused);
    head(b, "stagehand_event_loop_lag_seconds", "histogram",
         "Lateness of a 100 ms timer on the event loop.");
    histogram(b, "stagehand_event_loop_lag_seconds", NULL, m->lag_buckets, sh__m_lag_bounds_us,
              SH__M_LAG_BUCKETS, 1e-6, (double)m->lag_sum_us / 1e6, m->lag_count);
}

static void pow2_histogram(struct sh_buf *b, const char *name, const uint64_t *buckets, unsigned n,
                           double scale, double sum)
{
    uint64_t cum = 0;
    for (unsigned i = 0; i + 1 < n; i++) {
        cum += buckets[i];
        sh_buf_appendf(b, "%s_bucket{le=\"%.9g\"} %llu\n", name, (double)((2ull << i) - 1) * scale,
                       (unsigned long long)cum);
    }
    cum += buckets[n - 1];
    sh_buf_appendf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", name,
                   (unsigned long long)cum, name, sum, name, (unsigned long long)cum);
}

static void writer(struct sh_metrics *m, struct sh_buf *b)
{
    struct sh_db_writer_stats w;
    sh_db_writer_stats(m->db, &w);
    head(b, "stagehand_writer_batch_size", "histogram", "Write jobs committed per transaction.");
    pow2_histogram(b, "stagehand_writer_batch_size", w.batch_size, SH_DB_BATCH_BUCKETS, 1,
                   (double)w.jobs);
    head(b, "stagehand_writer_commit_seconds", "histogram", "Time a COMMIT of the writer took.");
    pow2_histogram(b, "stagehand_writer_commit_seconds", w.commit_us, SH_DB_COMMIT_BUCKETS, 1e-6,
                   (double)w.commit_us_total / 1e6);
    head(b, "stagehand_writer_queue_depth", "gauge", "Write jobs waiting for the writer thread.");
    sample_u64(b, "stagehand_writer_queue_depth", w.queue_depth);
    head(b, "stagehand_writer_jobs_total", "counter", "Write jobs run by the writer thread.");
    sample_u64(b, "stagehand_writer_jobs_total", w.jobs);
    head(b, "stagehand_writer_rejected_total", "counter",
         "Write jobs refused because the writer queue was full (503).");
    sample_u64(b, "stagehand_writer_rejected_total", w.rejected);
    head(b, "stagehand_writer_commit_failures_total", "counter", "Batches whose COMMIT failed.");
    sample_u64(b, "stagehand_writer_commit_failures_total", w.commit_failed);

    if (!m->pool)
        return;
    struct sh_hash_pool_stats h;
    sh_hash_pool_stats(m->pool, &h);
    head(b, "stagehand_hash_queue_depth", "gauge", "Password hashes waiting for a thread.");
    sample_u64(b, "stagehand_hash_queue_depth", h.queued);
    head(b, "stagehand_hash_running", "gauge", "Password hashes being computed.");
    sample_u64(b, "stagehand_hash_running", h.running);
    head(b, "stagehand_hash_rejected_total", "counter",
         "Password hashes refused because the queue was full (503).");
    sample_u64(b, "stagehand_hash_rejected_total", h.rejected);
    head(b, "stagehand_hash_duration_seconds", "histogram",
         "Time one Argon2id hash or verify took on the pool.");
    pow2_histogram(b, "stagehand_hash_duration_seconds", h.hash_us, SH_HASH_US_BUCKETS, 1e-6,
                   (double)h.hash_us_total / 1e6);
}

static uint64_t file_size(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return 0;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void storage(struct sh_metrics *m, struct sh_buf *b)
{
    head(b, "stagehand_database_bytes", "gauge", "Size of data.db.");
    sample_u64(b, "stagehand_database_bytes", file_size(m->cfg->dir, "data.db"));
    head(b, "stagehand_database_wal_bytes", "gauge", "Size of data.db's write-ahead log.");
    sample_u64(b, "stagehand_database_wal_bytes", file_size(m->cfg->dir, "data.db-wal"));
    if (!m->logs)
        return;
    struct sh__logs_stats l;
    sh__logs_stats(m->logs, &l);
    head(b, "stagehand_logs_written_total", "counter", "Log entries stored in auxiliary.db.");
    sample_u64(b, "stagehand_logs_written_total", l.written);
    head(b, "stagehand_logs_dropped_total", "counter",
         "Log entries dropped because the log queue was full.");
    sample_u64(b, "stagehand_logs_dropped_total", l.dropped);
    head(b, "stagehand_logs_queue_depth", "gauge", "Log entries waiting for the log thread.");
    sample_u64(b, "stagehand_logs_queue_depth", l.queued);
    head(b, "stagehand_logs_pruned_total", "counter", "Stored log entries deleted by retention.");
    sample_u64(b, "stagehand_logs_pruned_total", l.pruned);
    head(b, "stagehand_logs_bytes", "gauge", "Size of auxiliary.db and its write-ahead log.");
    sample_u64(b, "stagehand_logs_bytes",
               file_size(m->cfg->dir, "auxiliary.db") + file_size(m->cfg->dir, "auxiliary.db-wal"));
}

static unsigned count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    unsigned n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n ? n - 1 : 0; /* the directory's own descriptor */
}

static void process(struct sh_metrics *m, struct sh_buf *b)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    head(b, "process_cpu_seconds_total", "counter", "User and system CPU time of the process.");
    sample_f(b, "process_cpu_seconds_total", cpu);
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &pages) != 2)
            pages = 0;
        fclose(f);
    }
    head(b, "process_resident_memory_bytes", "gauge", "Resident set size.");
    sample_u64(b, "process_resident_memory_bytes",
               (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE));
    head(b, "process_open_fds", "gauge", "Open file descriptors.");
    sample_u64(b, "process_open_fds", count_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        head(b, "process_max_fds", "gauge", "The open-file limit.");
        sample_u64(b, "process_max_fds", (uint64_t)rl.rlim_cur);
    }
    head(b, "process_start_time_seconds", "gauge", "Start time of the process, Unix seconds.");
    sample_f(b, "process_start_time_seconds", m->start_time);
}

void sh__metrics_format(struct sh_metrics *m)
{
    struct sh_buf *b = &m->text;
    b->len = 0;
    requests(m, b);
    server(m, b);
    writer(m, b);
    storage(m, b);
    for (unsigned i = 0; i < m->nfamilies; i++) {
        const struct sh__m_family *f = &m->families[i];
        head(b, f->name, f->type, f->help);
        sample_f(b, f->name, f->read(f->ud));
    }
    process(m, b);
}
