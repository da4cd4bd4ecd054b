/*
 * Stored file names (stagehand/files.h), after PocketBase's
 * tools/filesystem normalizeName: the base name of what the client sent,
 * its extension split off and cleaned, the rest in snake case, then a random
 * part. The original is read as bytes: anything but ASCII letters and digits
 * separates words in the base, and only [A-Za-z0-9_.*+=#-] survives in the
 * extension, so no byte sequence can make a path out of a name.
 */
#include <string.h>

#include "stagehand/files.h"

#define BASE_MAX 100
#define EXT_MAX  20

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static int ext_char(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("_.*+=#-", c) != NULL);
}

static char lower(char c)
{
    return is_upper((unsigned char)c) ? (char)(c - 'A' + 'a') : c;
}

/* Where the extension starts in s[0..n): the last dot, or the dot before
 * "tar" for a .tar.* name; n when there is none. */
static size_t ext_start(const char *s, size_t n)
{
    size_t dot = n;
    for (size_t i = n; i-- > 0;)
        if (s[i] == '.') {
            dot = i;
            break;
        }
    if (dot == n)
        return n;
    if (dot >= 4 && memcmp(s + dot - 4, ".tar", 4) == 0)
        return dot - 4;
    return dot;
}

/* Snake case of s[0..n) into out (at most BASE_MAX bytes): words of ASCII
 * letters and digits joined by '_', a '_' before an upper-case letter that
 * follows a non-upper one, all lower-cased. */
static size_t snake(const char *s, size_t n, char *out)
{
    size_t o = 0;
    size_t i = 0;
    while (i < n && o < BASE_MAX) {
        while (i < n && !is_alnum((unsigned char)s[i]))
            i++;
        if (i == n)
            break;
        if (o && o < BASE_MAX)
            out[o++] = '_';
        for (size_t w = i; i < n && is_alnum((unsigned char)s[i]) && o < BASE_MAX; i++) {
            if (is_upper((unsigned char)s[i]) && i > w && !is_upper((unsigned char)s[i - 1]) &&
                o < BASE_MAX)
                out[o++] = '_';
            if (o < BASE_MAX)
                out[o++] = lower(s[i]);
        }
    }
    while (o && out[o - 1] == '_')
        o--; /* a cut may end on the separator */
    return o;
}

size_t sh_file_name_make(const char *original, size_t len, const unsigned char *rnd, char *out)
{
    /* the base name: what follows the last '/' or '\\' */
    for (size_t i = len; i-- > 0;)
        if (original[i] == '/' || original[i] == '\\') {
            original += i + 1;
            len -= i + 1;
            break;
        }
    size_t es = ext_start(original, len);
    char ext[EXT_MAX + 2];
    size_t el = 0;
    /* cleaned, then only its last EXT_MAX bytes, with a leading dot */
    char clean[256];
    size_t cl = 0;
    for (size_t i = es; i < len; i++) {
        unsigned char c = (unsigned char)original[i];
        if (ext_char(c)) {
            if (cl == sizeof(clean))
                memmove(clean, clean + 1, --cl);
            clean[cl++] = lower((char)c);
        }
    }
    if (cl > 1) { /* a lone "." is no extension */
        if (cl > EXT_MAX) {
            ext[el++] = '.';
            memcpy(ext + el, clean + cl - EXT_MAX, EXT_MAX);
            el += EXT_MAX;
        } else {
            memcpy(ext, clean, cl);
            el = cl;
        }
    }
    size_t o = snake(original, es, out);
    if (o < 3)
        for (size_t i = 0; i < SH_FILE_NAME_RANDOM; i++)
            out[o++] = alphabet[rnd[SH_FILE_NAME_RANDOM + i] % 36];
    out[o++] = '_';
    for (size_t i = 0; i < SH_FILE_NAME_RANDOM; i++)
        out[o++] = alphabet[rnd[i] % 36];
    memcpy(out + o, ext, el);
    o += el;
    out[o] = 0;
    return o;
}

int sh_file_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= SH_FILE_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!ext_char((unsigned char)name[i]))
            return 0;
    return 1;
}
