/*
 * The accounts tests' client (see test_auth_client.h), on top of the records
 * client and the harness.
 */
#include "test_auth_client.h"

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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

struct rc_resp *ac_reqh(struct it_conn *c, const char *method, const char *path,
                        const char *headers, const char *body)
{
    size_t blen = body ? strlen(body) : 0;
    char *head = it_sprintf("%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            "%sContent-Length: %zu\r\n\r\n",
                            method, path, headers ? headers : "", blen);
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

struct rc_resp *ac_req(struct it_conn *c, const char *method, const char *path, const char *token,
                       const char *body)
{
    return ac_reqh(c, method, path, token ? it_sprintf("Authorization: %s\r\n", token) : NULL,
                   body);
}

int ac_run(char **out, char **err, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int code = rc_vrun(out, err, NULL, arg, ap);
    va_end(ap);
    return code;
}

void ac_superuser(const struct it_server *s, const char *email, const char *password)
{
    char *err = NULL;
    int rc = ac_run(NULL, &err, "superuser", "upsert", email, password, "--dir", s->data_dir, NULL);
    if (rc != 0)
        fail_msg("superuser upsert exited %d: %s", rc, err);
}

const char *ac_signup(struct it_conn *c, const char *coll, const char *email, const char *password,
                      const char *extra)
{
    struct rc_resp *r =
        rc_reqf(c, "POST", it_sprintf("/api/collections/%s/records", coll),
                "{\"email\":\"%s\",\"password\":\"%s\",\"passwordConfirm\":\"%s\"%s%s}", email,
                password, password, extra ? "," : "", extra ? extra : "");
    if (r->status != 200)
        fail_msg("sign-up of %s: %d %s", email, r->status, r->raw->body);
    return it_strdup(rc_str(r->json, "id"));
}

const char *ac_login(struct it_conn *c, const char *coll, const char *email, const char *password,
                     const cJSON **record)
{
    struct rc_resp *r =
        rc_reqf(c, "POST", it_sprintf("/api/collections/%s/auth-with-password", coll),
                "{\"identity\":\"%s\",\"password\":\"%s\"}", email, password);
    if (r->status != 200)
        fail_msg("sign-in of %s: %d %s", email, r->status, r->raw->body);
    if (record)
        *record = rc_get(r->json, "record");
    return it_strdup(rc_str(r->json, "token"));
}

/* The whole of path (scope memory), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[len] = 0;
    char *out = it_strdup(buf);
    free(buf);
    return out;
}

int ac_mail_count(const struct it_server *s, const char *email)
{
    char *mail = slurp(it_sprintf("%s/mail.log", s->data_dir));
    const char *needle = it_sprintf("To: %s\n", email);
    int n = 0;
    for (char *p = mail; p && (p = strcasestr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

const char *ac_mailed_token(const struct it_server *s, const char *email, int nth)
{
    const char *path = it_sprintf("%s/mail.log", s->data_dir);
    int64_t end = it_now_ms() + 3000;
    while (ac_mail_count(s, email) < nth && it_now_ms() < end)
        usleep(10000);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600); /* the mail holds a credential */
    char *mail = slurp(path), *p = mail;
    const char *needle = it_sprintf("To: %s\n", email);
    for (int i = 0; i < nth; i++) {
        p = strcasestr(p, needle);
        assert_non_null(p);
        p += strlen(needle);
    }
    char *t = strstr(p, "{\"token\":\"");
    assert_non_null(t);
    t += 10;
    size_t n = strcspn(t, "\"");
    char *tok = it_alloc(n + 1);
    memcpy(tok, t, n);
    return tok;
}
