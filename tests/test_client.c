/*
 * test_client.c: the client library through a recording environment.
 *
 * Most tests drive one dyn_client_t by hand: they read what it sent from the fake env, forge the
 * coordinator's CLIENT_REPLY, and fire its timers themselves. The last one runs it against real
 * nodes over the fake network, so the request and reply encodings are checked end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/client.h"
#include "core/codec.h"
#include "core/mem_store.h"
#include "core/node.h"
#include "core/ring.h"
#include "core/status.h"
#include "tests/fake_env.h"

#define SELF 100u
#define TIMEOUT_US 1000u
#define CONTEXT_COPY_MAX 1024u

static const dyn_endpoint_t contacts[3] = {1, 2, 3};

/* What the callbacks saw; results borrow client memory, so the parts we check are copied. */
typedef struct record {
    int calls;
    int status;
    dyn_op_kind_t kind;
    uint64_t request_id;
    dyn_endpoint_t coordinator;
    uint32_t attempts;
    dyn_time_us start_us, end_us;
    bool has_siblings;
    uint32_t sibling_count;
    char first_value[64];
    uint8_t context[CONTEXT_COPY_MAX];
    size_t context_length;
} record_t;

static void on_done(void *arg, const dyn_client_result_t *r)
{
    record_t *rec = arg;
    rec->calls++;
    rec->status = r->status;
    rec->kind = r->kind;
    rec->request_id = r->request_id;
    rec->coordinator = r->coordinator;
    rec->attempts = r->attempts;
    rec->start_us = r->start_us;
    rec->end_us = r->end_us;
    rec->has_siblings = r->siblings != NULL;
    rec->sibling_count = r->siblings ? r->siblings->count : 0;
    rec->first_value[0] = '\0';
    if (r->siblings && r->siblings->count > 0) {
        size_t n = r->siblings->items[0].value_length;
        if (n >= sizeof(rec->first_value))
            n = sizeof(rec->first_value) - 1;
        memcpy(rec->first_value, r->siblings->items[0].value, n);
        rec->first_value[n] = '\0';
    }
    uint8_t bytes[DYN_CONTEXT_MAX];
    int length = dyn_client_context_encode(r, bytes, sizeof(bytes));
    assert_true(length >= 0);
    rec->context_length = (size_t)length;
    if (rec->context_length <= CONTEXT_COPY_MAX && rec->context_length > 0)
        memcpy(rec->context, bytes, rec->context_length);
}

typedef struct fixture {
    fake_env_t env;
    dyn_client_t *client;
} fixture_t;

static fixture_t *fixture_new(uint32_t retries, uint32_t pending_max)
{
    fixture_t *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    fake_env_init(&f->env, SELF);
    const dyn_client_config_t cfg = {
        .nodes = contacts,
        .node_count = 3,
        .timeout_us = TIMEOUT_US,
        .retries = retries,
        .pending_max = pending_max,
        .seed = 42,
    };
    f->client = dyn_client_create(&cfg, fake_env_iface(&f->env));
    if (!f->client) {
        free(f);
        return NULL;
    }
    return f;
}

static int setup(void **state)
{
    *state = fixture_new(2, 64);
    return *state ? 0 : -1;
}

static int setup_small(void **state)
{
    *state = fixture_new(0, 2);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f) {
        dyn_client_destroy(f->client);
        fake_env_free(&f->env);
        free(f);
    }
    return 0;
}

/* ---- helpers -------------------------------------------------------------------------- */

static dyn_client_request_t get_req(const char *key, dyn_endpoint_t via)
{
    dyn_client_request_t r;
    memset(&r, 0, sizeof(r));
    r.kind = DYN_OP_GET;
    r.key = (const uint8_t *)key;
    r.key_length = strlen(key);
    r.via = via;
    return r;
}

static dyn_client_request_t put_req(const char *key, const char *value, dyn_endpoint_t via)
{
    dyn_client_request_t r = get_req(key, via);
    r.kind = DYN_OP_PUT;
    r.value = (const uint8_t *)value;
    r.value_length = strlen(value);
    return r;
}

/* Deliver a forged CLIENT_REPLY to the client; returns what on_message returned. */
static int reply(fixture_t *f, dyn_time_us now, dyn_endpoint_t from, uint64_t request_id,
                 int status, const dyn_vclock_t *context, const dyn_siblings_t *siblings)
{
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_REPLY);
    m.request_id = request_id;
    m.status = status;
    m.coordinator = from;
    if (context)
        dyn_vclock_copy(&m.context, context);
    if (siblings)
        m.siblings = *siblings;
    uint8_t buf[4096];
    int n = dyn_codec_encode(&m, buf, sizeof(buf));
    assert_true(n > 0);
    return dyn_client_on_message(f->client, now, from, buf, (size_t)n);
}

/* Fire the one live timer of the client at its deadline; returns that deadline. */
static dyn_time_us fire(fixture_t *f)
{
    fake_timer_t t[2];
    assert_int_equal(fake_env_live_timers(&f->env, t, 2), 1);
    fake_env_mark_fired(&f->env, t[0].handle);
    dyn_client_on_timer(f->client, t[0].deadline_us, t[0].id);
    return t[0].deadline_us;
}

