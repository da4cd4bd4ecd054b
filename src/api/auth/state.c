/*
 * The accounts state of the server: the Argon2id pool and the limiters made
 * from the configuration, token keys and signing, and the batch of session
 * "last used" times. A request's token check only reads (sh_session_lookup);
 * noting that the session was used is a write, so it is remembered here at
 * most once a minute per session (SH__TOUCH_EVERY_MS: the lookup returns the
 * stored time) and written for many sessions in one writer job every 10 s,
 * or sooner when the batch fills. The same timer deletes expired sessions
 * once an hour (and moves the auth epoch when it did, see auth_cache.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "auth_int.h"
#include "stagehand/config.h"

#define MOD           "auth"
#define TICK_MS       10000
#define SWEEP_TICKS   360  /* an hour */
#define TOUCH_SLOTS   4096 /* power of two; flushed at 3/4 */
#define RL_KEYS       100000
#define RL_KEYS_IDENT 100000

/* ---- the batch of lastUsed times: a small open-addressing set ---- */

struct touch_slot {
    char sid[SH_SESSION_ID_LEN + 1]; /* "" = free */
    int64_t at;
};

struct sh__touch {
    struct sh_db_job job; /* when submitted, the batch belongs to the job */
    struct touch_slot slots[TOUCH_SLOTS];
    size_t n;
};

static int touch_run(sqlite3 *wdb, void *arg)
{
    struct sh__touch *t = arg;
    for (size_t i = 0; i < TOUCH_SLOTS; i++) {
        if (!t->slots[i].sid[0])
            continue;
        int rc = sh_session_touch(wdb, t->slots[i].sid, t->slots[i].at);
        if (rc)
            return rc;
    }
    return 0;
}

static void touch_done(struct sh_db_job *job, int rc)
{
    if (rc)
        sh_log_warn(MOD, "session times not written (%d)", rc);
    free(job->arg);
}

static void touch_flush(struct sh_api_auth *a)
{
    struct sh__touch *t = a->touch;
    if (!t || t->n == 0)
        return;
    a->touch = sh_calloc(1, sizeof(*a->touch));
    t->job.run = touch_run;
    t->job.done = touch_done;
    t->job.arg = t;
    if (sh_db_submit(a->db, &t->job) != 0)
        free(t); /* busy or closing: last-used times are a hint, not data */
}

void sh__auth_touch(struct sh_api_auth *a, const char *sid, int64_t now)
{
    size_t len = strnlen(sid, SH_SESSION_ID_LEN + 1);
    if (!a->touch || len == 0 || len > SH_SESSION_ID_LEN)
        return;
    uint64_t h = 1469598103934665603ull; /* FNV-1a: sids are random already */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)sid[i]) * 1099511628211ull;
    struct sh__touch *t = a->touch;
    for (size_t i = h & (TOUCH_SLOTS - 1);; i = (i + 1) & (TOUCH_SLOTS - 1)) {
        struct touch_slot *s = &t->slots[i];
        if (strcmp(s->sid, sid) == 0) {
            s->at = now;
            return;
        }
        if (!s->sid[0]) {
            memcpy(s->sid, sid, len + 1);
            s->at = now;
            if (++t->n >= TOUCH_SLOTS / 4 * 3)
                touch_flush(a);
            return;
        }
    }
}

/* ---- expired sessions ---- */

struct sweep_job {
    struct sh_db_job job;
    struct sh_api_auth *a; /* outlives the job: stop flushes the writer first */
    int64_t now, removed;
};

static int sweep_run(sqlite3 *wdb, void *arg)
{
    struct sweep_job *j = arg;
    return sh_session_sweep(wdb, j->now, &j->removed);
}

static void sweep_done(struct sh_db_job *job, int rc)
{
    struct sweep_job *j = job->arg;
    if (rc == 0 && j->removed) {
        sh__auth_epoch_bump(j->a);
        sh_log_info(MOD, "%lld expired sessions removed", (long long)j->removed);
    }
    free(j);
}

