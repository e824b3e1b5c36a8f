/*
 * test_membership.c: membership views (merge rule, digest) and their wire form (strict decoding).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/codec.h"
#include "core/membership.h"
#include "core/prng.h"
#include "core/status.h"

static dyn_member_t member(uint32_t id, uint8_t status, uint64_t version)
{
    dyn_member_t e;
    memset(&e, 0, sizeof e);
    e.id = id;
    e.status = status;
    e.version = version;
    return e;
}

static void test_apply_keeps_the_newest(void **state)
{
    (void)state;
    dyn_membership_t *m = dyn_membership_create();
    assert_non_null(m);
    dyn_member_t a = member(5, DYN_MEMBER_VALID, 2);
    assert_int_equal(dyn_membership_apply(m, &a), 1);
    assert_int_equal(dyn_membership_apply(m, &a), 0); /* idempotent */
    dyn_member_t older = member(5, DYN_MEMBER_LEAVING, 1);
    assert_int_equal(dyn_membership_apply(m, &older), 0);
    assert_int_equal(dyn_membership_find(m, 5)->status, DYN_MEMBER_VALID);
    dyn_member_t newer = member(5, DYN_MEMBER_REMOVED, 3);
    assert_int_equal(dyn_membership_apply(m, &newer), 1);
    assert_int_equal(dyn_membership_find(m, 5)->status, DYN_MEMBER_REMOVED);
    /* Inserted in id order whatever the order of arrival. */
    dyn_member_t b = member(2, DYN_MEMBER_JOINING, 1), c = member(9, DYN_MEMBER_VALID, 1);
    assert_int_equal(dyn_membership_apply(m, &c), 1);
    assert_int_equal(dyn_membership_apply(m, &b), 1);
    assert_int_equal(dyn_membership_count(m), 3);
    assert_int_equal(dyn_membership_at(m, 0)->id, 2);
    assert_int_equal(dyn_membership_at(m, 1)->id, 5);
    assert_int_equal(dyn_membership_at(m, 2)->id, 9);
    assert_null(dyn_membership_find(m, 3));
    /* Invalid members are refused and change nothing. */
    uint64_t digest = dyn_membership_digest(m);
    dyn_member_t bad[4] = {member(0, DYN_MEMBER_VALID, 1), member(4, DYN_MEMBER_VALID, 0),
                           member(4, 0, 1), member(4, DYN_MEMBER_REMOVED + 1, 1)};
    for (int i = 0; i < 4; i++)
        assert_int_equal(dyn_membership_apply(m, &bad[i]), DYN_EINVAL);
    dyn_member_t long_addr = member(4, DYN_MEMBER_VALID, 1);
    long_addr.addr_length = DYN_MEMBER_ADDR_MAX + 1;
    assert_int_equal(dyn_membership_apply(m, &long_addr), DYN_EINVAL);
    assert_true(dyn_membership_digest(m) == digest);
    dyn_membership_destroy(m);
}

/* Two changes at one version (two admins at once): both nodes keep the same one, either order. */
static void test_concurrent_changes_pick_alike(void **state)
{
    (void)state;
    dyn_member_t x = member(3, DYN_MEMBER_LEAVING, 4), y = member(3, DYN_MEMBER_VALID, 4);
    y.zone = 7;
    dyn_membership_t *a = dyn_membership_create(), *b = dyn_membership_create();
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(dyn_membership_apply(a, &x), 1);
    int changed_a = dyn_membership_apply(a, &y);
    assert_int_equal(dyn_membership_apply(b, &y), 1);
    int changed_b = dyn_membership_apply(b, &x);
    assert_int_equal(changed_a + changed_b, 1); /* exactly one of the two orders changed its view */
    assert_true(dyn_membership_digest(a) == dyn_membership_digest(b));
    assert_memory_equal(dyn_membership_find(a, 3), dyn_membership_find(b, 3), sizeof(dyn_member_t));
    dyn_membership_destroy(a);
    dyn_membership_destroy(b);
}

