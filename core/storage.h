/*
 * storage.h: the storage interface every engine implements (design.md section 2).
 *
 * A replica stores, per key, one opaque blob: the encoded sibling set (codec.h). Keeping the stored
 * form equal to the wire form lets a replica answer a read by copying bytes, and makes the memory
 * per key easy to account. Keys live in separate spaces so that hints and membership (later
 * issues) never mix with data. Engines: memory (mem_store.h, simulator and tests) and LMDB (net/).
 *
 * Durability: put and del change what get sees at once; `sync` makes every earlier change durable.
 * An engine that models a disk (the simulator's) may lose unsynced changes on a crash.
 */
#ifndef DYN_STORAGE_H
#define DYN_STORAGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum dyn_space {
    DYN_SPACE_DATA = 0,
    DYN_SPACE_HINTS = 1,
    DYN_SPACE_META = 2,
    DYN_SPACE_COUNT_ = 3,
} dyn_space_t;

/* Scan callback: return 0 to continue, non-zero to stop (that value is returned by scan). */
typedef int (*dyn_storage_scan_fn)(void *arg, const uint8_t *key, size_t key_length,
                                   const uint8_t *blob, size_t blob_length);

typedef struct dyn_storage_ops {
    /*
     * Look a key up. On DYN_OK *blob points at engine memory valid until the next put, del or
     * scan on this engine. Returns DYN_ENOTFOUND if absent.
     */
    int (*get)(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
               const uint8_t **blob, size_t *blob_length);
    /* Insert or replace; the engine copies both. DYN_OK, DYN_ENOMEM, DYN_EFULL, DYN_ETOOBIG. */
    int (*put)(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
               const uint8_t *blob, size_t blob_length);
    /* Remove; DYN_OK or DYN_ENOTFOUND. */
    int (*del)(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length);
    /* Visit every key of a space in ascending byte order (memcmp, shorter first on ties). */
    int (*scan)(void *ctx, dyn_space_t space, dyn_storage_scan_fn fn, void *arg);
    /* Make every earlier change durable. */
    int (*sync)(void *ctx);
} dyn_storage_ops_t;

typedef struct dyn_storage {
    const dyn_storage_ops_t *ops;
    void *ctx;
} dyn_storage_t;

#endif
