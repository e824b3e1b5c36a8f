/* test_siblings.c: reconciliation, bounds, canonical order, value ownership and LWW of sibling sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/prng.h"
#include "core/siblings.h"
#include "core/status.h"

#define MAXS 16u

/* A version whose clock is the given (node, counter) pairs, epoch 1, borrowing a C string. */
static dyn_version_t make_version(const char *value, uint64_t ts, uint8_t flags, int pairs,
                                  const uint32_t *nodes, const uint64_t *counters)
{
    dyn_version_t v;
    memset(&v, 0, sizeof(v));
    dyn_vclock_init(&v.clock);
    for (int i = 0; i < pairs; i++)
        for (uint64_t c = 0; c < counters[i]; c++)
            dyn_vclock_increment(&v.clock, nodes[i], 1, ts, DYN_VCLOCK_MAX);
    v.timestamp_us = ts;
    v.flags = flags;
    v.value = (const uint8_t *)value;
    v.value_length = value ? (uint32_t)strlen(value) : 0;
    return v;
}

#define V1(val, ts, n0, c0) \
    make_version((val), (ts), 0, 1, (const uint32_t[]){n0}, (const uint64_t[]){c0})
#define V2(val, ts, n0, c0, n1, c1) \
    make_version((val), (ts), 0, 2, (const uint32_t[]){n0, n1}, (const uint64_t[]){c0, c1})

static void assert_value(const dyn_version_t *v, const char *expect)
{
    assert_int_equal(v->value_length, strlen(expect));
    assert_memory_equal(v->value, expect, v->value_length);
}

static int has_value(const dyn_siblings_t *set, const char *expect)
{
    for (uint32_t i = 0; i < set->count; i++)
        if (set->items[i].value_length == strlen(expect) &&
            memcmp(set->items[i].value, expect, strlen(expect)) == 0)
            return 1;
    return 0;
}

