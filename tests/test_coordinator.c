/*
 * test_coordinator.c: dyn_node_t as replica and coordinator, driven datagram by datagram.
 *
 * Five real nodes share one S3 ring (Q=64) and each owns a mem_store; a fake network (fake_env.h)
 * carries their datagrams in FIFO order, and the client is a sink endpoint fed with hand-built
 * CLIENT_GET / CLIENT_PUT messages, so every test decides exactly which datagram is delivered,
 * dropped or replayed, and when timers fire. All requests use one key; `pref` is its ring walk:
 * pref[0..2] are the N=3 replicas, pref[3] and pref[4] are outside the preference list.
 */
#define _POSIX_C_SOURCE 200809L /* fork, waitpid */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/codec.h"
#include "core/mem_store.h"
#include "core/node.h"
#include "core/prng.h"
#include "core/ring.h"
#include "core/status.h"
#include "tests/fake_env.h"

#define NODE_COUNT 5u
#define CLIENT 100u
#define TIMEOUT_US 1000u
#define STEPS 10000u
#define KEY "alpha"

/*
 * Every node's storage is its mem_store seen through this wrapper, which passes everything on
 * unless a test sets get_status: then reads of the data space fail with it (a broken disk).
 */
typedef struct faulty_store {
    dyn_storage_t inner;
    int get_status;
} faulty_store_t;

static int faulty_get(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                      const uint8_t **blob, size_t *blob_length)
{
    faulty_store_t *f = ctx;
    if (f->get_status != DYN_OK && space == DYN_SPACE_DATA)
        return f->get_status;
    return f->inner.ops->get(f->inner.ctx, space, key, key_length, blob, blob_length);
}

static int faulty_put(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length,
                      const uint8_t *blob, size_t blob_length)
{
    faulty_store_t *f = ctx;
    return f->inner.ops->put(f->inner.ctx, space, key, key_length, blob, blob_length);
}

static int faulty_del(void *ctx, dyn_space_t space, const uint8_t *key, size_t key_length)
{
    faulty_store_t *f = ctx;
    return f->inner.ops->del(f->inner.ctx, space, key, key_length);
}

static int faulty_scan(void *ctx, dyn_space_t space, dyn_storage_scan_fn fn, void *arg)
{
    faulty_store_t *f = ctx;
    return f->inner.ops->scan(f->inner.ctx, space, fn, arg);
}

static int faulty_sync(void *ctx)
{
    faulty_store_t *f = ctx;
    return f->inner.ops->sync(f->inner.ctx);
}

static const dyn_storage_ops_t FAULTY_OPS = {faulty_get, faulty_put, faulty_del, faulty_scan,
                                             faulty_sync};

typedef struct cluster {
    dyn_ring_t *ring;
    dyn_mem_store_t *stores[NODE_COUNT];
    faulty_store_t faulty[NODE_COUNT];
    fake_env_t envs[NODE_COUNT];
    dyn_node_t *nodes[NODE_COUNT];
    fake_net_t net;
    uint32_t pref[NODE_COUNT];
} cluster_t;

static const dyn_req_opts_t DEFAULTS = {0};

/* ---- fixture -------------------------------------------------------------------------- */

/*
 * Most tests drop datagrams by hand to stage a failure; with hinted handoff on, the coordinator
 * would route around the replicas it then suspects. They run strict (hinted = false); the sloppy
 * quorum and handoff have tests of their own.
 */
#define TICK_US (2u * TIMEOUT_US)
/* Tombstone grace for the tests of collection; 0 leaves the default (10 s: never, in a test). */
static dyn_time_us g_grace_us;
/* Probing period for the tests of the SWIM-style detector; 0 leaves it off (the default). */
static dyn_time_us g_fd_interval_us;
/* Clock truncation threshold for one test; 0 leaves the default. */
static uint32_t g_vclock_threshold;

static cluster_t *cluster_new(uint32_t siblings_max, uint32_t pending_max, bool hinted,
                              uint32_t hints_max)
{
    cluster_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    const uint32_t ids[NODE_COUNT] = {1, 2, 3, 4, 5};
    const dyn_ring_config_t rc = {DYN_STRATEGY_S3, 0, 64, 2024};
    if (dyn_ring_create(&c->ring, &rc, ids, NODE_COUNT) != DYN_OK)
        return NULL;
    fake_net_init(&c->net);
    fake_net_add_sink(&c->net, CLIENT);
    for (uint32_t i = 0; i < NODE_COUNT; i++) {
        dyn_node_config_t cfg;
        dyn_node_config_default(&cfg);
        cfg.id = ids[i];
        cfg.epoch = 1; /* pinned: the tests name actors (id, 1) */
        cfg.request_timeout_us = TIMEOUT_US;
        cfg.seed = 1000 + ids[i];
        if (siblings_max)
            cfg.siblings_max = siblings_max;
        if (pending_max)
            cfg.requests_pending_max = pending_max;
        cfg.hinted_handoff = hinted;
        cfg.tick_us = TICK_US;
        cfg.ae_interval_us = TICK_US; /* an anti-entropy exchange every tick, once started */
        cfg.gossip_interval_us = TICK_US;
        if (hints_max)
            cfg.hints_max = hints_max;
        if (g_grace_us)
            cfg.tombstone_grace_us = g_grace_us;
        if (g_vclock_threshold)
            cfg.vclock_threshold = g_vclock_threshold;
        if (g_fd_interval_us) {
            cfg.fd_interval_us = g_fd_interval_us;
            cfg.fd_timeout_us = g_fd_interval_us / 2;
        }
        c->stores[i] = dyn_mem_store_create();
        fake_env_init(&c->envs[i], ids[i]);
        if (!c->stores[i])
            return NULL;
        c->faulty[i].inner = dyn_mem_store_storage(c->stores[i]);
        c->nodes[i] = dyn_node_create(&cfg, c->ring,
                                      (dyn_storage_t){&FAULTY_OPS, &c->faulty[i]},
                                      fake_env_iface(&c->envs[i]));
        if (!c->nodes[i])
            return NULL;
        fake_net_attach_node(&c->net, &c->envs[i], c->nodes[i]);
    }
    size_t n = dyn_ring_preference_list(c->ring, dyn_ring_hash(KEY, strlen(KEY)), c->pref,
                                        NODE_COUNT);
    if (n != NODE_COUNT)
        return NULL;
    return c;
}

static int teardown(void **state)
{
    cluster_t *c = *state;
    if (!c)
        return 0;
    for (uint32_t i = 0; i < NODE_COUNT; i++) {
        dyn_node_destroy(c->nodes[i]);
        dyn_mem_store_destroy(c->stores[i]);
    }
    fake_net_free(&c->net);
    for (uint32_t i = 0; i < NODE_COUNT; i++)
        fake_env_free(&c->envs[i]);
    dyn_ring_destroy(c->ring);
    free(c);
    return 0;
}

static int setup_default(void **state)
{
    *state = cluster_new(0, 0, false, 0);
    return *state ? 0 : -1;
}

static int setup_hinted(void **state)
{
    *state = cluster_new(0, 0, true, 0);
    return *state ? 0 : -1;
}

static int setup_hints1(void **state)
{
    *state = cluster_new(0, 0, true, 1);
    return *state ? 0 : -1;
}

static int setup_reaping(void **state)
{
    g_grace_us = 2 * TICK_US;
    *state = cluster_new(0, 0, false, 0);
    g_grace_us = 0;
    return *state ? 0 : -1;
}

static int setup_detector(void **state)
{
    g_fd_interval_us = 4 * TICK_US;
    *state = cluster_new(0, 0, false, 0);
    g_fd_interval_us = 0;
    return *state ? 0 : -1;
}

static int setup_threshold1(void **state)
{
    g_vclock_threshold = 1;
    *state = cluster_new(0, 0, false, 0);
    g_vclock_threshold = 0;
    return *state ? 0 : -1;
}

static int setup_pending2(void **state)
{
    *state = cluster_new(0, 2, false, 0);
    return *state ? 0 : -1;
}

static int setup_siblings2(void **state)
{
    *state = cluster_new(2, 0, false, 0);
    return *state ? 0 : -1;
}

/* ---- helpers -------------------------------------------------------------------------- */

static dyn_node_t *node_of(cluster_t *c, uint32_t id) { return c->nodes[id - 1]; }
static fake_env_t *env_of(cluster_t *c, uint32_t id) { return &c->envs[id - 1]; }
static const dyn_node_stats_t *stats_of(cluster_t *c, uint32_t id)
{
    return dyn_node_stats(node_of(c, id));
}

static void inject_put(cluster_t *c, uint32_t to, uint64_t rid, const char *value,
                       const dyn_vclock_t *context, dyn_req_opts_t opts, bool tombstone)
{
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_PUT);
    m.request_id = rid;
    m.opts = opts;
    m.key = (const uint8_t *)KEY;
    m.key_length = (uint32_t)strlen(KEY);
    m.put_flags = tombstone ? DYN_VERSION_TOMBSTONE : 0;
    if (value) {
        m.value = (const uint8_t *)value;
        m.value_length = (uint32_t)strlen(value);
    }
    if (context)
        dyn_vclock_copy(&m.context, context);
    fake_net_inject_msg(&c->net, CLIENT, to, &m);
}

static void inject_get(cluster_t *c, uint32_t to, uint64_t rid, dyn_req_opts_t opts)
{
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_GET);
    m.request_id = rid;
    m.opts = opts;
    m.key = (const uint8_t *)KEY;
    m.key_length = (uint32_t)strlen(KEY);
    fake_net_inject_msg(&c->net, CLIENT, to, &m);
}

/* A replica's answer forged by the test (an error, a late or a duplicate reply). */
static void inject_replica_reply(cluster_t *c, uint32_t from, uint32_t to, dyn_msg_type_t type,
                                 uint64_t rid, int status)
{
    dyn_msg_t m;
    dyn_msg_init(&m, type);
    m.request_id = rid;
    m.status = status;
    fake_net_inject_msg(&c->net, from, to, &m);
}

static size_t inbox(cluster_t *c) { return fake_net_inbox_count(&c->net, CLIENT); }

/* Decode the index-th datagram the client received; the caller dyn_msg_clear()s it. */
static void client_reply(cluster_t *c, size_t index, dyn_msg_t *out)
{
    dyn_msg_init(out, DYN_MSG_CLIENT_REPLY);
    assert_int_equal(fake_net_inbox_decode(&c->net, CLIENT, index, out), DYN_OK);
    assert_int_equal(out->type, DYN_MSG_CLIENT_REPLY);
}

/* The request id of the first datagram of `type` that `from` sent to `to`. */
static uint64_t sent_request_id(cluster_t *c, uint32_t from, uint32_t to, dyn_msg_type_t type)
{
    fake_env_t *env = env_of(c, from);
    long i = fake_env_find(env, 0, to, type);
    assert_true(i >= 0);
    dyn_msg_t m;
    dyn_msg_init(&m, type);
    assert_int_equal(fake_env_decode(env, (size_t)i, &m), DYN_OK);
    uint64_t id = m.request_id;
    dyn_msg_clear(&m);
    return id;
}

static void run(cluster_t *c)
{
    fake_net_run(&c->net, STEPS);
    assert_int_equal(fake_net_queued(&c->net), 0);
}

/* Send a request, let the network go quiet, and decode the one answer it produced. */
static void put_sync(cluster_t *c, uint32_t via, uint64_t rid, const char *value,
                     const dyn_vclock_t *context, dyn_req_opts_t opts, bool tombstone,
                     dyn_msg_t *reply)
{
    size_t before = inbox(c);
    inject_put(c, via, rid, value, context, opts, tombstone);
    run(c);
    assert_int_equal(inbox(c), before + 1);
    client_reply(c, before, reply);
    assert_int_equal(reply->request_id, rid);
}

static void get_sync(cluster_t *c, uint32_t via, uint64_t rid, dyn_req_opts_t opts,
                     dyn_msg_t *reply)
{
    size_t before = inbox(c);
    inject_get(c, via, rid, opts);
    run(c);
    assert_int_equal(inbox(c), before + 1);
    client_reply(c, before, reply);
    assert_int_equal(reply->request_id, rid);
}

/*
 * A put (or delete) through coordinator a whose write to `missed` is lost: answered OK by the
 * other two, then the clock runs past the deadline so the coordinator forgets the request.
 */
static void put_missing_one(cluster_t *c, uint32_t a, uint32_t missed, uint64_t rid,
                            const char *value, const dyn_vclock_t *context, bool tombstone)
{
    size_t before = inbox(c);
    dyn_msg_t reply;
    inject_put(c, a, rid, value, context, DEFAULTS, tombstone);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_PUT));
    assert_int_equal(fake_net_drop(&c->net, a, missed, DYN_MSG_REPLICA_PUT), 1);
    run(c);
    client_reply(c, before, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
}

/* Decode what node `id` stores for KEY into out (values borrow the store); 0 if absent. */
static uint32_t stored(cluster_t *c, uint32_t id, dyn_siblings_t *out)
{
    dyn_storage_t s = dyn_mem_store_storage(c->stores[id - 1]);
    const uint8_t *blob;
    size_t length;
    dyn_siblings_init(out);
    int rc = s.ops->get(s.ctx, DYN_SPACE_DATA, (const uint8_t *)KEY, strlen(KEY), &blob, &length);
    if (rc == DYN_ENOTFOUND)
        return 0;
    assert_int_equal(rc, DYN_OK);
    assert_int_equal(dyn_codec_decode_siblings(blob, length, out), DYN_OK);
    return out->count;
}

/* A copy of the stored blob, to prove that something changed nothing. */
static size_t stored_bytes(cluster_t *c, uint32_t id, uint8_t *buf, size_t capacity)
{
    dyn_storage_t s = dyn_mem_store_storage(c->stores[id - 1]);
    const uint8_t *blob;
    size_t length;
    if (s.ops->get(s.ctx, DYN_SPACE_DATA, (const uint8_t *)KEY, strlen(KEY), &blob, &length) !=
        DYN_OK)
        return 0;
    assert_true(length <= capacity);
    memcpy(buf, blob, length);
    return length;
}

static bool has_value(const dyn_siblings_t *set, const char *value)
{
    for (uint32_t i = 0; i < set->count; i++)
        if (set->items[i].value_length == strlen(value) &&
            memcmp(set->items[i].value, value, strlen(value)) == 0)
            return true;
    return false;
}

static bool clocks_equal(const dyn_vclock_t *a, const dyn_vclock_t *b)
{
    return dyn_vclock_compare(a, b) == DYN_VC_EQUAL;
}

static bool dots_equal(const dyn_vclock_entry_t *a, const dyn_vclock_entry_t *b)
{
    return a->node == b->node && a->epoch == b->epoch && a->counter == b->counter;
}

static bool covers_dot(const dyn_vclock_t *vc, const dyn_vclock_entry_t *dot)
{
    return dyn_vclock_covers(vc, dot->node, dot->epoch, dot->counter);
}

/* The version holding `value` in a set, or NULL. */
static const dyn_version_t *find_value(const dyn_siblings_t *set, const char *value)
{
    for (uint32_t i = 0; i < set->count; i++)
        if (set->items[i].value_length == strlen(value) &&
            memcmp(set->items[i].value, value, strlen(value)) == 0)
            return &set->items[i];
    return NULL;
}

/* What a put reply's context must be: the write's past joined with its dot. */
static void past_plus_dot(const dyn_version_t *v, dyn_vclock_t *out)
{
    dyn_vclock_copy(out, &v->clock);
    dyn_vclock_t dot = {.count = 1, .entries = {v->dot}};
    dyn_vclock_merge(out, &dot, DYN_VCLOCK_MAX);
}

/* ---- tests ---------------------------------------------------------------------------- */

/* Start a standalone node over `store` with `seed`, and have it coordinate a get of KEY. */
static dyn_node_t *node_with_get(cluster_t *c, fake_env_t *env, dyn_mem_store_t *store,
                                 uint64_t seed, uint64_t *replica_request_id)
{
    dyn_node_config_t cfg;
    dyn_node_config_default(&cfg);
    cfg.id = c->pref[0];
    cfg.seed = seed;
    cfg.request_timeout_us = TIMEOUT_US;
    dyn_node_t *n = dyn_node_create(&cfg, c->ring, dyn_mem_store_storage(store),
                                    fake_env_iface(env));
    assert_non_null(n);
    dyn_msg_t get;
    dyn_msg_init(&get, DYN_MSG_CLIENT_GET);
    get.request_id = 1;
    get.key = (const uint8_t *)KEY;
    get.key_length = strlen(KEY);
    uint8_t buf[256];
    int len = dyn_codec_encode(&get, buf, sizeof buf);
    assert_true(len > 0);
    size_t before = fake_env_send_count(env);
    assert_int_equal(dyn_node_on_message(n, 0, CLIENT, buf, (size_t)len), DYN_OK);
    long at = fake_env_find(env, before, c->pref[1], DYN_MSG_REPLICA_GET);
    assert_true(at >= 0);
    dyn_msg_t sent;
    dyn_msg_init(&sent, DYN_MSG_REPLICA_GET);
    assert_int_equal(fake_env_decode(env, (size_t)at, &sent), DYN_OK);
    *replica_request_id = sent.request_id;
    dyn_msg_clear(&sent);
    return n;
}

