/*
 * test_seal.c: sealed datagrams.
 *
 * Round trips; every single-bit flip and every truncation refused; wrong key id, key and cluster
 * refused; the replay window (exact replays, reordering inside it, its edge, large jumps, epochs)
 * against a reference model over thousands of random deliveries; key rotation; the bounded sender
 * table; buffer sizes; key files.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/prng.h"
#include "core/status.h"
#include "net/seal.h"

static const uint8_t key_a[NET_SEAL_KEY_BYTES] = {
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00};
static const uint8_t key_b[NET_SEAL_KEY_BYTES] = {
    0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0};

#define FRAME_MAX 2048

static bool contains(const uint8_t *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

static net_seal_t *make(const char *cluster, uint32_t sender, uint64_t epoch, uint32_t key_id,
                        const uint8_t *key)
{
    net_seal_config_t cfg = {.cluster = cluster, .sender_id = sender, .sender_epoch = epoch};
    net_seal_t *ctx = NULL;
    assert_int_equal(net_seal_create(&cfg, &ctx), DYN_OK);
    if (key)
        assert_int_equal(net_seal_add_key(ctx, key_id, key), DYN_OK);
    return ctx;
}

typedef struct frame {
    uint8_t bytes[FRAME_MAX];
    size_t length;
} frame_t;

static void seal_text(net_seal_t *ctx, const char *text, frame_t *f)
{
    assert_int_equal(net_seal(ctx, (const uint8_t *)text, strlen(text), f->bytes,
                              sizeof(f->bytes), &f->length),
                     DYN_OK);
    assert_int_equal(f->length, strlen(text) + NET_SEAL_OVERHEAD_BYTES);
}

static int open_frame(net_seal_t *ctx, const uint8_t *bytes, size_t length,
                      net_seal_origin_t *origin)
{
    uint8_t plain[FRAME_MAX];
    size_t plain_length = 0;
    /* An exact-size copy, so a read past the end is caught by ASan. */
    uint8_t *copy = malloc(length ? length : 1);
    assert_non_null(copy);
    if (length)
        memcpy(copy, bytes, length);
    int rc = net_unseal(ctx, copy, length, plain, sizeof(plain), &plain_length, origin);
    free(copy);
    return rc;
}

/* ---- round trips ------------------------------------------------------------------------ */

static void test_round_trip(void **state)
{
    net_seal_t *a = make("prod-eu", 11, 1000, 7, key_a);
    net_seal_t *b = make("prod-eu", 22, 2000, 7, key_a);
    frame_t f;
    seal_text(a, "hello, replica", &f);
    /* The clear header says what seal.h says. */
    assert_int_equal(f.bytes[0], NET_SEAL_FORMAT);
    assert_int_equal(f.bytes[1], 7);
    assert_int_equal(f.bytes[13], 11);
    /* The plaintext does not appear in the frame. */
    assert_false(contains(f.bytes, f.length, "hello"));

    uint8_t plain[64];
    size_t plain_length = 0;
    net_seal_origin_t origin;
    assert_int_equal(net_unseal(b, f.bytes, f.length, plain, sizeof(plain), &plain_length,
                                &origin),
                     DYN_OK);
    assert_int_equal(plain_length, 14);
    assert_memory_equal(plain, "hello, replica", 14);
    assert_int_equal(origin.sender_id, 11);
    assert_int_equal(origin.epoch, 1000);
    assert_int_equal(origin.sequence, 0);
    assert_int_equal(origin.key_id, 7);

    /* And back the other way; an empty plaintext, with NULL buffers. */
    size_t length = 0;
    assert_int_equal(net_seal(b, NULL, 0, f.bytes, sizeof(f.bytes), &length), DYN_OK);
    assert_int_equal(length, NET_SEAL_OVERHEAD_BYTES);
    plain_length = 99;
    assert_int_equal(net_unseal(a, f.bytes, length, NULL, 0, &plain_length, NULL), DYN_OK);
    assert_int_equal(plain_length, 0);

    /* Sequence numbers count up per sender; two seals of one text differ (fresh nonces). */
    frame_t g, h;
    seal_text(a, "same", &g);
    seal_text(a, "same", &h);
    assert_memory_not_equal(g.bytes + NET_SEAL_HEADER_BYTES, h.bytes + NET_SEAL_HEADER_BYTES,
                            g.length - NET_SEAL_HEADER_BYTES);
    assert_int_equal(net_unseal(b, h.bytes, h.length, plain, sizeof(plain), &plain_length,
                                &origin),
                     DYN_OK);
    assert_int_equal(origin.sequence, 2);
    assert_int_equal(net_unseal(b, g.bytes, g.length, plain, sizeof(plain), &plain_length,
                                &origin),
                     DYN_OK);
    assert_int_equal(origin.sequence, 1);
    net_seal_stats_t st = net_seal_stats(a);
    assert_int_equal(st.sealed, 3);
    assert_int_equal(st.unsealed, 1);
    assert_int_equal(net_seal_stats(b).unsealed, 3);
    net_seal_destroy(a);
    net_seal_destroy(b);
}

