/*
 * test_ring.c: the consistent-hashing ring (core/ring.h) under all three partitioning strategies:
 * preference lists are distinct members, the ring depends only on (config, member set), S2/S3
 * partitions share lists, ownership is exact, and S3 spreads replica load evenly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/claim.h"
#include "core/prng.h"
#include "core/ring.h"
#include "core/status.h"

#define KEYS 100000
/* XXH3-64 with the ring's seed, recorded when the seed was chosen: a regression pin. */
#define HASH_EMPTY 0xf6e8fcd19e2c97d5ULL
#define HASH_KEY0 0x5a84a3fab25e33ecULL
#define MAXN 1024

/* Deliberately unsorted and sparse, so sorting and id-vs-index mix-ups show. */
static const uint32_t ids8[8] = { 17, 3, 99, 42, 7, 1000, 5, 64 };

static const dyn_ring_config_t cfg_s1 = { DYN_STRATEGY_S1, 64, 0, 11 };
static const dyn_ring_config_t cfg_s2 = { DYN_STRATEGY_S2, 64, 512, 11 };
static const dyn_ring_config_t cfg_s3 = { DYN_STRATEGY_S3, 0, 256, 11 };

static uint64_t key_hash(int i)
{
    char key[32];
    int len = snprintf(key, sizeof key, "key-%d", i);
    return dyn_ring_hash(key, (size_t)len);
}

static dyn_ring_t *make(const dyn_ring_config_t *cfg, const uint32_t *ids, size_t count)
{
    dyn_ring_t *ring = NULL;
    assert_int_equal(dyn_ring_create(&ring, cfg, ids, count), DYN_OK);
    assert_non_null(ring);
    DYN_ASSERT(dyn_ring_node_count(ring) == count);
    return ring;
}

