/*
 * Unit tests of compiled filters kept in the filter cache
 * (sh_filter_cache_compile): a differential check that every rule compiled
 * through one shared cache, for many requests in turn (guests, users,
 * bodies, query strings, headers, methods), gives exactly the SQL,
 * parameters and reads that compiling it anew gives (a request value left
 * out of the key would hand one request another's parameters); that
 * compiles which cannot be keyed (the clock, a confined schema, a row rule
 * compiled inside) are not kept; and that results outlive eviction and the
 * cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "filter_fixture.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static struct sh_filter *parse(const char *text)
{
    struct sh_filter *f = NULL;
    struct sh_filter_error err;
    if (sh_filter_parse(text, strlen(text), &f, &err) != 0)
        fail_msg("%s: %s", text, err.message);
    return f;
}

static struct sh_filter_cache_stats stats(const struct sh_filter_cache *c)
{
    struct sh_filter_cache_stats s;
    sh_filter_cache_stats(c, &s);
    return s;
}

/* Fails unless a and b are the same SQL, parameters and reads. */
static void assert_same(const struct sh_filter_sql *a, const struct sh_filter_sql *b,
                        const char *what)
{
    if (strcmp(a->sql ? a->sql : "", b->sql ? b->sql : "") != 0)
        fail_msg("%s: SQL %s != %s", what, a->sql, b->sql);
    if (a->nparams != b->nparams || a->reads != b->reads)
        fail_msg("%s: %zu/%u params/reads != %zu/%u", what, a->nparams, a->reads, b->nparams,
                 b->reads);
    for (size_t i = 0; i < a->nparams; i++) {
        const struct sh_filter_param *p = &a->params[i], *q = &b->params[i];
        bool same = p->type == q->type;
        if (same && p->type == SH_FILTER_PARAM_INT)
            same = p->i == q->i;
        if (same && p->type == SH_FILTER_PARAM_DOUBLE)
            same = memcmp(&p->d, &q->d, sizeof(p->d)) == 0;
        if (same && p->type == SH_FILTER_PARAM_TEXT)
            same = p->len == q->len && memcmp(p->text, q->text, p->len) == 0;
        if (!same)
            fail_msg("%s: parameter %zu differs", what, i);
    }
}

static const char *const rules[] = {
    "@request.auth.id != \"\"",
    "@request.auth.id = \"\"",
    "author = @request.auth.id",
    "@request.auth.id = author || published = true",
    "@request.auth.name ~ \"a\"",
    "title ~ @request.auth.name",
    "@request.auth.org.name = \"Acme\"",
    "author.org = @request.auth.org",
    "@request.auth.roles ?= \"admin\"",
    "@request.auth.roles:length > 0",
    "@request.auth.data.x = 1",
    "@request.auth.collectionId = \"users\"",
    "@request.auth.verified = true",
    "@request.body.title = title",
    "@request.body.title:isset = true",
    "@request.body.title:changed = false",
    "@request.body.tags ?= \"a\"",
    "@request.body.n > views",
    "@request.body.data.k = \"v\"",
    "@request.query.q = title",
    "@request.query.q ~ body",
    "@request.headers.x_token = \"t\"",
    "@request.method = \"GET\"",
    "@request.context = \"default\"",
    "published = true",
    "@collection.posts.title ?= @request.auth.name",
    "@request.auth.id != \"\" && (views > @request.body.n || @request.query.q ~ title)",
    "geoDistance(@request.body.n, 0, 1, 1) < 10",
};

static const char *const auths[] = {
    NULL,
    "{\"id\":\"u1\",\"collectionId\":\"users\",\"name\":\"ann\",\"org\":\"o1\","
    "\"roles\":[\"admin\"],\"data\":{\"x\":1},\"verified\":true}",
    "{\"id\":\"u2\",\"collectionId\":\"users\",\"name\":\"ann\",\"org\":\"o1\","
    "\"roles\":[\"admin\"],\"data\":{\"x\":1},\"verified\":true}",
    "{\"id\":\"u1\",\"collectionId\":\"users\",\"name\":\"bob\",\"org\":null,"
    "\"roles\":[],\"data\":{\"x\":2},\"verified\":false}",
    "{\"id\":\"u1\",\"collectionId\":\"other\",\"name\":\"\",\"org\":[\"o1\",\"o2\"],"
    "\"roles\":\"admin\",\"data\":[1]}",
    "{\"id\":\"\",\"collectionId\":\"users\"}",
    "{\"id\":7,\"collectionId\":\"users\",\"name\":5.5,\"roles\":null}",
    "{}",
};

