/*
 * Collection definitions (API.md "Collections"): PocketBase-shaped JSON is
 * parsed and validated into a struct sh_collection (sh_collection_parse,
 * sh_collection_import) and written back (sh_collection_to_json); index
 * strings are parsed strictly into a struct sh_index and regenerated with
 * quoted identifiers (sh_index_parse, sh_index_format); each collection is a
 * real table whose DDL and migrations come from sh_schema_create_sql and
 * sh_schema_migrate_sql; and sh_schema_view gives the filter compiler of
 * filter.h its view of a collection.
 *
 * Field types are filter.h's enum sh_field_kind: the two lists are the same,
 * so no conversion is needed. Everything here allocates on the process heap
 * (allocation failure aborts) and is read-only once built: a parsed
 * collection may be shared between threads.
 *
 * Choices (PocketBase's where known):
 *  - Collection ids: supplied ids match [A-Za-z0-9_]{1,100} (PocketBase
 *    exports carry "pbc_1234" and "_pb_users_auth_"); a missing id is
 *    generated as 15 characters of [a-z0-9] (libsodium).
 *  - Names: [A-Za-z_][A-Za-z0-9_]{0,99}; a leading `_` only for system
 *    collections; no "_via_". Field names likewise, unique case-insensitively,
 *    and not `expand`, `collectionId`, `collectionName`, `null`, `true`,
 *    `false`, `_rowid_` (nor `passwordConfirm`/`oldPassword` in auth
 *    collections).
 *  - A field without an id gets PocketBase's default, its type followed by
 *    the decimal CRC-32 of its name ("text3208210256"); on an update it keeps
 *    the id of the old field of the same name, so migrations match fields by
 *    id only.
 *  - `id`, `created` and `updated` are added when missing; auth collections
 *    also get `email`, `emailVisibility`, `verified`, `password`, `tokenKey`
 *    and PocketBase's two unique indexes (tokenKey; email where not empty).
 *  - Text patterns are POSIX extended regular expressions (regcomp with
 *    REG_EXTENDED|REG_NOSUB), not Go's RE2: `\d` is not supported.
 *  - autogeneratePattern supports only `[class]{n}` (e.g. "[a-z0-9]{15}").
 *  - A key of a collection or field that PocketBase's JSON does not carry
 *    for its type, or that stagehand does not support, is refused with a
 *    400 naming it (never dropped). Auth options: `authToken` ({"secret":
 *    30-255 printable characters, "duration": seconds}; a new auth
 *    collection without a secret gets 50 random [A-Za-z0-9]) and the others
 *    of struct sh_collection (auth_options.c); enabling otp, mfa or oauth2
 *    is refused until they are implemented.
 *  - The unique index on an auth collection's email is COLLATE NOCASE.
 *  - geoPoint values are {"lon": -180..180, "lat": -90..90}, stored as the
 *    JSON text {"lon":x,"lat":y} (default {0,0}, which `required` refuses,
 *    as PocketBase); editor values are HTML text of at most maxSize bytes.
 *  - Updates (a non-NULL `old`) refuse: a type or system-flag change, renaming
 *    a system collection, changing its rules, removing or renaming a system
 *    field (a system field stays system), toggling `encrypted` on an existing
 *    field or changing an encrypted field's type (the stored values would
 *    need re-encryption), pointing a relation at another collection, and
 *    changing a field's type to or from geoPoint.
 *    Other field type changes are allowed and convert the data (see
 *    sh_schema_migrate_sql). Removing a field that a rule or an index still
 *    uses is refused by the rule or index check.
 */
#ifndef STAGEHAND_SCHEMA_H
#define STAGEHAND_SCHEMA_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stagehand/filter.h"

struct cJSON;

