/*
 * status.h: the error codes every dynamo-c module returns, and the always-on assertion.
 *
 * Operating errors (a malformed datagram, a timeout, a full table) are returned as negative
 * dyn_status_t values and named by dyn_strerror(). Broken invariants are programmer errors and
 * stop the process through DYN_ASSERT, which stays compiled in for release builds: a simulator
 * that keeps running past a broken invariant produces results nobody should trust.
 */
#ifndef DYN_STATUS_H
#define DYN_STATUS_H

#include <stdint.h>

typedef enum dyn_status {
    DYN_OK = 0,
    DYN_ENOMEM = -1,      /* an allocation failed */
    DYN_EFULL = -2,       /* a bounded table or queue is full (the bound is named in the message) */
    DYN_ETIMEDOUT = -3,   /* the request deadline passed before a quorum answered */
    DYN_ENOQUORUM = -4,   /* too many replicas answered with errors to reach R or W */
    DYN_EBADMSG = -5,     /* bytes that do not decode as a valid message */
    DYN_ENOTFOUND = -6,   /* no live version of the key (absent or only tombstones) */
    DYN_EINVAL = -7,      /* an argument outside its documented range */
    DYN_ETOOBIG = -8,     /* a key, value, context or message over its size bound */
    DYN_ESIBLINGS = -9,   /* the write would leave more siblings than siblings_max */
    DYN_EVERSION = -10,   /* a message of a wire format version we do not speak */
    DYN_EUNAVAIL = -11,   /* fewer reachable nodes than the request needs */
    DYN_ECORRUPT = -12,   /* a stored record failed its integrity check (it is never served) */
    DYN_EIO = -13,        /* the system or the storage engine failed (the caller says how) */
    DYN_EAUTH = -14,      /* a datagram failed authentication */
    DYN_ENOKEY = -15,     /* a datagram sealed under a key id this node does not hold */
    DYN_ECLUSTER = -16,   /* a datagram addressed to another cluster */
    DYN_EREPLAY = -17,    /* a datagram already received, or too old for the replay window */
    DYN_EMOVED = -18,     /* the key's owners changed under the request (two nodes' rings
                             disagree while a membership change spreads); retry */
} dyn_status_t;

/* A static English description of a status code; never NULL, also for unknown codes. */
const char *dyn_strerror(int status);

/*
 * Called when DYN_ASSERT fails. Each host (simulator, daemon, tests) links exactly one definition,
 * so the simulator can print the seed and the replay line before aborting. Must not return.
 */
_Noreturn void dyn_assert_fail(const char *file, int line, const char *expression);

#define DYN_ASSERT(cond) \
    ((cond) ? (void)0 : dyn_assert_fail(__FILE__, __LINE__, #cond))

/*
 * For O(n) validations of whole structures (a full clock, a version's clock against its dot):
 * compiled in when DYN_DEBUG_CHECKS is defined (debug and sanitizer builds, which run the whole
 * test suite), out of optimised builds. Constant-time invariants use DYN_ASSERT, always on.
 */
#ifdef DYN_DEBUG_CHECKS
#define DYN_DEBUG_ASSERT(cond) DYN_ASSERT(cond)
#else
#define DYN_DEBUG_ASSERT(cond) ((void)0)
#endif

#define DYN_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

#endif