static uint64_t decoded_request_id(fixture_t *f, size_t index)
{
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_GET);
    assert_int_equal(fake_env_decode(&f->env, index, &m), DYN_OK);
    uint64_t id = m.request_id;
    dyn_msg_clear(&m);
    return id;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_create_rejects_invalid_config(void **state)
{
    (void)state;
    fake_env_t env;
    fake_env_init(&env, SELF);
    dyn_client_config_t cfg = {.nodes = contacts, .node_count = 3, .timeout_us = TIMEOUT_US,
                               .retries = 1, .pending_max = 4, .seed = 1};
    dyn_client_t *c = dyn_client_create(&cfg, fake_env_iface(&env));
    assert_non_null(c);
    dyn_client_destroy(c);
    dyn_client_config_t bad = cfg;
    bad.nodes = NULL;
    assert_null(dyn_client_create(&bad, fake_env_iface(&env)));
    bad = cfg;
    bad.node_count = 0;
    assert_null(dyn_client_create(&bad, fake_env_iface(&env)));
    bad = cfg;
    bad.timeout_us = 0;
    assert_null(dyn_client_create(&bad, fake_env_iface(&env)));
    bad = cfg;
    bad.pending_max = 0;
    assert_null(dyn_client_create(&bad, fake_env_iface(&env)));
    fake_env_free(&env);
}

/* Ids are unique among requests in flight and across reuse of completed slots. */
static void test_request_ids_unique(void **state)
{
    fixture_t *f = *state;
    record_t rec = {0};
    uint64_t ids[48];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 16; i++) {
            dyn_client_request_t r = get_req("k", 0);
            uint64_t *id = &ids[round * 16 + i];
            assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, id), DYN_OK);
            /* The id on the wire is the one handed back. */
            assert_int_equal(decoded_request_id(f, fake_env_send_count(&f->env) - 1), *id);
            for (int j = 0; j < round * 16 + i; j++)
                assert_int_not_equal(ids[j], *id);
        }
        assert_int_equal(dyn_client_pending(f->client), 16);
        /* Complete them all (in reverse) so the next round reuses the same slots. */
        for (int i = 15; i >= 0; i--)
            assert_int_equal(reply(f, 5, 1, ids[round * 16 + i], DYN_OK, NULL, NULL), DYN_OK);
        assert_int_equal(dyn_client_pending(f->client), 0);
    }
    assert_int_equal(rec.calls, 48);
    assert_int_equal(dyn_client_stray_replies(f->client), 0);
    /* With via = 0 the contact is one of the configured nodes. */
    for (size_t i = 0; i < fake_env_send_count(&f->env); i++) {
        dyn_endpoint_t to = fake_env_send_at(&f->env, i)->to;
        assert_true(to == 1 || to == 2 || to == 3);
    }
}

/* The callback runs exactly once, from the reply; anything after it is a stray. */
static void test_callback_once_and_strays(void **state)
{
    fixture_t *f = *state;
    record_t rec = {0};
    uint64_t id;
    dyn_client_request_t r = put_req("key", "value", 2);
    assert_int_equal(dyn_client_submit(f->client, 10, &r, on_done, &rec, &id), DYN_OK);
    assert_int_equal(rec.calls, 0); /* never from inside submit */
    assert_int_equal(fake_env_send_count(&f->env), 1);
    assert_int_equal(fake_env_send_at(&f->env, 0)->to, 2);
    dyn_msg_t sent;
    dyn_msg_init(&sent, DYN_MSG_CLIENT_PUT);
    assert_int_equal(fake_env_decode(&f->env, 0, &sent), DYN_OK);
    assert_int_equal(sent.type, DYN_MSG_CLIENT_PUT);
    assert_int_equal(sent.put_flags, 0);
    assert_int_equal(sent.value_length, 5);
    assert_memory_equal(sent.value, "value", 5);
    assert_int_equal(sent.context.count, 0);
    dyn_msg_clear(&sent);

    /* A reply for an unknown id is stray and completes nothing. */
    assert_int_equal(reply(f, 11, 2, id + 1, DYN_OK, NULL, NULL), DYN_OK);
    assert_int_equal(reply(f, 11, 2, id ^ (1ull << 40), DYN_OK, NULL, NULL), DYN_OK);
    assert_int_equal(dyn_client_stray_replies(f->client), 2);
    assert_int_equal(rec.calls, 0);

    dyn_vclock_t vc;
    dyn_vclock_init(&vc);
    dyn_vclock_increment(&vc, 2, 1, 11, 10);
    assert_int_equal(reply(f, 20, 2, id, DYN_OK, &vc, NULL), DYN_OK);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, DYN_OK);
    assert_int_equal(rec.kind, DYN_OP_PUT);
    assert_int_equal(rec.request_id, id);
    assert_int_equal(rec.coordinator, 2);
    assert_int_equal(rec.attempts, 1);
    assert_int_equal(rec.start_us, 10);
    assert_int_equal(rec.end_us, 20);
    assert_false(rec.has_siblings); /* only gets carry siblings */
    assert_true(rec.context_length > 0);
    assert_int_equal(fake_env_live_timer_count(&f->env), 0); /* cancelled by the reply */
    assert_int_equal(dyn_client_pending(f->client), 0);

    /* The same reply again, and a datagram of another type with the same id: both stray. */
    assert_int_equal(reply(f, 21, 2, id, DYN_OK, &vc, NULL), DYN_OK);
    dyn_msg_t other;
    dyn_msg_init(&other, DYN_MSG_REPLICA_PUT_REPLY);
    other.request_id = id;
    uint8_t buf[64];
    int n = dyn_codec_encode(&other, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(dyn_client_on_message(f->client, 22, 2, buf, (size_t)n), DYN_OK);
    assert_int_equal(dyn_client_stray_replies(f->client), 4);
    assert_int_equal(rec.calls, 1);

    /* Garbage is refused, not delivered, and counted apart from strays. */
    assert_int_equal(dyn_client_bad_messages(f->client), 0);
    const uint8_t junk[] = {DYN_WIRE_MAGIC, DYN_WIRE_VERSION, 0x03, 0xFF};
    assert_int_equal(dyn_client_on_message(f->client, 23, 2, junk, sizeof(junk)), DYN_EBADMSG);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(dyn_client_bad_messages(f->client), 1);
    assert_int_equal(dyn_client_stray_replies(f->client), 4);

    /* A timer for the finished request does nothing. */
    dyn_client_on_timer(f->client, 10 + TIMEOUT_US, f->env.timers[0].id);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(fake_env_send_count(&f->env), 1);
}

