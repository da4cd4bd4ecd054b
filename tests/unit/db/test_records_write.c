/*
 * sh_rec_write_run's capture (records.h): with it, every write leaves the
 * row as committed in w.row (a create answered from its values or from the
 * row read back, an update, a delete as the record was before it), every
 * column, for the change events; without it, nothing. Runs real writes in
 * one transaction of the CLI's path (sh_db_run_exclusive) on a fresh data
 * directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "db_tmp.h"
#include "stagehand/catalog.h"
#include "stagehand/records.h"

static const char schema[] =
    "[{\"name\":\"notes\",\"type\":\"base\",\"fields\":[{\"name\":\"title\",\"type\":\"text\"},"
    "{\"name\":\"secret\",\"type\":\"text\",\"hidden\":true}],"
    "\"listRule\":\"\",\"viewRule\":\"\",\"createRule\":\"\",\"updateRule\":\"\","
    "\"deleteRule\":\"\"}]";

static int import_fn(sqlite3 *wdb, void *arg)
{
    (void)arg;
    struct sh_schema_error err;
    struct sh_catalog_snap *snap;
    int rc = sh_catalog_load(wdb, 0, &snap, &err);
    if (rc)
        return rc;
    cJSON *json = cJSON_Parse(schema);
    struct sh_collection **list = NULL;
    size_t n = 0;
    rc = sh_collection_import(json, &snap->resolver, &list, &n, &err);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = sh_catalog_apply(wdb, NULL, list[i], &err);
    sh_collection_list_free(list, n);
    sh_catalog_snap_free(snap);
    cJSON_Delete(json);
    return rc;
}

/* One write of op on notes (body JSON text, id) with capture and record_json;
 * returns the run's code, w left for the caller to check and deinit. */
static int run(sqlite3 *wdb, struct sh_catalog_snap *snap, struct sh_rec_write *w,
               enum sh_rec_op op, const char *body, const char *id, bool keep, bool json)
{
    memset(w, 0, sizeof(*w));
    w->op = op;
    w->snap = sh_catalog_snap_ref(snap);
    w->c = sh_catalog_snap_find(snap, "notes");
    w->body = body ? cJSON_Parse(body) : NULL;
    w->id = id ? strdup(id) : NULL;
    w->capture = keep;
    w->record_json = json;
    return sh_rec_write_run(wdb, w);
}

/* The captured value of column k as text (NULL when absent). */
static const char *str(const struct sh_rec_row *row, const char *k)
{
    for (int i = 0; row && i < row->n; i++)
        if (strcmp(row->names[i], k) == 0)
            return (const char *)sqlite3_value_text(row->vals[i]);
    return NULL;
}

static int writes_fn(sqlite3 *wdb, void *arg)
{
    (void)arg;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(wdb, "SELECT value FROM _meta WHERE key = 'schema_version'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t version = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    struct sh_schema_error err;
    struct sh_catalog_snap *snap;
    assert_int_equal(sh_catalog_load(wdb, version, &snap, &err), 0);
    struct sh_rec_write w;

    /* a create answered from its values: captured all the same */
    assert_int_equal(run(wdb, snap, &w, SH_REC_CREATE,
                         "{\"id\":\"keptrecord00001\",\"title\":\"a\",\"secret\":\"s\"}", NULL,
                         true, true),
                     0);
    assert_non_null(w.record_text);
    assert_non_null(w.row);
    assert_string_equal(str(w.row, "id"), "keptrecord00001");
    assert_string_equal(str(w.row, "title"), "a");
    assert_string_equal(str(w.row, "secret"), "s"); /* every column, hidden ones too */
    char *text = calloc(1, w.record_len + 1);       /* record_text has no NUL of its own */
    assert_non_null(text);
    memcpy(text, w.record_text, w.record_len);
    assert_non_null(strstr(text, "\"title\":\"a\""));
    assert_null(strstr(text, "\"secret\"")); /* the answer is the caller's */
    free(text);
    sh_rec_write_deinit(&w);

    /* without capture: nothing kept */
    assert_int_equal(run(wdb, snap, &w, SH_REC_CREATE, "{\"title\":\"b\"}", NULL, false, true), 0);
    assert_null(w.row);
    sh_rec_write_deinit(&w);

    /* an update: the values as committed */
    assert_int_equal(
        run(wdb, snap, &w, SH_REC_UPDATE, "{\"title\":\"a2\"}", "keptrecord00001", true, false), 0);
    assert_non_null(w.record);
    assert_string_equal(str(w.row, "title"), "a2");
    sh_rec_write_deinit(&w);

    /* a delete: the record as it was, read before the delete */
    assert_int_equal(run(wdb, snap, &w, SH_REC_DELETE, NULL, "keptrecord00001", true, false), 0);
    assert_string_equal(str(w.row, "title"), "a2");
    sh_rec_write_deinit(&w);
    assert_int_equal(run(wdb, snap, &w, SH_REC_DELETE, NULL, "keptrecord00001", true, false),
                     SH_ENOTFOUND);
    assert_null(w.row);
    sh_rec_write_deinit(&w);
    sh_catalog_snap_free(snap);
    return 0;
}

static void test_capture_row(void **state)
{
    (void)state;
    struct tmp_env *e = tmp_env_new();
    assert_non_null(e);
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, import_fn, NULL), 0);
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, writes_fn, NULL), 0);
    assert_int_equal(tmp_env_free(e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
