/*
 * Two HTTP servers in one process, each on its own loop and thread, answer
 * pipelined requests at the same time; each client must get exactly its own
 * responses, in order and well framed. The server keeps its gather buffer,
 * request-id state and Date cache in struct sh_http_server: when any of them
 * was a file static, the two threads formatted into one buffer and this test
 * saw foreign or torn responses (or ASan a use after free of the buffer).
 *
 * Only public API: the connections are socketpairs the servers adopt
 * (sh_net_adopt), the clients plain blocking sockets on their own threads.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "stagehand/config.h"
#include "stagehand/http.h"

#define BATCHES 2000 /* round trips per client */
#define BATCH   16   /* pipelined requests per round trip */

struct side {
    char tag[8]; /* "A" or "B": in the path and in an X-Server header */
    uv_loop_t loop;
    struct sh_config cfg;
    struct sh_http_server srv;
    int fd[2]; /* [0] the server's end, [1] the client's */
    pthread_t server, client;
    unsigned answered;
    char why[256]; /* the first failure the client saw; "" = none */
};

static pthread_barrier_t start;

static int handler(struct sh_req *r, void *ud)
{
    struct side *s = ud;
    sh_res_header(r, "X-Server", s->tag);
    sh_res_send(r, 200, "text/plain", r->path.ptr, r->path.len);
    return SH_HANDLED;
}

static void *server_main(void *arg)
{
    struct side *s = arg;
    int rc = sh_net_adopt(&s->srv.net, s->fd[0]);
    pthread_barrier_wait(&start);
    if (rc == 0)
        uv_run(&s->loop, UV_RUN_DEFAULT); /* until the client's EOF closes the connection */
    return NULL;
}

static void client_fail(struct side *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void client_fail(struct side *s, const char *fmt, ...)
{
    if (s->why[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Finds the value of header name (with ": ") in head[0..n), or NULL. */
static const char *header_in(const char *head, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = head + 1; p + nl < head + n; p++)
        if (p[-1] == '\n' && strncmp(p, name, nl) == 0)
            return p + nl;
    return NULL;
}

/* Parses one response at buf[0..*len) if complete: checks it answers path,
 * drops it from buf. 1 parsed, 0 incomplete, -1 wrong (reason in s->why). */
static int take_response(struct side *s, char *buf, size_t *len, const char *path)
{
    char *end = memmem(buf, *len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t hlen = (size_t)(end - buf) + 4;
    const char *cl = header_in(buf, hlen, "Content-Length: ");
    const char *who = header_in(buf, hlen, "X-Server: ");
    if (strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) != 0 || !cl || !who) {
        client_fail(s, "server %s: malformed response head: %.*s", s->tag, (int)hlen, buf);
        return -1;
    }
    size_t blen = strtoul(cl, NULL, 10);
    if (*len < hlen + blen)
        return 0;
    if (strncmp(who, s->tag, strlen(s->tag)) != 0 || who[strlen(s->tag)] != '\r') {
        client_fail(s, "server %s: a response from another server: %.*s", s->tag, (int)hlen, buf);
        return -1;
    }
    if (blen != strlen(path) || memcmp(buf + hlen, path, blen) != 0) {
        client_fail(s, "server %s: wanted %s, got %.*s", s->tag, path, (int)blen, buf + hlen);
        return -1;
    }
    memmove(buf, buf + hlen + blen, *len - hlen - blen);
    *len -= hlen + blen;
    return 1;
}

static void *client_main(void *arg)
{
    struct side *s = arg;
    static _Thread_local char buf[256 * 1024];
    char reqs[BATCH * 64], paths[BATCH][32];
    size_t have = 0;
    pthread_barrier_wait(&start);
    for (unsigned b = 0; b < BATCHES && !s->why[0]; b++) {
        size_t n = 0;
        for (unsigned i = 0; i < BATCH; i++) {
            snprintf(paths[i], sizeof(paths[i]), "/%s/%u", s->tag, b * BATCH + i);
            n += (size_t)snprintf(reqs + n, sizeof(reqs) - n, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
                                  paths[i]);
        }
        if (write_all(s->fd[1], reqs, n)) {
            client_fail(s, "server %s: write failed after %u responses", s->tag, s->answered);
            break;
        }
        for (unsigned i = 0; i < BATCH && !s->why[0];) {
            int rc = take_response(s, buf, &have, paths[i]);
            if (rc < 0)
                break;
            if (rc > 0) {
                i++;
                s->answered++;
                continue;
            }
            ssize_t r = have < sizeof(buf) ? read(s->fd[1], buf + have, sizeof(buf) - have) : -1;
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                client_fail(s, "server %s: connection ended after %u responses", s->tag,
                            s->answered);
                break;
            }
            have += (size_t)r;
        }
    }
    shutdown(s->fd[1], SHUT_WR);
    while (read(s->fd[1], buf, sizeof(buf)) > 0) {
    }
    close(s->fd[1]);
    return NULL;
}

static void side_init(struct side *s, const char *tag)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->tag, sizeof(s->tag), "%s", tag);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    sh_config_init(&s->cfg);
    assert_int_equal(sh_http_server_init(&s->srv, &s->loop, &s->cfg, handler, s), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->fd), 0);
}

static void side_deinit(struct side *s)
{
    sh_http_server_close_all(&s->srv);
    sh_http_server_deinit(&s->srv);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    sh_config_deinit(&s->cfg);
}

static void test_server_two_in_one_process(void **state)
{
    (void)state;
    static struct side a, b;
    struct side *sides[] = {&a, &b};
    side_init(&a, "A");
    side_init(&b, "B");
    assert_int_equal(pthread_barrier_init(&start, NULL, 4), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&sides[i]->server, NULL, server_main, sides[i]), 0);
        assert_int_equal(pthread_create(&sides[i]->client, NULL, client_main, sides[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(sides[i]->client, NULL);
        pthread_join(sides[i]->server, NULL);
    }
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
        if (sides[i]->why[0])
            fail_msg("%s", sides[i]->why);
        assert_int_equal(sides[i]->answered, BATCHES * BATCH);
        assert_int_equal(sides[i]->srv.requests, BATCHES * BATCH);
        side_deinit(sides[i]);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    sh_log_min_level = SH_LOG_WARN; /* no access lines for the 64 000 requests */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_two_in_one_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
