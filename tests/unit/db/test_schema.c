/*
 * Unit tests of collection definitions: parsing PocketBase's JSON (system
 * fields added, PocketBase's field ids, auth collections), every kind of
 * refusal with its sentence naming collection and field, relations and
 * rules checked against other collections, updates with PATCH semantics and
 * what they may not change, the JSON round trip, import arrays, and the
 * filter compiler's view of a collection.
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

/* ---- a catalog of stored collections for the resolver ---- */
struct catalog {
    struct sh_collection *c[8];
    size_t n;
};

static const struct sh_collection *catalog_find(void *ud, const char *key)
{
    struct catalog *cat = ud;
    for (size_t i = 0; i < cat->n; i++)
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

static struct sh_collection *parse_with(const char *json, const struct sh_collection *old,
                                        struct catalog *cat)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        fail_msg("bad test JSON: %s", json);
    struct sh_collection_resolver r = {catalog_find, cat};
    struct sh_collection *c = NULL;
    struct sh_schema_error err;
    int rc = sh_collection_parse(j, old, cat ? &r : NULL, &c, &err);
    cJSON_Delete(j);
    if (rc)
        fail_msg("refused %s: %s", json, err.message);
    return c;
}

static struct sh_collection *parse_ok(const char *json)
{
    return parse_with(json, NULL, NULL);
}

static struct sh_schema_error parse_err(const char *json, const struct sh_collection *old,
                                        struct catalog *cat)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        fail_msg("bad test JSON: %s", json);
    struct sh_collection_resolver r = {catalog_find, cat};
    static struct sh_collection sentinel;
    struct sh_collection *c = &sentinel;
    struct sh_schema_error err;
    int rc = sh_collection_parse(j, old, cat ? &r : NULL, &c, &err);
    cJSON_Delete(j);
    if (rc == 0) {
        sh_collection_free(c);
        fail_msg("accepted %s", json);
    }
    assert_int_equal(rc, -10003);
    assert_null(c);
    size_t n = strlen(err.message);
    assert_true(n > 0 && err.message[n - 1] == '.');
    return err;
}

static void expect_err(const char *json, const char *message)
{
    struct sh_schema_error err = parse_err(json, NULL, NULL);
    assert_string_equal(err.message, message);
}

static void expect_err_has(const char *json, const char *needle)
{
    struct sh_schema_error err = parse_err(json, NULL, NULL);
    if (!strstr(err.message, needle))
        fail_msg("%s: \"%s\" lacks \"%s\"", json, err.message, needle);
}

/* ---- defaults ---- */
static void test_schema_base_defaults(void **state)
{
    (void)state;
    struct sh_collection *c = parse_ok(
        "{\"name\":\"posts\",\"fields\":[{\"name\":\"title\",\"type\":\"text\",\"required\":true,"
        "\"min\":1,\"max\":200}]}");
    assert_string_equal(c->name, "posts");
    assert_int_equal(c->type, SH_COLLECTION_BASE);
    assert_int_equal(strlen(c->id), 15);
    assert_int_equal(strspn(c->id, "abcdefghijklmnopqrstuvwxyz0123456789"), 15);
    assert_int_equal(c->nfields, 4);
    /* PocketBase's ids: the type and the CRC-32 of the name. */
    assert_string_equal(c->fields[0].name, "id");
    assert_string_equal(c->fields[0].id, "text3208210256");
    assert_true(c->fields[0].primary_key && c->fields[0].system && c->fields[0].required);
    assert_string_equal(c->fields[0].pattern, "^[a-z0-9]+$");
    assert_string_equal(c->fields[0].autogen, "[a-z0-9]{15}");
    assert_string_equal(c->fields[1].name, "title");
    assert_string_equal(c->fields[1].id, "text724990059");
    assert_int_equal(c->fields[1].min_len, 1);
    assert_int_equal(c->fields[1].max_len, 200);
    assert_string_equal(c->fields[2].id, "autodate2990389176");
    assert_true(c->fields[2].on_create && !c->fields[2].on_update);
    assert_string_equal(c->fields[3].id, "autodate3332085495");
    assert_true(c->fields[3].on_create && c->fields[3].on_update);
    for (int k = 0; k < SH_RULE_COUNT; k++)
        assert_null(c->rules[k]);
    assert_int_equal(c->nindexes, 0);
    sh_collection_free(c);

    /* Two collections get different generated ids. */
    struct sh_collection *a = parse_ok("{\"name\":\"a\"}"), *b = parse_ok("{\"name\":\"b\"}");
    assert_string_not_equal(a->id, b->id);
    sh_collection_free(a);
    sh_collection_free(b);
}

