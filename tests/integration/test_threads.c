/*
 * The server's threads carry names (top -H, gdb, /proc/<pid>/task/<tid>/comm
 * show them): the writer thread "sh-writer" and the hashing pool's
 * "sh-hash-<n>", one per --hash-threads.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* How many threads of pid are named name. */
static int threads_named(pid_t pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char comm_path[400], comm[32] = "";
        snprintf(comm_path, sizeof(comm_path), "%s/%s/comm", path, e->d_name);
        FILE *f = fopen(comm_path, "r");
        if (!f)
            continue; /* the thread ended meanwhile */
        if (fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        n += strcmp(comm, name) == 0;
    }
    closedir(d);
    return n;
}

static void test_threads_are_named(void **state)
{
    (void)state;
    it_scope_begin();
    struct it_server *s = it_server_start("--hash-threads", "3", NULL);
    assert_non_null(s);
    /* every thread names itself as it starts, maybe after the server
     * listens: wait a little for each name */
    static const char *const names[] = {"sh-writer", "sh-hash-0", "sh-hash-1", "sh-hash-2"};
    int64_t until = it_now_ms() + IT_MS_IO;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        while (threads_named(s->pid, names[i]) == 0 && it_now_ms() < until)
            usleep(10 * 1000);
    assert_int_equal(threads_named(s->pid, "sh-writer"), 1);
    assert_int_equal(threads_named(s->pid, "sh-hash-0"), 1);
    assert_int_equal(threads_named(s->pid, "sh-hash-1"), 1);
    assert_int_equal(threads_named(s->pid, "sh-hash-2"), 1);
    assert_int_equal(threads_named(s->pid, "sh-hash-3"), 0);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    it_server_cleanup(s);
    it_scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_threads_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
