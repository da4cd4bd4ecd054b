/*
 * The output gather buffer. Responses are formatted into one buffer per
 * server, gathered for one connection at a time while its input is
 * processed, so a read that carried 16 pipelined requests is answered with
 * one writev. Whoever claims the buffer for another connection first hands
 * what was gathered to its owner, so bytes of two connections never mix.
 *
 * This file is the only one of the http module that writes to a socket
 * (conn.h poisons sh_conn_send everywhere else): every direct write goes
 * through sh__out_send, which flushes the gathered bytes of its connection
 * first, so a 100 Continue or a streamed body can never overtake a response
 * gathered before it.
 */
#define SH_HTTP_OUT_C /* this file may call sh_conn_send (conn.h) */
#include <string.h>

#include "conn.h"

/* Past this capacity the gathered buffer is given back after each flush,
 * so a spike of large responses does not pin memory for the server's life. */
#define OUT_KEEP (256 * 1024)

struct sh_buf *sh__out_claim(struct sh_http_conn *hc)
{
    struct sh_http_server *s = hc->srv;
    if (s->out_conn && s->out_conn != hc)
        sh__out_flush(s->out_conn);
    s->out_conn = hc;
    return &s->out;
}

void sh__out_flush(struct sh_http_conn *hc)
{
    struct sh_http_server *s = hc->srv;
    if (s->out_conn != hc || s->out.len == 0)
        return;
    uv_buf_t b = uv_buf_init(s->out.data, (unsigned)s->out.len);
    s->out.len = 0;
    s->out_conn = NULL;
    sh_conn_send(&hc->base, &b, 1); /* copies what the kernel does not take */
    if (s->out.cap > OUT_KEEP)
        sh_buf_deinit(&s->out);
}

size_t sh__out_pending(const struct sh_http_conn *hc)
{
    const struct sh_http_server *s = hc->srv;
    return hc->base.queued + (s->out_conn == hc ? s->out.len : 0);
}

void sh__out_send(struct sh_http_conn *hc, const void *data, size_t len)
{
    sh__out_flush(hc);
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)data, (unsigned)len);
    sh_conn_send(&hc->base, &b, 1);
}

void sh__out_sendv(struct sh_http_conn *hc, const uv_buf_t *bufs, unsigned n)
{
    sh__out_flush(hc);
    sh_conn_send(&hc->base, bufs, n);
}

void sh__out_forget(struct sh_http_conn *hc)
{
    struct sh_http_server *s = hc->srv;
    if (s && s->out_conn == hc) {
        s->out.len = 0;
        s->out_conn = NULL;
    }
}

void sh__out_deinit(struct sh_http_server *s)
{
    sh_buf_deinit(&s->out);
    s->out_conn = NULL;
}
