/*
 * Records of a collection, the storage side of API.md "Records": the JSON
 * shape of a row, list and view queries on the loop's read connection
 * (rules and filters compiled by filter.h, every value bound), relation
 * expansion, and the create/update/delete work that runs on the writer
 * thread inside the batch transaction (validation by validate.h, the create
 * rule checked against the inserted row, unique violations turned into
 * per-field errors, relation references cleared or cascaded on delete).
 *
 * Rows are read into cJSON objects shaped as PocketBase returns them:
 * `collectionId`, `collectionName`, then the fields in their order; numbers
 * as numbers, bools as true/false, json fields parsed, multi select and
 * relation fields as arrays, dates as "2006-01-02 15:04:05.000Z". Password
 * fields are never read; hidden fields (and, in auth collections, `email`
 * unless `emailVisibility`) are left out unless SH_REC_SUPERUSER.
 *
 * Threads: sh_rec_list/view/expand use the loop's read connection (loop
 * thread); sh_rec_write_run runs on the writer thread. Collections are only
 * read, so both may use the same snapshot at once.
 */
#ifndef STAGEHAND_DB_RECORDS_H
#define STAGEHAND_DB_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "db/catalog.h"
#include "db/filter.h"
#include "db/schema.h"
#include "db/validate.h"
#include "stagehand/core.h"
#include "stagehand/db.h"

struct cJSON;

#define SH_REC_SUPERUSER 1u /* rules bypassed, hidden fields shown */
#define SH_REC_RAW                                                                                 \
    2u /* every column incl. passwords, without collection keys                                    \
          (validation's `existing`) */

#define SH_REC_MAX_EXPAND_DEPTH 6

/* ---- rows ---- */

/* Appends the readable columns of c ("t"."a", "t"."b", ...: every field but
 * passwords, plus passwords when raw) qualified by the table name. Returns
 * the number of columns. */
int sh_rec_columns(const struct sh_collection *c, bool raw, struct sh_buf *out);

/* A record object from the current row of st, whose columns from `first` on
 * were written by sh_rec_columns(c, flags & SH_REC_RAW). A new object the
 * caller owns. */
struct cJSON *sh_rec_from_row(const struct sh_collection *c, sqlite3_stmt *st, int first,
                              unsigned flags);

/* ---- reads on the loop ---- */

/* How a request may read: its rule context and privileges. */
struct sh_rec_access {
    const struct sh_collection_resolver *resolver; /* the request's snapshot */
    const struct sh_filter_ctx *ctx;
    unsigned flags; /* SH_REC_SUPERUSER */
};

struct sh_rec_list_query {
    const struct sh_collection *c;
    const struct sh_filter *rule;   /* listRule, NULL = none (everyone or a superuser) */
    const struct sh_filter *filter; /* the `filter` parameter, or NULL */
    const char *sort;               /* the `sort` parameter, or NULL */
    int64_t limit, offset;
    bool count; /* also count every match */
};

/* Runs a list page: rule AND filter, ORDER BY sort and then rowid (stable
 * pages), LIMIT/OFFSET; and when q->count, COUNT(*) of the matches. *items
 * is a new array (the caller frees it); *total the count or -1. Returns 0;
 * SH_EINVAL with err filled for a bad filter or sort; SH_EBUDGET when a
 * query ran past the read budget; other codes of sh_db_step. */
int sh_rec_list(struct sh_db *db, const struct sh_rec_access *acc,
                const struct sh_rec_list_query *q, struct cJSON **items, int64_t *total,
                struct sh_filter_error *err);

/* One record by id that satisfies rule (NULL = none). Returns 0 and a new
 * object in *out, SH_ENOTFOUND, SH_EINVAL (rule does not compile; err), or a
 * read error as sh_rec_list. */
int sh_rec_view(struct sh_db *db, const struct sh_rec_access *acc, const struct sh_collection *c,
                const struct sh_filter *rule, const char *id, struct cJSON **out,
                struct sh_filter_error *err);

/* Expands relations of records (an array of record objects of c, or one
 * object) in place as `expand`, following each comma-separated dotted path
 * of `expand` (at most SH_REC_MAX_EXPAND_DEPTH relations deep). Related
 * records are read under their collection's viewRule (skipped when it is
 * null, unless superuser); single relations expand to an object, multiple
 * ones to an array in the stored order. Unknown fields are ignored, as
 * PocketBase does. Returns 0 or a read error (SH_EBUDGET, ...). */
int sh_rec_expand(struct sh_db *db, const struct sh_rec_access *acc, const struct sh_collection *c,
                  struct cJSON *records, const char *expand);

/* ---- writes on the writer thread ---- */
enum sh_rec_op { SH_REC_CREATE, SH_REC_UPDATE, SH_REC_DELETE };

/* A password hashed before the job (field name -> PHC string). */
struct sh_rec_hash {
    char *field;
    char *hash;
};

/*
 * One create, update or delete, prepared on the loop and run by
 * sh_rec_write_run inside the writer's transaction. Everything here is owned
 * by the struct (released by sh_rec_write_deinit) or by the snapshot it
 * holds a reference to, so the request may go away meanwhile.
 *
 * run() returns:
 *   0             done; `record` holds the created/updated record
 *   SH_ENOTFOUND  no such record, or the update/delete rule excludes it
 *   SH_EINVAL     validation failed (`errors` set); or a delete refused
 *                 because a required relation would dangle (`errors` NULL)
 *   SH_ECONFLICT  a unique index refused the values (`errors` names the
 *                 fields with validation_not_unique)
 *   SH_EFORBIDDEN the new record does not satisfy the create rule
 *   SH_EBUSY      the schema changed since the snapshot (retry)
 *   other         storage errors
 */
struct sh_rec_write {
    enum sh_rec_op op;
    struct sh_catalog_snap *snap; /* a reference; c belongs to it */
    const struct sh_collection *c;
    char *id;                  /* update, delete */
    struct cJSON *body;        /* create, update: the request body object */
    struct sh_filter_sql rule; /* compiled rule; used when has_rule */
    bool has_rule;
    struct sh_rec_hash *hashes;
    size_t nhashes;
    int64_t now_ms;
    unsigned flags; /* of the response record: SH_REC_SUPERUSER */
    bool check_password_confirm;

    struct cJSON *record; /* out */
    struct cJSON *errors; /* out */
};

/* A sh_db_job_run_fn: arg is a struct sh_rec_write. */
int sh_rec_write_run(sqlite3 *wdb, void *arg);

/* Frees what w owns and drops its snapshot reference. */
void sh_rec_write_deinit(struct sh_rec_write *w);

/* ---- internal to records*.c ---- */

/* Appends `"name"` (a validated identifier) to b. */
void sh__rec_quote(struct sh_buf *b, const char *name);
/* Binds v at index i. */
int sh__rec_bind_value(sqlite3_stmt *st, int i, const struct sh_value *v);

/* The records of c whose ids are in the JSON array ids_json and that satisfy
 * rule (NULL = none), as a new array in no particular order. 0 or a read
 * error. */
int sh__rec_fetch_ids(struct sh_db *db, const struct sh_rec_access *acc,
                      const struct sh_collection *c, const struct sh_filter *rule,
                      const char *ids_json, struct cJSON **out);

/* Deletes record id of c on the write connection, then clears or cascades
 * the relations that pointed at it (depth counts nested cascades). 0,
 * SH_EINVAL when a required relation would be left empty, or a storage
 * error. */
int sh__rec_delete(sqlite3 *wdb, const struct sh_catalog_snap *snap, const struct sh_collection *c,
                   const char *id, int64_t now_ms, int depth);

#endif
