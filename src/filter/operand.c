/*
 * Operand resolution for the filter compiler: turns one AST operand into SQL.
 * Literals and @-macros become known bound values (from the request context
 * and the caller's clock); field paths are checked against the schema and
 * become quoted column references, correlated subqueries through relations,
 * json_extract() on JSON fields, or, for multi-valued data, a set of FROM
 * items enumerating the elements (see sh__val in filter_int.h).
 *
 * A JSON array column is read through json_each(SRC(col)) where SRC turns a
 * NULL, malformed or empty array into '[null]': every multi operand has at
 * least one element, so "all elements" is never vacuously true and `= ""`
 * matches records without items.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "filter_int.h"
#include "stagehand/core.h"

#define MAX_SEGMENTS 32

void sh__val_deinit(struct sh__val *v)
{
    sh_filter_sql_deinit(&v->val);
    sh_filter_sql_deinit(&v->from);
    sh_filter_sql_deinit(&v->semi_first);
    sh_filter_sql_deinit(&v->semi_key);
    sh_filter_sql_deinit(&v->semi_root);
    sh_filter_sql_deinit(&v->semi_rule);
    sh_filter_sql_deinit(&v->semi_rest);
}

/* ---- known values ---- */

void sh__val_set_text(struct sh__val *out, const char *s, size_t n)
{
    sh__sql_param_text(&out->val, s, n);
    out->known = true;
    out->empty = n == 0;
}

void sh__val_set_int(struct sh__val *out, int64_t v)
{
    sh__sql_param_int(&out->val, v);
    out->known = true;
}

void sh__val_set_null(struct sh__val *out)
{
    sh__sql_param_null(&out->val);
    out->known = out->empty = true;
}

void sh__put_alias(struct sh_filter_sql *q, char kind, unsigned n)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "\"__%c%u\"", kind, n);
    sh__sql_puts(q, buf);
}

/* Appends `json_each(SRC(x)) AS "__jN"`. */
static void put_each(struct sh_filter_sql *q, const struct sh_filter_sql *x, unsigned alias)
{
    sh__sql_puts(q, "json_each(CASE WHEN json_valid(");
    sh__sql_append(q, x);
    sh__sql_puts(q, ") IS NOT 1 THEN '[null]' WHEN json_array_length(");
    sh__sql_append(q, x);
    sh__sql_puts(q, ") = 0 THEN '[null]' ELSE ");
    sh__sql_append(q, x);
    sh__sql_puts(q, " END) AS ");
    sh__put_alias(q, 'j', alias);
}

/* A JSON value from the request: arrays are multi-valued operands. */
void sh__set_json(struct sh__compiler *c, const cJSON *item, enum sh__mod mod, struct sh__val *out)
{
    if (mod == SH_MOD_ISSET) {
        sh__val_set_int(out, item != NULL);
        return;
    }
    if (mod == SH_MOD_LENGTH) {
        sh__val_set_int(out, cJSON_IsArray(item) ? cJSON_GetArraySize(item)
                                                 : item && !cJSON_IsNull(item));
        return;
    }
    if (!item || cJSON_IsNull(item)) {
        sh__val_set_null(out);
    } else if (cJSON_IsString(item)) {
        sh__val_set_text(out, item->valuestring, strlen(item->valuestring));
    } else if (cJSON_IsBool(item)) {
        sh__val_set_int(out, cJSON_IsTrue(item));
    } else if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        /* Integral values within 2^53 bind as integers (the range check comes
         * first: converting an out-of-range double to int64_t is undefined). */
        if (isfinite(d) && d > -9.0e15 && d < 9.0e15 && d == (double)(int64_t)d) {
            sh__val_set_int(out, (int64_t)d);
        } else {
            sh__sql_param_double(&out->val, d);
            out->known = true;
        }
    } else {
        char *json = cJSON_PrintUnformatted(item);
        if (!json)
            abort(); /* cJSON's allocation failed: heap exhaustion aborts */
        if (cJSON_IsArray(item)) {
            /* The array is bound as JSON text and enumerated by json_each. */
            struct sh_filter_sql x = {0};
            unsigned j = ++c->next_alias;
            sh__sql_param_text(&x, json, strlen(json));
            put_each(&out->from, &x, j);
            sh_filter_sql_deinit(&x);
            sh__put_alias(&out->val, 'j', j);
            sh__sql_puts(&out->val, ".\"value\"");
            out->multi = true;
        } else {
            sh__val_set_text(out, json, strlen(json));
        }
        cJSON_free(json);
    }
}

