/*
 * The file parts of a multipart request, written to temporary files under
 * <dir>/storage/.tmp/ through libuv's fs functions (the threadpool), never
 * with a blocking call on the loop. One chain of operations per request runs
 * one at a time, in order: create the folders, open a part's file, write its
 * bytes as they came, close it. The bytes of each read are copied into the
 * chain (the read buffer is the loop's); past UPLOAD_HIGH queued bytes the
 * connection stops reading (upload_wait) until the chain drains below
 * UPLOAD_LOW, so a request holds about UPLOAD_HIGH plus one read whatever
 * the file's size. The message is dispatched only once every file is
 * written and closed.
 *
 * The chain outlives its request when it must: when the request ends
 * (answered, refused, or its connection gone, a request arena's defer) the
 * chain is detached from the connection, finishes what is in flight, closes
 * what is open and removes every temporary file (one a handler kept was
 * renamed away first), then frees itself. A crash leaves files in .tmp/, which are never referenced
 * (the start-up sweep's to remove).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "conn.h"

#define UPLOAD_HIGH (1u << 20) /* queued bytes at which reading stops */
#define UPLOAD_LOW  (256u << 10)
#define WRITE_CHUNK (64u << 10) /* small pieces are gathered into writes of up to this */
/* write buffers kept between writes: a full queue of them, so a steady
 * upload allocates nothing */
#define SPARE_OPS (UPLOAD_HIGH / WRITE_CHUNK + 2)

enum op_kind { OP_MKDIR, OP_OPEN, OP_WRITE, OP_CLOSE };

struct op {
    struct op *next;
    enum op_kind kind;
    unsigned file; /* index into files */
    size_t len;    /* OP_WRITE: bytes in data */
    size_t cap;    /* OP_WRITE: room in data */
    char data[];   /* OP_WRITE: the bytes; OP_MKDIR: the path */
};

struct tmp_file {
    char path[512];
    uv_file fd; /* -1 when not open */
    uint64_t offset;
    bool close_queued; /* its OP_CLOSE is in the chain */
};

struct sh__uploads {
    struct sh_http_conn *hc; /* NULL once the request ended */
    uv_loop_t *loop;
    uv_fs_t req;
    bool busy; /* req is in flight */
    int error; /* the first IO error (negative errno) */
    struct op *head, *tail;
    size_t queued; /* bytes in write ops */
    struct tmp_file *files;
    unsigned nfiles, cap;
    unsigned unlinking;          /* removals in flight after the end */
    struct op *spare[SPARE_OPS]; /* written buffers kept for the next bytes */
    unsigned nspare;
};

/* Frees o, or keeps it for reuse when it is a whole write buffer. */
static void drop_op(struct sh__uploads *u, struct op *o)
{
    if (o->kind == OP_WRITE && o->cap == WRITE_CHUNK && u->nspare < SPARE_OPS)
        u->spare[u->nspare++] = o;
    else
        free(o);
}

static void run(struct sh__uploads *u);

static void push(struct sh__uploads *u, struct op *o)
{
    o->next = NULL;
    if (u->tail)
        u->tail->next = o;
    else
        u->head = o;
    u->tail = o;
}

static struct op *new_op(struct sh__uploads *u, enum op_kind kind, unsigned file, const void *data,
                         size_t len)
{
    size_t cap = kind == OP_WRITE && len < WRITE_CHUNK ? WRITE_CHUNK : len;
    struct op *o =
        cap == WRITE_CHUNK && u->nspare ? u->spare[--u->nspare] : sh_malloc(sizeof(*o) + cap + 1);
    o->kind = kind;
    o->file = file;
    o->len = len;
    o->cap = cap;
    if (len)
        memcpy(o->data, data, len);
    o->data[len] = 0;
    return o;
}

static void free_if_done(struct sh__uploads *u)
{
    if (u->hc || u->busy || u->head || u->unlinking)
        return;
    while (u->nspare)
        free(u->spare[--u->nspare]);
    free(u->files);
    free(u);
}

