/*
 * File tokens: PocketBase's `POST /api/files/token` and their check.
 * A file token is a short-lived (SH__FILE_TOKEN_TTL_S) HS256 token of type
 * "file" for the signed-in record, signed with the key of purpose "file"
 * (the collection's secret and the record's tokenKey, as auth tokens but
 * with its own purpose, so neither kind of token can pass for the other,
 * and rotating the tokenKey revokes both). It authorizes a download named
 * in a URL (`?token=`), where an Authorization header cannot be sent:
 * protected files (the files work) and backups (superusers only).
 *
 * Reuse: sh__auth_file_token_check(a, token, len, &who) verifies one and says
 * whose it is (record, collection, superuser or not); a handler of this
 * library includes auth_int.h and calls it.
 */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "auth_int.h"
#include "records_int.h"
#include "stagehand/sessions.h"

int sh_api_files_token(struct sh_req *r, void *ud)
{
    struct sh_api_auth *a = ud;
    if (!r->auth) {
        sh__api_error(r, 401, "Missing auth record context.", NULL);
        return SH_HANDLED;
    }
    const struct sh_collection *c = sh_catalog_find(a->catalog, r->auth->collection_id);
    if (!c) {
        sh__api_fail(r, SH_ENOTFOUND);
        return SH_HANDLED;
    }
    struct sh_auth_row row;
    int rc = sh_auth_find_id(a->db, NULL, c, r->auth->record_id, &row);
    if (rc) {
        sh__api_fail(r, rc);
        return SH_HANDLED;
    }
    struct sh_token_claims cl;
    memset(&cl, 0, sizeof(cl));
    snprintf(cl.id, sizeof(cl.id), "%s", row.id);
    strcpy(cl.type, "file");
    snprintf(cl.collection_id, sizeof(cl.collection_id), "%s", c->id);
    cl.exp = sh__now_ms() / 1000 + SH__FILE_TOKEN_TTL_S;
    unsigned char key[SH__AUTH_KEY_MAX];
    size_t klen = sh__auth_key(c, row.token_key, "file", key);
    sh_auth_row_deinit(&row);
    char tok[SH_TOKEN_MAX + 1];
    int n = klen ? sh_token_sign(&cl, key, klen, tok, sizeof(tok)) : SH_EINVAL;
    sodium_memzero(key, sizeof(key));
    if (n <= 0) {
        sh__api_fail(r, SH_EINTERNAL);
        return SH_HANDLED;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", tok);
    char *json = cJSON_PrintUnformatted(o);
    SH_ASSERT(json);
    sh_res_json(r, 200, json, strlen(json));
    cJSON_free(json);
    cJSON_Delete(o);
    return SH_HANDLED;
}

/* Verifies tok; 0 with *cout (the token's auth collection) and *rowout
 * (its record, the caller deinits), or as sh__auth_file_token_check. */
static int verify(struct sh_api_auth *a, const char *tok, size_t len,
                  const struct sh_collection **cout, struct sh_auth_row *rowout)
{
    struct sh_token_claims cl;
    if (!tok || sh_token_peek(tok, len, &cl) || strcmp(cl.type, "file") != 0)
        return SH_EFORBIDDEN;
    const struct sh_collection *c = sh_catalog_find(a->catalog, cl.collection_id);
    if (!c || c->type != SH_COLLECTION_AUTH)
        return SH_EFORBIDDEN;
    struct sh_auth_row row;
    int rc = sh_auth_find_id(a->db, NULL, c, cl.id, &row);
    if (rc)
        return rc == SH_ENOTFOUND ? SH_EFORBIDDEN : rc;
    unsigned char key[SH__AUTH_KEY_MAX];
    size_t klen = sh__auth_key(c, row.token_key, "file", key);
    struct sh_token_claims v;
    int ok = klen && sh_token_verify(tok, len, key, klen, sh__now_ms() / 1000, &v) == 0 &&
             strcmp(v.type, "file") == 0 && strcmp(v.id, row.id) == 0 &&
             strcmp(v.collection_id, c->id) == 0;
    sodium_memzero(key, sizeof(key));
    if (!ok) {
        sh_auth_row_deinit(&row);
        return SH_EFORBIDDEN;
    }
    *cout = c;
    *rowout = row;
    return 0;
}

int sh__auth_file_token_check(struct sh_api_auth *a, const char *tok, size_t len,
                              struct sh__file_token_owner *who)
{
    memset(who, 0, sizeof(*who));
    const struct sh_collection *c;
    struct sh_auth_row row;
    int rc = verify(a, tok, len, &c, &row);
    if (rc)
        return rc;
    snprintf(who->record_id, sizeof(who->record_id), "%s", row.id);
    sh_auth_row_deinit(&row);
    snprintf(who->collection_id, sizeof(who->collection_id), "%s", c->id);
    who->superuser = c->system && strcmp(c->name, "_superusers") == 0;
    return 0;
}

static void drop_ident(void *p)
{
    sh__auth_ident_unref(p);
}

int sh__auth_file_token_adopt(struct sh_api_auth *a, struct sh_req *r, const char *tok, size_t len)
{
    r->auth = NULL;
    const struct sh_collection *c;
    struct sh_auth_row row;
    int rc = verify(a, tok, len, &c, &row);
    if (rc)
        return rc == SH_EFORBIDDEN ? 0 : rc;
    struct sh__auth_ident *id = sh__auth_ident_new(c, row.id, "", row.record);
    row.record = NULL;
    sh_auth_row_deinit(&row);
    if (sh_arena_defer(r->arena, drop_ident, id) != 0) {
        sh__auth_ident_unref(id);
        return -ENOMEM;
    }
    r->auth = &id->au;
    return 0;
}
