/*
 * The filter and rule language of API.md ("Filter and rule language"), as used
 * by `filter=`, `sort=` and the five collection rules: text is tokenized and
 * parsed into an immutable AST (sh_filter_parse), which is compiled per request
 * into an SQL boolean expression whose every literal and @-macro value is a
 * bound `?` parameter (sh_filter_compile). Identifiers are resolved against a
 * caller-supplied schema and emitted only as validated, double-quoted names, so
 * no user text ever becomes SQL text. A small LRU (sh_filter_cache_*) keeps
 * parsed ASTs, and sh_sort_compile turns `sort=` into an ORDER BY list.
 *
 * This code is self-contained (libc, SQLite, cJSON): it does not link against
 * core, so that it can be unit-tested alone. Heap exhaustion aborts, as
 * everywhere in stagehand. Nothing here is thread-safe except sharing a parsed
 * struct sh_filter (read-only, atomically reference-counted) between threads.
 *
 * Semantics chosen (PocketBase's where known):
 *  - `&&` binds tighter than `||`; parentheses group; `//` comments run to the
 *    end of the line. Strings use '...' or "..."; inside them `\'`/`\"` is the
 *    quote, `\\` a backslash, and any other backslash is kept as written.
 *  - `a = b` / `a != b` treat NULL and "" as the same value: a side known to be
 *    empty ("" or null) compiles to `(x = ? OR x IS NULL)` /
 *    `(x IS NOT ? AND x IS NOT NULL)` with "" bound; a side known not to be
 *    empty gives a plain `x = ?` / `x IS NOT ?`; two unknown sides compile to
 *    `COALESCE(a, ?) = COALESCE(b, ?)`; `!=` always uses the NULL-safe
 *    `IS NOT`. So `a = null` also matches "", as in PocketBase, and a guest's
 *    `@request.auth.id != ""` compiles to the constant `0`.
 *  - `~` is LIKE with ESCAPE '\': a value with no unescaped `%` is taken
 *    literally (its `\`, `%`, `_` escaped) and wrapped as `%value%`; a value
 *    containing a `%` not preceded by `\` is a LIKE pattern used as given. A
 *    non-value right side becomes `('%' || x || '%')`. `!~` is NOT LIKE. LIKE
 *    is ASCII case-insensitive.
 *  - Multi-valued operands (fields flagged SH_FILTER_FIELD_MULTI, paths through
 *    a multi relation, JSON arrays in @request.body/@request.auth): `?op` is
 *    "any element satisfies" (EXISTS ... json_each), the plain op is "every
 *    element satisfies" (NOT EXISTS ... WHERE NOT COALESCE(op, 0)). An empty,
 *    NULL or malformed array acts as one NULL element, so `tags = ""` matches
 *    records without tags, `tags != ""` those with at least one, and
 *    `tags ?= "a"` never matches an empty one. `?op` on single values = op.
 *  - `rel.field` compiles to a correlated subquery on the related table
 *    (LEFT JOINs for further hops), at most SH_FILTER_MAX_RELATION_DEPTH hops.
 *    A missing related record reads as NULL.
 *  - A field of kind JSON followed by more path segments reads
 *    json_extract(col, ?) with the JSON path bound (`data.items.0`).
 *  - Modifiers: `@request.body.x:isset` (true when the key is present),
 *    `x:length` (element count of a multi field or of a body array),
 *    `x:lower` (LOWER() of a text field), `x:each` (every element of a
 *    multi-valued field or body array: the elementwise semantics above,
 *    refused on single values), `@request.body.x:changed` (x sent and
 *    different from the stored column; false when not sent).
 *  - `@request.auth.rel.field` traverses ctx->auth_schema's relation `rel`
 *    from the auth record's bound value; other dotted @request.auth/body paths
 *    read nested JSON. Missing values are NULL.
 *  - Literals: integers bind as INT (as DOUBLE past int64), decimals as
 *    DOUBLE, true/false as 1/0, null as NULL.
 *  - Dates are compared as strings in the stored "2006-01-02 15:04:05.000Z"
 *    format; @now and friends are bound in that format.
 *  - Back-relations: a segment `<collection>_via_<field>` is the multi-valued
 *    set of <collection>'s rows whose relation <field> holds the current
 *    record's id (`comments_via_post.text ?~ "x"`), nested and followed by
 *    further hops; it counts as a relation hop and a multi-valued segment.
 *    A confined filter may only go through a single relation flagged
 *    SH_FILTER_FIELD_INDEXED (else 400), never through a hidden one, and
 *    reaches only the rows the source's listRule lets it list. `sort` by
 *    such a path uses the smallest value ascending, the largest descending.
 *  - `@collection.<name>[:alias].<path>`: the rows of another collection.
 *    `?op` comparisons on one alias (no alias = the name) read the same
 *    row (one LEFT JOIN per alias, PocketBase's correlation); a plain op is
 *    "every row of the collection" on its own. Refused in a confined filter
 *    ("Only superusers can filter by @collection."); at most
 *    SH_FILTER_MAX_COLLECTION_JOINS aliases; an alias naming two
 *    collections is an error.
 *  - Functions: geoDistance(lonA, latA, lonB, latB) in km (haversine, R =
 *    6371) and strftime(format, time-value[, modifier...]) (SQLite's), over
 *    single-valued operands, not nested.
 *  - Unsupported: `@request.body` relation traversal, `@request.auth.x_via_y`
 *    (reads NULL), `:length` of a back-relation.
 *
 * Confinement (a client's own filter and sort; the schema's `access`): the
 * compiler asks the schema of every collection a path reaches, root and
 * hops alike, what the caller may see — fields flagged NOFILTER are refused,
 * an EMAIL_GUARD field reads as NULL where its row's emailVisibility is not
 * set (and cannot be sorted by), a hop into a NOLIST schema is refused, and
 * a hop into a schema with a row_rule joins only the rows satisfying it
 * (compiled at the hop's alias with the same ctx; others read as a missing
 * record, NULL). Rules are compiled against unconfined schemas.
 */
