/*
 * The integration-test harness (see harness.h): scopes that own what tests
 * allocate, the server process (fork/exec, address from a stdout pipe, stderr
 * to a log file, SIGTERM and a bounded wait on a pidfd), client sockets with
 * poll-bounded I/O, and a small HTTP/1.x response parser. Nothing here sleeps
 * to wait for readiness; the only sleep is a 2 ms back-off in the fallback
 * used when pidfd_open(2) is unavailable.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

/* ---- scopes ---- */

enum res_kind { RES_MEM, RES_CONN, RES_SERVER };

struct res {
    struct res *next;
    enum res_kind kind;
    void *p;
};

#define MAX_SCOPES 8

static struct res *resources;         /* newest first */
static struct res *marks[MAX_SCOPES]; /* resources at each it_scope_begin */
static int nmarks;

static void *xcalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "harness: out of memory\n");
        abort();
    }
    return p;
}

static void track(enum res_kind kind, void *p)
{
    struct res *r = xcalloc(sizeof(*r));
    r->kind = kind;
    r->p = p;
    r->next = resources;
    resources = r;
}

void it_scope_begin(void)
{
    if (nmarks == MAX_SCOPES) {
        fprintf(stderr, "harness: scopes nested too deeply\n");
        abort();
    }
    marks[nmarks++] = resources;
}

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

void it_scope_end(void)
{
    struct res *stop = nmarks ? marks[--nmarks] : NULL;
    while (resources && resources != stop) {
        struct res *r = resources;
        resources = r->next;
        if (r->kind == RES_CONN)
            conn_release(r->p, 1);
        else if (r->kind == RES_SERVER)
            it_server_cleanup(r->p);
        free(r->p);
        free(r);
    }
}

void *it_alloc(size_t n)
{
    void *p = xcalloc(n);
    track(RES_MEM, p);
    return p;
}

char *it_strdup(const char *s)
{
    size_t n = strlen(s);
    char *d = it_alloc(n + 1);
    memcpy(d, s, n);
    return d;
}

char *it_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *d = it_alloc(n > 0 ? (size_t)n + 1 : 1);
    va_start(ap, fmt);
    if (n > 0)
        vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

int64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline, never negative (for poll). */
static int left_ms(int64_t deadline)
{
    int64_t d = deadline - it_now_ms();
    return d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

void it_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

/* ---- files ---- */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int it_rmrf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int it_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return close(fd);
}

/* ---- the server process ---- */

struct it_server *it_server_new(void)
{
    struct it_server *s = xcalloc(sizeof(*s));
    s->pidfd = -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof(s->dir), "%s/stagehand-it-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->dir)) {
        it_note("mkdtemp(%s): %s", s->dir, strerror(errno));
        free(s);
        return NULL;
    }
    snprintf(s->data_dir, sizeof(s->data_dir), "%s/data", s->dir);
    snprintf(s->log_path, sizeof(s->log_path), "%s/stderr.log", s->dir);
    track(RES_SERVER, s);
    return s;
}

static void reaped(struct it_server *s, int wstatus)
{
    s->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    s->pid = 0;
    if (s->pidfd >= 0)
        close(s->pidfd);
    s->pidfd = -1;
}

/* Reaps the process if it has ended. 1 if it is gone (now or before). */
static int try_reap(struct it_server *s)
{
    if (s->pid <= 0)
        return 1;
    int ws;
    pid_t r = waitpid(s->pid, &ws, WNOHANG);
    if (r == s->pid) {
        reaped(s, ws);
        return 1;
    }
    if (r < 0 && errno == ECHILD) {
        s->status = -1;
        s->pid = 0;
        return 1;
    }
    return 0;
}

