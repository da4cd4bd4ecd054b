/*
 * Tests of table versions with a real writer thread and a real file: a
 * write bumps exactly the tables it changed, once per commit whatever the
 * number of rows; foreign-key cascades count; a batch of many jobs bumps
 * once; an emptying DELETE is seen through sh_db_writer_touch; more tables
 * than the set holds bump every version; a write by another process (the
 * CLI's exclusive function) is seen by this one; and a read inside a shared
 * read transaction sees the versions of its own snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "db_tmp.h"

static int setup(void **state)
{
    struct tmp_env *e = tmp_env_new();
    *state = e;
    return e ? 0 : -1;
}

static int teardown(void **state)
{
    return tmp_env_free(*state) == 0 ? 0 : -1;
}

static int create_tables(sqlite3 *wdb, void *arg)
{
    (void)arg;
    char sql[4096] = "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);"
                     "CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);"
                     "CREATE TABLE parent (id TEXT PRIMARY KEY);"
                     "CREATE TABLE child (id INTEGER PRIMARY KEY, p TEXT REFERENCES parent (id) "
                     "ON DELETE CASCADE);";
    for (int i = 0; i < 40; i++) {
        char one[64];
        snprintf(one, sizeof one, "CREATE TABLE m%d (id INTEGER PRIMARY KEY);", i);
        strcat(sql, one);
    }
    return sqlite3_exec(wdb, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : SH_EINTERNAL;
}

struct sqljob {
    struct sh_db_job job;
    const char *sql;
    int touch_a; /* also call sh_db_writer_touch(wdb, "a") */
    int done, rc;
};

static int sqljob_run(sqlite3 *wdb, void *arg)
{
    struct sqljob *j = arg;
    if (sqlite3_exec(wdb, j->sql, NULL, NULL, NULL) != SQLITE_OK)
        return SH_EINTERNAL;
    return j->touch_a ? sh_db_writer_touch(wdb, "a") : 0;
}

static void sqljob_done(struct sh_db_job *job, int rc)
{
    struct sqljob *j = (struct sqljob *)job;
    j->done = 1;
    j->rc = rc;
}

static void write_all(struct tmp_env *e, struct sh_db *db, struct sqljob *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        jobs[i].job = (struct sh_db_job){.run = sqljob_run, .done = sqljob_done, .arg = &jobs[i]};
        assert_int_equal(sh_db_submit(db, &jobs[i].job), 0);
    }
    for (size_t i = 0; i < n; i++) {
        while (!jobs[i].done)
            uv_run(&e->loop, UV_RUN_ONCE);
        assert_int_equal(jobs[i].rc, 0);
    }
}

static void write1(struct tmp_env *e, struct sh_db *db, const char *sql)
{
    struct sqljob j = {.sql = sql};
    write_all(e, db, &j, 1);
}

struct ver {
    int64_t a, b, parent, child, m0;
};

static struct ver versions(struct sh_db *db)
{
    static const char *const names[] = {"a", "b", "parent", "child", "m0"};
    int64_t v[5];
    assert_int_equal(sh_db_versions(db, names, 5, v), 0);
    return (struct ver){v[0], v[1], v[2], v[3], v[4]};
}

