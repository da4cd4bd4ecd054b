/*
 * View collections: a superuser's SELECT served read-only through the
 * records API (PocketBase's `type: "view"`, core/view.go).
 *
 * sh_view_infer checks the query and infers the collection's fields from it,
 * on a given connection, by preparing it (never running it):
 *  - exactly one statement (only whitespace and `;` may follow it), for which
 *    sqlite3_stmt_readonly holds, not EXPLAIN;
 *  - an authorizer active during the prepare allows only reading: SELECT,
 *    READ and FUNCTION (but load_extension) and recursive CTEs; every other
 *    action (ATTACH, DETACH, PRAGMA, writes, DDL, transactions) is refused,
 *    as is reading a table of another database than "main" (temp objects,
 *    attached files) or any internal table: names starting with `_` (the
 *    system collections and stagehand's `_collections`, `_meta`,
 *    `_migrations`, `_sessions`) or `sqlite_`. PocketBase lets a view read
 *    its system tables; stagehand does not, so that no listRule can expose
 *    sessions or superusers.
 *  - fields, one per result column, named by the column (an expression needs
 *    an alias that is a valid field name; names unique): a column read
 *    straight from a collection's field copies that field's type and options
 *    (PocketBase's inference; a relation keeps its target, so expand works);
 *    a computed column gets the type its expression yields when that is
 *    known from the query's text (view_types.c: `count(*)`, `sum()`,
 *    comparisons: number; `||`: text; casts), else it is a json field
 *    (PocketBase's default for expressions; its value is read as JSON, or as
 *    a string when it is not JSON). A password or encrypted field is
 *    refused. An `id` column is
 *    required: it is the view's primary key.
 * sh__view_parse takes the query and the fields so inferred (the API and
 * the CLI infer before parsing) and checks that the write rules are null.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "schema_int.h"
#include "stagehand/core.h"
#include "stagehand/schema.h"

int sh__view_parse(struct sh_collection *c, const cJSON *json, struct sh_schema_error *err)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(json, "viewQuery");
    if (!cJSON_IsString(q) || !q->valuestring[0])
        return sh__schema_fail(err, c->name, "", "viewQuery", "validation_required",
                               "a view collection needs a viewQuery.");
    if (strlen(q->valuestring) > SH_VIEW_QUERY_MAX)
        return sh__schema_fail(err, c->name, "", "viewQuery", "validation_length_too_long",
                               "the viewQuery is longer than %d bytes.", SH_VIEW_QUERY_MAX);
    c->view_query = sh_strdup(q->valuestring);
    static const char *const writes[] = {"createRule", "updateRule", "deleteRule"};
    for (size_t i = 0; i < SH_ARRAY_LEN(writes); i++) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(json, writes[i]);
        if (r && !cJSON_IsNull(r))
            return sh__schema_fail(err, c->name, "", writes[i], "validation_invalid_rule",
                                   "a view collection is read-only: %s must be null.", writes[i]);
    }
    ssize_t id = -1;
    for (size_t i = 0; i < c->nfields && id < 0; i++)
        if (strcmp(c->fields[i].name, "id") == 0)
            id = (ssize_t)i;
    if (id < 0)
        return sh__schema_fail(err, c->name, "", "viewQuery", "validation_missing_id",
                               "the view query must select an \"id\" column.");
    struct sh_field f = c->fields[id];
    memmove(&c->fields[1], &c->fields[0], (size_t)id * sizeof(f));
    c->fields[0] = f;
    c->fields[0].primary_key = true;
    return 0;
}

struct guard {
    const char *refused; /* what the authorizer refused first (static or table name copy) */
    char table[SH_SCHEMA_NAME_MAX + 1];
};

