/* Unit tests of the request arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/core.h"

static void test_arena_alloc_aligned_and_distinct(void **state)
{
    (void)state;
    struct sh_arena a;
    sh_arena_init(&a, 256, 0);
    char *p = sh_arena_alloc(&a, 3);
    char *q = sh_arena_alloc(&a, 5);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal((uintptr_t)p % 16, 0);
    assert_int_equal((uintptr_t)q % 16, 0);
    assert_true(q >= p + 3);
    memset(p, 'a', 3);
    memset(q, 'b', 5);
    assert_int_equal(p[2], 'a');
    sh_arena_deinit(&a);
}

static void test_arena_large_allocation_gets_own_chunk(void **state)
{
    (void)state;
    struct sh_arena a;
    sh_arena_init(&a, 128, 0);
    char *big = sh_arena_alloc(&a, 10000);
    assert_non_null(big);
    memset(big, 1, 10000);
    char *small = sh_arena_alloc(&a, 16);
    assert_non_null(small);
    sh_arena_deinit(&a);
}

static void test_arena_limit_returns_null(void **state)
{
    (void)state;
    struct sh_arena a;
    sh_arena_init(&a, 1024, 4096);
    int got = 0;
    for (int i = 0; i < 100; i++)
        if (sh_arena_alloc(&a, 512))
            got++;
    assert_true(got > 0);
    assert_true(got < 8); /* 8 x 512 plus headers exceeds 4096 */
    assert_null(sh_arena_alloc(&a, 100000));
    sh_arena_deinit(&a);
}

static int defer_order[4];
static int ndefer;

static void record(void *arg)
{
    defer_order[ndefer++] = (int)(intptr_t)arg;
}

static void test_arena_defer_runs_newest_first_on_reset(void **state)
{
    (void)state;
    struct sh_arena a;
    sh_arena_init(&a, 256, 0);
    ndefer = 0;
    assert_int_equal(sh_arena_defer(&a, record, (void *)1), 0);
    assert_int_equal(sh_arena_defer(&a, record, (void *)2), 0);
    assert_int_equal(sh_arena_defer(&a, record, (void *)3), 0);
    sh_arena_reset(&a);
    assert_int_equal(ndefer, 3);
    assert_int_equal(defer_order[0], 3);
    assert_int_equal(defer_order[2], 1);
    sh_arena_reset(&a); /* nothing left to run */
    assert_int_equal(ndefer, 3);
    sh_arena_deinit(&a);
}

static void test_arena_reset_reuses_memory(void **state)
{
    (void)state;
    struct sh_arena a;
    sh_arena_init(&a, 4096, 0);
    char *p = sh_arena_alloc(&a, 64);
    sh_arena_alloc(&a, 8000); /* a second chunk, freed by reset */
    sh_arena_reset(&a);
    char *q = sh_arena_alloc(&a, 64);
    assert_ptr_equal(p, q);
    assert_true(a.used <= 4096 + 64);
    sh_arena_deinit(&a);
}

static void test_arena_strndup_and_sprintf(void **state)
{
    (void)state;
    struct sh_arena a;
    sh_arena_init(&a, 64, 0);
    char *s = sh_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    char *f = sh_arena_sprintf(&a, "%s-%d", "x", 42);
    assert_string_equal(f, "x-42");
    sh_arena_deinit(&a);
}

/* An arena freed whole gives its chunk to the pool and the next arena's
 * first allocation takes it (no malloc); the pool keeps at most max chunks
 * and only of its size, and frees what comes back after its deinit. */
static void test_arena_pool_reuses_chunks(void **state)
{
    (void)state;
    struct sh_arena_pool pool;
    sh_arena_pool_init(&pool, 1024, 2);
    struct sh_arena a, b, c, big;
    sh_arena_init(&a, 1024, 0);
    sh_arena_init(&b, 1024, 0);
    sh_arena_init(&c, 1024, 0);
    sh_arena_init(&big, 4096, 0);
    sh_arena_use_pool(&a, &pool);
    sh_arena_use_pool(&b, &pool);
    sh_arena_use_pool(&c, &pool);
    sh_arena_use_pool(&big, &pool); /* its chunks are another size: never kept */
    char *pa = sh_arena_alloc(&a, 100);
    assert_non_null(sh_arena_alloc(&b, 100));
    assert_non_null(sh_arena_alloc(&c, 100));
    assert_non_null(sh_arena_alloc(&big, 100));
    memset(pa, 'x', 100);
    sh_arena_deinit(&a);
    assert_int_equal(pool.n, 1);
    sh_arena_deinit(&big);
    assert_int_equal(pool.n, 1);
    char *pb = sh_arena_alloc(&a, 10); /* a again: the same chunk back */
    assert_ptr_equal(pb, pa);
    assert_int_equal(pool.n, 0);
    sh_arena_deinit(&a);
    sh_arena_deinit(&b);
    sh_arena_deinit(&c); /* the third: no room, freed (LeakSanitizer checks) */
    assert_int_equal(pool.n, 2);
    assert_non_null(sh_arena_alloc(&a, 2000)); /* larger than a chunk: not from the pool */
    assert_int_equal(pool.n, 2);
    sh_arena_deinit(&a); /* nor kept in it */
    assert_int_equal(pool.n, 2);
    sh_arena_pool_deinit(&pool);
    assert_int_equal(pool.n, 0);
    assert_non_null(sh_arena_alloc(&a, 10));
    sh_arena_deinit(&a); /* after the pool's deinit: freed */
    assert_int_equal(pool.n, 0);
    assert_null(pool.free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alloc_aligned_and_distinct),
        cmocka_unit_test(test_arena_large_allocation_gets_own_chunk),
        cmocka_unit_test(test_arena_limit_returns_null),
        cmocka_unit_test(test_arena_defer_runs_newest_first_on_reset),
        cmocka_unit_test(test_arena_reset_reuses_memory),
        cmocka_unit_test(test_arena_strndup_and_sprintf),
        cmocka_unit_test(test_arena_pool_reuses_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
