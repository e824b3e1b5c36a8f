/*
 * ring.c: the token table behind ring.h.
 *
 * Every strategy is built into one sorted table of (position, node index) plus a list of key
 * ranges; each range's first min(nodes, 16) distinct nodes are precomputed at create time, so a
 * lookup is one range computation (a bucketed search for S1, one multiply for S2/S3) and a copy.
 * Longer walks go over the table with a stack bitmap. Node ids are sorted first and tokens refer
 * to them by index, so index order is id order and tie-breaks are by id.
 */
#include "core/ring.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/prng.h"
#include "core/status.h"

/* Fixed forever: changing it moves every key ("dynamo-c" in ASCII). */
#define RING_HASH_SEED 0x64796e616d6f2d63ULL
/* Covers N and the usual fallbacks while keeping the table at 64 bytes per range. */
#define RING_LIST_WIDTH 16u
/* S3: consecutive partitions within this distance get distinct nodes (kept below S). */
#define RING_S3_SPREAD 4u
/* Derived stream for the S3 shuffle (S1 and S2 derive one stream per node id instead). */
#define RING_S3_STREAM 0x5333u

typedef unsigned __int128 u128;

struct dyn_ring {
    dyn_ring_config_t config;
    size_t node_count;
    uint32_t *ids; /* sorted ascending */
    size_t token_count;
    uint64_t *token_pos;   /* sorted ascending; ties ordered by node index */
    uint32_t *token_node;  /* node index of each token */
    size_t range_count;    /* tokens for S1, partitions for S2/S3 */
    uint32_t *range_token; /* S2/S3: first token of each partition's walk; NULL for S1 */
    uint32_t *bucket;      /* S1: first token at or after each 2^bucket_shift slice, plus end */
    unsigned bucket_shift;
    size_t width;          /* min(node_count, RING_LIST_WIDTH) */
    uint32_t *lists;       /* range_count * width node ids */
};

struct token {
    uint64_t pos;
    uint32_t node;
};

uint64_t dyn_ring_hash(const void *key, size_t length)
{
    return XXH3_64bits_withSeed(key, length, RING_HASH_SEED);
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int compare_token(const void *a, const void *b)
{
    const struct token *x = a, *y = b;
    if (x->pos != y->pos)
        return (x->pos > y->pos) - (x->pos < y->pos);
    return (x->node > y->node) - (x->node < y->node);
}

/* End of partition i (exclusive start of partition i+1): floor(i * 2^64 / Q), 2^64 as 0. */
static uint64_t partition_boundary(uint64_t i, uint64_t q)
{
    return (uint64_t)(((u128)i << 64) / q);
}

/* First index in token_pos[lo, hi) at or after pos, or hi. */
static size_t search(const uint64_t *token_pos, size_t lo, size_t hi, uint64_t pos)
{
    const uint64_t *base = token_pos + lo;
    size_t n = hi - lo;
    if (n == 0)
        return hi;
    /* Branch-free halving: the table is read-only and hot, mispredictions dominate otherwise. */
    while (n > 1) {
        size_t half = n / 2;
        base = (base[half - 1] < pos) ? base + half : base;
        n -= half;
    }
    return (size_t)(base - token_pos) + (*base < pos);
}

/* First token at or after pos, wrapping past the top of the ring to token 0. */
static size_t lower_bound(const dyn_ring_t *ring, uint64_t pos)
{
    size_t index;
    if (ring->bucket) {
        /* About one token per slice, so S1 lookups stay O(1) on large rings. */
        size_t b = (size_t)(pos >> ring->bucket_shift);
        index = search(ring->token_pos, ring->bucket[b], ring->bucket[b + 1], pos);
    } else {
        index = search(ring->token_pos, 0, ring->token_count, pos);
    }
    return index == ring->token_count ? 0 : index;
}

static int build_buckets(dyn_ring_t *ring)
{
    unsigned bits = 1;
    while (bits < 24 && ((size_t)1 << bits) < ring->token_count)
        bits++;
    size_t count = (size_t)1 << bits;
    ring->bucket = malloc((count + 1) * sizeof *ring->bucket);
    if (!ring->bucket)
        return DYN_ENOMEM;
    ring->bucket_shift = 64 - bits;
    size_t t = 0;
    for (size_t b = 0; b < count; b++) {
        uint64_t start = (uint64_t)b << ring->bucket_shift;
        while (t < ring->token_count && ring->token_pos[t] < start)
            t++;
        ring->bucket[b] = (uint32_t)t;
    }
    ring->bucket[count] = (uint32_t)ring->token_count;
    return DYN_OK;
}

static size_t partition_of(uint64_t q, uint64_t hash)
{
    /* hash 0 is 2^64 and belongs to the last partition, which spans (b_{Q-1}, 2^64]. */
    u128 h = hash ? (u128)hash : ((u128)1 << 64);
    return (size_t)((h * q - 1) >> 64);
}

static size_t range_start_token(const dyn_ring_t *ring, size_t range)
{
    return ring->range_token ? ring->range_token[range] : range;
}

static size_t node_index(const dyn_ring_t *ring, uint32_t id)
{
    size_t lo = 0, hi = ring->node_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < ring->node_count && ring->ids[lo] == id) ? lo : SIZE_MAX;
}

