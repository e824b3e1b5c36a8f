/* test_vclock.c: vector clock ordering, merge, truncation and epochs, plus a randomised property test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/prng.h"
#include "core/vclock.h"

#define T DYN_VCLOCK_MAX /* no truncation */

static void test_init_empty(void **state)
{
    (void)state;
    dyn_vclock_t a, b;
    dyn_vclock_init(&a);
    dyn_vclock_init(&b);
    assert_int_equal(a.count, 0);
    assert_true(dyn_vclock_valid(&a));
    assert_int_equal(dyn_vclock_get(&a, 1, 1), 0);
    assert_int_equal(dyn_vclock_compare(&a, &b), DYN_VC_EQUAL);
    assert_true(dyn_vclock_descends(&a, &b));
}

static void test_increment_same_actor(void **state)
{
    (void)state;
    dyn_vclock_t a;
    dyn_vclock_init(&a);
    assert_int_equal(dyn_vclock_increment(&a, 7, 1, 100, T), 0);
    assert_int_equal(dyn_vclock_get(&a, 7, 1), 1);
    dyn_vclock_t before = a;
    assert_int_equal(dyn_vclock_increment(&a, 7, 1, 250, T), 0);
    assert_int_equal(a.count, 1);
    assert_int_equal(dyn_vclock_get(&a, 7, 1), 2);
    assert_int_equal(a.entries[0].timestamp_us, 250);
    assert_int_equal(dyn_vclock_compare(&before, &a), DYN_VC_BEFORE);
    assert_int_equal(dyn_vclock_compare(&a, &before), DYN_VC_AFTER);
    assert_true(dyn_vclock_descends(&a, &before));
    assert_false(dyn_vclock_descends(&before, &a));
}

static void test_increment_keeps_sorted(void **state)
{
    (void)state;
    dyn_vclock_t a;
    dyn_vclock_init(&a);
    const uint32_t nodes[] = {5, 1, 9, 3, 7, 2};
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
        assert_int_equal(dyn_vclock_increment(&a, nodes[i], 1, i, T), 0);
    assert_int_equal(a.count, 6);
    assert_true(dyn_vclock_valid(&a));
    for (uint32_t i = 1; i < a.count; i++)
        assert_true(a.entries[i - 1].node < a.entries[i].node);
    assert_int_equal(dyn_vclock_get(&a, 4, 1), 0);
    assert_int_equal(dyn_vclock_get(&a, 9, 1), 1);
}

static void test_different_actors_concurrent(void **state)
{
    (void)state;
    dyn_vclock_t base, a, b;
    dyn_vclock_init(&base);
    dyn_vclock_increment(&base, 1, 1, 10, T);
    a = base;
    b = base;
    dyn_vclock_increment(&a, 1, 1, 20, T);
    dyn_vclock_increment(&b, 2, 1, 20, T);
    assert_int_equal(dyn_vclock_compare(&a, &b), DYN_VC_CONCURRENT);
    assert_int_equal(dyn_vclock_compare(&b, &a), DYN_VC_CONCURRENT);
    assert_false(dyn_vclock_descends(&a, &b));
    assert_false(dyn_vclock_descends(&b, &a));
    assert_int_equal(dyn_vclock_compare(&base, &a), DYN_VC_BEFORE);
    assert_int_equal(dyn_vclock_compare(&base, &b), DYN_VC_BEFORE);
}

static void test_merge_descends_both(void **state)
{
    (void)state;
    dyn_vclock_t a, b;
    dyn_vclock_init(&a);
    dyn_vclock_init(&b);
    dyn_vclock_increment(&a, 1, 1, 10, T);
    dyn_vclock_increment(&a, 1, 1, 11, T);
    dyn_vclock_increment(&a, 3, 1, 12, T);
    dyn_vclock_increment(&b, 1, 1, 50, T);
    dyn_vclock_increment(&b, 2, 1, 51, T);
    assert_int_equal(dyn_vclock_compare(&a, &b), DYN_VC_CONCURRENT);

    dyn_vclock_t m = a;
    assert_int_equal(dyn_vclock_merge(&m, &b, T), 0);
    assert_int_equal(m.count, 3);
    assert_int_equal(dyn_vclock_get(&m, 1, 1), 2);
    assert_int_equal(dyn_vclock_get(&m, 2, 1), 1);
    assert_int_equal(dyn_vclock_get(&m, 3, 1), 1);
    /* (1,1): a's counter 2 beats b's 1, so a's timestamp 11 is kept despite b's later 50. */
    assert_int_equal(m.entries[0].timestamp_us, 11);
    assert_int_equal(dyn_vclock_compare(&m, &a), DYN_VC_AFTER);
    assert_int_equal(dyn_vclock_compare(&m, &b), DYN_VC_AFTER);

    dyn_vclock_t after = m;
    dyn_vclock_increment(&after, 2, 1, 60, T);
    assert_int_equal(dyn_vclock_compare(&after, &m), DYN_VC_AFTER);
}

