/*
 * anti_entropy.c: Merkle-tree anti-entropy between the replicas of a key range (paper 4.7).
 *
 * Every node keeps one tree per key range it stores keys of, updated on each write to its data
 * (node_ae_note_write). Every ae_interval it picks the next range it replicates and one other
 * replica of that range, and sends the tree's root. The exchange is a stateless ping-pong: each
 * side compares the hashes it receives with its own, and answers with its hashes of the children
 * of the nodes that differ, one level further down, until nothing differs or the leaves are
 * reached. The side that finds differing leaves sends its keys in those leaves with their prints
 * (AE_KEYS); the other pushes every key it holds that the sender lacks or holds differently
 * (AE_PUSH, the whole sibling set) and pulls the reverse (AE_PULL), so both end with the merge.
 * Equal trees cost one datagram; each round trip halves the part of the range still in question.
 *
 * Rate: one exchange starts per node per interval; the datagrams of one exchange are bounded by
 * the tree (at most DYN_AE_LIST_MAX hashes each) and the pushes by the keys of the leaves that
 * differ. Repair is best effort: a lost datagram ends an exchange, and the next interval's
 * exchange of that range starts over from the root.
 *
 * Keys are found by scanning the data space and keeping those of the range and leaves wanted;
 * the tree stores no keys. That scan is the cost of a differing leaf, paid only when one differs.
 */
#include <stdlib.h>
#include <string.h>

#include "core/node_internal.h"
#include "core/prng.h"
#include "core/ring.h"
#include "core/status.h"

/* Bytes of keys per AE_KEYS or AE_PULL datagram, so one stays well inside a UDP datagram. */
#define AE_KEY_BYTES_MAX 16384u

/*
 * The tree of a range this node replicates (created at first use), or NULL for a range it does
 * not replicate (no exchange covers it) or when memory ran out. Trees are kept per owned range
 * only, in the order of ae->owned, so a node of a large cluster pays for its own share.
 */
static dyn_merkle_t *tree_of(dyn_node_t *node, uint32_t range, bool create)
{
    node_ae_t *ae = &node->ae;
    DYN_ASSERT(range < ae->range_count);
    uint32_t i = node_u32_lower_bound(ae->owned, ae->owned_count, range);
    if (i == ae->owned_count || ae->owned[i] != range)
        return NULL;
    if (!ae->trees[i] && create)
        (void)dyn_merkle_create(&ae->trees[i], node->config.merkle_depth);
    return ae->trees[i];
}

/*
 * A key's digest in the tree mixes its ring hash, which stands for the key (a collision would
 * merge two keys' digests; 2^-64 is below every other risk here), with the dots print of its set.
 * Both are already well-mixed 64-bit hashes, so the project's two-word mixer does; this runs twice
 * on every write, where the Merkle module's general key digest (XXH3 over the key bytes) cost
 * 1.3 % of the simulator's instructions. Never 0, which means "no key".
 */
static uint64_t key_digest(uint64_t key_hash, uint64_t print)
{
    uint64_t d = dyn_seed_derive(key_hash, print);
    return d ? d : 1;
}

void node_ae_note_write(dyn_node_t *node, uint64_t key_hash, uint64_t old_print,
                        uint64_t new_print)
{
    dyn_merkle_t *tree = tree_of(node, dyn_ring_range_of(node->ring, key_hash), true);
    if (!tree)
        return; /* not a range this node replicates, or out of memory: nothing else breaks */
    dyn_merkle_update(tree, key_hash, old_print ? key_digest(key_hash, old_print) : 0,
                      new_print ? key_digest(key_hash, new_print) : 0);
}

void dyn_node_prefetch_write(const dyn_node_t *node, const uint8_t *key, size_t key_length)
{
    if (!node->config.anti_entropy)
        return;
    const node_ae_t *ae = &node->ae;
    uint64_t key_hash = dyn_ring_hash(key, key_length);
    uint32_t range = dyn_ring_range_of(node->ring, key_hash);
    if (range >= ae->range_count)
        return;
    uint32_t i = node_u32_lower_bound(ae->owned, ae->owned_count, range);
    if (i == ae->owned_count || ae->owned[i] != range || !ae->trees[i])
        return;
    dyn_merkle_prefetch(ae->trees[i], node->config.merkle_depth, key_hash);
}

