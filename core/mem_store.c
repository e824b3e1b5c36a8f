/*
 * mem_store.c: open addressing with linear probing and backward-shift deletion, one table per
 * space. Each entry is one allocation (header, key, blob); its slot remembers the hash, so growing
 * never rehashes keys and deletion needs no tombstone slots. Load factor stays at or under 3/4.
 */
#include "core/mem_store.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/status.h"

typedef struct mem_entry {
    uint32_t key_length;
    uint32_t blob_length;
    uint8_t data[];  /* key, then blob */
} mem_entry_t;

/*
 * Slots carry the hash next to the entry pointer so a probe compares hashes without touching the
 * entry: on a large table each dereference is a cache miss, and only the match should pay it.
 */
typedef struct mem_slot {
    uint64_t hash;
    mem_entry_t *entry;
} mem_slot_t;

typedef struct mem_table {
    mem_slot_t *slots;
    size_t mask;     /* slot count - 1; slot count is a power of two, or 0 when empty */
    size_t used;
} mem_table_t;

struct dyn_mem_store {
    mem_table_t tables[DYN_SPACE_COUNT_];
    size_t entry_bytes;
    /* The blob handed out by get is copied here only when a scan needs stable order; see scan. */
};

#define MEM_HASH_SEED 0x6d656d73746f7265ULL /* "memstore" */

static uint64_t key_hash(const uint8_t *key, size_t length)
{
    return XXH3_64bits_withSeed(key, length, MEM_HASH_SEED);
}

static size_t entry_size(size_t key_length, size_t blob_length)
{
    return sizeof(mem_entry_t) + key_length + blob_length;
}

dyn_mem_store_t *dyn_mem_store_create(void)
{
    return calloc(1, sizeof(dyn_mem_store_t));
}