static void test_schema_auth_defaults(void **state)
{
    (void)state;
    struct sh_collection *c =
        parse_ok("{\"id\":\"_pb_users_auth_\",\"name\":\"users\",\"type\":\"auth\","
                 "\"fields\":[{\"name\":\"name\",\"type\":\"text\"}]}");
    assert_int_equal(c->type, SH_COLLECTION_AUTH);
    const char *order[] = {"id",       "password", "tokenKey", "email",  "emailVisibility",
                           "verified", "name",     "created",  "updated"};
    assert_int_equal(c->nfields, 9);
    for (size_t i = 0; i < 9; i++)
        assert_string_equal(c->fields[i].name, order[i]);
    const struct sh_field *pw = sh_collection_field(c, "password");
    assert_int_equal(pw->kind, SH_FIELD_PASSWORD);
    assert_true(pw->hidden && pw->system && pw->required);
    assert_int_equal(pw->min_len, 8);
    assert_string_equal(pw->id, "password901924565");
    const struct sh_field *tk = sh_collection_field(c, "tokenKey");
    assert_true(tk->hidden && tk->system);
    assert_string_equal(tk->autogen, "[a-zA-Z0-9]{50}");
    assert_string_equal(tk->id, "text2504183744");
    assert_string_equal(sh_collection_field(c, "email")->id, "email3885137012");
    assert_string_equal(sh_collection_field(c, "emailVisibility")->id, "bool1547992806");
    assert_string_equal(sh_collection_field(c, "verified")->id, "bool256245529");
    assert_int_equal(c->nindexes, 2);
    char *s = sh_index_format(&c->indexes[0], c->name, '`', true);
    assert_string_equal(s, "CREATE UNIQUE INDEX `idx_tokenKey__pb_users_auth_` ON `users` "
                           "(`tokenKey`)");
    free(s);
    s = sh_index_format(&c->indexes[1], c->name, '`', true);
    assert_string_equal(s, "CREATE UNIQUE INDEX `idx_email__pb_users_auth_` ON `users` (`email` "
                           "COLLATE NOCASE) WHERE `email` != ''");
    free(s);
    assert_string_equal(c->rules[SH_RULE_AUTH], "");
    assert_null(c->rules[SH_RULE_MANAGE]);
    sh_collection_free(c);

    /* A system field given with the wrong type is refused. */
    expect_err("{\"name\":\"u\",\"type\":\"auth\",\"fields\":[{\"name\":\"email\",\"type\":"
               "\"text\"}]}",
               "collection \"u\": field \"email\": must be a email field in an auth "
               "collection.");
    expect_err("{\"name\":\"u\",\"type\":\"auth\",\"fields\":[{\"name\":\"passwordConfirm\","
               "\"type\":\"text\"}]}",
               "collection \"u\": field \"passwordConfirm\": the name is reserved.");
}

