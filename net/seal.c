/*
 * seal.c: XChaCha20-Poly1305 frames with a clear, authenticated header, and replay windows.
 *
 * Order of checks in net_unseal: length, format, cluster tag, key id (all from the fixed header,
 * needed to pick the key or cheap to refuse), then the AEAD tag, and only then the sender, epoch
 * and sequence. The replay table is touched only by authentic frames, so nobody without the key
 * can fill it, reset a window with a forged epoch, or burn sequence numbers.
 */
#include "net/seal.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

DYN_STATIC_ASSERT(NET_SEAL_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                  "nonce size");
DYN_STATIC_ASSERT(NET_SEAL_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
DYN_STATIC_ASSERT(NET_SEAL_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
DYN_STATIC_ASSERT(NET_SEAL_HEADER_BYTES == 1 + 4 + 8 + 4 + 8 + 8, "header layout");
DYN_STATIC_ASSERT(NET_SEAL_REPLAY_WORDS >= 2 &&
                      (NET_SEAL_REPLAY_WORDS & (NET_SEAL_REPLAY_WORDS - 1)) == 0,
                  "replay words: a power of two, at least two");

/* Header field offsets (seal.h has the picture). */
enum {
    OFF_FORMAT = 0,
    OFF_KEY_ID = 1,
    OFF_CLUSTER = 5,
    OFF_SENDER = 13,
    OFF_EPOCH = 17,
    OFF_SEQUENCE = 25,
    OFF_NONCE = NET_SEAL_HEADER_BYTES,
    OFF_CIPHER = NET_SEAL_HEADER_BYTES + NET_SEAL_NONCE_BYTES,
};

#define NONCE_POOL 64u

typedef struct seal_key {
    uint32_t id;
    bool used;
    uint8_t bytes[NET_SEAL_KEY_BYTES];
} seal_key_t;

typedef struct replay {
    uint32_t sender;
    bool used;     /* the slot holds a sender */
    bool any;      /* a frame of `epoch` was accepted: top and bits mean something */
    uint64_t epoch;
    uint64_t top;  /* the highest sequence accepted in this epoch */
    uint64_t bits[NET_SEAL_REPLAY_WORDS]; /* word (seq / 64) % WORDS, bit seq % 64 */
} replay_t;

struct net_seal {
    uint64_t cluster_tag;
    uint32_t sender_id;
    uint64_t sender_epoch;
    uint64_t next_sequence;
    int send_key;      /* index into keys, or -1 */
    seal_key_t *keys;  /* NET_SEAL_KEYS_MAX, in sodium_malloc'd (locked, guarded) memory */
    replay_t *senders; /* open addressing, linear probing; never deleted from */
    size_t mask;
    size_t senders_used;
    size_t senders_max;
    net_seal_stats_t stats;
    /* Random nonces drawn from the OS NONCE_POOL at a time: one getrandom call per 64 frames
     * instead of one per frame. Nonces are public; the pool only needs to be used once each. */
    size_t nonces_left;
    uint8_t nonces[NONCE_POOL * NET_SEAL_NONCE_BYTES];
};

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint64_t net_seal_cluster_tag(const char *cluster)
{
    /* Domain-separated, so the tag is no other protocol's hash of the same name. */
    static const char domain[] = "dynamo-c cluster tag v1";
    uint8_t out[crypto_generichash_BYTES_MIN];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(out));
    crypto_generichash_update(&st, (const uint8_t *)domain, sizeof(domain));
    crypto_generichash_update(&st, (const uint8_t *)cluster, strlen(cluster));
    crypto_generichash_final(&st, out, sizeof(out));
    return get_le(out, 8);
}

int net_seal_create(const net_seal_config_t *config, net_seal_t **out)
{
    *out = NULL;
    if (!config->cluster || !config->cluster[0] || config->senders_max > NET_SEAL_SENDERS_LIMIT)
        return DYN_EINVAL;
    if (sodium_init() < 0)
        return DYN_EIO;
    net_seal_t *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return DYN_ENOMEM;
    ctx->senders_max = config->senders_max ? config->senders_max : NET_SEAL_SENDERS_DEFAULT;
    /* Slots for senders_max at a load of at most 3/4. */
    size_t slots = 4;
    while (slots * 3 < ctx->senders_max * 4)
        slots *= 2;
    ctx->senders = calloc(slots, sizeof(*ctx->senders));
    ctx->keys = sodium_malloc(NET_SEAL_KEYS_MAX * sizeof(*ctx->keys));
    if (!ctx->senders || !ctx->keys) {
        net_seal_destroy(ctx);
        return DYN_ENOMEM;
    }
    sodium_memzero(ctx->keys, NET_SEAL_KEYS_MAX * sizeof(*ctx->keys));
    ctx->mask = slots - 1;
    ctx->cluster_tag = net_seal_cluster_tag(config->cluster);
    ctx->sender_id = config->sender_id;
    ctx->sender_epoch = config->sender_epoch;
    ctx->send_key = -1;
    *out = ctx;
    return DYN_OK;
}

void net_seal_destroy(net_seal_t *ctx)
{
    if (!ctx)
        return;
    if (ctx->keys)
        sodium_free(ctx->keys); /* wipes before unmapping */
    free(ctx->senders);
    free(ctx);
}

net_seal_stats_t net_seal_stats(const net_seal_t *ctx)
{
    return ctx->stats;
}

/* ---- keys ------------------------------------------------------------------------------ */

static int key_find(const net_seal_t *ctx, uint32_t key_id)
{
    for (unsigned i = 0; i < NET_SEAL_KEYS_MAX; i++)
        if (ctx->keys[i].used && ctx->keys[i].id == key_id)
            return (int)i;
    return -1;
}

int net_seal_add_key(net_seal_t *ctx, uint32_t key_id, const uint8_t key[NET_SEAL_KEY_BYTES])
{
    int i = key_find(ctx, key_id);
    for (unsigned j = 0; i < 0 && j < NET_SEAL_KEYS_MAX; j++)
        if (!ctx->keys[j].used)
            i = (int)j;
    if (i < 0)
        return DYN_EFULL;
    ctx->keys[i].id = key_id;
    ctx->keys[i].used = true;
    memcpy(ctx->keys[i].bytes, key, NET_SEAL_KEY_BYTES);
    if (ctx->send_key < 0)
        ctx->send_key = i;
    return DYN_OK;
}

int net_seal_use_key(net_seal_t *ctx, uint32_t key_id)
{
    int i = key_find(ctx, key_id);
    if (i < 0)
        return DYN_ENOTFOUND;
    ctx->send_key = i;
    return DYN_OK;
}

int net_seal_remove_key(net_seal_t *ctx, uint32_t key_id)
{
    int i = key_find(ctx, key_id);
    if (i < 0)
        return DYN_ENOTFOUND;
    sodium_memzero(&ctx->keys[i], sizeof(ctx->keys[i]));
    if (ctx->send_key == i)
        ctx->send_key = -1;
    return DYN_OK;
}

static int say(char *err, size_t errlen, int status, const char *fmt, const char *path,
               const char *detail)
{
    if (errlen)
        snprintf(err, errlen, fmt, path, detail);
    return status;
}

int net_seal_load_key_file(const char *path, uint8_t key[NET_SEAL_KEY_BYTES], char *err,
                           size_t errlen)
{
    enum { HEX = 2 * NET_SEAL_KEY_BYTES };
    char buf[2 * HEX + 2]; /* room to notice a line that is too long */
    sodium_memzero(key, NET_SEAL_KEY_BYTES);
    if (errlen)
        err[0] = '\0';
    if (sodium_init() < 0)
        return say(err, errlen, DYN_EIO, "key file '%s': %s", path, "libsodium failed to start");
    FILE *f = fopen(path, "rb");
    if (!f)
        return say(err, errlen, errno == ENOENT ? DYN_ENOTFOUND : DYN_EIO, "key file '%s': %s",
                   path, strerror(errno));
    size_t n = fread(buf, 1, sizeof(buf), f);
    int failed = ferror(f);
    fclose(f);
    int rc = DYN_OK;
    char detail[96];
    if (failed) {
        rc = say(err, errlen, DYN_EIO, "key file '%s': %s", path, "read error");
        goto out;
    }
    bool overflow = n == sizeof(buf); /* there may be more we did not read */
    /* One line: a final "\n" (or "\r\n") is allowed, nothing else around the key. */
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n != HEX) {
        if (overflow)
            snprintf(detail, sizeof(detail), "more than %d characters", (int)sizeof(buf) - 2);
        else
            snprintf(detail, sizeof(detail), "%zu characters", n);
        rc = say(err, errlen, DYN_EINVAL,
                 "key file '%s': expected one line of 64 hexadecimal characters (32 bytes), "
                 "found %s", path, detail);
        goto out;
    }
    for (size_t i = 0; i < HEX; i++) {
        char c = buf[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            snprintf(detail, sizeof(detail), "character %zu is not a hexadecimal digit", i + 1);
            rc = say(err, errlen, DYN_EINVAL, "key file '%s': %s", path, detail);
            goto out;
        }
    }
    size_t bin_length = 0;
    if (sodium_hex2bin(key, NET_SEAL_KEY_BYTES, buf, HEX, NULL, &bin_length, NULL) != 0 ||
        bin_length != NET_SEAL_KEY_BYTES) {
        rc = say(err, errlen, DYN_EINVAL, "key file '%s': %s", path, "bad hexadecimal");
        goto out;
    }
    if (sodium_is_zero(key, NET_SEAL_KEY_BYTES))
        rc = say(err, errlen, DYN_EINVAL, "key file '%s': %s", path,
                 "the key is all zeros (a placeholder, not a key)");
out:
    sodium_memzero(buf, sizeof(buf));
    if (rc != DYN_OK)
        sodium_memzero(key, NET_SEAL_KEY_BYTES);
    return rc;
}

