/*
 * node_internal.h: what the node's own source files share; not for use outside core/node*.c and
 * core/anti_entropy.c. The node is one state machine split over files by concern: the request
 * path and hinted handoff (node.c) and Merkle anti-entropy (anti_entropy.c).
 */
#ifndef DYN_NODE_INTERNAL_H
#define DYN_NODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/codec.h"
#include "core/membership.h"
#include "core/merkle.h"
#include "core/node.h"
#include "core/ring_cache.h"
#include "core/prng.h"
#include "core/siblings.h"

typedef struct op op_t;
typedef struct node_reaper node_reaper_t;
typedef struct node_detector node_detector_t;

/* Anti-entropy state: one Merkle tree per key range the node stores keys of (anti_entropy.c). */
typedef struct node_ae {
    dyn_merkle_t **trees;         /* one per owned range, as ordered in owned; NULL until used */
    uint32_t range_count;
    uint32_t *owned;              /* the ranges this node replicates (first N), ascending */
    uint32_t owned_count;
    uint32_t next;                /* the next owned range to exchange */
    dyn_time_us next_at;          /* when the next exchange starts */
    uint8_t *keys;                /* keys gathered by a scan: length, bytes, print; reused */
    size_t keys_length, keys_capacity;
    dyn_siblings_t set;           /* a stored set decoded during a scan, for its print */
} node_ae_t;

/*
 * Where a replica keeps a key's versions: an owner in its data space, a fallback in its hint space
 * under (owner, key). The hint key is built in node->hint_key, so one place is live at a time.
 */
typedef struct place {
    dyn_space_t space;
    const uint8_t *key;
    size_t key_length;
} place_t;

/*
 * What a node uses only while one entry point runs (node.h: dyn_node_work_t). Nothing here may
 * carry state from one call to the next: nodes sharing a workspace take turns in it.
 */
struct dyn_node_work {
    dyn_msg_t rx;                 /* decoded incoming message */
    dyn_siblings_t scratch;       /* local sibling set during a write */
    dyn_version_t *live_view;     /* DYN_SIBLINGS_MAX versions: live siblings of a get reply */
    uint8_t *tx;                  /* encode buffer, grows to the largest message sent */
    size_t tx_capacity;
    uint8_t *blob;                /* encoded sibling set being stored */
    size_t blob_capacity;
};

struct dyn_node {
    dyn_node_config_t config;
    const dyn_ring_t *ring;
    dyn_storage_t storage;
    dyn_env_t env;
    dyn_node_stats_t stats;
    dyn_prng_t prng;

    op_t *ops;
    uint32_t ops_capacity;
    uint32_t ops_used;
    uint32_t free_head;           /* UINT32_MAX when no freed slot is waiting */

    dyn_node_work_t *w;           /* config.work, or w_own */
    dyn_node_work_t *w_own;       /* the node's own workspace, when config.work is NULL */

    uint32_t *suspects;           /* peers suspected down, sorted ascending */
    uint32_t suspect_count, suspect_capacity;
    uint64_t hints;               /* keys held in the hint space */
    uint32_t handoffs_in_flight;  /* OP_HANDOFF ops pending: a round starts only at zero */
    /* Hint sets a round may send: additive increase per window acknowledged, halved on a
     * timeout, between 1 and handoff_batch (the throttle adapts to how fast owners take them). */
    uint32_t handoff_window, handoff_acks;
    uint8_t hint_key[DYN_HINT_KEY_MAX]; /* where place_of() builds a hint's storage key */
    /* The dots print of the DATA set a write is replacing (0: none, or anti-entropy off), set
     * by note_replaced() on the write paths: the Merkle tree's update needs it. */
    uint64_t loaded_print;
    /* This actor's highest counter in that set (note_replaced): if a write leaves the set with
     * less, truncation elsewhere made it forget, and store_scratch keeps the old one as a floor. */
    uint64_t loaded_own_high;
    node_ae_t ae;
    node_reaper_t *reaper;
    node_detector_t *detector;
    /* A reap forgot the counters this actor issued on a key, and the reaper could not keep them
     * (reaper.c: node_reap_floor_take): take a new epoch before the next dot. */
    bool epoch_stale;
    dyn_time_us now_us;           /* the time passed to the entry point being run */
    /* Membership (gossip.c): this node's view, and when it next gossips. */
    dyn_membership_t *members;
    dyn_time_us gossip_next_at;
    dyn_time_us gossip_nudged_at; /* the last exchange node_gossip_nudge() started */
    uint8_t *members_buf;         /* the view's encoding, for gossip and persistence; reused */
    size_t members_buf_capacity;
    /*
     * The ring following the view's partition table (transfer.c). ring is the one in use: the
     * ring passed at create (borrowed) until the view brings a table, then one held from rings.
     */
    dyn_ring_cache_t *rings;      /* config.ring_cache, or this node's own (rings_own) */
    bool rings_own;
    const dyn_ring_t *ring_held;  /* acquired from rings, released on the next change; or NULL */
    uint64_t ring_version, ring_hash;  /* of the table ring_held was built from; 0: none */
    bool ring_moved;              /* the ring followed a table: data may sit on non-owners */
    dyn_time_us ring_changed_at;  /* when it last did */
    bool xfer_pending;            /* DATA may hold keys this node does not own: look for them */
    uint32_t xfers_in_flight;     /* OP_HANDOFF ops of DATA sets: a round starts only at zero */
    uint32_t xfer_window, xfer_acks;  /* the transfer throttle, as handoff_window */
};

