/*
 * test_sim.c: the simulator's kernel pieces on their own: the event queue's (time, sequence)
 * order across heap and lanes with cancellation, exact nearest-rank percentiles, and the latency
 * distributions' means.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <xxhash.h>

#include "core/prng.h"
#include "core/status.h"
#include "sim/sim_disk.h"
#include "sim/sim_dist.h"
#include "sim/sim_metrics.h"
#include "sim/sim_net.h"
#include "sim/sim_queue.h"
#include "sim/sim_world.h"

/* Events pushed at random times into the heap and into lanes pop in (time, push order). */
static void test_queue_total_order(void **state)
{
    (void)state;
    sim_queue_t *q = sim_queue_create();
    dyn_prng_t rng;
    dyn_prng_seed(&rng, 11);
    enum { N = 20000 };
    uint64_t *handles = calloc(N, sizeof(uint64_t));
    int *cancelled = calloc(N, sizeof(int));
    dyn_time_us lane_tail[3] = {0, 0, 0};
    for (uint32_t i = 0; i < N; i++) {
        sim_event_t ev = {.time = dyn_prng_below(&rng, 1000), .a = i};
        uint32_t lane = (uint32_t)dyn_prng_below(&rng, 4);
        if (lane < 3) {
            /* A lane takes nondecreasing times only. */
            ev.time = lane_tail[lane] += dyn_prng_below(&rng, 3);
            handles[i] = sim_queue_push_lane(q, &ev, 100 + lane);
        } else {
            handles[i] = sim_queue_push(q, &ev);
        }
        assert_true(handles[i] != 0);
    }
    for (uint32_t i = 0; i < N; i += 7) {
        sim_queue_cancel(q, handles[i]);
        cancelled[i] = 1;
    }
    sim_event_t ev, prev = {0};
    size_t popped = 0, expected = 0;
    for (uint32_t i = 0; i < N; i++)
        expected += !cancelled[i];
    while (sim_queue_pop(q, DYN_TIME_NEVER, &ev, NULL) == 1) {
        assert_false(cancelled[ev.a]);
        if (popped > 0) {
            assert_true(ev.time >= prev.time);
            if (ev.time == prev.time)
                assert_true(ev.a > prev.a); /* ties in push order, across heap and lanes */
        }
        prev = ev;
        popped++;
    }
    assert_int_equal(popped, expected);
    assert_int_equal(sim_queue_size(q), 0);
    /* The limit: nothing later than it is popped, and nothing is lost by asking. */
    sim_event_t e5 = {.time = 5}, e9 = {.time = 9};
    sim_queue_push(q, &e9);
    sim_queue_push_lane(q, &e5, 42);
    assert_int_equal(sim_queue_pop(q, 4, &ev, NULL), -1);
    assert_int_equal(sim_queue_pop(q, 5, &ev, NULL), 1);
    assert_int_equal(ev.time, 5);
    assert_int_equal(sim_queue_pop(q, 8, &ev, NULL), -1);
    assert_int_equal(sim_queue_pop(q, 9, &ev, NULL), 1);
    assert_int_equal(sim_queue_pop(q, DYN_TIME_NEVER, &ev, NULL), 0);
    /* A handle of an event already popped cancels nothing and does not crash. */
    sim_queue_cancel(q, handles[1]);
    free(handles);
    free(cancelled);
    sim_queue_destroy(q);
}

/*
 * Pushes and pops interleaved, with the wheel and the heap growing and shrinking (the heap through
 * every depth and every count of children at its last level): each pop is the earliest live event
 * by (time, push order), found by a linear scan of what is pending. `spread` is how far ahead of
 * the last pop events are pushed: within the wheel's window, across its end, or mostly beyond it;
 * with `past`, one push in 16 is earlier than the last pop, which only the heap takes. One push in
 * four goes to one of three lanes (in nondecreasing time per lane), and now and then a pending
 * event is cancelled.
 */
