/*
 * libFuzzer target for the filter language (`filter=` and the collection
 * rules, src/db/filter_*.c): each input is filter text, parsed with
 * sh_filter_parse and compiled with sh_filter_compile against the fixture
 * schema of the unit tests (tests/unit/db/filter_fixture.h: posts -> users ->
 * orgs, multi fields, JSON, a hidden field, a relation to nowhere), once for a
 * guest and once for a signed-in user with a body, query and headers. The
 * dictionary and the seeds from seed-060 on cover issue 9's grammar:
 * back-relations (posts_via_parent, posts_via_author), @collection with
 * aliases, :each/:changed, geoDistance and strftime calls.
 *
 * Invariants checked, each a bug when broken:
 *  - parse and compile return 0 or SH_EINVAL; on SH_EINVAL there is no
 *    filter / no SQL and the message is one sentence ending with a period;
 *  - compiled SQL is sane (assert_sql_sane of tests/unit/db/filter_check.h:
 *    one parameter per `?`, no quoted text but the compiler's constants, no
 *    `;` or `--`): no user text reaches SQL;
 *  - the SQL prepares against the fixture tables in SQLite, has exactly the
 *    parameters bound, and runs without an error (the server would answer 500);
 *  - an empty filter compiles to `1`;
 *  - sh_filter_rename of a parsed filter (users renamed with two fields)
 *    returns 0 and, when it rewrites, text that parses again;
 *  - a filter that sh_filter_uses_request says uses no @request macro
 *    compiles to the same SQL and parameters for both callers (that flag is
 *    what keeps guests from probing other users' data with @request.auth).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "fuzz_check.h"
/* after fuzz_check.h, which defines the assertions it uses */
#include "filter_check.h"
#include "stagehand/core.h"

#define FUZZ_MAX_INPUT (SH_FILTER_MAX_LEN + 64)

static struct {
    sqlite3 *db;
    cJSON *auth, *body, *query, *headers;
    struct sh_filter_ctx guest, user;
} F;

static void teardown(void)
{
    sqlite3_close(F.db);
    cJSON_Delete(F.auth);
    cJSON_Delete(F.body);
    cJSON_Delete(F.query);
    cJSON_Delete(F.headers);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    F.db = fuzz_sql_open(fixture_sql);
    FUZZ_CHECK(sqlite3_exec(F.db, FUZZ_FIXTURE_AUTODATES, NULL, NULL, NULL) == SQLITE_OK,
               "ALTER TABLE orgs failed");
    F.auth = cJSON_Parse("{\"id\":\"u1\",\"name\":\"ann\",\"org\":\"o1\",\"roles\":[\"admin\"],"
                         "\"collectionName\":\"users\",\"verified\":true,\"n\":3}");
    F.body = cJSON_Parse("{\"title\":\"t\",\"views\":5,\"tags\":[\"a\",\"b\"],\"data\":{\"a\":[1]},"
                         "\"author\":\"u1\",\"nothing\":null,\"flag\":false}");
    F.query = cJSON_Parse("{\"page\":\"2\",\"q\":\"x'y\"}");
    F.headers = cJSON_Parse("{\"user_agent\":\"fuzz\",\"x_token\":\"a\\\"b\"}");
    FUZZ_CHECK(F.auth && F.body && F.query && F.headers, "fixture JSON does not parse");
    F.guest = (struct sh_filter_ctx){.now_ms = FIXTURE_NOW_MS};
    F.user = (struct sh_filter_ctx){.auth = F.auth,
                                    .auth_schema = &fixture_users,
                                    .body = F.body,
                                    .query = F.query,
                                    .headers = F.headers,
                                    .method = "PATCH",
                                    .context = "default",
                                    .now_ms = FIXTURE_NOW_MS};
    atexit(teardown);
    return 0;
}

static int bind_filter(sqlite3_stmt *st, const void *arg)
{
    return sh_filter_sql_bind(arg, st, 1);
}

