/*
 * hist.c: log-linear buckets (hist.h). A value v >= 16 with its highest set bit at position e
 * (e >= 4) goes to group e - 3, sub-bucket (v >> (e - 4)) & 15: 16 buckets per doubling. Values
 * below 16 are group 0, exact.
 */
#include "net/hist.h"

#include <stdlib.h>

#define SUB_BITS 4u
#define SUB_COUNT (1u << SUB_BITS)
#define GROUPS (64u - SUB_BITS + 1u)

struct net_hist {
    uint64_t count, max;
    uint64_t buckets[GROUPS * SUB_COUNT];
};

net_hist_t *net_hist_create(void)
{
    return calloc(1, sizeof(net_hist_t));
}

void net_hist_destroy(net_hist_t *h)
{
    free(h);
}

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB_COUNT)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v >= 16, so e >= 4 */
    unsigned group = e - SUB_BITS + 1u;
    unsigned sub = (unsigned)(v >> (e - SUB_BITS)) & (SUB_COUNT - 1u);
    return group * SUB_COUNT + sub;
}

/* The largest value that falls into bucket b. */
static uint64_t bucket_top(unsigned b)
{
    unsigned group = b / SUB_COUNT, sub = b % SUB_COUNT;
    if (group == 0)
        return sub;
    unsigned e = group + SUB_BITS - 1u;
    uint64_t low = ((uint64_t)1 << e) | ((uint64_t)sub << (e - SUB_BITS));
    return low + ((uint64_t)1 << (e - SUB_BITS)) - 1u;
}

void net_hist_record(net_hist_t *h, uint64_t v)
{
    h->buckets[bucket_of(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

uint64_t net_hist_count(const net_hist_t *h)
{
    return h->count;
}

uint64_t net_hist_max(const net_hist_t *h)
{
    return h->max;
}

uint64_t net_hist_quantile(const net_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q > 1)
        q = 1;
    /* the rank of the sample asked for, 1-based: ceil(q * count), at least 1 */
    double want = q * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < GROUPS * SUB_COUNT; b++) {
        seen += h->buckets[b];
        if (seen >= rank) {
            uint64_t top = bucket_top(b);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}
