/*
 * Unit tests of record validation, field type by field type: the values
 * produced for valid input (PocketBase's coercions included) and the error
 * object with PocketBase's codes for invalid input.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "stagehand/core.h"
#include "stagehand/validate.h"

#define NOW INT64_C(1718452800000) /* 2024-06-15 12:00:00.000Z */

static struct sh_collection *coll;

static int setup(void **state)
{
    (void)state;
    cJSON *j = cJSON_Parse(
        "{\"id\":\"postsid00000001\",\"name\":\"posts\",\"fields\":["
        "{\"name\":\"title\",\"type\":\"text\",\"min\":3,\"max\":10,\"pattern\":\"^[A-Z]\"},"
        "{\"name\":\"note\",\"type\":\"text\"},"
        "{\"name\":\"short\",\"type\":\"text\",\"max\":5},"
        "{\"name\":\"views\",\"type\":\"number\",\"min\":-5,\"max\":100},"
        "{\"name\":\"count\",\"type\":\"number\",\"onlyInt\":true,\"required\":true},"
        "{\"name\":\"flag\",\"type\":\"bool\"},{\"name\":\"must\",\"type\":\"bool\",\"required\":"
        "true},"
        "{\"name\":\"mail\",\"type\":\"email\",\"exceptDomains\":[\"spam.com\"]},"
        "{\"name\":\"site\",\"type\":\"url\",\"onlyDomains\":[\"example.com\"]},"
        "{\"name\":\"when\",\"type\":\"date\",\"min\":\"2020-01-01\",\"max\":\"2030-01-01\"},"
        "{\"name\":\"kind\",\"type\":\"select\",\"values\":[\"a\",\"b\",\"c\"]},"
        "{\"name\":\"tags\",\"type\":\"select\",\"values\":[\"a\",\"b\",\"c\"],\"maxSelect\":2},"
        "{\"name\":\"data\",\"type\":\"json\",\"maxSize\":20},"
        "{\"name\":\"author\",\"type\":\"relation\",\"collectionId\":\"posts\"},"
        "{\"name\":\"refs\",\"type\":\"relation\",\"collectionId\":\"posts\",\"maxSelect\":3,"
        "\"minSelect\":2}]}");
    struct sh_schema_error err;
    assert_int_equal(sh_collection_parse(j, NULL, NULL, &coll, &err), 0);
    cJSON_Delete(j);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sh_collection_free(coll);
    return 0;
}

/* The body {fields} plus the required count and must unless fields sets them. */
static char *with_base(const char *fields)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf), "{%s%s%s%s}", strstr(fields, "\"count\"") ? "" : "\"count\":1,",
             strstr(fields, "\"must\"") ? "" : "\"must\":true,", fields, *fields ? "" : "\"_\":0");
    return buf;
}

/* Validates a create of body; returns the rc, fills *in. */
static int run(struct sh_record_input *in, const char *body, const struct sh_validate_opts *o)
{
    cJSON *j = cJSON_Parse(body);
    if (!j)
        fail_msg("bad test JSON: %s", body);
    struct sh_validate_opts def = {.now_ms = NOW};
    int rc = sh_record_input_parse(in, coll, j, o ? o : &def);
    cJSON_Delete(j);
    return rc;
}

/* The errors object as text ("" when valid). */
static char *errors_of(const char *fields)
{
    struct sh_record_input in;
    static char out[2048];
    int rc = run(&in, with_base(fields), NULL);
    out[0] = '\0';
    if (in.errors) {
        char *s = cJSON_PrintUnformatted(in.errors);
        snprintf(out, sizeof(out), "%s", s);
        free(s);
        assert_int_equal(rc, -10003);
    } else {
        assert_int_equal(rc, 0);
    }
    sh_record_input_deinit(&in);
    return out;
}

static void check_error(const char *fields, const char *field, const char *code,
                        const char *message)
{
    char want[512];
    snprintf(want, sizeof(want), "{\"%s\":{\"code\":\"%s\",\"message\":\"%s\"}}", field, code,
             message);
    const char *got = errors_of(fields);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got %s, want %s", fields, got, want);
}

/* The SQL literal a column would hold for a valid create ("'text'", "12",
 * "1.5", "NULL"). */