static const char *const bodies[] = {
    NULL,
    "{}",
    "{\"title\":\"a\",\"n\":1}",
    "{\"title\":\"\",\"n\":1.5,\"tags\":[\"a\",\"b\"]}",
    "{\"title\":null,\"tags\":\"a\",\"data\":{\"k\":\"v\"}}",
    "{\"title\":5,\"n\":\"3\",\"data\":{\"k\":\"w\"}}",
    "{\"title\":[\"a\"],\"tags\":[]}",
    "[1,2]",
};

static const char *const queries[] = {NULL, "{\"q\":\"x\"}", "{\"q\":\"\"}", "{\"q\":\"%\"}"};
static const char *const headers[] = {NULL, "{\"x_token\":\"t\"}", "{\"x_token\":\"u\"}"};
static const char *const methods[] = {"GET", "POST", NULL};
static const char *const contexts[] = {"default", "realtime"};

static cJSON *json_or_null(const char *text)
{
    if (!text)
        return NULL;
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

/* Every rule for a mix of requests, twice over in different orders, through
 * one cache: each answer must be the fresh compile's. */
static void test_compiled_matches_fresh(void **state)
{
    (void)state;
    struct sh_filter_cache *c = sh_filter_cache_new(4096);
    struct sh_filter *fs[ARRAY_LEN(rules)];
    for (size_t i = 0; i < ARRAY_LEN(rules); i++)
        fs[i] = parse(rules[i]);
    cJSON *a[ARRAY_LEN(auths)], *b[ARRAY_LEN(bodies)], *q[ARRAY_LEN(queries)],
        *h[ARRAY_LEN(headers)];
    for (size_t i = 0; i < ARRAY_LEN(auths); i++)
        a[i] = json_or_null(auths[i]);
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++)
        b[i] = json_or_null(bodies[i]);
    for (size_t i = 0; i < ARRAY_LEN(queries); i++)
        q[i] = json_or_null(queries[i]);
    for (size_t i = 0; i < ARRAY_LEN(headers); i++)
        h[i] = json_or_null(headers[i]);
    size_t compiled = 0, differing = 0;
    for (unsigned round = 0; round < 2; round++) {
        for (size_t n = 0; n < 600; n++) {
            /* a fixed walk over the combinations, another one each round */
            size_t k = round ? 599 - n : n;
            struct sh_filter_ctx ctx = {
                .auth = a[k % ARRAY_LEN(auths)],
                .auth_schema = &fixture_users,
                .body = b[(k / 3) % ARRAY_LEN(bodies)],
                .query = q[(k / 5) % ARRAY_LEN(queries)],
                .headers = h[(k / 7) % ARRAY_LEN(headers)],
                .method = methods[(k / 11) % ARRAY_LEN(methods)],
                .context = contexts[(k / 13) % ARRAY_LEN(contexts)],
                .now_ms = FIXTURE_NOW_MS,
            };
            for (size_t i = 0; i < ARRAY_LEN(rules); i++) {
                struct sh_filter_sql fresh;
                struct sh_filter_error e1 = {0}, e2 = {0};
                const struct sh_filter_sql *got = NULL;
                int rc1 = sh_filter_compile(fs[i], &fixture_posts, &ctx, &fresh, &e1);
                int rc2 = sh_filter_cache_compile(c, fs[i], &fixture_posts, &ctx, &got, &e2);
                assert_int_equal(rc1, rc2);
                if (rc1 == 0) {
                    char what[256];
                    snprintf(what, sizeof(what), "%s (request %zu)", rules[i], k);
                    assert_same(got, &fresh, what);
                    compiled++;
                    differing += fresh.nparams > 0;
                    sh_filter_sql_deinit(&fresh);
                    sh_filter_cache_release(got);
                } else {
                    assert_null(got);
                    assert_string_equal(e1.message, e2.message);
                }
            }
        }
    }
    /* the cache answered most of them, and they were not all alike */
    assert_true(compiled > 1000);
    assert_true(differing > 100);
    assert_true(stats(c).hits > compiled / 2);
    assert_true(stats(c).entries > ARRAY_LEN(rules));
    for (size_t i = 0; i < ARRAY_LEN(auths); i++)
        cJSON_Delete(a[i]);
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++)
        cJSON_Delete(b[i]);
    for (size_t i = 0; i < ARRAY_LEN(queries); i++)
        cJSON_Delete(q[i]);
    for (size_t i = 0; i < ARRAY_LEN(headers); i++)
        cJSON_Delete(h[i]);
    for (size_t i = 0; i < ARRAY_LEN(rules); i++)
        sh_filter_free(fs[i]);
    sh_filter_cache_free(c);
}

