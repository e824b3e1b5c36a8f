/*
 * sim_world.c: the event loop and the environment the simulator gives every node and client.
 *
 * Events are of four kinds: a datagram delivery (bytes owned by the event), a node or client
 * timer, and a callback (workloads, Lua actors). Dispatch folds a fixed-layout record of each
 * event into an XXH3 stream: that hash is the run digest.
 */
#include "sim/sim_world.h"

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/codec.h"
#include "core/prng.h"
#include "core/ring_cache.h"
#include "core/status.h"
#include "sim/sim_queue.h"

/*
 * EV_DROP never enters the queue: it names a dropped datagram in the digest. An EV_DELIVER's `a`
 * is the look-ahead's store hash of the key it carries (prefetch_on_send), 0 if none; it is not
 * part of the digest.
 */
enum { EV_DELIVER = 1, EV_TIMER = 2, EV_CALLBACK = 3, EV_DROP = 4 };

/*
 * Message buffers up to SMALL_MSG_BYTES come from a LIFO free list: nearly every message is
 * small, and reusing the buffer freed last keeps it warm in cache. Larger ones use malloc.
 */
#define SMALL_MSG_BYTES 512u
#define SMALL_MSG_FREE_MAX 65536u

/* Digest records are hashed in batches; XXH3's streaming call has a fixed cost per update. */
#define DIGEST_BATCH_BYTES 4096u

typedef struct endpoint {
    sim_world_t *world;
    dyn_endpoint_t id;
} endpoint_t;

typedef struct sim_node {
    endpoint_t ep;
    dyn_node_t *node;          /* NULL while down */
    dyn_mem_store_t *store;    /* survives crashes; only a wipe loses it (no disk model) */
    sim_disk_t *disk;          /* with the disk model: crashes lose what it had not synced */
    sim_node_state_t state;
    uint32_t incarnation;      /* restarts so far; stale timers carry an older one */
    int64_t skew_us;           /* wall clock offset from simulated time */
    int64_t drift_ppm;         /* wall clock rate error, parts per million */
    sim_event_t *held;         /* events for a paused node, in arrival order */
    size_t held_count, held_capacity;
} sim_node_t;

typedef struct sim_client {
    endpoint_t ep;
    dyn_client_t *client;
} sim_client_t;

struct sim_world {
    uint64_t seed;
    dyn_time_us now_us;
    sim_queue_t *queue;
    gsl_rng *streams[SIM_STREAM_COUNT_];
    sim_net_t *net;
    sim_metrics_t *metrics;
    dyn_membership_t *members; /* the cluster as created: every node valid at version 1 */
    sim_checker_t *checker;
    XXH3_state_t *digest;

    sim_cluster_config_t cluster;
    dyn_ring_t *ring;        /* the ring the cluster was created with */
    /* Rings built from partition tables, shared by every node and the world (ring_cache.h);
     * the world holds each table it committed until the end, the newest being current. */
    dyn_ring_cache_t *rings;
    /* One workspace for every node: they take turns on this thread (node.h). */
    dyn_node_work_t *work;
    const dyn_ring_t **committed;
    uint32_t committed_count;
    const dyn_ring_t *current;
    sim_node_t *nodes;       /* index id - 1 */
    uint32_t node_count;
    sim_client_t **clients;  /* index id - SIM_CLIENT_BASE */
    uint32_t client_count, client_capacity;

    dyn_time_us time_limit_us;
    uint64_t events_max;
    uint64_t events;
    uint64_t messages;
    void **small_free;
    uint32_t small_free_count;
    uint8_t digest_batch[DIGEST_BATCH_BYTES];
    size_t digest_batch_length;
    double pending_sum;
    uint64_t pending_samples;
    int stop;
    sim_progress_fn progress;
    void *progress_arg;
};

/*
 * The fixed-layout record each event contributes to the digest. A message's bytes are not hashed
 * into it: they are appended to the batch as they are sent (digest_payload), while they are still
 * in cache, and the batch's streaming hash takes them in bulk, cheaper than a one-shot hash per
 * message. A delivery's record names the message by sender, length and time.
 */
typedef struct digest_record {
    uint64_t time;
    uint64_t a;
    uint32_t kind, target, source, length;
} digest_record_t;

static void digest_flush(sim_world_t *w)
{
    XXH3_64bits_update(w->digest, w->digest_batch, w->digest_batch_length);
    w->digest_batch_length = 0;
}

static void digest_append(sim_world_t *w, const void *record, size_t length)
{
    if (w->digest_batch_length + length > DIGEST_BATCH_BYTES)
        digest_flush(w);
    if (length > DIGEST_BATCH_BYTES) {
        XXH3_64bits_update(w->digest, record, length);
        return;
    }
    memcpy(w->digest_batch + w->digest_batch_length, record, length);
    w->digest_batch_length += length;
}

