/*
 * libFuzzer target for a collection's index strings (src/db/index_parse.c),
 * which clients send in a collection's "indexes" array: each input is one
 * index string, parsed with sh_index_parse.
 *
 * Invariants checked, each a bug when broken:
 *  - the result is 0 or SH_EINVAL; on SH_EINVAL the index is zeroed and the
 *    message is one sentence ending with a period;
 *  - a parsed index has a name and at least one column, every name in the
 *    parser's identifier set;
 *  - sh_index_format is a fixed point: its text (with each quote character)
 *    parses back to the same index;
 *  - the statement it writes for the server runs in SQLite on a table holding
 *    the named columns (the server would fail a collection write it accepted).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "fuzz_check.h"
#include "stagehand/core.h"
#include "stagehand/schema.h"

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
    db = fuzz_sql_open("SELECT 1;");
    atexit(teardown);
    return 0;
}

static void check_ident(const char *s, const char *what)
{
    FUZZ_CHECK(s && s[0], "%s is empty", what);
    for (const char *p = s; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                 (p > s && *p >= '0' && *p <= '9');
        FUZZ_CHECK(ok, "%s \"%s\" is not an identifier", what, s);
    }
}

static bool same_index(const struct sh_index *a, const struct sh_index *b)
{
    if (strcmp(a->name, b->name) != 0 || a->unique != b->unique ||
        a->if_not_exists != b->if_not_exists || a->ncols != b->ncols ||
        !a->where_not_empty != !b->where_not_empty)
        return false;
    if (a->where_not_empty && strcmp(a->where_not_empty, b->where_not_empty) != 0)
        return false;
    for (size_t i = 0; i < a->ncols; i++)
        if (strcmp(a->cols[i].name, b->cols[i].name) != 0 ||
            a->cols[i].nocase != b->cols[i].nocase || a->cols[i].order != b->cols[i].order)
            return false;
    return true;
}

static void check_round_trip(const struct sh_index *ix, char quote)
{
    char *text = sh_index_format(ix, ix->table, quote, true);
    struct sh_index back;
    char msg[256] = "";
    FUZZ_CHECK(sh_index_parse(text, strlen(text), &back, msg, sizeof(msg)) == 0,
               "formatted index does not parse (%s): %s", msg, text);
    FUZZ_CHECK(same_index(ix, &back), "formatted index parses to another index: %s", text);
    sh_index_deinit(&back);
    free(text);
}

/* Creates table "fuzz-t" (a name no index can have) with every column the index names, runs the
 * server's statement, and drops the table again. */
static void check_runs(const struct sh_index *ix)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "CREATE TABLE \"fuzz-t\" (\"id\" TEXT");
    for (size_t i = 0; i <= ix->ncols; i++) {
        const char *col = i < ix->ncols ? ix->cols[i].name : ix->where_not_empty;
        if (!col)
            continue;
        bool seen = strcasecmp(col, "id") == 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcasecmp(col, ix->cols[j].name) == 0;
        if (seen)
            continue;
        sh_buf_appends(&b, ", \"");
        sh_buf_appends(&b, col);
        sh_buf_appends(&b, "\" TEXT");
    }
    sh_buf_appends(&b, ");");
    char *ddl = sh_index_format(ix, "fuzz-t", '"', false);
    sh_buf_appends(&b, ddl);
    sh_buf_append(&b, "", 1);
    char *err = NULL;
    int rc = sqlite3_exec(db, (const char *)b.data, NULL, NULL, &err);
    FUZZ_CHECK(rc == SQLITE_OK, "the index statement fails in SQLite (%s): %s", err ? err : "?",
               ddl);
    FUZZ_CHECK(sqlite3_exec(db, "DROP TABLE \"fuzz-t\";", NULL, NULL, NULL) == SQLITE_OK,
               "DROP TABLE failed");
    free(ddl);
    sh_buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    struct sh_index ix;
    memset(&ix, 0xAA, sizeof(ix));
    char msg[256];
    memset(msg, 0, sizeof(msg));
    int rc = sh_index_parse((const char *)data, size, &ix, msg, sizeof(msg));
    FUZZ_CHECK(rc == 0 || rc == SH_EINVAL, "sh_index_parse returned %d", rc);
    if (rc) {
        FUZZ_CHECK(!ix.name && !ix.table && !ix.cols && !ix.ncols && !ix.where_not_empty &&
                       !ix.unique && !ix.if_not_exists,
                   "a refused index is not zeroed");
        fuzz_check_message(msg, sizeof(msg), 0);
        return 0;
    }
    check_ident(ix.name, "index name");
    check_ident(ix.table, "table name");
    FUZZ_CHECK(ix.ncols > 0 && ix.cols, "an index without columns");
    for (size_t i = 0; i < ix.ncols; i++)
        check_ident(ix.cols[i].name, "column name");
    if (ix.where_not_empty)
        check_ident(ix.where_not_empty, "WHERE column");
    check_round_trip(&ix, '"');
    check_round_trip(&ix, '`');
    check_runs(&ix);
    sh_index_deinit(&ix);
    return 0;
}
