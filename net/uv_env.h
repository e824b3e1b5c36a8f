/*
 * uv_env.h: core's environment (env.h) over a libuv loop: UDP datagrams, timers, clocks.
 *
 * One net_uv_t serves one owner: a node (dynamod) or a client (dynctl), whose entry points it
 * calls with the time from a monotonic clock (uv_hrtime, in microseconds). It owns one UDP socket
 * and one uv_timer_t; core's timers live in a min-heap keyed by deadline (ties by arming order),
 * and the uv timer is always armed for the earliest one, so a thousand pending requests cost one
 * kernel timer, not a thousand. Cancel removes the heap entry (core would ignore a stray anyway).
 *
 * Endpoints: a node's endpoint is its ring id, mapped to an address by the static member table
 * given at creation (membership is not dynamic yet). A client is given an endpoint id from
 * NET_UV_CLIENT_BASE up, per source address, on its first authentic datagram, in a table of
 * `clients_max` entries; when full, the client heard from least recently is forgotten (a reply
 * still owed to it is then dropped, counted in no_route). So a node's reply to endpoint X goes to
 * the address X last wrote from.
 *
 * Sealing (seal.h): every datagram leaves sealed and arrives unsealed; nothing of a datagram is
 * parsed before net_unseal accepts it, nothing is answered when it refuses, and each refusal is
 * counted by kind (net_uv_seal_stats). An authentic frame names its sender: a node id from the
 * member table, or a client (any id at or above NET_UV_CLIENT_BASE); another id is dropped
 * (unknown_sender). The seal sender id of a node is its node id; of a client, a random id in the
 * client range.
 *
 * Client key (optional, nodes only): a node given `client_key` holds two keys, the cluster key
 * (`key`) for node-to-node traffic and the client key for clients, so a client can be handed a key
 * that does not let it speak as a node. Each key has a seal context of its own, picked by the
 * frame's clear key id, so frames under the client key never reach the nodes' replay windows (a
 * client key holder claiming a node's id cannot push that node's window to a future epoch). An
 * authentic frame from a node id must be sealed under the cluster key and one from a client id
 * under the client key, else it is dropped (wrong_key); replies to clients are sealed under the
 * client key. Clients sharing the client key can still disturb one another's replay windows, as
 * they could with one shared key. A client key holder could still
 * send a node's message types from its client id: dynamod drops those (it lets clients send
 * requests, pings and admin requests only).
 *
 * The seal's sender epoch is chosen by the host (net_uv_config_t.sender_epoch), and must grow at
 * every start of a sender, or its peers refuse its frames as replays. dynamod does not use core's
 * incarnation epoch for it: that one is random after a lost disk (so it may go down), and can be
 * renewed while the node runs (reaper.c), while a seal epoch is fixed for a process. It uses the
 * boot time in microseconds (CLOCK_REALTIME), raised past the last seal epoch it stored in META
 * so that a wall clock stepped backwards cannot lower it (net_uv_next_epoch). A client, which
 * has no store, uses its boot time alone.
 *
 * Sizes: a datagram is at most NET_UV_DATAGRAM_MAX bytes (the IPv4 UDP limit), so one carries a
 * core message of at most NET_UV_PLAIN_MAX bytes. A larger message, up to NET_FRAG_MESSAGE_MAX
 * (core's DYN_MSG_MAX), is split into fragments, each sealed as a datagram of its own, and put
 * back together by the receiver in a bounded table before it reaches the owner, whole or not at
 * all (frag.h; a lost fragment loses the message, which core retries or times out). A send over
 * NET_FRAG_MESSAGE_MAX is refused with DYN_ETOOBIG and counted (send_too_big). A 1 MiB value
 * is 17 datagrams in flight at once: the receiver's socket buffer (socket_buffer_bytes, capped by
 * the kernel's net.core.rmem_max) must hold them.
 *
 * Ownership: the caller owns the uv loop, which must outlive the env. net_uv_destroy() closes
 * the env's handles and turns the loop (UV_RUN_ONCE, which does not block while handles are
 * closing) until they are closed and every queued send is freed, without waiting for the
 * caller's other handles. Single-threaded: everything runs on the loop's thread.
 */
