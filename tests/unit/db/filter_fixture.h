/*
 * A small schema shared by the filter, sort and cache tests: posts relate to
 * users (author, editors, parent posts), users to orgs. The matching SQLite
 * tables and rows are created by fixture_db_open for execution tests.
 */
#ifndef STAGEHAND_TESTS_FILTER_FIXTURE_H
#define STAGEHAND_TESTS_FILTER_FIXTURE_H

#include <string.h>

#include <sqlite3.h>

#include "stagehand/filter.h"

static const struct sh_filter_field fixture_post_fields[] = {
    {"title", SH_FIELD_TEXT, 0, NULL},
    {"body", SH_FIELD_TEXT, 0, NULL},
    {"views", SH_FIELD_NUMBER, 0, NULL},
    {"published", SH_FIELD_BOOL, 0, NULL},
    {"author", SH_FIELD_RELATION, 0, "users"},
    {"tags", SH_FIELD_SELECT, SH_FILTER_FIELD_MULTI, NULL},
    {"editors", SH_FIELD_RELATION, SH_FILTER_FIELD_MULTI, "users"},
    {"parent", SH_FIELD_RELATION, 0, "posts"},
    {"data", SH_FIELD_JSON, 0, NULL},
    {"secret", SH_FIELD_TEXT, SH_FILTER_FIELD_NOFILTER, NULL},
    {"password", SH_FIELD_PASSWORD, 0, NULL},
    {"ghost", SH_FIELD_RELATION, 0, "nowhere"},
    {"bad\"name", SH_FIELD_TEXT, 0, NULL},
};

static const struct sh_filter_field fixture_user_fields[] = {
    {"name", SH_FIELD_TEXT, 0, NULL},
    {"org", SH_FIELD_RELATION, 0, "orgs"},
    {"roles", SH_FIELD_SELECT, SH_FILTER_FIELD_MULTI, NULL},
};

static const struct sh_filter_field fixture_org_fields[] = {
    {"name", SH_FIELD_TEXT, 0, NULL},
};

static const struct sh_filter_schema *fixture_resolve(void *ud, const char *collection);

static const struct sh_filter_schema fixture_posts = {
    .table = "posts",
    .fields = fixture_post_fields,
    .nfields = sizeof(fixture_post_fields) / sizeof(fixture_post_fields[0]),
    .resolve = fixture_resolve,
};
static const struct sh_filter_schema fixture_users = {
    .table = "users",
    .fields = fixture_user_fields,
    .nfields = sizeof(fixture_user_fields) / sizeof(fixture_user_fields[0]),
    .resolve = fixture_resolve,
};
static const struct sh_filter_schema fixture_orgs = {
    .table = "orgs",
    .fields = fixture_org_fields,
    .nfields = sizeof(fixture_org_fields) / sizeof(fixture_org_fields[0]),
    .resolve = fixture_resolve,
};

static const struct sh_filter_schema *fixture_resolve(void *ud, const char *collection)
{
    (void)ud;
    if (strcmp(collection, "posts") == 0)
        return &fixture_posts;
    if (strcmp(collection, "users") == 0)
        return &fixture_users;
    if (strcmp(collection, "orgs") == 0)
        return &fixture_orgs;
    return NULL;
}

/* 2024-06-15 12:00:00.000Z */
#define FIXTURE_NOW_MS INT64_C(1718452800000)

static const char fixture_sql[] =
    "CREATE TABLE orgs (id TEXT PRIMARY KEY, name TEXT);"
    "CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, org TEXT, roles TEXT,"
    " created TEXT, updated TEXT);"
    "CREATE TABLE posts (id TEXT PRIMARY KEY, title TEXT, body TEXT, views NUMERIC,"
    " published BOOLEAN, author TEXT, tags TEXT, editors TEXT, parent TEXT, data TEXT,"
    " secret TEXT, password TEXT, ghost TEXT, created TEXT, updated TEXT);"
    "INSERT INTO orgs VALUES ('o1', 'Acme');"
    "INSERT INTO users (id, name, org, roles) VALUES"
    " ('u1', 'ann', 'o1', '[\"admin\"]'), ('u2', 'bob', NULL, '[]'), ('u3', 'cy', NULL, NULL);"
    "INSERT INTO posts (id, title, body, views, published, author, tags, editors, parent,"
    " data, created) VALUES"
    " ('p1', '100% real', 'b', 10, 1, 'u1', '[\"a\",\"b\"]', '[\"u2\",\"u3\"]', NULL,"
    "  '{\"a\":[1,2]}', '2024-01-01 10:00:00.000Z'),"
    " ('p2', 'a_b', 'a_b', 5, 0, 'u2', '[]', '[]', 'p1', NULL, '2024-06-15 08:00:00.000Z'),"
    " ('p3', NULL, NULL, NULL, 0, NULL, NULL, NULL, 'p2', NULL, '2024-06-15 13:00:00.000Z'),"
    " ('p4', '', 'x', 20, 1, 'u9', '[\"b\"]', '[\"u1\"]', 'p1', '{\"a\":[3]}',"
    "  '2024-06-14 23:59:59.999Z'),"
    " ('p5', 'axb', 'q', 0, 0, 'u1', '[\"a\"]', '[\"u1\"]', NULL, NULL,"
    "  '2023-12-31 00:00:00.000Z'),"
    " ('p6', 'back\\slash', NULL, 7, 0, 'u3', 'garbage', NULL, NULL, NULL,"
    "  '2024-06-16 00:00:00.000Z');";

#endif