int it_server_wait(struct it_server *s, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        if (try_reap(s))
            return s->status;
        int left = left_ms(deadline);
        if (left == 0)
            return -1;
        if (s->pidfd >= 0) {
            struct pollfd p = {.fd = s->pidfd, .events = POLLIN};
            poll(&p, 1, left);
        } else {
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

int it_server_alive(struct it_server *s)
{
    return !try_reap(s);
}

int it_server_signal(struct it_server *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    return kill(s->pid, sig);
}

void it_server_kill(struct it_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    if (it_server_wait(s, 5000) < 0)
        it_note("server %d did not die after SIGKILL", (int)s->pid);
}

int it_server_stop(struct it_server *s, int timeout_ms)
{
    if (s->pid <= 0) {
        it_note("server already exited with %d", s->status);
        it_server_dump_log(s, 3000);
        return s->status;
    }
    it_server_signal(s, SIGTERM);
    int st = it_server_wait(s, timeout_ms);
    if (st < 0) {
        it_note("server did not exit within %d ms of SIGTERM; killing it", timeout_ms);
        it_server_kill(s);
    }
    if (st != 0)
        it_server_dump_log(s, 3000);
    return st;
}

void it_server_cleanup(struct it_server *s)
{
    it_server_kill(s);
    if (s->pidfd >= 0)
        close(s->pidfd);
    s->pidfd = -1;
    if (s->dir[0] && it_rmrf(s->dir) != 0)
        it_note("could not remove %s: %s", s->dir, strerror(errno));
    s->dir[0] = 0;
}

char *it_server_log(const struct it_server *s)
{
    int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return it_strdup("");
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return it_strdup("");
    }
    size_t cap = (size_t)sb.st_size + 1, len = 0;
    char *d = it_alloc(cap);
    for (;;) {
        ssize_t n = read(fd, d + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    close(fd);
    d[len] = 0;
    return d;
}

int it_server_wait_log(const struct it_server *s, const char *needle, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        it_scope_begin();
        int found = it_log_count(it_server_log(s), needle, NULL) > 0;
        it_scope_end();
        if (found)
            return 1;
        if (it_now_ms() >= deadline)
            return 0;
        poll(NULL, 0, 10);
    }
}

void it_server_dump_log(const struct it_server *s, size_t tail)
{
    char *log = it_server_log(s);
    size_t n = strlen(log);
    const char *p = n > tail ? log + n - tail : log;
    printf("# ---- server log (%s%s) ----\n%s# ---- end of log ----\n", n > tail ? "tail of " : "",
           s->log_path, p);
    fflush(stdout);
}

int it_log_count(const char *log, const char *needle, ...)
{
    const char *needles[16];
    unsigned nn = 0;
    va_list ap;
    va_start(ap, needle);
    for (const char *n = needle; n && nn < 16; n = va_arg(ap, const char *))
        needles[nn++] = n;
    va_end(ap);

    int count = 0;
    for (const char *line = log; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        unsigned ok = 0;
        for (unsigned i = 0; i < nn; i++)
            if (memmem(line, len, needles[i], strlen(needles[i])))
                ok++;
        if (ok == nn)
            count++;
        line += len + (eol ? 1 : 0);
    }
    return count;
}

static pid_t spawn(char **argv, int out_fd, int log_fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* child: only async-signal-safe calls from here */
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
        dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(log_fd, 2);
    execv(argv[0], argv);
    static const char msg[] = "harness: exec failed\n";
    if (write(2, msg, sizeof(msg) - 1) < 0)
        _exit(126);
    _exit(127);
}

int it_server_run(struct it_server *s, const char *const *args)
{
    const char *bin = getenv("STAGEHAND_BIN");
    if (!bin || !*bin) {
        it_note("STAGEHAND_BIN is not set (meson test sets it)");
        return -1;
    }
    static char serve[] = "serve", listen[] = "--listen", any[] = "127.0.0.1:0", dir[] = "--dir",
                level[] = "--log-level", info[] = "info";
    char *argv[64];
    unsigned n = 0;
    argv[n++] = (char *)(uintptr_t)bin;
    argv[n++] = serve;
    argv[n++] = listen;
    argv[n++] = any;
    argv[n++] = dir;
    argv[n++] = s->data_dir;
    argv[n++] = level;
    argv[n++] = info;
    for (unsigned i = 0; args && args[i] && n < 63; i++)
        argv[n++] = (char *)(uintptr_t)args[i];
    argv[n] = NULL;

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    int log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    fflush(stdout);
    pid_t pid = spawn(argv, pfd[1], log_fd);
    close(pfd[1]);
    close(log_fd);
    if (pid < 0) {
        close(pfd[0]);
        return -1;
    }
    s->pid = pid;
    s->status = -1;
#ifdef SYS_pidfd_open
    s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
    s->pidfd = -1;
#endif
    if (s->pidfd >= 0)
        fcntl(s->pidfd, F_SETFD, FD_CLOEXEC);

    /* The address line: "127.0.0.1:40123\n". */
    char line[160];
    size_t len = 0;
    int64_t deadline = it_now_ms() + IT_MS_START;
    int got = 0;
    while (len < sizeof(line) - 1) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int left = left_ms(deadline);
        if (left == 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t r = read(pfd[0], line + len, sizeof(line) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (memchr(line, '\n', len)) {
            got = 1;
            break;
        }
    }
    close(pfd[0]);
    line[len] = 0;
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = 0;
    char *colon = strrchr(line, ':');
    if (!got || !colon || colon == line || (size_t)(colon - line) >= sizeof(s->host)) {
        it_note("server did not print its address within %d ms (got \"%s\")", IT_MS_START, line);
        it_server_kill(s);
        it_server_dump_log(s, 3000);
        return -1;
    }
    snprintf(s->addr, sizeof(s->addr), "%.95s", line);
    memcpy(s->host, line, (size_t)(colon - line));
    s->host[colon - line] = 0;
    if (s->host[0] == '[') { /* "[::1]" */
        memmove(s->host, s->host + 1, strlen(s->host));
        s->host[strlen(s->host) - 1] = 0;
    }
    s->port = atoi(colon + 1);
    if (s->port <= 0) {
        it_note("bad address line \"%s\"", line);
        it_server_kill(s);
        return -1;
    }
    return 0;
}

struct it_server *it_server_start(const char *arg, ...)
{
    const char *args[48];
    unsigned n = 0;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && n < 47; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    struct it_server *s = it_server_new();
    if (!s)
        return NULL;
    if (it_server_run(s, args) != 0)
        return NULL;
    return s;
}

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
    struct it_conn *c = xcalloc(sizeof(*c));
    c->fd = fd;
    track(RES_CONN, c);
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
        int left = left_ms(deadline);
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
        int left = left_ms(deadline);
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
    char *d = xcalloc((size_t)n + 1);
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
        int rc = it_conn_fill(c, left_ms(deadline));
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
        int rc = it_conn_fill(c, left_ms(deadline));
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
        int rc = it_conn_fill(c, left_ms(deadline));
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
