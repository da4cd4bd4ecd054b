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

/* ---- passwords: Argon2id helpers (src/auth/password.c) ---- */

/* The Argon2id parameters of new hashes unless configured: OWASP's Password
 * Storage Cheat Sheet's first Argon2id configuration, m=19 MiB, t=2, p=1
 * (libsodium always uses p=1). Its other rows (46 MiB t=1, 12 MiB t=3, ...)
 * are rated equal; this one keeps the memory per running hash, which bounds
 * the pool's peak RSS, at under a third of INTERACTIVE's 64 MiB. */
#define SH_ARGON2_OPS_DEFAULT 2u
#define SH_ARGON2_MEM_DEFAULT ((size_t)19 << 20)

/* Room for an encoded hash and its NUL (crypto_pwhash_STRBYTES). */
#define SH_PASSWORD_HASH_MAX 128
/* Longest password accepted, in bytes; longer ones get SH_ETOOBIG. */
#define SH_PASSWORD_MAX_LEN 1024

/*
 * Hashes password (len bytes, any bytes) with Argon2id into out (a
 * NUL-terminated "$argon2id$..." string). ops/mem as crypto_pwhash_str; 0
 * means SH_ARGON2_OPS_DEFAULT / SH_ARGON2_MEM_DEFAULT. Blocks for the whole
 * hash (~20-30 ms at the defaults, 60-100 ms at libsodium's INTERACTIVE):
 * for the command line and the pool's threads, never the loop. Any thread.
 * 0, SH_ETOOBIG (password too long), SH_EINVAL (limits out of range) or
 * -ENOMEM (Argon2's memory could not be had).
 */
int sh_password_hash_sync(const char *password, size_t len, char out[SH_PASSWORD_HASH_MAX],
                          unsigned long long ops, size_t mem);
/* Verifies password against an encoded hash (argon2id or argon2i), blocking
 * like sh_password_hash_sync. 0 = match, SH_EFORBIDDEN = mismatch or a hash
 * that cannot be parsed, SH_ETOOBIG, -ENOMEM. Any thread. */
int sh_password_verify_sync(const char *hash, const char *password, size_t len);
/* 1 if hash was not made by Argon2id with exactly ops/mem (0 = the defaults),
 * so that the caller stores a fresh hash after a successful login; else 0.
 * Parses the string only: cheap enough for the loop. */
int sh_password_needs_rehash(const char *hash, unsigned long long ops, size_t mem);
/* Compares two secrets (tokens, API keys) in time independent of their
 * contents (sodium_memcmp; only the lengths may leak). 1 if equal, else 0. */
int sh_secret_eq(const void *a, size_t alen, const void *b, size_t blen);

/* ---- Argon2id hashing pool (src/auth/hash_pool.c) ---- */

/*
 * The pool owns its threads (not libuv's threadpool, not the writer), so a
 * flood of logins cannot starve file serving or writes. Peak memory is
 * threads x memlimit. Jobs beyond threads + max_queue are refused with
 * SH_EBUSY (a job counts from submission until its callback has run).
 */
struct sh_hash_pool;

/* Default of sh_hash_pool_options.nice. */
#define SH_HASH_NICE_DEFAULT 19

/* How the hashing threads give way to the loop (sh_hash_pool_options.sched). */
enum sh_hash_sched {
    SH_HASH_SCHED_BATCH = 0, /* SCHED_BATCH (no wake-up preemption) plus nice (default) */
    SH_HASH_SCHED_IDLE,      /* SCHED_IDLE: runs only on a CPU nothing else wants */
    SH_HASH_SCHED_NORMAL,    /* SCHED_OTHER plus nice */
};

/* Completion on the loop thread. For a hash job, rc 0 and hash is the
 * NUL-terminated encoded hash (valid during the call only); for a verify job,
 * rc 0 = match, SH_EFORBIDDEN = mismatch, hash is NULL. -ECANCELED when the
 * pool stopped first or the job was dropped (sh_hash_pool_cancel, options'
 * gone); -ENOMEM when Argon2's memory could not be had. Treat any rc but 0
 * as "not authenticated". */
typedef void (*sh_hash_cb)(void *arg, int rc, const char *hash);

