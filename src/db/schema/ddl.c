/*
 * The SQL behind collections: CREATE TABLE with one column per field (the
 * column types and zero-value defaults of PocketBase, which stores '' and 0
 * rather than NULL), CREATE INDEX regenerated from the parsed indexes, and
 * the migration from one definition to the next. Every identifier written
 * here is a validated name inside double quotes, and no user text other than
 * those names reaches SQL.
 *
 * A migration keeps the rows and the values of fields present in both
 * definitions (matched by field id). When the set of columns is unchanged it
 * only renames the table and drops/creates the indexes that differ; any other
 * change rebuilds the table the way SQLite documents for schema changes
 * ALTER TABLE cannot make (https://sqlite.org/lang_altertable.html, "making
 * other kinds of table schema changes"): create "_tmp_<name>", copy the kept
 * columns with INSERT ... SELECT (converting values whose column type
 * changed), drop the old table (its indexes go with it), rename, and create
 * the indexes again.
 */
#include <stdlib.h>
#include <string.h>

#include "stagehand/core.h"
#include "stagehand/schema.h"

enum col_class { COL_PK, COL_TEXT, COL_NUMERIC, COL_BOOL, COL_JSON, COL_MULTI, COL_GEO };

static enum col_class col_class(const struct sh_field *f)
{
    if (f->primary_key)
        return COL_PK;
    if (sh_field_is_multi(f))
        return COL_MULTI;
    switch (f->kind) {
    case SH_FIELD_NUMBER:
        return COL_NUMERIC;
    case SH_FIELD_BOOL:
        return COL_BOOL;
    case SH_FIELD_JSON:
        return COL_JSON;
    case SH_FIELD_GEOPOINT:
        return COL_GEO;
    default:
        return COL_TEXT;
    }
}

static const char *col_def(enum col_class k)
{
    switch (k) {
    case COL_PK:
        /* PocketBase's fallback default, for rows inserted by raw SQL. */
        return "TEXT PRIMARY KEY DEFAULT ('r'||lower(hex(randomblob(7)))) NOT NULL";
    case COL_NUMERIC:
        return "NUMERIC DEFAULT 0 NOT NULL";
    case COL_BOOL:
        return "INTEGER DEFAULT 0 NOT NULL";
    case COL_JSON:
        return "TEXT DEFAULT NULL";
    case COL_MULTI:
        return "TEXT DEFAULT '[]' NOT NULL";
    case COL_GEO:
        return "TEXT DEFAULT '{\"lon\":0,\"lat\":0}' NOT NULL";
    case COL_TEXT:
        break;
    }
    return "TEXT DEFAULT '' NOT NULL";
}

static const char *col_zero(enum col_class k)
{
    switch (k) {
    case COL_NUMERIC:
    case COL_BOOL:
        return "0";
    case COL_MULTI:
        return "'[]'";
    case COL_GEO:
        return "'{\"lon\":0,\"lat\":0}'";
    case COL_JSON:
    case COL_PK:
        return NULL;
    case COL_TEXT:
        break;
    }
    return "''";
}

static void q(struct sh_buf *b, const char *prefix, const char *name)
{
    sh_buf_appends(b, "\"");
    sh_buf_appends(b, prefix);
    sh_buf_appends(b, name);
    sh_buf_appends(b, "\"");
}

static char *take(struct sh_buf *b)
{
    sh_buf_append(b, "", 1);
    return b->data;
}

/* Pushes fmt with %s for the quoted names a and b (b may be unused). */
static void push_f(struct sh_schema_sql *out, const char *fmt, const char *a, const char *b)
{
    struct sh_buf buf;
    sh_buf_init(&buf);
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            q(&buf, "", a);
            a = b;
            p++;
        } else {
            sh_buf_append(&buf, p, 1);
        }
    }
    sh__sql_push(out, take(&buf));
}

static void create_table(const struct sh_collection *c, const char *prefix,
                         struct sh_schema_sql *out)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "CREATE TABLE ");
    q(&b, prefix, c->name);
    sh_buf_appends(&b, " (");
    for (size_t i = 0; i < c->nfields; i++) {
        if (i)
            sh_buf_appends(&b, ", ");
        q(&b, "", c->fields[i].name);
        sh_buf_appends(&b, " ");
        sh_buf_appends(&b, col_def(col_class(&c->fields[i])));
    }
    sh_buf_appends(&b, ")");
    sh__sql_push(out, take(&b));
}

static void create_indexes(const struct sh_collection *c, struct sh_schema_sql *out)
{
    for (size_t i = 0; i < c->nindexes; i++)
        sh__sql_push(out, sh_index_format(&c->indexes[i], c->name, '"', false));
}

/* A view collection is an SQL view of its query (checked by sh_view_infer). */
static void create_view(const struct sh_collection *c, struct sh_schema_sql *out)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "CREATE VIEW ");
    q(&b, "", c->name);
    sh_buf_appends(&b, " AS ");
    sh_buf_appends(&b, c->view_query ? c->view_query : "SELECT NULL AS id");
    sh__sql_push(out, take(&b));
}