static void test_versions_bump_what_changed(void **state)
{
    struct tmp_env *e = *state;
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, create_tables, NULL), 0);
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, NULL), 0);
    struct ver v0 = versions(db);
    assert_int_equal(v0.a, 0);
    assert_int_equal(v0.b, 0);

    /* 100 rows in one job: one bump of a, nothing else */
    write1(e, db,
           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
           "INSERT INTO a (v) SELECT 'x' || i FROM n");
    struct ver v1 = versions(db);
    assert_int_equal(v1.a, v0.a + 1);
    assert_int_equal(v1.b, v0.b);
    assert_int_equal(v1.parent, v0.parent);

    /* an update and a delete are changes too; a statement that changes no row is not */
    write1(e, db, "UPDATE b SET v = 'never' WHERE id = -1");
    assert_int_equal(versions(db).b, v1.b);
    write1(e, db, "UPDATE a SET v = 'y' WHERE id = 1");
    assert_int_equal(versions(db).a, v1.a + 1);
    write1(e, db, "DELETE FROM a WHERE id = 2");
    assert_int_equal(versions(db).a, v1.a + 2);

    /* a cascade changes the child table: both move */
    write1(e, db, "INSERT INTO parent VALUES ('p'); INSERT INTO child (p) VALUES ('p')");
    struct ver v2 = versions(db);
    write1(e, db, "DELETE FROM parent WHERE id = 'p'");
    struct ver v3 = versions(db);
    assert_int_equal(v3.parent, v2.parent + 1);
    assert_int_equal(v3.child, v2.child + 1);
    assert_int_equal(v3.a, v2.a);

    /* many jobs queued together commit in few batches: a moves at most once per job */
    static struct sqljob jobs[200];
    for (int i = 0; i < 200; i++)
        jobs[i] = (struct sqljob){.sql = "INSERT INTO b (v) VALUES ('z')"};
    int64_t b_before = versions(db).b;
    write_all(e, db, jobs, 200);
    int64_t b_after = versions(db).b;
    assert_true(b_after > b_before);
    assert_true(b_after - b_before < 200); /* one bump per commit, not per job */

    assert_int_equal(tmp_close_db(e, db), 0);
}

static void test_versions_truncate_and_overflow(void **state)
{
    struct tmp_env *e = *state;
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, create_tables, NULL), 0);
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, NULL), 0);
    write1(e, db, "INSERT INTO a (v) VALUES ('1')");
    struct ver v0 = versions(db);

    /* SQLite's truncate shortcut is invisible to the update hook ... */
    write1(e, db, "DELETE FROM a");
    assert_int_equal(versions(db).a, v0.a);
    /* ... so code that empties a table touches it */
    write1(e, db, "INSERT INTO a (v) VALUES ('2')");
    struct sqljob j = {.sql = "DELETE FROM a", .touch_a = 1};
    write_all(e, db, &j, 1);
    assert_int_equal(versions(db).a, v0.a + 2);

    /* a transaction touching more tables than the set holds bumps every version */
    char sql[4096] = "";
    for (int i = 0; i < 40; i++) {
        char one[64];
        snprintf(one, sizeof one, "INSERT INTO m%d VALUES (1);", i);
        strcat(sql, one);
    }
    struct ver v1 = versions(db);
    write1(e, db, sql);
    struct ver v2 = versions(db);
    assert_true(v2.a > v1.a && v2.b > v1.b && v2.parent > v1.parent && v2.m0 > v1.m0);
    assert_int_equal(tmp_close_db(e, db), 0);
}

static int other_process_write(sqlite3 *wdb, void *arg)
{
    (void)arg;
    return sqlite3_exec(wdb, "INSERT INTO b (v) VALUES ('cli')", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : SH_EINTERNAL;
}

static void test_versions_other_writer_and_snapshots(void **state)
{
    struct tmp_env *e = *state;
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, create_tables, NULL), 0);
    struct sh_db *db;
    assert_int_equal(sh_db_open(&db, &e->loop, e->dir, NULL), 0);
    int64_t b0 = versions(db).b;

    /* inside a read transaction the snapshot holds: an outside write is not seen ... */
    assert_int_equal(sh_db_read_begin(db), 0);
    assert_int_equal(versions(db).b, b0);
    assert_int_equal(sh_db_run_exclusive(e->dir, NULL, other_process_write, NULL), 0);
    assert_int_equal(versions(db).b, b0);
    sh_db_read_end(db);
    /* ... and once it ends, it is: the other connection's write bumped b */
    assert_int_equal(versions(db).b, b0 + 1);
    assert_int_equal(tmp_close_db(e, db), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_versions_bump_what_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_truncate_and_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_other_writer_and_snapshots, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
