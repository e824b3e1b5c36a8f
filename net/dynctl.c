/*
 * dynctl: the command-line client of a dynamod cluster, on core's client library (client.h)
 * over the same sealed UDP environment as the nodes (uv_env.h).
 *
 *   dynctl [options] get KEY
 *   dynctl [options] put KEY VALUE | put KEY --file F | put KEY -
 *   dynctl [options] delete KEY
 *   dynctl [options] locate KEY
 *   dynctl [options] ring
 *   dynctl [options] status
 *   dynctl [options] stats
 *   dynctl [options] members
 *   dynctl [options] member ID joining|valid|leaving|removed
 *   dynctl [options] plan|commit [--join ID]... [--leave ID]... [--remove ID]...
 *                                [--replace OLD=NEW]... [--via ID]
 *   dynctl [options] ring-status
 *   dynctl [options] bench [--ops N | --duration S] [--concurrency C] ...
 *
 * Exit status: 0 ok, 1 not found, 2 usage or bad input, 3 no quorum or unavailable, 4 timed
 * out (the outcome of a write is then unknown), 5 any other failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "build_info.h"
#include "core/client.h"
#include "core/codec.h"
#include "core/status.h"
#include "net/admin.h"
#include "net/config.h"
#include "net/uv_env.h"

enum {
    EXIT_OK = 0,
    EXIT_NOTFOUND = 1,
    EXIT_USAGE = 2,
    EXIT_NOQUORUM = 3,
    EXIT_TIMEOUT = 4,
    EXIT_OTHER = 5,
};

/* The largest value: core's (1 MiB); a message over a datagram goes in fragments (frag.h). */
#define CTL_VALUE_FILE_MAX ((size_t)DYN_VALUE_MAX)

_Noreturn void dyn_assert_fail(const char *file, int line, const char *expression)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expression);
    abort();
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: dynctl [options] get KEY\n"
        "       dynctl [options] put KEY VALUE | put KEY --file F | put KEY -\n"
        "       dynctl [options] delete KEY\n"
        "       dynctl [options] locate KEY\n"
        "       dynctl [options] ring\n"
        "       dynctl [options] status\n"
        "       dynctl [options] stats\n"
        "       dynctl [options] members\n"
        "       dynctl [options] member ID joining|valid|leaving|removed\n"
        "       dynctl [options] plan [change options]\n"
        "       dynctl [options] commit [change options]\n"
        "       dynctl [options] ring-status\n"
        "       dynctl [options] bench [bench options]\n"
        "       dynctl --help | --version\n"
        "\n"
        "Talk to a dynamod cluster. get prints every concurrent version (sibling) and the\n"
        "context, as hex; hand the context back to put or delete (--context) to say which\n"
        "versions the write supersedes. locate prints a key's preference list; ring prints each\n"
        "node's partitions and share of the keys (as a replica) from the cluster file; status pings\n"
        "every node (exit 3 if any does not answer within --timeout). stats asks every node for\n"
        "its counters and the p50/p99/p99.9 latency of the gets and puts it coordinated (exit 3\n"
        "if any does not answer). members prints every node's membership view and whether they\n"
        "agree; member sets a member's status at the first node listed, and gossip spreads it\n"
        "(the view only: the ring and the address table come from the cluster file, so members\n"
        "must be in it; it moves no data: plan and commit do).\n"
        "\n"
        "plan shows what a membership change would do to the ring, as computed by one node from\n"
        "its own ring (the first node listed, or --via): each node's partitions and share of\n"
        "the keys before -> after, the partitions that change owner, the key ranges whose\n"
        "replicas change, and a warning when a range would keep its N replicas in fewer than N\n"
        "zones (zone = Z on the nodes of the cluster file). It applies nothing. commit, with the\n"
        "same options, records the change at that node (member statuses, then the new table),\n"
        "and gossip takes it to the others, which move their data in the background; it is\n"
        "refused at a node that is behind another's ring version (one change at a time).\n"
        "ring-status prints each node's ring version and whether its transfers are idle: a\n"
        "change has settled when every node is on the same version, idle (exit 3 if any node\n"
        "does not answer).\n"
        "\n"
        "finding the cluster (one of):\n"
        "  -c, --config FILE     the cluster file the nodes use (members, ring, n; key_file)\n"
        "      --nodes ADDR,...  node addresses (IPv4:PORT or [IPv6]:PORT); no ring, so each\n"
        "                        request goes to a random node, which forwards it\n"
        "      --cluster NAME    the cluster's name (default: the file's, or \"dynamo\")\n"
        "  -k, --key-file FILE   the cluster key (default: the file's key_file, else none)\n"
        "      --client-key-file FILE  the client key, for a cluster with client_key_file\n"
        "                        (default: the file's client_key_file, used when set)\n"
        "      --insecure        allow non-loopback nodes without a key file\n"
        "\n"
        "request options:\n"
        "  -r N                  read quorum: a number, one, quorum or all\n"
        "  -w N                  write quorum, likewise\n"
        "      --n N             replication factor of this request\n"
        "      --context HEX     the context a get printed (put, delete)\n"
        "      --file F          put: the value is the content of F\n"
        "      --timeout MS      per attempt (default 2000)\n"
        "      --retries N       further attempts after a timeout, to other nodes (default 2)\n"
        "      --format F        text (default) or json\n"
        "\n"
        "change options (plan, commit; each may repeat, up to 64 changes):\n"
        "      --join ID         a node of the cluster file (spare = true) becomes a member\n"
        "      --leave ID        a member hands its partitions to the others, then is out\n"
        "      --remove ID       a member is out at once (a dead node: the other replicas\n"
        "                        restore its data by anti-entropy)\n"
        "      --replace OLD=NEW node NEW takes exactly OLD's partitions; OLD then leaves\n"
        "      --via ID          the node that plans and commits (default: the first listed)\n"
        "\n"
        "bench options:\n"
        "      --ops N           operations in all (default 10000, unless --duration)\n"
        "      --duration S      run for S seconds instead\n"
        "      --concurrency C   requests in flight (default 16)\n"
        "      --keys K          distinct keys (default 1000)\n"
        "      --value-size B    bytes per value (default 100)\n"
        "      --read-fraction F share of gets, 0..1 (default 0.5; the rest are blind puts)\n"
        "\n"
        "exit status: 0 ok, 1 not found, 2 usage or bad input (a change refused as invalid),\n"
        "             3 no quorum or unavailable, 4 timed out (a write's or commit's outcome\n"
        "             is then unknown), 5 other failure (a commit at a node behind the latest\n"
        "             ring)\n");
}

typedef struct ctl_options {
    const char *config_path, *nodes, *cluster, *key_file, *client_key_file, *context_hex, *file;
    const char *format;
    const char *r_text, *w_text;
    int insecure;
    uint8_t n;
    uint32_t timeout_ms, retries;
    /* bench */
    uint64_t ops;
    double duration_s, read_fraction;
    uint32_t concurrency, keys, value_size;
} ctl_options_t;

typedef struct ctl {
    uv_loop_t loop;
    net_uv_t *env;
    dyn_client_t *client;
    dyn_ring_t *ring;
    int json;
    int exit_code;
    int done;
    const char *key; /* the key of a single request, for messages */
    size_t key_length;
    const ctl_options_t *o;
    /* bench */
    uint64_t bench_submitted, bench_done, bench_ok, bench_failed, bench_notfound;
    uint64_t bench_target;
    dyn_time_us bench_end_us, bench_start_us;
    double *latencies_ms;
    size_t latency_count, latency_capacity;
    uint8_t *bench_value;
    uint64_t bench_rng;
    /* status: when each node's PONG came back (0: not yet) */
    dyn_time_us *pong_at;
    size_t pongs, peer_count;
    /* stats: each node's reply body (NUL-terminated; NULL: not yet), and its own node id */
    char **stats_body;
    uint32_t *stats_node;
    net_admin_op_t admin_op; /* the op whose replies stats_body collects */
    /* status and stats: how long to wait for the answers. In ctl_t, not on a stack frame: libuv
     * finishes closing a handle on a later loop turn, after the function that closed it returned. */
    uv_timer_t deadline;
} ctl_t;

static int exit_for(int status)
{
    switch (status) {
    case DYN_OK: return EXIT_OK;
    case DYN_ENOTFOUND: return EXIT_NOTFOUND;
    case DYN_ENOQUORUM:
    case DYN_EUNAVAIL: return EXIT_NOQUORUM;
    case DYN_ETIMEDOUT: return EXIT_TIMEOUT;
    case DYN_EINVAL:
    case DYN_ETOOBIG: return EXIT_USAGE;
    default: return EXIT_OTHER;
    }
}

static const char *status_word(int status)
{
    switch (status) {
    case DYN_OK: return "ok";
    case DYN_ENOTFOUND: return "not_found";
    case DYN_ENOQUORUM: return "no_quorum";
    case DYN_EUNAVAIL: return "unavailable";
    case DYN_ETIMEDOUT: return "timeout";
    default: return "error";
    }
}

static void print_hex(FILE *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02x", b[i]);
}

static int printable(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x20 || b[i] > 0x7e)
            return 0;
    return 1;
}

static void print_json_string(FILE *out, const uint8_t *b, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '"' || b[i] == '\\')
            fprintf(out, "\\%c", b[i]);
        else
            fputc(b[i], out);
    }
    fputc('"', out);
}

