/*
 * Atomicity of batches under SIGKILL: 16 connections keep sending batches of
 * 10 creates (pipelined, so the writer groups several batches in one
 * transaction), the server is killed in the middle, and after a restart
 * every batch is there whole or not at all (each batch's records share a
 * tag: every tag counts 10), every acknowledged batch is there, and the
 * database passes PRAGMA integrity_check. Several rounds on one data folder,
 * at synchronous=FULL (the default).
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "test_records_client.h"

#define WRITERS  16
#define PIPELINE 12 /* batches queued per connection per round */
#define SIZE     10 /* creates per batch */
#define ROUNDS   4
#define KILL_AT  40 /* batches acknowledged before the kill */

static const char schema[] = "[{'name':'ledger','type':'base','fields':["
                             "{'name':'tag','type':'text'},{'name':'i','type':'number'}],"
                             "'listRule':'','viewRule':'','createRule':'','updateRule':'',"
                             "'deleteRule':''}]";

struct acked {
    char **tags;
    size_t n, cap;
};

static void ack(struct acked *a, const char *tag)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        char **v = it_alloc(cap * sizeof(*v));
        if (a->n)
            memcpy(v, a->tags, a->n * sizeof(*v));
        a->tags = v;
        a->cap = cap;
    }
    a->tags[a->n++] = it_strdup(tag);
}

/* Takes every complete answer buffered on c: each a 200 with SIZE items of
 * one tag. Returns how many. */
static int drain(struct it_conn *c, struct acked *a)
{
    int got = 0;
    struct it_resp *r;
    while (it_conn_pending(c) && (r = it_conn_read(c, 0, 0)) != NULL) {
        if (r->status != 200)
            fail_msg("batch answered %d: %s", r->status, r->body);
        cJSON *j = rc_track(cJSON_ParseWithLength(r->body, r->body_len));
        assert_int_equal(cJSON_GetArraySize(j), SIZE);
        ack(a, rc_str(rc_get(cJSON_GetArrayItem(j, 0), "body"), "tag"));
        got++;
    }
    return got;
}

static char *batch_body(const char *tag)
{
    char *b = it_strdup("{\"requests\":[");
    for (int i = 0; i < SIZE; i++)
        b = it_sprintf("%s%s{\"method\":\"POST\",\"url\":\"/api/collections/ledger/records\","
                       "\"body\":{\"tag\":\"%s\",\"i\":%d}}",
                       b, i ? "," : "", tag, i);
    return it_sprintf("%s]}", b);
}

static void one_round(struct it_server *s, int round, struct acked *a)
{
    struct it_conn *c[WRITERS];
    for (int k = 0; k < WRITERS; k++) {
        c[k] = it_conn_open(s);
        assert_non_null(c[k]);
    }
    for (int k = 0; k < WRITERS; k++) {
        char *all = it_strdup("");
        for (int p = 0; p < PIPELINE; p++) {
            char *body = batch_body(it_sprintf("r%dc%dp%d", round, k, p));
            all = it_sprintf("%sPOST /api/batch HTTP/1.1\r\nHost: t\r\n"
                             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                             all, strlen(body), body);
        }
        assert_int_equal(it_conn_send(c[k], all, strlen(all), 10000), IT_OK);
    }
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
    for (int k = 0; k < WRITERS; k++) {
        it_conn_read_to_eof(c[k], 2000);
        drain(c[k], a);
        it_conn_abort(c[k]);
    }
    it_note("round %d: %zu batches acknowledged before and around SIGKILL", round, a->n - before);
}

/* Checks data.db directly: integrity, every tag whole, every acked tag
 * there. Returns the number of batches stored. */
static size_t check_store(const char *data_dir, const struct acked *a)
{
    sqlite3 *db = NULL;
    char *path = it_sprintf("%s/data.db", data_dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        fail_msg("integrity_check: %s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT tag, COUNT(*), COUNT(DISTINCT i) FROM ledger "
                                        "GROUP BY tag",
                                        -1, &st, NULL),
                     SQLITE_OK);
    size_t batches = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_int(st, 1) != SIZE || sqlite3_column_int(st, 2) != SIZE)
            fail_msg("batch %s stored %d of its %d records", sqlite3_column_text(st, 0),
                     sqlite3_column_int(st, 1), SIZE);
        batches++;
    }
    sqlite3_finalize(st);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM ledger WHERE tag = ?", -1, &st, NULL),
        SQLITE_OK);
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_bind_text(st, 1, a->tags[i], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        if (sqlite3_column_int(st, 0) != SIZE)
            fail_msg("acknowledged batch %s: %d records stored", a->tags[i],
                     sqlite3_column_int(st, 0));
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return batches;
}

static void test_batch_atomic_kill9(void **state)
{
    (void)state;
    it_scope_begin();
    struct it_server *s = rc_server(rc_q(schema), NULL);
    assert_non_null(s);
    struct acked a = {0};
    for (int round = 0; round < ROUNDS; round++) {
        one_round(s, round, &a);
        size_t stored = check_store(s->data_dir, &a);
        it_note("round %d: %zu batches stored whole, %zu acknowledged", round, stored, a.n);
        assert_true(stored >= a.n);
        assert_int_equal(it_server_run(s, NULL), 0);
        /* and the server serves on */
        struct it_conn *c = it_conn_open_or_fail(s);
        struct rc_resp *r =
            rc_req(c, "POST", "/api/batch", batch_body(it_sprintf("after%d", round)));
        assert_int_equal(r->status, 200);
        ack(&a, it_sprintf("after%d", round));
        it_conn_close(c);
    }
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    check_store(s->data_dir, &a);
    rc_free_all();
    it_scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_batch_atomic_kill9),
    };
    return cmocka_run_group_tests_name("batch_durability", tests, NULL, NULL);
}
