/*
 * The filter compiler: walks a parsed filter and writes an SQL boolean
 * expression with `?` placeholders. Operands are resolved by filter_path.c;
 * this file decides what each comparison means (the NULL-equals-"" rule of
 * `=`/`!=`, LIKE patterns for `~`, any/all over multi-valued operands) as
 * documented in filter.h. Groups are written as parenthesised AND/OR lists.
 * Recursion follows the AST, whose depth the parser bounds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_int.h"
#include "stagehand/core.h"

static void put_empty(struct sh_filter_sql *q)
{
    sh__sql_param_text(q, "", 0);
}

/* `=` and `!=` where NULL and "" are the same value (PocketBase's rule). */
void sh__emit_equal(struct sh_filter_sql *q, bool eq, const struct sh__val *l,
                    const struct sh__val *r)
{
    const char *op = eq ? " = " : " IS NOT ";
    if (l->empty && r->empty) {
        sh__sql_puts(q, eq ? "1" : "0");
        return;
    }
    if ((l->known && !l->empty) || (r->known && !r->empty) || l->nonempty || r->nonempty) {
        sh__sql_append(q, &l->val);
        sh__sql_puts(q, op);
        sh__sql_append(q, &r->val);
        return;
    }
    if (l->empty || r->empty) {
        const struct sh_filter_sql *x = l->empty ? &r->val : &l->val;
        sh__sql_puts(q, "(");
        sh__sql_append(q, x);
        sh__sql_puts(q, op);
        put_empty(q);
        sh__sql_puts(q, eq ? " OR " : " AND ");
        sh__sql_append(q, x);
        sh__sql_puts(q, eq ? " IS NULL)" : " IS NOT NULL)");
        return;
    }
    sh__sql_puts(q, "COALESCE(");
    sh__sql_append(q, &l->val);
    sh__sql_puts(q, ", ");
    put_empty(q);
    sh__sql_puts(q, ")");
    sh__sql_puts(q, op);
    sh__sql_puts(q, "COALESCE(");
    sh__sql_append(q, &r->val);
    sh__sql_puts(q, ", ");
    put_empty(q);
    sh__sql_puts(q, ")");
}

/* Formats a non-text parameter as PocketBase's string cast would. */
static size_t param_to_text(const struct sh_filter_param *p, char *buf, size_t cap)
{
    switch (p->type) {
    case SH_FILTER_PARAM_INT:
        return (size_t)snprintf(buf, cap, "%" PRId64, p->i);
    case SH_FILTER_PARAM_DOUBLE:
        for (int prec = 1; prec <= 17; prec++) {
            int n = snprintf(buf, cap, "%.*g", prec, p->d);
            if (prec == 17 || strtod(buf, NULL) == p->d)
                return (size_t)n;
        }
        return 0;
    default:
        return 0;
    }
}

/* Binds the LIKE pattern for a known right operand: a value with a `%` that is
 * not preceded by `\` is a pattern and used as given; any other value is
 * matched literally as a substring, its `\`, `%` and `_` escaped. */
static void put_like_pattern(struct sh_filter_sql *q, const struct sh_filter_param *p)
{
    char num[64];
    const char *s = p->text;
    size_t n = p->len;
    if (p->type != SH_FILTER_PARAM_TEXT) {
        n = param_to_text(p, num, sizeof(num));
        s = num;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && (i == 0 || s[i - 1] != '\\')) {
            sh__sql_param_text(q, s, n);
            return;
        }
    }
    char *w = sh__filter_xmalloc(2 * n + 2);
    size_t k = 0;
    w[k++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '%' || s[i] == '_')
            w[k++] = '\\';
        w[k++] = s[i];
    }
    w[k++] = '%';
    sh__sql_param_text(q, w, k);
    free(w);
}

static void emit_cond(struct sh_filter_sql *q, enum sh__op op, const struct sh__val *l,
                      const struct sh__val *r)
{
    static const char *const ops[] = {
        [SH_OP_GT] = " > ",   [SH_OP_GTE] = " >= ",    [SH_OP_LT] = " < ",
        [SH_OP_LTE] = " <= ", [SH_OP_LIKE] = " LIKE ", [SH_OP_NLIKE] = " NOT LIKE ",
    };
    switch (op) {
    case SH_OP_EQ:
    case SH_OP_NEQ:
        sh__emit_equal(q, op == SH_OP_EQ, l, r);
        return;
    case SH_OP_LIKE:
    case SH_OP_NLIKE:
        sh__sql_append(q, &l->val);
        sh__sql_puts(q, ops[op]);
        if (r->known) {
            put_like_pattern(q, &r->val.params[0]);
        } else {
            sh__sql_puts(q, "('%' || ");
            sh__sql_append(q, &r->val);
            sh__sql_puts(q, " || '%')");
        }
        sh__sql_puts(q, " ESCAPE '\\'");
        return;
    case SH_OP_GT:
    case SH_OP_GTE:
    case SH_OP_LT:
    case SH_OP_LTE:
        sh__sql_append(q, &l->val);
        sh__sql_puts(q, ops[op]);
        sh__sql_append(q, &r->val);
        return;
    }
}

