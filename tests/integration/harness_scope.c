/*
 * Scopes and memory (see harness.h): a stack of marks over one list of
 * owned objects, each with the release function of its kind, freed newest
 * first when its scope ends; the failure count that decides whether a
 * scope's servers keep their folders; the monotonic clock and notes. A
 * process that exits with scopes open (a fixture that never ran its
 * teardown) still releases everything, from an atexit handler.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "harness_int.h"

struct res {
    struct res *next;
    const struct it_res_type *type; /* NULL: plain memory */
    void (*fn)(void *);             /* it_defer's function, or NULL */
    void *p;
};

#define MAX_SCOPES 8

struct mark {
    struct res *resources; /* the list when the scope began */
    unsigned failures;     /* it_failures() when the scope began */
};

static struct res *resources; /* newest first */
static struct mark marks[MAX_SCOPES];
static int nmarks;
static unsigned failures;
static int exit_hooked;

void *it_xcalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "harness: out of memory\n");
        abort();
    }
    return p;
}

/* At exit, whatever is still owned is released (servers killed). */
static void release_at_exit(void)
{
    it_scope_end_to(0);
    it_scope_end(); /* objects tracked outside any scope */
}

static void push(struct res *r)
{
    if (!exit_hooked) {
        exit_hooked = 1;
        atexit(release_at_exit);
    }
    r->next = resources;
    resources = r;
}

void it_track(const struct it_res_type *type, void *p)
{
    struct res *r = it_xcalloc(sizeof(*r));
    r->type = type;
    r->p = p;
    push(r);
}

void it_defer(void (*fn)(void *), void *p)
{
    struct res *r = it_xcalloc(sizeof(*r));
    r->fn = fn;
    r->p = p;
    push(r);
}

void it_scope_begin(void)
{
    if (nmarks == MAX_SCOPES) {
        fprintf(stderr, "harness: scopes nested too deeply\n");
        abort();
    }
    marks[nmarks].resources = resources;
    marks[nmarks].failures = failures;
    nmarks++;
}

int it_scope_depth(void)
{
    return nmarks;
}

static int keep_evidence(unsigned failures_before)
{
    const char *k = getenv("SH_IT_KEEP");
    return failures > failures_before || (k && *k && strcmp(k, "0") != 0);
}

void it_scope_end(void)
{
    struct res *stop = NULL;
    unsigned before = 0;
    if (nmarks) {
        nmarks--;
        stop = marks[nmarks].resources;
        before = marks[nmarks].failures;
    }
    int keep = keep_evidence(before);
    while (resources && resources != stop) {
        struct res *r = resources;
        resources = r->next;
        if (r->type)
            r->type->release(r->p, keep);
        else if (r->fn)
            r->fn(r->p);
        else
            free(r->p);
        free(r);
    }
}

void it_scope_end_to(int depth)
{
    while (nmarks > depth && nmarks > 0)
        it_scope_end();
}

void it_scope_each(const struct it_res_type *type, void (*fn)(void *p, void *ud), void *ud)
{
    struct res *stop = nmarks ? marks[nmarks - 1].resources : NULL;
    /* the list is newest first: collect, then call oldest first */
    size_t n = 0;
    for (struct res *r = resources; r && r != stop; r = r->next)
        n += r->type == type;
    void **found = it_xcalloc(n * sizeof(*found));
    size_t i = n;
    for (struct res *r = resources; r && r != stop; r = r->next)
        if (r->type == type)
            found[--i] = r->p;
    for (i = 0; i < n; i++)
        fn(found[i], ud);
    free(found);
}

void it_test_failed(void)
{
    failures++;
}

unsigned it_failures(void)
{
    return failures;
}

void *it_alloc(size_t n)
{
    void *p = it_xcalloc(n);
    it_track(NULL, p);
    return p;
}

char *it_strdup(const char *s)
{
    size_t n = strlen(s);
    char *d = it_alloc(n + 1);
    memcpy(d, s, n);
    return d;
}

char *it_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *d = it_alloc(n > 0 ? (size_t)n + 1 : 1);
    va_start(ap, fmt);
    if (n > 0)
        vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

int64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#if defined(__SANITIZE_THREAD__)
#define IT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IT_TSAN 1
#endif
#endif

int it_slowdown(void)
{
    static int factor;
    if (factor == 0) {
        const char *v = getenv("STAGEHAND_TEST_SLOWDOWN");
        int n = v ? atoi(v) : 0;
#ifdef IT_TSAN
        factor = n > 0 ? n : 5;
#else
        factor = n > 0 ? n : 1;
#endif
    }
    return factor;
}

char *it_slow_flag(int64_t ms)
{
    return it_sprintf("%lldms", (long long)IT_SLOW(ms));
}

int it_left_ms(long long deadline)
{
    long long d = deadline - it_now_ms();
    return d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

void it_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}
