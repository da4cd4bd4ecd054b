/*
 * POST /api/collections/{c}/auth-with-password {"identity","password"} ->
 * {"token","record"} (API.md "Auth").
 *
 * 1. The client address is counted (--rate-limit-auth) as the route starts.
 * 2. The record is found by its identity (passwordAuth.identityFields in
 *    turn, email by default; passwordAuth disabled is 403) on the loop's read
 *    connection (an indexed point read per field), and the password checked through the gate
 * (auth_gate.c: the per-account and per-(account, address) limits, keyed by the record id, or by
 * the lower-cased identity when no account has it, so an unknown identity is counted the same way)
 * on the hashing pool: against the stored hash, or the pool's dummy hash for an unknown identity,
 * so both cost one Argon2id run. A full pool queue is 503 with Retry-After.
 * 3. On a match, the collection's authRule (null = no sign-in at all) must
 *    hold for the record; a hash made with other parameters is remade.
 * 4. A writer job reads the record again inside the write transaction
 *    (a password changed meanwhile fails the sign-in), stores the new hash if
 *    any, inserts the session and drops the record's sessions beyond
 *    SH__SESSIONS_PER_RECORD. After the commit the token is signed for the
 *    session and sent with the record as its owner sees it.
 * Every mismatch answers the same 400 "Failed to authenticate.".
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "auth_int.h"

#define FAILED "Failed to authenticate."

struct login {
    struct sh__api_job job; /* first: the request-bound job (api/job.c) */
    struct sh_api_auth *a;
    struct sh_catalog_snap *snap; /* a reference: c belongs to it */
    const struct sh_collection *c;
    struct sh_auth_row found; /* the record as read before the verify */
    bool known;
    char *password; /* sodium_malloc'd, kept only when a rehash is due */
    size_t plen;
    char *new_hash;
    struct sh_session s;
    char *ip, *ua;
    struct sh_auth_row row; /* the record as the job read it */
    int64_t trimmed;        /* sessions dropped over the cap */
};

static void login_free(struct sh__api_job *job)
{
    struct login *l = (struct login *)job;
    if (l->password)
        sodium_free(l->password);
    free(l->new_hash);
    free(l->ip);
    free(l->ua);
    sh_auth_row_deinit(&l->found);
    sh_auth_row_deinit(&l->row);
    sh_catalog_snap_free(l->snap);
    free(l);
}

/* Every mismatch: the same 400. */
static void failed(struct login *l)
{
    struct sh_req *r = sh__api_job_req(&l->job);
    if (r)
        sh__api_error(r, 400, FAILED, NULL);
    sh__api_job_end(&l->job, 0);
}

static int login_run(sqlite3 *wdb, void *arg)
{
    struct login *l = arg;
    int rc = sh_auth_find_id(NULL, wdb, l->c, l->found.id, &l->row);
    l->trimmed = 0;
    if (rc)
        return rc == SH_ENOTFOUND ? SH_EFORBIDDEN : rc;
    if (!sh_secret_eq(l->row.password_hash, strlen(l->row.password_hash), l->found.password_hash,
                      strlen(l->found.password_hash)))
        return SH_EFORBIDDEN; /* the password changed since it was verified */
    if (l->new_hash && (rc = sh_auth_set_password(wdb, l->c, l->row.id, l->new_hash)) != 0)
        return rc;
    l->s.collection_id = l->c->id;
    l->s.record_id = l->row.id;
    if ((rc = sh_session_insert(wdb, &l->s)) != 0)
        return rc;
    return sh_session_trim(wdb, l->c->id, l->row.id, SH__SESSIONS_PER_RECORD, &l->trimmed);
}

/* Sessions over the cap were ended (a token of theirs may be cached); a
 * plain sign-in changes no identity and keeps the cache warm. */
static void login_committed(struct sh__api_job *job, int rc)
{
    struct login *l = (struct login *)job;
    if (rc == 0 && (l->trimmed > 0 || l->new_hash))
        sh__auth_epoch_bump(l->a);
}