/* Timeouts retry with the same bytes on the next contact, then report DYN_ETIMEDOUT. */
static void test_timeout_retries_then_fails(void **state)
{
    fixture_t *f = *state;
    record_t rec = {0};
    uint64_t id;
    dyn_client_request_t r = put_req("key", "value", 1);
    assert_int_equal(dyn_client_submit(f->client, 100, &r, on_done, &rec, &id), DYN_OK);
    const fake_msg_t *first = fake_env_send_at(&f->env, 0);
    assert_int_equal(first->to, 1);
    assert_int_equal(fake_env_last_timer(&f->env)->deadline_us, 100 + TIMEOUT_US);

    dyn_time_us t = fire(f);
    assert_int_equal(fake_env_send_count(&f->env), 2);
    assert_int_equal(fake_env_send_at(&f->env, 1)->to, 2);
    assert_int_equal(fake_env_last_timer(&f->env)->deadline_us, t + TIMEOUT_US);
    t = fire(f);
    assert_int_equal(fake_env_send_count(&f->env), 3);
    assert_int_equal(fake_env_send_at(&f->env, 2)->to, 3);
    for (size_t i = 1; i < 3; i++) {
        const fake_msg_t *m = fake_env_send_at(&f->env, i);
        assert_int_equal(m->length, first->length);
        assert_memory_equal(m->bytes, first->bytes, first->length);
    }
    assert_int_equal(rec.calls, 0);

    t = fire(f);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, DYN_ETIMEDOUT);
    assert_int_equal(rec.attempts, 3);
    assert_int_equal(rec.request_id, id);
    assert_int_equal(rec.coordinator, 0);
    assert_int_equal(rec.context_length, 0);
    assert_int_equal(rec.start_us, 100);
    assert_int_equal(rec.end_us, t);
    assert_int_equal(fake_env_send_count(&f->env), 3); /* no fourth attempt */
    assert_int_equal(fake_env_live_timer_count(&f->env), 0);
    assert_int_equal(dyn_client_pending(f->client), 0);

    /* An answer that finally turns up is stray. */
    assert_int_equal(reply(f, t + 1, 3, id, DYN_OK, NULL, NULL), DYN_OK);
    assert_int_equal(dyn_client_stray_replies(f->client), 1);
    assert_int_equal(rec.calls, 1);

    /* Retries wrap around the contact list. */
    r.via = 3;
    assert_int_equal(dyn_client_submit(f->client, t, &r, on_done, &rec, &id), DYN_OK);
    assert_int_equal(fake_env_send_at(&f->env, 3)->to, 3);
    fire(f);
    assert_int_equal(fake_env_send_at(&f->env, 4)->to, 1);
}

/*
 * A write refused on its first attempt failed; refused on a retry, its outcome is unknown (the
 * attempt that timed out may have been applied), so the result is a timeout, never a refusal.
 */
static void test_refusal_after_timeout_is_indeterminate(void **state)
{
    fixture_t *f = *state;
    record_t rec = {0};
    uint64_t id;
    dyn_client_request_t r = put_req("key", "value", 1);
    assert_int_equal(dyn_client_submit(f->client, 100, &r, on_done, &rec, &id), DYN_OK);
    assert_int_equal(reply(f, 200, 1, id, DYN_ESIBLINGS, NULL, NULL), DYN_OK);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, DYN_ESIBLINGS);
    assert_int_equal(rec.attempts, 1);

    assert_int_equal(dyn_client_submit(f->client, 300, &r, on_done, &rec, &id), DYN_OK);
    dyn_time_us t = fire(f);
    assert_int_equal(reply(f, t + 5, 2, id, DYN_ESIBLINGS, NULL, NULL), DYN_OK);
    assert_int_equal(rec.calls, 2);
    assert_int_equal(rec.status, DYN_ETIMEDOUT);
    assert_int_equal(rec.attempts, 2);

    /* A read has no effect to be unsure of: its refusal stands. */
    dyn_client_request_t g = get_req("key", 1);
    assert_int_equal(dyn_client_submit(f->client, t + 10, &g, on_done, &rec, &id), DYN_OK);
    t = fire(f);
    assert_int_equal(reply(f, t + 5, 2, id, DYN_ENOQUORUM, NULL, NULL), DYN_OK);
    assert_int_equal(rec.calls, 3);
    assert_int_equal(rec.status, DYN_ENOQUORUM);
}

/*
 * "Moved" (two nodes' rings disagree during a membership change) is retried at once at the next
 * contact, not at the deadline; when no retry is left the outcome is unknown: a duplicate of the
 * datagram may have reached a node whose ring still gave it the key.
 */
