/* sim_net.c: delay rules; the per-type table is indexed by message type, NULL meaning default. */
#include "sim/sim_net.h"

#include <stdlib.h>

struct sim_net {
    sim_dist_t latency;
    sim_dist_t *per_type[DYN_MSG_TYPE_MAX_ + 1];
};

sim_net_t *sim_net_create(void)
{
    sim_net_t *net = calloc(1, sizeof(*net));
    if (net)
        net->latency = sim_dist_constant(1000);
    return net;
}

void sim_net_destroy(sim_net_t *net)
{
    if (!net)
        return;
    sim_dist_free(&net->latency);
    for (int i = 0; i <= DYN_MSG_TYPE_MAX_; i++) {
        if (net->per_type[i]) {
            sim_dist_free(net->per_type[i]);
            free(net->per_type[i]);
        }
    }
    free(net);
}

int sim_net_set_latency(sim_net_t *net, const sim_dist_t *dist)
{
    sim_dist_t copy;
    if (sim_dist_copy(&copy, dist) != 0)
        return -1;
    sim_dist_free(&net->latency);
    net->latency = copy;
    return 0;
}

int sim_net_set_latency_for(sim_net_t *net, dyn_msg_type_t type, const sim_dist_t *dist)
{
    if ((int)type < 1 || type > DYN_MSG_TYPE_MAX_)
        return -1;
    sim_dist_t *copy = malloc(sizeof(*copy));
    if (!copy || sim_dist_copy(copy, dist) != 0) {
        free(copy);
        return -1;
    }
    if (net->per_type[type]) {
        sim_dist_free(net->per_type[type]);
        free(net->per_type[type]);
    }
    net->per_type[type] = copy;
    return 0;
}

const sim_dist_t *sim_net_latency(const sim_net_t *net) { return &net->latency; }

dyn_time_us sim_net_delay(const sim_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                          dyn_msg_type_t type, gsl_rng *rng)
{
    (void)from;
    (void)to;
    const sim_dist_t *d = &net->latency;
    if ((int)type >= 1 && type <= DYN_MSG_TYPE_MAX_ && net->per_type[type])
        d = net->per_type[type];
    double us = sim_dist_sample(d, rng);
    /* At least one microsecond: a reply must never arrive in the same instant it was caused. */
    return us < 1.0 ? 1 : (dyn_time_us)us;
}
