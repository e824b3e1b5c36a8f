/*
 * sim_queue.c: a timing wheel of one-microsecond buckets for events due soon, a 4-ary heap of
 * 24-byte (time, seq, slot) entries for the rest, both over a slot pool with a free list, plus
 * FIFO lanes for fixed-delay events. The research baseline (research/perf.md section 1) found the
 * plain binary heap the fastest of the heaps tried at every size; the lanes exist because most
 * pending events of a loaded run are timeouts, which need no heap at all. With the timeouts in
 * lanes what is left is mostly messages a network delay away (under a few milliseconds), about a
 * hundred of them in the benchmark: a bucket per microsecond of the next WHEEL_SIZE holds them in
 * push order, which is their sequence order, so a push is an append and a pop takes the head of
 * the first non-empty bucket, found in a two-level bitmap, where the heap compared and moved
 * entries at every level (perf: the heap's pop was 6 % of the run).
 */
#include "sim/sim_queue.h"

#include <stdlib.h>

#include "core/status.h"

typedef struct heap_entry {
    dyn_time_us time;
    uint64_t seq;
    uint32_t slot;
} heap_entry_t;

/*
 * A slot is one cache line: the event, its sequence number (the wheel's buckets have no room for
 * it) and a tag. next links the free list, or a wheel bucket's FIFO while the slot is busy.
 */
typedef struct slot {
    sim_event_t ev;
    uint64_t seq;
    uint32_t tag;                   /* generation, and the SLOT_BUSY and SLOT_CANCELLED flags */
    uint32_t next;
} slot_t;

#define SLOT_BUSY (1u << 30)
#define SLOT_CANCELLED (1u << 31)
#define SLOT_GENERATION_MASK (SLOT_BUSY - 1u)
#define SLOT_NONE UINT32_MAX

DYN_STATIC_ASSERT(sizeof(slot_t) == 64, "a slot is one cache line");

/*
 * The wheel covers the WHEEL_SIZE microseconds from the time of the last pop: every event in it is
 * due in [wheel_now, wheel_now + WHEEL_SIZE), so a bucket holds events of one time only, and the
 * earliest is in the first non-empty bucket from wheel_now's, circularly. Events outside the
 * window (far ahead, or before it) go to the heap.
 */
#define WHEEL_BITS 12u
#define WHEEL_SIZE (1u << WHEEL_BITS)
#define WHEEL_MASK (WHEEL_SIZE - 1u)
#define WHEEL_WORDS (WHEEL_SIZE / 64u)

DYN_STATIC_ASSERT(WHEEL_WORDS == 64, "one summary word covers the wheel's bitmap");

typedef struct bucket {
    uint32_t head, tail;            /* slots, SLOT_NONE when empty */
} bucket_t;

/*
 * A ring buffer of events in nondecreasing (time, seq) order. Events are stored inline, not in the
 * slot pool: lanes are read front to back, so this memory streams through the cache instead of
 * being touched at random. Entry i of the lane's history sits at
 * ring[(head + i - head_abs) & mask].
 *
 * Lane events are timers: no payload, one kind per lane. Storing only what a timer has keeps an
 * entry at 32 bytes, half a full event's; most entries are timeouts cancelled long before they are
 * due and popped only to be dropped, so what a lane costs is mostly this memory streaming by.
 */
typedef struct lane_entry {
    dyn_time_us time;
    uint64_t seq;                   /* LANE_CANCELLED set once cancelled */
    uint64_t a;
    uint32_t target, source;
} lane_entry_t;

#define LANE_CANCELLED (1ULL << 63)

typedef struct lane {
    uint64_t key;
    uint32_t kind;
    lane_entry_t *ring;
    size_t head, count, capacity;   /* capacity is a power of two */
    uint64_t head_abs;              /* how many entries were ever popped from this lane */
} lane_t;

