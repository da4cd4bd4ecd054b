/*
 * Sessions (`_sessions`) and auth record lookups: see sessions.h. SQL that
 * names a collection's table is built from validated names and cached per
 * text like the records queries; every value is bound.
 */
#include "stagehand/sessions.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "stagehand/core.h"
#include "stagehand/records.h"
#include "stagehand/validate.h"

#define MOD "sessions"

void sh_session_new_id(struct sh_session *s)
{
    sh_random_string(s->id, SH_SESSION_ID_LEN, "abcdefghijklmnopqrstuvwxyz0123456789");
}

/* Runs one write statement with text parameters (NULL binds "") and, from
 * index nt + 1, integer ones. Returns 0 or a storage error; *changes (may be
 * NULL) gets the rows changed. */
static int exec_w(sqlite3 *wdb, const char *sql, const char *const *text, int nt,
                  const int64_t *ints, int ni, int *changes)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, sql, &st);
    if (rc)
        return rc;
    for (int i = 0; i < nt; i++)
        sqlite3_bind_text(st, i + 1, text[i] ? text[i] : "", -1, SQLITE_TRANSIENT);
    for (int i = 0; i < ni; i++)
        sqlite3_bind_int64(st, nt + i + 1, ints[i]);
    int src = sqlite3_step(st);
    if (changes)
        *changes = sqlite3_changes(wdb);
    sh_db_writer_release(wdb, st);
    if (src == SQLITE_DONE)
        return 0;
    sh_log_error(MOD, "session write failed: %s", sqlite3_errmsg(wdb));
    rc = sh_db_errcode(src);
    return rc ? rc : SH_EINTERNAL;
}

int sh_session_insert(sqlite3 *wdb, const struct sh_session *s)
{
    const char *t[] = {s->id, s->collection_id, s->record_id, s->ip, s->user_agent};
    int64_t n[] = {s->created, s->last_used, s->expires};
    return exec_w(wdb,
                  "INSERT INTO _sessions (id, collectionId, recordId, ip, userAgent, created, "
                  "lastUsed, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                  t, 5, n, 3, NULL);
}

int sh_session_extend(sqlite3 *wdb, const char *sid, const char *record_id, int64_t expires,
                      int64_t now)
{
    const char *t[] = {sid, record_id};
    int64_t n[] = {expires, now};
    int changed = 0;
    int rc = exec_w(wdb,
                    "UPDATE _sessions SET expires = ?3, lastUsed = ?4 WHERE id = ?1 AND "
                    "recordId = ?2 AND expires > ?4",
                    t, 2, n, 2, &changed);
    return rc ? rc : changed ? 0 : SH_ENOTFOUND;
}

int sh_session_touch(sqlite3 *wdb, const char *sid, int64_t now)
{
    const char *t[] = {sid};
    return exec_w(wdb, "UPDATE _sessions SET lastUsed = ?2 WHERE id = ?1 AND lastUsed < ?2", t, 1,
                  &now, 1, NULL);
}

int sh_session_delete(sqlite3 *wdb, const char *sid)
{
    const char *t[] = {sid};
    return exec_w(wdb, "DELETE FROM _sessions WHERE id = ?1", t, 1, NULL, 0, NULL);
}

int sh_session_delete_record(sqlite3 *wdb, const char *collection_id, const char *record_id)
{
    const char *t[] = {collection_id, record_id};
    return exec_w(wdb, "DELETE FROM _sessions WHERE collectionId = ?1 AND recordId = ?2", t, 2,
                  NULL, 0, NULL);
}

int sh_session_sweep(sqlite3 *wdb, int64_t now, int64_t *n)
{
    int changed = 0;
    int rc = exec_w(wdb, "DELETE FROM _sessions WHERE expires <= ?1", NULL, 0, &now, 1, &changed);
    if (n)
        *n = changed;
    return rc;
}

int sh_session_trim(sqlite3 *wdb, const char *collection_id, const char *record_id, int keep,
                    int64_t *n)
{
    const char *t[] = {collection_id, record_id};
    int64_t k = keep;
    int changed = 0;
    int rc = exec_w(wdb,
                    "DELETE FROM _sessions WHERE collectionId = ?1 AND recordId = ?2 AND id NOT IN "
                    "(SELECT id FROM _sessions WHERE collectionId = ?1 AND recordId = ?2 "
                    "ORDER BY created DESC LIMIT ?3)",
                    t, 2, &k, 1, &changed);
    if (n)
        *n = rc ? 0 : changed;
    return rc;
}

int sh_auth_rotate_key(sqlite3 *wdb, const struct sh_collection *c, const char *id)
{
    const struct sh_field *f = sh_collection_field(c, "tokenKey");
    char *key = f && f->autogen ? sh_autogen_generate(f->autogen) : NULL;
    if (!key)
        return SH_EINVAL;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "UPDATE ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, " SET \"tokenKey\" = ?2 WHERE \"id\" = ?1");
    sh_buf_append(&b, "", 1);
    const char *t[] = {id, key};
    int changed = 0;
    int rc = exec_w(wdb, b.data, t, 2, NULL, 0, &changed);
    sh_buf_deinit(&b);
    free(key);
    return rc ? rc : changed ? 0 : SH_ENOTFOUND;
}