static void test_merge_equal_counters_later_timestamp(void **state)
{
    (void)state;
    dyn_vclock_t a, b;
    dyn_vclock_init(&a);
    dyn_vclock_init(&b);
    dyn_vclock_increment(&a, 4, 2, 100, T);
    dyn_vclock_increment(&b, 4, 2, 300, T);
    dyn_vclock_t m = a;
    dyn_vclock_merge(&m, &b, T);
    assert_int_equal(m.entries[0].timestamp_us, 300);
    m = b;
    dyn_vclock_merge(&m, &a, T);
    assert_int_equal(m.entries[0].timestamp_us, 300);
    /* Merging a clock into itself changes nothing. */
    dyn_vclock_merge(&m, &m, T);
    assert_int_equal(m.count, 1);
    assert_int_equal(m.entries[0].counter, 1);
}

static void test_truncation_drops_oldest(void **state)
{
    (void)state;
    dyn_vclock_t a;
    dyn_vclock_init(&a);
    /* Timestamps deliberately out of node order so the victim is not simply the first entry. */
    assert_int_equal(dyn_vclock_increment(&a, 1, 1, 300, 3), 0);
    assert_int_equal(dyn_vclock_increment(&a, 2, 1, 100, 3), 0);
    assert_int_equal(dyn_vclock_increment(&a, 3, 1, 200, 3), 0);
    assert_int_equal(dyn_vclock_increment(&a, 4, 1, 400, 3), 1);
    assert_int_equal(a.count, 3);
    assert_int_equal(dyn_vclock_get(&a, 2, 1), 0); /* timestamp 100 was the oldest */
    assert_int_equal(dyn_vclock_get(&a, 1, 1), 1);
    assert_int_equal(dyn_vclock_get(&a, 3, 1), 1);
    assert_int_equal(dyn_vclock_get(&a, 4, 1), 1);

    /* The entry just advanced survives even when its own timestamp is the oldest (clock skew). */
    assert_int_equal(dyn_vclock_increment(&a, 9, 1, 5, 3), 1);
    assert_int_equal(dyn_vclock_get(&a, 9, 1), 1);
    assert_int_equal(dyn_vclock_get(&a, 3, 1), 0); /* 200 was the oldest of the others */

    /* Lowering the threshold drops several at once and reports how many. */
    assert_int_equal(dyn_vclock_increment(&a, 1, 1, 1000, 1), 2);
    assert_int_equal(a.count, 1);
    assert_int_equal(dyn_vclock_get(&a, 1, 1), 2);
}

static void test_truncation_ties_by_actor(void **state)
{
    (void)state;
    dyn_vclock_t a;
    dyn_vclock_init(&a);
    dyn_vclock_increment(&a, 8, 1, 50, T);
    dyn_vclock_increment(&a, 3, 2, 50, T);
    dyn_vclock_increment(&a, 3, 1, 50, T);
    dyn_vclock_increment(&a, 5, 1, 50, T);
    assert_int_equal(dyn_vclock_truncate(&a, 2), 2);
    assert_int_equal(a.count, 2);
    /* Equal timestamps: the lowest (node, epoch) go first. */
    assert_int_equal(dyn_vclock_get(&a, 3, 1), 0);
    assert_int_equal(dyn_vclock_get(&a, 3, 2), 0);
    assert_int_equal(dyn_vclock_get(&a, 5, 1), 1);
    assert_int_equal(dyn_vclock_get(&a, 8, 1), 1);
    assert_int_equal(dyn_vclock_truncate(&a, 2), 0);
    assert_true(dyn_vclock_valid(&a));
}

static void test_merge_truncates(void **state)
{
    (void)state;
    dyn_vclock_t a, b;
    dyn_vclock_init(&a);
    dyn_vclock_init(&b);
    for (uint32_t n = 0; n < 4; n++)
        dyn_vclock_increment(&a, n, 1, 1000 + n, T);
    for (uint32_t n = 10; n < 14; n++)
        dyn_vclock_increment(&b, n, 1, n, T); /* older than all of a */
    dyn_vclock_t m = a;
    assert_int_equal(dyn_vclock_merge(&m, &b, 5), 3);
    assert_int_equal(m.count, 5);
    for (uint32_t n = 0; n < 4; n++)
        assert_int_equal(dyn_vclock_get(&m, n, 1), 1);
    assert_int_equal(dyn_vclock_get(&m, 13, 1), 1);
    assert_true(dyn_vclock_valid(&m));
}

