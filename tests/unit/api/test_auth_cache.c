/*
 * The verified-token cache (api/auth_cache.c): a hit for the same token
 * only, the least recently used dropped beyond the bound, entries of an old
 * epoch or schema version or past their expiry never answered (and
 * dropped), identities kept alive by a request's reference after eviction,
 * tokens that share their hashed tail told apart by the whole token, and a
 * cache of 0 entries that is off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "auth_int.h"

static char users_id[] = "pbc_users", users_name[] = "users";
static char su_id[] = "pbc_su", su_name[] = "_superusers";
static struct sh_collection users = {
    .id = users_id, .name = users_name, .type = SH_COLLECTION_AUTH};
static struct sh_collection supers = {
    .id = su_id, .name = su_name, .type = SH_COLLECTION_AUTH, .system = true};

/* An identity for token tok, made at epoch 1, schema 7, valid until 1000. */
static struct sh__auth_ident *put(struct sh__auth_cache *c, const char *tok)
{
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "id", tok);
    struct sh__auth_ident *id = sh__auth_ident_new(&users, tok, "sid", rec);
    id->epoch = 1;
    id->schema = 7;
    id->expires = 1000;
    sh__auth_cache_put(c, tok, strlen(tok), id);
    sh__auth_ident_unref(id); /* the cache's reference remains */
    return id;
}

static struct sh__auth_ident *find(struct sh__auth_cache *c, const char *tok)
{
    return sh__auth_cache_find(c, tok, strlen(tok), 1, 7, 500);
}

static void test_auth_cache_hit_and_miss(void **state)
{
    (void)state;
    struct sh__auth_cache *c = sh__auth_cache_new(8);
    struct sh__auth_ident *id = put(c, "tok-a");
    assert_ptr_equal(find(c, "tok-a"), id);
    assert_string_equal(id->au.record_id, "tok-a");
    assert_string_equal(id->au.collection_name, "users");
    assert_string_equal(id->au.session_id, "sid");
    assert_false(id->au.superuser);
    assert_null(find(c, "tok-b"));
    assert_null(find(c, "tok-")); /* the whole token, not a prefix */
    struct sh__auth_cache_stats st;
    sh__auth_cache_stats(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.size, 1);
    sh__auth_cache_free(c);

    struct sh__auth_ident *s = sh__auth_ident_new(&supers, "r", "s", cJSON_CreateObject());
    assert_true(s->au.superuser);
    sh__auth_ident_unref(s);
}

static void test_auth_cache_lru_bound(void **state)
{
    (void)state;
    struct sh__auth_cache *c = sh__auth_cache_new(3);
    put(c, "t1");
    put(c, "t2");
    put(c, "t3");
    assert_non_null(find(c, "t1")); /* t2 is now the least recently used */
    put(c, "t4");
    assert_null(find(c, "t2"));
    assert_non_null(find(c, "t1"));
    assert_non_null(find(c, "t3"));
    assert_non_null(find(c, "t4"));
    for (int i = 0; i < 100; i++) {
        char tok[16];
        snprintf(tok, sizeof tok, "x%d", i);
        put(c, tok);
    }
    struct sh__auth_cache_stats st;
    sh__auth_cache_stats(c, &st);
    assert_int_equal(st.size, 3);
    assert_int_equal(st.evicted, 101);
    assert_non_null(find(c, "x99"));
    assert_null(find(c, "x96"));
    sh__auth_cache_free(c);
}

static void test_auth_cache_stale(void **state)
{
    (void)state;
    struct sh__auth_cache *c = sh__auth_cache_new(8);
    put(c, "e");
    assert_null(sh__auth_cache_find(c, "e", 1, 2, 7, 500)); /* a newer epoch */
    assert_null(find(c, "e"));                              /* and it was dropped */
    put(c, "s");
    assert_null(sh__auth_cache_find(c, "s", 1, 1, 8, 500)); /* another schema */
    assert_null(find(c, "s"));
    put(c, "x");
    assert_non_null(sh__auth_cache_find(c, "x", 1, 1, 7, 999));
    assert_null(sh__auth_cache_find(c, "x", 1, 1, 7, 1000)); /* expired */
    assert_null(find(c, "x"));
    struct sh__auth_cache_stats st;
    sh__auth_cache_stats(c, &st);
    assert_int_equal(st.stale, 3);
    assert_int_equal(st.size, 0);
    sh__auth_cache_free(c);
}

static void test_auth_cache_ref_outlives_eviction(void **state)
{
    (void)state;
    struct sh__auth_cache *c = sh__auth_cache_new(1);
    struct sh__auth_ident *id = put(c, "held");
    id->refs++; /* a request adopted it */
    put(c, "next");
    assert_null(find(c, "held"));
    assert_string_equal(id->au.record_id, "held"); /* still readable (ASan) */
    sh__auth_ident_unref(id);
    sh__auth_cache_free(c);
}

/* The bucket is chosen by the last 32 bytes: tokens that end alike (a
 * forged payload before a known signature, a longer prefix) must still miss,
 * and each of several such tokens finds its own identity. */
static void test_auth_cache_same_tail(void **state)
{
    (void)state;
    struct sh__auth_cache *c = sh__auth_cache_new(8);
    const char *tail = ".SIGNATURE-0123456789abcdefghijklmnopqrstu"; /* > 32 bytes */
    char a[128], b[128], d[128], e[128];
    snprintf(a, sizeof a, "header.payloadA%s", tail);
    snprintf(b, sizeof b, "header.payloadB%s", tail);  /* same length, same tail */
    snprintf(d, sizeof d, "header.payloadAA%s", tail); /* longer */
    snprintf(e, sizeof e, "header.payloadA%s", tail);
    e[3] ^= 1; /* one bit off far from the tail */
    struct sh__auth_ident *ia = put(c, a);
    assert_null(find(c, b));
    assert_null(find(c, d));
    assert_null(find(c, e));
    assert_null(find(c, tail + 10)); /* the tail alone */
    struct sh__auth_ident *ib = put(c, b);
    assert_ptr_equal(find(c, a), ia);
    assert_ptr_equal(find(c, b), ib);
    assert_string_equal(find(c, b)->au.record_id, b);
    sh__auth_cache_free(c);
}

static void test_auth_cache_off(void **state)
{
    (void)state;
    assert_null(sh__auth_cache_new(0));
    assert_null(sh__auth_cache_find(NULL, "t", 1, 0, 0, 0));
    struct sh__auth_ident *id = sh__auth_ident_new(&users, "r", "s", cJSON_CreateObject());
    sh__auth_cache_put(NULL, "t", 1, id);
    assert_int_equal(id->refs, 1);
    sh__auth_ident_unref(id);
    sh__auth_cache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_cache_hit_and_miss),
        cmocka_unit_test(test_auth_cache_lru_bound),
        cmocka_unit_test(test_auth_cache_stale),
        cmocka_unit_test(test_auth_cache_ref_outlives_eviction),
        cmocka_unit_test(test_auth_cache_same_tail),
        cmocka_unit_test(test_auth_cache_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
