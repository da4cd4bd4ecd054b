/*
 * Static files. Each request runs a small chain of libuv fs calls on the
 * threadpool (realpath, open, fstat, read...) so the loop never waits for the
 * disk; the body streams in 64 KiB pieces, pausing while the client's queue
 * is full. The job lives on the heap and learns through a request watch
 * whether its client is still there before touching the request.
 */
#include "stagehand/static.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define READ_SIZE (64 * 1024)

struct job {
    uv_fs_t fs;
    struct sh_static *st; /* NULL for sh_static_send_file */
    uv_loop_t *loop;
    char *ctype; /* sh_static_send_file's Content-Type (heap); NULL: by extension */
    struct sh_req_watch watch;
    char *path; /* what is being resolved (heap) */
    int tried_index;
    uv_file fd;
    uint64_t size, off;
    char buf[READ_SIZE];
};

int sh_static_path_safe(const char *path, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (path[i] == 0 || path[i] == '\\')
            return 0;
        if (path[i] == '/') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && path[i] != '/') {
            if (path[i] == 0 || path[i] == '\\')
                return 0;
            i++;
        }
        /* Any segment starting with a dot: ".", "..", and hidden files and
         * folders (.env, .git/config, a/.htpasswd). Only /.well-known/ at
         * the root is served (RFC 8615). */
        size_t n = i - start;
        if (path[start] == '.' &&
            !(start == 1 && n == 11 && memcmp(path + start, ".well-known", 11) == 0))
            return 0;
    }
    return 1;
}

const char *sh_static_mime(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"ico", "image/x-icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
        {"zip", "application/zip"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"mp3", "audio/mpeg"},
        {"ogg", "audio/ogg"},
        {"wav", "audio/wav"},
        {"csv", "text/csv; charset=utf-8"},
        {"webmanifest", "application/manifest+json"},
    };
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot) {
        for (size_t i = 0; i < SH_ARRAY_LEN(types); i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    }
    return "application/octet-stream";
}

int sh_static_init(struct sh_static *s, uv_loop_t *loop, const char *dir)
{
    memset(s, 0, sizeof(*s));
    char *real = realpath(dir, NULL); /* once, at start-up, before the loop runs */
    struct stat sb;
    if (!real)
        return SH_ENOTFOUND;
    if (stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        free(real);
        return SH_EINVAL;
    }
    s->loop = loop;
    s->root = real;
    s->root_len = strlen(real);
    while (s->root_len > 1 && s->root[s->root_len - 1] == '/')
        s->root[--s->root_len] = 0;
    return 0;
}

void sh_static_deinit(struct sh_static *s)
{
    free(s->root);
    memset(s, 0, sizeof(*s));
}

static void job_free(struct job *j)
{
    sh_req_unwatch(&j->watch);
    free(j->path);
    free(j->ctype);
    free(j);
}

static void on_closed(uv_fs_t *fs)
{
    struct job *j = fs->data;
    uv_fs_req_cleanup(fs);
    job_free(j);
}

/* Closes the file (if open), then frees the job. */
static void job_finish(struct job *j)
{
    if (j->fd >= 0) {
        uv_file fd = j->fd;
        j->fd = -1;
        if (uv_fs_close(j->loop, &j->fs, fd, on_closed) == 0)
            return;
    }
    job_free(j);
}

static void not_found(struct job *j)
{
    if (j->watch.req)
        sh_res_error(j->watch.req, 404, "The requested resource wasn't found.", NULL);
    job_finish(j);
}

static void resolve(struct job *j);
static void read_next(struct job *j);

static void on_drained(void *arg)
{
    read_next(arg);
}

static void on_read(uv_fs_t *fs)
{
    struct job *j = fs->data;
    ssize_t n = fs->result;
    uv_fs_req_cleanup(fs);
    struct sh_req *r = j->watch.req;
    if (!r) {
        job_finish(j);
        return;
    }
    if (n <= 0) { /* the file shrank or failed under us */
        sh_res_stream_abort(r);
        job_finish(j);
        return;
    }
    if ((uint64_t)n > j->size - j->off)
        n = (ssize_t)(j->size - j->off);
    sh_res_stream_write(r, j->buf, (size_t)n);
    j->off += (uint64_t)n;
    if (j->off >= j->size) {
        sh_res_stream_end(r);
        job_finish(j);
        return;
    }
    if (sh_res_stream_queued(r) > sh_res_stream_limit(r))
        sh_res_stream_on_drained(r, on_drained, j);
    else
        read_next(j);
}

