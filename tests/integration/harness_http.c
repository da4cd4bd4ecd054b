/*
 * HTTP (see harness.h): client sockets with poll-bounded I/O, connections
 * owned by the current scope (closed gracefully at its end), and a small
 * HTTP/1.x response parser with the checks tests share (headers, the API's
 * error shape). Nothing here sleeps; every wait is a poll with a deadline.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "harness_int.h"

static int read_now(struct it_conn *c);

static void conn_release(struct it_conn *c, int graceful)
{
    if (c->fd >= 0 && graceful && !c->eof && shutdown(c->fd, SHUT_WR) == 0) {
        int64_t deadline = it_now_ms() + 200;
        while (!c->eof && it_now_ms() < deadline) {
            struct pollfd p = {.fd = c->fd, .events = POLLIN};
            int left = (int)(deadline - it_now_ms());
            if (poll(&p, 1, left > 0 ? left : 0) <= 0)
                break;
            c->off = c->len; /* discard */
            if (read_now(c) < 0)
                break;
        }
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->off = c->cap = 0;
}

static void conn_res_release(void *p, int keep)
{
    (void)keep;
    conn_release(p, 1);
    free(p);
}

static const struct it_res_type conn_type = {"connection", conn_res_release};

/* ---- connections ---- */

int it_connect(const char *host, int port, int timeout_ms)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sl = sizeof(*a4);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*a6);
    } else {
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            return -e;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, timeout_ms) <= 0) {
            close(fd);
            return -ETIMEDOUT;
        }
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            close(fd);
            return -err;
        }
    }
    return fd;
}

struct it_conn *it_conn_open(const struct it_server *s)
{
    int fd = it_connect(s->host, s->port, IT_MS_IO);
    if (fd < 0) {
        it_note("connect %s: %s", s->addr, strerror(-fd));
        return NULL;
    }
    struct it_conn *c = it_xcalloc(sizeof(*c));
    c->fd = fd;
    it_track(&conn_type, c);
    return c;
}

void it_conn_close(struct it_conn *c)
{
    if (c)
        conn_release(c, 1);
}

void it_conn_abort(struct it_conn *c)
{
    if (c)
        conn_release(c, 0);
}

void it_conn_nodelay(struct it_conn *c)
{
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

size_t it_conn_pending(const struct it_conn *c)
{
    return c->len - c->off;
}

/* Reads what the socket has now, without waiting. Bytes read, 0 if none,
 * IT_ECLOSED at EOF/reset, IT_EIO. */
static int read_now(struct it_conn *c)
{
    int total = 0;
    for (;;) {
        if (c->eof)
            return total ? total : IT_ECLOSED;
        if (c->off && c->off == c->len)
            c->off = c->len = 0;
        if (c->cap - c->len < 16384) {
            size_t cap = c->cap ? c->cap * 2 : 65536;
            char *b = realloc(c->buf, cap + 1);
            if (!b)
                abort();
            c->buf = b;
            c->cap = cap;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            c->buf[c->len] = 0;
            total += (int)n;
            continue;
        }
        if (n == 0) {
            c->eof = 1;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return total;
        if (errno == ECONNRESET || errno == EPIPE) {
            c->eof = 1;
            c->reset = 1;
            continue;
        }
        return total ? total : IT_EIO;
    }
}

int it_conn_fill(struct it_conn *c, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    if (c->fd < 0)
        return c->err = IT_EIO;
    for (;;) {
        int n = read_now(c);
        if (n != 0)
            return n < 0 ? (c->err = n) : n;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int left = it_left_ms(deadline);
        if (left == 0)
            return c->err = IT_ETIMEOUT;
        if (poll(&p, 1, left) < 0 && errno != EINTR)
            return c->err = IT_EIO;
    }
}

int it_conn_send(struct it_conn *c, const void *data, size_t n, int timeout_ms)
{
    const char *p = data;
    int64_t deadline = it_now_ms() + timeout_ms;
    if (c->fd < 0)
        return c->err = IT_EIO;
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return c->err = (errno == EPIPE || errno == ECONNRESET) ? IT_ECLOSED : IT_EIO;
        /* Full: keep reading meanwhile so a server that answers while we
         * send cannot deadlock us both on full buffers. */
        struct pollfd pf = {.fd = c->fd, .events = POLLOUT | (c->eof ? 0 : POLLIN)};
        int left = it_left_ms(deadline);
        if (left == 0)
            return c->err = IT_ETIMEOUT;
        if (poll(&pf, 1, left) < 0 && errno != EINTR)
            return c->err = IT_EIO;
        if (pf.revents & POLLIN)
            read_now(c);
    }
    return IT_OK;
}

int it_conn_sends(struct it_conn *c, const char *s)
{
    return it_conn_send(c, s, strlen(s), IT_MS_IO);
}

int it_conn_sendf(struct it_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return IT_EIO;
    char *d = it_xcalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = it_conn_send(c, d, (size_t)n, IT_MS_IO);
    free(d);
    return rc;
}

int it_conn_shutdown_write(struct it_conn *c)
{
    return shutdown(c->fd, SHUT_WR) == 0 ? IT_OK : IT_EIO;
}

int it_conn_read_to_eof(struct it_conn *c, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    while (!c->eof) {
        int rc = it_conn_fill(c, it_left_ms(deadline));
        if (rc == IT_ECLOSED)
            break;
        if (rc < 0)
            return rc;
    }
    return IT_OK;
}

int it_conn_closed(struct it_conn *c, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        if (it_conn_pending(c))
            return -1;
        if (c->eof)
            return 1;
        int rc = it_conn_fill(c, it_left_ms(deadline));
        if (rc == IT_ETIMEOUT)
            return 0;
        if (rc == IT_EIO)
            return 1; /* the socket is unusable: as good as closed */
    }
}

