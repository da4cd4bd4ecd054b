/*
 * The integration-test harness: starts the real stagehand binary (path from
 * $STAGEHAND_BIN) on 127.0.0.1:0 with a temporary data directory, learns the
 * bound address from its stdout, and talks raw HTTP/1.1 to it over sockets.
 * Every wait is bounded by a deadline and waits with poll(2) (or a pidfd), so
 * tests neither sleep for readiness nor hang.
 *
 * Ownership: everything the harness returns (servers, connections,
 * responses, log copies) is recorded in the current scope and freed by
 * it_scope_end(): a cmocka assertion that jumps out of a test leaks nothing,
 * because the test's teardown ends the scope, which also kills any server
 * still running and removes its temporary directory. Objects may also be
 * released earlier (it_conn_close, it_server_cleanup).
 *
 * Evidence: a scope that saw a failed test (it_test_failed; the fixtures
 * call it) keeps its servers' folders, with each server's whole stderr log,
 * and prints their paths; SH_IT_KEEP=1 keeps every folder.
 *
 * Fixtures: a suite registers its tests with it_test() (a scope per test)
 * and, when its tests share a server, it_group_begin() in its group setup
 * and it_group_teardown() as its group teardown.
 *
 * The parts, one job each: harness_scope.c (scopes, memory, the failure
 * count), harness_process.c (server processes, their folders and logs, the
 * CLI), harness_http.c (connections, responses), harness_fixture.c (the
 * cmocka fixtures). This header is the one tests include.
 */
#ifndef SH_IT_HARNESS_H
#define SH_IT_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int it_slowdown(void);
/* The harness's bounds, each times it_slowdown() (below). */
#define IT_MS_START ((int)(15000 * it_slowdown())) /* a server printing its address */
#define IT_MS_IO    ((int)(5000 * it_slowdown()))  /* one network wait */
#define IT_MS_STOP  ((int)(15000 * it_slowdown())) /* a drain (> the default --drain-timeout) */
#define IT_MS_CLI   ((int)(30000 * it_slowdown())) /* one run of the CLI */

/* ---- scopes (harness_scope.c) ---- */

/* Opens a scope: later allocations belong to it. Scopes nest (up to 8). */
void it_scope_begin(void);
/* Frees everything allocated since the matching it_scope_begin, newest first:
 * connections are closed, servers killed (SIGKILL) and their folders removed. */
void it_scope_end(void);
/* How many scopes are open. */
int it_scope_depth(void);
/* Ends scopes until depth are open (a fixture unwinds what an assertion
 * that jumped out of nested scopes left open). */
void it_scope_end_to(int depth);
/* Calls fn(p) when the current scope ends (before what was allocated
 * earlier in it is freed). */
void it_defer(void (*fn)(void *), void *p);
/* Records a failed test: every scope open now keeps its servers' folders
 * when it ends (and prints their paths). */
void it_test_failed(void);
/* Failed tests recorded so far in this process. */
unsigned it_failures(void);
/* Memory owned by the current scope (zeroed); aborts on exhaustion. */
void *it_alloc(size_t n);
char *it_strdup(const char *s);
/* printf into scope memory. */
char *it_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds of a monotonic clock. */
int64_t it_now_ms(void);
/* How many times slower than a plain sanitizer build this test binary and the
 * server it starts run: 5 under ThreadSanitizer, 1 otherwise; the variable
 * STAGEHAND_TEST_SLOWDOWN (a positive integer) overrides. Upper bounds on
 * elapsed time, and the short timeouts a test gives the server so that it can
 * wait for them, are multiplied by it (IT_SLOW); lower bounds are not. */
int it_slowdown(void);
#define IT_SLOW(ms) ((int64_t)(ms)*it_slowdown())
/* "<IT_SLOW(ms)>ms" in scope memory, for a server flag. */
char *it_slow_flag(int64_t ms);
/* Prints a diagnostic line ("# ...") on stdout, next to cmocka's output. */
void it_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the server process (harness_process.c) ---- */

struct it_server {
    pid_t pid;          /* 0 once reaped */
    int pidfd;          /* pollable process handle, -1 if unavailable */
    int status;         /* as it_server_wait reports it, once reaped */
    char dir[256];      /* temporary folder (mkdtemp), removed by cleanup */
    char data_dir[300]; /* dir/data, passed as --dir */
    char log_path[300]; /* dir/stderr.log: the server's stderr */
    char host[64];
    int port;
    char addr[96]; /* "127.0.0.1:40123" as printed */
    int started;   /* 1 once it_server_run has started the process */
};

/* Creates the temporary folder (so a test can put files in it) without
 * starting anything. NULL on failure. */
struct it_server *it_server_new(void);
/*
 * Starts the binary: serve --listen 127.0.0.1:0 --dir <dir>/data --log-level
 * info --init-schema none (no default `users` collection; pass
 * "--init-schema", "default" for one), then args (NULL-terminated, may be
 * NULL). Waits up to IT_MS_START for
 * the address line on stdout. 0, or -1 after printing why (and the log).
 */
