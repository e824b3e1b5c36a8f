/*
 * test_mem_store.c: the in-memory storage engine through its dyn_storage_t interface.
 *
 * The heavy test runs ~50,000 random operations against a trivial reference model (an array of
 * keys with a present flag and a blob copy) at load factors up to the 3/4 growth point, so long
 * probe runs form and backward-shift deletion has to move entries across them, wrap-around
 * included; every key, present or absent, is then looked up again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mem_store.h"
#include "core/prng.h"
#include "core/status.h"

typedef struct fixture {
    dyn_mem_store_t *store;
    dyn_storage_t s;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->store = dyn_mem_store_create();
    if (!f->store) {
        free(f);
        return -1;
    }
    f->s = dyn_mem_store_storage(f->store);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    dyn_mem_store_destroy(f->store);
    free(f);
    return 0;
}

static int put(fixture_t *f, dyn_space_t space, const void *key, size_t key_length,
               const void *blob, size_t blob_length)
{
    return f->s.ops->put(f->s.ctx, space, key, key_length, blob, blob_length);
}

static int get(fixture_t *f, dyn_space_t space, const void *key, size_t key_length,
               const uint8_t **blob, size_t *blob_length)
{
    return f->s.ops->get(f->s.ctx, space, key, key_length, blob, blob_length);
}

static int del(fixture_t *f, dyn_space_t space, const void *key, size_t key_length)
{
    return f->s.ops->del(f->s.ctx, space, key, key_length);
}

static int puts_(fixture_t *f, dyn_space_t space, const char *key, const char *blob)
{
    return put(f, space, key, strlen(key), blob, strlen(blob));
}

static void assert_blob(fixture_t *f, dyn_space_t space, const char *key, const char *expect)
{
    const uint8_t *blob = NULL;
    size_t length = 0;
    assert_int_equal(get(f, space, key, strlen(key), &blob, &length), DYN_OK);
    assert_int_equal(length, strlen(expect));
    if (length)
        assert_memory_equal(blob, expect, length);
}

static void assert_absent(fixture_t *f, dyn_space_t space, const char *key)
{
    const uint8_t *blob;
    size_t length;
    assert_int_equal(get(f, space, key, strlen(key), &blob, &length), DYN_ENOTFOUND);
}

/* ---- basics --------------------------------------------------------------------------- */

static void test_put_get_del_replace(void **state)
{
    fixture_t *f = *state;
    assert_absent(f, DYN_SPACE_DATA, "a");
    assert_int_equal(del(f, DYN_SPACE_DATA, "a", 1), DYN_ENOTFOUND);
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_DATA), 0);

    assert_int_equal(puts_(f, DYN_SPACE_DATA, "a", "one"), DYN_OK);
    assert_blob(f, DYN_SPACE_DATA, "a", "one");
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_DATA), 1);
    /* Replace with a same-size blob (rewritten in place) and with other sizes. */
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "a", "two"), DYN_OK);
    assert_blob(f, DYN_SPACE_DATA, "a", "two");
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "a", "three!"), DYN_OK);
    assert_blob(f, DYN_SPACE_DATA, "a", "three!");
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "a", "4"), DYN_OK);
    assert_blob(f, DYN_SPACE_DATA, "a", "4");
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_DATA), 1);

    /* Keys that are prefixes of each other are distinct keys. */
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "ab", "x"), DYN_OK);
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "abc", "y"), DYN_OK);
    assert_blob(f, DYN_SPACE_DATA, "a", "4");
    assert_blob(f, DYN_SPACE_DATA, "ab", "x");
    assert_blob(f, DYN_SPACE_DATA, "abc", "y");
    /* Binary keys with embedded zero bytes. */
    assert_int_equal(put(f, DYN_SPACE_DATA, "a\0b", 3, "z", 1), DYN_OK);
    const uint8_t *blob;
    size_t length;
    assert_int_equal(get(f, DYN_SPACE_DATA, "a\0b", 3, &blob, &length), DYN_OK);
    assert_int_equal(length, 1);
    assert_int_equal(get(f, DYN_SPACE_DATA, "a\0c", 3, &blob, &length), DYN_ENOTFOUND);

    /* The engine copies: changing the caller's buffers afterwards changes nothing. */
    char key[] = "mutable", value[] = "before";
    assert_int_equal(puts_(f, DYN_SPACE_DATA, key, value), DYN_OK);
    memcpy(value, "after!", 6);
    key[0] = 'M';
    assert_blob(f, DYN_SPACE_DATA, "mutable", "before");
    assert_absent(f, DYN_SPACE_DATA, "Mutable");

    assert_int_equal(del(f, DYN_SPACE_DATA, "ab", 2), DYN_OK);
    assert_absent(f, DYN_SPACE_DATA, "ab");
    assert_int_equal(del(f, DYN_SPACE_DATA, "ab", 2), DYN_ENOTFOUND);
    assert_blob(f, DYN_SPACE_DATA, "abc", "y");
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_DATA), 4);
    assert_int_equal(f->s.ops->sync(f->s.ctx), DYN_OK);
}

