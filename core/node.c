/*
 * node.c: replica and coordinator state machines.
 *
 * Pending requests live in a table of slots that grows up to requests_pending_max; a request id
 * is (generation << 32 | slot), so a late reply or timer for a reused slot is recognised as stray
 * by its generation and ignored. Generations start at random, so a reply to a request made
 * before a restart does not match one made after it. Every decision is a function of the node's
 * state, the message and the time passed in, so the same inputs always produce the same sends.
 *
 * A put is versioned from the client's context: the coordinator's own actor is advanced past both
 * the context and every version it already stored locally. It is the only issuer of counters for
 * that actor, so the new clock never compares equal to or older than one it issued before; reusing
 * the context's counter alone would let a put with a stale context be silently discarded.
 */
#include "core/node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/node_internal.h"
#include "core/prng.h"
#include "core/siblings.h"
#include "core/status.h"

#include <xxhash.h>

#define TIMER_KIND_SHIFT 60
#define TIMER_KIND_OP 1ULL
#define TIMER_KIND_TICK 2ULL
#define OP_TABLE_INITIAL 64u

/*
 * OP_HANDOFF: a stored set sent to the nodes that should hold it (a hint to its owner; data this
 * node no longer owns to the key's owners), awaiting every one's acknowledgement before the set is
 * deleted here.
 */
typedef enum op_kind { OP_FREE = 0, OP_GET, OP_PUT, OP_FORWARD, OP_HANDOFF } op_kind_t;

typedef struct op {
    op_kind_t kind;
    uint32_t generation;
    uint32_t next_free;
    uint8_t n, need;              /* replicas asked, answers needed (R or W) */
    uint8_t ok, failed, responded;
    uint8_t primaries, need_primary; /* owners among the targets; owner answers needed (PR/PW) */
    uint8_t primary_ok, primary_failed;
    bool replied;
    uint8_t space;                /* OP_HANDOFF: the dyn_space_t the set is kept in here */
    uint16_t responded_mask;
    int32_t first_error;
    dyn_endpoint_t origin;        /* who asked: a client or a forwarding node */
    uint64_t origin_request_id;
    uint64_t key_hash;
    uint64_t timer_handle;
    dyn_time_us start_us;
    uint32_t targets[DYN_N_MAX];
    uint32_t hint_for[DYN_N_MAX]; /* the owner target i stands in for; 0 if it is an owner */
    uint64_t answer_print[DYN_N_MAX]; /* OP_GET: each replica's answer fingerprint; 0 if none.
                                         OP_HANDOFF: [0] is the print of the set sent */
    /*
     * OP_GET: a copy of the key, for read repair; OP_HANDOFF: the set's storage key. Inline when short,
     * else on the heap. Ops move when the table grows, so the inline bytes are reached through
     * op_key(), never a pointer.
     */
    uint8_t *key_heap;
    uint32_t key_length;
    uint8_t key_inline[48];
    dyn_siblings_t merged;        /* OP_GET: reconciled answers, values owned or in answer */
    dyn_vclock_t written;         /* OP_PUT: the reply's context: past, + dot if contiguous */
    dyn_vclock_entry_t dot;       /* OP_PUT: the write's own dot, named in the reply */
    /*
     * OP_GET: a copy of the coordinator's own stored set, which merged was decoded from and
     * borrows its values from (load_answer); answer_exact while merged is still exactly that set.
     * Kept from one op to the next in the slot, like merged's array (op_alloc clears only what
     * comes before `written`).
     */
    uint8_t *answer;
    uint32_t answer_length, answer_capacity;
    bool answer_exact;
} op_t;


void dyn_node_config_default(dyn_node_config_t *config)
{
    memset(config, 0, sizeof(*config));
    config->n = 3;
    config->r = 2;
    config->w = 2;
    config->request_timeout_us = 1000000;
    config->vclock_threshold = 10;
    config->siblings_max = 100;
    config->requests_pending_max = 65536;
    config->hinted_handoff = 1;
    config->hints_max = 100000;
    config->handoff_batch = 64;
    config->transfer_batch = 64;
    config->tick_us = 200000;
    config->anti_entropy = 1;
    config->merkle_depth = 8;
    config->ae_interval_us = 1000000;
    config->tombstone_grace_us = 10000000;
    config->gossip_interval_us = 1000000;
    config->fd_timeout_us = 200000;
    config->fd_indirect = 3;
}

static bool config_valid(const dyn_node_config_t *c)
{
    return c->id != 0 && c->n >= 1 && c->n <= DYN_N_MAX && c->r >= 1 &&
           c->w >= 1 && c->r <= c->n && c->w <= c->n && c->vclock_threshold >= 1 &&
           c->vclock_threshold <= DYN_VCLOCK_MAX && c->siblings_max >= 1 &&
           c->siblings_max <= DYN_SIBLINGS_MAX && c->requests_pending_max >= 1 &&
           c->request_timeout_us > 0 &&
           (c->resolution == DYN_RESOLVE_VCLOCK || c->resolution == DYN_RESOLVE_LWW) &&
           c->sync_writes <= DYN_SYNC_ALL && c->hinted_handoff <= 1 && c->hints_max >= 1 &&
           c->handoff_batch >= 1 && c->transfer_batch >= 1 && c->tick_us > 0 && c->anti_entropy <= 1 &&
           c->merkle_depth >= 1 && c->merkle_depth <= DYN_MERKLE_DEPTH_MAX &&
           c->ae_interval_us > 0 &&
           (c->fd_interval_us == 0 ||
            (c->fd_timeout_us > 0 && c->fd_timeout_us < c->fd_interval_us));
}

static const uint8_t epoch_key[] = "epoch";

/*
 * This incarnation's epoch: one past the last one stored in META, or a random one when META has
 * none (a new or wiped disk), stored and synced before the node can send anything. A new epoch per
 * start means no counter of an earlier incarnation can be issued again, even one whose version a
 * crash took from this disk before it was synced while a replica kept it.
 * Returns DYN_OK or the storage's error.
 */
static int load_or_make_epoch(dyn_node_t *node, uint32_t *epoch)
{
    const dyn_storage_t *st = &node->storage;
    const uint8_t *blob;
    size_t length;
    int rc = st->ops->get(st->ctx, DYN_SPACE_META, epoch_key, sizeof(epoch_key) - 1, &blob,
                          &length);
    uint32_t last = 0;
    if (rc == DYN_OK && length == 4)
        last = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
               (uint32_t)blob[3] << 24;
    else if (rc != DYN_OK && rc != DYN_ENOTFOUND)
        return rc;
    if (last != 0)
        *epoch = last == UINT32_MAX ? 1 : last + 1;
    else
        *epoch = 1 + (uint32_t)dyn_prng_below(&node->prng, UINT32_MAX);
    uint8_t bytes[4] = {(uint8_t)*epoch, (uint8_t)(*epoch >> 8), (uint8_t)(*epoch >> 16),
                        (uint8_t)(*epoch >> 24)};
    rc = st->ops->put(st->ctx, DYN_SPACE_META, epoch_key, sizeof(epoch_key) - 1, bytes, 4);
    if (rc == DYN_OK)
        rc = st->ops->sync(st->ctx);
    return rc;
}

/*
 * The fallback when the reaper had to forget a key's counter floor: a new epoch, stored and synced
 * first, makes every later dot a new actor's, so no forgotten counter can be issued again.
 */
static int renew_epoch(dyn_node_t *node)
{
    uint32_t epoch = node->config.epoch == UINT32_MAX ? 1 : node->config.epoch + 1;
    uint8_t bytes[4] = {(uint8_t)epoch, (uint8_t)(epoch >> 8), (uint8_t)(epoch >> 16),
                        (uint8_t)(epoch >> 24)};
    const dyn_storage_t *st = &node->storage;
    int rc = st->ops->put(st->ctx, DYN_SPACE_META, epoch_key, sizeof(epoch_key) - 1, bytes, 4);
    if (rc == DYN_OK)
        rc = st->ops->sync(st->ctx);
    if (rc != DYN_OK)
        return rc;
    node->config.epoch = epoch;
    node->epoch_stale = false;
    node_reap_floors_clear(node);
    node->stats.epoch_renewals++;
    return DYN_OK;
}

static int count_hint(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                      size_t blob_length)
{
    (void)key;
    (void)key_length;
    (void)blob;
    (void)blob_length;
    ++*(uint64_t *)arg;
    return 0;
}

size_t dyn_node_hint_key(uint32_t owner, const uint8_t *key, size_t key_length, uint8_t *out)
{
    DYN_ASSERT(key_length <= DYN_KEY_MAX);
    out[0] = (uint8_t)(owner >> 24);
    out[1] = (uint8_t)(owner >> 16);
    out[2] = (uint8_t)(owner >> 8);
    out[3] = (uint8_t)owner;
    memcpy(out + 4, key, key_length);
    return 4 + key_length;
}

dyn_node_work_t *dyn_node_work_create(void)
{
    dyn_node_work_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    dyn_msg_init(&w->rx, DYN_MSG_CLIENT_GET);
    dyn_siblings_init(&w->scratch);
    return w;
}

