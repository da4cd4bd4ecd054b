/*
 * The Argon2id pool: threads of its own (not libuv's threadpool, which serves
 * files and backups, and not the writer), so a flood of logins cannot delay
 * anything else. Admission is decided on the loop thread alone: a job counts
 * from submission until its callback has run, and at most threads + max_queue
 * count at once, so memory stays bounded (peak Argon2 memory is threads x
 * memlimit for hashes made with the pool's parameters) and a refusal is
 * immediate (SH_EBUSY, which the API answers with 503 and Retry-After).
 *
 * The loop appends jobs under one mutex; a free thread takes the oldest,
 * hashes outside the lock, appends the job to the completed list and wakes
 * the loop through the one uv_async_t. uv_async_send coalesces, so the async
 * callback drains the whole completed list at once. The handle is referenced
 * only while jobs are in flight, so an idle pool does not keep the loop alive.
 *
 * Sizing and priority. The default thread count is the number of CPUs the
 * process may run on (sched_getaffinity), not the online cores: pinned to
 * one CPU (taskset, a cgroup cpuset), two threads would only time-slice with
 * each other and with the loop. Each thread then gives way to the loop
 * (Linux: the policy is per thread, set on its own tid; --hash-sched):
 *
 *  - batch (default): SCHED_BATCH plus --hash-nice (default +19, CFS weight
 *    15 against the loop's 1024). A batch thread never preempts on wake-up
 *    and the waking loop preempts it, so a request arriving during a login
 *    flood waits at most for the scheduler's minimum slice; hashing still
 *    gets every cycle the loop leaves and a small share under contention,
 *    so it never stops.
 *  - idle: SCHED_IDLE. Made for this on paper, and worse when measured side
 *    by side (bench/scenarios/auth-flood.sh, a paced /api/health probe
 *    during 64 connections of sign-ins, server on one CPU of a loaded 2-core
 *    VM; two interleaved rounds each): idle 9.9x and 13.3x the idle p99 at
 *    23 and 29 sign-ins/s; batch +10 2.2x and 1.6x at 38 and 52/s; batch +19
 *    1.8x and 1.6x at 48 and 42/s. The likely cause is priority inversion:
 *    libsodium maps each hash's memory (mmap with MAP_POPULATE) and unmaps
 *    it, under the process's mmap lock, and a SCHED_IDLE thread preempted
 *    there runs again only when the CPU has nothing else to do, while the
 *    loop's own page faults and frees wait for that lock.
 *  - normal: SCHED_OTHER plus --hash-nice, the older behaviour.
 *
 * A policy the kernel refuses (a sandbox) is logged once per thread and the
 * thread runs at normal priority.
 *
 * Jobs whose client has gone are dropped before a thread takes them
 * (sh_hash_pool_cancel, loop thread): a flood of clients that time out and
 * retry does not leave the threads hashing for nobody.
 *
 * Passwords sit in sodium_malloc memory (guard pages, not swapped) from
 * submission until the thread has used them, then are wiped and freed. The
 * dummy hash that unknown identities are verified against is made by the
 * first thread when it starts, with the pool's parameters, never on the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "stagehand/auth.h"

#define MAX_THREADS 256

struct job {
    struct job *next;
    sh_hash_cb cb;
    void *arg;
    char *password; /* sodium_malloc; NULL once wiped */
    size_t len;
    int verify;
    int use_dummy;
    int dummy_ran; /* a real Argon2 verify against the dummy hash ran */
    int rc;
    char buf[SH_PASSWORD_HASH_MAX]; /* verify: the hash to check; hash: the result */
};

/* What the threads and the loop share, behind one lock. */
struct shared {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *q_head, *q_tail; /* waiting for a thread */
    struct job *done_head, *done_tail;
    unsigned queued, running;
    unsigned next_index; /* hands each thread its index as it starts */
    uint64_t dummy;
    uint64_t hash_us_total, hash_us[SH_HASH_US_BUCKETS]; /* durations of run jobs */
    int stopping;
};

struct sh_hash_pool {
    uv_async_t async;
    unsigned long long ops;
    size_t mem;
    unsigned nthreads, max_queue;
    int nice; /* added to each thread's priority as it starts */
    enum sh_hash_sched sched;
    int (*gone)(sh_hash_cb cb, void *arg, void *ctx);
    void *gone_ctx;
    pthread_t *threads;

