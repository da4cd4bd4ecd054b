/*
 * A collection written back in PocketBase's JSON shape, for GET
 * /api/collections and exports. Index strings are regenerated from their
 * parsed form with backquoted identifiers on the collection's current name,
 * as PocketBase shows them, so a renamed collection's indexes follow it.
 * Auth collections also show authRule, manageRule, `authToken` (the token
 * secret and duration; callers showing a collection to clients remove the
 * secrets) and the other auth options (auth_options.c).
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"
#include "stagehand/schema.h"

static cJSON *rule_json(const char *rule)
{
    return rule ? cJSON_CreateString(rule) : cJSON_CreateNull();
}

cJSON *sh_collection_to_json(const struct sh_collection *c)
{
    cJSON *o = cJSON_CreateObject();
    SH_ASSERT(o);
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddStringToObject(o, "type",
                            c->type == SH_COLLECTION_AUTH   ? "auth"
                            : c->type == SH_COLLECTION_VIEW ? "view"
                                                            : "base");
    cJSON_AddBoolToObject(o, "system", c->system);

    cJSON *fields = cJSON_AddArrayToObject(o, "fields");
    for (size_t i = 0; i < c->nfields; i++)
        cJSON_AddItemToArray(fields, sh__field_to_json(&c->fields[i]));

    cJSON *indexes = cJSON_AddArrayToObject(o, "indexes");
    for (size_t i = 0; i < c->nindexes; i++) {
        char *s = sh_index_format(&c->indexes[i], c->name, '`', true);
        cJSON_AddItemToArray(indexes, cJSON_CreateString(s));
        free(s);
    }

    size_t nrules = c->type == SH_COLLECTION_AUTH ? SH_RULE_COUNT : SH_RULE_AUTH;
    for (size_t k = 0; k < nrules; k++)
        cJSON_AddItemToObject(o, sh_rule_kind_name((enum sh_rule_kind)k), rule_json(c->rules[k]));

    if (c->type == SH_COLLECTION_VIEW)
        cJSON_AddStringToObject(o, "viewQuery", c->view_query ? c->view_query : "");
    if (c->type == SH_COLLECTION_AUTH) {
        cJSON *tok = cJSON_AddObjectToObject(o, "authToken");
        if (c->token_secret)
            cJSON_AddStringToObject(tok, "secret", c->token_secret);
        cJSON_AddNumberToObject(tok, "duration", (double)c->token_duration);
        sh__auth_options_to_json(c, o);
    }
    return o;
}