#ifndef NET_UV_ENV_H
#define NET_UV_ENV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/env.h"
#include "net/seal.h"

/* The largest UDP payload over IPv4 (65535 minus the IP and UDP headers). */
#define NET_UV_DATAGRAM_MAX 65507u
/* The largest core message one datagram carries. */
#define NET_UV_PLAIN_MAX (NET_UV_DATAGRAM_MAX - NET_SEAL_OVERHEAD_BYTES)
/* Endpoint ids at or above this are clients; below it, node ids. */
#define NET_UV_CLIENT_BASE 0x80000000u
#define NET_UV_CLIENTS_DEFAULT 4096u
#define NET_UV_CLIENTS_LIMIT (1u << 20)
/* Datagrams waiting in libuv's queue when the socket buffer was full; more are dropped. */
#define NET_UV_SENDS_QUEUED_MAX 4096u
/* Key ids: the cluster key, and the client key where there is one (a client that holds only the
 * client key seals under this id). */
#define NET_UV_KEY_ID_CLUSTER 1u
#define NET_UV_KEY_ID_CLIENT 2u
/* The longest address text net_uv_format_addr writes, with its NUL. */
#define NET_UV_ADDR_TEXT_MAX 64u

typedef struct net_uv_peer {
    uint32_t id;                 /* node id, 1 .. NET_UV_CLIENT_BASE - 1 */
    struct sockaddr_storage addr;
} net_uv_peer_t;

/* What the env calls: the owner's entry points. on_timer and on_message are required. */
typedef struct net_uv_handler {
    void (*on_message)(void *arg, dyn_time_us now_us, dyn_endpoint_t from, const uint8_t *bytes,
                       size_t length);
    void (*on_timer)(void *arg, dyn_time_us now_us, uint64_t timer_id);
    /* Optional: core's trace events (dyn_env_t.trace). */
    void (*trace)(void *arg, const dyn_trace_event_t *event);
    /* Optional: a datagram was dropped; `why` is a static string, `status` a dyn_status_t. */
    void (*on_drop)(void *arg, const char *why, int status, const struct sockaddr *from);
    /*
     * Optional: called before datagrams leave (the batch's sendmmsg, a large fragment sent at
     * once) and once per loop turn even when nothing is sent, so that what the owner wrote while
     * producing them is committed first (the daemon's group commit). Nonzero withholds what is
     * waiting: the datagrams are dropped and counted in stats.withheld. It must not send.
     */
    int (*before_send)(void *arg);
    void *arg;
} net_uv_handler_t;

typedef struct net_uv_config {
    uv_loop_t *loop;
    /* Where to bind; NULL: an ephemeral port on the wildcard address of the first peer's family
     * (what a client wants). */
    const struct sockaddr *bind_addr;
    const net_uv_peer_t *peers;  /* the member table, copied */
    size_t peer_count;
    /* A client that knows the nodes' addresses but not their ids (dynctl --nodes): the peers'
     * ids are placeholders, and a frame from a node is attributed by its source address. */
    int peers_by_address;
    const char *cluster;                    /* the cluster's name (seal.h) */
    const uint8_t *key;                     /* NET_SEAL_KEY_BYTES; copied */
    uint32_t key_id;
    /* Nodes: the client key (NET_SEAL_KEY_BYTES, copied) and its id, which must differ from
     * key_id; NULL: clients seal under `key` like nodes. */
    const uint8_t *client_key;
    uint32_t client_key_id;
    uint32_t sender_id;                     /* node id, or a client id >= NET_UV_CLIENT_BASE */
    uint64_t sender_epoch;                  /* see above */
    uint32_t senders_max;                   /* replay windows (seal.h); 0: its default */
    uint32_t clients_max;                   /* client endpoints; 0: NET_UV_CLIENTS_DEFAULT */
    int socket_buffer_bytes;                /* SO_RCVBUF and SO_SNDBUF; 0: the system's */
} net_uv_config_t;

