/*
 * uv_env.c: the timer heap, the client endpoint table, and the seal on every datagram.
 *
 * Timers: a binary min-heap of slot indices ordered by (deadline, arming sequence); each slot
 * knows its heap position, so cancel is O(log n). A handle is (generation << 32 | slot): a handle
 * kept after its timer fired or was cancelled names an old generation and cancels nothing.
 *
 * Clients: slots in a fixed table, found by address through hash chains. An endpoint id encodes
 * its slot (id - CLIENT_BASE = slot + clients_max * generation), so a send resolves it in O(1),
 * and an id whose slot has since been reused by another address no longer matches.
 *
 * Receiving: libuv reads up to RX_BATCH datagrams per recvmmsg call into one buffer of 64 KiB
 * chunks (UV_UDP_RECVMMSG), and hands them to on_recv one at a time; under load that saves most
 * of the receive system calls (about 8 % more operations per second in the three-node bench).
 *
 * Sending: a datagram is sealed straight into a batch (up to TX_BATCH frames in TX_ARENA bytes)
 * and the batch goes out in one sendmmsg call when the loop is about to wait for I/O (a prepare
 * handle) or has just run the I/O callbacks (a check handle), so the replies and replica
 * requests one recvmmsg batch produces leave together: sendmsg and the wake-ups it causes were
 * 39 % of a node's profile. A frame too large for the arena (a fragment) is sent at once, after
 * the batch. What the kernel cannot take now (EAGAIN) goes to libuv's queue as before.
 *
 * Bundles: a small message is not sealed at once but added to its destination's bundle for the
 * turn (bundle.h), and each bundle is sealed as one datagram when the batch is sent; fewer seals,
 * system calls and wake-ups doubled a loaded three-node cluster's throughput. The owner's
 * before_send hook runs before anything leaves, bundles included.
 */
#define _GNU_SOURCE /* sendmmsg */
#include "net/uv_env.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "core/status.h"
#include "net/bundle.h"
#include "net/frag.h"

/* Datagrams read per system call (libuv's recvmmsg, one 64 KiB chunk each). */
#define RX_BATCH 8u
/* Datagrams sent per system call, and the bytes their frames may take. */
#define TX_BATCH 32u
#define TX_ARENA (64u * 1024u)
/* Destinations with a bundle open at once; a turn that writes to more seals them all. */
#define BUNDLES_OPEN_MAX 16u

typedef struct timer_slot {
    uint64_t deadline_us;
    uint64_t seq;
    uint64_t timer_id;
    uint32_t generation;
    uint32_t heap_index; /* UINT32_MAX: not in the heap (free) */
    uint32_t next_free;
} timer_slot_t;

/* A normalised address: family, port and 16 address bytes, comparable with memcmp. */
typedef struct addr_key {
    uint8_t bytes[20];
} addr_key_t;

typedef struct client_slot {
    bool used;
    uint32_t id;
    uint32_t generation;
    uint32_t next;       /* hash chain, UINT32_MAX ends it */
    uint64_t last_heard; /* monotonic µs */
    addr_key_t key;
    struct sockaddr_storage addr;
} client_slot_t;

/* A turn's small messages to one destination, sealed as one datagram when the turn ends. */
typedef struct open_bundle {
    addr_key_t key;
    struct sockaddr_storage addr;
    net_seal_t *seal;
    net_bundle_t bundle;
} open_bundle_t;

typedef struct queued_send {
    uv_udp_send_t req;
    net_uv_t *env;
    uint8_t bytes[];
} queued_send_t;

struct net_uv {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_timer_t timer;
    uv_prepare_t tx_prepare;
    uv_check_t tx_check;
    /* the batch of sealed frames waiting for tx_flush */
    uint32_t tx_count, tx_used;
    uint32_t tx_offset[TX_BATCH], tx_length[TX_BATCH];
    struct sockaddr_storage tx_addr[TX_BATCH];
    uint8_t tx_arena[TX_ARENA];
    open_bundle_t bundles[BUNDLES_OPEN_MAX];
    uint32_t bundle_count;
    int handles_open;
    uint32_t sends_queued;
    net_uv_handler_t handler;
    net_seal_t *seal;
    /* With a client key: a second seal context holding only it, so that frames under it (replay
     * windows included) never touch the node-to-node context; NULL without one. */
    net_seal_t *client_seal;
    uint32_t client_key_id;
    net_uv_peer_t *peers;
    size_t peer_count;
    int peers_by_address;
    /* timers */
    timer_slot_t *slots;
    uint32_t *heap;
    uint32_t slot_count, slot_capacity, heap_size, free_head;
    uint64_t arm_seq;
    uint64_t uv_deadline_us; /* what the uv timer is armed for; UINT64_MAX: stopped */
    /* clients */
    client_slot_t *clients;
    uint32_t *buckets;
    uint32_t clients_max, bucket_mask, client_next;
    net_uv_stats_t stats;
    /* messages over one datagram (frag.h): the reassembly table, the next message id */
    net_frag_t *frag;
    uint32_t frag_next_id;
    /* one datagram in each direction; the loop is single-threaded */
    uint8_t rx_frame[RX_BATCH * 65536]; /* RX_BATCH datagrams per recvmmsg call */
    uint8_t rx_plain[65536];
    uint8_t tx_plain[NET_UV_PLAIN_MAX];
    uint8_t tx_frame[NET_UV_DATAGRAM_MAX];
};

