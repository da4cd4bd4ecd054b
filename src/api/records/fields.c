/*
 * The `fields` query parameter (PocketBase's field picker): a comma-separated
 * list of keys to keep in each returned record. Dotted paths reach into
 * nested objects, arrays are picked element by element (so
 * `expand.tags.name` works on a multi relation), `*` keeps every key of its
 * level, and `:excerpt(max[,withEllipsis])` replaces a string by its first
 * max characters of plain text (tags stripped, whitespace collapsed).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "records_int.h"

struct pick {
    char *name;
    int excerpt; /* 0 = none, else the max characters */
    bool ellipsis;
    bool star; /* this level keeps every key */
    struct pick *kids, *next;
};

static void pick_free(struct pick *p)
{
    while (p) {
        struct pick *next = p->next;
        pick_free(p->kids);
        free(p->name);
        free(p);
        p = next;
    }
}

static struct pick *child(struct pick *parent, const char *name, size_t len)
{
    for (struct pick *k = parent->kids; k; k = k->next)
        if (strlen(k->name) == len && memcmp(k->name, name, len) == 0)
            return k;
    struct pick *k = sh_calloc(1, sizeof(*k));
    k->name = sh_calloc(1, len + 1);
    memcpy(k->name, name, len);
    k->next = parent->kids;
    parent->kids = k;
    return k;
}

/* ":excerpt(200,true)" at s; sets the pick's options. */
static void parse_modifier(struct pick *p, const char *s, size_t n)
{
    if (n < 10 || strncmp(s, ":excerpt(", 9) != 0 || s[n - 1] != ')')
        return;
    char args[64];
    size_t len = n - 10;
    if (len >= sizeof(args))
        return;
    memcpy(args, s + 9, len);
    args[len] = 0;
    char *comma = strchr(args, ',');
    if (comma)
        *comma = 0;
    long max = strtol(args, NULL, 10);
    p->excerpt = max > 0 && max < 1000000 ? (int)max : 0;
    if (comma) {
        const char *e = comma + 1;
        while (*e == ' ')
            e++;
        p->ellipsis = strncmp(e, "true", 4) == 0 || strncmp(e, "1", 1) == 0;
    }
}

static void parse(struct pick *root, const char *s)
{
    while (*s) {
        /* One term runs to the next comma outside parentheses. */
        const char *start = s;
        int depth = 0;
        while (*s && (*s != ',' || depth > 0)) {
            depth += *s == '(' ? 1 : *s == ')' ? -1 : 0;
            s++;
        }
        const char *end = s;
        if (*s)
            s++;
        while (start < end && *start == ' ')
            start++;
        while (end > start && end[-1] == ' ')
            end--;
        const char *colon = memchr(start, ':', (size_t)(end - start));
        const char *path_end = colon ? colon : end;
        struct pick *at = root;
        const char *seg = start;
        while (seg < path_end) {
            const char *dot = memchr(seg, '.', (size_t)(path_end - seg));
            const char *se = dot ? dot : path_end;
            if (se - seg == 1 && *seg == '*')
                at->star = true;
            else if (se > seg)
                at = child(at, seg, (size_t)(se - seg));
            seg = dot ? dot + 1 : path_end;
        }
        if (colon && at != root)
            parse_modifier(at, colon, (size_t)(end - colon));
    }
}

/* Plain text of s, tags removed and whitespace collapsed, cut to max UTF-8
 * characters. A new heap string. */
static char *excerpt(const char *s, int max, bool ellipsis)
{
    size_t n = strlen(s);
    char *out = sh_malloc(n + 4);
    size_t o = 0;
    int chars = 0;
    bool in_tag = false, space = false, cut = false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '<') {
            in_tag = true;
            continue;
        }
        if (in_tag) {
            in_tag = c != '>';
            if (!in_tag)
                space = o > 0;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = o > 0;
            continue;
        }
        bool lead = (c & 0xc0) != 0x80;
        if (lead && chars + (space ? 1 : 0) >= max) {
            cut = true;
            break;
        }
        if (space && lead) {
            out[o++] = ' ';
            chars++;
            space = false;
        }
        out[o++] = (char)c;
        chars += lead;
    }
    if (cut && ellipsis) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
    return out;
}

static void apply(cJSON *v, const struct pick *p);

static void apply_value(cJSON *parent, cJSON *item, const struct pick *k)
{
    if (k->excerpt && cJSON_IsString(item)) {
        char *e = excerpt(item->valuestring, k->excerpt, k->ellipsis);
        /* the key is copied into the new item before the old one is freed */
        cJSON_ReplaceItemInObjectCaseSensitive(parent, item->string, cJSON_CreateString(e));
        free(e);
    } else if (k->kids || k->star) {
        apply(item, k);
    }
}

static void apply(cJSON *v, const struct pick *p)
{
    if (cJSON_IsArray(v)) {
        cJSON *e;
        cJSON_ArrayForEach(e, v) {
            apply(e, p);
        }
        return;
    }
    if (!cJSON_IsObject(v))
        return;
    cJSON *item = v->child;
    while (item) {
        cJSON *next = item->next;
        const struct pick *k = NULL;
        for (const struct pick *c = p->kids; c && !k; c = c->next)
            if (strcmp(c->name, item->string) == 0)
                k = c;
        if (k)
            apply_value(v, item, k);
        else if (!p->star)
            cJSON_Delete(cJSON_DetachItemViaPointer(v, item));
        item = next;
    }
}

void sh__fields_pick(cJSON *obj, const char *fields)
{
    if (!fields || !*fields || !obj)
        return;
    struct pick root = {0};
    parse(&root, fields);
    if (root.kids || root.star)
        apply(obj, &root);
    pick_free(root.kids);
}
