/*
 * JSONTestSuite (../shared/corpus/json, env SH_CORPUS_DIR; it stays outside
 * the repository) replayed against the real server, the way a client would
 * send each file:
 *  - as the request body of every route that reads one (create, update,
 *    auth-with-password, request-password-reset, the collections API): each
 *    n_* file is answered 400 in the error shape on every route;
 *  - wrapped as a json-field value, {"data": <file>}: each n_* file is
 *    answered 400, each y_* value is stored and read back equal, each i_*
 *    file gets an answer below 500 (and if stored, reads back equal).
 * Four y_* files are refused by design and checked to be: two with a
 * duplicate key (a key checked and dropped could come back as its twin) and
 * two with \u0000 (text fields would truncate it). n_structure_no_data (0
 * bytes) sent as a body is no body, which PocketBase takes as no data; it is
 * refused as a field value. Counts are printed.
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

#include <cmocka.h>

#include "stagehand/core.h"
#include "stagehand/json.h"
#include "test_json_client.h"

/* y_* files refused on purpose (see the file comment). */
static const char *const refused_by_design[] = {
    "y_object_duplicated_key.json",
    "y_object_duplicated_key_and_value.json",
    "y_object_escaped_null_in_key.json",
    "y_string_null_escape.json",
};

static struct it_server *srv;
static struct it_conn *conn;
static char *su_token;
static char *doc_id;

struct file {
    char *name;
    char *data;
    size_t len;
};

static struct file *files;
static size_t nfiles;

static const char *suite_dir(void)
{
    const char *d = getenv("SH_CORPUS_DIR");
    if (!d)
        return NULL;
    const char *p = it_sprintf("%s/json/JSONTestSuite/test_parsing", d);
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode) ? p : NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct file *)a)->name, ((const struct file *)b)->name);
}

static void load_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t cap = 512;
    files = it_alloc(cap * sizeof(*files));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0 || nfiles == cap)
            continue;
        int fd = open(it_sprintf("%s/%s", dir, e->d_name), O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct stat sb;
        assert_int_equal(fstat(fd, &sb), 0);
        struct file *f = &files[nfiles++];
        f->name = it_strdup(e->d_name);
        f->data = it_alloc((size_t)sb.st_size + 1);
        while (f->len < (size_t)sb.st_size) {
            ssize_t r = read(fd, f->data + f->len, (size_t)sb.st_size - f->len);
            assert_true(r > 0);
            f->len += (size_t)r;
        }
        close(fd);
    }
    closedir(d);
    qsort(files, nfiles, sizeof(*files), by_name);
}

