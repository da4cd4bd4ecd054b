/* Unit tests of flag and environment parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/config.h"
#include "stagehand/core.h"

static int parse(struct sh_config *c, const char **argv, const char **envp, char *err)
{
    int argc = 0;
    while (argv && argv[argc])
        argc++;
    sh_config_init(c);
    return sh_config_parse(c, argc, argv, envp, err, 256);
}

static void test_config_defaults(void **state)
{
    (void)state;
    struct sh_config c;
    char err[256];
    const char *argv[] = {NULL};
    assert_int_equal(parse(&c, argv, NULL, err), 0);
    assert_int_equal(c.nlisten, 1);
    assert_string_equal(c.listen[0], "127.0.0.1:8090");
    assert_int_equal(c.max_url, 8192);
    assert_int_equal(c.max_header_bytes, 16384);
    assert_int_equal(c.max_headers, 100);
    assert_int_equal(c.max_body, 32u * 1024 * 1024);
    assert_int_equal(c.max_connections, 10000);
    assert_int_equal(c.head_timeout, 10000);
    assert_int_equal(c.idle_timeout, 75000);
    assert_string_equal(c.cors_origins, "*");
    sh_config_deinit(&c);
}

static void test_config_flags_both_forms(void **state)
{
    (void)state;
    struct sh_config c;
    char err[256];
    const char *argv[] = {"--listen",
                          "127.0.0.1:0",
                          "--listen=unix:/tmp/x.sock",
                          "--max-body",
                          "1M",
                          "--head-timeout=250ms",
                          "--idle-timeout",
                          "2m",
                          "--max-headers",
                          "7",
                          "--log-level",
                          "warn",
                          NULL};
    assert_int_equal(parse(&c, argv, NULL, err), 0);
    assert_int_equal(c.nlisten, 2);
    assert_string_equal(c.listen[1], "unix:/tmp/x.sock");
    assert_int_equal(c.max_body, 1024 * 1024);
    assert_int_equal(c.head_timeout, 250);
    assert_int_equal(c.idle_timeout, 120000);
    assert_int_equal(c.max_headers, 7);
    assert_int_equal(c.log_level, SH_LOG_WARN);
    sh_config_deinit(&c);
}

static void test_config_env_and_flag_precedence(void **state)
{
    (void)state;
    struct sh_config c;
    char err[256];
    const char *envp[] = {"STAGEHAND_MAX_URL=4k", "STAGEHAND_LISTEN=127.0.0.1:1,[::1]:2",
                          "STAGEHAND_DIR=/env/dir", "OTHER=1", NULL};
    const char *argv[] = {"--dir", "/flag/dir", NULL};
    assert_int_equal(parse(&c, argv, envp, err), 0);
    assert_int_equal(c.max_url, 4096);
    assert_int_equal(c.nlisten, 2);
    assert_string_equal(c.listen[1], "[::1]:2");
    assert_string_equal(c.dir, "/flag/dir");
    sh_config_deinit(&c);

    const char *argv2[] = {"--listen", "127.0.0.1:9", NULL};
    assert_int_equal(parse(&c, argv2, envp, err), 0);
    assert_int_equal(c.nlisten, 1); /* flags replace the environment's addresses */
    assert_string_equal(c.listen[0], "127.0.0.1:9");
    sh_config_deinit(&c);
}

static void test_config_errors_name_the_flag(void **state)
{
    (void)state;
    struct sh_config c;
    char err[256];
    const char *unknown[] = {"--bogus", "1", NULL};
    assert_int_equal(parse(&c, unknown, NULL, err), -1);
    assert_non_null(strstr(err, "--bogus"));
    sh_config_deinit(&c);

    const char *bad[] = {"--max-body", "lots", NULL};
    assert_int_equal(parse(&c, bad, NULL, err), -1);
    assert_non_null(strstr(err, "--max-body"));
    sh_config_deinit(&c);

    const char *missing[] = {"--dir", NULL};
    assert_int_equal(parse(&c, missing, NULL, err), -1);
    assert_non_null(strstr(err, "--dir"));
    sh_config_deinit(&c);

    const char *zero[] = {"--head-timeout", "0", NULL};
    assert_int_equal(parse(&c, zero, NULL, err), -1);
    sh_config_deinit(&c);

    const char *badenv[] = {"STAGEHAND_LOG_LEVEL=loud", NULL};
    const char *none[] = {NULL};
    assert_int_equal(parse(&c, none, badenv, err), -1);
    assert_non_null(strstr(err, "STAGEHAND_LOG_LEVEL"));
    sh_config_deinit(&c);
}