#ifndef STAGEHAND_FILTER_H
#define STAGEHAND_FILTER_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct sqlite3_stmt;

#define SH_FILTER_MAX_LEN            3500 /* bytes of filter text */
#define SH_FILTER_MAX_EXPRS          200  /* comparisons in one filter */
#define SH_FILTER_MAX_DEPTH          64   /* nested parentheses */
#define SH_FILTER_MAX_RELATION_DEPTH 6    /* relation hops in one path */
#define SH_SORT_MAX_TERMS            8

/* ---- errors: a code (SH_EINVAL from stagehand/core.h) and a 400 message ---- */
struct sh_filter_error {
    int code;          /* 0 or SH_EINVAL */
    size_t offset;     /* byte offset in the filter text, or SIZE_MAX if none */
    char message[192]; /* one sentence ending with a period, safe to show */
};

/* ---- the schema the compiler resolves identifiers against ---- */
enum sh_field_kind {
    SH_FIELD_TEXT,
    SH_FIELD_NUMBER,
    SH_FIELD_BOOL,
    SH_FIELD_EMAIL,
    SH_FIELD_URL,
    SH_FIELD_DATE,
    SH_FIELD_AUTODATE,
    SH_FIELD_SELECT,
    SH_FIELD_JSON,
    SH_FIELD_RELATION,
    SH_FIELD_PASSWORD, /* never filterable or sortable */
    SH_FIELD_EDITOR,   /* HTML text; the schema view shows it to the compiler as text */
    SH_FIELD_GEOPOINT, /* {"lon","lat"} JSON text; shown to the compiler as json */
    SH_FIELD_FILE,     /* stored file names; shown to the compiler as select */
};

#define SH_FILTER_FIELD_MULTI    1u /* column holds a JSON array (maxSelect > 1) */
#define SH_FILTER_FIELD_NOFILTER 2u /* hidden from this caller or encrypted */
/* An auth collection's `email` as a non-superuser's filter sees it: it reads
 * as NULL on rows whose "emailVisibility" is not 1, except the caller's own
 * record (ctx->auth's id, when ctx->auth's collectionId is the schema's id);
 * `sort` by it is refused. Needs the schema to have an emailVisibility column. */
#define SH_FILTER_FIELD_EMAIL_GUARD 4u
/* A hidden field (usable by rules and superusers): the compiled output says
 * when it was read (SH_FILTER_READS_HIDDEN). Changes nothing else. */
#define SH_FILTER_FIELD_HIDDEN 8u
/* The column leads an index of its table: a back-relation through it
 * (`<collection>_via_<field>`) is an index lookup. A confined filter may only
 * use back-relations through single relation fields with this flag; the
 * compiler also uses it to choose a semi-join (an equality on an indexed
 * column of the joined rows) over a correlated probe. */
