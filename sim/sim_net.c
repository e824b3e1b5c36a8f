/*
 * sim_net.c: delay rules plus the fault state. Blocks are a dense bitmap over ordered node pairs
 * (n^2 bits: 128 KiB at 1,024 nodes), allocated at the first partition; clogs are a short list.
 * `faulty` summarises whether any fault is set, so the common path tests one flag. Link latency
 * rules are a dense table of rule numbers over ordered node pairs (2 bytes a pair), also allocated
 * only when the first rule is set.
 */
#include "sim/sim_net.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define CLOGS_MAX 1024u

/*
 * Delays of the default latency are drawn this many at a time. One draw is a ziggurat normal and
 * an exp, whose code and tables the node's work between two sends pushes out of cache; drawn in
 * a run, they stay in cache and the independent draws overlap. The draws are the same i.i.d.
 * samples from the same stream, only taken earlier, so a run stays a function of its seed.
 */
#define DELAY_BATCH 64u

typedef struct clog {
    uint32_t from, to;        /* 0: any node */
    dyn_time_us until_us;
} clog_t;

struct sim_net {
    sim_dist_t latency;
    sim_dist_t *per_type[DYN_MSG_TYPE_MAX_ + 1];
    uint32_t nodes;
    uint64_t *blocked;        /* bit (from - 1) * nodes + (to - 1) */
    size_t blocked_count;
    double loss, duplicate;
    clog_t clogs[CLOGS_MAX];
    uint32_t clog_count;
    int faulty;
    sim_net_stats_t stats;
    dyn_time_us delays[DELAY_BATCH];  /* drawn from `latency`, used from delay_next on */
    uint32_t delay_next, delay_count;
    uint16_t *link_rule;      /* [(from - 1) * nodes + (to - 1)]: 0, or 1 + index in link_dists */
    sim_dist_t *link_dists;
    uint32_t link_dist_count;
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
    free(net->blocked);
    for (uint32_t i = 0; i < net->link_dist_count; i++)
        sim_dist_free(&net->link_dists[i]);
    free(net->link_dists);
    free(net->link_rule);
    free(net);
}

