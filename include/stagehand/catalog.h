/*
 * The collection catalog: the in-memory list of collections, loaded from
 * `_collections` and replaced whenever the schema version of _meta moves
 * (a 1 s loop timer polls it, and this process's own schema writes refresh
 * it at once), so a change made by `stagehand collections import` in another
 * process is seen within a second.
 *
 * A catalog hands out immutable snapshots (struct sh_catalog_snap) with an
 * atomic reference count: a request takes one for its whole life, a write
 * job carries one to the writer thread, and a reload never frees a snapshot
 * still in use. A snapshot is a struct sh_collection_resolver, so the schema
 * parser and the filter compiler can look collections up through it.
 *
 * Schema changes (create, update, delete of a collection) run the table's
 * migration SQL and the `_collections` row write in one transaction:
 * sh_catalog_apply on a write connection (the writer thread or the CLI's
 * exclusive path), sh_catalog_save to do it from the loop as a writer job.
 *
 * Threads: the catalog itself is the loop thread's; snapshots may be read by
 * any thread holding a reference; sh_catalog_load/apply run on whichever
 * thread owns the connection they are given.
 */
#ifndef STAGEHAND_CATALOG_H
#define STAGEHAND_CATALOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "stagehand/db.h"
#include "stagehand/schema.h"

/* An immutable list of collections as of one schema version. */
struct sh_catalog_snap {
    atomic_int refs;
    int64_t version;
    struct sh_collection **list; /* owned; in _collections order */
    size_t n;
    struct sh_collection_resolver resolver; /* finds in this snapshot */
};

/* Loads every collection of `_collections` through conn (a write connection
 * inside a transaction, or any connection whose reads are consistent for the
 * call) into a new snapshot with one reference and version `version`.
 * Returns 0, or SH_EINVAL when a stored definition does not parse (err names
 * it), or the code of the failed query. */
int sh_catalog_load(sqlite3 *conn, int64_t version, struct sh_catalog_snap **out,
                    struct sh_schema_error *err);

/* Takes another reference (any thread). */
struct sh_catalog_snap *sh_catalog_snap_ref(struct sh_catalog_snap *s);
/* Drops one; the last frees the collections. NULL is ignored. Any thread. */
void sh_catalog_snap_free(struct sh_catalog_snap *s);
/* By id (exact) or name (ASCII case-insensitive); NULL if unknown. Borrowed
 * from the snapshot. */
const struct sh_collection *sh_catalog_snap_find(const struct sh_catalog_snap *s,
                                                 const char *id_or_name);

/* ---- the loop's catalog ---- */
struct sh_catalog {
    struct sh_db *db;
    uv_timer_t timer;
    struct sh_catalog_snap *snap; /* current; never NULL while open */
    int open;
    uint64_t reloads;
};

/* Loads the collections through db's read connection and starts the 1 s
 * poll. Loop thread, before serving. 0 or a negative code (logged). */
int sh_catalog_open(struct sh_catalog *cat, uv_loop_t *loop, struct sh_db *db);
/* Stops the poll and drops the current snapshot (snapshots held elsewhere
 * stay valid). The timer handle closes on the next loop iteration: run the
 * loop before freeing cat's storage. */
void sh_catalog_close(struct sh_catalog *cat);
/* Reloads if the schema version changed. 0, or a negative code with the old
 * snapshot kept (logged). */
int sh_catalog_refresh(struct sh_catalog *cat);
/* The current snapshot with a new reference for the caller; NULL once the
 * catalog is closed. */
struct sh_catalog_snap *sh_catalog_acquire(struct sh_catalog *cat);
/* Looks up in the current snapshot (borrowed until the next reload: take a
 * snapshot to keep it across an asynchronous step). */
const struct sh_collection *sh_catalog_find(const struct sh_catalog *cat, const char *id_or_name);

/* ---- schema changes ---- */

/* On a write connection inside a transaction: makes the table of `old` into
 * that of `next` — create (old NULL), migrate, or drop (next NULL) — and
 * writes the `_collections` row, which bumps the schema version. Returns 0,
 * SH_EINVAL with err filled when the migration is refused, or the code of
 * the failed statement (logged). */
int sh_catalog_apply(sqlite3 *wdb, const struct sh_collection *old,
                     const struct sh_collection *next, struct sh_schema_error *err);

/* SH_EINVAL with err filled if another collection of s has a relation to c
 * (PocketBase refuses to delete such a collection). */
int sh_catalog_check_delete(const struct sh_catalog_snap *s, const struct sh_collection *c,
                            struct sh_schema_error *err);

typedef void (*sh_catalog_save_cb)(void *arg, int rc, const struct sh_schema_error *err);

/* Submits one writer job that applies old -> next (see sh_catalog_apply),
 * first checking that old is still what `_collections` holds (else
 * SH_ESTALE: the schema moved since the snapshot old belongs to). old and next must belong to,
 * or outlive, the current snapshot; next (may be NULL for a delete) is taken
 * over by the job. After the commit the catalog is refreshed and cb(arg, rc,
 * err) runs on the loop. Returns 0 (cb will run), or SH_EBUSY / -ECANCELED
 * from sh_db_submit (cb will not run; next is freed). */
int sh_catalog_save(struct sh_catalog *cat, const struct sh_collection *old,
                    struct sh_collection *next, sh_catalog_save_cb cb, void *arg);

/* The same for n changes olds[i] -> nexts[i] (create, migrate or drop, as
 * sh_catalog_apply), applied in order in one writer job and one
 * transaction: all or nothing. The arrays are copied; the nexts are taken
 * over (on failure to submit too). */
int sh_catalog_save_many(struct sh_catalog *cat, size_t n, const struct sh_collection *const *olds,
                         struct sh_collection **nexts, sh_catalog_save_cb cb, void *arg);

/* ---- a new data directory (catalog_init.c) ---- */

/* Before the server opens <dir>: the first time a data directory is served
 * (remembered in _meta), creates PocketBase's default `users` collection if
 * with_default and no collection but the system ones exists. Blocking (a
 * transaction through sh_db_run_exclusive): call before the loop serves.
 * 0, or the code of the failure (logged). */
int sh_catalog_init_schema(const char *dir, const struct sh_db_options *opt, bool with_default);

#endif
