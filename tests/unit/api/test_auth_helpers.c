/*
 * The pure helpers of the accounts handlers: token signing keys (collection
 * secret + tokenKey, a purpose prefix keeping reset and auth keys apart),
 * a token signed with them verifying only under the same key, the record as
 * its owner sees it, the requester's own email shown wherever its record
 * appears, and rate values in the configuration ("30/1m", "off").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "auth_int.h"
#include "stagehand/config.h"

static struct sh_collection *auth_collection(void)
{
    cJSON *j = cJSON_Parse("{\"id\":\"usersid00000001\",\"name\":\"users\",\"type\":\"auth\","
                           "\"fields\":[{\"name\":\"note\",\"type\":\"text\",\"hidden\":true}],"
                           "\"authToken\":{\"secret\":\"s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t\"}}");
    struct sh_collection *c = NULL;
    assert_int_equal(sh_collection_parse(j, NULL, NULL, &c, NULL), 0);
    cJSON_Delete(j);
    return c;
}

static void test_auth_helpers_keys(void **state)
{
    (void)state;
    struct sh_collection *c = auth_collection();
    unsigned char k1[SH__AUTH_KEY_MAX], k2[SH__AUTH_KEY_MAX];
    size_t n1 = sh__auth_key(c, "tokenkey-one", "", k1);
    assert_int_equal(n1, strlen("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t") + strlen("tokenkey-one"));
    assert_memory_equal(k1, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3ttokenkey-one", n1);
    size_t n2 = sh__auth_key(c, "tokenkey-one", "passwordReset", k2);
    assert_int_equal(n2, n1 + strlen("passwordReset:"));
    assert_memory_equal(k2, "passwordReset:", 14);
    assert_int_equal(sh__auth_key(c, "", "", k1), 0); /* no tokenKey, no key */

    /* a token verifies only with the key it was signed with */
    struct sh_token_claims cl = {.id = "rec",
                                 .type = "auth",
                                 .collection_id = "usersid00000001",
                                 .sid = "sess",
                                 .refreshable = 1,
                                 .exp = 4000000000};
    char tok[SH_TOKEN_MAX + 1];
    n1 = sh__auth_key(c, "tokenkey-one", "", k1);
    assert_true(sh_token_sign(&cl, k1, n1, tok, sizeof(tok)) > 0);
    struct sh_token_claims out;
    assert_int_equal(sh_token_verify(tok, strlen(tok), k1, n1, 1000, &out), 0);
    assert_string_equal(out.sid, "sess");
    n2 = sh__auth_key(c, "tokenkey-two", "", k2); /* a rotated tokenKey */
    assert_int_equal(sh_token_verify(tok, strlen(tok), k2, n2, 1000, &out), SH_EINVAL);
    n2 = sh__auth_key(c, "tokenkey-one", "passwordReset", k2);
    assert_int_equal(sh_token_verify(tok, strlen(tok), k2, n2, 1000, &out), SH_EINVAL);
    sh_collection_free(c);
}

static void test_auth_helpers_owner_view(void **state)
{
    (void)state;
    struct sh_collection *c = auth_collection();
    cJSON *rec = cJSON_Parse("{\"collectionId\":\"usersid00000001\",\"collectionName\":\"users\","
                             "\"id\":\"rec\",\"email\":\"a@b.c\",\"note\":\"hidden\",\"n\":1}");
    cJSON *v = sh__auth_owner_view(c, rec);
    assert_null(cJSON_GetObjectItem(v, "note"));
    assert_string_equal(cJSON_GetObjectItem(v, "email")->valuestring, "a@b.c");
    assert_non_null(cJSON_GetObjectItem(rec, "note")); /* a copy */
    cJSON_Delete(v);

    /* the requester's own email, in a list and in an expansion */
    struct sh_auth au = {.collection_id = "usersid00000001", .record_id = "rec", .record = rec};
    struct sh_req r;
    memset(&r, 0, sizeof(r));
    r.auth = &au;
    cJSON *list = cJSON_Parse("[{\"collectionId\":\"usersid00000001\",\"id\":\"rec\"},"
                              "{\"collectionId\":\"usersid00000001\",\"id\":\"other\"},"
                              "{\"collectionId\":\"posts\",\"id\":\"p\",\"expand\":{\"author\":"
                              "{\"collectionId\":\"usersid00000001\",\"id\":\"rec\"}}},"
                              "{\"collectionId\":\"elsewhere\",\"id\":\"rec\"}]");
    sh__auth_own_email(&r, list);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "email")->valuestring,
                        "a@b.c");
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "email"));
    const cJSON *author =
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 2), "expand"), "author");
    assert_string_equal(cJSON_GetObjectItem(author, "email")->valuestring, "a@b.c");
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 3), "email"));
    /* a superuser sees emails anyway: nothing is added */
    cJSON *one = cJSON_Parse("{\"collectionId\":\"usersid00000001\",\"id\":\"rec\"}");
    au.superuser = 1;
    sh__auth_own_email(&r, one);
    assert_null(cJSON_GetObjectItem(one, "email"));
    cJSON_Delete(one);
    cJSON_Delete(list);
    cJSON_Delete(rec);
    sh_collection_free(c);
}