/*
 * Room for a fixed-size record at the end of the batch. Records are written field by field
 * straight into it: built on the stack and copied, a record of mixed 8- and 4-byte fields was
 * read back in 16-byte pieces that no single store covered, and every event stalled on the failed
 * store-to-load forwarding (perf: most of env_trace's time was that one load).
 */
static inline uint8_t *digest_reserve(sim_world_t *w, size_t length)
{
    DYN_ASSERT(length <= DIGEST_BATCH_BYTES);
    if (w->digest_batch_length + length > DIGEST_BATCH_BYTES)
        digest_flush(w);
    uint8_t *p = w->digest_batch + w->digest_batch_length;
    w->digest_batch_length += length;
    return p;
}

/* Host byte order, as the records' struct layout has always had it. */
static inline void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof v); }
static inline void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }

DYN_STATIC_ASSERT(sizeof(digest_record_t) == 2 * 8 + 4 * 4, "digest records have no padding");

static void digest_event(sim_world_t *w, uint32_t kind, uint32_t target, uint32_t source,
                         uint64_t a, uint32_t length)
{
    uint8_t *p = digest_reserve(w, sizeof(digest_record_t));
    put_u64(p + offsetof(digest_record_t, time), w->now_us);
    put_u64(p + offsetof(digest_record_t, a), a);
    put_u32(p + offsetof(digest_record_t, kind), kind);
    put_u32(p + offsetof(digest_record_t, target), target);
    put_u32(p + offsetof(digest_record_t, source), source);
    put_u32(p + offsetof(digest_record_t, length), length);
}

/* A message's bytes, once, when it is sent (or dropped): see digest_record_t. */
static inline void digest_payload(sim_world_t *w, const void *bytes, size_t length)
{
    digest_append(w, bytes, length);
}

static uint8_t *msg_alloc(sim_world_t *w, size_t length)
{
    if (length <= SMALL_MSG_BYTES) {
        if (w->small_free_count)
            return w->small_free[--w->small_free_count];
        return malloc(SMALL_MSG_BYTES);
    }
    return malloc(length);
}

static void msg_free(sim_world_t *w, void *buf, size_t length)
{
    if (length <= SMALL_MSG_BYTES && w->small_free_count < SMALL_MSG_FREE_MAX) {
        w->small_free[w->small_free_count++] = buf;
        return;
    }
    free(buf);
}

sim_world_t *sim_world_create(uint64_t seed)
{
    sim_world_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->seed = seed;
    w->queue = sim_queue_create();
    w->net = sim_net_create();
    w->metrics = sim_metrics_create();
    w->checker = sim_checker_create();
    w->digest = XXH3_createState();
    w->small_free = malloc(SMALL_MSG_FREE_MAX * sizeof(void *));
    w->time_limit_us = DYN_TIME_NEVER;
    w->events_max = UINT64_MAX;
    if (!w->queue || !w->net || !w->metrics || !w->checker || !w->digest || !w->small_free) {
        sim_world_destroy(w);
        return NULL;
    }
    XXH3_64bits_reset_withSeed(w->digest, seed);
    for (int s = 1; s < SIM_STREAM_COUNT_; s++) {
        /* An explicit generator type and seed: never gsl_rng_env_setup(), which reads env vars.
         * taus2 (L'Ecuyer) is among GSL's fastest simulation-quality generators. */
        w->streams[s] = gsl_rng_alloc(gsl_rng_taus2);
        if (!w->streams[s]) {
            sim_world_destroy(w);
            return NULL;
        }
        gsl_rng_set(w->streams[s], (unsigned long)dyn_seed_derive(seed, (uint64_t)s));
    }
    return w;
}

/* Payloads of events dropped undispatched: every message buffer is a malloc block either way. */
static void discard_event(sim_event_t *ev)
{
    if (ev->kind == EV_DELIVER)
        free(ev->data);
}

