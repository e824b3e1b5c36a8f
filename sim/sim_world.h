/*
 * sim_world.h: one simulated world: virtual time, the event loop, a cluster, clients, the network.
 *
 * Single-threaded and deterministic by construction: events run in (time, sequence) order; all
 * randomness comes from streams derived from the one run seed (network, workload, Lua, nodes,
 * faults), so adding draws to one stream never shifts another; every delivered message, fired
 * timer, callback and core trace event is folded into the run digest. Same seed, same commit,
 * same build: same digest.
 *
 * Endpoints: node i (1-based) has endpoint id i; clients have ids from SIM_CLIENT_BASE. Every
 * message between endpoints is real encoded bytes handed to the receiver's on_message.
 *
 * Ownership: the world owns the cluster's nodes, rings, stores, clients, network and metrics.
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "core/client.h"
#include "core/env.h"
#include "core/mem_store.h"
#include "core/node.h"
#include "core/ring.h"
#include "sim/sim_checker.h"
#include "sim/sim_disk.h"
#include "sim/sim_metrics.h"
#include "sim/sim_net.h"

#define SIM_CLIENT_BASE 0x40000000u
#define SIM_CLIENTS_MAX 1000000u

/* Named random streams, each seeded by dyn_seed_derive(seed, stream). */
typedef enum sim_stream {
    SIM_STREAM_NET = 1,
    SIM_STREAM_WORKLOAD = 2,
    SIM_STREAM_LUA = 3,
    SIM_STREAM_FAULTS = 4,
    SIM_STREAM_RING = 5,
    SIM_STREAM_CLIENTS = 6,
    SIM_STREAM_DISK = 7,
    SIM_STREAM_COUNT_ = 8,
    SIM_STREAM_NODE_BASE = 1u << 20, /* + node id: each node's own PRNG (not a GSL stream) */
} sim_stream_t;

typedef struct sim_world sim_world_t;

typedef struct sim_cluster_config {
    uint32_t nodes;
    uint32_t spares;          /* more nodes, ids nodes+1.., running outside the ring (to join) */
    dyn_ring_config_t ring;   /* seed is derived from the run seed if 0 */
    dyn_node_config_t node;   /* template; id is set per node */
    int disk_model;           /* 0: every write durable at once; 1: a sim_disk per node */
    sim_disk_config_t disk;   /* with disk_model; the distribution is copied */
} sim_cluster_config_t;

typedef enum sim_node_state {
    SIM_NODE_UP = 0,
    SIM_NODE_DOWN = 1,     /* crashed: volatile state gone, store kept */
    SIM_NODE_PAUSED = 2,   /* alive but frozen (a long GC, SIGSTOP): events wait for resume */
} sim_node_state_t;

typedef enum sim_run_result {
    SIM_RUN_IDLE = 0,        /* nothing left to do */
    SIM_RUN_STOPPED = 1,     /* sim_world_stop() was called */
    SIM_RUN_TIME_LIMIT = 2,
    SIM_RUN_EVENTS_MAX = 3,
} sim_run_result_t;

typedef void (*sim_callback_fn)(sim_world_t *w, void *arg, uint64_t a);
typedef void (*sim_progress_fn)(sim_world_t *w, void *arg);

sim_world_t *sim_world_create(uint64_t seed);
void sim_world_destroy(sim_world_t *w);

uint64_t sim_world_seed(const sim_world_t *w);
gsl_rng *sim_world_stream(sim_world_t *w, sim_stream_t stream);
dyn_time_us sim_world_now(const sim_world_t *w);
sim_net_t *sim_world_net(sim_world_t *w);
sim_metrics_t *sim_world_metrics(sim_world_t *w);
sim_checker_t *sim_world_checker(sim_world_t *w);

/*
 * Build the one cluster of this world. Nodes start with epoch 0 in config->node (the default),
 * so each draws and stores its own. Returns 0, or -1 with a message in err.
 */
int sim_world_create_cluster(sim_world_t *w, const sim_cluster_config_t *config, char *err,
                             size_t err_size);