void dyn_node_work_destroy(dyn_node_work_t *w)
{
    if (!w)
        return;
    dyn_msg_clear(&w->rx);
    dyn_siblings_clear(&w->scratch);
    free(w->live_view);
    free(w->tx);
    free(w->blob);
    free(w);
}

dyn_node_t *dyn_node_create(const dyn_node_config_t *config, const dyn_ring_t *ring,
                            dyn_storage_t storage, dyn_env_t env)
{
    if (!config_valid(config) || !ring)
        return NULL;
    dyn_node_t *node = calloc(1, sizeof(*node));
    if (!node)
        return NULL;
    node->config = *config;
    node->ring = ring;
    node->storage = storage;
    node->env = env;
    node->free_head = UINT32_MAX;
    node->handoff_window = config->handoff_batch;
    dyn_prng_seed(&node->prng, config->seed);
    if (node->config.epoch == 0 && load_or_make_epoch(node, &node->config.epoch) != DYN_OK) {
        free(node);
        return NULL;
    }
    node->w = config->work;
    if (!node->w) {
        node->w = node->w_own = dyn_node_work_create();
        if (!node->w) {
            free(node);
            return NULL;
        }
    }
    /* Hints survive restarts in their own space; count them once, then keep the count. */
    if (storage.ops->scan(storage.ctx, DYN_SPACE_HINTS, count_hint, &node->hints) < 0 ||
        node_reap_init(node) != DYN_OK || node_gossip_init(node) != DYN_OK ||
        node_xfer_init(node) != DYN_OK || node_fd_init(node) != DYN_OK ||
        (node->config.anti_entropy && node_ae_init(node) != DYN_OK)) {
        node_ae_free(node);
        node_xfer_free(node);
        node_reap_free(node);
        node_gossip_free(node);
        node_fd_free(node);
        dyn_node_work_destroy(node->w_own);
        free(node);
        return NULL;
    }
    return node;
}

void dyn_node_destroy(dyn_node_t *node)
{
    if (!node)
        return;
    for (uint32_t i = 0; i < node->ops_used; i++) {
        dyn_siblings_clear(&node->ops[i].merged);
        free(node->ops[i].answer);
    }
    free(node->ops);
    dyn_node_work_destroy(node->w_own);
    free(node->suspects);
    node_ae_free(node);
    node_reap_free(node);
    node_xfer_free(node);
    node_gossip_free(node);
    node_fd_free(node);
    free(node);
}

const dyn_node_stats_t *dyn_node_stats(const dyn_node_t *node) { return &node->stats; }
uint32_t dyn_node_id(const dyn_node_t *node) { return node->config.id; }
uint32_t dyn_node_epoch(const dyn_node_t *node) { return node->config.epoch; }

uint32_t dyn_node_pending(const dyn_node_t *node)
{
    uint32_t pending = 0;
    for (uint32_t i = 0; i < node->ops_used; i++)
        pending += node->ops[i].kind != OP_FREE;
    return pending;
}

uint64_t dyn_node_hints(const dyn_node_t *node) { return node->hints; }

void dyn_node_set_hinted_handoff(dyn_node_t *node, int on)
{
    node->config.hinted_handoff = on ? 1 : 0;
}
uint32_t dyn_node_suspects(const dyn_node_t *node) { return node->suspect_count; }

/* ---- failure detection ------------------------------------------------------------------ */

