/*
 * config.h: the cluster file dynamod and dynctl read: a Lua 5.4 script that sets globals.
 *
 * One file describes a cluster; every node and client may read the same one (dynamod picks its
 * own entry with --id). The script runs in a sandbox (base, string, table and math libraries, no
 * io, os, require, load or dofile) with its own global table, and every global it sets must be a
 * key listed below: a misspelt key is an error, never silently ignored. Keys and defaults:
 *
 *   cluster            "dynamo"     the cluster's name; datagrams of another name are refused
 *   node_id            (none)       this node's id in `nodes` (dynamod; --id overrides)
 *   nodes              (required)   { {id = 1, addr = "127.0.0.1:7001"}, ... }: the static member
 *                                   list (ids 1 .. 2^31-1, numeric addresses), the same on every
 *                                   node. Optional per node: zone = Z (0..65535, default 0:
 *                                   `dynctl plan` warns when a key's N replicas would span
 *                                   fewer than N zones) and spare = true (the node runs, but is
 *                                   outside the first ring and view until `dynctl commit
 *                                   --join ID` makes it a member)
 *   listen             the node's addr in `nodes`   address to bind (dynamod; --listen overrides)
 *   data_dir           "dynamod-data-<id>"          LMDB directory, created if missing (--data-dir)
 *   key_file           (none)       64 hex digits: the cluster key. Without one, datagrams are
 *                                   sealed under a fixed public key that authenticates nothing, and
 *                                   dynamod refuses a non-loopback address unless --insecure
 *   client_key_file    (none)       64 hex digits: the client key (needs key_file). When set,
 *                                   clients seal under it and nodes accept clients only under
 *                                   it, so clients need not hold the cluster key (uv_env.h)
 *   n, r, w            3, 2, 2      replication factor and quorums
 *   request_timeout_ms 1000         a coordinator gives up on replicas after this
 *   strategy           "S3"         ring partitioning: "S1", "S2" or "S3"
 *   partitions         64           Q for S2 and S3 (at least the node count for S3)
 *   tokens_per_node    8            T for S1 and S2
 *   ring_seed          1            draws of the ring; must be the same on every node and client
 *   sync               "every_write"  LMDB sync policy: "every_write", "interval" or "none"
 *   sync_interval_ms   1000         flush period under "interval"
 *   map_size_mb        1024         the largest the data file may grow (it is this size from
 *                                   the start as a sparse file: `du` shows what it holds)
 *   sync_writes        "none"       replicas that fsync before acknowledging: "none", "one", "all"
 *   resolution         "vclock"     "vclock" (siblings) or "lww" (the last-write-wins baseline)
 *   vclock_threshold   10           clock truncation threshold
 *   siblings_max       100          siblings a client write may leave
 *   requests_pending_max 65536      requests a node coordinates or forwards at once
 *   hinted_handoff     true         sloppy quorum and hinted handoff
 *   hints_max          100000       keys a node holds hints for
 *   handoff_batch      64           hint sets handed off per tick
 *   tick_ms            200          probes of suspected peers and handoff rounds
 *   anti_entropy       true         Merkle-tree exchanges between replicas
 *   merkle_depth       8            levels below the root (1 .. 16)
 *   ae_interval_ms     1000         one exchange per node per interval
 *   tombstone_grace_ms 10000        tombstones are collected after this once every owner holds
 *                                   them; false: never
 *   senders_max        65536        replay windows a node keeps (one per node or client process
 *                                   that ever wrote to it since its start)
 *   clients_max        4096         client addresses a node can answer at once
 *   socket_buffer_kb   4096         SO_RCVBUF / SO_SNDBUF (the kernel may cap it)
 *   stats_interval_ms  0            log a stats line this often; 0: only at exit and on SIGUSR1
 *   log_level          "info"       "info", "warn" or "error"
 *
 * Ownership: net_config_load fills a caller-owned net_config_t; net_config_free frees the member
 * array it allocated.
 */
#ifndef NET_CONFIG_H
#define NET_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/node.h"
#include "core/ring.h"
#include "net/lmdb_store.h"
#include "net/seal.h"

#define NET_CONFIG_TEXT_MAX 512u
#define NET_CONFIG_MEMBERS_MAX 1024u

typedef struct net_config_member {
    uint32_t id;
    char addr_text[NET_CONFIG_TEXT_MAX];
    struct sockaddr_storage addr;
    uint16_t zone;
    uint8_t spare; /* not in the first ring or view: joins by a committed plan */
} net_config_member_t;

typedef enum net_log_level {
    NET_LOG_INFO = 0,
    NET_LOG_WARN = 1,
    NET_LOG_ERROR = 2,
} net_log_level_t;

typedef struct net_config {
    char cluster[NET_CONFIG_TEXT_MAX];
    uint32_t node_id;                  /* 0: not set */
    char listen[NET_CONFIG_TEXT_MAX];  /* "": the member's addr */
    char data_dir[NET_CONFIG_TEXT_MAX];/* "": the default */
    char key_file[NET_CONFIG_TEXT_MAX];/* "": none */
    char client_key_file[NET_CONFIG_TEXT_MAX]; /* "": none */
    net_config_member_t *members;
    size_t member_count;
    dyn_ring_config_t ring;
    dyn_node_config_t node;            /* id, epoch and seed are set by dynamod */
    net_sync_policy_t sync;
    uint32_t sync_interval_ms;
    uint64_t map_size_mb;
    uint32_t senders_max, clients_max, socket_buffer_kb, stats_interval_ms;
    net_log_level_t log_level;
} net_config_t;

/* Every default above; no members. */
void net_config_defaults(net_config_t *config);

/*
 * Run the file and fill *config (defaults first). DYN_OK; DYN_ENOTFOUND / DYN_EIO when it cannot
 * be read; DYN_EINVAL for a Lua error, an unknown key, a value of the wrong type or out of range,
 * a bad or duplicate member; `err` says which, with the file name (and line for Lua errors).
 * Cross-checks that need the command line too (node_id in `nodes`, n <= members) are the caller's.
 */
int net_config_load(const char *path, net_config_t *config, char *err, size_t errlen);
void net_config_free(net_config_t *config);

/* The nodes that are members from the start (not spares): their ids into ids[] (room for
 * member_count; NULL: only count them), and how many. They make the first ring and view. */
size_t net_config_first_members(const net_config_t *config, uint32_t *ids);

/* The member with this id (spares included), or NULL. */
const net_config_member_t *net_config_member(const net_config_t *config, uint32_t id);

/*
 * The cluster key: read from key_file (seal.h's format), or, when key_file is NULL or "", the
 * fixed public key a cluster without a key file uses, which authenticates nothing (*insecure is
 * then set). DYN_OK or the net_seal_load_key_file error, with `err` naming the file.
 */
int net_config_key(const char *key_file, uint8_t key[NET_SEAL_KEY_BYTES], int *insecure,
                   char *err, size_t errlen);

/* Parse "one", "quorum", "all" (given n) or a number 1..DYN_N_MAX; 0 on error. */
uint8_t net_config_parse_quorum(const char *text, uint8_t n);

#endif
