/*
 * Expensive lists shared through a real redis-server (started here on a unix
 * socket of its own, stopped by pid): a repeated list is answered from
 * Redis (`Cache-Status: stagehand; hit`, the same bytes); an acknowledged
 * write is seen by the very next list (never a stale hit); each caller has
 * its own entries (a user's answer never reaches a guest or another user);
 * a filter that moves with the clock is never cached; and Redis stopped,
 * killed and restarted empty costs no request and serves nothing stale.
 *
 * Then a group: two instances on one data directory with Redis (and a third
 * without it refused): a write on one is read on the other at once, a list
 * computed on one is served from Redis on the other, a logout on one is
 * honoured by the other from the next request, so is a rule changed through
 * one, a change event reaches the subscribers of both instances exactly once
 * under the receiving instance's rules, writes landing on both at once all
 * succeed, and a rate limit is the
 * group's (a client alternating between instances gets it once, not twice).
 */
#include <fcntl.h>
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

#include "test_auth_client.h"
#include "test_group_servers.h"

static const char schema[] =
    "["
    "{'name':'members','type':'auth','fields':[],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':null,'deleteRule':null},"
    "{'name':'notes','type':'base','fields':["
    "  {'name':'tag','type':'select','values':['a','b'],'maxSelect':1},"
    "  {'name':'n','type':'number'},"
    "  {'name':'owner','type':'relation','collectionId':'members','maxSelect':1}],"
    "  'listRule':'tag = \\'a\\' || owner = @request.auth.id','viewRule':'',"
    "  'createRule':'','updateRule':'','deleteRule':''}"
    "]";

/* ---- the server ---- */

static struct it_server *srv;
static struct it_conn *conn;
static const char *alice, *bob, *alice_id;

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    if (redis_start())
        return -1;
    it_defer(redis_cleanup, NULL);
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", "--redis",
                    it_sprintf("unix:%s", redis_sock), "--redis-min-cost", "0", "--redis-timeout",
                    "200ms", "--redis-backoff-max", "200ms", NULL);
    if (!srv || !it_server_wait_log(srv, "connected to unix:", 5000))
        return -1;
    conn = it_conn_open(srv);
    alice_id = ac_signup(conn, "members", "alice@example.com", "password123", NULL);
    ac_signup(conn, "members", "bob@example.com", "password123", NULL);
    alice = ac_login(conn, "members", "alice@example.com", "password123", NULL);
    bob = ac_login(conn, "members", "bob@example.com", "password123", NULL);
    for (int i = 0; i < 30; i++)
        rc_create(conn, "notes",
                  it_sprintf("{'tag':'%s','n':%d%s}", i % 3 ? "a" : "b", i,
                             i % 3 ? "" : it_sprintf(",'owner':'%s'", alice_id)));
    return 0;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

struct answer {
    int total;
    const char *cache; /* Cache-Status, or "" */
    const char *body;
};

static struct answer list_as(const char *filter, const char *token)
{
    const char *path =
        it_sprintf("/api/collections/notes/records?perPage=5&sort=-n&filter=%s", rc_enc(filter));
    struct rc_resp *r = ac_req(conn, "GET", path, token, NULL);
    const cJSON *j = rc_ok(r, 200);
    const char *cs = it_resp_header(r->raw, "Cache-Status");
    return (struct answer){(int)rc_num(j, "totalItems"), cs ? it_strdup(cs) : "", r->raw->body};
}

static bool hit(const struct answer *a)
{
    return strcmp(a->cache, "stagehand; hit") == 0;
}

static bool list_hit(const char *filter, const char *token)
{
    struct answer a = list_as(filter, token);
    return hit(&a);
}

/* ---- tests ---- */

static void test_cache_repeated_list_is_a_hit(void **state)
{
    (void)state;
    struct answer first = list_as("n >= 3", NULL);
    assert_false(hit(&first)); /* computed, timed, stored */
    struct answer second = list_as("n >= 3", NULL);
    assert_true(hit(&second));
    assert_string_equal(second.body, first.body); /* the same bytes */
    assert_int_equal(second.total, first.total);
    /* another filter is another entry */
    assert_false(list_hit("n >= 4", NULL));
}

