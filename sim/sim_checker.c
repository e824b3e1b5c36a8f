/*
 * sim_checker.c: the log is an array of records pointing into a key arena. A check sorts record
 * indexes by (key, log order), so each key's replicas are read and decoded once however many
 * writes it had.
 */
#include "sim/sim_checker.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/codec.h"
#include "core/mem_store.h"
#include "core/ring.h"
#include "core/siblings.h"
#include "core/status.h"
#include "sim/sim_world.h"

typedef struct record {
    size_t key_offset;
    uint32_t key_length;
    uint8_t kind;
    dyn_vclock_entry_t dot;
    dyn_time_us acked_us;
} record_t;

/* A failed put: its key (in the arena), value hash, what the client was told and when. */
typedef struct failed {
    size_t key_offset;
    uint32_t key_length;
    int32_t status;
    uint64_t value_hash;
    dyn_time_us failed_us;
    dyn_time_us seen_us;    /* first get that returned it after the failure; 0 if none */
} failed_t;

/* A version of a collected tombstone set: what it named and what it covered. */
typedef struct reaped_version {
    dyn_vclock_entry_t dot;
    dyn_vclock_t past;
} reaped_version_t;

/* One collection of a key's tombstones at one node: versions[first, first + count). */
typedef struct reaped {
    size_t key_offset;
    uint32_t key_length;
    size_t first, count;
} reaped_t;

struct sim_checker {
    int enabled;
    reaped_t *reaped;
    size_t reaped_count, reaped_capacity;
    reaped_version_t *reaped_versions;
    size_t reaped_versions_count, reaped_versions_capacity;
    record_t *records;
    size_t count, capacity;
    failed_t *failed;
    size_t failed_count, failed_capacity;
    /* Open addressing over value hashes of definite failures: index + 1, 0 for empty. */
    uint32_t *definite_index;
    size_t definite_mask, definite_count;
    uint8_t *arena;
    size_t arena_used, arena_capacity;
};

sim_checker_t *sim_checker_create(void)
{
    sim_checker_t *c = calloc(1, sizeof(*c));
    if (c)
        c->enabled = 1;
    return c;
}

void sim_checker_destroy(sim_checker_t *c)
{
    if (!c)
        return;
    free(c->records);
    free(c->reaped);
    free(c->reaped_versions);
    free(c->failed);
    free(c->definite_index);
    free(c->arena);
    free(c);
}

void sim_checker_set_enabled(sim_checker_t *c, int enabled) { c->enabled = enabled; }
int sim_checker_enabled(const sim_checker_t *c) { return c->enabled; }
uint64_t sim_checker_logged(const sim_checker_t *c) { return c->count; }

/* Room for one more element in a doubling array of `size`-byte elements. Returns 0 or -1. */
static int reserve_one(void **array, size_t *capacity, size_t count, size_t size, size_t first)
{
    if (count < *capacity)
        return 0;
    size_t cap = *capacity ? *capacity * 2 : first;
    void *grown = realloc(*array, cap * size);
    if (!grown)
        return -1;
    *array = grown;
    *capacity = cap;
    return 0;
}

/* Forward: the arena is shared by the write log and the reaped sets. */
static int arena_copy(sim_checker_t *c, const uint8_t *key, size_t key_length, size_t *offset);

