/*
 * siblings.h: versioned values and sibling sets with syntactic reconciliation (paper 4.4).
 *
 * Versions are dotted version vectors (Preguica et al.; Riak 2.0): each write is named by its own
 * event, the dot (coordinator actor, counter), and carries the causal past it was written with,
 * the client's context. A version supersedes another only if the other's dot is in its past. Plain
 * vector clocks with server-side actors cannot tell "I have seen your write" from "I came later
 * through the same coordinator", so two clients writing with the same stale context through one
 * coordinator would silently lose one write; with dots both survive as siblings.
 *
 * A key's state on a replica is a set of versions none of which supersedes another: the siblings.
 * Adding a version drops every sibling whose dot is in its past, and is itself dropped if it is
 * already present (same dot) or in the past of a present version. What is left is returned to the
 * client, with a context (the join of every sibling's past and dot, see dyn_siblings_context) that
 * a later put carries back to supersede them all. A delete is a version with the tombstone flag
 * and no value.
 *
 * Values are referenced, not copied, unless the caller asks: a version's value pointer either
 * borrows memory the caller keeps alive (a received datagram, a stored blob) or is owned by the set
 * (added with DYN_SIB_COPY), in which case dyn_siblings_clear() frees it. Versions are kept in a
 * canonical order (by dot, then past, timestamp and value bytes) so that two replicas holding
 * the same versions encode them to identical bytes and digests do not depend on arrival order.
 */
#ifndef DYN_SIBLINGS_H
#define DYN_SIBLINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/vclock.h"

/*
 * The hard capacity of a set; siblings_max (configured, default 100) is the policy and is
 * enforced on client writes at their coordinator only. Replicas and get merges take up to this
 * cap, and it must sit well above siblings_max: coordinators each bound their own copy, so under
 * faults the union of three replicas' sets can pass siblings_max, and a cap the union cannot fit
 * under leaves a key that no read can merge and no repair can converge (at 128, 9 of 1000
 * liveness fuzz seeds ended that way).
 */
#define DYN_SIBLINGS_MAX 1024u
#define DYN_VALUE_MAX (1u << 20)       /* 1 MiB */
#define DYN_KEY_MAX 1024u

enum {
    DYN_VERSION_TOMBSTONE = 1u << 0,
};

typedef struct dyn_version {
    dyn_vclock_entry_t dot; /* this write's own event; counter >= 1; clock must not cover it */
    dyn_vclock_t clock;     /* the causal past: the context the write was made with */
    uint64_t timestamp_us;  /* when the coordinator wrote it; orders last-write-wins */
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

/* True if `later` supersedes `earlier`: earlier's dot is in later's causal past. */
bool dyn_version_supersedes(const dyn_version_t *later, const dyn_version_t *earlier);

/* True if the version is well formed: counter >= 1, clock valid and not covering the dot. */
bool dyn_version_valid(const dyn_version_t *version);

/*
 * Reconcile one version into the set. Returns 1 if it was added (possibly replacing superseded
 * siblings), 0 if it is present already (same dot) or superseded by a sibling (nothing changes),
 * DYN_ESIBLINGS if adding it would exceed siblings_max (the set is unchanged), DYN_ETOOBIG for a
 * value over DYN_VALUE_MAX, DYN_ENOMEM.
 */
int dyn_siblings_add(dyn_siblings_t *set, const dyn_version_t *version, dyn_sib_add_mode_t mode,
                     uint32_t siblings_max);

/* Reconcile every version of src into dst; returns the number added, or a negative status. */
int dyn_siblings_merge(dyn_siblings_t *dst, const dyn_siblings_t *src, dyn_sib_add_mode_t mode,
                       uint32_t siblings_max);

/*
 * The context for a client: the join of every sibling's past, extended by each sibling's dot where
 * the dot directly follows what the context already holds for its actor. A version vector cannot
 * express a gap, so {a:2} would also claim a:1; a dot past a gap is therefore left out, and a put
 * with this context leaves that sibling in place (a false conflict) rather than superseding a
 * write the reader was never shown (a lost write). Entries beyond DYN_VCLOCK_MAX actors are
 * truncated, which can only leave more siblings in place.
 */
void dyn_siblings_context(const dyn_siblings_t *set, dyn_vclock_t *out);


/*
 * The canonical total order of versions (<0, 0, >0): by dot, then past, timestamp, flags and
 * value bytes. A valid set is strictly increasing in it; decoders reject any other order.
 */
int dyn_version_order(const dyn_version_t *a, const dyn_version_t *b);

/* Number of siblings that are not tombstones. */
uint32_t dyn_siblings_live_count(const dyn_siblings_t *set);

/*
 * A fingerprint of which versions a set holds: its dots and tombstone flags, in canonical order.
 * A dot names one write, whose value, past and stamp are fixed when it is made, so two sets with
 * the same dots are the same set, and this costs a few multiplications per version instead of a
 * hash of every value byte. Never 0 (0 means "no set" to its users); the empty set has one too.
 */
uint64_t dyn_siblings_dots_print(const dyn_siblings_t *set);

/* True if both sets hold the same versions (same dots, pasts, flags and values). */
bool dyn_siblings_equal(const dyn_siblings_t *a, const dyn_siblings_t *b);

/*
 * Last-write-wins resolution (the comparison baseline): keep only the version with the largest
 * timestamp_us, ties broken by clock then value bytes. No-op on sets of 0 or 1.
 */
void dyn_siblings_resolve_lww(dyn_siblings_t *set);

/*
 * Last-write-wins reconciliation, as Cassandra does it: causality is ignored, the version with the
 * largest timestamp_us (ties: the later in canonical order) is the only one kept. A coordinator
 * whose own writes keep losing may name two writes with one dot, as its store never shows its
 * counter moving; under LWW nothing depends on dots, so this is harmless, but reports by dot
 * (the lost-write checker) then count such writes, not tell them apart. Returns 1 if
 * `version` replaced what the set held, 0 if it lost (nothing changes), DYN_ETOOBIG, DYN_ENOMEM.
 */
int dyn_siblings_add_lww(dyn_siblings_t *set, const dyn_version_t *version,
                         dyn_sib_add_mode_t mode);

#endif