static int is_member(const uint32_t *ids, size_t count, uint32_t id)
{
    for (size_t i = 0; i < count; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* All of list[0..len-1] are members and pairwise distinct. */
static void assert_distinct_members(const uint32_t *list, size_t len, const uint32_t *ids,
                                    size_t count)
{
    for (size_t i = 0; i < len; i++) {
        assert_true(is_member(ids, count, list[i]));
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(list[i], list[j]);
    }
}

static void test_hash_is_pinned(void **state)
{
    (void)state;
    /* Changing the hash or its seed would move every key of every stored data set. */
    assert_int_equal(dyn_ring_hash("key-0", 5), dyn_ring_hash("key-0", 5));
    assert_int_not_equal(dyn_ring_hash("key-0", 5), dyn_ring_hash("key-1", 5));
    assert_int_equal(dyn_ring_hash("", 0), HASH_EMPTY);
    assert_int_equal(dyn_ring_hash("key-0", 5), HASH_KEY0);
}

static void check_lists(const dyn_ring_config_t *cfg)
{
    dyn_ring_t *ring = make(cfg, ids8, 8);
    assert_int_equal(dyn_ring_node_count(ring), 8);
    uint32_t list[3], ext[8], over[12];
    for (int i = 0; i < KEYS; i++) {
        uint64_t h = key_hash(i);
        assert_int_equal(dyn_ring_preference_list(ring, h, list, 3), 3);
        assert_distinct_members(list, 3, ids8, 8);
        assert_int_equal(dyn_ring_preference_list(ring, h, ext, 8), 8);
        assert_distinct_members(ext, 8, ids8, 8); /* 8 distinct members of 8: a permutation */
        assert_memory_equal(list, ext, sizeof list);
        for (size_t k = 0; k < 8; k++) {
            assert_int_equal(dyn_ring_is_replica(ring, h, ext[k], 3), k < 3);
            assert_true(dyn_ring_is_replica(ring, h, ext[k], 8));
        }
        assert_false(dyn_ring_is_replica(ring, h, 4, 8)); /* not a member */
    }
    /* Asking for more than the node count returns every node once. */
    assert_int_equal(dyn_ring_preference_list(ring, key_hash(7), over, 12), 8);
    assert_distinct_members(over, 8, ids8, 8);
    /* The walk wraps at both ends of the ring. */
    assert_int_equal(dyn_ring_preference_list(ring, 0, list, 3), 3);
    assert_distinct_members(list, 3, ids8, 8);
    assert_int_equal(dyn_ring_preference_list(ring, UINT64_MAX, list, 3), 3);
    assert_distinct_members(list, 3, ids8, 8);
    dyn_ring_destroy(ring);
}

static void test_lists_s1(void **state) { (void)state; check_lists(&cfg_s1); }
static void test_lists_s2(void **state) { (void)state; check_lists(&cfg_s2); }
static void test_lists_s3(void **state) { (void)state; check_lists(&cfg_s3); }

/* Lists longer than the precomputed width go through the table walk and must agree with it. */
static void test_extended_beyond_precomputed(void **state)
{
    (void)state;
    uint32_t ids[40];
    for (uint32_t i = 0; i < 40; i++)
        ids[i] = 1000 - 7 * i;
    const dyn_ring_config_t *cfgs[] = { &cfg_s1, &cfg_s2, &cfg_s3 };
    for (size_t c = 0; c < 3; c++) {
        dyn_ring_t *ring = make(cfgs[c], ids, 40);
        uint32_t short_list[16], ext[40];
        for (int i = 0; i < 5000; i++) {
            uint64_t h = key_hash(i);
            assert_int_equal(dyn_ring_preference_list(ring, h, short_list, 16), 16);
            assert_int_equal(dyn_ring_preference_list(ring, h, ext, 40), 40);
            assert_distinct_members(ext, 40, ids, 40);
            assert_memory_equal(short_list, ext, sizeof short_list);
            for (size_t k = 0; k < 40; k++)
                assert_int_equal(dyn_ring_is_replica(ring, h, ext[k], 20), k < 20);
        }
        dyn_ring_destroy(ring);
    }
}

static void check_balance(uint32_t q, double bound)
{
    const dyn_ring_config_t cfg = { DYN_STRATEGY_S3, 0, q, 2024 };
    dyn_ring_t *ring = make(&cfg, ids8, 8);
    assert_int_equal(dyn_ring_range_count(ring), q);
    assert_int_equal(dyn_ring_token_count(ring), q);
    /* Q/S partitions each: ownership at n=1 is exactly 1/S when S divides Q. */
    for (size_t k = 0; k < 8; k++)
        assert_float_equal(dyn_ring_ownership(ring, ids8[k], 1), 1.0 / 8, 1e-12);

    size_t share[8] = { 0 };
    uint32_t list[3];
    for (int i = 0; i < KEYS; i++) {
        assert_int_equal(dyn_ring_preference_list(ring, key_hash(i), list, 3), 3);
        assert_distinct_members(list, 3, ids8, 8);
        for (size_t r = 0; r < 3; r++)
            for (size_t k = 0; k < 8; k++)
                share[k] += list[r] == ids8[k];
    }
    size_t max = 0, total = 0;
    for (size_t k = 0; k < 8; k++) {
        total += share[k];
        max = share[k] > max ? share[k] : max;
    }
    assert_int_equal(total, 3 * KEYS);
    double ratio = (double)max / ((double)total / 8);
    printf("S3 8 nodes N=3 Q=%u: max/mean key share = %.3f\n", q, ratio);
    assert_true(ratio < bound);
    dyn_ring_destroy(ring);
}

static void test_s3_balance_q256(void **state) { (void)state; check_balance(256, 1.3); }
static void test_s3_balance_q64(void **state) { (void)state; check_balance(64, 1.3); }

/*
 * The S3 owner spread keeps N=3 replica ranges balanced to 3/S of the ring each, off by at most
 * a partition or two at the unchecked seam between the last round and the first.
 */
static void test_s3_replica_ownership_even(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        const dyn_ring_config_t cfg = { DYN_STRATEGY_S3, 0, 256, seed };
        dyn_ring_t *ring = make(&cfg, ids8, 8);
        for (size_t k = 0; k < 8; k++)
            assert_float_equal(dyn_ring_ownership(ring, ids8[k], 3), 3.0 / 8, 2.0 / 256 + 1e-12);
        dyn_ring_destroy(ring);
    }
}

static void test_order_and_seed(void **state)
{
    (void)state;
    static const uint32_t reordered[8] = { 1000, 5, 64, 3, 42, 7, 99, 17 };
    const dyn_ring_config_t *cfgs[] = { &cfg_s1, &cfg_s2, &cfg_s3 };
    for (size_t c = 0; c < 3; c++) {
        dyn_ring_t *a = make(cfgs[c], ids8, 8), *b = make(cfgs[c], reordered, 8);
        uint32_t la[8], lb[8];
        for (int i = 0; i < 20000; i++) {
            dyn_ring_preference_list(a, key_hash(i), la, 8);
            dyn_ring_preference_list(b, key_hash(i), lb, 8);
            assert_memory_equal(la, lb, sizeof la);
        }
        dyn_ring_destroy(a);
        dyn_ring_destroy(b);
    }

    dyn_ring_config_t other = cfg_s1;
    other.seed = 12;
    dyn_ring_t *a = make(&cfg_s1, ids8, 8), *b = make(&other, ids8, 8);
    uint32_t la[3], lb[3];
    int differ = 0;
    for (int i = 0; i < 20000; i++) {
        dyn_ring_preference_list(a, key_hash(i), la, 3);
        dyn_ring_preference_list(b, key_hash(i), lb, 3);
        differ += memcmp(la, lb, sizeof la) != 0;
    }
    /* Independent rings agree on a 3-list of 8 nodes only by chance (about 1 in 336). */
    assert_true(differ > 15000);
    dyn_ring_destroy(a);
    dyn_ring_destroy(b);
}

/* S1/S2: a joining node only inserts itself; everyone else's relative order is unchanged. */
static void test_join_moves_only_new_node(void **state)
{
    (void)state;
    uint32_t ids9[9];
    memcpy(ids9, ids8, sizeof ids8);
    ids9[8] = 500;
    const dyn_ring_config_t *cfgs[] = { &cfg_s1, &cfg_s2 };
    for (size_t c = 0; c < 2; c++) {
        dyn_ring_t *a = make(cfgs[c], ids8, 8), *b = make(cfgs[c], ids9, 9);
        uint32_t la[8], lb[9], stripped[8];
        for (int i = 0; i < 20000; i++) {
            dyn_ring_preference_list(a, key_hash(i), la, 8);
            dyn_ring_preference_list(b, key_hash(i), lb, 9);
            size_t n = 0;
            for (size_t k = 0; k < 9; k++)
                if (lb[k] != 500)
                    stripped[n++] = lb[k];
            assert_int_equal(n, 8);
            assert_memory_equal(la, stripped, sizeof la);
        }
        dyn_ring_destroy(a);
        dyn_ring_destroy(b);
    }
}

static void test_s2_partition_shares_list(void **state)
{
    (void)state;
    const dyn_ring_config_t cfg = { DYN_STRATEGY_S2, 16, 64, 3 };
    dyn_ring_t *ring = make(&cfg, ids8, 8);
    assert_int_equal(dyn_ring_range_count(ring), 64);
    assert_int_equal(dyn_ring_token_count(ring), 128);
    static uint32_t seen[64][3];
    int have[64] = { 0 };
    uint32_t list[3];
    for (int i = 0; i < KEYS; i++) {
        uint64_t h = key_hash(i);
        uint32_t p = dyn_ring_range_of(ring, h);
        assert_true(p < 64);
        assert_int_equal(p, (uint32_t)((h - 1) >> 58)); /* (p*2^58, (p+1)*2^58] */
        dyn_ring_preference_list(ring, h, list, 3);
        if (have[p])
            assert_memory_equal(seen[p], list, sizeof list);
        memcpy(seen[p], list, sizeof list);
        have[p] = 1;
    }
    /* Both ends of every partition: the open start is the previous partition. */
    uint32_t first[3], last[3];
    for (uint64_t p = 0; p < 64; p++) {
        uint64_t start = p << 58, end = (p + 1) << 58; /* end wraps to 0 for the last */
        assert_int_equal(dyn_ring_range_of(ring, start + 1), p);
        assert_int_equal(dyn_ring_range_of(ring, end), p);
        assert_int_equal(dyn_ring_range_of(ring, start), (p + 63) % 64);
        dyn_ring_preference_list(ring, start + 1, first, 3);
        dyn_ring_preference_list(ring, end, last, 3);
        assert_memory_equal(first, last, sizeof first);
    }
    dyn_ring_destroy(ring);
}

/* S3 with Q not a power of two: partitions still tile the ring and the remainder spreads. */
static void test_s3_uneven_partitions(void **state)
{
    (void)state;
    const dyn_ring_config_t cfg = { DYN_STRATEGY_S3, 0, 100, 9 };
    dyn_ring_t *ring = make(&cfg, ids8, 8);
    double sum = 0;
    int big = 0;
    for (size_t k = 0; k < 8; k++) {
        double own = dyn_ring_ownership(ring, ids8[k], 1);
        /* 100 = 8 * 12 + 4: four nodes own 13 partitions, four own 12. */
        int partitions = (int)(own * 100 + 0.5);
        assert_true(partitions == 12 || partitions == 13);
        big += partitions == 13;
        sum += own;
    }
    assert_int_equal(big, 4);
    assert_float_equal(sum, 1.0, 1e-12);
    assert_int_equal(dyn_ring_range_of(ring, 0), 99);
    assert_int_equal(dyn_ring_range_of(ring, 1), 0);
    assert_int_equal(dyn_ring_range_of(ring, UINT64_MAX), 99);
    dyn_ring_destroy(ring);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    dyn_ring_t *ring = (dyn_ring_t *)&ring; /* must be reset to NULL on failure */
    const uint32_t dup[3] = { 4, 9, 4 }, zero[3] = { 4, 0, 9 };
    dyn_ring_config_t cfg = cfg_s3;
    cfg.partitions = 4;
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids8, 8), DYN_EINVAL); /* Q < S */
    assert_null(ring);
    cfg.partitions = 8;
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids8, 8), DYN_OK); /* Q == S is fine */
    dyn_ring_destroy(ring);
    assert_int_equal(dyn_ring_create(&ring, &cfg_s3, dup, 3), DYN_EINVAL);
    assert_int_equal(dyn_ring_create(&ring, &cfg_s1, dup, 3), DYN_EINVAL);
    assert_int_equal(dyn_ring_create(&ring, &cfg_s3, zero, 3), DYN_EINVAL);
    assert_int_equal(dyn_ring_create(&ring, &cfg_s3, ids8, 0), DYN_EINVAL);
    assert_int_equal(dyn_ring_create(&ring, &cfg_s3, NULL, 3), DYN_EINVAL);
    assert_int_equal(dyn_ring_create(&ring, NULL, ids8, 8), DYN_EINVAL);
    assert_int_equal(dyn_ring_create(NULL, &cfg_s3, ids8, 8), DYN_EINVAL);
    assert_null(ring);

    cfg = cfg_s1;
    cfg.tokens_per_node = 0;
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids8, 8), DYN_EINVAL);
    cfg.tokens_per_node = DYN_RING_TOKENS_MAX / 8 + 1; /* total over the bound */
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids8, 8), DYN_EINVAL);
    cfg = cfg_s2;
    cfg.partitions = 0;
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids8, 8), DYN_EINVAL);
    cfg = cfg_s2;
    cfg.tokens_per_node = 0;
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids8, 8), DYN_EINVAL);
    cfg = cfg_s3;
    cfg.partitions = DYN_RING_TOKENS_MAX + 1;
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids8, 8), DYN_EINVAL);
    cfg.strategy = (dyn_strategy_t)4;
    cfg.partitions = 256;
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids8, 8), DYN_EINVAL);
    assert_null(ring);
    dyn_ring_destroy(NULL);
}

