/*
 * Auth tokens: JWT with HS256 only (HMAC-SHA256 through libsodium's
 * init/update/final API, so the key may have any length). The header is a
 * fixed string; on verification it must decode to exactly that compact JSON
 * object (the two keys in either order): stagehand is the only issuer, so
 * nothing else is accepted, and "alg":"none" or a public-key algorithm can
 * never select another check. Every part must be canonical base64url without
 * padding (libsodium refuses '=', stray characters and non-zero trailing
 * bits). The signature is compared in constant time before anything else is
 * parsed, so the JSON parser only ever sees authentic payloads on the verify
 * path. The payload is plain JSON because the SDK reads `exp` and `type` from
 * it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "stagehand/auth.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* base64url('{"alg":"HS256","typ":"JWT"}') */
static const char header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
static const char *const header_json[] = {
    "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
    "{\"typ\":\"JWT\",\"alg\":\"HS256\"}",
};
#define SIG_B64_LEN 43                 /* 32 bytes without padding */
#define EXP_MAX     9007199254740992.0 /* 2^53: every integer up to it is a double */

struct parts {
    const char *head, *body, *sig;
    size_t head_len, body_len, sig_len;
};

/* Three non-empty parts separated by exactly two dots. */
static int split(const char *t, size_t len, struct parts *p)
{
    if (!t || len == 0 || len > SH_TOKEN_MAX)
        return SH_EINVAL;
    const char *end = t + len;
    const char *d1 = memchr(t, '.', len);
    if (!d1)
        return SH_EINVAL;
    const char *d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1));
    if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)))
        return SH_EINVAL;
    p->head = t;
    p->head_len = (size_t)(d1 - t);
    p->body = d1 + 1;
    p->body_len = (size_t)(d2 - d1 - 1);
    p->sig = d2 + 1;
    p->sig_len = (size_t)(end - d2 - 1);
    if (!p->head_len || !p->body_len || p->sig_len != SIG_B64_LEN)
        return SH_EINVAL;
    return 0;
}

static int b64_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    /* b64_end == NULL: the whole input must be consumed. */
    if (sodium_base642bin(out, cap, s, n, NULL, outlen, NULL, B64_VARIANT) != 0)
        return SH_EINVAL;
    return 0;
}

static int check_header(const struct parts *p)
{
    unsigned char buf[64];
    size_t n;
    if (p->head_len >= sizeof buf || b64_decode(p->head, p->head_len, buf, sizeof buf, &n))
        return SH_EINVAL;
    for (size_t i = 0; i < SH_ARRAY_LEN(header_json); i++)
        if (n == strlen(header_json[i]) && memcmp(buf, header_json[i], n) == 0)
            return 0;
    return SH_EINVAL;
}

/* Copies a string claim; required ones must be present. */
static int get_str(const cJSON *o, const char *name, char *dst, size_t cap, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v)
        return required ? SH_EINVAL : 0;
    if (!cJSON_IsString(v) || !v->valuestring)
        return SH_EINVAL;
    size_t n = strlen(v->valuestring);
    if (n >= cap)
        return SH_EINVAL;
    memcpy(dst, v->valuestring, n + 1);
    return 0;
}

static int parse_payload(const struct parts *p, struct sh_token_claims *c)
{
    unsigned char buf[SH_TOKEN_MAX];
    size_t n;
    if (b64_decode(p->body, p->body_len, buf, sizeof buf, &n))
        return SH_EINVAL;
    cJSON *o = cJSON_ParseWithLength((const char *)buf, n);
    int rc = SH_EINVAL;
    if (!cJSON_IsObject(o))
        goto done;
    if (get_str(o, "id", c->id, sizeof c->id, 1) ||
        get_str(o, "type", c->type, sizeof c->type, 1) ||
        get_str(o, "collectionId", c->collection_id, sizeof c->collection_id, 1) ||
        get_str(o, "sid", c->sid, sizeof c->sid, 0))
        goto done;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "refreshable");
    if (r && !cJSON_IsBool(r))
        goto done;
    c->refreshable = cJSON_IsTrue(r);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "exp");
    if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || e->valuedouble < 0 ||
        e->valuedouble > EXP_MAX)
        goto done;
    c->exp = (int64_t)e->valuedouble;
    rc = 0;
