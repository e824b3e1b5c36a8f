/*
 * test_codec.c: the wire codec: round trips of every message type, strict rejection of malformed
 * input (truncation, trailing bytes, bad header, over-long lengths and counts, unsorted clocks,
 * sibling sets out of dot order, dots with counter 0 or inside their own past, non-minimal
 * varints, unknown flags), encode bounds, and a fixed-seed random mutation test.
 *
 * Also the seed-corpus generator for tests/fuzz_codec.c:
 *     test_codec --write-corpus tests/corpus/codec
 * writes one file per sample message plus bare sibling-set and clock encodings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/codec.h"
#include "core/prng.h"
#include "core/status.h"

#define BUF_CAP 8192
#define TS0 1700000000000000ull /* a realistic wall clock in microseconds */

/* ------------------------------------------------------------------------------------------ */
/* Sample messages                                                                              */

static const uint8_t KEY_USER[] = "user:1001/profile";
static const uint8_t KEY_CART[] = "cart:7f3a9c";
static const uint8_t VALUE_HELLO[] = "{\"name\":\"ada\",\"visits\":42}";
static const uint8_t VALUE_ALPHA[] = "alpha: the first concurrent write";
static const uint8_t VALUE_BETA[] = "beta";

typedef struct entry_spec {
    uint32_t node, epoch;
    uint64_t counter, timestamp_us;
} entry_spec_t;

static void set_clock(dyn_vclock_t *vc, const entry_spec_t *entries, uint32_t count)
{
    vc->count = count;
    for (uint32_t i = 0; i < count; i++) {
        vc->entries[i].node = entries[i].node;
        vc->entries[i].epoch = entries[i].epoch;
        vc->entries[i].counter = entries[i].counter;
        vc->entries[i].timestamp_us = entries[i].timestamp_us;
    }
}

static const entry_spec_t CLOCK3[] = {
    {1, 1, 3, TS0 + 10}, {2, 1, 1, TS0 + 20}, {300, 7, 100000, TS0 + 30}};
static const entry_spec_t CLOCK_A[] = {{1, 1, 3, TS0 + 10}, {2, 1, 1, TS0 + 20}};
static const entry_spec_t CLOCK_B[] = {{1, 1, 2, TS0 + 5}, {3, 2, 5, TS0 + 25}};
static const entry_spec_t CLOCK_C[] = {{4, 1, 1, TS0 + 40}};
/* Extremes of every field width. */
static const entry_spec_t CLOCK_MAX[] = {
    {0, 0, 1, 0}, {0, UINT32_MAX, UINT64_MAX, UINT64_MAX}, {UINT32_MAX, 0, 127, 128},
    {UINT32_MAX, UINT32_MAX, 128, 16383}};

/* Name a version by its dot; the dot's timestamp mirrors the version's, as decoding sets it. */
static void set_dot(dyn_version_t *v, uint32_t node, uint32_t epoch, uint64_t counter)
{
    v->dot = (dyn_vclock_entry_t){
        .node = node, .epoch = epoch, .counter = counter, .timestamp_us = v->timestamp_us};
}

/*
 * Three versions: two concurrent writes and a concurrent delete, listed in the sibling set's
 * canonical order (by dot) as a replica would store them. No past holds another version's dot.
 */
static void make_versions(dyn_version_t items[3])
{
    memset(items, 0, 3 * sizeof items[0]);
    set_clock(&items[0].clock, CLOCK_B, 2);
    items[0].timestamp_us = TS0 + 25;
    set_dot(&items[0], 1, 1, 4);
    items[0].value = VALUE_BETA;
    items[0].value_length = sizeof VALUE_BETA - 1;
    set_clock(&items[1].clock, CLOCK_A, 2);
    items[1].timestamp_us = TS0 + 20;
    set_dot(&items[1], 2, 1, 2);
    items[1].value = VALUE_ALPHA;
    items[1].value_length = sizeof VALUE_ALPHA - 1;
    set_clock(&items[2].clock, CLOCK_C, 1);
    items[2].timestamp_us = TS0 + 40;
    set_dot(&items[2], 4, 1, 2);
    items[2].flags = DYN_VERSION_TOMBSTONE;
}

typedef struct sample_storage {
    dyn_version_t items[3];
    uint8_t big_value[300];
    dyn_ae_key_t ae_keys[2], ae_pull[2];
    uint8_t view[256];
} sample_storage_t;

enum { SAMPLE_COUNT = 36 };

static const char *const SAMPLE_NAMES[SAMPLE_COUNT] = {
    "client_get",           "client_get_forwarded", "client_put",
    "client_put_delete",    "client_put_300b",      "client_reply_0sib",
    "client_reply_1sib",    "client_reply_3sib",    "client_reply_timeout",
    "replica_get",          "replica_get_reply_0",  "replica_get_reply_1",
    "replica_get_reply_3",  "replica_put",          "replica_put_tombstone",
    "replica_put_reply_ok", "replica_put_reply_err", "replica_put_extremes",
    "client_reply_extremes", "replica_get_hinted",   "replica_put_hinted",
    "handoff_1sib",         "handoff_3sib",         "ping",
    "pong",                 "ae_hashes_root",       "ae_hashes_level",
    "ae_keys",              "ae_pull",              "ae_push",
    "reap_ask",             "reap_commit",          "reap_reply",
    "gossip_digest",        "gossip_view",          "ping_req"};

/* Fill *m with sample number i; pointers reference s and the const tables above. */
static const uint32_t AE_ROOT[1] = {0};
static const uint32_t AE_INDICES[3] = {1, 300, 65535};
static const uint64_t AE_HASHES[3] = {0x0123456789ABCDEFull, 0, UINT64_MAX};

static void make_sample(int i, dyn_msg_t *m, sample_storage_t *s)
{
    s->ae_keys[0] = (dyn_ae_key_t){KEY_USER, sizeof KEY_USER - 1, 0xFEEDFACECAFEBEEFull};
    s->ae_keys[1] = (dyn_ae_key_t){KEY_CART, sizeof KEY_CART - 1, 1};
    s->ae_pull[0] = (dyn_ae_key_t){KEY_USER, sizeof KEY_USER - 1, 0};
    s->ae_pull[1] = (dyn_ae_key_t){KEY_CART, sizeof KEY_CART - 1, 0};
    make_versions(s->items);
    for (size_t j = 0; j < sizeof s->big_value; j++)
        s->big_value[j] = (uint8_t)(j * 7u + 3u);
    static const dyn_msg_type_t types[SAMPLE_COUNT] = {
        DYN_MSG_CLIENT_GET,        DYN_MSG_CLIENT_GET,        DYN_MSG_CLIENT_PUT,
        DYN_MSG_CLIENT_PUT,        DYN_MSG_CLIENT_PUT,        DYN_MSG_CLIENT_REPLY,
        DYN_MSG_CLIENT_REPLY,      DYN_MSG_CLIENT_REPLY,      DYN_MSG_CLIENT_REPLY,
        DYN_MSG_REPLICA_GET,       DYN_MSG_REPLICA_GET_REPLY, DYN_MSG_REPLICA_GET_REPLY,
        DYN_MSG_REPLICA_GET_REPLY, DYN_MSG_REPLICA_PUT,       DYN_MSG_REPLICA_PUT,
        DYN_MSG_REPLICA_PUT_REPLY, DYN_MSG_REPLICA_PUT_REPLY, DYN_MSG_REPLICA_PUT,
        DYN_MSG_CLIENT_REPLY,      DYN_MSG_REPLICA_GET,       DYN_MSG_REPLICA_PUT,
        DYN_MSG_HANDOFF,           DYN_MSG_HANDOFF,           DYN_MSG_PING,
        DYN_MSG_PONG,              DYN_MSG_AE_HASHES,         DYN_MSG_AE_HASHES,
        DYN_MSG_AE_KEYS,           DYN_MSG_AE_PULL,           DYN_MSG_AE_PUSH,
        DYN_MSG_REAP,              DYN_MSG_REAP,              DYN_MSG_REAP_REPLY,
        DYN_MSG_GOSSIP,            DYN_MSG_GOSSIP,            DYN_MSG_PING_REQ};
    dyn_msg_init(m, types[i]);
    m->request_id = 1000u + (uint64_t)i * 977u;
    switch (i) {
    case 0:
        m->opts = (dyn_req_opts_t){3, 2, 2, 0, 0, 0};
        m->key = KEY_USER;
        m->key_length = sizeof KEY_USER - 1;
        break;
    case 1:
        m->request_id = (1ull << 40) + 5;
        m->opts = (dyn_req_opts_t){0, 0, 0, DYN_REQ_FORWARDED, 1, 0};
        m->key = KEY_CART;
        m->key_length = sizeof KEY_CART - 1;
        break;
    case 2:
        m->opts = (dyn_req_opts_t){3, 2, 2, 0, 0, 2};
        m->key = KEY_USER;
        m->key_length = sizeof KEY_USER - 1;
        set_clock(&m->context, CLOCK3, 3);
        m->value = VALUE_HELLO;
        m->value_length = sizeof VALUE_HELLO - 1;
        break;
    case 3:
        m->opts = (dyn_req_opts_t){5, 3, 3, DYN_REQ_FORWARDED, 0, 0};
        m->key = KEY_CART;
        m->key_length = sizeof KEY_CART - 1;
        m->put_flags = DYN_VERSION_TOMBSTONE;
        set_clock(&m->context, CLOCK_C, 1);
        break;
    case 4:
        m->key = KEY_CART;
        m->key_length = sizeof KEY_CART - 1;
        m->value = s->big_value;
        m->value_length = sizeof s->big_value;
        break;
    case 5:
    case 6:
    case 7:
        m->coordinator = 7;
        set_clock(&m->context, CLOCK3, 3);
        m->siblings.items = s->items;
        m->siblings.count = i == 5 ? 0 : i == 6 ? 1 : 3;
        m->siblings.capacity = 3;
        if (i == 5) /* a put's reply names the write */
            m->written = (dyn_vclock_entry_t){.node = 7, .epoch = 0xDEADBEEF, .counter = 300};
        break;
    case 8:
        m->status = DYN_ETIMEDOUT;
        m->coordinator = 12;
        break;
    case 9:
        m->key = KEY_USER;
        m->key_length = sizeof KEY_USER - 1;
        break;
    case 10:
    case 11:
    case 12:
        m->siblings.items = s->items;
        m->siblings.count = i == 10 ? 0 : i == 11 ? 1 : 3;
        m->siblings.capacity = 3;
        break;
    case 13:
        m->key = KEY_USER;
        m->key_length = sizeof KEY_USER - 1;
        m->version = s->items[0];
        break;
    case 14:
        m->key = KEY_CART;
        m->key_length = sizeof KEY_CART - 1;
        m->version = s->items[2];
        m->replica_flags = DYN_REPLICA_SYNC; /* a durable write */
        break;
    case 15:
        break;
    case 16:
        m->status = DYN_ETOOBIG;
        break;
    case 17:
        m->request_id = UINT64_MAX;
        m->key = s->big_value;
        m->key_length = 1;
        set_clock(&m->version.clock, CLOCK_MAX, 4);
        m->version.timestamp_us = UINT64_MAX;
        /* The widest dot; the past's entry for that actor (128) is below it. */
        set_dot(&m->version, UINT32_MAX, UINT32_MAX, UINT64_MAX);
        m->version.value = s->big_value;
        m->version.value_length = 128;
        break;
    case 18:
        m->request_id = 0;
        m->status = -255;
        m->coordinator = UINT32_MAX;
        set_clock(&m->context, CLOCK_MAX, 4);
        m->siblings.items = s->items;
        m->siblings.count = 2;
        m->siblings.capacity = 3;
        break;
    case 19:
        m->hint = 3;
        m->key = KEY_CART;
        m->key_length = sizeof KEY_CART - 1;
        break;
    case 20:
        m->hint = 70000; /* a three-byte varint */
        m->key = KEY_USER;
        m->key_length = sizeof KEY_USER - 1;
        m->version = s->items[1];
        m->replica_flags = DYN_REPLICA_SYNC;
        break;
    case 21:
    case 22:
        m->key = i == 21 ? KEY_USER : KEY_CART;
        m->key_length = (uint32_t)(i == 21 ? sizeof KEY_USER : sizeof KEY_CART) - 1;
        m->siblings.items = s->items;
        m->siblings.count = i == 21 ? 1 : 3;
        m->siblings.capacity = 3;
        break;
    case 23:
    case 24:
        m->request_id = i == 23 ? 0 : UINT64_MAX;
        break;
    case 25:
        m->range = 0;
        m->level = 0;
        m->index_count = 1;
        m->indices = AE_ROOT;
        m->hashes = AE_HASHES;
        break;
    case 26:
        m->range = 70000;
        m->level = 16;
        m->index_count = 3;
        m->indices = AE_INDICES;
        m->hashes = AE_HASHES;
        break;
    case 27:
        m->range = 12;
        m->index_count = 3;
        m->indices = AE_INDICES;
        m->key_count = 2;
        m->keys = s->ae_keys;
        break;
    case 28:
        m->range = 12;
        m->key_count = 2;
        m->keys = s->ae_pull;
        break;
    case 29:
        m->key = KEY_CART;
        m->key_length = sizeof KEY_CART - 1;
        m->siblings.items = s->items;
        m->siblings.count = 2;
        m->siblings.capacity = 3;
        break;
    case 30:
    case 31:
        m->reap_phase = i == 30 ? DYN_REAP_ASK : DYN_REAP_COMMIT;
        m->key = KEY_USER;
        m->key_length = sizeof KEY_USER - 1;
        m->print = i == 30 ? 0x0123456789ABCDEFull : 1;
        break;
    case 32:
        m->status = DYN_EINVAL;
        break;
    case 33:
        m->gossip_flags = DYN_GOSSIP_REPLY;
        m->print = 0x1122334455667788ull;
        break;
    case 34: {
        /* Three members: a valid node with an address, a leaving one in zone 2, a removed one. */
        dyn_membership_t *v = dyn_membership_create();
        assert_non_null(v);
        dyn_member_t a = {.id = 1, .status = DYN_MEMBER_VALID, .version = 3, .addr_length = 14};
        memcpy(a.addr, "127.0.0.1:7001", 14);
        const dyn_member_t b = {.id = 7, .status = DYN_MEMBER_LEAVING, .zone = 2, .version = 1};
        const dyn_member_t c = {.id = 300, .status = DYN_MEMBER_REMOVED, .version = 1u << 20};
        assert_int_equal(dyn_membership_apply(v, &c), 1);
        assert_int_equal(dyn_membership_apply(v, &a), 1);
        assert_int_equal(dyn_membership_apply(v, &b), 1);
        int n = dyn_codec_encode_membership(v, s->view, sizeof s->view);
        assert_true(n > 0);
        m->gossip_flags = DYN_GOSSIP_STATE | DYN_GOSSIP_REPLY;
        m->print = dyn_membership_digest(v);
        m->members_blob = s->view;
        m->members_length = (uint32_t)n;
        dyn_membership_destroy(v);
        break;
    }
    case 35:
        m->request_id = (3ull << 62) | 17;
        m->hint = 5;
        break;
    default:
        fail();
    }
}

