/*
 * dynsim: run a Lua scenario against a simulated Dynamo cluster.
 *
 *   dynsim run SCENARIO.lua [--seed N] [-D key=value]... [--out DIR] [options]
 *   dynsim describe SCENARIO.lua
 *
 * The seed is printed first, the digest last; a failed run prints one line that replays it.
 * Exit status: 0 pass, 1 a check failed, 2 usage or script error.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "core/mem_store.h"
#include "sim/sim_assert.h"
#include "sim/sim_heapbench.h"
#include "sim/sim_lua.h"
#include "sim/sim_output.h"
#include "sim/sim_wall.h"
#include "sim/sim_world.h"

enum { EXIT_PASS = 0, EXIT_CHECK = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fprintf(out,
        "usage: dynsim run SCENARIO.lua [options]\n"
        "       dynsim describe SCENARIO.lua\n"
        "       dynsim --help | --version\n"
        "\n"
        "Run a Lua scenario against a simulated Dynamo cluster. The same seed replays the same\n"
        "run bit for bit: the digest printed last is a hash of every event.\n"
        "\n"
        "commands:\n"
        "  run         run the scenario and check it\n"
        "  describe    list the scenario's parameters (settable with -D) and exit\n"
        "\n"
        "options for run:\n"
        "  -s, --seed N          run seed (default: a random one, printed first)\n"
        "  -D key=value          set a parameter the scenario declares (repeatable)\n"
        "  -o, --out DIR         run folder (default: out/<scenario>/seed-<N>)\n"
        "      --no-output       write no run folder and no plots\n"
        "      --time-limit SEC  stop after SEC seconds of simulated time; default 86400\n"
        "      --events-max N    stop after N events (default: 10^11)\n"
        "  -q, --quiet           no progress lines\n"
        "  -h, --help            this help\n"
        "  -V, --version         print the version\n"
        "\n"
        "exit status: 0 pass, 1 a check failed, 2 usage or script error\n"
        "run folder: results.json, history.tsv (one line per operation),\n"
        "            latency_percentiles.dat and the plots the scenario asks for\n");
}

/* Leave main early on a usage error, freeing what argument parsing allocated. */
static int bail(sim_define_t *defines)
{
    free(defines);
    return EXIT_USAGE;
}

typedef struct progress {
    double start_wall, last_wall;
    int quiet;
} progress_t;