static void test_cache_never_stale_after_a_write(void **state)
{
    (void)state;
    const char *f = "n >= 100";
    struct answer a = list_as(f, NULL);
    a = list_as(f, NULL);
    assert_true(hit(&a));
    int before = a.total;
    for (int round = 0; round < 5; round++) {
        rc_create(conn, "notes", it_sprintf("{'tag':'a','n':%d}", 100 + round));
        struct answer after = list_as(f, NULL); /* the next request after the ack */
        assert_false(hit(&after));
        assert_int_equal(after.total, before + round + 1);
        struct answer again = list_as(f, NULL);
        assert_true(hit(&again));
        assert_int_equal(again.total, after.total);
    }
    /* a write to another collection also moves the versions (the key reads them all) */
    ac_signup(conn, "members", "carol@example.com", "password123", NULL);
    assert_false(list_hit(f, NULL));
}

static void test_cache_each_caller_its_own(void **state)
{
    (void)state;
    const char *f = "n >= 0";
    struct answer g1 = list_as(f, NULL), g2 = list_as(f, NULL);
    assert_true(hit(&g2));
    struct answer a1 = list_as(f, alice), a2 = list_as(f, alice);
    assert_false(hit(&a1)); /* not the guest's entry */
    assert_true(hit(&a2));
    assert_true(a1.total > g1.total); /* alice also sees her 'b' notes */
    assert_int_equal(a2.total, a1.total);
    struct answer b1 = list_as(f, bob), b2 = list_as(f, bob);
    assert_false(hit(&b1)); /* not alice's */
    assert_int_equal(b1.total, g1.total);
    assert_int_equal(b2.total, g1.total);
    assert_null(strstr(b2.body, "\"tag\":\"b\""));
}

static void test_cache_clock_filters_never_cached(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        struct answer a = list_as("created <= @now", NULL);
        assert_string_equal(a.cache, "");
        assert_true(a.total > 0);
    }
}

/* A Redis that refuses the password, or nobody listening: a warning, then the
 * server serves from SQLite. */
static void test_cache_bad_redis_at_start(void **state)
{
    (void)state;
    const char *urls[] = {it_sprintf("unix:%s?password=wrong", redis_sock), "redis://127.0.0.1:1"};
    for (int i = 0; i < 2; i++) {
        struct it_server *s =
            rc_server(rc_q(schema), "--redis", urls[i], "--redis-backoff-max", "200ms", NULL);
        assert_non_null(s);
        assert_true(it_server_wait_log(s, "serving without Redis", 5000));
        struct it_conn *c = it_conn_open(s);
        rc_ok(rc_req(c, "GET", "/api/health", NULL), 200);
        rc_ok(rc_req(c, "GET", "/api/collections/notes/records?filter=n%3E%3D0", NULL), 200);
        it_conn_close(c);
        assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    }
}

static void test_cache_redis_faults_cost_nothing(void **state)
{
    (void)state;
    const char *f = "n >= 1";
    list_as(f, NULL);
    assert_true(list_hit(f, NULL));

    /* stopped: each list waits at most the deadline, then is computed */
    kill(redis_pid, SIGSTOP);
    for (int i = 0; i < 8; i++) {
        int64_t t0 = it_now_ms();
        struct answer a = list_as(f, NULL);
        assert_false(hit(&a));
        assert_true(it_now_ms() - t0 < IT_SLOW(3000));
    }
    /* and a load meanwhile: four connections of pipelined lists and creates, none fails */
    struct it_conn *load[4];
    for (int k = 0; k < 4; k++) {
        load[k] = it_conn_open(srv);
        for (int i = 0; i < 10; i++) {
            const char *body = it_sprintf("{\"tag\":\"a\",\"n\":%d}", 600 + k * 10 + i);
            assert_int_equal(
                it_conn_sendf(load[k],
                              "GET /api/collections/notes/records?filter=n%%3E%%3D1 HTTP/1.1\r\n"
                              "Host: t\r\n\r\n"
                              "POST /api/collections/notes/records HTTP/1.1\r\nHost: t\r\n"
                              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                              strlen(body), body),
                0);
        }
    }
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 20; i++) {
            struct it_resp *r = it_conn_read(load[k], 0, 15000);
            assert_non_null(r);
            if (r->status != 200)
                fail_msg("request %d of connection %d during the stop: %d %s", i, k, r->status,
                         r->body);
        }
    kill(redis_pid, SIGCONT);
    it_server_wait_log(srv, "again", 5000);

    /* killed: no request fails; a write meanwhile; back empty: nothing stale */
    redis_kill();
    int before = list_as(f, NULL).total;
    rc_create(conn, "notes", "{'tag':'a','n':500}");
    assert_int_equal(list_as(f, NULL).total, before + 1);
    assert_int_equal(redis_start(), 0);
    assert_true(it_server_wait_log(srv, "connected to unix:", 5000));
    int64_t end = it_now_ms() + 5000;
    struct answer a;
    do { /* the client reconnects within its backoff */
        a = list_as(f, NULL);
        assert_int_equal(a.total, before + 1);
    } while (!hit(&a) && it_now_ms() < end);
    assert_true(hit(&a));
    assert_int_equal(a.total, before + 1);
}