int sim_net_set_latency(sim_net_t *net, const sim_dist_t *dist)
{
    sim_dist_t copy;
    if (sim_dist_copy(&copy, dist) != 0)
        return -1;
    sim_dist_free(&net->latency);
    net->latency = copy;
    net->delay_next = net->delay_count = 0; /* drawn from the old latency: not for this one */
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
const sim_net_stats_t *sim_net_stats(const sim_net_t *net) { return &net->stats; }

static int is_node(const sim_net_t *net, uint32_t id) { return id >= 1 && id <= net->nodes; }

/* Index of the ordered pair (from, to) of nodes in the blocked bitmap and the link rule table. */
static size_t bit_of(const sim_net_t *net, uint32_t from, uint32_t to)
{
    return (size_t)(from - 1) * net->nodes + (to - 1);
}

static inline dyn_time_us draw_delay(const sim_dist_t *d, gsl_rng *rng)
{
    double us = sim_dist_sample(d, rng);
    /* At least one microsecond: a reply must never arrive in the same instant it was caused. */
    return us < 1.0 ? 1 : (dyn_time_us)us;
}

dyn_time_us sim_net_delay(sim_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                          dyn_msg_type_t type, gsl_rng *rng)
{
    if (net->link_rule && is_node(net, from) && is_node(net, to)) {
        uint16_t rule = net->link_rule[bit_of(net, from, to)];
        if (rule)
            return draw_delay(&net->link_dists[rule - 1], rng);
    }
    if ((int)type >= 1 && type <= DYN_MSG_TYPE_MAX_ && net->per_type[type])
        return draw_delay(net->per_type[type], rng);
    if (net->delay_next == net->delay_count) {
        for (uint32_t i = 0; i < DELAY_BATCH; i++)
            net->delays[i] = draw_delay(&net->latency, rng);
        net->delay_next = 0;
        net->delay_count = DELAY_BATCH;
    }
    return net->delays[net->delay_next++];
}

int sim_net_set_link_latency(sim_net_t *net, const uint32_t *from, size_t from_count,
                             const uint32_t *to, size_t to_count, const sim_dist_t *dist)
{
    if (net->nodes == 0)
        return DYN_EINVAL;
    for (size_t i = 0; i < from_count; i++)
        if (!is_node(net, from[i]))
            return DYN_EINVAL;
    for (size_t i = 0; i < to_count; i++)
        if (!is_node(net, to[i]))
            return DYN_EINVAL;
    uint16_t rule = 0;
    if (dist) {
        if (net->link_dist_count == SIM_NET_LINK_RULES_MAX)
            return DYN_EFULL;
        sim_dist_t *grown =
            realloc(net->link_dists, (net->link_dist_count + 1) * sizeof(sim_dist_t));
        if (!grown)
            return DYN_ENOMEM;
        net->link_dists = grown;
        if (sim_dist_copy(&net->link_dists[net->link_dist_count], dist) != 0)
            return DYN_ENOMEM;
        rule = (uint16_t)++net->link_dist_count;
    }
    if (!net->link_rule) {
        if (!dist)
            return DYN_OK;   /* nothing to lift */
        net->link_rule = calloc((size_t)net->nodes * net->nodes, sizeof(uint16_t));
        if (!net->link_rule) {
            sim_dist_free(&net->link_dists[--net->link_dist_count]);
            return DYN_ENOMEM;
        }
    }
    for (size_t i = 0; i < from_count; i++)
        for (size_t j = 0; j < to_count; j++)
            if (from[i] != to[j])
                net->link_rule[bit_of(net, from[i], to[j])] = rule;
    return DYN_OK;
}

static void update_faulty(sim_net_t *net)
{
    net->faulty = net->blocked_count > 0 || net->loss > 0 || net->duplicate > 0 ||
                  net->clog_count > 0;
}

int sim_net_set_nodes(sim_net_t *net, uint32_t nodes)
{
    if (nodes == 0 || net->nodes)
        return DYN_EINVAL;
    net->nodes = nodes;
    return DYN_OK;
}

int sim_net_blocked(const sim_net_t *net, uint32_t from, uint32_t to)
{
    if (!net->blocked || !is_node(net, from) || !is_node(net, to))
        return 0;
    size_t bit = bit_of(net, from, to);
    return (int)((net->blocked[bit / 64] >> (bit % 64)) & 1u);
}

int sim_net_block(sim_net_t *net, uint32_t from, uint32_t to)
{
    if (!is_node(net, from) || !is_node(net, to) || from == to)
        return DYN_EINVAL;
    if (!net->blocked) {
        size_t bits = (size_t)net->nodes * net->nodes;
        net->blocked = calloc((bits + 63) / 64, sizeof(uint64_t));
        if (!net->blocked)
            return DYN_ENOMEM;
    }
    size_t bit = bit_of(net, from, to);
    if (!((net->blocked[bit / 64] >> (bit % 64)) & 1u)) {
        net->blocked[bit / 64] |= UINT64_C(1) << (bit % 64);
        net->blocked_count++;
    }
    update_faulty(net);
    return DYN_OK;
}

int sim_net_partition(sim_net_t *net, const uint32_t *group_of)
{
    if (net->nodes == 0)
        return DYN_EINVAL;
    for (uint32_t a = 1; a <= net->nodes; a++) {
        for (uint32_t b = 1; b <= net->nodes; b++) {
            uint32_t ga = group_of[a - 1], gb = group_of[b - 1];
            if (ga && gb && ga != gb) {
                int rc = sim_net_block(net, a, b);
                if (rc != DYN_OK)
                    return rc;
            }
        }
    }
    return DYN_OK;
}

int sim_net_isolate(sim_net_t *net, uint32_t node)
{
    if (!is_node(net, node))
        return DYN_EINVAL;
    for (uint32_t other = 1; other <= net->nodes; other++) {
        if (other == node)
            continue;
        int rc = sim_net_block(net, node, other);
        if (rc == DYN_OK)
            rc = sim_net_block(net, other, node);
        if (rc != DYN_OK)
            return rc;
    }
    return DYN_OK;
}

void sim_net_heal(sim_net_t *net)
{
    if (net->blocked)
        memset(net->blocked, 0,
               (((size_t)net->nodes * net->nodes + 63) / 64) * sizeof(uint64_t));
    net->blocked_count = 0;
    net->clog_count = 0;
    update_faulty(net);
}

int sim_net_set_loss(sim_net_t *net, double fraction)
{
    if (!(fraction >= 0 && fraction <= 1))
        return DYN_EINVAL;
    net->loss = fraction;
    update_faulty(net);
    return DYN_OK;
}

int sim_net_set_duplicate(sim_net_t *net, double fraction)
{
    if (!(fraction >= 0 && fraction <= 1))
        return DYN_EINVAL;
    net->duplicate = fraction;
    update_faulty(net);
    return DYN_OK;
}

int sim_net_clog(sim_net_t *net, uint32_t from, uint32_t to, dyn_time_us until_us)
{
    if ((from && !is_node(net, from)) || (to && !is_node(net, to)))
        return DYN_EINVAL;
    if (net->clog_count == CLOGS_MAX)
        return DYN_EFULL;
    net->clogs[net->clog_count++] = (clog_t){.from = from, .to = to, .until_us = until_us};
    update_faulty(net);
    return DYN_OK;
}

/* The latest end of any clog on the link that is still in force at now_us, or 0. */
static dyn_time_us clogged_until(sim_net_t *net, uint32_t from, uint32_t to, dyn_time_us now_us)
{
    dyn_time_us until = 0;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < net->clog_count; i++) {
        clog_t c = net->clogs[i];
        if (c.until_us <= now_us)
            continue; /* expired: drop it from the list */
        net->clogs[kept++] = c;
        if ((c.from == 0 || c.from == from) && (c.to == 0 || c.to == to) && c.until_us > until)
            until = c.until_us;
    }
    net->clog_count = kept;
    update_faulty(net);
    return until;
}

