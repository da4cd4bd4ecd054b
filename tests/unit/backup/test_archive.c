/*
 * The backup module on a real folder and database: the key rules (no path,
 * no dot segments, .zip), the default key's format, create (a ZIP holding
 * data.db and storage/, no temporary file left, a conflict refused),
 * list/delete/prune, the sweep of stale temporary files, cancellation, and
 * restore: a corrupt archive and one escaping the folder refused with the
 * old data untouched, a valid one swapped in.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>
#include <zip.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "stagehand/backup.h"
#include "stagehand/core.h"

static char dir[256];

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void exec_db(const char *sql)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/data.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int count_rows(void)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/data.db", dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sh-backup-unit-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    exec_db("PRAGMA journal_mode=WAL; CREATE TABLE _migrations(v); CREATE TABLE _collections(x);"
            "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");
    char p[512];
    snprintf(p, sizeof(p), "%s/storage", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/storage/c1", dir);
    mkdir(p, 0700);
    put("storage/c1/file.txt", "hello");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_backup_keys(void **state)
{
    (void)state;
    assert_true(sh_backup_key_valid("a.zip"));
    assert_true(sh_backup_key_valid("@auto_pb_backup_20260102030405.zip"));
    assert_true(sh_backup_key_valid("My.Backup-1.zip"));
    static const char *const bad[] = {"",        ".zip",     "a.zi",   "../a.zip",
                                      "a/b.zip", ".a.zip",   "a..zip", "a.ZIP",
                                      "a b.zip", "a\\b.zip", "a.zip/", "%2e.zip"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(sh_backup_key_valid(bad[i]));
    assert_true(sh_backup_name_valid("my_backup-1.zip"));
    assert_false(sh_backup_name_valid("My.zip"));
    assert_false(sh_backup_name_valid("a.b.zip"));
    char key[64];
    sh_backup_key_default(key, sizeof(key), "", 1767323045); /* 2026-01-02 03:04:05 UTC */
    assert_string_equal(key, "pb_backup_20260102030405.zip");
    sh_backup_key_default(key, sizeof(key), "@auto_", 0);
    assert_string_equal(key, "@auto_pb_backup_19700101000000.zip");
}

static void test_backup_create_list_prune(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(sh_backup_create(dir, "one.zip", 0, 0, NULL, err, sizeof(err)), 0);
    assert_int_equal(sh_backup_create(dir, "one.zip", 0, 0, NULL, err, sizeof(err)), SH_ECONFLICT);
    assert_int_equal(sh_backup_create(dir, "../x.zip", 0, 0, NULL, err, sizeof(err)), SH_EINVAL);
    char p[512];
    snprintf(p, sizeof(p), "%s/backups/one.zip", dir);
    int zerr;
    zip_t *za = zip_open(p, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    assert_non_null(za);
    assert_true(zip_name_locate(za, "data.db", 0) >= 0);
    assert_true(zip_name_locate(za, "storage/c1/file.txt", 0) >= 0);
    assert_int_equal(zip_get_num_entries(za, 0), 2);
    zip_discard(za);
    snprintf(p, sizeof(p), "%s/backups/.tmp-one.zip", dir);
    assert_int_not_equal(access(p, F_OK), 0);

    /* a cancelled backup leaves nothing */
    atomic_int cancel;
    atomic_init(&cancel, 1);
    assert_int_equal(sh_backup_create(dir, "gone.zip", 0, 0, &cancel, err, sizeof(err)),
                     -ECANCELED);
    snprintf(p, sizeof(p), "%s/backups/gone.zip", dir);
    assert_int_not_equal(access(p, F_OK), 0);

    for (int i = 0; i < 3; i++) {
        char k[64];
        snprintf(k, sizeof(k), "@auto_%d.zip", i);
        assert_int_equal(sh_backup_create(dir, k, 0, 0, NULL, err, sizeof(err)), 0);
        snprintf(p, sizeof(p), "%s/backups/%s", dir, k);
        struct utimbuf t = {1000 + i, 1000 + i};
        utime(p, &t);
    }
    struct sh_backup_info *l;
    size_t n;
    assert_int_equal(sh_backup_list(dir, &l, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(l[0].key, "one.zip"); /* newest first */
    assert_true(l[0].size > 100);
    free(l);
    assert_int_equal(sh_backup_prune(dir, "@auto_", 1), 2);
    assert_int_equal(sh_backup_list(dir, &l, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(l[1].key, "@auto_2.zip");
    free(l);
    assert_int_equal(sh_backup_delete(dir, "one.zip"), 0);
    assert_int_equal(sh_backup_delete(dir, "one.zip"), SH_ENOTFOUND);
    assert_int_equal(sh_backup_delete(dir, "../data.db"), SH_EINVAL);

    put("backups/.tmp-old.zip", "x");
    put("backups/.tmp-new.zip", "x");
    snprintf(p, sizeof(p), "%s/backups/.tmp-old.zip", dir);
    struct utimbuf t = {1000, 1000};
    utime(p, &t);
    assert_int_equal(sh_backup_sweep_tmp(dir, 3600), 1);
    snprintf(p, sizeof(p), "%s/backups/.tmp-new.zip", dir);
    assert_int_equal(access(p, F_OK), 0);
}

static void test_backup_restore(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(sh_backup_create(dir, "snap.zip", 0, 0, NULL, err, sizeof(err)), 0);
    exec_db("INSERT INTO t VALUES (3)");
    put("storage/c1/file.txt", "changed");
    put("backups/bad.zip", "not a zip");
    assert_int_equal(sh_backup_restore_prepare(dir, "bad.zip", err, sizeof(err)), SH_EINVAL);
    assert_non_null(strstr(err, "not a valid ZIP"));
    assert_int_equal(sh_backup_restore_prepare(dir, "none.zip", err, sizeof(err)), SH_ENOTFOUND);
    char p[512];
    snprintf(p, sizeof(p), "%s/backups/escape.zip", dir);
    int zerr;
    zip_t *za = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    zip_file_add(za, "storage/../../evil", zip_source_buffer(za, "x", 1, 0), 0);
    assert_int_equal(zip_close(za), 0);
    assert_int_equal(sh_backup_restore_prepare(dir, "escape.zip", err, sizeof(err)), SH_EINVAL);
    assert_int_equal(sh_backup_restore_swap(dir, err, sizeof(err)), SH_EINVAL); /* none staged */
    assert_int_equal(count_rows(), 3);

    assert_int_equal(sh_backup_restore_prepare(dir, "snap.zip", err, sizeof(err)), 0);
    assert_int_equal(sh_backup_restore_swap(dir, err, sizeof(err)), 0);
    assert_int_equal(count_rows(), 2);
    snprintf(p, sizeof(p), "%s/storage/c1/file.txt", dir);
    FILE *f = fopen(p, "rb");
    char buf[16] = {0};
    assert_non_null(f);
    assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
    fclose(f);
    assert_string_equal(buf, "hello");
    snprintf(p, sizeof(p), "%s/.restore-old", dir);
    assert_int_not_equal(access(p, F_OK), 0);
    snprintf(p, sizeof(p), "%s/.restore-staging", dir);
    assert_int_not_equal(access(p, F_OK), 0);
}

int main(void)
{
    sh_log_min_level = SH_LOG_OFF;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_keys),
        cmocka_unit_test_setup_teardown(test_backup_create_list_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_restore, setup, teardown),
    };
    return cmocka_run_group_tests_name("backup", tests, NULL, NULL);
}
