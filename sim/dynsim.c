/*
 * dynsim: run a Lua scenario against a simulated Dynamo cluster.
 *
 *   dynsim run SCENARIO.lua [--seed N] [-D key=value]... [--out DIR] [options]
 *   dynsim fuzz SCENARIO.lua --seeds A..B [--jobs K] [--shard I/K] [--profile P] [options]
 *   dynsim describe SCENARIO.lua
 *
 * The seed is printed first, the digest last; a failed run prints one line that replays it.
 * Exit status: 0 pass, 1 a check failed, 2 usage or script error.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

#define TIME_LIMIT_DEFAULT_S 86400ULL
#define EVENTS_MAX_DEFAULT 100000000000ULL

static void usage(FILE *out)
{
    fprintf(out,
        "usage: dynsim run SCENARIO.lua [options]\n"
        "       dynsim fuzz SCENARIO.lua --seeds A..B [options]\n"
        "       dynsim describe SCENARIO.lua\n"
        "       dynsim --help | --version\n"
        "\n"
        "Run a Lua scenario against a simulated Dynamo cluster. The same seed replays the same\n"
        "run bit for bit: the digest printed last is a hash of every event.\n"
        "\n"
        "commands:\n"
        "  run         run the scenario and check it\n"
        "  fuzz        run it once per seed of a range, in parallel; list every failing seed\n"
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
        "      --progress SEC    a progress line on stderr every SEC wall seconds (default 2)\n"
        "      --fuzz-profile P  set FUZZ.profile as fuzz --profile P does (replay lines use it)\n"
        "  -h, --help            this help\n"
        "\n"
        "options for fuzz (with -D, --time-limit and --events-max as for run):\n"
        "      --seeds A..B      the seeds to run, inclusive (required)\n"
        "  -j, --jobs K          worker processes (default: the number of cores)\n"
        "      --shard I/K       run only the I-th of K interleaved slices of the range, so a\n"
        "                        range can be spread over machines (GNU parallel, Slurm arrays)\n"
        "      --profile P       safety (faults to the end) or liveness (faults stop, then the\n"
        "                        cluster must converge); the scenario reads it as FUZZ.profile\n"
        "  -V, --version         print the version\n"
        "\n"
        "exit status: 0 pass, 1 a check failed (fuzz: any seed failed), 2 usage or script error\n"
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
    double start_wall, last_wall, interval_s;
    int quiet;
} progress_t;

static void on_progress(sim_world_t *w, void *arg)
{
    progress_t *p = arg;
    double now = sim_wall_seconds();
    if (p->quiet || now - p->last_wall < p->interval_s)
        return;
    p->last_wall = now;
    double elapsed = now - p->start_wall;
    fprintf(stderr,
            "progress: wall %.1fs  sim %.3fs  events %" PRIu64 " (%.2fM/s)  ops %" PRIu64
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

/* Append s to the NUL-terminated buf of n characters, as far as it fits; returns the new length. */
static size_t put(char *buf, size_t size, size_t n, const char *s)
{
    while (*s && n + 1 < size)
        buf[n++] = *s++;
    buf[n] = '\0';
    return n;
}

/*
 * Append a, b and c as one word of the replay line, quoted if the shell would split or expand it
 * (so "-D name=value" is one word without building it first). A line cut short by size fills
 * buf, which make_replay reports.
 */
static void append_word(char *buf, size_t size, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t n = strlen(buf);
    int plain = *a || *b || *c;
    for (int i = 0; i < 3; i++)
        for (const char *p = parts[i]; *p; p++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+",
                        *p))
                plain = 0;
    n = put(buf, size, n, plain ? " " : " '");
    for (int i = 0; i < 3; i++) {
        if (plain) {
            n = put(buf, size, n, parts[i]);
            continue;
        }
        for (const char *p = parts[i]; *p; p++) {
            char one[2] = {*p, '\0'};
            n = put(buf, size, n, *p == '\'' ? "'\\''" : one);
        }
    }
    if (!plain)
        put(buf, size, n, "'");
}

