/*
 * The request toolkit every handler of this library shares: the one table
 * from stagehand codes to HTTP answers (errors.c), the request-bound job
 * that leaves the loop and comes back (job.c), and the "the schema moved,
 * refresh the catalog and run it again" rule (retry.c). Not a public
 * interface.
 *
 * Naming: a helper whose name ends in _or_reply has answered the client
 * when it fails (it returns NULL or -1); the caller just returns
 * SH_HANDLED, as with redis's ...OrReply helpers.
 */
#ifndef STAGEHAND_API_INT_H
#define STAGEHAND_API_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "stagehand/catalog.h"
#include "stagehand/db.h"
#include "stagehand/http.h"

struct cJSON;

/* ---- errors.c ---- */

/* Status and message for a stagehand code (SH_ENOTFOUND -> 404 "The requested
 * resource wasn't found.", SH_EBUSY -> 503, ...); the message is static. */
int sh__api_status(int code, const char **message);
/* Answers r with the error of code, adding Retry-After to 503s. */
void sh__api_fail(struct sh_req *r, int code);
/* Answers status with message and data (NULL for {}); Retry-After on 503. */
void sh__api_error(struct sh_req *r, int status, const char *message, const struct cJSON *data);
/* Answers status with o as JSON and deletes o. */
void sh__api_send_json(struct sh_req *r, int status, struct cJSON *o);
/* Answers 400 message with data {field: {code, message: msg}}. */
void sh__api_field_error(struct sh_req *r, const char *message, const char *field, const char *code,
                         const char *msg);

/* ---- retry.c: the schema moved under a request ---- */

#define SH__API_STALE_RETRIES 3 /* runs again per request before answering SH_ESTALE */

/*
 * Whether a step that ran against snapshot snap and failed with rc should
 * run again against a newer one: rc is SH_ESTALE (the writer found the
 * schema newer than snap), or a failure that a table migrated by another
 * process (the CLI) can cause before this process's next catalog poll
 * (SH_EINVAL or SH_EINTERNAL from SQLite: a dropped column or table;
 * SH_ENOTFOUND: a collection created a moment ago) — and after refreshing
 * the catalog a snapshot other than snap is current. *attempts counts the
 * runs; false once SH__API_STALE_RETRIES were spent. The caller then
 * acquires the current snapshot and runs the step again, or answers rc.
 * Callers pass only codes that came from SQLite or a catalog lookup (a
 * filter's own SH_EINVAL is the client's: answer it). Loop thread.
 */
bool sh__api_retry_if_stale(struct sh_catalog *cat, const struct sh_catalog_snap *snap, int rc,
                            unsigned *attempts);

/* ---- job.c: work that leaves the loop and comes back to its request ---- */

struct sh__api_job;

struct sh__api_job_ops {
    /* WRITER thread, as sh_db_job_run_fn (db.h): the write. NULL for a job
     * completed by other means (sh__api_job_complete). */
    sh_db_job_run_fn run;
    /* Loop, after the commit (or failure), whether or not the client is
     * still there and before any answer: what must happen for every
     * completed write (bumping the auth epoch). May be NULL. */
    void (*committed)(struct sh__api_job *j, int rc);
    /* Loop: rc was SH_ESTALE and the catalog moved (sh__api_retry_if_stale):
     * rebind the job to the current snapshot (setting j->snap) with r still
     * there. 0 to resubmit; -1 after answering. NULL: SH_ESTALE is answered. */
    int (*rebind)(struct sh__api_job *j, struct sh_req *r);
    /* Loop, the client still there: answers r for rc and returns 0, or
     * returns a code for the job to answer through errors.c's table. */
    int (*answer)(struct sh__api_job *j, struct sh_req *r, int rc);
    /* Frees the structure embedding the job (the job is done with). */
    void (*free)(struct sh__api_job *j);
};