/* Follows a dotted path through nested objects (and arrays by index). */
const cJSON *sh__json_walk(const cJSON *item, const char *path)
{
    char seg[SH_FILTER_MAX_LEN + 1];
    while (item && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        path += n + (path[n] == '.');
        if (cJSON_IsObject(item))
            item = cJSON_GetObjectItemCaseSensitive(item, seg);
        else if (cJSON_IsArray(item) && strspn(seg, "0123456789") == n && n < 9)
            item = cJSON_GetArrayItem(item, atoi(seg));
        else
            return NULL;
    }
    return item;
}

/* ---- field paths ---- */

static const struct sh_filter_field implicit_fields[] = {
    {"id", SH_FIELD_TEXT, 0, NULL},
    {"created", SH_FIELD_AUTODATE, 0, NULL},
    {"updated", SH_FIELD_AUTODATE, 0, NULL},
};

const struct sh_filter_field *sh__find_field(const struct sh_filter_schema *s, const char *name)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].name && strcmp(s->fields[i].name, name) == 0)
            return &s->fields[i];
    for (size_t i = 0; i < sizeof(implicit_fields) / sizeof(implicit_fields[0]); i++)
        if (strcmp(implicit_fields[i].name, name) == 0)
            return &implicit_fields[i];
    return NULL;
}

int sh__path_fail(struct sh__compiler *c, const char *prefix, const char *path, size_t upto,
                  const char *why, size_t off)
{
    int n = (int)(upto > 64 ? 64 : upto);
    return sh__filter_fail(c->err, off, "Invalid %s: %s \"%s%.*s\".", c->what, why, prefix, n,
                           path);
}

/* The signed-in record's id when it belongs to the collection of schema s
 * (it sees its own email), else NULL. */
static const char *own_id(const struct sh__compiler *c, const struct sh_filter_schema *s)
{
    const cJSON *auth = c->ctx ? c->ctx->auth : NULL;
    if (!auth || !s->id)
        return NULL;
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(auth, "collectionId");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(auth, "id");
    if (!cJSON_IsString(cid) || !cJSON_IsString(id) || strcmp(cid->valuestring, s->id) != 0)
        return NULL;
    return id->valuestring;
}

/* Replaces col with `(SELECT COUNT(*) FROM src AS "__r<rel>" WHERE <join on
 * id> [AND <src's row rule>])`: the rows of src whose relation rf points at
 * the record whose id expression is id. 0 or SH_EINVAL. */
static int put_via_count(struct sh__compiler *c, const struct sh_filter_schema *src,
                         const struct sh_filter_field *rf, unsigned rel,
                         const struct sh_filter_sql *id, struct sh_filter_sql *col)
{
    struct sh_filter_sql q = {0};
    sh__sql_puts(&q, "(SELECT COUNT(*) FROM ");
    sh__sql_putq(&q, src->table);
    sh__sql_puts(&q, " AS ");
    sh__put_alias(&q, 'r', rel);
    sh__sql_puts(&q, " WHERE ");
    sh__put_via_on(&q, rel, rf, id);
    if (src->row_rule && !sh_filter_is_empty(src->row_rule)) {
        struct sh_filter_sql cond = {0};
        char alias[32];
        snprintf(alias, sizeof(alias), "__r%u", rel);
        int rc = sh__compile_at(c, src->row_rule, src->row_rule_schema ? src->row_rule_schema : src,
                                alias, &cond);
        if (rc) {
            sh_filter_sql_deinit(&cond);
            sh_filter_sql_deinit(&q);
            return rc;
        }
        sh__sql_puts(&q, " AND ");
        sh__sql_append(&q, &cond);
        sh_filter_sql_deinit(&cond);
    }
    sh__sql_puts(&q, ")");
    sh_filter_sql_deinit(col);
    *col = q;
    return 0;
}

