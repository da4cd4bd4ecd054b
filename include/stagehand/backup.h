/*
 * stagehand backup: backups of a data directory as ZIP archives in
 * <dir>/backups/, and their restore. A backup holds a consistent snapshot of
 * data.db (SQLite's online backup API on a connection of its own, copied in
 * one step: one read transaction, which in WAL mode never blocks the writer),
 * the same of auxiliary.db when present, and the files under storage/ when
 * present. It is written under a temporary name (".tmp-<key>"), fsynced and
 * renamed, so a crash never leaves a half archive under a real key.
 *
 * Restore is two steps: sh_backup_restore_prepare extracts an archive into
 * <dir>/.restore-staging/ and validates it (a data.db whose integrity_check
 * says "ok" and that has stagehand's tables) while the server still serves;
 * then, with the database closed, sh_backup_restore_swap moves the current
 * data.db, auxiliary.db and storage/ aside (<dir>/.restore-old/) and the
 * staged ones in, by rename, undoing every rename if one fails.
 *
 * Every function here blocks on disk I/O: call it on a thread of its own
 * (the API's backup thread) or from the command line, never on the loop or
 * the writer thread. They are safe to call from any thread, but not twice at
 * once on the same directory (the caller serialises them).
 */
#ifndef STAGEHAND_BACKUP_H
#define STAGEHAND_BACKUP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Default pace of a backup beside a running server, bytes/s (--backup-rate). */
#define SH_BACKUP_RATE_DEFAULT (32u << 20)

/* Longest key, in bytes (PocketBase's limit for a backup name). */
#define SH_BACKUP_KEY_MAX 150

/* 1 if key may name a backup: 5..SH_BACKUP_KEY_MAX bytes of [A-Za-z0-9_@.-],
 * not starting with '.', without "..", ending in ".zip"; so never a path. */
int sh_backup_key_valid(const char *key);

/* 1 if name is accepted for a new backup (PocketBase's ^[a-z0-9_-]+\.zip$,
 * at most SH_BACKUP_KEY_MAX bytes). */
int sh_backup_name_valid(const char *name);

/* Writes "<prefix>pb_backup_YYYYMMDDHHMMSS.zip" (UTC of unix time now) into
 * out; prefix is "" for a manual backup, "@auto_" for a scheduled one. */
void sh_backup_key_default(char *out, size_t outlen, const char *prefix, int64_t now);

/* <dir>/backups/<key> into out. 0, or SH_ETOOBIG when it does not fit. */
int sh_backup_path(const char *dir, const char *key, char *out, size_t outlen);

/*
 * Makes the backup <dir>/backups/<key> (the folder is created 0700 if
 * missing). nice_inc (0..19) is added to the calling thread's nice value
 * first (Linux, per thread), so that the copy and the compression give way
 * to the loop and the writer on a shared CPU; rate (bytes per second, 0:
 * unlimited) paces what the snapshot copies and the archive reads, so that
 * the disk stays mostly the writer's (each of its commits waits for an
 * fsync). cancel (may be NULL) set nonzero by another thread stops the
 * backup at its next piece (-ECANCELED; nothing is left behind). Returns 0,
 * SH_ECONFLICT if
 * the key exists, SH_EINVAL for a bad key, or a negative code with a
 * one-line reason in err (also logged).
 */
int sh_backup_create(const char *dir, const char *key, int nice_inc, uint64_t rate,
                     atomic_int *cancel, char *err, size_t errlen);

struct sh_backup_info {
    char key[SH_BACKUP_KEY_MAX + 1];
    uint64_t size;
    int64_t modified_ms; /* unix milliseconds */
};

/* The backups of dir, newest first (files with a valid key only; the
 * temporary ones are not listed). *out is malloc'ed (free it), *n its count;
 * no backups folder is an empty list. 0 or -errno. */
int sh_backup_list(const char *dir, struct sh_backup_info **out, size_t *n);

/* Removes the backup key. 0, SH_EINVAL (bad key), SH_ENOTFOUND or -errno. */
int sh_backup_delete(const char *dir, const char *key);

/* Keeps the `keep` newest backups whose key starts with prefix and removes
 * the others. Returns how many were removed, or -errno. */
int sh_backup_prune(const char *dir, const char *prefix, unsigned keep);

/*
 * Extracts the backup key into <dir>/.restore-staging/ (removing a previous
 * staging first) and validates it: entries are plain relative paths (no
 * "..", no absolute path, nothing but data.db, auxiliary.db and storage/...),
 * data.db is present, passes PRAGMA integrity_check and has stagehand's
 * _migrations and _collections tables; auxiliary.db, when present, passes
 * integrity_check too. 0, SH_ENOTFOUND (no such backup), SH_EINVAL (the
 * archive is not a valid backup: err says why), or another negative code.
 * On failure nothing is left staged.
 */
int sh_backup_restore_prepare(const char *dir, const char *key, char *err, size_t errlen);

/*
 * With nothing holding data.db open (the server closed its database, or no
 * server runs), swaps the staged backup in: current data.db (and its -wal
 * and -shm), auxiliary.db and storage/ go to <dir>/.restore-old/, the staged
 * ones take their place by rename, the directory is fsynced, and
 * .restore-old/ is removed. If a rename fails, the ones done are undone, so
 * the old data stays in place. 0 or a negative code (err says why).
 */
int sh_backup_restore_swap(const char *dir, char *err, size_t errlen);

/* Removes the temporary files of backups that did not finish (a crash)
 * last modified more than older_than_s seconds ago. How many, or -errno. */
int sh_backup_sweep_tmp(const char *dir, int64_t older_than_s);

/* Removes <dir>/.restore-staging/ (a prepared restore not carried out). */
void sh_backup_restore_abort(const char *dir);

#endif
