/*
 * Parser of the filter language: a recursive-descent parser over the tokens
 * of filter_lex.c that builds the AST of filter_int.h. `||` is the loosest
 * operator, then `&&`, then parenthesised groups and comparisons. Recursion
 * only happens on '(' and is capped at SH_FILTER_MAX_DEPTH, the input at
 * SH_FILTER_MAX_LEN bytes and the comparisons at SH_FILTER_MAX_EXPRS, so
 * hostile input cannot exhaust the C stack or the heap. Identifiers are
 * checked for shape and macros and modifiers for existence here; field names
 * are checked against a schema later, by the compiler. All nodes and strings
 * of one filter live in a private chunk pool freed at once.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "filter_int.h"
#include "stagehand/core.h"

/* ---- the pool: bump allocation in malloc'd chunks ---- */
struct sh__pool_chunk {
    struct sh__pool_chunk *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
};

static void *pool_alloc(struct sh_filter *f, size_t n)
{
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    struct sh__pool_chunk *c = f->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        c = sh__filter_xmalloc(sizeof(*c) + cap);
        c->cap = cap;
        c->used = 0;
        c->next = f->chunks;
        f->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static char *pool_strndup(struct sh_filter *f, const char *s, size_t n)
{
    char *p = pool_alloc(f, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- parser state ---- */
struct parser {
    struct sh__lexer lx;
    struct sh__tok tok; /* the lookahead */
    struct sh_filter *f;
    struct sh_filter_error *err;
};

static int advance(struct parser *p)
{
    return sh__lexer_next(&p->lx, &p->tok, p->err);
}

static int fail_at(struct parser *p, size_t off, const char *what)
{
    return sh__filter_fail(p->err, off, "Invalid filter: %s at offset %zu.", what, off);
}

/* Checks a dotted path: non-empty segments of [A-Za-z0-9_]. */
static bool path_ok(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i - 1] == '.')
                return false;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static const struct {
    const char *name;
    enum sh__macro macro;
} exact_macros[] =
    {
        {"@request.method", SH_MACRO_METHOD},
        {"@request.context", SH_MACRO_CONTEXT},
        {"@now", SH_MACRO_NOW},
        {"@yesterday", SH_MACRO_YESTERDAY},
        {"@tomorrow", SH_MACRO_TOMORROW},
        {"@todayStart", SH_MACRO_TODAY_START},
        {"@todayEnd", SH_MACRO_TODAY_END},
        {"@monthStart", SH_MACRO_MONTH_START},
        {"@monthEnd", SH_MACRO_MONTH_END},
        {"@yearStart", SH_MACRO_YEAR_START},
        {"@yearEnd", SH_MACRO_YEAR_END},
        {"@second", SH_MACRO_SECOND},
        {"@minute", SH_MACRO_MINUTE},
        {"@hour", SH_MACRO_HOUR},
        {"@weekday", SH_MACRO_WEEKDAY},
        {"@day", SH_MACRO_DAY},
        {"@month", SH_MACRO_MONTH},
        {"@year", SH_MACRO_YEAR},
},
  prefix_macros[] = {
      {"@request.auth.", SH_MACRO_AUTH},
      {"@request.body.", SH_MACRO_BODY},
      {"@request.query.", SH_MACRO_QUERY},
      {"@request.headers.", SH_MACRO_HEADERS},
};

static int parse_macro(struct parser *p, const char *s, size_t n, struct sh__opnd *o)
{
    for (size_t i = 0; i < sizeof(exact_macros) / sizeof(exact_macros[0]); i++) {
        if (strlen(exact_macros[i].name) == n && memcmp(exact_macros[i].name, s, n) == 0) {
            o->macro = exact_macros[i].macro;
            o->text = pool_strndup(p->f, "", 0);
            if (o->macro != SH_MACRO_METHOD && o->macro != SH_MACRO_CONTEXT)
                p->f->uses |= SH_FILTER_USES_TIME;
            goto found;
        }
    }
    for (size_t i = 0; i < sizeof(prefix_macros) / sizeof(prefix_macros[0]); i++) {
        size_t pn = strlen(prefix_macros[i].name);
        if (n > pn && memcmp(prefix_macros[i].name, s, pn) == 0 && path_ok(s + pn, n - pn)) {
            o->macro = prefix_macros[i].macro;
            o->text = pool_strndup(p->f, s + pn, n - pn);
            o->len = n - pn;
            goto found;
        }
    }
    return sh__filter_fail(p->err, o->off, "Invalid filter: unknown macro \"%.*s\" at offset %zu.",
                           n > 64 ? 64 : (int)n, s, o->off);
found:
    if (o->macro <= SH_MACRO_CONTEXT) {
        p->f->uses_request = true;
        p->f->uses |= SH_FILTER_USES_REQUEST;
    }
    if (o->macro == SH_MACRO_QUERY)
        p->f->uses |= SH_FILTER_USES_QUERY;
    if (o->macro == SH_MACRO_HEADERS)
        p->f->uses |= SH_FILTER_USES_HEADERS;
    return 0;
}

/* True if s[0..n) is [A-Za-z_][A-Za-z0-9_]*. */
static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    return path_ok(s, n) && !memchr(s, '.', n);
}

/* @collection.<name>[:alias].<path>[:modifier]; s/n is the whole identifier
 * and the modifier, if any, has been cut off already. */
static int parse_collection(struct parser *p, const char *s, size_t n, struct sh__opnd *o)
{
    static const char prefix[] = "@collection.";
    size_t pn = sizeof(prefix) - 1;
    const char *name = s + pn, *end = s + n;
    const char *dot = memchr(name, '.', (size_t)(end - name));
    if (!dot)
        return fail_at(p, o->off, "@collection needs a field after the collection name");
    const char *colon = memchr(name, ':', (size_t)(dot - name));
    const char *name_end = colon ? colon : dot;
    if (!name_ok(name, (size_t)(name_end - name)) ||
        (colon && !name_ok(colon + 1, (size_t)(dot - colon - 1))))
        return fail_at(p, o->off, "invalid @collection name or alias");
    if (!path_ok(dot + 1, (size_t)(end - dot - 1)) || memchr(dot + 1, ':', (size_t)(end - dot - 1)))
        return fail_at(p, o->off, "invalid field name");
    o->kind = SH_OPND_MACRO;
    o->macro = SH_MACRO_COLLECTION;
    o->coll = pool_strndup(p->f, name, (size_t)(name_end - name));
    o->calias = colon ? pool_strndup(p->f, colon + 1, (size_t)(dot - colon - 1)) : o->coll;
    o->text = pool_strndup(p->f, dot + 1, (size_t)(end - dot - 1));
    o->len = (size_t)(end - dot - 1);
    p->f->uses |= SH_FILTER_USES_COLLECTION;
    if (o->mod == SH_MOD_ISSET || o->mod == SH_MOD_CHANGED)
        return fail_at(p, o->off, "modifier not allowed here");
    return 0;
}

static int parse_ident(struct parser *p, struct sh__opnd *o)
{
    const char *s = p->lx.text + p->tok.off;
    size_t n = p->tok.len;
    static const char coll_prefix[] = "@collection.";
    bool is_coll =
        n > sizeof(coll_prefix) - 1 && memcmp(s, coll_prefix, sizeof(coll_prefix) - 1) == 0;
    /* The modifier is after the last ':' (an @collection alias has one too). */
    const char *colon = NULL;
    for (size_t i = n; i-- > 0;)
        if (s[i] == ':') {
            colon = s + i;
            break;
        }
    if (is_coll && colon && !memchr(colon, '.', (size_t)(s + n - colon)) &&
        memchr(s + sizeof(coll_prefix) - 1, '.', (size_t)(colon - s) - (sizeof(coll_prefix) - 1)) ==
            NULL)
        colon = NULL; /* `@collection.posts:p` with no field: the alias, not a modifier */
    if (colon && !memchr(colon, '.', (size_t)(s + n - colon))) {
        const char *mod = colon + 1;
        size_t mn = n - (size_t)(mod - s);
        if (mn == 5 && memcmp(mod, "isset", 5) == 0)
            o->mod = SH_MOD_ISSET;
        else if (mn == 6 && memcmp(mod, "length", 6) == 0)
            o->mod = SH_MOD_LENGTH;
        else if (mn == 5 && memcmp(mod, "lower", 5) == 0)
            o->mod = SH_MOD_LOWER;
        else if (mn == 4 && memcmp(mod, "each", 4) == 0)
            o->mod = SH_MOD_EACH;
        else if (mn == 7 && memcmp(mod, "changed", 7) == 0)
            o->mod = SH_MOD_CHANGED;
        else
            return fail_at(p, o->off + (size_t)(colon - s), "unknown modifier");
        n = (size_t)(colon - s);
    }
    if (n == 4 && memcmp(s, "true", 4) == 0 && !o->mod) {
        o->kind = SH_OPND_BOOL;
        o->i = 1;
        return 0;
    }
    if (n == 5 && memcmp(s, "false", 5) == 0 && !o->mod) {
        o->kind = SH_OPND_BOOL;
        return 0;
    }
    if (n == 4 && memcmp(s, "null", 4) == 0 && !o->mod) {
        o->kind = SH_OPND_NULL;
        return 0;
    }
    if (is_coll)
        return parse_collection(p, s, n, o);
    if (s[0] == '@') {
        o->kind = SH_OPND_MACRO;
        int rc = parse_macro(p, s, n, o);
        if (rc)
            return rc;
        /* :changed names a stored field: only a top-level body key.
         * @request.auth takes :length (of an array value, of a relation
         * path or of a back-relation, `@request.auth.posts_via_author`). */
        bool ok = o->mod == SH_MOD_NONE ||
                  (o->macro == SH_MACRO_BODY && o->mod != SH_MOD_LOWER &&
                   (o->mod != SH_MOD_CHANGED || name_ok(o->text, o->len))) ||
                  (o->macro == SH_MACRO_AUTH && o->mod == SH_MOD_LENGTH);
        return ok ? 0 : fail_at(p, o->off, "modifier not allowed here");
    }
    if (!path_ok(s, n) || memchr(s, ':', n))
        return fail_at(p, o->off, "invalid field name");
    if (o->mod == SH_MOD_ISSET || o->mod == SH_MOD_CHANGED)
        return fail_at(p, o->off, "modifier not allowed here");
    o->kind = SH_OPND_FIELD;
    o->text = pool_strndup(p->f, s, n);
    o->len = n;
    return 0;
}

static int parse_number(struct parser *p, struct sh__opnd *o)
{
    char *s = pool_strndup(p->f, p->lx.text + p->tok.off, p->tok.len);
    if (!memchr(s, '.', p->tok.len)) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == 0) {
            o->kind = SH_OPND_INT;
            o->i = v;
            return 0;
        }
    }
    o->kind = SH_OPND_DOUBLE;
    o->d = strtod(s, NULL); /* huge values become +-inf: still just a number */
    return 0;
}