static void test_moved_is_retried_then_unknown(void **state)
{
    fixture_t *f = *state;
    record_t rec = {0};
    uint64_t id;
    dyn_client_request_t r = put_req("key", "value", 1);
    assert_int_equal(dyn_client_submit(f->client, 100, &r, on_done, &rec, &id), DYN_OK);
    for (uint32_t attempt = 1; attempt <= 3; attempt++) {
        assert_int_equal(fake_env_send_count(&f->env), attempt);
        assert_int_equal(fake_env_send_at(&f->env, attempt - 1)->to, attempt);
        assert_int_equal(rec.calls, 0);
        assert_int_equal(reply(f, 100 + attempt, attempt, id, DYN_EMOVED, NULL, NULL), DYN_OK);
    }
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, DYN_ETIMEDOUT);
    assert_int_equal(rec.attempts, 3);
    assert_int_equal(fake_env_send_count(&f->env), 3);
    assert_int_equal(fake_env_live_timer_count(&f->env), 0);
    assert_int_equal(dyn_client_pending(f->client), 0);
    /* A retry that is answered ok is ok. */
    assert_int_equal(dyn_client_submit(f->client, 200, &r, on_done, &rec, &id), DYN_OK);
    assert_int_equal(reply(f, 201, 1, id, DYN_EMOVED, NULL, NULL), DYN_OK);
    assert_int_equal(reply(f, 202, 2, id, DYN_OK, NULL, NULL), DYN_OK);
    assert_int_equal(rec.calls, 2);
    assert_int_equal(rec.status, DYN_OK);
    assert_int_equal(rec.attempts, 2);
}

/*
 * Datagrams that do not decode are counted by dyn_client_bad_messages() and change nothing: a
 * valid reply cut short, one with a trailing byte, one whose sibling breaks the dot rules, and one
 * from a newer wire format. The pending request still completes from the real reply afterwards.
 */
static void test_bad_messages_counted(void **state)
{
    fixture_t *f = *state;
    record_t rec = {0};
    uint64_t id;
    dyn_client_request_t r = get_req("key", 1);
    assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, &id), DYN_OK);

    dyn_version_t v;
    memset(&v, 0, sizeof(v));
    v.timestamp_us = 3;
    v.dot = (dyn_vclock_entry_t){.node = 1, .epoch = 1, .counter = 2, .timestamp_us = 3};
    v.value = (const uint8_t *)"val";
    v.value_length = 3;
    dyn_siblings_t set = {.count = 1, .capacity = 1, .items = &v};
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_REPLY);
    m.request_id = id;
    m.coordinator = 1;
    m.siblings = set;
    uint8_t good[256], bad[256];
    int n = dyn_codec_encode(&m, good, sizeof(good));
    assert_true(n > 4);
    uint64_t expected = 0;
    for (size_t len = 0; len < (size_t)n; len += 3) {
        assert_int_equal(dyn_client_on_message(f->client, 1, 1, good, len), DYN_EBADMSG);
        expected++;
    }
    memcpy(bad, good, (size_t)n);
    bad[n] = 0;
    assert_int_equal(dyn_client_on_message(f->client, 1, 1, bad, (size_t)n + 1), DYN_EBADMSG);
    expected++;
    /* The dot counter is the byte before the empty past and the value: 02 00 03 'v' 'a' 'l'. */
    assert_int_equal(bad[n - 6], 2);
    bad[n - 6] = 0; /* a dot with counter 0 */
    assert_int_equal(dyn_client_on_message(f->client, 1, 1, bad, (size_t)n), DYN_EBADMSG);
    expected++;
    memcpy(bad, good, (size_t)n);
    bad[1] = DYN_WIRE_VERSION + 1;
    assert_int_equal(dyn_client_on_message(f->client, 1, 1, bad, (size_t)n), DYN_EVERSION);
    expected++;
    assert_int_equal(dyn_client_bad_messages(f->client), expected);
    assert_int_equal(dyn_client_stray_replies(f->client), 0);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(dyn_client_pending(f->client), 1);

    assert_int_equal(dyn_client_on_message(f->client, 2, 1, good, (size_t)n), DYN_OK);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, DYN_OK);
    assert_int_equal(rec.sibling_count, 1);
    assert_string_equal(rec.first_value, "val");
    assert_int_equal(dyn_client_bad_messages(f->client), expected);
}

/* The first attempt's answer arriving after a retry completes the request, exactly once. */
static void test_late_reply_after_retry(void **state)
{
    fixture_t *f = *state;
    record_t rec = {0};
    uint64_t id;
    dyn_client_request_t r = get_req("key", 1);
    assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, &id), DYN_OK);
    fire(f);
    assert_int_equal(fake_env_send_count(&f->env), 2);
    assert_int_equal(reply(f, TIMEOUT_US + 5, 1, id, DYN_ENOTFOUND, NULL, NULL), DYN_OK);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, DYN_ENOTFOUND);
    assert_int_equal(rec.attempts, 2);
    assert_int_equal(rec.coordinator, 1);
    assert_true(rec.has_siblings);
    assert_int_equal(rec.sibling_count, 0);
    /* The second attempt's timer went with it. */
    assert_int_equal(fake_env_live_timer_count(&f->env), 0);
    /* The second attempt's answer is a duplicate. */
    assert_int_equal(reply(f, TIMEOUT_US + 6, 2, id, DYN_OK, NULL, NULL), DYN_OK);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(dyn_client_stray_replies(f->client), 1);
    /* Even a timer that fired late for it does nothing. */
    dyn_client_on_timer(f->client, 3 * TIMEOUT_US, fake_env_last_timer(&f->env)->id);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(fake_env_send_count(&f->env), 2);
}

/* pending_max bounds the requests in flight. */
static void test_pending_max(void **state)
{
    fixture_t *f = *state; /* pending_max 2, retries 0 */
    record_t rec = {0};
    uint64_t a, b, c;
    dyn_client_request_t r = get_req("k", 1);
    assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, &a), DYN_OK);
    assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, &b), DYN_OK);
    size_t sends = fake_env_send_count(&f->env);
    size_t timers = f->env.timer_count;
    assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, &c), DYN_EFULL);
    assert_int_equal(fake_env_send_count(&f->env), sends);
    assert_int_equal(f->env.timer_count, timers);
    assert_int_equal(dyn_client_pending(f->client), 2);
    /* retries = 0: one timeout and the request is over, freeing a slot. */
    fake_timer_t t[2];
    assert_int_equal(fake_env_live_timers(&f->env, t, 2), 2);
    fake_env_mark_fired(&f->env, t[0].handle);
    dyn_client_on_timer(f->client, t[0].deadline_us, t[0].id);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, DYN_ETIMEDOUT);
    assert_int_equal(rec.attempts, 1);
    assert_int_equal(rec.request_id, a);
    assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, &c), DYN_OK);
    assert_int_not_equal(c, a);
    assert_int_not_equal(c, b);
}