/* The tag is a function of the name alone. */
static void test_cluster_tag(void **state)
{
    assert_int_equal(net_seal_cluster_tag("prod-eu"), net_seal_cluster_tag("prod-eu"));
    assert_int_not_equal(net_seal_cluster_tag("prod-eu"), net_seal_cluster_tag("prod-us"));
    assert_int_not_equal(net_seal_cluster_tag("a"), net_seal_cluster_tag("A"));
    net_seal_t *a = make("prod-eu", 1, 1, 1, key_a);
    frame_t f;
    seal_text(a, "x", &f);
    uint64_t tag = 0;
    for (int i = 0; i < 8; i++)
        tag |= (uint64_t)f.bytes[5 + i] << (8 * i);
    assert_int_equal(tag, net_seal_cluster_tag("prod-eu"));
    net_seal_destroy(a);
}

/* ---- tampering -------------------------------------------------------------------------- */

/* Every single-bit flip, anywhere, is refused, with the status of the field it landed in. */
static void test_every_bit_flip_rejected(void **state)
{
    net_seal_t *a = make("c", 1, 5, 3, key_a);
    net_seal_t *b = make("c", 2, 5, 3, key_a);
    frame_t f;
    seal_text(a, "a datagram of some forty bytes, or so...", &f);
    uint8_t *copy = malloc(f.length);
    assert_non_null(copy);
    size_t expected[5] = {0}; /* version, key, cluster, auth */
    for (size_t bit = 0; bit < f.length * 8; bit++) {
        memcpy(copy, f.bytes, f.length);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        size_t byte = bit / 8;
        int want = byte == 0 ? DYN_EVERSION : byte < 5 ? DYN_ENOKEY : byte < 13 ? DYN_ECLUSTER
                                                                                : DYN_EAUTH;
        expected[byte == 0 ? 0 : byte < 5 ? 1 : byte < 13 ? 2 : 3]++;
        uint8_t plain[64];
        memset(plain, 0xEE, sizeof(plain));
        size_t plain_length = 12345;
        net_seal_origin_t origin = {.sender_id = 77};
        int rc = net_unseal(b, copy, f.length, plain, sizeof(plain), &plain_length, &origin);
        assert_int_equal(rc, want);
        /* Nothing leaks out of a refused frame. */
        assert_int_equal(plain_length, 12345);
        assert_int_equal(origin.sender_id, 77);
        for (size_t i = 0; i < sizeof(plain); i++)
            assert_true(plain[i] == 0xEE || plain[i] == 0);
    }
    net_seal_stats_t st = net_seal_stats(b);
    assert_int_equal(st.bad_format, expected[0]);
    assert_int_equal(st.unknown_key, expected[1]);
    assert_int_equal(st.wrong_cluster, expected[2]);
    assert_int_equal(st.bad_auth, expected[3]);
    assert_int_equal(st.unsealed, 0);
    assert_int_equal(st.replayed, 0);
    /* None of them spent the sequence number: the genuine frame is still accepted, once. */
    assert_int_equal(open_frame(b, f.bytes, f.length, NULL), DYN_OK);
    assert_int_equal(open_frame(b, f.bytes, f.length, NULL), DYN_EREPLAY);
    free(copy);
    net_seal_destroy(a);
    net_seal_destroy(b);
}

