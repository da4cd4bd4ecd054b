/*
 * Durability of acknowledged uploads: 16 connections keep creating records
 * with a file each (multipart, pipelined, files of 1..8 KiB with bytes
 * that name their request), the server is killed with SIGKILL in the
 * middle, and after a restart (with --orphan-min-age 0, so the start-up
 * sweep judges every file): every record whose 200 reached the client is
 * there and serves its file with the bytes sent; every stored record's
 * files are on disk (acknowledged or not: nothing committed names a
 * missing file); and no file or folder in storage is left that no record
 * names, nor anything in storage/.tmp. Several rounds on the same data
 * folder, at synchronous=FULL (the default).
 */
#include <dirent.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_files_client.h"

#define WRITERS  16
#define PIPELINE 24 /* requests queued per connection per round */
#define ROUNDS   3
#define KILL_AT  60 /* acknowledgements seen before the kill */

static const char schema[] = "[{'name':'docs','type':'base','fields':["
                             "{'name':'t','type':'text'},"
                             "{'name':'f','type':'file','maxSelect':1,'maxSize':100000}],"
                             "'listRule':'','viewRule':'','createRule':'','updateRule':'',"
                             "'deleteRule':''}]";

static const char *const server_args[] = {"--orphan-min-age", "0", NULL};

struct ack {
    char *id, *name;
    int round, k, i;
};

struct acked {
    struct ack *v;
    size_t n, cap;
};

/* The bytes of request (round, k, i): its name, then filler; *n long. */
static char *content(int round, int k, int i, size_t *n)
{
    *n = 1024 * (size_t)(1 + (k * 31 + i * 17 + round) % 8);
    char *b = it_alloc(*n);
    int h = snprintf(b, *n, "r%d-k%d-i%d:", round, k, i);
    for (size_t x = (size_t)h; x < *n; x++)
        b[x] = (char)('a' + (x * 7 + (size_t)i) % 26);
    return b;
}

static char *request(int round, int k, int i, size_t *len)
{
    size_t n;
    char *data = content(round, k, i, &n);
    char *pre = it_sprintf("--" FC_BOUNDARY "\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n"
                           "r%d\r\n--" FC_BOUNDARY "\r\nContent-Disposition: form-data; "
                           "name=\"f\"; filename=\"up%d-%d.bin\"\r\n\r\n",
                           round, k, i);
    const char *post = "\r\n--" FC_BOUNDARY "--\r\n";
    size_t blen = strlen(pre) + n + strlen(post);
    char *head = it_sprintf("POST /api/collections/docs/records HTTP/1.1\r\nHost: t\r\n"
                            "Content-Type: multipart/form-data; boundary=" FC_BOUNDARY "\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            blen);
    *len = strlen(head) + blen;
    char *r = it_alloc(*len);
    char *p = r;
    memcpy(p, head, strlen(head));
    p += strlen(head);
    memcpy(p, pre, strlen(pre));
    p += strlen(pre);
    memcpy(p, data, n);
    p += n;
    memcpy(p, post, strlen(post));
    return r;
}

/* Takes every complete response buffered on connection k (its requests are
 * answered in order: *next is the index of the next one). */
static void drain(struct it_conn *c, struct acked *a, int round, int k, int *next)
{
    struct it_resp *r;
    while (it_conn_pending(c) && (r = it_conn_read(c, 0, 0)) != NULL) {
        if (r->status != 200)
            fail_msg("create answered %d: %.*s", r->status, (int)r->body_len, r->body);
        cJSON *j = rc_track(cJSON_ParseWithLength(r->body, r->body_len));
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 256;
            struct ack *v = it_alloc(cap * sizeof(*v));
            if (a->n)
                memcpy(v, a->v, a->n * sizeof(*v));
            a->v = v;
            a->cap = cap;
        }
        a->v[a->n++] = (struct ack){it_strdup(rc_str(j, "id")), it_strdup(rc_str(j, "f")), round, k,
                                    (*next)++};
    }
}

