/*
 * The HTTP server: the per-connection state machine. Bytes go through the
 * head validator first, then llhttp, which pauses at the end of every message
 * so the next pipelined head is validated before llhttp sees it. A request
 * is handed to the handler once its body is complete; while a handler works
 * asynchronously the connection stops reading, so pipelined requests are
 * answered strictly in order and never pile up. Deadlines are absolute per
 * phase (head, body, idle, write): trickling bytes does not extend them.
 *
 * Output is bounded per connection at every point: before each request the
 * bytes gathered for the connection plus those queued on it are checked
 * against --max-write-buffer; over it, the gathered output is handed to the
 * socket and, if the queue is still over, the connection stops dispatching
 * and reading until it drains (as nginx stops reading). At most
 * --max-requests-per-read requests are answered per batch; the rest of the
 * input waits for the next loop iteration (an idle handle), so one pipelining
 * client cannot hold the loop or grow the output without bound.
 *
 * What the state machine calls lives beside it: the llhttp glue (parser.c),
 * request accessors and ids (request.c), the access log (access_log.c), the
 * gather buffer and every socket write (out.c), responses (response.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "conn.h"

#define ARENA_CHUNK 4096
#define ARENA_LIMIT (8 * 1024 * 1024)
#define ARENA_POOL  32           /* spare chunks kept for all connections: 128 KiB at most */
#define IN_KEEP     (128 * 1024) /* input buffer capacity kept across batches */

static void process_input(struct sh_http_conn *hc);
static void on_yield_idle(uv_idle_t *h);

static struct sh_http_conn *hconn(struct sh_conn *c)
{
    return (struct sh_http_conn *)c;
}

/* ---- lifecycle ---- */

/* Deadlines are recorded per phase as they change and the timer is armed
 * once per batch of input (deadline_commit), not once per pipelined request. */
static void deadline_set(struct sh_http_conn *hc, uint64_t timeout_ms)
{
    hc->deadline = timeout_ms ? uv_now(hc->srv->loop) + timeout_ms : 0;
}

static void deadline_commit(struct sh_http_conn *hc);

void sh__deadline_write(struct sh_http_conn *hc)
{
    deadline_set(hc, hc->srv->cfg->write_timeout);
    deadline_commit(hc);
}

static void deadline_commit(struct sh_http_conn *hc)
{
    if (hc->deadline == hc->armed || hc->base.closing)
        return;
    hc->armed = hc->deadline;
    uint64_t now = uv_now(hc->srv->loop);
    if (!hc->deadline)
        sh_conn_deadline(&hc->base, 0);
    else
        sh_conn_deadline(&hc->base, hc->deadline > now ? hc->deadline - now : 1);
}

static void arm_idle(struct sh_http_conn *hc)
{
    const struct sh_config *cfg = hc->srv->cfg;
    if (hc->base.queued)
        deadline_set(hc, cfg->write_timeout);
    else if (hc->in.len)
        deadline_set(hc, cfg->head_timeout);
    else
        deadline_set(hc, cfg->idle_timeout);
}

void sh__req_done(struct sh_http_conn *hc)
{
    struct sh_req *r = &hc->req;
    hc->srv->requests++;
    if (hc->state == SH_ST_HANDLER)
        hc->srv->in_flight--;
    if (!hc->sse) /* an event stream was logged when it started (sse.c) */
        sh__access_log(hc);
    if (hc->srv->on_done)
        hc->srv->on_done(r, hc->srv->on_done_ud);
    int keep = r->keep_alive && !hc->close_after && !hc->srv->draining && hc->state != SH_ST_DEAD;
    int was_async = !hc->in_handler && hc->state == SH_ST_HANDLER;
    sh__req_watch_clear(hc);
    sh_arena_reset(&hc->arena);
    hc->gen++;
    r->gen = hc->gen; /* completions for the old request now see it as gone */
    r->responded = 1;
    hc->drain_cb = NULL;
    if (!keep) {
        hc->state = SH_ST_DEAD;
        sh__out_flush(hc);
        sh_conn_read_stop(&hc->base);
        sh_conn_close_after_write(&hc->base);
        deadline_set(hc, hc->srv->cfg->write_timeout); /* for what is still queued */
        deadline_commit(hc);
        return;
    }
    hc->state = SH_ST_IDLE;
    if (was_async) {
        /* The handler answered later: send now and go on with what waited. */
        sh__out_flush(hc);
        process_input(hc);
    }
}

