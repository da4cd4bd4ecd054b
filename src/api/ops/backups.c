/*
 * The backups API (PocketBase's apis/backup*.go), superusers only:
 * GET /api/backups ([{key,size,modified}], newest first), POST /api/backups
 * ({"name"} optional; answered 204 once the archive is made),
 * GET /api/backups/{key}?token= (download with a superuser file token,
 * backup_download.c), DELETE /api/backups/{key}, POST /api/backups/upload
 * (400 until multipart lands), POST /api/backups/{key}/restore.
 *
 * Making and validating an archive runs on a thread of its own (never the
 * loop, never the writer; one operation at a time, as PocketBase: a second
 * one is refused with 400) through stagehand/backup.h; the loop learns of
 * the end by a uv_async_t and joins the thread before reading its result.
 * A restore answers 204 once the archive was validated and staged, then asks
 * the server (on_restore) to stop: it drains, closes the database (the
 * writer commits what is queued; nothing more is accepted), swaps the
 * staged data in by rename and re-executes itself on the same addresses
 * (main.c). A restore that fails validation changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api_int.h"
#include "auth_int.h"
#include "ops_int.h"
#include "stagehand/api.h"
#include "stagehand/backup.h"
#include "stagehand/civil.h"
#include "stagehand/config.h"

static const char busy_msg[] = "Try again later - another backup/restore process has already "
                               "been started.";

static void thread_main(void *arg)
{
    struct sh_api_backups *b = arg;
    if (b->kind != SH__BK_RESTORE)
        b->rc =
            sh_backup_create(b->dir, b->key, b->nice, b->rate, &b->cancel, b->err, sizeof(b->err));
    if (b->kind == SH__BK_AUTO && b->rc == 0 && b->keep > 0) {
        int n = sh_backup_prune(b->dir, "@auto_", b->keep);
        if (n > 0)
            sh_log_info("backup", "removed %d scheduled backups past cronMaxKeep %u", n, b->keep);
    }
    if (b->kind == SH__BK_RESTORE)
        b->rc = sh_backup_restore_prepare(b->dir, b->key, b->err, sizeof(b->err));
    uv_async_send(&b->async);
}

static void answer(struct sh_api_backups *b, struct sh_req *r)
{
    if (b->rc == 0) {
        sh_res_send(r, 204, NULL, NULL, 0);
        return;
    }
    if (b->kind != SH__BK_RESTORE) {
        if (b->rc == SH_ECONFLICT)
            sh__api_field_error(r, "An error occurred while validating the submitted data.", "name",
                                "validation_backup_name_exists",
                                "The backup file name is already used.");
        else
            sh__api_error(r, 400, "Failed to create backup.", NULL);
        return;
    }
    if (b->rc == SH_ENOTFOUND) {
        sh__api_error(r, 404, "Missing or invalid backup file.", NULL);
        return;
    }
    char msg[300];
    snprintf(msg, sizeof(msg), "%s.", b->err[0] ? b->err : "the archive could not be read");
    sh__api_field_error(r, "Failed to restore the backup; nothing was changed.", "key",
                        "validation_invalid_backup", msg);
}

static void long_read_end(struct sh_api_backups *b)
{
    if (b->long_read) {
        sh_db_long_read_end(b->auth->db);
        b->long_read = 0;
    }
}

static void on_async(uv_async_t *h)
{
    struct sh_api_backups *b = h->data;
    if (!b->running)
        return;
    uv_thread_join(&b->thread); /* the thread has sent: it ends now */
    b->running = 0;
    long_read_end(b);
    struct sh_req *r = b->watch.req;
    if (r) {
        sh_req_unwatch(&b->watch);
        answer(b, r);
    }
    if (b->kind == SH__BK_RESTORE && b->rc == 0 && !b->stopped) {
        b->restoring = 1;
        sh_log_warn("backup", "restoring %s: the server stops, swaps the data and restarts",
                    b->key);
        if (b->on_restore)
            b->on_restore(b->arg);
    }
    if (b->done_cb)
        b->done_cb(b->done_arg, b->rc);
}

