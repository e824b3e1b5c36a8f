/* sim_heapbench.c: the same 24-byte-entry binary heap as research/perf.md's desq baseline. */
#include "sim/sim_heapbench.h"

#include <stdlib.h>

#include "core/prng.h"
#include "sim/sim_wall.h"

typedef struct entry {
    uint64_t time, seq;
    uint32_t payload;
} entry_t;

static inline int before(const entry_t *a, const entry_t *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void push(entry_t *h, size_t *n, entry_t e)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static entry_t pop(entry_t *h, size_t *n)
{
    entry_t top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m && before(&h[c + 1], &h[c]))
            c++;
        if (!before(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (m > 0)
        h[i] = last;
    return top;
}

double sim_heapbench_rate(size_t pending, uint64_t events, uint64_t seed)
{
    if (pending < 1)
        pending = 1;
    entry_t *h = malloc((pending + 1) * sizeof(entry_t));
    if (!h)
        return 0;
    dyn_prng_t prng;
    dyn_prng_seed(&prng, seed);
    size_t n = 0;
    uint64_t seq = 0, sink = 0;
    for (size_t i = 0; i < pending; i++)
        push(h, &n, (entry_t){dyn_prng_u64(&prng) & 0xFFFFF, seq++, (uint32_t)i});
    double start = sim_wall_seconds();
    for (uint64_t i = 0; i < events; i++) {
        entry_t e = pop(h, &n);
        sink += e.payload;
        push(h, &n, (entry_t){e.time + 1 + (dyn_prng_u64(&prng) & 0xFFFFF), seq++, e.payload});
    }
    double elapsed = sim_wall_seconds() - start;
    free(h);
    /* Keep the loop from being optimised away. */
    if (sink == UINT64_MAX)
        return 0;
    return elapsed > 0 ? (double)events / elapsed : 0;
}
