/*
 * A rename reaches the rules of the other collections (PocketBase rewrites
 * them too): when an update renames fields of a collection (matched by id)
 * or the collection itself, sh_collection_follow_rename gives another
 * collection with every rule that named the old names rewritten by the
 * filter's AST-based sh_filter_rename (relation paths `post.title`,
 * back-relations `posts_via_author`, `@collection.posts.title`), and
 * re-parsed, so its rules are checked against the updated collection. The
 * collection's own rules and indexes are rewritten by rename.c.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"
#include "stagehand/filter.h"
#include "stagehand/schema.h"

/* The stored collections with the update applied: next replaces old, and
 * old's former name finds nothing. */
struct after {
    const struct sh_collection *old, *next;
    const struct sh_collection_resolver *outer;
};

static const struct sh_collection *after_find(void *ud, const char *key)
{
    const struct after *a = ud;
    if (strcmp(a->next->id, key) == 0 || sh_schema_name_eq(a->next->name, key))
        return a->next;
    if (sh_schema_name_eq(a->old->name, key))
        return NULL;
    const struct sh_collection *c = a->outer->find(a->outer->ud, key);
    return c && strcmp(c->id, a->old->id) == 0 ? a->next : c;
}

int sh_collection_follow_rename(const struct sh_collection *y, const struct sh_collection *old,
                                const struct sh_collection *next,
                                const struct sh_collection_resolver *r, struct sh_collection **out,
                                struct sh_schema_error *err)
{
    *out = NULL;
    if (!old || !next || !r || !r->find || strcmp(y->id, old->id) == 0)
        return 0;
    const char **from = sh_calloc(next->nfields + 1, sizeof(*from));
    const char **to = sh_calloc(next->nfields + 1, sizeof(*to));
    size_t n = 0;
    for (size_t i = 0; i < next->nfields; i++) {
        const struct sh_field *of = sh_collection_field_by_id(old, next->fields[i].id);
        if (of && strcmp(of->name, next->fields[i].name) != 0) {
            from[n] = of->name;
            to[n++] = next->fields[i].name;
        }
    }
    struct sh_filter_rename rn = {.table = old->name,
                                  .from = from,
                                  .to = to,
                                  .nfields = n,
                                  .new_table = strcmp(old->name, next->name) ? next->name : NULL};
    char *rewritten[SH_RULE_COUNT] = {0};
    bool any = false;
    if (n || rn.new_table) {
        struct sh_schema_view v;
        sh_schema_view_init(&v, y, r, SH_SCHEMA_VIEW_HIDDEN);
        for (size_t k = 0; k < SH_RULE_COUNT; k++)
            if (y->rules[k] && sh_filter_rename(y->rules[k], &v.schema, &rn, &rewritten[k]) == 0)
                any |= rewritten[k] != NULL;
        sh_schema_view_deinit(&v);
    }
    int rc = 0;
    if (any) {
        cJSON *json = sh_collection_to_json(y);
        for (size_t k = 0; k < SH_RULE_COUNT; k++)
            if (rewritten[k])
                cJSON_ReplaceItemInObjectCaseSensitive(json,
                                                       sh_rule_kind_name((enum sh_rule_kind)k),
                                                       cJSON_CreateString(rewritten[k]));
        struct after a = {old, next, r};
        struct sh_collection_resolver ar = {after_find, &a};
        rc = sh_collection_parse(json, y, &ar, out, err);
        cJSON_Delete(json);
    }
    for (size_t k = 0; k < SH_RULE_COUNT; k++)
        free(rewritten[k]);
    free(from);
    free(to);
    return rc;
}
