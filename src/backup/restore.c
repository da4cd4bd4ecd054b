/*
 * Restoring backups (backup.h): extraction into <dir>/.restore-staging/ with
 * every entry name checked (a ZIP may hold "../x" or "/etc/x": only data.db,
 * auxiliary.db and storage/... are taken), validation of the databases in
 * it (integrity_check, stagehand's tables), and the swap by rename with the
 * database closed, undone rename by rename when one fails so that the old
 * data stays in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <sqlite3.h>

#include "backup_int.h"
#include "stagehand/backup.h"
#include "stagehand/core.h"

#define STAGING "/.restore-staging"
#define OLD     "/.restore-old"

/* 1 if an entry name is one a backup may hold. */
static int entry_ok(const char *name)
{
    if (strcmp(name, "data.db") == 0 || strcmp(name, "auxiliary.db") == 0)
        return 1;
    if (strncmp(name, "storage/", 8) != 0)
        return 0;
    for (const char *p = name + 8; *p;) { /* each segment: not empty, not . or .. */
        const char *q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if ((n == 0 && q) || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (p[i] == '\\' || (unsigned char)p[i] < 0x20)
                return 0;
        if (!q)
            break;
        p = q + 1;
    }
    return 1;
}

/* mkdir -p of the folders of rel (a checked entry name) under root. */
static int make_parents(const char *root, const char *rel)
{
    char path[4096];
    if (sh__bk_join(path, sizeof(path), root, rel))
        return SH_ETOOBIG;
    size_t skip = strlen(root) + 1;
    for (char *p = path + skip; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        int rc = sh__bk_mkdir(path);
        *p = '/';
        if (rc)
            return rc;
    }
    return 0;
}

static int extract_one(zip_t *za, zip_uint64_t i, const char *root, const char *name, char *err,
                       size_t errlen)
{
    char path[4096], buf[65536];
    int rc = make_parents(root, name);
    if (rc == 0 && sh__bk_join(path, sizeof(path), root, name))
        rc = SH_ETOOBIG;
    if (rc)
        return rc;
    zip_file_t *zf = zip_fopen_index(za, i, 0);
    if (!zf) {
        sh__bk_fail(err, errlen, "cannot read %s in the archive: %s", name, zip_strerror(za));
        return SH_EINVAL;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = errno == EEXIST ? SH_EINVAL : -errno;
        sh__bk_fail(err, errlen, "cannot extract %s: %s", name,
                    errno == EEXIST ? "the archive holds it twice" : strerror(errno));
        zip_fclose(zf);
        return rc;
    }
    zip_int64_t got;
    while (rc == 0 && (got = zip_fread(zf, buf, sizeof(buf))) != 0) {
        if (got < 0) {
            sh__bk_fail(err, errlen, "the archive's %s is damaged", name);
            rc = SH_EINVAL;
        } else if (write(fd, buf, (size_t)got) != (ssize_t)got) {
            rc = -errno;
            sh__bk_fail(err, errlen, "cannot write %s: %s", path, strerror(errno));
        }
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    close(fd);
    zip_fclose(zf);
    return rc;
}

/* integrity_check of a staged database; with tables, also stagehand's two. */
static int check_db(const char *path, int tables, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ok = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        ok = v && strcmp(v, "ok") == 0;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (ok && tables) {
        ok = sqlite3_prepare_v2(db,
                                "SELECT count(*) FROM sqlite_master WHERE type='table' AND "
                                "name IN ('_migrations','_collections')",
                                -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 2;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    if (!ok)
        sh__bk_fail(err, errlen, "the archive's %s is not a valid stagehand database",
                    strrchr(path, '/') + 1);
    return ok ? 0 : SH_EINVAL;
}

int sh_backup_restore_prepare(const char *dir, const char *key, char *err, size_t errlen)
{
    char path[4096], root[4096], db[4096];
    if (!sh_backup_key_valid(key)) {
        sh__bk_fail(err, errlen, "invalid backup key (a file name ending in .zip)");
        return SH_EINVAL;
    }
    if (sh_backup_path(dir, key, path, sizeof(path)) ||
        snprintf(root, sizeof(root), "%s" STAGING, dir) >= (int)sizeof(root))
        return SH_ETOOBIG;
    if (!sh__bk_exists(path))
        return SH_ENOTFOUND;
    int rc = sh__bk_rmrf(root);
    if (rc == 0)
        rc = sh__bk_mkdir(root);
    if (rc) {
        sh__bk_fail(err, errlen, "cannot prepare %s: %s", root, strerror(-rc));
        return rc;
    }
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!za) {
        sh__bk_fail(err, errlen, "%s is not a valid ZIP archive (libzip error %d)", key, zerr);
        rc = SH_EINVAL;
        goto fail;
    }
    int has_data = 0, has_aux = 0;
    zip_int64_t n = zip_get_num_entries(za, 0);
    for (zip_int64_t i = 0; rc == 0 && i < n; i++) {
        const char *name = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        size_t len = name ? strlen(name) : 0;
        if (len && name[len - 1] == '/') { /* a folder entry: created as files need it */
            char probe[4096];
            snprintf(probe, sizeof(probe), "%sx", name);
            if (!entry_ok(probe)) {
                sh__bk_fail(err, errlen, "the archive holds an unexpected entry");
                rc = SH_EINVAL;
            }
            continue;
        }
        if (!name || !entry_ok(name)) {
            sh__bk_fail(err, errlen, "the archive holds an unexpected entry");
            rc = SH_EINVAL;
            break;
        }
        has_data |= strcmp(name, "data.db") == 0;
        has_aux |= strcmp(name, "auxiliary.db") == 0;
        rc = extract_one(za, (zip_uint64_t)i, root, name, err, errlen);
    }
    zip_discard(za);
    if (rc)
        goto fail;
    if (!has_data) {
        sh__bk_fail(err, errlen, "the archive holds no data.db");
        rc = SH_EINVAL;
        goto fail;
    }
    if (sh__bk_join(db, sizeof(db), root, "data.db") == 0)
        rc = check_db(db, 1, err, errlen);
    if (rc == 0 && has_aux && sh__bk_join(db, sizeof(db), root, "auxiliary.db") == 0)
        rc = check_db(db, 0, err, errlen);
    if (rc)
        goto fail;
    (void)sh__bk_fsync_path(root);
    return 0;
fail:
    (void)sh__bk_rmrf(root);
    return rc;
}

void sh_backup_restore_abort(const char *dir)
{
    char root[4096];
    if (snprintf(root, sizeof(root), "%s" STAGING, dir) < (int)sizeof(root))
        (void)sh__bk_rmrf(root);
}

/* What the swap moves: the current name goes to .restore-old/, then the
 * staged one (when `staged`) takes its place. */
static const struct {
    const char *name;
    int staged;
} items[] = {
    {"data.db", 1},          {"data.db-wal", 0},      {"data.db-shm", 0}, {"auxiliary.db", 1},
    {"auxiliary.db-wal", 0}, {"auxiliary.db-shm", 0}, {"storage", 1},
};

#define NITEMS (sizeof(items) / sizeof(items[0]))

struct move {
    char from[4096], to[4096];
};

int sh_backup_restore_swap(const char *dir, char *err, size_t errlen)
{
    char root[4096], old[4096];
    if (snprintf(root, sizeof(root), "%s" STAGING, dir) >= (int)sizeof(root) ||
        snprintf(old, sizeof(old), "%s" OLD, dir) >= (int)sizeof(old))
        return SH_ETOOBIG;
    char probe[4096];
    if (sh__bk_join(probe, sizeof(probe), root, "data.db") || !sh__bk_exists(probe)) {
        sh__bk_fail(err, errlen, "no prepared restore in %s", root);
        return SH_EINVAL;
    }
    int rc = sh__bk_rmrf(old);
    if (rc == 0)
        rc = sh__bk_mkdir(old);
    if (rc) {
        sh__bk_fail(err, errlen, "cannot prepare %s: %s", old, strerror(-rc));
        return rc;
    }
    struct move *done = sh_calloc(2 * NITEMS, sizeof(*done));
    size_t ndone = 0;
    for (size_t i = 0; rc == 0 && i < NITEMS; i++) {
        char cur[4096], aside[4096], staged[4096];
        if (sh__bk_join(cur, sizeof(cur), dir, items[i].name) ||
            sh__bk_join(aside, sizeof(aside), old, items[i].name) ||
            sh__bk_join(staged, sizeof(staged), root, items[i].name)) {
            rc = SH_ETOOBIG;
            break;
        }
        if (sh__bk_exists(cur)) {
            if (rename(cur, aside) != 0) {
                rc = -errno;
                sh__bk_fail(err, errlen, "cannot move %s aside: %s", cur, strerror(errno));
                break;
            }
            memcpy(done[ndone].from, cur, sizeof(cur));
            memcpy(done[ndone++].to, aside, sizeof(aside));
        }
        if (items[i].staged && sh__bk_exists(staged)) {
            if (rename(staged, cur) != 0) {
                rc = -errno;
                sh__bk_fail(err, errlen, "cannot move %s in: %s", staged, strerror(errno));
                break;
            }
            memcpy(done[ndone].from, staged, sizeof(staged));
            memcpy(done[ndone++].to, cur, sizeof(cur));
        }
    }
    if (rc) {
        while (ndone--) /* newest first: the old data goes back where it was */
            if (rename(done[ndone].to, done[ndone].from) != 0)
                sh_log_error("backup", "cannot undo the move of %s: %s", done[ndone].from,
                             strerror(errno));
    }
    free(done);
    (void)sh__bk_fsync_path(dir);
    if (rc)
        return rc;
    (void)sh__bk_rmrf(old);
    (void)sh__bk_rmrf(root);
    sh_log_info("backup", "restore swapped into %s", dir);
    return 0;
}