/* ---- clocks ------------------------------------------------------------------------------ */

dyn_time_us net_uv_now(const net_uv_t *env)
{
    (void)env;
    return uv_hrtime() / 1000u;
}

uint64_t net_uv_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t net_uv_next_epoch(uint64_t last)
{
    uint64_t now = net_uv_wall_now();
    return now > last ? now : last + 1;
}

/* ---- addresses --------------------------------------------------------------------------- */

int net_uv_parse_addr(const char *text, struct sockaddr_storage *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    char host[64];
    const char *port_text;
    if (!text || !*text) {
        snprintf(err, errlen, "empty address");
        return DYN_EINVAL;
    }
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':' || (size_t)(end - text - 1) >= sizeof(host)) {
            snprintf(err, errlen, "bad address '%s': expected [IPv6]:PORT", text);
            return DYN_EINVAL;
        }
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = '\0';
        port_text = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host) || strchr(text, ':') != colon) {
            snprintf(err, errlen, "bad address '%s': expected IPv4:PORT or [IPv6]:PORT", text);
            return DYN_EINVAL;
        }
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
    }
    char *end;
    unsigned long port = strtoul(port_text, &end, 10);
    if (!*port_text || *end || port > 65535 || port_text[0] == '-' || port_text[0] == '+') {
        snprintf(err, errlen, "bad port in address '%s'", text);
        return DYN_EINVAL;
    }
    if (text[0] == '[') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
        if (uv_ip6_addr(host, (int)port, a) != 0) {
            snprintf(err, errlen, "bad IPv6 address '%s' (numeric addresses only)", host);
            return DYN_EINVAL;
        }
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)out;
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
            snprintf(err, errlen, "bad IPv4 address '%s' (numeric addresses only)", host);
            return DYN_EINVAL;
        }
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
    }
    return DYN_OK;
}

void net_uv_format_addr(const struct sockaddr *addr, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        uv_ip4_name(a, host, sizeof(host));
        snprintf(buf, size, "%s:%u", host, ntohs(a->sin_port));
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        uv_ip6_name(a, host, sizeof(host));
        snprintf(buf, size, "[%s]:%u", host, ntohs(a->sin6_port));
    } else {
        snprintf(buf, size, "(family %d)", addr->sa_family);
    }
}

int net_uv_addr_is_loopback(const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return 0;
}

static addr_key_t key_of(const struct sockaddr *addr)
{
    addr_key_t k;
    memset(&k, 0, sizeof(k));
    k.bytes[0] = (uint8_t)addr->sa_family;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        memcpy(k.bytes + 2, &a->sin_port, 2);
        memcpy(k.bytes + 4, &a->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        memcpy(k.bytes + 2, &a->sin6_port, 2);
        memcpy(k.bytes + 4, &a->sin6_addr, 16);
    }
    return k;
}

static socklen_t addr_len(const struct sockaddr *addr)
{
    return addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* ---- the timer heap ---------------------------------------------------------------------- */

static bool timer_before(const net_uv_t *env, uint32_t a, uint32_t b)
{
    const timer_slot_t *x = &env->slots[a], *y = &env->slots[b];
    return x->deadline_us != y->deadline_us ? x->deadline_us < y->deadline_us : x->seq < y->seq;
}

static void heap_set(net_uv_t *env, uint32_t pos, uint32_t slot)
{
    env->heap[pos] = slot;
    env->slots[slot].heap_index = pos;
}

static void heap_up(net_uv_t *env, uint32_t pos)
{
    uint32_t slot = env->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!timer_before(env, slot, env->heap[parent]))
            break;
        heap_set(env, pos, env->heap[parent]);
        pos = parent;
    }
    heap_set(env, pos, slot);
}

static void heap_down(net_uv_t *env, uint32_t pos)
{
    uint32_t slot = env->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= env->heap_size)
            break;
        if (child + 1 < env->heap_size && timer_before(env, env->heap[child + 1], env->heap[child]))
            child++;
        if (!timer_before(env, env->heap[child], slot))
            break;
        heap_set(env, pos, env->heap[child]);
        pos = child;
    }
    heap_set(env, pos, slot);
}

/* Take slot out of the heap and put it on the free list. */
static void timer_release(net_uv_t *env, uint32_t slot)
{
    timer_slot_t *t = &env->slots[slot];
    uint32_t pos = t->heap_index;
    DYN_ASSERT(pos < env->heap_size && env->heap[pos] == slot);
    uint32_t last = env->heap[--env->heap_size];
    if (pos < env->heap_size) {
        heap_set(env, pos, last);
        heap_down(env, pos);
        heap_up(env, env->slots[last].heap_index);
    }
    t->heap_index = UINT32_MAX;
    t->generation++;
    t->next_free = env->free_head;
    env->free_head = slot;
}

static void on_uv_timer(uv_timer_t *handle);

