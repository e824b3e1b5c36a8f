/*
 * lmdb_store.c: storage.h over LMDB, one named database per space, checksummed records.
 *
 * Record layout (the LMDB value): [format = 1][XXH3-64 little-endian, 8 bytes][blob]. The checksum
 * covers the key length, the format byte, the key and the blob, so a value that ends up under the
 * wrong key fails too, not only a flipped bit.
 *
 * The environment is opened with MDB_NOTLS: the engine holds two read transactions on one thread
 * at times (the get snapshot and a scan's), which LMDB allows only when reader slots belong to
 * transactions rather than threads.
 */
#include "net/lmdb_store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/status.h"

#define RECORD_FORMAT 1u
#define RECORD_SEED 0x6c6d64627265636fULL /* "lmdbreco" */

DYN_STATIC_ASSERT(NET_LMDB_RECORD_HEADER_BYTES == 1 + 8, "header: format byte + 64-bit sum");
DYN_STATIC_ASSERT(NET_LMDB_KEY_LIMIT <= UINT16_MAX, "corrupt key lengths fit 16 bits");

typedef struct corrupt_key {
    uint16_t length;
    uint8_t key[NET_LMDB_KEY_LIMIT];
} corrupt_key_t;

typedef struct corrupt_list {
    uint32_t count;
    corrupt_key_t keys[NET_LMDB_CORRUPT_MAX]; /* oldest first */
} corrupt_list_t;

struct net_lmdb {
    MDB_env *env;
    MDB_dbi dbi[DYN_SPACE_COUNT_];
    net_sync_policy_t sync;
    size_t key_max;
    /* The snapshot gets read from; live until the next write commits (see the header). */
    MDB_txn *read_txn;
    bool read_live;
    net_lmdb_stats_t stats;
    corrupt_list_t corrupt[DYN_SPACE_COUNT_];
};

static const char *const space_names[DYN_SPACE_COUNT_] = {"data", "hints", "meta"};

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