struct sh_hash_pool_options {
    unsigned threads;            /* default (and 0): the CPUs the process may run on */
    unsigned max_queue;          /* jobs waiting beyond the running ones; default 64 */
    unsigned long long opslimit; /* of new hashes; default SH_ARGON2_OPS_DEFAULT */
    size_t memlimit;             /* of new hashes; default SH_ARGON2_MEM_DEFAULT */
    /* 0..19 added to each thread's nice value (Linux, per thread) so the
     * loop wins a shared CPU; default SH_HASH_NICE_DEFAULT, 0 = as the loop;
     * not used with SH_HASH_SCHED_IDLE */
    int nice;
    enum sh_hash_sched sched; /* default SH_HASH_SCHED_BATCH */
    /* Optional (default NULL): asked on the loop thread, under the pool's
     * lock, for each job still waiting whenever completions are delivered;
     * 1 drops the job as sh_hash_pool_cancel does. */
    int (*gone)(sh_hash_cb cb, void *arg, void *ctx);
    void *gone_ctx;
};

void sh_hash_pool_options_init(struct sh_hash_pool_options *o);
/* Starts the pool's threads on the loop thread; o may be NULL (defaults). The
 * first thread computes the dummy hash (see sh_hash_pool_verify) before it
 * takes jobs. 0, SH_EINVAL (limits out of range, more than 256 threads, nice
 * outside 0..19) or a
 * negative errno. */
int sh_hash_pool_start(struct sh_hash_pool **out, uv_loop_t *loop,
                       const struct sh_hash_pool_options *o);
/* On the loop thread: lets running jobs finish (this blocks for at most one
 * hash), fails queued ones with -ECANCELED, joins the threads and closes the
 * async handle. Callbacks not yet delivered run on the next loop turn, from
 * the handle's close callback, which then frees the pool: p must not be used
 * after this call, and the loop must run once more (as for any uv_close)
 * before uv_loop_close. p may be NULL. */
void sh_hash_pool_stop(struct sh_hash_pool *p);

/*
 * Queues a job (loop thread only). The password is copied into sodium_malloc
 * memory at once and wiped after use, so the caller may wipe its own copy on
 * return. Returns 0, SH_EBUSY when the queue is full (the caller answers 503
 * with Retry-After), SH_ETOOBIG (password over SH_PASSWORD_MAX_LEN),
 * -ECANCELED after sh_hash_pool_stop, or -ENOMEM (secure memory).
 * cb runs exactly once when 0 is returned - always, even if the request that
 * asked has gone away meanwhile: arg must let cb find that out (a generation
 * number), the pool cannot. Completions come in any order.
 * sh_hash_pool_verify with hash == NULL verifies against a dummy hash of the
 * same parameters and always reports a mismatch: login for an unknown
 * identity costs the same time as for a known one. A hash of
 * SH_PASSWORD_HASH_MAX bytes or more is treated the same way.
 */
int sh_hash_pool_hash(struct sh_hash_pool *p, const char *password, size_t len, sh_hash_cb cb,
                      void *arg);
int sh_hash_pool_verify(struct sh_hash_pool *p, const char *hash, const char *password, size_t len,
                        sh_hash_cb cb, void *arg);
/* Loop thread: drops every job still waiting for a thread whose (cb, arg),
 * as submitted, match(cb, arg, ctx) accepts (it runs under the pool's lock:
 * compare, nothing more). A dropped job is never hashed; its cb runs later
 * from the loop with -ECANCELED, as for a stopped pool. For requests whose
 * client has gone. Returns the number dropped (a running job is not). */
unsigned sh_hash_pool_cancel(struct sh_hash_pool *p,
                             int (*match)(sh_hash_cb cb, void *arg, void *ctx), void *ctx);
/* sh_password_needs_rehash with the pool's parameters. */
int sh_hash_pool_needs_rehash(const struct sh_hash_pool *p, const char *hash);

/* bucket i: hashes that took 2^i .. 2^(i+1)-1 µs (0 µs in bucket 0; the
 * last, all above) */
#define SH_HASH_US_BUCKETS 24

struct sh_hash_pool_stats {
    unsigned threads, running, queued, max_queue; /* running/queued: now */
    int nice;                                     /* as started with */
    uint64_t done, rejected;  /* callbacks run with a result; SH_EBUSY returned */
    uint64_t canceled;        /* callbacks run with -ECANCELED */
    uint64_t dropped;         /* of those, jobs dropped unhashed by sh_hash_pool_cancel */
    enum sh_hash_sched sched; /* as started with */
    uint64_t dummy;           /* verifies run against the dummy hash */
    uint64_t hash_us_total;   /* µs spent in finished hashes and verifies */
    uint64_t hash_us[SH_HASH_US_BUCKETS];
};
/* A consistent snapshot; loop thread. */
void sh_hash_pool_stats(const struct sh_hash_pool *p, struct sh_hash_pool_stats *out);

