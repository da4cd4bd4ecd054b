/*
 * Stored files of every path that drops records or file fields, read from
 * the data directory: a delete that cascades (relation cascadeDelete)
 * removes the folders of the records it reached; a truncate removes the
 * folders of its records; a file field removed from a collection takes its
 * files and leaves the other fields' files; a deleted collection's folder
 * goes, also when an import with deleteMissing leaves it out. Each test also checks that files
 * still referenced (another record's, another field's) are kept and served, and that a change the
 * server refused removes nothing. A restart removes the folder of a
 * collection that no longer exists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "test_files_client.h"

#define OPEN "'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''"

static const char schema[] =
    "[{'name':'owners','type':'base','fields':[{'name':'name','type':'text'},"
    "  {'name':'pic','type':'file','maxSelect':1}]," OPEN "},"
    "{'name':'pets','type':'base','fields':[{'name':'name','type':'text'},"
    "  {'name':'owner','type':'relation','collectionId':'owners','maxSelect':1,"
    "   'cascadeDelete':true},"
    "  {'name':'photo','type':'file','maxSelect':2}]," OPEN "},"
    "{'name':'toys','type':'base','fields':[{'name':'pet','type':'relation',"
    "  'collectionId':'pets','maxSelect':1,'cascadeDelete':true},"
    "  {'name':'img','type':'file','maxSelect':1}]," OPEN "},"
    "{'name':'tags','type':'base','fields':[{'name':'pet','type':'relation',"
    "  'collectionId':'pets','maxSelect':1,'required':true}]," OPEN "},"
    "{'name':'notes','type':'base','fields':[{'name':'a','type':'file','maxSelect':1},"
    "  {'name':'b','type':'file','maxSelect':3}]," OPEN "},"
    "{'name':'temp','type':'base','fields':[{'name':'f','type':'file','maxSelect':1}]," OPEN "}]";

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static struct it_server *srv;
static struct it_conn *conn;
static const char *tsu;

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    ac_superuser(srv, "root@example.com", "root password");
    struct it_conn *c = it_conn_open(srv);
    if (!c)
        return -1;
    tsu = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    it_conn_close(c);
    return tsu ? 0 : -1;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

/* The collection's id. */
static const char *cid_of(const char *name)
{
    struct rc_resp *r = ac_req(conn, "GET", it_sprintf("/api/collections/%s", name), tsu, NULL);
    assert_int_equal(r->status, 200);
    return it_sprintf("%s", rc_str(r->json, "id"));
}

/* Creates a record of coll with one file under field (and extra text
 * fields name=value pairs, NULL-terminated); returns the record. */
static const cJSON *create_with_file(const char *coll, const char *field, const char *data, ...)
{
    struct fc_body b = {0};
    va_list ap;
    va_start(ap, data);
    for (const char *k; (k = va_arg(ap, const char *));)
        fc_text(&b, k, va_arg(ap, const char *));
    va_end(ap);
    fc_file(&b, field, "f.txt", data, strlen(data));
    return rc_ok(fc_send(conn, "POST", it_sprintf("/api/collections/%s/records", coll), NULL, &b),
                 200);
}

/* The first stored name of field in rec (a string or an array). */
static const char *name_of(const cJSON *rec, const char *field)
{
    const cJSON *v = rc_get(rec, field);
    if (cJSON_IsArray(v))
        v = cJSON_GetArrayItem(v, 0);
    assert_true(cJSON_IsString(v) && v->valuestring[0]);
    return it_sprintf("%s", v->valuestring);
}

/* The file is served back with these bytes. */
static void assert_served(const char *coll, const char *id, const char *name, const char *data)
{
    struct rc_resp *r =
        rc_req(conn, "GET", it_sprintf("/api/files/%s/%s/%s", coll, id, name), NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->raw->body_len, strlen(data));
    assert_memory_equal(r->raw->body, data, strlen(data));
}

/* owner -> pet -> toy, each with a file, cascadeDelete all the way: deleting
 * the owner removes all three folders; another owner's chain stays. */
