/*
 * GET /api/backups/{key}?token=: the archive, for a superuser's file token
 * (POST /api/files/token; a download link cannot carry Authorization). The
 * file is opened, sized and read through libuv's threadpool in 64 KiB
 * pieces, each sent when the connection's queue is below its limit, so the
 * loop never blocks on the disk and a slow client holds at most one piece.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth_int.h"
#include "ops_int.h"

#define READ_SIZE 65536

struct dl {
    uv_fs_t fs;
    uv_loop_t *loop;
    struct sh_req_watch watch;
    uv_file fd;
    uint64_t size, off;
    char buf[READ_SIZE];
};

static void dl_free(struct dl *d)
{
    sh_req_unwatch(&d->watch);
    free(d);
}

static void on_closed(uv_fs_t *fs)
{
    struct dl *d = fs->data;
    uv_fs_req_cleanup(fs);
    dl_free(d);
}

static void dl_finish(struct dl *d)
{
    if (d->fd >= 0) {
        uv_file fd = d->fd;
        d->fd = -1;
        d->fs.data = d;
        if (uv_fs_close(d->loop, &d->fs, fd, on_closed) == 0)
            return;
    }
    dl_free(d);
}

static void read_next(struct dl *d);

static void on_drained(void *arg)
{
    read_next(arg);
}

static void on_read(uv_fs_t *fs)
{
    struct dl *d = fs->data;
    ssize_t n = fs->result;
    uv_fs_req_cleanup(fs);
    struct sh_req *r = d->watch.req;
    if (!r) {
        dl_finish(d);
        return;
    }
    if (n <= 0) { /* deleted or truncated under us: the promised length cannot come */
        sh_res_stream_abort(r);
        dl_finish(d);
        return;
    }
    if ((uint64_t)n > d->size - d->off)
        n = (ssize_t)(d->size - d->off);
    sh_res_stream_write(r, d->buf, (size_t)n);
    d->off += (uint64_t)n;
    if (d->off >= d->size) {
        sh_res_stream_end(r);
        dl_finish(d);
        return;
    }
    if (sh_res_stream_queued(r) > sh_res_stream_limit(r))
        sh_res_stream_on_drained(r, on_drained, d);
    else
        read_next(d);
}

static void read_next(struct dl *d)
{
    if (!d->watch.req) {
        dl_finish(d);
        return;
    }
    uint64_t left = d->size - d->off;
    uv_buf_t b = uv_buf_init(d->buf, (unsigned)(left < READ_SIZE ? left : READ_SIZE));
    d->fs.data = d;
    if (uv_fs_read(d->loop, &d->fs, d->fd, &b, 1, (int64_t)d->off, on_read) != 0) {
        sh_res_stream_abort(d->watch.req);
        dl_finish(d);
    }
}

static void on_stat(uv_fs_t *fs)
{
    struct dl *d = fs->data;
    int ok = fs->result == 0 && S_ISREG(fs->statbuf.st_mode);
    d->size = fs->statbuf.st_size;
    uv_fs_req_cleanup(fs);
    struct sh_req *r = d->watch.req;
    if (!r || !ok) {
        if (r)
            sh__api_error(r, 404, "Missing or invalid backup file.", NULL);
        dl_finish(d);
        return;
    }
    sh_res_header(r, "Content-Disposition", "attachment");
    sh_res_stream_start(r, 200, "application/zip", d->size);
    if (d->size == 0 || r->method == SH_METHOD_HEAD) {
        sh_res_stream_end(r);
        dl_finish(d);
        return;
    }
    read_next(d);
}

static void on_open(uv_fs_t *fs)
{
    struct dl *d = fs->data;
    int fd = (int)fs->result;
    uv_fs_req_cleanup(fs);
    struct sh_req *r = d->watch.req;
    if (fd < 0 || !r) {
        if (fd >= 0)
            d->fd = fd;
        else if (r)
            sh__api_error(r, 404, "Missing or invalid backup file.", NULL);
        dl_finish(d);
        return;
    }
    d->fd = fd;
    d->fs.data = d;
    if (uv_fs_fstat(d->loop, &d->fs, fd, on_stat) != 0) {
        sh__api_fail(r, SH_EINTERNAL);
        dl_finish(d);
    }
}

int sh__ops_backup_download(struct sh_req *r, void *ud)
{
    struct sh_api_backups *b = ud;
    const char *tok = sh_req_query(r, "token");
    struct sh__file_token_owner who;
    int rc = sh__auth_file_token_check(b->auth, tok, tok ? strlen(tok) : 0, &who);
    if (rc == SH_EFORBIDDEN || (rc == 0 && !who.superuser)) {
        sh__api_error(r, 403, "Insufficient permissions to access the resource.", NULL);
        return SH_HANDLED;
    }
    if (rc) {
        sh__api_fail(r, rc);
        return SH_HANDLED;
    }
    const struct sh_str *p = sh_req_param(r, "key");
    char *key = p ? sh_arena_strndup(r->arena, p->ptr, p->len) : NULL;
    char path[4096];
    if (!key || !sh_backup_key_valid(key) || sh_backup_path(b->dir, key, path, sizeof(path))) {
        sh__api_error(r, 404, "Missing or invalid backup file.", NULL);
        return SH_HANDLED;
    }
    struct dl *d = sh_calloc(1, sizeof(*d));
    d->loop = b->loop;
    d->fd = -1;
    d->fs.data = d;
    sh_req_watch(r, &d->watch);
    if (uv_fs_open(b->loop, &d->fs, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0, on_open) != 0) {
        sh__api_fail(r, SH_EINTERNAL);
        dl_free(d);
    }
    return SH_HANDLED;
}