/* ---- a group of two instances ---- */

static struct it_server *peer;

static int group2_setup(void **state)
{
    (void)state;
    it_group_begin();
    if (redis_start())
        return -1;
    it_defer(redis_cleanup, NULL);
    const char *url = it_sprintf("unix:%s", redis_sock);
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", "--redis", url,
                    "--redis-timeout", "200ms", "--redis-min-cost", "0", NULL);
    if (!srv)
        return -1;
    peer = it_server_new();
    const char *args[] = {
        "--dir",   srv->data_dir, "--sync",          "normal", "--rate-limit-auth", "off",
        "--redis", url,           "--redis-timeout", "200ms",  "--redis-min-cost",  "0",
        NULL};
    if (!peer || it_server_run(peer, args))
        return -1;
    return it_server_wait_log(srv, "connected to unix:", 5000) &&
                   it_server_wait_log(peer, "connected to unix:", 5000)
               ? 0
               : -1;
}

static void test_group_refuses_a_server_without_redis(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    int rc = ac_run(&out, &err, "serve", "--dir", srv->data_dir, "--listen", "127.0.0.1:0", NULL);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "--redis"));
}

static void test_group_shares_writes_lists_and_revocations(void **state)
{
    (void)state;
    struct it_conn *a = it_conn_open(srv), *b = it_conn_open(peer);
    /* read-your-writes across instances */
    const char *id = rc_create(a, "notes", "{'tag':'a','n':7000}");
    conn = b;
    const cJSON *j =
        rc_ok(rc_req(b, "GET", it_sprintf("/api/collections/notes/records/%s", id), NULL), 200);
    assert_int_equal((int)rc_num(j, "n"), 7000);

    /* a list computed on a is served from Redis on b */
    conn = a;
    struct answer on_a = list_as("n >= 7000", NULL);
    conn = b;
    struct answer on_b; /* a stores after it answered: its SET may land a moment later */
    int64_t until = it_now_ms() + 3000;
    do
        on_b = list_as("n >= 7000", NULL);
    while (!hit(&on_b) && it_now_ms() < until);
    assert_true(hit(&on_b));
    assert_string_equal(on_b.body, on_a.body);
    /* a write on b; a's next list counts it */
    rc_create(b, "notes", "{'tag':'a','n':7001}");
    conn = a;
    struct answer after = list_as("n >= 7000", NULL);
    assert_false(hit(&after));
    assert_int_equal(after.total, on_a.total + 1);

    /* a session ended on a is ended on b from the next request */
    const char *dave = ac_signup(a, "members", "dave@example.com", "password123", NULL);
    const char *tok = ac_login(a, "members", "dave@example.com", "password123", NULL);
    rc_create(a, "notes", it_sprintf("{'tag':'b','n':8000,'owner':'%s'}", dave));
    const char *mine = "/api/collections/notes/records?filter=n%3D8000";
    for (int i = 0; i < 3; i++) /* verified, then from b's token cache */
        assert_int_equal((int)rc_num(rc_ok(ac_req(b, "GET", mine, tok, NULL), 200), "totalItems"),
                         1);
    struct rc_resp *out = ac_req(a, "POST", "/api/collections/members/auth-logout", tok, NULL);
    assert_true(out->status == 204 || out->status == 200);
    /* b's next request: the token names no session any more, so a guest */
    assert_int_equal((int)rc_num(rc_ok(ac_req(b, "GET", mine, tok, NULL), 200), "totalItems"), 0);
}

static void test_group_schema_change_seen_at_once(void **state)
{
    (void)state;
    struct it_conn *a = it_conn_open(srv), *b = it_conn_open(peer);
    ac_superuser(srv, "root@example.com", "password123");
    const char *root = ac_login(a, "_superusers", "root@example.com", "password123", NULL);
    const char *path = "/api/collections/notes/records?perPage=1";
    rc_ok(rc_req(b, "GET", path, NULL), 200);
    /* a superuser on a closes the list to guests; b's next request knows */
    rc_ok(ac_req(a, "PATCH", "/api/collections/notes", root, "{\"listRule\":null}"), 200);
    rc_assert_error(rc_req(b, "GET", path, NULL), 403, NULL, NULL);
    rc_ok(ac_req(a, "PATCH", "/api/collections/notes", root,
                 "{\"listRule\":\"tag = 'a' || owner = @request.auth.id\"}"),
          200);
    rc_ok(rc_req(b, "GET", path, NULL), 200);
}