static int authorize(void *ud, int action, const char *a, const char *b, const char *db,
                     const char *trigger)
{
    (void)b;
    (void)trigger;
    struct guard *g = ud;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        if (b && strcasecmp(b, "load_extension") == 0) {
            g->refused = "load_extension";
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    case SQLITE_READ:
        if ((db && strcmp(db, "main") != 0) || !a || a[0] == '_' ||
            strncasecmp(a, "sqlite_", 7) == 0) {
            if (!g->refused) {
                snprintf(g->table, sizeof(g->table), "%s", a ? a : "?");
                g->refused = g->table;
            }
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    default:
        if (!g->refused)
            g->refused = "a statement other than SELECT";
        return SQLITE_DENY;
    }
}

/* The inferred field of column i of st, or NULL after filling err;
 * computed is the type of the column's expression when it is not a field
 * (view_types.c), NULL: json. */
static cJSON *infer_column(sqlite3_stmt *st, int i, const char *coll, const char *computed,
                           const struct sh_collection_resolver *r, struct sh_schema_error *err)
{
    const char *name = sqlite3_column_name(st, i);
    if (!name || !sh__schema_name_ok(name, strlen(name))) {
        sh__schema_fail(err, coll, "", "viewQuery", "validation_invalid_view_column",
                        "result column %d (\"%.40s\") needs an alias that is a field name "
                        "(letters, digits and _).",
                        i + 1, name ? name : "");
        return NULL;
    }
    const char *table = sqlite3_column_table_name(st, i);
    const char *origin = sqlite3_column_origin_name(st, i);
    const struct sh_collection *src = table && r && r->find ? r->find(r->ud, table) : NULL;
    const struct sh_field *f = src && origin ? sh_collection_field(src, origin) : NULL;
    bool is_id = strcmp(name, "id") == 0;
    cJSON *o;
    if (f) {
        if (f->kind == SH_FIELD_PASSWORD || f->encrypted) {
            sh__schema_fail(err, coll, name, "viewQuery", "validation_invalid_view_column",
                            "a view cannot select a %s field.",
                            f->encrypted ? "encrypted" : "password");
            return NULL;
        }
        o = sh__field_to_json(f);
        cJSON_DeleteItemFromObjectCaseSensitive(o, "id");
        cJSON_ReplaceItemInObjectCaseSensitive(o, "name", cJSON_CreateString(name));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "system", cJSON_CreateBool(is_id));
        if (f->kind == SH_FIELD_TEXT) {
            cJSON_ReplaceItemInObjectCaseSensitive(o, "primaryKey", cJSON_CreateBool(is_id));
            cJSON_ReplaceItemInObjectCaseSensitive(o, "autogeneratePattern",
                                                   cJSON_CreateString(""));
        }
        if (f->kind == SH_FIELD_AUTODATE) /* read-only anyway: keep the type */
            return o;
    } else {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddStringToObject(o, "type", is_id ? "text" : computed ? computed : "json");
        if (is_id) {
            cJSON_AddBoolToObject(o, "primaryKey", 1);
            cJSON_AddBoolToObject(o, "system", 1);
        }
    }
    if (is_id && strcmp(cJSON_GetObjectItemCaseSensitive(o, "type")->valuestring, "text") != 0) {
        cJSON_Delete(o);
        sh__schema_fail(err, coll, "id", "viewQuery", "validation_invalid_view_column",
                        "the \"id\" column must be text (a record id).");
        return NULL;
    }
    return o;
}

