/*
 * Dates: the HTTP Date header and log timestamps change once a second, so they
 * are formatted once a second and reused (as nginx's ngx_time_update does).
 * Formatting is by hand: strftime consults the locale and the time zone.
 */
#include <stdio.h>
#include <string.h>

#include "stagehand/core.h"

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

size_t sh_date_format_http(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    int year = tm.tm_year + 1900;
    char *p = out;
    memcpy(p, wdays[tm.tm_wday], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = put2(p, tm.tm_mday);
    *p++ = ' ';
    memcpy(p, months[tm.tm_mon], 3);
    p += 3;
    *p++ = ' ';
    p = put2(p, year / 100);
    p = put2(p, year % 100);
    *p++ = ' ';
    p = put2(p, tm.tm_hour);
    *p++ = ':';
    p = put2(p, tm.tm_min);
    *p++ = ':';
    p = put2(p, tm.tm_sec);
    memcpy(p, " GMT", 5);
    return 29;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

time_t sh_date_parse_http(const char *s, size_t len)
{
    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int mon = -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, months[i], 3) == 0)
            mon = i;
    if (mon < 0 || digits(s + 5, 2, &tm.tm_mday) || digits(s + 12, 4, &tm.tm_year) ||
        digits(s + 17, 2, &tm.tm_hour) || digits(s + 20, 2, &tm.tm_min) ||
        digits(s + 23, 2, &tm.tm_sec))
        return -1;
    if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_mon = mon;
    tm.tm_year -= 1900;
    return timegm(&tm);
}

const struct sh_date_cache *sh_date_cache_update(struct sh_date_cache *c, time_t now)
{
    if (c->sec == now && c->http[0])
        return c;
    struct tm tm;
    gmtime_r(&now, &tm);
    sh_date_format_http(now, c->http);
    int year = tm.tm_year + 1900;
    char *p = c->iso;
    p = put2(p, year / 100);
    p = put2(p, year % 100);
    *p++ = '-';
    p = put2(p, tm.tm_mon + 1);
    *p++ = '-';
    p = put2(p, tm.tm_mday);
    *p++ = 'T';
    p = put2(p, tm.tm_hour);
    *p++ = ':';
    p = put2(p, tm.tm_min);
    *p++ = ':';
    p = put2(p, tm.tm_sec);
    memcpy(p, "Z", 2);
    c->sec = now;
    return c;
}
