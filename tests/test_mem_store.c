/*
 * test_mem_store.c: the in-memory storage engine.
 *
 * The storage.h contract tests (storage_contract.c, shared with the LMDB engine) run first; then
 * what only this engine has: its key counts, dense tables where backward-shift deletion has to
 * move entries across long probe runs, wipe, and byte accounting.
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
#include "tests/storage_contract.h"

static int mem_open(void **handle, dyn_storage_t *storage)
{
    dyn_mem_store_t *store = dyn_mem_store_create();
    if (!store)
        return -1;
    *handle = store;
    *storage = dyn_mem_store_storage(store);
    return 0;
}

static void mem_close(void *handle)
{
    dyn_mem_store_destroy(handle);
}

static const storage_contract_engine_t mem_engine = {.open = mem_open, .close = mem_close};

/* The engine's own count agrees with a scan's through puts, replaces and deletes. */
static void test_key_count(void **state)
{
    storage_fixture_t *f = *state;
    dyn_mem_store_t *store = f->engine;
    assert_int_equal(dyn_mem_store_key_count(store, DYN_SPACE_DATA), 0);
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "a", "one"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "a", "two!"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "ab", "x"), DYN_OK);
    assert_int_equal(sc_puts(f, DYN_SPACE_META, "a", "m"), DYN_OK);
    assert_int_equal(dyn_mem_store_key_count(store, DYN_SPACE_DATA), 2);
    assert_int_equal(dyn_mem_store_key_count(store, DYN_SPACE_META), 1);
    assert_int_equal(dyn_mem_store_key_count(store, DYN_SPACE_HINTS), 0);
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, "a", 1), DYN_OK);
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, "a", 1), DYN_ENOTFOUND);
    for (int s = 0; s < DYN_SPACE_COUNT_; s++)
        assert_int_equal(dyn_mem_store_key_count(store, (dyn_space_t)s),
                         sc_key_count(f, (dyn_space_t)s));
}

/* A dense table: fill to just under the growth point, then delete in random order. */
static void test_dense_backward_shift(void **state)
{
    storage_fixture_t *f = *state;
    dyn_mem_store_t *store = f->engine;
    enum { N = 12288 }; /* 3/4 of 16384 slots: the table is as full as it ever gets */
    static uint32_t keys[N];
    static bool present[N];
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 77);
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = i * 2654435761u;
        present[i] = true;
        assert_int_equal(sc_put(f, DYN_SPACE_HINTS, &keys[i], sizeof(keys[i]), &i, sizeof(i)),
                         DYN_OK);
    }
    size_t bytes_full = dyn_mem_store_bytes(store);
    uint32_t remaining = N;
    while (remaining > 0) {
        uint32_t i = (uint32_t)dyn_prng_below(&prng, N);
        if (!present[i])
            continue;
        assert_int_equal(sc_del(f, DYN_SPACE_HINTS, &keys[i], sizeof(keys[i])), DYN_OK);
        present[i] = false;
        remaining--;
        if (remaining % 1024 == 0) {
            assert_int_equal(dyn_mem_store_key_count(store, DYN_SPACE_HINTS), remaining);
            for (uint32_t k = 0; k < N; k++) {
                const uint8_t *blob;
                size_t length;
                int rc = sc_get(f, DYN_SPACE_HINTS, &keys[k], sizeof(keys[k]), &blob, &length);
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
    assert_true(dyn_mem_store_bytes(store) < bytes_full);
}

static void test_wipe(void **state)
{
    storage_fixture_t *f = *state;
    dyn_mem_store_t *store = f->engine;
    const size_t fresh = dyn_mem_store_bytes(store);
    char key[16];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(sc_puts(f, (dyn_space_t)(i % DYN_SPACE_COUNT_), key, "value"), DYN_OK);
    }
    assert_true(dyn_mem_store_bytes(store) > fresh);
    dyn_mem_store_wipe(store);
    for (int s = 0; s < DYN_SPACE_COUNT_; s++)
        assert_int_equal(dyn_mem_store_key_count(store, (dyn_space_t)s), 0);
    assert_int_equal(dyn_mem_store_bytes(store), fresh);
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        sc_assert_absent(f, (dyn_space_t)(i % DYN_SPACE_COUNT_), key);
    }
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 0);
    /* Still usable, and wiping twice is harmless. */
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "again", "v"), DYN_OK);
    sc_assert_blob(f, DYN_SPACE_DATA, "again", "v");
    dyn_mem_store_wipe(store);
    dyn_mem_store_wipe(store);
    assert_int_equal(dyn_mem_store_bytes(store), fresh);
}