static void on_progress(sim_world_t *w, void *arg)
{
    progress_t *p = arg;
    double now = sim_wall_seconds();
    if (p->quiet || now - p->last_wall < 2.0)
        return;
    p->last_wall = now;
    double elapsed = now - p->start_wall;
    fprintf(stderr,
            "progress: wall %.0fs  sim %.3fs  events %" PRIu64 " (%.2fM/s)  ops %" PRIu64
            " (%.0f/s)\n",
            elapsed, (double)sim_world_now(w) / 1e6, sim_world_events(w),
            (double)sim_world_events(w) / elapsed / 1e6, sim_metrics_total(sim_world_metrics(w)),
            (double)sim_metrics_total(sim_world_metrics(w)) / elapsed);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Append `s` to the replay line, quoting it if the shell would split or expand it. */
static void append_arg(char *buf, size_t size, const char *s)
{
    size_t n = strlen(buf);
    int plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+", *p))
            plain = 0;
    if (plain) {
        snprintf(buf + n, size - n, " %s", s);
        return;
    }
    snprintf(buf + n, size - n, " '");
    for (const char *p = s; *p; p++) {
        n = strlen(buf);
        if (*p == '\'')
            snprintf(buf + n, size - n, "'\\''");
        else
            snprintf(buf + n, size - n, "%c", *p);
    }
    n = strlen(buf);
    snprintf(buf + n, size - n, "'");
}

static void print_benchmark(sim_world_t *w, sim_lua_t *sl, double wall_s, double cpu_s)
{
    uint64_t events = sim_world_events(w);
    uint64_t ops = sim_metrics_total(sim_world_metrics(w));
    size_t store_bytes = 0, keys_stored = 0;
    for (uint32_t id = 1; id <= sim_world_node_count(w); id++) {
        store_bytes += dyn_mem_store_bytes(sim_world_store(w, id));
        keys_stored += dyn_mem_store_key_count(sim_world_store(w, id), DYN_SPACE_DATA);
    }
    uint64_t keys = sim_lua_keys_written(sl);
    double pending = sim_world_mean_pending(w);
    /* The same number of hold steps as the run had events, capped to keep the baseline short. */
    uint64_t heap_events = events < 20000000 ? (events > 1000000 ? events : 1000000) : 20000000;
    double heap_rate = sim_heapbench_rate((size_t)(pending + 0.5), heap_events, 1);
    double ev_rate = wall_s > 0 ? (double)events / wall_s : 0;
    printf("benchmark:\n");
    printf("wall_s: %.3f\n", wall_s);
    printf("cpu_s: %.3f\n", cpu_s);
    printf("events: %" PRIu64 "\n", events);
    printf("messages: %" PRIu64 "\n", sim_world_messages(w));
    printf("sim_ops: %" PRIu64 "\n", ops);
    printf("events_per_wall_s: %.0f\n", ev_rate);
    printf("sim_ops_per_wall_s: %.0f\n", wall_s > 0 ? (double)ops / wall_s : 0);
    printf("peak_rss_bytes: %" PRIu64 "\n", sim_wall_peak_rss_bytes());
    printf("keys: %" PRIu64 "\n", keys);
    printf("replicas_stored: %zu\n", keys_stored);
    printf("store_bytes: %zu\n", store_bytes);
    printf("bytes_per_key: %.1f\n", keys ? (double)store_bytes / (double)keys : 0.0);
    printf("mean_pending_events: %.0f\n", pending);
    printf("bare_heap_events_per_wall_s: %.0f\n", heap_rate);
    printf("kernel_ratio: %.3f\n", heap_rate > 0 ? ev_rate / heap_rate : 0.0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EXIT_PASS;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("dynsim %s\n", DYN_VERSION_STRING);
        return EXIT_PASS;
    }
    const char *command = argv[1];
    int describe = strcmp(command, "describe") == 0;
    if (!describe && strcmp(command, "run") != 0) {
        fprintf(stderr, "dynsim: unknown command '%s' (run, describe)\n", command);
        usage(stderr);
        return EXIT_USAGE;
    }

    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},  {"out", required_argument, NULL, 'o'},
        {"no-output", no_argument, NULL, 'N'},   {"time-limit", required_argument, NULL, 'T'},
        {"events-max", required_argument, NULL, 'E'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    uint64_t seed = 0, time_limit_s = 86400, events_max = 100000000000ULL;
    int have_seed = 0, no_output = 0, quiet = 0;
    const char *out_dir = NULL;
    sim_define_t *defines = calloc((size_t)argc, sizeof(sim_define_t));
    size_t define_count = 0;
    if (!defines)
        return EXIT_USAGE;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "s:D:o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (parse_u64(optarg, &seed) != 0) {
                fprintf(stderr, "dynsim: --seed takes a non-negative integer, got '%s'\n", optarg);
                return bail(defines);
            }
            have_seed = 1;
            break;
        case 'D': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "dynsim: -D takes key=value, got '%s'\n", optarg);
                return bail(defines);
            }
            *eq = '\0';
            for (size_t i = 0; i < define_count; i++) {
                if (strcmp(defines[i].name, optarg) == 0) {
                    fprintf(stderr, "dynsim: -D %s given twice\n", optarg);
                    return bail(defines);
                }
            }
            defines[define_count].name = optarg;
            defines[define_count].value = eq + 1;
            define_count++;
            break;
        }
        case 'o': out_dir = optarg; break;
        case 'N': no_output = 1; break;
        case 'T':
            if (parse_u64(optarg, &time_limit_s) != 0 || time_limit_s == 0 ||
                time_limit_s > 100ULL * 365 * 86400) {
                fprintf(stderr, "dynsim: --time-limit takes seconds (1..3153600000)\n");
                return bail(defines);
            }
            break;
        case 'E':
            if (parse_u64(optarg, &events_max) != 0 || events_max == 0) {
                fprintf(stderr, "dynsim: --events-max takes a positive integer\n");
                return bail(defines);
            }
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); free(defines); return EXIT_PASS;
        case 'V': printf("dynsim %s\n", DYN_VERSION_STRING); free(defines); return EXIT_PASS;
        default: usage(stderr); return bail(defines);
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "dynsim: %s needs exactly one scenario file\n", command);
        usage(stderr);
        return bail(defines);
    }
    const char *script = argv[optind];
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "dynsim: cannot read scenario %s: %s\n", script, strerror(errno));
        return bail(defines);
    }
    if (!have_seed)
        seed = sim_wall_entropy_seed();

    /* The replay line: the exact command, with the seed made explicit. */
    static char replay[8192];
    snprintf(replay, sizeof(replay), "dynsim run");
    append_arg(replay, sizeof(replay), script);
    char seed_text[32];
    snprintf(seed_text, sizeof(seed_text), "%" PRIu64, seed);
    append_arg(replay, sizeof(replay), "--seed");
    append_arg(replay, sizeof(replay), seed_text);
    for (size_t i = 0; i < define_count; i++) {
        char def[4096];
        snprintf(def, sizeof(def), "%s=%s", defines[i].name, defines[i].value);
        append_arg(replay, sizeof(replay), "-D");
        append_arg(replay, sizeof(replay), def);
    }
    sim_assert_set_replay(replay);

    if (!describe)
        printf("seed: %" PRIu64 "\nscenario: %s\n", seed, script);
    fflush(stdout);
    sim_world_t *w = sim_world_create(seed);
    sim_lua_t *sl = w ? sim_lua_create(w, script, defines, define_count, describe) : NULL;
    if (!sl) {
        fprintf(stderr, "dynsim: out of memory\n");
        sim_world_destroy(w);
        free(defines);
        return EXIT_USAGE;
    }
    sim_world_set_limits(w, time_limit_s * 1000000ULL, events_max);
    double start = sim_wall_seconds(), cpu_start = sim_wall_cpu_seconds();
    progress_t progress = {.start_wall = start, .last_wall = start, .quiet = quiet};
    sim_world_set_progress(w, on_progress, &progress);

    sim_lua_outcome_t outcome = sim_lua_run(sl);
    double wall_s = sim_wall_seconds() - start, cpu_s = sim_wall_cpu_seconds() - cpu_start;
    if (outcome == SIM_LUA_DESCRIBED) {
        sim_lua_destroy(sl);
        sim_world_destroy(w);
        free(defines);
        return EXIT_PASS;
    }
    if (describe) {
        if (sim_lua_error(sl))
            fprintf(stderr, "dynsim: %s\n", sim_lua_error(sl));
        else
            fprintf(stderr, "dynsim: %s declares no params{} (nothing to describe)\n", script);
        sim_lua_destroy(sl);
        sim_world_destroy(w);
        free(defines);
        return EXIT_USAGE;
    }

    int exit_code = outcome == SIM_LUA_PASS ? EXIT_PASS
                    : outcome == SIM_LUA_CHECK_FAILED ? EXIT_CHECK : EXIT_USAGE;
    const char *verdict = outcome == SIM_LUA_PASS ? "PASS"
                          : outcome == SIM_LUA_CHECK_FAILED ? "FAIL" : "ERROR";
    if (outcome == SIM_LUA_ERROR) {
        fflush(stdout);   /* keep the error after what the scenario printed */
        fprintf(stderr, "error: %s\n", sim_lua_error(sl));
    }

    printf("\n");
    sim_output_summary(stdout, w);
    printf("\nsim_time: %.3fs  events: %" PRIu64 "  messages: %" PRIu64 "  wall: %.2fs\n",
           (double)sim_world_now(w) / 1e6, sim_world_events(w), sim_world_messages(w), wall_s);
    for (size_t i = 0; i < sim_lua_report_count(sl); i++)
        printf("%s: %.6g\n", sim_lua_report_name(sl, i), sim_lua_report_value(sl, i));
    if (sim_lua_is_benchmark(sl))
        print_benchmark(w, sl, wall_s, cpu_s);

    const char *name = sim_lua_scenario_name(sl);
    char default_name[256];
    if (!name) {
        const char *base = strrchr(script, '/');
        base = base ? base + 1 : script;
        snprintf(default_name, sizeof(default_name), "%s", base);
        char *dot = strrchr(default_name, '.');
        if (dot)
            *dot = '\0';
        name = default_name;
    }
    if (!no_output) {
        char dir[4096], err[512];
        if (out_dir)
            snprintf(dir, sizeof(dir), "%s", out_dir);
        else
            snprintf(dir, sizeof(dir), "out/%s/seed-%" PRIu64, name, seed);
        sim_run_info_t info = {
            .scenario_path = script, .scenario_name = name, .seed = seed, .replay = replay,
            .verdict = verdict, .error = sim_lua_error(sl), .exit_code = exit_code,
            .wall_s = wall_s,
        };
        if (sim_output_write(dir, &info, w, sl, err, sizeof(err)) != 0) {
            fprintf(stderr, "dynsim: %s\n", err);
            if (exit_code == EXIT_PASS)
                exit_code = EXIT_USAGE;
        } else {
            printf("output: %s\n", dir);
            for (size_t i = 0; i < sim_lua_plot_count(sl); i++) {
                if (sim_output_plot(dir, sim_lua_plot(sl, i), err, sizeof(err)) < 0) {
                    fprintf(stderr, "dynsim: %s\n", err);
                    if (exit_code == EXIT_PASS)
                        exit_code = EXIT_USAGE;
                }
            }
        }
    }
    printf("checks: %" PRIu64 " passed, %" PRIu64 " failed\n", sim_lua_checks_passed(sl),
           sim_lua_checks_failed(sl));
    printf("verdict: %s\n", verdict);
    if (exit_code != EXIT_PASS)
        printf("replay: %s\n", replay);
    printf("digest: %016" PRIx64 "\n", sim_world_digest(w));
    sim_lua_destroy(sl);
    sim_world_destroy(w);
    free(defines);
    return exit_code;
}