static int login_answer(struct sh__api_job *job, struct sh_req *r, int rc)
{
    struct login *l = (struct login *)job;
    if (rc == SH_EFORBIDDEN) {
        sh__api_error(r, 400, FAILED, NULL);
        return 0;
    }
    if (rc)
        return rc;
    char *token = sh__auth_sign(r, l->c, l->row.id, l->row.token_key, l->s.id, l->s.expires / 1000);
    if (!token)
        return SH_EINTERNAL;
    sh__auth_send_token(r, l->c, token, l->row.record);
    return 0;
}

static const struct sh__api_job_ops login_ops = {
    .run = login_run, .committed = login_committed, .answer = login_answer, .free = login_free};

static void submit(struct login *l)
{
    if (l->password) {
        sodium_free(l->password);
        l->password = NULL;
    }
    int64_t now = sh__now_ms();
    sh_session_new_id(&l->s);
    l->s.created = l->s.last_used = now;
    l->s.expires = now + sh__auth_ttl_ms(l->a, l->c);
    l->s.ip = l->ip;
    l->s.user_agent = l->ua;
    sh__api_job_submit(&l->job);
}

static void rehashed(void *arg, int rc, const char *hash)
{
    struct login *l = arg;
    if (rc == 0 && hash)
        l->new_hash = sh_strdup(hash);
    if (sh__api_job_resume(&l->job))
        submit(l);
}

/* The authRule (non-empty) holds for the record. 0, or an answer to give. */
static int auth_rule(struct login *l)
{
    const struct sh_filter *rule = l->c->rule_filters[SH_RULE_AUTH];
    if (!rule || sh_filter_is_empty(rule))
        return 0;
    struct sh_filter_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.auth = l->found.record;
    ctx.method = "POST";
    ctx.context = "default";
    ctx.now_ms = sh__now_ms();
    struct sh_rec_access acc = {&l->snap->resolver, &ctx, 0, NULL, NULL, NULL};
    struct sh_filter_error err = {0};
    cJSON *rec = NULL;
    int rc = sh_rec_view(l->a->db, &acc, l->c, rule, l->found.id, &rec, &err);
    cJSON_Delete(rec);
    return rc == SH_ENOTFOUND || rc == SH_EINVAL ? SH_EFORBIDDEN : rc;
}

static void verified(void *arg, int rc, const char *hash)
{
    (void)hash;
    struct login *l = arg;
    if (!sh__api_job_resume(&l->job))
        return;
    if (rc == 0 && !l->known)
        rc = SH_EFORBIDDEN; /* cannot happen: the dummy never matches */
    if (rc == 0)
        rc = auth_rule(l);
    if (rc == SH_EFORBIDDEN) {
        failed(l);
        return;
    }
    if (rc) {
        sh__api_job_end(&l->job, rc == -ENOMEM ? SH_EBUSY : rc);
        return;
    }
    if (l->password && sh__auth_hash(l->a, l->password, l->plen, rehashed, l) == 0)
        return; /* submitted once the new hash is made */
    submit(l);
}

/* "u:identity" with the identity lower-cased (ASCII). */
static char *identity_key(struct sh_req *r, const char *identity)
{
    size_t il = strlen(identity);
    char *k = sh_arena_alloc(r->arena, il + 3);
    if (!k)
        return NULL;
    k[0] = 'u';
    k[1] = ':';
    for (size_t i = 0; i <= il; i++)
        k[2 + i] = (char)tolower((unsigned char)identity[i]);
    return k;
}

static void missing(struct sh_req *r, bool identity, bool password)
{
    cJSON *d = cJSON_CreateObject();
    const char *names[] = {identity ? "identity" : NULL, password ? "password" : NULL};
    for (size_t i = 0; i < 2; i++) {
        if (!names[i])
            continue;
        cJSON *e = cJSON_AddObjectToObject(d, names[i]);
        cJSON_AddStringToObject(e, "code", "validation_required");
        cJSON_AddStringToObject(e, "message", "Missing required value.");
    }
    sh__api_error(r, 400, "An error occurred while validating the submitted data.", d);
    cJSON_Delete(d);
}