/* Lane handles have the top bit set: lane index in bits 56..62, absolute position below. */
#define LANE_HANDLE_BIT (1ULL << 63)
#define LANE_POS_MASK ((1ULL << 56) - 1)

struct sim_queue {
    heap_entry_t *heap;
    size_t size, capacity;
    slot_t *slots;
    uint32_t slots_used, slots_capacity, free_head;
    uint64_t seq;
    bucket_t *buckets;              /* WHEEL_SIZE of them */
    uint64_t wheel_bits[WHEEL_WORDS];   /* bit b: bucket b is not empty */
    uint64_t wheel_summary;         /* bit w: wheel_bits[w] is not zero */
    dyn_time_us wheel_now;          /* the wheel's window starts here: the last time popped */
    size_t wheel_events;
    lane_t lanes[SIM_QUEUE_LANES_MAX];
    uint32_t lane_count;
    size_t lane_events;
    sim_event_t peeked;             /* a lane head as sim_queue_peek shows it */
    /*
     * earliest()'s answer, kept while pushes leave it true: the loop peeks right after each pop
     * (look-ahead), and the pop after asks again, so without this the lane heads and the heap
     * top would be compared twice per event.
     */
    int next_source;                /* NEXT_UNKNOWN, or what earliest() would return */
    dyn_time_us next_time;
    uint64_t next_seq;
};

/* Sources of the earliest event: a lane's index, or one of these. */
#define SOURCE_HEAP (-1)
#define SOURCE_NONE (-2)
#define NEXT_UNKNOWN (-3)
#define SOURCE_WHEEL (-4)

sim_queue_t *sim_queue_create(void)
{
    sim_queue_t *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->buckets = malloc(WHEEL_SIZE * sizeof(*q->buckets));
    if (!q->buckets) {
        free(q);
        return NULL;
    }
    for (uint32_t b = 0; b < WHEEL_SIZE; b++)
        q->buckets[b] = (bucket_t){SLOT_NONE, SLOT_NONE};
    q->free_head = SLOT_NONE;
    q->next_source = NEXT_UNKNOWN;
    return q;
}

void sim_queue_destroy(sim_queue_t *q)
{
    if (!q)
        return;
    for (uint32_t i = 0; i < q->lane_count; i++)
        free(q->lanes[i].ring);
    free(q->heap);
    free(q->buckets);
    free(q->slots);
    free(q);
}

/* Half the levels of a binary heap: half the entry moves per pop and push. */
#define ARITY 4

