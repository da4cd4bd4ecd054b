/*
 * The records tests' JSON client (see test_records_client.h): requests with
 * JSON bodies over the harness's raw connections, parsed answers, and the
 * `stagehand collections` command run the way a user runs it.
 */
#include "test_records_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static cJSON **tracked;
static size_t ntracked, captracked;

cJSON *rc_track(cJSON *j)
{
    if (!j)
        return NULL;
    it_on_test_end(rc_free_all); /* every fixture's teardown frees them */
    if (ntracked == captracked) {
        captracked = captracked ? captracked * 2 : 64;
        tracked = realloc(tracked, captracked * sizeof(*tracked));
        if (!tracked)
            abort();
    }
    tracked[ntracked++] = j;
    return j;
}

void rc_free_all(void)
{
    while (ntracked)
        cJSON_Delete(tracked[--ntracked]);
    free(tracked);
    tracked = NULL;
    captracked = 0;
}

struct rc_resp *rc_req(struct it_conn *c, const char *method, const char *path, const char *body)
{
    size_t blen = body ? strlen(body) : 0;
    char *head = it_sprintf("%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            method, path, blen);
    assert_int_equal(it_conn_sends(c, head), IT_OK);
    if (blen)
        assert_int_equal(it_conn_send(c, body, blen, IT_MS_IO), IT_OK);
    struct rc_resp *r = it_alloc(sizeof(*r));
    r->raw = it_conn_read(c, strcmp(method, "HEAD") == 0 ? IT_NO_BODY : 0, 20000);
    if (!r->raw)
        fail_msg("%s %s: no response (error %d)", method, path, c->err);
    r->status = r->raw->status;
    r->json =
        r->raw->body_len ? rc_track(cJSON_ParseWithLength(r->raw->body, r->raw->body_len)) : NULL;
    return r;
}

struct rc_resp *rc_reqf(struct it_conn *c, const char *method, const char *path, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *body = it_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(body, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return rc_req(c, method, path, body);
}

char *rc_enc(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = it_alloc(strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = 0;
    return out;
}

const cJSON *rc_get(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;
        char *msg = it_sprintf("key \"%s\" missing in %.600s", key, s ? s : "(null)");
        cJSON_free(s);
        fail_msg("%s", msg);
    }
    return v;
}

const char *rc_str(const cJSON *o, const char *key)
{
    const cJSON *v = rc_get(o, key);
    if (!cJSON_IsString(v))
        fail_msg("key \"%s\" is not a string", key);
    return v->valuestring;
}

double rc_num(const cJSON *o, const char *key)
{
    const cJSON *v = rc_get(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("key \"%s\" is not a number", key);
    return v->valuedouble;
}

int rc_vrun(char **out, char **err, const char *prefix, const char *arg, va_list ap)
{
    if (!getenv("STAGEHAND_BIN"))
        fail_msg("STAGEHAND_BIN is not set");
    return it_run_v(out, err, IT_MS_CLI, prefix, arg, ap);
}

int rc_cli(char **out, char **err, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int code = rc_vrun(out, err, "collections", arg, ap);
    va_end(ap);
    return code;
}

const cJSON *rc_ok(struct rc_resp *r, int status)
{
    if (r->status != status)
        fail_msg("status %d, expected %d: %s", r->status, status, r->raw->body);
    return r->json;
}

const char *rc_create(struct it_conn *c, const char *coll, const char *json)
{
    struct rc_resp *r =
        rc_req(c, "POST", it_sprintf("/api/collections/%s/records", coll), rc_q(json));
    return it_strdup(rc_str(rc_ok(r, 200), "id"));
}

int rc_import(const struct it_server *s, const char *name, const char *json)
{
    char *path = it_sprintf("%s/%s", s->dir, name);
    assert_int_equal(it_write_file(path, json, strlen(json)), 0);
    char *out = NULL, *err = NULL;
    int rc = rc_cli(&out, &err, "import", path, "--dir", s->data_dir, NULL);
    if (rc != 0)
        it_note("import of %s exited %d: %s%s", name, rc, out, err);
    return rc;
}

struct it_server *rc_server(const char *schema, ...)
{
    const char *args[32];
    unsigned n = 0;
    va_list ap;
    va_start(ap, schema);
    for (const char *a = va_arg(ap, const char *); a && n < 31; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    struct it_server *s = it_server_new();
    if (!s)
        return NULL;
    if (schema && rc_import(s, "schema.json", schema) != 0)
        return NULL;
    if (it_server_run(s, args) != 0)
        return NULL;
    return s;
}

void rc_assert_error(const struct rc_resp *r, int status, const char *field, const char *code)
{
    if (it_resp_check_error(r->raw, status) != 0)
        fail_msg("expected the error shape with status %d", status);
    if (!field)
        return;
    const cJSON *data = rc_get(r->json, "data");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(data, field);
    if (!f)
        fail_msg("no error for \"%s\" in %s", field, r->raw->body);
    if (code && strcmp(rc_str(f, "code"), code) != 0)
        fail_msg("error code of \"%s\" is %s, expected %s", field, rc_str(f, "code"), code);
}

char *rc_q(const char *s)
{
    char *out = it_strdup(s), *o = out;
    for (const char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] == '\'')
            *o++ = *++p; /* \' stays a single quote */
        else
            *o++ = *p == '\'' ? '"' : *p;
    }
    *o = 0;
    return out;
}

void rc_bulk_create(const struct it_server *s, const char *coll, int n,
                    char *(*body_of)(int i, void *ud), void *ud)
{
    enum { K = 8 };
    struct it_conn *c[K];
    for (int k = 0; k < K; k++) {
        c[k] = it_conn_open(s);
        assert_non_null(c[k]);
    }
    char *path = it_sprintf("/api/collections/%s/records", coll);
    /* Batches of up to 64 pipelined requests per connection, the connections
     * in parallel, so the writer sees concurrent jobs (group commit). */
    for (int done = 0; done < n;) {
        int sent[K] = {0};
        for (int k = 0; k < K && done < n; k++) {
            struct sh_b {
                char *p;
                size_t len, cap;
            } b = {NULL, 0, 0};
            for (int i = 0; i < 64 && done < n; i++, done++) {
                char *body = body_of(done, ud);
                char *req = it_sprintf("POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                       "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                       path, strlen(body), body);
                size_t rl = strlen(req);
                if (b.len + rl + 1 > b.cap) {
                    size_t cap = (b.cap + rl + 1) * 2;
                    char *p = it_alloc(cap);
                    if (b.len)
                        memcpy(p, b.p, b.len);
                    b.p = p;
                    b.cap = cap;
                }
                memcpy(b.p + b.len, req, rl);
                b.len += rl;
                sent[k]++;
            }
            assert_int_equal(it_conn_send(c[k], b.p, b.len, 20000), IT_OK);
        }
        for (int k = 0; k < K; k++) {
            for (int i = 0; i < sent[k]; i++) {
                struct it_resp *r = it_conn_read(c[k], 0, 30000);
                if (!r)
                    fail_msg("bulk create: no response (error %d)", c[k]->err);
                if (r->status != 200)
                    fail_msg("bulk create: status %d: %s", r->status, r->body);
            }
        }
    }
    for (int k = 0; k < K; k++)
        it_conn_close(c[k]);
}
