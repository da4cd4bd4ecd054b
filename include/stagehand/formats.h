/*
 * Text formats shared by collection definitions and record validation:
 * dates (parsed in the forms clients send and normalised to PocketBase's
 * stored "2006-01-02 15:04:05.000Z" in UTC, with civil-calendar arithmetic
 * rather than the process's time zone), email addresses, absolute URLs, and
 * the `[class]{n}` autogenerate patterns of id and tokenKey fields. Defined
 * in src/db/schema/formats.c; libc and libsodium only.
 */
#ifndef STAGEHAND_FORMATS_H
#define STAGEHAND_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SH_DATETIME_LEN 24 /* "2006-01-02 15:04:05.000Z" */

/* Parses a date-time as clients send it — "YYYY-MM-DD", optionally followed
 * by 'T' or ' ' and "HH:MM[:SS[.fraction]]", optionally followed by 'Z' or an
 * offset ±HH:MM / ±HHMM (none means UTC) — and writes it normalised to UTC as
 * "YYYY-MM-DD HH:MM:SS.mmmZ" into out (SH_DATETIME_LEN + 1 bytes). Returns 0,
 * or SH_EINVAL for anything else (including impossible dates). */
int sh_datetime_parse(const char *s, size_t len, char *out);

/* Formats Unix time in milliseconds as "YYYY-MM-DD HH:MM:SS.mmmZ" into out
 * (SH_DATETIME_LEN + 1 bytes). */
void sh_datetime_format(int64_t unix_ms, char *out);

/* Nonzero if s is an email address in the form PocketBase accepts
 * (local@domain, at most 254 bytes). */
bool sh_email_valid(const char *s, size_t len);

/* Nonzero if s is an absolute URL scheme://host[...] without spaces or
 * control characters; *host / *host_len (may be NULL) receive the host. */
bool sh_url_valid(const char *s, size_t len, const char **host, size_t *host_len);

/* Checks an autogeneratePattern of the supported form `[class]{n}` (class:
 * characters and ranges such as a-z, no negation or escapes; 1 <= n <= 255).
 * Returns n, or SH_EINVAL. */
int sh_autogen_check(const char *pattern);

/* Generates a value for a pattern accepted by sh_autogen_check (libsodium
 * randomness). Returns a new string the caller frees with free(), or NULL if
 * the pattern is not supported. */
char *sh_autogen_generate(const char *pattern);

#endif
