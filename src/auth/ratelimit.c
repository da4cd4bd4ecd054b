/*
 * Per-key rate limits with a sliding window approximated by two fixed
 * windows (as Cloudflare and nginx-style limiters do): a key keeps the hit
 * count of the current fixed window and of the previous one, and the
 * estimate at time t is cur + prev * (time left in the current window) / W.
 * Two counters per key instead of a log of hits, and no burst of 2x the limit
 * at a window boundary as with one fixed window.
 *
 * Keys live in core's hash table with a recency order (lru.h), hashed with
 * SipHash under a random key (so that clients who choose their keys -
 * identities, forged addresses - cannot aim collisions): at max_keys the
 * least recently hit key is dropped, so memory stays bounded whatever the
 * number of clients. Keys longer than KEY_INLINE bytes are stored as a keyed
 * BLAKE2b digest. The arithmetic is in
 * integers scaled by W, exact and free of overflow for W <= 2^30 ms and
 * counts <= limit < 2^32.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "stagehand/auth.h"
#include "stagehand/lru.h"

#define KEY_INLINE 64
#define DIGEST_LEN 32

struct entry {
    struct sh_lru_node node;        /* first member; recency = last hit */
    uint64_t win;                   /* index of the current fixed window */
    unsigned cur, prev;             /* counted hits in it and in the one before */
    unsigned char digested, keylen; /* key is a digest of a longer key */
    unsigned char key[];
};

struct sh_ratelimit {
    unsigned limit;
    uint64_t window_ms;
    size_t max_keys;
    struct sh_lru lru; /* struct entry */
    unsigned char hkey[crypto_shorthash_KEYBYTES];
    unsigned char dkey[crypto_generichash_KEYBYTES];
};

struct sh_ratelimit *sh_ratelimit_new(unsigned limit, uint64_t window_ms, size_t max_keys)
{
    if (limit == 0 || window_ms == 0 || window_ms > SH_RATELIMIT_WINDOW_MAX || max_keys == 0 ||
        max_keys > SIZE_MAX / 4 / sizeof(struct entry *))
        return NULL;
    if (sodium_init() < 0)
        return NULL;
    struct sh_ratelimit *rl = sh_calloc(1, sizeof *rl);
    rl->limit = limit;
    rl->window_ms = window_ms;
    rl->max_keys = max_keys;
    sh_lru_init(&rl->lru, max_keys);
    randombytes_buf(rl->hkey, sizeof rl->hkey);
    randombytes_buf(rl->dkey, sizeof rl->dkey);
    return rl;
}

static struct entry *entry_of(struct sh_lru_node *n)
{
    return (struct entry *)(void *)n;
}

static void drop(struct sh_ratelimit *rl, struct entry *e)
{
    sh_lru_remove(&rl->lru, &e->node);
    free(e);
}

void sh_ratelimit_free(struct sh_ratelimit *rl)
{
    if (!rl)
        return;
    struct entry *e;
    while ((e = entry_of(sh_lru_oldest(&rl->lru))))
        drop(rl, e);
    sh_lru_deinit(&rl->lru);
    free(rl);
}

size_t sh_ratelimit_size(const struct sh_ratelimit *rl)
{
    return rl->lru.size;
}

static uint64_t key_hash(const struct sh_ratelimit *rl, const unsigned char *key, size_t keylen)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, keylen, rl->hkey);
    uint64_t hash;
    memcpy(&hash, h, sizeof hash);
    return hash;
}

/* A key as stored: itself, or its keyed digest when longer than KEY_INLINE. */
struct norm_key {
    unsigned char digest[DIGEST_LEN];
    const unsigned char *k;
    size_t len;
    int digested;
};

static bool key_eq(const struct sh_lru_node *n, const void *key)
{
    const struct entry *e = (const struct entry *)(const void *)n;
    const struct norm_key *k = key;
    return e->keylen == k->len && e->digested == k->digested && memcmp(e->key, k->k, k->len) == 0;
}

/* The entry of a (normalised) key, or NULL; the recency order is left alone. */
static struct entry *find(const struct sh_ratelimit *rl, const struct norm_key *k, uint64_t hash)
{
    return entry_of(sh_lru_find(&rl->lru, hash, key_eq, k));
}

/* Finds or makes the entry of a (normalised) key and makes it the newest;
 * a new key past max_keys takes the place of the least recently hit. */
static struct entry *lookup(struct sh_ratelimit *rl, const struct norm_key *k, uint64_t now_win)
{
    uint64_t hash = key_hash(rl, k->k, k->len);
    struct entry *found = find(rl, k, hash);
    if (found) {
        sh_lru_touch(&rl->lru, &found->node);
        return found;
    }
    if (rl->lru.size == rl->max_keys)
        drop(rl, entry_of(sh_lru_oldest(&rl->lru)));
    struct entry *e = sh_calloc(1, sizeof *e + k->len);
    e->win = now_win;
    e->digested = (unsigned char)k->digested;
    e->keylen = (unsigned char)k->len;
    memcpy(e->key, k->k, k->len);
    sh_lru_insert(&rl->lru, &e->node, hash);
    return e;
}

/* ms from now until cur + prev-weight <= target, with `left` ms left in the
 * current window (target >= 0; counts stay as they are). */
