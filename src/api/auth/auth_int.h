/*
 * Internals of the accounts handlers (state.c: the shared state, token keys
 * and signing, the batch of session times; token_check.c: the token
 * middleware and what records handlers need of the identity; limits.c:
 * client address and rate limits; gate.c: every password check and its
 * limits; mail.c: the mailer; sign_in.c: sign-in; session_routes.c: refresh,
 * logout, methods; password_reset.c: password reset; token_cache.c: the
 * verified-token cache and the auth epoch that invalidates it). Not a public
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

#include <uv.h>

#include "records_int.h"
#include "stagehand/auth.h"
#include "stagehand/lru.h"
#include "stagehand/sessions.h"

struct cJSON;

#define SH__AUTH_KEY_MAX        512   /* secret (<= 255) + tokenKey (<= 60) + purpose */
#define SH__SESSIONS_PER_RECORD 100   /* older sessions of a record are dropped */
#define SH__TOUCH_EVERY_MS      60000 /* a session's lastUsed is written at most this often */
#define SH__RESET_TTL_S         1800  /* password reset tokens: 30 minutes */

struct sh__touch;
struct sh__auth_cache;

/*
 * The accounts state of one server (opaque outside api/: api.h), made by
 * sh_api_auth_new. What the auth middleware and routes share: the hashing
 * pool, the rate limiters, the trusted-proxy and exempt address lists, the
 * verified-token cache and its epoch, and the batch of session "last used"
 * times waiting to be written. Loop thread.
 */
struct sh_api_auth {
    uv_loop_t *loop;
    const struct sh_config *cfg;
    struct sh_db *db;
    struct sh_catalog *catalog;
    struct sh_hash_pool *pool;
    struct sh_cidr_list *trusted, *exempt;
    struct sh_ratelimit *rl_auth, *rl_identity, *rl_all; /* NULL = off */
    struct sh_ratelimit *rl_pair, *rl_reset;             /* per (account, address); reset mails */
    int mailer;                                          /* enum in mail.c */
    struct sh__touch *touch;                             /* pending lastUsed writes */
    uv_timer_t timer;                                    /* flushes them; sweeps sessions */
    uint64_t ticks;
    struct sh__auth_cache *cache; /* verified tokens (--token-cache); NULL = off */
    uint64_t epoch;               /* moves at every revocation (token_cache.c) */
    /* In a group of instances on one data directory (sh_api_auth_join_group):
     * the shared part of the epoch, the sum of the table versions of
     * _sessions and every auth collection, read again when the database
     * changed (its PRAGMA data_version) or the schema moved. */
    bool group;
    struct sh_redis *redis; /* the group's (shared_limits.c); NULL alone */
    int64_t shared_epoch, shared_dv, shared_schema;
    bool shared_known;
    /* The records API's count cache (borrowed; set by sh_api_records_new,
     * NULL before): password reset's write jobs end their marks there. */
    struct sh_rec_counts *counts;
    /* The records API (borrowed; set by sh_api_records_new, NULL before):
     * password reset's committed writes pass through its
     * sh_api_records_committed like every records write, so its realtime
     * subscribers hear of what the accounts routes commit (a password
     * reset's write, a logout-all's new tokenKey). */
    struct sh_api_records *records;
    int started;
};

/* ---- state.c ---- */

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
/* Hashes a new password on the pool; -ECANCELED once sh_api_auth_stop ran
 * (a completion delivered during shutdown may still ask for more). Call it
 * only for a request authorized to set that password (a sign-up within the
 * per-address limit, a change the update rule and the old password allowed,
 * a valid reset token, a rehash after a sign-in): a hash is never computed
 * for a request that cannot succeed. Passwords are checked only through
 * sh__auth_check_password (gate.c). arg points at a struct sh__api_job
 * (first in the caller's struct) started on the request before the handler
 * returns, so that sh__auth_job_gone can find the request. */
int sh__auth_hash(struct sh_api_auth *a, const char *password, size_t len, sh_hash_cb cb,
                  void *arg);
int sh__auth_needs_rehash(const struct sh_api_auth *a, const char *hash);
/* Notes that session sid was used at now (ms); written in a batch later. */
void sh__auth_touch(struct sh_api_auth *a, const char *sid, int64_t now);

/* ---- gate.c ---- */

#define SH__GATE_IP_COUNTED 1u /* the route counted this request per address already */