/* Keep the uv timer armed for the earliest deadline (whole milliseconds, rounded up). */
static void rearm(net_uv_t *env)
{
    if (env->heap_size == 0) {
        if (env->uv_deadline_us != UINT64_MAX) {
            uv_timer_stop(&env->timer);
            env->uv_deadline_us = UINT64_MAX;
        }
        return;
    }
    uint64_t deadline = env->slots[env->heap[0]].deadline_us;
    if (deadline == env->uv_deadline_us)
        return;
    uint64_t now = net_uv_now(env);
    uint64_t wait_ms = deadline > now ? (deadline - now + 999) / 1000 : 0;
    /* libuv times from its cached loop time, which lags the clock by however long callbacks
     * have run since the loop last read it: refresh it, or the timer fires early (harmless,
     * on_uv_timer rearms for the rest, but a wasted wake-up). */
    uv_update_time(env->loop);
    uv_timer_start(&env->timer, on_uv_timer, wait_ms, 0);
    env->uv_deadline_us = deadline;
}

static uint64_t env_timer_arm(void *ctx, uint64_t timer_id, dyn_time_us deadline_us)
{
    net_uv_t *env = ctx;
    uint32_t slot;
    if (env->free_head != UINT32_MAX) {
        slot = env->free_head;
        env->free_head = env->slots[slot].next_free;
    } else {
        if (env->slot_count == env->slot_capacity) {
            /* Core bounds its own pending work (requests_pending_max, pending_max), and so the
             * timers it can have armed; the table grows to that and no further. */
            uint32_t cap = env->slot_capacity ? env->slot_capacity * 2 : 256;
            timer_slot_t *slots = realloc(env->slots, (size_t)cap * sizeof(*slots));
            DYN_ASSERT(slots != NULL);
            env->slots = slots;
            uint32_t *heap = realloc(env->heap, (size_t)cap * sizeof(*heap));
            DYN_ASSERT(heap != NULL);
            env->heap = heap;
            env->slot_capacity = cap;
        }
        slot = env->slot_count++;
        env->slots[slot].generation = 1;
    }
    timer_slot_t *t = &env->slots[slot];
    t->deadline_us = deadline_us;
    t->seq = env->arm_seq++;
    t->timer_id = timer_id;
    t->heap_index = env->heap_size;
    env->heap[env->heap_size++] = slot;
    heap_up(env, t->heap_index);
    rearm(env);
    return ((uint64_t)t->generation << 32) | slot;
}

static void env_timer_cancel(void *ctx, uint64_t handle)
{
    net_uv_t *env = ctx;
    uint32_t slot = (uint32_t)handle;
    if (slot >= env->slot_count)
        return;
    timer_slot_t *t = &env->slots[slot];
    if (t->heap_index == UINT32_MAX || t->generation != (uint32_t)(handle >> 32))
        return;
    timer_release(env, slot);
    /* The uv timer may stay armed for the cancelled deadline; it then fires and rearms. */
}

static void on_uv_timer(uv_timer_t *handle)
{
    net_uv_t *env = handle->data;
    env->uv_deadline_us = UINT64_MAX;
    uint64_t now = net_uv_now(env);
    /* Fire at most what was due when we started: a timer armed by a callback for `now` waits
     * for the next turn of the loop, so the socket is read between them. */
    uint32_t budget = env->heap_size;
    while (budget-- > 0 && env->heap_size > 0) {
        uint32_t slot = env->heap[0];
        timer_slot_t *t = &env->slots[slot];
        if (t->deadline_us > now)
            break;
        uint64_t id = t->timer_id;
        timer_release(env, slot);
        env->handler.on_timer(env->handler.arg, now, id);
    }
    rearm(env);
}

size_t net_uv_timers_pending(const net_uv_t *env) { return env->heap_size; }

/* ---- client endpoints -------------------------------------------------------------------- */

static uint32_t bucket_of(const net_uv_t *env, const addr_key_t *k)
{
    return (uint32_t)XXH3_64bits(k->bytes, sizeof(k->bytes)) & env->bucket_mask;
}

static void client_unlink(net_uv_t *env, uint32_t slot)
{
    client_slot_t *c = &env->clients[slot];
    uint32_t *link = &env->buckets[bucket_of(env, &c->key)];
    while (*link != slot) {
        DYN_ASSERT(*link != UINT32_MAX);
        link = &env->clients[*link].next;
    }
    *link = c->next;
    c->used = false;
    env->stats.clients_forgotten++;
}