/*
 * The distinct-node walk from token `start`: visits nodes until `max` distinct ones are met or
 * `stop` (a node index, SIZE_MAX for none) is. Writes node *indices* to out[] unless out is NULL
 * and returns how many were met. Every node owns a token, so one lap finds max <= node_count.
 */
static size_t walk(const dyn_ring_t *ring, size_t start, uint32_t *out, size_t max, size_t stop,
                   int *stopped)
{
    uint64_t seen[DYN_RING_NODES_MAX / 64];
    memset(seen, 0, (ring->node_count + 63) / 64 * sizeof seen[0]);
    DYN_ASSERT(max <= ring->node_count);
    size_t count = 0, t = start;
    *stopped = 0;
    for (size_t steps = 0; count < max; steps++) {
        DYN_ASSERT(steps < ring->token_count);
        uint32_t node = ring->token_node[t];
        uint64_t bit = 1ULL << (node % 64);
        if (!(seen[node / 64] & bit)) {
            seen[node / 64] |= bit;
            if (out)
                out[count] = node;
            count++;
            if (node == stop) {
                *stopped = 1;
                break;
            }
        }
        if (++t == ring->token_count)
            t = 0;
    }
    return count;
}

/* Precomputation walk: up to RING_LIST_WIDTH nodes, so a linear scan beats clearing a bitmap. */
static void fill_list(const dyn_ring_t *ring, size_t start, uint32_t *out)
{
    size_t count = 0, t = start;
    for (size_t steps = 0; count < ring->width; steps++) {
        DYN_ASSERT(steps < ring->token_count);
        uint32_t id = ring->ids[ring->token_node[t]];
        size_t k = 0;
        while (k < count && out[k] != id)
            k++;
        if (k == count)
            out[count++] = id;
        if (++t == ring->token_count)
            t = 0;
    }
}

/*
 * S3 owners: one seeded permutation of the nodes per round of S partitions, so every node owns
 * floor(Q/S) or ceil(Q/S) partitions (the last, partial round picks the ceil ones at random) and
 * successors differ from round to round, spreading a failed node's load. At each round boundary,
 * nodes are swapped so that partitions closer than RING_S3_SPREAD have distinct owners, which
 * makes every node a replica of exactly N partitions per owned one for N <= RING_S3_SPREAD. The
 * seam between the last round and the first is left unchecked.
 */