/* ---- responses ---- */

static int ieq_n(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    if (alen != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)lit[i]))
            return 0;
    return 1;
}

long it_resp_parse(const char *buf, size_t len, int flags, int eof, struct it_resp_view *v)
{
    memset(v, 0, sizeof(*v));
    if (len < 12)
        return eof || (len && memcmp(buf, "HTTP/1.", len < 7 ? len : 7) != 0) ? -1 : 0;
    if (memcmp(buf, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)buf[7]) || buf[8] != ' ' ||
        !isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
        !isdigit((unsigned char)buf[11]))
        return -1;
    v->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return eof || len > 256 * 1024 ? -1 : 0;
    v->head_len = (size_t)(end - buf) + 4;

    /* header lines */
    const char *p = (const char *)memchr(buf, '\n', len) + 1;
    const char *hend = buf + v->head_len - 2;
    while (p < hend) {
        const char *eol = memmem(p, (size_t)(hend - p) + 2, "\r\n", 2);
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p)
            return -1;
        const char *val = colon + 1;
        while (val < eol && (*val == ' ' || *val == '\t'))
            val++;
        if (ieq_n(p, (size_t)(colon - p), "content-length")) {
            uint64_t n = 0;
            const char *d = val;
            for (; d < eol && isdigit((unsigned char)*d); d++)
                n = n * 10 + (uint64_t)(*d - '0');
            if (d == val || (v->has_length && v->content_length != n))
                return -1;
            v->has_length = 1;
            v->content_length = n;
        } else if (ieq_n(p, (size_t)(colon - p), "transfer-encoding")) {
            return -1; /* never sent by stagehand */
        }
        p = eol + 2;
    }

    int bodiless = (flags & IT_NO_BODY) || (v->status >= 100 && v->status < 200) ||
                   v->status == 204 || v->status == 304;
    if (bodiless)
        return (long)v->head_len;
    if (v->has_length) {
        if (len - v->head_len < v->content_length)
            return 0;
        v->body_len = (size_t)v->content_length;
        return (long)(v->head_len + v->body_len);
    }
    if (!eof)
        return 0;
    v->until_close = 1;
    v->body_len = len - v->head_len;
    return (long)len;
}

