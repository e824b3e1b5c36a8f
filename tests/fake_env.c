/*
 * fake_env.c: the recording environment and FIFO network of fake_env.h.
 *
 * Arrays grow by doubling and are searched linearly: tests hold tens of messages, and linear scans
 * keep the order of everything obvious. Allocation failures stop the test through DYN_ASSERT
 * rather than being reported, since a test double that silently loses a datagram would make the
 * tests lie.
 */
#include "tests/fake_env.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* Grow *items (of `size` bytes each) so that it holds at least `needed`. */
static void grow(void **items, size_t *capacity, size_t needed, size_t size)
{
    if (needed <= *capacity)
        return;
    size_t cap = *capacity ? *capacity * 2 : 16;
    while (cap < needed)
        cap *= 2;
    void *p = realloc(*items, cap * size);
    DYN_ASSERT(p != NULL);
    *items = p;
    *capacity = cap;
}

static fake_msg_t msg_copy(dyn_endpoint_t from, dyn_endpoint_t to, const uint8_t *bytes,
                           size_t length)
{
    fake_msg_t m = {.from = from, .to = to, .bytes = NULL, .length = length};
    /* malloc(0) may return NULL; a one-byte floor keeps "no bytes" distinct from "out of memory". */
    m.bytes = malloc(length ? length : 1);
    DYN_ASSERT(m.bytes != NULL);
    if (length)
        memcpy(m.bytes, bytes, length);
    return m;
}

void fake_msg_free(fake_msg_t *msg)
{
    free(msg->bytes);
    msg->bytes = NULL;
    msg->length = 0;
}

/* A datagram matches a filter whose zero fields are wildcards. */
static bool msg_matches(const fake_msg_t *m, dyn_endpoint_t from, dyn_endpoint_t to,
                        dyn_msg_type_t type)
{
    return (from == 0 || m->from == from) && (to == 0 || m->to == to) &&
           (type == 0 || dyn_codec_peek_type(m->bytes, m->length) == type);
}

/* ---- the environment -------------------------------------------------------------------- */

static void net_enqueue(struct fake_net *net, fake_msg_t msg);

static int env_send(void *ctx, dyn_endpoint_t to, const uint8_t *bytes, size_t length)
{
    fake_env_t *env = ctx;
    /* Recorded even when refused: a test may want to see what the core tried to send. */
    grow((void **)&env->sends, &env->send_capacity, env->send_count + 1, sizeof(fake_msg_t));
    env->sends[env->send_count++] = msg_copy(env->self, to, bytes, length);
    if (env->send_status != DYN_OK)
        return env->send_status;
    if (env->net)
        net_enqueue(env->net, msg_copy(env->self, to, bytes, length));
    return DYN_OK;
}

static uint64_t env_timer_arm(void *ctx, uint64_t timer_id, dyn_time_us deadline_us)
{
    fake_env_t *env = ctx;
    grow((void **)&env->timers, &env->timer_capacity, env->timer_count + 1,
         sizeof(fake_timer_t));
    uint64_t handle = ++env->next_handle;
    env->timers[env->timer_count++] = (fake_timer_t){
        .id = timer_id, .deadline_us = deadline_us, .handle = handle};
    return handle;
}

static fake_timer_t *timer_by_handle(fake_env_t *env, uint64_t handle)
{
    for (size_t i = 0; i < env->timer_count; i++)
        if (env->timers[i].handle == handle)
            return &env->timers[i];
    return NULL;
}

static void env_timer_cancel(void *ctx, uint64_t handle)
{
    fake_env_t *env = ctx;
    fake_timer_t *t = timer_by_handle(env, handle);
    if (!t || t->cancelled || t->fired) {
        env->stale_cancels++;
        return;
    }
    t->cancelled = true;
}

static void env_trace(void *ctx, const dyn_trace_event_t *event)
{
    fake_env_t *env = ctx;
    grow((void **)&env->traces, &env->trace_capacity, env->trace_count + 1,
         sizeof(dyn_trace_event_t));
    env->traces[env->trace_count++] = *event;
}