static int parse_operand(struct parser *p, struct sh__opnd *o);

/* name(arg, ...): the lookahead is the name, followed by '('. Arguments are
 * plain operands (no nested calls), at most SH_FUNC_MAX_ARGS. */
static int parse_call(struct parser *p, struct sh__opnd *o)
{
    const char *s = p->lx.text + p->tok.off;
    size_t n = p->tok.len;
    unsigned min, max;
    if (n == 11 && memcmp(s, "geoDistance", 11) == 0) {
        o->func = SH_FUNC_GEO_DISTANCE;
        min = max = 4;
    } else if (n == 8 && memcmp(s, "strftime", 8) == 0) {
        o->func = SH_FUNC_STRFTIME;
        min = 2;
        max = SH_FUNC_MAX_ARGS;
    } else {
        return sh__filter_fail(p->err, o->off,
                               "Invalid filter: unknown function \"%.*s\" at offset %zu.",
                               n > 64 ? 64 : (int)n, s, o->off);
    }
    o->kind = SH_OPND_FUNC;
    o->args = pool_alloc(p->f, max * sizeof(*o->args));
    int rc;
    if ((rc = advance(p)) || (rc = advance(p))) /* the name, '(' */
        return rc;
    while (p->tok.type != SH_TOK_RPAREN) {
        if (o->nargs == max)
            return fail_at(p, p->tok.off, "too many function arguments");
        if (p->tok.type == SH_TOK_IDENT && p->lx.pos < p->lx.len && p->lx.text[p->lx.pos] == '(')
            return fail_at(p, p->tok.off, "nested function calls are not supported");
        if ((rc = parse_operand(p, &o->args[o->nargs++])))
            return rc;
        if (p->tok.type == SH_TOK_COMMA) {
            if ((rc = advance(p)))
                return rc;
            if (p->tok.type == SH_TOK_RPAREN)
                return fail_at(p, p->tok.off, "expected a value");
        } else if (p->tok.type != SH_TOK_RPAREN) {
            return fail_at(p, p->tok.off, "expected ',' or ')'");
        }
    }
    if (o->nargs < min)
        return fail_at(p, p->tok.off, "too few function arguments");
    return 0;
}

