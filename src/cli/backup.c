/*
 * `stagehand backup create [NAME] | list | restore KEY [--dir DIR]`: backups
 * of a data directory from the command line (stagehand/backup.h).
 * create and list work whether or not a server runs on the directory (the
 * snapshot is a read transaction of its own, which never blocks a running
 * server's writer); restore needs the directory to itself: it takes the
 * serving lock (.lock), so it refuses while a server runs (restore through
 * POST /api/backups/{key}/restore then), validates the archive, and swaps it
 * in; a failed validation or swap leaves the old data in place.
 */
#include "stagehand/backup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "stagehand/cli.h"
#include "stagehand/db.h"

void sh_cli_backup_usage(FILE *f)
{
    fputs("usage:\n"
          "  stagehand backup create [NAME.zip] [--dir DIR]\n"
          "      write DIR/backups/NAME.zip (default pb_backup_<UTC time>.zip); a running\n"
          "      server keeps serving and writing meanwhile\n"
          "  stagehand backup list [--dir DIR]\n"
          "      key, size in bytes and modification time of each backup, newest first\n"
          "  stagehand backup restore KEY [--dir DIR]\n"
          "      replace the data of DIR with the backup KEY (no server may run on DIR)\n",
          f);
}

static int create(const char *dir, const char *name)
{
    char key[SH_BACKUP_KEY_MAX + 1], err[256] = "";
    if (name) {
        if (!sh_backup_name_valid(name)) {
            fprintf(stderr, "stagehand: invalid backup name %s (want [a-z0-9_-]+.zip)\n", name);
            return 2;
        }
        snprintf(key, sizeof(key), "%s", name);
    } else {
        sh_backup_key_default(key, sizeof(key), "", (int64_t)time(NULL));
    }
    /* Beside a running server, at the server's default pace (its writes keep
     * the disk); alone, as fast as the disk goes. */
    long holder = 0;
    int fd = -1;
    uint64_t rate = 0;
    int lrc = sh_db_dir_lock(dir, &fd, &holder);
    if (lrc == SH_EBUSY)
        rate = SH_BACKUP_RATE_DEFAULT;
    else if (lrc == 0)
        sh_db_dir_unlock(fd);
    int rc = sh_backup_create(dir, key, 0, rate, NULL, err, sizeof(err));
    if (rc == SH_ECONFLICT) {
        fprintf(stderr, "stagehand: the backup %s exists already\n", key);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "stagehand: backup failed: %s\n", err[0] ? err : "see the log above");
        return 1;
    }
    printf("%s\n", key);
    return 0;
}

static int list(const char *dir)
{
    struct sh_backup_info *l;
    size_t n;
    if (sh_backup_list(dir, &l, &n) != 0) {
        fprintf(stderr, "stagehand: cannot list the backups of %s\n", dir);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        time_t t = (time_t)(l[i].modified_ms / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
        printf("%s\t%llu\t%s\n", l[i].key, (unsigned long long)l[i].size, when);
    }
    free(l);
    return 0;
}

static int restore(const char *dir, const char *key)
{
    char err[256] = "";
    long holder = 0;
    int fd = -1;
    int rc = sh_db_dir_lock(dir, &fd, &holder);
    if (rc == SH_EBUSY) {
        fprintf(stderr,
                "stagehand: a server (pid %ld) serves %s; restore through its API "
                "(POST /api/backups/%s/restore) or stop it first\n",
                holder, dir, key);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "stagehand: cannot lock the data directory %s\n", dir);
        return 1;
    }
    rc = sh_backup_restore_prepare(dir, key, err, sizeof(err));
    if (rc == 0)
        rc = sh_backup_restore_swap(dir, err, sizeof(err));
    sh_db_dir_unlock(fd);
    if (rc == SH_ENOTFOUND || rc == SH_EINVAL) {
        fprintf(stderr, "stagehand: cannot restore %s: %s; nothing was changed\n", key,
                rc == SH_ENOTFOUND ? "no such backup" : err);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "stagehand: restore failed: %s; the old data stays\n", err);
        return 1;
    }
    printf("restored %s\n", key);
    return 0;
}

int sh_cli_backup(int argc, char **argv, char **envp)
{
    const char *dir = sh__cli_env_dir(envp), *arg = NULL;
    const char *sub = argc > 0 ? argv[0] : "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strncmp(argv[i], "--dir=", 6) == 0) {
            dir = argv[i] + 6;
        } else if (!arg && argv[i][0] != '-') {
            arg = argv[i];
        } else {
            fprintf(stderr, "stagehand: unexpected argument: %s\n", argv[i]);
            sh_cli_backup_usage(stderr);
            return 2;
        }
    }
    if (strcmp(sub, "create") == 0)
        return create(dir, arg);
    if (strcmp(sub, "list") == 0 && !arg)
        return list(dir);
    if (strcmp(sub, "restore") == 0 && arg)
        return restore(dir, arg);
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        sh_cli_backup_usage(stdout);
        return 0;
    }
    sh_cli_backup_usage(stderr);
    return 2;
}