static void read_next(struct job *j)
{
    if (!j->watch.req) {
        job_finish(j);
        return;
    }
    uint64_t left = j->size - j->off;
    uv_buf_t b = uv_buf_init(j->buf, (unsigned)(left < READ_SIZE ? left : READ_SIZE));
    j->fs.data = j;
    if (uv_fs_read(j->loop, &j->fs, j->fd, &b, 1, (int64_t)j->off, on_read) != 0) {
        sh_res_stream_abort(j->watch.req);
        job_finish(j);
    }
}

static int etag_matches(const struct sh_str *inm, const char *etag)
{
    /* If-None-Match: a list of entity tags, or "*"; weak comparison. */
    size_t el = strlen(etag);
    const char *p = inm->ptr, *end = inm->ptr + inm->len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p < end && *p == '*')
            return 1;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2;
        if ((size_t)(end - p) >= el && memcmp(p, etag, el) == 0)
            return 1;
        while (p < end && *p != ',')
            p++;
    }
    return 0;
}

/* A Range header of one byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`)
 * against a file of size bytes: 1 with [*from, *to] (inclusive), 0 when it
 * is to be ignored (malformed, several ranges: the whole file is sent, as
 * RFC 9110 allows), -1 when unsatisfiable (416). */
static int parse_range(const struct sh_str *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    const char *p = h->ptr, *end = h->ptr + h->len;
    if (h->len < 7 || strncasecmp(p, "bytes=", 6) != 0 || memchr(p, ',', h->len))
        return 0;
    p += 6;
    uint64_t a = 0, b = 0;
    bool has_a = false, has_b = false;
    for (; p < end && *p >= '0' && *p <= '9'; p++, has_a = true) {
        if (a > (UINT64_MAX - 9) / 10)
            return 0;
        a = a * 10 + (uint64_t)(*p - '0');
    }
    if (p == end || *p++ != '-')
        return 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, has_b = true) {
        if (b > (UINT64_MAX - 9) / 10)
            return 0;
        b = b * 10 + (uint64_t)(*p - '0');
    }
    if (p != end || (!has_a && !has_b))
        return 0;
    if (!has_a) { /* the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return 1;
    }
    if (has_b && b < a)
        return 0;
    if (a >= size)
        return -1;
    *from = a;
    *to = has_b && b < size ? b : size - 1;
    return 1;
}

static void on_dir_closed(uv_fs_t *fs)
{
    struct job *j = fs->data;
    uv_fs_req_cleanup(fs);
    if (!j->watch.req) {
        job_free(j);
        return;
    }
    resolve(j);
}

static void on_stat(uv_fs_t *fs)
{
    struct job *j = fs->data;
    int rc = (int)fs->result;
    uv_stat_t sb = fs->statbuf;
    uv_fs_req_cleanup(fs);
    struct sh_req *r = j->watch.req;
    if (!r || rc < 0) {
        not_found(j);
        return;
    }
    if ((sb.st_mode & S_IFMT) == S_IFDIR && !j->tried_index) {
        /* A folder: serve its index.html. */
        size_t n = strlen(j->path);
        char *p = sh_malloc(n + sizeof("/index.html"));
        memcpy(p, j->path, n);
        memcpy(p + n, "/index.html", sizeof("/index.html"));
        free(j->path);
        j->path = p;
        j->tried_index = 1;
        uv_file fd = j->fd;
        j->fd = -1;
        j->fs.data = j;
        if (uv_fs_close(j->loop, &j->fs, fd, on_dir_closed) != 0)
            not_found(j);
        return;
    }
    if ((sb.st_mode & S_IFMT) != S_IFREG) {
        not_found(j);
        return;
    }
    char etag[64], lm[32];
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)sb.st_size,
             (unsigned long long)sb.st_mtim.tv_sec * 1000000000ull + sb.st_mtim.tv_nsec);
    sh_date_format_http((time_t)sb.st_mtim.tv_sec, lm);
    sh_res_header(r, "ETag", etag);
    sh_res_header(r, "Last-Modified", lm);
    sh_res_header(r, "Cache-Control", "no-cache");
    const struct sh_str *inm = sh_req_header(r, "If-None-Match");
    const struct sh_str *ims = sh_req_header(r, "If-Modified-Since");
    int fresh = 0;
    if (inm)
        fresh = etag_matches(inm, etag);
    else if (ims) {
        time_t t = sh_date_parse_http(ims->ptr, ims->len);
        fresh = t >= 0 && t >= (time_t)sb.st_mtim.tv_sec;
    }
    if (fresh) {
        sh_res_send(r, 304, NULL, NULL, 0);
        job_finish(j);
        return;
    }
    j->size = sb.st_size;
    j->off = 0;
    /* Range, unless If-Range names another version */
    const struct sh_str *range = sh_req_header(r, "Range");
    const struct sh_str *ifr = sh_req_header(r, "If-Range");
    if (range && ifr && !(ifr->len == strlen(etag) && memcmp(ifr->ptr, etag, ifr->len) == 0))
        range = NULL;
    uint64_t from = 0, to = 0;
    int ranged = range && r->method == SH_METHOD_GET ? parse_range(range, j->size, &from, &to) : 0;
    sh_res_header(r, "Accept-Ranges", "bytes");
    if (ranged < 0) {
        char cr[48];
        snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)j->size);
        sh_res_header(r, "Content-Range", cr);
        sh_res_error(r, 416, "The requested range is not satisfiable.", NULL);
        job_finish(j);
        return;
    }
    const char *ctype = j->ctype ? j->ctype : sh_static_mime(j->path);
    if (ranged > 0) {
        char cr[80];
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)from,
                 (unsigned long long)to, (unsigned long long)j->size);
        sh_res_header(r, "Content-Range", cr);
        j->off = from;
        j->size = to + 1; /* read_next stops at size */
        sh_res_stream_start(r, 206, ctype, to - from + 1);
        read_next(j);
        return;
    }
    sh_res_stream_start(r, 200, ctype, j->size);
    if (j->size == 0 || r->method == SH_METHOD_HEAD) {
        sh_res_stream_end(r);
        job_finish(j);
        return;
    }
    read_next(j);
}