int sh_view_infer(sqlite3 *conn, const char *coll, const char *query,
                  const struct sh_collection_resolver *r, cJSON **fields,
                  struct sh_schema_error *err)
{
    *fields = NULL;
    if (err)
        memset(err, 0, sizeof(*err));
    size_t len = query ? strlen(query) : 0;
    if (!len)
        return sh__schema_fail(err, coll, "", "viewQuery", "validation_required",
                               "a view collection needs a viewQuery.");
    if (len > SH_VIEW_QUERY_MAX)
        return sh__schema_fail(err, coll, "", "viewQuery", "validation_length_too_long",
                               "the viewQuery is longer than %d bytes.", SH_VIEW_QUERY_MAX);
    struct guard g = {0};
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    sqlite3_set_authorizer(conn, authorize, &g);
    int src = sqlite3_prepare_v2(conn, query, (int)len, &st, &tail);
    sqlite3_set_authorizer(conn, NULL, NULL);
    int rc = 0;
    if (g.refused)
        rc = sh__schema_fail(err, coll, "", "viewQuery", "validation_invalid_view_query",
                             "a view may only read collections: \"%.100s\" is not allowed.",
                             g.refused);
    else if (src != SQLITE_OK)
        rc = sh__schema_fail(err, coll, "", "viewQuery", "validation_invalid_view_query",
                             "invalid query: %.200s.", sqlite3_errmsg(conn));
    else if (!st)
        rc = sh__schema_fail(err, coll, "", "viewQuery", "validation_invalid_view_query",
                             "the query is empty.");
    else if (tail && tail[strspn(tail, " \t\r\n;")])
        rc = sh__schema_fail(err, coll, "", "viewQuery", "validation_invalid_view_query",
                             "the view query must be exactly one statement.");
    else if (!sqlite3_stmt_readonly(st) || sqlite3_stmt_isexplain(st))
        rc = sh__schema_fail(err, coll, "", "viewQuery", "validation_invalid_view_query",
                             "the view query must be a read-only SELECT.");
    cJSON *arr = rc ? NULL : cJSON_CreateArray();
    bool has_id = false;
    int n = rc ? 0 : sqlite3_column_count(st);
    if (!rc && n > SH_SCHEMA_MAX_FIELDS)
        rc = sh__schema_fail(err, coll, "", "viewQuery", "validation_invalid_view_query",
                             "too many result columns (at most %d).", SH_SCHEMA_MAX_FIELDS);
    const char **computed = NULL;
    if (!rc) {
        computed = sh_calloc((size_t)n + 1, sizeof(*computed));
        sh__view_column_types(query, n, computed);
    }
    for (int i = 0; !rc && i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        for (int k = 0; k < i && name; k++)
            if (sh_schema_name_eq(name, sqlite3_column_name(st, k)))
                rc = sh__schema_fail(err, coll, name, "viewQuery", "validation_invalid_view_column",
                                     "two result columns are called \"%.40s\".", name);
        cJSON *o = rc ? NULL : infer_column(st, i, coll, computed[i], r, err);
        if (!o) {
            rc = SH_EINVAL;
            break;
        }
        has_id |= strcmp(name, "id") == 0;
        cJSON_AddItemToArray(arr, o);
    }
    if (!rc && !has_id)
        rc = sh__schema_fail(err, coll, "", "viewQuery", "validation_missing_id",
                             "the view query must select an \"id\" column.");
    free(computed);
    sqlite3_finalize(st);
    if (rc) {
        cJSON_Delete(arr);
        return rc;
    }
    *fields = arr;
    return 0;
}

int sh_view_infer_into(sqlite3 *conn, cJSON *json, const struct sh_collection *old,
                       const struct sh_collection_resolver *r, struct sh_schema_error *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(json, "type");
    bool view = cJSON_IsString(type) ? strcmp(type->valuestring, "view") == 0
                                     : old && old->type == SH_COLLECTION_VIEW;
    if (!view || !cJSON_IsObject(json))
        return 0;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(json, "viewQuery");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(json, "name");
    const char *coll = cJSON_IsString(name) ? name->valuestring : old ? old->name : "";
    const char *query = cJSON_IsString(q) ? q->valuestring : old ? old->view_query : NULL;
    cJSON *fields;
    int rc = sh_view_infer(conn, coll, query, r, &fields, err);
    if (rc)
        return rc;
    /* The ids a definition gave keep their fields (matched by name). */
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(json, "fields");
    cJSON *f;
    cJSON_ArrayForEach(f, fields) {
        const char *fname = cJSON_GetObjectItemCaseSensitive(f, "name")->valuestring;
        const cJSON *g;
        cJSON_ArrayForEach(g, given) {
            const cJSON *gn = cJSON_GetObjectItemCaseSensitive(g, "name");
            const cJSON *gid = cJSON_GetObjectItemCaseSensitive(g, "id");
            if (cJSON_IsString(gn) && strcmp(gn->valuestring, fname) == 0 && cJSON_IsString(gid))
                cJSON_AddStringToObject(f, "id", gid->valuestring);
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(json, "fields"))
        cJSON_ReplaceItemInObjectCaseSensitive(json, "fields", fields);
    else
        cJSON_AddItemToObject(json, "fields", fields);
    return 0;
}
