/*
 * The body of POST /api/batch: `{"requests":[{"method","url","headers",
 * "body"}, ...]}` sent as JSON, or as multipart/form-data whose one field
 * `@jsonPayload` holds that JSON (what the PocketBase JS SDK's
 * createBatch().send() always sends), with the files of its requests as
 * parts named `requests.<index>.<field>` (`field+`, `+field` too), as the
 * SDK names them; a file part named otherwise, or for an index past the
 * list, is a 400. The body is capped
 * by --batch-max-body before a byte is parsed, and parsed by the strict
 * JSON parser (stagehand/json.h); then the request list is checked as
 * PocketBase checks it (a non-empty list of at most --batch-max-requests,
 * each with a known method and a url), with its validation codes, before
 * any item is looked at.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "batch_int.h"
#include "stagehand/json.h"

#define READ_FAILED "Failed to read the submitted batch data."
#define INVALID     "Invalid batch request data."

static void read_failed(struct sh_req *r, const char *why)
{
    cJSON *data = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(data, "body");
    cJSON_AddStringToObject(b, "code", "validation_invalid_batch");
    cJSON_AddStringToObject(b, "message", why);
    sh__api_error(r, 400, READ_FAILED, data);
    cJSON_Delete(data);
}

/* The `@jsonPayload` field of a multipart/form-data body (read by the http
 * module's multipart reader as it arrived: r->form), in *json and *len.
 * 0, or -1 after answering. */
static int form_payload(struct sh_req *r, const char **json, size_t *len)
{
    if (r->form_error) {
        read_failed(r, "The multipart body is malformed.");
        return -1;
    }
    *json = NULL;
    for (unsigned i = 0; i < r->nform; i++) {
        const struct sh_form_part *p = &r->form[i];
        if (p->is_file)
            continue; /* checked once the list is known (file_parts) */
        if (p->name.len != 12 || memcmp(p->name.ptr, "@jsonPayload", 12) != 0 || *json) {
            read_failed(r, "The form must hold one @jsonPayload field and nothing else.");
            return -1;
        }
        *json = p->value.ptr;
        *len = p->value.len;
    }
    if (!*json) {
        read_failed(r, "The multipart body has no @jsonPayload field.");
        return -1;
    }
    return 0;
}

static void add_error(cJSON *o, const char *key, const char *code, const char *message)
{
    cJSON *e = cJSON_AddObjectToObject(o, key);
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
}

static bool is_method(const char *m)
{
    static const char *const known[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < SH_ARRAY_LEN(known); i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

/* The types of one item's members: NULL, or what is wrong. */
static const char *item_types(const cJSON *it)
{
    if (!cJSON_IsObject(it))
        return "Each request must be an object.";
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "method");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "url");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "headers");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "body");
    if ((m && !cJSON_IsNull(m) && !cJSON_IsString(m)) ||
        (u && !cJSON_IsNull(u) && !cJSON_IsString(u)))
        return "A request's method and url must be strings.";
    if (h && !cJSON_IsNull(h)) {
        if (!cJSON_IsObject(h))
            return "A request's headers must be an object of strings.";
        const cJSON *v;
        cJSON_ArrayForEach(v, h) {
            if (!cJSON_IsString(v))
                return "A request's headers must be an object of strings.";
        }
    }
    if (b && !cJSON_IsNull(b) && !cJSON_IsObject(b))
        return "A request's body must be an object.";
    return NULL;
}

/* PocketBase's validation of one item: method and url. NULL or errors. */
static cJSON *item_errors(const cJSON *it)
{
    cJSON *e = NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "method");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "url");
    const char *ms = cJSON_IsString(m) ? m->valuestring : "";
    const char *us = cJSON_IsString(u) ? u->valuestring : "";
    if (!ms[0] || !is_method(ms)) {
        e = cJSON_CreateObject();
        if (!ms[0])
            add_error(e, "method", "validation_required", "Cannot be blank.");
        else
            add_error(e, "method", "validation_in_invalid", "Must be a valid value.");
    }
    if (!us[0] || strlen(us) > SH__BATCH_URL_MAX) {
        if (!e)
            e = cJSON_CreateObject();
        if (!us[0])
            add_error(e, "url", "validation_required", "Cannot be blank.");
        else
            add_error(e, "url", "validation_length_too_long",
                      "The length must be no more than 2000.");
    }
    return e;
}

