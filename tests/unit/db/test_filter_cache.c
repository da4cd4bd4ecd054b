/*
 * Unit tests of the parsed-filter LRU: hits and misses, eviction of the least
 * recently used entry, keys that include the collection, references that
 * outlive eviction and the cache itself, errors that are not cached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "filter_fixture.h"
#include "stagehand/core.h"

static struct sh_filter *get(struct sh_filter_cache *c, const char *coll, const char *text)
{
    struct sh_filter *f = NULL;
    struct sh_filter_error err;
    if (sh_filter_cache_parse(c, coll, text, strlen(text), &f, &err) != 0)
        fail_msg("%s: %s", text, err.message);
    return f;
}

static struct sh_filter_cache_stats stats(const struct sh_filter_cache *c)
{
    struct sh_filter_cache_stats s;
    sh_filter_cache_stats(c, &s);
    return s;
}

static void test_filter_cache_lru(void **state)
{
    (void)state;
    struct sh_filter_cache *c = sh_filter_cache_new(2);
    struct sh_filter *a = get(c, "posts", "title = 'a'");
    struct sh_filter *b = get(c, "posts", "title = 'b'");
    assert_ptr_not_equal(a, b);
    struct sh_filter *a2 = get(c, "posts", "title = 'a'");
    assert_ptr_equal(a, a2); /* a hit returns the same parsed filter */
    assert_int_equal(stats(c).hits, 1);
    assert_int_equal(stats(c).misses, 2);

    /* 'a' was used last, so adding 'c' evicts 'b'. */
    struct sh_filter *cc = get(c, "posts", "title = 'c'");
    assert_int_equal(stats(c).evictions, 1);
    assert_int_equal(stats(c).entries, 2);
    struct sh_filter *a3 = get(c, "posts", "title = 'a'");
    assert_ptr_equal(a, a3);
    assert_int_equal(stats(c).hits, 2);
    struct sh_filter *b2 = get(c, "posts", "title = 'b'");
    assert_ptr_not_equal(b, b2); /* parsed again */
    assert_int_equal(stats(c).misses, 4);

    /* 'b' was evicted while referenced: it still compiles. */
    struct sh_filter_sql q;
    struct sh_filter_error err;
    assert_int_equal(sh_filter_compile(b, &fixture_posts, NULL, &q, &err), 0);
    assert_string_equal(q.params[0].text, "b");
    sh_filter_sql_deinit(&q);

    struct sh_filter *all[] = {a, b, a2, cc, a3, b2};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sh_filter_free(all[i]);
    sh_filter_cache_free(c);
}

static void test_filter_cache_keys(void **state)
{
    (void)state;
    struct sh_filter_cache *c = sh_filter_cache_new(8);
    struct sh_filter *p = get(c, "posts", "id = 1");
    struct sh_filter *u = get(c, "users", "id = 1");
    struct sh_filter *n = get(c, NULL, "id = 1");
    struct sh_filter *e = get(c, NULL, "");
    struct sh_filter *e2 = get(c, "", "");
    assert_ptr_not_equal(p, u);
    assert_ptr_not_equal(p, n);
    assert_ptr_equal(e, e2); /* NULL and "" name the same namespace */
    assert_true(sh_filter_is_empty(e));
    /* Only len bytes of the text are the key. */
    struct sh_filter *f;
    struct sh_filter_error err;
    assert_int_equal(sh_filter_cache_parse(c, "posts", "id = 1 && junk", 6, &f, &err), 0);
    assert_ptr_equal(f, p);
    sh_filter_free(f);
    assert_int_equal(stats(c).entries, 4);

    sh_filter_cache_forget(c, "posts");
    assert_int_equal(stats(c).entries, 3);
    struct sh_filter *p2 = get(c, "posts", "id = 1");
    assert_ptr_not_equal(p, p2);
    sh_filter_cache_forget(c, NULL);
    assert_int_equal(stats(c).entries, 0);

    struct sh_filter *all[] = {p, u, n, e, e2, p2};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sh_filter_free(all[i]);
    sh_filter_cache_free(c);
    sh_filter_cache_free(NULL);
}

static void test_filter_cache_errors(void **state)
{
    (void)state;
    struct sh_filter_cache *c = sh_filter_cache_new(0); /* rounds up to 1 */
    struct sh_filter *f = (struct sh_filter *)&f;
    struct sh_filter_error err;
    assert_int_equal(sh_filter_cache_parse(c, "posts", "title = ", 8, &f, &err), SH_EINVAL);
    assert_null(f);
    assert_string_equal(err.message, "Invalid filter: expected a value at offset 8.");
    assert_int_equal(sh_filter_cache_parse(c, "posts", "title = ", 8, &f, &err), SH_EINVAL);
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(stats(c).misses, 2);

    /* The cache may be freed while callers hold filters. */
    struct sh_filter *a = get(c, "posts", "title = 'a'");
    struct sh_filter *b = get(c, "posts", "title = 'b'");
    assert_int_equal(stats(c).entries, 1);
    sh_filter_cache_free(c);
    assert_false(sh_filter_is_empty(a));
    sh_filter_free(a);
    sh_filter_free(b);
}

static void test_filter_cache_many(void **state)
{
    (void)state;
    struct sh_filter_cache *c = sh_filter_cache_new(16);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            char text[32];
            snprintf(text, sizeof(text), "views = %d", i % 40);
            sh_filter_free(get(c, i % 2 ? "posts" : "users", text));
            assert_true(stats(c).entries <= 16);
        }
    }
    struct sh_filter_cache_stats s = stats(c);
    assert_int_equal(s.hits + s.misses, 300);
    assert_int_equal(s.entries, 16);
    assert_int_equal(s.evictions, s.misses - 16);
    sh_filter_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_cache_lru),
        cmocka_unit_test(test_filter_cache_keys),
        cmocka_unit_test(test_filter_cache_errors),
        cmocka_unit_test(test_filter_cache_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
