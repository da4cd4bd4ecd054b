/*
 * The verified-token cache: what the token middleware learnt about a token
 * (its collection, record, session and the record as rules see it), kept on
 * the loop so that the next request with the same token costs one keyed
 * hash and a table probe instead of base64, HMAC, JSON parsing and an
 * indexed read.
 *
 * An entry is found by a keyed SipHash-2-4 (libsodium's
 * crypto_shorthash_siphash24, 64 bits, under a random key per cache) of the
 * token's length and its last 32 bytes, then confirmed by comparing the
 * whole token, which the entry keeps, in constant time. A signed token ends
 * in its signature (an HMAC: 43 base64url bytes), so its tail is as unique
 * as the whole and the lookup reads ~40 bytes instead of hashing all ~250 of
 * it on every authenticated request; two tokens with the same tail share a
 * bucket and the full comparison tells them apart, so the tail choice costs
 * nothing in correctness. Bucket positions cannot be aimed at without the
 * key. In core's hash table with a recency order (lru.h). At most `cap`
 * entries; the least recently used goes.
 *
 * An entry answers only while all of these hold, so that caching never
 * outlives what the database would say:
 *  - its auth epoch is the current one. The epoch (sh_api_auth.epoch) moves
 *    on the loop, before the response of every acknowledged write that can
 *    change an identity or end a session (see sh__auth_epoch_bump's
 *    callers), so the request after that response misses and reads again.
 *    A lookup that raced the write cannot make a fresh-looking entry: the
 *    loop's read transaction ends before any write completion is delivered
 *    (db.h), so a read made before the commit was tagged with the old epoch;
 *  - its schema version is the catalog's (a collection change, or a
 *    `stagehand superuser` run by another process, which bumps _meta's
 *    schema_version for that reason: the middleware refreshes the catalog
 *    before it looks a token up - a PRAGMA data_version when nothing moved -
 *    so CLI revocations hold from the next request too; the catalog's 1 s
 *    poll alone would make it within a second);
 *  - now is before its expiry: the token's exp, the session's expiry and 60 s
 *    after it was made (a safety net), whichever comes first.
 *
 * An identity is reference-counted (loop only): the cache holds one, and
 * each request that adopted it holds one until its arena is reset, so an
 * eviction never frees what a request still reads.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "auth_int.h"
#include "stagehand/lru.h"

#define TAIL 32 /* bytes of the token's end that are hashed */

struct sh__auth_cache {
    struct sh_lru lru; /* struct sh__auth_ident, by key_of() */
    size_t cap;
    unsigned char key[crypto_shorthash_siphash24_KEYBYTES];
    struct sh__auth_cache_stats st;
};

struct sh__auth_ident *sh__auth_ident_new(const struct sh_collection *c, const char *record_id,
                                          const char *sid, struct cJSON *record)
{
    size_t lid = strlen(c->id) + 1, lname = strlen(c->name) + 1, lrec = strlen(record_id) + 1,
           lsid = strlen(sid) + 1;
    struct sh__auth_ident *id = sh_calloc(1, sizeof(*id) + lid + lname + lrec + lsid);
    char *p = id->strings;
    id->au.collection_id = memcpy(p, c->id, lid);
    id->au.collection_name = memcpy(p += lid, c->name, lname);
    id->au.record_id = memcpy(p += lname, record_id, lrec);
    id->au.session_id = memcpy(p += lrec, sid, lsid);
    id->au.superuser = c->system && strcmp(c->name, "_superusers") == 0;
    id->au.record = id->record = record;
    id->refs = 1;
    return id;
}

void sh__auth_ident_unref(struct sh__auth_ident *id)
{
    if (!id || --id->refs > 0)
        return;
    cJSON_Delete(id->record);
    if (id->tok) {
        sodium_memzero(id->tok, id->tok_len);
        free(id->tok);
    }
    free(id);
}

struct sh__auth_cache *sh__auth_cache_new(size_t cap)
{
    if (cap == 0)
        return NULL;
    struct sh__auth_cache *c = sh_calloc(1, sizeof(*c));
    c->cap = cap;
    sh_lru_init(&c->lru, cap);
    randombytes_buf(c->key, sizeof(c->key));
    c->st.cap = cap;
    return c;
}

/* The bucket key: the length and the last TAIL bytes, keyed. */
static uint64_t key_of(const struct sh__auth_cache *c, const char *tok, size_t len)
{
    unsigned char in[TAIL + sizeof(uint64_t)], out[crypto_shorthash_siphash24_BYTES];
    size_t n = len < TAIL ? len : TAIL;
    uint64_t l = len, h;
    memcpy(in, &l, sizeof(l));
    memcpy(in + sizeof(l), tok + len - n, n);
    crypto_shorthash_siphash24(out, in, sizeof(l) + n, c->key);
    memcpy(&h, out, sizeof(h));
    return h;
}

