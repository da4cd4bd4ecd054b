/*
 * The start-up sweep of stored files no record references: what a crash
 * left between moving an upload into its record's folder and the commit
 * (or between a commit and the removal of the files it dropped). For each
 * collection with file fields, each folder under
 * <dir>/storage/<collectionId>/ is compared with its record: a file no
 * file field of the record names is removed, and the folder with it when
 * the record does not exist. The folder of a collection that no longer
 * exists (deleted while this server was down, or by the CLI) goes too.
 * Files changed in the last --orphan-min-age (10 minutes) are kept:
 * another server of a group sharing the database may be about to commit
 * the record that names them. Runs once, before the loop serves
 * (start-up), reading through the loop's connection. The
 * thumbs_<name> folder of a file no longer held goes with it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "records_int.h"
#include "stagehand/db.h"
#include "stagehand/files.h"
#include "stagehand/json.h"

static bool has_file_fields(const struct sh_collection *c)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (c->fields[i].kind == SH_FIELD_FILE)
            return true;
    return false;
}

/* Does a stored value (a name, or a JSON array of names) hold name? */
static bool value_holds(const char *v, const char *name)
{
    if (!v || !*v)
        return false;
    if (v[0] != '[')
        return strcmp(v, name) == 0;
    cJSON *arr = sh_json_parse(v, strlen(v), NULL);
    bool found = false;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        if (cJSON_IsString(x) && strcmp(x->valuestring, name) == 0)
            found = true;
    }
    cJSON_Delete(arr);
    return found;
}

/* "SELECT <file columns> FROM <table> WHERE id = ?" for c (names are
 * validated identifiers). */
static char *select_sql(const struct sh_collection *c)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT ");
    bool first = true;
    for (size_t i = 0; i < c->nfields; i++) {
        if (c->fields[i].kind != SH_FIELD_FILE)
            continue;
        if (!first)
            sh_buf_appends(&b, ",");
        first = false;
        sh_buf_appends(&b, "\"");
        sh_buf_appends(&b, c->fields[i].name);
        sh_buf_appends(&b, "\"");
    }
    sh_buf_appends(&b, " FROM \"");
    sh_buf_appends(&b, c->name);
    sh_buf_appends(&b, "\" WHERE id = ?");
    sh_buf_append(&b, "", 1); /* the NUL */
    return b.data;
}

static bool old_enough(const char *path, time_t now, time_t min_age)
{
    struct stat st;
    return lstat(path, &st) == 0 && now - st.st_mtime >= min_age;
}

static bool is_dir_at(DIR *d, const char *name)
{
    struct stat st;
    return fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Sweeps one record's folder (the thumbs of files it no longer holds
 * too); returns the files removed. */
static unsigned sweep_record(struct sh_db *db, const char *sql, const char *rdir, const char *id,
                             int ncols, time_t now, time_t min_age)
{
    sqlite3_stmt *st;
    if (sh_db_prepare(db, sql, &st))
        return 0;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        sh_db_release(db, st);
        return 0; /* unreadable now: keep everything */
    }
    unsigned removed = 0;
    DIR *d = opendir(rdir);
    if (!d) {
        sh_db_release(db, st);
        return 0;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (strncmp(e->d_name, "thumbs_", 7) == 0 && is_dir_at(d, e->d_name)) {
            bool kept = false; /* the thumbs of a file the record holds */
            for (int k = 0; step == SQLITE_ROW && k < ncols && !kept; k++)
                kept = value_holds((const char *)sqlite3_column_text(st, k), e->d_name + 7);
            if (!kept)
                sh__thumbs_rmdir_at(dirfd(d), e->d_name);
            continue;
        }
        bool kept = false;
        for (int k = 0; step == SQLITE_ROW && k < ncols && !kept; k++)
            kept = value_holds((const char *)sqlite3_column_text(st, k), e->d_name);
        char *p = sh_malloc(strlen(rdir) + strlen(e->d_name) + 2);
        sprintf(p, "%s/%s", rdir, e->d_name);
        if (!kept && old_enough(p, now, min_age) && unlink(p) == 0)
            removed++;
        free(p);
    }
    closedir(d);
    sh_db_release(db, st);
    if (step == SQLITE_DONE)
        (void)rmdir(rdir); /* refused while a file too young to go is there */
    return removed;
}

/* The folders under <dir>/storage/ of collections the catalog no longer
 * has, when old enough: removed with what they hold (counted as one). */
static unsigned sweep_collections(const char *dir, const struct sh_catalog_snap *snap, time_t now,
                                  time_t min_age)
{
    size_t n = strlen(dir) + 16;
    char *storage = sh_malloc(n);
    snprintf(storage, n, "%s/storage", dir);
    DIR *d = opendir(storage);
    unsigned removed = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        /* found by id (or, to be safe, by name): kept */
        if (!sh__rec_file_id_safe(e->d_name) || sh_catalog_snap_find(snap, e->d_name))
            continue;
        char *p = sh_malloc(strlen(storage) + strlen(e->d_name) + 2);
        sprintf(p, "%s/%s", storage, e->d_name);
        if (old_enough(p, now, min_age)) {
            sh__rec_files_remove_tree(p);
            removed++;
        }
        free(p);
    }
    if (d)
        closedir(d);
    free(storage);
    return removed;
}

unsigned sh_api_records_sweep_files(struct sh_api_records *a)
{
    if (!a->cfg->dir)
        return 0;
    struct sh_catalog_snap *snap = sh_catalog_acquire(a->catalog);
    if (!snap)
        return 0;
    time_t now = time(NULL), min_age = (time_t)(a->cfg->orphan_min_age / 1000);
    unsigned removed = sweep_collections(a->cfg->dir, snap, now, min_age);
    for (size_t i = 0; i < snap->n; i++) {
        const struct sh_collection *c = snap->list[i];
        if (c->type == SH_COLLECTION_VIEW || !has_file_fields(c))
            continue;
        size_t n = strlen(a->cfg->dir) + strlen(c->id) + 16;
        char *cdir = sh_malloc(n);
        snprintf(cdir, n, "%s/storage/%s", a->cfg->dir, c->id);
        DIR *d = opendir(cdir);
        int ncols = 0;
        for (size_t k = 0; k < c->nfields; k++)
            ncols += c->fields[k].kind == SH_FIELD_FILE;
        char *sql = d ? select_sql(c) : NULL;
        for (struct dirent *e; d && (e = readdir(d));) {
            if (!sh__rec_file_id_safe(e->d_name))
                continue;
            char *rdir = sh_malloc(strlen(cdir) + strlen(e->d_name) + 2);
            sprintf(rdir, "%s/%s", cdir, e->d_name);
            removed += sweep_record(a->db, sql, rdir, e->d_name, ncols, now, min_age);
            free(rdir);
        }
        if (d)
            closedir(d);
        free(sql);
        free(cdir);
    }
    sh_catalog_snap_free(snap);
    return removed;
}
