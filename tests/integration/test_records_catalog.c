/*
 * The collection catalog (src/db/catalog.h) on a real loop and database,
 * without HTTP: loading at open, schema changes submitted from the loop as
 * writer jobs (create, migrate with data kept, delete) with the catalog
 * refreshed after the commit, a change computed against an outdated
 * snapshot refused with SH_ESTALE, a collection still referenced by a
 * relation refused for deletion, a change made on another connection (the
 * CLI's path) picked up by the 1 s poll, and snapshots outliving reloads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <uv.h>

#include "harness.h"
#include "stagehand/catalog.h"

struct env {
    uv_loop_t loop;
    char dir[64];
    struct sh_db *db;
    struct sh_catalog cat;
    int done, rc;
    struct sh_schema_error err;
};

static void saved(void *arg, int rc, const struct sh_schema_error *err)
{
    struct env *e = arg;
    e->done = 1;
    e->rc = rc;
    e->err = *err;
}

static void closed(void *arg, int rc)
{
    struct env *e = arg;
    e->done = 1;
    e->rc = rc;
}

static struct env *env_open(void)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    snprintf(e->dir, sizeof(e->dir), "/tmp/sh-catalog-test-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    assert_int_equal(uv_loop_init(&e->loop), 0);
    assert_int_equal(sh_db_open(&e->db, &e->loop, e->dir, NULL), 0);
    assert_int_equal(sh_catalog_open(&e->cat, &e->loop, e->db), 0);
    return e;
}

static void env_close(struct env *e)
{
    sh_catalog_close(&e->cat);
    e->done = 0;
    sh_db_close(e->db, closed, e);
    while (!e->done)
        uv_run(&e->loop, UV_RUN_ONCE);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    it_rmrf(e->dir);
    free(e);
}

static struct sh_collection *parse(struct env *e, const char *json, const struct sh_collection *old)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    struct sh_collection *c = NULL;
    struct sh_schema_error err;
    int rc = sh_collection_parse(j, old, &e->cat.snap->resolver, &c, &err);
    cJSON_Delete(j);
    if (rc)
        fail_msg("parse: %s", err.message);
    return c;
}

static int save(struct env *e, const struct sh_collection *old, struct sh_collection *next)
{
    e->done = 0;
    assert_int_equal(sh_catalog_save(&e->cat, old, next, saved, e), 0);
    while (!e->done)
        uv_run(&e->loop, UV_RUN_ONCE);
    return e->rc;
}

/* Writes through the CLI's path (another connection, as another process would). */
static int insert_fn(sqlite3 *wdb, void *arg)
{
    return sqlite3_exec(wdb, arg, NULL, NULL, NULL) == SQLITE_OK ? 0 : SH_EINTERNAL;
}

static int64_t count_rows(struct env *e, const char *table)
{
    sqlite3_stmt *st;
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM \"%s\"", table);
    assert_int_equal(sh_db_prepare(e->db, sql, &st), 0);
    assert_int_equal(sh_db_step(e->db, st), 1);
    int64_t n = sqlite3_column_int64(st, 0);
    sh_db_release(e->db, st);
    return n;
}

