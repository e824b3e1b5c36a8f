/*
 * sim_lua.h: Lua 5.4 scenarios driving the simulator (design.md section 5).
 *
 * A scenario is plain sequential Lua. Calls that take simulated time (sleep, a client's get or
 * put, waiting for a workload) yield the calling coroutine and resume it at the simulated time the
 * call completes; spawn() starts another coroutine, so many actors run without threads. The VM is
 * a sandbox: base, table, string, math, utf8 and coroutine only; no io, os, require, load or
 * dofile; math.random draws from the run's Lua stream. Errors carry file:line and a traceback.
 *
 * The run ends when every actor (the main chunk and everything it spawned) has returned.
 *
 * Ownership: sim_lua owns its lua_State and the workloads scenarios start; it borrows the world.
 */
#ifndef SIM_LUA_H
#define SIM_LUA_H

#include <stddef.h>
#include <stdint.h>

#include "sim/sim_world.h"

typedef struct sim_define {
    const char *name;
    const char *value;
} sim_define_t;

typedef enum sim_lua_outcome {
    SIM_LUA_PASS = 0,
    SIM_LUA_CHECK_FAILED = 1,
    SIM_LUA_ERROR = 2,        /* script error, bad parameter, deadlock or limit */
    SIM_LUA_DESCRIBED = 3,    /* describe mode: parameters listed, scenario not run */
} sim_lua_outcome_t;

typedef struct sim_lua sim_lua_t;

/*
 * Create the VM for one run. `defines` (copied) are the -D overrides; every one must match a
 * declared parameter. With `describe` set, params{} prints the declarations and ends the run.
 */
sim_lua_t *sim_lua_create(sim_world_t *world, const char *script_path,
                          const sim_define_t *defines, size_t define_count, int describe);
void sim_lua_destroy(sim_lua_t *sl);

/*
 * Run under `dynsim fuzz` with a profile ("safety" or "liveness"): the scenario sees a global
 * FUZZ = {profile = ...}; otherwise FUZZ is nil. Call before sim_lua_run.
 */
void sim_lua_set_fuzz_profile(sim_lua_t *sl, const char *profile);

/* Load the script and run the world until every actor is done. */
sim_lua_outcome_t sim_lua_run(sim_lua_t *sl);

/* The error message with traceback after SIM_LUA_ERROR, else NULL. */
const char *sim_lua_error(const sim_lua_t *sl);
const char *sim_lua_scenario_name(const sim_lua_t *sl);
/* True if the scenario declared scenario{benchmark=true}: dynsim then prints speed figures. */
int sim_lua_is_benchmark(const sim_lua_t *sl);
uint64_t sim_lua_checks_passed(const sim_lua_t *sl);
uint64_t sim_lua_checks_failed(const sim_lua_t *sl);
/* The i-th failed check's "file:line: message", i < checks_failed (only the first 100 kept). */
const char *sim_lua_check_failure(const sim_lua_t *sl, size_t i);

/* Resolved parameters, sorted by name, as "name=value" strings. */
size_t sim_lua_param_count(const sim_lua_t *sl);
const char *sim_lua_param(const sim_lua_t *sl, size_t i);

/* Plot scripts the scenario asked for with plot(name), in request order. */
size_t sim_lua_plot_count(const sim_lua_t *sl);
const char *sim_lua_plot(const sim_lua_t *sl, size_t i);
/* Data files the scenario made with data_file(): written by sim_output_write as NAME.dat. */
size_t sim_lua_data_file_count(const sim_lua_t *sl);
void sim_lua_data_file(const sim_lua_t *sl, size_t i, const char **name, const char **text);

/* Figures the scenario reported with report(name, value), in report order. */
size_t sim_lua_report_count(const sim_lua_t *sl);
const char *sim_lua_report_name(const sim_lua_t *sl, size_t i);
double sim_lua_report_value(const sim_lua_t *sl, size_t i);

/* Keys written by all workloads (distinct per workload, summed): the denominator of bytes/key. */
uint64_t sim_lua_keys_written(const sim_lua_t *sl);

#endif
