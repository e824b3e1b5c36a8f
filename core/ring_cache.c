/*
 * ring_cache.c: a short list of (table, ring, holders); a cluster holds one or two tables at once
 * (the old and the new while a change spreads), so a linear search is all it needs.
 */
#include "core/ring_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/prng.h"
#include "core/status.h"

typedef struct cached {
    dyn_ring_config_t config;
    uint64_t hash;
    uint32_t *owners;     /* config.partitions entries: compared on a hash match */
    dyn_ring_t *ring;
    uint32_t holders;
} cached_t;

struct dyn_ring_cache {
    cached_t *items;
    uint32_t count, capacity;
};

dyn_ring_cache_t *dyn_ring_cache_create(void) { return calloc(1, sizeof(dyn_ring_cache_t)); }

void dyn_ring_cache_destroy(dyn_ring_cache_t *cache)
{
    if (!cache)
        return;
    for (uint32_t i = 0; i < cache->count; i++) {
        /* A ring still held would be freed under its holder. */
        DYN_ASSERT(cache->items[i].holders == 0);
    }
    free(cache->items);
    free(cache);
}

static uint64_t table_hash(const dyn_ring_config_t *config, const uint32_t *owners)
{
    uint64_t h = dyn_seed_derive(config->seed, config->partitions);
    for (uint32_t i = 0; i < config->partitions; i++)
        h = dyn_seed_derive(h, owners[i]);
    return h;
}

int dyn_ring_cache_acquire(dyn_ring_cache_t *cache, const dyn_ring_config_t *config,
                           const uint32_t *owners, const dyn_ring_t **out)
{
    if (config->strategy != DYN_STRATEGY_S3 || config->partitions == 0)
        return DYN_EINVAL;
    uint64_t h = table_hash(config, owners);
    for (uint32_t i = 0; i < cache->count; i++) {
        cached_t *c = &cache->items[i];
        if (c->hash == h && c->config.partitions == config->partitions &&
            c->config.seed == config->seed &&
            memcmp(c->owners, owners, config->partitions * sizeof(*owners)) == 0) {
            c->holders++;
            *out = c->ring;
            return DYN_OK;
        }
    }
    if (cache->count == cache->capacity) {
        uint32_t cap = cache->capacity ? cache->capacity * 2 : 4;
        cached_t *grown = realloc(cache->items, cap * sizeof(*grown));
        if (!grown)
            return DYN_ENOMEM;
        cache->items = grown;
        cache->capacity = cap;
    }
    cached_t c = {.hash = h, .holders = 1};
    c.config = *config;
    c.owners = malloc(config->partitions * sizeof(*owners));
    if (!c.owners)
        return DYN_ENOMEM;
    memcpy(c.owners, owners, config->partitions * sizeof(*owners));
    int rc = dyn_ring_create_s3_table(&c.ring, config, owners);
    if (rc != DYN_OK) {
        free(c.owners);
        return rc;
    }
    cache->items[cache->count++] = c;
    *out = c.ring;
    return DYN_OK;
}

void dyn_ring_cache_release(dyn_ring_cache_t *cache, const dyn_ring_t *ring)
{
    for (uint32_t i = 0; i < cache->count; i++) {
        cached_t *c = &cache->items[i];
        if (c->ring != ring)
            continue;
        DYN_ASSERT(c->holders > 0);
        if (--c->holders == 0) {
            dyn_ring_destroy(c->ring);
            free(c->owners);
            cache->items[i] = cache->items[--cache->count];
        }
        return;
    }
    DYN_ASSERT(!"a ring released to a cache that did not give it");
}

uint32_t dyn_ring_cache_count(const dyn_ring_cache_t *cache) { return cache->count; }