static void dispatch(struct sh_http_conn *hc)
{
    struct sh_req *r = &hc->req;
    hc->batch++;
    if (hc->body.len) {
        sh_buf_append(&hc->body, "", 1); /* NUL-terminate for parsers (may move the data) */
        hc->body.len--;
        r->body = hc->body.data;
    } else {
        r->body = ""; /* no buffer for a body-less request: no malloc and free per request */
    }
    r->body_len = hc->body.len;
    r->upload_error = sh__upload_error(hc);
    sh__req_assign_id(hc->srv, r);
    hc->state = SH_ST_HANDLER;
    hc->srv->in_flight++;
    deadline_set(hc, 0);
    hc->in_handler = 1;
    int rc = hc->srv->handler(r, hc->srv->handler_ud);
    hc->in_handler = 0;
    if (rc == SH_PASS && !r->responded)
        sh_res_error(r, 404, "The requested resource wasn't found.", NULL);
}

/* What llhttp's err after reading n bytes (of which used, if it paused at
 * the end of a message) means for the connection; returns the bytes used or
 * -1 after failing it. */
static long parsed(struct sh_http_conn *hc, llhttp_errno_t err, size_t n, size_t used)
{
    if (err == HPE_OK) {
        if (hc->state == SH_ST_HEAD) {
            hc->state = SH_ST_BODY;
            deadline_set(hc, hc->srv->cfg->body_timeout);
        }
        return (long)n;
    }
    if (err == HPE_PAUSED) {
        llhttp_resume(&hc->parser);
        if (sh__upload_busy(hc))
            hc->dispatch_pending = 1; /* once its files are on disk (upload.c) */
        else
            dispatch(hc);
        return (long)used;
    }
    if (hc->err_status)
        sh__conn_fail(hc, hc->err_status, hc->err_reason);
    else
        sh__conn_fail(hc, 400,
                      err == HPE_PAUSED_UPGRADE ? "Protocol upgrade is not supported."
                                                : "Malformed HTTP request.");
    return -1;
}

/* Feeds llhttp with p[0..n) (a body, the head was taken); returns bytes
 * consumed, or -1 after failing the connection. Dispatches the request when
 * its message completes. */
static long feed_llhttp(struct sh_http_conn *hc, const char *p, size_t n)
{
    llhttp_errno_t err = llhttp_execute(&hc->parser, p, n);
    size_t used = err == HPE_PAUSED ? (size_t)(llhttp_get_error_pos(&hc->parser) - p) : n;
    return parsed(hc, err, n, used);
}

/* The head the validator accepted, p[0..head_len): its fields taken in one
 * pass, llhttp fed what frames the message (parser.c). */
static long feed_head(struct sh_http_conn *hc, const char *p)
{
    size_t n = hc->head.head_len;
    return parsed(hc, sh__parser_feed_head(hc, p), n, n);
}

/* Puts hc on the server's list of connections whose buffered input is
 * processed on the next loop iteration. */
static void yield(struct sh_http_conn *hc)
{
    struct sh_http_server *s = hc->srv;
    if (hc->yielded)
        return;
    hc->yielded = 1;
    hc->yield_next = s->yielded;
    s->yielded = hc;
    if (!uv_is_active((uv_handle_t *)&s->yield_idle))
        uv_idle_start(&s->yield_idle, on_yield_idle);
}

static void yield_cancel(struct sh_http_conn *hc)
{
    if (!hc->yielded)
        return;
    hc->yielded = 0;
    for (struct sh_http_conn **pp = &hc->srv->yielded; *pp; pp = &(*pp)->yield_next)
        if (*pp == hc) {
            *pp = hc->yield_next;
            break;
        }
    hc->yield_next = NULL;
}

/* Processes p[0..n), which starts at a request boundary or inside a body.
 * Returns the bytes consumed; the rest belongs to a request not yet complete
 * (or waiting for its turn). */