static void test_cascade_delete_removes_every_folder(void **state)
{
    (void)state;
    const char *co = cid_of("owners"), *cp = cid_of("pets"), *ct = cid_of("toys");
    const cJSON *o1 = create_with_file("owners", "pic", "o1", "name", "one", NULL);
    const cJSON *o2 = create_with_file("owners", "pic", "o2", "name", "two", NULL);
    const char *o1id = rc_str(o1, "id"), *o2id = rc_str(o2, "id");
    const cJSON *p1 = create_with_file("pets", "photo", "p1", "owner", o1id, NULL);
    const cJSON *p2 = create_with_file("pets", "photo", "p2", "owner", o2id, NULL);
    const char *p1id = rc_str(p1, "id"), *p2id = rc_str(p2, "id");
    const cJSON *t1 = create_with_file("toys", "img", "t1", "pet", p1id, NULL);
    const cJSON *t2 = create_with_file("toys", "img", "t2", "pet", p2id, NULL);
    const char *t1id = rc_str(t1, "id"), *t2id = rc_str(t2, "id");
    const char *p2name = name_of(p2, "photo"), *t2name = name_of(t2, "img");
    assert_true(fc_exists(srv, it_sprintf("%s/%s", cp, p1id)));
    assert_true(fc_exists(srv, it_sprintf("%s/%s", ct, t1id)));

    struct rc_resp *r =
        rc_req(conn, "DELETE", it_sprintf("/api/collections/owners/records/%s", o1id), NULL);
    assert_int_equal(r->status, 204);
    assert_int_equal(fc_wait_exists(srv, it_sprintf("%s/%s", co, o1id), 0, 5000), 0);
    assert_int_equal(fc_wait_exists(srv, it_sprintf("%s/%s", cp, p1id), 0, 5000), 0);
    assert_int_equal(fc_wait_exists(srv, it_sprintf("%s/%s", ct, t1id), 0, 5000), 0);
    /* the records are gone too, and the other chain is whole */
    assert_int_equal(
        rc_req(conn, "GET", it_sprintf("/api/collections/toys/records/%s", t1id), NULL)->status,
        404);
    assert_int_equal(fc_count(srv, it_sprintf("%s/%s", co, o2id)), 1);
    assert_served("pets", p2id, p2name, "p2");
    assert_served("toys", t2id, t2name, "t2");
}

/* A cascade refused (it would leave a tag's required relation empty)
 * rolls back and removes nothing: neither the owner's files nor the
 * pet's the cascade reached first. */
static void test_refused_cascade_removes_nothing(void **state)
{
    (void)state;
    const char *co = cid_of("owners"), *cp = cid_of("pets");
    const cJSON *o = create_with_file("owners", "pic", "keep", "name", "k", NULL);
    const char *oid = rc_str(o, "id");
    const cJSON *p = create_with_file("pets", "photo", "kp", "owner", oid, NULL);
    const char *pid = rc_str(p, "id"), *pname = name_of(p, "photo");
    rc_ok(rc_reqf(conn, "POST", "/api/collections/tags/records", "{\"pet\":\"%s\"}", pid), 200);
    struct rc_resp *r =
        rc_req(conn, "DELETE", it_sprintf("/api/collections/owners/records/%s", oid), NULL);
    assert_int_equal(r->status, 400);
    sleep_ms(300); /* a removal would have been queued by now */
    assert_int_equal(fc_count(srv, it_sprintf("%s/%s", co, oid)), 1);
    assert_int_equal(fc_count(srv, it_sprintf("%s/%s", cp, pid)), 1);
    assert_served("pets", pid, pname, "kp");
    assert_served("owners", oid, name_of(o, "pic"), "keep");
}

/* Truncating a collection with file fields removes every record's folder
 * (the collections' other records stay). */
static void test_truncate_removes_the_folders(void **state)
{
    (void)state;
    const char *ct = cid_of("temp");
    const char *ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = rc_str(create_with_file("temp", "f", it_sprintf("tmp%d", i), NULL), "id");
    const cJSON *n = create_with_file("notes", "a", "note-a", NULL);
    const char *cn = cid_of("notes");
    struct rc_resp *r = ac_req(conn, "DELETE", "/api/collections/temp/truncate", tsu, NULL);
    assert_int_equal(r->status, 204);
    for (int i = 0; i < 5; i++)
        assert_int_equal(fc_wait_exists(srv, it_sprintf("%s/%s", ct, ids[i]), 0, 5000), 0);
    assert_int_equal(fc_count(srv, it_sprintf("%s/%s", cn, rc_str(n, "id"))), 1);
}

