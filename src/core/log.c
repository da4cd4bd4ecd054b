/*
 * Logging: one logfmt line per event on stderr. Lines are collected in a
 * process buffer and written by sh_log_flush(), which the server calls from a
 * loop timer, when the buffer passes a threshold and at exit, so an access
 * line per request does not cost a write(2) per request. Errors flush at once.
 * Any thread may log (the writer, the hashing pool); the buffer is under a
 * lock that is uncontended on the loop's fast path.
 *
 * The log is the process's, on purpose: one stderr, one level, one buffer
 * shared by every server and thread of the process, so lines never
 * interleave mid-line and a crash report finds everything flushed.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stagehand/core.h"

enum sh_log_level sh_log_min_level = SH_LOG_INFO;

#define FLUSH_AT (32 * 1024)

static struct sh_buf logbuf;
/* Helper threads (writer, hashing pool) log too, hence the lock. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Each thread keeps its own timestamp cache (thread-local: written without
 * a lock). */
static const char *log_ts(void)
{
    static _Thread_local struct sh_date_cache tl;
    return sh_date_cache_update(&tl, time(NULL))->iso;
}

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int sh_log_level_parse(const char *s)
{
    for (int i = 0; i <= SH_LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

static void flush_locked(void)
{
    size_t off = 0;
    while (off < logbuf.len) {
        ssize_t n = write(STDERR_FILENO, logbuf.data + off, logbuf.len - off);
        if (n <= 0)
            break; /* stderr gone or full: drop rather than stall the loop */
        off += (size_t)n;
    }
    logbuf.len = 0;
}

void sh_log_flush(void)
{
    pthread_mutex_lock(&log_lock);
    flush_locked();
    pthread_mutex_unlock(&log_lock);
}

void sh_log_kv(struct sh_buf *b, const char *key, const char *val, size_t len)
{
    int quote = len == 0;
    for (size_t i = 0; i < len && !quote; i++) {
        unsigned char c = (unsigned char)val[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
            quote = 1;
    }
    sh_buf_appendf(b, " %s=", key);
    if (!quote) {
        sh_buf_append(b, val, len);
        return;
    }
    sh_buf_reserve(b, len + 2);
    sh_buf_append(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)val[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sh_buf_append(b, e, 2);
        } else if (c < ' ' || c == 0x7f) {
            sh_buf_appendf(b, "\\x%02x", c);
        } else {
            sh_buf_append(b, &val[i], 1);
        }
    }
    sh_buf_append(b, "\"", 1);
}

static sh_log_sink_fn sink_fn;
static void *sink_ud;
static _Thread_local int in_sink;

void sh_log_set_sink(sh_log_sink_fn fn, void *ud)
{
    pthread_mutex_lock(&log_lock);
    sink_fn = fn;
    sink_ud = ud;
    pthread_mutex_unlock(&log_lock);
}

void sh_log_write(enum sh_log_level lvl, const char *mod, const char *kv, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;

    pthread_mutex_lock(&log_lock);
    sh_buf_appendf(&logbuf, "ts=%s level=%s mod=%s", log_ts(), level_names[lvl], mod);
    sh_log_kv(&logbuf, "msg", msg, (size_t)n);
    if (kv)
        sh_buf_appends(&logbuf, kv);
    sh_buf_append(&logbuf, "\n", 1);
    if (lvl >= SH_LOG_ERROR || logbuf.len >= FLUSH_AT)
        flush_locked();
    sh_log_sink_fn fn = lvl >= SH_LOG_WARN && !in_sink ? sink_fn : NULL;
    void *ud = sink_ud;
    pthread_mutex_unlock(&log_lock);
    if (fn) {
        in_sink = 1;
        fn(lvl, mod, msg, (size_t)n, ud);
        in_sink = 0;
    }
}

void sh_log_raw(const char *line, size_t len)
{
    pthread_mutex_lock(&log_lock);
    sh_buf_appendf(&logbuf, "ts=%s ", log_ts());
    sh_buf_append(&logbuf, line, len);
    sh_buf_append(&logbuf, "\n", 1);
    if (logbuf.len >= FLUSH_AT)
        flush_locked();
    pthread_mutex_unlock(&log_lock);
}
