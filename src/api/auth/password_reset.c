/*
 * Password reset (API.md "Auth"):
 *  - POST request-password-reset {"email"} -> 204 whether or not the email
 *    belongs to an account (nothing to learn from the answer). For an
 *    account, at most --rate-limit-reset mails (default one per 2 minutes,
 *    PocketBase's resend threshold) are made: a reset token handed to the
 *    mailer (auth_mail.c: by default <dir>/mail.log, mode 0600; never the
 *    log unless --mailer log). The token is a JWT (type "passwordReset",
 *    30 minutes) signed with "passwordReset:" + the collection secret + the
 *    record's tokenKey + "\n" + the record's email, so it is void once the
 *    email changes (PocketBase binds its reset tokens to the email too).
 *  - POST confirm-password-reset {"token","password","passwordConfirm"} ->
 *    204. The token is checked like an auth token, the new password hashed
 *    on the pool, and one writer job checks that tokenKey has not changed
 *    since (a token works once: the new password rotates tokenKey), writes
 *    the password through the records code (its length rules and
 *    passwordConfirm), marks the email verified (the mail was read) and
 *    deletes every session of the record.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "auth_int.h"
#include "records_int.h"

#define RESET_TYPE "passwordReset"

static void field_error(struct sh_req *r, const char *field, const char *code, const char *msg)
{
    sh__api_field_error(r, "An error occurred while validating the submitted data.", field, code,
                        msg);
}

#define RESET_KEY_MAX (SH__AUTH_KEY_MAX + 258)

static const char *email_of(const cJSON *record)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(record, "email");
    return cJSON_IsString(e) ? e->valuestring : "";
}

/* The signing key of row's reset tokens (see the top of the file); its
 * length, 0 when there is none. */
