/*
 * test_lmdb_store.c: the LMDB storage engine.
 *
 * First the storage.h contract (storage_contract.c, the same tests the memory engine passes, with
 * LMDB's default key order standing in for the sort), then what is LMDB's own: key limits,
 * persistence across close and reopen under each sync policy, record checksums (the test opens
 * the file with the LMDB API directly and damages stored records), a full map, bad directories.
 * Every engine lives in its own mkdtemp directory, removed at the end of its test.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/node.h"
#include "core/status.h"
#include "net/lmdb_store.h"
#include "tests/storage_contract.h"

/* ---- temporary directories -------------------------------------------------------------- */

typedef struct tmpdir {
    char path[256];
} tmpdir_t;

static void tmpdir_make(tmpdir_t *t)
{
    const char *base = getenv("TMPDIR");
    snprintf(t->path, sizeof(t->path), "%s/dyn-lmdb-XXXXXX", base && base[0] ? base : "/tmp");
    assert_non_null(mkdtemp(t->path));
}

/* Remove the directory and the files in it (LMDB makes data.mdb and lock.mdb, nothing deeper). */
static void tmpdir_remove(tmpdir_t *t)
{
    DIR *d = opendir(t->path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char file[512];
            snprintf(file, sizeof(file), "%s/%s", t->path, e->d_name);
            unlink(file);
        }
        closedir(d);
    }
    rmdir(t->path);
}

static net_lmdb_t *open_with(const tmpdir_t *t, const net_lmdb_options_t *opt)
{
    net_lmdb_t *s = NULL;
    char err[256];
    int rc = net_lmdb_open(t->path, opt, &s, err, sizeof(err));
    if (rc != DYN_OK)
        fail_msg("open %s: %s (%s)", t->path, dyn_strerror(rc), err);
    return s;
}

static net_lmdb_t *open_store(const tmpdir_t *t, net_sync_policy_t sync)
{
    net_lmdb_options_t opt = {.sync = sync};
    return open_with(t, &opt);
}

/* ---- the contract, on an engine that never fsyncs (speed; durability is tested below) ---- */

typedef struct contract_handle {
    tmpdir_t dir;
    net_lmdb_t *store;
    bool damaged; /* the test corrupted records on purpose */
} contract_handle_t;

static int contract_open(void **handle, dyn_storage_t *storage)
{
    contract_handle_t *h = calloc(1, sizeof(*h));
    if (!h)
        return -1;
    tmpdir_make(&h->dir);
    h->store = open_store(&h->dir, NET_SYNC_NONE);
    *handle = h;
    *storage = net_lmdb_storage(h->store);
    return 0;
}

static void contract_close(void *handle)
{
    contract_handle_t *h = handle;
    net_lmdb_stats_t st = net_lmdb_stats(h->store);
    bool damaged = h->damaged;
    assert_int_equal(net_lmdb_close(h->store), DYN_OK);
    tmpdir_remove(&h->dir);
    free(h);
    /* Unless a test damaged the file, any corruption seen is the engine's own bug. */
    if (!damaged)
        assert_int_equal(st.corrupt_records, 0);
}

static const storage_contract_engine_t lmdb_engine = {.open = contract_open,
                                                      .close = contract_close};

static net_lmdb_t *fixture_store(void **state)
{
    storage_fixture_t *f = *state;
    return ((contract_handle_t *)f->engine)->store;
}

static const char *fixture_dir(void **state)
{
    storage_fixture_t *f = *state;
    return ((contract_handle_t *)f->engine)->dir.path;
}

/* ---- raw access to the file, as a disk fault would change it ----------------------------- */

typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
} raw_t;

static void raw_open(raw_t *r, const char *dir, dyn_space_t space)
{
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, DYN_SPACE_COUNT_), 0);
    assert_int_equal(mdb_env_open(r->env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, net_lmdb_space_name(space), 0, &r->dbi), 0);
}

static void raw_close(raw_t *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

/* A copy of the stored record (header included) of a key; its length. */
static size_t raw_get(raw_t *r, const char *key, uint8_t *out, size_t cap)
{
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *)key}, v;
    assert_int_equal(mdb_get(r->txn, r->dbi, &k, &v), 0);
    assert_true(v.mv_size <= cap);
    memcpy(out, v.mv_data, v.mv_size);
    return v.mv_size;
}

static void raw_put(raw_t *r, const char *key, const uint8_t *record, size_t length)
{
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *)key};
    MDB_val v = {.mv_size = length, .mv_data = (void *)record};
    assert_int_equal(mdb_put(r->txn, r->dbi, &k, &v, 0), 0);
}

/* ---- keys ------------------------------------------------------------------------------- */

