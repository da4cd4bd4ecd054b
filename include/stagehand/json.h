/*
 * The one strict JSON entry point for everything a client sends: request
 * bodies on every route, json-field values given as strings, lists given as
 * JSON text. RFC 8259 exactly (one value, nothing after it but whitespace,
 * numbers by the grammar, no raw control characters in strings, valid \u
 * escapes and surrogate pairs, valid UTF-8), plus stagehand's own refusals:
 * duplicate keys in an object (the last one would win in one reader and the
 * first in another: a field a check stripped could come back), U+0000 in a
 * string (C strings and text fields would truncate it), numbers beyond a
 * double (they would be stored as null), nesting deeper than a limit and
 * texts longer than a limit. cJSON (lenient) builds the tree only after
 * sh_json_check has passed the bytes.
 */
#ifndef STAGEHAND_JSON_H
#define STAGEHAND_JSON_H

#include <stddef.h>

struct cJSON;

/* Why a text was refused (negative codes):
 * ESYNTAX    not JSON by the RFC 8259 grammar
 * ETRAILING  a complete value followed by more than whitespace
 * ECTRL      a raw control character (U+0000..U+001F) in a string
 * EESCAPE    an unknown escape letter, \u without 4 hex digits, a lone surrogate
 * EUTF8      invalid UTF-8: stray, overlong, truncated, surrogates, > U+10FFFF
 * ENUL       \u0000 in a string
 * EDEPTH     arrays and objects nested deeper than the limit
 * EDUPKEY    the same key twice in one object (compared after unescaping)
 * ENUMBER    a number beyond the range of a double (1e999)
 * ETOOBIG    more bytes than the limit (or no memory for the tree)
 * EEMPTY     no value at all (empty, or only whitespace) */
#define SH_JSON_ESYNTAX   (-1)
#define SH_JSON_ETRAILING (-2)
#define SH_JSON_ECTRL     (-3)
#define SH_JSON_EESCAPE   (-4)
#define SH_JSON_EUTF8     (-5)
#define SH_JSON_ENUL      (-6)
#define SH_JSON_EDEPTH    (-7)
#define SH_JSON_EDUPKEY   (-8)
#define SH_JSON_ENUMBER   (-9)
#define SH_JSON_ETOOBIG   (-10)
#define SH_JSON_EEMPTY    (-11)

#define SH_JSON_MAX_BYTES_DEFAULT (1024 * 1024)
#define SH_JSON_MAX_DEPTH_DEFAULT 64
#define SH_JSON_MAX_DEPTH_LIMIT   1000 /* cJSON's own nesting limit */

struct sh_json_error {
    int code;      /* SH_JSON_E*, 0 when none */
    size_t offset; /* byte of s where it was found */
};

/* Sets the process-wide limits used by sh_json_parse: texts longer than
 * max_bytes are refused before any byte is read (SH_JSON_ETOOBIG), arrays and
 * objects nested deeper than max_depth (1..SH_JSON_MAX_DEPTH_LIMIT, clamped)
 * are refused. Call before the loop and the threads start; read-only after. */
void sh_json_limits_set(size_t max_bytes, unsigned max_depth);
size_t sh_json_max_bytes(void);
unsigned sh_json_max_depth(void);

/* Validates that s[0..n) is exactly one JSON text under the rules above,
 * except duplicate keys and number range (which sh_json_parse checks on the
 * tree). Leading and trailing whitespace is allowed; a BOM is not. s need not
 * be NUL-terminated. Returns 0, or a negative SH_JSON_E* code with err (may
 * be NULL) filled. No allocation; cost linear in n. */
int sh_json_check(const char *s, size_t n, unsigned max_depth, struct sh_json_error *err);

/* The strict parse: size limit, sh_json_check, cJSON's parse of exactly
 * s[0..n), then duplicate keys and non-finite numbers on the tree. Returns a
 * tree the caller frees with cJSON_Delete, or NULL with err (may be NULL)
 * filled. Safe on any thread (no state but the limits). */
struct cJSON *sh_json_parse(const char *s, size_t n, struct sh_json_error *err);
/* sh_json_parse with a size limit of its own instead of the process-wide
 * one (a body with a cap of its own: a batch). */
struct cJSON *sh_json_parse_max(const char *s, size_t n, size_t limit, struct sh_json_error *err);

/* A sentence for a client naming what err found, e.g. "Invalid UTF-8 at byte
 * 12." — written into buf (size bytes, always NUL-terminated); returns buf. */
const char *sh_json_error_format(const struct sh_json_error *err, char *buf, size_t size);

#endif
