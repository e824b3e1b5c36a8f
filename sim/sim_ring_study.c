/*
 * sim_ring_study.c: one ring, every key's preference list, loads summed per node.
 */
#include "sim/sim_ring_study.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/node.h"
#include "core/status.h"

int sim_ring_study(const sim_ring_study_config_t *c, sim_ring_study_result_t *out)
{
    if (c->nodes == 0 || c->n == 0 || c->n > c->nodes || c->n > DYN_N_MAX || c->keys == 0 ||
        !(c->zipf_s >= 0))
        return DYN_EINVAL;
    uint32_t *ids = malloc(c->nodes * sizeof *ids);
    double *load = calloc(c->nodes + 1, sizeof *load);
    if (!ids || !load) {
        free(ids);
        free(load);
        return DYN_ENOMEM;
    }
    for (uint32_t i = 0; i < c->nodes; i++)
        ids[i] = i + 1;
    dyn_ring_t *ring;
    int rc = dyn_ring_create(&ring, &c->ring, ids, c->nodes);
    free(ids);
    if (rc != DYN_OK) {
        free(load);
        return rc;
    }
    double total = 0;
    for (uint32_t k = 1; k <= c->keys; k++) {
        char key[24];
        int length = snprintf(key, sizeof key, "k%u", k);
        double weight = c->zipf_s > 0 ? 1.0 / pow((double)k, c->zipf_s) : 1.0;
        uint32_t list[DYN_N_MAX];
        size_t count = dyn_ring_preference_list(ring, dyn_ring_hash(key, (size_t)length), list,
                                                c->n);
        for (size_t i = 0; i < count; i++)
            load[list[i]] += weight;
        total += weight * (double)count;
    }
    double max = 0;
    for (uint32_t id = 1; id <= c->nodes; id++)
        if (load[id] > max)
            max = load[id];
    out->efficiency = max > 0 ? total / c->nodes / max : 0;
    out->max_share = total > 0 ? max / total : 0;
    if (c->ring.strategy == DYN_STRATEGY_S3) {
        out->metadata_entries = c->ring.partitions;
        out->metadata_bytes = (uint64_t)c->ring.partitions * 4;
    } else {
        out->metadata_entries = dyn_ring_token_count(ring);
        out->metadata_bytes = out->metadata_entries * 12;
    }
    dyn_ring_destroy(ring);
    free(load);
    return 0;
}