/* ---- refusals ---- */
static void test_schema_refusals_collection(void **state)
{
    (void)state;
    expect_err("[]", "a collection must be a JSON object.");
    expect_err("{}", "name: a collection needs a name.");
    expect_err("{\"name\":\"1posts\"}",
               "collection \"1posts\": name: invalid name (letters, digits and _, not starting "
               "with a digit, at most 100).");
    expect_err_has("{\"name\":\"po-sts\"}", "invalid name");
    expect_err_has("{\"name\":\"po\\\"sts\"}", "collection \"po?sts\": name: invalid name");
    expect_err("{\"name\":\"_posts\"}",
               "collection \"_posts\": name: only system collections may start with \"_\".");
    expect_err_has("{\"name\":\"a_via_b\"}", "_via_");
    char longname[160];
    snprintf(longname, sizeof(longname), "{\"name\":\"%0101d\"}", 0);
    longname[10] = 'a';
    expect_err_has(longname, "invalid name");
    expect_err("{\"name\":\"v\",\"type\":\"graph\"}",
               "collection \"v\": type: unknown or unsupported type \"graph\".");
    expect_err("{\"name\":\"v\",\"type\":\"view\"}",
               "collection \"v\": viewQuery: a view collection needs a viewQuery.");
    expect_err("{\"name\":\"v\",\"type\":\"view\",\"viewQuery\":\"SELECT 1 AS x\","
               "\"fields\":[{\"name\":\"x\",\"type\":\"json\"}]}",
               "collection \"v\": viewQuery: the view query must select an \"id\" column.");
    expect_err("{\"name\":\"v\",\"fields\":[{\"name\":\"a\",\"type\":\"text\",\"size\":1}]}",
               "collection \"v\": field \"a\": unknown or unsupported option \"size\" for a text "
               "field.");
    expect_err("{\"name\":\"v\",\"type\":\"auth\",\"otp\":{\"enabled\":true}}",
               "collection \"v\": otp: One-time password sign-in is not supported yet: "
               "\"otp.enabled\" must be false.");
    expect_err("{\"name\":\"v\",\"type\":3}",
               "collection \"v\": type: must be \"base\", \"auth\" or \"view\".");
    expect_err("{\"name\":\"v\",\"system\":\"yes\"}",
               "collection \"v\": system: must be a boolean.");
    expect_err("{\"name\":\"v\",\"id\":\"a-b\"}", "collection \"v\": id: invalid collection id.");
    expect_err("{\"name\":\"v\",\"fields\":{}}", "collection \"v\": \"fields\" must be an array.");
    expect_err("{\"name\":\"v\",\"indexes\":\"x\"}",
               "collection \"v\": indexes: \"indexes\" must be an array of strings.");
    /* A system collection may start with "_". */
    struct sh_collection *c =
        parse_ok("{\"name\":\"_superusers\",\"system\":true,\"type\":\"auth\"}");
    assert_true(c->system);
    sh_collection_free(c);
}

static void test_schema_refusals_fields(void **state)
{
    (void)state;
    expect_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"title\",\"type\":\"texty\"}]}",
               "collection \"posts\": field \"title\": unknown type \"texty\".");
    expect_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"f\",\"type\":\"file\","
               "\"maxFiles\":2}]}",
               "collection \"posts\": field \"f\": unknown or unsupported option \"maxFiles\" "
               "for a file field.");
    expect_err("{\"name\":\"posts\",\"fields\":[{\"type\":\"text\"}]}",
               "collection \"posts\": a field has no name.");
    expect_err("{\"name\":\"posts\",\"fields\":[3]}",
               "collection \"posts\": every field must be an object.");
    expect_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"title\"}]}",
               "collection \"posts\": field \"title\": missing type.");
    expect_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"expand\",\"type\":\"text\"}]}",
               "collection \"posts\": field \"expand\": the name is reserved.");
    expect_err_has("{\"name\":\"posts\",\"fields\":[{\"name\":\"a b\",\"type\":\"text\"}]}",
                   "field \"a b\": invalid name");
    expect_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"t\",\"type\":\"text\"},"
               "{\"name\":\"T\",\"type\":\"bool\"}]}",
               "collection \"posts\": field \"T\": duplicated field name.");
    expect_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"a\",\"type\":\"text\",\"id\":\"x1\"},"
               "{\"name\":\"b\",\"type\":\"bool\",\"id\":\"x1\"}]}",
               "collection \"posts\": field \"b\": duplicated field id \"x1\".");
    expect_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"t\",\"type\":\"text\",\"pattern\":"
               "\"(a\"}]}",
               "collection \"posts\": field \"t\": invalid pattern \"(a\".");
    expect_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"t\",\"type\":\"text\",\"min\":5,"
               "\"max\":2}]}",
               "collection \"posts\": field \"t\": \"max\" must not be less than \"min\".");
    expect_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"t\",\"type\":\"text\",\"min\":-1}]}",
               "collection \"posts\": field \"t\": \"min\" must be a whole number in range.");
    expect_err(
        "{\"name\":\"posts\",\"fields\":[{\"name\":\"t\",\"type\":\"text\",\"required\":1}]}",
        "collection \"posts\": field \"t\": \"required\" must be a boolean.");
    expect_err_has("{\"name\":\"p\",\"fields\":[{\"name\":\"t\",\"type\":\"text\","
                   "\"autogeneratePattern\":\"[a-z]+\"}]}",
                   "unsupported autogeneratePattern");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"n\",\"type\":\"number\",\"min\":5,"
               "\"max\":1}]}",
               "collection \"p\": field \"n\": \"max\" must not be less than \"min\".");
    expect_err_has("{\"name\":\"p\",\"fields\":[{\"name\":\"n\",\"type\":\"number\","
                   "\"onlyInt\":true,\"min\":1.5}]}",
                   "whole numbers");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"s\",\"type\":\"select\"}]}",
               "collection \"p\": field \"s\": \"values\" must list at least one value.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"s\",\"type\":\"select\",\"values\":"
               "[\"a\"],\"maxSelect\":2}]}",
               "collection \"p\": field \"s\": \"maxSelect\" must not exceed the number of "
               "values.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"s\",\"type\":\"select\",\"values\":"
               "[\"a\",1]}]}",
               "collection \"p\": field \"s\": \"values\" must be an array of non-empty "
               "strings.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"r\",\"type\":\"relation\"}]}",
               "collection \"p\": field \"r\": \"collectionId\" is required.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"a\",\"type\":\"autodate\"}]}",
               "collection \"p\": field \"a\": either \"onCreate\" or \"onUpdate\" must be "
               "enabled.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"d\",\"type\":\"date\",\"min\":\"soon\"}]}",
               "collection \"p\": field \"d\": \"min\" is not a valid date.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"d\",\"type\":\"date\",\"min\":"
               "\"2024-02-01\",\"max\":\"2024-01-01\"}]}",
               "collection \"p\": field \"d\": \"max\" must not be before \"min\".");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"n\",\"type\":\"number\",\"encrypted\":"
               "true}]}",
               "collection \"p\": field \"n\": \"encrypted\" is only supported on text and json "
               "fields.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"slug\",\"type\":\"text\",\"primaryKey\":"
               "true}]}",
               "collection \"p\": field \"slug\": only the \"id\" field can be the primary key.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"id\",\"type\":\"number\"}]}",
               "collection \"p\": field \"id\": must be a text field.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"created\",\"type\":\"text\"}]}",
               "collection \"p\": field \"created\": must be an autodate field.");
    expect_err("{\"name\":\"p\",\"fields\":[{\"name\":\"e\",\"type\":\"email\",\"onlyDomains\":"
               "[\"a.com\"],\"exceptDomains\":[\"b.com\"]}]}",
               "collection \"p\": field \"e\": \"onlyDomains\" and \"exceptDomains\" exclude "
               "each other.");
}