static int hex_decode(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", hex[2 * i + 1]))
            return -1;
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

/* ---- one request ------------------------------------------------------------------------- */

static void on_done(void *arg, const dyn_client_result_t *res)
{
    ctl_t *c = arg;
    c->done = 1;
    c->exit_code = exit_for(res->status);
    double ms = (double)(res->end_us - res->start_us) / 1000.0;
    uint8_t ctx[DYN_CONTEXT_MAX];
    int ctx_len = dyn_client_context_encode(res, ctx, sizeof(ctx));
    if (ctx_len < 0)
        ctx_len = 0;
    const char *op = res->kind == DYN_OP_GET ? "get" : res->kind == DYN_OP_PUT ? "put" : "delete";
    if (c->json) {
        printf("{\"op\":\"%s\",\"key\":", op);
        if (printable((const uint8_t *)c->key, c->key_length))
            print_json_string(stdout, (const uint8_t *)c->key, c->key_length);
        else
            printf("null");
        printf(",\"status\":\"%s\"", status_word(res->status));
        if (res->status != DYN_OK && res->status != DYN_ENOTFOUND)
            printf(",\"error\":\"%s\"", dyn_strerror(res->status));
        if (res->siblings && res->status == DYN_OK) {
            printf(",\"values\":[");
            for (size_t i = 0; i < res->siblings->count; i++) {
                const dyn_version_t *v = &res->siblings->items[i];
                printf("%s{", i ? "," : "");
                if (printable(v->value, v->value_length)) {
                    printf("\"value\":");
                    print_json_string(stdout, v->value, v->value_length);
                } else {
                    printf("\"value_hex\":\"");
                    print_hex(stdout, v->value, v->value_length);
                    printf("\"");
                }
                printf("}");
            }
            printf("]");
        }
        if (ctx_len > 0) {
            printf(",\"context\":\"");
            print_hex(stdout, ctx, (size_t)ctx_len);
            printf("\"");
        }
        if (res->written)
            printf(",\"dot\":\"%u:%u:%" PRIu64 "\"", res->written->node, res->written->epoch,
                   res->written->counter);
        printf(",\"coordinator\":%u,\"attempts\":%u,\"latency_ms\":%.3f}\n", res->coordinator,
               res->attempts, ms);
    } else if (res->status == DYN_OK) {
        if (res->siblings) {
            printf("siblings: %u\n", (unsigned)res->siblings->count);
            for (size_t i = 0; i < res->siblings->count; i++) {
                const dyn_version_t *v = &res->siblings->items[i];
                if (printable(v->value, v->value_length)) {
                    printf("value: %.*s\n", (int)v->value_length, (const char *)v->value);
                } else {
                    printf("value_hex: ");
                    print_hex(stdout, v->value, v->value_length);
                    printf("\n");
                }
            }
        } else {
            printf("ok\n");
        }
        if (ctx_len > 0) {
            printf("context: ");
            print_hex(stdout, ctx, (size_t)ctx_len);
            printf("\n");
        }
    } else if (res->status == DYN_ENOTFOUND) {
        printf("not found\n");
    } else {
        fprintf(stderr, "dynctl: %s %.*s: %s after %u attempt%s%s\n", op, (int)c->key_length,
                c->key, dyn_strerror(res->status), res->attempts, res->attempts == 1 ? "" : "s",
                res->status == DYN_ETIMEDOUT && res->kind != DYN_OP_GET
                    ? " (the write may or may not have been applied)" : "");
        /* A node never answers a datagram it cannot authenticate: say what silence can mean. */
        if (res->status == DYN_ETIMEDOUT && !res->coordinator)
            fprintf(stderr, "dynctl: no node answered: are the nodes running, and are the "
                    "cluster name and key file the same as theirs? (`dynctl status` pings "
                    "them)\n");
    }
    uv_stop(&c->loop);
}

static void on_message(void *arg, dyn_time_us now_us, dyn_endpoint_t from, const uint8_t *bytes,
                       size_t length)
{
    ctl_t *c = arg;
    if (c->stats_body) {
        net_admin_op_t op;
        uint64_t id;
        uint32_t node;
        const uint8_t *body;
        size_t body_length;
        if (net_admin_decode_reply(bytes, length, &op, &id, &node, &body, &body_length) ==
                DYN_OK && op == c->admin_op && id >= 1 && id <= c->peer_count &&
            !c->stats_body[id - 1]) {
            char *copy = malloc(body_length + 1);
            if (!copy)
                return; /* counted as no answer */
            memcpy(copy, body, body_length);
            copy[body_length] = '\0';
            c->stats_body[id - 1] = copy;
            c->stats_node[id - 1] = node;
            if (++c->pongs == c->peer_count)
                uv_stop(&c->loop);
        }
        return;
    }
    if (c->pong_at) {
        /* status: a PONG's request id is the index of the node pinged, plus one */
        dyn_msg_t msg;
        dyn_msg_init(&msg, DYN_MSG_PONG);
        if (dyn_codec_decode(bytes, length, &msg) == DYN_OK && msg.type == DYN_MSG_PONG &&
            msg.request_id >= 1 && msg.request_id <= c->peer_count &&
            !c->pong_at[msg.request_id - 1]) {
            c->pong_at[msg.request_id - 1] = now_us;
            if (++c->pongs == c->peer_count)
                uv_stop(&c->loop);
        }
        dyn_msg_clear(&msg);
        return;
    }
    dyn_client_on_message(c->client, now_us, from, bytes, length);
}

static void on_status_deadline(uv_timer_t *t) { uv_stop(t->loop); }

/* Ping every node once (core answers PING with PONG) and report who answered, and how fast. */
static int run_status(ctl_t *c, const net_uv_peer_t *peers, size_t peer_count, int ids_known)
{
    c->peer_count = peer_count;
    c->pong_at = calloc(c->peer_count, sizeof(*c->pong_at));
    if (!c->pong_at)
        return EXIT_OTHER;
    dyn_env_t env = net_uv_env(c->env);
    dyn_time_us start = net_uv_now(c->env);
    for (size_t i = 0; i < c->peer_count; i++) {
        dyn_msg_t ping;
        dyn_msg_init(&ping, DYN_MSG_PING);
        ping.request_id = i + 1;
        uint8_t buf[64];
        int len = dyn_codec_encode(&ping, buf, sizeof(buf));
        DYN_ASSERT(len > 0);
        dyn_env_send(&env, peers[i].id, buf, (size_t)len);
    }
    uv_timer_init(&c->loop, &c->deadline);
    uv_timer_start(&c->deadline, on_status_deadline, c->o->timeout_ms, 0);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&c->deadline, NULL);
    if (c->json)
        printf("{\"nodes\":[");
    for (size_t i = 0; i < c->peer_count; i++) {
        char addr[NET_UV_ADDR_TEXT_MAX];
        net_uv_format_addr((const struct sockaddr *)&peers[i].addr, addr, sizeof(addr));
        int up = c->pong_at[i] != 0;
        double ms = up ? (double)(c->pong_at[i] - start) / 1000.0 : 0;
        /* With --nodes the ids are positions in the list, not the nodes' own ids. */
        char id[16] = "?";
        if (ids_known)
            snprintf(id, sizeof(id), "%u", peers[i].id);
        if (c->json) {
            printf("%s{\"id\":%s,\"addr\":\"%s\",\"up\":%s", i ? "," : "",
                   ids_known ? id : "null", addr, up ? "true" : "false");
            if (up)
                printf(",\"rtt_ms\":%.3f", ms);
            printf("}");
        } else if (up) {
            printf("node %s  %s  up  %.3f ms\n", id, addr, ms);
        } else {
            printf("node %s  %s  DOWN  (no answer in %u ms)\n", id, addr, c->o->timeout_ms);
        }
    }
    if (c->json)
        printf("]}\n");
    size_t pongs = c->pongs;
    free(c->pong_at);
    c->pong_at = NULL;
    return pongs == c->peer_count ? EXIT_OK : EXIT_NOQUORUM;
}

/* A name or number from a node's stats body, printed only as [A-Za-z0-9_.] characters. */
static void print_token(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_' || ch == '.')
            putchar(ch);
    }
}

static int all_digits(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/* The value of NAME in a "SECTION NAME=VALUE ..." line, or 0. */
static uint64_t field_of(const char *line, size_t length, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl + 1 < length; i++) {
        if ((i == 0 || line[i - 1] == ' ') && memcmp(line + i, name, nl) == 0 &&
            line[i + nl] == '=')
            return strtoull(line + i + nl + 1, NULL, 10);
    }
    return 0;
}

