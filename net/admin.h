/*
 * admin.h: the daemon's own requests, beside core's protocol: `dynctl stats` asks a node for its
 * counters and latency percentiles, `dynctl members` for its membership view, and `dynctl member
 * ID STATUS` changes a member's status at one node, from where gossip spreads it.
 *
 * These travel sealed like every datagram (uv_env.h), so only a holder of the key can ask, and
 * they never reach core: dynamod tells them apart by their first byte, NET_ADMIN_MAGIC, where
 * core's messages start with DYN_WIRE_MAGIC (0xD7) and fragments with NET_FRAG_MARKER (0xF7).
 * Core's wire format and its fuzzed decoder stay untouched.
 *
 * Layout (little-endian):
 *
 *   request  magic u8, version u8, op u8, request id u64                     (11 bytes)
 *            then for NET_ADMIN_MEMBER_SET: member id u32, status u8          (5 bytes more)
 *   reply    magic u8, version u8, op | NET_ADMIN_REPLY u8, request id u64, node id u32,
 *            then the body, lines of text "SECTION NAME=VALUE ..." (ASCII, each ending in
 *            '\n'): for NET_ADMIN_STATS, counters (unsigned integers); for NET_ADMIN_MEMBERS,
 *            one "member id=.. status=.. zone=.. version=.. addr=.." line per member; for
 *            NET_ADMIN_MEMBER_SET, "result changed=0|1 version=.." or "error reason=WORD"
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
    NET_ADMIN_MEMBERS = 2,
    NET_ADMIN_MEMBER_SET = 3,
} net_admin_op_t;

#define NET_ADMIN_MEMBER_SET_BYTES (NET_ADMIN_REQUEST_BYTES + 5u)

/* A request's operands (NET_ADMIN_MEMBER_SET's; zero for the others). */
typedef struct net_admin_args {
    uint32_t member;
    uint8_t status; /* dyn_member_status_t */
} net_admin_args_t;

/* Is this plaintext an admin message (request or reply)? */
int net_admin_is(const uint8_t *bytes, size_t length);

/* Write a request into out (room for NET_ADMIN_MEMBER_SET_BYTES); returns its length. `args`
 * is read for NET_ADMIN_MEMBER_SET only, and may be NULL for the others. */
size_t net_admin_encode_request(net_admin_op_t op, uint64_t request_id,
                                const net_admin_args_t *args,
                                uint8_t out[NET_ADMIN_MEMBER_SET_BYTES]);
/* Read a request: DYN_OK, DYN_EBADMSG (wrong length for its op, not a request, unknown op),
 * DYN_EVERSION. *args is zeroed, then filled for NET_ADMIN_MEMBER_SET. */
int net_admin_decode_request(const uint8_t *bytes, size_t length, net_admin_op_t *op,
                             uint64_t *request_id, net_admin_args_t *args);

/* Write a reply's header into out (NET_ADMIN_REPLY_HEADER_BYTES); the body follows it. */
void net_admin_encode_reply_header(net_admin_op_t op, uint64_t request_id, uint32_t node_id,
                                   uint8_t out[NET_ADMIN_REPLY_HEADER_BYTES]);
/* Read a reply: its op, id, node, and where its body lies in bytes. DYN_OK, DYN_EBADMSG,
 * DYN_EVERSION. */
int net_admin_decode_reply(const uint8_t *bytes, size_t length, net_admin_op_t *op,
                           uint64_t *request_id, uint32_t *node_id, const uint8_t **body,
                           size_t *body_length);

#endif
