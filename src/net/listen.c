/*
 * Listeners: parse the configured addresses, bind TCP (v4/v6) and unix
 * sockets, accept, and enforce the connection limit. Beyond max_connections a
 * new connection is accepted and closed at once (and counted), so the backlog
 * never fills with clients that will wait forever.
 */
#include "stagehand/net.h"

#include <arpa/inet.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sh__conn_start(struct sh_net *n, uv_stream_t *server, int is_unix);

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

static void on_connection(uv_stream_t *server, int status)
{
    struct sh_listener *l = server->data;
    if (status < 0) {
        sh_log_warn("net", "accept failed: %s", sh_strerror(status));
        return;
    }
    sh__conn_start(l->net, server, l->is_unix);
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
    if ((rc = uv_listen(&l->h.stream, 511, on_connection)))
        return rc;
    if (!path)
        format_bound(l);
    return 0;
}

int sh_net_listen(struct sh_net *n, char *err, size_t errlen)
{
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
        if (l->open && !uv_is_closing(&l->h.handle))
            uv_close(&l->h.handle, NULL);
        l->open = 0;
    }
}
