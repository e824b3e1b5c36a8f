/*
 * test_frag.c: fragments of large messages and their reassembly (net/frag.h).
 *
 * In order, out of order, duplicates, a missing fragment timing out (and never a half message),
 * two senders' messages interleaved, the bounds (per sender, in all, bytes), malformed and
 * disagreeing headers, and a full-size (1 MiB) message with the real chunk size.
 */
#define _POSIX_C_SOURCE 200809L /* uv.h, through frag.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/status.h"
#include "net/frag.h"

#define CHUNK 100u
#define FRAG_MAX (NET_FRAG_HEADER_BYTES + NET_FRAG_CHUNK_BYTES)

static uint8_t *message_of(size_t length, uint8_t seed)
{
    uint8_t *m = malloc(length);
    assert_non_null(m);
    for (size_t i = 0; i < length; i++)
        m[i] = (uint8_t)(seed + i * 7 + (i >> 8));
    return m;
}

static net_frag_t *table(uint32_t messages, uint32_t per_sender, size_t bytes, size_t chunk)
{
    net_frag_config_t c = {.messages_max = messages, .per_sender_max = per_sender,
                           .bytes_max = bytes, .timeout_us = 1000, .chunk_bytes = chunk};
    net_frag_t *f = NULL;
    assert_int_equal(net_frag_create(&c, &f), DYN_OK);
    return f;
}

/* Offer fragment `index` of message (id, m, length) from sender; return the result. */
static int offer(net_frag_t *f, uint32_t sender, uint32_t id, uint32_t index, const uint8_t *m,
                 size_t length, uint64_t now, const uint8_t **out, size_t *out_length)
{
    static uint8_t frag[FRAG_MAX];
    size_t n = net_frag_build(f, id, index, m, length, frag);
    return net_frag_offer(f, sender, 1, now, frag, n, out, out_length);
}

static void test_in_order(void **state)
{
    (void)state;
    net_frag_t *f = table(0, 0, 0, CHUNK);
    size_t length = 1050; /* 11 fragments, the last of 50 bytes */
    uint8_t *m = message_of(length, 3);
    assert_int_equal(net_frag_count(f, length), 11);
    assert_int_equal(net_frag_count(f, CHUNK + NET_FRAG_HEADER_BYTES), 1);
    const uint8_t *out = NULL;
    size_t out_length = 0;
    for (uint32_t i = 0; i < 10; i++) {
        assert_int_equal(offer(f, 1, 7, i, m, length, 0, &out, &out_length), NET_FRAG_PENDING);
        assert_int_equal(net_frag_pending(f), 1);
    }
    assert_int_equal(net_frag_bytes(f), length);
    assert_int_equal(offer(f, 1, 7, 10, m, length, 0, &out, &out_length), DYN_OK);
    assert_int_equal(out_length, length);
    assert_memory_equal(out, m, length);
    assert_int_equal(net_frag_pending(f), 0);
    assert_int_equal(net_frag_bytes(f), 0);
    assert_int_equal(net_frag_stats(f).completed, 1);
    free(m);
    net_frag_destroy(f);
}

static void test_out_of_order_and_duplicates(void **state)
{
    (void)state;
    net_frag_t *f = table(0, 0, 0, CHUNK);
    size_t length = 777;
    uint8_t *m = message_of(length, 9);
    const uint8_t *out = NULL;
    size_t out_length = 0;
    static const uint32_t order[] = {7, 3, 3, 0, 5, 7, 1, 6, 2, 0, 4};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) - 1; i++)
        assert_int_equal(offer(f, 1, 1, order[i], m, length, 0, &out, &out_length),
                         NET_FRAG_PENDING);
    assert_int_equal(net_frag_stats(f).duplicates, 3);
    assert_int_equal(offer(f, 1, 1, 4, m, length, 0, &out, &out_length), DYN_OK);
    assert_memory_equal(out, m, length);
    free(m);
    net_frag_destroy(f);
}

