/*
 * The checks of a collection that need other collections: relation targets
 * must exist (given by id or name, stored as the id), the name must not be
 * taken by another collection (case-insensitively, nor equal another's id),
 * every rule must compile against the fields (so `unknown field` is reported
 * when the collection is saved, not when a request arrives), and an update
 * must respect what may not change. Both entry points live here:
 * sh_collection_parse for one collection and sh_collection_import for
 * PocketBase's export array, where collections may refer to one another in
 * any order and the whole array is accepted or refused.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"
#include "stagehand/schema.h"

/* What a collection being checked can see: itself, the rest of an import
 * batch, then the stored collections. */
struct scope {
    const struct sh_collection *self;
    struct sh_collection *const *batch;
    size_t nbatch;
    const struct sh_collection_resolver *outer;
};

static bool matches(const struct sh_collection *c, const char *key)
{
    return strcmp(c->id, key) == 0 || sh_schema_name_eq(c->name, key);
}

static const struct sh_collection *scope_find(void *ud, const char *key)
{
    const struct scope *s = ud;
    if (s->self && matches(s->self, key))
        return s->self;
    for (size_t i = 0; i < s->nbatch; i++)
        if (matches(s->batch[i], key))
            return s->batch[i];
    return s->outer && s->outer->find ? s->outer->find(s->outer->ud, key) : NULL;
}

static int check_relations(struct sh_collection *c, const struct scope *s,
                           struct sh_schema_error *err)
{
    for (size_t i = 0; i < c->nfields; i++) {
        struct sh_field *f = &c->fields[i];
        if (f->kind != SH_FIELD_RELATION)
            continue;
        const struct sh_collection *t = scope_find((void *)(uintptr_t)s, f->collection_id);
        if (!t)
            return sh__schema_fail(
                err, c->name, f->name, "fields", "validation_field_relation_missing_collection",
                "the relation collection \"%.100s\" doesn't exist.", f->collection_id);
        if (strcmp(t->id, f->collection_id) != 0) {
            free(f->collection_id);
            f->collection_id = sh_strdup(t->id);
        }
    }
    return 0;
}

/* Another stored collection already uses c's name (or has it as its id),
 * and is not itself renamed by the import batch. */
static int check_name(const struct sh_collection *c, const struct scope *s,
                      struct sh_schema_error *err)
{
    if (!s->outer || !s->outer->find)
        return 0;
    const struct sh_collection *o = s->outer->find(s->outer->ud, c->name);
    if (o && strcmp(o->id, c->id) != 0) {
        bool renamed = false;
        for (size_t i = 0; i < s->nbatch; i++)
            if (strcmp(s->batch[i]->id, o->id) == 0 && !matches(s->batch[i], c->name))
                renamed = true;
        if (!renamed)
            return sh__schema_fail(err, c->name, "", "name", "validation_collection_name_exists",
                                   "the name is already used by another collection.");
    }
    return 0;
}

static int check_rules(const struct sh_collection *c, const struct scope *s,
                       struct sh_schema_error *err)
{
    struct sh_collection_resolver r = {scope_find, (void *)(uintptr_t)s};
    struct sh_schema_view v;
    sh_schema_view_init(&v, c, &r, SH_SCHEMA_VIEW_HIDDEN);
    int rc = 0;
    for (size_t k = 0; k < SH_RULE_COUNT && !rc; k++) {
        if (!c->rule_filters[k])
            continue;
        struct sh_filter_sql q;
        struct sh_filter_error ferr;
        if (sh_filter_compile(c->rule_filters[k], &v.schema, NULL, &q, &ferr) == 0)
            sh_filter_sql_deinit(&q);
        else
            rc = sh__schema_fail(err, c->name, "", sh_rule_kind_name((enum sh_rule_kind)k),
                                 "validation_invalid_rule", "%s", ferr.message);
    }
    sh_schema_view_deinit(&v);
    return rc;
}