static void queue_interleaved(uint64_t seed, uint64_t spread, int past)
{
    sim_queue_t *q = sim_queue_create();
    dyn_prng_t rng;
    dyn_prng_seed(&rng, seed);
    enum { ROUNDS = 40000, LIVE_MAX = 600 };
    sim_event_t *live = calloc(LIVE_MAX, sizeof(*live));
    uint64_t *handles = calloc(LIVE_MAX, sizeof(*handles));
    size_t live_count = 0;
    dyn_time_us now = 0, lane_tail[3] = {0, 0, 0};
    uint64_t next_a = 0;
    for (uint32_t round = 0; round < ROUNDS; round++) {
        /* Drift between filling and draining so the size sweeps up and down. */
        uint64_t push_odds = (round / 3000) % 2 ? 3 : 7;
        if (live_count < LIVE_MAX && (live_count == 0 || dyn_prng_below(&rng, 10) < push_odds)) {
            /* Few distinct times, so ties are common. */
            sim_event_t ev = {.time = now + dyn_prng_below(&rng, spread), .a = next_a++};
            uint64_t handle;
            if (dyn_prng_below(&rng, 4) == 0) {
                uint32_t lane = (uint32_t)dyn_prng_below(&rng, 3);
                if (lane_tail[lane] < now)
                    lane_tail[lane] = now;
                ev.time = lane_tail[lane] += dyn_prng_below(&rng, spread / 8 + 1);
                handle = sim_queue_push_lane(q, &ev, 100 + lane);
            } else {
                if (past && now > 0 && dyn_prng_below(&rng, 16) == 0)
                    ev.time = now - 1 - dyn_prng_below(&rng, now < 100 ? now : 100);
                handle = sim_queue_push(q, &ev);
            }
            assert_true(handle != 0);
            handles[live_count] = handle;
            live[live_count++] = ev;
            continue;
        }
        if (live_count > 0 && dyn_prng_below(&rng, 8) == 0) {
            size_t victim = (size_t)dyn_prng_below(&rng, live_count);
            sim_queue_cancel(q, handles[victim]);
            live_count--;
            live[victim] = live[live_count];
            handles[victim] = handles[live_count];
            continue;
        }
        if (live_count == 0)
            continue;
        size_t best = 0;
        for (size_t i = 1; i < live_count; i++)
            if (live[i].time < live[best].time ||
                (live[i].time == live[best].time && live[i].a < live[best].a))
                best = i;
        sim_event_t ev;
        assert_int_equal(sim_queue_pop(q, DYN_TIME_NEVER, &ev, NULL), 1);
        assert_true(ev.time == live[best].time && ev.a == live[best].a);
        now = ev.time;
        live_count--;
        live[best] = live[live_count];
        handles[best] = handles[live_count];
    }
    free(live);
    free(handles);
    sim_queue_destroy(q);
}

static void test_queue_interleaved(void **state)
{
    (void)state;
    queue_interleaved(12, 50, 0);      /* the wheel alone */
    queue_interleaved(13, 6000, 0);    /* across the end of the wheel's window */
    queue_interleaved(14, 200000, 0);  /* mostly the heap */
    queue_interleaved(15, 6000, 1);    /* and some pushes before the last pop */
}

static void record(sim_metrics_t *m, dyn_op_kind_t kind, int status, uint64_t latency)
{
    sim_op_record_t r = {.start_us = 1000, .end_us = 1000 + latency, .status = status,
                         .kind = (uint8_t)kind};
    assert_int_equal(sim_metrics_record(m, &r), 0);
}

/* Nearest rank: p is the smallest sample with at least p % of samples at or below it. */
static void test_percentiles_exact(void **state)
{
    (void)state;
    sim_metrics_t *m = sim_metrics_create();
    /* 1..1000 in a scrambled order, plus failures that must not count in latency. */
    for (uint64_t i = 0; i < 1000; i++)
        record(m, DYN_OP_GET, DYN_OK, (i * 7919) % 1000 + 1);
    record(m, DYN_OP_GET, DYN_ETIMEDOUT, 999999);
    record(m, DYN_OP_GET, DYN_ENOTFOUND, 1); /* a successful read that found nothing */
    assert_int_equal(sim_metrics_percentile(m, DYN_OP_GET, 50), 500);
    assert_int_equal(sim_metrics_percentile(m, DYN_OP_GET, 99), 990);
    assert_int_equal(sim_metrics_percentile(m, DYN_OP_GET, 99.9), 999);
    assert_int_equal(sim_metrics_percentile(m, DYN_OP_GET, 100), 1000);
    sim_op_summary_t s;
    sim_metrics_summary(m, DYN_OP_GET, &s);
    assert_int_equal(s.count, 1002);
    assert_int_equal(s.ok, 1001);
    assert_int_equal(s.not_found, 1);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.timeouts, 1);
    assert_int_equal(s.max_us, 1000);
    /* Large latencies sort right too (the sort works 16 bits at a time). */
    record(m, DYN_OP_PUT, DYN_OK, (uint64_t)1 << 40);
    record(m, DYN_OP_PUT, DYN_OK, 3);
    record(m, DYN_OP_PUT, DYN_OK, ((uint64_t)1 << 40) - 1);
    assert_int_equal(sim_metrics_percentile(m, DYN_OP_PUT, 1), 3);
    assert_int_equal(sim_metrics_percentile(m, DYN_OP_PUT, 60), ((uint64_t)1 << 40) - 1);
    assert_int_equal(sim_metrics_percentile(m, DYN_OP_PUT, 100), (uint64_t)1 << 40);
    sim_metrics_summary(m, DYN_OP_DELETE, &s);
    assert_int_equal(s.count, 0);
    assert_int_equal(s.p99_us, 0);
    sim_metrics_destroy(m);
}

