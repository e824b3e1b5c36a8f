/*
 * sim_queue.h: the simulator's event queue, ordered by (time, sequence).
 *
 * Every insert takes the next value of a 64-bit sequence counter, so two events at the same
 * microsecond always run in insertion order whatever the queue does internally: ties never depend
 * on memory layout. Events live in a pool of slots. An event due within a few milliseconds of the
 * last pop goes to a timing wheel of one-microsecond buckets (a FIFO each, so in sequence order);
 * a later one to a 4-ary heap of (time, seq, slot) triples, so sifting touches only the heap
 * array. Cancellation is lazy: a cancelled event stays where it is and is skipped when popped,
 * which costs less than removing it because most cancelled events (request timeouts) are
 * cancelled long before they are due.
 *
 * Lanes: events scheduled a fixed delay after the current time (request timeouts: most of the
 * pending events of a busy run) arrive in deadline order, so a FIFO per delay value is already
 * sorted. sim_queue_push_lane() appends to such a FIFO in O(1); pop takes the smallest (time, seq)
 * among the heap top, the wheel's first event and the lane heads, so the order is exactly that of
 * a single heap.
 *
 * Ownership: the queue owns its pool; an event's payload pointer is the caller's business.
 */
#ifndef SIM_QUEUE_H
#define SIM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "core/env.h"

typedef struct sim_event {
    dyn_time_us time;
    uint32_t kind;         /* meaning decided by the world */
    uint32_t target;       /* endpoint or actor the event is for */
    uint32_t source;
    uint32_t length;
    uint64_t a;            /* kind-specific: timer id, waiter id, ... */
    void *data;            /* kind-specific payload (message bytes, a callback) */
    void *arg;             /* kind-specific: callback argument */
} sim_event_t;

typedef struct sim_queue sim_queue_t;

sim_queue_t *sim_queue_create(void);
void sim_queue_destroy(sim_queue_t *q);

/*
 * Schedule a copy of *ev at ev->time. Returns a handle for sim_queue_cancel (never 0), or 0 on
 * allocation failure.
 */
uint64_t sim_queue_push(sim_queue_t *q, const sim_event_t *ev);
/*
 * Schedule into the FIFO lane named `lane_key` (e.g. the delay in microseconds). The caller
 * guarantees times pushed into one lane of a kind never decrease (asserted). Lanes are for timers:
 * an event with data, arg or length set, or one that would need more than SIM_QUEUE_LANES_MAX
 * distinct (key, kind) lanes, goes to the heap instead.
 */
uint64_t sim_queue_push_lane(sim_queue_t *q, const sim_event_t *ev, uint64_t lane_key);
#define SIM_QUEUE_LANES_MAX 8

/* Cancel a scheduled event; a handle of an event already popped or cancelled is ignored. */
void sim_queue_cancel(sim_queue_t *q, uint64_t handle);
/*
 * Pop the earliest live event into *out if its time is <= limit_us. Returns 1 (popped), 0 (no
 * event left) or -1 (the earliest is later than limit_us; nothing popped). Cancelled events met
 * on the way are passed to `discard` (may be NULL) so their payloads can be freed.
 */
int sim_queue_pop(sim_queue_t *q, dyn_time_us limit_us, sim_event_t *out,
                  void (*discard)(sim_event_t *ev));
/*
 * The event the next pop would consider first, or NULL when none is scheduled; it may be a
 * cancelled one. For look-ahead (prefetching what it will touch) only: the pointer is valid until
 * the next push, pop or peek.
 */
const sim_event_t *sim_queue_peek(sim_queue_t *q);
/* Scheduled events, cancelled ones included until they are popped. */
size_t sim_queue_size(const sim_queue_t *q);
uint64_t sim_queue_pushed(const sim_queue_t *q);

#endif
