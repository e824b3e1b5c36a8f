/*
 * fake_env.h: a recording dyn_env_t for unit tests, and a tiny FIFO "network" between several of
 * them, so coordinator and client flows can be driven one datagram at a time without the simulator.
 *
 * A fake_env_t records every send (a copy of the bytes), every armed timer (id, deadline, handle,
 * cancelled/fired) and every trace event. Used alone, a test inspects the recorded sends and feeds
 * them on by hand. Attached to a fake_net_t, every send is also queued on the network, and the test
 * delivers queued datagrams in FIFO order (all of them, or the first one matching a filter), drops
 * them, marks endpoints down (their incoming datagrams are dropped at delivery), and fires due
 * timers in deadline order. Sink endpoints (a hand-driven client) keep what they receive in an inbox.
 *
 * Everything is deterministic: no clocks, no randomness, no hash tables; handles count up from 1.
 * Ownership: recorded and queued bytes are owned by the env / net and freed by fake_env_free() /
 * fake_net_free(); messages decoded from them borrow those bytes (dyn_codec_decode semantics).
 */
#ifndef DYN_TESTS_FAKE_ENV_H
#define DYN_TESTS_FAKE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/client.h"
#include "core/codec.h"
#include "core/env.h"
#include "core/node.h"

/* A datagram: who sent it, to whom, and an owned copy of its bytes. */
typedef struct fake_msg {
    dyn_endpoint_t from, to;
    uint8_t *bytes;
    size_t length;
} fake_msg_t;

typedef struct fake_timer {
    uint64_t id;             /* the owner's timer id */
    dyn_time_us deadline_us;
    uint64_t handle;         /* what timer_arm returned */
    bool cancelled;
    bool fired;
} fake_timer_t;

struct fake_net;

typedef struct fake_env {
    dyn_endpoint_t self;            /* recorded as `from` of every send */
    fake_msg_t *sends;
    size_t send_count, send_capacity;
    fake_timer_t *timers;
    size_t timer_count, timer_capacity;
    dyn_trace_event_t *traces;
    size_t trace_count, trace_capacity;
    uint64_t next_handle;
    uint64_t stale_cancels;         /* cancels of unknown, fired or already cancelled handles */
    int send_status;                /* what send returns; DYN_OK unless a test wants refusals */
    struct fake_net *net;           /* set by fake_net_attach_*(): sends are also queued there */
} fake_env_t;

void fake_env_init(fake_env_t *env, dyn_endpoint_t self);
void fake_env_free(fake_env_t *env);
/* The interface value to hand to dyn_node_create() / dyn_client_create(); borrows env. */
dyn_env_t fake_env_iface(fake_env_t *env);

/* ---- recorded sends ---- */
size_t fake_env_send_count(const fake_env_t *env);
const fake_msg_t *fake_env_send_at(const fake_env_t *env, size_t index);
/* Decode recorded send `index` into out (dyn_msg_init()ed or cleared); returns the codec status. */
int fake_env_decode(const fake_env_t *env, size_t index, dyn_msg_t *out);
/*
 * Index of the first recorded send at or after `start` going to `to` (0: anyone) whose type is
 * `type` (0: any), or -1.
 */
long fake_env_find(const fake_env_t *env, size_t start, dyn_endpoint_t to, dyn_msg_type_t type);
/* How many recorded sends match (to, type), with 0 as a wildcard as above. */
size_t fake_env_count(const fake_env_t *env, dyn_endpoint_t to, dyn_msg_type_t type);
/* Remove recorded send `index` and hand it (and its bytes) to the caller: fake_msg_free() it. */
fake_msg_t fake_env_pop(fake_env_t *env, size_t index);
void fake_env_clear_sends(fake_env_t *env);
void fake_msg_free(fake_msg_t *msg);

/* ---- timers ---- */
/* Timers neither cancelled nor fired. */
size_t fake_env_live_timer_count(const fake_env_t *env);
/* Write up to max live timers into out (in arming order) and return how many are live. */
size_t fake_env_live_timers(const fake_env_t *env, fake_timer_t *out, size_t max);
/* The most recently armed timer, or NULL. */
const fake_timer_t *fake_env_last_timer(const fake_env_t *env);
/* Mark the live timer with this handle as fired (the caller then calls the owner's on_timer). */
void fake_env_mark_fired(fake_env_t *env, uint64_t handle);

