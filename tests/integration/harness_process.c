/*
 * Processes (see harness.h): the server's temporary folder and files in it,
 * the server process (fork/exec, address from a stdout pipe, stderr to a
 * log file, SIGTERM and a bounded wait on a pidfd), its log, and the
 * stagehand CLI run as a child with its output captured. A server is owned
 * by the scope that created it: at the scope's end it is killed and its
 * folder removed, unless a test failed meanwhile (or SH_IT_KEEP=1), in which
 * case the folder and the whole log stay and their path is printed. Nothing
 * here sleeps to wait for readiness; the only sleeps are a 2 ms back-off
 * when pidfd_open(2) is unavailable and the CLI's 5 ms exit poll.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_int.h"

#define IT_MS_KEEP_STOP 5000 /* a kept server's bound to exit on SIGTERM */

static void server_release(void *p, int keep);

const struct it_res_type it_res_server = {"server", server_release};

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
    struct it_server *s = it_xcalloc(sizeof(*s));
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
    it_track(&it_res_server, s);
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
        int left = it_left_ms(deadline);
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

/* The end of the server's scope: killed, then its folder removed, or kept
 * as the evidence of a failed test: then the server gets SIGTERM first and
 * up to IT_MS_KEEP_STOP to exit, so the log holds everything it had to say
 * (its buffered lines, a sanitizer's report at exit). */
static void server_release(void *p, int keep)
{
    struct it_server *s = p;
    if (keep && s->dir[0]) {
        if (s->pid > 0 && it_server_signal(s, SIGTERM) == 0 &&
            it_server_wait(s, IT_MS_KEEP_STOP) < 0)
            it_note("server %d did not exit within %d ms of SIGTERM; killing it", (int)s->pid,
                    IT_MS_KEEP_STOP);
        it_server_kill(s);
        if (s->pidfd >= 0)
            close(s->pidfd);
        s->pidfd = -1;
        it_note("kept the server's folder %s (its whole log: %s)", s->dir, s->log_path);
    } else {
        it_server_cleanup(s);
    }
    free(s);
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
    printf("# ---- server log (%s%s) ----\n%s# ---- end of log%s ----\n",
           n > tail ? "tail of " : "", s->log_path, p,
           n > tail ? "; the whole log is kept if the test fails" : "");
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
                level[] = "--log-level", info[] = "info", init[] = "--init-schema", none[] = "none";
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
    /* No default `users` collection unless a test asks with
     * "--init-schema", "default" (a later flag wins). */
    argv[n++] = init;
    argv[n++] = none;
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
    s->started = 1;
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
        int left = it_left_ms(deadline);
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

/* ---- the CLI ---- */

/* Reads fd from its start into scope memory. */
static char *slurp(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = it_alloc(cap);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (len + 1 >= cap) {
            char *bigger = it_alloc(cap * 2);
            memcpy(bigger, buf, len);
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    return buf;
}

int it_run_v(char **out, char **err, int timeout_ms, const char *prefix, const char *arg,
             va_list ap)
{
    const char *bin = getenv("STAGEHAND_BIN");
    if (!bin || !*bin) {
        it_note("STAGEHAND_BIN is not set (meson test sets it)");
        return -1;
    }
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)(uintptr_t)bin;
    if (prefix)
        argv[n++] = (char *)(uintptr_t)prefix;
    for (const char *x = arg; x && n < 31; x = va_arg(ap, const char *))
        argv[n++] = (char *)(uintptr_t)x;
    argv[n] = NULL;
    FILE *fo = tmpfile(), *fe = tmpfile();
    if (!fo || !fe) {
        it_note("tmpfile: %s", strerror(errno));
        if (fo)
            fclose(fo);
        if (fe)
            fclose(fe);
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0)
            dup2(null_fd, 0);
        dup2(fileno(fo), 1);
        dup2(fileno(fe), 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0, code = -1;
    if (pid < 0) {
        it_note("fork: %s", strerror(errno));
    } else {
        int64_t deadline = it_now_ms() + timeout_ms;
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                break;
            }
            if (it_now_ms() > deadline) {
                it_note("%s %s did not exit within %d ms; killed", bin, prefix ? prefix : arg,
                        timeout_ms);
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                break;
            }
            poll(NULL, 0, 5);
        }
    }
    char *o = slurp(fileno(fo)), *e = slurp(fileno(fe));
    fclose(fo);
    fclose(fe);
    if (out)
        *out = o;
    if (err)
        *err = e;
    return code;
}

int it_run(char **out, char **err, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int code = it_run_v(out, err, IT_MS_CLI, NULL, arg, ap);
    va_end(ap);
    return code;
}

long it_server_mem_kib(const struct it_server *s, int peak)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    const char *key = peak ? "VmHWM:" : "VmRSS:";
    long v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtol(line + strlen(key), NULL, 10);
    fclose(f);
    return v;
}
