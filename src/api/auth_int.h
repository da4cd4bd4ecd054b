/*
 * Internals of the accounts handlers (auth_state.c: the shared state, token
 * keys and signing, the batch of session times; auth_mw.c: the token
 * middleware and what records handlers need of the identity; ratelimit.c:
 * client address and rate limits; auth_password.c: sign-in; auth_session.c:
 * refresh, logout, methods; auth_reset.c: password reset). Not a public
 * interface.
 *
 * Token keys: an auth token is signed (HS256) with the collection's
 * authToken.secret followed by the record's tokenKey, so rotating either
 * invalidates it; a password reset token with "passwordReset:" + both, so
 * the two kinds can never stand for each other.
 */
#ifndef STAGEHAND_API_AUTH_INT_H
#define STAGEHAND_API_AUTH_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "api/records.h"
#include "db/sessions.h"
#include "stagehand/auth.h"

struct cJSON;

#define SH__AUTH_KEY_MAX        512   /* secret (<= 255) + tokenKey (<= 60) + purpose */
#define SH__SESSIONS_PER_RECORD 100   /* older sessions of a record are dropped */
#define SH__TOUCH_EVERY_MS      60000 /* a session's lastUsed is written at most this often */
#define SH__RESET_TTL_S         1800  /* password reset tokens: 30 minutes */

/* ---- auth_state.c ---- */

/* The signing key of purpose ("" for auth tokens, "passwordReset") for a
 * record of c with tokenKey; returns its length (0 when c has no secret). */
size_t sh__auth_key(const struct sh_collection *c, const char *token_key, const char *purpose,
                    unsigned char out[SH__AUTH_KEY_MAX]);
/* Token lifetime for c in ms: its authToken.duration, else --token-ttl. */
int64_t sh__auth_ttl_ms(const struct sh_api_auth *a, const struct sh_collection *c);
/* Signs an auth token for session sid of record_id (exp in Unix seconds)
 * into the request arena. NULL past the arena's limit or on a signing error. */
char *sh__auth_sign(struct sh_req *r, const struct sh_collection *c, const char *record_id,
                    const char *token_key, const char *sid, int64_t exp);
/* The hashing pool's calls, -ECANCELED once sh_api_auth_stop ran (a
 * completion delivered during shutdown may still ask for more). */
int sh__auth_hash(struct sh_api_auth *a, const char *password, size_t len, sh_hash_cb cb,
                  void *arg);
int sh__auth_verify(struct sh_api_auth *a, const char *hash, const char *password, size_t len,
                    sh_hash_cb cb, void *arg);
int sh__auth_needs_rehash(const struct sh_api_auth *a, const char *hash);
/* Notes that session sid was used at now (ms); written in a batch later. */
void sh__auth_touch(struct sh_api_auth *a, const char *sid, int64_t now);

/* ---- auth_mw.c ---- */

/* The auth collection named by :collection, from a snapshot the request
 * keeps (*snap) until it ends. NULL after answering 404 (unknown, or not an
 * auth collection). */
const struct sh_collection *sh__auth_collection(struct sh_req *r, struct sh_api_auth *a,
                                                struct sh_catalog_snap **snap);
/* A copy of an auth record (as sh_auth_row has it) the way its owner sees
 * it: hidden fields removed, email kept. */
struct cJSON *sh__auth_owner_view(const struct sh_collection *c, const struct cJSON *record);
/* Shows a signed-in requester its own email wherever its record appears in
 * obj (a record, an array of them, a list envelope, expansions). */
void sh__auth_own_email(const struct sh_req *r, struct cJSON *obj);
/* Answers 401 unless the request carries a token of collection c; returns
 * the identity or NULL after answering (403 for another collection's). */
const struct sh_auth *sh__auth_require(struct sh_req *r, const struct sh_collection *c);
/* Sends {"token":..., "record":...} (record: the owner's view). */
void sh__auth_send_token(struct sh_req *r, const struct sh_collection *c, const char *token,
                         const struct cJSON *record);

/* ---- ratelimit.c ---- */

/* True when no limit applies to r (a superuser, or an exempt address). */
bool sh__rl_exempt(const struct sh_req *r, const struct sh_api_auth *a);
/* Counts a hit of key on rl (NULL = off) unless r is exempt; adds the
 * X-RateLimit-* headers. 0 when allowed, or -1 after answering 429 with
 * Retry-After. */
int sh__rl_hit(struct sh_req *r, const struct sh_api_auth *a, struct sh_ratelimit *rl,
               const char *key, size_t keylen);
/* The per-IP limit of the auth routes (--rate-limit-auth). */
int sh__rl_auth(struct sh_req *r, const struct sh_api_auth *a);

#endif
