/*
 * Tests of the Argon2id pool with a real libuv loop (libsodium's minimum
 * limits, so that hashing is quick): hash then verify, match and mismatch;
 * the dummy verify for unknown identities runs a real verify (counted) and
 * reports a mismatch; the bound on jobs (SH_EBUSY); stop that lets the
 * running job finish and cancels the queued ones; every callback exactly once
 * and on the loop thread; an idle pool does not keep the loop alive (every
 * uv_run here would hang otherwise); callbacks that submit again or stop the
 * pool; the default size (the CPUs of the affinity mask), the threads'
 * policy (SCHED_BATCH plus --hash-nice by default, SCHED_IDLE, SCHED_OTHER);
 * waiting jobs dropped unhashed by sh_hash_pool_cancel and by the gone
 * predicate. Also the blocking helpers the command line uses.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "stagehand/auth.h"

static pthread_t loop_thread;

struct call {
    int calls;
    int rc;
    char hash[SH_PASSWORD_HASH_MAX];
    struct sh_hash_pool *pool; /* for callbacks that act on the pool */
    struct call *then;         /* a job to submit from the callback */
    int stop;                  /* stop the pool from the callback */
    int gone;                  /* the gone predicate's answer for this job */
};

static void on_done(void *arg, int rc, const char *hash)
{
    struct call *c = arg;
    assert_true(pthread_equal(pthread_self(), loop_thread));
    c->calls++;
    c->rc = rc;
    if (hash) {
        assert_int_equal(rc, 0);
        assert_true(strlen(hash) < sizeof c->hash);
        strcpy(c->hash, hash);
    }
    if (c->then)
        assert_int_equal(sh_hash_pool_hash(c->pool, "again", 5, on_done, c->then), 0);
    if (c->stop)
        sh_hash_pool_stop(c->pool);
}

static struct sh_hash_pool_options fast(unsigned threads, unsigned max_queue)
{
    struct sh_hash_pool_options o;
    sh_hash_pool_options_init(&o);
    o.threads = threads;
    o.max_queue = max_queue;
    o.opslimit = crypto_pwhash_OPSLIMIT_MIN;
    o.memlimit = crypto_pwhash_MEMLIMIT_MIN;
    return o;
}

static int setup(void **state)
{
    static uv_loop_t loop;
    loop_thread = pthread_self();
    *state = &loop;
    return uv_loop_init(&loop);
}

/* The pool's handle must be closed by now: uv_loop_close fails otherwise. */
static int teardown(void **state)
{
    return uv_loop_close(*state);
}

static void stop_and_drain(uv_loop_t *loop, struct sh_hash_pool *p)
{
    sh_hash_pool_stop(p);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
}

static void test_hash_pool_options_default(void **state)
{
    (void)state;
    struct sh_hash_pool_options o;
    sh_hash_pool_options_init(&o);
    assert_true(o.threads >= 1);
    assert_int_equal(o.max_queue, 64);
    assert_int_equal(o.opslimit, 2); /* OWASP's Argon2id m=19 MiB, t=2, p=1 */
    assert_int_equal(o.memlimit, 19u << 20);
    assert_int_equal(o.nice, SH_HASH_NICE_DEFAULT);
    assert_int_equal(o.sched, SH_HASH_SCHED_BATCH);
    assert_int_equal(SH_HASH_NICE_DEFAULT, 19);
    assert_null(o.gone);
    cpu_set_t set;
    CPU_ZERO(&set);
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    assert_int_equal(o.threads, (unsigned)CPU_COUNT(&set)); /* not the online cores */
}

/* How many threads of this process run at nice value `nice` (field 19 of
 * /proc/self/task/TID/stat, after the parenthesised name). */
static int threads_at_nice(int nice)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        int field = 2, v = 0;
        for (; p && *p && field < 19; p++)
            if (*p == ' ' && ++field == 19)
                v = atoi(p + 1);
        n += field == 19 && v == nice;
    }
    closedir(d);
    return n;
}

