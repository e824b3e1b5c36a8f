/*
 * node.h: one Dynamo storage node: replica and request coordinator (paper 4.5, 4.4, 4.1).
 *
 * A node answers replica reads and writes from its storage engine, and coordinates the client
 * requests it receives: a node in the key's preference list coordinates (reads from or writes to
 * the first N replicas, answers after R or W of them), a node outside it forwards the request once
 * to a random node of the top N and relays the answer. Puts are versioned by the coordinator's
 * actor (node id, epoch); gets return every causally concurrent version and a context.
 *
 * Failures (paper 4.6): a replica that misses a request's deadline is suspected, and until it is
 * heard from again (every message counts; suspects are probed every tick) requests skip it for the
 * next unsuspected node of the key's extended preference list: a sloppy quorum. That fallback keeps
 * what it is sent in its hint space, under the owner's id, and hands it to the owner once the owner
 * answers, deleting the hint only after the owner has made it durable and acknowledged it.
 *
 * Anti-entropy (paper 4.7): each node keeps a Merkle tree per key range it stores, updated on
 * every write, and every ae_interval compares one of its ranges with another replica of it, top
 * down; only the keys of leaves that differ are compared, and only keys that differ are sent.
 *
 * The node is sans-I/O: the host calls dyn_node_on_message() and dyn_node_on_timer() with the
 * current time, and the node acts only through its dyn_env_t and dyn_storage_t.
 *
 * Ownership: the node borrows the ring it is created with and the storage engine (both must
 * outlive it, and the ring may be shared by many nodes); rings built from later partition tables
 * come from config.ring_cache or its own, and its workspace from config.work or its own. It owns
 * everything else and frees it in dyn_node_destroy().
 */
#ifndef DYN_NODE_H
#define DYN_NODE_H

#include <stdint.h>

#include "core/codec.h"
#include "core/env.h"
#include "core/membership.h"
#include "core/ring.h"
#include "core/storage.h"

#define DYN_N_MAX 16 /* the largest replication factor a request may ask for */
/* How far along a key's ring walk fallbacks are looked for: they are walk[N..this). */
#define DYN_FALLBACK_WALK_MAX (2u * DYN_N_MAX)

/*
 * How a replica resolves concurrent versions. VCLOCK keeps every causally concurrent version as a
 * sibling (Dynamo). LWW keeps only the one with the latest wall-clock stamp, as Cassandra does:
 * the comparison baseline, which loses acknowledged writes when clocks disagree.
 */
/*
 * When replicas make a write durable before acknowledging it (storage sync). NONE: never; the
 * engine flushes on its own schedule, and a crash loses what it had not. ONE: the coordinator
 * syncs its own copy, the paper's option (one durable replica per write). ALL: every replica
 * syncs before it acknowledges.
 */
typedef enum dyn_sync_writes {
    DYN_SYNC_NONE = 0,
    DYN_SYNC_ONE = 1,
    DYN_SYNC_ALL = 2,
} dyn_sync_writes_t;

typedef enum dyn_resolution {
    DYN_RESOLVE_VCLOCK = 0,
    DYN_RESOLVE_LWW = 1,
} dyn_resolution_t;