bool sh_api_backups_busy(const struct sh_api_backups *b)
{
    return b->running || b->restoring;
}

int sh__ops_backup_start(struct sh_api_backups *b, int kind, const char *key, struct sh_req *r)
{
    if (b->running || b->restoring || b->stopped)
        return SH_EBUSY;
    b->kind = kind;
    b->keep = b->max_keep;
    snprintf(b->key, sizeof(b->key), "%s", key);
    b->rc = 0;
    b->err[0] = 0;
    if (kind != SH__BK_RESTORE) { /* the snapshot is one long read transaction */
        sh_db_long_read_begin(b->auth->db);
        b->long_read = 1;
    }
    if (uv_thread_create(&b->thread, thread_main, b) != 0) {
        long_read_end(b);
        return SH_EINTERNAL;
    }
    b->running = 1;
    if (r)
        sh_req_watch(r, &b->watch);
    return 0;
}

struct sh_api_backups *sh_api_backups_new(uv_loop_t *loop, const struct sh_config *cfg,
                                          struct sh_api_auth *auth, void (*on_restore)(void *),
                                          void *arg)
{
    struct sh_api_backups *b = sh_calloc(1, sizeof(*b));
    b->loop = loop;
    b->dir = cfg->dir;
    b->auth = auth;
    b->nice = 10;
    b->rate = cfg->backup_rate;
    b->on_restore = on_restore;
    b->arg = arg;
    atomic_init(&b->cancel, 0);
    uv_async_init(loop, &b->async, on_async);
    b->async.data = b;
    return b;
}

void sh_api_backups_stop(struct sh_api_backups *b)
{
    if (!b || b->stopped)
        return;
    b->stopped = 1;
    if (b->running) { /* a backup stops at its next piece; a validation ends */
        atomic_store(&b->cancel, 1);
        uv_thread_join(&b->thread);
        b->running = 0;
        long_read_end(b);
        if (b->watch.req)
            sh_req_unwatch(&b->watch);
    }
    if (b->kind == SH__BK_RESTORE && !b->restoring)
        sh_backup_restore_abort(b->dir);
    if (!uv_is_closing((uv_handle_t *)&b->async))
        uv_close((uv_handle_t *)&b->async, NULL);
}

void sh_api_backups_free(struct sh_api_backups *b)
{
    free(b);
}

/* 401/403 unless a superuser asks; 1 when answered. */
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

/* :key of the path, if it is a valid key; NULL after answering 404. */
static const char *key_or_reply(struct sh_req *r)
{
    const struct sh_str *p = sh_req_param(r, "key");
    char *key = p ? sh_arena_strndup(r->arena, p->ptr, p->len) : NULL;
    if (!key || !sh_backup_key_valid(key)) {
        sh__api_error(r, 404, "Missing or invalid backup file.", NULL);
        return NULL;
    }
    return key;
}

static void format_modified(int64_t ms, char out[32])
{
    int64_t s = ms / 1000, days = s / 86400, rem = s % 86400, y;
    unsigned m, d;
    sh_civil_from_days(days, &y, &m, &d);
    snprintf(out, 32, "%04lld-%02u-%02u %02lld:%02lld:%02lld.%03lldZ", (long long)y, m, d,
             (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60),
             (long long)(ms % 1000));
}

static int backups_list(struct sh_req *r, void *ud)
{
    struct sh_api_backups *b = ud;
    if (not_superuser(r))
        return SH_HANDLED;
    struct sh_backup_info *list;
    size_t n;
    /* A readdir of one small folder: bounded by the backups kept. */
    int rc = sh_backup_list(b->dir, &list, &n);
    if (rc) {
        sh__api_fail(r, rc);
        return SH_HANDLED;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        char mod[32];
        format_modified(list[i].modified_ms, mod);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", list[i].key);
        cJSON_AddNumberToObject(o, "size", (double)list[i].size);
        cJSON_AddStringToObject(o, "modified", mod);
        cJSON_AddItemToArray(arr, o);
    }
    free(list);
    sh__api_send_json(r, 200, arr);
    return SH_HANDLED;
}