static uint64_t until_at_most(const struct entry *e, uint64_t w, uint64_t left, uint64_t target)
{
    if (e->cur <= target) { /* reached in this window, as prev's weight decays */
        if (e->prev == 0)
            return 0;
        uint64_t q = (target - e->cur) * w / e->prev;
        return q >= left ? 0 : left - q;
    }
    /* in the next window, where cur becomes the decaying prev */
    uint64_t q = target * w / e->cur;
    return left + (q >= w ? 0 : w - q);
}

static void normalise(const struct sh_ratelimit *rl, const char *key, size_t keylen,
                      struct norm_key *n)
{
    n->k = (const unsigned char *)key;
    n->len = keylen;
    n->digested = keylen > KEY_INLINE;
    if (n->digested) {
        crypto_generichash(n->digest, sizeof n->digest, n->k, keylen, rl->dkey, sizeof rl->dkey);
        n->k = n->digest;
        n->len = sizeof n->digest;
    }
}

static void roll(struct entry *e, uint64_t now_win)
{
    if (now_win > e->win) { /* roll over; a clock that went back keeps e->win */
        e->prev = now_win == e->win + 1 ? e->cur : 0;
        e->cur = 0;
        e->win = now_win;
    }
}

/* Fills out for entry e (rolled to now) and, when count and allowed, counts
 * the hit. */
static void decide(const struct sh_ratelimit *rl, struct entry *e, uint64_t now_ms, bool count,
                   struct sh_ratelimit_result *out)
{
    const uint64_t w = rl->window_ms, limit = rl->limit;
    uint64_t start = e->win * w;
    uint64_t elapsed = now_ms > start ? now_ms - start : 0;
    uint64_t left = w - elapsed; /* 1..w */

    uint64_t est = e->cur * w + e->prev * left; /* the estimate, scaled by w */
    memset(out, 0, sizeof *out);
    out->limit = rl->limit;
    out->used = (unsigned)((est + w - 1) / w);
    out->allowed = est + w <= limit * w;
    if (out->allowed) {
        uint64_t after = est + w;
        if (count) {
            e->cur++;
            out->used = (unsigned)((after + w - 1) / w);
        }
        uint64_t used = (after + w - 1) / w; /* 1..limit */
        out->remaining = (unsigned)(limit - used);
        out->reset_ms = count ? until_at_most(e, w, left, used - 1) : 0;
    } else {
        out->retry_after_ms = until_at_most(e, w, left, limit - 1);
        out->reset_ms = out->retry_after_ms;
    }
}

void sh_ratelimit_hit(struct sh_ratelimit *rl, const char *key, size_t keylen, uint64_t now_ms,
                      struct sh_ratelimit_result *out)
{
    const uint64_t now_win = now_ms / rl->window_ms;
    struct norm_key n;
    normalise(rl, key, keylen, &n);
    struct entry *e = lookup(rl, &n, now_win);
    roll(e, now_win);
    decide(rl, e, now_ms, true, out);
}

void sh_ratelimit_peek(const struct sh_ratelimit *rl, const char *key, size_t keylen,
                       uint64_t now_ms, struct sh_ratelimit_result *out)
{
    const uint64_t now_win = now_ms / rl->window_ms;
    struct norm_key n;
    normalise(rl, key, keylen, &n);
    const struct entry *found = find(rl, &n, key_hash(rl, n.k, n.len));
    struct entry e;
    memset(&e, 0, sizeof e);
    e.win = now_win;
    if (found) { /* a copy: peeking changes nothing */
        e.win = found->win;
        e.cur = found->cur;
        e.prev = found->prev;
        roll(&e, now_win);
    }
    decide(rl, &e, now_ms, false, out);
}

void sh_ratelimit_undo(struct sh_ratelimit *rl, const char *key, size_t keylen, uint64_t now_ms)
{
    const uint64_t now_win = now_ms / rl->window_ms;
    struct norm_key n;
    normalise(rl, key, keylen, &n);
    struct entry *e = find(rl, &n, key_hash(rl, n.k, n.len));
    if (!e)
        return; /* evicted meanwhile: nothing to give back */
    roll(e, now_win);
    if (e->cur)
        e->cur--;
    else if (e->prev)
        e->prev--;
}

uint64_t sh_ratelimit_window(const struct sh_ratelimit *rl)
{
    return rl->window_ms;
}

void sh_ratelimit_raise(struct sh_ratelimit *rl, const char *key, size_t keylen, uint64_t win,
                        unsigned cur, unsigned prev)
{
    struct norm_key k;
    normalise(rl, key, keylen, &k);
    struct entry *e = find(rl, &k, key_hash(rl, k.k, k.len));
    if (!e)
        return; /* forgotten meanwhile: the next hit starts from the shared count anyway */
    roll(e, win);
    if (e->win == win) {
        if (cur > e->cur)
            e->cur = cur > rl->limit ? rl->limit + 1 : cur;
        if (prev > e->prev)
            e->prev = prev > rl->limit ? rl->limit + 1 : prev;
    } else if (e->win == win + 1 && cur > e->prev) {
        e->prev = cur > rl->limit ? rl->limit + 1 : cur; /* the answer's window is our previous */
    }
}