uint32_t node_u32_lower_bound(const uint32_t *sorted, uint32_t count, uint32_t value)
{
    uint32_t lo = 0, hi = count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool node_u32_has(const uint32_t *sorted, uint32_t count, uint32_t value)
{
    uint32_t i = node_u32_lower_bound(sorted, count, value);
    return i < count && sorted[i] == value;
}

/* Index of peer in the sorted suspect list, or of where it would go. */
static uint32_t suspect_slot(const dyn_node_t *node, uint32_t peer)
{
    return node_u32_lower_bound(node->suspects, node->suspect_count, peer);
}

bool node_suspected(const dyn_node_t *node, uint32_t peer)
{
    return node->suspect_count > 0 && node_u32_has(node->suspects, node->suspect_count, peer);
}

int dyn_node_suspects_peer(const dyn_node_t *node, uint32_t peer)
{
    return node_suspected(node, peer);
}

/* ---- buffers and sending ---------------------------------------------------------------- */

static int reserve(uint8_t **buf, size_t *capacity, size_t needed)
{
    if (needed <= *capacity)
        return DYN_OK;
    size_t cap = *capacity ? *capacity : 256;
    while (cap < needed)
        cap *= 2;
    uint8_t *p = realloc(*buf, cap);
    if (!p)
        return DYN_ENOMEM;
    *buf = p;
    *capacity = cap;
    return DYN_OK;
}

/* Encode into node->w->tx; returns the encoded length or a negative status. */
static int encode_msg(dyn_node_t *node, const dyn_msg_t *msg)
{
    /* Encode straight into the buffer, which has grown to the largest message sent so far;
     * only a larger one pays for sizing first. */
    int length = node->w->tx ? dyn_codec_encode(msg, node->w->tx, node->w->tx_capacity) : DYN_ETOOBIG;
    if (length == DYN_ETOOBIG) {
        size_t size = dyn_codec_encoded_size(msg);
        if (size == 0)
            return DYN_ETOOBIG;
        int rc = reserve(&node->w->tx, &node->w->tx_capacity, size);
        if (rc != DYN_OK)
            return rc;
        length = dyn_codec_encode(msg, node->w->tx, node->w->tx_capacity);
        DYN_ASSERT(length == (int)size);
    }
    return length;
}

int node_send_msg(dyn_node_t *node, dyn_endpoint_t to, const dyn_msg_t *msg)
{
    int length = encode_msg(node, msg);
    if (length < 0)
        return length;
    int rc = dyn_env_send(&node->env, to, node->w->tx, (size_t)length);
    return rc < 0 ? rc : length;
}

static void trace(dyn_node_t *node, dyn_trace_kind_t kind, dyn_endpoint_t peer,
                  uint64_t request_id, int64_t a, uint64_t key_hash)
{
    dyn_trace_event_t ev = {
        .kind = kind, .peer = peer, .request_id = request_id, .a = a, .key_hash = key_hash};
    dyn_env_trace(&node->env, &ev);
}

/*
 * A peer missed a deadline: suspect it. Only the local view changes (paper 4.8.3: failure is
 * local and temporary); the peer is probed every tick until it answers. If the list cannot grow,
 * the peer simply stays trusted: suspicion is an optimisation, never needed for safety.
 */
void node_suspect(dyn_node_t *node, uint32_t peer)
{
    if (peer == node->config.id || node_suspected(node, peer))
        return;
    if (node->suspect_count == node->suspect_capacity) {
        uint32_t cap = node->suspect_capacity ? node->suspect_capacity * 2 : 8;
        uint32_t *p = realloc(node->suspects, cap * sizeof(uint32_t));
        if (!p)
            return;
        node->suspects = p;
        node->suspect_capacity = cap;
    }
    uint32_t i = suspect_slot(node, peer);
    memmove(&node->suspects[i + 1], &node->suspects[i],
            (node->suspect_count - i) * sizeof(uint32_t));
    node->suspects[i] = peer;
    node->suspect_count++;
    node->stats.suspicions++;
    trace(node, DYN_TRACE_SUSPECT, peer, 0, 0, 0);
}

/* Any message from a suspected peer shows it is back. */
static void heard_from(dyn_node_t *node, dyn_endpoint_t peer)
{
    if (node->suspect_count == 0)
        return;
    uint32_t i = suspect_slot(node, peer);
    if (i == node->suspect_count || node->suspects[i] != peer)
        return;
    memmove(&node->suspects[i], &node->suspects[i + 1],
            (node->suspect_count - i - 1) * sizeof(uint32_t));
    node->suspect_count--;
    node->stats.recoveries++;
    trace(node, DYN_TRACE_RECOVER, peer, 0, 0, 0);
}

/* An answer to a client (or forwarding node) that carries only a status. */
static void reply_status(dyn_node_t *node, dyn_endpoint_t to, uint64_t request_id, int status)
{
    dyn_msg_t reply;
    dyn_msg_init(&reply, DYN_MSG_CLIENT_REPLY);
    reply.request_id = request_id;
    reply.status = status;
    reply.coordinator = node->config.id;
    if (status == DYN_OK)
        node->stats.replies_ok++;
    else
        node->stats.replies_failed++;
    node_send_msg(node, to, &reply);
}

/* ---- the pending-request table ---------------------------------------------------------- */

static uint64_t op_id(const dyn_node_t *node, const op_t *op)
{
    return ((uint64_t)op->generation << 32) | (uint32_t)(op - node->ops);
}

static op_t *op_lookup(dyn_node_t *node, uint64_t id)
{
    uint32_t slot = (uint32_t)id;
    if (slot >= node->ops_used)
        return NULL;
    op_t *op = &node->ops[slot];
    if (op->kind == OP_FREE || op->generation != (uint32_t)(id >> 32))
        return NULL;
    return op;
}

static op_t *op_alloc(dyn_node_t *node, op_kind_t kind, dyn_time_us now_us)
{
    op_t *op;
    if (node->free_head != UINT32_MAX) {
        op = &node->ops[node->free_head];
        node->free_head = op->next_free;
    } else {
        if (node->ops_used == node->ops_capacity) {
            if (node->ops_capacity >= node->config.requests_pending_max)
                return NULL;
            uint32_t cap = node->ops_capacity ? node->ops_capacity * 2 : OP_TABLE_INITIAL;
            if (cap > node->config.requests_pending_max)
                cap = node->config.requests_pending_max;
            op_t *ops = realloc(node->ops, (size_t)cap * sizeof(op_t));
            if (!ops)
                return NULL;
            node->ops = ops;
            node->ops_capacity = cap;
        }
        op = &node->ops[node->ops_used++];
        memset(op, 0, sizeof(*op));
        dyn_siblings_init(&op->merged);
        /*
         * Replies to a previous incarnation's requests may still be in flight after a restart.
         * Starting each slot's generation at random (the PRNG is new with each incarnation) keeps
         * such a reply from matching a new request by id, except with probability 2^-28.
         */
        op->generation = (uint32_t)dyn_prng_below(&node->prng, 1u << 28);
    }
    DYN_ASSERT(op->kind == OP_FREE);
    /* Generations stay under 2^28 so that an op id fits below the timer-kind bits. */
    uint32_t generation = (op->generation + 1) & 0x0FFFFFFFu;
    if (generation == 0)
        generation = 1;
    dyn_siblings_t merged = op->merged;   /* keep the array so reuse does not reallocate */
    memset(op, 0, offsetof(op_t, written));
    op->merged = merged;
    op->merged.count = 0;
    op->answer_exact = false;
    op->generation = generation;
    op->kind = kind;
    op->start_us = now_us;
    op->timer_handle = dyn_env_timer_arm(&node->env, (TIMER_KIND_OP << TIMER_KIND_SHIFT) |
                                                         op_id(node, op),
                                         now_us + node->config.request_timeout_us);
    return op;
}

static uint8_t *op_key(op_t *op)
{
    return op->key_heap ? op->key_heap : op->key_inline;
}

static void op_free(dyn_node_t *node, op_t *op, bool cancel_timer)
{
    DYN_ASSERT(op->kind != OP_FREE);
    free(op->key_heap);
    op->key_heap = NULL;
    if (cancel_timer)
        dyn_env_timer_cancel(&node->env, op->timer_handle);
    if (op->kind == OP_HANDOFF) {
        uint32_t *in_flight = op->space == DYN_SPACE_HINTS ? &node->handoffs_in_flight
                                                           : &node->xfers_in_flight;
        DYN_ASSERT(*in_flight > 0);
        (*in_flight)--;
    }
    /* Drop owned values but keep the item array for the next request in this slot. */
    dyn_siblings_t *m = &op->merged;
    for (uint32_t i = 0; i < m->count; i++)
        if (m->items[i].owned)
            free((void *)m->items[i].value);
    m->count = 0;
    op->kind = OP_FREE;
    op->next_free = node->free_head;
    node->free_head = (uint32_t)(op - node->ops);
}

/* ---- replica side ----------------------------------------------------------------------- */

/*
 * A fingerprint of a stored or sent sibling set, from its canonical encoding: equal sets, equal
 * prints. Never 0, which marks "no answer"; an empty set is 1.
 */
uint64_t node_answer_print(const uint8_t *blob, size_t length)
{
    if (length == 0)
        return 1;
    uint64_t h = XXH3_64bits(blob, length);
    return h < 2 ? h + 2 : h;
}


static place_t place_of(dyn_node_t *node, uint32_t hint, const uint8_t *key, size_t key_length)
{
    if (hint == 0 || hint == node->config.id)
        return (place_t){DYN_SPACE_DATA, key, key_length};
    size_t n = dyn_node_hint_key(hint, key, key_length, node->hint_key);
    return (place_t){DYN_SPACE_HINTS, node->hint_key, n};
}

place_t node_data_place(const uint8_t *key, size_t key_length)
{
    return (place_t){DYN_SPACE_DATA, key, key_length};
}

/*
 * Decode the stored siblings at `pl` into node->w->scratch (empty if absent); values borrow storage.
 * *print (may be NULL) receives the fingerprint of what was stored; *found (may be NULL) whether
 * anything was.
 */
/*
 * The stored set at pl, as the engine holds it, and its print (if print is non-NULL; an absent key
 * prints as the empty answer). DYN_OK, DYN_ENOTFOUND, or the engine's error.
 */
static int load_blob(dyn_node_t *node, const place_t *pl, const uint8_t **blob, size_t *length,
                     uint64_t *print)
{
    int rc = node->storage.ops->get(node->storage.ctx, pl->space, pl->key, pl->key_length, blob,
                                    length);
    if (print && (rc == DYN_OK || rc == DYN_ENOTFOUND))
        *print = rc == DYN_OK ? node_answer_print(*blob, *length) : node_answer_print(NULL, 0);
    return rc;
}

/* A stored blob that does not decode is a broken invariant of this node's own storage. */
static void decode_stored(const uint8_t *blob, size_t length, dyn_siblings_t *set)
{
    int rc = dyn_codec_decode_siblings(blob, length, set);
    DYN_ASSERT(rc == DYN_OK);
}

static int load_at(dyn_node_t *node, const place_t *pl, uint64_t *print, bool *found)
{
    const uint8_t *blob;
    size_t blob_length;
    dyn_siblings_t *set = &node->w->scratch;
    int rc = load_blob(node, pl, &blob, &blob_length, print);
    if (found)
        *found = rc == DYN_OK;
    if (rc == DYN_ENOTFOUND) {
        for (uint32_t i = 0; i < set->count; i++)
            DYN_ASSERT(!set->items[i].owned);
        set->count = 0;
        return DYN_OK;
    }
    if (rc != DYN_OK)
        return rc;
    decode_stored(blob, blob_length, set);
    return DYN_OK;
}

/*
 * Before a write changes node->w->scratch, just loaded from DATA: note what it replaces, for the
 * Merkle tree. Only write paths call it, so reads pay nothing for anti-entropy.
 */
static void note_replaced(dyn_node_t *node, bool found)
{
    node->loaded_print = found && node->config.anti_entropy
                             ? dyn_siblings_dots_print(&node->w->scratch) : 0;
    node->loaded_own_high = found ? node_own_high(node, &node->w->scratch) : 0;
}

/* Load a key's data for a write the coordinator is about to make. */
static int load_for_write(dyn_node_t *node, const uint8_t *key, size_t key_length)
{
    place_t pl = node_data_place(key, key_length);
    bool found;
    int rc = load_at(node, &pl, NULL, &found);
    note_replaced(node, found);
    return rc;
}

static int store_scratch(dyn_node_t *node, const place_t *pl, uint64_t key_hash)
{
    /* As in send_msg: encode into the grown buffer, size first only when it does not fit. */
    int length = node->w->blob ? dyn_codec_encode_siblings(&node->w->scratch, node->w->blob,
                                                        node->w->blob_capacity)
                            : DYN_ETOOBIG;
    if (length == DYN_ETOOBIG) {
        size_t size = dyn_codec_siblings_size(&node->w->scratch);
        int rc = size ? reserve(&node->w->blob, &node->w->blob_capacity, size) : DYN_ETOOBIG;
        if (rc != DYN_OK)
            return rc;
        length = dyn_codec_encode_siblings(&node->w->scratch, node->w->blob, node->w->blob_capacity);
        DYN_ASSERT(length == (int)size);
    }
    /* The set came from validated parts; failing to encode it is a broken invariant. */
    DYN_ASSERT(length > 0);
    /* The scratch set may borrow the old stored blob; it is encoded before the put replaces it. */
    int rc = node->storage.ops->put(node->storage.ctx, pl->space, pl->key, pl->key_length,
                                    node->w->blob, (size_t)length);
    if (rc != DYN_OK)
        return rc;
    trace(node, pl->space == DYN_SPACE_DATA ? DYN_TRACE_STORE_WRITE : DYN_TRACE_HINT_STORED, 0,
          0, node->w->scratch.count, key_hash);
    if (pl->space == DYN_SPACE_DATA) {
        if (node->config.anti_entropy)
            node_ae_note_write(node, key_hash, node->loaded_print,
                               dyn_siblings_dots_print(&node->w->scratch));
        node_reap_note_write(node, pl->key, pl->key_length, key_hash, &node->w->scratch);
        if (node->ring_moved)
            node_xfer_note_write(node, key_hash);
        /*
         * A version whose past was truncated (another coordinator's clock past its threshold)
         * can supersede this node's versions without naming their counters: the set then
         * forgets what this actor issued, and its next write here would name a dot again. Keep
         * what it knew as the key's floor, as a reap does.
         */
        if (node->loaded_own_high &&
            node_own_high(node, &node->w->scratch) < node->loaded_own_high)
            node_reap_keep_floor(node, key_hash, node->loaded_own_high);
    }
    return DYN_OK;
}

/*
 * Reconcile a version into node->w->scratch under the configured resolution. Returns as
 * dyn_siblings_add does. Under last-write-wins only the latest stamp survives, whatever the
 * causality: the write just added may itself be dropped, which is the baseline's known loss.
 */
static int reconcile(dyn_node_t *node, const dyn_version_t *version, uint32_t siblings_max)
{
    if (node->config.resolution == DYN_RESOLVE_LWW)
        return dyn_siblings_add_lww(&node->w->scratch, version, DYN_SIB_BORROW);
    return dyn_siblings_add(&node->w->scratch, version, DYN_SIB_BORROW, siblings_max);
}

/* Merge a replica's answer into a get's reconciled set under the configured resolution. */
static int merge_answer(dyn_node_t *node, dyn_siblings_t *merged, const dyn_siblings_t *answer)
{
    if (node->config.resolution != DYN_RESOLVE_LWW)
        return dyn_siblings_merge(merged, answer, DYN_SIB_COPY, DYN_SIBLINGS_MAX);
    for (uint32_t i = 0; i < answer->count; i++) {
        int rc = dyn_siblings_add_lww(merged, &answer->items[i], DYN_SIB_COPY);
        if (rc < 0)
            return rc;
    }
    return DYN_OK;
}

/*
 * A get's first answer, the coordinator's own, straight into the empty op->merged: the stored set
 * is copied into the op and decoded there, so merged borrows its values (no copy of each) and,
 * while no other answer changes merged, the reply sends these bytes as they are. Merged into an
 * empty set under vector clocks, a stored set (none of whose versions supersedes another) is
 * itself, so this is what merge_answer would have built.
 */
static int load_answer(dyn_node_t *node, op_t *op, const place_t *pl, uint64_t *print)
{
    DYN_ASSERT(op->merged.count == 0);
    const uint8_t *blob;
    size_t length;
    int rc = load_blob(node, pl, &blob, &length, print);
    if (rc == DYN_ENOTFOUND)
        return DYN_OK;
    if (rc != DYN_OK)
        return rc;
    if (length > op->answer_capacity) {
        uint8_t *grown = realloc(op->answer, length);
        if (!grown)
            return DYN_ENOMEM;
        op->answer = grown;
        op->answer_capacity = (uint32_t)length;
    }
    memcpy(op->answer, blob, length);
    op->answer_length = (uint32_t)length;
    decode_stored(op->answer, length, &op->merged);
    op->answer_exact = true;
    return DYN_OK;
}

/*
 * Reconcile `count` versions into the set stored at `pl` and store the result. Returns how many
 * were added (0: the store already held them or something newer), or a negative status. A new
 * hint key past hints_max is refused with DYN_EFULL: the hint store is bounded.
 */
int node_apply_versions(dyn_node_t *node, const place_t *pl, uint64_t key_hash,
                          const dyn_version_t *versions, uint32_t count)
{
    bool found;
    int rc = load_at(node, pl, NULL, &found);
    if (rc != DYN_OK)
        return rc;
    note_replaced(node, found && pl->space == DYN_SPACE_DATA);
    bool new_hint = pl->space == DYN_SPACE_HINTS && !found;
    if (new_hint && node->hints >= node->config.hints_max) {
        node->stats.hints_refused++;
        return DYN_EFULL;
    }
    int added = 0;
    for (uint32_t i = 0; i < count; i++) {
        node->stats.replica_writes++;
        /*
         * siblings_max refuses client writes, at their coordinator. A replica takes what the
         * cluster already accepted, up to the hard cap: refusing a replicated or repaired version
         * could only keep replicas apart for good.
         */
        rc = reconcile(node, &versions[i], DYN_SIBLINGS_MAX);
        if (rc < 0)
            return rc;
        if (rc == 0)
            node->stats.stale_writes++;
        added += rc;
    }
    if (added == 0)
        return 0;
    rc = store_scratch(node, pl, key_hash);
    if (rc < 0)
        return rc;
    if (pl->space == DYN_SPACE_HINTS) {
        node->stats.hinted_writes += (uint64_t)added;
        node->hints += new_hint;
        if (node->hints > node->stats.hints_peak)
            node->stats.hints_peak = node->hints;
    }
    return added;
}

static int apply_version(dyn_node_t *node, const place_t *pl, uint64_t key_hash,
                         const dyn_version_t *version)
{
    return node_apply_versions(node, pl, key_hash, version, 1);
}

static void on_replica_get(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    dyn_msg_t reply;
    dyn_msg_init(&reply, DYN_MSG_REPLICA_GET_REPLY);
    reply.request_id = msg->request_id;
    node->stats.replica_reads++;
    const uint8_t *blob;
    size_t blob_length;
    place_t pl = place_of(node, msg->hint, msg->key, msg->key_length);
    int rc = node->storage.ops->get(node->storage.ctx, pl.space, pl.key, pl.key_length, &blob,
                                    &blob_length);
    if (rc == DYN_OK) {
        reply.siblings_blob = blob;
        reply.siblings_blob_length = (uint32_t)blob_length;
    }
    reply.status = rc == DYN_ENOTFOUND ? DYN_OK : rc;
    node_send_msg(node, from, &reply);
}

/* Make every earlier write durable before acknowledging (also when the write was stale: what it
 * matched may not have reached the disk yet). */
static int sync_storage(dyn_node_t *node)
{
    node->stats.syncs++;
    return node->storage.ops->sync(node->storage.ctx);
}

static void on_replica_put(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    uint64_t key_hash = dyn_ring_hash(msg->key, msg->key_length);
    place_t pl = place_of(node, msg->hint, msg->key, msg->key_length);
    int rc = apply_version(node, &pl, key_hash, &msg->version);
    if (rc >= 0 && (msg->replica_flags & DYN_REPLICA_SYNC))
        rc = sync_storage(node);
    if (msg->replica_flags & DYN_REPLICA_REPAIR)
        return; /* read repair expects no answer */
    dyn_msg_t reply;
    dyn_msg_init(&reply, DYN_MSG_REPLICA_PUT_REPLY);
    reply.request_id = msg->request_id;
    reply.status = rc < 0 ? rc : DYN_OK;
    node_send_msg(node, from, &reply);
}

/*
 * An owner receives a hint set. It is made durable before the acknowledgement, whatever the sync
 * policy: the acknowledgement lets the fallback delete its copy, after which this is the only one.
 */
static void on_handoff(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    node->stats.handoffs_received++;
    uint64_t key_hash = dyn_ring_hash(msg->key, msg->key_length);
    if (!dyn_ring_is_replica(node->ring, key_hash, node->config.id, node->config.n)) {
        /*
         * Not an owner by this node's ring: the sender's ring is newer or older. Taking the set
         * would let the sender delete it on the word of a node that is about to move it on, two
         * such nodes could even delete it on each other's word, so it stays where it is until
         * the rings agree; the refusal makes the sender start a gossip exchange with us.
         */
        node->stats.handoffs_refused++;
        dyn_msg_t refused;
        dyn_msg_init(&refused, DYN_MSG_REPLICA_PUT_REPLY);
        refused.request_id = msg->request_id;
        refused.status = DYN_EMOVED;
        node_send_msg(node, from, &refused);
        return;
    }
    place_t pl = node_data_place(msg->key, msg->key_length);
    int rc = node_apply_versions(node, &pl, key_hash, msg->siblings.items, msg->siblings.count);
    if (rc >= 0)
        rc = sync_storage(node);
    dyn_msg_t reply;
    dyn_msg_init(&reply, DYN_MSG_REPLICA_PUT_REPLY);
    reply.request_id = msg->request_id;
    reply.status = rc < 0 ? rc : DYN_OK;
    node_send_msg(node, from, &reply);
}

/* ---- coordinator side ------------------------------------------------------------------- */

/*
 * A DYN_SIBLINGS_MAX array of versions for views of a set (its live part, its tombstones),
 * allocated at first use: most nodes of a large simulated cluster never need one.
 */
static dyn_version_t *version_view(dyn_node_t *node)
{
    if (!node->w->live_view)
        node->w->live_view = calloc(DYN_SIBLINGS_MAX, sizeof(dyn_version_t));
    return node->w->live_view;
}

static void reply_get(dyn_node_t *node, op_t *op)
{
    dyn_msg_t reply;
    dyn_msg_init(&reply, DYN_MSG_CLIENT_REPLY);
    reply.request_id = op->origin_request_id;
    reply.coordinator = node->config.id;
    dyn_siblings_context(&op->merged, &reply.context);
    /* Tombstones stay out of the answer but inside the context, so a put can supersede them. */
    uint32_t live = dyn_siblings_live_count(&op->merged);
    if (live == op->merged.count) {
        reply.siblings = op->merged; /* a view: the reply is encoded before op is touched again */
        if (op->answer_exact) {
            /* merged is the set these bytes encode: send them, and skip checking and encoding
             * it again (the encoding is canonical, so the bytes are the same) */
            reply.siblings_blob = op->answer;
            reply.siblings_blob_length = op->answer_length;
        }
    } else if (!version_view(node)) {
        reply_status(node, op->origin, op->origin_request_id, DYN_ENOMEM);
        return;
    } else {
        live = 0;
        for (uint32_t i = 0; i < op->merged.count; i++)
            if (!(op->merged.items[i].flags & DYN_VERSION_TOMBSTONE))
                node->w->live_view[live++] = op->merged.items[i];
        reply.siblings.items = node->w->live_view;
        reply.siblings.count = live;
        reply.siblings.capacity = DYN_SIBLINGS_MAX;
    }
    reply.status = live ? DYN_OK : DYN_ENOTFOUND;
    node->stats.replies_ok++;
    node_send_msg(node, op->origin, &reply);
}

static void reply_put(dyn_node_t *node, op_t *op)
{
    dyn_msg_t reply;
    dyn_msg_init(&reply, DYN_MSG_CLIENT_REPLY);
    reply.request_id = op->origin_request_id;
    reply.coordinator = node->config.id;
    reply.written = op->dot;
    dyn_vclock_copy(&reply.context, &op->written);
    node->stats.replies_ok++;
    node_send_msg(node, op->origin, &reply);
}

/*
 * Read repair (paper 4.5): once a get's replicas have answered (or its deadline passed), every
 * replica whose answer differs from the reconciled set is sent the reconciled versions. Replicas
 * keep what they already have and add the rest, so sending a version twice is harmless.
 */
static void read_repair(dyn_node_t *node, op_t *op)
{
    if (op->kind != OP_GET || op->merged.count == 0)
        return;
    /* The usual case: every replica that answered said the same thing, so all are up to date. */
    uint64_t first = 0;
    bool differ = false;
    for (uint32_t i = 0; i < op->n; i++) {
        if (op->answer_print[i] == 0)
            continue;
        if (first == 0)
            first = op->answer_print[i];
        else if (op->answer_print[i] != first)
            differ = true;
    }
    if (!differ)
        return;
    size_t size = dyn_codec_siblings_size(&op->merged);
    if (size == 0 || reserve(&node->w->blob, &node->w->blob_capacity, size) != DYN_OK)
        return; /* repair is best effort; anti-entropy catches what it misses */
    int length = dyn_codec_encode_siblings(&op->merged, node->w->blob, node->w->blob_capacity);
    DYN_ASSERT(length == (int)size);
    uint64_t reconciled = node_answer_print(node->w->blob, (size_t)length);
    dyn_msg_t repair;
    dyn_msg_init(&repair, DYN_MSG_REPLICA_PUT);
    repair.replica_flags = DYN_REPLICA_REPAIR;
    repair.key = op_key(op);
    repair.key_length = op->key_length;
    for (uint32_t i = 0; i < op->n; i++) {
        if (op->answer_print[i] == 0 || op->answer_print[i] == reconciled)
            continue; /* no answer, or already up to date */
        node->stats.read_repairs++;
        if (op->targets[i] == node->config.id) {
            place_t pl = place_of(node, op->hint_for[i], op_key(op), op->key_length);
            (void)node_apply_versions(node, &pl, op->key_hash, op->merged.items, op->merged.count);
            continue;
        }
        /* A fallback is repaired in its hint space, from where the owner will get it too. */
        repair.hint = op->hint_for[i];
        for (uint32_t v = 0; v < op->merged.count; v++) {
            repair.version = op->merged.items[v];
            node_send_msg(node, op->targets[i], &repair);
        }
    }
}

/* Answer the client once the quorum is decided; free the request once every replica answered. */
static void op_progress(dyn_node_t *node, op_t *op)
{
    if (!op->replied) {
        int status = DYN_OK;
        if (op->ok >= op->need && op->primary_ok >= op->need_primary) {
            if (op->kind == OP_GET)
                reply_get(node, op);
            else
                reply_put(node, op);
            op->replied = true;
        } else if (op->failed > op->n - op->need ||
                   op->primary_failed > op->primaries - op->need_primary) {
            status = op->first_error == DYN_ESIBLINGS ? DYN_ESIBLINGS : DYN_ENOQUORUM;
            reply_status(node, op->origin, op->origin_request_id, status);
            op->replied = true;
        }
        if (op->replied)
            trace(node, DYN_TRACE_REQUEST_DONE, op->origin, op->origin_request_id, status,
                  op->key_hash);
    }
    if (op->responded == op->n) {
        read_repair(node, op);
        op_free(node, op, true);
    }
}

static void op_answer(dyn_node_t *node, op_t *op, uint32_t target_index, int status)
{
    DYN_ASSERT(target_index < op->n);
    DYN_ASSERT(!(op->responded_mask & (1u << target_index)));
    op->responded_mask |= (uint16_t)(1u << target_index);
    op->responded++;
    bool primary = op->hint_for[target_index] == 0;
    if (status == DYN_OK) {
        op->ok++;
        op->primary_ok += primary;
    } else {
        op->failed++;
        op->primary_failed += primary;
        if (op->first_error == DYN_OK)
            op->first_error = status;
    }
}

/* n, the answers needed (R or W) and the owner answers needed (PR or PW) of a request. */
static int resolve_opts(const dyn_node_t *node, const dyn_req_opts_t *opts, bool is_get,
                        uint8_t *n, uint8_t *need, uint8_t *need_primary)
{
    *n = opts->n ? opts->n : node->config.n;
    *need = is_get ? (opts->r ? opts->r : node->config.r) : (opts->w ? opts->w : node->config.w);
    *need_primary = is_get ? opts->pr : opts->pw;
    if (*n > DYN_N_MAX || *need > *n || *need_primary > *n)
        return DYN_EINVAL;
    if (*need < *need_primary)
        *need = *need_primary; /* an owner's answer is an answer */
    return DYN_OK;
}

/*
 * The nodes a request goes to (sloppy quorum, paper 4.6): the key's first n nodes, except that
 * each owner this node suspects is replaced by the next unsuspected node of the extended list,
 * which keeps what it is sent as a hint for that owner (hints[i] = the owner; 0 for an owner).
 * An owner with no replacement left is asked anyway: suspicion may be out of date. walk[] is the
 * key's walk of the ring, walk_len >= n long.
 */
static void choose_targets(const dyn_node_t *node, const uint32_t *walk, size_t walk_len,
                           uint8_t n, uint32_t *targets, uint32_t *hints)
{
    size_t next = n;
    for (uint32_t i = 0; i < n; i++) {
        targets[i] = walk[i];
        hints[i] = 0;
        if (!node->config.hinted_handoff || walk[i] == node->config.id ||
            !node_suspected(node, walk[i]))
            continue;
        while (next < walk_len && node_suspected(node, walk[next]))
            next++;
        if (next < walk_len) {
            targets[i] = walk[next++];
            hints[i] = walk[i];
        }
    }
}

/* A pending request on behalf of `from`, or NULL after answering DYN_EFULL when the table is. */
static op_t *op_start(dyn_node_t *node, op_kind_t kind, dyn_time_us now_us, dyn_endpoint_t from,
                      const dyn_msg_t *msg, uint64_t key_hash)
{
    op_t *op = op_alloc(node, kind, now_us);
    if (!op) {
        node->stats.rejected_full++;
        reply_status(node, from, msg->request_id, DYN_EFULL);
        return NULL;
    }
    op->origin = from;
    op->origin_request_id = msg->request_id;
    op->key_hash = key_hash;
    return op;
}

/*
 * Send the request on to `coordinator` under a forward op's id with the FORWARDED flag set. The
 * request was decoded (and so validated) on arrival; only the id and a flag byte change, so the
 * received bytes are copied with those rewritten instead of being encoded again.
 */
static void forward(dyn_node_t *node, dyn_time_us now_us, dyn_endpoint_t from, dyn_msg_t *msg,
                    const uint8_t *bytes, size_t length, uint32_t coordinator, uint64_t key_hash)
{
    op_t *op = op_start(node, OP_FORWARD, now_us, from, msg, key_hash);
    if (!op)
        return;
    op->n = 1;
    op->targets[0] = coordinator;
    node->stats.forwarded++;
    trace(node, DYN_TRACE_FORWARD, coordinator, msg->request_id, 0, key_hash);
    int n = DYN_ENOMEM;
    if (reserve(&node->w->tx, &node->w->tx_capacity, length + 10) == DYN_OK)
        n = dyn_codec_forward_request(bytes, length, op_id(node, op), DYN_REQ_FORWARDED,
                                      node->w->tx, node->w->tx_capacity);
    DYN_ASSERT(n != DYN_EBADMSG && n != DYN_EINVAL); /* it decoded, so it has the layout */
    if (n < 0) {
        op_free(node, op, true);
        reply_status(node, from, msg->request_id, n);
        return;
    }
    dyn_env_send(&node->env, coordinator, node->w->tx, (size_t)n);
}

/*
 * The coordinator answered a forwarded request: pass its reply to the original requester with the
 * requester's id. Only the id changes, so the body is copied as is, not decoded and re-encoded:
 * a get's reply carries every sibling's value, and the requester decodes it strictly anyway.
 */
static void relay_reply(dyn_node_t *node, dyn_endpoint_t from, op_t *op, const uint8_t *bytes,
                        size_t length, int32_t status)
{
    if (from != op->targets[0]) {
        node->stats.stray_messages++;
        return;
    }
    int n = DYN_ETOOBIG;
    if (reserve(&node->w->tx, &node->w->tx_capacity, length + 10) == DYN_OK)
        n = dyn_codec_with_request_id(bytes, length, op->origin_request_id, node->w->tx,
                                      node->w->tx_capacity);
    if (n < 0) {
        reply_status(node, op->origin, op->origin_request_id, n);
    } else {
        if (status == DYN_OK || status == DYN_ENOTFOUND)
            node->stats.replies_ok++;
        else
            node->stats.replies_failed++;
        dyn_env_send(&node->env, op->origin, node->w->tx, (size_t)n);
    }
    op_free(node, op, true);
}

/*
 * Local part of a coordinated put: name the write with a new dot of this node's actor, give it the
 * client's context as its causal past, and store it. The dot's counter must exceed every counter
 * this actor ever issued for the key; this node is the only issuer and, being a replica, stores
 * every version it issued or a version whose past covers it, so the local maximum is exact.
 * Returns 1 (stored), 0 (already present) or a negative status.
 */
static int coordinate_local_put(dyn_node_t *node, dyn_time_us now_us, const dyn_msg_t *msg,
                                uint64_t key_hash, dyn_version_t *version)
{
    const dyn_node_config_t *c = &node->config;
    if (node->epoch_stale) {
        int rc = renew_epoch(node);
        if (rc != DYN_OK)
            return rc;
    }
    dyn_vclock_copy(&version->clock, &msg->context);
    int dropped = dyn_vclock_truncate(&version->clock, c->vclock_threshold);
    if (dropped > 0) {
        node->stats.vclock_truncations += (uint64_t)dropped;
        trace(node, DYN_TRACE_VCLOCK_TRUNCATED, 0, msg->request_id, dropped, key_hash);
    }
    int rc = load_for_write(node, msg->key, msg->key_length);
    if (rc != DYN_OK)
        return rc;
    uint64_t last = dyn_vclock_get(&msg->context, c->id, c->epoch);
    for (uint32_t i = 0; i < node->w->scratch.count; i++) {
        const dyn_version_t *v = &node->w->scratch.items[i];
        uint64_t seen = dyn_vclock_get(&v->clock, c->id, c->epoch);
        if (v->dot.node == c->id && v->dot.epoch == c->epoch && v->dot.counter > seen)
            seen = v->dot.counter;
        if (seen > last)
            last = seen;
    }
    /* Stamped with the node's wall clock, skew and all: last-write-wins trusts it. */
    dyn_time_us wall_us = dyn_env_wall_us(&node->env, now_us);
    /* Looked at, not taken: a write refused below must leave the floor for the next one. */
    uint64_t floor = node_reap_floor_peek(node, key_hash);
    if (floor > last) {
        /*
         * This node reaped the key's tombstones, and with them its record of the counters it
         * issued here, up to `floor`; what it stores now is older (a copy brought back by repair
         * or a hint) or another actor's. Count on from the floor, and claim it as past: every
         * version of this actor up to it was deleted, as the reaped tombstones covered each. The
         * tombstones stored now join the past too, as if the client had read them, so the past
         * covers the pasts of what the claim supersedes.
         */
        if (!version_view(node))
            return DYN_ENOMEM;
        uint32_t tombs = 0;
        for (uint32_t i = 0; i < node->w->scratch.count; i++)
            if (node->w->scratch.items[i].flags & DYN_VERSION_TOMBSTONE)
                node->w->live_view[tombs++] = node->w->scratch.items[i];
        const dyn_siblings_t deleted = {tombs, tombs, node->w->live_view};
        dyn_vclock_t past;
        dyn_siblings_context(&deleted, &past);
        dyn_vclock_t claim;
        dyn_vclock_init(&claim);
        claim.entries[0] = (dyn_vclock_entry_t){
            .node = c->id, .epoch = c->epoch, .counter = floor, .timestamp_us = wall_us};
        claim.count = 1;
        (void)dyn_vclock_merge(&past, &claim, DYN_VCLOCK_MAX);
        dropped = dyn_vclock_merge(&version->clock, &past, c->vclock_threshold);
        if (dropped > 0)
            node->stats.vclock_truncations += (uint64_t)dropped;
        last = floor;
    }
    version->dot = (dyn_vclock_entry_t){
        .node = c->id, .epoch = c->epoch, .counter = last + 1, .timestamp_us = wall_us};
    version->timestamp_us = wall_us;
    version->value = msg->value;
    version->value_length = msg->value_length;
    version->flags = msg->put_flags & DYN_VERSION_TOMBSTONE;
    version->owned = false;
    node->stats.replica_writes++;
    rc = reconcile(node, version, c->siblings_max);
    if (rc < 0)
        return rc;
    int added = rc;
    if (added) {
        place_t pl = node_data_place(msg->key, msg->key_length);
        rc = store_scratch(node, &pl, key_hash);
        if (rc < 0)
            return rc;
    }
    /* The coordinator is the durable replica when one is asked for (it is always a replica). */
    if (c->sync_writes != DYN_SYNC_NONE) {
        rc = sync_storage(node);
        if (rc < 0)
            return rc;
    }
    if (floor && added)
        node_reap_floor_drop(node, key_hash); /* the key's history is stored again */
    return added;
}

static void on_client_request(dyn_node_t *node, dyn_time_us now_us, dyn_endpoint_t from,
                              dyn_msg_t *msg, const uint8_t *bytes, size_t length)
{
    bool is_get = msg->type == DYN_MSG_CLIENT_GET;
    uint8_t n, need, need_primary;
    if (resolve_opts(node, &msg->opts, is_get, &n, &need, &need_primary) != DYN_OK) {
        reply_status(node, from, msg->request_id, DYN_EINVAL);
        return;
    }
    uint64_t key_hash = dyn_ring_hash(msg->key, msg->key_length);
    /* The walk goes past the first n only when some node is suspected and may need a stand-in. */
    uint32_t walk[DYN_FALLBACK_WALK_MAX];
    size_t walk_len = dyn_ring_preference_list(node->ring, key_hash, walk,
                                               node->suspect_count ? DYN_FALLBACK_WALK_MAX : n);
    if (walk_len < n) {
        reply_status(node, from, msg->request_id, DYN_EUNAVAIL);
        return;
    }
    bool owner = false;
    for (uint32_t i = 0; i < n; i++)
        owner |= walk[i] == node->config.id;
    if (!owner && !(msg->opts.flags & DYN_REQ_FORWARDED)) {
        /*
         * Any of the top N can coordinate; a random one spreads the coordination load (4.5). One
         * this node suspects is passed over while an unsuspected one remains.
         */
        uint32_t alive[DYN_N_MAX], count = 0;
        for (uint32_t i = 0; i < n; i++)
            if (!node_suspected(node, walk[i]))
                alive[count++] = walk[i];
        uint32_t to = count ? alive[dyn_prng_below(&node->prng, count)]
                            : walk[dyn_prng_below(&node->prng, n)];
        forward(node, now_us, from, msg, bytes, length, to, key_hash);
        return;
    }
    if (!owner && !is_get) {
        /*
         * A forwarded write reached a node that does not replicate the key (the two nodes' rings
         * disagree). It cannot issue a dot it can prove unique without the key's history, so it
         * refuses rather than risk naming two different writes alike, and says why: the client
         * tries again, by when gossip has most likely brought the rings together.
         */
        reply_status(node, from, msg->request_id, DYN_EMOVED);
        return;
    }

    uint32_t targets[DYN_N_MAX], hints[DYN_N_MAX];
    choose_targets(node, walk, walk_len, n, targets, hints);
    int self_index = -1;
    uint8_t primaries = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (targets[i] == node->config.id)
            self_index = (int)i;
        primaries += hints[i] == 0;
    }
    if (primaries < need_primary) {
        /* PR/PW are strict: with too many owners suspected, refuse now rather than time out. */
        reply_status(node, from, msg->request_id, DYN_EUNAVAIL);
        return;
    }
    op_t *op = op_start(node, is_get ? OP_GET : OP_PUT, now_us, from, msg, key_hash);
    if (!op)
        return;
    op->n = n;
    op->need = need;
    op->primaries = primaries;
    op->need_primary = need_primary;
    memcpy(op->targets, targets, n * sizeof(uint32_t));
    memcpy(op->hint_for, hints, n * sizeof(uint32_t));
    node->stats.fallback_targets += (uint64_t)(n - primaries);
    trace(node, DYN_TRACE_REQUEST_START, from, msg->request_id, msg->type, key_hash);

    dyn_msg_t out;
    if (is_get) {
        node->stats.gets_coordinated++;
        dyn_msg_init(&out, DYN_MSG_REPLICA_GET);
        out.request_id = op_id(node, op);
        out.key = msg->key;
        out.key_length = msg->key_length;
        op->key_length = msg->key_length;
        if (msg->key_length > sizeof(op->key_inline)) {
            op->key_heap = malloc(msg->key_length);
            if (!op->key_heap) {
                op_free(node, op, true);
                reply_status(node, from, msg->request_id, DYN_ENOMEM);
                return;
            }
        }
        memcpy(op_key(op), msg->key, msg->key_length);
        memset(op->answer_print, 0, sizeof(op->answer_print));
        if (self_index >= 0) {
            node->stats.replica_reads++;
            uint64_t print = 0;
            place_t pl = place_of(node, hints[self_index], msg->key, msg->key_length);
            int rc;
            if (node->config.resolution == DYN_RESOLVE_VCLOCK) {
                rc = load_answer(node, op, &pl, &print);
            } else {
                rc = load_at(node, &pl, &print, NULL);
                if (rc == DYN_OK)
                    rc = merge_answer(node, &op->merged, &node->w->scratch);
            }
            if (rc >= 0)
                op->answer_print[self_index] = print;
            op_answer(node, op, (uint32_t)self_index, rc < 0 ? rc : DYN_OK);
        }
    } else {
        node->stats.puts_coordinated++;
        dyn_msg_init(&out, DYN_MSG_REPLICA_PUT);
        out.request_id = op_id(node, op);
        out.key = msg->key;
        out.key_length = msg->key_length;
        out.replica_flags = node->config.sync_writes == DYN_SYNC_ALL ? DYN_REPLICA_SYNC : 0;
        int rc = coordinate_local_put(node, now_us, msg, key_hash, &out.version);
        if (rc < 0) {
            /*
             * The coordinator could not take the write (its store failed, or the write would pass
             * siblings_max there): refuse it outright rather than replicate a write nobody will
             * be told succeeded.
             */
            op_free(node, op, true);
            reply_status(node, from, msg->request_id, rc);
            trace(node, DYN_TRACE_REQUEST_DONE, from, msg->request_id, rc, key_hash);
            return;
        }
        /*
         * The reply's context: the write's past, plus its dot only where the dot follows the past
         * directly. After a blind write as a:2 the writer has not seen a:1, and {a:2} would claim
         * it; reusing such a context would silently supersede a:1.
         */
        dyn_vclock_copy(&op->written, &out.version.clock);
        dyn_vclock_extend_contiguous(&op->written, &out.version.dot);
        op->dot = out.version.dot;
        op->dot.timestamp_us = 0; /* the wire carries node, epoch and counter only */
        op_answer(node, op, (uint32_t)self_index, rc < 0 ? rc : DYN_OK);
    }
    uint64_t id = op_id(node, op);
    /* Targets of one hint get the same bytes: encode once, and again only where the hint differs
     * (the environment copies what it is given, so tx still holds them for the next send). */
    int encoded = DYN_EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        if ((int)i == self_index)
            continue;
        if (encoded < 0 || out.hint != hints[i]) {
            out.hint = hints[i];
            encoded = encode_msg(node, &out);
        }
        if (encoded >= 0)
            dyn_env_send(&node->env, targets[i], node->w->tx, (size_t)encoded);
    }
    /* The op may be freed by op_progress when every replica (e.g. N=1, local) has answered. */
    if (op_lookup(node, id))
        op_progress(node, op);
}