/*
 * A reply to a request made before a restart must not be taken for one made after it: the
 * restarted node numbers its requests afresh (its PRNG is new with the incarnation), and the
 * stale reply is counted as stray. Before generations started at random, both incarnations'
 * first request had the same id, and an old reply for another key was merged into a new get.
 */
static void test_restart_does_not_reuse_request_ids(void **state)
{
    cluster_t *c = *state;
    fake_env_t env;
    fake_env_init(&env, c->pref[0]);
    dyn_mem_store_t *store = dyn_mem_store_create();
    uint64_t old_id, new_id;
    dyn_node_t *n = node_with_get(c, &env, store, 11, &old_id);
    dyn_node_destroy(n); /* a crash: the pending get is gone, its replies are in flight */
    n = node_with_get(c, &env, store, 12, &new_id);
    assert_int_not_equal(old_id, new_id);
    dyn_msg_t reply;
    dyn_msg_init(&reply, DYN_MSG_REPLICA_GET_REPLY);
    reply.request_id = old_id;
    uint8_t buf[64];
    int len = dyn_codec_encode(&reply, buf, sizeof buf);
    assert_true(len > 0);
    assert_int_equal(dyn_node_on_message(n, 1, c->pref[1], buf, (size_t)len), DYN_OK);
    assert_int_equal(dyn_node_stats(n)->stray_messages, 1);
    assert_int_equal(dyn_node_pending(n), 1); /* the new get still waits for its own answers */
    dyn_node_destroy(n);
    dyn_mem_store_destroy(store);
    fake_env_free(&env);
}

/*
 * Epoch 0 in the config means: a new epoch at every start, stored and synced before the node does
 * anything: one past the stored one, or a random one when the store has none. A restart on the
 * same store and one on a wiped store both come back under a new actor (KV679).
 */
static void test_epoch_persisted_and_renewed_after_wipe(void **state)
{
    cluster_t *c = *state;
    fake_env_t env;
    fake_env_init(&env, 9);
    dyn_mem_store_t *store = dyn_mem_store_create();
    dyn_node_config_t cfg;
    dyn_node_config_default(&cfg);
    cfg.id = 1;
    assert_int_equal(cfg.epoch, 0);
    cfg.seed = 77;
    dyn_node_t *n = dyn_node_create(&cfg, c->ring, dyn_mem_store_storage(store),
                                    fake_env_iface(&env));
    assert_non_null(n);
    uint32_t first = dyn_node_epoch(n);
    assert_int_not_equal(first, 0);
    assert_int_equal(dyn_mem_store_key_count(store, DYN_SPACE_META), 1);
    dyn_node_destroy(n);
    /* A restart on the intact store takes the next epoch, whatever its seed, and stores it. */
    cfg.seed = 78;
    n = dyn_node_create(&cfg, c->ring, dyn_mem_store_storage(store), fake_env_iface(&env));
    assert_int_equal(dyn_node_epoch(n), first == UINT32_MAX ? 1 : first + 1);
    dyn_node_destroy(n);
    n = dyn_node_create(&cfg, c->ring, dyn_mem_store_storage(store), fake_env_iface(&env));
    assert_int_equal(dyn_node_epoch(n), first + 2);
    dyn_node_destroy(n);
    /* Disk lost: a new epoch (the host gives each incarnation its own seed). */
    dyn_mem_store_wipe(store);
    cfg.seed = 79;
    n = dyn_node_create(&cfg, c->ring, dyn_mem_store_storage(store), fake_env_iface(&env));
    assert_int_not_equal(dyn_node_epoch(n), 0);
    assert_int_not_equal(dyn_node_epoch(n), first);
    dyn_node_destroy(n);
    /* A pinned epoch is used as given and not stored. */
    dyn_mem_store_wipe(store);
    cfg.epoch = 5;
    n = dyn_node_create(&cfg, c->ring, dyn_mem_store_storage(store), fake_env_iface(&env));
    assert_int_equal(dyn_node_epoch(n), 5);
    assert_int_equal(dyn_mem_store_key_count(store, DYN_SPACE_META), 0);
    dyn_node_destroy(n);
    dyn_mem_store_destroy(store);
    fake_env_free(&env);
}

static void test_create_rejects_invalid_config(void **state)
{
    cluster_t *c = *state;
    fake_env_t env;
    fake_env_init(&env, 9);
    dyn_mem_store_t *store = dyn_mem_store_create();
    dyn_node_config_t good;
    dyn_node_config_default(&good);
    good.id = 1;
    good.epoch = 1;
    dyn_node_t *n = dyn_node_create(&good, c->ring, dyn_mem_store_storage(store),
                                    fake_env_iface(&env));
    assert_non_null(n);
    dyn_node_destroy(n);
    for (int i = 0; i < 9; i++) {
        dyn_node_config_t bad = good;
        switch (i) {
        case 0: bad.id = 0; break;
        case 1: bad.r = 0; break;
        case 2: bad.n = 0; break;
        case 3: bad.n = DYN_N_MAX + 1; break;
        case 4: bad.r = 4; break; /* r > n */
        case 5: bad.w = 0; break;
        case 6: bad.vclock_threshold = DYN_VCLOCK_MAX + 1; break;
        case 7: bad.siblings_max = DYN_SIBLINGS_MAX + 1; break;
        case 8: bad.requests_pending_max = 0; break;
        }
        assert_null(dyn_node_create(&bad, c->ring, dyn_mem_store_storage(store),
                                    fake_env_iface(&env)));
    }
    /* Nothing was sent or armed by the nodes that were created and destroyed. */
    assert_int_equal(fake_env_send_count(&env), 0);
    dyn_mem_store_destroy(store);
    fake_env_free(&env);
}

/* A coordinated put: local write, N-1 replica writes, the answer exactly when W acks are in. */
static void test_put_replicates_and_answers_after_w(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2];
    inject_put(c, a, 77, "v1", NULL, DEFAULTS, false);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_PUT));
    assert_int_equal(c->net.last_status, DYN_OK);

    /* Written locally before anything else, named by a dot of the coordinator's own actor; a
     * blind put (no context) has an empty past. */
    dyn_siblings_t local;
    assert_int_equal(stored(c, a, &local), 1);
    const dyn_vclock_entry_t dot = local.items[0].dot;
    const dyn_vclock_t past = local.items[0].clock;
    assert_int_equal(dot.node, a);
    assert_int_equal(dot.epoch, 1);
    assert_int_equal(dot.counter, 1);
    assert_int_equal(dot.timestamp_us, local.items[0].timestamp_us);
    assert_int_equal(past.count, 0);
    assert_true(has_value(&local, "v1"));
    dyn_siblings_clear(&local);

    /* One REPLICA_PUT to each other replica, none to nodes outside the preference list. */
    assert_int_equal(fake_net_queued(&c->net), 2);
    assert_int_equal(fake_net_count(&c->net, a, b, DYN_MSG_REPLICA_PUT), 1);
    assert_int_equal(fake_net_count(&c->net, a, r3, DYN_MSG_REPLICA_PUT), 1);
    dyn_msg_t rp;
    dyn_msg_init(&rp, DYN_MSG_REPLICA_PUT);
    const fake_msg_t *q = fake_net_peek(&c->net, (size_t)fake_net_find(&c->net, a, b, 0));
    assert_int_equal(dyn_codec_decode(q->bytes, q->length, &rp), DYN_OK);
    assert_true(dots_equal(&rp.version.dot, &dot));
    assert_true(clocks_equal(&rp.version.clock, &past));
    assert_int_equal(rp.version.value_length, 2);
    assert_memory_equal(rp.version.value, "v1", 2);
    assert_int_equal(rp.version.flags, 0);
    dyn_msg_clear(&rp);

    /* One ack (its own) of W=2: no answer yet, one request timer armed at now + timeout. */
    assert_int_equal(inbox(c), 0);
    assert_int_equal(fake_env_count(env_of(c, a), CLIENT, 0), 0);
    fake_timer_t timers[4];
    assert_int_equal(fake_env_live_timers(env_of(c, a), timers, 4), 1);
    assert_int_equal(timers[0].deadline_us, c->net.now_us + TIMEOUT_US);

    assert_true(fake_net_deliver_first(&c->net, a, b, DYN_MSG_REPLICA_PUT));
    dyn_siblings_t at_b;
    assert_int_equal(stored(c, b, &at_b), 1);
    assert_true(dots_equal(&at_b.items[0].dot, &dot));
    assert_true(clocks_equal(&at_b.items[0].clock, &past));
    dyn_siblings_clear(&at_b);
    assert_int_equal(inbox(c), 0);
    assert_int_equal(fake_env_count(env_of(c, a), CLIENT, 0), 0);

    /* The second ack completes the quorum. */
    assert_true(fake_net_deliver_first(&c->net, b, a, DYN_MSG_REPLICA_PUT_REPLY));
    assert_int_equal(fake_env_count(env_of(c, a), CLIENT, DYN_MSG_CLIENT_REPLY), 1);
    assert_true(fake_net_deliver_first(&c->net, a, CLIENT, DYN_MSG_CLIENT_REPLY));
    dyn_msg_t reply;
    client_reply(c, 0, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_int_equal(reply.request_id, 77);
    assert_int_equal(reply.coordinator, a);
    /* The reply's context is the past plus the dot: here exactly {a:1}. */
    assert_int_equal(reply.context.count, 1);
    assert_true(covers_dot(&reply.context, &dot));
    assert_int_equal(dyn_vclock_get(&reply.context, a, 1), 1);
    assert_int_equal(reply.siblings.count, 0);
    dyn_msg_clear(&reply);

    /* The third replica is still owed an answer: the request stays pending with its timer. */
    assert_int_equal(dyn_node_pending(node_of(c, a)), 1);
    assert_int_equal(fake_env_live_timer_count(env_of(c, a)), 1);
    run(c);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);
    assert_int_equal(fake_env_live_timer_count(env_of(c, a)), 0);
    assert_true(env_of(c, a)->timers[0].cancelled);
    assert_int_equal(inbox(c), 1); /* the last ack sends nothing more */

    dyn_siblings_t at_c;
    assert_int_equal(stored(c, r3, &at_c), 1);
    dyn_siblings_clear(&at_c);
    assert_int_equal(stats_of(c, a)->puts_coordinated, 1);
    assert_int_equal(stats_of(c, a)->replies_ok, 1);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(stats_of(c, c->pref[i])->replica_writes, 1);
    for (uint32_t i = 3; i < NODE_COUNT; i++) {
        assert_int_equal(stats_of(c, c->pref[i])->replica_writes, 0);
        assert_int_equal(fake_env_send_count(env_of(c, c->pref[i])), 0);
    }
    assert_int_equal(stats_of(c, a)->stray_messages, 0);
    assert_int_equal(stats_of(c, a)->timeouts, 0);
    assert_int_equal(stats_of(c, a)->replicas_late, 0); /* the third answered before the deadline */
    assert_int_equal(fake_env_trace_count(env_of(c, a), DYN_TRACE_REQUEST_START), 1);
    assert_int_equal(fake_env_trace_count(env_of(c, a), DYN_TRACE_REQUEST_DONE), 1);
}

