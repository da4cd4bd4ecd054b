/*
 * The Argon2id parameters as an operator sees them (--argon2-memory,
 * --argon2-iterations): every stored hash is a PHC string that carries the
 * parameters it was made with (read back from data.db); a server started
 * with other parameters still verifies the old hashes with their own, signs
 * their owners in, and stores a hash with its parameters at that successful
 * sign-in (through the writer: the row changes in data.db), while a wrong
 * password changes nothing; without the flags, new hashes use the defaults
 * (OWASP's m=19 MiB, t=2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "test_auth_client.h"

static const char schema[] =
    "[{'name':'users','type':'auth','fields':[],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':null,'deleteRule':null}]";

#define PW "argon2 test password"

/* The stored password hash of email, read from data.db (the server may run). */
static const char *stored_hash(const struct it_server *s, const char *email)
{
    sqlite3 *db;
    const char *out = NULL;
    assert_int_equal(
        sqlite3_open_v2(it_sprintf("%s/data.db", s->data_dir), &db, SQLITE_OPEN_READONLY, NULL),
        SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT password FROM users WHERE email = ?", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, email, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = it_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_non_null(out);
    return out;
}

static int sign_in_status(struct it_conn *c, const char *email, const char *password)
{
    return rc_req(c, "POST", "/api/collections/users/auth-with-password",
                  it_sprintf("{\"identity\":\"%s\",\"password\":\"%s\"}", email, password))
        ->status;
}

/* Waits (bounded) for the stored hash of email to start with prefix: the
 * rehash is written by the writer in the sign-in's own transaction, so it is
 * there when the answer is; the wait only covers a slow disk. */
static int hash_becomes(const struct it_server *s, const char *email, const char *prefix)
{
    for (int i = 0; i < 100; i++) {
        if (strncmp(stored_hash(s, email), prefix, strlen(prefix)) == 0)
            return 1;
        usleep(20000);
    }
    return 0;
}

static void test_parameters_stored_verified_and_rehashed(void **state)
{
    (void)state;
    /* 1. a server with small parameters: the hash says m=8192 (KiB), t=1 */
    struct it_server *s =
        rc_server(rc_q(schema), "--argon2-memory", "8MiB", "--argon2-iterations", "1", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    ac_signup(c, "users", "old@example.com", PW, NULL);
    const char *h1 = stored_hash(s, "old@example.com");
    assert_memory_equal(h1, "$argon2id$v=19$m=8192,t=1,p=1$", 30);
    assert_int_equal(sign_in_status(c, "old@example.com", PW), 200);
    assert_string_equal(stored_hash(s, "old@example.com"), h1); /* same parameters: kept */
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);

    /* 2. restarted with other parameters: a wrong password changes nothing */
    const char *const args[] = {"--argon2-memory", "16MiB", "--argon2-iterations", "3", NULL};
    assert_int_equal(it_server_run(s, args), 0);
    c = it_conn_open(s);
    assert_int_equal(sign_in_status(c, "old@example.com", "wrong password"), 400);
    assert_string_equal(stored_hash(s, "old@example.com"), h1);
    /* the right one: verified with the old hash's own parameters, signed in,
     * and the hash is made again with the server's */
    assert_int_equal(sign_in_status(c, "old@example.com", PW), 200);
    assert_true(hash_becomes(s, "old@example.com", "$argon2id$v=19$m=16384,t=3,p=1$"));
    const char *h2 = stored_hash(s, "old@example.com");
    assert_string_not_equal(h2, h1);
    /* the new hash works, and is not remade again */
    assert_int_equal(sign_in_status(c, "old@example.com", PW), 200);
    assert_string_equal(stored_hash(s, "old@example.com"), h2);
    assert_int_equal(sign_in_status(c, "old@example.com", "wrong password"), 400);
    /* a new account gets the new parameters at once */
    ac_signup(c, "users", "new@example.com", PW, NULL);
    assert_memory_equal(stored_hash(s, "new@example.com"), "$argon2id$v=19$m=16384,t=3,p=1$", 31);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);

    /* 3. the defaults: OWASP's m=19 MiB (19456 KiB), t=2 */
    assert_int_equal(it_server_run(s, NULL), 0);
    c = it_conn_open(s);
    assert_int_equal(sign_in_status(c, "new@example.com", PW), 200);
    assert_true(hash_becomes(s, "new@example.com", "$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_int_equal(sign_in_status(c, "new@example.com", PW), 200);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_parameters_stored_verified_and_rehashed),
    };
    return cmocka_run_group_tests_name("auth_argon2", tests, NULL, NULL);
}
