/*
 * storage_contract.c: the storage.h contract, as cmocka tests any engine runs.
 *
 * Every test here goes through dyn_storage_t only, so the memory engine (test_mem_store.c) and
 * the LMDB engine (test_lmdb_store.c) run the very same checks; engine-specific matters (the
 * memory engine's byte accounting, LMDB's durability and checksums) stay in their own files.
 * Key counts are taken by scanning, which cross-checks scan against get on every count.
 *
 * The heavy test runs ~50,000 random operations against a trivial reference model (an array of
 * keys with a present flag and a blob copy), growing the store past 1536 keys and draining it,
 * and checks every key, present or absent, every 2,500 operations.
 */
#include "tests/storage_contract.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/prng.h"
#include "core/status.h"

static const storage_contract_engine_t *engine;

void storage_contract_set_engine(const storage_contract_engine_t *e)
{
    engine = e;
}

int storage_contract_setup(void **state)
{
    storage_fixture_t *f = calloc(1, sizeof(*f));
    if (!f || !engine)
        return -1;
    if (engine->open(&f->engine, &f->s) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int storage_contract_teardown(void **state)
{
    storage_fixture_t *f = *state;
    engine->close(f->engine);
    free(f);
    return 0;
}

int sc_put(storage_fixture_t *f, dyn_space_t space, const void *key, size_t key_length,
           const void *blob, size_t blob_length)
{
    return f->s.ops->put(f->s.ctx, space, key, key_length, blob, blob_length);
}

int sc_get(storage_fixture_t *f, dyn_space_t space, const void *key, size_t key_length,
           const uint8_t **blob, size_t *blob_length)
{
    return f->s.ops->get(f->s.ctx, space, key, key_length, blob, blob_length);
}

int sc_del(storage_fixture_t *f, dyn_space_t space, const void *key, size_t key_length)
{
    return f->s.ops->del(f->s.ctx, space, key, key_length);
}

int sc_puts(storage_fixture_t *f, dyn_space_t space, const char *key, const char *blob)
{
    return sc_put(f, space, key, strlen(key), blob, strlen(blob));
}

void sc_assert_blob(storage_fixture_t *f, dyn_space_t space, const char *key, const char *expect)
{
    const uint8_t *blob = NULL;
    size_t length = 0;
    assert_int_equal(sc_get(f, space, key, strlen(key), &blob, &length), DYN_OK);
    assert_int_equal(length, strlen(expect));
    if (length)
        assert_memory_equal(blob, expect, length);
}

void sc_assert_absent(storage_fixture_t *f, dyn_space_t space, const char *key)
{
    const uint8_t *blob;
    size_t length;
    assert_int_equal(sc_get(f, space, key, strlen(key), &blob, &length), DYN_ENOTFOUND);
}

static int count_one(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                     size_t blob_length)
{
    (*(size_t *)arg)++;
    return 0;
}

size_t sc_key_count(storage_fixture_t *f, dyn_space_t space)
{
    size_t n = 0;
    assert_int_equal(f->s.ops->scan(f->s.ctx, space, count_one, &n), 0);
    return n;
}

/* ---- basics --------------------------------------------------------------------------- */

void contract_put_get_del_replace(void **state)
{
    storage_fixture_t *f = *state;
    sc_assert_absent(f, DYN_SPACE_DATA, "a");
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, "a", 1), DYN_ENOTFOUND);
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 0);

    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "a", "one"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "a", "one");
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 1);
    /* Replace with a same-size blob and with larger and smaller ones. */
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "a", "two"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "a", "two");
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "a", "three!"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "a", "three!");
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "a", "4"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "a", "4");
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 1);

    /* Keys that are prefixes of each other are distinct keys. */
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "ab", "x"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "abc", "y"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "a", "4");
    sc_assert_blob(f, DYN_SPACE_DATA, "ab", "x");
    sc_assert_blob(f, DYN_SPACE_DATA, "abc", "y");
    /* Binary keys with embedded zero bytes. */
    assert_int_equal(sc_put(f, DYN_SPACE_DATA, "a\0b", 3, "z", 1), DYN_OK);
    const uint8_t *blob;
    size_t length;
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "a\0b", 3, &blob, &length), DYN_OK);
    assert_int_equal(length, 1);
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "a\0c", 3, &blob, &length), DYN_ENOTFOUND);

    /* The engine copies: changing the caller's buffers afterwards changes nothing. */
    char key[] = "mutable", value[] = "before";
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, key, value), DYN_OK);
    memcpy(value, "after!", 6);
    key[0] = 'M';
    sc_assert_blob(f, DYN_SPACE_DATA, "mutable", "before");
    sc_assert_absent(f, DYN_SPACE_DATA, "Mutable");

    assert_int_equal(sc_del(f, DYN_SPACE_DATA, "ab", 2), DYN_OK);
    sc_assert_absent(f, DYN_SPACE_DATA, "ab");
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, "ab", 2), DYN_ENOTFOUND);
    sc_assert_blob(f, DYN_SPACE_DATA, "abc", "y");
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 4);
    assert_int_equal(f->s.ops->sync(f->s.ctx), DYN_OK);
}