/* Concurrent versions on two replicas come back as two siblings; a put with the context merges. */
static void test_get_returns_siblings_and_context_merges(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2];
    const dyn_req_opts_t w1 = {.w = 1};
    dyn_msg_t reply;

    /* Two blind writes through different coordinators, each kept only locally (W=1). */
    inject_put(c, a, 1, "left", NULL, w1, false);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_PUT));
    assert_int_equal(fake_net_drop(&c->net, a, 0, DYN_MSG_REPLICA_PUT), 2);
    inject_put(c, b, 2, "right", NULL, w1, false);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, b, DYN_MSG_CLIENT_PUT));
    assert_int_equal(fake_net_drop(&c->net, b, 0, DYN_MSG_REPLICA_PUT), 2);
    run(c);
    assert_int_equal(inbox(c), 2);
    for (size_t i = 0; i < 2; i++) {
        client_reply(c, i, &reply);
        assert_int_equal(reply.status, DYN_OK);
        dyn_msg_clear(&reply);
    }
    /* Their replicas never answer; the deadline frees both requests without a second answer.
     * Both were answered, so the silent replicas count as late, not as timeouts. */
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
    assert_int_equal(inbox(c), 2);
    assert_int_equal(dyn_node_pending(node_of(c, a)) + dyn_node_pending(node_of(c, b)), 0);
    assert_int_equal(stats_of(c, a)->timeouts + stats_of(c, b)->timeouts, 0);
    assert_int_equal(stats_of(c, a)->replicas_late, 2);
    assert_int_equal(stats_of(c, b)->replicas_late, 2);

    /* Two blind writes: distinct dots, empty pasts, neither superseding the other. */
    dyn_siblings_t sa, sb, sc;
    assert_int_equal(stored(c, a, &sa), 1);
    assert_int_equal(stored(c, b, &sb), 1);
    assert_int_equal(stored(c, r3, &sc), 0);
    const dyn_version_t va = sa.items[0], vb = sb.items[0];
    assert_int_equal(va.dot.node, a);
    assert_int_equal(vb.dot.node, b);
    assert_int_equal(va.clock.count + vb.clock.count, 0);
    assert_false(dyn_version_supersedes(&va, &vb));
    assert_false(dyn_version_supersedes(&vb, &va));
    dyn_siblings_clear(&sa);
    dyn_siblings_clear(&sb);

    /* R=2: the local read is one answer; the client waits for one replica more. */
    inject_get(c, a, 3, DEFAULTS);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_GET));
    assert_int_equal(fake_net_count(&c->net, a, b, DYN_MSG_REPLICA_GET), 1);
    assert_int_equal(fake_net_count(&c->net, a, r3, DYN_MSG_REPLICA_GET), 1);
    assert_int_equal(fake_net_queued(&c->net), 2);
    /* a has answered one client so far (the W=1 put). */
    assert_true(fake_net_deliver_first(&c->net, a, b, DYN_MSG_REPLICA_GET));
    assert_int_equal(fake_env_count(env_of(c, a), CLIENT, 0), 1);
    assert_true(fake_net_deliver_first(&c->net, b, a, DYN_MSG_REPLICA_GET_REPLY));
    assert_int_equal(fake_env_count(env_of(c, a), CLIENT, 0), 2);
    assert_true(fake_net_deliver_first(&c->net, a, CLIENT, DYN_MSG_CLIENT_REPLY));
    client_reply(c, 2, &reply);
    assert_int_equal(reply.request_id, 3);
    assert_int_equal(reply.status, DYN_OK);
    assert_int_equal(reply.siblings.count, 2);
    assert_true(has_value(&reply.siblings, "left"));
    assert_true(has_value(&reply.siblings, "right"));
    /* Siblings in dot order, and a context that covers both dots. */
    assert_true(dyn_version_order(&reply.siblings.items[0], &reply.siblings.items[1]) < 0);
    assert_true(covers_dot(&reply.context, &va.dot));
    assert_true(covers_dot(&reply.context, &vb.dot));
    assert_int_equal(reply.context.count, 2);
    dyn_vclock_t context = reply.context;
    dyn_msg_clear(&reply);

    /* The late third answer (an empty replica) is expected, not stray, and changes nothing. */
    run(c);
    assert_int_equal(inbox(c), 3);
    assert_int_equal(stats_of(c, a)->stray_messages, 0);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);

    /* A put carrying that context supersedes both siblings on every replica. */
    put_sync(c, a, 4, "merged", &context, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_true(dyn_vclock_descends(&reply.context, &context));
    assert_int_not_equal(dyn_vclock_compare(&reply.context, &context), DYN_VC_EQUAL);
    dyn_vclock_t merged_ctx = reply.context;
    dyn_msg_clear(&reply);
    for (uint32_t i = 0; i < 3; i++) {
        dyn_siblings_t s;
        assert_int_equal(stored(c, c->pref[i], &s), 1);
        assert_true(has_value(&s, "merged"));
        /* Its past is the context; its dot a's next event, above a's earlier dot. */
        assert_true(clocks_equal(&s.items[0].clock, &context));
        assert_int_equal(s.items[0].dot.node, a);
        assert_int_equal(s.items[0].dot.counter, 2);
        dyn_vclock_t expect;
        past_plus_dot(&s.items[0], &expect);
        assert_true(clocks_equal(&merged_ctx, &expect));
        dyn_siblings_clear(&s);
    }
    get_sync(c, b, 5, DEFAULTS, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_int_equal(reply.siblings.count, 1);
    assert_true(has_value(&reply.siblings, "merged"));
    dyn_msg_clear(&reply);
}

static bool in_top_n(const cluster_t *c, uint32_t id)
{
    return id == c->pref[0] || id == c->pref[1] || id == c->pref[2];
}

/*
 * A node outside the preference list forwards once, to one of the top N (node.c picks one at
 * random to spread coordination), and relays the answer under the client's request id.
 */
static void test_forward_and_relay(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], d = c->pref[3], e = c->pref[4];
    dyn_msg_t reply;
    put_sync(c, a, 1, "v", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);

    inject_get(c, d, 555, (dyn_req_opts_t){.r = 2});
    assert_true(fake_net_deliver_first(&c->net, CLIENT, d, DYN_MSG_CLIENT_GET));
    /* Exactly one datagram: the request, flagged, to a node of the preference list. */
    assert_int_equal(fake_net_queued(&c->net), 1);
    assert_int_equal(fake_env_send_count(env_of(c, d)), 1);
    dyn_msg_t fwd;
    dyn_msg_init(&fwd, DYN_MSG_CLIENT_GET);
    assert_int_equal(fake_env_decode(env_of(c, d), 0, &fwd), DYN_OK);
    const uint32_t coord = fake_env_send_at(env_of(c, d), 0)->to;
    assert_true(in_top_n(c, coord));
    assert_int_not_equal(fwd.request_id, 555); /* d's own id, mapped back on the way out */
    assert_int_equal(fwd.type, DYN_MSG_CLIENT_GET);
    assert_true(fwd.opts.flags & DYN_REQ_FORWARDED);
    assert_int_equal(fwd.opts.r, 2);
    assert_int_equal(fwd.key_length, strlen(KEY));
    assert_memory_equal(fwd.key, KEY, strlen(KEY));
    dyn_msg_clear(&fwd);
    assert_int_equal(stats_of(c, d)->forwarded, 1);
    assert_int_equal(stats_of(c, d)->gets_coordinated, 0);
    assert_int_equal(fake_env_trace_count(env_of(c, d), DYN_TRACE_FORWARD), 1);
    assert_int_equal(dyn_node_pending(node_of(c, d)), 1);

    run(c);
    assert_int_equal(inbox(c), 2);
    client_reply(c, 1, &reply);
    assert_int_equal(reply.request_id, 555);
    assert_int_equal(reply.status, DYN_OK);
    assert_int_equal(reply.coordinator, coord);
    assert_int_equal(reply.siblings.count, 1);
    assert_true(has_value(&reply.siblings, "v"));
    dyn_vclock_t ctx = reply.context;
    dyn_msg_clear(&reply);
    /* The relay came from d, and d is done with it. */
    assert_int_equal(fake_net_inbox_at(&c->net, CLIENT, 1)->from, d);
    assert_int_equal(dyn_node_pending(node_of(c, d)), 0);
    assert_int_equal(fake_env_live_timer_count(env_of(c, d)), 0);
    assert_int_equal(stats_of(c, coord)->gets_coordinated, 1);
    assert_int_equal(stats_of(c, coord)->forwarded, 0);

    /* A put through d is forwarded the same way and written by a replica. */
    put_sync(c, d, 556, "w", &ctx, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_true(in_top_n(c, reply.coordinator));
    dyn_msg_clear(&reply);
    assert_int_equal(stats_of(c, d)->forwarded, 2);
    uint64_t puts = 0;
    for (uint32_t i = 0; i < NODE_COUNT; i++)
        puts += stats_of(c, c->pref[i])->puts_coordinated;
    assert_int_equal(puts, 2);
    assert_int_equal(stats_of(c, d)->puts_coordinated, 0);
    assert_int_equal(dyn_mem_store_key_count(c->stores[d - 1], DYN_SPACE_DATA), 0);

    /* Whichever replica is picked, forwards only ever go to the top N, never to e. */
    for (uint64_t id = 700; id < 740; id++) {
        inject_get(c, d, id, DEFAULTS);
        assert_true(fake_net_deliver_first(&c->net, CLIENT, d, 0));
        long i = fake_net_find(&c->net, d, 0, DYN_MSG_CLIENT_GET);
        assert_true(i >= 0);
        assert_true(in_top_n(c, fake_net_peek(&c->net, (size_t)i)->to));
        run(c);
        client_reply(c, inbox(c) - 1, &reply);
        assert_int_equal(reply.request_id, id);
        assert_int_equal(reply.status, DYN_OK);
        dyn_msg_clear(&reply);
    }
    assert_int_equal(stats_of(c, d)->forwarded, 42);
    (void)a;

    /* Already forwarded: e coordinates itself (no local replica) instead of forwarding again. */
    size_t e_sends = fake_env_send_count(env_of(c, e));
    inject_get(c, e, 600, (dyn_req_opts_t){.flags = DYN_REQ_FORWARDED});
    assert_true(fake_net_deliver_first(&c->net, CLIENT, e, DYN_MSG_CLIENT_GET));
    assert_int_equal(fake_env_count(env_of(c, e), 0, DYN_MSG_CLIENT_GET), 0);
    assert_int_equal(fake_env_send_count(env_of(c, e)) - e_sends, 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(fake_net_count(&c->net, e, c->pref[i], DYN_MSG_REPLICA_GET), 1);
    assert_int_equal(stats_of(c, e)->forwarded, 0);
    assert_int_equal(stats_of(c, e)->gets_coordinated, 1);
    run(c);
    client_reply(c, inbox(c) - 1, &reply);
    assert_int_equal(reply.request_id, 600);
    assert_int_equal(reply.coordinator, e);
    assert_int_equal(reply.status, DYN_OK);
    assert_int_equal(reply.siblings.count, 1);
    assert_true(has_value(&reply.siblings, "w"));
    dyn_msg_clear(&reply);
    /* A forwarded put reaching e is refused instead: test_forwarded_put_at_non_replica_refused. */
}

/*
 * A forwarded put that reaches a node outside the key's preference list (the rings disagree) is
 * refused with DYN_EMOVED (the client retries): without the key's history that node cannot prove a dot of its own
 * unique. Nothing is sent to replicas, stored, armed or left pending, and a forwarded delete is
 * refused alike; a forwarded get is still coordinated (test_forward_and_relay).
 */
static void test_forwarded_put_at_non_replica_refused(void **state)
{
    cluster_t *c = *state;
    const uint32_t e = c->pref[4];
    dyn_msg_t reply;
    put_sync(c, c->pref[0], 1, "v", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_vclock_t ctx = reply.context;
    dyn_msg_clear(&reply);
    uint8_t before[3][512];
    size_t before_len[3];
    for (uint32_t k = 0; k < 3; k++)
        before_len[k] = stored_bytes(c, c->pref[k], before[k], sizeof(before[k]));

    const dyn_req_opts_t forwarded = {.flags = DYN_REQ_FORWARDED};
    for (int tombstone = 0; tombstone < 2; tombstone++) {
        size_t sends = fake_env_send_count(env_of(c, e));
        size_t timers = env_of(c, e)->timer_count;
        uint64_t failed = stats_of(c, e)->replies_failed;
        put_sync(c, e, 601 + (uint64_t)tombstone, tombstone ? NULL : "x", tombstone ? &ctx : NULL,
                 forwarded, tombstone, &reply);
        assert_int_equal(reply.status, DYN_EMOVED);
        assert_int_equal(reply.coordinator, e);
        assert_int_equal(reply.context.count, 0);
        assert_int_equal(reply.siblings.count, 0);
        dyn_msg_clear(&reply);
        /* Just the answer: no REPLICA_PUT, no timer, no pending request. */
        assert_int_equal(fake_env_send_count(env_of(c, e)) - sends, 1);
        assert_int_equal(fake_env_count(env_of(c, e), 0, DYN_MSG_REPLICA_PUT), 0);
        assert_int_equal(env_of(c, e)->timer_count, timers);
        assert_int_equal(dyn_node_pending(node_of(c, e)), 0);
        assert_int_equal(stats_of(c, e)->replies_failed, failed + 1);
    }
    assert_int_equal(stats_of(c, e)->puts_coordinated, 0);
    assert_int_equal(stats_of(c, e)->forwarded, 0);
    assert_int_equal(stats_of(c, e)->replica_writes, 0);
    assert_int_equal(dyn_mem_store_key_count(c->stores[e - 1], DYN_SPACE_DATA), 0);
    for (uint32_t k = 0; k < 3; k++) {
        uint8_t after[512];
        assert_int_equal(stored_bytes(c, c->pref[k], after, sizeof(after)), before_len[k]);
        assert_memory_equal(before[k], after, before_len[k]);
    }
    /* The same put not flagged as forwarded is forwarded to a replica and succeeds. */
    put_sync(c, e, 603, "x", &ctx, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_true(in_top_n(c, reply.coordinator));
    dyn_msg_clear(&reply);
    assert_int_equal(stats_of(c, e)->forwarded, 1);
    get_sync(c, c->pref[1], 604, DEFAULTS, &reply);
    assert_int_equal(reply.siblings.count, 1);
    assert_true(has_value(&reply.siblings, "x"));
    dyn_msg_clear(&reply);
}

/* Replicas that never answer: the deadline answers DYN_ETIMEDOUT; late replies are stray. */
static void test_timeout_and_stray_replies(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2], d = c->pref[3];
    fake_net_set_down(&c->net, b, true);
    fake_net_set_down(&c->net, r3, true);
    const dyn_time_us t0 = c->net.now_us;
    inject_put(c, a, 9, "v", NULL, DEFAULTS, false);
    run(c);
    assert_int_equal(c->net.dropped, 2);
    assert_int_equal(inbox(c), 0);
    uint64_t op_id = sent_request_id(c, a, b, DYN_MSG_REPLICA_PUT);

    fake_net_advance(&c->net, t0 + TIMEOUT_US - 1);
    run(c);
    assert_int_equal(inbox(c), 0);
    assert_int_equal(fake_net_advance(&c->net, t0 + TIMEOUT_US), 1);
    run(c);
    assert_int_equal(inbox(c), 1);
    dyn_msg_t reply;
    client_reply(c, 0, &reply);
    assert_int_equal(reply.request_id, 9);
    assert_int_equal(reply.status, DYN_ETIMEDOUT);
    assert_int_equal(reply.coordinator, a);
    dyn_msg_clear(&reply);
    assert_int_equal(stats_of(c, a)->timeouts, 1);
    /* Unanswered until the deadline: a timeout, not late replicas. */
    assert_int_equal(stats_of(c, a)->replicas_late, 0);
    assert_int_equal(stats_of(c, a)->replies_failed, 1);
    assert_int_equal(stats_of(c, a)->replies_ok, 0);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);

    /* Late acks for the finished request: counted as stray, nothing answered, nothing stored. */
    uint8_t before[512], after[512];
    size_t before_len = stored_bytes(c, a, before, sizeof(before));
    assert_true(before_len > 0);
    inject_replica_reply(c, b, a, DYN_MSG_REPLICA_PUT_REPLY, op_id, DYN_OK);
    inject_replica_reply(c, r3, a, DYN_MSG_REPLICA_PUT_REPLY, op_id, DYN_OK);
    run(c);
    assert_int_equal(stats_of(c, a)->stray_messages, 2);
    assert_int_equal(inbox(c), 1);
    assert_int_equal(stored_bytes(c, a, after, sizeof(after)), before_len);
    assert_memory_equal(before, after, before_len);
    assert_int_equal(stats_of(c, a)->replies_ok + stats_of(c, a)->replies_failed, 1);

    /* After a normal completion too: a duplicate ack, a reply from a non-target, a reply of the
     * wrong kind and an unknown client reply are all stray. */
    fake_net_set_down(&c->net, b, false);
    fake_net_set_down(&c->net, r3, false);
    fake_env_clear_sends(env_of(c, a));
    put_sync(c, a, 10, "v2", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    uint64_t done_id = sent_request_id(c, a, b, DYN_MSG_REPLICA_PUT);
    uint64_t stray0 = stats_of(c, a)->stray_messages;
    size_t sends0 = fake_env_send_count(env_of(c, a));
    inject_replica_reply(c, b, a, DYN_MSG_REPLICA_PUT_REPLY, done_id, DYN_OK);
    inject_replica_reply(c, d, a, DYN_MSG_REPLICA_PUT_REPLY, done_id, DYN_OK);
    inject_replica_reply(c, b, a, DYN_MSG_REPLICA_GET_REPLY, done_id, DYN_OK);
    inject_replica_reply(c, b, a, DYN_MSG_CLIENT_REPLY, 123456, DYN_OK);
    run(c);
    assert_int_equal(stats_of(c, a)->stray_messages - stray0, 4);
    assert_int_equal(fake_env_send_count(env_of(c, a)), sends0);

    /* While a request is live, a reply from a node that was not asked is stray and not counted
     * towards the quorum. */
    inject_put(c, a, 11, "v3", NULL, (dyn_req_opts_t){.w = 3}, false);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_PUT));
    uint64_t live_id = 0;
    {
        dyn_msg_t m;
        dyn_msg_init(&m, DYN_MSG_REPLICA_PUT);
        const fake_msg_t *q = fake_net_peek(&c->net, (size_t)fake_net_find(&c->net, a, b, 0));
        assert_int_equal(dyn_codec_decode(q->bytes, q->length, &m), DYN_OK);
        live_id = m.request_id;
        dyn_msg_clear(&m);
    }
    stray0 = stats_of(c, a)->stray_messages;
    inject_replica_reply(c, d, a, DYN_MSG_REPLICA_PUT_REPLY, live_id, DYN_OK);
    inject_replica_reply(c, c->pref[4], a, DYN_MSG_REPLICA_PUT_REPLY, live_id, DYN_OK);
    assert_true(fake_net_deliver_first(&c->net, d, a, 0));
    assert_true(fake_net_deliver_first(&c->net, c->pref[4], a, 0));
    /* A replica's answer of the wrong kind does not use up its one answer either. */
    inject_replica_reply(c, b, a, DYN_MSG_REPLICA_GET_REPLY, live_id, DYN_OK);
    assert_true(fake_net_deliver_first(&c->net, b, a, DYN_MSG_REPLICA_GET_REPLY));
    assert_int_equal(stats_of(c, a)->stray_messages - stray0, 3);
    assert_int_equal(fake_net_count(&c->net, a, CLIENT, 0), 0); /* W=3 not reached by strays */
    run(c);
    client_reply(c, inbox(c) - 1, &reply);
    assert_int_equal(reply.request_id, 11);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
}

/* Replica errors beyond N-W (or N-R) end the request with DYN_ENOQUORUM. */
static void test_failed_quorum(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2];
    dyn_msg_t reply;

    inject_put(c, a, 20, "v", NULL, DEFAULTS, false);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_PUT));
    uint64_t id = sent_request_id(c, a, b, DYN_MSG_REPLICA_PUT);
    assert_int_equal(fake_net_drop(&c->net, a, 0, DYN_MSG_REPLICA_PUT), 2);
    /* One failure of N-W=1 allowed: still undecided. */
    inject_replica_reply(c, b, a, DYN_MSG_REPLICA_PUT_REPLY, id, DYN_ENOMEM);
    run(c);
    assert_int_equal(inbox(c), 0);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 1);
    inject_replica_reply(c, r3, a, DYN_MSG_REPLICA_PUT_REPLY, id, DYN_EFULL);
    run(c);
    assert_int_equal(inbox(c), 1);
    client_reply(c, 0, &reply);
    assert_int_equal(reply.request_id, 20);
    assert_int_equal(reply.status, DYN_ENOQUORUM);
    dyn_msg_clear(&reply);
    assert_int_equal(stats_of(c, a)->replies_failed, 1);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);
    assert_int_equal(fake_env_live_timer_count(env_of(c, a)), 0);

    /* A get with R=2 whose two remote replicas fail. */
    fake_env_clear_sends(env_of(c, a));
    inject_get(c, a, 21, DEFAULTS);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_GET));
    id = sent_request_id(c, a, b, DYN_MSG_REPLICA_GET);
    assert_int_equal(fake_net_drop(&c->net, a, 0, DYN_MSG_REPLICA_GET), 2);
    inject_replica_reply(c, b, a, DYN_MSG_REPLICA_GET_REPLY, id, DYN_ENOMEM);
    run(c);
    assert_int_equal(inbox(c), 1);
    inject_replica_reply(c, r3, a, DYN_MSG_REPLICA_GET_REPLY, id, DYN_ENOMEM);
    run(c);
    assert_int_equal(inbox(c), 2);
    client_reply(c, 1, &reply);
    assert_int_equal(reply.request_id, 21);
    assert_int_equal(reply.status, DYN_ENOQUORUM);
    dyn_msg_clear(&reply);

    /* R=3 tolerates no failure: the first error decides at once. */
    fake_env_clear_sends(env_of(c, a));
    inject_get(c, a, 22, (dyn_req_opts_t){.r = 3});
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_GET));
    id = sent_request_id(c, a, b, DYN_MSG_REPLICA_GET);
    assert_int_equal(fake_net_drop(&c->net, a, 0, DYN_MSG_REPLICA_GET), 2);
    inject_replica_reply(c, b, a, DYN_MSG_REPLICA_GET_REPLY, id, DYN_ENOMEM);
    run(c);
    assert_int_equal(inbox(c), 3);
    client_reply(c, 2, &reply);
    assert_int_equal(reply.request_id, 22);
    assert_int_equal(reply.status, DYN_ENOQUORUM);
    dyn_msg_clear(&reply);
    /* c's answer, when it comes, closes the request without a second reply. */
    assert_int_equal(dyn_node_pending(node_of(c, a)), 1);
    inject_replica_reply(c, r3, a, DYN_MSG_REPLICA_GET_REPLY, id, DYN_OK);
    run(c);
    assert_int_equal(inbox(c), 3);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);
}

