/*
 * gossip.c: a node's membership view, persisted, and spread by push-pull gossip (paper 4.8.1).
 *
 * Every gossip_interval a node sends one random member (not itself, not removed) the digest of
 * its view and asks for the member's view should it differ. The exchange is stateless:
 *   - a GOSSIP carrying a view is merged in;
 *   - a GOSSIP that asks for a reply is answered, when the views still differ after that merge,
 *     with this node's view, asking back only if the question carried no view, so the asker can
 *     send what only it knows. A view sent without a question is never answered: an exchange is
 *     one digest and at most two views, and cannot loop.
 * Views merge member by member by version (membership.h), so any order of exchanges converges,
 * each round spreading a change to about as many nodes again as know it: O(log n) rounds.
 *
 * The view is written to the META space whenever it changes. A view merged from gossip is not
 * synced: a crash that loses it costs nothing the next exchange does not bring back. A change
 * made here (a member's status, a committed ring) is, as no other node has it yet.
 */
#include <stdlib.h>
#include <string.h>

#include "core/node_internal.h"
#include "core/status.h"

static const uint8_t members_key[] = "members";

/* Encode the view into node->members_buf; returns its length or a negative status. */
static int encode_view(dyn_node_t *node)
{
    size_t size = dyn_codec_membership_size(node->members);
    if (size > node->members_buf_capacity) {
        uint8_t *grown = realloc(node->members_buf, size);
        if (!grown)
            return DYN_ENOMEM;
        node->members_buf = grown;
        node->members_buf_capacity = size;
    }
    return dyn_codec_encode_membership(node->members, node->members_buf, size);
}

static int persist(dyn_node_t *node)
{
    int length = encode_view(node);
    if (length < 0)
        return length;
    return node->storage.ops->put(node->storage.ctx, DYN_SPACE_META, members_key,
                                  sizeof(members_key) - 1, node->members_buf, (size_t)length);
}

/*
 * A change made here (an admin's, or a commit) exists nowhere else until gossip carries it: it
 * is synced, so a crash before the first exchange does not take it back.
 */
static int persist_synced(dyn_node_t *node)
{
    int rc = persist(node);
    return rc == DYN_OK ? node->storage.ops->sync(node->storage.ctx) : rc;
}

int node_gossip_init(dyn_node_t *node)
{
    node->members = dyn_membership_create();
    if (!node->members)
        return DYN_ENOMEM;
    const uint8_t *blob;
    size_t length;
    int rc = node->storage.ops->get(node->storage.ctx, DYN_SPACE_META, members_key,
                                    sizeof(members_key) - 1, &blob, &length);
    if (rc == DYN_ENOTFOUND)
        return DYN_OK;
    if (rc != DYN_OK)
        return rc;
    /* The node wrote this itself; a view that does not decode is a broken invariant. */
    rc = dyn_codec_decode_membership(blob, length, node->members);
    DYN_ASSERT(rc == DYN_OK || rc == DYN_ENOMEM);
    return rc;
}

void node_gossip_free(dyn_node_t *node)
{
    dyn_membership_destroy(node->members);
    free(node->members_buf);
    node->members = NULL;
    node->members_buf = NULL;
}

const dyn_membership_t *dyn_node_membership(const dyn_node_t *node) { return node->members; }

int dyn_node_merge_members(dyn_node_t *node, const dyn_membership_t *view)
{
    int changed = dyn_membership_merge(node->members, view);
    if (changed > 0) {
        node->stats.membership_changes += (uint64_t)changed;
        int rc = persist(node);
        if (rc == DYN_OK)
            rc = node_ring_follow(node);
        if (rc != DYN_OK)
            return rc;
    }
    return changed;
}

