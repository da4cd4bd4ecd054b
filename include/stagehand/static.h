/*
 * Static files from --public (like PocketBase's pb_public): GET and HEAD,
 * Content-Type by extension, ETag and Last-Modified with 304, index.html for
 * folders, no path escaping the folder (dot segments, encoded or not, and
 * symlinks pointing outside are refused). All file system calls go through
 * libuv's threadpool; the loop never blocks on the disk.
 */
#ifndef STAGEHAND_STATIC_H
#define STAGEHAND_STATIC_H

#include "stagehand/http.h"

struct sh_static {
    uv_loop_t *loop;
    char *root; /* realpath of the folder, without trailing '/' */
    size_t root_len;
};

/* Resolves dir. 0, or a negative code if it does not exist or is no folder. */
int sh_static_init(struct sh_static *s, uv_loop_t *loop, const char *dir);
void sh_static_deinit(struct sh_static *s);
/* A handler (router fallback): serves GET/HEAD paths outside /api/. */
int sh_static_handle(struct sh_req *r, void *ud);

/* Serves the regular file at path (no checks on the path: the caller's)
 * as the static files are served: GET and HEAD, ETag, Last-Modified and
 * 304, streamed through the threadpool; Content-Type ctype (NULL: by
 * extension); 404 when it is not there or not a regular file. Headers the
 * caller set on r go out with the answer. Returns SH_HANDLED. */
int sh_static_send_file(struct sh_req *r, uv_loop_t *loop, const char *path, const char *ctype);

/* Pure helpers, exposed for tests. */
/* 1 if the decoded path has no NUL, no backslash and no segment starting with
 * a dot (".", "..", hidden files and folders), except a leading
 * "/.well-known". */
int sh_static_path_safe(const char *path, size_t len);
/* The Content-Type for a file name, by extension. */
const char *sh_static_mime(const char *name);

#endif
