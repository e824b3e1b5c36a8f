/*
 * merkle.c: the hash tree behind merkle.h.
 *
 * Nodes live in one array in heap order (node (l, i) at 2^l - 1 + i, children of p at 2p + 1 and
 * 2p + 2), so a path is index arithmetic and a level is a contiguous slice. Dirty marks are one
 * bit per interior node, kept under the invariant "a dirty node has a dirty parent": a clean node
 * therefore has only clean descendants and its cached hash is valid, marking can stop at the
 * first dirty ancestor, and a read recomputes exactly the dirty part below it.
 */
#include "core/merkle.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/status.h"

/* Fixed forever (see the header's note on stability); distinct so the three uses never mix. */
#define MERKLE_PLACE_SEED 0x6d6b6c2d706c6163ULL  /* "mkl-plac" */
#define MERKLE_KEY_SEED 0x6d6b6c2d6b657973ULL    /* "mkl-keys" */
#define MERKLE_DIGEST_SEED 0x6d6b6c2d64696773ULL /* "mkl-digs" */
#define MERKLE_NODE_SEED 0x6d6b6c2d6e6f6465ULL   /* "mkl-node" */

struct dyn_merkle {
    uint32_t depth;
    uint32_t dirty_words; /* one bit per interior node; words[0..dirty_words) */
    uint64_t *nodes;      /* into words[], after the dirty bits */
    /*
     * One allocation for header, dirty bits and nodes, aligned to a cache line: a write reads
     * the depth, sets dirty bits and adds to one leaf, and on a node holding hundreds of trees
     * each line is a miss. The header is kept to 16 bytes so that, up to depth 8 (255 dirty
     * bits), header and dirty bits share the first line and a write touches two lines, not three.
     */
    uint64_t words[];
};

#define MERKLE_LINE_BYTES 64u

DYN_STATIC_ASSERT(DYN_MERKLE_DEPTH_MAX <= 31, "leaf and node indices are uint32_t");

/* Explicit byte order: hashes cross the network between machines. */
static void put_le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t hash_pair(uint64_t a, uint64_t b, uint64_t seed)
{
    uint8_t buf[16];
    put_le64(buf, a);
    put_le64(buf + 8, b);
    return XXH3_64bits_withSeed(buf, sizeof buf, seed);
}

static uint64_t combine(uint64_t left, uint64_t right)
{
    if (left == 0 && right == 0)
        return 0;
    uint64_t h = hash_pair(left, right, MERKLE_NODE_SEED);
    return h != 0 ? h : 1;
}

static size_t leaf_first(const dyn_merkle_t *t) { return ((size_t)1 << t->depth) - 1; }
static size_t node_count(const dyn_merkle_t *t) { return ((size_t)1 << (t->depth + 1)) - 1; }

static int is_dirty(const dyn_merkle_t *t, size_t p)
{
    return (int)((t->words[p >> 6] >> (p & 63)) & 1u);
}

static void set_dirty(dyn_merkle_t *t, size_t p) { t->words[p >> 6] |= (uint64_t)1 << (p & 63); }

static void set_clean(dyn_merkle_t *t, size_t p)
{
    t->words[p >> 6] &= ~((uint64_t)1 << (p & 63));
}

/* Recursion depth is at most DYN_MERKLE_DEPTH_MAX. */
static uint64_t refresh(dyn_merkle_t *t, size_t p)
{
    if (p < leaf_first(t) && is_dirty(t, p)) {
        uint64_t left = refresh(t, 2 * p + 1);
        uint64_t right = refresh(t, 2 * p + 2);
        t->nodes[p] = combine(left, right);
        set_clean(t, p);
    }
    return t->nodes[p];
}

int dyn_merkle_create(dyn_merkle_t **out, unsigned depth)
{
    if (depth < 1 || depth > DYN_MERKLE_DEPTH_MAX)
        return DYN_EINVAL;
    size_t interior = ((size_t)1 << depth) - 1;
    size_t nodes = ((size_t)1 << (depth + 1)) - 1;
    size_t dirty_words = (interior + 63) / 64;
    size_t bytes = sizeof(dyn_merkle_t) + (dirty_words + nodes) * sizeof(uint64_t);
    bytes = (bytes + MERKLE_LINE_BYTES - 1) / MERKLE_LINE_BYTES * MERKLE_LINE_BYTES;
    dyn_merkle_t *t = aligned_alloc(MERKLE_LINE_BYTES, bytes); /* C11: size a multiple */
    if (t == NULL)
        return DYN_ENOMEM;
    memset(t, 0, bytes);
    t->depth = depth;
    t->dirty_words = (uint32_t)dirty_words;
    t->nodes = t->words + dirty_words;
    *out = t;
    return DYN_OK;
}

void dyn_merkle_destroy(dyn_merkle_t *tree)
{
    if (tree == NULL)
        return;
    free(tree);
}

void dyn_merkle_clear(dyn_merkle_t *tree)
{
    /* All zero is the empty tree, clean: every interior node of it is combine(0, 0) = 0. */
    memset(tree->nodes, 0, node_count(tree) * sizeof *tree->nodes);
    memset(tree->words, 0, tree->dirty_words * sizeof *tree->words);
}