static void test_full_clock_new_actor(void **state)
{
    (void)state;
    dyn_vclock_t a;
    dyn_vclock_init(&a);
    for (uint32_t n = 0; n < DYN_VCLOCK_MAX; n++)
        assert_int_equal(dyn_vclock_increment(&a, 100 - n, 1, 10 + n, DYN_VCLOCK_MAX), 0);
    assert_int_equal(a.count, DYN_VCLOCK_MAX);
    assert_int_equal(dyn_vclock_increment(&a, 1, 1, 0, DYN_VCLOCK_MAX), 1);
    assert_int_equal(a.count, DYN_VCLOCK_MAX);
    assert_int_equal(dyn_vclock_get(&a, 1, 1), 1);
    assert_int_equal(dyn_vclock_get(&a, 100, 1), 0); /* timestamp 10, the oldest */
    assert_true(dyn_vclock_valid(&a));
}

static void test_epochs_are_distinct_actors(void **state)
{
    (void)state;
    dyn_vclock_t base, old_life, new_life;
    dyn_vclock_init(&base);
    dyn_vclock_increment(&base, 4, 1, 1, T);
    dyn_vclock_increment(&base, 4, 1, 2, T);
    old_life = base;
    dyn_vclock_increment(&old_life, 4, 1, 3, T);
    /* Node 4 lost its disk and restarted as epoch 2 knowing nothing of its past writes. */
    dyn_vclock_init(&new_life);
    dyn_vclock_increment(&new_life, 4, 2, 4, T);
    assert_int_equal(new_life.count, 1);
    assert_int_equal(dyn_vclock_get(&new_life, 4, 1), 0);
    assert_int_equal(dyn_vclock_get(&new_life, 4, 2), 1);
    assert_int_equal(dyn_vclock_compare(&new_life, &base), DYN_VC_CONCURRENT);
    assert_int_equal(dyn_vclock_compare(&new_life, &old_life), DYN_VC_CONCURRENT);

    dyn_vclock_t both = old_life;
    dyn_vclock_increment(&both, 4, 2, 5, T);
    assert_int_equal(both.count, 2);
    assert_int_equal(both.entries[0].epoch, 1);
    assert_int_equal(both.entries[1].epoch, 2);
    assert_int_equal(dyn_vclock_get(&both, 4, 1), 3);
    assert_int_equal(dyn_vclock_get(&both, 4, 2), 1);
    assert_true(dyn_vclock_valid(&both));
}

static void test_copy_and_valid(void **state)
{
    (void)state;
    dyn_vclock_t a, b;
    dyn_vclock_init(&a);
    dyn_vclock_increment(&a, 2, 1, 1, T);
    dyn_vclock_increment(&a, 1, 1, 1, T);
    memset(&b, 0xAB, sizeof(b));
    dyn_vclock_copy(&b, &a);
    assert_int_equal(b.count, 2);
    assert_memory_equal(b.entries, a.entries, 2 * sizeof(a.entries[0]));
    assert_int_equal(dyn_vclock_compare(&a, &b), DYN_VC_EQUAL);

    dyn_vclock_t bad = a;
    bad.entries[0] = a.entries[1];
    bad.entries[1] = a.entries[0];
    assert_false(dyn_vclock_valid(&bad)); /* unsorted */
    bad = a;
    bad.entries[1].node = bad.entries[0].node;
    assert_false(dyn_vclock_valid(&bad)); /* duplicate actor */
    bad = a;
    bad.entries[0].counter = 0;
    assert_false(dyn_vclock_valid(&bad));
    bad = a;
    bad.count = DYN_VCLOCK_MAX + 1;
    assert_false(dyn_vclock_valid(&bad));
}

/* A small actor pool and counters make every ordering common among random pairs. */
static void random_clock(dyn_prng_t *rng, dyn_vclock_t *vc)
{
    dyn_vclock_init(vc);
    uint32_t n = (uint32_t)dyn_prng_below(rng, 5);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t node = (uint32_t)dyn_prng_below(rng, 4);
        uint32_t epoch = 1 + (uint32_t)dyn_prng_below(rng, 2);
        uint64_t steps = 1 + dyn_prng_below(rng, 2);
        for (uint64_t s = 0; s < steps; s++)
            dyn_vclock_increment(vc, node, epoch, dyn_prng_below(rng, 1000), T);
    }
}