/* Checks password (len bytes) against hash (NULL: the pool's dummy, for an
 * account that does not exist) on the hashing pool, for `account` of c (a
 * record id, or for an unknown account the identity it was asked by), after
 * counting the check against the per-address, per-(account, address) and
 * per-account limits (the file's comment). The caller has authorized
 * everything else first. As for sh__auth_hash, arg points at a struct
 * sh__api_job (first in the caller's struct) started on r before the
 * handler returns: sh__auth_job_gone finds the request through it. Returns
 * 0 when queued (cb runs later on the loop,
 * as sh_hash_pool_verify's; a match gives the counts back), 1 after
 * answering 429, or a negative code with nothing answered (SH_ETOOBIG a
 * password over the limit, SH_EBUSY / -ENOMEM the queue is full,
 * -ECANCELED shutting down). */
/* The pool's gone predicate (sh_hash_pool_options.gone; loop thread): 1 if
 * the request a waiting hash job (of sh__auth_hash or
 * sh__auth_check_password) is for has ended or its client has closed the
 * connection, so the job is dropped before it is hashed. */
int sh__auth_job_gone(sh_hash_cb cb, void *arg, void *ctx);
int sh__auth_check_password(struct sh_req *r, struct sh_api_auth *a, const struct sh_collection *c,
                            const char *account, const char *hash, const char *password, size_t len,
                            unsigned flags, sh_hash_cb cb, void *arg);

/* ---- mail.c ---- */

/* Hands a password-reset mail for record id (address email) of c to the
 * mailer of --mailer: appended to <dir>/mail.log (created 0600) off the
 * loop, printed in the log (mailer "log", development only), or dropped.
 * The token never reaches the log otherwise. */
void sh__auth_mail_reset(struct sh_api_auth *a, const struct sh_collection *c, const char *id,
                         const char *email, const char *token);
/* The mailer named by --mailer (enum in mail.c), or -1. */
int sh__auth_mailer_parse(const char *name);

/* ---- token_cache.c ---- */

#define SH__AUTH_CACHE_MAX_AGE_MS 60000 /* a cached token is checked again after this */

/*
 * A verified identity: what r->auth points at (au; its strings live in the
 * struct) and what the cache needs to know whether it still holds. Loop
 * thread only; reference-counted (the cache holds one, each request that
 * adopted it one until the request ends).
 */
struct sh__auth_ident {
    struct sh_auth au;
    struct cJSON *record; /* owned; au.record */
    unsigned refs;
    uint64_t epoch;          /* sh_api_auth.epoch when it was verified */
    int64_t schema;          /* the catalog's schema version then */
    int64_t expires;         /* ms: min(token exp, session expiry, verified + max age) */
    int64_t last_used;       /* the session's lastUsed as last known (touch batching) */
    struct sh_lru_node node; /* the cache's links */
    bool cached;             /* linked in the cache (which holds a reference) */
    char *tok;               /* the token it was verified for (owned; set when cached) */
    size_t tok_len;
    char strings[];
};

/* A new identity with one reference; record (as sh_session_row has it) is
 * taken over. */
struct sh__auth_ident *sh__auth_ident_new(const struct sh_collection *c, const char *record_id,
                                          const char *sid, struct cJSON *record);
/* Drops a reference; the last frees it. NULL is ignored. */
void sh__auth_ident_unref(struct sh__auth_ident *id);

struct sh__auth_cache;
struct sh__auth_cache_stats {
    uint64_t hits, misses; /* misses: no entry for the token */
    uint64_t stale;        /* entries found but dropped: old epoch or schema, expired */
    uint64_t evicted;      /* dropped for room (least recently used) */
    size_t size, cap;
};
/* A cache of at most cap tokens; NULL (off) when cap is 0. */
struct sh__auth_cache *sh__auth_cache_new(size_t cap);
void sh__auth_cache_free(struct sh__auth_cache *c);
/* The identity cached for the token (len bytes) if it was made at this
 * epoch and schema version and now (ms) is before its expiry, else NULL
 * (a stale entry is dropped). Borrowed: take a reference to keep it. c may
 * be NULL. */
struct sh__auth_ident *sh__auth_cache_find(struct sh__auth_cache *c, const char *tok, size_t len,
                                           uint64_t epoch, int64_t schema, int64_t now);
/* Caches id (its epoch, schema and expires set) for the token, taking a
 * reference; replaces an entry of the same token and evicts the least
 * recently used beyond cap. c may be NULL. */
void sh__auth_cache_put(struct sh__auth_cache *c, const char *tok, size_t len,
                        struct sh__auth_ident *id);
void sh__auth_cache_stats(const struct sh__auth_cache *c, struct sh__auth_cache_stats *out);

