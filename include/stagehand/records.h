/*
 * Records of a collection, the storage side of API.md "Records": the JSON
 * shape of a row, list and view queries on the loop's read connection
 * (rules and filters compiled by filter.h, every value bound), relation
 * expansion, and the create/update/delete work that runs on the writer
 * thread inside the batch transaction (validation by validate.h, the create
 * rule checked against the inserted row, unique violations turned into
 * per-field errors, relation references cleared or cascaded on delete).
 *
 * Rows are read into cJSON objects, or written straight to JSON text
 * (records_row.c, records_json.c: no tree per row on the hot paths), shaped
 * as PocketBase returns them: `collectionId`, `collectionName`, then the
 * fields in their order; numbers as numbers, bools as true/false, json
 * fields parsed, multi select and relation fields as arrays, dates as
 * "2006-01-02 15:04:05.000Z". Password fields are never read; hidden fields
 * (and, in auth collections, `email` unless `emailVisibility`) are left out
 * unless SH_REC_SUPERUSER. List totals can come from a count cache kept
 * current by the writes (records_count.c).
 *
 * Threads: sh_rec_list/view/expand use the loop's read connection (loop
 * thread); sh_rec_write_run runs on the writer thread. Collections are only
 * read, so both may use the same snapshot at once.
 */
#ifndef STAGEHAND_RECORDS_H
#define STAGEHAND_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "stagehand/catalog.h"
#include "stagehand/core.h"
#include "stagehand/db.h"
#include "stagehand/filter.h"
#include "stagehand/schema.h"
#include "stagehand/validate.h"

struct cJSON;
struct sh__rec_json_key;
struct sh_rec_row;

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

/* The record of the current row of st (columns as for sh_rec_from_row) as
 * JSON text appended to out, byte for byte what printing sh_rec_from_row's
 * object gives except for numbers, which follow Go's encoding/json
 * (records_json.c). own_id, when not NULL, is the id of the signed-in
 * record of c: that row shows its email whatever emailVisibility says. */
void sh_rec_row_json(const struct sh_collection *c, sqlite3_stmt *st, int first, unsigned flags,
                     const char *own_id, struct sh_buf *out);

/* What sh_rec_row_json works out once per collection, for writing many
 * rows: the keys shown, their order and kinds. */
struct sh_rec_json_plan {
    const struct sh_collection *c;
    bool raw;
    char *text;      /* `{"collectionId":..,"collectionName":..` then `,"name":` per key */
    size_t head_len; /* of the first part */
    struct sh__rec_json_key *fields;
    size_t nfields;
    int ncols;               /* columns selected */
    int id_col, visible_col; /* columns of id and emailVisibility, or -1 */
    bool email_rule;         /* email is shown per row (non-superuser, auth collection) */
    const char *own_id;
};
/* Prepares p for rows of c read with flags (as sh_rec_row_json). own_id is
 * borrowed until deinit. */
void sh_rec_json_plan_init(struct sh_rec_json_plan *p, const struct sh_collection *c,
                           unsigned flags, const char *own_id);
void sh_rec_json_plan_deinit(struct sh_rec_json_plan *p);
/* sh_rec_row_json with a prepared plan. */
void sh_rec_json_plan_row(const struct sh_rec_json_plan *p, sqlite3_stmt *st, int first,
                          struct sh_buf *out);
/* The record a create just inserted, from its validated values (every
 * column but passwords, as stored) instead of reading the row back. 0, or
 * -1 (nothing written) when in does not hold the plan's columns. */
int sh_rec_json_plan_values(const struct sh_rec_json_plan *p, const struct sh_record_input *in,
                            struct sh_buf *out);

/* ---- JSON text (records_json.c) ---- */

/* sh_buf_append inlined: a row is written in many small pieces, and the
 * call per piece showed in the profile. */
static inline void sh__buf_put(struct sh_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->cap - b->len < n)
        sh_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* Appends s[0..len) as a JSON string literal (RFC 8259 escapes). */
void sh__json_str(struct sh_buf *b, const char *s, size_t len);
/* Appends v as Go's encoding/json writes a float64: integral values without
 * a decimal point, else the shortest round-trip digits; exponent form below
 * 1e-6 and from 1e21 on; NaN and infinities (never stored) as null. */
void sh__json_double(struct sh_buf *b, double v);
/* Appends an integer column of a number field (a float64 in PocketBase). */
void sh__json_int(struct sh_buf *b, int64_t v);
/* Whether text[0..len) is exactly one JSON value (RFC 8259; surrounding
 * whitespace allowed; at most 1000 levels deep). */
