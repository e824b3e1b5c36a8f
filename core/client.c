/*
 * client.c: pending requests in a slot table, request id = (generation << 32 | slot) as in node.c.
 * The encoded request is kept for retries, so an attempt costs one send and no re-encoding.
 */
#include "core/client.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/node.h"
#include "core/prng.h"
#include "core/status.h"

typedef struct pending {
    bool busy;
    uint32_t generation;
    uint32_t next_free;
    dyn_op_kind_t kind;
    uint32_t attempts;
    uint32_t contact;            /* index into nodes of the current attempt */
    uint8_t owner_count;         /* the key's top n, for client-driven coordination, or 0 */
    uint8_t owner_next;          /* owners already tried */
    uint8_t owner_first;
    dyn_endpoint_t owners[DYN_N_MAX];
    dyn_time_us start_us;
    uint64_t timer_handle;
    dyn_client_done_fn done;
    void *arg;
    /*
     * The encoded request, resent as is on retry: inline when small (almost every request), so a
     * request costs no allocation; on the heap otherwise. Slots move when the table grows, so the
     * inline bytes are always reached through wire_of(), never by a stored pointer.
     */
    uint8_t *heap_wire;
    size_t wire_length;
    uint8_t small_wire[176];
} pending_t;

static uint8_t *wire_of(pending_t *p)
{
    return p->heap_wire ? p->heap_wire : p->small_wire;
}

struct dyn_client {
    dyn_client_config_t config;
    dyn_endpoint_t *nodes;
    dyn_env_t env;
    dyn_prng_t prng;
    pending_t *slots;
    uint32_t capacity, used, free_head;
    uint64_t stray;
    uint64_t bad_messages;
    dyn_msg_t rx;
};

dyn_client_t *dyn_client_create(const dyn_client_config_t *config, dyn_env_t env)
{
    if (!config->nodes || config->node_count == 0 || config->timeout_us == 0 ||
        config->pending_max == 0)
        return NULL;
    dyn_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->nodes = malloc(config->node_count * sizeof(dyn_endpoint_t));
    if (!c->nodes) {
        free(c);
        return NULL;
    }
    memcpy(c->nodes, config->nodes, config->node_count * sizeof(dyn_endpoint_t));
    c->config = *config;
    c->config.nodes = c->nodes;
    c->env = env;
    c->free_head = UINT32_MAX;
    dyn_prng_seed(&c->prng, config->seed);
    dyn_msg_init(&c->rx, DYN_MSG_CLIENT_REPLY);
    return c;
}

void dyn_client_destroy(dyn_client_t *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->used; i++)
        free(c->slots[i].heap_wire);
    free(c->slots);
    free(c->nodes);
    dyn_msg_clear(&c->rx);
    free(c);
}

uint32_t dyn_client_pending(const dyn_client_t *c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->used; i++)
        n += c->slots[i].busy;
    return n;
}

uint64_t dyn_client_stray_replies(const dyn_client_t *c) { return c->stray; }
uint64_t dyn_client_bad_messages(const dyn_client_t *c) { return c->bad_messages; }

static uint64_t pending_id(const dyn_client_t *c, const pending_t *p)
{
    return ((uint64_t)p->generation << 32) | (uint32_t)(p - c->slots);
}

static pending_t *pending_lookup(dyn_client_t *c, uint64_t id)
{
    uint32_t slot = (uint32_t)id;
    if (slot >= c->used)
        return NULL;
    pending_t *p = &c->slots[slot];
    if (!p->busy || p->generation != (uint32_t)(id >> 32))
        return NULL;
    return p;
}

static pending_t *pending_alloc(dyn_client_t *c)
{
    pending_t *p;
    if (c->free_head != UINT32_MAX) {
        p = &c->slots[c->free_head];
        c->free_head = p->next_free;
    } else {
        if (c->used == c->capacity) {
            if (c->capacity >= c->config.pending_max)
                return NULL;
            uint32_t cap = c->capacity ? c->capacity * 2 : 16;
            if (cap > c->config.pending_max)
                cap = c->config.pending_max;
            pending_t *slots = realloc(c->slots, (size_t)cap * sizeof(*slots));
            if (!slots)
                return NULL;
            c->slots = slots;
            c->capacity = cap;
        }
        p = &c->slots[c->used++];
        memset(p, 0, sizeof(*p));
        /* A random start, as in node.c: replies meant for a previous run never match. */
        p->generation = (uint32_t)dyn_prng_below(&c->prng, 1u << 30);
    }
    DYN_ASSERT(!p->busy);
    p->busy = true;
    p->generation = (p->generation + 1) & 0x7FFFFFFFu;
    if (p->generation == 0)
        p->generation = 1;
    return p;
}

