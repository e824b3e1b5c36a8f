/*
 * lmdb_store.h: the durable storage engine of a real node, over LMDB (storage.h's interface).
 *
 * LMDB is a memory-mapped copy-on-write B+tree in one file: a committed transaction is never
 * half-applied, whatever the crash, and there is no server or log to replay. Each space of
 * storage.h (DATA, HINTS, META) is one named LMDB database in the same environment (and one more
 * for its long keys, see Keys), so a space is scanned without touching the others. Keys are
 * stored as given, and LMDB's default order (memcmp on the common prefix, the shorter key first
 * on a tie) is storage.h's scan order.
 *
 * Every value is framed with a checksum: a 9-byte header (a format byte, then XXH3-64 over the key
 * length, the format byte, the key and the blob) before the blob. LMDB checks its own pages'
 * structure but not the bytes of a value, so a bit flipped on the platter or by a bad DIMM
 * would otherwise be served and, worse, gossiped to the other replicas by anti-entropy. A record
 * whose checksum fails is never returned: get answers DYN_ECORRUPT, scan skips it, and either way
 * the key is counted and remembered (up to NET_LMDB_CORRUPT_MAX keys per space) so that the
 * daemon can fetch the record again from its peers (net_lmdb_take_corrupt).
 *
 * The map is writable (MDB_WRITEMAP): a commit writes its pages in place in the map instead of
 * through write(2) from malloc'd copies, which was a fifth of a loaded node's time. The price is
 * LMDB's protection against stray writes into the map by this process (the record checksums
 * still catch a damaged value), and a data file as large as the map from the start: sparse, so
 * `du` shows what it holds. A page written into a hole the disk has no room for would fault
 * (SIGBUS) instead of failing a write, so the engine gives the file its blocks ahead of the
 * writes (posix_fallocate, the batch headroom at a time, the first at open): a full disk refuses
 * the put or del that needs more with DYN_EFULL, and an open with DYN_EIO and a message.
 *
 * Durability: puts and dels join one LMDB write transaction, the batch, which
 * net_lmdb_commit() commits (a scan, the storage `sync` op, net_lmdb_flush() and close commit it
 * too). The daemon commits before any datagram leaves (net_uv_handler_t.before_send), so a
 * reply or acknowledgement never leaves before the write it answers is committed: one commit, and
 * under every_write one fsync, serves every write that one turn of the event loop made (group
 * commit). A get sees the batch's changes. Whether a commit also reaches the platter is the sync
 * policy:
 *
 *   NET_SYNC_EVERY_WRITE  each commit is fsynced. Nothing acknowledged is lost even to a power
 *                         cut; costs one fsync (0.1 to 10 ms) per loop turn that wrote.
 *   NET_SYNC_INTERVAL     commits are not fsynced (MDB_NOSYNC); the storage `sync` op and
 *                         net_lmdb_flush() fsync everything committed so far, and the daemon
 *                         syncs on a timer, off its loop (net_lmdb_sync_committed). A crash of
 *                         the process loses nothing committed (the data is in the kernel's page
 *                         cache); a crash of the machine loses the
 *                         commits since the last sync, and LMDB warns that the file itself may be
 *                         damaged unless the filesystem preserves write order (record checksums
 *                         catch damaged values, not a damaged tree). The paper's buffered writes
 *                         (section 6.1): N replicas cover for one machine's lost buffer.
 *   NET_SYNC_NONE         no fsync at all (MDB_NOSYNC | MDB_NOMETASYNC) except by an explicit
 *                         net_lmdb_flush() or at close; the storage `sync` op does nothing, so
 *                         the core's "synced before acknowledged" promises (the epoch in META,
 *                         sync_writes) do not hold across a machine crash. For tests and
 *                         benchmarks, and for nodes whose data can be rebuilt from replicas.
 *
 * A change LMDB fails (the map full, an I/O error) leaves the transaction fit only for abort; the
 * engine keeps a copy of the batch's changes and makes the others again in a new transaction, so
 * one refused put costs nobody else's. Only when that fails too, or a commit fails, is the batch
 * lost, and net_lmdb_commit() says so: the caller must then withhold what it was about to send.
 * A batch that runs the map full can find that its changes, made again, no longer all fit; so
 * once the map has less than the batch headroom left, every change commits alone, as it did
 * before batches, and fails alone.
 *
 * The get pointer: outside a batch, a get returns a pointer straight into LMDB's memory map, read
 * inside a read transaction that the engine keeps open until the next commit. LMDB never reuses a
 * page that an open read transaction can see, so those blobs stay valid and unchanged, with no
 * copy. Inside a batch a get reads through the batch's transaction, and its blob may sit in a
 * page the batch's next change rewrites: valid until the next put, del or scan, as storage.h
 * promises and no longer. A put may be handed a blob get returned: the change is made from the
 * engine's copy of it. The read snapshot is one pinned snapshot while no write happens, which is
 * free: only writes reclaim pages, and each commit releases it.
 *
 * A scan reads a snapshot of its own, taken when it starts: its callback may call get (and, should
 * it ever need to, put or del, which the scan then does not see). The key and blob a scan passes
 * to its callback are valid during the callback only.
 *
 * Keys: 1 to NET_LMDB_KEY_MAX bytes, core's longest (a hint key: DYN_KEY_MAX and the owner's 4
 * bytes); longer keys are refused with DYN_ETOOBIG and an empty key with DYN_EINVAL. LMDB's own
 * limit is a compile-time constant (MDB_MAXKEYSIZE, 511 by default; net_lmdb_key_inline_max), so
 * a longer key is stored under its prefix and a hash in a second database per space, the full key
 * kept in the record (lmdb_store.c explains how scans keep key order). A del can fail with
 * DYN_EFULL too: copy-on-write needs free pages even to remove a key.
 *
 * Ownership: net_lmdb_open() returns an engine the caller closes with net_lmdb_close();
 * net_lmdb_storage() returns an interface value that borrows it. One engine per directory per
 * process (LMDB's rule: an environment must not be opened twice in one process), used from one
 * thread at a time.
 */
