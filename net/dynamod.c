/*
 * dynamod: one Dynamo storage node as a process: core's node over UDP (uv_env.h) and LMDB
 * (lmdb_store.h), configured by a Lua cluster file (config.h).
 *
 *   dynamod --config FILE [--id N] [--listen ADDR] [--data-dir DIR] [--key-file F] [--insecure]
 *   dynamod --config FILE [--id N] --check-config
 *
 * Runs in the foreground and logs one line per event to stderr: a UTC timestamp, a level
 * (info, warn, error) and the event. SIGTERM or SIGINT: log the counters, flush LMDB, close,
 * exit 0. SIGUSR1: log the counters. Exit status: 0 clean stop, 1 a runtime failure (storage,
 * bind), 2 usage or configuration error.
 *
 * `dynctl stats` asks a running node for the same counters and for the latency percentiles of
 * the requests it coordinated (admin.h): the time from core accepting a client request to its
 * answer (core's REQUEST_START and REQUEST_DONE trace events), in a histogram per kind (hist.h).
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>
#include <uv.h>

#include "build_info.h"
#include "core/claim.h"
#include "core/codec.h"
#include "core/node.h"
#include "core/status.h"
#include "net/admin.h"
#include "net/config.h"
#include "net/hist.h"
#include "net/lmdb_store.h"
#include "net/seal.h"
#include "net/uv_env.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* The key in META under which the last seal epoch is kept (core's own key there is "epoch"). */
static const uint8_t seal_epoch_key[] = "net.seal_epoch";

static net_log_level_t log_threshold = NET_LOG_INFO;
static uint32_t log_node_id;

_Noreturn void dyn_assert_fail(const char *file, int line, const char *expression)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expression);
    abort();
}

__attribute__((format(printf, 2, 3))) static void say(net_log_level_t level, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    static const char *const names[] = {"info", "warn", "error"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One write per line, so lines of processes sharing a terminal do not interleave. */
    if (log_node_id)
        fprintf(stderr, "%s.%03ldZ %-5s node %u: %s\n", stamp, ts.tv_nsec / 1000000,
                names[level], log_node_id, line);
    else
        fprintf(stderr, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000, names[level], line);
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: dynamod --config FILE [options]\n"
        "       dynamod --config FILE [--id N] --check-config\n"
        "       dynamod --help | --version\n"
        "\n"
        "Run one Dynamo storage node in the foreground, over UDP, storing into LMDB.\n"
        "\n"
        "options:\n"
        "  -c, --config FILE    the cluster file (Lua; keys below), required\n"
        "  -i, --id N           this node's id in the file's `nodes` (overrides node_id)\n"
        "  -l, --listen ADDR    address to bind, IPv4:PORT or [IPv6]:PORT (default: the node's\n"
        "                       addr in `nodes`)\n"
        "  -d, --data-dir DIR   LMDB directory, created if missing (overrides data_dir)\n"
        "  -k, --key-file FILE  the cluster key, 64 hex digits (overrides key_file)\n"
        "      --insecure       allow a non-loopback address without a key file\n"
        "      --check-config   validate the file (and key file) and exit: 0 valid, 2 not\n"
        "  -h, --help           this help\n"
        "  -V, --version        print the version\n"
        "\n"
        "cluster file keys (Lua globals), with their defaults:\n"
        "  cluster = \"dynamo\"            name; datagrams of another cluster are refused\n"
        "  node_id = (none)              this node's id (or --id)\n"
        "  nodes = { {id = 1, addr = \"127.0.0.1:7001\"}, ... }   static members (required)\n"
        "      per node also zone = Z (0) and spare = true: outside the first ring until\n"
        "      `dynctl commit --join ID`\n"
        "  listen = (node's addr)        data_dir = \"dynamod-data-<id>\"\n"
        "  key_file = (none)             without one: a public key, loopback only\n"
        "  client_key_file = (none)      clients' key (needs key_file); clients then need not\n"
        "                                hold the cluster key, and nodes refuse it from them\n"
        "  n = 3, r = 2, w = 2           request_timeout_ms = 1000\n"
        "  strategy = \"S3\"               \"S1\" | \"S2\" | \"S3\"; partitions = 64,\n"
        "  tokens_per_node = 8, ring_seed = 1   (the same on every node and client)\n"
        "  sync = \"every_write\"          | \"interval\" (sync_interval_ms = 1000) | \"none\"\n"
        "  map_size_mb = 1024            sync_writes = \"none\" | \"one\" | \"all\"\n"
        "  resolution = \"vclock\" | \"lww\" vclock_threshold = 10, siblings_max = 100\n"
        "  requests_pending_max = 65536  hinted_handoff = true, hints_max = 100000,\n"
        "  handoff_batch = 64, tick_ms = 200   anti_entropy = true, merkle_depth = 8,\n"
        "  ae_interval_ms = 1000         tombstone_grace_ms = 10000 (false: never)\n"
        "  senders_max = 65536           replay windows (node and client processes heard)\n"
        "  clients_max = 4096            client addresses answered at once\n"
        "  socket_buffer_kb = 4096       stats_interval_ms = 0 (0: at exit and SIGUSR1)\n"
        "  log_level = \"info\" | \"warn\" | \"error\"\n"
        "\n"
        "signals: SIGTERM, SIGINT stop (flush, close, exit 0); SIGUSR1 logs the counters\n"
        "exit status: 0 stopped cleanly, 1 runtime failure, 2 usage or configuration error\n");
}

/*
 * Requests being coordinated, by (origin, request id), with their start time: open addressing,
 * linear probing, backward-shift deletion. 8,192 slots (192 KiB, which stays in cache: a table
 * sized for core's 65,536 pending requests cost 1.2 % of a node's time in cache misses under
 * the benchmark); past 3/4 load a request is simply not timed (counted in untimed_requests), so
 * the percentiles sample the first 6,144 requests in flight at any moment.
 */
#define TIMING_SLOTS (1u << 13)
#define TIMING_LOAD_MAX (TIMING_SLOTS / 4u * 3u)

typedef struct timing_slot {
    uint64_t request_id;
    uint32_t origin; /* 0: free (core never names endpoint 0) */
    uint8_t is_get;
    dyn_time_us start_us;
} timing_slot_t;

typedef struct timing {
    timing_slot_t *slots;
    uint32_t used;
    uint64_t untimed; /* starts not recorded: table full */
    net_hist_t *get, *put;
} timing_t;

typedef struct daemon {
    uv_loop_t loop;
    net_config_t config;
    net_lmdb_t *store;
    net_uv_t *env;
    dyn_ring_t *ring;
    dyn_node_t *node;
    uv_signal_t sig_term, sig_int, sig_usr1;
    uv_timer_t flush_timer, stats_timer;
    int stopping;
    int flush_failed;
    uv_work_t flush_req; /* the interval flush, on the thread pool */
    int flushing, flush_status;
    uint64_t background_syncs;
    int storage_lost; /* a write batch failed to commit: nothing more leaves, and the node stops */
    uint64_t drops_logged[32]; /* by -status: log rate limiting per kind */
    timing_t timing;
    uint64_t admin_requests, admin_refused;
    uint64_t client_refused; /* datagrams from clients of a type only nodes may send */
    int has_client_key;      /* clients hold the client key only: no membership changes */
} daemon_t;

static uint32_t timing_home(uint32_t origin, uint64_t request_id)
{
    uint64_t h = (request_id ^ ((uint64_t)origin << 32)) * 0x9E3779B97F4A7C15ULL;
    return (uint32_t)(h >> 40) & (TIMING_SLOTS - 1u);
}