unsigned dyn_merkle_depth(const dyn_merkle_t *tree) { return tree->depth; }

size_t dyn_merkle_memory_bytes(const dyn_merkle_t *tree)
{
    return sizeof *tree + node_count(tree) * sizeof *tree->nodes +
           tree->dirty_words * sizeof *tree->words;
}

uint64_t dyn_merkle_key_digest(const uint8_t *key, size_t key_length, uint64_t value_print)
{
    DYN_ASSERT(key != NULL || key_length == 0);
    /* Hashing (key hash, print) as one 16-byte input mixes the two non-linearly, so no two
     * (key, print) pairs collide by a relation between their parts. */
    uint64_t h = hash_pair(XXH3_64bits_withSeed(key, key_length, MERKLE_KEY_SEED), value_print,
                           MERKLE_DIGEST_SEED);
    return h != 0 ? h : 1;
}

static uint32_t leaf_at_depth(unsigned depth, uint64_t key_hash)
{
    uint8_t buf[8];
    put_le64(buf, key_hash);
    uint64_t mixed = XXH3_64bits_withSeed(buf, sizeof buf, MERKLE_PLACE_SEED);
    return (uint32_t)(mixed >> (64 - depth));
}

uint32_t dyn_merkle_leaf_of(const dyn_merkle_t *tree, uint64_t key_hash)
{
    return leaf_at_depth(tree->depth, key_hash);
}

void dyn_merkle_prefetch(const dyn_merkle_t *tree, unsigned depth, uint64_t key_hash)
{
#if defined(__GNUC__)
    if (depth < 1 || depth > DYN_MERKLE_DEPTH_MAX)
        return;
    size_t interior = ((size_t)1 << depth) - 1;
    size_t dirty_words = (interior + 63) / 64;
    __builtin_prefetch(tree, 1);
    __builtin_prefetch(tree->words + dirty_words + interior + leaf_at_depth(depth, key_hash), 1);
#else
    (void)tree, (void)depth, (void)key_hash;
#endif
}

void dyn_merkle_update(dyn_merkle_t *tree, uint64_t key_hash, uint64_t old_digest,
                       uint64_t new_digest)
{
    if (old_digest == new_digest)
        return;
    size_t p = leaf_first(tree) + dyn_merkle_leaf_of(tree, key_hash);
    tree->nodes[p] += new_digest - old_digest; /* mod 2^64 */
    while (p > 0) {
        p = (p - 1) / 2;
        if (is_dirty(tree, p))
            break; /* its ancestors are dirty already */
        set_dirty(tree, p);
    }
}

uint64_t dyn_merkle_hash(dyn_merkle_t *tree, unsigned level, uint32_t index)
{
    DYN_ASSERT(level <= tree->depth);
    DYN_ASSERT(index < ((uint64_t)1 << level));
    return refresh(tree, ((size_t)1 << level) - 1 + index);
}

uint64_t dyn_merkle_root(dyn_merkle_t *tree) { return refresh(tree, 0); }

/* A list of count node indices at `level` is acceptable from a peer. */
static int check_list(const dyn_merkle_t *t, unsigned level, const uint32_t *indices,
                      size_t count)
{
    if (level > t->depth)
        return DYN_EINVAL;
    uint64_t width = (uint64_t)1 << level;
    if (count > width)
        return DYN_EINVAL;
    for (size_t k = 0; k < count; k++)
        if (indices[k] >= width)
            return DYN_EINVAL;
    return DYN_OK;
}

int dyn_merkle_hashes(dyn_merkle_t *tree, unsigned level, const uint32_t *indices, size_t count,
                      uint64_t *out)
{
    int rc = check_list(tree, level, indices, count);
    if (rc != DYN_OK)
        return rc;
    for (size_t k = 0; k < count; k++)
        out[k] = dyn_merkle_hash(tree, level, indices[k]);
    return DYN_OK;
}

int dyn_merkle_compare(dyn_merkle_t *tree, unsigned level, const uint32_t *indices,
                       const uint64_t *remote, size_t count, uint32_t *differ)
{
    int rc = check_list(tree, level, indices, count);
    if (rc != DYN_OK)
        return rc;
    int written = 0; /* <= count <= 2^DYN_MERKLE_DEPTH_MAX */
    for (size_t k = 0; k < count; k++)
        if (dyn_merkle_hash(tree, level, indices[k]) != remote[k])
            differ[written++] = indices[k];
    return written;
}

int dyn_merkle_descend(const dyn_merkle_t *tree, unsigned level, const uint32_t *parents,
                       size_t count, uint32_t *children)
{
    if (level >= tree->depth)
        return DYN_EINVAL;
    int rc = check_list(tree, level, parents, count);
    if (rc != DYN_OK)
        return rc;
    for (size_t k = 0; k < count; k++) {
        children[2 * k] = 2 * parents[k];
        children[2 * k + 1] = 2 * parents[k] + 1;
    }
    return (int)(2 * count);
}
