/*
 * Multipart bodies and storage folders for the file-field suites (see
 * test_files_client.h).
 */
#include "test_files_client.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

void fc_put(struct fc_body *b, const void *d, size_t n)
{
    char *q = it_alloc(b->n + n + 1);
    if (b->n)
        memcpy(q, b->p, b->n);
    memcpy(q + b->n, d, n);
    b->p = q;
    b->n += n;
}

void fc_text(struct fc_body *b, const char *name, const char *value)
{
    char *s =
        it_sprintf("--" FC_BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n",
                   name, value);
    fc_put(b, s, strlen(s));
}

void fc_file(struct fc_body *b, const char *name, const char *filename, const void *data, size_t n)
{
    fc_file_as(b, name, filename, "text/plain", data, n);
}

void fc_file_as(struct fc_body *b, const char *name, const char *filename, const char *ctype,
                const void *data, size_t n)
{
    char *s = it_sprintf("--" FC_BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"; "
                         "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n",
                         name, filename, ctype);
    fc_put(b, s, strlen(s));
    fc_put(b, data, n);
    fc_put(b, "\r\n", 2);
}

struct rc_resp *fc_send(struct it_conn *c, const char *method, const char *path, const char *token,
                        struct fc_body *b)
{
    fc_put(b, "--" FC_BOUNDARY "--\r\n", strlen("--" FC_BOUNDARY "--\r\n"));
    char *head = it_sprintf("%s %s HTTP/1.1\r\nHost: t\r\n%s%s%sContent-Type: multipart/form-data; "
                            "boundary=" FC_BOUNDARY "\r\nContent-Length: %zu\r\n\r\n",
                            method, path, token ? "Authorization: " : "", token ? token : "",
                            token ? "\r\n" : "", b->n);
    struct rc_resp *r = it_alloc(sizeof(*r));
    if (it_conn_sends(c, head) != IT_OK || it_conn_send(c, b->p, b->n, IT_MS_IO) != IT_OK)
        fail_msg("%s %s: send failed", method, path);
    r->raw = it_conn_read(c, 0, 30000);
    if (!r->raw)
        fail_msg("%s %s: no response (error %d)", method, path, c->err);
    r->status = r->raw->status;
    r->json =
        r->raw->body_len ? rc_track(cJSON_ParseWithLength(r->raw->body, r->raw->body_len)) : NULL;
    return r;
}

int fc_exists(const struct it_server *s, const char *rel)
{
    struct stat st;
    return stat(it_sprintf("%s/storage/%s", s->data_dir, rel), &st) == 0;
}

int fc_count(const struct it_server *s, const char *rel)
{
    DIR *d = opendir(it_sprintf("%s/storage/%s", s->data_dir, rel));
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int fc_wait_exists(const struct it_server *s, const char *rel, int want, int ms)
{
    int64_t end = it_now_ms() + ms;
    int v;
    while ((v = fc_exists(s, rel)) != want && it_now_ms() < end) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return v;
}

char *fc_read(const struct it_server *s, const char *rel, size_t max, size_t *n)
{
    FILE *f = fopen(it_sprintf("%s/storage/%s", s->data_dir, rel), "rb");
    if (!f)
        return NULL;
    char *buf = it_alloc(max + 1);
    *n = fread(buf, 1, max, f);
    fclose(f);
    return buf;
}
