/*
 * prng.h: the per-node pseudo-random generator (xoshiro256**) and seed derivation (splitmix64).
 *
 * core/ never calls rand(): every node and client owns one dyn_prng_t, seeded by its host. The
 * simulator derives every stream from the run seed with dyn_seed_derive(), so adding a draw in one
 * stream never shifts the numbers another stream sees. The algorithm is fixed: changing it changes
 * every digest.
 */
#ifndef DYN_PRNG_H
#define DYN_PRNG_H

#include <stdint.h>

typedef struct dyn_prng {
    uint64_t s[4];
} dyn_prng_t;

/* splitmix64 of (master, stream): independent sub-seeds for named streams. */
uint64_t dyn_seed_derive(uint64_t master, uint64_t stream);

void dyn_prng_seed(dyn_prng_t *prng, uint64_t seed);
uint64_t dyn_prng_u64(dyn_prng_t *prng);
/* Uniform in [0, bound); bound must be > 0. Unbiased (Lemire's method). */
uint64_t dyn_prng_below(dyn_prng_t *prng, uint64_t bound);
/* True with probability numerator/denominator, integers only so no libm is involved. */
int dyn_prng_chance(dyn_prng_t *prng, uint64_t numerator, uint64_t denominator);
/* Uniform double in [0, 1) with 53 random bits. */
double dyn_prng_unit(dyn_prng_t *prng);

#endif