/* ---- traces ---- */
size_t fake_env_trace_count(const fake_env_t *env, dyn_trace_kind_t kind);

/* ---- the network ---- */

#define FAKE_NET_ENDPOINTS_MAX 16

typedef enum fake_endpoint_kind {
    FAKE_EP_NODE = 1,
    FAKE_EP_CLIENT = 2,
    FAKE_EP_SINK = 3,   /* no protocol object: received datagrams go to its inbox */
} fake_endpoint_kind_t;

typedef struct fake_endpoint {
    dyn_endpoint_t addr;
    fake_endpoint_kind_t kind;
    fake_env_t *env;          /* NULL for a sink */
    dyn_node_t *node;
    dyn_client_t *client;
    bool down;                /* datagrams addressed to it are dropped at delivery */
    fake_msg_t *inbox;        /* sink only */
    size_t inbox_count, inbox_capacity;
} fake_endpoint_t;

typedef struct fake_net {
    dyn_time_us now_us;       /* passed to every delivery and timer */
    fake_endpoint_t endpoints[FAKE_NET_ENDPOINTS_MAX];
    size_t endpoint_count;
    fake_msg_t *queue;        /* FIFO: index 0 is the oldest */
    size_t queue_count, queue_capacity;
    uint64_t delivered, dropped;
    int last_status;          /* what the last delivery's on_message returned */
} fake_net_t;

void fake_net_init(fake_net_t *net);
/*
 * Frees queued datagrams and sink inboxes. Envs, nodes and clients stay the caller's and are not
 * touched (they may already be gone); an attached env must not send after this.
 */
void fake_net_free(fake_net_t *net);
/* Register a node / client on its env's address; from now on its sends are queued here. */
void fake_net_attach_node(fake_net_t *net, fake_env_t *env, dyn_node_t *node);
void fake_net_attach_client(fake_net_t *net, fake_env_t *env, dyn_client_t *client);
void fake_net_add_sink(fake_net_t *net, dyn_endpoint_t addr);
void fake_net_set_down(fake_net_t *net, dyn_endpoint_t addr, bool down);

/* Queue a datagram as if `from` had sent it (for hand-built client requests and replies). */
void fake_net_inject(fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                     const uint8_t *bytes, size_t length);
/* Encode msg and inject it; asserts the encoding succeeds. */
void fake_net_inject_msg(fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                         const dyn_msg_t *msg);

size_t fake_net_queued(const fake_net_t *net);
const fake_msg_t *fake_net_peek(const fake_net_t *net, size_t index);
/* First queued datagram matching (from, to, type), 0 being a wildcard for each; -1 if none. */
long fake_net_find(const fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                   dyn_msg_type_t type);
size_t fake_net_count(const fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                      dyn_msg_type_t type);
/*
 * Take queued datagram `index` off the queue and hand it to its destination. Returns true if it
 * reached a node, client or sink, false if it was dropped (destination down or unknown).
 */
bool fake_net_deliver(fake_net_t *net, size_t index);
/* Deliver the first queued datagram matching the filter; false if there is none. */
bool fake_net_deliver_first(fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                            dyn_msg_type_t type);
/* Deliver in FIFO order until the queue is empty or max_steps were taken; returns the steps. */
size_t fake_net_run(fake_net_t *net, size_t max_steps);
/* Drop every queued datagram matching the filter; returns how many. */
size_t fake_net_drop(fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                     dyn_msg_type_t type);
/*
 * Advance now_us to `until_us`, firing every live timer of attached nodes and clients whose
 * deadline is <= until_us in (deadline, endpoint order, arming order); timers armed while firing
 * are considered too. Returns how many fired.
 */
size_t fake_net_advance(fake_net_t *net, dyn_time_us until_us);

/* Sink inboxes. */
size_t fake_net_inbox_count(const fake_net_t *net, dyn_endpoint_t sink);
const fake_msg_t *fake_net_inbox_at(const fake_net_t *net, dyn_endpoint_t sink, size_t index);
int fake_net_inbox_decode(const fake_net_t *net, dyn_endpoint_t sink, size_t index,
                          dyn_msg_t *out);

#endif