static void on_tick(uv_timer_t *t)
{
    struct sh_api_auth *a = t->data;
    touch_flush(a);
    if (a->ticks++ % SWEEP_TICKS == 0) {
        struct sweep_job *j = sh_calloc(1, sizeof(*j));
        j->job.run = sweep_run;
        j->job.done = sweep_done;
        j->job.arg = j;
        j->now = sh__now_ms();
        j->a = a;
        if (sh_db_submit(a->db, &j->job) != 0)
            free(j);
    }
}

/* ---- keys and tokens ---- */

size_t sh__auth_key(const struct sh_collection *c, const char *token_key, const char *purpose,
                    unsigned char out[SH__AUTH_KEY_MAX])
{
    if (!c->token_secret || !token_key || !*token_key)
        return 0;
    size_t p = strlen(purpose), s = strlen(c->token_secret), k = strlen(token_key);
    if (p + s + k + 1 > SH__AUTH_KEY_MAX)
        return 0;
    size_t n = 0;
    if (p) {
        memcpy(out, purpose, p);
        out[p] = ':';
        n = p + 1;
    }
    memcpy(out + n, c->token_secret, s);
    memcpy(out + n + s, token_key, k);
    return n + s + k;
}

int64_t sh__auth_ttl_ms(const struct sh_api_auth *a, const struct sh_collection *c)
{
    if (c->token_duration > 0)
        return c->token_duration * 1000;
    return (int64_t)a->cfg->token_ttl;
}

char *sh__auth_sign(struct sh_req *r, const struct sh_collection *c, const char *record_id,
                    const char *token_key, const char *sid, int64_t exp)
{
    struct sh_token_claims cl;
    memset(&cl, 0, sizeof(cl));
    if (strlen(record_id) >= sizeof(cl.id) || strlen(c->id) >= sizeof(cl.collection_id) ||
        strlen(sid) >= sizeof(cl.sid))
        return NULL;
    strcpy(cl.id, record_id);
    strcpy(cl.type, "auth");
    strcpy(cl.collection_id, c->id);
    strcpy(cl.sid, sid);
    cl.refreshable = 1;
    cl.exp = exp;
    unsigned char key[SH__AUTH_KEY_MAX];
    size_t klen = sh__auth_key(c, token_key, "", key);
    char *out = sh_arena_alloc(r->arena, SH_TOKEN_MAX + 1);
    int n = klen && out ? sh_token_sign(&cl, key, klen, out, SH_TOKEN_MAX + 1) : SH_EINVAL;
    sodium_memzero(key, sizeof(key));
    return n > 0 ? out : NULL;
}

/* ---- the pool, while it runs ---- */

int sh__auth_hash(struct sh_api_auth *a, const char *password, size_t len, sh_hash_cb cb, void *arg)
{
    return a->pool ? sh_hash_pool_hash(a->pool, password, len, cb, arg) : -ECANCELED;
}

int sh__auth_needs_rehash(const struct sh_api_auth *a, const char *hash)
{
    return a->pool ? sh_hash_pool_needs_rehash(a->pool, hash) : 0;
}

/* ---- lifecycle ---- */

static struct sh_ratelimit *limiter(const struct sh_config_rate *rate, size_t keys)
{
    return rate->limit ? sh_ratelimit_new(rate->limit, rate->window_ms, keys) : NULL;
}