static size_t encode_sample(int i, uint8_t *buf, size_t cap)
{
    dyn_msg_t m;
    sample_storage_t s;
    make_sample(i, &m, &s);
    int n = dyn_codec_encode(&m, buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

/* ------------------------------------------------------------------------------------------ */
/* Field-by-field comparison                                                                    */

static void assert_bytes_equal(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    assert_int_equal(alen, blen);
    if (alen > 0) {
        assert_non_null(a);
        assert_non_null(b);
        assert_memory_equal(a, b, alen);
    }
}

static void assert_vclock_equal(const dyn_vclock_t *a, const dyn_vclock_t *b)
{
    assert_int_equal(a->count, b->count);
    for (uint32_t i = 0; i < a->count; i++) {
        assert_int_equal(a->entries[i].node, b->entries[i].node);
        assert_int_equal(a->entries[i].epoch, b->entries[i].epoch);
        assert_true(a->entries[i].counter == b->entries[i].counter);
        assert_true(a->entries[i].timestamp_us == b->entries[i].timestamp_us);
    }
}

static void assert_version_equal(const dyn_version_t *a, const dyn_version_t *b)
{
    assert_int_equal(a->dot.node, b->dot.node);
    assert_int_equal(a->dot.epoch, b->dot.epoch);
    assert_true(a->dot.counter == b->dot.counter);
    assert_vclock_equal(&a->clock, &b->clock);
    assert_true(a->timestamp_us == b->timestamp_us);
    assert_int_equal(a->flags, b->flags);
    assert_bytes_equal(a->value, a->value_length, b->value, b->value_length);
}

static void assert_siblings_equal(const dyn_siblings_t *a, const dyn_siblings_t *b)
{
    assert_int_equal(a->count, b->count);
    for (uint32_t i = 0; i < a->count; i++)
        assert_version_equal(&a->items[i], &b->items[i]);
}

static void assert_msg_equal(const dyn_msg_t *a, const dyn_msg_t *b)
{
    assert_int_equal(a->type, b->type);
    assert_true(a->request_id == b->request_id);
    switch (a->type) {
    case DYN_MSG_CLIENT_GET:
        assert_memory_equal(&a->opts, &b->opts, sizeof a->opts);
        assert_bytes_equal(a->key, a->key_length, b->key, b->key_length);
        break;
    case DYN_MSG_CLIENT_PUT:
        assert_memory_equal(&a->opts, &b->opts, sizeof a->opts);
        assert_bytes_equal(a->key, a->key_length, b->key, b->key_length);
        assert_int_equal(a->put_flags, b->put_flags);
        assert_vclock_equal(&a->context, &b->context);
        assert_bytes_equal(a->value, a->value_length, b->value, b->value_length);
        break;
    case DYN_MSG_CLIENT_REPLY:
        assert_int_equal(a->written.node, b->written.node);
        assert_int_equal(a->written.epoch, b->written.epoch);
        assert_int_equal(a->written.counter, b->written.counter);
        assert_int_equal(a->status, b->status);
        assert_int_equal(a->coordinator, b->coordinator);
        assert_vclock_equal(&a->context, &b->context);
        assert_siblings_equal(&a->siblings, &b->siblings);
        break;
    case DYN_MSG_REPLICA_GET:
        assert_int_equal(a->hint, b->hint);
        assert_bytes_equal(a->key, a->key_length, b->key, b->key_length);
        break;
    case DYN_MSG_REPLICA_GET_REPLY:
        assert_int_equal(a->status, b->status);
        assert_siblings_equal(&a->siblings, &b->siblings);
        break;
    case DYN_MSG_REPLICA_PUT:
        assert_int_equal(a->replica_flags, b->replica_flags);
        assert_int_equal(a->hint, b->hint);
        assert_bytes_equal(a->key, a->key_length, b->key, b->key_length);
        assert_version_equal(&a->version, &b->version);
        break;
    case DYN_MSG_REPLICA_PUT_REPLY:
    case DYN_MSG_REAP_REPLY:
        assert_int_equal(a->status, b->status);
        break;
    case DYN_MSG_REAP:
        assert_int_equal(a->reap_phase, b->reap_phase);
        assert_bytes_equal(a->key, a->key_length, b->key, b->key_length);
        assert_true(a->print == b->print);
        break;
    case DYN_MSG_PING_REQ:
        assert_int_equal(a->hint, b->hint);
        break;
    case DYN_MSG_GOSSIP:
        assert_int_equal(a->gossip_flags, b->gossip_flags);
        assert_true(a->print == b->print);
        if (a->gossip_flags & DYN_GOSSIP_STATE)
            assert_bytes_equal(a->members_blob, a->members_length, b->members_blob,
                               b->members_length);
        else
            assert_int_equal(b->members_length, 0);
        break;
    case DYN_MSG_HANDOFF:
    case DYN_MSG_AE_PUSH:
        assert_bytes_equal(a->key, a->key_length, b->key, b->key_length);
        assert_siblings_equal(&a->siblings, &b->siblings);
        break;
    case DYN_MSG_AE_HASHES:
    case DYN_MSG_AE_KEYS:
    case DYN_MSG_AE_PULL:
        assert_int_equal(a->range, b->range);
        assert_int_equal(a->level, b->level);
        if (a->type == DYN_MSG_AE_PULL) { /* no leaves on the wire */
            assert_int_equal(b->index_count, 0);
        } else {
            assert_int_equal(a->index_count, b->index_count);
        }
        for (uint32_t i = 0; i < b->index_count; i++) {
            assert_int_equal(a->indices[i], b->indices[i]);
            if (a->type == DYN_MSG_AE_HASHES)
                assert_true(a->hashes[i] == b->hashes[i]);
        }
        if (a->type == DYN_MSG_AE_HASHES) { /* no keys on the wire */
            assert_int_equal(b->key_count, 0);
            break;
        }
        assert_int_equal(a->key_count, b->key_count);
        for (uint32_t i = 0; i < a->key_count; i++) {
            assert_bytes_equal(a->keys[i].key, a->keys[i].key_length, b->keys[i].key,
                               b->keys[i].key_length);
            assert_true(a->keys[i].print == b->keys[i].print);
        }
        break;
    case DYN_MSG_PING:
    case DYN_MSG_PONG:
        break;
    default:
        fail();
    }
}

static int has_siblings(dyn_msg_type_t type)
{
    return type == DYN_MSG_CLIENT_REPLY || type == DYN_MSG_REPLICA_GET_REPLY ||
           type == DYN_MSG_HANDOFF || type == DYN_MSG_AE_PUSH;
}

/*
 * A decoded message must re-encode to exactly `bytes`, both through its blob (the replica's
 * passthrough) and through the decoded set (proving the set itself was decoded canonically).
 */
static void assert_reencodes(dyn_msg_t *m, const uint8_t *bytes, size_t length)
{
    uint8_t *again = malloc(length + 1);
    assert_non_null(again);
    assert_int_equal(dyn_codec_encoded_size(m), length);
    assert_int_equal(dyn_codec_encode(m, again, length + 1), (int)length);
    assert_memory_equal(again, bytes, length);
    if (has_siblings(m->type)) {
        assert_non_null(m->siblings_blob);
        assert_true(m->siblings_blob >= bytes && m->siblings_blob < bytes + length);
        assert_true(m->siblings_blob + m->siblings_blob_length <= bytes + length);
        const uint8_t *blob = m->siblings_blob;
        m->siblings_blob = NULL;
        assert_int_equal(dyn_codec_encoded_size(m), length);
        assert_int_equal(dyn_codec_encode(m, again, length), (int)length);
        assert_memory_equal(again, bytes, length);
        m->siblings_blob = blob;
    }
    free(again);
}

/* ------------------------------------------------------------------------------------------ */
/* Round trips                                                                                  */

static void test_roundtrip_every_sample(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        dyn_msg_t m, d;
        sample_storage_t s;
        make_sample(i, &m, &s);
        size_t size = dyn_codec_encoded_size(&m);
        assert_true(size > 3);
        int n = dyn_codec_encode(&m, buf, sizeof buf);
        assert_int_equal(n, (int)size);
        assert_int_equal(buf[0], DYN_WIRE_MAGIC);
        assert_int_equal(buf[1], DYN_WIRE_VERSION);
        assert_int_equal(buf[2], m.type);
        assert_int_equal(dyn_codec_peek_type(buf, size), m.type);
        /* With exactly the room needed the encoder takes its measuring path: same bytes. */
        uint8_t exact[BUF_CAP];
        assert_int_equal(dyn_codec_encode(&m, exact, size), (int)size);
        assert_memory_equal(exact, buf, size);

        dyn_msg_init(&d, (dyn_msg_type_t)0);
        assert_int_equal(dyn_codec_decode(buf, size, &d), DYN_OK);
        assert_msg_equal(&m, &d);
        for (uint32_t k = 0; k < d.siblings.count; k++) {
            assert_false(d.siblings.items[k].owned);
            assert_true(d.siblings.items[k].dot.timestamp_us == d.siblings.items[k].timestamp_us);
        }
        if (d.type == DYN_MSG_REPLICA_PUT) {
            /* The dot's timestamp is not on the wire: it mirrors the version's. */
            assert_true(d.version.dot.timestamp_us == d.version.timestamp_us);
            assert_true(dyn_version_valid(&d.version));
        }
        if (has_siblings(d.type)) {
            /* Decoding allocates exactly the sibling array, nothing for an empty set. */
            assert_int_equal(d.siblings.capacity, m.siblings.count);
            if (m.siblings.count == 0)
                assert_null(d.siblings.items);
            /* The blob is exactly the standalone siblings encoding. */
            uint8_t sib[BUF_CAP];
            int sn = dyn_codec_encode_siblings(&m.siblings, sib, sizeof sib);
            assert_int_equal(sn, (int)d.siblings_blob_length);
            assert_memory_equal(sib, d.siblings_blob, (size_t)sn);
        } else {
            assert_null(d.siblings_blob);
            assert_null(d.siblings.items);
        }
        assert_reencodes(&d, buf, size);

        /* Decoding again into the same message (without clearing) must not leak. */
        assert_int_equal(dyn_codec_decode(buf, size, &d), DYN_OK);
        assert_msg_equal(&m, &d);
        dyn_msg_clear(&d);
        assert_null(d.siblings.items);
        assert_int_equal(d.siblings.count, 0);
    }
}

/* peek_key agrees with a full decode for the four request types and refuses every other type
 * and every truncation before the key's end. */
static void test_peek_key(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    int requests = 0;
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        size_t size = encode_sample(i, buf, sizeof buf);
        dyn_msg_t d;
        dyn_msg_init(&d, (dyn_msg_type_t)0);
        assert_int_equal(dyn_codec_decode(buf, size, &d), DYN_OK);
        const uint8_t *key = NULL;
        size_t key_length = 0;
        uint32_t hint = 7;
        int rc = dyn_codec_peek_key(buf, size, &key, &key_length, &hint);
        bool request = d.type == DYN_MSG_CLIENT_GET || d.type == DYN_MSG_CLIENT_PUT ||
                       d.type == DYN_MSG_REPLICA_GET || d.type == DYN_MSG_REPLICA_PUT;
        if (!request) {
            assert_int_equal(rc, DYN_EBADMSG);
            dyn_msg_clear(&d);
            continue;
        }
        requests++;
        assert_int_equal(rc, DYN_OK);
        assert_int_equal(key_length, d.key_length);
        if (key_length)
            assert_memory_equal(key, d.key, key_length);
        bool replica = d.type == DYN_MSG_REPLICA_GET || d.type == DYN_MSG_REPLICA_PUT;
        assert_int_equal(hint, replica ? d.hint : 0);
        size_t key_end = (size_t)(key - buf) + key_length;
        for (size_t cut = 0; cut < key_end; cut++)
            assert_int_equal(dyn_codec_peek_key(buf, cut, &key, &key_length, &hint), DYN_EBADMSG);
        dyn_msg_clear(&d);
    }
    assert_true(requests >= 4);
}