static void table_free(mem_table_t *t)
{
    if (t->slots) {
        for (size_t i = 0; i <= t->mask; i++)
            free(t->slots[i].entry);
    }
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

void dyn_mem_store_destroy(dyn_mem_store_t *store)
{
    if (!store)
        return;
    for (int s = 0; s < DYN_SPACE_COUNT_; s++)
        table_free(&store->tables[s]);
    free(store);
}

void dyn_mem_store_wipe(dyn_mem_store_t *store)
{
    for (int s = 0; s < DYN_SPACE_COUNT_; s++)
        table_free(&store->tables[s]);
    store->entry_bytes = 0;
}

size_t dyn_mem_store_key_count(const dyn_mem_store_t *store, dyn_space_t space)
{
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    return store->tables[space].used;
}

size_t dyn_mem_store_bytes(const dyn_mem_store_t *store)
{
    size_t bytes = sizeof(*store) + store->entry_bytes;
    for (int s = 0; s < DYN_SPACE_COUNT_; s++) {
        const mem_table_t *t = &store->tables[s];
        if (t->slots)
            bytes += (t->mask + 1) * sizeof(mem_slot_t);
    }
    return bytes;
}

/* Slot of the key, or of the empty slot where it would go. */
static size_t table_find(const mem_table_t *t, uint64_t hash, const uint8_t *key, size_t length)
{
    size_t i = (size_t)hash & t->mask;
    for (;;) {
        const mem_slot_t *s = &t->slots[i];
        if (!s->entry)
            return i;
        if (s->hash == hash && s->entry->key_length == length &&
            memcmp(s->entry->data, key, length) == 0)
            return i;
        i = (i + 1) & t->mask;
    }
}

static int table_grow(mem_table_t *t)
{
    size_t count = t->slots ? (t->mask + 1) * 2 : 16;
    mem_slot_t *slots = calloc(count, sizeof(*slots));
    if (!slots)
        return DYN_ENOMEM;
    if (t->slots) {
        for (size_t i = 0; i <= t->mask; i++) {
            if (!t->slots[i].entry)
                continue;
            size_t j = (size_t)t->slots[i].hash & (count - 1);
            while (slots[j].entry)
                j = (j + 1) & (count - 1);
            slots[j] = t->slots[i];
        }
    }
    free(t->slots);
    t->slots = slots;
    t->mask = count - 1;
    return DYN_OK;
}

static int mem_get(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                   const uint8_t **blob, size_t *blob_length)
{
    dyn_mem_store_t *store = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    const mem_table_t *t = &store->tables[space];
    if (!t->slots)
        return DYN_ENOTFOUND;
    const mem_entry_t *e =
        t->slots[table_find(t, key_hash(key, key_length), key, key_length)].entry;
    if (!e)
        return DYN_ENOTFOUND;
    *blob = e->data + e->key_length;
    *blob_length = e->blob_length;
    return DYN_OK;
}

/* Lines of an entry worth fetching ahead: header, key and a blob of one or two siblings. */
#define MEM_PREFETCH_LINES 3u

uint64_t dyn_mem_store_hash(const uint8_t *key, size_t key_length)
{
    return key_hash(key, key_length);
}

void dyn_mem_store_prefetch_slot(const dyn_mem_store_t *store, dyn_space_t space, uint64_t hash)
{
#if defined(__GNUC__)
    const mem_table_t *t = &store->tables[space];
    if (t->slots)
        __builtin_prefetch(&t->slots[(size_t)hash & t->mask]);
#else
    (void)store, (void)space, (void)hash;
#endif
}

void dyn_mem_store_prefetch_entry(const dyn_mem_store_t *store, dyn_space_t space, uint64_t hash)
{
#if defined(__GNUC__)
    const mem_table_t *t = &store->tables[space];
    if (!t->slots)
        return;
    /* Only hashes are compared: dereferencing an entry here would wait for the very miss the
     * prefetch is meant to hide. A 64-bit match is the key but for a hint-sized chance. */
    for (size_t i = (size_t)hash & t->mask; t->slots[i].entry; i = (i + 1) & t->mask) {
        if (t->slots[i].hash == hash) {
            const char *e = (const char *)t->slots[i].entry;
            for (unsigned l = 0; l < MEM_PREFETCH_LINES; l++)
                __builtin_prefetch(e + 64 * l);
            return;
        }
    }
#else
    (void)store, (void)space, (void)hash;
#endif
}

static int mem_put(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                   const uint8_t *blob, size_t blob_length)
{
    dyn_mem_store_t *store = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    if (key_length > UINT32_MAX || blob_length > UINT32_MAX)
        return DYN_ETOOBIG;
    mem_table_t *t = &store->tables[space];
    if (!t->slots || (t->used + 1) * 4 > (t->mask + 1) * 3) {
        int rc = table_grow(t);
        if (rc != DYN_OK)
            return rc;
    }
    uint64_t hash = key_hash(key, key_length);
    size_t i = table_find(t, hash, key, key_length);
    mem_entry_t *old = t->slots[i].entry;
    if (old && old->blob_length == blob_length) {
        /* Same size: rewrite in place, the common case of an updated value. The caller may hand
         * back the very blob get returned, so the regions may coincide: memmove. */
        if (blob_length)
            memmove(old->data + key_length, blob, blob_length);
        return DYN_OK;
    }
    mem_entry_t *e = malloc(entry_size(key_length, blob_length));
    if (!e)
        return DYN_ENOMEM;
    e->key_length = (uint32_t)key_length;
    e->blob_length = (uint32_t)blob_length;
    memcpy(e->data, key, key_length);
    if (blob_length) /* blob may be NULL for an empty value, and memcpy(NULL) is undefined */
        memcpy(e->data + key_length, blob, blob_length);
    if (old) {
        store->entry_bytes -= entry_size(old->key_length, old->blob_length);
        free(old);
    } else {
        t->used++;
    }
    store->entry_bytes += entry_size(key_length, blob_length);
    t->slots[i] = (mem_slot_t){.hash = hash, .entry = e};
    return DYN_OK;
}

static int mem_del(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length)
{
    dyn_mem_store_t *store = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    mem_table_t *t = &store->tables[space];
    if (!t->slots)
        return DYN_ENOTFOUND;
    size_t i = table_find(t, key_hash(key, key_length), key, key_length);
    mem_entry_t *e = t->slots[i].entry;
    if (!e)
        return DYN_ENOTFOUND;
    store->entry_bytes -= entry_size(e->key_length, e->blob_length);
    free(e);
    t->slots[i] = (mem_slot_t){0};
    t->used--;
    /* Backward shift: pull later members of the probe run into the hole so finds stay correct. */
    size_t hole = i;
    size_t j = (i + 1) & t->mask;
    while (t->slots[j].entry) {
        size_t home = (size_t)t->slots[j].hash & t->mask;
        /* Move j into the hole if its home is not cyclically within (hole, j]. */
        int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            t->slots[hole] = t->slots[j];
            t->slots[j] = (mem_slot_t){0};
            hole = j;
        }
        j = (j + 1) & t->mask;
    }
    return DYN_OK;
}

static int entry_order(const void *a, const void *b)
{
    const mem_entry_t *x = *(const mem_entry_t *const *)a;
    const mem_entry_t *y = *(const mem_entry_t *const *)b;
    size_t n = x->key_length < y->key_length ? x->key_length : y->key_length;
    int c = memcmp(x->data, y->data, n);
    if (c != 0)
        return c;
    return (x->key_length > y->key_length) - (x->key_length < y->key_length);
}

static int mem_scan(void *ctx, dyn_space_t space, dyn_storage_scan_fn fn, void *arg)
{
    dyn_mem_store_t *store = ctx;
    DYN_ASSERT(space < DYN_SPACE_COUNT_);
    mem_table_t *t = &store->tables[space];
    if (t->used == 0)
        return 0;
    /* Sort a snapshot of the entries: keys are unique, so the order is total. */
    mem_entry_t **order = malloc(t->used * sizeof(*order));
    if (!order)
        return DYN_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i].entry)
            order[n++] = t->slots[i].entry;
    DYN_ASSERT(n == t->used);
    qsort(order, n, sizeof(*order), entry_order);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fn(arg, order[i]->data, order[i]->key_length, order[i]->data + order[i]->key_length,
                order[i]->blob_length);
    free(order);
    return rc;
}

static int mem_sync(void *ctx)
{
    (void)ctx;
    return DYN_OK;
}

static const dyn_storage_ops_t mem_ops = {
    .get = mem_get, .put = mem_put, .del = mem_del, .scan = mem_scan, .sync = mem_sync,
};

dyn_storage_t dyn_mem_store_storage(dyn_mem_store_t *store)
{
    return (dyn_storage_t){.ops = &mem_ops, .ctx = store};
}
