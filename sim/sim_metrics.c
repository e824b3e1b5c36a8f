/* sim_metrics.c: an append-only history plus per-kind latency arrays sorted on demand. */
#include "sim/sim_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

typedef struct lat_array {
    uint64_t *v;
    size_t count, capacity;
    int sorted;
} lat_array_t;

struct sim_metrics {
    sim_op_record_t *history;
    size_t count, capacity;
    lat_array_t lat[DYN_OP_KIND_COUNT_];
    uint64_t completed[DYN_OP_KIND_COUNT_], ok[DYN_OP_KIND_COUNT_];
    uint64_t not_found[DYN_OP_KIND_COUNT_], timeouts[DYN_OP_KIND_COUNT_];
    double latency_sum[DYN_OP_KIND_COUNT_];
    uint64_t total;
};

sim_metrics_t *sim_metrics_create(void) { return calloc(1, sizeof(sim_metrics_t)); }

void sim_metrics_destroy(sim_metrics_t *m)
{
    if (!m)
        return;
    for (int k = 0; k < DYN_OP_KIND_COUNT_; k++)
        free(m->lat[k].v);
    free(m->history);
    free(m);
}

static int grow(void **p, size_t *capacity, size_t elem)
{
    size_t cap = *capacity ? *capacity * 2 : 4096;
    void *q = realloc(*p, cap * elem);
    if (!q)
        return -1;
    *p = q;
    *capacity = cap;
    return 0;
}

/* A successful answer: DYN_OK, or not-found for a read. */
static int record_ok(const sim_op_record_t *rec)
{
    return rec->status == DYN_OK || (rec->kind == DYN_OP_GET && rec->status == DYN_ENOTFOUND);
}

int sim_metrics_record(sim_metrics_t *m, const sim_op_record_t *rec)
{
    DYN_ASSERT(rec->kind < DYN_OP_KIND_COUNT_);
    DYN_ASSERT(rec->end_us >= rec->start_us);
    int k = rec->kind;
    m->total++;
    m->completed[k]++;
    int ok = record_ok(rec);
    if (rec->status == DYN_ETIMEDOUT)
        m->timeouts[k]++;
    int rc = 0;
    if (ok) {
        m->ok[k]++;
        if (rec->status == DYN_ENOTFOUND)
            m->not_found[k]++;
        lat_array_t *a = &m->lat[k];
        if (a->count == a->capacity && grow((void **)&a->v, &a->capacity, sizeof(uint64_t)) != 0)
            return -1;
        uint64_t latency = rec->end_us - rec->start_us;
        a->v[a->count++] = latency;
        a->sorted = 0;
        m->latency_sum[k] += (double)latency;
    }
    if (m->count == m->capacity &&
        grow((void **)&m->history, &m->capacity, sizeof(sim_op_record_t)) != 0)
        rc = -1;
    else
        m->history[m->count++] = *rec;
    return rc;
}

/*
 * LSD radix sort, 16 bits a pass, skipping passes where every key has the same digit (latencies
 * rarely exceed 2^32 us, so usually two passes). A million latencies sort in a few milliseconds,
 * several times faster than qsort's comparator calls. Returns -1 if scratch space is unavailable.
 */
static int radix_sort(uint64_t *v, size_t n)
{
    uint64_t *tmp = malloc(n * sizeof(uint64_t));
    size_t *count = malloc(65536 * sizeof(size_t));
    if (!tmp || !count) {
        free(tmp);
        free(count);
        return -1;
    }
    uint64_t *src = v, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof(size_t));
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xFFFF]++;
        if (count[(src[0] >> shift) & 0xFFFF] == n)
            continue; /* one digit value throughout: this pass would change nothing */
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xFFFF]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof(uint64_t));
    free(tmp);
    free(count);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

const uint64_t *sim_metrics_sorted(sim_metrics_t *m, dyn_op_kind_t kind, size_t *count)
{
    DYN_ASSERT(kind < DYN_OP_KIND_COUNT_);
    lat_array_t *a = &m->lat[kind];
    if (!a->sorted && a->count > 0) {
        if (radix_sort(a->v, a->count) != 0)
            qsort(a->v, a->count, sizeof(uint64_t), cmp_u64);
        a->sorted = 1;
    }
    *count = a->count;
    return a->v;
}