#define SH_FILTER_FIELD_INDEXED 16u

struct sh_filter_field {
    const char *name; /* column name; must match [A-Za-z_][A-Za-z0-9_]* */
    enum sh_field_kind kind;
    unsigned flags;             /* SH_FILTER_FIELD_* */
    const char *rel_collection; /* SH_FIELD_RELATION: the target, for resolve() */
};

struct sh_filter_schema;

/* Returns the schema of a relation's target collection (the field's
 * rel_collection), or NULL if unknown. The result is borrowed and must stay
 * valid for the duration of the compile call. */
typedef const struct sh_filter_schema *(*sh_filter_resolve_cb)(void *ud, const char *collection);

struct sh_filter_schema {
    const char *table; /* SQL table name; validated like field names */
    const char *alias; /* qualifier of root columns in the caller's query; NULL = table */
    const struct sh_filter_field *fields;
    size_t nfields;
    sh_filter_resolve_cb resolve; /* may be NULL: then no relation traversal */
    void *resolve_ud;

    /* Confinement of a client's filter and sort (all zero for rules and
     * superusers: nothing is confined). Set on every schema of a confined
     * view, the root and each one a relation hop reaches: */
    unsigned access;                                /* SH_FILTER_ACCESS_* */
    const char *id;                                 /* collection id, for the email owner check */
    const struct sh_filter *row_rule;               /* a hop into this collection only reaches rows
                                                       satisfying it (its listRule); NULL or empty:
                                                       every row */
    const struct sh_filter_schema *row_rule_schema; /* what row_rule compiles against
                                                       (unconfined: rules see all) */
    unsigned max_multi_hops; /* root only: most multi-valued segments (multi relation
                                hops and a multi last field) in one path; 0 = any */
};
#define SH_FILTER_ACCESS_CONFINED 1u /* a client filter: hops are checked */
#define SH_FILTER_ACCESS_NOLIST   2u /* null listRule: a hop into it is refused */
/* `id` (text) and `created`/`updated` (autodate) resolve even when absent from
 * fields; a schema that lists them wins. */

/* ---- rules that follow a rename ---- */
/* A schema change to carry into rule text: the collection whose table is
 * `table` (its name before the change) has its fields from[i] renamed to[i]
 * (nfields of them, all at once) and/or is itself renamed `new_table`
 * (NULL: kept). */
struct sh_filter_rename {
    const char *table;
    const char *const *from, *const *to;
    size_t nfields;
    const char *new_table;
};
/* Rewrites text, a filter or rule over schema s whose schemas (and their
 * resolve) still carry the names before the change, so that every
 * identifier naming the renamed field or collection names the new one: a
 * path segment through relations (`post.title`), either part of a
 * back-relation (`posts_via_author`), `@collection.posts.title`. Strings,
 * comments, @request.* paths and other names stay as written. *out is NULL
 * when nothing changes, else newly allocated (free()). Returns 0,
 * SH_EINVAL when text does not parse, or SH_ETOOBIG when the rewritten text
 * would pass SH_FILTER_MAX_LEN (then the rename that asked for it cannot keep
 * the rule, and is refused by its caller); nothing rewritten on an error. */
int sh_filter_rename(const char *text, const struct sh_filter_schema *s,
                     const struct sh_filter_rename *rn, char **out);

/* ---- the request a rule is evaluated for ---- */
struct sh_filter_ctx {
    const struct cJSON *auth;                   /* the auth record as JSON; NULL for a guest, for
                                                   whom every @request.auth.* is NULL */
    const struct sh_filter_schema *auth_schema; /* for @request.auth.rel.field; may be NULL */
    /* The client's view of the auth collection (SH_SCHEMA_VIEW_CLIENT), used
     * instead of auth_schema when the filter being compiled is confined (a
     * client's own filter or sort), so that @request.auth paths reach only
     * what the caller may list; NULL: such paths cannot go through relations. */
    const struct sh_filter_schema *auth_client_schema;
    const struct cJSON *body;    /* the request body object; may be NULL */
    const struct cJSON *query;   /* query parameters, name -> string; may be NULL */
    const struct cJSON *headers; /* lower-case names, '-' as '_', -> string; may be NULL */
    const char *method;          /* "GET", ...; NULL reads as "" */
    const char *context;         /* "default", "realtime", ...; NULL reads as "" */
    int64_t now_ms;              /* Unix time in ms for @now, @todayStart, ... */
};

