/*
 * detector.c: a SWIM-style failure detector (Das, Gupta, Motivala 2002), optional.
 *
 * The paper's detection is local and passive: a peer is suspected when it misses a request's
 * deadline. That notices nothing while there is no traffic to a peer, so a client would be the
 * first to pay for a dead replica. With fd_interval set, each node also probes one member per
 * period, in a random order that visits every member once per pass (SWIM's round robin: a dead
 * member is probed by every node within one pass). A probe is a PING; if no PONG comes within
 * fd_timeout, the node asks fd_indirect other members to ping the target on its behalf (PING_REQ)
 * and relay the answer, so one lossy link or one lost datagram does not condemn a live member.
 * If nothing has come back when the period ends, the target is suspected, exactly as a missed
 * request deadline suspects it: the sloppy quorum routes around it and the periodic probe of
 * suspects notices its return.
 *
 * Why SWIM and not phi accrual: a phi detector needs a steady heartbeat from every member it
 * judges, all-to-all or gossiped, whose cost grows with the cluster; a SWIM probe costs each node
 * one ping a period whatever the size, and its false-positive rate under loss is set by the
 * indirect probes rather than by a threshold to tune. Suspicion stays local (no dissemination), as
 * the paper's does: each node detects on its own, within one pass of the members.
 *
 * Ids: a probe's PING carries this node's probe id (top bits DETECTOR_TAG), and a relayed probe
 * the requester's id, so PONGs find their way without a table at the target.
 */
#include <stdlib.h>
#include <string.h>

#include "core/node_internal.h"
#include "core/prng.h"
#include "core/status.h"

#define DETECTOR_TAG (3ULL << 62)
#define RELAY_TAG (1ULL << 62)

typedef struct relay {
    uint32_t requester, target;
    uint64_t requester_id;     /* the requester's probe id, echoed back to it */
    uint64_t my_id;            /* the id of the ping this node sent the target */
    dyn_time_us deadline_us;
} relay_t;

#define RELAYS_MAX 16u

struct node_detector {
    uint32_t *order;           /* members to probe this pass, in random order */
    uint32_t order_count, order_next;
    uint32_t target;           /* the member under probe, or 0 */
    uint64_t probe_id;         /* the current probe's id (DETECTOR_TAG | counter) */
    uint64_t counter;
    bool indirect;             /* PING_REQs sent for the current probe */
    dyn_time_us started_us, next_at;
    relay_t relays[RELAYS_MAX];
};

int node_fd_init(dyn_node_t *node)
{
    node->detector = calloc(1, sizeof(node_detector_t));
    return node->detector ? DYN_OK : DYN_ENOMEM;
}

void node_fd_free(dyn_node_t *node)
{
    if (!node->detector)
        return;
    free(node->detector->order);
    free(node->detector);
    node->detector = NULL;
}

static bool probeable(const dyn_node_t *node, const dyn_member_t *e)
{
    return e->id != node->config.id && e->status != DYN_MEMBER_REMOVED;
}

/* A new pass: every probeable member once, shuffled (Fisher-Yates on the node's stream). */
static void new_pass(dyn_node_t *node)
{
    node_detector_t *d = node->detector;
    size_t count = dyn_membership_count(node->members);
    uint32_t *order = realloc(d->order, (count ? count : 1) * sizeof(uint32_t));
    if (!order)
        return;
    d->order = order;
    d->order_count = 0;
    for (size_t i = 0; i < count; i++) {
        const dyn_member_t *e = dyn_membership_at(node->members, i);
        if (probeable(node, e))
            d->order[d->order_count++] = e->id;
    }
    for (uint32_t i = d->order_count; i > 1; i--) {
        uint32_t j = (uint32_t)dyn_prng_below(&node->prng, i);
        uint32_t t = d->order[i - 1];
        d->order[i - 1] = d->order[j];
        d->order[j] = t;
    }
    d->order_next = 0;
}

static void send_ping(dyn_node_t *node, uint32_t to, uint64_t id)
{
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_PING);
    m.request_id = id;
    node_send_msg(node, to, &m);
}

