/* sim_output.c: hand-written JSON and TSV (output only, so no JSON library is needed). */
#define _POSIX_C_SOURCE 200809L
#include "sim/sim_output.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build_info.h"
#include "core/status.h"

static const char *const kind_names[DYN_OP_KIND_COUNT_] = {"get", "put", "delete"};

static void fmt_ms(char *buf, size_t size, uint64_t us)
{
    snprintf(buf, size, "%.3f", (double)us / 1000.0);
}

void sim_output_summary(FILE *out, sim_world_t *w)
{
    sim_metrics_t *m = sim_world_metrics(w);
    if (sim_metrics_total(m) == 0) {
        fprintf(out, "(no client operations)\n");
        return;
    }
    fprintf(out, "%-7s %10s %10s %8s %10s %10s %10s %10s %10s\n", "op", "count", "ok",
            "failed", "mean_ms", "p50_ms", "p99_ms", "p99.9_ms", "max_ms");
    for (int k = 0; k < DYN_OP_KIND_COUNT_; k++) {
        sim_op_summary_t s;
        sim_metrics_summary(m, (dyn_op_kind_t)k, &s);
        if (s.count == 0)
            continue;
        char p50[32], p99[32], p999[32], mx[32];
        fmt_ms(p50, sizeof(p50), s.p50_us);
        fmt_ms(p99, sizeof(p99), s.p99_us);
        fmt_ms(p999, sizeof(p999), s.p999_us);
        fmt_ms(mx, sizeof(mx), s.max_us);
        fprintf(out, "%-7s %10llu %10llu %8llu %10.3f %10s %10s %10s %10s\n", kind_names[k],
                (unsigned long long)s.count, (unsigned long long)s.ok,
                (unsigned long long)s.failed, s.mean_us / 1000.0, p50, p99, p999, mx);
    }
    sim_sibling_dist_t sd;
    sim_metrics_siblings(m, &sd);
    if (sd.gets > 0) {
        fprintf(out, "\nsiblings per ok get:");
        for (int i = 0; i < SIM_SIBLING_BINS; i++)
            fprintf(out, "  %d%s: %llu", i, i == SIM_SIBLING_BINS - 1 ? "+" : "",
                    (unsigned long long)sd.bins[i]);
        fprintf(out, "  (mean %.3f, max %u)\n", sd.mean, sd.max);
    }
    uint64_t judged, stale;
    sim_metrics_staleness(m, &judged, &stale);
    if (judged > 0)
        fprintf(out, "stale reads: %llu of %llu judged gets (%.3f%%) missed the latest write "
                "acknowledged before they started\n", (unsigned long long)stale,
                (unsigned long long)judged, 100.0 * (double)stale / (double)judged);
    sim_avail_t av;
    if (sim_metrics_availability(m, SIM_OUTPUT_AVAIL_BIN_US, &av) == 0 && av.ops > 0) {
        fprintf(out, "%savailability: %.3f%% of %llu ops; worst %g s bin %.3f%% (from %g s)\n",
                sd.gets > 0 ? "" : "\n", 100.0 * (double)av.ok / (double)av.ops,
                (unsigned long long)av.ops, (double)av.bin_us / 1e6,
                100.0 * (double)av.bin_ok[av.worst] / (double)av.bin_ops[av.worst],
                (double)av.worst * (double)av.bin_us / 1e6);
    }
    sim_avail_free(&av);
}

int sim_output_mkdir(const char *dir, char *err, size_t err_size)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path)) {
        snprintf(err, err_size, "output directory name is empty or too long");
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char c = path[i];
            path[i] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                snprintf(err, err_size, "cannot create %s: %s", path, strerror(errno));
                return -1;
            }
            path[i] = c;
        }
    }
    return 0;
}

int sim_output_prepare(const char *dir, char *err, size_t err_size)
{
    if (sim_output_mkdir(dir, err, err_size) != 0)
        return -1;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, err_size, "output directory %s is not a directory", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, err_size, "cannot write into output directory %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static FILE *open_in(const char *dir, const char *name, char *err, size_t err_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
    return f;
}

