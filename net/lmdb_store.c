/*
 * lmdb_store.c: storage.h over LMDB, one named database per space, checksummed records.
 *
 * Record layout (the LMDB value): [format = 1][XXH3-64 little-endian, 8 bytes][blob]. The checksum
 * covers the key length, the format byte, the key and the blob, so a value that ends up under the
 * wrong key fails too, not only a flipped bit.
 *
 * Long keys (over LMDB's build limit, `inline_max`, 511 by default: MDB_MAXKEYSIZE is a
 * compile-time constant, and core's keys go up to DYN_HINT_KEY_MAX) live in a second database per
 * space ("data.long", ...). Their LMDB key is the first inline_max - 8 bytes of the key, then
 * XXH3-64 of the whole key (big-endian); the record is [format = 2][sum][u16 key length][key]
 * [blob], the sum as above. The prefix keeps long keys in key order between prefixes; a scan
 * sorts the long keys that share one prefix (a group, usually of one) and merges that stream with
 * the short keys' database, so scan order stays storage.h's. Two long keys whose prefix and hash
 * both collide cannot both be stored: the second put fails with DYN_EIO (counted in
 * long_collisions) rather than overwrite the first; with a 64-bit hash that takes billions of
 * keys sharing one 503-byte prefix.
 *
 * The environment is opened with MDB_NOTLS: the engine holds two read transactions on one thread
 * at times (the get snapshot and a scan's), which LMDB allows only when reader slots belong to
 * transactions rather than threads.
 */
#define _POSIX_C_SOURCE 200809L /* posix_fallocate */
#include "net/lmdb_store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/node.h"
#include "core/status.h"

#define RECORD_FORMAT 1u
#define RECORD_FORMAT_LONG 2u
#define LONG_HASH_SEED 0x6c6f6e676b657973ULL /* "longkeys" */
#define LONG_HASH_BYTES 8u
/* The long record's header: the short one, then the key's length (u16 little-endian). */
#define LONG_HEADER_BYTES (NET_LMDB_RECORD_HEADER_BYTES + 2u)
#define RECORD_SEED 0x6c6d64627265636fULL /* "lmdbreco" */
/* The most a write batch holds before it is committed mid-turn: its changes, and their bytes. */
#define BATCH_CHANGES_MAX 64u
#define BATCH_BYTES_MAX (1u << 20)

DYN_STATIC_ASSERT(NET_LMDB_RECORD_HEADER_BYTES == 1 + 8, "header: format byte + 64-bit sum");
DYN_STATIC_ASSERT(NET_LMDB_KEY_MAX <= UINT16_MAX, "key lengths fit 16 bits");
DYN_STATIC_ASSERT(NET_LMDB_KEY_MAX == DYN_HINT_KEY_MAX, "every key core stores fits");

typedef struct corrupt_key {
    uint16_t length;
    uint8_t key[NET_LMDB_KEY_MAX];
} corrupt_key_t;

typedef struct corrupt_list {
    uint32_t count;
    corrupt_key_t keys[NET_LMDB_CORRUPT_MAX]; /* oldest first */
} corrupt_list_t;

struct net_lmdb {
    MDB_env *env;
    MDB_dbi dbi[DYN_SPACE_COUNT_];
    MDB_dbi dbi_long[DYN_SPACE_COUNT_]; /* keys over inline_max (see the top) */
    net_sync_policy_t sync;
    size_t inline_max; /* LMDB's key size limit */
    /* The snapshot gets read from; live until the next write commits (see the header). */
    MDB_txn *read_txn;
    bool read_live;
    /* The write batch: one transaction for every put and del until net_lmdb_commit, and a copy
     * of each change so that one failed change does not take the batch's others with it. */
    MDB_txn *write_txn;
    uint8_t *log;
    size_t log_length, log_capacity;
    uint32_t batch_changes;
    bool batch_alone; /* the map is nearly full: this batch ends after one change */
    size_t page_size;
    size_t batch_headroom; /* see net_lmdb_options_t */
    size_t reserved;       /* bytes of the data file given blocks (reserve_disk) */
    bool batch_lost; /* a failed change could not be split from the batch: all of it is gone */
    net_lmdb_stats_t stats;
    corrupt_list_t corrupt[DYN_SPACE_COUNT_];
};

static const char *const space_names[DYN_SPACE_COUNT_] = {"data", "hints", "meta"};
static const char *const long_names[DYN_SPACE_COUNT_] = {"data.long", "hints.long", "meta.long"};

const char *net_lmdb_space_name(dyn_space_t space)
{
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    return space_names[space];
}

/* LMDB and errno codes to ours. Page-level damage is corruption too, though no key can be named. */
static int status_of(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return DYN_OK;
    case MDB_NOTFOUND: return DYN_ENOTFOUND;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_READERS_FULL:
    case MDB_DBS_FULL: return DYN_EFULL;
    case MDB_BAD_VALSIZE: return DYN_ETOOBIG;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND: return DYN_ECORRUPT;
    case ENOMEM: return DYN_ENOMEM;
    default: return DYN_EIO;
    }
}