int sim_checker_reaped(sim_checker_t *c, sim_world_t *w, uint32_t node, const uint8_t *key,
                       size_t key_length)
{
    if (!c->enabled)
        return 0;
    dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, node));
    const uint8_t *blob;
    size_t length;
    if (st.ops->get(st.ctx, DYN_SPACE_DATA, key, key_length, &blob, &length) != DYN_OK)
        return 0;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    int rc = dyn_codec_decode_siblings(blob, length, &set);
    DYN_ASSERT(rc == DYN_OK);
    size_t offset;
    if (reserve_one((void **)&c->reaped, &c->reaped_capacity, c->reaped_count, sizeof(reaped_t),
                    256) != 0 ||
        arena_copy(c, key, key_length, &offset) != 0) {
        dyn_siblings_clear(&set);
        return -1;
    }
    reaped_t *r = &c->reaped[c->reaped_count];
    *r = (reaped_t){.key_offset = offset, .key_length = (uint32_t)key_length,
                    .first = c->reaped_versions_count};
    for (uint32_t i = 0; i < set.count; i++) {
        if (reserve_one((void **)&c->reaped_versions, &c->reaped_versions_capacity,
                        c->reaped_versions_count, sizeof(reaped_version_t), 256) != 0) {
            dyn_siblings_clear(&set);
            return -1;
        }
        c->reaped_versions[c->reaped_versions_count++] =
            (reaped_version_t){.dot = set.items[i].dot, .past = set.items[i].clock};
        r->count++;
    }
    c->reaped_count++;
    dyn_siblings_clear(&set);
    return 0;
}

/* Copy a key into the arena; *offset receives where. Returns 0 or -1 when out of memory. */
static int arena_copy(sim_checker_t *c, const uint8_t *key, size_t key_length, size_t *offset)
{
    if (c->arena_used + key_length > c->arena_capacity) {
        size_t cap = c->arena_capacity ? c->arena_capacity * 2 : 65536;
        while (cap < c->arena_used + key_length)
            cap *= 2;
        uint8_t *a = realloc(c->arena, cap);
        if (!a)
            return -1;
        c->arena = a;
        c->arena_capacity = cap;
    }
    memcpy(c->arena + c->arena_used, key, key_length);
    *offset = c->arena_used;
    c->arena_used += key_length;
    return 0;
}

int sim_checker_ack(sim_checker_t *c, const uint8_t *key, size_t key_length,
                    const dyn_vclock_entry_t *dot, dyn_op_kind_t kind, dyn_time_us acked_us)
{
    if (!c->enabled)
        return 0;
    if (reserve_one((void **)&c->records, &c->capacity, c->count, sizeof(record_t), 1024) != 0)
        return -1;
    size_t offset;
    if (arena_copy(c, key, key_length, &offset) != 0)
        return -1;
    c->records[c->count++] = (record_t){
        .key_offset = offset, .key_length = (uint32_t)key_length, .kind = (uint8_t)kind,
        .dot = *dot, .acked_us = acked_us};
    return 0;
}

/* Definite failures are looked up by value hash on every observed get value. */
static int definite_insert(sim_checker_t *c, uint64_t hash, uint32_t index)
{
    if ((c->definite_count + 1) * 2 > c->definite_mask + 1 || !c->definite_index) {
        size_t slots = c->definite_index ? (c->definite_mask + 1) * 2 : 64;
        uint32_t *t = calloc(slots, sizeof(uint32_t));
        if (!t)
            return -1;
        for (size_t i = 0; c->definite_index && i <= c->definite_mask; i++) {
            uint32_t v = c->definite_index[i];
            if (!v)
                continue;
            size_t j = (size_t)c->failed[v - 1].value_hash & (slots - 1);
            while (t[j])
                j = (j + 1) & (slots - 1);
            t[j] = v;
        }
        free(c->definite_index);
        c->definite_index = t;
        c->definite_mask = slots - 1;
    }
    size_t j = (size_t)hash & c->definite_mask;
    while (c->definite_index[j])
        j = (j + 1) & c->definite_mask;
    c->definite_index[j] = index + 1;
    c->definite_count++;
    return 0;
}

static int is_definite(int32_t status) { return status != DYN_ETIMEDOUT; }

int sim_checker_failed(sim_checker_t *c, const uint8_t *key, size_t key_length,
                       uint64_t value_hash, int32_t status, dyn_time_us failed_us)
{
    DYN_ASSERT(status != DYN_OK);
    if (!c->enabled)
        return 0;
    if (reserve_one((void **)&c->failed, &c->failed_capacity, c->failed_count, sizeof(failed_t),
                    256) != 0)
        return -1;
    if (c->failed_count >= UINT32_MAX - 1)
        return -1;
    size_t offset;
    if (arena_copy(c, key, key_length, &offset) != 0)
        return -1;
    uint32_t index = (uint32_t)c->failed_count;
    c->failed[c->failed_count++] = (failed_t){
        .key_offset = offset, .key_length = (uint32_t)key_length, .status = status,
        .value_hash = value_hash, .failed_us = failed_us};
    if (is_definite(status) && definite_insert(c, value_hash, index) != 0) {
        c->failed_count--;
        return -1;
    }
    return 0;
}

