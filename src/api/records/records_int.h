/*
 * Internals of the records handlers (list_view.c: list and view; write.c:
 * create, update, delete; context.c: the shared state, what every records
 * request needs first, and the schema views of each snapshot; query_budget.c:
 * the read budget of each client; fields.c: the `fields` picker). The toolkit
 * they share with every handler (errors, the request-bound job, the
 * stale-schema retry) is api_int.h. Not a public interface.
 */
#ifndef STAGEHAND_API_RECORDS_H
#define STAGEHAND_API_RECORDS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "api_int.h"
#include "stagehand/api.h"
#include "stagehand/catalog.h"
#include "stagehand/core.h"
#include "stagehand/records.h"

struct cJSON;
struct sh_filter_cache;
struct sh__budgets;
struct sh__thumbs;
struct sh__file_types;

/*
 * The records state of one server (opaque outside api/: api.h), made by
 * sh_api_records_new (context.c). Loop thread.
 */
struct sh_api_records {
    uv_loop_t *loop;
    const struct sh_config *cfg;
    struct sh_db *db;
    struct sh_catalog *catalog;
    struct sh_api_auth *auth;        /* borrowed */
    struct sh_filter_cache *filters; /* parsed `filter` parameters and rules */
    /* List totals (--count-cache entries; 0 = off but still made): every
     * records write job of this server ends its marks here. */
    struct sh_rec_counts *counts;
    struct sh_rec_limits limits;       /* of cfg: fan-out of filters, expand size */
    struct sh__budgets *budgets;       /* query_budget.c */
    struct sh_buf out;                 /* sh__rec_out; capacity kept between requests */
    struct sh__rec_views *views;       /* the current snapshot's schema views (context.c) */
    struct sh__list_cache *list_cache; /* expensive lists in Redis; NULL without --redis */
    struct sh__rt *realtime;           /* subscribers of change events (api/realtime/) */
    struct sh__file_types *file_types; /* sniffed types of served files; NULL: off */
    struct sh__thumbs *thumbs;         /* thumbnails being made (thumb_pool.c); made at the first */
    /* POST /api/batch's limits: the --batch-* flags, or the settings' batch
     * (sh_api_records_set_batch) where no flag was given */
    struct sh__batch_limits {
        unsigned max_requests; /* 0: batches off (403) */
        uint64_t timeout_ms, max_body;
    } batch;
};

/* ---- change events (api/realtime/) ---- */

/* Loop, after the commit and in commit order, for every committed records
 * write (single or in a batch): the change event of w, whose row (the
 * record as committed; for a delete, as it was) is taken when w->capture
 * asked for it. Never called for a write that did not commit. */
void sh_api_records_committed(struct sh_api_records *api, struct sh_rec_write *w);
/* Loop: record_id of collection_id has a new tokenKey (committed): its
 * realtime clients are guests from now on. */
void sh_api_records_token_key_changed(struct sh_api_records *api, const char *collection_id,
                                      const char *record_id);
/* Whether a write to c should capture its row (someone subscribed to c). */
bool sh_api_records_listened(struct sh_api_records *api, const struct sh_collection *c);

/* ---- records_ctx.c ---- */

/* What a records request carries from its start to its response. Lives in
 * the request arena; the snapshot reference is dropped when the arena resets. */
struct sh__rec_req {
    struct sh_api_records *api;
    struct sh_catalog_snap *snap;
    const struct sh_collection *c;
    struct sh_filter_ctx ctx;
    struct sh_rec_access acc;    /* acc.views: views->views */
    struct sh__rec_views *views; /* the snapshot's views (context.c) */
    bool views_held;             /* the request holds a reference to views */
    bool superuser;              /* signed in as a _superusers record: rules bypassed */
};

/* Resolves :collection (reloading the catalog first when the name is
 * unknown and the schema moved: api/retry.c) and prepares the rule context
 * (@request.auth from r->auth, @request.query and headers when a rule of
 * the snapshot reads them, method) on the snapshot's views. Returns the
 * context, or NULL after answering (404 for an unknown collection, 413 past
 * the arena's limit). */
struct sh__rec_req *sh__rec_begin_or_reply(struct sh_req *r, struct sh_api_records *api);
/* sh__rec_begin_or_reply for a route without :collection (a batch): the
 * snapshot, views and rule context of r; q->c is NULL. NULL after
 * answering. */
struct sh__rec_req *sh__rec_begin_any_or_reply(struct sh_req *r, struct sh_api_records *api);
/* A header name n bytes long as rules see it (@request.headers.x_y for
 * X-Y) into out (size bytes). false when it does not fit (the header is
 * not shown to rules). */
