/*
 * PocketBase's auth collection options beyond `authToken` (parse.c's): they
 * are parsed, validated, completed with PocketBase's defaults
 * (core/collection_model_auth_options.go) and written back in the same
 * shape, so a collection exported from PocketBase imports unchanged and
 * exports equal.
 *
 *  - passwordAuth {enabled, identityFields}: the fields a password sign-in
 *    may name as its identity (default ["email"]); each must exist and have
 *    a unique single-column index (as PocketBase requires).
 *  - passwordResetToken, emailChangeToken, verificationToken, fileToken
 *    {secret, duration}: duration whole seconds in [10, 94670856] (defaults
 *    1800, 1800, 259200, 180), secret 30-255 printable characters (generated
 *    when absent, kept across updates by PATCH merging).
 *  - authAlert {enabled, emailTemplate}, mfa {enabled, duration, rule},
 *    otp {enabled, duration, length, emailTemplate}, oauth2 {enabled,
 *    providers, mappedFields}, and the templates verificationTemplate,
 *    resetPasswordTemplate, confirmEmailChangeTemplate ({subject, body}):
 *    stored as given over the defaults. OTP, MFA and OAuth2 sign-in are not
 *    implemented: `enabled: true` on any of them is refused, naming it, so
 *    that no collection configured for a second factor signs users in with
 *    one.
 * Keys of a collection that PocketBase's JSON does not carry are refused
 * (sh__collection_check_keys), never dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"
#include "stagehand/schema.h"

#define TOKEN_MIN 10
#define TOKEN_MAX 94670856 /* about 3 years, PocketBase's bound */

static const struct {
    const char *key;
    int64_t duration;
} tokens[] = {
    {"passwordResetToken", 1800},
    {"emailChangeToken", 1800},
    {"verificationToken", 259200},
    {"fileToken", 180},
};

/* The defaults of the objects kept in auth_extra (tokens are added apart). */
static const char defaults_json[] =
    "{\"authAlert\":{\"enabled\":true,\"emailTemplate\":{\"subject\":\"Login from a new "
    "location\",\"body\":\"<p>Hello,</p><p>We noticed a login to your {APP_NAME} account from a "
    "new location.</p>\"}},"
    "\"oauth2\":{\"enabled\":false,\"mappedFields\":{\"id\":\"\",\"name\":\"\",\"username\":\"\","
    "\"avatarURL\":\"\"},\"providers\":[]},"
    "\"mfa\":{\"enabled\":false,\"duration\":1800,\"rule\":\"\"},"
    "\"otp\":{\"enabled\":false,\"duration\":180,\"length\":8,\"emailTemplate\":{\"subject\":"
    "\"OTP for {APP_NAME}\",\"body\":\"<p>Your one-time password is: "
    "<strong>{OTP}</strong></p>\"}},"
    "\"verificationTemplate\":{\"subject\":\"Verify your {APP_NAME} email\",\"body\":\"<p>Click "
    "to verify: {APP_URL}/_/#/auth/confirm-verification/{TOKEN}</p>\"},"
    "\"resetPasswordTemplate\":{\"subject\":\"Reset your {APP_NAME} password\",\"body\":\"<p>"
    "Click to reset: {APP_URL}/_/#/auth/confirm-password-reset/{TOKEN}</p>\"},"
    "\"confirmEmailChangeTemplate\":{\"subject\":\"Confirm your {APP_NAME} new email "
    "address\",\"body\":\"<p>Click to confirm: "
    "{APP_URL}/_/#/auth/confirm-email-change/{TOKEN}</p>\"}}";

/* The objects an update merges key by key (parse.c's merge_over). */
static const char *const object_keys[] = {
    "authToken",
    "passwordAuth",
    "authAlert",
    "oauth2",
    "mfa",
    "otp",
    "passwordResetToken",
    "emailChangeToken",
    "verificationToken",
    "fileToken",
    "verificationTemplate",
    "resetPasswordTemplate",
    "confirmEmailChangeTemplate",
};

/* The keys every collection's JSON may carry; then those of auth ones. */
static const char *const base_keys[] = {
    "id",       "name",       "type",       "system",     "fields",  "indexes", "listRule",
    "viewRule", "createRule", "updateRule", "deleteRule", "created", "updated",
};
static const char *const auth_keys[] = {"authRule", "manageRule"};
static const char *const view_keys[] = {"viewQuery"};