/* Resolves a field path of schema s. start, if not NULL, is the SQL value of
 * the first segment (a bound value from @request.auth) instead of its column.
 * prefix is how the path is named in errors. */
int sh__resolve_path(struct sh__compiler *c, const struct sh_filter_schema *s,
                     const struct sh_filter_sql *start, const char *prefix, const char *path,
                     enum sh__mod mod, size_t off, struct sh__val *out)
{
    const char *seg[MAX_SEGMENTS];
    const struct sh_filter_field *fld[MAX_SEGMENTS];
    const struct sh_filter_schema *sch[MAX_SEGMENTS];
    size_t ends[MAX_SEGMENTS], nseg = 0, used;
    char names[SH_FILTER_MAX_LEN + 1];
    size_t plen = strlen(path);
    if (plen >= sizeof(names))
        return sh__path_fail(c, prefix, path, plen, "field path too long", off);
    memcpy(names, path, plen + 1);
    for (char *p = names;; p++) {
        if (nseg == MAX_SEGMENTS)
            return sh__path_fail(c, prefix, path, plen, "field path too long", off);
        seg[nseg] = p;
        p += strcspn(p, ".");
        ends[nseg++] = (size_t)(p - names);
        if (!*p)
            break;
        *p = '\0';
    }

    /* Pass 1: resolve every segment against its schema and find out whether
     * the operand is multi-valued. */
    bool multi = false, json_path = false;
    size_t nfld = nseg; /* segments that name fields; the rest is a JSON path */
    unsigned hops = 0, multi_segs = 0;
    const struct sh_filter_schema *cur = s;
    const struct sh_filter_schema *via_src[MAX_SEGMENTS];
    const struct sh_filter_field *via_rel[MAX_SEGMENTS];
    for (used = 0; used < nseg; used++) {
        const struct sh_filter_field *f = sh__find_field(cur, seg[used]);
        via_src[used] = NULL;
        via_rel[used] = NULL;
        /* with start, a back-relation first segment reads start as the
         * record's id (`@request.auth.comments_via_author`) */
        if (!f && sh__find_via(cur, seg[used], &via_src[used], &via_rel[used])) {
            /* A back-relation: a multi-valued hop into the rows pointing here. */
            const struct sh_filter_schema *src = via_src[used];
            const struct sh_filter_field *rf = via_rel[used];
            if ((rf->flags & SH_FILTER_FIELD_NOFILTER) || !sh__ident_ok(rf->name))
                return sh__path_fail(c, prefix, path, ends[used], "cannot use field", off);
            if (rf->flags & SH_FILTER_FIELD_HIDDEN)
                *c->reads |= SH_FILTER_READS_HIDDEN;
            if (src->access & SH_FILTER_ACCESS_NOLIST)
                return sh__path_fail(c, prefix, path, ends[used],
                                     "only superusers can filter or sort through", off);
            /* A client's back-relation must be an index lookup (no scan of
             * the other collection per record): a single, indexed relation. */
            if ((src->access & SH_FILTER_ACCESS_CONFINED) &&
                ((rf->flags & SH_FILTER_FIELD_MULTI) || !(rf->flags & SH_FILTER_FIELD_INDEXED)))
                return sh__path_fail(c, prefix, path, ends[used],
                                     "back-relation needs an index on a single relation field for",
                                     off);
            if (++hops > SH_FILTER_MAX_RELATION_DEPTH)
                return sh__path_fail(c, prefix, path, ends[used], "too many relation levels in",
                                     off);
            /* `x_via_y:length` as the last segment is one COUNT per record,
             * not an enumeration of the rows */
            if (used + 1 < nseg || mod != SH_MOD_LENGTH) {
                multi = true;
                if (s->max_multi_hops && ++multi_segs > s->max_multi_hops)
                    return sh__path_fail(c, prefix, path, ends[used],
                                         "too many multi-valued relations in", off);
            }
            if (src->table && (!c->root || strcasecmp(src->table, c->root) != 0))
                *c->reads |= SH_FILTER_READS_OTHER_TABLE;
            fld[used] = &sh__via_field;
            sch[used] = cur;
            cur = src;
            if (used + 1 == nseg)
                break;
            continue;
        }
        if (!f || !sh__ident_ok(f->name))
            return sh__path_fail(c, prefix, path, ends[used], "unknown field", off);
        if ((f->flags & SH_FILTER_FIELD_NOFILTER) || f->kind == SH_FIELD_PASSWORD)
            return sh__path_fail(c, prefix, path, ends[used], "cannot use field", off);
        fld[used] = f;
        sch[used] = cur;
        if (f->flags & SH_FILTER_FIELD_HIDDEN)
            *c->reads |= SH_FILTER_READS_HIDDEN;
        bool last = used + 1 == nseg;
        /* geoPoint (schema branch): `field.lon` / `field.lat` are JSON
         * paths into its {"lon":x,"lat":y} text; the lead adds
         * `|| f->kind == SH_FIELD_GEOPOINT` here once the kind exists. */
        if (f->kind == SH_FIELD_JSON && !last) {
            json_path = true;
            nfld = used + 1;
            break;
        }
        if ((f->flags & SH_FILTER_FIELD_MULTI) && (!last || mod != SH_MOD_LENGTH)) {
            multi = true;
            if (s->max_multi_hops && ++multi_segs > s->max_multi_hops)
                return sh__path_fail(c, prefix, path, ends[used],
                                     "too many multi-valued relations in", off);
        }
        if (last)
            break;
        if (f->kind != SH_FIELD_RELATION)
            return sh__path_fail(c, prefix, path, ends[used], "not a relation field", off);
        if (++hops > SH_FILTER_MAX_RELATION_DEPTH)
            return sh__path_fail(c, prefix, path, ends[used], "too many relation levels in", off);
        cur = cur->resolve && f->rel_collection ? cur->resolve(cur->resolve_ud, f->rel_collection)
                                                : NULL;
        if (!cur || !sh__ident_ok(cur->table))
            return sh__path_fail(c, prefix, path, ends[used], "unknown relation", off);
        /* A client may not reach through a relation what it may not list. */
        if (cur->access & SH_FILTER_ACCESS_NOLIST)
            return sh__path_fail(c, prefix, path, ends[used],
                                 "only superusers can filter or sort through", off);
    }
    const struct sh_filter_field *lastf = fld[nfld - 1];
    bool via_count = mod == SH_MOD_LENGTH && via_src[nfld - 1] && !json_path;
    if (mod == SH_MOD_LENGTH && !via_count &&
        (!(lastf->flags & SH_FILTER_FIELD_MULTI) || json_path))
        return sh__path_fail(c, prefix, path, plen, ":length needs a multi-valued field, not", off);
    if (mod == SH_MOD_EACH && !multi)
        return sh__path_fail(c, prefix, path, plen, ":each needs a multi-valued field, not", off);
    if (mod == SH_MOD_LOWER && lastf->kind != SH_FIELD_TEXT && lastf->kind != SH_FIELD_EMAIL &&
        lastf->kind != SH_FIELD_URL && lastf->kind != SH_FIELD_SELECT && !json_path &&
        lastf->kind != SH_FIELD_RELATION)
        return sh__path_fail(c, prefix, path, plen, ":lower needs a text field, not", off);
    bool guard =
        (lastf->flags & SH_FILTER_FIELD_EMAIL_GUARD) && !json_path && !(start && nfld == 1);
    if (guard && c->sort)
        return sh__path_fail(c, prefix, path, plen, "cannot sort by the hidden email", off);

