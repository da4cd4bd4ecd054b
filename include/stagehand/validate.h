/*
 * Record validation: turns a create or update request body (a cJSON object)
 * into the typed column values to write for a collection, or into a
 * per-field error object in PocketBase's shape
 *
 *   {"title":{"code":"validation_required","message":"Missing required value."}}
 *
 * following PocketBase's coercions: numbers from numeric strings, bools from
 * "true"/"1"/"t" (and "false"/"0"/"f"/""), text from numbers and bools, a
 * single select or relation given as an array (the last element wins), a
 * multi one given as a single string (or a string holding a JSON array),
 * the `field+` / `+field` / `field-` modifiers of multi fields (append,
 * prepend, remove) and `number+` / `number-` (add, subtract), and JSON
 * fields given as strings ("[1,2]" is the array, "abc" the string). Unknown
 * keys are ignored; autodate values can't be set by clients.
 *
 * Deliberate differences from PocketBase (which silently stores a zero
 * value): a non-numeric string or an object for a number answers
 * validation_not_a_number, an unparseable date validation_invalid_date, an
 * object or array for a text field or bool validation_invalid_value.
 *
 * The codes are PocketBase's (checked against its source): validation_required,
 * validation_min_text_constraint, validation_max_text_constraint,
 * validation_invalid_format (pattern), validation_is_email,
 * validation_email_domain_not_allowed, validation_is_url,
 * validation_url_domain_not_allowed, validation_invalid_date (stagehand's),
 * validation_min_greater_equal_than_required and
 * validation_max_less_equal_than_required (date limits),
 * validation_not_a_number, validation_only_int_constraint,
 * validation_min_number_constraint, validation_max_number_constraint,
 * validation_invalid_value (select, bool, text), validation_too_many_values,
 * validation_not_enough_values (relation minSelect),
 * validation_json_size_limit, validation_invalid_json,
 * validation_missing_rel_records (through the rel_check hook),
 * validation_pk_change, validation_pk_forbidden, validation_values_mismatch
 * (passwordConfirm). API.md's example names validation_invalid_email; the
 * code actually sent by PocketBase is validation_is_email, used here.
 *
 * Passwords are validated (length, pattern) and handed to the caller in
 * sodium_malloc'd memory for hashing; they never appear among the column
 * values.
 */
#ifndef STAGEHAND_VALIDATE_H
#define STAGEHAND_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stagehand/formats.h"
#include "stagehand/schema.h"

struct cJSON;

/* ---- record validation ---- */
enum sh_value_type { SH_VALUE_NULL, SH_VALUE_INT, SH_VALUE_REAL, SH_VALUE_TEXT };

struct sh_value {
    enum sh_value_type type;
    int64_t i;  /* INT (bools are 0/1) */
    double d;   /* REAL */
    char *text; /* TEXT: owned, NUL-terminated (JSON text for json and multi fields) */
    size_t len;
};

struct sh_record_column {
    const struct sh_field *field; /* borrowed from the collection */
    struct sh_value value;
    bool changed; /* create: always; update: differs from the existing value */
};

/* A password to hash before writing field->name. */
struct sh_record_secret {
    const struct sh_field *field;
    char *plain; /* sodium_malloc'd, NUL-terminated; wiped and freed by sh_record_input_deinit */
    size_t len;
};

/* Checks that every id of a relation field names an existing record of the
 * field's collection (field->collection_id); returns 1 if all exist, 0 if
 * not (the field gets validation_missing_rel_records), negative on error
 * (also reported as missing). */
typedef int (*sh_rel_check_cb)(void *ud, const struct sh_field *field, const char *const *ids,
                               size_t n);

struct sh_validate_opts {
    int64_t now_ms; /* the clock for autodate fields */
    /* The stored record for an update, NULL for a create: field name ->
     * value as stored and read back (text strings, numbers, bools as
     * true/false or 0/1, multi fields as arrays or JSON-array strings, json
     * fields as parsed values; a password field's hash string, or "" when
     * none). */
    const struct cJSON *existing;
    sh_rel_check_cb rel_check; /* may be NULL: relations are not checked */
    void *rel_ud;
    /* Auth collections: when the body sets `password`, require
     * `passwordConfirm` to match (PocketBase's sign-up and change form). */
    bool check_password_confirm;
    /* The stored names of the files this request uploaded: the only names a
     * file field may take besides those it already holds. */
    const char *const *uploads;
    size_t nuploads;
};

struct sh_record_input {
    /* Every column of the collection in field order except password fields:
     * on create all of them (zero values where not given: '', 0, 0, '[]',
     * NULL for json), on update all of them with `changed` telling which to
     * write. */
    struct sh_record_column *cols;
    size_t ncols;
    struct sh_record_secret *secrets; /* passwords set by the body */
    size_t nsecrets;
    const char *id; /* the record id (a column's text) */
    /* NULL when valid; otherwise an object field name -> {code, message},
     * owned (take it with sh_record_input_take_errors or let deinit free it). */
    struct cJSON *errors;
};

/* Validates body (a JSON object) for collection c, filling *in (zeroed
 * here). On create an `id` may be given (it must satisfy the id field:
 * by default 15 characters of [a-z0-9]), else one is generated; text fields
 * with an autogeneratePattern (tokenKey) are generated when empty. On update
 * the id can't change; a new password also regenerates an auth collection's
 * tokenKey. Returns 0 when valid; SH_EINVAL when body is not an object or
 * some field is invalid (in->errors then lists every invalid field, {} when
 * body was not an object). Either way the caller calls
 * sh_record_input_deinit. c and opts->existing must outlive *in. */
int sh_record_input_parse(struct sh_record_input *in, const struct sh_collection *c,
                          const struct cJSON *body, const struct sh_validate_opts *opts);

/* Frees the values, wipes and frees the passwords, frees the errors. */
void sh_record_input_deinit(struct sh_record_input *in);

/* Returns the column of a field by name, or NULL. */
const struct sh_record_column *sh_record_input_column(const struct sh_record_input *in,
                                                      const char *name);

/* Hands the errors object to the caller (who frees it with cJSON_Delete);
 * NULL if there were none. */
struct cJSON *sh_record_input_take_errors(struct sh_record_input *in);

/* ---- internal to validate*.c ---- */
struct sh__verr {
    const char *code;  /* static */
    char message[200]; /* one sentence ending with a period */
};

/* Computes the value of field f (any kind but autodate and password) from
 * its stored value base (NULL on create) and the body's key and modifiers;
 * *touched tells whether the body set it (or a value was generated). Returns
 * 0 with *out filled (owned by the caller), or SH_EINVAL with e filled and
 * *out zeroed. */
int sh__field_value(const struct sh_field *f, const struct cJSON *base, const struct cJSON *body,
                    bool create, const struct sh_validate_opts *o, struct sh_value *out,
                    bool *touched, struct sh__verr *e);

/* Converts a JSON scalar to text as PocketBase's cast.ToString does (null is
 * "", numbers in shortest form, bools "true"/"false"); returns a new string,
 * or NULL for objects and arrays. */
char *sh__json_to_text(const struct cJSON *v);

/* Number of UTF-8 characters in s. */
size_t sh__utf8_count(const char *s);

/* Whether password (a non-empty string given for password field f) passes
 * f's rules: its length in characters within f's bounds (SH_PASSWORD_MAX
 * when f sets no max) and f's pattern. The rule sh_record_input_parse
 * applies; the API asks it before hashing, so a password validation would
 * refuse costs no Argon2 run. */
bool sh_field_password_ok(const struct sh_field *f, const char *password);

#endif