/* One node's stats body as a JSON object: {"SECTION":{"NAME":VALUE,...},...}. */
static void print_stats_json(const char *body)
{
    printf("{");
    int first_section = 1;
    for (const char *line = body; *line;) {
        const char *end = strchr(line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen(line);
        const char *sp = memchr(line, ' ', length);
        if (sp) {
            printf("%s\"", first_section ? "" : ",");
            print_token(line, (size_t)(sp - line));
            printf("\":{");
            first_section = 0;
            int first = 1;
            for (const char *t = sp + 1; t < line + length;) {
                const char *te = memchr(t, ' ', (size_t)(line + length - t));
                if (!te)
                    te = line + length;
                const char *eq = memchr(t, '=', (size_t)(te - t));
                if (eq) {
                    printf("%s\"", first ? "" : ",");
                    print_token(t, (size_t)(eq - t));
                    printf("\":");
                    if (all_digits(eq + 1, (size_t)(te - eq - 1)))
                        print_token(eq + 1, (size_t)(te - eq - 1));
                    else
                        printf("null");
                    first = 0;
                }
                t = te + 1;
            }
            printf("}");
        }
        if (!end)
            break;
        line = end + 1;
    }
    printf("}");
}

/* One node's stats as text: latency lines in milliseconds, then the counters' lines. */
static void print_stats_text(const char *body)
{
    for (const char *line = body; *line;) {
        const char *end = strchr(line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen(line);
        const char *sp = memchr(line, ' ', length);
        if (sp && strncmp(line, "latency_", 8) == 0) {
            printf("  %.*s latency: %" PRIu64 " requests", (int)(sp - line - 8), line + 8,
                   field_of(line, length, "count"));
            if (field_of(line, length, "count"))
                printf(", p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms",
                       (double)field_of(line, length, "p50_us") / 1000.0,
                       (double)field_of(line, length, "p99_us") / 1000.0,
                       (double)field_of(line, length, "p999_us") / 1000.0,
                       (double)field_of(line, length, "max_us") / 1000.0);
            printf("\n");
        } else if (sp) {
            printf("  ");
            print_token(line, (size_t)(sp - line));
            printf(":");
            for (const char *t = sp; t < line + length; t++)
                if (*t == ' ' || *t == '=' || *t == '_' || (*t >= 'a' && *t <= 'z') ||
                    (*t >= '0' && *t <= '9'))
                    putchar(*t);
            printf("\n");
        }
        if (!end)
            break;
        line = end + 1;
    }
}

/*
 * Send an admin request (admin.h) to the first `targets` peers and collect their answers' bodies
 * in c->stats_body (NULL: no answer within --timeout). DYN_OK or DYN_ENOMEM. The caller frees
 * them with admin_free.
 */
static int admin_collect(ctl_t *c, const net_uv_peer_t *peers, size_t targets,
                         net_admin_op_t op, const net_admin_args_t *args)
{
    c->peer_count = targets;
    c->pongs = 0;
    c->admin_op = op;
    c->stats_body = calloc(targets, sizeof(*c->stats_body));
    c->stats_node = calloc(targets, sizeof(*c->stats_node));
    if (!c->stats_body || !c->stats_node) {
        free(c->stats_body);
        free(c->stats_node);
        c->stats_body = NULL;
        c->stats_node = NULL;
        return DYN_ENOMEM;
    }
    dyn_env_t env = net_uv_env(c->env);
    for (size_t i = 0; i < targets; i++) {
        uint8_t req[NET_ADMIN_REQUEST_MAX];
        size_t len = op == NET_ADMIN_PLAN || op == NET_ADMIN_COMMIT
                         ? net_admin_encode_changes(op, i + 1, args, req)
                         : net_admin_encode_request(op, i + 1, args, req);
        dyn_env_send(&env, peers[i].id, req, len);
    }
    uv_timer_init(&c->loop, &c->deadline);
    uv_timer_start(&c->deadline, on_status_deadline, c->o->timeout_ms, 0);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&c->deadline, NULL);
    /* One loop turn finishes the close, so a second collect (commit's) may reuse the timer. */
    uv_run(&c->loop, UV_RUN_NOWAIT);
    return DYN_OK;
}

static void admin_free(ctl_t *c)
{
    for (size_t i = 0; c->stats_body && i < c->peer_count; i++)
        free(c->stats_body[i]);
    free(c->stats_body);
    free(c->stats_node);
    c->stats_body = NULL;
    c->stats_node = NULL;
}

/* "node 3" or, with --nodes (ids unknown), "node ?", for a node that did not answer. */
static void print_down(ctl_t *c, const net_uv_peer_t *peer, const char *addr, int ids_known)
{
    char id[16] = "?";
    if (ids_known)
        snprintf(id, sizeof(id), "%u", peer->id);
    printf("node %s  %s  DOWN  (no answer in %u ms)\n", id, addr, c->o->timeout_ms);
}

/* Ask every node for its counters and latency percentiles (admin.h) and print them. */
static int run_stats(ctl_t *c, const net_uv_peer_t *peers, size_t peer_count, int ids_known)
{
    if (admin_collect(c, peers, peer_count, NET_ADMIN_STATS, NULL) != DYN_OK)
        return EXIT_OTHER;
    if (c->json)
        printf("{\"nodes\":[");
    for (size_t i = 0; i < peer_count; i++) {
        char addr[NET_UV_ADDR_TEXT_MAX];
        net_uv_format_addr((const struct sockaddr *)&peers[i].addr, addr, sizeof(addr));
        const char *body = c->stats_body[i];
        if (c->json) {
            printf("%s{\"addr\":\"%s\",\"up\":%s", i ? "," : "", addr,
                   body ? "true" : "false");
            if (body) {
                printf(",\"id\":%u,\"stats\":", c->stats_node[i]);
                print_stats_json(body);
            }
            printf("}");
        } else if (body) {
            printf("node %u  %s\n", c->stats_node[i], addr);
            print_stats_text(body);
        } else {
            print_down(c, &peers[i], addr, ids_known);
        }
    }
    if (c->json) {
        printf("],\"answered\":%zu,\"asked\":%zu}\n", c->pongs, peer_count);
    } else {
        printf("\nlatency: from the node accepting a request it coordinates to its answer, since "
               "it started\n(within 6.25 %%); counters: since it started. %zu of %zu nodes "
               "answered.\n", c->pongs, peer_count);
    }
    size_t answered = c->pongs;
    admin_free(c);
    return answered == peer_count ? EXIT_OK : EXIT_NOQUORUM;
}

/* Print NAME's value from a "member ..." line: digits as a number, else as address text. */
static void print_member_field(const char *line, size_t length, const char *name, int json)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl + 1 < length; i++) {
        if ((i == 0 || line[i - 1] == ' ') && memcmp(line + i, name, nl) == 0 &&
            line[i + nl] == '=') {
            const char *v = line + i + nl + 1;
            size_t vl = 0;
            while (v + vl < line + length && v[vl] != ' ')
                vl++;
            int number = all_digits(v, vl);
            if (json && !number)
                putchar('"');
            for (size_t k = 0; k < vl; k++) /* what an address, a word or a number holds */
                if ((v[k] >= '0' && v[k] <= '9') || (v[k] >= 'a' && v[k] <= 'z') ||
                    (v[k] >= 'A' && v[k] <= 'F') || v[k] == '.' || v[k] == ':' ||
                    v[k] == '[' || v[k] == ']' || v[k] == '-')
                    putchar(v[k]);
            if (json && !number)
                putchar('"');
            return;
        }
    }
    printf(json ? "null" : "?");
}

/*
 * Every node's membership view. Views gossip, so they agree once a change has spread: the footer
 * says whether the answering nodes' views are the same.
 */
static int run_members(ctl_t *c, const net_uv_peer_t *peers, size_t peer_count, int ids_known)
{
    if (admin_collect(c, peers, peer_count, NET_ADMIN_MEMBERS, NULL) != DYN_OK)
        return EXIT_OTHER;
    const char *first = NULL;
    int agree = 1;
    if (c->json)
        printf("{\"nodes\":[");
    for (size_t i = 0; i < peer_count; i++) {
        char addr[NET_UV_ADDR_TEXT_MAX];
        net_uv_format_addr((const struct sockaddr *)&peers[i].addr, addr, sizeof(addr));
        const char *body = c->stats_body[i];
        if (body) {
            if (!first)
                first = body;
            else if (strcmp(first, body) != 0)
                agree = 0;
        }
        if (c->json) {
            printf("%s{\"addr\":\"%s\",\"up\":%s", i ? "," : "", addr,
                   body ? "true" : "false");
            if (body)
                printf(",\"id\":%u,\"members\":[", c->stats_node[i]);
        } else if (body) {
            printf("node %u  %s  view:\n", c->stats_node[i], addr);
        } else {
            print_down(c, &peers[i], addr, ids_known);
        }
        int n = 0;
        for (const char *line = body; line && *line;) {
            const char *end = strchr(line, '\n');
            size_t length = end ? (size_t)(end - line) : strlen(line);
            if (length > 7 && strncmp(line, "member ", 7) == 0) {
                static const char *const fields[] = {"id", "status", "zone", "version", "addr"};
                if (c->json)
                    printf("%s{", n ? "," : "");
                else
                    printf("  member");
                for (size_t f = 0; f < 5; f++) {
                    if (c->json)
                        printf("%s\"%s\":", f ? "," : "", fields[f]);
                    else
                        printf("  %s ", fields[f]);
                    print_member_field(line, length, fields[f], c->json);
                }
                printf(c->json ? "}" : "\n");
                n++;
            }
            if (!end)
                break;
            line = end + 1;
        }
        if (c->json && body)
            printf("]");
        if (c->json)
            printf("}");
    }
    if (c->json)
        printf("],\"answered\":%zu,\"asked\":%zu,\"agree\":%s}\n", c->pongs, peer_count,
               agree ? "true" : "false");
    else
        printf("\n%zu of %zu nodes answered; their views %s.\n", c->pongs, peer_count,
               agree ? "agree" : "differ (a change is still spreading by gossip)");
    size_t answered = c->pongs;
    admin_free(c);
    return answered == peer_count ? EXIT_OK : EXIT_NOQUORUM;
}

