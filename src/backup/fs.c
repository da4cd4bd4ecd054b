/*
 * The file-system helpers of the backup module (backup_int.h): paths,
 * folders, trees removed without following symlinks, fsync by path. Blocking,
 * like everything in this module.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_int.h"
#include "stagehand/core.h"

int sh__bk_join(char *out, size_t outlen, const char *a, const char *b)
{
    int n = snprintf(out, outlen, "%s/%s", a, b);
    return n < 0 || (size_t)n >= outlen ? SH_ETOOBIG : 0;
}

int sh__bk_mkdir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

int sh__bk_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int sh__bk_rmrf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? 0 : -errno;
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    int rc = 0;
    struct dirent *e;
    char sub[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (sh__bk_join(sub, sizeof(sub), path, e->d_name) != 0) {
            rc = SH_ETOOBIG;
            continue;
        }
        int r = sh__bk_rmrf(sub);
        if (r && !rc)
            rc = r;
    }
    closedir(d);
    if (rmdir(path) != 0 && !rc)
        rc = -errno;
    return rc;
}

int sh__bk_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

void sh__bk_fail(char *err, size_t errlen, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (err && errlen)
        snprintf(err, errlen, "%s", line);
    sh_log_error("backup", "%s", line);
}