void sim_world_destroy(sim_world_t *w)
{
    if (!w)
        return;
    if (w->queue) {
        sim_event_t ev;
        /* Drain pending deliveries so their payloads are freed. */
        while (sim_queue_pop(w->queue, DYN_TIME_NEVER, &ev, discard_event) == 1)
            discard_event(&ev);
        sim_queue_destroy(w->queue);
    }
    for (uint32_t i = 0; i < w->node_count; i++) {
        dyn_node_destroy(w->nodes[i].node);
        dyn_mem_store_destroy(w->nodes[i].store);
        sim_disk_destroy(w->nodes[i].disk);
        for (size_t h = 0; h < w->nodes[i].held_count; h++)
            discard_event(&w->nodes[i].held[h]);
        free(w->nodes[i].held);
    }
    free(w->nodes);
    for (uint32_t i = 0; i < w->client_count; i++) {
        dyn_client_destroy(w->clients[i]->client);
        free(w->clients[i]);
    }
    free(w->clients);
    for (uint32_t i = 0; i < w->committed_count; i++)
        dyn_ring_cache_release(w->rings, w->committed[i]);
    free(w->committed);
    dyn_ring_cache_destroy(w->rings);
    dyn_node_work_destroy(w->work);
    dyn_ring_destroy(w->ring);
    dyn_membership_destroy(w->members);
    for (int s = 1; s < SIM_STREAM_COUNT_; s++)
        if (w->streams[s])
            gsl_rng_free(w->streams[s]);
    sim_net_destroy(w->net);
    sim_metrics_destroy(w->metrics);
    sim_checker_destroy(w->checker);
    if (w->small_free) {
        for (uint32_t i = 0; i < w->small_free_count; i++)
            free(w->small_free[i]);
        free(w->small_free);
    }
    if (w->digest)
        XXH3_freeState(w->digest);
    free(w);
}

uint64_t sim_world_seed(const sim_world_t *w) { return w->seed; }
dyn_time_us sim_world_now(const sim_world_t *w) { return w->now_us; }
sim_net_t *sim_world_net(sim_world_t *w) { return w->net; }
sim_metrics_t *sim_world_metrics(sim_world_t *w) { return w->metrics; }
sim_checker_t *sim_world_checker(sim_world_t *w) { return w->checker; }
uint32_t sim_world_node_count(const sim_world_t *w) { return w->node_count; }
const dyn_ring_t *sim_world_ring(const sim_world_t *w) { return w->current; }

uint32_t sim_world_ring_commits(const sim_world_t *w) { return w->committed_count; }

int sim_world_commit_ring(sim_world_t *w, const uint32_t *owners)
{
    const dyn_ring_t **grown =
        realloc(w->committed, (w->committed_count + 1) * sizeof(*grown));
    if (!grown)
        return DYN_ENOMEM;
    w->committed = grown;
    const dyn_ring_t *ring;
    int rc = dyn_ring_cache_acquire(w->rings, dyn_ring_config(w->current), owners, &ring);
    if (rc != DYN_OK)
        return rc;
    w->committed[w->committed_count++] = ring;
    w->current = ring;
    for (uint32_t i = 0; i < w->client_count; i++)
        if (dyn_client_ring(w->clients[i]->client))
            dyn_client_set_ring(w->clients[i]->client, ring, (uint8_t)w->cluster.node.n);
    return DYN_OK;
}
const sim_cluster_config_t *sim_world_cluster_config(const sim_world_t *w) { return &w->cluster; }

void sim_world_set_hinted_handoff(sim_world_t *w, int on)
{
    w->cluster.node.hinted_handoff = on ? 1 : 0;
    for (uint32_t i = 0; i < w->node_count; i++)
        if (w->nodes[i].node)
            dyn_node_set_hinted_handoff(w->nodes[i].node, on);
}
uint64_t sim_world_events(const sim_world_t *w) { return w->events; }
uint64_t sim_world_messages(const sim_world_t *w) { return w->messages; }
size_t sim_world_pending_events(const sim_world_t *w) { return sim_queue_size(w->queue); }

double sim_world_mean_pending(const sim_world_t *w)
{
    return w->pending_samples ? w->pending_sum / (double)w->pending_samples
                              : (double)sim_queue_size(w->queue);
}
uint64_t sim_world_digest(sim_world_t *w)
{
    digest_flush(w);
    return XXH3_64bits_digest(w->digest);
}

void sim_world_digest_add(sim_world_t *w, const void *bytes, size_t length)
{
    digest_append(w, bytes, length);
}

gsl_rng *sim_world_stream(sim_world_t *w, sim_stream_t stream)
{
    DYN_ASSERT(stream >= 1 && stream < SIM_STREAM_COUNT_);
    return w->streams[stream];
}

dyn_node_t *sim_world_node(sim_world_t *w, uint32_t id)
{
    return id >= 1 && id <= w->node_count ? w->nodes[id - 1].node : NULL;
}

dyn_mem_store_t *sim_world_store(sim_world_t *w, uint32_t id)
{
    if (id < 1 || id > w->node_count)
        return NULL;
    const sim_node_t *sn = &w->nodes[id - 1];
    return sn->disk ? sim_disk_cache(sn->disk) : sn->store;
}

sim_disk_t *sim_world_disk(sim_world_t *w, uint32_t id)
{
    return id >= 1 && id <= w->node_count ? w->nodes[id - 1].disk : NULL;
}

static dyn_storage_t storage_of(sim_node_t *sn)
{
    return sn->disk ? sim_disk_storage(sn->disk) : dyn_mem_store_storage(sn->store);
}