/* The highest counter of this node's actor in an encoded stored set (node->w->scratch is used). */
static uint64_t set_own_high(dyn_node_t *node, const uint8_t *blob, size_t length)
{
    decode_stored(blob, length, &node->w->scratch);
    uint64_t high = node_own_high(node, &node->w->scratch);
    node->w->scratch.count = 0; /* its values borrowed the stored bytes, about to be deleted */
    return high;
}

/*
 * A target acknowledged a handed-off set. Once every target has, the set is deleted here, unless
 * it changed since it was sent (a later write of the key); that one goes out in a later round.
 */
static void on_handoff_reply(dyn_node_t *node, dyn_endpoint_t from, op_t *op, int32_t status)
{
    uint32_t index = op->n;
    for (uint32_t i = 0; i < op->n; i++)
        if (op->targets[i] == from)
            index = i;
    if (index == op->n || (op->responded_mask & (1u << index))) {
        node->stats.stray_messages++;
        return;
    }
    op->responded_mask |= (uint16_t)(1u << index);
    op->responded++;
    op->ok += status == DYN_OK;
    if (status == DYN_EMOVED)
        node_gossip_nudge(node, from); /* our rings disagree: compare views now */
    bool hint = op->space == DYN_SPACE_HINTS;
    uint32_t *window = hint ? &node->handoff_window : &node->xfer_window;
    uint32_t *acks = hint ? &node->handoff_acks : &node->xfer_acks;
    uint32_t batch = hint ? node->config.handoff_batch : node->config.transfer_batch;
    if (status == DYN_OK && ++*acks >= *window) {
        /* A window's worth acknowledged in time: one more set per round, up to the batch. */
        *acks = 0;
        if (*window < batch)
            (*window)++;
    }
    if (op->responded < op->n)
        return;
    const dyn_storage_t *st = &node->storage;
    const uint8_t *blob;
    size_t length;
    if (op->ok < op->n ||
        st->ops->get(st->ctx, (dyn_space_t)op->space, op_key(op), op->key_length, &blob,
                     &length) != DYN_OK ||
        node_answer_print(blob, length) != op->answer_print[0]) {
        op_free(node, op, true); /* refused, or changed since it was sent: a later round */
        return;
    }
    uint64_t own_high = hint ? 0 : set_own_high(node, blob, length);
    if (st->ops->del(st->ctx, (dyn_space_t)op->space, op_key(op), op->key_length) == DYN_OK) {
        if (hint) {
            DYN_ASSERT(node->hints > 0);
            node->hints--;
            node->stats.hints_delivered++;
            trace(node, DYN_TRACE_HINT_DELIVERED, from, 0, 0, op->key_hash);
        } else {
            /*
             * The set was the record of the counters this node's actor issued on the key; should
             * the key come back here (the ring moves again) its next write must count on past
             * them, as after a reap.
             */
            if (own_high)
                node_reap_keep_floor(node, op->key_hash, own_high);
            node->stats.transfer_dropped++;
            trace(node, DYN_TRACE_TRANSFERRED, from, 0, 0, op->key_hash);
        }
    }
    op_free(node, op, true);
}