typedef struct dyn_node_config {
    uint32_t id;                    /* ring member id, also this node's endpoint */
    /*
     * Incarnation, part of every clock actor. 0 (the default): a new one at every start, one past
     * the epoch stored in the META space, or random if there is none (first start, or the disk
     * was lost), stored and synced before the node does anything else. So no incarnation reuses
     * an actor of an earlier one: not a node that forgot its data (Riak's KV679), nor one whose
     * crash lost versions its replicas kept. Nonzero: use it as given (tests).
     */
    uint32_t epoch;
    uint8_t n, r, w;                /* cluster defaults; requests may override */
    dyn_time_us request_timeout_us; /* a coordinator gives up on replicas after this */
    uint32_t vclock_threshold;      /* clock truncation threshold (paper: 10) */
    uint32_t siblings_max;          /* a client write that would leave more siblings at its
                                       coordinator fails with DYN_ESIBLINGS (Riak: 100); replicas
                                       accept replication and repair up to DYN_SIBLINGS_MAX */
    uint32_t requests_pending_max;  /* coordinated + forwarded requests in flight */
    dyn_resolution_t resolution;    /* DYN_RESOLVE_VCLOCK (default) or the LWW baseline */
    dyn_sync_writes_t sync_writes;  /* default DYN_SYNC_NONE */
    uint64_t seed;                  /* the node's own PRNG stream: new epochs, forward targets;
                                       must differ between incarnations of a node */
    uint8_t hinted_handoff;         /* 1 (default): sloppy quorum and hinted handoff; 0: requests
                                       always go to the first N, suspected or not (strict) */
    uint32_t hints_max;             /* keys this node holds hints for; a fallback write past it
                                       is refused with DYN_EFULL */
    uint32_t handoff_batch;         /* hints sent per tick, at most (the handoff throttle) */
    dyn_time_us tick_us;            /* period of probes and handoff rounds */
    uint8_t anti_entropy;           /* 1 (default): Merkle trees per range, exchanged with the
                                       range's other replicas; 0: none */
    uint8_t merkle_depth;           /* levels below the root (1..16; default 8: 256 leaves) */
    dyn_time_us ae_interval_us;     /* one exchange per this interval, per node (the AE rate) */
    dyn_time_us tombstone_grace_us; /* a tombstone-only key is collected once every owner holds
                                       it and this long has passed (default 10 s); 0: never */
    dyn_time_us gossip_interval_us; /* membership gossip with one random member per interval
                                       (default 1 s); 0: none */
    /* SWIM-style probing (detector.c): one member per fd_interval (0, the default: only the
     * paper's timeouts), indirect probes through fd_indirect members after fd_timeout. */
    dyn_time_us fd_interval_us, fd_timeout_us;
    uint8_t fd_indirect;
    uint32_t transfer_batch;        /* data sets moved to new owners per tick, at most (the
                                       transfer throttle; adapts as handoff_batch does) */
    /* Rings built from the view's partition tables are taken from this cache, shared with the
     * other nodes that use it (the simulator's); NULL: the node keeps its own. Borrowed. */
    struct dyn_ring_cache *ring_cache;
    /* The workspace (dyn_node_work_t below), shared with the other nodes that use it; NULL: the
     * node makes its own. Borrowed. */
    struct dyn_node_work *work;
} dyn_node_config_t;

/*
 * A node's workspace: the buffers it uses only while one entry point runs (the decoded incoming
 * message, the sibling set a write builds, the encode buffers), a few kilobytes that grow to the
 * largest message seen. Nodes whose entry points never run at the same time (on one thread, none
 * calling into another) may share one: when thousands of simulated nodes take turns, one set of
 * these buffers stays in cache where each node's own would be a miss. The host owns a shared
 * workspace and destroys it after the last node using it.
 */
typedef struct dyn_node_work dyn_node_work_t;
dyn_node_work_t *dyn_node_work_create(void);
void dyn_node_work_destroy(dyn_node_work_t *w); /* NULL is a no-op */

/*
 * Defaults: N=3 R=2 W=2, 1 s timeout, threshold 10, 100 siblings, 65536 pending requests, hinted
 * handoff on with 100,000 hinted keys at most, 64 hints per 200 ms tick, anti-entropy on with
 * depth-8 trees and one exchange per second.
 */
void dyn_node_config_default(dyn_node_config_t *config);

