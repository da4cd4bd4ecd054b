/*
 * What the strict-JSON integration tests share: a request whose body is
 * given with its length (corpus files hold NUL bytes), a tree comparison for
 * values read back, the server's resident memory from /proc, and the schema
 * the two suites run on (docs: a text and a json field, open rules; users:
 * an auth collection anyone may sign up to).
 */
#ifndef SH_IT_JSON_CLIENT_H
#define SH_IT_JSON_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "test_auth_client.h"

extern const char jc_schema[];

/* `METHOD path` with body[0..len) (NULL: none), `Authorization: token` when
 * token is not NULL; fails the test when no response comes within 20 s. */
struct rc_resp *jc_req(struct it_conn *c, const char *method, const char *path, const char *token,
                       const char *body, size_t len);

/* Whether a and b are the same JSON value (numbers compared as doubles,
 * object members in any order). */
bool jc_equal(const cJSON *a, const cJSON *b);

/* Whether r is a 400 in the error shape with PocketBase's message for a body
 * it could not load ("Failed to load the submitted data due to invalid
 * formatting."). */
bool jc_is_bad_json(const struct rc_resp *r);

#endif
