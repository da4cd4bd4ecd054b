/*
 * The request arena: a bump allocator over a list of chunks. A handler
 * allocates freely and frees nothing; the connection resets the arena when the
 * request ends, running deferred cleanups (statement resets, cJSON trees)
 * first. The first chunk is kept across resets so a keep-alive connection
 * does not go back to malloc for every request; an arena freed whole (its
 * connection went idle, and gives its memory back to stay small) hands its
 * default-size chunks to a pool the next request takes them from, so one
 * request per round trip does not pay a malloc and a free either. Unused
 * space is poisoned for AddressSanitizer so a read past an allocation is
 * caught, as lwan does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/core.h"

#if defined(__SANITIZE_ADDRESS__)
#define SH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SH_ASAN 1
#endif
#endif

#ifdef SH_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define POISON(p, n)   __asan_poison_memory_region((p), (n))
#define UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ALIGN 16

struct sh_arena_chunk {
    struct sh_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t off;
    _Alignas(ALIGN) unsigned char mem[];
};

struct sh_arena_defer {
    struct sh_arena_defer *next;
    void (*fn)(void *);
    void *arg;
};

void sh_arena_init(struct sh_arena *a, size_t chunk_size, size_t limit)
{
    a->head = NULL;
    a->defers = NULL;
    a->chunk_size = chunk_size ? chunk_size : 4096;
    a->limit = limit;
    a->used = 0;
    a->pool = NULL;
}

void sh_arena_use_pool(struct sh_arena *a, struct sh_arena_pool *p)
{
    a->pool = p;
}

void sh_arena_pool_init(struct sh_arena_pool *p, size_t chunk_size, unsigned max)
{
    p->free = NULL;
    p->chunk_size = chunk_size;
    p->n = 0;
    p->max = max;
}

static void run_defers(struct sh_arena *a)
{
    /* Newest first: a cleanup may depend on memory registered before it. */
    while (a->defers) {
        struct sh_arena_defer *d = a->defers;
        a->defers = d->next;
        d->fn(d->arg);
    }
}

/* Frees c, or keeps it in p when it has room for one of its size. */
static void drop_chunk(struct sh_arena_pool *p, struct sh_arena_chunk *c)
{
    if (p && p->n < p->max && c->size == p->chunk_size) {
        POISON(c->mem, c->size);
        c->next = p->free;
        p->free = c;
        p->n++;
        return;
    }
    UNPOISON(c->mem, c->size);
    free(c);
}

static void free_chunks(struct sh_arena_pool *p, struct sh_arena_chunk *c)
{
    while (c) {
        struct sh_arena_chunk *next = c->next;
        drop_chunk(p, c);
        c = next;
    }
}

void sh_arena_pool_deinit(struct sh_arena_pool *p)
{
    p->max = 0;
    free_chunks(NULL, p->free);
    p->free = NULL;
    p->n = 0;
}

void sh_arena_deinit(struct sh_arena *a)
{
    run_defers(a);
    free_chunks(a->pool, a->head);
    a->head = NULL;
    a->used = 0;
}

void sh_arena_reset(struct sh_arena *a)
{
    run_defers(a);
    if (!a->head)
        return;
    /* Keep the oldest chunk (the last in the list); it has the default size. */
    struct sh_arena_chunk *c = a->head, *keep = NULL;
    while (c->next)
        c = c->next;
    keep = c;
    if (keep->size != a->chunk_size) {
        free_chunks(NULL, a->head);
        a->head = NULL;
        a->used = 0;
        return;
    }
    for (c = a->head; c != keep;) {
        struct sh_arena_chunk *next = c->next;
        UNPOISON(c->mem, c->size);
        free(c);
        c = next;
    }
    keep->next = NULL;
    keep->off = 0;
    POISON(keep->mem, keep->size);
    a->head = keep;
    a->used = sizeof(*keep) + keep->size;
}

void *sh_arena_alloc(struct sh_arena *a, size_t n)
{
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need == 0)
        need = ALIGN;
    struct sh_arena_chunk *c = a->head;
    if (!c || c->size - c->off < need) {
        size_t size = need > a->chunk_size ? need : a->chunk_size;
        if (a->limit && a->used + sizeof(*c) + size > a->limit)
            return NULL;
        struct sh_arena_pool *p = a->pool;
        if (p && p->free && size == p->chunk_size) {
            c = p->free;
            p->free = c->next;
            p->n--;
        } else {
            c = sh_malloc(sizeof(*c) + size);
        }
        c->size = size;
        c->off = 0;
        c->next = a->head;
        a->head = c;
        a->used += sizeof(*c) + size;
        POISON(c->mem, c->size);
    }
    void *p = c->mem + c->off;
    c->off += need;
    UNPOISON(p, n ? n : 1);
    return p;
}

char *sh_arena_strndup(struct sh_arena *a, const char *s, size_t n)
{
    char *d = sh_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *sh_arena_sprintf(struct sh_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *d = sh_arena_alloc(a, (size_t)n + 1);
    if (!d)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

int sh_arena_defer(struct sh_arena *a, void (*fn)(void *), void *arg)
{
    struct sh_arena_defer *d = sh_arena_alloc(a, sizeof(*d));
    if (!d)
        return -12; /* -ENOMEM */
    d->fn = fn;
    d->arg = arg;
    d->next = a->defers;
    a->defers = d;
    return 0;
}
