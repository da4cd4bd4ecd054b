/*
 * The protected fields of auth records, decided on the values a write would
 * store, inside the writer's transaction (not by deleting keys from the
 * request, which a second copy of a key or another spelling of the same
 * value would get past). For a write by anyone but a superuser (the job's
 * flags lack SH_REC_SUPERUSER), as PocketBase's record upsert form does:
 *
 *  - `verified` must end as it is stored (false for a new record): 400
 *    validation_values_mismatch otherwise;
 *  - `email` of an existing record must end as it is stored (there is no
 *    email-change flow with password and confirmation yet): 400 naming
 *    `email`; a sign-up sets it freely;
 *  - `tokenKey` is the server's: a new record gets a generated one, an
 *    existing record keeps its own unless a new password rotated it.
 *
 * For every writer, superusers included, an email change clears `verified`
 * unless the same body says `verified` itself (a superuser's explicit
 * choice): the new address has not been confirmed.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/records.h"
#include "stagehand/validate.h"

static struct sh_record_column *column(struct sh_record_input *in, const char *name)
{
    for (size_t i = 0; i < in->ncols; i++)
        if (strcmp(in->cols[i].field->name, name) == 0)
            return &in->cols[i];
    return NULL;
}

/* The stored value as text ("" for none); numbers and bools as the writer
 * stores them (0/1). */
static bool stored_true(const cJSON *v)
{
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    if (cJSON_IsNumber(v))
        return v->valuedouble != 0;
    if (cJSON_IsString(v))
        return strcmp(v->valuestring, "1") == 0 || strcmp(v->valuestring, "true") == 0;
    return false;
}

static const char *stored_text(const cJSON *v)
{
    return cJSON_IsString(v) ? v->valuestring : "";
}

static bool col_true(const struct sh_record_column *c)
{
    return c->value.type == SH_VALUE_INT    ? c->value.i != 0
           : c->value.type == SH_VALUE_REAL ? c->value.d != 0
                                            : false;
}

static const char *col_text(const struct sh_record_column *c)
{
    return c->value.type == SH_VALUE_TEXT && c->value.text ? c->value.text : "";
}

static void set_text(struct sh_record_column *c, char *text)
{
    free(c->value.text);
    c->value.type = SH_VALUE_TEXT;
    c->value.text = text;
    c->value.len = strlen(text);
}

static void set_bool(struct sh_record_column *c, bool v, bool changed)
{
    free(c->value.text);
    memset(&c->value, 0, sizeof(c->value));
    c->value.type = SH_VALUE_INT;
    c->value.i = v;
    c->changed = changed;
}

static void refuse(struct sh_rec_write *w, const char *field, const char *message)
{
    if (!w->errors)
        w->errors = cJSON_CreateObject();
    if (cJSON_GetObjectItemCaseSensitive(w->errors, field))
        return;
    cJSON *o = cJSON_AddObjectToObject(w->errors, field);
    cJSON_AddStringToObject(o, "code", "validation_values_mismatch");
    cJSON_AddStringToObject(o, "message", message);
}

static bool new_password(const struct sh_record_input *in)
{
    for (size_t i = 0; i < in->nsecrets; i++)
        if (strcmp(in->secrets[i].field->name, "password") == 0)
            return true;
    return false;
}

int sh__rec_protect(struct sh_rec_write *w, const cJSON *existing, struct sh_record_input *in)
{
    if (w->c->type != SH_COLLECTION_AUTH)
        return 0;
    bool su = w->flags & SH_REC_SUPERUSER;
    struct sh_record_column *verified = column(in, "verified");
    struct sh_record_column *email = column(in, "email");
    struct sh_record_column *key = column(in, "tokenKey");
    const cJSON *old_email = existing ? cJSON_GetObjectItemCaseSensitive(existing, "email") : NULL;
    bool email_changed = existing && email && strcmp(col_text(email), stored_text(old_email)) != 0;

    if (!su) {
        const cJSON *old_v =
            existing ? cJSON_GetObjectItemCaseSensitive(existing, "verified") : NULL;
        if (verified && col_true(verified) != stored_true(old_v))
            refuse(w, "verified", "Only superusers can change the verified state.");
        if (email_changed)
            refuse(w, "email",
                   "Only superusers can change the email (an email-change flow is not available).");
        if (key && key->field->autogen && !existing) {
            char *k = sh_autogen_generate(key->field->autogen);
            if (k)
                set_text(key, k);
        } else if (key && existing && !new_password(in)) {
            const cJSON *old_k = cJSON_GetObjectItemCaseSensitive(existing, "tokenKey");
            if (strcmp(col_text(key), stored_text(old_k)) != 0) {
                set_text(key, sh_strdup(stored_text(old_k)));
                key->changed = false;
            }
        }
        if (w->errors)
            return SH_EINVAL;
    }
    if (email_changed && verified && !cJSON_GetObjectItemCaseSensitive(w->body, "verified"))
        set_bool(verified, false, true); /* the new address is not confirmed */
    return 0;
}
