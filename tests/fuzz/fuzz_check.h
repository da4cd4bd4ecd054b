/*
 * What the fuzz targets after HTTP (fuzz_filter.c, fuzz_sort.c, fuzz_token.c,
 * fuzz_index.c, fuzz_collection.c) share: a broken invariant aborts with its
 * file, line and a message (so libFuzzer saves the input and the replay test
 * fails under gcc), the cmocka assertion names that tests/unit/db/filter_check.h
 * uses (so the unit tests' SQL sanity oracle is reused as written, not
 * copied), and a second oracle that hands compiled SQL to a real SQLite
 * connection holding the fixture tables: text the compiler accepted must
 * prepare, bind exactly its parameters and run without an error.
 *
 * Header-only and static: each target is one translation unit.
 */
#ifndef STAGEHAND_TESTS_FUZZ_CHECK_H
#define STAGEHAND_TESTS_FUZZ_CHECK_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fuzz_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints "FILE:LINE: invariant broken: ..." on stderr and aborts. */
static void fuzz_bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: invariant broken: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_bug(__FILE__, __LINE__, __VA_ARGS__);                                             \
    } while (0)

/* The subset of cmocka that filter_check.h calls. */
#define assert_true(x)     FUZZ_CHECK((x), "%s", #x)
#define assert_null(x)     FUZZ_CHECK((x) == NULL, "%s is not NULL", #x)
#define assert_non_null(x) FUZZ_CHECK((x) != NULL, "%s is NULL", #x)
#define assert_int_equal(a, b)                                                                     \
    do {                                                                                           \
        long long fuzz_a_ = (long long)(a), fuzz_b_ = (long long)(b);                              \
        FUZZ_CHECK(fuzz_a_ == fuzz_b_, "%s == %s: %lld != %lld", #a, #b, fuzz_a_, fuzz_b_);        \
    } while (0)
#define assert_string_equal(a, b)                                                                  \
    FUZZ_CHECK(strcmp((a), (b)) == 0, "%s == %s: \"%s\" != \"%s\"", #a, #b, (a), (b))
#define fail_msg(...) fuzz_bug(__FILE__, __LINE__, __VA_ARGS__)

/* An error message the API may show: non-empty and terminated; unless
 * may_cut (a message that quotes client text at some length may be cut
 * short), one sentence ending with '.'. Newlines are allowed: client text
 * quoted in it is sent as JSON. */
static inline void fuzz_check_message(const char *msg, size_t cap, int may_cut)
{
    size_t n = strnlen(msg, cap);
    FUZZ_CHECK(n > 0 && n < cap, "error message empty or not terminated");
    FUZZ_CHECK(may_cut || msg[n - 1] == '.', "error message does not end with a period: %s", msg);
}

/* ---- the SQLite oracle ---- */

/* Run after filter_fixture.h's fixture_sql: the autodate columns every real
 * collection has (the compiler resolves created/updated on any collection;
 * the unit fixture's orgs table lacks them). */
#define FUZZ_FIXTURE_AUTODATES                                                                     \
    "ALTER TABLE orgs ADD COLUMN created TEXT; ALTER TABLE orgs ADD COLUMN updated TEXT;"

#define FUZZ_SQL_STEPS 200000 /* VM instructions a query may run before it is cut */

static int fuzz_sql_progress(void *ud)
{
    unsigned *ticks = ud;
    return ++*ticks > FUZZ_SQL_STEPS / 1000;
}

/* Opens an in-memory database and runs setup (the fixture's tables and rows);
 * aborts on failure. One per process. */
static inline sqlite3 *fuzz_sql_open(const char *setup)
{
    sqlite3 *db = NULL;
    FUZZ_CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK, "sqlite3_open failed");
    char *msg = NULL;
    FUZZ_CHECK(sqlite3_exec(db, setup, NULL, NULL, &msg) == SQLITE_OK, "fixture: %s",
               msg ? msg : "?");
    return db;
}

/* Prepares prefix + sql + suffix, checks it has exactly nparams parameters,
 * lets bind() bind them (returns an SQLite code), and steps through every row
 * (bounded by FUZZ_SQL_STEPS). Any error but the bound being hit is a bug:
 * the server would answer 500 to a filter or sort it accepted. */
static inline void fuzz_sql_run(sqlite3 *db, const char *prefix, const char *sql, size_t nparams,
                                int (*bind)(sqlite3_stmt *st, const void *arg), const void *arg,
                                const char *suffix)
{
    size_t n = strlen(prefix) + strlen(sql) + strlen(suffix) + 1;
    char *text = malloc(n);
    FUZZ_CHECK(text != NULL, "out of memory");
    snprintf(text, n, "%s%s%s", prefix, sql, suffix);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, text, -1, &st, NULL);
    FUZZ_CHECK(rc == SQLITE_OK, "compiled SQL does not prepare (%s): %s", sqlite3_errmsg(db), text);
    FUZZ_CHECK((size_t)sqlite3_bind_parameter_count(st) == nparams,
               "SQL has %d parameters, the compiler bound %zu: %s",
               sqlite3_bind_parameter_count(st), nparams, text);
    if (bind)
        FUZZ_CHECK(bind(st, arg) == SQLITE_OK, "binding failed: %s", sqlite3_errmsg(db));
    unsigned ticks = 0;
    sqlite3_progress_handler(db, 1000, fuzz_sql_progress, &ticks);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    sqlite3_progress_handler(db, 0, NULL, NULL);
    FUZZ_CHECK(rc == SQLITE_DONE || rc == SQLITE_INTERRUPT, "compiled SQL fails to run (%s): %s",
               sqlite3_errmsg(db), text);
    sqlite3_finalize(st);
    free(text);
}

#endif