void sim_checker_observed(sim_checker_t *c, const uint8_t *key, size_t key_length,
                          const dyn_siblings_t *values, dyn_time_us now)
{
    if (c->definite_count == 0 || !values)
        return;
    for (uint32_t v = 0; v < values->count; v++) {
        const dyn_version_t *ver = &values->items[v];
        if (ver->flags & DYN_VERSION_TOMBSTONE)
            continue;
        uint64_t hash = XXH3_64bits(ver->value, ver->value_length);
        for (size_t j = (size_t)hash & c->definite_mask; c->definite_index[j];
             j = (j + 1) & c->definite_mask) {
            failed_t *f = &c->failed[c->definite_index[j] - 1];
            if (f->value_hash == hash && f->key_length == key_length &&
                memcmp(c->arena + f->key_offset, key, key_length) == 0 && f->seen_us == 0)
                f->seen_us = now;
        }
    }
}

/*
 * Every sibling set the cluster holds for a key where a check looks: the data of the key's first
 * 2N nodes (its replicas and first fallbacks), and the hints for one of the N owners kept by any
 * node a coordinator could have picked as a fallback (the first DYN_FALLBACK_WALK_MAX of the
 * walk): until handoff, a hint may be the cluster's only copy of a write. Decodes into sets[]
 * (room for SETS_MAX, values borrow the stores) and returns how many were found.
 */
#define SETS_MAX (DYN_FALLBACK_WALK_MAX * (DYN_N_MAX + 1))

typedef struct hint_match {
    const uint8_t *key;
    uint32_t key_length;
    dyn_siblings_t *sets;
    size_t count;
} hint_match_t;

static void decode_set(dyn_siblings_t *sets, size_t *count, const uint8_t *blob, size_t length)
{
    DYN_ASSERT(*count < SETS_MAX);
    dyn_siblings_init(&sets[*count]);
    int rc = dyn_codec_decode_siblings(blob, length, &sets[*count]);
    DYN_ASSERT(rc == DYN_OK); /* a store holds only what it encoded */
    (*count)++;
}

static int match_hint(void *arg, const uint8_t *hkey, size_t hkey_length, const uint8_t *blob,
                      size_t length)
{
    hint_match_t *m = arg;
    if (hkey_length == 4u + m->key_length && memcmp(hkey + 4, m->key, m->key_length) == 0)
        decode_set(m->sets, &m->count, blob, length);
    return 0;
}

/*
 * After a membership change the walk of the current ring is not where everything is: data not
 * yet moved sits on its old owners, hints on fallbacks for owners that are owners no more. Every
 * node's data and hints are looked at instead (a linear scan of each hint space, so the checks of
 * a churn scenario cost more, as they must).
 */
static size_t load_sets_everywhere(sim_world_t *w, const uint8_t *key, uint32_t key_length,
                                   dyn_siblings_t *sets)
{
    hint_match_t m = {key, key_length, sets, 0};
    for (uint32_t id = 1; id <= sim_world_node_count(w); id++) {
        dyn_mem_store_t *store = sim_world_store(w, id);
        dyn_storage_t st = dyn_mem_store_storage(store);
        const uint8_t *blob;
        size_t length;
        if (st.ops->get(st.ctx, DYN_SPACE_DATA, key, key_length, &blob, &length) == DYN_OK)
            decode_set(sets, &m.count, blob, length);
        if (dyn_mem_store_key_count(store, DYN_SPACE_HINTS) > 0)
            (void)st.ops->scan(st.ctx, DYN_SPACE_HINTS, match_hint, &m);
    }
    return m.count;
}