static void test_catalog_save_and_migrate(void **state)
{
    (void)state;
    struct env *e = env_open();
    assert_int_equal(e->cat.snap->n, 1); /* _superusers */

    assert_int_equal(save(e, NULL,
                          parse(e,
                                "{\"name\":\"notes\",\"fields\":[{\"name\":\"t\","
                                "\"type\":\"text\"},{\"name\":\"n\",\"type\":"
                                "\"number\"}]}",
                                NULL)),
                     0);
    const struct sh_collection *c = sh_catalog_find(&e->cat, "NOTES");
    assert_non_null(c);
    assert_non_null(sh_catalog_find(&e->cat, c->id));
    assert_null(sh_catalog_find(&e->cat, "other"));
    int64_t v1 = e->cat.snap->version;

    /* rows written meanwhile survive a migration (n: number -> text) */
    static char insert_sql[] = "INSERT INTO notes (id, t, n) VALUES ('aaaaaaaaaaaaaaa', 'x', 42)";
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, insert_fn, insert_sql), 0);
    struct sh_catalog_snap *held = sh_catalog_acquire(&e->cat);
    const struct sh_collection *old = sh_catalog_snap_find(held, "notes");
    assert_int_equal(save(e, old,
                          parse(e,
                                "{\"fields\":[{\"name\":\"t\",\"type\":\"text\"},"
                                "{\"name\":\"n\",\"type\":\"text\"}]}",
                                old)),
                     0);
    assert_true(e->cat.snap->version > v1);
    assert_true(e->cat.snap != held); /* reloaded; the held snapshot is still usable */
    assert_string_equal(sh_catalog_snap_find(held, "notes")->name, "notes");
    const struct sh_field *f = sh_collection_field(sh_catalog_find(&e->cat, "notes"), "n");
    assert_int_equal(f->kind, SH_FIELD_TEXT);
    assert_int_equal(count_rows(e, "notes"), 1);

    /* a change computed against the held (outdated) snapshot is refused */
    struct sh_catalog_snap *now = e->cat.snap;
    e->cat.snap = held; /* pretend the loop had not reloaded yet */
    int rc = save(e, old, parse(e, "{\"listRule\":\"\"}", old));
    e->cat.snap = now;
    assert_int_equal(rc, SH_ESTALE);
    sh_catalog_snap_free(held);

    /* delete: refused while a relation points at it, then done */
    c = sh_catalog_find(&e->cat, "notes");
    assert_int_equal(save(e, NULL,
                          parse(e,
                                "{\"name\":\"refs\",\"fields\":[{\"name\":\"r\","
                                "\"type\":\"relation\",\"collectionId\":\"notes\"}]}",
                                NULL)),
                     0);
    c = sh_catalog_find(&e->cat, "notes");
    struct sh_schema_error err;
    assert_int_equal(sh_catalog_check_delete(e->cat.snap, c, &err), SH_EINVAL);
    assert_non_null(strstr(err.message, "refs"));
    assert_int_equal(save(e, sh_catalog_find(&e->cat, "refs"), NULL), 0);
    c = sh_catalog_find(&e->cat, "notes");
    assert_int_equal(sh_catalog_check_delete(e->cat.snap, c, &err), 0);
    assert_int_equal(save(e, c, NULL), 0);
    assert_int_equal(e->cat.snap->n, 1); /* _superusers */
    env_close(e);
}

static void on_poll_timer(uv_timer_t *t)
{
    struct env *e = t->data;
    if (sh_catalog_find(&e->cat, "fromcli") || ++e->done > 300)
        uv_stop(&e->loop);
}

/* The schema imported by another connection shows up within a second. */
static int cli_create_fn(sqlite3 *wdb, void *arg)
{
    (void)arg;
    cJSON *j = cJSON_Parse("{\"name\":\"fromcli\",\"fields\":[]}");
    struct sh_collection *c = NULL;
    int rc = sh_collection_parse(j, NULL, NULL, &c, NULL);
    cJSON_Delete(j);
    if (rc == 0)
        rc = sh_catalog_apply(wdb, NULL, c, NULL);
    sh_collection_free(c);
    return rc;
}

static void test_catalog_poll(void **state)
{
    (void)state;
    struct env *e = env_open();
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, cli_create_fn, NULL), 0);
    int64_t t0 = it_now_ms();
    uv_timer_t t;
    uv_timer_init(&e->loop, &t);
    t.data = e;
    e->done = 0;
    uv_timer_start(&t, on_poll_timer, 10, 10);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    int64_t took = it_now_ms() - t0;
    assert_non_null(sh_catalog_find(&e->cat, "fromcli"));
    it_note("catalog saw the other connection's change after %lld ms", (long long)took);
    assert_true(took <= 1200);
    assert_int_equal(e->cat.reloads, 1);
    env_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_catalog_save_and_migrate),
        it_test(test_catalog_poll),
    };
    return cmocka_run_group_tests_name("records_catalog", tests, NULL, NULL);
}