#define SH_COLLECTION_ID_LEN  15   /* generated collection and record ids */
#define SH_SCHEMA_NAME_MAX    100  /* collection, field, index names and ids */
#define SH_SCHEMA_MAX_FIELDS  1000 /* SQLite allows 2000 columns */
#define SH_SCHEMA_MAX_INDEXES 64
#define SH_SCHEMA_MAX_VALUES  1000 /* select values, email/url domains */
#define SH_INDEX_MAX_COLUMNS  32
#define SH_TEXT_DEFAULT_MAX   5000    /* text max when max is 0 (PocketBase) */
#define SH_PASSWORD_MAX       256     /* password max when max is 0 (never truncated) */
#define SH_JSON_DEFAULT_MAX   5242880 /* json maxSize when 0: 5 MiB (PocketBase) */
#define SH_EDITOR_DEFAULT_MAX 5242880 /* editor maxSize when 0: 5 MiB (PocketBase) */
#define SH_VIEW_QUERY_MAX     10000   /* bytes of a view collection's viewQuery */

/* ---- errors: which collection, which field or key, and one sentence ---- */
struct sh_schema_error {
    int code;                                /* 0 or SH_EINVAL */
    char collection[SH_SCHEMA_NAME_MAX + 1]; /* "" when the name is unknown */
    char field[SH_SCHEMA_NAME_MAX + 1];      /* the field concerned, or "" */
    const char *key;   /* the collection key at fault: "name", "fields", "indexes", "listRule",
                          ...; a static string, "" if none */
    const char *vcode; /* a PocketBase-style validation code, e.g.
                          "validation_invalid_rule"; static */
    char message[400]; /* `collection "posts": field "title": unknown type "texty".` */
};

/* ---- fields ---- */
struct sh_field {
    char *id;   /* never NULL after parsing */
    char *name; /* [A-Za-z_][A-Za-z0-9_]*, <= SH_SCHEMA_NAME_MAX */
    enum sh_field_kind kind;
    bool system, hidden, presentable, required;
    bool encrypted;   /* text and json [+]: values are stored sealed; carried only */
    bool primary_key; /* the `id` text field */

    /* text and password: length limits in characters (0 = none; text max 0
     * means SH_TEXT_DEFAULT_MAX, password max 0 means SH_PASSWORD_MAX) */
    int64_t min_len, max_len;
    char *pattern; /* text and password; NULL when none */
    regex_t *re;   /* pattern compiled (REG_EXTENDED|REG_NOSUB); NULL when none */
    char *autogen; /* text autogeneratePattern; NULL when none */
    int cost;      /* password: carried for PocketBase (bcrypt cost) */

    /* number: optional limits */
    bool has_min, has_max, only_int;
    double min, max;

    /* date: limits normalised to "YYYY-MM-DD HH:MM:SS.mmmZ"; NULL when none */
    char *min_date, *max_date;

    /* autodate */
    bool on_create, on_update;

    /* select: allowed values; email and url: onlyDomains / exceptDomains */
    char **values;
    size_t nvalues;
    char **only_domains, **except_domains;
    size_t nonly_domains, nexcept_domains;

    /* select and relation: maxSelect > 1 makes the column a JSON array */
    int max_select, min_select;
    /* relation */
    char *collection_id; /* the related collection's id (names are resolved to ids) */
    bool cascade_delete;

    int64_t max_size;  /* json: bytes of the serialised value; 0 = SH_JSON_DEFAULT_MAX;
                          editor: bytes of the text; 0 = SH_EDITOR_DEFAULT_MAX */
    bool convert_urls; /* editor: carried (PocketBase's admin UI option) */
    char *help;        /* PocketBase's `help` text, carried; NULL when none */

    /* file: max_select (as select: > 1 makes the column a JSON array of
     * names), max_size (bytes of one file; 0 = SH_FILE_DEFAULT_MAX_SIZE),
     * allowed content types (none = any), thumb sizes (carried), and
     * protected (downloads need the viewRule and a file token) */
    char **mime_types, **thumbs;
    size_t nmime_types, nthumbs;
    bool protected_files;
};

/* A file field's maxSize when it gives none (PocketBase's 5 MiB). */
#define SH_FILE_DEFAULT_MAX_SIZE (INT64_C(5) << 20)

/* Nonzero if the field's column holds a JSON array (select/relation/file
 * with maxSelect > 1). */
bool sh_field_is_multi(const struct sh_field *f);

/* The PocketBase type name ("text", ...) of a kind; "" if out of range. */
const char *sh_field_kind_name(enum sh_field_kind kind);

/* Parses a type name; returns 0 and sets *out, or SH_EINVAL if unknown. */
int sh_field_kind_parse(const char *name, enum sh_field_kind *out);

