/*
 * Settings and scheduled jobs as a client sees them: GET/PATCH
 * /api/settings and GET/POST /api/crons refused to guests (401) and users
 * (403); the settings' shape; per-key validation with PocketBase's codes
 * (nothing stored on a refusal); a value of the wrong type a 400; secrets
 * never returned and kept when sent empty; changes stored in the database
 * (they survive a restart); applied live: a rate-limit rule answers 429 at
 * once and lifting it lets requests through, trustedProxy makes the
 * client address come from X-Forwarded-For (seen by the limit), the backups
 * cron appears in /api/crons and running it makes a scheduled backup;
 * flags win: with --trusted-proxy and --rate-limit-all the settings are
 * stored but not applied and GET names the flags.
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

static struct it_server *start(const char *const *args)
{
    struct it_server *s = it_server_new();
    assert_non_null(s);
    assert_int_equal(rc_import(s, "schema.json", rc_q(schema)), 0);
    ac_superuser(s, "root@example.com", "root password 1");
    const char *base[16] = {"--rate-limit-auth", "off"};
    int n = 2;
    for (; args && *args && n < 15; args++)
        base[n++] = *args;
    base[n] = NULL;
    assert_int_equal(it_server_run(s, base), 0);
    return s;
}

static const char *su(struct it_conn *c)
{
    return ac_login(c, "_superusers", "root@example.com", "root password 1", NULL);
}

static const cJSON *patch(struct it_conn *c, const char *tok, const char *json, int status)
{
    struct rc_resp *r = ac_req(c, "PATCH", "/api/settings", tok, rc_q(json));
    if (r->status != status)
        fail_msg("PATCH %s answered %d: %s", json, r->status, r->raw->body);
    return r->json;
}

static const char *code_at(const cJSON *err, const char *a, const char *b)
{
    const cJSON *x = rc_get(rc_get(rc_get(err, "data"), a), b);
    return rc_str(x, "code");
}

static int health(struct it_conn *c, const char *xff)
{
    return ac_reqh(c, "GET", "/api/health", xff ? it_sprintf("X-Forwarded-For: %s\r\n", xff) : NULL,
                   NULL)
        ->status;
}

static void test_settings_access_and_shape(void **state)
{
    (void)state;
    struct it_server *s = start(NULL);
    struct it_conn *c = it_conn_open_or_fail(s);
    ac_signup(c, "users", "u@example.com", "user password", NULL);
    const char *user = ac_login(c, "users", "u@example.com", "user password", NULL);
    const char *const routes[][2] = {{"GET", "/api/settings"},
                                     {"PATCH", "/api/settings"},
                                     {"GET", "/api/crons"},
                                     {"POST", "/api/crons/__sessionsCleanup__"}};
    for (size_t i = 0; i < 4; i++) {
        rc_assert_error(ac_req(c, routes[i][0], routes[i][1], NULL, "{}"), 401, NULL, NULL);
        rc_assert_error(ac_req(c, routes[i][0], routes[i][1], user, "{}"), 403, NULL, NULL);
    }
    const char *tok = su(c);
    const cJSON *st = rc_ok(ac_req(c, "GET", "/api/settings", tok, NULL), 200);
    static const char *const groups[] = {"meta",    "logs",  "smtp",       "s3",
                                         "backups", "batch", "rateLimits", "trustedProxy"};
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        assert_true(cJSON_IsObject(rc_get(st, groups[i])));
    assert_string_equal(rc_str(rc_get(st, "meta"), "appName"), "Acme");
    assert_int_equal((int)rc_num(rc_get(st, "logs"), "maxDays"), 5);
    assert_int_equal(cJSON_GetArraySize(rc_get(st, "overriddenBy")), 0);
    /* crons: PocketBase's shape */
    const cJSON *crons = rc_ok(ac_req(c, "GET", "/api/crons", tok, NULL), 200), *e;
    int sessions = 0, backup = 0;
    cJSON_ArrayForEach(e, crons) {
        sessions |= strcmp(rc_str(e, "id"), "__sessionsCleanup__") == 0;
        backup |= strcmp(rc_str(e, "id"), "__pbAutoBackup__") == 0;
        assert_true(strlen(rc_str(e, "expression")) > 0);
    }
    assert_true(sessions && !backup);
    assert_int_equal(ac_req(c, "POST", "/api/crons/__sessionsCleanup__", tok, NULL)->status, 204);
    rc_assert_error(ac_req(c, "POST", "/api/crons/nope", tok, NULL), 404, NULL, NULL);
    rc_assert_error(ac_req(c, "POST", "/api/crons/__pbAutoBackup__", tok, NULL), 404, NULL, NULL);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

