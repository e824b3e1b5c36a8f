/*
 * test_bundle.c: several messages in one datagram (net/bundle.h).
 *
 * Built and read back in order; one message sealed alone; the size bound; and refusal of every
 * malformed bundle whole: short, wrong marker, counts out of range, empty or overrunning items,
 * trailing bytes, nesting, and every truncation of a good one.
 */
#define _POSIX_C_SOURCE 200809L /* uv.h, through frag.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/status.h"
#include "net/bundle.h"
#include "net/frag.h"

static net_bundle_t b;

static void test_round_trip(void **state)
{
    (void)state;
    net_bundle_reset(&b);
    size_t length;
    assert_null(net_bundle_plain(&b, &length));
    const char *words[] = {"\xD7one", "\xD7two two", "\xD7three three three"};
    net_bundle_add(&b, (const uint8_t *)words[0], strlen(words[0]));
    /* One message: sealed as itself, no bundle around it. */
    const uint8_t *plain = net_bundle_plain(&b, &length);
    assert_int_equal(length, strlen(words[0]));
    assert_memory_equal(plain, words[0], length);
    net_bundle_add(&b, (const uint8_t *)words[1], strlen(words[1]));
    net_bundle_add(&b, (const uint8_t *)words[2], strlen(words[2]));
    plain = net_bundle_plain(&b, &length);
    assert_int_equal(plain[0], NET_BUNDLE_MARKER);
    uint32_t count = 0;
    assert_int_equal(net_bundle_check(plain, length, &count), DYN_OK);
    assert_int_equal(count, 3);
    size_t at = NET_BUNDLE_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *m;
        size_t n;
        net_bundle_next(plain, &at, &m, &n);
        assert_int_equal(n, strlen(words[i]));
        assert_memory_equal(m, words[i], n);
    }
    assert_int_equal(at, length);
}

static void test_size_bound(void **state)
{
    (void)state;
    static uint8_t big[NET_BUNDLE_BYTES_MAX];
    memset(big, 0xD7, sizeof(big));
    net_bundle_reset(&b);
    size_t room = NET_BUNDLE_BYTES_MAX - NET_BUNDLE_HEADER_BYTES - NET_BUNDLE_ITEM_HEADER_BYTES;
    assert_false(net_bundle_fits(&b, 0));
    assert_false(net_bundle_fits(&b, room + 1));
    assert_true(net_bundle_fits(&b, room));
    net_bundle_add(&b, big, room - 10);
    assert_false(net_bundle_fits(&b, 9));
    assert_true(net_bundle_fits(&b, 8)); /* 10 bytes left: an item header and 8 */
    net_bundle_add(&b, big, 8);
    assert_int_equal(b.length, NET_BUNDLE_BYTES_MAX);
    assert_false(net_bundle_fits(&b, 1));
    size_t length;
    const uint8_t *plain = net_bundle_plain(&b, &length);
    uint32_t count;
    assert_int_equal(net_bundle_check(plain, length, &count), DYN_OK);
    assert_int_equal(count, 2);
}

static int check(const uint8_t *p, size_t n)
{
    uint32_t count;
    return net_bundle_check(p, n, &count);
}

static void test_malformed(void **state)
{
    (void)state;
    /* A good one to break: two messages of 2 and 3 bytes. */
    const uint8_t good[] = {NET_BUNDLE_MARKER, 2, 0, 2, 0, 0xD7, 1, 3, 0, 0xD7, 2, 3};
    assert_int_equal(check(good, sizeof(good)), DYN_OK);
    for (size_t n = 0; n < sizeof(good); n++)
        assert_int_equal(check(good, n), DYN_EBADMSG); /* every truncation */
    uint8_t p[sizeof(good) + 1];
    memcpy(p, good, sizeof(good));
    p[sizeof(good)] = 0;
    assert_int_equal(check(p, sizeof(good) + 1), DYN_EBADMSG); /* a trailing byte */
    memcpy(p, good, sizeof(good));
    p[0] = 0xD7;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG); /* not a bundle */
    memcpy(p, good, sizeof(good));
    p[1] = 1;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG); /* one: never sent as a bundle */
    p[1] = 0;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG);
    p[1] = 3;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG); /* more items than there are */
    p[1] = 0xFF;
    p[2] = 0xFF;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG); /* a huge count */
    memcpy(p, good, sizeof(good));
    p[3] = 0;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG); /* an empty item */
    memcpy(p, good, sizeof(good));
    p[7] = 4;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG); /* an item past the end */
    memcpy(p, good, sizeof(good));
    p[8] = 1;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG); /* a length's high byte */
    memcpy(p, good, sizeof(good));
    p[5] = NET_BUNDLE_MARKER;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG); /* a bundle in a bundle */
    memcpy(p, good, sizeof(good));
    p[9] = NET_FRAG_MARKER;
    assert_int_equal(check(p, sizeof(good)), DYN_EBADMSG); /* a fragment in a bundle */

    /* Longer than any sender makes, though every item is in order: refused. */
    static uint8_t big[NET_BUNDLE_BYTES_MAX + 1];
    size_t first =
        NET_BUNDLE_BYTES_MAX - NET_BUNDLE_HEADER_BYTES - 2 * NET_BUNDLE_ITEM_HEADER_BYTES - 1;
    memset(big, 0xD7, sizeof(big));
    big[0] = NET_BUNDLE_MARKER;
    big[1] = 2;
    big[2] = 0;
    big[3] = (uint8_t)first;
    big[4] = (uint8_t)(first >> 8);
    size_t at = NET_BUNDLE_HEADER_BYTES + NET_BUNDLE_ITEM_HEADER_BYTES + first;
    big[at] = 1;
    big[at + 1] = 0;
    assert_int_equal(check(big, NET_BUNDLE_BYTES_MAX), DYN_OK); /* the largest: 1 byte last */
    big[at] = 2;
    assert_int_equal(check(big, NET_BUNDLE_BYTES_MAX + 1), DYN_EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
