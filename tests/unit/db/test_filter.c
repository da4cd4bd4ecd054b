/*
 * Unit tests of the filter language front end: tokenizer and parser, and
 * hostile input end to end (SQL injection attempts, bad bytes, size and
 * nesting limits, random garbage) with a check that no user text reaches SQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "filter_check.h"
#include "filter_int.h"

/* ---- tokenizer ---- */

static void test_filter_lex_tokens(void **state)
{
    (void)state;
    const char *text = "a.b:length ?!= -1.5 && (x || 'it\\'s') // comment\n<= @now ?~ !~ >=";
    struct {
        enum sh__tok_type type;
        const char *lexeme;
        enum sh__op op;
        bool any;
    } want[] = {
        {SH_TOK_IDENT, "a.b:length", 0, false},
        {SH_TOK_OP, "?!=", SH_OP_NEQ, true},
        {SH_TOK_NUMBER, "-1.5", 0, false},
        {SH_TOK_AND, "&&", 0, false},
        {SH_TOK_LPAREN, "(", 0, false},
        {SH_TOK_IDENT, "x", 0, false},
        {SH_TOK_OR, "||", 0, false},
        {SH_TOK_STRING, "'it\\'s'", 0, false},
        {SH_TOK_RPAREN, ")", 0, false},
        {SH_TOK_OP, "<=", SH_OP_LTE, false},
        {SH_TOK_IDENT, "@now", 0, false},
        {SH_TOK_OP, "?~", SH_OP_LIKE, true},
        {SH_TOK_OP, "!~", SH_OP_NLIKE, false},
        {SH_TOK_OP, ">=", SH_OP_GTE, false},
        {SH_TOK_EOF, "", 0, false},
        {SH_TOK_EOF, "", 0, false},
    };
    struct sh__lexer lx;
    struct sh__tok tok;
    struct sh_filter_error err;
    sh__lexer_init(&lx, text, strlen(text));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(sh__lexer_next(&lx, &tok, &err), 0);
        assert_int_equal(tok.type, want[i].type);
        assert_int_equal(tok.len, strlen(want[i].lexeme));
        assert_memory_equal(text + tok.off, want[i].lexeme, tok.len);
        if (tok.type == SH_TOK_OP) {
            assert_int_equal(tok.op, want[i].op);
            assert_int_equal(tok.any, want[i].any);
        }
        if (tok.type == SH_TOK_STRING) {
            char buf[16];
            size_t n = sh__lexer_unquote(text, &tok, buf);
            assert_int_equal(n, 4);
            assert_memory_equal(buf, "it's", 4);
        }
    }
}

static void test_filter_lex_strings(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {"\"double \\\"q\\\" 'single'\"", "double \"q\" 'single'"},
        {"'a\\\\b'", "a\\b"},
        {"'keep \\n \\% \\_'", "keep \\n \\% \\_"},
        {"''", ""},
        {"'multi\nline'", "multi\nline"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sh__lexer lx;
        struct sh__tok tok;
        struct sh_filter_error err;
        char buf[64];
        sh__lexer_init(&lx, cases[i].in, strlen(cases[i].in));
        assert_int_equal(sh__lexer_next(&lx, &tok, &err), 0);
        assert_int_equal(tok.type, SH_TOK_STRING);
        assert_int_equal(tok.len, strlen(cases[i].in));
        size_t n = sh__lexer_unquote(cases[i].in, &tok, buf);
        buf[n] = '\0';
        assert_string_equal(buf, cases[i].out);
    }
}

