/*
 * Cron expressions: the standard five fields (minute 0-59, hour 0-23, day of
 * month 1-31, month 1-12, day of week 0-6 with 7 also Sunday), each `*`, a
 * number, a range `a-b`, a step `*\/n` or `a-b/n`, or a comma list of these;
 * and the macros @yearly (@annually), @monthly, @weekly, @daily (@midnight),
 * @hourly. As in cron, when both day fields are restricted a day matching
 * either runs. Times are UTC. Pure code: parsed once, matched each minute.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops_int.h"

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* Parses one field of [lo, hi] into *bits; 0 or -1. */
static int field(const char *s, size_t n, int lo, int hi, uint64_t *bits, int *star)
{
    *bits = 0;
    *star = n == 1 && s[0] == '*';
    const char *end = s + n;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        int a, b, step = 1;
        const char *p = s;
        if (p < item_end && *p == '*') {
            a = lo;
            b = hi;
            p++;
        } else {
            char *q;
            if (p >= item_end || *p < '0' || *p > '9')
                return -1;
            a = (int)strtol(p, &q, 10);
            p = q;
            b = a;
            if (p < item_end && *p == '-') {
                p++;
                if (p >= item_end || *p < '0' || *p > '9')
                    return -1;
                b = (int)strtol(p, &q, 10);
                p = q;
            }
        }
        if (p < item_end && *p == '/') {
            char *q;
            p++;
            if (p >= item_end || *p < '0' || *p > '9')
                return -1;
            step = (int)strtol(p, &q, 10);
            p = q;
            if (step < 1)
                return -1;
            if (a == b && s[0] != '*')
                b = hi; /* "5/15": from 5 on, as Vixie cron */
        }
        if (p != item_end || a < lo || b > hi || a > b)
            return -1;
        for (int v = a; v <= b; v += step)
            *bits |= 1ull << v;
        s = comma ? comma + 1 : end;
        if (comma && s == end)
            return -1;
    }
    return *bits ? 0 : -1;
}

int sh__cron_parse(const char *expr, struct sh__cron *out)
{
    memset(out, 0, sizeof(*out));
    if (!expr)
        return -1;
    for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
        if (strcmp(expr, macros[i].name) == 0)
            expr = macros[i].expr;
    static const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 7};
    uint64_t bits[5];
    int star[5];
    const char *p = expr;
    for (int f = 0; f < 5; f++) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t");
        if (n == 0 || field(p, n, lo[f], hi[f], &bits[f], &star[f]) != 0)
            return -1;
        p += n;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p)
        return -1;
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    out->dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday too */
    out->dom_star = star[2];
    out->dow_star = star[4];
    return 0;
}

int sh__cron_match(const struct sh__cron *c, int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (!(c->minute >> tm.tm_min & 1) || !(c->hour >> tm.tm_hour & 1) ||
        !(c->month >> (tm.tm_mon + 1) & 1))
        return 0;
    int dom = c->dom >> tm.tm_mday & 1, dow = c->dow >> tm.tm_wday & 1;
    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}