/* The subkeys each option object may carry (NULL ends a list). */
static const struct {
    const char *key;
    const char *sub[5];
} subkeys[] = {
    {"passwordAuth", {"enabled", "identityFields", NULL}},
    {"authAlert", {"enabled", "emailTemplate", NULL}},
    {"oauth2", {"enabled", "providers", "mappedFields", NULL}},
    {"mfa", {"enabled", "duration", "rule", NULL}},
    {"otp", {"enabled", "duration", "length", "emailTemplate", NULL}},
    {"authToken", {"secret", "duration", NULL}},
    {"passwordResetToken", {"secret", "duration", NULL}},
    {"emailChangeToken", {"secret", "duration", NULL}},
    {"verificationToken", {"secret", "duration", NULL}},
    {"fileToken", {"secret", "duration", NULL}},
    {"verificationTemplate", {"subject", "body", NULL}},
    {"resetPasswordTemplate", {"subject", "body", NULL}},
    {"confirmEmailChangeTemplate", {"subject", "body", NULL}},
};

static bool in_list(const char *const *l, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], s) == 0)
            return true;
    return false;
}

bool sh__auth_option_is_object(const char *key)
{
    return in_list(object_keys, SH_ARRAY_LEN(object_keys), key);
}

int sh__collection_check_keys(const struct sh_collection *c, const cJSON *json,
                              struct sh_schema_error *err)
{
    bool auth = c->type == SH_COLLECTION_AUTH;
    const cJSON *e;
    cJSON_ArrayForEach(e, json) {
        const char *k = e->string;
        if (in_list(base_keys, SH_ARRAY_LEN(base_keys), k))
            continue;
        if (c->type == SH_COLLECTION_VIEW && in_list(view_keys, SH_ARRAY_LEN(view_keys), k))
            continue;
        if (auth && (in_list(auth_keys, SH_ARRAY_LEN(auth_keys), k) ||
                     in_list(object_keys, SH_ARRAY_LEN(object_keys), k))) {
            for (size_t i = 0; i < SH_ARRAY_LEN(subkeys); i++) {
                if (strcmp(subkeys[i].key, k) != 0 || !cJSON_IsObject(e))
                    continue;
                const cJSON *s;
                cJSON_ArrayForEach(s, e) {
                    size_t n = 0;
                    while (subkeys[i].sub[n])
                        n++;
                    if (!in_list(subkeys[i].sub, n, s->string))
                        return sh__schema_fail(err, c->name, "", k, "validation_unknown_option",
                                               "unknown or unsupported option \"%s.%.60s\".", k,
                                               s->string);
                }
            }
            continue;
        }
        return sh__schema_fail(err, c->name, "", k, "validation_unknown_option",
                               "unknown or unsupported option \"%.60s\" for a %s collection.", k,
                               auth                            ? "auth"
                               : c->type == SH_COLLECTION_VIEW ? "view"
                                                               : "base");
    }
    return 0;
}

static int opt_object(const struct sh_collection *c, const cJSON *json, const char *key,
                      const cJSON **out, struct sh_schema_error *err)
{
    *out = cJSON_GetObjectItemCaseSensitive(json, key);
    if (*out && cJSON_IsNull(*out))
        *out = NULL;
    if (*out && !cJSON_IsObject(*out))
        return sh__schema_fail(err, c->name, "", key, "validation_invalid_value",
                               "\"%s\" must be an object.", key);
    return 0;
}

/* A bool subkey, if present, must be a bool. */
static int sub_bool(const struct sh_collection *c, const char *key, const cJSON *o, const char *sub,
                    struct sh_schema_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, sub);
    if (v && !cJSON_IsBool(v))
        return sh__schema_fail(err, c->name, "", key, "validation_invalid_value",
                               "\"%s.%s\" must be a boolean.", key, sub);
    return 0;
}

/* Replaces (or adds) key in o with v. */
static void put(cJSON *o, const char *key, cJSON *v)
{
    SH_ASSERT(v);
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else
        cJSON_AddItemToObject(o, key, v);
}

/* Every key of src over the same key of dst (one level down). */
static void overlay(cJSON *dst, const cJSON *src)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, src)
        put(dst, e->string, cJSON_Duplicate(e, 1));
}

static bool has_unique_index(const struct sh_collection *c, const char *name)
{
    for (size_t i = 0; i < c->nindexes; i++)
        if (c->indexes[i].unique && c->indexes[i].ncols == 1 &&
            sh_schema_name_eq(c->indexes[i].cols[0].name, name))
            return true;
    return false;
}