/* An empty blob is a value like any other (a key that exists with nothing in it). */
static void test_empty_blob(void **state)
{
    fixture_t *f = *state;
    static const uint8_t empty[1] = {0};
    assert_int_equal(put(f, DYN_SPACE_META, "k", 1, empty, 0), DYN_OK);
    const uint8_t *blob;
    size_t length = 99;
    assert_int_equal(get(f, DYN_SPACE_META, "k", 1, &blob, &length), DYN_OK);
    assert_int_equal(length, 0);
    assert_int_equal(put(f, DYN_SPACE_META, "k", 1, "v", 1), DYN_OK);
    assert_blob(f, DYN_SPACE_META, "k", "v");
    assert_int_equal(put(f, DYN_SPACE_META, "k", 1, empty, 0), DYN_OK);
    assert_int_equal(get(f, DYN_SPACE_META, "k", 1, &blob, &length), DYN_OK);
    assert_int_equal(length, 0);
}

/*
 * A NULL pointer for zero bytes names no memory and must be accepted without reading it (as the
 * codec does for empty values). Last in the list: under UBSan a failure here aborts the binary.
 */
static void test_null_empty_blob(void **state)
{
    fixture_t *f = *state;
    const uint8_t *blob;
    size_t length = 99;
    assert_int_equal(put(f, DYN_SPACE_META, "n", 1, NULL, 0), DYN_OK);
    assert_int_equal(get(f, DYN_SPACE_META, "n", 1, &blob, &length), DYN_OK);
    assert_int_equal(length, 0);
    /* Same size again (the in-place path), then a real value, then back to empty. */
    assert_int_equal(put(f, DYN_SPACE_META, "n", 1, NULL, 0), DYN_OK);
    assert_int_equal(put(f, DYN_SPACE_META, "n", 1, "v", 1), DYN_OK);
    assert_blob(f, DYN_SPACE_META, "n", "v");
    assert_int_equal(put(f, DYN_SPACE_META, "n", 1, NULL, 0), DYN_OK);
    assert_int_equal(get(f, DYN_SPACE_META, "n", 1, &blob, &length), DYN_OK);
    assert_int_equal(length, 0);
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_META), 1);
}

/*
 * The blob get() hands out stays valid until the next put: handing it straight back to put for
 * the same key (a read-modify-write that modified nothing) must store the same bytes.
 */
static void test_put_back_own_blob(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "key", "stored value"), DYN_OK);
    const uint8_t *blob;
    size_t length;
    assert_int_equal(get(f, DYN_SPACE_DATA, "key", 3, &blob, &length), DYN_OK);
    assert_int_equal(put(f, DYN_SPACE_DATA, "key", 3, blob, length), DYN_OK);
    assert_blob(f, DYN_SPACE_DATA, "key", "stored value");
    /* Copying one key's blob to another key reads it before anything moves. */
    assert_int_equal(get(f, DYN_SPACE_DATA, "key", 3, &blob, &length), DYN_OK);
    assert_int_equal(put(f, DYN_SPACE_DATA, "other", 5, blob, length), DYN_OK);
    assert_blob(f, DYN_SPACE_DATA, "other", "stored value");
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

static void model_check_all(fixture_t *f, const model_key_t *m, size_t n, size_t present)
{
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_DATA), present);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *blob;
        size_t length;
        int rc = get(f, DYN_SPACE_DATA, m[i].key, m[i].key_length, &blob, &length);
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