/* An empty blob is a value like any other (a key that exists with nothing in it). */
void contract_empty_blob(void **state)
{
    storage_fixture_t *f = *state;
    static const uint8_t empty[1] = {0};
    assert_int_equal(sc_put(f, DYN_SPACE_META, "k", 1, empty, 0), DYN_OK);
    const uint8_t *blob;
    size_t length = 99;
    assert_int_equal(sc_get(f, DYN_SPACE_META, "k", 1, &blob, &length), DYN_OK);
    assert_int_equal(length, 0);
    assert_int_equal(sc_put(f, DYN_SPACE_META, "k", 1, "v", 1), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_META, "k", "v");
    assert_int_equal(sc_put(f, DYN_SPACE_META, "k", 1, empty, 0), DYN_OK);
    assert_int_equal(sc_get(f, DYN_SPACE_META, "k", 1, &blob, &length), DYN_OK);
    assert_int_equal(length, 0);
}

/*
 * A NULL pointer for zero bytes names no memory and must be accepted without reading it (as the
 * codec does for empty values). Last in the list: under UBSan a failure here aborts the binary.
 */
void contract_null_empty_blob(void **state)
{
    storage_fixture_t *f = *state;
    const uint8_t *blob;
    size_t length = 99;
    assert_int_equal(sc_put(f, DYN_SPACE_META, "n", 1, NULL, 0), DYN_OK);
    assert_int_equal(sc_get(f, DYN_SPACE_META, "n", 1, &blob, &length), DYN_OK);
    assert_int_equal(length, 0);
    /* Same size again (the memory engine's in-place path), then a value, then empty. */
    assert_int_equal(sc_put(f, DYN_SPACE_META, "n", 1, NULL, 0), DYN_OK);
    assert_int_equal(sc_put(f, DYN_SPACE_META, "n", 1, "v", 1), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_META, "n", "v");
    assert_int_equal(sc_put(f, DYN_SPACE_META, "n", 1, NULL, 0), DYN_OK);
    assert_int_equal(sc_get(f, DYN_SPACE_META, "n", 1, &blob, &length), DYN_OK);
    assert_int_equal(length, 0);
    assert_int_equal(sc_key_count(f, DYN_SPACE_META), 1);
}

/*
 * The blob get() hands out stays valid until the next put: handing it straight back to put for
 * the same key (a read-modify-write that modified nothing) must store the same bytes.
 */
void contract_put_back_own_blob(void **state)
{
    storage_fixture_t *f = *state;
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "key", "stored value"), DYN_OK);
    const uint8_t *blob;
    size_t length;
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "key", 3, &blob, &length), DYN_OK);
    assert_int_equal(sc_put(f, DYN_SPACE_DATA, "key", 3, blob, length), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "key", "stored value");
    /* Copying one key's blob to another key reads it before anything moves. */
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "key", 3, &blob, &length), DYN_OK);
    assert_int_equal(sc_put(f, DYN_SPACE_DATA, "other", 5, blob, length), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "other", "stored value");
}

/*
 * storage.h: a blob from get stays valid until the next put, del or scan, so two gets in a row
 * (a replica reading a key and its hint, say) may hold both blobs at once.
 */