static void one_round(struct it_server *s, int round, struct acked *a)
{
    struct it_conn *c[WRITERS];
    int next[WRITERS] = {0};
    for (int k = 0; k < WRITERS; k++) {
        c[k] = it_conn_open(s);
        assert_non_null(c[k]);
    }
    for (int k = 0; k < WRITERS; k++)
        for (int i = 0; i < PIPELINE; i++) {
            size_t len;
            char *req = request(round, k, i, &len);
            assert_int_equal(it_conn_send(c[k], req, len, 10000), IT_OK);
        }
    size_t before = a->n;
    int64_t deadline = it_now_ms() + 60000;
    while (a->n - before < KILL_AT) {
        struct pollfd p[WRITERS];
        for (int k = 0; k < WRITERS; k++)
            p[k] = (struct pollfd){.fd = c[k]->fd, .events = POLLIN};
        assert_true(poll(p, WRITERS, 1000) >= 0);
        for (int k = 0; k < WRITERS; k++)
            if (p[k].revents && it_conn_fill(c[k], 0) > 0)
                drain(c[k], a, round, k, &next[k]);
        assert_true(it_now_ms() < deadline);
    }
    it_server_kill(s);
    for (int k = 0; k < WRITERS; k++) { /* answers written before the kill count too */
        it_conn_read_to_eof(c[k], 2000);
        drain(c[k], a, round, k, &next[k]);
        it_conn_abort(c[k]);
    }
    it_note("round %d: %zu acknowledged before and around SIGKILL", round, a->n - before);
}

/* Every stored record: id -> its file name (JSON object). */
static cJSON *stored(struct it_conn *c)
{
    cJSON *all = rc_track(cJSON_CreateObject());
    for (int page = 1;; page++) {
        struct rc_resp *r = rc_req(
            c, "GET",
            it_sprintf("/api/collections/docs/records?perPage=500&page=%d&skipTotal=1&fields=id,f",
                       page),
            NULL);
        assert_int_equal(r->status, 200);
        const cJSON *items = rc_get(r->json, "items"), *e;
        cJSON_ArrayForEach(e, items) {
            cJSON_AddStringToObject(all, rc_str(e, "id"), rc_str(e, "f"));
        }
        if (cJSON_GetArraySize(items) < 500)
            break;
    }
    return all;
}

/* Disk and database agree: each record's file is on disk, each folder is a
 * record's and holds only its file. Returns the records counted. */
static int storage_matches(const struct it_server *s, const char *cid, const cJSON *recs)
{
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, recs) {
        n++;
        if (e->valuestring[0] &&
            !fc_exists(s, it_sprintf("%s/%s/%s", cid, e->string, e->valuestring)))
            fail_msg("record %s names %s, not on disk", e->string, e->valuestring);
    }
    DIR *d = opendir(it_sprintf("%s/storage/%s", s->data_dir, cid));
    assert_non_null(d);
    for (struct dirent *x; (x = readdir(d));) {
        if (x->d_name[0] == '.')
            continue;
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(recs, x->d_name);
        if (!r)
            fail_msg("folder %s: no such record (an orphan kept)", x->d_name);
        int files = fc_count(s, it_sprintf("%s/%s", cid, x->d_name));
        if (files != (r->valuestring[0] ? 1 : 0))
            fail_msg("folder %s holds %d files, its record names %s", x->d_name, files,
                     r->valuestring);
    }
    closedir(d);
    assert_int_equal(fc_count(s, ".tmp") > 0 ? fc_count(s, ".tmp") : 0, 0);
    return n;
}

static void test_uploads_survive_kill9(void **state)
{
    (void)state;
    it_scope_begin();
    struct it_server *s = rc_server(rc_q(schema), "--orphan-min-age", "0", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    assert_non_null(c);
    ac_superuser(s, "root@example.com", "root password");
    const char *tsu = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    char *cid = it_strdup(rc_str(ac_req(c, "GET", "/api/collections/docs", tsu, NULL)->json, "id"));
    it_conn_close(c);
    struct acked a = {0};
    for (int round = 0; round < ROUNDS; round++) {
        one_round(s, round, &a);
        assert_int_equal(it_server_run(s, server_args), 0);
        it_note("round %d: the start-up sweep %s", round,
                it_server_wait_log(s, "unreferenced stored files", 0) ? "removed orphans"
                                                                      : "found no orphan");
        c = it_conn_open(s);
        assert_non_null(c);
        for (size_t i = 0; i < a.n; i++) { /* every acknowledged upload, byte for byte */
            const struct ack *x = &a.v[i];
            size_t n;
            char *want = content(x->round, x->k, x->i, &n);
            struct rc_resp *r =
                rc_req(c, "GET", it_sprintf("/api/files/docs/%s/%s", x->id, x->name), NULL);
            if (r->status != 200)
                fail_msg("acknowledged %s/%s answered %d", x->id, x->name, r->status);
            assert_int_equal(r->raw->body_len, n);
            assert_memory_equal(r->raw->body, want, n);
        }
        cJSON *recs = stored(c);
        int n = storage_matches(s, cid, recs);
        it_note("round %d: %d stored, %zu acknowledged, all served; storage matches", round, n,
                a.n);
        assert_true((size_t)n >= a.n);
        it_conn_close(c);
    }
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    rc_free_all();
    it_scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_uploads_survive_kill9),
    };
    return cmocka_run_group_tests_name("files_durability", tests, NULL, NULL);
}