static void test_byte_accounting(void **state)
{
    storage_fixture_t *f = *state;
    dyn_mem_store_t *store = f->engine;
    char key[16], blob[64];
    enum { KEYS = 300 };
    /* A first fill and drain grows the table; its slot array then stays, so measure after it. */
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(sc_puts(f, DYN_SPACE_DATA, key, "x"), DYN_OK);
    }
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(sc_del(f, DYN_SPACE_DATA, key, strlen(key)), DYN_OK);
    }
    const size_t baseline = dyn_mem_store_bytes(store);

    /* One entry costs a fixed header plus its key and blob bytes. */
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "k0", "abcd"), DYN_OK);
    const size_t one = dyn_mem_store_bytes(store) - baseline;
    assert_true(one > 6);
    const size_t header = one - 6;
    assert_int_equal(sc_del(f, DYN_SPACE_DATA, "k0", 2), DYN_OK);
    assert_int_equal(dyn_mem_store_bytes(store), baseline);

    size_t expect = baseline;
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        size_t bl = (size_t)(i % 50);
        memset(blob, 'b', bl);
        assert_int_equal(sc_put(f, DYN_SPACE_DATA, key, strlen(key), blob, bl), DYN_OK);
        expect += header + strlen(key) + bl;
        assert_int_equal(dyn_mem_store_bytes(store), expect);
    }
    /* Replacing: same size changes nothing, other sizes change by the difference. */
    assert_int_equal(sc_put(f, DYN_SPACE_DATA, "k7", 2, "1234567", 7), DYN_OK);
    assert_int_equal(dyn_mem_store_bytes(store), expect);
    assert_int_equal(sc_put(f, DYN_SPACE_DATA, "k7", 2, "12345678901", 11), DYN_OK);
    expect += 4;
    assert_int_equal(dyn_mem_store_bytes(store), expect);
    assert_int_equal(sc_put(f, DYN_SPACE_DATA, "k7", 2, "1", 1), DYN_OK);
    expect -= 10;
    assert_int_equal(dyn_mem_store_bytes(store), expect);

    /* Deleting everything returns to the baseline exactly. */
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(sc_del(f, DYN_SPACE_DATA, key, strlen(key)), DYN_OK);
    }
    assert_int_equal(dyn_mem_store_key_count(store, DYN_SPACE_DATA), 0);
    assert_int_equal(dyn_mem_store_bytes(store), baseline);
}

/* Prefetch hints change nothing, on an empty space, an absent key or a present one. */
static void test_prefetch_is_inert(void **state)
{
    storage_fixture_t *f = *state;
    dyn_mem_store_t *store = f->engine;
    uint64_t h1 = dyn_mem_store_hash((const uint8_t *)"k1", 2);
    uint64_t h2 = dyn_mem_store_hash((const uint8_t *)"k2", 2);
    dyn_mem_store_prefetch_slot(store, DYN_SPACE_DATA, h1);
    dyn_mem_store_prefetch_entry(store, DYN_SPACE_DATA, h1);
    assert_int_equal(sc_puts(f, DYN_SPACE_DATA, "k1", "v"), DYN_OK);
    size_t bytes = dyn_mem_store_bytes(store);
    for (int s = 0; s < DYN_SPACE_COUNT_; s++) {
        dyn_mem_store_prefetch_slot(store, (dyn_space_t)s, h1);
        dyn_mem_store_prefetch_entry(store, (dyn_space_t)s, h1);
        dyn_mem_store_prefetch_entry(store, (dyn_space_t)s, h2);
    }
    assert_int_equal(dyn_mem_store_bytes(store), bytes);
    assert_int_equal(dyn_mem_store_key_count(store, DYN_SPACE_DATA), 1);
    assert_int_equal(sc_key_count(f, DYN_SPACE_DATA), 1);
}

int main(void)
{
    storage_contract_set_engine(&mem_engine);
    const struct CMUnitTest tests[] = {
        STORAGE_CONTRACT_TEST(test_key_count),
        STORAGE_CONTRACT_TEST(test_dense_backward_shift),
        STORAGE_CONTRACT_TEST(test_wipe),
        STORAGE_CONTRACT_TEST(test_byte_accounting),
        STORAGE_CONTRACT_TEST(test_prefetch_is_inert),
        STORAGE_CONTRACT_TESTS,
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