static int check_refs(struct sh_collection *c, const struct sh_collection *old,
                      const struct scope *s, struct sh_schema_error *err)
{
    int rc = check_relations(c, s, err);
    if (!rc && old)
        rc = sh__collection_check_update(old, c, err);
    if (!rc)
        rc = check_name(c, s, err);
    if (!rc && !old && s->outer && s->outer->find) {
        const struct sh_collection *o = s->outer->find(s->outer->ud, c->id);
        if (o && strcmp(o->id, c->id) == 0)
            rc = sh__schema_fail(err, c->name, "", "id", "validation_invalid_value",
                                 "a collection with this id already exists.");
    }
    if (!rc)
        rc = check_rules(c, s, err);
    return rc;
}

int sh_collection_parse(const cJSON *json, const struct sh_collection *old,
                        const struct sh_collection_resolver *resolver, struct sh_collection **out,
                        struct sh_schema_error *err)
{
    struct sh_collection *c;
    *out = NULL;
    int rc = sh__collection_parse_shape(json, old, &c, err);
    if (rc)
        return rc;
    struct scope s = {.self = c, .outer = resolver};
    if ((rc = check_refs(c, old, &s, err))) {
        sh_collection_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The stored collection an import element updates: by id, else by name. */
static const struct sh_collection *find_old(const cJSON *e, const struct sh_collection_resolver *r)
{
    if (!r || !r->find || !cJSON_IsObject(e))
        return NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
    if (cJSON_IsString(id) && id->valuestring[0]) {
        const struct sh_collection *o = r->find(r->ud, id->valuestring);
        return o && strcmp(o->id, id->valuestring) == 0 ? o : NULL;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    if (cJSON_IsString(name) && name->valuestring[0]) {
        const struct sh_collection *o = r->find(r->ud, name->valuestring);
        return o && sh_schema_name_eq(o->name, name->valuestring) ? o : NULL;
    }
    return NULL;
}

int sh_collection_import(const cJSON *array, const struct sh_collection_resolver *resolver,
                         struct sh_collection ***out, size_t *n, struct sh_schema_error *err)
{
    *out = NULL;
    *n = 0;
    if (err)
        memset(err, 0, sizeof(*err));
    if (!cJSON_IsArray(array))
        return sh__schema_fail(err, "", "", "collections", "validation_invalid_value",
                               "the import must be an array of collections.");
    int count = cJSON_GetArraySize(array);
    if (count > 10000)
        return sh__schema_fail(err, "", "", "collections", "validation_invalid_value",
                               "too many collections.");
    struct sh_collection **list = sh_calloc((size_t)count + 1, sizeof(*list));
    const struct sh_collection **olds = sh_calloc((size_t)count + 1, sizeof(*olds));
    size_t got = 0;
    int rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, array) {
        olds[got] = find_old(e, resolver);
        if ((rc = sh__collection_parse_shape(e, olds[got], &list[got], err)))
            goto fail;
        got++;
    }
    for (size_t i = 0; i < got; i++) {
        for (size_t k = 0; k < i; k++) {
            if (strcmp(list[i]->id, list[k]->id) == 0) {
                rc = sh__schema_fail(err, list[i]->name, "", "id", "validation_invalid_value",
                                     "the id \"%s\" appears twice in the import.", list[i]->id);
                goto fail;
            }
            if (sh_schema_name_eq(list[i]->name, list[k]->name)) {
                rc = sh__schema_fail(err, list[i]->name, "", "name",
                                     "validation_collection_name_exists",
                                     "the name appears twice in the import.");
                goto fail;
            }
        }
    }
    for (size_t i = 0; i < got; i++) {
        struct scope s = {.self = list[i], .batch = list, .nbatch = got, .outer = resolver};
        if ((rc = check_refs(list[i], olds[i], &s, err)))
            goto fail;
    }
    free(olds);
    *out = list;
    *n = got;
    return 0;
fail:
    free(olds);
    sh_collection_list_free(list, got);
    return rc;
}
