/*
 * `stagehand collections import|export` as a user runs them: a round trip
 * through export, refusals that name the collection and field and change
 * nothing, migrations that keep the data of kept fields, and a running
 * server that serves the new schema within a second of the command, without
 * a restart.
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

#include "test_records_client.h"

#define OPEN "'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''"

static const char v1[] = "["
                         "{'name':'people','type':'base','fields':["
                         "  {'name':'name','type':'text','required':true},"
                         "  {'name':'age','type':'number'},"
                         "  {'name':'nick','type':'text'},"
                         "  {'name':'score','type':'number'}]," OPEN "},"
                         "{'name':'pets','type':'base','fields':["
                         "  {'name':'owner','type':'relation','collectionId':'people',"
                         "   'maxSelect':1}]," OPEN "}"
                         "]";

/* people: age becomes text, nick is removed, email added, a unique index on
 * name; pets unchanged. Ids are taken from the stored schema by name. */
static const char v2[] =
    "["
    "{'name':'people','type':'base','fields':["
    "  {'name':'name','type':'text','required':true},"
    "  {'name':'age','type':'text'},"
    "  {'name':'score','type':'number'},"
    "  {'name':'email','type':'email'}],"
    "  'indexes':['CREATE UNIQUE INDEX idx_people_name ON people (name)']," OPEN "}"
    "]";

static cJSON *export_json(const struct it_server *s)
{
    char *out = NULL, *err = NULL;
    int rc = rc_cli(&out, &err, "export", "--dir", s->data_dir, NULL);
    if (rc != 0)
        fail_msg("export exited %d: %s", rc, err);
    cJSON *j = rc_track(cJSON_Parse(out));
    assert_true(cJSON_IsArray(j));
    return j;
}

static const cJSON *find(const cJSON *arr, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (strcmp(rc_str(e, "name"), name) == 0)
            return e;
    }
    return NULL;
}

static void test_cli_usage(void **state)
{
    (void)state;
    assert_int_equal(rc_cli(NULL, NULL, NULL, NULL), 2);
    assert_int_equal(rc_cli(NULL, NULL, "import", NULL), 2);
    assert_int_equal(rc_cli(NULL, NULL, "bogus", NULL), 2);
    char *out = NULL;
    assert_int_equal(rc_cli(&out, NULL, "--help", NULL), 0);
    assert_non_null(strstr(out, "import"));
}

static void test_cli_roundtrip(void **state)
{
    (void)state;
    struct it_server *s = it_server_new();
    assert_non_null(s);
    assert_int_equal(rc_import(s, "v1.json", rc_q(v1)), 0);
    cJSON *a = export_json(s);
    assert_int_equal(cJSON_GetArraySize(a), 2);
    const cJSON *people = find(a, "people");
    assert_non_null(people);
    const cJSON *pets = find(a, "pets");
    /* the relation is stored by id */
    const cJSON *owner = cJSON_GetArrayItem(rc_get(pets, "fields"), 1);
    assert_string_equal(rc_str(owner, "collectionId"), rc_str(people, "id"));

    /* importing the export again changes nothing */
    char *text = cJSON_PrintUnformatted(a);
    char *copy = it_strdup(text);
    cJSON_free(text);
    char *out = NULL;
    char *path = it_sprintf("%s/export.json", s->dir);
    assert_int_equal(it_write_file(path, copy, strlen(copy)), 0);
    assert_int_equal(rc_cli(&out, NULL, "import", path, "--dir", s->data_dir, NULL), 0);
    assert_non_null(strstr(out, "0 created, 2 updated"));
    cJSON *b = export_json(s);
    assert_true(cJSON_Compare(a, b, 1));
}