int it_server_run(struct it_server *s, const char *const *args);
/* it_server_new + it_server_run with a NULL-terminated list of extra args. */
struct it_server *it_server_start(const char *arg, ...);
/* Sends sig. 0 or -1 if the process is gone. */
int it_server_signal(struct it_server *s, int sig);
/* 1 while the process runs (reaps it if it has exited). */
int it_server_alive(struct it_server *s);
/* Waits up to timeout_ms for the process to end. Returns its exit code
 * (0-255), 128 + signal if a signal ended it, or -1 if it still runs. */
int it_server_wait(struct it_server *s, int timeout_ms);
/* SIGTERM, then waits up to timeout_ms; if it still runs, SIGKILL and -1.
 * Otherwise as it_server_wait. A non-zero result prints the log's tail. */
int it_server_stop(struct it_server *s, int timeout_ms);
/* SIGKILL and reap (no-op if gone). */
void it_server_kill(struct it_server *s);
/* Kills if running and removes the temporary folder (also done by scope end,
 * which keeps the folder instead when a test failed). */
void it_server_cleanup(struct it_server *s);
/* The stderr log so far, NUL-terminated (scope memory); "" if unreadable. */
char *it_server_log(const struct it_server *s);
/* Waits up to timeout_ms for a log line containing needle (the server flushes
 * its log every 200 ms), re-reading the file every 10 ms. 1 found, 0 not. */
int it_server_wait_log(const struct it_server *s, const char *needle, int timeout_ms);
/* Prints the last bytes of the log (for failure messages). */
void it_server_dump_log(const struct it_server *s, size_t tail);
/* Lines of log that contain every NULL-terminated needle. */
int it_log_count(const char *log, const char *needle, ...) __attribute__((sentinel));

/* Removes a tree without following symlinks. 0 or -1. */
int it_rmrf(const char *path);
/* Writes a file (creating or truncating). 0 or -1. */
int it_write_file(const char *path, const void *data, size_t len);

/* Runs $STAGEHAND_BIN [prefix] arg... (NULL-terminated) with stdin from
 * /dev/null, killed after timeout_ms; *out and *err (may be NULL) get its
 * stdout and stderr (scope memory). Its exit code (128 + signal), or -1 if
 * it could not run or was killed (printed). */
int it_run_v(char **out, char **err, int timeout_ms, const char *prefix, const char *arg,
             va_list ap);
/* it_run_v without a prefix, bounded by IT_MS_CLI. */
int it_run(char **out, char **err, const char *arg, ...) __attribute__((sentinel));

/* The server's resident memory in KiB from /proc/<pid>/status: VmHWM (the
 * peak) when peak, else VmRSS; -1 if unreadable. */
long it_server_mem_kib(const struct it_server *s, int peak);

/* ---- connections (harness_http.c) ---- */

#define IT_OK       0
#define IT_ECLOSED  (-1) /* the peer closed (EOF or reset) */
#define IT_ETIMEOUT (-2) /* the deadline passed */
#define IT_EPROTO   (-3) /* bytes that are not an HTTP/1.x response */
#define IT_EIO      (-4) /* another socket error */

struct it_conn {
    int fd;
    char *buf; /* received bytes; [off, len) not yet consumed */
    size_t len, off, cap;
    int eof;   /* the peer closed (FIN or RST seen) */
    int reset; /* ... by a reset */
    int err;   /* the last IT_E* code */
};

/* Non-blocking TCP connect to host:port, bounded. Returns the fd (non-blocking,
 * close-on-exec) or -errno (e.g. -ECONNREFUSED). Not scope-owned. */
int it_connect(const char *host, int port, int timeout_ms);
/* A connection to the server (scope-owned). NULL on failure (printed). */
struct it_conn *it_conn_open(const struct it_server *s);
/* Closes now (also done by scope end). Gracefully: shuts down our side and
 * waits up to 200 ms for the server to close its side, so that the server has
 * seen the close before the test goes on (e.g. to SIGTERM). */
void it_conn_close(struct it_conn *c);
/* Closes at once, without waiting (a reset if unread bytes remain). */
void it_conn_abort(struct it_conn *c);
void it_conn_nodelay(struct it_conn *c);
/* Sends all n bytes (MSG_NOSIGNAL), reading whatever arrives meanwhile so
 * neither side can block on a full buffer. IT_OK or IT_E*. */
