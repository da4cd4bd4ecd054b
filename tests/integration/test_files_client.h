/*
 * Multipart bodies and stored files for the file-field suites
 * (files, thumbs, files_cleanup, files_batch, files_durability): a body built part by
 * part, sent on a connection with a token, and the data directory's
 * storage folders read back. Allocations are the harness's (it_alloc).
 */
#ifndef STAGEHAND_TEST_FILES_CLIENT_H
#define STAGEHAND_TEST_FILES_CLIENT_H

#include <stddef.h>

#include "test_auth_client.h"

#define FC_BOUNDARY "----fcboundary9QaX2"

struct fc_body {
    char *p;
    size_t n;
};

/* Appends n bytes (any kind of blob, not only bodies). */
void fc_put(struct fc_body *b, const void *d, size_t n);
/* Appends a plain field / a file part (content type text/plain, or ctype). */
void fc_text(struct fc_body *b, const char *name, const char *value);
void fc_file(struct fc_body *b, const char *name, const char *filename, const void *data, size_t n);
void fc_file_as(struct fc_body *b, const char *name, const char *filename, const char *ctype,
                const void *data, size_t n);
/* Closes b and sends it as multipart/form-data (token may be NULL); the
 * answer, parsed (tracked by rc_track). */
struct rc_resp *fc_send(struct it_conn *c, const char *method, const char *path, const char *token,
                        struct fc_body *b);

/* <dir>/storage/<rel> exists (a file or a folder)? */
int fc_exists(const struct it_server *s, const char *rel);
/* Entries (not starting with '.') of <dir>/storage/<rel>; -1: no folder. */
int fc_count(const struct it_server *s, const char *rel);
/* Waits up to ms for fc_exists(s, rel) == want; returns the last value. */
int fc_wait_exists(const struct it_server *s, const char *rel, int want, int ms);
/* The bytes of <dir>/storage/<rel> (at most max), NULL when missing. */
char *fc_read(const struct it_server *s, const char *rel, size_t max, size_t *n);

#endif
