/*
 * sim_lua.c: the scenario VM, its coroutine scheduler and the bindings.
 *
 * Actors are Lua threads anchored in a registry table while they live. A blocking binding
 * registers what will wake its thread (a timer callback, a client completion, a workload's end),
 * then yields; the waker pushes the call's results onto the suspended thread's stack and schedules
 * a resume event at the current simulated time, so every resumption is an event of its own, in
 * (time, sequence) order like everything else.
 *
 * Nothing here iterates a Lua table to decide what to do or print, except to collect keys that are
 * then sorted: Lua seeds its string hash per state, so table order may differ between runs.
 */
#include "sim/sim_lua.h"

#include "sim/sim_ring_study.h"

#include <gsl/gsl_rng.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/claim.h"
#include "core/codec.h"
#include "core/merkle.h"
#include "core/status.h"
#include "sim/sim_dist.h"
#include "sim/sim_workload.h"

#define CLUSTER_MT "dynamo.cluster"
#define CLIENT_MT "dynamo.client"
#define WORKLOAD_MT "dynamo.workload"
#define ACTORS_KEY "dynamo.actors"
#define FAILURES_KEPT 100

typedef struct param {
    char *name;
    char *shown;   /* "name=value" */
} param_t;

typedef struct report {
    char *name;
    double value;
} report_t;

struct sim_lua {
    lua_State *L;
    sim_world_t *world;
    char *script_path;
    sim_define_t *defines;
    int *define_used;
    size_t define_count;
    int describe;
    int described;
    int params_declared;
    char *scenario_name;
    int benchmark;

    uint32_t actors;
    int failed;           /* a script error ended the run */
    char *error;
    uint64_t checks_passed, checks_failed;
    char *failures[FAILURES_KEPT];
    param_t *params;
    size_t param_count;
    char **plots;
    size_t plot_count;
    struct data_file {
        char *name, *text;
    } *data_files;
    size_t data_file_count;
    report_t *reports;
    size_t report_count;

    sim_workload_t **workloads;
    size_t workload_count;

    /* Blocking calls still waiting for their completion; a run that stops early frees them. */
    struct waiter *waiters;

    /* Faults injected so far, for the lost-write report. */
    struct fault_record {
        dyn_time_us at_us;
        char *what;
        uint32_t node_a, node_b; /* the nodes it touched; both 0: the whole cluster */
    } *faults;
    size_t fault_count, fault_capacity;
};

typedef struct lua_cluster {
    sim_lua_t *sl;
} lua_cluster_t;

typedef struct lua_client {
    sim_lua_t *sl;
    dyn_client_t *client;
    dyn_endpoint_t endpoint;
} lua_client_t;

typedef struct lua_workload {
    sim_lua_t *sl;
    sim_workload_t *wl;
} lua_workload_t;

/* The sim_lua_t behind any state or thread of the VM. */
static sim_lua_t *get_sl(lua_State *L)
{
    sim_lua_t *sl;
    lua_getallocf(L, (void **)&sl);
    return sl;
}

static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static double now_ms(sim_lua_t *sl) { return (double)sim_world_now(sl->world) / 1000.0; }

static dyn_time_us ms_to_us(lua_State *L, double ms, const char *what)
{
    if (!(ms >= 0) || ms > 1e12)
        luaL_error(L, "%s must be a duration in milliseconds >= 0, got %f", what, ms);
    return (dyn_time_us)llround(ms * 1000.0);
}

/* Set field `name` of the table on top of the stack. */
static void set_integer(lua_State *L, const char *name, lua_Integer value)
{
    lua_pushinteger(L, value);
    lua_setfield(L, -2, name);
}

static void set_number(lua_State *L, const char *name, double value)
{
    lua_pushnumber(L, value);
    lua_setfield(L, -2, name);
}

/* ---- actors ----------------------------------------------------------------------------- */

static void fail_run(sim_lua_t *sl, const char *message)
{
    if (!sl->failed) {
        sl->failed = 1;
        sl->error = dup_string(message);
    }
    sim_world_stop(sl->world);
}

static void actor_finished(sim_lua_t *sl, lua_State *co)
{
    lua_State *L = sl->L;
    lua_getfield(L, LUA_REGISTRYINDEX, ACTORS_KEY);
    lua_pushthread(co);
    lua_xmove(co, L, 1);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    DYN_ASSERT(sl->actors > 0);
    if (--sl->actors == 0)
        sim_world_stop(sl->world);
}

static void resume_actor(sim_lua_t *sl, lua_State *co, int nargs)
{
    if (sl->failed)
        return;
    int nres = 0;
    int status = lua_resume(co, sl->L, nargs, &nres);
    if (status == LUA_YIELD) {
        lua_pop(co, nres);
        return;
    }
    if (status == LUA_OK) {
        lua_pop(co, nres);
        actor_finished(sl, co);
        return;
    }
    const char *msg = lua_tostring(co, -1);
    luaL_traceback(sl->L, co, msg ? msg : "(error object is not a string)", 0);
    fail_run(sl, lua_tostring(sl->L, -1));
    lua_pop(sl->L, 1);
}

static void resume_event(sim_world_t *w, void *arg, uint64_t nargs)
{
    (void)w;
    lua_State *co = arg;
    resume_actor(get_sl(co), co, (int)nargs);
}

/* Start fn (at stack index idx of L, followed by nargs arguments) as a new actor now. */
static void start_actor(sim_lua_t *sl, lua_State *L, int nargs)
{
    lua_State *co = lua_newthread(L);
    /* Anchor the thread: actors[co] = true until it returns. */
    lua_getfield(L, LUA_REGISTRYINDEX, ACTORS_KEY);
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 2);
    lua_xmove(L, co, nargs + 1);   /* the function and its arguments */
    sl->actors++;
    sim_world_at(sl->world, sim_world_now(sl->world), resume_event, co, (uint64_t)nargs);
}

static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    start_actor(get_sl(L), L, lua_gettop(L) - 1);
    return 0;
}

/*
 * A blocking call's thread is resumed later by an event, so it must be one the scheduler owns
 * (the main chunk or a spawned actor). A coroutine the script made itself would be resumed behind
 * its creator's back and, when it returned, counted as a finished actor it never was: the run
 * could end early and pass with checks never reached.
 */
static void require_actor(lua_State *L, const char *what)
{
    int owned = 0;
    if (lua_isyieldable(L)) {
        lua_getfield(L, LUA_REGISTRYINDEX, ACTORS_KEY);
        lua_pushthread(L);
        lua_rawget(L, -2);
        owned = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    if (!owned)
        luaL_error(L, "%s must be called from the scenario's main chunk or a spawn()ed actor, "
                   "not from a coroutine the script made or a metamethod (use spawn)", what);
}

static int l_sleep(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    dyn_time_us delay = ms_to_us(L, luaL_checknumber(L, 1), "sleep");
    require_actor(L, "sleep");
    sim_world_at(sl->world, sim_world_now(sl->world) + delay, resume_event, L, 0);
    return lua_yield(L, 0);
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, now_ms(get_sl(L)));
    return 1;
}

static int l_log(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    int n = lua_gettop(L);
    printf("[%12.3f ms]", now_ms(sl));
    for (int i = 1; i <= n; i++)
        printf(" %s", luaL_tolstring(L, i, NULL));
    printf("\n");
    return 0;
}

/* ---- checks, reports, plots ------------------------------------------------------------- */

static int l_check(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    luaL_checkany(L, 1);
    int ok = lua_toboolean(L, 1);
    if (ok) {
        sl->checks_passed++;
    } else {
        const char *msg = luaL_optstring(L, 2, "check failed");
        luaL_where(L, 1);
        lua_pushfstring(L, "%s%s", lua_tostring(L, -1), msg);
        const char *full = lua_tostring(L, -1);
        fprintf(stdout, "check failed: %s\n", full);
        if (sl->checks_failed < FAILURES_KEPT)
            sl->failures[sl->checks_failed] = dup_string(full);
        sl->checks_failed++;
        lua_pop(L, 2);
    }
    lua_pushboolean(L, ok);
    return 1;
}

static int l_report(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    const char *name = luaL_checkstring(L, 1);
    double value = luaL_checknumber(L, 2);
    report_t *r = realloc(sl->reports, (sl->report_count + 1) * sizeof(*r));
    if (!r)
        return luaL_error(L, "out of memory");
    sl->reports = r;
    r[sl->report_count].name = dup_string(name);
    r[sl->report_count].value = value;
    sl->report_count++;
    return 0;
}

static int l_plot(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    const char *name = luaL_checkstring(L, 1);
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return luaL_error(L, "plot name '%s' must be lower-case letters, digits and _", name);
    char **plots = realloc(sl->plots, (sl->plot_count + 1) * sizeof(char *));
    if (!plots)
        return luaL_error(L, "out of memory");
    sl->plots = plots;
    sl->plots[sl->plot_count++] = dup_string(name);
    return 0;
}

/*
 * data_file(name, text): text written as NAME.dat in the run folder (for a plot script to read).
 * Calling it again with a name replaces that file's text.
 */
static int l_data_file(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    const char *name = luaL_checkstring(L, 1);
    size_t length;
    const char *text = luaL_checklstring(L, 2, &length);
    if (!*name)
        return luaL_error(L, "data_file: empty name");
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return luaL_error(L, "data file name '%s' must be lower-case letters, digits and _",
                              name);
    if (strlen(text) != length)
        return luaL_error(L, "data_file: text holds a NUL byte");
    char *copy = dup_string(text);
    if (!copy)
        return luaL_error(L, "out of memory");
    for (size_t i = 0; i < sl->data_file_count; i++) {
        if (strcmp(sl->data_files[i].name, name) == 0) {
            free(sl->data_files[i].text);
            sl->data_files[i].text = copy;
            return 0;
        }
    }
    struct data_file *files =
        realloc(sl->data_files, (sl->data_file_count + 1) * sizeof(*files));
    char *name_copy = dup_string(name);
    if (!files || !name_copy) {
        if (files)
            sl->data_files = files;
        free(copy);
        free(name_copy);
        return luaL_error(L, "out of memory");
    }
    sl->data_files = files;
    sl->data_files[sl->data_file_count].name = name_copy;
    sl->data_files[sl->data_file_count].text = copy;
    sl->data_file_count++;
    return 0;
}

/* 64 bits from two 32-bit draws, in an order C fixes (one expression would leave it open). */
static uint64_t random_bits(gsl_rng *rng)
{
    uint64_t first = gsl_rng_get(rng);
    uint64_t second = gsl_rng_get(rng);
    return (first << 32) ^ second;
}

/* random([m [, n]]) with math.random's contract, drawn from the run's Lua stream. */
static int l_random(lua_State *L)
{
    gsl_rng *rng = sim_world_stream(get_sl(L)->world, SIM_STREAM_LUA);
    lua_Integer lo, hi;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, gsl_rng_uniform(rng));
        return 1;
    case 1:
        lo = 1;
        hi = luaL_checkinteger(L, 1);
        if (hi == 0) {   /* Lua 5.4: random(0) is an integer with all bits random */
            lua_pushinteger(L, (lua_Integer)random_bits(rng));
            return 1;
        }
        break;
    case 2:
        lo = luaL_checkinteger(L, 1);
        hi = luaL_checkinteger(L, 2);
        break;
    default:
        return luaL_error(L, "wrong number of arguments to random");
    }
    luaL_argcheck(L, lo <= hi, lua_gettop(L), "interval is empty");
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    uint64_t r = random_bits(rng);
    lua_pushinteger(L, (lua_Integer)((uint64_t)lo + (span ? r % span : r)));
    return 1;
}

static int l_randomseed(lua_State *L)
{
    return luaL_error(L, "math.randomseed is disabled: randomness comes from the run's --seed");
}

/* ---- scenario metadata and parameters --------------------------------------------------- */

static int l_scenario(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "name");
    if (lua_isstring(L, -1)) {
        free(sl->scenario_name);
        sl->scenario_name = dup_string(lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    lua_getfield(L, 1, "benchmark");
    sl->benchmark = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return 0;
}

static int cmp_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect the string keys of the table at idx, sorted; caller frees the array (not the keys). */
static size_t sorted_keys(lua_State *L, int idx, const char ***out)
{
    size_t n = 0, cap = 16;
    const char **keys = malloc(cap * sizeof(char *));
    if (!keys)
        luaL_error(L, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            free(keys);
            luaL_error(L, "option names must be strings");
        }
        if (n == cap) {
            const char **k = realloc(keys, (cap *= 2) * sizeof(char *));
            if (!k) {
                free(keys);
                luaL_error(L, "out of memory");
            }
            keys = k;
        }
        keys[n++] = lua_tostring(L, -1); /* anchored by the table itself */
    }
    qsort(keys, n, sizeof(char *), cmp_strings);
    *out = keys;
    return n;
}

/* Reject option names outside `allowed` (NULL-terminated), naming all unknown ones sorted. */
static void check_options(lua_State *L, int idx, const char *what, const char *const *allowed)
{
    const char **keys;
    size_t n = sorted_keys(L, idx, &keys);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int unknown = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(keys[i], *a) == 0;
        if (!ok) {
            luaL_addstring(&b, unknown++ ? ", " : "");
            luaL_addstring(&b, keys[i]);
        }
    }
    free(keys);
    luaL_pushresult(&b);
    if (unknown) {
        luaL_Buffer v;
        luaL_buffinit(L, &v);
        for (const char *const *a = allowed; *a; a++) {
            luaL_addstring(&v, a == allowed ? "" : ", ");
            luaL_addstring(&v, *a);
        }
        luaL_pushresult(&v);
        luaL_error(L, "%s: unknown option%s %s (known: %s)", what, unknown > 1 ? "s" : "",
                   lua_tostring(L, -2), lua_tostring(L, -1));
    }
    lua_pop(L, 1);
}

static const char *value_text(lua_State *L, int idx)
{
    return luaL_tolstring(L, idx, NULL); /* pushes the text */
}

/*
 * params{ name = {default, "description"}, ... } -> table of values, with -D overrides applied
 * and converted to the default's type.
 */
static int l_params(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    if (sl->params_declared)
        return luaL_error(L, "params{} may be called once per scenario");
    sl->params_declared = 1;
    const char **names;
    size_t n = sorted_keys(L, 1, &names);
    lua_createtable(L, 0, (int)n);
    int result = lua_gettop(L);
    if (sl->describe)
        printf("parameters of %s:\n", sl->script_path);
    sl->params = calloc(n ? n : 1, sizeof(param_t));
    for (size_t i = 0; i < n; i++) {
        /* The string is anchored by the params table; the array is freed on error paths. */
        const char *name = names[i];
        lua_getfield(L, 1, name);
        if (!lua_istable(L, -1)) {
            free(names);
            return luaL_error(L, "params: '%s' must be {default, \"description\"}", name);
        }
        lua_rawgeti(L, -1, 1);   /* default */
        lua_rawgeti(L, -2, 2);   /* description */
        int type = lua_type(L, -2);
        if (type != LUA_TNUMBER && type != LUA_TSTRING && type != LUA_TBOOLEAN) {
            free(names);
            return luaL_error(L, "params: default of '%s' must be a number, string or boolean",
                              name);
        }
        const char *description = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
        if (sl->describe) {
            printf("  %-20s %-12s %s\n", name, value_text(L, -2), description);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);           /* description; the default stays on top */
        for (size_t d = 0; d < sl->define_count; d++) {
            if (strcmp(sl->defines[d].name, name) != 0)
                continue;
            sl->define_used[d] = 1;
            const char *text = sl->defines[d].value;
            /* An integer default is a count (nodes, ops, keys): 1.5 of one is a typo. */
            int integer = lua_isinteger(L, -1);
            lua_pop(L, 1);
            if (type == LUA_TNUMBER) {
                if (!lua_stringtonumber(L, text)) {
                    free(names);
                    return luaL_error(L, "-D %s=%s: '%s' is a number parameter", name, text,
                                      name);
                }
                if (integer && !lua_isinteger(L, -1)) {
                    lua_Number v = lua_tonumber(L, -1);
                    lua_Integer iv;
                    if (!lua_numbertointeger(floor(v), &iv) || (lua_Number)iv != v) {
                        free(names);
                        return luaL_error(L, "-D %s=%s: '%s' is an integer parameter", name,
                                          text, name);
                    }
                    lua_pop(L, 1);
                    lua_pushinteger(L, iv);
                }
            } else if (type == LUA_TBOOLEAN) {
                int t = strcmp(text, "true") == 0 || strcmp(text, "1") == 0;
                int f = strcmp(text, "false") == 0 || strcmp(text, "0") == 0;
                if (!t && !f) {
                    free(names);
                    return luaL_error(L, "-D %s=%s: '%s' is a boolean parameter (true or false)",
                                      name, text, name);
                }
                lua_pushboolean(L, t);
            } else {
                lua_pushstring(L, text);
            }
        }
        sl->params[i].name = dup_string(name);
        lua_pushfstring(L, "%s=%s", name, value_text(L, -1));
        sl->params[i].shown = dup_string(lua_tostring(L, -1));
        lua_pop(L, 2);
        sl->param_count = i + 1;
        lua_setfield(L, result, name);
        lua_pop(L, 1);           /* the declaration table */
    }
    free(names);
    for (size_t d = 0; d < sl->define_count; d++) {
        if (!sl->define_used[d]) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (size_t i = 0; i < sl->param_count; i++) {
                luaL_addstring(&b, i ? ", " : "");
                luaL_addstring(&b, sl->params[i].name);
            }
            luaL_pushresult(&b);
            return luaL_error(L, "-D %s: the scenario declares no such parameter (declared: %s)",
                              sl->defines[d].name, lua_tostring(L, -1));
        }
    }
    if (sl->describe) {
        sl->described = 1;
        sim_world_stop(sl->world);
        return lua_yield(L, 0);  /* never resumed: describe ends here */
    }
    printf("params:");
    for (size_t i = 0; i < sl->param_count; i++)
        printf(" %s", sl->params[i].shown);
    printf("\n");
    fflush(stdout);
    return 1;
}