static void record_at(sim_metrics_t *m, dyn_op_kind_t kind, int status, dyn_time_us start,
                      uint16_t siblings)
{
    sim_op_record_t r = {.start_us = start, .end_us = start + 10, .status = status,
                         .kind = (uint8_t)kind, .siblings = siblings};
    assert_int_equal(sim_metrics_record(m, &r), 0);
}

/* Sibling counts of successful gets only; the last bin collects the rest. */
static void test_sibling_distribution(void **state)
{
    (void)state;
    sim_metrics_t *m = sim_metrics_create();
    sim_sibling_dist_t d;
    sim_metrics_siblings(m, &d);
    assert_int_equal(d.gets, 0);
    assert_true(d.mean == 0.0);
    const uint16_t counts[] = {0, 1, 1, 2, 3, 4, 9};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        record_at(m, DYN_OP_GET, counts[i] ? DYN_OK : DYN_ENOTFOUND, 0, counts[i]);
    record_at(m, DYN_OP_GET, DYN_ETIMEDOUT, 0, 50); /* a failed get saw nothing */
    record_at(m, DYN_OP_PUT, DYN_OK, 0, 7);         /* not a get */
    sim_metrics_siblings(m, &d);
    assert_int_equal(d.gets, 7);
    assert_int_equal(d.bins[0], 1);
    assert_int_equal(d.bins[1], 2);
    assert_int_equal(d.bins[2], 1);
    assert_int_equal(d.bins[3], 1);
    assert_int_equal(d.bins[SIM_SIBLING_BINS - 1], 2);
    assert_int_equal(d.max, 9);
    assert_true(fabs(d.mean - 20.0 / 7.0) < 1e-12);
    sim_metrics_destroy(m);
}

/* Availability per bin by start time, and the worst bin found exactly. */
static void test_availability_bins(void **state)
{
    (void)state;
    sim_metrics_t *m = sim_metrics_create();
    sim_avail_t a;
    assert_int_equal(sim_metrics_availability(m, 0, &a), -1);
    assert_int_equal(sim_metrics_availability(m, 1000, &a), 0);
    assert_int_equal(a.ops, 0);
    assert_int_equal(a.bin_count, 0);
    sim_avail_free(&a);
    /* Bin 0: 3 of 3; bin 1: empty; bin 2: 2 of 3 (a failed put, a not-found get is ok);
     * bin 3: 1 of 2, the worst; bin 4: 1 of 2 too, later, so not the worst. */
    record_at(m, DYN_OP_PUT, DYN_OK, 0, 0);
    record_at(m, DYN_OP_GET, DYN_OK, 500, 1);
    record_at(m, DYN_OP_PUT, DYN_OK, 999, 0);
    record_at(m, DYN_OP_PUT, DYN_ETIMEDOUT, 2000, 0);
    record_at(m, DYN_OP_GET, DYN_ENOTFOUND, 2500, 0);
    record_at(m, DYN_OP_DELETE, DYN_OK, 2999, 0);
    record_at(m, DYN_OP_GET, DYN_ETIMEDOUT, 3000, 0);
    record_at(m, DYN_OP_GET, DYN_OK, 3001, 1);
    record_at(m, DYN_OP_PUT, DYN_ENOTFOUND, 4000, 0); /* not-found is a success only for reads */
    record_at(m, DYN_OP_PUT, DYN_OK, 4999, 0);
    assert_int_equal(sim_metrics_availability(m, 1000, &a), 0);
    assert_int_equal(a.bin_count, 5);
    assert_int_equal(a.ops, 10);
    assert_int_equal(a.ok, 7);
    const uint64_t ops[] = {3, 0, 3, 2, 2}, ok[] = {3, 0, 2, 1, 1};
    for (size_t b = 0; b < 5; b++) {
        assert_int_equal(a.bin_ops[b], ops[b]);
        assert_int_equal(a.bin_ok[b], ok[b]);
    }
    assert_int_equal(a.worst, 3);
    sim_avail_free(&a);
    assert_null(a.bin_ops);
    sim_metrics_destroy(m);
}

