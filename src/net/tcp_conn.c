/*
 * Connections: accept, read into the one buffer of struct sh_net (an idle
 * keep-alive connection holds no read buffer), a single deadline timer, and
 * the write path. Writes go out with uv_try_write first; only what the kernel
 * did not take is copied and queued with uv_write, and the layer above stops
 * reading while too much is queued, so a slow reader never makes us buffer
 * without bound. A connection is freed only in its close callbacks.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stagehand/net.h"

struct write_req {
    uv_write_t req;
    struct sh_conn *conn;
    size_t len;
    char data[];
};

static void conn_link(struct sh_net *n, struct sh_conn *c)
{
    c->next = n->conns;
    c->prev = NULL;
    if (n->conns)
        n->conns->prev = c;
    n->conns = c;
    n->nconns++;
}

static void conn_unlink(struct sh_net *n, struct sh_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n->nconns--;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct sh_conn *c = h->data;
    if (--c->handles_open)
        return;
    struct sh_net *n = c->net;
    conn_unlink(n, c);
    if (c->started && n->ops->on_free)
        n->ops->on_free(c);
    free(c);
    if (n->nconns == 0 && n->stopping && n->on_empty)
        n->on_empty(n);
}

void sh_conn_close(struct sh_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->reading = 0;
    if (c->handles_open == 2)
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close(&c->h.handle, on_handle_closed);
}

void sh_conn_close_after_write(struct sh_conn *c)
{
    if (c->queued == 0 && c->nwrites == 0)
        sh_conn_close(c);
    else
        c->close_after_write = 1;
}

static void on_timer(uv_timer_t *t)
{
    struct sh_conn *c = t->data;
    if (!c->closing)
        c->net->ops->on_timeout(c);
}

void sh_conn_deadline(struct sh_conn *c, uint64_t ms)
{
    if (c->closing)
        return;
    if (ms == 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct sh_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->net->read_buf, sizeof(c->net->read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct sh_conn *c = s->data;
    (void)buf;
    if (c->closing)
        return;
    if (nread > 0) {
        c->net->ops->on_data(c, c->net->read_buf, (size_t)nread);
    } else if (nread < 0) {
        uv_read_stop(s);
        c->reading = 0;
        c->net->ops->on_eof(c);
    }
}

void sh_conn_read_start(struct sh_conn *c)
{
    if (c->closing || c->reading)
        return;
    if (uv_read_start(&c->h.stream, alloc_cb, on_read) == 0)
        c->reading = 1;
}

void sh_conn_read_stop(struct sh_conn *c)
{
    if (c->closing || !c->reading)
        return;
    uv_read_stop(&c->h.stream);
    c->reading = 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct sh_conn *c = w->conn;
    c->queued -= w->len;
    c->net->queued_total -= w->len;
    c->nwrites--;
    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        sh_conn_close(c);
        return;
    }
    if (c->nwrites == 0) {
        if (c->close_after_write) {
            sh_conn_close(c);
            return;
        }
        if (c->net->ops->on_drained)
            c->net->ops->on_drained(c);
    }
}

void sh_conn_send(struct sh_conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    if (c->closing)
        return;
    size_t total = 0, skip = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (total == 0)
        return;
    if (c->nwrites == 0) {
        /* Nothing queued: the kernel gets first pick, and usually takes it all. */
        int n = uv_try_write(&c->h.stream, bufs, nbufs);
        if (n == (int)total)
            return;
        if (n > 0)
            skip = (size_t)n;
        else if (n != UV_EAGAIN && n != UV_ENOSYS) {
            sh_conn_close(c);
            return;
        }
    }
    size_t rest = total - skip;
    struct write_req *w = sh_malloc(sizeof(*w) + rest);
    w->conn = c;
    w->len = rest;
    size_t off = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t len = bufs[i].len;
        const char *p = bufs[i].base;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        p += skip;
        len -= skip;
        skip = 0;
        memcpy(w->data + off, p, len);
        off += len;
    }
    uv_buf_t b = uv_buf_init(w->data, (unsigned)rest);
    int rc = uv_write(&w->req, &c->h.stream, &b, 1, on_write);
    if (rc) {
        free(w);
        sh_conn_close(c);
        return;
    }
    c->queued += rest;
    c->net->queued_total += rest;
    c->nwrites++;
}

/* Sets up an accepted (or adopted) connection and hands it to the layer above. */
static void conn_ready(struct sh_net *n, struct sh_conn *c, int is_unix)
{
    uv_timer_init(n->loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    conn_link(n, c);
    n->accepted++;
    if (is_unix) {
        strcpy(c->peer, "unix");
    } else {
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        uv_tcp_nodelay(&c->h.tcp, 1);
        if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET6)
                uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
            else
                uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
        }
    }
    c->started = 1;
    n->on_accept(c);
}

/* Takes an accepted socket fd (non-blocking); called by the listener. Over
 * the connection limit (or stopping) it is closed at once. */
void sh__conn_start(struct sh_net *n, int fd, int is_unix);
void sh__conn_start(struct sh_net *n, int fd, int is_unix)
{
    if (n->stopping || n->nconns >= n->cfg->max_connections) {
        if (!n->stopping)
            n->rejected++;
        close(fd);
        return;
    }
    struct sh_conn *c = sh_calloc(1, n->conn_size);
    c->net = n;
    int rc = is_unix ? uv_pipe_init(n->loop, &c->h.pipe, 0) : uv_tcp_init(n->loop, &c->h.tcp);
    if (rc) {
        free(c);
        close(fd);
        return;
    }
    c->h.handle.data = c;
    rc = is_unix ? uv_pipe_open(&c->h.pipe, fd) : uv_tcp_open(&c->h.tcp, fd);
    if (rc) {
        /* The handle is on the loop now: free only in its close callback. */
        close(fd);
        c->closing = 1;
        c->handles_open = 1;
        conn_link(n, c);
        uv_close(&c->h.handle, on_handle_closed);
        return;
    }
    conn_ready(n, c, is_unix);
}

int sh_net_adopt(struct sh_net *n, uv_os_sock_t fd)
{
    struct sh_conn *c = sh_calloc(1, n->conn_size);
    c->net = n;
    int rc = uv_pipe_init(n->loop, &c->h.pipe, 0);
    if (rc) {
        free(c);
        return rc;
    }
    c->h.handle.data = c;
    if ((rc = uv_pipe_open(&c->h.pipe, fd)) != 0) {
        /* The handle is on the loop now: free only in its close callback. */
        c->closing = 1;
        c->handles_open = 1;
        conn_link(n, c);
        uv_close(&c->h.handle, on_handle_closed);
        return rc;
    }
    conn_ready(n, c, 1);
    return 0;
}