/* ---- compiled output: SQL text plus its parameters in `?` order ---- */
enum sh_filter_param_type {
    SH_FILTER_PARAM_NULL,
    SH_FILTER_PARAM_INT,
    SH_FILTER_PARAM_DOUBLE,
    SH_FILTER_PARAM_TEXT,
};

struct sh_filter_param {
    enum sh_filter_param_type type;
    int64_t i;
    double d;
    char *text; /* TEXT: owned by the sh_filter_sql, NUL-terminated, len bytes */
    size_t len;
};

/* What a compiled filter or sort reads, as its compiler resolved it (so no
 * caller has to search the SQL text for table or column names): */
#define SH_FILTER_READS_OTHER_TABLE                                                                \
    1u /* a table other than the root schema's                                                     \
          (a relation hop, from the root or                                                        \
          from @request.auth, to another table) */
#define SH_FILTER_READS_HIDDEN                                                                     \
    2u /* a field flagged SH_FILTER_FIELD_HIDDEN,                                                  \
          at the root or past a hop */

struct sh_filter_sql {
    char *sql; /* NUL-terminated; owned; NULL when empty */
    size_t len;
    struct sh_filter_param *params; /* owned */
    size_t nparams;
    unsigned reads;             /* SH_FILTER_READS_*, set by sh_filter_compile/sh_sort_compile */
    size_t sql_cap, params_cap; /* internal */
};

/* Frees what the struct owns and leaves it empty; safe on a zeroed struct and
 * after a failed compile. */
void sh_filter_sql_deinit(struct sh_filter_sql *q);

/* Binds q's parameters to stmt at indexes first, first+1, ... (text is copied
 * by SQLite). Returns SQLITE_OK or the SQLite error code. */
int sh_filter_sql_bind(const struct sh_filter_sql *q, struct sqlite3_stmt *stmt, int first);

/* sh_filter_sql_bind without copying text: SQLite reads q's text in place,
 * so q must stay alive and unchanged until stmt is reset with its bindings
 * cleared (sqlite3_clear_bindings; the db's statement cache does both when
 * a statement is given back) or finalized. */
int sh_filter_sql_bind_static(const struct sh_filter_sql *q, struct sqlite3_stmt *stmt, int first);

/* ---- parsed filters ---- */
struct sh_filter;

/* Parses len bytes of text (need not be NUL-terminated). On success returns 0
 * and *out holds a new reference the caller releases with sh_filter_free.
 * Empty text (or only whitespace and comments) parses to a filter that
 * compiles to `1`. On error returns SH_EINVAL, sets *out = NULL and fills err. */
int sh_filter_parse(const char *text, size_t len, struct sh_filter **out,
                    struct sh_filter_error *err);

/* Takes another reference to f (atomic: may be shared across threads). */
struct sh_filter *sh_filter_ref(struct sh_filter *f);

/* Drops one reference; the last one frees the AST. NULL is ignored. */
void sh_filter_free(struct sh_filter *f);

/* Nonzero if f uses any @request.* macro: non-superusers may not send such
 * filters or sorts (403). */
int sh_filter_uses_request(const struct sh_filter *f);

/* Which parts of the request f reads (SH_FILTER_USES_*), as parsed: asked
 * of the AST, never of the text (a word inside a string literal is not a
 * use). */
#define SH_FILTER_USES_REQUEST 1u  /* any @request.* */
#define SH_FILTER_USES_QUERY   2u  /* @request.query.* */
#define SH_FILTER_USES_HEADERS 4u  /* @request.headers.* */
#define SH_FILTER_USES_TIME    16u /* @now, @todayStart, ...: the answer moves with the clock */
/* @collection.*: only superusers may send such filters or sorts (403 "Only
 * superusers can filter by @collection."); rules may use it. */
#define SH_FILTER_USES_COLLECTION 8u
unsigned sh_filter_uses(const struct sh_filter *f);

/* Nonzero if f has no expression (empty text). */
int sh_filter_is_empty(const struct sh_filter *f);

/* Compiles f for the collection described by schema and the request ctx (NULL
 * = a guest request at Unix time 0) into *out (initialised here; the caller
 * must sh_filter_sql_deinit it after a success). The SQL is a boolean
 * expression (`1` for an empty filter), either parenthesised or a single
 * comparison, so it can be joined with AND/OR/NOT as is; it refers to root
 * columns as "alias"."column" and binds in the order of out->params. Returns
 * 0, or SH_EINVAL with err filled (unknown field, unfilterable field, bad
 * relation, bad modifier) and *out left empty. f, schema and ctx are only
 * read; f may be compiled by several threads at once. */
