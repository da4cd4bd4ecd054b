/*
 * Tests of trusted-proxy lists and the client address: CIDR parsing for IPv4
 * and IPv6 (masks, IPv4-mapped forms, errors with a message), an untrusted
 * peer whose X-Forwarded-For is ignored, the right-most untrusted address
 * behind one or several trusted proxies, a spoofed left part, all-trusted
 * chains, and malformed entries that end the walk without ever becoming the
 * client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/auth.h"

static struct sh_cidr_list *parse(const char *s)
{
    char err[128];
    struct sh_cidr_list *l = sh_cidr_list_parse(s, err, sizeof err);
    if (!l)
        fail_msg("parse \"%s\": %s", s, err);
    assert_string_equal(err, "");
    return l;
}

static void test_cidr_parse_v4(void **state)
{
    (void)state;
    struct sh_cidr_list *l = parse("10.0.0.0/8, 192.168.1.5 ,172.16.0.0/12,100.64.1.7/31");
    assert_true(sh_cidr_list_contains(l, "10.0.0.0"));
    assert_true(sh_cidr_list_contains(l, "10.255.255.255"));
    assert_false(sh_cidr_list_contains(l, "11.0.0.0"));
    assert_false(sh_cidr_list_contains(l, "9.255.255.255"));
    assert_true(sh_cidr_list_contains(l, "192.168.1.5"));
    assert_false(sh_cidr_list_contains(l, "192.168.1.4"));
    assert_true(sh_cidr_list_contains(l, "172.31.255.1"));
    assert_false(sh_cidr_list_contains(l, "172.32.0.1"));
    assert_true(sh_cidr_list_contains(l, "100.64.1.6")); /* host bits masked */
    assert_true(sh_cidr_list_contains(l, "100.64.1.7"));
    assert_false(sh_cidr_list_contains(l, "100.64.1.8"));
    /* IPv4-mapped IPv6, as a dual-stack socket reports a v4 peer */
    assert_true(sh_cidr_list_contains(l, "::ffff:10.1.2.3"));
    assert_false(sh_cidr_list_contains(l, "::ffff:11.1.2.3"));
    /* not addresses */
    assert_false(sh_cidr_list_contains(l, "10.0.0.0/8"));
    assert_false(sh_cidr_list_contains(l, "localhost"));
    assert_false(sh_cidr_list_contains(l, ""));
    assert_false(sh_cidr_list_contains(l, NULL));
    assert_false(sh_cidr_list_contains(NULL, "10.0.0.1"));
    sh_cidr_list_free(l);

    l = parse("0.0.0.0/0");
    assert_true(sh_cidr_list_contains(l, "8.8.8.8"));
    assert_false(sh_cidr_list_contains(l, "::1"));
    sh_cidr_list_free(l);
}

static void test_cidr_parse_v6(void **state)
{
    (void)state;
    struct sh_cidr_list *l = parse("::1,2001:db8::/32,fd00::/8,2001:DB8:1:2::/127");
    assert_true(sh_cidr_list_contains(l, "::1"));
    assert_false(sh_cidr_list_contains(l, "::2"));
    assert_true(sh_cidr_list_contains(l, "2001:db8:ffff::1"));
    assert_false(sh_cidr_list_contains(l, "2001:db9::1"));
    assert_true(sh_cidr_list_contains(l, "fdff:1::1"));
    assert_false(sh_cidr_list_contains(l, "fe00::1"));
    assert_false(sh_cidr_list_contains(l, "127.0.0.1")); /* v4 is not ::1 */
    sh_cidr_list_free(l);

    /* a mapped block is an IPv4 block */
    l = parse("::ffff:10.0.0.0/104");
    assert_true(sh_cidr_list_contains(l, "10.9.9.9"));
    assert_true(sh_cidr_list_contains(l, "::ffff:10.9.9.9"));
    assert_false(sh_cidr_list_contains(l, "11.0.0.1"));
    sh_cidr_list_free(l);

    l = parse("::/0");
    assert_true(sh_cidr_list_contains(l, "2001:db8::1"));
    sh_cidr_list_free(l);
    l = parse("fe80::/10");
    assert_true(sh_cidr_list_contains(l, "febf::1"));
    assert_false(sh_cidr_list_contains(l, "fec0::1"));
    assert_false(sh_cidr_list_contains(l, "fe80::1%eth0"));
    sh_cidr_list_free(l);
}

static void test_cidr_parse_empty(void **state)
{
    (void)state;
    static const char *const empty[] = {"", "  ", NULL};
    for (size_t i = 0; i < SH_ARRAY_LEN(empty); i++) {
        struct sh_cidr_list *l = sh_cidr_list_parse(empty[i], NULL, 0);
        assert_non_null(l);
        assert_false(sh_cidr_list_contains(l, "127.0.0.1"));
        sh_cidr_list_free(l);
    }
}