/* ---- sealing ------------------------------------------------------------------------- */

int net_seal(net_seal_t *ctx, const uint8_t *plain, size_t plain_length, uint8_t *frame,
             size_t frame_cap, size_t *frame_length)
{
    if (ctx->send_key < 0)
        return DYN_ENOKEY;
    if (plain_length > frame_cap || frame_cap - plain_length < NET_SEAL_OVERHEAD_BYTES)
        return DYN_ETOOBIG;
    /* 2^64 frames in one epoch cannot happen; wrapping would reopen the window to replays. */
    DYN_ASSERT(ctx->next_sequence != UINT64_MAX);
    const seal_key_t *k = &ctx->keys[ctx->send_key];
    frame[OFF_FORMAT] = NET_SEAL_FORMAT;
    put_le(frame + OFF_KEY_ID, k->id, 4);
    put_le(frame + OFF_CLUSTER, ctx->cluster_tag, 8);
    put_le(frame + OFF_SENDER, ctx->sender_id, 4);
    put_le(frame + OFF_EPOCH, ctx->sender_epoch, 8);
    put_le(frame + OFF_SEQUENCE, ctx->next_sequence, 8);
    if (ctx->nonces_left == 0) {
        randombytes_buf(ctx->nonces, sizeof(ctx->nonces));
        ctx->nonces_left = NONCE_POOL;
    }
    uint8_t *nonce = ctx->nonces + --ctx->nonces_left * NET_SEAL_NONCE_BYTES;
    memcpy(frame + OFF_NONCE, nonce, NET_SEAL_NONCE_BYTES);
    sodium_memzero(nonce, NET_SEAL_NONCE_BYTES);
    static const uint8_t nothing[1];
    unsigned long long cipher_length = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(frame + OFF_CIPHER, &cipher_length,
                                               plain_length ? plain : nothing, plain_length,
                                               frame, NET_SEAL_HEADER_BYTES, NULL,
                                               frame + OFF_NONCE, k->bytes);
    DYN_ASSERT(cipher_length == plain_length + NET_SEAL_TAG_BYTES);
    ctx->next_sequence++;
    ctx->stats.sealed++;
    *frame_length = plain_length + NET_SEAL_OVERHEAD_BYTES;
    return DYN_OK;
}