struct sh_api_auth *sh_api_auth_new(uv_loop_t *loop, const struct sh_config *cfg, struct sh_db *db,
                                    struct sh_catalog *catalog, char *err, size_t errlen)
{
    struct sh_api_auth *a = sh_calloc(1, sizeof(*a));
    a->loop = loop;
    a->cfg = cfg;
    a->db = db;
    a->catalog = catalog;
    char why[160] = "";
    a->trusted = sh_cidr_list_parse(cfg->trusted_proxy, why, sizeof(why));
    if (!a->trusted) {
        snprintf(err, errlen, "invalid value for --trusted-proxy: %s", why);
        free(a);
        return NULL;
    }
    a->exempt = sh_cidr_list_parse(cfg->rate_limit_exempt, why, sizeof(why));
    if (!a->exempt) {
        snprintf(err, errlen, "invalid value for --rate-limit-exempt: %s", why);
        sh_api_auth_free(a);
        return NULL;
    }
    a->rl_auth = limiter(&cfg->rate_limit_auth, RL_KEYS);
    a->rl_identity = limiter(&cfg->rate_limit_identity, RL_KEYS_IDENT);
    a->rl_all = limiter(&cfg->rate_limit_all, RL_KEYS);
    a->rl_pair = limiter(&cfg->rate_limit_identity_ip, RL_KEYS_IDENT);
    a->rl_reset = limiter(&cfg->rate_limit_reset, RL_KEYS_IDENT);
    a->mailer = sh__auth_mailer_parse(cfg->mailer ? cfg->mailer : "file");
    if (a->mailer < 0) {
        snprintf(err, errlen, "invalid value for --mailer: %s (file, log or off)", cfg->mailer);
        sh_api_auth_free(a);
        return NULL;
    }
    struct sh_hash_pool_options o;
    sh_hash_pool_options_init(&o);
    o.threads = cfg->hash_threads;
    o.max_queue = cfg->hash_queue;
    if (cfg->hash_nice > 19) {
        snprintf(err, errlen, "invalid value for --hash-nice: %u (0..19)", cfg->hash_nice);
        sh_api_auth_free(a);
        return NULL;
    }
    o.nice = (int)cfg->hash_nice;
    const char *sched = cfg->hash_sched ? cfg->hash_sched : "batch";
    if (strcmp(sched, "idle") == 0) {
        o.sched = SH_HASH_SCHED_IDLE;
    } else if (strcmp(sched, "batch") == 0) {
        o.sched = SH_HASH_SCHED_BATCH;
    } else if (strcmp(sched, "normal") == 0) {
        o.sched = SH_HASH_SCHED_NORMAL;
    } else {
        snprintf(err, errlen, "invalid value for --hash-sched: %s (idle, batch or normal)", sched);
        sh_api_auth_free(a);
        return NULL;
    }
    if (cfg->argon2_memory) {
        if (cfg->argon2_memory < crypto_pwhash_MEMLIMIT_MIN || cfg->argon2_memory > (uint64_t)1
                                                                                        << 32) {
            snprintf(err, errlen, "invalid value for --argon2-memory: %llu (8KiB..4GiB)",
                     (unsigned long long)cfg->argon2_memory);
            sh_api_auth_free(a);
            return NULL;
        }
        o.memlimit = (size_t)cfg->argon2_memory;
    }
    if (cfg->argon2_iterations) {
        if (cfg->argon2_iterations > 1000) {
            snprintf(err, errlen, "invalid value for --argon2-iterations: %u (1..1000)",
                     cfg->argon2_iterations);
            sh_api_auth_free(a);
            return NULL;
        }
        o.opslimit = cfg->argon2_iterations;
    }
    o.gone = sh__auth_job_gone;
    int rc = sh_hash_pool_start(&a->pool, loop, &o);
    if (rc) {
        snprintf(err, errlen, "cannot start the password hashing threads (%d)", rc);
        sh_api_auth_free(a);
        return NULL;
    }
    a->touch = sh_calloc(1, sizeof(*a->touch));
    a->cache = sh__auth_cache_new(cfg->token_cache);
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&a->timer);
    a->started = 1;
    return a;
}

void sh_api_auth_stop(struct sh_api_auth *a)
{
    if (!a->started)
        return;
    a->started = 0;
    touch_flush(a);
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, NULL);
    sh_hash_pool_stop(a->pool);
    a->pool = NULL;
}

void sh_api_auth_free(struct sh_api_auth *a)
{
    if (!a)
        return;
    sh_cidr_list_free(a->trusted);
    sh_cidr_list_free(a->exempt);
    sh_ratelimit_free(a->rl_auth);
    sh_ratelimit_free(a->rl_identity);
    sh_ratelimit_free(a->rl_all);
    sh_ratelimit_free(a->rl_pair);
    sh_ratelimit_free(a->rl_reset);
    free(a->touch);
    sh__auth_cache_free(a->cache);
    if (a->pool) /* never started serving */
        sh_hash_pool_stop(a->pool);
    free(a);
}