/* One live version holding value, as a replica would store it. */
static void one_version(dyn_siblings_t *set, dyn_version_t *v, const char *value, uint64_t counter)
{
    memset(v, 0, sizeof(*v));
    v->timestamp_us = 1000;
    v->dot = (dyn_vclock_entry_t){.node = 0, .epoch = 1, .counter = counter, .timestamp_us = 1000};
    v->value = (const uint8_t *)value;
    v->value_length = (uint32_t)strlen(value);
    *set = (dyn_siblings_t){.count = 1, .capacity = 1, .items = v};
}

static uint64_t hash_of(const char *value) { return XXH3_64bits(value, strlen(value)); }

/* A world with a 5-node S3 cluster of default nodes, for the checkers' tests. */
static sim_world_t *five_node_world(void)
{
    sim_world_t *w = sim_world_create(1);
    assert_non_null(w);
    sim_cluster_config_t cc;
    memset(&cc, 0, sizeof(cc));
    dyn_node_config_default(&cc.node);
    cc.nodes = 5;
    cc.ring.strategy = DYN_STRATEGY_S3;
    cc.ring.partitions = 64;
    char err[256];
    assert_int_equal(sim_world_create_cluster(w, &cc, err, sizeof(err)), 0);
    return w;
}

/*
 * The honest-outcome checker: a definite failure that a store holds or a get returned is flagged;
 * a timed-out write that took effect is only counted; a definite failure that left no trace is
 * clean. The stores are written directly, as a lying coordinator would have left them.
 */
static void test_honest_outcomes(void **state)
{
    (void)state;
    sim_world_t *w = five_node_world();
    const char *key = "k1";
    uint32_t owners[3];
    assert_int_equal(dyn_ring_preference_list(sim_world_ring(w),
                                              dyn_ring_hash((const uint8_t *)key, 2), owners, 3),
                     3);
    /* The last replica of the key stores a value whose put was reported refused, and another
     * replica one whose put timed out. */
    dyn_siblings_t set;
    dyn_version_t v;
    uint8_t blob[256];
    const char *stored[2] = {"refused-but-stored-value", "timed-out-but-stored-value"};
    for (int i = 0; i < 2; i++) {
        one_version(&set, &v, stored[i], (uint64_t)i + 1);
        int n = dyn_codec_encode_siblings(&set, blob, sizeof(blob));
        assert_true(n > 0);
        dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, owners[2 - i]));
        assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, 2, blob,
                                     (size_t)n), DYN_OK);
    }
    sim_checker_t *c = sim_world_checker(w);
    const uint8_t *k = (const uint8_t *)key;
    assert_int_equal(sim_checker_failed(c, k, 2, hash_of(stored[0]), DYN_EUNAVAIL, 10), 0);
    assert_int_equal(sim_checker_failed(c, k, 2, hash_of(stored[1]), DYN_ETIMEDOUT, 20), 0);
    assert_int_equal(sim_checker_failed(c, k, 2, hash_of("seen-by-a-get"), DYN_ESIBLINGS, 30), 0);
    assert_int_equal(sim_checker_failed(c, k, 2, hash_of("left-no-trace"), DYN_ENOQUORUM, 40), 0);
    /* Another key returning the same value is not this write. */
    one_version(&set, &v, "seen-by-a-get", 3);
    sim_checker_observed(c, (const uint8_t *)"k2", 2, &set, 45);
    sim_honesty_report_t r;
    assert_int_equal(sim_checker_honesty(c, w, &r), 0);
    assert_int_equal(r.definite, 3);
    assert_int_equal(r.definite_appeared, 1);
    sim_checker_observed(c, k, 2, &set, 50);
    assert_int_equal(sim_checker_honesty(c, w, &r), 0);
    assert_int_equal(r.definite, 3);
    assert_int_equal(r.definite_appeared, 2);
    assert_int_equal(r.indeterminate, 1);
    assert_int_equal(r.indeterminate_appeared, 1);
    assert_int_equal(r.listed, 2);
    assert_int_equal(r.first[0].status, DYN_EUNAVAIL);
    assert_int_equal(r.first[0].seen_us, 0);
    assert_int_equal(r.first[1].status, DYN_ESIBLINGS);
    assert_int_equal(r.first[1].seen_us, 50);
    assert_int_equal(r.first[1].failed_us, 30);
    sim_world_destroy(w);
}

/*
 * A dot names one write. Two acknowledged writes of a key with one dot, or two stored versions
 * with one dot and different values, mean an actor reissued a dot: the checker counts them as
 * lost (a present check by dot alone would call both present).
 */