/* Ownership is exact (sums to n) and matches the share of sampled keys. */
static void test_ownership(void **state)
{
    (void)state;
    uint32_t ids[20];
    for (uint32_t i = 0; i < 20; i++)
        ids[i] = 3 * i + 1;
    const dyn_ring_config_t *cfgs[] = { &cfg_s1, &cfg_s2, &cfg_s3 };
    const size_t ns[] = { 1, 3, 16, 17, 20, 25 };
    for (size_t c = 0; c < 3; c++) {
        dyn_ring_t *ring = make(cfgs[c], ids, 20);
        for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
            size_t n = ns[t];
            double sum = 0;
            for (size_t k = 0; k < 20; k++) {
                double own = dyn_ring_ownership(ring, ids[k], n);
                assert_true(own >= 0.0 && own <= 1.0);
                sum += own;
            }
            assert_float_equal(sum, n < 20 ? (double)n : 20.0, 1e-9);
        }
        assert_float_equal(dyn_ring_ownership(ring, 2, 3), 0.0, 0.0); /* not a member */

        /* Compare with sampled keys: 100,000 keys put each estimate within ~0.005. */
        size_t hits[20] = { 0 };
        for (int i = 0; i < KEYS; i++)
            for (size_t k = 0; k < 20; k++)
                hits[k] += (size_t)dyn_ring_is_replica(ring, key_hash(i), ids[k], 3);
        for (size_t k = 0; k < 20; k++)
            assert_float_equal((double)hits[k] / KEYS, dyn_ring_ownership(ring, ids[k], 3), 0.01);
        dyn_ring_destroy(ring);
    }
}