static void on_unlink(uv_fs_t *req)
{
    struct sh__uploads *u = req->data;
    uv_fs_req_cleanup(req);
    free(req);
    u->unlinking--;
    free_if_done(u);
}

/* The request ended and the chain is empty: remove every temporary file (a
 * handler that keeps one has renamed it away: its removal finds nothing). */
static void remove_files(struct sh__uploads *u)
{
    uv_loop_t *loop = u->loop;
    for (unsigned i = 0; i < u->nfiles; i++) {
        uv_fs_t *req = sh_malloc(sizeof(*req));
        req->data = u;
        if (uv_fs_unlink(loop, req, u->files[i].path, on_unlink) == 0)
            u->unlinking++;
        else
            free(req);
    }
    u->nfiles = 0;
}

/* The chain moved: wake the connection when it waits for it. */
static void progress(struct sh__uploads *u)
{
    struct sh_http_conn *hc = u->hc;
    if (!hc)
        return;
    bool idle = !u->head && !u->busy;
    if ((hc->upload_wait && u->queued <= UPLOAD_LOW) || (hc->dispatch_pending && idle))
        sh__conn_upload_resume(hc);
}

static void on_done(uv_fs_t *req)
{
    struct sh__uploads *u = req->data;
    struct op *o = u->head;
    ssize_t res = req->result;
    uv_fs_req_cleanup(req);
    u->busy = false;
    u->head = o->next;
    if (!u->head)
        u->tail = NULL;
    struct tmp_file *f = o->kind == OP_MKDIR ? NULL : &u->files[o->file];
    switch (o->kind) {
    case OP_MKDIR:
        if (res < 0 && res != UV_EEXIST && !u->error)
            u->error = (int)res;
        break;
    case OP_OPEN:
        if (res < 0) {
            if (!u->error)
                u->error = (int)res;
        } else {
            f->fd = (uv_file)res;
        }
        break;
    case OP_WRITE:
        u->queued -= o->len;
        if (res < 0 || (size_t)res != o->len) {
            if (!u->error)
                u->error = res < 0 ? (int)res : UV_EIO;
        } else {
            f->offset += o->len;
        }
        break;
    case OP_CLOSE:
        f->fd = -1;
        break;
    }
    drop_op(u, o);
    run(u);
    if (!u->hc) {
        if (!u->busy && !u->head)
            remove_files(u);
        free_if_done(u);
        return;
    }
    progress(u); /* may end the request (on_request_end): u is not touched after it */
}

/* Starts the next operation, skipping writes after an error or once the
 * request ended (its files are only closed and removed then). */
static void run(struct sh__uploads *u)
{
    uv_loop_t *loop = u->loop;
    while (u->head && !u->busy) {
        struct op *o = u->head;
        struct tmp_file *f = o->kind == OP_MKDIR ? NULL : &u->files[o->file];
        bool skip = (u->error || !u->hc) && o->kind != OP_CLOSE;
        if (o->kind == OP_CLOSE && f->fd < 0)
            skip = true;
        if (o->kind == OP_WRITE && f->fd < 0)
            skip = true;
        int rc = 0;
        if (!skip) {
            u->req.data = u;
            switch (o->kind) {
            case OP_MKDIR:
                rc = uv_fs_mkdir(loop, &u->req, o->data, 0700, on_done);
                break;
            case OP_OPEN:
                rc = uv_fs_open(loop, &u->req, f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                                0600, on_done);
                break;
            case OP_WRITE: {
                uv_buf_t b = uv_buf_init(o->data, (unsigned)o->len);
                rc = uv_fs_write(loop, &u->req, f->fd, &b, 1, (int64_t)f->offset, on_done);
                break;
            }
            case OP_CLOSE:
                rc = uv_fs_close(loop, &u->req, f->fd, on_done);
                break;
            }
            if (rc == 0) {
                u->busy = true;
                return;
            }
            if (!u->error)
                u->error = rc;
        }
        if (o->kind == OP_WRITE)
            u->queued -= o->len;
        u->head = o->next;
        if (!u->head)
            u->tail = NULL;
        drop_op(u, o);
    }
}