static size_t reset_key(const struct sh_collection *c, const char *token_key, const cJSON *record,
                        unsigned char out[RESET_KEY_MAX])
{
    const char *email = email_of(record);
    size_t el = strlen(email);
    size_t n = sh__auth_key(c, token_key, RESET_TYPE, out);
    if (!n || el > 256)
        return 0;
    out[n] = '\n';
    memcpy(out + n + 1, email, el);
    return n + 1 + el;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

int sh_api_auth_request_reset(struct sh_req *r, void *ud)
{
    struct sh_api_auth *a = ud;
    struct sh_catalog_snap *snap;
    const struct sh_collection *c = sh__auth_collection_or_reply(r, a, &snap);
    cJSON *body = c && !sh__rl_auth_or_reply(r, a) ? sh__api_body_or_reply(r) : NULL;
    if (!body)
        return SH_HANDLED;
    const char *email = str_of(body, "email");
    if (!email) {
        field_error(r, "email", "validation_required", "Missing required value.");
        return SH_HANDLED;
    }
    struct sh_auth_row row;
    int rc = sh_auth_find_email(a->db, NULL, c, email, &row);
    if (rc && rc != SH_ENOTFOUND) {
        sh__api_fail(r, rc);
        return SH_HANDLED;
    }
    bool throttled = false;
    if (rc == 0 && a->rl_reset) { /* per account, whoever asks: not counted as a hit if refused */
        char *k = sh_arena_sprintf(r->arena, "%s:%s", c->id, row.id);
        struct sh_ratelimit_result res;
        if (k)
            sh_ratelimit_hit(a->rl_reset, k, strlen(k), uv_now(a->loop), &res);
        throttled = !k || !res.allowed;
        if (!throttled)
            sh__rl_share(a, a->rl_reset, "reset", k, strlen(k));
        if (throttled)
            sh_log_info("mailer",
                        "password reset for record %s of %s not sent: one was sent "
                        "recently (--rate-limit-reset)",
                        row.id, c->name);
    }
    if (rc == 0 && !throttled) {
        struct sh_token_claims cl;
        memset(&cl, 0, sizeof(cl));
        unsigned char key[RESET_KEY_MAX];
        size_t klen = reset_key(c, row.token_key, row.record, key);
        char token[SH_TOKEN_MAX + 1];
        int n = -1;
        if (klen && strlen(row.id) < sizeof(cl.id) && strlen(c->id) < sizeof(cl.collection_id)) {
            strcpy(cl.id, row.id);
            strcpy(cl.type, RESET_TYPE);
            strcpy(cl.collection_id, c->id);
            cl.exp = sh__now_ms() / 1000 + SH__RESET_TTL_S;
            n = sh_token_sign(&cl, key, klen, token, sizeof(token));
        }
        sodium_memzero(key, sizeof(key));
        if (n > 0)
            sh__auth_mail_reset(a, c, row.id, email_of(row.record), token);
        sodium_memzero(token, sizeof(token));
    }
    if (rc == 0)
        sh_auth_row_deinit(&row);
    sh_res_send(r, 204, NULL, NULL, 0);
    return SH_HANDLED;
}

struct reset {
    struct sh__api_job job; /* first: the request-bound job (api/job.c) */
    struct sh_api_auth *a;
    char *token_key; /* the one the token was checked against */
    char *email;     /* the address it was made for (part of its key) */
    struct sh_rec_write w;
};

static void reset_free(struct sh__api_job *job)
{
    struct reset *x = (struct reset *)job;
    if (x->w.body) { /* no plain password left in freed memory */
        cJSON *e;
        cJSON_ArrayForEach(e, x->w.body) {
            if (cJSON_IsString(e))
                sodium_memzero(e->valuestring, strlen(e->valuestring));
        }
    }
    free(x->token_key);
    free(x->email);
    sh_rec_write_deinit(&x->w);
    free(x);
}

static int reset_run(sqlite3 *wdb, void *arg)
{
    struct reset *x = arg;
    struct sh_auth_row row;
    int rc = sh_auth_find_id(NULL, wdb, x->w.c, x->w.id, &row);
    if (rc == 0 &&
        !sh_secret_eq(row.token_key, strlen(row.token_key), x->token_key, strlen(x->token_key)))
        rc = SH_EFORBIDDEN; /* used already, or the account signed out everywhere */
    if (rc == 0 && strcmp(email_of(row.record), x->email) != 0)
        rc = SH_EFORBIDDEN; /* the email changed since the token was checked */
    sh_auth_row_deinit(&row);
    if (rc == 0)
        rc = sh_rec_write_run(wdb, &x->w);
    if (rc == 0)
        rc = sh_session_delete_record(wdb, x->w.c->id, x->w.id);
    return rc;
}

static void invalid_token(struct sh_req *r)
{
    field_error(r, "token", "validation_invalid_token", "Invalid or expired token.");
}

/* Tokens of the old password end now, before the answer; the record's
 * change passes through the records API's one completion of committed
 * writes. */
static void reset_committed(struct sh__api_job *job, int rc)
{
    struct reset *x = (struct reset *)job;
    if (rc == 0)
        sh__auth_epoch_bump(x->a);
    if (rc == 0 && x->a->records) /* its change event; streams of the record turn guests */
        sh_api_records_committed(x->a->records, &x->w);
}

static int reset_answer(struct sh__api_job *job, struct sh_req *r, int rc)
{
    struct reset *x = (struct reset *)job;
    if (rc == 0)
        sh_res_send(r, 204, NULL, NULL, 0);
    else if (rc == SH_EFORBIDDEN || rc == SH_ENOTFOUND)
        invalid_token(r);
    else if (rc == SH_EINVAL && x->w.errors)
        sh__api_error(r, 400, "An error occurred while validating the submitted data.",
                      x->w.errors);
    else
        return rc;
    return 0;
}

static const struct sh__api_job_ops reset_ops = {
    .run = reset_run, .committed = reset_committed, .answer = reset_answer, .free = reset_free};

static void hashed(void *arg, int rc, const char *hash)
{
    struct reset *x = arg;
    if (!sh__api_job_resume(&x->job))
        return;
    if (rc) {
        sh__api_job_end(&x->job, rc == -ENOMEM ? SH_EBUSY : rc);
        return;
    }
    x->w.hashes = sh_calloc(1, sizeof(*x->w.hashes));
    x->w.hashes[0].field = sh_strdup("password");
    x->w.hashes[0].hash = sh_strdup(hash);
    x->w.nhashes = 1;
    sh__api_job_submit(&x->job);
}

int sh_api_auth_confirm_reset(struct sh_req *r, void *ud)
{
    struct sh_api_auth *a = ud;
    struct sh_catalog_snap *snap;
    const struct sh_collection *c = sh__auth_collection_or_reply(r, a, &snap);
    cJSON *body = c && !sh__rl_auth_or_reply(r, a) ? sh__api_body_or_reply(r) : NULL;
    if (!body)
        return SH_HANDLED;
    const char *token = str_of(body, "token"), *pw = str_of(body, "password");
    const char *confirm = str_of(body, "passwordConfirm");
    if (!token || !pw || !confirm) {
        field_error(r,
                    !token ? "token"
                    : !pw  ? "password"
                           : "passwordConfirm",
                    "validation_required", "Missing required value.");
        return SH_HANDLED;
    }
    if (strcmp(pw, confirm) != 0) {
        field_error(r, "passwordConfirm", "validation_values_mismatch", "Values don't match.");
        return SH_HANDLED;
    }
    struct sh_token_claims cl;
    struct sh_auth_row row;
    size_t tlen = strlen(token);
    if (tlen > SH_TOKEN_MAX || sh_token_peek(token, tlen, &cl) ||
        strcmp(cl.type, RESET_TYPE) != 0 || strcmp(cl.collection_id, c->id) != 0 ||
        sh_auth_find_id(a->db, NULL, c, cl.id, &row) != 0) {
        invalid_token(r);
        return SH_HANDLED;
    }
    unsigned char key[RESET_KEY_MAX];
    size_t klen = reset_key(c, row.token_key, row.record, key);
    bool ok = klen && sh_token_verify(token, tlen, key, klen, sh__now_ms() / 1000, &cl) == 0 &&
              strcmp(cl.id, row.id) == 0;
    sodium_memzero(key, sizeof(key));
    if (!ok) {
        sh_auth_row_deinit(&row);
        invalid_token(r);
        return SH_HANDLED;
    }
    struct reset *x = sh_calloc(1, sizeof(*x));
    x->a = a;
    x->token_key = row.token_key;
    row.token_key = NULL;
    x->email = sh_strdup(email_of(row.record));
    x->w.op = SH_REC_UPDATE;
    x->w.snap = sh_catalog_snap_ref(snap);
    x->w.c = c;
    x->w.counts = a->counts;
    x->w.capture = a->records && sh_api_records_listened(a->records, c); /* change event */
    x->w.id = row.id;
    row.id = NULL;
    sh_auth_row_deinit(&row);
    x->w.body = cJSON_CreateObject();
    cJSON_AddStringToObject(x->w.body, "password", pw);
    cJSON_AddStringToObject(x->w.body, "passwordConfirm", confirm);
    cJSON_AddBoolToObject(x->w.body, "verified", 1);
    x->w.now_ms = sh__now_ms();
    x->w.flags = SH_REC_SUPERUSER;
    x->w.check_password_confirm = true;
    int rc = sh__auth_hash(a, pw, strlen(pw), hashed, x);
    if (rc) {
        reset_free(&x->job);
        if (rc == SH_ETOOBIG)
            field_error(r, "password", "validation_max_text_constraint",
                        "Must be less than 256 character(s).");
        else
            sh__api_fail(r, rc == -ENOMEM ? SH_EBUSY : rc);
        return SH_HANDLED;
    }
    /* Queued: the pool's callback comes later, from the loop. */
    sh__api_job_start(&x->job, r, &reset_ops, a->db, NULL, snap);
    return SH_HANDLED;
}
