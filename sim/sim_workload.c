/*
 * sim_workload.c: arrivals, key and operation choice, and the per-key context cache.
 *
 * Zipf keys use GSL's Walker alias table over p(k) ~ 1/k^s, built once: O(1) per draw. Key rank
 * k is written as "k<rank>", so the hottest keys are k0, k1, ...; the ring hash scatters them.
 */
#include "sim/sim_workload.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/codec.h"
#include "core/status.h"
#include "core/vclock.h"

/*
 * A key's context, kept inline when it fits (a clock of a few actors always does): one cache line
 * per key, so reading a context is one miss, not one for the entry and one for its bytes.
 */
#define CTX_INLINE_BYTES 53u
typedef struct ctx_entry {
    uint8_t *heap;      /* the context when longer than CTX_INLINE_BYTES, else NULL */
    uint16_t length;    /* 0: none yet */
    uint8_t written;
    uint8_t inline_bytes[CTX_INLINE_BYTES];
} ctx_entry_t;
DYN_STATIC_ASSERT(sizeof(ctx_entry_t) == 64, "a context entry is one cache line");

static const uint8_t *ctx_bytes(const ctx_entry_t *e)
{
    return e->heap ? e->heap : e->inline_bytes;
}

/*
 * The last few writes acknowledged per key, for judging reads fresh or stale: a read is judged
 * against the latest of them acknowledged before it started. Acks arrive roughly in time order,
 * so a few suffice; a read older than all of them is left unchecked.
 */
#define ACKS_KEPT 4
typedef struct ack_ring {
    dyn_vclock_entry_t dot[ACKS_KEPT];
    dyn_time_us acked_us[ACKS_KEPT];
    uint8_t next, count;
} ack_ring_t;

typedef struct wl_client {
    sim_workload_t *wl;
    dyn_client_t *client;
} wl_client_t;

typedef struct op_arg {
    sim_workload_t *wl;
    uint64_t key_index;
    uint64_t value_hash;   /* a put's value, for the honest-outcome checker; 0 when not logged */
    uint32_t client;
} op_arg_t;

/*
 * One cell of Walker's alias table for the Zipf key distribution, built by GSL's
 * gsl_ran_discrete_preproc and copied here with each cell's cutoff next to its alias. GSL keeps
 * them in two arrays, and a draw picks a uniformly random cell, so with 100,000 keys a draw was
 * two cache misses (one per array); here it is one. zipf_sample() makes exactly the decisions
 * gsl_ran_discrete makes, so the keys drawn are the same.
 */
typedef struct zipf_cell {
    double cutoff; /* GSL's F[c]: 1.0 for a cell with no alias, else compared with the draw */
    uint64_t alias; /* GSL's A[c] */
} zipf_cell_t;

struct sim_workload {
    sim_world_t *world;
    sim_workload_config_t config;
    gsl_rng *rng;
    zipf_cell_t *zipf;    /* keys cells, or NULL when keys are uniform */
    gsl_rng *ahead;       /* scratch copy of rng for zipf_prefetch_next; NULL when uniform */
    wl_client_t *clients;
    ctx_entry_t *contexts;
    ack_ring_t *acks;     /* per key, only while the checker logs (benchmarks do not pay) */
    uint8_t *value;
    uint32_t value_capacity;
    uint64_t issued, completed, rejected, keys_written;
    uint32_t next_client;
    /*
     * One argument per request in flight. Clients bound their pending requests, so the total in
     * flight is bounded too and the array is allocated once: callbacks hold pointers into it.
     */
    op_arg_t *args;
    uint32_t *free_args;
    uint32_t free_count, args_count;
    sim_workload_done_fn done_fn;
    void *done_arg;
    int done_called;
};

void sim_workload_config_default(sim_workload_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->ops = 10000;
    c->clients = 8;
    c->concurrency = 1;
    c->keys = 1000;
    c->key_dist = SIM_KEYS_UNIFORM;
    c->zipf_s = 0.99;
    c->read_fraction = 0.5;
    c->value_size = 100;
    c->timeout_us = 1000000;
}