/* Moves the auth epoch: every cached token is verified again. Call on the
 * loop after a write that can change an identity or end a session has
 * committed, BEFORE its response is sent. a may be NULL. */
void sh__auth_epoch_bump(struct sh_api_auth *a);
/* The epoch a cached token is checked against and stamped with: the local
 * one, plus in a group the shared one (sh_api_auth_join_group). Read it
 * inside the read transaction of the lookup it stamps. */
uint64_t sh__auth_epoch_now(struct sh_api_auth *a);

/* ---- shared_limits.c ---- */

/* In a group, counts a hit just counted locally under key in rl (named
 * name: "auth", "all", "reset", "pair", "account") in Redis too, and raises
 * the local counts to the group's when Redis answers. No-op alone. */
void sh__rl_share(const struct sh_api_auth *a, struct sh_ratelimit *rl, const char *name,
                  const char *key, size_t keylen);
/* The records write hook: bumps the epoch when the job wrote its own auth
 * collection or reached one by a cascade (w->auth_written), whatever rc (a
 * failed write bumping costs one lookup). a may be NULL. */
void sh__auth_record_written(struct sh_api_auth *a, const struct sh_rec_write *w);

/* ---- token_check.c ---- */

/* The auth collection named by :collection, from a snapshot the request
 * keeps (*snap) until it ends. NULL after answering 404 (unknown, or not an
 * auth collection). */
const struct sh_collection *sh__auth_collection_or_reply(struct sh_req *r, struct sh_api_auth *a,
                                                         struct sh_catalog_snap **snap);
/* A copy of an auth record (as sh_auth_row has it) the way its owner sees
 * it: hidden fields removed, email kept. */
struct cJSON *sh__auth_owner_view(const struct sh_collection *c, const struct cJSON *record);
/* Shows a signed-in requester its own email wherever its record appears in
 * obj (a record, an array of them, a list envelope, expansions). */
void sh__auth_own_email(const struct sh_req *r, struct cJSON *obj);
/* Answers 401 unless the request carries a token of collection c; returns
 * the identity or NULL after answering (403 for another collection's). */
const struct sh_auth *sh__auth_require_or_reply(struct sh_req *r, const struct sh_collection *c);
/* Sends {"token":..., "record":...} (record: the owner's view). */
void sh__auth_send_token(struct sh_req *r, const struct sh_collection *c, const char *token,
                         const struct cJSON *record);

/* ---- limits.c ---- */

/* True when no limit applies to r (a superuser, or an exempt address). */
bool sh__rl_exempt(const struct sh_req *r, const struct sh_api_auth *a);
/* The per-IP limit of the auth routes (--rate-limit-auth). */
int sh__rl_auth_or_reply(struct sh_req *r, const struct sh_api_auth *a);
/* Adds the X-RateLimit-* headers of res and, when it refused, answers 429
 * with Retry-After. */
void sh__rl_answer(struct sh_req *r, const struct sh_ratelimit_result *res);

#define SH__RL_ADDR_MAX 64
/* The key r's client address is counted under (sh_client_ip_bucket: IPv6
 * by /64). */
void sh__rl_addr(const struct sh_req *r, char out[SH__RL_ADDR_MAX]);

/* ---- file_token.c ---- */

#define SH__FILE_TOKEN_TTL_S 180 /* file tokens: 3 minutes, as PocketBase */

/* Whose a verified file token is. */
struct sh__file_token_owner {
    char record_id[64];
    char collection_id[64];
    int superuser;
};
/* POST /api/files/token (ud: the accounts state): {"token"} for the
 * signed-in record; 401 for a guest. */
int sh_api_files_token(struct sh_req *r, void *ud);
/* Verifies a file token (tok, len bytes; NULL is refused) against its
 * record's current tokenKey. 0 with *who filled, SH_EFORBIDDEN (malformed,
 * forged, expired, another kind of token, a record gone), or a storage
 * error. Loop thread (reads on the loop's connection). */
int sh__auth_file_token_check(struct sh_api_auth *a, const char *tok, size_t len,
                              struct sh__file_token_owner *who);
/* Makes the owner of file token tok (len bytes) r's identity for rules
 * (r->auth, kept until the request ends), or a guest (r->auth NULL) when
 * tok is NULL or not a valid file token. 0, or a storage error / -ENOMEM.
 * Loop thread. */
int sh__auth_file_token_adopt(struct sh_api_auth *a, struct sh_req *r, const char *tok, size_t len);

#endif
