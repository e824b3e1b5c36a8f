/*
 * sim_net.h: the network model: how long each datagram takes, per link and per message kind.
 *
 * Every datagram's delay is drawn from a distribution chosen by the most specific rule that
 * matches: a per-message-kind distribution (request, replica read, replica write, their replies)
 * if one is set, else the network default. The trade-off lab models latency per message kind, and
 * the fault model (partitions, loss, duplication, clogging) will attach to the same per-link
 * decision; both fit here without changing the world. All draws come from the network stream.
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
 * Decide the fate of one datagram: returns the one-way delay in microseconds (>= 1).
 * `type` is the message type read from the header, 0 if unreadable.
 */
dyn_time_us sim_net_delay(const sim_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                          dyn_msg_type_t type, gsl_rng *rng);

#endif
