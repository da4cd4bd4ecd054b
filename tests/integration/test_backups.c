/*
 * The backups API and CLI as a client sees them: access control on every
 * route (guest 401, user 403, a download without a superuser file token
 * 403), create with a default or given name, the name rules and conflicts,
 * the list's shape, the download's bytes, delete, upload (the archive back as a new
 * backup; a taken or bad name, no ZIP, no file: 400); restore
 * through the API (204, the server comes back on the same address with the
 * backup's data); restore failures (a corrupt ZIP, a ZIP whose data.db is
 * not a database, one lacking stagehand's tables, one with a path escaping
 * the directory, one without data.db) answered 400 with the old data still
 * served; the CLI's create, list and restore (refused while a server runs).
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "test_auth_client.h"

static const char schema[] =
    "[{'name':'users','type':'auth','fields':[],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':null,'deleteRule':null},"
    " {'name':'notes','type':'base','fields':[{'name':'title','type':'text'}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''}]";

#define SU_EMAIL "root@example.com"
#define SU_PASS  "root password 1"

static struct it_server *start(void)
{
    struct it_server *s = it_server_new();
    assert_non_null(s);
    assert_int_equal(rc_import(s, "schema.json", rc_q(schema)), 0);
    ac_superuser(s, SU_EMAIL, SU_PASS);
    assert_int_equal(it_server_run(s, (const char *const[]){"--rate-limit-auth", "off", NULL}), 0);
    return s;
}

static const char *su_token(struct it_conn *c)
{
    return ac_login(c, "_superusers", SU_EMAIL, SU_PASS, NULL);
}

static const char *file_token(struct it_conn *c, const char *auth)
{
    struct rc_resp *r = ac_req(c, "POST", "/api/files/token", auth, NULL);
    return rc_str(rc_ok(r, 200), "token");
}

static int note_count(struct it_conn *c, const char *title)
{
    struct rc_resp *r = rc_req(c, "GET",
                               it_sprintf("/api/collections/notes/records?filter=%s",
                                          rc_enc(it_sprintf("title=\"%s\"", title))),
                               NULL);
    return (int)rc_num(rc_ok(r, 200), "totalItems");
}

static void test_backups_access(void **state)
{
    (void)state;
    struct it_server *s = start();
    struct it_conn *c = it_conn_open_or_fail(s);
    ac_signup(c, "users", "u@example.com", "user password", NULL);
    const char *user = ac_login(c, "users", "u@example.com", "user password", NULL);
    const char *su = su_token(c);
    assert_int_equal(ac_req(c, "POST", "/api/backups", su, "{\"name\":\"a.zip\"}")->status, 204);
    static const char *const routes[][2] = {
        {"GET", "/api/backups"},          {"POST", "/api/backups"},
        {"DELETE", "/api/backups/a.zip"}, {"POST", "/api/backups/a.zip/restore"},
        {"POST", "/api/backups/upload"},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        rc_assert_error(ac_req(c, routes[i][0], routes[i][1], NULL, NULL), 401, NULL, NULL);
        rc_assert_error(ac_req(c, routes[i][0], routes[i][1], user, NULL), 403, NULL, NULL);
    }
    /* Downloads: a superuser file token only. */
    rc_assert_error(rc_req(c, "GET", "/api/backups/a.zip", NULL), 403, NULL, NULL);
    rc_assert_error(ac_req(c, "GET", "/api/backups/a.zip", su, NULL), 403, NULL, NULL);
    rc_assert_error(rc_req(c, "GET", it_sprintf("/api/backups/a.zip?token=%s", su), NULL), 403,
                    NULL, NULL);
    const char *uft = file_token(c, user);
    rc_assert_error(rc_req(c, "GET", it_sprintf("/api/backups/a.zip?token=%s", uft), NULL), 403,
                    NULL, NULL);
    char *forged = it_strdup(file_token(c, su));
    forged[strlen(forged) - 2] ^= 1;
    rc_assert_error(rc_req(c, "GET", it_sprintf("/api/backups/a.zip?token=%s", forged), NULL), 403,
                    NULL, NULL);
    rc_assert_error(rc_req(c, "POST", "/api/files/token", NULL), 401, NULL, NULL);
    /* Nothing was deleted or restored by the refused requests. */
    struct rc_resp *l = ac_req(c, "GET", "/api/backups", su, NULL);
    assert_int_equal(cJSON_GetArraySize(rc_ok(l, 200)), 1);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

