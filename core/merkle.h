/*
 * merkle.h: a Merkle hash tree over one key range, for anti-entropy (Dynamo paper 4.7).
 *
 * Each replica keeps one tree per key range it holds, updates it on every write, and compares
 * it with another replica's top-down: equal roots end the exchange after one hash, and otherwise
 * only the subtrees whose hashes differ are descended into. The leaves that still differ at the
 * bottom name the only keys that need repair. The tree stores no keys: to repair leaf i, each
 * side scans the range for the keys with dyn_merkle_leaf_of() == i and compares those.
 *
 * Shape. A complete binary tree of fixed depth D (1..DYN_MERKLE_DEPTH_MAX): level 0 is the root,
 * level l has 2^l nodes indexed 0..2^l-1, level D holds the 2^D leaves. Node (l, i) has the
 * children (l+1, 2i) and (l+1, 2i+1). Both replicas must use the same depth for a range.
 *
 * Placement. A key is placed by a remix of its ring hash (dyn_ring_hash()), not by the hash's own
 * top bits: every key of an S2/S3 partition shares the top log2(Q) bits of its ring hash, so they
 * would crowd into 2^D / Q leaves (a single leaf once Q >= 2^D). The remix is XXH3 of the hash's 8
 * little-endian bytes under a fixed seed, and the leaf is its top D bits.
 *
 * Digests. A key's digest hashes its bytes together with a fingerprint of what the replica
 * stores for it (the caller's choice: say a hash of the canonical encoding of its version set,
 * tombstones included, so that a delete differs from a key never written). 0 means "no entry";
 * dyn_merkle_key_digest() never returns 0, so every stored key counts.
 *
 * Leaves are the wrapping sum (mod 2^64) of their keys' digests. A sum is order-independent and
 * invertible like XOR, so a write is an O(1) change at the leaf given the key's old and new
 * digests. We prefer it to XOR because XOR cancels pairs: an update applied twice (a caller bug,
 * or a replayed write path) would make a stored key vanish from its leaf and look exactly like an
 * absent one, whereas a sum keeps it visible as a difference.
 *
 * Interior nodes hash their two children in order (XXH3 over their 16 little-endian bytes), so a
 * node's hash depends on where below it a difference lies, not only on the multiset of leaves. A
 * subtree with no keys hashes to 0 (an interior hash that comes out 0 is taken as 1), so empty
 * trees compare equal from the root and empty subtrees need no hashing. Interior hashes are
 * recomputed lazily: a write marks the leaf's ancestors dirty (stopping at the first one already
 * dirty), and reading a node recomputes only its dirty descendants. Writes between two exchanges
 * therefore cost a leaf addition each, and the exchange pays for the paths once.
 *
 * Exchange. Replicas talk over datagrams, so the helpers work on arrays: one side sends the
 * hashes of a list of node indices at one level (dyn_merkle_hashes()), the other compares them
 * with its own and keeps the indices that differ (dyn_merkle_compare()), whose children
 * (dyn_merkle_descend()) form the list for the next level. Start with level 0, index 0; stop when
 * the list is empty or the leaves are reached; a list may be split across datagrams at any point.
 * Indices and levels taken from a peer are checked (DYN_EINVAL), never asserted.
 *
 * Stability: the seeds and byte orders below are part of the exchange, so two builds that differ
 * in them see every non-empty node as different (correct, but the exchange repairs everything).
 *
 * Ownership: dyn_merkle_create() returns a tree the caller frees with dyn_merkle_destroy(). The
 * tree borrows nothing. Reading hashes mutates the cache, so a tree is not safe to read from two
 * threads at once (core/ runs each node on one thread anyway).
 */
#ifndef DYN_MERKLE_H
#define DYN_MERKLE_H

#include <stddef.h>
#include <stdint.h>

/* At the maximum a tree holds 2^17 - 1 hashes: 1 MiB for each range a node replicates. */
#define DYN_MERKLE_DEPTH_MAX 16u

typedef struct dyn_merkle dyn_merkle_t;

/* Create an empty tree of the given depth. Returns DYN_OK, DYN_EINVAL (depth outside
 * 1..DYN_MERKLE_DEPTH_MAX; *out is left alone) or DYN_ENOMEM. */
int dyn_merkle_create(dyn_merkle_t **out, unsigned depth);
void dyn_merkle_destroy(dyn_merkle_t *tree);

/* Forget every key (after a disk wipe, or before rebuilding from a scan of the store). */
void dyn_merkle_clear(dyn_merkle_t *tree);

unsigned dyn_merkle_depth(const dyn_merkle_t *tree);

/* Bytes held by the tree: its node hashes, dirty marks and header. */
size_t dyn_merkle_memory_bytes(const dyn_merkle_t *tree);

/* The digest of a stored key: never 0. key may be NULL only if key_length is 0. */
uint64_t dyn_merkle_key_digest(const uint8_t *key, size_t key_length, uint64_t value_print);

/* The leaf (0..2^depth-1) that holds a key with this ring hash. */
uint32_t dyn_merkle_leaf_of(const dyn_merkle_t *tree, uint64_t key_hash);

/*
 * A hint for an update to come: fetch the lines dyn_merkle_update() will touch for key_hash (the
 * header with the dirty bits, and the key's leaf) without waiting for them. `depth` must be the
 * tree's: with it the leaf's address needs no read of the tree. Changes nothing.
 */
void dyn_merkle_prefetch(const dyn_merkle_t *tree, unsigned depth, uint64_t key_hash);

/*
 * Record that the key with ring hash key_hash changed from old_digest to new_digest: old 0 for an
 * insert, new 0 for a removal. The caller must pass the digest the tree last saw for the key; the
 * tree cannot check it, and a wrong one leaves a difference no exchange will clear.
 */
void dyn_merkle_update(dyn_merkle_t *tree, uint64_t key_hash, uint64_t old_digest,
                       uint64_t new_digest);

/* The hash of node (level, index); level <= depth and index < 2^level are asserted. */
uint64_t dyn_merkle_hash(dyn_merkle_t *tree, unsigned level, uint32_t index);
/* dyn_merkle_hash(tree, 0, 0): 0 exactly when the tree is empty (up to a 2^-64 leaf-sum wrap). */
uint64_t dyn_merkle_root(dyn_merkle_t *tree);

/*
 * out[k] := hash of node (level, indices[k]) for k < count: what one side sends. Returns DYN_OK,
 * or DYN_EINVAL if level > depth, count > 2^level or an index is >= 2^level (out is then
 * undefined).
 */
int dyn_merkle_hashes(dyn_merkle_t *tree, unsigned level, const uint32_t *indices, size_t count,
                      uint64_t *out);

/*
 * Compare the peer's hashes remote[k] of nodes (level, indices[k]) with ours and write the
 * indices whose hashes differ to differ[] (room for count), in the order given. Returns how many
 * were written, or DYN_EINVAL as for dyn_merkle_hashes().
 */
int dyn_merkle_compare(dyn_merkle_t *tree, unsigned level, const uint32_t *indices,
                       const uint64_t *remote, size_t count, uint32_t *differ);

/*
 * The next level's list: children[2k] = 2 parents[k], children[2k+1] = 2 parents[k] + 1 (room for
 * 2 count). Returns 2 count, or DYN_EINVAL if level >= depth (leaves have no children),
 * count > 2^level or a parent is >= 2^level.
 */
int dyn_merkle_descend(const dyn_merkle_t *tree, unsigned level, const uint32_t *parents,
                       size_t count, uint32_t *children);

#endif
