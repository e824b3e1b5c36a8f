/*
 * reaper.c: tombstone collection, once every replica holds the tombstone.
 *
 * A delete leaves a tombstone: a version with no value whose past covers what it deletes. It must
 * outlive every version it covers, or a replica that missed the delete would bring the value
 * back. It can go once every one of the key's N owners holds the same tombstone-only set: then no
 * owner can serve or repair an older version, and any version still in flight is covered by it.
 *
 * The key's first owner (its primary) runs the collection, so each key has one collector. Whenever
 * it stores a tombstone-only set it notes the key; a note ripens after tombstone_grace, which lets
 * in-flight writes, hints and repairs settle first. A ripe key is re-read: if it is still
 * tombstone-only, the primary asks every other owner (REAP ask) whether it holds exactly the same
 * set, named by its dots print, and every other node of the walk where hints live whether it holds
 * a hint of the key (a hint is a replica too: handed off after the reap, a covered version in it
 * would bring a deleted value back). Owners sync before they say yes. When all say yes, the
 * primary tells the owners to reap (REAP commit) and reaps its own copy; an owner reaps only if
 * its set is still that one. Any no, a suspected owner
 * or a lost datagram ends the round, and the key is noted again for a later try. A lost commit
 * leaves one owner with the tombstone; anti-entropy copies it back to the others, and the next
 * round collects it. Nothing here is needed for safety: a tombstone kept is only space.
 *
 * The notes are a bounded queue in memory. When it overflows, or after a restart, the next sweep
 * finds the tombstones by scanning the data space instead.
 *
 * What a reap forgets: the key's history, and with it the counters this node's actor issued on the
 * key. Dots must never repeat, and a coordinator picks a key's next counter from what it stores, so
 * a reaping node keeps the key's highest own counter (its floor) until it next writes the key, and
 * that write counts on from it (node.c: coordinate_local_put). A floor the bounded table cannot
 * hold makes the node take a new epoch before its next write instead. What a reap cannot prevent:
 * a covered version still in flight in the network when the grace ends, which the grace is there
 * to outlast.
 */
#include <stdlib.h>
#include <string.h>

#include "core/node_internal.h"
#include "core/ring.h"
#include "core/status.h"

/* Tombstone notes a node queues before it falls back to scanning the data space. */
#define REAP_NOTES_MAX 4096u
/* Reap rounds in flight per node, and their ids (the top bit keeps them apart from op ids). */
#define REAP_ROUNDS_MAX 64u
#define REAP_ID_TAG (1ULL << 63)

typedef struct reap_note {
    uint8_t *key;
    uint32_t key_length;
    dyn_time_us seen_us;  /* when the key was seen tombstone-only; the grace runs from here */
    uint64_t print;       /* the tombstone set seen then: a later set has a note of its own */
} reap_note_t;

typedef struct reap_round {
    bool busy;
    uint16_t generation;
    uint8_t asked;                /* nodes asked: the other owners, then the fallbacks */
    uint8_t owners_asked;         /* of those, owners (the first ones) */
    uint32_t agreed_mask;         /* bit i: asked[i] said yes (a duplicate counts once) */
    uint32_t owners[DYN_FALLBACK_WALK_MAX];
    uint8_t *key;
    uint32_t key_length;
    uint64_t key_hash, print;
    dyn_time_us deadline_us;
} reap_round_t;

typedef struct reap_floor {
    uint64_t key_hash;
    uint64_t floor;   /* 0: a free slot */
} reap_floor_t;

/* Reaped keys whose counter floor a node keeps until it next writes them; see keep_floor. */
#define REAP_FLOORS_MAX 4096u
#define REAP_FLOOR_WAYS 4u

struct node_reaper {
    reap_floor_t *floors;         /* REAP_FLOORS_MAX, allocated at the first reap */
    uint32_t floor_count;
    reap_note_t *notes;           /* a FIFO ring of REAP_NOTES_MAX, allocated at the first note */
    uint32_t head, count;
    bool scan_needed;             /* notes were dropped, or the node just started */
    reap_round_t rounds[REAP_ROUNDS_MAX];
    dyn_siblings_t set;           /* a stored set decoded for its print; reused */
};

