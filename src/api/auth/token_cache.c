/*
 * The verified-token cache: what the token middleware learnt about a token
 * (its collection, record, session and the record as rules see it), kept on
 * the loop so that the next request with the same token costs one keyed
 * hash and a table probe instead of base64, HMAC, JSON parsing and an
 * indexed read.
 *
 * Keys are a keyed BLAKE2b-256 of the whole token (a random key per process:
 * bucket positions cannot be aimed at, and a collision is 2^-128), compared
 * in constant time. At most `cap` entries; the least recently used goes.
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
#include "auth_int.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#define DIGEST 32

struct sh__auth_cache {
    struct sh__auth_ident **buckets;
    size_t nbuckets; /* power of two, >= 2 x cap */
    size_t n, cap;
    struct sh__auth_ident *head, *tail; /* most ... least recently used */
    unsigned char key[crypto_generichash_KEYBYTES];
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
    free(id);
}

struct sh__auth_cache *sh__auth_cache_new(size_t cap)
{
    if (cap == 0)
        return NULL;
    struct sh__auth_cache *c = sh_calloc(1, sizeof(*c));
    c->cap = cap;
    c->nbuckets = 16;
    while (c->nbuckets < cap * 2)
        c->nbuckets *= 2;
    c->buckets = sh_calloc(c->nbuckets, sizeof(*c->buckets));
    crypto_generichash_keygen(c->key);
    c->st.cap = cap;
    return c;
}

static void digest_of(const struct sh__auth_cache *c, const char *tok, size_t len,
                      unsigned char out[DIGEST])
{
    crypto_generichash(out, DIGEST, (const unsigned char *)tok, len, c->key, sizeof(c->key));
}

static size_t bucket_of(const struct sh__auth_cache *c, const unsigned char d[DIGEST])
{
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    return (size_t)h & (c->nbuckets - 1);
}

static void lru_unlink(struct sh__auth_cache *c, struct sh__auth_ident *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(struct sh__auth_cache *c, struct sh__auth_ident *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

/* Takes e out of the table and the list and drops the cache's reference. */
static void remove_entry(struct sh__auth_cache *c, struct sh__auth_ident *e)
{
    struct sh__auth_ident **pp = &c->buckets[bucket_of(c, e->digest)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
    lru_unlink(c, e);
    c->n--;
    sh__auth_ident_unref(e);
}

void sh__auth_cache_free(struct sh__auth_cache *c)
{
    if (!c)
        return;
    while (c->head)
        remove_entry(c, c->head);
    free(c->buckets);
    sodium_memzero(c->key, sizeof(c->key));
    free(c);
}

static struct sh__auth_ident *find_digest(struct sh__auth_cache *c, const unsigned char d[DIGEST])
{
    for (struct sh__auth_ident *e = c->buckets[bucket_of(c, d)]; e; e = e->hnext)
        if (sodium_memcmp(e->digest, d, DIGEST) == 0)
            return e;
    return NULL;
}

struct sh__auth_ident *sh__auth_cache_find(struct sh__auth_cache *c, const char *tok, size_t len,
                                           uint64_t epoch, int64_t schema, int64_t now)
{
    if (!c)
        return NULL;
    unsigned char d[DIGEST];
    digest_of(c, tok, len, d);
    struct sh__auth_ident *e = find_digest(c, d);
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
    if (c->head != e) {
        lru_unlink(c, e);
        lru_front(c, e);
    }
    return e;
}

void sh__auth_cache_put(struct sh__auth_cache *c, const char *tok, size_t len,
                        struct sh__auth_ident *id)
{
    if (!c || id->hnext || id->prev || id->next || c->head == id)
        return; /* off, or already cached */
    digest_of(c, tok, len, id->digest);
    struct sh__auth_ident *old = find_digest(c, id->digest);
    if (old)
        remove_entry(c, old);
    while (c->n >= c->cap && c->tail) {
        c->st.evicted++;
        remove_entry(c, c->tail);
    }
    id->refs++;
    struct sh__auth_ident **b = &c->buckets[bucket_of(c, id->digest)];
    id->hnext = *b;
    *b = id;
    lru_front(c, id);
    c->n++;
}

void sh__auth_cache_stats(const struct sh__auth_cache *c, struct sh__auth_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    *out = c->st;
    out->size = c->n;
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