static void append_arg(char *buf, size_t size, const char *s)
{
    append_word(buf, size, s, "", "");
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

typedef struct run_options {
    const char *script;
    uint64_t seed;
    const sim_define_t *defines;
    size_t define_count;
    const char *out_dir;
    int no_output, quiet, describe;
    double progress_s;          /* wall seconds between progress lines */
    uint64_t time_limit_s, events_max;
    const char *fuzz_profile;   /* NULL unless run by fuzz */
} run_options_t;

#define REPLAY_MAX 65536

/*
 * The command line that replays a run exactly: the seed made explicit, every -D kept. Returns 0,
 * or -1 if it did not fit in size bytes and was cut (the caller says so; it is never silent).
 */
static int make_replay(const run_options_t *o, char *buf, size_t size)
{
    snprintf(buf, size, "dynsim run");
    append_arg(buf, size, o->script);
    char number[32];
    snprintf(number, sizeof(number), "%" PRIu64, o->seed);
    append_arg(buf, size, "--seed");
    append_arg(buf, size, number);
    for (size_t i = 0; i < o->define_count; i++) {
        append_arg(buf, size, "-D");
        append_word(buf, size, o->defines[i].name, "=", o->defines[i].value);
    }
    /* The limits decide where a run stops, so a run that hit one replays only with it. */
    if (o->time_limit_s != TIME_LIMIT_DEFAULT_S) {
        snprintf(number, sizeof(number), "%" PRIu64, o->time_limit_s);
        append_arg(buf, size, "--time-limit");
        append_arg(buf, size, number);
    }
    if (o->events_max != EVENTS_MAX_DEFAULT) {
        snprintf(number, sizeof(number), "%" PRIu64, o->events_max);
        append_arg(buf, size, "--events-max");
        append_arg(buf, size, number);
    }
    if (o->fuzz_profile) {
        char profile[64];
        snprintf(profile, sizeof(profile), "--fuzz-profile=%s", o->fuzz_profile);
        append_arg(buf, size, profile);
    }
    return strlen(buf) + 1 < size ? 0 : -1;
}

/* One run of one scenario with one seed; returns the exit status. */
static int run_once(const run_options_t *o)
{
    static char replay[REPLAY_MAX];
    if (make_replay(o, replay, sizeof(replay)) != 0)
        fprintf(stderr, "dynsim: the arguments make a replay line over %d bytes; the one printed "
                "is cut: replay with the same -D values and --seed %" PRIu64 "\n", REPLAY_MAX,
                o->seed);
    sim_assert_set_replay(replay);

    if (!o->describe && !o->no_output && o->out_dir) {
        char err[512];
        if (sim_output_prepare(o->out_dir, err, sizeof(err)) != 0) {
            fprintf(stderr, "dynsim: %s\n", err);
            return EXIT_USAGE;
        }
    }
    if (!o->describe)
        printf("seed: %" PRIu64 "\nscenario: %s\n", o->seed, o->script);
    fflush(stdout);
    sim_world_t *w = sim_world_create(o->seed);
    sim_lua_t *sl =
        w ? sim_lua_create(w, o->script, o->defines, o->define_count, o->describe) : NULL;
    if (!sl) {
        fprintf(stderr, "dynsim: out of memory\n");
        sim_world_destroy(w);
        return EXIT_USAGE;
    }
    if (o->fuzz_profile)
        sim_lua_set_fuzz_profile(sl, o->fuzz_profile);
    sim_world_set_limits(w, o->time_limit_s * 1000000ULL, o->events_max);
    double start = sim_wall_seconds(), cpu_start = sim_wall_cpu_seconds();
    progress_t progress = {.start_wall = start, .last_wall = start, .quiet = o->quiet,
                           .interval_s = o->progress_s};
    sim_world_set_progress(w, on_progress, &progress);

    sim_lua_outcome_t outcome = sim_lua_run(sl);
    double wall_s = sim_wall_seconds() - start, cpu_s = sim_wall_cpu_seconds() - cpu_start;
    if (outcome == SIM_LUA_DESCRIBED) {
        sim_lua_destroy(sl);
        sim_world_destroy(w);
        return EXIT_PASS;
    }
    if (o->describe) {
        if (sim_lua_error(sl))
            fprintf(stderr, "dynsim: %s\n", sim_lua_error(sl));
        else
            fprintf(stderr, "dynsim: %s declares no params{} (nothing to describe)\n", o->script);
        sim_lua_destroy(sl);
        sim_world_destroy(w);
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
        const char *base = strrchr(o->script, '/');
        base = base ? base + 1 : o->script;
        snprintf(default_name, sizeof(default_name), "%s", base);
        char *dot = strrchr(default_name, '.');
        if (dot)
            *dot = '\0';
        name = default_name;
    }
    int output_failed = 0;
    if (!o->no_output) {
        char dir[4096], err[512];
        if (o->out_dir)
            snprintf(dir, sizeof(dir), "%s", o->out_dir);
        else
            snprintf(dir, sizeof(dir), "out/%s/seed-%" PRIu64, name, o->seed);
        sim_run_info_t info = {
            .scenario_path = o->script, .scenario_name = name, .seed = o->seed,
            .replay = replay, .verdict = verdict, .error = sim_lua_error(sl),
            .exit_code = exit_code, .wall_s = wall_s,
        };
        if (sim_output_write(dir, &info, w, sl, err, sizeof(err)) != 0) {
            fprintf(stderr, "dynsim: %s\n", err);
            output_failed = 1;
        } else {
            printf("output: %s\n", dir);
            for (size_t i = 0; i < sim_lua_plot_count(sl); i++) {
                if (sim_output_plot(dir, sim_lua_plot(sl, i), err, sizeof(err)) < 0) {
                    fprintf(stderr, "dynsim: %s\n", err);
                    output_failed = 1;
                }
            }
        }
    }
    /* A passing run whose results could not be written has not passed: nothing shows it did. */
    if (output_failed && exit_code == EXIT_PASS) {
        exit_code = EXIT_USAGE;
        verdict = "ERROR";
    }
    printf("checks: %" PRIu64 " passed, %" PRIu64 " failed\n", sim_lua_checks_passed(sl),
           sim_lua_checks_failed(sl));
    printf("verdict: %s\n", verdict);
    if (exit_code != EXIT_PASS)
        printf("replay: %s\n", replay);
    printf("digest: %016" PRIx64 "\n", sim_world_digest(w));
    fflush(stdout);
    sim_lua_destroy(sl);
    sim_world_destroy(w);
    return exit_code;
}

static int parse_range(const char *text, uint64_t *a, uint64_t *b)
{
    const char *dots = strstr(text, "..");
    if (!dots || dots == text)
        return -1;
    char first[32];
    size_t n = (size_t)(dots - text);
    if (n >= sizeof(first))
        return -1;
    memcpy(first, text, n);
    first[n] = '\0';
    return parse_u64(first, a) == 0 && parse_u64(dots + 2, b) == 0 && *a <= *b ? 0 : -1;
}

/* Run one seed in a child process with its output discarded; returns its exit status. */
static pid_t spawn_seed(run_options_t o)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    _exit(run_once(&o));
}