/* Every node process, spares included: ids 1..count. */
uint32_t sim_world_node_count(const sim_world_t *w);
dyn_node_t *sim_world_node(sim_world_t *w, uint32_t id);
/* The node's store as it sees it (the page cache when disks are modelled). */
dyn_mem_store_t *sim_world_store(sim_world_t *w, uint32_t id);
/* The node's simulated disk, or NULL without the disk model. */
sim_disk_t *sim_world_disk(sim_world_t *w, uint32_t id);
/* The cluster's ring: the one it was created with, or the table committed last. */
const dyn_ring_t *sim_world_ring(const sim_world_t *w);
/*
 * A membership change was committed (at some node, which gossip spreads from): the world's ring,
 * used by the checkers and by ring-aware clients, becomes the S3 ring of `owners`. DYN_OK or a
 * status (DYN_EINVAL for a table the ring cannot take).
 */
int sim_world_commit_ring(sim_world_t *w, const uint32_t *owners);
/* How many tables were committed so far (0: the ring is the one the cluster was created with). */
uint32_t sim_world_ring_commits(const sim_world_t *w);
const sim_cluster_config_t *sim_world_cluster_config(const sim_world_t *w);
/* Switch hinted handoff for every node, now and after restarts. */
void sim_world_set_hinted_handoff(sim_world_t *w, int on);

/*
 * Add a client that contacts `contacts` (NULL: every node). The world owns it. Returns its
 * endpoint id, or 0 on failure. config->nodes and config->seed are filled in by the world.
 */
dyn_endpoint_t sim_world_add_client(sim_world_t *w, const dyn_client_config_t *config,
                                    dyn_client_t **out);

/*
 * Node faults. crash: the node's volatile state (pending requests, timers) is lost and datagrams
 * to it are dropped; its store is kept (everything it stored is durable until the disk model
 * arrives). restart: a new incarnation on the same store. pause/resume: while paused, datagrams
 * and timers for the node wait and are delivered in order on resume. wipe: a down node's disk is
 * lost, so its next start draws a new epoch. All return DYN_OK, or DYN_EINVAL for an unknown node
 * or the wrong state (crash a down node, restart or wipe a node that is up, resume one not paused).
 */
int sim_world_crash(sim_world_t *w, uint32_t id);
int sim_world_restart(sim_world_t *w, uint32_t id);
int sim_world_pause(sim_world_t *w, uint32_t id);
int sim_world_resume(sim_world_t *w, uint32_t id);
int sim_world_wipe(sim_world_t *w, uint32_t id);
sim_node_state_t sim_world_node_state(const sim_world_t *w, uint32_t id);
/*
 * Set a node's wall clock: offset by skew_us and running fast (drift_ppm > 0) or slow, as parts
 * per million of simulated time since zero. Only the stamps on its versions see it; its timers do
 * not. DYN_EINVAL for an unknown node or |drift| >= 10^6 ppm.
 */
int sim_world_set_clock(sim_world_t *w, uint32_t id, int64_t skew_us, int64_t drift_ppm);

/* Run fn(w, arg, a) at time `when` (>= now). Returns a handle for sim_world_cancel. */
uint64_t sim_world_at(sim_world_t *w, dyn_time_us when, sim_callback_fn fn, void *arg,
                      uint64_t a);
void sim_world_cancel(sim_world_t *w, uint64_t handle);

void sim_world_set_limits(sim_world_t *w, dyn_time_us time_limit_us, uint64_t events_max);
void sim_world_set_progress(sim_world_t *w, sim_progress_fn fn, void *arg);
sim_run_result_t sim_world_run(sim_world_t *w);
void sim_world_stop(sim_world_t *w);

uint64_t sim_world_events(const sim_world_t *w);
uint64_t sim_world_messages(const sim_world_t *w);
size_t sim_world_pending_events(const sim_world_t *w);
/* Mean number of scheduled events, sampled every 4096 events. */
double sim_world_mean_pending(const sim_world_t *w);
/* Digest of everything that happened so far (hex-printed as the run digest). */
uint64_t sim_world_digest(sim_world_t *w);
/* Fold extra bytes into the digest (e.g. scenario-level events). */
void sim_world_digest_add(sim_world_t *w, const void *bytes, size_t length);

#endif