bool sh__rec_header_name(char *out, size_t size, const char *name, size_t n);

/* The schema views of snap (built once per snapshot, shared by its
 * requests), with a reference r keeps until it ends. NULL after answering
 * (413 past the arena's limit). */
struct sh_schema_views *sh__rec_views_or_reply(struct sh_req *r, struct sh_api_records *api,
                                               struct sh_catalog_snap *snap);
/* A request that goes on after its handler returns (a writer job keeps q
 * and its ctx) keeps q's views until it ends, even past a reload; a read
 * answered before its handler returns needs no reference. 0, or -1 after
 * answering 413. */
int sh__rec_keep_views_or_reply(struct sh_req *r, struct sh__rec_req *q);
/* The views of snap with a reference for a caller outside any request
 * (change events); give it back with sh__rec_views_put. */
struct sh_schema_views *sh__rec_views_get_ref(struct sh_api_records *api,
                                              struct sh_catalog_snap *snap, void **ref);
void sh__rec_views_put(void *ref);
/* Drops the views api keeps (at deinit). */
void sh__rec_views_drop(struct sh_api_records *api);

/* Builds @request.query and @request.headers into q->ctx if they are not
 * yet (a filter that reads them). 0, or -1 after answering 413. */
int sh__rec_request_json_or_reply(struct sh_req *r, struct sh__rec_req *q);

/* The rule of kind k for this request: *out NULL when it does not apply
 * (superuser, or "" = everyone). Returns 0, or answers 403 for a null rule and
 * returns -1. */
int sh__rec_rule_or_reply(struct sh_req *r, struct sh__rec_req *q, enum sh_rule_kind k,
                          const struct sh_filter **out);

/* sh__rec_rule_or_reply without the answer: 0, or SH_EFORBIDDEN (403
 * "Only superusers can perform this action.") for a null rule. */
int sh__rec_rule(const struct sh__rec_req *q, enum sh_rule_kind k, const struct sh_filter **out);

/* Parses the request body as one strict JSON object (stagehand/json.h; an
 * empty body is {}). NULL after answering: 413 past --max-json-body (before
 * any parse), else 400 "Failed to load the submitted data due to invalid
 * formatting." with data.body.message naming what was wrong (syntax, data
 * after the value, invalid UTF-8, \u0000, a duplicate key, a number out of
 * range, nesting, not an object). The caller owns the result. */
struct cJSON *sh__rec_body_or_reply(struct sh_req *r);
/* sh__rec_body_or_reply whose result the request owns (freed when it
 * ends). NULL after answering. */
struct cJSON *sh__api_body_or_reply(struct sh_req *r);

/* Unix time in milliseconds, from the real-time clock. */
int64_t sh__now_ms(void);

/* Sends obj (a record or list envelope) as JSON with status 200 after
 * applying the `fields` parameter (may be NULL); frees nothing. */
void sh__rec_send(struct sh_req *r, struct cJSON *obj, const char *fields, bool list);

/* api's response buffer for JSON written straight from rows, emptied (its
 * capacity is kept from one request to the next). */
struct sh_buf *sh__rec_out(struct sh_api_records *api);
/* Sends sh__rec_out(api)'s content as JSON with status 200. */
void sh__rec_send_out(struct sh_req *r, struct sh_api_records *api);
/* While b is set, the bodies sh__rec_send and sh__rec_send_out answer are
 * also appended to b (list_cache.c stores them). Loop thread; NULL stops. */
void sh__rec_capture(struct sh_buf *b);

/* ---- list_cache.c: expensive list answers shared through Redis ---- */

struct sh_redis;
struct sh__list_cache;
struct sh__list_cache_stats {
    uint64_t lookups;     /* requests that asked Redis */
    uint64_t hits;        /* ... and were answered from it */
    uint64_t misses;      /* ... and were computed (no entry, late or failed reply) */
    uint64_t stores;      /* answers sent to Redis */
    uint64_t uncacheable; /* lists whose answer depends on more than the key */
};
struct sh__list_cache *sh__list_cache_new(struct sh_redis *redis, const struct sh_config *cfg);
void sh__list_cache_free(struct sh__list_cache *lc);
void sh__list_cache_stats(const struct sh__list_cache *lc, struct sh__list_cache_stats *out);
/* GET .../records through the cache (api->list_cache set): answers now or
 * after Redis replies. Returns SH_HANDLED. */
int sh__rec_list_cached(struct sh_req *r, struct sh_api_records *api);
/* GET .../records without the cache (list_view.c). Returns SH_HANDLED. */
int sh__rec_list_uncached(struct sh_req *r, struct sh_api_records *api);

