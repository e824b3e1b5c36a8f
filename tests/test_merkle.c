/*
 * test_merkle.c: the anti-entropy hash tree (core/merkle.h): roots depend on the key set and not
 * on write order, deletes and reverts restore earlier hashes, the lazy interior hashes match a
 * tree built in one go, keys of one S3 partition spread over all leaves, and a top-down exchange
 * run through hash arrays (as it will run over datagrams) finds exactly the differing leaves.
 * It also prints what such an exchange costs at 1 % and 10 % divergence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/merkle.h"
#include "core/prng.h"
#include "core/ring.h"
#include "core/status.h"

#define KEYS_MAX 20000
#define LEAVES_MAX (1u << DYN_MERKLE_DEPTH_MAX)

/* Recorded when the module was written (the digest and the leaf also recomputed by hand from
 * XXH3 and the seeds in merkle.c): a regression pin. The seeds and byte orders are part of the
 * exchange, so a change here makes every range look divergent to older nodes. */
#define PIN_DIGEST_KEY0_42 0x6c93cba7531c160bULL
#define PIN_LEAF_KEY0_D16 33022u
#define PIN_ROOT_TEN_KEYS_D4 0xaed307c2259c237cULL

/* One replica's view of keys key-0..key-(n-1): prints[i] == 0 means absent. */
typedef struct replica {
    size_t n;
    uint64_t prints[KEYS_MAX];
} replica_t;

static size_t key_name(int i, char *buf, size_t size)
{
    int len = snprintf(buf, size, "key-%d", i);
    assert_true(len > 0 && (size_t)len < size);
    return (size_t)len;
}

static uint64_t key_hash(int i)
{
    char key[32];
    size_t len = key_name(i, key, sizeof key);
    return dyn_ring_hash(key, len);
}

static uint64_t key_digest(int i, uint64_t print)
{
    if (print == 0)
        return 0;
    char key[32];
    size_t len = key_name(i, key, sizeof key);
    return dyn_merkle_key_digest((const uint8_t *)key, len, print);
}

static dyn_merkle_t *make(unsigned depth)
{
    dyn_merkle_t *t = NULL;
    assert_int_equal(dyn_merkle_create(&t, depth), DYN_OK);
    assert_non_null(t);
    assert_int_equal(dyn_merkle_depth(t), depth);
    return t;
}

/* Set key i's print on a replica and its tree, as a replica's write path would. */
static void set_key(replica_t *r, dyn_merkle_t *t, int i, uint64_t print)
{
    assert_true(i >= 0 && (size_t)i < r->n);
    dyn_merkle_update(t, key_hash(i), key_digest(i, r->prints[i]), key_digest(i, print));
    r->prints[i] = print;
}

static dyn_merkle_t *build(const replica_t *r, unsigned depth)
{
    dyn_merkle_t *t = make(depth);
    for (size_t i = 0; i < r->n; i++)
        dyn_merkle_update(t, key_hash((int)i), 0, key_digest((int)i, r->prints[i]));
    return t;
}

static replica_t *replica_new(size_t n, uint64_t seed)
{
    replica_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    assert_true(n <= KEYS_MAX);
    r->n = n;
    dyn_prng_t prng;
    dyn_prng_seed(&prng, seed);
    for (size_t i = 0; i < n; i++)
        r->prints[i] = dyn_prng_u64(&prng) | 1; /* present */
    return r;
}

static void assert_same_tree(dyn_merkle_t *a, dyn_merkle_t *b)
{
    unsigned depth = dyn_merkle_depth(a);
    assert_int_equal(depth, dyn_merkle_depth(b));
    for (unsigned level = 0; level <= depth; level++)
        for (uint32_t i = 0; i < (1u << level); i++)
            assert_true(dyn_merkle_hash(a, level, i) == dyn_merkle_hash(b, level, i));
}

typedef struct exchange_result {
    size_t leaves;      /* differing leaves found, written ascending to leaf[] */
    uint32_t leaf[LEAVES_MAX];
    size_t compared;    /* node hashes compared over the whole exchange */
    unsigned levels;    /* levels at which at least one hash was compared */
} exchange_result_t;

