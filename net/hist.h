/*
 * hist.h: a latency histogram with bounded relative error, for a node's request latencies.
 *
 * Values (microseconds) fall into log-linear buckets: exact below 16, then 16 buckets per power
 * of two, so a reported percentile is within 1/16 (6.25 %) of the true value, whatever the
 * range, in a fixed 8 KiB and with O(1) recording. A percentile reports the upper bound of the
 * bucket it falls in (never below the true value). Sorting every sample (dynctl bench's way)
 * would be exact, but a daemon runs for months: memory must not grow with the request count.
 *
 * Ownership: net_hist_create() returns a histogram the caller frees with net_hist_destroy().
 * Not thread-safe (one per event loop).
 */
#ifndef NET_HIST_H
#define NET_HIST_H

#include <stdint.h>

typedef struct net_hist net_hist_t;

/* NULL on allocation failure. */
net_hist_t *net_hist_create(void);
void net_hist_destroy(net_hist_t *hist);

void net_hist_record(net_hist_t *hist, uint64_t value);
uint64_t net_hist_count(const net_hist_t *hist);
uint64_t net_hist_max(const net_hist_t *hist);
/* The value at quantile q (0 < q <= 1): 0 when empty. */
uint64_t net_hist_quantile(const net_hist_t *hist, double q);

#endif