/* The id of the signed-in record when it belongs to q's collection and is
 * not a superuser (it sees its own email), else NULL. Borrowed from r. */
const char *sh__rec_own_id(const struct sh_req *r, const struct sh__rec_req *q);

/* ---- write.c: one records write, shared by the three write handlers and
 * the items of a batch (api/batch/): the same preparation, the same writer
 * work, the same answer, the same completion ---- */

/* Fills w for op on q's collection (w zeroed before): takes body and id
 * (heap, may be NULL), the clock and privileges of q, the count cache and
 * whether someone listens to its changes (w->capture). */
void sh__rec_write_init(struct sh_rec_write *w, struct sh_api_records *api,
                        const struct sh__rec_req *q, enum sh_rec_op op, struct cJSON *body,
                        char *id);
/* Compiles rule (w's rule for this write as sh__rec_rule gave it; NULL =
 * none applies) against q's context with w's body as @request.body, on q's
 * views, into w. 0, or SH_EINVAL with err filled (answer 400 err->message). */
int sh__rec_write_bind(const struct sh__rec_req *q, struct sh_rec_write *w,
                       const struct sh_filter *rule, struct sh_filter_error *err);
/* WRITER thread: the records write (sh_rec_write_run: validation, rules and
 * protected fields inside the transaction), then what it means for
 * sessions: a new password ends every session of the record (a deleted auth
 * record took its sessions with it). Returns as sh_rec_write_run. */
int sh__rec_write_item_run(sqlite3 *wdb, struct sh_rec_write *w);

/* Passwords to hash before w's job: copies (sodium_malloc) of the
 * non-empty values w's body gives to password fields that validation
 * would accept, into *plain (allocated here, NULL before), with their
 * fields in w->hashes (hash NULL until made). Returns how many
 * (w->nhashes). */
size_t sh__rec_collect_passwords(struct sh_rec_write *w, char ***plain);
/* Frees plain (w->nhashes entries, NULL ones skipped; plain may be NULL)
 * and zeroes the plain passwords of w's body. Before sh_rec_write_deinit. */
void sh__rec_passwords_free(struct sh_rec_write *w, char **plain);

/* A write's answer: status 200 with json (the record), 204, or an error
 * status with message and data (NULL: {}) for the error shape. */
struct sh__rec_answer {
    int status;
    const char *message;      /* error: static, or w's */
    const struct cJSON *data; /* error: borrowed from w */
    const char *json;         /* 200: borrowed from w, or owned */
    size_t len;
    char *owned; /* cJSON_free'd by sh__rec_answer_send, or by the caller */
};
/* The answer to w whose job ended with rc (loop, after the commit): the
 * record as JSON (written by the job, or read into a tree that gets expand,
 * the caller's own email (r) and fields; reads on the loop under acc), 204
 * for a delete, or the error (400 with w->errors for validation, a unique
 * violation or a failed create rule; the table of errors.c otherwise). */
void sh__rec_write_answer(struct sh_api_records *api, const struct sh_req *r,
                          const struct sh_rec_access *acc, struct sh_rec_write *w, int rc,
                          const char *expand, const char *fields, struct sh__rec_answer *a);
/* Sends a to r and frees what it owns. */
void sh__rec_answer_send(struct sh_req *r, struct sh__rec_answer *a);
/* Loop, once w's job has completed with rc (committed when 0), before any
 * answer and in commit order: the one place every records write passes
 * through (single writes, each item of a batch): cached identities are
 * checked again, and a committed write's change event is queued
 * (sh_api_records_committed, api/realtime/). */
void sh__rec_write_done(struct sh_api_records *api, struct sh_rec_write *w, int rc);

/* ---- query_budget.c ---- */

#define SH__BUDGET_KEY_MAX 96

/* The buckets of one server (struct sh_api_records.budgets). */
struct sh__budgets;
struct sh__budgets *sh__budgets_new(void);
void sh__budgets_free(struct sh__budgets *t);

/* One request's charge, kept by the caller: the request (and its arena) may
 * be gone by the time the reads are charged, once the answer was sent. */
struct sh__budget {
    struct sh__budgets *table; /* the server's (outlives the request) */
    char key[SH__BUDGET_KEY_MAX];
    bool counted;
    uint64_t start_us, window_ms;
};

/* Before a list or view runs its reads: fills *b. 0 to go on; -1 after
 * answering 429 (with Retry-After) when the caller's bucket (its auth
 * record, or its address for a guest) has spent its read budget of the
 * current window. */
int sh__budget_begin(struct sh_req *r, const struct sh__rec_req *q, struct sh__budget *b);
/* After the reads (r may be gone): charges the time since begin. */
void sh__budget_end(const struct sh__budget *b);

