/*
 * auth_client: the small HTTP/1.1 client of scripts/bench's auth scenarios.
 * One keep-alive connection to HOST:PORT (reopened if the server closes it),
 * one request at a time, so the latency of each request is its own (nothing
 * queued behind other requests of this client).
 *
 *   auth_client HOST PORT signup COLLECTION EMAIL_FMT FIRST COUNT PASSWORD
 *       sign up COUNT accounts: POST /api/collections/COLLECTION/records
 *       {"email","password","passwordConfirm"}, emails printf(EMAIL_FMT, i)
 *       for i = FIRST..FIRST+COUNT-1 (EMAIL_FMT has one %d). Prints
 *       "signup ok=N failed=N"; exit 0 only if all succeeded.
 *   auth_client HOST PORT login COLLECTION IDENTITY PASSWORD
 *       auth-with-password; prints the token (exit 0) or the answer (exit 2).
 *   auth_client HOST PORT request METHOD PATH [BODY [TOKEN]]
 *       one request; prints "<status>" then the body on the next line.
 *   auth_client HOST PORT timing COLLECTION IDENTITY WRONG_PASSWORD UNKNOWN_IDENTITY N
 *       N sign-ins of IDENTITY with WRONG_PASSWORD and N of UNKNOWN_IDENTITY
 *       (same password), alternating, after 5 of each not counted. One line
 *       per request: "wrong|unknown <microseconds> <status>", then
 *       "summary wrong_median_us=.. unknown_median_us=.. diff_us=..".
 *   auth_client HOST PORT probe PATH INTERVAL_MS SECONDS
 *       GET PATH once every INTERVAL_MS (paced, one request at a time on one
 *       connection) for SECONDS or until SIGINT/SIGTERM, then prints wrk's
 *       summary lines ("N requests in", "Requests/sec:", "50%" and "99%"
 *       latencies, "Non-2xx or 3xx responses:") so bench/report.py reads it
 *       as a wrk run. A latency probe: it never queues behind itself, so its
 *       percentiles are the server's response time, not a client's backlog.
 *   auth_client hash N [ITERATIONS MEMORY_BYTES]
 *       (only when built with -DHAVE_SODIUM -lsodium) Argon2id with the
 *       server's default parameters (t=2, 19 MiB) or the ones given: one
 *       crypto_pwhash_str, then N crypto_pwhash_str_verify; prints
 *       "verify <microseconds>" per run and "summary median_us=.. ops=.. memlimit=..".
 *
 * Each request has a 60 s timeout. Build: cc -O2 -o auth_client auth_client.c
 * [-DHAVE_SODIUM -lsodium]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_SODIUM
#include <sodium.h>
#endif

#define BUF_MAX   (1u << 20)
#define TIMEOUT_S 60

static const char *g_host, *g_port;
static int g_fd = -1;
static char g_buf[BUF_MAX + 1];
static size_t g_have; /* bytes in g_buf not yet consumed */