static void pending_free(dyn_client_t *c, pending_t *p)
{
    DYN_ASSERT(p->busy);
    p->busy = false;
    free(p->heap_wire);
    p->heap_wire = NULL;
    p->next_free = c->free_head;
    c->free_head = (uint32_t)(p - c->slots);
}

static void attempt(dyn_client_t *c, pending_t *p, dyn_time_us now_us)
{
    p->attempts++;
    p->timer_handle = dyn_env_timer_arm(&c->env, pending_id(c, p), now_us + c->config.timeout_us);
    dyn_endpoint_t to = c->nodes[p->contact];
    if (p->owner_next < p->owner_count) {
        to = p->owners[(p->owner_first + p->owner_next) % p->owner_count];
        p->owner_next++;
    }
    dyn_env_send(&c->env, to, wire_of(p), p->wire_length);
}

void dyn_client_set_ring(dyn_client_t *c, const dyn_ring_t *ring, uint8_t n)
{
    c->config.ring = ring;
    c->config.ring_n = n;
}

const dyn_ring_t *dyn_client_ring(const dyn_client_t *c) { return c->config.ring; }

/* Fill p->owners with the key's top n nodes when the client knows the ring. */
static void choose_owners(dyn_client_t *c, pending_t *p, const dyn_client_request_t *req)
{
    p->owner_count = p->owner_next = p->owner_first = 0;
    uint8_t n = req->opts.n ? req->opts.n : c->config.ring_n;
    if (!c->config.ring || req->via || n == 0 || n > DYN_N_MAX)
        return;
    uint32_t ids[DYN_N_MAX];
    size_t count = dyn_ring_preference_list(c->config.ring,
                                            dyn_ring_hash(req->key, req->key_length), ids, n);
    for (size_t i = 0; i < count; i++)
        p->owners[i] = ids[i];
    p->owner_count = (uint8_t)count;
    if (count)
        p->owner_first = (uint8_t)dyn_prng_below(&c->prng, count);
}

int dyn_client_submit(dyn_client_t *c, dyn_time_us now_us, const dyn_client_request_t *req,
                      dyn_client_done_fn done, void *arg, uint64_t *request_id)
{
    if (!req->key || req->key_length == 0 || req->key_length > DYN_KEY_MAX)
        return DYN_EINVAL;
    if (req->kind >= DYN_OP_KIND_COUNT_ || (req->kind != DYN_OP_PUT && req->value_length))
        return DYN_EINVAL;
    if (req->value_length > DYN_VALUE_MAX)
        return DYN_ETOOBIG;
    dyn_msg_t msg;
    dyn_msg_init(&msg, req->kind == DYN_OP_GET ? DYN_MSG_CLIENT_GET : DYN_MSG_CLIENT_PUT);
    if (req->context_length &&
        dyn_codec_decode_vclock(req->context, req->context_length, &msg.context) != DYN_OK)
        return DYN_EINVAL;
    if (req->opts.flags & ~DYN_REQ_FLAGS_ALL_)
        return DYN_EINVAL;
    msg.opts = req->opts;
    msg.key = req->key;
    msg.key_length = (uint32_t)req->key_length;
    msg.value = req->value;
    msg.value_length = (uint32_t)req->value_length;
    msg.put_flags = req->kind == DYN_OP_DELETE ? DYN_VERSION_TOMBSTONE : 0;

    pending_t *p = pending_alloc(c);
    if (!p)
        return DYN_EFULL;
    msg.request_id = pending_id(c, p);
    /* Most requests fit the inline buffer: encode there, and size first only when they do not. */
    int length = dyn_codec_encode(&msg, p->small_wire, sizeof(p->small_wire));
    if (length == DYN_ETOOBIG) {
        size_t size = dyn_codec_encoded_size(&msg);
        p->heap_wire = size ? malloc(size) : NULL;
        if (!p->heap_wire) {
            pending_free(c, p);
            return size ? DYN_ENOMEM : DYN_ETOOBIG;
        }
        length = dyn_codec_encode(&msg, p->heap_wire, size);
        DYN_ASSERT(length == (int)size);
    }
    if (length < 0) {
        pending_free(c, p);
        return length;
    }
    p->wire_length = (size_t)length;
    p->kind = req->kind;
    p->done = done;
    p->arg = arg;
    p->start_us = now_us;
    p->attempts = 0;
    p->contact = (uint32_t)dyn_prng_below(&c->prng, c->config.node_count);
    if (req->via) {
        for (uint32_t i = 0; i < c->config.node_count; i++)
            if (c->nodes[i] == req->via)
                p->contact = i;
    }
    choose_owners(c, p, req);
    if (request_id)
        *request_id = msg.request_id;
    attempt(c, p, now_us);
    return DYN_OK;
}

