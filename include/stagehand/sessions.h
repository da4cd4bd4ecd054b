/*
 * Sessions and the storage side of accounts (API.md "Auth"). A session is a
 * row of `_sessions` (migration 2) made by each sign-in: its id is the `sid`
 * claim of the tokens issued for it, so revoking one is deleting its row and
 * revoking all of a record's is deleting them and giving the record a new
 * tokenKey (which also invalidates every token signed with the old one).
 * Times are Unix milliseconds.
 *
 * The token check of every authenticated request is sh_session_lookup: one
 * statement on the loop's read connection that finds the session by its
 * primary key and joins the auth record by its primary key, returning what
 * the check needs (expiry, the record's tokenKey) and what rules see (the
 * record). Everything that writes runs on a write connection: the writer
 * thread inside a job, or the command line inside sh_db_run_exclusive.
 */
#ifndef STAGEHAND_SESSIONS_H
#define STAGEHAND_SESSIONS_H

#include <stdint.h>

#include <sqlite3.h>

#include "stagehand/db.h"
#include "stagehand/schema.h"

struct cJSON;

#define SH_SESSION_ID_LEN 24 /* [a-z0-9]: ~124 bits */

struct sh_session {
    char id[SH_SESSION_ID_LEN + 1];
    const char *collection_id, *record_id;
    int64_t created, last_used, expires; /* Unix ms */
    const char *ip, *user_agent;         /* may be NULL: stored as "" */
};

/* Fills s->id with a new random session id. Any thread. */
void sh_session_new_id(struct sh_session *s);

/* ---- on a write connection ---- */

/* Inserts s. 0 or a storage error (logged). */
int sh_session_insert(sqlite3 *wdb, const struct sh_session *s);
/* Moves the expiry of session sid (of record_id) to expires and marks it
 * used at now. 0, SH_ENOTFOUND (revoked meanwhile) or a storage error. */
int sh_session_extend(sqlite3 *wdb, const char *sid, const char *record_id, int64_t expires,
                      int64_t now);
/* Marks sid used at now (no error when it is gone). */
int sh_session_touch(sqlite3 *wdb, const char *sid, int64_t now);
/* Deletes one session (no error when it is gone). */
int sh_session_delete(sqlite3 *wdb, const char *sid);
/* Deletes every session of a record. */
int sh_session_delete_record(sqlite3 *wdb, const char *collection_id, const char *record_id);
/* Deletes sessions that expired before now; *n (may be NULL) gets how many. */
int sh_session_sweep(sqlite3 *wdb, int64_t now, int64_t *n);
/* Keeps the newest `keep` sessions of a record and deletes the others (a
 * bound on what a flood of sign-ins to one account can store); *n (may be
 * NULL) gets how many were deleted. */
int sh_session_trim(sqlite3 *wdb, const char *collection_id, const char *record_id, int keep,
                    int64_t *n);
/* Gives record id of auth collection c a new random tokenKey: every token
 * signed with the old one fails from now on. 0, SH_ENOTFOUND or an error. */
int sh_auth_rotate_key(sqlite3 *wdb, const struct sh_collection *c, const char *id);

/* Stores a new password hash for record id of auth collection c (a login
 * that found the old hash made with other Argon2 parameters). */
int sh_auth_set_password(sqlite3 *wdb, const struct sh_collection *c, const char *id,
                         const char *hash);

/* ---- lookups, on any connection (the loop's with sh_db_reader) ---- */

/* An auth record with what sign-in needs. Strings are heap copies owned by
 * the struct (sh_auth_row_deinit); record has every field but password and
 * tokenKey, hidden ones included (the way rules see it). */
struct sh_auth_row {
    char *id;
    char *password_hash; /* "" when unset */
    char *token_key;
    struct cJSON *record;
};
void sh_auth_row_deinit(struct sh_auth_row *r);

/* Finds a record of auth collection c by email, ASCII case-insensitively
 * (the unique index is COLLATE NOCASE). On the loop pass sh_db_reader's
 * connection through sh_db_prepare (db non-NULL); on a write connection pass
 * db NULL and wdb. 0, SH_ENOTFOUND, SH_EBUDGET or a storage error. */
int sh_auth_find_email(struct sh_db *db, sqlite3 *wdb, const struct sh_collection *c,
                       const char *email, struct sh_auth_row *out);
/* Finds a record of auth collection c by a password sign-in identity: the
 * value of each of c's passwordAuth.identityFields in turn (each has a
 * unique index; email compared as sh_auth_find_email does, others exactly
 * or, where their unique index is COLLATE NOCASE, without ASCII case), the
 * first match winning. Same connections and results as sh_auth_find_email. */
int sh_auth_find_identity(struct sh_db *db, sqlite3 *wdb, const struct sh_collection *c,
                          const char *identity, struct sh_auth_row *out);
/* Same, by record id. */
int sh_auth_find_id(struct sh_db *db, sqlite3 *wdb, const struct sh_collection *c, const char *id,
                    struct sh_auth_row *out);

/* A live session joined with its record: what the token check needs. */
struct sh_session_row {
    struct sh_auth_row rec; /* password_hash is not read (NULL) */
    int64_t expires, last_used;
};
/* The session sid of collection c with its record (loop's read connection,
 * one statement over two primary keys). 0, SH_ENOTFOUND (no such session,
 * or its record is gone), or a read error. The caller checks expiry. */
int sh_session_lookup(struct sh_db *db, const struct sh_collection *c, const char *sid,
                      struct sh_session_row *out);

#endif
