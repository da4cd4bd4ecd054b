/*
 * Rule text that follows a rename (sh_filter_rename, filter.h). The text is
 * parsed into the AST; every field operand and @collection operand is walked
 * segment by segment against the schemas as they were before the change,
 * exactly as the compiler resolves it: a segment that resolves to the
 * renamed field of the renamed collection, the collection part of a
 * back-relation `<collection>_via_<field>` naming the renamed collection or
 * its field part naming the renamed field, and the collection name of
 * `@collection.<name>` are edited at their byte offsets in the original
 * text. Everything else (strings, comments, spacing, @request.*, a JSON path
 * into a json field, names of other collections) is copied as written, so
 * a rule that names nothing renamed comes back unchanged.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter_int.h"
#include "stagehand/core.h"

struct edit {
    size_t off, len;
    const char *to;
};

struct rewrite {
    const struct sh_filter_rename *rn;
    struct edit *edits;
    size_t n, cap;
};

static void add_edit(struct rewrite *w, size_t off, size_t len, const char *to)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 8;
        w->edits = sh__filter_xrealloc(w->edits, w->cap * sizeof(*w->edits));
    }
    w->edits[w->n++] = (struct edit){off, len, to};
}

/* The new name of field name of the renamed collection, or NULL. */
static const char *new_field(const struct rewrite *w, const char *name)
{
    for (size_t i = 0; i < w->rn->nfields; i++)
        if (strcmp(name, w->rn->from[i]) == 0)
            return w->rn->to[i];
    return NULL;
}

static bool is_renamed(const struct rewrite *w, const struct sh_filter_schema *s)
{
    return s && s->table && strcasecmp(s->table, w->rn->table) == 0;
}

/* Walks path (at byte offset off of the text) from schema cur. */
static void walk(struct rewrite *w, const struct sh_filter_schema *cur, const char *path,
                 size_t off)
{
    char seg[SH_FILTER_MAX_LEN + 1];
    const char *p = path;
    while (cur && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof(seg))
            return;
        memcpy(seg, p, n);
        seg[n] = '\0';
        size_t at = off + (size_t)(p - path);
        const struct sh_filter_field *f = sh__find_field(cur, seg);
        const struct sh_filter_schema *src;
        const struct sh_filter_field *rf;
        if (f) {
            const char *to = is_renamed(w, cur) ? new_field(w, seg) : NULL;
            if (to)
                add_edit(w, at, n, to);
            if (f->kind != SH_FIELD_RELATION || !f->rel_collection || !cur->resolve)
                return; /* the last field, or a JSON path into it */
            cur = cur->resolve(cur->resolve_ud, f->rel_collection);
        } else if (sh__find_via(cur, seg, &src, &rf)) {
            size_t cn = 0;
            for (const char *v = strstr(seg, "_via_"); v; v = strstr(v + 1, "_via_"))
                cn = (size_t)(v - seg);
            if (w->rn->new_table && is_renamed(w, src))
                add_edit(w, at, cn, w->rn->new_table);
            const char *to = is_renamed(w, src) ? new_field(w, rf->name) : NULL;
            if (to)
                add_edit(w, at + cn + 5, n - cn - 5, to);
            cur = src;
        } else {
            return; /* unknown: left as written (the rule check reports it) */
        }
        p += n;
        if (*p == '.')
            p++;
    }
}

static void visit_opnd(struct rewrite *w, const struct sh_filter_schema *s, const char *text,
                       const struct sh__opnd *o)
{
    if (o->kind == SH_OPND_FUNC) {
        for (unsigned i = 0; i < o->nargs; i++)
            visit_opnd(w, s, text, &o->args[i]);
    } else if (o->kind == SH_OPND_FIELD) {
        walk(w, s, o->text, o->off);
    } else if (o->kind == SH_OPND_MACRO && o->macro == SH_MACRO_COLLECTION && s->resolve) {
        static const char prefix[] = "@collection.";
        size_t name_at = o->off + sizeof(prefix) - 1;
        size_t cn = strlen(o->coll);
        const struct sh_filter_schema *c = s->resolve(s->resolve_ud, o->coll);
        if (w->rn->new_table && is_renamed(w, c))
            add_edit(w, name_at, cn, w->rn->new_table);
        size_t path_at = name_at + cn + (o->calias != o->coll ? strlen(o->calias) + 1 : 0) + 1;
        if (strncmp(text + path_at, o->text, strlen(o->text)) == 0)
            walk(w, c, o->text, path_at);
    }
}

static void visit(struct rewrite *w, const struct sh_filter_schema *s, const char *text,
                  const struct sh__node *n)
{
    for (; n; n = n->next) {
        if (n->kind == SH_NODE_CMP) {
            visit_opnd(w, s, text, &n->l);
            visit_opnd(w, s, text, &n->r);
        } else if (n->kind == SH_NODE_AND || n->kind == SH_NODE_OR) {
            visit(w, s, text, n->first);
        }
    }
}

static int by_offset(const void *a, const void *b)
{
    const struct edit *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int sh_filter_rename(const char *text, const struct sh_filter_schema *s,
                     const struct sh_filter_rename *rn, char **out)
{
    *out = NULL;
    struct sh_filter *f;
    struct sh_filter_error err;
    size_t len = strlen(text);
    if (sh_filter_parse(text, len, &f, &err) != 0)
        return SH_EINVAL;
    struct rewrite rw = {.rn = rn}, *w = &rw;
    visit(w, s, text, f->root);
    sh_filter_free(f);
    if (w->n) {
        qsort(w->edits, w->n, sizeof(w->edits[0]), by_offset);
        size_t cap = len + 1;
        for (size_t i = 0; i < w->n; i++)
            cap += strlen(w->edits[i].to);
        char *o = sh__filter_xmalloc(cap);
        size_t at = 0, k = 0;
        for (size_t i = 0; i < w->n; i++) {
            const struct edit *e = &w->edits[i];
            if (e->off < at || e->off + e->len > len)
                continue; /* overlapping or out of range: cannot happen for parsed paths */
            memcpy(o + k, text + at, e->off - at);
            k += e->off - at;
            size_t tl = strlen(e->to);
            memcpy(o + k, e->to, tl);
            k += tl;
            at = e->off + e->len;
        }
        memcpy(o + k, text + at, len - at);
        k += len - at;
        o[k] = '\0';
        if (k > SH_FILTER_MAX_LEN) { /* longer names pushed it past what parses */
            free(o);
            free(w->edits);
            return SH_ETOOBIG;
        }
        if (strcmp(o, text) == 0)
            free(o);
        else
            *out = o;
    }
    free(w->edits);
    return 0;
}