static int parse_operand(struct parser *p, struct sh__opnd *o)
{
    o->off = p->tok.off;
    int rc;
    if (p->tok.type == SH_TOK_IDENT && p->lx.pos < p->lx.len && p->lx.text[p->lx.pos] == '(') {
        rc = parse_call(p, o);
        return rc ? rc : advance(p);
    }
    switch (p->tok.type) {
    case SH_TOK_STRING:
        o->kind = SH_OPND_TEXT;
        o->text = pool_alloc(p->f, p->tok.len);
        o->len = sh__lexer_unquote(p->lx.text, &p->tok, o->text);
        o->text[o->len] = '\0';
        rc = 0;
        break;
    case SH_TOK_NUMBER:
        rc = parse_number(p, o);
        break;
    case SH_TOK_IDENT:
        rc = parse_ident(p, o);
        break;
    default:
        return fail_at(p, p->tok.off, "expected a value");
    }
    return rc ? rc : advance(p);
}

static int parse_or(struct parser *p, unsigned depth, struct sh__node **out);

static int parse_primary(struct parser *p, unsigned depth, struct sh__node **out)
{
    int rc;
    if (p->tok.type == SH_TOK_LPAREN) {
        if (depth + 1 > SH_FILTER_MAX_DEPTH)
            return sh__filter_fail(p->err, p->tok.off,
                                   "Invalid filter: nested too deeply (max %d) at offset %zu.",
                                   SH_FILTER_MAX_DEPTH, p->tok.off);
        if ((rc = advance(p)) || (rc = parse_or(p, depth + 1, out)))
            return rc;
        if (p->tok.type != SH_TOK_RPAREN)
            return fail_at(p, p->tok.off, "expected ')'");
        return advance(p);
    }
    struct sh__node *n = pool_alloc(p->f, sizeof(*n));
    n->kind = SH_NODE_CMP;
    if ((rc = parse_operand(p, &n->l)))
        return rc;
    if (p->tok.type != SH_TOK_OP)
        return fail_at(p, p->tok.off, "expected an operator");
    n->op = p->tok.op;
    n->any = p->tok.any;
    if ((rc = advance(p)) || (rc = parse_operand(p, &n->r)))
        return rc;
    if (++p->f->nexprs > SH_FILTER_MAX_EXPRS)
        return sh__filter_fail(p->err, n->l.off, "Invalid filter: too many expressions (max %d).",
                               SH_FILTER_MAX_EXPRS);
    *out = n;
    return 0;
}

