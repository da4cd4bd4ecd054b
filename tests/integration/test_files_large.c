/*
 * A 1 GiB upload into a file field, streamed from a generator (one 1 MiB
 * buffer sent 1024 times, with near-boundaries "\r\n--x" in it and one
 * split across each pair of sends): the
 * record is created, the stored file has every byte (its size, and its
 * first and last MiB read back with Range requests), nothing is left in
 * storage/.tmp, and the server's peak memory (VmHWM from /proc) grows by
 * far less than the file: the body is never held in memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "test_files_client.h"

#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)

static const char schema[] = "[{'name':'blobs','type':'base','fields':["
                             "{'name':'t','type':'text'},"
                             "{'name':'f','type':'file','maxSelect':1,'maxSize':2147483648}],"
                             "'listRule':'','viewRule':'','createRule':''}]";

/* Bytes [from, from + MIB) of the stored file through a Range request. */
static void assert_range(struct it_conn *c, const char *path, size_t from, const char *want)
{
    assert_int_equal(it_conn_sends(c, it_sprintf("GET %s HTTP/1.1\r\nHost: t\r\n"
                                                 "Range: bytes=%zu-%zu\r\n\r\n",
                                                 path, from, from + MIB - 1)),
                     IT_OK);
    struct it_resp *r = it_conn_read(c, 0, 30000);
    assert_non_null(r);
    assert_int_equal(r->status, 206);
    assert_int_equal(r->body_len, MIB);
    assert_memory_equal(r->body, want, MIB);
}

static void test_one_gib_upload_memory_bounded(void **state)
{
    (void)state;
    it_scope_begin();
    /* a small ASan quarantine, so that VmHWM shows what the server holds */
    const char *asan = getenv("ASAN_OPTIONS");
    setenv("ASAN_OPTIONS",
           it_sprintf("%s%squarantine_size_mb=4", asan ? asan : "", asan && *asan ? ":" : ""), 1);
    struct it_server *s = rc_server(rc_q(schema), "--sync", "normal", "--max-upload", "2G",
                                    "--body-timeout", "15m", NULL);
    assert_non_null(s);
    struct it_conn *c = it_conn_open(s);
    assert_non_null(c);
    char *buf = it_alloc(MIB);
    /* letters, a near-boundary ("\r\n--" and a byte that is not the
     * boundary's) every 4093 bytes, and one cut by the end of each MiB */
    for (size_t i = 0; i < MIB; i++)
        buf[i] = (char)('a' + i % 26);
    for (size_t i = 100; i + 5 < MIB; i += 4093)
        memcpy(buf + i, "\r\n--x", 5);
    memcpy(buf + MIB - 3, "\r\n-", 3);
    const char *pre = "--" FC_BOUNDARY "\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n"
                      "big\r\n--" FC_BOUNDARY "\r\nContent-Disposition: form-data; name=\"f\"; "
                      "filename=\"one.bin\"\r\n\r\n";
    const char *post = "\r\n--" FC_BOUNDARY "--\r\n";
    long before = it_server_mem_kib(s, 1);
    int64_t t0 = it_now_ms();
    assert_int_equal(
        it_conn_sends(c, it_sprintf("POST /api/collections/blobs/records HTTP/1.1\r\nHost: t\r\n"
                                    "Content-Type: multipart/form-data; boundary=" FC_BOUNDARY
                                    "\r\nContent-Length: %zu\r\n\r\n%s",
                                    strlen(pre) + GIB + strlen(post), pre)),
        IT_OK);
    for (size_t sent = 0; sent < GIB; sent += MIB)
        assert_int_equal(it_conn_send(c, buf, MIB, 60000), IT_OK);
    assert_int_equal(it_conn_sends(c, post), IT_OK);
    struct it_resp *raw = it_conn_read(c, 0, 300000);
    assert_non_null(raw);
    int64_t took = it_now_ms() - t0;
    if (raw->status != 200)
        fail_msg("the upload answered %d: %.*s", raw->status, (int)raw->body_len, raw->body);
    cJSON *rec = rc_track(cJSON_ParseWithLength(raw->body, raw->body_len));
    const char *id = rc_str(rec, "id"), *name = rc_str(rec, "f");
    long after = it_server_mem_kib(s, 1);
    const char *cid = rc_str(rec, "collectionId");
    char *path = it_sprintf("/api/files/blobs/%s/%s", id, name);
    assert_range(c, path, 0, buf);
    assert_range(c, path, GIB - MIB, buf);
    /* the file on disk, whole */
    struct stat st;
    assert_int_equal(stat(it_sprintf("%s/storage/%s/%s/%s", s->data_dir, cid, id, name), &st), 0);
    assert_int_equal((size_t)st.st_size, GIB);
    assert_int_equal(fc_count(s, ".tmp") > 0 ? fc_count(s, ".tmp") : 0, 0);
    long ranged = it_server_mem_kib(s, 1);
    it_note("1 GiB upload in %lld ms (%.0f MB/s under this build); server VmHWM %ld KiB before, "
            "%ld after the upload, %ld after two ranged reads",
            (long long)took, took ? (double)GIB / 1e6 / ((double)took / 1000) : 0.0, before, after,
            ranged);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    it_scope_end();
    if (getenv("SH_SANITIZE") && strstr(getenv("SH_SANITIZE"), "thread"))
        return; /* ThreadSanitizer's shadow memory grows with what the process touches */
    assert_true(after - before < 16 * 1024); /* measured: under 2 MiB */
    /* the reads add libmagic's database (the type of the stored bytes) and
     * the response pieces: measured about 17 MiB, the same for any size */
    assert_true(ranged - before < 40 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test(test_one_gib_upload_memory_bounded),
    };
    return cmocka_run_group_tests_name("files_large", tests, NULL, NULL);
}