/* range_of agrees with the lists: one list per range, and ranges are in bounds. */
static void test_range_of_consistent(void **state)
{
    (void)state;
    const dyn_ring_config_t *cfgs[] = { &cfg_s1, &cfg_s2, &cfg_s3 };
    for (size_t c = 0; c < 3; c++) {
        dyn_ring_t *ring = make(cfgs[c], ids8, 8);
        size_t ranges = dyn_ring_range_count(ring);
        assert_int_equal(ranges, c == 0 ? 8 * 64 : cfgs[c]->partitions);
        uint32_t(*seen)[3] = calloc(ranges, sizeof *seen);
        char *have = calloc(ranges, 1);
        assert_non_null(seen);
        assert_non_null(have);
        uint32_t list[3];
        size_t distinct_ranges = 0;
        for (int i = 0; i < KEYS; i++) {
            uint64_t h = key_hash(i);
            uint32_t r = dyn_ring_range_of(ring, h);
            assert_true(r < ranges);
            dyn_ring_preference_list(ring, h, list, 3);
            if (have[r]) {
                assert_memory_equal(seen[r], list, sizeof list);
            } else {
                memcpy(seen[r], list, sizeof list);
                have[r] = 1;
                distinct_ranges++;
            }
        }
        /* 100,000 keys over at most 512 ranges miss almost none. */
        assert_true(distinct_ranges > ranges * 9 / 10);
        assert_memory_equal(dyn_ring_config(ring), cfgs[c], sizeof(dyn_ring_config_t));
        free(seen);
        free(have);
        dyn_ring_destroy(ring);
    }
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/*
 * Walking the hash space upwards meets ranges in ring order: non-decreasing, and for S1 one wrap
 * back to range 0 past the last token. Includes hashes on and next to power-of-two boundaries,
 * where lookup shortcuts would go wrong.
 */
static void test_range_of_ordered(void **state)
{
    (void)state;
    enum { EDGES = 3 * 4096 };
    uint64_t *h = malloc((KEYS + EDGES) * sizeof *h);
    assert_non_null(h);
    for (int i = 0; i < KEYS; i++)
        h[i] = key_hash(i);
    for (uint64_t k = 0; k < 4096; k++) {
        h[KEYS + 3 * k] = k << 52;
        h[KEYS + 3 * k + 1] = (k << 52) - 1;
        h[KEYS + 3 * k + 2] = (k << 52) + 1;
    }
    qsort(h, KEYS + EDGES, sizeof *h, compare_u64);
    uint32_t ids[100];
    for (uint32_t i = 0; i < 100; i++)
        ids[i] = i + 1;
    const dyn_ring_config_t cfgs[] = { cfg_s1, { DYN_STRATEGY_S1, 1, 0, 4 }, cfg_s2, cfg_s3 };
    for (size_t c = 0; c < 4; c++) {
        dyn_ring_t *ring = make(&cfgs[c], ids, 100);
        uint32_t prev = 0;
        int wrapped = 0;
        for (size_t i = 0; i < KEYS + EDGES; i++) {
            if (h[i] == 0)
                continue; /* 0 is 2^64: the last partition for S2/S3 */
            uint32_t r = dyn_ring_range_of(ring, h[i]);
            assert_true(r < dyn_ring_range_count(ring));
            if (wrapped) {
                assert_int_equal(r, 0);
            } else if (r < prev) {
                assert_int_equal(cfgs[c].strategy, DYN_STRATEGY_S1);
                assert_int_equal(r, 0);
                wrapped = 1;
            }
            prev = r;
        }
        /* The top of the space (UINT64_MAX) is in the last partition, or past the last token. */
        assert_int_equal(prev, cfgs[c].strategy == DYN_STRATEGY_S1 ? 0
                                                                  : dyn_ring_range_count(ring) - 1);
        dyn_ring_destroy(ring);
    }
    free(h);
}

static void test_large_s3(void **state)
{
    (void)state;
    static uint32_t ids[MAXN], ext[MAXN];
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 77);
    for (uint32_t i = 0; i < MAXN; i++)
        ids[i] = 1 + i * 4096 + (uint32_t)dyn_prng_below(&prng, 4096);
    const dyn_ring_config_t cfg = { DYN_STRATEGY_S3, 0, 4096, 1 };
    dyn_ring_t *ring = make(&cfg, ids, MAXN);
    assert_int_equal(dyn_ring_node_count(ring), MAXN);
    assert_int_equal(dyn_ring_range_count(ring), 4096);
    uint32_t list[3];
    for (int i = 0; i < 20000; i++) {
        assert_int_equal(dyn_ring_preference_list(ring, key_hash(i), list, 3), 3);
        assert_distinct_members(list, 3, ids, MAXN);
    }
    for (int i = 0; i < 5; i++) {
        assert_int_equal(dyn_ring_preference_list(ring, key_hash(i), ext, MAXN), MAXN);
        assert_distinct_members(ext, MAXN, ids, MAXN);
    }
    double sum = 0;
    for (size_t k = 0; k < MAXN; k++)
        sum += dyn_ring_ownership(ring, ids[k], 3);
    assert_float_equal(sum, 3.0, 1e-9);
    dyn_ring_destroy(ring);
}

