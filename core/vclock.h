/*
 * vclock.h: vector clocks for causality between versions (Dynamo paper 4.4).
 *
 * An actor is (node id, incarnation epoch): a node that lost its disk comes back under a new epoch,
 * so its new writes never look older than history it forgot (Riak's KV679 lesson). Entries are
 * kept sorted by (node, epoch), which makes compare and merge linear and the encoding canonical.
 * Each entry also carries the wall timestamp of its last increment, used only by truncation: past
 * `threshold` entries the oldest by timestamp is dropped, exactly as the paper does. Truncation can
 * create false conflicts, so it is reported to the caller, who counts it.
 *
 * A dyn_vclock_t is a plain value type with inline storage; copy it with assignment or
 * dyn_vclock_copy() (which copies only the used entries).
 */
#ifndef DYN_VCLOCK_H
#define DYN_VCLOCK_H

#include <stddef.h>
#include <stdint.h>

#define DYN_VCLOCK_MAX 16 /* hard capacity; the configured truncation threshold is <= this */

typedef struct dyn_vclock_entry {
    uint32_t node;
    uint32_t epoch;
    uint64_t counter;       /* >= 1 for a present entry */
    uint64_t timestamp_us;  /* time of the last increment, for truncation only */
} dyn_vclock_entry_t;

typedef struct dyn_vclock {
    uint32_t count;
    dyn_vclock_entry_t entries[DYN_VCLOCK_MAX];
} dyn_vclock_t;

typedef enum dyn_vclock_order {
    DYN_VC_EQUAL = 0,
    DYN_VC_BEFORE = 1,     /* a happened before b: b descends a */
    DYN_VC_AFTER = 2,      /* a descends b */
    DYN_VC_CONCURRENT = 3,
} dyn_vclock_order_t;

void dyn_vclock_init(dyn_vclock_t *vc);
void dyn_vclock_copy(dyn_vclock_t *dst, const dyn_vclock_t *src);

/* The counter of actor (node, epoch), or 0 if absent. */
uint64_t dyn_vclock_get(const dyn_vclock_t *vc, uint32_t node, uint32_t epoch);

/*
 * Advance actor (node, epoch) by one and stamp it with now_us, then truncate to `threshold`
 * entries (1..DYN_VCLOCK_MAX) by dropping the oldest timestamps, never the entry just advanced.
 * Returns the number of entries truncated (>= 0).
 */
int dyn_vclock_increment(dyn_vclock_t *vc, uint32_t node, uint32_t epoch, uint64_t now_us,
                         uint32_t threshold);

/*
 * dst := the least upper bound of dst and src (entry-wise max; timestamp of the larger counter,
 * the later timestamp on ties), then truncated to `threshold` by oldest timestamp. Returns the
 * number of entries truncated.
 */
int dyn_vclock_merge(dyn_vclock_t *dst, const dyn_vclock_t *src, uint32_t threshold);

dyn_vclock_order_t dyn_vclock_compare(const dyn_vclock_t *a, const dyn_vclock_t *b);

/* True if the clock has seen event `counter` of actor (node, epoch): its entry is >= counter. */
int dyn_vclock_covers(const dyn_vclock_t *vc, uint32_t node, uint32_t epoch, uint64_t counter);

/*
 * Add event `dot` to the clock if it directly follows the clock's entry for its actor (entry + 1
 * == dot counter), else leave the clock alone: a version vector cannot express a gap, and adding
 * a:3 to {a:1} would claim a:2 too. Used to build contexts that claim only what was seen.
 */
void dyn_vclock_extend_contiguous(dyn_vclock_t *vc, const dyn_vclock_entry_t *dot);

/* True if a >= b entry-wise (a descends b, or they are equal). */
int dyn_vclock_descends(const dyn_vclock_t *a, const dyn_vclock_t *b);

/* Drop oldest-timestamp entries until count <= threshold. Returns the number dropped. */
int dyn_vclock_truncate(dyn_vclock_t *vc, uint32_t threshold);

/* Checks the representation invariant: sorted strictly by (node, epoch), counters >= 1. */
int dyn_vclock_valid(const dyn_vclock_t *vc);

#endif