static void test_filter_lex_errors(void **state)
{
    (void)state;
    struct {
        const char *in;
        size_t off;
        const char *msg;
    } cases[] = {
        {"'open", 0, "Invalid filter: unterminated string at offset 0."},
        {"a = 'x\\'", 4, "Invalid filter: unterminated string at offset 4."},
        {"  & b", 2, "Invalid filter: unexpected character at offset 2."},
        {"|", 0, "Invalid filter: unexpected character at offset 0."},
        {"!", 0, "Invalid filter: unexpected character at offset 0."},
        {"?", 0, "Invalid filter: unexpected character at offset 0."},
        {"?&", 0, "Invalid filter: unexpected character at offset 0."},
        {";", 0, "Invalid filter: unexpected character at offset 0."},
        {"-x", 0, "Invalid filter: unexpected character at offset 0."},
        {"12abc", 0, "Invalid filter: bad number at offset 0."},
        {"1.", 0, "Invalid filter: bad number at offset 0."},
        {"1.2.3", 0, "Invalid filter: bad number at offset 0."},
        {"\xc3\xa9", 0, "Invalid filter: unexpected character at offset 0."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sh__lexer lx;
        struct sh__tok tok;
        struct sh_filter_error err = {0};
        int rc = 0;
        sh__lexer_init(&lx, cases[i].in, strlen(cases[i].in));
        do {
            rc = sh__lexer_next(&lx, &tok, &err);
        } while (rc == 0 && tok.type != SH_TOK_EOF);
        assert_int_equal(rc, SH_EINVAL);
        assert_int_equal(err.offset, cases[i].off);
        assert_string_equal(err.message, cases[i].msg);
    }
}

static void test_filter_lex_utf8(void **state)
{
    (void)state;
    struct sh_filter_error err;
    const char ok[] = "'h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80'";
    assert_int_equal(sh__utf8_check(ok, sizeof(ok) - 1, "filter", &err), 0);
    static const struct {
        const char *s;
        size_t len, off;
    } bad[] = {
        {"ab\0c", 4, 2},            /* NUL */
        {"a\xff", 2, 1},            /* never valid */
        {"\xc0\xaf", 2, 0},         /* overlong '/' */
        {"x\xed\xa0\x80", 4, 1},    /* UTF-16 surrogate */
        {"\xf4\x90\x80\x80", 4, 0}, /* past U+10FFFF */
        {"ok\xe2\x9c", 4, 2},       /* truncated */
        {"\x80", 1, 0},             /* lone continuation byte */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sh__utf8_check(bad[i].s, bad[i].len, "filter", &err), SH_EINVAL);
        assert_int_equal(err.offset, bad[i].off);
    }
}

/* ---- parser ---- */

static void test_filter_parse_tree(void **state)
{
    (void)state;
    struct sh_filter *f;
    struct sh_filter_error err;
    const char *text = "a = 1 || b != 'x' && (c ?> 2.5 || d = true) // trailing";
    assert_int_equal(sh_filter_parse(text, strlen(text), &f, &err), 0);
    assert_false(sh_filter_is_empty(f));
    assert_false(sh_filter_uses_request(f));
    const struct sh__node *root = f->root;
    assert_int_equal(root->kind, SH_NODE_OR); /* && binds tighter than || */
    const struct sh__node *a = root->first, *and = a->next;
    assert_int_equal(a->kind, SH_NODE_CMP);
    assert_int_equal(a->l.kind, SH_OPND_FIELD);
    assert_string_equal(a->l.text, "a");
    assert_int_equal(a->r.kind, SH_OPND_INT);
    assert_int_equal(a->r.i, 1);
    assert_int_equal(and->kind, SH_NODE_AND);
    assert_null(and->next);
    const struct sh__node *b = and->first, *group = b->next;
    assert_int_equal(b->op, SH_OP_NEQ);
    assert_int_equal(b->r.kind, SH_OPND_TEXT);
    assert_string_equal(b->r.text, "x");
    assert_int_equal(group->kind, SH_NODE_OR);
    assert_int_equal(group->first->op, SH_OP_GT);
    assert_true(group->first->any);
    assert_int_equal(group->first->r.kind, SH_OPND_DOUBLE);
    assert_true(group->first->r.d == 2.5);
    assert_int_equal(group->first->next->r.kind, SH_OPND_BOOL);
    assert_int_equal(f->nexprs, 4);
    sh_filter_free(f);
}

