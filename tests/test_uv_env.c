/*
 * test_uv_env.c: the libuv environment on its own: timer order, ties and cancels, sealed
 * exchanges on loopback, client endpoints and their bounded table, a message over one datagram
 * sent in fragments and delivered whole, the size bound past that, and address parsing.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/status.h"
#include "net/bundle.h"
#include "net/frag.h"
#include "net/uv_env.h"

static const uint8_t test_key[NET_SEAL_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

typedef struct recorder {
    uv_loop_t *loop;
    uint64_t fired[16];
    dyn_time_us fired_at[16];
    size_t fired_count;
    dyn_endpoint_t from[16];
    char text[16][32];
    size_t received;
    net_uv_t *env;          /* to answer from inside on_message */
    int answer;
    const uint8_t *expect;  /* messages equal to this, byte for byte, are counted in matched */
    size_t expect_length;
    size_t matched;
} recorder_t;

static void rec_timer(void *arg, dyn_time_us now_us, uint64_t id)
{
    recorder_t *r = arg;
    if (r->fired_count < 16) {
        r->fired_at[r->fired_count] = now_us;
        r->fired[r->fired_count++] = id;
    }
}

static void rec_message(void *arg, dyn_time_us now_us, dyn_endpoint_t from, const uint8_t *bytes,
                        size_t length)
{
    (void)now_us;
    recorder_t *r = arg;
    if (r->received < 16) {
        r->from[r->received] = from;
        snprintf(r->text[r->received], sizeof(r->text[0]), "%.*s", (int)length,
                 (const char *)bytes);
    }
    r->received++;
    if (r->expect && length == r->expect_length && memcmp(bytes, r->expect, length) == 0)
        r->matched++;
    if (r->answer) {
        dyn_env_t env = net_uv_env(r->env);
        assert_int_equal(dyn_env_send(&env, from, (const uint8_t *)"pong", 4), DYN_OK);
    }
}

static void on_guard(uv_timer_t *t) { (void)t; }