/* Tell a node's disk the time before the node runs, so syncs cost from now. */
static void disk_now(sim_world_t *w, sim_node_t *sn)
{
    if (sn->disk)
        sim_disk_set_now(sn->disk, w->now_us);
}

/* ---- the environment given to nodes and clients ---------------------------------------- */

static uint64_t push(sim_world_t *w, const sim_event_t *ev)
{
    DYN_ASSERT(ev->time >= w->now_us);
    uint64_t handle = sim_queue_push(w->queue, ev);
    DYN_ASSERT(handle != 0); /* out of memory in the simulator: nothing sensible to continue with */
    return handle;
}

/*
 * Look-ahead for the store, stage 1. A request delivered to a node is answered from its store,
 * and on a large run that lookup is two dependent trips to memory (the slot, then the entry):
 * perf put mem_get first among the simulator's own functions, nearly all of it waiting on the
 * slot, and a write's Merkle update second (the tree's first line and the key's leaf). When a
 * request for a node's data is sent, fetch its slot and, for a write, its Merkle lines: the
 * message spends a network delay in the queue, tens of events, while they arrive. Returns the
 * key's store hash for the delivery event to carry to stage 2 (prefetch_next), or 0. Only hints:
 * nothing here changes state, and a wrong guess costs a wasted fetch.
 */
static uint64_t prefetch_on_send(sim_world_t *w, dyn_endpoint_t to, const uint8_t *bytes,
                                 size_t length)
{
    if (to < 1 || to > w->node_count)
        return 0;
    const sim_node_t *sn = &w->nodes[to - 1];
    const uint8_t *key;
    size_t key_length;
    uint32_t hint;
    if (!sn->store || dyn_codec_peek_key(bytes, length, &key, &key_length, &hint) != DYN_OK ||
        (hint != 0 && hint != to))
        return 0; /* not a request, or one for the hint space, whose key is built by the node */
    uint64_t hash = dyn_mem_store_hash(key, key_length);
    dyn_mem_store_prefetch_slot(sn->store, DYN_SPACE_DATA, hash);
    dyn_msg_type_t type = dyn_codec_peek_type(bytes, length);
    if (sn->node && (type == DYN_MSG_REPLICA_PUT || type == DYN_MSG_CLIENT_PUT))
        dyn_node_prefetch_write(sn->node, key, key_length);
    return hash;
}

static int env_send(void *ctx, dyn_endpoint_t to, const uint8_t *bytes, size_t length)
{
    endpoint_t *ep = ctx;
    sim_world_t *w = ep->world;
    if (length > DYN_MSG_MAX)
        return DYN_ETOOBIG;
    /* A node blocked in an fsync sends when it returns: the send leaves at the end of the sync. */
    dyn_time_us leave_us = w->now_us;
    if (ep->id >= 1 && ep->id <= w->node_count && w->nodes[ep->id - 1].disk) {
        dyn_time_us busy = sim_disk_busy_until(w->nodes[ep->id - 1].disk);
        if (busy > leave_us)
            leave_us = busy;
    }
    sim_net_fate_t fate;
    sim_net_route(w->net, ep->id, to, dyn_codec_peek_type(bytes, length), leave_us,
                  w->streams[SIM_STREAM_NET], &fate);
    if (fate.copies == 0) {
        /* Lost on the wire: like UDP, the sender is not told. The digest records it. */
        digest_event(w, EV_DROP, to, ep->id, fate.dropped, (uint32_t)length);
        digest_payload(w, bytes, length);
        return DYN_OK;
    }
    digest_payload(w, bytes, length);
    uint64_t ahead = prefetch_on_send(w, to, bytes, length);
    for (uint32_t c = 0; c < fate.copies; c++) {
        uint8_t *copy = msg_alloc(w, length);
        if (!copy)
            return DYN_ENOMEM;
        memcpy(copy, bytes, length);
        sim_event_t ev = {
            .time = fate.deliver_at_us[c], .kind = EV_DELIVER, .target = to, .source = ep->id,
            .length = (uint32_t)length, .data = copy, .a = ahead,
        };
        push(w, &ev);
    }
    return DYN_OK;
}

static uint64_t env_timer_arm(void *ctx, uint64_t timer_id, dyn_time_us deadline_us)
{
    endpoint_t *ep = ctx;
    sim_world_t *w = ep->world;
    sim_event_t ev = {
        .time = deadline_us < w->now_us ? w->now_us : deadline_us, .kind = EV_TIMER,
        .target = ep->id, .a = timer_id,
        /* A node's timers die with its incarnation: a restart must not see its past's timers. */
        .source = ep->id >= 1 && ep->id <= w->node_count ? w->nodes[ep->id - 1].incarnation : 0,
    };
    /* Timers of one delay are armed in deadline order: file them in that delay's FIFO lane. */
    uint64_t handle = sim_queue_push_lane(w->queue, &ev, ev.time - w->now_us);
    DYN_ASSERT(handle != 0);
    return handle;
}

