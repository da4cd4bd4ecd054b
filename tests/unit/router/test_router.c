/* Unit tests of route matching: parameters, 404/405 with Allow, HEAD. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/router.h"

static int h_list(struct sh_req *r, void *ud)
{
    (void)r;
    (void)ud;
    return SH_HANDLED;
}
static int h_view(struct sh_req *r, void *ud)
{
    (void)r;
    (void)ud;
    return SH_HANDLED;
}
static int h_files(struct sh_req *r, void *ud)
{
    (void)r;
    (void)ud;
    return SH_HANDLED;
}

static struct sh_router rt;

static int setup(void **state)
{
    (void)state;
    sh_router_init(&rt, NULL);
    assert_int_equal(sh_router_add(&rt, SH_METHOD_GET | SH_METHOD_POST,
                                   "/api/collections/:collection/records", h_list, NULL),
                     0);
    assert_int_equal(sh_router_add(&rt, SH_METHOD_GET | SH_METHOD_PATCH | SH_METHOD_DELETE,
                                   "/api/collections/:collection/records/:id", h_view, NULL),
                     0);
    assert_int_equal(sh_router_add(&rt, SH_METHOD_GET, "/api/files/*", h_files, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sh_router_deinit(&rt);
    return 0;
}

static struct sh_str S(const char *s) {
    return (struct sh_str){s, strlen(s)};
}

static void
test_router_params(void **state)
{
    (void)state;
    struct sh_route_match m;
    assert_int_equal(
        sh_router_match(&rt, SH_METHOD_PATCH, S("/api/collections/posts/records/abc"), &m), 1);
    assert_ptr_equal(m.route->fn, h_view);
    assert_int_equal(m.nparams, 2);
    assert_true(sh_str_eq(m.param_names[0], "collection"));
    assert_true(sh_str_eq(m.params[0], "posts"));
    assert_true(sh_str_eq(m.param_names[1], "id"));
    assert_true(sh_str_eq(m.params[1], "abc"));
}

static void test_router_trailing_slash_and_doubles(void **state)
{
    (void)state;
    struct sh_route_match m;
    assert_int_equal(sh_router_match(&rt, SH_METHOD_GET, S("/api/collections/posts/records/"), &m),
                     1);
    assert_ptr_equal(m.route->fn, h_list);
}

static void test_router_405_allow(void **state)
{
    (void)state;
    struct sh_route_match m;
    assert_int_equal(sh_router_match(&rt, SH_METHOD_PUT, S("/api/collections/posts/records/x"), &m),
                     0);
    assert_null(m.route);
    assert_int_equal(m.allow, SH_METHOD_GET | SH_METHOD_PATCH | SH_METHOD_DELETE);
    char allow[96];
    sh_router_format_allow(m.allow, allow, sizeof(allow));
    assert_string_equal(allow, "GET, HEAD, PATCH, DELETE, OPTIONS");
}

static void test_router_404(void **state)
{
    (void)state;
    struct sh_route_match m;
    assert_int_equal(sh_router_match(&rt, SH_METHOD_GET, S("/api/nothing"), &m), 0);
    assert_int_equal(m.allow, 0);
    assert_int_equal(sh_router_match(&rt, SH_METHOD_GET, S("/api/collections/x/records/y/z"), &m),
                     0);
    assert_int_equal(m.allow, 0);
    /* deeper than any route */
    assert_int_equal(
        sh_router_match(&rt, SH_METHOD_GET, S("/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r"), &m), 0);
}

static void test_router_head_matches_get(void **state)
{
    (void)state;
    struct sh_route_match m;
    assert_int_equal(sh_router_match(&rt, SH_METHOD_HEAD, S("/api/collections/p/records"), &m), 1);
    assert_ptr_equal(m.route->fn, h_list);
}

static void test_router_wildcard_tail(void **state)
{
    (void)state;
    struct sh_route_match m;
    assert_int_equal(sh_router_match(&rt, SH_METHOD_GET, S("/api/files/a/b/c.png"), &m), 1);
    assert_ptr_equal(m.route->fn, h_files);
    assert_int_equal(sh_router_match(&rt, SH_METHOD_GET, S("/api/filesx"), &m), 0);
}

/* A static segment wins over a parameter in its place, whichever route was
 * added first; methods of a route that does not win still make 405s. */
