/*
 * The cmocka fixtures every integration suite shares (see harness.h): a
 * scope per test, entered by it_case_setup and unwound by it_case_teardown
 * whatever the test left open; a test that did not return is recorded as
 * failed, so the scopes that end after it keep their servers' folders and
 * logs. A group's shared server lives in the group's scope, opened by
 * it_group_begin and closed by it_group_teardown, which stops each server
 * the group started and requires its clean exit; a group whose setup
 * failed (cmocka then runs none of its tests) keeps its folders too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "harness.h"
#include "harness_int.h"

#define MAX_HOOKS 8

static void (*hooks[MAX_HOOKS])(void);
static unsigned nhooks;
static int group_depth = -1; /* scopes open before the group's, -1: no group */
static unsigned group_cases; /* tests started since it_group_begin */

void it_on_test_end(void (*fn)(void))
{
    for (unsigned i = 0; i < nhooks; i++)
        if (hooks[i] == fn)
            return;
    if (nhooks == MAX_HOOKS) {
        fprintf(stderr, "harness: too many it_on_test_end functions\n");
        abort();
    }
    hooks[nhooks++] = fn;
}

static void run_hooks(void)
{
    for (unsigned i = 0; i < nhooks; i++)
        hooks[i]();
}

int it_case_setup(void **state)
{
    struct it_case *c = *state;
    c->depth = it_scope_depth();
    c->done = 0;
    group_cases++;
    it_scope_begin();
    return 0;
}

void it_case_run(void **state)
{
    struct it_case *c = *state;
    /* the step runs inside the test, so its failure is the test's */
    if (c->each && c->each() != 0)
        fail_msg("the test's setup step failed");
    c->fn(state);
    c->done = 1;
}

int it_case_teardown(void **state)
{
    struct it_case *c = *state;
    if (!c->done)
        it_test_failed();
    run_hooks();
    it_scope_end_to(c->depth);
    return 0;
}

void it_group_begin(void)
{
    group_depth = it_scope_depth();
    group_cases = 0;
    it_scope_begin();
}

static void stop_one(void *p, void *ud)
{
    struct it_server *s = p;
    int *failed = ud;
    if (!s->started)
        return;
    int st = it_server_stop(s, IT_MS_STOP);
    if (st != 0) {
        it_note("the group's server exited with %d, expected 0", st);
        *failed = 1;
    }
}

int it_group_teardown(void **state)
{
    (void)state;
    if (group_depth < 0)
        return 0; /* the group setup failed before it_group_begin */
    /* a failed group setup (an assertion) may have left scopes open */
    it_scope_end_to(group_depth + 1);
    /* cmocka runs no test of a group whose setup failed */
    int failed = group_cases == 0;
    if (failed)
        it_note("the group's setup failed");
    it_scope_each(&it_res_server, stop_one, &failed);
    if (failed)
        it_test_failed();
    run_hooks();
    it_scope_end_to(group_depth);
    group_depth = -1;
    return failed ? -1 : 0;
}

struct it_conn *it_conn_open_or_fail(const struct it_server *s)
{
    struct it_conn *c = it_conn_open(s);
    assert_non_null(c);
    return c;
}

struct it_resp *it_conn_read_or_fail(struct it_conn *c, int flags)
{
    struct it_resp *r = it_conn_read(c, flags, IT_MS_IO);
    if (!r)
        fail_msg("no response (error %d)", c->err);
    return r;
}
