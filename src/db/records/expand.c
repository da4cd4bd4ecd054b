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

static int expand_level(struct sh_db *db, const struct sh_rec_access *acc,
                        const struct sh_collection *c, const struct level *recs,
                        const struct node *parent, size_t *left)
{
    for (const struct node *n = parent->kids; n; n = n->next) {
        const struct sh_field *f = sh_collection_field(c, n->name);
        if (!f || f->kind != SH_FIELD_RELATION)
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
