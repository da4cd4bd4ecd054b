/*
 * A collection's JSON object turned into a struct sh_collection, as far as it
 * can be checked without other collections: id, name, type and system flag;
 * the field list with the system fields every collection (id, created,
 * updated) and every auth collection (email, emailVisibility, verified,
 * password, tokenKey) must have, added when missing; field ids (kept from the
 * old definition by name, else PocketBase's type+CRC-32 default); indexes
 * parsed and checked against the fields; rules parsed. Updates merge the
 * body over the old definition (PATCH) and are checked against what an
 * update may not change. Relations and rule compilation are schema_check.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"
#include "stagehand/schema.h"

/* PocketBase's default system fields (their ids come from the CRC-32 rule). */
static const char id_field_json[] =
    "{\"name\":\"id\",\"type\":\"text\",\"system\":true,\"required\":true,\"primaryKey\":true,"
    "\"min\":15,\"max\":15,\"pattern\":\"^[a-z0-9]+$\",\"autogeneratePattern\":\"[a-z0-9]{15}\"}";
static const char created_json[] =
    "{\"name\":\"created\",\"type\":\"autodate\",\"onCreate\":true,\"onUpdate\":false}";
static const char updated_json[] =
    "{\"name\":\"updated\",\"type\":\"autodate\",\"onCreate\":true,\"onUpdate\":true}";

struct sysfield {
    const char *name;
    enum sh_field_kind kind;
    bool hidden;
    const char *json;
};

static const struct sysfield auth_fields[] = {
    {"password", SH_FIELD_PASSWORD, true,
     "{\"name\":\"password\",\"type\":\"password\",\"system\":true,\"hidden\":true,"
     "\"required\":true,\"min\":8}"},
    {"tokenKey", SH_FIELD_TEXT, true,
     "{\"name\":\"tokenKey\",\"type\":\"text\",\"system\":true,\"hidden\":true,"
     "\"required\":true,\"min\":30,\"max\":60,\"autogeneratePattern\":\"[a-zA-Z0-9]{50}\"}"},
    {"email", SH_FIELD_EMAIL, false,
     "{\"name\":\"email\",\"type\":\"email\",\"system\":true,\"required\":true}"},
    {"emailVisibility", SH_FIELD_BOOL, false,
     "{\"name\":\"emailVisibility\",\"type\":\"bool\",\"system\":true}"},
    {"verified", SH_FIELD_BOOL, false, "{\"name\":\"verified\",\"type\":\"bool\",\"system\":true}"},
};

static void default_field(const char *json, struct sh_field *out)
{
    cJSON *o = cJSON_Parse(json);
    SH_ASSERT(o);
    int rc = sh__field_parse(o, "", out, NULL);
    SH_ASSERT(rc == 0);
    cJSON_Delete(o);
}

static ssize_t find_field(const struct sh_collection *c, const char *name)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (sh_schema_name_eq(c->fields[i].name, name))
            return (ssize_t)i;
    return -1;
}

/* Inserts a zeroed slot at pos and returns it. */
static struct sh_field *insert_at(struct sh_collection *c, size_t pos)
{
    c->fields = sh_realloc(c->fields, (c->nfields + 1) * sizeof(*c->fields));
    memmove(&c->fields[pos + 1], &c->fields[pos], (c->nfields - pos) * sizeof(*c->fields));
    c->nfields++;
    memset(&c->fields[pos], 0, sizeof(*c->fields));
    return &c->fields[pos];
}

/* A field whose name is a system field's in another case would be taken
 * for it (SQLite and the filter compare names case-insensitively) but keep
 * its own spelling, which the stored definition then fails to load with. */
static int check_system_case(struct sh_collection *c, const char *name, struct sh_schema_error *err)
{
    ssize_t i = find_field(c, name);
    if (i >= 0 && strcmp(c->fields[i].name, name) != 0)
        return sh__schema_fail(err, c->name, c->fields[i].name, "fields",
                               "validation_reserved_field_name",
                               "the name is the system field \"%s\" in another case.", name);
    return 0;
}

