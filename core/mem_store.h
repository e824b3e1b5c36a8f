/*
 * mem_store.h: the in-memory storage engine (simulator and tests).
 *
 * One open-addressing hash table per space; each entry is a single allocation holding key and blob.
 * Iteration for scan sorts the keys, so nothing depends on table order. The engine counts the bytes
 * it holds so the simulator can report memory per key.
 *
 * Ownership: dyn_mem_store_create() returns an engine the caller frees with _destroy();
 * dyn_mem_store_storage() returns an interface value borrowing it.
 */
#ifndef DYN_MEM_STORE_H
#define DYN_MEM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/storage.h"

typedef struct dyn_mem_store dyn_mem_store_t;

dyn_mem_store_t *dyn_mem_store_create(void);
void dyn_mem_store_destroy(dyn_mem_store_t *store);
dyn_storage_t dyn_mem_store_storage(dyn_mem_store_t *store);

/* Remove every key of every space (a disk wipe). */
void dyn_mem_store_wipe(dyn_mem_store_t *store);
size_t dyn_mem_store_key_count(const dyn_mem_store_t *store, dyn_space_t space);
/* Bytes held: entries (key, blob, header) plus table slots. */
size_t dyn_mem_store_bytes(const dyn_mem_store_t *store);

/*
 * Prefetch hints for a lookup that is coming (the simulator knows the next event's key). A get
 * is two dependent cache misses, the slot and then the entry, each a trip to memory on a large
 * table; issued ahead they overlap with other work. Stage 1 fetches the key's home slot; stage 2,
 * once that has arrived, reads the slots and fetches the entry whose slot holds the key's hash.
 * `hash` comes from dyn_mem_store_hash(), so the key is hashed once for both stages. Neither
 * ever changes the store or reads an entry, and either may be skipped or wrong.
 */
uint64_t dyn_mem_store_hash(const uint8_t *key, size_t key_length);
void dyn_mem_store_prefetch_slot(const dyn_mem_store_t *store, dyn_space_t space, uint64_t hash);
void dyn_mem_store_prefetch_entry(const dyn_mem_store_t *store, dyn_space_t space, uint64_t hash);

#endif