static void timing_start(timing_t *t, uint32_t origin, uint64_t request_id, int is_get,
                         dyn_time_us now)
{
    if (t->used >= TIMING_LOAD_MAX || origin == 0) {
        t->untimed++;
        return;
    }
    uint32_t i = timing_home(origin, request_id);
    while (t->slots[i].origin) {
        if (t->slots[i].origin == origin && t->slots[i].request_id == request_id)
            break; /* a request id reused: time the newer one */
        i = (i + 1) & (TIMING_SLOTS - 1u);
    }
    if (!t->slots[i].origin)
        t->used++;
    t->slots[i] = (timing_slot_t){request_id, origin, (uint8_t)(is_get != 0), now};
}

static void timing_done(timing_t *t, uint32_t origin, uint64_t request_id, dyn_time_us now)
{
    uint32_t i = timing_home(origin, request_id);
    while (t->slots[i].origin &&
           !(t->slots[i].origin == origin && t->slots[i].request_id == request_id))
        i = (i + 1) & (TIMING_SLOTS - 1u);
    if (!t->slots[i].origin)
        return; /* not timed */
    timing_slot_t *e = &t->slots[i];
    net_hist_record(e->is_get ? t->get : t->put, now >= e->start_us ? now - e->start_us : 0);
    /* Backward-shift deletion: pull later entries of the run into the hole when their home
     * slot does not lie (cyclically) after it, so every lookup still finds them. */
    uint32_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & (TIMING_SLOTS - 1u);
        if (!t->slots[j].origin)
            break;
        uint32_t home = timing_home(t->slots[j].origin, t->slots[j].request_id);
        uint32_t dist_home = (j - home) & (TIMING_SLOTS - 1u);
        uint32_t dist_hole = (j - hole) & (TIMING_SLOTS - 1u);
        if (dist_home >= dist_hole) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].origin = 0;
    t->used--;
}

/* ---- the node's callbacks ---------------------------------------------------------------- */

static void on_admin(daemon_t *d, dyn_endpoint_t from, const uint8_t *bytes, size_t length);

static void on_message(void *arg, dyn_time_us now_us, dyn_endpoint_t from, const uint8_t *bytes,
                       size_t length)
{
    daemon_t *d = arg;
    if (net_admin_is(bytes, length)) {
        on_admin(d, from, bytes, length);
        return;
    }
    if (from >= NET_UV_CLIENT_BASE) {
        /* A client may ask (get, put, ping), never speak as a replica: with a client key it
         * holds no cluster key, and this keeps it from writing versions, hints or views. Bytes
         * that are no message at all (type 0) go on to core, which counts them in
         * bad_messages like any undecodable datagram. */
        dyn_msg_type_t type = dyn_codec_peek_type(bytes, length);
        if (type != 0 && type != DYN_MSG_CLIENT_GET && type != DYN_MSG_CLIENT_PUT &&
            type != DYN_MSG_PING) {
            d->client_refused++;
            return;
        }
    }
    dyn_node_on_message(d->node, now_us, from, bytes, length);
}

static void on_timer(void *arg, dyn_time_us now_us, uint64_t timer_id)
{
    daemon_t *d = arg;
    dyn_node_on_timer(d->node, now_us, timer_id);
}

static void on_trace(void *arg, const dyn_trace_event_t *ev)
{
    daemon_t *d = arg;
    if (ev->kind == DYN_TRACE_REQUEST_START)
        timing_start(&d->timing, ev->peer, ev->request_id, ev->a == DYN_MSG_CLIENT_GET,
                     net_uv_now(d->env));
    else if (ev->kind == DYN_TRACE_REQUEST_DONE)
        timing_done(&d->timing, ev->peer, ev->request_id, net_uv_now(d->env));
    else if (ev->kind == DYN_TRACE_SUSPECT)
        say(NET_LOG_WARN, "peer %u suspected (missed a request deadline)", ev->peer);
    else if (ev->kind == DYN_TRACE_RECOVER)
        say(NET_LOG_INFO, "peer %u heard from again", ev->peer);
}

/*
 * Group commit: the writes this loop turn made are committed (under every_write, fsynced) before
 * any datagram leaves, so no reply or acknowledgement runs ahead of the write it answers. A lost
 * batch withholds what was about to leave: its writes' acknowledgements must not go out.
 */
static int commit_turn(daemon_t *d)
{
    if (d->storage_lost)
        return 1;
    if (!d->store || net_lmdb_commit(d->store) == DYN_OK)
        return 0;
    /*
     * The node's memory now disagrees with its disk (a write it counted toward a quorum is
     * gone), so it stops, as PostgreSQL does on a failed fsync: a restart resumes from the last
     * commit with a new epoch, and its peers' hints and anti-entropy repair the rest.
     */
    d->storage_lost = 1;
    say(NET_LOG_ERROR, "LMDB commit failed: this turn's writes are lost; withholding what answers "
        "them and stopping (a restart resumes from the last commit)");
    uv_stop(&d->loop);
    return 1;
}

static int before_send(void *arg) { return commit_turn(arg); }

/* Log the first drops of each kind, then one in a thousand: a flood must not flood the log. */
static void on_drop(void *arg, const char *why, int status, const struct sockaddr *from)
{
    daemon_t *d = arg;
    size_t kind = (size_t)(-status) % 32;
    uint64_t n = ++d->drops_logged[kind];
    if (n > 5 && n % 1000 != 0)
        return;
    const char *more = n == 5 ? "; further drops of this kind are logged one in 1000" : "";
    if (!from) {
        say(NET_LOG_WARN, "did not send a message: %s (%s)%s", why, dyn_strerror(status), more);
        return;
    }
    char addr[NET_UV_ADDR_TEXT_MAX];
    net_uv_format_addr(from, addr, sizeof(addr));
    say(NET_LOG_WARN, "dropped a datagram from %s: %s (%s)%s", addr, why, dyn_strerror(status),
        more);
}

/* Appends to a fixed buffer, truncating (never overflowing) when it is full. */
typedef struct outbuf {
    char *p;
    size_t cap, len;
} outbuf_t;