static void test_filter_parse_operands(void **state)
{
    (void)state;
    struct sh_filter *f;
    struct sh_filter_error err;
    const char *text = "@request.body.tags:isset = null && -9223372036854775808 < "
                       "99999999999999999999 && tags:length > @request.auth.org.name";
    assert_int_equal(sh_filter_parse(text, strlen(text), &f, &err), 0);
    assert_true(sh_filter_uses_request(f));
    const struct sh__node *n = f->root->first;
    assert_int_equal(n->l.kind, SH_OPND_MACRO);
    assert_int_equal(n->l.macro, SH_MACRO_BODY);
    assert_int_equal(n->l.mod, SH_MOD_ISSET);
    assert_string_equal(n->l.text, "tags");
    assert_int_equal(n->r.kind, SH_OPND_NULL);
    n = n->next;
    assert_int_equal(n->l.kind, SH_OPND_INT);
    assert_true(n->l.i == INT64_MIN);
    assert_int_equal(n->r.kind, SH_OPND_DOUBLE); /* too big for int64 */
    n = n->next;
    assert_int_equal(n->l.mod, SH_MOD_LENGTH);
    assert_int_equal(n->r.macro, SH_MACRO_AUTH);
    assert_string_equal(n->r.text, "org.name");
    sh_filter_free(f);

    /* Time macros do not count as @request use. */
    assert_int_equal(sh_filter_parse("created > @todayStart", 21, &f, &err), 0);
    assert_false(sh_filter_uses_request(f));
    sh_filter_free(f);
}

static void test_filter_parse_empty(void **state)
{
    (void)state;
    const char *texts[] = {"", "   \n\t", "// only a comment", "// a\n  // b\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct sh_filter *f;
        struct sh_filter_error err;
        assert_int_equal(sh_filter_parse(texts[i], strlen(texts[i]), &f, &err), 0);
        assert_true(sh_filter_is_empty(f));
        struct sh_filter_sql q = expect_sql(texts[i], "1");
        sh_filter_sql_deinit(&q);
        sh_filter_free(f);
    }
}

static void test_filter_parse_refcount(void **state)
{
    (void)state;
    struct sh_filter *f;
    struct sh_filter_error err;
    assert_int_equal(sh_filter_parse("a = 1", 5, &f, &err), 0);
    struct sh_filter *g = sh_filter_ref(f);
    assert_ptr_equal(f, g);
    sh_filter_free(f);
    assert_false(sh_filter_is_empty(g)); /* still alive: ASan would object */
    sh_filter_free(g);
    sh_filter_free(NULL);
}

static void test_filter_parse_errors(void **state)
{
    (void)state;
    expect_error("title =", "Invalid filter: expected a value at offset 7.");
    expect_error("title \"x\"", "Invalid filter: expected an operator at offset 6.");
    expect_error("(title = 1", "Invalid filter: expected ')' at offset 10.");
    expect_error("title = 1)", "Invalid filter: unexpected ')' at offset 9.");
    expect_error("title = 1 views = 2", "Invalid filter: expected '&&' or '||' at offset 10.");
    expect_error("title == 1", "Invalid filter: expected a value at offset 7.");
    expect_error("()", "Invalid filter: expected a value at offset 1.");
    expect_error("title = 1 &&", "Invalid filter: expected a value at offset 12.");
    expect_error("&& title = 1", "Invalid filter: expected a value at offset 0.");
    expect_error("title = 'abc", "Invalid filter: unterminated string at offset 8.");
    expect_error("a..b = 1", "Invalid filter: invalid field name at offset 0.");
    expect_error("a. = 1", "Invalid filter: invalid field name at offset 0.");
    expect_error("title:foo = 1", "Invalid filter: unknown modifier at offset 5.");
    expect_error("title:isset = 1", "Invalid filter: modifier not allowed here at offset 0.");
    expect_error("@request.auth.id:isset = 1",
                 "Invalid filter: modifier not allowed here at offset 0.");
    expect_error("@collection.nowhere.id = 1",
                 "Invalid filter: unknown collection \"@collection.nowhere\".");
    expect_error("@request.auth = 1",
                 "Invalid filter: unknown macro \"@request.auth\" at offset 0.");
    expect_error("@request.body. = 1",
                 "Invalid filter: unknown macro \"@request.body.\" at offset 0.");
}