/* Invalid requests are refused synchronously: no send, no timer, no callback. */
static void test_invalid_requests(void **state)
{
    fixture_t *f = *state;
    record_t rec = {0};
    uint8_t *big_key = calloc(DYN_KEY_MAX + 1, 1);
    uint8_t *big_value = calloc(DYN_VALUE_MAX + 1, 1);
    assert_non_null(big_key);
    assert_non_null(big_value);
    memset(big_key, 'k', DYN_KEY_MAX + 1);

    dyn_vclock_t vc;
    dyn_vclock_init(&vc);
    dyn_vclock_increment(&vc, 1, 1, 5, 10);
    uint8_t ctx[64] = {0};
    int ctx_len = dyn_codec_encode_vclock(&vc, ctx, sizeof(ctx));
    assert_true(ctx_len > 1);

    struct {
        dyn_client_request_t req;
        int status;
    } cases[12];
    size_t n = 0;
    cases[n].req = get_req("k", 0);
    cases[n].req.key_length = 0; /* empty key */
    cases[n++].status = DYN_EINVAL;
    cases[n].req = get_req("k", 0);
    cases[n].req.key = NULL;
    cases[n++].status = DYN_EINVAL;
    cases[n].req = get_req("k", 0);
    cases[n].req.key = big_key;
    cases[n].req.key_length = DYN_KEY_MAX + 1;
    cases[n++].status = DYN_EINVAL;
    cases[n].req = put_req("k", "v", 0);
    cases[n].req.kind = DYN_OP_GET; /* a value on a get */
    cases[n++].status = DYN_EINVAL;
    cases[n].req = put_req("k", "v", 0);
    cases[n].req.kind = DYN_OP_DELETE; /* a value on a delete */
    cases[n++].status = DYN_EINVAL;
    cases[n].req = put_req("k", "v", 0);
    cases[n].req.context = ctx;
    cases[n].req.context_length = (size_t)ctx_len - 1; /* truncated context */
    cases[n++].status = DYN_EINVAL;
    cases[n].req = put_req("k", "v", 0);
    cases[n].req.context = (const uint8_t *)"\x01\x01\x01\x00\x00"; /* counter 0 */
    cases[n].req.context_length = 5;
    cases[n++].status = DYN_EINVAL;
    cases[n].req = put_req("k", "v", 0);
    cases[n].req.context = ctx;
    cases[n].req.context_length = (size_t)ctx_len + 1; /* a trailing byte */
    cases[n++].status = DYN_EINVAL;
    cases[n].req = put_req("k", "v", 0);
    cases[n].req.value = big_value;
    cases[n].req.value_length = DYN_VALUE_MAX + 1;
    cases[n++].status = DYN_ETOOBIG;
    cases[n].req = get_req("k", 0);
    cases[n].req.kind = DYN_OP_KIND_COUNT_;
    cases[n++].status = DYN_EINVAL;
    cases[n].req = get_req("k", 0);
    cases[n].req.opts.flags = 0x80; /* unknown flag */
    cases[n++].status = DYN_EINVAL;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = 12345;
        assert_int_equal(dyn_client_submit(f->client, 0, &cases[i].req, on_done, &rec, &id),
                         cases[i].status);
        assert_int_equal(id, 12345); /* untouched on failure */
    }
    assert_int_equal(fake_env_send_count(&f->env), 0);
    assert_int_equal(f->env.timer_count, 0);
    assert_int_equal(dyn_client_pending(f->client), 0);
    assert_int_equal(rec.calls, 0);

    /* The boundaries themselves are accepted. */
    dyn_client_request_t ok = get_req("k", 1);
    ok.key = big_key;
    ok.key_length = DYN_KEY_MAX;
    assert_int_equal(dyn_client_submit(f->client, 0, &ok, on_done, &rec, NULL), DYN_OK);
    ok = put_req("k", "v", 1);
    ok.value = big_value;
    ok.value_length = DYN_VALUE_MAX;
    ok.context = ctx;
    ok.context_length = (size_t)ctx_len;
    assert_int_equal(dyn_client_submit(f->client, 0, &ok, on_done, &rec, NULL), DYN_OK);
    assert_int_equal(fake_env_send_count(&f->env), 2);
    assert_true(fake_env_send_at(&f->env, 1)->length > DYN_VALUE_MAX);
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_PUT);
    assert_int_equal(fake_env_decode(&f->env, 1, &m), DYN_OK);
    assert_true(dyn_vclock_compare(&m.context, &vc) == DYN_VC_EQUAL);
    dyn_msg_clear(&m);
    /* A delete has no value and carries the tombstone flag. */
    ok = get_req("k", 1);
    ok.kind = DYN_OP_DELETE;
    assert_int_equal(dyn_client_submit(f->client, 0, &ok, on_done, &rec, NULL), DYN_OK);
    dyn_msg_init(&m, DYN_MSG_CLIENT_PUT);
    assert_int_equal(fake_env_decode(&f->env, 2, &m), DYN_OK);
    assert_int_equal(m.type, DYN_MSG_CLIENT_PUT);
    assert_true(m.put_flags & DYN_VERSION_TOMBSTONE);
    assert_int_equal(m.value_length, 0);
    dyn_msg_clear(&m);
    free(big_key);
    free(big_value);
}

