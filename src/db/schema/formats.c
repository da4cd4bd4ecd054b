/*
 * The format checks record validation needs beyond plain strings: dates
 * (parsed in the forms clients send and normalised to PocketBase's stored
 * "2006-01-02 15:04:05.000Z" in UTC, with civil-calendar arithmetic rather
 * than the process's time zone), email addresses (the pattern of ozzo's
 * is.EmailFormat that PocketBase uses), absolute URLs, and the `[class]{n}`
 * autogenerate patterns of id and tokenKey fields.
 */
#include "stagehand/formats.h"

#include <stdlib.h>
#include <string.h>

#include "stagehand/civil.h"
#include "stagehand/core.h"
#include "stagehand/schema.h"

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads exactly n digits at s[*i]. */
static bool digits(const char *s, size_t len, size_t *i, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[(*i)++] - '0');
    }
    *out = v;
    return true;
}

/* Writes v (< 10^n) as exactly n decimal digits, zero-padded. */
static void put_digits(char *out, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void sh_datetime_format(int64_t unix_ms, char *out)
{
    int64_t days = unix_ms / 86400000, rem = unix_ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned m, d;
    sh_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) {
        y = y < 0 ? 0 : 9999;
        m = y ? 12 : 1;
        d = y ? 31 : 1;
        rem = y ? 86399999 : 0;
    }
    unsigned ms = (unsigned)(rem % 1000), sec = (unsigned)(rem / 1000);
    /* Written digit by digit: every record write stamps its autodate fields
     * with this, and snprintf cost ten times as much. */
    put_digits(out, (unsigned)y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = ' ';
    put_digits(out + 11, sec / 3600, 2);
    out[13] = ':';
    put_digits(out + 14, sec / 60 % 60, 2);
    out[16] = ':';
    put_digits(out + 17, sec % 60, 2);
    out[19] = '.';
    put_digits(out + 20, ms, 3);
    out[23] = 'Z';
    out[SH_DATETIME_LEN] = 0;
}

int sh_datetime_parse(const char *s, size_t len, char *out)
{
    size_t i = 0;
    unsigned y, mo, d, h = 0, mi = 0, se = 0, ms = 0;
    while (len && (s[len - 1] == ' '))
        len--;
    while (i < len && s[i] == ' ')
        i++;
    if (!digits(s, len, &i, 4, &y) || i >= len || s[i++] != '-' || !digits(s, len, &i, 2, &mo) ||
        i >= len || s[i++] != '-' || !digits(s, len, &i, 2, &d))
        return SH_EINVAL;
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)))
        return SH_EINVAL;
    int offset_min = 0;
    if (i < len && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        i++;
        if (!digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':' || !digits(s, len, &i, 2, &mi))
            return SH_EINVAL;
        if (i < len && s[i] == ':') {
            i++;
            if (!digits(s, len, &i, 2, &se))
                return SH_EINVAL;
            if (i < len && s[i] == '.') {
                i++;
                size_t start = i;
                unsigned scale = 100;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                    ms += (unsigned)(s[i] - '0') * scale;
                    scale /= 10;
                    i++;
                }
                if (i == start || i - start > 9)
                    return SH_EINVAL;
            }
        }
        if (h > 23 || mi > 59 || se > 59)
            return SH_EINVAL;
        while (i < len && s[i] == ' ')
            i++;
        if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < len && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1;
            unsigned oh, om;
            if (!digits(s, len, &i, 2, &oh))
                return SH_EINVAL;
            if (i < len && s[i] == ':')
                i++;
            if (!digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
                return SH_EINVAL;
            offset_min = sign * (int)(oh * 60 + om);
        }
    } else if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    }
    if (i != len)
        return SH_EINVAL;
    int64_t t = sh_days_from_civil(y, mo, d) * 86400000 +
                ((int64_t)h * 3600 + mi * 60 + se - (int64_t)offset_min * 60) * 1000 + ms;
    if (t < sh_days_from_civil(0, 1, 1) * 86400000 ||
        t >= sh_days_from_civil(10000, 1, 1) * 86400000)
        return SH_EINVAL;
    sh_datetime_format(t, out);
    return 0;
}

static bool atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr(".!#$%&'*+/=?^_`{|}~-", c) != NULL;
}

static bool alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* [a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.<same>)* */
static bool domain_ok(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0)
        return false;
    while (i < len) {
        size_t start = i;
        while (i < len && s[i] != '.')
            i++;
        size_t n = i - start;
        if (n == 0 || n > 63 || !alnum((unsigned char)s[start]) || !alnum((unsigned char)s[i - 1]))
            return false;
        for (size_t k = start; k < i; k++)
            if (!alnum((unsigned char)s[k]) && s[k] != '-')
                return false;
        if (i < len) {
            i++;
            if (i == len)
                return false;
        }
    }
    return true;
}