/* When the comparison is false on a NULL value (NULL = 'x', NULL LIKE ...,
 * NULL > 5 are NULL), the NULL row of back-relation operand m never
 * matches: the IN of emit_semi alone is the answer, and SQLite then reads
 * the records by id from its list. */
static bool semi_null_false(enum sh__op op, const struct sh__val *m, const struct sh__val *other)
{
    return m->semi_null_false &&
           (op == SH_OP_LIKE || op == SH_OP_NLIKE || op == SH_OP_GT || op == SH_OP_GTE ||
            op == SH_OP_LT || op == SH_OP_LTE || (op == SH_OP_EQ && !other->empty));
}

/* `?op` of a back-relation operand m (its first segment) against a known
 * value: true when a row of m satisfies it, or
 * when m has no rows and its NULL row does (as the EXISTS form reads it).
 * The IN subquery reads no column of the record, so SQLite computes it once
 * per statement instead of probing the relation once per record:
 *   (root IN (SELECT key FROM first rest WHERE [rule AND] cond)
 *    OR (EXISTS (SELECT 1 FROM (SELECT 1) LEFT JOIN first ON 0 rest WHERE cond)
 *        AND NOT EXISTS (SELECT 1 FROM first WHERE key = root [AND rule])))
 * The NULL row's EXISTS is also computed once and usually false, so the
 * per-record probe of the last line is rarely run. */
static void emit_semi(struct sh_filter_sql *q, enum sh__op op, const struct sh__val *m,
                      const struct sh__val *l, const struct sh__val *r)
{
    bool rule = m->semi_rule.len > 0;
    bool null_false = semi_null_false(op, m, m == l ? r : l);
    sh__sql_puts(q, "(");
    sh__sql_append(q, &m->semi_root);
    sh__sql_puts(q, " IN (SELECT ");
    sh__sql_append(q, &m->semi_key);
    sh__sql_puts(q, " FROM ");
    sh__sql_append(q, &m->semi_first);
    sh__sql_append(q, &m->semi_rest);
    sh__sql_puts(q, " WHERE ");
    if (rule) {
        sh__sql_append(q, &m->semi_rule);
        sh__sql_puts(q, " AND ");
    }
    sh__sql_puts(q, "(");
    emit_cond(q, op, l, r);
    if (null_false) {
        sh__sql_puts(q, ")))");
        return;
    }
    sh__sql_puts(q, ")) OR (EXISTS (SELECT 1 FROM (SELECT 1) LEFT JOIN ");
    sh__sql_append(q, &m->semi_first);
    sh__sql_puts(q, " ON 0");
    sh__sql_append(q, &m->semi_rest);
    sh__sql_puts(q, " WHERE ");
    emit_cond(q, op, l, r);
    sh__sql_puts(q, ") AND NOT EXISTS (SELECT 1 FROM ");
    sh__sql_append(q, &m->semi_first);
    sh__sql_puts(q, " WHERE ");
    sh__sql_append(q, &m->semi_key);
    sh__sql_puts(q, " = ");
    sh__sql_append(q, &m->semi_root);
    if (rule) {
        sh__sql_puts(q, " AND ");
        sh__sql_append(q, &m->semi_rule);
    }
    sh__sql_puts(q, ")))");
}

static bool is_collection(const struct sh__opnd *o)
{
    return o->kind == SH_OPND_MACRO && o->macro == SH_MACRO_COLLECTION;
}

/* An operand; a `?op` comparison's @collection operand reads the row of the
 * alias's shared join (PocketBase's correlated form). */
static int resolve_side(struct sh__compiler *c, const struct sh__node *n, const struct sh__opnd *o,
                        struct sh__val *out)
{
    if (is_collection(o))
        return sh__resolve_collection(c, o, n->any && c->in_join_scope, out);
    return sh__resolve(c, o, out);
}