done:
    cJSON_Delete(o);
    return rc;
}

static void hmac(const char *msg, size_t len, const unsigned char *key, size_t keylen,
                 unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

int sh_token_sign(const struct sh_token_claims *c, const unsigned char *key, size_t keylen,
                  char *out, size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    if (keylen == 0 || !terminated(c->id, sizeof c->id) || !terminated(c->type, sizeof c->type) ||
        !terminated(c->collection_id, sizeof c->collection_id) ||
        !terminated(c->sid, sizeof c->sid) || c->exp < 0 || (double)c->exp > EXP_MAX)
        return SH_EINVAL;

    cJSON *o = cJSON_CreateObject();
    SH_ASSERT(o);
    SH_ASSERT(cJSON_AddStringToObject(o, "collectionId", c->collection_id));
    /* Written as an exact integer: cJSON prints numbers past 10^15 with 15
     * significant digits, which would move exp (9007199254740992 read back as
     * ...990). */
    char exp[24];
    snprintf(exp, sizeof exp, "%lld", (long long)c->exp);
    SH_ASSERT(cJSON_AddRawToObject(o, "exp", exp));
    SH_ASSERT(cJSON_AddStringToObject(o, "id", c->id));
    SH_ASSERT(cJSON_AddBoolToObject(o, "refreshable", c->refreshable != 0));
    if (c->sid[0])
        SH_ASSERT(cJSON_AddStringToObject(o, "sid", c->sid));
    SH_ASSERT(cJSON_AddStringToObject(o, "type", c->type));
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    SH_ASSERT(json);

    size_t jlen = strlen(json);
    size_t hlen = sizeof header_b64 - 1;
    size_t blen = sodium_base64_ENCODED_LEN(jlen, B64_VARIANT) - 1;
    size_t total = hlen + 1 + blen + 1 + SIG_B64_LEN;
    if (total > SH_TOKEN_MAX || total >= outlen) {
        cJSON_free(json);
        return SH_ETOOBIG;
    }
    char *w = out;
    memcpy(w, header_b64, hlen);
    w += hlen;
    *w++ = '.';
    sodium_bin2base64(w, outlen - (size_t)(w - out), (const unsigned char *)json, jlen,
                      B64_VARIANT);
    cJSON_free(json);
    w += blen;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    hmac(out, (size_t)(w - out), key, keylen, mac);
    *w++ = '.';
    sodium_bin2base64(w, outlen - (size_t)(w - out), mac, sizeof mac, B64_VARIANT);
    return (int)total;
}

int sh_token_peek(const char *token, size_t len, struct sh_token_claims *out)
{
    memset(out, 0, sizeof *out);
    struct parts p;
    int rc = split(token, len, &p);
    if (!rc)
        rc = check_header(&p);
    if (!rc)
        rc = parse_payload(&p, out);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

int sh_token_verify(const char *token, size_t len, const unsigned char *key, size_t keylen,
                    int64_t now, struct sh_token_claims *out)
{
    struct sh_token_claims c;
    memset(&c, 0, sizeof c);
    if (out)
        memset(out, 0, sizeof *out);
    struct parts p;
    if (keylen == 0 || split(token, len, &p))
        return SH_EINVAL;

    unsigned char sig[crypto_auth_hmacsha256_BYTES], mac[crypto_auth_hmacsha256_BYTES];
    size_t n;
    if (b64_decode(p.sig, p.sig_len, sig, sizeof sig, &n) || n != sizeof sig)
        return SH_EINVAL;
    hmac(token, (size_t)(p.sig - 1 - token), key, keylen, mac);
    int same = sodium_memcmp(sig, mac, sizeof mac) == 0;
    sodium_memzero(mac, sizeof mac);
    if (!same)
        return SH_EINVAL;

    if (check_header(&p) || parse_payload(&p, &c))
        return SH_EINVAL;
    if (now >= c.exp)
        return SH_EFORBIDDEN;
    if (out)
        *out = c;
    return 0;
}