/* ---- hostile input ---- */

static void test_filter_hostile_injection(void **state)
{
    (void)state;
    static const char *const values[] = {
        "'; DROP TABLE posts; --",
        "\\' OR 1=1 --",
        "\" OR \"\"=\"",
        "x'); DELETE FROM users WHERE ('a'='a",
        "%' OR '1'='1",
        "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80 \xe2\x80\xae",
        "?; ?",
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        /* Quote the value with the quote it does not contain, else escape. */
        char text[256];
        const char *v = values[i];
        char quote = strchr(v, '\'') ? '"' : '\'';
        size_t n = (size_t)snprintf(text, sizeof(text), "title = %c", quote);
        for (const char *p = v; *p; p++) {
            if (*p == quote || *p == '\\')
                text[n++] = '\\';
            text[n++] = *p;
        }
        text[n++] = quote;
        text[n] = '\0';
        struct sh_filter_sql q;
        struct sh_filter_error err;
        assert_int_equal(compile_ctx(text, NULL, &q, &err), 0);
        assert_string_equal(q.sql, "\"posts\".\"title\" = ?");
        assert_text_param(&q, 0, v);
        sh_filter_sql_deinit(&q);
    }
    expect_error("title = 'x' OR 1=1", "Invalid filter: expected '&&' or '||' at offset 12.");
    expect_error("title = 1; DROP TABLE posts",
                 "Invalid filter: unexpected character at offset 9.");
    expect_error("title = 1 -- comment", "Invalid filter: unexpected character at offset 10.");
    expect_error("title\" = 1", "Invalid filter: unterminated string at offset 5.");
    expect_error("title = 1 /* x */", "Invalid filter: unexpected character at offset 10.");
    expect_error("t\xc3\xaftle = 1", "Invalid filter: unexpected character at offset 1.");
    expect_error("bad\"name = 1", "Invalid filter: unterminated string at offset 3.");
    /* A schema field with an unsafe name is never emitted, even if asked for
     * by a path that lexes (it cannot: quotes end identifiers). */
    assert_false(sh__ident_ok("bad\"name"));
    assert_false(sh__ident_ok("1abc"));
    assert_false(sh__ident_ok(""));
    assert_true(sh__ident_ok("_superusers"));
}

static void test_filter_hostile_bytes(void **state)
{
    (void)state;
    struct sh_filter *f;
    struct sh_filter_error err;
    const char nul[] = "title = 'a\0b'";
    assert_int_equal(sh_filter_parse(nul, sizeof(nul) - 1, &f, &err), SH_EINVAL);
    assert_null(f);
    assert_int_equal(err.offset, 10);
    assert_string_equal(err.message, "Invalid filter: invalid character at offset 10.");
    const char bad[] = "title = '\xff'";
    assert_int_equal(sh_filter_parse(bad, sizeof(bad) - 1, &f, &err), SH_EINVAL);
    assert_int_equal(err.offset, 9);
    /* Not NUL-terminated input is read only up to len. */
    const char part[] = "title = 1garbage";
    assert_int_equal(sh_filter_parse(part, 9, &f, &err), 0);
    sh_filter_free(f);
}

static char *repeat(const char *head, const char *unit, size_t times, const char *tail)
{
    size_t hn = strlen(head), un = strlen(unit), tn = strlen(tail);
    char *s = malloc(hn + un * times + tn + 1);
    memcpy(s, head, hn);
    for (size_t i = 0; i < times; i++)
        memcpy(s + hn + i * un, unit, un);
    memcpy(s + hn + un * times, tail, tn + 1);
    return s;
}