static void test_hash_pool_nice_lowers_threads(void **state)
{
    uv_loop_t *loop = *state;
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    assert_int_equal(errno, 0);
    if (base > 19 - 5)
        skip();
    int before = threads_at_nice(base + 5);
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(2, 4);
    o.nice = 5;
    o.sched = SH_HASH_SCHED_NORMAL;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);
    struct call a = {0}, b = {0};
    assert_int_equal(sh_hash_pool_hash(p, "a", 1, on_done, &a), 0);
    assert_int_equal(sh_hash_pool_hash(p, "b", 1, on_done, &b), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(a.rc + b.rc, 0);
    /* both threads have started (each lowers itself first thing): wait for the
     * second if it has not yet taken a job */
    for (int i = 0; i < 200 && threads_at_nice(base + 5) < before + 2; i++)
        usleep(5000);
    assert_int_equal(threads_at_nice(base + 5), before + 2);
    assert_int_equal(getpriority(PRIO_PROCESS, 0), base); /* the loop's is untouched */
    struct sh_hash_pool_stats s;
    sh_hash_pool_stats(p, &s);
    assert_int_equal(s.nice, 5);
    stop_and_drain(loop, p);

    /* 0 keeps the threads at the loop's priority */
    o.nice = 0;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);
    struct call c = {0};
    assert_int_equal(sh_hash_pool_hash(p, "c", 1, on_done, &c), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(threads_at_nice(base + 5), before);
    stop_and_drain(loop, p);
}

/* How many threads of this process have scheduling policy `policy`. */
static int threads_with_policy(int policy)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n += sched_getscheduler(atoi(e->d_name)) == policy;
    closedir(d);
    return n;
}

/* Waits (bounded) until `want` threads have `policy`: each thread sets its
 * own as it starts, which may be after its first job has been delivered. */
static int wait_threads_with_policy(int policy, int want)
{
    for (int i = 0; i < 400 && threads_with_policy(policy) < want; i++)
        usleep(5000);
    return threads_with_policy(policy);
}

static void test_hash_pool_sched_policies(void **state)
{
    uv_loop_t *loop = *state;
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    assert_int_equal(errno, 0);
    int idle0 = threads_with_policy(SCHED_IDLE), batch0 = threads_with_policy(SCHED_BATCH);

    /* idle: both threads SCHED_IDLE, the loop thread untouched */
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(2, 4);
    o.sched = SH_HASH_SCHED_IDLE;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);
    struct call a = {0};
    assert_int_equal(sh_hash_pool_hash(p, "a", 1, on_done, &a), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(wait_threads_with_policy(SCHED_IDLE, idle0 + 2), idle0 + 2);
    assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
    struct sh_hash_pool_stats st;
    sh_hash_pool_stats(p, &st);
    assert_int_equal(st.sched, SH_HASH_SCHED_IDLE);
    stop_and_drain(loop, p);
    assert_int_equal(threads_with_policy(SCHED_IDLE), idle0); /* joined */

    /* the default, batch: SCHED_BATCH plus the nice step */
    if (base > 19 - 3)
        skip();
    int nice0 = threads_at_nice(base + 3);
    o = fast(2, 4);
    assert_int_equal(o.sched, SH_HASH_SCHED_BATCH);
    o.nice = 3;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);
    struct call b = {0};
    assert_int_equal(sh_hash_pool_hash(p, "b", 1, on_done, &b), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(wait_threads_with_policy(SCHED_BATCH, batch0 + 2), batch0 + 2);
    for (int i = 0; i < 200 && threads_at_nice(base + 3) < nice0 + 2; i++)
        usleep(5000);
    assert_int_equal(threads_at_nice(base + 3), nice0 + 2);
    assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
    assert_int_equal(getpriority(PRIO_PROCESS, 0), base);
    stop_and_drain(loop, p);
}

static int match_call(sh_hash_cb cb, void *arg, void *ctx)
{
    (void)ctx;
    return cb == on_done && ((struct call *)arg)->gone;
}

