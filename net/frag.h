/*
 * frag.h: core messages larger than one datagram, split into fragments and put back together.
 *
 * Where it sits: above the seal. A message of at most NET_UV_PLAIN_MAX bytes goes out as one
 * sealed datagram, unchanged; a larger one (up to NET_FRAG_MESSAGE_MAX, core's DYN_MSG_MAX) is
 * cut into fragments, and each fragment is a plaintext of its own, sealed into its own datagram.
 * So every fragment is authenticated, and checked against the replay window, before this module
 * sees it: only senders holding the cluster key can make the receiver allocate anything, and a
 * fragment's sender (node or client id, and boot epoch) is the seal's authenticated origin, not a
 * claim in the fragment. Below the seal, a forger could fill the reassembly table with junk that
 * would only be found out once a whole message had been put together.
 *
 * A fragment's plaintext (little-endian), NET_FRAG_HEADER_BYTES before its share of the message:
 *
 *   offset  0  marker      u8   NET_FRAG_MARKER (core's messages start with DYN_WIRE_MAGIC, 0xD7)
 *           1  message id  u32  the sender's counter of fragmented messages
 *           5  index       u16  0 .. count - 1
 *           7  count       u16  fragments in the message, 2 .. NET_FRAG_COUNT_MAX
 *           9  length      u32  the whole message's length
 *          13  bytes       fragment `index` holds message bytes [index * chunk, ...), where chunk
 *                          is NET_FRAG_CHUNK_BYTES; every fragment but the last is full
 *
 * Reassembly: a bounded table of messages under way, keyed by (sender, epoch, message id). The
 * first fragment of a message allocates its whole length; each fragment is copied into place and
 * marked in a bitmap; a duplicate is ignored; a fragment whose count or length disagrees with the
 * message's, or whose size is wrong for its index, drops the message. Only a complete message is
 * handed back, never a part. Bounds: `messages_max` messages under way in all, `per_sender_max`
 * of one sender, `bytes_max` bytes allocated in all; a new message past a bound is refused
 * (DYN_EFULL) after incomplete messages older than `timeout_us` are dropped. A lost fragment
 * means the message is lost: it stays incomplete until it times out (core retries or times out
 * the request, as for any lost datagram).
 *
 * Ownership: net_frag_create returns a table the caller frees with net_frag_destroy. A complete
 * message handed back by net_frag_offer stays valid until the next call on the table. Single
 * threaded, no I/O, no clock: the caller passes the time.
 */
#ifndef NET_FRAG_H
#define NET_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec.h"
#include "net/uv_env.h"

#define NET_FRAG_MARKER 0xF7u
/* net_frag_offer: a fragment taken, its message not complete yet (not an error). */
#define NET_FRAG_PENDING 1
#define NET_FRAG_HEADER_BYTES 13u
/* The largest message this layer carries: core's largest. */
#define NET_FRAG_MESSAGE_MAX DYN_MSG_MAX
/* Message bytes per fragment: one fragment fills one datagram. */
#define NET_FRAG_CHUNK_BYTES (NET_UV_PLAIN_MAX - NET_FRAG_HEADER_BYTES)
#define NET_FRAG_COUNT_MAX \
    ((uint32_t)((NET_FRAG_MESSAGE_MAX + NET_FRAG_CHUNK_BYTES - 1) / NET_FRAG_CHUNK_BYTES))

#define NET_FRAG_MESSAGES_DEFAULT 64u
#define NET_FRAG_PER_SENDER_DEFAULT 8u
#define NET_FRAG_BYTES_DEFAULT (64u << 20)
#define NET_FRAG_TIMEOUT_DEFAULT_US 5000000u

typedef struct net_frag_config {
    uint32_t messages_max;   /* messages under reassembly at once; 0: the default */
    uint32_t per_sender_max; /* of one sender; 0: the default */
    size_t bytes_max;        /* bytes allocated for them in all; 0: the default */
    uint64_t timeout_us;     /* an incomplete message older than this is dropped; 0: default */
    size_t chunk_bytes;      /* 0: NET_FRAG_CHUNK_BYTES (tests use small chunks) */
} net_frag_config_t;

typedef struct net_frag_stats {
    uint64_t fragments;     /* fragments offered */
    uint64_t completed;     /* messages put back together and handed back */
    uint64_t duplicates;    /* fragments already held, ignored */
    uint64_t malformed;     /* bad header, or disagreeing with its message (which is dropped) */
    uint64_t refused_full;  /* a new message past a bound */
    uint64_t timed_out;     /* incomplete messages dropped after timeout_us */
} net_frag_stats_t;

typedef struct net_frag net_frag_t;

int net_frag_create(const net_frag_config_t *config, net_frag_t **out);
void net_frag_destroy(net_frag_t *f);

/* Fragments a message of `length` bytes needs (1: it goes whole, unfragmented). */
uint32_t net_frag_count(const net_frag_t *f, size_t length);
/*
 * Fragment `index` of message `id` into out (at least NET_FRAG_HEADER_BYTES + chunk bytes);
 * returns the fragment's length.
 */
size_t net_frag_build(const net_frag_t *f, uint32_t id, uint32_t index, const uint8_t *message,
                      size_t length, uint8_t *out);

/*
 * Offer one authentic fragment from (sender, epoch) at time now. Returns DYN_OK with *message
 * and *length set when it completed a message (valid until the next call), NET_FRAG_PENDING when
 * the message is still incomplete or the fragment was a duplicate, DYN_EBADMSG when malformed,
 * DYN_EFULL when a bound refused a new message, DYN_ENOMEM.
 */
int net_frag_offer(net_frag_t *f, uint32_t sender, uint64_t epoch, uint64_t now_us,
                   const uint8_t *bytes, size_t length, const uint8_t **message,
                   size_t *message_length);
/* Drop incomplete messages older than the timeout; returns how many. */
uint32_t net_frag_expire(net_frag_t *f, uint64_t now_us);
/* Messages under reassembly, and the bytes they hold allocated. */
uint32_t net_frag_pending(const net_frag_t *f);
size_t net_frag_bytes(const net_frag_t *f);
net_frag_stats_t net_frag_stats(const net_frag_t *f);

#endif
