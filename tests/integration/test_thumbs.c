/*
 * Thumbnails (`GET /api/files/...?thumb=SIZE`) against the real server:
 * images made here with libvips in each format (jpg, png, an animated gif,
 * webp) are uploaded, and each size form's answer is decoded with libvips
 * to check what a client sees: its dimensions, its format, and for the
 * crops which part of the image it kept (the source is red above, blue
 * below). An unlisted size, a malformed one, a file that is not an image,
 * an image over --thumb-max-pixels and a decompression bomb (a small PNG
 * declaring 30000 x 30000) all serve the original bytes; the bomb answers
 * quickly with the server's peak memory unchanged. A thumb is kept on disk
 * (a second request does not make it again: same inode and mtime) and
 * answers ETag/304 and Range as originals do; concurrent requests for a
 * missing thumb make it once, and with the workers busy and no queue the
 * original is served at once; thumbs go with their file (replaced, record
 * deleted) and, at start-up, with files no record holds.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <vips/vips.h>
#include <zlib.h>

#include <cmocka.h>

#include "test_files_client.h"

#define MAX_PIXELS 2000000 /* --thumb-max-pixels of the server */

static const char schema[] =
    "[{'name':'pics','type':'base','fields':["
    "  {'name':'title','type':'text'},"
    "  {'name':'img','type':'file','maxSelect':1,'maxSize':20000000,"
    "   'thumbs':['50x50','50x50t','50x50b','60x40f','0x100','150x0','600x600f']}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''}]";

static struct it_server *srv;
static struct it_conn *conn;
static char cid[64];

/* Creates (id NULL) or updates a pics record with file data named filename. */
static const cJSON *upload(const char *id, const char *filename, const void *data, size_t n)
{
    struct fc_body b = {0};
    fc_file_as(&b, "img", filename, "application/octet-stream", data, n);
    struct rc_resp *r = fc_send(
        conn, id ? "PATCH" : "POST",
        it_sprintf("/api/collections/pics/records%s%s", id ? "/" : "", id ? id : ""), NULL, &b);
    if (r->status != 200)
        fail_msg("upload %s: %d %s", filename, r->status, r->raw->body);
    return r->json;
}