static void test_reused_dots_are_lost(void **state)
{
    (void)state;
    sim_world_t *w = five_node_world();
    const uint8_t *key = (const uint8_t *)"k1";
    uint32_t owners[3];
    assert_int_equal(dyn_ring_preference_list(sim_world_ring(w), dyn_ring_hash(key, 2), owners, 3),
                     3);
    dyn_siblings_t set;
    dyn_version_t v;
    uint8_t blob[256];
    /* Owners 0 and 1 store "a" under dot (7, 1, 1); owner 2 stores "b" under the same dot. */
    for (int i = 0; i < 3; i++) {
        one_version(&set, &v, i < 2 ? "a" : "b", 1);
        v.dot.node = 7;
        int n = dyn_codec_encode_siblings(&set, blob, sizeof(blob));
        assert_true(n > 0);
        dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, owners[i]));
        assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, key, 2, blob, (size_t)n), DYN_OK);
    }
    sim_checker_t *c = sim_world_checker(w);
    const dyn_vclock_entry_t dot = {.node = 7, .epoch = 1, .counter = 1};
    assert_int_equal(sim_checker_ack(c, key, 2, &dot, DYN_OP_PUT, 0), 0);
    sim_lost_report_t r;
    assert_int_equal(sim_checker_lost_writes(c, w, &r), 0);
    assert_int_equal(r.present, 1);
    assert_int_equal(r.dots_reused, 1); /* "a" and "b" stored under one dot */
    assert_int_equal(r.lost, 1);
    /* The copies agree again, but both writes were acknowledged under that one dot. */
    one_version(&set, &v, "a", 1);
    v.dot.node = 7;
    int n = dyn_codec_encode_siblings(&set, blob, sizeof(blob));
    assert_true(n > 0);
    dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, owners[2]));
    assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, key, 2, blob, (size_t)n), DYN_OK);
    assert_int_equal(sim_checker_lost_writes(c, w, &r), 0);
    assert_int_equal(r.dots_reused, 0);
    assert_int_equal(r.lost, 0);
    assert_int_equal(sim_checker_ack(c, key, 2, &dot, DYN_OP_PUT, 10), 0);
    assert_int_equal(sim_checker_lost_writes(c, w, &r), 0);
    assert_int_equal(r.checked, 2);
    assert_int_equal(r.dots_reused, 1);
    assert_int_equal(r.lost, 1);
    sim_world_destroy(w);
}

/*
 * The lost-write checker: a write is present, superseded (some stored version's past covers its
 * dot) or lost. Once the tombstones covering a key are collected, the sets the reaping nodes
 * reported keep those writes superseded, and a write they never covered is still lost.
 */
static void test_lost_writes_and_collected_tombstones(void **state)
{
    (void)state;
    sim_world_t *w = five_node_world();
    const uint8_t *key = (const uint8_t *)"k1";
    uint32_t owners[3];
    assert_int_equal(dyn_ring_preference_list(sim_world_ring(w), dyn_ring_hash(key, 2), owners, 3),
                     3);
    /* Every owner stores one tombstone, dot (9, 1, 2), whose past covers the put (9, 1, 1). */
    dyn_siblings_t set;
    dyn_version_t v;
    one_version(&set, &v, "", 2);
    v.dot.node = 9;
    v.flags = DYN_VERSION_TOMBSTONE;
    v.clock.count = 1;
    v.clock.entries[0] = (dyn_vclock_entry_t){.node = 9, .epoch = 1, .counter = 1,
                                              .timestamp_us = 500};
    uint8_t blob[256];
    int n = dyn_codec_encode_siblings(&set, blob, sizeof(blob));
    assert_true(n > 0);
    for (int i = 0; i < 3; i++) {
        dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, owners[i]));
        assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, key, 2, blob, (size_t)n), DYN_OK);
    }
    sim_checker_t *c = sim_world_checker(w);
    const dyn_vclock_entry_t put = {.node = 9, .epoch = 1, .counter = 1};
    const dyn_vclock_entry_t del = {.node = 9, .epoch = 1, .counter = 2};
    const dyn_vclock_entry_t other = {.node = 8, .epoch = 1, .counter = 5};
    assert_int_equal(sim_checker_ack(c, key, 2, &put, DYN_OP_PUT, 0), 0);
    assert_int_equal(sim_checker_ack(c, key, 2, &del, DYN_OP_DELETE, 0), 0);
    assert_int_equal(sim_checker_ack(c, key, 2, &other, DYN_OP_PUT, 0), 0);
    sim_lost_report_t r;
    assert_int_equal(sim_checker_lost_writes(c, w, &r), 0);
    assert_int_equal(r.checked, 3);
    assert_int_equal(r.present, 1);
    assert_int_equal(r.superseded, 1);
    assert_int_equal(r.reaped, 0);
    assert_int_equal(r.lost, 1);
    assert_true(r.first[0].dot.node == 8);

    /* Collected everywhere: gone from the stores, but reported first by each reaping owner. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sim_checker_reaped(c, w, owners[i], key, 2), 0);
        dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, owners[i]));
        assert_int_equal(st.ops->del(st.ctx, DYN_SPACE_DATA, key, 2), DYN_OK);
    }
    assert_int_equal(sim_checker_lost_writes(c, w, &r), 0);
    assert_int_equal(r.present, 0);
    assert_int_equal(r.superseded, 2);
    assert_int_equal(r.reaped, 2);
    assert_int_equal(r.lost, 1);
    assert_int_equal(r.resurrected, 0);
    /* The deleted put turns up again on one replica (a late hint, say): a resurrection. */
    dyn_version_t back;
    one_version(&set, &back, "milk", 1);
    back.dot.node = 9;
    n = dyn_codec_encode_siblings(&set, blob, sizeof(blob));
    assert_true(n > 0);
    dyn_storage_t st0 = dyn_mem_store_storage(sim_world_store(w, owners[1]));
    assert_int_equal(st0.ops->put(st0.ctx, DYN_SPACE_DATA, key, 2, blob, (size_t)n), DYN_OK);
    assert_int_equal(sim_checker_lost_writes(c, w, &r), 0);
    assert_int_equal(r.resurrected, 1);
    assert_int_equal(r.present, 1); /* the put's dot is stored again */
    assert_int_equal(st0.ops->del(st0.ctx, DYN_SPACE_DATA, key, 2), DYN_OK);
    /* A reap of a key that is not stored records nothing; another key's writes are not covered. */
    assert_int_equal(sim_checker_reaped(c, w, owners[0], (const uint8_t *)"k2", 2), 0);
    const dyn_vclock_entry_t k2 = {.node = 9, .epoch = 1, .counter = 1};
    assert_int_equal(sim_checker_ack(c, (const uint8_t *)"k2", 2, &k2, DYN_OP_PUT, 40), 0);
    assert_int_equal(sim_checker_lost_writes(c, w, &r), 0);
    assert_int_equal(r.lost, 2);
    sim_world_destroy(w);
}