static void on_replica_reply(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    op_t *op = op_lookup(node, msg->request_id);
    if (op && op->kind == OP_HANDOFF && msg->type == DYN_MSG_REPLICA_PUT_REPLY) {
        on_handoff_reply(node, from, op, msg->status);
        return;
    }
    op_kind_t expected = msg->type == DYN_MSG_REPLICA_GET_REPLY ? OP_GET : OP_PUT;
    if (!op || op->kind != expected) {
        node->stats.stray_messages++;
        return;
    }
    uint32_t index = op->n;
    for (uint32_t i = 0; i < op->n; i++)
        if (op->targets[i] == from)
            index = i;
    if (index == op->n || (op->responded_mask & (1u << index))) {
        node->stats.stray_messages++;
        return;
    }
    int status = msg->status;
    if (status == DYN_OK && expected == OP_GET) {
        /* Every answer, also after the client's reply: read repair compares each with the whole. */
        uint64_t print = node_answer_print(msg->siblings_blob, msg->siblings_blob_length);
        /* An answer identical to one already merged changes nothing: skip the merge. A print is
         * recorded only for an answer that was merged, so "seen" means "in the merged set". */
        bool seen = false;
        for (uint32_t i = 0; i < op->n; i++)
            seen |= op->answer_print[i] == print;
        if (!seen)
            op->answer_exact = false;
        int rc = seen ? DYN_OK : merge_answer(node, &op->merged, &msg->siblings);
        if (rc < 0)
            status = rc;
        else
            op->answer_print[index] = print;
    }
    op_answer(node, op, index, status);
    op_progress(node, op);
}