/*
 * fuzz: every seed of the range (or of this shard of it) runs in its own child process, at most
 * `jobs` at once. Failing seeds are printed as they finish, each with its replay line; the last
 * lines are "passed: N" and "failed: M".
 */
static int fuzz(run_options_t base, uint64_t first, uint64_t last, unsigned jobs, unsigned shard,
                unsigned shards)
{
    uint64_t total = 0;
    for (uint64_t s = first; s <= last && s >= first; s++)
        if ((s - first) % shards == shard - 1)
            total++;
    printf("fuzz: %s seeds %" PRIu64 "..%" PRIu64 " shard %u/%u: %" PRIu64 " runs, %u jobs%s%s\n",
           base.script, first, last, shard, shards, total, jobs,
           base.fuzz_profile ? ", profile " : "", base.fuzz_profile ? base.fuzz_profile : "");
    fflush(stdout);
    typedef struct slot {
        pid_t pid;
        uint64_t seed;
    } slot_t;
    slot_t *running = calloc(jobs, sizeof(slot_t));
    if (!running)
        return EXIT_USAGE;
    uint64_t next = first, done = 0, passed = 0, failed = 0;
    unsigned busy = 0;
    double start = sim_wall_seconds(), last_report = start;
    for (;;) {
        while (busy < jobs && next <= last && next >= first) {
            uint64_t seed = next++;
            if ((seed - first) % shards != shard - 1)
                continue;
            run_options_t o = base;
            o.seed = seed;
            pid_t pid = spawn_seed(o);
            if (pid < 0) {
                fprintf(stderr, "dynsim: fork failed: %s\n", strerror(errno));
                free(running);
                return EXIT_USAGE;
            }
            for (unsigned i = 0; i < jobs; i++) {
                if (running[i].pid == 0) {
                    running[i] = (slot_t){.pid = pid, .seed = seed};
                    break;
                }
            }
            busy++;
        }
        if (busy == 0)
            break;
        int status;
        pid_t pid = wait(&status);
        if (pid < 0)
            break;
        for (unsigned i = 0; i < jobs; i++) {
            if (running[i].pid != pid)
                continue;
            uint64_t seed = running[i].seed;
            running[i].pid = 0;
            busy--;
            done++;
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            if (code == EXIT_PASS) {
                passed++;
            } else {
                failed++;
                run_options_t o = base;
                o.seed = seed;
                static char replay[REPLAY_MAX];
                int cut = make_replay(&o, replay, sizeof(replay));
                const char *why = code == EXIT_CHECK ? "check failed"
                                  : code == EXIT_USAGE ? "script error"
                                  : "crashed (an assertion or a signal)";
                printf("seed %" PRIu64 ": FAIL, %s\n  replay: %s\n%s", seed, why, replay,
                       cut ? "  (cut: over 64 KiB; replay with the same -D values)\n" : "");
                fflush(stdout);
            }
        }
        double now = sim_wall_seconds();
        if (!base.quiet && now - last_report >= base.progress_s) {
            last_report = now;
            fprintf(stderr, "fuzz: %" PRIu64 "/%" PRIu64 " seeds, %" PRIu64 " failed, %.1f seeds/s\n",
                    done, total, failed, (double)done / (now - start));
        }
    }
    free(running);
    printf("fuzz: %" PRIu64 " seeds in %.1f s\n", done, sim_wall_seconds() - start);
    printf("passed: %" PRIu64 "\nfailed: %" PRIu64 "\n", passed, failed);
    return failed ? EXIT_CHECK : EXIT_PASS;
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
    int fuzzing = strcmp(command, "fuzz") == 0;
    if (!describe && !fuzzing && strcmp(command, "run") != 0) {
        fprintf(stderr, "dynsim: unknown command '%s' (run, fuzz, describe)\n", command);
        usage(stderr);
        return EXIT_USAGE;
    }

    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},  {"out", required_argument, NULL, 'o'},
        {"no-output", no_argument, NULL, 'N'},   {"time-limit", required_argument, NULL, 'T'},
        {"events-max", required_argument, NULL, 'E'}, {"quiet", no_argument, NULL, 'q'},
        {"progress", required_argument, NULL, 'G'},
        {"seeds", required_argument, NULL, 'S'}, {"jobs", required_argument, NULL, 'j'},
        {"shard", required_argument, NULL, 'K'}, {"profile", required_argument, NULL, 'P'},
        {"fuzz-profile", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    run_options_t o = {.time_limit_s = TIME_LIMIT_DEFAULT_S, .events_max = EVENTS_MAX_DEFAULT,
                       .progress_s = 2.0,
                       .describe = describe};
    int have_seed = 0, have_seeds = 0;
    uint64_t first = 0, last = 0;
    unsigned jobs = 0, shard = 1, shards = 1;
    sim_define_t *defines = calloc((size_t)argc, sizeof(sim_define_t));
    size_t define_count = 0;
    if (!defines)
        return EXIT_USAGE;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "s:D:o:qj:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (fuzzing || parse_u64(optarg, &o.seed) != 0) {
                fprintf(stderr, fuzzing ? "dynsim: fuzz takes --seeds A..B, not --seed\n"
                                        : "dynsim: --seed takes a non-negative integer, got '%s'\n",
                        optarg);
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
        case 'o': o.out_dir = optarg; break;
        case 'N': o.no_output = 1; break;
        case 'T':
            if (parse_u64(optarg, &o.time_limit_s) != 0 || o.time_limit_s == 0 ||
                o.time_limit_s > 100ULL * 365 * 86400) {
                fprintf(stderr, "dynsim: --time-limit takes seconds (1..3153600000)\n");
                return bail(defines);
            }
            break;
        case 'E':
            if (parse_u64(optarg, &o.events_max) != 0 || o.events_max == 0) {
                fprintf(stderr, "dynsim: --events-max takes a positive integer\n");
                return bail(defines);
            }
            break;
        case 'q': o.quiet = 1; break;
        case 'G': {
            char *end;
            o.progress_s = strtod(optarg, &end);
            if (end == optarg || *end || !(o.progress_s > 0 && o.progress_s <= 86400)) {
                fprintf(stderr, "dynsim: --progress takes wall seconds (0 < SEC <= 86400), "
                        "got '%s'\n", optarg);
                return bail(defines);
            }
            break;
        }
        case 'S':
            if (!fuzzing || parse_range(optarg, &first, &last) != 0) {
                fprintf(stderr, fuzzing ? "dynsim: --seeds takes A..B with A <= B, got '%s'\n"
                                        : "dynsim: --seeds is for fuzz; run takes --seed\n",
                        optarg);
                return bail(defines);
            }
            have_seeds = 1;
            break;
        case 'j': {
            uint64_t v;
            if (!fuzzing || parse_u64(optarg, &v) != 0 || v < 1 || v > 1024) {
                fprintf(stderr, "dynsim: --jobs (fuzz only) takes 1..1024\n");
                return bail(defines);
            }
            jobs = (unsigned)v;
            break;
        }
        case 'K': {
            unsigned i, k;
            char extra;
            if (!fuzzing || sscanf(optarg, "%u/%u%c", &i, &k, &extra) != 2 || k < 1 || i < 1 ||
                i > k) {
                fprintf(stderr, "dynsim: --shard (fuzz only) takes I/K with 1 <= I <= K\n");
                return bail(defines);
            }
            shard = i;
            shards = k;
            break;
        }
        case 'P':
        case 'F':
            if ((c == 'P' && !fuzzing) ||
                (strcmp(optarg, "safety") != 0 && strcmp(optarg, "liveness") != 0)) {
                fprintf(stderr, "dynsim: --profile (fuzz only) is safety or liveness\n");
                return bail(defines);
            }
            o.fuzz_profile = optarg;
            break;
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
    o.script = argv[optind];
    o.defines = defines;
    o.define_count = define_count;
    if (access(o.script, R_OK) != 0) {
        fprintf(stderr, "dynsim: cannot read scenario %s: %s\n", o.script, strerror(errno));
        return bail(defines);
    }
    int code;
    if (fuzzing) {
        if (!have_seeds) {
            fprintf(stderr, "dynsim: fuzz needs --seeds A..B\n");
            return bail(defines);
        }
        if (jobs == 0) {
            long cores = sysconf(_SC_NPROCESSORS_ONLN);
            jobs = cores > 0 ? (unsigned)cores : 1;
        }
        o.no_output = 1;
        o.quiet = 1;
        code = fuzz(o, first, last, jobs, shard, shards);
    } else {
        if (!have_seed)
            o.seed = sim_wall_entropy_seed();
        code = run_once(&o);
    }
    free(defines);
    return code;
}
