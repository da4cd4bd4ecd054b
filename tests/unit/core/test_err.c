/* sh_strerror: our codes by name, -errno and libuv codes by the C library's
 * text, anything else numbered. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "stagehand/core.h"

static void test_strerror_names_our_codes(void **state)
{
    (void)state;
    int ours[] = {SH_ENOTFOUND,  SH_ECONFLICT, SH_EINVAL,    SH_ETOOBIG,
                  SH_EFORBIDDEN, SH_EBUSY,     SH_EINTERNAL, SH_ESTALE};
    for (size_t i = 0; i < SH_ARRAY_LEN(ours); i++) {
        const char *s = sh_strerror(ours[i]);
        assert_non_null(strstr(s, "SH_E"));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, sh_strerror(ours[j]));
    }
    assert_string_equal(sh_strerror(SH_EBUSY), "SH_EBUSY: busy");
    /* stale schema is its own condition, not "busy" */
    assert_string_equal(sh_strerror(SH_ESTALE),
                        "SH_ESTALE: schema changed since the catalog was read");
}

static void test_strerror_errno_and_libuv(void **state)
{
    (void)state;
    assert_string_equal(sh_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(sh_strerror(UV_EADDRINUSE), "Address already in use");
    assert_string_equal(sh_strerror(0), "ok");
    assert_string_equal(sh_strerror(-99999), "unknown error -99999");
    assert_string_equal(sh_strerror(42), "unknown error 42");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_our_codes),
        cmocka_unit_test(test_strerror_errno_and_libuv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
