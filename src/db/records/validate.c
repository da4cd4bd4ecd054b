/*
 * Validation of a whole record for create or update: every field's value is
 * computed (validate_field.c) and its error, if any, recorded under the
 * field's name in PocketBase's error shape, so one response lists every
 * problem. This file adds what concerns the record rather than one field:
 * autodate fields from the caller's clock, passwords (checked, copied into
 * sodium_malloc memory for the caller to hash, never among the columns),
 * passwordConfirm, and a new tokenKey when an auth record's password changes
 * (which invalidates its older tokens, as in PocketBase).
 */
#include "stagehand/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "stagehand/core.h"

static void add_error(cJSON **errors, const char *name, const char *code, const char *message)
{
    if (!*errors)
        *errors = cJSON_CreateObject();
    if (cJSON_GetObjectItemCaseSensitive(*errors, name))
        return; /* the first problem of a field is the one reported */
    cJSON *e = cJSON_AddObjectToObject(*errors, name);
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
}

static void autodate_value(const struct sh_field *f, const cJSON *base, bool create,
                           const struct sh_validate_opts *o, struct sh_value *out, bool *touched)
{
    char now[SH_DATETIME_LEN + 1];
    sh_datetime_format(o ? o->now_ms : 0, now);
    bool stamp = create ? f->on_create : f->on_update;
    out->type = SH_VALUE_TEXT;
    if (stamp) {
        out->text = sh_strdup(now);
        *touched = true;
    } else {
        char *was = create ? NULL : sh__json_to_text(base);
        out->text = was ? was : sh_strdup("");
        *touched = create;
    }
    out->len = strlen(out->text);
}

static int check_password(const struct sh_field *f, const char *s, struct sh__verr *e)
{
    size_t n = sh__utf8_count(s);
    int64_t max = f->max_len ? f->max_len : SH_PASSWORD_MAX;
    e->code = NULL;
    if (f->min_len && (int64_t)n < f->min_len) {
        e->code = "validation_min_text_constraint";
        snprintf(e->message, sizeof(e->message), "Must be at least %lld character(s).",
                 (long long)f->min_len);
    } else if ((int64_t)n > max) {
        e->code = "validation_max_text_constraint";
        snprintf(e->message, sizeof(e->message), "Must be less than %lld character(s).",
                 (long long)max);
    } else if (f->re && regexec(f->re, s, 0, NULL, 0) != 0) {
        e->code = "validation_invalid_format";
        snprintf(e->message, sizeof(e->message), "Invalid value format.");
    }
    return e->code ? SH_EINVAL : 0;
}

bool sh_field_password_ok(const struct sh_field *f, const char *password)
{
    struct sh__verr e;
    return check_password(f, password, &e) == 0;
}

/* A password given in the body: validated and kept for hashing. Absent or
 * "" keeps the stored hash on update; required needs one or the other. */
static void password_field(struct sh_record_input *in, const struct sh_collection *c,
                           const struct sh_field *f, const cJSON *base, const cJSON *body,
                           const struct sh_validate_opts *o)
{
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(body, f->name);
    char *plain = set ? sh__json_to_text(set) : NULL;
    struct sh__verr e;
    if (set && !plain) {
        add_error(&in->errors, f->name, "validation_invalid_value", "Must be a string.");
        return;
    }
    if (!plain || !*plain) {
        free(plain);
        bool has_hash = cJSON_IsString(base) && base->valuestring[0];
        if (f->required && !has_hash)
            add_error(&in->errors, f->name, "validation_required", "Missing required value.");
        return;
    }
    if (check_password(f, plain, &e) == 0 && c->type == SH_COLLECTION_AUTH && o &&
        o->check_password_confirm && strcmp(f->name, "password") == 0) {
        const cJSON *confirm = cJSON_GetObjectItemCaseSensitive(body, "passwordConfirm");
        if (!cJSON_IsString(confirm) || !confirm->valuestring[0])
            add_error(&in->errors, "passwordConfirm", "validation_required",
                      "Missing required value.");
        else if (strcmp(confirm->valuestring, plain) != 0)
            add_error(&in->errors, "passwordConfirm", "validation_values_mismatch",
                      "Values don't match.");
    } else if (e.code) {
        add_error(&in->errors, f->name, e.code, e.message);
    }
    if (!e.code) {
        size_t len = strlen(plain);
        struct sh_record_secret *s = &in->secrets[in->nsecrets++];
        s->field = f;
        s->len = len;
        s->plain = sodium_malloc(len + 1);
        if (!s->plain)
            sh_panic(__FILE__, __LINE__, "sodium_malloc failed");
        memcpy(s->plain, plain, len + 1);
    }
    sodium_memzero(plain, strlen(plain));
    free(plain);
}