/* Per-request N, R and W override the cluster defaults, and impossible ones are refused. */
static void test_request_overrides(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], e = c->pref[4];
    dyn_msg_t reply;
    put_sync(c, a, 1, "v", NULL, DEFAULTS, false, &reply);
    dyn_msg_clear(&reply);

    /* R=1 at a replica: the local read is the first answer, so the reply leaves at once. */
    inject_get(c, a, 30, (dyn_req_opts_t){.r = 1});
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_GET));
    assert_int_equal(fake_net_count(&c->net, a, CLIENT, DYN_MSG_CLIENT_REPLY), 1);
    assert_int_equal(fake_net_count(&c->net, a, 0, DYN_MSG_REPLICA_GET), 2);
    run(c);
    client_reply(c, inbox(c) - 1, &reply);
    assert_int_equal(reply.request_id, 30);
    assert_true(has_value(&reply.siblings, "v"));
    dyn_msg_clear(&reply);

    /* R=1 at a non-replica (forwarded) coordinator: the reply follows the first replica answer. */
    inject_get(c, e, 31, (dyn_req_opts_t){.r = 1, .flags = DYN_REQ_FORWARDED});
    assert_true(fake_net_deliver_first(&c->net, CLIENT, e, DYN_MSG_CLIENT_GET));
    assert_int_equal(fake_net_count(&c->net, e, 0, DYN_MSG_REPLICA_GET), 3);
    assert_int_equal(fake_net_count(&c->net, e, CLIENT, 0), 0);
    assert_true(fake_net_deliver_first(&c->net, e, b, DYN_MSG_REPLICA_GET));
    assert_true(fake_net_deliver_first(&c->net, b, e, DYN_MSG_REPLICA_GET_REPLY));
    assert_int_equal(fake_net_count(&c->net, e, CLIENT, DYN_MSG_CLIENT_REPLY), 1);
    run(c);
    client_reply(c, inbox(c) - 1, &reply);
    assert_int_equal(reply.request_id, 31);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);

    /* W=3: two acks are not enough. */
    inject_put(c, a, 32, "w3", NULL, (dyn_req_opts_t){.w = 3}, false);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_PUT));
    assert_true(fake_net_deliver_first(&c->net, a, b, DYN_MSG_REPLICA_PUT));
    assert_true(fake_net_deliver_first(&c->net, b, a, DYN_MSG_REPLICA_PUT_REPLY));
    assert_int_equal(fake_net_count(&c->net, a, CLIENT, 0), 0);
    run(c);
    client_reply(c, inbox(c) - 1, &reply);
    assert_int_equal(reply.request_id, 32);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);

    /* N=1, W=1 at the first replica: done locally, no replica traffic, no timer left behind. */
    size_t sends = fake_env_send_count(env_of(c, a));
    put_sync(c, a, 33, "n1", NULL, (dyn_req_opts_t){.n = 1, .w = 1}, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    assert_int_equal(fake_env_send_count(env_of(c, a)) - sends, 1); /* just the reply */
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);
    assert_int_equal(fake_env_live_timer_count(env_of(c, a)), 0);

    /* Impossible quorums: refused before anything is sent to replicas or armed. */
    const struct {
        dyn_req_opts_t opts;
        bool is_get;
        int status;
    } bad[] = {
        {{.n = 2, .r = 3}, true, DYN_EINVAL},        /* R > N */
        {{.n = 2, .w = 3}, false, DYN_EINVAL},       /* W > N */
        {{.r = 4}, true, DYN_EINVAL},                /* R > default N */
        {{.n = 1}, false, DYN_EINVAL},               /* default W=2 > N=1 */
        {{.n = DYN_N_MAX + 1, .r = 1}, true, DYN_EINVAL},
        {{.n = 6, .r = 1}, true, DYN_EUNAVAIL},      /* more replicas than nodes */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t timers = env_of(c, a)->timer_count;
        sends = fake_env_send_count(env_of(c, a));
        if (bad[i].is_get)
            inject_get(c, a, 40 + i, bad[i].opts);
        else
            inject_put(c, a, 40 + i, "x", NULL, bad[i].opts, false);
        run(c);
        assert_int_equal(fake_env_send_count(env_of(c, a)) - sends, 1);
        assert_int_equal(env_of(c, a)->timer_count, timers);
        client_reply(c, inbox(c) - 1, &reply);
        assert_int_equal(reply.request_id, 40 + i);
        assert_int_equal(reply.status, bad[i].status);
        dyn_msg_clear(&reply);
    }
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);
}

/* Delete writes a tombstone; replaying a superseded version is stale and changes nothing. */
static void test_delete_tombstone_and_stale_writes(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1];
    dyn_msg_t reply;
    put_sync(c, a, 1, "v1", NULL, DEFAULTS, false, &reply);
    dyn_vclock_t ctx1 = reply.context;
    dyn_msg_clear(&reply);
    /* Keep v1's REPLICA_PUT to replay it after the delete. */
    long i = fake_env_find(env_of(c, a), 0, b, DYN_MSG_REPLICA_PUT);
    assert_true(i >= 0);
    const fake_msg_t *orig = fake_env_send_at(env_of(c, a), (size_t)i);
    uint8_t *v1_put = malloc(orig->length);
    assert_non_null(v1_put);
    memcpy(v1_put, orig->bytes, orig->length);
    size_t v1_put_length = orig->length;

    put_sync(c, a, 2, NULL, &ctx1, DEFAULTS, true, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_vclock_t ctx2 = reply.context;
    assert_int_equal(dyn_vclock_compare(&ctx2, &ctx1), DYN_VC_AFTER);
    dyn_msg_clear(&reply);
    for (uint32_t k = 0; k < 3; k++) {
        dyn_siblings_t s;
        assert_int_equal(stored(c, c->pref[k], &s), 1);
        assert_true(s.items[0].flags & DYN_VERSION_TOMBSTONE);
        assert_int_equal(s.items[0].value_length, 0);
        dyn_siblings_clear(&s);
    }

    /* Not found, but with a context that covers the tombstone, so a later put supersedes it. */
    get_sync(c, a, 3, DEFAULTS, &reply);
    assert_int_equal(reply.status, DYN_ENOTFOUND);
    assert_int_equal(reply.siblings.count, 0);
    assert_true(reply.context.count > 0);
    assert_true(dyn_vclock_descends(&reply.context, &ctx2));
    dyn_msg_clear(&reply);

    /* The old version arrives again at b: dominated by the tombstone, so a stale write. */
    uint8_t before[512], after[512];
    size_t before_len = stored_bytes(c, b, before, sizeof(before));
    uint64_t stale0 = stats_of(c, b)->stale_writes;
    fake_net_inject(&c->net, a, b, v1_put, v1_put_length);
    assert_true(fake_net_deliver_first(&c->net, a, b, DYN_MSG_REPLICA_PUT));
    free(v1_put);
    assert_int_equal(stats_of(c, b)->stale_writes, stale0 + 1);
    assert_int_equal(stored_bytes(c, b, after, sizeof(after)), before_len);
    assert_memory_equal(before, after, before_len);
    /* The replica still acknowledges (the coordinator has moved on: a stray there). */
    assert_int_equal(fake_net_count(&c->net, b, a, DYN_MSG_REPLICA_PUT_REPLY), 1);
    run(c);
    assert_int_equal(stats_of(c, a)->stray_messages, 1);

    /* A get ignoring the tombstone-only key still answers not found from any coordinator. */
    get_sync(c, c->pref[3], 4, DEFAULTS, &reply);
    assert_int_equal(reply.status, DYN_ENOTFOUND);
    dyn_msg_clear(&reply);
}

/*
 * A stale context through the same coordinator: a stores a version the client never saw, written
 * through another coordinator on top of a's own. Reusing the context's counter would name the put
 * a:1, a dot v2's past already holds, so it would be dropped; a's counter goes past everything a
 * stored (a:2), a dot no stored past holds, so it becomes a sibling.
 */
static void test_stale_context_becomes_sibling(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1];
    dyn_msg_t reply;
    put_sync(c, a, 1, "v1", NULL, DEFAULTS, false, &reply);
    dyn_vclock_t ctx1 = reply.context;
    dyn_msg_clear(&reply);
    put_sync(c, b, 2, "v2", &ctx1, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_vclock_t clock2 = reply.context;
    dyn_msg_clear(&reply);

    put_sync(c, a, 3, "v3", NULL, DEFAULTS, false, &reply); /* a stale (empty) context */
    assert_int_equal(reply.status, DYN_OK);
    dyn_vclock_t clock3 = reply.context;
    dyn_msg_clear(&reply);
    /*
     * The write is named a:2 with an empty past. Its reply context claims only what the writer
     * saw: {a:2} would also claim a:1 (and so v1/v2's history), so the dot is left out and the
     * context stays empty; reusing it supersedes nothing.
     */
    assert_int_equal(clock3.count, 0);
    assert_false(dyn_vclock_descends(&clock3, &clock2));
    for (uint32_t k = 0; k < 3; k++) {
        dyn_siblings_t s;
        assert_int_equal(stored(c, c->pref[k], &s), 2);
        const dyn_version_t *v2 = find_value(&s, "v2"), *v3 = find_value(&s, "v3");
        assert_non_null(v2);
        assert_non_null(v3);
        assert_int_equal(v2->dot.node, b);
        assert_true(clocks_equal(&v2->clock, &ctx1));
        assert_int_equal(v3->dot.node, a);
        assert_int_equal(v3->dot.counter, 2);
        assert_int_equal(v3->clock.count, 0);
        assert_false(dyn_version_supersedes(v2, v3));
        assert_false(dyn_version_supersedes(v3, v2));
        dyn_siblings_clear(&s);
        assert_int_equal(stats_of(c, c->pref[k])->stale_writes, 0);
    }
    get_sync(c, a, 4, DEFAULTS, &reply);
    assert_int_equal(reply.siblings.count, 2);
    dyn_msg_clear(&reply);
}

/*
 * Two clients write blindly (same, empty context) through the same coordinator. Neither saw the
 * other's value, so both must survive as siblings (design.md: get returns every causally
 * concurrent version). Written to catch a lost write under plain vector clocks: the second put was
 * versioned {a:2}, which descends the first one's {a:1}, so the first acknowledged value was
 * silently replaced on every replica. With dots the second is a:2 with an empty past, which does
 * not hold a:1.
 */