/*
 * A top-down exchange with nothing shared but arrays: `remote` sends the hashes of the current
 * list of nodes, `local` keeps the indices that differ and expands them into the next list. In a
 * node these arrays are datagram payloads.
 */
static void exchange(dyn_merkle_t *local, dyn_merkle_t *remote, exchange_result_t *res)
{
    static uint32_t list[LEAVES_MAX], differ[LEAVES_MAX];
    static uint64_t wire[LEAVES_MAX];
    unsigned depth = dyn_merkle_depth(local);
    memset(res, 0, sizeof *res);
    size_t count = 1;
    list[0] = 0;
    for (unsigned level = 0; count > 0; level++) {
        assert_int_equal(dyn_merkle_hashes(remote, level, list, count, wire), DYN_OK);
        int n = dyn_merkle_compare(local, level, list, wire, count, differ);
        assert_true(n >= 0 && (size_t)n <= count);
        res->compared += count;
        res->levels++;
        if (level == depth) {
            memcpy(res->leaf, differ, (size_t)n * sizeof *differ);
            res->leaves = (size_t)n;
            return;
        }
        int next = dyn_merkle_descend(local, level, differ, (size_t)n, list);
        assert_int_equal(next, 2 * n);
        count = (size_t)next;
    }
}

/* Every leaf whose hashes differ, by brute force. */
static size_t differing_leaves(dyn_merkle_t *a, dyn_merkle_t *b, uint32_t *out)
{
    unsigned depth = dyn_merkle_depth(a);
    size_t n = 0;
    for (uint32_t i = 0; i < (1u << depth); i++)
        if (dyn_merkle_hash(a, depth, i) != dyn_merkle_hash(b, depth, i))
            out[n++] = i;
    return n;
}

static void test_depth_bounds(void **state)
{
    (void)state;
    dyn_merkle_t *t = (dyn_merkle_t *)&t; /* a sentinel: rejected depths must not write *out */
    assert_int_equal(dyn_merkle_create(&t, 0), DYN_EINVAL);
    assert_int_equal(dyn_merkle_create(&t, DYN_MERKLE_DEPTH_MAX + 1), DYN_EINVAL);
    assert_int_equal(dyn_merkle_create(&t, 1000), DYN_EINVAL);
    assert_ptr_equal(t, (dyn_merkle_t *)&t);
    for (unsigned depth = 1; depth <= DYN_MERKLE_DEPTH_MAX; depth++) {
        t = make(depth);
        for (int i = 0; i < 64; i++)
            assert_true(dyn_merkle_leaf_of(t, key_hash(i)) < (1u << depth));
        dyn_merkle_destroy(t);
    }
    dyn_merkle_destroy(NULL);
}

static void test_empty_root_is_zero(void **state)
{
    (void)state;
    for (unsigned depth = 1; depth <= DYN_MERKLE_DEPTH_MAX; depth++) {
        dyn_merkle_t *t = make(depth);
        assert_true(dyn_merkle_root(t) == 0);
        dyn_merkle_destroy(t);
    }
    dyn_merkle_t *t = make(6);
    for (unsigned level = 0; level <= 6; level++)
        for (uint32_t i = 0; i < (1u << level); i++)
            assert_true(dyn_merkle_hash(t, level, i) == 0);
    /* A key written and removed leaves the tree empty again, interior hashes included. */
    uint64_t d = key_digest(3, 77);
    dyn_merkle_update(t, key_hash(3), 0, d);
    assert_true(dyn_merkle_root(t) != 0);
    dyn_merkle_update(t, key_hash(3), d, 0);
    assert_true(dyn_merkle_root(t) == 0);
    dyn_merkle_t *u = make(6);
    assert_same_tree(t, u);
    dyn_merkle_destroy(u);
    dyn_merkle_destroy(t);
}

