/*
 * core's intrusive list and hash table with a recency order (lru.h): lookups
 * by key with colliding hashes, recency after touch, removal from the middle
 * and ends, walking oldest to newest while removing, and a randomised run
 * checked against a plain array model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stagehand/lru.h"

struct item {
    struct sh_lru_node node;
    int key;
};

static bool item_eq(const struct sh_lru_node *n, const void *key)
{
    return ((const struct item *)(const void *)n)->key == *(const int *)key;
}

static struct item *find(struct sh_lru *t, int key, uint64_t hash)
{
    return (struct item *)(void *)sh_lru_find(t, hash, item_eq, &key);
}

static void test_lru_find_with_colliding_hashes(void **state)
{
    (void)state;
    struct sh_lru t;
    sh_lru_init(&t, 4);
    struct item a = {.key = 1}, b = {.key = 2}, c = {.key = 3};
    sh_lru_insert(&t, &a.node, 7); /* same hash for all three */
    sh_lru_insert(&t, &b.node, 7);
    sh_lru_insert(&t, &c.node, 7 + t.nbuckets); /* same bucket, other hash */
    assert_ptr_equal(find(&t, 1, 7), &a);
    assert_ptr_equal(find(&t, 2, 7), &b);
    assert_null(find(&t, 3, 7)); /* right key, wrong hash */
    assert_ptr_equal(find(&t, 3, 7 + t.nbuckets), &c);
    assert_null(find(&t, 4, 7));
    assert_int_equal(t.size, 3);
    sh_lru_remove(&t, &b.node);
    assert_null(find(&t, 2, 7));
    assert_ptr_equal(find(&t, 1, 7), &a);
    assert_int_equal(t.size, 2);
    sh_lru_deinit(&t);
}

static void test_lru_order_and_touch(void **state)
{
    (void)state;
    struct sh_lru t;
    sh_lru_init(&t, 8);
    struct item it[4];
    for (int i = 0; i < 4; i++) {
        it[i].key = i;
        sh_lru_insert(&t, &it[i].node, sh_hash_bytes(&i, sizeof i, SH_HASH_SEED));
    }
    assert_ptr_equal(sh_lru_oldest(&t), &it[0].node);
    sh_lru_touch(&t, &it[0].node);
    assert_ptr_equal(sh_lru_oldest(&t), &it[1].node);
    int want[] = {1, 2, 3, 0}, n = 0;
    for (struct sh_lru_node *p = sh_lru_oldest(&t); p; p = sh_lru_newer(&t, p))
        assert_int_equal(((struct item *)(void *)p)->key, want[n++]);
    assert_int_equal(n, 4);
    /* removing while walking, the successor taken first */
    for (struct sh_lru_node *p = sh_lru_oldest(&t), *q; p; p = q) {
        q = sh_lru_newer(&t, p);
        if (((struct item *)(void *)p)->key % 2 == 0)
            sh_lru_remove(&t, p);
    }
    assert_int_equal(t.size, 2);
    assert_ptr_equal(sh_lru_oldest(&t), &it[1].node);
    assert_ptr_equal(sh_lru_newer(&t, &it[1].node), &it[3].node);
    assert_null(sh_lru_newer(&t, &it[3].node));
    sh_lru_deinit(&t);
}

static void test_list_basics(void **state)
{
    (void)state;
    struct sh_list head, a, b, c;
    sh_list_init(&head);
    assert_true(sh_list_empty(&head));
    assert_null(sh_list_first(&head));
    sh_list_insert_tail(&head, &a);
    sh_list_insert_tail(&head, &b);
    sh_list_insert_head(&head, &c);
    assert_ptr_equal(sh_list_first(&head), &c);
    assert_ptr_equal(sh_list_last(&head), &b);
    sh_list_remove(&a);
    sh_list_remove(&a); /* a second remove is harmless */
    assert_ptr_equal(c.next, &b);
    sh_list_remove(&c);
    sh_list_remove(&b);
    assert_true(sh_list_empty(&head));
}

/* A model: keys present and their recency rank, against random operations. */
static void test_lru_random_against_model(void **state)
{
    (void)state;
    enum { N = 64, OPS = 20000 };
    struct item it[N];
    int linked[N] = {0};
    long stamp[N] = {0}, now = 0;
    struct sh_lru t;
    sh_lru_init(&t, 16); /* fewer buckets than keys: chains */
    srand(12345);
    for (int i = 0; i < N; i++)
        it[i].key = i;
    for (int op = 0; op < OPS; op++) {
        int k = rand() % N;
        uint64_t h = sh_hash_bytes(&k, sizeof k, SH_HASH_SEED) & 0xff; /* many collisions */
        struct item *f = find(&t, k, h);
        assert_true((f != NULL) == (linked[k] != 0));
        switch (rand() % 3) {
        case 0:
            if (!linked[k]) {
                sh_lru_insert(&t, &it[k].node, h);
                linked[k] = 1;
                stamp[k] = ++now;
            }
            break;
        case 1:
            if (linked[k]) {
                sh_lru_touch(&t, &it[k].node);
                stamp[k] = ++now;
            }
            break;
        default:
            if (linked[k]) {
                sh_lru_remove(&t, &it[k].node);
                linked[k] = 0;
            }
        }
        /* the walk visits every linked key, oldest first */
        size_t count = 0;
        long last = 0;
        for (struct sh_lru_node *p = sh_lru_oldest(&t); p; p = sh_lru_newer(&t, p)) {
            int key = ((struct item *)(void *)p)->key;
            assert_true(linked[key]);
            assert_true(stamp[key] > last);
            last = stamp[key];
            count++;
        }
        assert_int_equal(count, t.size);
    }
    sh_lru_deinit(&t);
}

/* The hash: equal input equal value; every length of zero bytes differs
 * (the tail's length is mixed in); one changed bit anywhere changes the low
 * bits the buckets use. */
static void test_hash_bytes(void **state)
{
    (void)state;
    unsigned char z[40] = {0};
    uint64_t seen[41];
    for (size_t n = 0; n <= 40; n++) {
        seen[n] = sh_hash_bytes(z, n, SH_HASH_SEED);
        assert_true(seen[n] == sh_hash_bytes(z, n, SH_HASH_SEED));
        for (size_t m = 0; m < n; m++)
            assert_true(seen[m] != seen[n]);
    }
    unsigned char a[24];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = (unsigned char)(i * 7 + 1);
    uint64_t base = sh_hash_bytes(a, sizeof a, SH_HASH_SEED);
    for (size_t bit = 0; bit < sizeof a * 8; bit++) {
        a[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_true((sh_hash_bytes(a, sizeof a, SH_HASH_SEED) & 0xffff) != (base & 0xffff));
        a[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_find_with_colliding_hashes),
        cmocka_unit_test(test_lru_order_and_touch),
        cmocka_unit_test(test_list_basics),
        cmocka_unit_test(test_lru_random_against_model),
        cmocka_unit_test(test_hash_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