/* One slow thread, six jobs: the ones marked gone while they wait are never
 * hashed and complete with -ECANCELED; the others are hashed. */
static void test_hash_pool_cancel_drops_waiting(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(1, 16);
    o.opslimit = 3;
    o.memlimit = 16u << 20;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);
    enum { N = 6 };
    struct call c[N] = {{0}};
    for (int i = 0; i < N; i++)
        assert_int_equal(sh_hash_pool_hash(p, "pw", 2, on_done, &c[i]), 0);
    for (int i = 3; i < N; i++)
        c[i].gone = 1; /* the thread is busy with the dummy or c[0]: c[3..5] wait */
    assert_int_equal(sh_hash_pool_cancel(p, match_call, NULL), 3);
    for (int i = 0; i < N; i++)
        assert_int_equal(c[i].calls, 0); /* delivered from the loop, not from cancel */
    assert_int_equal(sh_hash_pool_cancel(p, match_call, NULL), 0); /* already gone */
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].calls, 1);
        if (i < 3) {
            assert_int_equal(c[i].rc, 0);
            assert_memory_equal(c[i].hash, "$argon2id$", 10);
        } else {
            assert_int_equal(c[i].rc, -ECANCELED);
            assert_string_equal(c[i].hash, "");
        }
    }
    struct sh_hash_pool_stats st;
    sh_hash_pool_stats(p, &st);
    assert_int_equal(st.dropped, 3);
    assert_int_equal(st.canceled, 3);
    assert_int_equal(st.done, 3);
    assert_int_equal(st.queued + st.running, 0);
    stop_and_drain(loop, p);
}

static int gone_flag(sh_hash_cb cb, void *arg, void *ctx)
{
    int *asked = ctx;
    (*asked)++;
    return cb == on_done && ((struct call *)arg)->gone;
}

/* The options' gone predicate is asked whenever completions are delivered:
 * jobs whose client left while they waited are dropped before a thread
 * takes them. */
static void test_hash_pool_gone_predicate(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    int asked = 0;
    struct sh_hash_pool_options o = fast(1, 16);
    o.opslimit = 3;
    o.memlimit = 16u << 20;
    o.gone = gone_flag;
    o.gone_ctx = &asked;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);
    enum { N = 6 };
    struct call c[N] = {{0}};
    for (int i = 0; i < N; i++)
        assert_int_equal(sh_hash_pool_verify(p, NULL, "pw", 2, on_done, &c[i]), 0);
    for (int i = 2; i < N; i++)
        c[i].gone = 1; /* c[0] runs, c[1] is taken as c[0] ends; the rest wait */
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_true(asked > 0);
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].calls, 1);
        if (i < 2)
            assert_int_equal(c[i].rc, SH_EFORBIDDEN); /* the dummy: always a mismatch */
        else if (c[i].rc == -ECANCELED)
            dropped++;
        else
            assert_int_equal(c[i].rc, SH_EFORBIDDEN);
    }
    struct sh_hash_pool_stats st;
    sh_hash_pool_stats(p, &st);
    assert_int_equal(st.dropped, (uint64_t)dropped);
    assert_true(dropped >= N - 3); /* at most c[2] was taken before the first delivery */
    assert_int_equal(st.dummy, (uint64_t)(N - dropped)); /* dropped ones never ran Argon2 */
    stop_and_drain(loop, p);
}

static void test_hash_pool_bad_options(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(1, 1);
    o.opslimit = 0;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), SH_EINVAL);
    assert_null(p);
    o = fast(1, 1);
    o.memlimit = 1024;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), SH_EINVAL);
    o = fast(1000, 1);
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), SH_EINVAL);
    o = fast(1, 1);
    o.nice = 20;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), SH_EINVAL);
    o.nice = -1;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), SH_EINVAL);
    o = fast(1, 1);
    o.sched = (enum sh_hash_sched)7;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), SH_EINVAL);
}