static void test_digest(void **state)
{
    (void)state;
    const uint8_t ab[] = { 'a', 'b' };
    uint64_t d = dyn_merkle_key_digest(ab, 2, 5);
    assert_true(d != 0);
    assert_true(d == dyn_merkle_key_digest(ab, 2, 5));
    assert_true(d != dyn_merkle_key_digest(ab, 2, 6));
    assert_true(d != dyn_merkle_key_digest(ab, 1, 5));
    assert_true(dyn_merkle_key_digest(NULL, 0, 5) != 0);
    assert_true(dyn_merkle_key_digest(NULL, 0, 0) != 0); /* a print of 0 is still a stored key */
    assert_true(dyn_merkle_key_digest(NULL, 0, 5) != dyn_merkle_key_digest(NULL, 0, 6));
    /* Many keys and prints: no collisions among 64-bit digests at this scale. */
    enum { N = 2000 };
    static uint64_t seen[2 * N];
    for (int i = 0; i < N; i++) {
        seen[2 * i] = key_digest(i, 1);
        seen[2 * i + 1] = key_digest(i, 2);
    }
    for (int i = 0; i < 2 * N; i++)
        for (int j = 0; j < i; j++)
            assert_true(seen[i] != seen[j]);
}

static void test_pinned(void **state)
{
    (void)state;
    assert_true(key_digest(0, 42) == PIN_DIGEST_KEY0_42);
    dyn_merkle_t *t = make(16);
    assert_int_equal(dyn_merkle_leaf_of(t, key_hash(0)), PIN_LEAF_KEY0_D16);
    dyn_merkle_destroy(t);
    t = make(4);
    for (int i = 0; i < 10; i++)
        dyn_merkle_update(t, key_hash(i), 0, key_digest(i, (uint64_t)i + 1));
    assert_true(dyn_merkle_root(t) == PIN_ROOT_TEN_KEYS_D4);
    dyn_merkle_destroy(t);
}

static void test_order_independent(void **state)
{
    (void)state;
    enum { N = 3000 };
    replica_t *r = replica_new(N, 1);
    dyn_merkle_t *forward = build(r, 10);

    dyn_merkle_t *backward = make(10);
    for (int i = N - 1; i >= 0; i--)
        dyn_merkle_update(backward, key_hash(i), 0, key_digest(i, r->prints[i]));

    /* Shuffled, with a detour through another value per key and roots read along the way. */
    static int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 2);
    for (int i = N - 1; i > 0; i--) {
        int j = (int)dyn_prng_below(&prng, (uint64_t)i + 1);
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    dyn_merkle_t *shuffled = make(10);
    for (int k = 0; k < N; k++) {
        int i = order[k];
        uint64_t detour = key_digest(i, r->prints[i] + 2);
        dyn_merkle_update(shuffled, key_hash(i), 0, detour);
        if (k % 97 == 0)
            (void)dyn_merkle_root(shuffled);
        dyn_merkle_update(shuffled, key_hash(i), detour, key_digest(i, r->prints[i]));
    }

    assert_true(dyn_merkle_root(forward) != 0);
    assert_true(dyn_merkle_root(forward) == dyn_merkle_root(backward));
    assert_true(dyn_merkle_root(forward) == dyn_merkle_root(shuffled));
    assert_same_tree(forward, backward);
    assert_same_tree(forward, shuffled);
    dyn_merkle_destroy(forward);
    dyn_merkle_destroy(backward);
    dyn_merkle_destroy(shuffled);
    free(r);
}

static void test_delete_restores_root(void **state)
{
    (void)state;
    enum { N = 1000 };
    replica_t *r = replica_new(N + 1, 3);
    r->prints[N] = 0; /* key-N starts absent */
    dyn_merkle_t *t = build(r, 8);
    dyn_merkle_t *before = build(r, 8);
    uint64_t root = dyn_merkle_root(t);

    set_key(r, t, N, 12345); /* insert */
    assert_true(dyn_merkle_root(t) != root);
    set_key(r, t, N, 0); /* delete */
    assert_true(dyn_merkle_root(t) == root);
    assert_same_tree(t, before);

    uint64_t old = r->prints[17];
    set_key(r, t, 17, old + 1); /* a new value, then the old one back */
    assert_true(dyn_merkle_root(t) != root);
    set_key(r, t, 17, old);
    assert_true(dyn_merkle_root(t) == root);

    set_key(r, t, 17, 0); /* deleting a key that was there changes the root too */
    assert_true(dyn_merkle_root(t) != root);
    set_key(r, t, 17, old);
    assert_same_tree(t, before);
    dyn_merkle_destroy(t);
    dyn_merkle_destroy(before);
    free(r);
}