#ifndef NET_LMDB_STORE_H
#define NET_LMDB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/storage.h"

typedef enum net_sync_policy {
    NET_SYNC_EVERY_WRITE = 0,
    NET_SYNC_INTERVAL = 1,
    NET_SYNC_NONE = 2,
} net_sync_policy_t;

typedef struct net_lmdb_options {
    /* The most the file may grow to; 0 means NET_LMDB_MAP_SIZE_DEFAULT. Rounded up by LMDB to
     * whole pages. A put that would outgrow it fails with DYN_EFULL. */
    size_t map_size_bytes;
    net_sync_policy_t sync;
    /* Batches are made only while the map has this much room left (see Durability); 0 means
     * NET_LMDB_BATCH_HEADROOM_DEFAULT. Tests lower it to run a batch into a full map. */
    size_t batch_headroom_bytes;
} net_lmdb_options_t;

#define NET_LMDB_BATCH_HEADROOM_DEFAULT ((size_t)8 << 20) /* 8 MiB */

#define NET_LMDB_MAP_SIZE_DEFAULT ((size_t)1 << 30) /* 1 GiB */

/* Corrupt keys remembered per space until taken; beyond it they are counted, not kept. */
#define NET_LMDB_CORRUPT_MAX 64u
/* The most of LMDB's key size limit this engine uses (a build with a larger one stores more keys
 * inline, none longer); the stored form of a long key is this long at most. */
#define NET_LMDB_KEY_LIMIT 511u
/* The longest key stored: core's DYN_HINT_KEY_MAX (4 + DYN_KEY_MAX). */
#define NET_LMDB_KEY_MAX 1028u

/* Bytes each stored record carries before its blob: a format byte and the checksum. */
#define NET_LMDB_RECORD_HEADER_BYTES 9u

