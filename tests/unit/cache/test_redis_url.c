/*
 * Tests of the Redis address parser: the forms users write (host, port, db,
 * password, ACL user, IPv6, unix socket with options), percent-escapes, and
 * every malformed address refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/cache.h"

static struct sh_redis_addr ok(const char *url)
{
    struct sh_redis_addr a;
    const char *why = NULL;
    int rc = sh_redis_parse_url(url, &a, &why);
    if (rc)
        fail_msg("%s refused: %s", url, why);
    return a;
}

static void test_url_tcp_forms(void **state)
{
    (void)state;
    struct sh_redis_addr a = ok("redis://127.0.0.1");
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.db, 0);
    assert_int_equal(a.unix_socket, 0);
    assert_string_equal(a.password, "");

    a = ok("redis://cache.internal:6380/3");
    assert_string_equal(a.host, "cache.internal");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 3);

    a = ok("redis://:s%40cret@localhost:7000/");
    assert_string_equal(a.password, "s@cret");
    assert_string_equal(a.user, "");
    assert_string_equal(a.host, "localhost");
    assert_int_equal(a.port, 7000);

    a = ok("redis://app:pw:with:colons@10.0.0.2");
    assert_string_equal(a.user, "app");
    assert_string_equal(a.password, "pw:with:colons");

    a = ok("redis://onlypassword@h");
    assert_string_equal(a.password, "onlypassword");
    assert_string_equal(a.user, "");

    a = ok("redis://[::1]:6390/2");
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 6390);
    assert_int_equal(a.db, 2);
}

static void test_url_unix_forms(void **state)
{
    (void)state;
    struct sh_redis_addr a = ok("unix:/run/redis/redis.sock");
    assert_int_equal(a.unix_socket, 1);
    assert_string_equal(a.host, "/run/redis/redis.sock");
    a = ok("unix:///tmp/r.sock?db=5&password=p%26q");
    assert_string_equal(a.host, "/tmp/r.sock");
    assert_int_equal(a.db, 5);
    assert_string_equal(a.password, "p&q");
}

static void test_url_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "127.0.0.1:6379",
        "http://127.0.0.1",
        "rediss://127.0.0.1",
        "redis://",
        "redis://:pw@",
        "redis://host:0",
        "redis://host:65536",
        "redis://host:12ab",
        "redis://host/65536",
        "redis://host/x",
        "redis://host?db=1",
        "redis://[::1",
        "redis://[::1]x",
        "redis://ho st",
        "redis://h%00st",
        "redis://:%zz@host",
        "redis://:%4@host",
        "unix:relative.sock",
        "unix:/tmp/s?db=x",
        "unix:/tmp/s?user=a",
        "unix:/tmp/s?db",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sh_redis_addr a;
        const char *why = NULL;
        if (sh_redis_parse_url(bad[i], &a, &why) == 0)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(why);
        assert_true(strlen(why) > 10);
    }
    assert_int_not_equal(sh_redis_parse_url(NULL, &(struct sh_redis_addr){0}, NULL), 0);
}

static void test_url_long_password_refused(void **state)
{
    (void)state;
    char url[2048] = "redis://:";
    size_t n = strlen(url);
    memset(url + n, 'p', SH_REDIS_PASSWORD_MAX);
    strcpy(url + n + SH_REDIS_PASSWORD_MAX, "@h");
    struct sh_redis_addr a;
    assert_int_not_equal(sh_redis_parse_url(url, &a, NULL), 0);
    url[n + SH_REDIS_PASSWORD_MAX - 1] = 0;
    strcat(url, "@h");
    assert_int_equal(sh_redis_parse_url(url, &a, NULL), 0);
    assert_int_equal(strlen(a.password), SH_REDIS_PASSWORD_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_tcp_forms),
        cmocka_unit_test(test_url_unix_forms),
        cmocka_unit_test(test_url_refused),
        cmocka_unit_test(test_url_long_password_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