/* ---- fields.c ---- */

/* Trims obj in place to the comma-separated `fields` list: `id,title`,
 * `*` for every key of a level, dotted paths into nested objects and arrays
 * (`expand.author.name`), and the `:excerpt(max[,ellipsis])` modifier on
 * string fields. An empty or NULL list leaves obj as is. */
void sh__fields_pick(struct cJSON *obj, const char *fields);

/* ---- files.c: uploads of file fields (records create and update) ---- */
struct sh__rec_files;
/* Loop: for each file part of r's multipart body sent under a file field
 * of c (`name`, `name+`, `+name`), checks its size (400
 * validation_file_size_limit), makes its stored name and adds it to body
 * under the part's key; a create gets its record id here (the body's,
 * when it can name a folder, else a new one put into body). *out is NULL
 * when there is no such part. 0, or -1 after answering. */
int sh__rec_files_collect_or_reply(struct sh_req *r, const struct sh_api_records *api,
                                   const struct sh_collection *c, enum sh_rec_op op,
                                   const char *update_id, struct cJSON *body,
                                   struct sh__rec_files **out);
/* Why uploads were refused: status, message, and the field error (field
 * "" when none) of the error shape. */
struct sh__rec_files_fail {
    int status;
    const char *message; /* static */
    char field[SH_SCHEMA_NAME_MAX + 2];
    const char *code; /* static */
    char text[220];
};
/* sh__rec_files_collect_or_reply without the answer, over the file parts
 * form[0..nform) whose name starts with prefix ("" for a single write,
 * "requests.N." in a batch); the rest of the name is the key. 0, or -1
 * with *e filled. */
int sh__rec_files_collect(const struct sh_api_records *api, const struct sh_collection *c,
                          enum sh_rec_op op, const char *update_id, struct cJSON *body,
                          const struct sh_form_part *form, unsigned nform, const char *prefix,
                          struct sh__rec_files **out, struct sh__rec_files_fail *e);
/* The data of e's error shape (a new object the caller owns; NULL: {}). */
struct cJSON *sh__rec_files_fail_data(const struct sh__rec_files_fail *e);
/* e for fs's refused content type (sh__rec_files_move's SH_EINVAL). */
void sh__rec_files_refused(const struct sh__rec_files *fs, enum sh_rec_op op,
                           struct sh__rec_files_fail *e);
/* Points w->uploads at the stored names of fs (NULL: none). */
void sh__rec_files_names(const struct sh__rec_files *fs, struct sh_rec_write *w);
/* Threadpool only (sniff.c): the MIME type libmagic reads from the bytes of
 * the file at path, valid until this thread's next call; NULL when it cannot
 * be read. Each thread keeps its own libmagic state over one shared mapping
 * of the database. */
const char *sh__sniff_file(const char *path);
/* Threadpool: checks the content types (libmagic) against the fields'
 * mimeTypes, moves the files into the record's folder and fsyncs them and
 * the folders; then done(ud, rc) on the loop: 0, SH_EINVAL for a refused
 * type (answer it with sh__rec_files_reply), or another code. */
int sh__rec_files_move(struct sh_api_records *api, struct sh__rec_files *fs,
                       void (*done)(void *ud, int rc), void *ud);
/* Answers the 400 of a refused content type. */
void sh__rec_files_reply(struct sh_req *r, const struct sh__rec_files *fs, enum sh_rec_op op);
/* Loop, once the job is over: removes (threadpool) the files fs moved when
 * the write did not commit; after a commit, the files w's update dropped
 * and the folders of every record it deleted (w->gone: the record itself,
 * cascades, a truncate's). fs may be NULL. */
void sh__rec_files_after(struct sh_api_records *api, struct sh__rec_files *fs,
                         const struct sh_rec_write *w, bool committed);
void sh__rec_files_free(struct sh__rec_files *fs);
/* Loop: removes (threadpool) <dir>/storage/<rel> and everything in it
 * (a few levels deep; links removed, never followed). */
void sh__rec_files_remove_dir(struct sh_api_records *api, const char *rel);
/* Loop: removes (threadpool) the n stored names (invalid ones skipped)
 * from <dir>/storage/<rel>. */
void sh__rec_files_remove_names(struct sh_api_records *api, const char *rel, char *const *names,
                                size_t n);
/* Loop: removes (threadpool) the files <dir>/storage/<rels[i]> (i < n);
 * takes rels and its strings over. */