/* The dots print of a stored set, as node_ae_note_write() saw it. */
static uint64_t stored_print(dyn_node_t *node, const uint8_t *blob, size_t length)
{
    int rc = dyn_codec_decode_siblings(blob, length, &node->ae.set);
    DYN_ASSERT(rc == DYN_OK); /* a store holds only what it encoded */
    return dyn_siblings_dots_print(&node->ae.set);
}

/* Whether node `id` is among the first N of range `range`. */
static bool replicates(const dyn_node_t *node, uint32_t range, uint32_t id)
{
    uint32_t list[DYN_N_MAX];
    size_t n = dyn_ring_range_preference_list(node->ring, range, list, node->config.n);
    for (size_t i = 0; i < n; i++)
        if (list[i] == id)
            return true;
    return false;
}

static int add_stored_key(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                          size_t blob_length)
{
    dyn_node_t *node = arg;
    uint64_t key_hash = dyn_ring_hash(key, key_length);
    uint32_t range = dyn_ring_range_of(node->ring, key_hash);
    dyn_merkle_t *tree = tree_of(node, range, true);
    if (!tree)
        return node_u32_has(node->ae.owned, node->ae.owned_count, range) ? DYN_ENOMEM : 0;
    uint64_t print = stored_print(node, blob, blob_length);
    dyn_merkle_update(tree, key_hash, 0, key_digest(key_hash, print));
    return 0;
}

int node_ae_init(dyn_node_t *node)
{
    node_ae_t *ae = &node->ae;
    dyn_siblings_init(&ae->set);
    ae->range_count = (uint32_t)dyn_ring_range_count(node->ring);
    /* Count the ranges this node replicates first, so both arrays are sized to them. */
    uint32_t count = 0;
    for (uint32_t r = 0; r < ae->range_count; r++)
        count += replicates(node, r, node->config.id);
    ae->trees = calloc(count ? count : 1, sizeof(*ae->trees));
    ae->owned = malloc((count ? count : 1) * sizeof(*ae->owned));
    if (!ae->trees || !ae->owned)
        return DYN_ENOMEM;
    for (uint32_t r = 0; r < ae->range_count; r++)
        if (replicates(node, r, node->config.id))
            ae->owned[ae->owned_count++] = r;
    DYN_ASSERT(ae->owned_count == count);
    /* Start the exchanges at a random range, so the nodes of a range do not all pick it first. */
    ae->next = ae->owned_count ? (uint32_t)dyn_prng_below(&node->prng, ae->owned_count) : 0;
    /* The trees describe what the store holds now: after a restart, what survived the crash. */
    int rc = node->storage.ops->scan(node->storage.ctx, DYN_SPACE_DATA, add_stored_key, node);
    return rc < 0 ? rc : DYN_OK;
}

void node_ae_free(dyn_node_t *node)
{
    node_ae_t *ae = &node->ae;
    if (ae->trees)
        for (uint32_t i = 0; i < ae->owned_count; i++)
            dyn_merkle_destroy(ae->trees[i]);
    free(ae->trees);
    free(ae->owned);
    free(ae->keys);
    dyn_siblings_clear(&ae->set);
    memset(ae, 0, sizeof(*ae));
}

static void ae_send(dyn_node_t *node, dyn_endpoint_t to, const dyn_msg_t *msg)
{
    int length = node_send_msg(node, to, msg);
    if (length > 0) {
        node->stats.ae_messages++;
        node->stats.ae_bytes += (uint64_t)length;
    }
}