static size_t process(struct sh_http_conn *hc, const char *p, size_t n)
{
    const struct sh_config *cfg = hc->srv->cfg;
    size_t done = 0;
    while (done < n && !hc->base.closing) {
        if (hc->state == SH_ST_HANDLER || hc->state == SH_ST_DEAD || hc->paused ||
            hc->upload_wait || hc->dispatch_pending)
            break;
        /* While the whole process holds more than --max-output unwritten,
         * no connection may keep anything queued: each waits for its own
         * queue to drain, so the total stays within max_output plus about
         * one response per connection. */
        size_t limit = hc->srv->net.queued_total > cfg->max_output ? 0 : cfg->max_write_buffer;
        if (sh__out_pending(hc) > limit) {
            /* What is gathered counts as much as what is queued: hand it to
             * the socket, and wait for the queue if the kernel refuses it. */
            sh__out_flush(hc);
            if (hc->base.closing)
                break;
            if (hc->base.queued > limit) {
                hc->paused = 1; /* backpressure: resume in on_drained */
                break;
            }
        }
        if (hc->state == SH_ST_IDLE && cfg->max_requests_per_read &&
            hc->batch >= cfg->max_requests_per_read) {
            yield(hc); /* other connections first; go on in on_yield_idle */
            break;
        }
        if (hc->state == SH_ST_BODY) {
            long used = feed_llhttp(hc, p + done, n - done);
            if (used < 0)
                return n;
            done += (size_t)used;
            continue;
        }
        if (hc->state == SH_ST_IDLE) {
            hc->state = SH_ST_HEAD;
            sh_head_init(&hc->head);
            sh__req_begin(hc);
            hc->req.start_ns = uv_hrtime(); /* durations: access log, metrics, stored logs */
            deadline_set(hc, cfg->head_timeout);
        }
        struct sh_head_limits lim = {cfg->max_url, cfg->max_header_bytes, cfg->max_headers};
        enum sh_head_result hr = sh_head_feed(&hc->head, p + done, n - done, &lim);
        if (hr == SH_HEAD_MORE)
            break;
        if (hr == SH_HEAD_ERROR) {
            sh__conn_fail(hc, hc->head.status, hc->head.reason);
            return n;
        }
        long used = feed_head(hc, p + done);
        if (used < 0)
            return n;
        done += (size_t)used;
    }
    return done;
}

/* After a batch of input: send what was gathered, choose the next deadline,
 * and keep reading only while a new request may start. */
static void after_batch(struct sh_http_conn *hc)
{
    sh__out_flush(hc);
    if (hc->base.closing || hc->state == SH_ST_DEAD)
        return;
    if (hc->sse) {
        sh_conn_read_start(&hc->base); /* only to see the client leave (on_eof) */
    } else if (hc->state == SH_ST_HANDLER || hc->paused || hc->yielded || hc->upload_wait ||
               hc->dispatch_pending) {
        sh_conn_read_stop(&hc->base);
    } else {
        if (hc->state == SH_ST_IDLE)
            arm_idle(hc);
        sh_conn_read_start(&hc->base);
    }
    deadline_commit(hc);
    if (hc->state == SH_ST_IDLE && hc->in.len == 0 && !hc->in_process) {
        /* Idle: give back request memory so an idle connection stays small. */
        sh_arena_deinit(&hc->arena);
        if (hc->in.cap > 4096)
            sh_buf_deinit(&hc->in);
        if (hc->body.cap)
            sh_buf_deinit(&hc->body);
    }
}

static void process_input(struct sh_http_conn *hc);

void sh__conn_upload_resume(struct sh_http_conn *hc)
{
    hc->upload_wait = 0;
    if (hc->base.closing || hc->state == SH_ST_DEAD)
        return;
    if (hc->dispatch_pending) {
        if (sh__upload_busy(hc))
            return; /* the last file is still being written */
        hc->dispatch_pending = 0;
        hc->in_process = 1; /* a synchronous answer is flushed by process_input */
        dispatch(hc);
        hc->in_process = 0;
    }
    process_input(hc);
}

static void process_input(struct sh_http_conn *hc)
{
    if (hc->in_process)
        return;
    hc->in_process = 1;
    hc->batch = 0;
    size_t used = process(hc, hc->in.data, hc->in.len);
    sh_buf_consume(&hc->in, used);
    if (hc->in.cap > IN_KEEP && hc->in.len < IN_KEEP / 4) {
        /* Mostly consumed after a burst: keep only what is still unread. */
        struct sh_buf rest;
        sh_buf_init(&rest);
        if (hc->in.len)
            sh_buf_append(&rest, hc->in.data, hc->in.len);
        sh_buf_deinit(&hc->in);
        hc->in = rest;
    }
    hc->in_process = 0;
    after_batch(hc);
}

