/*
 * test_workload.c: the simulated clients' workload draws what it is configured to draw: Poisson
 * arrivals (exponential gaps of mean 1/rate), the read fraction, Zipf or uniform key popularity
 * (the number of distinct keys written against its expectation), and the value size (every
 * version the replicas store holds a value of exactly that size).
 *
 * Each property is checked against a tolerance several standard errors wide, on one fixed seed,
 * so the test is exact to replay and a broken generator misses by far more than the tolerance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "core/codec.h"
#include "core/mem_store.h"
#include "core/node.h"
#include "core/status.h"
#include "sim/sim_metrics.h"
#include "sim/sim_workload.h"
#include "sim/sim_world.h"

typedef struct run {
    sim_world_t *world;
    sim_workload_t *load;
} run_t;

/* Background work (anti-entropy, gossip) never runs dry: the run ends with the workload. */
static void stop_world(sim_workload_t *wl, void *arg)
{
    (void)wl;
    sim_world_stop(arg);
}

static run_t run_workload(uint64_t seed, const sim_workload_config_t *wc)
{
    run_t r = {.world = sim_world_create(seed)};
    assert_non_null(r.world);
    sim_cluster_config_t cc;
    memset(&cc, 0, sizeof(cc));
    dyn_node_config_default(&cc.node);
    cc.nodes = 8;
    cc.node.n = 3;
    cc.node.r = 2;
    cc.node.w = 2;
    cc.ring.strategy = DYN_STRATEGY_S3;
    cc.ring.partitions = 64;
    cc.ring.tokens_per_node = 8;
    char err[256];
    assert_int_equal(sim_world_create_cluster(r.world, &cc, err, sizeof(err)), 0);
    r.load = sim_workload_start(r.world, wc, err, sizeof(err));
    if (!r.load)
        fail_msg("workload: %s", err);
    sim_workload_on_done(r.load, stop_world, r.world);
    sim_world_set_limits(r.world, 600 * 1000000ULL, 100000000ULL);
    assert_int_equal(sim_world_run(r.world), SIM_RUN_STOPPED);
    assert_true(sim_workload_done(r.load));
    return r;
}