static void test_random_against_model(void **state)
{
    fixture_t *f = *state;
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
            assert_int_equal(put(f, DYN_SPACE_DATA, k->key, k->key_length, blob, length),
                             DYN_OK);
            if (!k->present)
                present++;
            k->present = true;
            memcpy(k->blob, blob, length);
            k->blob_length = length;
            puts_done++;
        } else if (dice < 85) {
            int rc = del(f, DYN_SPACE_DATA, k->key, k->key_length);
            assert_int_equal(rc, k->present ? DYN_OK : DYN_ENOTFOUND);
            if (k->present) {
                present--;
                dels_done++;
            }
            k->present = false;
        } else {
            const uint8_t *blob;
            size_t length;
            int rc = get(f, DYN_SPACE_DATA, k->key, k->key_length, &blob, &length);
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
     * The workload did what it is meant to: over 1536 keys means the table passed 3/4 of 2048
     * slots and grew to 4096 (after 16, 32, ... 2048), with many deletions along the way.
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
        assert_int_equal(del(f, DYN_SPACE_DATA, k->key, k->key_length),
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

/* A dense table: fill to just under the growth point, then delete in random order. */
static void test_dense_backward_shift(void **state)
{
    fixture_t *f = *state;
    enum { N = 12288 }; /* 3/4 of 16384 slots: the table is as full as it ever gets */
    static uint32_t keys[N];
    static bool present[N];
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 77);
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = i * 2654435761u;
        present[i] = true;
        assert_int_equal(put(f, DYN_SPACE_HINTS, &keys[i], sizeof(keys[i]), &i, sizeof(i)),
                         DYN_OK);
    }
    size_t bytes_full = dyn_mem_store_bytes(f->store);
    uint32_t remaining = N;
    while (remaining > 0) {
        uint32_t i = (uint32_t)dyn_prng_below(&prng, N);
        if (!present[i])
            continue;
        assert_int_equal(del(f, DYN_SPACE_HINTS, &keys[i], sizeof(keys[i])), DYN_OK);
        present[i] = false;
        remaining--;
        if (remaining % 1024 == 0) {
            assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_HINTS), remaining);
            for (uint32_t k = 0; k < N; k++) {
                const uint8_t *blob;
                size_t length;
                int rc = get(f, DYN_SPACE_HINTS, &keys[k], sizeof(keys[k]), &blob, &length);
                assert_int_equal(rc, present[k] ? DYN_OK : DYN_ENOTFOUND);
                if (rc == DYN_OK) {
                    uint32_t v;
                    assert_int_equal(length, sizeof(v));
                    memcpy(&v, blob, sizeof(v));
                    assert_int_equal(v, k);
                }
            }
        }
    }
    assert_true(dyn_mem_store_bytes(f->store) < bytes_full);
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

static void test_scan_order_and_stop(void **state)
{
    fixture_t *f = *state;
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
        assert_int_equal(put(f, DYN_SPACE_DATA, sorted[j].key, sorted[j].length, blob,
                             strlen(blob)),
                         DYN_OK);
    }
    /* Another space's keys must not show up. */
    assert_int_equal(puts_(f, DYN_SPACE_HINTS, "aaa", "h"), DYN_OK);

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

static void test_scan_many_keys(void **state)
{
    fixture_t *f = *state;
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
        if (get(f, DYN_SPACE_DATA, key, length, &blob, &bl) == DYN_ENOTFOUND)
            distinct++;
        assert_int_equal(put(f, DYN_SPACE_DATA, key, length, key, length), DYN_OK);
    }
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_DATA), distinct);
    scan_check_t sc = {0};
    assert_int_equal(f->s.ops->scan(f->s.ctx, DYN_SPACE_DATA, scan_monotonic, &sc), 0);
    assert_int_equal(sc.calls, distinct);
    assert_int_equal(sc.disorder, 0);
}

/* ---- spaces, wipe, accounting --------------------------------------------------------- */

static void test_spaces_independent(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "k", "data"), DYN_OK);
    assert_int_equal(puts_(f, DYN_SPACE_HINTS, "k", "hint"), DYN_OK);
    assert_int_equal(puts_(f, DYN_SPACE_META, "k", "meta"), DYN_OK);
    assert_int_equal(puts_(f, DYN_SPACE_HINTS, "only-hint", "h"), DYN_OK);
    assert_blob(f, DYN_SPACE_DATA, "k", "data");
    assert_blob(f, DYN_SPACE_HINTS, "k", "hint");
    assert_blob(f, DYN_SPACE_META, "k", "meta");
    assert_absent(f, DYN_SPACE_DATA, "only-hint");
    assert_absent(f, DYN_SPACE_META, "only-hint");
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_DATA), 1);
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_HINTS), 2);
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_META), 1);

    assert_int_equal(del(f, DYN_SPACE_HINTS, "k", 1), DYN_OK);
    assert_absent(f, DYN_SPACE_HINTS, "k");
    assert_blob(f, DYN_SPACE_DATA, "k", "data");
    assert_blob(f, DYN_SPACE_META, "k", "meta");
    assert_int_equal(del(f, DYN_SPACE_HINTS, "k", 1), DYN_ENOTFOUND);
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "k", "DATA"), DYN_OK);
    assert_blob(f, DYN_SPACE_META, "k", "meta");
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_HINTS), 1);
}

