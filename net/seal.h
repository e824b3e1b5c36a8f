/*
 * seal.h: authenticated, encrypted datagrams between the nodes of one cluster.
 *
 * Dynamo (paper section 2) assumes a trusted network; the daemon's UDP port is reachable by
 * whatever shares the network, so every datagram is sealed with an AEAD (libsodium's
 * XChaCha20-Poly1305, a random 24-byte nonce per datagram, drawn from the OS 64 at a time:
 * nonces that large never repeat by chance, so no nonce state has to survive a restart) under a
 * cluster key that every node holds.
 *
 * Frame (little-endian):
 *
 *   offset  0  format      u8   NET_SEAL_FORMAT
 *           1  key id      u32  which cluster key sealed it (rotation: several may be live)
 *           5  cluster     u64  tag of the cluster's name (net_seal_cluster_tag)
 *          13  sender      u32  node id of the sender
 *          17  epoch       u64  the sender's boot epoch
 *          25  sequence    u64  the sender's counter within that epoch
 *          33  nonce       24 bytes
 *          57  ciphertext  as long as the plaintext, then the 16-byte Poly1305 tag
 *
 * The 33-byte clear header is the AEAD's additional data: changing any bit of it fails
 * authentication. net_unseal reads only the format, key id and cluster tag before authenticating
 * (to pick the key and to tell a misconfigured peer from an attacker); sender, epoch and sequence
 * are believed only after the tag checks out.
 *
 * Replay: each receiver keeps, per sender, the newest epoch seen and a sliding bitmap of the last
 * NET_SEAL_REPLAY_WINDOW sequence numbers of that epoch (RFC 6479's ring of words, the scheme of
 * IPsec and WireGuard). A frame is accepted once; a frame NET_SEAL_REPLAY_WINDOW or more behind the
 * newest is refused, as is a frame of an older epoch; a newer epoch resets the window. A sender
 * that restarts must therefore use a new, larger epoch. Core's incarnation epoch is new at every
 * start too, but not always larger (a node that lost its disk draws a random one) and it can change
 * while the process runs (reaper.c), so dynamod seals with its boot time in microseconds, raised
 * past the last seal epoch it stored in META (uv_env.h, net_uv_next_epoch). The sender table
 * holds at most `senders_max` senders (default NET_SEAL_SENDERS_DEFAULT), and only senders whose
 * frames authenticated ever enter it, so a forger cannot fill it; a frame from one sender too many
 * is refused with DYN_EFULL (counted in senders_full) rather than evicting another's window, which
 * would let that sender's recent frames be replayed.
 *
 * Ownership: net_seal_create() returns a context the caller frees with net_seal_destroy(), which
 * wipes the keys. The context copies keys given to it; callers should wipe their own copies.
 * One context per node, used from one thread at a time.
 */
#ifndef NET_SEAL_H
#define NET_SEAL_H

#include <stddef.h>
#include <stdint.h>

/* 0xD2: a plaintext may be a bundle of messages (bundle.h). A node of format 0xD1 would take a
 * bundle for one bad message and lose what it carries, so the two refuse each other's frames
 * (bad_format) and a cluster moves to this format all at once. */
#define NET_SEAL_FORMAT 0xD2u
#define NET_SEAL_KEY_BYTES 32u
#define NET_SEAL_HEADER_BYTES 33u
#define NET_SEAL_NONCE_BYTES 24u
#define NET_SEAL_TAG_BYTES 16u
/* What a frame adds to its plaintext. */
#define NET_SEAL_OVERHEAD_BYTES (NET_SEAL_HEADER_BYTES + NET_SEAL_NONCE_BYTES + NET_SEAL_TAG_BYTES)

/* Keys one context holds at once: the current one, the next during a rotation, and a spare. */
#define NET_SEAL_KEYS_MAX 4u
/* Replay bitmap words per sender; the window is one word less, so 448 sequence numbers. */
#define NET_SEAL_REPLAY_WORDS 8u
#define NET_SEAL_REPLAY_WINDOW ((NET_SEAL_REPLAY_WORDS - 1) * 64u)
#define NET_SEAL_SENDERS_DEFAULT 1024u
#define NET_SEAL_SENDERS_LIMIT (1u << 20)

typedef struct net_seal_config {
    const char *cluster;   /* the cluster's name; frames tagged with another name are refused */
    uint32_t sender_id;    /* this node's id, written into every frame it seals */
    uint64_t sender_epoch; /* this process's boot epoch (see above); sequence restarts at 0 */
    uint32_t senders_max;  /* replay windows kept; 0 = NET_SEAL_SENDERS_DEFAULT, at most _LIMIT */
} net_seal_config_t;

