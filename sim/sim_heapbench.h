/*
 * sim_heapbench.h: the bare binary-heap "hold model" that benchmark runs compare against.
 *
 * Q events are pre-filled; then each step pops the earliest (time, seq) event and pushes one new
 * event a random interval later, with an empty handler. This is the ceiling for any discrete-event
 * simulator on this machine at that queue size; the full simulator's events per second divided by
 * this rate (kernel_ratio) is a speed figure that survives a noisy, shared machine.
 */
#ifndef SIM_HEAPBENCH_H
#define SIM_HEAPBENCH_H

#include <stddef.h>
#include <stdint.h>

/* Run `events` hold steps at `pending` queued events; returns events per wall second. */
double sim_heapbench_rate(size_t pending, uint64_t events, uint64_t seed);

#endif