static uint64_t record_sum(uint8_t format, const uint8_t *key, size_t key_length,
                           const uint8_t *blob, size_t blob_length)
{
    /* Zeroed first: GCC cannot see that reset initialises every field it later reads. */
    XXH3_state_t st;
    memset(&st, 0, sizeof st);
    uint8_t prefix[5] = {(uint8_t)key_length, (uint8_t)(key_length >> 8),
                         (uint8_t)(key_length >> 16), (uint8_t)(key_length >> 24), format};
    XXH3_64bits_reset_withSeed(&st, RECORD_SEED);
    XXH3_64bits_update(&st, prefix, sizeof(prefix));
    XXH3_64bits_update(&st, key, key_length);
    if (blob_length)
        XXH3_64bits_update(&st, blob, blob_length);
    return XXH3_64bits_digest(&st);
}

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static bool record_ok(const uint8_t *key, size_t key_length, const MDB_val *v)
{
    if (v->mv_size < NET_LMDB_RECORD_HEADER_BYTES)
        return false;
    const uint8_t *p = v->mv_data;
    if (p[0] != RECORD_FORMAT)
        return false;
    return get_u64le(p + 1) == record_sum(RECORD_FORMAT, key, key_length,
                                           p + NET_LMDB_RECORD_HEADER_BYTES,
                                           v->mv_size - NET_LMDB_RECORD_HEADER_BYTES);
}

/* ---- long keys -------------------------------------------------------------------------- */

/* The LMDB key of a long key: its first inline_max - 8 bytes, then its hash. */
static void long_stored_key(const net_lmdb_t *s, const uint8_t *key, size_t key_length,
                            uint8_t *out)
{
    size_t prefix = s->inline_max - LONG_HASH_BYTES;
    memcpy(out, key, prefix);
    uint64_t h = XXH3_64bits_withSeed(key, key_length, LONG_HASH_SEED);
    for (unsigned i = 0; i < LONG_HASH_BYTES; i++)
        out[prefix + i] = (uint8_t)(h >> (8 * (LONG_HASH_BYTES - 1 - i)));
}

/* A long record opened: the key it names and its blob (pointers into the record). */
typedef struct long_record {
    const uint8_t *key;
    size_t key_length;
    const uint8_t *blob;
    size_t blob_length;
} long_record_t;

/*
 * Parse a long record under LMDB key k. Returns 1 when the key it carries is intact (its length
 * fits and it hashes to k, so the key can be named even if the rest is damaged), and sets *sum_ok
 * to whether the checksum over key and blob holds too; 0 when not even the key can be trusted.
 */
static int long_open(const net_lmdb_t *s, const MDB_val *k, const MDB_val *v, long_record_t *r,
                     bool *sum_ok)
{
    *sum_ok = false;
    if (k->mv_size != s->inline_max || v->mv_size < LONG_HEADER_BYTES)
        return 0;
    const uint8_t *p = v->mv_data;
    size_t key_length = (size_t)p[NET_LMDB_RECORD_HEADER_BYTES] |
                        (size_t)p[NET_LMDB_RECORD_HEADER_BYTES + 1] << 8;
    if (key_length <= s->inline_max || key_length > NET_LMDB_KEY_MAX ||
        key_length > v->mv_size - LONG_HEADER_BYTES)
        return 0;
    r->key = p + LONG_HEADER_BYTES;
    r->key_length = key_length;
    r->blob = r->key + key_length;
    r->blob_length = v->mv_size - LONG_HEADER_BYTES - key_length;
    uint8_t expect[NET_LMDB_KEY_LIMIT];
    long_stored_key(s, r->key, r->key_length, expect);
    if (memcmp(expect, k->mv_data, s->inline_max) != 0)
        return 0;
    *sum_ok = p[0] == RECORD_FORMAT_LONG &&
              get_u64le(p + 1) == record_sum(RECORD_FORMAT_LONG, r->key, r->key_length, r->blob,
                                             r->blob_length);
    return 1;
}

/* ---- corrupt keys --------------------------------------------------------------------- */

static int corrupt_find(const corrupt_list_t *l, const uint8_t *key, size_t key_length)
{
    for (uint32_t i = 0; i < l->count; i++)
        if (l->keys[i].length == key_length && memcmp(l->keys[i].key, key, key_length) == 0)
            return (int)i;
    return -1;
}

static void corrupt_remove(corrupt_list_t *l, uint32_t i)
{
    DYN_ASSERT(i < l->count);
    memmove(&l->keys[i], &l->keys[i + 1], (l->count - i - 1) * sizeof(l->keys[0]));
    l->count--;
}

static void note_corrupt(net_lmdb_t *s, dyn_space_t space, const uint8_t *key, size_t key_length)
{
    corrupt_list_t *l = &s->corrupt[space];
    s->stats.corrupt_records++;
    if (corrupt_find(l, key, key_length) >= 0)
        return;
    if (l->count == NET_LMDB_CORRUPT_MAX || key_length > NET_LMDB_KEY_MAX) {
        /* Counted, and found again by the next scan once the list has room. */
        s->stats.corrupt_unlisted++;
        return;
    }
    l->keys[l->count].length = (uint16_t)key_length;
    memcpy(l->keys[l->count].key, key, key_length);
    l->count++;
}

