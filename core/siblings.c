/*
 * siblings.c: sibling sets kept sorted in a canonical total order.
 *
 * dyn_siblings_add compares the new version with each sibling once, remembering superseded ones
 * in a bitmap (the set never exceeds DYN_SIBLINGS_MAX), and does everything that can fail (the
 * bound check, growing the array, copying the value) before touching the set, so a failed add
 * leaves it as it was. Versions are moved with a field copy plus dyn_vclock_copy, which copies only
 * the used clock entries rather than the whole inline array. Insertion keeps the array sorted, so
 * no sort ever runs; with the usual one or two siblings the shifts are trivial.
 */
#include "core/siblings.h"

#include "core/prng.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

DYN_STATIC_ASSERT(DYN_SIBLINGS_MAX % 64u == 0, "the dominated bitmap holds whole words");

static void version_move(dyn_version_t *dst, const dyn_version_t *src)
{
    dst->dot = src->dot;
    dyn_vclock_copy(&dst->clock, &src->clock);
    dst->timestamp_us = src->timestamp_us;
    dst->value = src->value;
    dst->value_length = src->value_length;
    dst->flags = src->flags;
    dst->owned = src->owned;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

static int value_cmp(const dyn_version_t *a, const dyn_version_t *b)
{
    uint32_t n = a->value_length < b->value_length ? a->value_length : b->value_length;
    if (n > 0) { /* a zero-length value may be NULL, which memcmp must not see */
        int c = memcmp(a->value, b->value, n);
        if (c != 0)
            return c < 0 ? -1 : 1;
    }
    return cmp_u64(a->value_length, b->value_length);
}

static int dot_cmp(const dyn_vclock_entry_t *a, const dyn_vclock_entry_t *b)
{
    int c = cmp_u64(a->node, b->node);
    if (c == 0)
        c = cmp_u64(a->epoch, b->epoch);
    if (c == 0)
        c = cmp_u64(a->counter, b->counter);
    return c;
}

static bool same_dot(const dyn_vclock_entry_t *a, const dyn_vclock_entry_t *b)
{
    return a->node == b->node && a->epoch == b->epoch && a->counter == b->counter;
}

bool dyn_version_supersedes(const dyn_version_t *later, const dyn_version_t *earlier)
{
    return dyn_vclock_covers(&later->clock, earlier->dot.node, earlier->dot.epoch,
                             earlier->dot.counter);
}

bool dyn_version_valid(const dyn_version_t *v)
{
    return v->dot.counter >= 1 && dyn_vclock_valid(&v->clock) &&
           !dyn_vclock_covers(&v->clock, v->dot.node, v->dot.epoch, v->dot.counter);
}

/*
 * The canonical total order. Dots name versions uniquely, so they decide; the rest only breaks
 * ties between malformed look-alikes. Entry timestamps are left out on purpose: they only steer
 * truncation.
 */
int dyn_version_order(const dyn_version_t *a, const dyn_version_t *b)
{
    int d = dot_cmp(&a->dot, &b->dot);
    if (d != 0)
        return d;
    const dyn_vclock_t *ca = &a->clock, *cb = &b->clock;
    uint32_t n = ca->count < cb->count ? ca->count : cb->count;
    for (uint32_t i = 0; i < n; i++) {
        const dyn_vclock_entry_t *ea = &ca->entries[i], *eb = &cb->entries[i];
        int c = cmp_u64(ea->node, eb->node);
        if (c == 0)
            c = cmp_u64(ea->epoch, eb->epoch);
        if (c == 0)
            c = cmp_u64(ea->counter, eb->counter);
        if (c != 0)
            return c;
    }
    int c = cmp_u64(ca->count, cb->count);
    if (c == 0)
        c = cmp_u64(a->timestamp_us, b->timestamp_us);
    if (c == 0)
        c = cmp_u64(a->flags, b->flags);
    if (c == 0)
        c = value_cmp(a, b);
    return c;
}

static void version_free_value(dyn_version_t *v)
{
    if (v->owned)
        free((void *)(uintptr_t)v->value); /* owned values came from malloc; drop const */
    v->value = NULL;
    v->owned = false;
}

void dyn_siblings_init(dyn_siblings_t *set)
{
    set->count = 0;
    set->capacity = 0;
    set->items = NULL;
}

void dyn_siblings_clear(dyn_siblings_t *set)
{
    for (uint32_t i = 0; i < set->count; i++)
        version_free_value(&set->items[i]);
    free(set->items);
    dyn_siblings_init(set);
}

static int reserve(dyn_siblings_t *set, uint32_t needed)
{
    if (needed <= set->capacity)
        return DYN_OK;
    uint32_t cap = set->capacity ? set->capacity * 2u : 1u; /* most keys hold one version */
    if (cap < needed)
        cap = needed;
    dyn_version_t *items = realloc(set->items, (size_t)cap * sizeof(items[0]));
    if (!items)
        return DYN_ENOMEM;
    set->items = items;
    set->capacity = cap;
    return DYN_OK;
}

int dyn_siblings_add(dyn_siblings_t *set, const dyn_version_t *version, dyn_sib_add_mode_t mode,
                     uint32_t siblings_max)
{
    DYN_ASSERT(siblings_max <= DYN_SIBLINGS_MAX);
    DYN_ASSERT(set->count <= DYN_SIBLINGS_MAX);
    DYN_DEBUG_ASSERT(dyn_version_valid(version));
    DYN_ASSERT(version->value != NULL || version->value_length == 0);
    if (version->value_length > DYN_VALUE_MAX)
        return DYN_ETOOBIG;

    /*
     * One compare per sibling. The insertion point is counted here too, while version->value is
     * surely alive: the survivors keep their order, so those below the new version form a prefix.
     */
    uint64_t dominated[DYN_SIBLINGS_MAX / 64u];
    /*
     * Clear only the words the set reaches: one store for the usual set of under 64 versions.
     * Zeroing all 128 bytes compiled to a rep stos that perf put at a sixth of this function's
     * time.
     */
    dominated[0] = 0;
    if (set->count > 64u)
        memset(&dominated[1], 0, ((set->count + 63u) / 64u - 1u) * sizeof(dominated[0]));
    uint32_t n_dominated = 0, pos = 0;
    for (uint32_t i = 0; i < set->count; i++) {
        const dyn_version_t *old = &set->items[i];
        if (same_dot(&old->dot, &version->dot) || dyn_version_supersedes(old, version))
            return 0;
        if (dyn_version_supersedes(version, old)) {
            dominated[i / 64u] |= UINT64_C(1) << (i % 64u);
            n_dominated++;
        } else if (dyn_version_order(old, version) < 0) {
            pos++;
        }
    }

    uint32_t new_count = set->count - n_dominated + 1;
    if (new_count > siblings_max)
        return DYN_ESIBLINGS;
    /* Room for the new item before the dominated ones leave, so nothing fails after mutating. */
    if (n_dominated == 0 && reserve(set, new_count) != DYN_OK)
        return DYN_ENOMEM;

    const uint8_t *value = version->value;
    bool owned = false;
    if (mode == DYN_SIB_COPY && version->value_length > 0) {
        uint8_t *copy = malloc(version->value_length);
        if (!copy)
            return DYN_ENOMEM;
        memcpy(copy, version->value, version->value_length);
        value = copy;
        owned = true;
    }

    if (n_dominated > 0) {
        uint32_t kept = 0;
        for (uint32_t i = 0; i < set->count; i++) {
            if (dominated[i / 64u] & (UINT64_C(1) << (i % 64u))) {
                version_free_value(&set->items[i]);
            } else {
                if (kept != i)
                    version_move(&set->items[kept], &set->items[i]);
                kept++;
            }
        }
        set->count = kept;
    }

    for (uint32_t i = set->count; i > pos; i--)
        version_move(&set->items[i], &set->items[i - 1]);

    dyn_version_t *slot = &set->items[pos];
    version_move(slot, version);
    slot->value = value;
    slot->owned = owned;
    set->count++;
    DYN_ASSERT(set->count == new_count);
    return 1;
}

int dyn_siblings_merge(dyn_siblings_t *dst, const dyn_siblings_t *src, dyn_sib_add_mode_t mode,
                       uint32_t siblings_max)
{
    DYN_ASSERT(dst != src);
    int added = 0;
    for (uint32_t i = 0; i < src->count; i++) {
        int rc = dyn_siblings_add(dst, &src->items[i], mode, siblings_max);
        if (rc < 0)
            return rc;
        added += rc;
    }
    return added;
}

void dyn_siblings_context(const dyn_siblings_t *set, dyn_vclock_t *out)
{
    dyn_vclock_init(out);
    for (uint32_t i = 0; i < set->count; i++)
        (void)dyn_vclock_merge(out, &set->items[i].clock, DYN_VCLOCK_MAX);
    /*
     * Extending by one dot can make another contiguous (a:1 then a:2), so repeat until nothing
     * changes; each pass that changes something adds at least one dot, so at most count passes.
     */
    if (set->count == 1) {
        dyn_vclock_extend_contiguous(out, &set->items[0].dot);
        return;
    }
    for (uint32_t pass = 0; pass < set->count; pass++) {
        uint64_t before = 0, after = 0;
        for (uint32_t e = 0; e < out->count; e++)
            before += out->entries[e].counter;
        for (uint32_t i = 0; i < set->count; i++)
            dyn_vclock_extend_contiguous(out, &set->items[i].dot);
        for (uint32_t e = 0; e < out->count; e++)
            after += out->entries[e].counter;
        if (after == before)
            break;
    }
}

uint64_t dyn_siblings_dots_print(const dyn_siblings_t *set)
{
    /* dyn_seed_derive is the project's mixer of two 64-bit words (splitmix64). */
    uint64_t h = set->count;
    for (uint32_t i = 0; i < set->count; i++) {
        const dyn_version_t *v = &set->items[i];
        h = dyn_seed_derive(h, (uint64_t)v->dot.node << 32 | v->dot.epoch);
        uint64_t tombstone = (uint64_t)(v->flags & DYN_VERSION_TOMBSTONE) << 62;
        h = dyn_seed_derive(h, v->dot.counter ^ tombstone);
    }
    return h ? h : 1;
}

uint32_t dyn_siblings_live_count(const dyn_siblings_t *set)
{
    uint32_t live = 0;
    for (uint32_t i = 0; i < set->count; i++)
        if (!(set->items[i].flags & DYN_VERSION_TOMBSTONE))
            live++;
    return live;
}

static bool version_equal(const dyn_version_t *a, const dyn_version_t *b)
{
    if (!same_dot(&a->dot, &b->dot) || a->clock.count != b->clock.count ||
        a->timestamp_us != b->timestamp_us ||
        a->flags != b->flags || a->value_length != b->value_length)
        return false;
    for (uint32_t i = 0; i < a->clock.count; i++) {
        const dyn_vclock_entry_t *ea = &a->clock.entries[i], *eb = &b->clock.entries[i];
        if (ea->node != eb->node || ea->epoch != eb->epoch || ea->counter != eb->counter)
            return false;
    }
    return a->value_length == 0 || a->value == b->value ||
           memcmp(a->value, b->value, a->value_length) == 0;
}

bool dyn_siblings_equal(const dyn_siblings_t *a, const dyn_siblings_t *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++)
        if (!version_equal(&a->items[i], &b->items[i]))
            return false;
    return true;
}

