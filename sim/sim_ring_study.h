/*
 * sim_ring_study.h: load balance and membership size of a partitioning strategy (paper 6.2).
 *
 * The paper compares its three strategies by load-balancing efficiency (the mean load of a node
 * over the load of the most loaded one) against the size of the membership information each
 * node keeps. This builds one ring of `nodes` nodes for a strategy and measures both without a
 * cluster: a key's load falls on each of its N replicas, keys weighted by Zipf popularity
 * (s = 0: all alike), and the membership information is what a node must hold to place every
 * key: the tokens (S1, S2: position and owner, 12 bytes each) or the partition table (S3: the
 * owner of each of Q partitions, 4 bytes each).
 *
 * Ownership: plain values in and out; nothing is kept between calls.
 */
#ifndef SIM_RING_STUDY_H
#define SIM_RING_STUDY_H

#include <stdint.h>

#include "core/ring.h"

typedef struct sim_ring_study_config {
    uint32_t nodes;
    uint32_t n;              /* replicas per key */
    dyn_ring_config_t ring;  /* strategy, tokens per node, partitions, seed */
    uint32_t keys;           /* keys placed, named k1..kK */
    double zipf_s;           /* popularity exponent; 0 for uniform */
} sim_ring_study_config_t;

typedef struct sim_ring_study_result {
    double efficiency;        /* mean node load / max node load, in (0, 1] */
    double max_share;         /* the most loaded node's share of all replica load */
    uint64_t metadata_entries; /* tokens (S1, S2) or partitions (S3) */
    uint64_t metadata_bytes;
} sim_ring_study_result_t;

/* 0, or a dyn status (bad config, no memory) with nothing written to *out. */
int sim_ring_study(const sim_ring_study_config_t *config, sim_ring_study_result_t *out);

#endif