/* The context handed to the callback is the reply's clock, and goes back out on a put. */
static void test_context_roundtrip(void **state)
{
    fixture_t *f = *state;
    record_t rec = {0};
    uint64_t id;
    dyn_client_request_t r = get_req("key", 1);
    assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, &id), DYN_OK);

    /* "red" is event 1:1:3 written on top of 1:1:2; "blue" is event 2:7:1, written blind. */
    dyn_vclock_t c1, merged;
    dyn_vclock_init(&c1);
    for (int i = 0; i < 2; i++)
        dyn_vclock_increment(&c1, 1, 1, 1000 + (uint64_t)i, 10);
    dyn_version_t items[2];
    memset(items, 0, sizeof(items));
    items[0].clock = c1;
    items[0].timestamp_us = 1002;
    items[0].dot = (dyn_vclock_entry_t){.node = 1, .epoch = 1, .counter = 3, .timestamp_us = 1002};
    items[0].value = (const uint8_t *)"red";
    items[0].value_length = 3;
    items[1].timestamp_us = 5000000000ull;
    items[1].dot = (dyn_vclock_entry_t){
        .node = 2, .epoch = 7, .counter = 1, .timestamp_us = 5000000000ull};
    items[1].value = (const uint8_t *)"blue";
    items[1].value_length = 4;
    if (dyn_version_order(&items[0], &items[1]) > 0) {
        dyn_version_t tmp = items[0];
        items[0] = items[1];
        items[1] = tmp;
    }
    dyn_siblings_t set = {.count = 2, .capacity = 2, .items = items};
    dyn_siblings_context(&set, &merged);
    /* The context is the join of both pasts and both dots. */
    assert_int_equal(merged.count, 2);
    assert_int_equal(dyn_vclock_get(&merged, 1, 1), 3);
    assert_int_equal(dyn_vclock_get(&merged, 2, 7), 1);
    assert_int_equal(reply(f, 7, 1, id, DYN_OK, &merged, &set), DYN_OK);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, DYN_OK);
    assert_int_equal(rec.kind, DYN_OP_GET);
    assert_true(rec.has_siblings);
    assert_int_equal(rec.sibling_count, 2);
    assert_true(strcmp(rec.first_value, "red") == 0 || strcmp(rec.first_value, "blue") == 0);

    dyn_vclock_t decoded;
    assert_true(rec.context_length > 0 && rec.context_length <= CONTEXT_COPY_MAX);
    assert_int_equal(dyn_codec_decode_vclock(rec.context, rec.context_length, &decoded), DYN_OK);
    assert_int_equal(dyn_vclock_compare(&decoded, &merged), DYN_VC_EQUAL);
    assert_int_equal(decoded.count, 2);
    for (uint32_t i = 0; i < decoded.count; i++)
        assert_int_equal(decoded.entries[i].timestamp_us, merged.entries[i].timestamp_us);
    for (uint32_t i = 0; i < 2; i++)
        assert_true(dyn_vclock_covers(&decoded, items[i].dot.node, items[i].dot.epoch,
                                      items[i].dot.counter));

    /* Handing the context back: the put carries exactly that clock. */
    uint8_t ctx[CONTEXT_COPY_MAX];
    size_t ctx_len = rec.context_length;
    memcpy(ctx, rec.context, ctx_len);
    dyn_client_request_t p = put_req("key", "green", 1);
    p.context = ctx;
    p.context_length = ctx_len;
    assert_int_equal(dyn_client_submit(f->client, 8, &p, on_done, &rec, &id), DYN_OK);
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_PUT);
    assert_int_equal(fake_env_decode(&f->env, fake_env_send_count(&f->env) - 1, &m), DYN_OK);
    assert_int_equal(dyn_vclock_compare(&m.context, &merged), DYN_VC_EQUAL);
    dyn_msg_clear(&m);

    /* A reply without a clock gives no context. */
    assert_int_equal(reply(f, 9, 1, id, DYN_OK, NULL, NULL), DYN_OK);
    assert_int_equal(rec.calls, 2);
    assert_int_equal(rec.context_length, 0);
}

/* A callback may submit the next request; it gets a fresh id even if it reuses the slot. */
typedef struct chain {
    dyn_client_t *client;
    int calls;
    uint64_t done_id, next_id;
    int submit_status;
} chain_t;

static void on_done_chain(void *arg, const dyn_client_result_t *r)
{
    chain_t *ch = arg;
    ch->calls++;
    ch->done_id = r->request_id;
    if (ch->calls == 1) {
        dyn_client_request_t next = get_req("next", 2);
        ch->submit_status = dyn_client_submit(ch->client, r->end_us, &next, on_done_chain, ch,
                                              &ch->next_id);
    }
}

static void test_submit_from_callback(void **state)
{
    fixture_t *f = *state; /* pending_max 2 */
    chain_t ch = {.client = f->client};
    uint64_t id, other;
    dyn_client_request_t r = get_req("k", 1);
    assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done_chain, &ch, &id), DYN_OK);
    record_t rec = {0};
    assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, &other), DYN_OK);
    /* Table full, yet the callback's submit succeeds: the finished slot is free by then. */
    assert_int_equal(reply(f, 3, 1, id, DYN_OK, NULL, NULL), DYN_OK);
    assert_int_equal(ch.calls, 1);
    assert_int_equal(ch.done_id, id);
    assert_int_equal(ch.submit_status, DYN_OK);
    assert_int_not_equal(ch.next_id, id);
    assert_int_not_equal(ch.next_id, other);
    assert_int_equal(dyn_client_pending(f->client), 2);
    assert_int_equal(fake_env_send_at(&f->env, fake_env_send_count(&f->env) - 1)->to, 2);
    /* The old id no longer completes anything; the new one does. */
    assert_int_equal(reply(f, 4, 1, id, DYN_OK, NULL, NULL), DYN_OK);
    assert_int_equal(ch.calls, 1);
    assert_int_equal(reply(f, 5, 2, ch.next_id, DYN_OK, NULL, NULL), DYN_OK);
    assert_int_equal(ch.calls, 2);
    assert_int_equal(ch.done_id, ch.next_id);
}