/* ---- realtime across the group ---- */

/* Opens an event stream on c; returns its client id. */
static const char *stream_open(struct it_conn *c)
{
    assert_int_equal(it_conn_sends(c, "GET /api/realtime HTTP/1.1\r\nHost: t\r\n\r\n"), IT_OK);
    int64_t end = it_now_ms() + IT_MS_IO;
    char *connect = NULL;
    while (it_now_ms() < end) {
        it_conn_fill(c, 100);
        char *p = c->buf ? strstr(c->buf + c->off, "event:PB_CONNECT") : NULL;
        if (p && strstr(p, "\n\n")) {
            connect = p;
            break;
        }
    }
    assert_non_null(connect);
    char *id = strstr(c->buf + c->off, "\nid:");
    assert_non_null(id);
    id += 4;
    char *out = it_strdup(id);
    out[strcspn(out, "\n")] = 0;
    c->off = (size_t)(strstr(connect, "\n\n") + 2 - c->buf);
    return out;
}

/* Messages on the stream within ms whose text holds every needle (NULL-ended). */
static int stream_count(struct it_conn *c, int ms, const char *a, const char *b)
{
    int64_t end = it_now_ms() + ms;
    int n = 0;
    while (it_now_ms() < end) {
        it_conn_fill(c, 50);
        char *start = c->buf ? c->buf + c->off : NULL;
        char *stop;
        while (start && (stop = strstr(start, "\n\n"))) {
            *stop = 0;
            if (strstr(start, a) && (!b || strstr(start, b)))
                n++;
            c->off = (size_t)(stop + 2 - c->buf);
            start = c->buf + c->off;
        }
    }
    return n;
}

static void subscribe_all(struct it_conn *c, const char *client)
{
    struct rc_resp *r =
        rc_req(c, "POST", "/api/realtime",
               it_sprintf("{\"clientId\":\"%s\",\"subscriptions\":[\"notes/*\"]}", client));
    assert_int_equal(r->status, 204);
}

static void test_group_realtime_across_instances(void **state)
{
    (void)state;
    struct it_conn *a = it_conn_open(srv), *b = it_conn_open(peer);
    struct it_conn *sa = it_conn_open(srv), *sb = it_conn_open(peer);
    subscribe_all(a, stream_open(sa));
    subscribe_all(b, stream_open(sb));
    usleep(300 * 1000); /* the subscriber connections are up (they were before the streams) */

    /* a write on a: its own stream and b's each get it exactly once */
    const char *id1 = rc_create(a, "notes", "{'tag':'a','n':8101}");
    assert_int_equal(stream_count(sb, 1500, id1, "\"action\":\"create\""), 1);
    assert_int_equal(stream_count(sa, 300, id1, "\"action\":\"create\""), 1);
    /* and the other way round, with an update and a delete */
    const char *id2 = rc_create(b, "notes", "{'tag':'a','n':8102}");
    rc_ok(rc_req(b, "PATCH", it_sprintf("/api/collections/notes/records/%s", id2), "{\"n\":8103}"),
          200);
    rc_ok(rc_req(a, "DELETE", it_sprintf("/api/collections/notes/records/%s", id1), NULL), 204);
    assert_int_equal(stream_count(sa, 1500, id2, "\"n\":8103"), 1);
    assert_int_equal(stream_count(sb, 1500, id1, "\"action\":\"delete\""), 1);
    /* the rules of the receiving side: a hidden note ('b', no owner) reaches no guest */
    const char *hidden = rc_create(a, "notes", "{'tag':'b','n':8104}");
    rc_create(a, "notes", "{'tag':'a','n':8105}"); /* a visible one after it, as a marker */
    assert_int_equal(stream_count(sb, 1500, "8105", NULL), 1);
    assert_int_equal(stream_count(sb, 10, hidden, NULL), 0);

    /* only b listens now: a's writes still reach b's stream (a learnt b's interest) */
    it_conn_abort(sa);
    usleep(300 * 1000);
    const char *id3 = rc_create(a, "notes", "{'tag':'a','n':8106}");
    assert_int_equal(stream_count(sb, 1500, id3, NULL), 1);
}

