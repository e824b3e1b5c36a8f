/*
 * ring.h: consistent hashing with virtual nodes and preference lists (Dynamo paper 4.2, 4.3, 6.2).
 *
 * Keys hash to a 64-bit position (XXH3, fixed seed). The three partitioning strategies of the
 * paper's section 6.2 are all reduced to one sorted table of tokens:
 *   S1  T random tokens per node; a key belongs to the first token clockwise of its hash.
 *   S2  T random tokens per node plus Q equal partitions; a key is placed by the *end* of its
 *       partition, so every key of a partition shares one preference list.
 *   S3  Q equal partitions, Q/S per node (the default); each partition's token sits at its end.
 * The preference list of a key is the first N *distinct physical* nodes met walking clockwise
 * from its token; the extended list continues the walk over every other node, in order, and is
 * where sloppy-quorum fallbacks come from. Every node that builds a ring from the same config and
 * member list gets the identical ring: all choices are drawn from config.seed.
 *
 * Ownership: a ring is immutable after dyn_ring_create(); it may be shared by all nodes of a
 * simulated cluster. The caller frees it with dyn_ring_destroy().
 */
#ifndef DYN_RING_H
#define DYN_RING_H

#include <stddef.h>
#include <stdint.h>

typedef enum dyn_strategy {
    DYN_STRATEGY_S1 = 1,
    DYN_STRATEGY_S2 = 2,
    DYN_STRATEGY_S3 = 3,
} dyn_strategy_t;

typedef struct dyn_ring_config {
    dyn_strategy_t strategy;
    uint32_t tokens_per_node; /* T for S1 and S2; ignored by S3 */
    uint32_t partitions;      /* Q for S2 and S3, >= node count for S3; ignored by S1 */
    uint64_t seed;            /* random tokens (S1, S2) and partition assignment (S3) */
} dyn_ring_config_t;

typedef struct dyn_ring dyn_ring_t;

#define DYN_RING_NODES_MAX 65536u
#define DYN_RING_TOKENS_MAX (1u << 24)

/* Hash of a key onto the ring. Stable across builds and machines. */
uint64_t dyn_ring_hash(const void *key, size_t length);

/*
 * Build a ring over `count` distinct node ids (any order; the ring sorts them). Returns DYN_OK,
 * DYN_EINVAL (no nodes, duplicate ids, id 0, Q < count for S3, zero tokens or partitions, totals
 * over the bounds above), or DYN_ENOMEM.
 */
int dyn_ring_create(dyn_ring_t **out, const dyn_ring_config_t *config, const uint32_t *node_ids,
                    size_t count);
void dyn_ring_destroy(dyn_ring_t *ring);

/*
 * An S3 ring from an explicit partition table: owners[i] is the node id owning partition i (of
 * config->partitions); the members are the distinct ids in it. This is how a ring follows a
 * membership change (claim.h computes the new table). DYN_EINVAL for another strategy or an id 0.
 */
int dyn_ring_create_s3_table(dyn_ring_t **out, const dyn_ring_config_t *config,
                             const uint32_t *owners);
/* The partition table of an S3 ring into owners[] (partitions entries); DYN_EINVAL otherwise. */
int dyn_ring_s3_table(const dyn_ring_t *ring, uint32_t *owners);

size_t dyn_ring_node_count(const dyn_ring_t *ring);
size_t dyn_ring_token_count(const dyn_ring_t *ring);
const dyn_ring_config_t *dyn_ring_config(const dyn_ring_t *ring);

/*
 * Write the first min(max, node count) distinct nodes of the key's walk into out[] and return how
 * many were written. out[0..N-1] is the preference list for replication factor N; the rest is the
 * extended list in fallback order. O(max) amortised.
 */
size_t dyn_ring_preference_list(const dyn_ring_t *ring, uint64_t key_hash, uint32_t *out,
                                size_t max);

/*
 * The index of the key range the hash falls in: the partition for S2/S3, the token range for S1.
 * Keys with the same range index have the same preference list. Range i spans
 * (range_start(i), range_end(i)] on the ring, wrapping at 2^64.
 */
uint32_t dyn_ring_range_of(const dyn_ring_t *ring, uint64_t key_hash);
size_t dyn_ring_range_count(const dyn_ring_t *ring);
/* The preference list shared by every key of range `range` (< range count), as above. */
size_t dyn_ring_range_preference_list(const dyn_ring_t *ring, uint32_t range, uint32_t *out,
                                      size_t max);

/* True if node is among the first n nodes of the key's preference list. */
int dyn_ring_is_replica(const dyn_ring_t *ring, uint64_t key_hash, uint32_t node, size_t n);

/*
 * The fraction of the hash space for which `node` is among the first n replicas, in [0, 1];
 * the sum over all nodes is n (for n <= node count). Used for load and balance figures.
 */
double dyn_ring_ownership(const dyn_ring_t *ring, uint32_t node, size_t n);

#endif