static double sample_mean(const sim_dist_t *d, gsl_rng *rng, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double x = sim_dist_sample(d, rng);
        assert_true(x >= d->min && x <= d->max);
        sum += x;
    }
    return sum / n;
}

/* Each distribution's sample mean is within 2 % of its analytic mean over 200,000 draws. */
static void test_distribution_means(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 5);
    const double H = 3600e6;
    sim_dist_t parts[2] = {
        {.kind = SIM_DIST_CONSTANT, .p1 = 100, .max = H},
        {.kind = SIM_DIST_EXPONENTIAL, .p1 = 1000, .max = H},
    };
    double weights[2] = {0.75, 0.25};
    sim_dist_t cases[] = {
        {.kind = SIM_DIST_CONSTANT, .p1 = 500, .max = H},
        {.kind = SIM_DIST_UNIFORM, .p1 = 100, .p2 = 300, .max = H},
        {.kind = SIM_DIST_EXPONENTIAL, .p1 = 250, .max = H},
        {.kind = SIM_DIST_NORMAL, .p1 = 1000, .p2 = 50, .max = H},
        {.kind = SIM_DIST_LOGNORMAL, .p1 = 500, .p2 = 0.5, .max = H},
        {.kind = SIM_DIST_PARETO, .p1 = 100, .p2 = 3, .max = H},
        {.kind = SIM_DIST_MIXTURE, .count = 2, .weights = weights, .parts = parts, .max = H},
        {.kind = SIM_DIST_EXPONENTIAL, .p1 = 250, .offset = 40, .max = H},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double want = sim_dist_mean(&cases[i]);
        double got = sample_mean(&cases[i], rng, 200000);
        assert_true(fabs(got - want) <= 0.02 * want);
    }
    /* Clamping: a normal around 0 never goes below min. */
    sim_dist_t clamped = {.kind = SIM_DIST_NORMAL, .p1 = 0, .p2 = 100, .min = 10, .max = 20};
    (void)sample_mean(&clamped, rng, 1000);
    gsl_rng_free(rng);
}

static sim_net_fate_t route(sim_net_t *net, uint32_t from, uint32_t to, dyn_time_us now,
                            gsl_rng *rng)
{
    sim_net_fate_t f;
    sim_net_route(net, from, to, DYN_MSG_REPLICA_PUT, now, rng, &f);
    return f;
}