static void test_value_max_roundtrip(void **state)
{
    (void)state;
    uint8_t *value = malloc(DYN_VALUE_MAX + 1);
    uint8_t *buf = malloc(DYN_MSG_MAX);
    assert_non_null(value);
    assert_non_null(buf);
    for (size_t i = 0; i < DYN_VALUE_MAX + 1; i++)
        value[i] = (uint8_t)(i ^ (i >> 8));

    /* CLIENT_PUT and REPLICA_PUT at exactly the bound. */
    for (int t = 0; t < 2; t++) {
        dyn_msg_t m, d;
        dyn_msg_init(&m, t == 0 ? DYN_MSG_CLIENT_PUT : DYN_MSG_REPLICA_PUT);
        m.request_id = 99;
        m.key = KEY_USER;
        m.key_length = sizeof KEY_USER - 1;
        if (t == 0) {
            set_clock(&m.context, CLOCK3, 3);
            m.value = value;
            m.value_length = DYN_VALUE_MAX;
        } else {
            set_clock(&m.version.clock, CLOCK3, 3);
            m.version.timestamp_us = TS0;
            set_dot(&m.version, 1, 1, 4);
            m.version.value = value;
            m.version.value_length = DYN_VALUE_MAX;
        }
        size_t size = dyn_codec_encoded_size(&m);
        assert_true(size > DYN_VALUE_MAX);
        assert_int_equal(dyn_codec_encode(&m, buf, DYN_MSG_MAX), (int)size);
        dyn_msg_init(&d, (dyn_msg_type_t)0);
        assert_int_equal(dyn_codec_decode(buf, size, &d), DYN_OK);
        assert_msg_equal(&m, &d);
        assert_reencodes(&d, buf, size);
        dyn_msg_clear(&d);

        /* One byte more is refused on encode... */
        if (t == 0)
            m.value_length = DYN_VALUE_MAX + 1;
        else
            m.version.value_length = DYN_VALUE_MAX + 1;
        assert_int_equal(dyn_codec_encoded_size(&m), 0);
        assert_int_equal(dyn_codec_encode(&m, buf, DYN_MSG_MAX), DYN_ETOOBIG);
    }

    /* ...and on decode: a hand-written REPLICA_PUT whose value is DYN_VALUE_MAX + 1 bytes. */
    {
        dyn_msg_t m, d;
        dyn_msg_init(&m, DYN_MSG_REPLICA_PUT);
        m.key = KEY_USER;
        m.key_length = sizeof KEY_USER - 1;
        set_dot(&m.version, 1, 1, 1);
        m.version.value = value;
        m.version.value_length = DYN_VALUE_MAX;
        int n = dyn_codec_encode(&m, buf, DYN_MSG_MAX);
        assert_true(n > 0);
        /* The value length is the last varint before the value: 2^20 = 80 80 40. */
        size_t at = (size_t)n - DYN_VALUE_MAX - 3;
        assert_int_equal(buf[at], 0x80);
        assert_int_equal(buf[at + 1], 0x80);
        assert_int_equal(buf[at + 2], 0x40);
        buf[at] = 0x81; /* 2^20 + 1 */
        buf[(size_t)n] = 0xEE;
        dyn_msg_init(&d, (dyn_msg_type_t)0);
        assert_int_equal(dyn_codec_decode(buf, (size_t)n + 1, &d), DYN_EBADMSG);
        /* The same value as a bare sibling set. */
        dyn_siblings_t set;
        dyn_siblings_init(&set);
        dyn_version_t v;
        memset(&v, 0, sizeof v);
        set_dot(&v, 1, 1, 1);
        v.value = value;
        v.value_length = DYN_VALUE_MAX;
        set.items = &v;
        set.count = 1;
        int sn = dyn_codec_encode_siblings(&set, buf, DYN_MSG_MAX);
        assert_true(sn > 0);
        dyn_siblings_t out;
        dyn_siblings_init(&out);
        assert_int_equal(dyn_codec_decode_siblings(buf, (size_t)sn, &out), DYN_OK);
        assert_int_equal(out.items[0].value_length, DYN_VALUE_MAX);
        dyn_siblings_clear(&out);
        at = (size_t)sn - DYN_VALUE_MAX - 3;
        buf[at] = 0x81;
        buf[(size_t)sn] = 0xEE;
        assert_int_equal(dyn_codec_decode_siblings(buf, (size_t)sn + 1, &out), DYN_EBADMSG);
        assert_int_equal(out.count, 0);
        assert_null(out.items);
        v.value_length = DYN_VALUE_MAX + 1;
        assert_int_equal(dyn_codec_encode_siblings(&set, buf, DYN_MSG_MAX), DYN_ETOOBIG);
        assert_int_equal(dyn_codec_siblings_size(&set), 0);
    }
    free(value);
    free(buf);
}

/*
 * Every field at its widest encoding (u64s of 10 bytes, u32s of 5, 16-entry clocks, 128 siblings
 * (a two-byte count), lengths of 2 and 3 bytes): the encoder's no-measure fast path trusts an
 * upper bound on the size, and these messages reach that bound, so one byte less room must still
 * be refused without a write past it (the buffers are exactly sized for ASan). 128 siblings of
 * 16 KiB stay under DYN_MSG_MAX; the hard sibling cap's worth would not.
 */
#define WIDE_SIBLINGS 128u
DYN_STATIC_ASSERT(WIDE_SIBLINGS <= DYN_SIBLINGS_MAX, "the widest test stays within the cap");
static void set_widest_clock(dyn_vclock_t *vc)
{
    vc->count = DYN_VCLOCK_MAX;
    for (uint32_t i = 0; i < DYN_VCLOCK_MAX; i++) {
        vc->entries[i].node = UINT32_MAX - DYN_VCLOCK_MAX + 1 + i;
        vc->entries[i].epoch = UINT32_MAX;
        vc->entries[i].counter = UINT64_MAX;
        vc->entries[i].timestamp_us = UINT64_MAX;
    }
}

static void assert_encodes_only_with_room(const dyn_msg_t *m)
{
    size_t size = dyn_codec_encoded_size(m);
    assert_true(size > 0);
    uint8_t *small = malloc(size - 1);
    assert_non_null(small);
    assert_int_equal(dyn_codec_encode(m, small, size - 1), DYN_ETOOBIG);
    free(small);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(dyn_codec_encode(m, buf, size), (int)size);
    dyn_msg_t d;
    dyn_msg_init(&d, (dyn_msg_type_t)0);
    assert_int_equal(dyn_codec_decode(buf, size, &d), DYN_OK);
    assert_msg_equal(m, &d);
    assert_reencodes(&d, buf, size);
    dyn_msg_clear(&d);
    free(buf);
}

static void test_widest_fields(void **state)
{
    (void)state;
    const uint32_t value_length = 1u << 14; /* the smallest length with a 3-byte varint */
    uint8_t *value = calloc(value_length, 1);
    uint8_t *key = malloc(DYN_KEY_MAX);
    dyn_version_t *items = calloc(WIDE_SIBLINGS, sizeof *items);
    assert_non_null(value);
    assert_non_null(key);
    assert_non_null(items);
    memset(key, 'K', DYN_KEY_MAX);
    for (uint32_t i = 0; i < WIDE_SIBLINGS; i++) {
        set_widest_clock(&items[i].clock);
        items[i].clock.entries[DYN_VCLOCK_MAX - 1].counter = UINT64_MAX - (WIDE_SIBLINGS - 1 - i);
        items[i].timestamp_us = UINT64_MAX;
        /*
         * Distinct dots in canonical order, as a real set has, each field at its widest (5, 5 and
         * 10 bytes); epoch UINT32_MAX - 1 is an actor the past (all epoch UINT32_MAX) lacks.
         */
        set_dot(&items[i], UINT32_MAX, UINT32_MAX - 1, UINT64_MAX - (WIDE_SIBLINGS - 1 - i));
        items[i].value = value;
        items[i].value_length = value_length;
    }
    static uint32_t wide_indices[DYN_AE_LIST_MAX];
    static uint64_t wide_hashes[DYN_AE_LIST_MAX];
    static dyn_ae_key_t wide_keys[DYN_AE_KEYS_MAX], wide_pull[DYN_AE_KEYS_MAX];
    for (uint32_t i = 0; i < DYN_AE_LIST_MAX; i++) {
        wide_indices[i] = (1u << DYN_AE_LEVEL_MAX) - DYN_AE_LIST_MAX + i;
        wide_hashes[i] = UINT64_MAX - i;
    }
    for (uint32_t i = 0; i < DYN_AE_KEYS_MAX; i++) {
        wide_keys[i] = (dyn_ae_key_t){key, DYN_KEY_MAX, UINT64_MAX};
        wide_pull[i] = (dyn_ae_key_t){key, DYN_KEY_MAX, 0};
    }
    /* The widest view: every member, the widest ids, zones, versions and addresses. */
    dyn_membership_t *view = dyn_membership_create();
    assert_non_null(view);
    for (uint32_t i = 0; i < DYN_MEMBERS_MAX; i++) {
        dyn_member_t e = {.id = UINT32_MAX - i, .status = DYN_MEMBER_REMOVED, .zone = UINT16_MAX,
                          .version = UINT64_MAX, .addr_length = DYN_MEMBER_ADDR_MAX};
        memset(e.addr, 'a', DYN_MEMBER_ADDR_MAX);
        assert_int_equal(dyn_membership_apply(view, &e), 1);
    }
    /* And the widest ring table: every partition, the widest owner ids and version. */
    uint32_t *wide_table = malloc(DYN_RING_TABLE_MAX * sizeof(*wide_table));
    assert_non_null(wide_table);
    for (uint32_t i = 0; i < DYN_RING_TABLE_MAX; i++)
        wide_table[i] = UINT32_MAX - i % 7;
    assert_int_equal(dyn_membership_set_ring(view, UINT64_MAX, wide_table, DYN_RING_TABLE_MAX), 1);
    free(wide_table);
    size_t wide_view_length = dyn_codec_membership_size(view);
    assert_int_equal(wide_view_length,
                     2 + DYN_MEMBERS_MAX * (5 + 1 + 3 + 10 + 1 + DYN_MEMBER_ADDR_MAX) + 10 + 3 +
                         DYN_RING_TABLE_MAX * 5);
    uint8_t *wide_view = malloc(wide_view_length);
    assert_non_null(wide_view);
    assert_int_equal(dyn_codec_encode_membership(view, wide_view, wide_view_length - 1),
                     DYN_ETOOBIG);
    assert_int_equal(dyn_codec_encode_membership(view, wide_view, wide_view_length),
                     (int)wide_view_length);
    dyn_membership_t *back = dyn_membership_create();
    assert_non_null(back);
    assert_int_equal(dyn_codec_decode_membership(wide_view, wide_view_length, back), DYN_OK);
    assert_true(dyn_membership_digest(back) == dyn_membership_digest(view));
    dyn_membership_destroy(back);
    dyn_membership_destroy(view);
    for (int type = 1; type <= DYN_MSG_TYPE_MAX_; type++) {
        dyn_msg_t m;
        dyn_msg_init(&m, (dyn_msg_type_t)type);
        m.request_id = UINT64_MAX;
        m.status = -255;
        m.coordinator = UINT32_MAX;
        m.opts = (dyn_req_opts_t){255, 255, 255, DYN_REQ_FORWARDED, 255, 255};
        m.hint = UINT32_MAX;
        m.key = key;
        m.key_length = DYN_KEY_MAX;
        m.value = value;
        m.value_length = value_length;
        set_widest_clock(&m.context);
        m.version = items[0];
        m.siblings.items = items;
        m.siblings.count = WIDE_SIBLINGS;
        m.siblings.capacity = WIDE_SIBLINGS;
        /* Anti-entropy lists: full, with the widest indices, hashes and keys. */
        m.range = UINT32_MAX;
        m.level = (uint8_t)(type == DYN_MSG_AE_HASHES ? DYN_AE_LEVEL_MAX : 0);
        m.index_count = DYN_AE_LIST_MAX;
        m.indices = wide_indices;
        m.hashes = wide_hashes;
        m.key_count = DYN_AE_KEYS_MAX;
        m.keys = type == DYN_MSG_AE_PULL ? wide_pull : wide_keys;
        m.reap_phase = DYN_REAP_COMMIT;
        m.print = UINT64_MAX;
        m.gossip_flags = DYN_GOSSIP_STATE | DYN_GOSSIP_REPLY;
        m.members_blob = wide_view;
        m.members_length = (uint32_t)wide_view_length;
        assert_encodes_only_with_room(&m);
    }
    /* The bare encodings too. */
    dyn_siblings_t set = {WIDE_SIBLINGS, WIDE_SIBLINGS, items};
    size_t size = dyn_codec_siblings_size(&set);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(dyn_codec_encode_siblings(&set, buf, size - 1), DYN_ETOOBIG);
    assert_int_equal(dyn_codec_encode_siblings(&set, buf, size), (int)size);
    free(buf);
    size = dyn_codec_vclock_size(&items[0].clock);
    assert_int_equal(size, 1 + DYN_VCLOCK_MAX * (5 + 4 + 10 + 8));
    buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(dyn_codec_encode_vclock(&items[0].clock, buf, size - 1), DYN_ETOOBIG);
    assert_int_equal(dyn_codec_encode_vclock(&items[0].clock, buf, size), (int)size);
    free(buf);
    free(items);
    free(key);
    free(value);
    free(wide_view);
}

