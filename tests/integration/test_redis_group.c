/*
 * One app served by a group: a real redis-server, three stagehand instances
 * on one data directory (each with --redis and --trusted-proxy), and a real
 * nginx in front of them proxying round-robin, all on loopback ports of the
 * test's own. Every request goes through nginx, so consecutive requests of
 * one client land on different instances: a record created is read back at
 * once wherever the read lands; a list computed on one instance is served
 * from Redis by the others; a logout and a password change hold on every
 * instance from the next request; a rate limit counts the client's requests
 * on all three together, by the address nginx forwarded; and reads and
 * writes keep succeeding while Redis is stopped and killed meanwhile.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_auth_client.h"
#include "test_group_servers.h"

#define INSTANCES 3

static const char schema[] =
    "["
    "{'name':'members','type':'auth','fields':[],"
    "  'listRule':'id = @request.auth.id','viewRule':'id = @request.auth.id','createRule':'',"
    "  'updateRule':'id = @request.auth.id','deleteRule':null},"
    "{'name':'notes','type':'base','fields':["
    "  {'name':'n','type':'number'},"
    "  {'name':'owner','type':'relation','collectionId':'members','maxSelect':1}],"
    "  'listRule':'owner = \\'\\' || owner = @request.auth.id','viewRule':'',"
    "  'createRule':'','updateRule':'','deleteRule':''}"
    "]";

static struct it_server *inst[INSTANCES];
static int front; /* nginx's port */

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    if (redis_start())
        return -1;
    it_defer(redis_cleanup, NULL);
    const char *url = it_sprintf("unix:%s", redis_sock);
    inst[0] =
        rc_server(rc_q(schema), "--redis", url, "--redis-timeout", "200ms", "--redis-min-cost", "0",
                  "--trusted-proxy", "127.0.0.1/32", "--rate-limit-auth", "12/1m", NULL);
    if (!inst[0])
        return -1;
    int ports[INSTANCES] = {inst[0]->port};
    for (int i = 1; i < INSTANCES; i++) {
        inst[i] = it_server_new();
        const char *args[] = {"--dir",
                              inst[0]->data_dir,
                              "--redis",
                              url,
                              "--redis-timeout",
                              "200ms",
                              "--redis-min-cost",
                              "0",
                              "--trusted-proxy",
                              "127.0.0.1/32",
                              "--rate-limit-auth",
                              "12/1m",
                              NULL};
        if (!inst[i] || it_server_run(inst[i], args))
            return -1;
        ports[i] = inst[i]->port;
    }
    for (int i = 0; i < INSTANCES; i++)
        if (!it_server_wait_log(inst[i], "connected to unix:", 5000))
            return -1;
    front = nginx_front(inst[0]->dir, ports, INSTANCES);
    return front > 0 ? 0 : -1;
}

/* A connection to nginx (as a client of the app). */
static struct it_conn *app(void)
{
    struct it_server fake = {0};
    snprintf(fake.host, sizeof fake.host, "127.0.0.1");
    fake.port = front;
    struct it_conn *conn = it_conn_open(&fake);
    assert_non_null(conn);
    return conn;
}

/* Instances that logged an access line containing needle. */
static int instances_logging(const char *needle)
{
    int n = 0;
    for (int i = 0; i < INSTANCES; i++)
        n += it_log_count(it_server_log(inst[i]), needle, NULL) > 0;
    return n;
}

static void test_group_read_your_writes_through_nginx(void **state)
{
    (void)state;
    struct it_conn *c = app();
    for (int i = 0; i < 12; i++) {
        const char *id = rc_create(c, "notes", it_sprintf("{'n':%d}", i));
        const cJSON *j =
            rc_ok(rc_req(c, "GET", it_sprintf("/api/collections/notes/records/%s", id), NULL), 200);
        assert_int_equal((int)rc_num(j, "n"), i);
    }
    /* the requests did spread over the instances */
    usleep(400 * 1000); /* access logs are flushed every 200 ms */
    assert_int_equal(instances_logging("path=/api/collections/notes/records"), INSTANCES);
}

static void test_group_lists_shared_through_redis(void **state)
{
    (void)state;
    struct it_conn *c = app();
    const char *path = "/api/collections/notes/records?filter=n%3E%3D0&sort=-n&perPage=5";
    int hits = 0;
    const char *first = NULL;
    for (int i = 0; i < 3 * INSTANCES; i++) {
        struct rc_resp *r = rc_req(c, "GET", path, NULL);
        rc_ok(r, 200);
        const char *cs = it_resp_header(r->raw, "Cache-Status");
        if (cs && strcmp(cs, "stagehand; hit") == 0)
            hits++;
        if (!first)
            first = r->raw->body;
        else
            assert_string_equal(r->raw->body, first); /* the same answer everywhere */
    }
    /* computed once (or a few times while the first store lands), served by all */
    assert_true(hits >= 3 * INSTANCES - INSTANCES);
    /* a write through any instance: the next list, wherever it lands, counts it */
    const cJSON *before = rc_ok(rc_req(c, "GET", path, NULL), 200);
    rc_create(c, "notes", "{'n':1000}");
    const cJSON *after = rc_ok(rc_req(c, "GET", path, NULL), 200);
    assert_int_equal((int)rc_num(after, "totalItems"), (int)rc_num(before, "totalItems") + 1);
}

