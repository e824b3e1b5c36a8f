/*
 * storage_contract.h: engine-agnostic cmocka tests of the storage.h contract.
 *
 * A test binary names its engine with storage_contract_set_engine() before running, and puts
 * STORAGE_CONTRACT_TESTS in its test array; each test then gets a fresh, empty engine from
 * engine->open and gives it back to engine->close. The helpers (sc_*) are for the binary's own
 * engine-specific tests, which may use storage_contract_setup/teardown as their fixture too.
 *
 * Ownership: the fixture owns the engine between setup and teardown; `engine` must outlive the run.
 */
#ifndef DYN_TESTS_STORAGE_CONTRACT_H
#define DYN_TESTS_STORAGE_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "core/storage.h"

typedef struct storage_contract_engine {
    /* A fresh engine with every space empty: 0 and *handle, *storage set, or non-zero. */
    int (*open)(void **handle, dyn_storage_t *storage);
    void (*close)(void *handle);
} storage_contract_engine_t;

typedef struct storage_fixture {
    void *engine;     /* the handle engine->open gave */
    dyn_storage_t s;
} storage_fixture_t;

void storage_contract_set_engine(const storage_contract_engine_t *engine);
int storage_contract_setup(void **state);
int storage_contract_teardown(void **state);

int sc_put(storage_fixture_t *f, dyn_space_t space, const void *key, size_t key_length,
           const void *blob, size_t blob_length);
int sc_get(storage_fixture_t *f, dyn_space_t space, const void *key, size_t key_length,
           const uint8_t **blob, size_t *blob_length);
int sc_del(storage_fixture_t *f, dyn_space_t space, const void *key, size_t key_length);
int sc_puts(storage_fixture_t *f, dyn_space_t space, const char *key, const char *blob);
void sc_assert_blob(storage_fixture_t *f, dyn_space_t space, const char *key, const char *expect);
void sc_assert_absent(storage_fixture_t *f, dyn_space_t space, const char *key);
/* Keys in a space, counted by a scan (which must return 0). */
size_t sc_key_count(storage_fixture_t *f, dyn_space_t space);

void contract_put_get_del_replace(void **state);
void contract_empty_blob(void **state);
void contract_put_back_own_blob(void **state);
void contract_get_pointers_stable(void **state);
void contract_random_against_model(void **state);
void contract_scan_order_and_stop(void **state);
void contract_scan_many_keys(void **state);
void contract_spaces_independent(void **state);
void contract_null_empty_blob(void **state);

#define STORAGE_CONTRACT_TEST(name) \
    cmocka_unit_test_setup_teardown(name, storage_contract_setup, storage_contract_teardown)

/* Null-empty last: under UBSan its failure aborts the binary, so it must not hide the others. */
#define STORAGE_CONTRACT_TESTS                                   \
    STORAGE_CONTRACT_TEST(contract_put_get_del_replace),         \
    STORAGE_CONTRACT_TEST(contract_empty_blob),                  \
    STORAGE_CONTRACT_TEST(contract_put_back_own_blob),           \
    STORAGE_CONTRACT_TEST(contract_get_pointers_stable),         \
    STORAGE_CONTRACT_TEST(contract_random_against_model),        \
    STORAGE_CONTRACT_TEST(contract_scan_order_and_stop),         \
    STORAGE_CONTRACT_TEST(contract_scan_many_keys),              \
    STORAGE_CONTRACT_TEST(contract_spaces_independent),          \
    STORAGE_CONTRACT_TEST(contract_null_empty_blob)

#endif
