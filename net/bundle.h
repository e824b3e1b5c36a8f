/*
 * bundle.h: several small core messages for one destination in one sealed datagram.
 *
 * Under load a node sends many small messages to the same few peers in one turn of its event
 * loop (a coordinator's replica requests, a replica's acknowledgements, a client's requests to
 * one coordinator), and each datagram costs a seal, a trip through the kernel and a wake-up of
 * the receiver: most of a loaded node's time. So the env gathers a turn's small messages per
 * destination into a bundle, sealed as one datagram; the receiver unseals it once and hands the
 * messages to its owner one by one, in the order they were sent.
 *
 * Where it sits: above the seal, beside fragments (frag.h). A bundle is a plaintext of its own,
 * authenticated and checked against the replay window before this module parses it. Its layout
 * (little-endian):
 *
 *   offset 0  marker  u8   NET_BUNDLE_MARKER (core's messages begin with 0xD7, fragments 0xF7)
 *          1  count   u16  messages, 2 .. NET_BUNDLE_COUNT_MAX
 *          3  then, count times: a length u16 (at least 1), then that many bytes of one message
 *
 * Strict: the items must fill the plaintext exactly, the whole may not exceed
 * NET_BUNDLE_BYTES_MAX, no item may be empty or begin with a bundle's or a fragment's marker, and a bundle that breaks any rule is refused whole, none of its
 * messages delivered. A lost bundle loses its messages, each of which core retries or times out
 * as it does for a lost datagram. A bundle holding one message is sealed as that message alone.
 *
 * Size: NET_BUNDLE_BYTES_MAX keeps a sealed bundle within one Ethernet frame (1,500 bytes less
 * the IPv4 and UDP headers), so bundling never makes a datagram the network must fragment.
 *
 * Ownership: a net_bundle_t is a plain buffer the caller owns; nothing here allocates.
 */
#ifndef NET_BUNDLE_H
#define NET_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "net/seal.h"

#define NET_BUNDLE_MARKER 0xB5u
#define NET_BUNDLE_HEADER_BYTES 3u
#define NET_BUNDLE_ITEM_HEADER_BYTES 2u
#define NET_BUNDLE_BYTES_MAX (1472u - NET_SEAL_OVERHEAD_BYTES)
#define NET_BUNDLE_COUNT_MAX \
    ((NET_BUNDLE_BYTES_MAX - NET_BUNDLE_HEADER_BYTES) / (NET_BUNDLE_ITEM_HEADER_BYTES + 1u))

typedef struct net_bundle {
    uint32_t length; /* bytes used, header included */
    uint32_t count;  /* messages */
    uint8_t bytes[NET_BUNDLE_BYTES_MAX];
} net_bundle_t;

void net_bundle_reset(net_bundle_t *b);
/* Whether a message of `length` bytes fits in b now (never, past what any bundle can hold). */
int net_bundle_fits(const net_bundle_t *b, size_t length);
/* Append a message that fits (asserted). */
void net_bundle_add(net_bundle_t *b, const uint8_t *message, size_t length);
/* What to seal: the bundle, or its one message alone when it holds one. NULL when empty. */
const uint8_t *net_bundle_plain(const net_bundle_t *b, size_t *length);

/* DYN_OK with *count set when plain is a well-formed bundle (see the top), else DYN_EBADMSG. */
int net_bundle_check(const uint8_t *plain, size_t length, uint32_t *count);
/*
 * The message at *offset of a bundle net_bundle_check accepted (start at
 * NET_BUNDLE_HEADER_BYTES), and *offset moved past it.
 */
void net_bundle_next(const uint8_t *plain, size_t *offset, const uint8_t **message,
                     size_t *message_length);

#endif