static void test_key_limits(void **state)
{
    storage_fixture_t *f = *state;
    net_lmdb_t *s = fixture_store(state);
    size_t max = net_lmdb_key_max(s);
    size_t inline_max = net_lmdb_key_inline_max(s);
    assert_int_equal(max, NET_LMDB_KEY_MAX);
    assert_true(inline_max >= 64 && inline_max <= NET_LMDB_KEY_LIMIT);
    /* core's longest key: a hint key of a DYN_KEY_MAX data key */
    assert_int_equal(max, DYN_HINT_KEY_MAX);
    uint8_t key[NET_LMDB_KEY_MAX + 2];
    memset(key, 'k', sizeof(key));
    const uint8_t *blob;
    size_t length;
    /* LMDB's own limit, one past it (the long-key path), and ours */
    size_t lengths[] = {inline_max, inline_max + 1, max};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(sc_put(f, DYN_SPACE_DATA, key, lengths[i], "v", 1), DYN_OK);
        assert_int_equal(sc_get(f, DYN_SPACE_DATA, key, lengths[i], &blob, &length), DYN_OK);
        assert_int_equal(length, 1);
    }
    assert_int_equal(sc_put(f, DYN_SPACE_DATA, key, max + 1, "v", 1), DYN_ETOOBIG);
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, key, max + 1, &blob, &length), DYN_ENOTFOUND);
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, key, max + 1), DYN_ENOTFOUND);
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, key, inline_max + 1), DYN_OK);
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, key, max), DYN_OK);
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, key, max), DYN_ENOTFOUND);
    /* LMDB cannot store an empty key; no caller has one (the codec refuses them). */
    assert_int_equal(sc_put(f, DYN_SPACE_DATA, key, 0, "v", 1), DYN_EINVAL);
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, key, 0, &blob, &length), DYN_ENOTFOUND);
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 1);
    /* A large value is fine: LMDB puts it on overflow pages. */
    size_t big = 1u << 20;
    uint8_t *value = malloc(big);
    assert_non_null(value);
    for (size_t i = 0; i < big; i++)
        value[i] = (uint8_t)(i * 7);
    assert_int_equal(sc_put(f, DYN_SPACE_DATA, "big", 3, value, big), DYN_OK);
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "big", 3, &blob, &length), DYN_OK);
    assert_int_equal(length, big);
    assert_memory_equal(blob, value, big);
    free(value);
}

/* ---- long keys: over LMDB's limit, in key order among the short ones ---------------------- */

typedef struct lk_key {
    uint8_t bytes[NET_LMDB_KEY_MAX];
    size_t length;
    bool live;
} lk_key_t;

static int lk_cmp(const void *x, const void *y)
{
    const lk_key_t *a = x, *b = y;
    size_t n = a->length < b->length ? a->length : b->length;
    int c = memcmp(a->bytes, b->bytes, n);
    return c ? c : (a->length > b->length) - (a->length < b->length);
}

/* The blob of a key: its length and last byte, so a blob under the wrong key shows. */
static void lk_blob(const lk_key_t *k, char *out, size_t cap)
{
    snprintf(out, cap, "%zu:%u", k->length, (unsigned)k->bytes[k->length - 1]);
}

typedef struct lk_scan {
    const lk_key_t *keys; /* sorted, live and dead */
    size_t count, at, seen, stop_after;
} lk_scan_t;

static int lk_visit(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                    size_t blob_length)
{
    lk_scan_t *sc = arg;
    while (sc->at < sc->count && !sc->keys[sc->at].live)
        sc->at++;
    assert_true(sc->at < sc->count);
    const lk_key_t *k = &sc->keys[sc->at++];
    assert_int_equal(key_length, k->length);
    assert_memory_equal(key, k->bytes, key_length);
    char expect[32];
    lk_blob(k, expect, sizeof(expect));
    assert_int_equal(blob_length, strlen(expect));
    assert_memory_equal(blob, expect, blob_length);
    return ++sc->seen == sc->stop_after ? 7 : 0;
}

/* A scan meets exactly the live keys, in order; with stop_after, it stops there. */
static void lk_check_scan(dyn_storage_t st, const lk_key_t *keys, size_t count, size_t live)
{
    lk_scan_t sc = {keys, count, 0, 0, 0};
    assert_int_equal(st.ops->scan(st.ctx, DYN_SPACE_DATA, lk_visit, &sc), 0);
    assert_int_equal(sc.seen, live);
    if (live > 2) {
        lk_scan_t part = {keys, count, 0, 0, live / 2 + 1};
        assert_int_equal(st.ops->scan(st.ctx, DYN_SPACE_DATA, lk_visit, &part), 7);
        assert_int_equal(part.seen, live / 2 + 1);
    }
}

/*
 * Keys on both sides of LMDB's limit that share its long-key prefix (the first inline_max - 8
 * bytes), with tails that sort before and after the hash bytes would, and long keys with other
 * prefixes: puts, gets, scans in storage.h's order, deletes, and the same after a reopen.
 */
