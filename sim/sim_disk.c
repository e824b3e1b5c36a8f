/*
 * sim_disk.c: dirty keys are remembered as (space, key) copies in insertion order; a flush copies
 * each from the cache to the platters (or deletes it there if the cache no longer has it), so the
 * platters always hold the state of some past moment of the cache, key by key in write order.
 */
#include "sim/sim_disk.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

typedef struct dirty {
    dyn_space_t space;
    uint32_t key_length;
    uint8_t *key;
} dirty_t;

struct sim_disk {
    sim_disk_config_t config;
    gsl_rng *rng;
    dyn_mem_store_t *cache, *platters;
    dirty_t *dirty;
    size_t dirty_count, dirty_capacity;
    dyn_time_us now_us, busy_until_us, last_flush_us;
    sim_disk_stats_t stats;
};

sim_disk_t *sim_disk_create(const sim_disk_config_t *config, gsl_rng *rng)
{
    sim_disk_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->rng = rng;
    d->config = *config;
    d->cache = dyn_mem_store_create();
    d->platters = dyn_mem_store_create();
    if (!d->cache || !d->platters || sim_dist_copy(&d->config.fsync_us, &config->fsync_us) != 0) {
        dyn_mem_store_destroy(d->cache);
        dyn_mem_store_destroy(d->platters);
        free(d);
        return NULL;
    }
    return d;
}

static void forget_dirty(sim_disk_t *d)
{
    for (size_t i = 0; i < d->dirty_count; i++)
        free(d->dirty[i].key);
    d->dirty_count = 0;
    d->stats.dirty_bytes = 0;
}

void sim_disk_destroy(sim_disk_t *d)
{
    if (!d)
        return;
    forget_dirty(d);
    free(d->dirty);
    sim_dist_free(&d->config.fsync_us);
    dyn_mem_store_destroy(d->cache);
    dyn_mem_store_destroy(d->platters);
    free(d);
}

dyn_mem_store_t *sim_disk_cache(sim_disk_t *d) { return d->cache; }
const sim_disk_stats_t *sim_disk_stats(const sim_disk_t *d) { return &d->stats; }
void sim_disk_set_now(sim_disk_t *d, dyn_time_us now_us) { d->now_us = now_us; }
dyn_time_us sim_disk_busy_until(const sim_disk_t *d) { return d->busy_until_us; }

static void flush(sim_disk_t *d)
{
    dyn_storage_t cache = dyn_mem_store_storage(d->cache);
    dyn_storage_t platters = dyn_mem_store_storage(d->platters);
    for (size_t i = 0; i < d->dirty_count; i++) {
        const dirty_t *k = &d->dirty[i];
        const uint8_t *blob;
        size_t length;
        if (cache.ops->get(cache.ctx, k->space, k->key, k->key_length, &blob, &length) == DYN_OK) {
            int rc = platters.ops->put(platters.ctx, k->space, k->key, k->key_length, blob, length);
            DYN_ASSERT(rc == DYN_OK); /* out of memory in the simulator */
        } else {
            platters.ops->del(platters.ctx, k->space, k->key, k->key_length);
        }
    }
    forget_dirty(d);
    d->stats.flushes++;
    d->last_flush_us = d->now_us;
}

static int mark_dirty(sim_disk_t *d, dyn_space_t space, const uint8_t *key, size_t key_length,
                      size_t blob_length)
{
    if (d->dirty_count == d->dirty_capacity) {
        size_t cap = d->dirty_capacity ? d->dirty_capacity * 2 : 64;
        dirty_t *dirty = realloc(d->dirty, cap * sizeof(*dirty));
        if (!dirty)
            return DYN_ENOMEM;
        d->dirty = dirty;
        d->dirty_capacity = cap;
    }
    uint8_t *copy = malloc(key_length ? key_length : 1);
    if (!copy)
        return DYN_ENOMEM;
    memcpy(copy, key, key_length);
    d->dirty[d->dirty_count++] =
        (dirty_t){.space = space, .key_length = (uint32_t)key_length, .key = copy};
    d->stats.dirty_bytes += key_length + blob_length;
    d->stats.writes++;
    if (d->config.flush_bytes && d->stats.dirty_bytes >= d->config.flush_bytes)
        flush(d);
    return DYN_OK;
}