static void test_cidr_parse_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "10.0.0.0/33",        "::/129",        "1.2.3",      "abc",
        "10.0.0.0/",          "10.0.0.0/8/8",  "1.2.3.4,",   ",",
        "1.2.3.4,,::1",       "fe80::1%eth0",  "/8",         "10.0.0.0/-1",
        "10.0.0.0/ 8",        "10.0.0.0/0x8",  "010.0.0.1",  "1.2.3.4.5",
        "256.0.0.1",          "10.0.0.0/0008", "1.2.3.4:80", "[::1]",
        "::ffff:1.2.3.4/129",
    };
    for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
        char err[128] = "unchanged";
        struct sh_cidr_list *l = sh_cidr_list_parse(bad[i], err, sizeof err);
        if (l)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(strlen(err) > 0);
        assert_string_not_equal(err, "unchanged");
    }
    /* the message names the entry, and a tiny buffer is fine */
    char err[128];
    assert_null(sh_cidr_list_parse("10.0.0.0/8, nope", err, sizeof err));
    assert_non_null(strstr(err, "nope"));
    char tiny[4];
    assert_null(sh_cidr_list_parse("nope", tiny, sizeof tiny));
    assert_int_equal(strlen(tiny), 3);
    assert_null(sh_cidr_list_parse("nope", NULL, 0));
}

static const char *client(const struct sh_cidr_list *trusted, const char *peer, const char *xff)
{
    static char out[64];
    memset(out, '#', sizeof out);
    sh_client_ip(trusted, peer, xff, xff ? strlen(xff) : 0, out, 46);
    return out;
}

static void test_client_ip_untrusted_peer(void **state)
{
    (void)state;
    struct sh_cidr_list *t = parse("10.0.0.0/8");
    assert_string_equal(client(t, "203.0.113.9", "1.1.1.1"), "203.0.113.9");
    assert_string_equal(client(t, "203.0.113.9", NULL), "203.0.113.9");
    assert_string_equal(client(NULL, "10.0.0.1", "1.1.1.1"), "10.0.0.1");
    struct sh_cidr_list *none = parse("");
    assert_string_equal(client(none, "10.0.0.1", "1.1.1.1"), "10.0.0.1");
    /* canonical forms */
    assert_string_equal(client(t, "2001:DB8:0:0::1", "1.1.1.1"), "2001:db8::1");
    assert_string_equal(client(t, "::ffff:203.0.113.9", "1.1.1.1"), "203.0.113.9");
    /* the same without any proxy to trust (the path taken on most requests) */
    assert_string_equal(client(NULL, "::ffff:203.0.113.9", NULL), "203.0.113.9");
    assert_string_equal(client(none, "2001:DB8:0:0::1", NULL), "2001:db8::1");
    assert_string_equal(client(NULL, "203.0.113.9", NULL), "203.0.113.9");
    assert_string_equal(client(NULL, "unix", NULL), "unix");
    /* not an address: copied, never trusted */
    assert_string_equal(client(t, "unix", "1.1.1.1"), "unix");
    assert_string_equal(client(t, NULL, "1.1.1.1"), "");
    sh_cidr_list_free(none);
    sh_cidr_list_free(t);
}

static void test_client_ip_trusted_peer(void **state)
{
    (void)state;
    struct sh_cidr_list *t = parse("127.0.0.1,::1,10.0.0.0/8");
    assert_string_equal(client(t, "127.0.0.1", "203.0.113.9"), "203.0.113.9");
    assert_string_equal(client(t, "::1", "  203.0.113.9  "), "203.0.113.9");
    assert_string_equal(client(t, "::ffff:127.0.0.1", "2001:db8::7"), "2001:db8::7");
    /* no header or an empty one: the peer */
    assert_string_equal(client(t, "127.0.0.1", NULL), "127.0.0.1");
    assert_string_equal(client(t, "127.0.0.1", ""), "127.0.0.1");
    /* the length is honoured: the rest of the buffer is not read */
    char out[46];
    sh_client_ip(t, "127.0.0.1", "203.0.113.9, 198.51.100.1", 11, out, sizeof out);
    assert_string_equal(out, "203.0.113.9");
    sh_cidr_list_free(t);
}

static void test_client_ip_proxy_chain(void **state)
{
    (void)state;
    struct sh_cidr_list *t = parse("127.0.0.1,10.0.0.0/8");
    /* client -> 10.1.1.1 -> 10.2.2.2 -> nginx(127.0.0.1) -> us */
    assert_string_equal(client(t, "127.0.0.1", "198.51.100.7, 10.1.1.1, 10.2.2.2"), "198.51.100.7");
    /* whatever the client wrote on the left is ignored */
    assert_string_equal(client(t, "127.0.0.1", "6.6.6.6, 1.1.1.1, 198.51.100.7, 10.2.2.2"),
                        "198.51.100.7");
    assert_string_equal(client(t, "127.0.0.1", "10.9.9.9, 198.51.100.7"), "198.51.100.7");
    /* all trusted: the left-most */
    assert_string_equal(client(t, "127.0.0.1", "10.3.3.3,10.2.2.2, 10.1.1.1"), "10.3.3.3");
    /* no spaces, tabs */
    assert_string_equal(client(t, "10.0.0.5", "198.51.100.7,\t10.2.2.2"), "198.51.100.7");
    sh_cidr_list_free(t);
}