/* ---- indexes ---- */
enum sh_index_order { SH_INDEX_ORDER_NONE, SH_INDEX_ORDER_ASC, SH_INDEX_ORDER_DESC };

struct sh_index_column {
    char *name;
    bool nocase; /* COLLATE NOCASE */
    enum sh_index_order order;
};

struct sh_index {
    char *name;
    char *table; /* as written; the DDL always uses the collection's name */
    bool unique, if_not_exists;
    struct sh_index_column *cols;
    size_t ncols;
    /* The only WHERE accepted: `WHERE col != ''` (or `<>`), the form of
     * PocketBase's own partial unique index on auth emails. NULL when none. */
    char *where_not_empty;
};

/* Parses one index string strictly:
 *   CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON table
 *       (col [COLLATE NOCASE] [ASC|DESC], ...) [WHERE col != '']
 * Keywords are case-insensitive; identifiers are bare ([A-Za-z_][A-Za-z0-9_]*)
 * or quoted with "", `` or [] (same character set inside); one optional
 * trailing `;`. Anything else — comments, other statements, expressions,
 * other collations, any other WHERE clause — is refused. Returns 0 and fills
 * *out (caller releases with sh_index_deinit), or SH_EINVAL with a sentence
 * ending with a period in msg (msg_len bytes, may be 0) and *out zeroed.
 * Whether the table and columns exist is checked by the collection parser. */
int sh_index_parse(const char *text, size_t len, struct sh_index *out, char *msg, size_t msg_len);

/* Frees what *ix owns and zeroes it; safe on a zeroed struct. */
void sh_index_deinit(struct sh_index *ix);

/* Returns the index as a statement on `table` with every identifier quoted by
 * quote ('"' for SQL, '`' for the JSON shown to clients, as PocketBase does);
 * IF NOT EXISTS is written only if keep_if_not_exists. Newly allocated; the
 * caller frees it with free(). */
char *sh_index_format(const struct sh_index *ix, const char *table, char quote,
                      bool keep_if_not_exists);

/* ---- collections ---- */
/* A view collection is a superuser's read-only SELECT (view_query) served
 * through the records API as list and view; its fields are inferred from the
 * query (sh_view_infer) and it has no indexes nor write rules. */
enum sh_collection_type { SH_COLLECTION_BASE, SH_COLLECTION_AUTH, SH_COLLECTION_VIEW };

/* API rules; auth collections also carry authRule and manageRule. */
enum sh_rule_kind {
    SH_RULE_LIST,
    SH_RULE_VIEW,
    SH_RULE_CREATE,
    SH_RULE_UPDATE,
    SH_RULE_DELETE,
    SH_RULE_AUTH,
    SH_RULE_MANAGE,
    SH_RULE_COUNT
};

struct sh_collection {
    char *id;
    char *name;
    enum sh_collection_type type;
    bool system;
    struct sh_field *fields; /* id first, in the order given otherwise */
    size_t nfields;
    struct sh_index *indexes;
    size_t nindexes;
    char *rules[SH_RULE_COUNT];                    /* NULL = superusers only; "" = everyone */
    struct sh_filter *rule_filters[SH_RULE_COUNT]; /* parsed rules; NULL when the rule is NULL */
    /* auth collections (`authToken` in JSON, as PocketBase stores it): the
     * collection's half of its tokens' signing key (generated when absent,
     * kept across updates; the API never shows it), and the lifetime of its
     * tokens in seconds (0 = the server's --token-ttl). NULL/0 for base. */
    char *token_secret;
    int64_t token_duration;
    /* view collections: the SELECT, as given (checked by sh_view_infer) */
    char *view_query;
    /* auth collections, the rest of PocketBase's options (auth_options.c):
     * passwordAuth.enabled and its identityFields (field names, each with a
     * unique single-column index; "email" by default), and `extra`, an
     * object holding authAlert, oauth2, mfa, otp, passwordResetToken,
     * emailChangeToken, verificationToken, fileToken and the three email
     * templates, validated, completed with PocketBase's defaults and shown
     * as stored (secrets removed by the API). NULL/0 for base. */
    bool password_auth;
    /* when the collection was created and last changed ("YYYY-MM-DD
     * HH:MM:SS.mmmZ"), as `_collections` has them: set by sh_catalog_load,
     * NULL on a definition not loaded from the database; never part of the
     * stored JSON (sh_collection_to_json leaves them out) */
    char *created, *updated;
    char **identity_fields;
    size_t nidentity_fields;
    struct cJSON *auth_extra;
};

