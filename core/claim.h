/*
 * claim.h: who owns which partition after a membership change (strategy S3, paper 6.2).
 *
 * With Q fixed partitions, a join or leave should move as few partitions as it can (Riak's claim
 * plays this part). Shares are floor(Q/S) or ceil(Q/S), the ceil ones going to the nodes holding
 * most already, so a balanced table is its own claim. Every node keeps what it holds; the
 * partitions of departed nodes go to the nodes furthest below their share; then each node still
 * below its share takes partitions from nodes above theirs, and nothing else moves. Partitions are
 * handed out so that two partitions within `spread` positions of each other (distance <= spread)
 * get different owners where that is possible: with spread = N - 1 every key's N replicas can be N
 * distinct nodes without walking far. Deterministic: the same table and members always give the
 * same claim, so every node computing it agrees.
 *
 * Ownership: plain arrays in and out, caller-owned.
 */
#ifndef DYN_CLAIM_H
#define DYN_CLAIM_H

#include <stddef.h>
#include <stdint.h>

/*
 * From old_owners[q] (node ids; ids not in members are departed, 0 is an unowned partition) and
 * the new member ids, write new_owners[q]. Returns how many partitions changed owner, or
 * DYN_EINVAL (no members, an id 0, duplicate ids, fewer partitions than members), DYN_ENOMEM.
 */
int dyn_claim(const uint32_t *old_owners, size_t q, const uint32_t *members, size_t count,
              unsigned spread, uint32_t *new_owners);

#endif