/* ---- option helpers --------------------------------------------------------------------- */

static lua_Integer opt_int(lua_State *L, int t, const char *name, lua_Integer def,
                           lua_Integer lo, lua_Integer hi)
{
    lua_getfield(L, t, name);
    lua_Integer v = def;
    if (!lua_isnil(L, -1)) {
        int isnum;
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum)
            luaL_error(L, "option '%s' must be an integer, got %s", name, value_text(L, -1));
    }
    lua_pop(L, 1);
    if (v < lo || v > hi)
        luaL_error(L, "option '%s' must be between %I and %I, got %I", name, lo, hi, v);
    return v;
}

static double opt_num(lua_State *L, int t, const char *name, double def)
{
    lua_getfield(L, t, name);
    double v = def;
    if (!lua_isnil(L, -1)) {
        int isnum;
        v = lua_tonumberx(L, -1, &isnum);
        if (!isnum)
            luaL_error(L, "option '%s' must be a number, got %s", name, value_text(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

static const char *opt_str(lua_State *L, int t, const char *name, const char *def)
{
    lua_getfield(L, t, name);
    const char *v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "option '%s' must be a string, got %s", name, value_text(L, -1));
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1);  /* the string stays alive: it is held by the options table */
    return v;
}

static void parse_dist(lua_State *L, int idx, const char *what, double scale, sim_dist_t *out);

static const char *const dist_keys[] = {"dist", "value", "min", "max", "mean", "sd", "median",
                                        "sigma", "scale", "alpha", "offset", "components",
                                        "weight", NULL};

/*
 * A distribution from Lua: a number (constant) or {dist=..., ...}. Parameters with a unit are
 * multiplied by `scale`: 1000 for durations (milliseconds in Lua, microseconds inside), 1 for
 * sizes in bytes.
 */
static void parse_dist(lua_State *L, int idx, const char *what, double scale, sim_dist_t *out)
{
    idx = lua_absindex(L, idx);
    memset(out, 0, sizeof(*out));
    out->max = 3600e6;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        *out = sim_dist_constant(lua_tonumber(L, idx) * scale);
        if (!(out->p1 >= 0))
            luaL_error(L, "%s: a constant must be >= 0", what);
        return;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: give a number of milliseconds or a table {dist=..., ...}", what);
    check_options(L, idx, what, dist_keys);
    const char *kind = opt_str(L, idx, "dist", NULL);
    if (!kind)
        luaL_error(L, "%s: missing dist= (constant, uniform, exponential, normal, lognormal, "
                   "pareto or mixture)", what);
    out->offset = opt_num(L, idx, "offset", 0) * scale;
    if (!(out->offset >= 0))   /* a negative shift would only pile draws up at min */
        luaL_error(L, "%s: offset= must be >= 0", what);
    out->min = opt_num(L, idx, "min", 0) * scale;
    out->max = opt_num(L, idx, "max", 3600e6 / scale) * scale;
    if (!(out->min >= 0) || !(out->max >= out->min))
        luaL_error(L, "%s: need 0 <= min <= max", what);
    if (strcmp(kind, "constant") == 0) {
        out->kind = SIM_DIST_CONSTANT;
        out->p1 = opt_num(L, idx, "value", NAN) * scale;
        if (!(out->p1 >= 0))
            luaL_error(L, "%s: constant needs value= (ms) >= 0", what);
    } else if (strcmp(kind, "uniform") == 0) {
        out->kind = SIM_DIST_UNIFORM;
        out->p1 = out->min;
        out->p2 = out->max;
        if (!(out->p2 > out->p1) || out->p2 >= 3600e6)
            luaL_error(L, "%s: uniform needs min= < max= (ms)", what);
    } else if (strcmp(kind, "exponential") == 0) {
        out->kind = SIM_DIST_EXPONENTIAL;
        out->p1 = opt_num(L, idx, "mean", NAN) * scale;
        if (!(out->p1 > 0))
            luaL_error(L, "%s: exponential needs mean= (ms) > 0", what);
    } else if (strcmp(kind, "normal") == 0) {
        out->kind = SIM_DIST_NORMAL;
        out->p1 = opt_num(L, idx, "mean", NAN) * scale;
        out->p2 = opt_num(L, idx, "sd", NAN) * scale;
        if (!(out->p1 >= 0) || !(out->p2 >= 0))
            luaL_error(L, "%s: normal needs mean= >= 0 and sd= >= 0 (ms)", what);
    } else if (strcmp(kind, "lognormal") == 0) {
        out->kind = SIM_DIST_LOGNORMAL;
        out->p1 = opt_num(L, idx, "median", NAN) * scale;
        out->p2 = opt_num(L, idx, "sigma", NAN);
        if (!(out->p1 > 0) || !(out->p2 > 0))
            luaL_error(L, "%s: lognormal needs median= (ms) > 0 and sigma= > 0", what);
    } else if (strcmp(kind, "pareto") == 0) {
        out->kind = SIM_DIST_PARETO;
        out->p1 = opt_num(L, idx, "scale", NAN) * scale;
        out->p2 = opt_num(L, idx, "alpha", NAN);
        if (!(out->p1 > 0) || !(out->p2 > 0))
            luaL_error(L, "%s: pareto needs scale= (ms) > 0 and alpha= > 0", what);
    } else if (strcmp(kind, "mixture") == 0) {
        out->kind = SIM_DIST_MIXTURE;
        lua_getfield(L, idx, "components");
        if (!lua_istable(L, -1) || luaL_len(L, -1) < 1)
            luaL_error(L, "%s: mixture needs components={ {weight=w, dist=...}, ... }", what);
        lua_Integer n = luaL_len(L, -1);
        if (n > 64)
            luaL_error(L, "%s: at most 64 mixture components", what);
        /* Build into a Lua-owned userdata first so an error while parsing leaks nothing. */
        sim_dist_t *parts = lua_newuserdatauv(L, (size_t)n * sizeof(sim_dist_t), 0);
        double *weights = lua_newuserdatauv(L, (size_t)n * sizeof(double), 0);
        double total = 0;
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -3, i);
            if (!lua_istable(L, -1))
                luaL_error(L, "%s: mixture component %I must be a table", what, i);
            weights[i - 1] = opt_num(L, -1, "weight", NAN);
            if (!(weights[i - 1] > 0))
                luaL_error(L, "%s: mixture component %I needs weight= > 0", what, i);
            total += weights[i - 1];
            lua_pushnil(L);
            lua_setfield(L, -2, "weight");  /* so the component parses as a plain dist */
            parse_dist(L, -1, what, scale, &parts[i - 1]);
            if (parts[i - 1].kind == SIM_DIST_MIXTURE)
                luaL_error(L, "%s: mixtures cannot nest", what);
            lua_pop(L, 1);
        }
        out->count = (size_t)n;
        out->parts = malloc((size_t)n * sizeof(sim_dist_t));
        out->weights = malloc((size_t)n * sizeof(double));
        if (!out->parts || !out->weights) {
            free(out->parts);
            free(out->weights);
            luaL_error(L, "out of memory");
        }
        memcpy(out->parts, parts, (size_t)n * sizeof(sim_dist_t));
        for (lua_Integer i = 0; i < n; i++)
            out->weights[i] = weights[i] / total;
        lua_pop(L, 3);
    } else {
        luaL_error(L, "%s: unknown dist '%s' (constant, uniform, exponential, normal, lognormal, "
                   "pareto, mixture)", what, kind);
    }
}

/* ---- network faults --------------------------------------------------------------------- */

/* Every fault is logged with its simulated time and folded into the digest. */
/* Log a fault touching nodes a and b (0 for none; both 0 for a cluster-wide fault). */
static void fault_event(sim_lua_t *sl, const char *what, uint32_t a, uint32_t b)
{
    printf("[%12.3f ms] fault: %s\n", now_ms(sl), what);
    sim_world_digest_add(sl->world, what, strlen(what));
    if (sl->fault_count == sl->fault_capacity) {
        size_t cap = sl->fault_capacity ? sl->fault_capacity * 2 : 32;
        void *f = realloc(sl->faults, cap * sizeof(*sl->faults));
        if (!f)
            return; /* the report lists fewer faults; the run itself is unaffected */
        sl->faults = f;
        sl->fault_capacity = cap;
    }
    char *copy = dup_string(what);
    if (!copy)
        return;
    sl->faults[sl->fault_count].at_us = sim_world_now(sl->world);
    sl->faults[sl->fault_count].what = copy;
    sl->faults[sl->fault_count].node_a = a;
    sl->faults[sl->fault_count].node_b = b;
    sl->fault_count++;
}

static sim_net_t *fault_net(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    if (sim_world_node_count(sl->world) == 0)
        luaL_error(L, "network faults need a cluster: call cluster.new first");
    return sim_world_net(sl->world);
}

static uint32_t check_node(lua_State *L, int idx)
{
    lua_Integer id = luaL_checkinteger(L, idx);
    uint32_t n = sim_world_node_count(get_sl(L)->world);
    if (id < 1 || id > (lua_Integer)n)
        luaL_error(L, "node %I is not in the cluster (nodes are 1..%d)", id, (int)n);
    return (uint32_t)id;
}

/* ---- cluster ---------------------------------------------------------------------------- */

static const char *const cluster_keys[] = {
    "nodes", "n", "r", "w", "strategy", "partitions", "tokens", "latency", "latency_by_type",
    "timeout", "vclock_threshold", "siblings_max", "requests_pending_max", "resolution",
    "sync_writes", "disk", "hinted_handoff", "hints_max", "handoff_batch", "tick", "anti_entropy",
    "merkle_depth", "ae_interval", "tombstone_grace", "gossip_interval", "fd_interval",
    "fd_timeout", "fd_indirect", "spares", "transfer_batch", NULL};

static const struct {
    const char *name;
    dyn_msg_type_t type;
} msg_type_names[] = {
    {"client_get", DYN_MSG_CLIENT_GET},         {"client_put", DYN_MSG_CLIENT_PUT},
    {"client_reply", DYN_MSG_CLIENT_REPLY},     {"read_request", DYN_MSG_REPLICA_GET},
    {"read_response", DYN_MSG_REPLICA_GET_REPLY}, {"write_request", DYN_MSG_REPLICA_PUT},
    {"write_ack", DYN_MSG_REPLICA_PUT_REPLY},   {"handoff", DYN_MSG_HANDOFF},
    {"probe", DYN_MSG_PING},                    {"probe_reply", DYN_MSG_PONG},
    {"ae_hashes", DYN_MSG_AE_HASHES},           {"ae_keys", DYN_MSG_AE_KEYS},
    {"ae_pull", DYN_MSG_AE_PULL},               {"ae_push", DYN_MSG_AE_PUSH},
    {"reap", DYN_MSG_REAP},                     {"reap_reply", DYN_MSG_REAP_REPLY},
    {"gossip", DYN_MSG_GOSSIP},                 {"probe_request", DYN_MSG_PING_REQ},
};

static lua_cluster_t *check_cluster(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, CLUSTER_MT);
}

/* The `strategy` option of the table at idx: "S1", "S2" or "S3" (the default). */
static dyn_strategy_t opt_strategy(lua_State *L, int idx, const char *what)
{
    const char *strategy = opt_str(L, idx, "strategy", "S3");
    if (strcmp(strategy, "S1") == 0)
        return DYN_STRATEGY_S1;
    if (strcmp(strategy, "S2") == 0)
        return DYN_STRATEGY_S2;
    if (strcmp(strategy, "S3") != 0)
        luaL_error(L, "%s: strategy must be \"S1\", \"S2\" or \"S3\", got \"%s\"", what,
                   strategy);
    return DYN_STRATEGY_S3;
}

static uint32_t default_partitions(uint32_t nodes)
{
    uint32_t q = 64;
    while (q < nodes * 8u && q < (1u << 20))
        q *= 2;
    return q;
}

/*
 * ring_study{nodes, n, strategy, tokens, partitions, keys, zipf_s} -> {efficiency, max_share,
 * metadata_entries, metadata_bytes}: a ring built apart from the cluster (its seed drawn from the
 * run), for the paper's comparison of partitioning strategies (6.2). See sim_ring_study.h.
 */
static int l_ring_study(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = {"nodes", "n", "strategy", "tokens", "partitions", "keys",
                                       "zipf_s", NULL};
    check_options(L, 1, "ring_study", keys);
    sim_ring_study_config_t c = {
        .nodes = (uint32_t)opt_int(L, 1, "nodes", 30, 1, DYN_RING_NODES_MAX),
        .n = (uint32_t)opt_int(L, 1, "n", 3, 1, DYN_N_MAX),
        .keys = (uint32_t)opt_int(L, 1, "keys", 100000, 1, 100000000),
        .zipf_s = opt_num(L, 1, "zipf_s", 0),
    };
    c.ring.strategy = opt_strategy(L, 1, "ring_study");
    c.ring.tokens_per_node = (uint32_t)opt_int(L, 1, "tokens", 8, 1, 1 << 20);
    c.ring.partitions = (uint32_t)opt_int(L, 1, "partitions", default_partitions(c.nodes), 1,
                                          1 << 24);
    c.ring.seed = gsl_rng_get(sim_world_stream(sl->world, SIM_STREAM_LUA)) | 1;
    if (c.n > c.nodes)
        return luaL_error(L, "ring_study: n=%d needs at least %d nodes", (int)c.n, (int)c.n);
    if (!(c.zipf_s >= 0 && c.zipf_s < 10))
        return luaL_error(L, "ring_study: zipf_s must be in [0, 10), got %f", c.zipf_s);
    sim_ring_study_result_t r;
    int rc = sim_ring_study(&c, &r);
    if (rc != 0)
        return luaL_error(L, "ring_study: %s (strategy S%d, %d nodes, %d tokens, %d partitions)",
                          dyn_strerror(rc), (int)c.ring.strategy, (int)c.nodes,
                          (int)c.ring.tokens_per_node, (int)c.ring.partitions);
    lua_createtable(L, 0, 4);
    set_number(L, "efficiency", r.efficiency);
    set_number(L, "max_share", r.max_share);
    set_integer(L, "metadata_entries", (lua_Integer)r.metadata_entries);
    set_integer(L, "metadata_bytes", (lua_Integer)r.metadata_bytes);
    return 1;
}

/* An optional boolean option of the table at idx. */
static int opt_flag(lua_State *L, int idx, const char *name, int fallback)
{
    lua_getfield(L, idx, name);
    int type = lua_type(L, -1);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        return luaL_error(L, "cluster.new: %s must be true or false, got %s", name,
                          luaL_typename(L, -1));
    int value = type == LUA_TNIL ? fallback : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return value;
}

/*
 * -D values are consumed by params{}; one given to a scenario that has declared none by the time
 * it builds its cluster would otherwise be ignored without a word. describe stops here too, as a
 * scenario with no params{} before its cluster has nothing to list.
 */