static void test_schema_refusals_indexes_and_rules(void **state)
{
    (void)state;
    const char *head = "{\"name\":\"posts\",\"fields\":[{\"name\":\"title\",\"type\":\"text\"},"
                       "{\"name\":\"secret\",\"type\":\"text\",\"hidden\":true},"
                       "{\"name\":\"enc\",\"type\":\"text\",\"encrypted\":true}]";
    char json[1024];
#define WITH(tail) (snprintf(json, sizeof(json), "%s,%s}", head, tail), json)
    expect_err(WITH("\"indexes\":[\"CREATE INDEX i ON users (title)\"]"),
               "collection \"posts\": indexes: index 1: the table must be \"posts\", not "
               "\"users\".");
    expect_err(WITH("\"indexes\":[\"CREATE INDEX i ON posts (title)\",\"CREATE INDEX j ON posts "
                    "(nope)\"]"),
               "collection \"posts\": field \"nope\": index 2: no such field.");
    expect_err(WITH("\"indexes\":[\"CREATE INDEX i ON posts (title) WHERE title > 'a'\"]"),
               "collection \"posts\": indexes: index 1: WHERE clauses are not supported (only "
               "WHERE column != '') at offset 32.");
    expect_err(WITH("\"indexes\":[\"CREATE INDEX i ON posts (title); DROP TABLE posts\"]"),
               "collection \"posts\": indexes: index 1: unexpected text after the column list "
               "at offset 33.");
    expect_err(WITH("\"indexes\":[\"CREATE INDEX i ON posts (title)\",\"CREATE INDEX I ON posts "
                    "(created)\"]"),
               "collection \"posts\": indexes: index 2: the index name \"I\" is used twice.");
    expect_err(WITH("\"indexes\":[5]"), "collection \"posts\": indexes: index 1 is not a string.");
    expect_err(WITH("\"listRule\":5"), "collection \"posts\": listRule: must be null or a string.");
    expect_err_has(WITH("\"viewRule\":\"title = \\\"\""),
                   "collection \"posts\": viewRule: Invalid");
    expect_err(WITH("\"createRule\":\"nope = 1\""),
               "collection \"posts\": createRule: Invalid filter: unknown field \"nope\".");
    expect_err(WITH("\"updateRule\":\"enc = 'x'\""),
               "collection \"posts\": updateRule: Invalid filter: cannot use field \"enc\".");
    /* Hidden fields are usable in rules. */
    struct sh_collection *c = parse_ok(WITH("\"deleteRule\":\"secret = 'x' && id != ''\","
                                            "\"listRule\":\"\",\"indexes\":[\"CREATE UNIQUE "
                                            "INDEX i ON posts (title COLLATE NOCASE)\"]"));
    assert_string_equal(c->rules[SH_RULE_DELETE], "secret = 'x' && id != ''");
    assert_non_null(c->rule_filters[SH_RULE_DELETE]);
    assert_string_equal(c->rules[SH_RULE_LIST], "");
    assert_null(c->rules[SH_RULE_VIEW]);
    assert_null(c->rule_filters[SH_RULE_VIEW]);
    assert_int_equal(c->nindexes, 1);
    sh_collection_free(c);
#undef WITH
}