/* The request's arena is reset or freed: the request is over. Files whose
 * part never ended (a malformed or cut body) get their close now. */
static void on_request_end(void *arg)
{
    struct sh__uploads *u = arg;
    u->hc->uploads = NULL;
    u->hc = NULL;
    for (unsigned i = 0; i < u->nfiles; i++)
        if (!u->files[i].close_queued)
            push(u, new_op(u, OP_CLOSE, i, NULL, 0));
    run(u);
    if (!u->busy && !u->head)
        remove_files(u);
    free_if_done(u);
}

int sh__upload_file_begin(struct sh_http_conn *hc, const char **path)
{
    struct sh__uploads *u = hc->uploads;
    const char *dir = hc->srv->cfg->dir;
    if (!u) {
        u = sh_calloc(1, sizeof(*u));
        u->hc = hc;
        u->loop = hc->srv->loop;
        if (sh_arena_defer(&hc->arena, on_request_end, u) != 0) {
            free(u);
            return -1;
        }
        hc->uploads = u;
        char p[512];
        snprintf(p, sizeof(p), "%s/storage", dir);
        push(u, new_op(u, OP_MKDIR, 0, p, strlen(p)));
        snprintf(p, sizeof(p), "%s/storage/.tmp", dir);
        push(u, new_op(u, OP_MKDIR, 0, p, strlen(p)));
    }
    if (u->nfiles == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 4;
        u->files = sh_realloc(u->files, u->cap * sizeof(*u->files));
    }
    struct tmp_file *f = &u->files[u->nfiles];
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    unsigned char rnd[12];
    randombytes_buf(rnd, sizeof(rnd));
    char hex[2 * sizeof(rnd) + 1];
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    int n = snprintf(f->path, sizeof(f->path), "%s/storage/.tmp/upload-%s", dir, hex);
    if (n < 0 || (size_t)n >= sizeof(f->path))
        return -1;
    push(u, new_op(u, OP_OPEN, u->nfiles, NULL, 0));
    *path = f->path;
    u->nfiles++;
    run(u);
    return 0;
}

void sh__upload_file_data(struct sh_http_conn *hc, const char *at, size_t len)
{
    struct sh__uploads *u = hc->uploads;
    if (u->error)
        return; /* the request will be answered with the error */
    /* A part's bytes come in pieces as small as one byte (around a
     * near-delimiter): gather them into the last write not yet started. */
    struct op *t = u->tail;
    if (t && t->kind == OP_WRITE && t->file == u->nfiles - 1 && !(u->busy && t == u->head) &&
        t->cap - t->len >= len) {
        memcpy(t->data + t->len, at, len);
        t->len += len;
    } else {
        push(u, new_op(u, OP_WRITE, u->nfiles - 1, at, len));
    }
    u->queued += len;
    run(u);
    if (u->queued > UPLOAD_HIGH)
        hc->upload_wait = 1; /* the server stops reading until progress() */
}

void sh__upload_file_end(struct sh_http_conn *hc)
{
    struct sh__uploads *u = hc->uploads;
    push(u, new_op(u, OP_CLOSE, u->nfiles - 1, NULL, 0));
    u->files[u->nfiles - 1].close_queued = true;
    run(u);
}

bool sh__upload_busy(const struct sh_http_conn *hc)
{
    const struct sh__uploads *u = hc->uploads;
    return u && (u->busy || u->head);
}

int sh__upload_error(const struct sh_http_conn *hc)
{
    return hc->uploads ? hc->uploads->error : 0;
}

unsigned sh__upload_sweep(const char *dir)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/storage/.tmp", dir);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    unsigned n = 0;
    int fd = dirfd(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, "upload-", 7) == 0 && unlinkat(fd, e->d_name, 0) == 0)
            n++;
    closedir(d);
    return n;
}