static dyn_endpoint_t client_endpoint(net_uv_t *env, const struct sockaddr *addr, uint64_t now)
{
    addr_key_t k = key_of(addr);
    uint32_t b = bucket_of(env, &k);
    for (uint32_t i = env->buckets[b]; i != UINT32_MAX; i = env->clients[i].next) {
        if (memcmp(env->clients[i].key.bytes, k.bytes, sizeof(k.bytes)) == 0) {
            env->clients[i].last_heard = now;
            return env->clients[i].id;
        }
    }
    /* A new client: a free slot, scanning from where the last one was taken, or else the one
     * heard from least recently (O(clients_max), only when the table is full). */
    uint32_t slot = UINT32_MAX;
    for (uint32_t n = 0; n < env->clients_max; n++) {
        uint32_t i = (env->client_next + n) % env->clients_max;
        if (!env->clients[i].used) {
            slot = i;
            break;
        }
    }
    if (slot == UINT32_MAX) {
        slot = 0;
        for (uint32_t i = 1; i < env->clients_max; i++)
            if (env->clients[i].last_heard < env->clients[slot].last_heard)
                slot = i;
        client_unlink(env, slot);
    }
    env->client_next = (slot + 1) % env->clients_max;
    client_slot_t *c = &env->clients[slot];
    c->generation++;
    uint64_t span = NET_UV_CLIENT_BASE / env->clients_max; /* generations an id can name */
    c->id = NET_UV_CLIENT_BASE + slot + env->clients_max * (uint32_t)(c->generation % span);
    c->used = true;
    c->key = k;
    c->last_heard = now;
    memset(&c->addr, 0, sizeof(c->addr));
    memcpy(&c->addr, addr, addr_len(addr));
    c->next = env->buckets[b];
    env->buckets[b] = slot;
    return c->id;
}

/* ---- sending ----------------------------------------------------------------------------- */

static const struct sockaddr *route(net_uv_t *env, dyn_endpoint_t to)
{
    if (to >= NET_UV_CLIENT_BASE) {
        uint32_t slot = (to - NET_UV_CLIENT_BASE) % env->clients_max;
        const client_slot_t *c = &env->clients[slot];
        return c->used && c->id == to ? (const struct sockaddr *)&c->addr : NULL;
    }
    for (size_t i = 0; i < env->peer_count; i++)
        if (env->peers[i].id == to)
            return (const struct sockaddr *)&env->peers[i].addr;
    return NULL;
}

static void on_queued_sent(uv_udp_send_t *req, int status)
{
    queued_send_t *q = (queued_send_t *)req;
    net_uv_t *env = q->env;
    if (status < 0)
        env->stats.send_errors++;
    env->sends_queued--;
    free(q);
}

/* Hand libuv a copy of a frame the kernel would not take now; it sends it when it can. */
static int queue_copy(net_uv_t *env, const struct sockaddr *addr, const uint8_t *frame,
                      size_t frame_length)
{
    if (env->sends_queued >= NET_UV_SENDS_QUEUED_MAX) {
        env->stats.send_errors++;
        return DYN_EFULL;
    }
    queued_send_t *q = malloc(sizeof(*q) + frame_length);
    if (!q) {
        env->stats.send_errors++;
        return DYN_ENOMEM;
    }
    q->env = env;
    memcpy(q->bytes, frame, frame_length);
    uv_buf_t buf = uv_buf_init((char *)q->bytes, (unsigned)frame_length);
    if (uv_udp_send(&q->req, &env->udp, &buf, 1, addr, on_queued_sent) != 0) {
        free(q);
        env->stats.send_errors++;
        return DYN_EIO;
    }
    env->sends_queued++;
    env->stats.sent++;
    return DYN_OK;
}

