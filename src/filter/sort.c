/*
 * The `sort=` compiler: "-created,title,@random" becomes an ORDER BY list
 * (`"posts"."created" DESC, "posts"."title" ASC, RANDOM()`). Terms are field
 * paths resolved like filter operands (so `author.name` sorts by a subquery)
 * or the @random and @rowid macros; multi-valued and unfilterable fields are
 * refused, as is anything past SH_SORT_MAX_TERMS terms. A path through a
 * back-relation (`comments_via_post.created`) sorts by the smallest value of
 * its rows ascending and by the largest descending; no rows read as NULL.
 */
#include <string.h>

#include "filter_int.h"
#include "stagehand/core.h"

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int compile_term(struct sh__compiler *c, const char *s, size_t n, size_t off,
                        struct sh_filter_sql *out)
{
    const char *dir = " ASC";
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        dir = s[0] == '-' ? " DESC" : " ASC";
        s++, n--, off++;
    }
    if (n == 7 && memcmp(s, "@random", 7) == 0) {
        sh__sql_puts(out, "RANDOM()");
        return 0;
    }
    const char *qual = c->schema->alias ? c->schema->alias : c->schema->table;
    if (n == 6 && memcmp(s, "@rowid", 6) == 0 && sh__ident_ok(qual)) {
        sh__sql_putq(out, qual);
        sh__sql_puts(out, ".rowid");
        sh__sql_puts(out, dir);
        return 0;
    }

    /* The term must be one identifier token; it is then parsed as the left
     * side of a comparison so that the filter's identifier rules apply. */
    struct sh__lexer lx;
    struct sh__tok tok;
    struct sh_filter_error perr;
    sh__lexer_init(&lx, s, n);
    if (sh__lexer_next(&lx, &tok, &perr) || tok.type != SH_TOK_IDENT || tok.len != n)
        return sh__filter_fail(c->err, off, "Invalid sort: bad term at offset %zu.", off);
    struct sh_filter *f;
    char expr[SH_FILTER_MAX_LEN + 8];
    memcpy(expr, s, n);
    memcpy(expr + n, " = 1", 4);
    int rc = sh_filter_parse(expr, n + 4, &f, &perr);
    if (rc || f->root->kind != SH_NODE_CMP || f->root->l.kind != SH_OPND_FIELD) {
        sh_filter_free(f);
        return sh__filter_fail(c->err, off, "Invalid sort: bad term at offset %zu.", off);
    }
    struct sh__val v;
    rc = sh__resolve(c, &f->root->l, &v);
    if (rc == 0 && v.multi && v.via) {
        /* A back-relation: ascending by its smallest value, descending by
         * its largest (`-comments_via_post.created`: latest comment first). */
        sh__sql_puts(out, dir[1] == 'D' ? "(SELECT MAX(" : "(SELECT MIN(");
        sh__sql_append(out, &v.val);
        sh__sql_puts(out, ") FROM ");
        sh__sql_append(out, &v.from);
        sh__sql_puts(out, ")");
        sh__sql_puts(out, dir);
    } else if (rc == 0 && v.multi) {
        rc = sh__filter_fail(c->err, off, "Invalid sort: cannot sort by multi-valued \"%.*s\".",
                             n > 64 ? 64 : (int)n, s);
    } else if (rc == 0) {
        sh__sql_append(out, &v.val);
        sh__sql_puts(out, dir);
    }
    sh__val_deinit(&v); /* zeroed by sh__resolve when it fails */
    sh_filter_free(f);
    return rc;
}

int sh_sort_compile(const char *text, size_t len, const struct sh_filter_schema *schema,
                    struct sh_filter_sql *out, struct sh_filter_error *err)
{
    return sh_sort_compile_ctx(text, len, schema, NULL, out, err);
}

int sh_sort_compile_ctx(const char *text, size_t len, const struct sh_filter_schema *schema,
                        const struct sh_filter_ctx *ctx, struct sh_filter_sql *out,
                        struct sh_filter_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len > SH_FILTER_MAX_LEN)
        return sh__filter_fail(err, SH_FILTER_MAX_LEN,
                               "Invalid sort: too long (max %d characters).", SH_FILTER_MAX_LEN);
    int rc = sh__utf8_check(text, len, "sort", err);
    if (rc)
        return rc;
    struct sh__compiler c = {.schema = schema,
                             .err = err,
                             .what = "sort",
                             .sort = true,
                             .reads = &out->reads,
                             .root = schema->table};
    static const struct sh_filter_ctx none = {0};
    c.ctx = ctx ? ctx : &none;
    unsigned terms = 0;
    size_t i = 0;
    while (i < len) {
        size_t start = i, end;
        while (i < len && text[i] != ',')
            i++;
        end = i++;
        while (start < end && is_space(text[start]))
            start++;
        while (end > start && is_space(text[end - 1]))
            end--;
        if (start == end)
            continue; /* empty terms ("a,,b", a trailing comma) are skipped */
        if (++terms > SH_SORT_MAX_TERMS) {
            rc = sh__filter_fail(err, start, "Invalid sort: too many terms (max %d).",
                                 SH_SORT_MAX_TERMS);
            goto fail;
        }
        if (terms > 1)
            sh__sql_puts(out, ", ");
        if ((rc = compile_term(&c, text + start, end - start, start, out)))
            goto fail;
    }
    return 0;
fail:
    sh_filter_sql_deinit(out);
    return rc;
}
