/*
 * Scheduled jobs: GET /api/crons ([{id, expression}], PocketBase's shape)
 * and POST /api/crons/{id} (runs one now: 204), superusers only. A timer
 * on the loop looks at the clock every second and starts, once per minute,
 * each job whose expression (cron.c, UTC) matches; a job that is still
 * running is skipped that minute (logged), so no job overlaps itself. Every
 * job runs off the loop:
 *  - __pbAutoBackup__ (settings backups.cron; absent while it is ""): an
 *    "@auto_pb_backup_<time>.zip" on the backup thread, then the scheduled
 *    backups past backups.cronMaxKeep are removed;
 *  - __sessionsCleanup__ (hourly): expired sessions deleted by the writer
 *    thread, at most 10 000 per run;
 *  - __backupsTmpSweep__ (hourly): temporary files of backups that a crash
 *    interrupted (older than an hour) removed on libuv's threadpool;
 *  - whatever other modules add with sh_api_crons_add (log pruning, ...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "api_int.h"
#include "auth_int.h"
#include "ops_int.h"
#include "stagehand/api.h"
#include "stagehand/config.h"

enum { JOB_BACKUP, JOB_SESSIONS, JOB_SWEEP, NBUILTIN };
#define MAX_JOBS 16

struct cron_job {
    char id[64];
    char expr[128]; /* "" = not scheduled */
    struct sh__cron cron;
    int running;
    int (*start)(void *arg); /* begins a run off the loop: 0, or a code */
    void *arg;
};

struct sh_api_crons {
    uv_loop_t *loop;
    const char *dir;
    struct sh_db *db;
    struct sh_api_backups *backups;
    uv_timer_t timer;
    int64_t last_minute;
    struct cron_job jobs[MAX_JOBS];
    unsigned njobs;
    struct sh_db_job sessions_job;
    int64_t sessions_now;
    uv_work_t sweep_work;
    int sweep_removed;
    int stopped;
};

static void set_expr(struct cron_job *j, const char *expr)
{
    if (!expr || !expr[0] || sh__cron_parse(expr, &j->cron) != 0) {
        j->expr[0] = 0;
        return;
    }
    snprintf(j->expr, sizeof(j->expr), "%s", expr);
}

/* ---- the jobs ---- */

static void backup_done(void *arg, int rc)
{
    struct sh_api_crons *c = arg;
    sh_api_crons_done(c, c->jobs[JOB_BACKUP].id);
    c->backups->done_cb = NULL;
    if (rc)
        sh_log_warn("crons", "the scheduled backup failed: %s", c->backups->err);
}

static int run_backup(void *arg)
{
    struct sh_api_crons *c = arg;
    char key[SH_BACKUP_KEY_MAX + 1];
    sh_backup_key_default(key, sizeof(key), "@auto_", (int64_t)time(NULL));
    int rc = sh__ops_backup_start(c->backups, SH__BK_AUTO, key, NULL);
    if (rc)
        return rc;
    c->backups->done_cb = backup_done;
    c->backups->done_arg = c;
    return 0;
}

static int sessions_run(sqlite3 *wdb, void *arg)
{
    struct sh_api_crons *c = arg;
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb,
                                  "DELETE FROM _sessions WHERE rowid IN (SELECT rowid FROM "
                                  "_sessions WHERE expires < ?1 LIMIT 10000)",
                                  &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, c->sessions_now);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sh_db_errcode(sqlite3_errcode(wdb));
    sh_db_writer_release(wdb, st);
    return rc;
}

static void sessions_done(struct sh_db_job *job, int rc)
{
    struct sh_api_crons *c = job->arg;
    sh_api_crons_done(c, c->jobs[JOB_SESSIONS].id);
    if (rc)
        sh_log_warn("crons", "the sessions cleanup failed (%d)", rc);
}

static int run_sessions(void *arg)
{
    struct sh_api_crons *c = arg;
    c->sessions_now = (int64_t)time(NULL) * 1000;
    c->sessions_job = (struct sh_db_job){.run = sessions_run, .done = sessions_done, .arg = c};
    return sh_db_submit(c->db, &c->sessions_job);
}

static void sweep_work(uv_work_t *w)
{
    struct sh_api_crons *c = w->data;
    c->sweep_removed = sh_backup_sweep_tmp(c->dir, 3600);
}

static void sweep_after(uv_work_t *w, int status)
{
    struct sh_api_crons *c = w->data;
    (void)status;
    sh_api_crons_done(c, c->jobs[JOB_SWEEP].id);
    if (c->sweep_removed > 0)
        sh_log_info("crons", "removed %d temporary backup files", c->sweep_removed);
}

static int run_sweep(void *arg)
{
    struct sh_api_crons *c = arg;
    c->sweep_work.data = c;
    return uv_queue_work(c->loop, &c->sweep_work, sweep_work, sweep_after) == 0 ? 0 : SH_EINTERNAL;
}

/* Starts job i unless it runs; 0, SH_EBUSY (running) or another code. */
static int run_job(struct sh_api_crons *c, int i)
{
    struct cron_job *j = &c->jobs[i];
    if (j->running || c->stopped)
        return SH_EBUSY;
    j->running = 1; /* before start: a job may end within it */
    int rc = j->start(j->arg);
    if (rc)
        j->running = 0;
    return rc;
}

