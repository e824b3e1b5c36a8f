/*
 * test_siblings.c: reconciliation of dotted versions (a version's dot names the write, its clock is
 * the causal past it was written with), bounds, canonical order, value ownership and LWW of
 * sibling sets.
 */
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

/*
 * A version named by the dot (dot_node, epoch 1, dot_counter) whose past is the given
 * (node, counter) pairs (epoch 1; a counter of 0 leaves the node out), borrowing a C string.
 * Every version a test builds goes through here, so every one is checked to be well formed.
 */
static dyn_version_t make_version(const char *value, uint64_t ts, uint8_t flags, uint32_t dot_node,
                                  uint64_t dot_counter, int pairs, const uint32_t *nodes,
                                  const uint64_t *counters)
{
    dyn_version_t v;
    memset(&v, 0, sizeof(v));
    dyn_vclock_init(&v.clock);
    for (int i = 0; i < pairs; i++)
        for (uint64_t c = 0; c < counters[i]; c++)
            dyn_vclock_increment(&v.clock, nodes[i], 1, ts, DYN_VCLOCK_MAX);
    v.dot = (dyn_vclock_entry_t){
        .node = dot_node, .epoch = 1, .counter = dot_counter, .timestamp_us = ts};
    v.timestamp_us = ts;
    v.flags = flags;
    v.value = (const uint8_t *)value;
    v.value_length = value ? (uint32_t)strlen(value) : 0;
    assert_true(dyn_version_valid(&v));
    return v;
}

/* D0: no past; D1, D2: a past of one or two (node, counter) pairs. */
#define D0(val, ts, dn, dc) make_version((val), (ts), 0, (dn), (dc), 0, NULL, NULL)
#define D1(val, ts, dn, dc, n0, c0) \
    make_version((val), (ts), 0, (dn), (dc), 1, (const uint32_t[]){n0}, (const uint64_t[]){c0})
#define D2(val, ts, dn, dc, n0, c0, n1, c1)                                          \
    make_version((val), (ts), 0, (dn), (dc), 2, (const uint32_t[]){n0, n1}, \
                 (const uint64_t[]){c0, c1})

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

static bool covers_dot(const dyn_vclock_t *vc, const dyn_version_t *v)
{
    return dyn_vclock_covers(vc, v->dot.node, v->dot.epoch, v->dot.counter);
}

static void test_valid_and_supersedes(void **state)
{
    (void)state;
    dyn_version_t v = D1("v", 10, 1, 3, 1, 2); /* dot 1:3, past {1:2} */
    assert_true(dyn_version_valid(&v));
    dyn_version_t bad = v;
    bad.dot.counter = 0;
    assert_false(dyn_version_valid(&bad)); /* a dot names an event: counter >= 1 */
    bad = v;
    bad.dot.counter = 2;
    assert_false(dyn_version_valid(&bad)); /* a dot inside its own past */
    bad.dot.counter = 1;
    assert_false(dyn_version_valid(&bad));
    bad.dot.epoch = 2; /* the same node under another epoch is another actor */
    assert_true(dyn_version_valid(&bad));
    bad = v;
    bad.clock.entries[0].counter = 0; /* an invalid past */
    assert_false(dyn_version_valid(&bad));

    /* later supersedes earlier exactly when earlier's dot is in later's past. */
    dyn_version_t earlier = D0("e", 10, 2, 4);
    dyn_version_t covers = D1("c", 20, 3, 1, 2, 4), short_by_one = D1("s", 20, 3, 1, 2, 3);
    dyn_version_t other_epoch = covers;
    other_epoch.clock.entries[0].epoch = 2;
    assert_true(dyn_version_supersedes(&covers, &earlier));
    assert_false(dyn_version_supersedes(&earlier, &covers));
    assert_false(dyn_version_supersedes(&short_by_one, &earlier));
    assert_false(dyn_version_supersedes(&other_epoch, &earlier));
    assert_false(dyn_version_supersedes(&earlier, &earlier)); /* a valid version never itself */
    /* A higher counter of the same actor in the dot is not a past: no supersession. */
    dyn_version_t later_dot = D0("l", 30, 2, 9);
    assert_false(dyn_version_supersedes(&later_dot, &earlier));
}