/* The common case: a private collection's rule for two users and a guest. */
static void test_compiled_per_user(void **state)
{
    (void)state;
    struct sh_filter_cache *c = sh_filter_cache_new(16);
    struct sh_filter *f = parse("author = @request.auth.id");
    cJSON *u1 = cJSON_Parse("{\"id\":\"u1\",\"collectionId\":\"users\"}");
    cJSON *u2 = cJSON_Parse("{\"id\":\"u2\",\"collectionId\":\"users\"}");
    struct sh_filter_ctx c1 = {.auth = u1}, c2 = {.auth = u2}, guest = {0};
    const struct sh_filter_sql *a, *b, *a2, *g;
    struct sh_filter_error err;
    assert_int_equal(sh_filter_cache_compile(c, f, &fixture_posts, &c1, &a, &err), 0);
    assert_int_equal(sh_filter_cache_compile(c, f, &fixture_posts, &c2, &b, &err), 0);
    assert_int_equal(sh_filter_cache_compile(c, f, &fixture_posts, &c1, &a2, &err), 0);
    assert_int_equal(sh_filter_cache_compile(c, f, &fixture_posts, &guest, &g, &err), 0);
    assert_ptr_equal(a, a2); /* a hit: the same compiled SQL */
    assert_ptr_not_equal(a, b);
    assert_string_equal(a->params[0].text, "u1");
    assert_string_equal(b->params[0].text, "u2");
    assert_int_equal(stats(c).hits, 1);
    assert_int_equal(stats(c).entries, 3);
    /* another schema (by address) is another entry */
    struct sh_filter_schema posts2 = fixture_posts;
    const struct sh_filter_sql *o;
    assert_int_equal(sh_filter_cache_compile(c, f, &posts2, &c1, &o, &err), 0);
    assert_ptr_not_equal(o, a);
    assert_int_equal(stats(c).entries, 4);
    /* forgetting one collection's parsed filters keeps compiled ones */
    sh_filter_cache_forget(c, "posts");
    assert_int_equal(stats(c).entries, 4);
    sh_filter_cache_forget(c, NULL);
    assert_int_equal(stats(c).entries, 0);
    assert_string_equal(a->params[0].text, "u1"); /* still held */
    const struct sh_filter_sql *all[] = {a, b, a2, g, o};
    for (size_t i = 0; i < ARRAY_LEN(all); i++)
        sh_filter_cache_release(all[i]);
    sh_filter_free(f);
    cJSON_Delete(u1);
    cJSON_Delete(u2);
    sh_filter_cache_free(c);
}

/* Results outlive eviction and the cache itself; errors are not kept. */
static void test_compiled_lifetime(void **state)
{
    (void)state;
    struct sh_filter_cache *c = sh_filter_cache_new(1);
    struct sh_filter *f1 = parse("title = @request.auth.id");
    struct sh_filter *f2 = parse("body = @request.auth.id");
    struct sh_filter *bad = parse("nosuch = 1");
    const struct sh_filter_sql *a, *b, *x = NULL;
    struct sh_filter_error err;
    assert_int_equal(sh_filter_cache_compile(c, f1, &fixture_posts, NULL, &a, &err), 0);
    assert_int_equal(sh_filter_cache_compile(c, f2, &fixture_posts, NULL, &b, &err), 0);
    assert_int_equal(stats(c).evictions, 1);
    assert_int_not_equal(sh_filter_cache_compile(c, bad, &fixture_posts, NULL, &x, &err), 0);
    assert_null(x);
    assert_int_equal(stats(c).entries, 1);
    sh_filter_free(f1); /* the entry of f2 holds its own reference */
    sh_filter_free(f2);
    sh_filter_free(bad);
    sh_filter_cache_free(c);
    assert_non_null(strstr(a->sql, "title"));
    assert_non_null(strstr(b->sql, "body"));
    sh_filter_cache_release(a);
    sh_filter_cache_release(b);
    sh_filter_cache_release(NULL);
}