static void test_long_keys(void **state)
{
    tmpdir_t dir;
    tmpdir_make(&dir);
    net_lmdb_t *s = open_store(&dir, NET_SYNC_NONE);
    dyn_storage_t st = net_lmdb_storage(s);
    size_t inline_max = net_lmdb_key_inline_max(s);
    size_t prefix = inline_max - 8;
    static lk_key_t keys[256];
    size_t count = 0;
    const uint8_t tails[] = {0x00, 'a', 'b', 0xff};
    size_t extra[] = {0, 1, 7, 8, 9, 20, NET_LMDB_KEY_MAX - prefix - 1};
    const uint8_t firsts[] = {'a', 'b'};
    for (size_t fi = 0; fi < 2; fi++)
        for (size_t e = 0; e < sizeof(extra) / sizeof(extra[0]); e++)
            for (size_t t = 0; t < sizeof(tails); t++) {
                lk_key_t *k = &keys[count++];
                k->length = prefix + extra[e] + 1;
                memset(k->bytes, 'm', k->length);
                k->bytes[0] = firsts[fi];
                k->bytes[k->length - 1] = tails[t];
                k->live = true;
            }
    /* short keys that sort among them */
    const char *shorts[] = {"a", "b", "m", "z", "am", "bn"};
    for (size_t i = 0; i < 6; i++) {
        lk_key_t *k = &keys[count++];
        k->length = strlen(shorts[i]);
        memcpy(k->bytes, shorts[i], k->length);
        k->live = true;
    }
    qsort(keys, count, sizeof(keys[0]), lk_cmp);
    for (size_t i = 1; i < count; i++)
        assert_true(lk_cmp(&keys[i - 1], &keys[i]) < 0); /* distinct */
    for (size_t i = 0; i < count; i++) {
        char blob[32];
        lk_blob(&keys[i], blob, sizeof(blob));
        assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, keys[i].bytes, keys[i].length,
                                     (const uint8_t *)blob, strlen(blob)), DYN_OK);
    }
    lk_check_scan(st, keys, count, count);
    /* every other key deleted; gets see the rest, with their own blobs */
    size_t live = 0;
    for (size_t i = 0; i < count; i++) {
        if (i % 2) {
            assert_int_equal(st.ops->del(st.ctx, DYN_SPACE_DATA, keys[i].bytes, keys[i].length),
                             DYN_OK);
            keys[i].live = false;
        } else {
            live++;
        }
    }
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    s = open_store(&dir, NET_SYNC_NONE);
    st = net_lmdb_storage(s);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *blob;
        size_t length;
        int rc = st.ops->get(st.ctx, DYN_SPACE_DATA, keys[i].bytes, keys[i].length, &blob,
                             &length);
        assert_int_equal(rc, keys[i].live ? DYN_OK : DYN_ENOTFOUND);
        if (rc == DYN_OK) {
            char expect[32];
            lk_blob(&keys[i], expect, sizeof(expect));
            assert_int_equal(length, strlen(expect));
            assert_memory_equal(blob, expect, length);
        }
    }
    lk_check_scan(st, keys, count, live);
    /* the spaces stay apart: the hint space has none of them */
    assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_HINTS, keys[0].bytes, keys[0].length,
                                 &(const uint8_t *){NULL}, &(size_t){0}), DYN_ENOTFOUND);
    assert_int_equal(net_lmdb_stats(s).corrupt_records, 0);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    tmpdir_remove(&dir);
}

static int count_keys_cb(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                         size_t blob_length)
{
    (*(size_t *)arg)++;
    return 0;
}

/* A damaged long record is refused by get and scan and named by its full key for repair. */
static void test_long_key_corrupt(void **state)
{
    tmpdir_t dir;
    tmpdir_make(&dir);
    net_lmdb_t *s = open_store(&dir, NET_SYNC_NONE);
    dyn_storage_t st = net_lmdb_storage(s);
    uint8_t key[700];
    memset(key, 'q', sizeof(key));
    assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, key, sizeof(key),
                                 (const uint8_t *)"blob", 4), DYN_OK);
    assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, (const uint8_t *)"x", 1,
                                 (const uint8_t *)"y", 1), DYN_OK);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    /* flip the last byte of the blob in the file */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k, v;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 2 * DYN_SPACE_COUNT_), 0);
    assert_int_equal(mdb_env_open(env, dir.path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "data.long", 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    uint8_t record[1024];
    assert_true(v.mv_size <= sizeof(record));
    memcpy(record, v.mv_data, v.mv_size);
    record[v.mv_size - 1] ^= 1;
    MDB_val nv = {.mv_size = v.mv_size, .mv_data = record};
    assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
    mdb_cursor_close(cur);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    s = open_store(&dir, NET_SYNC_NONE);
    st = net_lmdb_storage(s);
    const uint8_t *blob;
    size_t length;
    assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, key, sizeof(key), &blob, &length),
                     DYN_ECORRUPT);
    uint8_t named[NET_LMDB_KEY_MAX];
    size_t named_length = 0;
    assert_int_equal(net_lmdb_take_corrupt(s, DYN_SPACE_DATA, named, sizeof(named),
                                           &named_length), DYN_OK);
    assert_int_equal(named_length, sizeof(key));
    assert_memory_equal(named, key, sizeof(key));
    /* a scan skips it, serves the rest, and names it again */
    size_t n = 0;
    assert_int_equal(st.ops->scan(st.ctx, DYN_SPACE_DATA, count_keys_cb, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(net_lmdb_take_corrupt(s, DYN_SPACE_DATA, named, sizeof(named),
                                           &named_length), DYN_OK);
    assert_int_equal(named_length, sizeof(key));
    /* repair: a put of the key replaces the damaged record */
    assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, key, sizeof(key),
                                 (const uint8_t *)"new", 3), DYN_OK);
    assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, key, sizeof(key), &blob, &length),
                     DYN_OK);
    assert_int_equal(length, 3);
    assert_memory_equal(blob, "new", 3);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    tmpdir_remove(&dir);
}

/* ---- the get pointer: more than the contract asks ------------------------------------------- */

typedef struct scan_writer {
    storage_fixture_t *f;
    size_t calls;
} scan_writer_t;