static void forget_corrupt(net_lmdb_t *s, dyn_space_t space, const uint8_t *key,
                           size_t key_length)
{
    corrupt_list_t *l = &s->corrupt[space];
    if (l->count == 0)
        return;
    int i = corrupt_find(l, key, key_length);
    if (i >= 0)
        corrupt_remove(l, (uint32_t)i);
}

int net_lmdb_take_corrupt(net_lmdb_t *s, dyn_space_t space, uint8_t *key, size_t key_cap,
                          size_t *key_length)
{
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    corrupt_list_t *l = &s->corrupt[space];
    if (l->count == 0)
        return DYN_ENOTFOUND;
    *key_length = l->keys[0].length;
    if (key_cap < l->keys[0].length)
        return DYN_ETOOBIG;
    memcpy(key, l->keys[0].key, l->keys[0].length);
    corrupt_remove(l, 0);
    return DYN_OK;
}

/* ---- open, close, sync ---------------------------------------------------------------- */

static void say(char *err, size_t errlen, const char *dir, const char *what, int rc)
{
    if (errlen == 0)
        return;
    if (rc == ENOENT)
        snprintf(err, errlen, "lmdb store '%s': %s: no such directory (it must exist)", dir, what);
    else
        snprintf(err, errlen, "lmdb store '%s': %s: %s", dir, what, mdb_strerror(rc));
}

static int reserve_disk(net_lmdb_t *s, size_t used, size_t mapsize);

int net_lmdb_open(const char *dir, const net_lmdb_options_t *opt, net_lmdb_t **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    net_lmdb_options_t o = opt ? *opt : (net_lmdb_options_t){0};
    if (!o.map_size_bytes)
        o.map_size_bytes = NET_LMDB_MAP_SIZE_DEFAULT;
    if (!dir || !dir[0] || (o.sync != NET_SYNC_EVERY_WRITE && o.sync != NET_SYNC_INTERVAL &&
                            o.sync != NET_SYNC_NONE)) {
        if (errlen)
            snprintf(err, errlen, "lmdb store: %s", !dir || !dir[0] ? "no directory given"
                                                                    : "unknown sync policy");
        return DYN_EINVAL;
    }
    net_lmdb_t *s = calloc(1, sizeof(*s));
    if (!s) {
        if (errlen)
            snprintf(err, errlen, "lmdb store '%s': out of memory", dir);
        return DYN_ENOMEM;
    }
    s->sync = o.sync;
    s->batch_headroom = o.batch_headroom_bytes ? o.batch_headroom_bytes
                                               : NET_LMDB_BATCH_HEADROOM_DEFAULT;
    unsigned flags = MDB_NOTLS | MDB_WRITEMAP;
    if (o.sync == NET_SYNC_INTERVAL)
        flags |= MDB_NOSYNC;
    else if (o.sync == NET_SYNC_NONE)
        flags |= MDB_NOSYNC | MDB_NOMETASYNC;

    int rc = mdb_env_create(&s->env);
    const char *what = "creating the environment";
    if (rc == 0) {
        what = "setting the map size";
        rc = mdb_env_set_mapsize(s->env, o.map_size_bytes);
    }
    if (rc == 0) {
        what = "setting the database count";
        rc = mdb_env_set_maxdbs(s->env, 2 * DYN_SPACE_COUNT_);
    }
    if (rc == 0) {
        what = "opening";
        rc = mdb_env_open(s->env, dir, flags, 0600);
    }
    if (rc == 0) {
        /* Blocks for the first writes, the databases' creation among them (reserve_disk). */
        what = "giving the data file its first blocks";
        MDB_stat st;
        MDB_envinfo info = {0};
        rc = mdb_env_stat(s->env, &st);
        if (rc == 0)
            rc = mdb_env_info(s->env, &info);
        if (rc == 0) {
            s->page_size = st.ms_psize;
            int r = reserve_disk(s, (info.me_last_pgno + 1) * s->page_size, info.me_mapsize);
            rc = r == DYN_OK ? 0 : r == DYN_EFULL ? ENOSPC : EIO;
        }
    }
    MDB_txn *txn = NULL;
    if (rc == 0) {
        what = "creating its databases";
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        for (int i = 0; rc == 0 && i < DYN_SPACE_COUNT_; i++) {
            rc = mdb_dbi_open(txn, space_names[i], MDB_CREATE, &s->dbi[i]);
            if (rc == 0)
                rc = mdb_dbi_open(txn, long_names[i], MDB_CREATE, &s->dbi_long[i]);
        }
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else if (txn)
            mdb_txn_abort(txn);
    }
    if (rc != 0) {
        say(err, errlen, dir, what, rc);
        if (s->env)
            mdb_env_close(s->env);
        free(s);
        if (rc == ENOENT)
            return DYN_ENOTFOUND;
        int st = status_of(rc);
        return st == DYN_EFULL || st == DYN_ENOMEM ? st : DYN_EIO;
    }
    /* Capped so that a long key's stored form fits NET_LMDB_KEY_LIMIT-sized buffers; a build
     * with a larger MDB_MAXKEYSIZE just sends more keys to the long databases. */
    int max = mdb_env_get_maxkeysize(s->env);
    DYN_ASSERT(max > (int)LONG_HASH_BYTES);
    s->inline_max = (size_t)max < NET_LMDB_KEY_LIMIT ? (size_t)max : NET_LMDB_KEY_LIMIT;
    *out = s;
    return DYN_OK;
}

