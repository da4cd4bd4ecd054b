/*
 * The harness's own guarantees, on the real binary: a failed test keeps the
 * folder (and whole log) of every server it and its group started, and
 * prints where; a passed test leaves nothing behind; a failure inside nested
 * scopes unwinds them all, so the next test starts at the same depth; a
 * group whose setup fails keeps its folder; SH_IT_KEEP=1 keeps every folder.
 * The suite runs itself as a child (argv[1] names the inner suite), so the
 * failures it provokes are the child's and the parent reads its output.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* ---- the inner suites (the child) ---- */

static struct it_server *gsrv;

static int inner_group_setup(void **state)
{
    (void)state;
    it_group_begin();
    gsrv = it_server_start(NULL);
    if (!gsrv)
        return -1;
    it_note("group folder %s", gsrv->dir);
    return 0;
}

static int inner_group_setup_fails(void **state)
{
    (void)state;
    it_group_begin();
    gsrv = it_server_start(NULL);
    if (gsrv)
        it_note("group folder %s", gsrv->dir);
    return -1;
}

static void inner_passes(void **state)
{
    (void)state;
    struct it_server *s = it_server_start(NULL);
    assert_non_null(s);
    it_note("passing folder %s", s->dir);
    it_note("depth %d", it_scope_depth());
}

static void inner_fails_nested(void **state)
{
    (void)state;
    struct it_server *s = it_server_start(NULL);
    assert_non_null(s);
    it_note("failing folder %s", s->dir);
    it_scope_begin();
    it_scope_begin();
    fail_msg("failing on purpose, two scopes deep");
}

static void inner_after(void **state)
{
    (void)state;
    it_note("depth %d", it_scope_depth());
}

static int inner(const char *which)
{
    const struct CMUnitTest failing[] = {
        it_test(inner_passes),
        it_test(inner_fails_nested),
        it_test(inner_after),
    };
    const struct CMUnitTest passing[] = {
        it_test(inner_passes),
    };
    if (strcmp(which, "failing") == 0)
        return cmocka_run_group_tests_name("inner failing", failing, inner_group_setup,
                                           it_group_teardown);
    if (strcmp(which, "setup-fails") == 0)
        return cmocka_run_group_tests_name("inner setup fails", passing, inner_group_setup_fails,
                                           it_group_teardown);
    return cmocka_run_group_tests_name("inner passing", passing, NULL, NULL);
}

/* ---- the parent ---- */

/* Runs this program with argv[1] = which, keep as SH_IT_KEEP (NULL: unset).
 * Returns the exit code; *out gets its stdout (scope memory). */
static int run_inner(const char *which, const char *keep, char **out)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)getpid());
    char *log = it_sprintf("%s/inner-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    unlink(log);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (keep)
            setenv("SH_IT_KEEP", keep, 1);
        else
            unsetenv("SH_IT_KEEP");
        dup2(fd, 1);
        execl(path, path, which, (char *)NULL);
        _exit(127);
    }
    int ws = 0;
    int64_t deadline = it_now_ms() + 60000;
    while (waitpid(pid, &ws, WNOHANG) == 0) {
        if (it_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            fail_msg("the inner suite %s did not end within 60 s", which);
        }
        usleep(5000);
    }
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    char *d = it_alloc((size_t)sb.st_size + 1);
    assert_int_equal(pread(fd, d, (size_t)sb.st_size, 0), sb.st_size);
    close(fd);
    *out = d;
    printf("# ---- inner suite %s ----\n%s# ---- end of inner suite ----\n", which, d);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The value after "# <label> " on its nth (1-based) line in out (scope
 * memory); fails the test when missing. */
static char *field(const char *out, const char *label, int nth)
{
    char *key = it_sprintf("# %s ", label);
    const char *p = out;
    for (int i = 0; i < nth; i++) {
        p = strstr(p, key);
        if (!p)
            fail_msg("no line %d \"%s...\" in the inner suite's output", nth, key);
        p += strlen(key);
    }
    size_t n = strcspn(p, "\n");
    char *v = it_alloc(n + 1);
    memcpy(v, p, n);
    return v;
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* dir is still there with the server's log in it, and the output says so;
 * then removes it. */
static void assert_kept(const char *out, const char *dir)
{
    assert_true(exists(dir));
    struct stat sb;
    assert_int_equal(stat(it_sprintf("%s/stderr.log", dir), &sb), 0);
    assert_true(sb.st_size > 0); /* the server's whole log */
    assert_non_null(strstr(out, it_sprintf("kept the server's folder %s ", dir)));
    assert_int_equal(it_rmrf(dir), 0);
}

static void test_harness_failed_test_keeps_evidence(void **state)
{
    (void)state;
    char *out;
    /* one test of three fails: cmocka's count */
    assert_int_equal(run_inner("failing", NULL, &out), 1);
    const char *failing = field(out, "failing folder", 1);
    const char *group = field(out, "group folder", 1);
    const char *passing = field(out, "passing folder", 1);
    assert_kept(out, failing);
    assert_kept(out, group); /* a test of its group failed */
    assert_false(exists(passing));
    assert_null(strstr(out, it_sprintf("kept the server's folder %s ", passing)));
    /* the scopes the failed test left open were ended */
    assert_string_equal(field(out, "depth", 2), field(out, "depth", 1));
}

static void test_harness_failed_group_setup_keeps_evidence(void **state)
{
    (void)state;
    char *out;
    assert_true(run_inner("setup-fails", NULL, &out) != 0);
    assert_null(strstr(out, "passing folder")); /* cmocka ran no test */
    assert_kept(out, field(out, "group folder", 1));
}

static void test_harness_passed_test_leaves_nothing(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run_inner("passing", NULL, &out), 0);
    assert_false(exists(field(out, "passing folder", 1)));
    assert_null(strstr(out, "kept the server's folder"));
}

static void test_harness_keep_env_keeps_all(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run_inner("passing", "1", &out), 0);
    assert_kept(out, field(out, "passing folder", 1));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return inner(argv[1]);
    const struct CMUnitTest tests[] = {
        it_test(test_harness_failed_test_keeps_evidence),
        it_test(test_harness_failed_group_setup_keeps_evidence),
        it_test(test_harness_passed_test_leaves_nothing),
        it_test(test_harness_keep_env_keeps_all),
    };
    return cmocka_run_group_tests_name("integration/harness", tests, NULL, NULL);
}