static int compile_cmp(struct sh__compiler *c, struct sh_filter_sql *q, const struct sh__node *n)
{
    struct sh__val l, r;
    int rc = resolve_side(c, n, &n->l, &l);
    if (rc)
        goto fail_l;
    if ((rc = resolve_side(c, n, &n->r, &r)))
        goto fail_r;
    if (!l.multi && !r.multi) {
        emit_cond(q, n->op, &l, &r);
    } else if (n->any && n->op == SH_OP_EQ &&
               ((l.semi && l.semi_indexed && r.known && !r.empty) ||
                (r.semi && r.semi_indexed && l.known && !l.empty)) &&
               (!(l.semi ? &l : &r)->semi_multi ||
                semi_null_false(n->op, l.semi ? &l : &r, l.semi ? &r : &l))) {
        /* a multiple relation's rows have only the IN form: the NULL row
         * must not matter */
        emit_semi(q, n->op, l.semi ? &l : &r, &l, &r);
    } else {
        /* any: some element (pair) satisfies; all: none fails. A NULL result
         * counts as failing. */
        sh__sql_puts(q, n->any ? "EXISTS (SELECT 1 FROM " : "NOT EXISTS (SELECT 1 FROM ");
        if (l.multi)
            sh__sql_append(q, &l.from);
        if (l.multi && r.multi)
            sh__sql_puts(q, ", ");
        if (r.multi)
            sh__sql_append(q, &r.from);
        sh__sql_puts(q, n->any ? " WHERE " : " WHERE NOT COALESCE(");
        emit_cond(q, n->op, &l, &r);
        sh__sql_puts(q, n->any ? ")" : ", 0))");
    }
    sh__val_deinit(&r);
fail_r:
    sh__val_deinit(&l);
fail_l:
    return rc;
}

static int compile_node(struct sh__compiler *c, struct sh_filter_sql *q, const struct sh__node *n)
{
    switch (n->kind) {
    case SH_NODE_TRUE:
        sh__sql_puts(q, "1");
        return 0;
    case SH_NODE_CMP:
        return compile_cmp(c, q, n);
    case SH_NODE_AND:
    case SH_NODE_OR:
        sh__sql_puts(q, "(");
        for (const struct sh__node *k = n->first; k; k = k->next) {
            if (k != n->first)
                sh__sql_puts(q, n->kind == SH_NODE_AND ? " AND " : " OR ");
            int rc = compile_node(c, q, k);
            if (rc)
                return rc;
        }
        sh__sql_puts(q, ")");
        return 0;
    }
    return 0;
}

/* Collects the @collection aliases of the `?op` comparisons under n into
 * c->joins (at most SH_FILTER_MAX_COLLECTION_JOINS); one alias naming two
 * collections is an error. */
