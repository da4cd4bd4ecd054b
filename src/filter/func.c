/*
 * Function calls of the filter language: geoDistance(lonA, latA, lonB, latB)
 * and strftime(format, time-value[, modifier...]). Each argument is an
 * ordinary operand resolved by operand.c; it must be single-valued (a
 * multi-valued argument would need an element-wise call, which PocketBase
 * does not define either). The call becomes an SQL expression over the
 * arguments' SQL values, so literals stay bound parameters.
 *
 * geoDistance is the haversine great-circle distance in kilometres on a
 * sphere of radius 6371 km, as PocketBase computes it, with the acos
 * argument clamped to [-1, 1] so that two equal points give 0 rather than
 * NULL from rounding. A geoPoint field's `field.lon` / `field.lat` arrive as
 * json_extract() operands (see the JSON-path branch of operand.c).
 * strftime is SQLite's, which reads stagehand's stored date format
 * ("2006-01-02 15:04:05.000Z") directly; an unparsable value gives NULL.
 */
#include <stdio.h>
#include <string.h>

#include "filter_int.h"
#include "stagehand/core.h"

static void put_radians(struct sh_filter_sql *q, const struct sh__val *v)
{
    sh__sql_puts(q, "radians(");
    sh__sql_append(q, &v->val);
    sh__sql_puts(q, ")");
}

/* 6371 * acos(clamp(cos(la1) cos(la2) cos(lo2 - lo1) + sin(la1) sin(la2))) */
static void put_geo_distance(struct sh_filter_sql *q, const struct sh__val a[4])
{
    const struct sh__val *lon1 = &a[0], *lat1 = &a[1], *lon2 = &a[2], *lat2 = &a[3];
    sh__sql_puts(q, "(6371 * acos(MAX(-1, MIN(1, cos(");
    put_radians(q, lat1);
    sh__sql_puts(q, ") * cos(");
    put_radians(q, lat2);
    sh__sql_puts(q, ") * cos(");
    put_radians(q, lon2);
    sh__sql_puts(q, " - ");
    put_radians(q, lon1);
    sh__sql_puts(q, ") + sin(");
    put_radians(q, lat1);
    sh__sql_puts(q, ") * sin(");
    put_radians(q, lat2);
    sh__sql_puts(q, ")))))");
}

int sh__resolve_func(struct sh__compiler *c, const struct sh__opnd *o, struct sh__val *out)
{
    memset(out, 0, sizeof(*out));
    struct sh__val args[SH_FUNC_MAX_ARGS];
    unsigned n = 0;
    int rc = 0;
    for (; n < o->nargs; n++) {
        const struct sh__opnd *a = &o->args[n];
        rc =
            a->kind == SH_OPND_MACRO && a->macro == SH_MACRO_COLLECTION
                ? sh__filter_fail(c->err, a->off,
                                  "Invalid %s: @collection cannot be a function argument.", c->what)
                : sh__resolve(c, a, &args[n]);
        if (rc)
            break;
        if (args[n].multi) {
            n++;
            rc = sh__filter_fail(c->err, a->off,
                                 "Invalid %s: function arguments must be single values (offset "
                                 "%zu).",
                                 c->what, a->off);
            break;
        }
    }
    if (rc == 0) {
        if (o->func == SH_FUNC_GEO_DISTANCE) {
            put_geo_distance(&out->val, args);
        } else {
            sh__sql_puts(&out->val, "strftime(");
            for (unsigned i = 0; i < o->nargs; i++) {
                if (i)
                    sh__sql_puts(&out->val, ", ");
                sh__sql_append(&out->val, &args[i].val);
            }
            sh__sql_puts(&out->val, ")");
        }
    }
    for (unsigned i = 0; i < n; i++)
        sh__val_deinit(&args[i]);
    return rc;
}
