/*
 * Making backups (backup.h): the snapshot of each SQLite file through the
 * online backup API, the ZIP written by libzip under a temporary name,
 * fsynced and renamed; and the keys, the listing, deletion and pruning of
 * <dir>/backups/.
 *
 * Why one sqlite3_backup_step(-1): a backup copied in several steps starts
 * again whenever another connection writes between steps, so under a steady
 * write load it may never finish. One step holds one read transaction for
 * the copy; in WAL mode that never blocks the writer (its commits go on to
 * the WAL; only the checkpoint waits, so the WAL grows for the duration).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include <sqlite3.h>

#include "backup_int.h"
#include "stagehand/backup.h"
#include "stagehand/civil.h"
#include "stagehand/core.h"

#define BACKUPS_DIR "backups"
#define TMP_PREFIX  ".tmp-"
#define MAX_FILES   100000 /* storage/ files one archive takes */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int key_char(char c, int upper_ok)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           (upper_ok && ((c >= 'A' && c <= 'Z') || c == '@' || c == '.'));
}

int sh_backup_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n < 5 || n > SH_BACKUP_KEY_MAX || key[0] == '.' || strstr(key, "..") ||
        strcmp(key + n - 4, ".zip") != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!key_char(key[i], 1))
            return 0;
    return 1;
}

int sh_backup_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 5 || n > SH_BACKUP_KEY_MAX || strcmp(name + n - 4, ".zip") != 0)
        return 0;
    for (size_t i = 0; i < n - 4; i++)
        if (!key_char(name[i], 0))
            return 0;
    return 1;
}

void sh_backup_key_default(char *out, size_t outlen, const char *prefix, int64_t now)
{
    int64_t days = now >= 0 ? now / 86400 : (now - 86399) / 86400;
    int64_t secs = now - days * 86400, y;
    unsigned m, d;
    sh_civil_from_days(days, &y, &m, &d);
    snprintf(out, outlen, "%spb_backup_%04lld%02u%02u%02lld%02lld%02lld.zip", prefix, (long long)y,
             m, d, (long long)(secs / 3600), (long long)(secs / 60 % 60), (long long)(secs % 60));
}

int sh_backup_path(const char *dir, const char *key, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/" BACKUPS_DIR "/%s", dir, key);
    return n < 0 || (size_t)n >= outlen ? SH_ETOOBIG : 0;
}

/* The pace of one backup: bytes read so far against the rate (0: none). */
struct pace {
    uint64_t rate, bytes;
    int64_t start_ms;
    atomic_int *cancel;
};

static int cancelled(const struct pace *p)
{
    return p->cancel && atomic_load(p->cancel);
}

/* Sleeps until bytes more fit the rate: the disk's bandwidth stays mostly
 * the writer's, whose every commit waits for an fsync. */
