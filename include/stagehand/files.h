/*
 * stagehand files: how an uploaded file is named on disk. A `file` field
 * stores names, never paths: the name a client sent is reduced to a safe
 * base (ASCII letters and digits in snake case, at most 100 bytes, PocketBase's
 * inflector.Snakecase), a random part is always added (`_` and 10 characters
 * of [a-z0-9]) so two uploads never collide and a name cannot be guessed
 * from the original, and the original extension is kept, cleaned to
 * [A-Za-z0-9_.*+=#-], lower-cased, at most 20 bytes (`.tar.gz` kept whole).
 * Nothing a client sends can put a '/', '\\', NUL, control byte or a
 * leading dot into a stored name. Pure (the random bytes are the caller's).
 */
#ifndef STAGEHAND_FILES_H
#define STAGEHAND_FILES_H

#include <stddef.h>

#define SH_FILE_NAME_RANDOM 10
/* the longest stored name: base, '_', random part, extension, NUL */
#define SH_FILE_NAME_MAX (100 + 1 + SH_FILE_NAME_RANDOM + 20 + 1)

/* Writes the stored name for original[0..len) (any bytes) into out (room
 * for SH_FILE_NAME_MAX) and returns its length. rnd holds
 * 2 * SH_FILE_NAME_RANDOM random bytes: the first half makes the random
 * part, the second pads a base shorter than 3 bytes, as PocketBase does. */
size_t sh_file_name_make(const char *original, size_t len, const unsigned char *rnd, char *out);

/* Is name something sh_file_name_make can have made (what a client may
 * name in `field-` or a download URL)? [A-Za-z0-9_.*+=#-], 1..
 * SH_FILE_NAME_MAX-1 bytes, not starting with '.'. */
int sh_file_name_valid(const char *name);

#endif