/* A message over DYN_MSG_MAX is refused both ways, even when every field is within bounds. */
static void test_message_max(void **state)
{
    (void)state;
    uint8_t *value = calloc(DYN_VALUE_MAX, 1);
    assert_non_null(value);
    dyn_version_t items[5];
    memset(items, 0, sizeof items);
    for (uint32_t i = 0; i < 5; i++) {
        entry_spec_t e = {i + 1, 1, 1, TS0};
        set_clock(&items[i].clock, &e, 1);
        set_dot(&items[i], i + 1, 1, 2);
        items[i].value = value;
        items[i].value_length = DYN_VALUE_MAX;
    }
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_REPLICA_GET_REPLY);
    m.siblings.items = items;
    m.siblings.count = 5;
    assert_int_equal(dyn_codec_encoded_size(&m), 0);
    uint8_t small[16];
    assert_int_equal(dyn_codec_encode(&m, small, sizeof small), DYN_ETOOBIG);
    /* Stored sets have no message bound; as a blob the same bytes are still too big to send. */
    size_t sn = dyn_codec_siblings_size(&m.siblings);
    assert_true(sn > DYN_MSG_MAX);
    uint8_t *blob = malloc(sn + 8);
    assert_non_null(blob);
    assert_int_equal(dyn_codec_encode_siblings(&m.siblings, blob, sn), (int)sn);
    m.siblings_blob = blob;
    m.siblings_blob_length = (uint32_t)sn;
    assert_int_equal(dyn_codec_encode(&m, small, sizeof small), DYN_ETOOBIG);
    /* Four values fit. */
    m.siblings_blob = NULL;
    m.siblings.count = 4;
    size_t size = dyn_codec_encoded_size(&m);
    assert_true(size > 4u * DYN_VALUE_MAX && size <= DYN_MSG_MAX);
    /* Input longer than DYN_MSG_MAX is refused before anything else is looked at. */
    blob[0] = DYN_WIRE_MAGIC;
    blob[1] = DYN_WIRE_VERSION;
    blob[2] = DYN_MSG_REPLICA_GET_REPLY;
    dyn_msg_t d;
    dyn_msg_init(&d, (dyn_msg_type_t)0);
    assert_int_equal(dyn_codec_decode(blob, DYN_MSG_MAX + 1, &d), DYN_EBADMSG);
    free(blob);
    free(value);
}

static void test_siblings_and_vclock_api(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    dyn_version_t items[3];
    make_versions(items);
    for (uint32_t count = 0; count <= 3; count++) {
        dyn_siblings_t set = {count, 3, items};
        size_t size = dyn_codec_siblings_size(&set);
        assert_int_equal(dyn_codec_encode_siblings(&set, buf, sizeof buf), (int)size);
        dyn_siblings_t out;
        dyn_siblings_init(&out);
        /* Decoding into a set that owns copied values must release them first (ASan checks). */
        dyn_version_t owned = items[0];
        assert_int_equal(dyn_siblings_add(&out, &owned, DYN_SIB_COPY, DYN_SIBLINGS_MAX), 1);
        assert_int_equal(dyn_codec_decode_siblings(buf, size, &out), DYN_OK);
        assert_siblings_equal(&set, &out);
        assert_true(out.capacity >= count); /* the array is reused, never shrunk */
        uint8_t again[BUF_CAP];
        assert_int_equal(dyn_codec_encode_siblings(&out, again, sizeof again), (int)size);
        assert_memory_equal(again, buf, size);
        /* Every truncation and one trailing byte fail, and leave the set empty. */
        for (size_t len = 0; len < size; len++) {
            assert_int_equal(dyn_codec_decode_siblings(buf, len, &out), DYN_EBADMSG);
            assert_int_equal(out.count, 0);
        }
        buf[size] = 0;
        assert_int_equal(dyn_codec_decode_siblings(buf, size + 1, &out), DYN_EBADMSG);
        assert_null(out.items);
        /* Too small a buffer is refused without a write. */
        memset(again, 0xA5, sizeof again);
        assert_int_equal(dyn_codec_encode_siblings(&set, again, size - 1), DYN_ETOOBIG);
        for (size_t k = 0; k < sizeof again; k++)
            assert_int_equal(again[k], 0xA5);
        dyn_siblings_clear(&out);
    }

    /* The samples are in canonical order: a set reconciled in any arrival order encodes alike. */
    {
        dyn_siblings_t set = {3, 3, items}, added;
        dyn_siblings_init(&added);
        for (int k = 2; k >= 0; k--)
            assert_int_equal(dyn_siblings_add(&added, &items[k], DYN_SIB_BORROW, DYN_SIBLINGS_MAX),
                             1);
        size_t size = dyn_codec_siblings_size(&set);
        uint8_t again[BUF_CAP];
        assert_int_equal(dyn_codec_encode_siblings(&set, buf, sizeof buf), (int)size);
        assert_int_equal(dyn_codec_encode_siblings(&added, again, sizeof again), (int)size);
        assert_memory_equal(again, buf, size);
        dyn_siblings_clear(&added);
    }

    dyn_vclock_t vc, out;
    const entry_spec_t *clocks[] = {CLOCK3, CLOCK_MAX, CLOCK_C};
    const uint32_t counts[] = {3, 4, 1};
    for (int c = 0; c <= 3; c++) {
        if (c < 3)
            set_clock(&vc, clocks[c], counts[c]);
        else
            dyn_vclock_init(&vc);
        size_t size = dyn_codec_vclock_size(&vc);
        assert_true(size >= 1);
        assert_int_equal(dyn_codec_encode_vclock(&vc, buf, sizeof buf), (int)size);
        assert_int_equal(dyn_codec_decode_vclock(buf, size, &out), DYN_OK);
        assert_vclock_equal(&vc, &out);
        for (size_t len = 0; len < size; len++)
            assert_int_equal(dyn_codec_decode_vclock(buf, len, &out), DYN_EBADMSG);
        buf[size] = 1;
        assert_int_equal(dyn_codec_decode_vclock(buf, size + 1, &out), DYN_EBADMSG);
        assert_int_equal(out.count, 0);
        if (size > 1)
            assert_int_equal(dyn_codec_encode_vclock(&vc, buf, size - 1), DYN_ETOOBIG);
        assert_int_equal(dyn_codec_encode_vclock(&vc, buf, 0), DYN_ETOOBIG);
    }
}

/* A replica answers from its stored blob without decoding it; the bytes are the same. */
static void test_blob_passthrough(void **state)
{
    (void)state;
    uint8_t blob[BUF_CAP], a[BUF_CAP], b[BUF_CAP];
    dyn_msg_t m;
    sample_storage_t s;
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        make_sample(i, &m, &s);
        if (!has_siblings(m.type))
            continue;
        int bn = dyn_codec_encode_siblings(&m.siblings, blob, sizeof blob);
        assert_true(bn > 0);
        int an = dyn_codec_encode(&m, a, sizeof a);
        m.siblings_blob = blob;
        m.siblings_blob_length = (uint32_t)bn;
        m.siblings.count = 0; /* ignored when the blob is set */
        m.siblings.items = NULL;
        assert_int_equal(dyn_codec_encoded_size(&m), (size_t)an);
        assert_int_equal(dyn_codec_encode(&m, b, sizeof b), an);
        assert_memory_equal(a, b, (size_t)an);
    }
    /* An empty blob cannot be a sibling encoding. */
    dyn_msg_init(&m, DYN_MSG_REPLICA_GET_REPLY);
    m.siblings_blob = blob;
    m.siblings_blob_length = 0;
    assert_int_equal(dyn_codec_encode(&m, a, sizeof a), DYN_EINVAL);
}

/* ------------------------------------------------------------------------------------------ */
/* Strict decoding                                                                              */

static void test_every_truncation_fails(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        size_t size = encode_sample(i, buf, sizeof buf);
        for (size_t len = 0; len < size; len++) {
            /* A heap copy of exactly len bytes, so ASan catches any read past the end. */
            uint8_t *cut = malloc(len ? len : 1);
            assert_non_null(cut);
            memcpy(cut, buf, len);
            dyn_msg_t d;
            dyn_msg_init(&d, (dyn_msg_type_t)0);
            assert_int_equal(dyn_codec_decode(cut, len, &d), DYN_EBADMSG);
            assert_null(d.siblings.items);
            assert_int_equal(d.type, 0);
            free(cut);
        }
    }
}

static void test_trailing_byte_fails(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        size_t size = encode_sample(i, buf, sizeof buf);
        const uint8_t extras[] = {0x00, 0x01, 0x80, 0xFF};
        for (size_t e = 0; e < sizeof extras; e++) {
            buf[size] = extras[e];
            dyn_msg_t d;
            dyn_msg_init(&d, (dyn_msg_type_t)0);
            assert_int_equal(dyn_codec_decode(buf, size + 1, &d), DYN_EBADMSG);
            assert_null(d.siblings.items);
        }
    }
}

static void test_bad_header(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    dyn_msg_t d;
    dyn_msg_init(&d, (dyn_msg_type_t)0);
    size_t size = encode_sample(2, buf, sizeof buf);

    buf[0] = 0xD6;
    assert_int_equal(dyn_codec_decode(buf, size, &d), DYN_EBADMSG);
    assert_int_equal(dyn_codec_peek_type(buf, size), 0);
    buf[0] = DYN_WIRE_MAGIC;

    const uint8_t versions[] = {0, DYN_WIRE_VERSION - 1, DYN_WIRE_VERSION + 1, 0xFF};
    for (size_t v = 0; v < sizeof versions; v++) {
        buf[1] = versions[v];
        assert_int_equal(dyn_codec_decode(buf, size, &d), DYN_EVERSION);
        assert_int_equal(dyn_codec_decode(buf, 2, &d), DYN_EVERSION);
        assert_int_equal(dyn_codec_peek_type(buf, size), 0);
    }
    buf[1] = DYN_WIRE_VERSION;

    const uint8_t types[] = {0, DYN_MSG_TYPE_MAX_ + 1, 0xFF};
    for (size_t t = 0; t < sizeof types; t++) {
        buf[2] = types[t];
        assert_int_equal(dyn_codec_decode(buf, size, &d), DYN_EBADMSG);
        assert_int_equal(dyn_codec_peek_type(buf, size), 0);
    }
    buf[2] = DYN_MSG_CLIENT_PUT;
    assert_int_equal(dyn_codec_peek_type(buf, size), DYN_MSG_CLIENT_PUT);
    assert_int_equal(dyn_codec_peek_type(buf, 3), DYN_MSG_CLIENT_PUT);
    assert_int_equal(dyn_codec_peek_type(buf, 2), 0);
    assert_int_equal(dyn_codec_decode(buf, size, &d), DYN_OK);
    dyn_msg_clear(&d);
    assert_int_equal(dyn_codec_decode(NULL, 0, &d), DYN_EBADMSG);
}

/* A tiny writer for hand-made (mostly malformed) encodings. */
typedef struct builder {
    uint8_t buf[BUF_CAP];
    size_t len;
} builder_t;

static void b_u8(builder_t *b, uint8_t v)
{
    assert_true(b->len < sizeof b->buf);
    b->buf[b->len++] = v;
}

