/*
 * File fields against the real server and its data directory: the field
 * type's options in the collections API; multipart creates with single and
 * multiple file fields, each upload stored under
 * <dir>/storage/<collectionId>/<recordId>/<stored name> with its bytes;
 * updates that replace (single), append (`name+`), remove (`name-`) and
 * clear, the dropped files deleted after the commit; a delete removing the
 * record's folder; and refusals that leave no file behind: a file over
 * maxSize, bytes whose sniffed type is not in mimeTypes whatever the part
 * claims, a record that fails validation, a JSON body naming a file the
 * record does not hold. Downloads: GET /api/files/... with the sniffed
 * Content-Type, the CSP and nosniff headers, ETag and 304, Range (206,
 * 416, If-Range), ?download=1, 404
 * for any name the record does not hold, and protected files served only
 * when the viewRule passes for the owner of ?token= (a file token). A
 * restart removes stored files no record names.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_files_client.h"

static const char schema[] =
    "[{'name':'docs','type':'base','fields':["
    "  {'name':'title','type':'text','required':true},"
    "  {'name':'avatar','type':'file','maxSelect':1,'maxSize':1000,"
    "   'mimeTypes':['image/png','text/plain']},"
    "  {'name':'files','type':'file','maxSelect':3,'maxSize':100000},"
    "  {'name':'secret','type':'file','maxSelect':1,'protected':true,'thumbs':['10x10']},"
    "  {'name':'big','type':'file','maxSelect':1,'maxSize':100000000}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''},"
    "{'name':'users','type':'auth','fields':[],'createRule':''},"
    "{'name':'vault','type':'base','fields':["
    "  {'name':'doc','type':'file','maxSelect':1,'protected':true},"
    "  {'name':'open','type':'file','maxSelect':1}],"
    "  'viewRule':'@request.auth.id != \\\"\\\"','createRule':''}]";

static struct it_server *srv;
static struct it_conn *conn;
static char cid[64];
static const char *tsu; /* a superuser's token */

#define B FC_BOUNDARY

/* A PNG's first bytes: what libmagic needs to call it image/png. */
static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
#define PNG_LEN (sizeof(png) - 1)

static char *rec_dir(const char *id)
{
    return it_sprintf("%s/storage/%s/%s", srv->data_dir, cid, id);
}

/* The bytes of the stored file, or NULL when it is not there. */
static char *stored(const char *id, const char *name, size_t *n)
{
    FILE *f = fopen(it_sprintf("%s/%s", rec_dir(id), name), "rb");
    if (!f)
        return NULL;
    char *buf = it_alloc(200001);
    *n = fread(buf, 1, 200000, f);
    fclose(f);
    return buf;
}