void sh_schema_create_sql(const struct sh_collection *c, struct sh_schema_sql *out)
{
    if (c->type == SH_COLLECTION_VIEW) {
        create_view(c, out);
        return;
    }
    create_table(c, "", out);
    create_indexes(c, out);
}

void sh_schema_drop_sql(const struct sh_collection *c, struct sh_schema_sql *out)
{
    push_f(out, c->type == SH_COLLECTION_VIEW ? "DROP VIEW %s" : "DROP TABLE %s", c->name, NULL);
}

/* Appends an expression reading old column X (class from) as class to.
 * CASE is evaluated lazily by SQLite, so json_type() only sees valid JSON. */
static void conv(struct sh_buf *b, enum col_class from, enum col_class to, const char *x)
{
    const char *fmt = "%X";
    if (from == COL_PK)
        from = COL_TEXT;
    if (to == COL_PK)
        to = COL_TEXT;
    if (from != to) {
        switch (to) {
        case COL_TEXT:
            if (from == COL_NUMERIC)
                fmt = "CASE WHEN typeof(%X) = 'real' AND %X = CAST(%X AS INTEGER) "
                      "THEN CAST(CAST(%X AS INTEGER) AS TEXT) ELSE CAST(%X AS TEXT) END";
            else if (from == COL_BOOL)
                fmt = "CASE WHEN %X THEN 'true' ELSE 'false' END";
            else if (from == COL_JSON)
                fmt = "CASE WHEN json_valid(%X) THEN (CASE json_type(%X) WHEN 'text' THEN "
                      "json_extract(%X, '$') WHEN 'null' THEN '' ELSE %X END) ELSE %X END";
            else /* COL_MULTI: the last element, as PocketBase keeps the last selected */
                fmt = "CASE WHEN json_valid(%X) THEN (CASE json_type(%X) WHEN 'array' THEN "
                      "json_extract(%X, '$[#-1]') ELSE %X END) ELSE %X END";
            break;
        case COL_NUMERIC:
            fmt = from == COL_BOOL ? "%X"
                                   : "CASE WHEN typeof(%X) IN ('integer', 'real') THEN %X "
                                     "WHEN json_valid(%X) THEN (CASE WHEN json_type(%X) IN "
                                     "('integer', 'real') THEN json_extract(%X, '$') ELSE 0 END) "
                                     "ELSE 0 END";
            break;
        case COL_BOOL:
            fmt = from == COL_NUMERIC ? "(%X <> 0)"
                                      : "CASE WHEN typeof(%X) IN ('integer', 'real') THEN "
                                        "(%X <> 0) WHEN lower(trim(%X)) IN ('1', 't', 'true') "
                                        "THEN 1 ELSE 0 END";
            break;
        case COL_JSON:
            if (from == COL_NUMERIC)
                fmt = "CAST(%X AS TEXT)";
            else if (from == COL_BOOL)
                fmt = "CASE WHEN %X THEN 'true' ELSE 'false' END";
            else if (from == COL_TEXT)
                fmt = "CASE WHEN %X IS NULL OR %X = '' THEN NULL WHEN json_valid(%X) THEN %X "
                      "ELSE json_quote(%X) END";
            break;
        case COL_MULTI:
            if (from == COL_NUMERIC || from == COL_BOOL)
                fmt = "CASE WHEN %X IS NULL OR %X = 0 THEN '[]' ELSE json_array(CAST(%X AS "
                      "TEXT)) END";
            else if (from == COL_JSON)
                fmt = "CASE WHEN %X IS NULL THEN '[]' WHEN json_valid(%X) THEN (CASE "
                      "json_type(%X) WHEN 'array' THEN %X WHEN 'null' THEN '[]' WHEN 'text' "
                      "THEN json_array(json_extract(%X, '$')) ELSE json_array(json(%X)) END) "
                      "ELSE json_array(%X) END";
            else
                fmt = "CASE WHEN %X IS NULL OR %X = '' THEN '[]' WHEN json_valid(%X) THEN (CASE "
                      "json_type(%X) WHEN 'array' THEN %X ELSE json_array(%X) END) ELSE "
                      "json_array(%X) END";
            break;
        case COL_PK:
        case COL_GEO: /* no type changes to or from geoPoint (sh__collection_check_update) */
            break;
        }
    }
    const char *zero = col_zero(to);
    if (zero)
        sh_buf_appends(b, "COALESCE(");
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 'X') {
            sh_buf_appends(b, x);
            p++;
        } else {
            sh_buf_append(b, p, 1);
        }
    }
    if (zero) {
        sh_buf_appends(b, ", ");
        sh_buf_appends(b, zero);
        sh_buf_appends(b, ")");
    }
}

