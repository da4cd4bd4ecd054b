/*
 * stagehand core: error codes, string slices, growable buffers, the request
 * arena, logging and the cached clock. libc only; every other module builds on
 * these.
 */
#ifndef STAGEHAND_CORE_H
#define STAGEHAND_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- errors: 0 or a negative code; -errno and libuv codes pass through ---- */
#define SH_ENOTFOUND  (-10001)
#define SH_ECONFLICT  (-10002)
#define SH_EINVAL     (-10003)
#define SH_ETOOBIG    (-10004)
#define SH_EFORBIDDEN (-10005)
#define SH_EBUSY      (-10006)
#define SH_EINTERNAL  (-10007)
/* The schema moved under the operation: it was prepared against a catalog
 * snapshot older than the database's schema version (another process
 * migrated a table). Refresh the catalog and run it again; never "busy". */
#define SH_ESTALE (-10008)

/* A short description of code: our SH_E* codes by name and meaning,
 * -errno (and libuv's codes, which are -errno on Unix) by the C library's
 * text, anything else "unknown error <n>". The string is static (or, for an
 * unknown code, thread-local): never free it. Thread-safe. */
const char *sh_strerror(int code);

#define SH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define SH_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            sh_panic(__FILE__, __LINE__, #cond);                                                   \
    } while (0)

/* Logs and aborts. Used for broken invariants and process-heap exhaustion. */
_Noreturn void sh_panic(const char *file, int line, const char *what);

/* malloc/realloc/calloc that abort on failure (process heap only). */
void *sh_malloc(size_t n);
void *sh_calloc(size_t n, size_t size);
void *sh_realloc(void *p, size_t n);
char *sh_strdup(const char *s);

/* ---- string slices: borrowed, not NUL-terminated ---- */
struct sh_str {
    const char *ptr;
    size_t len;
};

#define SH_STR(lit) ((struct sh_str){(lit), sizeof(lit) - 1})

int sh_str_eq(struct sh_str a, const char *lit);
/* ASCII case-insensitive comparison with a NUL-terminated literal. */
int sh_str_caseeq(struct sh_str a, const char *lit);

/* ---- growable byte buffer (process heap) ---- */
struct sh_buf {
    char *data;
    size_t len;
    size_t cap;
};