/* Writes and reads during a scan: the scan goes on over its own snapshot. */
static int scan_and_write(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                          size_t blob_length)
{
    scan_writer_t *w = arg;
    w->calls++;
    char copy[32];
    assert_true(blob_length < sizeof(copy));
    memcpy(copy, blob, blob_length);
    assert_int_equal(sc_put(w->f, DYN_SPACE_DATA, key, key_length, "rewritten!", 10), DYN_OK);
    assert_int_equal(sc_put(w->f, DYN_SPACE_DATA, "zz-new", 6, "n", 1), DYN_OK);
    const uint8_t *now;
    size_t now_length;
    assert_int_equal(sc_get(w->f, DYN_SPACE_DATA, key, key_length, &now, &now_length), DYN_OK);
    assert_int_equal(now_length, 10);
    /* The blob the scan handed us still holds what the scan read. */
    assert_int_equal(blob_length, 5);
    assert_memory_equal(blob, copy, blob_length);
    assert_memory_equal(blob, "value", 5);
    return 0;
}

static void test_get_pointer_survives_scan_and_writes_in_scan(void **state)
{
    storage_fixture_t *f = *state;
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "a", "value"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "b", "value"), DYN_OK);
    const uint8_t *blob;
    size_t length;
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "a", 1, &blob, &length), DYN_OK);
    /* A scan leaves the get snapshot alone. */
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 2);
    assert_int_equal(length, 5);
    assert_memory_equal(blob, "value", 5);
    /* A put that is handed that blob stores it intact. */
    assert_int_equal(sc_put(f, DYN_SPACE_HINTS, "a", 1, blob, length), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_HINTS, "a", "value");

    scan_writer_t w = {.f = f};
    assert_int_equal(f->s.ops->scan(f->s.ctx, DYN_SPACE_DATA, scan_and_write, &w), 0);
    assert_int_equal(w.calls, 2); /* "zz-new", written during the scan, is not in its snapshot */
    sc_assert_blob(f, DYN_SPACE_DATA, "a", "rewritten!");
    sc_assert_blob(f, DYN_SPACE_DATA, "zz-new", "n");
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 3);
}

/* ---- persistence and sync policies ------------------------------------------------------- */

static void fill(dyn_storage_t st, int n)
{
    for (int i = 0; i < n; i++) {
        char key[16], value[32];
        snprintf(key, sizeof(key), "key-%04d", i);
        snprintf(value, sizeof(value), "value %d %s", i, i % 2 ? "odd" : "even");
        assert_int_equal(st.ops->put(st.ctx, (dyn_space_t)(i % DYN_SPACE_COUNT_),
                                     (const uint8_t *)key, strlen(key), (const uint8_t *)value,
                                     strlen(value)),
                         DYN_OK);
    }
    for (int i = 0; i < n; i += 5) {
        char key[16];
        snprintf(key, sizeof(key), "key-%04d", i);
        assert_int_equal(st.ops->del(st.ctx, (dyn_space_t)(i % DYN_SPACE_COUNT_),
                                     (const uint8_t *)key, strlen(key)),
                         DYN_OK);
    }
}

static void check_filled(dyn_storage_t st, int n)
{
    for (int i = 0; i < n; i++) {
        char key[16], value[32];
        snprintf(key, sizeof(key), "key-%04d", i);
        snprintf(value, sizeof(value), "value %d %s", i, i % 2 ? "odd" : "even");
        for (int s = 0; s < DYN_SPACE_COUNT_; s++) {
            const uint8_t *blob;
            size_t length;
            int rc = st.ops->get(st.ctx, (dyn_space_t)s, (const uint8_t *)key, strlen(key),
                                 &blob, &length);
            if (s != i % DYN_SPACE_COUNT_ || i % 5 == 0) {
                assert_int_equal(rc, DYN_ENOTFOUND);
                continue;
            }
            assert_int_equal(rc, DYN_OK);
            assert_int_equal(length, strlen(value));
            assert_memory_equal(blob, value, length);
        }
    }
}

static void persistence_under(net_sync_policy_t policy)
{
    enum { N = 300 };
    tmpdir_t t;
    tmpdir_make(&t);
    net_lmdb_t *s = open_store(&t, policy);
    fill(net_lmdb_storage(s), N);
    /* The writes went into batches, committed as they filled; the last one is still open. */
    net_lmdb_stats_t st = net_lmdb_stats(s);
    assert_int_equal(st.puts, N);
    assert_int_equal(st.dels, N / 5);
    assert_true(st.batches >= 1 && st.batches < (N + N / 5) / 8);
    assert_int_equal(net_lmdb_commit(s), DYN_OK);
    st = net_lmdb_stats(s);
    /* Every commit fsyncs under EVERY_WRITE; under the others nothing has been synced yet. */
    assert_int_equal(st.syncs, policy == NET_SYNC_EVERY_WRITE ? st.batches : 0);
    assert_int_equal(st.batches_lost, 0);
    dyn_storage_t store = net_lmdb_storage(s);
    assert_int_equal(store.ops->sync(store.ctx), DYN_OK);
    /* The sync op fsyncs under INTERVAL only: EVERY_WRITE has nothing left, NONE never does. */
    assert_int_equal(net_lmdb_stats(s).syncs,
                     st.syncs + (policy == NET_SYNC_INTERVAL ? 1 : 0));
    assert_int_equal(net_lmdb_flush(s), DYN_OK);
    assert_int_equal(net_lmdb_stats(s).syncs, st.syncs + (policy == NET_SYNC_INTERVAL ? 2 : 1));
    /* Written after the flush: close must flush these. */
    assert_int_equal(store.ops->put(store.ctx, DYN_SPACE_META, (const uint8_t *)"late", 4,
                                    (const uint8_t *)"after flush", 11),
                     DYN_OK);
    assert_int_equal(net_lmdb_close(s), DYN_OK);

    /* Reopen under every policy: the file does not remember how it was written. */
    for (int p = 0; p < 3; p++) {
        s = open_store(&t, (net_sync_policy_t)p);
        check_filled(net_lmdb_storage(s), N);
        const uint8_t *blob;
        size_t length;
        store = net_lmdb_storage(s);
        assert_int_equal(store.ops->get(store.ctx, DYN_SPACE_META, (const uint8_t *)"late", 4,
                                        &blob, &length),
                         DYN_OK);
        assert_int_equal(length, 11);
        assert_memory_equal(blob, "after flush", 11);
        assert_int_equal(net_lmdb_stats(s).corrupt_records, 0);
        assert_int_equal(net_lmdb_close(s), DYN_OK);
    }
    tmpdir_remove(&t);
}

