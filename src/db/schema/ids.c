/*
 * Random characters for record ids, session ids and secrets
 * (sh_random_string of schema.h). Each thread keeps a pool of 4 KiB from
 * libsodium's randombytes_buf (the kernel's getrandom) and takes one byte per
 * character: asking libsodium per character (randombytes_uniform) cost a
 * getrandom system call each, 15 per record id, which was a tenth of the
 * create path. A byte at or above the largest multiple of the charset's size
 * that fits in 256 is rejected and the next one taken, so every character is
 * equally likely (no modulo bias). Consumed bytes are wiped from the pool, so
 * past values cannot be read back from memory; a forked child starts with an
 * empty pool rather than repeating its parent's.
 */
#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "stagehand/core.h"
#include "stagehand/schema.h"

#define POOL_SIZE 4096

struct pool {
    unsigned char b[POOL_SIZE];
    size_t at; /* next unused byte; POOL_SIZE when empty */
};

/* Per thread, not per server: random bytes are no one's state, and a pool
 * shared between threads would need a lock on every id. */
static _Thread_local struct pool pool = {.at = POOL_SIZE};
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void after_fork(void)
{
    sodium_memzero(pool.b, sizeof(pool.b));
    pool.at = POOL_SIZE;
}

static void init_once(void)
{
    /* sodium_init is idempotent and thread-safe; randombytes needs it once. */
    if (sodium_init() < 0)
        sh_panic(__FILE__, __LINE__, "sodium_init failed");
    pthread_atfork(NULL, NULL, after_fork);
}

static unsigned char next_byte(void)
{
    if (pool.at == POOL_SIZE) {
        randombytes_buf(pool.b, sizeof(pool.b));
        pool.at = 0;
    }
    unsigned char v = pool.b[pool.at];
    pool.b[pool.at++] = 0;
    return v;
}

void sh_random_string(char *out, size_t n, const char *charset)
{
    pthread_once(&once, init_once);
    size_t m = strlen(charset);
    SH_ASSERT(m > 0 && m <= 256);
    unsigned limit = 256 - 256 % (unsigned)m; /* bytes below it map evenly */
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        do
            b = next_byte();
        while (b >= limit);
        out[i] = charset[b % m];
    }
    out[n] = '\0';
}