/* ---- the write batch ---------------------------------------------------------------- */

/*
 * Each change of the batch is logged (its header, key and blob) as it is made. When LMDB fails a
 * change, the transaction is fit only for abort, which would take the batch's earlier changes
 * with it though their puts have returned DYN_OK: the log lets them be made again, alone.
 */
typedef struct log_head {
    uint8_t op, space;
    uint16_t pad;
    uint32_t key_length, blob_length;
} log_head_t;

enum { LOG_PUT = 1, LOG_DEL = 2 };

static int apply(net_lmdb_t *s, MDB_txn *txn, uint8_t op, dyn_space_t space, const uint8_t *key,
                 size_t key_length, const uint8_t *blob, size_t blob_length, bool *broken);

/* Append a change; *key_copy and *blob_copy point at the log's copies until the next append. */
static int log_append(net_lmdb_t *s, uint8_t op, dyn_space_t space, const uint8_t *key,
                      size_t key_length, const uint8_t *blob, size_t blob_length,
                      const uint8_t **key_copy, const uint8_t **blob_copy)
{
    size_t need = sizeof(log_head_t) + key_length + blob_length;
    if (s->log_capacity - s->log_length < need) {
        size_t cap = s->log_capacity ? s->log_capacity : 4096;
        while (cap - s->log_length < need)
            cap *= 2;
        uint8_t *log = realloc(s->log, cap);
        if (!log)
            return DYN_ENOMEM;
        s->log = log;
        s->log_capacity = cap;
    }
    log_head_t h = {.op = op, .space = (uint8_t)space, .key_length = (uint32_t)key_length,
                    .blob_length = (uint32_t)blob_length};
    uint8_t *p = s->log + s->log_length;
    memcpy(p, &h, sizeof h);
    memcpy(p + sizeof h, key, key_length);
    if (blob_length)
        memcpy(p + sizeof h + key_length, blob, blob_length);
    *key_copy = p + sizeof h;
    *blob_copy = p + sizeof h + key_length;
    s->log_length += need;
    return DYN_OK;
}

/* End the get snapshot: called after a write commits, never before (see put). */
static void end_read(net_lmdb_t *s)
{
    if (s->read_live) {
        mdb_txn_reset(s->read_txn);
        s->read_live = false;
    }
}

/* Commit the batch, if one is open; a failure marks it lost for net_lmdb_commit to report. */
static int batch_commit(net_lmdb_t *s)
{
    if (!s->write_txn)
        return 0;
    int rc = mdb_txn_commit(s->write_txn);
    s->write_txn = NULL;
    s->log_length = 0;
    s->batch_changes = 0;
    end_read(s);
    if (rc != 0) {
        s->batch_lost = true;
        s->stats.batches_lost++;
        return rc;
    }
    s->stats.batches++;
    if (s->sync == NET_SYNC_EVERY_WRITE)
        s->stats.syncs++;
    return 0;
}

/* The logged change at `at`: its header in *h, and its key (its blob follows the key). */
static const uint8_t *log_entry(const net_lmdb_t *s, size_t at, log_head_t *h)
{
    memcpy(h, s->log + at, sizeof *h);
    return s->log + at + sizeof *h;
}

/* Make every logged change in txn. 0, or -1 on failure. */
static int redo(net_lmdb_t *s, MDB_txn *txn)
{
    for (size_t at = 0; at < s->log_length;) {
        log_head_t h;
        const uint8_t *key = log_entry(s, at, &h);
        bool broken = false;
        int st = apply(s, txn, h.op, (dyn_space_t)h.space, key, h.key_length,
                       key + h.key_length, h.blob_length, &broken);
        if (broken || (st != DYN_OK && st != DYN_ENOTFOUND))
            return -1;
        at += sizeof h + h.key_length + h.blob_length;
    }
    return 0;
}

/* One change in a transaction of its own: a change cut from a broken batch (the others may be
 * what filled the map), or one of the batch's made again after it broke. */
static int change_alone(net_lmdb_t *s, uint8_t op, dyn_space_t space, const uint8_t *key,
                        size_t key_length, const uint8_t *blob, size_t blob_length)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return status_of(rc);
    bool broken = false;
    int st = apply(s, txn, op, space, key, key_length, blob, blob_length, &broken);
    if (st != DYN_OK) {
        mdb_txn_abort(txn);
        return st;
    }
    rc = mdb_txn_commit(txn);
    end_read(s);
    if (rc != 0)
        return status_of(rc);
    s->stats.batches++;
    return DYN_OK;
}

/*
 * A change broke the batch's transaction: make the logged changes again in a new one, and if
 * that fails too (the batch together does not fit where its changes did one by one), one
 * transaction per change, as if there had been no batch.
 */