typedef struct net_seal_stats {
    uint64_t sealed;
    uint64_t unsealed;      /* frames accepted */
    uint64_t too_short;     /* shorter than a frame with an empty plaintext */
    uint64_t bad_format;    /* an unknown format byte */
    uint64_t wrong_cluster; /* another cluster's tag */
    uint64_t unknown_key;   /* a key id this context does not hold */
    uint64_t bad_auth;      /* the tag did not verify: forged, damaged, or sealed by another key */
    uint64_t replayed;      /* authentic but seen before, too old, or from an older epoch */
    uint64_t senders_full;  /* authentic, but from a sender beyond senders_max */
} net_seal_stats_t;

/* Who sealed an accepted frame. */
typedef struct net_seal_origin {
    uint32_t sender_id;
    uint64_t epoch;
    uint64_t sequence;
    uint32_t key_id;
} net_seal_origin_t;

typedef struct net_seal net_seal_t;

/*
 * Create a context with no keys. Returns DYN_OK, DYN_EINVAL (no cluster name, senders_max over
 * the limit), DYN_ENOMEM, or DYN_EIO (libsodium failed to initialise).
 */
int net_seal_create(const net_seal_config_t *config, net_seal_t **out);
void net_seal_destroy(net_seal_t *ctx);

/* The tag frames carry for a cluster name: BLAKE2b of the name, first 8 bytes, little-endian. */
uint64_t net_seal_cluster_tag(const char *cluster);

/*
 * Hold `key` under `key_id` for unsealing (replacing the key of that id if held). The first key
 * added also becomes the sealing key. DYN_OK or DYN_EFULL (NET_SEAL_KEYS_MAX keys held).
 */
int net_seal_add_key(net_seal_t *ctx, uint32_t key_id, const uint8_t key[NET_SEAL_KEY_BYTES]);
/* Seal new frames under `key_id`, which must be held. DYN_OK or DYN_ENOTFOUND. */
int net_seal_use_key(net_seal_t *ctx, uint32_t key_id);
/* Drop (and wipe) a key; frames under it are refused from now on. DYN_OK or DYN_ENOTFOUND.
 * Removing the sealing key leaves none: net_seal refuses until net_seal_use_key. */
int net_seal_remove_key(net_seal_t *ctx, uint32_t key_id);

/*
 * Read a key file: 64 hexadecimal characters (32 bytes), optionally followed by one newline, and
 * nothing else. DYN_OK; DYN_ENOTFOUND or DYN_EIO when the file cannot be read; DYN_EINVAL when its
 * content is not such a line. `err` says which, naming the file. Every buffer that held key bytes
 * is wiped; on failure `key` is zeroed.
 */
int net_seal_load_key_file(const char *path, uint8_t key[NET_SEAL_KEY_BYTES], char *err,
                           size_t errlen);

/*
 * Seal `plain` (plain_length bytes; NULL when 0) into frame[0..frame_cap) under the sealing key,
 * with the next sequence number; *frame_length = plain_length + NET_SEAL_OVERHEAD_BYTES.
 * DYN_OK; DYN_ETOOBIG when frame_cap is too small (no sequence number is used up); DYN_ENOKEY when
 * there is no sealing key. The buffers must not overlap.
 */
int net_seal(net_seal_t *ctx, const uint8_t *plain, size_t plain_length, uint8_t *frame,
             size_t frame_cap, size_t *frame_length);

/*
 * Authenticate and open a frame. On DYN_OK, plain[0..*plain_length) is the plaintext and *origin
 * (if not NULL) says who sent it; the frame's sequence number is then spent. Otherwise nothing is
 * written to *origin, plain holds no plaintext, and the failure is counted:
 *   DYN_EBADMSG   too short to be a frame        DYN_EVERSION  an unknown format byte
 *   DYN_ECLUSTER  another cluster's tag          DYN_ENOKEY    a key id not held
 *   DYN_EAUTH     the tag did not verify         DYN_EREPLAY   a replay, too old, an old epoch
 *   DYN_EFULL     a new sender past senders_max
 * DYN_ETOOBIG (not counted) when plain_cap is smaller than the frame's plaintext.
 */
int net_unseal(net_seal_t *ctx, const uint8_t *frame, size_t frame_length, uint8_t *plain,
               size_t plain_cap, size_t *plain_length, net_seal_origin_t *origin);

net_seal_stats_t net_seal_stats(const net_seal_t *ctx);

/*
 * The key id in a frame's clear header, unauthenticated (0 when the frame is too short or not of
 * this format): for a host that keeps one context per key role (uv_env.h's client key) to pick
 * the context to unseal with. Nothing else may be concluded from it before net_unseal.
 */
uint32_t net_seal_peek_key_id(const uint8_t *frame, size_t frame_length);

#endif