static void env_timer_cancel(void *ctx, uint64_t handle)
{
    endpoint_t *ep = ctx;
    sim_queue_cancel(ep->world->queue, handle);
}

/* The record each trace event adds to the digest, written as digest_event's are. */
typedef struct trace_record {
    uint64_t time, request_id, key_hash;
    int64_t a;
    uint32_t kind, endpoint, peer, pad;
} trace_record_t;

DYN_STATIC_ASSERT(sizeof(trace_record_t) == 4 * 8 + 4 * 4, "trace records have no padding");

static void env_trace(void *ctx, const dyn_trace_event_t *event)
{
    endpoint_t *ep = ctx;
    uint8_t *p = digest_reserve(ep->world, sizeof(trace_record_t));
    put_u64(p + offsetof(trace_record_t, time), ep->world->now_us);
    put_u64(p + offsetof(trace_record_t, request_id), event->request_id);
    put_u64(p + offsetof(trace_record_t, key_hash), event->key_hash);
    put_u64(p + offsetof(trace_record_t, a), (uint64_t)event->a);
    put_u32(p + offsetof(trace_record_t, kind), (uint32_t)event->kind);
    put_u32(p + offsetof(trace_record_t, endpoint), ep->id);
    put_u32(p + offsetof(trace_record_t, peer), event->peer);
    put_u32(p + offsetof(trace_record_t, pad), 0);
    if (event->kind == DYN_TRACE_REAPED && event->key)
        (void)sim_checker_reaped(ep->world->checker, ep->world, ep->id, event->key,
                                 event->key_length);
}

/*
 * A node's wall clock: simulated time, plus its skew, plus its drift accumulated since time zero.
 * Timers run on simulated time, as a real node's run on a monotonic clock; only the stamps on
 * versions see the skew. Clients' clocks are exact.
 */
static dyn_time_us env_wall_us(void *ctx, dyn_time_us now_us)
{
    endpoint_t *ep = ctx;
    sim_world_t *w = ep->world;
    if (ep->id < 1 || ep->id > w->node_count)
        return now_us;
    const sim_node_t *sn = &w->nodes[ep->id - 1];
    int64_t wall = (int64_t)now_us + sn->skew_us + (int64_t)now_us / 1000000 * sn->drift_ppm;
    return wall < 0 ? 0 : (dyn_time_us)wall;
}

static const dyn_env_ops_t sim_env_ops = {
    .send = env_send,
    .timer_arm = env_timer_arm,
    .timer_cancel = env_timer_cancel,
    .trace = env_trace,
    .wall_us = env_wall_us,
};

/* ---- cluster and clients ---------------------------------------------------------------- */

/*
 * Start (or restart) a node on its store. Each incarnation gets its own PRNG seed, so a node
 * whose disk was wiped draws a new epoch, never the one of its previous life.
 */
static dyn_node_t *start_node(sim_world_t *w, sim_node_t *sn)
{
    dyn_node_config_t nc = w->cluster.node;
    nc.id = sn->ep.id;
    nc.ring_cache = w->rings;
    nc.work = w->work;
    nc.seed = dyn_seed_derive(w->seed, SIM_STREAM_NODE_BASE + nc.id +
                                           ((uint64_t)sn->incarnation << 32));
    sn->state = SIM_NODE_UP;
    disk_now(w, sn);
    dyn_node_t *node = dyn_node_create(&nc, w->current, storage_of(sn),
                                       (dyn_env_t){.ops = &sim_env_ops, .ctx = &sn->ep});
    if (!node)
        return NULL;
    /* Every node knows the cluster it was created in; a restarted one also what it stored. */
    if (dyn_node_merge_members(node, w->members) < 0) {
        dyn_node_destroy(node);
        return NULL;
    }
    dyn_node_start(node, w->now_us);
    return node;
}

/* The disks' background flush: every flush interval, on every node that is up. */
static void flush_tick(sim_world_t *w, void *arg, uint64_t a)
{
    (void)arg;
    (void)a;
    for (uint32_t i = 0; i < w->node_count; i++)
        if (w->nodes[i].disk && w->nodes[i].state != SIM_NODE_DOWN)
            sim_disk_tick(w->nodes[i].disk, w->now_us);
    sim_world_at(w, w->now_us + w->cluster.disk.flush_interval_us, flush_tick, NULL, 0);
}