    /* loop thread only */
    unsigned in_flight; /* submitted, callback not yet run */
    int stopped;
    uint64_t done, rejected, canceled, dropped;

    /* Points at `storage`: a const pool (stats) can still take the lock. */
    struct shared *sh;
    struct shared storage;

    /* the dummy hash, made once; dummy_ready is read and set under dummy_lock */
    pthread_mutex_t dummy_lock;
    int dummy_ready;
    char dummy_hash[SH_PASSWORD_HASH_MAX];
};

/* The CPUs this process may run on (its affinity mask), else the online
 * cores, in 1 .. MAX_THREADS. */
static unsigned usable_cpus(void)
{
    long n = 0;
#ifdef CPU_COUNT
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
#endif
    if (n < 1)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

void sh_hash_pool_options_init(struct sh_hash_pool_options *o)
{
    memset(o, 0, sizeof *o);
    o->threads = usable_cpus();
    o->max_queue = 64;
    o->nice = SH_HASH_NICE_DEFAULT;
    o->opslimit = SH_ARGON2_OPS_DEFAULT;
    o->memlimit = SH_ARGON2_MEM_DEFAULT;
    o->sched = SH_HASH_SCHED_BATCH;
}

/* Makes the dummy hash if no thread has yet; the others wait for it here. */
static int ensure_dummy(struct sh_hash_pool *p)
{
    int rc = 0;
    pthread_mutex_lock(&p->dummy_lock);
    if (!p->dummy_ready) {
        char secret[32];
        randombytes_buf(secret, sizeof secret);
        rc = sh_password_hash_sync(secret, sizeof secret, p->dummy_hash, p->ops, p->mem);
        sodium_memzero(secret, sizeof secret);
        p->dummy_ready = rc == 0;
    }
    pthread_mutex_unlock(&p->dummy_lock);
    return rc;
}

static void run_job(struct sh_hash_pool *p, struct job *j)
{
    if (!j->verify) {
        j->rc = sh_password_hash_sync(j->password, j->len, j->buf, p->ops, p->mem);
    } else if (!j->use_dummy) {
        j->rc = sh_password_verify_sync(j->buf, j->password, j->len);
    } else {
        /* A real verify of the same cost; its answer is a mismatch whatever it
         * says. dummy_hash is read outside the lock: it no longer changes once
         * ensure_dummy has seen it ready. */
        j->rc = ensure_dummy(p);
        if (j->rc == 0) {
            int rc = sh_password_verify_sync(p->dummy_hash, j->password, j->len);
            j->dummy_ran = rc == SH_EFORBIDDEN || rc == 0;
            j->rc = rc == -ENOMEM ? rc : SH_EFORBIDDEN;
        }
    }
    sodium_free(j->password); /* wipes before unmapping */
    j->password = NULL;
}

/* Gives the calling thread p->sched's policy, and for batch/normal lowers
 * its priority by p->nice (Linux: both per thread). */
static void lower_priority(const struct sh_hash_pool *p)
{
#if defined(__linux__) && defined(SCHED_IDLE) && defined(SCHED_BATCH)
    if (p->sched != SH_HASH_SCHED_NORMAL) {
        struct sched_param sp = {.sched_priority = 0};
        int policy = p->sched == SH_HASH_SCHED_IDLE ? SCHED_IDLE : SCHED_BATCH;
        int rc = pthread_setschedparam(pthread_self(), policy, &sp);
        if (rc)
            sh_log_warn("auth", "hash pool: cannot set the thread's policy: %s", sh_strerror(-rc));
        if (policy == SCHED_IDLE)
            return; /* nice does not apply to SCHED_IDLE */
    }
#endif
    if (p->nice == 0)
        return;
#ifdef __linux__
    pid_t tid = (pid_t)syscall(SYS_gettid);
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, (id_t)tid);
    if (cur == -1 && errno)
        cur = 0;
    int want = cur + p->nice > 19 ? 19 : cur + p->nice;
    if (setpriority(PRIO_PROCESS, (id_t)tid, want) != 0)
        sh_log_warn("auth", "hash pool: cannot lower thread priority: %s", sh_strerror(-errno));
#endif
}

