/*
 * codec.h: the wire format of every message, and of the sibling sets replicas store.
 *
 * A message is: magic 0xD7, format version, type, then the type's fields. Integers are unsigned
 * LEB128 varints (signed ones zigzag-encoded), except a clock entry's epoch and timestamp, which
 * are fixed-width little-endian; every variable-length field carries its length before its bytes. Decoding is strict: a truncated or over-long field, a count or length over its
 * bound, a non-minimal varint, an unknown flag bit, an unsorted clock or trailing bytes all return
 * DYN_EBADMSG, and the decoder never reads past the buffer it is given. Canonical encodings mean a
 * decoded message re-encodes to the same bytes.
 *
 * The simulator passes every message through this codec too, so the codec runs on every simulated
 * datagram and the network model can corrupt real bytes.
 *
 * Ownership: decoded key, value and sibling value pointers borrow the input buffer, which must
 * outlive the dyn_msg_t; dyn_msg_clear() frees what decoding allocated (the sibling array).
 */
#ifndef DYN_CODEC_H
#define DYN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/membership.h"
#include "core/siblings.h"
#include "core/vclock.h"

#define DYN_WIRE_MAGIC 0xD7u
#define DYN_WIRE_VERSION 8u /* 8: ring tables in views; 7: indirect probes; 6: gossip; 5: tombstone reaping; 4: anti-entropy; 3: hints, pr/pw, handoff, probes; 2: clock fields */
/* A bound on any encoded message: one value plus generous headroom for siblings and clocks. */
#define DYN_MSG_MAX ((size_t)DYN_VALUE_MAX * 4u + 65536u)

typedef enum dyn_msg_type {
    DYN_MSG_CLIENT_GET = 1,        /* client (or forwarding node) -> coordinator */
    DYN_MSG_CLIENT_PUT = 2,        /* put, or delete when put_flags has DYN_VERSION_TOMBSTONE */
    DYN_MSG_CLIENT_REPLY = 3,      /* coordinator -> client: status, context, siblings (get) */
    DYN_MSG_REPLICA_GET = 4,       /* coordinator -> replica */
    DYN_MSG_REPLICA_GET_REPLY = 5, /* replica -> coordinator: status, stored siblings */
    DYN_MSG_REPLICA_PUT = 6,       /* coordinator -> replica: one version to reconcile */
    DYN_MSG_REPLICA_PUT_REPLY = 7, /* replica -> coordinator (and HANDOFF sender): status */
    DYN_MSG_HANDOFF = 8,           /* hint holder -> owner: a key's hinted sibling set */
    DYN_MSG_PING = 9,              /* failure detector probe */
    DYN_MSG_PONG = 10,             /* its answer */
    DYN_MSG_AE_HASHES = 11,        /* anti-entropy: Merkle node hashes of a range at one level */
    DYN_MSG_AE_KEYS = 12,          /* anti-entropy: the sender's keys (and prints) in some leaves */
    DYN_MSG_AE_PULL = 13,          /* anti-entropy: "send me your versions of these keys" */
    DYN_MSG_AE_PUSH = 14,          /* anti-entropy: a key's sibling set, to merge; no answer */
    DYN_MSG_REAP = 15,             /* tombstone collection: ask an owner, or tell it to reap */
    DYN_MSG_REAP_REPLY = 16,       /* an owner's answer to a REAP ask */
    DYN_MSG_GOSSIP = 17,           /* membership: a view's digest, perhaps the view itself */
    DYN_MSG_PING_REQ = 18,         /* failure detector: ping `hint` for me and relay its PONG */
    DYN_MSG_TYPE_MAX_ = 18,
} dyn_msg_type_t;

enum {
    DYN_REQ_FORWARDED = 1u << 0,   /* already forwarded once: coordinate, never forward again */
    DYN_REQ_FLAGS_ALL_ = DYN_REQ_FORWARDED,
};

enum {
    DYN_REPLICA_SYNC = 1u << 0,    /* REPLICA_PUT: make the write durable before acknowledging */
    DYN_REPLICA_REPAIR = 1u << 1,  /* REPLICA_PUT: read repair; apply it, send no reply */
    DYN_REPLICA_FLAGS_ALL_ = DYN_REPLICA_SYNC | DYN_REPLICA_REPAIR,
};

#define DYN_AE_LIST_MAX 512u /* node indices (AE_HASHES) or leaves (AE_KEYS) in one message */
#define DYN_AE_KEYS_MAX 128u /* keys in one AE_KEYS or AE_PULL */
#define DYN_AE_LEVEL_MAX 16u /* deepest Merkle level a message may name (DYN_MERKLE_DEPTH_MAX) */

/* A key named in AE_KEYS (with the fingerprint of the sender's set) or AE_PULL (print 0). */
typedef struct dyn_ae_key {
    const uint8_t *key;
    uint32_t key_length;
    uint64_t print;
} dyn_ae_key_t;

