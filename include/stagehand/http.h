/*
 * stagehand http: requests parsed by the head validator and llhttp, and the
 * response functions handlers call. One request per connection is in a
 * handler at a time; pipelined requests behind it wait their turn, so
 * responses always leave in request order.
 */
#ifndef STAGEHAND_HTTP_H
#define STAGEHAND_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stagehand/config.h"
#include "stagehand/core.h"
#include "stagehand/net.h"

#define SH_REQ_MAX_PARAMS 8

enum sh_method {
    SH_METHOD_OTHER = 0,
    SH_METHOD_GET = 1 << 0,
    SH_METHOD_HEAD = 1 << 1,
    SH_METHOD_POST = 1 << 2,
    SH_METHOD_PUT = 1 << 3,
    SH_METHOD_PATCH = 1 << 4,
    SH_METHOD_DELETE = 1 << 5,
    SH_METHOD_OPTIONS = 1 << 6,
};

struct sh_header {
    struct sh_str name;
    struct sh_str value;
};

/* One query parameter, percent-decoded (SH_PCT_FORM); name and value are
 * NUL-terminated in the request arena. */
struct sh_query_param {
    struct sh_str name;
    struct sh_str value;
};

/* One part of a multipart/form-data body, read as the body arrived. Strings
 * are NUL-terminated request memory. A field's value is kept (all values
 * together at most --max-json-body); a file's bytes go to a temporary file
 * under <dir>/storage/.tmp/. */
struct sh_form_part {
    struct sh_str name;     /* the form field; never empty (nameless parts are skipped) */
    struct sh_str value;    /* a field's value as sent; empty for a file */
    struct sh_str filename; /* decoded file name as sent (not sanitised) */
    struct sh_str ctype;    /* the part's Content-Type as sent, "" when none */
    uint64_t size;          /* bytes of the part's content */
    /* a file's content (NULL when the server has no data directory), written
     * and closed before the handler runs, in a temporary file that is
     * removed when the request ends unless the handler moved it (rename) */
    struct sh_str tmp_path;
    unsigned is_file : 1; /* the part had a filename parameter */
};

struct sh_http_conn;
struct sh_http_server;
struct sh_auth;

struct sh_req {
    struct sh_http_conn *conn;
    struct sh_arena *arena; /* request memory, reset when the response is done */
    uint32_t gen;           /* changes for every request of the connection */

    enum sh_method method;
    struct sh_str method_name;
    struct sh_str target; /* as received: path?query */
    struct sh_str path;   /* percent-decoded, NUL-terminated */
    struct sh_str query;  /* raw, without '?' */
    /* The query decoded once, when the head is read: every parameter in
     * order of appearance, repeats kept (lookups take the first). */
    const struct sh_query_param *qparams;
    unsigned nqparams;
    struct sh_header *headers;
    unsigned nheaders;
    uint64_t header_lens; /* bit (n & 63) set for each header name length n present */
    const char *body;     /* NUL-terminated copy, body_len bytes */
    size_t body_len;
    /* What is kept of the body passed --max-json-body (the whole body, or a
     * multipart body's field values) and was read and dropped, never
     * buffered: body is empty, and the handler answers 413 (the connection
     * stays usable). */
    unsigned body_over : 1;
    /* multipart/form-data: the body was read by the multipart reader as it
     * came and never kept; its parts are in form[0..nform). form_error is a
     * SH_MP_E* code (stagehand/multipart.h) when the body was malformed or
     * over a part limit (the handler answers 400), 0 otherwise. */
    unsigned is_form : 1;
    int form_error;
    const struct sh_form_part *form;
    unsigned nform;
    int upload_error; /* negative errno writing a file part (the handler answers 500) */
    int http_minor;
    unsigned keep_alive : 1;

    /* filled by the router */
    struct sh_str param_names[SH_REQ_MAX_PARAMS];
    struct sh_str params[SH_REQ_MAX_PARAMS];
    unsigned nparams;
    const char *route; /* the matched pattern, for logs and metrics */
    unsigned route_id; /* 1 + the matched route's index in its router; 0 = none */

    const struct sh_auth *auth; /* set by the auth middleware; NULL = guest */
    char client_ip[48];         /* the client's address (see --trusted-proxy) */

    char rid[65]; /* request id */
    uint64_t start_ns;

    /* response state */
    struct sh_header *res_headers; /* extra headers, arena memory */
    unsigned nres_headers, res_headers_cap;
    int status;
    uint64_t bytes_out;
    unsigned responded : 1;
    unsigned streaming : 1;
};

/* Handlers return SH_HANDLED when they answered or will answer later (after
 * an asynchronous step), or SH_PASS to let the next handler try. */
#define SH_HANDLED 0
#define SH_PASS    1

typedef int (*sh_handler_fn)(struct sh_req *r, void *ud);