static void test_persist_every_write(void **state)
{
    persistence_under(NET_SYNC_EVERY_WRITE);
}

static void test_persist_interval(void **state)
{
    persistence_under(NET_SYNC_INTERVAL);
}

static void test_persist_none(void **state)
{
    persistence_under(NET_SYNC_NONE);
}

/* ---- record integrity -------------------------------------------------------------------- */

static const char stored_value[] = "a sibling set, encoded";

static int take(net_lmdb_t *s, dyn_space_t space, char *out, size_t cap)
{
    size_t length = 0;
    int rc = net_lmdb_take_corrupt(s, space, (uint8_t *)out, cap - 1, &length);
    out[rc == DYN_OK ? length : 0] = '\0';
    return rc;
}

/*
 * Flip each bit of a stored record in turn, one key per bit position (header and blob alike):
 * every one must be refused by get and by scan, and reported; the healthy keys around them are
 * still served.
 */
static void test_every_flipped_bit_detected(void **state)
{
    storage_fixture_t *f = *state;
    const size_t record = NET_LMDB_RECORD_HEADER_BYTES + sizeof(stored_value) - 1;
    const size_t bits = record * 8;
    char key[32];
    for (size_t b = 0; b < bits; b++) {
        snprintf(key, sizeof(key), "bit-%03zu", b);
        assert_int_equal(sc_puts(f, DYN_SPACE_DATA, key, stored_value), DYN_OK);
    }
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "healthy", stored_value), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_HINTS, "bit-000", stored_value), DYN_OK);
    /* The engine must be closed before anything else opens the file (LMDB's rule). */
    contract_handle_t *h = f->engine;
    h->damaged = true;
    assert_int_equal(net_lmdb_close(h->store), DYN_OK);

    raw_t r;
    raw_open(&r, fixture_dir(state), DYN_SPACE_DATA);
    for (size_t b = 0; b < bits; b++) {
        uint8_t bytes[64];
        snprintf(key, sizeof(key), "bit-%03zu", b);
        assert_int_equal(raw_get(&r, key, bytes, sizeof(bytes)), record);
        bytes[b / 8] ^= (uint8_t)(1u << (b % 8));
        raw_put(&r, key, bytes, record);
    }
    raw_close(&r);

    h->store = open_store(&h->dir, NET_SYNC_NONE);
    f->s = net_lmdb_storage(h->store);
    net_lmdb_t *s = h->store;
    const uint8_t *blob;
    size_t length;
    for (size_t b = 0; b < bits; b++) {
        snprintf(key, sizeof(key), "bit-%03zu", b);
        assert_int_equal(sc_get(f, DYN_SPACE_DATA, key, strlen(key), &blob, &length),
                         DYN_ECORRUPT);
    }
    sc_assert_blob(f, DYN_SPACE_DATA, "healthy", stored_value);
    sc_assert_blob(f, DYN_SPACE_HINTS, "bit-000", stored_value);
    assert_int_equal(net_lmdb_stats(s).corrupt_records, bits);
    /* Scan skips them all and serves the one healthy record. */
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 1);
    net_lmdb_stats_t st = net_lmdb_stats(s);
    assert_int_equal(st.corrupt_records, 2 * bits);
    /* Remembered once each, up to the bound, in the order first met; the rest counted. */
    size_t listed = bits < NET_LMDB_CORRUPT_MAX ? bits : NET_LMDB_CORRUPT_MAX;
    assert_int_equal(st.corrupt_unlisted, 2 * (bits - listed));
    char got[64];
    for (size_t b = 0; b < listed; b++) {
        snprintf(key, sizeof(key), "bit-%03zu", b);
        assert_int_equal(take(s, DYN_SPACE_DATA, got, sizeof(got)), DYN_OK);
        assert_string_equal(got, key);
    }
    assert_int_equal(take(s, DYN_SPACE_HINTS, got, sizeof(got)), DYN_ENOTFOUND);
    /* The list has room again: the next scan lists the keys it could not hold before. */
    assert_true(bits > NET_LMDB_CORRUPT_MAX);
    assert_int_equal(take(s, DYN_SPACE_DATA, got, sizeof(got)), DYN_ENOTFOUND);
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 1);
    size_t relisted = 0;
    while (take(s, DYN_SPACE_DATA, got, sizeof(got)) == DYN_OK)
        relisted++;
    assert_int_equal(relisted, bits - listed < listed ? bits - listed : listed);
}

