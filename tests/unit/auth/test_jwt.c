/*
 * Tests of the HS256 tokens: a round trip whose payload the SDK can read,
 * and every way a forged or damaged token must be refused - tampered payload
 * or signature, alg none and other algorithms (even with a correct HMAC over
 * them), expiry, truncation, bad or padded or non-canonical base64, extra
 * dots, oversize tokens and a changed key. Forged tokens are built here by
 * hand with libsodium so that only the header or only the encoding is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <sodium.h>

#include "stagehand/auth.h"

#define V sodium_base64_VARIANT_URLSAFE_NO_PADDING

static const unsigned char key[] = "collection-secret-0123456789abcdef:record-token-key-xyz";
#define KEYLEN (sizeof key - 1)
static const int64_t now = 1700000000;

static struct sh_token_claims claims(void)
{
    struct sh_token_claims c;
    memset(&c, 0, sizeof c);
    strcpy(c.id, "abc123def456ghi");
    strcpy(c.type, "auth");
    strcpy(c.collection_id, "pbc_3142635823");
    strcpy(c.sid, "s3ss10n1d000001");
    c.refreshable = 1;
    c.exp = now + 3600;
    return c;
}

static void b64(const void *bin, size_t n, char *out, size_t cap)
{
    assert_non_null(sodium_bin2base64(out, cap, bin, n, V));
}

/* header.payload.signature from raw JSON texts, signed with k. */
static void forge(const char *header, const char *payload, const unsigned char *k, size_t klen,
                  char *out, size_t cap)
{
    char h[512], p[8192];
    b64(header, strlen(header), h, sizeof h);
    b64(payload, strlen(payload), p, sizeof p);
    int n = snprintf(out, cap, "%s.%s", h, p);
    assert_true(n > 0 && (size_t)n < cap);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, k, klen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)out, (size_t)n);
    crypto_auth_hmacsha256_final(&st, mac);
    char s[64];
    b64(mac, sizeof mac, s, sizeof s);
    assert_true((size_t)n + 1 + strlen(s) < cap);
    strcat(out, ".");
    strcat(out, s);
}

static const char good_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char good_payload[] = "{\"collectionId\":\"c1\",\"exp\":1700003600,\"id\":\"r1\","
                                   "\"refreshable\":false,\"type\":\"auth\"}";

static int verify(const char *t)
{
    struct sh_token_claims c;
    return sh_token_verify(t, strlen(t), key, KEYLEN, now, &c);
}

static void sign(const struct sh_token_claims *c, char *out, size_t cap)
{
    int n = sh_token_sign(c, key, KEYLEN, out, cap);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
}

static void test_jwt_round_trip(void **state)
{
    (void)state;
    struct sh_token_claims in = claims(), out, peeked;
    char t[SH_TOKEN_MAX + 1];
    sign(&in, t, sizeof t);
    assert_int_equal(sh_token_verify(t, strlen(t), key, KEYLEN, now, &out), 0);
    assert_memory_equal(&in, &out, sizeof in);
    assert_int_equal(sh_token_peek(t, strlen(t), &peeked), 0);
    assert_memory_equal(&in, &peeked, sizeof in);
    /* out may be NULL */
    assert_int_equal(sh_token_verify(t, strlen(t), key, KEYLEN, now, NULL), 0);

    /* no sid, not refreshable */
    memset(in.sid, 0, sizeof in.sid);
    in.refreshable = 0;
    sign(&in, t, sizeof t);
    assert_int_equal(sh_token_verify(t, strlen(t), key, KEYLEN, now, &out), 0);
    assert_memory_equal(&in, &out, sizeof in);
    assert_null(strstr(t, "sid"));
}

/* The SDK decodes the payload itself and reads exp and type. */
static void test_jwt_payload_is_plain_json(void **state)
{
    (void)state;
    struct sh_token_claims in = claims();
    char t[SH_TOKEN_MAX + 1];
    sign(&in, t, sizeof t);
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    assert_memory_equal(t, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", (size_t)(d1 - t) + 1);

    unsigned char json[1024];
    size_t n;
    assert_int_equal(
        sodium_base642bin(json, sizeof json - 1, d1 + 1, (size_t)(d2 - d1 - 1), NULL, &n, NULL, V),
        0);
    json[n] = '\0';
    cJSON *o = cJSON_Parse((const char *)json);
    assert_non_null(o);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "exp")));
    assert_true(cJSON_GetObjectItem(o, "exp")->valuedouble == (double)in.exp);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "type")), "auth");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")), in.id);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "collectionId")),
                        in.collection_id);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "sid")), in.sid);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "refreshable")));
    cJSON_Delete(o);
}

