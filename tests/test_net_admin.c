/*
 * test_net_admin.c: the latency histogram behind `dynctl stats` (hist.h) and the admin
 * requests' framing (admin.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/status.h"
#include "net/admin.h"
#include "net/hist.h"

static void test_hist_empty_and_small(void **state)
{
    net_hist_t *h = net_hist_create();
    assert_non_null(h);
    assert_int_equal(net_hist_count(h), 0);
    assert_int_equal(net_hist_quantile(h, 0.5), 0);
    /* below 16 every value has its own bucket: exact */
    for (uint64_t v = 1; v <= 10; v++)
        net_hist_record(h, v);
    assert_int_equal(net_hist_count(h), 10);
    assert_int_equal(net_hist_quantile(h, 0.5), 5);
    assert_int_equal(net_hist_quantile(h, 0.9), 9);
    assert_int_equal(net_hist_quantile(h, 1.0), 10);
    assert_int_equal(net_hist_max(h), 10);
    net_hist_destroy(h);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Against the exact order statistic: never below it, and within 1/16 above it. */
static void test_hist_bounded_error(void **state)
{
    net_hist_t *h = net_hist_create();
    assert_non_null(h);
    enum { N = 100000 };
    uint64_t *v = malloc(N * sizeof(*v));
    assert_non_null(v);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        v[i] = (x % 1000000u) * (i % 7 ? 1u : 1000u); /* microseconds to ~17 minutes */
        net_hist_record(h, v[i]);
    }
    qsort(v, N, sizeof(*v), cmp_u64);
    const double qs[] = {0.01, 0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        size_t rank = (size_t)(qs[i] * N + 0.999999);
        uint64_t exact = v[rank - 1];
        uint64_t got = net_hist_quantile(h, qs[i]);
        assert_true(got >= exact);
        assert_true(got - exact <= exact / 16 + 1);
    }
    assert_int_equal(net_hist_max(h), v[N - 1]);
    assert_int_equal(net_hist_quantile(h, 1.0), v[N - 1]);
    free(v);
    net_hist_destroy(h);
}

static void test_admin_framing(void **state)
{
    uint8_t req[NET_ADMIN_REQUEST_BYTES];
    uint8_t room[NET_ADMIN_MEMBER_SET_BYTES];
    assert_int_equal(net_admin_encode_request(NET_ADMIN_STATS, 0x0102030405060708ULL, NULL,
                                              room), NET_ADMIN_REQUEST_BYTES);
    memcpy(req, room, sizeof(req));
    assert_true(net_admin_is(req, sizeof(req)));
    net_admin_op_t op;
    uint64_t id;
    net_admin_args_t args;
    assert_int_equal(net_admin_decode_request(req, sizeof(req), &op, &id, &args), DYN_OK);
    assert_int_equal(op, NET_ADMIN_STATS);
    assert_int_equal(id, 0x0102030405060708ULL);
    /* truncated, extended, another version, an unknown op: refused */
    assert_int_equal(net_admin_decode_request(req, sizeof(req) - 1, &op, &id, &args),
                     DYN_EBADMSG);
    uint8_t longer[NET_ADMIN_REQUEST_BYTES + 1] = {0};
    memcpy(longer, req, sizeof(req));
    assert_int_equal(net_admin_decode_request(longer, sizeof(longer), &op, &id, &args),
                     DYN_EBADMSG);
    req[1] = 9;
    assert_int_equal(net_admin_decode_request(req, sizeof(req), &op, &id, &args), DYN_EVERSION);
    req[1] = NET_ADMIN_VERSION;
    req[2] = 77;
    assert_int_equal(net_admin_decode_request(req, sizeof(req), &op, &id, &args), DYN_EBADMSG);
    /* a member change carries its operands, and must have exactly them */
    net_admin_args_t set = {.member = 0x01020304u, .status = 3};
    assert_int_equal(net_admin_encode_request(NET_ADMIN_MEMBER_SET, 5, &set, room),
                     NET_ADMIN_MEMBER_SET_BYTES);
    assert_int_equal(net_admin_decode_request(room, sizeof(room), &op, &id, &args), DYN_OK);
    assert_int_equal(op, NET_ADMIN_MEMBER_SET);
    assert_int_equal(id, 5);
    assert_int_equal(args.member, 0x01020304u);
    assert_int_equal(args.status, 3);
    assert_int_equal(net_admin_decode_request(room, NET_ADMIN_REQUEST_BYTES, &op, &id, &args),
                     DYN_EBADMSG);
    assert_int_equal(net_admin_encode_request(NET_ADMIN_MEMBERS, 6, NULL, room),
                     NET_ADMIN_REQUEST_BYTES);
    assert_int_equal(net_admin_decode_request(room, NET_ADMIN_REQUEST_BYTES, &op, &id, &args),
                     DYN_OK);
    assert_int_equal(op, NET_ADMIN_MEMBERS);
    /* a core message is not an admin message, and the two never share a first byte */
    const uint8_t core_msg[] = {0xD7, 7, 1};
    assert_false(net_admin_is(core_msg, sizeof(core_msg)));
    assert_false(net_admin_is(core_msg, 0));

    uint8_t reply[NET_ADMIN_REPLY_HEADER_BYTES + 8];
    net_admin_encode_reply_header(NET_ADMIN_STATS, 42, 7, reply);
    memcpy(reply + NET_ADMIN_REPLY_HEADER_BYTES, "net a=1\n", 8);
    uint32_t node;
    const uint8_t *body;
    size_t body_length;
    assert_int_equal(net_admin_decode_reply(reply, sizeof(reply), &op, &id, &node, &body,
                                            &body_length), DYN_OK);
    assert_int_equal(op, NET_ADMIN_STATS);
    assert_int_equal(id, 42);
    assert_int_equal(node, 7);
    assert_int_equal(body_length, 8);
    assert_memory_equal(body, "net a=1\n", 8);
    /* a request is not a reply, nor a reply a request */
    net_admin_encode_request(NET_ADMIN_STATS, 1, NULL, room);
    assert_int_equal(net_admin_decode_reply(room, NET_ADMIN_REQUEST_BYTES, &op, &id, &node,
                                            &body, &body_length), DYN_EBADMSG);
    assert_int_equal(net_admin_decode_request(reply, NET_ADMIN_REQUEST_BYTES, &op, &id, &args),
                     DYN_EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_empty_and_small),
        cmocka_unit_test(test_hist_bounded_error),
        cmocka_unit_test(test_admin_framing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
