/*
 * "The schema moved under this request: refresh the catalog and run it
 * again", in one place (api_int.h). Another process (the CLI) may migrate a
 * table between this process's catalog polls; the writer then refuses a job
 * bound to the older snapshot (SH_ESTALE), and a read meets a table or
 * column that is no longer what the snapshot says (SQLite's error). Either
 * way the request runs again against the current snapshot, a bounded
 * number of times, rather than failing the client for a window it cannot
 * see.
 */
#include "api_int.h"

static bool may_be_stale(int rc)
{
    return rc == SH_ESTALE || rc == SH_EINVAL || rc == SH_EINTERNAL || rc == SH_ENOTFOUND;
}

bool sh__api_retry_if_stale(struct sh_catalog *cat, const struct sh_catalog_snap *snap, int rc,
                            unsigned *attempts)
{
    if (!may_be_stale(rc) || *attempts >= SH__API_STALE_RETRIES)
        return false;
    ++*attempts;
    if (sh_catalog_refresh(cat) != 0)
        return false;
    return cat->snap && cat->snap != snap;
}
