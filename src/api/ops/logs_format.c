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

/* "2006-01-02 15:04:05.000Z", as every date of the API. The civil date is
 * computed from the day number directly (days since 1970 shifted to an era
 * of 400 years starting in March, so that leap days fall at a year's end):
 * gmtime_r took the time-zone lock and cost more than the rest of the date. */
void sh__logs_format_date(int64_t ms, char out[32])
{
    int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
    int64_t sod = s - days * 86400;
    int64_t z = days + 719468; /* days since 0000-03-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    int64_t mon = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (mon <= 2);
    unsigned v[7] = {(unsigned)((year % 10000 + 10000) % 10000),
                     (unsigned)mon,
                     (unsigned)(doy - (153 * mp + 2) / 5 + 1),
                     (unsigned)(sod / 3600),
                     (unsigned)(sod / 60 % 60),
                     (unsigned)(sod % 60),
                     (unsigned)(ms - s * 1000)};
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

/* Room an escaped string of n bytes may take: every byte as \\u00XX. */
#define ESC_ROOM(n) (6 * (size_t)(n) + 2)

/* Writes v[0..n) at w as a JSON string (quotes included), escaped; bytes
 * that are not UTF-8 (a header may carry any) become U+FFFD, so the text
 * stays valid. w has ESC_ROOM(n) bytes. Returns the end. */
static char *put_esc(char *w, const char *v, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)v;
    *w++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *w++ = (char)c;
            i++;
        } else if (c == '"' || c == '\\') {
            *w++ = '\\';
            *w++ = (char)c;
            i++;
        } else if (c < 0x80) { /* a control byte or DEL */
            memcpy(w, "\\u00", 4);
            w[4] = hex[c >> 4];
            w[5] = hex[c & 15];
            w += 6;
            i++;
        } else {
            size_t len = utf8_len(p + i, n - i);
            if (len) {
                memcpy(w, p + i, len);
                w += len;
                i += len;
            } else {
                memcpy(w, "\\ufffd", 6);
                w += 6;
                i++;
            }
        }
    }
    *w++ = '"';
    return w;
}

static char *put_lit(char *w, const char *s, size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

/* Decimal digits of v at w; returns the end. */
static char *put_u64(char *w, uint64_t v)
{
    char d[20];
    unsigned k = 0;
    do
        d[k++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (k)
        *w++ = d[--k];
    return w;
}

#define LIT(w, s) put_lit(w, s, sizeof(s) - 1)

/* ,"key":"value" (the key a literal of ours, v[0..n) escaped). */
static char *put_kv(char *w, const char *key, size_t klen, const char *v, size_t n)
{
    *w++ = ',';
    *w++ = '"';
    w = put_lit(w, key, klen);
    *w++ = '"';
    *w++ = ':';
    return put_esc(w, v, n);
}

#define KV(w, key, v, n)    put_kv(w, key, sizeof(key) - 1, v, n)
#define FIELD(w, key, e, k) KV(w, key, (e)->f[k] ? (e)->f[k] : "", (e)->f[k] ? (e)->n[k] : 0)

void sh__logs_entry_json(const struct sh__log_entry *e, struct sh_buf *js, struct sh_buf *msg)
{
    /* the message first ("METHOD url" with the url cut of its secrets, or
     * the line); a request's referer, cut too, goes past its NUL, where the
     * JSON below reads it from */
    size_t room = 3;
    for (unsigned i = 0; i < SH__LF_COUNT; i++)
        room += e->n[i];
    sh_buf_reserve(msg, room);
    char *m0 = msg->data + msg->len, *m = m0;
    const char *url = NULL, *ref = NULL;
    size_t url_n = 0, ref_n = 0;
    if (e->request) {
        m = put_lit(m, e->f[SH__LF_METHOD], e->n[SH__LF_METHOD]);
        *m++ = ' ';
        url = m;
        url_n = sh__logs_strip_secrets(m, e->f[SH__LF_URL], e->n[SH__LF_URL]);
        m += url_n + 1;
        if (e->f[SH__LF_REFERER]) {
            ref = m;
            ref_n = sh__logs_strip_secrets(m, e->f[SH__LF_REFERER], e->n[SH__LF_REFERER]);
        }
    } else {
        m = put_lit(m, e->f[SH__LF_MSG], e->n[SH__LF_MSG]);
        *m++ = 0;
    }
    msg->len += (size_t)(m - m0);

    /* one reservation for the worst case, then plain stores */
    room = 256;
    for (unsigned i = 0; i < SH__LF_COUNT; i++)
        room += e->f[i] ? ESC_ROOM(e->n[i]) + 16 : 0;
    sh_buf_reserve(js, room);
    char *w0 = js->data + js->len, *w = w0;
    if (e->request) {
        w = LIT(w, "{\"type\":\"request\"");
        w = KV(w, "url", url, url_n);
        w = FIELD(w, "method", e, SH__LF_METHOD);
        w = LIT(w, ",\"status\":");
        w = put_u64(w, (uint64_t)(e->status > 0 ? e->status : 0));
        /* execTime in ms with µs digits */
        uint64_t us = e->exec_us;
        w = LIT(w, ",\"execTime\":");
        w = put_u64(w, us / 1000);
        w[0] = '.';
        w[1] = (char)('0' + us / 100 % 10);
        w[2] = (char)('0' + us / 10 % 10);
        w[3] = (char)('0' + us % 10);
        w += 4;
        w = FIELD(w, "remoteIP", e, SH__LF_REMOTE_IP);
        w = FIELD(w, "userIP", e, SH__LF_USER_IP);
        w = FIELD(w, "userAgent", e, SH__LF_UA);
        w = KV(w, "referer", ref ? ref : "", ref_n);
        if (e->f[SH__LF_AUTH]) {
            w = FIELD(w, "auth", e, SH__LF_AUTH);
            w = FIELD(w, "authId", e, SH__LF_AUTH_ID);
        }
        w = FIELD(w, "requestId", e, SH__LF_RID);
    } else {
        w = LIT(w, "{\"type\":\"app\"");
        w = FIELD(w, "module", e, SH__LF_MOD);
    }
    *w++ = '}';
    *w++ = 0;
    js->len += (size_t)(w - w0);
}