static void test_clear(void **state)
{
    (void)state;
    replica_t *r = replica_new(500, 4);
    dyn_merkle_t *t = build(r, 7);
    size_t bytes = dyn_merkle_memory_bytes(t);
    uint64_t root = dyn_merkle_root(t);
    assert_true(root != 0);
    set_key(r, t, 3, 99); /* leave dirty marks behind */
    dyn_merkle_clear(t);
    assert_true(dyn_merkle_root(t) == 0);
    dyn_merkle_t *empty = make(7);
    assert_same_tree(t, empty);
    assert_int_equal(dyn_merkle_memory_bytes(t), bytes);
    assert_int_equal(dyn_merkle_depth(t), 7);
    /* Rebuilding from the store (here, the replica) gives the tree a fresh build gives. */
    for (size_t i = 0; i < r->n; i++)
        dyn_merkle_update(t, key_hash((int)i), 0, key_digest((int)i, r->prints[i]));
    dyn_merkle_t *fresh = build(r, 7);
    assert_same_tree(t, fresh);
    dyn_merkle_destroy(fresh);
    dyn_merkle_destroy(empty);
    dyn_merkle_destroy(t);
    free(r);
}

/* Reads between writes must never leave a stale interior hash behind. */
static void test_lazy_matches_fresh(void **state)
{
    (void)state;
    enum { N = 4000, OPS = 20000 };
    replica_t *r = replica_new(N, 5);
    dyn_merkle_t *t = build(r, 9);
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 6);
    for (int op = 0; op < OPS; op++) {
        int i = (int)dyn_prng_below(&prng, N);
        uint64_t roll = dyn_prng_below(&prng, 10);
        set_key(r, t, i, roll < 2 ? 0 : dyn_prng_u64(&prng) | 1);
        if (dyn_prng_chance(&prng, 1, 5)) {
            unsigned level = (unsigned)dyn_prng_below(&prng, 10);
            (void)dyn_merkle_hash(t, level, (uint32_t)dyn_prng_below(&prng, 1u << level));
        }
        if (op % 5000 == 4999) {
            dyn_merkle_t *fresh = build(r, 9);
            assert_same_tree(t, fresh);
            dyn_merkle_destroy(fresh);
        }
    }
    dyn_merkle_destroy(t);
    free(r);
}

/* Same multiset of leaves at swapped positions: the root must still differ. */
static void test_position_matters(void **state)
{
    (void)state;
    dyn_merkle_t *a = make(1), *b = make(1);
    uint64_t h[2] = { 0, 0 };
    int found = 0;
    for (int i = 0; found != 3 && i < 1000; i++) {
        uint32_t leaf = dyn_merkle_leaf_of(a, key_hash(i));
        if (!(found & (1 << leaf))) {
            h[leaf] = key_hash(i);
            found |= 1 << leaf;
        }
    }
    assert_int_equal(found, 3);
    uint64_t d1 = key_digest(1, 1), d2 = key_digest(2, 2);
    dyn_merkle_update(a, h[0], 0, d1);
    dyn_merkle_update(a, h[1], 0, d2);
    dyn_merkle_update(b, h[0], 0, d2);
    dyn_merkle_update(b, h[1], 0, d1);
    assert_true(dyn_merkle_hash(a, 1, 0) == dyn_merkle_hash(b, 1, 1));
    assert_true(dyn_merkle_hash(a, 1, 1) == dyn_merkle_hash(b, 1, 0));
    assert_true(dyn_merkle_root(a) != dyn_merkle_root(b));
    dyn_merkle_destroy(a);
    dyn_merkle_destroy(b);
}