static int assign_s3(const dyn_ring_t *ring, uint32_t *owner)
{
    size_t s = ring->node_count, q = ring->config.partitions;
    size_t spread = s - 1 < RING_S3_SPREAD ? s - 1 : RING_S3_SPREAD;
    uint32_t *perm = malloc(s * sizeof *perm);
    if (!perm)
        return DYN_ENOMEM;
    dyn_prng_t prng;
    dyn_prng_seed(&prng, dyn_seed_derive(ring->config.seed, RING_S3_STREAM));
    for (size_t base = 0; base < q; base += s) {
        size_t len = q - base < s ? q - base : s;
        for (size_t i = 0; i < s; i++)
            perm[i] = (uint32_t)i;
        for (size_t i = s - 1; i > 0; i--) {
            size_t j = (size_t)dyn_prng_below(&prng, i + 1);
            uint32_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        for (size_t j = 0; base > 0 && j + 1 < spread; j++) {
            /* Positions base-1 .. base-tail are within `spread` of position base+j. */
            size_t tail = spread - 1 - j;
            for (size_t k = j; k < s; k++) {
                int clash = 0;
                for (size_t p = base - tail; p < base; p++)
                    clash |= owner[p] == perm[k];
                if (!clash) {
                    uint32_t tmp = perm[j];
                    perm[j] = perm[k];
                    perm[k] = tmp;
                    break;
                }
                /* Exists because at most `tail` < s - j of perm[j..] can clash. */
                DYN_ASSERT(k + 1 < s);
            }
        }
        memcpy(owner + base, perm, len * sizeof *owner);
    }
    free(perm);
    return DYN_OK;
}

static int validate(const dyn_ring_config_t *config, const uint32_t *node_ids, size_t count)
{
    if (!config || !node_ids || count == 0 || count > DYN_RING_NODES_MAX)
        return DYN_EINVAL;
    uint64_t t = config->tokens_per_node, q = config->partitions;
    switch (config->strategy) {
    case DYN_STRATEGY_S1:
        if (t == 0 || t * count > DYN_RING_TOKENS_MAX)
            return DYN_EINVAL;
        break;
    case DYN_STRATEGY_S2:
        if (t == 0 || t * count > DYN_RING_TOKENS_MAX || q == 0 || q > DYN_RING_TOKENS_MAX)
            return DYN_EINVAL;
        break;
    case DYN_STRATEGY_S3:
        if (q < count || q > DYN_RING_TOKENS_MAX)
            return DYN_EINVAL;
        break;
    default:
        return DYN_EINVAL;
    }
    for (size_t i = 0; i < count; i++)
        if (node_ids[i] == 0)
            return DYN_EINVAL;
    return DYN_OK;
}

/* Tokens of the ring; for S3, `given` (node indexes, one per partition) or a seeded table. */
static int build_tokens(dyn_ring_t *ring, const uint32_t *given)
{
    const dyn_ring_config_t *c = &ring->config;
    size_t n = c->strategy == DYN_STRATEGY_S3 ? c->partitions
                                               : (size_t)c->tokens_per_node * ring->node_count;
    struct token *tokens = malloc(n * sizeof *tokens);
    if (!tokens)
        return DYN_ENOMEM;
    if (c->strategy == DYN_STRATEGY_S3) {
        uint32_t *owner = malloc(n * sizeof *owner);
        if (owner && given)
            memcpy(owner, given, n * sizeof *owner);
        if (!owner || (!given && assign_s3(ring, owner) != DYN_OK)) {
            free(owner);
            free(tokens);
            return DYN_ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
            tokens[i] = (struct token){ partition_boundary(i + 1, n), owner[i] };
        free(owner);
    } else {
        /* One stream per node id: a node's tokens do not move when other nodes join or leave. */
        size_t k = 0;
        for (size_t node = 0; node < ring->node_count; node++) {
            dyn_prng_t prng;
            dyn_prng_seed(&prng, dyn_seed_derive(c->seed, ring->ids[node]));
            for (uint32_t i = 0; i < c->tokens_per_node; i++)
                tokens[k++] = (struct token){ dyn_prng_u64(&prng), (uint32_t)node };
        }
    }
    qsort(tokens, n, sizeof *tokens, compare_token);
    ring->token_pos = malloc(n * sizeof *ring->token_pos);
    ring->token_node = malloc(n * sizeof *ring->token_node);
    if (!ring->token_pos || !ring->token_node) {
        free(tokens);
        return DYN_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        ring->token_pos[i] = tokens[i].pos;
        ring->token_node[i] = tokens[i].node;
    }
    ring->token_count = n;
    free(tokens);
    return DYN_OK;
}

static int build_ranges(dyn_ring_t *ring)
{
    const dyn_ring_config_t *c = &ring->config;
    if (c->strategy == DYN_STRATEGY_S1) {
        ring->range_count = ring->token_count;
        if (build_buckets(ring) != DYN_OK)
            return DYN_ENOMEM;
    } else {
        ring->range_count = c->partitions;
        ring->range_token = malloc(ring->range_count * sizeof *ring->range_token);
        if (!ring->range_token)
            return DYN_ENOMEM;
        /* A partition is looked up by its end, so all its keys share one walk. */
        for (size_t i = 0; i < ring->range_count; i++)
            ring->range_token[i] =
                (uint32_t)lower_bound(ring, partition_boundary(i + 1, ring->range_count));
    }
    ring->width = ring->node_count < RING_LIST_WIDTH ? ring->node_count : RING_LIST_WIDTH;
    ring->lists = malloc(ring->range_count * ring->width * sizeof *ring->lists);
    uint32_t *stamp = calloc(ring->node_count, sizeof *stamp);
    if (!ring->lists || !stamp) {
        free(stamp);
        return DYN_ENOMEM;
    }
    for (size_t r = 0; r < ring->range_count; r++) {
        uint32_t *list = ring->lists + r * ring->width;
        fill_list(ring, range_start_token(ring, r), list);
        /* Independent check of the table every lookup trusts: members, pairwise distinct. */
        for (size_t k = 0; k < ring->width; k++) {
            size_t index = node_index(ring, list[k]);
            DYN_ASSERT(index != SIZE_MAX && stamp[index] != (uint32_t)r + 1);
            stamp[index] = (uint32_t)r + 1;
        }
    }
    free(stamp);
    return DYN_OK;
}

int dyn_ring_create(dyn_ring_t **out, const dyn_ring_config_t *config, const uint32_t *node_ids,
                    size_t count)
{
    if (!out)
        return DYN_EINVAL;
    *out = NULL;
    int rc = validate(config, node_ids, count);
    if (rc != DYN_OK)
        return rc;
    dyn_ring_t *ring = calloc(1, sizeof *ring);
    if (!ring)
        return DYN_ENOMEM;
    ring->config = *config;
    ring->node_count = count;
    ring->ids = malloc(count * sizeof *ring->ids);
    if (!ring->ids) {
        dyn_ring_destroy(ring);
        return DYN_ENOMEM;
    }
    memcpy(ring->ids, node_ids, count * sizeof *ring->ids);
    qsort(ring->ids, count, sizeof *ring->ids, compare_u32);
    for (size_t i = 1; i < count; i++) {
        if (ring->ids[i] == ring->ids[i - 1]) {
            dyn_ring_destroy(ring);
            return DYN_EINVAL;
        }
    }
    rc = build_tokens(ring, NULL);
    if (rc == DYN_OK)
        rc = build_ranges(ring);
    if (rc != DYN_OK) {
        dyn_ring_destroy(ring);
        return rc;
    }
    *out = ring;
    return DYN_OK;
}

int dyn_ring_create_s3_table(dyn_ring_t **out, const dyn_ring_config_t *config,
                             const uint32_t *owners)
{
    if (!out || !config || !owners || config->strategy != DYN_STRATEGY_S3 ||
        config->partitions == 0 || config->partitions > DYN_RING_TOKENS_MAX)
        return DYN_EINVAL;
    *out = NULL;
    size_t q = config->partitions;
    uint32_t *ids = malloc(q * sizeof *ids);
    uint32_t *index = malloc(q * sizeof *index);
    if (!ids || !index) {
        free(ids);
        free(index);
        return DYN_ENOMEM;
    }
    memcpy(ids, owners, q * sizeof *ids);
    qsort(ids, q, sizeof *ids, compare_u32);
    size_t count = 0;
    for (size_t i = 0; i < q; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            ids[count++] = ids[i];
    int rc = count && ids[0] != 0 && count <= DYN_RING_NODES_MAX ? DYN_OK : DYN_EINVAL;
    dyn_ring_t *ring = rc == DYN_OK ? calloc(1, sizeof *ring) : NULL;
    if (rc == DYN_OK && !ring)
        rc = DYN_ENOMEM;
    if (rc == DYN_OK) {
        ring->config = *config;
        ring->node_count = count;
        ring->ids = ids;
        ids = NULL;
        for (size_t i = 0; i < q; i++)
            index[i] = (uint32_t)node_index(ring, owners[i]);
        rc = build_tokens(ring, index);
        if (rc == DYN_OK)
            rc = build_ranges(ring);
    }
    free(ids);
    free(index);
    if (rc != DYN_OK) {
        dyn_ring_destroy(ring);
        return rc;
    }
    *out = ring;
    return DYN_OK;
}

int dyn_ring_s3_table(const dyn_ring_t *ring, uint32_t *owners)
{
    if (ring->config.strategy != DYN_STRATEGY_S3)
        return DYN_EINVAL;
    /* Partition i's token sits at its end; range_token[i] is that token's index. */
    DYN_ASSERT(ring->token_count == ring->config.partitions);
    for (size_t i = 0; i < ring->range_count; i++)
        owners[i] = ring->ids[ring->token_node[ring->range_token[i]]];
    return DYN_OK;
}

void dyn_ring_destroy(dyn_ring_t *ring)
{
    if (!ring)
        return;
    free(ring->lists);
    free(ring->range_token);
    free(ring->bucket);
    free(ring->token_node);
    free(ring->token_pos);
    free(ring->ids);
    free(ring);
}

size_t dyn_ring_node_count(const dyn_ring_t *ring) { return ring->node_count; }

size_t dyn_ring_token_count(const dyn_ring_t *ring) { return ring->token_count; }

const dyn_ring_config_t *dyn_ring_config(const dyn_ring_t *ring) { return &ring->config; }

size_t dyn_ring_range_count(const dyn_ring_t *ring) { return ring->range_count; }

uint32_t dyn_ring_range_of(const dyn_ring_t *ring, uint64_t key_hash)
{
    if (ring->config.strategy == DYN_STRATEGY_S1)
        return (uint32_t)lower_bound(ring, key_hash);
    return (uint32_t)partition_of(ring->range_count, key_hash);
}

size_t dyn_ring_preference_list(const dyn_ring_t *ring, uint64_t key_hash, uint32_t *out,
                                size_t max)
{
    return dyn_ring_range_preference_list(ring, dyn_ring_range_of(ring, key_hash), out, max);
}

size_t dyn_ring_range_preference_list(const dyn_ring_t *ring, uint32_t range, uint32_t *out,
                                      size_t max)
{
    DYN_ASSERT(out || max == 0);
    DYN_ASSERT(range < ring->range_count);
    if (max <= ring->width) {
        memcpy(out, ring->lists + range * ring->width, max * sizeof *out);
        return max;
    }
    if (max > ring->node_count)
        max = ring->node_count;
    int stopped;
    size_t count = walk(ring, range_start_token(ring, range), out, max, SIZE_MAX, &stopped);
    DYN_ASSERT(count == max);
    for (size_t i = 0; i < count; i++)
        out[i] = ring->ids[out[i]];
    return count;
}

/* Whether node (an index) is among the first n of the walk for `range`. */
static int range_has(const dyn_ring_t *ring, size_t range, size_t index, size_t n)
{
    if (n >= ring->node_count)
        return 1;
    if (n <= ring->width) {
        const uint32_t *list = ring->lists + range * ring->width;
        uint32_t id = ring->ids[index];
        for (size_t k = 0; k < n; k++)
            if (list[k] == id)
                return 1;
        return 0;
    }
    int stopped;
    walk(ring, range_start_token(ring, range), NULL, n, index, &stopped);
    return stopped;
}

int dyn_ring_is_replica(const dyn_ring_t *ring, uint64_t key_hash, uint32_t node, size_t n)
{
    if (n == 0)
        return 0;
    if (n <= ring->width) {
        size_t range = dyn_ring_range_of(ring, key_hash);
        const uint32_t *list = ring->lists + range * ring->width;
        for (size_t k = 0; k < n; k++)
            if (list[k] == node)
                return 1;
        return 0;
    }
    size_t index = node_index(ring, node);
    return index != SIZE_MAX && range_has(ring, dyn_ring_range_of(ring, key_hash), index, n);
}

/* Width of range r in hash units; 2^64 when one range covers the whole ring. */
static u128 range_width(const dyn_ring_t *ring, size_t r)
{
    if (ring->config.strategy != DYN_STRATEGY_S1) {
        u128 q = ring->range_count;
        return (((u128)(r + 1) << 64) / q) - (((u128)r << 64) / q);
    }
    const uint64_t *pos = ring->token_pos;
    size_t last = ring->token_count - 1;
    if (r > 0)
        return pos[r] - pos[r - 1];
    if (pos[0] == pos[last]) /* every token at one position: range 0 is the whole ring */
        return (u128)1 << 64;
    return (uint64_t)(pos[0] - pos[last]);
}

double dyn_ring_ownership(const dyn_ring_t *ring, uint32_t node, size_t n)
{
    size_t index = node_index(ring, node);
    if (index == SIZE_MAX || n == 0)
        return 0.0;
    if (n >= ring->node_count)
        return 1.0;
    u128 owned = 0;
    for (size_t r = 0; r < ring->range_count; r++)
        if (range_has(ring, r, index, n))
            owned += range_width(ring, r);
    return (double)((long double)owned / 0x1p64L);
}