static int ensure_system_fields(struct sh_collection *c, struct sh_schema_error *err)
{
    int crc = check_system_case(c, "id", err);
    if (!crc)
        crc = check_system_case(c, "created", err);
    if (!crc)
        crc = check_system_case(c, "updated", err);
    for (size_t k = 0; !crc && c->type == SH_COLLECTION_AUTH && k < SH_ARRAY_LEN(auth_fields); k++)
        crc = check_system_case(c, auth_fields[k].name, err);
    if (crc)
        return crc;
    ssize_t i = find_field(c, "id");
    if (i < 0) {
        default_field(id_field_json, insert_at(c, 0));
    } else {
        struct sh_field f = c->fields[i];
        if (f.kind != SH_FIELD_TEXT)
            return sh__schema_fail(err, c->name, "id", "fields", "validation_missing_primary_key",
                                   "must be a text field.");
        if (f.hidden)
            return sh__schema_fail(err, c->name, "id", "fields", "validation_invalid_field",
                                   "the primary key cannot be hidden.");
        f.primary_key = f.system = f.required = true;
        if (!f.min_len && !f.max_len)
            f.min_len = f.max_len = SH_COLLECTION_ID_LEN;
        memmove(&c->fields[1], &c->fields[0], (size_t)i * sizeof(f));
        c->fields[0] = f;
        if (!f.pattern || !f.autogen) {
            struct sh_field d;
            default_field(id_field_json, &d);
            if (!c->fields[0].pattern) {
                c->fields[0].pattern = d.pattern;
                c->fields[0].re = d.re;
                d.pattern = NULL;
                d.re = NULL;
            }
            if (!c->fields[0].autogen) {
                c->fields[0].autogen = d.autogen;
                d.autogen = NULL;
            }
            sh__field_deinit(&d);
        }
    }
    if (c->type == SH_COLLECTION_AUTH) {
        size_t pos = 1;
        for (size_t k = 0; k < SH_ARRAY_LEN(auth_fields); k++) {
            const struct sysfield *sf = &auth_fields[k];
            i = find_field(c, sf->name);
            if (i < 0) {
                default_field(sf->json, insert_at(c, pos++));
                continue;
            }
            struct sh_field *f = &c->fields[i];
            if (f->kind != sf->kind)
                return sh__schema_fail(err, c->name, f->name, "fields", "validation_must_be_system",
                                       "must be a %s field in an auth collection.",
                                       sh_field_kind_name(sf->kind));
            f->system = true;
            if (sf->hidden)
                f->hidden = true;
        }
    }
    const char *const autodates[2][2] = {{"created", created_json}, {"updated", updated_json}};
    for (size_t k = 0; k < 2; k++) {
        i = find_field(c, autodates[k][0]);
        if (i < 0)
            default_field(autodates[k][1], insert_at(c, c->nfields));
        else if (c->fields[i].kind != SH_FIELD_AUTODATE)
            return sh__schema_fail(err, c->name, c->fields[i].name, "fields",
                                   "validation_invalid_field", "must be an autodate field.");
    }
    return 0;
}

/* Gives every field an id: old's id for a field of the same name, else
 * PocketBase's default (type + CRC-32 of the name, suffixed 2, 3, ... when
 * taken); then refuses duplicate ids and names. */