static size_t load_sets(sim_world_t *w, const uint8_t *key, uint32_t key_length,
                        dyn_siblings_t *sets)
{
    if (sim_world_ring_commits(w) > 0)
        return load_sets_everywhere(w, key, key_length, sets);
    const dyn_ring_t *ring = sim_world_ring(w);
    size_t n = sim_world_cluster_config(w)->node.n;
    size_t span = 2 * n;
    uint32_t nodes[DYN_FALLBACK_WALK_MAX];
    size_t found = dyn_ring_preference_list(ring, dyn_ring_hash(key, key_length), nodes,
                                            DYN_FALLBACK_WALK_MAX);
    size_t count = 0;
    uint8_t hint_key[DYN_HINT_KEY_MAX];
    size_t owners = n < found ? n : found;
    for (size_t k = 0; k < found; k++) {
        dyn_mem_store_t *store = sim_world_store(w, nodes[k]);
        dyn_storage_t st = dyn_mem_store_storage(store);
        bool has_hints = dyn_mem_store_key_count(store, DYN_SPACE_HINTS) > 0;
        /* o == owners: the node's own data; below it, its hints for owner nodes[o]. */
        for (size_t o = 0; o <= owners; o++) {
            if (o == owners && k >= span)
                break;
            const uint8_t *at = key;
            size_t at_length = key_length;
            dyn_space_t space = DYN_SPACE_DATA;
            if (o < owners) {
                if (!has_hints || nodes[o] == nodes[k])
                    continue;
                space = DYN_SPACE_HINTS;
                at_length = dyn_node_hint_key(nodes[o], key, key_length, hint_key);
                at = hint_key;
            }
            const uint8_t *blob;
            size_t length;
            if (st.ops->get(st.ctx, space, at, at_length, &blob, &length) != DYN_OK)
                continue;
            decode_set(sets, &count, blob, length);
        }
    }
    return count;
}

static void clear_sets(dyn_siblings_t *sets, size_t count)
{
    for (size_t k = 0; k < count; k++)
        dyn_siblings_clear(&sets[k]);
}

/* Does any replica in the key's checked span store a live version with this value hash? */
static int stored_anywhere(sim_world_t *w, const uint8_t *key, uint32_t key_length,
                           uint64_t value_hash, dyn_siblings_t *sets)
{
    size_t count = load_sets(w, key, key_length, sets);
    int hit = 0;
    for (size_t k = 0; k < count && !hit; k++)
        for (uint32_t v = 0; v < sets[k].count && !hit; v++)
            hit = !(sets[k].items[v].flags & DYN_VERSION_TOMBSTONE) &&
                  XXH3_64bits(sets[k].items[v].value, sets[k].items[v].value_length) ==
                      value_hash;
    clear_sets(sets, count);
    return hit;
}

int sim_checker_honesty(sim_checker_t *c, sim_world_t *w, sim_honesty_report_t *out)
{
    memset(out, 0, sizeof(*out));
    dyn_siblings_t *sets = calloc(SETS_MAX, sizeof(dyn_siblings_t));
    if (!sets)
        return -1;
    for (size_t i = 0; i < c->failed_count; i++) {
        const failed_t *f = &c->failed[i];
        const uint8_t *key = c->arena + f->key_offset;
        int appeared =
            f->seen_us != 0 || stored_anywhere(w, key, f->key_length, f->value_hash, sets);
        if (!is_definite(f->status)) {
            out->indeterminate++;
            out->indeterminate_appeared += (uint64_t)appeared;
            continue;
        }
        out->definite++;
        if (!appeared)
            continue;
        out->definite_appeared++;
        if (out->listed < SIM_DISHONEST_LISTED)
            out->first[out->listed++] = (sim_dishonest_t){
                .key = key, .key_length = f->key_length, .status = f->status,
                .failed_us = f->failed_us, .seen_us = f->seen_us};
    }
    free(sets);
    return 0;
}

/* What the sort orders: each record's key and its position in the log (the tie-breaker). */
typedef struct sort_entry {
    const uint8_t *key;
    uint32_t key_length;
    size_t index;
} sort_entry_t;