static int backups_create(struct sh_req *r, void *ud)
{
    struct sh_api_backups *b = ud;
    if (not_superuser(r))
        return SH_HANDLED;
    cJSON *body = sh__api_body_or_reply(r);
    if (!body)
        return SH_HANDLED;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    char key[SH_BACKUP_KEY_MAX + 1];
    if (name && !cJSON_IsNull(name) && !(cJSON_IsString(name) && name->valuestring[0] == 0)) {
        if (!cJSON_IsString(name) || !sh_backup_name_valid(name->valuestring)) {
            sh__api_field_error(r, "An error occurred while validating the submitted data.", "name",
                                "validation_match_invalid", "Must be in a valid format.");
            return SH_HANDLED;
        }
        snprintf(key, sizeof(key), "%s", name->valuestring);
    } else {
        sh_backup_key_default(key, sizeof(key), "", sh__now_ms() / 1000);
    }
    int rc = sh__ops_backup_start(b, SH__BK_CREATE, key, r);
    if (rc == SH_EBUSY)
        sh__api_error(r, 400, busy_msg, NULL);
    else if (rc)
        sh__api_fail(r, rc);
    return SH_HANDLED;
}

static int backups_delete(struct sh_req *r, void *ud)
{
    struct sh_api_backups *b = ud;
    if (not_superuser(r))
        return SH_HANDLED;
    const char *key = key_or_reply(r);
    if (!key)
        return SH_HANDLED;
    if ((b->running || b->restoring) && strcmp(key, b->key) == 0) {
        sh__api_error(r, 400, busy_msg, NULL);
        return SH_HANDLED;
    }
    int rc = sh_backup_delete(b->dir, key);
    if (rc == SH_ENOTFOUND)
        sh__api_error(r, 400, "Invalid or already deleted backup file.", NULL);
    else if (rc)
        sh__api_fail(r, rc);
    else
        sh_res_send(r, 204, NULL, NULL, 0);
    return SH_HANDLED;
}

static int backups_restore(struct sh_req *r, void *ud)
{
    struct sh_api_backups *b = ud;
    if (not_superuser(r))
        return SH_HANDLED;
    const char *key = key_or_reply(r);
    if (!key)
        return SH_HANDLED;
    int rc = sh__ops_backup_start(b, SH__BK_RESTORE, key, r);
    if (rc == SH_EBUSY)
        sh__api_error(r, 400, busy_msg, NULL);
    else if (rc)
        sh__api_fail(r, rc);
    return SH_HANDLED;
}

static int backups_upload(struct sh_req *r, void *ud)
{
    struct sh_api_backups *b = ud;
    if (not_superuser(r))
        return SH_HANDLED;
    return sh__ops_backup_upload(r, b->dir, b->loop);
}

int sh_api_backups_register(struct sh_router *rt, struct sh_api_backups *b)
{
    int rc = 0;
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/backups", backups_list, b);
    rc |= sh_router_add(rt, SH_METHOD_POST, "/api/backups", backups_create, b);
    rc |= sh_router_add(rt, SH_METHOD_POST, "/api/backups/upload", backups_upload, b);
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/backups/:key", sh__ops_backup_download, b);
    rc |= sh_router_add(rt, SH_METHOD_DELETE, "/api/backups/:key", backups_delete, b);
    rc |= sh_router_add(rt, SH_METHOD_POST, "/api/backups/:key/restore", backups_restore, b);
    rc |= sh_router_add(rt, SH_METHOD_POST, "/api/files/token", sh_api_files_token, b->auth);
    return rc ? SH_EINVAL : 0;
}