/*
 * Per-request quorum options; 0 means the cluster default. r and w count any answering node of the
 * sloppy quorum (fallbacks included); pr and pw count only the key's own first N replicas.
 */
typedef struct dyn_req_opts {
    uint8_t n, r, w;
    uint8_t flags; /* DYN_REQ_* */
    uint8_t pr, pw;
} dyn_req_opts_t;

/* GOSSIP flags: the view follows the digest; the sender wants the receiver's view if it differs. */
enum { DYN_GOSSIP_STATE = 1u << 0, DYN_GOSSIP_REPLY = 1u << 1, DYN_GOSSIP_FLAGS_ALL_ = 3u };

/* REAP phases: ask whether the owner holds exactly this tombstone set; then have it drop it. */
enum { DYN_REAP_ASK = 0, DYN_REAP_COMMIT = 1 };

typedef struct dyn_msg {
    dyn_msg_type_t type;
    uint64_t request_id;
    int32_t status;                 /* replies: DYN_OK or a negative dyn_status_t */
    dyn_req_opts_t opts;            /* CLIENT_GET, CLIENT_PUT */
    uint32_t coordinator;           /* CLIENT_REPLY: the node that coordinated */
    dyn_vclock_entry_t written;     /* CLIENT_REPLY to a put: the write's dot; counter 0: none */
    const uint8_t *key;             /* all but the replies */
    uint32_t key_length;
    uint8_t put_flags;              /* CLIENT_PUT: DYN_VERSION_TOMBSTONE for delete */
    const uint8_t *value;           /* CLIENT_PUT */
    uint32_t value_length;
    dyn_vclock_t context;           /* CLIENT_PUT (what the put supersedes), CLIENT_REPLY */
    dyn_version_t version;          /* REPLICA_PUT */
    uint8_t replica_flags;          /* REPLICA_PUT: DYN_REPLICA_* */
    uint8_t reap_phase;             /* REAP: DYN_REAP_ASK or DYN_REAP_COMMIT */
    uint64_t print;                 /* REAP: the dots print of the tombstone set in question;
                                       GOSSIP: the digest of the sender's view */
    uint8_t gossip_flags;           /* GOSSIP: DYN_GOSSIP_* */
    /* GOSSIP with DYN_GOSSIP_STATE: the view's encoding (dyn_codec_encode_membership), borrowed
     * from the caller on encode and from the input on decode, where it has been checked. */
    const uint8_t *members_blob;
    uint32_t members_length;
    uint32_t hint;                  /* PING_REQ: the member to ping;
                                       REPLICA_GET, REPLICA_PUT: the owner a fallback node stands
                                       in for (its hint store); 0: the receiver is an owner */
    /*
     * Anti-entropy. AE_HASHES: range, level, and index_count (node index, hash) pairs in
     * strictly increasing index order. AE_KEYS: range, index_count leaves (strictly increasing,
     * hashes unused) and key_count keys with prints. AE_PULL: range and key_count keys. On
     * encode the arrays are the caller's; on decode they point into arrays the message owns.
     */
    uint32_t range;
    uint8_t level;
    uint32_t index_count, key_count;
    const uint32_t *indices;
    const uint64_t *hashes;
    const dyn_ae_key_t *keys;
    void *ae_store_;                /* what decoding allocated for the arrays above; private */
    /*
     * CLIENT_REPLY, REPLICA_GET_REPLY, HANDOFF and AE_PUSH. On encode, if siblings_blob is non-NULL it is
     * written verbatim (it must be a valid dyn_codec_encode_siblings() output) and `siblings` is
     * ignored; this lets a replica answer from its stored bytes without decoding them. On decode both are
     * set: the blob slice of the input and the decoded set.
     */
    dyn_siblings_t siblings;
    const uint8_t *siblings_blob;
    uint32_t siblings_blob_length;
} dyn_msg_t;

/* Zero a message for encoding (empty sibling set, empty clocks). */
void dyn_msg_init(dyn_msg_t *msg, dyn_msg_type_t type);
/* Free what dyn_codec_decode() allocated; the message can be decoded into again. */
void dyn_msg_clear(dyn_msg_t *msg);
/*
 * As dyn_msg_clear, but keep the sibling set's item array for the next decode into msg: a
 * receiver that decodes every message into one dyn_msg_t then allocates only when a set is
 * larger than any before. dyn_msg_clear() frees the array when the message is done with.
 */
void dyn_msg_recycle(dyn_msg_t *msg);

/* Exact encoded size of msg, or 0 if a field is over its bound. */
size_t dyn_codec_encoded_size(const dyn_msg_t *msg);
/*
 * Encode msg into buf. Returns the number of bytes written, DYN_ETOOBIG if capacity is too small or
 * a field is over its bound, DYN_EINVAL for an invalid type or clock.
 */
