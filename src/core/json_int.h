/*
 * Between the two halves of stagehand/json.h's strict parse (json_check.c,
 * json_parse.c). Not a public interface.
 */
#ifndef STAGEHAND_CORE_JSON_INT_H
#define STAGEHAND_CORE_JSON_INT_H

#include <stddef.h>

struct sh_json_error;

/* The most characters of a number cJSON 1.7 reads (its buffer is 64 bytes):
 * a longer number would be cut and the rest taken for a syntax error. */
#define SH__JSON_NUMBER_MAX 63

/* sh_json_check, also counting into *long_numbers (set on success only) the
 * numbers longer than SH__JSON_NUMBER_MAX characters. */
int sh__json_check(const char *s, size_t n, unsigned max_depth, struct sh_json_error *err,
                   size_t *long_numbers);

#endif
