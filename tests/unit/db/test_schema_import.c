/*
 * Unit tests of imports (an array of collections as PocketBase exports them:
 * references in any order, updates of stored collections, all-or-nothing
 * errors naming collection and field) and of the filter compiler's view of
 * collections (field flags, relation traversal through the resolver).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "stagehand/schema.h"

struct catalog {
    struct sh_collection *c[8];
    size_t n;
};

static const struct sh_collection *catalog_find(void *ud, const char *key)
{
    struct catalog *cat = ud;
    for (size_t i = 0; cat && i < cat->n; i++)
        if (strcmp(cat->c[i]->id, key) == 0 || strcasecmp(cat->c[i]->name, key) == 0)
            return cat->c[i];
    return NULL;
}

static void catalog_free(struct catalog *cat)
{
    for (size_t i = 0; i < cat->n; i++)
        sh_collection_free(cat->c[i]);
    cat->n = 0;
}

static struct sh_collection *parse_ok(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    struct sh_collection *c = NULL;
    struct sh_schema_error err;
    if (!j || sh_collection_parse(j, NULL, NULL, &c, &err))
        fail_msg("refused %s", json);
    cJSON_Delete(j);
    return c;
}

/* Imports json; returns the rc and fills *list / *n / *err. */
static int import(const char *json, struct catalog *cat, struct sh_collection ***list, size_t *n,
                  struct sh_schema_error *err)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        fail_msg("bad test JSON: %s", json);
    struct sh_collection_resolver r = {catalog_find, cat};
    int rc = sh_collection_import(j, cat ? &r : NULL, list, n, err);
    cJSON_Delete(j);
    return rc;
}

static void expect_import_error(const char *json, struct catalog *cat, const char *message)
{
    struct sh_collection **list;
    size_t n;
    struct sh_schema_error err;
    int rc = import(json, cat, &list, &n, &err);
    if (rc == 0) {
        sh_collection_list_free(list, n);
        fail_msg("accepted %s", json);
    }
    assert_null(list);
    assert_int_equal(n, 0);
    assert_string_equal(err.message, message);
}

static const char *const users_json =
    "{\"id\":\"_pb_users_auth_\",\"name\":\"users\",\"type\":\"auth\",\"fields\":["
    "{\"name\":\"name\",\"type\":\"text\"},{\"name\":\"org\",\"type\":\"relation\","
    "\"collectionId\":\"pbc_orgs\"}],\"listRule\":\"org.name != ''\"}";

static void test_schema_import_cross_references(void **state)
{
    (void)state;
    char json[2048];
    /* posts refers to users and users to orgs, each before it is defined. */
    snprintf(json, sizeof(json),
             "[{\"id\":\"pbc_posts\",\"name\":\"posts\",\"fields\":[{\"name\":\"author\",\"type\":"
             "\"relation\",\"collectionId\":\"_pb_users_auth_\"},{\"name\":\"title\",\"type\":"
             "\"text\"}],\"listRule\":\"author.org.name = 'x'\",\"indexes\":[\"CREATE INDEX "
             "`idx_author` ON `posts` (`author`)\"]},%s,"
             "{\"id\":\"pbc_orgs\",\"name\":\"orgs\",\"fields\":[{\"name\":\"name\",\"type\":"
             "\"text\"}]}]",
             users_json);
    struct sh_collection **list;
    size_t n;
    struct sh_schema_error err;
    int rc = import(json, NULL, &list, &n, &err);
    if (rc)
        fail_msg("%s", err.message);
    assert_int_equal(n, 3);
    assert_string_equal(list[0]->name, "posts");
    assert_string_equal(list[1]->name, "users");
    assert_string_equal(list[2]->name, "orgs");
    assert_string_equal(sh_collection_field(list[0], "author")->collection_id, "_pb_users_auth_");
    sh_collection_list_free(list, n);
}