int it_conn_send(struct it_conn *c, const void *p, size_t n, int timeout_ms);
int it_conn_sends(struct it_conn *c, const char *s);
int it_conn_sendf(struct it_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* shutdown(SHUT_WR): the server sees EOF after what was sent. */
int it_conn_shutdown_write(struct it_conn *c);
/* One read (waits up to timeout_ms for readability). Bytes read (>0),
 * IT_ECLOSED, IT_ETIMEOUT or IT_EIO. */
int it_conn_fill(struct it_conn *c, int timeout_ms);
/* Reads until the peer closes. IT_OK (closed) or IT_ETIMEOUT/IT_EIO. */
int it_conn_read_to_eof(struct it_conn *c, int timeout_ms);
/* Did the server close the connection? Waits up to timeout_ms. 1: closed and
 * no unconsumed bytes; 0: still open at the deadline; -1: bytes arrived (or
 * were pending) instead. */
int it_conn_closed(struct it_conn *c, int timeout_ms);
/* Unconsumed received bytes. */
size_t it_conn_pending(const struct it_conn *c);

/* ---- responses (harness_http.c) ---- */

#define IT_MAX_HEADERS 64

struct it_header {
    char *name, *value; /* NUL-terminated, OWS-trimmed */
};

struct it_resp {
    int status;
    int minor; /* HTTP/1.x */
    struct it_header headers[IT_MAX_HEADERS];
    unsigned nheaders;
    int has_length;
    uint64_t content_length;
    char *body; /* NUL-terminated copy (scope memory) */
    size_t body_len;
    size_t raw_len; /* bytes the whole response took on the wire */
};

/* A parsed response's position in a buffer, without copies (for the corpus
 * runner's own event loop). */
struct it_resp_view {
    int status;
    size_t head_len; /* status line and headers incl. the empty line */
    size_t body_len;
    int has_length;
    uint64_t content_length;
    int until_close; /* no framing: the body ran to EOF */
};

/* Flags for parsing. */
#define IT_NO_BODY 1 /* the response answers HEAD: no body whatever the headers say */

/*
 * Parses one response at buf[0..len). eof: the peer has closed, so a body
 * without framing ends here. Returns the bytes it takes (> 0), 0 if more are
 * needed, or -1 if the bytes are not a response (also: a chunked response,
 * which stagehand never sends). 1xx, 204 and 304 have no body.
 */
long it_resp_parse(const char *buf, size_t len, int flags, int eof, struct it_resp_view *v);

/* Reads the next response (an interim 1xx is returned too). NULL on timeout,
 * close or garbage, with c->err set. */
struct it_resp *it_conn_read(struct it_conn *c, int flags, int timeout_ms);
/* First header called name (case-insensitive) or NULL. */
const char *it_resp_header(const struct it_resp *r, const char *name);
/* How many header lines are called name. */
unsigned it_resp_header_count(const struct it_resp *r, const char *name);
/*
 * The API's error shape: Content-Type application/json and a body
 * {"status":status,"message":"<sentence ending in a period>","data":{}}.
 * 0, or -1 after printing what differs.
 */
int it_resp_check_error(const struct it_resp *r, int status);

/* ---- cmocka fixtures (harness_fixture.c) ---- */

/* A test's fixture (see it_test): the function, an optional step run first
 * inside the test's scope, and whether the function returned. */
struct it_case {
    void (*fn)(void **state);
    int (*each)(void); /* NULL, or 0 / -1 (a failed step fails the test) */
    int depth;         /* scopes open before the test's own */
    int done;
};

/*
 * A cmocka test entry: f runs in a scope of its own (after each(), when not
 * NULL, in that scope); a test that does not return (a failed assertion)
 * is recorded with it_test_failed, so its servers and its group's keep their
 * folders, and every scope it left open is ended. The group's setup must not
 * set *state (cmocka would then not pass the case to the test).
 */
#define it_test_each(f, each_fn)                                                                   \
    {                                                                                              \
        .name = #f, .test_func = it_case_run, .setup_func = it_case_setup,                         \
        .teardown_func = it_case_teardown,                                                         \
        .initial_state = &(struct it_case){.fn = (f), .each = (each_fn)},                          \
    }
#define it_test(f) it_test_each(f, NULL)

/* The three functions of it_test's entries (not called directly). */
void it_case_run(void **state);
int it_case_setup(void **state);
int it_case_teardown(void **state);

/* The start of a group setup: opens the group's scope, which holds the
 * servers and values its tests share. */
void it_group_begin(void);
/*
 * A group teardown: every server the group's scope started is stopped
 * (SIGTERM, IT_MS_STOP) and must exit 0, then the scope ends (keeping the
 * folders if a test of the group failed or a server did not exit 0).
 * 0, or -1 (printed). Also ends a group whose setup failed.
 */
int it_group_teardown(void **state);
/* Runs fn at the end of every test and group, before its scope ends (a
 * client library's own cleanup). Up to 8 functions, each once. */
void it_on_test_end(void (*fn)(void));

/* it_conn_open that fails the test when no connection is made. */
struct it_conn *it_conn_open_or_fail(const struct it_server *s);
/* it_conn_read (IT_MS_IO) that fails the test when no response comes. */
struct it_resp *it_conn_read_or_fail(struct it_conn *c, int flags);

#endif
