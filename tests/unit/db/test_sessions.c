/*
 * Accounts in the db module: an auth collection's token secret (generated,
 * kept through JSON and PATCH updates, validated) and its case-insensitive
 * email index; the _superusers collection migration 2 makes; and the
 * sessions store (insert, extend, touch, trim, sweep, delete, tokenKey
 * rotation) with the lookups the token check and sign-in use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "db_tmp.h"
#include "stagehand/catalog.h"
#include "stagehand/schema.h"
#include "stagehand/sessions.h"

static struct sh_collection *parse(const char *json, const struct sh_collection *old)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    struct sh_collection *c = NULL;
    struct sh_schema_error err;
    int rc = sh_collection_parse(j, old, NULL, &c, &err);
    cJSON_Delete(j);
    if (rc)
        fail_msg("%s", err.message);
    return c;
}

static void test_sessions_token_secret(void **state)
{
    (void)state;
    struct sh_collection *c = parse("{\"name\":\"users\",\"type\":\"auth\"}", NULL);
    assert_non_null(c->token_secret);
    assert_int_equal(strlen(c->token_secret), 50);
    assert_int_equal(c->token_duration, 0);
    struct sh_collection *other = parse("{\"name\":\"users\",\"type\":\"auth\"}", NULL);
    assert_string_not_equal(c->token_secret, other->token_secret); /* random */
    sh_collection_free(other);

    /* through JSON and back: the same secret */
    cJSON *j = sh_collection_to_json(c);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "authToken"), "secret")->valuestring,
        c->token_secret);
    struct sh_collection *again = NULL;
    assert_int_equal(sh_collection_parse(j, NULL, NULL, &again, NULL), 0);
    assert_string_equal(again->token_secret, c->token_secret);
    cJSON_Delete(j);
    sh_collection_free(again);

    /* PATCH keeps it, also when only the duration changes */
    struct sh_collection *p = parse("{\"listRule\":\"\"}", c);
    assert_string_equal(p->token_secret, c->token_secret);
    sh_collection_free(p);
    p = parse("{\"authToken\":{\"duration\":3600}}", c);
    assert_string_equal(p->token_secret, c->token_secret);
    assert_int_equal(p->token_duration, 3600);
    sh_collection_free(p);
    p = parse("{\"authToken\":{\"secret\":\"0123456789012345678901234567890123456789\"}}", c);
    assert_string_equal(p->token_secret, "0123456789012345678901234567890123456789");
    sh_collection_free(p);

    /* refused values */
    static const char *const bad[] = {
        "{\"name\":\"u\",\"type\":\"auth\",\"authToken\":{\"secret\":\"short\"}}",
        ("{\"name\":\"u\",\"type\":\"auth\",\"authToken\":{\"secret\":\"has a space in it, "
         "thirty characters or more\"}}"),
        "{\"name\":\"u\",\"type\":\"auth\",\"authToken\":{\"duration\":-1}}",
        "{\"name\":\"u\",\"type\":\"auth\",\"authToken\":{\"duration\":1.5}}",
        "{\"name\":\"u\",\"type\":\"auth\",\"authToken\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *b = cJSON_Parse(bad[i]);
        struct sh_collection *out = NULL;
        struct sh_schema_error err;
        assert_int_equal(sh_collection_parse(b, NULL, NULL, &out, &err), SH_EINVAL);
        assert_string_equal(err.key, "authToken");
        cJSON_Delete(b);
    }

    /* the email index compares without case, also one given by the user */
    const struct sh_index *ix = &c->indexes[1];
    assert_string_equal(ix->cols[0].name, "email");
    assert_true(ix->cols[0].nocase);
    sh_collection_free(c);
    c = parse("{\"name\":\"u\",\"type\":\"auth\",\"indexes\":[\"CREATE UNIQUE INDEX e ON u "
              "(email)\"]}",
              NULL);
    assert_true(c->indexes[0].cols[0].nocase);
    sh_collection_free(c);

    /* base collections have no secret */
    c = parse("{\"name\":\"posts\"}", NULL);
    assert_null(c->token_secret);
    j = sh_collection_to_json(c);
    assert_null(cJSON_GetObjectItem(j, "authToken"));
    cJSON_Delete(j);
    sh_collection_free(c);
}

struct store_ctx {
    const struct sh_collection *su;
    int step;
    int64_t n;
};