static int collect_joins(struct sh__compiler *c, const struct sh__node *n,
                         struct sh__coll_join *joins)
{
    if (n->kind == SH_NODE_AND || n->kind == SH_NODE_OR) {
        for (const struct sh__node *k = n->first; k; k = k->next) {
            int rc = collect_joins(c, k, joins);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (n->kind != SH_NODE_CMP || !n->any)
        return 0;
    const struct sh__opnd *side[2] = {&n->l, &n->r};
    for (int i = 0; i < 2; i++) {
        const struct sh__opnd *o = side[i];
        if (!is_collection(o))
            continue;
        bool seen = false;
        for (unsigned j = 0; j < c->njoins; j++) {
            if (strcmp(joins[j].calias, o->calias) != 0)
                continue;
            if (strcmp(joins[j].coll, o->coll) != 0)
                return sh__filter_fail(
                    c->err, o->off,
                    "Invalid %s: the @collection alias \"%.64s\" names two collections.", c->what,
                    o->calias);
            seen = true;
        }
        if (seen)
            continue;
        if (c->njoins == SH_FILTER_MAX_COLLECTION_JOINS)
            return sh__filter_fail(c->err, o->off,
                                   "Invalid %s: too many @collection aliases (max %d).", c->what,
                                   SH_FILTER_MAX_COLLECTION_JOINS);
        joins[c->njoins++] = (struct sh__coll_join){.calias = o->calias, .coll = o->coll};
    }
    return 0;
}

/* True if o reads nothing of the record being filtered: a literal, a
 * request or date macro, alias calias of @collection, or a call over such. */
static bool opnd_free_of_root(const struct sh__opnd *o, const char *calias)
{
    switch (o->kind) {
    case SH_OPND_FIELD:
        return false;
    case SH_OPND_FUNC:
        for (unsigned i = 0; i < o->nargs; i++)
            if (!opnd_free_of_root(&o->args[i], calias))
                return false;
        return true;
    case SH_OPND_MACRO:
        if (o->macro == SH_MACRO_COLLECTION)
            return strcmp(o->calias, calias) == 0;
        return o->mod != SH_MOD_CHANGED; /* :changed reads the stored field */
    default:
        return true;
    }
}

static bool node_free_of_root(const struct sh__node *n, const char *calias)
{
    if (n->kind == SH_NODE_CMP)
        return opnd_free_of_root(&n->l, calias) && opnd_free_of_root(&n->r, calias);
    for (const struct sh__node *k = n->first; k; k = k->next)
        if (!node_free_of_root(k, calias))
            return false;
    return true;
}

/* `@collection.x.f ?= id` (either order): the key comparison of a rule that
 * asks for a row of x pointing at this record. */
static bool is_key_cmp(const struct sh__node *n, const char *calias)
{
    if (n->kind != SH_NODE_CMP || !n->any || n->op != SH_OP_EQ)
        return false;
    const struct sh__opnd *a = &n->l, *b = &n->r;
    if (!is_collection(a))
        a = &n->r, b = &n->l;
    return is_collection(a) && strcmp(a->calias, calias) == 0 && !strchr(a->text, '.') &&
           a->mod == SH_MOD_NONE && b->kind == SH_OPND_FIELD && strcmp(b->text, "id") == 0 &&
           b->mod == SH_MOD_NONE;
}

/* The common rule shape with one @collection alias, `@collection.x.f ?= id
 * && <conditions on x and request values only>` where one condition is an
 * equality on an indexed column of x, as a semi-join computed once:
 * `root.id IN (SELECT x.f FROM x WHERE <conditions>)` — exact, since the
 * NULL row of an empty x never equals an id. Returns 1 when written, 0
 * when root has another shape (nothing written), or SH_EINVAL. */
static int try_semi_root(struct sh__compiler *c, struct sh_filter_sql *q,
                         const struct sh__node *root, const struct sh__coll_join *j)
{
    const struct sh__node *key = NULL;
    if (root->kind == SH_NODE_CMP) {
        key = is_key_cmp(root, j->calias) ? root : NULL;
    } else if (root->kind == SH_NODE_AND) {
        for (const struct sh__node *k = root->first; k; k = k->next) {
            if (!key && is_key_cmp(k, j->calias))
                key = k;
            else if (!node_free_of_root(k, j->calias))
                return 0;
        }
    }
    if (!key || root->kind != SH_NODE_AND)
        return 0;
    /* Only when the rows are found by an index (`x.user ?= @request.auth.id`
     * with x.user indexed): otherwise the correlated probe by the key, which
     * a page can stop early, is the cheaper plan. */
    bool indexed = false;
    for (const struct sh__node *k = root->first; k && !indexed; k = k->next) {
        if (k == key || k->kind != SH_NODE_CMP || k->op != SH_OP_EQ || !k->any)
            continue;
        const struct sh__opnd *x = is_collection(&k->l) ? &k->l : &k->r;
        const struct sh__opnd *v = x == &k->l ? &k->r : &k->l;
        if (!is_collection(x) || strchr(x->text, '.') || x->mod != SH_MOD_NONE ||
            v->kind == SH_OPND_FIELD || v->kind == SH_OPND_FUNC || is_collection(v))
            continue;
        const struct sh_filter_field *f = sh__find_field(j->schema, x->text);
        indexed = f && (f->flags & SH_FILTER_FIELD_INDEXED) && !(f->flags & SH_FILTER_FIELD_MULTI);
    }
    if (!indexed)
        return 0;
    const struct sh__opnd *a = is_collection(&key->l) ? &key->l : &key->r;
    const struct sh__opnd *b = a == &key->l ? &key->r : &key->l;
    struct sh__val kv, idv;
    int rc = sh__resolve_collection(c, a, true, &kv);
    if (rc)
        return rc;
    if ((rc = sh__resolve(c, b, &idv))) {
        sh__val_deinit(&kv);
        return rc;
    }
    int done = 0;
    if (!kv.multi && idv.nonempty) {
        char alias[32];
        snprintf(alias, sizeof(alias), "__c%u", j->n);
        sh__sql_puts(q, "(");
        sh__sql_append(q, &idv.val);
        sh__sql_puts(q, " IN (SELECT ");
        sh__sql_append(q, &kv.val);
        sh__sql_puts(q, " FROM ");
        sh__sql_putq(q, j->schema->table);
        sh__sql_puts(q, " AS ");
        sh__sql_putq(q, alias);
        sh__sql_puts(q, " WHERE 1");
        if (root->kind == SH_NODE_AND) {
            for (const struct sh__node *k = root->first; k && rc == 0; k = k->next) {
                if (k == key)
                    continue;
                sh__sql_puts(q, " AND ");
                rc = compile_node(c, q, k);
            }
        }
        sh__sql_puts(q, "))");
        done = 1;
    }
    sh__val_deinit(&kv);
    sh__val_deinit(&idv);
    return rc ? rc : done;
}

/* Compiles the whole filter: when `?op` comparisons read @collection
 * aliases, the expression is evaluated inside one EXISTS that LEFT JOINs
 * each alias once (one NULL row for an empty collection), so conditions on
 * the same alias see the same row, as in PocketBase; the common rule shape
 * of try_semi_root is a semi-join instead. */
static int compile_root(struct sh__compiler *c, struct sh_filter_sql *q,
                        const struct sh__node *root)
{
    struct sh__coll_join joins[SH_FILTER_MAX_COLLECTION_JOINS];
    c->joins = joins;
    c->njoins = 0;
    int rc = collect_joins(c, root, joins);
    if (rc || c->njoins == 0) {
        c->joins = NULL;
        return rc ? rc : compile_node(c, q, root);
    }
    const struct sh_filter_schema *s = c->schema;
    struct sh_filter_sql from = {0};
    for (unsigned i = 0; i < c->njoins && rc == 0; i++) {
        const struct sh_filter_schema *t =
            s->resolve ? s->resolve(s->resolve_ud, joins[i].coll) : NULL;
        if (s->access & SH_FILTER_ACCESS_CONFINED) {
            rc = sh__filter_fail(c->err, SIZE_MAX, "Only superusers can filter by @collection.");
        } else if (!t || !sh__ident_ok(t->table)) {
            rc = sh__filter_fail(c->err, SIZE_MAX,
                                 "Invalid %s: unknown collection \"@collection.%.64s\".", c->what,
                                 joins[i].coll);
        } else {
            joins[i].schema = t;
            joins[i].n = ++c->next_alias;
            char alias[32];
            snprintf(alias, sizeof(alias), "__c%u", joins[i].n);
            sh__sql_puts(&from, " LEFT JOIN ");
            sh__sql_putq(&from, t->table);
            sh__sql_puts(&from, " AS ");
            sh__sql_putq(&from, alias);
            sh__sql_puts(&from, " ON 1");
        }
    }
    c->in_join_scope = true;
    if (rc == 0 && c->njoins == 1)
        rc = try_semi_root(c, q, root, &joins[0]);
    if (rc == 0) {
        sh__sql_puts(q, "EXISTS (SELECT 1 FROM (SELECT 1)");
        sh__sql_append(q, &from);
        sh__sql_puts(q, " WHERE ");
        rc = compile_node(c, q, root);
        sh__sql_puts(q, ")");
    }
    c->in_join_scope = false;
    c->joins = NULL;
    c->njoins = 0;
    sh_filter_sql_deinit(&from);
    return rc == 1 ? 0 : rc;
}

int sh_filter_compile(const struct sh_filter *f, const struct sh_filter_schema *schema,
                      const struct sh_filter_ctx *ctx, struct sh_filter_sql *out,
                      struct sh_filter_error *err)
{
    return sh__filter_compile_nested(f, schema, ctx, out, err, NULL);
}

int sh__filter_compile_nested(const struct sh_filter *f, const struct sh_filter_schema *schema,
                              const struct sh_filter_ctx *ctx, struct sh_filter_sql *out,
                              struct sh_filter_error *err, bool *nested)
{
    static const struct sh_filter_ctx guest = {0};
    memset(out, 0, sizeof(*out));
    struct sh__compiler c = {.schema = schema,
                             .ctx = ctx ? ctx : &guest,
                             .err = err,
                             .what = "filter",
                             .reads = &out->reads,
                             .root = schema->table,
                             .nested = nested};
    int rc = compile_root(&c, out, f->root);
    if (rc)
        sh_filter_sql_deinit(out);
    return rc;
}

int sh__compile_at(struct sh__compiler *c, const struct sh_filter *f,
                   const struct sh_filter_schema *s, const char *alias, struct sh_filter_sql *out)
{
    struct sh_filter_schema at = *s;
    at.alias = alias;
    struct sh__compiler sub = {.schema = &at,
                               .ctx = c->ctx,
                               .err = c->err,
                               .what = c->what,
                               .next_alias = c->next_alias,
                               .reads = c->reads,
                               .root = c->root,
                               .nested = c->nested};
    if (c->nested)
        *c->nested = true;
    int rc = compile_root(&sub, out, f->root);
    c->next_alias = sub.next_alias;
    return rc;
}