/* ---- tokens: JWT HS256 (src/auth/jwt.c) ---- */

/* Longest token signed or accepted, in bytes (without the NUL). */
#define SH_TOKEN_MAX 4096

struct sh_token_claims {
    char id[64];   /* record id */
    char type[16]; /* "auth" */
    char collection_id[64];
    char sid[64]; /* session id; "" = none (then not written) */
    int refreshable;
    int64_t exp; /* unix seconds, 0 .. 2^53 */
};

/* Encodes claims as header.payload.signature signed with key (HMAC-SHA256,
 * key of any length but 0; use 32 bytes or more). The payload is plain JSON
 * {"collectionId","exp","id","refreshable","sid","type"} so that the SDK can
 * read exp and type. Writes a NUL-terminated token into out (outlen bytes);
 * returns its length, SH_ETOOBIG (out too small, or over SH_TOKEN_MAX) or
 * SH_EINVAL (a claim string not NUL-terminated in its array, exp out of
 * range, empty key). */
int sh_token_sign(const struct sh_token_claims *c, const unsigned char *key, size_t keylen,
                  char *out, size_t outlen);
/* Decodes the payload WITHOUT checking the signature (to learn which record
 * and collection the key must come from); the shape and the header are
 * checked as by sh_token_verify. 0 or SH_EINVAL. Nothing in out may be
 * trusted until sh_token_verify succeeds. */
int sh_token_peek(const char *token, size_t len, struct sh_token_claims *out);
/* Verifies: at most SH_TOKEN_MAX bytes, three parts of canonical base64url
 * without padding, a constant-time signature check, the header exactly
 * {"alg":"HS256","typ":"JWT"} (compact JSON, the two keys in either order;
 * anything else, alg "none" included, is refused), a payload object with
 * string id, type, collectionId, number exp, optional bool refreshable and
 * string sid (other claims ignored), and exp > now. 0, SH_EINVAL (malformed,
 * wrong alg, bad signature) or SH_EFORBIDDEN (expired; checked last, so only
 * an authentic token is reported expired). out (may be NULL) is filled on 0
 * and zeroed otherwise. */
int sh_token_verify(const char *token, size_t len, const unsigned char *key, size_t keylen,
                    int64_t now, struct sh_token_claims *out);

/* ---- rate limits (src/auth/ratelimit.c) ---- */

struct sh_ratelimit;

/* Longest window accepted by sh_ratelimit_new (about 12 days). */
#define SH_RATELIMIT_WINDOW_MAX (1ull << 30)

/* A limiter of `limit` hits per `window_ms` per key (sliding window
 * approximated by two fixed windows), holding at most max_keys keys (the
 * least recently hit are evicted: memory is bounded). NULL if limit,
 * window_ms or max_keys is 0 or window_ms > SH_RATELIMIT_WINDOW_MAX. One
 * thread (the loop). */
struct sh_ratelimit *sh_ratelimit_new(unsigned limit, uint64_t window_ms, size_t max_keys);
void sh_ratelimit_free(struct sh_ratelimit *rl);

struct sh_ratelimit_result {
    int allowed;
    unsigned limit;
    unsigned remaining;      /* hits left now (after this one) */
    uint64_t reset_ms;       /* ms until the window frees a hit (0 = none taken) */
    uint64_t retry_after_ms; /* when !allowed: ms until a hit would be allowed */
    unsigned used;           /* hits the window holds now, rounded up (0: a clean key) */
};
/* Counts one hit for key (any bytes) at time now_ms (a monotonic clock).
 * A refused hit is not counted, so a client that keeps trying is let in
 * again as the window slides. */
void sh_ratelimit_hit(struct sh_ratelimit *rl, const char *key, size_t keylen, uint64_t now_ms,
                      struct sh_ratelimit_result *out);
/* The number of keys held (at most max_keys). */
size_t sh_ratelimit_size(const struct sh_ratelimit *rl);
/* What sh_ratelimit_hit would answer for key now, counting nothing and
 * making no entry (out->used tells whether the key holds any hit). */
void sh_ratelimit_peek(const struct sh_ratelimit *rl, const char *key, size_t keylen,
                       uint64_t now_ms, struct sh_ratelimit_result *out);
