/*
 * Unit tests for stored file names (src/db/records/file_name.c): the base
 * name in snake case, the random part, the cleaned and lower-cased
 * extension, and what no input can produce: '/', '\\', NUL, control bytes,
 * a leading dot, a name past SH_FILE_NAME_MAX. Inputs: path tricks (../,
 * ..\\), NUL and control bytes, UTF-8 (Japanese, accents, invalid bytes),
 * 1000-character names, dotfiles, double extensions, and 20 000 random byte
 * strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/files.h"

/* rnd: the random part "abcdefghij", padding "klmnopqrst" */
static const unsigned char rnd[2 * SH_FILE_NAME_RANDOM] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,
                                                           10, 11, 12, 13, 14, 15, 16, 17, 18, 19};

static const char *make_n(const char *s, size_t n)
{
    static char out[SH_FILE_NAME_MAX];
    char *copy = malloc(n ? n : 1); /* exactly its bytes, for ASan */
    memcpy(copy, s, n);
    size_t len = sh_file_name_make(copy, n, rnd, out);
    free(copy);
    assert_int_equal(len, strlen(out));
    assert_true(len < SH_FILE_NAME_MAX);
    assert_true(sh_file_name_valid(out));
    return out;
}

static const char *make(const char *s)
{
    return make_n(s, strlen(s));
}

static void test_pocketbase_shapes(void **state)
{
    (void)state;
    assert_string_equal(make("photo.JPG"), "photo_abcdefghij.jpg");
    assert_string_equal(make("My Holiday Photo.png"), "my_holiday_photo_abcdefghij.png");
    assert_string_equal(make("CamelCaseName.TXT"), "camel_case_name_abcdefghij.txt");
    assert_string_equal(make("HTMLFile.html"), "htmlfile_abcdefghij.html");
    assert_string_equal(make("archive.tar.gz"), "archive_abcdefghij.tar.gz");
    assert_string_equal(make("no_extension"), "no_extension_abcdefghij");
    assert_string_equal(make("a-b c__d.e=f"), "a_b_c_d_abcdefghij.e=f");
    /* short bases get a random padding first */
    assert_string_equal(make("ab.png"), "abklmnopqrst_abcdefghij.png");
    assert_string_equal(make(""), "klmnopqrst_abcdefghij");
    assert_string_equal(make(".htaccess"), "klmnopqrst_abcdefghij.htaccess");
    assert_string_equal(make("x."), "xklmnopqrst_abcdefghij");
}

static void test_paths_never_survive(void **state)
{
    (void)state;
    assert_string_equal(make("../../etc/passwd"), "passwd_abcdefghij");
    assert_string_equal(make("..\\..\\windows\\win.ini"), "win_abcdefghij.ini");
    assert_string_equal(make("/abs/path/"), "klmnopqrst_abcdefghij");
    assert_string_equal(make("a/b\\..\\..\\c.d/../e"), "eklmnopqrst_abcdefghij");
    assert_string_equal(make("dir.d/file"), "file_abcdefghij");
    assert_string_equal(make("...."), "klmnopqrst_abcdefghij");
    assert_string_equal(make("evil.sh/.."), "klmnopqrst_abcdefghij");
}

static void test_nul_and_control_bytes(void **state)
{
    (void)state;
    assert_string_equal(make_n("abc\0def.txt", 11), "abc_def_abcdefghij.txt");
    assert_string_equal(make_n("x.php\0.png", 10), "x_php_abcdefghij.png");
    assert_string_equal(make("x\x01\x1fyz.t\nx\x7ft"), "x_yz_abcdefghij.txt");
    assert_string_equal(make("tab\there\r\n.md"), "tab_here_abcdefghij.md");
}

static void test_unicode_and_bad_utf8(void **state)
{
    (void)state;
    assert_string_equal(make("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.pdf"),
                        "klmnopqrst_abcdefghij.pdf");
    assert_string_equal(make("r\xc3\xa9sum\xc3\xa9.PDF"), "r_sum_abcdefghij.pdf");
    assert_string_equal(make("caf\xc3\xa9.\xc3\xa9xt"), "caf_abcdefghij.xt");
    assert_string_equal(make("\xff\xfe\xc0\xaf"
                             "abc.\xed\xa0\x80"
                             "png"),
                        "abc_abcdefghij.png");
}

static void test_long_names(void **state)
{
    (void)state;
    char name[1100];
    memset(name, 'a', 1000);
    strcpy(name + 1000, ".txt");
    const char *out = make(name);
    assert_int_equal(strlen(out), 100 + 1 + 10 + 4);
    assert_memory_equal(out + 100, "_abcdefghij.txt", 15);
    /* a 1000-character extension keeps its last 20 bytes */
    memset(name, 'b', 1000);
    name[0] = 'x', name[1] = 'y', name[2] = 'z', name[3] = '.';
    name[1000] = 0;
    out = make(name);
    assert_string_equal(out, "xyz_abcdefghij.bbbbbbbbbbbbbbbbbbbb");
    /* words cut at 100 bytes never end on the separator */
    char words[1100] = "";
    for (int i = 0; i < 100; i++)
        strcat(words, i % 2 ? "b " : "aaaa ");
    out = make(words);
    assert_true(strlen(out) <= 100 + 11);
    assert_true(strstr(out, "__") == NULL);
}

static void test_random_bytes_always_safe(void **state)
{
    (void)state;
    srand(7);
    for (int t = 0; t < 20000; t++) {
        size_t n = (size_t)(rand() % 300);
        char s[300];
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(rand() % 4 ? rand() % 256 : "./\\\0_"[rand() % 5]);
        const char *out = make_n(s, n);
        for (const char *p = out; *p; p++)
            assert_true(*p > 32 && *p < 127 && *p != '/' && *p != '\\');
        assert_true(out[0] != '.');
    }
}

static void test_valid_names(void **state)
{
    (void)state;
    assert_true(sh_file_name_valid("photo_abcdefghij.jpg"));
    assert_false(sh_file_name_valid(""));
    assert_false(sh_file_name_valid(".hidden"));
    assert_false(sh_file_name_valid("../x"));
    assert_false(sh_file_name_valid("a/b"));
    assert_false(sh_file_name_valid("a\\b"));
    assert_false(sh_file_name_valid("a b"));
    assert_false(sh_file_name_valid("caf\xc3\xa9"));
    char long_name[SH_FILE_NAME_MAX + 1];
    memset(long_name, 'a', SH_FILE_NAME_MAX);
    long_name[SH_FILE_NAME_MAX] = 0;
    assert_false(sh_file_name_valid(long_name));
    long_name[SH_FILE_NAME_MAX - 1] = 0;
    assert_true(sh_file_name_valid(long_name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pocketbase_shapes),
        cmocka_unit_test(test_paths_never_survive),
        cmocka_unit_test(test_nul_and_control_bytes),
        cmocka_unit_test(test_unicode_and_bad_utf8),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_random_bytes_always_safe),
        cmocka_unit_test(test_valid_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
