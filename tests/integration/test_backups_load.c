/*
 * A backup does not freeze writes, and holds every acknowledged write.
 * The database is padded (SH_BACKUP_PAD_MB, default 96 MiB of random blobs,
 * so that the archive takes seconds to make; bench/backup-load.sh runs this
 * with 1024), then CONNS connections keep WINDOW creates each in flight:
 * creates/s over a quiet stretch is compared with creates/s while
 * POST /api/backups runs (the figure is printed; the ratio is a benchmark's,
 * bench/backup-load.sh, not asserted here on a shared machine). What is
 * asserted: writes go on during the backup — no pause between two
 * acknowledgements lasts half the backup (a backup that held the write lock
 * would stop them all), and a superuser's /api/health says canBackup false
 * while it runs and true before and after. Then the archive is restored into a
 * fresh directory with `stagehand backup restore`: it passes
 * integrity_check, holds every record whose 200 arrived before the backup
 * request was sent, and a server started on it serves them.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "test_auth_client.h"

#define CONNS    16
#define WINDOW   8
#define QUIET_MS 3000

static const char schema[] = "[{'name':'ledger','type':'base','fields':["
                             "{'name':'i','type':'number'}],"
                             "'listRule':'','viewRule':'','createRule':'','updateRule':'',"
                             "'deleteRule':''}]";

struct load {
    struct it_conn *c[CONNS];
    int inflight[CONNS];
    char **ids;
    size_t n, cap;
    int next;
    int64_t last_ack_ms, max_gap_ms; /* the longest pause between acknowledgements */
};

static void send_one(struct load *l, int k)
{
    char *body = it_sprintf("{\"i\":%d}", l->next++);
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "POST /api/collections/ledger/records HTTP/1.1\r\nHost: t\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    assert_int_equal(it_conn_send(l->c[k], req, (size_t)n, 5000), IT_OK);
    l->inflight[k]++;
}

static void ack(struct load *l, const char *id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        char **v = it_alloc(cap * sizeof(*v));
        if (l->n)
            memcpy(v, l->ids, l->n * sizeof(*v));
        l->ids = v;
        l->cap = cap;
    }
    l->ids[l->n++] = it_strdup(id);
    int64_t now = it_now_ms();
    if (l->last_ack_ms && now - l->last_ack_ms > l->max_gap_ms)
        l->max_gap_ms = now - l->last_ack_ms;
    l->last_ack_ms = now;
}

/* One poll round: takes the answers that came and sends as many creates. */
static void step(struct load *l, int timeout_ms)
{
    struct pollfd p[CONNS];
    for (int k = 0; k < CONNS; k++)
        p[k] = (struct pollfd){.fd = l->c[k]->fd, .events = POLLIN};
    assert_true(poll(p, CONNS, timeout_ms) >= 0);
    for (int k = 0; k < CONNS; k++) {
        if (!p[k].revents || it_conn_fill(l->c[k], 0) <= 0)
            continue;
        struct it_resp *r;
        while (it_conn_pending(l->c[k]) && (r = it_conn_read(l->c[k], 0, 0)) != NULL) {
            if (r->status != 200)
                fail_msg("create answered %d: %s", r->status, r->body);
            cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
            assert_true(cJSON_IsString(id));
            ack(l, id->valuestring);
            cJSON_Delete(j);
            l->inflight[k]--;
            send_one(l, k);
        }
    }
}

static void pad(const char *data_dir, int mb)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(it_sprintf("%s/data.db", data_dir), &db), SQLITE_OK);
    char *sql = it_sprintf("CREATE TABLE pad(b BLOB);"
                           "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c "
                           "WHERE x < %d) INSERT INTO pad SELECT randomblob(65536) FROM c;",
                           mb * 16);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("padding: %s", err);
    sqlite3_close(db);
}