/* Encode and send; returns the encoded length or a negative status. */
int node_send_msg(dyn_node_t *node, dyn_endpoint_t to, const dyn_msg_t *msg);
bool node_suspected(const dyn_node_t *node, uint32_t peer);
/* Binary search in a sorted array: the index of the first element >= value, and membership. */
uint32_t node_u32_lower_bound(const uint32_t *sorted, uint32_t count, uint32_t value);
bool node_u32_has(const uint32_t *sorted, uint32_t count, uint32_t value);
/* The fingerprint of an encoded sibling set (never 0; the empty set is 1). */
uint64_t node_answer_print(const uint8_t *blob, size_t length);
place_t node_data_place(const uint8_t *key, size_t key_length);
/* Reconcile versions into the set stored at pl; returns how many were added, or a status. */
int node_apply_versions(dyn_node_t *node, const place_t *pl, uint64_t key_hash,
                        const dyn_version_t *versions, uint32_t count);

/* Send a stored set to targets, deleted here once all acknowledge it durable (node.c). */
int node_handoff_send(dyn_node_t *node, dyn_space_t space, const uint8_t *skey, size_t skey_length,
                      const uint8_t *key, size_t key_length, uint64_t key_hash,
                      const uint32_t *targets, uint32_t n, const uint8_t *blob, size_t blob_length);

/* transfer.c: the ring following the view, and moving data to the key's owners. */
int node_xfer_init(dyn_node_t *node);
void node_xfer_free(dyn_node_t *node);
/* The view changed: if its ring table did, rebuild the ring, the Merkle trees, and look for data
 * to move. Returns DYN_OK or a status (the old ring stays in use). */
int node_ring_follow(dyn_node_t *node);
/* The key's first N owners under the current ring, into out[DYN_N_MAX]; returns how many. */
uint32_t node_owners(const dyn_node_t *node, uint64_t key_hash, uint32_t *out);
/* A DATA set was stored: after a ring change, one this node does not own must move on. */
void node_xfer_note_write(dyn_node_t *node, uint64_t key_hash);
void node_xfer_tick(dyn_node_t *node, dyn_time_us now_us);
/*
 * Whether ownership may still be moving as far as this node knows: data to move here, or a ring
 * change younger than the tombstone grace (others may still be moving theirs). Tombstone
 * collection waits: a copy on its way from a former owner could bring a deleted value back.
 */
bool node_xfer_unsettled(const dyn_node_t *node, dyn_time_us now_us);

/* anti_entropy.c */
int node_ae_init(dyn_node_t *node);
void node_ae_free(dyn_node_t *node);
void node_ae_note_write(dyn_node_t *node, uint64_t key_hash, uint64_t old_print,
                        uint64_t new_print);
void node_ae_tick(dyn_node_t *node, dyn_time_us now_us);
void node_ae_on_message(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg);

/* Suspect a peer (local, temporary; cleared by any message from it): node.c. */
void node_suspect(dyn_node_t *node, uint32_t peer);

/* detector.c */
int node_fd_init(dyn_node_t *node);
void node_fd_free(dyn_node_t *node);
void node_fd_tick(dyn_node_t *node, dyn_time_us now_us);
void node_fd_on_pong(dyn_node_t *node, dyn_endpoint_t from, uint64_t request_id);
void node_fd_on_ping_req(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg);

/* gossip.c */
int node_gossip_init(dyn_node_t *node);
void node_gossip_free(dyn_node_t *node);
void node_gossip_tick(dyn_node_t *node, dyn_time_us now_us);
void node_gossip_on_message(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg);
/* Start a gossip exchange with `peer` now (at most one per tick): our rings disagree. */
void node_gossip_nudge(dyn_node_t *node, dyn_endpoint_t peer);

/* reaper.c */
int node_reap_init(dyn_node_t *node);
void node_reap_free(dyn_node_t *node);
/* A DATA set was stored: note it for collection if it is tombstone-only and this node primary. */
void node_reap_note_write(dyn_node_t *node, const uint8_t *key, size_t key_length,
                          uint64_t key_hash, const dyn_siblings_t *set);
void node_reap_tick(dyn_node_t *node, dyn_time_us now_us);
/*
 * The highest counter this node's actor had issued on a key it reaped (0 if it reaped none since
 * it last wrote the key): the first write after a reap counts on from it, and drops the floor
 * once that write is stored (a refused write leaves it for the next).
 */
uint64_t node_reap_floor_peek(const dyn_node_t *node, uint64_t key_hash);
/* Keep a key's floor (the largest kept if one is there); past the table's room, a new epoch. */
void node_reap_keep_floor(dyn_node_t *node, uint64_t key_hash, uint64_t floor);
/* The highest counter of this node's current actor in a set, in dots and pasts. */
uint64_t node_own_high(const dyn_node_t *node, const dyn_siblings_t *set);
void node_reap_floor_drop(dyn_node_t *node, uint64_t key_hash);
/* A new epoch: the floors named counters of the old actor, so they are dropped. */
void node_reap_floors_clear(dyn_node_t *node);
void node_reap_on_message(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg);

#endif