/* Files in the record's folder (-1: no folder). */
static int files_in(const char *id)
{
    DIR *d = opendir(rec_dir(id));
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Entries in storage/.tmp (uploads not yet moved or removed). */
static int tmp_files(void)
{
    DIR *d = opendir(it_sprintf("%s/storage/.tmp", srv->data_dir));
    int n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Waits (up to 5 s) for a condition the server completes after answering. */
#define EVENTUALLY(cond)                                                                           \
    do {                                                                                           \
        int64_t end_ = it_now_ms() + 5000;                                                         \
        while (!(cond) && it_now_ms() < end_) {                                                    \
            struct timespec ts_ = {0, 20 * 1000 * 1000};                                           \
            nanosleep(&ts_, NULL);                                                                 \
        }                                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    /* ASan keeps freed blocks in a quarantine (256 MiB by default) that
     * VmHWM counts: a streamed download frees 64 KiB pieces as it goes.
     * A small quarantine lets the memory test see what the server holds. */
    const char *asan = getenv("ASAN_OPTIONS");
    setenv("ASAN_OPTIONS",
           it_sprintf("%s%squarantine_size_mb=4", asan ? asan : "", asan && *asan ? ":" : ""), 1);
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    ac_superuser(srv, "root@example.com", "root password");
    struct it_conn *c = it_conn_open(srv);
    if (!c)
        return -1;
    tsu = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    struct rc_resp *r = ac_req(c, "GET", "/api/collections/docs", tsu, NULL);
    if (r->status != 200)
        return -1;
    snprintf(cid, sizeof(cid), "%s", rc_str(r->json, "id"));
    it_conn_close(c);
    return 0;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

/* A stored name from an upload named base.ext: base_ + 10 of [a-z0-9] + ext. */
static void assert_stored_name(const char *name, const char *base, const char *ext)
{
    size_t b = strlen(base), e = strlen(ext), n = strlen(name);
    assert_int_equal(n, b + 1 + 10 + e);
    assert_memory_equal(name, base, b);
    assert_int_equal(name[b], '_');
    for (size_t i = b + 1; i < b + 11; i++)
        assert_true((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9'));
    assert_string_equal(name + b + 11, ext);
}

static void test_field_options_in_the_collections_api(void **state)
{
    (void)state;
    struct rc_resp *r = ac_req(conn, "GET", "/api/collections/docs", tsu, NULL);
    const cJSON *fields = rc_get(rc_ok(r, 200), "fields");
    const cJSON *f, *avatar = NULL, *secret = NULL;
    cJSON_ArrayForEach(f, fields) {
        if (strcmp(rc_str(f, "name"), "avatar") == 0)
            avatar = f;
        if (strcmp(rc_str(f, "name"), "secret") == 0)
            secret = f;
    }
    assert_non_null(avatar);
    assert_string_equal(rc_str(avatar, "type"), "file");
    assert_true(rc_num(avatar, "maxSelect") == 1 && rc_num(avatar, "maxSize") == 1000);
    assert_int_equal(cJSON_GetArraySize(rc_get(avatar, "mimeTypes")), 2);
    assert_false(cJSON_IsTrue(rc_get(avatar, "protected")));
    assert_true(cJSON_IsTrue(rc_get(secret, "protected")));
    assert_string_equal(cJSON_GetArrayItem(rc_get(secret, "thumbs"), 0)->valuestring, "10x10");
    /* an unknown option is refused by name, as for every type */
    r = ac_req(conn, "POST", "/api/collections", tsu,
               rc_q("{'name':'bad','type':'base','fields':[{'name':'f','type':'file',"
                    "'maxFiles':2}]}"));
    assert_int_equal(r->status, 400);
    assert_non_null(strstr(r->raw->body, "maxFiles"));
}

static void test_create_stores_single_and_multiple(void **state)
{
    (void)state;
    struct fc_body b = {0};
    fc_text(&b, "title", "first");
    fc_file_as(&b, "avatar", "Me Photo.PNG", "image/png", png, PNG_LEN);
    fc_file_as(&b, "files", "alpha.txt", "text/plain", "alpha", 5);
    fc_file_as(&b, "files", "../../beta.txt", "text/plain", "beta", 4);
    struct rc_resp *r = fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b);
    const cJSON *rec = rc_ok(r, 200);
    const char *id = rc_str(rec, "id");
    const char *avatar = rc_str(rec, "avatar");
    assert_stored_name(avatar, "me_photo", ".png");
    const cJSON *files = rc_get(rec, "files");
    assert_int_equal(cJSON_GetArraySize(files), 2);
    const char *fa = cJSON_GetArrayItem(files, 0)->valuestring;
    const char *fb = cJSON_GetArrayItem(files, 1)->valuestring;
    assert_stored_name(fa, "alpha", ".txt");
    assert_stored_name(fb, "beta", ".txt"); /* no path survives the name */
    assert_string_equal(rc_str(rec, "secret"), "");
    size_t n;
    char *bytes = stored(id, avatar, &n);
    assert_non_null(bytes);
    assert_int_equal(n, PNG_LEN);
    assert_memory_equal(bytes, png, PNG_LEN);
    bytes = stored(id, fb, &n);
    assert_non_null(bytes);
    assert_int_equal(n, 4);
    assert_memory_equal(bytes, "beta", 4);
    assert_int_equal(files_in(id), 3);
    assert_int_equal(tmp_files(), 0);
    /* read back: the names, as stored */
    r = rc_req(conn, "GET", it_sprintf("/api/collections/docs/records/%s", id), NULL);
    assert_string_equal(rc_str(rc_ok(r, 200), "avatar"), avatar);
    /* a create with the id given stores under that id */
    b = (struct fc_body){0};
    fc_text(&b, "id", "fixedid12345678");
    fc_text(&b, "title", "given id");
    fc_file_as(&b, "files", "c.txt", "text/plain", "gamma", 5);
    r = fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b);
    assert_string_equal(rc_str(rc_ok(r, 200), "id"), "fixedid12345678");
    assert_int_equal(files_in("fixedid12345678"), 1);
}

static void test_update_replace_append_remove_clear(void **state)
{
    (void)state;
    struct fc_body b = {0};
    fc_text(&b, "title", "to update");
    fc_file_as(&b, "avatar", "one.txt", "text/plain", "one", 3);
    fc_file_as(&b, "files", "xxx.txt", "text/plain", "x", 1);
    const cJSON *rec = rc_ok(fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b), 200);
    char *id = it_sprintf("%s", rc_str(rec, "id"));
    char *one = it_sprintf("%s", rc_str(rec, "avatar"));
    char *x = it_sprintf("%s", cJSON_GetArrayItem(rc_get(rec, "files"), 0)->valuestring);
    char *path = it_sprintf("/api/collections/docs/records/%s", id);
    size_t n;

    /* single: a new upload replaces; the old file goes after the commit */
    b = (struct fc_body){0};
    fc_file_as(&b, "avatar", "two.txt", "text/plain", "two", 3);
    rec = rc_ok(fc_send(conn, "PATCH", path, NULL, &b), 200);
    char *two = it_sprintf("%s", rc_str(rec, "avatar"));
    assert_stored_name(two, "two", ".txt");
    assert_non_null(stored(id, two, &n));
    EVENTUALLY(stored(id, one, &n) == NULL);

    /* multiple: `files+` appends */
    b = (struct fc_body){0};
    fc_file_as(&b, "files+", "yyy.txt", "text/plain", "y", 1);
    rec = rc_ok(fc_send(conn, "PATCH", path, NULL, &b), 200);
    const cJSON *files = rc_get(rec, "files");
    assert_int_equal(cJSON_GetArraySize(files), 2);
    assert_string_equal(cJSON_GetArrayItem(files, 0)->valuestring, x);
    char *y = it_sprintf("%s", cJSON_GetArrayItem(files, 1)->valuestring);
    assert_stored_name(y, "yyy", ".txt");
    assert_int_equal(files_in(id), 3);

    /* `files-` removes by name, and the file goes */
    rec = rc_ok(rc_reqf(conn, "PATCH", path, "{\"files-\":[\"%s\"]}", x), 200);
    files = rc_get(rec, "files");
    assert_int_equal(cJSON_GetArraySize(files), 1);
    assert_string_equal(cJSON_GetArrayItem(files, 0)->valuestring, y);
    EVENTUALLY(stored(id, x, &n) == NULL);

    /* a plain upload under `files` replaces the whole list */
    b = (struct fc_body){0};
    fc_file_as(&b, "files", "z.txt", "text/plain", "z", 1);
    rec = rc_ok(fc_send(conn, "PATCH", path, NULL, &b), 200);
    assert_int_equal(cJSON_GetArraySize(rc_get(rec, "files")), 1);
    EVENTUALLY(stored(id, y, &n) == NULL);

    /* "" and [] clear */
    rec = rc_ok(rc_req(conn, "PATCH", path, "{\"avatar\":\"\",\"files\":[]}"), 200);
    assert_string_equal(rc_str(rec, "avatar"), "");
    assert_int_equal(cJSON_GetArraySize(rc_get(rec, "files")), 0);
    EVENTUALLY(files_in(id) == 0);
}

static void test_refusals_leave_no_file(void **state)
{
    (void)state;
    /* over maxSize: 400 with PocketBase's code, nothing stored */
    char big[1001];
    memset(big, 'a', sizeof(big));
    struct fc_body b = {0};
    fc_text(&b, "id", "toobig123456789");
    fc_text(&b, "title", "big");
    fc_file_as(&b, "avatar", "big.txt", "text/plain", big, sizeof(big));
    struct rc_resp *r = fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b);
    rc_assert_error(r, 400, "avatar", "validation_file_size_limit");
    assert_int_equal(files_in("toobig123456789"), -1);

    /* a spoofed type: the part says image/png, the bytes are HTML */
    b = (struct fc_body){0};
    fc_text(&b, "id", "spoofed12345678");
    fc_text(&b, "title", "spoof");
    const char *html = "<html><script>alert(1)</script></html>";
    fc_file_as(&b, "avatar", "pic.png", "image/png", html, strlen(html));
    r = fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b);
    rc_assert_error(r, 400, "avatar", "validation_invalid_mime_type");
    EVENTUALLY(files_in("spoofed12345678") == -1);
    /* the same field takes real PNG bytes, whatever the part claims */
    b = (struct fc_body){0};
    fc_text(&b, "title", "real png");
    fc_file_as(&b, "avatar", "pic.bin", "application/octet-stream", png, PNG_LEN);
    rc_ok(fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b), 200);

    /* the record fails validation (title is required): its files go */
    b = (struct fc_body){0};
    fc_text(&b, "id", "notitle12345678");
    fc_file_as(&b, "files", "orphan.txt", "text/plain", "orphan", 6);
    r = fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b);
    rc_assert_error(r, 400, "title", "validation_required");
    EVENTUALLY(files_in("notitle12345678") == -1);

    /* too many files for maxSelect */
    b = (struct fc_body){0};
    fc_text(&b, "id", "toomany12345678");
    fc_text(&b, "title", "many");
    for (int i = 0; i < 4; i++)
        fc_file_as(&b, "files", "m.txt", "text/plain", "m", 1);
    r = fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b);
    rc_assert_error(r, 400, "files", "validation_too_many_values");
    EVENTUALLY(files_in("toomany12345678") == -1);
    EVENTUALLY(tmp_files() == 0);

    /* JSON can only keep names the record holds, never invent one */
    r = rc_req(conn, "POST", "/api/collections/docs/records",
               "{\"title\":\"t\",\"avatar\":\"someone_else_abcdefghij.png\"}");
    rc_assert_error(r, 400, "avatar", "validation_invalid_file");
    /* a file part under a key that is no file field is refused by name */
    b = (struct fc_body){0};
    fc_text(&b, "title", "t");
    fc_file_as(&b, "title", "t.txt", "text/plain", "t", 1);
    r = fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b);
    rc_assert_error(r, 400, "title", "validation_file_unsupported");
}