void sh__rec_files_remove_rel(struct sh_api_records *api, char **rels, size_t n);
/* Any thread: removes dir and everything in it (as sh__rec_files_remove_dir). */
void sh__rec_files_remove_tree(const char *dir);
/* ---- files_schema.c: stored files after schema changes ---- */
struct sh__files_capture;
/* Loop, just before the changes olds[i] -> nexts[i] (i < n; a NULL next
 * deletes) are submitted: notes the collections with file fields they
 * delete, and submits a writer job that reads the names held by the file
 * fields they remove. NULL when there is nothing to clean up. Hand it to
 * sh__rec_files_schema_saved once the changes are over. */
struct sh__files_capture *sh__rec_files_capture(struct sh_api_records *api, size_t n,
                                                const struct sh_collection *const *olds,
                                                struct sh_collection *const *nexts);
/* Loop: the changes are over (committed when rc == 0): after a commit the
 * deleted collections' folders and the removed fields' files are removed
 * (threadpool); frees x (may be NULL) once its job is done too. */
void sh__rec_files_schema_saved(struct sh__files_capture *x, int rc);
/* Can id name a record's folder ([A-Za-z0-9_-], 1..100 bytes)? */
bool sh__rec_file_id_safe(const char *id);

/* ---- sniffed types of stored files (file_types.c; loop only) ---- */

#define SH__FILE_TYPE_MAX 128 /* a MIME type's bytes, its NUL included */

/* An LRU table of at most capacity stored-file paths and their sniffed
 * MIME types. A stored file's bytes never change under its path, so entries
 * need no invalidation. */
struct sh__file_types *sh__file_types_new(size_t capacity);
void sh__file_types_free(struct sh__file_types *t);
/* The type remembered for path (now the most recent), or NULL. */
const char *sh__file_types_get(struct sh__file_types *t, const char *path);
/* Remembers path's type (types of SH__FILE_TYPE_MAX bytes or more are not
 * kept), dropping the least recently used entry when full. */
void sh__file_types_put(struct sh__file_types *t, const char *path, const char *type);

/* ---- thumbnails (thumbs.c: sizes and making; thumb_pool.c: scheduling) ---- */

/* A ?thumb= size as PocketBase reads it: WxH (fill the box, crop from the
 * centre), WxHt (from the top), WxHb (from the bottom), WxHf (fit inside,
 * never enlarged), Wx0 and 0xH (that side, the aspect kept). */
struct sh__thumb_size {
    unsigned w, h;
    char mode; /* 0 (centre), 't', 'b' or 'f' */
};
/* Parses s (^(\d+)x(\d+)(t|b|f)?$, not 0x0, each side at most 100000). */
bool sh__thumb_size_parse(const char *s, struct sh__thumb_size *out);
/* Does a file of this (sniffed) type get thumbs? jpg, png, gif, webp. */
bool sh__thumb_type_ok(const char *ctype);
/* Is size one f's thumbs list (or the default 100x100)? */
bool sh__thumb_listed(const struct sh_field *f, const char *size);
/* <rdir>/thumbs_<name>/<size>_<name> (malloc'd). */
char *sh__thumb_path(const char *rdir, const char *name, const char *size);
/* Threadpool: makes the thumb of the image src at dst (its folder made
 * when missing; written under a temporary name, fsynced, renamed). 0, or
 * SH_ETOOBIG when the image or the thumb is over max_pixels (width x
 * height of the header: nothing is decoded), another code otherwise. */
int sh__thumb_make(const char *src, const char *dst, const struct sh__thumb_size *s,
                   uint64_t max_pixels);
/* Threadpool: removes the folder name (a thumbs_ folder: one level of
 * files) in the folder dfd. */
void sh__thumbs_rmdir_at(int dfd, const char *name);
/* Threadpool: removes the thumbs of the stored file at path. */
void sh__thumbs_remove_of(const char *path);

/* A request waiting for a thumb; done(w, rc) on the loop once it is made
 * (rc 0: dst is there) or not (then serve the original). */
struct sh__thumb_wait {
    struct sh__thumb_wait *next;
    struct sh_req_watch *watch; /* the request (watch->req NULL once it ended) */
    void (*done)(struct sh__thumb_wait *w, int rc);
};
/* Loop: the thumb dst of src at size is made (or, when it is being made,
 * waited for): 0, and w->done follows; SH_EBUSY when --thumb-workers are
 * busy and --thumb-queue is full (w is not called). */
int sh__thumbs_request(struct sh_api_records *api, const char *src, const char *dst,
                       const struct sh__thumb_size *size, struct sh__thumb_wait *w);
/* At sh_api_records_free: queued jobs' waiters are told, then freed. */
void sh__thumbs_free(struct sh__thumbs *t);

#endif
