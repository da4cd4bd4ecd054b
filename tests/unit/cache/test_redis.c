/*
 * Tests of the Redis client against a real redis-server started here (a
 * child process on a unix socket or a loopback port of its own, stopped by
 * its pid): round trips and pipelined order, the password handshake, a
 * stopped server (deadlines, the breaker opening, recovery after SIGCONT), a
 * killed and restarted server, an unreachable address at start, cancel, and
 * close with commands in flight. Each test fails on a client that blocks,
 * loses an answer, answers out of order or never recovers.
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "stagehand/cache.h"
#include "stagehand/core.h"

struct server {
    char dir[64];
    char sock[100];
    pid_t pid;
};

static void server_start(struct server *s, const char *password)
{
    if (!s->dir[0]) {
        snprintf(s->dir, sizeof s->dir, "/tmp/sh-redis-test-XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        const char *argv[] = {"redis-server", "--port", "0",    "--unixsocket",
                              s->sock,        "--save", "",     "--appendonly",
                              "no",           "--dir",  s->dir, password ? "--requirepass" : NULL,
                              password,       NULL};
        execvp("redis-server", (char **)(uintptr_t)argv);
        _exit(127);
    }
    s->pid = pid;
    /* ready when the socket accepts */
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", s->sock);
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        close(fd);
        if (rc == 0)
            return;
        usleep(10000);
    }
    fail_msg("redis-server did not start on %s", s->sock);
}

static void server_kill(struct server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGCONT);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    unlink(s->sock);
}

static void server_remove(struct server *s)
{
    server_kill(s);
    if (s->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        assert_int_equal(system(cmd), 0);
    }
}

/* ---- loop helpers ---- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until pred(arg) or ms of wall time; returns pred's last value. */
static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, uint64_t ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 2, 2);
    uint64_t end = uv_hrtime() + ms * 1000000;
    bool ok = pred(arg);
    while (!ok && uv_hrtime() < end) {
        uv_run(loop, UV_RUN_ONCE);
        ok = pred(arg);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static struct sh_redis *client;

static bool is_up(void *arg)
{
    (void)arg;
    return sh_redis_state(client) == SH_REDIS_UP;
}

static bool is_down(void *arg)
{
    (void)arg;
    return sh_redis_state(client) == SH_REDIS_DOWN;
}

struct answers {
    int n;     /* callbacks seen */
    int nulls; /* of them without a reply */
    long long ints[512];
    uint64_t at_ns[512];
    char last_str[64];
};

static void on_answer(void *arg, const struct redisReply *reply)
{
    struct answers *a = arg;
    if (a->n < 512) {
        a->ints[a->n] = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
        a->at_ns[a->n] = uv_hrtime();
    }
    if (!reply)
        a->nulls++;
    else if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS)
        snprintf(a->last_str, sizeof a->last_str, "%.*s", (int)reply->len, reply->str);
    else if (reply->type == REDIS_REPLY_NIL)
        snprintf(a->last_str, sizeof a->last_str, "(nil)");
    a->n++;
}

struct want {
    struct answers *a;
    int n;
};

static bool have_answers(void *arg)
{
    struct want *w = arg;
    return w->a->n >= w->n;
}

static int cmd(struct answers *a, const char *c0, const char *c1, const char *c2)
{
    const char *argv[3] = {c0, c1, c2};
    size_t lens[3] = {strlen(c0), c1 ? strlen(c1) : 0, c2 ? strlen(c2) : 0};
    int argc = c2 ? 3 : c1 ? 2 : 1;
    return sh_redis_command(client, on_answer, a, argc, argv, lens, NULL);
}

static void open_client(uv_loop_t *loop, const char *url, uint64_t timeout_ms, const char *password)
{
    struct sh_redis_options o;
    sh_redis_options_init(&o);
    o.url = url;
    o.password = password;
    o.timeout_ms = timeout_ms;
    o.connect_timeout_ms = 500;
    o.backoff_max_ms = 200;
    o.breaker_threshold = 5;
    assert_int_equal(sh_redis_open(&client, loop, &o), 0);
}