static void out_add(outbuf_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_add(outbuf_t *o, const char *fmt, ...)
{
    if (o->len >= o->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len = n < 0 ? o->len : o->len + (size_t)n < o->cap ? o->len + (size_t)n : o->cap - 1;
}

static void out_latency(outbuf_t *o, const char *section, const net_hist_t *h)
{
    out_add(o, "%s count=%" PRIu64 " p50_us=%" PRIu64 " p99_us=%" PRIu64 " p999_us=%" PRIu64
            " max_us=%" PRIu64 "\n", section, net_hist_count(h), net_hist_quantile(h, 0.5),
            net_hist_quantile(h, 0.99), net_hist_quantile(h, 0.999), net_hist_max(h));
}

/*
 * Every counter as lines "SECTION NAME=VALUE ...\n": the log's stats lines and the body of a
 * stats reply (admin.h). `with_latency` adds the latency sections.
 */
static size_t format_stats(daemon_t *d, char *buf, size_t cap, int with_latency)
{
    outbuf_t o = {buf, cap, 0};
    buf[0] = '\0';
    net_uv_stats_t u = net_uv_stats(d->env);
    net_seal_stats_t s = net_uv_seal_stats(d->env);
    const dyn_node_stats_t *n = dyn_node_stats(d->node);
    net_lmdb_stats_t l = net_lmdb_stats(d->store);
    if (with_latency) {
        out_latency(&o, "latency_get", d->timing.get);
        out_latency(&o, "latency_put", d->timing.put);
    }
    out_add(&o,
        "net received=%" PRIu64 " delivered=%" PRIu64 " sent=%" PRIu64
        " truncated=%" PRIu64 " unknown_sender=%" PRIu64 " no_route=%" PRIu64
        " send_too_big=%" PRIu64 " send_errors=%" PRIu64 " recv_errors=%" PRIu64
        " clients_forgotten=%" PRIu64 " fragmented=%" PRIu64 " reassembled=%" PRIu64
        " fragments_refused=%" PRIu64 " wrong_key=%" PRIu64 " client_refused=%" PRIu64
        " timers=%zu admin_requests=%" PRIu64 " admin_refused=%" PRIu64
        " untimed_requests=%" PRIu64 " withheld=%" PRIu64 " bundles_sent=%" PRIu64
        " bundled=%" PRIu64 " bundles_received=%" PRIu64 " bundles_refused=%" PRIu64 "\n",
        u.received, u.delivered, u.sent, u.truncated, u.unknown_sender, u.no_route,
        u.send_too_big, u.send_errors, u.recv_errors, u.clients_forgotten, u.fragmented,
        u.reassembled, u.fragments_refused, u.wrong_key, d->client_refused,
        net_uv_timers_pending(d->env), d->admin_requests, d->admin_refused, d->timing.untimed,
        u.withheld, u.bundles_sent, u.bundled, u.bundles_received, u.bundles_refused);
    out_add(&o,
        "seal sealed=%" PRIu64 " unsealed=%" PRIu64 " too_short=%" PRIu64
        " bad_format=%" PRIu64 " wrong_cluster=%" PRIu64 " unknown_key=%" PRIu64
        " bad_auth=%" PRIu64 " replayed=%" PRIu64 " senders_full=%" PRIu64 "\n",
        s.sealed, s.unsealed, s.too_short, s.bad_format, s.wrong_cluster, s.unknown_key,
        s.bad_auth, s.replayed, s.senders_full);
    out_add(&o,
        "node gets=%" PRIu64 " puts=%" PRIu64 " forwarded=%" PRIu64 " replies_ok=%" PRIu64
        " replies_failed=%" PRIu64 " timeouts=%" PRIu64 " replicas_late=%" PRIu64
        " replica_reads=%" PRIu64 " replica_writes=%" PRIu64 " stale_writes=%" PRIu64
        " bad_messages=%" PRIu64 " stray_messages=%" PRIu64 " rejected_full=%" PRIu64
        " vclock_truncations=%" PRIu64 " syncs=%" PRIu64 " read_repairs=%" PRIu64
        " suspicions=%" PRIu64 " recoveries=%" PRIu64 " probes=%" PRIu64
        " fallback_targets=%" PRIu64 " hinted_writes=%" PRIu64 " hints_refused=%" PRIu64
        " handoffs_sent=%" PRIu64 " hints_delivered=%" PRIu64 " handoffs_received=%" PRIu64
        " hints_peak=%" PRIu64 " hints=%" PRIu64 " pending=%u ae_exchanges=%" PRIu64
        " ae_in_sync=%" PRIu64 " ae_messages=%" PRIu64 " ae_bytes=%" PRIu64
        " ae_keys_pushed=%" PRIu64 " ae_keys_repaired=%" PRIu64 " reap_rounds=%" PRIu64
        " reap_refused=%" PRIu64 " tombstones_reaped=%" PRIu64 " epoch_renewals=%" PRIu64
        " gossip_sent=%" PRIu64 " gossip_bytes=%" PRIu64 " membership_changes=%" PRIu64
        " fd_probes=%" PRIu64 " fd_indirect=%" PRIu64 " fd_suspicions=%" PRIu64 "\n",
        n->gets_coordinated, n->puts_coordinated, n->forwarded, n->replies_ok, n->replies_failed,
        n->timeouts, n->replicas_late, n->replica_reads, n->replica_writes, n->stale_writes,
        n->bad_messages, n->stray_messages, n->rejected_full, n->vclock_truncations, n->syncs,
        n->read_repairs, n->suspicions, n->recoveries, n->probes, n->fallback_targets,
        n->hinted_writes, n->hints_refused, n->handoffs_sent, n->hints_delivered,
        n->handoffs_received, n->hints_peak, dyn_node_hints(d->node), dyn_node_pending(d->node),
        n->ae_exchanges, n->ae_in_sync, n->ae_messages, n->ae_bytes, n->ae_keys_pushed,
        n->ae_keys_repaired, n->reap_rounds, n->reap_refused, n->tombstones_reaped,
        n->epoch_renewals, n->gossip_sent, n->gossip_bytes, n->membership_changes, n->fd_probes,
        n->fd_indirect, n->fd_suspicions);
    out_add(&o,
        "ring changes=%" PRIu64 " version=%" PRIu64 " transfer_idle=%d transfer_sent=%" PRIu64
        " transfer_dropped=%" PRIu64 " transfer_rounds=%" PRIu64 "\n",
        n->ring_changes, dyn_node_ring_version(d->node), dyn_node_transfer_idle(d->node) ? 1 : 0,
        n->transfer_sent, n->transfer_dropped, n->transfer_rounds);
    out_add(&o,
        "store puts=%" PRIu64 " dels=%" PRIu64 " gets=%" PRIu64 " scans=%" PRIu64
        " syncs=%" PRIu64 " corrupt_records=%" PRIu64 " corrupt_unlisted=%" PRIu64
        " long_collisions=%" PRIu64 " batches=%" PRIu64 " batches_lost=%" PRIu64
        " disk_full=%" PRIu64 " background_syncs=%" PRIu64 "\n",
        l.puts, l.dels, l.gets, l.scans, l.syncs, l.corrupt_records, l.corrupt_unlisted,
        l.long_collisions, l.batches, l.batches_lost, l.disk_full, d->background_syncs);
    return o.len;
}

/* The counters, one log line per section ("stats SECTION: NAME=VALUE ..."). */
static void log_stats(daemon_t *d)
{
    char buf[4096];
    format_stats(d, buf, sizeof(buf), 1);
    for (char *line = buf, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end)
            break;
        *end = '\0';
        char *space = strchr(line, ' ');
        if (!space)
            continue;
        *space = '\0';
        say(NET_LOG_INFO, "stats %s: %s", line, space + 1);
    }
}

static const char *member_status_word(uint8_t status)
{
    switch (status) {
    case DYN_MEMBER_JOINING: return "joining";
    case DYN_MEMBER_VALID: return "valid";
    case DYN_MEMBER_LEAVING: return "leaving";
    case DYN_MEMBER_REMOVED: return "removed";
    }
    return "unknown";
}

/* The node's membership view, one "member ..." line per member. */
static size_t format_members(daemon_t *d, char *buf, size_t cap)
{
    outbuf_t o = {buf, cap, 0};
    buf[0] = '\0';
    const dyn_membership_t *view = dyn_node_membership(d->node);
    for (size_t i = 0; i < dyn_membership_count(view); i++) {
        const dyn_member_t *m = dyn_membership_at(view, i);
        out_add(&o, "member id=%u status=%s zone=%u version=%" PRIu64 " addr=%.*s\n", m->id,
                member_status_word(m->status), (unsigned)m->zone, m->version,
                m->addr_length ? (int)m->addr_length : 1, m->addr_length ? m->addr : "-");
    }
    return o.len;
}

/*
 * A member's status changed here, from where gossip spreads it. Only members of the cluster file
 * (the ring and the address table are static: a member added here could not be reached), and
 * not from a client of a cluster with a client key, which is meant to read and write data only.
 */
static size_t member_set(daemon_t *d, dyn_endpoint_t from, const net_admin_args_t *a, char *buf,
                         size_t cap)
{
    outbuf_t o = {buf, cap, 0};
    buf[0] = '\0';
    if (d->has_client_key && from >= NET_UV_CLIENT_BASE) {
        out_add(&o, "error reason=needs_cluster_key\n");
        return o.len;
    }
    if (!net_config_member(&d->config, a->member)) {
        out_add(&o, "error reason=not_in_cluster_file\n");
        return o.len;
    }
    if (a->status < DYN_MEMBER_JOINING || a->status > DYN_MEMBER_REMOVED) {
        out_add(&o, "error reason=bad_status\n");
        return o.len;
    }
    const dyn_member_t *known = dyn_membership_find(dyn_node_membership(d->node), a->member);
    if (known && known->status == a->status) {
        /* Already so: a new version would only make gossip carry the same news again. */
        out_add(&o, "result changed=0 version=%" PRIu64 "\n", known->version);
        return o.len;
    }
    int rc = dyn_node_member_change(d->node, a->member, (dyn_member_status_t)a->status,
                                    known ? known->zone : 0);
    if (rc < 0) {
        say(NET_LOG_ERROR, "member %u to %s: %s", a->member, member_status_word(a->status),
            dyn_strerror(rc));
        out_add(&o, "error reason=failed code=%d\n", -rc);
        return o.len;
    }
    known = dyn_membership_find(dyn_node_membership(d->node), a->member);
    say(NET_LOG_INFO, "member %u set to %s (version %" PRIu64 ") by an admin request",
        a->member, member_status_word(a->status), known ? known->version : 0);
    out_add(&o, "result changed=%d version=%" PRIu64 "\n", rc, known ? known->version : 0);
    return o.len;
}

/* ---- membership changes: plan, commit, ring status (admin.h) ----------------------------- */

static int ids_has(const uint32_t *ids, size_t count, uint32_t id)
{
    for (size_t i = 0; i < count; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* Whether one of the first `upto` changes names `id` (as the node changed or the replacement). */
static int change_names(const net_admin_args_t *a, size_t upto, uint32_t id)
{
    for (size_t i = 0; i < upto; i++)
        if (a->changes[i].id == id || a->changes[i].to == id)
            return 1;
    return 0;
}

/* The change naming member `id` as the node changed (not as a replacement), or NULL. */
static const net_admin_change_t *change_of(const net_admin_args_t *a, uint32_t id)
{
    for (size_t i = 0; i < a->change_count; i++)
        if (a->changes[i].id == id)
            return &a->changes[i];
    return NULL;
}

/* A node's zone: as the view records it, else the cluster file's (a spare not yet in the view). */
static uint16_t node_zone(daemon_t *d, uint32_t id)
{
    const dyn_member_t *m = dyn_membership_find(dyn_node_membership(d->node), id);
    if (m)
        return m->zone;
    const net_config_member_t *cm = net_config_member(&d->config, id);
    return cm ? cm->zone : 0;
}

/* Move and range lines a plan reply lists, at most: enough for any ring an operator reads, and
 * the reply stays a few hundred kilobytes (its counts are always exact). */
#define PLAN_DETAIL_MAX 1024u

typedef struct plan {
    size_t q, n, olds, count;
    uint32_t *old_table, *new_table, *old_ids, *members;
} plan_t;

static void plan_free(plan_t *p)
{
    free(p->old_table);
    free(p->new_table);
    free(p->old_ids);
    free(p->members);
}

/*
 * The new partition table for the changes, from this node's own ring (so what it reports is
 * exactly what a commit here records): replacements take the old node's partitions as they are,
 * then the claim (claim.h) of the new member set balances with the fewest moves. Returns DYN_OK,
 * or a status after writing an "error reason=..." line when the changes do not apply here.
 */
static int plan_compute(daemon_t *d, const net_admin_args_t *a, plan_t *p, outbuf_t *o)
{
    const dyn_ring_t *ring = dyn_node_ring(d->node);
    const dyn_ring_config_t *rc = dyn_ring_config(ring);
    *p = (plan_t){.q = rc->partitions, .n = d->config.node.n};
    if (rc->strategy != DYN_STRATEGY_S3) {
        out_add(o, "error reason=not_s3\n");
        return DYN_EINVAL;
    }
    size_t q = p->q;
    p->old_table = malloc(q * sizeof(uint32_t));
    p->new_table = malloc(q * sizeof(uint32_t));
    p->old_ids = malloc(q * sizeof(uint32_t));
    p->members = malloc((q + NET_ADMIN_CHANGES_MAX) * sizeof(uint32_t));
    if (!p->old_table || !p->new_table || !p->old_ids || !p->members) {
        out_add(o, "error reason=failed code=%d\n", -DYN_ENOMEM);
        return DYN_ENOMEM;
    }
    DYN_ASSERT(dyn_ring_s3_table(ring, p->old_table) == DYN_OK);
    /* The current members: the distinct owners of the table, ascending. */
    for (size_t i = 0; i < q; i++)
        if (!ids_has(p->old_ids, p->olds, p->old_table[i]))
            p->old_ids[p->olds++] = p->old_table[i];
    for (size_t i = 1; i < p->olds; i++)
        for (size_t j = i; j > 0 && p->old_ids[j - 1] > p->old_ids[j]; j--) {
            uint32_t t = p->old_ids[j];
            p->old_ids[j] = p->old_ids[j - 1];
            p->old_ids[j - 1] = t;
        }
    for (size_t i = 0; i < a->change_count; i++) {
        const net_admin_change_t *ch = &a->changes[i];
        uint32_t newcomer = ch->kind == NET_ADMIN_JOIN ? ch->id
                            : ch->kind == NET_ADMIN_REPLACE ? ch->to : 0;
        if (change_names(a, i, ch->id) || (ch->to && change_names(a, i, ch->to))) {
            out_add(o, "error reason=listed_twice id=%u\n",
                    change_names(a, i, ch->id) ? ch->id : ch->to);
            return DYN_EINVAL;
        }
        if (ch->kind != NET_ADMIN_JOIN && !ids_has(p->old_ids, p->olds, ch->id)) {
            out_add(o, "error reason=not_member id=%u\n", ch->id);
            return DYN_EINVAL;
        }
        if (newcomer && !net_config_member(&d->config, newcomer)) {
            /* The address table is the cluster file's: a node outside it could not be reached. */
            out_add(o, "error reason=unknown_node id=%u\n", newcomer);
            return DYN_EINVAL;
        }
        if (newcomer && ids_has(p->old_ids, p->olds, newcomer)) {
            out_add(o, "error reason=already_member id=%u\n", newcomer);
            return DYN_EINVAL;
        }
    }
    uint32_t *claim_from = malloc(q * sizeof(uint32_t));
    if (!claim_from) {
        out_add(o, "error reason=failed code=%d\n", -DYN_ENOMEM);
        return DYN_ENOMEM;
    }
    for (size_t i = 0; i < q; i++) {
        const net_admin_change_t *ch = change_of(a, p->old_table[i]);
        claim_from[i] = ch && ch->kind == NET_ADMIN_REPLACE ? ch->to : p->old_table[i];
    }
    for (size_t i = 0; i < p->olds; i++)
        if (!change_of(a, p->old_ids[i]))
            p->members[p->count++] = p->old_ids[i];
    for (size_t i = 0; i < a->change_count; i++) {
        const net_admin_change_t *ch = &a->changes[i];
        if (ch->kind == NET_ADMIN_JOIN || ch->kind == NET_ADMIN_REPLACE)
            p->members[p->count++] = ch->kind == NET_ADMIN_JOIN ? ch->id : ch->to;
    }
    if (p->count < p->n) {
        free(claim_from);
        out_add(o, "error reason=too_few members=%zu n=%zu\n", p->count, p->n);
        return DYN_EINVAL;
    }
    int claimed = dyn_claim(claim_from, q, p->members, p->count, (unsigned)(p->n - 1),
                            p->new_table);
    free(claim_from);
    if (claimed < 0) {
        out_add(o, "error reason=failed code=%d\n", -claimed);
        return claimed;
    }
    return DYN_OK;
}

/* The role of node `id` in the plan, for its "node" line. */
static const char *plan_role(const net_admin_args_t *a, uint32_t id)
{
    for (size_t i = 0; i < a->change_count; i++) {
        const net_admin_change_t *ch = &a->changes[i];
        if (ch->kind == NET_ADMIN_REPLACE && ch->to == id)
            return "replaces";
        if (ch->id != id)
            continue;
        switch (ch->kind) {
        case NET_ADMIN_JOIN: return "joins";
        case NET_ADMIN_LEAVE: return "leaves";
        case NET_ADMIN_REMOVE: return "removed";
        case NET_ADMIN_REPLACE: return "replaced";
        }
    }
    return "stays";
}

/* A preference list as "1,2,3" into out (room for DYN_N_MAX ids). */
static void format_ids(const uint32_t *ids, size_t count, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < count && len < cap; i++) {
        int w = snprintf(out + len, cap - len, "%s%u", i ? "," : "", ids[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* The plan's report lines (admin.h): summary, nodes, moves, ranges whose replicas change. */
static void plan_report(daemon_t *d, const net_admin_args_t *a, const plan_t *p, outbuf_t *o)
{
    const dyn_ring_t *ring = dyn_node_ring(d->node);
    dyn_ring_t *next = NULL;
    int rc = dyn_ring_create_s3_table(&next, dyn_ring_config(ring), p->new_table);
    if (rc != DYN_OK) {
        out_add(o, "error reason=failed code=%d\n", -rc);
        return;
    }
    size_t moved = 0, ranges_changed = 0, zone_warnings = 0;
    int zones_used = 0;
    for (size_t i = 0; i < p->q; i++)
        moved += p->old_table[i] != p->new_table[i];
    for (size_t i = 0; i < p->count; i++)
        zones_used |= node_zone(d, p->members[i]) != 0;
    /* The ranges first, into a scratch list, so the summary line can lead with the counts. */
    for (uint32_t r = 0; r < p->q; r++) {
        uint32_t before[DYN_N_MAX], after[DYN_N_MAX], zones[DYN_N_MAX];
        size_t nb = dyn_ring_range_preference_list(ring, r, before, p->n);
        size_t na = dyn_ring_range_preference_list(next, r, after, p->n);
        ranges_changed += nb != na || memcmp(before, after, na * sizeof(uint32_t)) != 0;
        size_t distinct = 0;
        for (size_t k = 0; k < na; k++)
            if (!ids_has(zones, distinct, node_zone(d, after[k])))
                zones[distinct++] = node_zone(d, after[k]);
        zone_warnings += zones_used && distinct < p->n;
    }
    out_add(o, "plan version=%" PRIu64 " members_before=%zu members_after=%zu partitions=%zu "
            "moved=%zu ranges_changed=%zu zone_warnings=%zu n=%zu zones=%d\n",
            dyn_node_ring_version(d->node), p->olds, p->count, p->q, moved, ranges_changed,
            zone_warnings, p->n, zones_used);
    size_t shown = p->olds + a->change_count;
    for (size_t i = 0; i < shown; i++) {
        uint32_t id;
        if (i < p->olds) {
            id = p->old_ids[i];
        } else {
            const net_admin_change_t *ch = &a->changes[i - p->olds];
            if (ch->kind != NET_ADMIN_JOIN && ch->kind != NET_ADMIN_REPLACE)
                continue;
            id = ch->kind == NET_ADMIN_JOIN ? ch->id : ch->to;
        }
        size_t held[2] = {0, 0};
        for (size_t k = 0; k < p->q; k++) {
            held[0] += p->old_table[k] == id;
            held[1] += p->new_table[k] == id;
        }
        /* Shares in parts per million: the body's values are integers (admin.h). */
        out_add(o, "node id=%u before=%zu after=%zu share_before_ppm=%.0f share_after_ppm=%.0f "
                "zone=%u role=%s\n", id, held[0], held[1],
                dyn_ring_ownership(ring, id, p->n) * 1e6, dyn_ring_ownership(next, id, p->n) * 1e6,
                (unsigned)node_zone(d, id), plan_role(a, id));
    }
    size_t listed = 0;
    for (size_t k = 0; k < p->q; k++) {
        if (p->old_table[k] == p->new_table[k])
            continue;
        if (listed++ < PLAN_DETAIL_MAX)
            out_add(o, "move partition=%zu from=%u to=%u\n", k, p->old_table[k],
                    p->new_table[k]);
    }
    listed = 0;
    for (uint32_t r = 0; r < p->q; r++) {
        uint32_t before[DYN_N_MAX], after[DYN_N_MAX];
        size_t nb = dyn_ring_range_preference_list(ring, r, before, p->n);
        size_t na = dyn_ring_range_preference_list(next, r, after, p->n);
        if (nb == na && memcmp(before, after, na * sizeof(uint32_t)) == 0)
            continue;
        if (listed++ < PLAN_DETAIL_MAX) {
            char b[DYN_N_MAX * 11 + 1], f[DYN_N_MAX * 11 + 1];
            format_ids(before, nb, b, sizeof(b));
            format_ids(after, na, f, sizeof(f));
            out_add(o, "range index=%u before=%s after=%s\n", r, b, f);
        }
    }
    dyn_ring_destroy(next);
}

/*
 * Record a plan at this node: statuses first, then the table, so a node that takes the table
 * knows who left. Refused when this node has heard of a newer table than the ring it follows:
 * one change at a time, as Riak's claimant, for a table committed here at a version another
 * node already used would race it, and only one of the two would survive the merge.
 */
static void plan_commit(daemon_t *d, const net_admin_args_t *a, const plan_t *p, outbuf_t *o)
{
    const dyn_membership_t *view = dyn_node_membership(d->node);
    uint64_t have = dyn_node_ring_version(d->node);
    uint64_t latest = dyn_membership_ring_version(view);
    if (latest > have) {
        out_add(o, "error reason=not_latest version=%" PRIu64 " latest=%" PRIu64 "\n", have,
                latest);
        return;
    }
    int st = DYN_OK;
    for (size_t i = 0; i < p->count && st >= 0; i++) {
        uint32_t id = p->members[i];
        const dyn_member_t *m = dyn_membership_find(dyn_node_membership(d->node), id);
        if (!m) {
            /* A newcomer enters the view with its address from the cluster file, so `dynctl
             * members` shows where it is. */
            const net_config_member_t *cm = net_config_member(&d->config, id);
            dyn_membership_t *one = dyn_membership_create();
            dyn_member_t e = {.id = id, .status = DYN_MEMBER_JOINING, .zone = cm->zone,
                              .version = 1};
            size_t length = strlen(cm->addr_text);
            if (length <= DYN_MEMBER_ADDR_MAX) {
                memcpy(e.addr, cm->addr_text, length);
                e.addr_length = (uint8_t)length;
            }
            st = one ? dyn_membership_apply(one, &e) : DYN_ENOMEM;
            if (st >= 0)
                st = dyn_node_merge_members(d->node, one);
            dyn_membership_destroy(one);
            m = dyn_membership_find(dyn_node_membership(d->node), id);
        }
        if (st >= 0 && (!m || m->status != DYN_MEMBER_VALID))
            st = dyn_node_member_change(d->node, id, DYN_MEMBER_VALID, node_zone(d, id));
    }
    for (size_t i = 0; i < p->olds && st >= 0; i++) {
        const net_admin_change_t *ch = change_of(a, p->old_ids[i]);
        if (!ch || ch->kind == NET_ADMIN_JOIN)
            continue;
        st = dyn_node_member_change(d->node, ch->id,
                                    ch->kind == NET_ADMIN_REMOVE ? DYN_MEMBER_REMOVED
                                                                 : DYN_MEMBER_LEAVING,
                                    node_zone(d, ch->id));
    }
    if (st < 0) {
        say(NET_LOG_ERROR, "commit: recording the member statuses failed: %s",
            dyn_strerror(st));
        out_add(o, "error reason=failed code=%d\n", -st);
        return;
    }
    size_t moved = 0;
    for (size_t i = 0; i < p->q; i++)
        moved += p->old_table[i] != p->new_table[i];
    int64_t version = dyn_node_ring_commit(d->node, p->new_table);
    if (version < 0) {
        say(NET_LOG_ERROR, "commit: recording the ring failed: %s", dyn_strerror((int)version));
        out_add(o, "error reason=failed code=%d\n", (int)-version);
        return;
    }
    say(NET_LOG_INFO, "ring version %" PRId64 " committed by an admin request: %zu -> %zu "
        "members, %zu of %zu partitions move", version, p->olds, p->count, moved, p->q);
    out_add(o, "result version=%" PRId64 " moved=%zu\n", version, moved);
}

/* PLAN (report only) or COMMIT (report, then record) of the request's changes. */
static size_t plan_change(daemon_t *d, dyn_endpoint_t from, const net_admin_args_t *a,
                          int commit, char *buf, size_t cap)
{
    outbuf_t o = {buf, cap, 0};
    buf[0] = '\0';
    if (commit && d->has_client_key && from >= NET_UV_CLIENT_BASE) {
        out_add(&o, "error reason=needs_cluster_key\n");
        return o.len;
    }
    if (commit && a->change_count == 0) {
        out_add(&o, "error reason=no_changes\n");
        return o.len;
    }
    plan_t p;
    if (plan_compute(d, a, &p, &o) == DYN_OK) {
        plan_report(d, a, &p, &o);
        if (commit)
            plan_commit(d, a, &p, &o);
    }
    plan_free(&p);
    return o.len;
}

/* The ring this node follows, the newest it has heard of, and whether its transfers are done. */
static size_t format_ring_status(daemon_t *d, char *buf, size_t cap)
{
    outbuf_t o = {buf, cap, 0};
    buf[0] = '\0';
    const dyn_ring_t *ring = dyn_node_ring(d->node);
    size_t owned = 0, ranges = dyn_ring_range_count(ring);
    for (uint32_t r = 0; r < ranges; r++) {
        uint32_t first;
        owned += dyn_ring_range_preference_list(ring, r, &first, 1) == 1 &&
                 first == dyn_node_id(d->node);
    }
    out_add(&o, "ring version=%" PRIu64 " latest=%" PRIu64 " idle=%d partitions=%zu owned=%zu "
            "members=%zu\n", dyn_node_ring_version(d->node),
            dyn_membership_ring_version(dyn_node_membership(d->node)),
            dyn_node_transfer_idle(d->node) ? 1 : 0, ranges, owned, dyn_ring_node_count(ring));
    return o.len;
}

/* An admin request (admin.h): answered to whoever sent it, which the seal authenticated. */
static void on_admin(daemon_t *d, dyn_endpoint_t from, const uint8_t *bytes, size_t length)
{
    net_admin_op_t op;
    uint64_t request_id;
    net_admin_args_t args;
    if (net_admin_decode_request(bytes, length, &op, &request_id, &args) != DYN_OK) {
        d->admin_refused++;
        return;
    }
    d->admin_requests++;
    /* Room for the largest view (about 100 bytes a member); a reply over a datagram is sent in
     * fragments like any message. */
    size_t cap = NET_ADMIN_REPLY_HEADER_BYTES + 4096 + (size_t)DYN_MEMBERS_MAX * 100u;
    uint8_t *reply = malloc(cap);
    if (!reply)
        return;
    net_admin_encode_reply_header(op, request_id, dyn_node_id(d->node), reply);
    char *body = (char *)reply + NET_ADMIN_REPLY_HEADER_BYTES;
    size_t room = cap - NET_ADMIN_REPLY_HEADER_BYTES, n = 0;
    switch (op) {
    case NET_ADMIN_STATS: n = format_stats(d, body, room, 1); break;
    case NET_ADMIN_MEMBERS: n = format_members(d, body, room); break;
    case NET_ADMIN_MEMBER_SET: n = member_set(d, from, &args, body, room); break;
    case NET_ADMIN_PLAN: n = plan_change(d, from, &args, 0, body, room); break;
    case NET_ADMIN_COMMIT: n = plan_change(d, from, &args, 1, body, room); break;
    case NET_ADMIN_RING_STATUS: n = format_ring_status(d, body, room); break;
    }
    dyn_env_t env = net_uv_env(d->env);
    (void)dyn_env_send(&env, from, reply, NET_ADMIN_REPLY_HEADER_BYTES + n);
    free(reply);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    daemon_t *d = handle->data;
    if (signum == SIGUSR1) {
        log_stats(d);
        return;
    }
    say(NET_LOG_INFO, "%s received: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    d->stopping = 1;
    uv_stop(&d->loop);
}

/*
 * The interval flush runs on libuv's thread pool: an fsync of the map took 2 to 11 ms, once a
 * second, and on the loop it stalled every request in flight (a node's p99). What it flushes is
 * committed first, here; the work thread only syncs what is committed (net_lmdb_sync_committed,
 * safe beside this thread's writes). One flush at a time: a tick that finds one running waits.
 */
static void flush_work(uv_work_t *req)
{
    daemon_t *d = req->data;
    d->flush_status = net_lmdb_sync_committed(d->store);
}

static void flush_done(uv_work_t *req, int status)
{
    daemon_t *d = req->data;
    d->flushing = 0;
    int rc = status == 0 ? d->flush_status : DYN_EIO;
    if (rc == DYN_OK) {
        d->background_syncs++;
        d->flush_failed = 0;
    } else if (!d->flush_failed) {
        d->flush_failed = 1;
        say(NET_LOG_ERROR, "LMDB flush failed: %s", dyn_strerror(rc));
    }
}

static void on_flush_timer(uv_timer_t *handle)
{
    daemon_t *d = handle->data;
    if (d->flushing || commit_turn(d) != 0)
        return;
    d->flush_req.data = d;
    if (uv_queue_work(&d->loop, &d->flush_req, flush_work, flush_done) == 0)
        d->flushing = 1;
}

static void on_stats_timer(uv_timer_t *handle) { log_stats(handle->data); }

/* ---- start-up ---------------------------------------------------------------------------- */

typedef struct options {
    const char *config_path;
    const char *listen, *data_dir, *key_file;
    uint32_t id;
    int insecure, check_only;
} options_t;

static int parse_id(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || !*s || *end || *s == '-' || v < 1 || v >= NET_UV_CLIENT_BASE)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int copy_text(char *dst, const char *src, const char *what)
{
    if (strlen(src) >= NET_CONFIG_TEXT_MAX) {
        say(NET_LOG_ERROR, "%s is too long", what);
        return -1;
    }
    snprintf(dst, NET_CONFIG_TEXT_MAX, "%s", src);
    return 0;
}

/*
 * Load the file, apply the command line, and check everything that can be checked without
 * binding or opening the store. Fills *listen and *key; returns EXIT_OK or EXIT_USAGE.
 */
static int configure(const options_t *o, net_config_t *c, struct sockaddr_storage *listen,
                     uint8_t key[NET_SEAL_KEY_BYTES], int *insecure_key,
                     uint8_t client_key[NET_SEAL_KEY_BYTES], int *has_client_key)
{
    *has_client_key = 0;
    char err[512];
    if (net_config_load(o->config_path, c, err, sizeof(err)) != DYN_OK) {
        say(NET_LOG_ERROR, "%s", err);
        return EXIT_USAGE;
    }
    if (o->id)
        c->node_id = o->id;
    if ((o->listen && copy_text(c->listen, o->listen, "--listen")) ||
        (o->data_dir && copy_text(c->data_dir, o->data_dir, "--data-dir")) ||
        (o->key_file && copy_text(c->key_file, o->key_file, "--key-file")))
        return EXIT_USAGE;
    if (!c->node_id) {
        say(NET_LOG_ERROR, "%s: no node id: set node_id in the file or give --id N",
            o->config_path);
        return EXIT_USAGE;
    }
    const net_config_member_t *me = net_config_member(c, c->node_id);
    if (!me) {
        say(NET_LOG_ERROR, "%s: node id %u is not in 'nodes'", o->config_path, c->node_id);
        return EXIT_USAGE;
    }
    log_node_id = c->node_id;
    if (c->listen[0]) {
        if (net_uv_parse_addr(c->listen, listen, err, sizeof(err)) != DYN_OK) {
            say(NET_LOG_ERROR, "listen: %s", err);
            return EXIT_USAGE;
        }
    } else {
        *listen = me->addr;
        snprintf(c->listen, sizeof(c->listen), "%s", me->addr_text);
    }
    if (!c->data_dir[0])
        snprintf(c->data_dir, sizeof(c->data_dir), "dynamod-data-%u", c->node_id);
    if (net_config_key(c->key_file, key, insecure_key, err, sizeof(err)) != DYN_OK) {
        say(NET_LOG_ERROR, "%s", err);
        return EXIT_USAGE;
    }
    if (c->client_key_file[0]) {
        if (*insecure_key) {
            say(NET_LOG_ERROR, "client_key_file needs key_file: beside the public key a cluster "
                "without a key file uses, a client key would keep nobody out");
            return EXIT_USAGE;
        }
        if (net_seal_load_key_file(c->client_key_file, client_key, err, sizeof(err)) != DYN_OK) {
            say(NET_LOG_ERROR, "%s", err);
            return EXIT_USAGE;
        }
        if (sodium_memcmp(client_key, key, NET_SEAL_KEY_BYTES) == 0) {
            sodium_memzero(client_key, NET_SEAL_KEY_BYTES);
            say(NET_LOG_ERROR, "client_key_file holds the cluster key: the client key must "
                "differ, or clients could speak as nodes");
            return EXIT_USAGE;
        }
        *has_client_key = 1;
    }
    if (*insecure_key && !net_uv_addr_is_loopback((const struct sockaddr *)listen) &&
        !o->insecure) {
        say(NET_LOG_ERROR, "refusing to listen on %s without a key file: anyone who can reach "
            "it could read and write the data. Set key_file (or --key-file), or pass --insecure",
            c->listen);
        return EXIT_USAGE;
    }
    uint32_t *ids = malloc(c->member_count * sizeof(uint32_t));
    if (!ids)
        return EXIT_USAGE;
    size_t first = net_config_first_members(c, ids); /* spares join later */
    dyn_ring_t *ring = NULL;
    int rc = dyn_ring_create(&ring, &c->ring, ids, first);
    free(ids);
    dyn_ring_destroy(ring);
    if (rc != DYN_OK) {
        say(NET_LOG_ERROR, "%s: invalid ring (strategy S%d, %zu nodes, %u partitions, %u tokens "
            "per node): %s%s", o->config_path, (int)c->ring.strategy, first,
            c->ring.partitions, c->ring.tokens_per_node, dyn_strerror(rc),
            c->ring.strategy == DYN_STRATEGY_S3 && c->ring.partitions < first
                ? "; S3 needs at least one partition per node" : "");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* The seal epoch of this start: past the stored one, stored and flushed before any send. */
static int take_seal_epoch(daemon_t *d, uint64_t *epoch)
{
    dyn_storage_t st = net_lmdb_storage(d->store);
    const uint8_t *blob;
    size_t len;
    uint64_t last = 0;
    int rc = st.ops->get(st.ctx, DYN_SPACE_META, seal_epoch_key, sizeof(seal_epoch_key) - 1,
                         &blob, &len);
    if (rc == DYN_OK && len == 8) {
        for (int i = 0; i < 8; i++)
            last |= (uint64_t)blob[i] << (8 * i);
    } else if (rc != DYN_OK && rc != DYN_ENOTFOUND) {
        return rc;
    }
    *epoch = net_uv_next_epoch(last);
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(*epoch >> (8 * i));
    rc = st.ops->put(st.ctx, DYN_SPACE_META, seal_epoch_key, sizeof(seal_epoch_key) - 1, bytes, 8);
    return rc == DYN_OK ? net_lmdb_flush(d->store) : rc;
}

static const char *sync_name(net_sync_policy_t p)
{
    return p == NET_SYNC_EVERY_WRITE ? "every_write" : p == NET_SYNC_INTERVAL ? "interval" : "none";
}

static void close_cb(uv_handle_t *h) { (void)h; }

static int run(const options_t *o)
{
    daemon_t *d = calloc(1, sizeof(*d));
    if (!d) {
        say(NET_LOG_ERROR, "out of memory");
        return EXIT_RUNTIME;
    }
    struct sockaddr_storage listen;
    uint8_t key[NET_SEAL_KEY_BYTES], client_key[NET_SEAL_KEY_BYTES];
    int insecure_key = 0, has_client_key = 0;
    int status = configure(o, &d->config, &listen, key, &insecure_key, client_key,
                           &has_client_key);
    net_config_t *c = &d->config;
    if (status != EXIT_OK) {
        net_config_free(c);
        free(d);
        return status;
    }
    log_threshold = c->log_level;
    if (o->check_only) {
        sodium_memzero(key, sizeof(key));
        sodium_memzero(client_key, sizeof(client_key));
        printf("config OK: node %u of %zu, listen %s, data dir %s, n=%u r=%u w=%u, ring S%d "
               "with %u partitions, %s%s\n", c->node_id, c->member_count, c->listen, c->data_dir,
               c->node.n, c->node.r, c->node.w, (int)c->ring.strategy, c->ring.partitions,
               !insecure_key ? "key file loaded"
               : o->insecure ? "no key file (--insecure)"
                             : "no key file (loopback only)",
               has_client_key ? ", client key loaded" : "");
        net_config_free(c);
        free(d);
        return EXIT_OK;
    }

    char err[512];
    status = EXIT_RUNTIME;
    int loop_inited = 0;
    int lock_fd = -1;
    if (mkdir(c->data_dir, 0700) != 0 && errno != EEXIST) {
        say(NET_LOG_ERROR, "cannot create data directory %s: %s", c->data_dir, strerror(errno));
        goto out;
    }
    /* LMDB lets several processes share an environment; two nodes must never share one. */
    char lock_path[NET_CONFIG_TEXT_MAX + 16];
    snprintf(lock_path, sizeof(lock_path), "%s/dynamod.lock", c->data_dir);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        say(NET_LOG_ERROR, "data directory %s is %s", c->data_dir,
            lock_fd < 0 ? strerror(errno) : "in use by another dynamod");
        goto out;
    }
    net_lmdb_options_t lo = {.map_size_bytes = (size_t)c->map_size_mb << 20, .sync = c->sync};
    if (net_lmdb_open(c->data_dir, &lo, &d->store, err, sizeof(err)) != DYN_OK) {
        say(NET_LOG_ERROR, "%s", err);
        goto out;
    }
    uint64_t seal_epoch;
    int rc = take_seal_epoch(d, &seal_epoch);
    if (rc != DYN_OK) {
        say(NET_LOG_ERROR, "cannot store the seal epoch in %s: %s", c->data_dir,
            dyn_strerror(rc));
        goto out;
    }
    uint32_t *ids = malloc(c->member_count * sizeof(uint32_t));
    net_uv_peer_t *peers = calloc(c->member_count, sizeof(*peers));
    if (!ids || !peers) {
        free(ids);
        free(peers);
        say(NET_LOG_ERROR, "out of memory");
        goto out;
    }
    /* Every node of the file is a peer (a spare must be reachable once it joins); only the
     * first members make the ring. */
    for (size_t i = 0; i < c->member_count; i++) {
        peers[i].id = c->members[i].id;
        peers[i].addr = c->members[i].addr;
    }
    size_t first = net_config_first_members(c, ids);
    rc = dyn_ring_create(&d->ring, &c->ring, ids, first);
    free(ids);
    DYN_ASSERT(rc == DYN_OK); /* configure() built the same ring */

    uv_loop_init(&d->loop);
    loop_inited = 1;
    d->has_client_key = has_client_key;
    net_uv_config_t uc = {
        .loop = &d->loop, .bind_addr = (const struct sockaddr *)&listen, .peers = peers,
        .peer_count = c->member_count, .cluster = c->cluster, .key = key,
        .key_id = NET_UV_KEY_ID_CLUSTER, .client_key = has_client_key ? client_key : NULL,
        .client_key_id = NET_UV_KEY_ID_CLIENT,
        .sender_id = c->node_id, .sender_epoch = seal_epoch, .senders_max = c->senders_max,
        .clients_max = c->clients_max, .socket_buffer_bytes = (int)c->socket_buffer_kb * 1024,
    };
    net_uv_handler_t handler = {.on_message = on_message, .on_timer = on_timer,
                                .trace = on_trace, .on_drop = on_drop,
                                .before_send = before_send, .arg = d};
    rc = net_uv_create(&uc, &handler, &d->env, err, sizeof(err));
    free(peers);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(client_key, sizeof(client_key));
    if (rc != DYN_OK) {
        say(NET_LOG_ERROR, "%s", err);
        goto out_loop;
    }

    d->timing.slots = calloc(TIMING_SLOTS, sizeof(*d->timing.slots));
    d->timing.get = net_hist_create();
    d->timing.put = net_hist_create();
    if (!d->timing.slots || !d->timing.get || !d->timing.put) {
        say(NET_LOG_ERROR, "out of memory for the latency histograms");
        goto out_loop;
    }
    dyn_node_config_t nc = c->node;
    nc.id = c->node_id;
    nc.epoch = 0; /* a new one, past the stored one */
    randombytes_buf(&nc.seed, sizeof(nc.seed));
    d->node = dyn_node_create(&nc, d->ring, net_lmdb_storage(d->store), net_uv_env(d->env));
    if (!d->node) {
        say(NET_LOG_ERROR, "cannot start the node: invalid node settings or a storage failure "
            "reading %s", c->data_dir);
        goto out_loop;
    }
    /* The member list of the cluster file, spares left out, is this node's first view; gossip
     * keeps it after (a spare enters it when a commit makes it a member). */
    dyn_membership_t *view = dyn_membership_create();
    int merged = view ? DYN_OK : DYN_ENOMEM;
    for (size_t i = 0; view && merged >= 0 && i < c->member_count; i++) {
        if (c->members[i].spare)
            continue;
        dyn_member_t m = {.id = c->members[i].id, .status = DYN_MEMBER_VALID,
                          .zone = c->members[i].zone, .version = 1};
        size_t length = strlen(c->members[i].addr_text);
        if (length <= DYN_MEMBER_ADDR_MAX) { /* an address too long for a view stays local */
            memcpy(m.addr, c->members[i].addr_text, length);
            m.addr_length = (uint8_t)length;
        }
        merged = dyn_membership_apply(view, &m);
    }
    if (merged >= 0)
        merged = dyn_node_merge_members(d->node, view);
    dyn_membership_destroy(view);
    if (merged < 0) {
        say(NET_LOG_ERROR, "cannot record the member list: %s", dyn_strerror(merged));
        goto out_loop;
    }
    dyn_node_start(d->node, net_uv_now(d->env));

    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    uv_signal_init(&d->loop, &d->sig_usr1);
    d->sig_term.data = d->sig_int.data = d->sig_usr1.data = d;
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    uv_signal_start(&d->sig_usr1, on_signal, SIGUSR1);
    uv_timer_init(&d->loop, &d->flush_timer);
    uv_timer_init(&d->loop, &d->stats_timer);
    d->flush_timer.data = d->stats_timer.data = d;
    if (c->sync == NET_SYNC_INTERVAL)
        uv_timer_start(&d->flush_timer, on_flush_timer, c->sync_interval_ms, c->sync_interval_ms);
    if (c->stats_interval_ms)
        uv_timer_start(&d->stats_timer, on_stats_timer, c->stats_interval_ms,
                       c->stats_interval_ms);

    struct sockaddr_storage bound;
    net_uv_local_addr(d->env, &bound);
    char bound_text[NET_UV_ADDR_TEXT_MAX];
    net_uv_format_addr((const struct sockaddr *)&bound, bound_text, sizeof(bound_text));
    say(NET_LOG_INFO, "listening on %s: cluster '%s', %zu members, epoch %u, n=%u r=%u w=%u, "
        "data %s (sync %s)%s", bound_text, c->cluster, c->member_count, dyn_node_epoch(d->node),
        c->node.n, c->node.r, c->node.w, c->data_dir, sync_name(c->sync),
        insecure_key ? ", no key file: datagrams are not authenticated" : "");

    uv_run(&d->loop, UV_RUN_DEFAULT);

    log_stats(d);
    status = d->stopping ? EXIT_OK : EXIT_RUNTIME;
    uv_close((uv_handle_t *)&d->sig_term, close_cb);
    uv_close((uv_handle_t *)&d->sig_int, close_cb);
    uv_close((uv_handle_t *)&d->sig_usr1, close_cb);
    uv_close((uv_handle_t *)&d->flush_timer, close_cb);
    uv_close((uv_handle_t *)&d->stats_timer, close_cb);
out_loop:
    dyn_node_destroy(d->node);
    net_uv_destroy(d->env);
    if (loop_inited) {
        uv_run(&d->loop, UV_RUN_DEFAULT);
        uv_loop_close(&d->loop);
    }
out:
    if (d->store) {
        rc = net_lmdb_close(d->store);
        if (rc != DYN_OK) {
            say(NET_LOG_ERROR, "final LMDB flush failed: %s", dyn_strerror(rc));
            status = EXIT_RUNTIME;
        }
    }
    if (lock_fd >= 0)
        close(lock_fd);
    dyn_ring_destroy(d->ring);
    if (status == EXIT_OK)
        say(NET_LOG_INFO, "stopped");
    net_config_free(c);
    free(d->timing.slots);
    net_hist_destroy(d->timing.get);
    net_hist_destroy(d->timing.put);
    free(d);
    return status;
}

int main(int argc, char **argv)
{
    options_t o = {0};
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},   {"id", required_argument, NULL, 'i'},
        {"listen", required_argument, NULL, 'l'},   {"data-dir", required_argument, NULL, 'd'},
        {"key-file", required_argument, NULL, 'k'}, {"insecure", no_argument, NULL, 'I'},
        {"check-config", no_argument, NULL, 'C'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:i:l:d:k:hV", longs, NULL)) != -1) {
        switch (opt) {
        case 'c': o.config_path = optarg; break;
        case 'i':
            if (parse_id(optarg, &o.id) != 0) {
                fprintf(stderr, "dynamod: --id must be a node id from 1 to %u, got '%s'\n",
                        NET_UV_CLIENT_BASE - 1, optarg);
                return EXIT_USAGE;
            }
            break;
        case 'l': o.listen = optarg; break;
        case 'd': o.data_dir = optarg; break;
        case 'k': o.key_file = optarg; break;
        case 'I': o.insecure = 1; break;
        case 'C': o.check_only = 1; break;
        case 'h': usage(stdout); return EXIT_OK;
        case 'V': printf("dynamod %s\n", DYN_VERSION_STRING); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dynamod: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!o.config_path) {
        fprintf(stderr, "dynamod: --config FILE is required\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    /* A peer that vanished must not kill us with SIGPIPE (UDP does not raise it, but be sure). */
    signal(SIGPIPE, SIG_IGN);
    return run(&o);
}