/* The clock, a confined schema and a row rule compiled inside are
 * compiled every time; so is everything when there is no cache. */
static const struct sh_filter_schema *row_rule_resolve(void *ud, const char *collection);
static struct sh_filter_schema users_ruled, posts_to_ruled;

static const struct sh_filter_schema *row_rule_resolve(void *ud, const char *collection)
{
    (void)ud;
    return strcmp(collection, "users") == 0 ? &users_ruled : fixture_resolve(NULL, collection);
}

static void test_compiled_not_kept(void **state)
{
    (void)state;
    struct sh_filter_cache *c = sh_filter_cache_new(16);
    struct sh_filter *clock = parse("created > @now");
    struct sh_filter *rel = parse("author.name != \"\"");
    struct sh_filter *row = parse("name = @request.auth.name");
    users_ruled = fixture_users;
    users_ruled.row_rule = row;
    posts_to_ruled = fixture_posts;
    posts_to_ruled.resolve = row_rule_resolve;
    struct sh_filter_schema confined = fixture_posts;
    confined.access = SH_FILTER_ACCESS_CONFINED;
    cJSON *ann = cJSON_Parse("{\"id\":\"u1\",\"collectionId\":\"users\",\"name\":\"ann\"}");
    cJSON *bob = cJSON_Parse("{\"id\":\"u1\",\"collectionId\":\"users\",\"name\":\"bob\"}");
    struct sh_filter_ctx t1 = {.auth = ann, .now_ms = 1000}, t2 = {.auth = bob, .now_ms = 2000};
    struct sh_filter_error err;
    for (int i = 0; i < 2; i++) {
        const struct sh_filter_sql *x, *y;
        assert_int_equal(sh_filter_cache_compile(c, clock, &fixture_posts, &t1, &x, &err), 0);
        assert_int_equal(sh_filter_cache_compile(c, clock, &fixture_posts, &t2, &y, &err), 0);
        assert_string_not_equal(x->params[0].text, y->params[0].text);
        sh_filter_cache_release(x);
        sh_filter_cache_release(y);
        assert_int_equal(sh_filter_cache_compile(c, rel, &posts_to_ruled, &t1, &x, &err), 0);
        assert_int_equal(sh_filter_cache_compile(c, rel, &posts_to_ruled, &t2, &y, &err), 0);
        bool ann_bound = false, bob_bound = false;
        for (size_t p = 0; p < x->nparams; p++)
            ann_bound |= x->params[p].text && strcmp(x->params[p].text, "ann") == 0;
        for (size_t p = 0; p < y->nparams; p++)
            bob_bound |= y->params[p].text && strcmp(y->params[p].text, "bob") == 0;
        assert_true(ann_bound && bob_bound); /* each its own row rule's value */
        sh_filter_cache_release(x);
        sh_filter_cache_release(y);
        assert_int_equal(sh_filter_cache_compile(c, rel, &confined, &t1, &x, &err), 0);
        sh_filter_cache_release(x);
        assert_int_equal(sh_filter_cache_compile(NULL, rel, &fixture_posts, &t1, &x, &err), 0);
        sh_filter_cache_release(x);
    }
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(stats(c).hits, 0);
    sh_filter_free(clock);
    sh_filter_free(rel);
    sh_filter_free(row);
    cJSON_Delete(ann);
    cJSON_Delete(bob);
    sh_filter_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compiled_matches_fresh),
        cmocka_unit_test(test_compiled_per_user),
        cmocka_unit_test(test_compiled_lifetime),
        cmocka_unit_test(test_compiled_not_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