static void end_probe(node_detector_t *d)
{
    d->target = 0;
    d->indirect = false;
}

void node_fd_tick(dyn_node_t *node, dyn_time_us now_us)
{
    node_detector_t *d = node->detector;
    const dyn_node_config_t *c = &node->config;
    if (c->fd_interval_us == 0)
        return;
    for (uint32_t i = 0; i < RELAYS_MAX; i++)
        if (d->relays[i].requester && now_us >= d->relays[i].deadline_us)
            d->relays[i].requester = 0;
    if (d->target) {
        if (now_us >= d->started_us + c->fd_interval_us) {
            /* Neither the target nor any helper answered within the period. */
            node->stats.fd_suspicions += !node_suspected(node, d->target);
            node_suspect(node, d->target);
            end_probe(d);
        } else if (!d->indirect && now_us >= d->started_us + c->fd_timeout_us) {
            d->indirect = true;
            /* Up to fd_indirect helpers: random members other than this node and the target. */
            uint32_t asked = 0;
            for (uint32_t tries = 0; asked < c->fd_indirect && tries < 4u * c->fd_indirect + 8u;
                 tries++) {
                size_t count = dyn_membership_count(node->members);
                if (count == 0)
                    break;
                const dyn_member_t *e =
                    dyn_membership_at(node->members, dyn_prng_below(&node->prng, count));
                if (!probeable(node, e) || e->id == d->target || node_suspected(node, e->id))
                    continue;
                dyn_msg_t m;
                dyn_msg_init(&m, DYN_MSG_PING_REQ);
                m.request_id = d->probe_id;
                m.hint = d->target;
                node_send_msg(node, e->id, &m);
                node->stats.fd_indirect++;
                asked++;
            }
        }
    }
    if (d->target || now_us < d->next_at)
        return;
    d->next_at = now_us + c->fd_interval_us;
    if (d->order_next >= d->order_count)
        new_pass(node);
    if (d->order_next >= d->order_count)
        return; /* nobody to probe */
    d->target = d->order[d->order_next++];
    d->probe_id = DETECTOR_TAG | (++d->counter & ((1ULL << 60) - 1));
    d->started_us = now_us;
    d->indirect = false;
    node->stats.fd_probes++;
    send_ping(node, d->target, d->probe_id);
}

void node_fd_on_pong(dyn_node_t *node, dyn_endpoint_t from, uint64_t id)
{
    node_detector_t *d = node->detector;
    if ((id & DETECTOR_TAG) == DETECTOR_TAG) {
        /* An answer to this node's probe, direct (from the target) or relayed (from a helper). */
        if (d->target && id == d->probe_id)
            end_probe(d);
        return;
    }
    if ((id & DETECTOR_TAG) != RELAY_TAG)
        return; /* a probe of a suspect (node.c's tick), or a stray */
    for (uint32_t i = 0; i < RELAYS_MAX; i++) {
        relay_t *r = &d->relays[i];
        if (r->requester && r->my_id == id && r->target == from) {
            dyn_msg_t m;
            dyn_msg_init(&m, DYN_MSG_PONG);
            m.request_id = r->requester_id;
            node_send_msg(node, r->requester, &m);
            r->requester = 0;
            return;
        }
    }
}

void node_fd_on_ping_req(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    node_detector_t *d = node->detector;
    if ((msg->request_id & DETECTOR_TAG) != DETECTOR_TAG || msg->hint == 0 ||
        msg->hint == node->config.id) {
        node->stats.stray_messages++;
        return;
    }
    for (uint32_t i = 0; i < RELAYS_MAX; i++) {
        relay_t *r = &d->relays[i];
        if (r->requester)
            continue;
        *r = (relay_t){.requester = from, .target = msg->hint, .requester_id = msg->request_id,
                       .my_id = RELAY_TAG | (++d->counter & ((1ULL << 60) - 1)),
                       .deadline_us = node->now_us + node->config.fd_interval_us};
        send_ping(node, r->target, r->my_id);
        return;
    }
    /* Every relay slot busy: the requester's other helpers, or its next period, will do. */
}