/* Pending requests are dropped at destroy without callbacks (and without leaks). */
static void test_destroy_with_pending(void **state)
{
    (void)state;
    fixture_t *f = fixture_new(1, 8);
    assert_non_null(f);
    record_t rec = {0};
    for (int i = 0; i < 5; i++) {
        dyn_client_request_t r = put_req("k", "some value", 0);
        assert_int_equal(dyn_client_submit(f->client, 0, &r, on_done, &rec, NULL), DYN_OK);
    }
    void *s = f;
    teardown(&s);
    assert_int_equal(rec.calls, 0);
}

/*
 * The client against three real nodes: put, get through any contact, two puts with the same
 * context (both kept), delete with the context of both, get.
 */
/*
 * Client-driven coordination (paper 6.4): with the ring, a request's first attempts go to the
 * key's replicas, each once, starting at a random one; later retries fall back to the contact
 * list; `via`, a per-request n, and a ring taken away are honoured.
 */
static void test_ring_sends_to_replicas(void **state)
{
    (void)state;
    enum { NODES = 8, KEYS = 60 };
    uint32_t ids[NODES];
    dyn_endpoint_t all[NODES];
    for (uint32_t i = 0; i < NODES; i++)
        ids[i] = all[i] = i + 1;
    const dyn_ring_config_t rc = {DYN_STRATEGY_S3, 0, 64, 7};
    dyn_ring_t *ring;
    assert_int_equal(dyn_ring_create(&ring, &rc, ids, NODES), DYN_OK);
    fixture_t f;
    fake_env_init(&f.env, SELF);
    const dyn_client_config_t cfg = {.nodes = all, .node_count = NODES, .timeout_us = TIMEOUT_US,
                                     .retries = 3, .pending_max = 4, .seed = 9, .ring = ring,
                                     .ring_n = 3};
    f.client = dyn_client_create(&cfg, fake_env_iface(&f.env));
    assert_non_null(f.client);

    uint32_t first_at[3] = {0};
    for (int k = 0; k < KEYS; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        uint32_t pl[3];
        assert_int_equal(dyn_ring_preference_list(ring, dyn_ring_hash(key, strlen(key)), pl, 3),
                         3);
        record_t rec = {0};
        dyn_client_request_t r = get_req(key, 0);
        size_t base = fake_env_send_count(&f.env);
        assert_int_equal(dyn_client_submit(f.client, 0, &r, on_done, &rec, NULL), DYN_OK);
        fire(&f);
        fire(&f);
        fire(&f);
        assert_int_equal(fake_env_send_count(&f.env), base + 4);
        bool seen[3] = {false, false, false};
        for (size_t a = 0; a < 3; a++) {
            dyn_endpoint_t to = fake_env_send_at(&f.env, base + a)->to;
            int at = -1;
            for (int i = 0; i < 3; i++)
                if (pl[i] == to)
                    at = i;
            assert_true(at >= 0);       /* every one of the first three attempts: a replica */
            assert_false(seen[at]);     /* and never the same replica twice */
            seen[at] = true;
            if (a == 0)
                first_at[at]++;
        }
        fire(&f); /* the fourth attempt went to a contact node; now the request times out */
        assert_int_equal(rec.calls, 1);
        assert_int_equal(rec.status, DYN_ETIMEDOUT);
        assert_int_equal(rec.attempts, 4);
    }
    /* The first attempt spreads over the replicas rather than always hitting the first. */
    for (int i = 0; i < 3; i++)
        assert_true(first_at[i] >= KEYS / 10);

    /* A request's own n narrows the choice; via overrides the ring; without a ring, contacts. */
    uint32_t pl[3];
    assert_int_equal(dyn_ring_preference_list(ring, dyn_ring_hash("x", 1), pl, 3), 3);
    record_t rec = {0};
    for (int i = 0; i < 20; i++) {
        dyn_client_request_t r = get_req("x", 0);
        r.opts.n = 1;
        size_t base = fake_env_send_count(&f.env);
        assert_int_equal(dyn_client_submit(f.client, 0, &r, on_done, &rec, NULL), DYN_OK);
        assert_int_equal(fake_env_send_at(&f.env, base)->to, pl[0]);
        fire(&f);
        fire(&f);
        fire(&f);
        fire(&f);
    }
    dyn_endpoint_t other = pl[0] == 1 ? 2 : 1;
    dyn_client_request_t r = get_req("x", other);
    r.opts.n = 1;
    size_t base = fake_env_send_count(&f.env);
    assert_int_equal(dyn_client_submit(f.client, 0, &r, on_done, &rec, NULL), DYN_OK);
    assert_int_equal(fake_env_send_at(&f.env, base)->to, other);
    for (int i = 0; i < 4; i++)
        fire(&f);
    dyn_client_set_ring(f.client, NULL, 0);
    uint32_t hits = 0;
    for (int i = 0; i < 40; i++) {
        r = get_req("x", 0);
        base = fake_env_send_count(&f.env);
        assert_int_equal(dyn_client_submit(f.client, 0, &r, on_done, &rec, NULL), DYN_OK);
        hits += fake_env_send_at(&f.env, base)->to == pl[0];
        for (int a = 0; a < 4; a++)
            fire(&f);
    }
    assert_true(hits < 40); /* random contacts again, not the replica every time */

    dyn_client_destroy(f.client);
    fake_env_free(&f.env);
    dyn_ring_destroy(ring);
}

