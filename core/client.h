/*
 * client.h: the client library: request ids, deadlines, retries and contexts (paper 4.1, 4.4).
 *
 * A client sends get, put and delete requests to a contact node (any node; one outside the key's
 * preference list forwards) and calls back once per request with the outcome. Each attempt has its
 * own deadline; on a timeout the client retries on the next contact node, up to `retries` times,
 * with the same request id, so whichever answer arrives first completes the request. A put whose
 * every attempt timed out has an unknown outcome: it may or may not have been applied, and the
 * result says so (DYN_ETIMEDOUT); so does a put or delete refused on a retry, since an earlier
 * attempt may have been applied. Any other failure of a write means it had no effect. The context is opaque to users: the bytes a get returned, handed
 * back to a put or delete to say which versions it supersedes.
 *
 * The simulator's workload clients and (later) dynctl use this same library, so the simulated
 * client path is the real one. Sans-I/O like the node: the host feeds messages and timers in.
 *
 * Ownership: the client copies keys, values and contexts at submission; results passed to the
 * callback borrow client memory valid only during the callback.
 */
#ifndef DYN_CLIENT_H
#define DYN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec.h"
#include "core/env.h"
#include "core/ring.h"
#include "core/siblings.h"

typedef struct dyn_client_config {
    const dyn_endpoint_t *nodes;   /* contact nodes, copied; at least one */
    size_t node_count;
    dyn_time_us timeout_us;        /* per attempt */
    uint32_t retries;              /* extra attempts after a timeout */
    uint32_t pending_max;          /* requests in flight; more fail with DYN_EFULL */
    uint64_t seed;                 /* contact-node choice */
    /*
     * Client-driven coordination (paper 6.4): with a ring, a request's first attempts go to the
     * key's top n nodes in turn, starting at a random one, so no request pays a forwarding hop;
     * later retries (and requests with `via`) use the contact nodes as without. The ring's node
     * ids must be the nodes' endpoints. Borrowed: it must outlive the client or be replaced with
     * dyn_client_set_ring() first. NULL: every request starts at a random contact node.
     */
    const dyn_ring_t *ring;
    uint8_t ring_n;                /* the cluster's N, used when a request does not set opts.n */
} dyn_client_config_t;

typedef enum dyn_op_kind {
    DYN_OP_GET = 0,
    DYN_OP_PUT = 1,
    DYN_OP_DELETE = 2,
    DYN_OP_KIND_COUNT_ = 3,
} dyn_op_kind_t;

typedef struct dyn_client_result {
    int status;                     /* DYN_OK, DYN_ENOTFOUND, DYN_ETIMEDOUT, DYN_ENOQUORUM, ... */
    dyn_op_kind_t kind;
    uint64_t request_id;
    dyn_endpoint_t coordinator;     /* the node that coordinated, 0 if unknown */
    uint32_t attempts;
    dyn_time_us start_us, end_us;
    const dyn_siblings_t *siblings; /* get: the live versions (may be empty); else NULL */
    /*
     * The context for a later put or delete, NULL if none. Hand it on as is, or as the opaque
     * bytes dyn_client_context_encode() makes of it (what applications and dynctl store).
     */
    const dyn_vclock_t *context_clock;
    /* Put and delete: the dot naming the write (what a lost-write check looks for); else NULL. */
    const dyn_vclock_entry_t *written;
} dyn_client_result_t;

/* The maximum size of an encoded context. */
#define DYN_CONTEXT_MAX (DYN_VCLOCK_MAX * 36 + 2)

/*
 * Encode a result's context as opaque bytes into buf (DYN_CONTEXT_MAX bytes always suffice).
 * Returns the length, 0 if the result has no context, or DYN_ETOOBIG.
 */
int dyn_client_context_encode(const dyn_client_result_t *result, uint8_t *buf, size_t capacity);

typedef void (*dyn_client_done_fn)(void *arg, const dyn_client_result_t *result);

typedef struct dyn_client_request {
    dyn_op_kind_t kind;
    const uint8_t *key;
    size_t key_length;
    const uint8_t *value;           /* put only */
    size_t value_length;
    const uint8_t *context;         /* put and delete; may be NULL */
    size_t context_length;
    dyn_req_opts_t opts;            /* 0 fields: cluster defaults */
    dyn_endpoint_t via;             /* contact node for the first attempt; 0: a random one */
} dyn_client_request_t;

typedef struct dyn_client dyn_client_t;

/* NULL on an invalid config (no nodes, timeout 0, pending_max 0) or allocation failure. */
dyn_client_t *dyn_client_create(const dyn_client_config_t *config, dyn_env_t env);
/* Point the client at a new ring (after a membership change), or NULL to stop using one. */
void dyn_client_set_ring(dyn_client_t *client, const dyn_ring_t *ring, uint8_t n);
/* The ring the client routes by, or NULL. */
const dyn_ring_t *dyn_client_ring(const dyn_client_t *client);
/* Pending requests are dropped without callbacks. */
void dyn_client_destroy(dyn_client_t *client);

/*
 * Submit a request. On DYN_OK the callback will run exactly once, later (never from inside this
 * call), and *request_id (may be NULL) is set. Returns DYN_EINVAL (empty or oversized key, bad
 * context bytes, value on a get), DYN_ETOOBIG (value over DYN_VALUE_MAX), DYN_EFULL, DYN_ENOMEM.
 */
int dyn_client_submit(dyn_client_t *client, dyn_time_us now_us, const dyn_client_request_t *req,
                      dyn_client_done_fn done, void *arg, uint64_t *request_id);

/* Handle a datagram addressed to the client. DYN_EBADMSG if it does not decode (counted). */
int dyn_client_on_message(dyn_client_t *client, dyn_time_us now_us, dyn_endpoint_t from,
                          const uint8_t *bytes, size_t length);
void dyn_client_on_timer(dyn_client_t *client, dyn_time_us now_us, uint64_t timer_id);

uint32_t dyn_client_pending(const dyn_client_t *client);
/* Replies that matched no pending request (late answers after completion, duplicates). */
uint64_t dyn_client_stray_replies(const dyn_client_t *client);
/* Datagrams that did not decode. */
uint64_t dyn_client_bad_messages(const dyn_client_t *client);

#endif