static void on_open(uv_fs_t *fs)
{
    struct job *j = fs->data;
    int fd = (int)fs->result;
    uv_fs_req_cleanup(fs);
    if (fd < 0) {
        not_found(j);
        return;
    }
    j->fd = fd;
    if (!j->watch.req) {
        job_finish(j);
        return;
    }
    j->fs.data = j;
    if (uv_fs_fstat(j->loop, &j->fs, fd, on_stat) != 0)
        not_found(j);
}

static void on_realpath(uv_fs_t *fs)
{
    struct job *j = fs->data;
    const char *real = fs->result == 0 ? fs->ptr : NULL;
    struct sh_static *st = j->st;
    /* The resolved path must stay inside the root: a symlink out is refused. */
    int inside = real && strncmp(real, st->root, st->root_len) == 0 &&
                 (real[st->root_len] == '/' || real[st->root_len] == 0);
    /* A symlink with an ordinary name must not lead to a hidden file either. */
    if (inside && !sh_static_path_safe(real + st->root_len, strlen(real + st->root_len)))
        inside = 0;
    char *copy = inside ? sh_strdup(real) : NULL;
    uv_fs_req_cleanup(fs);
    if (!inside || !j->watch.req) {
        free(copy);
        not_found(j);
        return;
    }
    free(j->path);
    j->path = copy;
    j->fs.data = j;
    if (uv_fs_open(st->loop, &j->fs, j->path, O_RDONLY | O_CLOEXEC, 0, on_open) != 0)
        not_found(j);
}

static void resolve(struct job *j)
{
    j->fs.data = j;
    if (uv_fs_realpath(j->loop, &j->fs, j->path, on_realpath) != 0)
        not_found(j);
}

int sh_static_handle(struct sh_req *r, void *ud)
{
    struct sh_static *st = ud;
    if (r->method != SH_METHOD_GET && r->method != SH_METHOD_HEAD)
        return SH_PASS;
    if (r->path.len >= 4 && memcmp(r->path.ptr, "/api", 4) == 0 &&
        (r->path.len == 4 || r->path.ptr[4] == '/'))
        return SH_PASS;
    if (!sh_static_path_safe(r->path.ptr, r->path.len) || r->path.len > 4096)
        return SH_PASS;
    struct job *j = sh_calloc(1, sizeof(*j));
    j->st = st;
    j->loop = st->loop;
    j->fd = -1;
    size_t n = st->root_len + r->path.len;
    j->path = sh_malloc(n + 1);
    memcpy(j->path, st->root, st->root_len);
    memcpy(j->path + st->root_len, r->path.ptr, r->path.len);
    j->path[n] = 0;
    sh_req_watch(r, &j->watch);
    resolve(j);
    return SH_HANDLED;
}

int sh_static_send_file(struct sh_req *r, uv_loop_t *loop, const char *path, const char *ctype)
{
    struct job *j = sh_calloc(1, sizeof(*j));
    j->loop = loop;
    j->fd = -1;
    j->tried_index = 1; /* a folder is not found */
    j->path = sh_strdup(path);
    j->ctype = ctype ? sh_strdup(ctype) : NULL;
    sh_req_watch(r, &j->watch);
    j->fs.data = j;
    if (uv_fs_open(loop, &j->fs, j->path, O_RDONLY | O_CLOEXEC, 0, on_open) != 0)
        not_found(j);
    return SH_HANDLED;
}