static void test_blind_writes_same_coordinator_keep_both(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0];
    dyn_msg_t reply;
    put_sync(c, a, 1, "first", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    put_sync(c, a, 2, "second", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    get_sync(c, a, 3, DEFAULTS, &reply);
    /* Read everything before asserting, so the expected failure leaks nothing under ASan. */
    int status = reply.status;
    bool has_second = has_value(&reply.siblings, "second");
    bool has_first = has_value(&reply.siblings, "first");
    uint32_t count = reply.siblings.count;
    dyn_msg_clear(&reply);
    assert_int_equal(status, DYN_OK);
    assert_true(has_second);
    assert_true(has_first);
    assert_int_equal(count, 2);
    for (uint32_t k = 0; k < 3; k++) {
        dyn_siblings_t s;
        assert_int_equal(stored(c, c->pref[k], &s), 2);
        dyn_siblings_clear(&s);
    }
}

/*
 * Two writes carrying the same (stale) context through one coordinator both survive, both
 * supersede what the context saw, and a put with the context of the resulting pair leaves one
 * version on every replica.
 */
static void test_same_stale_context_two_writes_one_coordinator(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1];
    dyn_msg_t reply;
    put_sync(c, b, 1, "base", NULL, DEFAULTS, false, &reply);
    dyn_msg_clear(&reply);
    get_sync(c, a, 2, DEFAULTS, &reply);
    assert_int_equal(reply.siblings.count, 1);
    const dyn_vclock_t ctx0 = reply.context;
    dyn_msg_clear(&reply);

    put_sync(c, a, 3, "x", &ctx0, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    const dyn_vclock_t ctx_x = reply.context;
    dyn_msg_clear(&reply);
    put_sync(c, a, 4, "y", &ctx0, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);

    for (uint32_t k = 0; k < 3; k++) {
        dyn_siblings_t s;
        assert_int_equal(stored(c, c->pref[k], &s), 2);
        assert_false(has_value(&s, "base"));
        const dyn_version_t *x = find_value(&s, "x"), *y = find_value(&s, "y");
        assert_non_null(x);
        assert_non_null(y);
        /* Same past, consecutive dots of a; neither past holds the other's dot. */
        assert_true(clocks_equal(&x->clock, &ctx0));
        assert_true(clocks_equal(&y->clock, &ctx0));
        assert_int_equal(x->dot.node, a);
        assert_int_equal(y->dot.node, a);
        assert_int_equal(x->dot.counter, 1);
        assert_int_equal(y->dot.counter, 2);
        assert_false(dyn_version_supersedes(y, x));
        assert_false(dyn_version_supersedes(x, y));
        /* x's reply context is its past plus its dot (a:1 follows the past's a:0 directly). What
         * y's reply may claim is test_put_reply_context_claims_only_what_the_writer_saw. */
        dyn_vclock_t expect;
        past_plus_dot(x, &expect);
        assert_true(clocks_equal(&ctx_x, &expect));
        assert_false(covers_dot(&ctx_x, &y->dot));
        dyn_siblings_clear(&s);
        assert_int_equal(stats_of(c, c->pref[k])->stale_writes, 0);
    }

    /* A get returns both, with a context that covers both dots... */
    get_sync(c, b, 5, DEFAULTS, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_int_equal(reply.siblings.count, 2);
    assert_true(has_value(&reply.siblings, "x"));
    assert_true(has_value(&reply.siblings, "y"));
    for (uint32_t i = 0; i < 2; i++)
        assert_true(covers_dot(&reply.context, &reply.siblings.items[i].dot));
    const dyn_vclock_t ctx_both = reply.context;
    dyn_msg_clear(&reply);
    /* ...so a put with it, through another coordinator, leaves one version everywhere. */
    put_sync(c, b, 6, "z", &ctx_both, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    for (uint32_t k = 0; k < 3; k++) {
        dyn_siblings_t s;
        assert_int_equal(stored(c, c->pref[k], &s), 1);
        assert_true(has_value(&s, "z"));
        dyn_siblings_clear(&s);
    }
    get_sync(c, a, 7, DEFAULTS, &reply);
    assert_int_equal(reply.siblings.count, 1);
    assert_true(has_value(&reply.siblings, "z"));
    dyn_msg_clear(&reply);
}

/*
 * KNOWN BUG, FAILS today (core/node.c, on_client_request, put branch: op->written = past + dot).
 * A client's context is a plain vector: {a:2} claims every event of a up to 2. The put reply hands
 * the writer past + dot, but when the coordinator had to skip counters (its store held a dot the
 * writer never saw), that vector claims the skipped writes too. Here Y writes blind through a
 * after X did: Y's dot is a:2 and its reply context {a:2}, which covers X's a:1. Y's next put with
 * that context (the simulator's workload reuses put contexts exactly so) silently supersedes X's
 * acknowledged value, which no client ever read: the lost write the dots were introduced to stop,
 * one put later.
 */
static void test_put_reply_context_claims_only_what_the_writer_saw(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0];
    dyn_msg_t reply;
    put_sync(c, a, 1, "x", NULL, DEFAULTS, false, &reply); /* client X */
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    put_sync(c, a, 2, "y", NULL, DEFAULTS, false, &reply); /* client Y, blind */
    assert_int_equal(reply.status, DYN_OK);
    const dyn_vclock_t ctx_y = reply.context;
    dyn_msg_clear(&reply);
    dyn_siblings_t s;
    assert_int_equal(stored(c, a, &s), 2);
    const dyn_vclock_entry_t x_dot = find_value(&s, "x")->dot;
    dyn_siblings_clear(&s);
    bool claims_x = covers_dot(&ctx_y, &x_dot);

    put_sync(c, a, 3, "y2", &ctx_y, DEFAULTS, false, &reply); /* Y updates its own value */
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    get_sync(c, a, 4, DEFAULTS, &reply);
    bool has_x = has_value(&reply.siblings, "x"), has_y2 = has_value(&reply.siblings, "y2");
    dyn_msg_clear(&reply);
    assert_true(has_y2);
    assert_true(has_x);     /* X's write must survive as a sibling of Y's... */
    assert_false(claims_x); /* ...as Y never saw a:1 */
}

/*
 * KNOWN BUG, FAILS today (same root cause, other path: REPLICA_PUT ships only the new version, and
 * reply_get's context is the join of what was read). A replica can hold a:2 without a:1 (its copy
 * of a:1 was lost on the way; W=2 was met without it), and with R=1 a get from it returns context
 * {a:2}, which claims a:1. A put with that context supersedes X's write on every replica, though
 * no client read it. Riak avoids this by shipping the coordinator's whole reconciled set to the
 * replicas, so that no replica holds a dot of an actor without that actor's earlier ones.
 */
static void test_r1_get_context_claims_only_what_the_reader_saw(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2];
    dyn_msg_t reply;
    inject_put(c, a, 1, "x", NULL, DEFAULTS, false);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_PUT));
    assert_int_equal(fake_net_drop(&c->net, a, r3, DYN_MSG_REPLICA_PUT), 1);
    run(c);
    client_reply(c, 0, &reply);
    assert_int_equal(reply.status, DYN_OK); /* W=2: a and b */
    dyn_msg_clear(&reply);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    put_sync(c, a, 2, "y", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    dyn_siblings_t s;
    assert_int_equal(stored(c, b, &s), 2);
    const dyn_vclock_entry_t x_dot = find_value(&s, "x")->dot;
    dyn_siblings_clear(&s);
    assert_int_equal(stored(c, r3, &s), 1);
    dyn_siblings_clear(&s);

    get_sync(c, r3, 3, (dyn_req_opts_t){.r = 1}, &reply); /* answered from r3 alone */
    assert_int_equal(reply.siblings.count, 1);
    assert_true(has_value(&reply.siblings, "y"));
    const dyn_vclock_t ctx = reply.context;
    dyn_msg_clear(&reply);
    bool claims_x = covers_dot(&ctx, &x_dot);
    put_sync(c, r3, 4, "z", &ctx, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    get_sync(c, a, 5, (dyn_req_opts_t){.r = 3}, &reply);
    bool has_x = has_value(&reply.siblings, "x"), has_z = has_value(&reply.siblings, "z");
    dyn_msg_clear(&reply);
    assert_true(has_z);
    assert_true(has_x);
    assert_false(claims_x); /* the reader never saw a:1 */
}

/*
 * The put scenario of test_coordinator_read_error_on_put_is_answered, run in a child process: it
 * must not use cmocka asserts (their longjmp would resume the parent's test run inside the child).
 * Returns 0 if the client got exactly one failure answer and no replica stored anything.
 */
static int read_error_on_put_scenario(cluster_t *c)
{
    const uint32_t a = c->pref[0];
    c->faulty[a - 1].get_status = DYN_ENOMEM;
    inject_put(c, a, 1, "v", NULL, DEFAULTS, false);
    fake_net_run(&c->net, STEPS);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    fake_net_run(&c->net, STEPS);
    if (inbox(c) != 1)
        return 2;
    dyn_msg_t reply;
    dyn_msg_init(&reply, DYN_MSG_CLIENT_REPLY);
    if (fake_net_inbox_decode(&c->net, CLIENT, 0, &reply) != DYN_OK)
        return 3;
    int status = reply.status;
    dyn_msg_clear(&reply);
    if (status == DYN_OK)
        return 4;
    for (uint32_t k = 0; k < NODE_COUNT; k++)
        if (dyn_mem_store_key_count(c->stores[k], DYN_SPACE_DATA) != 0)
            return 5;
    return 0;
}

/*
 * KNOWN BUG, FAILS today (core/node.c, on_client_request, put branch): when the coordinator's own
 * read of the key fails (coordinate_local_put returns before naming the write), out.version.dot is
 * still {0} from dyn_msg_init, and merging that dot into op->written trips
 * DYN_ASSERT(dyn_vclock_valid(dst)) in dyn_vclock_merge: a storage read error aborts the node.
 * (Were the assert not there, the REPLICA_PUTs of that unnamed version would fail to encode and be
 * dropped silently.) Run in a child so that the abort fails this test instead of the binary.
 */
static void test_coordinator_read_error_on_put_is_answered(void **state)
{
    cluster_t *c = *state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(read_error_on_put_scenario(c)); /* no teardown, no leak check: the parent owns c */
    int wstatus = 0;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    if (WIFSIGNALED(wstatus))
        print_error("the node died on signal %d\n", WTERMSIG(wstatus));
    assert_true(WIFEXITED(wstatus));
    assert_int_equal(WEXITSTATUS(wstatus), 0);
    /* The same read error in the replica path is answered, not fatal. */
    const uint32_t b = c->pref[1];
    c->faulty[b - 1].get_status = DYN_ENOMEM;
    dyn_msg_t reply;
    put_sync(c, c->pref[0], 2, "v", NULL, (dyn_req_opts_t){.w = 3}, false, &reply);
    assert_int_equal(reply.status, DYN_ENOQUORUM);
    dyn_msg_clear(&reply);
}

/*
 * The coordinator's dot counter exceeds both the context's entry for its actor and every counter
 * of its actor it stored for the key (in dots and in pasts), so it never names two writes alike.
 */
static void test_dot_counter_exceeds_context_and_store(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1];
    dyn_msg_t reply;
    /* A context that has seen a:7 (say, from before a's store was wiped of this key). */
    dyn_vclock_t ctx;
    dyn_vclock_init(&ctx);
    for (int i = 0; i < 7; i++)
        dyn_vclock_increment(&ctx, a, 1, 100 + (uint64_t)i, DYN_VCLOCK_MAX);
    dyn_vclock_increment(&ctx, b, 1, 200, DYN_VCLOCK_MAX);
    put_sync(c, a, 1, "p8", &ctx, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_int_equal(dyn_vclock_get(&reply.context, a, 1), 8);
    assert_int_equal(dyn_vclock_get(&reply.context, b, 1), 1);
    dyn_msg_clear(&reply);
    dyn_siblings_t s;
    assert_int_equal(stored(c, a, &s), 1);
    assert_int_equal(s.items[0].dot.counter, 8);
    assert_true(clocks_equal(&s.items[0].clock, &ctx));
    dyn_siblings_clear(&s);

    /* A blind put: only the store knows a:8, and the new dot goes past it; both are kept. */
    put_sync(c, a, 2, "p9", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    assert_int_equal(stored(c, a, &s), 2);
    assert_int_equal(find_value(&s, "p9")->dot.counter, 9);
    dyn_siblings_clear(&s);

    /* A write that saw both (a get's context) supersedes them: a:8 and a:9 now appear only
     * inside the stored past of "over", and a's next blind dot must still go past them. */
    get_sync(c, a, 3, DEFAULTS, &reply);
    assert_int_equal(reply.siblings.count, 2);
    dyn_vclock_t both = reply.context;
    dyn_msg_clear(&reply);
    put_sync(c, b, 4, "over", &both, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    assert_int_equal(stored(c, a, &s), 1);
    assert_true(has_value(&s, "over"));
    assert_int_equal(s.items[0].dot.node, b);
    assert_int_equal(dyn_vclock_get(&s.items[0].clock, a, 1), 9);
    dyn_siblings_clear(&s);
    put_sync(c, a, 5, "p10", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    assert_int_equal(stored(c, a, &s), 2);
    assert_int_equal(find_value(&s, "p10")->dot.counter, 10);
    assert_true(has_value(&s, "over"));
    dyn_siblings_clear(&s);
}

/*
 * A replica that receives the same REPLICA_PUT twice (a retransmission, a duplicate datagram) keeps
 * one copy: the dot is already present, so the second is a stale write and the bytes stay.
 */
static void test_replayed_replica_put_is_idempotent(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1];
    dyn_msg_t reply;
    put_sync(c, c->pref[2], 1, "other", NULL, DEFAULTS, false, &reply);
    dyn_msg_clear(&reply);
    put_sync(c, a, 2, "v", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    long i = fake_env_find(env_of(c, a), 0, b, DYN_MSG_REPLICA_PUT);
    assert_true(i >= 0);
    const fake_msg_t *orig = fake_env_send_at(env_of(c, a), (size_t)i);
    uint8_t before[512], after[512];
    size_t before_len = stored_bytes(c, b, before, sizeof(before));
    dyn_siblings_t s;
    assert_int_equal(stored(c, b, &s), 2);
    dyn_siblings_clear(&s);
    uint64_t stale0 = stats_of(c, b)->stale_writes;
    for (int k = 0; k < 2; k++) {
        fake_net_inject(&c->net, a, b, orig->bytes, orig->length);
        assert_true(fake_net_deliver_first(&c->net, a, b, DYN_MSG_REPLICA_PUT));
    }
    assert_int_equal(stats_of(c, b)->stale_writes, stale0 + 2);
    assert_int_equal(stored_bytes(c, b, after, sizeof(after)), before_len);
    assert_memory_equal(before, after, before_len);
    /* Acknowledged all the same (the coordinator has moved on: strays there). */
    assert_int_equal(fake_net_count(&c->net, b, a, DYN_MSG_REPLICA_PUT_REPLY), 2);
    run(c);
}

/*
 * Read repair: a replica that missed a write answers a later get with its older set; once every
 * replica has answered, the coordinator sends it the reconciled version, flagged as a repair (it
 * expects no reply), and nobody else. Afterwards all three replicas store the same bytes.
 */
static void test_read_repair_updates_only_the_stale_replica(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2];
    dyn_msg_t reply;
    fake_net_set_down(&c->net, r3, true);
    put_sync(c, a, 1, "v1", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
    fake_net_set_down(&c->net, r3, false);
    dyn_siblings_t s3;
    assert_int_equal(stored(c, r3, &s3), 0); /* r3 missed the write */
    dyn_siblings_clear(&s3);

    get_sync(c, b, 2, DEFAULTS, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    run(c);
    assert_int_equal(stats_of(c, b)->read_repairs, 1);
    uint8_t ba[512], bb[512], b3[512];
    size_t la = stored_bytes(c, a, ba, sizeof ba), lb = stored_bytes(c, b, bb, sizeof bb);
    size_t l3 = stored_bytes(c, r3, b3, sizeof b3);
    assert_true(la > 0);
    assert_int_equal(la, lb);
    assert_int_equal(la, l3);
    assert_memory_equal(ba, b3, la);
    /* The repair was not answered: nothing stray came back to the coordinator. */
    assert_int_equal(stats_of(c, b)->stray_messages, 0);
    /* Everyone agrees now: another read repairs nothing. */
    get_sync(c, b, 3, DEFAULTS, &reply);
    dyn_msg_clear(&reply);
    run(c);
    assert_int_equal(stats_of(c, b)->read_repairs, 1);
}

/*
 * stats.timeouts counts requests answered DYN_ETIMEDOUT; stats.replicas_late counts replicas that
 * missed the deadline of a request already answered.
 */
static void test_timeouts_and_late_replicas_counted_apart(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2];
    dyn_msg_t reply;

    /* One replica down: W=2 is met by a and b, and r3 is late at the deadline. */
    fake_net_set_down(&c->net, r3, true);
    put_sync(c, a, 1, "v", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 1);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
    assert_int_equal(inbox(c), 1); /* nothing more for the client */
    assert_int_equal(stats_of(c, a)->timeouts, 0);
    assert_int_equal(stats_of(c, a)->replicas_late, 1);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);

    /* Same for a get with R=2. */
    get_sync(c, a, 2, DEFAULTS, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
    assert_int_equal(stats_of(c, a)->timeouts, 0);
    assert_int_equal(stats_of(c, a)->replicas_late, 2);

    /* Two down: W=2 is never met, the deadline answers DYN_ETIMEDOUT, and nothing is late. */
    fake_net_set_down(&c->net, b, true);
    inject_put(c, a, 3, "w", NULL, DEFAULTS, false);
    run(c);
    assert_int_equal(inbox(c), 2);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
    assert_int_equal(inbox(c), 3);
    client_reply(c, 2, &reply);
    assert_int_equal(reply.request_id, 3);
    assert_int_equal(reply.status, DYN_ETIMEDOUT);
    dyn_msg_clear(&reply);
    assert_int_equal(stats_of(c, a)->timeouts, 1);
    assert_int_equal(stats_of(c, a)->replicas_late, 2);

    /* A request decided early by failures (ENOQUORUM), whose last replica never answers. */
    fake_net_set_down(&c->net, b, false);
    fake_net_set_down(&c->net, r3, false);
    fake_env_clear_sends(env_of(c, a));
    inject_get(c, a, 4, (dyn_req_opts_t){.r = 3});
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, DYN_MSG_CLIENT_GET));
    uint64_t id = sent_request_id(c, a, b, DYN_MSG_REPLICA_GET);
    assert_int_equal(fake_net_drop(&c->net, a, 0, DYN_MSG_REPLICA_GET), 2);
    inject_replica_reply(c, b, a, DYN_MSG_REPLICA_GET_REPLY, id, DYN_ENOMEM);
    run(c);
    client_reply(c, 3, &reply);
    assert_int_equal(reply.status, DYN_ENOQUORUM);
    dyn_msg_clear(&reply);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
    assert_int_equal(inbox(c), 4);
    assert_int_equal(stats_of(c, a)->timeouts, 1);
    assert_int_equal(stats_of(c, a)->replicas_late, 3);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);
}

/* Call on_message on a private copy of exactly `length` bytes, so over-reads are caught. */
static int feed(cluster_t *c, uint32_t id, const uint8_t *bytes, size_t length)
{
    uint8_t *copy = malloc(length ? length : 1);
    assert_non_null(copy);
    if (length)
        memcpy(copy, bytes, length);
    int rc = dyn_node_on_message(node_of(c, id), c->net.now_us, CLIENT, copy, length);
    free(copy);
    return rc;
}

static size_t encode(const dyn_msg_t *m, uint8_t *buf, size_t capacity)
{
    int n = dyn_codec_encode(m, buf, capacity);
    assert_true(n > 0);
    return (size_t)n;
}

/* Datagrams that do not decode are counted and dropped: no reply, no timer, no write. */
static void test_malformed_datagrams(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0];
    uint64_t expected_bad = 0;
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 7);
    uint8_t buf[256];
    dyn_msg_t probe;
    dyn_msg_init(&probe, DYN_MSG_CLIENT_GET);

    /* Random bytes, half of them behind a valid header so the body parser is exercised. */
    for (int i = 0; i < 4000; i++) {
        size_t len = (size_t)dyn_prng_below(&prng, 64);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)dyn_prng_u64(&prng);
        if ((i & 1) && len >= 3) {
            buf[0] = DYN_WIRE_MAGIC;
            buf[1] = DYN_WIRE_VERSION;
            buf[2] = (uint8_t)(1 + dyn_prng_below(&prng, DYN_MSG_TYPE_MAX_));
        }
        int codec_rc = dyn_codec_decode(buf, len, &probe);
        dyn_msg_clear(&probe);
        if (codec_rc == DYN_OK)
            continue; /* a rare valid message is not malformed */
        int rc = feed(c, a, buf, len);
        assert_int_equal(rc, codec_rc);
        if (len >= 2 && buf[0] == DYN_WIRE_MAGIC && buf[1] != DYN_WIRE_VERSION)
            assert_int_equal(rc, DYN_EVERSION);
        else
            assert_int_equal(rc, DYN_EBADMSG);
        expected_bad++;
    }

    /* Every strict prefix of valid messages of several types, and one trailing byte too many. */
    dyn_msg_t msgs[3];
    dyn_version_t versions[2];
    memset(versions, 0, sizeof(versions));
    for (int k = 0; k < 2; k++) {
        /* Event 2 of actor k+1, written on top of its event 1. */
        dyn_vclock_init(&versions[k].clock);
        dyn_vclock_increment(&versions[k].clock, (uint32_t)(k + 1), 1, 1000, 10);
        versions[k].dot = (dyn_vclock_entry_t){
            .node = (uint32_t)(k + 1), .epoch = 1, .counter = 2, .timestamp_us = 1000};
        versions[k].timestamp_us = 1000;
        versions[k].value = (const uint8_t *)(k ? "bb" : "a");
        versions[k].value_length = (uint32_t)(k + 1);
    }
    dyn_msg_init(&msgs[0], DYN_MSG_CLIENT_PUT);
    msgs[0].request_id = 300;
    msgs[0].key = (const uint8_t *)KEY;
    msgs[0].key_length = (uint32_t)strlen(KEY);
    msgs[0].value = (const uint8_t *)"hello";
    msgs[0].value_length = 5;
    dyn_vclock_increment(&msgs[0].context, 2, 1, 5, 10);
    dyn_vclock_increment(&msgs[0].context, 4, 1, 6, 10);
    dyn_msg_init(&msgs[1], DYN_MSG_REPLICA_PUT);
    msgs[1].request_id = 1ull << 40;
    msgs[1].key = (const uint8_t *)KEY;
    msgs[1].key_length = (uint32_t)strlen(KEY);
    msgs[1].version = versions[1];
    dyn_msg_init(&msgs[2], DYN_MSG_REPLICA_GET_REPLY);
    msgs[2].request_id = 5;
    msgs[2].siblings.items = versions;
    msgs[2].siblings.count = 2;
    msgs[2].siblings.capacity = 2;
    for (int m = 0; m < 3; m++) {
        size_t size = encode(&msgs[m], buf, sizeof(buf) - 1);
        for (size_t len = 0; len < size; len++) {
            assert_int_equal(feed(c, a, buf, len), DYN_EBADMSG);
            expected_bad++;
        }
        buf[size] = 0;
        assert_int_equal(feed(c, a, buf, size + 1), DYN_EBADMSG);
        expected_bad++;
    }

    /* A valid message from a newer wire format. */
    size_t size = encode(&msgs[0], buf, sizeof(buf));
    buf[1] = DYN_WIRE_VERSION + 1;
    assert_int_equal(feed(c, a, buf, size), DYN_EVERSION);
    expected_bad++;

    assert_int_equal(stats_of(c, a)->bad_messages, expected_bad);
    assert_true(expected_bad > 2000);
    assert_int_equal(fake_env_send_count(env_of(c, a)), 0);
    assert_int_equal(env_of(c, a)->timer_count, 0);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);
    assert_int_equal(dyn_mem_store_key_count(c->stores[a - 1], DYN_SPACE_DATA), 0);
    assert_int_equal(stats_of(c, a)->replica_writes + stats_of(c, a)->replica_reads, 0);
    assert_int_equal(fake_env_trace_count(env_of(c, a), DYN_TRACE_DROP), expected_bad);

    /* And the node still works. */
    dyn_msg_t reply;
    put_sync(c, a, 1, "ok", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
}