/* Compiles f for ctx; on success checks the SQL (caller deinits *q). */
static int compile_checked(const struct sh_filter *f, const struct sh_filter_ctx *ctx,
                           struct sh_filter_sql *q)
{
    struct sh_filter_error err;
    memset(&err, 0, sizeof(err));
    int rc = sh_filter_compile(f, &fixture_posts, ctx, q, &err);
    FUZZ_CHECK(rc == 0 || rc == SH_EINVAL, "sh_filter_compile returned %d", rc);
    if (rc) {
        FUZZ_CHECK(q->sql == NULL && q->nparams == 0, "a failed compile left SQL behind");
        FUZZ_CHECK(err.code == SH_EINVAL, "compile error code %d", err.code);
        fuzz_check_message(err.message, sizeof(err.message), 0);
        return rc;
    }
    assert_sql_sane(q);
    fuzz_sql_run(F.db, "SELECT \"posts\".\"id\" FROM \"posts\" WHERE ", q->sql, q->nparams,
                 bind_filter, q, "");
    return 0;
}

static int same_params(const struct sh_filter_sql *a, const struct sh_filter_sql *b)
{
    if (a->nparams != b->nparams)
        return 0;
    for (size_t i = 0; i < a->nparams; i++) {
        const struct sh_filter_param *x = &a->params[i], *y = &b->params[i];
        if (x->type != y->type)
            return 0;
        if (x->type == SH_FILTER_PARAM_INT && x->i != y->i)
            return 0;
        if (x->type == SH_FILTER_PARAM_DOUBLE && memcmp(&x->d, &y->d, sizeof(x->d)) != 0)
            return 0;
        if (x->type == SH_FILTER_PARAM_TEXT &&
            (x->len != y->len || memcmp(x->text, y->text, x->len) != 0))
            return 0;
    }
    return 1;
}

/* A parsed filter survives a rename (sh_filter_rename: users renamed with
 * two of its fields) and what comes back parses again. */
static void check_rename(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    static const char *const from[] = {"name", "org"}, *const to[] = {"handle", "team"};
    const struct sh_filter_rename rn = {
        .table = "users", .from = from, .to = to, .nfields = 2, .new_table = "people"};
    char *out = NULL;
    int rc = sh_filter_rename(text, &fixture_posts, &rn, &out);
    /* a rewrite may only fail by growing past the length limit */
    FUZZ_CHECK(rc == 0 || rc == SH_ETOOBIG, "sh_filter_rename of a parsed filter returned %d", rc);
    if (out) {
        struct sh_filter *g = NULL;
        struct sh_filter_error err;
        FUZZ_CHECK(sh_filter_parse(out, strlen(out), &g, &err) == 0,
                   "a renamed filter does not parse: %s: %s", out, err.message);
        sh_filter_free(g);
        free(out);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    struct sh_filter *f = (struct sh_filter *)(uintptr_t)1;
    struct sh_filter_error err;
    memset(&err, 0, sizeof(err));
    int rc = sh_filter_parse((const char *)data, size, &f, &err);
    FUZZ_CHECK(rc == 0 || rc == SH_EINVAL, "sh_filter_parse returned %d", rc);
    if (rc) {
        FUZZ_CHECK(f == NULL, "a failed parse left a filter");
        FUZZ_CHECK(err.code == SH_EINVAL, "parse error code %d", err.code);
        fuzz_check_message(err.message, sizeof(err.message), 0);
        FUZZ_CHECK(err.offset == SIZE_MAX || err.offset <= size, "error offset %zu past %zu bytes",
                   err.offset, size);
        return 0;
    }
    FUZZ_CHECK(f != NULL, "a parse succeeded without a filter");

    struct sh_filter_sql qg, qu;
    int rg = compile_checked(f, &F.guest, &qg);
    int ru = compile_checked(f, &F.user, &qu);
    if (sh_filter_is_empty(f))
        FUZZ_CHECK(rg == 0 && strcmp(qg.sql, "1") == 0, "an empty filter did not compile to 1");
    if (!sh_filter_uses_request(f)) {
        FUZZ_CHECK(rg == ru, "guest and user compiles of a filter without @request disagree");
        if (rg == 0)
            FUZZ_CHECK(strcmp(qg.sql, qu.sql) == 0 && same_params(&qg, &qu),
                       "a filter without @request compiles differently per caller:\n%s\n%s", qg.sql,
                       qu.sql);
    }
    sh_filter_sql_deinit(&qg);
    sh_filter_sql_deinit(&qu);
    sh_filter_free(f);
    check_rename(data, size);
    return 0;
}