static void test_truncation_and_extension(void **state)
{
    net_seal_t *a = make("c", 1, 5, 3, key_a);
    net_seal_t *b = make("c", 2, 5, 3, key_a);
    frame_t f;
    seal_text(a, "truncate me at every length", &f);
    for (size_t n = 0; n < f.length; n++) {
        int rc = open_frame(b, f.bytes, n, NULL);
        assert_int_equal(rc, n < NET_SEAL_OVERHEAD_BYTES ? DYN_EBADMSG : DYN_EAUTH);
    }
    net_seal_stats_t st = net_seal_stats(b);
    assert_int_equal(st.too_short, NET_SEAL_OVERHEAD_BYTES);
    assert_int_equal(st.bad_auth, f.length - NET_SEAL_OVERHEAD_BYTES);
    /* A byte appended is refused too. */
    f.bytes[f.length] = 0;
    assert_int_equal(open_frame(b, f.bytes, f.length + 1, NULL), DYN_EAUTH);
    assert_int_equal(open_frame(b, f.bytes, f.length, NULL), DYN_OK);
    net_seal_destroy(a);
    net_seal_destroy(b);
}

static void test_wrong_key_and_cluster(void **state)
{
    net_seal_t *a = make("blue", 1, 5, 3, key_a);
    frame_t f;
    seal_text(a, "for blue, key 3", &f);
    /* The right key under another id: the id is refused before any crypto. */
    net_seal_t *other_id = make("blue", 2, 5, 4, key_a);
    assert_int_equal(open_frame(other_id, f.bytes, f.length, NULL), DYN_ENOKEY);
    assert_int_equal(net_seal_stats(other_id).unknown_key, 1);
    /* The right id with another key: authentication fails. */
    net_seal_t *other_key = make("blue", 2, 5, 3, key_b);
    assert_int_equal(open_frame(other_key, f.bytes, f.length, NULL), DYN_EAUTH);
    assert_int_equal(net_seal_stats(other_key).bad_auth, 1);
    /* Another cluster with the very same key. */
    net_seal_t *green = make("green", 2, 5, 3, key_a);
    assert_int_equal(open_frame(green, f.bytes, f.length, NULL), DYN_ECLUSTER);
    assert_int_equal(net_seal_stats(green).wrong_cluster, 1);
    /* Rewriting the cluster tag to green's does not get it through either. */
    uint64_t tag = net_seal_cluster_tag("green");
    for (int i = 0; i < 8; i++)
        f.bytes[5 + i] = (uint8_t)(tag >> (8 * i));
    assert_int_equal(open_frame(green, f.bytes, f.length, NULL), DYN_EAUTH);
    /* A context with no keys at all can neither seal nor open. */
    net_seal_t *bare = make("blue", 9, 1, 0, NULL);
    size_t length;
    assert_int_equal(net_seal(bare, (const uint8_t *)"x", 1, f.bytes, sizeof(f.bytes), &length),
                     DYN_ENOKEY);
    net_seal_destroy(a);
    net_seal_destroy(other_id);
    net_seal_destroy(other_key);
    net_seal_destroy(green);
    net_seal_destroy(bare);
}

/* ---- replay ------------------------------------------------------------------------------ */