static void test_config_durations_and_sizes(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(sh_config_parse_duration("10", &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(sh_config_parse_duration("1h", &v), 0);
    assert_int_equal(v, 3600000);
    assert_int_equal(sh_config_parse_duration("-1s", &v), -1);
    assert_int_equal(sh_config_parse_duration("10x", &v), -1);
    assert_int_equal(sh_config_parse_duration("", &v), -1);
    assert_int_equal(sh_config_parse_size("64k", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(sh_config_parse_size("2GiB", &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_equal(sh_config_parse_size("99999999999999999999", &v), -1);
    assert_int_equal(sh_config_parse_size("1T", &v), -1);
}

/* --realtime-coalesce: a duration (default 0: off) where 0 turns it off. */
static void test_config_realtime_coalesce(void **state)
{
    (void)state;
    struct sh_config c;
    char err[256];
    const char *none[] = {NULL};
    assert_int_equal(parse(&c, none, NULL, err), 0);
    assert_int_equal(c.realtime_coalesce, 0);
    sh_config_deinit(&c);
    const char *off[] = {"--realtime-coalesce", "0", NULL};
    assert_int_equal(parse(&c, off, NULL, err), 0);
    assert_int_equal(c.realtime_coalesce, 0);
    sh_config_deinit(&c);
    const char *env[] = {"STAGEHAND_REALTIME_COALESCE=50ms", NULL};
    assert_int_equal(parse(&c, none, env, err), 0);
    assert_int_equal(c.realtime_coalesce, 50);
    sh_config_deinit(&c);
    const char *bad[] = {"--realtime-coalesce", "-5ms", NULL};
    assert_int_equal(parse(&c, bad, NULL, err), -1);
    assert_non_null(strstr(err, "--realtime-coalesce"));
    sh_config_deinit(&c);
}

/* The storage flags: --init-empty takes no value (or =true/false), the WAL
 * bound is a size, the lock wait a duration; each has its variable. */
static void test_config_storage_flags(void **state)
{
    (void)state;
    struct sh_config c;
    char err[256];
    const char *none[] = {NULL};
    assert_int_equal(parse(&c, none, NULL, err), 0);
    assert_int_equal(c.init_empty, 0);
    assert_int_equal(c.wal_max, 64u << 20);
    assert_int_equal(c.lock_timeout, 1000);
    sh_config_deinit(&c);

    const char *argv[] = {"--init-empty", "--wal-max", "8M", "--lock-timeout=250ms", NULL};
    assert_int_equal(parse(&c, argv, NULL, err), 0);
    assert_int_equal(c.init_empty, 1);
    assert_int_equal(c.wal_max, 8u << 20);
    assert_int_equal(c.lock_timeout, 250);
    assert_int_equal(c.nlisten, 1); /* --init-empty did not swallow the next flag */
    sh_config_deinit(&c);

    const char *envp[] = {"STAGEHAND_INIT_EMPTY=1", "STAGEHAND_WAL_MAX=1M",
                          "STAGEHAND_LOCK_TIMEOUT=2s", NULL};
    const char *off[] = {"--init-empty=false", NULL};
    assert_int_equal(parse(&c, none, envp, err), 0);
    assert_int_equal(c.init_empty, 1);
    assert_int_equal(c.wal_max, 1u << 20);
    assert_int_equal(c.lock_timeout, 2000);
    sh_config_deinit(&c);
    assert_int_equal(parse(&c, off, envp, err), 0);
    assert_int_equal(c.init_empty, 0);
    sh_config_deinit(&c);

    /* --read-cache: the read connection's page cache, a size (0 refused) */
    assert_int_equal(parse(&c, none, NULL, err), 0);
    assert_int_equal(c.read_cache, 8u << 20);
    sh_config_deinit(&c);
    const char *rc_argv[] = {"--read-cache", "256M", NULL};
    assert_int_equal(parse(&c, rc_argv, NULL, err), 0);
    assert_int_equal(c.read_cache, 256u << 20);
    sh_config_deinit(&c);
    const char *rc_env[] = {"STAGEHAND_READ_CACHE=4M", NULL};
    assert_int_equal(parse(&c, none, rc_env, err), 0);
    assert_int_equal(c.read_cache, 4u << 20);
    sh_config_deinit(&c);
    const char *rc_zero[] = {"--read-cache", "0", NULL};
    assert_int_equal(parse(&c, rc_zero, NULL, err), -1);
    assert_non_null(strstr(err, "--read-cache"));
    sh_config_deinit(&c);

    /* --write-cache: the writer connection's page cache, the same kind of size */
    assert_int_equal(parse(&c, none, NULL, err), 0);
    assert_int_equal(c.write_cache, 32u << 20);
    sh_config_deinit(&c);
    const char *wc_argv[] = {"--write-cache", "128M", NULL};
    assert_int_equal(parse(&c, wc_argv, NULL, err), 0);
    assert_int_equal(c.write_cache, 128u << 20);
    sh_config_deinit(&c);
    const char *wc_env[] = {"STAGEHAND_WRITE_CACHE=3M", NULL};
    assert_int_equal(parse(&c, none, wc_env, err), 0);
    assert_int_equal(c.write_cache, 3u << 20);
    sh_config_deinit(&c);
    const char *wc_zero[] = {"--write-cache", "0", NULL};
    assert_int_equal(parse(&c, wc_zero, NULL, err), -1);
    assert_non_null(strstr(err, "--write-cache"));
    sh_config_deinit(&c);

    const char *bad[][3] = {{"--init-empty=yes", NULL, NULL},
                            {"--wal-max", "0", NULL},
                            {"--lock-timeout", "soon", NULL}};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(parse(&c, bad[i], NULL, err), -1);
        assert_non_null(strstr(err, bad[i][0][2] == 'i' ? "--init-empty" : bad[i][0]));
        sh_config_deinit(&c);
    }
}

/* The JSON limits: defaults, the flag and the variable, and refusals. */
static void test_config_json_limits(void **state)
{
    (void)state;
    struct sh_config c;
    char err[256];
    const char *none[] = {NULL};
    assert_int_equal(parse(&c, none, NULL, err), 0);
    assert_int_equal(c.max_json_body, 1024 * 1024);
    assert_int_equal(c.max_json_depth, 64);
    sh_config_deinit(&c);
    const char *argv[] = {"--max-json-body", "256k", "--max-json-depth=10", NULL};
    const char *envp[] = {"STAGEHAND_MAX_JSON_BODY=2M", "STAGEHAND_MAX_JSON_DEPTH=5", NULL};
    assert_int_equal(parse(&c, argv, envp, err), 0);
    assert_int_equal(c.max_json_body, 256 * 1024);
    assert_int_equal(c.max_json_depth, 10);
    sh_config_deinit(&c);
    assert_int_equal(parse(&c, none, envp, err), 0);
    assert_int_equal(c.max_json_body, 2 * 1024 * 1024);
    assert_int_equal(c.max_json_depth, 5);
    sh_config_deinit(&c);
    const char *bad[][3] = {{"--max-json-body", "0", NULL},
                            {"--max-json-body", "lots", NULL},
                            {"--max-json-depth", "0", NULL}};
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        assert_int_equal(parse(&c, bad[i], NULL, err), -1);
        assert_non_null(strstr(err, bad[i][0]));
        sh_config_deinit(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_flags_both_forms),
        cmocka_unit_test(test_config_env_and_flag_precedence),
        cmocka_unit_test(test_config_errors_name_the_flag),
        cmocka_unit_test(test_config_durations_and_sizes),
        cmocka_unit_test(test_config_storage_flags),
        cmocka_unit_test(test_config_realtime_coalesce),
        cmocka_unit_test(test_config_json_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