static void test_delete_removes_the_folder(void **state)
{
    (void)state;
    struct fc_body b = {0};
    fc_text(&b, "title", "to delete");
    fc_file_as(&b, "files", "d1.txt", "text/plain", "d1", 2);
    fc_file_as(&b, "files", "d2.txt", "text/plain", "d2", 2);
    const cJSON *rec = rc_ok(fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b), 200);
    char *id = it_sprintf("%s", rc_str(rec, "id"));
    assert_int_equal(files_in(id), 2);
    struct rc_resp *r =
        rc_req(conn, "DELETE", it_sprintf("/api/collections/docs/records/%s", id), NULL);
    assert_int_equal(r->status, 204);
    EVENTUALLY(files_in(id) == -1);
}

/* GET path on conn: the raw answer. hdrs (may be "") go before the blank line. */
static struct it_resp *get_raw(const char *path, const char *hdrs)
{
    assert_int_equal(
        it_conn_sends(conn, it_sprintf("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path, hdrs)), IT_OK);
    struct it_resp *r = it_conn_read(conn, 0, 30000);
    assert_non_null(r);
    return r;
}

static void test_download_streams_with_safe_headers(void **state)
{
    (void)state;
    struct fc_body b = {0};
    fc_text(&b, "title", "downloads");
    fc_file_as(&b, "avatar", "pic.bin", "application/octet-stream", png, PNG_LEN);
    const char *html = "<html><script>alert(1)</script></html>";
    fc_file_as(&b, "files", "page.txt", "text/plain", html, strlen(html));
    const cJSON *rec = rc_ok(fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b), 200);
    char *id = it_sprintf("%s", rc_str(rec, "id"));
    char *avatar = it_sprintf("%s", rc_str(rec, "avatar"));
    char *page = it_sprintf("%s", cJSON_GetArrayItem(rc_get(rec, "files"), 0)->valuestring);

    /* by collection name or id; the type from the bytes, not the name */
    struct it_resp *r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, avatar), "");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, PNG_LEN);
    assert_memory_equal(r->body, png, PNG_LEN);
    assert_string_equal(it_resp_header(r, "Content-Type"), "image/png");
    assert_non_null(strstr(it_resp_header(r, "Content-Security-Policy"), "default-src 'none'"));
    assert_string_equal(it_resp_header(r, "X-Content-Type-Options"), "nosniff");
    assert_null(it_resp_header(r, "Content-Disposition"));
    char *etag = it_sprintf("%s", it_resp_header(r, "ETag"));
    r = get_raw(it_sprintf("/api/files/%s/%s/%s", cid, id, avatar),
                it_sprintf("If-None-Match: %s\r\n", etag));
    assert_int_equal(r->status, 304);
    assert_int_equal(r->body_len, 0);

    /* Range: one range is 206 with its bytes, past the end 416, a stale
     * If-Range the whole file */
    r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, avatar), "Range: bytes=2-5\r\n");
    assert_int_equal(r->status, 206);
    assert_int_equal(r->body_len, 4);
    assert_memory_equal(r->body, png + 2, 4);
    assert_string_equal(it_resp_header(r, "Content-Range"), it_sprintf("bytes 2-5/%zu", PNG_LEN));
    r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, avatar), "Range: bytes=-3\r\n");
    assert_int_equal(r->status, 206);
    assert_int_equal(r->body_len, 3);
    assert_memory_equal(r->body, png + PNG_LEN - 3, 3);
    r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, avatar), "Range: bytes=10-\r\n");
    assert_int_equal(r->status, 206);
    assert_int_equal(r->body_len, PNG_LEN - 10);
    r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, avatar), "Range: bytes=1000-\r\n");
    assert_int_equal(r->status, 416);
    assert_string_equal(it_resp_header(r, "Content-Range"), it_sprintf("bytes */%zu", PNG_LEN));
    r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, avatar),
                "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, PNG_LEN);
    r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, avatar),
                it_sprintf("Range: bytes=0-1\r\nIf-Range: %s\r\n", etag));
    assert_int_equal(r->status, 206);
    assert_int_equal(r->body_len, 2);

    /* HTML bytes are served as what they are, under a CSP that runs nothing */
    r = get_raw(it_sprintf("/api/files/docs/%s/%s?download=1", id, page), "");
    assert_int_equal(r->status, 200);
    assert_string_equal(it_resp_header(r, "Content-Type"), "text/html");
    assert_non_null(strstr(it_resp_header(r, "Content-Security-Policy"), "default-src 'none'"));
    assert_string_equal(it_resp_header(r, "Content-Disposition"),
                        it_sprintf("attachment; filename=\"%s\"", page));

    /* names the record does not hold, and paths, are 404 */
    const char *bad[] = {"nothere_abcdefghij.png", "..%2f..%2fdata.db", ".tmp", "%2e%2e"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, bad[i]), "");
        assert_int_equal(r->status, 404);
    }
    r = get_raw(it_sprintf("/api/files/docs/nosuchrecord12/%s", avatar), "");
    assert_int_equal(r->status, 404);
    r = get_raw(it_sprintf("/api/files/nosuch/%s/%s", id, avatar), "");
    assert_int_equal(r->status, 404);
    /* another record's file through this record: 404 */
    b = (struct fc_body){0};
    fc_text(&b, "title", "other");
    rec = rc_ok(fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b), 200);
    r = get_raw(it_sprintf("/api/files/docs/%s/%s", rc_str(rec, "id"), avatar), "");
    assert_int_equal(r->status, 404);
}

