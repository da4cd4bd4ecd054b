/*
 * Internals of POST /api/batch (API.md "Batch"): body.c reads the batch's
 * body (JSON, or the PocketBase SDK's multipart form with its one
 * `@jsonPayload` field) and checks the shape of its request list; batch.c
 * turns each request into a records write (the same preparation, writer
 * work and answer as a single write: records_int.h), runs them all in one
 * writer job and answers. Not a public interface.
 */
#ifndef STAGEHAND_API_BATCH_H
#define STAGEHAND_API_BATCH_H

#include <stddef.h>

#include "records_int.h"

struct cJSON;

/* PocketBase's bound on one request's url. */
#define SH__BATCH_URL_MAX 2000

/*
 * The batch body of r as a new tree the caller owns (cJSON_Delete), with
 * *requests its `requests` array, every item of which is an object with a
 * `method` (one of GET POST PUT PATCH DELETE), a `url` (1..SH__BATCH_URL_MAX
 * bytes) and optional `headers` (an object of strings) and `body` (an
 * object); null is as absent. NULL after answering:
 *  - 413 past max_body bytes (before any parse);
 *  - 400 "Failed to read the submitted batch data." for a body that is not
 *    JSON or a form, a form without `@jsonPayload` or with a part that is
 *    not, or a value of the wrong type (data.body names what);
 *  - 400 "Failed to read the submitted batch data." too for a file part
 *    not named requests.<index>.<key> with the index of a request;
 *  - 400 "Invalid batch request data." with PocketBase's validation data
 *    ({"requests":{"code":..}} for a missing, empty or too long list;
 *    {"requests":{"<i>":{"method":{..}}}} for an item's method or url).
 */
struct cJSON *sh__batch_body_or_reply(struct sh_req *r, size_t max_body, unsigned max_requests,
                                      const struct cJSON **requests);

#endif
