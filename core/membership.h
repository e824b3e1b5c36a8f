/*
 * membership.h: who is in the cluster, as one node knows it, and how two views merge.
 *
 * A view is a set of members, each with an id (its ring id and endpoint), a status (joining,
 * valid, leaving, removed), a zone, an address (opaque bytes the daemon resolves; empty in the
 * simulator) and a version. Whoever changes a member raises its version; two views merge member by
 * member, the higher version winning, so merging is commutative, associative and idempotent and
 * gossip between any pairs converges on one view (a state-based CRDT, as Riak's ring is). Two
 * changes of one member made concurrently at the same version are ordered by their content, so
 * every node picks the same one. A removed member is kept (a tombstone), so an old view cannot
 * bring it back.
 *
 * A view also carries the ring: the partition table of an S3 ring (partition i -> owner id) and
 * its version. Whoever commits a new table (a staged join, leave, remove or replace) raises the
 * version; the higher version wins a merge, and two tables committed concurrently at one version
 * are ordered by their content, so every node ends on the same ring (Riak gossips its ring the same
 * way). Version 0 means no table: the ring the node was created with stands.
 *
 * The digest names a view in 8 bytes: gossip compares digests before it sends a whole view.
 *
 * Ownership: dyn_membership_create() returns a view the caller frees with _destroy(); members
 * passed in are copied; pointers returned borrow the view until its next change.
 */
#ifndef DYN_MEMBERSHIP_H
#define DYN_MEMBERSHIP_H

#include <stddef.h>
#include <stdint.h>

#define DYN_MEMBERS_MAX 4096u
#define DYN_MEMBER_ADDR_MAX 47u
#define DYN_RING_TABLE_MAX 65536u /* partitions a view's ring table may hold */

typedef enum dyn_member_status {
    DYN_MEMBER_JOINING = 1,
    DYN_MEMBER_VALID = 2,
    DYN_MEMBER_LEAVING = 3,
    DYN_MEMBER_REMOVED = 4,
} dyn_member_status_t;

typedef struct dyn_member {
    uint32_t id;            /* >= 1 */
    uint8_t status;         /* dyn_member_status_t */
    uint8_t addr_length;
    uint16_t zone;
    uint64_t version;       /* >= 1 */
    char addr[DYN_MEMBER_ADDR_MAX];
} dyn_member_t;

typedef struct dyn_membership dyn_membership_t;

dyn_membership_t *dyn_membership_create(void);
void dyn_membership_destroy(dyn_membership_t *m);

size_t dyn_membership_count(const dyn_membership_t *m);
/* Members in ascending id order: index 0..count-1. */
const dyn_member_t *dyn_membership_at(const dyn_membership_t *m, size_t index);
const dyn_member_t *dyn_membership_find(const dyn_membership_t *m, uint32_t id);

/*
 * Merge one member in: added if new, replacing the known entry if it wins (higher version, or
 * the same version and the greater content). Returns 1 if the view changed, 0 if not, DYN_EINVAL
 * for an invalid member (id 0, version 0, unknown status, address too long), DYN_EFULL past
 * DYN_MEMBERS_MAX, DYN_ENOMEM.
 */
int dyn_membership_apply(dyn_membership_t *m, const dyn_member_t *member);
/* Merge every member of src into dst; returns how many changed dst, or a negative status. */
int dyn_membership_merge(dyn_membership_t *dst, const dyn_membership_t *src);

/*
 * Merge a ring table in: taken if its version is higher, or equal with the greater content.
 * Returns 1 if the view changed, 0 if not, DYN_EINVAL (version 0, no partitions or more than
 * DYN_RING_TABLE_MAX, an owner id 0), DYN_ENOMEM.
 */
int dyn_membership_set_ring(dyn_membership_t *m, uint64_t version, const uint32_t *owners,
                            uint32_t partitions);
/* The table's version (0: none), and a hash of its content (0 at version 0). */
uint64_t dyn_membership_ring_version(const dyn_membership_t *m);
uint64_t dyn_membership_ring_hash(const dyn_membership_t *m);
/* The table (borrowed until the next change) and its partition count, or NULL at version 0. */
const uint32_t *dyn_membership_ring(const dyn_membership_t *m, uint32_t *partitions);

/* The digest of the whole view (never 0; the empty view's too). */
uint64_t dyn_membership_digest(const dyn_membership_t *m);

/* Empty the view (the ring table too). */
void dyn_membership_clear(dyn_membership_t *m);

/* Its wire form (gossip, and what a node persists) is in codec.h: dyn_codec_*_membership. */

#endif