int sim_world_create_cluster(sim_world_t *w, const sim_cluster_config_t *config, char *err,
                             size_t err_size)
{
    if (w->nodes) {
        snprintf(err, err_size, "a cluster already exists in this run (one per scenario)");
        return -1;
    }
    if (config->nodes < 1 || config->nodes >= SIM_CLIENT_BASE) {
        snprintf(err, err_size, "nodes must be between 1 and %u, got %u", SIM_CLIENT_BASE - 1,
                 config->nodes);
        return -1;
    }
    w->cluster = *config;
    /* The disks copy the fsync distribution; this copy of the config must not keep the caller's
     * pointers, which the caller frees. */
    w->cluster.disk.fsync_us = sim_dist_constant(0);
    if (w->cluster.ring.seed == 0)
        w->cluster.ring.seed = dyn_seed_derive(w->seed, SIM_STREAM_RING);
    /* Spares run from the start but are outside the ring and the view until they join. */
    uint32_t total = config->nodes + config->spares;
    if (config->spares >= SIM_CLIENT_BASE || total >= SIM_CLIENT_BASE) {
        snprintf(err, err_size, "nodes and spares together must be below %u", SIM_CLIENT_BASE);
        return -1;
    }
    uint32_t *ids = malloc(config->nodes * sizeof(uint32_t));
    w->nodes = calloc(total, sizeof(sim_node_t));
    w->rings = dyn_ring_cache_create();
    w->work = dyn_node_work_create();
    if (!ids || !w->nodes || !w->rings || !w->work) {
        free(ids);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    w->members = dyn_membership_create();
    if (!w->members) {
        free(ids);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < config->nodes; i++) {
        ids[i] = i + 1;
        const dyn_member_t m = {.id = i + 1, .status = DYN_MEMBER_VALID, .version = 1};
        if (dyn_membership_apply(w->members, &m) < 0) {
            free(ids);
            snprintf(err, err_size, "at most %u members", DYN_MEMBERS_MAX);
            return -1;
        }
    }
    sim_net_set_nodes(w->net, total);
    int rc = dyn_ring_create(&w->ring, &w->cluster.ring, ids, config->nodes);
    w->current = w->ring;
    free(ids);
    if (rc != DYN_OK) {
        snprintf(err, err_size, "invalid ring (strategy S%d, %u nodes, %u partitions, %u tokens "
                 "per node): %s", (int)config->ring.strategy, config->nodes,
                 config->ring.partitions, config->ring.tokens_per_node, dyn_strerror(rc));
        return -1;
    }
    for (uint32_t i = 0; i < total; i++) {
        sim_node_t *sn = &w->nodes[i];
        sn->ep = (endpoint_t){.world = w, .id = i + 1};
        if (config->disk_model)
            sn->disk = sim_disk_create(&config->disk, w->streams[SIM_STREAM_DISK]);
        else
            sn->store = dyn_mem_store_create();
        sn->node = sn->store || sn->disk ? start_node(w, sn) : NULL;
        w->node_count = i + 1;
        if (!sn->node) {
            snprintf(err, err_size, "invalid node configuration (n=%u r=%u w=%u; r and w must "
                     "be between 1 and n, n at most %d)", config->node.n, config->node.r,
                     config->node.w, DYN_N_MAX);
            return -1;
        }
    }
    if (config->disk_model && config->disk.flush_interval_us)
        sim_world_at(w, w->now_us + config->disk.flush_interval_us, flush_tick, NULL, 0);
    if (config->node.n > config->nodes) {
        snprintf(err, err_size, "n=%u is larger than the cluster (%u nodes)", config->node.n,
                 config->nodes);
        return -1;
    }
    return 0;
}

dyn_endpoint_t sim_world_add_client(sim_world_t *w, const dyn_client_config_t *config,
                                    dyn_client_t **out)
{
    if (w->node_count == 0 || w->client_count >= SIM_CLIENTS_MAX)
        return 0;
    if (w->client_count == w->client_capacity) {
        uint32_t cap = w->client_capacity ? w->client_capacity * 2 : 16;
        sim_client_t **clients = realloc(w->clients, cap * sizeof(*clients));
        if (!clients)
            return 0;
        w->clients = clients;
        w->client_capacity = cap;
    }
    dyn_client_config_t cc = *config;
    uint32_t *all = NULL;
    if (!cc.nodes) {
        all = malloc(w->node_count * sizeof(uint32_t));
        if (!all)
            return 0;
        for (uint32_t i = 0; i < w->node_count; i++)
            all[i] = i + 1;
        cc.nodes = all;
        cc.node_count = w->node_count;
    }
    cc.seed = gsl_rng_get(w->streams[SIM_STREAM_CLIENTS]);
    /* Each client is its own allocation: its env context must not move when the array grows. */
    sim_client_t *sc = calloc(1, sizeof(*sc));
    if (!sc) {
        free(all);
        return 0;
    }
    sc->ep = (endpoint_t){.world = w, .id = SIM_CLIENT_BASE + w->client_count};
    sc->client = dyn_client_create(&cc, (dyn_env_t){.ops = &sim_env_ops, .ctx = &sc->ep});
    free(all);
    if (!sc->client) {
        free(sc);
        return 0;
    }
    w->clients[w->client_count++] = sc;
    if (out)
        *out = sc->client;
    return sc->ep.id;
}

/* ---- the loop --------------------------------------------------------------------------- */

uint64_t sim_world_at(sim_world_t *w, dyn_time_us when, sim_callback_fn fn, void *arg,
                      uint64_t a)
{
    sim_event_t ev = {
        .time = when < w->now_us ? w->now_us : when, .kind = EV_CALLBACK, .a = a,
        .data = *(void **)&fn, .arg = arg,
    };
    return push(w, &ev);
}

void sim_world_cancel(sim_world_t *w, uint64_t handle) { sim_queue_cancel(w->queue, handle); }

void sim_world_set_limits(sim_world_t *w, dyn_time_us time_limit_us, uint64_t events_max)
{
    w->time_limit_us = time_limit_us;
    w->events_max = events_max;
}

void sim_world_set_progress(sim_world_t *w, sim_progress_fn fn, void *arg)
{
    w->progress = fn;
    w->progress_arg = arg;
}

void sim_world_stop(sim_world_t *w) { w->stop = 1; }

/* Keep an event for a paused node; it is delivered when the node resumes. */
static void hold(sim_node_t *sn, const sim_event_t *ev)
{
    if (sn->held_count == sn->held_capacity) {
        size_t cap = sn->held_capacity ? sn->held_capacity * 2 : 64;
        sim_event_t *held = realloc(sn->held, cap * sizeof(*held));
        DYN_ASSERT(held != NULL); /* out of memory in the simulator */
        sn->held = held;
        sn->held_capacity = cap;
    }
    sn->held[sn->held_count++] = *ev;
}

static void release_held(sim_world_t *w, sim_node_t *sn, int deliver)
{
    for (size_t i = 0; i < sn->held_count; i++) {
        sim_event_t ev = sn->held[i];
        if (deliver) {
            ev.time = w->now_us; /* same instant, in the order they arrived */
            if (ev.kind == EV_TIMER)
                sim_queue_push_lane(w->queue, &ev, 0);
            else
                push(w, &ev);
        } else {
            discard_event(&ev);
        }
    }
    sn->held_count = 0;
}

static sim_node_t *node_slot(sim_world_t *w, uint32_t id)
{
    return id >= 1 && id <= w->node_count ? &w->nodes[id - 1] : NULL;
}

int sim_world_crash(sim_world_t *w, uint32_t id)
{
    sim_node_t *sn = node_slot(w, id);
    if (!sn || sn->state == SIM_NODE_DOWN)
        return DYN_EINVAL;
    release_held(w, sn, 0);
    dyn_node_destroy(sn->node);
    sn->node = NULL;
    sn->state = SIM_NODE_DOWN;
    if (sn->disk) {
        disk_now(w, sn);
        sim_disk_crash(sn->disk); /* what was not synced is gone */
    }
    return DYN_OK;
}

int sim_world_restart(sim_world_t *w, uint32_t id)
{
    sim_node_t *sn = node_slot(w, id);
    if (!sn || sn->state != SIM_NODE_DOWN)
        return DYN_EINVAL;
    sn->incarnation++;
    sn->node = start_node(w, sn);
    if (!sn->node) {
        sn->state = SIM_NODE_DOWN;
        return DYN_ENOMEM;
    }
    return DYN_OK;
}

int sim_world_pause(sim_world_t *w, uint32_t id)
{
    sim_node_t *sn = node_slot(w, id);
    if (!sn || sn->state != SIM_NODE_UP)
        return DYN_EINVAL;
    sn->state = SIM_NODE_PAUSED;
    return DYN_OK;
}

int sim_world_resume(sim_world_t *w, uint32_t id)
{
    sim_node_t *sn = node_slot(w, id);
    if (!sn || sn->state != SIM_NODE_PAUSED)
        return DYN_EINVAL;
    sn->state = SIM_NODE_UP;
    release_held(w, sn, 1);
    return DYN_OK;
}

int sim_world_wipe(sim_world_t *w, uint32_t id)
{
    sim_node_t *sn = node_slot(w, id);
    if (!sn || sn->state != SIM_NODE_DOWN)
        return DYN_EINVAL;
    if (sn->disk)
        sim_disk_wipe(sn->disk);
    else
        dyn_mem_store_wipe(sn->store);
    return DYN_OK;
}

int sim_world_set_clock(sim_world_t *w, uint32_t id, int64_t skew_us, int64_t drift_ppm)
{
    sim_node_t *sn = node_slot(w, id);
    if (!sn || drift_ppm <= -1000000 || drift_ppm >= 1000000)
        return DYN_EINVAL;
    sn->skew_us = skew_us;
    sn->drift_ppm = drift_ppm;
    return DYN_OK;
}

sim_node_state_t sim_world_node_state(const sim_world_t *w, uint32_t id)
{
    return id >= 1 && id <= w->node_count ? w->nodes[id - 1].state : SIM_NODE_DOWN;
}

static void dispatch(sim_world_t *w, sim_event_t *ev)
{
    switch (ev->kind) {
    case EV_DELIVER: {
        w->messages++;
        digest_event(w, ev->kind, ev->target, ev->source, 0, ev->length);
        if (ev->target >= 1 && ev->target <= w->node_count) {
            sim_node_t *sn = &w->nodes[ev->target - 1];
            if (sn->state == SIM_NODE_PAUSED) {
                hold(sn, ev);
                return;   /* the held event keeps its payload */
            }
            if (sn->state == SIM_NODE_UP) {
                disk_now(w, sn);
                dyn_node_on_message(sn->node, w->now_us, ev->source, ev->data, ev->length);
            }
            /* A down node hears nothing: the datagram is lost. */
        } else if (ev->target >= SIM_CLIENT_BASE &&
                   ev->target - SIM_CLIENT_BASE < w->client_count) {
            dyn_client_on_message(w->clients[ev->target - SIM_CLIENT_BASE]->client, w->now_us,
                                  ev->source, ev->data, ev->length);
        }
        msg_free(w, ev->data, ev->length);
        break;
    }
    case EV_TIMER:
        digest_event(w, ev->kind, ev->target, 0, ev->a, 0);
        if (ev->target >= 1 && ev->target <= w->node_count) {
            sim_node_t *sn = &w->nodes[ev->target - 1];
            if (ev->source != sn->incarnation || sn->state == SIM_NODE_DOWN)
                break;   /* a timer of a past incarnation, or of a node that is down */
            if (sn->state == SIM_NODE_PAUSED) {
                hold(sn, ev);
            } else {
                disk_now(w, sn);
                dyn_node_on_timer(sn->node, w->now_us, ev->a);
            }
        } else if (ev->target >= SIM_CLIENT_BASE && ev->target - SIM_CLIENT_BASE < w->client_count)
            dyn_client_on_timer(w->clients[ev->target - SIM_CLIENT_BASE]->client, w->now_us,
                                ev->a);
        break;
    case EV_CALLBACK: {
        digest_event(w, ev->kind, 0, 0, ev->a, 0);
        sim_callback_fn fn;
        *(void **)&fn = ev->data;
        fn(w, ev->arg, ev->a);
        break;
    }
    default:
        DYN_ASSERT(0 && "unknown event kind");
    }
}

/*
 * Look-ahead for the store, stage 2: the next event's slot was fetched when its message was sent
 * (prefetch_on_send), so reading it now costs little; fetch the entry it names, which then has a
 * whole event's dispatch to arrive before the node's get asks for it.
 */
static void prefetch_next(sim_world_t *w)
{
    const sim_event_t *ev = sim_queue_peek(w->queue);
    if (!ev || ev->kind != EV_DELIVER || !ev->a || ev->target < 1 || ev->target > w->node_count)
        return;
    const sim_node_t *sn = &w->nodes[ev->target - 1];
    if (sn->store && sn->state == SIM_NODE_UP)
        dyn_mem_store_prefetch_entry(sn->store, DYN_SPACE_DATA, ev->a);
}

sim_run_result_t sim_world_run(sim_world_t *w)
{
    w->stop = 0;
    sim_event_t ev;
    for (;;) {
        if (w->stop)
            return SIM_RUN_STOPPED;
        if (w->events >= w->events_max)
            return SIM_RUN_EVENTS_MAX;
        int popped = sim_queue_pop(w->queue, w->time_limit_us, &ev, discard_event);
        if (popped == 0)
            return SIM_RUN_IDLE;
        if (popped < 0)
            return SIM_RUN_TIME_LIMIT;
        DYN_ASSERT(ev.time >= w->now_us); /* time never goes backwards */
        w->now_us = ev.time;
        w->events++;
        prefetch_next(w);
        dispatch(w, &ev);
        if ((w->events & 0xFFF) == 0) {
            w->pending_sum += (double)sim_queue_size(w->queue);
            w->pending_samples++;
        }
        if (w->progress && (w->events & 0xFFFF) == 0)
            w->progress(w, w->progress_arg);
    }
}
