/*
 * Thumbnails of stored images, as PocketBase makes them for `?thumb=`:
 * the size forms (WxH crops from the centre, WxHt from the top, WxHb from
 * the bottom, WxHf fits inside without enlarging, Wx0 and 0xH keep the
 * aspect), which types get one (jpg, png, gif's first frame, webp), where
 * one is kept (<record folder>/thumbs_<name>/<size>_<name>, as PocketBase)
 * and how it is made with libvips on a threadpool thread. The scheduling
 * (a cap, a queue, one maker per thumb) is thumb_pool.c's.
 *
 * A decompression bomb costs nothing: the header alone is read first
 * (libvips opens lazily), and an image or a thumb whose width x height is
 * over --thumb-max-pixels is refused before any pixel is decoded. libvips
 * is initialised once, with one thread per operation and no operation
 * cache (so nothing is kept between thumbs). A thumb is written under a
 * temporary name, fsynced and renamed, so a reader never sees part of one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "records_int.h"

#define THUMB_SIDE_MAX 100000u /* a side in a size; the pixel limit is the real bound */

bool sh__thumb_size_parse(const char *s, struct sh__thumb_size *out)
{
    unsigned v[2] = {0, 0};
    const char *p = s;
    for (int k = 0; k < 2; k++) {
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9') {
            v[k] = v[k] * 10 + (unsigned)(*p++ - '0');
            if (v[k] > THUMB_SIDE_MAX)
                return false;
        }
        if (k == 0 && *p++ != 'x')
            return false;
    }
    char mode = 0;
    if (*p == 't' || *p == 'b' || *p == 'f')
        mode = *p++;
    if (*p || (v[0] == 0 && v[1] == 0))
        return false;
    *out = (struct sh__thumb_size){v[0], v[1], mode};
    return true;
}

bool sh__thumb_type_ok(const char *ctype)
{
    static const char *const types[] = {"image/png", "image/jpeg", "image/jpg", "image/gif",
                                        "image/webp"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(ctype, types[i]) == 0)
            return true;
    return false;
}

bool sh__thumb_listed(const struct sh_field *f, const char *size)
{
    if (strcmp(size, "100x100") == 0)
        return true;
    for (size_t i = 0; i < f->nthumbs; i++)
        if (strcmp(f->thumbs[i], size) == 0)
            return true;
    return false;
}

char *sh__thumb_path(const char *rdir, const char *name, const char *size)
{
    size_t n = strlen(rdir) + 2 * strlen(name) + strlen(size) + 16;
    char *p = sh_malloc(n);
    snprintf(p, n, "%s/thumbs_%s/%s_%s", rdir, name, size, name);
    return p;
}

/* The first n bytes of s (malloc'd). */
static char *dup_n(const char *s, size_t n)
{
    char *p = sh_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* ---- removal (threadpool) ---- */

void sh__thumbs_rmdir_at(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    (void)unlinkat(dfd, name, AT_REMOVEDIR);
}

void sh__thumbs_remove_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    if (!slash || !slash[1])
        return;
    char *dir = dup_n(file, (size_t)(slash - file));
    char *name = sh_malloc(strlen(slash + 1) + 8);
    sprintf(name, "thumbs_%s", slash + 1);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        sh__thumbs_rmdir_at(dfd, name);
        close(dfd);
    }
    free(name);
    free(dir);
}

/* ---- making (threadpool) ---- */

static uv_once_t vips_once = UV_ONCE_INIT;
static bool vips_ready;

static void vips_start(void)
{
    if (VIPS_INIT("stagehand") != 0)
        return;
    vips_concurrency_set(1); /* the cap is ours: one thread per thumb */
    vips_cache_set_max(0);   /* nothing kept between thumbs */
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    vips_ready = true;
}

/* x * num / den rounded to the nearest, at least 1. */
static unsigned scaled(unsigned x, unsigned num, unsigned den)
{
    uint64_t v = ((uint64_t)x * num * 2 + den) / ((uint64_t)den * 2);
    return v < 1 ? 1 : v > THUMB_SIDE_MAX * 10u ? THUMB_SIDE_MAX * 10u : (unsigned)v;
}

/* The plan for an image of w x h: resize to rw x rh (aspect as the mode
 * says), then keep cw x ch from (cx, cy). */
struct plan {
    unsigned rw, rh, cx, cy, cw, ch;
};