static int my_notes(struct it_conn *c, const char *token)
{
    const cJSON *j =
        rc_ok(ac_req(c, "GET", "/api/collections/notes/records?filter=n%3D5000", token, NULL), 200);
    return (int)rc_num(j, "totalItems");
}

static void test_group_revocations_everywhere(void **state)
{
    (void)state;
    struct it_conn *c = app();
    const char *id = ac_signup(c, "members", "erin@example.com", "password123", NULL);
    const char *tok = ac_login(c, "members", "erin@example.com", "password123", NULL);
    rc_create(c, "notes", it_sprintf("{'n':5000,'owner':'%s'}", id));
    for (int i = 0; i < 2 * INSTANCES; i++) /* each instance verifies, then caches it */
        assert_int_equal(my_notes(c, tok), 1);
    struct rc_resp *out = ac_req(c, "POST", "/api/collections/members/auth-logout", tok, NULL);
    assert_true(out->status == 204 || out->status == 200);
    for (int i = 0; i < 2 * INSTANCES; i++) /* wherever it lands: a guest now */
        assert_int_equal(my_notes(c, tok), 0);

    /* a password change through one instance ends the other sessions on all */
    const char *t1 = ac_login(c, "members", "erin@example.com", "password123", NULL);
    const char *t2 = ac_login(c, "members", "erin@example.com", "password123", NULL);
    for (int i = 0; i < 2 * INSTANCES; i++)
        assert_int_equal(my_notes(c, t2), 1);
    rc_ok(ac_req(c, "PATCH", it_sprintf("/api/collections/members/records/%s", id), t1,
                 rc_q("{'oldPassword':'password123','password':'password456',"
                      "'passwordConfirm':'password456'}")),
          200);
    for (int i = 0; i < 2 * INSTANCES; i++)
        assert_int_equal(my_notes(c, t2), 0);
}

static void test_group_rate_limit_through_nginx(void **state)
{
    (void)state;
    struct it_conn *c = app();
    int allowed = 0;
    for (int i = 0; i < 36; i++) { /* as a client nginx sees at 203.0.113.7 */
        struct rc_resp *r =
            ac_reqh(c, "POST", "/api/collections/members/request-password-reset",
                    "X-Forwarded-For: 203.0.113.7\r\n", "{\"email\":\"nobody@example.com\"}");
        allowed += r->status != 429;
    }
    it_note("12/1m through nginx on %d instances: %d of 36 allowed", INSTANCES, allowed);
    /* counted apart, each instance would allow 12 (36); counted by the group: about 12 */
    assert_true(allowed >= 12);
    assert_true(allowed <= 12 + INSTANCES);
}

static void test_group_redis_faults_cost_no_request(void **state)
{
    (void)state;
    struct it_conn *c = app();
    const char *path = "/api/collections/notes/records?filter=n%3E%3D0&perPage=3";
    int total = (int)rc_num(rc_ok(rc_req(c, "GET", path, NULL), 200), "totalItems");
    kill(redis_pid, SIGSTOP);
    for (int i = 0; i < 10; i++) { /* reads wait at most the deadline; writes never wait */
        rc_create(c, "notes", "{'n':1}");
        total++;
        assert_int_equal((int)rc_num(rc_ok(rc_req(c, "GET", path, NULL), 200), "totalItems"),
                         total);
    }
    redis_kill();
    for (int i = 0; i < 6; i++) {
        rc_create(c, "notes", "{'n':2}");
        total++;
        assert_int_equal((int)rc_num(rc_ok(rc_req(c, "GET", path, NULL), 200), "totalItems"),
                         total);
    }
    assert_int_equal(redis_start(), 0); /* back, empty */
    int64_t end = it_now_ms() + 5000;
    int hits = 0;
    while (it_now_ms() < end && hits < 2) {
        struct rc_resp *r = rc_req(c, "GET", path, NULL);
        assert_int_equal((int)rc_num(rc_ok(r, 200), "totalItems"), total); /* never stale */
        const char *cs = it_resp_header(r->raw, "Cache-Status");
        hits += cs && strcmp(cs, "stagehand; hit") == 0;
        usleep(20 * 1000); /* polls until the instances reconnect (their backoff) */
    }
    assert_true(hits >= 1); /* and the group uses it again */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        it_test(test_group_read_your_writes_through_nginx),
        it_test(test_group_lists_shared_through_redis),
        it_test(test_group_revocations_everywhere),
        it_test(test_group_rate_limit_through_nginx),
        it_test(test_group_redis_faults_cost_no_request),
    };
    return cmocka_run_group_tests_name("three instances behind nginx", tests, group_setup,
                                       it_group_teardown);
}
