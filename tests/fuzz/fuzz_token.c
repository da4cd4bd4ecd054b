/*
 * libFuzzer target for token verification (src/auth/jwt.c): what a client
 * sends after "Authorization:". Nobody can forge the HMAC, so an input is one
 * of two things, chosen by its first byte:
 *  - 0x01: the rest is a payload (and, after a NUL byte, a header) that the
 *    harness base64url-encodes and signs with the key, so the claim parser on
 *    the verify path (which only ever sees authentic payloads) is fuzzed too;
 *    without a NUL the header is the standard one;
 *  - anything else: the input is the token itself (seeds are real tokens).
 *
 * Invariants checked, each a bug when broken:
 *  - sh_token_verify returns 0, SH_EINVAL or SH_EFORBIDDEN (expired), and on
 *    failure leaves its output zeroed;
 *  - a token verified with the key is refused (SH_EINVAL) with any other key;
 *  - a verified token peeks to the same claims; an expired one peeks too;
 *  - verified claims are NUL-terminated, exp is after now, and signing them
 *    again gives a token that verifies to the same claims.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_check.h"
#include "stagehand/auth.h"
#include "stagehand/core.h"

#define FUZZ_NOW INT64_C(1700000000) /* 2023-11-14 */

static const unsigned char key[] = "fuzz-token-key-0123456789abcdef!";
static const unsigned char other_key[] = "fuzz-token-key-0123456789abcdef?";
static const char std_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FUZZ_CHECK(sodium_init() >= 0, "libsodium failed to initialise");
    return 0;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static int terminated(const char *s, size_t cap)
{
    return memchr(s, 0, cap) != NULL;
}

/* Writes base64url(head) "." base64url(body) "." signature into out (cap
 * bytes); returns its length or 0 when it does not fit. */
static size_t make_token(const char *head, size_t hlen, const char *body, size_t blen, char *out,
                         size_t cap)
{
    size_t need = sodium_base64_ENCODED_LEN(hlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
                  sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING) + 64;
    if (need > cap)
        return 0;
    sodium_bin2base64(out, cap, (const unsigned char *)head, hlen,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t n = strlen(out);
    out[n++] = '.';
    sodium_bin2base64(out + n, cap - n, (const unsigned char *)body, blen,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n += strlen(out + n);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof(key) - 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)out, n);
    crypto_auth_hmacsha256_final(&st, mac);
    out[n++] = '.';
    sodium_bin2base64(out + n, cap - n, mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return n + strlen(out + n);
}

static void check_token(const char *tok, size_t len)
{
    struct sh_token_claims v, p, again;
    memset(&v, 0xAA, sizeof(v));
    int rv = sh_token_verify(tok, len, key, sizeof(key) - 1, FUZZ_NOW, &v);
    FUZZ_CHECK(rv == 0 || rv == SH_EINVAL || rv == SH_EFORBIDDEN, "sh_token_verify returned %d",
               rv);
    memset(&p, 0, sizeof(p));
    int rp = sh_token_peek(tok, len, &p);
    FUZZ_CHECK(rp == 0 || rp == SH_EINVAL, "sh_token_peek returned %d", rp);
    if (rv != 0) {
        FUZZ_CHECK(all_zero(&v, sizeof(v)), "a refused token left claims in the output");
        if (rv == SH_EFORBIDDEN)
            FUZZ_CHECK(rp == 0, "an authentic expired token does not peek");
        return;
    }

    FUZZ_CHECK(rp == 0, "a verified token does not peek");
    FUZZ_CHECK(memcmp(&v, &p, sizeof(v)) == 0, "peek and verify read different claims");
    FUZZ_CHECK(terminated(v.id, sizeof(v.id)) && terminated(v.type, sizeof(v.type)) &&
                   terminated(v.collection_id, sizeof(v.collection_id)) &&
                   terminated(v.sid, sizeof(v.sid)),
               "a verified claim is not NUL-terminated");
    FUZZ_CHECK(v.exp > FUZZ_NOW, "a token expired at %lld verified", (long long)v.exp);
    FUZZ_CHECK(sh_token_verify(tok, len, other_key, sizeof(other_key) - 1, FUZZ_NOW, NULL) ==
                   SH_EINVAL,
               "a token verified with two keys");

    /* The claims struct zero-fills the arrays' tails, so signing it again and
     * verifying gives the same bytes. */
    char tok2[SH_TOKEN_MAX + 1];
    int n = sh_token_sign(&v, key, sizeof(key) - 1, tok2, sizeof(tok2));
    if (n == SH_ETOOBIG)
        return; /* the canonical form is longer than the input's */
    FUZZ_CHECK(n > 0, "verified claims do not sign again (%d)", n);
    memset(&again, 0, sizeof(again));
    FUZZ_CHECK(sh_token_verify(tok2, (size_t)n, key, sizeof(key) - 1, FUZZ_NOW, &again) == 0,
               "a re-signed token does not verify: %s", tok2);
    /* Strings are compared up to their NUL: bytes after it are not claims. */
    FUZZ_CHECK(strcmp(v.id, again.id) == 0 && strcmp(v.type, again.type) == 0 &&
                   strcmp(v.collection_id, again.collection_id) == 0 &&
                   strcmp(v.sid, again.sid) == 0 && v.exp == again.exp &&
                   !!v.refreshable == !!again.refreshable,
               "a re-signed token verifies to other claims: id \"%s\"/\"%s\" type \"%s\"/\"%s\" "
               "collectionId \"%s\"/\"%s\" sid \"%s\"/\"%s\" exp %lld/%lld refreshable %d/%d",
               v.id, again.id, v.type, again.type, v.collection_id, again.collection_id, v.sid,
               again.sid, (long long)v.exp, (long long)again.exp, v.refreshable, again.refreshable);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * SH_TOKEN_MAX)
        return 0;
    if (size > 0 && data[0] == 0x01) {
        const char *body = (const char *)data + 1, *head = std_header;
        size_t blen = size - 1, hlen = sizeof(std_header) - 1;
        const char *nul = memchr(body, 0, blen);
        if (nul) {
            head = nul + 1;
            hlen = blen - (size_t)(head - body);
            blen = (size_t)(nul - body);
        }
        char tok[3 * SH_TOKEN_MAX];
        size_t n = make_token(head, hlen, body, blen, tok, sizeof(tok));
        if (n)
            check_token(tok, n);
        return 0;
    }
    check_token((const char *)data, size);
    return 0;
}