bool sh__json_valid(const char *text, size_t len);

/* ---- the count cache (records_count.c) ---- */

struct sh_rec_counts;

/* What a count depends on: the table it counts, whether its WHERE reads
 * other tables too (then every write invalidates it), and the caller's key
 * bytes (collection id, schema version, WHERE text, parameter values). */
struct sh_rec_count_key {
    const char *table;
    bool any_table;
    const void *key;
    size_t len;
    /* the shared version of what is counted, read in the count's snapshot
     * (sh_db_versions of table, or sh_db_versions_all when any_table): a
     * write by another process changes it */
    int64_t shared;
};

struct sh_rec_counts_stats {
    uint64_t hits, misses, stale, evictions;
    uint64_t pending; /* misses because a write to the table was in progress */
    size_t entries, capacity;
};

/* A cache of at most capacity counts (0: disabled: get never hits). The
 * caller frees it with sh_rec_counts_free (NULL is ignored). Loop thread. */
struct sh_rec_counts *sh_rec_counts_new(size_t capacity);
void sh_rec_counts_free(struct sh_rec_counts *cc);
/* The count stored for k, if no write to its table(s) came since and none
 * is in progress: true and *out, or false. cc may be NULL. */
bool sh_rec_counts_get(struct sh_rec_counts *cc, const struct sh_rec_count_key *k, int64_t *out);
/* Stores count for k, stamped with the current version of its table(s);
 * nothing while a write to them is in progress. */
void sh_rec_counts_put(struct sh_rec_counts *cc, const struct sh_rec_count_key *k, int64_t count);
/* A write to table committed: its counts (and those of WHEREs reading any
 * table) are stale from now on. cc may be NULL. */
void sh_rec_counts_bump(struct sh_rec_counts *cc, const char *table);
/* A write to table is in progress (any thread; the marks are process-wide,
 * whatever cache exists: count_cache.c says why): its counts are neither
 * served nor stored until the matching write_end, which bumps table in cc
 * (may be NULL; loop thread). */
void sh_rec_counts_write_begin(const char *table);
void sh_rec_counts_write_end(struct sh_rec_counts *cc, const char *table);
void sh_rec_counts_stats(const struct sh_rec_counts *cc, struct sh_rec_counts_stats *out);

/* ---- reads on the loop ---- */

/* What one request may make the loop read (set from the config by the API;
 * 0 = no limit). */
struct sh_rec_limits {
    unsigned max_multi_hops;     /* multi-valued segments in one path of a
                                    non-superuser's filter or sort (400 beyond) */
    unsigned expand_max_records; /* records one response's expand may produce */
};
#define SH_REC_DEFAULT_MAX_MULTI_HOPS     3
#define SH_REC_DEFAULT_EXPAND_MAX_RECORDS 10000

/* How a request may read: its rule context, privileges and limits. */
struct sh_rec_access {
    const struct sh_collection_resolver *resolver; /* the request's snapshot */
    const struct sh_filter_ctx *ctx;
    unsigned flags;                     /* SH_REC_SUPERUSER */
    const struct sh_rec_limits *limits; /* NULL: the SH_REC_DEFAULT_* limits */
    struct sh_schema_views *views;      /* the snapshot's views (schema.h), kept by the
                                           caller; NULL: each compile builds its own */
    /* compiled rules of the same snapshot (sh_filter_cache_compile), kept
     * with views and on the same thread; NULL: each rule compiled anew */
    struct sh_filter_cache *rules;
};
/* acc's limits, or the defaults when it names none. */
const struct sh_rec_limits *sh_rec_access_limits(const struct sh_rec_access *acc);

struct sh_rec_list_query {
    const struct sh_collection *c;
    const struct sh_filter *rule;   /* listRule, NULL = none (everyone or a superuser) */
    const struct sh_filter *filter; /* the `filter` parameter, or NULL */
    const char *sort;               /* the `sort` parameter, or NULL */
    int64_t limit, offset;
    bool count;                   /* also count every match */
    struct sh_rec_counts *counts; /* reuse counts from here (NULL: always count) */
    int64_t schema_version;       /* of the snapshot c belongs to (part of the count key) */
};

/* Runs a list page: rule AND filter, ORDER BY sort and then rowid (stable
 * pages), LIMIT/OFFSET; and when q->count, COUNT(*) of the matches. *items
 * is a new array (the caller frees it); *total the count or -1. Returns 0;
 * SH_EINVAL with err filled for a bad filter or sort; SH_EBUDGET when a
 * query ran past the read budget; other codes of sh_db_step. */
