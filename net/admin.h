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
 *            or for NET_ADMIN_PLAN and NET_ADMIN_COMMIT: change count u8 (0..NET_ADMIN_CHANGES_MAX),
 *            then per change: kind u8 (net_admin_change_kind_t), id u32, to u32 (9 bytes; `to`
 *            is the new node of a replace, and 0 for every other kind)
 *   reply    magic u8, version u8, op | NET_ADMIN_REPLY u8, request id u64, node id u32,
 *            then the body, lines of text "SECTION NAME=VALUE ..." (ASCII, each ending in
 *            '\n'): for NET_ADMIN_STATS, counters (unsigned integers); for NET_ADMIN_MEMBERS,
 *            one "member id=.. status=.. zone=.. version=.. addr=.." line per member; for
 *            NET_ADMIN_MEMBER_SET, "result changed=0|1 version=.." or "error reason=WORD";
 *            for NET_ADMIN_PLAN and NET_ADMIN_COMMIT, a "plan ..." summary line, one "node ..."
 *            line per node, "move ..." and "range ..." lines, then for a commit "result
 *            version=.. moved=.." (or "error reason=WORD ..." alone); for NET_ADMIN_RING_STATUS,
 *            "ring version=.. latest=.. idle=0|1 partitions=.. owned=.."
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
    /* A membership change of the S3 ring (Riak's staged `cluster plan` / `cluster commit`): the
     * node computes the new partition table from its own ring, and PLAN only reports it, COMMIT
     * also records it (member statuses, then the table), from where gossip spreads it. */
    NET_ADMIN_PLAN = 4,
    NET_ADMIN_COMMIT = 5,
    /* The ring version a node follows and whether its transfers are done: has a change settled? */
    NET_ADMIN_RING_STATUS = 6,
} net_admin_op_t;

#define NET_ADMIN_MEMBER_SET_BYTES (NET_ADMIN_REQUEST_BYTES + 5u)

typedef enum net_admin_change_kind {
    NET_ADMIN_JOIN = 1,    /* a node of the cluster file, not yet a member, takes partitions */
    NET_ADMIN_LEAVE = 2,   /* a member hands its partitions on, then is out */
    NET_ADMIN_REMOVE = 3,  /* a member is out at once (dead): the other replicas restore its data */
    NET_ADMIN_REPLACE = 4, /* `to` takes exactly member `id`'s partitions; `id` then leaves */
} net_admin_change_kind_t;

/* Changes one request may carry: one datagram, and more than an operator stages at once. */
#define NET_ADMIN_CHANGES_MAX 64u
#define NET_ADMIN_CHANGE_BYTES 9u
#define NET_ADMIN_REQUEST_MAX \
    (NET_ADMIN_REQUEST_BYTES + 1u + NET_ADMIN_CHANGES_MAX * NET_ADMIN_CHANGE_BYTES)

typedef struct net_admin_change {
    uint8_t kind; /* net_admin_change_kind_t */
    uint32_t id;
    uint32_t to;  /* NET_ADMIN_REPLACE only; 0 otherwise */
} net_admin_change_t;

/* A request's operands (NET_ADMIN_MEMBER_SET's, or the changes of PLAN and COMMIT; zero for
 * the others). */
typedef struct net_admin_args {
    uint32_t member;
    uint8_t status; /* dyn_member_status_t */
    uint8_t change_count;
    net_admin_change_t changes[NET_ADMIN_CHANGES_MAX];
} net_admin_args_t;

/* Is this plaintext an admin message (request or reply)? */
int net_admin_is(const uint8_t *bytes, size_t length);

/* Write a request into out (room for NET_ADMIN_MEMBER_SET_BYTES); returns its length. `args`
 * is read for NET_ADMIN_MEMBER_SET only, and may be NULL for the others. PLAN and COMMIT carry
 * more than that room: they are net_admin_encode_changes()'s, and this returns 0 for them. */
size_t net_admin_encode_request(net_admin_op_t op, uint64_t request_id,
                                const net_admin_args_t *args,
                                uint8_t out[NET_ADMIN_MEMBER_SET_BYTES]);
/* Write a NET_ADMIN_PLAN or NET_ADMIN_COMMIT request with args->changes into out; returns its
 * length, or 0 for another op or more than NET_ADMIN_CHANGES_MAX changes. */
size_t net_admin_encode_changes(net_admin_op_t op, uint64_t request_id,
                                const net_admin_args_t *args, uint8_t out[NET_ADMIN_REQUEST_MAX]);
/* Read a request: DYN_OK, DYN_EBADMSG (wrong length for its op, not a request, unknown op; for
 * PLAN and COMMIT also an unknown change kind, an id 0, a `to` that is 0 for a replace, equal to
 * its id, or not 0 for another kind), DYN_EVERSION. *args is zeroed, then filled for
 * NET_ADMIN_MEMBER_SET, PLAN and COMMIT. */
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