/* A record moved under another key fails too: the checksum covers the key. */
static void test_swapped_and_truncated_records(void **state)
{
    storage_fixture_t *f = *state;
    assert_int_equal(sc_puts(f, DYN_SPACE_META, "one", "first value"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_META, "two", "second value"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_META, "short", "x"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_META, "empty", ""), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_META, "fine", "untouched"), DYN_OK);
    contract_handle_t *h = f->engine;
    h->damaged = true;
    assert_int_equal(net_lmdb_close(h->store), DYN_OK);

    raw_t r;
    raw_open(&r, fixture_dir(state), DYN_SPACE_META);
    uint8_t one[64], two[64], rec[64];
    size_t one_length = raw_get(&r, "one", one, sizeof(one));
    size_t two_length = raw_get(&r, "two", two, sizeof(two));
    raw_put(&r, "one", two, two_length);
    raw_put(&r, "two", one, one_length);
    size_t n = raw_get(&r, "short", rec, sizeof(rec));
    raw_put(&r, "short", rec, n - 1);                      /* the blob cut short */
    raw_put(&r, "empty", rec, 3);                          /* shorter than a header */
    raw_close(&r);

    h->store = open_store(&h->dir, NET_SYNC_EVERY_WRITE);
    f->s = net_lmdb_storage(h->store);
    const uint8_t *blob;
    size_t length;
    const char *bad[] = {"one", "two", "short", "empty"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(sc_get(f, DYN_SPACE_META, bad[i], strlen(bad[i]), &blob, &length),
                         DYN_ECORRUPT);
    sc_assert_blob(f, DYN_SPACE_META, "fine", "untouched");
    /* Taking with too little room leaves the key listed and says how much room it needs. */
    uint8_t tiny[2];
    assert_int_equal(net_lmdb_take_corrupt(h->store, DYN_SPACE_META, tiny, sizeof(tiny), &length),
                     DYN_ETOOBIG);
    assert_int_equal(length, 3);
    char got[16];
    assert_int_equal(take(h->store, DYN_SPACE_META, got, sizeof(got)), DYN_OK);
    assert_string_equal(got, "one");
    /* Repairing a key (put) or deleting it drops it from the list. */
    assert_int_equal(sc_puts(f, DYN_SPACE_META, "two", "repaired"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_META, "two", "repaired");
    assert_int_equal(sc_del(f, DYN_SPACE_META, "short", 5), DYN_OK);
    assert_int_equal(take(h->store, DYN_SPACE_META, got, sizeof(got)), DYN_OK);
    assert_string_equal(got, "empty");
    assert_int_equal(take(h->store, DYN_SPACE_META, got, sizeof(got)), DYN_ENOTFOUND);
    /* "one" is still damaged: the next read reports it again. */
    assert_int_equal(sc_get(f, DYN_SPACE_META, "one", 3, &blob, &length), DYN_ECORRUPT);
    assert_int_equal(take(h->store, DYN_SPACE_META, got, sizeof(got)), DYN_OK);
    assert_string_equal(got, "one");
    assert_int_equal(net_lmdb_stats(h->store).corrupt_records, 5);
}

/* ---- write batches ----------------------------------------------------------------------- */

/* Changes of an open batch are seen by get, and a blob get found in the batch can be put back. */
static void test_batch_reads_its_own_writes(void **state)
{
    (void)state;
    tmpdir_t t;
    tmpdir_make(&t);
    net_lmdb_t *s = open_store(&t, NET_SYNC_INTERVAL);
    dyn_storage_t st = net_lmdb_storage(s);
    const uint8_t *blob;
    size_t length;
    assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, (const uint8_t *)"a", 1,
                                 (const uint8_t *)"first", 5), DYN_OK);
    assert_int_equal(net_lmdb_stats(s).batches, 0); /* not committed yet */
    assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)"a", 1, &blob,
                                 &length), DYN_OK);
    assert_memory_equal(blob, "first", 5);
    /* The blob lies in a page of the batch that these puts rewrite: each is made from a copy. */
    for (int i = 0; i < 40; i++) {
        char key[8];
        snprintf(key, sizeof key, "b%02d", i);
        assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, 3, blob,
                                     length), DYN_OK);
        assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)"a", 1, &blob,
                                     &length), DYN_OK);
    }
    assert_int_equal(st.ops->del(st.ctx, DYN_SPACE_DATA, (const uint8_t *)"b00", 3), DYN_OK);
    assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)"b00", 3, &blob,
                                 &length), DYN_ENOTFOUND);
    assert_int_equal(net_lmdb_commit(s), DYN_OK);
    assert_int_equal(net_lmdb_stats(s).batches, 1);
    assert_int_equal(net_lmdb_commit(s), DYN_OK); /* nothing open: nothing to do */
    assert_int_equal(net_lmdb_stats(s).batches, 1);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    s = open_store(&t, NET_SYNC_INTERVAL);
    st = net_lmdb_storage(s);
    for (int i = 1; i < 40; i++) {
        char key[8];
        snprintf(key, sizeof key, "b%02d", i);
        assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, 3, &blob,
                                     &length), DYN_OK);
        assert_int_equal(length, 5);
        assert_memory_equal(blob, "first", 5);
    }
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    tmpdir_remove(&t);
}

