/*
 * claim.c: keep up to the share, then fill the holes by deficit, avoiding nearby owners.
 */
#include "core/claim.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

typedef struct claimant {
    uint32_t id;
    uint32_t held;     /* partitions of the old table it owns */
    uint32_t share;    /* what it should own */
    uint32_t kept;     /* what it owns in the new table so far */
} claimant_t;

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const claimant_t *)a)->id, y = ((const claimant_t *)b)->id;
    return (x > y) - (x < y);
}

/* Most held first, then lower id: who gets the ceil shares. */
static int by_held(const void *a, const void *b)
{
    const claimant_t *x = a, *y = b;
    if (x->held != y->held)
        return x->held < y->held ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

static claimant_t *find(claimant_t *c, size_t count, uint32_t id)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < count && c[lo].id == id ? &c[lo] : NULL;
}

/* Whether `id` owns a partition within `spread` of partition i (both sides, wrapping). */
static bool near(const uint32_t *owners, size_t q, size_t i, unsigned spread, uint32_t id)
{
    for (unsigned d = 1; d <= spread && d < q; d++)
        if (owners[(i + d) % q] == id || owners[(i + q - d) % q] == id)
            return true;
    return false;
}

int dyn_claim(const uint32_t *old_owners, size_t q, const uint32_t *members, size_t count,
              unsigned spread, uint32_t *new_owners)
{
    if (!old_owners || !members || !new_owners || count == 0 || q < count)
        return DYN_EINVAL;
    claimant_t *c = calloc(count, sizeof *c);
    if (!c)
        return DYN_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        if (members[i] == 0) {
            free(c);
            return DYN_EINVAL;
        }
        c[i].id = members[i];
    }
    qsort(c, count, sizeof *c, by_id);
    for (size_t i = 1; i < count; i++) {
        if (c[i].id == c[i - 1].id) {
            free(c);
            return DYN_EINVAL;
        }
    }
    for (size_t p = 0; p < q; p++) {
        claimant_t *o = old_owners[p] ? find(c, count, old_owners[p]) : NULL;
        if (o)
            o->held++;
    }
    qsort(c, count, sizeof *c, by_held);
    for (size_t i = 0; i < count; i++)
        c[i].share = (uint32_t)(q / count + (i < q % count ? 1 : 0));
    qsort(c, count, sizeof *c, by_id);
    if (spread > count - 1)
        spread = (unsigned)(count - 1);

    /* Keep: every partition of a node still a member stays with it, for now. */
    memset(new_owners, 0, q * sizeof *new_owners);
    for (size_t p = 0; p < q; p++) {
        claimant_t *o = old_owners[p] ? find(c, count, old_owners[p]) : NULL;
        if (o) {
            new_owners[p] = o->id;
            o->kept++;
        }
    }
    /* Fill: the partitions of departed nodes, each to the node furthest below its share that owns
     * nothing near it, or failing that to the one furthest below its share. */
    for (size_t p = 0; p < q; p++) {
        if (new_owners[p])
            continue;
        claimant_t *best = NULL, *fallback = NULL;
        for (size_t i = 0; i < count; i++) {
            claimant_t *x = &c[i];
            if (x->kept >= x->share)
                continue;
            if (!fallback || x->share - x->kept > fallback->share - fallback->kept)
                fallback = x;
            if (!near(new_owners, q, p, spread, x->id) &&
                (!best || x->share - x->kept > best->share - best->kept))
                best = x;
        }
        DYN_ASSERT(fallback); /* shares sum to q, and p is not yet owned */
        claimant_t *to = best ? best : fallback;
        new_owners[p] = to->id;
        to->kept++;
    }
    /* Steal: each node still below its share takes partitions from nodes above theirs, scanning
     * the ring from its own offset and skipping partitions near one it owns, so what it takes is
     * spread out; a second scan without that rule finishes what the first could not. */
    for (size_t i = 0; i < count; i++) {
        claimant_t *x = &c[i];
        size_t start = q * i / count;
        for (int strict = 1; strict >= 0 && x->kept < x->share; strict--) {
            for (size_t k = 0; k < q && x->kept < x->share; k++) {
                size_t p = (start + k) % q;
                claimant_t *o = find(c, count, new_owners[p]);
                if (o == x || o->kept <= o->share)
                    continue;
                if (strict && near(new_owners, q, p, spread, x->id))
                    continue;
                new_owners[p] = x->id;
                o->kept--;
                x->kept++;
            }
        }
    }
    int moved = 0;
    for (size_t p = 0; p < q; p++)
        moved += new_owners[p] != old_owners[p];
    free(c);
    return moved;
}