static void b_varint(builder_t *b, uint64_t v)
{
    while (v >= 0x80) {
        b_u8(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    b_u8(b, (uint8_t)v);
}

static void b_raw(builder_t *b, const void *p, size_t n)
{
    assert_true(b->len + n <= sizeof b->buf);
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static void b_header(builder_t *b, dyn_msg_type_t type, uint64_t request_id)
{
    b->len = 0;
    b_u8(b, DYN_WIRE_MAGIC);
    b_u8(b, DYN_WIRE_VERSION);
    b_u8(b, (uint8_t)type);
    b_varint(b, request_id);
}

/* A little-endian fixed-width field, as clock entries carry epoch and timestamp. */
static void b_le(builder_t *b, uint64_t v, unsigned width)
{
    for (unsigned i = 0; i < width; i++)
        b_u8(b, (uint8_t)(v >> (8 * i)));
}

static void b_entry(builder_t *b, uint32_t node, uint32_t epoch, uint64_t counter)
{
    b_varint(b, node);
    b_le(b, epoch, 4);
    b_varint(b, counter);
    b_le(b, TS0, 8);
}

/* A version's dot, as written after its timestamp. */
static void b_dot(builder_t *b, uint32_t node, uint32_t epoch, uint64_t counter)
{
    b_varint(b, node);
    b_varint(b, epoch);
    b_varint(b, counter);
}

/* The smallest version (7 bytes): no flags, timestamp 0, dot 0:0:1, empty past, empty value. */
static void b_min_version(builder_t *b)
{
    b_u8(b, 0);
    b_u8(b, 0);
    b_dot(b, 0, 0, 1);
    b_u8(b, 0);
    b_u8(b, 0);
}

/* A minimal version named by dot counter (>= 1; one varint byte while < 128). */
static void b_min_version_at(builder_t *b, uint64_t counter)
{
    b_u8(b, 0);
    b_u8(b, 0);
    b_dot(b, 0, 0, counter);
    b_u8(b, 0);
    b_u8(b, 0);
}

/* A version with the given timestamp, dot and a one-entry past (node, epoch 1, counter). */
static void b_version(builder_t *b, uint64_t ts, uint32_t dn, uint32_t de, uint64_t dc,
                      uint32_t past_node, uint64_t past_counter)
{
    b_u8(b, 0);
    b_varint(b, ts);
    b_dot(b, dn, de, dc);
    if (past_counter == 0) {
        b_varint(b, 0);
    } else {
        b_varint(b, 1);
        b_entry(b, past_node, 1, past_counter);
    }
    b_varint(b, 1);
    b_u8(b, 'v');
}

static int decode_built(const builder_t *b)
{
    /* Exactly-sized heap copy so ASan sees any overrun. */
    uint8_t *copy = malloc(b->len);
    assert_non_null(copy);
    memcpy(copy, b->buf, b->len);
    dyn_msg_t d;
    dyn_msg_init(&d, (dyn_msg_type_t)0);
    int rc = dyn_codec_decode(copy, b->len, &d);
    if (rc == DYN_OK) {
        assert_reencodes(&d, copy, b->len);
        dyn_msg_clear(&d);
    } else {
        assert_null(d.siblings.items);
    }
    free(copy);
    return rc;
}

/* A client reply's written dot: "none" is all zeros, nothing else with counter 0. */
static void test_written_dot_canonical(void **state)
{
    (void)state;
    const uint8_t triples[][3] = {{0, 0, 0}, {3, 1, 7}, {3, 0, 0}, {0, 1, 0}};
    const int expect[] = {DYN_OK, DYN_OK, DYN_EBADMSG, DYN_EBADMSG};
    for (size_t i = 0; i < 4; i++) {
        builder_t b;
        b_header(&b, DYN_MSG_CLIENT_REPLY, 1);
        b_varint(&b, 0);
        b_varint(&b, 3);
        b_raw(&b, (const char *)triples[i], 3);
        b_varint(&b, 0);
        b_varint(&b, 0);
        assert_int_equal(decode_built(&b), expect[i]);
    }
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_REPLY);
    m.written = (dyn_vclock_entry_t){.node = 3};
    uint8_t buf[64];
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
}

/* Relaying: peek a reply's id and status, and rewrite the id leaving every other byte alone. */
static void test_relay_rewrite(void **state)
{
    (void)state;
    dyn_version_t items[3];
    make_versions(items);
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_REPLY);
    m.request_id = 300;          /* a two-byte varint */
    m.status = DYN_ENOTFOUND;
    m.coordinator = 4;
    m.siblings.items = items;
    m.siblings.count = 3;
    m.siblings.capacity = 3;
    uint8_t buf[BUF_CAP], out[BUF_CAP];
    int n = dyn_codec_encode(&m, buf, sizeof buf);
    assert_true(n > 0);
    uint64_t id;
    int32_t status;
    assert_int_equal(dyn_codec_peek_reply(buf, (size_t)n, &id, &status), DYN_OK);
    assert_int_equal(id, 300);
    assert_int_equal(status, DYN_ENOTFOUND);
    const uint64_t ids[] = {1, 300, (uint64_t)1 << 40, UINT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        int k = dyn_codec_with_request_id(buf, (size_t)n, ids[i], out, sizeof out);
        assert_true(k > 0);
        dyn_msg_t d;
        dyn_msg_init(&d, (dyn_msg_type_t)0);
        assert_int_equal(dyn_codec_decode(out, (size_t)k, &d), DYN_OK);
        m.request_id = ids[i];
        assert_msg_equal(&m, &d);
        dyn_msg_clear(&d);
        /* One byte short of room is refused, not truncated. */
        assert_int_equal(dyn_codec_with_request_id(buf, (size_t)n, ids[i], out, (size_t)k - 1),
                         DYN_ETOOBIG);
    }
    /* Requests are not replies; a truncated id or a bad header is malformed. */
    dyn_msg_t g;
    dyn_msg_init(&g, DYN_MSG_CLIENT_GET);
    g.request_id = 9;
    g.key = (const uint8_t *)"k";
    g.key_length = 1;
    int gn = dyn_codec_encode(&g, out, sizeof out);
    assert_true(gn > 0);
    assert_int_equal(dyn_codec_peek_reply(out, (size_t)gn, &id, &status), DYN_EBADMSG);
    /* Forwarding a request: new id, FORWARDED set, every other field as it was. */
    uint8_t fwd[BUF_CAP];
    int fn = dyn_codec_forward_request(out, (size_t)gn, (uint64_t)1 << 33, DYN_REQ_FORWARDED, fwd,
                                       sizeof fwd);
    assert_true(fn > gn);
    dyn_msg_t fd;
    dyn_msg_init(&fd, (dyn_msg_type_t)0);
    assert_int_equal(dyn_codec_decode(fwd, (size_t)fn, &fd), DYN_OK);
    g.request_id = (uint64_t)1 << 33;
    g.opts.flags = DYN_REQ_FORWARDED;
    assert_msg_equal(&g, &fd);
    dyn_msg_clear(&fd);
    assert_int_equal(dyn_codec_forward_request(out, (size_t)gn, 1, 0x80, fwd, sizeof fwd),
                     DYN_EINVAL);
    assert_int_equal(dyn_codec_forward_request(buf, (size_t)n, 1, DYN_REQ_FORWARDED, fwd,
                                               sizeof fwd),
                     DYN_EBADMSG); /* a reply is not a request */
    assert_int_equal(dyn_codec_peek_reply(buf, 4, &id, &status), DYN_EBADMSG);
    assert_int_equal(dyn_codec_with_request_id(buf, 3, 1, out, sizeof out), DYN_EBADMSG);
    buf[0] ^= 0xFF;
    assert_int_equal(dyn_codec_with_request_id(buf, (size_t)n, 1, out, sizeof out), DYN_EBADMSG);
}

/*
 * Siblings must arrive in strictly increasing canonical order, which is dot order first (node,
 * epoch, counter): no duplicates, no reordering, and the timestamp or past cannot make up for it.
 */
static void test_sibling_order_enforced(void **state)
{
    (void)state;
    const struct {
        uint64_t ts[2];
        uint32_t node[2], epoch[2];
        uint64_t counter[2];
        uint32_t past_node[2];
        uint64_t past_counter[2];
        int expect;
    } cases[] = {
        /* By counter, whatever the timestamps say. */
        {{5, 3}, {0, 0}, {0, 0}, {3, 5}, {0, 0}, {0, 0}, DYN_OK},
        {{3, 5}, {0, 0}, {0, 0}, {5, 3}, {0, 0}, {0, 0}, DYN_EBADMSG},
        /* The very same version twice. */
        {{4, 4}, {0, 0}, {0, 0}, {4, 4}, {0, 0}, {0, 0}, DYN_EBADMSG},
        /* By node before counter, whatever the pasts say. */
        {{1, 1}, {1, 2}, {1, 1}, {9, 1}, {0, 7}, {0, 100}, DYN_OK},
        {{1, 1}, {2, 1}, {1, 1}, {1, 9}, {7, 0}, {100, 0}, DYN_EBADMSG},
        /* By epoch before counter. */
        {{1, 1}, {1, 1}, {1, 2}, {5, 1}, {0, 0}, {0, 0}, DYN_OK},
        {{1, 1}, {1, 1}, {2, 1}, {1, 5}, {0, 0}, {0, 0}, DYN_EBADMSG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        builder_t b;
        b_header(&b, DYN_MSG_REPLICA_GET_REPLY, 9);
        b_varint(&b, 0);
        size_t start = b.len;
        b_varint(&b, 2);
        for (int k = 0; k < 2; k++)
            b_version(&b, cases[i].ts[k], cases[i].node[k], cases[i].epoch[k],
                      cases[i].counter[k], cases[i].past_node[k], cases[i].past_counter[k]);
        assert_int_equal(decode_built(&b), cases[i].expect);
        dyn_siblings_t set;
        dyn_siblings_init(&set);
        assert_int_equal(dyn_codec_decode_siblings(b.buf + start, b.len - start, &set),
                         cases[i].expect);
        if (cases[i].expect == DYN_OK) {
            assert_int_equal(set.count, 2);
            assert_true(dyn_version_order(&set.items[0], &set.items[1]) < 0);
        } else {
            assert_int_equal(set.count, 0);
            assert_null(set.items);
        }
        dyn_siblings_clear(&set);
        /* In a CLIENT_REPLY the same. */
        b_header(&b, DYN_MSG_CLIENT_REPLY, 9);
        b_varint(&b, 0);
        b_varint(&b, 3);
        b_raw(&b, "\0\0\0", 3); /* no written dot */
        b_varint(&b, 0);
        b_varint(&b, 2);
        for (int k = 0; k < 2; k++)
            b_version(&b, cases[i].ts[k], cases[i].node[k], cases[i].epoch[k],
                      cases[i].counter[k], cases[i].past_node[k], cases[i].past_counter[k]);
        assert_int_equal(decode_built(&b), cases[i].expect);
    }
}

/*
 * A dot names an event: its counter is at least 1, and the version's past must not already hold
 * it (that version would supersede itself). Decoding refuses either with DYN_EBADMSG, wherever the
 * version is (a REPLICA_PUT, a replica's or a client's sibling set, a stored set); encoding with
 * DYN_EINVAL. The dot's fields have their own widths.
 */
static void test_dot_rules(void **state)
{
    (void)state;
    const struct {
        uint64_t node, epoch, counter; /* wider than the fields, to test their bounds */
        uint64_t past_counter;         /* of actor 3:1 in the past; 0 for an empty past */
        int expect;
    } cases[] = {
        {3, 1, 0, 0, DYN_EBADMSG},                 /* counter 0 */
        {3, 1, 1, 0, DYN_OK},
        {3, 1, 5, 5, DYN_EBADMSG},                 /* the past holds exactly the dot */
        {3, 1, 4, 5, DYN_EBADMSG},                 /* ...or a later event of the same actor */
        {3, 1, 6, 5, DYN_OK},                      /* the next event of the actor */
        {3, 2, 1, 5, DYN_OK},                      /* another epoch is another actor */
        {4, 1, 1, 5, DYN_OK},                      /* another node */
        {3, 1, UINT64_MAX, 5, DYN_OK},
        {UINT32_MAX, UINT32_MAX, 1, 5, DYN_OK},
        {(uint64_t)UINT32_MAX + 1, 1, 1, 0, DYN_EBADMSG}, /* node is a u32 */
        {3, (uint64_t)UINT32_MAX + 1, 1, 0, DYN_EBADMSG}, /* epoch is a u32 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        builder_t v = {.len = 0};
        b_u8(&v, 0);
        b_varint(&v, TS0 + i);
        b_varint(&v, cases[i].node);
        b_varint(&v, cases[i].epoch);
        b_varint(&v, cases[i].counter);
        if (cases[i].past_counter) {
            b_varint(&v, 1);
            b_entry(&v, 3, 1, cases[i].past_counter);
        } else {
            b_varint(&v, 0);
        }
        b_varint(&v, 2);
        b_raw(&v, "ok", 2);

        builder_t b;
        b_header(&b, DYN_MSG_REPLICA_PUT, 1);
        b_u8(&b, 0); /* replica flags */
        b_varint(&b, 0); /* no hint */
        b_varint(&b, 1);
        b_u8(&b, 'k');
        b_raw(&b, v.buf, v.len);
        assert_int_equal(decode_built(&b), cases[i].expect);
        if (cases[i].expect == DYN_OK) {
            dyn_msg_t d;
            dyn_msg_init(&d, (dyn_msg_type_t)0);
            assert_int_equal(dyn_codec_decode(b.buf, b.len, &d), DYN_OK);
            assert_true(d.version.dot.node == cases[i].node);
            assert_true(d.version.dot.epoch == cases[i].epoch);
            assert_true(d.version.dot.counter == cases[i].counter);
            assert_true(d.version.dot.timestamp_us == TS0 + i);
            assert_true(dyn_version_valid(&d.version));
            dyn_msg_clear(&d);
        }
        /* As the second version of a replica's set, after a valid one with a smaller dot. */
        b_header(&b, DYN_MSG_REPLICA_GET_REPLY, 1);
        b_varint(&b, 0);
        size_t start = b.len;
        b_varint(&b, 2);
        b_min_version(&b);
        b_raw(&b, v.buf, v.len);
        assert_int_equal(decode_built(&b), cases[i].expect);
        dyn_siblings_t set;
        dyn_siblings_init(&set);
        assert_int_equal(dyn_codec_decode_siblings(b.buf + start, b.len - start, &set),
                         cases[i].expect);
        assert_int_equal(set.count, cases[i].expect == DYN_OK ? 2u : 0u);
        dyn_siblings_clear(&set);
        /* As the only version of a client's answer. */
        b_header(&b, DYN_MSG_CLIENT_REPLY, 1);
        b_varint(&b, 0);
        b_varint(&b, 3);
        b_raw(&b, "\0\0\0", 3); /* no written dot */
        b_varint(&b, 0);
        b_varint(&b, 1);
        b_raw(&b, v.buf, v.len);
        assert_int_equal(decode_built(&b), cases[i].expect);
    }

    /* Encoding refuses the same, in a REPLICA_PUT... */
    uint8_t buf[BUF_CAP];
    dyn_msg_t m;
    sample_storage_t s;
    make_sample(13, &m, &s); /* past {1:1:2, 3:2:5}, dot 1:1:4 */
    assert_true(dyn_codec_encode(&m, buf, sizeof buf) > 0);
    m.version.dot.counter = 0;
    assert_int_equal(dyn_codec_encoded_size(&m), 0);
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    const struct {
        uint32_t node, epoch;
        uint64_t counter;
        int expect;
    } enc[] = {
        {1, 1, 2, DYN_EINVAL}, {1, 1, 1, DYN_EINVAL}, {1, 1, 3, 1},
        {3, 2, 5, DYN_EINVAL}, {3, 2, 6, 1},          {3, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++) {
        make_sample(13, &m, &s);
        set_dot(&m.version, enc[i].node, enc[i].epoch, enc[i].counter);
        int n = dyn_codec_encode(&m, buf, sizeof buf);
        if (enc[i].expect == DYN_EINVAL) {
            assert_int_equal(n, DYN_EINVAL);
            assert_int_equal(dyn_codec_encoded_size(&m), 0);
        } else {
            assert_true(n > 0);
        }
    }
    /* ...and in sibling sets, in a message or bare. */
    for (int bad = 0; bad < 2; bad++) {
        make_sample(12, &m, &s); /* three versions; the second has past {1:1:3, 2:1:1}, dot 2:1:2 */
        if (bad == 0)
            s.items[1].dot.counter = 0;
        else
            s.items[1].dot.counter = 1;
        assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
        assert_int_equal(dyn_codec_encoded_size(&m), 0);
        assert_int_equal(dyn_codec_encode_siblings(&m.siblings, buf, sizeof buf), DYN_EINVAL);
        assert_int_equal(dyn_codec_siblings_size(&m.siblings), 0);
        make_sample(7, &m, &s);
        if (bad == 0)
            s.items[2].dot.counter = 0;
        else
            set_dot(&s.items[2], 4, 1, 1); /* past {4:1:1} */
        assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    }
}

static void test_bad_lengths(void **state)
{
    (void)state;
    builder_t b;
    const uint64_t lengths[] = {0, 12, DYN_KEY_MAX + 1, 1ull << 32, 1ull << 60, UINT64_MAX};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        /* REPLICA_GET with 11 key bytes present and the given key length. */
        b_header(&b, DYN_MSG_REPLICA_GET, 5);
        b_varint(&b, 0); /* no hint */
        b_varint(&b, lengths[i]);
        b_raw(&b, KEY_CART, sizeof KEY_CART - 1);
        assert_int_equal(decode_built(&b), DYN_EBADMSG);
        /* CLIENT_PUT with a value length over what remains. */
        b_header(&b, DYN_MSG_CLIENT_PUT, 5);
        b_raw(&b, "\3\2\2\0\0\0", 6);
        b_varint(&b, 3);
        b_raw(&b, "abc", 3);
        b_u8(&b, 0);
        b_varint(&b, 0);
        b_varint(&b, lengths[i] + 5);
        b_raw(&b, "value", 5);
        assert_int_equal(decode_built(&b), lengths[i] == 0 ? DYN_OK : DYN_EBADMSG);
    }
    /* The correct lengths decode. */
    b_header(&b, DYN_MSG_REPLICA_GET, 5);
    b_varint(&b, 0); /* no hint */
    b_varint(&b, 11);
    b_raw(&b, KEY_CART, 11);
    assert_int_equal(decode_built(&b), DYN_OK);
    /* A key of exactly DYN_KEY_MAX bytes is fine. */
    uint8_t key[DYN_KEY_MAX + 1];
    memset(key, 'k', sizeof key);
    b_header(&b, DYN_MSG_REPLICA_GET, 5);
    b_varint(&b, 0); /* no hint */
    b_varint(&b, DYN_KEY_MAX);
    b_raw(&b, key, DYN_KEY_MAX);
    assert_int_equal(decode_built(&b), DYN_OK);
    b_header(&b, DYN_MSG_REPLICA_GET, 5);
    b_varint(&b, 0); /* no hint */
    b_varint(&b, DYN_KEY_MAX + 1);
    b_raw(&b, key, DYN_KEY_MAX + 1);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    /* Opts cut short. */
    b_header(&b, DYN_MSG_CLIENT_GET, 5);
    b_raw(&b, "\3\2", 2);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
}

static void test_huge_counts(void **state)
{
    (void)state;
    builder_t b;
    /* Clock counts: 16 is the bound, 17 and 2^32 are not; real entries follow in each case. */
    const uint64_t clock_counts[] = {16, 17, 1ull << 32, UINT64_MAX};
    for (size_t i = 0; i < sizeof clock_counts / sizeof clock_counts[0]; i++) {
        int expect = clock_counts[i] == 16 ? DYN_OK : DYN_EBADMSG;
        uint32_t entries = clock_counts[i] == 16 ? 16 : 17;
        b_header(&b, DYN_MSG_CLIENT_REPLY, 9);
        b_varint(&b, 0);
        b_varint(&b, 3);
        b_raw(&b, "\0\0\0", 3); /* no written dot */
        b_varint(&b, clock_counts[i]);
        for (uint32_t e = 0; e < entries; e++)
            b_entry(&b, e + 1, 1, 1);
        b_varint(&b, 0);
        assert_int_equal(decode_built(&b), expect);
        /* The same as a bare clock (for 17 the buffer holds all 17 entries, still too many). */
        builder_t c = {.len = 0};
        b_varint(&c, clock_counts[i]);
        for (uint32_t e = 0; e < entries; e++)
            b_entry(&c, e + 1, 1, 1);
        dyn_vclock_t vc;
        assert_int_equal(dyn_codec_decode_vclock(c.buf, c.len, &vc), expect);
    }

    /* Sibling counts: DYN_SIBLINGS_MAX is the bound; one more, 2^40 and 2^64-1 are not. */
    const uint64_t sib_counts[] = {DYN_SIBLINGS_MAX, DYN_SIBLINGS_MAX + 1, 1ull << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof sib_counts / sizeof sib_counts[0]; i++) {
        int expect = sib_counts[i] == DYN_SIBLINGS_MAX ? DYN_OK : DYN_EBADMSG;
        uint32_t versions = sib_counts[i] == DYN_SIBLINGS_MAX ? DYN_SIBLINGS_MAX
                                                              : DYN_SIBLINGS_MAX + 1;
        b_header(&b, DYN_MSG_REPLICA_GET_REPLY, 9);
        b_varint(&b, 0);
        size_t sib_start = b.len;
        b_varint(&b, sib_counts[i]);
        for (uint32_t v = 0; v < versions; v++)
            b_min_version_at(&b, v + 1);
        assert_int_equal(decode_built(&b), expect);
        dyn_siblings_t set;
        dyn_siblings_init(&set);
        assert_int_equal(dyn_codec_decode_siblings(b.buf + sib_start, b.len - sib_start, &set),
                         expect);
        dyn_siblings_clear(&set);
    }
    /* A plausible-looking count with too few bytes behind it is refused before allocating. */
    b_header(&b, DYN_MSG_REPLICA_GET_REPLY, 9);
    b_varint(&b, 0);
    b_varint(&b, 100);
    b_min_version(&b);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);

    /* Encode refuses the same bounds. */
    dyn_msg_t m;
    sample_storage_t s;
    make_sample(7, &m, &s);
    m.context.count = DYN_VCLOCK_MAX + 1;
    assert_int_equal(dyn_codec_encoded_size(&m), 0);
    uint8_t buf[BUF_CAP];
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_ETOOBIG);
    make_sample(7, &m, &s);
    m.siblings.count = DYN_SIBLINGS_MAX + 1;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_ETOOBIG);
}

