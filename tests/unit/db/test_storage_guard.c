/*
 * Unit tests of what guards the storage from misuse: names a collection,
 * field or index may not take (SQLite's own, stagehand's internal tables,
 * the rowid aliases), an existing data.db that is not a database (empty,
 * without or with a damaged header) refused before SQLite sees it, the data
 * directory's lock, and the codes a locked or full database maps to.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "db_tmp.h"
#include "stagehand/schema.h"

/* ---- names ---- */

static struct sh_schema_error refused(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    struct sh_collection *c = NULL;
    struct sh_schema_error err;
    memset(&err, 0, sizeof(err));
    int rc = sh_collection_parse(j, NULL, NULL, &c, &err);
    cJSON_Delete(j);
    if (rc == 0) {
        sh_collection_free(c);
        fail_msg("accepted %s", json);
    }
    assert_int_equal(rc, SH_EINVAL);
    return err;
}

static void test_names_collection_reserved(void **state)
{
    (void)state;
    static const char *const names[] = {
        "sqlite_x", "SQLITE_master", "Sqlite_sequence", "sqlite_",    "_collections",
        "_META",    "_migrations",   "_Sessions",       "_tmp_posts", "_TMP_x",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char json[200];
        /* system: true, so that the "_" prefix itself is allowed */
        snprintf(json, sizeof(json), "{\"name\":\"%s\",\"system\":true}", names[i]);
        struct sh_schema_error err = refused(json);
        if (strcmp(err.key, "name") != 0 || !strstr(err.message, "reserved"))
            fail_msg("%s: key %s, message %s", names[i], err.key, err.message);
    }
    /* What stays allowed: PocketBase's own system collection, and names that
     * only contain the reserved words. */
    static const char *const ok[] = {"{\"name\":\"_superusers\",\"system\":true,\"type\":\"auth\"}",
                                     "{\"name\":\"mysqlite_x\"}", "{\"name\":\"meta\"}",
                                     "{\"name\":\"tmp_posts\"}"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cJSON *j = cJSON_Parse(ok[i]);
        struct sh_collection *c = NULL;
        struct sh_schema_error err;
        if (sh_collection_parse(j, NULL, NULL, &c, &err) != 0)
            fail_msg("%s refused: %s", ok[i], err.message);
        sh_collection_free(c);
        cJSON_Delete(j);
    }
}

static void test_names_field_reserved(void **state)
{
    (void)state;
    static const char *const names[] = {"rowid", "ROWID", "oid", "Oid", "_rowid_", "_ROWID_"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char json[200];
        snprintf(json, sizeof(json),
                 "{\"name\":\"p\",\"fields\":[{\"name\":\"%s\",\"type\":\"text\"}]}", names[i]);
        struct sh_schema_error err = refused(json);
        if (strcmp(err.key, "fields") != 0 || strcmp(err.field, names[i]) != 0 ||
            !strstr(err.message, "reserved"))
            fail_msg("%s: key %s field %s message %s", names[i], err.key, err.field, err.message);
    }
    /* System fields collide by name, in any case (a text "Id" was taken for
     * the primary key, stored, and then failed to load). */
    static const char *const sys[] = {"ID", "Created", "updated", "Id\",\"type\":\"text"};
    for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
        char json[200];
        snprintf(json, sizeof(json),
                 "{\"name\":\"p\",\"fields\":[{\"name\":\"%s\",\"type\":\"bool\"}]}", sys[i]);
        struct sh_schema_error err = refused(json);
        assert_string_equal(err.key, "fields");
    }
}

static void test_names_index_reserved(void **state)
{
    (void)state;
    static const char *const names[] = {"sqlite_i", "_tmp_p", "_sessions", "_META"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char json[300];
        snprintf(json, sizeof(json),
                 "{\"name\":\"p\",\"fields\":[{\"name\":\"t\",\"type\":\"text\"}],"
                 "\"indexes\":[\"CREATE INDEX %s ON p (t)\"]}",
                 names[i]);
        struct sh_schema_error err = refused(json);
        if (strcmp(err.key, "indexes") != 0)
            fail_msg("%s: key %s message %s", names[i], err.key, err.message);
    }
}

/* ---- the file ---- */