static void *worker_main(void *arg)
{
    struct sh_hash_pool *p = arg;
    struct shared *s = p->sh;
    lower_priority(p);

    pthread_mutex_lock(&s->lock);
    unsigned index = s->next_index++;
    pthread_mutex_unlock(&s->lock);
    char name[16]; /* the kernel's limit, NUL included */
    snprintf(name, sizeof(name), "sh-hash-%u", index);
    (void)pthread_setname_np(pthread_self(), name); /* top, gdb and /proc show it */
    if (index == 0)
        (void)ensure_dummy(p); /* a failure is retried by the first dummy job */

    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->q_head && !s->stopping)
            pthread_cond_wait(&s->cond, &s->lock);
        if (s->stopping)
            break; /* stop has cancelled whatever was queued */
        struct job *j = s->q_head;
        s->q_head = j->next;
        if (!s->q_head)
            s->q_tail = NULL;
        j->next = NULL;
        s->queued--;
        s->running++;
        pthread_mutex_unlock(&s->lock);

        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        run_job(p, j);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
        unsigned b = 0;
        while (b + 1 < SH_HASH_US_BUCKETS && us >= (int64_t)2 << b)
            b++;

        pthread_mutex_lock(&s->lock);
        s->hash_us_total += us > 0 ? (uint64_t)us : 0;
        s->hash_us[b]++;
        s->running--;
        s->dummy += (uint64_t)j->dummy_ran;
        if (s->done_tail)
            s->done_tail->next = j;
        else
            s->done_head = j;
        s->done_tail = j;
        /* Sent under the lock: stop joins this thread before it closes the
         * handle, so the handle is open for every send. */
        uv_async_send(&p->async);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static unsigned drop_matching(struct sh_hash_pool *p,
                              int (*match)(sh_hash_cb cb, void *arg, void *ctx), void *ctx);

/* Runs the callbacks of every completed job (loop thread), first dropping
 * the waiting jobs p->gone says nobody wants. */
static void deliver(struct sh_hash_pool *p)
{
    struct shared *s = p->sh;
    if (p->gone && !p->stopped) {
        unsigned n = drop_matching(p, p->gone, p->gone_ctx); /* delivered below */
        if (n)
            sh_log_info("auth", "hash pool: dropped %u waiting jobs whose client had gone", n);
    }
    pthread_mutex_lock(&s->lock);
    struct job *j = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->lock);

    while (j) {
        struct job *next = j->next;
        p->in_flight--; /* before cb: a callback may submit again */
        if (j->rc == -ECANCELED)
            p->canceled++;
        else
            p->done++;
        j->cb(j->arg, j->rc, !j->verify && j->rc == 0 ? j->buf : NULL);
        sodium_memzero(j->buf, sizeof j->buf);
        free(j);
        j = next;
    }
    if (!uv_is_closing((uv_handle_t *)&p->async)) {
        if (p->in_flight == 0)
            uv_unref((uv_handle_t *)&p->async);
        else
            uv_ref((uv_handle_t *)&p->async);
    }
}

static void on_async(uv_async_t *h)
{
    deliver(h->data);
}

static void pool_free(struct sh_hash_pool *p)
{
    pthread_mutex_destroy(&p->sh->lock);
    pthread_cond_destroy(&p->sh->cond);
    pthread_mutex_destroy(&p->dummy_lock);
    free(p->threads);
    free(p);
}

static void on_close(uv_handle_t *h)
{
    struct sh_hash_pool *p = h->data;
    deliver(p); /* the last completions and the cancelled jobs */
    SH_ASSERT(p->in_flight == 0);
    pool_free(p);
}

/* Tells the threads to finish and joins the first n of them. */
static void join_threads(struct sh_hash_pool *p, unsigned n)
{
    struct shared *s = p->sh;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    for (unsigned i = 0; i < n; i++)
        pthread_join(p->threads[i], NULL);
}

/* Creates the threads with asynchronous signals blocked, so that signals go
 * to the loop thread (libuv's signal handling), not to a hashing thread. */
