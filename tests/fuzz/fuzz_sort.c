/*
 * libFuzzer target for `sort=` (src/db/sort.c): each input is sort text,
 * compiled with sh_sort_compile against the fixture schema of the unit tests
 * (tests/unit/db/filter_fixture.h).
 *
 * Invariants checked, each a bug when broken:
 *  - the result is 0 or SH_EINVAL; on SH_EINVAL there is no SQL and the
 *    message is one sentence ending with a period;
 *  - the ORDER BY list is sane (assert_sql_sane of filter_check.h) when not
 *    empty, and empty text gives an empty list;
 *  - it prepares after `ORDER BY` against the fixture tables in SQLite, binds
 *    exactly its parameters and runs without an error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "fuzz_check.h"
/* after fuzz_check.h, which defines the assertions it uses */
#include "filter_check.h"
#include "stagehand/core.h"

#define FUZZ_MAX_INPUT 4096

static sqlite3 *db;

static void teardown(void)
{
    sqlite3_close(db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    db = fuzz_sql_open(fixture_sql);
    FUZZ_CHECK(sqlite3_exec(db, FUZZ_FIXTURE_AUTODATES, NULL, NULL, NULL) == SQLITE_OK,
               "ALTER TABLE orgs failed");
    atexit(teardown);
    return 0;
}

static int bind_sort(sqlite3_stmt *st, const void *arg)
{
    return sh_filter_sql_bind(arg, st, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    struct sh_filter_sql q;
    struct sh_filter_error err;
    memset(&err, 0, sizeof(err));
    int rc = sh_sort_compile((const char *)data, size, &fixture_posts, &q, &err);
    FUZZ_CHECK(rc == 0 || rc == SH_EINVAL, "sh_sort_compile returned %d", rc);
    if (rc) {
        FUZZ_CHECK(q.sql == NULL && q.nparams == 0, "a failed sort compile left SQL behind");
        FUZZ_CHECK(err.code == SH_EINVAL, "sort error code %d", err.code);
        fuzz_check_message(err.message, sizeof(err.message), 0);
        return 0;
    }
    if (q.len == 0) {
        FUZZ_CHECK(q.nparams == 0, "an empty sort has parameters");
    } else {
        assert_sql_sane(&q);
        fuzz_sql_run(db, "SELECT \"posts\".\"id\" FROM \"posts\" ORDER BY ", q.sql, q.nparams,
                     bind_sort, &q, "");
    }
    sh_filter_sql_deinit(&q);
    return 0;
}
