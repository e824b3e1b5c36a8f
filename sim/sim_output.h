/*
 * sim_output.h: what a run leaves behind: the summary table, the run folder and its plots.
 *
 * The run folder holds results.json (seed, parameters, verdict, digest, per-operation figures,
 * checks, sibling counts, availability per second), history.tsv (one line per client operation), latency_percentiles.dat (the data behind
 * the percentile plot) and any plots the scenario asked for, rendered by the gnuplot scripts in
 * plots/ when gnuplot is installed (when it is not, the data and the command to render are kept).
 */
#ifndef SIM_OUTPUT_H
#define SIM_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

#include "sim/sim_lua.h"
#include "sim/sim_world.h"

typedef struct sim_run_info {
    const char *scenario_path;
    const char *scenario_name;
    uint64_t seed;
    const char *replay;     /* the command line that reproduces the run */
    const char *verdict;    /* "PASS", "FAIL" or "ERROR" */
    const char *error;      /* script error, or NULL */
    int exit_code;
    double wall_s;
} sim_run_info_t;

/* Availability bins of the summary and results.json: one simulated second. */
#define SIM_OUTPUT_AVAIL_BIN_US 1000000u

/*
 * The per-operation table (count, ok, failed, p50/p99/p99.9/max latency), then the sibling counts
 * successful gets saw and the availability over the run and in its worst one-second bin.
 */
void sim_output_summary(FILE *out, sim_world_t *w);

/* Create `dir` and its parents. Returns 0 or -1 with err filled. */
int sim_output_mkdir(const char *dir, char *err, size_t err_size);

/*
 * Create `dir` and check that the run can write into it, before the run starts, so a bad --out
 * fails in a second rather than after the simulation. Returns 0 or -1 with err filled.
 */
int sim_output_prepare(const char *dir, char *err, size_t err_size);

/* Write results.json, history.tsv and latency_percentiles.dat into dir. */
int sim_output_write(const char *dir, const sim_run_info_t *info, sim_world_t *w,
                     const sim_lua_t *sl, char *err, size_t err_size);

/*
 * Render plots/<name>.gp over the data in dir into dir/<name>.png and .svg. Returns 0, 1 if
 * gnuplot is not installed (a notice is printed), or -1 with err filled.
 */
int sim_output_plot(const char *dir, const char *name, char *err, size_t err_size);

#endif