static void test_schema_import_errors(void **state)
{
    (void)state;
    char json[2048];
    expect_import_error("{}", NULL, "collections: the import must be an array of collections.");
    snprintf(json, sizeof(json),
             "[{\"id\":\"pbc_orgs\",\"name\":\"orgs\"},%s,{\"name\":\"posts\",\"fields\":["
             "{\"name\":\"title\",\"type\":\"texty\"}]}]",
             users_json);
    expect_import_error(json, NULL,
                        "collection \"posts\": field \"title\": unknown type \"texty\".");
    snprintf(json, sizeof(json),
             "[%s,{\"name\":\"posts\",\"fields\":[{\"name\":\"author\",\"type\":\"relation\","
             "\"collectionId\":\"_pb_users_auth_\"}]}]",
             users_json);
    /* users' relation to orgs is missing from the array and from the store. */
    expect_import_error(json, NULL,
                        "collection \"users\": field \"org\": the relation collection "
                        "\"pbc_orgs\" doesn't exist.");
    expect_import_error("[{\"name\":\"a\"},{\"name\":\"A\"}]", NULL,
                        "collection \"A\": name: the name appears twice in the import.");
    expect_import_error("[{\"name\":\"a\",\"id\":\"x1\"},{\"name\":\"b\",\"id\":\"x1\"}]", NULL,
                        "collection \"b\": id: the id \"x1\" appears twice in the import.");
    expect_import_error("[{\"name\":\"a\",\"listRule\":\"nope = 1\"}]", NULL,
                        "collection \"a\": listRule: Invalid filter: unknown field \"nope\".");
    expect_import_error("[{\"name\":\"a\"}, 5]", NULL, "a collection must be a JSON object.");
}

static void test_schema_import_updates_stored(void **state)
{
    (void)state;
    struct catalog cat = {0};
    cat.c[cat.n++] = parse_ok("{\"id\":\"pbc_orgs\",\"name\":\"orgs\",\"fields\":[{\"name\":"
                              "\"name\",\"type\":\"text\",\"id\":\"custom_name_id\"}]}");
    cat.c[cat.n++] = parse_ok("{\"id\":\"pbc_tags\",\"name\":\"tags\"}");
    struct sh_collection **list;
    size_t n;
    struct sh_schema_error err;
    /* orgs is updated (its field keeps its id by name); users relates to the
     * stored orgs; a new collection may take the name "labels" while "tags"
     * stays. */
    char json[2048];
    snprintf(json, sizeof(json),
             "[{\"id\":\"pbc_orgs\",\"name\":\"orgs\",\"fields\":[{\"name\":\"name\",\"type\":"
             "\"text\"},{\"name\":\"size\",\"type\":\"number\"}]},%s,{\"name\":\"labels\"}]",
             users_json);
    if (import(json, &cat, &list, &n, &err))
        fail_msg("%s", err.message);
    assert_int_equal(n, 3);
    assert_string_equal(sh_collection_field(list[0], "name")->id, "custom_name_id");
    assert_non_null(sh_collection_field(list[0], "size"));
    sh_collection_list_free(list, n);

    /* An element without id updates the stored collection of that name... */
    if (import("[{\"name\":\"TAGS\"}]", &cat, &list, &n, &err))
        fail_msg("%s", err.message);
    assert_string_equal(list[0]->id, "pbc_tags");
    assert_string_equal(list[0]->name, "TAGS");
    sh_collection_list_free(list, n);
    /* ...a new collection can't take a stored collection's name... */
    expect_import_error("[{\"id\":\"pbc_new\",\"name\":\"TAGS\"}]", &cat,
                        "collection \"TAGS\": name: the name is already used by another "
                        "collection.");
    /* ...unless the same import renames that one. */
    if (import("[{\"id\":\"pbc_new\",\"name\":\"tags\"},{\"id\":\"pbc_tags\",\"name\":"
               "\"old_tags\"}]",
               &cat, &list, &n, &err))
        fail_msg("%s", err.message);
    sh_collection_list_free(list, n);
    catalog_free(&cat);
}

