/*
 * libFuzzer target for the request path: head validator, llhttp glue, router
 * and the response writer, driven through the real per-connection state
 * machine. Each input is written by a client into one end of a socketpair
 * whose other end the server adopts as a connection (sh_net_adopt); the client
 * then half-closes, and the loop runs until the server has closed the
 * connection. Nothing is mocked: reads, the write queue, backpressure and
 * deadlines are the server's own.
 *
 * Input format. If the first byte is below 0x20 and is not HTAB, LF or CR
 * (none of which can start a request the server would accept anyway), it is
 * a control byte: bits 0-2 give the number of writes (1-8), bit 3 shrinks the
 * server's socket send buffer so that responses queue and backpressure starts,
 * bit 4 makes the client a lazy reader that reads nothing until it has sent
 * everything and its EOF (or a write would block); each of the next
 * (writes - 1) bytes gives the length of one write (1-256 bytes) and the last
 * write carries the rest. Any other first byte starts a raw request stream,
 * written at once, so raw HTTP seeds work unchanged.
 *
 * Invariants checked, each a bug when broken (abort() with a message on the
 * diagnostics fd, so the fuzzer saves the input):
 *  - a dispatched request has a path, a NUL-terminated body, and a body of
 *    exactly the Content-Length the head validator accepted (none without
 *    Content-Length or chunked): llhttp and the validator agree on framing;
 *    its headers are exactly the field lines the validator checked;
 *  - every handler here answers synchronously;
 *  - the response stream is a sequence of well-framed HTTP/1.1 responses: one
 *    Content-Length where one belongs, the body it promises, no bare CR/LF in
 *    a header line, nothing after "Connection: close";
 *  - every dispatched request gets exactly one final response, plus at most
 *    one error response that closes the connection;
 *  - after the client's EOF the server closes within its (short) deadlines,
 *    and no head or body deadline fires: a request cut short by EOF cannot
 *    complete, so there is nothing left to wait for;
 *  - a complete request received before EOF is never dropped unanswered.
 *
 * Process-lifetime state (loop, config, router) is set up on the first input
 * and torn down at exit, so LeakSanitizer sees only per-input leaks; each
 * input gets a server of its own, created and freed around it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "conn.h"
#include "stagehand/api.h"
#include "stagehand/config.h"
#include "stagehand/http.h"
#include "stagehand/router.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (64 * 1024)
#define MAX_RESPONSE   (8 * 1024 * 1024) /* response bytes kept for checking */
#define MAX_TRACKED    8192              /* dispatched requests whose method is kept */
#define SETTLE_ROUNDS  32                /* loop turns to let the server read one write */
#define HANG_NS        (3 * 1000000000ull)
#define SMALL_SNDBUF   2048 /* the kernel doubles it and rounds up to its minimum */

/* ---- process lifetime ---- */

static struct {
    int ready;
    int verbose; /* FUZZ_REQUEST_VERBOSE set: one summary line per input */
    int diag_fd; /* stderr as it was before libFuzzer's -close_fd_mask=2 */
    uv_loop_t loop;
    struct sh_config cfg;
    struct sh_router rt;
    struct sh_http_server srv; /* one per input (server_start) */
    unsigned srv_up : 1;
    const struct sh_conn_ops *server_ops;
    struct sh_conn_ops ops; /* the server's, with on_eof and on_free wrapped */
} F = {.diag_fd = -1};

/* ---- one input ---- */

static struct {
    int fd; /* the client end */
    uv_poll_t poll;
    unsigned poll_open : 1;
    unsigned client_eof : 1; /* the server's side is closed and read to the end */
    unsigned server_eof : 1; /* the server read the client's EOF */
    unsigned freed : 1;      /* the server freed the connection */
    unsigned lazy : 1;       /* read nothing before EOF unless a write blocks */
    unsigned char *resp;     /* everything the server wrote */
    size_t resp_len, resp_cap;
    unsigned resp_overflow : 1;
    unsigned dispatched;
    unsigned char is_head[MAX_TRACKED];
} C;

