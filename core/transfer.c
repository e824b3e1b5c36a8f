/*
 * transfer.c: the ring follows the view's partition table, and data follows the ring.
 *
 * When gossip (or a commit here) brings a new table, the node takes the ring built from it, builds
 * its Merkle trees again for the ranges it now replicates, and looks for data it no longer owns.
 * Moving it is pushed by whoever holds it, not pulled by the new owner: the holder knows what it
 * has, and no node needs to know the old ring. Every tick with no transfer in flight a round scans
 * the data space, and sends up to transfer_window keys this node does not own to all N of their
 * owners (HANDOFF, as a hint goes to its owner). An owner merges the set, makes it durable, and
 * acknowledges; once every owner has, the set is deleted here unless it changed meanwhile. So:
 *   - nothing is dropped before N owners hold it durably;
 *   - the deletions are the checkpoint: a crash of the sender resumes with what it still holds,
 *     and a crash of an owner before its acknowledgement costs one batch sent again;
 *   - writes that arrive at an old owner during or after the move (from coordinators whose ring
 *     is older) are stored, found by a later round, and moved on too.
 * The round's size adapts as hinted handoff's does: one more set per window acknowledged in time,
 * halved on a timeout, between 1 and transfer_batch, so the move yields to foreground traffic.
 *
 * A node that has left (status leaving, no partition in the table) and holds nothing more, data
 * or hints, marks itself removed: gossip then tells the cluster it can go.
 */
#include <stdlib.h>
#include <string.h>

#include "core/node_internal.h"
#include "core/status.h"

int node_xfer_init(dyn_node_t *node)
{
    node->xfer_window = node->config.transfer_batch;
    if (node->config.ring_cache) {
        node->rings = node->config.ring_cache;
    } else {
        node->rings = dyn_ring_cache_create();
        if (!node->rings)
            return DYN_ENOMEM;
        node->rings_own = true;
    }
    /* A view kept from an earlier incarnation may hold a newer table than the ring passed in. */
    return node_ring_follow(node);
}

void node_xfer_free(dyn_node_t *node)
{
    if (node->ring_held)
        dyn_ring_cache_release(node->rings, node->ring_held);
    node->ring_held = NULL;
    if (node->rings_own)
        dyn_ring_cache_destroy(node->rings);
    node->rings = NULL;
    node->rings_own = false;
}

int node_ring_follow(dyn_node_t *node)
{
    uint32_t partitions;
    const uint32_t *table = dyn_membership_ring(node->members, &partitions);
    uint64_t version = dyn_membership_ring_version(node->members);
    uint64_t hash = dyn_membership_ring_hash(node->members);
    if (!table || (version == node->ring_version && hash == node->ring_hash))
        return DYN_OK;
    const dyn_ring_config_t *config = dyn_ring_config(node->ring);
    /* A table for another ring (not S3, another partition count) cannot be followed. */
    if (config->strategy != DYN_STRATEGY_S3 || partitions != config->partitions)
        return DYN_EINVAL;
    const dyn_ring_t *next;
    int rc = dyn_ring_cache_acquire(node->rings, config, table, &next);
    if (rc != DYN_OK)
        return rc;
    if (node->ring_held)
        dyn_ring_cache_release(node->rings, node->ring_held);
    node->ring_held = next;
    node->ring = next;
    node->ring_version = version;
    node->ring_hash = hash;
    node->ring_moved = true;
    node->ring_changed_at = node->now_us;
    node->xfer_pending = true;
    node->stats.ring_changes++;
    dyn_trace_event_t ev = {.kind = DYN_TRACE_RING, .a = (int64_t)version};
    dyn_env_trace(&node->env, &ev);
    /* The trees were of the ranges the old ring gave this node (at create, none are built yet). */
    if (node->config.anti_entropy && node->ae.range_count) {
        node_ae_free(node);
        rc = node_ae_init(node);
    }
    return rc;
}

uint32_t node_owners(const dyn_node_t *node, uint64_t key_hash, uint32_t *out)
{
    return (uint32_t)dyn_ring_preference_list(node->ring, key_hash, out, node->config.n);
}

void node_xfer_note_write(dyn_node_t *node, uint64_t key_hash)
{
    if (!node->xfer_pending &&
        !dyn_ring_is_replica(node->ring, key_hash, node->config.id, node->config.n))
        node->xfer_pending = true;
}

typedef struct xfer_round {
    dyn_node_t *node;
    uint32_t budget;
    uint32_t found; /* keys not owned here: sent, or waiting for an owner to be heard from */
} xfer_round_t;

static int xfer_one(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                    size_t blob_length)
{
    xfer_round_t *round = arg;
    dyn_node_t *node = round->node;
    uint32_t owners[DYN_N_MAX];
    uint64_t key_hash = dyn_ring_hash(key, key_length);
    uint32_t n = node_owners(node, key_hash, owners);
    for (uint32_t i = 0; i < n; i++)
        if (owners[i] == node->config.id)
            return 0;
    round->found++;
    if (round->budget == 0)
        return 1;
    for (uint32_t i = 0; i < n; i++)
        if (node_suspected(node, owners[i]))
            return 0; /* every owner must take it: wait until this one is heard from */
    if (node_handoff_send(node, DYN_SPACE_DATA, key, key_length, key, key_length, key_hash,
                          owners, n, blob, blob_length) != DYN_OK)
        return 1;
    node->stats.transfer_sent++;
    round->budget--;
    return 0;
}

static bool self_leaving(const dyn_node_t *node)
{
    const dyn_member_t *self = dyn_membership_find(node->members, node->config.id);
    return self && self->status == DYN_MEMBER_LEAVING;
}

void node_xfer_tick(dyn_node_t *node, dyn_time_us now_us)
{
    (void)now_us;
    /* A table the ring could not follow when it came (out of memory) is tried again. */
    (void)node_ring_follow(node);
    if (node->xfers_in_flight > 0)
        return;
    if (node->xfer_pending) {
        node->stats.transfer_rounds++;
        xfer_round_t round = {node, node->xfer_window, 0};
        int rc = node->storage.ops->scan(node->storage.ctx, DYN_SPACE_DATA, xfer_one, &round);
        /* Done only after a whole scan found nothing to move (a scan error proves nothing). */
        if (rc >= 0 && round.found == 0 && node->xfers_in_flight == 0)
            node->xfer_pending = false;
    }
    if (!node->xfer_pending && node->hints == 0 && self_leaving(node) && node->ring_moved &&
        dyn_ring_ownership(node->ring, node->config.id, node->config.n) == 0.0) {
        const dyn_member_t *self = dyn_membership_find(node->members, node->config.id);
        (void)dyn_node_member_change(node, node->config.id, DYN_MEMBER_REMOVED, self->zone);
    }
}

bool node_xfer_unsettled(const dyn_node_t *node, dyn_time_us now_us)
{
    return node->ring_moved &&
           (node->xfer_pending || node->xfers_in_flight > 0 ||
            now_us - node->ring_changed_at < node->config.tombstone_grace_us);
}

const dyn_ring_t *dyn_node_ring(const dyn_node_t *node) { return node->ring; }
uint64_t dyn_node_ring_version(const dyn_node_t *node) { return node->ring_version; }

int dyn_node_transfer_idle(const dyn_node_t *node)
{
    return !node->xfer_pending && node->xfers_in_flight == 0;
}