static int parse_password_auth(struct sh_collection *c, const cJSON *json,
                               struct sh_schema_error *err)
{
    const cJSON *pa;
    int rc = opt_object(c, json, "passwordAuth", &pa, err);
    if (!rc)
        rc = sub_bool(c, "passwordAuth", pa, "enabled", err);
    if (rc)
        return rc;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(pa, "enabled");
    c->password_auth = !en || cJSON_IsTrue(en);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(pa, "identityFields");
    if (ids && !cJSON_IsNull(ids) && !cJSON_IsArray(ids))
        return sh__schema_fail(err, c->name, "", "passwordAuth", "validation_invalid_value",
                               "\"passwordAuth.identityFields\" must be an array of field names.");
    int n = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : 0;
    if (n > 16)
        return sh__schema_fail(err, c->name, "", "passwordAuth", "validation_invalid_value",
                               "at most 16 identity fields.");
    c->identity_fields = sh_calloc((size_t)n + 1, sizeof(char *));
    const cJSON *e;
    const cJSON *list = n ? ids : (const cJSON *)NULL;
    cJSON_ArrayForEach(e, list) {
        if (!cJSON_IsString(e))
            return sh__schema_fail(err, c->name, "", "passwordAuth", "validation_invalid_value",
                                   "\"passwordAuth.identityFields\" must be field names.");
        const struct sh_field *f = sh_collection_field(c, e->valuestring);
        if (!f || f->kind == SH_FIELD_PASSWORD || f->hidden)
            return sh__schema_fail(err, c->name, "", "passwordAuth", "validation_invalid_value",
                                   "identity field \"%.60s\": no such visible field.",
                                   e->valuestring);
        if (!has_unique_index(c, f->name))
            return sh__schema_fail(
                err, c->name, "", "passwordAuth", "validation_missing_unique_constraint",
                "identity field \"%.60s\" needs a unique index on it alone.", f->name);
        bool dup = false;
        for (size_t k = 0; k < c->nidentity_fields; k++)
            dup |= strcmp(c->identity_fields[k], f->name) == 0;
        if (!dup)
            c->identity_fields[c->nidentity_fields++] = sh_strdup(f->name);
    }
    if (!c->nidentity_fields && c->password_auth) /* PocketBase's default */
        c->identity_fields[c->nidentity_fields++] = sh_strdup("email");
    return 0;
}