int sh_rec_list(struct sh_db *db, const struct sh_rec_access *acc,
                const struct sh_rec_list_query *q, struct cJSON **items, int64_t *total,
                struct sh_filter_error *err);

/* sh_rec_list answering with JSON text: appends PocketBase's list envelope
 * {"page":page,"perPage":limit,"totalItems":..,"totalPages":..,"items":[..]}
 * to out, each item as sh_rec_row_json writes it (own_id as there). Returns
 * as sh_rec_list; out may hold a partial answer after an error. */
int sh_rec_list_json(struct sh_db *db, const struct sh_rec_access *acc,
                     const struct sh_rec_list_query *q, int64_t page, const char *own_id,
                     struct sh_buf *out, struct sh_filter_error *err);

/* One record by id that satisfies rule (NULL = none). Returns 0 and a new
 * object in *out, SH_ENOTFOUND, SH_EINVAL (rule does not compile; err), or a
 * read error as sh_rec_list. */
int sh_rec_view(struct sh_db *db, const struct sh_rec_access *acc, const struct sh_collection *c,
                const struct sh_filter *rule, const char *id, struct cJSON **out,
                struct sh_filter_error *err);

/* sh_rec_view appending the record to out as sh_rec_row_json writes it. */
int sh_rec_view_json(struct sh_db *db, const struct sh_rec_access *acc,
                     const struct sh_collection *c, const struct sh_filter *rule, const char *id,
                     const char *own_id, struct sh_buf *out, struct sh_filter_error *err);

/* ---- a record as committed, for change events (query.c) ---- */

/* Every column of one row as it was stored, copied out of the connection
 * that read it (sqlite3_value_dup), so that another thread may later test
 * rules against the row as it was at that moment, whatever came after it
 * (a later update, the delete itself). */
struct sh_rec_row {
    int n;
    char **names;
    struct sqlite3_value **vals;
};
/* Reads row id of c on db (the writer's connection, inside its
 * transaction) into a new *out. 0, SH_ENOTFOUND, or a SQLite error code. */
int sh_rec_row_capture(sqlite3 *db, const struct sh_collection *c, const char *id,
                       struct sh_rec_row **out);
/* NULL is ignored. */
void sh_rec_row_free(struct sh_rec_row *row);

/* sh_rec_view of the row as captured rather than as stored now: rule (NULL
 * = none) AND filter (a client's, confined as a list's filter; NULL = none)
 * are tested against row (the table's name is shadowed by a one-row CTE of
 * its values), and a match is read the way a view reads it (acc's flags:
 * hidden fields, emails). Related tables are read as they are now. 0 and a
 * new object in *out, SH_ENOTFOUND when the row does not pass, SH_EINVAL
 * with err, or a read error (SH_EBUDGET, ...). Loop thread. */
int sh_rec_match(struct sh_db *db, const struct sh_rec_access *acc, const struct sh_collection *c,
                 const struct sh_filter *rule, const struct sh_filter *filter,
                 const struct sh_rec_row *row, struct cJSON **out, struct sh_filter_error *err);

/* Expands relations of records (an array of record objects of c, or one
 * object) in place as `expand`, following each comma-separated dotted path
 * of `expand` (at most SH_REC_MAX_EXPAND_DEPTH relations deep). Related
 * records are read under their collection's viewRule (skipped when it is
 * null, unless superuser); single relations expand to an object, multiple
 * ones to an array in the stored order. Unknown fields are ignored, as
 * PocketBase does. Every record copied into an `expand` (nested ones
 * included) counts against acc's expand_max_records: past it,
 * SH_ETOOBIG (records is then partly expanded: discard it). Back-relations
 * (`comments_via_post`) expand to arrays of the rows whose relation points
 * at each record, under their viewRule; a non-superuser's back-relation
 * through a multiple or unindexed relation field is SH_EFORBIDDEN. Returns
 * 0, SH_ETOOBIG, SH_EFORBIDDEN or a read error (SH_EBUDGET, ...). */
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
 *   SH_ESTALE     the schema changed since the snapshot (refresh, retry)
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
    bool record_json; /* answer with record_text instead of record */
    char *own_id;     /* record_json: as for sh_rec_row_json (owned; may be NULL) */

    struct cJSON *record; /* out */
    char *record_text;    /* out, record_json: the record as JSON text (heap) */
    size_t record_len;
    struct cJSON *errors; /* out */
    /* out: tables the job wrote (c's, and those a delete cleared or
     * cascaded into), owned; each marked with sh_rec_counts_write_begin
     * until sh_rec_write_deinit ends the mark (loop thread). */
    char **touched;
    size_t ntouched, touched_cap;
    /* out: the job wrote or deleted records of an auth collection (its own,
     * or by a cascade): cached identities must be verified again */
    bool auth_written;
    /* The count cache that serves totals of these tables (NULL: none, as in
     * the CLI): sh_rec_write_deinit bumps what the job wrote there. Set by
     * the creator on the loop; the cache must outlive the job. */
    struct sh_rec_counts *counts;
    /* Set by the creator when someone listens for changes of c (realtime):
     * the job copies the row as committed (create, update) or as it was
     * just before the delete into row (out, owned; freed by deinit unless
     * taken). */
    bool capture;
    struct sh_rec_row *row;
    /* Files: the stored names this request uploaded (borrowed; set by the
     * creator), the only new names a file field may take; and out, for an
     * update, the stored names of w->c/w->id's folder its new values no
     * longer reference (owned), to delete once the write committed. */
    const char *const *uploads;
    size_t nuploads;
    char **dropped;
    size_t ndropped;
    /* out: what the records this job deleted (directly, by a cascade or a
     * truncate) held in storage/: each one's folder ("<collectionId>/
     * <recordId>", removed once empty) and the stored names its file fields
     * held ("<collectionId>/<recordId>/<name>"), owned, to remove once the
     * write committed; only those names, so a file a later write put in a
     * folder of the same id is never touched. Emptied at each run. */
    char **gone;
    size_t ngone;
};