/* Parses `item (sep item)*` where item is parse_primary (for `&&`) or the
 * `&&` level (for `||`); a single item is returned without a group node. */
static int parse_list(struct parser *p, unsigned depth, enum sh__tok_type sep,
                      struct sh__node **out)
{
    struct sh__node *first = NULL, *group = NULL, *last;
    int rc = sep == SH_TOK_AND ? parse_primary(p, depth, &first)
                               : parse_list(p, depth, SH_TOK_AND, &first);
    if (rc)
        return rc;
    last = first;
    while (p->tok.type == sep) {
        if (!group) {
            group = pool_alloc(p->f, sizeof(*group));
            group->kind = sep == SH_TOK_AND ? SH_NODE_AND : SH_NODE_OR;
            group->first = first;
        }
        struct sh__node *next = NULL;
        if ((rc = advance(p)))
            return rc;
        rc = sep == SH_TOK_AND ? parse_primary(p, depth, &next)
                               : parse_list(p, depth, SH_TOK_AND, &next);
        if (rc)
            return rc;
        last->next = next;
        last = next;
    }
    *out = group ? group : first;
    return 0;
}

static int parse_or(struct parser *p, unsigned depth, struct sh__node **out)
{
    return parse_list(p, depth, SH_TOK_OR, out);
}

int sh_filter_parse(const char *text, size_t len, struct sh_filter **out,
                    struct sh_filter_error *err)
{
    *out = NULL;
    if (len > SH_FILTER_MAX_LEN)
        return sh__filter_fail(err, SH_FILTER_MAX_LEN,
                               "Invalid filter: too long (max %d characters).", SH_FILTER_MAX_LEN);
    int rc = sh__utf8_check(text, len, "filter", err);
    if (rc)
        return rc;

    struct sh_filter *f = sh__filter_xmalloc(sizeof(*f));
    memset(f, 0, sizeof(*f));
    atomic_init(&f->refs, 1);
    struct parser p = {.f = f, .err = err};
    sh__lexer_init(&p.lx, text, len);
    if ((rc = advance(&p)))
        goto fail;
    if (p.tok.type == SH_TOK_EOF) {
        f->root = pool_alloc(f, sizeof(*f->root));
        f->root->kind = SH_NODE_TRUE;
    } else {
        if ((rc = parse_or(&p, 0, &f->root)))
            goto fail;
        if (p.tok.type != SH_TOK_EOF) {
            rc = fail_at(&p, p.tok.off,
                         p.tok.type == SH_TOK_RPAREN ? "unexpected ')'" : "expected '&&' or '||'");
            goto fail;
        }
    }
    *out = f;
    return 0;
fail:
    sh_filter_free(f);
    return rc;
}

struct sh_filter *sh_filter_ref(struct sh_filter *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void sh_filter_free(struct sh_filter *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct sh__pool_chunk *c = f->chunks;
    while (c) {
        struct sh__pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(f);
}

int sh_filter_uses_request(const struct sh_filter *f)
{
    return f->uses_request;
}

unsigned sh_filter_uses(const struct sh_filter *f)
{
    return f->uses;
}

int sh_filter_is_empty(const struct sh_filter *f)
{
    return f->root->kind == SH_NODE_TRUE;
}