/* Keys of one S3 partition share their ring hash's top bits; the remix must still use every leaf. */
static void test_partition_keys_spread(void **state)
{
    (void)state;
    enum { DEPTH = 8, WANT = 2000 };
    static const uint32_t ids[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    const dyn_ring_config_t cfg = { DYN_STRATEGY_S3, 0, 256, 11 };
    dyn_ring_t *ring = NULL;
    assert_int_equal(dyn_ring_create(&ring, &cfg, ids, 8), DYN_OK);
    dyn_merkle_t *t = make(DEPTH);
    static uint32_t load[1u << DEPTH];
    uint32_t top_bits_used[1u << DEPTH] = { 0 };
    int got = 0;
    for (int i = 0; got < WANT; i++) {
        uint64_t h = key_hash(i);
        if (dyn_ring_range_of(ring, h) != 5)
            continue;
        load[dyn_merkle_leaf_of(t, h)]++;
        top_bits_used[h >> (64 - DEPTH)] = 1;
        got++;
    }
    size_t occupied = 0, naive = 0;
    uint32_t max = 0;
    for (size_t i = 0; i < (1u << DEPTH); i++) {
        occupied += load[i] > 0;
        naive += top_bits_used[i];
        max = load[i] > max ? load[i] : max;
    }
    /* 2000 keys over 256 leaves: a Poisson(7.8) load leaves almost no leaf empty. */
    assert_true(occupied >= 250);
    assert_true(max <= 25);
    assert_int_equal(naive, 1); /* the unmixed top bits would put the whole range in one leaf */
    dyn_merkle_destroy(t);
    dyn_ring_destroy(ring);
}

static void test_one_change_found(void **state)
{
    (void)state;
    enum { N = 5000, DEPTH = 10 };
    replica_t *r = replica_new(N, 7);
    dyn_merkle_t *a = build(r, DEPTH), *b = build(r, DEPTH);
    static exchange_result_t res;
    exchange(a, b, &res);
    assert_int_equal(res.leaves, 0);
    assert_int_equal(res.compared, 1); /* equal roots end it at once */

    set_key(r, b, 1234, r->prints[1234] + 1);
    assert_true(dyn_merkle_root(a) != dyn_merkle_root(b));
    exchange(a, b, &res);
    assert_int_equal(res.leaves, 1);
    assert_int_equal(res.leaf[0], dyn_merkle_leaf_of(a, key_hash(1234)));
    assert_int_equal(res.levels, DEPTH + 1);
    assert_int_equal(res.compared, 1 + 2 * DEPTH); /* one path: two children per level */
    exchange(b, a, &res); /* either side may start */
    assert_int_equal(res.leaves, 1);
    assert_int_equal(res.leaf[0], dyn_merkle_leaf_of(a, key_hash(1234)));
    dyn_merkle_destroy(a);
    dyn_merkle_destroy(b);
    free(r);
}

/* Diverge k distinct random keys of b: a value change, a delete, or a key only b has. */
static void diverge(replica_t *rb, dyn_merkle_t *b, size_t base, size_t k, dyn_prng_t *prng,
                    uint8_t *touched)
{
    memset(touched, 0, rb->n);
    for (size_t done = 0; done < k;) {
        int i = (int)dyn_prng_below(prng, rb->n);
        if (touched[i])
            continue;
        touched[i] = 1;
        done++;
        if ((size_t)i >= base) /* beyond the shared set: absent on a, written on b */
            set_key(rb, b, i, dyn_prng_u64(prng) | 1);
        else if (dyn_prng_chance(prng, 1, 4))
            set_key(rb, b, i, 0);
        else
            set_key(rb, b, i, rb->prints[i] + 2);
    }
}

static void test_random_divergence_found(void **state)
{
    (void)state;
    enum { BASE = 8000, EXTRA = 400, DEPTH = 10 };
    static const size_t ks[] = { 1, 2, 9, 50, 300, 2000 };
    static exchange_result_t res;
    static uint32_t brute[LEAVES_MAX];
    static uint8_t touched[BASE + EXTRA], expect[LEAVES_MAX];
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 8);
    for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++) {
        for (int round = 0; round < 3; round++) {
            replica_t *ra = replica_new(BASE + EXTRA, 9 + (uint64_t)round);
            memset(ra->prints + BASE, 0, EXTRA * sizeof ra->prints[0]);
            replica_t *rb = malloc(sizeof *rb);
            assert_non_null(rb);
            memcpy(rb, ra, sizeof *rb);
            dyn_merkle_t *a = build(ra, DEPTH), *b = build(rb, DEPTH);
            assert_true(dyn_merkle_root(a) == dyn_merkle_root(b));
            diverge(rb, b, BASE, ks[c], &prng, touched);

            memset(expect, 0, sizeof expect);
            size_t expected = 0;
            for (size_t i = 0; i < rb->n; i++)
                if (touched[i]) {
                    uint32_t leaf = dyn_merkle_leaf_of(a, key_hash((int)i));
                    expected += !expect[leaf];
                    expect[leaf] = 1;
                }

            exchange(a, b, &res);
            size_t nbrute = differing_leaves(a, b, brute);
            /* Exactly the leaves that differ, each once, ascending; and those are exactly the
             * leaves of the diverged keys (no two changes cancel at 64 bits). */
            assert_int_equal(res.leaves, nbrute);
            assert_int_equal(res.leaves, expected);
            for (size_t j = 0; j < res.leaves; j++) {
                assert_int_equal(res.leaf[j], brute[j]);
                assert_true(expect[res.leaf[j]]);
                if (j > 0)
                    assert_true(res.leaf[j - 1] < res.leaf[j]);
            }
            /* Repairing b's diverged keys from a ends the divergence. */
            for (size_t i = 0; i < rb->n; i++)
                if (touched[i])
                    set_key(rb, b, (int)i, ra->prints[i]);
            assert_true(dyn_merkle_root(a) == dyn_merkle_root(b));
            exchange(a, b, &res);
            assert_int_equal(res.leaves, 0);
            dyn_merkle_destroy(a);
            dyn_merkle_destroy(b);
            free(ra);
            free(rb);
        }
    }
}