bool sh_email_valid(const char *s, size_t len)
{
    if (len == 0 || len > 254)
        return false;
    const char *at = memchr(s, '@', len);
    if (!at || at == s)
        return false;
    for (const char *p = s; p < at; p++)
        if (!atext((unsigned char)*p))
            return false;
    return domain_ok(at + 1, len - (size_t)(at + 1 - s));
}

bool sh_url_valid(const char *s, size_t len, const char **host, size_t *host_len)
{
    size_t i = 0;
    if (len == 0 || len > 8192)
        return false;
    for (size_t k = 0; k < len; k++)
        if ((unsigned char)s[k] <= 0x20 || s[k] == 0x7f)
            return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    while (i < len && (alnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (len - i < 3 || memcmp(s + i, "://", 3) != 0)
        return false;
    i += 3;
    size_t start = i;
    while (i < len && s[i] != '/' && s[i] != '?' && s[i] != '#')
        i++;
    /* authority: [userinfo@]host[:port] */
    const char *a = s + start;
    size_t alen = i - start;
    const char *at = NULL;
    for (size_t k = 0; k < alen; k++)
        if (a[k] == '@')
            at = a + k;
    if (at) {
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    size_t hlen = alen;
    if (alen && a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (!close)
            return false;
        hlen = (size_t)(close - a) + 1;
    } else {
        const char *colon = memchr(a, ':', alen);
        if (colon)
            hlen = (size_t)(colon - a);
    }
    if (hlen < alen) {
        if (a[hlen] != ':' || hlen + 1 == alen)
            return false;
        for (size_t k = hlen + 1; k < alen; k++)
            if (a[k] < '0' || a[k] > '9')
                return false;
    }
    if (hlen == 0)
        return false;
    if (a[0] != '[' && !domain_ok(a, hlen))
        return false;
    if (host)
        *host = a;
    if (host_len)
        *host_len = hlen;
    return true;
}

/* Parses `[class]{n}` into a 256-entry membership table; returns n or -1. */
static int autogen_parse(const char *p, bool set[256])
{
    memset(set, 0, 256);
    size_t len = strlen(p), i = 1, members = 0;
    if (len < 5 || p[0] != '[')
        return -1;
    while (i < len && p[i] != ']') {
        unsigned char a = (unsigned char)p[i];
        if (a == '\\' || a == '^' || a == '[' || a < 0x21 || a > 0x7e)
            return -1;
        if (i + 2 < len && p[i + 1] == '-' && p[i + 2] != ']') {
            unsigned char b = (unsigned char)p[i + 2];
            if (b < a || b == '\\' || b > 0x7e)
                return -1;
            for (unsigned c = a; c <= b; c++)
                members += !set[c], set[c] = true;
            i += 3;
        } else {
            members += !set[a];
            set[a] = true;
            i++;
        }
    }
    if (i >= len || members == 0 || p[++i] != '{')
        return -1;
    i++;
    unsigned n = 0;
    size_t start = i;
    while (i < len && p[i] >= '0' && p[i] <= '9' && i - start < 4)
        n = n * 10 + (unsigned)(p[i++] - '0');
    if (i == start || i + 1 != len || p[i] != '}' || n < 1 || n > 255)
        return -1;
    return (int)n;
}

int sh_autogen_check(const char *pattern)
{
    bool set[256];
    int n = autogen_parse(pattern, set);
    return n < 0 ? SH_EINVAL : n;
}

/* The parsed form of the last pattern sh_autogen_generate saw on this
 * thread, keyed by its text: every create generates an id from the same
 * pattern, and parsing it again cost more than the random draw. */
struct autogen_memo {
    char pattern[64]; /* "" = none yet */
    int n;            /* autogen_parse's answer */
    char charset[257];
};

char *sh_autogen_generate(const char *pattern)
{
    static _Thread_local struct autogen_memo memo;
    size_t plen = strlen(pattern);
    bool hit = plen < sizeof(memo.pattern) && strcmp(memo.pattern, pattern) == 0 && plen;
    if (!hit) {
        bool set[256];
        memo.pattern[0] = 0;
        memo.n = autogen_parse(pattern, set);
        size_t k = 0;
        for (unsigned c = 1; memo.n > 0 && c < 256; c++)
            if (set[c])
                memo.charset[k++] = (char)c;
        memo.charset[k] = '\0';
        if (plen < sizeof(memo.pattern))
            memcpy(memo.pattern, pattern, plen + 1);
    }
    if (memo.n < 0)
        return NULL;
    char *out = sh_malloc((size_t)memo.n + 1);
    sh_random_string(out, (size_t)memo.n, memo.charset);
    return out;
}
