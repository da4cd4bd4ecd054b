/* The table of stored files' sniffed types (api/records/file_types.c):
 * found after being put, bounded with the least recently used going first,
 * a type too long for an entry never kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "records_int.h"

static void test_file_types_put_get(void **state)
{
    (void)state;
    struct sh__file_types *t = sh__file_types_new(4);
    assert_null(sh__file_types_get(t, "/d/storage/c/r/a.png"));
    sh__file_types_put(t, "/d/storage/c/r/a.png", "image/png");
    sh__file_types_put(t, "/d/storage/c/r/b.txt", "text/plain");
    assert_string_equal(sh__file_types_get(t, "/d/storage/c/r/a.png"), "image/png");
    assert_string_equal(sh__file_types_get(t, "/d/storage/c/r/b.txt"), "text/plain");
    /* a path is not a prefix match */
    assert_null(sh__file_types_get(t, "/d/storage/c/r/a.pn"));
    /* the first type stays (a path's bytes never change) */
    sh__file_types_put(t, "/d/storage/c/r/a.png", "text/html");
    assert_string_equal(sh__file_types_get(t, "/d/storage/c/r/a.png"), "image/png");
    sh__file_types_free(t);
}

static void test_file_types_bounded_lru(void **state)
{
    (void)state;
    struct sh__file_types *t = sh__file_types_new(3);
    char p[64];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "/s/f%d", i);
        sh__file_types_put(t, p, "text/plain");
    }
    assert_non_null(sh__file_types_get(t, "/s/f0")); /* now the most recent */
    sh__file_types_put(t, "/s/f3", "image/gif");     /* evicts f1, the oldest */
    assert_null(sh__file_types_get(t, "/s/f1"));
    assert_non_null(sh__file_types_get(t, "/s/f0"));
    assert_non_null(sh__file_types_get(t, "/s/f2"));
    assert_string_equal(sh__file_types_get(t, "/s/f3"), "image/gif");
    /* many more: never more than the capacity */
    for (int i = 10; i < 1000; i++) {
        snprintf(p, sizeof(p), "/s/g%d", i);
        sh__file_types_put(t, p, "application/pdf");
    }
    int found = 0;
    for (int i = 10; i < 1000; i++) {
        snprintf(p, sizeof(p), "/s/g%d", i);
        found += sh__file_types_get(t, p) != NULL;
    }
    assert_int_equal(found, 3);
    assert_non_null(sh__file_types_get(t, "/s/g999"));
    sh__file_types_free(t);
}

static void test_file_types_long_type_not_kept(void **state)
{
    (void)state;
    struct sh__file_types *t = sh__file_types_new(2);
    char type[SH__FILE_TYPE_MAX + 8];
    memset(type, 'x', sizeof(type) - 1);
    type[sizeof(type) - 1] = 0;
    sh__file_types_put(t, "/s/long", type);
    assert_null(sh__file_types_get(t, "/s/long"));
    type[SH__FILE_TYPE_MAX - 1] = 0; /* the longest that fits */
    sh__file_types_put(t, "/s/long", type);
    assert_string_equal(sh__file_types_get(t, "/s/long"), type);
    sh__file_types_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_types_put_get),
        cmocka_unit_test(test_file_types_bounded_lru),
        cmocka_unit_test(test_file_types_long_type_not_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
