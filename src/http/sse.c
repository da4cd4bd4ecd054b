/*
 * Server-sent event streams: a response without a length that stays open
 * while its handler pushes events into it. The connection keeps its
 * request in the handler state for good, so the state machine never reads
 * a second request from it; it keeps reading only to see the client leave
 * (the bytes are dropped in server.c), and the request's memory (arena,
 * buffers) is given back once the head is out, so an idle stream costs
 * little more than its socket. Output goes through out.c like every other
 * byte; a stream whose unwritten bytes would pass the caller's bound is
 * closed instead of growing. Framing of the events themselves (id:, event:,
 * data: lines) is the caller's: this file moves bytes.
 */
#include <string.h>

#include "conn.h"

void sh_sse_start(struct sh_req *r, void (*on_closed)(void *), void *arg)
{
    struct sh_http_conn *hc = r->conn;
    r->keep_alive = 0; /* the body ends with the connection */
    r->streaming = 1;
    sh_res_header(r, "Cache-Control", "no-store");
    sh_res_header(r, "X-Accel-Buffering", "no");
    sh__res_emit(hc, 200, "text/event-stream", NULL, 0, SH__NO_LENGTH, 0);
    sh__out_flush(hc);
    sh__access_log(hc);
    hc->sse = 1;
    hc->sse_closed = on_closed;
    hc->sse_arg = arg;
    /* Nothing of the request is read again: its headers, query and params
     * go with the arena, the body buffer with it. The input buffer is in use
     * by the caller's batch; after_batch gives it back. */
    r->headers = NULL;
    r->nheaders = 0;
    r->header_lens = 0;
    r->qparams = NULL;
    r->nqparams = 0;
    r->res_headers = NULL;
    r->nres_headers = r->res_headers_cap = 0;
    r->nparams = 0;
    r->path = (struct sh_str){0};
    r->method_name = (struct sh_str){0};
    r->target = r->query = (struct sh_str){0};
    r->body = NULL;
    r->auth = NULL; /* request memory */
    r->body_len = 0;
    sh_arena_deinit(&hc->arena);
    if (hc->body.cap)
        sh_buf_deinit(&hc->body);
    if (hc->srv->draining) /* stopping: what the caller sends now, then the end */
        sh_conn_close_after_write(&hc->base);
}

int sh_sse_send(struct sh_req *r, const uv_buf_t *bufs, unsigned n, size_t max_queued)
{
    struct sh_http_conn *hc = r->conn;
    if (hc->base.closing)
        return -1;
    size_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len += bufs[i].len;
    if (hc->base.queued + len > max_queued) {
        sh_conn_close(&hc->base);
        return -1;
    }
    sh__out_sendv(hc, bufs, n);
    r->bytes_out += len;
    return 0;
}

size_t sh_sse_queued(const struct sh_req *r)
{
    return r->conn->base.queued;
}

void sh_sse_close(struct sh_req *r)
{
    struct sh_http_conn *hc = r->conn;
    sh_conn_read_stop(&hc->base);
    sh_conn_close_after_write(&hc->base);
}

void sh_sse_close_now(struct sh_req *r)
{
    sh_conn_close(&r->conn->base);
}
