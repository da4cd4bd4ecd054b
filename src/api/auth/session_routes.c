/*
 * The routes of a signed-in record's session (API.md "Auth"):
 *  - POST auth-refresh: the session's expiry moves to now + the token
 *    lifetime and a new token is signed for the same session (so a later
 *    logout of either token ends both);
 *  - POST auth-logout: deletes this token's session -> 204;
 *  - POST auth-logout-all: gives the record a new tokenKey and deletes all
 *    its sessions -> 204;
 *  - GET auth-methods: password sign-in by email; nothing else.
 * Each write is one writer job; the answer is sent after its commit, so the
 * next request with a revoked token is a guest's.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth_int.h"

enum sop { SOP_REFRESH, SOP_LOGOUT, SOP_LOGOUT_ALL };

struct sjob {
    struct sh__api_job job; /* first: the request-bound job (api/job.c) */
    struct sh_api_auth *a;
    struct sh_catalog_snap *snap; /* a reference: c belongs to it */
    const struct sh_collection *c;
    enum sop op;
    char *record_id, *sid;
    int64_t now, expires;
    struct sh_auth_row row;
};

static void sjob_free(struct sh__api_job *job)
{
    struct sjob *j = (struct sjob *)job;
    free(j->record_id);
    free(j->sid);
    sh_auth_row_deinit(&j->row);
    sh_catalog_snap_free(j->snap);
    free(j);
}

static int sjob_run(sqlite3 *wdb, void *arg)
{
    struct sjob *j = arg;
    int rc;
    switch (j->op) {
    case SOP_REFRESH:
        rc = sh_session_extend(wdb, j->sid, j->record_id, j->expires, j->now);
        return rc ? rc : sh_auth_find_id(NULL, wdb, j->c, j->record_id, &j->row);
    case SOP_LOGOUT:
        return sh_session_delete(wdb, j->sid);
    case SOP_LOGOUT_ALL:
        rc = sh_auth_rotate_key(wdb, j->c, j->record_id);
        return rc ? rc : sh_session_delete_record(wdb, j->c->id, j->record_id);
    }
    return SH_EINTERNAL;
}

/* A logout ended sessions: before the answer, the next request misses. */
static void sjob_committed(struct sh__api_job *job, int rc)
{
    (void)rc;
    struct sjob *j = (struct sjob *)job;
    if (j->op != SOP_REFRESH)
        sh__auth_epoch_bump(j->a);
    if (rc == 0 && j->op == SOP_LOGOUT_ALL && j->a->records) /* a new tokenKey */
        sh_api_records_token_key_changed(j->a->records, j->c->id, j->record_id);
}

static int sjob_answer(struct sh__api_job *job, struct sh_req *r, int rc)
{
    struct sjob *j = (struct sjob *)job;
    if (rc == SH_ENOTFOUND) {
        sh__api_error(r, 401, "The request requires valid record authorization token.", NULL);
    } else if (rc) {
        return rc;
    } else if (j->op != SOP_REFRESH) {
        sh_res_send(r, 204, NULL, NULL, 0);
    } else {
        char *token =
            sh__auth_sign(r, j->c, j->row.id, j->row.token_key, j->sid, j->expires / 1000);
        if (!token)
            return SH_EINTERNAL;
        sh__auth_send_token(r, j->c, token, j->row.record);
    }
    return 0;
}

static const struct sh__api_job_ops sjob_ops = {
    .run = sjob_run, .committed = sjob_committed, .answer = sjob_answer, .free = sjob_free};

static int start(struct sh_req *r, struct sh_api_auth *a, enum sop op)
{
    struct sh_catalog_snap *snap;
    const struct sh_collection *c = sh__auth_collection_or_reply(r, a, &snap);
    const struct sh_auth *au = c ? sh__auth_require_or_reply(r, c) : NULL;
    if (!au || (op == SOP_REFRESH && sh__rl_auth_or_reply(r, a)))
        return SH_HANDLED;
    struct sjob *j = sh_calloc(1, sizeof(*j));
    j->a = a;
    j->snap = sh_catalog_snap_ref(snap);
    j->c = c;
    j->op = op;
    j->record_id = sh_strdup(au->record_id);
    j->sid = sh_strdup(au->session_id);
    j->now = sh__now_ms();
    j->expires = j->now + sh__auth_ttl_ms(a, c);
    sh__api_job_start(&j->job, r, &sjob_ops, a->db, NULL, snap);
    sh__api_job_submit(&j->job);
    return SH_HANDLED;
}

int sh_api_auth_refresh(struct sh_req *r, void *ud)
{
    return start(r, ud, SOP_REFRESH);
}

int sh_api_auth_logout(struct sh_req *r, void *ud)
{
    return start(r, ud, SOP_LOGOUT);
}

int sh_api_auth_logout_all(struct sh_req *r, void *ud)
{
    return start(r, ud, SOP_LOGOUT_ALL);
}

int sh_api_auth_methods(struct sh_req *r, void *ud)
{
    struct sh_catalog_snap *snap;
    if (!sh__auth_collection_or_reply(r, ud, &snap))
        return SH_HANDLED;
    static const char body[] = "{\"password\":{\"enabled\":true,\"identityFields\":[\"email\"]},"
                               "\"oauth2\":{\"enabled\":false,\"providers\":[]},\"mfa\":{"
                               "\"enabled\":false,\"duration\":0},"
                               "\"otp\":{\"enabled\":false,\"duration\":0}}";
    sh_res_json(r, 200, body, sizeof(body) - 1);
    return SH_HANDLED;
}
