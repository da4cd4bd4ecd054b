/*
 * Relation expansion (`expand=author,author.org,tags`): the dotted paths are
 * merged into a tree, and each level is read with one query per relation
 * field for all the records of that level together (ids gathered, fetched
 * with `id IN json_each(?)`), so a page of 1,000 posts costs one query per
 * expanded field, not one per post. Related records are read under their
 * collection's viewRule, as PocketBase does: a guest never sees through a
 * relation what the related collection would not show. Deeper levels are
 * expanded on the fetched records before they are copied into each record's
 * `expand` object.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/records.h"
#include "stagehand/schema.h"

struct node {
    char *name;
    struct node *kids, *next;
};

static void node_free(struct node *n)
{
    while (n) {
        struct node *next = n->next;
        node_free(n->kids);
        free(n->name);
        free(n);
        n = next;
    }
}

static struct node *node_child(struct node *parent, const char *name, size_t len)
{
    for (struct node *k = parent->kids; k; k = k->next)
        if (strlen(k->name) == len && memcmp(k->name, name, len) == 0)
            return k;
    struct node *k = sh_calloc(1, sizeof(*k));
    k->name = sh_calloc(1, len + 1);
    memcpy(k->name, name, len);
    k->next = parent->kids;
    parent->kids = k;
    return k;
}

/* "a.b, c" -> a{b}, c. Paths deeper than the limit are cut at the limit. */
static void parse_paths(struct node *root, const char *s)
{
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        struct node *at = root;
        int depth = 0;
        while (*s && *s != ',') {
            const char *seg = s;
            while (*s && *s != '.' && *s != ',')
                s++;
            const char *end = s;
            while (seg < end && seg[0] == ' ')
                seg++;
            while (end > seg && end[-1] == ' ')
                end--;
            if (end > seg && depth < SH_REC_MAX_EXPAND_DEPTH)
                at = node_child(at, seg, (size_t)(end - seg));
            depth++;
            if (*s == '.')
                s++;
        }
    }
}

/* The ids a record's relation value holds (a string or an array). */
static void add_ids(cJSON *set, const cJSON *v)
{
    const cJSON *e;
    if (cJSON_IsString(v) && v->valuestring[0]) {
        cJSON_AddItemToArray(set, cJSON_CreateString(v->valuestring));
        return;
    }
    cJSON_ArrayForEach(e, v) {
        if (cJSON_IsString(e) && e->valuestring[0])
            cJSON_AddItemToArray(set, cJSON_CreateString(e->valuestring));
    }
}

/* The fetched records sorted by id, for lookups by binary search; weight
 * is how many records one copy of rec holds (itself and its expansions). */
struct by_id {
    const char *id;
    const cJSON *rec;
    size_t weight;
};

/* Records held by rec's expand (recursively), rec itself not counted. */
static size_t expanded_count(const cJSON *rec)
{
    size_t n = 0;
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(rec, "expand"), *v;
    cJSON_ArrayForEach(v, x) {
        if (cJSON_IsObject(v)) {
            n += 1 + expanded_count(v);
        } else {
            const cJSON *e;
            cJSON_ArrayForEach(e, v) {
                n += 1 + expanded_count(e);
            }
        }
    }
    return n;
}

static int by_id_cmp(const void *a, const void *b)
{
    return strcmp(((const struct by_id *)a)->id, ((const struct by_id *)b)->id);
}

static struct by_id *index_found(const cJSON *found, size_t *n)
{
    struct by_id *ix = sh_calloc((size_t)cJSON_GetArraySize(found) + 1, sizeof(*ix));
    *n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, found) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsString(v))
            ix[(*n)++] = (struct by_id){v->valuestring, e, 1 + expanded_count(e)};
    }
    qsort(ix, *n, sizeof(*ix), by_id_cmp);
    return ix;
}

static const struct by_id *find_by_id(const struct by_id *ix, size_t n, const char *id)
{
    struct by_id key = {id, NULL, 0};
    return bsearch(&key, ix, n, sizeof(*ix), by_id_cmp);
}

/* Takes w records from the response's allowance; false when it is spent. */
static bool spend(size_t *left, size_t w)
{
    if (*left < w)
        return false;
    *left -= w;
    return true;
}

static cJSON *expand_obj(cJSON *rec)
{
    cJSON *x = cJSON_GetObjectItemCaseSensitive(rec, "expand");
    if (!x)
        x = cJSON_AddObjectToObject(rec, "expand");
    return x;
}

/* The records of one level: borrowed pointers. */
struct level {
    cJSON **v;
    size_t n;
};

static struct level level_of(cJSON *arr)
{
    struct level l = {sh_calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(cJSON *)), 0};
    cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        l.v[l.n++] = e;
    }
    return l;
}

/* Attaches the fetched records to each record of the level, each copy
 * spending its weight from *left first: SH_ETOOBIG (nothing more copied)
 * once the response's allowance of records is spent. */