static int close_checked(FILE *f, const char *name, char *err, size_t err_size)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        snprintf(err, err_size, "error writing %s (disk full?)", name);
        return -1;
    }
    return 0;
}

static int write_results(const char *dir, const sim_run_info_t *info, sim_world_t *w,
                         const sim_lua_t *sl, char *err, size_t err_size)
{
    FILE *f = open_in(dir, "results.json", err, err_size);
    if (!f)
        return -1;
    fprintf(f, "{\n  \"tool\": \"dynsim\",\n  \"version\": \"%s\",\n  \"scenario\": ",
            DYN_VERSION_STRING);
    json_string(f, info->scenario_path);
    fprintf(f, ",\n  \"name\": ");
    json_string(f, info->scenario_name);
    fprintf(f, ",\n  \"seed\": %llu,\n  \"verdict\": ", (unsigned long long)info->seed);
    json_string(f, info->verdict);
    fprintf(f, ",\n  \"exit_code\": %d,\n  \"replay\": ", info->exit_code);
    json_string(f, info->replay);
    fprintf(f, ",\n  \"digest\": \"%016llx\",\n", (unsigned long long)sim_world_digest(w));
    fprintf(f, "  \"sim_time_ms\": %.3f,\n  \"events\": %llu,\n  \"messages\": %llu,\n",
            (double)sim_world_now(w) / 1000.0, (unsigned long long)sim_world_events(w),
            (unsigned long long)sim_world_messages(w));
    if (info->error) {
        fprintf(f, "  \"error\": ");
        json_string(f, info->error);
        fprintf(f, ",\n");
    }
    fprintf(f, "  \"params\": {");
    for (size_t i = 0; sl && i < sim_lua_param_count(sl); i++) {
        const char *p = sim_lua_param(sl, i);
        const char *eq = strchr(p, '=');
        char name[256];
        size_t n = eq ? (size_t)(eq - p) : strlen(p);
        if (n >= sizeof(name))
            n = sizeof(name) - 1;
        memcpy(name, p, n);
        name[n] = '\0';
        fprintf(f, "%s\n    ", i ? "," : "");
        json_string(f, name);
        fprintf(f, ": ");
        json_string(f, eq ? eq + 1 : "");
    }
    fprintf(f, "\n  },\n  \"checks\": {\"passed\": %llu, \"failed\": %llu, \"failures\": [",
            (unsigned long long)(sl ? sim_lua_checks_passed(sl) : 0),
            (unsigned long long)(sl ? sim_lua_checks_failed(sl) : 0));
    for (size_t i = 0; sl && i < sim_lua_checks_failed(sl); i++) {
        const char *msg = sim_lua_check_failure(sl, i);
        if (!msg)
            break;
        fprintf(f, "%s", i ? ", " : "");
        json_string(f, msg);
    }
    fprintf(f, "]},\n  \"reports\": {");
    for (size_t i = 0; sl && i < sim_lua_report_count(sl); i++) {
        fprintf(f, "%s\n    ", i ? "," : "");
        json_string(f, sim_lua_report_name(sl, i));
        double v = sim_lua_report_value(sl, i);
        if (isfinite(v))
            fprintf(f, ": %.17g", v);
        else
            fprintf(f, ": null");
    }
    fprintf(f, "\n  },\n  \"ops\": {");
    sim_metrics_t *m = sim_world_metrics(w);
    for (int k = 0; k < DYN_OP_KIND_COUNT_; k++) {
        sim_op_summary_t s;
        sim_metrics_summary(m, (dyn_op_kind_t)k, &s);
        fprintf(f, "%s\n    \"%s\": {\"count\": %llu, \"ok\": %llu, \"not_found\": %llu, "
                "\"failed\": %llu, \"timeouts\": %llu, \"latency_ms\": {\"mean\": %.3f, "
                "\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p99.9\": %.3f, \"max\": %.3f}}",
                k ? "," : "", kind_names[k], (unsigned long long)s.count,
                (unsigned long long)s.ok, (unsigned long long)s.not_found,
                (unsigned long long)s.failed, (unsigned long long)s.timeouts, s.mean_us / 1000.0,
                (double)s.p50_us / 1000.0, (double)s.p90_us / 1000.0, (double)s.p99_us / 1000.0,
                (double)s.p999_us / 1000.0, (double)s.max_us / 1000.0);
    }
    sim_sibling_dist_t sd;
    sim_metrics_siblings(m, &sd);
    fprintf(f, "\n  },\n  \"siblings\": {\"gets\": %llu, \"mean\": %.6f, \"max\": %u, "
            "\"by_count\": [", (unsigned long long)sd.gets, sd.mean, sd.max);
    for (int i = 0; i < SIM_SIBLING_BINS; i++)
        fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)sd.bins[i]);
    uint64_t judged, stale;
    sim_metrics_staleness(m, &judged, &stale);
    fprintf(f, "]},\n  \"stale_reads\": {\"judged\": %llu, \"stale\": %llu},",
            (unsigned long long)judged, (unsigned long long)stale);
    fprintf(f, "\n  \"availability\": {\"bin_ms\": %.3f", SIM_OUTPUT_AVAIL_BIN_US / 1000.0);
    sim_avail_t av;
    if (sim_metrics_availability(m, SIM_OUTPUT_AVAIL_BIN_US, &av) != 0) {
        fclose(f);
        snprintf(err, err_size, "out of memory writing results.json");
        return -1;
    }
    fprintf(f, ", \"ops\": %llu, \"ok\": %llu, \"bin_ops\": [", (unsigned long long)av.ops,
            (unsigned long long)av.ok);
    for (size_t b = 0; b < av.bin_count; b++)
        fprintf(f, "%s%llu", b ? ", " : "", (unsigned long long)av.bin_ops[b]);
    fprintf(f, "], \"bin_ok\": [");
    for (size_t b = 0; b < av.bin_count; b++)
        fprintf(f, "%s%llu", b ? ", " : "", (unsigned long long)av.bin_ok[b]);
    fprintf(f, "]}");
    sim_avail_free(&av);
    fprintf(f, ",\n  \"wall_s\": %.3f\n}\n", info->wall_s);
    return close_checked(f, "results.json", err, err_size);
}