static bool by_design(const char *name)
{
    for (size_t i = 0; i < SH_ARRAY_LEN(refused_by_design); i++)
        if (strcmp(name, refused_by_design[i]) == 0)
            return true;
    return false;
}

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    const char *dir = suite_dir();
    if (!dir)
        return 0; /* each test skips */
    srv = rc_server(rc_q(jc_schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    load_files(dir);
    return 0;
}

/* Each test's connection (in the test's scope), and the superuser and the
 * first record the first time. */
static int open_conn(void)
{
    if (!srv) {
        printf("# SKIP: JSONTestSuite not found (SH_CORPUS_DIR=%s)\n",
               getenv("SH_CORPUS_DIR") ? getenv("SH_CORPUS_DIR") : "(unset)");
        return 0;
    }
    conn = it_conn_open(srv);
    if (!conn)
        return -1;
    if (!su_token) {
        ac_superuser(srv, "root@example.com", "root password");
        /* both outlive the test's scope; freed at exit */
        su_token = strdup(ac_login(conn, "_superusers", "root@example.com", "root password", NULL));
        doc_id = strdup(rc_create(conn, "docs", "{'title':'first'}"));
    }
    return 0;
}

/* One answer, on a fresh connection if the last one was closed. */
static struct rc_resp *send_body(const char *method, const char *path, const char *token,
                                 const char *body, size_t len)
{
    static bool reopen;
    if (reopen || conn->eof) {
        it_conn_close(conn);
        conn = it_conn_open(srv);
        assert_non_null(conn);
    }
    struct rc_resp *r = jc_req(conn, method, path, token, body, len);
    const char *c = it_resp_header(r->raw, "Connection");
    reopen = c && strcmp(c, "close") == 0;
    return r;
}

static void test_json_corpus_as_bodies(void **state)
{
    (void)state;
    if (!srv)
        skip();
    struct {
        const char *method, *path;
        bool su;
    } routes[] = {
        {"POST", "/api/collections/docs/records", false},
        {"PATCH", it_sprintf("/api/collections/docs/records/%s", doc_id), false},
        {"POST", "/api/collections/users/auth-with-password", false},
        {"POST", "/api/collections/users/request-password-reset", false},
        {"POST", "/api/collections", true},
    };
    unsigned n_total = 0, n_refused = 0, y_ok = 0, i_ok = 0, bad = 0;
    int64_t ms[SH_ARRAY_LEN(routes)] = {0};
    for (size_t i = 0; i < nfiles; i++) {
        const struct file *f = &files[i];
        for (size_t k = 0; k < SH_ARRAY_LEN(routes); k++) {
            int64_t t0 = it_now_ms();
            struct rc_resp *r = send_body(routes[k].method, routes[k].path,
                                          routes[k].su ? su_token : NULL, f->data, f->len);
            ms[k] += it_now_ms() - t0;
            bool ok;
            if (f->len == 0) {
                /* n_structure_no_data: as a body it is no body at all,
                 * which PocketBase's BindBody takes as no data (a create
                 * with defaults); never a 5xx */
                ok = r->status < 500 && !jc_is_bad_json(r);
            } else if (f->name[0] == 'n') {
                n_total++;
                ok = jc_is_bad_json(r);
                n_refused += ok;
            } else if (f->name[0] == 'y' && k == 0) {
                /* an object passes the parse (its fields may still fail
                 * validation: y_object_long_strings has a 1 KiB "id");
                 * anything else, and the refused-by-design files, is 400 */
                const char *p = f->data;
                while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                    p++;
                bool obj = *p == '{' && !by_design(f->name);
                ok = obj ? r->status < 500 && !jc_is_bad_json(r) : jc_is_bad_json(r);
                y_ok += ok;
            } else {
                ok = r->status >= 200 && r->status < 500;
                i_ok += ok && f->name[0] == 'i';
            }
            if (!ok) {
                bad++;
                it_note("%s %s %s: %d %s", f->name, routes[k].method, routes[k].path, r->status,
                        r->raw->body);
            }
            rc_free_all();
        }
    }
    printf("# JSONTestSuite as bodies (%zu routes): n_ refused %u/%u, y_ as expected %u, "
           "i_ answered below 500 %u, failures %u\n",
           SH_ARRAY_LEN(routes), n_refused, n_total, y_ok, i_ok, bad);
    for (size_t k = 0; k < SH_ARRAY_LEN(routes); k++)
        printf("# %s %s: %lld ms for %zu files\n", routes[k].method, routes[k].path,
               (long long)ms[k], nfiles);
    assert_true(n_total >= 187u * SH_ARRAY_LEN(routes));
    assert_int_equal(bad, 0);
}

static void test_json_corpus_as_field_values(void **state)
{
    (void)state;
    if (!srv)
        skip();
    unsigned n_total = 0, n_refused = 0, y_total = 0, y_equal = 0, y_design = 0, i_stored = 0,
             i_refused = 0, bad = 0;
    for (size_t i = 0; i < nfiles; i++) {
        const struct file *f = &files[i];
        size_t len = f->len + 9;
        char *body = it_alloc(len + 1);
        memcpy(body, "{\"data\":", 8);
        memcpy(body + 8, f->data, f->len);
        body[len - 1] = '}';
        struct rc_resp *r = send_body("POST", "/api/collections/docs/records", NULL, body, len);
        bool ok = true;
        if (f->name[0] == 'n') {
            n_total++;
            ok = jc_is_bad_json(r);
            n_refused += ok;
        } else if (f->name[0] == 'y' && by_design(f->name)) {
            ok = jc_is_bad_json(r);
            y_design += ok;
        } else if (f->name[0] == 'y' || r->status == 200) {
            y_total += f->name[0] == 'y';
            ok = r->status == 200;
            if (ok) {
                /* read it back and compare with the file's own value */
                const char *id = it_strdup(rc_str(r->json, "id"));
                struct rc_resp *g = send_body(
                    "GET", it_sprintf("/api/collections/docs/records/%s", id), NULL, NULL, 0);
                cJSON *want = sh_json_parse(f->data, f->len, NULL);
                ok = g->status == 200 && want &&
                     jc_equal(cJSON_GetObjectItemCaseSensitive(g->json, "data"), want);
                if (!ok)
                    it_note("%s read back %s", f->name, g->raw->body);
                cJSON_Delete(want);
            }
            if (f->name[0] == 'y')
                y_equal += ok;
            else
                i_stored += ok;
        } else {
            ok = r->status >= 400 && r->status < 500; /* an i_ file refused */
            i_refused += ok;
        }
        if (!ok) {
            bad++;
            it_note("%s as a field value: %d %s", f->name, r->status, r->raw->body);
        }
        rc_free_all();
    }
    printf("# JSONTestSuite as json-field values: n_ refused %u/%u, y_ read back equal %u/%u, "
           "y_ refused by design %u/%zu, i_ stored %u, i_ refused %u, failures %u\n",
           n_refused, n_total, y_equal, y_total, y_design, SH_ARRAY_LEN(refused_by_design),
           i_stored, i_refused, bad);
    assert_true(n_total >= 188);
    assert_true(y_total >= 90);
    assert_int_equal(y_design, SH_ARRAY_LEN(refused_by_design));
    assert_int_equal(bad, 0);
}

/* The server is alive and answers after the replay (nothing hung or died). */
static void test_json_corpus_server_survives(void **state)
{
    (void)state;
    if (!srv)
        skip();
    assert_true(it_server_alive(srv));
    struct rc_resp *r = send_body("GET", "/api/health", NULL, NULL, 0);
    assert_int_equal(r->status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_json_corpus_as_bodies, open_conn),
        it_test_each(test_json_corpus_as_field_values, open_conn),
        it_test_each(test_json_corpus_server_survives, open_conn),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, it_group_teardown);
    free(su_token);
    free(doc_id);
    return rc;
}