static void batch_redo(net_lmdb_t *s)
{
    mdb_txn_abort(s->write_txn);
    s->write_txn = NULL;
    size_t at = 0;
    MDB_txn *txn;
    /* A failed commit frees its transaction; a failed change leaves it to abort. */
    if (s->log_length && mdb_txn_begin(s->env, NULL, 0, &txn) == 0) {
        if (redo(s, txn) != 0) {
            mdb_txn_abort(txn);
        } else if (mdb_txn_commit(txn) == 0) {
            at = s->log_length;
            s->stats.batches++;
        }
    }
    while (at < s->log_length) {
        log_head_t h;
        const uint8_t *key = log_entry(s, at, &h);
        int st = change_alone(s, h.op, (dyn_space_t)h.space, key, h.key_length,
                              key + h.key_length, h.blob_length);
        if (st != DYN_OK && st != DYN_ENOTFOUND)
            break;
        at += sizeof h + h.key_length + h.blob_length;
    }
    if (at < s->log_length) {
        s->batch_lost = true;
        s->stats.batches_lost++;
    }
    s->log_length = 0;
    s->batch_changes = 0;
    end_read(s);
}

int net_lmdb_commit(net_lmdb_t *s)
{
    batch_commit(s);
    if (!s->batch_lost)
        return DYN_OK;
    s->batch_lost = false;
    return DYN_EIO;
}

int net_lmdb_sync_committed(net_lmdb_t *s)
{
    /*
     * fdatasync rather than LMDB's env sync, which with a writable map msyncs the whole map (a
     * gigabyte by default) in LMDB 0.9.24, Debian 12's: the same pages get written either way,
     * since Linux tracks the pages a shared mapping dirties in the file's page cache (meta pages
     * included), and this call does not depend on the map's size. Linux only: elsewhere fsync
     * may not see pages dirtied through a mapping.
     */
    mdb_filehandle_t fd;
    if (mdb_env_get_fd(s->env, &fd) != 0)
        return DYN_EIO;
    return fdatasync(fd) == 0 ? DYN_OK : DYN_EIO;
}

int net_lmdb_flush(net_lmdb_t *s)
{
    /* A lost batch stays to be reported by net_lmdb_commit too. */
    if (batch_commit(s) != 0 || s->batch_lost)
        return DYN_EIO;
    if (net_lmdb_sync_committed(s) != DYN_OK)
        return DYN_EIO;
    s->stats.syncs++;
    return DYN_OK;
}

int net_lmdb_close(net_lmdb_t *s)
{
    if (!s)
        return DYN_OK;
    int rc = net_lmdb_flush(s);
    if (rc == DYN_OK && s->batch_lost)
        rc = DYN_EIO;
    if (s->read_txn)
        mdb_txn_abort(s->read_txn);
    mdb_env_close(s->env);
    free(s->log);
    free(s);
    return rc;
}

net_lmdb_stats_t net_lmdb_stats(const net_lmdb_t *s)
{
    return s->stats;
}

size_t net_lmdb_key_max(const net_lmdb_t *s)
{
    (void)s;
    return NET_LMDB_KEY_MAX;
}

size_t net_lmdb_key_inline_max(const net_lmdb_t *s)
{
    return s->inline_max;
}

/* ---- the storage interface ------------------------------------------------------------- */

/* A long key's get, in txn (the batch's, or the get snapshot). */
static int long_get(net_lmdb_t *s, MDB_txn *txn, dyn_space_t space, const uint8_t *key,
                    size_t key_length, const uint8_t **blob, size_t *blob_length)
{
    uint8_t stored[NET_LMDB_KEY_LIMIT];
    long_stored_key(s, key, key_length, stored);
    MDB_val k = {.mv_size = s->inline_max, .mv_data = stored};
    MDB_val v;
    int rc = mdb_get(txn, s->dbi_long[space], &k, &v);
    if (rc != 0)
        return status_of(rc);
    long_record_t r;
    bool sum_ok;
    if (long_open(s, &k, &v, &r, &sum_ok) &&
        (r.key_length != key_length || memcmp(r.key, key, key_length) != 0))
        return DYN_ENOTFOUND; /* another key with the same prefix and hash */
    if (!sum_ok) {
        note_corrupt(s, space, key, key_length);
        return DYN_ECORRUPT;
    }
    *blob = r.blob;
    *blob_length = r.blob_length;
    return DYN_OK;
}

static int lmdb_get(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                    const uint8_t **blob, size_t *blob_length)
{
    net_lmdb_t *s = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    s->stats.gets++;
    if (key_length == 0 || key_length > NET_LMDB_KEY_MAX)
        return DYN_ENOTFOUND; /* no such key can have been stored */
    /* While a batch is open, read through it: it sees its own changes. */
    MDB_txn *txn = s->write_txn;
    if (!txn && !s->read_live) {
        int rc = s->read_txn ? mdb_txn_renew(s->read_txn)
                             : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->read_txn);
        if (rc != 0) {
            /* After a failed renew the handle is only fit for abort; begin afresh next time. */
            if (s->read_txn)
                mdb_txn_abort(s->read_txn);
            s->read_txn = NULL;
            return status_of(rc);
        }
        s->read_live = true;
    }
    bool in_batch = txn != NULL;
    if (!txn)
        txn = s->read_txn;
    if (key_length > s->inline_max) {
        int st = long_get(s, txn, space, key, key_length, blob, blob_length);
        if (in_batch && st != DYN_OK && st != DYN_ENOTFOUND)
            batch_redo(s); /* LMDB may have marked the batch's transaction failed; see below */
        return st;
    }
    MDB_val k = {.mv_size = key_length, .mv_data = (void *)key};
    MDB_val v;
    int rc = mdb_get(txn, s->dbi[space], &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND && in_batch) {
        /* A damaged page met by a read fails the whole transaction in LMDB: remake the batch
         * from its log so that one bad page costs this get, not the turn's writes. */
        batch_redo(s);
    }
    if (rc != 0)
        return status_of(rc);
    if (!record_ok(key, key_length, &v)) {
        note_corrupt(s, space, key, key_length);
        return DYN_ECORRUPT;
    }
    *blob = (const uint8_t *)v.mv_data + NET_LMDB_RECORD_HEADER_BYTES;
    *blob_length = v.mv_size - NET_LMDB_RECORD_HEADER_BYTES;
    return DYN_OK;
}

