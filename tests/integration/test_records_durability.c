/*
 * Durability of acknowledged writes: 64 connections keep creating records
 * (pipelined, so the writer's group commit batches them), the server is
 * killed with SIGKILL in the middle, and after a restart every record whose
 * 200 reached the client is there, the database passes PRAGMA
 * integrity_check, and the server serves on. Several rounds on the same data
 * folder, at synchronous=FULL (the default).
 */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "test_records_client.h"

#define WRITERS  64
#define PIPELINE 40 /* requests queued per connection per round */
#define ROUNDS   5
#define KILL_AT  300 /* acknowledgements seen before the kill */

static const char schema[] = "[{'name':'ledger','type':'base','fields':["
                             "{'name':'i','type':'number'},{'name':'w','type':'number'}],"
                             "'listRule':'','viewRule':'','createRule':'','updateRule':'',"
                             "'deleteRule':''}]";

struct acked {
    char **ids;
    size_t n, cap;
};

static void ack(struct acked *a, const char *id)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        char **v = it_alloc(cap * sizeof(*v));
        if (a->n)
            memcpy(v, a->ids, a->n * sizeof(*v));
        a->ids = v;
        a->cap = cap;
    }
    a->ids[a->n++] = it_strdup(id);
}

/* Takes every complete response buffered on c; returns how many. */
static int drain(struct it_conn *c, struct acked *a)
{
    int got = 0;
    struct it_resp *r;
    while (it_conn_pending(c) && (r = it_conn_read(c, 0, 0)) != NULL) {
        if (r->status != 200)
            fail_msg("create answered %d: %s", r->status, r->body);
        cJSON *j = rc_track(cJSON_ParseWithLength(r->body, r->body_len));
        ack(a, rc_str(j, "id"));
        got++;
    }
    return got;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void integrity_ok(const char *data_dir)
{
    sqlite3 *db = NULL;
    char *path = it_sprintf("%s/data.db", data_dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *res = (const char *)sqlite3_column_text(st, 0);
    if (strcmp(res, "ok") != 0)
        fail_msg("integrity_check: %s", res);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Every stored id, sorted. */
static char **stored_ids(const struct it_server *s, size_t *n)
{
    struct it_conn *c = it_conn_open(s);
    assert_non_null(c);
    struct acked all = {0};
    for (int page = 1;; page++) {
        struct rc_resp *r = rc_req(
            c, "GET",
            it_sprintf("/api/collections/ledger/records?perPage=1000&page=%d&skipTotal=1&fields=id",
                       page),
            NULL);
        assert_int_equal(r->status, 200);
        const cJSON *items = rc_get(r->json, "items"), *e;
        cJSON_ArrayForEach(e, items) {
            ack(&all, rc_str(e, "id"));
        }
        if (cJSON_GetArraySize(items) < 1000)
            break;
    }
    it_conn_close(c);
    qsort(all.ids, all.n, sizeof(*all.ids), cmp_str);
    *n = all.n;
    return all.ids;
}

static void one_round(struct it_server *s, int round, struct acked *a)
{
    struct it_conn *c[WRITERS];
    for (int k = 0; k < WRITERS; k++) {
        c[k] = it_conn_open(s);
        assert_non_null(c[k]);
    }
    for (int k = 0; k < WRITERS; k++) {
        char *batch = it_strdup("");
        for (int i = 0; i < PIPELINE; i++) {
            char *body = it_sprintf("{\"i\":%d,\"w\":%d}", round * 100000 + k * 1000 + i, k);
            batch = it_sprintf("%sPOST /api/collections/ledger/records HTTP/1.1\r\nHost: t\r\n"
                               "Content-Length: %zu\r\n\r\n%s",
                               batch, strlen(body), body);
        }
        assert_int_equal(it_conn_send(c[k], batch, strlen(batch), 10000), IT_OK);
    }
    /* Collect acknowledgements until KILL_AT, then kill mid-stream. */
    size_t before = a->n;
    int64_t deadline = it_now_ms() + 30000;
    while (a->n - before < KILL_AT) {
        struct pollfd p[WRITERS];
        for (int k = 0; k < WRITERS; k++)
            p[k] = (struct pollfd){.fd = c[k]->fd, .events = POLLIN};
        assert_true(poll(p, WRITERS, 1000) >= 0);
        for (int k = 0; k < WRITERS; k++)
            if (p[k].revents && it_conn_fill(c[k], 0) > 0)
                drain(c[k], a);
        assert_true(it_now_ms() < deadline);
    }
    it_server_kill(s);
    /* What the server wrote before dying still arrives: those were
     * acknowledged too. */
    for (int k = 0; k < WRITERS; k++) {
        it_conn_read_to_eof(c[k], 2000);
        drain(c[k], a);
        it_conn_abort(c[k]);
    }
    it_note("round %d: %zu acknowledged before and around SIGKILL", round, a->n - before);
}

static void test_durability_kill9(void **state)
{
    (void)state;
    it_scope_begin();
    struct it_server *s = rc_server(rc_q(schema), NULL);
    assert_non_null(s);
    struct acked a = {0};
    for (int round = 0; round < ROUNDS; round++) {
        one_round(s, round, &a);
        integrity_ok(s->data_dir);
        assert_int_equal(it_server_run(s, NULL), 0);
        size_t n = 0;
        char **have = stored_ids(s, &n);
        size_t missing = 0;
        for (size_t i = 0; i < a.n; i++)
            if (!bsearch(&a.ids[i], have, n, sizeof(*have), cmp_str))
                missing++;
        it_note("round %d: %zu stored, %zu acknowledged, %zu missing", round, n, a.n, missing);
        assert_int_equal(missing, 0);
        assert_true(n >= a.n);
    }
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    integrity_ok(s->data_dir);
    rc_free_all();
    it_scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_durability_kill9),
    };
    return cmocka_run_group_tests_name("records_durability", tests, NULL, NULL);
}