static void test_protected_files_need_the_view_rule_and_a_token(void **state)
{
    (void)state;
    struct fc_body b = {0};
    fc_file_as(&b, "doc", "secret.txt", "text/plain", "classified", 10);
    fc_file_as(&b, "open", "open.txt", "text/plain", "public", 6);
    const cJSON *rec =
        rc_ok(fc_send(conn, "POST", "/api/collections/vault/records", NULL, &b), 200);
    char *id = it_sprintf("%s", rc_str(rec, "id"));
    char *doc = it_sprintf("/api/files/vault/%s/%s", id, rc_str(rec, "doc"));
    char *open = it_sprintf("/api/files/vault/%s/%s", id, rc_str(rec, "open"));

    /* the unprotected field is public, whatever the view rule */
    assert_int_equal(get_raw(open, "")->status, 200);
    /* the protected one: not for a guest, nor for a bad token */
    struct it_resp *r = get_raw(doc, "");
    assert_int_equal(r->status, 403);
    assert_int_equal(it_resp_check_error(r, 403), 0);
    assert_int_equal(get_raw(it_sprintf("%s?token=forged.token.value", doc), "")->status, 403);
    /* an auth token is not a file token, nor is the Authorization header read */
    ac_signup(conn, "users", "fay@example.com", "fay password", NULL);
    const char *auth = ac_login(conn, "users", "fay@example.com", "fay password", NULL);
    assert_int_equal(get_raw(it_sprintf("%s?token=%s", doc, auth), "")->status, 403);
    assert_int_equal(get_raw(doc, it_sprintf("Authorization: Bearer %s\r\n", auth))->status, 403);
    /* a file token of a record the rule lets in */
    struct rc_resp *t = ac_req(conn, "POST", "/api/files/token", auth, NULL);
    const char *ftok = rc_str(rc_ok(t, 200), "token");
    r = get_raw(it_sprintf("%s?token=%s", doc, ftok), "");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, 10);
    assert_memory_equal(r->body, "classified", 10);
    /* a superuser's file token passes any rule */
    t = ac_req(conn, "POST", "/api/files/token", tsu, NULL);
    r = get_raw(it_sprintf("%s?token=%s", doc, rc_str(rc_ok(t, 200), "token")), "");
    assert_int_equal(r->status, 200);
}