/* JSON key of a rule ("listRule", ...). */
const char *sh_rule_kind_name(enum sh_rule_kind k);

/* Looks up a collection by id or by name (names compared ASCII
 * case-insensitively, as SQLite compares table names); NULL if unknown. The
 * result is borrowed and must stay valid while the caller of the function it
 * was passed to runs. */
typedef const struct sh_collection *(*sh_collection_find_cb)(void *ud, const char *id_or_name);

struct sh_collection_resolver {
    sh_collection_find_cb find;
    void *ud;
};

/* Parses and validates one collection from its JSON object.
 *  - old: NULL to create; the stored definition to update it with PATCH
 *    semantics (keys absent from json keep old's values; fields listed
 *    replace the whole field list; see the top of this file for what an
 *    update may not change).
 *  - resolver: looks up other collections (relation targets, rule paths,
 *    name uniqueness); may be NULL, and then only self-relations resolve.
 * Relations must name an existing collection (by id or name; the id is
 * stored); rules must parse and compile against the fields. Returns 0 and a
 * new collection in *out (caller frees with sh_collection_free), or SH_EINVAL
 * with err filled and *out NULL. */
int sh_collection_parse(const struct cJSON *json, const struct sh_collection *old,
                        const struct sh_collection_resolver *resolver, struct sh_collection **out,
                        struct sh_schema_error *err);

/* Parses an array of collections as PocketBase exports them. Each element is
 * an update of the collection the resolver finds by the element's id (else
 * by its name), or a new collection; relations and rules may refer to any
 * collection of the array, in any order. All or nothing: returns 0 with a new
 * array of *n collections in *out, in input order (caller frees with
 * sh_collection_list_free), or SH_EINVAL with err naming the first bad
 * collection and field, *out NULL and *n 0. Duplicate ids or names in the
 * array are refused. */
int sh_collection_import(const struct cJSON *array, const struct sh_collection_resolver *resolver,
                         struct sh_collection ***out, size_t *n, struct sh_schema_error *err);

/* Frees a collection and all it owns (including parsed rules); NULL is ignored. */
void sh_collection_free(struct sh_collection *c);

/* Frees n collections and the array; NULL is ignored. */
void sh_collection_list_free(struct sh_collection **list, size_t n);

/* Returns the collection in PocketBase's JSON shape (id, name, type, system,
 * fields with every option, indexes as strings with backquoted identifiers,
 * rules, and for auth collections authRule, manageRule and a passwordAuth
 * object). A new object the caller frees with cJSON_Delete. Parsing it back
 * yields an equal collection. */
struct cJSON *sh_collection_to_json(const struct sh_collection *c);

/* Returns a field by name (exact, then ASCII case-insensitive), or NULL. */
const struct sh_field *sh_collection_field(const struct sh_collection *c, const char *name);

/* Returns a field by id, or NULL. */
const struct sh_field *sh_collection_field_by_id(const struct sh_collection *c, const char *id);

/* ---- the filter compiler's view of a collection ---- */
#define SH_SCHEMA_VIEW_HIDDEN 1u /* hidden fields are filterable (rules, superusers) */
/* A non-superuser's own `filter` and `sort`, confined to what it may see:
 * fields by sh_field_access (hidden ones unusable, an auth email guarded by
 * emailVisibility), hops by sh_collection_reach (a null listRule refuses the
 * hop, any other listRule restricts the rows it reaches). */
#define SH_SCHEMA_VIEW_CLIENT 2u

/* What a caller may see of field f of c: the one answer that rows, expand,
 * `fields`, filters and sorts share. */
enum sh_field_access {
    SH_FIELD_ACCESS_NONE, /* never shown nor usable: password, hidden (non-superuser) */
    SH_FIELD_ACCESS_ALL,
    SH_FIELD_ACCESS_OWNER_OR_VISIBLE, /* an auth collection's email: only where
                                         emailVisibility, or on the caller's own record */
};
enum sh_field_access sh_field_access(const struct sh_collection *c, const struct sh_field *f,
                                     bool superuser);