static void params_gate(lua_State *L, sim_lua_t *sl)
{
    if (sl->params_declared)
        return;
    if (sl->define_count > 0)
        luaL_error(L, "-D %s: the scenario declares no parameters (params{...} must come before "
                   "cluster.new)", sl->defines[0].name);
    if (sl->describe)
        luaL_error(L, "the scenario declares no params{} before cluster.new (nothing to describe)");
}

static int l_cluster_new(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    params_gate(L, sl);
    luaL_checktype(L, 1, LUA_TTABLE);
    check_options(L, 1, "cluster.new", cluster_keys);
    sim_cluster_config_t cc;
    memset(&cc, 0, sizeof(cc));
    dyn_node_config_default(&cc.node);
    cc.nodes = (uint32_t)opt_int(L, 1, "nodes", 5, 1, 65535);
    cc.node.n = (uint8_t)opt_int(L, 1, "n", 3, 1, DYN_N_MAX);
    cc.node.r = (uint8_t)opt_int(L, 1, "r", (cc.node.n / 2) + 1, 1, cc.node.n);
    cc.node.w = (uint8_t)opt_int(L, 1, "w", (cc.node.n / 2) + 1, 1, cc.node.n);
    if (cc.node.n > cc.nodes)
        return luaL_error(L, "cluster.new: n=%d needs at least %d nodes, got %d", cc.node.n,
                          cc.node.n, cc.nodes);
    cc.ring.strategy = opt_strategy(L, 1, "cluster.new");
    cc.ring.partitions = (uint32_t)opt_int(L, 1, "partitions", default_partitions(cc.nodes),
                                           cc.ring.strategy == DYN_STRATEGY_S3 ? cc.nodes : 1,
                                           1 << 24);
    cc.ring.tokens_per_node = (uint32_t)opt_int(L, 1, "tokens", 8, 1, 4096);
    lua_getfield(L, 1, "tokens");
    if (!lua_isnil(L, -1) && cc.ring.strategy == DYN_STRATEGY_S3)
        return luaL_error(L, "cluster.new: tokens is for S1 and S2; under S3 each node's tokens "
                          "follow from partitions (Q/S per node)");
    lua_pop(L, 1);
    cc.node.request_timeout_us = ms_to_us(L, opt_num(L, 1, "timeout", 1000), "timeout");
    if (cc.node.request_timeout_us == 0)
        return luaL_error(L, "cluster.new: timeout must be > 0 ms");
    cc.node.vclock_threshold = (uint32_t)opt_int(L, 1, "vclock_threshold", 10, 1, DYN_VCLOCK_MAX);
    cc.node.siblings_max = (uint32_t)opt_int(L, 1, "siblings_max", 100, 1, DYN_SIBLINGS_MAX);
    cc.node.requests_pending_max =
        (uint32_t)opt_int(L, 1, "requests_pending_max", 65536, 1, 1 << 24);
    const char *resolution = opt_str(L, 1, "resolution", "vclock");
    if (strcmp(resolution, "vclock") == 0)
        cc.node.resolution = DYN_RESOLVE_VCLOCK;
    else if (strcmp(resolution, "lww") == 0)
        cc.node.resolution = DYN_RESOLVE_LWW;
    else
        return luaL_error(L, "cluster.new: resolution must be \"vclock\" or \"lww\", got \"%s\"",
                          resolution);

    cc.node.hinted_handoff = (uint8_t)opt_flag(L, 1, "hinted_handoff", 1);
    cc.node.anti_entropy = (uint8_t)opt_flag(L, 1, "anti_entropy", 1);
    cc.node.merkle_depth = (uint8_t)opt_int(L, 1, "merkle_depth", 8, 1, DYN_MERKLE_DEPTH_MAX);
    cc.node.ae_interval_us = ms_to_us(L, opt_num(L, 1, "ae_interval", 1000), "ae_interval");
    if (cc.node.ae_interval_us == 0)
        return luaL_error(L, "cluster.new: ae_interval must be > 0 ms");
    /* false: tombstones are kept for good; 0 ms: collected as soon as a sweep finds them. */
    lua_getfield(L, 1, "tombstone_grace");
    int keep_tombstones = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    cc.node.tombstone_grace_us =
        keep_tombstones ? 0 : ms_to_us(L, opt_num(L, 1, "tombstone_grace", 10000),
                                       "tombstone_grace");
    if (!keep_tombstones && cc.node.tombstone_grace_us == 0)
        cc.node.tombstone_grace_us = 1;
    cc.node.gossip_interval_us =
        ms_to_us(L, opt_num(L, 1, "gossip_interval", 1000), "gossip_interval");
    cc.node.fd_interval_us = ms_to_us(L, opt_num(L, 1, "fd_interval", 0), "fd_interval");
    cc.node.fd_timeout_us = ms_to_us(L, opt_num(L, 1, "fd_timeout", 200), "fd_timeout");
    cc.node.fd_indirect = (uint8_t)opt_int(L, 1, "fd_indirect", 3, 0, 16);
    if (cc.node.fd_interval_us &&
        (cc.node.fd_timeout_us == 0 || cc.node.fd_timeout_us >= cc.node.fd_interval_us))
        return luaL_error(L, "cluster.new: fd_timeout must be > 0 and below fd_interval");
    cc.node.hints_max = (uint32_t)opt_int(L, 1, "hints_max", 100000, 1, UINT32_MAX);
    cc.node.handoff_batch = (uint32_t)opt_int(L, 1, "handoff_batch", 64, 1, 1 << 20);
    cc.node.transfer_batch = (uint32_t)opt_int(L, 1, "transfer_batch", 64, 1, 1 << 20);
    cc.spares = (uint32_t)opt_int(L, 1, "spares", 0, 0, 4096);
    cc.node.tick_us = ms_to_us(L, opt_num(L, 1, "tick", 200), "tick");
    if (cc.node.tick_us == 0)
        return luaL_error(L, "cluster.new: tick must be > 0 ms");

    const char *sync = opt_str(L, 1, "sync_writes", "none");
    if (strcmp(sync, "none") == 0)
        cc.node.sync_writes = DYN_SYNC_NONE;
    else if (strcmp(sync, "one") == 0)
        cc.node.sync_writes = DYN_SYNC_ONE;
    else if (strcmp(sync, "all") == 0)
        cc.node.sync_writes = DYN_SYNC_ALL;
    else
        return luaL_error(L, "cluster.new: sync_writes must be \"none\", \"one\" or \"all\", got "
                          "\"%s\"", sync);
    /* disk = {flush_interval = ms, flush_bytes = n, fsync = dist}: model each node's disk. */
    lua_getfield(L, 1, "disk");
    sim_dist_t *fsync = NULL;
    if (!lua_isnil(L, -1)) {
        luaL_checktype(L, -1, LUA_TTABLE);
        int t = lua_gettop(L);
        static const char *const disk_keys[] = {"flush_interval", "flush_bytes", "fsync", NULL};
        check_options(L, t, "cluster.new disk", disk_keys);
        cc.disk_model = 1;
        cc.disk.flush_interval_us =
            ms_to_us(L, opt_num(L, t, "flush_interval", 1000), "disk flush_interval");
        cc.disk.flush_bytes = (size_t)opt_int(L, t, "flush_bytes", 1 << 20, 0, (lua_Integer)1 << 40);
        /* A Lua-owned box, so an error while parsing leaks nothing. */
        fsync = lua_newuserdatauv(L, sizeof(sim_dist_t), 0);
        lua_getfield(L, t, "fsync");
        if (lua_isnil(L, -1))
            *fsync = sim_dist_constant(2000); /* 2 ms, a plain SSD fsync */
        else
            parse_dist(L, -1, "cluster.new disk fsync", 1000.0, fsync);
        lua_pop(L, 1);
        cc.disk.fsync_us = *fsync;
    }
    char err[256];
    int created = sim_world_create_cluster(sl->world, &cc, err, sizeof(err));
    if (fsync)
        sim_dist_free(fsync);
    lua_settop(L, 1);
    if (created != 0)
        return luaL_error(L, "cluster.new: %s", err);

    sim_net_t *net = sim_world_net(sl->world);
    lua_getfield(L, 1, "latency");
    if (!lua_isnil(L, -1)) {
        sim_dist_t d;
        parse_dist(L, -1, "cluster.new latency", 1000.0, &d);
        int rc = sim_net_set_latency(net, &d);
        sim_dist_free(&d);
        if (rc != 0)
            return luaL_error(L, "out of memory");
    }
    lua_pop(L, 1);
    lua_getfield(L, 1, "latency_by_type");
    if (!lua_isnil(L, -1)) {
        luaL_checktype(L, -1, LUA_TTABLE);
        int t = lua_gettop(L);
        const char *allowed[sizeof(msg_type_names) / sizeof(msg_type_names[0]) + 1];
        size_t count = sizeof(msg_type_names) / sizeof(msg_type_names[0]);
        for (size_t i = 0; i < count; i++)
            allowed[i] = msg_type_names[i].name;
        allowed[count] = NULL;
        check_options(L, t, "cluster.new latency_by_type", allowed);
        for (size_t i = 0; i < count; i++) {
            lua_getfield(L, t, msg_type_names[i].name);
            if (!lua_isnil(L, -1)) {
                sim_dist_t d;
                parse_dist(L, -1, msg_type_names[i].name, 1000.0, &d);
                int rc = sim_net_set_latency_for(net, msg_type_names[i].type, &d);
                sim_dist_free(&d);
                if (rc != 0)
                    return luaL_error(L, "out of memory");
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);

    char lat[256];
    sim_dist_describe(sim_net_latency(net), 1000.0, "ms", lat, sizeof(lat));
    const sim_cluster_config_t *c = sim_world_cluster_config(sl->world);
    char placement[96];
    if (c->ring.strategy == DYN_STRATEGY_S1)
        snprintf(placement, sizeof(placement), "tokens=%u", c->ring.tokens_per_node);
    else if (c->ring.strategy == DYN_STRATEGY_S2)
        snprintf(placement, sizeof(placement), "tokens=%u partitions=%u",
                 c->ring.tokens_per_node, c->ring.partitions);
    else
        snprintf(placement, sizeof(placement), "partitions=%u", c->ring.partitions);
    char ae[64] = "off";
    if (c->node.anti_entropy)
        snprintf(ae, sizeof(ae), "every %gms depth %u",
                 (double)c->node.ae_interval_us / 1000.0, c->node.merkle_depth);
    printf("cluster: nodes=%u N=%u R=%u W=%u strategy=S%d %s timeout=%gms latency=%s "
           "resolution=%s sync_writes=%s disk=%s hinted_handoff=%s anti_entropy=%s "
           "ring_seed=%llu\n",
           c->nodes, c->node.n, c->node.r, c->node.w, (int)c->ring.strategy, placement,
           (double)c->node.request_timeout_us / 1000.0, lat,
           c->node.resolution == DYN_RESOLVE_LWW ? "lww" : "vclock",
           c->node.sync_writes == DYN_SYNC_ALL ? "all"
           : c->node.sync_writes == DYN_SYNC_ONE ? "one" : "none",
           c->disk_model ? "modelled" : "instant", c->node.hinted_handoff ? "on" : "off",
           ae, (unsigned long long)c->ring.seed);
    fflush(stdout);

    lua_cluster_t *lc = lua_newuserdatauv(L, sizeof(*lc), 0);
    lc->sl = sl;
    luaL_setmetatable(L, CLUSTER_MT);
    return 1;
}

static int l_cluster_nodes(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    lua_pushinteger(L, sim_world_node_count(lc->sl->world));
    return 1;
}

static int l_cluster_preference_list(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    size_t length;
    const char *key = luaL_checklstring(L, 2, &length);
    const dyn_ring_t *ring = sim_world_ring(lc->sl->world);
    lua_Integer max = luaL_optinteger(L, 3, sim_world_cluster_config(lc->sl->world)->node.n);
    luaL_argcheck(L, max >= 1 && max <= (lua_Integer)dyn_ring_node_count(ring), 3,
                  "length must be between 1 and the node count");
    uint32_t out[DYN_RING_NODES_MAX > 1024 ? 1024 : DYN_RING_NODES_MAX];
    if (max > 1024)
        max = 1024;
    size_t n = dyn_ring_preference_list(ring, dyn_ring_hash(key, length), out, (size_t)max);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, out[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ownership{n=} -> array of each node's share of the hash space it replicates, by node id. */
static int l_cluster_ownership(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    const dyn_ring_t *ring = sim_world_ring(lc->sl->world);
    lua_Integer n = luaL_optinteger(L, 2, sim_world_cluster_config(lc->sl->world)->node.n);
    luaL_argcheck(L, n >= 1 && n <= (lua_Integer)dyn_ring_node_count(ring), 2, "bad n");
    uint32_t count = sim_world_node_count(lc->sl->world);
    lua_createtable(L, (int)count, 0);
    for (uint32_t id = 1; id <= count; id++) {
        lua_pushnumber(L, dyn_ring_ownership(ring, id, (size_t)n));
        lua_rawseti(L, -2, id);
    }
    return 1;
}

static const char *const node_state_names[] = {"up", "down", "paused"};

static const char *const member_status_names[] = {NULL, "joining", "valid", "leaving",
                                                   "removed"};

/* An up node by id, or a Lua error naming the call. */
static dyn_node_t *up_node(lua_State *L, lua_cluster_t *lc, int idx, const char *what)
{
    lua_Integer id = luaL_checkinteger(L, idx);
    sim_world_t *w = lc->sl->world;
    if (id < 1 || id > (lua_Integer)sim_world_node_count(w))
        luaL_error(L, "%s: no node %d", what, (int)id);
    dyn_node_t *node = sim_world_node(w, (uint32_t)id);
    if (!node)
        luaL_error(L, "%s: node %d is down", what, (int)id);
    return node;
}

/* c:membership(id) -> {digest=, members = {{id=, status=, version=, zone=}, ...}}: a node's view. */
static int l_cluster_membership(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    const dyn_membership_t *m = dyn_node_membership(up_node(L, lc, 2, "membership"));
    lua_createtable(L, 0, 2);
    lua_pushfstring(L, "%I", (lua_Integer)dyn_membership_digest(m));
    lua_setfield(L, -2, "digest");
    lua_createtable(L, (int)dyn_membership_count(m), 0);
    for (size_t i = 0; i < dyn_membership_count(m); i++) {
        const dyn_member_t *e = dyn_membership_at(m, i);
        lua_createtable(L, 0, 4);
        set_integer(L, "id", e->id);
        lua_pushstring(L, member_status_names[e->status]);
        lua_setfield(L, -2, "status");
        set_integer(L, "version", (lua_Integer)e->version);
        set_integer(L, "zone", e->zone);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "members");
    return 1;
}

/* c:member_change(via, id, status [, zone]): node `via` changes member `id`; gossip spreads it. */
static int l_cluster_member_change(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    dyn_node_t *via = up_node(L, lc, 2, "member_change");
    lua_Integer id = luaL_checkinteger(L, 3);
    const char *status = luaL_checkstring(L, 4);
    lua_Integer zone = luaL_optinteger(L, 5, 0);
    int s = 0;
    for (int i = DYN_MEMBER_JOINING; i <= DYN_MEMBER_REMOVED; i++)
        if (strcmp(status, member_status_names[i]) == 0)
            s = i;
    if (!s)
        return luaL_error(L, "member_change: status must be joining, valid, leaving or removed, "
                          "got \"%s\"", status);
    if (id < 1 || id > UINT32_MAX || zone < 0 || zone > UINT16_MAX)
        return luaL_error(L, "member_change: bad member id %d or zone %d", (int)id, (int)zone);
    int rc = dyn_node_member_change(via, (uint32_t)id, (dyn_member_status_t)s, (uint16_t)zone);
    if (rc < 0)
        return luaL_error(L, "member_change: %s", dyn_strerror(rc));
    return 0;
}

/* The ids listed in field `name` of the table at idx (may be absent), into a Lua-owned box. */
static uint32_t *opt_id_list(lua_State *L, int idx, const char *name, size_t *count)
{
    lua_getfield(L, idx, name);
    *count = 0;
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "plan: %s must be a list of node ids", name);
    size_t n = (size_t)luaL_len(L, -1);
    uint32_t *ids = lua_newuserdatauv(L, (n ? n : 1) * sizeof *ids, 0);
    lua_insert(L, -2);
    for (size_t i = 0; i < n; i++) {
        lua_geti(L, -1, (lua_Integer)i + 1);
        lua_Integer id = lua_tointeger(L, -1);
        if (id < 1 || id > UINT32_MAX)
            luaL_error(L, "plan: %s[%d] is not a node id", name, (int)i + 1);
        ids[i] = (uint32_t)id;
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* the list; the box stays on the stack until the call returns */
    *count = n;
    return ids;
}

/* Whether id is in ids[0..count). */
static bool id_listed(const uint32_t *ids, size_t count, uint32_t id)
{
    for (size_t i = 0; i < count; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* The zone of member id: from the zones table at index zones (0: none given), else as node
 * `view`'s membership records it, else 0. */
static uint16_t member_zone(lua_State *L, int zones, const dyn_membership_t *view, uint32_t id)
{
    if (zones) {
        lua_geti(L, zones, id);
        lua_Integer z = lua_tointeger(L, -1);
        int given = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (given) {
            if (z < 0 || z > UINT16_MAX)
                luaL_error(L, "plan: zone of node %d must be 0..65535", (int)id);
            return (uint16_t)z;
        }
    }
    const dyn_member_t *m = view ? dyn_membership_find(view, id) : NULL;
    return m ? m->zone : 0;
}

/*
 * c:plan{join = {ids}, leave = {ids}, remove = {ids}, replace = {[old] = new}, zones = {[id] =
 * zone}, commit = bool, via = id} -> {moved=, ranges=, ranges_changed=, zone_warnings=, nodes=,
 * version=}: a membership change of an S3 ring, as Riak's `cluster plan` and `cluster commit`.
 * join adds nodes (spares), leave takes members out after they hand their data on, remove takes
 * them out at once (a dead node: its data comes back from the other replicas by anti-entropy),
 * replace gives a new node exactly the old one's partitions. The new table is the claim (claim.h)
 * of the new member set from the current table; the plan prints one line per node (partitions and
 * share of the key space before and after), the partitions that change owner, the key ranges
 * whose N replicas change, and a warning for ranges whose N replicas would span fewer than N
 * zones. With commit, node `via` (default: the first up node that stays) records the member
 * changes and the table, and gossip spreads them; the scenario's ring becomes the new one.
 */
static int l_cluster_plan(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    sim_world_t *w = lc->sl->world;
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const keys[] = {"join", "leave", "remove", "replace", "zones", "commit",
                                       "via", NULL};
    check_options(L, 2, "plan", keys);
    const dyn_ring_t *ring = sim_world_ring(w);
    const dyn_ring_config_t *rc = dyn_ring_config(ring);
    if (rc->strategy != DYN_STRATEGY_S3)
        return luaL_error(L, "plan: only strategy S3 has a partition table to claim");
    size_t n = sim_world_cluster_config(w)->node.n;
    uint32_t processes = sim_world_node_count(w);
    size_t joins, leaves, removes, q = rc->partitions, old_count = dyn_ring_node_count(ring);
    uint32_t *join = opt_id_list(L, 2, "join", &joins);
    uint32_t *leave = opt_id_list(L, 2, "leave", &leaves);
    uint32_t *remove = opt_id_list(L, 2, "remove", &removes);
    /* replace = {[old] = new}: two parallel lists, in ascending order of the old id. */
    uint32_t *r_old = lua_newuserdatauv(L, (old_count + 1) * sizeof(uint32_t), 0);
    uint32_t *r_new = lua_newuserdatauv(L, (old_count + 1) * sizeof(uint32_t), 0);
    size_t replaces = 0;
    lua_getfield(L, 2, "replace");
    if (!lua_isnil(L, -1)) {
        if (!lua_istable(L, -1))
            return luaL_error(L, "plan: replace must be a table {[old] = new}");
        for (uint32_t id = 1; id <= processes; id++) {
            lua_geti(L, -1, id);
            if (!lua_isnil(L, -1)) {
                lua_Integer to = lua_tointeger(L, -1);
                if (to < 1 || to > processes)
                    return luaL_error(L, "plan: replace[%d] is not a node", (int)id);
                if (replaces == old_count)
                    return luaL_error(L, "plan: more replacements than members");
                r_old[replaces] = id;
                r_new[replaces++] = (uint32_t)to;
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    int commit = opt_flag(L, 2, "commit", 0);
    uint32_t *old_table = lua_newuserdatauv(L, q * sizeof(uint32_t), 0);
    uint32_t *new_table = lua_newuserdatauv(L, q * sizeof(uint32_t), 0);
    uint32_t *old_ids = lua_newuserdatauv(L, (old_count ? old_count : 1) * sizeof(uint32_t), 0);
    uint32_t *members =
        lua_newuserdatauv(L, (old_count + joins + replaces + 1) * sizeof(uint32_t), 0);
    DYN_ASSERT(dyn_ring_s3_table(ring, old_table) == DYN_OK);
    /* The current members, ascending: the distinct owners of the table. */
    uint8_t *owns = lua_newuserdatauv(L, processes + 1, 0);
    memset(owns, 0, processes + 1);
    for (size_t p = 0; p < q; p++) {
        DYN_ASSERT(old_table[p] >= 1 && old_table[p] <= processes);
        owns[old_table[p]] = 1;
    }
    size_t olds = 0;
    for (uint32_t id = 1; id <= processes; id++)
        if (owns[id])
            old_ids[olds++] = id;
    DYN_ASSERT(olds == old_count);
    for (size_t i = 0; i < leaves + removes; i++) {
        uint32_t id = i < leaves ? leave[i] : remove[i - leaves];
        if (!id_listed(old_ids, olds, id))
            return luaL_error(L, "plan: node %d is not a member, it cannot %s", (int)id,
                              i < leaves ? "leave" : "be removed");
    }
    for (size_t i = 0; i < joins + replaces; i++) {
        uint32_t id = i < joins ? join[i] : r_new[i - joins];
        if (id > processes)
            return luaL_error(L, "plan: no node %d (the cluster has %d, spares included)",
                              (int)id, (int)processes);
        if (id_listed(old_ids, olds, id) || id_listed(join, i < joins ? i : joins, id) ||
            (i >= joins && id_listed(r_new, i - joins, id)))
            return luaL_error(L, "plan: node %d is a member already", (int)id);
    }
    for (size_t i = 0; i < replaces; i++)
        if (!id_listed(old_ids, olds, r_old[i]))
            return luaL_error(L, "plan: node %d is not a member, it cannot be replaced",
                              (int)r_old[i]);
    /* A replacement takes the old node's partitions as they are; the claim then balances. */
    uint32_t *claim_from = lua_newuserdatauv(L, q * sizeof(uint32_t), 0);
    size_t substituted = 0;
    for (size_t p = 0; p < q; p++) {
        claim_from[p] = old_table[p];
        for (size_t i = 0; i < replaces; i++)
            if (old_table[p] == r_old[i]) {
                claim_from[p] = r_new[i];
                substituted++;
            }
    }
    size_t count = 0;
    for (size_t i = 0; i < olds; i++)
        if (!id_listed(leave, leaves, old_ids[i]) && !id_listed(remove, removes, old_ids[i]) &&
            !id_listed(r_old, replaces, old_ids[i]))
            members[count++] = old_ids[i];
    for (size_t i = 0; i < joins; i++)
        members[count++] = join[i];
    for (size_t i = 0; i < replaces; i++)
        members[count++] = r_new[i];
    if (count < n)
        return luaL_error(L, "plan: %d members cannot hold N=%d replicas", (int)count, (int)n);
    int moved = dyn_claim(claim_from, q, members, count, (unsigned)(n - 1), new_table);
    if (moved < 0)
        return luaL_error(L, "plan: %s", dyn_strerror(moved));
    moved += (int)substituted;
    dyn_ring_t *next;
    int status = dyn_ring_create_s3_table(&next, rc, new_table);
    if (status != DYN_OK)
        return luaL_error(L, "plan: %s", dyn_strerror(status));
    /* Zones: as given here, else as the first up node's view records them. */
    const dyn_membership_t *view = NULL;
    for (uint32_t id = 1; id <= processes && !view; id++)
        if (sim_world_node(w, id))
            view = dyn_node_membership(sim_world_node(w, id));
    lua_getfield(L, 2, "zones");
    int zones = lua_istable(L, -1) ? lua_gettop(L) : 0;
    size_t ranges_changed = 0, zone_warnings = 0;
    int zone_used = 0;
    for (uint32_t r = 0; r < q; r++) {
        uint32_t a[DYN_N_MAX], b[DYN_N_MAX];
        dyn_ring_range_preference_list(ring, r, a, n);
        dyn_ring_range_preference_list(next, r, b, n);
        ranges_changed += memcmp(a, b, n * sizeof *a) != 0;
        uint32_t zone[DYN_N_MAX];
        size_t distinct = 0;
        for (size_t k = 0; k < n; k++) {
            uint32_t z = member_zone(L, zones, view, b[k]);
            if (!id_listed(zone, distinct, z))
                zone[distinct++] = z;
        }
        zone_warnings += distinct < n;
        zone_used |= zone[0] != 0 || distinct > 1;
    }
    if (!zone_used)
        zone_warnings = 0; /* no zones configured: every member in zone 0 is no warning */
    printf("[%12.3f ms] plan: %zu members -> %zu; %d of %zu partitions change owner; %zu key "
           "ranges change replicas\n", now_ms(lc->sl), old_count, count, moved, q,
           ranges_changed);
    /* One line per node for a cluster one can read; the spread of shares for a larger one. */
    size_t shown = olds + joins + replaces;
    bool per_node = shown <= 64;
    uint32_t lo[2] = {UINT32_MAX, UINT32_MAX}, hi[2] = {0, 0};
    if (per_node)
        printf("  node  partitions  share_of_keys\n");
    for (size_t i = 0; i < shown; i++) {
        uint32_t id = i < olds ? old_ids[i] : i < olds + joins ? join[i - olds]
                                                              : r_new[i - olds - joins];
        uint32_t held[2] = {0, 0};
        for (size_t p = 0; p < q; p++) {
            held[0] += old_table[p] == id;
            held[1] += new_table[p] == id;
        }
        bool stays = id_listed(members, count, id);
        for (int k = 0; k < 2; k++) {
            bool member = k == 0 ? i < olds : stays;
            if (member && held[k] < lo[k])
                lo[k] = held[k];
            if (member && held[k] > hi[k])
                hi[k] = held[k];
        }
        if (per_node)
            printf("  %4u  %4u -> %-4u  %.4f -> %.4f%s\n", id, held[0], held[1],
                   dyn_ring_ownership(ring, id, n), dyn_ring_ownership(next, id, n),
                   stays ? (i < olds ? "" : "  (joins)")
                         : id_listed(remove, removes, id) ? "  (removed)" : "  (leaves)");
    }
    if (!per_node)
        printf("  partitions per node: %u..%u before, %u..%u after\n", lo[0], hi[0], lo[1],
               hi[1]);
    if (zone_warnings)
        printf("  warning: %zu key ranges would keep their %zu replicas in fewer than %zu zones\n",
               zone_warnings, n, n);
    dyn_ring_destroy(next);
    int64_t version = 0;
    if (commit) {
        lua_getfield(L, 2, "via");
        lua_Integer via_id = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
        lua_pop(L, 1);
        for (size_t i = 0; i < count && via_id == 0; i++)
            if (sim_world_node(w, members[i]) &&
                dyn_node_ring(sim_world_node(w, members[i])) == ring)
                via_id = members[i];
        dyn_node_t *via = via_id >= 1 && via_id <= processes ? sim_world_node(w, (uint32_t)via_id)
                                                             : NULL;
        if (!via)
            return luaL_error(L, "commit: node %d is not up", (int)via_id);
        /*
         * One change at a time, as Riak's claimant: a node that has not yet taken the last
         * committed table would commit a rival one at the same version, and only one of the two
         * would survive the merge.
         */
        if (dyn_node_ring(via) != ring)
            return luaL_error(L, "commit: node %d follows ring version %d, not the last committed "
                              "(%d): commit at a node that has it", (int)via_id,
                              (int)dyn_node_ring_version(via), (int)sim_world_ring_commits(w));
        /* Statuses first, then the table, so a node that takes the table knows who left. */
        int st = DYN_OK;
        for (size_t i = 0; i < count && st >= 0; i++)
            st = dyn_node_member_change(via, members[i], DYN_MEMBER_VALID,
                                        member_zone(L, zones, view, members[i]));
        for (size_t i = 0; i < olds && st >= 0; i++) {
            uint32_t id = old_ids[i];
            if (id_listed(members, count, id))
                continue;
            dyn_member_status_t gone =
                id_listed(remove, removes, id) ? DYN_MEMBER_REMOVED : DYN_MEMBER_LEAVING;
            st = dyn_node_member_change(via, id, gone, member_zone(L, zones, view, id));
        }
        if (st < 0)
            return luaL_error(L, "commit: %s", dyn_strerror(st));
        version = dyn_node_ring_commit(via, new_table);
        if (version < 0)
            return luaL_error(L, "commit: %s", dyn_strerror((int)version));
        st = sim_world_commit_ring(w, new_table);
        if (st != DYN_OK)
            return luaL_error(L, "commit: %s", dyn_strerror(st));
        printf("[%12.3f ms] commit: ring version %lld at node %d\n", now_ms(lc->sl),
               (long long)version, (int)via_id);
    }
    fflush(stdout);
    lua_createtable(L, 0, 6);
    set_integer(L, "moved", moved);
    set_integer(L, "ranges", (lua_Integer)q);
    set_integer(L, "ranges_changed", (lua_Integer)ranges_changed);
    set_integer(L, "zone_warnings", (lua_Integer)zone_warnings);
    set_integer(L, "nodes", (lua_Integer)count);
    set_integer(L, "version", (lua_Integer)version);
    return 1;
}

/* c:ring_version(id) -> the version of the partition table node `id` follows (0: the first). */
static int l_cluster_ring_version(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    dyn_node_t *node = up_node(L, lc, 2, "ring_version");
    lua_pushinteger(L, (lua_Integer)dyn_node_ring_version(node));
    return 1;
}

typedef struct misplaced_scan {
    const dyn_ring_t *ring;
    uint32_t id;
    size_t n, count;
} misplaced_scan_t;

static int count_misplaced(void *arg, const uint8_t *key, size_t key_length, const uint8_t *blob,
                           size_t blob_length)
{
    (void)blob;
    (void)blob_length;
    misplaced_scan_t *m = arg;
    m->count += !dyn_ring_is_replica(m->ring, dyn_ring_hash(key, key_length), m->id, m->n);
    return 0;
}

/*
 * c:transfers() -> {moving=, behind=, keys_misplaced=}: up nodes still moving data they do not
 * own (or holding some), up nodes whose ring is not the cluster's, and keys stored on a node
 * (up or down) outside their N owners under the cluster's ring.
 */
static int l_cluster_transfers(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    sim_world_t *w = lc->sl->world;
    const dyn_ring_t *ring = sim_world_ring(w);
    size_t n = sim_world_cluster_config(w)->node.n;
    lua_Integer moving = 0, behind = 0, misplaced = 0;
    for (uint32_t id = 1; id <= sim_world_node_count(w); id++) {
        dyn_node_t *node = sim_world_node(w, id);
        if (node) {
            moving += !dyn_node_transfer_idle(node);
            behind += dyn_node_ring(node) != ring;
        }
        misplaced_scan_t m = {ring, id, n, 0};
        dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, id));
        (void)st.ops->scan(st.ctx, DYN_SPACE_DATA, count_misplaced, &m);
        misplaced += (lua_Integer)m.count;
    }
    lua_createtable(L, 0, 3);
    set_integer(L, "moving", moving);
    set_integer(L, "behind", behind);
    set_integer(L, "keys_misplaced", misplaced);
    return 1;
}

/* c:suspects(id) -> the ids node `id` suspects now, ascending. */
static int l_cluster_suspects(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    dyn_node_t *node = up_node(L, lc, 2, "suspects");
    lua_newtable(L);
    lua_Integer k = 0;
    for (uint32_t id = 1; id <= sim_world_node_count(lc->sl->world); id++) {
        if (dyn_node_suspects_peer(node, id)) {
            lua_pushinteger(L, id);
            lua_rawseti(L, -2, ++k);
        }
    }
    return 1;
}

/* c:gossip_converged() -> true when every up node holds the same view, and that view's digest. */
static int l_cluster_gossip_converged(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    sim_world_t *w = lc->sl->world;
    uint64_t digest = 0;
    int same = 1;
    for (uint32_t id = 1; id <= sim_world_node_count(w); id++) {
        dyn_node_t *node = sim_world_node(w, id);
        if (!node)
            continue;
        uint64_t d = dyn_membership_digest(dyn_node_membership(node));
        if (digest == 0)
            digest = d;
        else if (d != digest)
            same = 0;
    }
    lua_pushboolean(L, same);
    lua_pushfstring(L, "%I", (lua_Integer)digest);
    return 2;
}

/* c:configure{hinted_handoff = bool}: change what may change while the cluster runs. */
static int l_cluster_configure(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const keys[] = {"hinted_handoff", NULL};
    check_options(L, 2, "configure", keys);
    lua_getfield(L, 2, "hinted_handoff");
    if (!lua_isnil(L, -1)) {
        luaL_argcheck(L, lua_isboolean(L, -1), 2, "hinted_handoff must be true or false");
        sim_world_set_hinted_handoff(lc->sl->world, lua_toboolean(L, -1));
    }
    lua_pop(L, 1);
    return 0;
}

/* c:hints(): keys held in hint stores across the cluster, down nodes' disks included. */
static int l_cluster_hints(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    uint32_t nodes = sim_world_node_count(lc->sl->world);
    lua_Integer total = 0;
    for (uint32_t id = 1; id <= nodes; id++)
        total += (lua_Integer)dyn_mem_store_key_count(sim_world_store(lc->sl->world, id),
                                                      DYN_SPACE_HINTS);
    lua_pushinteger(L, total);
    return 1;
}

static int l_cluster_node_stats(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    dyn_mem_store_t *store = sim_world_store(lc->sl->world, (uint32_t)id);
    luaL_argcheck(L, store != NULL, 2, "no such node");
    lua_newtable(L);
#define FIELD(name, value) set_integer(L, name, (lua_Integer)(value))
    lua_pushstring(L, node_state_names[sim_world_node_state(lc->sl->world, (uint32_t)id)]);
    lua_setfield(L, -2, "state");
    FIELD("keys", dyn_mem_store_key_count(store, DYN_SPACE_DATA));
    FIELD("store_bytes", dyn_mem_store_bytes(store));
    sim_disk_t *disk = sim_world_disk(lc->sl->world, (uint32_t)id);
    if (disk) {
        const sim_disk_stats_t *ds = sim_disk_stats(disk);
        FIELD("disk_writes", ds->writes);
        FIELD("disk_syncs", ds->syncs);
        FIELD("disk_flushes", ds->flushes);
        FIELD("disk_lost_writes", ds->lost_writes);
        FIELD("disk_dirty_bytes", ds->dirty_bytes);
        dyn_time_us busy = sim_disk_busy_until(disk), now = sim_world_now(lc->sl->world);
        lua_pushnumber(L, busy > now ? (double)(busy - now) / 1000.0 : 0.0);
        lua_setfield(L, -2, "disk_busy_ms"); /* fsync backlog: the node's sends wait this long */
    }
    dyn_node_t *node = sim_world_node(lc->sl->world, (uint32_t)id);
    if (!node)
        return 1; /* down: only the disk is left */
    const dyn_node_stats_t *s = dyn_node_stats(node);
    FIELD("epoch", dyn_node_epoch(node));
    FIELD("gets_coordinated", s->gets_coordinated);
    FIELD("puts_coordinated", s->puts_coordinated);
    FIELD("forwarded", s->forwarded);
    FIELD("replies_ok", s->replies_ok);
    FIELD("replies_failed", s->replies_failed);
    FIELD("timeouts", s->timeouts);
    FIELD("replicas_late", s->replicas_late);
    FIELD("replica_reads", s->replica_reads);
    FIELD("replica_writes", s->replica_writes);
    FIELD("stale_writes", s->stale_writes);
    FIELD("bad_messages", s->bad_messages);
    FIELD("stray_messages", s->stray_messages);
    FIELD("rejected_full", s->rejected_full);
    FIELD("vclock_truncations", s->vclock_truncations);
    FIELD("syncs", s->syncs);
    FIELD("read_repairs", s->read_repairs);
    FIELD("suspicions", s->suspicions);
    FIELD("recoveries", s->recoveries);
    FIELD("probes", s->probes);
    FIELD("suspects", dyn_node_suspects(node));
    FIELD("fallback_targets", s->fallback_targets);
    FIELD("hinted_writes", s->hinted_writes);
    FIELD("hints_refused", s->hints_refused);
    FIELD("handoffs_sent", s->handoffs_sent);
    FIELD("hints_delivered", s->hints_delivered);
    FIELD("handoffs_received", s->handoffs_received);
    FIELD("handoffs_refused", s->handoffs_refused);
    FIELD("hints", dyn_node_hints(node));
    FIELD("hints_peak", s->hints_peak);
    FIELD("ae_exchanges", s->ae_exchanges);
    FIELD("ae_in_sync", s->ae_in_sync);
    FIELD("ae_messages", s->ae_messages);
    FIELD("ae_bytes", s->ae_bytes);
    FIELD("ae_keys_pushed", s->ae_keys_pushed);
    FIELD("ae_keys_repaired", s->ae_keys_repaired);
    FIELD("reap_rounds", s->reap_rounds);
    FIELD("reap_refused", s->reap_refused);
    FIELD("tombstones_reaped", s->tombstones_reaped);
    FIELD("epoch_renewals", s->epoch_renewals);
    FIELD("gossip_sent", s->gossip_sent);
    FIELD("gossip_bytes", s->gossip_bytes);
    FIELD("membership_changes", s->membership_changes);
    FIELD("fd_probes", s->fd_probes);
    FIELD("fd_indirect", s->fd_indirect);
    FIELD("fd_suspicions", s->fd_suspicions);
    FIELD("ring_version", dyn_node_ring_version(node));
    FIELD("ring_changes", s->ring_changes);
    FIELD("transfer_sent", s->transfer_sent);
    FIELD("transfer_dropped", s->transfer_dropped);
    FIELD("transfer_rounds", s->transfer_rounds);
    lua_pushboolean(L, dyn_node_transfer_idle(node));
    lua_setfield(L, -2, "transfer_idle");
    FIELD("pending", dyn_node_pending(node));
#undef FIELD
    return 1;
}

/* Node faults: c:crash(id), c:restart(id), c:pause(id), c:resume(id), c:wipe(id). */
static int node_fault(lua_State *L, const char *verb, int (*fn)(sim_world_t *, uint32_t),
                      const char *wrong_state)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    uint32_t id = check_node(L, 2);
    int rc = fn(lc->sl->world, id);
    if (rc == DYN_EINVAL)
        return luaL_error(L, "%s: node %d %s", verb, (int)id, wrong_state);
    if (rc != DYN_OK)
        return luaL_error(L, "%s: node %d: %s", verb, (int)id, dyn_strerror(rc));
    lua_pushfstring(L, "%s %d", verb, (int)id);
    fault_event(lc->sl, lua_tostring(L, -1), id, 0);
    return 0;
}

static int l_cluster_crash(lua_State *L)
{
    return node_fault(L, "crash", sim_world_crash, "is already down");
}
static int l_cluster_restart(lua_State *L)
{
    return node_fault(L, "restart", sim_world_restart, "is not down (crash it first)");
}
static int l_cluster_pause(lua_State *L)
{
    return node_fault(L, "pause", sim_world_pause, "is not up");
}
static int l_cluster_resume(lua_State *L)
{
    return node_fault(L, "resume", sim_world_resume, "is not paused");
}
static int l_cluster_wipe(lua_State *L)
{
    return node_fault(L, "wipe", sim_world_wipe, "is up: crash it before wiping its disk");
}

/*
 * c:clock(id, {skew = ms, drift = ppm}): set a node's wall clock (see sim_world_set_clock). Both
 * default to 0, so c:clock(id, {}) puts the clock right again.
 */
static int l_cluster_clock(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    uint32_t id = check_node(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    static const char *const keys[] = {"skew", "drift", NULL};
    check_options(L, 3, "clock", keys);
    double skew_ms = opt_num(L, 3, "skew", 0);
    lua_Integer drift = opt_int(L, 3, "drift", 0, -999999, 999999);
    if (!(skew_ms > -1e12 && skew_ms < 1e12))
        return luaL_error(L, "clock: skew must be a number of milliseconds");
    if (sim_world_set_clock(lc->sl->world, id, (int64_t)llround(skew_ms * 1000.0),
                            (int64_t)drift) != DYN_OK)
        return luaL_error(L, "clock: invalid setting for node %d", (int)id);
    lua_pushfstring(L, "clock %d skew %f ms drift %I ppm", (int)id, skew_ms, drift);
    fault_event(lc->sl, lua_tostring(L, -1), id, 0);
    return 0;
}

static const char *const client_keys[] = {"timeout", "retries", "via", "coordinator", NULL};

/* A workload's or client's `coordinator` option: "owner" makes the client ring-aware (6.4). */
static int opt_owner_coordinates(lua_State *L, int index, const char *what)
{
    const char *coordinator = opt_str(L, index, "coordinator", "any");
    if (strcmp(coordinator, "owner") == 0)
        return 1;
    if (strcmp(coordinator, "any") != 0)
        return luaL_error(L, "%s: coordinator must be \"any\" or \"owner\", got \"%s\"", what,
                          coordinator);
    return 0;
}

static int l_cluster_client(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    if (lua_isnoneornil(L, 2))
        lua_newtable(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    check_options(L, 2, "client", client_keys);
    dyn_client_config_t cc = {
        .timeout_us = ms_to_us(L, opt_num(L, 2, "timeout", 2000), "timeout"),
        .retries = (uint32_t)opt_int(L, 2, "retries", 0, 0, 100),
        .pending_max = 1024,
    };
    if (cc.timeout_us == 0)
        return luaL_error(L, "client: timeout must be > 0 ms");
    uint32_t via = (uint32_t)opt_int(L, 2, "via", 0, 0, sim_world_node_count(lc->sl->world));
    if (via) {
        cc.nodes = &via;
        cc.node_count = 1;
    }
    if (opt_owner_coordinates(L, 2, "client")) {
        cc.ring = sim_world_ring(lc->sl->world);
        cc.ring_n = sim_world_cluster_config(lc->sl->world)->node.n;
    }
    lua_client_t *lcl = lua_newuserdatauv(L, sizeof(*lcl), 0);
    lcl->sl = lc->sl;
    lcl->endpoint = sim_world_add_client(lc->sl->world, &cc, &lcl->client);
    if (!lcl->endpoint)
        return luaL_error(L, "client: could not create a client");
    luaL_setmetatable(L, CLIENT_MT);
    return 1;
}

static const char *const workload_keys[] = {
    "ops", "rate", "clients", "concurrency", "keys", "key_dist", "zipf_s", "read_fraction",
    "delete_fraction", "value_size", "timeout", "retries", "blind_puts", "coordinator", NULL};

static int l_cluster_workload(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    sim_lua_t *sl = lc->sl;
    luaL_checktype(L, 2, LUA_TTABLE);
    check_options(L, 2, "workload", workload_keys);
    sim_workload_config_t c;
    sim_workload_config_default(&c);
    c.ops = (uint64_t)opt_int(L, 2, "ops", (lua_Integer)c.ops, 0, (lua_Integer)1 << 40);
    c.rate_per_s = opt_num(L, 2, "rate", 0);
    c.clients = (uint32_t)opt_int(L, 2, "clients", c.clients, 1, 100000);
    c.concurrency = (uint32_t)opt_int(L, 2, "concurrency", c.concurrency, 1, 1024);
    c.keys = (uint64_t)opt_int(L, 2, "keys", (lua_Integer)c.keys, 1, 100000000);
    const char *dist = opt_str(L, 2, "key_dist", "uniform");
    if (strcmp(dist, "uniform") == 0)
        c.key_dist = SIM_KEYS_UNIFORM;
    else if (strcmp(dist, "zipf") == 0)
        c.key_dist = SIM_KEYS_ZIPF;
    else
        return luaL_error(L, "workload: key_dist must be \"uniform\" or \"zipf\", got \"%s\"",
                          dist);
    c.zipf_s = opt_num(L, 2, "zipf_s", c.zipf_s);
    c.read_fraction = opt_num(L, 2, "read_fraction", c.read_fraction);
    c.delete_fraction = opt_num(L, 2, "delete_fraction", c.delete_fraction);
    lua_getfield(L, 2, "value_size");
    if (lua_istable(L, -1)) {
        /* Sizes drawn per put, in bytes; a Lua-owned box keeps an error here from leaking. */
        sim_dist_t *box = lua_newuserdatauv(L, sizeof(sim_dist_t), 0);
        parse_dist(L, -2, "workload value_size", 1.0, box);
        c.value_dist = *box;
        c.value_dist_set = 1;
        lua_pop(L, 1);
    } else {
        c.value_size = (uint32_t)opt_int(L, 2, "value_size", c.value_size, 0, DYN_VALUE_MAX);
    }
    lua_pop(L, 1);
    c.timeout_us = ms_to_us(L, opt_num(L, 2, "timeout", 1000), "timeout");
    c.retries = (uint32_t)opt_int(L, 2, "retries", 0, 0, 100);
    lua_getfield(L, 2, "blind_puts");
    c.blind_puts = lua_toboolean(L, -1);
    lua_pop(L, 1);
    c.owner_coordinates = opt_owner_coordinates(L, 2, "workload");
    char err[256];
    sim_workload_t *wl = sim_workload_start(sl->world, &c, err, sizeof(err));
    if (c.value_dist_set)
        sim_dist_free(&c.value_dist);   /* the workload keeps its own copy */
    if (!wl)
        return luaL_error(L, "workload: %s", err);
    sim_workload_t **list = realloc(sl->workloads, (sl->workload_count + 1) * sizeof(*list));
    if (!list) {
        sim_workload_destroy(wl);
        return luaL_error(L, "out of memory");
    }
    sl->workloads = list;
    list[sl->workload_count++] = wl;
    lua_workload_t *lw = lua_newuserdatauv(L, sizeof(*lw), 0);
    lw->sl = sl;
    lw->wl = wl;
    luaL_setmetatable(L, WORKLOAD_MT);
    return 1;
}

/* ---- client operations ------------------------------------------------------------------ */

typedef struct waiter {
    struct waiter *prev, *next;   /* sl->waiters: a run stopped early still frees them */
    sim_lua_t *sl;
    lua_State *co;
    size_t key_length;   /* puts and deletes keep their key for the lost-write checker */
    uint8_t key[];
} waiter_t;

static waiter_t *waiter_new(lua_State *L, sim_lua_t *sl, const uint8_t *key, size_t key_length)
{
    waiter_t *wt = malloc(sizeof(*wt) + key_length);
    if (!wt) {
        luaL_error(L, "out of memory");
        return NULL;
    }
    wt->sl = sl;
    wt->co = L;
    wt->key_length = key_length;
    if (key_length)
        memcpy(wt->key, key, key_length);
    wt->prev = NULL;
    wt->next = sl->waiters;
    if (sl->waiters)
        sl->waiters->prev = wt;
    sl->waiters = wt;
    return wt;
}

static void waiter_free(waiter_t *wt)
{
    if (wt->prev)
        wt->prev->next = wt->next;
    else
        wt->sl->waiters = wt->next;
    if (wt->next)
        wt->next->prev = wt->prev;
    free(wt);
}

static const char *status_name(int status)
{
    return dyn_strerror(status);
}

/* Completion: push the results onto the suspended thread, then resume it as its own event. */
static void client_done(void *arg, const dyn_client_result_t *res)
{
    waiter_t *wt = arg;
    lua_State *co = wt->co;
    sim_lua_t *sl = wt->sl;
    if (sl->failed) {
        waiter_free(wt);
        return;
    }
    /* Scenario calls count in the run's statistics like workload operations. */
    sim_op_record_t rec = {
        .start_us = res->start_us, .end_us = res->end_us, .status = res->status,
        .coordinator = res->coordinator, .kind = (uint8_t)res->kind,
        .attempts = (uint8_t)(res->attempts > 255 ? 255 : res->attempts),
        .siblings = (uint16_t)(res->siblings ? res->siblings->count : 0),
    };
    sim_metrics_record(sim_world_metrics(sl->world), &rec);
    if (res->status == DYN_OK && res->written)
        sim_checker_ack(sim_world_checker(sl->world), wt->key, wt->key_length, res->written,
                        res->kind, res->end_us);
    waiter_free(wt);
    int nres;
    if (!lua_checkstack(co, 4))
        DYN_ASSERT(0 && "Lua stack exhausted");
    if (res->status == DYN_OK || (res->kind == DYN_OP_GET && res->status == DYN_ENOTFOUND)) {
        if (res->kind == DYN_OP_GET) {
            const dyn_siblings_t *s = res->siblings;
            uint32_t count = s ? s->count : 0;
            lua_createtable(co, (int)count, 0);
            for (uint32_t i = 0; i < count; i++) {
                lua_pushlstring(co, (const char *)s->items[i].value, s->items[i].value_length);
                lua_rawseti(co, -2, (lua_Integer)i + 1);
            }
        } else {
            lua_pushboolean(co, 1);
        }
        uint8_t context[DYN_CONTEXT_MAX];
        int length = dyn_client_context_encode(res, context, sizeof(context));
        DYN_ASSERT(length >= 0);
        if (length > 0)
            lua_pushlstring(co, (const char *)context, (size_t)length);
        else
            lua_pushnil(co);
        nres = 2;
    } else {
        lua_pushnil(co);
        lua_pushstring(co, status_name(res->status));
        nres = 2;
    }
    sim_world_at(sl->world, sim_world_now(sl->world), resume_event, co, (uint64_t)nres);
}

static const char *const request_keys[] = {"n", "r", "w", "pr", "pw", "via", NULL};

static void read_request_opts(lua_State *L, int idx, dyn_client_request_t *req)
{
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    check_options(L, idx, "request options", request_keys);
    req->opts.n = (uint8_t)opt_int(L, idx, "n", 0, 0, DYN_N_MAX);
    req->opts.r = (uint8_t)opt_int(L, idx, "r", 0, 0, DYN_N_MAX);
    req->opts.w = (uint8_t)opt_int(L, idx, "w", 0, 0, DYN_N_MAX);
    req->opts.pr = (uint8_t)opt_int(L, idx, "pr", 0, 0, DYN_N_MAX);
    req->opts.pw = (uint8_t)opt_int(L, idx, "pw", 0, 0, DYN_N_MAX);
    req->via = (dyn_endpoint_t)opt_int(L, idx, "via", 0, 0, 65535);
    /* The coordinator refuses these with a bare "invalid argument": say which number is wrong. */
    const sim_cluster_config_t *cc = sim_world_cluster_config(get_sl(L)->world);
    unsigned n = req->opts.n ? req->opts.n : cc->node.n;
    const struct { const char *name; unsigned value; } quorums[] = {
        {"r", req->opts.r}, {"w", req->opts.w}, {"pr", req->opts.pr}, {"pw", req->opts.pw}};
    for (size_t i = 0; i < sizeof(quorums) / sizeof(quorums[0]); i++)
        if (quorums[i].value > n)
            luaL_error(L, "request options: %s=%d is more than the key's n=%d replicas",
                       quorums[i].name, (int)quorums[i].value, (int)n);
}

static int client_call(lua_State *L, dyn_client_request_t *req)
{
    lua_client_t *lcl = luaL_checkudata(L, 1, CLIENT_MT);
    sim_lua_t *sl = lcl->sl;
    static const char *const names[] = {"get", "put", "delete"};
    const char *op = names[req->kind];
    if (req->key_length == 0)
        return luaL_error(L, "%s: the key must not be empty", op);
    if (req->key_length > DYN_KEY_MAX)
        return luaL_error(L, "%s: the key is %d bytes, over the %d-byte limit", op,
                          (int)req->key_length, (int)DYN_KEY_MAX);
    if (req->value_length > DYN_VALUE_MAX)
        return luaL_error(L, "%s: the value is %d bytes, over the %d-byte limit", op,
                          (int)req->value_length, (int)DYN_VALUE_MAX);
    require_actor(L, op);
    size_t keep = req->kind == DYN_OP_GET ? 0 : req->key_length;
    waiter_t *wt = waiter_new(L, sl, req->key, keep);
    int rc = dyn_client_submit(lcl->client, sim_world_now(sl->world), req, client_done, wt, NULL);
    if (rc != DYN_OK) {
        waiter_free(wt);
        if (rc == DYN_EINVAL)
            return luaL_error(L, "%s: invalid request (is the context a string a get returned?)",
                              op);
        if (rc == DYN_ETOOBIG)
            return luaL_error(L, "%s: %s", op, dyn_strerror(rc));
        lua_pushnil(L);
        lua_pushstring(L, dyn_strerror(rc));
        return 2;
    }
    return lua_yield(L, 0);
}

/* client:get(key [, opts]) -> values, context | nil, error */
static int l_client_get(lua_State *L)
{
    dyn_client_request_t req = {.kind = DYN_OP_GET};
    req.key = (const uint8_t *)luaL_checklstring(L, 2, &req.key_length);
    read_request_opts(L, 3, &req);
    return client_call(L, &req);
}

/* client:put(key, value [, context [, opts]]) -> true, context | nil, error */
static int l_client_put(lua_State *L)
{
    dyn_client_request_t req = {.kind = DYN_OP_PUT};
    req.key = (const uint8_t *)luaL_checklstring(L, 2, &req.key_length);
    req.value = (const uint8_t *)luaL_checklstring(L, 3, &req.value_length);
    if (!lua_isnoneornil(L, 4))
        req.context = (const uint8_t *)luaL_checklstring(L, 4, &req.context_length);
    read_request_opts(L, 5, &req);
    return client_call(L, &req);
}

/* client:delete(key [, context [, opts]]) -> true, context | nil, error */
static int l_client_delete(lua_State *L)
{
    dyn_client_request_t req = {.kind = DYN_OP_DELETE};
    req.key = (const uint8_t *)luaL_checklstring(L, 2, &req.key_length);
    if (!lua_isnoneornil(L, 3))
        req.context = (const uint8_t *)luaL_checklstring(L, 3, &req.context_length);
    read_request_opts(L, 4, &req);
    return client_call(L, &req);
}

/* ---- workloads -------------------------------------------------------------------------- */

static void workload_done(sim_workload_t *wl, void *arg)
{
    (void)wl;
    waiter_t *wt = arg;
    sim_lua_t *sl = wt->sl;
    lua_State *co = wt->co;
    waiter_free(wt);
    if (!sl->failed)
        sim_world_at(sl->world, sim_world_now(sl->world), resume_event, co, 0);
}

static int l_workload_wait(lua_State *L)
{
    lua_workload_t *lw = luaL_checkudata(L, 1, WORKLOAD_MT);
    if (sim_workload_done(lw->wl))
        return 0;
    require_actor(L, "wait");
    waiter_t *wt = waiter_new(L, lw->sl, NULL, 0);
    sim_workload_on_done(lw->wl, workload_done, wt);
    return lua_yield(L, 0);
}

static int l_workload_progress(lua_State *L)
{
    lua_workload_t *lw = luaL_checkudata(L, 1, WORKLOAD_MT);
    lua_newtable(L);
    set_integer(L, "issued", (lua_Integer)sim_workload_issued(lw->wl));
    set_integer(L, "completed", (lua_Integer)sim_workload_completed(lw->wl));
    set_integer(L, "rejected", (lua_Integer)sim_workload_rejected(lw->wl));
    set_integer(L, "keys_written", (lua_Integer)sim_workload_keys_written(lw->wl));
    lua_pushboolean(L, sim_workload_done(lw->wl));
    lua_setfield(L, -2, "done");
    return 1;
}

/* ---- stats ------------------------------------------------------------------------------ */

static void push_summary(lua_State *L, sim_metrics_t *m, dyn_op_kind_t kind)
{
    sim_op_summary_t s;
    sim_metrics_summary(m, kind, &s);
    lua_newtable(L);
#define INT(name, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, name))
#define MS(name, v) (lua_pushnumber(L, (double)(v) / 1000.0), lua_setfield(L, -2, name))
    INT("count", s.count);
    INT("ok", s.ok);
    INT("not_found", s.not_found);
    INT("failed", s.failed);
    INT("timeouts", s.timeouts);
    MS("mean", s.mean_us);
    MS("p50", s.p50_us);
    MS("p90", s.p90_us);
    MS("p99", s.p99_us);
    MS("p999", s.p999_us);
    MS("max", s.max_us);
#undef INT
#undef MS
}

/* stats() -> {get=..., put=..., delete=...}: counts and latencies in ms of every op so far. */
static int l_stats(lua_State *L)
{
    sim_metrics_t *m = sim_world_metrics(get_sl(L)->world);
    lua_newtable(L);
    push_summary(L, m, DYN_OP_GET);
    lua_setfield(L, -2, "get");
    push_summary(L, m, DYN_OP_PUT);
    lua_setfield(L, -2, "put");
    push_summary(L, m, DYN_OP_DELETE);
    lua_setfield(L, -2, "delete");
    return 1;
}

/* percentile(kind, p) -> latency in ms of successful ops of that kind */
static int l_percentile(lua_State *L)
{
    static const char *const kinds[] = {"get", "put", "delete", NULL};
    int kind = luaL_checkoption(L, 1, NULL, kinds);
    double p = luaL_checknumber(L, 2);
    luaL_argcheck(L, p > 0 && p <= 100, 2, "percentile must be in (0, 100]");
    sim_metrics_t *m = sim_world_metrics(get_sl(L)->world);
    lua_pushnumber(L, (double)sim_metrics_percentile(m, (dyn_op_kind_t)kind, p) / 1000.0);
    return 1;
}

/*
 * stale_reads() -> {judged=, stale=, fraction=}: workload gets that missed the latest write
 * acknowledged before they started (sim_metrics.h).
 */
static int l_stale_reads(lua_State *L)
{
    uint64_t judged, stale;
    sim_metrics_staleness(sim_world_metrics(get_sl(L)->world), &judged, &stale);
    lua_newtable(L);
    set_integer(L, "judged", (lua_Integer)judged);
    set_integer(L, "stale", (lua_Integer)stale);
    set_number(L, "fraction", judged ? (double)stale / (double)judged : 0.0);
    return 1;
}

/*
 * sibling_counts() -> {gets=, mean=, max=, [0]=, [1]=, ..., more=}: how many live versions successful
 * gets returned; [i] counts gets that saw exactly i, `more` those that saw SIM_SIBLING_BINS - 1
 * or more.
 */
static int l_sibling_counts(lua_State *L)
{
    sim_sibling_dist_t sd;
    sim_metrics_siblings(sim_world_metrics(get_sl(L)->world), &sd);
    lua_newtable(L);
    set_integer(L, "gets", (lua_Integer)sd.gets);
    set_number(L, "mean", sd.mean);
    set_integer(L, "max", (lua_Integer)sd.max);
    for (int i = 0; i < SIM_SIBLING_BINS - 1; i++) {
        lua_pushinteger(L, (lua_Integer)sd.bins[i]);
        lua_rawseti(L, -2, i);
    }
    set_integer(L, "more", (lua_Integer)sd.bins[SIM_SIBLING_BINS - 1]);
    return 1;
}

/*
 * availability([bin_s = 1]) -> {ops=, ok=, fraction=, worst=, worst_at=, bins={...}}: the
 * fraction of operations that succeeded, overall and per bin of bin_s simulated seconds by start
 * time; worst is the lowest bin fraction and worst_at the start of that bin in seconds.
 */
static int l_availability(lua_State *L)
{
    double bin_s = luaL_optnumber(L, 1, 1.0);
    luaL_argcheck(L, bin_s >= 0.001 && bin_s <= 86400.0, 1,
                  "bin must be between 0.001 and 86400 seconds");
    sim_avail_t av;
    if (sim_metrics_availability(sim_world_metrics(get_sl(L)->world),
                                 (dyn_time_us)(bin_s * 1e6 + 0.5), &av) != 0)
        return luaL_error(L, "availability: out of memory");
    lua_newtable(L);
    set_integer(L, "ops", (lua_Integer)av.ops);
    set_integer(L, "ok", (lua_Integer)av.ok);
    set_number(L, "fraction", av.ops ? (double)av.ok / (double)av.ops : 1.0);
    set_number(L, "worst", av.ops ? (double)av.bin_ok[av.worst] / (double)av.bin_ops[av.worst] : 1.0);
    set_number(L, "worst_at", (double)av.worst * (double)av.bin_us / 1e6);
    lua_createtable(L, (int)av.bin_count, 0);
    for (size_t b = 0; b < av.bin_count; b++) {
        /* An empty bin had nothing refused: report it as available, like the whole-run figure. */
        lua_pushnumber(L, av.bin_ops[b] ? (double)av.bin_ok[b] / (double)av.bin_ops[b] : 1.0);
        lua_rawseti(L, -2, (lua_Integer)b + 1);
    }
    lua_setfield(L, -2, "bins");
    sim_avail_free(&av);
    return 1;
}

/* ---- network faults ----------------------------------------------------------------- */

/* net.partition({1, 2}, {3, 4, 5}, ...): block every pair across groups, both ways. */
static int l_net_partition(lua_State *L)
{
    sim_net_t *net = fault_net(L);
    sim_lua_t *sl = get_sl(L);
    int groups = lua_gettop(L);
    if (groups < 2)
        return luaL_error(L, "net.partition needs at least two groups of node ids");
    uint32_t n = sim_world_node_count(sl->world);
    uint32_t *group_of = lua_newuserdatauv(L, n * sizeof(uint32_t), 0);
    memset(group_of, 0, n * sizeof(uint32_t));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "partition");
    for (int g = 1; g <= groups; g++) {
        luaL_checktype(L, g, LUA_TTABLE);
        lua_Integer len = luaL_len(L, g);
        if (len < 1)
            return luaL_error(L, "net.partition: group %d is empty", g);
        luaL_addstring(&b, g == 1 ? " {" : " | {");
        for (lua_Integer i = 1; i <= len; i++) {
            lua_rawgeti(L, g, i);
            uint32_t id = check_node(L, -1);
            lua_pop(L, 1);
            if (group_of[id - 1])
                return luaL_error(L, "net.partition: node %d is in two groups", (int)id);
            group_of[id - 1] = (uint32_t)g;
            lua_pushfstring(L, "%s%d", i > 1 ? "," : "", (int)id);
            luaL_addvalue(&b);
        }
        luaL_addstring(&b, "}");
    }
    luaL_pushresult(&b);
    if (sim_net_partition(net, group_of) != DYN_OK)
        return luaL_error(L, "net.partition: out of memory");
    fault_event(sl, lua_tostring(L, -1), 0, 0);
    return 0;
}

/* net.block(from, to): datagrams from `from` to `to` are lost (one way). */
static int l_net_block(lua_State *L)
{
    sim_net_t *net = fault_net(L);
    uint32_t from = check_node(L, 1), to = check_node(L, 2);
    if (from == to)
        return luaL_error(L, "net.block: a node cannot be cut off from itself");
    if (sim_net_block(net, from, to) != DYN_OK)
        return luaL_error(L, "net.block: out of memory");
    lua_pushfstring(L, "block %d -> %d", (int)from, (int)to);
    fault_event(get_sl(L), lua_tostring(L, -1), from, to);
    return 0;
}

/* net.isolate(node): the node can neither send to nor hear from any other node. */
static int l_net_isolate(lua_State *L)
{
    sim_net_t *net = fault_net(L);
    uint32_t node = check_node(L, 1);
    if (sim_net_isolate(net, node) != DYN_OK)
        return luaL_error(L, "net.isolate: out of memory");
    lua_pushfstring(L, "isolate %d", (int)node);
    fault_event(get_sl(L), lua_tostring(L, -1), node, 0);
    return 0;
}

/* net.heal(): every block and clog ends (loss and duplication stay until set to 0). */
static int l_net_heal(lua_State *L)
{
    sim_net_heal(fault_net(L));
    fault_event(get_sl(L), "heal", 0, 0);
    return 0;
}

static int set_fraction(lua_State *L, const char *name, int (*set)(sim_net_t *, double))
{
    sim_net_t *net = fault_net(L);
    double p = luaL_checknumber(L, 1);
    if (set(net, p) != DYN_OK)
        return luaL_error(L, "net.%s: a fraction between 0 and 1, got %f", name, p);
    lua_pushfstring(L, "%s %f", name, p);
    fault_event(get_sl(L), lua_tostring(L, -1), 0, 0);
    return 0;
}

/* net.loss(p) / net.duplicate(p): drop / deliver twice a fraction p of all datagrams. */
static int l_net_loss(lua_State *L) { return set_fraction(L, "loss", sim_net_set_loss); }
static int l_net_duplicate(lua_State *L)
{
    return set_fraction(L, "duplicate", sim_net_set_duplicate);
}

/* net.clog(from, to, ms): hold datagrams on the link for ms, then release them in order.
 * 0 for either end means any node. */
static int l_net_clog(lua_State *L)
{
    sim_net_t *net = fault_net(L);
    sim_lua_t *sl = get_sl(L);
    uint32_t from = luaL_checkinteger(L, 1) == 0 ? 0 : check_node(L, 1);
    uint32_t to = luaL_checkinteger(L, 2) == 0 ? 0 : check_node(L, 2);
    dyn_time_us duration = ms_to_us(L, luaL_checknumber(L, 3), "net.clog duration");
    int rc = sim_net_clog(net, from, to, sim_world_now(sl->world) + duration);
    if (rc == DYN_EFULL)
        return luaL_error(L, "net.clog: too many clogs in force at once");
    if (rc != DYN_OK)
        return luaL_error(L, "net.clog: invalid link");
    lua_pushfstring(L, "clog %d -> %d for %f ms", (int)from, (int)to,
                    (double)duration / 1000.0);
    /* A clog of "any" node (0) touches the whole cluster. */
    fault_event(sl, lua_tostring(L, -1), from && to ? from : 0, from && to ? to : 0);
    return 0;
}

/* net.stats() -> {routed=, dropped_partition=, dropped_loss=, duplicated=, clogged=} */
static int l_net_stats(lua_State *L)
{
    const sim_net_stats_t *s = sim_net_stats(sim_world_net(get_sl(L)->world));
    lua_newtable(L);
    set_integer(L, "routed", (lua_Integer)s->routed);
    set_integer(L, "dropped_partition", (lua_Integer)s->dropped_partition);
    set_integer(L, "dropped_loss", (lua_Integer)s->dropped_loss);
    set_integer(L, "duplicated", (lua_Integer)s->duplicated);
    set_integer(L, "clogged", (lua_Integer)s->clogged);
    return 1;
}

/* Add "id", or "{a,b,...}" for a list, to a description being built (luaL_addvalue's rule). */
static void add_ids(lua_State *L, luaL_Buffer *b, const uint32_t *ids, size_t count, int list)
{
    if (list)
        luaL_addchar(b, '{');
    for (size_t i = 0; i < count; i++) {
        lua_pushfstring(L, "%s%d", i ? "," : "", (int)ids[i]);
        luaL_addvalue(b);
    }
    if (list)
        luaL_addchar(b, '}');
}

/* A node id or an array of them, at stack index idx, as a userdata array left on the stack. */
static uint32_t *check_node_list(lua_State *L, int idx, const char *what, size_t *count,
                                 int *list)
{
    idx = lua_absindex(L, idx);
    *list = !lua_isinteger(L, idx);
    if (!*list) {
        uint32_t *ids = lua_newuserdatauv(L, sizeof(uint32_t), 0);
        ids[0] = check_node(L, idx);
        *count = 1;
        return ids;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "net.latency: %s= takes a node id or an array of them", what);
    lua_Integer len = luaL_len(L, idx);
    if (len < 1 || len > (lua_Integer)sim_world_node_count(get_sl(L)->world))
        luaL_error(L, "net.latency: %s= must list between 1 and all nodes", what);
    uint32_t *ids = lua_newuserdatauv(L, (size_t)len * sizeof(uint32_t), 0);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, i);
        ids[i - 1] = check_node(L, -1);
        lua_pop(L, 1);
    }
    *count = (size_t)len;
    return ids;
}

/*
 * net.latency{from = ids, to = ids, dist = latency | false, both_ways = true}: the one-way delay
 * of every link between the two sets (a slow link, a second datacenter), over latency_by_type and
 * the default. dist = false lifts the rule. Logged and hashed into the digest like a fault.
 */
static int l_net_latency(lua_State *L)
{
    static const char *const keys[] = {"from", "to", "dist", "both_ways", NULL};
    sim_net_t *net = fault_net(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    check_options(L, 1, "net.latency", keys);
    lua_getfield(L, 1, "from");
    lua_getfield(L, 1, "to");
    lua_getfield(L, 1, "dist");
    lua_getfield(L, 1, "both_ways");
    int both = lua_isnil(L, 5) ? 1 : lua_toboolean(L, 5);
    if (lua_isnil(L, 4))
        return luaL_error(L, "net.latency: give dist= (a latency as in cluster.new, or false to "
                          "lift the rule)");
    size_t from_count, to_count;
    int from_list, to_list;
    uint32_t *from = check_node_list(L, 2, "from", &from_count, &from_list);
    uint32_t *to = check_node_list(L, 3, "to", &to_count, &to_list);
    sim_dist_t d, *dist = NULL;
    char shown[160] = "default";
    if (!(lua_isboolean(L, 4) && !lua_toboolean(L, 4))) {
        parse_dist(L, 4, "net.latency", 1000.0, &d);
        dist = &d;
        sim_dist_describe(&d, 1000.0, "ms", shown, sizeof(shown));
    }
    int rc = sim_net_set_link_latency(net, from, from_count, to, to_count, dist);
    if (rc == DYN_OK && both)
        rc = sim_net_set_link_latency(net, to, to_count, from, from_count, dist);
    if (dist)
        sim_dist_free(&d);
    if (rc == DYN_EFULL)
        return luaL_error(L, "net.latency: more than %d link rules", (int)SIM_NET_LINK_RULES_MAX);
    if (rc != DYN_OK)
        return luaL_error(L, "net.latency: %s", dyn_strerror(rc));
    luaL_Buffer what;
    luaL_buffinit(L, &what);
    luaL_addstring(&what, "latency ");
    add_ids(L, &what, from, from_count, from_list);
    luaL_addstring(&what, both ? " <-> " : " -> ");
    add_ids(L, &what, to, to_count, to_list);
    luaL_addchar(&what, ' ');
    luaL_addstring(&what, shown);
    luaL_pushresult(&what);
    fault_event(get_sl(L), lua_tostring(L, -1), 0, 0);
    return 0;
}

static const luaL_Reg net_functions[] = {
    {"partition", l_net_partition}, {"block", l_net_block}, {"isolate", l_net_isolate},
    {"heal", l_net_heal},           {"loss", l_net_loss},   {"duplicate", l_net_duplicate},
    {"clog", l_net_clog},           {"stats", l_net_stats}, {"latency", l_net_latency},
    {NULL, NULL}};

/* ---- checkers -------------------------------------------------------------------------- */

static void print_key(const uint8_t *key, uint32_t length)
{
    for (uint32_t i = 0; i < length; i++)
        putchar(key[i] >= 0x20 && key[i] < 0x7F ? key[i] : '?');
}

/*
 * honest_outcomes() -> {definite=, dishonest=, indeterminate=, indeterminate_applied=}: did any
 * workload put reported failed take effect (sim_checker.h)? Dishonest ones are printed.
 */
static int l_honest_outcomes(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    if (sim_world_node_count(sl->world) == 0)
        return luaL_error(L, "honest_outcomes: no cluster");
    sim_honesty_report_t r;
    if (sim_checker_honesty(sim_world_checker(sl->world), sl->world, &r) != 0)
        return luaL_error(L, "honest_outcomes: out of memory");
    printf("[%12.3f ms] honest-outcome check: %llu puts failed definitely, %llu of them took "
           "effect; %llu timed out, %llu of them took effect\n", now_ms(sl),
           (unsigned long long)r.definite, (unsigned long long)r.definite_appeared,
           (unsigned long long)r.indeterminate, (unsigned long long)r.indeterminate_appeared);
    for (size_t i = 0; i < r.listed; i++) {
        printf("  dishonest put key=");
        print_key(r.first[i].key, r.first[i].key_length);
        printf(" reported \"%s\" at %.3f ms; ", dyn_strerror(r.first[i].status),
               (double)r.first[i].failed_us / 1000.0);
        if (r.first[i].seen_us)
            printf("a get returned it at %.3f ms\n", (double)r.first[i].seen_us / 1000.0);
        else
            printf("a replica stores it\n");
    }
    fflush(stdout);
    lua_newtable(L);
    set_integer(L, "definite", (lua_Integer)r.definite);
    set_integer(L, "dishonest", (lua_Integer)r.definite_appeared);
    set_integer(L, "indeterminate", (lua_Integer)r.indeterminate);
    set_integer(L, "indeterminate_applied", (lua_Integer)r.indeterminate_appeared);
    return 1;
}

/*
 * lost_writes() -> {checked=, present=, superseded=, reaped=, resurrected=, lost=}: check every
 * acknowledged write against the replicas' stores (sim_checker.h), and count stored live versions
 * that collected tombstones had covered. The first lost writes are printed with the faults
 * injected after each was acknowledged.
 */
static int l_lost_writes(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    if (sim_world_node_count(sl->world) == 0)
        return luaL_error(L, "lost_writes: no cluster");
    sim_lost_report_t r;
    if (sim_checker_lost_writes(sim_world_checker(sl->world), sl->world, &r) != 0)
        return luaL_error(L, "lost_writes: out of memory");
    printf("[%12.3f ms] lost-write check: %llu acknowledged writes: %llu present, %llu "
           "superseded (%llu by collected tombstones), %llu lost (%llu to a reused dot); %llu "
           "collected versions back\n", now_ms(sl),
           (unsigned long long)r.checked, (unsigned long long)r.present,
           (unsigned long long)r.superseded, (unsigned long long)r.reaped,
           (unsigned long long)r.lost, (unsigned long long)r.dots_reused,
           (unsigned long long)r.resurrected);
    for (size_t i = 0; i < r.listed; i++) {
        const sim_lost_write_t *lw = &r.first[i];
        printf("  lost %s key=", lw->kind == DYN_OP_DELETE ? "delete" : "put");
        print_key(lw->key, lw->key_length);
        printf(" dot=%u:%u:%llu acked at %.3f ms", lw->dot.node, lw->dot.epoch,
               (unsigned long long)lw->dot.counter, (double)lw->acked_us / 1000.0);
        /* The fault history that touched it: faults since the ack on the replicas the checker
         * read (the preference list and its first fallbacks), and cluster-wide ones. */
        uint32_t replicas[2 * DYN_N_MAX];
        size_t n = sim_world_cluster_config(sl->world)->node.n;
        size_t span = 2 * n < sim_world_node_count(sl->world) ? 2 * n
                                                             : sim_world_node_count(sl->world);
        span = dyn_ring_preference_list(sim_world_ring(sl->world),
                                        dyn_ring_hash(lw->key, lw->key_length), replicas, span);
        printf("; replicas");
        for (size_t k = 0; k < span; k++)
            printf("%s%u", k ? "," : " ", replicas[k]);
        printf("; faults on them since:");
        int shown = 0, more = 0;
        for (size_t f = 0; f < sl->fault_count; f++) {
            const struct fault_record *fr = &sl->faults[f];
            if (fr->at_us < lw->acked_us)
                continue;
            int touches = fr->node_a == 0 && fr->node_b == 0;
            for (size_t k = 0; k < span && !touches; k++)
                touches = fr->node_a == replicas[k] || fr->node_b == replicas[k];
            if (!touches)
                continue;
            if (shown == 8) {
                more++;
                continue;
            }
            printf("%s %.3f ms %s", shown ? ";" : "", (double)fr->at_us / 1000.0, fr->what);
            shown++;
        }
        if (more)
            printf("; and %d more", more);
        printf("%s\n", shown ? "" : " none");
    }
    fflush(stdout);
    lua_newtable(L);
    set_integer(L, "checked", (lua_Integer)r.checked);
    set_integer(L, "present", (lua_Integer)r.present);
    set_integer(L, "superseded", (lua_Integer)r.superseded);
    set_integer(L, "reaped", (lua_Integer)r.reaped);
    set_integer(L, "resurrected", (lua_Integer)r.resurrected);
    set_integer(L, "lost", (lua_Integer)r.lost);
    set_integer(L, "dots_reused", (lua_Integer)r.dots_reused);
    return 1;
}

/*
 * convergence() -> {keys=, divergent=}: do the N replicas of every key hold identical version
 * sets? The first divergent keys are printed with each replica's version count.
 */
static int l_convergence(lua_State *L)
{
    sim_lua_t *sl = get_sl(L);
    if (sim_world_node_count(sl->world) == 0)
        return luaL_error(L, "convergence: no cluster");
    sim_convergence_report_t r;
    if (sim_checker_convergence(sl->world, &r) != 0)
        return luaL_error(L, "convergence: out of memory");
    printf("[%12.3f ms] convergence check: %llu keys, %llu divergent\n", now_ms(sl),
           (unsigned long long)r.keys, (unsigned long long)r.divergent);
    for (size_t i = 0; i < r.listed; i++) {
        printf("  divergent key=");
        print_key(r.first[i].key, r.first[i].key_length);
        printf(" versions per replica:");
        for (uint32_t k = 0; k < r.first[i].replicas; k++)
            printf(" %u", r.first[i].versions[k]);
        printf("\n");
        for (uint32_t k = 0; k < r.first[i].replicas; k++) {
            printf("    replica %u dots:", k + 1);
            for (uint32_t v = 0; v < r.first[i].versions[k] && v < 16; v++)
                printf(" %u:%u:%llu(%uB)", r.first[i].dots[k][v].node, r.first[i].dots[k][v].epoch,
                       (unsigned long long)r.first[i].dots[k][v].counter,
                       r.first[i].value_lengths[k][v]);
            printf("%s\n", r.first[i].versions[k] > 16 ? " ..." : "");
        }
    }
    fflush(stdout);
    lua_newtable(L);
    set_integer(L, "keys", (lua_Integer)r.keys);
    set_integer(L, "divergent", (lua_Integer)r.divergent);
    return 1;
}

/* track_writes(false) stops logging acknowledged writes (benchmarks); true resumes. */
static int l_track_writes(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    sim_checker_set_enabled(sim_world_checker(get_sl(L)->world), lua_toboolean(L, 1));
    return 0;
}

/* divergent_keys() -> the keys whose N replicas do not hold identical sets, in key order. */
typedef struct key_push {
    lua_State *L;
    lua_Integer n;
} key_push_t;

static void push_key(void *arg, const uint8_t *key, size_t key_length)
{
    key_push_t *kp = arg;
    lua_pushlstring(kp->L, (const char *)key, key_length);
    lua_rawseti(kp->L, -2, ++kp->n);
}

/*
 * c:inspect(key) -> {{node=, space="data"|"hint", owner=, versions=, live=, bytes=, print=}, ...}:
 * every copy of the key the cluster's stores hold, down nodes' included, for a scenario (or a
 * person replaying a seed) to see where a key is and how the copies differ.
 */
typedef struct inspect_scan {
    lua_State *L;
    const char *key;
    size_t key_length;
    uint32_t node;
    lua_Integer n;
} inspect_scan_t;

static void push_copy(inspect_scan_t *is, const char *space, uint32_t owner, const uint8_t *blob,
                      size_t length)
{
    lua_State *L = is->L;
    dyn_siblings_t set;
    dyn_siblings_init(&set);
    int rc = dyn_codec_decode_siblings(blob, length, &set);
    DYN_ASSERT(rc == DYN_OK); /* a store holds only what it encoded */
    lua_createtable(L, 0, 7);
    set_integer(L, "node", is->node);
    lua_pushstring(L, space);
    lua_setfield(L, -2, "space");
    set_integer(L, "owner", owner);
    set_integer(L, "versions", set.count);
    set_integer(L, "live", dyn_siblings_live_count(&set));
    set_integer(L, "bytes", (lua_Integer)length);
    lua_pushfstring(L, "%I", (lua_Integer)XXH3_64bits(blob, length));
    lua_setfield(L, -2, "print");
    /* Each version as "dot <- past", actors as node.epoch:counter: "3.17:4 <- 1.9:2 3.17:3". */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (uint32_t i = 0; i < set.count; i++) {
        const dyn_version_t *v = &set.items[i];
        char part[96];
        snprintf(part, sizeof(part), "%s%u.%u:%llu%s <-", i ? " | " : "", v->dot.node,
                 v->dot.epoch, (unsigned long long)v->dot.counter,
                 v->flags & DYN_VERSION_TOMBSTONE ? " (deleted)" : "");
        luaL_addstring(&b, part);
        for (uint32_t e = 0; e < v->clock.count; e++) {
            const dyn_vclock_entry_t *c = &v->clock.entries[e];
            snprintf(part, sizeof(part), " %u.%u:%llu", c->node, c->epoch,
                     (unsigned long long)c->counter);
            luaL_addstring(&b, part);
        }
    }
    luaL_pushresult(&b);
    lua_setfield(L, -2, "clocks");
    lua_rawseti(L, -2, ++is->n);
    dyn_siblings_clear(&set);
}

static int inspect_hint(void *arg, const uint8_t *hkey, size_t hkey_length, const uint8_t *blob,
                        size_t length)
{
    inspect_scan_t *is = arg;
    if (hkey_length == 4 + is->key_length && memcmp(hkey + 4, is->key, is->key_length) == 0)
        push_copy(is, "hint",
                  (uint32_t)hkey[0] << 24 | (uint32_t)hkey[1] << 16 | (uint32_t)hkey[2] << 8 |
                      hkey[3],
                  blob, length);
    return 0;
}

static int l_cluster_inspect(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    sim_world_t *w = lc->sl->world;
    inspect_scan_t is = {L, NULL, 0, 0, 0};
    is.key = luaL_checklstring(L, 2, &is.key_length);
    lua_newtable(L);
    for (uint32_t id = 1; id <= sim_world_node_count(w); id++) {
        dyn_storage_t st = dyn_mem_store_storage(sim_world_store(w, id));
        const uint8_t *blob;
        size_t length;
        is.node = id;
        if (st.ops->get(st.ctx, DYN_SPACE_DATA, (const uint8_t *)is.key, is.key_length, &blob,
                        &length) == DYN_OK)
            push_copy(&is, "data", id, blob, length);
        (void)st.ops->scan(st.ctx, DYN_SPACE_HINTS, inspect_hint, &is);
    }
    return 1;
}

static int l_cluster_divergent_keys(lua_State *L)
{
    lua_cluster_t *lc = check_cluster(L, 1);
    lua_newtable(L);
    key_push_t kp = {L, 0};
    if (sim_checker_divergent_keys(lc->sl->world, push_key, &kp) != 0)
        return luaL_error(L, "divergent_keys: out of memory");
    return 1;
}

/*
 * c:quiesce{max_ms = 60000, settle_ms = 500}: end every fault and wait until the replicas agree.
 * Heals the network (partitions, clogs, loss, duplication), resumes paused nodes and restarts
 * crashed ones, lets in-flight traffic settle, then waits for every hint to be handed off and
 * sweeps: every divergent key is read from all N replicas, whose read repair sends each the
 * merged set, until no key diverges and no hint is left, or max_ms of simulated time has passed.
 * Returns {converged=, rounds=, reads=, divergent=, hints=, ms=}.
 * Written in Lua on the public API, so it is exactly what a scenario could do by hand.
 */
static const char quiesce_source[] =
    "local cluster_mt = ...\n"
    "local now, sleep, net, ipairs, type, error = now, sleep, net, ipairs, type, error\n"
    "cluster_mt.__index.quiesce = function(c, opts)\n"
    "  opts = opts or {}\n"
    "  local max_ms, settle_ms = opts.max_ms or 60000, opts.settle_ms or 500\n"
    "  if type(max_ms) ~= 'number' or max_ms <= 0 then error('quiesce: max_ms must be > 0', 2) end\n"
    "  if type(settle_ms) ~= 'number' or settle_ms < 0 then\n"
    "    error('quiesce: settle_ms must be >= 0', 2)\n"
    "  end\n"
    "  local t0 = now()\n"
    "  net.heal(); net.loss(0); net.duplicate(0)\n"
    "  for id = 1, c:nodes() do\n"
    "    local state = c:node_stats(id).state\n"
    "    if state == 'paused' then c:resume(id) elseif state == 'down' then c:restart(id) end\n"
    "  end\n"
    "  sleep(settle_ms)\n"
    "  local reader = c:client { timeout = 2000, retries = 3 }\n"
    "  local rounds, reads = 0, 0\n"
    "  while true do\n"
    "    local hints, t = c:hints(), c:transfers()\n"
    "    local moving = t.moving + t.behind + t.keys_misplaced\n"
    "    local keys = (hints == 0 and moving == 0) and c:divergent_keys() or {}\n"
    "    if (hints == 0 and moving == 0 and #keys == 0) or now() - t0 >= max_ms then\n"
    "      if hints > 0 or moving > 0 then keys = c:divergent_keys() end\n"
    "      return { converged = #keys == 0 and hints == 0 and moving == 0, rounds = rounds,\n"
    "               reads = reads, divergent = #keys, hints = hints, moving = moving,\n"
    "               ms = now() - t0 }\n"
    "    end\n"
    "    rounds = rounds + 1\n"
    "    for _, key in ipairs(keys) do\n"
    "      reader:get(key, { r = #c:preference_list(key) })\n"
    "      reads = reads + 1\n"
    "    end\n"
    "    sleep(100)\n"
    "  end\n"
    "end\n"
    /* Riak's staged changes: join, leave, remove and replace are staged; plan prints what the
     * staged change would do; commit applies it. plan{...} and commit{...} take a change whole. */
    "local pairs, setmetatable = pairs, setmetatable\n"
    "local staged = setmetatable({}, { __mode = 'k' })\n"
    "local function stage(c)\n"
    "  local s = staged[c]\n"
    "  if not s then\n"
    "    s = { join = {}, leave = {}, remove = {}, replace = {}, zones = {} }\n"
    "    staged[c] = s\n"
    "  end\n"
    "  return s\n"
    "end\n"
    "local plan = cluster_mt.__index.plan\n"
    "local m = cluster_mt.__index\n"
    "m.join = function(c, id, zone)\n"
    "  local s = stage(c); s.join[#s.join + 1] = id; if zone then s.zones[id] = zone end\n"
    "end\n"
    "m.leave = function(c, id) local s = stage(c); s.leave[#s.leave + 1] = id end\n"
    "m.remove = function(c, id) local s = stage(c); s.remove[#s.remove + 1] = id end\n"
    "m.replace = function(c, old, new) stage(c).replace[old] = new end\n"
    "m.plan = function(c, change) return plan(c, change or stage(c)) end\n"
    "m.commit = function(c, change, via)\n"
    "  local t = {}\n"
    "  for k, v in pairs(change or stage(c)) do t[k] = v end\n"
    "  t.commit = true\n"
    "  if via then t.via = via end\n"
    "  local r = plan(c, t)\n"
    "  if not change then staged[c] = nil end\n"
    "  return r\n"
    "end\n";

/* ---- the VM ----------------------------------------------------------------------------- */

static const luaL_Reg cluster_methods[] = {
    {"client", l_cluster_client},       {"workload", l_cluster_workload},
    {"nodes", l_cluster_nodes},         {"preference_list", l_cluster_preference_list},
    {"ownership", l_cluster_ownership}, {"node_stats", l_cluster_node_stats},
    {"crash", l_cluster_crash},         {"restart", l_cluster_restart},
    {"pause", l_cluster_pause},         {"resume", l_cluster_resume},
    {"wipe", l_cluster_wipe},           {"clock", l_cluster_clock},
    {"divergent_keys", l_cluster_divergent_keys}, {"hints", l_cluster_hints},
    {"configure", l_cluster_configure},
    {"membership", l_cluster_membership}, {"member_change", l_cluster_member_change},
    {"gossip_converged", l_cluster_gossip_converged}, {"suspects", l_cluster_suspects},
    {"plan", l_cluster_plan}, {"ring_version", l_cluster_ring_version},
    {"transfers", l_cluster_transfers}, {"inspect", l_cluster_inspect},
    {NULL, NULL}};
static const luaL_Reg client_methods[] = {
    {"get", l_client_get}, {"put", l_client_put}, {"delete", l_client_delete}, {NULL, NULL}};
static const luaL_Reg workload_methods[] = {
    {"wait", l_workload_wait}, {"progress", l_workload_progress}, {NULL, NULL}};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

static void open_sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},         {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string},  {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},   {LUA_COLIBNAME, luaopen_coroutine},
        {NULL, NULL}};
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    /* No files, no code loading, no GC steering: a scenario's inputs are its text and its seed. */
    static const char *const removed[] = {"dofile", "loadfile", "load", "require",
                                          "collectgarbage", NULL};
    for (const char *const *r = removed; *r; r++) {
        lua_pushnil(L);
        lua_setglobal(L, *r);
    }
    lua_getglobal(L, "math");
    lua_pushcfunction(L, l_random);
    lua_setfield(L, -2, "random");
    lua_pushcfunction(L, l_randomseed);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);

    static const luaL_Reg globals[] = {
        {"scenario", l_scenario}, {"params", l_params},   {"sleep", l_sleep},
        {"now", l_now},           {"spawn", l_spawn},     {"log", l_log},
        {"check", l_check},       {"report", l_report},   {"plot", l_plot},
        {"data_file", l_data_file}, {"ring_study", l_ring_study},
        {"stats", l_stats},       {"percentile", l_percentile}, {"random", l_random},
        {"lost_writes", l_lost_writes}, {"track_writes", l_track_writes},
        {"convergence", l_convergence}, {"sibling_counts", l_sibling_counts},
        {"honest_outcomes", l_honest_outcomes}, {"stale_reads", l_stale_reads},
        {"availability", l_availability},
        {NULL, NULL}};
    for (const luaL_Reg *g = globals; g->func; g++) {
        lua_pushcfunction(L, g->func);
        lua_setglobal(L, g->name);
    }
    lua_newtable(L);
    lua_pushcfunction(L, l_cluster_new);
    lua_setfield(L, -2, "new");
    lua_setglobal(L, "cluster");
    lua_newtable(L);
    luaL_setfuncs(L, net_functions, 0);
    lua_setglobal(L, "net");
    new_class(L, CLUSTER_MT, cluster_methods);
    new_class(L, CLIENT_MT, client_methods);
    new_class(L, WORKLOAD_MT, workload_methods);
    /* Methods written in Lua on the public API; their source is part of the binary. */
    int rc = luaL_loadbuffer(L, quiesce_source, sizeof(quiesce_source) - 1, "=quiesce");
    DYN_ASSERT(rc == LUA_OK);
    luaL_getmetatable(L, CLUSTER_MT);
    lua_call(L, 1, 0);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, ACTORS_KEY);
}

sim_lua_t *sim_lua_create(sim_world_t *world, const char *script_path,
                          const sim_define_t *defines, size_t define_count, int describe)
{
    sim_lua_t *sl = calloc(1, sizeof(*sl));
    if (!sl)
        return NULL;
    sl->world = world;
    sl->describe = describe;
    sl->script_path = dup_string(script_path);
    sl->defines = calloc(define_count ? define_count : 1, sizeof(sim_define_t));
    sl->define_used = calloc(define_count ? define_count : 1, sizeof(int));
    if (!sl->script_path || !sl->defines || !sl->define_used) {
        sim_lua_destroy(sl);
        return NULL;
    }
    for (size_t i = 0; i < define_count; i++) {
        sl->defines[i].name = dup_string(defines[i].name);
        sl->defines[i].value = dup_string(defines[i].value);
    }
    sl->define_count = define_count;
    /* The allocator's user data carries sl, so every thread of the VM can find it. */
    sl->L = lua_newstate(lua_alloc, sl);
    if (!sl->L) {
        sim_lua_destroy(sl);
        return NULL;
    }
    open_sandbox(sl->L);
    return sl;
}

void sim_lua_destroy(sim_lua_t *sl)
{
    if (!sl)
        return;
    if (sl->L)
        lua_close(sl->L);
    while (sl->waiters)
        waiter_free(sl->waiters);
    for (size_t i = 0; i < sl->workload_count; i++)
        sim_workload_destroy(sl->workloads[i]);
    free(sl->workloads);
    for (size_t i = 0; i < sl->define_count; i++) {
        free((void *)sl->defines[i].name);
        free((void *)sl->defines[i].value);
    }
    free(sl->defines);
    free(sl->define_used);
    for (size_t i = 0; i < sl->param_count; i++) {
        free(sl->params[i].name);
        free(sl->params[i].shown);
    }
    free(sl->params);
    for (size_t i = 0; i < sl->plot_count; i++)
        free(sl->plots[i]);
    free(sl->plots);
    for (size_t i = 0; i < sl->data_file_count; i++) {
        free(sl->data_files[i].name);
        free(sl->data_files[i].text);
    }
    free(sl->data_files);
    for (size_t i = 0; i < sl->report_count; i++)
        free(sl->reports[i].name);
    free(sl->reports);
    for (size_t i = 0; i < FAILURES_KEPT; i++)
        free(sl->failures[i]);
    for (size_t i = 0; i < sl->fault_count; i++)
        free(sl->faults[i].what);
    free(sl->faults);
    free(sl->error);
    free(sl->scenario_name);
    free(sl->script_path);
    free(sl);
}

void sim_lua_set_fuzz_profile(sim_lua_t *sl, const char *profile)
{
    lua_newtable(sl->L);
    lua_pushstring(sl->L, profile);
    lua_setfield(sl->L, -2, "profile");
    lua_setglobal(sl->L, "FUZZ");
}

sim_lua_outcome_t sim_lua_run(sim_lua_t *sl)
{
    lua_State *L = sl->L;
    if (luaL_loadfilex(L, sl->script_path, "t") != LUA_OK) {
        fail_run(sl, lua_tostring(L, -1));
        lua_pop(L, 1);
        return SIM_LUA_ERROR;
    }
    start_actor(sl, L, 0);
    sim_run_result_t r = sim_world_run(sl->world);
    if (sl->described)
        return SIM_LUA_DESCRIBED;
    if (sl->failed)
        return SIM_LUA_ERROR;
    if (!sl->params_declared && sl->define_count > 0) {
        char msg[320];
        snprintf(msg, sizeof(msg), "-D %s: the scenario declares no parameters (no params{...})",
                 sl->defines[0].name);
        fail_run(sl, msg);
        return SIM_LUA_ERROR;
    }
    if (r == SIM_RUN_TIME_LIMIT || r == SIM_RUN_EVENTS_MAX) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the run hit its %s limit with %u actor(s) still running",
                 r == SIM_RUN_TIME_LIMIT ? "simulated time" : "event count", sl->actors);
        fail_run(sl, msg);
        return SIM_LUA_ERROR;
    }
    if (sl->actors > 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "deadlock: %u actor(s) are waiting for something that can "
                 "never happen (no events left)", sl->actors);
        fail_run(sl, msg);
        return SIM_LUA_ERROR;
    }
    return sl->checks_failed ? SIM_LUA_CHECK_FAILED : SIM_LUA_PASS;
}