int dyn_codec_encode(const dyn_msg_t *msg, uint8_t *buf, size_t capacity);
/*
 * Decode one message. Returns DYN_OK, DYN_EBADMSG (malformed: out is cleared), DYN_EVERSION (magic
 * right, format version unknown), or DYN_ENOMEM. `out` must be dyn_msg_init()ed or cleared.
 */
int dyn_codec_decode(const uint8_t *bytes, size_t length, dyn_msg_t *out);

/* The type byte of an encoded message without decoding it, or 0 if the header is invalid. */
dyn_msg_type_t dyn_codec_peek_type(const uint8_t *bytes, size_t length);

/*
 * The key a request carries, read from its first fields only, for a caller that wants to prefetch
 * what the receiver will look up (the simulator): CLIENT_GET, CLIENT_PUT, REPLICA_GET and
 * REPLICA_PUT. *key points into bytes; *hint is the replica request's hint (0 for a client
 * request). Returns DYN_OK, or DYN_EBADMSG for another type or malformed fields up to the key; the
 * rest of the message is not examined, so DYN_OK does not mean it will decode.
 */
int dyn_codec_peek_key(const uint8_t *bytes, size_t length, const uint8_t **key,
                       size_t *key_length, uint32_t *hint);

/*
 * A reply's request id and status, read from its first fields only; the rest is not examined.
 * Returns DYN_OK, or DYN_EBADMSG if the header, id or status is malformed or the type is not a
 * reply (CLIENT_REPLY, REPLICA_GET_REPLY, REPLICA_PUT_REPLY).
 */
int dyn_codec_peek_reply(const uint8_t *bytes, size_t length, uint64_t *request_id,
                         int32_t *status);

/*
 * Copy an encoded message into out with its request id replaced, leaving every other byte as it
 * was: a relaying node changes the id without decoding (or validating) the body, which its final
 * receiver decodes strictly anyway. Returns the length written, DYN_EBADMSG for a malformed header
 * or id, DYN_ETOOBIG if out is too small.
 */
int dyn_codec_with_request_id(const uint8_t *bytes, size_t length, uint64_t request_id,
                              uint8_t *out, size_t capacity);

/*
 * Copy a client request (CLIENT_GET or CLIENT_PUT, already decoded and so known valid) with its
 * request id replaced and `flags` OR-ed into its option flags: how a node forwards a request
 * without encoding it again. Returns the length written, DYN_EBADMSG for another type or a bad
 * header, DYN_EINVAL for unknown flag bits, DYN_ETOOBIG if out is too small.
 */
int dyn_codec_forward_request(const uint8_t *bytes, size_t length, uint64_t request_id,
                              uint8_t flags, uint8_t *out, size_t capacity);

/* Sibling sets as stored by replicas: the same encoding as inside messages. */
size_t dyn_codec_siblings_size(const dyn_siblings_t *set);
int dyn_codec_encode_siblings(const dyn_siblings_t *set, uint8_t *buf, size_t capacity);
/*
 * Values borrow `bytes`. `out` must be initialised; what it held is dropped first, but its item
 * array is kept and reused. Versions out of canonical order are DYN_EBADMSG.
 */
int dyn_codec_decode_siblings(const uint8_t *bytes, size_t length, dyn_siblings_t *out);

/* Vector clocks as opaque client contexts. */
size_t dyn_codec_vclock_size(const dyn_vclock_t *vc);
int dyn_codec_encode_vclock(const dyn_vclock_t *vc, uint8_t *buf, size_t capacity);
int dyn_codec_decode_vclock(const uint8_t *bytes, size_t length, dyn_vclock_t *out);

/*
 * A membership view's wire form, what GOSSIP carries and a node persists: uvarint count (at most
 * DYN_MEMBERS_MAX), then per member in strictly ascending id order: uvarint id (>= 1), u8 status
 * (1..4), uvarint zone (u16), uvarint version (>= 1), and the address as uvarint length (at most
 * DYN_MEMBER_ADDR_MAX) and bytes; then the ring table: uvarint version, and at a nonzero version
 * uvarint partitions (1..DYN_RING_TABLE_MAX) and each partition's owner id (uvarint, >= 1). A
 * view of 1,024 members and 4,096 partitions is about 16 KiB. size is exact (0 if the view cannot be encoded); encode returns
 * the length or DYN_ETOOBIG; decode replaces `out` (empty on failure) and is strict: any field out
 * of range, ids out of order or trailing bytes give DYN_EBADMSG. check validates without a view.
 */
size_t dyn_codec_membership_size(const dyn_membership_t *m);
int dyn_codec_encode_membership(const dyn_membership_t *m, uint8_t *buf, size_t capacity);
int dyn_codec_decode_membership(const uint8_t *bytes, size_t length, dyn_membership_t *out);
int dyn_codec_check_membership(const uint8_t *bytes, size_t length);
/* Merge an encoded view into `view` (membership.h's rule); how many members changed, or status. */
int dyn_codec_merge_membership(const uint8_t *bytes, size_t length, dyn_membership_t *view);

#endif