/* requests_pending_max = 2: the third request in flight is refused with DYN_EFULL. */
static void test_pending_bound(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2], d = c->pref[3];
    fake_net_set_down(&c->net, b, true);
    fake_net_set_down(&c->net, r3, true);
    const dyn_time_us t0 = c->net.now_us;
    inject_put(c, a, 1, "v1", NULL, DEFAULTS, false);
    inject_get(c, a, 2, DEFAULTS);
    run(c);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 2);
    assert_int_equal(inbox(c), 0);
    inject_put(c, a, 3, "v3", NULL, DEFAULTS, false);
    run(c);
    assert_int_equal(inbox(c), 1);
    dyn_msg_t reply;
    client_reply(c, 0, &reply);
    assert_int_equal(reply.request_id, 3);
    assert_int_equal(reply.status, DYN_EFULL);
    dyn_msg_clear(&reply);
    assert_int_equal(stats_of(c, a)->rejected_full, 1);
    assert_int_equal(stats_of(c, a)->puts_coordinated, 1);
    assert_int_equal(env_of(c, a)->timer_count, 2); /* the refused request armed nothing */

    /* Forwarding requests count too: d holds two forwards, the third is refused. */
    for (uint64_t id = 10; id < 13; id++) {
        inject_get(c, d, id, DEFAULTS);
        assert_true(fake_net_deliver_first(&c->net, CLIENT, d, 0));
        fake_net_drop(&c->net, d, 0, DYN_MSG_CLIENT_GET);
    }
    run(c);
    assert_int_equal(dyn_node_pending(node_of(c, d)), 2);
    assert_int_equal(stats_of(c, d)->forwarded, 2);
    assert_int_equal(stats_of(c, d)->rejected_full, 1);
    client_reply(c, inbox(c) - 1, &reply);
    assert_int_equal(reply.request_id, 12);
    assert_int_equal(reply.status, DYN_EFULL);
    dyn_msg_clear(&reply);

    /* Once the deadlines free the slots, new requests are accepted again under new ids. */
    uint64_t old_id = sent_request_id(c, a, b, DYN_MSG_REPLICA_PUT);
    fake_net_advance(&c->net, t0 + TIMEOUT_US);
    run(c);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);
    assert_int_equal(dyn_node_pending(node_of(c, d)), 0);
    fake_net_set_down(&c->net, b, false);
    fake_net_set_down(&c->net, r3, false);
    fake_env_clear_sends(env_of(c, a));
    inject_put(c, a, 4, "v4", NULL, DEFAULTS, false);
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, 0));
    uint64_t new_id = sent_request_id(c, a, b, DYN_MSG_REPLICA_PUT);
    assert_int_not_equal(new_id, old_id);
    /* A late ack for the old occupant of the slot must not count for the new request. */
    uint64_t stray0 = stats_of(c, a)->stray_messages;
    inject_replica_reply(c, b, a, DYN_MSG_REPLICA_PUT_REPLY, old_id, DYN_OK);
    assert_true(fake_net_deliver_first(&c->net, b, a, DYN_MSG_REPLICA_PUT_REPLY));
    assert_int_equal(stats_of(c, a)->stray_messages, stray0 + 1);
    assert_int_equal(fake_net_count(&c->net, a, CLIENT, 0), 0);
    run(c);
    client_reply(c, inbox(c) - 1, &reply);
    assert_int_equal(reply.request_id, 4);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
}

/* siblings_max = 2: a third concurrent blind write is refused with DYN_ESIBLINGS. */
static void test_siblings_bound(void **state)
{
    cluster_t *c = *state;
    dyn_msg_t reply;
    put_sync(c, c->pref[0], 1, "one", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    put_sync(c, c->pref[1], 2, "two", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    uint8_t before[3][512];
    size_t before_len[3];
    for (uint32_t k = 0; k < 3; k++)
        before_len[k] = stored_bytes(c, c->pref[k], before[k], sizeof(before[k]));

    put_sync(c, c->pref[2], 3, "three", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_ESIBLINGS);
    dyn_msg_clear(&reply);
    assert_int_equal(stats_of(c, c->pref[2])->replies_failed, 1);
    for (uint32_t k = 0; k < 3; k++) {
        uint8_t after[512];
        assert_int_equal(stored_bytes(c, c->pref[k], after, sizeof(after)), before_len[k]);
        assert_memory_equal(before[k], after, before_len[k]);
    }
    /* A put that supersedes both with their context is fine again. */
    get_sync(c, c->pref[0], 4, DEFAULTS, &reply);
    assert_int_equal(reply.siblings.count, 2);
    dyn_vclock_t ctx = reply.context;
    dyn_msg_clear(&reply);
    put_sync(c, c->pref[2], 5, "three", &ctx, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    dyn_siblings_t s;
    assert_int_equal(stored(c, c->pref[1], &s), 1);
    dyn_siblings_clear(&s);
}

/* A request still pending when the node is destroyed must not leak its merged siblings. */
static void test_destroy_with_pending_get(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0];
    dyn_msg_t reply;
    put_sync(c, a, 1, "value", NULL, DEFAULTS, false, &reply);
    dyn_msg_clear(&reply);
    inject_get(c, a, 2, (dyn_req_opts_t){.r = 3});
    assert_true(fake_net_deliver_first(&c->net, CLIENT, a, 0));
    assert_true(fake_net_deliver_first(&c->net, a, c->pref[1], 0));
    assert_true(fake_net_deliver_first(&c->net, c->pref[1], a, 0));
    assert_int_equal(dyn_node_pending(node_of(c, a)), 1);
    /* teardown destroys the node with copied sibling values in the request. */
}

/* ---- sloppy quorum and hinted handoff ---------------------------------------------------- */

/* What `id` holds as a hint for `owner` (values borrow the store); 0 if nothing. */
static uint32_t hinted(cluster_t *c, uint32_t id, uint32_t owner, dyn_siblings_t *out)
{
    dyn_storage_t s = dyn_mem_store_storage(c->stores[id - 1]);
    uint8_t key[DYN_HINT_KEY_MAX];
    size_t n = dyn_node_hint_key(owner, (const uint8_t *)KEY, strlen(KEY), key);
    const uint8_t *blob;
    size_t length;
    dyn_siblings_init(out);
    int rc = s.ops->get(s.ctx, DYN_SPACE_HINTS, key, n, &blob, &length);
    if (rc == DYN_ENOTFOUND)
        return 0;
    assert_int_equal(rc, DYN_OK);
    assert_int_equal(dyn_codec_decode_siblings(blob, length, out), DYN_OK);
    return out->count;
}

/* Let r3 miss a put's deadline at a, so that a suspects it. */
static void make_a_suspect_r3(cluster_t *c)
{
    const uint32_t a = c->pref[0], r3 = c->pref[2];
    dyn_msg_t reply;
    fake_net_set_down(&c->net, r3, true);
    put_sync(c, a, 1, "v1", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK); /* W=2: a and b */
    dyn_msg_clear(&reply);
    assert_false(dyn_node_suspects_peer(node_of(c, a), r3));
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
    assert_true(dyn_node_suspects_peer(node_of(c, a), r3));
    assert_int_equal(dyn_node_suspects(node_of(c, a)), 1);
    assert_int_equal(stats_of(c, a)->suspicions, 1);
}

/*
 * The paper's 4.6 walk-through: with an owner down, the write goes to the next node of the
 * extended list, which keeps it as a hint naming the owner; once the owner is back the hint is
 * handed to it and deleted, and the coordinator, whose probe was answered, trusts the owner again.
 */
static void test_sloppy_quorum_and_hinted_handoff(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2], f = c->pref[3];
    dyn_msg_t reply;
    make_a_suspect_r3(c);

    size_t to_r3 = fake_env_count(env_of(c, a), r3, DYN_MSG_REPLICA_PUT);
    put_sync(c, a, 2, "v2", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    /* r3 was passed over for f, the first node past the preference list, which answered. */
    assert_int_equal(fake_env_count(env_of(c, a), r3, DYN_MSG_REPLICA_PUT), to_r3);
    assert_int_equal(fake_env_count(env_of(c, a), f, DYN_MSG_REPLICA_PUT), 1);
    assert_int_equal(dyn_node_pending(node_of(c, a)), 0);
    assert_int_equal(stats_of(c, a)->fallback_targets, 1);
    /* f keeps it apart from its own data, under r3's name. */
    dyn_siblings_t s;
    assert_int_equal(stored(c, f, &s), 0);
    assert_int_equal(hinted(c, f, r3, &s), 1);
    assert_memory_equal(s.items[0].value, "v2", 2);
    dyn_siblings_clear(&s);
    assert_int_equal(dyn_node_hints(node_of(c, f)), 1);
    assert_int_equal(stats_of(c, f)->hinted_writes, 1);

    /* A get through a reads f's hint too: R=3 is met by a, b and f. */
    get_sync(c, a, 3, (dyn_req_opts_t){.r = 3}, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_int_equal(reply.siblings.count, 2);
    dyn_msg_clear(&reply);
    run(c); /* read repair brings f's hint up to the merged set */
    assert_int_equal(hinted(c, f, r3, &s), 2);
    dyn_siblings_clear(&s);

    /* r3 comes back. At the next tick f hands its hint over and a probes r3. */
    fake_net_set_down(&c->net, r3, false);
    dyn_node_start(node_of(c, f), c->net.now_us);
    dyn_node_start(node_of(c, a), c->net.now_us);
    fake_net_advance(&c->net, c->net.now_us + TICK_US);
    assert_int_equal(fake_env_count(env_of(c, f), r3, DYN_MSG_HANDOFF), 1);
    assert_int_equal(fake_env_count(env_of(c, a), r3, DYN_MSG_PING), 1);
    run(c);
    assert_int_equal(stored(c, r3, &s), 2);
    dyn_siblings_clear(&s);
    assert_int_equal(hinted(c, f, r3, &s), 0);
    assert_int_equal(dyn_node_hints(node_of(c, f)), 0);
    assert_int_equal(stats_of(c, f)->hints_delivered, 1);
    assert_int_equal(stats_of(c, r3)->handoffs_received, 1);
    assert_int_equal(fake_env_trace_count(env_of(c, f), DYN_TRACE_HINT_DELIVERED), 1);
    assert_false(dyn_node_suspects_peer(node_of(c, a), r3));
    assert_int_equal(stats_of(c, a)->recoveries, 1);
    /* The owner made the handed-off set durable before it acknowledged. */
    assert_true(stats_of(c, r3)->syncs >= 1);

    /* Writes go to r3 again, and all three owners hold the same set. */
    size_t to_f = fake_env_count(env_of(c, a), f, DYN_MSG_REPLICA_PUT); /* 1 + 2 repairs */
    put_sync(c, a, 4, "v4", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    assert_int_equal(fake_env_count(env_of(c, a), r3, DYN_MSG_REPLICA_PUT), to_r3 + 1);
    assert_int_equal(fake_env_count(env_of(c, a), f, DYN_MSG_REPLICA_PUT), to_f);
    uint8_t ba[512], bb[512], b3[512];
    size_t la = stored_bytes(c, a, ba, sizeof ba);
    assert_int_equal(stored_bytes(c, b, bb, sizeof bb), la);
    assert_int_equal(stored_bytes(c, r3, b3, sizeof b3), la);
    assert_memory_equal(ba, bb, la);
    assert_memory_equal(ba, b3, la);
}

/*
 * A hint is deleted only on the owner's acknowledgement: a handoff lost on the way, or whose
 * acknowledgement is lost, leaves the hint in place; the owner is suspected, probed, and the hint
 * sent again once it answers. Receiving the same set twice changes nothing at the owner.
 */
static void test_hint_kept_until_owner_acknowledges(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], r3 = c->pref[2], f = c->pref[3];
    dyn_msg_t reply;
    make_a_suspect_r3(c);
    put_sync(c, a, 2, "v2", NULL, DEFAULTS, false, &reply);
    dyn_msg_clear(&reply);
    assert_int_equal(dyn_node_hints(node_of(c, f)), 1);

    /* r3 still down: the handoff is lost, f suspects r3 and stops sending, only probing. */
    dyn_node_start(node_of(c, f), c->net.now_us);
    fake_net_advance(&c->net, c->net.now_us + TICK_US);
    assert_int_equal(fake_env_count(env_of(c, f), r3, DYN_MSG_HANDOFF), 1);
    run(c);
    fake_net_advance(&c->net, c->net.now_us + 3 * TICK_US);
    run(c);
    assert_true(dyn_node_suspects_peer(node_of(c, f), r3));
    assert_int_equal(fake_env_count(env_of(c, f), r3, DYN_MSG_HANDOFF), 1);
    assert_true(fake_env_count(env_of(c, f), r3, DYN_MSG_PING) >= 1);
    assert_int_equal(dyn_node_hints(node_of(c, f)), 1);

    /* r3 is back; the next probe is answered, and the next round hands the hint over. */
    fake_net_set_down(&c->net, r3, false);
    fake_net_advance(&c->net, c->net.now_us + TICK_US);
    run(c);
    assert_false(dyn_node_suspects_peer(node_of(c, f), r3));
    fake_net_advance(&c->net, c->net.now_us + TICK_US);
    assert_int_equal(fake_env_count(env_of(c, f), r3, DYN_MSG_HANDOFF), 2);
    /* This time the set arrives but its acknowledgement is lost. */
    assert_true(fake_net_deliver_first(&c->net, f, r3, DYN_MSG_HANDOFF));
    assert_int_equal(fake_net_drop(&c->net, r3, f, DYN_MSG_REPLICA_PUT_REPLY), 1);
    dyn_siblings_t s;
    assert_int_equal(stored(c, r3, &s), 1);
    dyn_siblings_clear(&s);
    assert_int_equal(dyn_node_hints(node_of(c, f)), 1);
    assert_int_equal(stats_of(c, f)->hints_delivered, 0);

    /* Deadline, suspicion, probe, resend: now acknowledged, and the hint is gone. */
    for (int i = 0; i < 4 && dyn_node_hints(node_of(c, f)) > 0; i++) {
        fake_net_advance(&c->net, c->net.now_us + TICK_US);
        run(c);
    }
    assert_int_equal(dyn_node_hints(node_of(c, f)), 0);
    assert_int_equal(fake_env_count(env_of(c, f), r3, DYN_MSG_HANDOFF), 3);
    assert_int_equal(stats_of(c, f)->hints_delivered, 1);
    assert_int_equal(stats_of(c, r3)->handoffs_received, 2);
    assert_int_equal(stored(c, r3, &s), 1);
    dyn_siblings_clear(&s);
}

/* A fallback write for a key not yet hinted is refused past hints_max; one already hinted is not. */
static void test_hint_store_bound(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], r3 = c->pref[2], f = c->pref[3];
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_REPLICA_PUT);
    m.hint = r3;
    m.version.dot = (dyn_vclock_entry_t){.node = a, .epoch = 1, .counter = 1};
    m.version.value = (const uint8_t *)"x";
    m.version.value_length = 1;
    const char *keys[] = {"k1", "k2", "k1"};
    const int expect[] = {DYN_OK, DYN_EFULL, DYN_OK};
    for (int i = 0; i < 3; i++) {
        m.request_id = 10u + (uint64_t)i;
        m.key = (const uint8_t *)keys[i];
        m.key_length = 2;
        m.version.dot.counter = 1u + (uint64_t)i;
        fake_net_inject_msg(&c->net, a, f, &m);
        assert_true(fake_net_deliver_first(&c->net, a, f, DYN_MSG_REPLICA_PUT));
        long at = fake_env_find(env_of(c, f), 0, a, DYN_MSG_REPLICA_PUT_REPLY);
        assert_true(at >= 0);
        dyn_msg_t r;
        dyn_msg_init(&r, DYN_MSG_REPLICA_PUT_REPLY);
        assert_int_equal(fake_env_decode(env_of(c, f), (size_t)at, &r), DYN_OK);
        assert_int_equal(r.status, expect[i]);
        fake_msg_t gone = fake_env_pop(env_of(c, f), (size_t)at);
        fake_msg_free(&gone);
        assert_int_equal(dyn_node_hints(node_of(c, f)), 1);
    }
    assert_int_equal(stats_of(c, f)->hints_refused, 1);
    assert_int_equal(stats_of(c, f)->hinted_writes, 2);
    fake_net_drop(&c->net, f, a, 0);
}

/*
 * PW and PR count owners only. With r3 suspected, PW=3 cannot be met and is refused at once; PW=2
 * is met by a and b while f stands in for r3. Before the suspicion, PW=3 waits for r3 itself: the
 * write is on a and b, but the client is told only at the deadline that it timed out.
 */
static void test_pr_pw_count_owners_only(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], r3 = c->pref[2];
    dyn_msg_t reply;
    fake_net_set_down(&c->net, r3, true);
    inject_put(c, a, 1, "v1", NULL, (dyn_req_opts_t){.pw = 3}, false);
    run(c);
    assert_int_equal(inbox(c), 0);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
    client_reply(c, 0, &reply);
    assert_int_equal(reply.status, DYN_ETIMEDOUT);
    dyn_msg_clear(&reply);
    assert_true(dyn_node_suspects_peer(node_of(c, a), r3));

    put_sync(c, a, 2, "v2", NULL, (dyn_req_opts_t){.pw = 3}, false, &reply);
    assert_int_equal(reply.status, DYN_EUNAVAIL);
    dyn_msg_clear(&reply);
    put_sync(c, a, 3, "v3", NULL, (dyn_req_opts_t){.pw = 2}, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    get_sync(c, a, 4, (dyn_req_opts_t){.pr = 3}, &reply);
    assert_int_equal(reply.status, DYN_EUNAVAIL);
    dyn_msg_clear(&reply);
    get_sync(c, a, 5, (dyn_req_opts_t){.r = 3, .pr = 2}, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    /* PR or PW over N is invalid. */
    put_sync(c, a, 6, "v6", NULL, (dyn_req_opts_t){.pw = 4}, false, &reply);
    assert_int_equal(reply.status, DYN_EINVAL);
    dyn_msg_clear(&reply);
}

/* With hinted handoff off, a suspected owner is still asked and no fallback is used. */
static void test_strict_quorum_never_uses_fallbacks(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], r3 = c->pref[2], f = c->pref[3];
    dyn_msg_t reply;
    make_a_suspect_r3(c);
    size_t to_r3 = fake_env_count(env_of(c, a), r3, DYN_MSG_REPLICA_PUT);
    put_sync(c, a, 2, "v2", NULL, DEFAULTS, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    assert_int_equal(fake_env_count(env_of(c, a), r3, DYN_MSG_REPLICA_PUT), to_r3 + 1);
    assert_int_equal(fake_env_count(env_of(c, a), f, DYN_MSG_REPLICA_PUT), 0);
    assert_int_equal(dyn_node_hints(node_of(c, f)), 0);
    fake_net_advance(&c->net, c->net.now_us + TIMEOUT_US);
    run(c);
}

/* ---- anti-entropy ------------------------------------------------------------------------ */

static uint64_t total_stat(cluster_t *c, size_t offset)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < NODE_COUNT; i++)
        sum += *(const uint64_t *)((const uint8_t *)dyn_node_stats(c->nodes[i]) + offset);
    return sum;
}
#define TOTAL(c, field) total_stat(c, offsetof(dyn_node_stats_t, field))