static int by_key_then_order(const void *pa, const void *pb)
{
    const sort_entry_t *a = pa, *b = pb;
    size_t n = a->key_length < b->key_length ? a->key_length : b->key_length;
    int c = memcmp(a->key, b->key, n);
    if (c == 0)
        c = (a->key_length > b->key_length) - (a->key_length < b->key_length);
    if (c == 0)
        c = (a->index > b->index) - (a->index < b->index);
    return c;
}

static int same_key(const sort_entry_t *a, const sort_entry_t *b)
{
    return a->key_length == b->key_length && memcmp(a->key, b->key, a->key_length) == 0;
}

/*
 * Whether a set collected from key named or covered the dot. (No time order is asked of it: the
 * client may hear of a write after the coordinator's copy was already collected.)
 */
/* Order records by dot, for reused_dots(). */
static int by_dot(const void *a, const void *b)
{
    const dyn_vclock_entry_t *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->epoch != y->epoch)
        return x->epoch < y->epoch ? -1 : 1;
    return (x->counter > y->counter) - (x->counter < y->counter);
}

/*
 * Of one key's acknowledged writes (entries of `order`), how many share a dot with another: a
 * dot names one write, so every one past the first is a write the replicas cannot tell from it.
 * The check that a write is present goes by dot, so without this a reissued dot would hide one.
 */
static uint64_t reused_dots(const sim_checker_t *c, const sort_entry_t *order, size_t count)
{
    if (count < 2)
        return 0;
    dyn_vclock_entry_t *dots = malloc(count * sizeof(*dots));
    if (!dots)
        return 0;
    for (size_t i = 0; i < count; i++)
        dots[i] = c->records[order[i].index].dot;
    qsort(dots, count, sizeof(*dots), by_dot);
    uint64_t reused = 0;
    for (size_t i = 1; i < count; i++)
        reused += by_dot(&dots[i - 1], &dots[i]) == 0;
    free(dots);
    return reused;
}

static int by_version_dot(const void *a, const void *b)
{
    const dyn_version_t *const *x = a, *const *y = b;
    return by_dot(&(*x)->dot, &(*y)->dot);
}

/* Whether two versions with one dot are different writes (value, deletion or past differ). */
static bool same_write(const dyn_version_t *a, const dyn_version_t *b)
{
    return a->flags == b->flags && a->value_length == b->value_length &&
           (a->value_length == 0 || memcmp(a->value, b->value, a->value_length) == 0) &&
           dyn_vclock_compare(&a->clock, &b->clock) == DYN_VC_EQUAL;
}

/*
 * Dots the stored copies of one key give to two different writes: the other half of the check
 * above, for writes that were not both acknowledged (a reissued dot on a write that timed out
 * still makes replicas keep one of two writes, and never converge).
 */
static uint64_t conflicting_dots(const dyn_siblings_t *sets, size_t found)
{
    size_t total = 0;
    for (size_t k = 0; k < found; k++)
        total += sets[k].count;
    if (total < 2)
        return 0;
    const dyn_version_t **all = malloc(total * sizeof(*all));
    if (!all)
        return 0;
    size_t n = 0;
    for (size_t k = 0; k < found; k++)
        for (uint32_t v = 0; v < sets[k].count; v++)
            all[n++] = &sets[k].items[v];
    qsort(all, n, sizeof(*all), by_version_dot);
    uint64_t conflicts = 0;
    for (size_t i = 1; i < n; i++)
        conflicts += by_dot(&all[i - 1]->dot, &all[i]->dot) == 0 && !same_write(all[i - 1], all[i]);
    free(all);
    return conflicts;
}

static int covered_by_reaped(const sim_checker_t *c, const uint8_t *key, uint32_t key_length,
                             const dyn_vclock_entry_t *dot)
{
    for (size_t i = 0; i < c->reaped_count; i++) {
        const reaped_t *e = &c->reaped[i];
        if (e->key_length != key_length ||
            memcmp(c->arena + e->key_offset, key, key_length) != 0)
            continue;
        for (size_t v = e->first; v < e->first + e->count; v++) {
            const reaped_version_t *rv = &c->reaped_versions[v];
            if ((rv->dot.node == dot->node && rv->dot.epoch == dot->epoch &&
                 rv->dot.counter == dot->counter) ||
                dyn_vclock_covers(&rv->past, dot->node, dot->epoch, dot->counter))
                return 1;
        }
    }
    return 0;
}

