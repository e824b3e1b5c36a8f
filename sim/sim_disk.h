/*
 * sim_disk.h: a simulated disk behind the storage interface: writes are durable only once synced.
 *
 * Two memory stores: the page cache, which every read sees and every write changes at once, and
 * the platters, what a crash leaves. A write marks its key dirty; the disk flushes dirty keys to
 * the platters when the dirty bytes pass flush_bytes, every flush_interval_us (the host calls
 * sim_disk_tick), and on sync. A sync also costs an fsync: the disk is busy for a latency drawn
 * from fsync_us, and the simulator holds the node's outgoing datagrams until it is done, so a
 * write acknowledged after a sync is acknowledged no earlier than the fsync completes. A crash
 * throws the page cache away and rebuilds it from the platters: unsynced writes are lost, and
 * counted.
 *
 * Ownership: the disk owns both stores; dyn_storage_t values from sim_disk_storage() borrow it.
 */
#ifndef SIM_DISK_H
#define SIM_DISK_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"
#include "core/mem_store.h"
#include "core/storage.h"
#include "sim/sim_dist.h"

typedef struct sim_disk_config {
    dyn_time_us flush_interval_us;  /* background flush period; 0: only on size or sync */
    size_t flush_bytes;             /* flush when this many bytes are dirty; 0: no size trigger */
    sim_dist_t fsync_us;            /* latency of one sync (microseconds) */
} sim_disk_config_t;

typedef struct sim_disk_stats {
    uint64_t writes, syncs, flushes;
    uint64_t lost_writes;           /* dirty keys thrown away by crashes */
    size_t dirty_bytes;
} sim_disk_stats_t;

typedef struct sim_disk sim_disk_t;

/* The config's distribution is copied. `rng` (borrowed) draws fsync latencies. */
sim_disk_t *sim_disk_create(const sim_disk_config_t *config, gsl_rng *rng);
void sim_disk_destroy(sim_disk_t *disk);
dyn_storage_t sim_disk_storage(sim_disk_t *disk);

/* The host tells the disk the time before each call into the node that owns it. */
void sim_disk_set_now(sim_disk_t *disk, dyn_time_us now_us);
/* Until when the disk is busy with an fsync (<= now when idle). */
dyn_time_us sim_disk_busy_until(const sim_disk_t *disk);
/* Background flush, if flush_interval_us has passed since the last one. */
void sim_disk_tick(sim_disk_t *disk, dyn_time_us now_us);
/* Lose everything not flushed: the page cache becomes the platters again. */
void sim_disk_crash(sim_disk_t *disk);
/* Lose everything. */
void sim_disk_wipe(sim_disk_t *disk);

/* The page cache, as the node sees it (key counts, bytes). */
dyn_mem_store_t *sim_disk_cache(sim_disk_t *disk);
const sim_disk_stats_t *sim_disk_stats(const sim_disk_t *disk);

#endif