static int noop(sqlite3 *wdb, void *arg)
{
    (void)wdb;
    (void)arg;
    return 0;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static off_t size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void test_file_empty_refused_unless_init(void **state)
{
    (void)state;
    struct tmp_env *e = tmp_env_new();
    assert_non_null(e);
    write_bytes(e->path, "", 0);
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, noop, NULL), SH_EINVAL);
    assert_int_equal(size_of(e->path), 0); /* untouched */
    struct sh_db *db = NULL;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, NULL), SH_EINVAL);
    assert_null(db);
    assert_int_equal(size_of(e->path), 0);

    struct sh_db_options o;
    sh_db_options_init(&o);
    o.init_empty = 1;
    assert_int_equal(sh_db_run_exclusive(e->dir, &o, noop, NULL), 0);
    assert_true(size_of(e->path) > 0);
    /* Now a database: opens without the flag. */
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, noop, NULL), 0);
    assert_int_equal(tmp_env_free(e), 0);
}

static void test_file_damaged_header_refused(void **state)
{
    (void)state;
    struct tmp_env *e = tmp_env_new();
    assert_non_null(e);
    /* A real database to damage. */
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, noop, NULL), 0);
    unsigned char good[4096];
    int fd = open(e->path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, good, sizeof(good));
    close(fd);
    assert_true(n == (ssize_t)sizeof(good));

    struct sh_db_options o;
    sh_db_options_init(&o);
    o.init_empty = 1; /* never overwrites a damaged file */
    unsigned char bad[4096];
    static const struct {
        size_t off;
        unsigned char byte;
    } damage[] = {{0, 'X'}, {15, 1}, {16, 0x03}, {17, 0x01}, {18, 9}, {19, 0}, {21, 65}, {23, 0}};
    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        memcpy(bad, good, sizeof(bad));
        bad[damage[i].off] = damage[i].byte;
        write_bytes(e->path, bad, sizeof(bad));
        if (sh_db_run_exclusive(e->dir, &o, noop, NULL) != SH_EINVAL)
            fail_msg("damage at byte %zu accepted", damage[i].off);
        assert_int_equal(size_of(e->path), (off_t)sizeof(bad));
    }
    /* Header-less: text, zeros, a header cut short. */
    write_bytes(e->path, "not a database\n", 15);
    assert_int_equal(sh_db_run_exclusive(e->dir, &o, noop, NULL), SH_EINVAL);
    memset(bad, 0, sizeof(bad));
    write_bytes(e->path, bad, sizeof(bad));
    assert_int_equal(sh_db_run_exclusive(e->dir, &o, noop, NULL), SH_EINVAL);
    write_bytes(e->path, good, 50);
    assert_int_equal(sh_db_run_exclusive(e->dir, &o, noop, NULL), SH_EINVAL);
    struct sh_db *db = NULL;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, &o), SH_EINVAL);
    assert_int_equal(size_of(e->path), 50);
    assert_int_equal(tmp_env_free(e), 0);
}

/* ---- the directory lock ---- */

static void test_dir_lock_exclusive(void **state)
{
    (void)state;
    struct tmp_env *e = tmp_env_new();
    assert_non_null(e);
    int fd = -1, fd2 = -1;
    long holder = -1;
    assert_int_equal(sh_db_dir_lock(e->dir, &fd, &holder), 0);
    assert_true(fd >= 0);
    /* A second holder (another open file description, as another process has)
     * is refused and told who holds it. */
    assert_int_equal(sh_db_dir_lock(e->dir, &fd2, &holder), SH_EBUSY);
    assert_int_equal(fd2, -1);
    assert_int_equal(holder, (long)getpid());
    sh_db_dir_unlock(fd);
    /* Released: the stale pid in the file does not matter. */
    assert_int_equal(sh_db_dir_lock(e->dir, &fd2, NULL), 0);
    sh_db_dir_unlock(fd2);
    char p[128];
    snprintf(p, sizeof(p), "%s/.lock", e->dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    unlink(p);
    assert_int_equal(tmp_env_free(e), 0);
}

static void test_errcodes(void **state)
{
    (void)state;
    assert_int_equal(sh_db_errcode(SQLITE_BUSY), SH_ELOCKED);
    assert_int_equal(sh_db_errcode(SQLITE_BUSY_SNAPSHOT), SH_ELOCKED);
    assert_int_equal(sh_db_errcode(SQLITE_FULL), -ENOSPC);
    assert_int_equal(sh_db_errcode(SQLITE_LOCKED), SH_EBUSY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_collection_reserved),
        cmocka_unit_test(test_names_field_reserved),
        cmocka_unit_test(test_names_index_reserved),
        cmocka_unit_test(test_file_empty_refused_unless_init),
        cmocka_unit_test(test_file_damaged_header_refused),
        cmocka_unit_test(test_dir_lock_exclusive),
        cmocka_unit_test(test_errcodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