int sim_checker_lost_writes(sim_checker_t *c, sim_world_t *w, sim_lost_report_t *out)
{
    memset(out, 0, sizeof(*out));
    if (c->count == 0)
        return 0;
    sort_entry_t *order = malloc(c->count * sizeof(sort_entry_t));
    dyn_siblings_t *sets = calloc(SETS_MAX, sizeof(dyn_siblings_t));
    if (!order || !sets) {
        free(order);
        free(sets);
        return -1;
    }
    for (size_t i = 0; i < c->count; i++)
        order[i] = (sort_entry_t){.key = c->arena + c->records[i].key_offset,
                                  .key_length = c->records[i].key_length, .index = i};
    qsort(order, c->count, sizeof(sort_entry_t), by_key_then_order);

    for (size_t start = 0; start < c->count;) {
        size_t end = start + 1;
        while (end < c->count && same_key(&order[start], &order[end]))
            end++;
        const record_t *first = &c->records[order[start].index];
        const uint8_t *key = c->arena + first->key_offset;
        out->dots_reused += reused_dots(c, order + start, end - start);
        size_t found = load_sets(w, key, first->key_length, sets);
        out->dots_reused += conflicting_dots(sets, found);
        for (size_t i = start; i < end; i++) {
            const record_t *r = &c->records[order[i].index];
            int present = 0, superseded = 0;
            for (size_t k = 0; k < found && !present; k++) {
                for (uint32_t v = 0; v < sets[k].count; v++) {
                    const dyn_version_t *ver = &sets[k].items[v];
                    if (ver->dot.node == r->dot.node && ver->dot.epoch == r->dot.epoch &&
                        ver->dot.counter == r->dot.counter)
                        present = 1;
                    else if (dyn_vclock_covers(&ver->clock, r->dot.node, r->dot.epoch,
                                               r->dot.counter))
                        superseded = 1;
                }
            }
            out->checked++;
            int reaped = !present && !superseded &&
                         covered_by_reaped(c, key, first->key_length, &r->dot);
            if (present) {
                out->present++;
            } else if (superseded || reaped) {
                out->superseded++;
                out->reaped += (uint64_t)reaped;
            } else {
                if (out->listed < SIM_LOST_LISTED)
                    out->first[out->listed++] = (sim_lost_write_t){
                        .key = c->arena + r->key_offset, .key_length = r->key_length,
                        .dot = r->dot, .kind = (dyn_op_kind_t)r->kind, .acked_us = r->acked_us};
                out->lost++;
            }
        }
        /* A live version a collected set covered is a deleted value back from the dead. */
        if (c->reaped_count)
            for (size_t k = 0; k < found; k++)
                for (uint32_t v = 0; v < sets[k].count; v++)
                    if (!(sets[k].items[v].flags & DYN_VERSION_TOMBSTONE) &&
                        covered_by_reaped(c, key, first->key_length, &sets[k].items[v].dot))
                        out->resurrected++;
        /* The stored blobs the sets borrow from stay valid: nothing wrote in between. */
        clear_sets(sets, found);
        start = end;
    }
    out->lost += out->dots_reused;
    free(order);
    free(sets);
    return 0;
}

/* Every key of every node, gathered for sorting. */
typedef struct key_list {
    sort_entry_t *keys;
    size_t count, capacity;
    uint8_t **copies;   /* the key bytes, owned */
} key_list_t;