static char *header_copy(const struct sh_req *r, const char *name, size_t max)
{
    const struct sh_str *h = sh_req_header(r, name);
    if (!h)
        return sh_strdup("");
    size_t n = h->len < max ? h->len : max;
    char *s = sh_malloc(n + 1);
    memcpy(s, h->ptr, n);
    s[n] = 0;
    return s;
}

int sh_api_auth_with_password(struct sh_req *r, void *ud)
{
    struct sh_api_auth *a = ud;
    struct sh_catalog_snap *snap;
    const struct sh_collection *c = sh__auth_collection_or_reply(r, a, &snap);
    if (!c || sh__rl_auth_or_reply(r, a))
        return SH_HANDLED;
    cJSON *body = sh__api_body_or_reply(r);
    if (!body)
        return SH_HANDLED;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "identity");
    const cJSON *pw = cJSON_GetObjectItemCaseSensitive(body, "password");
    bool no_id = !cJSON_IsString(id) || !id->valuestring[0];
    bool no_pw = !cJSON_IsString(pw) || !pw->valuestring[0];
    if (no_id || no_pw) {
        missing(r, no_id, no_pw);
        return SH_HANDLED;
    }
    if (!c->rules[SH_RULE_AUTH]) {
        sh__api_error(r, 403, "The collection does not allow signing in.", NULL);
        return SH_HANDLED;
    }
    if (!c->password_auth) {
        sh__api_error(r, 403, "The collection is not configured to allow password authentication.",
                      NULL);
        return SH_HANDLED;
    }
    struct login *l = sh_calloc(1, sizeof(*l));
    l->a = a;
    l->snap = sh_catalog_snap_ref(snap);
    l->c = c;
    int rc = sh_auth_find_identity(a->db, NULL, c, id->valuestring, &l->found);
    if (rc && rc != SH_ENOTFOUND) {
        login_free(&l->job);
        sh__api_fail(r, rc);
        return SH_HANDLED;
    }
    l->known = rc == 0 && l->found.password_hash[0];
    l->plen = strlen(pw->valuestring);
    if (l->known && sh__auth_needs_rehash(a, l->found.password_hash)) {
        l->password = sodium_malloc(l->plen + 1);
        if (!l->password)
            sh_panic(__FILE__, __LINE__, "sodium_malloc failed");
        memcpy(l->password, pw->valuestring, l->plen + 1);
    }
    l->ip = sh_strdup(r->client_ip);
    l->ua = header_copy(r, "User-Agent", 512);
    /* The account a check counts against: the record, or for an unknown
     * identity the identity itself (lower-cased: "ANN@x" is "ann@x"). */
    char *account = rc == 0 ? sh_arena_sprintf(r->arena, "r:%s", l->found.id)
                            : identity_key(r, id->valuestring);
    if (!account) {
        sodium_memzero(pw->valuestring, l->plen);
        login_free(&l->job);
        sh__api_fail(r, -ENOMEM);
        return SH_HANDLED;
    }
    rc = sh__auth_check_password(r, a, c, account, l->known ? l->found.password_hash : NULL,
                                 pw->valuestring, l->plen, SH__GATE_IP_COUNTED, verified, l);
    if (rc == 1) { /* answered 429: the request (and its body) ended */
        login_free(&l->job);
        return SH_HANDLED;
    }
    sodium_memzero(pw->valuestring, l->plen);
    if (rc) {
        login_free(&l->job);
        if (rc == SH_ETOOBIG)
            sh__api_error(r, 400, FAILED, NULL);
        else
            sh__api_fail(r, rc == -ENOMEM ? SH_EBUSY : rc);
        return SH_HANDLED;
    }
    /* Queued: the pool's callback comes later, from the loop. */
    sh__api_job_start(&l->job, r, &login_ops, a->db, NULL, snap);
    return SH_HANDLED;
}