/* Compare by definition, actor by actor through dyn_vclock_get, independent of the merge walk. */
static dyn_vclock_order_t reference_compare(const dyn_vclock_t *a, const dyn_vclock_t *b)
{
    int a_ahead = 0, b_ahead = 0;
    for (uint32_t node = 0; node < 4; node++) {
        for (uint32_t epoch = 1; epoch <= 2; epoch++) {
            uint64_t ca = dyn_vclock_get(a, node, epoch), cb = dyn_vclock_get(b, node, epoch);
            a_ahead |= ca > cb;
            b_ahead |= cb > ca;
        }
    }
    if (a_ahead && b_ahead)
        return DYN_VC_CONCURRENT;
    return a_ahead ? DYN_VC_AFTER : b_ahead ? DYN_VC_BEFORE : DYN_VC_EQUAL;
}

static dyn_vclock_order_t mirror(dyn_vclock_order_t o)
{
    return o == DYN_VC_BEFORE ? DYN_VC_AFTER : o == DYN_VC_AFTER ? DYN_VC_BEFORE : o;
}

static void assert_same_clock(const dyn_vclock_t *a, const dyn_vclock_t *b)
{
    assert_int_equal(a->count, b->count);
    assert_memory_equal(a->entries, b->entries, a->count * sizeof(a->entries[0]));
}

static void test_random_properties(void **state)
{
    (void)state;
    dyn_prng_t rng;
    dyn_prng_seed(&rng, 0x5EEDC10C);
    unsigned seen[4] = {0};
    for (int iter = 0; iter < 4000; iter++) {
        dyn_vclock_t a, b;
        random_clock(&rng, &a);
        if (dyn_prng_chance(&rng, 1, 4)) {
            /* Derive b from a now and then so BEFORE/AFTER/EQUAL occur often. */
            b = a;
            if (dyn_prng_chance(&rng, 2, 3))
                dyn_vclock_increment(&b, (uint32_t)dyn_prng_below(&rng, 4), 1, 5, T);
        } else {
            random_clock(&rng, &b);
        }
        assert_true(dyn_vclock_valid(&a));
        assert_true(dyn_vclock_valid(&b));

        dyn_vclock_order_t ab = dyn_vclock_compare(&a, &b), ba = dyn_vclock_compare(&b, &a);
        seen[ab]++;
        assert_int_equal(ab, mirror(ba));
        assert_int_equal(ab, reference_compare(&a, &b));
        assert_int_equal(dyn_vclock_descends(&a, &b), ab == DYN_VC_EQUAL || ab == DYN_VC_AFTER);
        assert_int_equal(dyn_vclock_descends(&b, &a), ab == DYN_VC_EQUAL || ab == DYN_VC_BEFORE);

        dyn_vclock_t mab = a, mba = b;
        assert_int_equal(dyn_vclock_merge(&mab, &b, T), 0);
        assert_int_equal(dyn_vclock_merge(&mba, &a, T), 0);
        assert_true(dyn_vclock_descends(&mab, &a));
        assert_true(dyn_vclock_descends(&mab, &b));
        assert_same_clock(&mab, &mba); /* commutative, timestamps included */
        if (ab == DYN_VC_CONCURRENT) {
            assert_int_equal(dyn_vclock_compare(&mab, &a), DYN_VC_AFTER);
            assert_int_equal(dyn_vclock_compare(&mab, &b), DYN_VC_AFTER);
        }

        dyn_vclock_t again = mab;
        dyn_vclock_merge(&again, &a, T);
        dyn_vclock_merge(&again, &mab, T);
        assert_same_clock(&again, &mab); /* idempotent */
        dyn_vclock_t self = a;
        dyn_vclock_merge(&self, &a, T);
        assert_same_clock(&self, &a);
    }
    for (int o = 0; o < 4; o++)
        assert_true(seen[o] > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_empty),
        cmocka_unit_test(test_increment_same_actor),
        cmocka_unit_test(test_increment_keeps_sorted),
        cmocka_unit_test(test_different_actors_concurrent),
        cmocka_unit_test(test_merge_descends_both),
        cmocka_unit_test(test_merge_equal_counters_later_timestamp),
        cmocka_unit_test(test_truncation_drops_oldest),
        cmocka_unit_test(test_truncation_ties_by_actor),
        cmocka_unit_test(test_merge_truncates),
        cmocka_unit_test(test_full_clock_new_actor),
        cmocka_unit_test(test_epochs_are_distinct_actors),
        cmocka_unit_test(test_copy_and_valid),
        cmocka_unit_test(test_random_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