static char *value_of(const char *fields, const char *name)
{
    struct sh_record_input in;
    static char out[512];
    if (run(&in, with_base(fields), NULL)) {
        char *s = cJSON_PrintUnformatted(in.errors);
        snprintf(out, sizeof(out), "%s", s);
        free(s);
        sh_record_input_deinit(&in);
        fail_msg("%s refused: %s", fields, out);
    }
    const struct sh_record_column *c = sh_record_input_column(&in, name);
    assert_non_null(c);
    switch (c->value.type) {
    case SH_VALUE_NULL:
        snprintf(out, sizeof(out), "NULL");
        break;
    case SH_VALUE_INT:
        snprintf(out, sizeof(out), "%lld", (long long)c->value.i);
        break;
    case SH_VALUE_REAL:
        snprintf(out, sizeof(out), "%g", c->value.d);
        break;
    case SH_VALUE_TEXT:
        assert_int_equal(c->value.len, strlen(c->value.text));
        snprintf(out, sizeof(out), "'%s'", c->value.text);
        break;
    }
    sh_record_input_deinit(&in);
    return out;
}

static void check_value(const char *fields, const char *name, const char *want)
{
    const char *got = value_of(fields, name);
    if (strcmp(got, want) != 0)
        fail_msg("%s: %s is %s, want %s", fields, name, got, want);
}

static void test_validate_create_defaults(void **state)
{
    (void)state;
    struct sh_record_input in;
    assert_int_equal(run(&in, with_base(""), NULL), 0);
    assert_null(in.errors);
    assert_int_equal(in.ncols, coll->nfields);
    assert_int_equal(strlen(in.id), 15);
    assert_int_equal(strspn(in.id, "abcdefghijklmnopqrstuvwxyz0123456789"), 15);
    for (size_t i = 0; i < in.ncols; i++)
        assert_true(in.cols[i].changed);
    assert_string_equal(sh_record_input_column(&in, "created")->value.text,
                        "2024-06-15 12:00:00.000Z");
    assert_string_equal(sh_record_input_column(&in, "updated")->value.text,
                        "2024-06-15 12:00:00.000Z");
    sh_record_input_deinit(&in);
    /* Zero values, as PocketBase stores them. */
    check_value("", "title", "''");
    check_value("", "views", "0");
    check_value("", "flag", "0");
    check_value("", "when", "''");
    check_value("", "kind", "''");
    check_value("", "tags", "'[]'");
    check_value("", "data", "NULL");
    check_value("", "author", "''");
    /* Unknown keys are ignored; autodates can't be set. */
    check_value("\"nope\":1,\"created\":\"2000-01-01\"", "created", "'2024-06-15 12:00:00.000Z'");
}

static void test_validate_required_and_many_errors(void **state)
{
    (void)state;
    struct sh_record_input in;
    assert_int_equal(run(&in, "{\"title\":\"x\",\"views\":1000}", NULL), -10003);
    char *s = cJSON_PrintUnformatted(in.errors);
    assert_string_equal(
        s, "{\"title\":{\"code\":\"validation_min_text_constraint\",\"message\":\"Must be at least "
           "3 character(s).\"},\"views\":{\"code\":\"validation_max_number_constraint\","
           "\"message\":\"Must be less than 100.\"},\"count\":{\"code\":\"validation_required\","
           "\"message\":\"Missing required value.\"},\"must\":{\"code\":\"validation_required\","
           "\"message\":\"Missing required value.\"}}");
    free(s);
    cJSON *taken = sh_record_input_take_errors(&in);
    assert_non_null(taken);
    assert_null(in.errors);
    cJSON_Delete(taken);
    sh_record_input_deinit(&in);
    /* A body that is not an object. */
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(sh_record_input_parse(&in, coll, arr, NULL), -10003);
    assert_true(cJSON_IsObject(in.errors) && !in.errors->child);
    cJSON_Delete(arr);
    sh_record_input_deinit(&in);
}