static void test_client_ip_malformed(void **state)
{
    (void)state;
    struct sh_cidr_list *t = parse("127.0.0.1,10.0.0.0/8");
    /* a malformed entry is never the client: the last address walked is */
    assert_string_equal(client(t, "127.0.0.1", "garbage"), "127.0.0.1");
    assert_string_equal(client(t, "127.0.0.1", "198.51.100.7, unknown"), "127.0.0.1");
    assert_string_equal(client(t, "127.0.0.1", "198.51.100.7, unknown, 10.1.1.1"), "10.1.1.1");
    assert_string_equal(client(t, "127.0.0.1", "198.51.100.7:4711"), "127.0.0.1");
    assert_string_equal(client(t, "127.0.0.1", "[2001:db8::1]"), "127.0.0.1");
    assert_string_equal(client(t, "127.0.0.1", "198.51.100.7,"), "127.0.0.1");
    assert_string_equal(client(t, "127.0.0.1", "198.51.100.7, ,10.1.1.1"), "10.1.1.1");
    assert_string_equal(client(t, "127.0.0.1", ","), "127.0.0.1");
    assert_string_equal(client(t, "127.0.0.1", "fe80::1%eth0"), "127.0.0.1");
    assert_string_equal(client(t, "127.0.0.1", "1.2.3.4/8"), "127.0.0.1");
    /* but a malformed entry left of the client does not matter */
    assert_string_equal(client(t, "127.0.0.1", "junk, 198.51.100.7, 10.1.1.1"), "198.51.100.7");
    /* a NUL inside the header ends nothing early and is malformed */
    char out[46];
    static const char nul[] = "198.51.100.7\0junk";
    sh_client_ip(t, "127.0.0.1", nul, sizeof nul - 1, out, sizeof out);
    assert_string_equal(out, "127.0.0.1");
    /* an entry too long to be an address */
    char longx[200];
    memset(longx, '1', sizeof longx - 1);
    longx[sizeof longx - 1] = '\0';
    assert_string_equal(client(t, "127.0.0.1", longx), "127.0.0.1");
    sh_cidr_list_free(t);
}

static void test_client_ip_hop_limit(void **state)
{
    (void)state;
    struct sh_cidr_list *t = parse("10.0.0.0/8");
    char xff[1024] = "198.51.100.7";
    for (int i = 40; i >= 1; i--) {
        char hop[32];
        snprintf(hop, sizeof hop, ", 10.0.0.%d", i);
        strcat(xff, hop);
    }
    /* 40 trusted hops: the walk stops after 32, at the 32nd from the right */
    assert_string_equal(client(t, "10.0.0.100", xff), "10.0.0.32");
    sh_cidr_list_free(t);
}

static void test_client_ip_bucket(void **state)
{
    (void)state;
    char out[64];
    const char *cases[][2] = {
        {"203.0.113.7", "203.0.113.7"},
        {"2001:db8:1:2::1", "2001:db8:1:2::/64"},
        {"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
        {"2001:db8:1:3::1", "2001:db8:1:3::/64"},
        {"::1", "::/64"},
        {"::ffff:10.0.0.1", "::ffff:10.0.0.1"}, /* mapped: counted as the IPv4 address */
        {"unix", "unix"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sh_client_ip_bucket(cases[i][0], out, sizeof out);
        assert_string_equal(out, cases[i][1]);
    }
    /* every address of one /64 is one bucket; the next /64 is another */
    char a[64], b[64];
    sh_client_ip_bucket("2001:db8::dead:beef", a, sizeof a);
    sh_client_ip_bucket("2001:db8::1", b, sizeof b);
    assert_string_equal(a, b);
    sh_client_ip_bucket("2001:db8:0:1::1", b, sizeof b);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse_v4),
        cmocka_unit_test(test_cidr_parse_v6),
        cmocka_unit_test(test_cidr_parse_empty),
        cmocka_unit_test(test_cidr_parse_errors),
        cmocka_unit_test(test_client_ip_untrusted_peer),
        cmocka_unit_test(test_client_ip_trusted_peer),
        cmocka_unit_test(test_client_ip_proxy_chain),
        cmocka_unit_test(test_client_ip_malformed),
        cmocka_unit_test(test_client_ip_hop_limit),
        cmocka_unit_test(test_client_ip_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
