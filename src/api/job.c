/*
 * The request-bound job (api_int.h): the one copy of what every handler
 * that leaves the loop needs — records writes, sign-in, sessions, password
 * reset, collection changes. The request is found again through a
 * sh_req_watch, so a client that goes away meanwhile costs only the work;
 * the answer is sent from the writer's completion, after the COMMIT, so an
 * acknowledged write is durable; a job the writer refused because the
 * schema moved (SH_ESTALE) is rebound to the current catalog and submitted
 * again, up to SH__API_STALE_RETRIES times, so the client never sees the
 * window; every other code is answered by the handler or through errors.c.
 */
#include <stddef.h>

#include "api_int.h"

static void job_done(struct sh_db_job *dj, int rc)
{
    sh__api_job_complete(dj->arg, rc);
}

void sh__api_job_start(struct sh__api_job *j, struct sh_req *r, const struct sh__api_job_ops *ops,
                       struct sh_db *dbh, struct sh_catalog *catalog,
                       const struct sh_catalog_snap *snap)
{
    j->ops = ops;
    j->dbh = dbh;
    j->catalog = catalog;
    j->snap = snap;
    j->attempts = 0;
    j->db.run = ops->run;
    j->db.done = job_done;
    j->db.arg = j;
    sh_req_watch(r, &j->watch);
}

struct sh_req *sh__api_job_resume(struct sh__api_job *j)
{
    struct sh_req *r = j->watch.req;
    if (!r)
        j->ops->free(j);
    return r;
}

void sh__api_job_end(struct sh__api_job *j, int code)
{
    struct sh_req *r = j->watch.req;
    if (r) {
        sh_req_unwatch(&j->watch);
        if (code)
            sh__api_fail(r, code);
    }
    j->ops->free(j);
}

void sh__api_job_submit(struct sh__api_job *j)
{
    if (!j->watch.req) { /* the client went away while the job waited (a hash) */
        j->ops->free(j);
        return;
    }
    int rc = sh_db_submit(j->dbh, &j->db);
    if (rc)
        sh__api_job_end(j, rc);
}

void sh__api_job_complete(struct sh__api_job *j, int rc)
{
    struct sh_req *r = j->watch.req;
    if (j->ops->committed)
        j->ops->committed(j, rc); /* before any answer: the next request sees it */
    if (r && rc == SH_ESTALE && j->ops->rebind && j->catalog &&
        sh__api_retry_if_stale(j->catalog, j->snap, rc, &j->attempts)) {
        if (j->ops->rebind(j, r) != 0) {
            sh_req_unwatch(&j->watch);
            j->ops->free(j); /* answered by rebind */
            return;
        }
        sh__api_job_submit(j); /* the job lives on */
        return;
    }
    if (r) {
        sh_req_unwatch(&j->watch);
        int code = j->ops->answer(j, r, rc);
        if (code)
            sh__api_fail(r, code);
    }
    j->ops->free(j);
}