static void test_descending_write_replaces(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t v1 = V1("one", 10, 1, 1), v2 = V1("two", 20, 1, 2);
    assert_int_equal(dyn_siblings_add(&set, &v1, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&set, &v2, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "two");
    assert_ptr_equal(set.items[0].value, v2.value); /* borrowed, not copied */
    assert_false(set.items[0].owned);
    dyn_siblings_clear(&set);
}

static void test_concurrent_write_makes_siblings(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t base = V1("base", 10, 1, 1);
    dyn_version_t a = V2("a", 20, 1, 2, 2, 0), b = V2("b", 20, 1, 1, 2, 1);
    assert_int_equal(dyn_siblings_add(&set, &base, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&set, &a, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&set, &b, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(set.count, 2);
    assert_int_equal(dyn_siblings_live_count(&set), 2);
    assert_true(has_value(&set, "a"));
    assert_true(has_value(&set, "b"));
    assert_false(has_value(&set, "base"));
    dyn_siblings_clear(&set);
}

static void test_stale_write_ignored(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t newer = V2("new", 30, 1, 2, 2, 1), older = V1("old", 40, 1, 1);
    assert_int_equal(dyn_siblings_add(&set, &newer, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&set, &older, DYN_SIB_COPY, MAXS), 0);
    /* The same clock again is the same version, even with other bytes: nothing changes. */
    dyn_version_t same = V2("other", 99, 1, 2, 2, 1);
    assert_int_equal(dyn_siblings_add(&set, &same, DYN_SIB_COPY, MAXS), 0);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "new");
    assert_int_equal(set.items[0].timestamp_us, 30);
    dyn_siblings_clear(&set);
}

static void test_context_supersedes_all(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t a = V1("a", 10, 1, 1), b = V1("b", 11, 2, 1), c = V2("c", 12, 3, 2, 4, 1);
    dyn_siblings_add(&set, &a, DYN_SIB_BORROW, MAXS);
    dyn_siblings_add(&set, &b, DYN_SIB_BORROW, MAXS);
    dyn_siblings_add(&set, &c, DYN_SIB_BORROW, MAXS);
    assert_int_equal(set.count, 3);

    dyn_vclock_t ctx;
    dyn_siblings_context(&set, &ctx);
    assert_true(dyn_vclock_valid(&ctx));
    for (uint32_t i = 0; i < set.count; i++)
        assert_true(dyn_vclock_descends(&ctx, &set.items[i].clock));
    assert_int_equal(dyn_vclock_get(&ctx, 3, 1), 2);
    assert_int_equal(ctx.count, 4);

    /* A put carrying the context, advanced by its coordinator, replaces all three. */
    dyn_version_t put;
    memset(&put, 0, sizeof(put));
    dyn_vclock_copy(&put.clock, &ctx);
    dyn_vclock_increment(&put.clock, 2, 1, 50, DYN_VCLOCK_MAX);
    put.timestamp_us = 50;
    put.value = (const uint8_t *)"merged";
    put.value_length = 6;
    assert_int_equal(dyn_siblings_add(&set, &put, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "merged");

    dyn_siblings_t empty;
    dyn_siblings_init(&empty);
    dyn_siblings_context(&empty, &ctx);
    assert_int_equal(ctx.count, 0);
    dyn_siblings_clear(&set);
}

static void test_siblings_max(void **state)
{
    (void)state;
    dyn_siblings_t set, snapshot;
    dyn_siblings_init(&set);
    dyn_siblings_init(&snapshot);
    dyn_version_t a = V1("a", 10, 1, 1), b = V1("b", 11, 2, 1), c = V1("c", 12, 3, 1);
    assert_int_equal(dyn_siblings_add(&set, &a, DYN_SIB_COPY, 2), 1);
    assert_int_equal(dyn_siblings_add(&set, &b, DYN_SIB_COPY, 2), 1);
    assert_int_equal(dyn_siblings_merge(&snapshot, &set, DYN_SIB_COPY, MAXS), 2);
    const uint8_t *va = set.items[0].value, *vb = set.items[1].value;

    assert_int_equal(dyn_siblings_add(&set, &c, DYN_SIB_COPY, 2), DYN_ESIBLINGS);
    assert_int_equal(set.count, 2);
    assert_true(dyn_siblings_equal(&set, &snapshot));
    assert_ptr_equal(set.items[0].value, va);
    assert_ptr_equal(set.items[1].value, vb);

    /* Superseding one sibling while staying concurrent with the other keeps the count at 2. */
    dyn_version_t a2 = V2("a2", 20, 1, 1, 3, 1);
    assert_int_equal(dyn_siblings_add(&set, &a2, DYN_SIB_COPY, 2), 1);
    assert_int_equal(set.count, 2);
    assert_true(has_value(&set, "a2"));
    assert_true(has_value(&set, "b"));

    /* merge stops at the first failure and reports it. */
    dyn_siblings_t other;
    dyn_siblings_init(&other);
    dyn_version_t d = V1("d", 13, 4, 1);
    dyn_siblings_add(&other, &d, DYN_SIB_BORROW, MAXS);
    assert_int_equal(dyn_siblings_merge(&set, &other, DYN_SIB_COPY, 2), DYN_ESIBLINGS);
    assert_int_equal(set.count, 2);

    dyn_siblings_clear(&other);
    dyn_siblings_clear(&snapshot);
    dyn_siblings_clear(&set);
}

static void test_too_big(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    uint8_t *big = malloc(DYN_VALUE_MAX);
    assert_non_null(big);
    memset(big, 0x5A, DYN_VALUE_MAX);
    dyn_version_t v = V1(NULL, 10, 1, 1);
    v.value = big;
    v.value_length = DYN_VALUE_MAX + 1; /* rejected before the value is read */
    assert_int_equal(dyn_siblings_add(&set, &v, DYN_SIB_COPY, MAXS), DYN_ETOOBIG);
    assert_int_equal(set.count, 0);
    v.value_length = DYN_VALUE_MAX;
    assert_int_equal(dyn_siblings_add(&set, &v, DYN_SIB_COPY, MAXS), 1);
    assert_true(set.items[0].owned);
    assert_memory_equal(set.items[0].value, big, DYN_VALUE_MAX);
    free(big);
    dyn_siblings_clear(&set);
}

/* Five pairwise concurrent versions, one a tombstone, added below in several orders. */
static void five_versions(dyn_version_t out[5])
{
    out[0] = V1("e", 50, 3, 1);
    out[1] = V1("d", 40, 1, 2);
    out[2] = V2("c", 30, 1, 1, 2, 1);
    out[3] = V1("b", 20, 2, 2);
    out[4] = make_version("a", 10, DYN_VERSION_TOMBSTONE, 1, (const uint32_t[]){4},
                          (const uint64_t[]){1});
}

static void test_canonical_order(void **state)
{
    (void)state;
    dyn_version_t v[5];
    five_versions(v);
    dyn_siblings_t fwd, rev;
    dyn_siblings_init(&fwd);
    dyn_siblings_init(&rev);
    for (int i = 0; i < 5; i++)
        assert_int_equal(dyn_siblings_add(&fwd, &v[i], DYN_SIB_BORROW, MAXS), 1);
    for (int i = 4; i >= 0; i--)
        assert_int_equal(dyn_siblings_add(&rev, &v[i], DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(fwd.count, 5);
    assert_true(dyn_siblings_equal(&fwd, &rev));
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(fwd.items[i].value_length, rev.items[i].value_length);
        assert_memory_equal(fwd.items[i].value, rev.items[i].value, fwd.items[i].value_length);
    }
    /* Lexicographic over (node, epoch, counter): {1:1,2:1} < {1:2} < {2:2} < {3:1} < {4:1}. */
    const char *expect[5] = {"c", "d", "b", "e", "a"};
    for (uint32_t i = 0; i < 5; i++)
        assert_value(&fwd.items[i], expect[i]);

    /* Every permutation drawn gives the same order. */
    dyn_prng_t rng;
    dyn_prng_seed(&rng, 42);
    for (int round = 0; round < 50; round++) {
        int perm[5] = {0, 1, 2, 3, 4};
        for (int i = 4; i > 0; i--) {
            int j = (int)dyn_prng_below(&rng, (uint64_t)i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        dyn_siblings_t s;
        dyn_siblings_init(&s);
        for (int i = 0; i < 5; i++)
            assert_int_equal(dyn_siblings_add(&s, &v[perm[i]], DYN_SIB_BORROW, MAXS), 1);
        assert_true(dyn_siblings_equal(&s, &fwd));
        dyn_siblings_clear(&s);
    }
    dyn_siblings_clear(&fwd);
    dyn_siblings_clear(&rev);
}

static void test_equal_detects_differences(void **state)
{
    (void)state;
    dyn_siblings_t a, b;
    dyn_siblings_init(&a);
    dyn_siblings_init(&b);
    dyn_version_t x = V1("xx", 10, 1, 1), y = V1("xy", 10, 1, 1);
    dyn_siblings_add(&a, &x, DYN_SIB_BORROW, MAXS);
    dyn_siblings_add(&b, &y, DYN_SIB_BORROW, MAXS);
    assert_false(dyn_siblings_equal(&a, &b)); /* value bytes */
    dyn_siblings_clear(&b);
    dyn_version_t t = x;
    t.flags = DYN_VERSION_TOMBSTONE;
    dyn_siblings_add(&b, &t, DYN_SIB_BORROW, MAXS);
    assert_false(dyn_siblings_equal(&a, &b)); /* flags */
    dyn_siblings_clear(&b);
    t = x;
    t.timestamp_us = 11;
    dyn_siblings_add(&b, &t, DYN_SIB_BORROW, MAXS);
    assert_false(dyn_siblings_equal(&a, &b)); /* timestamp */
    dyn_siblings_clear(&b);
    dyn_version_t z = V1("xx", 10, 2, 1);
    dyn_siblings_add(&b, &z, DYN_SIB_BORROW, MAXS);
    assert_false(dyn_siblings_equal(&a, &b)); /* actor */
    dyn_siblings_clear(&b);
    dyn_siblings_add(&b, &x, DYN_SIB_COPY, MAXS);
    assert_true(dyn_siblings_equal(&a, &b));
    dyn_siblings_add(&b, &z, DYN_SIB_COPY, MAXS);
    assert_false(dyn_siblings_equal(&a, &b)); /* count */
    dyn_siblings_clear(&a);
    dyn_siblings_clear(&b);
}

static void test_copy_survives_overwrite(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    char buf[16];
    strcpy(buf, "original");
    dyn_version_t v = V1(buf, 10, 1, 1);
    assert_int_equal(dyn_siblings_add(&set, &v, DYN_SIB_COPY, MAXS), 1);
    memset(buf, 'X', sizeof(buf));
    assert_true(set.items[0].owned);
    assert_ptr_not_equal(set.items[0].value, (const uint8_t *)buf);
    assert_value(&set.items[0], "original");

    /* A zero-length value needs no allocation. */
    dyn_version_t empty = V1(NULL, 20, 1, 2);
    assert_int_equal(dyn_siblings_add(&set, &empty, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(set.count, 1);
    assert_int_equal(set.items[0].value_length, 0);
    assert_false(set.items[0].owned);
    dyn_siblings_clear(&set);
}

static void test_clear_frees_and_reuses(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    char buf[32];
    /* Owned values get replaced (freed inside add), kept as siblings, then cleared. */
    for (uint32_t round = 1; round <= 5; round++) {
        for (uint32_t node = 1; node <= 6; node++) {
            snprintf(buf, sizeof(buf), "value-%u-%u", round, node);
            dyn_version_t v = V1(buf, round * 10 + node, node, round);
            assert_int_equal(dyn_siblings_add(&set, &v, DYN_SIB_COPY, MAXS), 1);
        }
        assert_int_equal(set.count, 6);
        assert_true(has_value(&set, "value-1-1") == (round == 1));
    }
    assert_true(set.capacity >= 6);
    dyn_siblings_clear(&set);
    assert_int_equal(set.count, 0);
    assert_int_equal(set.capacity, 0);
    assert_null(set.items);

    dyn_version_t v = V1("again", 1, 1, 1);
    assert_int_equal(dyn_siblings_add(&set, &v, DYN_SIB_COPY, MAXS), 1);
    dyn_siblings_clear(&set);
    dyn_siblings_clear(&set); /* clearing an empty set is harmless */
}

static void test_resolve_lww(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t a = V1("a", 300, 1, 1), b = V1("b", 900, 2, 1), c = V1("c", 500, 3, 1);
    dyn_siblings_add(&set, &a, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&set, &b, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&set, &c, DYN_SIB_COPY, MAXS);
    dyn_siblings_resolve_lww(&set);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "b");
    assert_int_equal(set.items[0].timestamp_us, 900);
    assert_true(set.items[0].owned);
    dyn_siblings_resolve_lww(&set); /* no-op on one */
    assert_int_equal(set.count, 1);
    dyn_siblings_clear(&set);

    /* Timestamp ties resolve the same way whatever the arrival order. */
    dyn_version_t t1 = V1("t1", 700, 5, 1), t2 = V1("t2", 700, 2, 1), lo = V1("lo", 1, 9, 1);
    dyn_siblings_t x, y;
    dyn_siblings_init(&x);
    dyn_siblings_init(&y);
    dyn_siblings_add(&x, &t1, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&x, &t2, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&x, &lo, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&y, &lo, DYN_SIB_BORROW, MAXS);
    dyn_siblings_add(&y, &t2, DYN_SIB_BORROW, MAXS);
    dyn_siblings_add(&y, &t1, DYN_SIB_BORROW, MAXS);
    dyn_siblings_resolve_lww(&x);
    dyn_siblings_resolve_lww(&y);
    assert_true(dyn_siblings_equal(&x, &y));
    assert_value(&x.items[0], "t1"); /* {5:1} sorts after {2:1} */
    dyn_siblings_clear(&x);
    dyn_siblings_clear(&y);
}

static void test_tombstones(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t live = V1("live", 10, 1, 1);
    dyn_version_t del = make_version(NULL, 20, DYN_VERSION_TOMBSTONE, 1, (const uint32_t[]){2},
                                     (const uint64_t[]){1});
    assert_int_equal(dyn_siblings_add(&set, &live, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&set, &del, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(set.count, 2);
    assert_int_equal(dyn_siblings_live_count(&set), 1);

    /* A delete that descends everything leaves one tombstone and no live version. */
    dyn_version_t del2 = make_version(NULL, 30, DYN_VERSION_TOMBSTONE, 2,
                                      (const uint32_t[]){1, 2}, (const uint64_t[]){1, 2});
    assert_int_equal(dyn_siblings_add(&set, &del2, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(set.count, 1);
    assert_int_equal(dyn_siblings_live_count(&set), 0);
    assert_true(set.items[0].flags & DYN_VERSION_TOMBSTONE);
    dyn_siblings_clear(&set);
}

static void test_merge_sets(void **state)
{
    (void)state;
    dyn_siblings_t a, b;
    dyn_siblings_init(&a);
    dyn_siblings_init(&b);
    dyn_version_t x = V1("x", 10, 1, 1), y = V1("y", 20, 2, 1), x2 = V1("x2", 30, 1, 2);
    dyn_siblings_add(&a, &x, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&a, &y, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&b, &x2, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&b, &y, DYN_SIB_COPY, MAXS);
    /* x2 supersedes x; y is already there. */
    assert_int_equal(dyn_siblings_merge(&a, &b, DYN_SIB_COPY, MAXS), 1);
    assert_true(dyn_siblings_equal(&a, &b));
    /* The copies are a's own: b can go away. */
    dyn_siblings_clear(&b);
    assert_true(has_value(&a, "x2"));
    assert_true(has_value(&a, "y"));
    dyn_siblings_clear(&a);
}

/* Values derived from the clock, so equal clocks always mean identical versions. */
static void clock_version(dyn_prng_t *rng, dyn_version_t *v, char *buf, size_t size)
{
    memset(v, 0, sizeof(*v));
    dyn_vclock_init(&v->clock);
    size_t len = 0;
    for (uint32_t node = 0; node < 3; node++) {
        uint64_t c = dyn_prng_below(rng, 4);
        for (uint64_t i = 0; i < c; i++)
            dyn_vclock_increment(&v->clock, node, 1, 0, DYN_VCLOCK_MAX);
        len += (size_t)snprintf(buf + len, size - len, "%u:%u;", node, (unsigned)c);
    }
    v->timestamp_us = v->clock.count;
    v->value = (const uint8_t *)buf;
    v->value_length = (uint32_t)len;
}

static void test_random_order_independent(void **state)
{
    (void)state;
    enum { N = 12 };
    dyn_prng_t rng;
    dyn_prng_seed(&rng, 7);
    for (int round = 0; round < 300; round++) {
        dyn_version_t v[N];
        char bufs[N][32];
        for (int i = 0; i < N; i++)
            clock_version(&rng, &v[i], bufs[i], sizeof(bufs[i]));
        dyn_siblings_t fwd, rev;
        dyn_siblings_init(&fwd);
        dyn_siblings_init(&rev);
        for (int i = 0; i < N; i++)
            assert_true(dyn_siblings_add(&fwd, &v[i], DYN_SIB_BORROW, DYN_SIBLINGS_MAX) >= 0);
        for (int i = N - 1; i >= 0; i--)
            assert_true(dyn_siblings_add(&rev, &v[i], DYN_SIB_COPY, DYN_SIBLINGS_MAX) >= 0);
        assert_true(dyn_siblings_equal(&fwd, &rev));
        /* What is left is an antichain, and every input is covered by some survivor. */
        for (uint32_t i = 0; i < fwd.count; i++)
            for (uint32_t j = 0; j < fwd.count; j++)
                if (i != j)
                    assert_int_equal(dyn_vclock_compare(&fwd.items[i].clock, &fwd.items[j].clock),
                                     DYN_VC_CONCURRENT);
        for (int i = 0; i < N; i++) {
            int covered = 0;
            for (uint32_t j = 0; j < fwd.count; j++)
                covered |= dyn_vclock_descends(&fwd.items[j].clock, &v[i].clock);
            assert_true(covered);
        }
        dyn_siblings_clear(&fwd);
        dyn_siblings_clear(&rev);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descending_write_replaces),
        cmocka_unit_test(test_concurrent_write_makes_siblings),
        cmocka_unit_test(test_stale_write_ignored),
        cmocka_unit_test(test_context_supersedes_all),
        cmocka_unit_test(test_siblings_max),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_canonical_order),
        cmocka_unit_test(test_equal_detects_differences),
        cmocka_unit_test(test_copy_survives_overwrite),
        cmocka_unit_test(test_clear_frees_and_reuses),
        cmocka_unit_test(test_resolve_lww),
        cmocka_unit_test(test_tombstones),
        cmocka_unit_test(test_merge_sets),
        cmocka_unit_test(test_random_order_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