static void test_jwt_forged_with_same_tool_verifies(void **state)
{
    (void)state;
    /* the forging helper itself is right: a well-formed token passes */
    char t[1024];
    forge(good_header, good_payload, key, KEYLEN, t, sizeof t);
    assert_int_equal(verify(t), 0);
    /* keys in the other order, and unknown claims, are fine */
    forge("{\"typ\":\"JWT\",\"alg\":\"HS256\"}",
          "{\"id\":\"r1\",\"type\":\"auth\",\"collectionId\":\"c1\",\"exp\":1700003600,"
          "\"iat\":1,\"extra\":{\"a\":[1,2]}}",
          key, KEYLEN, t, sizeof t);
    struct sh_token_claims c;
    assert_int_equal(sh_token_verify(t, strlen(t), key, KEYLEN, now, &c), 0);
    assert_string_equal(c.id, "r1");
    assert_int_equal(c.refreshable, 0);
    assert_string_equal(c.sid, "");
}

static void test_jwt_tampered_payload(void **state)
{
    (void)state;
    struct sh_token_claims in = claims();
    char t[SH_TOKEN_MAX + 1];
    sign(&in, t, sizeof t);
    /* a payload of another record, with the original signature */
    struct sh_token_claims other = in;
    strcpy(other.id, "superuser00001");
    char t2[SH_TOKEN_MAX + 1];
    sign(&other, t2, sizeof t2);
    char *sig1 = strrchr(t, '.'), *sig2 = strrchr(t2, '.');
    memcpy(sig2, sig1, strlen(sig1) + 1);
    assert_int_equal(verify(t2), SH_EINVAL);

    /* one character of the payload changed */
    char *p = strchr(t, '.') + 5;
    *p = *p == 'A' ? 'B' : 'A';
    assert_int_equal(verify(t), SH_EINVAL);
}

static void test_jwt_wrong_signature(void **state)
{
    (void)state;
    struct sh_token_claims in = claims();
    char t[SH_TOKEN_MAX + 1];
    sign(&in, t, sizeof t);
    char *s = strrchr(t, '.') + 1;
    s[0] = s[0] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(t), SH_EINVAL);

    /* a signature of the right length made of zeros */
    sign(&in, t, sizeof t);
    s = strrchr(t, '.') + 1;
    memset(s, 'A', 43);
    assert_int_equal(verify(t), SH_EINVAL);
}

static void test_jwt_alg_none(void **state)
{
    (void)state;
    char h[128], p[512], t[1024];
    b64("{\"alg\":\"none\",\"typ\":\"JWT\"}", 26, h, sizeof h);
    b64(good_payload, strlen(good_payload), p, sizeof p);
    snprintf(t, sizeof t, "%s.%s.", h, p);
    assert_int_equal(verify(t), SH_EINVAL);
    snprintf(t, sizeof t, "%s.%s", h, p);
    assert_int_equal(verify(t), SH_EINVAL);
    /* even with a correct HMAC over it, the header decides */
    forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", good_payload, key, KEYLEN, t, sizeof t);
    assert_int_equal(verify(t), SH_EINVAL);
    forge("{\"alg\":\"NONE\",\"typ\":\"JWT\"}", good_payload, key, KEYLEN, t, sizeof t);
    assert_int_equal(verify(t), SH_EINVAL);
    struct sh_token_claims c;
    assert_int_equal(sh_token_peek(t, strlen(t), &c), SH_EINVAL);
}

static void test_jwt_other_algs(void **state)
{
    (void)state;
    static const char *const headers[] = {
        "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256\"}",
        "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"../../x\"}",
        "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
        "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"alg\":\"none\"}",
        "{ \"alg\":\"HS256\",\"typ\":\"JWT\"}",
        "[\"HS256\",\"JWT\"]",
        "{}",
        "null",
    };
    char t[1024];
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        forge(headers[i], good_payload, key, KEYLEN, t, sizeof t);
        assert_int_equal(verify(t), SH_EINVAL);
    }
}