static void test_schema_view_flags(void **state)
{
    (void)state;
    struct catalog cat = {0};
    cat.c[cat.n++] = parse_ok("{\"id\":\"pbc_users\",\"name\":\"users\",\"type\":\"auth\","
                              "\"fields\":[{\"name\":\"name\",\"type\":\"text\"}]}");
    struct sh_collection_resolver r = {catalog_find, &cat};
    cJSON *j = cJSON_Parse(
        "{\"name\":\"posts\",\"fields\":[{\"name\":\"title\",\"type\":\"text\"},"
        "{\"name\":\"secret\",\"type\":\"text\",\"hidden\":true},"
        "{\"name\":\"enc\",\"type\":\"json\",\"encrypted\":true},"
        "{\"name\":\"tags\",\"type\":\"select\",\"values\":[\"a\",\"b\"],\"maxSelect\":2},"
        "{\"name\":\"author\",\"type\":\"relation\",\"collectionId\":\"users\"}]}");
    struct sh_collection *c;
    struct sh_schema_error err;
    assert_int_equal(sh_collection_parse(j, NULL, &r, &c, &err), 0);
    cJSON_Delete(j);

    struct sh_schema_view v;
    sh_schema_view_init(&v, c, &r, 0);
    assert_string_equal(v.schema.table, "posts");
    assert_int_equal(v.schema.nfields, c->nfields);
    for (size_t i = 0; i < v.schema.nfields; i++) {
        const struct sh_filter_field *f = &v.schema.fields[i];
        assert_string_equal(f->name, c->fields[i].name);
        assert_int_equal(f->kind, c->fields[i].kind);
        unsigned want = 0;
        if (!strcmp(f->name, "tags"))
            want = SH_FILTER_FIELD_MULTI;
        if (!strcmp(f->name, "secret"))
            want = SH_FILTER_FIELD_NOFILTER | SH_FILTER_FIELD_HIDDEN;
        if (!strcmp(f->name, "enc"))
            want = SH_FILTER_FIELD_NOFILTER;
        if (!strcmp(f->name, "id")) /* the primary key: always indexed */
            want = SH_FILTER_FIELD_INDEXED;
        assert_int_equal(f->flags, want);
        if (!strcmp(f->name, "author"))
            assert_string_equal(f->rel_collection, "pbc_users");
        else
            assert_null(f->rel_collection);
    }
    struct sh_filter *flt;
    struct sh_filter_error ferr;
    struct sh_filter_sql q;
    const char *text = "author.name = 'x' && tags ?= 'a'";
    assert_int_equal(sh_filter_parse(text, strlen(text), &flt, &ferr), 0);
    assert_int_equal(sh_filter_compile(flt, &v.schema, NULL, &q, &ferr), 0);
    assert_non_null(strstr(q.sql, "\"users\""));
    sh_filter_sql_deinit(&q);
    sh_filter_free(flt);
    /* A hidden field: not for ordinary callers; yes for rules (SH_SCHEMA_VIEW_HIDDEN). */
    text = "secret = 'x'";
    assert_int_equal(sh_filter_parse(text, strlen(text), &flt, &ferr), 0);
    assert_int_not_equal(sh_filter_compile(flt, &v.schema, NULL, &q, &ferr), 0);
    sh_schema_view_deinit(&v);
    sh_schema_view_init(&v, c, &r, SH_SCHEMA_VIEW_HIDDEN);
    assert_int_equal(sh_filter_compile(flt, &v.schema, NULL, &q, &ferr), 0);
    sh_filter_sql_deinit(&q);
    sh_filter_free(flt);
    /* Password fields are never filterable, even for rules. */
    text = "author.password = 'x'";
    assert_int_equal(sh_filter_parse(text, strlen(text), &flt, &ferr), 0);
    assert_int_not_equal(sh_filter_compile(flt, &v.schema, NULL, &q, &ferr), 0);
    sh_filter_free(flt);
    sh_schema_view_deinit(&v);

    /* Without a resolver a relation to another collection does not resolve. */
    sh_schema_view_init(&v, c, NULL, 0);
    text = "author.name = 'x'";
    assert_int_equal(sh_filter_parse(text, strlen(text), &flt, &ferr), 0);
    assert_int_not_equal(sh_filter_compile(flt, &v.schema, NULL, &q, &ferr), 0);
    sh_filter_free(flt);
    sh_schema_view_deinit(&v);
    sh_collection_free(c);
    catalog_free(&cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_import_cross_references),
        cmocka_unit_test(test_schema_import_errors),
        cmocka_unit_test(test_schema_import_updates_stored),
        cmocka_unit_test(test_schema_view_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