/* Send our hashes of nodes (level, indices[]) of the range, in datagrams of bounded size. */
static void send_hashes(dyn_node_t *node, dyn_endpoint_t to, uint32_t range, unsigned level,
                        const uint32_t *indices, size_t count)
{
    dyn_merkle_t *tree = tree_of(node, range, true);
    if (!tree)
        return;
    uint64_t hashes[DYN_AE_LIST_MAX];
    for (size_t done = 0; done < count;) {
        size_t chunk = count - done < DYN_AE_LIST_MAX ? count - done : DYN_AE_LIST_MAX;
        int rc = dyn_merkle_hashes(tree, level, indices + done, chunk, hashes);
        DYN_ASSERT(rc == DYN_OK); /* our own indices, derived from checked ones */
        dyn_msg_t msg;
        dyn_msg_init(&msg, DYN_MSG_AE_HASHES);
        msg.range = range;
        msg.level = (uint8_t)level;
        msg.index_count = (uint32_t)chunk;
        msg.indices = indices + done;
        msg.hashes = hashes;
        ae_send(node, to, &msg);
        done += chunk;
    }
}

void node_ae_tick(dyn_node_t *node, dyn_time_us now_us)
{
    node_ae_t *ae = &node->ae;
    if (now_us < ae->next_at || ae->owned_count == 0)
        return;
    ae->next_at = now_us + node->config.ae_interval_us;
    uint32_t range = ae->owned[ae->next];
    ae->next = (ae->next + 1) % ae->owned_count;
    /* A peer: another replica of the range, a random one of those not suspected. */
    uint32_t list[DYN_N_MAX], peers[DYN_N_MAX], count = 0;
    size_t n = dyn_ring_range_preference_list(node->ring, range, list, node->config.n);
    for (size_t i = 0; i < n; i++)
        if (list[i] != node->config.id && !node_suspected(node, list[i]))
            peers[count++] = list[i];
    if (count == 0)
        return;
    node->stats.ae_exchanges++;
    const uint32_t root = 0;
    send_hashes(node, peers[dyn_prng_below(&node->prng, count)], range, 0, &root, 1);
}

/* ---- keys of some leaves ---------------------------------------------------------------- */

typedef struct gather {
    dyn_node_t *node;
    uint32_t range;
    const uint32_t *leaves;  /* sorted */
    uint32_t leaf_count;
    dyn_merkle_t *tree;
    int failed;
} gather_t;

/* Append (u16 length, key, u64 print) to ae->keys. */
static int keep_key(node_ae_t *ae, const uint8_t *key, size_t key_length, uint64_t print)
{
    size_t need = ae->keys_length + 2 + key_length + 8;
    if (need > ae->keys_capacity) {
        size_t cap = ae->keys_capacity ? ae->keys_capacity : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(ae->keys, cap);
        if (!p)
            return DYN_ENOMEM;
        ae->keys = p;
        ae->keys_capacity = cap;
    }
    uint8_t *p = ae->keys + ae->keys_length;
    p[0] = (uint8_t)key_length;
    p[1] = (uint8_t)(key_length >> 8);
    memcpy(p + 2, key, key_length);
    memcpy(p + 2 + key_length, &print, 8);
    ae->keys_length = need;
    return DYN_OK;
}

static int gather_one(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                      size_t blob_length)
{
    gather_t *g = arg;
    uint64_t key_hash = dyn_ring_hash(key, key_length);
    if (dyn_ring_range_of(g->node->ring, key_hash) != g->range ||
        !node_u32_has(g->leaves, g->leaf_count, dyn_merkle_leaf_of(g->tree, key_hash)))
        return 0;
    if (keep_key(&g->node->ae, key, key_length, stored_print(g->node, blob, blob_length)) !=
        DYN_OK) {
        g->failed = 1;
        return 1;
    }
    return 0;
}

/* Fill ae->keys with our keys of the range in the given leaves. */
static int gather_keys(dyn_node_t *node, uint32_t range, const uint32_t *leaves, uint32_t count)
{
    gather_t g = {node, range, leaves, count, tree_of(node, range, true), 0};
    node->ae.keys_length = 0;
    if (!g.tree)
        return DYN_ENOMEM;
    int rc = node->storage.ops->scan(node->storage.ctx, DYN_SPACE_DATA, gather_one, &g);
    return g.failed ? DYN_ENOMEM : rc < 0 ? rc : DYN_OK;
}