/*
 * Batches run into a full map (headroom lowered to nothing): the put that does not fit fails, the
 * batch's earlier puts are made again, and whatever could not be is reported by commit. Every put
 * that returned DYN_OK is on disk after a reopen unless commit said the batch was lost.
 */
static void test_batch_into_full_map(void **state)
{
    (void)state;
    tmpdir_t t;
    tmpdir_make(&t);
    net_lmdb_options_t opt = {.map_size_bytes = 256 * 1024, .sync = NET_SYNC_NONE,
                              .batch_headroom_bytes = 1};
    net_lmdb_t *s = open_with(&t, &opt);
    dyn_storage_t st = net_lmdb_storage(s);
    uint8_t value[1000];
    memset(value, 'v', sizeof(value));
    int rc = DYN_OK, i;
    for (i = 0; i < 1000 && rc == DYN_OK; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%04d", i);
        rc = st.ops->put(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, strlen(key), value,
                         sizeof(value));
    }
    assert_int_equal(rc, DYN_EFULL);
    int lost = net_lmdb_commit(s) != DYN_OK;
    assert_int_equal(net_lmdb_stats(s).batches_lost, (uint64_t)lost);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    s = open_with(&t, &opt);
    st = net_lmdb_storage(s);
    int missing = 0;
    for (int j = 0; j < i - 1; j++) {
        char key[16];
        snprintf(key, sizeof(key), "k%04d", j);
        const uint8_t *blob;
        size_t length;
        missing += st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, strlen(key), &blob,
                               &length) != DYN_OK;
    }
    /* Batches before the failing one were committed whole: only its own puts can be missing. */
    assert_true(missing < 64);
    assert_int_equal(missing > 0, lost);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    tmpdir_remove(&t);
}

/*
 * A put too large for the map breaks the batch it joins: the batch's other puts are made again and
 * committed, and the large one, tried alone, is refused. Nothing acknowledged is lost.
 */
static void test_batch_redo_keeps_the_others(void **state)
{
    (void)state;
    tmpdir_t t;
    tmpdir_make(&t);
    net_lmdb_options_t opt = {.map_size_bytes = 1 << 20, .sync = NET_SYNC_NONE,
                              .batch_headroom_bytes = 1};
    net_lmdb_t *s = open_with(&t, &opt);
    dyn_storage_t st = net_lmdb_storage(s);
    uint8_t small[100];
    memset(small, 's', sizeof(small));
    for (int i = 0; i < 10; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%04d", i);
        assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, strlen(key),
                                     small, sizeof(small)), DYN_OK);
    }
    size_t big_length = 2 << 20;
    uint8_t *big = calloc(1, big_length);
    assert_non_null(big);
    assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, (const uint8_t *)"big", 3, big,
                                 big_length), DYN_EFULL);
    free(big);
    assert_int_equal(net_lmdb_commit(s), DYN_OK);
    assert_int_equal(net_lmdb_stats(s).batches_lost, 0);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    s = open_with(&t, &opt);
    st = net_lmdb_storage(s);
    for (int i = 0; i < 10; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%04d", i);
        const uint8_t *blob;
        size_t length;
        assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, strlen(key),
                                     &blob, &length), DYN_OK);
        assert_int_equal(length, sizeof(small));
    }
    const uint8_t *blob;
    size_t length;
    assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)"big", 3, &blob,
                                 &length), DYN_ENOTFOUND);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    tmpdir_remove(&t);
}

/* The map's file is sparse, and the engine gives it blocks ahead of the writes (reserve_disk). */
static void test_file_blocks_reserved(void **state)
{
    (void)state;
    tmpdir_t t;
    tmpdir_make(&t);
    net_lmdb_t *s = open_store(&t, NET_SYNC_NONE);
    char path[sizeof(t.path) + 16];
    snprintf(path, sizeof(path), "%s/data.mdb", t.path);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((size_t)sb.st_size, NET_LMDB_MAP_SIZE_DEFAULT); /* the whole map, sparse */
    size_t allocated = (size_t)sb.st_blocks * 512;
    assert_true(allocated >= NET_LMDB_BATCH_HEADROOM_DEFAULT);
    assert_true(allocated < NET_LMDB_MAP_SIZE_DEFAULT / 4);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    tmpdir_remove(&t);
}

/* ---- limits and errors ------------------------------------------------------------------- */

static void test_map_full(void **state)
{
    tmpdir_t t;
    tmpdir_make(&t);
    net_lmdb_options_t opt = {.map_size_bytes = 256 * 1024, .sync = NET_SYNC_NONE};
    net_lmdb_t *s = NULL;
    char err[256];
    assert_int_equal(net_lmdb_open(t.path, &opt, &s, err, sizeof(err)), DYN_OK);
    dyn_storage_t st = net_lmdb_storage(s);
    uint8_t value[1000];
    memset(value, 'v', sizeof(value));
    int rc = DYN_OK, i;
    for (i = 0; i < 1000 && rc == DYN_OK; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%04d", i);
        rc = st.ops->put(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, strlen(key), value,
                         sizeof(value));
    }
    assert_int_equal(rc, DYN_EFULL);
    assert_true(i > 50 && i < 1000);
    /* What was stored before is still there and the engine still answers. */
    const uint8_t *blob;
    size_t length;
    assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)"k0000", 5, &blob,
                                 &length),
                     DYN_OK);
    assert_int_equal(length, sizeof(value));
    char failed[16];
    snprintf(failed, sizeof(failed), "k%04d", i - 1);
    assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)failed,
                                 strlen(failed), &blob, &length),
                     DYN_ENOTFOUND);
    assert_int_equal(net_lmdb_close(s), DYN_OK);
    tmpdir_remove(&t);

    /* A map too small even for the three databases: refused at open, with a reason. */
    tmpdir_make(&t);
    opt.map_size_bytes = 4096;
    rc = net_lmdb_open(t.path, &opt, &s, err, sizeof(err));
    assert_int_equal(rc, DYN_EFULL);
    assert_null(s);
    assert_non_null(strstr(err, t.path));
    assert_non_null(strstr(err, "MDB_MAP_FULL"));
    tmpdir_remove(&t);
}

