/*
 * Rate limits and the hashing pool's bound, as a client sees them: 429 with
 * Retry-After and X-RateLimit-* per account on sign-in, per client address
 * on the auth routes (sign-up included) and, when configured, on every route;
 * the address taken from X-Forwarded-For only behind a trusted proxy;
 * exempt addresses and superusers never limited; a full hash queue answered
 * 503 with Retry-After (one hash thread, a queue of one); sign-ins whose
 * client closed the connection while they waited for the pool are dropped
 * before they are hashed (the log counts them) and the pool goes on serving;
 * bad flag values refused at start with exit status 2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_auth_client.h"

static const char schema[] =
    "[{'name':'users','type':'auth','fields':[],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':null,'deleteRule':null}]";

static struct rc_resp *login(struct it_conn *c, const char *xff, const char *identity,
                             const char *password)
{
    return ac_reqh(c, "POST", "/api/collections/users/auth-with-password",
                   xff ? it_sprintf("X-Forwarded-For: %s\r\n", xff) : NULL,
                   it_sprintf("{\"identity\":\"%s\",\"password\":\"%s\"}", identity, password));
}

static void assert_429(const struct rc_resp *r, const char *limit)
{
    rc_assert_error(r, 429, NULL, NULL);
    const char *ra = it_resp_header(r->raw, "Retry-After");
    assert_non_null(ra);
    assert_true(atoi(ra) >= 1);
    assert_string_equal(it_resp_header(r->raw, "X-RateLimit-Limit"), limit);
    assert_string_equal(it_resp_header(r->raw, "X-RateLimit-Remaining"), "0");
    assert_non_null(it_resp_header(r->raw, "X-RateLimit-Reset"));
}

static void stop(struct it_server *s, struct it_conn *c)
{
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

static void test_identity_limit(void **state)
{
    (void)state;
    struct it_server *s =
        rc_server(rc_q(schema), "--rate-limit-identity", "3/1h", "--rate-limit-auth", "off", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    ac_signup(c, "users", "ann@example.com", "anns password", NULL);
    for (int i = 0; i < 3; i++) {
        struct rc_resp *r = login(c, NULL, "ann@example.com", "wrong password");
        rc_assert_error(r, 400, NULL, NULL);
        assert_string_equal(it_resp_header(r->raw, "X-RateLimit-Limit"), "3");
    }
    /* the account is closed to guesses for a while, in any case, even with
     * the right password; other accounts are not */
    assert_429(login(c, NULL, "ANN@example.com", "anns password"), "3");
    assert_429(login(c, NULL, "ann@example.com", "wrong password"), "3");
    rc_assert_error(login(c, NULL, "bob@example.com", "bobs password"), 400, NULL, NULL);
    stop(s, c);
}