struct sh_http_server {
    struct sh_net net;
    const struct sh_config *cfg;
    uv_loop_t *loop;
    sh_handler_fn handler; /* the router's dispatch */
    void *handler_ud;
    uv_timer_t log_timer;
    uv_idle_t yield_idle;         /* runs while a connection yielded its batch */
    struct sh_http_conn *yielded; /* connections with input waiting for a turn */
    uint64_t requests;
    unsigned draining : 1;
    void (*on_drained)(struct sh_http_server *s); /* all connections gone while draining */
    /* Called for every finished request (after the access line, before the
     * request's memory is reset: r and its headers are still readable), on
     * the loop; metrics and stored logs hook in here. NULL = none. */
    void (*on_done)(const struct sh_req *r, void *ud);
    void *on_done_ud;
    uint64_t in_flight; /* requests handed to the handler, not yet finished */

    /* The server's own state, kept here rather than in file statics so that
     * servers are independent (tests, fuzzing, embedding); for the http
     * module's files only. */
    struct sh_buf out;             /* responses gathered for out_conn (out.c) */
    struct sh_http_conn *out_conn; /* whose responses out holds; NULL = none */
    struct sh_buf log_line;        /* the access line being formatted (access_log.c) */
    uint64_t rid_seed, rid_count;  /* request ids (request.c) */
    struct sh_date_cache date;     /* the Date header, refreshed per read (server.c) */
    struct sh_arena_pool arenas;   /* spare request-arena chunks of idle connections (server.c) */
    /* "HTTP/1.1 200 OK", the fixed headers and Date as one block, rebuilt
     * when date.sec moves on (response.c) */
    char head200[192];
    size_t head200_len;
    time_t head200_sec;
};

/* Prepares s on loop (after sodium_init: request ids are seeded from it).
 * Servers share nothing: several may run in one process, each on its own
 * loop and thread or side by side on one loop. */
int sh_http_server_init(struct sh_http_server *s, uv_loop_t *loop, const struct sh_config *cfg,
                        sh_handler_fn handler, void *ud);
/* Binds every listener; prints nothing. 0 or a negative code with a message. */
int sh_http_server_listen(struct sh_http_server *s, char *err, size_t errlen);
/* Graceful stop: close listeners and idle connections; busy ones close when
 * their response is written. on_drained runs when none is left. */
void sh_http_server_drain(struct sh_http_server *s);
/* Closes every connection at once. */
void sh_http_server_close_all(struct sh_http_server *s);
/* Closes the server's handles (run the loop once more for their callbacks)
 * and frees its buffers; no response may be sent after it. */
void sh_http_server_deinit(struct sh_http_server *s);

/* ---- request accessors ---- */

/* The first header named name[0..n) (case-insensitive), or NULL. */
const struct sh_str *sh_req_header_n(const struct sh_req *r, const char *name, size_t n);
/* The first header named name (case-insensitive), or NULL. Inline so that
 * the length of a literal name is known at compile time: every request
 * looks up several headers. */
static inline const struct sh_str *sh_req_header(const struct sh_req *r, const char *name)
{
    size_t n = __builtin_strlen(name);
    if (!(r->header_lens & ((uint64_t)1 << (n & 63))))
        return NULL; /* no header of that length: most lookups end here */
    return sh_req_header_n(r, name, n);
}
/* The route parameter :name, or NULL. */
const struct sh_str *sh_req_param(const struct sh_req *r, const char *name);
/* The decoded value of the first query parameter named name (compared
 * after decoding: "per%50age" is perPage), NUL-terminated in the arena; ""
 * for a name without '='; NULL when absent. A lookup in r->qparams: the
 * query is decoded once per request, not per call. */
const char *sh_req_query(const struct sh_req *r, const char *name);
/* Query parameter name as a decimal integer (strtoll: optional sign, no
 * trailing bytes, no overflow). Absent or empty: *out = dflt and 0. Not an
 * integer: *out = dflt and -EINVAL (the caller decides between a 400 and
 * the default). */
int sh_req_query_int(const struct sh_req *r, const char *name, int64_t dflt, int64_t *out);
/* Query parameter name as Go's strconv.ParseBool reads it, as PocketBase
 * does: 1 t T TRUE true True are true, 0 f F FALSE false False and the empty
 * value are false. Absent: *out = dflt and 0. Anything else: *out = dflt and
 * -EINVAL. */
int sh_req_query_bool(const struct sh_req *r, const char *name, bool dflt, bool *out);
/* The socket peer's address ("127.0.0.1", "::1", "unix"); see also
 * r->client_ip, the client behind trusted proxies. */
const char *sh_req_peer(const struct sh_req *r);
/* Is the request still the one that was handed out with gen? (A completion
 * from another thread checks this: the client may have gone.) */
int sh_req_alive(const struct sh_req *r, uint32_t gen);

/*
 * Watching a request across an asynchronous step: the connection clears
 * w->req when the request ends or the connection goes away, so a completion
 * (from the threadpool, or another thread via the loop) tests w->req before
 * touching anything. One watch per request at a time.
 */