static void test_router_static_segments_win(void **state)
{
    (void)state;
    struct sh_router r2;
    sh_router_init(&r2, NULL);
    assert_int_equal(
        sh_router_add(&r2, SH_METHOD_GET | SH_METHOD_PATCH, "/api/collections/:c", h_view, NULL),
        0);
    assert_int_equal(sh_router_add(&r2, SH_METHOD_PUT, "/api/collections/import", h_list, NULL), 0);
    assert_int_equal(sh_router_add(&r2, SH_METHOD_GET, "/api/:x/:y/meta", h_files, NULL), 0);
    assert_int_equal(sh_router_add(&r2, SH_METHOD_GET, "/api/collections/:c/meta", h_list, NULL),
                     0);
    struct sh_route_match m;
    assert_int_equal(sh_router_match(&r2, SH_METHOD_PUT, S("/api/collections/import"), &m), 1);
    assert_ptr_equal(m.route->fn, h_list);
    assert_int_equal(m.nparams, 0);
    /* GET has no static route there: the parameter route serves "import" */
    assert_int_equal(sh_router_match(&r2, SH_METHOD_GET, S("/api/collections/import"), &m), 1);
    assert_ptr_equal(m.route->fn, h_view);
    assert_int_equal(m.nparams, 1);
    assert_int_equal(m.params[0].len, 6);
    assert_int_equal(sh_router_match(&r2, SH_METHOD_DELETE, S("/api/collections/import"), &m), 0);
    assert_int_equal(m.allow, SH_METHOD_GET | SH_METHOD_PATCH | SH_METHOD_PUT);
    /* the first place the routes differ decides */
    assert_int_equal(sh_router_match(&r2, SH_METHOD_GET, S("/api/collections/x/meta"), &m), 1);
    assert_ptr_equal(m.route->fn, h_list);
    assert_int_equal(sh_router_match(&r2, SH_METHOD_GET, S("/api/other/x/meta"), &m), 1);
    assert_ptr_equal(m.route->fn, h_files);
    sh_router_deinit(&r2);
}

/* Routes of every depth, past the first growth of the table, with tail
 * routes: a path meets only the routes of its segment count and the tails
 * no deeper than it, in the order added (the first of two equal routes wins). */
static void test_router_depths_and_tails(void **state)
{
    (void)state;
    static const char *const pats[] = {"/a", "/a/b", "/a/b/c", "/a/:x/c/d", "/a/b/c/d/e"};
    struct sh_router r2;
    sh_router_init(&r2, NULL);
    assert_int_equal(sh_router_add(&r2, SH_METHOD_POST, "/*", h_files, NULL), 0);
    for (int round = 0; round < 8; round++) /* 40 routes: the table grows twice */
        for (size_t i = 0; i < SH_ARRAY_LEN(pats); i++)
            assert_int_equal(
                sh_router_add(&r2, SH_METHOD_GET, pats[i], round ? h_view : h_list, NULL), 0);
    assert_int_equal(sh_router_add(&r2, SH_METHOD_GET, "/a/b/*", h_files, NULL), 0);
    struct sh_route_match m;
    for (size_t i = 0; i < SH_ARRAY_LEN(pats); i++) {
        assert_int_equal(sh_router_match(&r2, SH_METHOD_GET, S(pats[i]), &m), 1);
        assert_ptr_equal(m.route->fn, h_list); /* the first added */
        assert_int_equal(m.allow, SH_METHOD_GET | SH_METHOD_POST);
    }
    assert_int_equal(sh_router_match(&r2, SH_METHOD_GET, S("/a/q/c/d"), &m), 1);
    assert_int_equal(m.nparams, 1);
    assert_true(sh_str_eq(m.params[0], "q"));
    /* no fixed route of four segments fits: the tail under /a/b does */
    assert_int_equal(sh_router_match(&r2, SH_METHOD_GET, S("/a/b/x/y"), &m), 1);
    assert_ptr_equal(m.route->fn, h_files);
    /* the root tail matches at any depth, the deepest a path can have too */
    assert_int_equal(sh_router_match(&r2, SH_METHOD_POST, S("/1/2/3/4/5/6/7/8/9/10/11/12"), &m), 1);
    assert_ptr_equal(m.route->fn, h_files);
    assert_int_equal(sh_router_match(&r2, SH_METHOD_POST, S("/"), &m), 1);
    assert_int_equal(sh_router_match(&r2, SH_METHOD_GET, S("/"), &m), 0);
    assert_int_equal(m.allow, SH_METHOD_POST);
    assert_int_equal(sh_router_match(&r2, SH_METHOD_GET, S("/x/y"), &m), 0);
    assert_int_equal(m.allow, SH_METHOD_POST);
    sh_router_deinit(&r2);
}

/* The exact table (a path that is byte for byte a static pattern) answers
 * as the scan does: the same path with a trailing slash or a doubled slash
 * is never in the table, so it is scanned, and must get the same route,
 * Allow and parameters for every method. The routes cover a tail added
 * before a static pattern of its prefix (same specificity: the first added
 * wins), routes fitting a static path added after it (Allow grows), a
 * static pattern twice, and a method only a parameter route serves. */
