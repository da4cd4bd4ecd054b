/*
 * Types of a view's computed columns. SQLite tells the source of a column
 * read straight from a table (view.c copies that field), not what an
 * expression yields; PocketBase infers `count(...)`, `total(...)` and
 * `cast(... as T)` and makes everything else json. This file does more, from
 * the query's text: it tokenizes the SQL (strings, quoted names, comments),
 * finds the outermost SELECT's result columns (outside parentheses and
 * CASE ... END, so CTE bodies and subqueries are skipped) and classifies
 * each expression by its top-level operator, else by its single term:
 *  - a comparison or logical operator (`=`, `<`, `IS`, `IN`, `LIKE`,
 *    `BETWEEN`, `AND`, `OR`, `NOT`, `EXISTS`, ...): number (SQLite's 0/1);
 *  - `||`: text; `->`, `->>`: json; arithmetic (`+ - * / %`, bit ops): number;
 *  - a number literal: number; a string literal: text; TRUE/FALSE: bool;
 *  - `cast(x AS T)`: by T's affinity (INT, REAL, NUMERIC: number; TEXT,
 *    CHAR, CLOB: text; BOOL: bool);
 *  - a call of an aggregate or scalar function whose result type is fixed
 *    (count, sum, avg, total, length, abs, round, ...: number; lower, upper,
 *    substr, replace, printf, group_concat, date, strftime, ...: text),
 *    optionally followed by FILTER (...) or OVER (...);
 *  - a parenthesised expression: its content's type;
 *  - anything else (a scalar subquery, CASE, coalesce, min, max, ...): json,
 *    as PocketBase.
 * When the columns cannot be matched one to one with the statement's (a
 * `*`, a count that differs), every computed column stays json.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema_int.h"
#include "stagehand/core.h"

enum tk { T_WORD, T_QUOTED, T_NUM, T_STR, T_OP, T_LP, T_RP, T_COMMA, T_SEMI };

struct tok {
    enum tk t;
    const char *s;
    size_t n;
};

static bool word_is(const struct tok *k, const char *w)
{
    return k->t == T_WORD && strlen(w) == k->n && strncasecmp(k->s, w, k->n) == 0;
}

static bool op_is(const struct tok *k, const char *op)
{
    return k->t == T_OP && strlen(op) == k->n && memcmp(k->s, op, k->n) == 0;
}

/* Splits sql into tokens (comments and whitespace dropped); *n set. The
 * array is newly allocated. */
static struct tok *tokenize(const char *sql, size_t *n)
{
    size_t len = strlen(sql), cap = len + 1, k = 0;
    struct tok *v = sh_malloc(cap * sizeof(*v));
    const char *p = sql, *end = sql + len;
    while (p < end) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (p[0] == '-' && p + 1 < end && p[1] == '-') {
            while (p < end && *p != '\n')
                p++;
            continue;
        }
        if (p[0] == '/' && p + 1 < end && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : end;
            continue;
        }
        struct tok t = {T_OP, p, 1};
        if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
            char close = *p == '[' ? ']' : *p;
            const char *q = p + 1;
            while (q < end) {
                if (*q == close && !(close != ']' && q + 1 < end && q[1] == close))
                    break;
                q += *q == close ? 2 : 1; /* a doubled quote is a quote */
            }
            t.t = *p == '\'' ? T_STR : T_QUOTED;
            t.n = (size_t)((q < end ? q + 1 : end) - p);
        } else if (isdigit((unsigned char)*p) ||
                   (*p == '.' && p + 1 < end && isdigit((unsigned char)p[1]))) {
            const char *q = p;
            while (q < end && (isalnum((unsigned char)*q) || *q == '.' ||
                               ((*q == '+' || *q == '-') && (q[-1] == 'e' || q[-1] == 'E'))))
                q++;
            t.t = T_NUM;
            t.n = (size_t)(q - p);
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            const char *q = p;
            while (q < end && (isalnum((unsigned char)*q) || *q == '_' || *q == '$'))
                q++;
            t.t = T_WORD;
            t.n = (size_t)(q - p);
        } else if (*p == '(') {
            t.t = T_LP;
        } else if (*p == ')') {
            t.t = T_RP;
        } else if (*p == ',') {
            t.t = T_COMMA;
        } else if (*p == ';') {
            t.t = T_SEMI;
        } else {
            static const char *const multi[] = {
                "->>", "||", "->", "==", "!=", "<>", "<=", ">=", "<<", ">>"};
            for (size_t i = 0; i < SH_ARRAY_LEN(multi); i++) {
                size_t ml = strlen(multi[i]);
                if ((size_t)(end - p) >= ml && memcmp(p, multi[i], ml) == 0) {
                    t.n = ml;
                    break;
                }
            }
        }
        v[k++] = t;
        p += t.n;
    }
    *n = k;
    return v;
}

