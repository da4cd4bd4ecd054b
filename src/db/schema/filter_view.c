/*
 * The filter compiler's view of collections (filter.h's struct
 * sh_filter_schema): field kinds come straight from the collection (the two
 * enums are one), flags mark multi-valued columns and fields a caller may not
 * filter on. Relation targets are looked up through the caller's resolver
 * while the compiler walks a path, and their schemas are built once per view
 * and kept until the view is released, which is what the compiler's borrowed
 * pointers need. Collections themselves are never modified, so they can be
 * shared read-only between threads while each thread has its own views.
 *
 * A set of views (sh_schema_views) keeps one view per (collection, flags)
 * of a snapshot for the snapshot's life: a chained hash on the collection
 * pointer, sized for the snapshot, never rehashed (a snapshot's collection
 * count is fixed; three flag variants at most per collection).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stagehand/core.h"
#include "stagehand/schema.h"

struct sh__view_node {
    struct sh__view_node *next;
    const struct sh_collection *coll;
    struct sh_filter_schema schema;
    struct sh_filter_field *fields;
};

enum sh_field_access sh_field_access(const struct sh_collection *c, const struct sh_field *f,
                                     bool superuser)
{
    if (f->kind == SH_FIELD_PASSWORD)
        return SH_FIELD_ACCESS_NONE;
    if (superuser)
        return SH_FIELD_ACCESS_ALL;
    if (f->hidden)
        return SH_FIELD_ACCESS_NONE;
    if (c->type == SH_COLLECTION_AUTH && f->system) {
        if (strcmp(f->name, "tokenKey") == 0)
            return SH_FIELD_ACCESS_NONE;
        if (f->kind == SH_FIELD_EMAIL && strcmp(f->name, "email") == 0)
            return SH_FIELD_ACCESS_OWNER_OR_VISIBLE;
    }
    return SH_FIELD_ACCESS_ALL;
}

bool sh_collection_reach(const struct sh_collection *c, bool superuser,
                         const struct sh_filter **rule)
{
    *rule = NULL;
    if (superuser)
        return true;
    if (!c->rules[SH_RULE_LIST])
        return false;
    const struct sh_filter *f = c->rule_filters[SH_RULE_LIST];
    if (f && !sh_filter_is_empty(f))
        *rule = f;
    return true;
}

bool sh_field_indexed(const struct sh_collection *c, const char *name)
{
    if (strcmp(name, "id") == 0)
        return true;
    for (size_t i = 0; i < c->nindexes; i++) {
        const struct sh_index *ix = &c->indexes[i];
        if (ix->ncols > 0 && !ix->cols[0].nocase && !ix->where_not_empty &&
            sh_schema_name_eq(ix->cols[0].name, name))
            return true;
    }
    return false;
}

static struct sh_filter_field *build_fields(const struct sh_collection *c, unsigned flags)
{
    struct sh_filter_field *out = sh_calloc(c->nfields + 1, sizeof(*out));
    for (size_t i = 0; i < c->nfields; i++) {
        const struct sh_field *f = &c->fields[i];
        unsigned ff = 0;
        if (sh_field_is_multi(f))
            ff |= SH_FILTER_FIELD_MULTI;
        if (f->hidden)
            ff |= SH_FILTER_FIELD_HIDDEN;
        if (sh_field_indexed(c, f->name))
            ff |= SH_FILTER_FIELD_INDEXED;
        if (f->encrypted || (f->hidden && !(flags & SH_SCHEMA_VIEW_HIDDEN)))
            ff |= SH_FILTER_FIELD_NOFILTER;
        if (flags & SH_SCHEMA_VIEW_CLIENT) {
            enum sh_field_access a = sh_field_access(c, f, false);
            if (a == SH_FIELD_ACCESS_NONE)
                ff |= SH_FILTER_FIELD_NOFILTER;
            else if (a == SH_FIELD_ACCESS_OWNER_OR_VISIBLE)
                ff |= SH_FILTER_FIELD_EMAIL_GUARD;
        }
        out[i].name = f->name;
        /* The compiler knows editor text as text and a geoPoint as json
         * (`geo.lon`, `geo.lat` read json_extract). */
        out[i].kind = f->kind == SH_FIELD_EDITOR     ? SH_FIELD_TEXT
                      : f->kind == SH_FIELD_GEOPOINT ? SH_FIELD_JSON
                      : f->kind == SH_FIELD_FILE     ? SH_FIELD_SELECT
                                                     : f->kind;
        out[i].flags = ff;
        out[i].rel_collection = f->kind == SH_FIELD_RELATION ? f->collection_id : NULL;
    }
    return out;
}

static const struct sh_filter_schema *view_resolve(void *ud, const char *collection);