static void pace_add(struct pace *p, uint64_t bytes)
{
    p->bytes += bytes;
    if (!p->rate)
        return;
    int64_t due = p->start_ms + (int64_t)(p->bytes * 1000 / p->rate), now = mono_ms();
    if (due > now) {
        struct timespec ts = {(time_t)((due - now) / 1000), (long)((due - now) % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

#define SNAPSHOT_PAGES 64 /* pages per backup step between pauses */

/* Copies the database at src into a new file dst: a consistent snapshot.
 * The source connection holds one read transaction over every step, so the
 * steps copy one version (no restart when the server commits meanwhile) and,
 * in WAL mode, never block the writer; between steps the copy pauses to keep
 * to the pace. */
static int snapshot(const char *src, const char *dst, struct pace *pc, char *err, size_t errlen)
{
    sqlite3 *s = NULL, *d = NULL;
    int rc = sqlite3_open_v2(src, &s, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_open_v2(dst, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(s, 5000);
        rc = sqlite3_exec(s, "BEGIN; SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) {
        (void)sqlite3_exec(d, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL, NULL);
        sqlite3_backup *b = sqlite3_backup_init(d, "main", s, "main");
        if (!b) {
            rc = sqlite3_errcode(d);
        } else {
            uint64_t page = 4096;
            sqlite3_stmt *ps = NULL;
            if (sqlite3_prepare_v2(s, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK &&
                sqlite3_step(ps) == SQLITE_ROW)
                page = (uint64_t)sqlite3_column_int64(ps, 0);
            sqlite3_finalize(ps);
            do {
                rc = sqlite3_backup_step(b, SNAPSHOT_PAGES);
                if (rc == SQLITE_OK || rc == SQLITE_DONE)
                    pace_add(pc, SNAPSHOT_PAGES * page);
                if (rc == SQLITE_OK && cancelled(pc))
                    rc = SQLITE_INTERRUPT;
            } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
            int frc = sqlite3_backup_finish(b);
            rc = rc == SQLITE_DONE ? frc : rc;
        }
        (void)sqlite3_exec(s, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK)
        sh__bk_fail(err, errlen, "cannot snapshot %s: %s", src, sqlite3_errstr(rc));
    sqlite3_close(d);
    sqlite3_close(s);
    return rc == SQLITE_OK ? 0 : SH_EINTERNAL;
}

struct zctx {
    zip_t *za;
    unsigned files;
    struct pace *pace;
    char *err;
    size_t errlen;
};

/* A file read for libzip at the backup's pace (a zip_source_function). */
struct paced_file {
    char *path;
    FILE *f;
    struct pace *pace;
    struct stat st;
    zip_error_t error;
};

static zip_int64_t paced_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct paced_file *pf = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        pf->f = fopen(pf->path, "rbe");
        if (!pf->f) {
            zip_error_set(&pf->error, ZIP_ER_OPEN, errno);
            return -1;
        }
        return 0;
    case ZIP_SOURCE_READ: {
        if (cancelled(pf->pace)) {
            zip_error_set(&pf->error, ZIP_ER_CANCELLED, 0);
            return -1;
        }
        size_t n = fread(data, 1, len > 262144 ? 262144 : (size_t)len, pf->f);
        if (n == 0 && ferror(pf->f)) {
            zip_error_set(&pf->error, ZIP_ER_READ, errno);
            return -1;
        }
        pace_add(pf->pace, n);
        return (zip_int64_t)n;
    }
    case ZIP_SOURCE_CLOSE:
        if (pf->f)
            fclose(pf->f);
        pf->f = NULL;
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *zs = data;
        zip_stat_init(zs);
        zs->size = (zip_uint64_t)pf->st.st_size;
        zs->mtime = pf->st.st_mtime;
        zs->valid |= ZIP_STAT_SIZE | ZIP_STAT_MTIME;
        return sizeof(*zs);
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&pf->error, data, len);
    case ZIP_SOURCE_FREE:
        if (pf->f)
            fclose(pf->f);
        zip_error_fini(&pf->error);
        free(pf->path);
        free(pf);
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                              -1);
    default:
        zip_error_set(&pf->error, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
}

static zip_source_t *paced_source(struct zctx *z, const char *path)
{
    struct paced_file *pf = sh_calloc(1, sizeof(*pf));
    if (stat(path, &pf->st) != 0) {
        free(pf);
        return NULL;
    }
    pf->path = sh_strdup(path);
    pf->pace = z->pace;
    zip_error_init(&pf->error);
    zip_source_t *src = zip_source_function(z->za, paced_cb, pf);
    if (!src) {
        zip_error_fini(&pf->error);
        free(pf->path);
        free(pf);
    }
    return src;
}

static int add_file(struct zctx *z, const char *path, const char *name, int level)
{
    zip_source_t *src = paced_source(z, path);
    zip_int64_t idx = src ? zip_file_add(z->za, name, src, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0) {
        if (src)
            zip_source_free(src);
        sh__bk_fail(z->err, z->errlen, "cannot add %s: %s", name, zip_strerror(z->za));
        return SH_EINTERNAL;
    }
    (void)zip_set_file_compression(z->za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, (zip_uint32_t)level);
    return 0;
}

/* Adds the regular files under path as name/... (symlinks and others are
 * skipped: a backup never follows a link out of the data directory). */
static int add_tree(struct zctx *z, const char *path, const char *name)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int rc = 0;
    struct dirent *e;
    char sub[4096], subname[4096];
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (sh__bk_join(sub, sizeof(sub), path, e->d_name) ||
            sh__bk_join(subname, sizeof(subname), name, e->d_name)) {
            rc = SH_ETOOBIG;
            break;
        }
        struct stat st;
        if (lstat(sub, &st) != 0)
            continue; /* removed meanwhile */
        if (S_ISDIR(st.st_mode)) {
            rc = add_tree(z, sub, subname);
        } else if (S_ISREG(st.st_mode)) {
            if (++z->files > MAX_FILES) {
                sh__bk_fail(z->err, z->errlen, "more than %d files under storage/", MAX_FILES);
                rc = SH_ETOOBIG;
            } else {
                rc = add_file(z, sub, subname, 1);
            }
        }
    }
    closedir(d);
    return rc;
}

static void lower_priority(int nice_inc)
{
#ifdef __linux__
    if (nice_inc > 0) {
        pid_t tid = (pid_t)syscall(SYS_gettid);
        errno = 0;
        int cur = getpriority(PRIO_PROCESS, (id_t)tid);
        if (errno == 0)
            (void)setpriority(PRIO_PROCESS, (id_t)tid, cur + (nice_inc > 19 ? 19 : nice_inc));
    }
#else
    (void)nice_inc;
#endif
}

int sh_backup_create(const char *dir, const char *key, int nice_inc, uint64_t rate,
                     atomic_int *cancel, char *err, size_t errlen)
{
    char bdir[4096], final[4096], tmp[4096], snap_data[4096], snap_aux[4096], src[4096];
    if (!sh_backup_key_valid(key)) {
        sh__bk_fail(err, errlen, "invalid backup key");
        return SH_EINVAL;
    }
    if (sh__bk_join(bdir, sizeof(bdir), dir, BACKUPS_DIR) ||
        sh_backup_path(dir, key, final, sizeof(final)) ||
        snprintf(tmp, sizeof(tmp), "%s/" TMP_PREFIX "%s", bdir, key) >= (int)sizeof(tmp) ||
        snprintf(snap_data, sizeof(snap_data), "%s.data.db", tmp) >= (int)sizeof(snap_data) ||
        snprintf(snap_aux, sizeof(snap_aux), "%s.auxiliary.db", tmp) >= (int)sizeof(snap_aux)) {
        sh__bk_fail(err, errlen, "the data directory's path is too long");
        return SH_ETOOBIG;
    }
    int rc = sh__bk_mkdir(bdir);
    if (rc) {
        sh__bk_fail(err, errlen, "cannot create %s: %s", bdir, strerror(-rc));
        return rc;
    }
    if (sh__bk_exists(final))
        return SH_ECONFLICT;
    lower_priority(nice_inc);
    int64_t t0 = mono_ms();
    struct pace pc = {rate, 0, t0, cancel};
    (void)unlink(tmp);
    (void)unlink(snap_data);
    (void)unlink(snap_aux);
    zip_t *za = NULL;
    rc = sh__bk_join(src, sizeof(src), dir, "data.db");
    if (rc == 0)
        rc = snapshot(src, snap_data, &pc, err, errlen);
    int has_aux = 0;
    if (rc == 0 && sh__bk_join(src, sizeof(src), dir, "auxiliary.db") == 0 && sh__bk_exists(src)) {
        rc = snapshot(src, snap_aux, &pc, err, errlen);
        has_aux = 1;
    }
    int64_t t_snap = mono_ms();
    if (rc == 0) {
        int zerr = 0;
        za = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
        if (!za) {
            sh__bk_fail(err, errlen, "cannot create %s (libzip error %d)", tmp, zerr);
            rc = SH_EINTERNAL;
        }
    }
    struct zctx z = {za, 0, &pc, err, errlen};
    if (rc == 0)
        rc = add_file(&z, snap_data, "data.db", 1);
    if (rc == 0 && has_aux)
        rc = add_file(&z, snap_aux, "auxiliary.db", 1);
    if (rc == 0 && sh__bk_join(src, sizeof(src), dir, "storage") == 0)
        rc = add_tree(&z, src, "storage");
    if (za) {
        if (rc == 0 && zip_close(za) != 0) {
            sh__bk_fail(err, errlen, "cannot write %s: %s", tmp, zip_strerror(za));
            rc = SH_EINTERNAL;
        }
        if (rc != 0)
            zip_discard(za);
    }
    (void)unlink(snap_data);
    (void)unlink(snap_aux);
    if (rc == 0 && (rc = sh__bk_fsync_path(tmp)) != 0)
        sh__bk_fail(err, errlen, "cannot fsync %s: %s", tmp, strerror(-rc));
    if (rc == 0 && rename(tmp, final) != 0) {
        rc = -errno;
        sh__bk_fail(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
    }
    if (rc == 0)
        (void)sh__bk_fsync_path(bdir);
    if (rc != 0) {
        (void)unlink(tmp);
        if (cancelled(&pc)) {
            sh_log_warn("backup", "backup %s cancelled (the server stops)", key);
            return -ECANCELED;
        }
        return rc;
    }
    sh_log_info("backup", "backup %s made: snapshot %lld ms, archive %lld ms", key,
                (long long)(t_snap - t0), (long long)(mono_ms() - t_snap));
    return 0;
}

static int newest_first(const void *a, const void *b)
{
    const struct sh_backup_info *x = a, *y = b;
    if (x->modified_ms != y->modified_ms)
        return x->modified_ms < y->modified_ms ? 1 : -1;
    return strcmp(y->key, x->key);
}

int sh_backup_list(const char *dir, struct sh_backup_info **out, size_t *n)
{
    char bdir[4096], path[4096];
    *out = NULL;
    *n = 0;
    if (sh__bk_join(bdir, sizeof(bdir), dir, BACKUPS_DIR))
        return SH_ETOOBIG;
    DIR *d = opendir(bdir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (!sh_backup_key_valid(e->d_name) || sh__bk_join(path, sizeof(path), bdir, e->d_name) ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = sh_realloc(*out, cap * sizeof(**out));
        }
        struct sh_backup_info *bi = &(*out)[(*n)++];
        size_t kl = strlen(e->d_name); /* <= SH_BACKUP_KEY_MAX: the key is valid */
        memcpy(bi->key, e->d_name, kl + 1);
        bi->size = (uint64_t)st.st_size;
        bi->modified_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof(**out), newest_first);
    return 0;
}

int sh_backup_delete(const char *dir, const char *key)
{
    char path[4096];
    if (!sh_backup_key_valid(key))
        return SH_EINVAL;
    if (sh_backup_path(dir, key, path, sizeof(path)))
        return SH_ETOOBIG;
    if (unlink(path) != 0)
        return errno == ENOENT ? SH_ENOTFOUND : -errno;
    return 0;
}

int sh_backup_prune(const char *dir, const char *prefix, unsigned keep)
{
    struct sh_backup_info *list;
    size_t n;
    int rc = sh_backup_list(dir, &list, &n);
    if (rc)
        return rc;
    unsigned kept = 0;
    int removed = 0;
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(list[i].key, prefix, plen) != 0)
            continue;
        if (kept < keep) {
            kept++;
            continue;
        }
        if (sh_backup_delete(dir, list[i].key) == 0)
            removed++;
    }
    free(list);
    return removed;
}

int sh_backup_sweep_tmp(const char *dir, int64_t older_than_s)
{
    char bdir[4096], path[4096];
    if (sh__bk_join(bdir, sizeof(bdir), dir, BACKUPS_DIR))
        return SH_ETOOBIG;
    DIR *d = opendir(bdir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int removed = 0;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0 ||
            sh__bk_join(path, sizeof(path), bdir, e->d_name) || lstat(path, &st) != 0 ||
            !S_ISREG(st.st_mode) || now - st.st_mtime < older_than_s)
            continue;
        if (unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
