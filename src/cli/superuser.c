/*
 * `stagehand superuser upsert EMAIL PASSWORD` and `stagehand superuser
 * delete EMAIL`: the first superuser comes from here (API.md "Collections").
 * Like the collections tool, it works on the data directory directly, in one
 * write transaction through sh_db_run_exclusive, whether or not a server
 * runs on it (a running server's writer waits out the transaction, and its
 * token checks read the change on the next request).
 *
 * The password is hashed with Argon2id before the transaction (it blocks
 * ~100 ms; no lock is held meanwhile), and the record is written by the same
 * code as a records API create or update (validation of the email and the
 * password's length included). Changing the password of an existing
 * superuser gives it a new tokenKey and deletes its sessions, as deleting it
 * does: its tokens stop working at once - within a second for a running
 * server: it remembers verified tokens (api/auth_cache.c) and cannot learn of
 * another process's writes, so the same transaction bumps _meta's
 * schema_version, which the server's catalog polls every second and which
 * makes it drop every cached token.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "stagehand/auth.h"
#include "stagehand/catalog.h"
#include "stagehand/cli.h"
#include "stagehand/core.h"
#include "stagehand/db.h"
#include "stagehand/records.h"
#include "stagehand/sessions.h"

#define SUPERUSERS "_superusers"

struct su_ctx {
    const char *email;
    const char *password; /* NULL for delete */
    const char *hash;
    int created, deleted;
    cJSON *errors; /* validation errors of the record */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int schema_version(sqlite3 *wdb, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(wdb, "SELECT value FROM _meta WHERE key = 'schema_version'", &st);
    if (rc)
        return rc;
    rc = sqlite3_step(st) == SQLITE_ROW ? 0 : SH_EINTERNAL;
    *out = rc ? 0 : sqlite3_column_int64(st, 0);
    sh_db_writer_release(wdb, st);
    return rc;
}

static int bump_schema_version(sqlite3 *wdb)
{
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(
        wdb, "UPDATE _meta SET value = value + 1 WHERE key = 'schema_version'", &st);
    if (rc)
        return rc;
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : SH_EINTERNAL;
    sh_db_writer_release(wdb, st);
    return rc;
}

static int su_fn(sqlite3 *wdb, void *arg)
{
    struct su_ctx *x = arg;
    int64_t version;
    int rc = schema_version(wdb, &version);
    struct sh_catalog_snap *snap = NULL;
    struct sh_schema_error serr;
    if (rc == 0)
        rc = sh_catalog_load(wdb, version, &snap, &serr);
    if (rc)
        return rc;
    const struct sh_collection *c = sh_catalog_snap_find(snap, SUPERUSERS);
    if (!c) {
        sh_catalog_snap_free(snap);
        return SH_EINTERNAL;
    }
    struct sh_auth_row row;
    int found = sh_auth_find_email(NULL, wdb, c, x->email, &row);
    if (found != 0 && found != SH_ENOTFOUND) {
        sh_catalog_snap_free(snap);
        return found;
    }
    struct sh_rec_write w;
    memset(&w, 0, sizeof(w));
    w.snap = snap; /* the write's reference from now on */
    w.c = c;
    w.now_ms = now_ms();
    w.flags = SH_REC_SUPERUSER;
    if (!x->password) {
        if (found == SH_ENOTFOUND) {
            sh_rec_write_deinit(&w);
            return SH_ENOTFOUND;
        }
        w.op = SH_REC_DELETE;
        w.id = sh_strdup(row.id);
    } else {
        w.op = found == 0 ? SH_REC_UPDATE : SH_REC_CREATE;
        w.id = found == 0 ? sh_strdup(row.id) : NULL;
        w.body = cJSON_CreateObject();
        cJSON_AddStringToObject(w.body, "email", x->email);
        cJSON_AddStringToObject(w.body, "password", x->password);
        cJSON_AddBoolToObject(w.body, "verified", 1);
        w.hashes = sh_calloc(1, sizeof(*w.hashes));
        w.hashes[0].field = sh_strdup("password");
        w.hashes[0].hash = sh_strdup(x->hash);
        w.nhashes = 1;
    }
    rc = sh_rec_write_run(wdb, &w);
    /* A new password (its tokenKey was rotated) or a deletion ends every
     * session of the superuser; the schema version tells a running server to
     * forget the tokens it verified (see the top of the file). */
    if (rc == 0 && found == 0)
        rc = sh_session_delete_record(wdb, c->id, row.id);
    if (rc == 0 && found == 0)
        rc = bump_schema_version(wdb);
    if (rc == SH_EINVAL || rc == SH_ECONFLICT) {
        x->errors = w.errors;
        w.errors = NULL;
    }
    x->created = w.op == SH_REC_CREATE;
    x->deleted = w.op == SH_REC_DELETE;
    if (w.body) { /* the plain password is not left in freed memory */
        cJSON *pw = cJSON_GetObjectItemCaseSensitive(w.body, "password");
        sodium_memzero(pw->valuestring, strlen(pw->valuestring));
    }
    sh_rec_write_deinit(&w);
    if (found == 0)
        sh_auth_row_deinit(&row);
    return rc;
}