static void test_wipe(void **state)
{
    fixture_t *f = *state;
    const size_t fresh = dyn_mem_store_bytes(f->store);
    char key[16];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(puts_(f, (dyn_space_t)(i % DYN_SPACE_COUNT_), key, "value"), DYN_OK);
    }
    assert_true(dyn_mem_store_bytes(f->store) > fresh);
    dyn_mem_store_wipe(f->store);
    for (int s = 0; s < DYN_SPACE_COUNT_; s++)
        assert_int_equal(dyn_mem_store_key_count(f->store, (dyn_space_t)s), 0);
    assert_int_equal(dyn_mem_store_bytes(f->store), fresh);
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_absent(f, (dyn_space_t)(i % DYN_SPACE_COUNT_), key);
    }
    scan_log_t *log = calloc(1, sizeof(*log));
    assert_non_null(log);
    assert_int_equal(f->s.ops->scan(f->s.ctx, DYN_SPACE_DATA, scan_record, log), 0);
    assert_int_equal(log->calls, 0);
    free(log);
    /* Still usable, and wiping twice is harmless. */
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "again", "v"), DYN_OK);
    assert_blob(f, DYN_SPACE_DATA, "again", "v");
    dyn_mem_store_wipe(f->store);
    dyn_mem_store_wipe(f->store);
    assert_int_equal(dyn_mem_store_bytes(f->store), fresh);
}

static void test_byte_accounting(void **state)
{
    fixture_t *f = *state;
    char key[16], blob[64];
    enum { KEYS = 300 };
    /* A first fill and drain grows the table; its slot array then stays, so measure after it. */
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(puts_(f, DYN_SPACE_DATA, key, "x"), DYN_OK);
    }
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(del(f, DYN_SPACE_DATA, key, strlen(key)), DYN_OK);
    }
    const size_t baseline = dyn_mem_store_bytes(f->store);

    /* One entry costs a fixed header plus its key and blob bytes. */
    assert_int_equal(puts_(f, DYN_SPACE_DATA, "k0", "abcd"), DYN_OK);
    const size_t one = dyn_mem_store_bytes(f->store) - baseline;
    assert_true(one > 6);
    const size_t header = one - 6;
    assert_int_equal(del(f, DYN_SPACE_DATA, "k0", 2), DYN_OK);
    assert_int_equal(dyn_mem_store_bytes(f->store), baseline);

    size_t expect = baseline;
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        size_t bl = (size_t)(i % 50);
        memset(blob, 'b', bl);
        assert_int_equal(put(f, DYN_SPACE_DATA, key, strlen(key), blob, bl), DYN_OK);
        expect += header + strlen(key) + bl;
        assert_int_equal(dyn_mem_store_bytes(f->store), expect);
    }
    /* Replacing: same size changes nothing, other sizes change by the difference. */
    assert_int_equal(put(f, DYN_SPACE_DATA, "k7", 2, "1234567", 7), DYN_OK);
    assert_int_equal(dyn_mem_store_bytes(f->store), expect);
    assert_int_equal(put(f, DYN_SPACE_DATA, "k7", 2, "12345678901", 11), DYN_OK);
    expect += 4;
    assert_int_equal(dyn_mem_store_bytes(f->store), expect);
    assert_int_equal(put(f, DYN_SPACE_DATA, "k7", 2, "1", 1), DYN_OK);
    expect -= 10;
    assert_int_equal(dyn_mem_store_bytes(f->store), expect);

    /* Deleting everything returns to the baseline exactly. */
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(del(f, DYN_SPACE_DATA, key, strlen(key)), DYN_OK);
    }
    assert_int_equal(dyn_mem_store_key_count(f->store, DYN_SPACE_DATA), 0);
    assert_int_equal(dyn_mem_store_bytes(f->store), baseline);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_del_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_back_own_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_against_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dense_backward_shift, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_order_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_many_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spaces_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_accounting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_empty_blob, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
