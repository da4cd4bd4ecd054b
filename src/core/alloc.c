/*
 * Process-heap allocation that aborts on exhaustion, as redis, h2o and kore do:
 * a server that cannot allocate a few hundred bytes has no sane way forward.
 * Request memory is capped separately by the arena, which fails softly (413).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/core.h"

_Noreturn void sh_panic(const char *file, int line, const char *what)
{
    sh_log_flush();
    fprintf(stderr, "level=error mod=core msg=\"panic\" file=%s line=%d what=\"%s\"\n", file, line,
            what);
    abort();
}

void *sh_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        sh_panic(__FILE__, __LINE__, "out of memory");
    return p;
}

void *sh_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        sh_panic(__FILE__, __LINE__, "out of memory");
    return p;
}

void *sh_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        sh_panic(__FILE__, __LINE__, "out of memory");
    return q;
}

char *sh_strdup(const char *s)
{
    size_t n = strlen(s);
    char *d = sh_malloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}