static int attach(const struct level *recs, const struct sh_field *f, const cJSON *found,
                  size_t *left)
{
    bool multi = sh_field_is_multi(f);
    size_t nix;
    struct by_id *ix = index_found(found, &nix);
    int rc = 0;
    for (size_t i = 0; i < recs->n && rc == 0; i++) {
        cJSON *rec = recs->v[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, f->name);
        if (!multi) {
            const struct by_id *hit =
                cJSON_IsString(v) ? find_by_id(ix, nix, v->valuestring) : NULL;
            if (hit && !spend(left, hit->weight))
                rc = SH_ETOOBIG;
            else if (hit)
                cJSON_AddItemToObject(expand_obj(rec), f->name, cJSON_Duplicate(hit->rec, 1));
            continue;
        }
        cJSON *list = NULL;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            const struct by_id *hit =
                cJSON_IsString(e) ? find_by_id(ix, nix, e->valuestring) : NULL;
            if (!hit)
                continue;
            if (!spend(left, hit->weight)) {
                rc = SH_ETOOBIG;
                break;
            }
            if (!list)
                list = cJSON_CreateArray();
            cJSON_AddItemToArray(list, cJSON_Duplicate(hit->rec, 1));
        }
        if (list)
            cJSON_AddItemToObject(expand_obj(rec), f->name, list);
    }
    free(ix);
    return rc;
}

/* ---- back-relations: `<collection>_via_<field>` ---- */

/* The collection and relation field a back-relation name stands for, when
 * the field is a relation to c; false otherwise (the name is ignored). */
static bool find_via(const struct sh_rec_access *acc, const struct sh_collection *c,
                     const char *name, const struct sh_collection **src, const struct sh_field **rf)
{
    const char *at = NULL;
    for (const char *p = strstr(name, "_via_"); p; p = strstr(p + 1, "_via_"))
        at = p;
    if (!at || at == name || !at[5] || !acc->resolver || !acc->resolver->find)
        return false;
    char coll[SH_SCHEMA_NAME_MAX + 1];
    size_t n = (size_t)(at - name);
    if (n >= sizeof(coll))
        return false;
    memcpy(coll, name, n);
    coll[n] = '\0';
    const struct sh_collection *s = acc->resolver->find(acc->resolver->ud, coll);
    const struct sh_field *f = s ? sh_collection_field(s, at + 5) : NULL;
    if (!f || f->kind != SH_FIELD_RELATION || !f->collection_id)
        return false;
    const struct sh_collection *t = acc->resolver->find(acc->resolver->ud, f->collection_id);
    if (t != c)
        return false;
    *src = s;
    *rf = f;
    return true;
}

/* Attaches back-relation rows to the records they point at: each record's
 * `expand.<name>` is the array of found rows whose relation holds its id
 * (in the order found), spending the allowance as attach does. */
static int attach_via(const struct level *recs, const char *name, const struct sh_field *rf,
                      const cJSON *found, size_t *left)
{
    struct by_id *parents = sh_calloc(recs->n + 1, sizeof(*parents));
    cJSON **lists = sh_calloc(recs->n + 1, sizeof(*lists));
    size_t np = 0;
    for (size_t i = 0; i < recs->n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(recs->v[i], "id");
        if (cJSON_IsString(v))
            parents[np++] = (struct by_id){v->valuestring, recs->v[i], i};
    }
    qsort(parents, np, sizeof(*parents), by_id_cmp);
    int rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, found) {
        if (rc)
            break;
        cJSON *ids = cJSON_CreateArray();
        add_ids(ids, cJSON_GetObjectItemCaseSensitive(e, rf->name));
        size_t weight = 1 + expanded_count(e);
        const cJSON *id;
        cJSON_ArrayForEach(id, ids) {
            const struct by_id *p = find_by_id(parents, np, id->valuestring);
            if (!p)
                continue;
            if (!spend(left, weight)) {
                rc = SH_ETOOBIG;
                break;
            }
            size_t k = p->weight; /* the record's index in recs */
            if (!lists[k])
                lists[k] = cJSON_CreateArray();
            cJSON_AddItemToArray(lists[k], cJSON_Duplicate(e, 1));
        }
        cJSON_Delete(ids);
    }
    for (size_t i = 0; i < recs->n; i++) {
        if (lists[i] && rc == 0)
            cJSON_AddItemToObject(expand_obj(recs->v[i]), name, lists[i]);
        else
            cJSON_Delete(lists[i]);
    }
    free(lists);
    free(parents);
    return rc;
}

static int expand_level(struct sh_db *db, const struct sh_rec_access *acc,
                        const struct sh_collection *c, const struct level *recs,
                        const struct node *parent, size_t *left);

