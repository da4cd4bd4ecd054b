/*
 * sh_strerror: one way to turn any code a stagehand function returns into
 * text for a log line, whether it is one of ours (core.h's SH_E*), -errno,
 * or a libuv code (-errno on Unix). strerrordesc_np (glibc) is used rather
 * than strerror because it is thread-safe and never formats.
 */
#include <stdio.h>
#include <string.h>

#include "stagehand/core.h"

const char *sh_strerror(int code)
{
    switch (code) {
    case 0:
        return "ok";
    case SH_ENOTFOUND:
        return "SH_ENOTFOUND: not found";
    case SH_ECONFLICT:
        return "SH_ECONFLICT: conflict";
    case SH_EINVAL:
        return "SH_EINVAL: invalid input";
    case SH_ETOOBIG:
        return "SH_ETOOBIG: too big";
    case SH_EFORBIDDEN:
        return "SH_EFORBIDDEN: forbidden";
    case SH_EBUSY:
        return "SH_EBUSY: busy";
    case SH_EINTERNAL:
        return "SH_EINTERNAL: internal error";
    case SH_ESTALE:
        return "SH_ESTALE: schema changed since the catalog was read";
    default:
        break;
    }
    if (code < 0 && code > -4096) {
        const char *s = strerrordesc_np(-code);
        if (s)
            return s;
    }
    /* per thread, so that a caller on any thread gets its own text */
    static _Thread_local char unknown[32];
    snprintf(unknown, sizeof(unknown), "unknown error %d", code);
    return unknown;
}