/* POST /api/backups/upload with one file part `file` named name (no part when
 * name is NULL), as the SDK sends it; token may be NULL. */
static struct rc_resp *upload(struct it_conn *c, const char *token, const char *name,
                              const void *data, size_t len)
{
    const char *b = "----stagehandtestboundary";
    char *head = name ? it_sprintf("--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                                   "filename=\"%s\"\r\nContent-Type: application/zip\r\n\r\n",
                                   b, name)
                      : it_sprintf("--%s\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n"
                                   "x",
                                   b);
    char *tail = it_sprintf("\r\n--%s--\r\n", b);
    size_t total = strlen(head) + (name ? len : 0) + strlen(tail);
    char *req = it_sprintf("POST /api/backups/upload HTTP/1.1\r\nHost: t\r\n%s%s%s"
                           "Content-Type: multipart/form-data; boundary=%s\r\n"
                           "Content-Length: %zu\r\n\r\n%s",
                           token ? "Authorization: " : "", token ? token : "", token ? "\r\n" : "",
                           b, total, head);
    assert_int_equal(it_conn_send(c, req, strlen(req), IT_MS_IO), IT_OK);
    if (name && len)
        assert_int_equal(it_conn_send(c, data, len, IT_MS_IO), IT_OK);
    assert_int_equal(it_conn_send(c, tail, strlen(tail), IT_MS_IO), IT_OK);
    struct rc_resp *r = it_alloc(sizeof *r);
    r->raw = it_conn_read(c, 0, IT_MS_IO);
    assert_non_null(r->raw);
    r->status = r->raw->status;
    r->json = r->raw->body && r->raw->body[0] == '{' ? rc_track(cJSON_Parse(r->raw->body)) : NULL;
    return r;
}

/* 1 if path is an empty folder (or missing), else 0. */
static int empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 1;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n == 0;
}

