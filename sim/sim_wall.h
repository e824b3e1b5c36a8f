/*
 * sim_wall.h: wall-clock time and process memory, for progress lines and benchmark figures only.
 *
 * This is the one module of sim/ allowed to read real clocks. What it returns is printed, never
 * fed back into a run: nothing the simulator decides may depend on it.
 */
#ifndef SIM_WALL_H
#define SIM_WALL_H

#include <stdint.h>

/* Seconds on a monotonic clock, arbitrary origin. */
double sim_wall_seconds(void);
/* CPU seconds used by this process. */
double sim_wall_cpu_seconds(void);
/* Peak resident set size of this process, bytes. */
uint64_t sim_wall_peak_rss_bytes(void);
/* Current resident set size, bytes (0 if unknown). */
uint64_t sim_wall_rss_bytes(void);

/* 64 bits from /dev/urandom for a run started without --seed (printed, so still replayable). */
uint64_t sim_wall_entropy_seed(void);

#endif