/*
 * Find a long key's record in a write transaction: DYN_OK with *v set when it holds this key
 * (intact or not), DYN_ENOTFOUND when absent, DYN_EIO when another key holds the slot.
 */
static int long_find(net_lmdb_t *s, MDB_txn *txn, dyn_space_t space, const uint8_t *key,
                     size_t key_length, MDB_val *k, MDB_val *v)
{
    int rc = mdb_get(txn, s->dbi_long[space], k, v);
    if (rc != 0)
        return status_of(rc);
    long_record_t r;
    bool sum_ok;
    if (!long_open(s, k, v, &r, &sum_ok))
        return DYN_OK; /* its key is damaged: ours hashes here, so let ours replace or drop it */
    if (r.key_length == key_length && memcmp(r.key, key, key_length) == 0)
        return DYN_OK;
    s->stats.long_collisions++;
    return DYN_EIO;
}

/*
 * Make one change in txn. *broken is set when LMDB failed it and the transaction may only be
 * aborted now; a change refused for its own sake (a del of an absent key, a long key whose slot
 * another key holds) leaves the transaction as it was.
 */
static int apply(net_lmdb_t *s, MDB_txn *txn, uint8_t op, dyn_space_t space, const uint8_t *key,
                 size_t key_length, const uint8_t *blob, size_t blob_length, bool *broken)
{
    uint8_t stored[NET_LMDB_KEY_LIMIT];
    MDB_val k = {.mv_size = key_length, .mv_data = (void *)key};
    MDB_dbi dbi = s->dbi[space];
    bool is_long = key_length > s->inline_max;
    if (is_long) {
        long_stored_key(s, key, key_length, stored);
        k = (MDB_val){.mv_size = s->inline_max, .mv_data = stored};
        dbi = s->dbi_long[space];
        MDB_val v;
        int rc = long_find(s, txn, space, key, key_length, &k, &v);
        if (rc == DYN_EIO) /* the slot is another key's: ours is not stored, and cannot be */
            return op == LOG_DEL ? DYN_ENOTFOUND : DYN_EIO;
        if (rc != DYN_OK && rc != DYN_ENOTFOUND) {
            *broken = true;
            return rc;
        }
        if (op == LOG_DEL && rc == DYN_ENOTFOUND)
            return DYN_ENOTFOUND;
        k = (MDB_val){.mv_size = s->inline_max, .mv_data = stored};
    }
    int rc;
    if (op == LOG_DEL) {
        rc = mdb_del(txn, dbi, &k, NULL);
        if (rc == MDB_NOTFOUND)
            return DYN_ENOTFOUND;
    } else {
        /* MDB_RESERVE hands us the value's room in a dirty page, so the blob is copied once. */
        size_t header = is_long ? LONG_HEADER_BYTES + key_length : NET_LMDB_RECORD_HEADER_BYTES;
        MDB_val v = {.mv_size = header + blob_length, .mv_data = NULL};
        rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
        if (rc == 0) {
            uint8_t *p = v.mv_data;
            uint8_t format = is_long ? RECORD_FORMAT_LONG : RECORD_FORMAT;
            p[0] = format;
            put_u64le(p + 1, record_sum(format, key, key_length, blob, blob_length));
            if (is_long) {
                p[NET_LMDB_RECORD_HEADER_BYTES] = (uint8_t)key_length;
                p[NET_LMDB_RECORD_HEADER_BYTES + 1] = (uint8_t)(key_length >> 8);
                memcpy(p + LONG_HEADER_BYTES, key, key_length);
            }
            if (blob_length) /* blob may be NULL for an empty value */
                memcpy(p + header, blob, blob_length);
        }
    }
    if (rc != 0) {
        *broken = true;
        return status_of(rc);
    }
    return DYN_OK;
}

/*
 * The writable map's file is sparse, and a page written into a hole that the filesystem cannot
 * fill faults (SIGBUS) rather than failing a write. So the file is given its blocks ahead of the
 * writes, a headroom at a time: a full disk then refuses a put with DYN_EFULL, as a full map does.
 * A batch writes at most a few megabytes past the map's last page (its changes, capped, and the
 * pages they copy), well inside the half headroom kept reserved.
 */
