/*
 * Tokenizer of the filter language: turns filter text into identifiers,
 * quoted strings, numbers, comparison operators, `&&`, `||` and parentheses,
 * skipping whitespace and `//` comments. Outside strings only ASCII is
 * accepted; sh__utf8_check validates a whole text (UTF-8, no NUL) before it is
 * lexed. Tokens point into the text; string escapes are decoded on demand by
 * sh__lexer_unquote, so the lexer itself never allocates.
 */
#include <string.h>

#include "filter_int.h"
#include "stagehand/core.h"

void sh__lexer_init(struct sh__lexer *lx, const char *text, size_t len)
{
    lx->text = text;
    lx->len = len;
    lx->pos = 0;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Characters that may follow the first one of an identifier: field paths are
 * dotted (`author.name`) and may end with a modifier (`tags:length`). */
static bool is_ident_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '.' || c == ':';
}

static void skip_space_and_comments(struct sh__lexer *lx)
{
    while (lx->pos < lx->len) {
        unsigned char c = (unsigned char)lx->text[lx->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            lx->pos++;
        } else if (c == '/' && lx->pos + 1 < lx->len && lx->text[lx->pos + 1] == '/') {
            while (lx->pos < lx->len && lx->text[lx->pos] != '\n')
                lx->pos++;
        } else {
            return;
        }
    }
}

/* Reads a comparison operator at p (after an optional '?'); returns its length
 * or 0 if there is none. */
static size_t read_op(const char *p, size_t avail, enum sh__op *op)
{
    char c0 = avail > 0 ? p[0] : 0, c1 = avail > 1 ? p[1] : 0;
    switch (c0) {
    case '=':
        *op = SH_OP_EQ;
        return 1;
    case '~':
        *op = SH_OP_LIKE;
        return 1;
    case '!':
        if (c1 == '=') {
            *op = SH_OP_NEQ;
            return 2;
        }
        if (c1 == '~') {
            *op = SH_OP_NLIKE;
            return 2;
        }
        return 0;
    case '>':
        *op = c1 == '=' ? SH_OP_GTE : SH_OP_GT;
        return c1 == '=' ? 2 : 1;
    case '<':
        *op = c1 == '=' ? SH_OP_LTE : SH_OP_LT;
        return c1 == '=' ? 2 : 1;
    default:
        return 0;
    }
}

static int lex_string(struct sh__lexer *lx, struct sh__tok *tok, struct sh_filter_error *err)
{
    char quote = lx->text[lx->pos];
    size_t i = lx->pos + 1;
    while (i < lx->len) {
        char c = lx->text[i];
        if (c == '\\' && i + 1 < lx->len) {
            i += 2; /* the escaped byte never ends the string */
            continue;
        }
        if (c == quote) {
            tok->type = SH_TOK_STRING;
            tok->len = i + 1 - lx->pos;
            lx->pos = i + 1;
            return 0;
        }
        i++;
    }
    return sh__filter_fail(err, lx->pos, "Invalid filter: unterminated string at offset %zu.",
                           lx->pos);
}

static int lex_number(struct sh__lexer *lx, struct sh__tok *tok, struct sh_filter_error *err)
{
    const unsigned char *t = (const unsigned char *)lx->text;
    size_t i = lx->pos;
    if (t[i] == '-')
        i++;
    while (i < lx->len && is_digit(t[i]))
        i++;
    if (i < lx->len && t[i] == '.') {
        i++;
        if (i >= lx->len || !is_digit(t[i]))
            return sh__filter_fail(err, lx->pos, "Invalid filter: bad number at offset %zu.",
                                   lx->pos);
        while (i < lx->len && is_digit(t[i]))
            i++;
    }
    if (i < lx->len && (is_ident_char(t[i]) || t[i] == '@'))
        return sh__filter_fail(err, lx->pos, "Invalid filter: bad number at offset %zu.", lx->pos);
    tok->type = SH_TOK_NUMBER;
    tok->len = i - lx->pos;
    lx->pos = i;
    return 0;
}

int sh__lexer_next(struct sh__lexer *lx, struct sh__tok *tok, struct sh_filter_error *err)
{
    skip_space_and_comments(lx);
    memset(tok, 0, sizeof(*tok));
    tok->off = lx->pos;
    if (lx->pos >= lx->len) {
        tok->type = SH_TOK_EOF;
        return 0;
    }
    const char *p = lx->text + lx->pos;
    size_t avail = lx->len - lx->pos;
    unsigned char c = (unsigned char)p[0];

    if (c == '\'' || c == '"')
        return lex_string(lx, tok, err);
    if (is_digit(c) || (c == '-' && avail > 1 && is_digit((unsigned char)p[1])))
        return lex_number(lx, tok, err);
    if (is_alpha(c) || c == '@') {
        size_t i = 1;
        while (i < avail && is_ident_char((unsigned char)p[i]))
            i++;
        tok->type = SH_TOK_IDENT;
        tok->len = i;
        lx->pos += i;
        return 0;
    }
    if (c == ',') {
        tok->type = SH_TOK_COMMA;
        tok->len = 1;
        lx->pos++;
        return 0;
    }
    if (c == '(' || c == ')') {
        tok->type = c == '(' ? SH_TOK_LPAREN : SH_TOK_RPAREN;
        tok->len = 1;
        lx->pos++;
        return 0;
    }
    if ((c == '&' || c == '|') && avail > 1 && (unsigned char)p[1] == c) {
        tok->type = c == '&' ? SH_TOK_AND : SH_TOK_OR;
        tok->len = 2;
        lx->pos += 2;
        return 0;
    }
    size_t skip = c == '?' ? 1 : 0;
    size_t n = read_op(p + skip, avail - skip, &tok->op);
    if (n > 0) {
        tok->type = SH_TOK_OP;
        tok->any = skip == 1;
        tok->len = skip + n;
        lx->pos += tok->len;
        return 0;
    }
    return sh__filter_fail(err, lx->pos, "Invalid filter: unexpected character at offset %zu.",
                           lx->pos);
}

size_t sh__lexer_unquote(const char *text, const struct sh__tok *tok, char *dst)
{
    const char *s = text + tok->off;
    char quote = s[0];
    size_t n = 0;
    for (size_t i = 1; i + 1 < tok->len; i++) {
        if (s[i] == '\\' && i + 2 < tok->len && (s[i + 1] == quote || s[i + 1] == '\\')) {
            dst[n++] = s[++i];
            continue;
        }
        if (s[i] == '\\' && i + 2 < tok->len) {
            /* Other escapes are kept as written, backslash included. */
            dst[n++] = s[i++];
        }
        dst[n++] = s[i];
    }
    return n;
}

int sh__utf8_check(const char *text, size_t len, const char *what, struct sh_filter_error *err)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned cp, min;
        if (c == 0)
            goto bad;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1fu, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0fu, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07u, min = 0x10000;
        } else {
            goto bad;
        }
        if (len - i < n)
            goto bad;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
        if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            goto bad;
        i += n;
    }
    return 0;
bad:
    return sh__filter_fail(err, i, "Invalid %s: invalid character at offset %zu.", what, i);
}