static int assign_field_ids(struct sh_collection *c, const struct sh_collection *old,
                            struct sh_schema_error *err)
{
    for (size_t i = 0; i < c->nfields; i++) {
        struct sh_field *f = &c->fields[i];
        if (f->id)
            continue;
        const struct sh_field *of = NULL;
        for (size_t k = 0; old && k < old->nfields && !of; k++)
            if (strcmp(old->fields[k].name, f->name) == 0)
                of = &old->fields[k];
        if (of && !sh_collection_field_by_id(c, of->id)) {
            f->id = sh_strdup(of->id);
            continue;
        }
        char base[48], id[56];
        snprintf(base, sizeof(base), "%s%" PRIu32, sh_field_kind_name(f->kind),
                 sh__crc32(f->name, strlen(f->name)));
        snprintf(id, sizeof(id), "%s", base);
        for (int n = 2; sh_collection_field_by_id(c, id) && n < 1000; n++)
            snprintf(id, sizeof(id), "%s%d", base, n);
        f->id = sh_strdup(id);
    }
    /* A system field stays one. */
    for (size_t i = 0; old && i < c->nfields; i++) {
        const struct sh_field *of = sh_collection_field_by_id(old, c->fields[i].id);
        if (of && of->system)
            c->fields[i].system = true;
    }
    for (size_t i = 0; i < c->nfields; i++) {
        for (size_t k = 0; k < i; k++) {
            if (strcmp(c->fields[i].id, c->fields[k].id) == 0)
                return sh__schema_fail(err, c->name, c->fields[i].name, "fields",
                                       "validation_duplicated_field_id",
                                       "duplicated field id \"%s\".", c->fields[i].id);
            if (sh_schema_name_eq(c->fields[i].name, c->fields[k].name))
                return sh__schema_fail(err, c->name, c->fields[i].name, "fields",
                                       "validation_duplicated_field_name",
                                       "duplicated field name.");
        }
        if (c->type == SH_COLLECTION_AUTH &&
            (sh_schema_name_eq(c->fields[i].name, "passwordConfirm") ||
             sh_schema_name_eq(c->fields[i].name, "oldPassword")))
            return sh__schema_fail(err, c->name, c->fields[i].name, "fields",
                                   "validation_reserved_field_name", "the name is reserved.");
    }
    return 0;
}

static int parse_fields(struct sh_collection *c, const cJSON *arr, struct sh_schema_error *err)
{
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return sh__schema_fail(err, c->name, "", "fields", "validation_invalid_value",
                               "\"fields\" must be an array.");
    int n = cJSON_GetArraySize(arr);
    if (n > SH_SCHEMA_MAX_FIELDS)
        return sh__schema_fail(err, c->name, "", "fields", "validation_invalid_value",
                               "too many fields (at most %d).", SH_SCHEMA_MAX_FIELDS);
    c->fields = sh_calloc((size_t)n + 1, sizeof(*c->fields));
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        int rc = sh__field_parse(e, c->name, &c->fields[c->nfields], err);
        c->nfields++; /* counted even on failure: sh_collection_free releases it */
        if (rc)
            return rc;
    }
    return 0;
}

static bool is_column(const struct sh_collection *c, const char *name)
{
    return find_field(c, name) >= 0;
}

/* A unique single-column index on col, if the collection has one. */
static bool has_unique_on(const struct sh_collection *c, const char *col)
{
    for (size_t i = 0; i < c->nindexes; i++)
        if (c->indexes[i].unique && c->indexes[i].ncols == 1 &&
            sh_schema_name_eq(c->indexes[i].cols[0].name, col))
            return true;
    return false;
}

/* An auth collection's unique index on col, added when missing. The email's
 * compares without case (COLLATE NOCASE, also on an index the definition
 * gave): a@x.io and A@x.io are one account, and the sign-in lookup by email
 * uses the index. */
static void add_auth_index(struct sh_collection *c, const char *col, bool not_empty)
{
    for (size_t i = 0; not_empty && i < c->nindexes; i++)
        if (c->indexes[i].unique && c->indexes[i].ncols == 1 &&
            sh_schema_name_eq(c->indexes[i].cols[0].name, col))
            c->indexes[i].cols[0].nocase = true;
    if (has_unique_on(c, col))
        return;
    char name[SH_SCHEMA_NAME_MAX + 1];
    snprintf(name, sizeof(name), "idx_%s_%s", col, c->id);
    for (size_t i = 0; i < c->nindexes; i++)
        if (sh_schema_name_eq(c->indexes[i].name, name))
            return; /* a same-named index the user defined otherwise: leave it */
    c->indexes = sh_realloc(c->indexes, (c->nindexes + 1) * sizeof(*c->indexes));
    struct sh_index *ix = &c->indexes[c->nindexes++];
    memset(ix, 0, sizeof(*ix));
    ix->name = sh_strdup(name);
    ix->table = sh_strdup(c->name);
    ix->unique = true;
    ix->cols = sh_calloc(1, sizeof(*ix->cols));
    ix->cols[0].name = sh_strdup(col);
    ix->cols[0].nocase = not_empty; /* the email: unique whatever its case */
    ix->ncols = 1;
    if (not_empty)
        ix->where_not_empty = sh_strdup(col);
}