    /* Pass 2: emit. col is the current segment's column expression. */
    struct sh_filter_sql col = {0}, from = {0}, where = {0}, val = {0}, semi_head = {0};
    const char *qual = s->alias ? s->alias : s->table;
    if (!start && !sh__ident_ok(qual)) {
        sh__filter_fail(c->err, off, "Invalid %s: unknown collection.", c->what);
        return SH_EINVAL;
    }
    unsigned rel = 0; /* alias of the relation whose columns come next; 0 = root */
    bool have_from = false;
    int rc = 0;
    for (size_t i = 0; i < nfld; i++) {
        if (via_src[i]) {
            /* Back-relation: join the rows of via_src[i] whose relation
             * field holds the current record's id. */
            const struct sh_filter_schema *src = via_src[i];
            struct sh_filter_sql id = {0};
            if (i == 0 && start) {
                sh__sql_append(&id, start);
            } else {
                if (rel)
                    sh__put_alias(&id, 'r', rel);
                else
                    sh__sql_putq(&id, qual);
                sh__sql_puts(&id, ".\"id\"");
            }
            rel = ++c->next_alias;
            if (via_count && i + 1 == nfld) {
                /* `x_via_y:length`: the number of rows pointing here that
                 * the caller may list, counted by the relation's index */
                rc = put_via_count(c, src, via_rel[i], rel, &id, &col);
                sh_filter_sql_deinit(&id);
                if (rc)
                    goto fail;
                break;
            }
            bool semi = i == 0;
            if (semi) {
                sh__sql_putq(&out->semi_first, src->table);
                sh__sql_puts(&out->semi_first, " AS ");
                sh__put_alias(&out->semi_first, 'r', rel);
                if (via_rel[i]->flags & SH_FILTER_FIELD_MULTI) {
                    /* the rows' ids enumerated: the key is each id */
                    unsigned j = ++c->next_alias;
                    sh__sql_puts(&out->semi_first, ", ");
                    sh__put_via_each(&out->semi_first, rel, via_rel[i], j);
                    sh__put_alias(&out->semi_key, 'j', j);
                    sh__sql_puts(&out->semi_key, ".\"value\"");
                    out->semi_multi = true;
                } else {
                    sh__put_alias(&out->semi_key, 'r', rel);
                    sh__sql_puts(&out->semi_key, ".");
                    sh__sql_putq(&out->semi_key, via_rel[i]->name);
                }
                sh__sql_append(&out->semi_root, &id);
            }
            sh__sql_puts(&from, have_from ? " LEFT JOIN " : "(SELECT 1) LEFT JOIN ");
            sh__sql_putq(&from, src->table);
            sh__sql_puts(&from, " AS ");
            sh__put_alias(&from, 'r', rel);
            sh__sql_puts(&from, " ON ");
            sh__put_via_on(&from, rel, via_rel[i], &id);
            sh_filter_sql_deinit(&id);
            if (src->row_rule && !sh_filter_is_empty(src->row_rule)) {
                struct sh_filter_sql cond = {0};
                char alias[32];
                snprintf(alias, sizeof(alias), "__r%u", rel);
                rc =
                    sh__compile_at(c, src->row_rule,
                                   src->row_rule_schema ? src->row_rule_schema : src, alias, &cond);
                if (rc) {
                    sh_filter_sql_deinit(&cond);
                    goto fail;
                }
                sh__sql_puts(&from, " AND ");
                sh__sql_append(&from, &cond);
                if (semi)
                    sh__sql_append(&out->semi_rule, &cond);
                sh_filter_sql_deinit(&cond);
            }
            if (semi) {
                /* the FROM's first item aside: what follows it is semi_rest */
                out->semi = true;
                semi_head = from;
                from = (struct sh_filter_sql){0};
            }
            have_from = true;
            sh_filter_sql_deinit(&col);
            sh__put_alias(&col, 'r', rel);
            sh__sql_puts(&col, ".\"id\"");
            if (i + 1 == nfld)
                break;
            continue;
        }
        sh_filter_sql_deinit(&col);
        if (i == 0 && start) {
            sh__sql_append(&col, start);
        } else {
            if (rel)
                sh__put_alias(&col, 'r', rel);
            else
                sh__sql_putq(&col, qual);
            sh__sql_puts(&col, ".");
            sh__sql_putq(&col, fld[i]->name);
        }
        if (i + 1 == nfld)
            break;
        /* A relation hop: join the target table on its id. */
        const struct sh_filter_schema *target = sch[i + 1];
        if (!c->root || strcasecmp(target->table, c->root) != 0)
            *c->reads |= SH_FILTER_READS_OTHER_TABLE;
        struct sh_filter_sql key = {0};
        if (fld[i]->flags & SH_FILTER_FIELD_MULTI) {
            unsigned j = ++c->next_alias;
            sh__sql_puts(&from, have_from ? " JOIN " : "");
            put_each(&from, &col, j);
            sh__put_alias(&key, 'j', j);
            sh__sql_puts(&key, ".\"value\"");
            have_from = true;
        } else {
            sh__sql_append(&key, &col);
        }
        rel = ++c->next_alias;
        /* The rows the hop may reach: those the target's listRule lets the
         * caller list (a confined view sets row_rule). */
        struct sh_filter_sql cond = {0};
        bool has_cond = target->row_rule && !sh_filter_is_empty(target->row_rule);
        if (has_cond) {
            char alias[32];
            snprintf(alias, sizeof(alias), "__r%u", rel);
            rc = sh__compile_at(c, target->row_rule,
                                target->row_rule_schema ? target->row_rule_schema : target, alias,
                                &cond);
            if (rc) {
                sh_filter_sql_deinit(&cond);
                sh_filter_sql_deinit(&key);
                goto fail;
            }
        }
        struct sh_filter_sql *on = &from;
        if (!have_from && !multi) {
            /* Scalar form: the first table is correlated in the WHERE clause. */
            sh__sql_putq(&from, target->table);
            sh__sql_puts(&from, " AS ");
            sh__put_alias(&from, 'r', rel);
            sh__put_alias(&where, 'r', rel);
            sh__sql_puts(&where, ".\"id\" = ");
            sh__sql_append(&where, &key);
            on = &where;
        } else {
            sh__sql_puts(&from, have_from ? " LEFT JOIN " : "(SELECT 1) LEFT JOIN ");
            sh__sql_putq(&from, target->table);
            sh__sql_puts(&from, " AS ");
            sh__put_alias(&from, 'r', rel);
            sh__sql_puts(&from, " ON ");
            sh__put_alias(&from, 'r', rel);
            sh__sql_puts(&from, ".\"id\" = ");
            sh__sql_append(&from, &key);
        }
        if (has_cond) {
            sh__sql_puts(on, " AND ");
            sh__sql_append(on, &cond);
            sh_filter_sql_deinit(&cond);
        }
        have_from = true;
        sh_filter_sql_deinit(&key);
    }
    if (guard) {
        /* The email reads as NULL where its owner has not made it visible. */
        struct sh_filter_sql g = {0};
        sh__sql_puts(&g, "(CASE WHEN ");
        if (rel)
            sh__put_alias(&g, 'r', rel);
        else
            sh__sql_putq(&g, qual);
        sh__sql_puts(&g, ".\"emailVisibility\" IS 1");
        const char *own = own_id(c, sch[nfld - 1]);
        if (own) {
            sh__sql_puts(&g, " OR ");
            if (rel)
                sh__put_alias(&g, 'r', rel);
            else
                sh__sql_putq(&g, qual);
            sh__sql_puts(&g, ".\"id\" = ");
            sh__sql_param_text(&g, own, strlen(own));
        }
        sh__sql_puts(&g, " THEN ");
        sh__sql_append(&g, &col);
        sh__sql_puts(&g, " END)");
        sh_filter_sql_deinit(&col);
        col = g;
    }