/* Partitions, one-way blocks, isolation and heal decide exactly which pairs can talk. */
static void test_net_blocks(void **state)
{
    (void)state;
    sim_net_t *net = sim_net_create();
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(rng, 1);
    assert_int_equal(sim_net_partition(net, (uint32_t[]){1, 1, 2, 2, 0}), DYN_EINVAL);
    assert_int_equal(sim_net_set_nodes(net, 5), DYN_OK);
    /* {1,2} | {3,4}, node 5 in no group: it bridges both sides. */
    assert_int_equal(sim_net_partition(net, (uint32_t[]){1, 1, 2, 2, 0}), DYN_OK);
    for (uint32_t a = 1; a <= 5; a++) {
        for (uint32_t b = 1; b <= 5; b++) {
            int cut = a != b && a != 5 && b != 5 && ((a <= 2) != (b <= 2));
            assert_int_equal(sim_net_blocked(net, a, b), cut);
            sim_net_fate_t f = route(net, a, b, 100, rng);
            assert_int_equal(f.copies, cut ? 0 : 1);
            if (cut)
                assert_int_equal(f.dropped, SIM_NET_DROP_PARTITION);
        }
    }
    /* Clients (endpoints outside 1..nodes) are never partitioned. */
    assert_int_equal(route(net, 0x40000000u, 3, 100, rng).copies, 1);
    sim_net_heal(net);
    assert_int_equal(route(net, 1, 3, 100, rng).copies, 1);
    /* One way. */
    assert_int_equal(sim_net_block(net, 2, 4), DYN_OK);
    assert_int_equal(route(net, 2, 4, 100, rng).copies, 0);
    assert_int_equal(route(net, 4, 2, 100, rng).copies, 1);
    assert_int_equal(sim_net_block(net, 2, 2), DYN_EINVAL);
    assert_int_equal(sim_net_block(net, 2, 6), DYN_EINVAL);
    sim_net_heal(net);
    assert_int_equal(sim_net_isolate(net, 3), DYN_OK);
    for (uint32_t o = 1; o <= 5; o++) {
        if (o == 3)
            continue;
        assert_true(sim_net_blocked(net, 3, o) && sim_net_blocked(net, o, 3));
        assert_false(sim_net_blocked(net, o, o == 1 ? 2 : 1));
    }
    assert_true(sim_net_stats(net)->dropped_partition >= 6);
    gsl_rng_free(rng);
    sim_net_destroy(net);
}

/* Loss and duplication hit their fractions; clogs hold datagrams until they end, in order. */
static void test_net_loss_duplication_clog(void **state)
{
    (void)state;
    sim_net_t *net = sim_net_create();
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(rng, 2);
    assert_int_equal(sim_net_set_nodes(net, 3), DYN_OK);
    assert_int_equal(sim_net_set_loss(net, 1.5), DYN_EINVAL);
    assert_int_equal(sim_net_set_loss(net, 0.2), DYN_OK);
    assert_int_equal(sim_net_set_duplicate(net, 0.1), DYN_OK);
    int lost = 0, doubled = 0;
    enum { SENDS = 100000 };
    for (int i = 0; i < SENDS; i++) {
        sim_net_fate_t f = route(net, 1, 2, 0, rng);
        lost += f.copies == 0;
        doubled += f.copies == 2;
    }
    /* Binomial: 3 standard deviations is about 0.4 % of 100,000 at these fractions. */
    assert_true(abs(lost - SENDS / 5) < 1200);
    assert_true(abs(doubled - (SENDS - lost) / 10) < 900);
    assert_int_equal(sim_net_set_loss(net, 0), DYN_OK);
    assert_int_equal(sim_net_set_duplicate(net, 0), DYN_OK);
    /* Clog 1 -> any until t=5000: held until then; other links and later sends unaffected. */
    assert_int_equal(sim_net_clog(net, 1, 0, 5000), DYN_OK);
    sim_net_fate_t held = route(net, 1, 3, 1000, rng);
    assert_int_equal(held.copies, 1);
    assert_true(held.deliver_at_us[0] >= 5000);
    assert_true(route(net, 2, 3, 1000, rng).deliver_at_us[0] < 5000);
    assert_true(route(net, 1, 3, 6000, rng).deliver_at_us[0] < 6000 + 3600000000ull);
    assert_true(route(net, 1, 3, 6000, rng).deliver_at_us[0] > 6000);
    assert_int_equal(sim_net_stats(net)->clogged, 1);
    gsl_rng_free(rng);
    sim_net_destroy(net);
}

/* With no fault set, routing draws exactly what a plain delay draw does: fault-free runs keep
 * their digests whether or not the fault model exists. */