/* Removing file field `a` from notes removes the files `a` held in every
 * record; `b`'s files (same folders) stay and are served. */
static void test_removed_field_takes_its_files(void **state)
{
    (void)state;
    const char *cn = cid_of("notes");
    const char *ids[3], *bnames[3], *anames[3];
    for (int i = 0; i < 3; i++) {
        struct fc_body b = {0};
        fc_file(&b, "a", "a.txt", "aa", 2);
        fc_file(&b, "b", "b.txt", "bb", 2);
        const cJSON *rec =
            rc_ok(fc_send(conn, "POST", "/api/collections/notes/records", NULL, &b), 200);
        ids[i] = rc_str(rec, "id");
        anames[i] = name_of(rec, "a");
        bnames[i] = name_of(rec, "b");
        assert_int_equal(fc_count(srv, it_sprintf("%s/%s", cn, ids[i])), 2);
    }
    /* the collection without `a`: its fields as stored, less that one */
    struct rc_resp *r = ac_req(conn, "GET", "/api/collections/notes", tsu, NULL);
    assert_int_equal(r->status, 200);
    cJSON *fields = cJSON_Duplicate(rc_get(r->json, "fields"), 1);
    rc_track(fields);
    int n = cJSON_GetArraySize(fields);
    for (int i = 0; i < n; i++) {
        const cJSON *f = cJSON_GetArrayItem(fields, i);
        if (strcmp(rc_str(f, "name"), "a") == 0) {
            cJSON_DeleteItemFromArray(fields, i);
            break;
        }
    }
    char *fj = cJSON_PrintUnformatted(fields);
    r = ac_req(conn, "PATCH", "/api/collections/notes", tsu, it_sprintf("{\"fields\":%s}", fj));
    cJSON_free(fj);
    assert_int_equal(r->status, 200);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            fc_wait_exists(srv, it_sprintf("%s/%s/%s", cn, ids[i], anames[i]), 0, 5000), 0);
        assert_int_equal(fc_count(srv, it_sprintf("%s/%s", cn, ids[i])), 1);
        assert_served("notes", ids[i], bnames[i], "bb");
    }
}

/* A refused field removal (a bad rule in the same change) removes nothing. */
static void test_refused_change_removes_nothing(void **state)
{
    (void)state;
    const char *cn = cid_of("notes");
    struct fc_body b = {0};
    fc_file(&b, "b", "b.txt", "kept", 4);
    const cJSON *rec =
        rc_ok(fc_send(conn, "POST", "/api/collections/notes/records", NULL, &b), 200);
    const char *id = rc_str(rec, "id"), *name = name_of(rec, "b");
    struct rc_resp *r = ac_req(conn, "PATCH", "/api/collections/notes", tsu,
                               rc_q("{'fields':[],'listRule':'nosuchfield = 1'}"));
    assert_int_equal(r->status, 400);
    sleep_ms(300);
    assert_int_equal(fc_count(srv, it_sprintf("%s/%s", cn, id)), 1);
    assert_served("notes", id, name, "kept");
}

/* Deleting a collection removes its storage folder; the others stay. */
static void test_collection_delete_removes_its_folder(void **state)
{
    (void)state;
    struct rc_resp *r = ac_req(conn, "POST", "/api/collections", tsu,
                               rc_q("{'name':'gone','type':'base','fields':[{'name':'g',"
                                    "'type':'file','maxSelect':1}]," OPEN "}"));
    assert_int_equal(r->status, 200);
    const char *cg = it_sprintf("%s", rc_str(r->json, "id"));
    for (int i = 0; i < 3; i++)
        create_with_file("gone", "g", "gone", NULL);
    assert_int_equal(fc_count(srv, cg), 3);
    const cJSON *o = create_with_file("owners", "pic", "stay", "name", "s", NULL);
    r = ac_req(conn, "DELETE", "/api/collections/gone", tsu, NULL);
    assert_int_equal(r->status, 204);
    assert_int_equal(fc_wait_exists(srv, cg, 0, 5000), 0);
    assert_served("owners", rc_str(o, "id"), name_of(o, "pic"), "stay");
}

