/*
 * Unit tests of record validation beyond single scalar fields: select and
 * relation lists (single and multi, coercions, the +/- modifiers, the
 * relation hook), JSON fields, record ids, autodates, updates against a
 * stored record, and auth records (passwords handed out for hashing,
 * passwordConfirm, tokenKey).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "stagehand/validate.h"

#define NOW   INT64_C(1718452800000) /* 2024-06-15 12:00:00.000Z */
#define LATER INT64_C(1718539200000) /* 2024-06-16 12:00:00.000Z */

static struct sh_collection *posts, *users;

static struct sh_collection *parse(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    struct sh_collection *c = NULL;
    struct sh_schema_error err;
    if (!j || sh_collection_parse(j, NULL, NULL, &c, &err))
        fail_msg("refused %s", json);
    cJSON_Delete(j);
    return c;
}

static int setup(void **state)
{
    (void)state;
    posts = parse(
        "{\"id\":\"postsid00000001\",\"name\":\"posts\",\"fields\":["
        "{\"name\":\"title\",\"type\":\"text\"},{\"name\":\"views\",\"type\":\"number\"},"
        "{\"name\":\"kind\",\"type\":\"select\",\"values\":[\"a\",\"b\",\"c\"]},"
        "{\"name\":\"tags\",\"type\":\"select\",\"values\":[\"a\",\"b\",\"c\",\"d\"],\"maxSelect\":"
        "3},"
        "{\"name\":\"data\",\"type\":\"json\",\"maxSize\":20},"
        "{\"name\":\"need\",\"type\":\"json\"},"
        "{\"name\":\"author\",\"type\":\"relation\",\"collectionId\":\"posts\"},"
        "{\"name\":\"refs\",\"type\":\"relation\",\"collectionId\":\"posts\",\"maxSelect\":3,"
        "\"minSelect\":2},"
        "{\"name\":\"touched\",\"type\":\"autodate\",\"onUpdate\":true}]}");
    users = parse("{\"id\":\"usersid00000001\",\"name\":\"users\",\"type\":\"auth\",\"fields\":["
                  "{\"name\":\"pin\",\"type\":\"password\",\"min\":4,\"max\":6,\"pattern\":"
                  "\"^[0-9]+$\"}]}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sh_collection_free(posts);
    sh_collection_free(users);
    return 0;
}

static int run(struct sh_record_input *in, const struct sh_collection *c, const char *body,
               const char *existing, const struct sh_validate_opts *extra)
{
    cJSON *j = cJSON_Parse(body);
    cJSON *e = existing ? cJSON_Parse(existing) : NULL;
    if (!j || (existing && !e))
        fail_msg("bad test JSON");
    struct sh_validate_opts o = extra ? *extra : (struct sh_validate_opts){.now_ms = NOW};
    o.existing = e;
    int rc = sh_record_input_parse(in, c, j, &o);
    cJSON_Delete(j);
    cJSON_Delete(e);
    /* values must not point into the inputs: they were deleted above */
    return rc;
}

static const char *text_of(const struct sh_record_input *in, const char *name)
{
    const struct sh_record_column *c = sh_record_input_column(in, name);
    assert_non_null(c);
    return c->value.type == SH_VALUE_TEXT ? c->value.text : "<not text>";
}

static char *errors_text(struct sh_record_input *in)
{
    static char out[1024];
    char *s = in->errors ? cJSON_PrintUnformatted(in->errors) : NULL;
    snprintf(out, sizeof(out), "%s", s ? s : "");
    free(s);
    return out;
}

static void check_text(const char *body, const char *name, const char *want)
{
    struct sh_record_input in;
    if (run(&in, posts, body, NULL, NULL))
        fail_msg("%s refused: %s", body, errors_text(&in));
    assert_string_equal(text_of(&in, name), want);
    sh_record_input_deinit(&in);
}

static void check_errors(const struct sh_collection *c, const char *body, const char *existing,
                         const char *want)
{
    struct sh_record_input in;
    assert_int_equal(run(&in, c, body, existing, NULL), -10003);
    assert_string_equal(errors_text(&in), want);
    sh_record_input_deinit(&in);
}

static void test_validate_select(void **state)
{
    (void)state;
    check_text("{\"kind\":\"b\"}", "kind", "b");
    check_text("{\"kind\":[\"b\"]}", "kind", "b");
    check_text("{\"kind\":[\"a\",\"c\"]}", "kind", "c"); /* the last one, as PocketBase */
    check_text("{\"kind\":\"\"}", "kind", "");
    check_text("{\"kind\":[]}", "kind", "");
    check_text("{\"tags\":\"a\"}", "tags", "[\"a\"]");
    check_text("{\"tags\":[\"b\",\"a\",\"b\",\"\"]}", "tags", "[\"b\",\"a\"]");
    check_text("{\"tags\":\"[\\\"c\\\",\\\"d\\\"]\"}", "tags", "[\"c\",\"d\"]");
    check_text("{\"tags\":null}", "tags", "[]");
    check_errors(posts, "{\"kind\":\"z\"}", NULL,
                 "{\"kind\":{\"code\":\"validation_invalid_value\",\"message\":\"Invalid value "
                 "z.\"}}");
    check_errors(posts, "{\"tags\":[\"a\",\"x\"]}", NULL,
                 "{\"tags\":{\"code\":\"validation_invalid_value\",\"message\":\"Invalid value "
                 "x.\"}}");
    check_errors(posts, "{\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", NULL,
                 "{\"tags\":{\"code\":\"validation_too_many_values\",\"message\":\"Select no more "
                 "than 3.\"}}");
    check_errors(posts, "{\"tags\":{\"a\":1}}", NULL,
                 "{\"tags\":{\"code\":\"validation_invalid_value\",\"message\":\"Must be a string "
                 "or a list of strings.\"}}");
    /* Modifiers on a create start from the empty value. */
    check_text("{\"tags+\":[\"a\",\"b\"],\"+tags\":\"c\"}", "tags", "[\"c\",\"a\",\"b\"]");
    check_text("{\"tags\":[\"a\",\"b\"],\"tags-\":\"a\"}", "tags", "[\"b\"]");
}

struct rel_seen {
    int calls;
    char ids[128];
    int answer;
};

static int rel_check(void *ud, const struct sh_field *f, const char *const *ids, size_t n)
{
    struct rel_seen *s = ud;
    s->calls++;
    s->ids[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(s->ids, i ? "," : "");
        strcat(s->ids, ids[i]);
    }
    assert_string_equal(f->collection_id, "postsid00000001");
    return s->answer;
}

static void test_validate_relation(void **state)
{
    (void)state;
    check_text("{\"author\":\"abc\"}", "author", "abc");
    check_text("{\"author\":[\"abc\",\"def\"]}", "author", "def");
    check_text("{\"refs\":[\"r1\",\"r2\"]}", "refs", "[\"r1\",\"r2\"]");
    check_errors(posts, "{\"refs\":\"r1\"}", NULL,
                 "{\"refs\":{\"code\":\"validation_not_enough_values\",\"message\":\"Select at "
                 "least 2.\"}}");
    check_errors(posts, "{\"refs\":[\"1\",\"2\",\"3\",\"4\"]}", NULL,
                 "{\"refs\":{\"code\":\"validation_too_many_values\",\"message\":\"Select no more "
                 "than 3.\"}}");
    /* The hook for the records layer: every id must exist. */
    struct rel_seen seen = {.answer = 0};
    struct sh_validate_opts o = {.now_ms = NOW, .rel_check = rel_check, .rel_ud = &seen};
    struct sh_record_input in;
    assert_int_equal(run(&in, posts, "{\"refs\":[\"r1\",\"r2\"]}", NULL, &o), -10003);
    assert_int_equal(seen.calls, 1); /* author is empty: not checked */
    assert_string_equal(seen.ids, "r1,r2");
    assert_string_equal(errors_text(&in),
                        "{\"refs\":{\"code\":\"validation_missing_rel_records\",\"message\":"
                        "\"Failed to find all relation records with the provided ids.\"}}");
    sh_record_input_deinit(&in);
    seen.answer = 1;
    assert_int_equal(run(&in, posts, "{\"author\":\"a1\",\"refs\":[\"r1\",\"r2\"]}", NULL, &o), 0);
    assert_int_equal(seen.calls, 3);
    sh_record_input_deinit(&in);
}

static void test_validate_json(void **state)
{
    (void)state;
    check_text("{\"data\":{\"a\":[1,2]}}", "data", "{\"a\":[1,2]}");
    /* PocketBase's normalisation of strings. */
    check_text("{\"data\":\"abc\"}", "data", "\"abc\"");
    check_text("{\"data\":\"[1,2]\"}", "data", "[1,2]");
    check_text("{\"data\":\"12\"}", "data", "12");
    check_text("{\"data\":\"true\"}", "data", "true");
    check_text("{\"data\":\"\"}", "data", "\"\"");
    check_text("{\"data\":\"[1,\"}", "data", "\"[1,\"");
    check_text("{\"data\":false}", "data", "false");
    struct sh_record_input in;
    assert_int_equal(run(&in, posts, "{\"data\":null}", NULL, NULL), 0);
    assert_int_equal(sh_record_input_column(&in, "data")->value.type, SH_VALUE_NULL);
    sh_record_input_deinit(&in);
    check_errors(posts, "{\"data\":\"0123456789012345678901\"}", NULL,
                 "{\"data\":{\"code\":\"validation_json_size_limit\",\"message\":\"The maximum "
                 "allowed JSON size is 20 bytes.\"}}");
}

static void test_validate_ids(void **state)
{
    (void)state;
    check_text("{\"id\":\"abcdefghij12345\"}", "id", "abcdefghij12345");
    check_errors(posts, "{\"id\":\"short\"}", NULL,
                 "{\"id\":{\"code\":\"validation_min_text_constraint\",\"message\":\"Must be at "
                 "least 15 character(s).\"}}");
    check_errors(posts, "{\"id\":\"ABCDEFGHIJ12345\"}", NULL,
                 "{\"id\":{\"code\":\"validation_invalid_format\",\"message\":\"Invalid value "
                 "format.\"}}");
    check_errors(posts, "{\"id\":\"abcdefg/ij12345\"}", NULL,
                 "{\"id\":{\"code\":\"validation_pk_forbidden\",\"message\":\"The record primary "
                 "key contains forbidden characters.\"}}");
    check_errors(posts, "{\"id\":[1]}", NULL,
                 "{\"id\":{\"code\":\"validation_invalid_value\",\"message\":\"Must be a "
                 "string.\"}}");
    struct sh_record_input a, b;
    assert_int_equal(run(&a, posts, "{\"id\":\"\"}", NULL, NULL), 0);
    assert_int_equal(run(&b, posts, "{}", NULL, NULL), 0);
    assert_int_equal(strlen(a.id), 15);
    assert_string_not_equal(a.id, b.id);
    sh_record_input_deinit(&a);
    sh_record_input_deinit(&b);
}

static const char stored[] =
    "{\"id\":\"abcdefghij12345\",\"title\":\"Old\",\"views\":4,\"kind\":\"a\",\"tags\":"
    "\"[\\\"a\\\",\\\"b\\\"]\",\"data\":{\"x\":1},\"need\":null,\"author\":\"\",\"refs\":[],"
    "\"created\":\"2024-01-01 00:00:00.000Z\",\"updated\":\"2024-01-01 00:00:00.000Z\","
    "\"touched\":\"\"}";

static void test_validate_update(void **state)
{
    (void)state;
    struct sh_record_input in;
    struct sh_validate_opts o = {.now_ms = LATER};
    assert_int_equal(run(&in, posts,
                         "{\"title\":\"New\",\"views+\":2,\"views-\":0.5,\"tags+\":\"c\","
                         "\"tags-\":[\"a\"],\"+tags\":\"d\",\"created\":\"2000-01-01\"}",
                         stored, &o),
                     0);
    assert_string_equal(in.id, "abcdefghij12345");
    assert_string_equal(text_of(&in, "title"), "New");
    assert_true(sh_record_input_column(&in, "title")->changed);
    const struct sh_record_column *views = sh_record_input_column(&in, "views");
    assert_int_equal(views->value.type, SH_VALUE_REAL);
    assert_true(views->value.d == 5.5);
    assert_true(views->changed);
    assert_string_equal(text_of(&in, "tags"), "[\"d\",\"b\",\"c\"]");
    /* untouched values are kept and not marked */
    assert_string_equal(text_of(&in, "kind"), "a");
    assert_false(sh_record_input_column(&in, "kind")->changed);
    assert_string_equal(text_of(&in, "data"), "{\"x\":1}");
    assert_false(sh_record_input_column(&in, "id")->changed);
    /* created stays; updated and touched (onUpdate) take the clock */
    assert_string_equal(text_of(&in, "created"), "2024-01-01 00:00:00.000Z");
    assert_false(sh_record_input_column(&in, "created")->changed);
    assert_string_equal(text_of(&in, "updated"), "2024-06-16 12:00:00.000Z");
    assert_string_equal(text_of(&in, "touched"), "2024-06-16 12:00:00.000Z");
    sh_record_input_deinit(&in);

    /* On create, an onUpdate-only autodate stays empty. */
    check_text("{}", "touched", "");
    check_errors(posts, "{\"id\":\"zzzzzzzzzzzzzzz\"}", stored,
                 "{\"id\":{\"code\":\"validation_pk_change\",\"message\":\"The record primary key "
                 "cannot be changed.\"}}");
    /* The same id may be sent back. */
    assert_int_equal(run(&in, posts, "{\"id\":\"abcdefghij12345\"}", stored, NULL), 0);
    sh_record_input_deinit(&in);
    check_errors(posts, "{\"views+\":\"x\"}", stored,
                 "{\"views\":{\"code\":\"validation_not_a_number\",\"message\":\"The submitted "
                 "number is not properly formatted.\"}}");
}

static void test_validate_auth_passwords(void **state)
{
    (void)state;
    struct sh_record_input in;
    struct sh_validate_opts o = {.now_ms = NOW, .check_password_confirm = true};
    assert_int_equal(run(&in, users,
                         "{\"email\":\"a@b.co\",\"password\":\"secret123\",\"passwordConfirm\":"
                         "\"secret123\",\"pin\":\"1234\"}",
                         NULL, &o),
                     0);
    /* Passwords go to the caller for hashing, never into the columns. */
    assert_null(sh_record_input_column(&in, "password"));
    assert_null(sh_record_input_column(&in, "pin"));
    assert_int_equal(in.nsecrets, 2);
    assert_string_equal(in.secrets[0].field->name, "password");
    assert_string_equal(in.secrets[0].plain, "secret123");
    assert_int_equal(in.secrets[0].len, 9);
    assert_string_equal(in.secrets[1].plain, "1234");
    assert_int_equal(strlen(text_of(&in, "tokenKey")), 50);
    assert_string_equal(text_of(&in, "email"), "a@b.co");
    assert_int_equal(sh_record_input_column(&in, "verified")->value.i, 0);
    sh_record_input_deinit(&in);

    check_errors(users, "{\"email\":\"a@b.co\"}", NULL,
                 "{\"password\":{\"code\":\"validation_required\",\"message\":\"Missing required "
                 "value.\"}}");
    assert_int_equal(
        run(&in, users, "{\"email\":\"\",\"password\":\"short\",\"pin\":\"12a4\"}", NULL, &o),
        -10003);
    assert_string_equal(
        errors_text(&in),
        "{\"password\":{\"code\":\"validation_min_text_constraint\",\"message\":\"Must be at least "
        "8 character(s).\"},\"email\":{\"code\":\"validation_required\",\"message\":\"Missing "
        "required value.\"},\"pin\":{\"code\":\"validation_invalid_format\",\"message\":\"Invalid "
        "value format.\"}}");
    assert_int_equal(in.nsecrets, 0);
    sh_record_input_deinit(&in);
    assert_int_equal(run(&in, users,
                         "{\"email\":\"a@b.co\",\"password\":\"secret123\",\"passwordConfirm\":"
                         "\"secret124\",\"pin\":\"1234567\"}",
                         NULL, &o),
                     -10003);
    assert_string_equal(errors_text(&in),
                        "{\"passwordConfirm\":{\"code\":\"validation_values_mismatch\",\"message\":"
                        "\"Values don't match.\"},\"pin\":{\"code\":\"validation_max_text_"
                        "constraint\",\"message\":\"Must be less than 6 character(s).\"}}");
    sh_record_input_deinit(&in);

    /* Updates: no password keeps the hash and the tokenKey; a new one changes both. */
    const char *rec =
        "{\"id\":\"uuuuuuuuuuuuuuu\",\"email\":\"a@b.co\",\"password\":\"$argon2id$x\","
        "\"tokenKey\":\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\","
        "\"emailVisibility\":false,\"verified\":true,\"pin\":\"\"}";
    assert_int_equal(run(&in, users, "{\"emailVisibility\":true}", rec, &o), 0);
    assert_int_equal(in.nsecrets, 0);
    assert_false(sh_record_input_column(&in, "tokenKey")->changed);
    assert_int_equal(sh_record_input_column(&in, "verified")->value.i, 1);
    assert_int_equal(sh_record_input_column(&in, "emailVisibility")->value.i, 1);
    sh_record_input_deinit(&in);
    assert_int_equal(
        run(&in, users, "{\"password\":\"another1\",\"passwordConfirm\":\"another1\"}", rec, &o),
        0);
    assert_int_equal(in.nsecrets, 1);
    const struct sh_record_column *tk = sh_record_input_column(&in, "tokenKey");
    assert_true(tk->changed);
    assert_int_equal(strlen(tk->value.text), 50);
    assert_string_not_equal(tk->value.text, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
    sh_record_input_deinit(&in);
    /* A stored record without a hash still needs one. */
    check_errors(users, "{\"password\":\"\"}",
                 "{\"id\":\"uuuuuuuuuuuuuuu\",\"email\":\"a@b.co\",\"password\":\"\",\"tokenKey\":"
                 "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"}",
                 "{\"password\":{\"code\":\"validation_required\",\"message\":\"Missing required "
                 "value.\"}}");
}

/* The one password rule, as the API asks it before hashing: bounds in
 * characters (not bytes; SH_PASSWORD_MAX when the field sets no max) and
 * the pattern. */
static void test_validate_password_ok(void **state)
{
    (void)state;
    const struct sh_field *pin = sh_collection_field(users, "pin");
    const struct sh_field *pw = sh_collection_field(users, "password");
    assert_non_null(pin);
    assert_non_null(pw);
    assert_true(sh_field_password_ok(pin, "1234"));
    assert_true(sh_field_password_ok(pin, "123456"));
    assert_false(sh_field_password_ok(pin, "123"));     /* under min */
    assert_false(sh_field_password_ok(pin, "1234567")); /* over max */
    assert_false(sh_field_password_ok(pin, "12a4"));    /* the pattern */
    char big[2 * SH_PASSWORD_MAX + 3];
    big[0] = 0;
    for (int i = 0; i < SH_PASSWORD_MAX; i++)
        strcat(big, "\xc3\xa9"); /* two bytes, one character */
    assert_true(sh_field_password_ok(pw, big));
    strcat(big, "x");
    assert_false(sh_field_password_ok(pw, big));
    assert_false(sh_field_password_ok(pw, "short")); /* auth passwords: at least 8 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_select),      cmocka_unit_test(test_validate_relation),
        cmocka_unit_test(test_validate_json),        cmocka_unit_test(test_validate_ids),
        cmocka_unit_test(test_validate_update),      cmocka_unit_test(test_validate_auth_passwords),
        cmocka_unit_test(test_validate_password_ok),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