static void close_client(uv_loop_t *loop)
{
    sh_redis_close(client);
    client = NULL;
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void unix_url(const struct server *s, char *url, size_t cap)
{
    snprintf(url, cap, "unix:%s", s->sock);
}

/* A fresh server and a client of it on loop, UP (commands under timeout_ms). */
static void start_and_connect(struct server *s, uv_loop_t *loop, uint64_t timeout_ms)
{
    server_start(s, NULL);
    uv_loop_init(loop);
    char url[160];
    unix_url(s, url, sizeof url);
    open_client(loop, url, timeout_ms, NULL);
    assert_true(run_until(loop, is_up, NULL, 5000));
}

/* ---- tests ---- */

static void test_redis_round_trip_and_pipelined_order(void **state)
{
    (void)state;
    struct server s = {0};
    server_start(&s, NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[160];
    unix_url(&s, url, sizeof url);
    open_client(&loop, url, 2000, NULL);
    assert_int_equal(cmd(&(struct answers){0}, "PING", NULL, NULL), SH_EBUSY); /* not UP yet */
    assert_true(run_until(&loop, is_up, NULL, 5000));

    static struct answers a;
    memset(&a, 0, sizeof a);
    assert_int_equal(cmd(&a, "SET", "k", "v"), 0);
    assert_int_equal(cmd(&a, "GET", "k", NULL), 0);
    for (int i = 0; i < 300; i++)
        assert_int_equal(cmd(&a, "INCR", "n", NULL), 0); /* one loop turn: one write */
    assert_true(run_until(&loop, have_answers, &(struct want){&a, 302}, 5000));
    assert_int_equal(a.nulls, 0);
    for (int i = 0; i < 300; i++)
        assert_int_equal(a.ints[2 + i], i + 1); /* answers in the order issued */
    struct sh_redis_stats st;
    sh_redis_stats(client, &st);
    assert_int_equal(st.commands, 302);
    assert_int_equal(st.replies, 302);
    assert_int_equal(st.timeouts, 0);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.connects, 1);
    close_client(&loop);
    server_remove(&s);
}

static void test_redis_password(void **state)
{
    (void)state;
    struct server s = {0};
    server_start(&s, "pa ss");
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[200];
    unix_url(&s, url, sizeof url);

    /* without the password: never UP, every command refused at once */
    open_client(&loop, url, 1000, NULL);
    assert_false(run_until(&loop, is_up, NULL, 400));
    struct answers a = {0};
    assert_int_equal(cmd(&a, "GET", "k", NULL), SH_EBUSY);
    assert_int_equal(a.n, 0);
    close_client(&loop);

    /* a wrong one: the same */
    uv_loop_init(&loop);
    open_client(&loop, url, 1000, "wrong");
    assert_false(run_until(&loop, is_up, NULL, 400));
    close_client(&loop);

    /* the right one, from the options (as from STAGEHAND_REDIS_PASSWORD) */
    uv_loop_init(&loop);
    open_client(&loop, url, 1000, "pa ss");
    assert_true(run_until(&loop, is_up, NULL, 5000));
    memset(&a, 0, sizeof a);
    assert_int_equal(cmd(&a, "SET", "k", "v"), 0);
    assert_true(run_until(&loop, have_answers, &(struct want){&a, 1}, 5000));
    assert_string_equal(a.last_str, "OK");
    close_client(&loop);

    /* and escaped in the URL */
    uv_loop_init(&loop);
    snprintf(url, sizeof url, "unix:%s?password=pa%%20ss", s.sock);
    open_client(&loop, url, 1000, NULL);
    assert_true(run_until(&loop, is_up, NULL, 5000));
    close_client(&loop);
    server_remove(&s);
}

static void test_redis_stopped_server_breaker(void **state)
{
    (void)state;
    struct server s = {0};
    uv_loop_t loop;
    start_and_connect(&s, &loop, 50);

    kill(s.pid, SIGSTOP);
    static struct answers a;
    memset(&a, 0, sizeof a);
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < 3; i++)
        assert_int_equal(cmd(&a, "INCR", "n", NULL), 0);
    assert_true(run_until(&loop, have_answers, &(struct want){&a, 3}, 3000));
    assert_int_equal(a.nulls, 3); /* each completed as a miss ... */
    /* ... at its deadline, not at once and not much later (generous: a noisy machine) */
    assert_true(a.at_ns[0] - t0 >= 45 * 1000000ull);
    assert_true(a.at_ns[2] - t0 < 1500 * 1000000ull);
    struct sh_redis_stats st;
    sh_redis_stats(client, &st);
    assert_int_equal(st.timeouts, 3);
    assert_int_equal(st.breaker_opens, 0);
    assert_int_equal(sh_redis_state(client), SH_REDIS_UP);

    /* two more failures make five in a row: the breaker opens */
    assert_int_equal(cmd(&a, "INCR", "n", NULL), 0);
    assert_int_equal(cmd(&a, "INCR", "n", NULL), 0);
    assert_true(run_until(&loop, have_answers, &(struct want){&a, 5}, 3000));
    sh_redis_stats(client, &st);
    assert_int_equal(st.breaker_opens, 1);
    assert_int_not_equal(sh_redis_state(client), SH_REDIS_UP);
    /* while open, commands are refused synchronously: no wait at all */
    int before = a.n;
    assert_int_equal(cmd(&a, "INCR", "n", NULL), SH_EBUSY);
    assert_int_equal(a.n, before);
    /* probes keep failing while the server is stopped */
    assert_false(run_until(&loop, is_up, NULL, 700));

    kill(s.pid, SIGCONT);
    assert_true(run_until(&loop, is_up, NULL, 5000));
    memset(&a, 0, sizeof a);
    assert_int_equal(cmd(&a, "GET", "n", NULL), 0);
    assert_true(run_until(&loop, have_answers, &(struct want){&a, 1}, 5000));
    assert_int_equal(a.nulls, 0);
    sh_redis_stats(client, &st);
    assert_true(st.connects >= 2);
    close_client(&loop);
    server_remove(&s);
}