void sh_buf_init(struct sh_buf *b);
void sh_buf_deinit(struct sh_buf *b);
void sh_buf_reserve(struct sh_buf *b, size_t extra);
void sh_buf_append(struct sh_buf *b, const void *p, size_t n);
void sh_buf_appends(struct sh_buf *b, const char *s);
void sh_buf_appendf(struct sh_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sh_buf_vappendf(struct sh_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends an unsigned decimal number without printf. */
void sh_buf_append_u64(struct sh_buf *b, uint64_t v);
/* Drops the first n bytes, keeping the rest. */
void sh_buf_consume(struct sh_buf *b, size_t n);

/* ---- request arena: bump allocation, reset between requests ---- */
struct sh_arena_chunk;
struct sh_arena_defer;

struct sh_arena_pool;

struct sh_arena {
    struct sh_arena_chunk *head; /* current chunk, NULL until first allocation */
    struct sh_arena_defer *defers;
    size_t chunk_size;          /* default size of a new chunk */
    size_t limit;               /* total bytes the arena may hold; 0 = unlimited */
    size_t used;                /* bytes held in chunks */
    struct sh_arena_pool *pool; /* where default-size chunks come from and go; NULL = malloc */
};

/* Spare chunks shared by the arenas of one thread (a server's connections):
 * an arena given back when its connection goes idle keeps its chunk here
 * instead of freeing it, and the next request anywhere takes it instead of
 * calling malloc. At most max chunks are kept; one thread only. */
struct sh_arena_pool {
    struct sh_arena_chunk *free;
    size_t chunk_size; /* the only size kept */
    unsigned n, max;
};

void sh_arena_pool_init(struct sh_arena_pool *p, size_t chunk_size, unsigned max);
/* Frees the spare chunks; chunks given back later are freed (max becomes 0). */
void sh_arena_pool_deinit(struct sh_arena_pool *p);

/* Prepares caller storage. Nothing is allocated until the first sh_arena_alloc. */
void sh_arena_init(struct sh_arena *a, size_t chunk_size, size_t limit);
/* Makes a take chunks of its default size from pool p and give them back to
 * it (p->chunk_size must be a's chunk_size; p outlives a's last deinit). */
void sh_arena_use_pool(struct sh_arena *a, struct sh_arena_pool *p);
/* Runs deferred cleanups (newest first) and frees every chunk. */
void sh_arena_deinit(struct sh_arena *a);
/* Runs deferred cleanups and rewinds; keeps the first chunk for reuse. */
void sh_arena_reset(struct sh_arena *a);
/* Returns 16-byte aligned memory owned by the arena, or NULL if the arena's
 * limit would be exceeded (the caller answers 413). Never returns NULL for n == 0. */
void *sh_arena_alloc(struct sh_arena *a, size_t n);
/* Copies n bytes and a terminating NUL into the arena; NULL past the limit. */
char *sh_arena_strndup(struct sh_arena *a, const char *s, size_t n);
char *sh_arena_sprintf(struct sh_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Registers fn(arg) to run when the arena is reset or deinitialised. 0 or -ENOMEM. */
int sh_arena_defer(struct sh_arena *a, void (*fn)(void *), void *arg);

/* ---- logging: logfmt lines on stderr, buffered ---- */
enum sh_log_level { SH_LOG_DEBUG, SH_LOG_INFO, SH_LOG_WARN, SH_LOG_ERROR, SH_LOG_OFF };

extern enum sh_log_level sh_log_min_level;

/* Parses "debug", "info", "warn", "error", "off"; -1 if unknown. */
int sh_log_level_parse(const char *s);
/* Writes one line "ts=... level=... mod=<mod> msg=\"...\" <kv>" where kv is an
 * already formatted logfmt tail (may be NULL). Errors flush at once. */
void sh_log_write(enum sh_log_level lvl, const char *mod, const char *kv, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Appends a ready logfmt line (without ts prefix, without newline) to the buffer. */
void sh_log_raw(const char *line, size_t len);
/* Writes buffered lines to stderr. Called by a loop timer, when the buffer is
 * large, and at exit. */
void sh_log_flush(void);
/* A sink that also receives every warn and error line written (its module
 * and message, NUL-terminated, len bytes) from any thread, outside the log's
 * lock; it must be thread-safe and must not block. A line the sink logs
 * itself is not passed to it again. NULL removes it. Set before threads
 * start and removed after they stop (the stored logs, api/ops). */
typedef void (*sh_log_sink_fn)(enum sh_log_level lvl, const char *mod, const char *msg, size_t len,
                               void *ud);
void sh_log_set_sink(sh_log_sink_fn fn, void *ud);
/* Appends key="value" to b, quoting and escaping as logfmt requires. */
void sh_log_kv(struct sh_buf *b, const char *key, const char *val, size_t len);

#define SH_LOG_AT(lvl, mod, ...)                                                                   \
    do {                                                                                           \
        if ((lvl) >= sh_log_min_level)                                                             \
            sh_log_write((lvl), (mod), NULL, __VA_ARGS__);                                         \
    } while (0)
#define sh_log_debug(mod, ...) SH_LOG_AT(SH_LOG_DEBUG, mod, __VA_ARGS__)
#define sh_log_info(mod, ...)  SH_LOG_AT(SH_LOG_INFO, mod, __VA_ARGS__)
#define sh_log_warn(mod, ...)  SH_LOG_AT(SH_LOG_WARN, mod, __VA_ARGS__)
#define sh_log_error(mod, ...) SH_LOG_AT(SH_LOG_ERROR, mod, __VA_ARGS__)

/* ---- clock: HTTP dates and log timestamps, formatted once per second ---- */
struct sh_date_cache {
    time_t sec;
    char http[32]; /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    char iso[32];  /* "1994-11-06T08:49:37Z" */
};

/* Formats t as an IMF-fixdate into out (at least 30 bytes); returns length 29. */
size_t sh_date_format_http(time_t t, char *out);
/* Parses an IMF-fixdate; -1 on anything else. */
time_t sh_date_parse_http(const char *s, size_t len);
/* Refreshes the cache if the second changed; returns the cache. */
const struct sh_date_cache *sh_date_cache_update(struct sh_date_cache *c, time_t now);

#endif
