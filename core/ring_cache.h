/*
 * ring_cache.h: rings built from partition tables, shared by every holder of the same table.
 *
 * When the membership view brings a new partition table (membership.h), a node needs the ring
 * built from it. A ring of 4,096 partitions is about 330 KB, so the thousand nodes of a simulated
 * cluster must not each build their own: they acquire it from one cache, which builds a table's
 * ring once and frees it when the last holder releases it. A real node has its own cache.
 *
 * Ownership: the caller owns the cache (dyn_ring_cache_destroy() once every ring acquired from it
 * is released). A ring acquired is borrowed until released, and is immutable like any ring.
 */
#ifndef DYN_RING_CACHE_H
#define DYN_RING_CACHE_H

#include <stdint.h>

#include "core/ring.h"

typedef struct dyn_ring_cache dyn_ring_cache_t;

dyn_ring_cache_t *dyn_ring_cache_create(void);
void dyn_ring_cache_destroy(dyn_ring_cache_t *cache);

/*
 * The S3 ring of `config` over the partition table owners[config->partitions], built or shared.
 * Returns DYN_OK with *out set, DYN_EINVAL (as dyn_ring_create_s3_table), or DYN_ENOMEM.
 */
int dyn_ring_cache_acquire(dyn_ring_cache_t *cache, const dyn_ring_config_t *config,
                           const uint32_t *owners, const dyn_ring_t **out);
void dyn_ring_cache_release(dyn_ring_cache_t *cache, const dyn_ring_t *ring);

/* Distinct rings held now (for memory figures and tests). */
uint32_t dyn_ring_cache_count(const dyn_ring_cache_t *cache);

#endif
