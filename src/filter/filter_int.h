/*
 * Internals of the filter language shared by its files (lexer, parser,
 * compiler, sort) and by its unit tests. Not for use outside src/db/filter*.c
 * and src/db/sort.c.
 */
#ifndef STAGEHAND_DB_FILTER_INT_H
#define STAGEHAND_DB_FILTER_INT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "stagehand/filter.h"

/* ---- heap helpers: exhaustion aborts (STYLE.md) ---- */
void *sh__filter_xmalloc(size_t n);
void *sh__filter_xrealloc(void *p, size_t n);

/* Fills err with code SH_EINVAL, the offset and a printf-formatted message;
 * always returns SH_EINVAL. */
int sh__filter_fail(struct sh_filter_error *err, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- tokens ---- */
enum sh__tok_type {
    SH_TOK_EOF,
    SH_TOK_IDENT,  /* field path or @macro, with an optional :modifier */
    SH_TOK_STRING, /* quoted text; the token spans the quotes */
    SH_TOK_NUMBER, /* -?[0-9]+(\.[0-9]+)? */
    SH_TOK_OP,     /* comparison operator, see op/any */
    SH_TOK_AND,    /* && */
    SH_TOK_OR,     /* || */
    SH_TOK_LPAREN,
    SH_TOK_RPAREN,
    SH_TOK_COMMA, /* between function arguments */
};

enum sh__op {
    SH_OP_EQ,
    SH_OP_NEQ,
    SH_OP_GT,
    SH_OP_GTE,
    SH_OP_LT,
    SH_OP_LTE,
    SH_OP_LIKE,
    SH_OP_NLIKE,
};

struct sh__tok {
    enum sh__tok_type type;
    size_t off, len; /* where the token is in the text */
    enum sh__op op;  /* SH_TOK_OP */
    bool any;        /* SH_TOK_OP: the ?-prefixed form */
};

struct sh__lexer {
    const char *text;
    size_t len, pos;
};

void sh__lexer_init(struct sh__lexer *lx, const char *text, size_t len);
/* Reads the next token into *tok. Returns 0 or SH_EINVAL with err filled
 * (invalid UTF-8, NUL or other unexpected byte, unterminated string, bad
 * number, lone '&', '|' or '!'). At the end it yields SH_TOK_EOF repeatedly. */
int sh__lexer_next(struct sh__lexer *lx, struct sh__tok *tok, struct sh_filter_error *err);
/* Decodes a SH_TOK_STRING token's escapes into dst (at least tok->len bytes);
 * returns the decoded length. */
size_t sh__lexer_unquote(const char *text, const struct sh__tok *tok, char *dst);
/* Returns 0 if text is valid UTF-8 without NUL bytes, else SH_EINVAL with the
 * offset of the first bad byte in err; what ("filter", "sort") names the input. */
int sh__utf8_check(const char *text, size_t len, const char *what, struct sh_filter_error *err);

/* ---- the AST ---- */
enum sh__opnd_kind {
    SH_OPND_NULL,
    SH_OPND_BOOL,
    SH_OPND_INT,
    SH_OPND_DOUBLE,
    SH_OPND_TEXT,
    SH_OPND_FIELD, /* path: dotted field path */
    SH_OPND_MACRO, /* macro, path: what follows the macro's prefix */
    SH_OPND_FUNC,  /* func(args...): func, args, nargs */
};

enum sh__func {
    SH_FUNC_NONE,
    SH_FUNC_GEO_DISTANCE, /* geoDistance(lonA, latA, lonB, latB): km */
    SH_FUNC_STRFTIME,     /* strftime(format, time-value[, modifier...]) */
};
#define SH_FUNC_MAX_ARGS 8

enum sh__macro {
    SH_MACRO_NONE,
    SH_MACRO_AUTH,    /* @request.auth.<path> */
    SH_MACRO_BODY,    /* @request.body.<path> */
    SH_MACRO_QUERY,   /* @request.query.<name> */
    SH_MACRO_HEADERS, /* @request.headers.<name> */
    SH_MACRO_METHOD,  /* @request.method */
    SH_MACRO_CONTEXT, /* @request.context */
    /* @collection.<coll>[:alias].<path>: coll, calias (the alias, or coll
     * when none), path. Not a @request macro. */
    SH_MACRO_COLLECTION,
    SH_MACRO_NOW,
    SH_MACRO_YESTERDAY,
    SH_MACRO_TOMORROW,
    SH_MACRO_TODAY_START,
    SH_MACRO_TODAY_END,
    SH_MACRO_MONTH_START,
    SH_MACRO_MONTH_END,
    SH_MACRO_YEAR_START,
    SH_MACRO_YEAR_END,
    SH_MACRO_SECOND,
    SH_MACRO_MINUTE,
    SH_MACRO_HOUR,
    SH_MACRO_WEEKDAY,
    SH_MACRO_DAY,
    SH_MACRO_MONTH,
    SH_MACRO_YEAR,
};

enum sh__mod {
    SH_MOD_NONE,
    SH_MOD_ISSET,
    SH_MOD_LENGTH,
    SH_MOD_LOWER,
    SH_MOD_EACH,    /* every element of a multi-valued field or body array */
    SH_MOD_CHANGED, /* @request.body.<field>:changed: present and != the stored value */
};

struct sh__opnd {
    enum sh__opnd_kind kind;
    enum sh__macro macro;
    enum sh__mod mod;
    int64_t i;  /* BOOL, INT */
    double d;   /* DOUBLE */
    char *text; /* TEXT: decoded value; FIELD/MACRO: path (NUL-terminated) */
    size_t len;
    size_t off;                /* offset in the filter text, for errors */
    const char *coll, *calias; /* SH_MACRO_COLLECTION */
    enum sh__func func;        /* SH_OPND_FUNC */
    struct sh__opnd *args;     /* SH_OPND_FUNC: nargs operands */
    unsigned nargs;
};

enum sh__node_kind { SH_NODE_TRUE, SH_NODE_AND, SH_NODE_OR, SH_NODE_CMP };

struct sh__node {
    enum sh__node_kind kind;
    struct sh__node *first; /* AND/OR: children, linked by next */
    struct sh__node *next;
    enum sh__op op; /* CMP */
    bool any;
    struct sh__opnd l, r;
};

struct sh__pool_chunk;

struct sh_filter {
    atomic_int refs;
    bool uses_request;
    unsigned uses; /* SH_FILTER_USES_* */
    unsigned nexprs;
    struct sh__node *root;
    struct sh__pool_chunk *chunks; /* every node and string, freed together */
};

/* ---- output assembly (filter_out.c) ---- */
void sh__sql_put(struct sh_filter_sql *q, const char *s, size_t n);
void sh__sql_puts(struct sh_filter_sql *q, const char *s);
/* Appends "name" quoted; the caller has validated it with sh__ident_ok. */
void sh__sql_putq(struct sh_filter_sql *q, const char *name);
/* Appends "?" and a parameter. */
void sh__sql_param_null(struct sh_filter_sql *q);
void sh__sql_param_int(struct sh_filter_sql *q, int64_t v);
void sh__sql_param_double(struct sh_filter_sql *q, double v);
void sh__sql_param_text(struct sh_filter_sql *q, const char *s, size_t n);
/* Appends src's text and copies of its parameters. */
void sh__sql_append(struct sh_filter_sql *q, const struct sh_filter_sql *src);
/* True if s is [A-Za-z_][A-Za-z0-9_]* and at most 128 bytes. */
bool sh__ident_ok(const char *s);

/* ---- operand resolution (filter_path.c) ---- */
struct sh__compiler {
    const struct sh_filter_schema *schema;
    const struct sh_filter_ctx *ctx;
    struct sh_filter_error *err;
    const char *what; /* "filter" or "sort", for messages */
    unsigned next_alias;
    bool sort;        /* compiling a sort term: guarded emails are refused */
    unsigned *reads;  /* the top-level output's SH_FILTER_READS_* (sub-compiles share it) */
    const char *root; /* the top-level schema's table, for SH_FILTER_READS_OTHER_TABLE */
    /* @collection joins shared by the `?op` comparisons of this compile
     * (PocketBase joins each alias once, so conditions on one alias see the
     * same row): the alias as written, its schema and its SQL alias number. */
    struct sh__coll_join *joins;
    unsigned njoins;
    bool in_join_scope; /* compiling inside the EXISTS that declares joins */
    /* set when a sub-compile of another filter ran (a hop's row rule), whose
     * request reads the top-level AST does not show; NULL: not asked */
    bool *nested;
};

#define SH_FILTER_MAX_COLLECTION_JOINS 8 /* distinct @collection aliases in one filter */

struct sh__coll_join {
    const char *calias, *coll;
    const struct sh_filter_schema *schema;
    unsigned n; /* SQL alias "__cN" */
};

/* Compiles f for schema s whose root columns are qualified by alias (a
 * relation alias of the enclosing compile, e.g. "__r3"), sharing c's ctx,
 * err and alias counter, into out (appended). 0 or SH_EINVAL. */
int sh__compile_at(struct sh__compiler *c, const struct sh_filter *f,
                   const struct sh_filter_schema *s, const char *alias, struct sh_filter_sql *out);

/* sh_filter_compile that also sets *nested when a row rule of a schema the
 * compile reached was compiled inside it (nested may be NULL). */
int sh__filter_compile_nested(const struct sh_filter *f, const struct sh_filter_schema *schema,
                              const struct sh_filter_ctx *ctx, struct sh_filter_sql *out,
                              struct sh_filter_error *err, bool *nested);

/* ---- the request values a compile reads (rule_key.c) ---- */
struct sh__ctx_key {
    char buf[576]; /* the cache's fixed part (32 bytes), then 512 of values */
    size_t len;
    bool over; /* the values did not fit */
};
/* Appends to k (k->len, k->over set by the caller) every request value of
 * ctx (NULL = a guest) that compiling f reads; equal keys (with the same f and schemas) compile
 * alike. Returns false when f cannot be keyed: it reads the clock, or the values pass the buffer.
 */
bool sh__filter_ctx_key(const struct sh_filter *f, const struct sh_filter_ctx *ctx,
                        struct sh__ctx_key *k);

/* A resolved operand. For a single value, val is a scalar SQL expression; for
 * a multi-valued one, from enumerates the elements (FROM-clause items) and val
 * is the per-element value. known: val is exactly one bound parameter whose
 * value the compiler knows (empty: NULL or ""). */
struct sh__val {
    struct sh_filter_sql val;
    struct sh_filter_sql from;
    bool multi;
    bool known;
    bool empty;
    bool via; /* the path went through a back-relation (`x_via_y`) */
    /* never NULL nor "" (a row's own id): `=` against it needs no
     * NULL-equals-"" rewrite, so SQLite can use an index on the other side */
    bool nonempty;
    /* A multi operand whose first segment is a back-relation
     * (`comments_via_post.text`): its pieces, so that a `?op` against a
     * known value can be a semi-join computed once
     * (`root IN (SELECT key FROM first rest WHERE ...)`) instead of a
     * correlated probe per record. semi is false when they are empty. */
    bool semi;
    /* the relation field is multiple: first enumerates its ids and the
     * operand has only the IN form (no NULL-row branch, see emit_semi) */
    bool semi_multi;
    struct sh_filter_sql semi_first; /* "comments" AS "__rN"[, json_each(..) AS "__jM"] */
    struct sh_filter_sql semi_key;   /* "__rN"."post", or "__jM"."value" */
    struct sh_filter_sql semi_root;  /* the record's id: "posts"."id" */
    struct sh_filter_sql semi_rule;  /* the rows' listRule at "__rN", or empty */
    struct sh_filter_sql semi_rest;  /* the FROM items after the first */
    bool semi_null_false;            /* the value is NULL on the NULL row (no :length) */
    bool semi_indexed;               /* the value is an indexed column of the rows */
};

void sh__val_deinit(struct sh__val *v);
/* Known values: one bound parameter (empty: "" or NULL). */
void sh__val_set_text(struct sh__val *out, const char *s, size_t n);
void sh__val_set_int(struct sh__val *out, int64_t v);
void sh__val_set_null(struct sh__val *out);
/* Appends the quoted alias `"__<kind><n>"` ("__r3", "__j4", "__c1"). */
void sh__put_alias(struct sh_filter_sql *q, char kind, unsigned n);
/* A date macro's value at Unix time now (ms) into out (dates.c). */
void sh__set_time_macro(enum sh__macro mac, int64_t now, struct sh__val *out);

/* ---- back-relations (via.c) ---- */
/* The pseudo-field a back-relation segment resolves to: its rows' id. */
extern const struct sh_filter_field sh__via_field;
/* Resolves seg as `<collection>_via_<field>` from schema cur: *src is the
 * collection holding the relation, *rf its relation field (which targets
 * cur). False if seg is not of that form or names nothing. */
bool sh__find_via(const struct sh_filter_schema *cur, const char *seg,
                  const struct sh_filter_schema **src, const struct sh_filter_field **rf);
/* Appends the condition joining back-relation rows "__r<rel>" (relation
 * field rf) to the current record's id expression. */
void sh__put_via_on(struct sh_filter_sql *q, unsigned rel, const struct sh_filter_field *rf,
                    const struct sh_filter_sql *id);
/* Appends `json_each(<the ids of multiple relation rf of "__r<rel>">) AS
 * "__j<j>"`: one row per id ("value"), none for NULL or malformed JSON. */
void sh__put_via_each(struct sh_filter_sql *q, unsigned rel, const struct sh_filter_field *rf,
                      unsigned j);

/* The field name of schema s (or the implicit id/created/updated), or NULL. */
const struct sh_filter_field *sh__find_field(const struct sh_filter_schema *s, const char *name);
/* Resolves an operand into *out (initialised here; deinit it after success).
 * Returns 0 or SH_EINVAL with c->err filled. */
int sh__resolve(struct sh__compiler *c, const struct sh__opnd *o, struct sh__val *out);
/* operand.c's pieces that resolve.c (the request's operands) shares: a field
 * path of schema s (start: a bound first segment instead of its column), a
 * request JSON value as an operand, a dotted walk into request JSON, and the
 * path error. */
struct cJSON;
int sh__resolve_path(struct sh__compiler *c, const struct sh_filter_schema *s,
                     const struct sh_filter_sql *start, const char *prefix, const char *path,
                     enum sh__mod mod, size_t off, struct sh__val *out);
void sh__set_json(struct sh__compiler *c, const struct cJSON *item, enum sh__mod mod,
                  struct sh__val *out);
const struct cJSON *sh__json_walk(const struct cJSON *item, const char *path);
int sh__path_fail(struct sh__compiler *c, const char *prefix, const char *path, size_t upto,
                  const char *why, size_t off);

/* Resolves o (a SH_MACRO_COLLECTION operand) against the shared join of its
 * alias when joined (the `?op` form inside the join scope), else against a
 * fresh, uncorrelated enumeration of the whole collection (multi-valued). */
int sh__resolve_collection(struct sh__compiler *c, const struct sh__opnd *o, bool joined,
                           struct sh__val *out);

/* Writes `x = y` with NULL and "" equal (eq) or its negation `IS NOT` (see
 * filter.h); used by comparisons and by :changed. */
void sh__emit_equal(struct sh_filter_sql *q, bool eq, const struct sh__val *l,
                    const struct sh__val *r);

/* Function calls (func.c): resolves the arguments (single-valued) and writes
 * the call's SQL value into out. 0 or SH_EINVAL. */
int sh__resolve_func(struct sh__compiler *c, const struct sh__opnd *o, struct sh__val *out);

#endif