void dyn_siblings_resolve_lww(dyn_siblings_t *set)
{
    if (set->count <= 1)
        return;
    /* Items are in canonical order, so taking the last of equal timestamps breaks ties by it. */
    uint32_t best = 0;
    for (uint32_t i = 1; i < set->count; i++)
        if (set->items[i].timestamp_us >= set->items[best].timestamp_us)
            best = i;
    for (uint32_t i = 0; i < set->count; i++)
        if (i != best)
            version_free_value(&set->items[i]);
    if (best != 0)
        version_move(&set->items[0], &set->items[best]);
    set->count = 1;
}

int dyn_siblings_add_lww(dyn_siblings_t *set, const dyn_version_t *version,
                         dyn_sib_add_mode_t mode)
{
    for (uint32_t i = 0; i < set->count; i++) {
        const dyn_version_t *old = &set->items[i];
        if (old->timestamp_us > version->timestamp_us ||
            (old->timestamp_us == version->timestamp_us && dyn_version_order(old, version) >= 0))
            return 0;
    }
    /* The newcomer wins over everything held: empty the set, then add it to the empty set. */
    for (uint32_t i = 0; i < set->count; i++)
        version_free_value(&set->items[i]);
    set->count = 0;
    return dyn_siblings_add(set, version, mode, 1);
}