/* Once per loop iteration while some connection yielded: each goes on with
 * its buffered input (a new batch). Connections that yield again join a new
 * list, so every one gets one batch per iteration. */
static void on_yield_idle(uv_idle_t *h)
{
    struct sh_http_server *s = h->data;
    struct sh_http_conn *list = s->yielded;
    s->yielded = NULL;
    while (list) {
        struct sh_http_conn *hc = list;
        list = hc->yield_next;
        hc->yield_next = NULL;
        hc->yielded = 0;
        if (!hc->base.closing && hc->state != SH_ST_DEAD)
            process_input(hc);
    }
    if (!s->yielded)
        uv_idle_stop(&s->yield_idle);
}

static void on_data(struct sh_conn *c, const char *data, size_t len)
{
    struct sh_http_conn *hc = hconn(c);
    sh_date_cache_update(&hc->srv->date, time(NULL));
    if (hc->state == SH_ST_DEAD || hc->sse)
        return; /* an event stream reads only to notice the end */
    if (hc->in.len) {
        sh_buf_append(&hc->in, data, len);
        process_input(hc);
        return;
    }
    /* The common case: parse straight from the loop's read buffer and keep
     * only an unfinished request's bytes. */
    hc->in_process = 1;
    hc->batch = 0;
    size_t used = process(hc, data, len);
    hc->in_process = 0;
    if (used < len && hc->state != SH_ST_DEAD && !hc->base.closing)
        sh_buf_append(&hc->in, data + used, len - used);
    after_batch(hc);
}

static void on_eof(struct sh_conn *c)
{
    struct sh_http_conn *hc = hconn(c);
    /* A half-closed client may still wait for responses to what it sent
     * complete; a request cut short can never complete. An event stream
     * whose client left is over. */
    if (hc->sse) {
        sh_conn_close(c);
    } else if (hc->state == SH_ST_HANDLER) {
        hc->close_after = 1;
    } else if (c->queued) {
        hc->state = SH_ST_DEAD;
        sh_conn_close_after_write(c);
        deadline_set(hc, hc->srv->cfg->write_timeout);
        deadline_commit(hc);
    } else {
        sh_conn_close(c);
    }
}

static void on_timeout(struct sh_conn *c)
{
    struct sh_http_conn *hc = hconn(c);
    if (hc->state == SH_ST_HEAD || hc->state == SH_ST_BODY) {
        hc->req.start_ns = hc->req.start_ns ? hc->req.start_ns : uv_hrtime();
        sh__conn_fail(hc, 408, "Request timed out.");
        sh__out_flush(hc);
        /* The client is too slow to trust with a queued response either. */
        deadline_set(hc, hc->srv->cfg->write_timeout);
        deadline_commit(hc);
        return;
    }
    if (hc->state == SH_ST_HANDLER && !c->queued)
        return;       /* the handler is working; it has its own limits */
    sh_conn_close(c); /* idle, or a write (a streamed body too) that did not drain in time */
}

static void on_drained(struct sh_conn *c)
{
    struct sh_http_conn *hc = hconn(c);
    if (hc->drain_cb) {
        void (*cb)(void *) = hc->drain_cb;
        hc->drain_cb = NULL;
        deadline_set(hc, 0); /* the producer goes on; it re-arms if it waits again */
        deadline_commit(hc);
        cb(hc->drain_arg);
        return;
    }
    if (hc->close_after && hc->state == SH_ST_IDLE) {
        sh_conn_close(c);
        return;
    }
    if (hc->paused) {
        hc->paused = 0;
        process_input(hc);
    } else if (hc->state == SH_ST_IDLE) {
        arm_idle(hc);
        deadline_commit(hc);
    }
}

static void on_free(struct sh_conn *c)
{
    struct sh_http_conn *hc = hconn(c);
    yield_cancel(hc);
    if (hc->state == SH_ST_HANDLER)
        hc->srv->in_flight--; /* its request will never finish */
    hc->gen++;
    hc->req.gen = hc->gen;
    sh__req_watch_clear(hc);
    if (hc->drain_cb) {
        /* A producer waits for this queue to drain, which will never happen:
         * wake it so it sees its request gone and releases what it holds. */
        void (*cb)(void *) = hc->drain_cb;
        hc->drain_cb = NULL;
        cb(hc->drain_arg);
    }
    if (hc->sse_closed) {
        void (*cb)(void *) = hc->sse_closed;
        hc->sse_closed = NULL;
        cb(hc->sse_arg);
    }
    sh__out_forget(hc);
    sh_arena_deinit(&hc->arena);
    sh_buf_deinit(&hc->in);
    sh_buf_deinit(&hc->body);
}

