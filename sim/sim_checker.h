/*
 * sim_checker.h: the lost-write, convergence and honest-outcome checkers (design.md section 4).
 *
 * Every acknowledged put and delete is logged with its key and the dot that names it. A check
 * reads, for each logged key, the sibling sets stored by the key's replicas (its preference list
 * plus the first fallbacks, 2N nodes at most: their data, and the hints they keep for the key's
 * owners, straight from their stores: the checker sees what a disk holds, not what a read would
 * return) and sorts each write into one of three outcomes:
 *   present     a stored version carries its dot;
 *   superseded  a stored version's past covers its dot (a later write that saw it replaced it);
 *   lost        neither: the write was acknowledged, and the cluster has forgotten it.
 * Run it after faults have healed and background repair has finished; before that, a write held
 * only by a replica outside the checked set may be reported lost.
 *
 * Ownership: the checker copies keys into its own arena; reports borrow the checker's memory
 * until the next check.
 */
#ifndef SIM_CHECKER_H
#define SIM_CHECKER_H

#include <stddef.h>
#include <stdint.h>

#include "core/client.h"
#include "core/node.h"
#include "core/siblings.h"
#include "core/vclock.h"

typedef struct sim_world sim_world_t;
typedef struct sim_checker sim_checker_t;

typedef struct sim_lost_write {
    const uint8_t *key;
    uint32_t key_length;
    dyn_vclock_entry_t dot;
    dyn_op_kind_t kind;
    dyn_time_us acked_us;
} sim_lost_write_t;

#define SIM_LOST_LISTED 20 /* lost writes kept with details; all are counted */

typedef struct sim_lost_report {
    uint64_t checked, present, superseded, lost;
    uint64_t reaped;   /* of the superseded: covered by tombstones since collected */
    uint64_t resurrected; /* stored live versions (any replica or hint) that a collected set
                             covered: deleted values come back */
    uint64_t dots_reused; /* dots naming two different writes of a key: among acknowledged
                             writes, or among the stored copies' versions. One actor named two
                             writes alike, so replicas keep one of them only. Counted in lost. */
    size_t listed;
    sim_lost_write_t first[SIM_LOST_LISTED];
} sim_lost_report_t;

sim_checker_t *sim_checker_create(void);
void sim_checker_destroy(sim_checker_t *checker);

/* Stop or resume logging (benchmarks log nothing). On by default. */
void sim_checker_set_enabled(sim_checker_t *checker, int enabled);
int sim_checker_enabled(const sim_checker_t *checker);
/* Log one acknowledged write. Returns 0, or -1 if memory ran out (the write is then unchecked). */
int sim_checker_ack(sim_checker_t *checker, const uint8_t *key, size_t key_length,
                    const dyn_vclock_entry_t *dot, dyn_op_kind_t kind, dyn_time_us acked_us);
uint64_t sim_checker_logged(const sim_checker_t *checker);
/*
 * A node is about to collect the tombstone-only set it stores for `key` (DYN_TRACE_REAPED): keep
 * its dots and pasts, so writes those tombstones covered count as superseded, not lost, once the
 * key is gone from every store. Returns 0, or -1 if memory ran out.
 */
int sim_checker_reaped(sim_checker_t *checker, sim_world_t *world, uint32_t node,
                       const uint8_t *key, size_t key_length);

/* Check every logged write against the world's stores. Returns 0, or -1 on allocation failure. */
int sim_checker_lost_writes(sim_checker_t *checker, sim_world_t *world, sim_lost_report_t *out);

/*
 * Honest outcomes: a put the cluster reported failed must not take effect. Workload puts that
 * fail are logged with a hash of their value (workload values are unique: their first bytes
 * count the workload's operations). A definite failure (any status but a timeout: refused, no
 * quorum, unavailable...) promises the write had no effect, so the checker flags it when a later
 * get returns its value or when a replica's store holds it. A timeout promises nothing: the write
 * may land on some replicas and surface later, as in any Dynamo; those are counted, as the
 * fraction of indeterminate writes that took effect after all, and not flagged.
 * Puts made by scenario code are not logged: their values ("milk") need not be unique.
 */
typedef struct sim_dishonest {
    const uint8_t *key;
    uint32_t key_length;
    int32_t status;          /* what the client was told */
    dyn_time_us failed_us;   /* when it was told */
    dyn_time_us seen_us;     /* when a get returned the value; 0 if found only in a store */
} sim_dishonest_t;

#define SIM_DISHONEST_LISTED 20
typedef struct sim_honesty_report {
    uint64_t definite, definite_appeared;         /* appeared: a violation */
    uint64_t indeterminate, indeterminate_appeared;
    size_t listed;
    sim_dishonest_t first[SIM_DISHONEST_LISTED];
} sim_honesty_report_t;

/* Log one failed put with value hash XXH3_64bits(value). Returns 0, or -1 if memory ran out. */
int sim_checker_failed(sim_checker_t *checker, const uint8_t *key, size_t key_length,
                       uint64_t value_hash, int32_t status, dyn_time_us failed_us);
/* A successful get of key returned values at time now: note any definitely failed put among them. */
void sim_checker_observed(sim_checker_t *checker, const uint8_t *key, size_t key_length,
                          const dyn_siblings_t *values, dyn_time_us now);
/* Check every logged failed put against the gets seen so far and the replicas' stores. */
int sim_checker_honesty(sim_checker_t *checker, sim_world_t *world, sim_honesty_report_t *out);

#define SIM_DIVERGENT_LISTED 20

typedef struct sim_convergence_report {
    uint64_t keys;        /* distinct keys held by any node */
    uint64_t divergent;   /* keys whose N replicas do not hold identical version sets */
    size_t listed;
    struct {
        uint8_t key[64];  /* truncated copy, for the report */
        uint32_t key_length;
        uint32_t versions[DYN_N_MAX]; /* per replica, in preference order; 0 if absent */
        uint32_t replicas;
        /* The first dots each replica holds, in canonical order, and their value lengths. */
        dyn_vclock_entry_t dots[DYN_N_MAX][16];
        uint32_t value_lengths[DYN_N_MAX][16];
    } first[SIM_DIVERGENT_LISTED];
} sim_convergence_report_t;

/*
 * Convergence: for every key any node holds, its N replicas (the preference list) hold
 * byte-identical sibling sets, a missing key counting as the empty set. Sets are encoded
 * canonically, so equal sets are equal bytes. Returns 0, or -1 on allocation failure.
 */
int sim_checker_convergence(sim_world_t *world, sim_convergence_report_t *out);

/* Call each(arg, key, length) for every divergent key, in key order (the key is borrowed). */
typedef void (*sim_key_fn)(void *arg, const uint8_t *key, size_t key_length);
int sim_checker_divergent_keys(sim_world_t *world, sim_key_fn each, void *arg);

#endif