/* Gives back one hit counted for key (the newest window first): for a hit
 * taken before an outcome was known that turned out not to count. A key
 * with no hits (or evicted) is left alone. */
void sh_ratelimit_undo(struct sh_ratelimit *rl, const char *key, size_t keylen, uint64_t now_ms);
/* The window, ms. Fixed window i spans [i*W, (i+1)*W) of the clock given to
 * the calls (a monotonic clock since boot is the same for every process of
 * a machine, so instances agree on window numbers). */
uint64_t sh_ratelimit_window(const struct sh_ratelimit *rl);
/* Raises key's counts to what other instances counted (cur hits in fixed
 * window win, prev in the one before), never lowering them, each capped at
 * limit + 1. A key not held is left alone. */
void sh_ratelimit_raise(struct sh_ratelimit *rl, const char *key, size_t keylen, uint64_t win,
                        unsigned cur, unsigned prev);

/* ---- limits of password checks (src/auth/pwguard.c) ---- */

/* The keys one check is counted under (any bytes). */
struct sh_pwguard_keys {
    const char *pair; /* account and client address */
    size_t pair_len;
    const char *account;
    size_t account_len;
};

/* What sh_pwguard_take decided, for sh_pwguard_settle. */
struct sh_pwguard_ticket {
    int allowed;                       /* 0: refuse (429) with res */
    int limited;                       /* some limiter applied: res holds its headers */
    int pair_counted, account_counted; /* what to give back on a match */
    struct sh_ratelimit_result res;    /* of the limit that refused, or counted */
};

/* Decides whether a password check may run now (the file's scheme) and, if
 * so, counts it in pair (per account and address) and account (the
 * ceiling; either may be NULL = off). One thread (the loop). */
void sh_pwguard_take(struct sh_ratelimit *pair, struct sh_ratelimit *account,
                     const struct sh_pwguard_keys *k, uint64_t now_ms, struct sh_pwguard_ticket *t);
/* After the check of an allowed ticket: a match (matched != 0) gives its
 * counts back; a mismatch keeps them as failures. Also call it with
 * matched = 1 when the check never ran. */
void sh_pwguard_settle(struct sh_ratelimit *pair, struct sh_ratelimit *account,
                       const struct sh_pwguard_keys *k, uint64_t now_ms,
                       const struct sh_pwguard_ticket *t, int matched);

/* ---- client address (src/auth/client_ip.c) ---- */

struct sh_cidr_list;

/* Parses "10.0.0.0/8,::1,192.168.1.5" (addresses or CIDR blocks, IPv4 and
 * IPv6, separated by commas, spaces around allowed; host bits are masked;
 * an IPv4-mapped block such as ::ffff:10.0.0.0/104 means 10.0.0.0/8). An
 * empty or NULL string is an empty list. NULL and a message in err (may be
 * NULL) on error. */
struct sh_cidr_list *sh_cidr_list_parse(const char *s, char *err, size_t errlen);
void sh_cidr_list_free(struct sh_cidr_list *l);
/* 1 if ip (NUL-terminated; IPv4-mapped IPv6 counts as IPv4) is in l, else 0
 * (also for NULL l and anything that is not an address). */
int sh_cidr_list_contains(const struct sh_cidr_list *l, const char *ip);
/* The client address: peer, or when peer is trusted, the right-most address
 * of X-Forwarded-For (xff, may be NULL; several header lines joined with ","
 * in order) that is not trusted. Trusted entries are skipped from the right;
 * the walk also stops at the first malformed entry (a port, a zone, an empty
 * entry, "unknown") or after 32 entries, and then the client is the last
 * address walked (the left-most trusted one), or peer if none: a malformed
 * entry is never taken as the client. Writes it in canonical text form to out
 * (NUL-terminated, outlen >= 46; IPv4-mapped IPv6 as IPv4). A peer that is
 * not an address (a unix socket) is copied as given and never trusted. */
void sh_client_ip(const struct sh_cidr_list *trusted, const char *peer, const char *xff,
                  size_t xfflen, char *out, size_t outlen);
/* The key a client address (as sh_client_ip writes it) is counted under by
 * the per-address limits: an IPv4 address as it is, an IPv6 address as its
 * /64 ("2001:db8:1:2::/64": a site's prefix, as RFC 6177 assigns them), so
 * that one holder of a /64 cannot spread over 2^64 keys. Anything else is
 * copied. out: outlen >= 50 bytes, NUL-terminated. */
void sh_client_ip_bucket(const char *ip, char *out, size_t outlen);

#endif