static int write_history(const char *dir, sim_world_t *w, char *err, size_t err_size)
{
    FILE *f = open_in(dir, "history.tsv", err, err_size);
    if (!f)
        return -1;
    static char buf[1 << 16];
    setvbuf(f, buf, _IOFBF, sizeof(buf));
    fprintf(f, "# start_ms\tend_ms\top\tstatus\tlatency_ms\tcoordinator\tattempts\tsiblings\n");
    size_t n;
    const sim_op_record_t *h = sim_metrics_history(sim_world_metrics(w), &n);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%.3f\t%.3f\t%s\t%s\t%.3f\t%u\t%u\t%u\n", (double)h[i].start_us / 1000.0,
                (double)h[i].end_us / 1000.0, kind_names[h[i].kind],
                h[i].status == DYN_OK ? "ok" : dyn_strerror(h[i].status),
                (double)(h[i].end_us - h[i].start_us) / 1000.0, h[i].coordinator,
                h[i].attempts, h[i].siblings);
    }
    int rc = close_checked(f, "history.tsv", err, err_size);
    return rc;
}

/*
 * HdrHistogram-style percentile table: points spaced evenly on the log(1/(1-p)) axis, ten per
 * decade, up to the last rank, so the plot shows the tail to the maximum.
 */
static int write_percentiles(const char *dir, sim_world_t *w, char *err, size_t err_size)
{
    FILE *f = open_in(dir, "latency_percentiles.dat", err, err_size);
    if (!f)
        return -1;
    sim_metrics_t *m = sim_world_metrics(w);
    fprintf(f, "# percentile\tinverse_tail\tget_ms\tput_ms\tdelete_ms"
               "  (nearest rank; - = no ops)\n");
    size_t counts[DYN_OP_KIND_COUNT_];
    const uint64_t *sorted[DYN_OP_KIND_COUNT_];
    size_t most = 0;
    for (int k = 0; k < DYN_OP_KIND_COUNT_; k++) {
        sorted[k] = sim_metrics_sorted(m, (dyn_op_kind_t)k, &counts[k]);
        if (counts[k] > most)
            most = counts[k];
    }
    double limit = most > 1 ? 1.0 - 1.0 / (double)most : 0.0;
    for (int step = 0;; step++) {
        double tail = pow(10.0, -step / 10.0);
        double p = 1.0 - tail;
        int last = p >= limit;
        if (last)
            p = limit;
        fprintf(f, "%.6f\t%.3f", p * 100.0, 1.0 / (1.0 - p));
        for (int k = 0; k < DYN_OP_KIND_COUNT_; k++) {
            if (counts[k] == 0) {
                fprintf(f, "\t-");
                continue;
            }
            size_t rank = (size_t)ceil(p * (double)counts[k]);
            if (rank < 1)
                rank = 1;
            if (rank > counts[k])
                rank = counts[k];
            fprintf(f, "\t%.3f", (double)sorted[k][rank - 1] / 1000.0);
        }
        fprintf(f, "\n");
        if (last || step > 200)
            break;
    }
    return close_checked(f, "latency_percentiles.dat", err, err_size);
}

