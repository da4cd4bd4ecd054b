/*
 * Listeners: parse the configured addresses, bind TCP (v4/v6) and unix
 * sockets, accept, and enforce the connection limit. Beyond max_connections a
 * new connection is accepted and closed at once (and counted), so the backlog
 * never fills with clients that will wait forever.
 *
 * We accept ourselves (a uv_poll on the listening socket) rather than through
 * uv_listen's callback, because libuv drops connections at the fd limit
 * silently. At EMFILE/ENFILE the reserved fd is given up for a moment to
 * accept and close the pending connection (the client sees a close, not a
 * hang), the refusal is counted and logged at most once per interval, and
 * accepting goes on by itself once fds are free again. If even that fails,
 * accepting pauses for a short while instead of spinning on the backlog.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "stagehand/net.h"

void sh__conn_start(struct sh_net *n, int fd, int is_unix);

void sh_net_init(struct sh_net *n, uv_loop_t *loop, const struct sh_config *cfg,
                 const struct sh_conn_ops *ops, size_t conn_size,
                 void (*on_accept)(struct sh_conn *c))
{
    memset(n, 0, sizeof(*n));
    n->loop = loop;
    n->cfg = cfg;
    n->ops = ops;
    n->conn_size = conn_size < sizeof(struct sh_conn) ? sizeof(struct sh_conn) : conn_size;
    n->on_accept = on_accept;
    n->reserve_fd = -1;
}

int sh_net_parse_addr(const char *s, struct sockaddr_storage *ss, const char **unix_path)
{
    *unix_path = NULL;
    memset(ss, 0, sizeof(*ss));
    if (strncmp(s, "unix:", 5) == 0) {
        if (!s[5] || strlen(s + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return SH_EINVAL;
        *unix_path = s + 5;
        return 0;
    }
    char host[64];
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            return SH_EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = 0;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host))
            return SH_EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        if (strcmp(host, "localhost") == 0)
            strcpy(host, "127.0.0.1");
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == 0 || *end || port < 0 || port > 65535)
        return SH_EINVAL;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return SH_EINVAL;
}

#define ACCEPT_BATCH    64  /* connections accepted per wakeup of a listener */
#define ACCEPT_PAUSE_MS 100 /* pause at the fd limit when no fd could be freed */

static void fd_limit_report(struct sh_net *n, int err)
{
    n->fd_refused++;
    n->fd_refused_unlogged++;
    uint64_t now = uv_now(n->loop);
    if (n->fd_logged_at && now - n->fd_logged_at < SH_NET_FD_LOG_MS)
        return;
    sh_log_error("net",
                 "connections refused at the open-file limit (%s): %llu since the last "
                 "report, %llu in all; raise the limit (ulimit -n) or lower "
                 "--max-connections",
                 err == ENFILE ? "ENFILE" : "EMFILE", (unsigned long long)n->fd_refused_unlogged,
                 (unsigned long long)n->fd_refused);
    n->fd_refused_unlogged = 0;
    n->fd_logged_at = now ? now : 1;
}

static void listeners_poll(struct sh_net *n, int on);

static void on_accept_timer(uv_timer_t *t)
{
    listeners_poll(t->data, 1);
}

/* At the fd limit: refuse one pending connection by accepting it on the
 * reserved fd and closing it. 1 if one was refused, 0 if none could be. */
static int refuse_pending(struct sh_net *n, int lfd)
{
    if (n->reserve_fd < 0)
        return 0;
    close(n->reserve_fd);
    n->reserve_fd = -1;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
    n->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
}