static void test_end_to_end_with_nodes(void **state)
{
    (void)state;
    const uint32_t ids[3] = {1, 2, 3};
    const dyn_ring_config_t rc = {DYN_STRATEGY_S3, 0, 64, 99};
    dyn_ring_t *ring;
    assert_int_equal(dyn_ring_create(&ring, &rc, ids, 3), DYN_OK);
    fake_net_t net;
    fake_net_init(&net);
    fake_env_t envs[3], cenv;
    dyn_mem_store_t *stores[3];
    dyn_node_t *nodes[3];
    for (int i = 0; i < 3; i++) {
        dyn_node_config_t cfg;
        dyn_node_config_default(&cfg);
        cfg.id = ids[i];
        stores[i] = dyn_mem_store_create();
        fake_env_init(&envs[i], ids[i]);
        nodes[i] = dyn_node_create(&cfg, ring, dyn_mem_store_storage(stores[i]),
                                   fake_env_iface(&envs[i]));
        assert_non_null(nodes[i]);
        fake_net_attach_node(&net, &envs[i], nodes[i]);
    }
    fake_env_init(&cenv, SELF);
    const dyn_client_config_t cc = {.nodes = contacts, .node_count = 3, .timeout_us = 100000,
                                    .retries = 1, .pending_max = 16, .seed = 5};
    dyn_client_t *client = dyn_client_create(&cc, fake_env_iface(&cenv));
    assert_non_null(client);
    fake_net_attach_client(&net, &cenv, client);

    record_t rec = {0};
    dyn_client_request_t r = put_req("user:42", "alice", 3);
    assert_int_equal(dyn_client_submit(client, 0, &r, on_done, &rec, NULL), DYN_OK);
    fake_net_run(&net, 1000);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, DYN_OK);
    assert_true(rec.context_length > 0);

    for (dyn_endpoint_t via = 1; via <= 3; via++) {
        r = get_req("user:42", via);
        assert_int_equal(dyn_client_submit(client, 0, &r, on_done, &rec, NULL), DYN_OK);
        fake_net_run(&net, 1000);
        assert_int_equal(rec.status, DYN_OK);
        assert_int_equal(rec.sibling_count, 1);
        assert_string_equal(rec.first_value, "alice");
    }
    assert_int_equal(rec.calls, 4);

    /* Two writers with the same context through the same contact: both values survive. */
    uint8_t ctx[CONTEXT_COPY_MAX];
    size_t ctx_len = rec.context_length;
    memcpy(ctx, rec.context, ctx_len);
    const char *writers[2] = {"bob", "carol"};
    for (int i = 0; i < 2; i++) {
        r = put_req("user:42", writers[i], 1);
        r.context = ctx;
        r.context_length = ctx_len;
        assert_int_equal(dyn_client_submit(client, 0, &r, on_done, &rec, NULL), DYN_OK);
        fake_net_run(&net, 1000);
        assert_int_equal(rec.status, DYN_OK);
    }
    r = get_req("user:42", 2);
    assert_int_equal(dyn_client_submit(client, 0, &r, on_done, &rec, NULL), DYN_OK);
    fake_net_run(&net, 1000);
    assert_int_equal(rec.calls, 7);
    assert_int_equal(rec.status, DYN_OK);
    assert_int_equal(rec.sibling_count, 2);
    assert_true(strcmp(rec.first_value, "bob") == 0 || strcmp(rec.first_value, "carol") == 0);

    /* A delete with that get's context removes both. */
    ctx_len = rec.context_length;
    memcpy(ctx, rec.context, ctx_len);
    r = get_req("user:42", 2);
    r.kind = DYN_OP_DELETE;
    r.context = ctx;
    r.context_length = ctx_len;
    assert_int_equal(dyn_client_submit(client, 0, &r, on_done, &rec, NULL), DYN_OK);
    fake_net_run(&net, 1000);
    assert_int_equal(rec.status, DYN_OK);
    r = get_req("user:42", 1);
    assert_int_equal(dyn_client_submit(client, 0, &r, on_done, &rec, NULL), DYN_OK);
    fake_net_run(&net, 1000);
    assert_int_equal(rec.calls, 9);
    assert_int_equal(rec.status, DYN_ENOTFOUND);
    assert_int_equal(rec.sibling_count, 0);
    assert_true(rec.context_length > 0);
    assert_int_equal(fake_net_queued(&net), 0);
    assert_int_equal(dyn_client_pending(client), 0);
    assert_int_equal(dyn_client_stray_replies(client), 0);
    assert_int_equal(dyn_client_bad_messages(client), 0);
    /* Every replica answered, so no node still holds a request. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(dyn_node_pending(nodes[i]), 0);

    dyn_client_destroy(client);
    for (int i = 0; i < 3; i++) {
        dyn_node_destroy(nodes[i]);
        dyn_mem_store_destroy(stores[i]);
    }
    fake_net_free(&net);
    for (int i = 0; i < 3; i++)
        fake_env_free(&envs[i]);
    fake_env_free(&cenv);
    dyn_ring_destroy(ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rejects_invalid_config),
        cmocka_unit_test_setup_teardown(test_request_ids_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_once_and_strays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_is_retried_then_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_after_timeout_is_indeterminate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timeout_retries_then_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_messages_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_reply_after_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_max, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_from_callback, setup_small, teardown),
        cmocka_unit_test(test_destroy_with_pending),
        cmocka_unit_test(test_ring_sends_to_replicas),
        cmocka_unit_test(test_end_to_end_with_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