const char *sim_lua_error(const sim_lua_t *sl) { return sl->error; }
const char *sim_lua_scenario_name(const sim_lua_t *sl) { return sl->scenario_name; }
int sim_lua_is_benchmark(const sim_lua_t *sl) { return sl->benchmark; }
uint64_t sim_lua_checks_passed(const sim_lua_t *sl) { return sl->checks_passed; }
uint64_t sim_lua_checks_failed(const sim_lua_t *sl) { return sl->checks_failed; }

const char *sim_lua_check_failure(const sim_lua_t *sl, size_t i)
{
    return i < FAILURES_KEPT && i < sl->checks_failed ? sl->failures[i] : NULL;
}

size_t sim_lua_param_count(const sim_lua_t *sl) { return sl->param_count; }
const char *sim_lua_param(const sim_lua_t *sl, size_t i) { return sl->params[i].shown; }
size_t sim_lua_plot_count(const sim_lua_t *sl) { return sl->plot_count; }
size_t sim_lua_data_file_count(const sim_lua_t *sl) { return sl->data_file_count; }
void sim_lua_data_file(const sim_lua_t *sl, size_t i, const char **name, const char **text)
{
    *name = sl->data_files[i].name;
    *text = sl->data_files[i].text;
}
const char *sim_lua_plot(const sim_lua_t *sl, size_t i) { return sl->plots[i]; }
size_t sim_lua_report_count(const sim_lua_t *sl) { return sl->report_count; }
const char *sim_lua_report_name(const sim_lua_t *sl, size_t i) { return sl->reports[i].name; }
double sim_lua_report_value(const sim_lua_t *sl, size_t i) { return sl->reports[i].value; }

uint64_t sim_lua_keys_written(const sim_lua_t *sl)
{
    uint64_t n = 0;
    for (size_t i = 0; i < sl->workload_count; i++)
        n += sim_workload_keys_written(sl->workloads[i]);
    return n;
}