static void on_acceptable(uv_poll_t *p, int status, int events)
{
    struct sh_listener *l = p->data;
    struct sh_net *n = l->net;
    (void)events;
    if (status < 0) {
        sh_log_warn("net", "accept failed: %s", sh_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && l->polling; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            sh__conn_start(n, fd, l->is_unix);
            continue;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            return;
        if (e == EMFILE || e == ENFILE) {
            fd_limit_report(n, e);
            if (refuse_pending(n, l->fd))
                continue;
            /* Nothing could be freed: stop looking at the backlog for a
             * moment rather than spin on it. */
            listeners_poll(n, 0);
            if (!n->accept_timer_open) {
                uv_timer_init(n->loop, &n->accept_timer);
                n->accept_timer.data = n;
                n->accept_timer_open = 1;
            }
            uv_timer_start(&n->accept_timer, on_accept_timer, ACCEPT_PAUSE_MS, 0);
            return;
        }
        sh_log_warn("net", "accept failed: %s", strerror(e));
        return;
    }
}

static void listeners_poll(struct sh_net *n, int on)
{
    for (unsigned i = 0; i < n->nlisteners; i++) {
        struct sh_listener *l = &n->listeners[i];
        if (l->open != 2 || l->polling == (on ? 1u : 0u))
            continue;
        if (on)
            uv_poll_start(&l->poll, UV_READABLE, on_acceptable);
        else
            uv_poll_stop(&l->poll);
        l->polling = on ? 1 : 0;
    }
}

static void format_bound(struct sh_listener *l)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "";
    if (uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(l->bound, sizeof(l->bound), "[%s]:%d", ip, ntohs(a->sin6_port));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(l->bound, sizeof(l->bound), "%s:%d", ip, ntohs(a->sin_port));
    }
}

static int listen_one(struct sh_net *n, struct sh_listener *l, const char *addr)
{
    struct sockaddr_storage ss;
    const char *path;
    int rc = sh_net_parse_addr(addr, &ss, &path);
    if (rc)
        return rc;
    l->net = n;
    if (path) {
        l->is_unix = 1;
        if ((rc = uv_pipe_init(n->loop, &l->h.pipe, 0)))
            return rc;
        l->open = 1;
        unlink(path); /* a stale socket file from an earlier run */
        if ((rc = uv_pipe_bind(&l->h.pipe, path)))
            return rc;
        snprintf(l->bound, sizeof(l->bound), "unix:%s", path);
    } else {
        if ((rc = uv_tcp_init(n->loop, &l->h.tcp)))
            return rc;
        l->open = 1;
        unsigned flags = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
        if ((rc = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, flags)))
            return rc;
    }
    l->h.handle.data = l;
    uv_os_fd_t fd;
    if ((rc = uv_fileno(&l->h.handle, &fd)))
        return rc;
    l->fd = fd;
    if (listen(fd, 511) != 0)
        return -errno;
    if ((rc = uv_poll_init_socket(n->loop, &l->poll, fd)))
        return rc;
    l->poll.data = l;
    l->open = 2; /* the poll handle is open too */
    if ((rc = uv_poll_start(&l->poll, UV_READABLE, on_acceptable)))
        return rc;
    l->polling = 1;
    if (!path)
        format_bound(l);
    return 0;
}

int sh_net_listen(struct sh_net *n, char *err, size_t errlen)
{
    if (n->reserve_fd < 0)
        n->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (unsigned i = 0; i < n->cfg->nlisten; i++) {
        struct sh_listener *l = &n->listeners[n->nlisteners++];
        int rc = listen_one(n, l, n->cfg->listen[i]);
        if (rc) {
            snprintf(err, errlen, "cannot listen on %s: %s", n->cfg->listen[i],
                     rc == SH_EINVAL ? "invalid address" : uv_strerror(rc));
            return rc;
        }
    }
    return 0;
}

void sh_net_stop_listening(struct sh_net *n)
{
    for (unsigned i = 0; i < n->nlisteners; i++) {
        struct sh_listener *l = &n->listeners[i];
        /* The poll first: it must stop watching before the socket closes. */
        if (l->open == 2 && !uv_is_closing((uv_handle_t *)&l->poll))
            uv_close((uv_handle_t *)&l->poll, NULL);
        if (l->open && !uv_is_closing(&l->h.handle))
            uv_close(&l->h.handle, NULL);
        l->open = 0;
        l->polling = 0;
    }
    if (n->accept_timer_open && !uv_is_closing((uv_handle_t *)&n->accept_timer))
        uv_close((uv_handle_t *)&n->accept_timer, NULL);
    if (n->reserve_fd >= 0) {
        close(n->reserve_fd);
        n->reserve_fd = -1;
    }
}