/* A 64 MiB file in, stored and streamed back out, with the server's peak
 * memory (VmHWM) growing by far less than the file. */
static void test_large_file_round_trip_memory_bounded(void **state)
{
    (void)state;
    size_t data = (size_t)64 << 20, chunk = 1 << 20;
    char *buf = it_alloc(chunk);
    for (size_t i = 0; i < chunk; i++)
        buf[i] = (char)('a' + i % 26);
    char *pre = it_sprintf("--" B "\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n"
                           "big\r\n--" B "\r\nContent-Disposition: form-data; name=\"big\"; "
                           "filename=\"big.bin\"\r\n\r\n");
    const char *post = "\r\n--" B "--\r\n";
    long before = it_server_mem_kib(srv, 1);
    assert_int_equal(
        it_conn_sends(conn, it_sprintf("POST /api/collections/docs/records HTTP/1.1\r\nHost: t\r\n"
                                       "Content-Type: multipart/form-data; boundary=" B "\r\n"
                                       "Content-Length: %zu\r\n\r\n%s",
                                       strlen(pre) + data + strlen(post), pre)),
        IT_OK);
    for (size_t sent = 0; sent < data; sent += chunk)
        assert_int_equal(it_conn_send(conn, buf, chunk, 20000), IT_OK);
    assert_int_equal(it_conn_sends(conn, post), IT_OK);
    struct it_resp *raw = it_conn_read(conn, 0, 60000);
    assert_non_null(raw);
    assert_int_equal(raw->status, 200);
    cJSON *rec = rc_track(cJSON_ParseWithLength(raw->body, raw->body_len));
    char *id = it_sprintf("%s", rc_str(rec, "id"));
    char *name = it_sprintf("%s", rc_str(rec, "big"));
    struct stat st;
    assert_int_equal(stat(it_sprintf("%s/%s", rec_dir(id), name), &st), 0);
    assert_int_equal((size_t)st.st_size, data);
    assert_int_equal(tmp_files(), 0);
    long mid = it_server_mem_kib(srv, 1);
    struct it_resp *r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, name), "");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, data);
    assert_memory_equal(r->body + data - chunk, buf, chunk);
    long after = it_server_mem_kib(srv, 1);
    it_note("server VmHWM %ld KiB before, %ld after a 64 MiB upload, %ld after its download",
            before, mid, after);
    if (getenv("SH_SANITIZE") && strstr(getenv("SH_SANITIZE"), "thread"))
        return;
    assert_true(after - before < 16 * 1024);
}