int node_reap_init(dyn_node_t *node)
{
    node_reaper_t *r = calloc(1, sizeof *r);
    if (!r)
        return DYN_ENOMEM;
    dyn_siblings_init(&r->set);
    r->scan_needed = true; /* tombstones stored before a restart were never noted */
    node->reaper = r;
    return DYN_OK;
}

void node_reap_free(dyn_node_t *node)
{
    node_reaper_t *r = node->reaper;
    if (!r)
        return;
    for (uint32_t i = 0; i < r->count; i++)
        free(r->notes[(r->head + i) % REAP_NOTES_MAX].key);
    for (uint32_t i = 0; i < REAP_ROUNDS_MAX; i++)
        free(r->rounds[i].key);
    free(r->notes);
    free(r->floors);
    dyn_siblings_clear(&r->set);
    free(r);
    node->reaper = NULL;
}

static bool is_primary(const dyn_node_t *node, uint64_t key_hash)
{
    uint32_t first;
    return dyn_ring_preference_list(node->ring, key_hash, &first, 1) == 1 &&
           first == node->config.id;
}

/* Queue a note; one that does not fit is left for the next scan to find. */
static void note(node_reaper_t *r, const uint8_t *key, size_t key_length, dyn_time_us seen_us,
                 uint64_t print)
{
    if (!r->notes)
        r->notes = calloc(REAP_NOTES_MAX, sizeof *r->notes);
    uint8_t *copy = r->notes && r->count < REAP_NOTES_MAX ? malloc(key_length ? key_length : 1)
                                                          : NULL;
    if (!copy) {
        r->scan_needed = true;
        return;
    }
    memcpy(copy, key, key_length);
    r->notes[(r->head + r->count) % REAP_NOTES_MAX] =
        (reap_note_t){.key = copy, .key_length = (uint32_t)key_length, .seen_us = seen_us,
                      .print = print};
    r->count++;
}

void node_reap_note_write(dyn_node_t *node, const uint8_t *key, size_t key_length,
                          uint64_t key_hash, const dyn_siblings_t *set)
{
    if (node->config.tombstone_grace_us == 0 || set->count == 0 ||
        dyn_siblings_live_count(set) != 0 || !is_primary(node, key_hash))
        return;
    note(node->reaper, key, key_length, node->now_us, dyn_siblings_dots_print(set));
}

/*
 * The stored DATA set of a key, decoded into r->set: its print if it is tombstone-only, else 0
 * (absent, or holding a live value).
 */
static uint64_t tombstone_print(dyn_node_t *node, const uint8_t *key, size_t key_length)
{
    node_reaper_t *r = node->reaper;
    const uint8_t *blob;
    size_t length;
    if (node->storage.ops->get(node->storage.ctx, DYN_SPACE_DATA, key, key_length, &blob,
                               &length) != DYN_OK)
        return 0;
    int rc = dyn_codec_decode_siblings(blob, length, &r->set);
    DYN_ASSERT(rc == DYN_OK); /* a store holds only what it encoded */
    if (r->set.count == 0 || dyn_siblings_live_count(&r->set) != 0)
        return 0;
    return dyn_siblings_dots_print(&r->set);
}

/*
 * Counter floors of keys whose stored set forgot this actor's highest counter (a reap, or a clock
 * truncated elsewhere): a small set-associative table of (key hash, floor). A floor that finds no
 * room cannot be kept, and then the node's next write takes a new epoch instead, which is
 * safe for every key at once but grows clocks by an actor; the table makes that rare.
 */
static uint32_t floor_bucket(uint64_t key_hash)
{
    return (uint32_t)(key_hash % (REAP_FLOORS_MAX / REAP_FLOOR_WAYS)) * REAP_FLOOR_WAYS;
}