static void test_auth_helpers_rates(void **state)
{
    (void)state;
    struct sh_config_rate r;
    assert_int_equal(sh_config_parse_rate("30/1m", &r), 0);
    assert_int_equal(r.limit, 30);
    assert_int_equal(r.window_ms, 60000);
    assert_int_equal(sh_config_parse_rate("100/1h", &r), 0);
    assert_int_equal(r.window_ms, 3600000);
    assert_int_equal(sh_config_parse_rate("5/500ms", &r), 0);
    assert_int_equal(r.window_ms, 500);
    assert_int_equal(sh_config_parse_rate("off", &r), 0);
    assert_int_equal(r.limit, 0);
    assert_int_equal(sh_config_parse_rate("0", &r), 0);
    assert_int_equal(r.limit, 0);
    static const char *const bad[] = {"",      "5",    "/1m",    "5/",   "0/1m", "5/1d",
                                      "-1/1m", "5/0s", "5/300h", "x/1m", "5/1m "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sh_config_parse_rate(bad[i], &r), -1);

    struct sh_config cfg;
    sh_config_init(&cfg);
    assert_int_equal(cfg.rate_limit_auth.limit, 30);
    assert_int_equal(cfg.rate_limit_identity.limit, 100);
    assert_int_equal(cfg.rate_limit_identity.window_ms, 3600000);
    assert_int_equal(cfg.rate_limit_all.limit, 0);
    assert_int_equal(cfg.rate_limit_identity_ip.limit, 10);
    assert_int_equal(cfg.rate_limit_identity_ip.window_ms, 900000);
    assert_int_equal(cfg.rate_limit_reset.limit, 1);
    assert_int_equal(cfg.rate_limit_reset.window_ms, 120000);
    assert_string_equal(cfg.mailer, "file");
    assert_int_equal(cfg.hash_queue, 64);
    assert_int_equal(cfg.token_ttl, 7ull * 86400 * 1000);
    const char *argv[] = {"--rate-limit-all", "10/1s", "--token-ttl", "2h", "--hash-threads", "2"};
    const char *envp[] = {"STAGEHAND_TRUSTED_PROXY=10.0.0.0/8",
                          "STAGEHAND_RATE_LIMIT_IDENTITY_IP=4/10m", "STAGEHAND_MAILER=off", NULL};
    char err[128];
    assert_int_equal(sh_config_parse(&cfg, 6, argv, envp, err, sizeof(err)), 0);
    assert_int_equal(cfg.rate_limit_all.limit, 10);
    assert_int_equal(cfg.token_ttl, 7200000);
    assert_int_equal(cfg.hash_threads, 2);
    assert_string_equal(cfg.trusted_proxy, "10.0.0.0/8");
    assert_int_equal(cfg.rate_limit_identity_ip.limit, 4);
    assert_int_equal(cfg.rate_limit_identity_ip.window_ms, 600000);
    assert_string_equal(cfg.mailer, "off");
    const char *bad_argv[] = {"--rate-limit-auth", "lots"};
    assert_int_equal(sh_config_parse(&cfg, 2, bad_argv, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--rate-limit-auth"));
    sh_config_deinit(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_helpers_keys),
        cmocka_unit_test(test_auth_helpers_owner_view),
        cmocka_unit_test(test_auth_helpers_rates),
    };
    return cmocka_run_group_tests_name("auth_helpers", tests, NULL, NULL);
}
