/*
 * Growable byte buffers on the process heap. Used for connection input and
 * output, log lines and response bodies; growth doubles so appends are
 * amortised O(1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/core.h"

void sh_buf_init(struct sh_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sh_buf_deinit(struct sh_buf *b)
{
    free(b->data);
    sh_buf_init(b);
}

void sh_buf_reserve(struct sh_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    b->data = sh_realloc(b->data, cap);
    b->cap = cap;
}

void sh_buf_append(struct sh_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    sh_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void sh_buf_appends(struct sh_buf *b, const char *s)
{
    sh_buf_append(b, s, strlen(s));
}

void sh_buf_vappendf(struct sh_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    sh_buf_reserve(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        sh_buf_reserve(b, (size_t)n + 1);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    if (n > 0)
        b->len += (size_t)n;
}

void sh_buf_appendf(struct sh_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sh_buf_vappendf(b, fmt, ap);
    va_end(ap);
}

void sh_buf_append_u64(struct sh_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sh_buf_append(b, tmp + i, sizeof(tmp) - i);
}

void sh_buf_consume(struct sh_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