static void test_jwt_expired(void **state)
{
    (void)state;
    struct sh_token_claims in = claims();
    char t[SH_TOKEN_MAX + 1];
    in.exp = now;
    sign(&in, t, sizeof t);
    assert_int_equal(verify(t), SH_EFORBIDDEN);
    in.exp = now - 1000;
    sign(&in, t, sizeof t);
    assert_int_equal(verify(t), SH_EFORBIDDEN);
    in.exp = now + 1;
    sign(&in, t, sizeof t);
    assert_int_equal(verify(t), 0);
    /* an expired token with a bad signature is just invalid */
    in.exp = now - 1;
    sign(&in, t, sizeof t);
    assert_int_equal(sh_token_verify(t, strlen(t), (const unsigned char *)"k", 1, now, NULL),
                     SH_EINVAL);
    /* peek does not look at exp */
    struct sh_token_claims c;
    assert_int_equal(sh_token_peek(t, strlen(t), &c), 0);
    assert_int_equal(c.exp, now - 1);
}

static void test_jwt_truncated(void **state)
{
    (void)state;
    struct sh_token_claims in = claims();
    char t[SH_TOKEN_MAX + 1];
    sign(&in, t, sizeof t);
    size_t n = strlen(t);
    struct sh_token_claims c;
    for (size_t len = 0; len < n; len++) {
        assert_int_equal(sh_token_verify(t, len, key, KEYLEN, now, &c), SH_EINVAL);
        assert_string_equal(c.id, ""); /* out zeroed on failure */
    }
    assert_int_equal(sh_token_verify(t, n, key, KEYLEN, now, &c), 0);
    assert_int_equal(sh_token_verify(NULL, 0, key, KEYLEN, now, &c), SH_EINVAL);
}

static void test_jwt_not_base64url(void **state)
{
    (void)state;
    struct sh_token_claims in = claims();
    char t[SH_TOKEN_MAX + 1], bad[SH_TOKEN_MAX + 1];
    sign(&in, t, sizeof t);
    size_t n = strlen(t);
    size_t payload_at = (size_t)(strchr(t, '.') - t) + 3;
    static const char chars[] = {'*', '+', '/', ' ', '\0', '\n', '%'};
    for (size_t i = 0; i < sizeof chars; i++) {
        memcpy(bad, t, n + 1);
        bad[payload_at] = chars[i];
        assert_int_equal(sh_token_verify(bad, n, key, KEYLEN, now, NULL), SH_EINVAL);
        memcpy(bad, t, n + 1);
        bad[n - 3] = chars[i];
        assert_int_equal(sh_token_verify(bad, n, key, KEYLEN, now, NULL), SH_EINVAL);
        memcpy(bad, t, n + 1);
        bad[4] = chars[i];
        assert_int_equal(sh_token_verify(bad, n, key, KEYLEN, now, NULL), SH_EINVAL);
    }
}

/* 43 characters carry 258 bits for 256: the last character's two low bits
 * must be zero. A token with them set decodes to the same bytes elsewhere. */
static void test_jwt_non_canonical_base64(void **state)
{
    (void)state;
    struct sh_token_claims in = claims();
    char t[SH_TOKEN_MAX + 1];
    sign(&in, t, sizeof t);
    size_t n = strlen(t);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *pos = strchr(alphabet, t[n - 1]);
    assert_non_null(pos);
    assert_int_equal((pos - alphabet) & 3, 0);
    t[n - 1] = alphabet[(pos - alphabet) | 1];
    assert_int_equal(verify(t), SH_EINVAL);
}

static void test_jwt_padding(void **state)
{
    (void)state;
    char h[128], p[512], t[1024];
    /* a header whose encoding needs padding, signed together with the '=' */
    const char *payload = good_payload;
    assert_int_not_equal(strlen(payload) % 3, 0);
    b64(good_header, strlen(good_header), h, sizeof h);
    assert_non_null(sodium_bin2base64(p, sizeof p, (const unsigned char *)payload, strlen(payload),
                                      sodium_base64_VARIANT_URLSAFE));
    assert_non_null(strchr(p, '='));
    int n = snprintf(t, sizeof t, "%s.%s", h, p);
    unsigned char mac[32];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, KEYLEN);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, (size_t)n);
    crypto_auth_hmacsha256_final(&st, mac);
    char s[64];
    b64(mac, sizeof mac, s, sizeof s);
    strcat(t, ".");
    strcat(t, s);
    assert_int_equal(verify(t), SH_EINVAL);

    /* padding on a valid token's signature */
    struct sh_token_claims in = claims();
    char t2[SH_TOKEN_MAX + 2];
    sign(&in, t2, sizeof t2);
    strcat(t2, "=");
    assert_int_equal(verify(t2), SH_EINVAL);
}