static void test_missing_fragment_times_out(void **state)
{
    (void)state;
    net_frag_t *f = table(0, 0, 0, CHUNK);
    size_t length = 500;
    uint8_t *m = message_of(length, 1);
    const uint8_t *out = NULL;
    size_t out_length = 0;
    for (uint32_t i = 0; i < 4; i++) /* fragment 4 is lost */
        assert_int_equal(offer(f, 1, 2, i, m, length, 10, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(net_frag_expire(f, 500), 0);
    assert_int_equal(net_frag_pending(f), 1);
    assert_int_equal(net_frag_expire(f, 1010), 1);
    assert_int_equal(net_frag_pending(f), 0);
    assert_int_equal(net_frag_bytes(f), 0);
    assert_int_equal(net_frag_stats(f).timed_out, 1);
    /* the late fragment starts a message of its own, which cannot complete from it alone */
    assert_int_equal(offer(f, 1, 2, 4, m, length, 1020, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(net_frag_stats(f).completed, 0);
    /* a fragment arriving past the timeout of a message not yet expired drops it too */
    net_frag_t *g = table(0, 0, 0, CHUNK);
    assert_int_equal(offer(g, 1, 3, 0, m, length, 0, &out, &out_length), NET_FRAG_PENDING);
    for (uint32_t i = 1; i < 5; i++)
        assert_int_equal(offer(g, 1, 3, i, m, length, 2000, &out, &out_length),
                         NET_FRAG_PENDING);
    assert_int_equal(net_frag_stats(g).timed_out, 1);
    assert_int_equal(net_frag_stats(g).completed, 0);
    free(m);
    net_frag_destroy(f);
    net_frag_destroy(g);
}

static void test_two_senders_interleaved(void **state)
{
    (void)state;
    net_frag_t *f = table(0, 0, 0, CHUNK);
    size_t la = 430, lb = 610;
    uint8_t *a = message_of(la, 5), *b = message_of(lb, 200);
    const uint8_t *out = NULL;
    size_t out_length = 0;
    /* the same message id from two senders: two messages */
    for (uint32_t i = 0; i < 7; i++) {
        if (i < 5) {
            int rc = offer(f, 1, 9, i, a, la, 0, &out, &out_length);
            if (i < 4) {
                assert_int_equal(rc, NET_FRAG_PENDING);
            } else {
                assert_int_equal(rc, DYN_OK);
                assert_int_equal(out_length, la);
                assert_memory_equal(out, a, la);
            }
        }
        int rc = offer(f, 2, 9, 6 - i, b, lb, 0, &out, &out_length);
        if (i < 6) {
            assert_int_equal(rc, NET_FRAG_PENDING);
        } else {
            assert_int_equal(rc, DYN_OK);
            assert_int_equal(out_length, lb);
            assert_memory_equal(out, b, lb);
        }
    }
    /* the same sender and id in another epoch is another message */
    uint8_t frag[FRAG_MAX];
    size_t n = net_frag_build(f, 4, 0, a, la, frag);
    assert_int_equal(net_frag_offer(f, 1, 1, 0, frag, n, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(net_frag_offer(f, 1, 2, 0, frag, n, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(net_frag_pending(f), 2);
    free(a);
    free(b);
    net_frag_destroy(f);
}

static void test_bounds(void **state)
{
    (void)state;
    /* 4 messages in all, 2 per sender, 1000 bytes */
    net_frag_t *f = table(4, 2, 1000, CHUNK);
    uint8_t *m = message_of(400, 0);
    const uint8_t *out = NULL;
    size_t out_length = 0;
    assert_int_equal(offer(f, 1, 1, 0, m, 300, 0, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(offer(f, 1, 2, 0, m, 300, 0, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(offer(f, 1, 3, 0, m, 300, 0, &out, &out_length), DYN_EFULL); /* per sender */
    assert_int_equal(offer(f, 2, 1, 0, m, 300, 0, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(offer(f, 3, 1, 0, m, 200, 0, &out, &out_length), DYN_EFULL); /* bytes */
    assert_int_equal(net_frag_bytes(f), 900);
    assert_int_equal(offer(f, 3, 1, 0, m, 101, 0, &out, &out_length), DYN_EFULL);
    net_frag_t *g = table(2, 2, 100000, CHUNK);
    assert_int_equal(offer(g, 1, 1, 0, m, 300, 0, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(offer(g, 2, 1, 0, m, 300, 0, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(offer(g, 3, 1, 0, m, 300, 0, &out, &out_length), DYN_EFULL); /* slots */
    assert_int_equal(net_frag_stats(g).refused_full, 1);
    /* once the old ones time out, a new message is admitted in their place */
    assert_int_equal(offer(g, 3, 1, 0, m, 300, 5000, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(net_frag_stats(g).timed_out, 2);
    assert_int_equal(net_frag_pending(g), 1);
    /* fragments of a message under way are still taken when the table is full */
    assert_int_equal(offer(f, 1, 1, 1, m, 300, 0, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(offer(f, 1, 1, 2, m, 300, 0, &out, &out_length), DYN_OK);
    assert_memory_equal(out, m, 300);
    free(m);
    net_frag_destroy(f);
    net_frag_destroy(g);
}

static void test_malformed(void **state)
{
    (void)state;
    net_frag_t *f = table(0, 0, 0, CHUNK);
    uint8_t *m = message_of(400, 0);
    const uint8_t *out = NULL;
    size_t out_length = 0;
    uint8_t frag[FRAG_MAX];
    size_t n = net_frag_build(f, 1, 0, m, 400, frag);
    assert_int_equal(net_frag_offer(f, 1, 1, 0, frag, 5, &out, &out_length), DYN_EBADMSG);
    assert_int_equal(net_frag_offer(f, 1, 1, 0, frag, n - 1, &out, &out_length), DYN_EBADMSG);
    frag[0] = 0xD7;
    assert_int_equal(net_frag_offer(f, 1, 1, 0, frag, n, &out, &out_length), DYN_EBADMSG);
    frag[0] = NET_FRAG_MARKER;
    frag[5] = 4; /* index 4 of 4 */
    assert_int_equal(net_frag_offer(f, 1, 1, 0, frag, n, &out, &out_length), DYN_EBADMSG);
    frag[5] = 0;
    frag[7] = 9; /* a count that does not match the length */
    assert_int_equal(net_frag_offer(f, 1, 1, 0, frag, n, &out, &out_length), DYN_EBADMSG);
    frag[7] = 1; /* one fragment: such a message goes whole */
    assert_int_equal(net_frag_offer(f, 1, 1, 0, frag, n, &out, &out_length), DYN_EBADMSG);
    frag[7] = 4;
    frag[12] = 0x7F; /* a length over NET_FRAG_MESSAGE_MAX */
    assert_int_equal(net_frag_offer(f, 1, 1, 0, frag, n, &out, &out_length), DYN_EBADMSG);
    /* a fragment disagreeing with its message's length drops the message */
    assert_int_equal(offer(f, 1, 1, 0, m, 400, 0, &out, &out_length), NET_FRAG_PENDING);
    assert_int_equal(offer(f, 1, 1, 1, m, 350, 0, &out, &out_length), DYN_EBADMSG);
    assert_int_equal(net_frag_pending(f), 0);
    assert_int_equal(net_frag_stats(f).malformed, 8);
    free(m);
    net_frag_destroy(f);
}

static void test_one_mebibyte(void **state)
{
    (void)state;
    net_frag_t *f = table(0, 0, 0, 0);
    size_t length = 1u << 20;
    uint8_t *m = message_of(length, 42);
    uint32_t count = net_frag_count(f, length);
    assert_int_equal(count, (length + NET_FRAG_CHUNK_BYTES - 1) / NET_FRAG_CHUNK_BYTES);
    assert_int_equal(net_frag_count(f, NET_UV_PLAIN_MAX), 1);
    assert_int_equal(net_frag_count(f, NET_UV_PLAIN_MAX + 1), 2);
    static uint8_t frag[FRAG_MAX];
    const uint8_t *out = NULL;
    size_t out_length = 0;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t i = (k * 5) % count; /* count is odd here: a permutation */
        size_t n = net_frag_build(f, 77, i, m, length, frag);
        assert_true(n <= NET_UV_PLAIN_MAX);
        int rc = net_frag_offer(f, 3, 8, 0, frag, n, &out, &out_length);
        assert_int_equal(rc, k + 1 < count ? NET_FRAG_PENDING : DYN_OK);
    }
    assert_int_equal(out_length, length);
    assert_memory_equal(out, m, length);
    free(m);
    net_frag_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_out_of_order_and_duplicates),
        cmocka_unit_test(test_missing_fragment_times_out),
        cmocka_unit_test(test_two_senders_interleaved),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_one_mebibyte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