static void test_clock_order_and_counter(void **state)
{
    (void)state;
    builder_t b;
    struct {
        uint32_t n1, e1, n2, e2;
        uint64_t c2;
        int expect;
    } cases[] = {
        {1, 1, 2, 1, 1, DYN_OK},          /* sorted by node */
        {1, 1, 1, 2, 1, DYN_OK},          /* same node, later epoch */
        {2, 1, 1, 1, 1, DYN_EBADMSG},     /* unsorted nodes */
        {1, 2, 1, 1, 1, DYN_EBADMSG},     /* unsorted epochs */
        {1, 1, 1, 1, 1, DYN_EBADMSG},     /* duplicate actor */
        {1, 1, 2, 1, 0, DYN_EBADMSG},     /* counter 0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* In a REPLICA_PUT version clock... */
        b_header(&b, DYN_MSG_REPLICA_PUT, 1);
        b_u8(&b, 0); /* replica flags */
        b_varint(&b, 0); /* no hint */
        b_varint(&b, 1);
        b_u8(&b, 'k');
        b_u8(&b, 0);
        b_varint(&b, TS0);
        b_dot(&b, 9, 1, 1);
        b_varint(&b, 2);
        b_entry(&b, cases[i].n1, cases[i].e1, 4);
        b_entry(&b, cases[i].n2, cases[i].e2, cases[i].c2);
        b_varint(&b, 0);
        assert_int_equal(decode_built(&b), cases[i].expect);
        /* ...and as a bare context. */
        builder_t c = {.len = 0};
        b_varint(&c, 2);
        b_entry(&c, cases[i].n1, cases[i].e1, 4);
        b_entry(&c, cases[i].n2, cases[i].e2, cases[i].c2);
        dyn_vclock_t vc;
        assert_int_equal(dyn_codec_decode_vclock(c.buf, c.len, &vc), cases[i].expect);
        /* Encode refuses what decode refuses, as an invalid clock. */
        const entry_spec_t e[2] = {{cases[i].n1, cases[i].e1, 4, TS0},
                                   {cases[i].n2, cases[i].e2, cases[i].c2, TS0}};
        set_clock(&vc, e, 2);
        assert_int_equal(dyn_codec_encode_vclock(&vc, c.buf, sizeof c.buf),
                         cases[i].expect == DYN_OK ? (int)c.len : DYN_EINVAL);
    }
    /* A counter of 0 in a single-entry clock. */
    dyn_vclock_t vc;
    uint8_t zero[] = {1, 1, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(dyn_codec_decode_vclock(zero, sizeof zero, &vc), DYN_EBADMSG);
    zero[6] = 1; /* the same bytes with counter 1 are a valid clock */
    assert_int_equal(dyn_codec_decode_vclock(zero, sizeof zero, &vc), DYN_OK);
    assert_int_equal(vc.entries[0].epoch, 1);
    assert_true(vc.entries[0].timestamp_us == 0x0807060504030201ull);
}

static void test_varint_strictness(void **state)
{
    (void)state;
    builder_t b;
    /* request_id 0 written as 80 00: non-minimal. */
    b.len = 0;
    b_raw(&b, "\xD7\x08\x07\x80\x00\x00", 6);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    /* request_id 1 written as 81 00, and as 81 80 00. */
    b.len = 0;
    b_raw(&b, "\xD7\x08\x07\x81\x00\x00", 6);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    b.len = 0;
    b_raw(&b, "\xD7\x08\x07\x81\x80\x00\x00", 7);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    /* The minimal forms decode. */
    b.len = 0;
    b_raw(&b, "\xD7\x08\x07\x01\x00", 5);
    assert_int_equal(decode_built(&b), DYN_OK);
    /* UINT64_MAX is 9 x FF then 01; a 10th byte of 02 overflows, 11 bytes are too long. */
    uint8_t max[10];
    memset(max, 0xFF, 9);
    max[9] = 0x01;
    b.len = 0;
    b_raw(&b, "\xD7\x08\x07", 3);
    b_raw(&b, max, 10);
    b_u8(&b, 0);
    assert_int_equal(decode_built(&b), DYN_OK);
    b.buf[12] = 0x02;
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    b.buf[12] = 0x81; /* continues into an 11th byte */
    b.buf[13] = 0x00;
    b_u8(&b, 0);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    /* 2^63 exactly: nine 80 bytes then 01. */
    b.len = 0;
    b_raw(&b, "\xD7\x08\x07", 3);
    for (int i = 0; i < 9; i++)
        b_u8(&b, 0x80);
    b_u8(&b, 0x01);
    b_u8(&b, 0);
    assert_int_equal(decode_built(&b), DYN_OK);
    /* A u32 field (coordinator) one over its width. */
    b_header(&b, DYN_MSG_CLIENT_REPLY, 1);
    b_varint(&b, 0);
    b_varint(&b, (uint64_t)UINT32_MAX + 1);
    b_raw(&b, "\0\0\0", 3); /* no written dot */
    b_varint(&b, 0);
    b_varint(&b, 0);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    b_header(&b, DYN_MSG_CLIENT_REPLY, 1);
    b_varint(&b, 0);
    b_varint(&b, UINT32_MAX);
    b_raw(&b, "\0\0\0", 3); /* no written dot */
    b_varint(&b, 0);
    b_varint(&b, 0);
    assert_int_equal(decode_built(&b), DYN_OK);
    /* Node and epoch are u32 too. */
    builder_t c = {.len = 0};
    b_varint(&c, 1);
    b_varint(&c, (uint64_t)UINT32_MAX + 1);
    b_varint(&c, 1);
    b_varint(&c, 1);
    b_varint(&c, 1);
    dyn_vclock_t vc;
    assert_int_equal(dyn_codec_decode_vclock(c.buf, c.len, &vc), DYN_EBADMSG);
    /* A non-minimal count in a bare clock: 80 00. */
    const uint8_t nonmin[] = {0x80, 0x00};
    assert_int_equal(dyn_codec_decode_vclock(nonmin, sizeof nonmin, &vc), DYN_EBADMSG);
}

/*
 * Every varint length from 1 to 10 bytes, at both ends of each length, through the short-input
 * path (a REPLICA_PUT_REPLY ends right after the request id) and the 8-bytes-at-once path (a
 * REPLICA_GET has its key after it).
 */
static void test_varint_boundaries(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    for (unsigned k = 0; k <= 64; k++) {
        const uint64_t values[] = {k < 64 ? (1ull << k) - 1 : UINT64_MAX, k < 64 ? 1ull << k : 0,
                                   k < 64 ? (1ull << k) + 1 : 1};
        for (size_t v = 0; v < 3; v++) {
            /* A ping ends with its id: a varint written past its end would show. */
            const dyn_msg_type_t types[] = {DYN_MSG_REPLICA_PUT_REPLY, DYN_MSG_REPLICA_GET,
                                            DYN_MSG_PING};
            for (int t = 0; t < 3; t++) {
                dyn_msg_t m, d;
                dyn_msg_init(&m, types[t]);
                m.request_id = values[v];
                m.key = KEY_USER;
                m.key_length = sizeof KEY_USER - 1;
                int n = dyn_codec_encode(&m, buf, sizeof buf);
                assert_true(n > 0);
                /* The id's bytes are the byte-at-a-time encoding's. */
                builder_t b = {.len = 0};
                b_header(&b, m.type, values[v]);
                assert_memory_equal(buf, b.buf, b.len);
                /* In a buffer of exactly its size, nothing is written past the encoding. */
                uint8_t exact[BUF_CAP];
                memset(exact, 0xA5, sizeof exact);
                assert_int_equal(dyn_codec_encode(&m, exact, (size_t)n), n);
                assert_memory_equal(exact, buf, (size_t)n);
                for (size_t i = (size_t)n; i < sizeof exact; i++)
                    assert_int_equal(exact[i], 0xA5);
                dyn_msg_init(&d, (dyn_msg_type_t)0);
                assert_int_equal(dyn_codec_decode(buf, (size_t)n, &d), DYN_OK);
                assert_true(d.request_id == values[v]);
                assert_reencodes(&d, buf, (size_t)n);
            }
        }
    }
}

/*
 * The request id of every sample, re-encoded non-minimally (padded with 0x80 groups and a final
 * 0x00) and everything else left valid: always refused.
 */
static void test_nonminimal_request_id_in_every_sample(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        size_t size = encode_sample(i, buf, sizeof buf);
        size_t id_len = 1;
        while (buf[3 + id_len - 1] & 0x80)
            id_len++;
        for (size_t pad = 1; pad + id_len <= 10; pad++) {
            builder_t b = {.len = 0};
            b_raw(&b, buf, 3 + id_len);
            b.buf[3 + id_len - 1] |= 0x80; /* the last group now continues... */
            for (size_t k = 1; k < pad; k++)
                b_u8(&b, 0x80);
            b_u8(&b, 0x00); /* ...into groups that add nothing */
            b_raw(&b, buf + 3 + id_len, size - 3 - id_len);
            assert_int_equal(decode_built(&b), DYN_EBADMSG);
        }
    }
}