typedef struct dyn_node_stats {
    uint64_t gets_coordinated, puts_coordinated, forwarded;
    uint64_t replies_ok, replies_failed;     /* answers sent to clients, by outcome */
    uint64_t timeouts;                       /* requests answered DYN_ETIMEDOUT */
    uint64_t replicas_late;                  /* replicas that missed the deadline of a request
                                                already answered (e.g. a slow third replica) */
    uint64_t replica_reads, replica_writes;  /* served for coordinators (including itself) */
    uint64_t stale_writes;                   /* replica writes already dominated locally */
    uint64_t bad_messages;                   /* datagrams that failed to decode */
    uint64_t stray_messages;                 /* replies for requests no longer pending */
    uint64_t rejected_full;                  /* requests refused with DYN_EFULL */
    uint64_t vclock_truncations;             /* entries dropped by clock truncation */
    uint64_t syncs;                          /* storage syncs made to acknowledge a write */
    uint64_t read_repairs;                   /* stale replicas a get sent newer versions to */
    uint64_t suspicions, recoveries;         /* peers marked down by a timeout, heard again */
    uint64_t probes;                         /* pings sent to suspected peers */
    uint64_t fallback_targets;               /* requests sent to a fallback for a suspect */
    uint64_t hinted_writes;                  /* versions this node stored as a fallback */
    uint64_t hints_refused;                  /* fallback writes refused: hints_max reached */
    uint64_t handoffs_sent, hints_delivered; /* hint sets sent to owners; acknowledged ones */
    uint64_t handoffs_received;              /* hint sets received as an owner */
    uint64_t handoffs_refused;               /* sets refused: not an owner by this ring */
    uint64_t hints_peak;                     /* most keys held in the hint space at once */
    uint64_t ae_exchanges, ae_in_sync;       /* exchanges started; ended equal at the root */
    uint64_t ae_messages, ae_bytes;          /* anti-entropy datagrams sent, and their bytes */
    uint64_t ae_keys_pushed;                 /* sibling sets sent to repair a peer */
    uint64_t ae_keys_repaired;               /* pushes received that changed the local set */
    uint64_t reap_rounds;                    /* tombstone collections this node started */
    uint64_t reap_refused;                   /* rounds an owner refused or let time out */
    uint64_t tombstones_reaped;              /* tombstone-only keys this node deleted */
    uint64_t epoch_renewals;                 /* new epochs taken: a reaped key's counter floor
                                                could not be kept (reaper.c) */
    uint64_t gossip_sent, gossip_bytes;      /* gossip datagrams sent, and their bytes */
    uint64_t membership_changes;             /* members a merged view changed here */
    uint64_t fd_probes, fd_indirect;         /* SWIM probes started; PING_REQs sent */
    uint64_t fd_suspicions;                  /* members a probe found silent (newly suspected) */
    uint64_t ring_changes;                   /* partition tables the ring followed */
    uint64_t transfer_sent;                  /* data sets sent to a key's new owners */
    uint64_t transfer_dropped;               /* ... that every owner acknowledged: deleted here */
    uint64_t transfer_rounds;                /* scans for data this node no longer owns */
} dyn_node_stats_t;

typedef struct dyn_node dyn_node_t;

/*
 * The key a fallback stores a hint under in DYN_SPACE_HINTS: the owner's id (4 bytes, big-endian,
 * so a scan meets each owner's hints together), then the data key. Writes it to out, which holds
 * DYN_HINT_KEY_MAX bytes, and returns its length.
 */
#define DYN_HINT_KEY_MAX (4u + DYN_KEY_MAX)
size_t dyn_node_hint_key(uint32_t owner, const uint8_t *key, size_t key_length, uint8_t *out);

/*
 * Create a node. Returns NULL on allocation failure, an invalid config (n, r or w of 0 or over
 * DYN_N_MAX, r or w > n, threshold outside 1..DYN_VCLOCK_MAX, siblings_max outside
 * 1..DYN_SIBLINGS_MAX), or a storage failure while reading or persisting the epoch.
 */
dyn_node_t *dyn_node_create(const dyn_node_config_t *config, const dyn_ring_t *ring,
                            dyn_storage_t storage, dyn_env_t env);