/* Change one member's status at the first node listed; gossip takes it to the others. */
static int run_member_set(ctl_t *c, const net_uv_peer_t *peers, uint32_t member, uint8_t status)
{
    net_admin_args_t args = {.member = member, .status = status};
    if (admin_collect(c, peers, 1, NET_ADMIN_MEMBER_SET, &args) != DYN_OK)
        return EXIT_OTHER;
    const char *body = c->stats_body[0];
    int rc = EXIT_OK;
    if (!body) {
        fprintf(stderr, "dynctl: member %u: no answer in %u ms\n", member, c->o->timeout_ms);
        rc = EXIT_TIMEOUT;
    } else if (strncmp(body, "result ", 7) == 0) {
        size_t length = strcspn(body, "\n");
        if (c->json) {
            printf("{\"node\":%u,\"member\":%u,\"changed\":", c->stats_node[0], member);
            print_member_field(body, length, "changed", 1);
            printf(",\"version\":");
            print_member_field(body, length, "version", 1);
            printf("}\n");
        } else {
            printf("node %u: member %u ", c->stats_node[0], member);
            printf(field_of(body, length, "changed") ? "changed" : "unchanged (already so)");
            printf(", version %" PRIu64 "; gossip takes it to the other nodes (`dynctl members`)"
                   "\n", field_of(body, length, "version"));
        }
    } else {
        size_t length = strcspn(body, "\n");
        const char *why = strstr(body, "reason=needs_cluster_key")
                              ? "this cluster has a client key, and membership changes need the "
                                "cluster key (a client key is for data only)"
                          : strstr(body, "reason=not_in_cluster_file")
                              ? "not a member of the cluster file (members come from it: the "
                                "ring and the address table do not follow the view yet)"
                          : strstr(body, "reason=bad_status") ? "unknown status"
                                                              : "the node failed to record it";
        (void)length;
        fprintf(stderr, "dynctl: member %u: refused by node %u: %s\n", member,
                c->stats_node[0], why);
        rc = strstr(body, "reason=failed") ? EXIT_OTHER : EXIT_USAGE;
    }
    admin_free(c);
    return rc;
}

/* ---- membership changes: plan, commit, ring-status ---------------------------------------- */

/* Where NAME's value starts in a "SECTION NAME=VALUE ..." line, and its length; NULL if absent. */
static const char *field_text(const char *line, size_t length, const char *name, size_t *vl)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl + 1 < length; i++) {
        if ((i == 0 || line[i - 1] == ' ') && memcmp(line + i, name, nl) == 0 &&
            line[i + nl] == '=') {
            const char *v = line + i + nl + 1;
            *vl = 0;
            while (v + *vl < line + length && v[*vl] != ' ')
                (*vl)++;
            return v;
        }
    }
    *vl = 0;
    return NULL;
}

/* A list of ids "1,2,3" from a node's reply, as text ("1,2,3") or a JSON array ([1,2,3]); only
 * digits and commas are printed, whatever the node sent. */
static void print_id_list(const char *line, size_t length, const char *name, int json)
{
    size_t vl;
    const char *v = field_text(line, length, name, &vl);
    if (json)
        putchar('[');
    for (size_t k = 0; v && k < vl; k++)
        if ((v[k] >= '0' && v[k] <= '9') || v[k] == ',')
            putchar(v[k]);
    if (json)
        putchar(']');
}