static void test_backups_create_list_download_delete(void **state)
{
    (void)state;
    struct it_server *s = start();
    struct it_conn *c = it_conn_open_or_fail(s);
    const char *su = su_token(c);
    rc_create(c, "notes", "{'title':'kept'}");
    assert_int_equal(ac_req(c, "POST", "/api/backups", su, NULL)->status, 204);
    assert_int_equal(ac_req(c, "POST", "/api/backups", su, "{\"name\":\"mine_1.zip\"}")->status,
                     204);
    rc_assert_error(ac_req(c, "POST", "/api/backups", su, "{\"name\":\"mine_1.zip\"}"), 400, "name",
                    "validation_backup_name_exists");
    static const char *const bad[] = {"\"../x.zip\"", "\"a/b.zip\"", "\"X.zip\"", "\"x.txt\"",
                                      "\".zip\"",     "\".x.zip\"",  "42"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        rc_assert_error(ac_req(c, "POST", "/api/backups", su, it_sprintf("{\"name\":%s}", bad[i])),
                        400, "name", "validation_match_invalid");
    rc_assert_error(ac_req(c, "POST", "/api/backups", su, "{\"name\":"), 400, NULL, NULL);

    struct rc_resp *l = ac_req(c, "GET", "/api/backups", su, NULL);
    const cJSON *arr = rc_ok(l, 200), *e;
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    int seen_default = 0, seen_mine = 0;
    cJSON_ArrayForEach(e, arr) {
        const char *key = rc_str(e, "key");
        assert_true(rc_num(e, "size") > 100);
        const char *mod = rc_str(e, "modified"); /* "2026-01-02 03:04:05.678Z" */
        assert_int_equal(strlen(mod), 24);
        assert_int_equal(mod[10], ' ');
        assert_int_equal(mod[23], 'Z');
        seen_mine |= strcmp(key, "mine_1.zip") == 0;
        seen_default |= strncmp(key, "pb_backup_", 10) == 0 && strlen(key) == 28;
    }
    assert_true(seen_default && seen_mine);
    /* No temporary file is left next to them. */
    char *bdir = it_sprintf("%s/backups", s->data_dir);
    assert_false(access(it_sprintf("%s/.tmp-mine_1.zip", bdir), F_OK) == 0);

    /* Download: the archive's bytes, equal to the file on disk. */
    const char *ft = file_token(c, su);
    struct rc_resp *d = rc_req(c, "GET", it_sprintf("/api/backups/mine_1.zip?token=%s", ft), NULL);
    assert_int_equal(d->status, 200);
    assert_string_equal(it_resp_header(d->raw, "Content-Type"), "application/zip");
    struct stat st;
    assert_int_equal(stat(it_sprintf("%s/mine_1.zip", bdir), &st), 0);
    assert_int_equal(d->raw->body_len, (size_t)st.st_size);
    assert_memory_equal(d->raw->body, "PK\x03\x04", 4);
    rc_assert_error(rc_req(c, "GET", it_sprintf("/api/backups/none.zip?token=%s", ft), NULL), 404,
                    NULL, NULL);

    /* Upload (multipart, the field `file`): the archive's bytes come back as a new backup;
     * a taken or malformed name, content that is no ZIP, or no file are 400s naming `file` */
    assert_int_equal(upload(c, su, "uploaded_1.zip", d->raw->body, d->raw->body_len)->status, 204);
    assert_int_equal(stat(it_sprintf("%s/uploaded_1.zip", bdir), &st), 0);
    assert_int_equal((size_t)st.st_size, d->raw->body_len);
    rc_assert_error(upload(c, su, "uploaded_1.zip", d->raw->body, d->raw->body_len), 400, "file",
                    "validation_backup_name_exists");
    rc_assert_error(upload(c, su, "Bad Name.zip", d->raw->body, d->raw->body_len), 400, "file",
                    "validation_match_invalid");
    rc_assert_error(upload(c, su, "../up.zip", d->raw->body, d->raw->body_len), 400, "file",
                    "validation_match_invalid");
    rc_assert_error(upload(c, su, "not_zip.zip", "hello, world", 12), 400, "file",
                    "validation_invalid_mime_type");
    assert_false(access(it_sprintf("%s/not_zip.zip", bdir), F_OK) == 0);
    rc_assert_error(upload(c, su, NULL, NULL, 0), 400, "file", "validation_required");
    assert_int_equal(upload(c, NULL, "anon_1.zip", d->raw->body, d->raw->body_len)->status, 401);
    /* temporary files go when their request ends (unlinked off the loop: polled) */
    int empty = 0;
    for (int64_t end = it_now_ms() + 3000; !empty && it_now_ms() < end; usleep(20 * 1000))
        empty = empty_dir(it_sprintf("%s/storage/.tmp", s->data_dir));
    assert_int_equal(empty, 1);
    assert_int_equal(ac_req(c, "DELETE", "/api/backups/uploaded_1.zip", su, NULL)->status, 204);
    rc_assert_error(rc_req(c, "GET", it_sprintf("/api/backups/..%%2Fdata.db?token=%s", ft), NULL),
                    404, NULL, NULL);
    rc_assert_error(ac_req(c, "DELETE", "/api/backups/..%2Fdata.db", su, NULL), 404, NULL, NULL);
    rc_assert_error(ac_req(c, "POST", "/api/backups/.lock/restore", su, NULL), 404, NULL, NULL);

    assert_int_equal(ac_req(c, "DELETE", "/api/backups/mine_1.zip", su, NULL)->status, 204);
    rc_assert_error(ac_req(c, "DELETE", "/api/backups/mine_1.zip", su, NULL), 400, NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(rc_ok(ac_req(c, "GET", "/api/backups", su, NULL), 200)), 1);
    assert_true(access(it_sprintf("%s/data.db", s->data_dir), F_OK) == 0);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

/* Waits for the server to answer on its address again (after a restart). */
static struct it_conn *reconnect(const struct it_server *s)
{
    int64_t deadline = it_now_ms() + IT_MS_START;
    while (it_now_ms() < deadline) {
        int fd = it_connect(s->host, s->port, 500);
        if (fd >= 0) {
            close(fd);
            struct it_conn *c = it_conn_open(s);
            if (c) {
                struct it_resp *r = NULL;
                if (it_conn_sends(c, "GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n") == IT_OK)
                    r = it_conn_read(c, 0, 2000);
                if (r && r->status == 200)
                    return c;
                it_conn_abort(c);
            }
        }
        usleep(50 * 1000);
    }
    fail_msg("the server did not come back on %s", s->addr);
    return NULL;
}

static void test_backups_restore_api(void **state)
{
    (void)state;
    struct it_server *s = start();
    struct it_conn *c = it_conn_open_or_fail(s);
    const char *su = su_token(c);
    rc_create(c, "notes", "{'title':'before'}");
    assert_int_equal(ac_req(c, "POST", "/api/backups", su, "{\"name\":\"snap.zip\"}")->status, 204);
    rc_create(c, "notes", "{'title':'after'}");
    assert_int_equal(note_count(c, "after"), 1);
    pid_t pid = s->pid;
    struct rc_resp *r = ac_req(c, "POST", "/api/backups/snap.zip/restore", su, NULL);
    assert_int_equal(r->status, 204);
    it_conn_abort(c);
    assert_true(it_server_wait_log(s, "restarting after the restore", 10000));
    c = reconnect(s);
    assert_int_equal(s->pid, pid);
    assert_true(it_server_alive(s));
    assert_int_equal(note_count(c, "before"), 1);
    assert_int_equal(note_count(c, "after"), 0);
    /* The superuser of the backup signs in; its backups are still listed. */
    su = su_token(c);
    assert_int_equal(cJSON_GetArraySize(rc_ok(ac_req(c, "GET", "/api/backups", su, NULL), 200)), 1);
    assert_false(access(it_sprintf("%s/.restore-staging", s->data_dir), F_OK) == 0);
    assert_false(access(it_sprintf("%s/.restore-old", s->data_dir), F_OK) == 0);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

/* Writes a ZIP at path with n entries: names[i] holds files[i], the file
 * at that path when it starts with '/', else those bytes. */
static void make_zip(const char *path, const char *const *names, const char *const *files, int n)
{
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    assert_non_null(za);
    for (int i = 0; i < n; i++) {
        zip_source_t *src = files[i][0] == '/'
                                ? zip_source_file(za, files[i], 0, -1)
                                : zip_source_buffer(za, files[i], strlen(files[i]), 0);
        assert_non_null(src);
        assert_true(zip_file_add(za, names[i], src, ZIP_FL_ENC_UTF_8) >= 0);
    }
    assert_int_equal(zip_close(za), 0);
}

static void test_backups_restore_failures(void **state)
{
    (void)state;
    struct it_server *s = start();
    struct it_conn *c = it_conn_open_or_fail(s);
    const char *su = su_token(c);
    rc_create(c, "notes", "{'title':'old'}");
    char *bdir = it_sprintf("%s/backups", s->data_dir);
    assert_int_equal(ac_req(c, "POST", "/api/backups", su, "{\"name\":\"good.zip\"}")->status, 204);
    /* A real database without stagehand's tables. */
    char *plain = it_sprintf("%s/plain.db", s->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(plain, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    make_zip(it_sprintf("%s/notables.zip", bdir), (const char *const[]){"data.db"},
             (const char *const[]){plain}, 1);
    const char *garbage = "this is not a zip archive at all";
    assert_int_equal(it_write_file(it_sprintf("%s/corrupt.zip", bdir), garbage, strlen(garbage)),
                     0);
    /* A valid archive, cut in half. */
    struct stat st;
    char *good = it_sprintf("%s/good.zip", bdir);
    assert_int_equal(stat(good, &st), 0);
    {
        int fd = open(good, O_RDONLY);
        char *buf = it_alloc((size_t)st.st_size);
        assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
        close(fd);
        assert_int_equal(
            it_write_file(it_sprintf("%s/half.zip", bdir), buf, (size_t)st.st_size / 2), 0);
    }
    make_zip(it_sprintf("%s/text.zip", bdir), (const char *const[]){"data.db"},
             (const char *const[]){"not a database"}, 1);
    make_zip(it_sprintf("%s/nodata.zip", bdir), (const char *const[]){"storage/a.txt"},
             (const char *const[]){"a file"}, 1);
    make_zip(it_sprintf("%s/escape.zip", bdir), (const char *const[]){"data.db", "../evil"},
             (const char *const[]){"x", "evil"}, 2);
    make_zip(it_sprintf("%s/abs.zip", bdir), (const char *const[]){"storage/../../evil"},
             (const char *const[]){"evil"}, 1);
    make_zip(it_sprintf("%s/other.zip", bdir), (const char *const[]){"data.db", "notes.txt"},
             (const char *const[]){"x", "y"}, 2);
    static const char *const keys[] = {"corrupt.zip", "half.zip",   "text.zip", "notables.zip",
                                       "nodata.zip",  "escape.zip", "abs.zip",  "other.zip"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct rc_resp *r =
            ac_req(c, "POST", it_sprintf("/api/backups/%s/restore", keys[i]), su, NULL);
        if (r->status != 400)
            fail_msg("restore of %s answered %d: %s", keys[i], r->status, r->raw->body);
        rc_assert_error(r, 400, "key", "validation_invalid_backup");
        /* Still the same process, still the old data, nothing staged. */
        assert_int_equal(note_count(c, "old"), 1);
        assert_false(access(it_sprintf("%s/.restore-staging", s->data_dir), F_OK) == 0);
    }
    assert_false(access(it_sprintf("%s/evil", s->data_dir), F_OK) == 0);
    assert_false(access(it_sprintf("%s/evil", s->dir), F_OK) == 0);
    rc_assert_error(ac_req(c, "POST", "/api/backups/missing.zip/restore", su, NULL), 404, NULL,
                    NULL);
    assert_false(it_server_wait_log(s, "restarting after the restore", 100));
    /* The server still writes. */
    rc_create(c, "notes", "{'title':'old'}");
    assert_int_equal(note_count(c, "old"), 2);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

static void test_backups_cli(void **state)
{
    (void)state;
    struct it_server *s = start();
    struct it_conn *c = it_conn_open_or_fail(s);
    rc_create(c, "notes", "{'title':'one'}");
    char *out = NULL, *err = NULL;
    /* create and list work beside a running server */
    assert_int_equal(ac_run(&out, &err, "backup", "create", "cli.zip", "--dir", s->data_dir, NULL),
                     0);
    assert_string_equal(out, "cli.zip\n");
    assert_int_equal(ac_run(&out, &err, "backup", "create", "cli.zip", "--dir", s->data_dir, NULL),
                     1);
    assert_int_equal(ac_run(&out, &err, "backup", "create", "../x.zip", "--dir", s->data_dir, NULL),
                     2);
    assert_int_equal(ac_run(&out, &err, "backup", "list", "--dir", s->data_dir, NULL), 0);
    assert_non_null(strstr(out, "cli.zip\t"));
    rc_create(c, "notes", "{'title':'two'}");
    /* restore needs the directory to itself */
    assert_int_equal(ac_run(&out, &err, "backup", "restore", "cli.zip", "--dir", s->data_dir, NULL),
                     1);
    assert_non_null(strstr(err, "serves"));
    assert_int_equal(note_count(c, "two"), 1);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    assert_int_equal(
        ac_run(&out, &err, "backup", "restore", "nope.zip", "--dir", s->data_dir, NULL), 1);
    assert_int_equal(ac_run(&out, &err, "backup", "restore", "cli.zip", "--dir", s->data_dir, NULL),
                     0);
    assert_int_equal(it_server_run(s, NULL), 0);
    c = it_conn_open_or_fail(s);
    assert_int_equal(note_count(c, "one"), 1);
    assert_int_equal(note_count(c, "two"), 0);
    it_conn_close(c);
    assert_int_equal(ac_run(&out, &err, "backup", "--dir", s->data_dir, NULL), 2);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_backups_access),      it_test(test_backups_create_list_download_delete),
        it_test(test_backups_restore_api), it_test(test_backups_restore_failures),
        it_test(test_backups_cli),
    };
    return cmocka_run_group_tests_name("backups", tests, NULL, NULL);
}