void dyn_node_destroy(dyn_node_t *node);

/*
 * Handle one datagram. Returns DYN_OK, or DYN_EBADMSG / DYN_EVERSION for bytes that do not decode
 * (counted, nothing else happens), or the status of a local failure that was also reported to the
 * requester.
 */
/*
 * Start the node's periodic work (probes of suspected peers, handoff rounds) at time now_us. A
 * node that is never started still serves requests; it just never probes or hands off.
 */
void dyn_node_start(dyn_node_t *node, dyn_time_us now_us);

int dyn_node_on_message(dyn_node_t *node, dyn_time_us now_us, dyn_endpoint_t from,
                        const uint8_t *bytes, size_t length);
/*
 * Turn the sloppy quorum and hinted handoff on or off at run time (config.hinted_handoff). Hints
 * already stored are still handed off either way.
 */
void dyn_node_set_hinted_handoff(dyn_node_t *node, int on);

/*
 * A hint from a host that knows a write of `key` is about to reach this node (the simulator's
 * look-ahead): fetch the lines of the key's Merkle leaf, a likely cache miss on every write.
 * Changes nothing; harmless when the write never comes.
 */
void dyn_node_prefetch_write(const dyn_node_t *node, const uint8_t *key, size_t key_length);

/* A timer armed by this node fired. Stray or stale timer ids are ignored. */
void dyn_node_on_timer(dyn_node_t *node, dyn_time_us now_us, uint64_t timer_id);

const dyn_node_stats_t *dyn_node_stats(const dyn_node_t *node);
uint32_t dyn_node_id(const dyn_node_t *node);
/* The incarnation epoch in use (from the config, the store, or newly drawn). */
uint32_t dyn_node_epoch(const dyn_node_t *node);
/* Requests currently pending (coordinated, forwarded, or hint sets being handed off). */
uint32_t dyn_node_pending(const dyn_node_t *node);
/* Keys this node holds hints for. */
uint64_t dyn_node_hints(const dyn_node_t *node);
/* Peers this node currently suspects, and whether it suspects `peer`. */
uint32_t dyn_node_suspects(const dyn_node_t *node);
int dyn_node_suspects_peer(const dyn_node_t *node, uint32_t peer);

/*
 * Membership.
 * The node's view of the cluster, kept in its META space and merged with a random member's every
 * gossip_interval. dyn_node_merge_members() merges a view in (the host's initial member list, or
 * an admin's); dyn_node_member_change() makes a change at this node, one version past what it
 * knows of the member, which gossip then spreads. Both return how many members changed, or a
 * negative status (DYN_EINVAL for a bad member or status, storage errors).
 */
const dyn_membership_t *dyn_node_membership(const dyn_node_t *node);
int dyn_node_merge_members(dyn_node_t *node, const dyn_membership_t *view);
int dyn_node_member_change(dyn_node_t *node, uint32_t id, dyn_member_status_t status,
                           uint16_t zone);

/*
 * The ring follows the view's partition table (S3 only). dyn_node_ring_commit() makes `owners`
 * (the ring's partition count of them, e.g. from dyn_claim) the table, one version past the one
 * this node knows; gossip spreads it, and every node that takes it moves the data it no longer
 * owns to the key's owners: in throttled rounds, each set deleted only once every owner has
 * acknowledged it durable, so a crash of either side resumes with what is left. Returns the new
 * version, DYN_EINVAL (not S3, an owner id 0), or a storage status.
 */
int64_t dyn_node_ring_commit(dyn_node_t *node, const uint32_t *owners);
const dyn_ring_t *dyn_node_ring(const dyn_node_t *node);
/* The version of the table the ring follows (0: the ring passed at create). */
uint64_t dyn_node_ring_version(const dyn_node_t *node);
/* True when this node holds no data it does not own and has none in flight (transfers done). */
int dyn_node_transfer_idle(const dyn_node_t *node);

#endif