int sh_auth_set_password(sqlite3 *wdb, const struct sh_collection *c, const char *id,
                         const char *hash)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "UPDATE ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, " SET \"password\" = ?2 WHERE \"id\" = ?1");
    sh_buf_append(&b, "", 1);
    const char *t[] = {id, hash};
    int rc = exec_w(wdb, b.data, t, 2, NULL, 0, NULL);
    sh_buf_deinit(&b);
    return rc;
}

/* ---- lookups ---- */

void sh_auth_row_deinit(struct sh_auth_row *r)
{
    free(r->id);
    if (r->password_hash) {
        sodium_memzero(r->password_hash, strlen(r->password_hash));
        free(r->password_hash);
    }
    if (r->token_key) {
        sodium_memzero(r->token_key, strlen(r->token_key));
        free(r->token_key);
    }
    cJSON_Delete(r->record);
    memset(r, 0, sizeof(*r));
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return sh_strdup(v ? v : "");
}

/* A statement on the loop's read connection (db) or a write connection. */
struct q {
    struct sh_db *db;
    sqlite3 *wdb;
    sqlite3_stmt *st;
};

static int q_prepare(struct q *q, const char *sql)
{
    return q->db ? sh_db_prepare(q->db, sql, &q->st) : sh_db_writer_prepare(q->wdb, sql, &q->st);
}

/* 1 row, 0 done, or an error. */
static int q_step(struct q *q)
{
    if (q->db)
        return sh_db_step(q->db, q->st);
    int src = sqlite3_step(q->st);
    return src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 : sh_db_errcode(src);
}

static void q_release(struct q *q)
{
    if (q->db)
        sh_db_release(q->db, q->st);
    else
        sh_db_writer_release(q->wdb, q->st);
    q->st = NULL;
}

/* The tokenKey at column first and the record from first + 1 on (as written
 * by sh_rec_columns(c, false), which never shows tokenKey). */
static void take_record(const struct sh_collection *c, sqlite3_stmt *st, int first,
                        struct sh_auth_row *out)
{
    out->token_key = col_dup(st, first);
    out->record = sh_rec_from_row(c, st, first + 1, SH_REC_SUPERUSER);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(out->record, "id");
    out->id = sh_strdup(cJSON_IsString(id) ? id->valuestring : "");
}

static int find_by(struct sh_db *db, sqlite3 *wdb, const struct sh_collection *c, const char *where,
                   const char *value, struct sh_auth_row *out)
{
    memset(out, 0, sizeof(*out));
    if (c->type != SH_COLLECTION_AUTH)
        return SH_ENOTFOUND;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, ".\"password\", ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, ".\"tokenKey\", ");
    sh_rec_columns(c, false, &b);
    sh_buf_appends(&b, " FROM ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, " WHERE ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, where);
    sh_buf_append(&b, "", 1);
    struct q q = {db, wdb, NULL};
    int rc = q_prepare(&q, b.data);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    sqlite3_bind_text(q.st, 1, value, -1, SQLITE_TRANSIENT);
    rc = q_step(&q);
    if (rc == 1) {
        out->password_hash = col_dup(q.st, 0);
        take_record(c, q.st, 1, out);
        rc = 0;
    } else if (rc == 0) {
        rc = SH_ENOTFOUND;
    }
    q_release(&q);
    return rc;
}

