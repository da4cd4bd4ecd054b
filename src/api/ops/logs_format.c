/*
 * What the stored logs' thread and the loop format, kept apart from the
 * thread's machinery (logs_store.c): the API's date format, time-ordered
 * log ids, the url without secret query values, and an entry's data JSON
 * and message. Hand-written (no snprintf, no cJSON tree): the thread runs
 * them once per entry, and they were half of its cost.
 */
#include <string.h>
#include <time.h>

#include "ops_int.h"

/* "2006-01-02 15:04:05.000Z", as every date of the API. */
void sh__logs_format_date(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* by hand: the log thread formats one per entry, and snprintf costs
     * more than the rest of the entry's JSON */
    unsigned v[7] = {(unsigned)(tm.tm_year + 1900) % 10000u,
                     (unsigned)tm.tm_mon + 1,
                     (unsigned)tm.tm_mday,
                     (unsigned)tm.tm_hour,
                     (unsigned)tm.tm_min,
                     (unsigned)tm.tm_sec,
                     (unsigned)(ms % 1000)};
    static const char seps[] = "-- ::.";
    static const unsigned width[7] = {4, 2, 2, 2, 2, 2, 3};
    char *w = out;
    for (int i = 0; i < 7; i++) {
        for (unsigned k = width[i], x = v[i]; k > 0; k--, x /= 10)
            w[k - 1] = (char)('0' + x % 10);
        w += width[i];
        if (i < 6)
            *w++ = seps[i];
    }
    *w++ = 'Z';
    *w = 0;
}

/* Is a query parameter named n (raw, n bytes) one whose value is a secret?
 * Its name is compared decoded and case-insensitively. */
static int secret_param(const char *n, size_t len)
{
    char name[64];
    if (len >= sizeof(name))
        return 0;
    long dn = sh_http_percent_decode(name, n, len, SH_PCT_FORM);
    if (dn < 0)
        return 0;
    for (long i = 0; i < dn; i++)
        name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    return strstr(name, "token") || strstr(name, "password") || strstr(name, "secret");
}

/* Copies the url src[0..n) into dst (room for n + 1) without the values of
 * secret query parameters (token=, ...password=, ...secret=): their names
 * stay, so the log still shows that one was sent. Returns the length. */
size_t sh__logs_strip_secrets(char *dst, const char *src, size_t n)
{
    const char *q = memchr(src, '?', n);
    size_t out = q ? (size_t)(q - src) + 1 : n;
    memcpy(dst, src, out);
    if (!q) {
        dst[out] = 0;
        return out;
    }
    const char *p = q + 1, *end = src + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t keep = (size_t)(stop - p);
        if (eq && secret_param(p, (size_t)(eq - p)))
            keep = (size_t)(eq - p) + 1;
        memcpy(dst + out, p, keep);
        out += keep;
        if (amp)
            dst[out++] = '&';
        p = amp ? amp + 1 : end;
    }
    dst[out] = 0;
    return out;
}

/* Log ids: 15 characters of [0-9a-z]: the entry's time in ms as 8 base-36
 * digits, then 7 from a generator of the thread's own, seeded once from
 * libsodium (unique, not secret; no syscall per entry). Time first, so that
 * the id index grows at its right edge: random ids would dirty a different
 * index page per entry, and each dirty page is a WAL write at commit. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sh__logs_id_new(struct sh__logs_ids *g, int64_t ms, char out[16])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint64_t t = ms > 0 ? (uint64_t)ms : 0, r = splitmix64(&g->s);
    for (int i = 7; i >= 0; i--, t /= 36)
        out[i] = digits[t % 36];
    for (int i = 8; i < 15; i++, r /= 36)
        out[i] = digits[r % 36];
    out[15] = 0;
}

/* Length of the valid UTF-8 sequence at p (of n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, past U+10FFFF */
    return len;
}

/* Appends "key":"value" with value escaped as JSON; bytes that are not
 * UTF-8 (a header may carry any) become U+FFFD, so the text stays valid. */
static void json_str(struct sh_buf *b, const char *key, const char *v)
{
    if (b->len > 1)
        sh_buf_append(b, ",", 1);
    sh_buf_append(b, "\"", 1);
    sh_buf_appends(b, key);
    sh_buf_append(b, "\":\"", 3);
    const unsigned char *p = (const unsigned char *)(v ? v : "");
    size_t n = strlen((const char *)p);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sh_buf_append(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            sh_buf_appendf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            size_t j = i + 1;
            while (j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' && p[j] != '\\')
                j++;
            sh_buf_append(b, p + i, j - i);
            i = j;
        } else {
            size_t len = utf8_len(p + i, n - i);
            if (len)
                sh_buf_append(b, p + i, len);
            else
                sh_buf_appends(b, "\\ufffd");
            i += len ? len : 1;
        }
    }
    sh_buf_append(b, "\"", 1);
}

/* The entry's data JSON into js and its message into msg (both
 * NUL-terminated; the thread's buffers, reused). */
void sh__logs_entry_json(const struct sh__log_entry *e, struct sh_buf *js, struct sh_buf *msg)
{
    js->len = 0;
    msg->len = 0;
    sh_buf_append(js, "{", 1);
    if (e->request) {
        json_str(js, "type", "request");
        json_str(js, "url", e->f[SH__LF_URL]);
        json_str(js, "method", e->f[SH__LF_METHOD]);
        sh_buf_appends(js, ",\"status\":");
        sh_buf_append_u64(js, (uint64_t)(e->status > 0 ? e->status : 0));
        /* execTime in ms with µs digits, written by hand as format_date */
        uint64_t us = e->exec_us;
        char frac[4] = {(char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10),
                        (char)('0' + us % 10), 0};
        sh_buf_appends(js, ",\"execTime\":");
        sh_buf_append_u64(js, us / 1000);
        sh_buf_append(js, ".", 1);
        sh_buf_append(js, frac, 3);
        json_str(js, "remoteIP", e->f[SH__LF_REMOTE_IP]);
        json_str(js, "userIP", e->f[SH__LF_USER_IP]);
        json_str(js, "userAgent", e->f[SH__LF_UA]);
        json_str(js, "referer", e->f[SH__LF_REFERER]);
        if (e->f[SH__LF_AUTH]) {
            json_str(js, "auth", e->f[SH__LF_AUTH]);
            json_str(js, "authId", e->f[SH__LF_AUTH_ID]);
        }
        json_str(js, "requestId", e->f[SH__LF_RID]);
        sh_buf_appends(msg, e->f[SH__LF_METHOD]);
        sh_buf_append(msg, " ", 1);
        sh_buf_appends(msg, e->f[SH__LF_URL]);
    } else {
        json_str(js, "type", "app");
        json_str(js, "module", e->f[SH__LF_MOD]);
        sh_buf_appends(msg, e->f[SH__LF_MSG]);
    }
    sh_buf_append(js, "}", 2); /* with the NUL */
    sh_buf_append(msg, "", 1);
}