static void test_validate_text(void **state)
{
    (void)state;
    check_value("\"title\":\"Hello\"", "title", "'Hello'");
    check_error("\"title\":\"Hi\"", "title", "validation_min_text_constraint",
                "Must be at least 3 character(s).");
    check_error("\"title\":\"Hello world\"", "title", "validation_max_text_constraint",
                "Must be no more than 10 character(s).");
    check_error("\"title\":\"hello\"", "title", "validation_invalid_format",
                "Invalid value format.");
    /* Lengths count characters, not bytes. */
    check_value("\"short\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"", "short",
                "'\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9'");
    check_error("\"short\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"", "short",
                "validation_max_text_constraint", "Must be no more than 5 character(s).");
    /* PocketBase's cast.ToString. */
    check_value("\"note\":12", "note", "'12'");
    check_value("\"note\":1.5", "note", "'1.5'");
    check_value("\"note\":0.1", "note", "'0.1'");
    check_value("\"note\":true", "note", "'true'");
    check_value("\"note\":null", "note", "''");
    check_error("\"note\":[1]", "note", "validation_invalid_value", "Must be a string.");
    check_error("\"note\":{\"a\":1}", "note", "validation_invalid_value", "Must be a string.");
    /* Without max, PocketBase's 5000 characters. */
    char big[5100];
    memset(big, 'x', sizeof(big));
    memcpy(big, "\"note\":\"", 8);
    memcpy(big + 8 + 5001, "\"", 2);
    check_error(big, "note", "validation_max_text_constraint",
                "Must be no more than 5000 character(s).");
    big[8 + 5000] = '"';
    big[8 + 5001] = '\0';
    struct sh_record_input in;
    assert_int_equal(run(&in, with_base(big), NULL), 0);
    assert_int_equal(sh_record_input_column(&in, "note")->value.len, 5000);
    sh_record_input_deinit(&in);
}

static void test_validate_number(void **state)
{
    (void)state;
    check_value("\"views\":12", "views", "12");
    check_value("\"views\":\"12\"", "views", "12");
    check_value("\"views\":\" 1.5 \"", "views", "1.5");
    check_value("\"views\":\"1e1\"", "views", "10");
    check_value("\"views\":\"\"", "views", "0");
    check_value("\"views\":null", "views", "0");
    check_value("\"views\":true", "views", "1");
    check_value("\"views\":-5", "views", "-5");
    const char *bad[] = {"\"abc\"",   "\"0x10\"", "\"nan\"", "\"inf\"",
                         "\"1e999\"", "[1]",      "{}",      "\"1 2\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char f[64];
        snprintf(f, sizeof(f), "\"views\":%s", bad[i]);
        check_error(f, "views", "validation_not_a_number",
                    "The submitted number is not properly formatted.");
    }
    check_error("\"views\":-6", "views", "validation_min_number_constraint",
                "Must be larger than -5.");
    check_error("\"views\":100.5", "views", "validation_max_number_constraint",
                "Must be less than 100.");
    check_error("\"count\":1.5", "count", "validation_only_int_constraint",
                "Decimal numbers are not allowed.");
    check_error("\"count\":\"0\"", "count", "validation_required", "Missing required value.");
}

static void test_validate_bool(void **state)
{
    (void)state;
    const char *yes[] = {"true", "\"true\"", "\"1\"", "\"t\"", "\"TRUE\"", "1", "2"};
    const char *no[] = {"false", "\"false\"", "\"0\"", "\"f\"", "\"\"", "0", "null"};
    char f[64];
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        snprintf(f, sizeof(f), "\"flag\":%s", yes[i]);
        check_value(f, "flag", "1");
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        snprintf(f, sizeof(f), "\"flag\":%s", no[i]);
        check_value(f, "flag", "0");
    }
    check_error("\"flag\":\"maybe\"", "flag", "validation_invalid_value", "Must be a boolean.");
    check_error("\"flag\":[true]", "flag", "validation_invalid_value", "Must be a boolean.");
    check_error("\"must\":false", "must", "validation_required", "Missing required value.");
}

static void test_validate_email_url(void **state)
{
    (void)state;
    check_value("\"mail\":\"a@b.co\"", "mail", "'a@b.co'");
    check_value("\"mail\":\"\"", "mail", "''");
    check_error("\"mail\":\"nope\"", "mail", "validation_is_email",
                "Must be a valid email address.");
    check_error("\"mail\":\"x@SPAM.com\"", "mail", "validation_email_domain_not_allowed",
                "Email domain is not allowed.");
    check_value("\"site\":\"https://example.com/x\"", "site", "'https://example.com/x'");
    check_error("\"site\":\"example.com\"", "site", "validation_is_url", "Must be a valid url.");
    check_error("\"site\":\"https://other.com\"", "site", "validation_url_domain_not_allowed",
                "Url domain is not allowed.");
}