static _Noreturn void bug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void bug(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    static const char prefix[] = "fuzz_request: invariant broken: ";
    int fd = F.diag_fd >= 0 ? F.diag_fd : STDERR_FILENO;
    if (write(fd, prefix, sizeof(prefix) - 1) < 0 || write(fd, msg, (size_t)n) < 0 ||
        write(fd, "\n", 1) < 0) {
        /* nowhere left to say it; abort() still reports */
    }
    abort();
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            bug(__VA_ARGS__);                                                                      \
    } while (0)

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

/* ---- server-side hooks ---- */

/* Wraps the router: checks what the server hands to handlers. */
static int fuzz_dispatch(struct sh_req *r, void *ud)
{
    struct sh_http_conn *hc = r->conn;

    CHECK(r->method_name.ptr && r->method_name.len > 0, "dispatched without a method");
    CHECK(r->path.ptr && r->path.len > 0 && r->path.ptr[r->path.len] == 0,
          "dispatched path is empty or not NUL-terminated");
    CHECK(r->path.ptr[0] == '/' || (r->path.len == 1 && r->method == SH_METHOD_OPTIONS),
          "dispatched path does not start with '/': %.*s", (int)r->path.len, r->path.ptr);
    CHECK(r->body && r->body[r->body_len] == 0, "body missing or not NUL-terminated");
    CHECK(r->body_len <= F.cfg.max_body, "body of %zu bytes is over max_body", r->body_len);
    CHECK(r->http_minor == hc->head.http_minor, "llhttp says HTTP/1.%d, the validator HTTP/1.%d",
          r->http_minor, hc->head.http_minor);
    if (r->is_form) /* multipart: the body holds the fields' values only */
        CHECK(r->form_error || r->body_over || r->nform <= F.cfg.max_form_parts,
              "%u form parts dispatched, over max_form_parts", r->nform);
    else if (hc->head.has_content_length)
        CHECK(r->body_len == hc->head.content_length,
              "body of %zu bytes but the validator accepted Content-Length %llu", r->body_len,
              (unsigned long long)hc->head.content_length);
    else if (!hc->head.chunked)
        CHECK(r->body_len == 0, "body of %zu bytes without Content-Length or chunked", r->body_len);
    if (r->http_minor == 1)
        CHECK(sh_req_header(r, "Host") != NULL, "HTTP/1.1 request dispatched without Host");
    /* Handlers see exactly the field lines the validator checked: nothing
     * from elsewhere (a chunked body's trailer section) joins them. */
    CHECK(r->nheaders == hc->head.nheaders,
          "%u headers dispatched but the validator checked %u field lines", r->nheaders,
          hc->head.nheaders);
    for (unsigned i = 0; i < r->nheaders; i++)
        CHECK(r->headers[i].name.ptr && r->headers[i].name.len > 0 && r->headers[i].value.ptr,
              "header %u has no name or a NULL value", i);

    /* The accessors handlers call on client bytes: the query table, decoded
     * once from the raw query, and the lookups in it. */
    size_t decoded = 0;
    for (unsigned i = 0; i < r->nqparams; i++) {
        const struct sh_query_param *q = &r->qparams[i];
        CHECK(q->name.ptr && q->name.ptr[q->name.len] == 0 && q->value.ptr &&
                  q->value.ptr[q->value.len] == 0,
              "query parameter %u is not NUL-terminated", i);
        decoded += q->name.len + q->value.len;
        if (strlen(q->name.ptr) != q->name.len)
            continue; /* a name with %00 reads shorter as a C string */
        unsigned k = 0;
        while (r->qparams[k].name.len != q->name.len ||
               memcmp(r->qparams[k].name.ptr, q->name.ptr, q->name.len) != 0)
            k++; /* stops at i at the latest */
        CHECK(sh_req_query(r, q->name.ptr) == r->qparams[k].value.ptr,
              "query parameter %u: the lookup does not read the first of its name", i);
    }
    CHECK(decoded <= r->query.len, "decoded query (%zu bytes) longer than the raw %zu", decoded,
          r->query.len);
    CHECK(r->nqparams <= r->query.len, "%u query parameters from %zu bytes", r->nqparams,
          r->query.len);
    static const char *const query_names[] = {"filter", "sort", "a", "a b", ""};
    for (size_t i = 0; i < SH_ARRAY_LEN(query_names); i++) {
        const char *v = sh_req_query(r, query_names[i]);
        CHECK(!v || strlen(v) <= r->query.len, "decoded query value longer than the query");
        int64_t iv;
        bool bv;
        int irc = sh_req_query_int(r, query_names[i], 7, &iv);
        CHECK(irc == 0 || (irc == -EINVAL && iv == 7), "sh_req_query_int: rc %d", irc);
        int brc = sh_req_query_bool(r, query_names[i], true, &bv);
        CHECK(brc == 0 || (brc == -EINVAL && bv), "sh_req_query_bool: rc %d", brc);
    }

    if (C.dispatched < MAX_TRACKED)
        C.is_head[C.dispatched] = r->method == SH_METHOD_HEAD;
    C.dispatched++;

    int rc = sh_router_dispatch(r, ud);
    CHECK(rc == SH_HANDLED && r->responded, "a handler did not answer synchronously");
    return rc;
}