/* A token object: the duration checked (default d), a secret kept or made. */
static int parse_token(struct sh_collection *c, const cJSON *json, const char *key, int64_t d,
                       struct sh_schema_error *err)
{
    const cJSON *t;
    int rc = opt_object(c, json, key, &t, err);
    if (rc)
        return rc;
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(t, "duration");
    if (dur && !cJSON_IsNull(dur)) {
        if (!cJSON_IsNumber(dur) || dur->valuedouble < TOKEN_MIN || dur->valuedouble > TOKEN_MAX ||
            dur->valuedouble != (double)(int64_t)dur->valuedouble)
            return sh__schema_fail(err, c->name, "", key, "validation_invalid_value",
                                   "\"%s.duration\" must be whole seconds from %d to %d.", key,
                                   TOKEN_MIN, TOKEN_MAX);
        d = (int64_t)dur->valuedouble;
    }
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(t, "secret");
    char made[51];
    const char *secret = made;
    if (sec && !cJSON_IsNull(sec)) {
        size_t len = cJSON_IsString(sec) ? strlen(sec->valuestring) : 0;
        bool printable = len > 0;
        for (size_t i = 0; i < len; i++)
            printable &= sec->valuestring[i] > ' ' && sec->valuestring[i] < 127;
        if (len < 30 || len > 255 || !printable)
            return sh__schema_fail(err, c->name, "", key, "validation_invalid_value",
                                   "\"%s.secret\" must be 30 to 255 printable characters.", key);
        secret = sec->valuestring;
    } else {
        sh_random_string(made, 50,
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "secret", secret);
    cJSON_AddNumberToObject(o, "duration", (double)d);
    put(c->auth_extra, key, o);
    return 0;
}

/* An email template {subject, body}: strings. */
static int check_template(const struct sh_collection *c, const char *key, const cJSON *t,
                          struct sh_schema_error *err)
{
    if (!cJSON_IsObject(t))
        return sh__schema_fail(err, c->name, "", key, "validation_invalid_value",
                               "\"%s\" must be an object {subject, body}.", key);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(t, "subject");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(t, "body");
    if ((s && !cJSON_IsString(s)) || (b && !cJSON_IsString(b)))
        return sh__schema_fail(err, c->name, "", key, "validation_invalid_value",
                               "\"%s\": subject and body must be strings.", key);
    return 0;
}

/* authAlert, oauth2, mfa, otp and the templates over their defaults. */
static int parse_others(struct sh_collection *c, const cJSON *json, struct sh_schema_error *err)
{
    static const char *const names[] = {"authAlert",
                                        "oauth2",
                                        "mfa",
                                        "otp",
                                        "verificationTemplate",
                                        "resetPasswordTemplate",
                                        "confirmEmailChangeTemplate"};
    for (size_t i = 0; i < SH_ARRAY_LEN(names); i++) {
        const cJSON *o;
        int rc = opt_object(c, json, names[i], &o, err);
        if (!rc && i < 4)
            rc = sub_bool(c, names[i], o, "enabled", err);
        if (rc)
            return rc;
        cJSON *into = cJSON_GetObjectItemCaseSensitive(c->auth_extra, names[i]);
        if (o)
            overlay(into, o);
    }
    static const char *const unsupported[][2] = {{"oauth2", "OAuth2 sign-in"},
                                                 {"mfa", "Multi-factor authentication"},
                                                 {"otp", "One-time password sign-in"}};
    for (size_t i = 0; i < SH_ARRAY_LEN(unsupported); i++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(c->auth_extra, unsupported[i][0]);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "enabled")))
            return sh__schema_fail(err, c->name, "", unsupported[i][0], "validation_unsupported",
                                   "%s is not supported yet: \"%s.enabled\" must be false.",
                                   unsupported[i][1], unsupported[i][0]);
    }
    const cJSON *mfa = cJSON_GetObjectItemCaseSensitive(c->auth_extra, "mfa");
    const cJSON *otp = cJSON_GetObjectItemCaseSensitive(c->auth_extra, "otp");
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(mfa, "duration")) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(mfa, "rule")) ||
        !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(otp, "duration")) ||
        !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(otp, "length")))
        return sh__schema_fail(err, c->name, "", "mfa", "validation_invalid_value",
                               "mfa.duration, otp.duration and otp.length must be numbers and "
                               "mfa.rule a string.");
    const cJSON *oa = cJSON_GetObjectItemCaseSensitive(c->auth_extra, "oauth2");
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(oa, "providers")) ||
        !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(oa, "mappedFields")))
        return sh__schema_fail(err, c->name, "", "oauth2", "validation_invalid_value",
                               "oauth2.providers must be an array and oauth2.mappedFields an "
                               "object.");
    static const char *const templated[][2] = {{"authAlert", "emailTemplate"},
                                               {"otp", "emailTemplate"}};
    for (size_t i = 0; i < SH_ARRAY_LEN(templated); i++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(c->auth_extra, templated[i][0]);
        int rc = check_template(c, templated[i][0],
                                cJSON_GetObjectItemCaseSensitive(o, templated[i][1]), err);
        if (rc)
            return rc;
    }
    for (size_t i = 4; i < SH_ARRAY_LEN(names); i++) {
        int rc = check_template(c, names[i],
                                cJSON_GetObjectItemCaseSensitive(c->auth_extra, names[i]), err);
        if (rc)
            return rc;
    }
    return 0;
}

int sh__auth_options_parse(struct sh_collection *c, const cJSON *json, struct sh_schema_error *err)
{
    if (c->type != SH_COLLECTION_AUTH)
        return 0;
    c->auth_extra = cJSON_Parse(defaults_json);
    SH_ASSERT(c->auth_extra);
    int rc = parse_password_auth(c, json, err);
    for (size_t i = 0; !rc && i < SH_ARRAY_LEN(tokens); i++)
        rc = parse_token(c, json, tokens[i].key, tokens[i].duration, err);
    if (!rc)
        rc = parse_others(c, json, err);
    return rc;
}

void sh__auth_options_to_json(const struct sh_collection *c, cJSON *o)
{
    if (c->type != SH_COLLECTION_AUTH)
        return;
    cJSON *pa = cJSON_AddObjectToObject(o, "passwordAuth");
    cJSON_AddBoolToObject(pa, "enabled", c->password_auth);
    cJSON *ids = cJSON_AddArrayToObject(pa, "identityFields");
    for (size_t i = 0; i < c->nidentity_fields; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(c->identity_fields[i]));
    const cJSON *e;
    cJSON_ArrayForEach(e, c->auth_extra)
        put(o, e->string, cJSON_Duplicate(e, 1));
}

void sh__auth_options_free(struct sh_collection *c)
{
    for (size_t i = 0; i < c->nidentity_fields; i++)
        free(c->identity_fields[i]);
    free(c->identity_fields);
    cJSON_Delete(c->auth_extra);
    c->identity_fields = NULL;
    c->nidentity_fields = 0;
    c->auth_extra = NULL;
}
