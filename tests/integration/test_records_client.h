/*
 * A small JSON client for the records integration tests, on top of the
 * harness: one request/response with the body parsed as JSON, query-string
 * encoding, the `stagehand collections` command run as a child process, and
 * a server started on a data folder prepared by an import. Parsed JSON is
 * tracked and freed by rc_free_all() (the harness's fixtures call it at the
 * end of every test and group; a test may call it sooner), so an
 * assertion that jumps out of a test leaks nothing.
 */
#ifndef SH_IT_RECORDS_CLIENT_H
#define SH_IT_RECORDS_CLIENT_H

#include <stdarg.h>

#include <cjson/cJSON.h>

#include "harness.h"

struct rc_resp {
    int status;
    struct it_resp *raw;
    cJSON *json; /* NULL when the body is not JSON (e.g. 204) */
};

/* Sends `METHOD path` with a JSON body (NULL: none) on c and reads the
 * answer (bounded by IT_MS_IO); fails the test when no response comes. */
struct rc_resp *rc_req(struct it_conn *c, const char *method, const char *path, const char *body);
/* rc_req with the body formatted by printf. */
struct rc_resp *rc_reqf(struct it_conn *c, const char *method, const char *path, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* Percent-encodes s for a query string (scope memory). */
char *rc_enc(const char *s);

/* Tracks a cJSON tree for rc_free_all. Returns it. */
cJSON *rc_track(cJSON *j);
void rc_free_all(void);

/* Field accessors that fail the test when the key is missing or mistyped. */
const char *rc_str(const cJSON *o, const char *key);
double rc_num(const cJSON *o, const char *key);
const cJSON *rc_get(const cJSON *o, const char *key);

/* Runs `stagehand collections ARGS...` (NULL-terminated) and waits up to 30 s.
 * Returns the exit code; *out and *err (may be NULL) get stdout and stderr
 * (scope memory). */
int rc_cli(char **out, char **err, const char *arg, ...) __attribute__((sentinel));
/* Runs $STAGEHAND_BIN [prefix] arg... (NULL-terminated), bounded to 30 s, with
 * its stdout/stderr captured into *out and *err (scope memory); the exit code. */
int rc_vrun(char **out, char **err, const char *prefix, const char *arg, va_list ap);
/* Fails the test unless r has status; returns its JSON. */
const cJSON *rc_ok(struct rc_resp *r, int status);
/* Creates a record of coll from json (single quotes allowed, see rc_q) on c
 * and returns its id (scope memory). */
const char *rc_create(struct it_conn *c, const char *coll, const char *json);

/* Writes json to <s->dir>/<name> and imports it into s->data_dir. Returns the
 * CLI's exit code (its stderr is printed on failure). */
int rc_import(const struct it_server *s, const char *name, const char *json);

/* A new server folder with schema imported, then the server started with
 * the NULL-terminated extra args. NULL on failure (printed). */
struct it_server *rc_server(const char *schema, ...) __attribute__((sentinel));

/* Copy of s with every ' turned into " (JSON written inside C strings); a
 * backslash-quote \' stays a single quote. */
char *rc_q(const char *s);

/* Creates n records of coll by POSTing body_of(i, ud) (scope memory) over
 * several connections at once; fails the test on any answer but 200. */
void rc_bulk_create(const struct it_server *s, const char *coll, int n,
                    char *(*body_of)(int i, void *ud), void *ud);

/* Asserts r is the API error shape with status (and data code of field when
 * field is not NULL). */
void rc_assert_error(const struct rc_resp *r, int status, const char *field, const char *code);

#endif