static struct plan plan_of(unsigned w, unsigned h, const struct sh__thumb_size *s)
{
    struct plan p = {0};
    if (s->w == 0 || s->h == 0) { /* one side given: the aspect kept (may enlarge) */
        p.rw = s->w ? s->w : scaled(w, s->h, h);
        p.rh = s->h ? s->h : scaled(h, s->w, w);
    } else if (s->mode == 'f') { /* fit inside, never enlarged */
        if (w <= s->w && h <= s->h) {
            p.rw = w;
            p.rh = h;
        } else if ((uint64_t)w * s->h > (uint64_t)h * s->w) { /* wider than the box */
            p.rw = s->w;
            p.rh = scaled(h, s->w, w);
        } else {
            p.rh = s->h;
            p.rw = scaled(w, s->h, h);
        }
    } else {                                           /* fill the box, then crop at the anchor */
        if ((uint64_t)w * s->h < (uint64_t)h * s->w) { /* taller than the box */
            p.rw = s->w;
            p.rh = scaled(h, s->w, w);
        } else {
            p.rh = s->h;
            p.rw = scaled(w, s->h, h);
        }
        if (p.rw < s->w)
            p.rw = s->w;
        if (p.rh < s->h)
            p.rh = s->h;
        p.cw = s->w;
        p.ch = s->h;
        p.cx = (p.rw - s->w) / 2;
        p.cy = s->mode == 't' ? 0 : s->mode == 'b' ? p.rh - s->h : (p.rh - s->h) / 2;
        return p;
    }
    p.cw = p.rw;
    p.ch = p.rh;
    return p;
}

/* Makes the directory of path (one level: the record's folder must exist). */
static int mkdir_of(const char *path)
{
    char *dir = dup_n(path, (size_t)(strrchr(path, '/') - path));
    int rc = mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : -errno;
    free(dir);
    return rc;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int write_thumb(const char *src, const char *dst, const struct sh__thumb_size *s,
                       uint64_t max_pixels)
{
    /* the header only: libvips decodes nothing until pixels are asked for */
    VipsImage *head = vips_image_new_from_file(src, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!head)
        return SH_EINVAL;
    unsigned w = (unsigned)vips_image_get_width(head);
    unsigned h = (unsigned)vips_image_get_page_height(head); /* a gif's first frame */
    bool swap = vips_image_get_orientation_swap(head);       /* EXIF 5..8: turned upright */
    g_object_unref(head);
    if (swap) {
        unsigned t = w;
        w = h;
        h = t;
    }
    if (w == 0 || h == 0 || (uint64_t)w * h > max_pixels)
        return SH_ETOOBIG;
    struct plan p = plan_of(w, h, s);
    if ((uint64_t)p.rw * p.rh > max_pixels)
        return SH_ETOOBIG;

    VipsImage *resized = NULL, *out = NULL;
    if (vips_thumbnail(src, &resized, (int)p.rw, "height", (int)p.rh, "size", VIPS_SIZE_FORCE,
                       "fail_on", VIPS_FAIL_ON_ERROR, NULL))
        return SH_EINVAL;
    int rc = 0;
    if (p.cw != p.rw || p.ch != p.rh) {
        rc = vips_extract_area(resized, &out, (int)p.cx, (int)p.cy, (int)p.cw, (int)p.ch, NULL);
        g_object_unref(resized);
        if (rc)
            return SH_EINVAL;
    } else {
        out = resized;
    }
    rc = mkdir_of(dst);
    /* the temporary name keeps the suffix (it picks the format) and holds
     * the pid (instances of a group share the folder) */
    const char *slash = strrchr(dst, '/');
    size_t n = strlen(dst) + 32;
    char *tmp = sh_malloc(n);
    snprintf(tmp, n, "%.*s/.tmp%ld_%s", (int)(slash - dst), dst, (long)getpid(), slash + 1);
    if (rc == 0 && vips_image_write_to_file(out, tmp, "strip", TRUE, NULL))
        rc = SH_EINVAL;
    g_object_unref(out);
    if (rc == 0)
        rc = fsync_path(tmp);
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = -errno;
    if (rc)
        (void)unlink(tmp);
    free(tmp);
    return rc;
}

int sh__thumb_make(const char *src, const char *dst, const struct sh__thumb_size *s,
                   uint64_t max_pixels)
{
    uv_once(&vips_once, vips_start);
    if (!vips_ready)
        return SH_EINTERNAL;
    int rc = write_thumb(src, dst, s, max_pixels);
    vips_error_clear();
    vips_thread_shutdown(); /* this thread's buffers go now: it serves other work */
    return rc;
}