static void complete(dyn_client_t *c, pending_t *p, dyn_time_us now_us, const dyn_msg_t *reply,
                     int status)
{
    dyn_client_result_t result = {
        .status = status,
        .kind = p->kind,
        .request_id = pending_id(c, p),
        .attempts = p->attempts,
        .start_us = p->start_us,
        .end_us = now_us,
    };
    if (reply) {
        result.coordinator = reply->coordinator;
        if (p->kind == DYN_OP_GET)
            result.siblings = &reply->siblings;
        /* Bytes only on request (dyn_client_context_encode): most callers keep the clock. */
        if (reply->context.count)
            result.context_clock = &reply->context;
        if (reply->written.counter)
            result.written = &reply->written;
    }
    dyn_client_done_fn done = p->done;
    void *arg = p->arg;
    /* Free first: the callback may submit the next request and reuse this slot. */
    pending_free(c, p);
    done(arg, &result);
}

int dyn_client_on_message(dyn_client_t *c, dyn_time_us now_us, dyn_endpoint_t from,
                          const uint8_t *bytes, size_t length)
{
    (void)from;
    dyn_msg_t *msg = &c->rx;
    int rc = dyn_codec_decode(bytes, length, msg);
    if (rc != DYN_OK) {
        c->bad_messages++;
        return rc;
    }
    pending_t *p = msg->type == DYN_MSG_CLIENT_REPLY ? pending_lookup(c, msg->request_id) : NULL;
    if (!p) {
        c->stray++;
    } else {
        dyn_env_timer_cancel(&c->env, p->timer_handle);
        /*
         * A write refused on a retry may still have been applied by an attempt that timed out
         * (that write can even be why the retry was refused: one sibling too many). Reporting the
         * refusal would be a lie; its outcome is unknown, which is what a timeout says.
         */
        int status = msg->status;
        if (status == DYN_EMOVED && p->attempts <= c->config.retries) {
            /* Ownership is moving: try the next contact now rather than at the deadline. */
            p->contact = (p->contact + 1) % (uint32_t)c->config.node_count;
            attempt(c, p, now_us);
            dyn_msg_recycle(msg);
            return DYN_OK;
        }
        /*
         * "Moved" says this copy of the request was not applied; a duplicate of the datagram may
         * have been, by a node whose ring still gave it the key. So it is no answer either way.
         */
        if (status == DYN_EMOVED ||
            (status != DYN_OK && p->kind != DYN_OP_GET && p->attempts > 1))
            status = DYN_ETIMEDOUT;
        complete(c, p, now_us, msg, status);
    }
    dyn_msg_recycle(msg); /* rx decodes every reply: keep its set's array for the next */
    return DYN_OK;
}

void dyn_client_on_timer(dyn_client_t *c, dyn_time_us now_us, uint64_t timer_id)
{
    pending_t *p = pending_lookup(c, timer_id);
    if (!p)
        return;
    if (p->attempts <= c->config.retries) {
        p->contact = (p->contact + 1) % (uint32_t)c->config.node_count;
        attempt(c, p, now_us);
        return;
    }
    complete(c, p, now_us, NULL, DYN_ETIMEDOUT);
}

int dyn_client_context_encode(const dyn_client_result_t *result, uint8_t *buf, size_t capacity)
{
    if (!result->context_clock)
        return 0;
    return dyn_codec_encode_vclock(result->context_clock, buf, capacity);
}