/* The index of a file part named requests.<i>.<key> (key not empty), or
 * -1. */
static long part_index(const struct sh_form_part *p)
{
    static const char prefix[] = "requests.";
    size_t pl = sizeof(prefix) - 1;
    if (p->name.len <= pl || memcmp(p->name.ptr, prefix, pl) != 0)
        return -1;
    const char *d = p->name.ptr + pl, *end = p->name.ptr + p->name.len;
    long i = 0;
    const char *q = d;
    for (; q < end && *q >= '0' && *q <= '9' && q - d < 6; q++)
        i = i * 10 + (*q - '0');
    if (q == d || q >= end || *q != '.' || q + 1 == end || (q - d > 1 && *d == '0'))
        return -1;
    return i;
}

/* Every file part of r names a request of the n: 0, or -1 after answering. */
static int file_parts(struct sh_req *r, int n)
{
    for (unsigned i = 0; r->is_form && i < r->nform; i++) {
        const struct sh_form_part *p = &r->form[i];
        long k = p->is_file ? part_index(p) : 0;
        if (k < 0 || k >= n) {
            read_failed(r, "A file part must be named requests.<index>.<field>, the index one "
                           "of a request of the list.");
            return -1;
        }
    }
    return 0;
}

/* 0, or -1 after answering 400 for the list's shape. */
static int check_list(struct sh_req *r, const cJSON *list, unsigned max_requests)
{
    if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list)) {
        read_failed(r, "requests must be an array.");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        const char *why = item_types(it);
        if (why) {
            read_failed(r, why);
            return -1;
        }
    }
    int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
    cJSON *data = cJSON_CreateObject();
    if (n == 0) {
        add_error(data, "requests", "validation_required", "Cannot be blank.");
    } else if ((unsigned)n > max_requests) {
        char msg[80];
        snprintf(msg, sizeof(msg), "The length must be no more than %u.", max_requests);
        add_error(data, "requests", "validation_length_too_long", msg);
    } else {
        cJSON *per = NULL;
        int i = 0;
        cJSON_ArrayForEach(it, list) {
            cJSON *e = item_errors(it);
            if (e) {
                char key[16];
                snprintf(key, sizeof(key), "%d", i);
                if (!per)
                    per = cJSON_AddObjectToObject(data, "requests");
                cJSON_AddItemToObject(per, key, e);
            }
            i++;
        }
        if (!per) {
            cJSON_Delete(data);
            return 0;
        }
    }
    sh__api_error(r, 400, INVALID, data);
    cJSON_Delete(data);
    return -1;
}

cJSON *sh__batch_body_or_reply(struct sh_req *r, size_t max_body, unsigned max_requests,
                               const cJSON **requests)
{
    if (r->body_over || r->body_len > max_body) {
        sh__api_error(r, 413, "Request body is too large.", NULL);
        return NULL;
    }
    const char *json = r->body ? r->body : "";
    size_t len = r->body_len;
    if (r->is_form && form_payload(r, &json, &len))
        return NULL;
    if (len > max_body) {
        sh__api_error(r, 413, "Request body is too large.", NULL);
        return NULL;
    }
    struct sh_json_error err;
    cJSON *root = sh_json_parse_max(json, len, max_body, &err);
    if (!root || !cJSON_IsObject(root)) {
        char why[128];
        if (root)
            snprintf(why, sizeof(why), "The body must be a JSON object.");
        else
            sh_json_error_format(&err, why, sizeof(why));
        cJSON_Delete(root);
        read_failed(r, why);
        return NULL;
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "requests");
    if (check_list(r, list, max_requests) || file_parts(r, cJSON_GetArraySize(list))) {
        cJSON_Delete(root);
        return NULL;
    }
    *requests = list;
    return root;
}