    /* The last field: a JSON path, a multi-valued column or a plain column. */
    if (json_path) {
        /* Each segment grows by at most 3 bytes: `."` and `"` for its dot. */
        char jp[SH_FILTER_MAX_LEN + 3 * MAX_SEGMENTS + 8];
        size_t n = 0;
        jp[n++] = '$';
        for (size_t i = nfld; i < nseg; i++) {
            size_t sl = strlen(seg[i]);
            bool index = strspn(seg[i], "0123456789") == sl && sl < 10;
            n += (size_t)snprintf(jp + n, sizeof(jp) - n, index ? "[%s]" : ".\"%s\"", seg[i]);
        }
        sh__sql_puts(&val, "json_extract(");
        sh__sql_append(&val, &col);
        sh__sql_puts(&val, ", ");
        sh__sql_param_text(&val, jp, n);
        sh__sql_puts(&val, ")");
    } else if ((lastf->flags & SH_FILTER_FIELD_MULTI) && mod == SH_MOD_LENGTH) {
        sh__sql_puts(&val, "json_array_length(CASE WHEN json_valid(");
        sh__sql_append(&val, &col);
        sh__sql_puts(&val, ") IS 1 THEN ");
        sh__sql_append(&val, &col);
        sh__sql_puts(&val, " ELSE '[]' END)");
    } else if (lastf->flags & SH_FILTER_FIELD_MULTI) {
        unsigned j = ++c->next_alias;
        sh__sql_puts(&from, have_from ? " JOIN " : "");
        put_each(&from, &col, j);
        have_from = true;
        sh__put_alias(&val, 'j', j);
        sh__sql_puts(&val, ".\"value\"");
    } else {
        sh__sql_append(&val, &col);
    }
    if (mod == SH_MOD_LOWER) {
        struct sh_filter_sql low = {0};
        sh__sql_puts(&low, "LOWER(");
        sh__sql_append(&low, &val);
        sh__sql_puts(&low, ")");
        sh_filter_sql_deinit(&val);
        val = low;
    }