void contract_get_pointers_stable(void **state)
{
    storage_fixture_t *f = *state;
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "first", "one value"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "second", "another, longer value"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_META, "third", "meta"), DYN_OK);
    const uint8_t *a, *b, *c;
    size_t al, bl, cl;
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "first", 5, &a, &al), DYN_OK);
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "second", 6, &b, &bl), DYN_OK);
    assert_int_equal(sc_get(f, DYN_SPACE_META, "third", 5, &c, &cl), DYN_OK);
    /* A miss in between must not disturb them either. */
    const uint8_t *x;
    size_t xl;
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "absent", 6, &x, &xl), DYN_ENOTFOUND);
    assert_int_equal(al, 9);
    assert_memory_equal(a, "one value", 9);
    assert_int_equal(bl, 21);
    assert_memory_equal(b, "another, longer value", 21);
    assert_int_equal(cl, 4);
    assert_memory_equal(c, "meta", 4);
    /* The same key twice gives the same bytes. */
    assert_int_equal(sc_get(f, DYN_SPACE_DATA, "first", 5, &x, &xl), DYN_OK);
    assert_int_equal(xl, 9);
    assert_memory_equal(x, a, 9);
    /* A put may be handed a blob from an earlier get that is not the latest one. */
    assert_int_equal(sc_put(f, DYN_SPACE_HINTS, "copy", 4, a, al), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_HINTS, "copy", "one value");
}

/* ---- the random model ---------------------------------------------------------------- */

#define MODEL_KEYS 3000u
#define MODEL_OPS 50000u
#define BLOB_MAX 48u

typedef struct model_key {
    uint8_t key[24];
    size_t key_length;
    bool present;
    uint8_t blob[BLOB_MAX];
    size_t blob_length;
} model_key_t;

static void model_check_all(storage_fixture_t *f, const model_key_t *m, size_t n, size_t present)
{
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), present);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *blob;
        size_t length;
        int rc = sc_get(f, DYN_SPACE_DATA, m[i].key, m[i].key_length, &blob, &length);
        if (!m[i].present) {
            assert_int_equal(rc, DYN_ENOTFOUND);
            continue;
        }
        assert_int_equal(rc, DYN_OK);
        assert_int_equal(length, m[i].blob_length);
        if (length)
            assert_memory_equal(blob, m[i].blob, length);
    }
}

void contract_random_against_model(void **state)
{
    storage_fixture_t *f = *state;
    model_key_t *m = calloc(MODEL_KEYS, sizeof(*m));
    assert_non_null(m);
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 0x5eed);
    for (size_t i = 0; i < MODEL_KEYS; i++) {
        /* Distinct keys of 4..24 bytes: an index prefix, then random bytes. */
        m[i].key_length = 4 + (size_t)dyn_prng_below(&prng, 21);
        m[i].key[0] = (uint8_t)(i >> 8);
        m[i].key[1] = (uint8_t)i;
        m[i].key[2] = 0xA5;
        m[i].key[3] = 0x5A;
        for (size_t k = 4; k < m[i].key_length; k++)
            m[i].key[k] = (uint8_t)dyn_prng_u64(&prng);
    }
    size_t present = 0, max_present = 0;
    uint64_t puts_done = 0, dels_done = 0, misses = 0;
    for (uint32_t op = 0; op < MODEL_OPS; op++) {
        /* The active key range breathes, so the table grows, fills, drains and refills. */
        size_t active = op < MODEL_OPS / 2 ? 200 + op * (MODEL_KEYS - 200) / (MODEL_OPS / 2)
                                           : MODEL_KEYS;
        model_key_t *k = &m[dyn_prng_below(&prng, active)];
        uint64_t dice = dyn_prng_below(&prng, 100);
        bool draining = (op / 5000) % 2 == 1; /* alternate phases favour deletes */
        if (dice < (draining ? 25u : 70u)) {
            uint8_t blob[BLOB_MAX];
            size_t length = (size_t)dyn_prng_below(&prng, BLOB_MAX + 1);
            for (size_t b = 0; b < length; b++)
                blob[b] = (uint8_t)dyn_prng_u64(&prng);
            assert_int_equal(sc_put(f, DYN_SPACE_DATA, k->key, k->key_length, blob, length),
                             DYN_OK);
            if (!k->present)
                present++;
            k->present = true;
            memcpy(k->blob, blob, length);
            k->blob_length = length;
            puts_done++;
        } else if (dice < 85) {
            int rc = sc_del(f, DYN_SPACE_DATA, k->key, k->key_length);
            assert_int_equal(rc, k->present ? DYN_OK : DYN_ENOTFOUND);
            if (k->present) {
                present--;
                dels_done++;
            }
            k->present = false;
        } else {
            const uint8_t *blob;
            size_t length;
            int rc = sc_get(f, DYN_SPACE_DATA, k->key, k->key_length, &blob, &length);
            assert_int_equal(rc, k->present ? DYN_OK : DYN_ENOTFOUND);
            if (rc == DYN_OK) {
                assert_int_equal(length, k->blob_length);
                if (length)
                    assert_memory_equal(blob, k->blob, length);
            } else {
                misses++;
            }
        }
        if (present > max_present)
            max_present = present;
        if (op % 2500 == 2499)
            model_check_all(f, m, MODEL_KEYS, present);
    }
    model_check_all(f, m, MODEL_KEYS, present);
    /*
     * The workload did what it is meant to: a store that grew past 1536 keys (for the memory
     * engine, past 3/4 of 2048 slots, so its table grew to 4096) with many deletions on the way.
     */
    assert_true(max_present > 1536);
    assert_true(dels_done > 8000);
    assert_true(puts_done > 15000);
    assert_true(misses > 1000);

    /* Drain completely, checking the survivors every so often. */
    size_t order[MODEL_KEYS];
    for (size_t i = 0; i < MODEL_KEYS; i++)
        order[i] = i;
    for (size_t i = MODEL_KEYS - 1; i > 0; i--) {
        size_t j = (size_t)dyn_prng_below(&prng, i + 1);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < MODEL_KEYS; i++) {
        model_key_t *k = &m[order[i]];
        assert_int_equal(sc_del(f, DYN_SPACE_DATA, k->key, k->key_length),
                         k->present ? DYN_OK : DYN_ENOTFOUND);
        if (k->present)
            present--;
        k->present = false;
        if (i % 300 == 299)
            model_check_all(f, m, MODEL_KEYS, present);
    }
    assert_int_equal(present, 0);
    model_check_all(f, m, MODEL_KEYS, 0);
    free(m);
}