static socklen_t addr_length(const struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* The owner's before_send: 0 to let datagrams leave. */
static int before_send(net_uv_t *env)
{
    return env->handler.before_send ? env->handler.before_send(env->handler.arg) : 0;
}

/* Send the batch: sendmmsg until done; the rest to libuv's queue if the kernel is full. */
static void tx_send(net_uv_t *env)
{
    uint32_t n = env->tx_count;
    if (n == 0)
        return;
    env->tx_count = 0;
    env->tx_used = 0;
    if (before_send(env) != 0) {
        env->stats.withheld += n;
        return;
    }
    struct mmsghdr msgs[TX_BATCH];
    struct iovec iov[TX_BATCH];
    for (uint32_t i = 0; i < n; i++) {
        iov[i] = (struct iovec){env->tx_arena + env->tx_offset[i], env->tx_length[i]};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &env->tx_addr[i],
                                               .msg_namelen = addr_length(&env->tx_addr[i]),
                                               .msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    uv_os_fd_t fd;
    uint32_t i = 0;
    /* With libuv's queue non-empty, keep to it so that frames leave in order. */
    if (env->sends_queued == 0 && uv_fileno((const uv_handle_t *)&env->udp, &fd) == 0) {
        while (i < n) {
            int sent = sendmmsg(fd, msgs + i, n - i, MSG_DONTWAIT);
            if (sent > 0) {
                i += (uint32_t)sent;
                env->stats.sent += (uint64_t)sent;
            } else if (sent < 0 && errno == EINTR) {
                continue;
            } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
                break;
            } else {
                /* This datagram was refused (say, an unreachable address): drop it alone. */
                env->stats.send_errors++;
                i++;
            }
        }
    }
    for (; i < n; i++)
        (void)queue_copy(env, (const struct sockaddr *)&env->tx_addr[i],
                         env->tx_arena + env->tx_offset[i], env->tx_length[i]);
}

static int send_datagram(net_uv_t *env, net_seal_t *seal, const struct sockaddr *addr,
                         const uint8_t *bytes, size_t length);

/* Seal one open bundle into the batch and empty it. */
static int seal_bundle(net_uv_t *env, open_bundle_t *ob)
{
    size_t length;
    const uint8_t *plain = net_bundle_plain(&ob->bundle, &length);
    if (!plain)
        return DYN_OK;
    if (ob->bundle.count > 1) {
        env->stats.bundles_sent++;
        env->stats.bundled += ob->bundle.count;
    }
    int rc = send_datagram(env, ob->seal, (const struct sockaddr *)&ob->addr, plain, length);
    net_bundle_reset(&ob->bundle);
    return rc;
}

/* Seal every open bundle into the batch (bundle.h); before_send never sends, so none is added
 * while this runs. */
static void seal_bundles(net_uv_t *env)
{
    for (uint32_t i = 0; i < env->bundle_count; i++)
        (void)seal_bundle(env, &env->bundles[i]);
    env->bundle_count = 0;
}

static void tx_flush(net_uv_t *env)
{
    seal_bundles(env);
    tx_send(env);
}

/* The open bundle for (seal, addr), or NULL. */
static open_bundle_t *find_bundle(net_uv_t *env, const net_seal_t *seal, const addr_key_t *key)
{
    for (uint32_t i = 0; i < env->bundle_count; i++)
        if (env->bundles[i].seal == seal &&
            memcmp(env->bundles[i].key.bytes, key->bytes, sizeof(key->bytes)) == 0)
            return &env->bundles[i];
    return NULL;
}

/* Each loop turn ends its writes, whether or not anything is sent (a stored hint answers no
 * one), so that no write waits in an open batch while the loop sleeps. */
static void turn_flush(net_uv_t *env)
{
    if (env->tx_count || env->bundle_count)
        tx_flush(env);
    else
        (void)before_send(env);
}

static void on_tx_prepare(uv_prepare_t *h) { turn_flush(h->data); }
static void on_tx_check(uv_check_t *h) { turn_flush(h->data); }

/* Seal one plaintext of at most NET_UV_PLAIN_MAX bytes into one datagram, into the batch when it
 * fits, else (a large fragment) straight out after the batch. */
static int send_datagram(net_uv_t *env, net_seal_t *seal, const struct sockaddr *addr,
                         const uint8_t *bytes, size_t length)
{
    size_t frame_length;
    if (length + NET_SEAL_OVERHEAD_BYTES <= TX_ARENA) {
        if (env->tx_count == TX_BATCH || env->tx_used + length + NET_SEAL_OVERHEAD_BYTES > TX_ARENA)
            tx_send(env);
        int rc = net_seal(seal, bytes, length, env->tx_arena + env->tx_used,
                          TX_ARENA - env->tx_used, &frame_length);
        if (rc != DYN_OK) {
            env->stats.send_errors++;
            return rc;
        }
        uint32_t k = env->tx_count++;
        env->tx_offset[k] = env->tx_used;
        env->tx_length[k] = (uint32_t)frame_length;
        memcpy(&env->tx_addr[k], addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                   : sizeof(struct sockaddr_in));
        env->tx_addr[k].ss_family = addr->sa_family;
        env->tx_used += (uint32_t)frame_length;
        return DYN_OK;
    }
    tx_flush(env);
    if (before_send(env) != 0) {
        env->stats.withheld++;
        return DYN_OK; /* as if lost on the wire */
    }
    int rc = net_seal(seal, bytes, length, env->tx_frame, sizeof(env->tx_frame),
                      &frame_length);
    if (rc != DYN_OK) {
        env->stats.send_errors++;
        return rc;
    }
    uv_buf_t buf = uv_buf_init((char *)env->tx_frame, (unsigned)frame_length);
    int sent = uv_udp_try_send(&env->udp, &buf, 1, addr);
    if (sent >= 0) {
        env->stats.sent++;
        return DYN_OK;
    }
    if (sent != UV_EAGAIN && sent != UV_ENOSYS) {
        env->stats.send_errors++;
        return DYN_EIO;
    }
    /* The socket buffer is full (or libuv has sends queued already): queue a copy, bounded. */
    return queue_copy(env, addr, env->tx_frame, frame_length);
}

/* A small message joins its destination's bundle for this turn (bundle.h). */
static int send_bundled(net_uv_t *env, net_seal_t *seal, const struct sockaddr *addr,
                        const uint8_t *bytes, size_t length)
{
    addr_key_t key = key_of(addr);
    open_bundle_t *ob = find_bundle(env, seal, &key);
    if (ob && !net_bundle_fits(&ob->bundle, length)) {
        /* Full: it leaves with the batch, and this destination starts another. */
        int rc = seal_bundle(env, ob);
        if (rc != DYN_OK)
            return rc;
    }
    if (!ob) {
        if (env->bundle_count == BUNDLES_OPEN_MAX)
            seal_bundles(env);
        ob = &env->bundles[env->bundle_count++];
        ob->key = key;
        memcpy(&ob->addr, addr, addr_len(addr));
        ob->addr.ss_family = addr->sa_family;
        ob->seal = seal;
        net_bundle_reset(&ob->bundle);
    }
    net_bundle_add(&ob->bundle, bytes, length);
    return DYN_OK;
}

static int env_send(void *ctx, dyn_endpoint_t to, const uint8_t *bytes, size_t length)
{
    net_uv_t *env = ctx;
    if (length > NET_FRAG_MESSAGE_MAX) {
        env->stats.send_too_big++;
        if (env->handler.on_drop)
            env->handler.on_drop(env->handler.arg, "message too large even in fragments",
                                 DYN_ETOOBIG, NULL);
        return DYN_ETOOBIG;
    }
    const struct sockaddr *addr = route(env, to);
    if (!addr) {
        env->stats.no_route++;
        return DYN_EUNAVAIL;
    }
    /* A client holds only the client key: seal what goes to it under that one. */
    net_seal_t *seal = env->client_seal && to >= NET_UV_CLIENT_BASE ? env->client_seal : env->seal;
    /* The receiver tells bundles and fragments by their first byte: no message may start so
     * (core's begin with 0xD7, admin requests with 0xA7). */
    if (length == 0 || bytes[0] == NET_BUNDLE_MARKER || bytes[0] == NET_FRAG_MARKER)
        return DYN_EINVAL;
    int rc = DYN_OK;
    uint32_t count = net_frag_count(env->frag, length);
    if (count == 1 && length <= NET_BUNDLE_BYTES_MAX - NET_BUNDLE_HEADER_BYTES -
                                    NET_BUNDLE_ITEM_HEADER_BYTES)
        return send_bundled(env, seal, addr, bytes, length);
    /* A larger message leaves after what this turn already bundled for its destination, so
     * that one destination's messages keep their order. */
    addr_key_t key = key_of(addr);
    open_bundle_t *ob = find_bundle(env, seal, &key);
    if (ob && (rc = seal_bundle(env, ob)) != DYN_OK)
        return rc;
    if (count == 1) {
        rc = send_datagram(env, seal, addr, bytes, length);
    } else {
        /* Each fragment is a datagram of its own; losing any loses the message (core
         * retries). */
        uint32_t id = env->frag_next_id++;
        env->stats.fragmented++;
        for (uint32_t i = 0; i < count && rc == DYN_OK; i++) {
            size_t n = net_frag_build(env->frag, id, i, bytes, length, env->tx_plain);
            rc = send_datagram(env, seal, addr, env->tx_plain, n);
        }
    }
    return rc;
}

/* ---- receiving --------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    net_uv_t *env = handle->data;
    *buf = uv_buf_init((char *)env->rx_frame, sizeof(env->rx_frame));
}

static void drop(net_uv_t *env, const char *why, int status, const struct sockaddr *from)
{
    if (env->handler.on_drop)
        env->handler.on_drop(env->handler.arg, why, status, from);
}

/* What each net_unseal refusal means, in the words of seal.h's stats. */
static const char *seal_refusal(int status)
{
    switch (status) {
    case DYN_EBADMSG: return "too short to be a sealed frame";
    case DYN_EVERSION: return "not a sealed frame (unknown format byte)";
    case DYN_ECLUSTER: return "sealed for another cluster";
    case DYN_ENOKEY: return "sealed under a key id this node does not hold";
    case DYN_EAUTH: return "failed authentication (forged, damaged, or another key)";
    case DYN_EREPLAY: return "a replay, or too old for the replay window";
    case DYN_EFULL: return "from a new sender, but the replay table is full (senders_max)";
    default: return "refused by the seal";
    }
}

static void on_recv(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags)
{
    net_uv_t *env = handle->data;
    if (nread < 0) {
        env->stats.recv_errors++;
        return;
    }
    if (!addr)
        return; /* nothing more to read for now, or the end of a recvmmsg batch (MMSG_FREE) */
    env->stats.received++;
    if (flags & UV_UDP_PARTIAL) {
        env->stats.truncated++;
        drop(env, "datagram larger than the receive buffer", DYN_ETOOBIG, addr);
        return;
    }
    size_t plain_length;
    net_seal_origin_t origin;
    /* The clear key id picks the context; the frame must then authenticate under it. */
    int client_ctx = env->client_seal &&
                     net_seal_peek_key_id((const uint8_t *)buf->base, (size_t)nread) ==
                         env->client_key_id;
    int rc = net_unseal(client_ctx ? env->client_seal : env->seal, (const uint8_t *)buf->base,
                        (size_t)nread, env->rx_plain,
                        sizeof(env->rx_plain), &plain_length, &origin);
    if (rc != DYN_OK) {
        drop(env, seal_refusal(rc), rc, addr);
        return;
    }
    if (env->client_seal && client_ctx != (origin.sender_id >= NET_UV_CLIENT_BASE)) {
        env->stats.wrong_key++;
        drop(env, origin.sender_id >= NET_UV_CLIENT_BASE
                      ? "authentic, but a client under the cluster key (clients use the client key)"
                      : "authentic, but a node id under the client key",
             DYN_ENOKEY, addr);
        return;
    }
    dyn_endpoint_t from = 0;
    uint64_t now = net_uv_now(env);
    if (origin.sender_id >= NET_UV_CLIENT_BASE) {
        from = client_endpoint(env, addr, now);
    } else if (env->peers_by_address) {
        addr_key_t k = key_of(addr);
        for (size_t i = 0; i < env->peer_count && !from; i++) {
            addr_key_t pk = key_of((const struct sockaddr *)&env->peers[i].addr);
            if (memcmp(pk.bytes, k.bytes, sizeof(k.bytes)) == 0)
                from = env->peers[i].id;
        }
    } else {
        for (size_t i = 0; i < env->peer_count; i++)
            if (env->peers[i].id == origin.sender_id)
                from = origin.sender_id;
    }
    if (!from) {
        env->stats.unknown_sender++;
        drop(env, "authentic, but from a node not in the member table", DYN_EINVAL, addr);
        return;
    }
    const uint8_t *message = env->rx_plain;
    size_t message_length = plain_length;
    if (plain_length > 0 && env->rx_plain[0] == NET_BUNDLE_MARKER) {
        /* Checked whole before any message is handed on: a bad bundle delivers nothing. */
        uint32_t count;
        if (net_bundle_check(env->rx_plain, plain_length, &count) != DYN_OK) {
            env->stats.bundles_refused++;
            drop(env, "a malformed bundle", DYN_EBADMSG, addr);
            return;
        }
        env->stats.bundles_received++;
        size_t at = NET_BUNDLE_HEADER_BYTES;
        for (uint32_t i = 0; i < count; i++) {
            net_bundle_next(env->rx_plain, &at, &message, &message_length);
            env->stats.delivered++;
            env->handler.on_message(env->handler.arg, now, from, message, message_length);
        }
        return;
    }
    if (plain_length > 0 && env->rx_plain[0] == NET_FRAG_MARKER) {
        /* A fragment: its sender is the seal's authenticated origin, never a claim in it. */
        rc = net_frag_offer(env->frag, origin.sender_id, origin.epoch, now, env->rx_plain,
                            plain_length, &message, &message_length);
        if (rc == NET_FRAG_PENDING)
            return;
        if (rc != DYN_OK) {
            env->stats.fragments_refused++;
            drop(env, rc == DYN_EFULL ? "a fragment of one message too many under reassembly"
                                      : "a malformed fragment", rc, addr);
            return;
        }
        env->stats.reassembled++;
    }
    env->stats.delivered++;
    env->handler.on_message(env->handler.arg, now, from, message, message_length);
}

/* ---- the env ----------------------------------------------------------------------------- */

static void env_trace(void *ctx, const dyn_trace_event_t *event)
{
    net_uv_t *env = ctx;
    if (env->handler.trace)
        env->handler.trace(env->handler.arg, event);
}

static dyn_time_us env_wall_us(void *ctx, dyn_time_us now_us)
{
    (void)ctx;
    (void)now_us;
    return net_uv_wall_now();
}

static const dyn_env_ops_t uv_env_ops = {
    .send = env_send,
    .timer_arm = env_timer_arm,
    .timer_cancel = env_timer_cancel,
    .trace = env_trace,
    .wall_us = env_wall_us,
};

dyn_env_t net_uv_env(net_uv_t *env) { return (dyn_env_t){.ops = &uv_env_ops, .ctx = env}; }

static void on_closed(uv_handle_t *handle)
{
    net_uv_t *env = handle->data;
    env->handles_open--;
}

void net_uv_destroy(net_uv_t *env)
{
    if (!env)
        return;
    if (env->handles_open > 0) {
        tx_flush(env); /* what was sent before destroy leaves, as it would have at once */
        uv_udp_recv_stop(&env->udp);
        uv_close((uv_handle_t *)&env->udp, on_closed);
        uv_close((uv_handle_t *)&env->timer, on_closed);
        uv_close((uv_handle_t *)&env->tx_prepare, on_closed);
        uv_close((uv_handle_t *)&env->tx_check, on_closed);
        /* Closing the socket cancels queued sends; their callbacks free them. */
        while (env->handles_open > 0 || env->sends_queued > 0)
            uv_run(env->loop, UV_RUN_ONCE);
    }
    net_seal_destroy(env->seal);
    net_seal_destroy(env->client_seal);
    net_frag_destroy(env->frag);
    free(env->peers);
    free(env->slots);
    free(env->heap);
    free(env->clients);
    free(env->buckets);
    free(env);
}

int net_uv_create(const net_uv_config_t *config, const net_uv_handler_t *handler, net_uv_t **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    if (!config->loop || !handler->on_message || !handler->on_timer || !config->key ||
        config->peer_count == 0 || config->clients_max > NET_UV_CLIENTS_LIMIT) {
        snprintf(err, errlen, "invalid network configuration");
        return DYN_EINVAL;
    }
    net_uv_t *env = calloc(1, sizeof(*env));
    if (!env) {
        snprintf(err, errlen, "out of memory");
        return DYN_ENOMEM;
    }
    env->loop = config->loop;
    env->handler = *handler;
    env->free_head = UINT32_MAX;
    env->uv_deadline_us = UINT64_MAX;
    env->peers_by_address = config->peers_by_address;
    env->clients_max = config->clients_max ? config->clients_max : NET_UV_CLIENTS_DEFAULT;
    uint32_t buckets = 1;
    while (buckets < env->clients_max)
        buckets *= 2;
    env->bucket_mask = buckets - 1;
    env->peers = malloc(config->peer_count * sizeof(*env->peers));
    env->clients = calloc(env->clients_max, sizeof(*env->clients));
    env->buckets = malloc((size_t)buckets * sizeof(*env->buckets));
    if (!env->peers || !env->clients || !env->buckets) {
        net_uv_destroy(env);
        snprintf(err, errlen, "out of memory");
        return DYN_ENOMEM;
    }
    memset(env->buckets, 0xFF, (size_t)buckets * sizeof(*env->buckets));
    memcpy(env->peers, config->peers, config->peer_count * sizeof(*env->peers));
    env->peer_count = config->peer_count;

    net_seal_config_t sc = {.cluster = config->cluster, .sender_id = config->sender_id,
                            .sender_epoch = config->sender_epoch,
                            .senders_max = config->senders_max};
    net_frag_config_t fc = {0};
    if (net_frag_create(&fc, &env->frag) != DYN_OK) {
        net_uv_destroy(env);
        snprintf(err, errlen, "out of memory");
        return DYN_ENOMEM;
    }
    if (config->client_key && (config->client_key_id == 0 || config->client_key_id == config->key_id)) {
        snprintf(err, errlen, "the client key needs a key id of its own");
        net_uv_destroy(env);
        return DYN_EINVAL;
    }
    int rc = net_seal_create(&sc, &env->seal);
    if (rc == DYN_OK) /* the first key added seals */
        rc = net_seal_add_key(env->seal, config->key_id, config->key);
    if (rc == DYN_OK && config->client_key) {
        rc = net_seal_create(&sc, &env->client_seal);
        if (rc == DYN_OK)
            rc = net_seal_add_key(env->client_seal, config->client_key_id, config->client_key);
        env->client_key_id = config->client_key_id;
    }
    if (rc != DYN_OK) {
        snprintf(err, errlen, "cannot set up datagram sealing: %s", dyn_strerror(rc));
        net_uv_destroy(env);
        return rc;
    }

    struct sockaddr_storage any;
    const struct sockaddr *bind_addr = config->bind_addr;
    if (!bind_addr) {
        memset(&any, 0, sizeof(any));
        if (config->peers[0].addr.ss_family == AF_INET6)
            uv_ip6_addr("::", 0, (struct sockaddr_in6 *)&any);
        else
            uv_ip4_addr("0.0.0.0", 0, (struct sockaddr_in *)&any);
        bind_addr = (const struct sockaddr *)&any;
    }
    char text[NET_UV_ADDR_TEXT_MAX];
    net_uv_format_addr(bind_addr, text, sizeof(text));
    uv_udp_init_ex(env->loop, &env->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
    uv_timer_init(env->loop, &env->timer);
    uv_prepare_init(env->loop, &env->tx_prepare);
    uv_check_init(env->loop, &env->tx_check);
    env->udp.data = env;
    env->timer.data = env;
    env->tx_prepare.data = env;
    env->tx_check.data = env;
    env->handles_open = 4;
    /* Unreferenced: flushing must not keep a loop alive that would otherwise end. */
    uv_prepare_start(&env->tx_prepare, on_tx_prepare);
    uv_check_start(&env->tx_check, on_tx_check);
    uv_unref((uv_handle_t *)&env->tx_prepare);
    uv_unref((uv_handle_t *)&env->tx_check);
    int uvrc = uv_udp_bind(&env->udp, bind_addr, 0);
    if (uvrc == 0 && config->socket_buffer_bytes > 0) {
        int size = config->socket_buffer_bytes;
        uv_recv_buffer_size((uv_handle_t *)&env->udp, &size);
        size = config->socket_buffer_bytes;
        uv_send_buffer_size((uv_handle_t *)&env->udp, &size);
    }
    if (uvrc == 0)
        uvrc = uv_udp_recv_start(&env->udp, on_alloc, on_recv);
    if (uvrc != 0) {
        snprintf(err, errlen, "cannot bind UDP %s: %s", text, uv_strerror(uvrc));
        net_uv_destroy(env);
        return DYN_EIO;
    }
    *out = env;
    return DYN_OK;
}

void net_uv_local_addr(const net_uv_t *env, struct sockaddr_storage *out)
{
    int len = sizeof(*out);
    memset(out, 0, sizeof(*out));
    uv_udp_getsockname(&env->udp, (struct sockaddr *)out, &len);
}

net_uv_stats_t net_uv_stats(const net_uv_t *env) { return env->stats; }
/* Both contexts' counts, summed: a refusal is a refusal whichever key it claimed. */
DYN_STATIC_ASSERT(sizeof(net_seal_stats_t) == 9 * sizeof(uint64_t), "sum every seal counter");
net_seal_stats_t net_uv_seal_stats(const net_uv_t *env)
{
    net_seal_stats_t a = net_seal_stats(env->seal);
    if (!env->client_seal)
        return a;
    net_seal_stats_t b = net_seal_stats(env->client_seal);
    a.sealed += b.sealed;
    a.unsealed += b.unsealed;
    a.too_short += b.too_short;
    a.bad_format += b.bad_format;
    a.wrong_cluster += b.wrong_cluster;
    a.unknown_key += b.unknown_key;
    a.bad_auth += b.bad_auth;
    a.replayed += b.replayed;
    a.senders_full += b.senders_full;
    return a;
}
