/*
 * env.h: everything the protocol core may ask of the world around it (design.md section 2).
 *
 * core/ is sans-I/O: time is passed into every entry point, and every effect (a datagram sent, a
 * timer armed, a trace event) leaves through one dyn_env_t given to each node and client at
 * creation. The simulator and the UDP daemon each provide one static ops table; nothing in core/
 * knows which one it is talking to. There is no global environment: the simulator runs many nodes
 * in one process, each with its own env.
 */
#ifndef DYN_ENV_H
#define DYN_ENV_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t dyn_time_us;   /* microseconds; simulated time or a monotonic clock */
typedef uint32_t dyn_endpoint_t; /* a node or client address as the host knows it; 0 is none */

#define DYN_TIME_NEVER UINT64_MAX

/* Structured trace events: the simulator hashes them into the run digest and may log them. */
typedef enum dyn_trace_kind {
    DYN_TRACE_REQUEST_START = 1, /* a coordinator accepted a client request */
    DYN_TRACE_REQUEST_DONE,      /* a coordinator answered a client request (status in a) */
    DYN_TRACE_FORWARD,           /* a node outside the preference list forwarded a request */
    DYN_TRACE_STORE_WRITE,       /* a replica stored a version */
    DYN_TRACE_DROP,              /* a message was dropped (status in a) */
    DYN_TRACE_VCLOCK_TRUNCATED,  /* a clock lost entries to truncation (count in a) */
    DYN_TRACE_SUSPECT,           /* peer missed a deadline and is now suspected */
    DYN_TRACE_RECOVER,           /* a suspected peer was heard from again */
    DYN_TRACE_HINT_STORED,       /* a fallback stored a version for owner `a` */
    DYN_TRACE_HINT_DELIVERED,    /* an owner (peer) acknowledged a hint set; it was deleted */
    DYN_TRACE_REAPED,            /* a tombstone-only set (print in a) is about to be deleted */
    DYN_TRACE_TRANSFERRED,       /* the key's owners all acknowledged a set this node no longer
                                    owns (peer: the last); it was deleted here */
    DYN_TRACE_RING,              /* the ring followed a new partition table (version in a) */
} dyn_trace_kind_t;

typedef struct dyn_trace_event {
    dyn_trace_kind_t kind;
    dyn_endpoint_t peer;  /* the other side, or 0 */
    uint64_t request_id;
    int64_t a;            /* kind-specific figure */
    uint64_t key_hash;
    /* The key itself, where the kind names one (DYN_TRACE_REAPED), else NULL; borrowed for the
     * call only. Not part of what a digest should hash: key_hash stands for it. */
    const uint8_t *key;
    size_t key_length;
} dyn_trace_event_t;

typedef struct dyn_env_ops {
    /*
     * Hand a datagram to the network. The host copies the bytes before returning; the caller keeps
     * ownership of the buffer. Returns DYN_OK, or a negative status if the host refused it (the
     * core treats a refused send like a lost datagram).
     */
    int (*send)(void *ctx, dyn_endpoint_t to, const uint8_t *bytes, size_t length);
    /*
     * Arm a one-shot timer that calls the owner's on_timer(timer_id) at deadline_us. Returns a
     * host handle for timer_cancel. Core code tolerates a timer firing after it lost interest
     * (it looks the id up and ignores strays), so cancel is an optimisation, never a requirement.
     */
    uint64_t (*timer_arm)(void *ctx, uint64_t timer_id, dyn_time_us deadline_us);
    void (*timer_cancel)(void *ctx, uint64_t handle);
    /* Record a structured event. May be NULL. */
    void (*trace)(void *ctx, const dyn_trace_event_t *event);
    /*
     * The node's wall clock in microseconds, which stamps versions (last-write-wins orders by it,
     * clock truncation drops the oldest stamp). Unlike the time passed to entry points, which
     * drives timers and may be a monotonic clock, it can be skewed, drift or jump, as real wall
     * clocks do. May be NULL: the entry point's time is used.
     */
    dyn_time_us (*wall_us)(void *ctx, dyn_time_us now_us);
} dyn_env_ops_t;

typedef struct dyn_env {
    const dyn_env_ops_t *ops;
    void *ctx;
} dyn_env_t;

static inline int dyn_env_send(const dyn_env_t *env, dyn_endpoint_t to, const uint8_t *bytes,
                               size_t length)
{
    return env->ops->send(env->ctx, to, bytes, length);
}

static inline uint64_t dyn_env_timer_arm(const dyn_env_t *env, uint64_t timer_id,
                                         dyn_time_us deadline_us)
{
    return env->ops->timer_arm(env->ctx, timer_id, deadline_us);
}

static inline void dyn_env_timer_cancel(const dyn_env_t *env, uint64_t handle)
{
    env->ops->timer_cancel(env->ctx, handle);
}

static inline dyn_time_us dyn_env_wall_us(const dyn_env_t *env, dyn_time_us now_us)
{
    return env->ops->wall_us ? env->ops->wall_us(env->ctx, now_us) : now_us;
}

static inline void dyn_env_trace(const dyn_env_t *env, const dyn_trace_event_t *event)
{
    if (env->ops->trace)
        env->ops->trace(env->ctx, event);
}

#endif