static void fuzz_on_eof(struct sh_conn *c)
{
    C.server_eof = 1;
    F.server_ops->on_eof(c);
}

static void fuzz_on_timeout(struct sh_conn *c)
{
    struct sh_http_conn *hc = (struct sh_http_conn *)c;
    if (C.server_eof && (hc->state == SH_ST_HEAD || hc->state == SH_ST_BODY))
        bug("a %s deadline fired after the client's EOF (%zu bytes queued): the request could "
            "never complete, yet the connection was kept",
            hc->state == SH_ST_HEAD ? "head" : "body", c->queued);
    F.server_ops->on_timeout(c);
}

/* Before the server frees the connection: was a complete request dropped? */
static void fuzz_on_free(struct sh_conn *c)
{
    struct sh_http_conn *hc = (struct sh_http_conn *)c;
    C.freed = 1;
    if (C.server_eof && hc->state == SH_ST_IDLE && hc->in.len > 0) {
        struct sh_head_state st;
        struct sh_head_limits lim = {F.cfg.max_url, F.cfg.max_header_bytes, F.cfg.max_headers};
        sh_head_init(&st);
        if (sh_head_feed(&st, hc->in.data, hc->in.len, &lim) == SH_HEAD_DONE && !st.chunked &&
            st.head_len + st.content_length <= hc->in.len)
            bug("connection closed after EOF with a complete request of %zu bytes unanswered "
                "(%zu bytes unprocessed)",
                (size_t)(st.head_len + st.content_length), hc->in.len);
    }
    F.server_ops->on_free(c);
}

/* ---- setup and teardown ---- */

/* A new server for each input: no state (gathered output, request ids)
 * carries from one input to the next, so every saved input replays alone
 * as it ran. */
static void server_start(void)
{
    sh_http_server_init(&F.srv, &F.loop, &F.cfg, fuzz_dispatch, &F.rt);
    F.server_ops = F.srv.net.ops;
    F.ops = *F.server_ops;
    F.ops.on_eof = fuzz_on_eof;
    F.ops.on_timeout = fuzz_on_timeout;
    F.ops.on_free = fuzz_on_free;
    F.srv.net.ops = &F.ops;
    F.srv_up = 1;
}

static void server_stop(void)
{
    if (!F.srv_up)
        return;
    sh_http_server_close_all(&F.srv);
    sh_http_server_deinit(&F.srv);
    uv_run(&F.loop, UV_RUN_NOWAIT); /* the server's handles close */
    F.srv_up = 0;
}

