/*
 * Shared helpers of the storage engine tests (test_db.c, test_writer.c): a
 * fresh data directory under mkdtemp, its removal, a loop per test, and
 * closing a db by running the loop until the close callback reports.
 */
#ifndef STAGEHAND_TEST_DB_TMP_H
#define STAGEHAND_TEST_DB_TMP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "stagehand/db.h"

struct tmp_env {
    char dir[64];
    char path[96]; /* dir/data.db */
    uv_loop_t loop;
};

static inline struct tmp_env *tmp_env_new(void)
{
    struct tmp_env *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    snprintf(e->dir, sizeof(e->dir), "/tmp/sh-db-test-XXXXXX");
    if (!mkdtemp(e->dir) || uv_loop_init(&e->loop) != 0) {
        free(e);
        return NULL;
    }
    snprintf(e->path, sizeof(e->path), "%s/data.db", e->dir);
    return e;
}

static inline int tmp_file_exists(const struct tmp_env *e, const char *suffix)
{
    char p[128];
    snprintf(p, sizeof(p), "%s%s", e->path, suffix);
    return access(p, F_OK) == 0;
}

/* Removes the directory; returns uv_loop_close's result (0 if every handle of
 * the test was closed). */
static inline int tmp_env_free(struct tmp_env *e)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s%s", e->path, suffixes[i]);
        unlink(p);
    }
    rmdir(e->dir);
    int rc = uv_loop_close(&e->loop);
    free(e);
    return rc;
}

struct close_result {
    int called;
    int rc;
};

static inline void tmp_on_closed(void *arg, int rc)
{
    struct close_result *r = arg;
    r->called++;
    r->rc = rc;
}

/* Closes db and runs the loop until it is closed; returns the close rc, or
 * -1 if the callback did not run exactly once. */
static inline int tmp_close_db(struct tmp_env *e, struct sh_db *db)
{
    struct close_result r = {0, 0};
    sh_db_close(db, tmp_on_closed, &r);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    return r.called == 1 ? r.rc : -1;
}

#endif