static void start_all(cluster_t *c)
{
    for (uint32_t i = 0; i < NODE_COUNT; i++)
        dyn_node_start(c->nodes[i], c->net.now_us);
}

/* Replicas that agree: exchanges end at the root, and nothing is pushed or repaired. */
static void test_anti_entropy_in_sync_repairs_nothing(void **state)
{
    cluster_t *c = *state;
    dyn_msg_t reply;
    put_sync(c, c->pref[0], 1, "v", NULL, (dyn_req_opts_t){.w = 3}, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    start_all(c);
    for (int i = 0; i < 50; i++) {
        fake_net_advance(&c->net, c->net.now_us + TICK_US);
        run(c);
    }
    assert_true(TOTAL(c, ae_exchanges) >= 100);
    assert_int_equal(TOTAL(c, ae_in_sync), TOTAL(c, ae_exchanges));
    assert_int_equal(TOTAL(c, ae_messages), TOTAL(c, ae_exchanges)); /* one root hash each */
    assert_int_equal(TOTAL(c, ae_keys_pushed), 0);
    assert_int_equal(TOTAL(c, ae_keys_repaired), 0);
}

/*
 * A replica that missed a write (no read touches the key afterwards) gets it from an exchange;
 * and a replica holding a version the others lack pushes it to them: after the exchanges, all
 * three store the same bytes, and later exchanges find them in sync.
 */
static void test_anti_entropy_repairs_both_ways(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2];
    put_missing_one(c, a, r3, 1, "v1", NULL, false);
    /* A concurrent version that only r3 has: a write that reached it alone. */
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_REPLICA_PUT);
    m.request_id = 77;
    m.key = (const uint8_t *)KEY;
    m.key_length = (uint32_t)strlen(KEY);
    m.version.dot = (dyn_vclock_entry_t){.node = r3, .epoch = 1, .counter = 1};
    m.version.value = (const uint8_t *)"v3";
    m.version.value_length = 2;
    fake_net_inject_msg(&c->net, b, r3, &m);
    run(c);
    dyn_siblings_t s;
    assert_int_equal(stored(c, r3, &s), 1);
    dyn_siblings_clear(&s);
    assert_int_equal(stored(c, a, &s), 1);
    dyn_siblings_clear(&s);
    start_all(c);
    for (int i = 0; i < 400; i++) {
        fake_net_advance(&c->net, c->net.now_us + TICK_US);
        run(c);
        uint32_t n3 = stored(c, r3, &s);
        dyn_siblings_clear(&s);
        uint32_t na = stored(c, a, &s);
        dyn_siblings_clear(&s);
        uint32_t nb = stored(c, b, &s);
        dyn_siblings_clear(&s);
        if (n3 == 2 && na == 2 && nb == 2)
            break;
    }
    assert_int_equal(stored(c, r3, &s), 2);
    dyn_siblings_clear(&s);
    assert_int_equal(stats_of(c, r3)->ae_keys_repaired, 1);
    assert_int_equal(stats_of(c, a)->ae_keys_repaired, 1);
    assert_int_equal(stats_of(c, b)->ae_keys_repaired, 1);
    uint8_t ba[512], bb[512], b3[512];
    size_t la = stored_bytes(c, a, ba, sizeof ba);
    assert_int_equal(stored_bytes(c, b, bb, sizeof bb), la);
    assert_int_equal(stored_bytes(c, r3, b3, sizeof b3), la);
    assert_memory_equal(ba, b3, la);
    /* Afterwards every exchange ends in sync. */
    uint64_t exchanges = TOTAL(c, ae_exchanges), in_sync = TOTAL(c, ae_in_sync);
    uint64_t pushed = TOTAL(c, ae_keys_pushed);
    for (int i = 0; i < 20; i++) {
        fake_net_advance(&c->net, c->net.now_us + TICK_US);
        run(c);
    }
    assert_true(TOTAL(c, ae_exchanges) > exchanges);
    assert_int_equal(TOTAL(c, ae_exchanges) - exchanges, TOTAL(c, ae_in_sync) - in_sync);
    assert_int_equal(TOTAL(c, ae_keys_pushed), pushed);
}

/* ---- tombstone collection -------------------------------------------------------------- */

/* Tick every node n times (probes, handoff, anti-entropy, collection) and let the net go quiet. */
static void tick_all(cluster_t *c, int n)
{
    for (int i = 0; i < n; i++) {
        fake_net_advance(&c->net, c->net.now_us + TICK_US);
        run(c);
    }
}

static uint32_t stored_count(cluster_t *c, uint32_t id)
{
    dyn_siblings_t s;
    uint32_t n = stored(c, id, &s);
    dyn_siblings_clear(&s);
    return n;
}

/*
 * A key deleted on all three owners is collected from all three once the grace has passed, and
 * stays collected (anti-entropy finds the trees equal). The owner that coordinates the next write
 * counts on past the counters it issued before the reap, and claims them as past, so an old copy
 * of the deleted value that turns up afterwards is stale, not a sibling.
 */
static void test_tombstones_collected_once_every_owner_holds_them(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1];
    const dyn_req_opts_t all = {.w = 3};
    dyn_msg_t reply;
    put_sync(c, a, 1, "v1", NULL, all, false, &reply);
    dyn_vclock_t ctx = reply.context;
    dyn_msg_clear(&reply);
    long i = fake_env_find(env_of(c, a), 0, b, DYN_MSG_REPLICA_PUT);
    assert_true(i >= 0);
    const fake_msg_t *orig = fake_env_send_at(env_of(c, a), (size_t)i);
    uint8_t v1_put[512];
    assert_true(orig->length <= sizeof v1_put);
    memcpy(v1_put, orig->bytes, orig->length);
    size_t v1_put_length = orig->length;
    put_sync(c, a, 2, NULL, &ctx, all, true, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_true(reply.written.counter == 2);
    dyn_msg_clear(&reply);

    start_all(c);
    tick_all(c, 1); /* the grace has not passed: nothing goes */
    for (uint32_t k = 0; k < 3; k++)
        assert_int_equal(stored_count(c, c->pref[k]), 1);
    assert_int_equal(TOTAL(c, tombstones_reaped), 0);
    tick_all(c, 6);
    for (uint32_t k = 0; k < 3; k++)
        assert_int_equal(stored_count(c, c->pref[k]), 0);
    assert_int_equal(TOTAL(c, tombstones_reaped), 3);
    assert_int_equal(stats_of(c, a)->reap_rounds, 1); /* the primary alone runs the round */
    assert_int_equal(TOTAL(c, reap_rounds), 1);
    uint64_t pushed = TOTAL(c, ae_keys_pushed);
    tick_all(c, 20);
    for (uint32_t k = 0; k < 3; k++)
        assert_int_equal(stored_count(c, c->pref[k]), 0);
    assert_int_equal(TOTAL(c, ae_keys_pushed), pushed);

    /* A blind write after the reap: counter 3, with a:2 claimed as past. */
    put_sync(c, a, 3, "v2", NULL, all, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_true(reply.written.counter == 3);
    dyn_msg_clear(&reply);
    dyn_siblings_t s;
    assert_int_equal(stored(c, b, &s), 1);
    assert_true(dyn_vclock_covers(&s.items[0].clock, a, 1, 2));
    dyn_siblings_clear(&s);
    /* v1's old replica write arrives late at b: covered by the claim, so stale. */
    uint64_t stale0 = stats_of(c, b)->stale_writes;
    fake_net_inject(&c->net, a, b, v1_put, v1_put_length);
    run(c);
    assert_int_equal(stats_of(c, b)->stale_writes, stale0 + 1);
    assert_int_equal(stored_count(c, b), 1);
}

/*
 * An owner that missed the delete still holds the value: the primary's round is refused and
 * nothing is collected, until anti-entropy gives that owner the tombstone; then all three go.
 */
static void test_collection_waits_for_every_owner(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], r3 = c->pref[2];
    dyn_msg_t reply;
    put_sync(c, a, 1, "v1", NULL, (dyn_req_opts_t){.w = 3}, false, &reply);
    dyn_vclock_t ctx = reply.context;
    dyn_msg_clear(&reply);
    put_missing_one(c, a, r3, 2, NULL, &ctx, true);
    dyn_siblings_t s;
    assert_int_equal(stored(c, r3, &s), 1);
    assert_false(s.items[0].flags & DYN_VERSION_TOMBSTONE);
    dyn_siblings_clear(&s);

    /* Collection refused while r3 holds the value; no anti-entropy yet, so it stays that way. */
    for (uint32_t i = 0; i < NODE_COUNT; i++)
        dyn_node_start(c->nodes[i], c->net.now_us);
    uint64_t refused = 0;
    for (int i = 0; i < 12 && refused == 0; i++) {
        tick_all(c, 1);
        refused = stats_of(c, a)->reap_refused;
        assert_int_equal(TOTAL(c, tombstones_reaped), 0);
    }
    /* Anti-entropy pushes the tombstone to r3 (or the round retries until it has); then all go. */
    for (int i = 0; i < 200 && TOTAL(c, tombstones_reaped) < 3; i++)
        tick_all(c, 1);
    assert_int_equal(TOTAL(c, tombstones_reaped), 3);
    for (uint32_t k = 0; k < 3; k++)
        assert_int_equal(stored_count(c, c->pref[k]), 0);
}

/* A put or delete of an arbitrary key through node `via`, waiting for the answer. */
static int write_key(cluster_t *c, uint32_t via, uint64_t rid, const char *key, const char *value,
                     const dyn_vclock_t *context, dyn_msg_t *reply)
{
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_PUT);
    m.request_id = rid;
    m.opts = (dyn_req_opts_t){.w = 3};
    m.key = (const uint8_t *)key;
    m.key_length = (uint32_t)strlen(key);
    m.put_flags = value ? 0 : DYN_VERSION_TOMBSTONE;
    if (value) {
        m.value = (const uint8_t *)value;
        m.value_length = (uint32_t)strlen(value);
    }
    if (context)
        dyn_vclock_copy(&m.context, context);
    size_t before = inbox(c);
    fake_net_inject_msg(&c->net, CLIENT, via, &m);
    run(c);
    assert_int_equal(inbox(c), before + 1);
    client_reply(c, before, reply);
    return reply->status;
}

/*
 * A reaping node keeps each reaped key's counter floor in a bounded table (core/reaper.c: 1024
 * buckets of 4). A fifth key in one bucket finds no room, so that node takes a new epoch, stored
 * and synced, before it names its next write.
 */
static void test_floor_table_full_renews_epoch(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0];
    enum { BUCKETS = 1024, WAYS = 4 };
    char keys[WAYS + 1][16];
    uint32_t found = 0, want_bucket = UINT32_MAX;
    for (uint32_t i = 0; found < WAYS + 1 && i < 1000000; i++) {
        char key[16];
        snprintf(key, sizeof key, "f%u", i);
        uint64_t h = dyn_ring_hash(key, strlen(key));
        if (!dyn_ring_is_replica(c->ring, h, a, 3))
            continue;
        uint32_t bucket = (uint32_t)(h % BUCKETS);
        if (want_bucket == UINT32_MAX)
            want_bucket = bucket;
        if (bucket == want_bucket)
            memcpy(keys[found++], key, sizeof key);
    }
    assert_int_equal(found, WAYS + 1);
    dyn_msg_t reply;
    for (uint32_t k = 0; k <= WAYS; k++) {
        assert_int_equal(write_key(c, a, 10 + k, keys[k], "v", NULL, &reply), DYN_OK);
        dyn_vclock_t ctx = reply.context;
        dyn_msg_clear(&reply);
        assert_int_equal(write_key(c, a, 20 + k, keys[k], NULL, &ctx, &reply), DYN_OK);
        dyn_msg_clear(&reply);
    }
    start_all(c);
    for (int i = 0; i < 100 && stats_of(c, a)->tombstones_reaped < WAYS + 1; i++)
        tick_all(c, 1);
    assert_int_equal(stats_of(c, a)->tombstones_reaped, WAYS + 1);
    assert_int_equal(dyn_node_epoch(node_of(c, a)), 1);
    assert_int_equal(stats_of(c, a)->epoch_renewals, 0);
    /* Whichever key it writes, the dot is the new actor's first: the floors died with epoch 1. */
    for (uint32_t k = 0; k <= WAYS; k++) {
        assert_int_equal(write_key(c, a, 30 + k, keys[k], "again", NULL, &reply), DYN_OK);
        assert_int_equal(reply.written.epoch, 2);
        assert_true(reply.written.counter == 1);
        dyn_msg_clear(&reply);
    }
    assert_int_equal(write_key(c, a, 40, keys[0], "more", NULL, &reply), DYN_OK);
    assert_true(reply.written.counter == 2);
    dyn_msg_clear(&reply);
    assert_int_equal(dyn_node_epoch(node_of(c, a)), 2);
    assert_int_equal(stats_of(c, a)->epoch_renewals, 1);
    /* The new epoch is in META, so a restart goes on from it, not back to it. */
    dyn_storage_t st = dyn_mem_store_storage(c->stores[a - 1]);
    const uint8_t *blob;
    size_t length;
    assert_int_equal(st.ops->get(st.ctx, DYN_SPACE_META, (const uint8_t *)"epoch", 5, &blob,
                                 &length), DYN_OK);
    assert_int_equal(length, 4);
    assert_int_equal(blob[0], 2);
}

/* ---- membership gossip ----------------------------------------------------------------- */

static bool views_agree(cluster_t *c)
{
    uint64_t d = dyn_membership_digest(dyn_node_membership(c->nodes[0]));
    for (uint32_t i = 1; i < NODE_COUNT; i++)
        if (dyn_membership_digest(dyn_node_membership(c->nodes[i])) != d)
            return false;
    return true;
}

/*
 * A change made at one node reaches every node by gossip within a few periods; views that agree
 * cost one digest per period and no view; the view survives a restart from the store.
 */