static void test_filter_hostile_limits(void **state)
{
    (void)state;
    struct sh_filter_sql q;
    struct sh_filter_error err;

    /* 10,000 parentheses and 10,000 terms: over the length limit. */
    char *open = repeat("", "(", 10000, "title = 1");
    char *deep = repeat(open, ")", 10000, "");
    assert_int_equal(compile_ctx(deep, NULL, &q, &err), SH_EINVAL);
    assert_string_equal(err.message, "Invalid filter: too long (max 3500 characters).");
    free(open);
    free(deep);
    char *many = repeat("title = 1", " && title = 1", 9999, "");
    assert_int_equal(compile_ctx(many, NULL, &q, &err), SH_EINVAL);
    assert_string_equal(err.message, "Invalid filter: too long (max 3500 characters).");
    free(many);

    /* 3500 bytes pass, 3501 do not. */
    char *s3500 = repeat("title = '", "x", 3500 - 10, "'");
    assert_int_equal(strlen(s3500), 3500);
    assert_int_equal(compile_ctx(s3500, NULL, &q, &err), 0);
    sh_filter_sql_deinit(&q);
    free(s3500);
    char *s3501 = repeat("title = '", "x", 3501 - 10, "'");
    assert_int_equal(compile_ctx(s3501, NULL, &q, &err), SH_EINVAL);
    assert_int_equal(err.offset, 3500);
    free(s3501);

    /* Depth 64 passes, 65 does not, within the length limit. */
    open = repeat("", "(", 64, "a=1");
    deep = repeat(open, ")", 64, "");
    free(open);
    struct sh_filter *f;
    assert_int_equal(sh_filter_parse(deep, strlen(deep), &f, &err), 0);
    sh_filter_free(f);
    free(deep);
    open = repeat("", "(", 65, "a=1");
    deep = repeat(open, ")", 65, "");
    free(open);
    assert_int_equal(sh_filter_parse(deep, strlen(deep), &f, &err), SH_EINVAL);
    assert_string_equal(err.message, "Invalid filter: nested too deeply (max 64) at offset 64.");
    free(deep);
    char *unclosed = repeat("", "(", 3000, "");
    assert_int_equal(sh_filter_parse(unclosed, strlen(unclosed), &f, &err), SH_EINVAL);
    free(unclosed);

    /* The longest JSON path that fits, and one segment too many. */
    char *seg = repeat(".", "k", 111, "");
    char *path = repeat("data", seg, 31, " = 1");
    assert_true(strlen(path) <= SH_FILTER_MAX_LEN);
    assert_int_equal(compile_ctx(path, NULL, &q, &err), 0);
    assert_int_equal(q.params[0].len, 1 + 31 * (111 + 3));
    sh_filter_sql_deinit(&q);
    free(path);
    path = repeat("data", ".k", 32, " = 1");
    assert_int_equal(compile_ctx(path, NULL, &q, &err), SH_EINVAL);
    assert_true(strstr(err.message, "field path too long") != NULL);
    free(path);
    free(seg);

    /* 200 comparisons pass, 201 do not; alternating groups too. */
    many = repeat("id=1", "||id=1", 199, "");
    assert_int_equal(compile_ctx(many, NULL, &q, &err), 0);
    sh_filter_sql_deinit(&q);
    free(many);
    many = repeat("id=1", "||id=1", 200, "");
    assert_int_equal(compile_ctx(many, NULL, &q, &err), SH_EINVAL);
    assert_string_equal(err.message, "Invalid filter: too many expressions (max 200).");
    free(many);
    many = repeat("(id=1||id=2)", "&&(id=1||id=2)", 100, "");
    assert_int_equal(compile_ctx(many, NULL, &q, &err), SH_EINVAL);
    free(many);
}

/* Random filters, mostly well-formed with garbage mixed in: whatever is
 * thrown at them, the parser and compiler return cleanly (ASan/UBSan watch),
 * and compiled SQL carries no user text (assert_sql_sane). */