    if (out->semi) {
        /* the whole FROM is the first item and the rest */
        sh__sql_append(&out->semi_rest, &from);
        sh__sql_append(&semi_head, &from);
        sh_filter_sql_deinit(&from);
        from = semi_head;
        out->semi_null_false = mod != SH_MOD_LENGTH;
        /* the rows' condition is an index search when it reads an indexed
         * column of them directly */
        out->semi_indexed = nfld == 2 && !json_path && mod == SH_MOD_NONE &&
                            (fld[1]->flags & SH_FILTER_FIELD_INDEXED) &&
                            !(fld[1]->flags & SH_FILTER_FIELD_MULTI);
    }
    for (size_t i = 0; i < nfld; i++)
        out->via |= via_src[i] != NULL;
    out->nonempty = !have_from && !start && !json_path && !multi && mod == SH_MOD_NONE &&
                    strcmp(lastf->name, "id") == 0;
    if (multi) {
        out->multi = true;
        out->from = from;
        out->val = val;
    } else if (have_from) {
        sh__sql_puts(&out->val, "(SELECT ");
        sh__sql_append(&out->val, &val);
        sh__sql_puts(&out->val, " FROM ");
        sh__sql_append(&out->val, &from);
        sh__sql_puts(&out->val, " WHERE ");
        sh__sql_append(&out->val, &where);
        sh__sql_puts(&out->val, ")");
        sh_filter_sql_deinit(&from);
        sh_filter_sql_deinit(&val);
    } else {
        out->val = val;
    }
    sh_filter_sql_deinit(&col);
    sh_filter_sql_deinit(&where);
    return 0;

fail: /* what the emit pass built so far, and the operand */
    sh_filter_sql_deinit(&col);
    sh_filter_sql_deinit(&from);
    sh_filter_sql_deinit(&where);
    sh_filter_sql_deinit(&semi_head);
    sh__val_deinit(out);
    memset(out, 0, sizeof(*out));
    return rc;
}