int dyn_node_member_change(dyn_node_t *node, uint32_t id, dyn_member_status_t status,
                           uint16_t zone)
{
    const dyn_member_t *known = dyn_membership_find(node->members, id);
    dyn_member_t e;
    if (known) {
        e = *known;
    } else {
        memset(&e, 0, sizeof(e));
        e.id = id;
    }
    e.status = (uint8_t)status;
    e.zone = zone;
    e.version = known ? known->version + 1 : 1;
    int rc = dyn_membership_apply(node->members, &e);
    if (rc <= 0)
        return rc;
    node->stats.membership_changes++;
    rc = persist_synced(node);
    return rc == DYN_OK ? 1 : rc;
}

int64_t dyn_node_ring_commit(dyn_node_t *node, const uint32_t *owners)
{
    const dyn_ring_config_t *rc = dyn_ring_config(node->ring);
    if (rc->strategy != DYN_STRATEGY_S3)
        return DYN_EINVAL;
    uint64_t version = dyn_membership_ring_version(node->members) + 1;
    int status = dyn_membership_set_ring(node->members, version, owners, rc->partitions);
    if (status < 0)
        return status;
    node->stats.membership_changes++;
    status = persist_synced(node);
    if (status == DYN_OK)
        status = node_ring_follow(node);
    return status == DYN_OK ? (int64_t)version : status;
}

static void send_gossip(dyn_node_t *node, dyn_endpoint_t to, uint8_t flags)
{
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_GOSSIP);
    m.gossip_flags = flags;
    m.print = dyn_membership_digest(node->members);
    if (flags & DYN_GOSSIP_STATE) {
        int length = encode_view(node);
        if (length < 0)
            return;
        m.members_blob = node->members_buf;
        m.members_length = (uint32_t)length;
    }
    int sent = node_send_msg(node, to, &m);
    if (sent > 0) {
        node->stats.gossip_sent++;
        node->stats.gossip_bytes += (uint64_t)sent;
    }
}

void node_gossip_tick(dyn_node_t *node, dyn_time_us now_us)
{
    if (node->config.gossip_interval_us == 0 || now_us < node->gossip_next_at)
        return;
    node->gossip_next_at = now_us + node->config.gossip_interval_us;
    /* A random member other than this node and not removed: draw among those only. */
    size_t count = dyn_membership_count(node->members), eligible = 0;
    for (size_t i = 0; i < count; i++) {
        const dyn_member_t *e = dyn_membership_at(node->members, i);
        eligible += e->id != node->config.id && e->status != DYN_MEMBER_REMOVED;
    }
    if (eligible == 0)
        return;
    uint64_t pick = dyn_prng_below(&node->prng, eligible);
    for (size_t i = 0; i < count; i++) {
        const dyn_member_t *e = dyn_membership_at(node->members, i);
        if (e->id == node->config.id || e->status == DYN_MEMBER_REMOVED)
            continue;
        if (pick-- == 0) {
            send_gossip(node, e->id, DYN_GOSSIP_REPLY);
            return;
        }
    }
}

void node_gossip_nudge(dyn_node_t *node, dyn_endpoint_t peer)
{
    if (node->gossip_nudged_at && node->now_us - node->gossip_nudged_at < node->config.tick_us)
        return;
    node->gossip_nudged_at = node->now_us ? node->now_us : 1;
    send_gossip(node, peer, DYN_GOSSIP_REPLY);
}

void node_gossip_on_message(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    if (msg->gossip_flags & DYN_GOSSIP_STATE) {
        /* The codec checked the view; merging can only run out of memory or room. */
        int changed = dyn_codec_merge_membership(msg->members_blob, msg->members_length,
                                                 node->members);
        if (changed > 0) {
            node->stats.membership_changes += (uint64_t)changed;
            (void)persist(node);
            /* Out of memory keeps the old ring; the next tick tries again (node_xfer_tick). */
            (void)node_ring_follow(node);
        }
    }
    if ((msg->gossip_flags & DYN_GOSSIP_REPLY) &&
        dyn_membership_digest(node->members) != msg->print) {
        uint8_t flags = DYN_GOSSIP_STATE;
        if (!(msg->gossip_flags & DYN_GOSSIP_STATE))
            flags |= DYN_GOSSIP_REPLY;
        send_gossip(node, from, flags);
    }
}
