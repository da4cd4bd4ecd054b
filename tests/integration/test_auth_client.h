/*
 * What the accounts tests add to the records client: requests with extra
 * header lines (Authorization, X-Forwarded-For), `stagehand superuser` run
 * as a child process, and sign-up / sign-in shortcuts that fail the test
 * when the server does not answer as expected.
 */
#ifndef SH_IT_AUTH_CLIENT_H
#define SH_IT_AUTH_CLIENT_H

#include "test_records_client.h"

/* rc_req with extra header lines (each ending in \r\n; NULL for none). */
struct rc_resp *ac_reqh(struct it_conn *c, const char *method, const char *path,
                        const char *headers, const char *body);
/* rc_req with `Authorization: <token>` when token is not NULL. */
struct rc_resp *ac_req(struct it_conn *c, const char *method, const char *path, const char *token,
                       const char *body);

/* Runs `stagehand ARGS...` (NULL-terminated), waiting up to 30 s. Returns the
 * exit code; *out and *err (may be NULL) get stdout and stderr. */
int ac_run(char **out, char **err, const char *arg, ...) __attribute__((sentinel));
/* `stagehand superuser upsert EMAIL PASSWORD --dir <s's data>`: asserts 0. */
void ac_superuser(const struct it_server *s, const char *email, const char *password);

/* Signs up in coll (email, password = passwordConfirm, extra JSON members
 * without braces, may be NULL) and returns the new record's id. */
const char *ac_signup(struct it_conn *c, const char *coll, const char *email, const char *password,
                      const char *extra);
/* auth-with-password; asserts 200 and returns the token. *record (may be
 * NULL) gets the record. */
const char *ac_login(struct it_conn *c, const char *coll, const char *email, const char *password,
                     const cJSON **record);

/* Mails in s's <data_dir>/mail.log addressed to email (ASCII case-insensitive). */
int ac_mail_count(const struct it_server *s, const char *email);
/* The reset token of the nth (1-based) mail to email in mail.log, waiting up
 * to 3 s for it to be written; asserts the file's mode is 0600. */
const char *ac_mailed_token(const struct it_server *s, const char *email, int nth);

#endif