static void issue(sim_world_t *w, void *arg, uint64_t a);

static int validate(const sim_workload_config_t *c, char *err, size_t err_size)
{
    if (c->clients < 1 || c->clients > 100000)
        snprintf(err, err_size, "clients must be 1..100000, got %u", c->clients);
    else if (c->keys < 1 || c->keys > 100000000)
        snprintf(err, err_size, "keys must be 1..100000000, got %llu",
                 (unsigned long long)c->keys);
    else if (!(c->read_fraction >= 0 && c->read_fraction <= 1))
        snprintf(err, err_size, "read_fraction must be in [0, 1], got %g", c->read_fraction);
    else if (!(c->delete_fraction >= 0 && c->delete_fraction <= 1))
        snprintf(err, err_size, "delete_fraction must be in [0, 1], got %g",
                 c->delete_fraction);
    else if (c->key_dist == SIM_KEYS_ZIPF && !(c->zipf_s > 0 && c->zipf_s < 10))
        snprintf(err, err_size, "zipf exponent must be in (0, 10), got %g", c->zipf_s);
    else if (c->value_size > DYN_VALUE_MAX)
        snprintf(err, err_size, "value_size %u is over the %u-byte value limit", c->value_size,
                 DYN_VALUE_MAX);
    else if (!(c->rate_per_s >= 0) || (c->rate_per_s == 0 && c->concurrency < 1))
        snprintf(err, err_size, "give a rate > 0 (open loop) or a concurrency >= 1");
    else if (c->concurrency > 1024)
        snprintf(err, err_size, "concurrency must be at most 1024 per client, got %u",
                 c->concurrency);
    else if (c->timeout_us == 0)
        snprintf(err, err_size, "timeout must be > 0");
    else
        return 0;
    return -1;
}