typedef struct net_uv_stats {
    uint64_t received;       /* datagrams read from the socket */
    uint64_t delivered;      /* authentic datagrams handed to the owner */
    uint64_t sent;           /* datagrams handed to the kernel (or queued in libuv) */
    uint64_t truncated;      /* larger than the receive buffer: dropped unread */
    uint64_t recv_errors;    /* the socket reported an error */
    uint64_t unknown_sender; /* authentic, but from a node id not in the member table */
    uint64_t no_route;       /* a send to an endpoint with no address (forgotten client) */
    uint64_t send_too_big;   /* a send over NET_FRAG_MESSAGE_MAX, refused */
    uint64_t send_errors;    /* the kernel refused a datagram, or libuv's queue was full */
    uint64_t clients_forgotten; /* client endpoints evicted from a full table */
    uint64_t fragmented;     /* messages sent in fragments (frag.h) */
    uint64_t reassembled;    /* messages put back together from fragments and delivered */
    uint64_t fragments_refused; /* fragments malformed, or refused by the table's bounds */
    uint64_t wrong_key;      /* authentic, but a node under the client key or a client under the
                                cluster key (only with a client key) */
    uint64_t withheld;       /* datagrams dropped because before_send refused them */
    uint64_t bundles_sent;   /* datagrams that carried several messages (bundle.h) */
    uint64_t bundled;        /* messages sent in them */
    uint64_t bundles_received; /* bundles unsealed and delivered, message by message */
    uint64_t bundles_refused;  /* authentic, but not a well-formed bundle: nothing delivered */
} net_uv_stats_t;

typedef struct net_uv net_uv_t;

/*
 * Parse "HOST:PORT" or "[HOST6]:PORT" (numeric addresses only: no name lookups) into *out.
 * DYN_OK or DYN_EINVAL with `err` naming the problem.
 */
int net_uv_parse_addr(const char *text, struct sockaddr_storage *out, char *err, size_t errlen);
/* "127.0.0.1:7001" or "[::1]:7001" into buf (NET_UV_ADDR_TEXT_MAX bytes suffice). */
void net_uv_format_addr(const struct sockaddr *addr, char *buf, size_t size);
/* True for 127.0.0.0/8 and ::1 (the addresses no other machine can reach). */
int net_uv_addr_is_loopback(const struct sockaddr *addr);

/*
 * Create the env and bind its socket. Returns DYN_OK, DYN_EINVAL (bad config), DYN_ENOMEM, or
 * DYN_EIO (bind failed: address in use, not local, ...) with `err` saying which.
 * Receiving starts at once, so set the handler before running the loop.
 */
int net_uv_create(const net_uv_config_t *config, const net_uv_handler_t *handler, net_uv_t **out,
                  char *err, size_t errlen);
void net_uv_destroy(net_uv_t *env);

/* The dyn_env_t to give the node or client; valid until net_uv_destroy. */
dyn_env_t net_uv_env(net_uv_t *env);
/* The monotonic clock the env passes to entry points, in microseconds. */
dyn_time_us net_uv_now(const net_uv_t *env);
/* The wall clock (CLOCK_REALTIME) in microseconds. */
uint64_t net_uv_wall_now(void);
/*
 * The seal epoch for a sender that stored `last` (0 if none) as its previous one: the wall clock
 * in microseconds, or last + 1 if the clock is behind it.
 */
uint64_t net_uv_next_epoch(uint64_t last);

/* The address the socket is bound to. */
void net_uv_local_addr(const net_uv_t *env, struct sockaddr_storage *out);
net_uv_stats_t net_uv_stats(const net_uv_t *env);
net_seal_stats_t net_uv_seal_stats(const net_uv_t *env);
/* Timers pending in the heap (armed and neither fired nor cancelled). */
size_t net_uv_timers_pending(const net_uv_t *env);

#endif