static void test_jwt_extra_dots(void **state)
{
    (void)state;
    struct sh_token_claims in = claims();
    char t[SH_TOKEN_MAX + 1], bad[SH_TOKEN_MAX + 8];
    sign(&in, t, sizeof t);
    snprintf(bad, sizeof bad, "%s.", t);
    assert_int_equal(verify(bad), SH_EINVAL);
    snprintf(bad, sizeof bad, ".%s", t);
    assert_int_equal(verify(bad), SH_EINVAL);
    snprintf(bad, sizeof bad, "%s.AAAA", t);
    assert_int_equal(verify(bad), SH_EINVAL);
    /* a dot inside the payload */
    snprintf(bad, sizeof bad, "%s", t);
    char *p = strchr(bad, '.') + 4;
    memmove(p + 1, p, strlen(p) + 1);
    *p = '.';
    assert_int_equal(verify(bad), SH_EINVAL);
    assert_int_equal(verify(".."), SH_EINVAL);
    assert_int_equal(verify("a..b"), SH_EINVAL);
    assert_int_equal(verify(""), SH_EINVAL);
}

static void test_jwt_length_limits(void **state)
{
    (void)state;
    /* a correctly signed token just over the limit is refused, one just under
     * it is accepted (the extra claim is ignored) */
    static char payload[4096], t[8192];
    size_t fixed = strlen(good_payload) - 1; /* without the closing brace */
    size_t lo = 0, hi = 4000;
    /* find the padding that puts the token at exactly SH_TOKEN_MAX */
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        snprintf(payload, sizeof payload, "%.*s,\"pad\":\"%0*d\"}", (int)fixed, good_payload,
                 (int)mid, 0);
        forge(good_header, payload, key, KEYLEN, t, sizeof t);
        if (strlen(t) <= SH_TOKEN_MAX)
            lo = mid;
        else
            hi = mid - 1;
    }
    snprintf(payload, sizeof payload, "%.*s,\"pad\":\"%0*d\"}", (int)fixed, good_payload, (int)lo,
             0);
    forge(good_header, payload, key, KEYLEN, t, sizeof t);
    assert_true(strlen(t) <= SH_TOKEN_MAX && strlen(t) > SH_TOKEN_MAX - 4);
    assert_int_equal(verify(t), 0);
    snprintf(payload, sizeof payload, "%.*s,\"pad\":\"%0*d\"}", (int)fixed, good_payload,
             (int)lo + 3, 0);
    forge(good_header, payload, key, KEYLEN, t, sizeof t);
    assert_true(strlen(t) > SH_TOKEN_MAX);
    assert_int_equal(verify(t), SH_EINVAL);

    /* sign refuses an output buffer that is too small, and says how */
    struct sh_token_claims in = claims();
    char small[64];
    assert_int_equal(sh_token_sign(&in, key, KEYLEN, small, sizeof small), SH_ETOOBIG);
    char exact[SH_TOKEN_MAX + 1];
    int n = sh_token_sign(&in, key, KEYLEN, exact, sizeof exact);
    assert_true(n > 0);
    assert_int_equal(sh_token_sign(&in, key, KEYLEN, exact, (size_t)n), SH_ETOOBIG);
    assert_int_equal(sh_token_sign(&in, key, KEYLEN, exact, (size_t)n + 1), n);

    /* a claim that does not fit its field is refused, not truncated */
    forge(
        good_header,
        "{\"collectionId\":\"c1\",\"exp\":1700003600,\"id\":\"r1\",\"type\":\"authauthauthauthX\"}",
        key, KEYLEN, t, sizeof t);
    assert_int_equal(verify(t), SH_EINVAL);
    /* claims not terminated in their arrays */
    memset(in.type, 'a', sizeof in.type);
    assert_int_equal(sh_token_sign(&in, key, KEYLEN, exact, sizeof exact), SH_EINVAL);
}