static const dyn_env_ops_t fake_env_ops = {
    .send = env_send,
    .timer_arm = env_timer_arm,
    .timer_cancel = env_timer_cancel,
    .trace = env_trace,
};

void fake_env_init(fake_env_t *env, dyn_endpoint_t self)
{
    memset(env, 0, sizeof(*env));
    env->self = self;
    env->send_status = DYN_OK;
}

void fake_env_free(fake_env_t *env)
{
    fake_env_clear_sends(env);
    free(env->sends);
    free(env->timers);
    free(env->traces);
    memset(env, 0, sizeof(*env));
}

dyn_env_t fake_env_iface(fake_env_t *env)
{
    return (dyn_env_t){.ops = &fake_env_ops, .ctx = env};
}

size_t fake_env_send_count(const fake_env_t *env) { return env->send_count; }

const fake_msg_t *fake_env_send_at(const fake_env_t *env, size_t index)
{
    DYN_ASSERT(index < env->send_count);
    return &env->sends[index];
}

int fake_env_decode(const fake_env_t *env, size_t index, dyn_msg_t *out)
{
    const fake_msg_t *m = fake_env_send_at(env, index);
    return dyn_codec_decode(m->bytes, m->length, out);
}

long fake_env_find(const fake_env_t *env, size_t start, dyn_endpoint_t to, dyn_msg_type_t type)
{
    for (size_t i = start; i < env->send_count; i++)
        if (msg_matches(&env->sends[i], 0, to, type))
            return (long)i;
    return -1;
}

size_t fake_env_count(const fake_env_t *env, dyn_endpoint_t to, dyn_msg_type_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < env->send_count; i++)
        n += msg_matches(&env->sends[i], 0, to, type);
    return n;
}

fake_msg_t fake_env_pop(fake_env_t *env, size_t index)
{
    DYN_ASSERT(index < env->send_count);
    fake_msg_t m = env->sends[index];
    memmove(&env->sends[index], &env->sends[index + 1],
            (env->send_count - index - 1) * sizeof(fake_msg_t));
    env->send_count--;
    return m;
}

void fake_env_clear_sends(fake_env_t *env)
{
    for (size_t i = 0; i < env->send_count; i++)
        fake_msg_free(&env->sends[i]);
    env->send_count = 0;
}

size_t fake_env_live_timer_count(const fake_env_t *env)
{
    return fake_env_live_timers(env, NULL, 0);
}

size_t fake_env_live_timers(const fake_env_t *env, fake_timer_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < env->timer_count; i++) {
        const fake_timer_t *t = &env->timers[i];
        if (t->cancelled || t->fired)
            continue;
        if (out && n < max)
            out[n] = *t;
        n++;
    }
    return n;
}

const fake_timer_t *fake_env_last_timer(const fake_env_t *env)
{
    return env->timer_count ? &env->timers[env->timer_count - 1] : NULL;
}

void fake_env_mark_fired(fake_env_t *env, uint64_t handle)
{
    fake_timer_t *t = timer_by_handle(env, handle);
    DYN_ASSERT(t && !t->cancelled && !t->fired);
    t->fired = true;
}

size_t fake_env_trace_count(const fake_env_t *env, dyn_trace_kind_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < env->trace_count; i++)
        n += env->traces[i].kind == kind;
    return n;
}

/* ---- the network ------------------------------------------------------------------------ */

void fake_net_init(fake_net_t *net)
{
    memset(net, 0, sizeof(*net));
}

void fake_net_free(fake_net_t *net)
{
    for (size_t i = 0; i < net->queue_count; i++)
        fake_msg_free(&net->queue[i]);
    free(net->queue);
    for (size_t e = 0; e < net->endpoint_count; e++) {
        fake_endpoint_t *ep = &net->endpoints[e];
        for (size_t i = 0; i < ep->inbox_count; i++)
            fake_msg_free(&ep->inbox[i]);
        free(ep->inbox);
    }
    memset(net, 0, sizeof(*net));
}

static fake_endpoint_t *endpoint(fake_net_t *net, dyn_endpoint_t addr)
{
    for (size_t i = 0; i < net->endpoint_count; i++)
        if (net->endpoints[i].addr == addr)
            return &net->endpoints[i];
    return NULL;
}