int dyn_node_on_message(dyn_node_t *node, dyn_time_us now_us, dyn_endpoint_t from,
                        const uint8_t *bytes, size_t length)
{
    node->now_us = now_us;
    if (dyn_codec_peek_type(bytes, length) == DYN_MSG_CLIENT_REPLY) {
        /*
         * The answer to a request this node forwarded: relay it without decoding. Anything else
         * (a stray, a malformed reply) takes the full decode below, to be counted as what it is.
         */
        uint64_t id;
        int32_t status;
        op_t *op = dyn_codec_peek_reply(bytes, length, &id, &status) == DYN_OK
                       ? op_lookup(node, id) : NULL;
        if (op && op->kind == OP_FORWARD) {
            relay_reply(node, from, op, bytes, length, status);
            return DYN_OK;
        }
    }
    dyn_msg_t *msg = &node->w->rx;
    int rc = dyn_codec_decode(bytes, length, msg);
    if (rc != DYN_OK) {
        node->stats.bad_messages++;
        trace(node, DYN_TRACE_DROP, from, 0, rc, 0);
        return rc;
    }
    heard_from(node, from);
    switch (msg->type) {
    case DYN_MSG_CLIENT_GET:
    case DYN_MSG_CLIENT_PUT:
        on_client_request(node, now_us, from, msg, bytes, length);
        break;
    case DYN_MSG_CLIENT_REPLY: /* not for a pending forward (those are relayed above) */
        node->stats.stray_messages++;
        break;
    case DYN_MSG_REPLICA_GET:
        on_replica_get(node, from, msg);
        break;
    case DYN_MSG_REPLICA_PUT:
        on_replica_put(node, from, msg);
        break;
    case DYN_MSG_REPLICA_GET_REPLY:
    case DYN_MSG_REPLICA_PUT_REPLY:
        on_replica_reply(node, from, msg);
        break;
    case DYN_MSG_HANDOFF:
        on_handoff(node, from, msg);
        break;
    case DYN_MSG_PING: {
        dyn_msg_t pong;
        dyn_msg_init(&pong, DYN_MSG_PONG);
        pong.request_id = msg->request_id;
        node_send_msg(node, from, &pong);
        break;
    }
    case DYN_MSG_PONG: /* heard_from() above cleared any suspicion */
        node_fd_on_pong(node, from, msg->request_id);
        break;
    case DYN_MSG_PING_REQ:
        node_fd_on_ping_req(node, from, msg);
        break;
    case DYN_MSG_AE_HASHES:
    case DYN_MSG_AE_KEYS:
    case DYN_MSG_AE_PULL:
    case DYN_MSG_AE_PUSH:
        if (node->config.anti_entropy)
            node_ae_on_message(node, from, msg);
        else
            node->stats.stray_messages++;
        break;
    case DYN_MSG_REAP:
    case DYN_MSG_REAP_REPLY:
        node_reap_on_message(node, from, msg);
        break;
    case DYN_MSG_GOSSIP:
        node_gossip_on_message(node, from, msg);
        break;
    }
    dyn_msg_recycle(msg); /* the workspace's rx takes the next message: keep its set's array */
    return DYN_OK;
}