/* Run the loop until *counter reaches target; fail after two seconds. */
static void run_until(uv_loop_t *loop, const size_t *counter, size_t target)
{
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    uv_timer_start(&guard, on_guard, 2000, 0);
    while (*counter < target && uv_is_active((uv_handle_t *)&guard))
        uv_run(loop, UV_RUN_ONCE);
    assert_true(*counter >= target);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static net_uv_t *make_env(uv_loop_t *loop, recorder_t *r, uint32_t sender, const char *bind,
                          const net_uv_peer_t *peers, size_t peer_count, uint32_t clients_max)
{
    struct sockaddr_storage addr;
    char err[160];
    assert_int_equal(net_uv_parse_addr(bind, &addr, err, sizeof(err)), DYN_OK);
    net_uv_config_t c = {
        .loop = loop, .bind_addr = (const struct sockaddr *)&addr, .peers = peers,
        .peer_count = peer_count, .cluster = "unit", .key = test_key, .key_id = 1,
        .sender_id = sender, .sender_epoch = net_uv_wall_now(), .clients_max = clients_max,
    };
    net_uv_handler_t h = {.on_message = rec_message, .on_timer = rec_timer, .arg = r};
    net_uv_t *env;
    assert_int_equal(net_uv_create(&c, &h, &env, err, sizeof(err)), DYN_OK);
    return env;
}

static void self_peer(net_uv_t *env, uint32_t id, net_uv_peer_t *out)
{
    out->id = id;
    net_uv_local_addr(env, &out->addr);
}

static void test_timers(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    recorder_t r = {.loop = &loop};
    net_uv_peer_t peer = {.id = 1};
    char err[80];
    net_uv_parse_addr("127.0.0.1:9", &peer.addr, err, sizeof(err));
    net_uv_t *env = make_env(&loop, &r, 1, "127.0.0.1:0", &peer, 1, 0);
    dyn_env_t e = net_uv_env(env);
    dyn_time_us now = net_uv_now(env);
    dyn_env_timer_arm(&e, 30, now + 30000);
    dyn_env_timer_arm(&e, 10, now + 10000);
    uint64_t h20 = dyn_env_timer_arm(&e, 20, now + 20000);
    dyn_env_timer_arm(&e, 11, now + 10000); /* a tie: fires after 10, armed first */
    dyn_env_timer_arm(&e, 1, now > 5000 ? now - 5000 : 0); /* already due */
    uint64_t h40 = dyn_env_timer_arm(&e, 40, now + 40000);
    dyn_env_timer_arm(&e, 50, now + 50000);
    assert_int_equal(net_uv_timers_pending(env), 7);
    dyn_env_timer_cancel(&e, h20);
    dyn_env_timer_cancel(&e, h20); /* twice: nothing more happens */
    dyn_env_timer_cancel(&e, h40);
    assert_int_equal(net_uv_timers_pending(env), 5);
    run_until(&loop, &r.fired_count, 5);
    assert_int_equal(r.fired_count, 5);
    const uint64_t want[] = {1, 10, 11, 30, 50};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(r.fired[i], want[i]);
    /* Never early: each fired at or after its deadline. */
    assert_true(r.fired_at[1] >= now + 10000);
    assert_true(r.fired_at[3] >= now + 30000);
    assert_true(r.fired_at[4] >= now + 50000);
    /* A handle whose timer fired cancels nothing, even once its slot is reused. */
    uint64_t h60 = dyn_env_timer_arm(&e, 60, net_uv_now(env) + 1000);
    dyn_env_timer_cancel(&e, h20);
    assert_int_equal(net_uv_timers_pending(env), 1);
    dyn_env_timer_cancel(&e, h60);
    assert_int_equal(net_uv_timers_pending(env), 0);
    net_uv_destroy(env);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_exchange_and_clients(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    recorder_t node_rec = {.loop = &loop, .answer = 1};
    recorder_t a_rec = {.loop = &loop}, b_rec = {.loop = &loop};
    /* The node first (its own table needs its address), then two clients that know it. */
    net_uv_peer_t placeholder = {.id = 1};
    char err[80];
    net_uv_parse_addr("127.0.0.1:9", &placeholder.addr, err, sizeof(err));
    net_uv_t *node = make_env(&loop, &node_rec, 1, "127.0.0.1:0", &placeholder, 1, 1);
    node_rec.env = node;
    net_uv_peer_t peer;
    self_peer(node, 1, &peer);
    net_uv_t *a = make_env(&loop, &a_rec, NET_UV_CLIENT_BASE + 7, "127.0.0.1:0", &peer, 1, 0);
    net_uv_t *b = make_env(&loop, &b_rec, NET_UV_CLIENT_BASE + 8, "127.0.0.1:0", &peer, 1, 0);

    dyn_env_t ea = net_uv_env(a), eb = net_uv_env(b), en = net_uv_env(node);
    assert_int_equal(dyn_env_send(&ea, 1, (const uint8_t *)"ping-a", 6), DYN_OK);
    run_until(&loop, &a_rec.received, 1); /* the node answers, a receives */
    assert_int_equal(node_rec.received, 1);
    assert_string_equal(node_rec.text[0], "ping-a");
    dyn_endpoint_t a_id = node_rec.from[0];
    assert_true(a_id >= NET_UV_CLIENT_BASE);
    assert_int_equal(a_rec.received, 1);
    assert_int_equal(a_rec.from[0], 1);
    assert_string_equal(a_rec.text[0], "pong");

    /* The node's table holds one client: b takes a's place, and a can no longer be answered. */
    assert_int_equal(dyn_env_send(&eb, 1, (const uint8_t *)"ping-b", 6), DYN_OK);
    run_until(&loop, &b_rec.received, 1);
    assert_int_equal(b_rec.received, 1);
    assert_true(node_rec.from[1] >= NET_UV_CLIENT_BASE && node_rec.from[1] != a_id);
    assert_int_equal(dyn_env_send(&en, a_id, (const uint8_t *)"late", 4), DYN_EUNAVAIL);
    net_uv_stats_t s = net_uv_stats(node);
    assert_int_equal(s.no_route, 1);
    assert_int_equal(s.clients_forgotten, 1);
    assert_int_equal(s.delivered, 2);

    /* Over one datagram: sent in fragments and delivered whole, once; over NET_FRAG_MESSAGE_MAX:
     * refused, counted, and nothing is sent. */
    static uint8_t big[NET_UV_PLAIN_MAX + 1000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31 + (i >> 9));
    node_rec.answer = 0;
    node_rec.expect = big;
    node_rec.expect_length = sizeof(big);
    assert_int_equal(dyn_env_send(&ea, 1, big, sizeof(big)), DYN_OK);
    assert_int_equal(net_uv_stats(a).fragmented, 1);
    run_until(&loop, &node_rec.received, 3);
    assert_int_equal(node_rec.matched, 1);
    assert_int_equal(net_uv_stats(node).reassembled, 1);
    assert_int_equal(net_uv_seal_stats(node).unsealed, 4); /* two pings, two fragments */
    uint8_t *huge = calloc(1, NET_FRAG_MESSAGE_MAX + 1);
    assert_non_null(huge);
    assert_int_equal(dyn_env_send(&ea, 1, huge, NET_FRAG_MESSAGE_MAX + 1), DYN_ETOOBIG);
    free(huge);
    assert_int_equal(net_uv_stats(a).send_too_big, 1);
    node_rec.expect = big;
    node_rec.expect_length = NET_UV_PLAIN_MAX;
    assert_int_equal(dyn_env_send(&ea, 1, big, NET_UV_PLAIN_MAX), DYN_OK);
    run_until(&loop, &node_rec.received, 4);
    assert_int_equal(node_rec.matched, 2);
    assert_int_equal(net_uv_stats(a).fragmented, 1); /* one datagram: not fragmented */
    assert_int_equal(net_uv_seal_stats(node).unsealed, 5);
    /* An endpoint nobody has: refused. */
    assert_int_equal(dyn_env_send(&ea, 2, big, 1), DYN_EUNAVAIL);

    net_uv_destroy(a);
    net_uv_destroy(b);
    net_uv_destroy(node);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The owner's before_send runs before anything leaves, every loop turn; a refusal withholds. */
typedef struct gate {
    int calls, refuse;
} gate_t;

static gate_t the_gate;

static int gate_before_send(void *arg)
{
    (void)arg;
    the_gate.calls++;
    return the_gate.refuse;
}

static void test_before_send(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    recorder_t rx_rec = {.loop = &loop}, tx_rec = {.loop = &loop};
    net_uv_peer_t placeholder = {.id = 1};
    char err[80];
    net_uv_parse_addr("127.0.0.1:9", &placeholder.addr, err, sizeof(err));
    net_uv_t *rx = make_env(&loop, &rx_rec, 1, "127.0.0.1:0", &placeholder, 1, 0);
    net_uv_peer_t peer;
    self_peer(rx, 1, &peer);
    struct sockaddr_storage addr;
    net_uv_parse_addr("127.0.0.1:0", &addr, err, sizeof(err));
    net_uv_config_t c = {
        .loop = &loop, .bind_addr = (const struct sockaddr *)&addr, .peers = &peer,
        .peer_count = 1, .cluster = "unit", .key = test_key, .key_id = 1, .sender_id = NET_UV_CLIENT_BASE + 9,
        .sender_epoch = net_uv_wall_now(),
    };
    net_uv_handler_t h = {.on_message = rec_message, .on_timer = rec_timer,
                          .before_send = gate_before_send, .arg = &tx_rec};
    net_uv_t *tx;
    assert_int_equal(net_uv_create(&c, &h, &tx, err, sizeof(err)), DYN_OK);
    dyn_env_t e = net_uv_env(tx);

    /* Sending only batches: the gate is asked when the batch leaves, at the loop's turn. */
    the_gate = (gate_t){0};
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"one", 3), DYN_OK);
    assert_int_equal(the_gate.calls, 0);
    run_until(&loop, &rx_rec.received, 1);
    assert_true(the_gate.calls >= 1);
    assert_string_equal(rx_rec.text[0], "one");

    /* Refused: the batch is dropped and counted, and the loop goes on turning. Two messages to
     * one destination in one turn are one datagram, a bundle. */
    the_gate.refuse = 1;
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"two", 3), DYN_OK);
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"three", 5), DYN_OK);
    int calls = the_gate.calls;
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_true(the_gate.calls > calls);
    assert_int_equal(net_uv_stats(tx).withheld, 1);
    assert_int_equal(net_uv_stats(tx).bundles_sent, 1);
    /* A message in fragments: each fragment is withheld. */
    static uint8_t big[NET_UV_PLAIN_MAX + 1000];
    assert_int_equal(dyn_env_send(&e, 1, big, sizeof(big)), DYN_OK);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(net_uv_stats(tx).withheld, 1 + 2);
    the_gate.refuse = 0;
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"four", 4), DYN_OK);
    run_until(&loop, &rx_rec.received, 2);
    assert_string_equal(rx_rec.text[1], "four"); /* nothing withheld arrived */
    assert_int_equal(net_uv_stats(tx).withheld, 3);

    /* Let through: one turn's messages to one destination arrive in one datagram, in order. */
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"five", 4), DYN_OK);
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"six", 3), DYN_OK);
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"seven", 5), DYN_OK);
    uint64_t received_before = net_uv_stats(rx).received;
    run_until(&loop, &rx_rec.received, 5);
    assert_string_equal(rx_rec.text[2], "five");
    assert_string_equal(rx_rec.text[3], "six");
    assert_string_equal(rx_rec.text[4], "seven");
    assert_int_equal(net_uv_stats(rx).received, received_before + 1);
    assert_int_equal(net_uv_stats(rx).bundles_received, 1);
    assert_int_equal(net_uv_stats(tx).bundles_sent, 2);
    assert_int_equal(net_uv_stats(tx).bundled, 2 + 3);
    /* A message too large to bundle leaves after what the turn bundled for its destination. */
    static uint8_t large[NET_BUNDLE_BYTES_MAX + 100];
    memset(large, 'L', sizeof(large));
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"eight", 5), DYN_OK);
    assert_int_equal(dyn_env_send(&e, 1, large, sizeof(large)), DYN_OK);
    run_until(&loop, &rx_rec.received, 7);
    assert_string_equal(rx_rec.text[5], "eight");
    assert_int_equal(rx_rec.text[6][0], 'L');
    /* Bytes that would read as a bundle or a fragment are refused, not sent. */
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"\xB5xx", 3), DYN_EINVAL);
    assert_int_equal(dyn_env_send(&e, 1, (const uint8_t *)"\xF7xx", 3), DYN_EINVAL);

    net_uv_destroy(tx);
    net_uv_destroy(rx);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage a;
    char err[160], text[NET_UV_ADDR_TEXT_MAX];
    assert_int_equal(net_uv_parse_addr("127.0.0.1:7001", &a, err, sizeof(err)), DYN_OK);
    assert_true(net_uv_addr_is_loopback((struct sockaddr *)&a));
    net_uv_format_addr((struct sockaddr *)&a, text, sizeof(text));
    assert_string_equal(text, "127.0.0.1:7001");
    assert_int_equal(net_uv_parse_addr("[::1]:80", &a, err, sizeof(err)), DYN_OK);
    assert_true(net_uv_addr_is_loopback((struct sockaddr *)&a));
    net_uv_format_addr((struct sockaddr *)&a, text, sizeof(text));
    assert_string_equal(text, "[::1]:80");
    assert_int_equal(net_uv_parse_addr("10.0.0.1:1", &a, err, sizeof(err)), DYN_OK);
    assert_false(net_uv_addr_is_loopback((struct sockaddr *)&a));
    const char *bad[] = {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                         "localhost:80", "::1:80", "[::1]80", "[::1", "1.2.3:4", "1.2.3.4:5x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(net_uv_parse_addr(bad[i], &a, err, sizeof(err)), DYN_EINVAL);
    /* Epochs only grow: a clock behind the stored epoch yields one past it. */
    uint64_t now = net_uv_wall_now();
    assert_true(net_uv_next_epoch(0) >= now);
    assert_int_equal(net_uv_next_epoch(UINT64_C(1) << 62), (UINT64_C(1) << 62) + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_exchange_and_clients),
        cmocka_unit_test(test_before_send),
        cmocka_unit_test(test_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