static int reserve_disk(net_lmdb_t *s, size_t used, size_t mapsize)
{
    if (used + s->batch_headroom / 2 <= s->reserved || s->reserved >= mapsize)
        return DYN_OK;
    size_t target = used + s->batch_headroom < mapsize ? used + s->batch_headroom : mapsize;
    mdb_filehandle_t fd;
    if (mdb_env_get_fd(s->env, &fd) != 0)
        return DYN_EIO;
    int rc = posix_fallocate(fd, (off_t)s->reserved, (off_t)(target - s->reserved));
    if (rc != 0) {
        s->stats.disk_full += rc == ENOSPC;
        return rc == ENOSPC ? DYN_EFULL : DYN_EIO;
    }
    s->reserved = target;
    return DYN_OK;
}

/* Open the batch's transaction, if none is open. Near the end of the map it holds one change. */
static int batch_begin(net_lmdb_t *s)
{
    if (s->write_txn)
        return DYN_OK;
    MDB_envinfo info = {0};
    if (mdb_env_info(s->env, &info) != 0)
        return DYN_EIO;
    size_t used = (info.me_last_pgno + 1) * s->page_size;
    int rc = reserve_disk(s, used, info.me_mapsize);
    if (rc != DYN_OK)
        return rc;
    rc = mdb_txn_begin(s->env, NULL, 0, &s->write_txn);
    if (rc != 0) {
        s->write_txn = NULL;
        return status_of(rc);
    }
    s->batch_alone = used > info.me_mapsize || info.me_mapsize - used < s->batch_headroom;
    return DYN_OK;
}

/*
 * A put or del joins the batch. It is made from the log's copy: the blob may be one get returned
 * from a page of this very transaction, which the change itself may rewrite.
 */
static int change(net_lmdb_t *s, uint8_t op, dyn_space_t space, const uint8_t *key,
                  size_t key_length, const uint8_t *blob, size_t blob_length, uint64_t *counter)
{
    int rc = batch_begin(s);
    if (rc != DYN_OK)
        return rc;
    size_t mark = s->log_length;
    const uint8_t *key_copy, *blob_copy;
    rc = log_append(s, op, space, key, key_length, blob, blob_length, &key_copy, &blob_copy);
    if (rc != DYN_OK)
        return rc;
    bool broken = false;
    rc = apply(s, s->write_txn, op, space, key_copy, key_length, blob_copy, blob_length, &broken);
    if (rc != DYN_OK) {
        s->log_length = mark; /* not part of the batch */
        if (!broken)
            return rc;
        batch_redo(s);
        if (s->batch_lost)
            return rc;
        rc = change_alone(s, op, space, key, key_length, blob, blob_length);
        if (rc != DYN_OK)
            return rc;
    } else if (s->batch_alone) {
        /* The change is the whole batch, so its own result tells of the commit; a loss of an
         * earlier batch not yet reported stays to be reported. */
        bool earlier = s->batch_lost;
        rc = batch_commit(s);
        if (rc != 0) {
            s->batch_lost = earlier;
            s->stats.batches_lost--;
            return status_of(rc);
        }
    } else if (++s->batch_changes >= BATCH_CHANGES_MAX || s->log_length > BATCH_BYTES_MAX) {
        /* A turn that writes a great deal (a transfer's merge) commits as it goes: the batch's
         * dirty pages and its log stay bounded. */
        batch_commit(s);
    }
    forget_corrupt(s, space, key, key_length);
    (*counter)++;
    return DYN_OK;
}

static int lmdb_put(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                    const uint8_t *blob, size_t blob_length)
{
    net_lmdb_t *s = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    if (key_length == 0)
        return DYN_EINVAL;
    if (key_length > NET_LMDB_KEY_MAX ||
        blob_length > UINT32_MAX - LONG_HEADER_BYTES - NET_LMDB_KEY_MAX)
        return DYN_ETOOBIG;
    return change(s, LOG_PUT, space, key, key_length, blob, blob_length, &s->stats.puts);
}

static int lmdb_del(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length)
{
    net_lmdb_t *s = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    if (key_length == 0 || key_length > NET_LMDB_KEY_MAX)
        return DYN_ENOTFOUND;
    return change(s, LOG_DEL, space, key, key_length, NULL, 0, &s->stats.dels);
}

/* One key and blob of a scan, pointing into the scan's snapshot. */
typedef struct scan_item {
    const uint8_t *key;
    size_t key_length;
    const uint8_t *blob;
    size_t blob_length;
} scan_item_t;

/* storage.h's order: memcmp on the common prefix, the shorter key first on a tie. */
static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int item_cmp(const void *x, const void *y)
{
    const scan_item_t *a = x, *b = y;
    return key_cmp(a->key, a->key_length, b->key, b->key_length);
}

/* The long keys of a space in key order: one prefix group at a time, sorted. */
typedef struct long_stream {
    MDB_cursor *cur;
    int rc; /* of the cursor's last move: 0 while k, v hold the next unread entry */
    MDB_val k, v;
    scan_item_t *group;
    size_t count, at, capacity;
} long_stream_t;