static void test_hash_pool_idle_does_not_keep_loop(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(0, 4); /* 0 = one per core */
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);
    struct sh_hash_pool_stats s;
    sh_hash_pool_stats(p, &s);
    assert_true(s.threads >= 1);
    assert_int_equal(s.max_queue, 4);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0); /* returns at once */
    stop_and_drain(loop, p);
}

static void test_hash_pool_hash_then_verify(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(2, 8);
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);

    char pw[] = "correct horse battery staple";
    struct call h = {0};
    assert_int_equal(sh_hash_pool_hash(p, pw, strlen(pw), on_done, &h), 0);
    sodium_memzero(pw, sizeof pw); /* the pool has its own copy */
    assert_int_equal(h.calls, 0);  /* never inline */
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.rc, 0);
    assert_memory_equal(h.hash, "$argon2id$", 10);
    assert_int_equal(sh_hash_pool_needs_rehash(p, h.hash), 0);
    assert_int_equal(sh_password_needs_rehash(h.hash, 0, 0), 1); /* not INTERACTIVE */

    struct call ok = {0}, bad = {0}, empty = {0};
    const char *right = "correct horse battery staple";
    assert_int_equal(sh_hash_pool_verify(p, h.hash, right, strlen(right), on_done, &ok), 0);
    assert_int_equal(sh_hash_pool_verify(p, h.hash, "Correct horse battery staple", strlen(right),
                                         on_done, &bad),
                     0);
    assert_int_equal(sh_hash_pool_verify(p, h.hash, "", 0, on_done, &empty), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.rc, 0);
    assert_int_equal(bad.calls, 1);
    assert_int_equal(bad.rc, SH_EFORBIDDEN);
    assert_int_equal(empty.calls, 1);
    assert_int_equal(empty.rc, SH_EFORBIDDEN);
    assert_string_equal(ok.hash, ""); /* no hash for a verify */

    /* a hash that is not a hash: a mismatch, not a crash */
    struct call junk = {0};
    assert_int_equal(sh_hash_pool_verify(p, "$2a$10$notargon", "x", 1, on_done, &junk), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(junk.rc, SH_EFORBIDDEN);

    struct sh_hash_pool_stats s;
    sh_hash_pool_stats(p, &s);
    assert_int_equal(s.done, 5);
    assert_int_equal(s.dummy, 0);
    assert_int_equal(s.running + s.queued, 0);
    stop_and_drain(loop, p);
}

static void test_hash_pool_dummy_verify(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(2, 8);
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);

    struct call unknown = {0}, too_long = {0}, empty = {0};
    assert_int_equal(sh_hash_pool_verify(p, NULL, "guess", 5, on_done, &unknown), 0);
    char long_hash[SH_PASSWORD_HASH_MAX + 10];
    memset(long_hash, 'a', sizeof long_hash - 1);
    long_hash[sizeof long_hash - 1] = '\0';
    assert_int_equal(sh_hash_pool_verify(p, long_hash, "guess", 5, on_done, &too_long), 0);
    assert_int_equal(sh_hash_pool_verify(p, NULL, "", 0, on_done, &empty), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(unknown.calls, 1);
    assert_int_equal(unknown.rc, SH_EFORBIDDEN);
    assert_int_equal(too_long.calls, 1);
    assert_int_equal(too_long.rc, SH_EFORBIDDEN);
    assert_int_equal(empty.rc, SH_EFORBIDDEN);

    /* each ran a real Argon2 verify against the dummy hash */
    struct sh_hash_pool_stats s;
    sh_hash_pool_stats(p, &s);
    assert_int_equal(s.dummy, 3);
    assert_int_equal(s.done, 3);
    stop_and_drain(loop, p);
}