static int parse_indexes(struct sh_collection *c, const cJSON *arr, const struct sh_collection *old,
                         struct sh_schema_error *err)
{
    const char *old_name = old ? old->name : NULL;
    if (arr && !cJSON_IsNull(arr)) {
        if (!cJSON_IsArray(arr))
            return sh__schema_fail(err, c->name, "", "indexes", "validation_invalid_value",
                                   "\"indexes\" must be an array of strings.");
        int n = cJSON_GetArraySize(arr);
        if (n > SH_SCHEMA_MAX_INDEXES)
            return sh__schema_fail(err, c->name, "", "indexes", "validation_invalid_value",
                                   "too many indexes (at most %d).", SH_SCHEMA_MAX_INDEXES);
        c->indexes = sh_calloc((size_t)n + 1, sizeof(*c->indexes));
        const cJSON *e;
        size_t pos = 0;
        cJSON_ArrayForEach(e, arr) {
            pos++;
            if (!cJSON_IsString(e))
                return sh__schema_fail(err, c->name, "", "indexes",
                                       "validation_invalid_index_expression",
                                       "index %zu is not a string.", pos);
            char msg[200];
            struct sh_index *ix = &c->indexes[c->nindexes];
            if (sh_index_parse(e->valuestring, strlen(e->valuestring), ix, msg, sizeof(msg)))
                return sh__schema_fail(err, c->name, "", "indexes",
                                       "validation_invalid_index_expression", "index %zu: %s", pos,
                                       msg);
            c->nindexes++;
            if (sh__schema_name_reserved(ix->name))
                return sh__schema_fail(
                    err, c->name, "", "indexes", "validation_invalid_index_expression",
                    "index %zu: the name \"%s\" is reserved for internal use.", pos, ix->name);
            if (!sh_schema_name_eq(ix->table, c->name) &&
                !(old_name && sh_schema_name_eq(ix->table, old_name)))
                return sh__schema_fail(
                    err, c->name, "", "indexes", "validation_invalid_index_expression",
                    "index %zu: the table must be \"%s\", not \"%s\".", pos, c->name, ix->table);
            for (size_t k = 0; k < ix->ncols; k++) {
                const char *to =
                    is_column(c, ix->cols[k].name) ? NULL : sh__renamed(old, c, ix->cols[k].name);
                if (to) { /* a renamed field: the index follows it */
                    free(ix->cols[k].name);
                    ix->cols[k].name = sh_strdup(to);
                }
            }
            if (ix->where_not_empty && !is_column(c, ix->where_not_empty) &&
                sh__renamed(old, c, ix->where_not_empty)) {
                char *to = sh_strdup(sh__renamed(old, c, ix->where_not_empty));
                free(ix->where_not_empty);
                ix->where_not_empty = to;
            }
            for (size_t k = 0; k < ix->ncols; k++)
                if (!is_column(c, ix->cols[k].name))
                    return sh__schema_fail(err, c->name, ix->cols[k].name, "indexes",
                                           "validation_invalid_index_expression",
                                           "index %zu: no such field.", pos);
            if (ix->where_not_empty && !is_column(c, ix->where_not_empty))
                return sh__schema_fail(err, c->name, ix->where_not_empty, "indexes",
                                       "validation_invalid_index_expression",
                                       "index %zu: no such field.", pos);
            for (size_t k = 0; k + 1 < c->nindexes; k++)
                if (sh_schema_name_eq(c->indexes[k].name, ix->name))
                    return sh__schema_fail(
                        err, c->name, "", "indexes", "validation_duplicated_index_name",
                        "index %zu: the index name \"%s\" is used twice.", pos, ix->name);
        }
    }
    if (c->type == SH_COLLECTION_AUTH) {
        add_auth_index(c, "tokenKey", false);
        add_auth_index(c, "email", true);
    }
    return 0;
}

