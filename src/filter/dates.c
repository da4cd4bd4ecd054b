/*
 * The date macros of the filter language: @now, @yesterday, @tomorrow,
 * @todayStart/@todayEnd, @monthStart/@monthEnd, @yearStart/@yearEnd as
 * bound texts in the stored format ("2006-01-02 15:04:05.000Z", UTC), and
 * @second, @minute, @hour, @weekday (Sunday = 0), @day, @month, @year as
 * bound integers, all from the request's clock (ctx->now_ms), as
 * PocketBase's. The clock is clamped to years 0001..9999.
 */
#include <inttypes.h>
#include <stdio.h>

#include "filter_int.h"
#include "stagehand/civil.h"

#define DAY_MS INT64_C(86400000)

static void set_date(struct sh__val *out, int64_t ms)
{
    int64_t days = ms >= 0 ? ms / DAY_MS : (ms - DAY_MS + 1) / DAY_MS;
    int64_t rem = ms - days * DAY_MS, y;
    unsigned m, d;
    sh_civil_from_days(days, &y, &m, &d);
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%04" PRId64 "-%02u-%02u %02d:%02d:%02d.%03dZ", y, m, d,
                     (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
                     (int)(rem % 1000));
    sh__val_set_text(out, buf, (size_t)n);
}

void sh__set_time_macro(enum sh__macro mac, int64_t now, struct sh__val *out)
{
    /* Clamp to years 0001..9999 so that the arithmetic below cannot overflow. */
    if (now < INT64_C(-62135596800000))
        now = INT64_C(-62135596800000);
    if (now > INT64_C(253402300799999))
        now = INT64_C(253402300799999);
    int64_t days = now >= 0 ? now / DAY_MS : (now - DAY_MS + 1) / DAY_MS;
    int64_t rem = now - days * DAY_MS, y;
    unsigned m, d;
    sh_civil_from_days(days, &y, &m, &d);
    int64_t ms; /* for the date macros */
    switch (mac) {
    case SH_MACRO_NOW:
        ms = now;
        break;
    case SH_MACRO_YESTERDAY:
        ms = now - DAY_MS;
        break;
    case SH_MACRO_TOMORROW:
        ms = now + DAY_MS;
        break;
    case SH_MACRO_TODAY_START:
        ms = days * DAY_MS;
        break;
    case SH_MACRO_TODAY_END:
        ms = days * DAY_MS + DAY_MS - 1;
        break;
    case SH_MACRO_MONTH_START:
        ms = sh_days_from_civil(y, m, 1) * DAY_MS;
        break;
    case SH_MACRO_MONTH_END:
        ms = sh_days_from_civil(y + (m == 12), m % 12 + 1, 1) * DAY_MS - 1;
        break;
    case SH_MACRO_YEAR_START:
        ms = sh_days_from_civil(y, 1, 1) * DAY_MS;
        break;
    case SH_MACRO_YEAR_END:
        ms = sh_days_from_civil(y + 1, 1, 1) * DAY_MS - 1;
        break;
    case SH_MACRO_SECOND:
        sh__val_set_int(out, rem / 1000 % 60);
        return;
    case SH_MACRO_MINUTE:
        sh__val_set_int(out, rem / 60000 % 60);
        return;
    case SH_MACRO_HOUR:
        sh__val_set_int(out, rem / 3600000);
        return;
    case SH_MACRO_WEEKDAY: /* 1970-01-01 was a Thursday; Sunday is 0 */
        sh__val_set_int(out, ((days % 7) + 11) % 7);
        return;
    case SH_MACRO_DAY:
        sh__val_set_int(out, d);
        return;
    case SH_MACRO_MONTH:
        sh__val_set_int(out, m);
        return;
    case SH_MACRO_YEAR:
        sh__val_set_int(out, y);
        return;
    default:
        sh__val_set_null(out);
        return;
    }
    set_date(out, ms);
}
