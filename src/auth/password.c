/*
 * Argon2id helpers that block: hashing and verifying a password with
 * libsodium's crypto_pwhash_str*, for the command line (`stagehand superuser
 * upsert` runs outside the loop) and for the hashing pool's threads, plus a
 * constant-time comparison of secrets. libsodium reports failures through
 * errno; they are turned into stagehand's codes here, once: a mismatch and an
 * unparseable hash are both SH_EFORBIDDEN, while running out of memory is
 * -ENOMEM, so that an overloaded server is not mistaken for a wrong password
 * in the logs (the caller refuses the login either way).
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "stagehand/auth.h"

_Static_assert(SH_PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "hash buffer size");

static int limits(unsigned long long *ops, size_t *mem)
{
    if (*ops == 0)
        *ops = SH_ARGON2_OPS_DEFAULT;
    if (*mem == 0)
        *mem = SH_ARGON2_MEM_DEFAULT;
    if (*ops < crypto_pwhash_OPSLIMIT_MIN || *ops > crypto_pwhash_OPSLIMIT_MAX ||
        *mem < crypto_pwhash_MEMLIMIT_MIN || *mem > crypto_pwhash_MEMLIMIT_MAX)
        return SH_EINVAL;
    return 0;
}

int sh_password_hash_sync(const char *password, size_t len, char out[SH_PASSWORD_HASH_MAX],
                          unsigned long long ops, size_t mem)
{
    out[0] = '\0';
    if (len > SH_PASSWORD_MAX_LEN)
        return SH_ETOOBIG;
    int rc = limits(&ops, &mem);
    if (rc)
        return rc;
    if (sodium_init() < 0) /* idempotent and thread-safe; picks the Argon2 code */
        return SH_EINTERNAL;
    errno = 0;
    if (crypto_pwhash_str(out, password, len, ops, mem) == 0)
        return 0;
    return errno == ENOMEM ? -ENOMEM : SH_EINVAL;
}

int sh_password_verify_sync(const char *hash, const char *password, size_t len)
{
    if (len > SH_PASSWORD_MAX_LEN)
        return SH_ETOOBIG;
    if (!hash || strnlen(hash, SH_PASSWORD_HASH_MAX) == SH_PASSWORD_HASH_MAX)
        return SH_EFORBIDDEN;
    if (sodium_init() < 0)
        return SH_EINTERNAL;
    errno = 0;
    if (crypto_pwhash_str_verify(hash, password, len) == 0)
        return 0;
    /* Argon2 takes its memory with mmap, which sets errno on failure; a
     * mismatch sets EINVAL and a decoding failure leaves errno alone. */
    return errno == ENOMEM ? -ENOMEM : SH_EFORBIDDEN;
}

int sh_password_needs_rehash(const char *hash, unsigned long long ops, size_t mem)
{
    if (limits(&ops, &mem) != 0 || !hash ||
        strnlen(hash, SH_PASSWORD_HASH_MAX) == SH_PASSWORD_HASH_MAX)
        return 1;
    /* 1 for other parameters, -1 for anything that is not an Argon2id hash
     * (argon2i, bcrypt imported from PocketBase): both want a new hash. */
    return crypto_pwhash_str_needs_rehash(hash, ops, mem) != 0;
}

int sh_secret_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return 0;
    if (alen == 0)
        return 1;
    return sodium_memcmp(a, b, alen) == 0;
}