static int gather_key(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                      size_t blob_length)
{
    (void)blob;
    (void)blob_length;
    key_list_t *l = arg;
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? l->capacity * 2 : 1024;
        sort_entry_t *k = realloc(l->keys, cap * sizeof(*k));
        uint8_t **c = realloc(l->copies, cap * sizeof(*c));
        if (k)
            l->keys = k;
        if (c)
            l->copies = c;
        if (!k || !c)
            return -1;
        l->capacity = cap;
    }
    uint8_t *copy = malloc(key_length ? key_length : 1);
    if (!copy)
        return -1;
    memcpy(copy, key, key_length);
    l->copies[l->count] = copy;
    l->keys[l->count] = (sort_entry_t){.key = copy, .key_length = (uint32_t)key_length,
                                       .index = l->count};
    l->count++;
    return 0;
}

static int convergence(sim_world_t *w, sim_convergence_report_t *out, sim_key_fn each, void *arg)
{
    memset(out, 0, sizeof(*out));
    key_list_t list = {0};
    int rc = 0;
    for (uint32_t id = 1; id <= sim_world_node_count(w) && rc == 0; id++) {
        dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, id));
        rc = st.ops->scan(st.ctx, DYN_SPACE_DATA, gather_key, &list);
    }
    if (rc == 0 && list.count)
        qsort(list.keys, list.count, sizeof(sort_entry_t), by_key_then_order);
    const dyn_ring_t *ring = sim_world_ring(w);
    size_t n = sim_world_cluster_config(w)->node.n;
    for (size_t i = 0; rc == 0 && i < list.count; i++) {
        if (i > 0 && same_key(&list.keys[i - 1], &list.keys[i]))
            continue;
        const sort_entry_t *k = &list.keys[i];
        uint32_t nodes[DYN_N_MAX];
        size_t found = dyn_ring_preference_list(ring, dyn_ring_hash(k->key, k->key_length),
                                                nodes, n);
        const uint8_t *blobs[DYN_N_MAX];
        size_t lengths[DYN_N_MAX];
        int same = 1;
        for (size_t r = 0; r < found; r++) {
            dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, nodes[r]));
            if (st.ops->get(st.ctx, DYN_SPACE_DATA, k->key, k->key_length, &blobs[r],
                            &lengths[r]) != DYN_OK) {
                blobs[r] = NULL;
                lengths[r] = 0;
            }
            /* An absent key and an empty set are the same state. */
            if (r > 0 && (lengths[r] != lengths[0] ||
                          (lengths[r] && memcmp(blobs[r], blobs[0], lengths[r]) != 0)))
                same = 0;
        }
        out->keys++;
        if (same)
            continue;
        out->divergent++;
        if (each)
            each(arg, k->key, k->key_length);
        if (out->listed < SIM_DIVERGENT_LISTED) {
            size_t slot = out->listed++;
            uint32_t copy = k->key_length < sizeof(out->first[slot].key)
                                ? k->key_length : (uint32_t)sizeof(out->first[slot].key);
            memcpy(out->first[slot].key, k->key, copy);
            out->first[slot].key_length = copy;
            out->first[slot].replicas = (uint32_t)found;
            for (size_t r = 0; r < found; r++) {
                dyn_siblings_t set;
                dyn_siblings_init(&set);
                if (blobs[r] && dyn_codec_decode_siblings(blobs[r], lengths[r], &set) == DYN_OK) {
                    out->first[slot].versions[r] = set.count;
                    for (uint32_t v = 0; v < set.count && v < 16; v++) {
                        out->first[slot].dots[r][v] = set.items[v].dot;
                        out->first[slot].value_lengths[r][v] = set.items[v].value_length;
                    }
                }
                dyn_siblings_clear(&set);
            }
        }
    }
    for (size_t i = 0; i < list.count; i++)
        free(list.copies[i]);
    free(list.copies);
    free(list.keys);
    return rc == 0 ? 0 : -1;
}

int sim_checker_convergence(sim_world_t *w, sim_convergence_report_t *out)
{
    return convergence(w, out, NULL, NULL);
}

int sim_checker_divergent_keys(sim_world_t *w, sim_key_fn each, void *arg)
{
    sim_convergence_report_t *report = malloc(sizeof(*report));
    if (!report)
        return -1;
    int rc = convergence(w, report, each, arg);
    free(report);
    return rc;
}
