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
#include "db/records.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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
    cJSON_ArrayForEach(e, v)
    {
        if (cJSON_IsString(e) && e->valuestring[0])
            cJSON_AddItemToArray(set, cJSON_CreateString(e->valuestring));
    }
}

static const cJSON *find_by_id(const cJSON *arr, const char *id)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
            return e;
    }
    return NULL;
}

static cJSON *expand_obj(cJSON *rec)
{
    cJSON *x = cJSON_GetObjectItemCaseSensitive(rec, "expand");
    if (!x)
        x = cJSON_AddObjectToObject(rec, "expand");
    return x;
}

/* Attaches the fetched records to each record of the level. */
static void attach(cJSON *recs, const struct sh_field *f, const cJSON *found)
{
    bool multi = sh_field_is_multi(f);
    cJSON *rec;
    cJSON_ArrayForEach(rec, recs)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, f->name);
        if (!multi) {
            const cJSON *hit = cJSON_IsString(v) ? find_by_id(found, v->valuestring) : NULL;
            if (hit)
                cJSON_AddItemToObject(expand_obj(rec), f->name, cJSON_Duplicate(hit, 1));
            continue;
        }
        cJSON *list = NULL;
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            const cJSON *hit = cJSON_IsString(e) ? find_by_id(found, e->valuestring) : NULL;
            if (!hit)
                continue;
            if (!list)
                list = cJSON_CreateArray();
            cJSON_AddItemToArray(list, cJSON_Duplicate(hit, 1));
        }
        if (list)
            cJSON_AddItemToObject(expand_obj(rec), f->name, list);
    }
}

static int expand_level(struct sh_db *db, const struct sh_rec_access *acc,
                        const struct sh_collection *c, cJSON *recs, const struct node *parent)
{
    for (const struct node *n = parent->kids; n; n = n->next) {
        const struct sh_field *f = sh_collection_field(c, n->name);
        if (!f || f->kind != SH_FIELD_RELATION)
            continue; /* PocketBase ignores what it cannot expand */
        if (f->hidden && !(acc->flags & SH_REC_SUPERUSER))
            continue;
        const struct sh_collection *t =
            acc->resolver && acc->resolver->find ? acc->resolver->find(acc->resolver->ud,
                                                                      f->collection_id)
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
        const cJSON *rec;
        cJSON_ArrayForEach(rec, recs)
        {
            add_ids(ids, cJSON_GetObjectItemCaseSensitive(rec, f->name));
        }
        int rc = 0;
        cJSON *found = NULL;
        if (cJSON_GetArraySize(ids) > 0) {
            char *text = cJSON_PrintUnformatted(ids);
            SH_ASSERT(text);
            rc = sh__rec_fetch_ids(db, acc, t, rule, text, &found);
            cJSON_free(text);
        }
        cJSON_Delete(ids);
        if (rc == 0 && found && n->kids)
            rc = expand_level(db, acc, t, found, n);
        if (rc == 0 && found)
            attach(recs, f, found);
        cJSON_Delete(found);
        if (rc)
            return rc;
    }
    return 0;
}

int sh_rec_expand(struct sh_db *db, const struct sh_rec_access *acc,
                  const struct sh_collection *c, cJSON *records, const char *expand)
{
    if (!expand || !*expand || !records)
        return 0;
    struct node root = {0};
    parse_paths(&root, expand);
    int rc = 0;
    if (cJSON_IsArray(records)) {
        rc = expand_level(db, acc, c, records, &root);
    } else {
        /* One record: expand it as a one-element list it is moved into and
         * back out of, so that no copy is made. */
        cJSON *one = cJSON_CreateArray();
        cJSON_AddItemReferenceToArray(one, records);
        rc = expand_level(db, acc, c, one, &root);
        cJSON_Delete(one);
    }
    node_free(root.kids);
    return rc;
}