/* ---- scan ----------------------------------------------------------------------------- */

typedef struct scan_log {
    size_t calls;
    size_t stop_after;    /* return non-zero on this call (1-based); 0 never */
    int stop_value;
    uint8_t keys[64][8];
    size_t key_lengths[64];
    char blobs[64][8];
} scan_log_t;

static int scan_record(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                       size_t blob_length)
{
    scan_log_t *log = arg;
    size_t i = log->calls++;
    if (i < 64 && key_length <= 8 && blob_length < 8) {
        memcpy(log->keys[i], key, key_length);
        log->key_lengths[i] = key_length;
        memcpy(log->blobs[i], blob, blob_length);
        log->blobs[i][blob_length] = '\0';
    }
    return log->stop_after && log->calls == log->stop_after ? log->stop_value : 0;
}

void contract_scan_order_and_stop(void **state)
{
    storage_fixture_t *f = *state;
    /* Expected order: memcmp on the common prefix, the shorter key first on a tie. */
    static const struct {
        const char *key;
        size_t length;
    } sorted[] = {
        {"\x00", 1}, {"\x00\x00", 2}, {"A", 1}, {"a", 1}, {"a\x00", 2}, {"aa", 2},
        {"ab", 2},   {"abc", 3},      {"b", 1}, {"ba", 2}, {"\x7f", 1}, {"\x80", 1},
        {"\xff", 1}, {"\xff\xff", 2},
    };
    const size_t n = sizeof(sorted) / sizeof(sorted[0]);
    /* Insert in a scrambled order so that neither insertion nor hash order can pass. */
    for (size_t i = 0; i < n; i++) {
        size_t j = (i * 5 + 3) % n;
        char blob[8];
        snprintf(blob, sizeof(blob), "%zu", j);
        assert_int_equal(sc_put(f, DYN_SPACE_DATA, sorted[j].key, sorted[j].length, blob,
                             strlen(blob)),
                         DYN_OK);
    }
    /* Another space's keys must not show up. */
    assert_int_equal(sc_puts(f, DYN_SPACE_HINTS, "aaa", "h"), DYN_OK);

    scan_log_t *log = calloc(1, sizeof(*log));
    assert_non_null(log);
    assert_int_equal(f->s.ops->scan(f->s.ctx, DYN_SPACE_DATA, scan_record, log), 0);
    assert_int_equal(log->calls, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(log->key_lengths[i], sorted[i].length);
        assert_memory_equal(log->keys[i], sorted[i].key, sorted[i].length);
        char blob[8];
        snprintf(blob, sizeof(blob), "%zu", i);
        assert_string_equal(log->blobs[i], blob);
    }

    /* A non-zero return stops the scan and is what scan returns. */
    memset(log, 0, sizeof(*log));
    log->stop_after = 3;
    log->stop_value = 42;
    assert_int_equal(f->s.ops->scan(f->s.ctx, DYN_SPACE_DATA, scan_record, log), 42);
    assert_int_equal(log->calls, 3);
    memset(log, 0, sizeof(*log));
    log->stop_after = 1;
    log->stop_value = -5;
    assert_int_equal(f->s.ops->scan(f->s.ctx, DYN_SPACE_DATA, scan_record, log), -5);
    assert_int_equal(log->calls, 1);

    /* An empty space: no calls, 0. */
    memset(log, 0, sizeof(*log));
    assert_int_equal(f->s.ops->scan(f->s.ctx, DYN_SPACE_META, scan_record, log), 0);
    assert_int_equal(log->calls, 0);
    free(log);
}