static void test_replay_exact(void **state)
{
    net_seal_t *a = make("c", 1, 5, 3, key_a);
    net_seal_t *b = make("c", 2, 5, 3, key_a);
    frame_t f;
    seal_text(a, "once", &f);
    assert_int_equal(open_frame(b, f.bytes, f.length, NULL), DYN_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(open_frame(b, f.bytes, f.length, NULL), DYN_EREPLAY);
    assert_int_equal(net_seal_stats(b).replayed, 3);
    assert_int_equal(net_seal_stats(b).unsealed, 1);
    /* The refused plaintext is not handed out. */
    uint8_t plain[16];
    memset(plain, 0xEE, sizeof(plain));
    size_t plain_length = 777;
    assert_int_equal(net_unseal(b, f.bytes, f.length, plain, sizeof(plain), &plain_length, NULL),
                     DYN_EREPLAY);
    assert_int_equal(plain_length, 777);
    assert_false(contains(plain, sizeof(plain), "once"));
    net_seal_destroy(a);
    net_seal_destroy(b);
}

/* Frames sealed in advance, sequence i at index i. */
static frame_t *seal_many(net_seal_t *ctx, size_t n)
{
    frame_t *frames = malloc(n * sizeof(*frames));
    assert_non_null(frames);
    for (size_t i = 0; i < n; i++) {
        char text[32];
        snprintf(text, sizeof(text), "frame %zu", i);
        seal_text(ctx, text, &frames[i]);
    }
    return frames;
}

static void test_replay_window_edges(void **state)
{
    enum { EDGE = 120, N = EDGE + NET_SEAL_REPLAY_WINDOW + 1 };
    net_seal_t *a = make("c", 1, 5, 3, key_a);
    net_seal_t *b = make("c", 2, 5, 3, key_a);
    frame_t *fr = seal_many(a, N);
    /* Reordered within the window: every frame accepted once, in any order. */
    for (int i = 99; i >= 0; i--)
        assert_int_equal(open_frame(b, fr[i].bytes, fr[i].length, NULL), DYN_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(open_frame(b, fr[i].bytes, fr[i].length, NULL), DYN_EREPLAY);
    for (int i = 150; i < 170; i++)
        assert_int_equal(open_frame(b, fr[i].bytes, fr[i].length, NULL), DYN_OK);
    /* Jump ahead: with top = EDGE + WINDOW, EDGE is out (never seen, still refused) and
     * EDGE + 1 is the oldest frame still let in. */
    const size_t top = N - 1;
    net_seal_origin_t origin;
    assert_int_equal(open_frame(b, fr[top].bytes, fr[top].length, &origin), DYN_OK);
    assert_int_equal(origin.sequence, top);
    assert_int_equal(open_frame(b, fr[EDGE].bytes, fr[EDGE].length, NULL), DYN_EREPLAY);
    assert_int_equal(open_frame(b, fr[EDGE + 1].bytes, fr[EDGE + 1].length, NULL), DYN_OK);
    assert_int_equal(open_frame(b, fr[EDGE + 1].bytes, fr[EDGE + 1].length, NULL), DYN_EREPLAY);
    /* Frames accepted before the jump and still inside the window stay refused. */
    for (int i = 150; i < 170; i++)
        assert_int_equal(open_frame(b, fr[i].bytes, fr[i].length, NULL), DYN_EREPLAY);
    /* Never-seen frames inside the window are all accepted, once. */
    for (size_t i = EDGE + 2; i < top; i++)
        assert_int_equal(open_frame(b, fr[i].bytes, fr[i].length, NULL),
                         i >= 150 && i < 170 ? DYN_EREPLAY : DYN_OK);
    assert_int_equal(net_seal_stats(b).unsealed, 100 + 20 + 1 + 1 + (top - EDGE - 2) - 20);
    free(fr);
    net_seal_destroy(a);
    net_seal_destroy(b);
}

/*
 * Random deliveries (local reordering, late frames around the window's edge, exact replays,
 * jumps over whole bitmap words) against the rule the window must implement exactly: accept iff
 * not accepted before and newer than top - WINDOW.
 */
typedef struct small_frame {
    uint8_t bytes[NET_SEAL_OVERHEAD_BYTES + 24];
    uint8_t length;
} small_frame_t;

static void test_replay_window_model(void **state)
{
    enum { DELIVERIES = 20000, N = 200000, RECENT = 256 };
    net_seal_t *a = make("c", 1, 5, 3, key_a);
    net_seal_t *b = make("c", 2, 5, 3, key_a);
    small_frame_t *fr = malloc(N * sizeof(*fr));
    bool *seen = calloc(N, sizeof(bool));
    assert_non_null(fr);
    assert_non_null(seen);
    size_t sealed = 0; /* frames are sealed in sequence order, as far as deliveries reach */
    uint64_t recent[RECENT] = {0};
    size_t recent_count = 0;
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 0xfeed);
    bool any = false;
    uint64_t top = 0, accepted = 0, refused = 0, cursor = 0, jumps = 0;
    for (int d = 0; d < DELIVERIES; d++) {
        uint64_t dice = dyn_prng_below(&prng, 100), seq;
        if (dice < 70) {
            uint64_t off = dyn_prng_below(&prng, 64);
            seq = cursor + off >= 40 ? cursor + off - 40 : 0;
            cursor++;
        } else if (dice < 85) {
            uint64_t back = dyn_prng_below(&prng, 2 * NET_SEAL_REPLAY_WINDOW);
            seq = cursor >= back ? cursor - back : 0;
        } else if (dice < 99 && recent_count > 0) {
            seq = recent[dyn_prng_below(&prng, recent_count < RECENT ? recent_count : RECENT)];
        } else {
            cursor += 64 + dyn_prng_below(&prng, 1200);
            seq = cursor;
            jumps++;
        }
        assert_true(seq < N);
        while (sealed <= seq) {
            char text[24];
            snprintf(text, sizeof(text), "frame %zu", sealed);
            size_t length = 0;
            assert_int_equal(net_seal(a, (const uint8_t *)text, strlen(text), fr[sealed].bytes,
                                      sizeof(fr[sealed].bytes), &length),
                             DYN_OK);
            fr[sealed++].length = (uint8_t)length;
        }
        bool want = !seen[seq] && (!any || seq > top || top - seq < NET_SEAL_REPLAY_WINDOW);
        net_seal_origin_t origin;
        int rc = open_frame(b, fr[seq].bytes, fr[seq].length, &origin);
        assert_int_equal(rc, want ? DYN_OK : DYN_EREPLAY);
        if (want) {
            assert_int_equal(origin.sequence, seq);
            seen[seq] = true;
            if (!any || seq > top)
                top = seq;
            any = true;
            accepted++;
            recent[recent_count++ % RECENT] = seq;
        } else {
            refused++;
        }
    }
    /* Every kind of delivery happened plenty. */
    assert_true(accepted > 8000);
    assert_true(refused > 4000);
    assert_true(jumps > 100);
    assert_int_equal(net_seal_stats(b).replayed, refused);
    free(seen);
    free(fr);
    net_seal_destroy(a);
    net_seal_destroy(b);
}

static void test_epochs(void **state)
{
    net_seal_t *old = make("c", 1, 5, 3, key_a);
    net_seal_t *rx = make("c", 2, 1, 3, key_a);
    frame_t *before = seal_many(old, 600);
    for (int i = 0; i < 600; i++)
        assert_int_equal(open_frame(rx, before[i].bytes, before[i].length, NULL), DYN_OK);
    /* The sender restarts under a newer epoch: sequence 0 again, accepted (the window reset). */
    net_seal_t *restarted = make("c", 1, 6, 3, key_a);
    frame_t *after = seal_many(restarted, 3);
    assert_int_equal(open_frame(rx, after[1].bytes, after[1].length, NULL), DYN_OK);
    assert_int_equal(open_frame(rx, after[0].bytes, after[0].length, NULL), DYN_OK);
    assert_int_equal(open_frame(rx, after[0].bytes, after[0].length, NULL), DYN_EREPLAY);
    /* Anything of the older epoch is refused now, even a frame never delivered. */
    frame_t late;
    seal_text(old, "sealed by the old process after the new one started", &late);
    assert_int_equal(open_frame(rx, late.bytes, late.length, NULL), DYN_EREPLAY);
    assert_int_equal(open_frame(rx, before[599].bytes, before[599].length, NULL), DYN_EREPLAY);
    assert_int_equal(open_frame(rx, after[2].bytes, after[2].length, NULL), DYN_OK);
    /* Epochs are per sender: another sender's older epoch is its own business. */
    net_seal_t *other = make("c", 3, 2, 3, key_a);
    frame_t f;
    seal_text(other, "from node 3", &f);
    assert_int_equal(open_frame(rx, f.bytes, f.length, NULL), DYN_OK);
    assert_int_equal(net_seal_stats(rx).replayed, 3);
    free(before);
    free(after);
    net_seal_destroy(old);
    net_seal_destroy(restarted);
    net_seal_destroy(other);
    net_seal_destroy(rx);
}

/* Only authentic frames take a slot; a sender past the bound is refused, the others go on. */
static void test_sender_table_bound(void **state)
{
    net_seal_config_t cfg = {.cluster = "c", .sender_id = 100, .sender_epoch = 1,
                             .senders_max = 3};
    net_seal_t *rx = NULL;
    assert_int_equal(net_seal_create(&cfg, &rx), DYN_OK);
    assert_int_equal(net_seal_add_key(rx, 3, key_a), DYN_OK);
    /* Forgeries claiming many sender ids (right key id, wrong key) fill nothing. */
    for (uint32_t id = 1000; id < 1100; id++) {
        net_seal_t *forger = make("c", id, 1, 3, key_b);
        frame_t f;
        seal_text(forger, "forged", &f);
        assert_int_equal(open_frame(rx, f.bytes, f.length, NULL), DYN_EAUTH);
        net_seal_destroy(forger);
    }
    net_seal_t *tx[4];
    frame_t f[4];
    for (int i = 0; i < 4; i++) {
        tx[i] = make("c", (uint32_t)i + 1, 1, 3, key_a);
        seal_text(tx[i], "genuine", &f[i]);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(open_frame(rx, f[i].bytes, f[i].length, NULL), DYN_OK);
    assert_int_equal(open_frame(rx, f[3].bytes, f[3].length, NULL), DYN_EFULL);
    assert_int_equal(net_seal_stats(rx).senders_full, 1);
    for (int i = 0; i < 3; i++) {
        seal_text(tx[i], "still heard", &f[i]);
        assert_int_equal(open_frame(rx, f[i].bytes, f[i].length, NULL), DYN_OK);
    }
    for (int i = 0; i < 4; i++)
        net_seal_destroy(tx[i]);
    net_seal_destroy(rx);

    cfg.senders_max = NET_SEAL_SENDERS_LIMIT + 1;
    assert_int_equal(net_seal_create(&cfg, &rx), DYN_EINVAL);
    assert_null(rx);
    cfg.senders_max = 0;
    cfg.cluster = "";
    assert_int_equal(net_seal_create(&cfg, &rx), DYN_EINVAL);
}

/* ---- keys --------------------------------------------------------------------------------- */

static void test_key_rotation(void **state)
{
    net_seal_t *tx = make("c", 1, 1, 1, key_a);
    net_seal_t *rx = make("c", 2, 1, 1, key_a);
    frame_t f1, f2, f3;
    seal_text(tx, "under key 1", &f1);
    /* Rotation: every node learns key 2 first, then senders switch, then key 1 is dropped. */
    assert_int_equal(net_seal_add_key(rx, 2, key_b), DYN_OK);
    assert_int_equal(net_seal_add_key(tx, 2, key_b), DYN_OK);
    assert_int_equal(net_seal_use_key(tx, 2), DYN_OK);
    seal_text(tx, "under key 2", &f2);
    net_seal_origin_t o;
    assert_int_equal(open_frame(rx, f2.bytes, f2.length, &o), DYN_OK);
    assert_int_equal(o.key_id, 2);
    assert_int_equal(open_frame(rx, f1.bytes, f1.length, &o), DYN_OK); /* in flight, still good */
    assert_int_equal(o.key_id, 1);
    assert_int_equal(net_seal_remove_key(rx, 1), DYN_OK);
    assert_int_equal(net_seal_remove_key(rx, 1), DYN_ENOTFOUND);
    assert_int_equal(net_seal_use_key(tx, 1), DYN_OK);
    seal_text(tx, "under key 1 again", &f3);
    assert_int_equal(open_frame(rx, f3.bytes, f3.length, NULL), DYN_ENOKEY);

    /* Up to NET_SEAL_KEYS_MAX ids; adding a held id replaces its key. */
    net_seal_t *k = make("c", 5, 1, 0, NULL);
    for (uint32_t id = 10; id < 10 + NET_SEAL_KEYS_MAX; id++)
        assert_int_equal(net_seal_add_key(k, id, key_a), DYN_OK);
    assert_int_equal(net_seal_add_key(k, 99, key_a), DYN_EFULL);
    assert_int_equal(net_seal_add_key(k, 10, key_b), DYN_OK);
    assert_int_equal(net_seal_use_key(k, 99), DYN_ENOTFOUND);
    /* The first key added seals: id 10, which now holds key_b. */
    frame_t g;
    seal_text(k, "under id 10", &g);
    assert_int_equal(g.bytes[1], 10);
    net_seal_t *rx10 = make("c", 6, 1, 10, key_b);
    assert_int_equal(open_frame(rx10, g.bytes, g.length, NULL), DYN_OK);
    /* Removing the sealing key leaves nothing to seal with. */
    assert_int_equal(net_seal_remove_key(k, 10), DYN_OK);
    size_t length;
    assert_int_equal(net_seal(k, (const uint8_t *)"x", 1, g.bytes, sizeof(g.bytes), &length),
                     DYN_ENOKEY);
    net_seal_destroy(tx);
    net_seal_destroy(rx);
    net_seal_destroy(k);
    net_seal_destroy(rx10);
}

static void test_buffer_sizes(void **state)
{
    net_seal_t *a = make("c", 1, 1, 1, key_a);
    net_seal_t *b = make("c", 2, 1, 1, key_a);
    uint8_t plain[100];
    memset(plain, 'p', sizeof(plain));
    uint8_t frame[200];
    size_t length = 0;
    /* One byte short of room: refused, and no sequence number is used up. */
    assert_int_equal(net_seal(a, plain, sizeof(plain), frame, sizeof(plain) +
                              NET_SEAL_OVERHEAD_BYTES - 1, &length),
                     DYN_ETOOBIG);
    assert_int_equal(net_seal(a, plain, SIZE_MAX - 10, frame, sizeof(frame), &length),
                     DYN_ETOOBIG);
    assert_int_equal(net_seal(a, plain, sizeof(plain), frame,
                              sizeof(plain) + NET_SEAL_OVERHEAD_BYTES, &length),
                     DYN_OK);
    uint8_t out[100];
    size_t out_length = 0;
    net_seal_origin_t o;
    /* Too small a plaintext buffer: refused before any check that would spend the frame. */
    assert_int_equal(net_unseal(b, frame, length, out, sizeof(out) - 1, &out_length, &o),
                     DYN_ETOOBIG);
    assert_int_equal(net_unseal(b, frame, length, out, sizeof(out), &out_length, &o), DYN_OK);
    assert_int_equal(o.sequence, 0);
    assert_int_equal(out_length, 100);
    assert_memory_equal(out, plain, 100);
    assert_int_equal(net_seal_stats(a).sealed, 1);
    net_seal_destroy(a);
    net_seal_destroy(b);
}

/* ---- key files ---------------------------------------------------------------------------- */

typedef struct keyfile_case {
    const char *content;
    int status;
    const char *message; /* a fragment of the error, or NULL */
} keyfile_case_t;

static void test_key_file(void **state)
{
    char dir[] = "/tmp/dyn-seal-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/cluster.key", dir);
    const char *hex = "0123456789abcdef1032547698badcfe112233445566778899aabbccddeeff00";
    char upper[80], crlf[80], nonl[80];
    snprintf(upper, sizeof(upper),
             "0123456789ABCDEF1032547698BADCFE112233445566778899AABBCCDDEEFF00\n");
    snprintf(crlf, sizeof(crlf), "%s\r\n", hex);
    snprintf(nonl, sizeof(nonl), "%s", hex);
    char line[80], short_line[80], long_line[80], bad_char[80], two_lines[160], spaced[80];
    snprintf(line, sizeof(line), "%s\n", hex);
    snprintf(short_line, sizeof(short_line), "%.63s\n", hex);
    snprintf(long_line, sizeof(long_line), "%s0\n", hex);
    snprintf(bad_char, sizeof(bad_char), "%s\n", hex);
    bad_char[9] = 'g';
    snprintf(two_lines, sizeof(two_lines), "%s\n%s\n", hex, hex);
    snprintf(spaced, sizeof(spaced), " %.63s\n", hex);
    char zeros[80];
    memset(zeros, '0', 64);
    zeros[64] = '\n';
    zeros[65] = '\0';
    const keyfile_case_t cases[] = {
        {line, DYN_OK, NULL},
        {upper, DYN_OK, NULL},
        {crlf, DYN_OK, NULL},
        {nonl, DYN_OK, NULL},
        {"", DYN_EINVAL, "found 0 characters"},
        {short_line, DYN_EINVAL, "found 63 characters"},
        {long_line, DYN_EINVAL, "found 65 characters"},
        {two_lines, DYN_EINVAL, "found more than 128 characters"},
        {bad_char, DYN_EINVAL, "character 10 is not a hexadecimal digit"},
        {spaced, DYN_EINVAL, "character 1 is not a hexadecimal digit"},
        {"\n\n", DYN_EINVAL, "found 1 characters"},
        {zeros, DYN_EINVAL, "all zeros"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        fputs(cases[i].content, fp);
        fclose(fp);
        uint8_t key[NET_SEAL_KEY_BYTES];
        memset(key, 0x5A, sizeof(key));
        char err[256];
        int rc = net_seal_load_key_file(path, key, err, sizeof(err));
        if (rc != cases[i].status)
            fail_msg("case %zu: %s (%s)", i, dyn_strerror(rc), err);
        if (rc == DYN_OK) {
            assert_memory_equal(key, key_a, sizeof(key));
            assert_string_equal(err, "");
        } else {
            static const uint8_t zero[NET_SEAL_KEY_BYTES];
            assert_memory_equal(key, zero, sizeof(key));
            assert_non_null(strstr(err, path));
            if (!strstr(err, cases[i].message))
                fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].message);
        }
    }
    unlink(path);
    uint8_t key[NET_SEAL_KEY_BYTES];
    char err[256];
    assert_int_equal(net_seal_load_key_file(path, key, err, sizeof(err)), DYN_ENOTFOUND);
    assert_non_null(strstr(err, "No such file"));
    /* A directory opens but does not read. */
    assert_int_equal(net_seal_load_key_file(dir, key, err, sizeof(err)), DYN_EIO);
    assert_int_equal(net_seal_load_key_file(path, key, NULL, 0), DYN_ENOTFOUND);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_cluster_tag),
        cmocka_unit_test(test_every_bit_flip_rejected),
        cmocka_unit_test(test_truncation_and_extension),
        cmocka_unit_test(test_wrong_key_and_cluster),
        cmocka_unit_test(test_replay_exact),
        cmocka_unit_test(test_replay_window_edges),
        cmocka_unit_test(test_replay_window_model),
        cmocka_unit_test(test_epochs),
        cmocka_unit_test(test_sender_table_bound),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_buffer_sizes),
        cmocka_unit_test(test_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