static void test_status_range(void **state)
{
    (void)state;
    builder_t b;
    uint8_t buf[BUF_CAP];
    for (int32_t st = -300; st <= 300; st++) {
        dyn_msg_t m;
        dyn_msg_init(&m, DYN_MSG_REPLICA_PUT_REPLY);
        m.status = st;
        int ok = st <= 0 && st >= -255;
        int n = dyn_codec_encode(&m, buf, sizeof buf);
        assert_int_equal(n > 0, ok);
        if (!ok) {
            assert_int_equal(n, DYN_EINVAL);
            continue;
        }
        dyn_msg_t d;
        dyn_msg_init(&d, (dyn_msg_type_t)0);
        assert_int_equal(dyn_codec_decode(buf, (size_t)n, &d), DYN_OK);
        assert_int_equal(d.status, st);
    }
    /* Zigzag: 2 is +1, 3 is -2, 509 is -255, 511 is -256; extremes of int32 and beyond. */
    const struct {
        uint64_t z;
        int expect;
    } cases[] = {{0, DYN_OK},         {1, DYN_OK},          {2, DYN_EBADMSG},
                 {3, DYN_OK},         {509, DYN_OK},        {510, DYN_EBADMSG},
                 {511, DYN_EBADMSG},  {UINT32_MAX, DYN_EBADMSG}, {UINT64_MAX, DYN_EBADMSG}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b_header(&b, DYN_MSG_REPLICA_PUT_REPLY, 1);
        b_varint(&b, cases[i].z);
        assert_int_equal(decode_built(&b), cases[i].expect);
    }
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_CLIENT_REPLY);
    m.status = INT32_MIN;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    m.status = INT32_MAX;
    assert_int_equal(dyn_codec_encoded_size(&m), 0);
}

static void test_flags(void **state)
{
    (void)state;
    builder_t b;
    uint8_t buf[BUF_CAP];
    for (unsigned f = 0; f < 256; f++) {
        /* Opts flags in CLIENT_GET. */
        b_header(&b, DYN_MSG_CLIENT_GET, 1);
        b_raw(&b, "\3\2\2", 3);
        b_u8(&b, (uint8_t)f);
        b_raw(&b, "\0\0", 2); /* pr, pw */
        b_varint(&b, 1);
        b_u8(&b, 'k');
        assert_int_equal(decode_built(&b),
                         (f & ~(unsigned)DYN_REQ_FLAGS_ALL_) ? DYN_EBADMSG : DYN_OK);
        /* put_flags in CLIENT_PUT (empty value, so a tombstone is fine). */
        b_header(&b, DYN_MSG_CLIENT_PUT, 1);
        b_raw(&b, "\0\0\0\0\0\0", 6);
        b_varint(&b, 1);
        b_u8(&b, 'k');
        b_u8(&b, (uint8_t)f);
        b_varint(&b, 0);
        b_varint(&b, 0);
        assert_int_equal(decode_built(&b),
                         (f & ~(unsigned)DYN_VERSION_TOMBSTONE) ? DYN_EBADMSG : DYN_OK);
        /* Replica flags in REPLICA_PUT: only DYN_REPLICA_SYNC. */
        b_header(&b, DYN_MSG_REPLICA_PUT, 1);
        b_u8(&b, (uint8_t)f);
        b_varint(&b, 0); /* no hint */
        b_varint(&b, 1);
        b_u8(&b, 'k');
        b_u8(&b, 0);
        b_varint(&b, TS0);
        b_raw(&b, "\1\1\1", 3); /* dot 1:1:1 */
        b_varint(&b, 0);          /* empty past */
        b_varint(&b, 0);          /* empty value */
        assert_int_equal(decode_built(&b),
                         (f & ~(unsigned)DYN_REPLICA_FLAGS_ALL_) ? DYN_EBADMSG : DYN_OK);
        /* Version flags in REPLICA_PUT. */
        b_header(&b, DYN_MSG_REPLICA_PUT, 1);
        b_u8(&b, 0); /* replica flags */
        b_varint(&b, 0); /* no hint */
        b_varint(&b, 1);
        b_u8(&b, 'k');
        b_u8(&b, (uint8_t)f);
        b_varint(&b, TS0);
        b_dot(&b, 3, 1, 1);
        b_varint(&b, 0);
        b_varint(&b, 0);
        assert_int_equal(decode_built(&b),
                         (f & ~(unsigned)DYN_VERSION_TOMBSTONE) ? DYN_EBADMSG : DYN_OK);
    }
    /* Encode refuses unknown bits with DYN_EINVAL. */
    dyn_msg_t m;
    sample_storage_t s;
    make_sample(0, &m, &s);
    m.opts.flags = 0x80;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    make_sample(2, &m, &s);
    m.put_flags = 0x02;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    make_sample(13, &m, &s);
    m.version.flags = 0x04;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    make_sample(12, &m, &s);
    s.items[1].flags = 0xFE;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    assert_int_equal(dyn_codec_encoded_size(&m), 0);
}

static void test_tombstone_with_value(void **state)
{
    (void)state;
    builder_t b;
    uint8_t buf[BUF_CAP];
    b_header(&b, DYN_MSG_REPLICA_PUT, 1);
    b_u8(&b, 0); /* replica flags */
    b_varint(&b, 0); /* no hint */
    b_varint(&b, 1);
    b_u8(&b, 'k');
    b_u8(&b, DYN_VERSION_TOMBSTONE);
    b_varint(&b, TS0);
    b_dot(&b, 3, 1, 1);
    b_varint(&b, 0);
    b_varint(&b, 1);
    b_u8(&b, 'v');
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    /* Without the value it is a valid delete. */
    b.len -= 2;
    b_varint(&b, 0);
    assert_int_equal(decode_built(&b), DYN_OK);
    /* The same inside a sibling set, after a valid version (and in dot order after it). */
    b_header(&b, DYN_MSG_REPLICA_GET_REPLY, 1);
    b_varint(&b, 0);
    b_varint(&b, 2);
    b_min_version(&b);
    b_u8(&b, DYN_VERSION_TOMBSTONE);
    b_varint(&b, TS0);
    b_dot(&b, 3, 1, 1);
    b_varint(&b, 0);
    b_varint(&b, 1);
    b_u8(&b, 'v');
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    /* A delete (CLIENT_PUT with the tombstone flag) carrying a value. */
    b_header(&b, DYN_MSG_CLIENT_PUT, 1);
    b_raw(&b, "\0\0\0\0\0\0", 6);
    b_varint(&b, 1);
    b_u8(&b, 'k');
    b_u8(&b, DYN_VERSION_TOMBSTONE);
    b_varint(&b, 0);
    b_varint(&b, 1);
    b_u8(&b, 'v');
    assert_int_equal(decode_built(&b), DYN_EBADMSG);

    dyn_msg_t m;
    sample_storage_t s;
    make_sample(14, &m, &s);
    m.version.value = VALUE_BETA;
    m.version.value_length = 1;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    make_sample(3, &m, &s);
    m.value = VALUE_BETA;
    m.value_length = 4;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
}

static void test_encode_invalid(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    dyn_msg_t m;
    sample_storage_t s;
    const int bad_types[] = {0, DYN_MSG_TYPE_MAX_ + 1, 255};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        make_sample(0, &m, &s);
        m.type = (dyn_msg_type_t)bad_types[i];
        assert_int_equal(dyn_codec_encoded_size(&m), 0);
        assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    }
    make_sample(9, &m, &s);
    m.key_length = 0;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    m.key = NULL;
    m.key_length = 3;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    uint8_t key[DYN_KEY_MAX + 1];
    memset(key, 'x', sizeof key);
    m.key = key;
    m.key_length = DYN_KEY_MAX;
    assert_true(dyn_codec_encode(&m, buf, sizeof buf) > 0);
    m.key_length = DYN_KEY_MAX + 1;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_ETOOBIG);
    make_sample(2, &m, &s);
    m.value = NULL;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    make_sample(2, &m, &s);
    m.context.entries[1].counter = 0;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    make_sample(2, &m, &s);
    m.context.entries[2].node = 1; /* duplicate of entry 0 out of order */
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    make_sample(6, &m, &s);
    m.siblings.items = NULL;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
}