struct sh_record_input;
/* Sets w->dropped from the record as it was and the values to be written
 * (files_dropped.c). Writer thread, inside the write. */
void sh_rec_files_dropped(struct sh_rec_write *w, const struct cJSON *existing,
                          const struct sh_record_input *in);
/* Frees w->dropped. */
void sh_rec_files_dropped_clear(struct sh_rec_write *w);
/* Just before record id of c is deleted: notes in w->gone its folder and
 * the stored names its file fields hold (nothing when c has no file field
 * or id cannot name a folder; w may be NULL). Writer thread. 0 or a
 * storage error. */
int sh_rec_files_gone_add(sqlite3 *wdb, struct sh_rec_write *w, const struct sh_collection *c,
                          const char *id);
/* Frees w->gone. */
void sh_rec_files_gone_clear(struct sh_rec_write *w);

/* A sh_db_job_run_fn: arg is a struct sh_rec_write. */
int sh_rec_write_run(sqlite3 *wdb, void *arg);

/* A sh_db_job_run_fn that deletes every record of w->c (truncate.c): as
 * many deletes (relations pointing at them cleared or cascaded, SH_EINVAL
 * when a required one would dangle), or one DELETE when nothing targets
 * w->c; an auth collection's sessions go too. Uses w's snap, c, now_ms and
 * the touched/auth_written outputs; SH_ESTALE if the schema moved. */
int sh_rec_truncate_run(sqlite3 *wdb, void *arg);

/* Frees what w owns and drops its snapshot reference; first ends the
 * count cache marks of what the job wrote (sh_rec_counts_write_end with
 * w->counts), so call it on the loop thread once the job's completion has
 * been handled. */
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

/* The records of c that satisfy rule (NULL = none) and whose relation field
 * `field` (single, or multiple when multi) holds one of the ids in the JSON
 * array ids_json: the rows of a back-relation. At most limit rows (0 = no
 * limit), as a new array in no particular order. 0 or a read error. */
int sh__rec_fetch_via(struct sh_db *db, const struct sh_rec_access *acc,
                      const struct sh_collection *c, const struct sh_filter *rule,
                      const char *field, bool multi, const char *ids_json, size_t limit,
                      struct cJSON **out);

/* Deletes record id of c on the write connection, then clears or cascades
 * the relations that pointed at it (depth counts nested cascades); every
 * collection written is added to w->touched (w may be NULL). 0, SH_EINVAL
 * when a required relation would be left empty, or a storage error. */
int sh__rec_delete(sqlite3 *wdb, const struct sh_catalog_snap *snap, const struct sh_collection *c,
                   const char *id, int64_t now_ms, int depth, struct sh_rec_write *w);

/* Adds c's table to w->touched and marks it (once per table); notes in
 * w->auth_written when c is an auth collection. */
void sh__rec_touch(struct sh_rec_write *w, const struct sh_collection *c);

/* The protected fields of an auth record (records_protect.c): checks and
 * fixes the validated values in (existing: the stored record, raw; NULL on
 * create) for w's writer. 0, or SH_EINVAL with w->errors naming the field. */
struct sh_record_input;
int sh__rec_protect(struct sh_rec_write *w, const struct cJSON *existing,
                    struct sh_record_input *in);

#endif
