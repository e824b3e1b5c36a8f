/*
 * vclock.c: vector clocks with sorted inline entries.
 *
 * Every operation is a single walk over the sorted entries (at most DYN_VCLOCK_MAX, so a linear
 * scan beats any index). Merge writes into a stack buffer sized for the union of two full clocks,
 * truncates there and copies back only the surviving entries, so dst is never seen half merged.
 * Truncation removes one victim per pass; it rarely drops more than one entry, and a pass over 32
 * entries is cheaper than sorting them. The representation invariant is asserted after each
 * mutation: it is linear and catches a broken clock before it is encoded or compared.
 */
#include "core/vclock.h"

#include <string.h>

#include "core/status.h"

/* Orders actors by (node, epoch): <0, 0, >0. */
static int actor_cmp(const dyn_vclock_entry_t *a, const dyn_vclock_entry_t *b)
{
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    if (a->epoch != b->epoch)
        return a->epoch < b->epoch ? -1 : 1;
    return 0;
}

/*
 * Drops oldest-timestamp entries from a sorted array until *count <= threshold. The entry at
 * index `keep` (or none, if keep is negative) is never a victim. Scanning in array order with a
 * strict comparison makes the earliest (node, epoch) lose a timestamp tie, deterministically.
 */
static int truncate_entries(dyn_vclock_entry_t *entries, uint32_t *count, uint32_t threshold,
                            long keep)
{
    int dropped = 0;
    while (*count > threshold) {
        long victim = -1;
        for (long i = 0; i < (long)*count; i++) {
            if (i == keep)
                continue;
            if (victim < 0 || entries[i].timestamp_us < entries[victim].timestamp_us)
                victim = i;
        }
        DYN_ASSERT(victim >= 0);
        memmove(&entries[victim], &entries[victim + 1],
                (size_t)(*count - (uint32_t)victim - 1) * sizeof(entries[0]));
        (*count)--;
        if (keep > victim)
            keep--;
        dropped++;
    }
    return dropped;
}

void dyn_vclock_init(dyn_vclock_t *vc)
{
    vc->count = 0;
}

void dyn_vclock_copy(dyn_vclock_t *dst, const dyn_vclock_t *src)
{
    DYN_ASSERT(src->count <= DYN_VCLOCK_MAX);
    if (dst == src)
        return;
    dst->count = src->count;
    memcpy(dst->entries, src->entries, (size_t)src->count * sizeof(src->entries[0]));
}

uint64_t dyn_vclock_get(const dyn_vclock_t *vc, uint32_t node, uint32_t epoch)
{
    for (uint32_t i = 0; i < vc->count; i++) {
        const dyn_vclock_entry_t *e = &vc->entries[i];
        if (e->node > node || (e->node == node && e->epoch > epoch))
            break; /* sorted: the actor cannot appear further on */
        if (e->node == node && e->epoch == epoch)
            return e->counter;
    }
    return 0;
}

int dyn_vclock_increment(dyn_vclock_t *vc, uint32_t node, uint32_t epoch, uint64_t now_us,
                         uint32_t threshold)
{
    DYN_ASSERT(threshold >= 1 && threshold <= DYN_VCLOCK_MAX);
    DYN_ASSERT(vc->count <= DYN_VCLOCK_MAX);

    const dyn_vclock_entry_t key = {.node = node, .epoch = epoch};
    uint32_t pos = 0;
    while (pos < vc->count && actor_cmp(&vc->entries[pos], &key) < 0)
        pos++;

    int dropped = 0;
    if (pos < vc->count && actor_cmp(&vc->entries[pos], &key) == 0) {
        DYN_ASSERT(vc->entries[pos].counter < UINT64_MAX);
        vc->entries[pos].counter++;
        vc->entries[pos].timestamp_us = now_us;
    } else {
        if (vc->count == DYN_VCLOCK_MAX) {
            /*
             * No room for the new actor. Evicting the oldest existing entry first gives the same
             * result as inserting and then truncating with the new entry protected.
             */
            dropped = truncate_entries(vc->entries, &vc->count, DYN_VCLOCK_MAX - 1, -1);
            pos = 0;
            while (pos < vc->count && actor_cmp(&vc->entries[pos], &key) < 0)
                pos++;
        }
        memmove(&vc->entries[pos + 1], &vc->entries[pos],
                (size_t)(vc->count - pos) * sizeof(vc->entries[0]));
        vc->entries[pos] = (dyn_vclock_entry_t){
            .node = node, .epoch = epoch, .counter = 1, .timestamp_us = now_us};
        vc->count++;
    }

    dropped += truncate_entries(vc->entries, &vc->count, threshold, (long)pos);
    DYN_DEBUG_ASSERT(dyn_vclock_valid(vc));
    return dropped;
}