/* Walk ae->keys: *at is advanced past one entry. */
static void next_key(const node_ae_t *ae, size_t *at, dyn_ae_key_t *out)
{
    const uint8_t *p = ae->keys + *at;
    out->key_length = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    out->key = p + 2;
    memcpy(&out->print, p + 2 + out->key_length, 8);
    *at += 2 + out->key_length + 8;
}

/* ---- the exchange ----------------------------------------------------------------------- */

/* Send our set of one key to `to`, to merge. */
static void push_key(dyn_node_t *node, dyn_endpoint_t to, const uint8_t *key, size_t key_length)
{
    const uint8_t *blob;
    size_t length;
    if (node->storage.ops->get(node->storage.ctx, DYN_SPACE_DATA, key, key_length, &blob,
                               &length) != DYN_OK)
        return;
    dyn_msg_t msg;
    dyn_msg_init(&msg, DYN_MSG_AE_PUSH);
    msg.key = key;
    msg.key_length = (uint32_t)key_length;
    msg.siblings_blob = blob;
    msg.siblings_blob_length = (uint32_t)length;
    ae_send(node, to, &msg);
    node->stats.ae_keys_pushed++;
}

/*
 * The leaves that differ: send our keys in them, with prints, leaf group by leaf group so that a
 * datagram stays under AE_KEY_BYTES_MAX (a single leaf over the bound is cut; the peer then sees
 * some of our keys as missing and pushes them: redundant, not wrong).
 */
static void send_leaf_keys(dyn_node_t *node, dyn_endpoint_t to, uint32_t range,
                           const uint32_t *leaves, uint32_t count)
{
    dyn_merkle_t *tree = tree_of(node, range, true);
    if (!tree || gather_keys(node, range, leaves, count) != DYN_OK)
        return;
    node_ae_t *ae = &node->ae;
    dyn_ae_key_t keys[DYN_AE_KEYS_MAX];
    uint32_t first = 0;
    while (first < count) {
        uint32_t last = first, nkeys = 0;
        size_t bytes = 0;
        /* Take whole leaves while their keys fit. */
        for (; last < count; last++) {
            uint32_t before = nkeys;
            size_t before_bytes = bytes;
            for (size_t at = 0; at < ae->keys_length;) {
                dyn_ae_key_t k;
                next_key(ae, &at, &k);
                if (dyn_merkle_leaf_of(tree, dyn_ring_hash(k.key, k.key_length)) != leaves[last])
                    continue;
                if (nkeys == DYN_AE_KEYS_MAX || bytes + k.key_length > AE_KEY_BYTES_MAX)
                    break;
                keys[nkeys++] = k;
                bytes += k.key_length;
            }
            bool full = nkeys == DYN_AE_KEYS_MAX || bytes >= AE_KEY_BYTES_MAX;
            if (full && last > first) {
                nkeys = before; /* this leaf goes in the next datagram, whole */
                bytes = before_bytes;
                break;
            }
            if (full) {
                last++;
                break;
            }
        }
        dyn_msg_t msg;
        dyn_msg_init(&msg, DYN_MSG_AE_KEYS);
        msg.range = range;
        msg.index_count = last - first;
        msg.indices = leaves + first;
        msg.key_count = nkeys;
        msg.keys = keys;
        ae_send(node, to, &msg);
        first = last;
    }
}

static void on_hashes(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    dyn_merkle_t *tree = tree_of(node, msg->range, true);
    if (!tree)
        return;
    uint32_t differ[DYN_AE_LIST_MAX];
    int k = dyn_merkle_compare(tree, msg->level, msg->indices, msg->hashes, msg->index_count,
                               differ);
    if (k < 0) {
        node->stats.bad_messages++; /* a level or index our tree does not have */
        return;
    }
    if (k == 0) {
        node->stats.ae_in_sync += msg->level == 0;
        return;
    }
    if (msg->level == dyn_merkle_depth(tree)) {
        send_leaf_keys(node, from, msg->range, differ, (uint32_t)k);
        return;
    }
    uint32_t children[2 * DYN_AE_LIST_MAX];
    int c = dyn_merkle_descend(tree, msg->level, differ, (size_t)k, children);
    DYN_ASSERT(c == 2 * k);
    send_hashes(node, from, msg->range, msg->level + 1u, children, (size_t)c);
}

