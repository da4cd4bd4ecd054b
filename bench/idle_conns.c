/*
 * idle_conns: open N keep-alive HTTP/1.1 connections, complete one request on
 * each, then hold them all open (idle) until stdin reaches EOF, a signal
 * arrives, or the hold timeout expires.  Used by scripts/bench to measure a
 * server's RSS cost per idle connection.
 *
 *   idle_conns [-n N] [-c INFLIGHT] [-t HOLD_S] [-T SETUP_S] [-p PATH] HOST PORT
 *
 * Output (stdout, line buffered):
 *   ready ok=<n> failed=<n>            once every connection is set up or failed
 *   done held=<n> closed_by_peer=<n>   when the hold ends
 * Exit status: 0 if all N connections were set up and none was closed by the
 * peer while held, 2 otherwise, 1 on usage / setup errors.
 *
 * Plain sockets + epoll, no dependencies.  Build: cc -O2 -o idle_conns idle_conns.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HDR_MAX    4096
#define MAX_HOLD_S 600
#define STDIN_TAG  UINT32_MAX

enum state { ST_CONNECTING, ST_SENDING, ST_READING, ST_IDLE, ST_CLOSED };

struct conn {
    int fd;
    uint8_t state;
    uint32_t sent;
    uint32_t hdr_len;  /* bytes buffered so far while the header is incomplete */
    int64_t body_left; /* body bytes still expected once the header is parsed */
    char *hdr;         /* header buffer, freed once the response is complete */
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-n N] [-c INFLIGHT] [-t HOLD_S] [-T SETUP_S] [-p PATH] HOST PORT\n"
            "  -n N         connections to open (default 10000)\n"
            "  -c INFLIGHT  max connections being set up at once (default 256)\n"
            "  -t HOLD_S    max seconds to hold after 'ready' (default 60, max %d)\n"
            "  -T SETUP_S   max seconds for the setup phase (default 30)\n"
            "  -p PATH      request path (default /api/health)\n",
            prog, MAX_HOLD_S);
}

/* Case-insensitive search for a header line "name:" in hdr[0..len); returns value or NULL. */
static const char *find_header(const char *hdr, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = memchr(hdr, '\n', len);
    while (p && (size_t)(p + 1 - hdr) < len) {
        const char *line = p + 1;
        size_t rest = len - (size_t)(line - hdr);
        if (rest > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
        p = memchr(line, '\n', rest);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long n = 10000, inflight_max = 256, hold_s = 60, setup_s = 30;
    const char *path = "/api/health";
    int opt;

    while ((opt = getopt(argc, argv, "n:c:t:T:p:h")) != -1) {
        switch (opt) {
        case 'n':
            n = strtol(optarg, NULL, 10);
            break;
        case 'c':
            inflight_max = strtol(optarg, NULL, 10);
            break;
        case 't':
            hold_s = strtol(optarg, NULL, 10);
            break;
        case 'T':
            setup_s = strtol(optarg, NULL, 10);
            break;
        case 'p':
            path = optarg;
            break;
        default:
            usage(argv[0]);
            return 1;
        }
    }
    if (argc - optind != 2 || n < 1 || inflight_max < 1 || hold_s < 0 || setup_s < 1) {
        usage(argv[0]);
        return 1;
    }
    if (hold_s > MAX_HOLD_S)
        hold_s = MAX_HOLD_S;
    const char *host = argv[optind], *port = argv[optind + 1];

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* N sockets + epoll + stdio: make sure the soft fd limit allows it. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 16) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)n + 16) {
            fprintf(stderr, "idle_conns: fd limit %llu too low for %ld connections\n",
                    (unsigned long long)rl.rlim_cur, n);
            return 1;
        }
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "idle_conns: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 1;
    }

    char req[512];
    int req_len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    if (req_len < 0 || (size_t)req_len >= sizeof(req)) {
        fprintf(stderr, "idle_conns: path too long\n");
        return 1;
    }

    struct conn *conns = calloc((size_t)n, sizeof(*conns));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0) {
        perror("idle_conns: setup");
        return 1;
    }

    long next = 0, inflight = 0, ok = 0, failed = 0, closed_by_peer = 0;
    int first_err = 0;
    const char *first_err_what = NULL;
    char scratch[65536];
    struct epoll_event evs[256];
    double deadline = now_s() + (double)setup_s;
    int ready = 0, stdin_watched = 0;