static void test_validate_date_field(void **state)
{
    (void)state;
    check_value("\"when\":\"2024-01-02T03:04:05+01:00\"", "when", "'2024-01-02 02:04:05.000Z'");
    check_value("\"when\":\"2024-01-02\"", "when", "'2024-01-02 00:00:00.000Z'");
    check_value("\"when\":1718452800", "when", "'2024-06-15 12:00:00.000Z'");
    check_value("\"when\":\"\"", "when", "''");
    check_error("\"when\":\"tomorrow\"", "when", "validation_invalid_date",
                "Must be a valid date.");
    check_error("\"when\":true", "when", "validation_invalid_date", "Must be a valid date.");
    check_error("\"when\":\"2019-12-31\"", "when", "validation_min_greater_equal_than_required",
                "Must be no less than 2020-01-01 00:00:00.000Z.");
    check_error("\"when\":\"2030-01-01 00:00:00.001Z\"", "when",
                "validation_max_less_equal_than_required",
                "Must be no greater than 2030-01-01 00:00:00.000Z.");
}

/* Text patterns: the simple bracket-class ones validation matches by a
 * table ("^[a-z0-9]+$") and every other one (regexec) accept exactly what
 * regcomp(REG_EXTENDED) accepts, field after field (the table of the last
 * pattern is kept per thread), on values chosen to find the edges. */
static void test_validate_text_patterns(void **state)
{
    (void)state;
    static const char *const pats[] = {
        "^[a-z0-9]+$", "^[A-Z_]+$", "^[a-z0-9]+$", "^[0-9]+$",  "^[a-z-]+$", "^[abc]+$",
        "^[a-zA-Z]+$", "^[a-z]+",   "[a-z]+$",     "^[a-z]*$",  "^[z-a]+$x", "^[a]+$",
        "^[0-9a-f]+$", "^[_]+$",    "^[a-Z]+$",    "^[^a-z]+$", "^[a.z]+$",  "^[A-Z0-9_]+$",
    };
    static const char *const vals[] = {
        "abc", "a1b2", "ABC",  "A_B", "a-b", "-",     "a b", "abc\n", "\nabc", "abc$",
        "9",   "é",    "aBc",  "_",   "a.z", "abcd",  "z",   "0f9e",  "0g",    "xyz!",
        "a",   "aaa",  "[a]+", "^a",  "a\\", "AZ09_", "b]",  "ac",    "cab",   "ab-",
    };
    char json[4096];
    for (size_t p = 0; p < SH_ARRAY_LEN(pats); p++) {
        regex_t re;
        if (regcomp(&re, pats[p], REG_EXTENDED | REG_NOSUB) != 0)
            continue; /* the schema refuses it: nothing to validate */
        cJSON *fj = cJSON_CreateObject();
        cJSON_AddStringToObject(fj, "name", "code");
        cJSON_AddStringToObject(fj, "type", "text");
        cJSON_AddStringToObject(fj, "pattern", pats[p]);
        char *ftext = cJSON_PrintUnformatted(fj);
        cJSON_Delete(fj);
        snprintf(json, sizeof(json),
                 "{\"id\":\"patcoll00000001\",\"name\":\"pats\",\"fields\":[%s]}", ftext);
        free(ftext);
        cJSON *j = cJSON_Parse(json);
        struct sh_collection *pc;
        struct sh_schema_error err;
        assert_int_equal(sh_collection_parse(j, NULL, NULL, &pc, &err), 0);
        cJSON_Delete(j);
        for (size_t v = 0; v < SH_ARRAY_LEN(vals); v++) {
            cJSON *body = cJSON_CreateObject();
            cJSON *val = cJSON_CreateString(vals[v]);
            bool want = regexec(&re, val->valuestring, 0, NULL, 0) == 0;
            cJSON_AddItemToObject(body, "code", val);
            struct sh_record_input in;
            struct sh_validate_opts o = {.now_ms = NOW};
            int rc = sh_record_input_parse(&in, pc, body, &o);
            if ((rc == 0) != want)
                fail_msg("pattern %s, value \"%s\": validation %s, regexec %s", pats[p], vals[v],
                         rc ? "refused" : "accepted", want ? "matches" : "does not");
            sh_record_input_deinit(&in);
            cJSON_Delete(body);
        }
        regfree(&re);
        sh_collection_free(pc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_create_defaults),
        cmocka_unit_test(test_validate_required_and_many_errors),
        cmocka_unit_test(test_validate_text),
        cmocka_unit_test(test_validate_number),
        cmocka_unit_test(test_validate_bool),
        cmocka_unit_test(test_validate_email_url),
        cmocka_unit_test(test_validate_date_field),
        cmocka_unit_test(test_validate_text_patterns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