static void test_settings_validation_masking_persistence(void **state)
{
    (void)state;
    struct it_server *s = start(NULL);
    struct it_conn *c = it_conn_open_or_fail(s);
    const char *tok = su(c);
    const cJSON *err = patch(c, tok,
                             "{'meta':{'appName':'','appURL':'not a url','senderAddress':'x'},"
                             "'smtp':{'enabled':true,'host':'','authMethod':'MD5'},"
                             "'backups':{'cron':'61 * * * *'},'logs':{'maxDays':-1},"
                             "'rateLimits':{'rules':[{'label':'/api/','maxRequests':0,"
                             "'duration':1,'audience':'@nobody'}]},"
                             "'trustedProxy':{'headers':['X-Real-IP']}}",
                             400);
    assert_string_equal(code_at(err, "meta", "appName"), "validation_required");
    assert_string_equal(code_at(err, "meta", "appURL"), "validation_is_url");
    assert_string_equal(code_at(err, "meta", "senderAddress"), "validation_is_email");
    assert_string_equal(code_at(err, "smtp", "host"), "validation_required");
    assert_string_equal(code_at(err, "smtp", "authMethod"), "validation_in_invalid");
    assert_string_equal(code_at(err, "backups", "cron"), "validation_invalid_cron");
    assert_string_equal(code_at(err, "logs", "maxDays"),
                        "validation_min_greater_equal_than_required");
    assert_string_equal(code_at(err, "trustedProxy", "headers"), "validation_in_invalid");
    const cJSON *rule = rc_get(rc_get(rc_get(rc_get(err, "data"), "rateLimits"), "rules"), "0");
    assert_string_equal(rc_str(rc_get(rule, "maxRequests"), "code"),
                        "validation_min_greater_equal_than_required");
    assert_string_equal(rc_str(rc_get(rule, "audience"), "code"), "validation_in_invalid");
    rc_assert_error(ac_req(c, "PATCH", "/api/settings", tok, "{\"meta\":{\"appName\":5}}"), 400,
                    NULL, NULL);
    rc_assert_error(ac_req(c, "PATCH", "/api/settings", tok, "{\"meta\":[]}"), 400, NULL, NULL);
    rc_assert_error(ac_req(c, "PATCH", "/api/settings", tok, "[1]"), 400, NULL, NULL);
    /* nothing of the refused patches was stored */
    const cJSON *st = rc_ok(ac_req(c, "GET", "/api/settings", tok, NULL), 200);
    assert_string_equal(rc_str(rc_get(st, "meta"), "appName"), "Acme");

    /* a valid patch: answered with the new settings, secrets masked */
    st = patch(c, tok,
               "{'meta':{'appName':'Stage'},'smtp':{'password':'hunter2-secret',"
               "'username':'mailer'},'s3':{'secret':'s3-secret'},'unknown':{'x':1}}",
               200);
    assert_string_equal(rc_str(rc_get(st, "meta"), "appName"), "Stage");
    assert_string_equal(rc_str(rc_get(st, "smtp"), "password"), "");
    assert_string_equal(rc_str(rc_get(st, "s3"), "secret"), "");
    assert_null(cJSON_GetObjectItemCaseSensitive(st, "unknown"));
    /* the secret is stored, and an empty one sent back keeps it */
    patch(c, tok, "{'smtp':{'password':'','username':'mailer2'}}", 200);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    char *db = it_sprintf("%s/data.db", s->data_dir);
    char *log = it_server_log(s);
    assert_null(strstr(log, "hunter2-secret"));
    /* stored: a restart serves the same settings */
    assert_int_equal(it_server_run(s, (const char *const[]){"--rate-limit-auth", "off", NULL}), 0);
    c = it_conn_open_or_fail(s);
    tok = su(c);
    st = rc_ok(ac_req(c, "GET", "/api/settings", tok, NULL), 200);
    assert_string_equal(rc_str(rc_get(st, "meta"), "appName"), "Stage");
    assert_string_equal(rc_str(rc_get(st, "smtp"), "username"), "mailer2");
    assert_string_equal(rc_str(rc_get(st, "smtp"), "password"), "");
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    /* the password is still the first one, in the database only */
    FILE *f = fopen(db, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    int found = 0;
    for (size_t i = 0; i + 14 <= n && !found; i++)
        found = memcmp(buf + i, "hunter2-secret", 14) == 0;
    assert_true(found);
}

static void test_settings_live_effects(void **state)
{
    (void)state;
    struct it_server *s = start(NULL);
    struct it_conn *c = it_conn_open_or_fail(s), *g = it_conn_open_or_fail(s);
    const char *tok = su(c);
    for (int i = 0; i < 5; i++)
        assert_int_equal(health(g, NULL), 200);
    /* a rule for /api/health: 3 per minute per address, at once */
    patch(c, tok,
          "{'rateLimits':{'enabled':true,'rules':[{'label':'GET /api/health','audience':'',"
          "'duration':60,'maxRequests':3}]}}",
          200);
    for (int i = 0; i < 3; i++)
        assert_int_equal(health(g, NULL), 200);
    struct rc_resp *r = ac_req(g, "GET", "/api/health", NULL, NULL);
    rc_assert_error(r, 429, NULL, NULL);
    assert_non_null(it_resp_header(r->raw, "Retry-After"));
    /* superusers are never limited */
    assert_int_equal(ac_req(c, "GET", "/api/health", tok, NULL)->status, 200);
    /* trustedProxy: the address comes from X-Forwarded-For (the peer is
     * loopback), so another client address has its own count */
    assert_int_equal(health(g, "203.0.113.7"), 429); /* not trusted yet: still 127.0.0.1 */
    patch(c, tok, "{'trustedProxy':{'headers':['X-Forwarded-For']}}", 200);
    for (int i = 0; i < 3; i++)
        assert_int_equal(health(g, "203.0.113.7"), 200);
    assert_int_equal(health(g, "203.0.113.7"), 429);
    assert_int_equal(health(g, "203.0.113.8"), 200);
    /* lifting the limit: through at once */
    patch(c, tok, "{'rateLimits':{'enabled':false}}", 200);
    assert_int_equal(health(g, NULL), 200);
    assert_int_equal(health(g, "203.0.113.7"), 200);
    /* the backups cron is scheduled and runs on demand */
    patch(c, tok, "{'backups':{'cron':'0 3 * * *','cronMaxKeep':1}}", 200);
    const cJSON *crons = rc_ok(ac_req(c, "GET", "/api/crons", tok, NULL), 200), *e;
    int found = 0;
    cJSON_ArrayForEach(e, crons) {
        if (strcmp(rc_str(e, "id"), "__pbAutoBackup__") == 0)
            found = strcmp(rc_str(e, "expression"), "0 3 * * *") == 0;
    }
    assert_true(found);
    /* two runs a second apart: cronMaxKeep 1 keeps the newer only */
    char first[64] = "";
    for (int round = 0; round < 2; round++) {
        int64_t deadline = it_now_ms() + 10000;
        while (ac_req(c, "POST", "/api/crons/__pbAutoBackup__", tok, NULL)->status != 204) {
            assert_true(it_now_ms() < deadline); /* the previous run still going */
            usleep(50 * 1000);
        }
        const char *key = NULL;
        while (!key) {
            assert_true(it_now_ms() < deadline);
            const cJSON *l = rc_ok(ac_req(c, "GET", "/api/backups", tok, NULL), 200);
            if (cJSON_GetArraySize(l) == 1) {
                const char *k = rc_str(cJSON_GetArrayItem(l, 0), "key");
                if (strncmp(k, "@auto_pb_backup_", 16) == 0 && strcmp(k, first) != 0)
                    key = k;
            }
            if (!key)
                usleep(50 * 1000);
        }
        snprintf(first, sizeof(first), "%s", key);
        sleep(1);
    }
    it_conn_close(g);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

static void test_settings_flags_win(void **state)
{
    (void)state;
    struct it_server *s = start(
        (const char *const[]){"--trusted-proxy", "10.9.9.9", "--rate-limit-all", "1000/1m", NULL});
    struct it_conn *c = it_conn_open_or_fail(s), *g = it_conn_open_or_fail(s);
    const char *tok = su(c);
    const cJSON *st = patch(c, tok,
                            "{'rateLimits':{'enabled':true,'rules':[{'label':'/api/health',"
                            "'audience':'','duration':60,'maxRequests':1}]},"
                            "'trustedProxy':{'headers':['X-Forwarded-For']}}",
                            200);
    const cJSON *by = rc_get(st, "overriddenBy");
    assert_string_equal(rc_str(by, "trustedProxy"), "--trusted-proxy");
    assert_string_equal(rc_str(by, "rateLimits"), "--rate-limit-all");
    assert_true(cJSON_IsTrue(rc_get(rc_get(st, "rateLimits"), "enabled")));
    for (int i = 0; i < 4; i++)
        assert_int_equal(health(g, NULL), 200);
    it_conn_close(g);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

/* totalItems of the stored logs whose url holds marker (the log thread
 * writes within ~200 ms: polled up to 2 s for want, else the last count). */
static int logged(struct it_conn *c, const char *tok, const char *marker, int want)
{
    const char *path =
        it_sprintf("/api/logs?perPage=1&filter=%s", rc_enc(it_sprintf("data.url ~ '%s'", marker)));
    int n = -1;
    for (int64_t end = it_now_ms() + 2000; it_now_ms() < end;) {
        n = (int)rc_num(rc_ok(ac_req(c, "GET", path, tok, NULL), 200), "totalItems");
        if (n == want)
            break;
        usleep(50 * 1000);
    }
    return n;
}

/* logs.maxDays applies at once: 0 stops storing, a number starts again; a
 * --logs-max-days flag wins and is named in overriddenBy. */
static void test_settings_logs_retention_live(void **state)
{
    (void)state;
    struct it_server *s = start(NULL);
    struct it_conn *c = it_conn_open_or_fail(s);
    const char *tok = su(c);
    rc_ok(rc_req(c, "GET", "/api/health?mark=one", NULL), 200);
    assert_int_equal(logged(c, tok, "mark=one", 1), 1);
    const cJSON *st = patch(c, tok, "{'logs':{'maxDays':0}}", 200);
    assert_null(cJSON_GetObjectItemCaseSensitive(rc_get(st, "overriddenBy"), "logs"));
    rc_ok(rc_req(c, "GET", "/api/health?mark=two", NULL), 200);
    usleep(600 * 1000);
    assert_int_equal(logged(c, tok, "mark=two", 1), 0); /* not stored */
    patch(c, tok, "{'logs':{'maxDays':3}}", 200);
    rc_ok(rc_req(c, "GET", "/api/health?mark=three", NULL), 200);
    assert_int_equal(logged(c, tok, "mark=three", 1), 1);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);

    s = start((const char *const[]){"--logs-max-days", "2", NULL});
    c = it_conn_open_or_fail(s);
    tok = su(c);
    st = patch(c, tok, "{'logs':{'maxDays':0}}", 200);
    assert_string_equal(rc_str(rc_get(st, "overriddenBy"), "logs"), "--logs-max-days");
    rc_ok(rc_req(c, "GET", "/api/health?mark=four", NULL), 200);
    assert_int_equal(logged(c, tok, "mark=four", 1), 1); /* the flag's 2 days hold */
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

/* POST /api/batch with n creates of notes' kind (the schema's users). */
static int batch_of(struct it_conn *c, int n)
{
    char *items = it_strdup("");
    for (int i = 0; i < n; i++)
        items =
            it_sprintf("%s%s{\"method\":\"POST\",\"url\":\"/api/collections/users/records\","
                       "\"body\":{\"email\":\"b%d_%lld@example.com\",\"password\":\"pass word 1\","
                       "\"passwordConfirm\":\"pass word 1\"}}",
                       items, i ? "," : "", i, (long long)it_now_ms());
    return rc_req(c, "POST", "/api/batch", it_sprintf("{\"requests\":[%s]}", items))->status;
}

/* batch applies at once: off is 403, maxRequests bounds a batch; a --batch-*
 * flag wins and is named in overriddenBy. */
static void test_settings_batch_live(void **state)
{
    (void)state;
    struct it_server *s = start(NULL);
    struct it_conn *c = it_conn_open_or_fail(s);
    const char *tok = su(c);
    const cJSON *st = patch(c, tok, "{}", 200);
    assert_true(cJSON_IsTrue(rc_get(rc_get(st, "batch"), "enabled"))); /* on by default */
    assert_int_equal(batch_of(c, 2), 200);
    patch(c, tok, "{'batch':{'enabled':false}}", 200);
    assert_int_equal(batch_of(c, 1), 403);
    patch(c, tok, "{'batch':{'enabled':true,'maxRequests':2}}", 200);
    assert_int_equal(batch_of(c, 2), 200);
    assert_int_equal(batch_of(c, 3), 400);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);

    s = start((const char *const[]){"--batch-max-requests", "5", NULL});
    c = it_conn_open_or_fail(s);
    tok = su(c);
    st = patch(c, tok, "{'batch':{'enabled':false}}", 200);
    assert_string_equal(rc_str(rc_get(st, "overriddenBy"), "batch"), "--batch-*");
    assert_int_equal(batch_of(c, 3), 200); /* the flag's 5 hold */
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_settings_access_and_shape),
        it_test(test_settings_validation_masking_persistence),
        it_test(test_settings_live_effects),
        it_test(test_settings_flags_win),
        it_test(test_settings_logs_retention_live),
        it_test(test_settings_batch_live),
    };
    return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