static void test_hash_pool_queue_full_is_ebusy(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(1, 1);
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);

    struct call c[4] = {{0}};
    assert_int_equal(sh_hash_pool_hash(p, "a", 1, on_done, &c[0]), 0); /* running */
    assert_int_equal(sh_hash_pool_hash(p, "b", 1, on_done, &c[1]), 0); /* waiting */
    assert_int_equal(sh_hash_pool_hash(p, "c", 1, on_done, &c[2]), SH_EBUSY);
    assert_int_equal(sh_hash_pool_verify(p, NULL, "d", 1, on_done, &c[3]), SH_EBUSY);
    struct sh_hash_pool_stats s;
    sh_hash_pool_stats(p, &s);
    assert_int_equal(s.rejected, 2);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c[0].calls, 1);
    assert_int_equal(c[1].calls, 1);
    assert_int_equal(c[2].calls, 0); /* refused: never called */
    assert_int_equal(c[3].calls, 0);

    /* room again once the callbacks have run */
    assert_int_equal(sh_hash_pool_hash(p, "c", 1, on_done, &c[2]), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c[2].calls, 1);
    assert_int_equal(c[2].rc, 0);

    char big[SH_PASSWORD_MAX_LEN + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(sh_hash_pool_hash(p, big, sizeof big, on_done, &c[3]), SH_ETOOBIG);
    assert_int_equal(sh_hash_pool_hash(p, big, sizeof big - 1, on_done, &c[3]), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c[3].rc, 0);
    stop_and_drain(loop, p);
}

/* Slow enough (tens of ms per hash) that stop finds jobs still queued. */
static void test_hash_pool_stop_cancels_queued(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(1, 16);
    o.opslimit = 3;
    o.memlimit = 16u << 20;
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);

    enum { N = 6 };
    struct call c[N] = {{0}};
    for (int i = 0; i < N; i++)
        assert_int_equal(sh_hash_pool_hash(p, "pw", 2, on_done, &c[i]), 0);
    sh_hash_pool_stop(p);
    for (int i = 0; i < N; i++)
        assert_int_equal(c[i].calls, 0); /* delivered on the loop, not in stop */
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);

    int done = 0, canceled = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].calls, 1);
        if (c[i].rc == 0) {
            done++;
            assert_memory_equal(c[i].hash, "$argon2id$", 10);
        } else {
            assert_int_equal(c[i].rc, -ECANCELED);
            assert_string_equal(c[i].hash, "");
            canceled++;
        }
    }
    /* the one thread was making the dummy hash or one job when stop came */
    assert_true(done <= 1);
    assert_true(canceled >= N - 1);
}

static void test_hash_pool_every_cb_once(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(3, 300);
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);

    char stored[SH_PASSWORD_HASH_MAX];
    assert_int_equal(sh_password_hash_sync("pw", 2, stored, crypto_pwhash_OPSLIMIT_MIN,
                                           crypto_pwhash_MEMLIMIT_MIN),
                     0);
    enum { N = 300 };
    static struct call c[N];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++) {
        int rc;
        switch (i % 3) {
        case 0:
            rc = sh_hash_pool_hash(p, "pw", 2, on_done, &c[i]);
            break;
        case 1:
            rc = sh_hash_pool_verify(p, stored, i % 2 ? "pw" : "no", 2, on_done, &c[i]);
            break;
        default:
            rc = sh_hash_pool_verify(p, NULL, "pw", 2, on_done, &c[i]);
            break;
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].calls, 1);
        int want = i % 3 == 0 ? 0 : i % 3 == 1 ? (i % 2 ? 0 : SH_EFORBIDDEN) : SH_EFORBIDDEN;
        assert_int_equal(c[i].rc, want);
    }
    struct sh_hash_pool_stats s;
    sh_hash_pool_stats(p, &s);
    assert_int_equal(s.done, N);
    assert_int_equal(s.dummy, N / 3);
    assert_int_equal(s.rejected + s.canceled + s.running + s.queued, 0);
    stop_and_drain(loop, p);
}

static void test_hash_pool_submit_from_callback(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(1, 0);
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);
    /* max_queue 0, one thread: one job at a time, and the callback's own
     * job no longer counts when it submits the next */
    struct call third = {.pool = p};
    struct call second = {.pool = p, .then = &third};
    struct call first = {.pool = p, .then = &second};
    assert_int_equal(sh_hash_pool_hash(p, "x", 1, on_done, &first), 0);
    struct call refused = {0};
    assert_int_equal(sh_hash_pool_hash(p, "x", 1, on_done, &refused), SH_EBUSY);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(first.calls, 1);
    assert_int_equal(second.calls, 1);
    assert_int_equal(third.calls, 1);
    assert_int_equal(third.rc, 0);
    stop_and_drain(loop, p);
}