/* The first line of body starting with `prefix`, and its length; NULL if none. */
static const char *find_line(const char *body, const char *prefix, size_t *length)
{
    size_t pl = strlen(prefix);
    for (const char *line = body; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len >= pl && strncmp(line, prefix, pl) == 0) {
            *length = len;
            return line;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

/* What a node's "error reason=WORD ..." line means, and the exit status it gives. */
static int plan_refused(const char *what, uint32_t node, const char *line, size_t length)
{
    size_t vl;
    const char *reason = field_text(line, length, "reason", &vl);
    uint64_t id = field_of(line, length, "id");
    char why[256];
    int rc = EXIT_USAGE;
#define REASON_IS(word) (reason && vl == strlen(word) && strncmp(reason, word, vl) == 0)
    if (REASON_IS("unknown_node"))
        snprintf(why, sizeof(why), "node %" PRIu64 " is not in the cluster file (nodes that "
                 "join must be listed in 'nodes' there, e.g. with spare = true, and running)", id);
    else if (REASON_IS("already_member"))
        snprintf(why, sizeof(why), "node %" PRIu64 " is a member already", id);
    else if (REASON_IS("not_member"))
        snprintf(why, sizeof(why), "node %" PRIu64 " is not a member of the ring, so it cannot "
                 "leave, be removed or be replaced", id);
    else if (REASON_IS("listed_twice"))
        snprintf(why, sizeof(why), "node %" PRIu64 " is named by two changes", id);
    else if (REASON_IS("too_few"))
        snprintf(why, sizeof(why), "%" PRIu64 " members would be left, too few for N=%" PRIu64
                 " replicas", field_of(line, length, "members"), field_of(line, length, "n"));
    else if (REASON_IS("no_changes"))
        snprintf(why, sizeof(why), "no change given (--join, --leave, --remove, --replace)");
    else if (REASON_IS("not_s3"))
        snprintf(why, sizeof(why), "the ring is not S3: only strategy S3 has a partition table "
                 "to change");
    else if (REASON_IS("needs_cluster_key"))
        snprintf(why, sizeof(why), "this cluster has a client key, and membership changes need "
                 "the cluster key (a client key is for data only)");
    else if (REASON_IS("not_latest")) {
        snprintf(why, sizeof(why), "it follows ring version %" PRIu64 " but has heard of version "
                 "%" PRIu64 ": wait until it has taken it (`dynctl ring-status`), then plan again",
                 field_of(line, length, "version"), field_of(line, length, "latest"));
        rc = EXIT_OTHER;
    } else {
        snprintf(why, sizeof(why), "the node failed to record it (see its log)");
        rc = EXIT_OTHER;
    }
#undef REASON_IS
    fprintf(stderr, "dynctl: %s: refused by node %u: %s\n", what, node, why);
    return rc;
}

/* A plan reply as text or JSON (its "plan", "node", "move" and "range" lines). */
static void print_plan(ctl_t *c, uint32_t node, const char *body)
{
    size_t sl;
    const char *s = find_line(body, "plan ", &sl);
    uint64_t n = field_of(s, sl, "n");
    if (c->json) {
        printf("{\"node\":%u,\"version\":%" PRIu64 ",\"members_before\":%" PRIu64
               ",\"members_after\":%" PRIu64 ",\"partitions\":%" PRIu64 ",\"moved\":%" PRIu64
               ",\"ranges_changed\":%" PRIu64 ",\"n\":%" PRIu64 ",\"zone_warnings\":%" PRIu64
               ",\"nodes\":[", node, field_of(s, sl, "version"), field_of(s, sl, "members_before"),
               field_of(s, sl, "members_after"), field_of(s, sl, "partitions"),
               field_of(s, sl, "moved"), field_of(s, sl, "ranges_changed"), n,
               field_of(s, sl, "zone_warnings"));
    } else {
        printf("plan at node %u, from its ring version %" PRIu64 ": %" PRIu64 " members -> %"
               PRIu64 "; %" PRIu64 " of %" PRIu64 " partitions change owner; %" PRIu64 " key "
               "ranges change replicas (N=%" PRIu64 ")\n  node  partitions    share_of_keys\n",
               node, field_of(s, sl, "version"), field_of(s, sl, "members_before"),
               field_of(s, sl, "members_after"), field_of(s, sl, "moved"),
               field_of(s, sl, "partitions"), field_of(s, sl, "ranges_changed"), n);
    }
    /* Three passes over the lines: nodes, then moves, then ranges. */
    static const char *const kinds[] = {"node ", "move ", "range "};
    for (int pass = 0; pass < 3; pass++) {
        int count = 0;
        if (c->json && pass > 0)
            printf("],\"%s\":[", pass == 1 ? "moves" : "ranges");
        for (const char *line = body; line && *line;) {
            const char *end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line) : strlen(line);
            if (strncmp(line, kinds[pass], strlen(kinds[pass])) == 0) {
                if (pass == 0) {
                    size_t rl;
                    const char *role = field_text(line, len, "role", &rl);
                    if (c->json) {
                        printf("%s{\"id\":%" PRIu64 ",\"before\":%" PRIu64 ",\"after\":%" PRIu64
                               ",\"share_before\":%.6f,\"share_after\":%.6f,\"zone\":%" PRIu64
                               ",\"role\":\"", count ? "," : "", field_of(line, len, "id"),
                               field_of(line, len, "before"), field_of(line, len, "after"),
                               (double)field_of(line, len, "share_before_ppm") / 1e6,
                               (double)field_of(line, len, "share_after_ppm") / 1e6,
                               field_of(line, len, "zone"));
                        print_token(role ? role : "", rl);
                        printf("\"}");
                    } else {
                        printf("  %4" PRIu64 "  %4" PRIu64 " -> %-4" PRIu64 "  %.4f -> %.4f",
                               field_of(line, len, "id"), field_of(line, len, "before"),
                               field_of(line, len, "after"),
                               (double)field_of(line, len, "share_before_ppm") / 1e6,
                               (double)field_of(line, len, "share_after_ppm") / 1e6);
                        if (role && !(rl == 5 && strncmp(role, "stays", 5) == 0)) {
                            printf("  (");
                            print_token(role, rl);
                            printf(")");
                        }
                        printf("\n");
                    }
                } else if (pass == 1) {
                    if (c->json)
                        printf("%s{\"partition\":%" PRIu64 ",\"from\":%" PRIu64 ",\"to\":%" PRIu64
                               "}", count ? "," : "", field_of(line, len, "partition"),
                               field_of(line, len, "from"), field_of(line, len, "to"));
                    else
                        printf("%s    partition %" PRIu64 ": node %" PRIu64 " -> node %" PRIu64
                               "\n", count ? "" : "  partitions that change owner:\n",
                               field_of(line, len, "partition"), field_of(line, len, "from"),
                               field_of(line, len, "to"));
                } else {
                    if (c->json) {
                        printf("%s{\"range\":%" PRIu64 ",\"before\":", count ? "," : "",
                               field_of(line, len, "index"));
                        print_id_list(line, len, "before", 1);
                        printf(",\"after\":");
                        print_id_list(line, len, "after", 1);
                        printf("}");
                    } else {
                        printf("%s    range %" PRIu64 ": ", count ? ""
                               : "  key ranges whose replicas change (preference lists):\n",
                               field_of(line, len, "index"));
                        print_id_list(line, len, "before", 0);
                        printf(" -> ");
                        print_id_list(line, len, "after", 0);
                        printf("\n");
                    }
                }
                count++;
            }
            line = end ? end + 1 : NULL;
        }
    }
    if (c->json) {
        printf("]");
    } else if (field_of(s, sl, "zone_warnings")) {
        printf("  warning: %" PRIu64 " key ranges would keep their %" PRIu64 " replicas in "
               "fewer than %" PRIu64 " zones\n", field_of(s, sl, "zone_warnings"), n, n);
    }
}

/* The peer with this id (the first one when via is 0), or NULL. */
static const net_uv_peer_t *peer_of(const net_uv_peer_t *peers, size_t count, uint32_t via)
{
    for (size_t i = 0; i < count; i++)
        if (via == 0 || peers[i].id == via)
            return &peers[i];
    return NULL;
}

static int run_ring_status(ctl_t *c, const net_uv_peer_t *peers, size_t peer_count,
                           int ids_known, int quiet, uint64_t *latest_out);

/*
 * plan (commit = 0) or commit: the node `via` computes the new table from its own ring and
 * reports it; a commit also records it there. A commit first asks every node for its ring
 * version, and refuses a node behind another: one change at a time.
 */
static int run_plan(ctl_t *c, const net_uv_peer_t *peers, size_t peer_count, uint32_t via,
                    const net_admin_args_t *args, int commit, int ids_known)
{
    const char *what = commit ? "commit" : "plan";
    const net_uv_peer_t *target = peer_of(peers, peer_count, via);
    if (!target) {
        fprintf(stderr, "dynctl: %s: --via %u is not a node of the cluster file\n", what, via);
        return EXIT_USAGE;
    }
    if (commit) {
        uint64_t latest = 0;
        if (run_ring_status(c, peers, peer_count, ids_known, 1, &latest) != EXIT_OK)
            return EXIT_OTHER;
        size_t idx = (size_t)(target - peers);
        const char *body = c->stats_body[idx];
        /* A node that is down cannot be compared: say so, since it may hold a newer ring. */
        for (size_t i = 0; i < peer_count; i++)
            if (!c->stats_body[i] && i != idx)
                fprintf(stderr, "dynctl: commit: warning: node %u did not answer; its ring "
                        "version is unknown\n", peers[i].id);
        size_t len;
        const char *line = body ? find_line(body, "ring ", &len) : NULL;
        int rc = EXIT_OK;
        if (!line) {
            fprintf(stderr, "dynctl: commit: node %u did not answer in %u ms\n", target->id,
                    c->o->timeout_ms);
            rc = EXIT_TIMEOUT;
        } else if (field_of(line, len, "version") < latest) {
            fprintf(stderr, "dynctl: commit: node %u follows ring version %" PRIu64 ", but "
                    "another node has version %" PRIu64 ": commit at a node with the latest "
                    "ring (--via), or wait until gossip brings it (`dynctl ring-status`)\n",
                    target->id, field_of(line, len, "version"), latest);
            rc = EXIT_OTHER;
        }
        admin_free(c);
        if (rc != EXIT_OK)
            return rc;
    }
    if (admin_collect(c, target, 1, commit ? NET_ADMIN_COMMIT : NET_ADMIN_PLAN, args) != DYN_OK)
        return EXIT_OTHER;
    const char *body = c->stats_body[0];
    uint32_t node = c->stats_node[0];
    int rc = EXIT_OK;
    size_t len;
    const char *line;
    if (!body) {
        fprintf(stderr, "dynctl: %s: node %u did not answer in %u ms%s\n", what, target->id,
                c->o->timeout_ms, commit ? " (the change may or may not have been committed: "
                "see `dynctl ring-status`)" : "");
        rc = EXIT_TIMEOUT;
    } else if ((line = find_line(body, "error ", &len)) != NULL) {
        rc = plan_refused(what, node, line, len);
    } else if (!find_line(body, "plan ", &len)) {
        fprintf(stderr, "dynctl: %s: node %u sent no plan\n", what, node);
        rc = EXIT_OTHER;
    } else {
        print_plan(c, node, body);
        line = find_line(body, "result ", &len);
        if (c->json) {
            printf(",\"committed\":%s", line ? "true" : "false");
            if (line)
                printf(",\"new_version\":%" PRIu64, field_of(line, len, "version"));
            printf("}\n");
        } else if (line) {
            printf("committed at node %u: ring version %" PRIu64 ", %" PRIu64 " partitions "
                   "move. Gossip takes it to the other nodes, which hand their data on; `dynctl "
                   "ring-status` shows when every node has it with transfers idle.\n", node,
                   field_of(line, len, "version"), field_of(line, len, "moved"));
        } else {
            printf("nothing applied: `dynctl commit` with the same options applies it.\n");
        }
        if (commit && !line) {
            fprintf(stderr, "dynctl: commit: node %u sent no result\n", node);
            rc = EXIT_OTHER;
        }
    }
    admin_free(c);
    return rc;
}

/*
 * Every node's ring version and whether its transfers are done: a change has settled when every
 * node follows the same version, none has heard of a newer one, and all are idle. `quiet` (for
 * commit's check) prints nothing and keeps the answers in c->stats_body; *latest_out gets the
 * highest version any node follows or has heard of.
 */
static int run_ring_status(ctl_t *c, const net_uv_peer_t *peers, size_t peer_count,
                           int ids_known, int quiet, uint64_t *latest_out)
{
    if (admin_collect(c, peers, peer_count, NET_ADMIN_RING_STATUS, NULL) != DYN_OK)
        return EXIT_OTHER;
    uint64_t latest = 0, first_version = 0;
    int settled = c->pongs == peer_count, seen = 0;
    for (size_t i = 0; i < peer_count; i++) {
        size_t len;
        const char *line = c->stats_body[i] ? find_line(c->stats_body[i], "ring ", &len) : NULL;
        if (!line)
            continue;
        uint64_t v = field_of(line, len, "version"), l = field_of(line, len, "latest");
        latest = v > latest ? v : latest;
        latest = l > latest ? l : latest;
        if (seen && v != first_version)
            settled = 0;
        first_version = v;
        seen = 1;
        if (l > v || !field_of(line, len, "idle"))
            settled = 0;
    }
    if (latest_out)
        *latest_out = latest;
    if (quiet)
        return EXIT_OK; /* the caller reads c->stats_body, then frees it */
    if (c->json)
        printf("{\"nodes\":[");
    for (size_t i = 0; i < peer_count; i++) {
        char addr[NET_UV_ADDR_TEXT_MAX];
        net_uv_format_addr((const struct sockaddr *)&peers[i].addr, addr, sizeof(addr));
        size_t len;
        const char *line = c->stats_body[i] ? find_line(c->stats_body[i], "ring ", &len) : NULL;
        if (c->json) {
            printf("%s{\"addr\":\"%s\",\"up\":%s", i ? "," : "", addr, line ? "true" : "false");
            if (line)
                printf(",\"id\":%u,\"version\":%" PRIu64 ",\"latest\":%" PRIu64 ",\"idle\":%s,"
                       "\"partitions\":%" PRIu64 ",\"owned\":%" PRIu64 ",\"members\":%" PRIu64,
                       c->stats_node[i], field_of(line, len, "version"),
                       field_of(line, len, "latest"),
                       field_of(line, len, "idle") ? "true" : "false",
                       field_of(line, len, "partitions"), field_of(line, len, "owned"),
                       field_of(line, len, "members"));
            printf("}");
        } else if (line) {
            printf("node %u  %s  ring version %" PRIu64 "%s  transfers %s  owns %" PRIu64 " of %"
                   PRIu64 " partitions (ring of %" PRIu64 " members)\n", c->stats_node[i], addr,
                   field_of(line, len, "version"),
                   field_of(line, len, "latest") > field_of(line, len, "version")
                       ? " (a newer one is pending)" : "",
                   field_of(line, len, "idle") ? "idle" : "BUSY", field_of(line, len, "owned"),
                   field_of(line, len, "partitions"), field_of(line, len, "members"));
        } else {
            print_down(c, &peers[i], addr, ids_known);
        }
    }
    if (c->json)
        printf("],\"answered\":%zu,\"asked\":%zu,\"version\":%" PRIu64 ",\"settled\":%s}\n",
               c->pongs, peer_count, latest, settled ? "true" : "false");
    else if (settled)
        printf("\n%zu of %zu nodes answered; settled: every node is on ring version %" PRIu64
               " with transfers idle.\n", c->pongs, peer_count, latest);
    else
        printf("\n%zu of %zu nodes answered; not settled: the latest ring version is %" PRIu64
               ", and some node %s.\n", c->pongs, peer_count, latest,
               c->pongs == peer_count ? "is behind or still moving data"
                                      : "did not answer");
    size_t answered = c->pongs;
    admin_free(c);
    return answered == peer_count ? EXIT_OK : EXIT_NOQUORUM;
}

static void on_timer(void *arg, dyn_time_us now_us, uint64_t timer_id)
{
    ctl_t *c = arg;
    dyn_client_on_timer(c->client, now_us, timer_id);
}

/* ---- bench ------------------------------------------------------------------------------- */

static uint64_t bench_next(ctl_t *c)
{
    /* splitmix64: the bench's key and op choices need no more */
    uint64_t z = (c->bench_rng += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static void bench_submit(ctl_t *c, dyn_time_us now);

static void on_bench_done(void *arg, const dyn_client_result_t *res)
{
    ctl_t *c = arg;
    c->bench_done++;
    if (res->status == DYN_OK) {
        c->bench_ok++;
        if (c->latency_count == c->latency_capacity) {
            size_t cap = c->latency_capacity ? c->latency_capacity * 2 : 4096;
            double *l = realloc(c->latencies_ms, cap * sizeof(*l));
            if (l) {
                c->latencies_ms = l;
                c->latency_capacity = cap;
            }
        }
        if (c->latency_count < c->latency_capacity)
            c->latencies_ms[c->latency_count++] = (double)(res->end_us - res->start_us) / 1000.0;
    } else if (res->status == DYN_ENOTFOUND) {
        c->bench_notfound++;
    } else {
        c->bench_failed++;
    }
    bench_submit(c, res->end_us);
    if (c->bench_done == c->bench_submitted)
        uv_stop(&c->loop);
}

static void bench_submit(ctl_t *c, dyn_time_us now)
{
    const ctl_options_t *o = c->o;
    if (c->bench_target ? c->bench_submitted >= c->bench_target : now >= c->bench_end_us)
        return;
    char key[32];
    int klen = snprintf(key, sizeof(key), "bench-%" PRIu64, bench_next(c) % o->keys);
    int is_get = (double)(bench_next(c) >> 11) / 9007199254740992.0 < o->read_fraction;
    dyn_client_request_t req = {
        .kind = is_get ? DYN_OP_GET : DYN_OP_PUT, .key = (const uint8_t *)key,
        .key_length = (size_t)klen, .value = is_get ? NULL : c->bench_value,
        .value_length = is_get ? 0 : o->value_size,
    };
    if (dyn_client_submit(c->client, now, &req, on_bench_done, c, NULL) == DYN_OK)
        c->bench_submitted++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)ceil(p * (double)n);
    return v[rank ? rank - 1 : 0];
}

static int run_bench(ctl_t *c)
{
    const ctl_options_t *o = c->o;
    c->bench_value = malloc(o->value_size ? o->value_size : 1);
    if (!c->bench_value)
        return EXIT_OTHER;
    randombytes_buf(c->bench_value, o->value_size);
    randombytes_buf(&c->bench_rng, sizeof(c->bench_rng));
    dyn_time_us now = net_uv_now(c->env);
    c->bench_start_us = now;
    c->bench_target = o->duration_s > 0 ? 0 : o->ops;
    c->bench_end_us = now + (dyn_time_us)(o->duration_s * 1e6);
    for (uint32_t i = 0; i < o->concurrency; i++)
        bench_submit(c, now);
    if (c->bench_submitted)
        uv_run(&c->loop, UV_RUN_DEFAULT);
    double wall_s = (double)(net_uv_now(c->env) - c->bench_start_us) / 1e6;
    qsort(c->latencies_ms, c->latency_count, sizeof(double), cmp_double);
    double p50 = percentile(c->latencies_ms, c->latency_count, 0.5);
    double p99 = percentile(c->latencies_ms, c->latency_count, 0.99);
    double p999 = percentile(c->latencies_ms, c->latency_count, 0.999);
    double ops_s = wall_s > 0 ? (double)c->bench_done / wall_s : 0;
    if (c->json)
        printf("{\"ops\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"not_found\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"seconds\":%.3f,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"p999_ms\":%.3f}\n",
               c->bench_done, c->bench_ok, c->bench_notfound, c->bench_failed, wall_s, ops_s, p50,
               p99, p999);
    else
        printf("ops: %" PRIu64 " (ok %" PRIu64 ", not found %" PRIu64 ", failed %" PRIu64
               ") in %.2f s\nops_per_s: %.0f\nlatency_ms: p50 %.3f  p99 %.3f  p99.9 %.3f\n",
               c->bench_done, c->bench_ok, c->bench_notfound, c->bench_failed, wall_s, ops_s, p50,
               p99, p999);
    free(c->latencies_ms);
    free(c->bench_value);
    return c->bench_failed ? EXIT_OTHER : EXIT_OK;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || !*s || *end || *s == '-' || v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* The file's content, or stdin's with path "-"; at most `max` bytes, else DYN_ETOOBIG. */
static int read_all(const char *path, size_t max, uint8_t **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return DYN_EIO;
    uint8_t *buf = malloc(max + 1);
    if (!buf) {
        if (f != stdin)
            fclose(f);
        return DYN_ENOMEM;
    }
    size_t n = fread(buf, 1, max + 1, f);
    int failed = ferror(f);
    if (f != stdin)
        fclose(f);
    if (failed) {
        free(buf);
        return DYN_EIO;
    }
    if (n > max) {
        free(buf);
        return DYN_ETOOBIG;
    }
    *out = buf;
    *len = n;
    return DYN_OK;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "dynctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    ctl_options_t o = {.timeout_ms = 2000, .retries = 2, .ops = 10000, .concurrency = 16,
                       .keys = 1000, .value_size = 100, .read_fraction = 0.5};
    enum { O_NODES = 256, O_CLUSTER, O_INSECURE, O_CLIENT_KEY, O_N, O_CONTEXT, O_FILE, O_TIMEOUT, O_RETRIES,
           O_FORMAT, O_OPS, O_DURATION, O_CONC, O_KEYS, O_VSIZE, O_RFRAC, O_JOIN, O_LEAVE,
           O_REMOVE, O_REPLACE, O_VIA };
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},     {"nodes", required_argument, NULL, O_NODES},
        {"cluster", required_argument, NULL, O_CLUSTER},
        {"key-file", required_argument, NULL, 'k'},   {"insecure", no_argument, NULL, O_INSECURE},
        {"client-key-file", required_argument, NULL, O_CLIENT_KEY},
        {"n", required_argument, NULL, O_N},
        {"context", required_argument, NULL, O_CONTEXT},
        {"file", required_argument, NULL, O_FILE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"retries", required_argument, NULL, O_RETRIES},
        {"format", required_argument, NULL, O_FORMAT}, {"ops", required_argument, NULL, O_OPS},
        {"duration", required_argument, NULL, O_DURATION},
        {"concurrency", required_argument, NULL, O_CONC}, {"keys", required_argument, NULL, O_KEYS},
        {"value-size", required_argument, NULL, O_VSIZE},
        {"read-fraction", required_argument, NULL, O_RFRAC},
        {"join", required_argument, NULL, O_JOIN}, {"leave", required_argument, NULL, O_LEAVE},
        {"remove", required_argument, NULL, O_REMOVE},
        {"replace", required_argument, NULL, O_REPLACE}, {"via", required_argument, NULL, O_VIA},
        {"help", no_argument, NULL, 'h'},             {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    uint32_t u;
    /* plan and commit: the staged changes, in the order given */
    static net_admin_args_t changes;
    uint32_t via = 0;
    int via_given = 0;
    while ((opt = getopt_long(argc, argv, "c:k:r:w:hV", longs, NULL)) != -1) {
        switch (opt) {
        case 'c': o.config_path = optarg; break;
        case O_NODES: o.nodes = optarg; break;
        case O_CLUSTER: o.cluster = optarg; break;
        case 'k': o.key_file = optarg; break;
        case O_CLIENT_KEY: o.client_key_file = optarg; break;
        case O_INSECURE: o.insecure = 1; break;
        case 'r': o.r_text = optarg; break;
        case 'w': o.w_text = optarg; break;
        case O_N:
            if (parse_u32(optarg, 1, DYN_N_MAX, &u))
                return usage_error("--n must be 1 to 16, got '%s'", optarg);
            o.n = (uint8_t)u;
            break;
        case O_CONTEXT: o.context_hex = optarg; break;
        case O_FILE: o.file = optarg; break;
        case O_TIMEOUT:
            if (parse_u32(optarg, 1, 3600000, &o.timeout_ms))
                return usage_error("--timeout must be 1 to 3600000 milliseconds, got '%s'", optarg);
            break;
        case O_RETRIES:
            if (parse_u32(optarg, 0, 100, &o.retries))
                return usage_error("--retries must be 0 to 100, got '%s'", optarg);
            break;
        case O_FORMAT:
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0)
                return usage_error("--format must be text or json, got '%s'", optarg);
            o.format = optarg;
            break;
        case O_OPS:
            if (parse_u32(optarg, 1, UINT32_MAX, &u))
                return usage_error("--ops must be a positive number, got '%s'", optarg);
            o.ops = u;
            break;
        case O_DURATION: {
            char *end;
            o.duration_s = strtod(optarg, &end);
            if (*end || !(o.duration_s > 0) || o.duration_s > 86400)
                return usage_error("--duration must be 0 to 86400 seconds, got '%s'", optarg);
            break;
        }
        case O_CONC:
            if (parse_u32(optarg, 1, 65536, &o.concurrency))
                return usage_error("--concurrency must be 1 to 65536, got '%s'", optarg);
            break;
        case O_KEYS:
            if (parse_u32(optarg, 1, UINT32_MAX, &o.keys))
                return usage_error("--keys must be a positive number, got '%s'", optarg);
            break;
        case O_VSIZE:
            if (parse_u32(optarg, 0, 60000, &o.value_size))
                return usage_error("--value-size must be 0 to 60000 bytes, got '%s'", optarg);
            break;
        case O_RFRAC: {
            char *end;
            o.read_fraction = strtod(optarg, &end);
            if (*end || !(o.read_fraction >= 0 && o.read_fraction <= 1))
                return usage_error("--read-fraction must be between 0 and 1, got '%s'", optarg);
            break;
        }
        case O_JOIN:
        case O_LEAVE:
        case O_REMOVE:
        case O_REPLACE: {
            static const char *const names[] = {"--join", "--leave", "--remove", "--replace"};
            uint8_t kind = (uint8_t)(NET_ADMIN_JOIN + (opt - O_JOIN));
            net_admin_change_t ch = {.kind = kind};
            if (changes.change_count == NET_ADMIN_CHANGES_MAX)
                return usage_error("at most 64 changes at once (%s)", names[opt - O_JOIN]);
            if (kind == NET_ADMIN_REPLACE) {
                char old_text[32];
                const char *eq = strchr(optarg, '=');
                size_t ol = eq ? (size_t)(eq - optarg) : 0;
                if (!eq || ol == 0 || ol >= sizeof(old_text))
                    return usage_error("--replace needs OLD=NEW node ids, got '%s'", optarg);
                memcpy(old_text, optarg, ol);
                old_text[ol] = '\0';
                if (parse_u32(old_text, 1, NET_UV_CLIENT_BASE - 1, &ch.id) ||
                    parse_u32(eq + 1, 1, NET_UV_CLIENT_BASE - 1, &ch.to) || ch.id == ch.to)
                    return usage_error("--replace needs OLD=NEW, two different node ids, got "
                                       "'%s'", optarg);
            } else if (parse_u32(optarg, 1, NET_UV_CLIENT_BASE - 1, &ch.id)) {
                fprintf(stderr, "dynctl: %s needs a node id, got '%s'\n", names[opt - O_JOIN],
                        optarg);
                return EXIT_USAGE;
            }
            changes.changes[changes.change_count++] = ch;
            break;
        }
        case O_VIA:
            if (parse_u32(optarg, 1, NET_UV_CLIENT_BASE - 1, &via))
                return usage_error("--via needs a node id, got '%s'", optarg);
            via_given = 1;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        case 'V': printf("dynctl %s\n", DYN_VERSION_STRING); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "dynctl: no command (get, put, delete, locate, ring, status, stats, "
                "members, member, plan, commit, ring-status, bench)\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind++];
    dyn_op_kind_t kind = DYN_OP_GET;
    int is_locate = 0, is_bench = 0, is_status = 0, is_ring = 0, is_stats = 0;
    int is_members = 0, is_member_set = 0, is_plan = 0, is_commit = 0, is_ring_status = 0;
    uint32_t member_id = 0;
    uint8_t member_status = 0;
    if (strcmp(cmd, "get") == 0)
        kind = DYN_OP_GET;
    else if (strcmp(cmd, "put") == 0)
        kind = DYN_OP_PUT;
    else if (strcmp(cmd, "delete") == 0)
        kind = DYN_OP_DELETE;
    else if (strcmp(cmd, "locate") == 0)
        is_locate = 1;
    else if (strcmp(cmd, "bench") == 0)
        is_bench = 1;
    else if (strcmp(cmd, "status") == 0)
        is_status = is_bench = 1; /* like bench: no key, no request */
    else if (strcmp(cmd, "stats") == 0)
        is_stats = is_bench = 1; /* like status: no key, one admin request per node */
    else if (strcmp(cmd, "members") == 0)
        is_members = is_bench = 1;
    else if (strcmp(cmd, "member") == 0)
        is_member_set = is_bench = 1;
    else if (strcmp(cmd, "plan") == 0)
        is_plan = is_bench = 1;
    else if (strcmp(cmd, "commit") == 0)
        is_commit = is_bench = 1;
    else if (strcmp(cmd, "ring-status") == 0)
        is_ring_status = is_bench = 1;
    else if (strcmp(cmd, "ring") == 0)
        is_ring = is_locate = is_bench = 1; /* no key, no request: the cluster file's ring */
    else
        return usage_error("unknown command '%s' (get, put, delete, locate, ring, status, stats, "
                           "members, member, plan, commit, ring-status, bench)", cmd);
    const char *key = NULL;
    const char *value_arg = NULL;
    if (!is_bench) {
        if (optind >= argc)
            return usage_error("%s needs a KEY", cmd);
        key = argv[optind++];
        if (!*key)
            return usage_error("%san empty key is not allowed", "");
    }
    if (kind == DYN_OP_PUT && !is_locate && !is_bench) {
        if (!o.file) {
            if (optind >= argc)
                return usage_error("put needs a VALUE, --file F or - (stdin)%s", "");
            value_arg = argv[optind++];
        }
    }
    if (is_member_set) {
        static const char *const words[] = {"joining", "valid", "leaving", "removed"};
        if (argc - optind < 2)
            return usage_error("member needs an ID and a STATUS (joining, valid, leaving, "
                               "removed)%s", "");
        if (parse_u32(argv[optind], 1, NET_UV_CLIENT_BASE - 1, &member_id))
            return usage_error("member: bad node id '%s'", argv[optind]);
        for (uint8_t w = 0; w < 4; w++)
            if (strcmp(argv[optind + 1], words[w]) == 0)
                member_status = (uint8_t)(DYN_MEMBER_JOINING + w);
        if (!member_status)
            return usage_error("member: STATUS must be joining, valid, leaving or removed, "
                               "got '%s'", argv[optind + 1]);
        optind += 2;
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if ((changes.change_count || via_given) && !is_plan && !is_commit)
        return usage_error("--join, --leave, --remove, --replace and --via are for plan and "
                           "commit only%s", "");
    if (is_commit && changes.change_count == 0)
        return usage_error("commit needs a change: --join ID, --leave ID, --remove ID or "
                           "--replace OLD=NEW%s", "");
    if (o.file && (kind != DYN_OP_PUT || is_locate || is_bench))
        return usage_error("--file is for put only%s", "");
    if (o.context_hex && (kind == DYN_OP_GET || is_locate || is_bench))
        return usage_error("--context is for put and delete only%s", "");
    if (!o.config_path == !o.nodes)
        return usage_error("give exactly one of --config FILE and --nodes ADDR,...%s", "");
    if (o.key_file && o.client_key_file)
        return usage_error("give --key-file (the cluster key) or --client-key-file, not both%s",
                           "");

    /* The cluster: members (and ring) from the file, or addresses from --nodes. */
    char err[512];
    net_config_t config;
    net_config_defaults(&config);
    if (o.config_path && net_config_load(o.config_path, &config, err, sizeof(err)) != DYN_OK) {
        fprintf(stderr, "dynctl: %s\n", err);
        return EXIT_USAGE;
    }
    int status = EXIT_USAGE;
    ctl_t *c = calloc(1, sizeof(*c));
    net_uv_peer_t *peers = NULL;
    dyn_endpoint_t *ids = NULL;
    uint8_t *value = NULL;
    size_t value_length = 0;
    size_t peer_count = 0;
    if (!c)
        goto out;
    c->o = &o;
    c->json = o.format && strcmp(o.format, "json") == 0;
    c->key = key;
    c->key_length = key ? strlen(key) : 0;
    if (o.nodes) {
        size_t commas = 1;
        for (const char *p = o.nodes; *p; p++)
            commas += *p == ',';
        peers = calloc(commas, sizeof(*peers));
        if (!peers)
            goto out;
        char *list = strdup(o.nodes);
        char *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char perr[160];
            if (net_uv_parse_addr(tok, &peers[peer_count].addr, perr, sizeof(perr)) != DYN_OK) {
                fprintf(stderr, "dynctl: --nodes: %s\n", perr);
                free(list);
                goto out;
            }
            peers[peer_count].id = (uint32_t)peer_count + 1;
            peer_count++;
        }
        free(list);
        if (peer_count == 0) {
            fprintf(stderr, "dynctl: --nodes lists no address\n");
            goto out;
        }
    } else {
        peer_count = config.member_count;
        peers = calloc(peer_count, sizeof(*peers));
        if (!peers)
            goto out;
        for (size_t i = 0; i < peer_count; i++) {
            peers[i].id = config.members[i].id;
            peers[i].addr = config.members[i].addr;
        }
        /* The cluster file's first ring (spares join later): where requests go first. After a
         * committed change a node outside a key's list forwards the request, so a stale ring
         * costs a hop, never an answer. */
        uint32_t *ring_ids = malloc(peer_count * sizeof(uint32_t));
        if (!ring_ids)
            goto out;
        size_t first = net_config_first_members(&config, ring_ids);
        int rc = dyn_ring_create(&c->ring, &config.ring, ring_ids, first);
        free(ring_ids);
        if (rc != DYN_OK) {
            fprintf(stderr, "dynctl: %s: invalid ring: %s\n", o.config_path, dyn_strerror(rc));
            goto out;
        }
    }
    uint8_t n = o.n ? o.n : config.node.n;
    dyn_req_opts_t opts = {.n = o.n};
    if (o.r_text && !(opts.r = net_config_parse_quorum(o.r_text, n))) {
        usage_error("-r must be a number from 1 to 16, one, quorum or all; got '%s'",
                    o.r_text);
        goto out;
    }
    if (o.w_text && !(opts.w = net_config_parse_quorum(o.w_text, n))) {
        usage_error("-w must be a number from 1 to 16, one, quorum or all; got '%s'",
                    o.w_text);
        goto out;
    }
    if (opts.r > n || opts.w > n) {
        fprintf(stderr, "dynctl: r and w must not exceed n (%u)\n", n);
        goto out;
    }

    if (is_ring) {
        if (!c->ring) {
            fprintf(stderr, "dynctl: ring needs the ring: give --config FILE\n");
            goto out;
        }
        /* Partitions (or tokens) each node owns first, and its share of keys as a replica. */
        size_t ranges = dyn_ring_range_count(c->ring);
        if (c->json)
            printf("{\"n\":%u,\"ranges\":%zu,\"nodes\":[", n, ranges);
        else
            printf("%zu key ranges, N=%u\n  node  address                 ranges  share_of_keys\n",
                   ranges, n);
        for (size_t i = 0; i < config.member_count; i++) {
            const net_config_member_t *m = &config.members[i];
            size_t owned = 0;
            for (size_t r = 0; r < ranges; r++) {
                uint32_t first;
                owned += dyn_ring_range_preference_list(c->ring, (uint32_t)r, &first, 1) == 1 &&
                         first == m->id;
            }
            double share = dyn_ring_ownership(c->ring, m->id, n);
            if (c->json)
                printf("%s{\"id\":%u,\"addr\":\"%s\",\"ranges\":%zu,\"share\":%.6f}",
                       i ? "," : "", m->id, m->addr_text, owned, share);
            else
                printf("  %4u  %-22s  %6zu  %.4f\n", m->id, m->addr_text, owned, share);
        }
        if (c->json)
            printf("]}\n");
        status = EXIT_OK;
        goto out;
    }
    if (is_locate) {
        if (!c->ring) {
            fprintf(stderr, "dynctl: locate needs the ring: give --config FILE\n");
            goto out;
        }
        uint64_t hash = dyn_ring_hash(key, strlen(key));
        uint32_t list[64];
        size_t count = dyn_ring_preference_list(c->ring, hash, list, 64);
        if (c->json) {
            printf("{\"key\":");
            print_json_string(stdout, (const uint8_t *)key, strlen(key));
            printf(",\"hash\":\"%016" PRIx64 "\",\"range\":%u,\"n\":%u,\"nodes\":[", hash,
                   dyn_ring_range_of(c->ring, hash), n);
        } else {
            printf("key hash %016" PRIx64 ", range %u; the first %u are its replicas\n", hash,
                   dyn_ring_range_of(c->ring, hash), n);
        }
        for (size_t i = 0; i < count; i++) {
            const net_config_member_t *m = net_config_member(&config, list[i]);
            if (c->json)
                printf("%s{\"id\":%u,\"addr\":\"%s\",\"role\":\"%s\"}", i ? "," : "", list[i],
                       m->addr_text, i < n ? "replica" : "fallback");
            else
                printf("%-3zu node %u  %s  %s\n", i + 1, list[i], m->addr_text,
                       i < n ? "replica" : "fallback");
        }
        if (c->json)
            printf("]}\n");
        status = EXIT_OK;
        goto out;
    }

    /* The request's bytes, checked before anything is sent. */
    uint8_t context[DYN_CONTEXT_MAX];
    size_t context_length = 0;
    if (o.context_hex && hex_decode(o.context_hex, context, sizeof(context), &context_length)) {
        fprintf(stderr, "dynctl: --context must be the hex string a get printed\n");
        goto out;
    }
    if (kind == DYN_OP_PUT && !is_bench) {
        if (o.file || strcmp(value_arg, "-") == 0) {
            const char *path = o.file ? o.file : "-";
            int rc = read_all(path, CTL_VALUE_FILE_MAX, &value, &value_length);
            if (rc == DYN_ETOOBIG) {
                fprintf(stderr, "dynctl: %s: value too large: over %zu bytes (1 MiB), the "
                        "largest value\n", strcmp(path, "-") ? path : "stdin",
                        CTL_VALUE_FILE_MAX);
                goto out;
            }
            if (rc != DYN_OK) {
                fprintf(stderr, "dynctl: cannot read %s: %s\n", strcmp(path, "-") ? path : "stdin",
                        rc == DYN_EIO ? strerror(errno) : dyn_strerror(rc));
                goto out;
            }
        } else {
            value_length = strlen(value_arg);
            value = malloc(value_length + 1);
            if (!value)
                goto out;
            memcpy(value, value_arg, value_length + 1);
        }
    }
    if (!is_bench) {
        dyn_msg_t msg;
        dyn_msg_init(&msg, kind == DYN_OP_GET ? DYN_MSG_CLIENT_GET : DYN_MSG_CLIENT_PUT);
        if (context_length &&
            dyn_codec_decode_vclock(context, context_length, &msg.context) != DYN_OK) {
            fprintf(stderr, "dynctl: --context is not a context a get printed\n");
            goto out;
        }
        msg.opts = opts;
        msg.key = (const uint8_t *)key;
        msg.key_length = (uint32_t)c->key_length;
        msg.value = value;
        msg.value_length = (uint32_t)value_length;
        size_t size = c->key_length <= DYN_KEY_MAX ? dyn_codec_encoded_size(&msg) : 0;
        if (c->key_length > DYN_KEY_MAX) {
            fprintf(stderr, "dynctl: key too long: %zu bytes (at most %u)\n", c->key_length,
                    DYN_KEY_MAX);
            goto out;
        }
        if (size == 0 || value_length > DYN_VALUE_MAX) {
            fprintf(stderr, "dynctl: value too large: %zu bytes (at most %u, 1 MiB)\n",
                    value_length, (unsigned)DYN_VALUE_MAX);
            goto out;
        }
    }

    /* The network. */
    uint8_t seal_key[NET_SEAL_KEY_BYTES];
    int insecure_key = 0;
    /* The client key where there is one: with it, the nodes refuse the cluster key from us. */
    const char *key_file = config.key_file;
    uint32_t key_id = NET_UV_KEY_ID_CLUSTER;
    if (o.client_key_file || (!o.key_file && config.client_key_file[0])) {
        key_file = o.client_key_file ? o.client_key_file : config.client_key_file;
        key_id = NET_UV_KEY_ID_CLIENT;
    } else if (o.key_file) {
        key_file = o.key_file;
    }
    if (net_config_key(key_file, seal_key, &insecure_key, err, sizeof(err)) != DYN_OK) {
        fprintf(stderr, "dynctl: %s\n", err);
        goto out;
    }
    if (insecure_key && !o.insecure) {
        for (size_t i = 0; i < peer_count; i++) {
            if (!net_uv_addr_is_loopback((const struct sockaddr *)&peers[i].addr)) {
                fprintf(stderr, "dynctl: no key file, and node %zu is not on loopback: give "
                        "--key-file (or key_file in the config), or --insecure\n", i + 1);
                goto out;
            }
        }
    }
    status = EXIT_OTHER;
    if (sodium_init() < 0) {
        fprintf(stderr, "dynctl: libsodium failed to start\n");
        goto out;
    }
    uv_loop_init(&c->loop);
    uint32_t client_id;
    randombytes_buf(&client_id, sizeof(client_id));
    net_uv_config_t uc = {
        .loop = &c->loop, .peers = peers, .peer_count = peer_count,
        .peers_by_address = o.nodes != NULL,
        .cluster = o.cluster ? o.cluster : config.cluster, .key = seal_key, .key_id = key_id,
        .sender_id = NET_UV_CLIENT_BASE | client_id, .sender_epoch = net_uv_wall_now(),
        .senders_max = (uint32_t)peer_count + 1,
        /* room for a large reply's fragments, all in flight at once (capped by rmem_max) */
        .socket_buffer_bytes = 4 << 20,
    };
    net_uv_handler_t handler = {.on_message = on_message, .on_timer = on_timer, .arg = c};
    int rc = net_uv_create(&uc, &handler, &c->env, err, sizeof(err));
    sodium_memzero(seal_key, sizeof(seal_key));
    if (rc != DYN_OK) {
        fprintf(stderr, "dynctl: %s\n", err);
        uv_loop_close(&c->loop);
        goto out;
    }
    ids = malloc(peer_count * sizeof(*ids));
    if (!ids)
        goto out_env;
    for (size_t i = 0; i < peer_count; i++)
        ids[i] = peers[i].id;
    uint64_t seed;
    randombytes_buf(&seed, sizeof(seed));
    dyn_client_config_t cc = {
        .nodes = ids, .node_count = peer_count, .timeout_us = (dyn_time_us)o.timeout_ms * 1000,
        .retries = o.retries, .pending_max = is_bench ? o.concurrency : 1, .seed = seed,
        .ring = c->ring, .ring_n = n,
    };
    c->client = dyn_client_create(&cc, net_uv_env(c->env));
    if (!c->client)
        goto out_env;
    if (is_stats) {
        status = run_stats(c, peers, peer_count, o.nodes == NULL);
    } else if (is_members) {
        status = run_members(c, peers, peer_count, o.nodes == NULL);
    } else if (is_member_set) {
        status = run_member_set(c, peers, member_id, member_status);
    } else if (is_plan || is_commit) {
        status = run_plan(c, peers, peer_count, via, &changes, is_commit, o.nodes == NULL);
    } else if (is_ring_status) {
        status = run_ring_status(c, peers, peer_count, o.nodes == NULL, 0, NULL);
    } else if (is_status) {
        status = run_status(c, peers, peer_count, o.nodes == NULL);
    } else if (is_bench) {
        status = run_bench(c);
    } else {
        dyn_client_request_t req = {
            .kind = kind, .key = (const uint8_t *)key, .key_length = c->key_length,
            .value = value, .value_length = value_length,
            .context = context_length ? context : NULL, .context_length = context_length,
            .opts = opts,
        };
        rc = dyn_client_submit(c->client, net_uv_now(c->env), &req, on_done, c, NULL);
        if (rc != DYN_OK) {
            fprintf(stderr, "dynctl: %s %s: %s\n", cmd, key, dyn_strerror(rc));
            status = exit_for(rc);
        } else {
            uv_run(&c->loop, UV_RUN_DEFAULT);
            status = c->done ? c->exit_code : EXIT_OTHER;
        }
    }
    dyn_client_destroy(c->client);
out_env:
    net_uv_destroy(c->env);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
out:
    if (c)
        dyn_ring_destroy(c->ring);
    free(c);
    free(peers);
    free(ids);
    free(value);
    net_config_free(&config);
    return status;
}