/* Equal bytes, in time that depends on n only: eight bytes at a time. */
static bool ct_equal(const char *a, const char *b, size_t n)
{
    uint64_t d = 0, x, y;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        d |= x ^ y;
    }
    for (; i < n; i++)
        d |= (uint64_t)(unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

struct probe {
    const char *tok;
    size_t len;
};

static struct sh__auth_ident *ident_of(struct sh_lru_node *n)
{
    return n ? sh_list_entry(n, struct sh__auth_ident, node) : NULL;
}

static bool token_eq(const struct sh_lru_node *n, const void *key)
{
    const struct sh__auth_ident *e =
        (const struct sh__auth_ident *)(const void *)((const char *)n -
                                                      offsetof(struct sh__auth_ident, node));
    const struct probe *p = key;
    return e->tok_len == p->len && ct_equal(e->tok, p->tok, p->len);
}

/* Takes e out of the table and drops the cache's reference. */
static void remove_entry(struct sh__auth_cache *c, struct sh__auth_ident *e)
{
    sh_lru_remove(&c->lru, &e->node);
    e->cached = false;
    sh__auth_ident_unref(e);
}

void sh__auth_cache_free(struct sh__auth_cache *c)
{
    if (!c)
        return;
    struct sh__auth_ident *e;
    while ((e = ident_of(sh_lru_oldest(&c->lru))))
        remove_entry(c, e);
    sh_lru_deinit(&c->lru);
    sodium_memzero(c->key, sizeof(c->key));
    free(c);
}

struct sh__auth_ident *sh__auth_cache_find(struct sh__auth_cache *c, const char *tok, size_t len,
                                           uint64_t epoch, int64_t schema, int64_t now)
{
    if (!c)
        return NULL;
    struct probe p = {tok, len};
    struct sh__auth_ident *e = ident_of(sh_lru_find(&c->lru, key_of(c, tok, len), token_eq, &p));
    if (!e) {
        c->st.misses++;
        return NULL;
    }
    if (e->epoch != epoch || e->schema != schema || now >= e->expires) {
        c->st.stale++;
        remove_entry(c, e);
        return NULL;
    }
    c->st.hits++;
    sh_lru_touch(&c->lru, &e->node);
    return e;
}

void sh__auth_cache_put(struct sh__auth_cache *c, const char *tok, size_t len,
                        struct sh__auth_ident *id)
{
    if (!c || id->cached)
        return; /* off, or already cached */
    uint64_t h = key_of(c, tok, len);
    struct probe p = {tok, len};
    struct sh__auth_ident *old = ident_of(sh_lru_find(&c->lru, h, token_eq, &p));
    if (old)
        remove_entry(c, old);
    if (!id->tok) {
        id->tok = sh_malloc(len);
        memcpy(id->tok, tok, len);
        id->tok_len = len;
    }
    while (c->lru.size >= c->cap) {
        c->st.evicted++;
        remove_entry(c, ident_of(sh_lru_oldest(&c->lru)));
    }
    id->refs++;
    id->cached = true;
    sh_lru_insert(&c->lru, &id->node, h);
}

void sh__auth_cache_stats(const struct sh__auth_cache *c, struct sh__auth_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    *out = c->st;
    out->size = c->lru.size;
}

void sh_api_auth_join_group(struct sh_api_auth *a, struct sh_redis *redis)
{
    a->group = true;
    a->redis = redis;
    a->shared_known = false;
}

/* The sum of the versions of _sessions and of every auth collection's table
 * in the current snapshot: every sign-in, logout, password change or
 * account change in any process moves it. Re-read only when the database
 * changed since (PRAGMA data_version) or the schema did. */
static int64_t shared_epoch(struct sh_api_auth *a)
{
    const struct sh_catalog_snap *snap = a->catalog->snap;
    int64_t dv = 0;
    if (!snap || sh_db_data_version(a->db, &dv) != 0)
        return a->shared_epoch + 1; /* unknown: never equal to a stored one */
    if (a->shared_known && dv == a->shared_dv && snap->version == a->shared_schema)
        return a->shared_epoch;
    const char *names[64];
    int64_t vers[64];
    size_t n = 0;
    names[n++] = "_sessions";
    for (size_t i = 0; i < snap->n && n < 64; i++)
        if (snap->list[i]->type == SH_COLLECTION_AUTH)
            names[n++] = snap->list[i]->name;
    if (n == 64 || sh_db_versions(a->db, names, n, vers) != 0)
        return a->shared_epoch + 1;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += vers[i];
    a->shared_epoch = sum;
    a->shared_dv = dv;
    a->shared_schema = snap->version;
    a->shared_known = true;
    return sum;
}

uint64_t sh__auth_epoch_now(struct sh_api_auth *a)
{
    if (!a->group)
        return a->epoch;
    /* both parts only grow: equal sums mean neither moved */
    return a->epoch + (uint64_t)shared_epoch(a);
}

void sh__auth_epoch_bump(struct sh_api_auth *a)
{
    if (a)
        a->epoch++;
}

void sh__auth_record_written(struct sh_api_auth *a, const struct sh_rec_write *w)
{
    if (a && (w->auth_written || (w->c && w->c->type == SH_COLLECTION_AUTH)))
        a->epoch++;
}