static void test_redis_killed_and_restarted(void **state)
{
    (void)state;
    struct server s = {0};
    uv_loop_t loop;
    start_and_connect(&s, &loop, 2000);
    static struct answers a;
    memset(&a, 0, sizeof a);
    assert_int_equal(cmd(&a, "SET", "k", "before"), 0);
    assert_true(run_until(&loop, have_answers, &(struct want){&a, 1}, 5000));

    server_kill(&s);
    assert_true(run_until(&loop, is_down, NULL, 5000)); /* EOF seen, no command needed */
    assert_int_equal(cmd(&a, "GET", "k", NULL), SH_EBUSY);
    assert_false(run_until(&loop, is_up, NULL, 300));

    server_start(&s, NULL); /* empty: nothing of before survives */
    assert_true(run_until(&loop, is_up, NULL, 5000));
    memset(&a, 0, sizeof a);
    assert_int_equal(cmd(&a, "GET", "k", NULL), 0);
    assert_true(run_until(&loop, have_answers, &(struct want){&a, 1}, 5000));
    assert_string_equal(a.last_str, "(nil)");
    close_client(&loop);
    server_remove(&s);
}

static void test_redis_unreachable_at_start(void **state)
{
    (void)state;
    /* a loopback port nobody listens on: bind one, read it, close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ntohs(sa.sin_port));
    uv_loop_t loop;
    uv_loop_init(&loop);
    open_client(&loop, url, 50, NULL);
    assert_false(run_until(&loop, is_up, NULL, 500));
    struct answers a = {0};
    assert_int_equal(cmd(&a, "PING", NULL, NULL), SH_EBUSY);
    struct sh_redis_stats st;
    sh_redis_stats(client, &st);
    assert_int_equal(st.connects, 0);
    assert_true(st.refused >= 1);
    close_client(&loop);

    /* a bad address is refused at open */
    struct sh_redis_options o;
    sh_redis_options_init(&o);
    o.url = "rediss://127.0.0.1";
    struct sh_redis *r = NULL;
    assert_int_equal(sh_redis_open(&r, &loop, &o), SH_EINVAL);
    assert_null(r);
}

static void test_redis_tcp_cancel_and_close_in_flight(void **state)
{
    (void)state;
    struct server s = {0};
    server_start(&s, NULL);
    /* a TCP listener of this server too, on a free loopback port */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
    redisContext *admin = redisConnectUnix(s.sock);
    assert_non_null(admin);
    redisReply *rep = redisCommand(admin, "CONFIG SET port %s", port);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    redisFree(admin);

    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[64];
    snprintf(url, sizeof url, "redis://localhost:%s/1", port); /* a name, resolved off the loop */
    open_client(&loop, url, 2000, NULL);
    assert_true(run_until(&loop, is_up, NULL, 5000));

    static struct answers a, cancelled;
    memset(&a, 0, sizeof a);
    memset(&cancelled, 0, sizeof cancelled);
    struct sh_redis_call *call = NULL;
    const char *argv[] = {"SET", "db1key", "x"};
    size_t lens[] = {3, 6, 1};
    assert_int_equal(sh_redis_command(client, on_answer, &cancelled, 3, argv, lens, &call), 0);
    sh_redis_cancel(call);
    assert_int_equal(cmd(&a, "GET", "db1key", NULL), 0);
    assert_true(run_until(&loop, have_answers, &(struct want){&a, 1}, 5000));
    assert_int_equal(cancelled.n, 0);     /* cancelled: never called */
    assert_string_equal(a.last_str, "x"); /* but it ran, on db 1 */

    /* close with commands in flight: each completes as a miss, nothing leaks */
    memset(&a, 0, sizeof a);
    for (int i = 0; i < 10; i++)
        assert_int_equal(cmd(&a, "INCR", "n", NULL), 0);
    sh_redis_close(client);
    client = NULL;
    assert_int_equal(a.n, 10);
    assert_int_equal(a.nulls, 10);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    server_remove(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_round_trip_and_pipelined_order),
        cmocka_unit_test(test_redis_password),
        cmocka_unit_test(test_redis_stopped_server_breaker),
        cmocka_unit_test(test_redis_killed_and_restarted),
        cmocka_unit_test(test_redis_unreachable_at_start),
        cmocka_unit_test(test_redis_tcp_cancel_and_close_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
