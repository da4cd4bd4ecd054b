/*
 * stagehand net: listeners (TCP and unix sockets), the connection limit, and
 * connections with their deadline timer and write queue. It knows nothing of
 * HTTP: the layer above supplies callbacks and the size of its connection
 * struct, which embeds struct sh_conn as its first member.
 */
#ifndef STAGEHAND_NET_H
#define STAGEHAND_NET_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "stagehand/config.h"
#include "stagehand/core.h"

struct sh_conn;
struct sh_net;

struct sh_conn_ops {
    /* Bytes arrived. data is borrowed for the call only. */
    void (*on_data)(struct sh_conn *c, const char *data, size_t len);
    /* The peer closed its side (EOF) or the read failed. */
    void (*on_eof)(struct sh_conn *c);
    /* The connection's deadline passed. */
    void (*on_timeout)(struct sh_conn *c);
    /* Every queued byte was handed to the kernel. */
    void (*on_drained)(struct sh_conn *c);
    /* Called once, just before the memory is freed (after uv_close). */
    void (*on_free)(struct sh_conn *c);
};

struct sh_conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t timer;
    struct sh_net *net;
    struct sh_conn *prev, *next; /* in net->conns */
    size_t queued;               /* bytes handed to uv_write and not yet written */
    unsigned nwrites;            /* uv_write requests in flight */
    unsigned closing : 1;
    unsigned reading : 1;
    unsigned close_after_write : 1;
    unsigned handles_open : 2;
    unsigned started : 1; /* on_accept ran; on_free will run */
    char peer[48];        /* "ip" or "unix" */
};

#define SH_NET_MAX_LISTENERS SH_CONFIG_MAX_LISTEN

struct sh_listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_poll_t poll; /* readiness of the listening socket: we accept ourselves */
    struct sh_net *net;
    char bound[128]; /* the address actually bound, e.g. "127.0.0.1:40123" */
    int fd;          /* the listening socket (owned by h) */
    unsigned is_unix : 1;
    unsigned open : 2;    /* 1: the socket handle is open; 2: its poll handle too */
    unsigned polling : 1; /* the poll is started */
};

#define SH_NET_READ_BUF (64 * 1024)

struct sh_net {
    uv_loop_t *loop;
    const struct sh_config *cfg;
    const struct sh_conn_ops *ops;
    size_t conn_size; /* sizeof the upper layer's connection struct */
    /* Called after accept with the new connection, before reading starts. */
    void (*on_accept)(struct sh_conn *c);
    /* Called when the last connection is freed while stopping. */
    void (*on_empty)(struct sh_net *n);

    struct sh_listener listeners[SH_NET_MAX_LISTENERS];
    unsigned nlisteners;
    struct sh_conn *conns; /* every open connection */
    unsigned nconns;
    size_t queued_total; /* sum of every connection's queued bytes */
    uint64_t accepted;
    uint64_t rejected; /* closed at once because of max_connections */
    /* Refused at the process's fd limit (EMFILE/ENFILE on accept): the
     * pending connection is accepted on a reserved fd and closed, so the
     * client is told at once and the listener never spins; logged at most
     * once per SH_NET_FD_LOG_MS with the count since the last line. */
    uint64_t fd_refused;
    uint64_t fd_refused_unlogged;
    uint64_t fd_logged_at;   /* loop time (ms) of the last report; 0 = none yet */
    int reserve_fd;          /* an fd kept open to be given up at the limit; -1 = none */
    uv_timer_t accept_timer; /* resumes accepting after a pause at the limit */
    unsigned accept_timer_open : 1;
    unsigned stopping : 1;
    /* The one read buffer of this loop's connections: reads are processed
     * synchronously, so no connection holds on to it between callbacks (an
     * idle keep-alive connection holds no read buffer). */
    char read_buf[SH_NET_READ_BUF];
};

#define SH_NET_FD_LOG_MS 10000

/* Prepares n; nothing is opened. */
void sh_net_init(struct sh_net *n, uv_loop_t *loop, const struct sh_config *cfg,
                 const struct sh_conn_ops *ops, size_t conn_size,
                 void (*on_accept)(struct sh_conn *c));
/* Binds and listens on every address of cfg->listen. 0 or a negative code,
 * with a message naming the address in err. */
int sh_net_listen(struct sh_net *n, char *err, size_t errlen);
/* Adopts an already connected unix-domain stream socket (a socketpair end)
 * as a connection, as if accepted: for fuzzing and tests without TCP.
 * 0 or a negative code. */
int sh_net_adopt(struct sh_net *n, uv_os_sock_t fd);
/* Closes the listeners (new connections are refused by the kernel). */
void sh_net_stop_listening(struct sh_net *n);

/* Parses "host:port", "[v6]:port" or "unix:/path". 0 or SH_EINVAL. */
int sh_net_parse_addr(const char *s, struct sockaddr_storage *ss, const char **unix_path);

/*
 * Sends bufs: uv_try_write first; whatever the kernel did not take is copied
 * and queued with uv_write, behind anything already queued, so bytes leave in
 * call order. The caller's buffers may be reused as soon as this returns.
 */
void sh_conn_send(struct sh_conn *c, const uv_buf_t *bufs, unsigned nbufs);
/* Arms the single deadline timer (ms from now); 0 disarms it. */
void sh_conn_deadline(struct sh_conn *c, uint64_t ms);
void sh_conn_read_start(struct sh_conn *c);
void sh_conn_read_stop(struct sh_conn *c);
/* Closes now, dropping anything queued. Safe to call twice. */
void sh_conn_close(struct sh_conn *c);
/* Closes once everything queued has been written (or at once if nothing is). */
void sh_conn_close_after_write(struct sh_conn *c);

#endif