/* Whether a caller may reach rows of c through a relation of its filter or
 * sort: false for a null listRule (superusers only) unless superuser; when
 * true, *rule is the listRule those rows must satisfy (NULL: every row). */
bool sh_collection_reach(const struct sh_collection *c, bool superuser,
                         const struct sh_filter **rule);

struct sh__view_node;

/* A struct sh_filter_schema for one collection plus, built on demand while
 * the compiler follows relations, those of the related collections. Field
 * flags: SH_FILTER_FIELD_MULTI for maxSelect > 1; SH_FILTER_FIELD_NOFILTER for
 * encrypted fields, and for hidden ones unless SH_SCHEMA_VIEW_HIDDEN; password
 * fields keep their kind (never filterable). Relations carry the related
 * collection's id, resolved through the resolver. */
struct sh_schema_view {
    struct sh_filter_schema schema; /* pass &view.schema to sh_filter_compile */
    const struct sh_collection *root;
    const struct sh_collection_resolver *resolver;
    unsigned flags;
    struct sh_filter_field *fields; /* owned */
    struct sh__view_node *nodes;    /* owned */
    struct sh_schema_view *rules;   /* CLIENT: the unconfined view row rules compile
                                       against (owned, built on demand) */
};

/* Prepares *v for collection c. c and resolver (may be NULL: no relation
 * traversal except to c itself) are borrowed and must outlive v; the schema
 * stays valid until sh_schema_view_deinit. Not thread-safe: one view per
 * compiling thread. */
void sh_schema_view_init(struct sh_schema_view *v, const struct sh_collection *c,
                         const struct sh_collection_resolver *resolver, unsigned flags);

/* Frees what the view built. */
void sh_schema_view_deinit(struct sh_schema_view *v);

/* Views of one catalog snapshot's collections, each (collection, flags)
 * built on its first use and kept until sh_schema_views_free, so that the
 * rules, filters and sorts of every request on that snapshot compile
 * against views built once, not once per compile. Collections are
 * immutable, so a view stays right for as long as its snapshot lives; the
 * caller keeps the snapshot (and resolver) alive longer than the set. Not
 * thread-safe: one set per compiling thread (the loop's). */
struct sh_schema_views;

/* An empty set over the collections resolver finds; CLIENT views get
 * max_multi_hops (filter.h's schema field; 0 = any) at their root. */
struct sh_schema_views *sh_schema_views_new(const struct sh_collection_resolver *resolver,
                                            unsigned max_multi_hops);
/* Frees every view of the set. NULL is ignored. */
void sh_schema_views_free(struct sh_schema_views *vs);
/* The view of c (a collection of the set's snapshot) with flags
 * (SH_SCHEMA_VIEW_*), built now if it is the first ask. Borrowed until
 * sh_schema_views_free. */
const struct sh_filter_schema *sh_schema_views_get(struct sh_schema_views *vs,
                                                   const struct sh_collection *c, unsigned flags);
/* How many views the set has built (tests: a second ask builds none). */
size_t sh_schema_views_built(const struct sh_schema_views *vs);

/* ---- view collections (view.c) ---- */
struct sqlite3;

/* Checks a view collection's query on conn (the loop's read connection, or
 * a write connection) by preparing it under an authorizer that allows only
 * reading collections (one read-only SELECT; no ATTACH, PRAGMA, temp or
 * internal tables) and infers its fields, one per result column, as
 * PocketBase does (a column of a collection field copies that field, other
 * columns are json; an `id` column is required). coll names the collection
 * in errors; r finds source collections by table name. 0 with *fields a new
 * array of field objects (the caller deletes it), or SH_EINVAL with err. */
int sh_view_infer(struct sqlite3 *conn, const char *coll, const char *query,
                  const struct sh_collection_resolver *r, struct cJSON **fields,
                  struct sh_schema_error *err);

/* If json (a collection object to create, or to update old with) is a view
 * collection, replaces its "fields" with those sh_view_infer gives for its
 * viewQuery (old's when json has none), keeping the ids json gave to fields
 * of the same names. 0 when done or not a view, or SH_EINVAL with err. */