/* A new password invalidates older tokens: give tokenKey a new value. */
static void refresh_token_key(struct sh_record_input *in)
{
    bool new_password = false;
    for (size_t i = 0; i < in->nsecrets; i++)
        new_password |= strcmp(in->secrets[i].field->name, "password") == 0;
    struct sh_record_column *col = NULL;
    for (size_t i = 0; i < in->ncols; i++)
        if (strcmp(in->cols[i].field->name, "tokenKey") == 0)
            col = &in->cols[i];
    if (!new_password || !col || !col->field->autogen)
        return;
    char *key = sh_autogen_generate(col->field->autogen);
    if (!key)
        return;
    free(col->value.text);
    col->value.type = SH_VALUE_TEXT;
    col->value.text = key;
    col->value.len = strlen(key);
    col->changed = true;
}

int sh_record_input_parse(struct sh_record_input *in, const struct sh_collection *c,
                          const cJSON *body, const struct sh_validate_opts *opts)
{
    memset(in, 0, sizeof(*in));
    if (!cJSON_IsObject(body)) {
        in->errors = cJSON_CreateObject();
        return SH_EINVAL;
    }
    const cJSON *existing = opts ? opts->existing : NULL;
    bool create = existing == NULL;
    in->cols = sh_calloc(c->nfields + 1, sizeof(*in->cols));
    in->secrets = sh_calloc(c->nfields + 1, sizeof(*in->secrets));
    for (size_t i = 0; i < c->nfields; i++) {
        const struct sh_field *f = &c->fields[i];
        const cJSON *base = existing ? cJSON_GetObjectItemCaseSensitive(existing, f->name) : NULL;
        if (f->kind == SH_FIELD_PASSWORD) {
            password_field(in, c, f, base, body, opts);
            continue;
        }
        struct sh_record_column *col = &in->cols[in->ncols];
        bool touched = false;
        if (f->kind == SH_FIELD_AUTODATE) {
            autodate_value(f, base, create, opts, &col->value, &touched);
        } else {
            struct sh__verr e;
            if (sh__field_value(f, base, body, create, opts, &col->value, &touched, &e)) {
                add_error(&in->errors, f->name, e.code, e.message);
                continue;
            }
        }
        col->field = f;
        col->changed = create || touched;
        if (f->primary_key)
            in->id = col->value.text;
        in->ncols++;
    }
    if (!create)
        refresh_token_key(in);
    return in->errors ? SH_EINVAL : 0;
}

void sh_record_input_deinit(struct sh_record_input *in)
{
    for (size_t i = 0; i < in->ncols; i++)
        free(in->cols[i].value.text);
    free(in->cols);
    for (size_t i = 0; i < in->nsecrets; i++)
        sodium_free(in->secrets[i].plain); /* zeroes the memory first */
    free(in->secrets);
    cJSON_Delete(in->errors);
    memset(in, 0, sizeof(*in));
}

const struct sh_record_column *sh_record_input_column(const struct sh_record_input *in,
                                                      const char *name)
{
    for (size_t i = 0; i < in->ncols; i++)
        if (strcmp(in->cols[i].field->name, name) == 0)
            return &in->cols[i];
    return NULL;
}

struct cJSON *sh_record_input_take_errors(struct sh_record_input *in)
{
    cJSON *e = in->errors;
    in->errors = NULL;
    return e;
}
