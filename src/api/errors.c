/*
 * The one table from stagehand's error codes to an HTTP status and the
 * message a client sees (PocketBase's wording where it has one). Internal
 * detail (SQLite's messages, file names) is logged where it happens and never
 * reaches a response. 503 answers carry Retry-After: the condition passes.
 *
 * A full disk is 507 Insufficient Storage (RFC 4918): the write was rolled
 * back whole, and retrying will not help until space is freed. A write lock
 * held by another process past --lock-timeout is 503: it passes.
 *
 * A read query that runs past --query-budget (SH_EBUDGET) is answered 400,
 * not 503: the same request would be stopped again, so it is the request
 * (an unindexed filter or sort over many rows) that must change.
 */
#include <errno.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "records_int.h"

static const struct {
    int code, status;
    const char *message;
} table[] = {
    {SH_ENOTFOUND, 404, "The requested resource wasn't found."},
    {SH_EFORBIDDEN, 403, "Only superusers can perform this action."},
    {SH_EINVAL, 400, "Something went wrong while processing your request."},
    {SH_ECONFLICT, 409, "The value conflicts with an existing record."},
    {SH_ETOOBIG, 413, "The request is too large."},
    {-ENOMEM, 413, "The request needs more memory than it may use."},
    {SH_EBUSY, 503, "The server is busy; try again shortly."},
    {SH_ESTALE, 503, "The schema is being changed; try again shortly."},
    {-ECANCELED, 503, "The server is shutting down; try again shortly."},
    {SH_EBUDGET, 400,
     "The query took too long and was stopped; narrow the filter or sort by an indexed field."},
    {SH_ELOCKED, 503, "The database is locked by another process; try again shortly."},
    {-ENOSPC, 507, "The server is out of storage space; nothing was saved."},
};

int sh__api_status(int code, const char **message)
{
    for (size_t i = 0; i < SH_ARRAY_LEN(table); i++) {
        if (table[i].code == code) {
            *message = table[i].message;
            return table[i].status;
        }
    }
    *message = "Something went wrong while processing your request.";
    return 500;
}

void sh__api_error(struct sh_req *r, int status, const char *message, const cJSON *data)
{
    char *json = data ? cJSON_PrintUnformatted(data) : NULL;
    if (status == 503)
        sh_res_header(r, "Retry-After", "1");
    sh_res_error(r, status, message, json);
    cJSON_free(json);
}

void sh__api_fail(struct sh_req *r, int code)
{
    const char *msg;
    int status = sh__api_status(code, &msg);
    sh__api_error(r, status, msg, NULL);
}

void sh__api_field_error(struct sh_req *r, const char *message, const char *field, const char *code,
                         const char *msg)
{
    cJSON *d = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(d, field);
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    sh__api_error(r, 400, message, d);
    cJSON_Delete(d);
}

void sh__api_send_json(struct sh_req *r, int status, cJSON *o)
{
    char *json = cJSON_PrintUnformatted(o);
    SH_ASSERT(json);
    sh_res_json(r, status, json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(o);
}