/* health's canBackup for a superuser (1, 0; -1: absent). */
static int can_backup(struct it_conn *c, const char *su)
{
    struct rc_resp *r = ac_req(c, "GET", "/api/health", su, NULL);
    assert_int_equal(r->status, 200);
    const cJSON *v = rc_get(rc_get(r->json, "data"), "canBackup");
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void test_backup_under_write_load(void **state)
{
    (void)state;
    const char *env = getenv("SH_BACKUP_PAD_MB");
    int mb = env && atoi(env) > 0 ? atoi(env) : 96;
    int64_t max_ms = 120000 + (int64_t)mb * 1000; /* the pace: 32 MiB/s, read twice */
    struct it_server *s = it_server_new();
    assert_non_null(s);
    assert_int_equal(rc_import(s, "schema.json", rc_q(schema)), 0);
    ac_superuser(s, "root@example.com", "root password 1");
    int64_t t = it_now_ms();
    pad(s->data_dir, mb);
    it_note("padded data.db with %d MiB in %lld ms", mb, (long long)(it_now_ms() - t));
    assert_int_equal(it_server_run(s, (const char *const[]){"--rate-limit-auth", "off", NULL}), 0);
    struct it_conn *admin = it_conn_open_or_fail(s);
    const char *su = ac_login(admin, "_superusers", "root@example.com", "root password 1", NULL);
    struct it_conn *watcher = it_conn_open_or_fail(s);
    assert_int_equal(can_backup(watcher, su), 1);

    struct load l = {0};
    for (int k = 0; k < CONNS; k++) {
        l.c[k] = it_conn_open_or_fail(s);
        for (int i = 0; i < WINDOW; i++)
            send_one(&l, k);
    }
    /* warm up, then the quiet stretch */
    for (int64_t end = it_now_ms() + 500; it_now_ms() < end;)
        step(&l, 50);
    size_t n0 = l.n;
    int64_t t0 = it_now_ms();
    while (it_now_ms() - t0 < QUIET_MS)
        step(&l, 50);
    double quiet = (double)(l.n - n0) * 1000.0 / (double)(it_now_ms() - t0);

    /* Every record acknowledged before the request is sent must be in it. */
    size_t before = l.n;
    char **acked = it_alloc(before * sizeof(*acked));
    memcpy(acked, l.ids, before * sizeof(*acked));
    const char *req = it_sprintf("POST /api/backups HTTP/1.1\r\nHost: t\r\nAuthorization: %s\r\n"
                                 "Content-Type: application/json\r\nContent-Length: 21\r\n\r\n"
                                 "{\"name\":\"load.zip\"}  ",
                                 su);
    int64_t t1 = it_now_ms();
    assert_int_equal(it_conn_sends(admin, req), IT_OK);
    size_t n1 = l.n;
    l.last_ack_ms = t1;
    l.max_gap_ms = 0;
    struct it_resp *done = NULL;
    bool busy_seen = false;
    while (!done) {
        step(&l, 20);
        if (!busy_seen)
            busy_seen = can_backup(watcher, su) == 0;
        if (it_conn_fill(admin, 0) > 0 || it_conn_pending(admin))
            done = it_conn_read(admin, 0, 0);
        if (it_now_ms() - t1 > max_ms)
            fail_msg("the backup took more than %lld ms", (long long)max_ms);
    }
    int64_t took = it_now_ms() - t1;
    if (took - (l.last_ack_ms - t1) > l.max_gap_ms) /* the pause before the answer */
        l.max_gap_ms = took - (l.last_ack_ms - t1);
    double during = (double)(l.n - n1) * 1000.0 / (double)(took > 0 ? took : 1);
    assert_int_equal(done->status, 204);
    if (!busy_seen)
        fail_msg("health never said canBackup false during a %lld ms backup", (long long)took);
    assert_int_equal(can_backup(watcher, su), 1);
    it_conn_close(watcher);
    it_note("creates/s: %.0f without a backup, %.0f during it (%.0f%%); backup of %d MiB took "
            "%lld ms; longest pause between acknowledgements %lld ms",
            quiet, during, 100.0 * during / quiet, mb, (long long)took, (long long)l.max_gap_ms);
    assert_true(l.n > n1); /* writes were acknowledged during the backup */
    if (took < 2 * IT_SLOW(1000))
        it_note("the backup was too quick to judge pauses against it");
    else if (l.max_gap_ms > took / 2)
        fail_msg("writes paused %lld ms of a %lld ms backup", (long long)l.max_gap_ms,
                 (long long)took);
    for (int k = 0; k < CONNS; k++)
        it_conn_abort(l.c[k]);
    it_conn_close(admin);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);

    /* Restore into a fresh directory. */
    struct it_server *f = it_server_new();
    assert_non_null(f);
    assert_int_equal(mkdir(f->data_dir, 0700), 0);
    assert_int_equal(mkdir(it_sprintf("%s/backups", f->data_dir), 0700), 0);
    assert_int_equal(link(it_sprintf("%s/backups/load.zip", s->data_dir),
                          it_sprintf("%s/backups/load.zip", f->data_dir)),
                     0);
    char *out = NULL, *err = NULL;
    int rc = ac_run(&out, &err, "backup", "restore", "load.zip", "--dir", f->data_dir, NULL);
    if (rc != 0)
        fail_msg("restore: %s", err);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(it_sprintf("%s/data.db", f->data_dir), &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT id FROM ledger", -1, &st, NULL), SQLITE_OK);
    size_t have_n = 0, have_cap = l.n + 16;
    char **have = it_alloc(have_cap * sizeof(*have));
    while (sqlite3_step(st) == SQLITE_ROW && have_n < have_cap)
        have[have_n++] = it_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    qsort(have, have_n, sizeof(*have), cmp_str);
    size_t missing = 0;
    for (size_t i = 0; i < before; i++)
        if (!bsearch(&acked[i], have, have_n, sizeof(*have), cmp_str))
            missing++;
    it_note("restored: %zu records; %zu acknowledged before the backup began, %zu missing", have_n,
            before, missing);
    assert_int_equal(missing, 0);
    assert_true(have_n >= before && have_n <= l.n);
    assert_int_equal(it_server_run(f, NULL), 0);
    struct it_conn *c = it_conn_open_or_fail(f);
    struct rc_resp *r = rc_req(c, "GET", "/api/collections/ledger/records?perPage=1", NULL);
    assert_int_equal((size_t)rc_num(rc_ok(r, 200), "totalItems"), have_n);
    it_conn_close(c);
    assert_int_equal(it_server_stop(f, IT_MS_STOP), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_backup_under_write_load),
    };
    return cmocka_run_group_tests_name("backups_load", tests, NULL, NULL);
}
