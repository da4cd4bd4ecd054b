/*
 * Unit tests of collection round trips and changes: the JSON written back in
 * PocketBase's shape and parsed again unchanged, PATCH updates (merging,
 * field ids kept by name, renames) and the changes they refuse, import
 * arrays (cross references in any order, all-or-nothing errors naming
 * collection and field), and the filter compiler's view of a collection.
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

/* Parses json (an update of old when old is not NULL); NULL and *err filled
 * on refusal. */
static struct sh_collection *try_parse(const char *json, const struct sh_collection *old,
                                       struct catalog *cat, struct sh_schema_error *err)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        fail_msg("bad test JSON: %s", json);
    struct sh_collection_resolver r = {catalog_find, cat};
    struct sh_collection *c = NULL;
    int rc = sh_collection_parse(j, old, &r, &c, err);
    cJSON_Delete(j);
    assert_true((rc == 0) == (c != NULL));
    return c;
}

static struct sh_collection *parse_ok(const char *json, const struct sh_collection *old,
                                      struct catalog *cat)
{
    struct sh_schema_error err;
    struct sh_collection *c = try_parse(json, old, cat, &err);
    if (!c)
        fail_msg("refused %s: %s", json, err.message);
    return c;
}

static void expect_refused(const char *json, const struct sh_collection *old, struct catalog *cat,
                           const char *message)
{
    struct sh_schema_error err;
    struct sh_collection *c = try_parse(json, old, cat, &err);
    if (c) {
        sh_collection_free(c);
        fail_msg("accepted %s", json);
    }
    assert_string_equal(err.message, message);
}

static char *to_text(const struct sh_collection *c)
{
    cJSON *j = sh_collection_to_json(c);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static const char rich_json[] =
    "{\"id\":\"postsid00000001\",\"name\":\"posts\",\"type\":\"base\",\"fields\":["
    "{\"name\":\"title\",\"type\":\"text\",\"required\":true,\"min\":1,\"max\":200,\"pattern\":"
    "\"^[A-Z]\",\"presentable\":true},"
    "{\"name\":\"views\",\"type\":\"number\",\"min\":0,\"onlyInt\":true},"
    "{\"name\":\"ok\",\"type\":\"bool\",\"hidden\":true},"
    "{\"name\":\"mail\",\"type\":\"email\",\"onlyDomains\":[\"example.com\"]},"
    "{\"name\":\"site\",\"type\":\"url\"},"
    "{\"name\":\"when\",\"type\":\"date\",\"min\":\"2024-01-01\",\"max\":\"2030-01-01T10:00:00+02:"
    "00\"},"
    "{\"name\":\"touched\",\"type\":\"autodate\",\"onUpdate\":true},"
    "{\"name\":\"tags\",\"type\":\"select\",\"values\":[\"a\",\"b\",\"c\"],\"maxSelect\":2},"
    "{\"name\":\"data\",\"type\":\"json\",\"maxSize\":100,\"encrypted\":true},"
    "{\"name\":\"notes\",\"type\":\"text\",\"encrypted\":true},"
    "{\"name\":\"parent\",\"type\":\"relation\",\"collectionId\":\"posts\",\"cascadeDelete\":true},"
    "{\"name\":\"secret\",\"type\":\"password\",\"min\":10}],"
    "\"indexes\":[\"CREATE INDEX idx_t ON posts (title DESC)\"],"
    "\"listRule\":\"\",\"viewRule\":\"title != ''\",\"createRule\":null,\"deleteRule\":\"ok = "
    "true\"}";

static void test_schema_json_round_trip(void **state)
{
    (void)state;
    struct sh_collection *c = parse_ok(rich_json, NULL, NULL);
    cJSON *j = sh_collection_to_json(c);
    /* PocketBase's shape, keys of a field in alphabetical order. */
    char *id_field =
        cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "fields"), 0));
    assert_string_equal(id_field,
                        "{\"autogeneratePattern\":\"[a-z0-9]{15}\",\"hidden\":false,\"id\":"
                        "\"text3208210256\",\"max\":15,\"min\":15,\"name\":\"id\",\"pattern\":"
                        "\"^[a-z0-9]+$\",\"presentable\":false,\"primaryKey\":true,\"required\":"
                        "true,\"system\":true,\"type\":\"text\"}");
    free(id_field);
    char *views = cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "fields"), 2));
    assert_string_equal(views,
                        "{\"hidden\":false,\"id\":\"number300981383\",\"max\":null,\"min\":0,"
                        "\"name\":\"views\",\"onlyInt\":true,\"presentable\":false,"
                        "\"required\":false,\"system\":false,\"type\":\"number\"}");
    free(views);
    const cJSON *when = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "fields"), 6);
    assert_string_equal(cJSON_GetObjectItem(when, "min")->valuestring, "2024-01-01 00:00:00.000Z");
    assert_string_equal(cJSON_GetObjectItem(when, "max")->valuestring, "2030-01-01 08:00:00.000Z");
    const cJSON *data = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "fields"), 9);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(data, "encrypted")));
    const cJSON *parent = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "fields"), 11);
    assert_string_equal(cJSON_GetObjectItem(parent, "collectionId")->valuestring,
                        "postsid00000001");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "indexes"), 0)->valuestring,
                        "CREATE INDEX `idx_t` ON `posts` (`title` DESC)");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "createRule")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "updateRule")));
    assert_string_equal(cJSON_GetObjectItem(j, "listRule")->valuestring, "");
    assert_null(cJSON_GetObjectItem(j, "authRule"));

    /* Parsed again, it writes the same JSON. */
    char *first = cJSON_PrintUnformatted(j);
    struct sh_schema_error err;
    struct sh_collection *again = NULL;
    assert_int_equal(sh_collection_parse(j, NULL, NULL, &again, &err), 0);
    char *second = to_text(again);
    assert_string_equal(first, second);
    free(first);
    free(second);
    cJSON_Delete(j);
    sh_collection_free(again);
    sh_collection_free(c);

    /* An auth collection too, with its options object. */
    c = parse_ok("{\"name\":\"users\",\"type\":\"auth\",\"manageRule\":\"id != ''\"}", NULL, NULL);
    j = sh_collection_to_json(c);
    assert_string_equal(cJSON_GetObjectItem(j, "authRule")->valuestring, "");
    assert_string_equal(cJSON_GetObjectItem(j, "manageRule")->valuestring, "id != ''");
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "passwordAuth"), "enabled")));
    first = cJSON_PrintUnformatted(j);
    assert_int_equal(sh_collection_parse(j, NULL, NULL, &again, &err), 0);
    second = to_text(again);
    assert_string_equal(first, second);
    free(first);
    free(second);
    cJSON_Delete(j);
    sh_collection_free(again);
    sh_collection_free(c);
}

