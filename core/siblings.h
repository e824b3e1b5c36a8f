/*
 * siblings.h: versioned values and sibling sets with syntactic reconciliation (paper 4.4).
 *
 * A key's state on a replica is a set of versions none of which descends another: the siblings.
 * Adding a version drops every sibling it descends and is itself dropped if an existing sibling
 * descends or equals it. What is left is returned to the client, with a context (the merge of the
 * sibling clocks) that a later put carries back to supersede them all. A delete is a version with
 * the tombstone flag and no value.
 *
 * Values are referenced, not copied, unless the caller asks: a version's value pointer either
 * borrows memory the caller keeps alive (a received datagram, a stored blob) or is owned by the set
 * (added with DYN_SIB_COPY), in which case dyn_siblings_clear() frees it. Versions are kept in a
 * canonical order (by clock, then timestamp, then value bytes) so that two replicas holding the same
 * versions encode them to identical bytes and digests do not depend on arrival order.
 */
#ifndef DYN_SIBLINGS_H
#define DYN_SIBLINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/vclock.h"

#define DYN_SIBLINGS_MAX 128u          /* hard capacity; siblings_max configured <= this */
#define DYN_VALUE_MAX (1u << 20)       /* 1 MiB */
#define DYN_KEY_MAX 1024u

enum {
    DYN_VERSION_TOMBSTONE = 1u << 0,
};

typedef struct dyn_version {
    dyn_vclock_t clock;
    uint64_t timestamp_us;  /* the coordinator's clock at write time (last-write-wins mode) */
    const uint8_t *value;
    uint32_t value_length;
    uint8_t flags;          /* DYN_VERSION_* */
    bool owned;             /* value was copied by the set and is freed by it */
} dyn_version_t;

typedef struct dyn_siblings {
    uint32_t count;
    uint32_t capacity;
    dyn_version_t *items;   /* heap array, owned by the set */
} dyn_siblings_t;

typedef enum dyn_sib_add_mode {
    DYN_SIB_BORROW = 0,  /* keep the caller's value pointer; caller keeps it alive */
    DYN_SIB_COPY = 1,    /* copy the value; the set owns the copy */
} dyn_sib_add_mode_t;

void dyn_siblings_init(dyn_siblings_t *set);
/* Free owned values and the item array; leaves an empty, reusable set. */
void dyn_siblings_clear(dyn_siblings_t *set);

/*
 * Reconcile one version into the set. Returns 1 if it was added (possibly replacing dominated
 * siblings), 0 if an existing sibling equals or descends it (nothing changes), DYN_ESIBLINGS if
 * adding it would exceed siblings_max (the set is unchanged), DYN_ETOOBIG for a value over
 * DYN_VALUE_MAX, DYN_ENOMEM.
 */
int dyn_siblings_add(dyn_siblings_t *set, const dyn_version_t *version, dyn_sib_add_mode_t mode,
                     uint32_t siblings_max);

/* Reconcile every version of src into dst; returns the number added, or a negative status. */
int dyn_siblings_merge(dyn_siblings_t *dst, const dyn_siblings_t *src, dyn_sib_add_mode_t mode,
                       uint32_t siblings_max);

/* The context for a client: the merge of all sibling clocks (no truncation). */
void dyn_siblings_context(const dyn_siblings_t *set, dyn_vclock_t *out);

/*
 * The canonical total order of versions (<0, 0, >0): clock entries, then timestamp, flags and
 * value bytes. A valid set is strictly increasing in it; decoders reject any other order.
 */
int dyn_version_order(const dyn_version_t *a, const dyn_version_t *b);

/* Number of siblings that are not tombstones. */
uint32_t dyn_siblings_live_count(const dyn_siblings_t *set);

/* True if both sets hold the same versions (same clocks, flags and values). */
bool dyn_siblings_equal(const dyn_siblings_t *a, const dyn_siblings_t *b);

/*
 * Last-write-wins resolution (the comparison baseline): keep only the version with the largest
 * timestamp_us, ties broken by clock then value bytes. No-op on sets of 0 or 1.
 */
void dyn_siblings_resolve_lww(dyn_siblings_t *set);

#endif