static void test_jwt_key_change(void **state)
{
    (void)state;
    struct sh_token_claims in = claims();
    char t[SH_TOKEN_MAX + 1];
    sign(&in, t, sizeof t);
    unsigned char other[KEYLEN];
    memcpy(other, key, KEYLEN);
    other[KEYLEN - 1] ^= 1; /* tokenKey rotated */
    assert_int_equal(sh_token_verify(t, strlen(t), other, KEYLEN, now, NULL), SH_EINVAL);
    assert_int_equal(sh_token_verify(t, strlen(t), key, KEYLEN - 1, now, NULL), SH_EINVAL);
    assert_int_equal(sh_token_verify(t, strlen(t), key, 0, now, NULL), SH_EINVAL);
    assert_int_equal(sh_token_sign(&in, key, 0, t, sizeof t), SH_EINVAL);

    /* keys longer than HMAC's block work, and differ */
    unsigned char long_key[200];
    memset(long_key, 'k', sizeof long_key);
    sign(&in, t, sizeof t);
    int n = sh_token_sign(&in, long_key, sizeof long_key, t, sizeof t);
    assert_true(n > 0);
    assert_int_equal(sh_token_verify(t, (size_t)n, long_key, sizeof long_key, now, NULL), 0);
    long_key[199] = 'x';
    assert_int_equal(sh_token_verify(t, (size_t)n, long_key, sizeof long_key, now, NULL),
                     SH_EINVAL);
}

static void test_jwt_bad_claims(void **state)
{
    (void)state;
    static const char *const payloads[] = {
        "{\"collectionId\":\"c1\",\"exp\":\"1700003600\",\"id\":\"r1\",\"type\":\"auth\"}",
        "{\"collectionId\":\"c1\",\"id\":\"r1\",\"type\":\"auth\"}",
        "{\"collectionId\":\"c1\",\"exp\":1700003600,\"type\":\"auth\"}",
        "{\"collectionId\":\"c1\",\"exp\":1700003600,\"id\":\"r1\"}",
        "{\"exp\":1700003600,\"id\":\"r1\",\"type\":\"auth\"}",
        "{\"collectionId\":\"c1\",\"exp\":1700003600,\"id\":7,\"type\":\"auth\"}",
        "{\"collectionId\":\"c1\",\"exp\":-5,\"id\":\"r1\",\"type\":\"auth\"}",
        "{\"collectionId\":\"c1\",\"exp\":1e300,\"id\":\"r1\",\"type\":\"auth\"}",
        "{\"collectionId\":\"c1\",\"exp\":9,\"id\":\"r1\",\"type\":\"a\",\"refreshable\":1}",
        "{\"collectionId\":\"c1\",\"exp\":1700003600,\"id\":\"r1\",\"type\":\"auth\",\"sid\":null}",
        "[1,2,3]",
        "{\"collectionId\":\"c1\",\"exp\":1700003600,\"id\":\"r1\",\"type\":\"auth\"",
        "",
    };
    char t[1024];
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        forge(good_header, payloads[i], key, KEYLEN, t, sizeof t);
        assert_int_equal(verify(t), SH_EINVAL);
        struct sh_token_claims c;
        assert_int_equal(sh_token_peek(t, strlen(t), &c), SH_EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_round_trip),
        cmocka_unit_test(test_jwt_payload_is_plain_json),
        cmocka_unit_test(test_jwt_forged_with_same_tool_verifies),
        cmocka_unit_test(test_jwt_tampered_payload),
        cmocka_unit_test(test_jwt_wrong_signature),
        cmocka_unit_test(test_jwt_alg_none),
        cmocka_unit_test(test_jwt_other_algs),
        cmocka_unit_test(test_jwt_expired),
        cmocka_unit_test(test_jwt_truncated),
        cmocka_unit_test(test_jwt_not_base64url),
        cmocka_unit_test(test_jwt_non_canonical_base64),
        cmocka_unit_test(test_jwt_padding),
        cmocka_unit_test(test_jwt_extra_dots),
        cmocka_unit_test(test_jwt_length_limits),
        cmocka_unit_test(test_jwt_key_change),
        cmocka_unit_test(test_jwt_bad_claims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