static void test_peer_input_checked(void **state)
{
    (void)state;
    dyn_merkle_t *t = make(4);
    uint32_t idx[32] = { 0 };
    uint64_t h[32] = { 0 };
    uint32_t out[64];
    assert_int_equal(dyn_merkle_hashes(t, 5, idx, 1, h), DYN_EINVAL);     /* below the leaves */
    idx[0] = 4;
    assert_int_equal(dyn_merkle_hashes(t, 2, idx, 1, h), DYN_EINVAL);     /* index >= 2^level */
    assert_int_equal(dyn_merkle_compare(t, 2, idx, h, 1, out), DYN_EINVAL);
    idx[0] = 3;
    assert_int_equal(dyn_merkle_hashes(t, 2, idx, 1, h), DYN_OK);
    memset(idx, 0, sizeof idx);
    assert_int_equal(dyn_merkle_compare(t, 2, idx, h, 5, out), DYN_EINVAL); /* count > 2^level */
    assert_int_equal(dyn_merkle_compare(t, 2, idx, h, 4, out), 0);          /* empty: all 0 */
    h[1] = 9;
    assert_int_equal(dyn_merkle_compare(t, 2, idx, h, 4, out), 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(dyn_merkle_compare(t, 0, idx, h, 0, out), 0);
    assert_int_equal(dyn_merkle_descend(t, 4, idx, 1, out), DYN_EINVAL);   /* leaves */
    idx[0] = 8;
    assert_int_equal(dyn_merkle_descend(t, 3, idx, 1, out), DYN_EINVAL);
    idx[0] = 7;
    idx[1] = 2;
    assert_int_equal(dyn_merkle_descend(t, 3, idx, 2, out), 4);
    assert_int_equal(out[0], 14);
    assert_int_equal(out[1], 15);
    assert_int_equal(out[2], 4);
    assert_int_equal(out[3], 5);
    dyn_merkle_destroy(t);
}

/* A prefetch hint, right depth or wrong, changes no hash. */
static void test_prefetch_is_inert(void **state)
{
    (void)state;
    for (unsigned depth = 1; depth <= 12; depth++) {
        dyn_merkle_t *t = make(depth);
        for (uint64_t k = 1; k <= 50; k++)
            dyn_merkle_update(t, k * 0x9E3779B97F4A7C15ULL, 0, k);
        uint64_t root = dyn_merkle_root(t);
        for (uint64_t k = 1; k <= 50; k++) {
            dyn_merkle_prefetch(t, depth, k * 0x9E3779B97F4A7C15ULL);
            dyn_merkle_prefetch(t, 0, k);
            dyn_merkle_prefetch(t, DYN_MERKLE_DEPTH_MAX + 1, k);
        }
        assert_int_equal(dyn_merkle_root(t), root);
        dyn_merkle_destroy(t);
    }
}

static void test_memory_bytes(void **state)
{
    (void)state;
    size_t previous = 0;
    for (unsigned depth = 1; depth <= DYN_MERKLE_DEPTH_MAX; depth++) {
        dyn_merkle_t *t = make(depth);
        size_t bytes = dyn_merkle_memory_bytes(t);
        size_t nodes = ((size_t)2 << depth) - 1;
        assert_true(bytes >= nodes * 8);
        assert_true(bytes <= nodes * 8 + nodes / 8 + 256); /* hashes plus a bit per node */
        assert_true(bytes > previous);
        previous = bytes;
        if (depth == 10 || depth == 16)
            printf("merkle tree depth %u: %zu bytes\n", depth, bytes);
        dyn_merkle_destroy(t);
    }
}

/* The figure for the closing note: what a full exchange compares at 1 % and 10 % divergence. */
static void test_exchange_cost(void **state)
{
    (void)state;
    enum { N = 10000, DEPTH = 10, SEEDS = 10 };
    static const size_t percents[] = { 1, 10 };
    static exchange_result_t res;
    static uint8_t touched[N];
    for (size_t p = 0; p < 2; p++) {
        size_t k = N * percents[p] / 100;
        size_t cmin = SIZE_MAX, cmax = 0, csum = 0, lsum = 0;
        for (uint64_t seed = 0; seed < SEEDS; seed++) {
            replica_t *ra = replica_new(N, 100 + seed);
            replica_t *rb = malloc(sizeof *rb);
            assert_non_null(rb);
            memcpy(rb, ra, sizeof *rb);
            dyn_merkle_t *a = build(ra, DEPTH), *b = build(rb, DEPTH);
            dyn_prng_t prng;
            dyn_prng_seed(&prng, 200 + seed);
            diverge(rb, b, N, k, &prng, touched);
            exchange(a, b, &res);
            assert_true(res.leaves > 0 && res.leaves <= k);
            assert_int_equal(res.levels, DEPTH + 1);
            /* Each differing node above the leaves costs its two children, at most. */
            assert_true(res.compared <= ((size_t)2 << DEPTH) - 1);
            cmin = res.compared < cmin ? res.compared : cmin;
            cmax = res.compared > cmax ? res.compared : cmax;
            csum += res.compared;
            lsum += res.leaves;
            dyn_merkle_destroy(a);
            dyn_merkle_destroy(b);
            free(ra);
            free(rb);
        }
        printf("merkle exchange: %d keys, depth %d (%d leaves), %zu%% divergent (%zu keys), "
               "%d seeds: %.1f leaves differ; node hashes compared mean %.1f, min %zu, max %zu "
               "over %d levels (whole tree %d, leaves alone %d)\n",
               N, DEPTH, 1 << DEPTH, percents[p], k, SEEDS, (double)lsum / SEEDS,
               (double)csum / SEEDS, cmin, cmax, DEPTH + 1, (2 << DEPTH) - 1, 1 << DEPTH);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_bounds),
        cmocka_unit_test(test_empty_root_is_zero),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_pinned),
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_delete_restores_root),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_lazy_matches_fresh),
        cmocka_unit_test(test_position_matters),
        cmocka_unit_test(test_partition_keys_spread),
        cmocka_unit_test(test_one_change_found),
        cmocka_unit_test(test_random_divergence_found),
        cmocka_unit_test(test_peer_input_checked),
        cmocka_unit_test(test_memory_bytes),
        cmocka_unit_test(test_prefetch_is_inert),
        cmocka_unit_test(test_exchange_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