/* ---- relations and the resolver ---- */
static void test_schema_relations(void **state)
{
    (void)state;
    struct catalog cat = {0};
    cat.c[cat.n++] = parse_ok("{\"id\":\"usersid00000001\",\"name\":\"users\",\"type\":\"auth\","
                              "\"fields\":[{\"name\":\"name\",\"type\":\"text\"}]}");
    struct sh_collection *p = parse_with(
        "{\"id\":\"postsid00000001\",\"name\":\"posts\",\"fields\":["
        "{\"name\":\"author\",\"type\":\"relation\",\"collectionId\":\"USERS\",\"maxSelect\":1},"
        "{\"name\":\"parent\",\"type\":\"relation\",\"collectionId\":\"postsid00000001\"},"
        "{\"name\":\"editors\",\"type\":\"relation\",\"collectionId\":\"usersid00000001\","
        "\"maxSelect\":5}],"
        "\"listRule\":\"author.name = 'x' || editors.name ?= 'y' || parent.author.name != ''\"}",
        NULL, &cat);
    /* Names are stored as ids. */
    assert_string_equal(sh_collection_field(p, "author")->collection_id, "usersid00000001");
    assert_string_equal(sh_collection_field(p, "parent")->collection_id, "postsid00000001");
    assert_true(sh_field_is_multi(sh_collection_field(p, "editors")));
    assert_false(sh_field_is_multi(sh_collection_field(p, "author")));
    sh_collection_free(p);

    struct sh_schema_error err =
        parse_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"author\",\"type\":\"relation\","
                  "\"collectionId\":\"ghosts\"}]}",
                  NULL, &cat);
    assert_string_equal(err.message, "collection \"posts\": field \"author\": the relation "
                                     "collection \"ghosts\" doesn't exist.");
    assert_string_equal(err.collection, "posts");
    assert_string_equal(err.field, "author");
    assert_string_equal(err.vcode, "validation_field_relation_missing_collection");
    /* Without a resolver only self-relations resolve. */
    err = parse_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"author\",\"type\":\"relation\","
                    "\"collectionId\":\"users\"}]}",
                    NULL, NULL);
    assert_string_equal(err.field, "author");
    err = parse_err("{\"name\":\"posts\",\"fields\":[{\"name\":\"author\",\"type\":\"relation\","
                    "\"collectionId\":\"users\"}],\"viewRule\":\"author.nope = 1\"}",
                    NULL, &cat);
    assert_string_equal(err.message, "collection \"posts\": viewRule: Invalid filter: unknown "
                                     "field \"author.nope\".");
    assert_string_equal(err.key, "viewRule");
    assert_string_equal(err.vcode, "validation_invalid_rule");
    /* Names are unique across collections, case-insensitively, and not another's id. */
    err = parse_err("{\"name\":\"Users\"}", NULL, &cat);
    assert_string_equal(err.message, "collection \"Users\": name: the name is already used by "
                                     "another collection.");
    err = parse_err("{\"name\":\"usersid00000001\"}", NULL, &cat);
    assert_string_equal(err.vcode, "validation_collection_name_exists");
    err = parse_err("{\"name\":\"people\",\"id\":\"usersid00000001\"}", NULL, &cat);
    assert_string_equal(err.message, "collection \"people\": id: a collection with this id "
                                     "already exists.");
    catalog_free(&cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_base_defaults),
        cmocka_unit_test(test_schema_auth_defaults),
        cmocka_unit_test(test_schema_refusals_collection),
        cmocka_unit_test(test_schema_refusals_fields),
        cmocka_unit_test(test_schema_refusals_indexes_and_rules),
        cmocka_unit_test(test_schema_relations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