struct sh_req_watch {
    struct sh_req *req;
};
void sh_req_watch(struct sh_req *r, struct sh_req_watch *w);
void sh_req_unwatch(struct sh_req_watch *w);
/* 1 if the client of r has closed or reset its side of the connection (a
 * zero-timeout poll for POLLRDHUP/POLLHUP/POLLERR: the server stops reading
 * while a request is handled, so the loop would not see it otherwise), or
 * the connection is closing; else 0. Loop thread; one system call. For work
 * queued for a request that may not be wanted any more. */
int sh_req_peer_gone(const struct sh_req *r);

/* ---- responses: each ends the request; exactly one per request ---- */

/* Adds a response header (copied into the arena) before the response is sent. */
void sh_res_header(struct sh_req *r, const char *name, const char *value);
/* Sends status, Content-Type ctype (may be NULL) and body. For HEAD requests
 * the body is left out but Content-Length still says its size. */
void sh_res_send(struct sh_req *r, int status, const char *ctype, const void *body, size_t len);
void sh_res_json(struct sh_req *r, int status, const char *json, size_t len);
/* The API's error shape: {"status":N,"message":"...","data":{}}. data_json may
 * be NULL for {}. */
void sh_res_error(struct sh_req *r, int status, const char *message, const char *data_json);

/* Streaming with a known length (static files): sends the head now; then
 * sh_res_write the body in pieces and sh_res_end. on_drained is called when
 * the queue is writable again so the producer can continue. */
void sh_res_stream_start(struct sh_req *r, int status, const char *ctype, uint64_t length);
void sh_res_stream_write(struct sh_req *r, const void *data, size_t len);
/* Bytes queued on the connection. */
size_t sh_res_stream_queued(const struct sh_req *r);
/* Queued bytes above which a producer waits for on_drained: the smaller of
 * --max-write-buffer and 256 KiB. */
size_t sh_res_stream_limit(const struct sh_req *r);
void sh_res_stream_on_drained(struct sh_req *r, void (*cb)(void *), void *arg);
void sh_res_stream_end(struct sh_req *r);
/* The body cannot be completed (a file shrank): ends the request and closes
 * the connection, since the promised length will not arrive. */
void sh_res_stream_abort(struct sh_req *r);

/* ---- server-sent events: a response that stays open (sse.c) ---- */

/*
 * Starts an event stream on r: 200 with Content-Type text/event-stream,
 * Cache-Control: no-store, X-Accel-Buffering: no (nginx passes each event
 * on at once) and the headers added by sh_res_header, no Content-Length
 * (the body ends with the connection). The request stays with its handler
 * for the connection's life: nothing after it on the connection is read as
 * a request (bytes the client sends are dropped), and the request's memory
 * is given back at once (r's headers, query and params are gone when this
 * returns; the access line is written now). on_closed(arg) runs exactly
 * once when the connection goes (the client left, sh_sse_close, a dropped
 * stream, the server's stop, which closes streams first); r is invalid from
 * then on.
 */
void sh_sse_start(struct sh_req *r, void (*on_closed)(void *), void *arg);
/* Sends bufs[0..n) on the stream, behind what is queued. When the bytes
 * not yet taken by the kernel would then pass max_queued, nothing is sent,
 * the stream is closed at once (on_closed follows from the close) and -1
 * is returned: a client that falls behind is dropped, never buffered
 * without bound. 0 when sent. */
int sh_sse_send(struct sh_req *r, const uv_buf_t *bufs, unsigned n, size_t max_queued);
/* Unwritten bytes of the stream (queued on the socket). */
size_t sh_sse_queued(const struct sh_req *r);
/* Closes the stream at once, dropping what is queued; on_closed follows. */
void sh_sse_close_now(struct sh_req *r);
/* Ends the stream once what is queued is written; on_closed follows. */
void sh_sse_close(struct sh_req *r);

/* How sh_http_percent_decode reads its input. */
enum sh_pct_mode {
    /* A path (RFC 3986): '+' is itself; a malformed escape ('%' without two
     * hex digits) or %00 is an error. */
    SH_PCT_PATH,
    /* application/x-www-form-urlencoded (a query, a form body): '+' is a
     * space, and a malformed escape is kept as it is, as browsers send it. */
    SH_PCT_FORM,
};
/* The percent-decoder of the tree. Decodes src[0..n) into dst, which has
 * room for n + 1 bytes, and NUL-terminates. Returns the decoded length, or
 * -1 (SH_PCT_PATH only) for a malformed escape or %00, dst then unspecified.
 * dst may equal src (decoding never writes ahead of what it reads). */
long sh_http_percent_decode(char *dst, const char *src, size_t n, enum sh_pct_mode mode);

/* Reason phrase for a status code ("Not Found"). */
const char *sh_http_reason(int status);

#endif