static void test_cli_import_refused(void **state)
{
    (void)state;
    struct it_server *s = it_server_new();
    assert_non_null(s);
    assert_int_equal(rc_import(s, "v1.json", rc_q(v1)), 0);
    cJSON *before = export_json(s);

    struct {
        const char *json, *needle1, *needle2;
    } bad[] = {
        /* a valid new collection first: it must not survive the refusal */
        {"[{'name':'fresh','fields':[]},"
         " {'name':'people','fields':[{'name':'name','type':'texty'}]}]",
         "collection \"people\"", "field \"name\""},
        {"[{'name':'things','fields':[{'name':'who','type':'relation','collectionId':'ghosts'}]}]",
         "collection \"things\"", "field \"who\""},
        {"[{'name':'things','fields':[{'name':'x','type':'text'},{'name':'X','type':'text'}]}]",
         "collection \"things\"", "\"X\""},
        {"[{'name':'things','listRule':'nope = 1','fields':[]}]", "collection \"things\"",
         "listRule"},
        {"[{'name':'people','indexes':['DROP TABLE people'],'fields':[]}]", "collection \"people\"",
         "indexes"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *path = it_sprintf("%s/bad%zu.json", s->dir, i);
        char *json = rc_q(bad[i].json);
        assert_int_equal(it_write_file(path, json, strlen(json)), 0);
        char *err = NULL;
        int rc = rc_cli(NULL, &err, "import", path, "--dir", s->data_dir, NULL);
        if (rc != 1 || !strstr(err, bad[i].needle1) || !strstr(err, bad[i].needle2))
            fail_msg("bad import %zu: exit %d, stderr: %s", i, rc, err);
    }
    /* not JSON at all */
    char *path = it_sprintf("%s/garbage.json", s->dir);
    assert_int_equal(it_write_file(path, "[{", 2), 0);
    char *err = NULL;
    assert_int_equal(rc_cli(NULL, &err, "import", path, "--dir", s->data_dir, NULL), 1);
    assert_non_null(strstr(err, "not valid JSON"));
    assert_int_equal(rc_cli(NULL, &err, "import", it_sprintf("%s/missing.json", s->dir), "--dir",
                            s->data_dir, NULL),
                     1);
    cJSON *after = export_json(s);
    assert_true(cJSON_Compare(before, after, 1));
}

static const cJSON *list_people(struct it_conn *c)
{
    return rc_ok(rc_req(c, "GET", "/api/collections/people/records?sort=name", NULL), 200);
}

/* Polls until a create in `coll` with body succeeds; returns the ms it took. */
static int64_t wait_accepts(struct it_conn *c, const char *coll, const char *body, int limit_ms)
{
    int64_t t0 = it_now_ms();
    for (;;) {
        struct rc_resp *r =
            rc_req(c, "POST", it_sprintf("/api/collections/%s/records", coll), body);
        if (r->status == 200)
            return it_now_ms() - t0;
        if (it_now_ms() - t0 > limit_ms)
            fail_msg("still refused after %d ms: %s", limit_ms, r->raw->body);
        poll(NULL, 0, 20);
    }
}

static void test_cli_migration_live(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(v1), "--sync", "normal", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    assert_non_null(c);
    const char *ann = rc_str(rc_ok(rc_req(c, "POST", "/api/collections/people/records",
                                          rc_q("{'name':'ann','age':41,'nick':'a','score':1.5}")),
                                   200),
                             "id");
    rc_ok(rc_req(c, "POST", "/api/collections/people/records",
                 rc_q("{'name':'bob','age':7,'nick':'b','score':2}")),
          200);
    rc_ok(
        rc_req(c, "POST", "/api/collections/pets/records", rc_q(it_sprintf("{'owner':'%s'}", ann))),
        200);

    /* v2 while the server runs: requests right after the import already see
     * it (a read that meets the migrated table, or a write whose job finds a
     * newer schema version, reloads the catalog and runs again), and the 1 s
     * poll would have found it anyway */
    assert_int_equal(rc_import(s, "v2.json", rc_q(v2)), 0);
    const cJSON *first = cJSON_GetArrayItem(rc_get(list_people(c), "items"), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(first, "nick"));
    assert_string_equal(rc_str(first, "email"), "");
    rc_ok(rc_req(c, "POST", "/api/collections/people/records",
                 rc_q("{'name':'cy','email':'cy@x.io','age':'old'}")),
          200);

    const cJSON *items = rc_get(list_people(c), "items");
    assert_int_equal(cJSON_GetArraySize(items), 3);
    const cJSON *a = cJSON_GetArrayItem(items, 0);
    assert_string_equal(rc_str(a, "id"), ann);
    assert_string_equal(rc_str(a, "name"), "ann");
    assert_string_equal(rc_str(a, "age"), "41"); /* number -> text */
    assert_true(rc_num(a, "score") == 1.5);
    assert_string_equal(rc_str(a, "email"), "");
    assert_null(cJSON_GetObjectItemCaseSensitive(a, "nick"));
    assert_string_equal(rc_str(cJSON_GetArrayItem(items, 1), "age"), "7");
    /* the new unique index works */
    rc_assert_error(rc_req(c, "POST", "/api/collections/people/records", rc_q("{'name':'ann'}")),
                    400, "name", "validation_not_unique");
    /* the other collection and its relation are untouched */
    const cJSON *pets =
        rc_ok(rc_req(c, "GET", "/api/collections/pets/records?expand=owner", NULL), 200);
    const cJSON *pet = cJSON_GetArrayItem(rc_get(pets, "items"), 0);
    assert_string_equal(rc_str(rc_get(rc_get(pet, "expand"), "owner"), "name"), "ann");

    /* a migration that cannot apply to the data (a unique index over
     * duplicates) is refused as a whole; the server keeps serving */
    rc_ok(rc_req(c, "POST", "/api/collections/people/records", rc_q("{'name':'dup','score':9}")),
          200);
    rc_ok(rc_req(c, "POST", "/api/collections/people/records", rc_q("{'name':'dup2','score':9}")),
          200);
    const char *v3 = "[{'name':'people','indexes':['CREATE UNIQUE INDEX idx_score ON people "
                     "(score)']}]";
    char *path = it_sprintf("%s/v3.json", s->dir);
    char *json = rc_q(v3);
    assert_int_equal(it_write_file(path, json, strlen(json)), 0);
    char *err = NULL;
    assert_int_equal(rc_cli(NULL, &err, "import", path, "--dir", s->data_dir, NULL), 1);
    assert_non_null(strstr(err, "nothing changed"));
    assert_int_equal(cJSON_GetArraySize(rc_get(list_people(c), "items")), 5);

    /* a new collection, then --delete-missing removes one the file lacks */
    const char *v4 = "[{'name':'people'},{'name':'pets'},{'name':'later','fields':"
                     "[{'name':'x','type':'text'}]," OPEN "}]";
    assert_int_equal(rc_import(s, "v4.json", rc_q(v4)), 0);
    /* a collection the running server has never seen: a miss reloads the
     * catalog, and the 1 s poll would find it anyway */
    int64_t took = wait_accepts(c, "later", "{\"x\":\"1\"}", 3000);
    it_note("the running server served the new collection %lld ms after the import",
            (long long)took);
    assert_true(took <= 1500);
    const char *v5 = "[{'name':'people'},{'name':'pets'}]";
    path = it_sprintf("%s/v5.json", s->dir);
    json = rc_q(v5);
    assert_int_equal(it_write_file(path, json, strlen(json)), 0);
    char *out = NULL;
    assert_int_equal(
        rc_cli(&out, NULL, "import", path, "--dir", s->data_dir, "--delete-missing", NULL), 0);
    assert_non_null(strstr(out, "1 deleted"));
    int64_t t1 = it_now_ms();
    for (;;) {
        struct rc_resp *r = rc_req(c, "GET", "/api/collections/later/records", NULL);
        if (r->status == 404)
            break;
        assert_true(it_now_ms() - t1 < IT_SLOW(3000));
        poll(NULL, 0, 20);
    }
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);

    /* and after a restart everything is still there */
    assert_int_equal(it_server_run(s, NULL), 0);
    c = it_conn_open(s);
    assert_non_null(c);
    assert_int_equal(cJSON_GetArraySize(rc_get(list_people(c), "items")), 5);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

/* A write is the first request after a migration: its job, bound to the
 * snapshot before the import, is refused by the writer (SH_ESTALE), bound
 * again to the reloaded catalog (api/job.c, api/retry.c) and applied to the
 * new definition, so the client never sees the window. */
static void test_cli_migration_write_first(void **state)
{
    (void)state;
    struct it_server *s = rc_server(rc_q(v1), "--sync", "normal", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    assert_non_null(c);
    const char *ann = rc_str(
        rc_ok(rc_req(c, "POST", "/api/collections/people/records", rc_q("{'name':'ann','age':41}")),
              200),
        "id");
    assert_int_equal(rc_import(s, "v2.json", rc_q(v2)), 0);
    /* age is text and email exists only in v2: the old definition would refuse */
    const cJSON *cy = rc_ok(rc_req(c, "POST", "/api/collections/people/records",
                                   rc_q("{'name':'cy','email':'cy@x.io','age':'old'}")),
                            200);
    assert_string_equal(rc_str(cy, "age"), "old");
    assert_string_equal(rc_str(cy, "email"), "cy@x.io");
    assert_null(cJSON_GetObjectItemCaseSensitive(cy, "nick"));
    /* and an update first, after a field is added */
    const char *v3 =
        "[{'name':'people','type':'base','fields':["
        "  {'name':'name','type':'text','required':true},"
        "  {'name':'age','type':'text'},"
        "  {'name':'score','type':'number'},"
        "  {'name':'email','type':'email'},"
        "  {'name':'nick2','type':'text'}],"
        "  'indexes':['CREATE UNIQUE INDEX idx_people_name ON people (name)']," OPEN "}]";
    assert_int_equal(rc_import(s, "v3.json", rc_q(v3)), 0);
    const cJSON *a = rc_ok(rc_req(c, "PATCH", it_sprintf("/api/collections/people/records/%s", ann),
                                  rc_q("{'nick2':'annie'}")),
                           200);
    assert_string_equal(rc_str(a, "nick2"), "annie");
    assert_string_equal(rc_str(a, "age"), "41");
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_cli_usage),
        it_test(test_cli_roundtrip),
        it_test(test_cli_import_refused),
        it_test(test_cli_migration_live),
        it_test(test_cli_migration_write_first),
    };
    return cmocka_run_group_tests_name("collections_cli", tests, NULL, NULL);
}