int sh_auth_find_email(struct sh_db *db, sqlite3 *wdb, const struct sh_collection *c,
                       const char *email, struct sh_auth_row *out)
{
    /* COLLATE NOCASE on the comparison, and the partial index's own WHERE
     * term, let SQLite search the email index instead of scanning. */
    memset(out, 0, sizeof(*out));
    if (!*email)
        return SH_ENOTFOUND;
    struct sh_buf w;
    sh_buf_init(&w);
    sh_buf_appends(&w, ".\"email\" = ?1 COLLATE NOCASE AND ");
    sh__rec_quote(&w, c->name);
    sh_buf_appends(&w, ".\"email\" != ''");
    sh_buf_append(&w, "", 1);
    int rc = find_by(db, wdb, c, w.data, email, out);
    sh_buf_deinit(&w);
    return rc;
}

/* Whether c's unique single-column index on col compares without case. */
static bool unique_nocase(const struct sh_collection *c, const char *col)
{
    for (size_t i = 0; i < c->nindexes; i++)
        if (c->indexes[i].unique && c->indexes[i].ncols == 1 &&
            sh_schema_name_eq(c->indexes[i].cols[0].name, col))
            return c->indexes[i].cols[0].nocase;
    return false;
}

int sh_auth_find_identity(struct sh_db *db, sqlite3 *wdb, const struct sh_collection *c,
                          const char *identity, struct sh_auth_row *out)
{
    memset(out, 0, sizeof(*out));
    int rc = SH_ENOTFOUND;
    for (size_t i = 0; rc == SH_ENOTFOUND && i < c->nidentity_fields; i++) {
        const char *f = c->identity_fields[i];
        if (sh_schema_name_eq(f, "email")) {
            rc = sh_auth_find_email(db, wdb, c, identity, out);
            continue;
        }
        if (!*identity)
            continue;
        struct sh_buf w;
        sh_buf_init(&w);
        sh_buf_appends(&w, ".");
        sh__rec_quote(&w, f);
        sh_buf_appends(&w, unique_nocase(c, f) ? " = ?1 COLLATE NOCASE" : " = ?1");
        sh_buf_append(&w, "", 1);
        rc = find_by(db, wdb, c, w.data, identity, out);
        sh_buf_deinit(&w);
    }
    return rc;
}

int sh_auth_find_id(struct sh_db *db, sqlite3 *wdb, const struct sh_collection *c, const char *id,
                    struct sh_auth_row *out)
{
    return find_by(db, wdb, c, ".\"id\" = ?1", id, out);
}

int sh_session_lookup(struct sh_db *db, const struct sh_collection *c, const char *sid,
                      struct sh_session_row *out)
{
    memset(out, 0, sizeof(*out));
    if (c->type != SH_COLLECTION_AUTH)
        return SH_ENOTFOUND;
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appends(&b, "SELECT s.expires, s.lastUsed, ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, ".\"tokenKey\", ");
    sh_rec_columns(c, false, &b);
    sh_buf_appends(&b, " FROM _sessions AS s JOIN ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, " ON ");
    sh__rec_quote(&b, c->name);
    sh_buf_appends(&b, ".\"id\" = s.recordId WHERE s.id = ?1 AND s.collectionId = ?2");
    sh_buf_append(&b, "", 1);
    struct q q = {db, NULL, NULL};
    int rc = q_prepare(&q, b.data);
    sh_buf_deinit(&b);
    if (rc)
        return rc;
    sqlite3_bind_text(q.st, 1, sid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q.st, 2, c->id, -1, SQLITE_TRANSIENT);
    rc = q_step(&q);
    if (rc == 1) {
        out->expires = sqlite3_column_int64(q.st, 0);
        out->last_used = sqlite3_column_int64(q.st, 1);
        take_record(c, q.st, 2, &out->rec);
        rc = 0;
    } else if (rc == 0) {
        rc = SH_ENOTFOUND;
    }
    q_release(&q);
    return rc;
}