sim_workload_t *sim_workload_start(sim_world_t *w, const sim_workload_config_t *config,
                                   char *err, size_t err_size)
{
    if (validate(config, err, err_size) != 0)
        return NULL;
    if (sim_world_node_count(w) == 0) {
        snprintf(err, err_size, "create the cluster before its workload");
        return NULL;
    }
    sim_workload_t *wl = calloc(1, sizeof(*wl));
    if (!wl)
        goto oom;
    wl->world = w;
    wl->config = *config;
    wl->rng = sim_world_stream(w, SIM_STREAM_WORKLOAD);
    wl->clients = calloc(config->clients, sizeof(wl_client_t));
    wl->contexts = aligned_alloc(64, config->keys * sizeof(ctx_entry_t));
    if (wl->contexts)
        memset(wl->contexts, 0, config->keys * sizeof(ctx_entry_t));
    if (sim_checker_enabled(sim_world_checker(w)))
        wl->acks = calloc(config->keys, sizeof(ack_ring_t));
    if (config->value_dist_set) {
        if (sim_dist_copy(&wl->config.value_dist, &config->value_dist) != 0) {
            wl->config.value_dist_set = 0;
            goto oom;
        }
        wl->value_capacity = (uint32_t)(config->value_dist.max < DYN_VALUE_MAX
                                            ? config->value_dist.max : DYN_VALUE_MAX);
    } else {
        wl->value_capacity = config->value_size;
    }
    wl->value = malloc((size_t)wl->value_capacity + 8);
    if (!wl->clients || !wl->contexts || !wl->value ||
        (!wl->acks && sim_checker_enabled(sim_world_checker(w))))
        goto oom;
    for (uint32_t i = 0; i < wl->value_capacity + 8; i++)
        wl->value[i] = (uint8_t)('a' + gsl_rng_uniform_int(wl->rng, 26));
    if (config->key_dist == SIM_KEYS_ZIPF) {
        double *p = malloc(config->keys * sizeof(double));
        if (!p)
            goto oom;
        for (uint64_t k = 0; k < config->keys; k++)
            p[k] = 1.0 / pow((double)(k + 1), config->zipf_s);
        gsl_ran_discrete_t *table = gsl_ran_discrete_preproc(config->keys, p);
        free(p);
        if (!table)
            goto oom;
        wl->zipf = malloc(config->keys * sizeof(zipf_cell_t));
        if (wl->zipf) {
            DYN_ASSERT(table->K == config->keys);
            for (uint64_t k = 0; k < config->keys; k++)
                wl->zipf[k] = (zipf_cell_t){.cutoff = table->F[k], .alias = table->A[k]};
        }
        gsl_ran_discrete_free(table);
        wl->ahead = gsl_rng_clone(wl->rng);
        if (!wl->zipf || !wl->ahead)
            goto oom;
    }
    uint32_t per_client = config->rate_per_s > 0 ? 256 : config->concurrency;
    wl->args_count = config->clients * per_client + 1;
    wl->args = calloc(wl->args_count, sizeof(op_arg_t));
    wl->free_args = malloc(wl->args_count * sizeof(uint32_t));
    if (!wl->args || !wl->free_args)
        goto oom;
    for (uint32_t i = 0; i < wl->args_count; i++)
        wl->free_args[wl->free_count++] = wl->args_count - 1 - i;
    for (uint32_t i = 0; i < config->clients; i++) {
        dyn_client_config_t cc = {
            .timeout_us = config->timeout_us, .retries = config->retries,
            .pending_max = per_client,
        };
        if (config->owner_coordinates) {
            cc.ring = sim_world_ring(w);
            cc.ring_n = sim_world_cluster_config(w)->node.n;
        }
        wl->clients[i].wl = wl;
        if (!sim_world_add_client(w, &cc, &wl->clients[i].client)) {
            snprintf(err, err_size, "could not create client %u", i);
            sim_workload_destroy(wl);
            return NULL;
        }
    }
    dyn_time_us start = config->start_us > sim_world_now(w) ? config->start_us : sim_world_now(w);
    if (config->ops == 0) {
        wl->done_called = 0;
    } else if (config->rate_per_s > 0) {
        sim_world_at(w, start, issue, wl, 0);
    } else {
        /* Closed loop: each client starts `concurrency` chains of back-to-back requests. */
        uint64_t chains = (uint64_t)config->clients * config->concurrency;
        for (uint64_t c = 0; c < chains && c < config->ops; c++)
            sim_world_at(w, start, issue, wl, 1 + (c % config->clients));
    }
    return wl;
oom:
    snprintf(err, err_size, "out of memory building the workload");
    sim_workload_destroy(wl);
    return NULL;
}

void sim_workload_destroy(sim_workload_t *wl)
{
    if (!wl)
        return;
    if (wl->contexts)
        for (uint64_t k = 0; k < wl->config.keys; k++)
            free(wl->contexts[k].heap);
    free(wl->contexts);
    free(wl->acks);
    free(wl->clients);
    free(wl->value);
    if (wl->config.value_dist_set)
        sim_dist_free(&wl->config.value_dist);
    free(wl->args);
    free(wl->free_args);
    free(wl->zipf);
    if (wl->ahead)
        gsl_rng_free(wl->ahead);
    free(wl);
}

static void check_done(sim_workload_t *wl)
{
    if (!wl->done_called && wl->done_fn && sim_workload_done(wl)) {
        wl->done_called = 1;
        wl->done_fn(wl, wl->done_arg);
    }
}

void sim_workload_on_done(sim_workload_t *wl, sim_workload_done_fn fn, void *arg)
{
    wl->done_fn = fn;
    wl->done_arg = arg;
    wl->done_called = 0;
    check_done(wl);
}

int sim_workload_done(const sim_workload_t *wl)
{
    return wl->issued >= wl->config.ops && wl->completed + wl->rejected >= wl->issued;
}

uint64_t sim_workload_issued(const sim_workload_t *wl) { return wl->issued; }
uint64_t sim_workload_completed(const sim_workload_t *wl) { return wl->completed; }
uint64_t sim_workload_rejected(const sim_workload_t *wl) { return wl->rejected; }
uint64_t sim_workload_keys_written(const sim_workload_t *wl) { return wl->keys_written; }