static inline int before(const heap_entry_t *a, const heap_entry_t *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

/*
 * before() without branches, for choosing between two children: which child is smaller is a coin
 * toss the branch predictor loses half the time, while this compiles to flag arithmetic.
 */
static inline size_t before_bit(const heap_entry_t *a, const heap_entry_t *b)
{
#ifdef __SIZEOF_INT128__
    /* One 128-bit comparison: a compare and a subtract-with-borrow. */
    unsigned __int128 ka = ((unsigned __int128)a->time << 64) | a->seq;
    unsigned __int128 kb = ((unsigned __int128)b->time << 64) | b->seq;
    return (size_t)(ka < kb);
#else
    return (size_t)((a->time < b->time) | ((a->time == b->time) & (a->seq < b->seq)));
#endif
}

/*
 * Copy an event in field by field. Callers build *src on the stack just before the call, one
 * field at a time; a struct assignment (and the compiler, merging a field copy) read it back in
 * 16-byte pieces spanning several of those stores, which the store buffer cannot forward, and perf
 * showed the push stalling there. Reading through a volatile lvalue keeps every load the width of
 * its field, which is forwarded; it changes nothing else.
 */
static inline void event_copy_in(sim_event_t *dst, const volatile sim_event_t *src)
{
    dst->time = src->time;
    dst->kind = src->kind;
    dst->target = src->target;
    dst->source = src->source;
    dst->length = src->length;
    dst->a = src->a;
    dst->data = src->data;
    dst->arg = src->arg;
}

static uint32_t slot_alloc(sim_queue_t *q)
{
    if (q->free_head != SLOT_NONE) {
        uint32_t s = q->free_head;
        q->free_head = q->slots[s].next;
        return s;
    }
    if (q->slots_used == q->slots_capacity) {
        uint32_t cap = q->slots_capacity ? q->slots_capacity * 2 : 1024;
        slot_t *slots = realloc(q->slots, (size_t)cap * sizeof(*slots));
        if (!slots)
            return UINT32_MAX;
        q->slots = slots;
        q->slots_capacity = cap;
    }
    q->slots[q->slots_used].tag = 0;
    return q->slots_used++;
}

/* Take a slot for ev; returns the heap entry to file it under, or slot SLOT_NONE on failure. */
static heap_entry_t make_entry(sim_queue_t *q, const sim_event_t *ev, uint64_t *handle)
{
    heap_entry_t e = {.time = ev->time, .seq = 0, .slot = slot_alloc(q)};
    if (e.slot == SLOT_NONE)
        return e;
    slot_t *slot = &q->slots[e.slot];
    event_copy_in(&slot->ev, ev);
    uint32_t generation = ((slot->tag & SLOT_GENERATION_MASK) + 1) & SLOT_GENERATION_MASK;
    if (generation == 0)
        generation = 1;
    slot->tag = generation | SLOT_BUSY;
    e.seq = slot->seq = q->seq++;
    *handle = ((uint64_t)generation << 32) | e.slot;
    return e;
}

static void release_slot(sim_queue_t *q, uint32_t s)
{
    slot_t *slot = &q->slots[s];
    DYN_ASSERT(slot->tag & SLOT_BUSY);
    slot->tag &= ~SLOT_BUSY; /* SLOT_CANCELLED stays for the pop that is releasing it to read */
    slot->next = q->free_head;
    q->free_head = s;
}

static int heap_insert(sim_queue_t *q, heap_entry_t e)
{
    if (q->size == q->capacity) {
        size_t cap = q->capacity ? q->capacity * 2 : 1024;
        heap_entry_t *heap = realloc(q->heap, cap * sizeof(*heap));
        if (!heap)
            return -1;
        q->heap = heap;
        q->capacity = cap;
    }
    size_t i = q->size++;
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!before(&e, &q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = e;
    return 0;
}

/* A push of (time, seq) from `source`: the earliest entry is either what it was or this one. */
static inline void note_push(sim_queue_t *q, int source, dyn_time_us time, uint64_t seq)
{
    if (q->next_source == NEXT_UNKNOWN)
        return;
    if (q->next_source == SOURCE_NONE || time < q->next_time ||
        (time == q->next_time && seq < q->next_seq)) {
        q->next_source = source;
        q->next_time = time;
        q->next_seq = seq;
    }
}

/* Append a slot to its time's bucket: the bucket's FIFO is in sequence order. */
static void wheel_insert(sim_queue_t *q, uint32_t s, dyn_time_us time)
{
    uint32_t b = (uint32_t)time & WHEEL_MASK;
    bucket_t *bucket = &q->buckets[b];
    q->slots[s].next = SLOT_NONE;
    if (bucket->head == SLOT_NONE) {
        bucket->head = s;
        q->wheel_bits[b / 64u] |= 1ULL << (b % 64u);
        q->wheel_summary |= 1ULL << (b / 64u);
    } else {
        q->slots[bucket->tail].next = s;
    }
    bucket->tail = s;
    q->wheel_events++;
}

uint64_t sim_queue_push(sim_queue_t *q, const sim_event_t *ev)
{
    uint64_t handle = 0;
    heap_entry_t e = make_entry(q, ev, &handle);
    if (e.slot == SLOT_NONE)
        return 0;
    if (e.time >= q->wheel_now && e.time - q->wheel_now < WHEEL_SIZE) {
        wheel_insert(q, e.slot, e.time);
        note_push(q, SOURCE_WHEEL, e.time, e.seq);
        return handle;
    }
    if (heap_insert(q, e) != 0) {
        release_slot(q, e.slot);
        return 0;
    }
    note_push(q, SOURCE_HEAP, e.time, e.seq);
    return handle;
}

/*
 * A lane's head was written one timeout ago, tens of thousands of events back, and is long out of
 * cache when the next pop compares it: perf showed that load as most of earliest()'s time. Lanes
 * are read front to back, so fetch a few entries ahead as each one is popped. Only a hint.
 */
#define LANE_PREFETCH_AHEAD 4u

static inline void lane_prefetch(const lane_t *lane)
{
#if defined(__GNUC__)
    if (lane->count > LANE_PREFETCH_AHEAD)
        __builtin_prefetch(&lane->ring[(lane->head + LANE_PREFETCH_AHEAD) & (lane->capacity - 1)]);
#else
    (void)lane;
#endif
}

static lane_t *find_lane(sim_queue_t *q, uint64_t key, uint32_t kind)
{
    for (uint32_t i = 0; i < q->lane_count; i++)
        if (q->lanes[i].key == key && q->lanes[i].kind == kind)
            return &q->lanes[i];
    if (q->lane_count == SIM_QUEUE_LANES_MAX)
        return NULL;
    lane_t *lane = &q->lanes[q->lane_count++];
    lane->key = key;
    lane->kind = kind;
    return lane;
}

uint64_t sim_queue_push_lane(sim_queue_t *q, const sim_event_t *ev, uint64_t lane_key)
{
    /* A lane entry has no room for a payload: an event with one goes to the heap. */
    lane_t *lane = ev->data || ev->arg || ev->length ? NULL : find_lane(q, lane_key, ev->kind);
    if (!lane)
        return sim_queue_push(q, ev);
    if (lane->count == lane->capacity) {
        size_t cap = lane->capacity ? lane->capacity * 2 : 1024;
        lane_entry_t *ring = malloc(cap * sizeof(*ring));
        if (!ring)
            return 0;
        for (size_t i = 0; i < lane->count; i++)
            ring[i] = lane->ring[(lane->head + i) & (lane->capacity - 1)];
        free(lane->ring);
        lane->ring = ring;
        lane->head = 0;
        lane->capacity = cap;
    }
    if (lane->count > 0) {
        const lane_entry_t *tail =
            &lane->ring[(lane->head + lane->count - 1) & (lane->capacity - 1)];
        DYN_ASSERT(tail->time <= ev->time); /* a lane must stay sorted */
    }
    lane_entry_t *e = &lane->ring[(lane->head + lane->count) & (lane->capacity - 1)];
    const volatile sim_event_t *src = ev; /* field-wide loads: see event_copy_in */
    e->time = src->time;
    e->seq = q->seq++;
    e->a = src->a;
    e->target = src->target;
    e->source = src->source;
    uint64_t position = lane->head_abs + lane->count;
    if (lane->count == 0) /* behind a head, a push changes nothing at the front */
        note_push(q, (int)(lane - q->lanes), e->time, e->seq);
    lane->count++;
    q->lane_events++;
    return LANE_HANDLE_BIT | ((uint64_t)(lane - q->lanes) << 56) | (position & LANE_POS_MASK);
}

void sim_queue_cancel(sim_queue_t *q, uint64_t handle)
{
    if (handle & LANE_HANDLE_BIT) {
        uint32_t index = (uint32_t)((handle >> 56) & 0x7F);
        uint64_t position = handle & LANE_POS_MASK;
        if (index >= q->lane_count)
            return;
        lane_t *lane = &q->lanes[index];
        if (position < lane->head_abs || position >= lane->head_abs + lane->count)
            return; /* already popped */
        lane->ring[(lane->head + (position - lane->head_abs)) & (lane->capacity - 1)].seq |=
            LANE_CANCELLED;
        return;
    }
    uint32_t s = (uint32_t)handle;
    if (handle == 0 || s >= q->slots_used)
        return;
    slot_t *slot = &q->slots[s];
    if ((slot->tag & (SLOT_BUSY | SLOT_GENERATION_MASK)) == (SLOT_BUSY | (uint32_t)(handle >> 32)))
        slot->tag |= SLOT_CANCELLED;
}

/*
 * Bottom-up deletion (Floyd): walk the hole at the root down to a leaf along the smallest child,
 * then sift the last entry up from there. The last entry came from the bottom, so it nearly always
 * belongs near the bottom, and the walk down needs no comparison with it. The smallest of four
 * children is found without branches (which child wins is a coin toss the predictor would lose).
 * Keys are unique (seq breaks ties), so the pop order is the same whatever the layout.
 */
static heap_entry_t heap_pop(sim_queue_t *q)
{
    heap_entry_t *h = q->heap;
    heap_entry_t top = h[0];
    size_t n = --q->size;
    if (n == 0)
        return top;
    heap_entry_t last = h[n];
    size_t i = 0;
    for (;;) {
        size_t first = ARITY * i + 1, child;
        if (first + ARITY <= n) {
            size_t a = first + before_bit(&h[first + 1], &h[first]);
            size_t b = first + 2 + before_bit(&h[first + 3], &h[first + 2]);
            child = before_bit(&h[b], &h[a]) ? b : a;
        } else if (first < n) {
            child = first;
            for (size_t c = first + 1; c < n; c++)
                if (before(&h[c], &h[child]))
                    child = c;
        } else {
            break;
        }
        h[i] = h[child];
        i = child;
    }
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!before(&last, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = last;
    return top;
}

static inline void lane_event(const lane_t *lane, const lane_entry_t *e, sim_event_t *out)
{
    *out = (sim_event_t){
        .time = e->time, .kind = lane->kind, .target = e->target, .source = e->source, .a = e->a,
    };
}

static inline uint32_t lowest_bit(uint64_t bits)
{
#if defined(__GNUC__)
    return (uint32_t)__builtin_ctzll(bits);
#else
    uint32_t i = 0;
    while (!(bits & 1u)) {
        bits >>= 1;
        i++;
    }
    return i;
#endif
}

/*
 * The first non-empty bucket from wheel_now's, circularly (the wheel must not be empty). Buckets
 * before wheel_now's in the array hold the window's last times, so they come after the wrap.
 */
static uint32_t wheel_first(const sim_queue_t *q)
{
    uint32_t start = (uint32_t)q->wheel_now & WHEEL_MASK;
    uint32_t w = start / 64u;
    uint64_t bits = q->wheel_bits[w] & (~0ULL << (start % 64u));
    if (bits)
        return w * 64u + lowest_bit(bits);
    uint64_t words = w == WHEEL_WORDS - 1 ? 0 : q->wheel_summary & (~0ULL << (w + 1));
    if (!words)
        words = q->wheel_summary; /* wrapped: word w's low bits are the window's end */
    w = lowest_bit(words);
    return w * 64u + lowest_bit(q->wheel_bits[w]);
}

/* The source holding the earliest entry: SOURCE_HEAP, SOURCE_WHEEL, a lane index or SOURCE_NONE. */
static int earliest(sim_queue_t *q)
{
    if (q->next_source != NEXT_UNKNOWN)
        return q->next_source;
    int best = q->size ? SOURCE_HEAP : SOURCE_NONE;
    dyn_time_us time = q->size ? q->heap[0].time : 0;
    uint64_t seq = q->size ? q->heap[0].seq : 0;
    if (q->wheel_events) {
        uint32_t b = wheel_first(q);
        const slot_t *head = &q->slots[q->buckets[b].head];
        if (best == SOURCE_NONE || head->ev.time < time ||
            (head->ev.time == time && head->seq < seq)) {
            time = head->ev.time;
            seq = head->seq;
            best = SOURCE_WHEEL;
        }
    }
    for (uint32_t i = 0; i < q->lane_count; i++) {
        const lane_t *lane = &q->lanes[i];
        if (lane->count == 0)
            continue;
        const lane_entry_t *head = &lane->ring[lane->head];
        uint64_t head_seq = head->seq & ~LANE_CANCELLED;
        if (best == SOURCE_NONE || head->time < time || (head->time == time && head_seq < seq)) {
            time = head->time;
            seq = head_seq;
            best = (int)i;
        }
    }
    q->next_source = best;
    q->next_time = time;
    q->next_seq = seq;
    return best;
}

/* Unlink the head of a bucket earliest() found (the one of next_time); returns its slot. */
static uint32_t wheel_pop(sim_queue_t *q, uint32_t b)
{
    bucket_t *bucket = &q->buckets[b];
    uint32_t s = bucket->head;
    bucket->head = q->slots[s].next;
    if (bucket->head == SLOT_NONE) {
        q->wheel_bits[b / 64u] &= ~(1ULL << (b % 64u));
        if (!q->wheel_bits[b / 64u])
            q->wheel_summary &= ~(1ULL << (b / 64u));
    }
    q->wheel_events--;
    return s;
}

int sim_queue_pop(sim_queue_t *q, dyn_time_us limit_us, sim_event_t *out,
                  void (*discard)(sim_event_t *ev))
{
    for (;;) {
        int source = earliest(q);
        if (source == SOURCE_NONE)
            return 0;
        if (q->next_time > limit_us)
            return -1;
        q->next_source = NEXT_UNKNOWN;
        /* Everything left is due at next_time or later: the window moves up to it. An event
         * pushed before the window went to the heap, so the window never moves back. */
        if (q->next_time > q->wheel_now)
            q->wheel_now = q->next_time;
        if (source == SOURCE_WHEEL) {
            uint32_t s = wheel_pop(q, (uint32_t)q->next_time & WHEEL_MASK);
            slot_t *slot = &q->slots[s];
            release_slot(q, s);
            if (slot->tag & SLOT_CANCELLED) {
                if (discard)
                    discard(&slot->ev);
                continue;
            }
            *out = slot->ev;
            return 1;
        }
        if (source >= 0) {
            lane_t *lane = &q->lanes[source];
            lane_entry_t *e = &lane->ring[lane->head];
            lane->head = (lane->head + 1) & (lane->capacity - 1);
            lane_prefetch(lane);
            lane->head_abs++;
            lane->count--;
            q->lane_events--;
            if (e->seq & LANE_CANCELLED)
                continue; /* nothing to discard: lane events carry no payload */
            lane_event(lane, e, out);
            return 1;
        }
        heap_entry_t e = heap_pop(q);
        slot_t *slot = &q->slots[e.slot];
        release_slot(q, e.slot);
        if (slot->tag & SLOT_CANCELLED) {
            if (discard)
                discard(&slot->ev);
            continue;
        }
        *out = slot->ev;
        return 1;
    }
}

const sim_event_t *sim_queue_peek(sim_queue_t *q)
{
    int source = earliest(q);
    if (source == SOURCE_NONE)
        return NULL;
    if (source == SOURCE_HEAP)
        return &q->slots[q->heap[0].slot].ev;
    if (source == SOURCE_WHEEL)
        return &q->slots[q->buckets[(uint32_t)q->next_time & WHEEL_MASK].head].ev;
    const lane_t *lane = &q->lanes[source];
    lane_event(lane, &lane->ring[lane->head], &q->peeked);
    return &q->peeked;
}

size_t sim_queue_size(const sim_queue_t *q)
{
    return q->size + q->wheel_events + q->lane_events;
}
uint64_t sim_queue_pushed(const sim_queue_t *q) { return q->seq; }
