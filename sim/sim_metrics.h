/*
 * sim_metrics.h: the history of every client operation and exact latency percentiles.
 *
 * Each completed client operation is appended to the history (kind, outcome, start and end in
 * simulated time, attempts, coordinator). Percentiles are exact, computed by sorting the recorded
 * latencies of successful operations: a simulator has every sample, so there is no reason to
 * approximate with a histogram. Nearest-rank definition: pXX is the smallest latency such that at
 * least XX % of samples are <= it.
 *
 * Ownership: the metrics object owns its history; records returned by sim_metrics_history()
 * borrow it until the next record call.
 */
#ifndef SIM_METRICS_H
#define SIM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/client.h"
#include "core/env.h"

typedef struct sim_op_record {
    dyn_time_us start_us, end_us;
    int32_t status;
    uint32_t coordinator;
    uint8_t kind;      /* dyn_op_kind_t */
    uint8_t attempts;
    uint16_t siblings; /* get: live versions returned */
    uint8_t freshness; /* get: SIM_FRESHNESS_* */
} sim_op_record_t;

/*
 * Whether a successful get saw the latest write acknowledged before it started (the read is
 * stale when the answer neither holds that write nor supersedes it: what PBS calls a violation
 * of t-visibility). A workload's gets are judged against its own acknowledged writes (two
 * workloads on one key space do not see each other's, so staleness is then under-counted);
 * scenario calls are unchecked.
 */
enum {
    SIM_FRESHNESS_UNCHECKED = 0, /* not a get, failed, or no write acknowledged before it */
    SIM_FRESHNESS_FRESH = 1,
    SIM_FRESHNESS_STALE = 2,
};

typedef struct sim_op_summary {
    uint64_t count;      /* completed operations */
    uint64_t ok;         /* DYN_OK, and DYN_ENOTFOUND for reads (a successful answer) */
    uint64_t not_found;  /* of ok: gets that found no live version */
    uint64_t failed;     /* everything else */
    uint64_t timeouts;   /* of failed: DYN_ETIMEDOUT */
    /* Latency of ok operations, microseconds; 0 when there are none. */
    double mean_us;
    uint64_t p50_us, p90_us, p99_us, p999_us, max_us;
} sim_op_summary_t;

typedef struct sim_metrics sim_metrics_t;

sim_metrics_t *sim_metrics_create(void);
void sim_metrics_destroy(sim_metrics_t *m);
/* Returns 0, or -1 if the history could not grow (the operation is then only counted). */
int sim_metrics_record(sim_metrics_t *m, const sim_op_record_t *rec);
void sim_metrics_summary(sim_metrics_t *m, dyn_op_kind_t kind, sim_op_summary_t *out);
/* Nearest-rank percentile (0 < p <= 100) of ok latencies of one kind, microseconds. */
uint64_t sim_metrics_percentile(sim_metrics_t *m, dyn_op_kind_t kind, double p);
/* Sorted ok latencies of one kind (borrowed until the next record); *count receives the length. */
const uint64_t *sim_metrics_sorted(sim_metrics_t *m, dyn_op_kind_t kind, size_t *count);
const sim_op_record_t *sim_metrics_history(const sim_metrics_t *m, size_t *count);
uint64_t sim_metrics_total(const sim_metrics_t *m);

/*
 * How many live versions successful gets returned: bins[i] counts gets that saw i versions, the
 * last bin those that saw SIM_SIBLING_BINS - 1 or more. A sibling count that keeps growing is how
 * a workload shows clients that never resolve their conflicts (or contexts that cannot say what
 * a client has seen).
 */
#define SIM_SIBLING_BINS 5
typedef struct sim_sibling_dist {
    uint64_t gets;                   /* successful gets, including not-found */
    uint64_t bins[SIM_SIBLING_BINS];
    uint32_t max;
    double mean;
} sim_sibling_dist_t;
void sim_metrics_siblings(const sim_metrics_t *m, sim_sibling_dist_t *out);

/*
 * Availability over time: operations grouped by the simulated time they started into bins of
 * bin_us, each with how many were issued and how many succeeded. Whole-run fractions hide an
 * outage of a few seconds; the worst bin does not. The bins are allocated here and released with
 * sim_avail_free(). Returns 0, or -1 when out of memory or bin_us is 0.
 */
typedef struct sim_avail {
    dyn_time_us bin_us;
    uint64_t ops, ok;
    size_t bin_count;
    uint64_t *bin_ops, *bin_ok;      /* bin i covers [i * bin_us, (i + 1) * bin_us) */
    size_t worst;                    /* the bin with the lowest success fraction (ties: earliest) */
} sim_avail_t;
int sim_metrics_availability(const sim_metrics_t *m, dyn_time_us bin_us, sim_avail_t *out);

/* Gets judged for freshness, and how many of them were stale. */
void sim_metrics_staleness(const sim_metrics_t *m, uint64_t *checked, uint64_t *stale);
void sim_avail_free(sim_avail_t *a);

#endif
