/*
 * Scheduling of thumbnails (thumbs.c makes them): at most --thumb-workers
 * are made at once, each as libuv threadpool work (so the loop never
 * decodes an image and the threads are libuv's, stopped with it); up to
 * --thumb-queue more wait, in arrival order; beyond that a request is told
 * at once and serves the original. Concurrent requests for the same
 * missing thumb share one job: the first starts it, the others wait on it,
 * and each is told when it ends. A queued job whose requests have all gone
 * (clients that closed) is dropped instead of started. Loop thread only:
 * the table is never touched by the work functions, which see only their
 * own job's copy of the paths.
 */
#include <stdlib.h>
#include <string.h>

#include "records_int.h"

struct job {
    uv_work_t work;
    struct sh__thumbs *t;
    struct job *next; /* in t->jobs */
    char *src, *dst;
    struct sh__thumb_size size;
    uint64_t max_pixels;
    int rc;                         /* the work's result */
    bool running;                   /* queued while false */
    struct sh__thumb_wait *waiters; /* told when it ends, then forgotten */
};

struct sh__thumbs {
    uv_loop_t *loop;
    unsigned workers, queue;
    uint64_t max_pixels;
    struct job *jobs; /* running and queued, newest first */
    unsigned running, queued;
};

static struct sh__thumbs *pool_of(struct sh_api_records *api)
{
    if (!api->thumbs) {
        struct sh__thumbs *t = sh_calloc(1, sizeof(*t));
        t->loop = api->loop;
        t->workers = api->cfg->thumb_workers ? api->cfg->thumb_workers : 1;
        t->queue = api->cfg->thumb_queue;
        t->max_pixels = api->cfg->thumb_max_pixels;
        api->thumbs = t;
    }
    return api->thumbs;
}

static void tell(struct job *j, int rc)
{
    struct sh__thumb_wait *w = j->waiters;
    j->waiters = NULL;
    while (w) {
        struct sh__thumb_wait *next = w->next;
        w->done(w, rc);
        w = next;
    }
}

static void unlink_job(struct sh__thumbs *t, struct job *j)
{
    for (struct job **p = &t->jobs; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            return;
        }
    }
}

static void job_free(struct job *j)
{
    free(j->src);
    free(j->dst);
    free(j);
}

static bool anyone_waits(const struct job *j)
{
    for (const struct sh__thumb_wait *w = j->waiters; w; w = w->next)
        if (w->watch->req)
            return true;
    return false;
}

static void make_work(uv_work_t *req)
{
    struct job *j = req->data;
    j->rc = sh__thumb_make(j->src, j->dst, &j->size, j->max_pixels);
}

static void start_next(struct sh__thumbs *t);

static void make_after(uv_work_t *req, int status)
{
    struct job *j = req->data;
    struct sh__thumbs *t = j->t;
    t->running--;
    unlink_job(t, j);
    int rc = status ? SH_EINTERNAL : j->rc;
    if (rc == 0)
        sh_log_debug("files", "thumb made: %s", j->dst);
    else
        sh_log_warn("files", "no thumb of %s: %s; the original is served", j->src,
                    rc == SH_ETOOBIG ? "over --thumb-max-pixels" : "not a readable image");
    tell(j, rc);
    job_free(j);
    start_next(t);
}

/* Starts queued jobs, oldest first, while a worker is free. */
static void start_next(struct sh__thumbs *t)
{
    while (t->running < t->workers && t->queued) {
        struct job *oldest = NULL;
        for (struct job *j = t->jobs; j; j = j->next)
            if (!j->running)
                oldest = j; /* the list is newest first */
        t->queued--;
        if (!anyone_waits(oldest)) {
            unlink_job(t, oldest);
            tell(oldest, SH_EINTERNAL); /* their requests are gone: each frees itself */
            job_free(oldest);
            continue;
        }
        oldest->running = true;
        t->running++;
        oldest->work.data = oldest;
        if (uv_queue_work(t->loop, &oldest->work, make_work, make_after) != 0) {
            t->running--;
            unlink_job(t, oldest);
            tell(oldest, SH_EINTERNAL);
            job_free(oldest);
        }
    }
}

int sh__thumbs_request(struct sh_api_records *api, const char *src, const char *dst,
                       const struct sh__thumb_size *size, struct sh__thumb_wait *w)
{
    struct sh__thumbs *t = pool_of(api);
    for (struct job *j = t->jobs; j; j = j->next) {
        if (strcmp(j->dst, dst) == 0) { /* being made: wait for it */
            w->next = j->waiters;
            j->waiters = w;
            return 0;
        }
    }
    if (t->running >= t->workers && t->queued >= t->queue)
        return SH_EBUSY;
    struct job *j = sh_calloc(1, sizeof(*j));
    j->t = t;
    j->src = sh_strdup(src);
    j->dst = sh_strdup(dst);
    j->size = *size;
    j->max_pixels = t->max_pixels;
    w->next = NULL;
    j->waiters = w;
    j->next = t->jobs;
    t->jobs = j;
    t->queued++;
    start_next(t);
    return 0;
}

void sh__thumbs_free(struct sh__thumbs *t)
{
    if (!t)
        return;
    /* the loop has run until no work was left: only queued jobs remain */
    while (t->jobs) {
        struct job *j = t->jobs;
        t->jobs = j->next;
        tell(j, SH_EINTERNAL);
        job_free(j);
    }
    free(t);
}
