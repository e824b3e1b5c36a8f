/*
 * admin.h: the daemon's own requests, beside core's protocol: `dynctl stats` asks a node for its
 * counters and latency percentiles.
 *
 * These travel sealed like every datagram (uv_env.h), so only a holder of the key can ask, and
 * they never reach core: dynamod tells them apart by their first byte, NET_ADMIN_MAGIC, where
 * core's messages start with DYN_WIRE_MAGIC (0xD7) and fragments with NET_FRAG_MARKER (0xF7).
 * Core's wire format and its fuzzed decoder stay untouched.
 *
 * Layout (little-endian):
 *
 *   request  magic u8, version u8, op u8, request id u64                     (11 bytes)
 *   reply    magic u8, version u8, op | NET_ADMIN_REPLY u8, request id u64, node id u32,
 *            then the body: for NET_ADMIN_STATS, lines of text "SECTION NAME=VALUE ..."
 *            (ASCII, each ending in '\n'; values are unsigned integers)
 *
 * The body is text so that a newer daemon can add counters without a new format version: dynctl
 * prints the lines it gets and turns them into JSON objects by the same rule.
 */
#ifndef NET_ADMIN_H
#define NET_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#define NET_ADMIN_MAGIC 0xA7u
#define NET_ADMIN_VERSION 1u
#define NET_ADMIN_REPLY 0x80u
#define NET_ADMIN_REQUEST_BYTES 11u
#define NET_ADMIN_REPLY_HEADER_BYTES 15u

typedef enum net_admin_op {
    NET_ADMIN_STATS = 1,
} net_admin_op_t;

/* Is this plaintext an admin message (request or reply)? */
int net_admin_is(const uint8_t *bytes, size_t length);

/* Write a request into out (NET_ADMIN_REQUEST_BYTES); returns its length. */
size_t net_admin_encode_request(net_admin_op_t op, uint64_t request_id,
                                uint8_t out[NET_ADMIN_REQUEST_BYTES]);
/* Read a request: DYN_OK, DYN_EBADMSG (wrong length, not a request, unknown op), DYN_EVERSION. */
int net_admin_decode_request(const uint8_t *bytes, size_t length, net_admin_op_t *op,
                             uint64_t *request_id);

/* Write a reply's header into out (NET_ADMIN_REPLY_HEADER_BYTES); the body follows it. */
void net_admin_encode_reply_header(net_admin_op_t op, uint64_t request_id, uint32_t node_id,
                                   uint8_t out[NET_ADMIN_REPLY_HEADER_BYTES]);
/* Read a reply: its op, id, node, and where its body lies in bytes. DYN_OK, DYN_EBADMSG,
 * DYN_EVERSION. */
int net_admin_decode_reply(const uint8_t *bytes, size_t length, net_admin_op_t *op,
                           uint64_t *request_id, uint32_t *node_id, const uint8_t **body,
                           size_t *body_length);

#endif