/* ---- periodic work: probes and hinted handoff ------------------------------------------- */

/*
 * Send a stored set (at space/skey here; its data key is key, of ring hash key_hash) to
 * targets[0..n), each to merge it into its data and acknowledge once it is durable. Returns DYN_OK, or DYN_EFULL when the pending
 * table is full (try again next tick), or DYN_ENOMEM.
 */
int node_handoff_send(dyn_node_t *node, dyn_space_t space, const uint8_t *skey, size_t skey_length,
                      const uint8_t *key, size_t key_length, uint64_t key_hash,
                      const uint32_t *targets, uint32_t n, const uint8_t *blob, size_t blob_length)
{
    DYN_ASSERT(n >= 1 && n <= DYN_N_MAX && skey_length <= DYN_HINT_KEY_MAX);
    op_t *op = op_alloc(node, OP_HANDOFF, node->now_us);
    if (!op)
        return DYN_EFULL;
    op->n = (uint8_t)n;
    op->need = (uint8_t)n;
    op->space = (uint8_t)space;
    if (space == DYN_SPACE_HINTS)
        node->handoffs_in_flight++;
    else
        node->xfers_in_flight++;
    memcpy(op->targets, targets, n * sizeof(*targets));
    op->key_hash = key_hash;
    op->key_length = (uint32_t)skey_length;
    if (skey_length > sizeof(op->key_inline) && !(op->key_heap = malloc(skey_length))) {
        op_free(node, op, true);
        return DYN_ENOMEM;
    }
    memcpy(op_key(op), skey, skey_length);
    op->answer_print[0] = node_answer_print(blob, blob_length);
    dyn_msg_t msg;
    dyn_msg_init(&msg, DYN_MSG_HANDOFF);
    msg.request_id = op_id(node, op);
    msg.key = key;
    msg.key_length = (uint32_t)key_length;
    msg.siblings_blob = blob;
    msg.siblings_blob_length = (uint32_t)blob_length;
    for (uint32_t i = 0; i < n; i++)
        node_send_msg(node, targets[i], &msg);
    return DYN_OK;
}