/* An import with deleteMissing that leaves a collection out deletes it and
 * its storage folder; the collections it keeps keep their files. */
static void test_import_delete_missing_removes_the_folder(void **state)
{
    (void)state;
    struct rc_resp *r = ac_req(conn, "POST", "/api/collections", tsu,
                               rc_q("{'name':'imported','type':'base','fields':[{'name':'g',"
                                    "'type':'file','maxSelect':1}]," OPEN "}"));
    assert_int_equal(r->status, 200);
    const char *ci = it_sprintf("%s", rc_str(r->json, "id"));
    create_with_file("imported", "g", "imp", NULL);
    const cJSON *o = create_with_file("owners", "pic", "kept by import", "name", "i", NULL);
    assert_int_equal(fc_count(srv, ci), 1);
    r = ac_req(conn, "GET", "/api/collections?perPage=500", tsu, NULL);
    assert_int_equal(r->status, 200);
    cJSON *items = rc_track(cJSON_Duplicate(rc_get(r->json, "items"), 1));
    for (int i = cJSON_GetArraySize(items) - 1; i >= 0; i--)
        if (strcmp(rc_str(cJSON_GetArrayItem(items, i), "name"), "imported") == 0)
            cJSON_DeleteItemFromArray(items, i);
    char *list = cJSON_PrintUnformatted(items);
    r = ac_req(conn, "PUT", "/api/collections/import", tsu,
               it_sprintf("{\"collections\":%s,\"deleteMissing\":true}", list));
    cJSON_free(list);
    assert_int_equal(r->status, 204);
    assert_int_equal(fc_wait_exists(srv, ci, 0, 5000), 0);
    assert_served("owners", rc_str(o, "id"), name_of(o, "pic"), "kept by import");
}

/* A restart removes the folder of a collection that no longer exists
 * (deleted while the server was down, or by the CLI) and keeps every
 * folder of an existing one. */
static void test_restart_removes_unknown_collection_folders(void **state)
{
    (void)state;
    const cJSON *o = create_with_file("owners", "pic", "survives", "name", "s", NULL);
    const char *co = cid_of("owners"), *oid = rc_str(o, "id"), *name = name_of(o, "pic");
    assert_int_equal(it_server_stop(srv, 10000), 0);
    char *lost = it_sprintf("%s/storage/pbc_nosuchcollection", srv->data_dir);
    assert_int_equal(mkdir(lost, 0700), 0);
    assert_int_equal(mkdir(it_sprintf("%s/rec123456789012", lost), 0700), 0);
    assert_int_equal(it_write_file(it_sprintf("%s/rec123456789012/x_abcdefghij.txt", lost), "x", 1),
                     0);
    assert_int_equal(
        it_server_run(srv, (const char *const[]){"--sync", "normal", "--rate-limit-auth", "off",
                                                 "--orphan-min-age", "0", NULL}),
        0);
    assert_true(it_server_wait_log(srv, "unreferenced stored files", 5000));
    assert_int_equal(fc_exists(srv, "pbc_nosuchcollection"), 0);
    assert_true(fc_exists(srv, it_sprintf("%s/%s/%s", co, oid, name)));
    conn = it_conn_open(srv);
    assert_non_null(conn);
    assert_served("owners", oid, name, "survives");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_cascade_delete_removes_every_folder, open_conn),
        it_test_each(test_refused_cascade_removes_nothing, open_conn),
        it_test_each(test_truncate_removes_the_folders, open_conn),
        it_test_each(test_removed_field_takes_its_files, open_conn),
        it_test_each(test_refused_change_removes_nothing, open_conn),
        it_test_each(test_collection_delete_removes_its_folder, open_conn),
        it_test_each(test_import_delete_missing_removes_the_folder, open_conn),
        it_test_each(test_restart_removes_unknown_collection_folders, open_conn), /* last */
    };
    return cmocka_run_group_tests(tests, group_setup, it_group_teardown);
}
