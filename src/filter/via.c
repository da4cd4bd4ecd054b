/*
 * Back-relations of the filter language: a path segment
 * `<collection>_via_<field>` names the rows of <collection> whose relation
 * <field> points at the current record (PocketBase's syntax). This file
 * finds what such a segment stands for and writes the join condition; the
 * path walk of operand.c decides where the join goes, checks what the
 * caller may see (hidden link, listRule, index) and counts the hop.
 */
#include <string.h>
#include <strings.h>

#include "filter_int.h"

/* What a back-relation segment `<collection>_via_<field>` stands for: the
 * rows of collection whose relation field points at the current record. */
const struct sh_filter_field sh__via_field = {"id", SH_FIELD_TEXT, 0, NULL};

/* Resolves seg as a back-relation from schema cur: *src is the collection
 * holding the relation, *rf its relation field (which must target cur).
 * Returns false if seg is not of that form or names nothing. */
bool sh__find_via(const struct sh_filter_schema *cur, const char *seg,
                  const struct sh_filter_schema **src, const struct sh_filter_field **rf)
{
    const char *at = NULL;
    for (const char *p = strstr(seg, "_via_"); p; p = strstr(p + 1, "_via_"))
        at = p;
    if (!at || at == seg || !at[5] || !cur->resolve)
        return false;
    char name[SH_FILTER_MAX_LEN + 1];
    size_t n = (size_t)(at - seg);
    if (n >= sizeof(name))
        return false;
    memcpy(name, seg, n);
    name[n] = '\0';
    const struct sh_filter_schema *s = cur->resolve(cur->resolve_ud, name);
    if (!s || !sh__ident_ok(s->table))
        return false;
    const struct sh_filter_field *f = sh__find_field(s, at + 5);
    if (!f || f->kind != SH_FIELD_RELATION || !f->rel_collection || !s->resolve)
        return false;
    const struct sh_filter_schema *t = s->resolve(s->resolve_ud, f->rel_collection);
    if (!t || strcasecmp(t->table, cur->table) != 0)
        return false;
    *src = s;
    *rf = f;
    return true;
}

/* Appends `json_each(SRC)` over the ids of the multiple relation rf of the
 * rows "__r<rel>", SRC reading anything but valid JSON as no ids. The join
 * condition and the semi-join's enumeration use this same text, so both
 * read the same ids. */
static void put_ids(struct sh_filter_sql *q, unsigned rel, const struct sh_filter_field *rf)
{
    struct sh_filter_sql col = {0};
    sh__put_alias(&col, 'r', rel);
    sh__sql_puts(&col, ".");
    sh__sql_putq(&col, rf->name);
    sh__sql_puts(q, "json_each(CASE WHEN json_valid(");
    sh__sql_append(q, &col);
    sh__sql_puts(q, ") IS 1 THEN ");
    sh__sql_append(q, &col);
    sh__sql_puts(q, " ELSE '[]' END)");
    sh_filter_sql_deinit(&col);
}

/* Appends the condition joining back-relation rows "__rN" (whose relation
 * field is rf) to the current record's id: an index lookup for a single
 * relation, a scan of the JSON array for a multiple one. */
void sh__put_via_on(struct sh_filter_sql *q, unsigned rel, const struct sh_filter_field *rf,
                    const struct sh_filter_sql *id)
{
    if (!(rf->flags & SH_FILTER_FIELD_MULTI)) {
        sh__put_alias(q, 'r', rel);
        sh__sql_puts(q, ".");
        sh__sql_putq(q, rf->name);
        sh__sql_puts(q, " = ");
        sh__sql_append(q, id);
        return;
    }
    sh__sql_puts(q, "EXISTS (SELECT 1 FROM ");
    put_ids(q, rel, rf);
    sh__sql_puts(q, " WHERE \"value\" = ");
    sh__sql_append(q, id);
    sh__sql_puts(q, ")");
}

void sh__put_via_each(struct sh_filter_sql *q, unsigned rel, const struct sh_filter_field *rf,
                      unsigned j)
{
    put_ids(q, rel, rf);
    sh__sql_puts(q, " AS ");
    sh__put_alias(q, 'j', j);
}