static void test_hash_pool_stop_from_callback(void **state)
{
    uv_loop_t *loop = *state;
    struct sh_hash_pool *p;
    struct sh_hash_pool_options o = fast(2, 16);
    assert_int_equal(sh_hash_pool_start(&p, loop, &o), 0);
    enum { N = 10 };
    struct call c[N] = {{0}};
    for (int i = 0; i < N; i++)
        c[i].pool = p;
    c[0].stop = 1; /* its callback stops the pool; every other still runs once */
    for (int i = 0; i < N; i++)
        assert_int_equal(sh_hash_pool_hash(p, "y", 1, on_done, &c[i]), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_true(c[i].rc == 0 || c[i].rc == -ECANCELED);
    }
    assert_int_equal(c[0].rc, 0);
}

static void test_hash_pool_stop_null_and_idle(void **state)
{
    uv_loop_t *loop = *state;
    sh_hash_pool_stop(NULL);
    struct sh_hash_pool *p;
    assert_int_equal(sh_hash_pool_start(&p, loop, NULL), 0); /* defaults: INTERACTIVE */
    struct sh_hash_pool_stats s;
    sh_hash_pool_stats(p, &s);
    assert_int_equal(s.max_queue, 64);
    stop_and_drain(loop, p);
}

static void test_password_sync_helpers(void **state)
{
    (void)state;
    char h[SH_PASSWORD_HASH_MAX];
    const unsigned long long ops = crypto_pwhash_OPSLIMIT_MIN;
    const size_t mem = crypto_pwhash_MEMLIMIT_MIN;
    assert_int_equal(sh_password_hash_sync("s3cret\0with nul", 15, h, ops, mem), 0);
    assert_memory_equal(h, "$argon2id$", 10);
    assert_int_equal(sh_password_verify_sync(h, "s3cret\0with nul", 15), 0);
    assert_int_equal(sh_password_verify_sync(h, "s3cret", 6), SH_EFORBIDDEN);
    assert_int_equal(sh_password_verify_sync(NULL, "s3cret", 6), SH_EFORBIDDEN);
    assert_int_equal(sh_password_verify_sync("garbage", "s3cret", 6), SH_EFORBIDDEN);
    assert_int_equal(sh_password_needs_rehash(h, ops, mem), 0);
    assert_int_equal(sh_password_needs_rehash(h, ops + 1, mem), 1);
    assert_int_equal(sh_password_needs_rehash("$2a$10$bcrypt", ops, mem), 1);
    assert_int_equal(sh_password_hash_sync("x", 1, h, 0, 1), SH_EINVAL);
    assert_string_equal(h, "");
    char big[SH_PASSWORD_MAX_LEN + 1];
    memset(big, 'b', sizeof big);
    assert_int_equal(sh_password_hash_sync(big, sizeof big, h, ops, mem), SH_ETOOBIG);
    assert_int_equal(sh_password_verify_sync(h, big, sizeof big), SH_ETOOBIG);

    assert_int_equal(sh_secret_eq("abc", 3, "abc", 3), 1);
    assert_int_equal(sh_secret_eq("abc", 3, "abd", 3), 0);
    assert_int_equal(sh_secret_eq("abc", 3, "abcd", 4), 0);
    assert_int_equal(sh_secret_eq("", 0, "", 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_pool_options_default),
        cmocka_unit_test_setup_teardown(test_hash_pool_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_nice_lowers_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_sched_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_cancel_drops_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_gone_predicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_idle_does_not_keep_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_hash_then_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_dummy_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_queue_full_is_ebusy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_stop_cancels_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_every_cb_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_submit_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_stop_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_pool_stop_null_and_idle, setup, teardown),
        cmocka_unit_test(test_password_sync_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