#define FAIL(c, what, err)                                                                         \
    do {                                                                                           \
        if (!first_err_what) {                                                                     \
            first_err_what = (what);                                                               \
            first_err = (err);                                                                     \
        }                                                                                          \
        epoll_ctl(ep, EPOLL_CTL_DEL, (c)->fd, NULL);                                               \
        close((c)->fd);                                                                            \
        free((c)->hdr);                                                                            \
        (c)->hdr = NULL;                                                                           \
        (c)->state = ST_CLOSED;                                                                    \
        inflight--;                                                                                \
        failed++;                                                                                  \
    } while (0)

    for (;;) {
        /* Start new connections, bounded so the listen backlog is never flooded. */
        while (!ready && next < n && inflight < inflight_max) {
            struct conn *c = &conns[next];
            c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (c->fd < 0) {
                if (!first_err_what) {
                    first_err_what = "socket";
                    first_err = errno;
                }
                c->state = ST_CLOSED;
                failed += n - next; /* out of fds: give up on the rest */
                next = n;
                break;
            }
            c->state = ST_CONNECTING;
            inflight++;
            if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
                FAIL(c, "connect", errno);
            } else {
                struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)next};
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            }
            next++;
        }

        if (!ready && next == n && inflight == 0) {
            ready = 1;
            printf("ready ok=%ld failed=%ld\n", ok, failed);
            if (first_err_what)
                fprintf(stderr, "idle_conns: first error: %s: %s\n", first_err_what,
                        first_err ? strerror(first_err) : "protocol error");
            deadline = now_s() + (double)hold_s;
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
            /* Fails with EPERM for regular files / /dev/null: then only the timeout applies. */
            stdin_watched = epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == 0;
        }

        double left = deadline - now_s();
        if (stop_flag || left <= 0) {
            if (!ready) {
                printf("ready ok=%ld failed=%ld\n", ok, n - ok);
                fprintf(stderr, "idle_conns: setup %s after %lds, %ld connections incomplete\n",
                        stop_flag ? "interrupted" : "timed out", setup_s, n - ok - failed);
                printf("done held=%ld closed_by_peer=%ld\n", ok, closed_by_peer);
                return 2;
            }
            break;
        }

        int k = epoll_wait(ep, evs, 256, (int)(left * 1000) + 1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            perror("idle_conns: epoll_wait");
            return 1;
        }
        for (int i = 0; i < k; i++) {
            uint32_t idx = evs[i].data.u32;
            if (idx == STDIN_TAG) {
                ssize_t r = read(0, scratch, sizeof(scratch));
                if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
                    stop_flag = 1;
                continue;
            }
            struct conn *c = &conns[idx];
            uint32_t e = evs[i].events;

            if (c->state == ST_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err || (e & EPOLLERR)) {
                    FAIL(c, "connect", err ? err : ECONNREFUSED);
                    continue;
                }
                c->state = ST_SENDING;
            }
            if (c->state == ST_SENDING) {
                while (c->sent < (uint32_t)req_len) {
                    ssize_t w = send(c->fd, req + c->sent, (size_t)req_len - c->sent, MSG_NOSIGNAL);
                    if (w < 0)
                        break;
                    c->sent += (uint32_t)w;
                }
                if (c->sent < (uint32_t)req_len) {
                    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                        FAIL(c, "send", errno);
                    continue;
                }
                c->state = ST_READING;
                c->hdr = malloc(HDR_MAX);
                c->body_left = -1;
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = idx};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            if (c->state == ST_READING) {
                for (;;) {
                    char *dst = scratch;
                    size_t cap = sizeof(scratch);
                    if (c->body_left < 0) {
                        dst = c->hdr + c->hdr_len;
                        cap = HDR_MAX - c->hdr_len;
                    }
                    ssize_t r = recv(c->fd, dst, cap, 0);
                    if (r == 0) {
                        FAIL(c, "read (connection closed before response end)", 0);
                        break;
                    }
                    if (r < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                            FAIL(c, "recv", errno);
                        break;
                    }
                    if (c->body_left < 0) {
                        c->hdr_len += (uint32_t)r;
                        char *end = memmem(c->hdr, c->hdr_len, "\r\n\r\n", 4);
                        if (!end) {
                            if (c->hdr_len == HDR_MAX) {
                                FAIL(c, "response header too large", 0);
                                break;
                            }
                            continue;
                        }
                        size_t hlen = (size_t)(end + 4 - c->hdr);
                        const char *cl = find_header(c->hdr, hlen, "Content-Length");
                        const char *conn_hdr = find_header(c->hdr, hlen, "Connection");
                        if (c->hdr_len < 12 || memcmp(c->hdr, "HTTP/1.1 200", 12) != 0) {
                            FAIL(c, "response status is not HTTP/1.1 200", 0);
                            break;
                        }
                        if (!cl) {
                            FAIL(c, "response without Content-Length", 0);
                            break;
                        }
                        if (conn_hdr && strncasecmp(conn_hdr, "close", 5) == 0) {
                            FAIL(c, "server sent Connection: close", 0);
                            break;
                        }
                        c->body_left = strtoll(cl, NULL, 10) - (int64_t)(c->hdr_len - hlen);
                    } else {
                        c->body_left -= r;
                    }
                    if (c->body_left <= 0) {
                        free(c->hdr);
                        c->hdr = NULL;
                        c->state = ST_IDLE;
                        inflight--;
                        ok++;
                        break;
                    }
                }
                continue;
            }
            if (c->state == ST_IDLE) {
                /* Anything on an idle connection: drain it; EOF / error = peer closed it. */
                ssize_t r = recv(c->fd, scratch, sizeof(scratch), 0);
                if (r == 0 ||
                    (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
                    (e & (EPOLLERR | EPOLLHUP))) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    c->state = ST_CLOSED;
                    closed_by_peer++;
                }
            }
        }
    }

    printf("done held=%ld closed_by_peer=%ld%s\n", ok - closed_by_peer, closed_by_peer,
           stdin_watched ? "" : " (stdin not watchable, held until timeout/signal)");
    freeaddrinfo(ai);
    return (ok == n && closed_by_peer == 0) ? 0 : 2;
}