static bool needs_rebuild(const struct sh_collection *old, const struct sh_collection *next)
{
    if (old->nfields != next->nfields)
        return true;
    for (size_t i = 0; i < next->nfields; i++) {
        const struct sh_field *nf = &next->fields[i];
        const struct sh_field *of = sh_collection_field_by_id(old, nf->id);
        if (!of || strcmp(of->name, nf->name) != 0 || col_class(of) != col_class(nf))
            return true;
    }
    return false;
}

static void rebuild(const struct sh_collection *old, const struct sh_collection *next,
                    struct sh_schema_sql *out)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "DROP TABLE IF EXISTS ");
    q(&b, "_tmp_", next->name);
    sh__sql_push(out, take(&b));
    create_table(next, "_tmp_", out);

    struct sh_buf cols, sel;
    sh_buf_init(&cols);
    sh_buf_init(&sel);
    for (size_t i = 0; i < next->nfields; i++) {
        const struct sh_field *nf = &next->fields[i];
        const struct sh_field *of = sh_collection_field_by_id(old, nf->id);
        if (!of)
            continue;
        if (cols.len) {
            sh_buf_appends(&cols, ", ");
            sh_buf_appends(&sel, ", ");
        }
        q(&cols, "", nf->name);
        struct sh_buf x;
        sh_buf_init(&x);
        q(&x, "", of->name);
        conv(&sel, col_class(of), col_class(nf), take(&x));
        sh_buf_deinit(&x);
    }
    sh_buf_init(&b);
    sh_buf_appends(&b, "INSERT INTO ");
    q(&b, "_tmp_", next->name);
    sh_buf_appends(&b, " (");
    sh_buf_append(&b, cols.data, cols.len);
    sh_buf_appends(&b, ") SELECT ");
    sh_buf_append(&b, sel.data, sel.len);
    sh_buf_appends(&b, " FROM ");
    q(&b, "", old->name);
    sh__sql_push(out, take(&b));
    sh_buf_deinit(&cols);
    sh_buf_deinit(&sel);

    push_f(out, "DROP TABLE %s", old->name, NULL);
    sh_buf_init(&b);
    sh_buf_appends(&b, "ALTER TABLE ");
    q(&b, "_tmp_", next->name);
    sh_buf_appends(&b, " RENAME TO ");
    q(&b, "", next->name);
    sh__sql_push(out, take(&b));
    create_indexes(next, out);
}

static bool has_index_ddl(const struct sh_collection *c, const char *table, const char *ddl)
{
    for (size_t i = 0; i < c->nindexes; i++) {
        char *s = sh_index_format(&c->indexes[i], table, '"', false);
        bool same = strcmp(s, ddl) == 0;
        free(s);
        if (same)
            return true;
    }
    return false;
}

static void rename_and_reindex(const struct sh_collection *old, const struct sh_collection *next,
                               struct sh_schema_sql *out)
{
    if (strcmp(old->name, next->name) != 0) {
        if (sh_schema_name_eq(old->name, next->name)) {
            /* SQLite refuses a rename that only changes case: go through a temporary name. */
            struct sh_buf b;
            sh_buf_init(&b);
            sh_buf_appends(&b, "ALTER TABLE ");
            q(&b, "", old->name);
            sh_buf_appends(&b, " RENAME TO ");
            q(&b, "_tmp_", next->name);
            sh__sql_push(out, take(&b));
            sh_buf_init(&b);
            sh_buf_appends(&b, "ALTER TABLE ");
            q(&b, "_tmp_", next->name);
            sh_buf_appends(&b, " RENAME TO ");
            q(&b, "", next->name);
            sh__sql_push(out, take(&b));
        } else {
            push_f(out, "ALTER TABLE %s RENAME TO %s", old->name, next->name);
        }
    }
    for (size_t i = 0; i < old->nindexes; i++) {
        char *ddl = sh_index_format(&old->indexes[i], next->name, '"', false);
        if (!has_index_ddl(next, next->name, ddl))
            push_f(out, "DROP INDEX IF EXISTS %s", old->indexes[i].name, NULL);
        free(ddl);
    }
    for (size_t i = 0; i < next->nindexes; i++) {
        char *ddl = sh_index_format(&next->indexes[i], next->name, '"', false);
        if (!has_index_ddl(old, next->name, ddl))
            sh__sql_push(out, ddl);
        else
            free(ddl);
    }
}

int sh_schema_migrate_sql(const struct sh_collection *old, const struct sh_collection *next,
                          struct sh_schema_sql *out, struct sh_schema_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    int rc = sh__collection_check_update(old, next, err);
    if (rc)
        return rc;
    if (next->type == SH_COLLECTION_VIEW) { /* a view keeps no data: made again */
        if (strcmp(old->name, next->name) != 0 ||
            strcmp(old->view_query ? old->view_query : "",
                   next->view_query ? next->view_query : "")) {
            sh_schema_drop_sql(old, out);
            create_view(next, out);
        }
        return 0;
    }
    if (needs_rebuild(old, next))
        rebuild(old, next, out);
    else
        rename_and_reindex(old, next, out);
    return 0;
}