static void test_membership_gossip(void **state)
{
    cluster_t *c = *state;
    dyn_membership_t *initial = dyn_membership_create();
    assert_non_null(initial);
    for (uint32_t id = 1; id <= NODE_COUNT; id++) {
        const dyn_member_t e = {.id = id, .status = DYN_MEMBER_VALID, .version = 1};
        assert_int_equal(dyn_membership_apply(initial, &e), 1);
    }
    for (uint32_t i = 0; i < NODE_COUNT; i++)
        assert_int_equal(dyn_node_merge_members(c->nodes[i], initial), (int)NODE_COUNT);
    dyn_membership_destroy(initial);
    assert_true(views_agree(c));
    start_all(c);
    /* In agreement: every exchange is one digest, answered by nothing. */
    tick_all(c, 10);
    assert_true(TOTAL(c, gossip_sent) > 0);
    assert_int_equal(TOTAL(c, membership_changes), NODE_COUNT * NODE_COUNT);
    uint64_t sent = TOTAL(c, gossip_sent), bytes = TOTAL(c, gossip_bytes);
    assert_true(bytes / sent < 16);

    assert_int_equal(dyn_node_member_change(c->nodes[0], 3, DYN_MEMBER_LEAVING, 2), 1);
    assert_false(views_agree(c));
    int ticks = 0;
    while (!views_agree(c) && ticks < 50) {
        tick_all(c, 1);
        ticks++;
    }
    assert_true(views_agree(c));
    assert_true(ticks <= 20);
    for (uint32_t i = 0; i < NODE_COUNT; i++) {
        const dyn_member_t *m = dyn_membership_find(dyn_node_membership(c->nodes[i]), 3);
        assert_non_null(m);
        assert_int_equal(m->status, DYN_MEMBER_LEAVING);
        assert_int_equal(m->zone, 2);
        assert_true(m->version == 2);
    }
    /* The view is in META: a node created on that store knows the change. */
    dyn_node_config_t cfg;
    dyn_node_config_default(&cfg);
    cfg.id = 2;
    cfg.seed = 99;
    dyn_node_t *again = dyn_node_create(&cfg, c->ring,
                                        (dyn_storage_t){&FAULTY_OPS, &c->faulty[1]},
                                        fake_env_iface(&c->envs[1]));
    assert_non_null(again);
    const dyn_member_t *m = dyn_membership_find(dyn_node_membership(again), 3);
    assert_non_null(m);
    assert_int_equal(m->status, DYN_MEMBER_LEAVING);
    assert_int_equal(dyn_membership_count(dyn_node_membership(again)), NODE_COUNT);
    dyn_node_destroy(again);
    /* A change to an unknown member adds it; an invalid status is refused. */
    assert_int_equal(dyn_node_member_change(c->nodes[1], 42, DYN_MEMBER_JOINING, 0), 1);
    assert_int_equal(dyn_node_member_change(c->nodes[1], 43, (dyn_member_status_t)9, 0),
                     DYN_EINVAL);
    while (!views_agree(c) && ticks < 100) {
        tick_all(c, 1);
        ticks++;
    }
    assert_true(views_agree(c));
    assert_int_equal(dyn_membership_count(dyn_node_membership(c->nodes[4])), NODE_COUNT + 1);
}

/* ---- SWIM-style detector --------------------------------------------------------------- */

/* Deliver everything queued, dropping every datagram from or to `cut` (0: none) and every one
 * between `a` and `b` (0: none): a dead node, or one broken link. */
static void run_cut(cluster_t *c, uint32_t cut, uint32_t a, uint32_t b)
{
    for (size_t steps = 0; fake_net_queued(&c->net) > 0 && steps < STEPS; steps++) {
        const fake_msg_t *m = fake_net_peek(&c->net, 0);
        bool drop = (cut && (m->from == cut || m->to == cut)) ||
                    (a && ((m->from == a && m->to == b) || (m->from == b && m->to == a)));
        if (drop) {
            dyn_endpoint_t from = m->from, to = m->to;
            assert_true(fake_net_drop(&c->net, from, to, (dyn_msg_type_t)0) > 0);
        } else {
            assert_true(fake_net_deliver(&c->net, 0));
        }
    }
    assert_int_equal(fake_net_queued(&c->net), 0);
}

static void tick_cut(cluster_t *c, int n, uint32_t cut, uint32_t a, uint32_t b)
{
    for (int i = 0; i < n; i++) {
        fake_net_advance(&c->net, c->net.now_us + TICK_US);
        run_cut(c, cut, a, b);
    }
}

static void init_views(cluster_t *c)
{
    dyn_membership_t *view = dyn_membership_create();
    assert_non_null(view);
    for (uint32_t id = 1; id <= NODE_COUNT; id++) {
        const dyn_member_t e = {.id = id, .status = DYN_MEMBER_VALID, .version = 1};
        assert_int_equal(dyn_membership_apply(view, &e), 1);
    }
    for (uint32_t i = 0; i < NODE_COUNT; i++)
        assert_true(dyn_node_merge_members(c->nodes[i], view) >= 0);
    dyn_membership_destroy(view);
}

/*
 * With no traffic at all, a dead member is suspected by every other node within two passes of
 * probes (four members a pass, one a period); a live member whose link to one node is broken is reached
 * through the others' indirect probes and never suspected; nobody is suspected while all is well.
 */
static void test_swim_detector(void **state)
{
    cluster_t *c = *state;
    init_views(c);
    start_all(c);
    tick_cut(c, 100, 0, 0, 0);
    assert_int_equal(TOTAL(c, fd_suspicions), 0);
    assert_int_equal(TOTAL(c, suspicions), 0);
    assert_true(TOTAL(c, fd_probes) >= NODE_COUNT * 20);
    assert_int_equal(TOTAL(c, fd_indirect), 0);

    /* Node 3 dies (nothing in or out). One pass of 4 periods, plus the period in flight. */
    int ticks = 0;
    bool all = false;
    while (!all && ticks < 100) {
        tick_cut(c, 1, 3, 0, 0);
        ticks++;
        all = true;
        for (uint32_t id = 1; id <= NODE_COUNT; id++)
            if (id != 3 && !dyn_node_suspects_peer(node_of(c, id), 3))
                all = false;
    }
    assert_true(all);
    /* SWIM's bound for a shuffled round robin: probed within two passes (the dead member can be
     * first of one pass and last of the next), plus the period that ends the probe. */
    assert_true(ticks <= (2 * 4 + 1) * 4);
    /* Each live node suspected node 3 once; node 3, cut off, suspected some of them. */
    for (uint32_t id = 1; id <= NODE_COUNT; id++)
        if (id != 3)
            assert_int_equal(stats_of(c, id)->fd_suspicions, 1);
    /* Back: the probes of suspects find it, and nobody suspects it any more. */
    tick_cut(c, 3, 0, 0, 0);
    for (uint32_t id = 1; id <= NODE_COUNT; id++)
        assert_false(dyn_node_suspects_peer(node_of(c, id), 3));

    /* The link between 1 and 2 breaks; both stay up. Indirect probes keep them trusted. */
    uint64_t indirect = stats_of(c, 1)->fd_indirect;
    uint64_t suspicions = TOTAL(c, fd_suspicions);
    tick_cut(c, 200, 0, 1, 2);
    assert_true(stats_of(c, 1)->fd_indirect > indirect);
    assert_int_equal(TOTAL(c, fd_suspicions), suspicions);
    assert_false(dyn_node_suspects_peer(node_of(c, 1), 2));
    assert_false(dyn_node_suspects_peer(node_of(c, 2), 1));
}

/* Put KEY and delete it at all three owners, as the collection tests start. */
static void put_then_delete_everywhere(cluster_t *c)
{
    const dyn_req_opts_t all = {.w = 3};
    dyn_msg_t reply;
    put_sync(c, c->pref[0], 1, "v1", NULL, all, false, &reply);
    dyn_vclock_t ctx = reply.context;
    dyn_msg_clear(&reply);
    put_sync(c, c->pref[0], 2, NULL, &ctx, all, true, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
}

/*
 * A node outside the owners that keeps a hint of the key (a replica too) blocks the collection:
 * handed off after it, a covered version in the hint would bring the value back. Once the hint
 * is gone, the key is collected.
 */
static void test_collection_waits_for_hints(void **state)
{
    cluster_t *c = *state;
    put_then_delete_everywhere(c);
    /* Node pref[3] holds, for owner pref[2], an old copy of the key. */
    uint8_t hint_key[DYN_HINT_KEY_MAX];
    size_t length = dyn_node_hint_key(c->pref[2], (const uint8_t *)KEY, strlen(KEY), hint_key);
    uint8_t blob[512];
    size_t blob_length = stored_bytes(c, c->pref[0], blob, sizeof blob);
    dyn_storage_t st = dyn_mem_store_storage(c->stores[c->pref[3] - 1]);
    assert_int_equal(st.ops->put(st.ctx, DYN_SPACE_HINTS, hint_key, length, blob, blob_length),
                     DYN_OK);
    start_all(c);
    tick_all(c, 20);
    assert_int_equal(TOTAL(c, tombstones_reaped), 0);
    assert_true(stats_of(c, c->pref[0])->reap_refused > 0);
    /* The hint goes (say, handed off); the next round collects the key. */
    assert_int_equal(st.ops->del(st.ctx, DYN_SPACE_HINTS, hint_key, length), DYN_OK);
    for (int i = 0; i < 40 && TOTAL(c, tombstones_reaped) < 3; i++)
        tick_all(c, 1);
    assert_int_equal(TOTAL(c, tombstones_reaped), 3);
}

/*
 * A round needs a yes from every node asked: one node's yes delivered twice while another's
 * answer never comes must not count as two, so nothing is collected.
 */
static void test_collection_counts_each_yes_once(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], r3 = c->pref[2], b = c->pref[1];
    put_then_delete_everywhere(c);
    start_all(c);
    for (int i = 0; i < 40 && stats_of(c, a)->reap_rounds == 0; i++) {
        fake_net_advance(&c->net, c->net.now_us + TICK_US);
        /* Until the round starts, let everything through; once it has, stop. */
        if (stats_of(c, a)->reap_rounds == 0)
            run(c);
    }
    assert_int_equal(stats_of(c, a)->reap_rounds, 1);
    /* r3 never hears the question; b's answer arrives twice. */
    assert_int_equal(fake_net_drop(&c->net, a, r3, DYN_MSG_REAP), 1);
    assert_true(fake_net_deliver_first(&c->net, a, b, DYN_MSG_REAP));
    long i = fake_net_find(&c->net, b, a, DYN_MSG_REAP_REPLY);
    assert_true(i >= 0);
    const fake_msg_t *yes = fake_net_peek(&c->net, (size_t)i);
    uint8_t copy[64];
    assert_true(yes->length <= sizeof copy);
    memcpy(copy, yes->bytes, yes->length);
    size_t copy_length = yes->length;
    fake_net_inject(&c->net, b, a, copy, copy_length);
    run(c);
    assert_int_equal(TOTAL(c, tombstones_reaped), 0);
    for (uint32_t k = 0; k < 3; k++)
        assert_int_equal(stored_count(c, c->pref[k]), 1);
}

/*
 * Truncation elsewhere must not make a coordinator name a dot twice. With a threshold of one
 * entry, c's delete keeps only b's entry in its past, yet supersedes b's version and with it a's
 * first write: a's stored set then names none of a's counters. a kept the counter as the key's
 * floor, so its next write is a:2, not a second a:1.
 */
/*
 * Key-range transfer. The key's primary a stops owning it (a commit gives its partitions to node
 * x): a sends its copy to the key's new owners, and deletes it only once all of them acknowledged
 * it. When a later commit gives the key back, a's next write must count on past the counter its
 * actor issued before: the deleted copy was its only record of it (a dot named twice would let
 * replicas keep two different writes as one).
 */
static void test_transfer_moves_then_keeps_the_counter(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], x = c->pref[3];
    const dyn_req_opts_t all = {.w = 3, .r = 3};
    dyn_msg_t reply;
    put_sync(c, a, 1, "v1", NULL, all, false, &reply);
    assert_true(reply.written.node == a && reply.written.counter == 1);
    dyn_msg_clear(&reply);

    const dyn_ring_config_t *rc = dyn_ring_config(c->ring);
    uint32_t old_table[64], new_table[64];
    assert_int_equal(rc->partitions, 64);
    assert_int_equal(dyn_ring_s3_table(c->ring, old_table), DYN_OK);
    for (uint32_t p = 0; p < 64; p++)
        new_table[p] = old_table[p] == a ? x : old_table[p];
    assert_int_equal(dyn_node_ring_commit(node_of(c, a), new_table), 1);
    assert_int_equal(dyn_node_ring_version(node_of(c, a)), 1);
    /* Before gossip has told them, the new owners refuse the set: their ring does not give it. */
    dyn_node_start(node_of(c, a), c->net.now_us);
    fake_net_advance(&c->net, c->net.now_us + TICK_US);
    run(c);
    dyn_siblings_t s;
    assert_int_equal(stored(c, a, &s), 1);
    dyn_siblings_clear(&s);
    assert_true(stats_of(c, x)->handoffs_refused >= 1);
    for (uint32_t id = 1; id <= NODE_COUNT; id++)
        assert_true(dyn_node_merge_members(node_of(c, id), dyn_node_membership(node_of(c, a))) >=
                    0);
    assert_false(dyn_node_transfer_idle(node_of(c, a)));
    uint32_t owners[3];
    assert_int_equal(dyn_ring_preference_list(dyn_node_ring(node_of(c, a)),
                                              dyn_ring_hash(KEY, strlen(KEY)), owners, 3), 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_not_equal(owners[i], a);

    /* Next tick: a sends the set to the three owners; once all three acknowledge, it is gone. */
    fake_net_advance(&c->net, c->net.now_us + TICK_US);
    run(c);
    assert_int_equal(stored(c, a, &s), 0);
    dyn_siblings_clear(&s);
    assert_int_equal(stats_of(c, a)->transfer_dropped, 1);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(stored(c, owners[i], &s), 1);
        dyn_siblings_clear(&s);
    }
    fake_net_advance(&c->net, c->net.now_us + TICK_US);
    run(c);
    assert_true(dyn_node_transfer_idle(node_of(c, a)));

    /* The key comes back to a, which has no copy: its next write still counts on from 1. */
    assert_int_equal(dyn_node_ring_commit(node_of(c, a), old_table), 2);
    for (uint32_t id = 1; id <= NODE_COUNT; id++)
        assert_true(dyn_node_merge_members(node_of(c, id), dyn_node_membership(node_of(c, a))) >=
                    0);
    put_sync(c, a, 2, "v2", NULL, all, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_true(reply.written.node == a && reply.written.counter == 2);
    dyn_msg_clear(&reply);
}

static void test_truncation_does_not_reissue_a_dot(void **state)
{
    cluster_t *c = *state;
    const uint32_t a = c->pref[0], b = c->pref[1], r3 = c->pref[2];
    const dyn_req_opts_t all = {.w = 3, .r = 3};
    dyn_msg_t reply;
    put_sync(c, a, 1, "v1", NULL, all, false, &reply);
    assert_true(reply.written.node == a && reply.written.counter == 1);
    dyn_msg_clear(&reply);
    get_sync(c, a, 2, all, &reply);
    dyn_vclock_t ctx = reply.context;
    dyn_msg_clear(&reply);
    put_sync(c, b, 3, "v2", &ctx, all, false, &reply);
    dyn_msg_clear(&reply);
    get_sync(c, r3, 4, all, &reply);
    ctx = reply.context;
    dyn_msg_clear(&reply);
    put_sync(c, r3, 5, NULL, &ctx, all, true, &reply);
    assert_int_equal(reply.status, DYN_OK);
    dyn_msg_clear(&reply);
    dyn_siblings_t s;
    assert_int_equal(stored(c, a, &s), 1);
    assert_int_equal(dyn_vclock_get(&s.items[0].clock, a, 1), 0); /* a's counter is forgotten */
    dyn_siblings_clear(&s);
    put_sync(c, a, 6, "v3", NULL, all, false, &reply);
    assert_int_equal(reply.status, DYN_OK);
    assert_true(reply.written.node == a && reply.written.counter == 2);
    dyn_msg_clear(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transfer_moves_then_keeps_the_counter, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_does_not_reuse_request_ids, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_epoch_persisted_and_renewed_after_wipe, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_rejects_invalid_config, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_put_replicates_and_answers_after_w, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_get_returns_siblings_and_context_merges,
                                        setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_forward_and_relay, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_forwarded_put_at_non_replica_refused, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timeout_and_stray_replies, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_failed_quorum, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_request_overrides, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_delete_tombstone_and_stale_writes, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_context_becomes_sibling, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_blind_writes_same_coordinator_keep_both,
                                        setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_same_stale_context_two_writes_one_coordinator,
                                        setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_dot_counter_exceeds_context_and_store, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_put_reply_context_claims_only_what_the_writer_saw,
                                        setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_r1_get_context_claims_only_what_the_reader_saw,
                                        setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_coordinator_read_error_on_put_is_answered,
                                        setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_replayed_replica_put_is_idempotent, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_repair_updates_only_the_stale_replica,
                                        setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_timeouts_and_late_replicas_counted_apart,
                                        setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_datagrams, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_pending_bound, setup_pending2, teardown),
        cmocka_unit_test_setup_teardown(test_siblings_bound, setup_siblings2, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_pending_get, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_sloppy_quorum_and_hinted_handoff, setup_hinted,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hint_kept_until_owner_acknowledges, setup_hinted,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hint_store_bound, setup_hints1, teardown),
        cmocka_unit_test_setup_teardown(test_pr_pw_count_owners_only, setup_hinted, teardown),
        cmocka_unit_test_setup_teardown(test_strict_quorum_never_uses_fallbacks, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_anti_entropy_in_sync_repairs_nothing, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tombstones_collected_once_every_owner_holds_them,
                                        setup_reaping, teardown),
        cmocka_unit_test_setup_teardown(test_collection_waits_for_every_owner, setup_reaping,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_floor_table_full_renews_epoch, setup_reaping,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_collection_waits_for_hints, setup_reaping,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncation_does_not_reissue_a_dot,
                                        setup_threshold1, teardown),
        cmocka_unit_test_setup_teardown(test_collection_counts_each_yes_once, setup_reaping,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_membership_gossip, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_swim_detector, setup_detector, teardown),
        cmocka_unit_test_setup_teardown(test_anti_entropy_repairs_both_ways, setup_default,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