static int disk_get(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                    const uint8_t **blob, size_t *blob_length)
{
    sim_disk_t *d = ctx;
    dyn_storage_t cache = dyn_mem_store_storage(d->cache);
    return cache.ops->get(cache.ctx, space, key, key_length, blob, blob_length);
}

static int disk_put(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                    const uint8_t *blob, size_t blob_length)
{
    sim_disk_t *d = ctx;
    dyn_storage_t cache = dyn_mem_store_storage(d->cache);
    int rc = cache.ops->put(cache.ctx, space, key, key_length, blob, blob_length);
    return rc == DYN_OK ? mark_dirty(d, space, key, key_length, blob_length) : rc;
}

static int disk_del(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length)
{
    sim_disk_t *d = ctx;
    dyn_storage_t cache = dyn_mem_store_storage(d->cache);
    int rc = cache.ops->del(cache.ctx, space, key, key_length);
    return rc == DYN_OK ? mark_dirty(d, space, key, key_length, 0) : rc;
}

static int disk_scan(void *ctx, dyn_space_t space, dyn_storage_scan_fn fn, void *arg)
{
    sim_disk_t *d = ctx;
    dyn_storage_t cache = dyn_mem_store_storage(d->cache);
    return cache.ops->scan(cache.ctx, space, fn, arg);
}

static int disk_sync(void *ctx)
{
    sim_disk_t *d = ctx;
    flush(d);
    d->stats.syncs++;
    /* Syncs queue behind one another: each starts when the disk is free. */
    dyn_time_us start = d->busy_until_us > d->now_us ? d->busy_until_us : d->now_us;
    double latency = sim_dist_sample(&d->config.fsync_us, d->rng);
    d->busy_until_us = start + (latency < 1 ? 1 : (dyn_time_us)latency);
    return DYN_OK;
}

static const dyn_storage_ops_t disk_ops = {
    .get = disk_get, .put = disk_put, .del = disk_del, .scan = disk_scan, .sync = disk_sync,
};

dyn_storage_t sim_disk_storage(sim_disk_t *d) { return (dyn_storage_t){.ops = &disk_ops, .ctx = d}; }

void sim_disk_tick(sim_disk_t *d, dyn_time_us now_us)
{
    d->now_us = now_us;
    if (d->config.flush_interval_us && d->dirty_count &&
        now_us - d->last_flush_us >= d->config.flush_interval_us)
        flush(d);
}

/* Copy every key of one store into another (both memory stores). */
static int copy_entry(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                      size_t blob_length)
{
    void **pair = arg;
    dyn_mem_store_t *to = pair[0];
    dyn_space_t space = *(dyn_space_t *)pair[1];
    dyn_storage_t st = dyn_mem_store_storage(to);
    int rc = st.ops->put(st.ctx, space, key, key_length, blob, blob_length);
    DYN_ASSERT(rc == DYN_OK); /* out of memory in the simulator */
    return 0;
}

void sim_disk_crash(sim_disk_t *d)
{
    d->stats.lost_writes += d->dirty_count;
    forget_dirty(d);
    dyn_mem_store_wipe(d->cache);
    dyn_storage_t platters = dyn_mem_store_storage(d->platters);
    for (int s = 0; s < DYN_SPACE_COUNT_; s++) {
        dyn_space_t space = (dyn_space_t)s;
        void *pair[2] = {d->cache, &space};
        platters.ops->scan(platters.ctx, space, copy_entry, pair);
    }
    d->busy_until_us = d->now_us;
}

void sim_disk_wipe(sim_disk_t *d)
{
    forget_dirty(d);
    dyn_mem_store_wipe(d->cache);
    dyn_mem_store_wipe(d->platters);
}