static op_arg_t *arg_alloc(sim_workload_t *wl)
{
    DYN_ASSERT(wl->free_count > 0);
    return &wl->args[wl->free_args[--wl->free_count]];
}

static void on_complete(void *arg, const dyn_client_result_t *res);

/* "k<index>" without sprintf, which costs more than the rest of issuing a request. */
static size_t key_name(uint64_t index, char *buf)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + index % 10);
        index /= 10;
    } while (index);
    buf[0] = 'k';
    for (size_t i = 0; i < n; i++)
        buf[1 + i] = digits[n - 1 - i];
    return n + 1;
}

/* a == 0: open-loop arrival; a == c + 1: closed-loop chain of client c. */
/*
 * gsl_ran_discrete over the copied table: GSL (randist/discrete.c, built with its
 * KNUTH_CONVENTION, where F already holds (c + cutoff) / K) picks the cell from the same uniform
 * draw it then compares with the cutoff, and so does this.
 */
static uint64_t zipf_sample(sim_workload_t *wl)
{
    double u = gsl_rng_uniform(wl->rng);
    size_t c = (size_t)(u * (double)wl->config.keys);
    const zipf_cell_t *cell = &wl->zipf[c];
    if (cell->cutoff == 1.0 || u < cell->cutoff)
        return c;
    return cell->alias;
}

/*
 * The key of a draw whose uniform is u; the same decisions as zipf_sample(). Reads the cell.
 */
static uint64_t zipf_key_of(const sim_workload_t *wl, double u)
{
    size_t c = (size_t)(u * (double)wl->config.keys);
    const zipf_cell_t *cell = &wl->zipf[c];
    return cell->cutoff == 1.0 || u < cell->cutoff ? c : cell->alias;
}

/*
 * Each operation's draw reads a random cell of a 1.6 MB table, and then its key's context, two
 * cache misses. The next operations' draws are known now: they are the workload stream's next
 * uniforms. Replay them on a scratch copy of the stream (the real one is untouched): the next
 * operation's cell was fetched one operation ago, so read it and fetch that key's context; then
 * replay that operation's other draws and fetch the cell of the one after. Right unless something
 * else draws from the stream first; either way only hints. The replay follows issue(): an
 * open-loop arrival draws its successor's gap, then its key, then read or write, and a write
 * whether it deletes; a sized value's draws are not replayed.
 */
static void zipf_prefetch_next(sim_workload_t *wl, int open_loop)
{
#if defined(__GNUC__)
    const sim_workload_config_t *c = &wl->config;
    gsl_rng *r = wl->ahead;
    if (gsl_rng_memcpy(r, wl->rng) != 0)
        return;
    if (open_loop)
        (void)gsl_rng_uniform(r);
    __builtin_prefetch(&wl->contexts[zipf_key_of(wl, gsl_rng_uniform(r))]);
    if (gsl_rng_uniform(r) >= c->read_fraction) {
        (void)gsl_rng_uniform(r);
        if (c->value_dist_set)
            return;
    }
    if (open_loop)
        (void)gsl_rng_uniform(r);
    __builtin_prefetch(&wl->zipf[(size_t)(gsl_rng_uniform(r) * (double)c->keys)]);
#else
    (void)wl, (void)open_loop;
#endif
}