static int spawn_threads(struct sh_hash_pool *p, unsigned *started)
{
    sigset_t all, old;
    sigfillset(&all);
    static const int sync_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < SH_ARRAY_LEN(sync_signals); i++)
        sigdelset(&all, sync_signals[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (*started = 0; *started < p->nthreads; (*started)++) {
        rc = pthread_create(&p->threads[*started], NULL, worker_main, p);
        if (rc) {
            rc = -rc;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int sh_hash_pool_start(struct sh_hash_pool **out, uv_loop_t *loop,
                       const struct sh_hash_pool_options *o)
{
    *out = NULL;
    struct sh_hash_pool_options def;
    if (!o) {
        sh_hash_pool_options_init(&def);
        o = &def;
    }
    unsigned nthreads = o->threads ? o->threads : usable_cpus();
    unsigned long long ops = o->opslimit;
    size_t mem = o->memlimit;
    if (nthreads > MAX_THREADS || ops < crypto_pwhash_OPSLIMIT_MIN ||
        ops > crypto_pwhash_OPSLIMIT_MAX || mem < crypto_pwhash_MEMLIMIT_MIN ||
        mem > crypto_pwhash_MEMLIMIT_MAX || o->max_queue > UINT32_MAX - MAX_THREADS ||
        o->nice < 0 || o->nice > 19 || o->sched < SH_HASH_SCHED_BATCH ||
        o->sched > SH_HASH_SCHED_NORMAL)
        return SH_EINVAL;
    if (sodium_init() < 0)
        return SH_EINTERNAL;

    struct sh_hash_pool *p = sh_calloc(1, sizeof *p);
    p->ops = ops;
    p->mem = mem;
    p->nthreads = nthreads;
    p->max_queue = o->max_queue;
    p->nice = o->nice;
    p->sched = o->sched;
    p->gone = o->gone;
    p->gone_ctx = o->gone_ctx;
    p->threads = sh_calloc(nthreads, sizeof *p->threads);
    p->sh = &p->storage;
    SH_ASSERT(pthread_mutex_init(&p->sh->lock, NULL) == 0);
    SH_ASSERT(pthread_cond_init(&p->sh->cond, NULL) == 0);
    SH_ASSERT(pthread_mutex_init(&p->dummy_lock, NULL) == 0);

    /* The threads before the handle: a thread touches the handle only to
     * report a job, and there is none before this returns. */
    unsigned started;
    int rc = spawn_threads(p, &started);
    if (rc) {
        sh_log_error("auth", "hash pool: cannot start thread %u of %u: %s", started + 1, nthreads,
                     sh_strerror(rc));
        join_threads(p, started);
        pool_free(p);
        return rc;
    }
    rc = uv_async_init(loop, &p->async, on_async);
    if (rc) {
        sh_log_error("auth", "hash pool: uv_async_init: %s", sh_strerror(rc));
        join_threads(p, nthreads);
        pool_free(p);
        return rc;
    }
    p->async.data = p;
    uv_unref((uv_handle_t *)&p->async);
    *out = p;
    return 0;
}

void sh_hash_pool_stop(struct sh_hash_pool *p)
{
    if (!p)
        return;
    SH_ASSERT(!p->stopped);
    p->stopped = 1;

    struct shared *s = p->sh;
    pthread_mutex_lock(&s->lock);
    for (struct job *j = s->q_head; j; j = j->next) {
        j->rc = -ECANCELED;
        sodium_free(j->password);
        j->password = NULL;
    }
    if (s->q_head) {
        if (s->done_tail)
            s->done_tail->next = s->q_head;
        else
            s->done_head = s->q_head;
        s->done_tail = s->q_tail;
    }
    s->q_head = s->q_tail = NULL;
    s->queued = 0;
    pthread_mutex_unlock(&s->lock);

    join_threads(p, p->nthreads); /* running jobs finish first */
    uv_close((uv_handle_t *)&p->async, on_close);
}

static int submit(struct sh_hash_pool *p, int verify, const char *hash, const char *password,
                  size_t len, sh_hash_cb cb, void *arg)
{
    SH_ASSERT(cb);
    if (p->stopped)
        return -ECANCELED;
    if (len > SH_PASSWORD_MAX_LEN)
        return SH_ETOOBIG;
    if (p->in_flight >= p->nthreads + p->max_queue) {
        p->rejected++;
        return SH_EBUSY;
    }
    struct job *j = sh_calloc(1, sizeof *j);
    /* sodium_malloc(0) is valid but odd; an empty password gets one byte. */
    j->password = sodium_malloc(len ? len : 1);
    if (!j->password) {
        free(j);
        return -ENOMEM;
    }
    if (len)
        memcpy(j->password, password, len);
    j->len = len;
    j->cb = cb;
    j->arg = arg;
    j->verify = verify;
    if (verify) {
        size_t hlen = hash ? strnlen(hash, SH_PASSWORD_HASH_MAX) : SH_PASSWORD_HASH_MAX;
        j->use_dummy = hlen == SH_PASSWORD_HASH_MAX;
        if (!j->use_dummy)
            memcpy(j->buf, hash, hlen + 1);
    }

    if (p->in_flight++ == 0)
        uv_ref((uv_handle_t *)&p->async);
    struct shared *s = p->sh;
    pthread_mutex_lock(&s->lock);
    if (s->q_tail)
        s->q_tail->next = j;
    else
        s->q_head = j;
    s->q_tail = j;
    s->queued++;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int sh_hash_pool_hash(struct sh_hash_pool *p, const char *password, size_t len, sh_hash_cb cb,
                      void *arg)
{
    return submit(p, 0, NULL, password, len, cb, arg);
}

int sh_hash_pool_verify(struct sh_hash_pool *p, const char *hash, const char *password, size_t len,
                        sh_hash_cb cb, void *arg)
{
    return submit(p, 1, hash, password, len, cb, arg);
}

/* Moves the waiting jobs match accepts to the completed list (-ECANCELED),
 * wiping their passwords; loop thread. Returns how many. */
static unsigned drop_matching(struct sh_hash_pool *p,
                              int (*match)(sh_hash_cb cb, void *arg, void *ctx), void *ctx)
{
    struct shared *s = p->sh;
    unsigned n = 0;
    pthread_mutex_lock(&s->lock);
    struct job **link = &s->q_head, *prev = NULL;
    while (*link) {
        struct job *j = *link;
        if (!match(j->cb, j->arg, ctx)) {
            prev = j;
            link = &j->next;
            continue;
        }
        *link = j->next;
        if (s->q_tail == j)
            s->q_tail = prev;
        s->queued--;
        j->next = NULL;
        j->rc = -ECANCELED;
        sodium_free(j->password);
        j->password = NULL;
        if (s->done_tail)
            s->done_tail->next = j;
        else
            s->done_head = j;
        s->done_tail = j;
        n++;
    }
    pthread_mutex_unlock(&s->lock);
    p->dropped += n;
    return n;
}

unsigned sh_hash_pool_cancel(struct sh_hash_pool *p,
                             int (*match)(sh_hash_cb cb, void *arg, void *ctx), void *ctx)
{
    if (p->stopped)
        return 0;
    unsigned n = drop_matching(p, match, ctx);
    if (n)
        uv_async_send(&p->async); /* the callbacks run from the loop, not from here */
    return n;
}

int sh_hash_pool_needs_rehash(const struct sh_hash_pool *p, const char *hash)
{
    return sh_password_needs_rehash(hash, p->ops, p->mem);
}

void sh_hash_pool_stats(const struct sh_hash_pool *p, struct sh_hash_pool_stats *out)
{
    memset(out, 0, sizeof *out);
    out->threads = p->nthreads;
    out->max_queue = p->max_queue;
    out->nice = p->nice;
    out->sched = p->sched;
    pthread_mutex_lock(&p->sh->lock);
    out->running = p->sh->running;
    out->queued = p->sh->queued;
    out->dummy = p->sh->dummy;
    out->hash_us_total = p->sh->hash_us_total;
    memcpy(out->hash_us, p->sh->hash_us, sizeof out->hash_us);
    pthread_mutex_unlock(&p->sh->lock);
    out->done = p->done;
    out->rejected = p->rejected;
    out->canceled = p->canceled;
    out->dropped = p->dropped;
}