static void test_net_fault_free_path_unchanged(void **state)
{
    (void)state;
    /* Two nets, as delays are drawn in batches: each holds its own draws. */
    sim_net_t *net = sim_net_create(), *plain = sim_net_create();
    sim_dist_t d = {.kind = SIM_DIST_LOGNORMAL, .p1 = 500, .p2 = 0.6, .max = 3600e6};
    assert_int_equal(sim_net_set_latency(net, &d), 0);
    assert_int_equal(sim_net_set_latency(plain, &d), 0);
    gsl_rng *a = gsl_rng_alloc(gsl_rng_taus2), *b = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(a, 3);
    gsl_rng_set(b, 3);
    for (int i = 0; i < 1000; i++) {
        sim_net_fate_t f;
        sim_net_route(net, 1, 2, DYN_MSG_CLIENT_GET, 77, a, &f);
        assert_int_equal(f.copies, 1);
        assert_int_equal(f.deliver_at_us[0],
                         77 + sim_net_delay(plain, 1, 2, DYN_MSG_CLIENT_GET, b));
    }
    gsl_rng_free(a);
    gsl_rng_free(b);
    sim_net_destroy(net);
    sim_net_destroy(plain);
}

static int disk_has(sim_disk_t *d, const char *key)
{
    dyn_storage_t st = sim_disk_storage(d);
    const uint8_t *blob;
    size_t length;
    return st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, strlen(key), &blob,
                       &length) == DYN_OK;
}

static void disk_put(sim_disk_t *d, const char *key)
{
    dyn_storage_t st = sim_disk_storage(d);
    assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_DATA, (const uint8_t *)key, strlen(key),
                                 (const uint8_t *)"value", 5),
                     DYN_OK);
}

/* Writes are visible at once and durable once flushed: by size, by interval, or by a sync, which
 * also makes the disk busy for an fsync; a crash loses exactly the unflushed ones. */
static void test_disk_model(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(rng, 4);
    sim_disk_config_t cfg = {.flush_interval_us = 1000, .flush_bytes = 64,
                             .fsync_us = sim_dist_constant(300)};
    sim_disk_t *d = sim_disk_create(&cfg, rng);
    sim_disk_set_now(d, 0);
    disk_put(d, "a");
    assert_true(disk_has(d, "a"));            /* visible before it is durable */
    sim_disk_crash(d);
    assert_false(disk_has(d, "a"));           /* and gone with the crash */
    assert_int_equal(sim_disk_stats(d)->lost_writes, 1);
    /* A sync makes it durable and costs an fsync. */
    sim_disk_set_now(d, 100);
    disk_put(d, "b");
    dyn_storage_t st = sim_disk_storage(d);
    assert_int_equal(st.ops->sync(st.ctx), DYN_OK);
    assert_int_equal(sim_disk_busy_until(d), 400);
    assert_int_equal(st.ops->sync(st.ctx), DYN_OK); /* queued behind the first */
    assert_int_equal(sim_disk_busy_until(d), 700);
    sim_disk_crash(d);
    assert_true(disk_has(d, "b"));
    /* The interval flush. */
    disk_put(d, "c");
    sim_disk_tick(d, 500);                    /* too soon after the sync's flush at 100 */
    sim_disk_tick(d, 1200);
    sim_disk_crash(d);
    assert_true(disk_has(d, "c"));
    /* The size flush: 64 dirty bytes. */
    for (int i = 0; i < 16; i++) {
        char key[8];
        snprintf(key, sizeof(key), "s%d", i);
        disk_put(d, key);
    }
    sim_disk_crash(d);
    assert_true(disk_has(d, "s0"));           /* flushed when the buffer filled */
    assert_false(disk_has(d, "s15"));         /* written after the last flush */
    /* A delete is a write like any other: lost if not flushed. */
    dyn_storage_t st2 = sim_disk_storage(d);
    assert_int_equal(st2.ops->del(st2.ctx, DYN_SPACE_DATA, (const uint8_t *)"b", 1), DYN_OK);
    assert_false(disk_has(d, "b"));
    sim_disk_crash(d);
    assert_true(disk_has(d, "b"));
    sim_disk_wipe(d);
    assert_false(disk_has(d, "c"));
    sim_disk_destroy(d);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_total_order),
        cmocka_unit_test(test_queue_interleaved),
        cmocka_unit_test(test_percentiles_exact),
        cmocka_unit_test(test_sibling_distribution),
        cmocka_unit_test(test_availability_bins),
        cmocka_unit_test(test_honest_outcomes),
        cmocka_unit_test(test_lost_writes_and_collected_tombstones),
        cmocka_unit_test(test_reused_dots_are_lost),
        cmocka_unit_test(test_distribution_means),
        cmocka_unit_test(test_net_blocks),
        cmocka_unit_test(test_net_loss_duplication_clog),
        cmocka_unit_test(test_net_fault_free_path_unchanged),
        cmocka_unit_test(test_disk_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
