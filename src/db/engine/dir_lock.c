/*
 * The data directory's lock: one server per directory. `serve` holds an
 * exclusive flock(2) on <dir>/.lock for as long as it runs and writes its
 * pid into the file, so a second server on the same directory is refused
 * and can name the holder. The kernel drops the lock when the holder exits,
 * however it exits (SIGKILL included), so a stale file never blocks a start:
 * only a live holder does.
 *
 * A group of instances (each with --redis, sharing what a single server
 * keeps in its own memory) holds the lock shared instead: any number of
 * them together, and none beside a server that holds it exclusively (one
 * without Redis), nor it beside them. The pid in the file is the last
 * member's.
 *
 * The command-line tools do not take this lock: they are documented to work
 * while a server runs, and they need nothing more than SQLite's own write
 * lock, which serialises their single transaction with the server's writer;
 * the server notices their change through the schema version and the token
 * epoch. Taking even a shared lock would make a server fail to start while
 * an import runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "engine_int.h"

static long read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *end;
    long pid = strtol(buf, &end, 10);
    return pid > 0 && (*end == '\n' || *end == 0) ? pid : 0;
}

static int lock_dir(const char *dir, int how, int *fd_out, long *holder)
{
    *fd_out = -1;
    if (holder)
        *holder = 0;
    size_t n = strlen(dir) + sizeof("/.lock");
    char *path = sh_malloc(n);
    snprintf(path, n, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        sh_log_error(SH_DB_MOD, "cannot open %s: %s", path, strerror(err));
        free(path);
        return -err;
    }
    if (flock(fd, how | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            if (holder)
                *holder = read_pid(fd);
            err = 0;
        } else {
            sh_log_error(SH_DB_MOD, "cannot lock %s: %s", path, strerror(err));
        }
        close(fd);
        free(path);
        return err ? -err : SH_EBUSY;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        sh_log_warn(SH_DB_MOD, "cannot write the pid into %s: %s", path, strerror(errno));
    free(path);
    *fd_out = fd;
    return 0;
}

int sh_db_dir_lock(const char *dir, int *fd_out, long *holder)
{
    return lock_dir(dir, LOCK_EX, fd_out, holder);
}

int sh_db_dir_lock_group(const char *dir, int *fd_out, long *holder)
{
    return lock_dir(dir, LOCK_SH, fd_out, holder);
}

void sh_db_dir_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the lock; the file stays (removing it would race a new holder) */
}