/* Merging random views in any order and any grouping gives one view (a state-based CRDT). */
static void test_merge_order_does_not_matter(void **state)
{
    (void)state;
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 42);
    for (int round = 0; round < 50; round++) {
        dyn_membership_t *v[3];
        for (int k = 0; k < 3; k++) {
            v[k] = dyn_membership_create();
            assert_non_null(v[k]);
            for (int i = 0; i < 40; i++) {
                dyn_member_t e = member(1 + (uint32_t)dyn_prng_below(&prng, 30),
                                        (uint8_t)(1 + dyn_prng_below(&prng, 4)),
                                        1 + dyn_prng_below(&prng, 5));
                e.zone = (uint16_t)dyn_prng_below(&prng, 3);
                assert_true(dyn_membership_apply(v[k], &e) >= 0);
            }
        }
        dyn_membership_t *left = dyn_membership_create(), *right = dyn_membership_create();
        assert_non_null(left);
        assert_non_null(right);
        /* ((a b) c) against (c (b a)), each merged twice. */
        for (int rep = 0; rep < 2; rep++) {
            assert_true(dyn_membership_merge(left, v[0]) >= 0);
            assert_true(dyn_membership_merge(left, v[1]) >= 0);
            assert_true(dyn_membership_merge(left, v[2]) >= 0);
            assert_true(dyn_membership_merge(right, v[2]) >= 0);
            assert_true(dyn_membership_merge(right, v[1]) >= 0);
            assert_true(dyn_membership_merge(right, v[0]) >= 0);
        }
        assert_true(dyn_membership_digest(left) == dyn_membership_digest(right));
        assert_int_equal(dyn_membership_merge(left, right), 0);
        dyn_membership_destroy(left);
        dyn_membership_destroy(right);
        for (int k = 0; k < 3; k++)
            dyn_membership_destroy(v[k]);
    }
}

/* The digest tells views apart by every field, and equal views alike. */
static void test_digest(void **state)
{
    (void)state;
    dyn_membership_t *a = dyn_membership_create(), *b = dyn_membership_create();
    assert_non_null(a);
    assert_non_null(b);
    assert_true(dyn_membership_digest(a) != 0);
    dyn_member_t e = member(1, DYN_MEMBER_VALID, 1);
    memcpy(e.addr, "10.0.0.1:7000", 13);
    e.addr_length = 13;
    assert_int_equal(dyn_membership_apply(a, &e), 1);
    assert_int_equal(dyn_membership_apply(b, &e), 1);
    assert_true(dyn_membership_digest(a) == dyn_membership_digest(b));
    uint64_t base = dyn_membership_digest(a);
    dyn_member_t changed[4] = {e, e, e, e};
    changed[0].status = DYN_MEMBER_LEAVING;
    changed[1].zone = 1;
    changed[2].addr[12] = '1';
    changed[3].version = 2;
    for (int i = 0; i < 4; i++) {
        changed[i].version = 2;
        dyn_membership_t *c = dyn_membership_create();
        assert_non_null(c);
        assert_int_equal(dyn_membership_apply(c, &changed[i]), 1);
        assert_true(dyn_membership_digest(c) != base);
        dyn_membership_destroy(c);
    }
    dyn_membership_destroy(a);
    dyn_membership_destroy(b);
}

static size_t encode(const dyn_membership_t *m, uint8_t *buf, size_t capacity)
{
    int n = dyn_codec_encode_membership(m, buf, capacity);
    assert_true(n > 0);
    return (size_t)n;
}

