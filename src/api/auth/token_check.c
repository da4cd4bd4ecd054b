/*
 * The token middleware and what handlers need of the identity it finds.
 *
 * `Authorization: <token>` or `Authorization: Bearer <token>`. The token's
 * payload names its collection and session (sh_token_peek: nothing trusted
 * yet); one statement then reads the session and its record by primary keys
 * (sh_session_lookup); the signature is checked against the collection's
 * secret + the record's tokenKey in constant time, then the expiry of token
 * and session. Only then does the request carry an identity (r->auth), with
 * the record as rules see it. A token that fails any step leaves the request
 * a guest, as PocketBase does: the routes that need a signed-in user answer
 * 401 themselves. Revocation (logout, logout-all, a new password) deletes
 * the session rows or rotates tokenKey, so it holds from the next request.
 *
 * A verified token is remembered (auth_cache.c, --token-cache): the next
 * request with it costs a keyed hash and a table probe. The auth epoch that
 * every revoking write moves before its response, the schema version and
 * the token's and session's expiry keep the cache from answering for longer
 * than the database would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "auth_int.h"

#define SUPERUSERS "_superusers"

static void drop_ident(void *p)
{
    sh__auth_ident_unref(p);
}

static void drop_snap(void *p)
{
    sh_catalog_snap_free(p);
}

/* The token of the Authorization header, without "Bearer " and spaces. */
static int bearer(const struct sh_req *r, const char **tok, size_t *len)
{
    const struct sh_str *h = sh_req_header(r, "Authorization");
    if (!h)
        return -1;
    const char *p = h->ptr;
    size_t n = h->len;
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    if (n > 7 && strncasecmp(p, "Bearer", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
        p += 7, n -= 7;
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0 || n > SH_TOKEN_MAX)
        return -1;
    *tok = p;
    *len = n;
    return 0;
}

/* Makes id the request's identity, with a reference until it ends. 0, or
 * -ENOMEM. */
static int adopt(struct sh_req *r, struct sh__auth_ident *id)
{
    if (sh_arena_defer(r->arena, drop_ident, id) != 0)
        return -ENOMEM;
    id->refs++;
    r->auth = &id->au;
    return 0;
}

/* Notes the session used (at most once a minute; the batch writes it). */
static void touch(struct sh_api_auth *a, struct sh__auth_ident *id, int64_t now)
{
    if (now - id->last_used >= SH__TOUCH_EVERY_MS) {
        sh__auth_touch(a, id->au.session_id, now);
        id->last_used = now;
    }
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int sh_api_mw_auth(struct sh_req *r, void *ud)
{
    struct sh_api_auth *a = ud;
    const char *tok;
    size_t len;
    struct sh_token_claims cl;
    /* In a group, another instance may have changed the schema (a rule, a
     * field): every request starts from the current one (PRAGMA
     * data_version first, ~1 us, while nothing was written). */
    if (a->group)
        (void)sh_catalog_refresh(a->catalog);
    if (bearer(r, &tok, &len))
        return SH_PASS;
    /* Another process (`stagehand superuser`) may have revoked the token: it
     * bumps the schema version, which this sees from the next loop turn on
     * (PRAGMA data_version, once per turn for all its requests; the
     * catalog's 1 s poll would see it too, later). A group member refreshed
     * above already. */
    if (a->cache) {
        sh_db_read_begin(a->db); /* one read transaction for this and the handler's reads */
        if (!a->group)
            (void)sh_catalog_refresh(a->catalog);
    }
    int64_t schema = a->catalog->snap ? a->catalog->snap->version : -1;
    if (a->group)
        sh_db_read_begin(a->db); /* the shared epoch and the lookup: one snapshot */
    uint64_t epoch = a->cache ? sh__auth_epoch_now(a) : a->epoch;
    struct sh__auth_ident *hit =
        a->catalog->snap ? sh__auth_cache_find(a->cache, tok, len, epoch, schema, sh__now_ms())
                         : NULL;
    if (hit) {
        if (adopt(r, hit) != 0) {
            sh__api_fail(r, -ENOMEM);
            return SH_HANDLED;
        }
        if (SH_LOG_DEBUG >= sh_log_min_level) {
            struct sh__auth_cache_stats st;
            sh__auth_cache_stats(a->cache, &st);
            sh_log_debug("auth", "token cache hit hits=%llu size=%zu", (unsigned long long)st.hits,
                         st.size);
        }
        touch(a, hit, sh__now_ms());
        return SH_PASS;
    }
    if (sh_token_peek(tok, len, &cl) || strcmp(cl.type, "auth") != 0 || !cl.sid[0])
        return SH_PASS;
    /* Borrowed from the current snapshot: no reload can happen during this
     * call, and nothing of c is kept past it (adopt copies). */
    const struct sh_collection *c = sh_catalog_find(a->catalog, cl.collection_id);
    if (!c || c->type != SH_COLLECTION_AUTH)
        return SH_PASS;
    sh_db_read_begin(a->db); /* the handler's reads share it */
    struct sh_session_row row;
    const struct sh_catalog_snap *looked = a->catalog->snap;
    int rc = sh_session_lookup(a->db, c, cl.sid, &row);
    unsigned attempts = 0;
    if (rc != SH_ENOTFOUND && sh__api_retry_if_stale(a->catalog, looked, rc, &attempts)) {
        /* the table was migrated by another process a moment ago */
        c = sh_catalog_find(a->catalog, cl.collection_id);
        if (!c || c->type != SH_COLLECTION_AUTH)
            return SH_PASS;
        rc = sh_session_lookup(a->db, c, cl.sid, &row);
    }
    if (rc == SH_ENOTFOUND)
        return SH_PASS;
    if (rc) {
        sh__api_fail(r, rc);
        return SH_HANDLED;
    }
    int64_t now = sh__now_ms();
    unsigned char key[SH__AUTH_KEY_MAX];
    size_t klen = sh__auth_key(c, row.rec.token_key, "", key);
    struct sh_token_claims v;
    bool ok = klen && row.expires > now &&
              sh_token_verify(tok, len, key, klen, now / 1000, &v) == 0 &&
              strcmp(v.id, row.rec.id) == 0 && strcmp(v.sid, cl.sid) == 0 &&
              strcmp(v.collection_id, c->id) == 0;
    sodium_memzero(key, sizeof(key));
    if (!ok) {
        sh_auth_row_deinit(&row.rec);
        return SH_PASS;
    }
    struct sh__auth_ident *id = sh__auth_ident_new(c, row.rec.id, cl.sid, row.rec.record);
    row.rec.record = NULL;
    sh_auth_row_deinit(&row.rec);
    /* The epoch read now is older than any write not yet acknowledged: the
     * lookup above may predate its commit, never its completion. */
    id->epoch = epoch;
    id->schema = a->catalog->snap ? a->catalog->snap->version : -1;
    id->expires = min64(min64(v.exp * 1000, row.expires), now + SH__AUTH_CACHE_MAX_AGE_MS);
    id->last_used = row.last_used;
    if (a->catalog->snap && id->schema == schema)
        sh__auth_cache_put(a->cache, tok, len, id);
    int rc2 = adopt(r, id);
    if (rc2 == 0)
        touch(a, id, now);
    sh__auth_ident_unref(id);
    if (rc2 != 0) {
        sh__api_fail(r, -ENOMEM);
        return SH_HANDLED;
    }
    return SH_PASS;
}

/* The current snapshot, kept by the request until it ends. NULL after
 * answering. */
static struct sh_catalog_snap *keep_snapshot_or_reply(struct sh_req *r, struct sh_catalog *cat)
{
    struct sh_catalog_snap *s = sh_catalog_acquire(cat);
    if (!s) {
        sh__api_fail(r, -ECANCELED); /* shutting down */
        return NULL;
    }
    if (sh_arena_defer(r->arena, drop_snap, s) != 0) {
        sh_catalog_snap_free(s);
        sh__api_fail(r, -ENOMEM);
        return NULL;
    }
    return s;
}

const struct sh_collection *sh__auth_collection_or_reply(struct sh_req *r, struct sh_api_auth *a,
                                                         struct sh_catalog_snap **snap)
{
    const struct sh_str *name = sh_req_param(r, "collection");
    char *cname = name ? sh_arena_strndup(r->arena, name->ptr, name->len) : NULL;
    if (!cname) {
        sh__api_fail(r, -ENOMEM);
        return NULL;
    }
    if (!(*snap = keep_snapshot_or_reply(r, a->catalog)))
        return NULL;
    const struct sh_collection *c = sh_catalog_snap_find(*snap, cname);
    unsigned attempts = 0;
    if (!c && sh__api_retry_if_stale(a->catalog, *snap, SH_ENOTFOUND, &attempts)) {
        /* created a moment ago by another process */
        if (!(*snap = keep_snapshot_or_reply(r, a->catalog)))
            return NULL;
        c = sh_catalog_snap_find(*snap, cname);
    }
    if (!c || c->type != SH_COLLECTION_AUTH) {
        sh__api_error(r, 404, "Missing or invalid auth collection context.", NULL);
        return NULL;
    }
    return c;
}

cJSON *sh__auth_owner_view(const struct sh_collection *c, const cJSON *record)
{
    cJSON *o = cJSON_Duplicate(record, 1);
    SH_ASSERT(o);
    for (size_t i = 0; i < c->nfields; i++)
        if (c->fields[i].hidden)
            cJSON_DeleteItemFromObjectCaseSensitive(o, c->fields[i].name);
    return o;
}

static bool str_is(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static void own_email(const struct sh_auth *au, const cJSON *email, cJSON *v, int depth)
{
    if (depth > 16 || !(cJSON_IsObject(v) || cJSON_IsArray(v)))
        return;
    if (cJSON_IsObject(v) && str_is(v, "collectionId", au->collection_id) &&
        str_is(v, "id", au->record_id) && !cJSON_GetObjectItemCaseSensitive(v, "email"))
        cJSON_AddItemToObject(v, "email", cJSON_Duplicate(email, 0));
    cJSON *e;
    cJSON_ArrayForEach(e, v) {
        own_email(au, email, e, depth + 1);
    }
}

void sh__auth_own_email(const struct sh_req *r, cJSON *obj)
{
    const struct sh_auth *au = r->auth;
    if (!au || au->superuser || !obj)
        return;
    const cJSON *email = cJSON_GetObjectItemCaseSensitive(au->record, "email");
    if (cJSON_IsString(email))
        own_email(au, email, obj, 0);
}

const struct sh_auth *sh__auth_require_or_reply(struct sh_req *r, const struct sh_collection *c)
{
    if (!r->auth) {
        sh__api_error(r, 401, "The request requires valid record authorization token.", NULL);
        return NULL;
    }
    if (strcmp(r->auth->collection_id, c->id) != 0) {
        sh__api_error(r, 403, "The authorized record is not allowed to perform this action.", NULL);
        return NULL;
    }
    return r->auth;
}

void sh__auth_send_token(struct sh_req *r, const struct sh_collection *c, const char *token,
                         const cJSON *record)
{
    cJSON *o = cJSON_CreateObject();
    SH_ASSERT(o);
    cJSON_AddStringToObject(o, "token", token);
    cJSON_AddItemToObject(o, "record", sh__auth_owner_view(c, record));
    char *json = cJSON_PrintUnformatted(o);
    SH_ASSERT(json);
    sh_res_json(r, 200, json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(o);
}