static void test_router_exact_table_agrees_with_scan(void **state)
{
    (void)state;
    static const struct {
        unsigned methods;
        const char *pattern;
        sh_handler_fn fn;
    } routes[] = {
        {SH_METHOD_GET, "/a/b/*", h_files},
        {SH_METHOD_GET | SH_METHOD_POST, "/a/b", h_list},
        {SH_METHOD_PUT, "/a/b", h_view},
        {SH_METHOD_DELETE, "/a/b", h_files},
        {SH_METHOD_GET, "/api/health", h_list},
        {SH_METHOD_PATCH, "/api/:x", h_view},
        {SH_METHOD_GET | SH_METHOD_HEAD, "/api/collections/import", h_list},
        {SH_METHOD_POST | SH_METHOD_GET, "/api/collections/:c", h_view},
        {SH_METHOD_OPTIONS, "/*", h_files},
        {SH_METHOD_POST, "/", h_list},
        {SH_METHOD_GET, "/a-very-long-static-path/of/several/segments", h_list},
    };
    static const char *const paths[] = {"/a/b", "/api/health", "/api/collections/import", "/",
                                        "/a-very-long-static-path/of/several/segments"};
    static const unsigned methods[] = {SH_METHOD_GET,     SH_METHOD_HEAD,  SH_METHOD_POST,
                                       SH_METHOD_PUT,     SH_METHOD_PATCH, SH_METHOD_DELETE,
                                       SH_METHOD_OPTIONS, SH_METHOD_OTHER};
    struct sh_router r2;
    sh_router_init(&r2, NULL);
    for (size_t i = 0; i < SH_ARRAY_LEN(routes); i++)
        assert_int_equal(
            sh_router_add(&r2, routes[i].methods, routes[i].pattern, routes[i].fn, NULL), 0);
    for (size_t i = 0; i < SH_ARRAY_LEN(paths); i++) {
        char slow[128];
        snprintf(slow, sizeof(slow), "%s%s", paths[i], strcmp(paths[i], "/") ? "/" : "//");
        for (size_t k = 0; k < SH_ARRAY_LEN(methods); k++) {
            struct sh_route_match a, b;
            int ra = sh_router_match(&r2, (enum sh_method)methods[k], S(paths[i]), &a);
            int rb = sh_router_match(&r2, (enum sh_method)methods[k], S(slow), &b);
            assert_int_equal(ra, rb);
            assert_int_equal(a.allow, b.allow);
            assert_ptr_equal(a.route, b.route);
            assert_int_equal(a.nparams, b.nparams);
            for (unsigned j = 0; j < a.nparams; j++)
                assert_true(a.params[j].len == b.params[j].len &&
                            memcmp(a.params[j].ptr, b.params[j].ptr, a.params[j].len) == 0);
        }
    }
    struct sh_route_match m;
    /* the tail added first ties with the static pattern and wins GET */
    assert_int_equal(sh_router_match(&r2, SH_METHOD_GET, S("/a/b"), &m), 1);
    assert_ptr_equal(m.route->fn, h_files);
    assert_int_equal(sh_router_match(&r2, SH_METHOD_PUT, S("/a/b"), &m), 1);
    assert_ptr_equal(m.route->fn, h_view);
    /* a route added after the static one adds its method to Allow */
    assert_int_equal(sh_router_match(&r2, SH_METHOD_DELETE, S("/api/health"), &m), 0);
    assert_int_equal(m.allow, SH_METHOD_GET | SH_METHOD_PATCH | SH_METHOD_OPTIONS);
    assert_int_equal(sh_router_match(&r2, SH_METHOD_PATCH, S("/api/health"), &m), 1);
    assert_int_equal(m.nparams, 1);
    assert_true(sh_str_eq(m.params[0], "health"));
    /* POST there is the parameter route's, with its parameter */
    assert_int_equal(sh_router_match(&r2, SH_METHOD_POST, S("/api/collections/import"), &m), 1);
    assert_ptr_equal(m.route->fn, h_view);
    assert_true(sh_str_eq(m.params[0], "import"));
    assert_int_equal(sh_router_match(&r2, SH_METHOD_HEAD, S("/api/collections/import"), &m), 1);
    assert_ptr_equal(m.route->fn, h_list);
    sh_router_deinit(&r2);
}

static void test_router_rejects_bad_patterns(void **state)
{
    (void)state;
    struct sh_router r2;
    sh_router_init(&r2, NULL);
    assert_int_equal(sh_router_add(&r2, SH_METHOD_GET, "no-slash", h_list, NULL), SH_EINVAL);
    assert_int_equal(sh_router_add(&r2, SH_METHOD_GET, "/:a/:b/:c/:d/:e/:f/:g/:h/:i", h_list, NULL),
                     SH_EINVAL);
    assert_int_equal(
        sh_router_add(&r2, SH_METHOD_GET, "/1/2/3/4/5/6/7/8/9/10/11/12/13", h_list, NULL),
        SH_EINVAL);
    sh_router_deinit(&r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_params),
        cmocka_unit_test(test_router_trailing_slash_and_doubles),
        cmocka_unit_test(test_router_405_allow),
        cmocka_unit_test(test_router_404),
        cmocka_unit_test(test_router_head_matches_get),
        cmocka_unit_test(test_router_wildcard_tail),
        cmocka_unit_test(test_router_rejects_bad_patterns),
        cmocka_unit_test(test_router_static_segments_win),
        cmocka_unit_test(test_router_depths_and_tails),
        cmocka_unit_test(test_router_exact_table_agrees_with_scan),
    };
    return cmocka_run_group_tests_name("router", tests, setup, teardown);
}