static void test_ip_limit_and_proxies(void **state)
{
    (void)state;
    /* behind a trusted proxy: the client is the X-Forwarded-For address */
    struct it_server *s =
        rc_server(rc_q(schema), "--rate-limit-auth", "3/1m", "--rate-limit-identity", "off",
                  "--trusted-proxy", "127.0.0.1/32, ::1", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    for (int i = 0; i < 3; i++)
        rc_assert_error(login(c, "10.0.0.1", "x@example.com", "12345678"), 400, NULL, NULL);
    assert_429(login(c, "10.0.0.1", "y@example.com", "12345678"), "3");
    /* the right-most untrusted entry counts: 10.0.0.1 again */
    assert_429(login(c, "10.0.0.2, 10.0.0.1, 127.0.0.1", "y@example.com", "12345678"), "3");
    rc_assert_error(login(c, "10.0.0.2", "y@example.com", "12345678"), 400, NULL, NULL);
    /* sign-ups count against the same limit */
    struct rc_resp *r =
        ac_reqh(c, "POST", "/api/collections/users/records", "X-Forwarded-For: 10.0.0.2\r\n",
                rc_q("{'email':'n1@example.com','password':'12345678',"
                     "'passwordConfirm':'12345678'}"));
    assert_int_equal(r->status, 200);
    rc_assert_error(login(c, "10.0.0.2", "y@example.com", "12345678"), 400, NULL, NULL);
    assert_429(ac_reqh(c, "POST", "/api/collections/users/records", "X-Forwarded-For: 10.0.0.2\r\n",
                       rc_q("{'email':'n2@example.com','password':'12345678',"
                            "'passwordConfirm':'12345678'}")),
               "3");
    /* reading is not an auth route */
    assert_int_equal(
        ac_reqh(c, "GET", "/api/collections/users/records", "X-Forwarded-For: 10.0.0.2\r\n", NULL)
            ->status,
        200);
    stop(s, c);

    /* without a trusted proxy, X-Forwarded-For is the client's to invent:
     * ignored */
    s = rc_server(rc_q(schema), "--rate-limit-auth", "3/1m", "--rate-limit-identity", "off", NULL);
    assert_non_null(s);
    c = it_conn_open(s);
    for (int i = 0; i < 3; i++)
        rc_assert_error(login(c, it_sprintf("10.0.1.%d", i), "x@example.com", "12345678"), 400,
                        NULL, NULL);
    assert_429(login(c, "10.0.1.9", "x@example.com", "12345678"), "3");
    stop(s, c);
}

static void test_general_limit_exempt_superuser(void **state)
{
    (void)state;
    struct it_server *s =
        rc_server(rc_q(schema), "--rate-limit-all", "4/1m", "--rate-limit-auth", "off",
                  "--trusted-proxy", "127.0.0.1", "--rate-limit-exempt", "10.9.0.0/16", NULL);
    assert_non_null(s);
    ac_superuser(s, "root@example.com", "root password");
    struct it_conn *c = it_conn_open(s);
    const char *a = "X-Forwarded-For: 10.1.0.1\r\n";
    for (int i = 0; i < 4; i++)
        assert_int_equal(ac_reqh(c, "GET", "/api/health", a, NULL)->status, 200);
    struct rc_resp *r = ac_reqh(c, "GET", "/api/health", a, NULL);
    assert_429(r, "4");
    assert_429(ac_reqh(c, "GET", "/api/collections/users/records", a, NULL), "4");
    /* an exempt address is never limited */
    for (int i = 0; i < 8; i++)
        assert_int_equal(
            ac_reqh(c, "GET", "/api/health", "X-Forwarded-For: 10.9.3.4\r\n", NULL)->status, 200);
    /* nor is a superuser, from any address */
    struct rc_resp *l = ac_reqh(c, "POST", "/api/collections/_superusers/auth-with-password",
                                "X-Forwarded-For: 10.9.3.4\r\n",
                                rc_q("{'identity':'root@example.com','password':'root password'}"));
    assert_int_equal(l->status, 200);
    const char *h =
        it_sprintf("X-Forwarded-For: 10.1.0.1\r\nAuthorization: %s\r\n", rc_str(l->json, "token"));
    for (int i = 0; i < 8; i++)
        assert_int_equal(ac_reqh(c, "GET", "/api/collections/users/records", h, NULL)->status, 200);
    stop(s, c);
}

static void test_hash_queue_full_503(void **state)
{
    (void)state;
    struct it_server *s =
        rc_server(rc_q(schema), "--hash-threads", "1", "--hash-queue", "1", "--rate-limit-auth",
                  "off", "--rate-limit-identity", "off", NULL);
    assert_non_null(s);
    enum { N = 8 };
    struct it_conn *c[N];
    const char *body = "{\"identity\":\"nobody@example.com\",\"password\":\"12345678\"}";
    for (int i = 0; i < N; i++) {
        c[i] = it_conn_open(s);
        assert_non_null(c[i]);
    }
    /* All at once: one hash runs, one waits, the rest are refused at once. */
    for (int i = 0; i < N; i++)
        assert_int_equal(it_conn_sendf(c[i],
                                       "POST /api/collections/users/auth-with-password HTTP/1.1\r\n"
                                       "Host: t\r\nContent-Type: application/json\r\n"
                                       "Content-Length: %zu\r\n\r\n%s",
                                       strlen(body), body),
                         IT_OK);
    int busy = 0, failed = 0;
    for (int i = 0; i < N; i++) {
        struct it_resp *r = it_conn_read(c[i], 0, 20000);
        assert_non_null(r);
        if (r->status == 503) {
            busy++;
            assert_non_null(it_resp_header(r, "Retry-After"));
            assert_int_equal(it_resp_check_error(r, 503), 0);
        } else {
            assert_int_equal(r->status, 400);
            failed++;
        }
    }
    it_note("%d of %d sign-ins refused with 503 while the pool was full", busy, N);
    assert_true(busy >= 1);
    assert_true(failed >= 1);
    /* the pool drains: the next one is answered normally */
    struct rc_resp *r = rc_req(c[0], "POST", "/api/collections/users/auth-with-password", body);
    assert_int_equal(r->status, 400);
    for (int i = 0; i < N; i++)
        it_conn_close(c[i]);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

/* The dropped jobs the server logged ("dropped N waiting ..."), summed. */
static int dropped_in_log(const struct it_server *s)
{
    int total = 0;
    const char *needle = "hash pool: dropped ";
    for (const char *p = it_server_log(s); (p = strstr(p, needle)); p += strlen(needle))
        total += atoi(p + strlen(needle));
    return total;
}

static void test_gone_clients_not_hashed(void **state)
{
    (void)state;
    /* one thread and a slow hash, so the others wait while the first runs */
    struct it_server *s =
        rc_server(rc_q(schema), "--hash-threads", "1", "--hash-queue", "16", "--argon2-memory",
                  "32MiB", "--argon2-iterations", "6", "--rate-limit-auth", "off",
                  "--rate-limit-identity", "off", "--rate-limit-identity-ip", "off", NULL);
    assert_non_null(s);
    enum { N = 6 };
    struct it_conn *c[N];
    const char *body = "{\"identity\":\"nobody@example.com\",\"password\":\"12345678\"}";
    for (int i = 0; i < N; i++) {
        c[i] = it_conn_open(s);
        assert_non_null(c[i]);
        assert_int_equal(it_conn_sendf(c[i],
                                       "POST /api/collections/users/auth-with-password HTTP/1.1\r\n"
                                       "Host: t\r\nContent-Type: application/json\r\n"
                                       "Content-Length: %zu\r\n\r\n%s",
                                       strlen(body), body),
                         IT_OK);
    }
    /* every client but the first gives up at once (closes without waiting) */
    for (int i = 1; i < N; i++)
        it_conn_abort(c[i]);
    struct it_resp *r = it_conn_read(c[0], 0, 30000);
    assert_non_null(r);
    assert_int_equal(r->status, 400); /* the first is answered as always */
    /* The one thread took the next job as the first ended, before the loop
     * could look; every later one was dropped unhashed. */
    assert_true(it_server_wait_log(s, "whose client had gone", 10000));
    for (int i = 0; i < 100 && dropped_in_log(s) < N - 2; i++)
        usleep(20000);
    int dropped = dropped_in_log(s);
    it_note("%d of %d waiting sign-ins dropped after their clients left", dropped, N - 1);
    assert_true(dropped >= N - 2);
    assert_true(dropped <= N - 1);
    /* the pool goes on: the next sign-in is hashed and answered */
    struct rc_resp *again = rc_req(c[0], "POST", "/api/collections/users/auth-with-password", body);
    assert_int_equal(again->status, 400);
    it_conn_close(c[0]);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

static void test_bad_flags(void **state)
{
    (void)state;
    struct it_server *s = it_server_new();
    assert_non_null(s);
    const char *bad[][2] = {
        {"--trusted-proxy", "10.0.0.0/99"}, {"--rate-limit-exempt", "nonsense"},
        {"--rate-limit-auth", "5"},         {"--rate-limit-identity", "0/1m"},
        {"--rate-limit-all", "5/1y"},       {"--hash-queue", "0"},
        {"--hash-sched", "fifo"},           {"--argon2-memory", "4k"},
        {"--argon2-iterations", "0"},       {"--argon2-iterations", "100000"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *err = NULL;
        int rc = ac_run(NULL, &err, "serve", "--listen", "127.0.0.1:0", "--dir", s->data_dir,
                        bad[i][0], bad[i][1], NULL);
        if (rc != 2)
            fail_msg("%s %s: exit %d: %s", bad[i][0], bad[i][1], rc, err);
        assert_non_null(strstr(err, bad[i][0]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_identity_limit),
        it_test(test_ip_limit_and_proxies),
        it_test(test_general_limit_exempt_superuser),
        it_test(test_hash_queue_full_503),
        it_test(test_gone_clients_not_hashed),
        it_test(test_bad_flags),
    };
    return cmocka_run_group_tests_name("auth_limits", tests, NULL, NULL);
}