/* An S3 ring rebuilt from its own partition table is the same ring. */
static void test_s3_table_round_trip(void **state)
{
    (void)state;
    const uint32_t ids[8] = {3, 5, 8, 13, 21, 34, 55, 89};
    const dyn_ring_config_t cfg = {DYN_STRATEGY_S3, 0, 256, 77};
    dyn_ring_t *a, *b;
    assert_int_equal(dyn_ring_create(&a, &cfg, ids, 8), DYN_OK);
    uint32_t table[256], again[256];
    assert_int_equal(dyn_ring_s3_table(a, table), DYN_OK);
    assert_int_equal(dyn_ring_create_s3_table(&b, &cfg, table), DYN_OK);
    assert_int_equal(dyn_ring_s3_table(b, again), DYN_OK);
    assert_memory_equal(table, again, sizeof table);
    assert_int_equal(dyn_ring_node_count(b), 8);
    for (uint32_t k = 0; k < 2000; k++) {
        uint64_t h = dyn_ring_hash(&k, sizeof k);
        uint32_t la[5], lb[5];
        assert_int_equal(dyn_ring_preference_list(a, h, la, 5), 5);
        assert_int_equal(dyn_ring_preference_list(b, h, lb, 5), 5);
        assert_memory_equal(la, lb, sizeof la);
    }
    /* Owner 0, and another strategy, are refused. */
    table[7] = 0;
    dyn_ring_t *bad;
    assert_int_equal(dyn_ring_create_s3_table(&bad, &cfg, table), DYN_EINVAL);
    const dyn_ring_config_t s1 = {DYN_STRATEGY_S1, 8, 0, 77};
    assert_int_equal(dyn_ring_create_s3_table(&bad, &s1, again), DYN_EINVAL);
    dyn_ring_destroy(a);
    dyn_ring_destroy(b);
}