int sh_view_infer_into(struct sqlite3 *conn, struct cJSON *json, const struct sh_collection *old,
                       const struct sh_collection_resolver *r, struct sh_schema_error *err);

/* ---- DDL and migrations ---- */

/* A list of SQL statements (without trailing `;`) to run in order in one
 * transaction. */
struct sh_schema_sql {
    char **stmts; /* owned, NUL-terminated */
    size_t n, cap;
};

/* Frees the statements and zeroes *s; safe on a zeroed struct. */
void sh_schema_sql_deinit(struct sh_schema_sql *s);

/* Appends to *out (zeroed or already holding statements) CREATE TABLE for c
 * — one column per field: `"id" TEXT PRIMARY KEY ... NOT NULL`; TEXT DEFAULT ''
 * NOT NULL for text, email, url, date, autodate, password and single
 * select/relation; NUMERIC DEFAULT 0 NOT NULL for number; INTEGER DEFAULT 0
 * NOT NULL (0/1) for bool; TEXT DEFAULT '[]' NOT NULL (a JSON array) for multi
 * select/relation; TEXT DEFAULT NULL (JSON text) for json — followed by its
 * CREATE INDEX statements. Identifiers are double-quoted. */
void sh_schema_create_sql(const struct sh_collection *c, struct sh_schema_sql *out);

/* Appends DROP TABLE for c (its indexes go with it). */
void sh_schema_drop_sql(const struct sh_collection *c, struct sh_schema_sql *out);

/* Appends the statements that turn old's table into new's, keeping the data
 * of fields present in both (matched by field id): nothing when only rules or
 * options changed; a rename and/or index drops and creates when the columns
 * are unchanged; otherwise SQLite's 12-step rebuild — CREATE TABLE "_tmp_new",
 * INSERT ... SELECT the kept columns (converted where the column type changed:
 * numeric text to numbers else 0, numbers to text, "true"/"1"/"t" to 1, a
 * single value to a one-element array and an array to its last element, text
 * to JSON), DROP TABLE old, ALTER TABLE ... RENAME, CREATE INDEX. The caller
 * runs them in one transaction. old and new must be the same collection (same
 * id, type), each as returned by sh_collection_parse; an update refused there
 * is refused here too: returns SH_EINVAL with err filled and *out unchanged. */
int sh_schema_migrate_sql(const struct sh_collection *old, const struct sh_collection *next,
                          struct sh_schema_sql *out, struct sh_schema_error *err);

/* ---- internal to the db module (schema*.c, index_parse.c, validate*.c) ---- */

/* Fills err (may be NULL) with `collection "c": field "f": <fmt>` (the parts
 * present; `<key>: ` stands in for the field when field is empty and key is
 * not "fields") and returns SH_EINVAL. Names are shown with non-printable
 * bytes replaced by '?'. */
