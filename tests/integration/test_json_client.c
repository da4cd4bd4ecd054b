/*
 * Helpers of test_json_client.h for the strict-JSON suites.
 */
#include "test_json_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

const char jc_schema[] =
    "["
    "{'name':'docs','type':'base','fields':[{'name':'title','type':'text'},"
    "  {'name':'data','type':'json'},{'name':'tags','type':'select','maxSelect':3,"
    "   'values':['a','b','c']}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''},"
    "{'name':'users','type':'auth','fields':[{'name':'name','type':'text'}],"
    "  'listRule':'id = @request.auth.id','viewRule':'id = @request.auth.id',"
    "  'createRule':'','updateRule':'id = @request.auth.id','deleteRule':null}"
    "]";

struct rc_resp *jc_req(struct it_conn *c, const char *method, const char *path, const char *token,
                       const char *body, size_t len)
{
    char *head = it_sprintf("%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            "%s%s%sContent-Length: %zu\r\n\r\n",
                            method, path, token ? "Authorization: " : "", token ? token : "",
                            token ? "\r\n" : "", body ? len : 0);
    /* head and body in one write: two small writes would wait out Nagle
     * against the server's delayed ACK (40 ms a request) */
    size_t hlen = strlen(head), blen = body ? len : 0;
    char *all = it_alloc(hlen + blen + 1);
    memcpy(all, head, hlen);
    if (blen)
        memcpy(all + hlen, body, blen);
    assert_int_equal(it_conn_send(c, all, hlen + blen, 20000), IT_OK);
    struct rc_resp *r = it_alloc(sizeof(*r));
    r->raw = it_conn_read(c, 0, 20000);
    if (!r->raw)
        fail_msg("%s %s: no response (error %d)", method, path, c->err);
    r->status = r->raw->status;
    r->json =
        r->raw->body_len ? rc_track(cJSON_ParseWithLength(r->raw->body, r->raw->body_len)) : NULL;
    return r;
}

bool jc_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return false;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!jc_equal(x, y))
                return false;
        return !x && !y;
    }
    if (cJSON_IsObject(a)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return false;
        const cJSON *x;
        cJSON_ArrayForEach(x, a) {
            if (!jc_equal(x, cJSON_GetObjectItemCaseSensitive(b, x->string)))
                return false;
        }
        return true;
    }
    return true; /* null, true, false */
}

bool jc_is_bad_json(const struct rc_resp *r)
{
    if (r->status != 400 || it_resp_check_error(r->raw, 400) != 0)
        return false;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(r->json, "message");
    return cJSON_IsString(msg) &&
           strcmp(msg->valuestring,
                  "Failed to load the submitted data due to invalid formatting.") == 0;
}