static void test_schema_update_patch(void **state)
{
    (void)state;
    struct sh_collection *old = parse_ok(rich_json, NULL, NULL);
    /* Only a rule: everything else is kept. */
    struct sh_collection *c = parse_ok("{\"listRule\":\"views > 1\"}", old, NULL);
    assert_string_equal(c->rules[SH_RULE_LIST], "views > 1");
    assert_string_equal(c->rules[SH_RULE_VIEW], "title != ''");
    assert_int_equal(c->nfields, old->nfields);
    for (size_t i = 0; i < c->nfields; i++)
        assert_string_equal(c->fields[i].id, old->fields[i].id);
    assert_string_equal(c->id, old->id);
    sh_collection_free(c);

    /* A new field list: ids kept by name, new fields get new ids, and a field
     * given with an old id under a new name is a rename. */
    const char *views_id = sh_collection_field(old, "views")->id;
    char json[512];
    snprintf(
        json, sizeof(json),
        "{\"name\":\"articles\",\"fields\":[{\"name\":\"title\",\"type\":\"text\"},"
        "{\"id\":\"%s\",\"name\":\"hits\",\"type\":\"number\"},{\"name\":\"body\",\"type\":"
        "\"text\"}],\"indexes\":[\"CREATE INDEX idx_t ON posts (title)\"],\"viewRule\":null%s}",
        views_id, "");
    /* deleteRule still reads "ok", which this field list drops. */
    expect_refused(json, old, NULL,
                   "collection \"articles\": deleteRule: Invalid filter: unknown field \"ok\".");
    snprintf(
        json, sizeof(json),
        "{\"name\":\"articles\",\"fields\":[{\"name\":\"title\",\"type\":\"text\"},"
        "{\"id\":\"%s\",\"name\":\"hits\",\"type\":\"number\"},{\"name\":\"body\",\"type\":"
        "\"text\"}],\"indexes\":[\"CREATE INDEX idx_t ON posts (title)\"],\"viewRule\":null%s}",
        views_id, ",\"deleteRule\":null");
    c = parse_ok(json, old, NULL);
    assert_string_equal(c->name, "articles");
    assert_string_equal(sh_collection_field(c, "title")->id, sh_collection_field(old, "title")->id);
    assert_string_equal(sh_collection_field(c, "hits")->id, views_id);
    assert_null(sh_collection_field(c, "ok"));
    assert_non_null(sh_collection_field(c, "created"));
    assert_null(c->rules[SH_RULE_VIEW]);
    /* The index written on the old name follows the rename. */
    char *s = sh_index_format(&c->indexes[0], c->name, '`', true);
    assert_string_equal(s, "CREATE INDEX `idx_t` ON `articles` (`title`)");
    free(s);
    sh_collection_free(c);

    expect_refused("{\"type\":\"auth\"}", old, NULL,
                   "collection \"posts\": type: the collection type cannot be changed.");
    expect_refused("{\"system\":true}", old, NULL,
                   "collection \"posts\": system: the system flag cannot be changed.");
    expect_refused("{\"id\":\"otherid00000001\"}", old, NULL,
                   "collection \"posts\": id: the collection id cannot be changed.");
    expect_refused("{\"fields\":[{\"name\":\"notes\",\"type\":\"text\"}],\"indexes\":[],"
                   "\"viewRule\":null,\"deleteRule\":null}",
                   old, NULL,
                   "collection \"posts\": field \"notes\": \"encrypted\" cannot be changed on an "
                   "existing field.");
    expect_refused("{\"fields\":[{\"name\":\"notes\",\"type\":\"json\",\"encrypted\":true}],"
                   "\"indexes\":[],\"viewRule\":null,\"deleteRule\":null}",
                   old, NULL,
                   "collection \"posts\": field \"notes\": the type of an encrypted field cannot "
                   "be changed.");
    sh_collection_free(old);
}