void sim_net_route(sim_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to, dyn_msg_type_t type,
                   dyn_time_us now_us, gsl_rng *rng, sim_net_fate_t *out)
{
    net->stats.routed++;
    out->dropped = SIM_NET_DELIVERED;
    if (!net->faulty) {
        out->copies = 1;
        out->deliver_at_us[0] = now_us + sim_net_delay(net, from, to, type, rng);
        return;
    }
    if (sim_net_blocked(net, from, to)) {
        out->copies = 0;
        out->dropped = SIM_NET_DROP_PARTITION;
        net->stats.dropped_partition++;
        return;
    }
    if (net->loss > 0 && gsl_rng_uniform(rng) < net->loss) {
        out->copies = 0;
        out->dropped = SIM_NET_DROP_LOSS;
        net->stats.dropped_loss++;
        return;
    }
    out->copies = 1;
    if (net->duplicate > 0 && gsl_rng_uniform(rng) < net->duplicate) {
        out->copies = 2;
        net->stats.duplicated++;
    }
    dyn_time_us hold = net->clog_count ? clogged_until(net, from, to, now_us) : 0;
    if (hold)
        net->stats.clogged++;
    for (uint32_t c = 0; c < out->copies; c++) {
        dyn_time_us at = now_us + sim_net_delay(net, from, to, type, rng);
        /* A clogged link releases what it held in send order: the heap keeps insertion order
         * among equal times, so everything held lands at the end of the clog, in order. */
        out->deliver_at_us[c] = at < hold ? hold : at;
    }
}
