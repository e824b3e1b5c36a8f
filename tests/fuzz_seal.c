/*
 * fuzz_seal.c: libFuzzer target for net_unseal.
 *
 * The first input byte picks a mode; every mode must never crash or read out of bounds (ASan and
 * UBSan watch, and each frame is an exact-size heap copy), and the oracles abort on a wrong answer:
 *
 *   0  the rest is a frame from the network: it must be refused (nobody can forge the tag), with
 *      one of the documented statuses.
 *   1  the rest follows a valid clear header (right format, cluster and key id), so the input
 *      reaches the AEAD itself: refused with DYN_EAUTH (or DYN_EBADMSG when short).
 *   2  [k][k little-endian u16 bit positions][plaintext]: seal the plaintext, flip those bits,
 *      unseal: accepted, with the same plaintext, exactly when the flips cancel out.
 *   3  a delivery schedule [epoch bit | sequence] pairs over frames sealed in advance, against
 *      a fresh receiver and a model of the replay rule: accept iff the epoch is not older than the
 *      newest seen, and the sequence was not accepted in it and is newer than top - WINDOW.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DDYN_FUZZ=ON && cmake --build build-fuzz -t fuzz_seal
 * Run:   mkdir -p /tmp/seal-corpus
 *        ./build-fuzz/tests/fuzz_seal /tmp/seal-corpus -max_total_time=60
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "net/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY_ID 42u
#define SEQS 1024u   /* frames sealed in advance per epoch */

static const uint8_t key[NET_SEAL_KEY_BYTES] = {
    0x9c, 0x1d, 0x3a, 0x57, 0x02, 0xe4, 0x6b, 0x88, 0x10, 0xf7, 0x25, 0x4e, 0xb1, 0x63, 0xd9, 0x0a,
    0x7e, 0x34, 0xc2, 0x58, 0x91, 0xaf, 0x06, 0xdd, 0x4b, 0x70, 0x3f, 0xe8, 0x15, 0xca, 0x62, 0x9b};

typedef struct sealed {
    uint8_t bytes[NET_SEAL_OVERHEAD_BYTES + 8];
    size_t length;
} sealed_t;

static net_seal_t *receiver;      /* modes 0 to 2 */
static net_seal_t *sender;        /* mode 2 */
static sealed_t frames[2][SEQS];  /* mode 3: epochs 1 and 2 of sender 7 */

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_seal: %s\n", what);
        abort();
    }
}

static net_seal_t *make(uint32_t id, uint64_t epoch)
{
    net_seal_config_t cfg = {.cluster = "fuzz", .sender_id = id, .sender_epoch = epoch,
                             .senders_max = 4};
    net_seal_t *ctx = NULL;
    check(net_seal_create(&cfg, &ctx) == DYN_OK, "create");
    check(net_seal_add_key(ctx, KEY_ID, key) == DYN_OK, "add_key");
    return ctx;
}

static void init(void)
{
    receiver = make(1, 1);
    sender = make(2, 1);
    for (int e = 0; e < 2; e++) {
        net_seal_t *s = make(7, (uint64_t)e + 1);
        for (uint32_t i = 0; i < SEQS; i++) {
            uint8_t text[4] = {(uint8_t)i, (uint8_t)(i >> 8), (uint8_t)e, 0xAB};
            check(net_seal(s, text, sizeof(text), frames[e][i].bytes, sizeof(frames[e][i].bytes),
                           &frames[e][i].length) == DYN_OK,
                  "seal in advance");
        }
        net_seal_destroy(s);
    }
}

/* Unseal an exact-size copy. */
static int unseal(net_seal_t *ctx, const uint8_t *frame, size_t length, uint8_t *plain,
                  size_t cap, size_t *plain_length, net_seal_origin_t *origin)
{
    uint8_t *copy = malloc(length ? length : 1);
    check(copy != NULL, "out of memory");
    if (length)
        memcpy(copy, frame, length);
    int rc = net_unseal(ctx, copy, length, plain, cap, plain_length, origin);
    free(copy);
    return rc;
}

static void mode_raw(const uint8_t *data, size_t size)
{
    uint8_t plain[256];
    size_t plain_length;
    int rc = unseal(receiver, data, size, plain, sizeof(plain), &plain_length, NULL);
    check(rc == DYN_EBADMSG || rc == DYN_EVERSION || rc == DYN_ECLUSTER || rc == DYN_ENOKEY ||
              rc == DYN_EAUTH || rc == DYN_ETOOBIG,
          "a frame nobody sealed was not refused with a documented status");
}