void sh_cli_superuser_usage(FILE *f)
{
    fputs("usage:\n"
          "  stagehand superuser upsert EMAIL PASSWORD [--dir DIR]\n"
          "      create the superuser EMAIL, or set its password (which signs it out\n"
          "      everywhere)\n"
          "  stagehand superuser delete EMAIL [--dir DIR]\n"
          "      delete the superuser EMAIL and end its sessions\n"
          "DIR defaults to $STAGEHAND_DIR, else ./stagehand_data. Works whether or not\n"
          "a server runs on DIR.\n",
          f);
}

static void print_errors(const cJSON *errors)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, errors) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        fprintf(stderr, "stagehand: %s: %s\n", e->string,
                cJSON_IsString(m) ? m->valuestring : "invalid value.");
    }
}

static int run(const char *dir, struct su_ctx *x)
{
    int rc = sh_db_run_exclusive(dir, NULL, su_fn, x);
    if (rc == 0) {
        printf("superuser %s %s\n", x->email,
               x->deleted   ? "deleted"
               : x->created ? "created"
                            : "updated");
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (rc == SH_ENOTFOUND) {
        fprintf(stderr, "stagehand: no superuser %s\n", x->email);
    } else if (x->errors) {
        print_errors(x->errors);
    } else {
        fprintf(stderr, "stagehand: cannot change the superusers of %s (see the log above)\n", dir);
    }
    cJSON_Delete(x->errors);
    return 1;
}

int sh_cli_superuser(int argc, char **argv, char **envp)
{
    const char *dir = sh__cli_env_dir(envp);
    char *pos[3];
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strncmp(argv[i], "--dir=", 6) == 0) {
            dir = argv[i] + 6;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "help") == 0) {
            sh_cli_superuser_usage(stdout);
            return 0;
        } else if (npos < 3 && (argv[i][0] != '-' || npos > 0)) {
            pos[npos++] = argv[i]; /* a password may start with '-' */
        } else {
            fprintf(stderr, "stagehand: unexpected argument: %s\n", argv[i]);
            sh_cli_superuser_usage(stderr);
            return 2;
        }
    }
    struct su_ctx x;
    memset(&x, 0, sizeof(x));
    if (npos == 3 && strcmp(pos[0], "upsert") == 0) {
        x.email = pos[1];
        x.password = pos[2];
        char hash[SH_PASSWORD_HASH_MAX];
        int rc = sh_password_hash_sync(x.password, strlen(x.password), hash, 0, 0);
        if (rc == SH_ETOOBIG) {
            fprintf(stderr, "stagehand: the password is too long\n");
            return 1;
        }
        if (rc) {
            fprintf(stderr, "stagehand: cannot hash the password (%d)\n", rc);
            return 1;
        }
        x.hash = hash;
        rc = run(dir, &x);
        sodium_memzero(hash, sizeof(hash));
        sodium_memzero(pos[2], strlen(pos[2])); /* also hides it from ps */
        return rc;
    }
    if (npos == 2 && strcmp(pos[0], "delete") == 0) {
        x.email = pos[1];
        return run(dir, &x);
    }
    sh_cli_superuser_usage(stderr);
    return 2;
}