static void on_empty(struct sh_net *n)
{
    struct sh_http_server *s = (struct sh_http_server *)n;
    if (s->draining && s->on_drained)
        s->on_drained(s);
}

static void on_accept(struct sh_conn *c)
{
    struct sh_http_conn *hc = hconn(c);
    struct sh_http_server *s = (struct sh_http_server *)c->net;
    hc->srv = s;
    hc->state = SH_ST_IDLE;
    sh_arena_init(&hc->arena, ARENA_CHUNK, ARENA_LIMIT);
    sh_arena_use_pool(&hc->arena, &hc->srv->arenas);
    sh__parser_init(hc);
    hc->req.conn = hc;
    hc->req.arena = &hc->arena;
    deadline_set(hc, s->cfg->head_timeout);
    deadline_commit(hc);
    sh_conn_read_start(c);
}

static const struct sh_conn_ops ops = {
    .on_data = on_data,
    .on_eof = on_eof,
    .on_timeout = on_timeout,
    .on_drained = on_drained,
    .on_free = on_free,
};

static void on_log_timer(uv_timer_t *t)
{
    struct sh_http_server *s = t->data;
    sh_date_cache_update(&s->date, time(NULL));
    sh_log_flush();
}

int sh_http_server_init(struct sh_http_server *s, uv_loop_t *loop, const struct sh_config *cfg,
                        sh_handler_fn handler, void *ud)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->cfg = cfg;
    s->handler = handler;
    s->handler_ud = ud;
    randombytes_buf(&s->rid_seed, sizeof(s->rid_seed));
    sh_arena_pool_init(&s->arenas, ARENA_CHUNK, ARENA_POOL);
    sh_net_init(&s->net, loop, cfg, &ops, sizeof(struct sh_http_conn), on_accept);
    s->net.on_empty = on_empty;
    uv_idle_init(loop, &s->yield_idle);
    s->yield_idle.data = s;
    sh_date_cache_update(&s->date, time(NULL));
    uv_timer_init(loop, &s->log_timer);
    s->log_timer.data = s;
    uv_timer_start(&s->log_timer, on_log_timer, 200, 200);
    uv_unref((uv_handle_t *)&s->log_timer);
    return 0;
}

int sh_http_server_listen(struct sh_http_server *s, char *err, size_t errlen)
{
    /* Uploads a crash cut short: nothing refers to them (before the loop serves). */
    unsigned swept = s->cfg->dir ? sh__upload_sweep(s->cfg->dir) : 0;
    if (swept)
        sh_log_info("http", "removed %u unfinished uploads", swept);
    return sh_net_listen(&s->net, err, errlen);
}

void sh_http_server_drain(struct sh_http_server *s)
{
    s->draining = 1;
    s->net.stopping = 1;
    sh_net_stop_listening(&s->net);
    for (struct sh_conn *c = s->net.conns, *next; c; c = next) {
        next = c->next;
        struct sh_http_conn *hc = hconn(c);
        if (c->closing || !c->started)
            continue;
        hc->close_after = 1;
        if ((hc->state == SH_ST_IDLE && hc->in.len == 0) || hc->sse)
            sh_conn_close_after_write(c); /* event streams first: they never finish */
    }
    if (s->net.nconns == 0 && s->on_drained)
        s->on_drained(s);
}

void sh_http_server_close_all(struct sh_http_server *s)
{
    sh_net_stop_listening(&s->net);
    for (struct sh_conn *c = s->net.conns; c; c = c->next)
        sh_conn_close(c);
}

void sh_http_server_deinit(struct sh_http_server *s)
{
    if (!uv_is_closing((uv_handle_t *)&s->log_timer))
        uv_close((uv_handle_t *)&s->log_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&s->yield_idle))
        uv_close((uv_handle_t *)&s->yield_idle, NULL);
    sh__out_deinit(s);
    sh__access_log_deinit(s);
    sh_arena_pool_deinit(&s->arenas);
    sh_log_flush();
}