static const fake_endpoint_t *endpoint_const(const fake_net_t *net, dyn_endpoint_t addr)
{
    for (size_t i = 0; i < net->endpoint_count; i++)
        if (net->endpoints[i].addr == addr)
            return &net->endpoints[i];
    return NULL;
}

static fake_endpoint_t *add_endpoint(fake_net_t *net, dyn_endpoint_t addr,
                                     fake_endpoint_kind_t kind)
{
    DYN_ASSERT(addr != 0 && endpoint(net, addr) == NULL);
    DYN_ASSERT(net->endpoint_count < FAKE_NET_ENDPOINTS_MAX);
    fake_endpoint_t *ep = &net->endpoints[net->endpoint_count++];
    memset(ep, 0, sizeof(*ep));
    ep->addr = addr;
    ep->kind = kind;
    return ep;
}

void fake_net_attach_node(fake_net_t *net, fake_env_t *env, dyn_node_t *node)
{
    fake_endpoint_t *ep = add_endpoint(net, env->self, FAKE_EP_NODE);
    ep->env = env;
    ep->node = node;
    env->net = net;
}

void fake_net_attach_client(fake_net_t *net, fake_env_t *env, dyn_client_t *client)
{
    fake_endpoint_t *ep = add_endpoint(net, env->self, FAKE_EP_CLIENT);
    ep->env = env;
    ep->client = client;
    env->net = net;
}

void fake_net_add_sink(fake_net_t *net, dyn_endpoint_t addr)
{
    (void)add_endpoint(net, addr, FAKE_EP_SINK);
}

void fake_net_set_down(fake_net_t *net, dyn_endpoint_t addr, bool down)
{
    fake_endpoint_t *ep = endpoint(net, addr);
    DYN_ASSERT(ep != NULL);
    ep->down = down;
}

static void net_enqueue(struct fake_net *net, fake_msg_t msg)
{
    grow((void **)&net->queue, &net->queue_capacity, net->queue_count + 1, sizeof(fake_msg_t));
    net->queue[net->queue_count++] = msg;
}

void fake_net_inject(fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                     const uint8_t *bytes, size_t length)
{
    net_enqueue(net, msg_copy(from, to, bytes, length));
}

void fake_net_inject_msg(fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                         const dyn_msg_t *msg)
{
    size_t size = dyn_codec_encoded_size(msg);
    DYN_ASSERT(size > 0);
    uint8_t *buf = malloc(size);
    DYN_ASSERT(buf != NULL);
    int length = dyn_codec_encode(msg, buf, size);
    DYN_ASSERT(length == (int)size);
    net_enqueue(net, (fake_msg_t){.from = from, .to = to, .bytes = buf, .length = size});
}

size_t fake_net_queued(const fake_net_t *net) { return net->queue_count; }

const fake_msg_t *fake_net_peek(const fake_net_t *net, size_t index)
{
    DYN_ASSERT(index < net->queue_count);
    return &net->queue[index];
}

long fake_net_find(const fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                   dyn_msg_type_t type)
{
    for (size_t i = 0; i < net->queue_count; i++)
        if (msg_matches(&net->queue[i], from, to, type))
            return (long)i;
    return -1;
}

size_t fake_net_count(const fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                      dyn_msg_type_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < net->queue_count; i++)
        n += msg_matches(&net->queue[i], from, to, type);
    return n;
}

static fake_msg_t queue_take(fake_net_t *net, size_t index)
{
    DYN_ASSERT(index < net->queue_count);
    fake_msg_t m = net->queue[index];
    memmove(&net->queue[index], &net->queue[index + 1],
            (net->queue_count - index - 1) * sizeof(fake_msg_t));
    net->queue_count--;
    return m;
}