/* Send AE_PULL datagrams for the keys collected in `pull`. */
static void send_pull(dyn_node_t *node, dyn_endpoint_t to, uint32_t range, dyn_ae_key_t *pull,
                      uint32_t count)
{
    for (uint32_t done = 0; done < count;) {
        uint32_t chunk = 0;
        size_t bytes = 0;
        while (done + chunk < count && chunk < DYN_AE_KEYS_MAX &&
               (chunk == 0 || bytes + pull[done + chunk].key_length <= AE_KEY_BYTES_MAX))
            bytes += pull[done + chunk++].key_length;
        dyn_msg_t msg;
        dyn_msg_init(&msg, DYN_MSG_AE_PULL);
        msg.range = range;
        msg.key_count = chunk;
        msg.keys = pull + done;
        ae_send(node, to, &msg);
        done += chunk;
    }
}

/*
 * The peer's keys of some leaves: push ours that it lacks or holds differently, and pull its
 * keys that we lack or hold differently.
 */
static void on_keys(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    if (gather_keys(node, msg->range, msg->indices, msg->index_count) != DYN_OK)
        return;
    node_ae_t *ae = &node->ae;
    dyn_ae_key_t pull[DYN_AE_KEYS_MAX];
    uint32_t pulls = 0;
    bool matched[DYN_AE_KEYS_MAX] = {false};
    for (size_t at = 0; at < ae->keys_length;) {
        dyn_ae_key_t mine;
        next_key(ae, &at, &mine);
        bool same = false, theirs = false;
        for (uint32_t i = 0; i < msg->key_count && !theirs; i++) {
            const dyn_ae_key_t *k = &msg->keys[i];
            if (k->key_length == mine.key_length &&
                memcmp(k->key, mine.key, mine.key_length) == 0) {
                theirs = true;
                matched[i] = true;
                same = k->print == mine.print;
            }
        }
        if (same)
            continue;
        push_key(node, from, mine.key, mine.key_length);
        if (theirs)
            pull[pulls++] = (dyn_ae_key_t){mine.key, mine.key_length, 0};
    }
    for (uint32_t i = 0; i < msg->key_count; i++)
        if (!matched[i])
            pull[pulls++] = (dyn_ae_key_t){msg->keys[i].key, msg->keys[i].key_length, 0};
    /* At most one pull per key the peer named: pulls <= key_count <= DYN_AE_KEYS_MAX. */
    send_pull(node, from, msg->range, pull, pulls);
}

static void on_push(dyn_node_t *node, const dyn_msg_t *msg)
{
    uint64_t key_hash = dyn_ring_hash(msg->key, msg->key_length);
    place_t pl = node_data_place(msg->key, msg->key_length);
    int rc = node_apply_versions(node, &pl, key_hash, msg->siblings.items, msg->siblings.count);
    if (rc > 0)
        node->stats.ae_keys_repaired++;
}

void node_ae_on_message(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    if (msg->type == DYN_MSG_AE_PUSH) {
        on_push(node, msg);
        return;
    }
    /* Exchanges are between replicas of the range; anything else is stray (rings disagree). */
    if (msg->range >= node->ae.range_count || !replicates(node, msg->range, node->config.id) ||
        !replicates(node, msg->range, from)) {
        node->stats.stray_messages++;
        return;
    }
    switch (msg->type) {
    case DYN_MSG_AE_HASHES:
        on_hashes(node, from, msg);
        break;
    case DYN_MSG_AE_KEYS:
        on_keys(node, from, msg);
        break;
    case DYN_MSG_AE_PULL:
        for (uint32_t i = 0; i < msg->key_count; i++)
            push_key(node, from, msg->keys[i].key, msg->keys[i].key_length);
        break;
    default:
        DYN_ASSERT(!"not an anti-entropy message");
    }
}