/*
 * A job bound to a request, embedded first in the handler's own struct.
 * Its lifetime rules, in one place: the job owns what it allocated (heap,
 * sodium memory, snapshot references); request memory (the arena) may be
 * used only while sh__api_job_req(j) is not NULL, i.e. the client is still
 * there; the answer is sent only after the writer committed (durability),
 * or on a failure; exactly one answer, then ops->free.
 */
struct sh__api_job {
    struct sh_db_job db; /* first: db.arg is the job */
    struct sh_req_watch watch;
    const struct sh__api_job_ops *ops;
    struct sh_db *dbh;
    struct sh_catalog *catalog;         /* for SH_ESTALE retries; NULL: none */
    const struct sh_catalog_snap *snap; /* what the submitted work was bound to */
    unsigned attempts;
};

/* Binds j to r (watching it) with ops; dbh receives the submission,
 * catalog (may be NULL) refreshes on SH_ESTALE against snap. From now on
 * every exit goes through sh__api_job_submit, _end or _complete. */
void sh__api_job_start(struct sh__api_job *j, struct sh_req *r, const struct sh__api_job_ops *ops,
                       struct sh_db *dbh, struct sh_catalog *catalog,
                       const struct sh_catalog_snap *snap);
/* The request, or NULL once the client went away (request memory gone). */
static inline struct sh_req *sh__api_job_req(const struct sh__api_job *j)
{
    return j->watch.req;
}
/* A completion from elsewhere (the hashing pool) is back on the loop: the
 * request, or NULL after freeing j (the client went away). */
struct sh_req *sh__api_job_resume(struct sh__api_job *j);
/* Submits j to the writer: its completion answers. If the client went away
 * meanwhile, or the queue refuses (503), ends j here. */
void sh__api_job_submit(struct sh__api_job *j);
/* Ends j with code answered through the table (if the client is still
 * there; 0 answers nothing) and frees it. */
void sh__api_job_end(struct sh__api_job *j, int code);
/* Ends j as its work completed with rc (the writer's done callback calls
 * it; a job run by other means, the catalog's save, calls it itself):
 * committed, then a retry on SH_ESTALE, then the answer, then free. */
void sh__api_job_complete(struct sh__api_job *j, int rc);

/* ---- form_body.c ---- */

/* Is r's body a form (multipart/form-data or
 * application/x-www-form-urlencoded) rather than JSON? */
bool sh__api_is_form(const struct sh_req *r);
/* r's form body as the JSON object a JSON body would have been, as
 * PocketBase binds it: each field's value as a string, a repeated field as
 * an array of its values in order, the SDK's `@jsonPayload` parts (JSON
 * objects) merged under them. The caller frees it. NULL after answering:
 * 400 for a malformed body or value (not UTF-8, NUL, bad @jsonPayload) or a
 * file part (no route stores files yet), 413 past --max-json-body. */
struct cJSON *sh__api_form_body_or_reply(struct sh_req *r);
/* The same for a multipart body (r->is_form) whose file parts the route
 * handles itself: they are left out of the object instead of refused. */
struct cJSON *sh__api_form_files_body_or_reply(struct sh_req *r);
/* ---- the collections API's shared steps (collections.c) ---- */
struct sh_api_records;
struct sh_catalog_snap;
struct sh_collection;
struct sh_schema_error;
/* The collection as clients see it (no token secrets, the effective
 * authToken duration); a new object. */
struct cJSON *sh__coll_shown(const struct sh_api_records *api, const struct sh_collection *c);
/* The superuser check and the snapshot the request reads (released with
 * the request); NULL after answering 401/403. */
struct sh_catalog_snap *sh__coll_begin_or_reply(struct sh_req *r, struct sh_api_records *api);
/* :collection in s; NULL after answering 404. */
const struct sh_collection *sh__coll_target_or_reply(struct sh_req *r,
                                                     const struct sh_catalog_snap *s);
/* A 400 with message and data naming the key or field of err. */
void sh__coll_schema_error(struct sh_req *r, const char *message,
                           const struct sh_schema_error *err);

#endif
