/*
 * Internals of the operations handlers (api/ops/): the backups state that
 * backups.c (routes, the backup thread) and backup_download.c share. Not a
 * public interface.
 */
#ifndef STAGEHAND_OPS_INT_H
#define STAGEHAND_OPS_INT_H

#include <stdint.h>

#include <uv.h>

#include "stagehand/backup.h"
#include "stagehand/http.h"

struct sh_api_auth;

enum {
    SH__BK_CREATE = 1, /* POST /api/backups */
    SH__BK_AUTO,       /* the backups.cron job: create "@auto_...", then prune */
    SH__BK_RESTORE,    /* POST /api/backups/{key}/restore: extract and validate */
};

struct sh_api_backups {
    uv_loop_t *loop;
    const char *dir; /* the data directory (borrowed from the config) */
    struct sh_api_auth *auth;
    void (*on_restore)(void *arg); /* a validated restore asks the server to swap */
    void *arg;
    uv_async_t async; /* the thread's end */
    uv_thread_t thread;
    int nice;          /* added to the backup thread's nice value */
    uint64_t rate;     /* --backup-rate: bytes/s the backup reads; 0 = unlimited */
    unsigned max_keep; /* scheduled backups kept (cronMaxKeep); 0 = all */
    int running;       /* a thread runs (one operation at a time) */
    int restoring;     /* a restore was validated: the server is stopping */
    int stopped;
    int long_read;     /* sh_db_long_read_begin is in force for the running backup */
    atomic_int cancel; /* set by sh_api_backups_stop: a running backup ends soon */
    /* the operation; written by the thread, read by the loop after the join */
    int kind;
    unsigned keep; /* max_keep when the operation started (the thread reads this copy) */
    char key[SH_BACKUP_KEY_MAX + 1];
    int rc;
    char err[256];
    struct sh_req_watch watch;          /* the request to answer; cleared if it went */
    void (*done_cb)(void *arg, int rc); /* a scheduled run's end (crons), or NULL */
    void *done_arg;
};

/* ---- cron.c: five-field cron expressions (UTC) ---- */

struct sh__cron {
    uint64_t minute; /* bit i: minute i */
    uint32_t hour, dom;
    uint16_t month; /* bits 1..12 */
    uint8_t dow;    /* bits 0..6, Sunday 0 */
    uint8_t dom_star, dow_star;
};
/* Parses expr (five fields, or @hourly ... @yearly). 0 or -1. */
int sh__cron_parse(const char *expr, struct sh__cron *out);
/* 1 if the minute of unix_s (UTC) matches c. */
int sh__cron_match(const struct sh__cron *c, int64_t unix_s);

/* Starts operation kind on key on the backup thread, answering r (may be
 * NULL: a scheduled run) when it ends. 0, SH_EBUSY (one runs, a restore is
 * under way, or stopping), SH_EINTERNAL (no thread). Loop thread. */
int sh__ops_backup_start(struct sh_api_backups *b, int kind, const char *key, struct sh_req *r);

/* crons.c: the backup job's expression ("" = none) and cronMaxKeep, from
 * the settings (applied at once). */
struct sh_api_crons;
void sh__crons_backup_set(struct sh_api_crons *c, const char *expr, unsigned max_keep);

/* GET /api/backups/{key}?token= (backup_download.c). */
int sh__ops_backup_download(struct sh_req *r, void *ud);

#endif