bool fake_net_deliver(fake_net_t *net, size_t index)
{
    /* Taken off the queue before delivery: the receiver may send, which appends to the queue. */
    fake_msg_t m = queue_take(net, index);
    fake_endpoint_t *ep = endpoint(net, m.to);
    bool reached = ep != NULL && !ep->down;
    if (!reached) {
        net->dropped++;
    } else {
        net->delivered++;
        switch (ep->kind) {
        case FAKE_EP_NODE:
            net->last_status = dyn_node_on_message(ep->node, net->now_us, m.from, m.bytes,
                                                   m.length);
            break;
        case FAKE_EP_CLIENT:
            net->last_status = dyn_client_on_message(ep->client, net->now_us, m.from, m.bytes,
                                                     m.length);
            break;
        case FAKE_EP_SINK:
            grow((void **)&ep->inbox, &ep->inbox_capacity, ep->inbox_count + 1,
                 sizeof(fake_msg_t));
            ep->inbox[ep->inbox_count++] = m; /* the inbox takes the bytes */
            net->last_status = DYN_OK;
            return true;
        }
    }
    fake_msg_free(&m);
    return reached;
}

bool fake_net_deliver_first(fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                            dyn_msg_type_t type)
{
    long i = fake_net_find(net, from, to, type);
    if (i < 0)
        return false;
    (void)fake_net_deliver(net, (size_t)i);
    return true;
}

size_t fake_net_run(fake_net_t *net, size_t max_steps)
{
    size_t steps = 0;
    while (net->queue_count > 0 && steps < max_steps) {
        (void)fake_net_deliver(net, 0);
        steps++;
    }
    return steps;
}

size_t fake_net_drop(fake_net_t *net, dyn_endpoint_t from, dyn_endpoint_t to,
                     dyn_msg_type_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < net->queue_count;) {
        if (msg_matches(&net->queue[i], from, to, type)) {
            fake_msg_t m = queue_take(net, i);
            fake_msg_free(&m);
            net->dropped++;
            n++;
        } else {
            i++;
        }
    }
    return n;
}

size_t fake_net_advance(fake_net_t *net, dyn_time_us until_us)
{
    size_t fired = 0;
    for (;;) {
        /* The earliest due live timer; ties go to the lower endpoint index, then arming order. */
        fake_endpoint_t *best_ep = NULL;
        const fake_timer_t *best = NULL;
        for (size_t e = 0; e < net->endpoint_count; e++) {
            fake_endpoint_t *ep = &net->endpoints[e];
            if (!ep->env)
                continue;
            for (size_t i = 0; i < ep->env->timer_count; i++) {
                const fake_timer_t *t = &ep->env->timers[i];
                if (t->cancelled || t->fired || t->deadline_us > until_us)
                    continue;
                if (!best || t->deadline_us < best->deadline_us) {
                    best = t;
                    best_ep = ep;
                }
            }
        }
        if (!best)
            break;
        if (best->deadline_us > net->now_us)
            net->now_us = best->deadline_us;
        uint64_t id = best->id;
        fake_env_mark_fired(best_ep->env, best->handle);
        /* `best` may move once the owner arms new timers: only the copied id is used below. */
        if (best_ep->kind == FAKE_EP_NODE)
            dyn_node_on_timer(best_ep->node, net->now_us, id);
        else
            dyn_client_on_timer(best_ep->client, net->now_us, id);
        fired++;
    }
    if (until_us > net->now_us)
        net->now_us = until_us;
    return fired;
}

size_t fake_net_inbox_count(const fake_net_t *net, dyn_endpoint_t sink)
{
    const fake_endpoint_t *ep = endpoint_const(net, sink);
    DYN_ASSERT(ep != NULL && ep->kind == FAKE_EP_SINK);
    return ep->inbox_count;
}

const fake_msg_t *fake_net_inbox_at(const fake_net_t *net, dyn_endpoint_t sink, size_t index)
{
    const fake_endpoint_t *ep = endpoint_const(net, sink);
    DYN_ASSERT(ep != NULL && ep->kind == FAKE_EP_SINK && index < ep->inbox_count);
    return &ep->inbox[index];
}

int fake_net_inbox_decode(const fake_net_t *net, dyn_endpoint_t sink, size_t index,
                          dyn_msg_t *out)
{
    const fake_msg_t *m = fake_net_inbox_at(net, sink, index);
    return dyn_codec_decode(m->bytes, m->length, out);
}