void node_reap_keep_floor(dyn_node_t *node, uint64_t key_hash, uint64_t floor)
{
    node_reaper_t *r = node->reaper;
    if (floor == 0)
        return; /* this actor never wrote the key in this epoch: nothing to count on from */
    if (!r->floors)
        r->floors = calloc(REAP_FLOORS_MAX, sizeof *r->floors);
    if (!r->floors) {
        node->epoch_stale = true;
        return;
    }
    reap_floor_t *b = &r->floors[floor_bucket(key_hash)], *free_slot = NULL;
    for (uint32_t i = 0; i < REAP_FLOOR_WAYS; i++) {
        if (b[i].floor && b[i].key_hash == key_hash) {
            if (floor > b[i].floor)
                b[i].floor = floor;
            return;
        }
        if (!b[i].floor && !free_slot)
            free_slot = &b[i];
    }
    if (!free_slot) {
        node->epoch_stale = true;
        return;
    }
    *free_slot = (reap_floor_t){.key_hash = key_hash, .floor = floor};
    r->floor_count++;
}

/* The key's slot in the floor table, or NULL. */
static reap_floor_t *floor_slot(const node_reaper_t *r, uint64_t key_hash)
{
    if (r->floor_count == 0)
        return NULL;
    reap_floor_t *b = &r->floors[floor_bucket(key_hash)];
    for (uint32_t i = 0; i < REAP_FLOOR_WAYS; i++)
        if (b[i].floor && b[i].key_hash == key_hash)
            return &b[i];
    return NULL;
}

uint64_t node_reap_floor_peek(const dyn_node_t *node, uint64_t key_hash)
{
    const reap_floor_t *slot = floor_slot(node->reaper, key_hash);
    return slot ? slot->floor : 0;
}

void node_reap_floor_drop(dyn_node_t *node, uint64_t key_hash)
{
    reap_floor_t *slot = floor_slot(node->reaper, key_hash);
    if (slot) {
        *slot = (reap_floor_t){0};
        node->reaper->floor_count--;
    }
}

void node_reap_floors_clear(dyn_node_t *node)
{
    node_reaper_t *r = node->reaper;
    if (r->floors)
        memset(r->floors, 0, REAP_FLOORS_MAX * sizeof *r->floors);
    r->floor_count = 0;
}

uint64_t node_own_high(const dyn_node_t *node, const dyn_siblings_t *set)
{
    uint64_t high = 0;
    for (uint32_t i = 0; i < set->count; i++) {
        const dyn_version_t *v = &set->items[i];
        uint64_t seen = dyn_vclock_get(&v->clock, node->config.id, node->config.epoch);
        if (v->dot.node == node->config.id && v->dot.epoch == node->config.epoch &&
            v->dot.counter > seen)
            seen = v->dot.counter;
        if (seen > high)
            high = seen;
    }
    return high;
}

/*
 * Drop the key's data, which the caller found (into r->set) to be the tombstone set `print`. The
 * set covers every version this node's actor issued on the key (it stores each one or a version
 * covering it), so its highest own counter is the floor the next write counts on from.
 */
static void reap_local(dyn_node_t *node, const uint8_t *key, size_t key_length,
                       uint64_t key_hash, uint64_t print)
{
    uint64_t floor = node_own_high(node, &node->reaper->set);
    /* Traced before the delete, so a host can still read what goes (the simulator's checker). */
    dyn_trace_event_t ev = {.kind = DYN_TRACE_REAPED, .a = (int64_t)print, .key_hash = key_hash,
                            .key = key, .key_length = key_length};
    dyn_env_trace(&node->env, &ev);
    if (node->storage.ops->del(node->storage.ctx, DYN_SPACE_DATA, key, key_length) != DYN_OK)
        return;
    node->stats.tombstones_reaped++;
    node_reap_keep_floor(node, key_hash, floor);
    if (node->config.anti_entropy)
        node_ae_note_write(node, key_hash, print, 0);
}

static uint64_t round_id(const node_reaper_t *r, const reap_round_t *round)
{
    return REAP_ID_TAG | (uint64_t)round->generation << 16 | (uint64_t)(round - r->rounds);
}

static void round_end(reap_round_t *round)
{
    free(round->key);
    round->key = NULL;
    round->busy = false;
}