/* Round trip, and every malformed form refused without changing the view merged into. */
static void test_wire_form_is_strict(void **state)
{
    (void)state;
    dyn_membership_t *m = dyn_membership_create(), *out = dyn_membership_create();
    assert_non_null(m);
    assert_non_null(out);
    dyn_member_t a = member(1, DYN_MEMBER_VALID, 300);
    memcpy(a.addr, "h:1", 3);
    a.addr_length = 3;
    dyn_member_t b = member(200, DYN_MEMBER_LEAVING, 1);
    b.zone = 70;
    assert_int_equal(dyn_membership_apply(m, &a), 1);
    assert_int_equal(dyn_membership_apply(m, &b), 1);
    uint8_t buf[64];
    size_t n = encode(m, buf, sizeof buf);
    assert_int_equal(n, dyn_codec_membership_size(m));
    assert_int_equal(dyn_codec_encode_membership(m, buf, n - 1), DYN_ETOOBIG);
    assert_int_equal(dyn_codec_decode_membership(buf, n, out), DYN_OK);
    assert_true(dyn_membership_digest(out) == dyn_membership_digest(m));
    assert_int_equal(dyn_codec_check_membership(buf, n), DYN_OK);
    /* Every truncation, and a trailing byte. */
    for (size_t len = 0; len < n; len++) {
        assert_int_equal(dyn_codec_check_membership(buf, len), DYN_EBADMSG);
        assert_int_equal(dyn_codec_decode_membership(buf, len, out), DYN_EBADMSG);
        assert_int_equal(dyn_membership_count(out), 0);
    }
    buf[n] = 0;
    assert_int_equal(dyn_codec_check_membership(buf, n + 1), DYN_EBADMSG);
    /* Hand-built entries: count, then id, status, zone, version, address length. */
    const struct {
        uint8_t bytes[16];
        size_t length;
    } bad[] = {
        {{2, 5, 2, 0, 1, 0, 5, 2, 0, 1, 0, 0}, 12},  /* the same id twice */
        {{2, 5, 2, 0, 1, 0, 4, 2, 0, 1, 0, 0}, 12},  /* ids out of order */
        {{1, 0, 2, 0, 1, 0, 0}, 7},                  /* id 0 */
        {{1, 5, 0, 0, 1, 0, 0}, 7},                  /* status 0 */
        {{1, 5, 5, 0, 1, 0, 0}, 7},                  /* status 5 */
        {{1, 5, 2, 0x80, 0x80, 0x04, 1, 0, 0}, 9},   /* zone 65536 */
        {{1, 5, 2, 0, 0, 0, 0}, 7},                  /* version 0 */
        {{1, 5, 2, 0, 1, 48}, 6},                    /* address longer than allowed */
        {{1, 5, 2, 0x80, 0, 1, 0, 0}, 8},            /* a non-minimal varint */
        {{0x81, 0x20}, 2},                           /* count 4097 */
        {{1, 5, 2, 0, 1, 0}, 6},                     /* no ring version */
        {{1, 5, 2, 0, 1, 0, 1, 0}, 8},               /* a ring of 0 partitions */
        {{1, 5, 2, 0, 1, 0, 1, 2, 5, 0}, 10},        /* a partition owned by id 0 */
        {{1, 5, 2, 0, 1, 0, 1, 2, 5}, 9},            /* fewer owners than partitions */
        {{1, 5, 2, 0, 1, 0, 1, 1, 5, 5}, 10},        /* more */
        {{1, 5, 2, 0, 1, 0, 1, 0x81, 0x80, 0x04, 5}, 11}, /* 65537 partitions */
    };
    dyn_membership_t *kept = dyn_membership_create();
    assert_non_null(kept);
    assert_int_equal(dyn_membership_merge(kept, m), 2);
    uint64_t before = dyn_membership_digest(kept);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dyn_codec_check_membership(bad[i].bytes, bad[i].length), DYN_EBADMSG);
        assert_int_equal(dyn_codec_merge_membership(bad[i].bytes, bad[i].length, kept),
                         DYN_EBADMSG);
        assert_true(dyn_membership_digest(kept) == before);
    }
    /* A good view merges, counting what changed. */
    const uint8_t good[] = {2, 5, 3, 0, 1, 0, 201, 1, 2, 0, 1, 0, 3, 2, 5, 201, 1};
    assert_int_equal(dyn_codec_merge_membership(good, sizeof good, kept), 3);
    uint32_t partitions;
    const uint32_t *table = dyn_membership_ring(kept, &partitions);
    assert_int_equal(dyn_membership_ring_version(kept), 3);
    assert_int_equal(partitions, 2);
    assert_int_equal(table[0], 5);
    assert_int_equal(table[1], 201);
    assert_int_equal(dyn_membership_find(kept, 5)->status, DYN_MEMBER_LEAVING);
    assert_int_equal(dyn_codec_merge_membership(good, sizeof good, kept), 0);
    dyn_membership_destroy(kept);
    dyn_membership_destroy(m);
    dyn_membership_destroy(out);
}