/* Expands back-relation n of the level's records (of collection c): rows of
 * src whose relation field rf points at them, read under src's viewRule. A
 * client may only expand through a single, indexed relation field (an
 * index lookup); otherwise SH_EFORBIDDEN (the records API answers 400). */
static int expand_via(struct sh_db *db, const struct sh_rec_access *acc,
                      const struct sh_collection *c, const struct level *recs, const struct node *n,
                      size_t *left)
{
    const struct sh_collection *src;
    const struct sh_field *rf;
    if (!find_via(acc, c, n->name, &src, &rf))
        return 0; /* PocketBase ignores what it cannot expand */
    bool su = acc->flags & SH_REC_SUPERUSER;
    const struct sh_filter *rule = NULL;
    if (!su) {
        if (rf->hidden || !src->rules[SH_RULE_VIEW])
            return 0; /* the viewer may not see these rows or this link */
        if (sh_field_is_multi(rf) || !sh_field_indexed(src, rf->name))
            return SH_EFORBIDDEN;
        rule = src->rule_filters[SH_RULE_VIEW];
    }
    cJSON *ids = cJSON_CreateArray();
    for (size_t i = 0; i < recs->n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(recs->v[i], "id");
        if (cJSON_IsString(v))
            cJSON_AddItemToArray(ids, cJSON_CreateString(v->valuestring));
    }
    int rc = 0;
    cJSON *found = NULL;
    if (cJSON_GetArraySize(ids) > 0) {
        char *text = cJSON_PrintUnformatted(ids);
        SH_ASSERT(text);
        /* One row more than the allowance: reading it means SH_ETOOBIG. */
        size_t limit = *left == SIZE_MAX ? 0 : *left + 1;
        rc = sh__rec_fetch_via(db, acc, src, rule, rf->name, sh_field_is_multi(rf), text, limit,
                               &found);
        cJSON_free(text);
    }
    cJSON_Delete(ids);
    if (rc == 0 && found && n->kids) {
        struct level next = level_of(found);
        rc = expand_level(db, acc, src, &next, n, left);
        free(next.v);
    }
    if (rc == 0 && found)
        rc = attach_via(recs, n->name, rf, found, left);
    cJSON_Delete(found);
    return rc;
}

static int expand_level(struct sh_db *db, const struct sh_rec_access *acc,
                        const struct sh_collection *c, const struct level *recs,
                        const struct node *parent, size_t *left)
{
    for (const struct node *n = parent->kids; n; n = n->next) {
        const struct sh_field *f = sh_collection_field(c, n->name);
        if (!f) {
            int rc = expand_via(db, acc, c, recs, n, left);
            if (rc)
                return rc;
            continue;
        }
        if (f->kind != SH_FIELD_RELATION)
            continue; /* PocketBase ignores what it cannot expand */
        if (f->hidden && !(acc->flags & SH_REC_SUPERUSER))
            continue;
        const struct sh_collection *t =
            acc->resolver && acc->resolver->find
                ? acc->resolver->find(acc->resolver->ud, f->collection_id)
                : NULL;
        if (!t)
            continue;
        const struct sh_filter *rule = NULL;
        if (!(acc->flags & SH_REC_SUPERUSER)) {
            if (!t->rules[SH_RULE_VIEW])
                continue; /* superusers only */
            rule = t->rule_filters[SH_RULE_VIEW];
        }
        cJSON *ids = cJSON_CreateArray();
        for (size_t i = 0; i < recs->n; i++)
            add_ids(ids, cJSON_GetObjectItemCaseSensitive(recs->v[i], f->name));
        int rc = 0;
        cJSON *found = NULL;
        if (cJSON_GetArraySize(ids) > 0) {
            char *text = cJSON_PrintUnformatted(ids);
            SH_ASSERT(text);
            rc = sh__rec_fetch_ids(db, acc, t, rule, text, &found);
            cJSON_free(text);
        }
        cJSON_Delete(ids);
        if (rc == 0 && found && n->kids) {
            struct level next = level_of(found);
            rc = expand_level(db, acc, t, &next, n, left);
            free(next.v);
        }
        if (rc == 0 && found)
            rc = attach(recs, f, found, left);
        cJSON_Delete(found);
        if (rc)
            return rc;
    }
    return 0;
}

int sh_rec_expand(struct sh_db *db, const struct sh_rec_access *acc, const struct sh_collection *c,
                  cJSON *records, const char *expand)
{
    if (!expand || !*expand || !records)
        return 0;
    struct node root = {0};
    parse_paths(&root, expand);
    struct level l;
    cJSON *one[1] = {records};
    if (cJSON_IsArray(records))
        l = level_of(records);
    else
        l = (struct level){one, 1};
    unsigned cap = sh_rec_access_limits(acc)->expand_max_records;
    size_t left = cap ? cap : SIZE_MAX;
    int rc = expand_level(db, acc, c, &l, &root, &left);
    if (l.v != one)
        free(l.v);
    node_free(root.kids);
    return rc;
}