typedef struct net_lmdb_stats {
    uint64_t puts;            /* successful puts */
    uint64_t dels;            /* successful deletes (DYN_ENOTFOUND ones not counted) */
    uint64_t gets;            /* gets answered (found or not) */
    uint64_t scans;           /* scans started */
    uint64_t syncs;           /* fsyncs of the environment: sync op, flush, close, every write */
    uint64_t corrupt_records; /* reads that met a record failing its check (get or scan) */
    uint64_t corrupt_unlisted;/* corrupt keys not remembered: the list was full, or the record's
                                 key itself was damaged */
    uint64_t long_collisions; /* long-key puts refused: another key had its prefix and hash */
    uint64_t batches;         /* write batches committed */
    uint64_t batches_lost;    /* write batches that failed to commit (see Durability) */
    uint64_t disk_full;       /* puts and dels refused: the disk had no room for the file */
} net_lmdb_stats_t;

typedef struct net_lmdb net_lmdb_t;

/*
 * Open (creating the data file if need be) the environment in the existing directory `dir`.
 * `opt` may be NULL for the defaults (1 GiB, NET_SYNC_EVERY_WRITE). On failure *out is NULL and
 * `err` (when errlen > 0) holds a one-line explanation naming the directory and the cause.
 * Returns DYN_OK, DYN_EINVAL (bad options), DYN_ENOTFOUND (no such directory), DYN_EIO (permission
 * denied, not a directory, a file that is not an LMDB environment, ...), DYN_ENOMEM.
 */
int net_lmdb_open(const char *dir, const net_lmdb_options_t *opt, net_lmdb_t **out, char *err,
                  size_t errlen);

/*
 * Flush (fsync everything committed), then close and free. Returns the flush's status (DYN_OK or
 * DYN_EIO); the engine is freed either way. NULL is a no-op returning DYN_OK.
 */
int net_lmdb_close(net_lmdb_t *store);

dyn_storage_t net_lmdb_storage(net_lmdb_t *store);

/*
 * Commit the write batch, if one is open (under every_write, fsynced). DYN_OK, or DYN_EIO when
 * changes made since the last call were lost: their puts and dels returned DYN_OK, but nothing
 * that depends on them may be acknowledged.
 */
int net_lmdb_commit(net_lmdb_t *store);

/* Commit the batch, then fsync every committed change, whatever the policy. DYN_OK or DYN_EIO. */
int net_lmdb_flush(net_lmdb_t *store);

/*
 * fsync what is committed, and nothing else: no commit, no counters. The one call that may run on
 * another thread while the engine's own thread goes on reading and writing (LMDB's env sync is a
 * sync of the map or the file), so a daemon can flush off its event loop. DYN_OK or DYN_EIO.
 */
int net_lmdb_sync_committed(net_lmdb_t *store);

net_lmdb_stats_t net_lmdb_stats(const net_lmdb_t *store);

/* The longest key this engine stores: NET_LMDB_KEY_MAX. */
size_t net_lmdb_key_max(const net_lmdb_t *store);
/* The longest key stored as LMDB's own key (LMDB's build limit, at most NET_LMDB_KEY_LIMIT);
 * longer ones take the long-key path. */
size_t net_lmdb_key_inline_max(const net_lmdb_t *store);

/*
 * Take one remembered corrupt key of `space` (oldest first) into key[0..key_cap), its length in
 * *key_length; it is forgotten by the engine. DYN_OK, DYN_ENOTFOUND when none is left, DYN_ETOOBIG
 * (key_cap too small; the key stays listed and *key_length says how much room it needs). A put or
 * del of a listed key drops it from the list: the record it named is gone.
 */
int net_lmdb_take_corrupt(net_lmdb_t *store, dyn_space_t space, uint8_t *key, size_t key_cap,
                          size_t *key_length);

/* The name of a space's LMDB database ("data", "hints", "meta"), for tools that open the file. */
const char *net_lmdb_space_name(dyn_space_t space);

#endif