static int parse_rules(struct sh_collection *c, const cJSON *json, struct sh_schema_error *err)
{
    size_t nrules = c->type == SH_COLLECTION_AUTH ? SH_RULE_COUNT : SH_RULE_AUTH;
    for (size_t k = 0; k < nrules; k++) {
        const char *key = sh_rule_kind_name((enum sh_rule_kind)k);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, key);
        if (!v && k == SH_RULE_AUTH)
            c->rules[k] = sh_strdup(""); /* PocketBase's default authRule */
        if (!v || cJSON_IsNull(v))
            continue;
        if (!cJSON_IsString(v))
            return sh__schema_fail(err, c->name, "", key, "validation_invalid_rule",
                                   "must be null or a string.");
        size_t len = strlen(v->valuestring);
        struct sh_filter_error ferr;
        if (sh_filter_parse(v->valuestring, len, &c->rule_filters[k], &ferr))
            return sh__schema_fail(err, c->name, "", key, "validation_invalid_rule", "%s",
                                   ferr.message);
        free(c->rules[k]);
        c->rules[k] = sh_strdup(v->valuestring);
    }
    return 0;
}

static int parse_head(struct sh_collection *c, const cJSON *json, struct sh_schema_error *err)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(json, "name");
    const char *shown = cJSON_IsString(name) ? name->valuestring : "";
    if (!cJSON_IsString(name) || !name->valuestring[0])
        return sh__schema_fail(err, "", "", "name", "validation_required",
                               "a collection needs a name.");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(json, "system");
    if (sys && !cJSON_IsNull(sys) && !cJSON_IsBool(sys))
        return sh__schema_fail(err, shown, "", "system", "validation_invalid_value",
                               "must be a boolean.");
    c->system = cJSON_IsTrue(sys);
    size_t nlen = strlen(name->valuestring);
    if (!sh__schema_name_ok(name->valuestring, nlen))
        return sh__schema_fail(err, shown, "", "name", "validation_match_invalid",
                               "invalid name (letters, digits and _, not starting with a digit, "
                               "at most 100).");
    if (name->valuestring[0] == '_' && !c->system)
        return sh__schema_fail(err, shown, "", "name", "validation_match_invalid",
                               "only system collections may start with \"_\".");
    if (sh__schema_name_reserved(name->valuestring))
        return sh__schema_fail(err, shown, "", "name", "validation_invalid_name",
                               "the name is reserved for internal tables.");
    if (strstr(name->valuestring, "_via_"))
        return sh__schema_fail(err, shown, "", "name", "validation_found_via",
                               "the name must not contain \"_via_\".");
    c->name = sh_strdup(name->valuestring);

    const cJSON *type = cJSON_GetObjectItemCaseSensitive(json, "type");
    if (!type || cJSON_IsNull(type) || (cJSON_IsString(type) && !strcmp(type->valuestring, "base")))
        c->type = SH_COLLECTION_BASE;
    else if (cJSON_IsString(type) && strcmp(type->valuestring, "auth") == 0)
        c->type = SH_COLLECTION_AUTH;
    else if (cJSON_IsString(type) && strcmp(type->valuestring, "view") == 0)
        c->type = SH_COLLECTION_VIEW;
    else if (cJSON_IsString(type))
        return sh__schema_fail(err, c->name, "", "type", "validation_in_invalid",
                               "unknown or unsupported type \"%.40s\".", type->valuestring);
    else
        return sh__schema_fail(err, c->name, "", "type", "validation_in_invalid",
                               "must be \"base\", \"auth\" or \"view\".");

    const cJSON *id = cJSON_GetObjectItemCaseSensitive(json, "id");
    if (id && !cJSON_IsNull(id) && !(cJSON_IsString(id) && !id->valuestring[0])) {
        size_t len = cJSON_IsString(id) ? strlen(id->valuestring) : 0;
        if (!len || len > SH_SCHEMA_NAME_MAX ||
            strspn(id->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789_") != len)
            return sh__schema_fail(err, c->name, "", "id", "validation_match_invalid",
                                   "invalid collection id.");
        c->id = sh_strdup(id->valuestring);
    } else {
        c->id = sh_malloc(SH_COLLECTION_ID_LEN + 1);
        sh_random_string(c->id, SH_COLLECTION_ID_LEN, "abcdefghijklmnopqrstuvwxyz0123456789");
    }
    return 0;
}

/* Auth collections: `authToken` {secret, duration}. A missing secret is
 * generated (an update keeps old's: PATCH merging brings it along). */
static int parse_token_options(struct sh_collection *c, const cJSON *json,
                               struct sh_schema_error *err)
{
    if (c->type != SH_COLLECTION_AUTH)
        return 0;
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(json, "authToken");
    if (tok && !cJSON_IsNull(tok) && !cJSON_IsObject(tok))
        return sh__schema_fail(err, c->name, "", "authToken", "validation_invalid_value",
                               "\"authToken\" must be an object.");
    const cJSON *secret = cJSON_GetObjectItemCaseSensitive(tok, "secret");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(tok, "duration");
    if (secret && !cJSON_IsNull(secret)) {
        size_t len = cJSON_IsString(secret) ? strlen(secret->valuestring) : 0;
        bool printable = len > 0;
        for (size_t i = 0; i < len; i++)
            printable &= secret->valuestring[i] > ' ' && secret->valuestring[i] < 127;
        if (len < 30 || len > 255 || !printable)
            return sh__schema_fail(err, c->name, "", "authToken", "validation_invalid_value",
                                   "the token secret must be 30 to 255 printable characters.");
        c->token_secret = sh_strdup(secret->valuestring);
    } else {
        c->token_secret = sh_malloc(51);
        sh_random_string(c->token_secret, 50,
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    }
    if (dur && !cJSON_IsNull(dur)) {
        if (!cJSON_IsNumber(dur) || dur->valuedouble < 0 || dur->valuedouble > 315360000.0 ||
            dur->valuedouble != (double)(int64_t)dur->valuedouble)
            return sh__schema_fail(err, c->name, "", "authToken", "validation_invalid_value",
                                   "the token duration must be whole seconds (at most 10 years).");
        c->token_duration = (int64_t)dur->valuedouble;
    }
    return 0;
}

/* PATCH: old's JSON with every key of json replacing its counterpart (the
 * auth option objects key by key, so that changing a duration keeps the
 * secret). */
static cJSON *merge_over(const struct sh_collection *old, const cJSON *json)
{
    cJSON *m = sh_collection_to_json(old);
    const cJSON *e;
    cJSON_ArrayForEach(e, json) {
        cJSON *into = cJSON_GetObjectItemCaseSensitive(m, e->string);
        if (sh__auth_option_is_object(e->string) && cJSON_IsObject(e) && cJSON_IsObject(into)) {
            const cJSON *k;
            cJSON_ArrayForEach(k, e) {
                cJSON *kc = cJSON_Duplicate(k, 1);
                SH_ASSERT(kc);
                if (cJSON_GetObjectItemCaseSensitive(into, k->string))
                    cJSON_ReplaceItemInObjectCaseSensitive(into, k->string, kc);
                else
                    cJSON_AddItemToObject(into, k->string, kc);
            }
            continue;
        }
        cJSON *copy = cJSON_Duplicate(e, 1);
        SH_ASSERT(copy);
        if (cJSON_GetObjectItemCaseSensitive(m, e->string))
            cJSON_ReplaceItemInObjectCaseSensitive(m, e->string, copy);
        else
            cJSON_AddItemToObject(m, e->string, copy);
    }
    return m;
}

int sh__collection_parse_shape(const cJSON *json, const struct sh_collection *old,
                               struct sh_collection **out, struct sh_schema_error *err)
{
    *out = NULL;
    if (err)
        memset(err, 0, sizeof(*err));
    if (!cJSON_IsObject(json))
        return sh__schema_fail(err, "", "", "", "validation_invalid_value",
                               "a collection must be a JSON object.");
    cJSON *merged = old ? merge_over(old, json) : NULL;
    const cJSON *src = merged ? merged : json;
    struct sh_collection *c = sh_calloc(1, sizeof(*c));
    int rc = parse_head(c, src, err);
    if (!rc)
        rc = sh__collection_check_keys(c, json, err);
    if (!rc && old && strcmp(c->id, old->id) != 0)
        rc = sh__schema_fail(err, c->name, "", "id", "validation_invalid_value",
                             "the collection id cannot be changed.");
    if (!rc)
        rc = parse_fields(c, cJSON_GetObjectItemCaseSensitive(src, "fields"), err);
    if (!rc && c->type == SH_COLLECTION_VIEW)
        rc = sh__view_parse(c, src, err);
    else if (!rc)
        rc = ensure_system_fields(c, err);
    if (!rc)
        rc = assign_field_ids(c, old, err);
    if (!rc && c->type == SH_COLLECTION_VIEW &&
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(src, "indexes")) > 0)
        rc = sh__schema_fail(err, c->name, "", "indexes", "validation_invalid_value",
                             "a view collection has no indexes.");
    if (!rc)
        rc = parse_indexes(c, cJSON_GetObjectItemCaseSensitive(src, "indexes"), old, err);
    if (!rc)
        sh__rename_rules(old, c, json, merged);
    if (!rc)
        rc = parse_rules(c, src, err);
    if (!rc)
        rc = parse_token_options(c, src, err);
    if (!rc)
        rc = sh__auth_options_parse(c, src, err);
    cJSON_Delete(merged);
    if (rc) {
        sh_collection_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static bool same_rule(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int sh__collection_check_update(const struct sh_collection *old, const struct sh_collection *c,
                                struct sh_schema_error *err)
{
    if (strcmp(old->id, c->id) != 0)
        return sh__schema_fail(err, c->name, "", "id", "validation_invalid_value",
                               "the collection id cannot be changed.");
    if (old->type != c->type)
        return sh__schema_fail(err, c->name, "", "type", "validation_collection_type_change",
                               "the collection type cannot be changed.");
    if (old->system != c->system)
        return sh__schema_fail(err, c->name, "", "system",
                               "validation_collection_system_flag_change",
                               "the system flag cannot be changed.");
    if (old->system && strcmp(old->name, c->name) != 0)
        return sh__schema_fail(err, c->name, "", "name", "validation_collection_system_name_change",
                               "a system collection cannot be renamed.");
    for (size_t k = 0; old->system && k < SH_RULE_COUNT; k++)
        if (!same_rule(old->rules[k], c->rules[k]))
            return sh__schema_fail(err, c->name, "", sh_rule_kind_name((enum sh_rule_kind)k),
                                   "validation_collection_system_rule_change",
                                   "the rules of a system collection cannot be changed.");
    for (size_t i = 0; i < old->nfields; i++) {
        const struct sh_field *of = &old->fields[i];
        const struct sh_field *nf = sh_collection_field_by_id(c, of->id);
        if (of->system && (!nf || strcmp(nf->name, of->name) != 0))
            return sh__schema_fail(err, c->name, of->name, "fields",
                                   "validation_system_field_change",
                                   "system fields cannot be deleted or renamed.");
        if (nf && of->encrypted && nf->kind != of->kind)
            return sh__schema_fail(err, c->name, nf->name, "fields", "validation_field_type_change",
                                   "the type of an encrypted field cannot be changed.");
        if (nf && nf->kind != of->kind &&
            (nf->kind == SH_FIELD_GEOPOINT || of->kind == SH_FIELD_GEOPOINT))
            return sh__schema_fail(err, c->name, nf->name, "fields", "validation_field_type_change",
                                   "a field cannot change its type to or from geoPoint.");
        if (nf && nf->encrypted != of->encrypted)
            return sh__schema_fail(err, c->name, nf->name, "fields", "validation_invalid_field",
                                   "\"encrypted\" cannot be changed on an existing field.");
        if (nf && nf->kind == SH_FIELD_RELATION && of->kind == SH_FIELD_RELATION &&
            nf->collection_id && of->collection_id &&
            strcmp(nf->collection_id, of->collection_id) != 0)
            return sh__schema_fail(err, c->name, nf->name, "fields",
                                   "validation_field_relation_change",
                                   "the relation collection cannot be changed.");
    }
    return 0;
}
