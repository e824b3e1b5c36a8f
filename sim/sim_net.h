/*
 * sim_net.h: the network model: whether each datagram arrives, how many times, and when.
 *
 * Delay: every datagram's delay is drawn from a distribution chosen by the most specific rule that
 * matches: a per-link distribution (an ordered pair of nodes: a slow link, a second datacenter),
 * else a per-message-kind distribution (request, replica read, replica write, their replies) if
 * one is set, else the network default.
 *
 * Faults, named as in Jepsen and FoundationDB: a partition blocks every node pair across its
 * groups (nodes in no group keep talking to everyone, which is how a bridge is built); a block is
 * one-way; isolate cuts one node off; loss drops and duplication doubles a fraction of all
 * datagrams; a clogged link holds what is sent on it until the clog ends (FoundationDB's
 * clogging), then delivers it in send order. Partitions apply between nodes; clients reach every
 * node unless loss or duplication says otherwise.
 *
 * With no fault set, routing costs one branch and draws exactly what it drew before faults
 * existed, so fault-free runs keep their digests. All draws come from the caller's stream.
 *
 * Ownership: the net owns copies of the distributions it is given.
 */
#ifndef SIM_NET_H
#define SIM_NET_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

#include "core/codec.h"
#include "core/env.h"
#include "sim/sim_dist.h"

typedef struct sim_net sim_net_t;

sim_net_t *sim_net_create(void);
void sim_net_destroy(sim_net_t *net);

/* Replace the default one-way delay (microseconds). Returns 0 or -1 on allocation failure. */
int sim_net_set_latency(sim_net_t *net, const sim_dist_t *dist);
/* Delay for one message type; overrides the default for it. */
int sim_net_set_latency_for(sim_net_t *net, dyn_msg_type_t type, const sim_dist_t *dist);
const sim_dist_t *sim_net_latency(const sim_net_t *net);
/*
 * Delay on every link from a node of `from` to a node of `to` (one way; a node to itself is left
 * alone), over the per-kind and default rules; `dist` NULL lifts the link rule from those links.
 * Needs the node count (sim_net_set_nodes). Returns DYN_OK, DYN_EINVAL for an unknown node,
 * DYN_EFULL past SIM_NET_LINK_RULES_MAX calls that set a distribution, or DYN_ENOMEM.
 */
#define SIM_NET_LINK_RULES_MAX 65535u
int sim_net_set_link_latency(sim_net_t *net, const uint32_t *from, size_t from_count,
                             const uint32_t *to, size_t to_count, const sim_dist_t *dist);

/*
 * The one-way delay of a datagram in microseconds (>= 1), ignoring faults. `type` is the message
 * type read from the header, 0 if unreadable. Delays of the default latency are drawn from `rng`
 * in batches, so a call may draw nothing or many; the sequence of delays is still a function of
 * the stream's seed.
 */
dyn_time_us sim_net_delay(sim_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                          dyn_msg_type_t type, gsl_rng *rng);

typedef enum sim_net_drop {
    SIM_NET_DELIVERED = 0,
    SIM_NET_DROP_PARTITION = 1,
    SIM_NET_DROP_LOSS = 2,
} sim_net_drop_t;

/* The fate of one datagram: dropped (copies 0, and why) or delivered once or twice, when. */
typedef struct sim_net_fate {
    uint32_t copies;
    sim_net_drop_t dropped;
    dyn_time_us deliver_at_us[2];
} sim_net_fate_t;

typedef struct sim_net_stats {
    uint64_t routed, dropped_partition, dropped_loss, duplicated, clogged;
} sim_net_stats_t;

void sim_net_route(sim_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to, dyn_msg_type_t type,
                   dyn_time_us now_us, gsl_rng *rng, sim_net_fate_t *out);

/* Node ids run 1..nodes; partitions and blocks name them. Call once the cluster exists. */
int sim_net_set_nodes(sim_net_t *net, uint32_t nodes);
/*
 * Partition: group_of[i] is the group of node i + 1, 0 for a node in no group. Every pair of
 * nodes in different nonzero groups is blocked both ways; other blocks stay. DYN_EINVAL if the
 * node count is unset.
 */
int sim_net_partition(sim_net_t *net, const uint32_t *group_of);
/* Block datagrams from `from` to `to` (one way). DYN_EINVAL for an unknown node. */
int sim_net_block(sim_net_t *net, uint32_t from, uint32_t to);
/* Block every datagram to and from `node`. */
int sim_net_isolate(sim_net_t *net, uint32_t node);
/* Remove every block and clog. Loss and duplication stay (set them to 0 to end them). */
void sim_net_heal(sim_net_t *net);
/* Fractions in [0, 1] of all datagrams dropped / delivered twice. DYN_EINVAL outside. */
int sim_net_set_loss(sim_net_t *net, double fraction);
int sim_net_set_duplicate(sim_net_t *net, double fraction);
/* Hold datagrams from `from` to `to` until `until_us` (0 for either end: any node). */
int sim_net_clog(sim_net_t *net, uint32_t from, uint32_t to, dyn_time_us until_us);
/* True if datagrams from `from` to `to` are blocked now. */
int sim_net_blocked(const sim_net_t *net, uint32_t from, uint32_t to);
const sim_net_stats_t *sim_net_stats(const sim_net_t *net);

#endif