/* The nesting change of token k: parentheses and CASE ... END. */
static int depth_step(const struct tok *k)
{
    if (k->t == T_LP || word_is(k, "CASE"))
        return 1;
    if (k->t == T_RP || word_is(k, "END"))
        return -1;
    return 0;
}

/* The index of the token closing the group opened at v[i], or n. */
static size_t close_of(const struct tok *v, size_t i, size_t n)
{
    int d = 0;
    for (size_t k = i; k < n; k++) {
        d += depth_step(&v[k]);
        if (d == 0)
            return k;
    }
    return n;
}

static bool in_list(const struct tok *k, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (word_is(k, words[i]))
            return true;
    return false;
}

static const char *const cmp_words[] = {"IS",     "IN",      "LIKE",   "GLOB", "MATCH",
                                        "REGEXP", "BETWEEN", "AND",    "OR",   "NOT",
                                        "EXISTS", "ISNULL",  "NOTNULL"};

static const char *const number_funcs[] = {
    "count",     "sum",        "avg",   "total",        "length",    "octet_length",
    "abs",       "round",      "instr", "unicode",      "random",    "json_array_length",
    "julianday", "unixepoch",  "sign",  "ceil",         "ceiling",   "floor",
    "trunc",     "exp",        "ln",    "log",          "log2",      "log10",
    "pow",       "power",      "sqrt",  "mod",          "pi",        "row_number",
    "rank",      "dense_rank", "ntile", "percent_rank", "cume_dist", "json_valid"};

static const char *const text_funcs[] = {
    "lower",     "upper",        "trim",       "ltrim",     "rtrim",   "substr",
    "substring", "replace",      "printf",     "format",    "hex",     "quote",
    "char",      "group_concat", "string_agg", "date",      "time",    "datetime",
    "strftime",  "typeof",       "concat",     "concat_ws", "soundex", "json_type"};

/* The type a CAST target (tokens [a, b)) gives, by SQLite's affinity rules. */
static const char *cast_type(const struct tok *v, size_t a, size_t b)
{
    char name[64];
    size_t n = 0;
    for (size_t i = a; i < b && v[i].t == T_WORD; i++)
        for (size_t j = 0; j < v[i].n && n + 1 < sizeof(name); j++)
            name[n++] = (char)toupper((unsigned char)v[i].s[j]);
    name[n] = '\0';
    if (strstr(name, "BOOL"))
        return "bool";
    if (strstr(name, "INT"))
        return "number";
    if (strstr(name, "CHAR") || strstr(name, "CLOB") || strstr(name, "TEXT"))
        return "text";
    if (strstr(name, "BLOB") || !n)
        return NULL;
    return "number"; /* REAL, FLOAT, DOUBLE, NUMERIC, DECIMAL, ... */
}