static reap_round_t *round_lookup(node_reaper_t *r, uint64_t id)
{
    if (!(id & REAP_ID_TAG))
        return NULL;
    uint32_t slot = (uint32_t)(id & 0xFFFF);
    if (slot >= REAP_ROUNDS_MAX)
        return NULL;
    reap_round_t *round = &r->rounds[slot];
    return round->busy && round_id(r, round) == id ? round : NULL;
}

static bool in_round(const node_reaper_t *r, const uint8_t *key, size_t key_length)
{
    for (uint32_t i = 0; i < REAP_ROUNDS_MAX; i++) {
        const reap_round_t *round = &r->rounds[i];
        if (round->busy && round->key_length == key_length &&
            memcmp(round->key, key, key_length) == 0)
            return true;
    }
    return false;
}

static void send_reap(dyn_node_t *node, uint32_t to, uint64_t id, uint8_t phase,
                      const uint8_t *key, size_t key_length, uint64_t print)
{
    dyn_msg_t m;
    dyn_msg_init(&m, DYN_MSG_REAP);
    m.request_id = id;
    m.reap_phase = phase;
    m.key = key;
    m.key_length = (uint32_t)key_length;
    m.print = print;
    node_send_msg(node, to, &m);
}

/* Every owner agreed: reap everywhere, if the primary's own set is still the one agreed on. */
static void round_commit(dyn_node_t *node, reap_round_t *round)
{
    /* The primary's own copy must be durable too before any owner forgets the key. Synced
     * first, so the set reap_local reads was decoded after every storage call before it. */
    if (node->storage.ops->sync(node->storage.ctx) == DYN_OK &&
        tombstone_print(node, round->key, round->key_length) == round->print) {
        for (uint32_t i = 0; i < round->owners_asked; i++)
            send_reap(node, round->owners[i], 0, DYN_REAP_COMMIT, round->key, round->key_length,
                      round->print);
        reap_local(node, round->key, round->key_length, round->key_hash, round->print);
    }
    round_end(round);
}

/*
 * Start a round for a noted key, or say why not: 1 started (or reaped at once with N=1), 0 the
 * key needs no collection any more or not yet (its set is not the one noted), -1 try again later
 * (a node to ask is suspected, no round free).
 */
static int round_start(dyn_node_t *node, dyn_time_us now_us, const uint8_t *key,
                       size_t key_length, uint64_t noted)
{
    node_reaper_t *r = node->reaper;
    uint64_t key_hash = dyn_ring_hash(key, key_length);
    if (!is_primary(node, key_hash) || in_round(r, key, key_length))
        return 0;
    /* The grace runs from when this very set was stored: a set that changed since was noted
     * again when it was stored, and that note waits its own grace. */
    uint64_t print = tombstone_print(node, key, key_length);
    if (print == 0 || print != noted)
        return 0;
    /*
     * Hints are replicas too: a fallback may hold, for an owner, an old version the tombstones
     * cover, and hand it off after the reap. So every node of the walk where hints can be (the
     * first DYN_FALLBACK_WALK_MAX) is asked as well, and must hold no hint for the key.
     */
    uint32_t walk[DYN_FALLBACK_WALK_MAX];
    size_t n = dyn_ring_preference_list(node->ring, key_hash, walk, node->config.n);
    size_t span = dyn_ring_preference_list(node->ring, key_hash, walk, DYN_FALLBACK_WALK_MAX);
    DYN_ASSERT(span >= n && span <= 32);
    for (size_t i = 1; i < span; i++)
        if (node_suspected(node, walk[i]))
            return -1;
    /*
     * Members outside the ring that are not removed (leavers still handing their data on, nodes
     * of a newer ring) may hold a copy the walk does not reach: they are asked too, and past the
     * round's room the collection waits until they are gone.
     */
    uint32_t extra[DYN_FALLBACK_WALK_MAX];
    size_t extras = 0;
    for (size_t m = 0; m < dyn_membership_count(node->members); m++) {
        const dyn_member_t *e = dyn_membership_at(node->members, m);
        if (e->status == DYN_MEMBER_REMOVED || e->id == node->config.id)
            continue;
        bool walked = false;
        for (size_t i = 1; i < span && !walked; i++)
            walked = walk[i] == e->id;
        if (walked)
            continue;
        if (span + extras >= DYN_FALLBACK_WALK_MAX + 1 || node_suspected(node, e->id))
            return -1;
        extra[extras++] = e->id;
    }
    reap_round_t *round = NULL;
    for (uint32_t i = 0; i < REAP_ROUNDS_MAX && !round; i++)
        if (!r->rounds[i].busy)
            round = &r->rounds[i];
    if (!round)
        return -1;
    uint8_t *copy = malloc(key_length ? key_length : 1);
    if (!copy)
        return -1;
    memcpy(copy, key, key_length);
    uint16_t generation = (uint16_t)(round->generation + 1);
    *round = (reap_round_t){.busy = true, .generation = generation, .key = copy,
                            .key_length = (uint32_t)key_length, .key_hash = key_hash,
                            .print = print, .deadline_us = now_us + node->config.request_timeout_us};
    for (size_t i = 1; i < span; i++)
        round->owners[round->asked++] = walk[i];
    for (size_t i = 0; i < extras; i++)
        round->owners[round->asked++] = extra[i];
    round->owners_asked = (uint8_t)(n - 1);
    node->stats.reap_rounds++;
    if (round->asked == 0) {
        round_commit(node, round);
        return 1;
    }
    for (uint32_t i = 0; i < round->asked; i++)
        send_reap(node, round->owners[i], round_id(r, round), DYN_REAP_ASK, key, key_length,
                  print);
    return 1;
}