static int64_t count_sessions(sqlite3 *wdb)
{
    sqlite3_stmt *st;
    sqlite3_prepare_v2(wdb, "SELECT count(*) FROM _sessions", -1, &st, NULL);
    sqlite3_step(st);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int store_fn(sqlite3 *wdb, void *arg)
{
    struct store_ctx *x = arg;
    const char *id = "aaaaaaaaaaaaaaa";
    if (x->step == 0) {
        int rc = sqlite3_exec(wdb,
                              "INSERT INTO _superusers (id, email, password, tokenKey, created, "
                              "updated) VALUES ('aaaaaaaaaaaaaaa', 'Root@Example.com', 'HASH', "
                              "'key-one-key-one-key-one-key-one-0', '', '')",
                              NULL, NULL, NULL);
        assert_int_equal(rc, SQLITE_OK);
        for (int i = 0; i < 3; i++) {
            struct sh_session s = {.collection_id = x->su->id, .record_id = id};
            sh_session_new_id(&s);
            s.created = s.last_used = 1000 + i;
            s.expires = i == 0 ? 1500 : 100000;
            s.ip = "127.0.0.1";
            assert_int_equal(sh_session_insert(wdb, &s), 0);
        }
        assert_int_equal(sh_session_trim(wdb, x->su->id, id, 2, NULL), 0); /* the oldest goes */
        assert_int_equal(count_sessions(wdb), 2);
        struct sh_session s = {.collection_id = x->su->id, .record_id = id};
        memcpy(s.id, "session-for-the-lookup00", SH_SESSION_ID_LEN + 1);
        s.created = s.last_used = 2000;
        s.expires = 200000;
        assert_int_equal(sh_session_insert(wdb, &s), 0);
        return 0;
    }
    if (x->step == 1) {
        const char *sid = "session-for-the-lookup00";
        assert_int_equal(sh_session_extend(wdb, sid, id, 300000, 3000), 0);
        assert_int_equal(sh_session_extend(wdb, sid, "other", 300000, 3000), SH_ENOTFOUND);
        assert_int_equal(sh_session_extend(wdb, "nope", id, 300000, 3000), SH_ENOTFOUND);
        assert_int_equal(sh_session_touch(wdb, sid, 4000), 0);
        assert_int_equal(sh_session_touch(wdb, sid, 3500), 0); /* never backwards */
        struct sh_auth_row row;
        assert_int_equal(sh_auth_find_email(NULL, wdb, x->su, "root@EXAMPLE.com", &row), 0);
        assert_string_equal(row.id, id);
        assert_string_equal(row.password_hash, "HASH");
        sh_auth_row_deinit(&row);
        assert_int_equal(sh_auth_find_email(NULL, wdb, x->su, "", &row), SH_ENOTFOUND);
        return 0;
    }
    if (x->step == 2) {
        assert_int_equal(sh_auth_rotate_key(wdb, x->su, id), 0);
        assert_int_equal(sh_auth_rotate_key(wdb, x->su, "missing"), SH_ENOTFOUND);
        assert_int_equal(sh_session_sweep(wdb, 150000, &x->n), 0);
        return 0;
    }
    assert_int_equal(sh_session_delete(wdb, "session-for-the-lookup00"), 0);
    return sh_session_delete_record(wdb, x->su->id, id);
}

static void test_sessions_store(void **state)
{
    (void)state;
    struct tmp_env *e = tmp_env_new();
    assert_non_null(e);
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, NULL), 0);
    struct sh_catalog cat;
    assert_int_equal(sh_catalog_open(&cat, &e->loop, db), 0);
    const struct sh_collection *su = sh_catalog_find(&cat, "_superusers");
    assert_non_null(su);
    assert_string_equal(su->id, "pbc_3142635823");
    assert_true(su->system && su->type == SH_COLLECTION_AUTH);
    assert_int_equal(su->token_duration, 86400);
    assert_int_equal(strlen(su->token_secret), 50); /* made by the migration */
    assert_null(su->rules[SH_RULE_LIST]);

    struct store_ctx x = {su, 0, 0};
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, store_fn, &x), 0);
    x.step = 1;
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, store_fn, &x), 0);

    struct sh_session_row row;
    assert_int_equal(sh_session_lookup(db, su, "session-for-the-lookup00", &row), 0);
    assert_int_equal(row.expires, 300000);
    assert_int_equal(row.last_used, 4000);
    assert_string_equal(row.rec.token_key, "key-one-key-one-key-one-key-one-0");
    assert_null(row.rec.password_hash);
    assert_string_equal(cJSON_GetObjectItem(row.rec.record, "email")->valuestring,
                        "Root@Example.com");
    assert_null(cJSON_GetObjectItem(row.rec.record, "tokenKey"));
    assert_null(cJSON_GetObjectItem(row.rec.record, "password"));
    assert_string_equal(cJSON_GetObjectItem(row.rec.record, "collectionName")->valuestring,
                        "_superusers");
    sh_auth_row_deinit(&row.rec);
    assert_int_equal(sh_session_lookup(db, su, "nope", &row), SH_ENOTFOUND);

    x.step = 2;
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, store_fn, &x), 0);
    assert_int_equal(x.n, 2); /* the two that end at 100000; the lookup's lives on */
    struct sh_auth_row ar;
    assert_int_equal(sh_auth_find_id(db, NULL, su, "aaaaaaaaaaaaaaa", &ar), 0);
    assert_string_not_equal(ar.token_key, "key-one-key-one-key-one-key-one-0");
    assert_int_equal(strlen(ar.token_key), 50);
    sh_auth_row_deinit(&ar);

    x.step = 3;
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, store_fn, &x), 0);
    assert_int_equal(sh_session_lookup(db, su, "session-for-the-lookup00", &row), SH_ENOTFOUND);
    sqlite3_stmt *st;
    assert_int_equal(sh_db_prepare(db, "SELECT count(*) FROM _sessions", &st), 0);
    assert_int_equal(sh_db_step(db, st), 1);
    assert_int_equal(sqlite3_column_int64(st, 0), 0);
    sh_db_release(db, st);

    sh_catalog_close(&cat);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(tmp_close_db(e, db), 0);
    assert_int_equal(tmp_env_free(e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sessions_token_secret),
        cmocka_unit_test(test_sessions_store),
    };
    return cmocka_run_group_tests_name("sessions", tests, NULL, NULL);
}