/* The type of the expression v[a, b), or NULL (json). */
static const char *classify(const struct tok *v, size_t a, size_t b)
{
    if (a >= b)
        return NULL;
    bool cmp = false, concat = false, arrow = false, arith = false;
    int d = 0;
    for (size_t i = a; i < b; i++) {
        int step = depth_step(&v[i]);
        if (d == 0 && step == 0) {
            const struct tok *k = &v[i];
            if (op_is(k, "=") || op_is(k, "==") || op_is(k, "!=") || op_is(k, "<>") ||
                op_is(k, "<") || op_is(k, "<=") || op_is(k, ">") || op_is(k, ">=") ||
                in_list(k, cmp_words, SH_ARRAY_LEN(cmp_words)))
                cmp = true;
            else if (op_is(k, "||"))
                concat = true;
            else if (op_is(k, "->") || op_is(k, "->>"))
                arrow = true;
            else if (op_is(k, "+") || op_is(k, "-") || op_is(k, "*") || op_is(k, "/") ||
                     op_is(k, "%") || op_is(k, "&") || op_is(k, "|") || op_is(k, "<<") ||
                     op_is(k, ">>") || op_is(k, "~"))
                arith = true;
        }
        d += step;
    }
    if (cmp)
        return "number";
    if (concat)
        return "text";
    if (arrow)
        return NULL;
    if (arith)
        return "number";
    const struct tok *f = &v[a];
    if (b - a == 1) {
        if (f->t == T_NUM)
            return "number";
        if (f->t == T_STR)
            return "text";
        if (word_is(f, "TRUE") || word_is(f, "FALSE"))
            return "bool";
        return NULL;
    }
    if (f->t == T_LP) {
        size_t c = close_of(v, a, b);
        if (c + 1 != b || (a + 1 < c && word_is(&v[a + 1], "SELECT")))
            return NULL; /* a subquery: json */
        return classify(v, a + 1, c);
    }
    if (f->t != T_WORD || v[a + 1].t != T_LP)
        return NULL;
    size_t c = close_of(v, a + 1, b);
    if (c >= b)
        return NULL;
    /* only FILTER (...) or OVER (...|name) may follow the call */
    if (c + 1 < b && !word_is(&v[c + 1], "FILTER") && !word_is(&v[c + 1], "OVER"))
        return NULL;
    if (word_is(f, "CAST")) {
        int dd = 0;
        for (size_t i = a + 2; i < c; i++) {
            if (dd == 0 && word_is(&v[i], "AS"))
                return cast_type(v, i + 1, c);
            dd += depth_step(&v[i]);
        }
        return NULL;
    }
    if (in_list(f, number_funcs, SH_ARRAY_LEN(number_funcs)))
        return "number";
    if (in_list(f, text_funcs, SH_ARRAY_LEN(text_funcs)))
        return "text";
    return NULL;
}

/* Words that end an expression rather than name its alias. */
static const char *const not_alias[] = {
    "NULL", "TRUE", "FALSE", "END", "CURRENT_TIME", "CURRENT_DATE", "CURRENT_TIMESTAMP"};

/* The expression of result column v[a, b) without its alias. */
static size_t strip_alias(const struct tok *v, size_t a, size_t b)
{
    if (b - a >= 3 && word_is(&v[b - 2], "AS"))
        return b - 2;
    if (b - a < 2)
        return b;
    const struct tok *last = &v[b - 1], *prev = &v[b - 2];
    bool name = last->t == T_QUOTED ||
                (last->t == T_WORD && !in_list(last, not_alias, SH_ARRAY_LEN(not_alias)));
    bool ends = prev->t == T_RP || prev->t == T_NUM || prev->t == T_STR || prev->t == T_QUOTED ||
                (prev->t == T_WORD && !in_list(prev, cmp_words, SH_ARRAY_LEN(cmp_words)) &&
                 !word_is(prev, "COLLATE"));
    return name && ends ? b - 1 : b;
}

bool sh__view_column_types(const char *query, int ncols, const char **types)
{
    for (int i = 0; i < ncols; i++)
        types[i] = NULL;
    size_t n;
    struct tok *v = tokenize(query, &n);
    size_t i = 0;
    int d = 0;
    for (; i < n; i++) { /* the outermost SELECT */
        if (d == 0 && word_is(&v[i], "SELECT"))
            break;
        d += depth_step(&v[i]);
    }
    if (++i < n && (word_is(&v[i], "DISTINCT") || word_is(&v[i], "ALL")))
        i++;
    static const char *const stops[] = {"FROM",  "WHERE", "GROUP", "HAVING", "WINDOW",
                                        "ORDER", "LIMIT", "UNION", "EXCEPT", "INTERSECT"};
    const char **found = sh_malloc(((size_t)ncols + 1) * sizeof(*found));
    int cols = 0;
    bool ok = i < n;
    size_t start = i;
    d = 0;
    for (; ok && i <= n; i++) {
        bool end = i == n || (d == 0 && (v[i].t == T_SEMI || v[i].t == T_RP ||
                                         in_list(&v[i], stops, SH_ARRAY_LEN(stops))));
        if (end || (d == 0 && v[i].t == T_COMMA)) {
            size_t e = strip_alias(v, start, i);
            bool star = (e - start == 1 && op_is(&v[start], "*")) ||
                        (e - start >= 3 && op_is(&v[e - 1], "*") && op_is(&v[e - 2], "."));
            if (star || e == start || cols == ncols) {
                ok = false;
                break;
            }
            found[cols++] = classify(v, start, e);
            start = i + 1;
            if (end)
                break;
            continue;
        }
        d += depth_step(&v[i]);
    }
    ok = ok && cols == ncols;
    for (int k = 0; ok && k < ncols; k++)
        types[k] = found[k];
    free(found);
    free(v);
    return ok;
}