/* Sets path's times an hour back (older than the sweep's minimum age). */
static void age(const char *path)
{
    struct timespec t[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* What a crash can leave (a file moved in before a commit that never
 * came; a folder of a record never created) is removed at start-up;
 * referenced files and files too young to judge are kept. */
static void test_restart_sweeps_unreferenced_files(void **state)
{
    (void)state;
    struct fc_body b = {0};
    fc_text(&b, "title", "kept");
    fc_file_as(&b, "files", "kept.txt", "text/plain", "kept", 4);
    const cJSON *rec = rc_ok(fc_send(conn, "POST", "/api/collections/docs/records", NULL, &b), 200);
    char *id = it_sprintf("%s", rc_str(rec, "id"));
    char *kept = it_sprintf("%s", cJSON_GetArrayItem(rc_get(rec, "files"), 0)->valuestring);
    assert_int_equal(it_server_stop(srv, 10000), 0);

    char *orphan = it_sprintf("%s/orphan_abcdefghij.txt", rec_dir(id));
    char *young = it_sprintf("%s/young_abcdefghij.txt", rec_dir(id));
    assert_int_equal(it_write_file(orphan, "o", 1), 0);
    assert_int_equal(it_write_file(young, "y", 1), 0);
    age(orphan);
    age(it_sprintf("%s/%s", rec_dir(id), kept));
    assert_int_equal(mkdir(rec_dir("nevercreated123"), 0700), 0);
    char *lost = it_sprintf("%s/lost_abcdefghij.txt", rec_dir("nevercreated123"));
    assert_int_equal(it_write_file(lost, "l", 1), 0);
    age(lost);

    assert_int_equal(it_server_run(srv, (const char *const[]){"--sync", "normal",
                                                              "--rate-limit-auth", "off", NULL}),
                     0);
    assert_true(it_server_wait_log(srv, "removed 2 unreferenced stored files", 5000));
    struct stat st;
    assert_int_equal(stat(orphan, &st), -1);
    assert_int_equal(stat(young, &st), 0); /* maybe another server's, about to commit */
    assert_int_equal(files_in("nevercreated123"), -1);
    size_t n;
    assert_non_null(stored(id, kept, &n));
    conn = it_conn_open(srv);
    assert_non_null(conn);
    struct it_resp *r = get_raw(it_sprintf("/api/files/docs/%s/%s", id, kept), "");
    assert_int_equal(r->status, 200);
    assert_memory_equal(r->body, "kept", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_field_options_in_the_collections_api, open_conn),
        it_test_each(test_create_stores_single_and_multiple, open_conn),
        it_test_each(test_update_replace_append_remove_clear, open_conn),
        it_test_each(test_refusals_leave_no_file, open_conn),
        it_test_each(test_delete_removes_the_folder, open_conn),
        it_test_each(test_download_streams_with_safe_headers, open_conn),
        it_test_each(test_protected_files_need_the_view_rule_and_a_token, open_conn),
        it_test_each(test_large_file_round_trip_memory_bounded, open_conn),
        it_test_each(test_restart_sweeps_unreferenced_files, open_conn), /* restarts: last */
    };
    return cmocka_run_group_tests(tests, group_setup, it_group_teardown);
}