static void test_schema_update_system(void **state)
{
    (void)state;
    struct catalog cat = {0};
    cat.c[cat.n++] =
        parse_ok("{\"id\":\"usersid00000001\",\"name\":\"users\",\"type\":\"auth\"}", NULL, NULL);
    cat.c[cat.n++] = parse_ok("{\"id\":\"orgsid000000001\",\"name\":\"orgs\"}", NULL, NULL);
    struct sh_collection *old = parse_ok(
        "{\"id\":\"_superusersid01\",\"name\":\"_superusers\",\"type\":\"auth\",\"system\":true,"
        "\"fields\":[{\"name\":\"flag\",\"type\":\"bool\",\"system\":true},{\"name\":\"org\","
        "\"type\":\"relation\",\"collectionId\":\"orgs\"}]}",
        NULL, &cat);
    expect_refused("{\"name\":\"_admins\"}", old, &cat,
                   "collection \"_admins\": name: a system collection cannot be renamed.");
    expect_refused("{\"listRule\":\"\"}", old, &cat,
                   "collection \"_superusers\": listRule: the rules of a system collection "
                   "cannot be changed.");
    expect_refused("{\"fields\":[]}", old, &cat,
                   "collection \"_superusers\": field \"flag\": system fields cannot be deleted "
                   "or renamed.");
    expect_refused("{\"fields\":[{\"name\":\"flag\",\"type\":\"bool\"},{\"name\":\"org\",\"type\":"
                   "\"relation\",\"collectionId\":\"users\"}]}",
                   old, &cat,
                   "collection \"_superusers\": field \"org\": the relation collection cannot be "
                   "changed.");
    /* Omitted auth fields come back with their ids: nothing is lost. */
    struct sh_collection *c = parse_ok("{\"fields\":[{\"name\":\"flag\",\"type\":\"bool\"},{"
                                       "\"name\":\"org\",\"type\":\"relation\","
                                       "\"collectionId\":\"orgsid000000001\",\"maxSelect\":3}]}",
                                       old, &cat);
    assert_string_equal(sh_collection_field(c, "password")->id,
                        sh_collection_field(old, "password")->id);
    assert_true(sh_collection_field(c, "flag")->system); /* a system field stays one */
    sh_collection_free(c);
    sh_collection_free(old);
    catalog_free(&cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_json_round_trip),
        cmocka_unit_test(test_schema_update_patch),
        cmocka_unit_test(test_schema_update_system),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
