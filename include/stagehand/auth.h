/*
 * stagehand auth: the Argon2id hashing pool, HS256 tokens, rate limits and the
 * client address behind trusted proxies (the building blocks in src/auth/),
 * and the authenticated identity a request carries (set by the auth
 * middleware in api/, read by handlers and rules).
 *
 * Threads: everything here is called on the loop thread, except that the
 * hashing pool runs its work on threads of its own and completes on the loop.
 */
#ifndef STAGEHAND_AUTH_H
#define STAGEHAND_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "stagehand/core.h"

/* ---- the identity of a request ---- */

struct cJSON;

struct sh_auth {
    int superuser;             /* authenticated as a record of _superusers */
    const char *collection_id; /* the auth collection of the record */
    const char *collection_name;
    const char *record_id;
    const char *session_id;     /* the token's `sid` */
    const struct cJSON *record; /* the auth record as rules see it (all fields but
                                   password and tokenKey); owned by the request */
};

/* ---- Argon2id hashing pool (src/auth/hash_pool.c) ---- */

struct sh_hash_pool;

struct sh_hash_pool_options {
    unsigned threads;            /* default: the number of cores */
    unsigned max_queue;          /* jobs waiting beyond the running ones; default 64 */
    unsigned long long opslimit; /* default crypto_pwhash_OPSLIMIT_INTERACTIVE */
    size_t memlimit;             /* default crypto_pwhash_MEMLIMIT_INTERACTIVE */
};

void sh_hash_pool_options_init(struct sh_hash_pool_options *o);
/* Starts the pool's threads. 0 or a negative code. */
int sh_hash_pool_start(struct sh_hash_pool **out, uv_loop_t *loop,
                       const struct sh_hash_pool_options *o);
/* Finishes running jobs, fails queued ones with SH_ECANCELED-like -ECANCELED,
 * joins the threads, frees the pool. Completions still run on the loop. */
void sh_hash_pool_stop(struct sh_hash_pool *p);

/* Completion on the loop thread. For a hash job, rc 0 and hash is the
 * NUL-terminated encoded hash (valid during the call only); for a verify job,
 * rc 0 = match, SH_EFORBIDDEN = mismatch. -ECANCELED when stopped. */
typedef void (*sh_hash_cb)(void *arg, int rc, const char *hash);

/*
 * Queues a job. The password is copied into sodium_malloc memory at once and
 * wiped after use, so the caller may wipe its own copy on return. Returns 0,
 * or SH_EBUSY when the queue is full (the caller answers 503 with
 * Retry-After). cb runs exactly once when 0 is returned.
 * sh_hash_pool_verify with hash == NULL verifies against a dummy hash of the
 * same parameters and always reports a mismatch: login for an unknown
 * identity costs the same time as for a known one.
 */
int sh_hash_pool_hash(struct sh_hash_pool *p, const char *password, size_t len, sh_hash_cb cb,
                      void *arg);
int sh_hash_pool_verify(struct sh_hash_pool *p, const char *hash, const char *password, size_t len,
                        sh_hash_cb cb, void *arg);

struct sh_hash_pool_stats {
    unsigned threads, running, queued, max_queue;
    uint64_t done, rejected;
};
void sh_hash_pool_stats(const struct sh_hash_pool *p, struct sh_hash_pool_stats *out);

/* ---- tokens: JWT HS256 (src/auth/jwt.c) ---- */

struct sh_token_claims {
    char id[64];   /* record id */
    char type[16]; /* "auth" */
    char collection_id[64];
    char sid[64]; /* session id */
    int refreshable;
    int64_t exp; /* unix seconds */
};

/* Encodes claims as header.payload.signature signed with key (HMAC-SHA256).
 * Writes a NUL-terminated token into out (outlen bytes); returns its length
 * or SH_ETOOBIG. */
int sh_token_sign(const struct sh_token_claims *c, const unsigned char *key, size_t keylen,
                  char *out, size_t outlen);
/* Decodes the payload WITHOUT checking the signature (to learn which record
 * and collection the key must come from). 0 or SH_EINVAL. */
int sh_token_peek(const char *token, size_t len, struct sh_token_claims *out);
/* Verifies: exactly the header {"alg":"HS256","typ":"JWT"}, a constant-time
 * signature check, base64url without padding, exp > now. 0, SH_EINVAL
 * (malformed, wrong alg, bad signature) or SH_EFORBIDDEN (expired). */
int sh_token_verify(const char *token, size_t len, const unsigned char *key, size_t keylen,
                    int64_t now, struct sh_token_claims *out);

/* ---- rate limits (src/auth/ratelimit.c) ---- */

struct sh_ratelimit;

/* A limiter of `limit` hits per `window_ms` per key (sliding window
 * approximated by two fixed windows), holding at most max_keys keys (the
 * oldest are evicted: memory is bounded). */
struct sh_ratelimit *sh_ratelimit_new(unsigned limit, uint64_t window_ms, size_t max_keys);
void sh_ratelimit_free(struct sh_ratelimit *rl);

struct sh_ratelimit_result {
    int allowed;
    unsigned limit;
    unsigned remaining;
    uint64_t reset_ms;       /* ms until the window frees a hit */
    uint64_t retry_after_ms; /* when !allowed */
};
/* Counts one hit for key at time now_ms. */
void sh_ratelimit_hit(struct sh_ratelimit *rl, const char *key, size_t keylen, uint64_t now_ms,
                      struct sh_ratelimit_result *out);

/* ---- client address (src/auth/client_ip.c) ---- */

struct sh_cidr_list;

/* Parses "10.0.0.0/8,::1,192.168.1.5"; NULL and a message in err on error. */
struct sh_cidr_list *sh_cidr_list_parse(const char *s, char *err, size_t errlen);
void sh_cidr_list_free(struct sh_cidr_list *l);
int sh_cidr_list_contains(const struct sh_cidr_list *l, const char *ip);
/* The client address: peer, or when peer is trusted, the right-most address
 * of X-Forwarded-For (xff, may be NULL) that is not trusted. Writes it to out
 * (NUL-terminated, outlen >= 46). */
void sh_client_ip(const struct sh_cidr_list *trusted, const char *peer, const char *xff,
                  size_t xfflen, char *out, size_t outlen);

#endif