static void teardown(void)
{
    if (!F.ready)
        return;
    server_stop();
    uv_run(&F.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&F.loop) != 0)
        bug("a handle is still open at exit");
    sh_router_deinit(&F.rt);
    sh_config_deinit(&F.cfg);
    free(C.resp);
    C.resp = NULL;
    F.ready = 0;
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    F.verbose = getenv("FUZZ_REQUEST_VERBOSE") != NULL;
    if (sodium_init() < 0)
        bug("libsodium failed to initialise");
    if (uv_loop_init(&F.loop) != 0)
        bug("uv_loop_init failed");

    sh_config_init(&F.cfg);
    /* Small limits, so 413/414/431 and backpressure are a few bytes away. */
    F.cfg.max_url = 512;
    F.cfg.max_header_bytes = 2048;
    F.cfg.max_headers = 16;
    F.cfg.max_body = 4096;
    F.cfg.max_chunk_ext = 64;
    F.cfg.max_write_buffer = 4096;
    F.cfg.cors_origins = "https://a.example, https://b.example";
    F.cfg.dir = NULL; /* no data directory: multipart file parts are counted, not written */
    /* Short deadlines, so nothing waits long; the write deadline stays long
     * enough that a slow (sanitized) run never loses a response the client
     * is reading anyway. */
    F.cfg.head_timeout = 50;
    F.cfg.body_timeout = 50;
    F.cfg.idle_timeout = 50;
    F.cfg.write_timeout = 1000;
    F.cfg.drain_timeout = 50;
    /* Access lines are formatted (that code sees fuzzed paths too); the fuzz
     * script discards stderr with -close_fd_mask=2. */
    F.cfg.log_level = SH_LOG_INFO;
    sh_log_min_level = SH_LOG_INFO;

    sh_router_init(&F.rt, &F.cfg);
    static struct sh_api_health health;
    health.rt = &F.rt;
    if (sh_api_register(&F.rt, NULL, &health) != 0)
        bug("route table is invalid");

    F.ready = 1;
    atexit(teardown);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* libFuzzer's -close_fd_mask=2 points stderr at /dev/null after this
     * runs; keep a copy for our own messages. */
    if (F.diag_fd < 0)
        F.diag_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    return 0;
}

/* ---- the client ---- */

static void resp_append(const char *p, size_t n)
{
    if (C.resp_overflow)
        return;
    if (C.resp_len + n > MAX_RESPONSE) {
        C.resp_overflow = 1;
        return;
    }
    if (C.resp_len + n > C.resp_cap) {
        size_t cap = C.resp_cap ? C.resp_cap : 64 * 1024;
        while (cap < C.resp_len + n)
            cap *= 2;
        C.resp = sh_realloc(C.resp, cap);
        C.resp_cap = cap;
    }
    memcpy(C.resp + C.resp_len, p, n);
    C.resp_len += n;
}