static void mode_header(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return;
    uint8_t frame[NET_SEAL_HEADER_BYTES + 4096];
    /* A genuine header, then the input as nonce, ciphertext and tag. */
    memcpy(frame, frames[0][0].bytes, NET_SEAL_HEADER_BYTES);
    memcpy(frame + NET_SEAL_HEADER_BYTES, data, size);
    size_t length = NET_SEAL_HEADER_BYTES + size;
    uint8_t plain[4096];
    size_t plain_length;
    int rc = unseal(receiver, frame, length, plain, sizeof(plain), &plain_length, NULL);
    check(rc == (length < NET_SEAL_OVERHEAD_BYTES ? DYN_EBADMSG : DYN_EAUTH),
          "a forged body under a genuine header was not refused as unauthentic");
}

static void mode_flip(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    size_t k = data[0] % 4;
    if (size < 1 + 2 * k)
        return;
    const uint8_t *plain = data + 1 + 2 * k;
    size_t plain_length = size - 1 - 2 * k;
    if (plain_length > 1024)
        return;
    size_t cap = plain_length + NET_SEAL_OVERHEAD_BYTES;
    uint8_t *frame = malloc(cap);
    check(frame != NULL, "out of memory");
    size_t length = 0;
    check(net_seal(sender, plain, plain_length, frame, cap, &length) == DYN_OK && length == cap,
          "seal");
    /* Flip each named bit; a bit named twice flips back. */
    uint8_t mask[1024 + NET_SEAL_OVERHEAD_BYTES] = {0};
    for (size_t i = 0; i < k; i++) {
        size_t bit = (data[1 + 2 * i] | (size_t)data[2 + 2 * i] << 8) % (length * 8);
        mask[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    bool changed = false;
    for (size_t i = 0; i < length; i++) {
        frame[i] ^= mask[i];
        changed |= mask[i] != 0;
    }
    uint8_t out[1024];
    size_t out_length = 0;
    net_seal_origin_t origin;
    int rc = unseal(receiver, frame, length, out, sizeof(out), &out_length, &origin);
    if (changed) {
        check(rc != DYN_OK, "a frame with flipped bits was accepted");
    } else {
        check(rc == DYN_OK, "a genuine frame was refused");
        check(out_length == plain_length && (plain_length == 0 ||
                                             memcmp(out, plain, plain_length) == 0),
              "the plaintext changed on the way");
        check(origin.sender_id == 2 && origin.key_id == KEY_ID, "wrong origin");
    }
    free(frame);
}

static void mode_replay(const uint8_t *data, size_t size)
{
    static bool seen[2][SEQS];
    memset(seen, 0, sizeof(seen));
    net_seal_t *rx = make(1, 1);
    bool any = false;
    int epoch = 0;
    uint32_t top = 0;
    for (size_t i = 0; i + 1 < size; i += 2) {
        int e = data[i] >> 7;
        uint32_t seq = ((uint32_t)(data[i] & 0x7f) << 8 | data[i + 1]) % SEQS;
        bool want;
        if (!any || e > epoch)
            want = true;
        else if (e < epoch)
            want = false;
        else
            want = !seen[e][seq] && (seq > top || top - seq < NET_SEAL_REPLAY_WINDOW);
        uint8_t plain[16];
        size_t plain_length = 0;
        net_seal_origin_t origin;
        int rc = unseal(rx, frames[e][seq].bytes, frames[e][seq].length, plain, sizeof(plain),
                        &plain_length, &origin);
        check(rc == (want ? DYN_OK : DYN_EREPLAY), "the replay window disagrees with its model");
        if (!want)
            continue;
        check(origin.sequence == seq && origin.epoch == (uint64_t)e + 1 && origin.sender_id == 7,
              "wrong origin");
        check(plain_length == 4 && plain[0] == (uint8_t)seq && plain[2] == e, "wrong plaintext");
        if (!any || e > epoch) {
            epoch = e;
            top = seq;
            memset(seen[e], 0, sizeof(seen[e]));
        } else if (seq > top) {
            top = seq;
        }
        any = true;
        seen[e][seq] = true;
    }
    net_seal_destroy(rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        init();
        ready = true;
    }
    if (size < 1)
        return 0;
    switch (data[0] % 4) {
    case 0: mode_raw(data + 1, size - 1); break;
    case 1: mode_header(data + 1, size - 1); break;
    case 2: mode_flip(data + 1, size - 1); break;
    default: mode_replay(data + 1, size - 1); break;
    }
    return 0;
}