typedef struct handoff_round {
    dyn_node_t *node;
    uint32_t budget;
} handoff_round_t;

/*
 * Send one stored hint set to its owner, unless the owner is suspected. An owner the ring no
 * longer gives the key (it left, or was removed) will not take it: the key's owners now do.
 */
static int handoff_one(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                       size_t blob_length)
{
    handoff_round_t *round = arg;
    dyn_node_t *node = round->node;
    if (round->budget == 0)
        return 1;
    DYN_ASSERT(key_length > 4 && key_length <= DYN_HINT_KEY_MAX);
    uint32_t owner = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 | (uint32_t)key[2] << 8 |
                     key[3];
    uint64_t key_hash = dyn_ring_hash(key + 4, key_length - 4);
    uint32_t targets[DYN_N_MAX] = {owner};
    uint32_t n = 1;
    if (node->ring_moved && !dyn_ring_is_replica(node->ring, key_hash, owner, node->config.n)) {
        n = node_owners(node, key_hash, targets);
        if (n == 0)
            return 0;
    }
    for (uint32_t i = 0; i < n; i++)
        if (node_suspected(node, targets[i]))
            return 0;
    int rc = node_handoff_send(node, DYN_SPACE_HINTS, key, key_length, key + 4, key_length - 4,
                               key_hash, targets, n, blob, blob_length);
    if (rc != DYN_OK)
        return 1;
    node->stats.handoffs_sent++;
    round->budget--;
    return 0;
}

static void arm_tick(dyn_node_t *node, dyn_time_us now_us)
{
    (void)dyn_env_timer_arm(&node->env, TIMER_KIND_TICK << TIMER_KIND_SHIFT,
                            now_us + node->config.tick_us);
}

/*
 * Every tick: probe the suspects, and start a handoff round if the last one is over. A round sends
 * at most handoff_window hint sets (the throttle: up to handoff_batch, halved whenever an owner
 * misses a deadline), so a node back from an outage is not flooded.
 */
static void tick(dyn_node_t *node, dyn_time_us now_us)
{
    dyn_msg_t ping;
    dyn_msg_init(&ping, DYN_MSG_PING);
    for (uint32_t i = 0; i < node->suspect_count; i++) {
        node->stats.probes++;
        node_send_msg(node, node->suspects[i], &ping);
    }
    if (node->hints > 0 && node->handoffs_in_flight == 0) {
        handoff_round_t round = {node, node->handoff_window};
        (void)node->storage.ops->scan(node->storage.ctx, DYN_SPACE_HINTS, handoff_one, &round);
    }
    if (node->config.anti_entropy)
        node_ae_tick(node, now_us);
    node_reap_tick(node, now_us);
    node_xfer_tick(node, now_us);
    node_gossip_tick(node, now_us);
    node_fd_tick(node, now_us);
    arm_tick(node, now_us);
}

void dyn_node_start(dyn_node_t *node, dyn_time_us now_us)
{
    node->now_us = now_us;
    arm_tick(node, now_us);
}

void dyn_node_on_timer(dyn_node_t *node, dyn_time_us now_us, uint64_t timer_id)
{
    node->now_us = now_us;
    if ((timer_id >> TIMER_KIND_SHIFT) == TIMER_KIND_TICK) {
        tick(node, now_us);
        return;
    }
    if ((timer_id >> TIMER_KIND_SHIFT) != TIMER_KIND_OP)
        return;
    op_t *op = op_lookup(node, timer_id & ((1ULL << TIMER_KIND_SHIFT) - 1));
    if (!op)
        return;
    /* A replica or owner that let the deadline pass is suspected; a forward's coordinator is
     * not: its own replicas may be what was slow. */
    if (op->kind != OP_FORWARD)
        for (uint32_t i = 0; i < op->n; i++)
            if (!(op->responded_mask & (1u << i)))
                node_suspect(node, op->targets[i]);
    if (op->kind == OP_HANDOFF) {
        /* A target is slow or gone: halve the rounds (a target syncs every set it takes, and a
         * flood of them is what makes a recovering node miss its deadlines). */
        bool hint = op->space == DYN_SPACE_HINTS;
        uint32_t *window = hint ? &node->handoff_window : &node->xfer_window;
        *window = *window > 1 ? *window / 2 : 1;
        *(hint ? &node->handoff_acks : &node->xfer_acks) = 0;
        op_free(node, op, false);
        return;
    }
    read_repair(node, op); /* the replicas that did answer */
    if (op->replied) {
        node->stats.replicas_late += (uint64_t)(op->n - op->responded);
    } else {
        node->stats.timeouts++;
        reply_status(node, op->origin, op->origin_request_id, DYN_ETIMEDOUT);
        trace(node, DYN_TRACE_REQUEST_DONE, op->origin, op->origin_request_id, DYN_ETIMEDOUT,
              op->key_hash);
    }
    op_free(node, op, false);
}