uint64_t sim_metrics_percentile(sim_metrics_t *m, dyn_op_kind_t kind, double p)
{
    size_t n;
    const uint64_t *v = sim_metrics_sorted(m, kind, &n);
    if (n == 0)
        return 0;
    /* Nearest rank: ceil(p/100 * n), computed in integers to avoid 99.9 % rounding surprises. */
    uint64_t permille = (uint64_t)(p * 1000.0 + 0.5);
    size_t rank = (size_t)((permille * n + 99999) / 100000);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

void sim_metrics_summary(sim_metrics_t *m, dyn_op_kind_t kind, sim_op_summary_t *out)
{
    DYN_ASSERT(kind < DYN_OP_KIND_COUNT_);
    memset(out, 0, sizeof(*out));
    out->count = m->completed[kind];
    out->ok = m->ok[kind];
    out->not_found = m->not_found[kind];
    out->failed = out->count - out->ok;
    out->timeouts = m->timeouts[kind];
    size_t n;
    const uint64_t *v = sim_metrics_sorted(m, kind, &n);
    if (n == 0)
        return;
    out->mean_us = m->latency_sum[kind] / (double)n;
    out->p50_us = sim_metrics_percentile(m, kind, 50);
    out->p90_us = sim_metrics_percentile(m, kind, 90);
    out->p99_us = sim_metrics_percentile(m, kind, 99);
    out->p999_us = sim_metrics_percentile(m, kind, 99.9);
    out->max_us = v[n - 1];
}

const sim_op_record_t *sim_metrics_history(const sim_metrics_t *m, size_t *count)
{
    *count = m->count;
    return m->history;
}

uint64_t sim_metrics_total(const sim_metrics_t *m) { return m->total; }

void sim_metrics_siblings(const sim_metrics_t *m, sim_sibling_dist_t *out)
{
    memset(out, 0, sizeof(*out));
    double sum = 0;
    for (size_t i = 0; i < m->count; i++) {
        const sim_op_record_t *r = &m->history[i];
        if (r->kind != DYN_OP_GET || !record_ok(r))
            continue;
        out->gets++;
        out->bins[r->siblings < SIM_SIBLING_BINS - 1 ? r->siblings : SIM_SIBLING_BINS - 1]++;
        if (r->siblings > out->max)
            out->max = r->siblings;
        sum += r->siblings;
    }
    out->mean = out->gets ? sum / (double)out->gets : 0.0;
}

int sim_metrics_availability(const sim_metrics_t *m, dyn_time_us bin_us, sim_avail_t *out)
{
    memset(out, 0, sizeof(*out));
    if (bin_us == 0)
        return -1;
    out->bin_us = bin_us;
    if (m->count == 0)
        return 0;
    dyn_time_us last = 0;
    for (size_t i = 0; i < m->count; i++)
        if (m->history[i].start_us > last)
            last = m->history[i].start_us;
    out->bin_count = (size_t)(last / bin_us) + 1;
    out->bin_ops = calloc(out->bin_count, sizeof(uint64_t));
    out->bin_ok = calloc(out->bin_count, sizeof(uint64_t));
    if (!out->bin_ops || !out->bin_ok) {
        sim_avail_free(out);
        return -1;
    }
    for (size_t i = 0; i < m->count; i++) {
        size_t b = (size_t)(m->history[i].start_us / bin_us);
        int ok = record_ok(&m->history[i]);
        out->bin_ops[b]++;
        out->bin_ok[b] += (uint64_t)ok;
        out->ops++;
        out->ok += (uint64_t)ok;
    }
    /* Compare fractions exactly by cross-multiplying; a history is far below 2^32 records, so the
     * products fit. */
    DYN_ASSERT(m->count < ((size_t)1 << 32));
    int found = 0;
    for (size_t b = 0; b < out->bin_count; b++) {
        if (out->bin_ops[b] == 0)
            continue;
        if (!found || out->bin_ok[b] * out->bin_ops[out->worst] <
                          out->bin_ok[out->worst] * out->bin_ops[b])
            out->worst = b;
        found = 1;
    }
    return 0;
}

void sim_avail_free(sim_avail_t *a)
{
    free(a->bin_ops);
    free(a->bin_ok);
    a->bin_ops = a->bin_ok = NULL;
    a->bin_count = 0;
}

void sim_metrics_staleness(const sim_metrics_t *m, uint64_t *checked, uint64_t *stale)
{
    *checked = *stale = 0;
    for (size_t i = 0; i < m->count; i++) {
        uint8_t f = m->history[i].freshness;
        *checked += f != SIM_FRESHNESS_UNCHECKED;
        *stale += f == SIM_FRESHNESS_STALE;
    }
}