static struct it_resp *resp_build(const char *raw, const struct it_resp_view *v, size_t raw_len)
{
    struct it_resp *r = it_alloc(sizeof(*r));
    r->status = v->status;
    r->minor = raw[7] - '0';
    r->has_length = v->has_length;
    r->content_length = v->content_length;
    r->raw_len = raw_len;
    char *head = it_alloc(v->head_len + 1);
    memcpy(head, raw, v->head_len);
    char *p = strstr(head, "\r\n") + 2;
    char *hend = head + v->head_len - 2;
    while (p < hend && r->nheaders < IT_MAX_HEADERS) {
        char *eol = strstr(p, "\r\n");
        *eol = 0;
        char *colon = strchr(p, ':');
        *colon = 0;
        char *val = colon + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        char *ve = eol;
        while (ve > val && (ve[-1] == ' ' || ve[-1] == '\t'))
            *--ve = 0;
        r->headers[r->nheaders].name = p;
        r->headers[r->nheaders].value = val;
        r->nheaders++;
        p = eol + 2;
    }
    r->body = it_alloc(v->body_len + 1);
    memcpy(r->body, raw + v->head_len, v->body_len);
    r->body_len = v->body_len;
    return r;
}

struct it_resp *it_conn_read(struct it_conn *c, int flags, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        struct it_resp_view v;
        if (c->eof && it_conn_pending(c) == 0) {
            c->err = IT_ECLOSED;
            return NULL;
        }
        /* (no arithmetic on a NULL buffer before the first read: UB that
         * clang's UBSan reports) */
        const char *at = c->buf ? c->buf + c->off : "";
        long n = it_resp_parse(at, c->len - c->off, flags, c->eof, &v);
        if (n < 0 || (n == 0 && c->eof && it_conn_pending(c))) {
            size_t show = it_conn_pending(c) < 200 ? it_conn_pending(c) : 200;
            it_note("not an HTTP response (%zu bytes): %.*s", it_conn_pending(c), (int)show,
                    c->buf + c->off);
            c->err = IT_EPROTO;
            return NULL;
        }
        if (n > 0) {
            struct it_resp *r = resp_build(c->buf + c->off, &v, (size_t)n);
            c->off += (size_t)n;
            return r;
        }
        if (c->eof) {
            c->err = IT_ECLOSED;
            return NULL;
        }
        int rc = it_conn_fill(c, it_left_ms(deadline));
        if (rc == IT_ETIMEOUT || rc == IT_EIO)
            return NULL;
    }
}

const char *it_resp_header(const struct it_resp *r, const char *name)
{
    for (unsigned i = 0; i < r->nheaders; i++)
        if (ieq_n(r->headers[i].name, strlen(r->headers[i].name), name))
            return r->headers[i].value;
    return NULL;
}

unsigned it_resp_header_count(const struct it_resp *r, const char *name)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->nheaders; i++)
        if (ieq_n(r->headers[i].name, strlen(r->headers[i].name), name))
            n++;
    return n;
}

int it_resp_check_error(const struct it_resp *r, int status)
{
    if (!r) {
        it_note("error shape: no response");
        return -1;
    }
    if (r->status != status) {
        it_note("error shape: status %d, expected %d (body %s)", r->status, status, r->body);
        return -1;
    }
    const char *ct = it_resp_header(r, "Content-Type");
    if (!ct || strncmp(ct, "application/json", 16) != 0) {
        it_note("error shape: Content-Type %s", ct ? ct : "(none)");
        return -1;
    }
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    int ok = 0;
    if (!j || !cJSON_IsObject(j)) {
        it_note("error shape: body is not a JSON object: %s", r->body);
        goto done;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    if (!cJSON_IsNumber(st) || st->valuedouble != status) {
        it_note("error shape: \"status\" is not %d: %s", status, r->body);
        goto done;
    }
    if (!cJSON_IsString(msg) || !msg->valuestring[0] ||
        msg->valuestring[strlen(msg->valuestring) - 1] != '.') {
        it_note("error shape: \"message\" is not a sentence ending in a period: %s", r->body);
        goto done;
    }
    if (!cJSON_IsObject(data)) {
        it_note("error shape: \"data\" is not an object: %s", r->body);
        goto done;
    }
    if (cJSON_GetArraySize(j) != 3) {
        it_note("error shape: keys other than status, message, data: %s", r->body);
        goto done;
    }
    ok = 1;
done:
    cJSON_Delete(j);
    return ok ? 0 : -1;
}