/* Reads whatever the server wrote, without blocking. */
static void client_drain(void)
{
    char buf[16 * 1024];
    while (!C.client_eof) {
        ssize_t n = read(C.fd, buf, sizeof(buf));
        if (n > 0) {
            resp_append(buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        C.client_eof = 1; /* 0: the server closed; <0: reset */
        if (C.poll_open)
            uv_poll_stop(&C.poll);
    }
}

static void on_client_poll(uv_poll_t *p, int status, int events)
{
    (void)p;
    (void)status;
    (void)events;
    client_drain();
}

static void client_watch(int writable)
{
    if (C.client_eof)
        return;
    uv_poll_start(&C.poll, UV_READABLE | UV_DISCONNECT | (writable ? UV_WRITABLE : 0),
                  on_client_poll);
}

static void on_poll_closed(uv_handle_t *h)
{
    (void)h;
    C.poll_open = 0;
}

/* Bytes written by the client and not yet read by the server. */
static int client_unread(void)
{
    int q = 0;
    if (ioctl(C.fd, SIOCOUTQ, &q) != 0)
        return 0;
    return q;
}

static void check_deadline(uint64_t start)
{
    if (F.srv.net.nconns == 0 || now_ns() - start < HANG_NS)
        return;
    struct sh_http_conn *hc = (struct sh_http_conn *)F.srv.net.conns;
    bug("connection still open %llu ms after the input was sent (state %d, %zu bytes "
        "unprocessed, %zu queued, reading %d, paused %d, server saw EOF %d)",
        (unsigned long long)(HANG_NS / 1000000), (int)hc->state, hc->in.len, hc->base.queued,
        (int)hc->base.reading, (int)hc->paused, (int)C.server_eof);
}

/* Writes p[0..n) (the socket may take it in pieces while the server reads),
 * then lets the server read it before the next write, so reads split where
 * the input says. */
static void client_write(const uint8_t *p, size_t n, uint64_t start)
{
    size_t off = 0;
    while (off < n && F.srv.net.nconns > 0) {
        ssize_t w = send(C.fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* Full: wait until the server reads (or writes, which we read
             * from now on, lazy or not). */
            C.lazy = 0;
            client_watch(1);
            uv_run(&F.loop, UV_RUN_ONCE);
            client_watch(0);
            check_deadline(start);
            continue;
        }
        return; /* EPIPE/ECONNRESET: the server closed; the rest is never read */
    }
    for (int i = 0; i < SETTLE_ROUNDS && F.srv.net.nconns > 0 && client_unread() > 0; i++)
        uv_run(&F.loop, UV_RUN_NOWAIT);
}

/* ---- the response stream ---- */

static const unsigned char *find_crlfcrlf(const unsigned char *p, const unsigned char *end)
{
    for (; end - p >= 4; p++)
        if (p[0] == '\r' && p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
            return p;
    return NULL;
}

static int starts_response(const unsigned char *p, const unsigned char *end)
{
    return end - p >= 9 && memcmp(p, "HTTP/1.1 ", 9) == 0;
}

static int line_is(const unsigned char *l, size_t n, const char *name, size_t nlen)
{
    if (n < nlen + 1 || l[nlen] != ':')
        return 0;
    for (size_t i = 0; i < nlen; i++) {
        unsigned char c = l[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)name[i])
            return 0;
    }
    return 1;
}

static void check_responses(void)
{
    static const unsigned char none[1];
    if (C.resp_overflow)
        return;
    /* (no arithmetic on a NULL buffer when nothing came back) */
    const unsigned char *p = C.resp_len ? C.resp : none, *end = p + C.resp_len;
    unsigned finals = 0;
    int closed = 0, last_status = 0;

    while (p < end) {
        size_t at = (size_t)(p - C.resp);
        CHECK(!closed, "bytes after a response with Connection: close (offset %zu)", at);
        CHECK(starts_response(p, end), "response at offset %zu does not start with HTTP/1.1", at);
        const unsigned char *hend = find_crlfcrlf(p, end);
        CHECK(hend, "response head at offset %zu is cut short", at);
        CHECK(hend - p >= 14 && p[9] >= '1' && p[9] <= '5' && p[10] >= '0' && p[10] <= '9' &&
                  p[11] >= '0' && p[11] <= '9' && p[12] == ' ',
              "bad status line at offset %zu", at);
        int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

        /* Header lines: CRLF-terminated, no bare CR or LF, each with a colon. */
        unsigned ncl = 0;
        uint64_t cl = 0;
        const unsigned char *l = p;
        while (l < hend) {
            const unsigned char *e = l;
            while (e < hend && *e != '\r' && *e != '\n')
                e++;
            CHECK(e == hend || (e[0] == '\r' && e[1] == '\n'),
                  "bare CR or LF in a response head at offset %zu", at);
            if (l != p) { /* not the status line */
                CHECK(memchr(l, ':', (size_t)(e - l)) != NULL,
                      "response header line without a colon at offset %zu", at);
                if (line_is(l, (size_t)(e - l), "content-length", 14)) {
                    ncl++;
                    cl = 0;
                    for (const unsigned char *d = l + 16; d < e; d++) {
                        CHECK(*d >= '0' && *d <= '9', "bad response Content-Length");
                        cl = cl * 10 + (uint64_t)(*d - '0');
                    }
                }
                if (line_is(l, (size_t)(e - l), "connection", 10) && e - l == 17 &&
                    memcmp(l + 12, "close", 5) == 0)
                    closed = 1;
            }
            l = e + 2;
        }
        p = hend + 4;

        if (status < 200) {
            CHECK(status == 100 && ncl == 0 && !closed, "unexpected interim response %d", status);
            continue;
        }
        unsigned idx = finals++;
        last_status = status;
        if (status == 204 || status == 304) {
            CHECK(ncl == 0, "Content-Length in a %d response", status);
            continue;
        }
        CHECK(ncl == 1, "%u Content-Length headers in a %d response", ncl, status);
        /* A HEAD response has no body. The error that ends a connection may
         * answer a HEAD whose method the harness never saw, so there a body
         * is either absent or complete. */
        int head = idx < C.dispatched && idx < MAX_TRACKED && C.is_head[idx];
        if (idx >= C.dispatched && (p == end || starts_response(p, end)))
            head = 1;
        if (!head) {
            CHECK((uint64_t)(end - p) >= cl, "response body cut short: %llu of %llu bytes",
                  (unsigned long long)(end - p), (unsigned long long)cl);
            p += cl;
        }
    }

    CHECK(finals >= C.dispatched, "%u requests dispatched but only %u responses arrived",
          C.dispatched, finals);
    CHECK(finals <= C.dispatched + 1, "%u responses for %u dispatched requests", finals,
          C.dispatched);
    if (finals == C.dispatched + 1)
        CHECK(last_status >= 400 && closed,
              "a response (%d) without a dispatched request that does not close", last_status);
    if (F.verbose)
        dprintf(F.diag_fd >= 0 ? F.diag_fd : STDERR_FILENO,
                "fuzz_request: %u dispatched, %u responses (last %d), %zu bytes back\n",
                C.dispatched, finals, last_status, C.resp_len);
}

/* ---- the input ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (!F.ready)
        setup();
    server_start();

    /* Control byte: how to split the writes (see the top of the file). */
    size_t lens[8] = {0};
    unsigned nwrites = 1;
    int small_sndbuf = 0, lazy = 0;
    if (size > 0 && data[0] < 0x20 && data[0] != '\t' && data[0] != '\n' && data[0] != '\r') {
        nwrites = (data[0] & 7u) + 1;
        small_sndbuf = (data[0] & 8) != 0;
        lazy = (data[0] & 16) != 0;
        data++, size--;
        for (unsigned i = 0; i + 1 < nwrites; i++) {
            if (size == 0) {
                nwrites = i + 1;
                break;
            }
            lens[i] = (size_t)data[0] + 1;
            data++, size--;
        }
    }
    size_t rest = size;
    for (unsigned i = 0; i + 1 < nwrites; i++) {
        if (lens[i] > rest)
            lens[i] = rest;
        rest -= lens[i];
    }
    lens[nwrites - 1] = rest;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        bug("socketpair: %s", strerror(errno));
    if (small_sndbuf) {
        int v = SMALL_SNDBUF;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    }
    int fl = fcntl(sv[1], F_GETFL);
    fcntl(sv[1], F_SETFL, fl | O_NONBLOCK);

    unsigned char *resp = C.resp; /* the response buffer is reused between inputs */
    size_t resp_cap = C.resp_cap;
    memset(&C, 0, sizeof(C));
    C.resp = resp;
    C.resp_cap = resp_cap;
    C.fd = sv[1];
    C.lazy = lazy != 0;

    int rc = sh_net_adopt(&F.srv.net, sv[0]);
    if (rc != 0)
        bug("sh_net_adopt: %s", uv_strerror(rc));
    if (uv_poll_init(&F.loop, &C.poll, C.fd) != 0)
        bug("uv_poll_init failed");
    C.poll_open = 1;
    if (!C.lazy)
        client_watch(0);

    uint64_t start = now_ns();
    const uint8_t *p = data;
    for (unsigned i = 0; i < nwrites; i++) {
        if (lens[i])
            client_write(p, lens[i], start);
        p += lens[i];
    }
    shutdown(C.fd, SHUT_WR);
    /* A lazy reader sends its EOF before reading: give the server one turn
     * to see it while its responses are still queued. */
    if (C.lazy && F.srv.net.nconns > 0)
        uv_run(&F.loop, UV_RUN_NOWAIT);
    client_watch(0);

    /* Until the server closes: quick turns first, then turns that wait for
     * its deadlines. */
    for (int i = 0; i < 64 && F.srv.net.nconns > 0; i++)
        uv_run(&F.loop, UV_RUN_NOWAIT);
    while (F.srv.net.nconns > 0) {
        uv_run(&F.loop, UV_RUN_ONCE);
        check_deadline(start);
    }
    CHECK(C.freed, "the connection was never freed");

    /* Everything the server wrote is in the socket now. */
    while (!C.client_eof) {
        client_drain();
        if (!C.client_eof)
            uv_run(&F.loop, UV_RUN_NOWAIT);
    }
    uv_close((uv_handle_t *)&C.poll, on_poll_closed);
    while (C.poll_open)
        uv_run(&F.loop, UV_RUN_NOWAIT);
    close(C.fd);
    server_stop();

    check_responses();
    return 0;
}