/* ---- replay windows ------------------------------------------------------------------ */

static size_t sender_slot(uint32_t sender, size_t mask)
{
    /* Fibonacci hashing: node ids are often small and consecutive. */
    return (size_t)(((uint64_t)sender * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

/* The sender's window, a fresh one if it has none and there is room, or NULL when full. */
static replay_t *sender_window(net_seal_t *ctx, uint32_t sender)
{
    size_t i = sender_slot(sender, ctx->mask);
    while (ctx->senders[i].used) {
        if (ctx->senders[i].sender == sender)
            return &ctx->senders[i];
        i = (i + 1) & ctx->mask;
    }
    if (ctx->senders_used == ctx->senders_max)
        return NULL;
    ctx->senders_used++;
    replay_t *r = &ctx->senders[i];
    memset(r, 0, sizeof(*r));
    r->used = true;
    r->sender = sender;
    return r;
}

/* Accept (and record) a sequence number, or refuse a replay. */
static bool window_accept(replay_t *r, uint64_t epoch, uint64_t seq)
{
    if (r->any && epoch < r->epoch)
        return false;
    if (!r->any || epoch > r->epoch) {
        memset(r->bits, 0, sizeof(r->bits));
        r->epoch = epoch;
        r->top = seq;
        r->any = true;
    } else if (seq > r->top) {
        /* Clear the words of the blocks we move into: they last held blocks now out of reach. */
        uint64_t from = r->top / 64, to = seq / 64;
        uint64_t steps = to - from < NET_SEAL_REPLAY_WORDS ? to - from : NET_SEAL_REPLAY_WORDS;
        for (uint64_t b = 1; b <= steps; b++)
            r->bits[(from + b) % NET_SEAL_REPLAY_WORDS] = 0;
        r->top = seq;
    } else if (r->top - seq >= NET_SEAL_REPLAY_WINDOW) {
        return false;
    }
    uint64_t *word = &r->bits[(seq / 64) % NET_SEAL_REPLAY_WORDS];
    uint64_t bit = (uint64_t)1 << (seq % 64);
    if (*word & bit)
        return false;
    *word |= bit;
    return true;
}

uint32_t net_seal_peek_key_id(const uint8_t *frame, size_t frame_length)
{
    if (frame_length < NET_SEAL_OVERHEAD_BYTES || frame[OFF_FORMAT] != NET_SEAL_FORMAT)
        return 0;
    return (uint32_t)get_le(frame + OFF_KEY_ID, 4);
}

int net_unseal(net_seal_t *ctx, const uint8_t *frame, size_t frame_length, uint8_t *plain,
               size_t plain_cap, size_t *plain_length, net_seal_origin_t *origin)
{
    if (frame_length < NET_SEAL_OVERHEAD_BYTES) {
        ctx->stats.too_short++;
        return DYN_EBADMSG;
    }
    if (frame[OFF_FORMAT] != NET_SEAL_FORMAT) {
        ctx->stats.bad_format++;
        return DYN_EVERSION;
    }
    if (get_le(frame + OFF_CLUSTER, 8) != ctx->cluster_tag) {
        ctx->stats.wrong_cluster++;
        return DYN_ECLUSTER;
    }
    int ki = key_find(ctx, (uint32_t)get_le(frame + OFF_KEY_ID, 4));
    if (ki < 0) {
        ctx->stats.unknown_key++;
        return DYN_ENOKEY;
    }
    size_t length = frame_length - NET_SEAL_OVERHEAD_BYTES;
    if (plain_cap < length)
        return DYN_ETOOBIG;
    uint8_t scratch[1];
    uint8_t *out = length ? plain : scratch; /* plain may be NULL for an empty plaintext */
    unsigned long long opened = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, &opened, NULL, frame + OFF_CIPHER, frame_length - OFF_CIPHER, frame,
            NET_SEAL_HEADER_BYTES, frame + OFF_NONCE, ctx->keys[ki].bytes) != 0) {
        if (length)
            sodium_memzero(plain, length);
        ctx->stats.bad_auth++;
        return DYN_EAUTH;
    }
    DYN_ASSERT(opened == length);
    /* Authentic from here on: the sender fields can be believed. */
    uint32_t sender = (uint32_t)get_le(frame + OFF_SENDER, 4);
    uint64_t epoch = get_le(frame + OFF_EPOCH, 8);
    uint64_t seq = get_le(frame + OFF_SEQUENCE, 8);
    replay_t *r = sender_window(ctx, sender);
    int rc = DYN_OK;
    if (!r) {
        ctx->stats.senders_full++;
        rc = DYN_EFULL;
    } else if (!window_accept(r, epoch, seq)) {
        ctx->stats.replayed++;
        rc = DYN_EREPLAY;
    }
    if (rc != DYN_OK) {
        if (length)
            sodium_memzero(plain, length);
        return rc;
    }
    ctx->stats.unsealed++;
    *plain_length = length;
    if (origin)
        *origin = (net_seal_origin_t){
            .sender_id = sender, .epoch = epoch, .sequence = seq, .key_id = ctx->keys[ki].id};
    return DYN_OK;
}