typedef struct scan_arg {
    dyn_node_t *node;
    dyn_time_us now_us;
} scan_arg_t;

static int scan_one(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                    size_t blob_length)
{
    dyn_node_t *node = ((scan_arg_t *)arg)->node;
    dyn_time_us now_us = ((scan_arg_t *)arg)->now_us;
    node_reaper_t *r = node->reaper;
    if (r->count == REAP_NOTES_MAX)
        return 1; /* full: the rest waits for the next scan */
    int rc = dyn_codec_decode_siblings(blob, blob_length, &r->set);
    DYN_ASSERT(rc == DYN_OK);
    if (r->set.count && dyn_siblings_live_count(&r->set) == 0 &&
        is_primary(node, dyn_ring_hash(key, key_length)))
        note(r, key, key_length, now_us, dyn_siblings_dots_print(&r->set));
    return 0;
}

void node_reap_tick(dyn_node_t *node, dyn_time_us now_us)
{
    node_reaper_t *r = node->reaper;
    for (uint32_t i = 0; i < REAP_ROUNDS_MAX; i++) {
        reap_round_t *round = &r->rounds[i];
        if (round->busy && now_us >= round->deadline_us) {
            node->stats.reap_refused++;
            note(r, round->key, round->key_length, now_us, round->print);
            round_end(round);
        }
    }
    if (node->config.tombstone_grace_us == 0)
        return;
    if (r->scan_needed && r->count == 0) {
        scan_arg_t arg = {node, now_us};
        r->scan_needed = false;
        if (node->storage.ops->scan(node->storage.ctx, DYN_SPACE_DATA, scan_one, &arg) > 0)
            r->scan_needed = true;
    }
    /* While ownership moves, notes wait: a set in transit could bring back what they cover. */
    if (node_xfer_unsettled(node, now_us))
        return;
    /* Notes are in the order they were made, so ripe ones are at the head. */
    uint32_t pending = r->count;
    for (uint32_t i = 0; i < pending && r->count; i++) {
        reap_note_t *n = &r->notes[r->head];
        if (now_us - n->seen_us < node->config.tombstone_grace_us)
            break;
        reap_note_t taken = *n;
        r->head = (r->head + 1) % REAP_NOTES_MAX;
        r->count--;
        int rc = round_start(node, now_us, taken.key, taken.key_length, taken.print);
        if (rc < 0)
            note(r, taken.key, taken.key_length, now_us, taken.print); /* ripe again later */
        free(taken.key);
        if (rc < 0)
            break;
    }
}

typedef struct hint_find {
    const uint8_t *key;
    size_t key_length;
} hint_find_t;