static struct it_resp *get_on(struct it_conn *c, const char *path, const char *hdrs)
{
    assert_int_equal(
        it_conn_sends(c, it_sprintf("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path, hdrs)), IT_OK);
    struct it_resp *r = it_conn_read(c, 0, 60000);
    assert_non_null(r);
    return r;
}

static struct it_resp *get_thumb(const char *id, const char *name, const char *size)
{
    return get_on(conn, it_sprintf("/api/files/pics/%s/%s?thumb=%s", id, name, size), "");
}

static char *rec_dir(const char *id)
{
    return it_sprintf("%s/storage/%s/%s", srv->data_dir, cid, id);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Waits (up to 5 s) for a condition the server completes after answering. */
#define EVENTUALLY(cond)                                                                           \
    do {                                                                                           \
        int64_t end_ = it_now_ms() + 5000;                                                         \
        while (!(cond) && it_now_ms() < end_) {                                                    \
            struct timespec ts_ = {0, 20 * 1000 * 1000};                                           \
            nanosleep(&ts_, NULL);                                                                 \
        }                                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

/* ---- images made here ---- */

/* A w x h sRGB image: red in the upper half, blue in the lower. */
static VipsImage *two_halves(int w, int h)
{
    VipsImage *ramp, *mask, *out;
    assert_int_equal(vips_xyz(&ramp, w, h, NULL), 0); /* band 1: y */
    VipsImage *y;
    assert_int_equal(vips_extract_band(ramp, &y, 1, NULL), 0);
    assert_int_equal(vips_less_const1(y, &mask, h / 2.0, NULL), 0);
    double red[] = {255, 0, 0}, blue[] = {0, 0, 255};
    VipsImage *r, *b;
    VipsImage *black;
    assert_int_equal(vips_black(&black, w, h, "bands", 3, NULL), 0);
    assert_int_equal(vips_linear(black, &r, (double[]){1, 1, 1}, red, 3, NULL), 0);
    assert_int_equal(vips_linear(black, &b, (double[]){1, 1, 1}, blue, 3, NULL), 0);
    assert_int_equal(vips_ifthenelse(mask, r, b, &out, NULL), 0);
    VipsImage *u;
    assert_int_equal(vips_cast_uchar(out, &u, NULL), 0);
    g_object_unref(ramp);
    g_object_unref(y);
    g_object_unref(mask);
    g_object_unref(r);
    g_object_unref(b);
    g_object_unref(black);
    g_object_unref(out);
    VipsImage *srgb;
    assert_int_equal(vips_copy(u, &srgb, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
    g_object_unref(u);
    return srgb;
}

/* The image's bytes in the format of suffix (".jpg", ".png", ...). */
static struct fc_body encode(VipsImage *im, const char *suffix)
{
    void *buf;
    size_t n;
    assert_int_equal(vips_image_write_to_buffer(im, suffix, &buf, &n, NULL), 0);
    struct fc_body b = {it_alloc(n + 1), n};
    memcpy(b.p, buf, n);
    g_free(buf);
    return b;
}

/* A two-frame animated gif of 300 x 400 frames: the first red above, blue
 * below; the second all green. */
static struct fc_body animated_gif(void)
{
    VipsImage *f0 = two_halves(300, 400), *black, *f1, *g1, *both, *anim;
    assert_int_equal(vips_black(&black, 300, 400, "bands", 3, NULL), 0);
    assert_int_equal(vips_linear(black, &f1, (double[]){1, 1, 1}, (double[]){0, 255, 0}, 3, NULL),
                     0);
    assert_int_equal(vips_cast_uchar(f1, &g1, NULL), 0);
    VipsImage *frames[] = {f0, g1};
    assert_int_equal(vips_arrayjoin(frames, &both, 2, "across", 1, NULL), 0);
    assert_int_equal(vips_copy(both, &anim, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
    vips_image_set_int(anim, "page-height", 400);
    struct fc_body b = encode(anim, ".gif");
    g_object_unref(f0);
    g_object_unref(black);
    g_object_unref(f1);
    g_object_unref(g1);
    g_object_unref(both);
    g_object_unref(anim);
    return b;
}

/* A PNG of w x h 8-bit grey pixels, all black, compressed whole: a
 * decompression bomb when w x h is large (30000 x 30000: 900 M pixels in
 * under 1 MiB). */
static struct fc_body bomb_png(uint32_t w, uint32_t h)
{
    struct fc_body b = {0};
    fc_put(&b, "\x89PNG\r\n\x1a\n", 8);
    unsigned char ihdr[13] = {(unsigned char)(w >> 24),
                              (unsigned char)(w >> 16),
                              (unsigned char)(w >> 8),
                              (unsigned char)w,
                              (unsigned char)(h >> 24),
                              (unsigned char)(h >> 16),
                              (unsigned char)(h >> 8),
                              (unsigned char)h,
                              8,
                              0,
                              0,
                              0,
                              0};
    /* every row: filter byte 0 and w zero bytes */
    size_t cap = 4u << 20;
    unsigned char *idat = it_alloc(cap), *row = it_alloc((size_t)w + 1);
    z_stream z = {0};
    assert_int_equal(deflateInit(&z, 9), Z_OK);
    z.next_out = idat;
    z.avail_out = (uInt)cap;
    for (uint32_t y = 0; y < h; y++) {
        z.next_in = row;
        z.avail_in = w + 1;
        assert_int_equal(deflate(&z, Z_NO_FLUSH), Z_OK);
        assert_int_equal(z.avail_in, 0);
    }
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    uint32_t zn = (uint32_t)z.total_out;
    deflateEnd(&z);
    struct {
        const char *type;
        const unsigned char *data;
        uint32_t n;
    } chunks[] = {{"IHDR", ihdr, 13}, {"IDAT", idat, zn}, {"IEND", NULL, 0}};
    for (size_t i = 0; i < 3; i++) {
        uint32_t n = chunks[i].n;
        unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                                (unsigned char)(n >> 8), (unsigned char)n};
        fc_put(&b, len, 4);
        fc_put(&b, chunks[i].type, 4);
        if (n)
            fc_put(&b, chunks[i].data, n);
        uLong crc = crc32(0, (const Bytef *)chunks[i].type, 4);
        if (n)
            crc = crc32(crc, chunks[i].data, n);
        unsigned char c[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                              (unsigned char)(crc >> 8), (unsigned char)crc};
        fc_put(&b, c, 4);
    }
    return b;
}

/* ---- what a client sees ---- */

struct seen {
    int w, h;
    double r, g, b; /* the pixel in the middle */
};

static struct seen decode(const struct it_resp *r)
{
    VipsImage *im = vips_image_new_from_buffer(r->body, r->body_len, "", NULL);
    if (!im)
        fail_msg("the answer does not decode: %s", vips_error_buffer());
    struct seen s = {vips_image_get_width(im), vips_image_get_page_height(im), 0, 0, 0};
    double *px;
    int n;
    assert_int_equal(vips_getpoint(im, &px, &n, s.w / 2, s.h / 2, NULL), 0);
    s.r = px[0];
    s.g = n > 1 ? px[1] : px[0];
    s.b = n > 2 ? px[2] : px[0];
    g_free(px);
    g_object_unref(im);
    return s;
}

static bool reddish(struct seen s)
{
    return s.r > 150 && s.b < 100 && s.g < 100;
}

static bool bluish(struct seen s)
{
    return s.b > 150 && s.r < 100 && s.g < 100;
}

/* Does body start like format suffix? */
static bool looks_like(const struct it_resp *r, const char *suffix)
{
    const unsigned char *p = (const unsigned char *)r->body;
    if (r->body_len < 12)
        return false;
    if (strcmp(suffix, ".jpg") == 0)
        return p[0] == 0xff && p[1] == 0xd8;
    if (strcmp(suffix, ".png") == 0)
        return memcmp(p, "\x89PNG", 4) == 0;
    if (strcmp(suffix, ".gif") == 0)
        return memcmp(p, "GIF8", 4) == 0;
    return memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0;
}

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    if (VIPS_INIT("test_thumbs"))
        return -1;
    vips_concurrency_set(1);
    vips_cache_set_max(0);
    const char *asan = getenv("ASAN_OPTIONS");
    setenv("ASAN_OPTIONS",
           it_sprintf("%s%squarantine_size_mb=4", asan ? asan : "", asan && *asan ? ":" : ""), 1);
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-all", "off", "--log-level",
                    "debug", "--thumb-max-pixels", it_sprintf("%d", MAX_PIXELS), NULL);
    if (!srv)
        return -1;
    ac_superuser(srv, "root@example.com", "root password");
    struct it_conn *c = it_conn_open(srv);
    if (!c)
        return -1;
    const char *tsu = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    struct rc_resp *r = ac_req(c, "GET", "/api/collections/pics", tsu, NULL);
    if (r->status != 200)
        return -1;
    snprintf(cid, sizeof(cid), "%s", rc_str(r->json, "id"));
    it_conn_close(c);
    return 0;
}

static int group_teardown(void **state)
{
    int rc = it_group_teardown(state);
    vips_shutdown();
    return rc;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

/* ---- the tests ---- */

/* Each format, each size form: dimensions, format and the part kept. */
static void test_each_format_and_size(void **state)
{
    (void)state;
    VipsImage *im = two_halves(300, 400);
    const char *suffixes[] = {".jpg", ".png", ".gif", ".webp"};
    struct fc_body gif = animated_gif();
    for (size_t k = 0; k < 4; k++) {
        const char *sfx = suffixes[k];
        struct fc_body data = k == 2 ? gif : encode(im, sfx);
        const cJSON *rec = upload(NULL, it_sprintf("photo%s", sfx), data.p, data.n);
        const char *id = rc_str(rec, "id"), *name = rc_str(rec, "img");
        struct it_resp *orig = get_on(conn, it_sprintf("/api/files/pics/%s/%s", id, name), "");
        assert_int_equal(orig->status, 200);
        const char *ctype = it_strdup(it_resp_header(orig, "Content-Type"));
        static const struct {
            const char *size;
            int w, h;
            char part; /* r: red in the middle, b: blue, 0: not checked */
        } want[] = {
            {"100x100", 100, 100, 0},  /* the default, listed or not */
            {"50x50", 50, 50, 0},      /* fill and crop from the centre */
            {"50x50t", 50, 50, 'r'},   /* ... from the top: the middle row is red */
            {"50x50b", 50, 50, 'b'},   /* ... from the bottom: blue */
            {"60x40f", 30, 40, 0},     /* fit inside */
            {"600x600f", 300, 400, 0}, /* fit never enlarges */
            {"0x100", 75, 100, 0},     /* the height, aspect kept */
            {"150x0", 150, 200, 0},    /* the width, aspect kept (enlarging) */
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            struct it_resp *r = get_thumb(id, name, want[i].size);
            assert_int_equal(r->status, 200);
            if (!looks_like(r, sfx))
                fail_msg("%s ?thumb=%s: not a %s", name, want[i].size, sfx);
            assert_string_equal(it_resp_header(r, "Content-Type"), ctype);
            struct seen s = decode(r);
            if (s.w != want[i].w || s.h != want[i].h)
                fail_msg("%s ?thumb=%s: %dx%d, want %dx%d", name, want[i].size, s.w, s.h, want[i].w,
                         want[i].h);
            if ((want[i].part == 'r' && !reddish(s)) || (want[i].part == 'b' && !bluish(s)))
                fail_msg("%s ?thumb=%s: middle pixel %.0f,%.0f,%.0f", name, want[i].size, s.r, s.g,
                         s.b);
            assert_true(
                exists(it_sprintf("%s/thumbs_%s/%s_%s", rec_dir(id), name, want[i].size, name)));
        }
        /* the gif's thumb is of its first frame (the second is green) */
        struct seen s = decode(get_thumb(id, name, "0x100"));
        assert_false(s.g > 150 && s.r < 100);
    }
    g_object_unref(im);
}

/* Whatever gets no thumb is the original, byte for byte. */
static void test_other_sizes_and_files_serve_the_original(void **state)
{
    (void)state;
    VipsImage *im = two_halves(120, 80);
    struct fc_body png = encode(im, ".png");
    g_object_unref(im);
    const cJSON *rec = upload(NULL, "small.png", png.p, png.n);
    const char *id = rc_str(rec, "id"), *name = rc_str(rec, "img");
    const char *sizes[] = {"20x20", "50x50x", "0x0", "abc", "50X50", "-5x5", "50x50%20", ""};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct it_resp *r = get_thumb(id, name, sizes[i]);
        assert_int_equal(r->status, 200);
        if (r->body_len != png.n || memcmp(r->body, png.p, png.n) != 0)
            fail_msg("?thumb=%s: not the original", sizes[i]);
    }
    assert_false(exists(it_sprintf("%s/thumbs_%s", rec_dir(id), name)));
    /* not an image: a text file */
    rec = upload(NULL, "notes.txt", "just some text\n", 15);
    id = rc_str(rec, "id");
    name = rc_str(rec, "img");
    struct it_resp *r = get_thumb(id, name, "100x100");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, 15);
    assert_memory_equal(r->body, "just some text\n", 15);
    assert_false(exists(it_sprintf("%s/thumbs_%s", rec_dir(id), name)));
    /* an image over --thumb-max-pixels (2000 x 1001) */
    im = two_halves(2000, 1001);
    struct fc_body big = encode(im, ".jpg");
    g_object_unref(im);
    rec = upload(NULL, "big.jpg", big.p, big.n);
    id = rc_str(rec, "id");
    name = rc_str(rec, "img");
    r = get_thumb(id, name, "100x100");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, big.n);
    assert_memory_equal(r->body, big.p, big.n);
}

/* A PNG declaring 30000 x 30000 (900 M pixels, 2.5 GiB decoded) is
 * served as it is, at once, without the server's memory growing. */
static void test_decompression_bomb_costs_nothing(void **state)
{
    (void)state;
    struct fc_body bomb = bomb_png(30000, 30000);
    assert_true(bomb.n < 2u << 20);
    /* deflating 900 MB takes seconds (many on a loaded machine): a connection
     * opened before it would have passed the server's --head-timeout for its
     * first request, so the upload gets a fresh one */
    it_conn_close(conn);
    conn = it_conn_open_or_fail(srv);
    const cJSON *rec = upload(NULL, "bomb.png", bomb.p, bomb.n);
    const char *id = rc_str(rec, "id"), *name = rc_str(rec, "img");
    /* the peak so far is forgotten (clear_refs 5 resets VmHWM) */
    int fd = open(it_sprintf("/proc/%d/clear_refs", (int)srv->pid), O_WRONLY);
    bool reset = fd >= 0 && write(fd, "5", 1) == 1;
    if (fd >= 0)
        close(fd);
    long before = it_server_mem_kib(srv, 1);
    int64_t t0 = it_now_ms();
    struct it_resp *r = get_thumb(id, name, "100x100");
    int64_t ms = it_now_ms() - t0;
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, bomb.n);
    assert_memory_equal(r->body, bomb.p, bomb.n);
    long after = it_server_mem_kib(srv, 1);
    it_note("bomb: answered in %lld ms; server VmHWM %ld KiB before, %ld after (reset: %d)",
            (long long)ms, before, after, reset);
    assert_true(ms < 10000); /* decoding it would take minutes and 2.5 GiB */
    assert_false(exists(it_sprintf("%s/thumbs_%s/100x100_%s", rec_dir(id), name, name)));
    if (getenv("SH_SANITIZE") && strstr(getenv("SH_SANITIZE"), "thread"))
        return;
    assert_true(after - before < 32 * 1024);
}

/* Made once, kept: a second request serves the file on disk; ETag, 304
 * and Range work on it. */
static void test_cached_with_etag_and_range(void **state)
{
    (void)state;
    VipsImage *im = two_halves(300, 400);
    struct fc_body jpg = encode(im, ".jpg");
    g_object_unref(im);
    const cJSON *rec = upload(NULL, "cached.jpg", jpg.p, jpg.n);
    const char *id = rc_str(rec, "id"), *name = rc_str(rec, "img");
    struct it_resp *r1 = get_thumb(id, name, "50x50");
    assert_int_equal(r1->status, 200);
    char *path = it_sprintf("%s/thumbs_%s/50x50_%s", rec_dir(id), name, name);
    struct stat st1, st2;
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal((size_t)st1.st_size, r1->body_len);
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    struct it_resp *r2 = get_thumb(id, name, "50x50");
    assert_int_equal(r2->status, 200);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);
    assert_int_equal(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
    assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
    assert_int_equal(r1->body_len, r2->body_len);
    assert_memory_equal(r1->body, r2->body, r1->body_len);
    const char *etag = it_resp_header(r2, "ETag");
    assert_non_null(etag);
    const char *orig_etag =
        it_resp_header(get_on(conn, it_sprintf("/api/files/pics/%s/%s", id, name), ""), "ETag");
    assert_string_not_equal(etag, orig_etag);
    const char *url = it_sprintf("/api/files/pics/%s/%s?thumb=50x50", id, name);
    struct it_resp *r = get_on(conn, url, it_sprintf("If-None-Match: %s\r\n", etag));
    assert_int_equal(r->status, 304);
    r = get_on(conn, url, "Range: bytes=2-11\r\n");
    assert_int_equal(r->status, 206);
    assert_int_equal(r->body_len, 10);
    assert_memory_equal(r->body, r1->body + 2, 10);
    /* ?download=1 names the thumb as PocketBase does */
    r = get_on(conn, it_sprintf("%s&download=1", url), "");
    assert_int_equal(r->status, 200);
    assert_string_equal(it_resp_header(r, "Content-Disposition"),
                        it_sprintf("attachment; filename=\"50x50_%s\"", name));
    assert_non_null(strstr(it_resp_header(r, "Content-Security-Policy"), "default-src 'none'"));
    /* made once: one log line for it */
    assert_true(it_server_wait_log(srv, it_sprintf("thumb made: %s", path), 2000));
    assert_int_equal(
        it_log_count(it_server_log(srv), "thumb made:", it_sprintf("50x50_%s", name), NULL), 1);
}

/* Eight clients asking at once for the same missing thumb: one is made,
 * and all eight get it. */
static void test_concurrent_requests_make_it_once(void **state)
{
    (void)state;
    VipsImage *im = two_halves(1600, 1200);
    struct fc_body jpg = encode(im, ".jpg");
    g_object_unref(im);
    const cJSON *rec = upload(NULL, "crowd.jpg", jpg.p, jpg.n);
    const char *id = rc_str(rec, "id"), *name = rc_str(rec, "img");
    enum { N = 8 };
    struct it_conn *c[N];
    const char *req =
        it_sprintf("GET /api/files/pics/%s/%s?thumb=0x100 HTTP/1.1\r\nHost: t\r\n\r\n", id, name);
    for (int i = 0; i < N; i++) {
        c[i] = it_conn_open(srv);
        assert_non_null(c[i]);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(it_conn_sends(c[i], req), IT_OK);
    struct it_resp *first = NULL;
    for (int i = 0; i < N; i++) {
        struct it_resp *r = it_conn_read(c[i], 0, 60000);
        assert_non_null(r);
        assert_int_equal(r->status, 200);
        struct seen s = decode(r);
        assert_int_equal(s.w, 133);
        assert_int_equal(s.h, 100);
        if (!first)
            first = r;
        assert_int_equal(r->body_len, first->body_len);
        assert_memory_equal(r->body, first->body, r->body_len);
    }
    char *path = it_sprintf("%s/thumbs_%s/0x100_%s", rec_dir(id), name, name);
    assert_true(it_server_wait_log(srv, it_sprintf("thumb made: %s", path), 2000));
    assert_int_equal(it_log_count(it_server_log(srv), "thumb made:", path, NULL), 1);
}

/* A replaced file's thumbs go after the commit; so do a deleted record's. */
static void test_thumbs_go_with_their_file(void **state)
{
    (void)state;
    VipsImage *im = two_halves(300, 400);
    struct fc_body png = encode(im, ".png");
    g_object_unref(im);
    const cJSON *rec = upload(NULL, "first.png", png.p, png.n);
    char *id = it_sprintf("%s", rc_str(rec, "id"));
    char *name = it_sprintf("%s", rc_str(rec, "img"));
    assert_int_equal(get_thumb(id, name, "50x50")->status, 200);
    assert_int_equal(get_thumb(id, name, "100x100")->status, 200);
    char *tdir = it_sprintf("%s/thumbs_%s", rec_dir(id), name);
    assert_true(exists(tdir));
    rec = upload(id, "second.png", png.p, png.n); /* replaces first.png */
    char *name2 = it_sprintf("%s", rc_str(rec, "img"));
    assert_string_not_equal(name, name2);
    EVENTUALLY(!exists(tdir));
    EVENTUALLY(!exists(it_sprintf("%s/%s", rec_dir(id), name)));
    assert_int_equal(get_thumb(id, name2, "50x50")->status, 200);
    assert_true(exists(it_sprintf("%s/thumbs_%s", rec_dir(id), name2)));
    struct rc_resp *r =
        rc_req(conn, "DELETE", it_sprintf("/api/collections/pics/records/%s", id), NULL);
    assert_int_equal(r->status, 204);
    EVENTUALLY(!exists(rec_dir(id)));
}

/* At start-up the thumbs of a file no record holds are removed; those of
 * a held file stay. */
static void test_restart_sweeps_stale_thumbs(void **state)
{
    (void)state;
    VipsImage *im = two_halves(300, 400);
    struct fc_body png = encode(im, ".png");
    g_object_unref(im);
    const cJSON *rec = upload(NULL, "kept.png", png.p, png.n);
    char *id = it_sprintf("%s", rc_str(rec, "id"));
    char *name = it_sprintf("%s", rc_str(rec, "img"));
    assert_int_equal(get_thumb(id, name, "50x50")->status, 200);
    char *stale = it_sprintf("%s/thumbs_gone_abcdefghij.png", rec_dir(id));
    assert_int_equal(mkdir(stale, 0755), 0);
    assert_int_equal(it_write_file(it_sprintf("%s/50x50_gone_abcdefghij.png", stale), "x", 1), 0);
    it_conn_close(conn);
    conn = NULL;
    assert_int_equal(it_server_stop(srv, IT_MS_STOP), 0);
    assert_int_equal(it_server_run(srv, (const char *const[]){"--sync", "normal", NULL}), 0);
    assert_false(exists(stale));
    assert_true(exists(it_sprintf("%s/thumbs_%s/50x50_%s", rec_dir(id), name, name)));
}

/* --thumb-workers 1 --thumb-queue 0: of six requests at once for six
 * missing thumbs, the first is made and those that find the worker busy
 * get the original, whole, without waiting for it. */
static void test_busy_workers_serve_the_original(void **state)
{
    (void)state;
    struct it_server *main_srv = srv;
    struct it_conn *main_conn = conn;
    srv = rc_server(rc_q(schema), "--sync", "normal", "--thumb-workers", "1", "--thumb-queue", "0",
                    NULL);
    assert_non_null(srv);
    conn = it_conn_open(srv);
    assert_non_null(conn);
    VipsImage *im = two_halves(3000, 2000);
    struct fc_body jpg = encode(im, ".jpg");
    g_object_unref(im);
    enum { N = 6 };
    struct it_conn *c[N];
    const char *req[N];
    for (int i = 0; i < N; i++) {
        const cJSON *rec = upload(NULL, "busy.jpg", jpg.p, jpg.n);
        req[i] = it_sprintf("GET /api/files/pics/%s/%s?thumb=100x100 HTTP/1.1\r\nHost: t\r\n\r\n",
                            rc_str(rec, "id"), rc_str(rec, "img"));
        c[i] = it_conn_open(srv);
        assert_non_null(c[i]);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(it_conn_sends(c[i], req[i]), IT_OK);
    int thumbs = 0, originals = 0;
    for (int i = 0; i < N; i++) {
        struct it_resp *r = it_conn_read(c[i], 0, 60000);
        assert_non_null(r);
        assert_int_equal(r->status, 200);
        if (r->body_len == jpg.n && memcmp(r->body, jpg.p, jpg.n) == 0) {
            originals++;
        } else {
            struct seen s = decode(r);
            assert_int_equal(s.w, 100);
            assert_int_equal(s.h, 100);
            thumbs++;
        }
    }
    it_note("busy: %d thumbs, %d originals", thumbs, originals);
    assert_true(thumbs >= 1);
    assert_true(originals >= 1);
    srv = main_srv;
    conn = main_conn;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_each_format_and_size, open_conn),
        it_test_each(test_other_sizes_and_files_serve_the_original, open_conn),
        it_test_each(test_decompression_bomb_costs_nothing, open_conn),
        it_test_each(test_cached_with_etag_and_range, open_conn),
        it_test_each(test_concurrent_requests_make_it_once, open_conn),
        it_test_each(test_thumbs_go_with_their_file, open_conn),
        it_test_each(test_busy_workers_serve_the_original, open_conn),
        it_test_each(test_restart_sweeps_stale_thumbs, open_conn), /* restarts: last */
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