/* Partitions within `spread` of one another that share an owner. */
static int clashes(const uint32_t *t, size_t q, unsigned spread)
{
    int n = 0;
    for (size_t i = 0; i < q; i++)
        for (unsigned d = 1; d <= spread; d++)
            n += t[i] == t[(i + d) % q];
    return n;
}

static void shares(const uint32_t *t, size_t q, const uint32_t *ids, size_t count, uint32_t *min,
                   uint32_t *max)
{
    *min = UINT32_MAX;
    *max = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t n = 0;
        for (size_t p = 0; p < q; p++)
            n += t[p] == ids[i];
        if (n < *min)
            *min = n;
        if (n > *max)
            *max = n;
    }
}

/*
 * A join moves only what the new node takes (its share), a leave only what the leaver held; the
 * shares stay within one partition of each other, and the new table keeps owners apart.
 */
static void test_claim_join_and_leave(void **state)
{
    (void)state;
    enum { Q = 256 };
    uint32_t ids[17];
    for (uint32_t i = 0; i < 17; i++)
        ids[i] = 10 + i;
    const dyn_ring_config_t cfg = {DYN_STRATEGY_S3, 0, Q, 5};
    dyn_ring_t *ring;
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids, 8), DYN_OK);
    uint32_t table[Q], next[Q];
    assert_int_equal(dyn_ring_s3_table(ring, table), DYN_OK);
    dyn_ring_destroy(ring);
    /* A balanced table is its own claim. */
    assert_int_equal(dyn_claim(table, Q, ids, 8, 3, next), 0);
    assert_memory_equal(table, next, sizeof table);
    /* Nodes join one at a time, from 8 to 17. */
    for (size_t s = 9; s <= 17; s++) {
        int moved = dyn_claim(table, Q, ids, s, 3, next);
        uint32_t lo, hi;
        shares(next, Q, ids, s, &lo, &hi);
        assert_true(hi - lo <= 1);
        uint32_t joined = 0;
        for (size_t p = 0; p < Q; p++)
            joined += next[p] == ids[s - 1];
        assert_int_equal(moved, (int)joined);
        assert_true(joined == Q / s || joined == Q / s + 1);
        assert_int_equal(clashes(next, Q, 3), 0);
        assert_int_equal(dyn_ring_create_s3_table(&ring, &cfg, next), DYN_OK);
        assert_int_equal(dyn_ring_node_count(ring), s);
        dyn_ring_destroy(ring);
        memcpy(table, next, sizeof table);
    }
    /* Node 13 leaves: exactly its partitions move, to the others. */
    uint32_t left[16], held = 0;
    size_t k = 0;
    for (size_t i = 0; i < 17; i++)
        if (ids[i] != 13)
            left[k++] = ids[i];
    for (size_t p = 0; p < Q; p++)
        held += table[p] == 13;
    assert_int_equal(dyn_claim(table, Q, left, 16, 3, next), (int)held);
    assert_int_equal(clashes(next, Q, 3), 0);
    for (size_t p = 0; p < Q; p++) {
        assert_true(next[p] != 13);
        if (table[p] != 13)
            assert_int_equal(next[p], table[p]);
    }
    uint32_t lo, hi;
    shares(next, Q, left, 16, &lo, &hi);
    assert_true(hi - lo <= 1);
    /* Refused: no members, an id 0, duplicates, more members than partitions. */
    const uint32_t zero[2] = {1, 0}, dup[2] = {4, 4};
    assert_int_equal(dyn_claim(table, Q, ids, 0, 4, next), DYN_EINVAL);
    assert_int_equal(dyn_claim(table, Q, zero, 2, 4, next), DYN_EINVAL);
    assert_int_equal(dyn_claim(table, Q, dup, 2, 4, next), DYN_EINVAL);
    assert_int_equal(dyn_claim(table, 4, ids, 5, 4, next), DYN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_pinned),
        cmocka_unit_test(test_lists_s1),
        cmocka_unit_test(test_lists_s2),
        cmocka_unit_test(test_lists_s3),
        cmocka_unit_test(test_extended_beyond_precomputed),
        cmocka_unit_test(test_s3_balance_q256),
        cmocka_unit_test(test_s3_balance_q64),
        cmocka_unit_test(test_s3_replica_ownership_even),
        cmocka_unit_test(test_order_and_seed),
        cmocka_unit_test(test_join_moves_only_new_node),
        cmocka_unit_test(test_s2_partition_shares_list),
        cmocka_unit_test(test_s3_uneven_partitions),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_ownership),
        cmocka_unit_test(test_range_of_consistent),
        cmocka_unit_test(test_range_of_ordered),
        cmocka_unit_test(test_large_s3),
        cmocka_unit_test(test_s3_table_round_trip),
        cmocka_unit_test(test_claim_join_and_leave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