static int hint_of_key(void *arg, const uint8_t *hkey, size_t hkey_length, const uint8_t *blob,
                       size_t blob_length)
{
    (void)blob;
    (void)blob_length;
    const hint_find_t *f = arg;
    return hkey_length == 4 + f->key_length && memcmp(hkey + 4, f->key, f->key_length) == 0;
}

/*
 * Whether this node keeps a hint of the message's key for any of the key's owners, or, once the
 * ring has moved, any copy at all: its data, or a hint for an owner the ring no longer names
 * (found by a scan of the hints, paid only by a node that has seen a change).
 */
static bool holds_hint(dyn_node_t *node, const dyn_msg_t *msg, uint64_t key_hash)
{
    if (node->ring_moved) {
        const uint8_t *blob;
        size_t blob_length;
        hint_find_t f = {msg->key, msg->key_length};
        if (node->storage.ops->get(node->storage.ctx, DYN_SPACE_DATA, msg->key, msg->key_length,
                                   &blob, &blob_length) == DYN_OK ||
            (node->hints > 0 &&
             node->storage.ops->scan(node->storage.ctx, DYN_SPACE_HINTS, hint_of_key, &f) != 0))
            return true;
    }
    uint32_t owners[DYN_N_MAX];
    size_t n = dyn_ring_preference_list(node->ring, key_hash, owners, node->config.n);
    uint8_t hint_key[DYN_HINT_KEY_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t length = dyn_node_hint_key(owners[i], msg->key, msg->key_length, hint_key);
        const uint8_t *blob;
        size_t blob_length;
        if (node->storage.ops->get(node->storage.ctx, DYN_SPACE_HINTS, hint_key, length, &blob,
                                   &blob_length) == DYN_OK)
            return true;
    }
    return false;
}

void node_reap_on_message(dyn_node_t *node, dyn_endpoint_t from, const dyn_msg_t *msg)
{
    node_reaper_t *r = node->reaper;
    if (msg->type == DYN_MSG_REAP_REPLY) {
        reap_round_t *round = round_lookup(r, msg->request_id);
        if (!round) {
            node->stats.stray_messages++;
            return;
        }
        uint32_t i = 0;
        while (i < round->asked && round->owners[i] != from)
            i++;
        if (i == round->asked) {
            node->stats.stray_messages++; /* not an owner asked in this round */
            return;
        }
        if (msg->status != DYN_OK) {
            /* That owner holds something else; repair will bring it over, then try again. */
            node->stats.reap_refused++;
            note(r, round->key, round->key_length, node->now_us, round->print);
            round_end(round);
            return;
        }
        round->agreed_mask |= 1u << i;
        if (round->agreed_mask == (uint32_t)((1ull << round->asked) - 1))
            round_commit(node, round);
        return;
    }
    DYN_ASSERT(msg->type == DYN_MSG_REAP);
    uint64_t key_hash = dyn_ring_hash(msg->key, msg->key_length);
    /* An owner's set must be exactly the tombstones agreed on; any other node must hold no hint
     * of the key, for any owner. */
    bool owner = dyn_ring_is_replica(node->ring, key_hash, node->config.id, node->config.n);
    uint64_t print = owner ? tombstone_print(node, msg->key, msg->key_length) : 0;
    bool same = owner ? print != 0 && print == msg->print : !holds_hint(node, msg, key_hash);
    if (msg->reap_phase == DYN_REAP_COMMIT) {
        if (owner && same && !node_xfer_unsettled(node, node->now_us))
            reap_local(node, msg->key, msg->key_length, key_hash, print);
        return;
    }
    /* A yes promises the tombstones outlive a crash here: sync first (they may have come by
     * read repair or anti-entropy, which do not sync), or the value could come back. */
    if (owner && same && node->storage.ops->sync(node->storage.ctx) != DYN_OK)
        same = false;
    if (node_xfer_unsettled(node, node->now_us))
        same = false; /* ownership is moving here: ask again once it has settled */
    dyn_msg_t reply;
    dyn_msg_init(&reply, DYN_MSG_REAP_REPLY);
    reply.request_id = msg->request_id;
    reply.status = same ? DYN_OK : DYN_EINVAL;
    node_send_msg(node, from, &reply);
}