static void test_bad_directory(void **state)
{
    net_lmdb_t *s = (net_lmdb_t *)&s; /* must be reset to NULL on failure */
    char err[256];
    assert_int_equal(net_lmdb_open("/nonexistent/dyn-lmdb", NULL, &s, err, sizeof(err)),
                     DYN_ENOTFOUND);
    assert_null(s);
    assert_string_equal(err, "lmdb store '/nonexistent/dyn-lmdb': opening: no such directory "
                             "(it must exist)");

    /* A file where the directory should be. */
    tmpdir_t t;
    tmpdir_make(&t);
    char file[300];
    snprintf(file, sizeof(file), "%s/plain-file", t.path);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fputs("not a directory\n", fp);
    fclose(fp);
    assert_int_equal(net_lmdb_open(file, NULL, &s, err, sizeof(err)), DYN_EIO);
    assert_null(s);
    assert_non_null(strstr(err, file));
    assert_non_null(strstr(err, "Not a directory"));

    /* A directory we may not write (root may write anywhere, so only as another user). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(t.path, 0500), 0);
        assert_int_equal(net_lmdb_open(t.path, NULL, &s, err, sizeof(err)), DYN_EIO);
        assert_non_null(strstr(err, "Permission denied"));
        assert_int_equal(chmod(t.path, 0700), 0);
    }
    unlink(file);

    /* Not an LMDB file. */
    snprintf(file, sizeof(file), "%s/data.mdb", t.path);
    fp = fopen(file, "w");
    assert_non_null(fp);
    for (int i = 0; i < 1000; i++)
        fputs("garbage garbage garbage\n", fp);
    fclose(fp);
    assert_int_equal(net_lmdb_open(t.path, NULL, &s, err, sizeof(err)), DYN_EIO);
    assert_non_null(strstr(err, "MDB_INVALID"));
    tmpdir_remove(&t);

    /* Bad options. */
    net_lmdb_options_t opt = {.sync = (net_sync_policy_t)7};
    assert_int_equal(net_lmdb_open("/tmp", &opt, &s, err, sizeof(err)), DYN_EINVAL);
    assert_non_null(strstr(err, "sync policy"));
    assert_int_equal(net_lmdb_open("", NULL, &s, err, sizeof(err)), DYN_EINVAL);
    /* No room for a message is fine. */
    assert_int_equal(net_lmdb_open("/nonexistent/dyn-lmdb", NULL, &s, NULL, 0), DYN_ENOTFOUND);
}

static void test_stats_and_names(void **state)
{
    storage_fixture_t *f = *state;
    net_lmdb_t *s = fixture_store(state);
    assert_string_equal(net_lmdb_space_name(DYN_SPACE_DATA), "data");
    assert_string_equal(net_lmdb_space_name(DYN_SPACE_HINTS), "hints");
    assert_string_equal(net_lmdb_space_name(DYN_SPACE_META), "meta");
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "a", "1"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "b", "2"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "a", "1");
    sc_assert_absent(f, DYN_SPACE_DATA, "c");
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, "a", 1), DYN_OK);
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, "a", 1), DYN_ENOTFOUND);
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 1);
    net_lmdb_stats_t st = net_lmdb_stats(s);
    assert_int_equal(st.puts, 2);
    assert_int_equal(st.gets, 2);
    assert_int_equal(st.dels, 1);
    assert_int_equal(st.scans, 1);
    assert_int_equal(st.syncs, 0);
    assert_int_equal(st.corrupt_records, 0);
}

int main(void)
{
    storage_contract_set_engine(&lmdb_engine);
    const struct CMUnitTest tests[] = {
        STORAGE_CONTRACT_TEST(test_key_limits),
        STORAGE_CONTRACT_TEST(test_get_pointer_survives_scan_and_writes_in_scan),
        cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_long_key_corrupt),
        cmocka_unit_test(test_persist_every_write),
        cmocka_unit_test(test_persist_interval),
        cmocka_unit_test(test_persist_none),
        STORAGE_CONTRACT_TEST(test_every_flipped_bit_detected),
        STORAGE_CONTRACT_TEST(test_swapped_and_truncated_records),
        cmocka_unit_test(test_map_full),
        cmocka_unit_test(test_batch_reads_its_own_writes),
        cmocka_unit_test(test_batch_into_full_map),
        cmocka_unit_test(test_batch_redo_keeps_the_others),
        cmocka_unit_test(test_file_blocks_reserved),
        cmocka_unit_test(test_bad_directory),
        STORAGE_CONTRACT_TEST(test_stats_and_names),
        STORAGE_CONTRACT_TESTS,
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