static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static void test_filter_hostile_random(void **state)
{
    (void)state;
    static const char *const operands[] = {"title",
                                           "tags",
                                           "author.name",
                                           "editors.name",
                                           "data.a.1",
                                           "@request.auth.id",
                                           "@request.body.x:isset",
                                           "@request.body.x",
                                           "tags:length",
                                           "'x'",
                                           "\"y\"",
                                           "'%_\\\\'",
                                           "12",
                                           "-3.5",
                                           "null",
                                           "true",
                                           "parent.parent.title",
                                           "author.org.name",
                                           "foo",
                                           "@now",
                                           "author.roles",
                                           "@request.auth.org.name",
                                           "title:lower",
                                           "'; DROP TABLE posts --'"};
    static const char *const ops[] = {"=", "!=", "~", "!~", "?=", "?!~", ">", "<=", "?>", "?~"};
    static const char *const garbage[] = {"(",     ")",  "&&",       "||", "'",  "\\",
                                          ";",     "--", "\xc3\xa9", "@",  ".",  ":",
                                          "//c\n", "?",  "!",        "\"", "1e5"};
    uint64_t x = 0x9e3779b97f4a7c15u;
    cJSON *auth = cJSON_Parse("{\"id\":\"u1\",\"org\":\"o1\"}");
    cJSON *body = cJSON_Parse("{\"x\":[1,2]}");
    struct sh_filter_ctx ctx = {.auth = auth, .auth_schema = &fixture_users, .body = body};
    unsigned ok = 0, failed = 0;
    for (int iter = 0; iter < 20000; iter++) {
        char text[1024];
        size_t n = 0;
        int terms = 1 + (int)(rnd(&x) % 8), open = 0;
        for (int k = 0; k < terms; k++) {
            const char *parts[8];
            size_t np = 0;
            if (k > 0)
                parts[np++] = rnd(&x) % 2 ? " && " : " || ";
            if (rnd(&x) % 4 == 0)
                parts[np++] = "(", open++;
            parts[np++] = operands[rnd(&x) % (sizeof(operands) / sizeof(operands[0]))];
            parts[np++] = ops[rnd(&x) % (sizeof(ops) / sizeof(ops[0]))];
            parts[np++] = operands[rnd(&x) % (sizeof(operands) / sizeof(operands[0]))];
            if (open > 0 && rnd(&x) % 3 == 0)
                parts[np++] = ")", open--;
            if (rnd(&x) % 10 == 0)
                parts[np++] = garbage[rnd(&x) % (sizeof(garbage) / sizeof(garbage[0]))];
            for (size_t i = 0; i < np; i++) {
                size_t an = strlen(parts[i]);
                memcpy(text + n, parts[i], an);
                n += an;
                text[n++] = ' ';
            }
        }
        while (open-- > 0)
            text[n++] = ')';
        text[n] = '\0';
        struct sh_filter_sql q;
        struct sh_filter_error err;
        int rc = compile_ctx(text, (rnd(&x) & 1) ? &ctx : NULL, &q, &err);
        if (rc == 0) {
            ok++;
            sh_filter_sql_deinit(&q);
        } else {
            failed++;
            assert_int_equal(rc, SH_EINVAL);
            size_t ml = strlen(err.message);
            assert_true(ml > 0 && err.message[ml - 1] == '.');
        }
    }
    assert_true(ok > 1000 && failed > 1000); /* both paths are exercised */
    cJSON_Delete(auth);
    cJSON_Delete(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_lex_tokens),
        cmocka_unit_test(test_filter_lex_strings),
        cmocka_unit_test(test_filter_lex_errors),
        cmocka_unit_test(test_filter_lex_utf8),
        cmocka_unit_test(test_filter_parse_tree),
        cmocka_unit_test(test_filter_parse_operands),
        cmocka_unit_test(test_filter_parse_empty),
        cmocka_unit_test(test_filter_parse_refcount),
        cmocka_unit_test(test_filter_parse_errors),
        cmocka_unit_test(test_filter_hostile_injection),
        cmocka_unit_test(test_filter_hostile_bytes),
        cmocka_unit_test(test_filter_hostile_limits),
        cmocka_unit_test(test_filter_hostile_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