int sh_filter_compile(const struct sh_filter *f, const struct sh_filter_schema *schema,
                      const struct sh_filter_ctx *ctx, struct sh_filter_sql *out,
                      struct sh_filter_error *err);

/* ---- sort=: "-created,title,@random" ---- */

/* Compiles a sort expression into an ORDER BY list without the keywords, e.g.
 * `"posts"."created" DESC, "posts"."title" ASC`. `-` is descending, `+` or
 * nothing ascending; `@random` is RANDOM(), `@rowid` the rowid; relation paths
 * (`author.name`) sort by a subquery. Empty text gives an empty *out (len 0).
 * More than SH_SORT_MAX_TERMS terms, unknown, multi-valued or unfilterable
 * fields are SH_EINVAL with err filled. *out is initialised here and owned by
 * the caller after a success (sh_filter_sql_deinit). */
int sh_sort_compile(const char *text, size_t len, const struct sh_filter_schema *schema,
                    struct sh_filter_sql *out, struct sh_filter_error *err);

/* sh_sort_compile with the request ctx (NULL = a guest), which a confined
 * schema's row rules read (@request.auth.* in a related listRule). */
int sh_sort_compile_ctx(const char *text, size_t len, const struct sh_filter_schema *schema,
                        const struct sh_filter_ctx *ctx, struct sh_filter_sql *out,
                        struct sh_filter_error *err);

/* ---- a bounded LRU of parsed filters, keyed by (collection, text) ---- */
struct sh_filter_cache;

struct sh_filter_cache_stats {
    uint64_t hits, misses, evictions;
    size_t entries;
};

/* Returns a new cache holding at most capacity (>= 1) parsed filters; the
 * caller frees it with sh_filter_cache_free. Not thread-safe: one per thread. */
struct sh_filter_cache *sh_filter_cache_new(size_t capacity);

/* Frees the cache and drops its references (filters still referenced by
 * callers stay valid). NULL is ignored. */
void sh_filter_cache_free(struct sh_filter_cache *c);

/* Returns the parsed filter for (collection, text), parsing and inserting it
 * on a miss (evicting the least recently used entry when full). On success *out
 * is a new reference the caller releases with sh_filter_free. Parse errors are
 * returned as by sh_filter_parse and not cached. collection may be NULL. */
int sh_filter_cache_parse(struct sh_filter_cache *c, const char *collection, const char *text,
                          size_t len, struct sh_filter **out, struct sh_filter_error *err);

/* Drops every entry of a collection (e.g. when it is deleted); NULL drops all. */
void sh_filter_cache_forget(struct sh_filter_cache *c, const char *collection);

void sh_filter_cache_stats(const struct sh_filter_cache *c, struct sh_filter_cache_stats *out);

/* sh_filter_compile(f, schema, ctx, ...) through the cache: a filter
 * compiled once for the same f, schema, ctx->auth_schema and
 * ctx->auth_client_schema (compared by address) and the same values of
 * every request value the compile reads (the auth record's collectionId and
 * id, the @request.* values f names) is handed out again without
 * compiling. On success *out is the compiled SQL, shared and read-only,
 * which the caller releases with sh_filter_cache_release (it stays valid
 * after an eviction or sh_filter_cache_free). Errors are returned as by
 * sh_filter_compile and not cached. A compile that cannot be keyed (time
 * macros, a confined schema, a row rule compiled inside it, request values
 * past 512 bytes of key) runs each time and is handed out the same way, as
 * is every compile when c is NULL. The schemas, and everything their
 * resolve callbacks reach, must stay unchanged while c holds entries for
 * them: keep one cache per catalog snapshot's views and free it with them
 * (sh_filter_cache_forget(c, NULL) also drops compiled entries). */
int sh_filter_cache_compile(struct sh_filter_cache *c, const struct sh_filter *f,
                            const struct sh_filter_schema *schema, const struct sh_filter_ctx *ctx,
                            const struct sh_filter_sql **out, struct sh_filter_error *err);

/* Drops the caller's reference to a result of sh_filter_cache_compile. NULL
 * is ignored. */
void sh_filter_cache_release(const struct sh_filter_sql *q);

#endif
