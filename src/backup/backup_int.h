/*
 * Internals of the backup module: the file-system helpers its archive and
 * restore halves share (fs.c). Not a public interface.
 */
#ifndef STAGEHAND_BACKUP_INT_H
#define STAGEHAND_BACKUP_INT_H

#include <stddef.h>

/* snprintf into out; 0, or SH_ETOOBIG when it does not fit. */
int sh__bk_join(char *out, size_t outlen, const char *a, const char *b);
/* mkdir 0700 unless it exists. 0 or -errno. */
int sh__bk_mkdir(const char *path);
/* Removes a tree without following symlinks; a missing path is 0. 0 or -errno. */
int sh__bk_rmrf(const char *path);
/* fsync of a file or a folder by path. 0 or -errno. */
int sh__bk_fsync_path(const char *path);
/* 1 if path exists (lstat), else 0. */
int sh__bk_exists(const char *path);
/* One-line message into err (may be NULL) and the log at error level. */
void sh__bk_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