int sim_output_write(const char *dir, const sim_run_info_t *info, sim_world_t *w,
                     const sim_lua_t *sl, char *err, size_t err_size)
{
    if (sim_output_mkdir(dir, err, err_size) != 0)
        return -1;
    if (write_history(dir, w, err, err_size) != 0 || write_percentiles(dir, w, err, err_size) != 0)
        return -1;
    for (size_t i = 0; i < sim_lua_data_file_count(sl); i++) {
        const char *name, *text;
        sim_lua_data_file(sl, i, &name, &text);
        char file[256];
        snprintf(file, sizeof(file), "%s.dat", name);
        FILE *f = open_in(dir, file, err, err_size);
        if (!f)
            return -1;
        fputs(text, f);
        if (close_checked(f, file, err, err_size) != 0)
            return -1;
    }
    return write_results(dir, info, w, sl, err, err_size);
}

/*
 * gnuplot runs from an argument vector, never through a shell: the run folder's name comes from
 * the command line and must not be able to run anything. It still travels inside a gnuplot string,
 * so the quote that would end that string (and a newline, which ends the -e command) is refused.
 */
int sim_output_plot(const char *dir, const char *name, char *err, size_t err_size)
{
    char script[4096], datadir[4200];
    snprintf(script, sizeof(script), "%s/%s.gp", DYN_PLOTS_DIR, name);
    struct stat st;
    if (stat(script, &st) != 0) {
        snprintf(err, err_size, "no plot script %s", script);
        return -1;
    }
    if (strpbrk(dir, "'\n")) {
        snprintf(err, err_size, "cannot plot into %s: gnuplot takes no ' or newline in the "
                 "folder name (the data is written; choose another --out)", dir);
        return -1;
    }
    snprintf(datadir, sizeof(datadir), "datadir='%s'", dir);
    char *argv[] = {"gnuplot", "-e", datadir, script, NULL};
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(errno == ENOENT ? 127 : 126);
    }
    if (pid < 0) {
        snprintf(err, err_size, "cannot start gnuplot: %s", strerror(errno));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            snprintf(err, err_size, "waiting for gnuplot: %s", strerror(errno));
            return -1;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        printf("plot: gnuplot is not installed; data kept in %s; render later with: "
               "gnuplot -e \"%s\" %s\n", dir, datadir, script);
        return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, err_size, "gnuplot failed on %s (datadir '%s')", script, dir);
        return -1;
    }
    printf("plot: %s/%s.png %s/%s.svg\n", dir, name, dir, name);
    return 0;
}