int sh__schema_fail(struct sh_schema_error *err, const char *coll, const char *field,
                    const char *key, const char *vcode, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* True if a collection may not be called name (compared case-insensitively):
 * SQLite's own namespace (`sqlite_*`), stagehand's internal tables
 * (`_collections`, `_meta`, `_migrations`, `_sessions`) and the scratch
 * tables of migrations (`_tmp_*`). Collisions with other objects already in
 * the database (indexes, triggers) are checked when the change is applied
 * (sh_catalog_apply). */
bool sh__schema_name_reserved(const char *name);

/* Nonzero if s[0..len) is [A-Za-z_][A-Za-z0-9_]* and 1..SH_SCHEMA_NAME_MAX bytes. */
bool sh__schema_name_ok(const char *s, size_t len);

/* Whether two names (NUL-terminated) are the same SQLite name: equal but
 * for ASCII case. The one rule for collection, table and field names, used
 * by records too. */
bool sh_schema_name_eq(const char *a, const char *b);

/* True if name is c's id or leads one of c's indexes (case-sensitive
 * collation, no partial WHERE): an equality lookup on it is an index search. */
bool sh_field_indexed(const struct sh_collection *c, const char *name);

/* CRC-32 (IEEE, as zlib and Go's hash/crc32) of len bytes. */
uint32_t sh__crc32(const char *s, size_t len);

/* Writes n random characters drawn uniformly from charset (libsodium) and a
 * terminating NUL into out (n + 1 bytes): record ids, secrets, and the
 * session ids of db/records. Any thread. */
void sh_random_string(char *out, size_t n, const char *charset);

/* Parses one field object into *out (zeroed first; released with
 * sh__field_deinit even on failure). coll names the collection in errors. */
int sh__field_parse(const struct cJSON *obj, const char *coll, struct sh_field *out,
                    struct sh_schema_error *err);

/* Frees what *f owns and zeroes it. */
void sh__field_deinit(struct sh_field *f);

/* Deep copy of a field into *dst (compiling its pattern again). */
void sh__field_copy(struct sh_field *dst, const struct sh_field *src);

/* The field as PocketBase JSON; a new object owned by the caller. */
struct cJSON *sh__field_to_json(const struct sh_field *f);

/* Parses json into a new collection without looking at other collections:
 * shape, names, fields (system fields added, ids assigned, old's ids kept by
 * name), indexes, rules parsed (not compiled), and, when old is given, PATCH
 * merging. Relations are left as written; the update restrictions are
 * checked once they are resolved (sh__collection_check_update). */
int sh__collection_parse_shape(const struct cJSON *json, const struct sh_collection *old,
                               struct sh_collection **out, struct sh_schema_error *err);

/* The restrictions on turning old into next (see the top of this file). */
int sh__collection_check_update(const struct sh_collection *old, const struct sh_collection *next,
                                struct sh_schema_error *err);

/* Auth collections: parses PocketBase's auth options of json (passwordAuth,
 * authAlert, oauth2, mfa, otp, the four other tokens, the templates) into c
 * (its fields and indexes already parsed), refusing otp/mfa/oauth2 enabled
 * and identity fields without a unique index. Nothing for base. */
int sh__auth_options_parse(struct sh_collection *c, const struct cJSON *json,
                           struct sh_schema_error *err);

/* Adds c's auth options (not authToken) to the collection object o. */
void sh__auth_options_to_json(const struct sh_collection *c, struct cJSON *o);

/* Frees what the auth options of c own. */
void sh__auth_options_free(struct sh_collection *c);

/* Whether key is an auth option object merged key by key on PATCH. */
bool sh__auth_option_is_object(const char *key);

/* Refuses (400 naming it) a key of the collection object json that
 * PocketBase's JSON for c's type does not carry or stagehand does not
 * support. */
int sh__collection_check_keys(const struct sh_collection *c, const struct cJSON *json,
                              struct sh_schema_error *err);

/* View collections (view.c): takes viewQuery (required, at most
 * SH_VIEW_QUERY_MAX bytes) and checks what the parser can alone: an `id`
 * field among the (inferred) fields, and create/update/delete rules null. */
int sh__view_parse(struct sh_collection *c, const struct cJSON *json, struct sh_schema_error *err);

/* Field renames (rename.c): the new name of the field old called name, if
 * an update renamed it (matched by id), else NULL. */
const char *sh__renamed(const struct sh_collection *old, const struct sh_collection *c,
                        const char *name);

/* The update old -> next of one collection renames fields (matched by id)
 * or the collection: *out is collection y (another stored collection, found
 * by r as before the update) with every rule that names an old name
 * rewritten to the new one and re-parsed against the collections as they
 * are after the update; NULL when no rule of y changes (or y is the updated
 * collection itself). 0, or SH_EINVAL with err filled (a rewritten rule
 * that no longer compiles). */
int sh_collection_follow_rename(const struct sh_collection *y, const struct sh_collection *old,
                                const struct sh_collection *next,
                                const struct sh_collection_resolver *r, struct sh_collection **out,
                                struct sh_schema_error *err);

/* Rewrites in src (the merged definition) the rules body does not set that
 * name a field renamed from old to c, to the new name. */
void sh__rename_rules(const struct sh_collection *old, const struct sh_collection *c,
                      const struct cJSON *body, struct cJSON *src);

/* Appends stmt (taking ownership of the malloc'd string) to s. */
void sh__sql_push(struct sh_schema_sql *s, char *stmt);

#endif