static void issue(sim_world_t *w, void *arg, uint64_t a)
{
    sim_workload_t *wl = arg;
    const sim_workload_config_t *c = &wl->config;
    if (wl->issued >= c->ops)
        return;
    uint32_t ci;
    if (a == 0) {
        ci = wl->next_client;
        wl->next_client = (wl->next_client + 1) % c->clients;
        double gap_s = gsl_ran_exponential(wl->rng, 1.0 / c->rate_per_s);
        if (wl->issued + 1 < c->ops)
            sim_world_at(w, sim_world_now(w) + (dyn_time_us)(gap_s * 1e6), issue, wl, 0);
    } else {
        ci = (uint32_t)(a - 1);
    }
    uint64_t key = c->key_dist == SIM_KEYS_ZIPF ? zipf_sample(wl)
                                                : gsl_rng_uniform_int(wl->rng, c->keys);
    char key_buf[32];
    size_t key_length = key_name(key, key_buf);
    dyn_client_request_t req = {.key = (const uint8_t *)key_buf, .key_length = key_length};
    double u = gsl_rng_uniform(wl->rng);
    if (u < c->read_fraction) {
        req.kind = DYN_OP_GET;
    } else {
        req.kind = gsl_rng_uniform(wl->rng) < c->delete_fraction ? DYN_OP_DELETE : DYN_OP_PUT;
        if (req.kind == DYN_OP_PUT) {
            /* Vary the first bytes so successive values of a key differ. */
            memcpy(wl->value, &wl->issued, sizeof(wl->issued));
            req.value = wl->value;
            req.value_length = c->value_size;
            if (c->value_dist_set) {
                double size = sim_dist_sample(&c->value_dist, wl->rng);
                req.value_length = size < wl->value_capacity ? (uint32_t)size : wl->value_capacity;
            }
        }
        if (!c->blind_puts && wl->contexts[key].length) {
            req.context = ctx_bytes(&wl->contexts[key]);
            req.context_length = wl->contexts[key].length;
        }
    }
    op_arg_t *oa = arg_alloc(wl);
    oa->wl = wl;
    oa->key_index = key;
    oa->client = ci;
    /* Values shorter than the operation counter in their first bytes are not unique: unlogged. */
    oa->value_hash = req.kind == DYN_OP_PUT && req.value_length >= sizeof(wl->issued) &&
                             sim_checker_enabled(sim_world_checker(w))
                         ? XXH3_64bits(req.value, req.value_length)
                         : 0;
    wl->issued++;
    if (wl->zipf)
        zipf_prefetch_next(wl, c->rate_per_s > 0);
    int rc = dyn_client_submit(wl->clients[ci].client, sim_world_now(w), &req, on_complete, oa,
                               NULL);
    if (rc != DYN_OK) {
        wl->rejected++;
        wl->free_args[wl->free_count++] = (uint32_t)(oa - wl->args);
        if (a != 0)   /* keep the chain alive */
            sim_world_at(w, sim_world_now(w) + 1000, issue, wl, a);
        check_done(wl);
    }
}

/*
 * The workload is one application sharing what it has been shown, so a key's context is the join
 * of every context its replies carried. Replacing it with the latest reply would forget siblings a
 * get had returned as soon as a put reply (which covers only its own write) came back, and the
 * next put would leave them standing. Contexts claim only seen writes, so their join does too.
 */
static void remember_context(sim_workload_t *wl, uint64_t key, const dyn_client_result_t *res)
{
    ctx_entry_t *e = &wl->contexts[key];
    if (!res->context_clock)
        return;
    dyn_vclock_t joined, seen;
    dyn_vclock_copy(&joined, res->context_clock);
    if (e->length && dyn_codec_decode_vclock(ctx_bytes(e), e->length, &seen) == DYN_OK)
        (void)dyn_vclock_merge(&joined, &seen, DYN_VCLOCK_MAX);
    uint8_t buf[DYN_VCLOCK_MAX * 40 + 8];
    int length = dyn_codec_encode_vclock(&joined, buf, sizeof(buf));
    DYN_ASSERT(length > 0 && length <= UINT16_MAX);
    if ((size_t)length <= CTX_INLINE_BYTES) {
        free(e->heap);
        e->heap = NULL;
        memcpy(e->inline_bytes, buf, (size_t)length);
    } else {
        if (!e->heap || e->length != (uint16_t)length) {
            uint8_t *bytes = realloc(e->heap, (size_t)length);
            if (!bytes)
                return; /* keep the context it had */
            e->heap = bytes;
        }
        memcpy(e->heap, buf, (size_t)length);
    }
    e->length = (uint16_t)length;
}