/* Encode into every too-small capacity: DYN_ETOOBIG, and not one byte written anywhere. */
static void test_encode_buffer_too_small(void **state)
{
    (void)state;
    uint8_t buf[BUF_CAP];
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        dyn_msg_t m;
        sample_storage_t s;
        make_sample(i, &m, &s);
        size_t size = dyn_codec_encoded_size(&m);
        for (size_t cap = 0; cap < size; cap++) {
            memset(buf, 0x5A, size + 16);
            assert_int_equal(dyn_codec_encode(&m, buf, cap), DYN_ETOOBIG);
            for (size_t k = 0; k < size + 16; k++)
                assert_int_equal(buf[k], 0x5A);
        }
        assert_int_equal(dyn_codec_encode(&m, buf, size), (int)size);
        assert_int_equal(buf[size], 0x5A);
    }
}

/*
 * Random byte mutations of valid encodings: the decoder must never crash or read out of bounds
 * (run under ASan), and anything it accepts must re-encode to exactly the mutated bytes.
 */
static void test_random_mutations(void **state)
{
    (void)state;
    uint8_t enc[SAMPLE_COUNT][1024];
    size_t len[SAMPLE_COUNT];
    for (int i = 0; i < SAMPLE_COUNT; i++)
        len[i] = encode_sample(i, enc[i], sizeof enc[i]);
    static const uint8_t specials[] = {0x00, 0x01, 0x7F, 0x80, 0x81, 0xFF, 0xD7, 0x10, 0x11};
    dyn_prng_t prng;
    dyn_prng_seed(&prng, 0xC0DEC0DEull);
    uint8_t *work = malloc(1100);
    assert_non_null(work);
    unsigned accepted = 0, changed_accepted = 0;
    const unsigned rounds = 300000;
    for (unsigned round = 0; round < rounds; round++) {
        int i = (int)dyn_prng_below(&prng, SAMPLE_COUNT);
        size_t n = len[i];
        memcpy(work, enc[i], n);
        unsigned edits = 1 + (unsigned)dyn_prng_below(&prng, 4);
        for (unsigned e = 0; e < edits && n > 0; e++) {
            size_t at = (size_t)dyn_prng_below(&prng, n);
            switch (dyn_prng_below(&prng, 8)) {
            case 0: case 1: case 2:
                work[at] ^= (uint8_t)(1u << dyn_prng_below(&prng, 8));
                break;
            case 3: case 4:
                work[at] = (uint8_t)dyn_prng_u64(&prng);
                break;
            case 5:
                work[at] = specials[dyn_prng_below(&prng, sizeof specials)];
                break;
            case 6: /* delete a byte */
                memmove(work + at, work + at + 1, n - at - 1);
                n--;
                break;
            default: /* insert a byte */
                if (n < 1024) {
                    memmove(work + at + 1, work + at, n - at);
                    work[at] = (uint8_t)dyn_prng_u64(&prng);
                    n++;
                }
                break;
            }
        }
        /* Copy to an exactly-sized heap block so ASan flags any overread. */
        uint8_t *exact = malloc(n ? n : 1);
        assert_non_null(exact);
        memcpy(exact, work, n);
        dyn_msg_t d;
        dyn_msg_init(&d, (dyn_msg_type_t)0);
        int rc = dyn_codec_decode(exact, n, &d);
        assert_true(rc == DYN_OK || rc == DYN_EBADMSG || rc == DYN_EVERSION);
        if (rc == DYN_OK) {
            accepted++;
            if (n != len[i] || memcmp(exact, enc[i], n) != 0)
                changed_accepted++;
            assert_reencodes(&d, exact, n);
            dyn_msg_clear(&d);
        } else {
            assert_null(d.siblings.items);
        }
        free(exact);
    }
    free(work);
    print_message("%u mutations: %u decoded (%u differing from the original), all canonical\n",
                  rounds, accepted, changed_accepted);
    /* Many mutations land in request ids, timestamps and value bytes and stay valid. */
    assert_true(changed_accepted > rounds / 50);
    assert_true(accepted < rounds);
}

/* ------------------------------------------------------------------------------------------ */
/* Seed corpus for tests/fuzz_codec.c                                                           */

static int write_file(const char *dir, const char *name, const uint8_t *bytes, size_t length)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, length, f) != length || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static int write_corpus(const char *dir)
{
    uint8_t buf[BUF_CAP];
    char name[128];
    int failed = 0;
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        dyn_msg_t m;
        sample_storage_t s;
        make_sample(i, &m, &s);
        int n = dyn_codec_encode(&m, buf, sizeof buf);
        if (n <= 0)
            return 1;
        snprintf(name, sizeof name, "msg_%02d_%s", i, SAMPLE_NAMES[i]);
        failed |= write_file(dir, name, buf, (size_t)n);
    }
    dyn_version_t items[3];
    make_versions(items);
    for (uint32_t count = 0; count <= 3; count++) {
        dyn_siblings_t set = {count, 3, items};
        int n = dyn_codec_encode_siblings(&set, buf, sizeof buf);
        if (n <= 0)
            return 1;
        snprintf(name, sizeof name, "siblings_%u", count);
        failed |= write_file(dir, name, buf, (size_t)n);
    }
    dyn_vclock_t vc;
    const entry_spec_t *clocks[] = {CLOCK_C, CLOCK3, CLOCK_MAX};
    const uint32_t counts[] = {1, 3, 4};
    for (int c = 0; c < 3; c++) {
        set_clock(&vc, clocks[c], counts[c]);
        int n = dyn_codec_encode_vclock(&vc, buf, sizeof buf);
        if (n <= 0)
            return 1;
        snprintf(name, sizeof name, "vclock_%u", counts[c]);
        failed |= write_file(dir, name, buf, (size_t)n);
    }
    dyn_vclock_init(&vc);
    int n = dyn_codec_encode_vclock(&vc, buf, sizeof buf);
    failed |= n <= 0 || write_file(dir, "vclock_0", buf, (size_t)n);
    return failed;
}

/* REAP: a phase other than ask or commit is refused both ways; the print is exactly 8 bytes. */
static void test_reap_strictness(void **state)
{
    (void)state;
    uint8_t buf[256];
    dyn_msg_t m, d;
    sample_storage_t s;
    make_sample(30, &m, &s);
    int n = dyn_codec_encode(&m, buf, sizeof buf);
    assert_true(n > 0);
    /* Header (3), request id (varint), then the phase byte. */
    size_t at = 3;
    while (buf[at] & 0x80)
        at++;
    at++;
    assert_int_equal(buf[at], DYN_REAP_ASK);
    dyn_msg_init(&d, (dyn_msg_type_t)0);
    buf[at] = 2;
    assert_int_equal(dyn_codec_decode(buf, (size_t)n, &d), DYN_EBADMSG);
    buf[at] = DYN_REAP_COMMIT;
    assert_int_equal(dyn_codec_decode(buf, (size_t)n, &d), DYN_OK);
    assert_int_equal(d.reap_phase, DYN_REAP_COMMIT);
    assert_int_equal(dyn_codec_decode(buf, (size_t)n - 1, &d), DYN_EBADMSG); /* print cut */
    dyn_msg_clear(&d);
    m.reap_phase = 2;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    m.reap_phase = DYN_REAP_ASK;
    m.key_length = 0; /* every key is at least one byte */
    assert_true(dyn_codec_encode(&m, buf, sizeof buf) < 0);
}

/* PING_REQ names a member to ping: target 0 is refused both ways. */
static void test_ping_req_strictness(void **state)
{
    (void)state;
    uint8_t buf[64];
    dyn_msg_t m, d;
    sample_storage_t s;
    make_sample(35, &m, &s);
    int n = dyn_codec_encode(&m, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(buf[n - 1], 5); /* the target is the last field, one byte */
    dyn_msg_init(&d, (dyn_msg_type_t)0);
    assert_int_equal(dyn_codec_decode(buf, (size_t)n, &d), DYN_OK);
    assert_int_equal(d.hint, 5);
    buf[n - 1] = 0;
    assert_int_equal(dyn_codec_decode(buf, (size_t)n, &d), DYN_EBADMSG);
    assert_int_equal(dyn_codec_decode(buf, (size_t)n - 1, &d), DYN_EBADMSG);
    m.hint = 0;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
}

/* Anti-entropy lists: counts, order, levels and indices are checked against their bounds. */
static void test_ae_strictness(void **state)
{
    (void)state;
    builder_t b;
    /* AE_HASHES (range 5, level, count, entries) with the given level and indices. */
    const struct {
        unsigned level;
        uint32_t count;
        uint32_t indices[3];
        int expect;
    } hashes[] = {
        {0, 1, {0}, DYN_OK},
        {0, 1, {1}, DYN_EBADMSG},              /* 2^0 = 1 node at the root level */
        {3, 3, {0, 5, 7}, DYN_OK},
        {3, 2, {5, 5}, DYN_EBADMSG},           /* duplicate */
        {3, 2, {6, 5}, DYN_EBADMSG},           /* unsorted */
        {3, 1, {8}, DYN_EBADMSG},              /* past the level */
        {16, 1, {65535}, DYN_OK},
        {17, 1, {0}, DYN_EBADMSG},             /* deeper than any tree */
        {2, 0, {0}, DYN_EBADMSG},              /* nothing to compare */
    };
    for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
        b_header(&b, DYN_MSG_AE_HASHES, 1);
        b_varint(&b, 5);
        b_u8(&b, (uint8_t)hashes[i].level);
        b_varint(&b, hashes[i].count);
        for (uint32_t k = 0; k < hashes[i].count; k++) {
            b_varint(&b, hashes[i].indices[k]);
            b_le(&b, 0x1122334455667788ull, 8);
        }
        assert_int_equal(decode_built(&b), hashes[i].expect);
    }
    /* A count the remaining bytes cannot hold is refused before anything is read. */
    b_header(&b, DYN_MSG_AE_HASHES, 1);
    b_varint(&b, 5);
    b_u8(&b, 4);
    b_varint(&b, DYN_AE_LIST_MAX);
    b_varint(&b, 1);
    b_le(&b, 7, 8);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    b_header(&b, DYN_MSG_AE_HASHES, 1);
    b_varint(&b, 5);
    b_u8(&b, 4);
    b_varint(&b, DYN_AE_LIST_MAX + 1);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    /* AE_KEYS: leaves sorted, keys non-empty, each with 8 bytes of print. */
    b_header(&b, DYN_MSG_AE_KEYS, 1);
    b_varint(&b, 9);
    b_varint(&b, 2);
    b_varint(&b, 3);
    b_varint(&b, 2); /* unsorted */
    b_varint(&b, 0);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    b_header(&b, DYN_MSG_AE_KEYS, 1);
    b_varint(&b, 9);
    b_varint(&b, 0);
    b_varint(&b, 1);
    b_varint(&b, 0); /* an empty key */
    b_le(&b, 1, 8);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    b_header(&b, DYN_MSG_AE_KEYS, 1);
    b_varint(&b, 9);
    b_varint(&b, 0);
    b_varint(&b, 1);
    b_varint(&b, 1);
    b_u8(&b, 'k');
    b_le(&b, 1, 7); /* a print cut short */
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    /* AE_PULL: at least one key. */
    b_header(&b, DYN_MSG_AE_PULL, 1);
    b_varint(&b, 9);
    b_varint(&b, 0);
    assert_int_equal(decode_built(&b), DYN_EBADMSG);
    b_header(&b, DYN_MSG_AE_PULL, 1);
    b_varint(&b, 9);
    b_varint(&b, 1);
    b_varint(&b, 1);
    b_u8(&b, 'k');
    assert_int_equal(decode_built(&b), DYN_OK);
    /* Encoding refuses what decoding would: unsorted indices, prints in a pull. */
    uint8_t buf[BUF_CAP];
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_AE_HASHES);
    const uint32_t unsorted[2] = {4, 2};
    const uint64_t h[2] = {1, 2};
    m.level = 3;
    m.index_count = 2;
    m.indices = unsorted;
    m.hashes = h;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
    dyn_msg_init(&m, DYN_MSG_AE_PULL);
    const dyn_ae_key_t printed = {(const uint8_t *)"k", 1, 5};
    m.key_count = 1;
    m.keys = &printed;
    assert_int_equal(dyn_codec_encode(&m, buf, sizeof buf), DYN_EINVAL);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_sample),
        cmocka_unit_test(test_value_max_roundtrip),
        cmocka_unit_test(test_peek_key),
        cmocka_unit_test(test_widest_fields),
        cmocka_unit_test(test_message_max),
        cmocka_unit_test(test_siblings_and_vclock_api),
        cmocka_unit_test(test_blob_passthrough),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_trailing_byte_fails),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_sibling_order_enforced),
        cmocka_unit_test(test_relay_rewrite),
        cmocka_unit_test(test_written_dot_canonical),
        cmocka_unit_test(test_dot_rules),
        cmocka_unit_test(test_clock_order_and_counter),
        cmocka_unit_test(test_varint_strictness),
        cmocka_unit_test(test_varint_boundaries),
        cmocka_unit_test(test_nonminimal_request_id_in_every_sample),
        cmocka_unit_test(test_status_range),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_ae_strictness),
        cmocka_unit_test(test_reap_strictness),
        cmocka_unit_test(test_ping_req_strictness),
        cmocka_unit_test(test_tombstone_with_value),
        cmocka_unit_test(test_encode_invalid),
        cmocka_unit_test(test_encode_buffer_too_small),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