static void on_tick(uv_timer_t *t)
{
    struct sh_api_crons *c = t->data;
    int64_t now = (int64_t)time(NULL), minute = now / 60;
    if (minute == c->last_minute)
        return;
    c->last_minute = minute;
    for (unsigned i = 0; i < c->njobs; i++) {
        if (!c->jobs[i].expr[0] || !sh__cron_match(&c->jobs[i].cron, now))
            continue;
        int rc = run_job(c, (int)i);
        if (rc == SH_EBUSY)
            sh_log_warn("crons", "%s is still running (or a backup is); skipped this minute",
                        c->jobs[i].id);
        else if (rc)
            sh_log_warn("crons", "%s could not start (%d)", c->jobs[i].id, rc);
    }
}

/* ---- the handlers ---- */

static int not_superuser(struct sh_req *r)
{
    if (!r->auth) {
        sh__api_error(r, 401, "The request requires superuser authorization token to be set.",
                      NULL);
        return 1;
    }
    if (!r->auth->superuser) {
        sh__api_error(r, 403, "The authorized record is not allowed to perform this action.", NULL);
        return 1;
    }
    return 0;
}

static int crons_list(struct sh_req *r, void *ud)
{
    struct sh_api_crons *c = ud;
    if (not_superuser(r))
        return SH_HANDLED;
    cJSON *arr = cJSON_CreateArray();
    for (unsigned i = 0; i < c->njobs; i++) {
        if (!c->jobs[i].expr[0])
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", c->jobs[i].id);
        cJSON_AddStringToObject(o, "expression", c->jobs[i].expr);
        cJSON_AddItemToArray(arr, o);
    }
    sh__api_send_json(r, 200, arr);
    return SH_HANDLED;
}

static int crons_run(struct sh_req *r, void *ud)
{
    struct sh_api_crons *c = ud;
    if (not_superuser(r))
        return SH_HANDLED;
    const struct sh_str *p = sh_req_param(r, "id");
    for (unsigned i = 0; p && i < c->njobs; i++) {
        if (!c->jobs[i].expr[0] || !sh_str_eq(*p, c->jobs[i].id))
            continue;
        int rc = run_job(c, (int)i);
        if (rc == SH_EBUSY)
            sh__api_error(r, 400, "The job is already running; try again later.", NULL);
        else if (rc)
            sh__api_fail(r, rc);
        else
            sh_res_send(r, 204, NULL, NULL, 0);
        return SH_HANDLED;
    }
    sh__api_error(r, 404, "Missing or invalid cron job.", NULL);
    return SH_HANDLED;
}

/* ---- life ---- */

struct sh_api_crons *sh_api_crons_new(uv_loop_t *loop, const struct sh_config *cfg,
                                      struct sh_db *db, struct sh_api_backups *backups)
{
    struct sh_api_crons *c = sh_calloc(1, sizeof(*c));
    c->loop = loop;
    c->dir = cfg->dir;
    c->db = db;
    c->backups = backups;
    /* in the order of JOB_*: the built-in jobs */
    (void)sh_api_crons_add(c, "__pbAutoBackup__", "", run_backup, c);
    (void)sh_api_crons_add(c, "__sessionsCleanup__", "0 * * * *", run_sessions, c);
    (void)sh_api_crons_add(c, "__backupsTmpSweep__", "30 * * * *", run_sweep, c);
    c->last_minute = (int64_t)time(NULL) / 60; /* the current minute has begun already */
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_tick, 1000, 1000);
    return c;
}

int sh_api_crons_add(struct sh_api_crons *c, const char *id, const char *expr,
                     int (*start)(void *arg), void *arg)
{
    if (c->njobs == MAX_JOBS || strlen(id) >= sizeof(c->jobs[0].id) ||
        (expr[0] && sh__cron_parse(expr, &(struct sh__cron){0}) != 0))
        return SH_EINVAL;
    for (unsigned i = 0; i < c->njobs; i++)
        if (strcmp(c->jobs[i].id, id) == 0)
            return SH_EINVAL;
    struct cron_job *j = &c->jobs[c->njobs++];
    snprintf(j->id, sizeof(j->id), "%s", id);
    set_expr(j, expr);
    j->start = start;
    j->arg = arg;
    return 0;
}

void sh_api_crons_done(struct sh_api_crons *c, const char *id)
{
    for (unsigned i = 0; i < c->njobs; i++)
        if (strcmp(c->jobs[i].id, id) == 0)
            c->jobs[i].running = 0;
}

void sh__crons_backup_set(struct sh_api_crons *c, const char *expr, unsigned max_keep)
{
    set_expr(&c->jobs[JOB_BACKUP], expr);
    c->backups->max_keep = max_keep;
}

void sh_api_crons_stop(struct sh_api_crons *c)
{
    if (!c || c->stopped)
        return;
    c->stopped = 1;
    uv_timer_stop(&c->timer);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, NULL);
}

void sh_api_crons_free(struct sh_api_crons *c)
{
    free(c);
}

int sh_api_crons_register(struct sh_router *rt, struct sh_api_crons *c)
{
    int rc = 0;
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/crons", crons_list, c);
    rc |= sh_router_add(rt, SH_METHOD_POST, "/api/crons/:id", crons_run, c);
    return rc ? SH_EINVAL : 0;
}