static void test_group_writes_on_both_at_once(void **state)
{
    (void)state;
    enum { N = 40 };
    struct it_conn *cs[4] = {it_conn_open(srv), it_conn_open(peer), it_conn_open(srv),
                             it_conn_open(peer)};
    /* pipelined creates on four connections, two per instance */
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < N; i++) {
            const char *body = it_sprintf("{\"tag\":\"a\",\"n\":%d}", 9000 + c * N + i);
            assert_int_equal(it_conn_sendf(cs[c],
                                           "POST /api/collections/notes/records HTTP/1.1\r\n"
                                           "Host: x\r\nContent-Type: application/json\r\n"
                                           "Content-Length: %zu\r\n\r\n%s",
                                           strlen(body), body),
                             0);
        }
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < N; i++) {
            struct it_resp *r = it_conn_read(cs[c], 0, 30000);
            assert_non_null(r);
            if (r->status != 200)
                fail_msg("write %d on connection %d: %d %s", i, c, r->status, r->body);
        }
    conn = cs[1];
    struct answer all = list_as("n >= 9000 && n < 10000", NULL);
    assert_int_equal(all.total, 4 * N); /* every acknowledged write, seen from either */
    conn = cs[0];
    assert_int_equal(list_as("n >= 9000 && n < 10000", NULL).total, 4 * N);
}

/* ---- rate limits counted for the group ---- */

static int group3_setup(void **state)
{
    (void)state;
    it_group_begin();
    if (redis_start())
        return -1;
    it_defer(redis_cleanup, NULL);
    const char *url = it_sprintf("unix:%s", redis_sock);
    srv = rc_server(rc_q(schema), "--rate-limit-auth", "10/1m", "--redis", url, "--redis-timeout",
                    "200ms", NULL);
    if (!srv)
        return -1;
    peer = it_server_new();
    const char *args[] = {"--dir",           srv->data_dir, "--rate-limit-auth",
                          "10/1m",           "--redis",     url,
                          "--redis-timeout", "200ms",       NULL};
    if (!peer || it_server_run(peer, args))
        return -1;
    return it_server_wait_log(srv, "connected to unix:", 5000) &&
                   it_server_wait_log(peer, "connected to unix:", 5000)
               ? 0
               : -1;
}

static void test_group_rate_limit_is_the_groups(void **state)
{
    (void)state;
    struct it_conn *cs[2] = {it_conn_open(srv), it_conn_open(peer)};
    int allowed = 0, refused = 0;
    for (int i = 0; i < 30; i++) { /* alternately on each instance, from one address */
        struct rc_resp *r =
            rc_req(cs[i % 2], "POST", "/api/collections/members/request-password-reset",
                   "{\"email\":\"nobody@example.com\"}");
        if (r->status == 429)
            refused++;
        else
            allowed++;
    }
    it_note("10/1m on two instances: %d allowed, %d refused", allowed, refused);
    /* alone, each instance would allow 10 (20 in all); shared, the group allows 10 plus at
     * most what one round trip to Redis lets through per instance */
    assert_true(allowed >= 10);
    assert_true(allowed <= 12);
    assert_int_equal(allowed + refused, 30);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        it_test_each(test_cache_repeated_list_is_a_hit, open_conn),
        it_test_each(test_cache_never_stale_after_a_write, open_conn),
        it_test_each(test_cache_each_caller_its_own, open_conn),
        it_test_each(test_cache_clock_filters_never_cached, open_conn),
        it_test_each(test_cache_bad_redis_at_start, open_conn),
        it_test_each(test_cache_redis_faults_cost_nothing, open_conn),
    };
    const struct CMUnitTest group[] = {
        it_test(test_group_refuses_a_server_without_redis),
        it_test(test_group_shares_writes_lists_and_revocations),
        it_test(test_group_schema_change_seen_at_once),
        it_test(test_group_realtime_across_instances),
        it_test(test_group_writes_on_both_at_once),
    };
    int failed = cmocka_run_group_tests_name("redis cache", tests, group_setup, it_group_teardown);
    failed += cmocka_run_group_tests_name("two instances, one directory", group, group2_setup,
                                          it_group_teardown);
    const struct CMUnitTest limits[] = {it_test(test_group_rate_limit_is_the_groups)};
    failed += cmocka_run_group_tests_name("rate limits of the group", limits, group3_setup,
                                          it_group_teardown);
    return failed;
}