/* Many random keys: the scan is strictly increasing and visits each present key once. */
typedef struct scan_check {
    uint8_t prev[16];
    size_t prev_length;
    size_t calls;
    int disorder;
} scan_check_t;

static int scan_monotonic(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                          size_t blob_length)
{
    scan_check_t *sc = arg;
    /* The blob of each key is the key itself, so pairing mistakes show up too. */
    if (blob_length != key_length || memcmp(blob, key, key_length) != 0)
        sc->disorder++;
    if (sc->calls > 0) {
        size_t common = sc->prev_length < key_length ? sc->prev_length : key_length;
        int c = memcmp(sc->prev, key, common);
        if (c > 0 || (c == 0 && sc->prev_length >= key_length))
            sc->disorder++;
    }
    memcpy(sc->prev, key, key_length);
    sc->prev_length = key_length;
    sc->calls++;
    return 0;
}

void contract_scan_many_keys(void **state)
{
    storage_fixture_t *f = *state;
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 31337);
    size_t distinct = 0;
    for (int i = 0; i < 2000; i++) {
        uint8_t key[16];
        /* Short keys over a small alphabet: many shared prefixes and duplicates. */
        size_t length = 1 + (size_t)dyn_prng_below(&prng, 4);
        for (size_t k = 0; k < length; k++)
            key[k] = (uint8_t)("\x00\x01\x7f\x80\xff"[dyn_prng_below(&prng, 5)]);
        const uint8_t *blob;
        size_t bl;
        if (sc_get(f, DYN_SPACE_DATA, key, length, &blob, &bl) == DYN_ENOTFOUND)
            distinct++;
        assert_int_equal(sc_put(f, DYN_SPACE_DATA, key, length, key, length), DYN_OK);
    }
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), distinct);
    scan_check_t sc = {0};
    assert_int_equal(f->s.ops->scan(f->s.ctx, DYN_SPACE_DATA, scan_monotonic, &sc), 0);
    assert_int_equal(sc.calls, distinct);
    assert_int_equal(sc.disorder, 0);
}

/* ---- spaces ---------------------------------------------------------------------------- */

void contract_spaces_independent(void **state)
{
    storage_fixture_t *f = *state;
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "k", "data"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_HINTS, "k", "hint"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_META, "k", "meta"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_HINTS, "only-hint", "h"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "k", "data");
    sc_assert_blob(f, DYN_SPACE_HINTS, "k", "hint");
    sc_assert_blob(f, DYN_SPACE_META, "k", "meta");
    sc_assert_absent(f, DYN_SPACE_DATA, "only-hint");
    sc_assert_absent(f, DYN_SPACE_META, "only-hint");
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 1);
    assert_int_equal(sc_key_count(f, DYN_SPACE_HINTS), 2);
    assert_int_equal(sc_key_count(f, DYN_SPACE_META), 1);

    assert_int_equal(sc_del(f, DYN_SPACE_HINTS, "k", 1), DYN_OK);
    sc_assert_absent(f, DYN_SPACE_HINTS, "k");
    sc_assert_blob(f, DYN_SPACE_DATA, "k", "data");
    sc_assert_blob(f, DYN_SPACE_META, "k", "meta");
    assert_int_equal(sc_del(f, DYN_SPACE_HINTS, "k", 1), DYN_ENOTFOUND);
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "k", "DATA"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_META, "k", "meta");
    assert_int_equal(sc_key_count(f, DYN_SPACE_HINTS), 1);
}