static uint64_t record_sum(const uint8_t *key, size_t key_length, const uint8_t *blob,
                           size_t blob_length)
{
    /* Zeroed first: GCC cannot see that reset initialises every field it later reads. */
    XXH3_state_t st;
    memset(&st, 0, sizeof st);
    uint8_t prefix[5] = {(uint8_t)key_length, (uint8_t)(key_length >> 8),
                         (uint8_t)(key_length >> 16), (uint8_t)(key_length >> 24), RECORD_FORMAT};
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
    return get_u64le(p + 1) == record_sum(key, key_length, p + NET_LMDB_RECORD_HEADER_BYTES,
                                           v->mv_size - NET_LMDB_RECORD_HEADER_BYTES);
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
    if (l->count == NET_LMDB_CORRUPT_MAX || key_length > NET_LMDB_KEY_LIMIT) {
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
    unsigned flags = MDB_NOTLS;
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
        rc = mdb_env_set_maxdbs(s->env, DYN_SPACE_COUNT_);
    }
    if (rc == 0) {
        what = "opening";
        rc = mdb_env_open(s->env, dir, flags, 0600);
    }
    MDB_txn *txn = NULL;
    if (rc == 0) {
        what = "creating its databases";
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        for (int i = 0; rc == 0 && i < DYN_SPACE_COUNT_; i++)
            rc = mdb_dbi_open(txn, space_names[i], MDB_CREATE, &s->dbi[i]);
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
    int max = mdb_env_get_maxkeysize(s->env);
    DYN_ASSERT(max > 0);
    s->key_max = (size_t)max < NET_LMDB_KEY_LIMIT ? (size_t)max : NET_LMDB_KEY_LIMIT;
    *out = s;
    return DYN_OK;
}

int net_lmdb_flush(net_lmdb_t *s)
{
    int rc = mdb_env_sync(s->env, 1);
    if (rc != 0)
        return DYN_EIO;
    s->stats.syncs++;
    return DYN_OK;
}

int net_lmdb_close(net_lmdb_t *s)
{
    if (!s)
        return DYN_OK;
    int rc = net_lmdb_flush(s);
    if (s->read_txn)
        mdb_txn_abort(s->read_txn);
    mdb_env_close(s->env);
    free(s);
    return rc;
}

net_lmdb_stats_t net_lmdb_stats(const net_lmdb_t *s)
{
    return s->stats;
}

size_t net_lmdb_key_max(const net_lmdb_t *s)
{
    return s->key_max;
}

/* ---- the storage interface ------------------------------------------------------------- */

/* End the get snapshot: called after a write commits, never before (see put). */
static void end_read(net_lmdb_t *s)
{
    if (s->read_live) {
        mdb_txn_reset(s->read_txn);
        s->read_live = false;
    }
}

static int lmdb_get(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                    const uint8_t **blob, size_t *blob_length)
{
    net_lmdb_t *s = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    s->stats.gets++;
    if (key_length == 0 || key_length > s->key_max)
        return DYN_ENOTFOUND; /* no such key can have been stored */
    if (!s->read_live) {
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
    MDB_val k = {.mv_size = key_length, .mv_data = (void *)key};
    MDB_val v;
    int rc = mdb_get(s->read_txn, s->dbi[space], &k, &v);
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

/* Commit a write transaction, then release the get snapshot and account for the write. */
static int commit_write(net_lmdb_t *s, MDB_txn *txn)
{
    int rc = mdb_txn_commit(txn);
    if (rc != 0)
        return status_of(rc);
    end_read(s);
    if (s->sync == NET_SYNC_EVERY_WRITE)
        s->stats.syncs++;
    return DYN_OK;
}

static int lmdb_put(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                    const uint8_t *blob, size_t blob_length)
{
    net_lmdb_t *s = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    if (key_length == 0)
        return DYN_EINVAL;
    if (key_length > s->key_max || blob_length > UINT32_MAX - NET_LMDB_RECORD_HEADER_BYTES)
        return DYN_ETOOBIG;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return status_of(rc);
    MDB_val k = {.mv_size = key_length, .mv_data = (void *)key};
    MDB_val v = {.mv_size = NET_LMDB_RECORD_HEADER_BYTES + blob_length, .mv_data = NULL};
    /*
     * MDB_RESERVE hands us the value's room in a dirty page, so the blob is copied once. The blob
     * may be one get returned: it lies in a page of the get snapshot, still open, so this
     * transaction cannot have reused that page.
     */
    rc = mdb_put(txn, s->dbi[space], &k, &v, MDB_RESERVE);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return status_of(rc);
    }
    uint8_t *p = v.mv_data;
    p[0] = RECORD_FORMAT;
    put_u64le(p + 1, record_sum(key, key_length, blob, blob_length));
    if (blob_length) /* blob may be NULL for an empty value */
        memcpy(p + NET_LMDB_RECORD_HEADER_BYTES, blob, blob_length);
    rc = commit_write(s, txn);
    if (rc != DYN_OK)
        return rc;
    forget_corrupt(s, space, key, key_length);
    s->stats.puts++;
    return DYN_OK;
}

static int lmdb_del(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length)
{
    net_lmdb_t *s = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    if (key_length == 0 || key_length > s->key_max)
        return DYN_ENOTFOUND;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return status_of(rc);
    MDB_val k = {.mv_size = key_length, .mv_data = (void *)key};
    rc = mdb_del(txn, s->dbi[space], &k, NULL);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return status_of(rc);
    }
    rc = commit_write(s, txn);
    if (rc != DYN_OK)
        return rc;
    forget_corrupt(s, space, key, key_length);
    s->stats.dels++;
    return DYN_OK;
}

static int lmdb_scan(void *ctx, dyn_space_t space, dyn_storage_scan_fn fn, void *arg)
{
    net_lmdb_t *s = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    s->stats.scans++;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return status_of(rc);
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->dbi[space], &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return status_of(rc);
    }
    int result = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!record_ok(k.mv_data, k.mv_size, &v)) {
            /* One bad record must not hide the rest of the space from anti-entropy. */
            note_corrupt(s, space, k.mv_data, k.mv_size);
            continue;
        }
        result = fn(arg, k.mv_data, k.mv_size,
                    (const uint8_t *)v.mv_data + NET_LMDB_RECORD_HEADER_BYTES,
                    v.mv_size - NET_LMDB_RECORD_HEADER_BYTES);
        if (result != 0)
            break;
    }
    if (result == 0 && rc != MDB_NOTFOUND)
        result = status_of(rc);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return result;
}

static int lmdb_sync(void *ctx)
{
    net_lmdb_t *s = ctx;
    switch (s->sync) {
    case NET_SYNC_INTERVAL: return net_lmdb_flush(s);
    case NET_SYNC_EVERY_WRITE: return DYN_OK; /* every commit was fsynced already */
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