static void test_past_covering_dot_replaces(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t v1 = D0("one", 10, 1, 1), v2 = D1("two", 20, 1, 2, 1, 1);
    assert_int_equal(dyn_siblings_add(&set, &v1, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&set, &v2, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "two");
    assert_ptr_equal(set.items[0].value, v2.value); /* borrowed, not copied */
    assert_false(set.items[0].owned);
    /* The dot travels with the version. */
    assert_int_equal(set.items[0].dot.node, 1);
    assert_int_equal(set.items[0].dot.counter, 2);
    dyn_siblings_clear(&set);
}

/*
 * The lost-write case of plain vector clocks: the second version's dot has a higher counter of the
 * same actor, and its past is ahead of the first version's past in every entry, but its past does
 * not hold the first version's dot, so it never saw that write: both stay.
 */
static void test_newer_past_without_dot_stays_sibling(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t first = D2("first", 10, 1, 2, 2, 1, 3, 1);
    dyn_version_t second = make_version("second", 20, 0, 1, 3, 3, (const uint32_t[]){1, 2, 3},
                                        (const uint64_t[]){1, 5, 9});
    /* As whole clocks (past plus dot) the second descends the first: old rules dropped it. */
    dyn_vclock_t whole_first = first.clock, whole_second = second.clock;
    dyn_vclock_t dot1 = {.count = 1, .entries = {first.dot}}, dot2 = {.count = 1,
                                                                      .entries = {second.dot}};
    dyn_vclock_merge(&whole_first, &dot1, DYN_VCLOCK_MAX);
    dyn_vclock_merge(&whole_second, &dot2, DYN_VCLOCK_MAX);
    assert_int_equal(dyn_vclock_compare(&whole_second, &whole_first), DYN_VC_AFTER);
    assert_false(dyn_version_supersedes(&second, &first));

    assert_int_equal(dyn_siblings_add(&set, &first, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&set, &second, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(set.count, 2);
    assert_true(has_value(&set, "first"));
    assert_true(has_value(&set, "second"));

    /* A version that has seen first's dot (only) replaces first and keeps second. */
    dyn_version_t merge_first = D1("after-first", 30, 4, 1, 1, 2);
    assert_int_equal(dyn_siblings_add(&set, &merge_first, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(set.count, 2);
    assert_false(has_value(&set, "first"));
    assert_true(has_value(&set, "second"));
    assert_true(has_value(&set, "after-first"));
    /* first again is superseded by a sibling's past: ignored. */
    assert_int_equal(dyn_siblings_add(&set, &first, DYN_SIB_BORROW, MAXS), 0);
    assert_int_equal(set.count, 2);
    dyn_siblings_clear(&set);
}

static void test_concurrent_write_makes_siblings(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t base = D0("base", 10, 1, 1);
    /* Both saw base, neither saw the other. */
    dyn_version_t a = D1("a", 20, 1, 2, 1, 1), b = D1("b", 20, 2, 1, 1, 1);
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
    dyn_version_t newer = D1("new", 30, 2, 1, 1, 2), older = D1("old", 40, 1, 2, 1, 1);
    assert_int_equal(dyn_siblings_add(&set, &newer, DYN_SIB_COPY, MAXS), 1);
    /* older's dot 1:2 is in newer's past, despite its later timestamp. */
    assert_int_equal(dyn_siblings_add(&set, &older, DYN_SIB_COPY, MAXS), 0);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "new");
    assert_int_equal(set.items[0].timestamp_us, 30);
    dyn_siblings_clear(&set);
}

/* A dot names one write: seeing it again, whatever else it carries, changes nothing. */
static void test_same_dot_idempotent(void **state)
{
    (void)state;
    dyn_siblings_t set, snapshot;
    dyn_siblings_init(&set);
    dyn_siblings_init(&snapshot);
    dyn_version_t x = D1("x", 10, 1, 2, 3, 1), y = D0("y", 11, 2, 1);
    assert_int_equal(dyn_siblings_add(&set, &x, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&set, &y, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(dyn_siblings_merge(&snapshot, &set, DYN_SIB_COPY, MAXS), 2);
    const uint8_t *vx = set.items[0].value;

    /* The very same version twice. */
    assert_int_equal(dyn_siblings_add(&set, &x, DYN_SIB_COPY, MAXS), 0);
    assert_int_equal(dyn_siblings_add(&set, &x, DYN_SIB_BORROW, MAXS), 0);
    /* The same dot with other bytes, timestamp, flags and a past that covers the other sibling:
     * still the one write already present, so it supersedes nothing. */
    dyn_version_t forged = D2("other", 99, 1, 2, 2, 1, 3, 4);
    forged.flags = DYN_VERSION_TOMBSTONE;
    forged.value = NULL;
    forged.value_length = 0;
    assert_int_equal(dyn_siblings_add(&set, &forged, DYN_SIB_COPY, MAXS), 0);
    /* Even at the sibling bound, a duplicate is not an overflow. */
    assert_int_equal(dyn_siblings_add(&set, &y, DYN_SIB_COPY, 2), 0);
    assert_true(dyn_siblings_equal(&set, &snapshot));
    assert_ptr_equal(set.items[0].value, vx);
    /* A whole set merged into itself (a copy) adds nothing. */
    assert_int_equal(dyn_siblings_merge(&set, &snapshot, DYN_SIB_COPY, MAXS), 0);
    assert_true(dyn_siblings_equal(&set, &snapshot));
    dyn_siblings_clear(&snapshot);
    dyn_siblings_clear(&set);
}

static void test_context_supersedes_all(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t a = D0("a", 10, 1, 1), b = D0("b", 11, 2, 1), c = D2("c", 12, 3, 2, 3, 1, 4, 1);
    dyn_siblings_add(&set, &a, DYN_SIB_BORROW, MAXS);
    dyn_siblings_add(&set, &b, DYN_SIB_BORROW, MAXS);
    dyn_siblings_add(&set, &c, DYN_SIB_BORROW, MAXS);
    assert_int_equal(set.count, 3);

    /* The join of every past and every dot: it covers every sibling's dot. */
    dyn_vclock_t ctx;
    dyn_siblings_context(&set, &ctx);
    assert_true(dyn_vclock_valid(&ctx));
    for (uint32_t i = 0; i < set.count; i++) {
        assert_true(covers_dot(&ctx, &set.items[i]));
        assert_true(dyn_vclock_descends(&ctx, &set.items[i].clock));
    }
    assert_int_equal(ctx.count, 4);
    assert_int_equal(dyn_vclock_get(&ctx, 1, 1), 1); /* a dot, in no past */
    assert_int_equal(dyn_vclock_get(&ctx, 2, 1), 1);
    assert_int_equal(dyn_vclock_get(&ctx, 3, 1), 2); /* c's dot, above its past's 3:1 */
    assert_int_equal(dyn_vclock_get(&ctx, 4, 1), 1); /* only in c's past */

    /* A put whose past is that context, under a new dot of its coordinator, replaces all three. */
    dyn_version_t put;
    memset(&put, 0, sizeof(put));
    dyn_vclock_copy(&put.clock, &ctx);
    put.dot = (dyn_vclock_entry_t){.node = 2, .epoch = 1, .counter = 2, .timestamp_us = 50};
    put.timestamp_us = 50;
    put.value = (const uint8_t *)"merged";
    put.value_length = 6;
    assert_true(dyn_version_valid(&put));
    for (uint32_t i = 0; i < set.count; i++)
        assert_true(dyn_version_supersedes(&put, &set.items[i]));
    assert_int_equal(dyn_siblings_add(&set, &put, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "merged");
    /* And the context of that one version is its past plus its dot. */
    dyn_siblings_context(&set, &ctx);
    assert_int_equal(ctx.count, 4);
    assert_int_equal(dyn_vclock_get(&ctx, 2, 1), 2);

    dyn_siblings_t empty;
    dyn_siblings_init(&empty);
    dyn_siblings_context(&empty, &ctx);
    assert_int_equal(ctx.count, 0);
    dyn_siblings_clear(&set);
}

/* Same actor, many counters: the context holds the largest, which covers every one of them. */
static void test_context_covers_dots_of_one_actor(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    /* Blind writes through one coordinator: dots 1:1 .. 1:5, empty pasts, all siblings. */
    dyn_version_t v[5];
    const char *names[5] = {"w1", "w2", "w3", "w4", "w5"};
    for (uint64_t k = 0; k < 5; k++) {
        v[k] = D0(names[k], 10 + k, 1, k + 1);
        assert_int_equal(dyn_siblings_add(&set, &v[k], DYN_SIB_BORROW, MAXS), 1);
    }
    assert_int_equal(set.count, 5);
    dyn_vclock_t ctx;
    dyn_siblings_context(&set, &ctx);
    assert_int_equal(ctx.count, 1);
    assert_int_equal(dyn_vclock_get(&ctx, 1, 1), 5);
    for (uint32_t i = 0; i < set.count; i++)
        assert_true(covers_dot(&ctx, &set.items[i]));
    /* A sixth write through the same coordinator with that context leaves one version. */
    dyn_version_t w6;
    memset(&w6, 0, sizeof(w6));
    w6.clock = ctx;
    w6.dot = (dyn_vclock_entry_t){.node = 1, .epoch = 1, .counter = 6, .timestamp_us = 60};
    w6.timestamp_us = 60;
    w6.value = (const uint8_t *)"w6";
    w6.value_length = 2;
    assert_int_equal(dyn_siblings_add(&set, &w6, DYN_SIB_BORROW, MAXS), 1);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "w6");
    dyn_siblings_clear(&set);
}

static void test_siblings_max(void **state)
{
    (void)state;
    dyn_siblings_t set, snapshot;
    dyn_siblings_init(&set);
    dyn_siblings_init(&snapshot);
    dyn_version_t a = D0("a", 10, 1, 1), b = D0("b", 11, 2, 1), c = D0("c", 12, 3, 1);
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
    dyn_version_t a2 = D1("a2", 20, 1, 2, 1, 1);
    assert_int_equal(dyn_siblings_add(&set, &a2, DYN_SIB_COPY, 2), 1);
    assert_int_equal(set.count, 2);
    assert_true(has_value(&set, "a2"));
    assert_true(has_value(&set, "b"));

    /* merge stops at the first failure and reports it. */
    dyn_siblings_t other;
    dyn_siblings_init(&other);
    dyn_version_t d = D0("d", 13, 4, 1);
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
    dyn_version_t v = D0(NULL, 10, 1, 1);
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

/*
 * Five pairwise concurrent versions, one a tombstone, added below in several orders. Their pasts
 * name only node 9, which issues none of the dots, so no past covers another version's dot; and
 * ordered by past alone they would sort differently ("d" has the smallest past).
 */
static void five_versions(dyn_version_t out[5])
{
    out[0] = D0("e", 50, 3, 1);
    out[1] = D0("d", 40, 1, 2);
    out[2] = D1("c", 30, 1, 1, 9, 3);
    out[3] = D1("b", 20, 2, 2, 9, 1);
    out[4] = make_version("a", 10, DYN_VERSION_TOMBSTONE, 4, 1, 1, (const uint32_t[]){9},
                          (const uint64_t[]){2});
    out[4].value = NULL;
    out[4].value_length = 0;
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
        if (fwd.items[i].value_length)
            assert_memory_equal(fwd.items[i].value, rev.items[i].value,
                                fwd.items[i].value_length);
    }
    /* By dot (node, epoch, counter) first: 1:1 < 1:2 < 2:2 < 3:1 < 4:1. */
    const char *expect[4] = {"c", "d", "b", "e"};
    for (uint32_t i = 0; i < 4; i++)
        assert_value(&fwd.items[i], expect[i]);
    assert_true(fwd.items[4].flags & DYN_VERSION_TOMBSTONE);
    assert_int_equal(fwd.items[4].dot.node, 4);
    for (uint32_t i = 1; i < 5; i++)
        assert_true(dyn_version_order(&fwd.items[i - 1], &fwd.items[i]) < 0);

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

/* dyn_version_order: the dot decides; past, timestamp, flags and value only break dot ties. */
static void test_version_order_dot_first(void **state)
{
    (void)state;
    dyn_version_t lo_dot = D1("zzz", 99, 1, 5, 7, 9), hi_dot = D0("a", 1, 2, 1);
    assert_true(dyn_version_order(&lo_dot, &hi_dot) < 0);
    assert_true(dyn_version_order(&hi_dot, &lo_dot) > 0);
    dyn_version_t e1 = D0("x", 5, 3, 9), e2 = e1;
    e2.dot.epoch = 2; /* epoch before counter */
    e2.dot.counter = 1;
    assert_true(dyn_version_order(&e1, &e2) < 0);
    dyn_version_t c1 = D0("x", 5, 3, 1), c2 = D0("x", 5, 3, 2);
    assert_true(dyn_version_order(&c1, &c2) < 0);
    /* The dot's own timestamp is not part of the order. */
    dyn_version_t t = c1;
    t.dot.timestamp_us = 12345;
    assert_int_equal(dyn_version_order(&c1, &t), 0);
    /* Same dot: the past, then the timestamp, flags and value bytes decide. */
    dyn_version_t p1 = D0("x", 5, 3, 2), p2 = D1("x", 5, 3, 2, 1, 1);
    assert_true(dyn_version_order(&p1, &p2) < 0);
    dyn_version_t ts1 = D0("x", 5, 3, 2), ts2 = D0("x", 6, 3, 2);
    assert_true(dyn_version_order(&ts1, &ts2) < 0);
    dyn_version_t v1 = D0("xa", 5, 3, 2), v2 = D0("xb", 5, 3, 2);
    assert_true(dyn_version_order(&v1, &v2) < 0);
    assert_int_equal(dyn_version_order(&v1, &v1), 0);
}

static void test_equal_detects_differences(void **state)
{
    (void)state;
    dyn_siblings_t a, b;
    dyn_siblings_init(&a);
    dyn_siblings_init(&b);
    dyn_version_t x = D0("xx", 10, 1, 1), y = D0("xy", 10, 1, 1);
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
    dyn_version_t z = D0("xx", 10, 2, 1);
    dyn_siblings_add(&b, &z, DYN_SIB_BORROW, MAXS);
    assert_false(dyn_siblings_equal(&a, &b)); /* dot actor */
    dyn_siblings_clear(&b);
    dyn_version_t k = D0("xx", 10, 1, 2);
    dyn_siblings_add(&b, &k, DYN_SIB_BORROW, MAXS);
    assert_false(dyn_siblings_equal(&a, &b)); /* dot counter */
    dyn_siblings_clear(&b);
    dyn_version_t p = D1("xx", 10, 1, 1, 5, 1);
    dyn_siblings_add(&b, &p, DYN_SIB_BORROW, MAXS);
    assert_false(dyn_siblings_equal(&a, &b)); /* past */
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
    dyn_version_t v = D0(buf, 10, 1, 1);
    assert_int_equal(dyn_siblings_add(&set, &v, DYN_SIB_COPY, MAXS), 1);
    memset(buf, 'X', sizeof(buf));
    assert_true(set.items[0].owned);
    assert_ptr_not_equal(set.items[0].value, (const uint8_t *)buf);
    assert_value(&set.items[0], "original");

    /* A zero-length value needs no allocation. */
    dyn_version_t empty = D1(NULL, 20, 1, 2, 1, 1);
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
    /* Owned values get replaced (freed inside add), kept as siblings, then cleared. Each round's
     * write by a node has seen that node's previous write (its dot round - 1). */
    for (uint32_t round = 1; round <= 5; round++) {
        for (uint32_t node = 1; node <= 6; node++) {
            snprintf(buf, sizeof(buf), "value-%u-%u", round, node);
            dyn_version_t v = D1(buf, round * 10 + node, node, round, node, round - 1);
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

    dyn_version_t v = D0("again", 1, 1, 1);
    assert_int_equal(dyn_siblings_add(&set, &v, DYN_SIB_COPY, MAXS), 1);
    dyn_siblings_clear(&set);
    dyn_siblings_clear(&set); /* clearing an empty set is harmless */
}

/*
 * Last-write-wins reconciliation ignores causality: a version whose past covers the stored one but
 * whose stamp is older loses (the write a skewed clock makes is dropped); a later stamp replaces
 * whatever is held; equal stamps fall to the canonical order, the same on every replica.
 */
static void test_add_lww_ignores_causality(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t first = D0("first", 1000, 1, 1);
    assert_int_equal(dyn_siblings_add_lww(&set, &first, DYN_SIB_COPY), 1);
    /* Causally after first (its past holds 1:1), but stamped earlier: it loses. */
    dyn_version_t after_but_older = D1("after", 500, 2, 1, 1, 1);
    assert_true(dyn_version_supersedes(&after_but_older, &first));
    assert_int_equal(dyn_siblings_add_lww(&set, &after_but_older, DYN_SIB_COPY), 0);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "first");
    /* Concurrent, stamped later: it replaces. */
    dyn_version_t later = D0("later", 2000, 3, 1);
    assert_int_equal(dyn_siblings_add_lww(&set, &later, DYN_SIB_COPY), 1);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "later");
    /* Equal stamps: the later in canonical order wins, whichever arrives first. */
    dyn_version_t tie_low = D0("tie-low", 3000, 4, 1), tie_high = D0("tie-high", 3000, 5, 1);
    dyn_siblings_t a, b;
    dyn_siblings_init(&a);
    dyn_siblings_init(&b);
    assert_true(dyn_siblings_add_lww(&a, &tie_low, DYN_SIB_COPY) >= 0);
    assert_true(dyn_siblings_add_lww(&a, &tie_high, DYN_SIB_COPY) >= 0);
    assert_true(dyn_siblings_add_lww(&b, &tie_high, DYN_SIB_COPY) >= 0);
    assert_true(dyn_siblings_add_lww(&b, &tie_low, DYN_SIB_COPY) >= 0);
    assert_true(dyn_siblings_equal(&a, &b));
    assert_value(&a.items[0], "tie-high");
    dyn_siblings_clear(&a);
    dyn_siblings_clear(&b);
    dyn_siblings_clear(&set);
}

static void test_resolve_lww(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t a = D0("a", 300, 1, 1), b = D0("b", 900, 2, 1), c = D0("c", 500, 3, 1);
    dyn_siblings_add(&set, &a, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&set, &b, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&set, &c, DYN_SIB_COPY, MAXS);
    dyn_siblings_resolve_lww(&set);
    assert_int_equal(set.count, 1);
    assert_value(&set.items[0], "b");
    assert_int_equal(set.items[0].timestamp_us, 900);
    assert_int_equal(set.items[0].dot.node, 2);
    assert_true(set.items[0].owned);
    dyn_siblings_resolve_lww(&set); /* no-op on one */
    assert_int_equal(set.count, 1);
    dyn_siblings_clear(&set);

    /* Timestamp ties resolve the same way whatever the arrival order. */
    dyn_version_t t1 = D0("t1", 700, 5, 1), t2 = D0("t2", 700, 2, 1), lo = D0("lo", 1, 9, 1);
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
    assert_value(&x.items[0], "t1"); /* dot 5:1 sorts after dot 2:1 */
    dyn_siblings_clear(&x);
    dyn_siblings_clear(&y);
}

static void test_tombstones(void **state)
{
    (void)state;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    dyn_version_t live = D0("live", 10, 1, 1);
    dyn_version_t del = make_version(NULL, 20, DYN_VERSION_TOMBSTONE, 2, 1, 0, NULL, NULL);
    assert_int_equal(dyn_siblings_add(&set, &live, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&set, &del, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(set.count, 2);
    assert_int_equal(dyn_siblings_live_count(&set), 1);

    /* A delete whose past holds both dots leaves one tombstone and no live version. */
    dyn_version_t del2 = make_version(NULL, 30, DYN_VERSION_TOMBSTONE, 2, 2, 2,
                                      (const uint32_t[]){1, 2}, (const uint64_t[]){1, 1});
    assert_int_equal(dyn_siblings_add(&set, &del2, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(set.count, 1);
    assert_int_equal(dyn_siblings_live_count(&set), 0);
    assert_true(set.items[0].flags & DYN_VERSION_TOMBSTONE);
    /* The deleted value replayed is superseded by the tombstone. */
    assert_int_equal(dyn_siblings_add(&set, &live, DYN_SIB_COPY, MAXS), 0);
    assert_int_equal(set.count, 1);
    dyn_siblings_clear(&set);
}

static void test_merge_sets(void **state)
{
    (void)state;
    dyn_siblings_t a, b;
    dyn_siblings_init(&a);
    dyn_siblings_init(&b);
    dyn_version_t x = D0("x", 10, 1, 1), y = D0("y", 20, 2, 1), x2 = D1("x2", 30, 1, 2, 1, 1);
    dyn_siblings_add(&a, &x, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&a, &y, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&b, &x2, DYN_SIB_COPY, MAXS);
    dyn_siblings_add(&b, &y, DYN_SIB_COPY, MAXS);
    /* x2 supersedes x; y (same dot) is already there. */
    assert_int_equal(dyn_siblings_merge(&a, &b, DYN_SIB_COPY, MAXS), 1);
    assert_true(dyn_siblings_equal(&a, &b));
    /* The copies are a's own: b can go away. */
    dyn_siblings_clear(&b);
    assert_true(has_value(&a, "x2"));
    assert_true(has_value(&a, "y"));
    dyn_siblings_clear(&a);
}

/*
 * Random causal histories. Each new write is coordinated by one of three actors, which names it
 * with its next counter; its past is the context a client could hold: the join of the pasts and
 * dots of a random subset of earlier writes, closed under "a past that holds a dot holds that
 * write's past" (what any real context satisfies). Equal dots always mean identical versions.
 */
#define POOL 24

typedef struct history {
    dyn_version_t v[POOL];
    char values[POOL][16];
    uint32_t count;
} history_t;

static void make_history(dyn_prng_t *rng, history_t *h)
{
    uint64_t issued[3] = {0, 0, 0};
    h->count = POOL;
    for (uint32_t i = 0; i < POOL; i++) {
        dyn_version_t *v = &h->v[i];
        memset(v, 0, sizeof(*v));
        dyn_vclock_init(&v->clock);
        for (uint32_t j = 0; j < i; j++) {
            if (dyn_prng_below(rng, 4) != 0)
                continue;
            dyn_vclock_t dot = {.count = 1, .entries = {h->v[j].dot}};
            dyn_vclock_merge(&v->clock, &h->v[j].clock, DYN_VCLOCK_MAX);
            dyn_vclock_merge(&v->clock, &dot, DYN_VCLOCK_MAX);
        }
        for (bool grew = true; grew;) {
            grew = false;
            for (uint32_t j = 0; j < i; j++)
                if (dyn_version_supersedes(v, &h->v[j]) &&
                    !dyn_vclock_descends(&v->clock, &h->v[j].clock)) {
                    dyn_vclock_merge(&v->clock, &h->v[j].clock, DYN_VCLOCK_MAX);
                    grew = true;
                }
        }
        uint32_t actor = (uint32_t)dyn_prng_below(rng, 3);
        v->dot = (dyn_vclock_entry_t){
            .node = actor + 1, .epoch = 1, .counter = ++issued[actor], .timestamp_us = i};
        v->timestamp_us = i;
        v->flags = dyn_prng_below(rng, 5) == 0 ? DYN_VERSION_TOMBSTONE : 0;
        if (!v->flags) {
            int n = snprintf(h->values[i], sizeof(h->values[i]), "%u:%u", actor + 1,
                             (unsigned)v->dot.counter);
            v->value = (const uint8_t *)h->values[i];
            v->value_length = (uint32_t)n;
        }
        assert_true(dyn_version_valid(v));
    }
}

static void test_random_order_independent(void **state)
{
    (void)state;
    enum { N = 12 };
    dyn_prng_t rng;
    dyn_prng_seed(&rng, 7);
    uint32_t max_survivors = 0, duplicates = 0;
    for (int round = 0; round < 300; round++) {
        history_t h;
        make_history(&rng, &h);
        /* N inputs drawn from the history with replacement, so some dots arrive twice. */
        const dyn_version_t *in[N];
        for (int i = 0; i < N; i++)
            in[i] = &h.v[dyn_prng_below(&rng, h.count)];
        dyn_siblings_t fwd, rev, shuffled;
        dyn_siblings_init(&fwd);
        dyn_siblings_init(&rev);
        dyn_siblings_init(&shuffled);
        for (int i = 0; i < N; i++)
            assert_true(dyn_siblings_add(&fwd, in[i], DYN_SIB_BORROW, DYN_SIBLINGS_MAX) >= 0);
        for (int i = N - 1; i >= 0; i--)
            assert_true(dyn_siblings_add(&rev, in[i], DYN_SIB_COPY, DYN_SIBLINGS_MAX) >= 0);
        int perm[N];
        for (int i = 0; i < N; i++)
            perm[i] = i;
        for (int i = N - 1; i > 0; i--) {
            int j = (int)dyn_prng_below(&rng, (uint64_t)i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int i = 0; i < N; i++)
            assert_true(dyn_siblings_add(&shuffled, in[perm[i]], DYN_SIB_BORROW,
                                         DYN_SIBLINGS_MAX) >= 0);
        assert_true(dyn_siblings_equal(&fwd, &rev));
        assert_true(dyn_siblings_equal(&fwd, &shuffled));

        /* Survivors: strictly ordered, distinct dots, none superseding another. */
        for (uint32_t i = 0; i < fwd.count; i++) {
            if (i > 0)
                assert_true(dyn_version_order(&fwd.items[i - 1], &fwd.items[i]) < 0);
            for (uint32_t j = 0; j < fwd.count; j++)
                if (i != j)
                    assert_false(dyn_version_supersedes(&fwd.items[i], &fwd.items[j]));
        }
        /* Every input is present (by dot) or superseded by a survivor, and the survivors are
         * exactly the inputs no input supersedes. */
        for (int i = 0; i < N; i++) {
            bool present = false, superseded = false, by_input = false;
            for (uint32_t j = 0; j < fwd.count; j++) {
                const dyn_version_t *s = &fwd.items[j];
                if (s->dot.node == in[i]->dot.node && s->dot.counter == in[i]->dot.counter) {
                    present = true;
                    assert_int_equal(dyn_version_order(s, in[i]), 0);
                }
                superseded |= dyn_version_supersedes(s, in[i]);
            }
            for (int k = 0; k < N; k++)
                by_input |= dyn_version_supersedes(in[k], in[i]);
            assert_true(present != superseded);
            assert_true(present == !by_input);
            for (int k = 0; k < i; k++)
                duplicates += in[k] == in[i];
        }
        if (fwd.count > max_survivors)
            max_survivors = fwd.count;
        /*
         * The context of the survivors covers every superseded input (it is in a survivor's past)
         * and claims nothing unseen: every event it covers is a survivor's dot or in a survivor's
         * past. A survivor's dot past a gap is left out rather than claiming the gap.
         */
        dyn_vclock_t ctx;
        dyn_siblings_context(&fwd, &ctx);
        for (int i = 0; i < N; i++) {
            bool survived = false;
            for (uint32_t j = 0; j < fwd.count; j++)
                survived |= fwd.items[j].dot.node == in[i]->dot.node &&
                            fwd.items[j].dot.counter == in[i]->dot.counter;
            if (!survived)
                assert_true(covers_dot(&ctx, in[i]));
        }
        for (uint32_t e = 0; e < ctx.count; e++) {
            const dyn_vclock_entry_t *entry = &ctx.entries[e];
            for (uint64_t k = 1; k <= entry->counter; k++) {
                bool seen = false;
                for (uint32_t j = 0; j < fwd.count && !seen; j++) {
                    const dyn_version_t *v = &fwd.items[j];
                    seen = (v->dot.node == entry->node && v->dot.epoch == entry->epoch &&
                            v->dot.counter == k) ||
                           dyn_vclock_covers(&v->clock, entry->node, entry->epoch, k);
                }
                assert_true(seen);
            }
        }
        /* A write with that context supersedes exactly the survivors whose dots it covers. */
        for (uint32_t j = 0; j < fwd.count; j++) {
            dyn_version_t next = {.dot = {.node = 99, .epoch = 1, .counter = 1}, .clock = ctx};
            assert_int_equal(dyn_version_supersedes(&next, &fwd.items[j]),
                             covers_dot(&ctx, &fwd.items[j]));
        }
        dyn_siblings_clear(&fwd);
        dyn_siblings_clear(&rev);
        dyn_siblings_clear(&shuffled);
    }
    print_message("300 rounds: up to %u siblings, %u repeated dots\n", max_survivors, duplicates);
    /* The generator is not degenerate: real sibling sets and repeated dots both occur. */
    assert_true(max_survivors >= 3);
    assert_true(duplicates > 0);
}

/*
 * The dots print names which versions a set holds: sets built in any order from the same
 * versions agree, and a different dot, a missing version or a tombstone flag changes it.
 */
static void test_dots_print(void **state)
{
    (void)state;
    dyn_siblings_t a, b, c;
    dyn_siblings_init(&a);
    dyn_siblings_init(&b);
    dyn_siblings_init(&c);
    dyn_version_t x = D0("x", 10, 1, 1), y = D0("y", 20, 2, 1), z = D0("z", 30, 3, 1);
    assert_true(dyn_siblings_dots_print(&a) != 0);
    assert_int_equal(dyn_siblings_add(&a, &x, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&a, &y, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&b, &y, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&b, &x, DYN_SIB_COPY, MAXS), 1);
    assert_true(dyn_siblings_dots_print(&a) == dyn_siblings_dots_print(&b));
    uint64_t two = dyn_siblings_dots_print(&a);
    assert_int_equal(dyn_siblings_add(&c, &x, DYN_SIB_COPY, MAXS), 1);
    assert_true(dyn_siblings_dots_print(&c) != two);
    assert_int_equal(dyn_siblings_add(&c, &z, DYN_SIB_COPY, MAXS), 1);
    assert_true(dyn_siblings_dots_print(&c) != two); /* same size, another dot */
    dyn_siblings_t d;
    dyn_siblings_init(&d);
    dyn_version_t xt = make_version(NULL, 10, DYN_VERSION_TOMBSTONE, 1, 1, 0, NULL, NULL);
    assert_int_equal(dyn_siblings_add(&d, &xt, DYN_SIB_COPY, MAXS), 1);
    assert_int_equal(dyn_siblings_add(&d, &y, DYN_SIB_COPY, MAXS), 1);
    assert_true(dyn_siblings_dots_print(&d) != two); /* the same dots, one a tombstone */
    dyn_siblings_clear(&a);
    dyn_siblings_clear(&b);
    dyn_siblings_clear(&c);
    dyn_siblings_clear(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_supersedes),
        cmocka_unit_test(test_dots_print),
        cmocka_unit_test(test_past_covering_dot_replaces),
        cmocka_unit_test(test_newer_past_without_dot_stays_sibling),
        cmocka_unit_test(test_concurrent_write_makes_siblings),
        cmocka_unit_test(test_stale_write_ignored),
        cmocka_unit_test(test_same_dot_idempotent),
        cmocka_unit_test(test_context_supersedes_all),
        cmocka_unit_test(test_context_covers_dots_of_one_actor),
        cmocka_unit_test(test_siblings_max),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_canonical_order),
        cmocka_unit_test(test_version_order_dot_first),
        cmocka_unit_test(test_equal_detects_differences),
        cmocka_unit_test(test_copy_survives_overwrite),
        cmocka_unit_test(test_clear_frees_and_reuses),
        cmocka_unit_test(test_resolve_lww),
        cmocka_unit_test(test_add_lww_ignores_causality),
        cmocka_unit_test(test_tombstones),
        cmocka_unit_test(test_merge_sets),
        cmocka_unit_test(test_random_order_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