struct resp {
    int status;
    char *body; /* points into a malloc'd copy, NUL-terminated */
    size_t body_len;
    int close; /* server said Connection: close */
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void disconnect(void)
{
    if (g_fd >= 0)
        close(g_fd);
    g_fd = -1;
    g_have = 0;
}

static int connect_server(void)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(g_host, g_port, &hints, &res);
    if (rc) {
        fprintf(stderr, "auth_client: %s:%s: %s\n", g_host, g_port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            g_fd = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (g_fd < 0) {
        fprintf(stderr, "auth_client: cannot connect to %s:%s: %s\n", g_host, g_port,
                strerror(errno));
        return -1;
    }
    g_have = 0;
    return 0;
}

static int write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(g_fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fill(void)
{
    if (g_have >= BUF_MAX)
        return -1;
    ssize_t r;
    do
        r = recv(g_fd, g_buf + g_have, BUF_MAX - g_have, 0);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    g_have += (size_t)r;
    g_buf[g_have] = 0;
    return 0;
}

/* Reads one response (Content-Length bodies only: the server always sends it). */
static int read_response(struct resp *out)
{
    char *end;
    memset(out, 0, sizeof *out);
    while (!(g_have && (end = memmem(g_buf, g_have, "\r\n\r\n", 4))))
        if (fill())
            return -1;
    size_t head_len = (size_t)(end - g_buf) + 4;
    if (sscanf(g_buf, "HTTP/1.%*d %d", &out->status) != 1)
        return -1;
    long long clen = 0;
    for (char *line = strstr(g_buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        char *h = line + 2;
        if (!strncasecmp(h, "Content-Length:", 15))
            clen = strtoll(h + 15, NULL, 10);
        else if (!strncasecmp(h, "Connection:", 11) && strcasestr(h, "close") &&
                 strcasestr(h, "close") < strstr(h, "\r\n"))
            out->close = 1;
    }
    if (clen < 0 || (size_t)clen > BUF_MAX - head_len)
        return -1;
    while (g_have < head_len + (size_t)clen)
        if (fill())
            return -1;
    out->body = malloc((size_t)clen + 1);
    if (!out->body)
        return -1;
    memcpy(out->body, g_buf + head_len, (size_t)clen);
    out->body[clen] = 0;
    out->body_len = (size_t)clen;
    size_t used = head_len + (size_t)clen;
    memmove(g_buf, g_buf + used, g_have - used);
    g_have -= used;
    return 0;
}

/* One request; retried once on a fresh connection if the kept-alive one is gone. */
static int request(const char *method, const char *path, const char *body, const char *token,
                   struct resp *out)
{
    static char req[65536];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: bench\r\nUser-Agent: stagehand-bench\r\n"
                     "Content-Type: application/json\r\n%s%s%sContent-Length: %zu\r\n\r\n%s",
                     method, path, token ? "Authorization: " : "", token ? token : "",
                     token ? "\r\n" : "", blen, body ? body : "");
    if (n < 0 || (size_t)n >= sizeof req) {
        fprintf(stderr, "auth_client: request too long\n");
        return -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (g_fd < 0 && connect_server())
            return -1;
        if (write_all(req, (size_t)n) == 0 && read_response(out) == 0) {
            if (out->close)
                disconnect();
            return 0;
        }
        disconnect();
    }
    fprintf(stderr, "auth_client: %s %s: no response (%s)\n", method, path, strerror(errno));
    return -1;
}

/* Strings used here are emails and passwords of the benchmark: no escaping needed,
 * but refuse anything that would need it. */
static const char *json_safe(const char *s)
{
    for (const char *p = s; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            fprintf(stderr, "auth_client: '%s' needs JSON escaping, not supported\n", s);
            exit(1);
        }
    return s;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double median(int64_t *v, size_t n)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof *v, cmp_i64);
    return n % 2 ? (double)v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static int do_signup(char **a, int n)
{
    if (n != 5) {
        fprintf(stderr, "usage: signup COLLECTION EMAIL_FMT FIRST COUNT PASSWORD\n");
        return 1;
    }
    const char *coll = a[0], *fmt = a[1], *pw = json_safe(a[4]);
    long first = strtol(a[2], NULL, 10), count = strtol(a[3], NULL, 10);
    char path[512], email[256], body[1024];
    long ok = 0, failed = 0;
    snprintf(path, sizeof path, "/api/collections/%s/records", coll);
    for (long i = first; i < first + count; i++) {
        snprintf(email, sizeof email, fmt, (int)i);
        snprintf(body, sizeof body,
                 "{\"email\":\"%s\",\"password\":\"%s\",\"passwordConfirm\":\"%s\"}",
                 json_safe(email), pw, pw);
        struct resp r;
        if (request("POST", path, body, NULL, &r))
            return 1;
        if (r.status >= 200 && r.status < 300) {
            ok++;
        } else {
            failed++;
            fprintf(stderr, "signup %s: %d %s\n", email, r.status, r.body);
        }
        free(r.body);
    }
    printf("signup ok=%ld failed=%ld\n", ok, failed);
    return failed ? 2 : 0;
}

static int login(const char *path, const char *id, const char *pw, struct resp *r)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"identity\":\"%s\",\"password\":\"%s\"}", json_safe(id),
             json_safe(pw));
    return request("POST", path, body, NULL, r);
}

static int do_login(char **a, int n)
{
    if (n != 3) {
        fprintf(stderr, "usage: login COLLECTION IDENTITY PASSWORD\n");
        return 1;
    }
    char path[512];
    snprintf(path, sizeof path, "/api/collections/%s/auth-with-password", a[0]);
    struct resp r;
    if (login(path, a[1], a[2], &r))
        return 1;
    char *t = r.status == 200 ? strstr(r.body, "\"token\":\"") : NULL;
    char *e = t ? strchr(t + 9, '"') : NULL;
    if (!e) {
        fprintf(stderr, "login %s: %d %s\n", a[1], r.status, r.body);
        free(r.body);
        return 2;
    }
    printf("%.*s\n", (int)(e - t - 9), t + 9);
    free(r.body);
    return 0;
}

static int do_request(char **a, int n)
{
    if (n < 2 || n > 4) {
        fprintf(stderr, "usage: request METHOD PATH [BODY [TOKEN]]\n");
        return 1;
    }
    struct resp r;
    if (request(a[0], a[1], n > 2 && *a[2] ? a[2] : NULL, n > 3 ? a[3] : NULL, &r))
        return 1;
    printf("%d\n%s\n", r.status, r.body);
    free(r.body);
    return 0;
}

static int do_timing(char **a, int n)
{
    if (n != 5) {
        fprintf(stderr, "usage: timing COLLECTION IDENTITY WRONG_PASSWORD UNKNOWN_IDENTITY N\n");
        return 1;
    }
    const char *ids[2] = {a[1], a[3]}, *names[2] = {"wrong", "unknown"};
    long count = strtol(a[4], NULL, 10);
    if (count <= 0)
        return 1;
    char path[512];
    snprintf(path, sizeof path, "/api/collections/%s/auth-with-password", a[0]);
    int64_t *lat[2] = {calloc((size_t)count, sizeof(int64_t)),
                       calloc((size_t)count, sizeof(int64_t))};
    long bad = 0;
    if (!lat[0] || !lat[1])
        return 1;
    for (long i = -5; i < count; i++) {
        for (int k = 0; k < 2; k++) {
            /* alternate which kind goes first, so neither always follows the other */
            int kind = (i & 1) ? 1 - k : k;
            struct resp r;
            int64_t t0 = now_us();
            if (login(path, ids[kind], a[2], &r))
                return 1;
            int64_t dt = now_us() - t0;
            if (i >= 0) {
                lat[kind][i] = dt;
                printf("%s %lld %d\n", names[kind], (long long)dt, r.status);
                if (r.status != 400)
                    bad++;
            }
            free(r.body);
        }
    }
    double mw = median(lat[0], (size_t)count), mu = median(lat[1], (size_t)count);
    printf("summary wrong_median_us=%.1f unknown_median_us=%.1f diff_us=%.1f n=%ld non400=%ld\n",
           mw, mu, mw - mu, count, bad);
    return 0;
}

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void print_latency(const char *label, int64_t us)
{
    if (us >= 1000)
        printf("     %s  %.2fms\n", label, us / 1000.0);
    else
        printf("     %s  %lld.00us\n", label, (long long)us);
}

static int do_probe(char **a, int n)
{
    if (n != 3 || strtol(a[1], NULL, 10) <= 0 || strtol(a[2], NULL, 10) <= 0) {
        fprintf(stderr, "usage: probe PATH INTERVAL_MS SECONDS\n");
        return 1;
    }
    const char *path = a[0];
    int64_t interval = strtol(a[1], NULL, 10) * 1000, seconds = strtol(a[2], NULL, 10);
    size_t cap = (size_t)(seconds * 1000000 / interval) + 1, count = 0, bad = 0;
    int64_t *lat = calloc(cap, sizeof(int64_t));
    if (!lat)
        return 1;
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: the sleep ends */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int64_t start = now_us(), next = start;
    while (!g_stop && count < cap) {
        struct resp r;
        int64_t t0 = now_us();
        if (request("GET", path, NULL, NULL, &r))
            return 1;
        lat[count++] = now_us() - t0;
        bad += r.status < 200 || r.status >= 400;
        free(r.body);
        next += interval;
        int64_t wait = next - now_us();
        if (wait > 0) {
            struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
            nanosleep(&ts, NULL);
        } else {
            next = now_us(); /* late (a slow answer): no burst to catch up */
        }
    }
    double secs = (now_us() - start) / 1e6;
    qsort(lat, count, sizeof *lat, cmp_i64);
    printf("probe: GET %s every %lld ms, one connection\n", path, (long long)(interval / 1000));
    printf("  Latency Distribution\n");
    print_latency("50%", count ? lat[count / 2] : 0);
    print_latency("99%",
                  count ? lat[(count * 99) / 100 < count ? (count * 99) / 100 : count - 1] : 0);
    print_latency("max", count ? lat[count - 1] : 0);
    printf("  %zu requests in %.2fs, 0.00MB read\n", count, secs);
    if (bad)
        printf("  Non-2xx or 3xx responses: %zu\n", bad);
    printf("Requests/sec: %.2f\n", secs > 0 ? count / secs : 0);
    free(lat);
    return 0;
}

static int do_hash(char **a, int n)
{
#ifdef HAVE_SODIUM
    if ((n != 1 && n != 3) || strtol(a[0], NULL, 10) <= 0) {
        fprintf(stderr, "usage: hash N [ITERATIONS MEMORY_BYTES]\n");
        return 1;
    }
    long count = strtol(a[0], NULL, 10);
    if (sodium_init() < 0)
        return 1;
    static const char pw[] = "bench-password-1";
    char hash[crypto_pwhash_STRBYTES];
    unsigned long long ops = n == 3 ? strtoull(a[1], NULL, 10) : 2;
    size_t mem = n == 3 ? (size_t)strtoull(a[2], NULL, 10) : (size_t)19 << 20;
    if (crypto_pwhash_str(hash, pw, sizeof pw - 1, ops, mem)) {
        fprintf(stderr, "auth_client: crypto_pwhash_str failed (out of memory?)\n");
        return 1;
    }
    int64_t *v = calloc((size_t)count, sizeof(int64_t));
    if (!v)
        return 1;
    for (long i = 0; i < count; i++) {
        int64_t t0 = now_us();
        if (crypto_pwhash_str_verify(hash, pw, sizeof pw - 1)) {
            fprintf(stderr, "auth_client: verify failed\n");
            return 1;
        }
        v[i] = now_us() - t0;
        printf("verify %lld\n", (long long)v[i]);
    }
    printf("summary median_us=%.1f ops=%llu memlimit=%zu n=%ld\n", median(v, (size_t)count), ops,
           mem, count);
    return 0;
#else
    (void)a;
    (void)n;
    fprintf(stderr, "auth_client: built without libsodium (-DHAVE_SODIUM -lsodium)\n");
    return 3;
#endif
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "hash"))
        return do_hash(argv + 2, argc - 2);
    if (argc < 4) {
        fprintf(stderr, "usage: auth_client HOST PORT signup|login|request|timing ARGS... | "
                        "auth_client hash N\n");
        return 1;
    }
    g_host = argv[1];
    g_port = argv[2];
    const char *mode = argv[3];
    char **a = argv + 4;
    int n = argc - 4, rc;
    if (!strcmp(mode, "signup"))
        rc = do_signup(a, n);
    else if (!strcmp(mode, "login"))
        rc = do_login(a, n);
    else if (!strcmp(mode, "request"))
        rc = do_request(a, n);
    else if (!strcmp(mode, "timing"))
        rc = do_timing(a, n);
    else if (!strcmp(mode, "probe"))
        rc = do_probe(a, n);
    else {
        fprintf(stderr, "auth_client: unknown mode '%s'\n", mode);
        rc = 1;
    }
    disconnect();
    return rc;
}
