/*
 * Form bodies as JSON: every route that takes a JSON object also takes
 * multipart/form-data (read by the http module's multipart reader as it
 * arrived, req.form) and application/x-www-form-urlencoded (kept whole, at
 * most --max-json-body), bound as PocketBase binds them: a field's value is
 * a string (the records validator converts it by the field's type, as
 * PocketBase's field PrepareValue does), a field sent more than once is an
 * array of its values in order (multi-valued select, relation and file
 * fields), and the JSON objects of `@jsonPayload` parts (what the JS SDK
 * sends next to files) are merged first, the plain fields winning.
 */
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "api_int.h"
#include "stagehand/json.h"
#include "stagehand/multipart.h"

#define BAD_FORM     "Failed to load the submitted data due to invalid formatting."
#define JSON_PAYLOAD "@jsonPayload"

static bool ctype_is(const struct sh_req *r, const char *type)
{
    const struct sh_str *ct = sh_req_header(r, "Content-Type");
    size_t n = strlen(type);
    return ct && ct->len >= n && strncasecmp(ct->ptr, type, n) == 0 &&
           (ct->len == n || ct->ptr[n] == ';' || ct->ptr[n] == ' ' || ct->ptr[n] == '\t');
}

bool sh__api_is_form(const struct sh_req *r)
{
    return r->is_form || ctype_is(r, "application/x-www-form-urlencoded");
}

/* 400 in PocketBase's shape for an unreadable body, why under data.body. */
static void bad_form(struct sh_req *r, const char *code, const char *why)
{
    cJSON *data = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(data, "body");
    cJSON_AddStringToObject(b, "code", code);
    cJSON_AddStringToObject(b, "message", why);
    sh__api_error(r, 400, BAD_FORM, data);
    cJSON_Delete(data);
}

/* Adds value under name in fields: a string, or an array once repeated.
 * -1 when the name or value cannot be JSON text. */
static int add_value(cJSON *fields, const char *name, size_t nlen, const char *v, size_t vlen)
{
    if (!sh_multipart_utf8_valid(name, nlen) || !sh_multipart_utf8_valid(v, vlen))
        return -1; /* also refuses NUL, as strict JSON refuses \u0000 */
    cJSON *s = cJSON_CreateString(v);
    cJSON *old = cJSON_GetObjectItemCaseSensitive(fields, name);
    if (!old) {
        cJSON_AddItemToObject(fields, name, s);
    } else if (cJSON_IsArray(old)) {
        cJSON_AddItemToArray(old, s);
    } else {
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, cJSON_Duplicate(old, 1));
        cJSON_AddItemToArray(arr, s);
        cJSON_ReplaceItemInObjectCaseSensitive(fields, name, arr);
    }
    return 0;
}

/* Moves every member of from into out, replacing a member of the same name.
 * (cJSON's replace would copy the key after freeing it: delete, then add,
 * which copies the key before it frees the item's own.) */
static void move_members(cJSON *out, cJSON *from)
{
    while (from->child) {
        cJSON *item = cJSON_DetachItemViaPointer(from, from->child);
        cJSON_DeleteItemFromObjectCaseSensitive(out, item->string);
        cJSON_AddItemToObject(out, item->string, item);
    }
}

/* Merges the keys of a @jsonPayload value (a strict JSON object) into out,
 * later payloads replacing earlier keys. -1 with why when it is not one. */
static int merge_payload(cJSON *out, const char *v, size_t n, char *why, size_t whylen)
{
    struct sh_json_error err;
    cJSON *o = sh_json_parse(v, n, &err);
    if (!o || !cJSON_IsObject(o)) {
        if (o)
            snprintf(why, whylen, "The @jsonPayload part must be a JSON object.");
        else
            sh_json_error_format(&err, why, whylen);
        cJSON_Delete(o);
        return -1;
    }
    move_members(out, o);
    cJSON_Delete(o);
    return 0;
}

static cJSON *multipart_or_reply(struct sh_req *r, bool keep_files)
{
    if (r->form_error) {
        bad_form(r, "validation_invalid_multipart", sh_multipart_strerror(r->form_error));
        return NULL;
    }
    if (r->upload_error) {
        sh__api_error(r, 500, "Failed to store the uploaded file.", NULL);
        return NULL;
    }
    cJSON *out = cJSON_CreateObject(), *fields = cJSON_CreateObject();
    char why[128];
    for (unsigned i = 0; i < r->nform; i++) {
        const struct sh_form_part *p = &r->form[i];
        if (p->is_file && keep_files)
            continue; /* the route's own (records: api/records/files.c) */
        if (p->is_file) {
            /* A route that keeps no upload: say so
             * rather than drop it (its temporary file goes with the request). */
            cJSON *data = cJSON_CreateObject(), *f = cJSON_AddObjectToObject(data, p->name.ptr);
            cJSON_AddStringToObject(f, "code", "validation_file_unsupported");
            cJSON_AddStringToObject(f, "message", "File uploads are not supported yet.");
            sh__api_error(r, 400, BAD_FORM, data);
            cJSON_Delete(data);
            goto fail;
        }
        if (strcmp(p->name.ptr, JSON_PAYLOAD) == 0) {
            if (merge_payload(out, p->value.ptr, p->value.len, why, sizeof(why))) {
                bad_form(r, "validation_invalid_json", why);
                goto fail;
            }
            continue;
        }
        if (add_value(fields, p->name.ptr, p->name.len, p->value.ptr, p->value.len)) {
            bad_form(r, "validation_invalid_form", "A form value is not valid UTF-8 text.");
            goto fail;
        }
    }
    move_members(out, fields); /* the plain fields go over what the payloads gave */
    cJSON_Delete(fields);
    return out;
fail:
    cJSON_Delete(fields);
    cJSON_Delete(out);
    return NULL;
}

static cJSON *urlencoded_or_reply(struct sh_req *r)
{
    cJSON *out = cJSON_CreateObject();
    const char *p = r->body, *end = r->body + r->body_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ne = eq ? eq : pe;
        if (ne > p) { /* empty names ("&&", "=x") are skipped */
            size_t nl = (size_t)(ne - p), vl = eq ? (size_t)(pe - eq - 1) : 0;
            char *name = sh_arena_alloc(r->arena, nl + 1);
            char *val = sh_arena_alloc(r->arena, vl + 1);
            if (!name || !val) {
                cJSON_Delete(out);
                sh__api_error(r, 413, "Request body is too large.", NULL);
                return NULL;
            }
            long n = sh_http_percent_decode(name, p, nl, SH_PCT_FORM);
            long v = sh_http_percent_decode(val, eq ? eq + 1 : "", vl, SH_PCT_FORM);
            if (add_value(out, name, (size_t)n, val, (size_t)v)) {
                cJSON_Delete(out);
                bad_form(r, "validation_invalid_form", "A form value is not valid UTF-8 text.");
                return NULL;
            }
        }
        p = amp ? amp + 1 : end;
    }
    return out;
}

cJSON *sh__api_form_body_or_reply(struct sh_req *r)
{
    if (r->body_over) {
        sh__api_error(r, 413, "Request body is too large.", NULL);
        return NULL;
    }
    return r->is_form ? multipart_or_reply(r, false) : urlencoded_or_reply(r);
}

cJSON *sh__api_form_files_body_or_reply(struct sh_req *r)
{
    if (r->body_over) {
        sh__api_error(r, 413, "Request body is too large.", NULL);
        return NULL;
    }
    return multipart_or_reply(r, true);
}
