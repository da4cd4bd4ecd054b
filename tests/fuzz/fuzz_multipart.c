/*
 * libFuzzer target for the incremental multipart/form-data reader
 * (src/http/multipart.c). An input is a split byte, then the boundary up to
 * the first '\n', then the body. The body is read three ways: whole, in two
 * pieces cut where the split byte says, and (when short) byte by byte.
 *
 * Invariants checked, each a bug when broken:
 *  - the three readings end with the same code and describe the same parts:
 *    the same names, file names and types, and the same content bytes (a
 *    running hash, so pieces may arrive cut differently);
 *  - data callbacks come only between a part's begin and end, never empty;
 *  - a name is at most max_name bytes, a file name at most max_filename
 *    bytes of valid UTF-8; codes are 0 or SH_MP_E*;
 *  - an error is sticky: feeding more returns the same code.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/multipart.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, what);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const struct sh_mp_limits lim = {
    .max_parts = 64, .max_header_bytes = 512, .max_name = 32, .max_filename = 64};

struct trace {
    uint64_t hash;
    unsigned parts;
    bool open;
};

static void mix(struct trace *t, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        t->hash = (t->hash ^ b[i]) * 0x100000001b3ull;
}

static int on_begin(void *ud, const struct sh_mp_part *p)
{
    struct trace *t = ud;
    CHECK(!t->open, "a part begins inside another");
    CHECK(strlen(p->name) <= lim.max_name, "name longer than max_name");
    size_t fl = strlen(p->filename);
    CHECK(fl <= lim.max_filename, "file name longer than max_filename");
    CHECK(sh_multipart_utf8_valid(p->filename, fl), "file name not UTF-8");
    CHECK(p->is_file || fl == 0, "a file name without is_file");
    t->open = true;
    t->parts++;
    mix(t, "B", 1);
    mix(t, p->name, strlen(p->name) + 1);
    mix(t, p->filename, fl + 1);
    mix(t, p->ctype, strlen(p->ctype) + 1);
    mix(t, &p->is_file, sizeof(p->is_file));
    return 0;
}

static int on_data(void *ud, const char *at, size_t len)
{
    struct trace *t = ud;
    CHECK(t->open, "data outside a part");
    CHECK(len > 0, "an empty data callback");
    mix(t, at, len);
    return 0;
}

static int on_end(void *ud)
{
    struct trace *t = ud;
    CHECK(t->open, "an end without a begin");
    t->open = false;
    mix(t, "E", 1);
    return 0;
}

static const struct sh_mp_callbacks cbs = {on_begin, on_data, on_end};

/* Reads body[0..n) in pieces of at most step bytes after a first piece of
 * cut bytes; returns the final code with *t filled. */
static int read_body(const char *boundary, const uint8_t *body, size_t n, size_t cut, size_t step,
                     struct trace *t)
{
    static char hdr[SH_MP_HDRBUF_SIZE(512)];
    struct sh_multipart m;
    *t = (struct trace){.hash = 0xcbf29ce484222325ull};
    sh_multipart_init(&m, boundary, &lim, &cbs, t, hdr);
    size_t off = 0;
    int rc = 0;
    for (bool first = true; (first || off < n) && rc == 0; first = false) {
        size_t len = first ? cut : step; /* the first piece may be empty */
        if (len > n - off)
            len = n - off;
        /* a heap copy of exactly the piece, so ASan sees a read past it */
        char *piece = malloc(len ? len : 1);
        memcpy(piece, body + off, len);
        rc = sh_multipart_feed(&m, piece, len);
        free(piece);
        off += len;
    }
    if (rc == 0)
        rc = sh_multipart_finish(&m);
    CHECK(rc <= 0 && rc >= SH_MP_ECALLBACK, "an unknown code");
    if (rc)
        CHECK(sh_multipart_feed(&m, "x", 1) == rc, "an error that is not sticky");
    return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const uint8_t *nl = memchr(data + 1, '\n', size - 1);
    if (!nl)
        return 0;
    size_t blen = (size_t)(nl - data - 1);
    char boundary[SH_MP_MAX_BOUNDARY + 1];
    if (blen == 0 || blen > SH_MP_MAX_BOUNDARY || memchr(data + 1, 0, blen))
        return 0;
    memcpy(boundary, data + 1, blen);
    boundary[blen] = 0;
    const uint8_t *body = nl + 1;
    size_t n = size - (size_t)(body - data);
    size_t cut = n * data[0] / 256;
    struct trace whole, split, bytes;
    int a = read_body(boundary, body, n, n, n, &whole);
    int b = read_body(boundary, body, n, cut, n, &split);
    CHECK(a == b, "two pieces end with another code than one");
    CHECK(whole.hash == split.hash && whole.parts == split.parts, "two pieces read other parts");
    if (n <= 4096) {
        int c = read_body(boundary, body, n, 1, 1, &bytes);
        CHECK(a == c, "byte by byte ends with another code");
        CHECK(whole.hash == bytes.hash && whole.parts == bytes.parts,
              "byte by byte reads other parts");
    }
    return 0;
}