/* Ring tables: the higher version wins; two tables of one version pick alike in either order. */
static void test_ring_table_merge(void **state)
{
    (void)state;
    const uint32_t t1[4] = {1, 2, 3, 1}, t2[4] = {1, 2, 4, 4}, t3[4] = {3, 3, 2, 1};
    const uint32_t zero[2] = {1, 0};
    dyn_membership_t *a = dyn_membership_create(), *b = dyn_membership_create();
    assert_non_null(a);
    assert_non_null(b);
    assert_null(dyn_membership_ring(a, NULL));
    assert_int_equal(dyn_membership_set_ring(a, 0, t1, 4), DYN_EINVAL);
    assert_int_equal(dyn_membership_set_ring(a, 1, t1, 0), DYN_EINVAL);
    assert_int_equal(dyn_membership_set_ring(a, 1, zero, 2), DYN_EINVAL);
    uint64_t empty = dyn_membership_digest(a);
    assert_int_equal(dyn_membership_set_ring(a, 1, t1, 4), 1);
    assert_true(dyn_membership_digest(a) != empty);
    assert_int_equal(dyn_membership_set_ring(a, 1, t1, 4), 0); /* the same table again */
    assert_int_equal(dyn_membership_set_ring(a, 2, t2, 4), 1);
    assert_int_equal(dyn_membership_set_ring(a, 1, t3, 4), 0); /* an older version */
    assert_int_equal(dyn_membership_ring(a, NULL)[3], 4);
    /* Concurrent commits at version 3: whichever order they arrive in, one table wins. */
    assert_int_equal(dyn_membership_set_ring(b, 3, t3, 4), 1);
    assert_int_equal(dyn_membership_set_ring(a, 3, t1, 4), 1);
    int ab = dyn_membership_merge(a, b), ba = dyn_membership_merge(b, a);
    assert_true(ab >= 0 && ba >= 0 && ab + ba == 1);
    assert_true(dyn_membership_digest(a) == dyn_membership_digest(b));
    assert_memory_equal(dyn_membership_ring(a, NULL), dyn_membership_ring(b, NULL), sizeof t1);
    dyn_membership_clear(a);
    assert_int_equal(dyn_membership_ring_version(a), 0);
    assert_true(dyn_membership_digest(a) == empty);
    dyn_membership_destroy(a);
    dyn_membership_destroy(b);
}

static void test_bound(void **state)
{
    (void)state;
    dyn_membership_t *m = dyn_membership_create();
    assert_non_null(m);
    for (uint32_t i = 1; i <= DYN_MEMBERS_MAX; i++) {
        dyn_member_t e = member(i, DYN_MEMBER_VALID, 1);
        assert_int_equal(dyn_membership_apply(m, &e), 1);
    }
    dyn_member_t one_more = member(DYN_MEMBERS_MAX + 1, DYN_MEMBER_VALID, 1);
    assert_int_equal(dyn_membership_apply(m, &one_more), DYN_EFULL);
    dyn_member_t update = member(7, DYN_MEMBER_LEAVING, 2); /* a known member still changes */
    assert_int_equal(dyn_membership_apply(m, &update), 1);
    dyn_membership_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_keeps_the_newest),
        cmocka_unit_test(test_concurrent_changes_pick_alike),
        cmocka_unit_test(test_merge_order_does_not_matter),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_wire_form_is_strict),
        cmocka_unit_test(test_ring_table_merge),
        cmocka_unit_test(test_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