static void remember_ack(ack_ring_t *r, const dyn_vclock_entry_t *dot, dyn_time_us acked_us)
{
    r->dot[r->next] = *dot;
    r->acked_us[r->next] = acked_us;
    r->next = (uint8_t)((r->next + 1) % ACKS_KEPT);
    if (r->count < ACKS_KEPT)
        r->count++;
}

/* Did this answer see the write named by dot: in its context, as a sibling, or in a sibling's past? */
static int answer_saw(const dyn_client_result_t *res, const dyn_vclock_entry_t *d)
{
    if (res->context_clock && dyn_vclock_covers(res->context_clock, d->node, d->epoch, d->counter))
        return 1;
    for (uint32_t i = 0; res->siblings && i < res->siblings->count; i++) {
        const dyn_version_t *v = &res->siblings->items[i];
        if ((v->dot.node == d->node && v->dot.epoch == d->epoch && v->dot.counter == d->counter) ||
            dyn_vclock_covers(&v->clock, d->node, d->epoch, d->counter))
            return 1;
    }
    return 0;
}

static uint8_t judge_read(const ack_ring_t *r, const dyn_client_result_t *res)
{
    int best = -1;
    for (int i = 0; i < r->count; i++)
        if (r->acked_us[i] < res->start_us && (best < 0 || r->acked_us[i] > r->acked_us[best]))
            best = i;
    if (best < 0)
        return SIM_FRESHNESS_UNCHECKED;
    return answer_saw(res, &r->dot[best]) ? SIM_FRESHNESS_FRESH : SIM_FRESHNESS_STALE;
}

static void on_complete(void *arg, const dyn_client_result_t *res)
{
    op_arg_t *oa = arg;
    sim_workload_t *wl = oa->wl;
    sim_world_t *w = wl->world;
    uint64_t key = oa->key_index;
    uint64_t value_hash = oa->value_hash;
    uint32_t client = oa->client;
    wl->free_args[wl->free_count++] = (uint32_t)(oa - wl->args);
    wl->completed++;
    sim_op_record_t rec = {
        .start_us = res->start_us, .end_us = res->end_us, .status = res->status,
        .coordinator = res->coordinator, .kind = (uint8_t)res->kind,
        .attempts = (uint8_t)(res->attempts > 255 ? 255 : res->attempts),
        .siblings = (uint16_t)(res->siblings ? res->siblings->count : 0),
    };
    if (wl->acks && res->kind == DYN_OP_GET &&
        (res->status == DYN_OK || res->status == DYN_ENOTFOUND))
        rec.freshness = judge_read(&wl->acks[key], res);
    else if (wl->acks && res->status == DYN_OK && res->written)
        remember_ack(&wl->acks[key], res->written, res->end_us);
    sim_metrics_record(sim_world_metrics(w), &rec);
    if (res->status == DYN_OK || res->status == DYN_ENOTFOUND)
        remember_context(wl, key, res);
    sim_checker_t *checker = sim_world_checker(w);
    if (sim_checker_enabled(checker)) { /* benchmarks log nothing and skip naming the key */
        char key_buf[32];
        const uint8_t *k = (const uint8_t *)key_buf;
        size_t key_length = key_name(key, key_buf);
        if (res->status == DYN_OK && res->written)
            sim_checker_ack(checker, k, key_length, res->written, res->kind, res->end_us);
        else if (res->kind == DYN_OP_PUT && res->status != DYN_OK && value_hash)
            sim_checker_failed(checker, k, key_length, value_hash, res->status, res->end_us);
        else if (res->kind == DYN_OP_GET && res->status == DYN_OK)
            sim_checker_observed(checker, k, key_length, res->siblings, res->end_us);
    }
    if (res->status == DYN_OK && res->kind == DYN_OP_PUT && !wl->contexts[key].written) {
        wl->contexts[key].written = 1;
        wl->keys_written++;
    }
    /* Closed loop: the client that finished issues its next request at once. */
    if (wl->config.rate_per_s == 0 && wl->issued < wl->config.ops)
        sim_world_at(w, sim_world_now(w), issue, wl, (uint64_t)client + 1);
    check_done(wl);
}