static void fill_schema(struct sh_filter_schema *s, const struct sh_collection *c,
                        const struct sh_filter_field *fields, struct sh_schema_view *v)
{
    s->table = c->name;
    s->alias = NULL;
    s->fields = fields;
    s->nfields = c->nfields;
    s->resolve = view_resolve;
    s->resolve_ud = v;
    if (!(v->flags & SH_SCHEMA_VIEW_CLIENT))
        return;
    /* Confined: how a hop into c is checked and which of its rows it reaches. */
    const struct sh_filter *rule;
    s->access = SH_FILTER_ACCESS_CONFINED;
    s->id = c->id;
    if (!sh_collection_reach(c, false, &rule))
        s->access |= SH_FILTER_ACCESS_NOLIST;
    s->row_rule = rule;
    if (rule) {
        if (!v->rules) {
            v->rules = sh_calloc(1, sizeof(*v->rules));
            sh_schema_view_init(v->rules, v->root, v->resolver, SH_SCHEMA_VIEW_HIDDEN);
        }
        s->row_rule_schema = c == v->root ? &v->rules->schema : view_resolve(v->rules, c->id);
    }
}

static const struct sh_filter_schema *view_resolve(void *ud, const char *collection)
{
    struct sh_schema_view *v = ud;
    const struct sh_collection *c = NULL;
    if (strcmp(collection, v->root->id) == 0 || sh_schema_name_eq(collection, v->root->name))
        return &v->schema;
    if (v->resolver && v->resolver->find)
        c = v->resolver->find(v->resolver->ud, collection);
    if (!c)
        return NULL;
    if (c == v->root)
        return &v->schema;
    for (struct sh__view_node *n = v->nodes; n; n = n->next)
        if (n->coll == c)
            return &n->schema;
    struct sh__view_node *n = sh_calloc(1, sizeof(*n));
    n->coll = c;
    n->fields = build_fields(c, v->flags);
    fill_schema(&n->schema, c, n->fields, v);
    n->next = v->nodes;
    v->nodes = n;
    return &n->schema;
}

void sh_schema_view_init(struct sh_schema_view *v, const struct sh_collection *c,
                         const struct sh_collection_resolver *resolver, unsigned flags)
{
    memset(v, 0, sizeof(*v));
    v->root = c;
    v->resolver = resolver;
    v->flags = flags;
    v->fields = build_fields(c, flags);
    fill_schema(&v->schema, c, v->fields, v);
}

void sh_schema_view_deinit(struct sh_schema_view *v)
{
    struct sh__view_node *n = v->nodes;
    while (n) {
        struct sh__view_node *next = n->next;
        free(n->fields);
        free(n);
        n = next;
    }
    free(v->fields);
    if (v->rules) {
        sh_schema_view_deinit(v->rules);
        free(v->rules);
    }
    memset(v, 0, sizeof(*v));
}

/* ---- a set of views per snapshot ---- */

struct views_entry {
    struct views_entry *next;
    const struct sh_collection *coll;
    unsigned flags;
    struct sh_schema_view view;
};

struct sh_schema_views {
    const struct sh_collection_resolver *resolver;
    unsigned max_multi_hops;
    size_t nbuckets, built;
    struct views_entry *buckets[];
};

#define VIEWS_BUCKETS 64

struct sh_schema_views *sh_schema_views_new(const struct sh_collection_resolver *resolver,
                                            unsigned max_multi_hops)
{
    struct sh_schema_views *vs =
        sh_calloc(1, sizeof(*vs) + VIEWS_BUCKETS * sizeof(struct views_entry *));
    vs->resolver = resolver;
    vs->max_multi_hops = max_multi_hops;
    vs->nbuckets = VIEWS_BUCKETS;
    return vs;
}

void sh_schema_views_free(struct sh_schema_views *vs)
{
    if (!vs)
        return;
    for (size_t i = 0; i < vs->nbuckets; i++) {
        struct views_entry *e = vs->buckets[i];
        while (e) {
            struct views_entry *next = e->next;
            sh_schema_view_deinit(&e->view);
            free(e);
            e = next;
        }
    }
    free(vs);
}

const struct sh_filter_schema *sh_schema_views_get(struct sh_schema_views *vs,
                                                   const struct sh_collection *c, unsigned flags)
{
    size_t b = (((uintptr_t)c >> 4) ^ flags) % vs->nbuckets;
    for (struct views_entry *e = vs->buckets[b]; e; e = e->next)
        if (e->coll == c && e->flags == flags)
            return &e->view.schema;
    struct views_entry *e = sh_calloc(1, sizeof(*e));
    e->coll = c;
    e->flags = flags;
    sh_schema_view_init(&e->view, c, vs->resolver, flags);
    if (flags & SH_SCHEMA_VIEW_CLIENT)
        e->view.schema.max_multi_hops = vs->max_multi_hops;
    e->next = vs->buckets[b];
    vs->buckets[b] = e;
    vs->built++;
    return &e->view.schema;
}

size_t sh_schema_views_built(const struct sh_schema_views *vs)
{
    return vs ? vs->built : 0;
}