int dyn_vclock_merge(dyn_vclock_t *dst, const dyn_vclock_t *src, uint32_t threshold)
{
    DYN_ASSERT(threshold >= 1 && threshold <= DYN_VCLOCK_MAX);
    DYN_ASSERT(dst->count <= DYN_VCLOCK_MAX && src->count <= DYN_VCLOCK_MAX);
    if (dst == src)
        return dyn_vclock_truncate(dst, threshold);

    dyn_vclock_entry_t out[2 * DYN_VCLOCK_MAX];
    uint32_t n = 0, i = 0, j = 0;
    while (i < dst->count || j < src->count) {
        int c;
        if (i == dst->count)
            c = 1;
        else if (j == src->count)
            c = -1;
        else
            c = actor_cmp(&dst->entries[i], &src->entries[j]);

        if (c < 0) {
            out[n++] = dst->entries[i++];
        } else if (c > 0) {
            out[n++] = src->entries[j++];
        } else {
            const dyn_vclock_entry_t *a = &dst->entries[i++];
            const dyn_vclock_entry_t *b = &src->entries[j++];
            dyn_vclock_entry_t e = *a;
            if (b->counter > a->counter ||
                (b->counter == a->counter && b->timestamp_us > a->timestamp_us)) {
                e.counter = b->counter;
                e.timestamp_us = b->timestamp_us;
            }
            out[n++] = e;
        }
    }

    int dropped = truncate_entries(out, &n, threshold, -1);
    dst->count = n;
    memcpy(dst->entries, out, (size_t)n * sizeof(out[0]));
    DYN_DEBUG_ASSERT(dyn_vclock_valid(dst));
    return dropped;
}

dyn_vclock_order_t dyn_vclock_compare(const dyn_vclock_t *a, const dyn_vclock_t *b)
{
    /* a_ahead: some actor has a larger counter in a than in b (absent counts as 0). */
    int a_ahead = 0, b_ahead = 0;
    uint32_t i = 0, j = 0;
    while (i < a->count && j < b->count) {
        int c = actor_cmp(&a->entries[i], &b->entries[j]);
        if (c < 0) {
            a_ahead = 1;
            i++;
        } else if (c > 0) {
            b_ahead = 1;
            j++;
        } else {
            uint64_t ca = a->entries[i++].counter, cb = b->entries[j++].counter;
            if (ca > cb)
                a_ahead = 1;
            else if (cb > ca)
                b_ahead = 1;
        }
        if (a_ahead && b_ahead)
            return DYN_VC_CONCURRENT;
    }
    if (i < a->count)
        a_ahead = 1;
    if (j < b->count)
        b_ahead = 1;

    if (a_ahead && b_ahead)
        return DYN_VC_CONCURRENT;
    if (a_ahead)
        return DYN_VC_AFTER;
    if (b_ahead)
        return DYN_VC_BEFORE;
    return DYN_VC_EQUAL;
}

int dyn_vclock_descends(const dyn_vclock_t *a, const dyn_vclock_t *b)
{
    if (b->count > a->count)
        return 0; /* b names an actor a lacks */
    uint32_t i = 0;
    for (uint32_t j = 0; j < b->count; j++) {
        const dyn_vclock_entry_t *eb = &b->entries[j];
        while (i < a->count && actor_cmp(&a->entries[i], eb) < 0)
            i++;
        if (i == a->count || actor_cmp(&a->entries[i], eb) != 0 ||
            a->entries[i].counter < eb->counter)
            return 0;
        i++;
    }
    return 1;
}

int dyn_vclock_truncate(dyn_vclock_t *vc, uint32_t threshold)
{
    DYN_ASSERT(threshold >= 1 && threshold <= DYN_VCLOCK_MAX);
    DYN_ASSERT(vc->count <= DYN_VCLOCK_MAX);
    int dropped = truncate_entries(vc->entries, &vc->count, threshold, -1);
    DYN_DEBUG_ASSERT(dyn_vclock_valid(vc));
    return dropped;
}

int dyn_vclock_valid(const dyn_vclock_t *vc)
{
    if (vc->count > DYN_VCLOCK_MAX)
        return 0;
    for (uint32_t i = 0; i < vc->count; i++) {
        if (vc->entries[i].counter == 0)
            return 0;
        if (i > 0 && actor_cmp(&vc->entries[i - 1], &vc->entries[i]) >= 0)
            return 0;
    }
    return 1;
}

int dyn_vclock_covers(const dyn_vclock_t *vc, uint32_t node, uint32_t epoch, uint64_t counter)
{
    return dyn_vclock_get(vc, node, epoch) >= counter;
}

void dyn_vclock_extend_contiguous(dyn_vclock_t *vc, const dyn_vclock_entry_t *dot)
{
    if (dyn_vclock_get(vc, dot->node, dot->epoch) + 1 != dot->counter)
        return;
    dyn_vclock_t one = {.count = 1, .entries = {*dot}};
    (void)dyn_vclock_merge(vc, &one, DYN_VCLOCK_MAX);
}
