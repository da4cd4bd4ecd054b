/*
 * Renaming a field keeps what named it working, as PocketBase does: when an
 * update gives a field (matched by id) a new name, the collection's own
 * rules that the update does not set anew, and every index of the
 * collection, are rewritten to the new name. The data stays (the migration
 * renames the column: sh_schema_migrate_sql).
 *
 * The rule rewrite is token-based: an identifier outside string literals
 * and comments, equal to the old name (ASCII case-insensitively, as fields
 * resolve), at the start of a path (not after `.`, `@` or `:`) is replaced;
 * `author.title` (a field of another collection) and `@request.body.title`
 * are left as written. Rules of other collections that reach the field
 * through a relation are not rewritten: the rule check refuses the update
 * if one still names the old field.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "stagehand/core.h"
#include "stagehand/schema.h"

static bool ident_start(char ch)
{
    return isalpha((unsigned char)ch) || ch == '_';
}

static bool ident_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_';
}

/* rule with every root identifier `from` replaced by `to`; newly
 * allocated. */
static char *rewrite_rule(const char *rule, const char *from, const char *to)
{
    struct sh_buf b;
    sh_buf_init(&b);
    size_t flen = strlen(from);
    const char *p = rule;
    while (*p) {
        if (*p == '\'' || *p == '"') { /* a string literal, escapes kept */
            char q = *p;
            const char *s = p++;
            while (*p && *p != q)
                p += p[0] == '\\' && p[1] ? 2 : 1;
            if (*p)
                p++;
            sh_buf_append(&b, s, (size_t)(p - s));
        } else if (p[0] == '/' && p[1] == '/') { /* a comment to the end of the line */
            const char *s = p;
            while (*p && *p != '\n')
                p++;
            sh_buf_append(&b, s, (size_t)(p - s));
        } else if (ident_start(*p)) {
            const char *s = p;
            while (ident_char(*p))
                p++;
            char before = s > rule ? s[-1] : ' ';
            bool root = before != '.' && before != '@' && before != ':';
            if (root && (size_t)(p - s) == flen && strncasecmp(s, from, flen) == 0)
                sh_buf_appends(&b, to);
            else
                sh_buf_append(&b, s, (size_t)(p - s));
        } else if (*p == '@' || *p == '.' || *p == ':') { /* a path goes on */
            sh_buf_append(&b, p, 1);
            p++;
            while (ident_char(*p) || *p == '.' || *p == ':' || *p == '@') {
                sh_buf_append(&b, p, 1);
                p++;
            }
        } else {
            sh_buf_append(&b, p, 1);
            p++;
        }
    }
    sh_buf_append(&b, "", 1);
    char *out = sh_strdup(b.data);
    sh_buf_deinit(&b);
    return out;
}

const char *sh__renamed(const struct sh_collection *old, const struct sh_collection *c,
                        const char *name)
{
    const struct sh_field *of = old ? sh_collection_field(old, name) : NULL;
    const struct sh_field *nf = of ? sh_collection_field_by_id(c, of->id) : NULL;
    return nf && strcmp(nf->name, of->name) != 0 ? nf->name : NULL;
}

void sh__rename_rules(const struct sh_collection *old, const struct sh_collection *c,
                      const cJSON *body, cJSON *src)
{
    if (!old || !src)
        return;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct sh_field *nf = &c->fields[i];
        const struct sh_field *of = sh_collection_field_by_id(old, nf->id);
        if (!of || strcmp(of->name, nf->name) == 0)
            continue;
        for (size_t k = 0; k < SH_RULE_COUNT; k++) {
            const char *key = sh_rule_kind_name((enum sh_rule_kind)k);
            cJSON *r = cJSON_GetObjectItemCaseSensitive(src, key);
            if (!cJSON_IsString(r) || cJSON_GetObjectItemCaseSensitive(body, key))
                continue; /* null, or set by this update: as given */
            char *next = rewrite_rule(r->valuestring, of->name, nf->name);
            cJSON_ReplaceItemInObjectCaseSensitive(src, key, cJSON_CreateString(next));
            free(next);
        }
    }
}