static void run_free(run_t *r)
{
    sim_workload_destroy(r->load);
    sim_world_destroy(r->world);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Expected distinct keys after m independent draws with probabilities p_k. */
static double expected_distinct(uint64_t keys, double s, uint64_t m)
{
    double norm = 0, sum = 0;
    for (uint64_t k = 1; k <= keys; k++)
        norm += s > 0 ? pow((double)k, -s) : 1.0;
    for (uint64_t k = 1; k <= keys; k++) {
        double p = (s > 0 ? pow((double)k, -s) : 1.0) / norm;
        sum += 1.0 - pow(1.0 - p, (double)m);
    }
    return sum;
}

/* Open loop: gaps between arrivals are exponential (mean 1/rate, coefficient of variation 1). */
static void test_poisson_arrivals_and_read_fraction(void **state)
{
    (void)state;
    sim_workload_config_t wc;
    sim_workload_config_default(&wc);
    wc.ops = 20000;
    wc.rate_per_s = 5000;
    wc.clients = 16;
    wc.keys = 1000;
    wc.read_fraction = 0.3;
    run_t r = run_workload(11, &wc);
    size_t count;
    const sim_op_record_t *h = sim_metrics_history(sim_world_metrics(r.world), &count);
    assert_int_equal(count, wc.ops);
    uint64_t *starts = malloc(count * sizeof(uint64_t));
    assert_non_null(starts);
    size_t gets = 0;
    for (size_t i = 0; i < count; i++) {
        starts[i] = h[i].start_us;
        gets += h[i].kind == DYN_OP_GET;
    }
    qsort(starts, count, sizeof(uint64_t), cmp_u64);
    double sum = 0, sum2 = 0;
    for (size_t i = 1; i < count; i++) {
        double gap = (double)(starts[i] - starts[i - 1]);
        sum += gap;
        sum2 += gap * gap;
    }
    double n = (double)(count - 1), mean = sum / n;
    double cv = sqrt(sum2 / n - mean * mean) / mean;
    printf("arrivals: mean gap %.1f us (expected 200), cv %.3f (expected 1); reads %.4f\n", mean,
           cv, (double)gets / (double)count);
    /* Standard errors at 20,000 gaps: about 0.7 % of the mean, about 1 % of the cv. */
    assert_true(fabs(mean - 200.0) < 200.0 * 0.03);
    assert_true(fabs(cv - 1.0) < 0.05);
    /* The read fraction's standard error is 0.0032. */
    assert_true(fabs((double)gets / (double)count - 0.3) < 0.015);
    free(starts);
    run_free(&r);
}

static uint64_t distinct_written(sim_key_dist_t dist, double s, uint64_t keys, uint64_t puts)
{
    sim_workload_config_t wc;
    sim_workload_config_default(&wc);
    wc.ops = puts;
    wc.read_fraction = 0;
    wc.rate_per_s = 20000;
    wc.clients = 16;
    wc.keys = keys;
    wc.key_dist = dist;
    wc.zipf_s = s;
    run_t r = run_workload(12, &wc);
    uint64_t written = sim_workload_keys_written(r.load);
    run_free(&r);
    return written;
}

/* Popularity: the count of distinct keys m draws touch is a sharp function of the distribution. */
static void test_key_popularity(void **state)
{
    (void)state;
    const uint64_t keys = 10000, puts = 5000;
    uint64_t uniform = distinct_written(SIM_KEYS_UNIFORM, 0, keys, puts);
    uint64_t zipf = distinct_written(SIM_KEYS_ZIPF, 0.99, keys, puts);
    uint64_t steep = distinct_written(SIM_KEYS_ZIPF, 1.5, keys, puts);
    double e_uniform = expected_distinct(keys, 0, puts), e_zipf = expected_distinct(keys, 0.99, puts);
    double e_steep = expected_distinct(keys, 1.5, puts);
    printf("distinct keys of %llu puts over %llu: uniform %llu (expected %.0f), zipf 0.99 %llu "
           "(expected %.0f), zipf 1.5 %llu (expected %.0f)\n", (unsigned long long)puts,
           (unsigned long long)keys, (unsigned long long)uniform, e_uniform,
           (unsigned long long)zipf, e_zipf, (unsigned long long)steep, e_steep);
    assert_true(fabs((double)uniform - e_uniform) < 0.03 * e_uniform);
    assert_true(fabs((double)zipf - e_zipf) < 0.05 * e_zipf);
    assert_true(fabs((double)steep - e_steep) < 0.08 * e_steep);
    assert_true(steep < zipf && zipf < uniform);
}

typedef struct value_census {
    uint64_t versions, wrong;
    uint32_t want;
} value_census_t;

static int count_values(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                        size_t blob_length)
{
    (void)key;
    (void)key_length;
    value_census_t *c = arg;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    assert_int_equal(dyn_codec_decode_siblings(blob, blob_length, &set), DYN_OK);
    for (uint32_t i = 0; i < set.count; i++) {
        c->versions++;
        c->wrong += set.items[i].value_length != c->want;
    }
    dyn_siblings_clear(&set);
    return 0;
}

/* Value size: every version every replica stores holds a value of exactly the configured size. */
static void test_value_size(void **state)
{
    (void)state;
    for (uint32_t size = 1; size <= 4096; size *= 64) {
        sim_workload_config_t wc;
        sim_workload_config_default(&wc);
        wc.ops = 3000;
        wc.rate_per_s = 4000;
        wc.read_fraction = 0.2;
        wc.keys = 500;
        wc.value_size = size;
        run_t r = run_workload(13, &wc);
        value_census_t census = {.want = size};
        for (uint32_t id = 1; id <= sim_world_node_count(r.world); id++) {
            dyn_storage_t st = dyn_mem_store_storage(sim_world_store(r.world, id));
            assert_int_equal(st.ops->scan(st.ctx, DYN_SPACE_DATA, count_values, &census), 0);
        }
        printf("value_size %u: %llu stored versions, %llu of another size\n", size,
               (unsigned long long)census.versions, (unsigned long long)census.wrong);
        assert_true(census.versions >= 3 * sim_workload_keys_written(r.load));
        assert_int_equal(census.wrong, 0);
        run_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poisson_arrivals_and_read_fraction),
        cmocka_unit_test(test_key_popularity),
        cmocka_unit_test(test_value_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