/* Read the next non-empty group (or none, at the end). DYN_OK, DYN_ENOMEM or a cursor error. */
static int long_next_group(net_lmdb_t *s, dyn_space_t space, long_stream_t *ls)
{
    size_t prefix = s->inline_max - LONG_HASH_BYTES;
    ls->count = ls->at = 0;
    while (ls->count == 0 && ls->rc == 0) {
        const uint8_t *first = ls->k.mv_data;
        bool first_ok = ls->k.mv_size == s->inline_max;
        do {
            long_record_t r;
            bool sum_ok;
            int key_ok = long_open(s, &ls->k, &ls->v, &r, &sum_ok);
            if (key_ok && sum_ok) {
                if (ls->count == ls->capacity) {
                    size_t cap = ls->capacity ? 2 * ls->capacity : 8;
                    scan_item_t *g = realloc(ls->group, cap * sizeof(*g));
                    if (!g)
                        return DYN_ENOMEM;
                    ls->group = g;
                    ls->capacity = cap;
                }
                ls->group[ls->count++] = (scan_item_t){r.key, r.key_length, r.blob,
                                                       r.blob_length};
            } else if (key_ok) {
                note_corrupt(s, space, r.key, r.key_length);
            } else {
                /* Not even the key can be named: counted, and found again by the next scan. */
                s->stats.corrupt_records++;
                s->stats.corrupt_unlisted++;
            }
            ls->rc = mdb_cursor_get(ls->cur, &ls->k, &ls->v, MDB_NEXT);
        } while (ls->rc == 0 && first_ok && ls->k.mv_size == s->inline_max &&
                 memcmp(ls->k.mv_data, first, prefix) == 0);
        if (ls->count > 1)
            qsort(ls->group, ls->count, sizeof(ls->group[0]), item_cmp);
    }
    return ls->rc == 0 || ls->rc == MDB_NOTFOUND ? DYN_OK : status_of(ls->rc);
}

/* Move the short keys' cursor to its next intact record (op: MDB_FIRST or MDB_NEXT). */
static int short_next(net_lmdb_t *s, dyn_space_t space, MDB_cursor *cur, MDB_cursor_op op,
                      scan_item_t *item)
{
    MDB_val k, v;
    int rc;
    for (rc = mdb_cursor_get(cur, &k, &v, op); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (record_ok(k.mv_data, k.mv_size, &v)) {
            *item = (scan_item_t){k.mv_data, k.mv_size,
                                  (const uint8_t *)v.mv_data + NET_LMDB_RECORD_HEADER_BYTES,
                                  v.mv_size - NET_LMDB_RECORD_HEADER_BYTES};
            return 0;
        }
        /* One bad record must not hide the rest of the space from anti-entropy. */
        note_corrupt(s, space, k.mv_data, k.mv_size);
    }
    return rc;
}

static int lmdb_scan(void *ctx, dyn_space_t space, dyn_storage_scan_fn fn, void *arg)
{
    net_lmdb_t *s = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    s->stats.scans++;
    /* The scan's snapshot must hold the batch: commit it (a loss is reported by commit). */
    batch_commit(s);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return status_of(rc);
    MDB_cursor *cur = NULL;
    long_stream_t ls = {0};
    rc = mdb_cursor_open(txn, s->dbi[space], &cur);
    if (rc == 0)
        rc = mdb_cursor_open(txn, s->dbi_long[space], &ls.cur);
    if (rc != 0) {
        if (cur)
            mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        return status_of(rc);
    }
    int result = 0;
    ls.rc = mdb_cursor_get(ls.cur, &ls.k, &ls.v, MDB_FIRST);
    result = long_next_group(s, space, &ls);
    scan_item_t shorter;
    int short_rc = result == 0 ? short_next(s, space, cur, MDB_FIRST, &shorter) : MDB_NOTFOUND;
    /* Merge the two streams, each in key order; no key is in both (its length decides). */
    while (result == 0 && (short_rc == 0 || ls.at < ls.count)) {
        bool take_long = short_rc != 0 ||
                         (ls.at < ls.count && item_cmp(&ls.group[ls.at], &shorter) < 0);
        const scan_item_t *it = take_long ? &ls.group[ls.at] : &shorter;
        result = fn(arg, it->key, it->key_length, it->blob, it->blob_length);
        if (result != 0)
            break;
        if (!take_long)
            short_rc = short_next(s, space, cur, MDB_NEXT, &shorter);
        else if (++ls.at == ls.count)
            result = long_next_group(s, space, &ls);
    }
    if (result == 0 && short_rc != 0 && short_rc != MDB_NOTFOUND)
        result = status_of(short_rc);
    free(ls.group);
    mdb_cursor_close(ls.cur);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return result;
}

static int lmdb_sync(void *ctx)
{
    net_lmdb_t *s = ctx;
    batch_commit(s);
    if (s->batch_lost)
        return DYN_EIO; /* still reported by net_lmdb_commit, so that nothing acknowledges it */
    switch (s->sync) {
    case NET_SYNC_INTERVAL: return net_lmdb_flush(s);
    case NET_SYNC_EVERY_WRITE: return DYN_OK; /* the commit was fsynced */
    case NET_SYNC_NONE: return DYN_OK;        /* by definition; see the header */
    }
    DYN_ASSERT(0);
    return DYN_EINVAL;
}

static const dyn_storage_ops_t lmdb_ops = {
    .get = lmdb_get, .put = lmdb_put, .del = lmdb_del, .scan = lmdb_scan, .sync = lmdb_sync,
};

dyn_storage_t net_lmdb_storage(net_lmdb_t *s)
{
    return (dyn_storage_t){.ops = &lmdb_ops, .ctx = s};
}
