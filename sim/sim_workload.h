/*
 * sim_workload.h: simulated clients driving a key-value workload written in C, not Lua.
 *
 * A workload issues `ops` operations from `clients` clients of the cluster. Arrivals are either
 * open-loop Poisson at `rate_per_s` (the load does not slow down when the cluster does, which is
 * what exposes queueing and tail latency) or closed-loop with `concurrency` requests outstanding
 * per client. Keys are drawn uniformly or with Zipf popularity over `keys` keys; reads are a
 * fraction of operations, the rest are puts (and optionally deletes). Puts carry the last context
 * the workload saw for that key, as a read-modify-write application would; blind puts are an
 * option. Every completed operation goes into the world's metrics.
 *
 * The per-operation loop runs in C because it runs a million times per benchmark; Lua only sets
 * it up and waits for it.
 *
 * Ownership: the workload belongs to the world's lifetime; destroy it after the run.
 */
#ifndef SIM_WORKLOAD_H
#define SIM_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "sim/sim_dist.h"
#include "sim/sim_world.h"

typedef enum sim_key_dist {
    SIM_KEYS_UNIFORM = 0,
    SIM_KEYS_ZIPF = 1,
} sim_key_dist_t;

typedef struct sim_workload_config {
    uint64_t ops;               /* operations to issue in all */
    double rate_per_s;          /* open loop if > 0 */
    uint32_t clients;
    uint32_t concurrency;       /* closed loop: outstanding per client (when rate is 0) */
    uint64_t keys;
    sim_key_dist_t key_dist;
    double zipf_s;              /* exponent, > 0 */
    double read_fraction;       /* in [0, 1] */
    double delete_fraction;     /* of the non-reads */
    uint32_t value_size;        /* bytes, unless value_dist_set */
    int value_dist_set;         /* draw each put's size (bytes) from value_dist instead */
    sim_dist_t value_dist;      /* copied by sim_workload_start; the caller keeps its own */
    dyn_time_us timeout_us;     /* per attempt */
    uint32_t retries;
    int blind_puts;             /* 1: puts carry no context */
    int owner_coordinates;      /* 1: clients know the ring and send to a key's owner (paper 6.4) */
    dyn_time_us start_us;       /* first arrival not before this simulated time */
} sim_workload_config_t;

typedef struct sim_workload sim_workload_t;
typedef void (*sim_workload_done_fn)(sim_workload_t *wl, void *arg);

/* Defaults: 10,000 ops, closed loop, 8 clients x 1, 1,000 keys, uniform, 50 % reads, 100 B. */
void sim_workload_config_default(sim_workload_config_t *config);

/* Validate, create the clients and schedule the first arrivals. NULL with err filled on error. */
sim_workload_t *sim_workload_start(sim_world_t *w, const sim_workload_config_t *config,
                                   char *err, size_t err_size);
void sim_workload_destroy(sim_workload_t *wl);

/* Call fn once when every operation has completed (at once if already done). */
void sim_workload_on_done(sim_workload_t *wl, sim_workload_done_fn fn, void *arg);
int sim_workload_done(const sim_workload_t *wl);
uint64_t sim_workload_issued(const sim_workload_t *wl);
uint64_t sim_workload_completed(const sim_workload_t *wl);
/* Submissions refused by a client (its pending table full): counted, never silently dropped. */
uint64_t sim_workload_rejected(const sim_workload_t *wl);
/* Distinct keys written at least once. */
uint64_t sim_workload_keys_written(const sim_workload_t *wl);

#endif
