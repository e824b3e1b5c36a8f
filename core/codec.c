/*
 * codec.c: the wire format of dynamo-c messages and stored sibling sets.
 *
 * WIRE FORMAT, version 4
 * ======================
 *
 * Notation. u8 is one raw byte. uvarint is an unsigned LEB128 varint: 7 bits per byte, least
 * significant group first, high bit set on every byte but the last. A uvarint is at most 10 bytes,
 * must be minimal (a last byte of 0x00 after at least one other byte is rejected) and must fit the
 * width of its field (u32 fields reject values over 2^32 - 1, the 10th byte of a u64 may only be
 * 0x00 or 0x01 and 0x00 is non-minimal). svarint is a zigzag-encoded int32 written as a uvarint
 * (0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...). u32le and u64le are 4 and 8 raw bytes, least
 * significant first. bytes[n] is n raw bytes.
 *
 * Header (every message):
 *   [0] u8 magic    0xD7 (DYN_WIRE_MAGIC)        wrong magic            -> DYN_EBADMSG
 *   [1] u8 version  4    (DYN_WIRE_VERSION)      magic right, version
 *                                                other than 4           -> DYN_EVERSION
 *   [2] u8 type     dyn_msg_type_t, 1..14        anything else          -> DYN_EBADMSG
 *
 * Shared fields:
 *   request_id   uvarint (u64)
 *   status       svarint, DYN_OK (0) or a negative status in [WIRE_STATUS_MIN, -1] = [-255, -1]
 *   coordinator  uvarint (u32)
 *   opts         u8 n, u8 r, u8 w, u8 flags, u8 pr, u8 pw
 *                                                  flags only DYN_REQ_FLAGS_ALL_ bits
 *   hint         uvarint (u32): the owner a fallback stands in for, 0 for none
 *   key          uvarint key_length (1..DYN_KEY_MAX), bytes[key_length]
 *   put_flags    u8                                only DYN_VERSION_TOMBSTONE
 *   value        uvarint value_length (0..DYN_VALUE_MAX), bytes[value_length]
 *   vclock       uvarint count (0..DYN_VCLOCK_MAX), then count times:
 *                  uvarint node (u32), u32le epoch, uvarint counter (u64, >= 1),
 *                  u64le timestamp_us
 *                entries strictly increasing by (node, epoch): no duplicates, no disorder
 *   version      u8 flags (only DYN_VERSION_TOMBSTONE), uvarint timestamp_us (u64),
 *                dot: uvarint node (u32), uvarint epoch (u32), uvarint counter (u64, >= 1),
 *                vclock (the causal past; it must not cover the dot), value;
 *                a tombstone has value_length 0
 *   siblings     uvarint count (0..DYN_SIBLINGS_MAX), then count times: version
 *                (the set is stored and sent already reconciled, so it is decoded verbatim)
 *
 * Messages, fields in order after the header:
 *   1 CLIENT_GET         request_id, opts, key
 *   2 CLIENT_PUT         request_id, opts, key, put_flags, vclock context, value
 *                        (put_flags has DYN_VERSION_TOMBSTONE for a delete, whose value is empty)
 *   3 CLIENT_REPLY       request_id, status, coordinator, written dot (node, epoch, counter;
 *                        all 0 for none), vclock context, siblings
 *   4 REPLICA_GET        request_id, hint, key
 *   5 REPLICA_GET_REPLY  request_id, status, siblings
 *   6 REPLICA_PUT        request_id, u8 replica flags (DYN_REPLICA_SYNC, _REPAIR), hint, key,
 *                        version
 *   7 REPLICA_PUT_REPLY  request_id, status
 *   8 HANDOFF            request_id, key, siblings
 *   9 PING               request_id
 *  10 PONG               request_id
 *  11 AE_HASHES          request_id, uvarint range (u32), u8 level (0..16), uvarint count
 *                        (1..DYN_AE_LIST_MAX), count times: uvarint index (u32, < 2^level), u64le
 *                        hash; indices strictly increasing
 *  12 AE_KEYS            request_id, uvarint range, uvarint leaf count (0..DYN_AE_LIST_MAX),
 *                        leaves as uvarints (u32) strictly increasing, uvarint key count
 *                        (0..DYN_AE_KEYS_MAX), count times: key, u64le print
 *  13 AE_PULL            request_id, uvarint range, uvarint key count (1..DYN_AE_KEYS_MAX), keys
 *  14 AE_PUSH            request_id, key, siblings
 *  15 REAP               request_id, u8 phase (0 ask, 1 commit), key, u64le print
 *  16 REAP_REPLY         request_id, status
 *  17 GOSSIP             request_id, u8 flags (DYN_GOSSIP_*), u64le digest, and with
 *                        DYN_GOSSIP_STATE the view (membership encoding below) to the end
 *  18 PING_REQ           request_id, uvarint target (u32, >= 1)
 *
 * The last field must end exactly at the end of the buffer (trailing bytes -> DYN_EBADMSG), and a
 * whole message is at most DYN_MSG_MAX bytes (longer input -> DYN_EBADMSG, longer encoding ->
 * DYN_ETOOBIG). A stored sibling set (dyn_codec_*_siblings) and a client context
 * (dyn_codec_*_vclock) are the bare `siblings` and `vclock` encodings above, also with no trailing
 * bytes.
 *
 * Because every field has exactly one accepted encoding, a message that decodes re-encodes to the
 * same bytes; the tests and the fuzz target check exactly that.
 *
 * Design: encoding first validates every field and computes a cheap upper bound on the size (from
 * counts and lengths only, no per-varint work); when the buffer holds the bound, which is the
 * normal case, it writes straight away, otherwise it computes the exact size and refuses a buffer
 * below it. Either way the writer has no capacity tests in its inner loops and never writes a
 * partial message or a byte past the encoding. Decoding walks a bounds-checked cursor; each read
 * checks the remaining length before touching a byte, and lengths are compared against what
 * remains before any pointer arithmetic.
 */
#include "core/codec.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* Statuses travel as small negative numbers; anything below this is corruption, not a status. */
#define WIRE_STATUS_MIN (-255)
/* The smallest encodings, used to refuse counts the remaining bytes cannot possibly hold. */
#define MIN_VERSION_SIZE 7u      /* flags, timestamp, dot (3), clock count, value length */
#define HEADER_SIZE 3u
#define OPTS_SIZE 6u                      /* n, r, w, flags, pr, pw */
#define VARINT_MAX_BYTES 10u
/* Upper bounds on encoded fields, for the no-measure fast path of the encoder. */
#define U32_BOUND 5u                      /* a u32 varint */
#define U64_BOUND 10u                     /* a u64 varint */
#define KEY_LENGTH_BOUND 2u               /* a varint up to DYN_KEY_MAX */
#define VALUE_LENGTH_BOUND 3u             /* a varint up to DYN_VALUE_MAX */
#define STATUS_BOUND 2u                   /* a zigzag status down to WIRE_STATUS_MIN */
#define SIBLING_COUNT_BOUND 2u            /* a varint up to DYN_SIBLINGS_MAX */
/*
 * A clock entry's epoch and timestamp are random or wall-clock sized, so as varints they took 5
 * and 7-8 bytes anyway; fixed width decodes without a varint's work (measured: the clock decoder
 * was the simulator's costliest function).
 */
#define EPOCH_WIDTH 4u
#define TIMESTAMP_WIDTH 8u
#define ENTRY_BOUND (U32_BOUND + EPOCH_WIDTH + U64_BOUND + TIMESTAMP_WIDTH)

DYN_STATIC_ASSERT(DYN_MSG_TYPE_MAX_ == 18, "the switches below handle eighteen message types");
DYN_STATIC_ASSERT(DYN_VERSION_TOMBSTONE <= 0xFF && DYN_REQ_FLAGS_ALL_ <= 0xFF,
                  "flags travel as single bytes");
DYN_STATIC_ASSERT(DYN_KEY_MAX < (1u << 14) && DYN_VALUE_MAX < (1u << 21) &&
                      DYN_SIBLINGS_MAX < (1u << 14) && DYN_VCLOCK_MAX < (1u << 7) &&
                      -2 * WIRE_STATUS_MIN < (1 << 14),
                  "the *_BOUND constants above cover these limits");

/* Propagate a failing status; every helper returns DYN_OK or the status to hand back. */
#define TRY(expr)                     \
    do {                              \
        int try_rc_ = (expr);         \
        if (try_rc_ != DYN_OK)        \
            return try_rc_;           \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Varints                                                                                      */

static inline size_t varint_size(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    /* Indexed by leading zeros: the bytes needed for the remaining 64 - clz bits, 7 per byte. */
    static const uint8_t size_by_clz[64] = {
        10, 9, 9, 9, 9, 9, 9, 9, 8, 8, 8, 8, 8, 8, 8, 7, /* clz  0..15 */
        7,  7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, 6, 5, 5, 5, /* clz 16..31 */
        5,  5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, /* clz 32..47 */
        3,  3, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, /* clz 48..63 */
    };
    return size_by_clz[__builtin_clzll(v | 1u)];
#else
    size_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        n++;
    }
    return n;
#endif
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80u) {
        *p++ = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Fixed-width little-endian fields, assembled byte by byte so host byte order does not matter. */
static inline uint8_t *put_le(uint8_t *p, uint64_t v, unsigned width)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + width;
}

static inline uint32_t zigzag32(int32_t s)
{
    /* Written without shifting a negative number, which C leaves implementation-defined. */
    return s < 0 ? ((uint32_t)-(s + 1) << 1) | 1u : (uint32_t)s << 1;
}

/* The decoding cursor: p advances towards end and never passes it. */
typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
} reader_t;

static inline size_t remaining(const reader_t *r) { return (size_t)(r->end - r->p); }

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define VARINT_WORDWISE 1
/* Pack the low 7 bits of each byte of x together: three mask-and-shift steps, no loop. */
static inline uint64_t pack7(uint64_t x)
{
    x &= 0x7F7F7F7F7F7F7F7Full;
    x = (x & 0x007F007F007F007Full) | ((x & 0x7F007F007F007F00ull) >> 1);
    x = (x & 0x00003FFF00003FFFull) | ((x & 0x3FFF00003FFF0000ull) >> 2);
    return (x & 0x000000000FFFFFFFull) | ((x & 0x0FFFFFFF00000000ull) >> 4);
}
#endif

/*
 * A varint of two or more bytes (or a truncated one); get_varint() handles the one-byte case.
 * Forced inline: as a call it costs more than it does (measured ~10% on a whole decode).
 */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int get_varint_long(reader_t *r, uint64_t *out)
{
    const uint8_t *p = r->p;
    size_t avail = remaining(r);
    if (avail == 0)
        return DYN_EBADMSG;
#ifdef VARINT_WORDWISE
    /*
     * Timestamps (up to 8 bytes for wall-clock microseconds) sit in every clock entry and request
     * ids grow past one byte, so multi-byte varints are common: decode up to 8 bytes at once, with
     * no per-byte branch. The lowest clear high bit marks the last byte.
     */
    uint64_t x, stops = 0;
    if (avail >= 8) {
        memcpy(&x, p, 8);
        stops = ~x & 0x8080808080808080ull;
        if (stops == 0) {
            /*
             * 9 or 10 bytes. Request ids are (generation << 32 | slot) with generations of up to
             * 31 bits, so nearly every request id is one: not worth a byte loop. The 9th byte
             * holds bits 56..62; a 10th may only be 0x01 (bit 63), as the byte loop below rules.
             */
            if (avail < 9)
                return DYN_EBADMSG; /* ran out of bytes mid-varint */
            uint64_t v = pack7(x);
            uint8_t b8 = p[8];
            if (b8 < 0x80u) {
                if (b8 == 0)
                    return DYN_EBADMSG; /* a trailing zero group: non-minimal */
                *out = v | (uint64_t)b8 << 56;
                r->p = p + 9;
                return DYN_OK;
            }
            if (avail < VARINT_MAX_BYTES || p[9] != 1u)
                return DYN_EBADMSG; /* truncated, overflowing, too long or non-minimal */
            *out = v | (uint64_t)(b8 & 0x7Fu) << 56 | 1ull << 63;
            r->p = p + VARINT_MAX_BYTES;
            return DYN_OK;
        }
    } else if (avail >= 4) {
        /*
         * Near the end of the input (a request id followed only by a status, say): two overlapping
         * 4-byte loads gather exactly the avail bytes, the rest of x zero. Stops past the input are
         * masked off, so a varint running off the end finds none and is refused as truncated.
         */
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + avail - 4, 4);
        x = lo | ((uint64_t)hi << (8 * (avail - 4)));
        stops = ~x & 0x8080808080808080ull & ((1ull << (8 * avail)) - 1);
        if (stops == 0)
            return DYN_EBADMSG; /* ran out of bytes mid-varint */
    }
    if (stops != 0) {
        unsigned last_bit = (unsigned)__builtin_ctzll(stops); /* 8 * last_index + 7 */
        x &= stops ^ (stops - 1);                            /* bytes up to the last one */
        if ((x >> (last_bit - 7)) == 0)
            return DYN_EBADMSG; /* a trailing zero group: non-minimal */
        *out = pack7(x);
        r->p = p + (last_bit + 1) / 8;
        return DYN_OK;
    }
    /* Fewer than 4 bytes left: the byte loop. */
#endif
    uint64_t v = p[0] & 0x7Fu;
    for (size_t i = 1; i < avail; i++) {
        uint8_t b = p[i];
        /* The 10th byte holds only bit 63; a larger value there overflows, a continuation bit
         * would make the varint longer than 10 bytes. Both are rejected here, so i stays <= 9. */
        if (i == VARINT_MAX_BYTES - 1 && b > 1u)
            return DYN_EBADMSG;
        v |= (uint64_t)(b & 0x7Fu) << (7u * i);
        if (b < 0x80u) {
            if (b == 0) /* a trailing zero group adds nothing: non-minimal, not canonical */
                return DYN_EBADMSG;
            *out = v;
            r->p = p + i + 1;
            return DYN_OK;
        }
    }
    return DYN_EBADMSG; /* ran out of bytes mid-varint */
}

static inline int get_varint(reader_t *r, uint64_t *out)
{
    /* Most fields (counts, lengths, flags, node ids) fit one byte: keep that path inline. */
    if (r->p != r->end && *r->p < 0x80u) {
        *out = *r->p++;
        return DYN_OK;
    }
    return get_varint_long(r, out);
}

static inline int get_u32(reader_t *r, uint32_t *out)
{
    uint64_t v;
    int rc = get_varint(r, &v);
    if (rc != DYN_OK)
        return rc;
    if (v > UINT32_MAX)
        return DYN_EBADMSG;
    *out = (uint32_t)v;
    return DYN_OK;
}

/* A fixed-width little-endian field of width bytes (4 or 8); compilers fold the loop to a load. */
static inline int get_le(reader_t *r, unsigned width, uint64_t *out)
{
    if (remaining(r) < width)
        return DYN_EBADMSG;
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += width;
    *out = v;
    return DYN_OK;
}

/* A fixed-width little-endian field the caller has bounds-checked: one load where possible. */
static inline uint64_t load_le(const uint8_t *p, unsigned width)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (width == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    if (width == 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
#endif
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline int get_u8(reader_t *r, uint8_t *out)
{
    if (r->p == r->end)
        return DYN_EBADMSG;
    *out = *r->p++;
    return DYN_OK;
}

/* A length-prefixed byte string of at most max bytes; the bytes are borrowed from the input. */
static int get_bytes(reader_t *r, uint32_t max, const uint8_t **bytes, uint32_t *length)
{
    uint64_t n;
    int rc = get_varint(r, &n);
    if (rc != DYN_OK)
        return rc;
    /* Compare against what remains before forming any pointer, so a length of 2^60 is harmless. */
    if (n > max || n > remaining(r))
        return DYN_EBADMSG;
    *length = (uint32_t)n;
    *bytes = n ? r->p : NULL;
    r->p += n;
    return DYN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Vector clocks                                                                                */

static inline int entry_before(const dyn_vclock_entry_t *a, const dyn_vclock_entry_t *b)
{
    return a->node < b->node || (a->node == b->node && a->epoch < b->epoch);
}

/*
 * Validate a clock and add an upper bound on its encoded size to *bound. The canonical-encoding
 * rules are the clock's own invariants (sorted, counters >= 1), so an invalid clock is refused.
 */
static int vclock_check(const dyn_vclock_t *vc, size_t *bound)
{
    if (vc->count > DYN_VCLOCK_MAX)
        return DYN_ETOOBIG;
    for (uint32_t i = 0; i < vc->count; i++) {
        const dyn_vclock_entry_t *e = &vc->entries[i];
        if (e->counter == 0 || (i > 0 && !entry_before(&vc->entries[i - 1], e)))
            return DYN_EINVAL;
    }
    *bound += 1 + (size_t)vc->count * ENTRY_BOUND;
    return DYN_OK;
}

/* The exact encoded size of a clock that passed vclock_check(). */
static size_t vclock_size(const dyn_vclock_t *vc)
{
    size_t n = varint_size(vc->count);
    for (uint32_t i = 0; i < vc->count; i++) {
        const dyn_vclock_entry_t *e = &vc->entries[i];
        n += varint_size(e->node) + EPOCH_WIDTH + varint_size(e->counter) + TIMESTAMP_WIDTH;
    }
    return n;
}

static uint8_t *vclock_write(const dyn_vclock_t *vc, uint8_t *p)
{
    p = put_varint(p, vc->count);
    for (uint32_t i = 0; i < vc->count; i++) {
        const dyn_vclock_entry_t *e = &vc->entries[i];
        p = put_varint(p, e->node);
        p = put_le(p, e->epoch, EPOCH_WIDTH);
        p = put_varint(p, e->counter);
        p = put_le(p, e->timestamp_us, TIMESTAMP_WIDTH);
    }
    return p;
}

/* An entry's place in the clock's order, (node, epoch), as one number. */
static inline uint64_t entry_key(const dyn_vclock_entry_t *e)
{
    return ((uint64_t)e->node << 32) | e->epoch;
}

/*
 * One clock entry without a bounds test per field, or 0 if the entry does not suit (then the
 * general path reads it, accepting and refusing exactly as always). It suits when the node id is
 * one varint byte (ids below 128) and the counter one or two (below 16384 writes by one actor to
 * one key; hot keys pass 128 early), which is nearly every entry: one test then covers the whole
 * entry's bounds instead of one per field.
 */
static inline int vclock_entry_fast(reader_t *r, dyn_vclock_entry_t *e)
{
    enum { SHORTEST = 1 + EPOCH_WIDTH + 1 + TIMESTAMP_WIDTH };
    const uint8_t *p = r->p;
    size_t avail = remaining(r);
    if (avail < SHORTEST || p[0] >= 0x80u)
        return 0;
    /* Counter bytes: b0, and b1 only if b0 continues (then b1 must end it and be nonzero). Read
     * without a branch on b0, which is a coin toss where counters straddle 128. */
    uint32_t b0 = p[1 + EPOCH_WIDTH], b1 = p[2 + EPOCH_WIDTH]; /* SHORTEST > 2 + EPOCH_WIDTH */
    uint32_t more = b0 >> 7;
    size_t length = SHORTEST + more;
    if (more && (b1 >= 0x80u || b1 == 0))
        return 0;
    if (avail < length)
        return 0;
    e->node = p[0];
    e->epoch = (uint32_t)load_le(p + 1, EPOCH_WIDTH);
    e->counter = (b0 & 0x7Fu) | ((b1 & (0u - more)) << 7);
    e->timestamp_us = load_le(p + 2 + EPOCH_WIDTH + more, TIMESTAMP_WIDTH);
    r->p = p + length;
    return 1;
}

/* Decodes straight into out's entries (no temporary clock to copy); out->count is set last. */
static int vclock_read(reader_t *r, dyn_vclock_t *out)
{
    uint64_t count;
    out->count = 0;
    TRY(get_varint(r, &count));
    if (count > DYN_VCLOCK_MAX)
        return DYN_EBADMSG;
    uint64_t prev_key = 0;
    for (uint32_t i = 0; i < (uint32_t)count; i++) {
        dyn_vclock_entry_t *e = &out->entries[i];
        if (!vclock_entry_fast(r, e)) {
            uint64_t epoch;
            TRY(get_u32(r, &e->node));
            TRY(get_le(r, EPOCH_WIDTH, &epoch));
            TRY(get_varint(r, &e->counter));
            TRY(get_le(r, TIMESTAMP_WIDTH, &e->timestamp_us));
            e->epoch = (uint32_t)epoch;
        }
        /* Counters >= 1, entries strictly increasing: one test, as valid input always passes. */
        uint64_t key = entry_key(e);
        if ((e->counter == 0) | ((i > 0) & (key <= prev_key)))
            return DYN_EBADMSG;
        prev_key = key;
    }
    out->count = (uint32_t)count;
    return DYN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Versions and sibling sets                                                                   */

static int value_check(const uint8_t *value, uint32_t length)
{
    if (length > DYN_VALUE_MAX)
        return DYN_ETOOBIG;
    if (length > 0 && value == NULL)
        return DYN_EINVAL;
    return DYN_OK;
}

static int version_check(const dyn_version_t *v, size_t *bound)
{
    if (v->flags & ~(unsigned)DYN_VERSION_TOMBSTONE)
        return DYN_EINVAL;
    if ((v->flags & DYN_VERSION_TOMBSTONE) && v->value_length != 0)
        return DYN_EINVAL;
    TRY(value_check(v->value, v->value_length));
    TRY(vclock_check(&v->clock, bound));
    if (v->dot.counter == 0 ||
        dyn_vclock_covers(&v->clock, v->dot.node, v->dot.epoch, v->dot.counter))
        return DYN_EINVAL;
    *bound += 1 + U64_BOUND + 2 * U32_BOUND + U64_BOUND + VALUE_LENGTH_BOUND + v->value_length;
    return DYN_OK;
}

static size_t version_size(const dyn_version_t *v)
{
    return 1 + varint_size(v->timestamp_us) + varint_size(v->dot.node) +
           varint_size(v->dot.epoch) + varint_size(v->dot.counter) + vclock_size(&v->clock) +
           varint_size(v->value_length) + v->value_length;
}

static uint8_t *put_bytes(uint8_t *p, const uint8_t *bytes, uint32_t length)
{
    p = put_varint(p, length);
    if (length > 0) { /* memcpy from NULL is undefined even for zero bytes */
        memcpy(p, bytes, length);
        p += length;
    }
    return p;
}

static uint8_t *version_write(const dyn_version_t *v, uint8_t *p)
{
    *p++ = v->flags;
    p = put_varint(p, v->timestamp_us);
    p = put_varint(p, v->dot.node);
    p = put_varint(p, v->dot.epoch);
    p = put_varint(p, v->dot.counter);
    p = vclock_write(&v->clock, p);
    return put_bytes(p, v->value, v->value_length);
}

static int version_read(reader_t *r, dyn_version_t *out)
{
    TRY(get_u8(r, &out->flags));
    if (out->flags & ~(unsigned)DYN_VERSION_TOMBSTONE)
        return DYN_EBADMSG;
    TRY(get_varint(r, &out->timestamp_us));
    TRY(get_u32(r, &out->dot.node));
    TRY(get_u32(r, &out->dot.epoch));
    TRY(get_varint(r, &out->dot.counter));
    out->dot.timestamp_us = out->timestamp_us;
    TRY(vclock_read(r, &out->clock));
    /* A dot inside its own past would be a version superseding itself. */
    if (out->dot.counter == 0 ||
        dyn_vclock_covers(&out->clock, out->dot.node, out->dot.epoch, out->dot.counter))
        return DYN_EBADMSG;
    TRY(get_bytes(r, DYN_VALUE_MAX, &out->value, &out->value_length));
    if ((out->flags & DYN_VERSION_TOMBSTONE) && out->value_length != 0)
        return DYN_EBADMSG;
    out->owned = false; /* values borrow the input buffer */
    return DYN_OK;
}

static int siblings_check(const dyn_siblings_t *set, size_t *bound)
{
    if (set->count > DYN_SIBLINGS_MAX)
        return DYN_ETOOBIG;
    if (set->count > 0 && set->items == NULL)
        return DYN_EINVAL;
    *bound += SIBLING_COUNT_BOUND;
    for (uint32_t i = 0; i < set->count; i++) {
        TRY(version_check(&set->items[i], bound));
        /* Refuse to write what the decoder would refuse to read. */
        if (i > 0 && dyn_version_order(&set->items[i - 1], &set->items[i]) >= 0)
            return DYN_EINVAL;
    }
    return DYN_OK;
}

static size_t siblings_size(const dyn_siblings_t *set)
{
    size_t n = varint_size(set->count);
    for (uint32_t i = 0; i < set->count; i++)
        n += version_size(&set->items[i]);
    return n;
}

static uint8_t *siblings_write(const dyn_siblings_t *set, uint8_t *p)
{
    p = put_varint(p, set->count);
    for (uint32_t i = 0; i < set->count; i++)
        p = version_write(&set->items[i], p);
    return p;
}

static void siblings_reset(dyn_siblings_t *set)
{
    free(set->items);
    set->items = NULL;
    set->count = 0;
    set->capacity = 0;
}

/*
 * Empty a set but keep its item array: decoding into the same set again (a node's scratch set, a
 * reused message) then costs no allocation. Owned values are freed as dyn_siblings_clear would.
 */
static void siblings_empty(dyn_siblings_t *set)
{
    for (uint32_t i = 0; i < set->count; i++)
        if (set->items[i].owned)
            free((void *)set->items[i].value);
    set->count = 0;
}

/*
 * Decode a sibling set into `out`, which must hold no items. The array grows only after the count
 * is shown plausible against the remaining bytes, so a corrupted count cannot make us allocate for
 * versions that are not there. Versions must be in strictly increasing canonical order
 * (dyn_version_order), as every reconciled set is: anything else was not written by a replica.
 */
static int siblings_read(reader_t *r, dyn_siblings_t *out)
{
    DYN_ASSERT(out->count == 0);
    uint64_t count;
    TRY(get_varint(r, &count));
    if (count > DYN_SIBLINGS_MAX || count * MIN_VERSION_SIZE > remaining(r))
        return DYN_EBADMSG;
    if (count == 0)
        return DYN_OK;
    if (out->capacity < count) {
        dyn_version_t *items = malloc((size_t)count * sizeof *items);
        if (items == NULL)
            return DYN_ENOMEM;
        free(out->items);
        out->items = items;
        out->capacity = (uint32_t)count;
    }
    dyn_version_t *items = out->items;
    for (uint32_t i = 0; i < (uint32_t)count; i++) {
        int rc = version_read(r, &items[i]);
        /* Strictly increasing, and no two versions may share a dot (a dot names one write). */
        if (rc == DYN_OK && i > 0 &&
            (dyn_version_order(&items[i - 1], &items[i]) >= 0 ||
             (items[i - 1].dot.node == items[i].dot.node &&
              items[i - 1].dot.epoch == items[i].dot.epoch &&
              items[i - 1].dot.counter == items[i].dot.counter)))
            rc = DYN_EBADMSG;
        if (rc != DYN_OK) {
            siblings_reset(out);
            return rc;
        }
    }
    out->count = (uint32_t)count;
    return DYN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Messages                                                                                     */

/*
 * Zero every field except the sibling set and the clock entries past each clock's count. Not a
 * memset of the whole message: that is ~900 bytes, mostly clock entries nobody reads past `count`,
 * and it cost as much as encoding and decoding a small message (measured ~17 ns), on every message
 * the simulator sends and delivers. A field added to dyn_msg_t must be added here.
 */
static void msg_reset(dyn_msg_t *msg, dyn_msg_type_t type)
{
    msg->type = type;
    msg->request_id = 0;
    msg->status = DYN_OK;
    memset(&msg->opts, 0, sizeof msg->opts);
    msg->coordinator = 0;
    msg->key = NULL;
    msg->key_length = 0;
    msg->put_flags = 0;
    msg->value = NULL;
    msg->value_length = 0;
    msg->context.count = 0;
    msg->replica_flags = 0;
    msg->hint = 0;
    msg->range = 0;
    msg->level = 0;
    msg->index_count = 0;
    msg->key_count = 0;
    msg->indices = NULL;
    msg->hashes = NULL;
    msg->keys = NULL;
    msg->written = (dyn_vclock_entry_t){0};
    msg->version.clock.count = 0;
    msg->version.dot = (dyn_vclock_entry_t){0};
    msg->version.timestamp_us = 0;
    msg->version.value = NULL;
    msg->version.value_length = 0;
    msg->version.flags = 0;
    msg->version.owned = false;
    msg->siblings_blob = NULL;
    msg->siblings_blob_length = 0;
    msg->reap_phase = 0;
    msg->print = 0;
    msg->gossip_flags = 0;
    msg->members_blob = NULL;
    msg->members_length = 0;
}

void dyn_msg_init(dyn_msg_t *msg, dyn_msg_type_t type)
{
    msg->ae_store_ = NULL;
    msg_reset(msg, type);
    msg->siblings.count = 0;
    msg->siblings.capacity = 0;
    msg->siblings.items = NULL;
}

/* Drop what a decode borrowed or allocated, except the sibling array. */
static void msg_release(dyn_msg_t *msg)
{
    free(msg->ae_store_);
    msg->ae_store_ = NULL;
    msg->indices = NULL;
    msg->hashes = NULL;
    msg->keys = NULL;
    msg->siblings_blob = NULL;
    msg->siblings_blob_length = 0;
}

void dyn_msg_clear(dyn_msg_t *msg)
{
    msg_release(msg);
    dyn_siblings_clear(&msg->siblings);
}

void dyn_msg_recycle(dyn_msg_t *msg)
{
    msg_release(msg);
    siblings_empty(&msg->siblings);
}

static int key_check(const dyn_msg_t *msg)
{
    if (msg->key_length > DYN_KEY_MAX)
        return DYN_ETOOBIG;
    if (msg->key_length == 0 || msg->key == NULL)
        return DYN_EINVAL;
    return DYN_OK;
}

static int status_check(int32_t status)
{
    return status <= 0 && status >= WIRE_STATUS_MIN ? DYN_OK : DYN_EINVAL;
}

static int opts_check(const dyn_req_opts_t *opts)
{
    return (opts->flags & ~(unsigned)DYN_REQ_FLAGS_ALL_) ? DYN_EINVAL : DYN_OK;
}

static int msg_siblings_check(const dyn_msg_t *msg, size_t *bound)
{
    if (msg->siblings_blob != NULL) {
        /* Trusted to be a dyn_codec_encode_siblings() output: re-validating it would cost the
         * decode the blob exists to avoid. It holds at least its count byte. */
        if (msg->siblings_blob_length == 0)
            return DYN_EINVAL;
        *bound += msg->siblings_blob_length;
        return DYN_OK;
    }
    return siblings_check(&msg->siblings, bound);
}

static size_t msg_siblings_size(const dyn_msg_t *msg)
{
    return msg->siblings_blob != NULL ? msg->siblings_blob_length : siblings_size(&msg->siblings);
}

static uint8_t *msg_siblings_write(const dyn_msg_t *msg, uint8_t *p)
{
    if (msg->siblings_blob != NULL) {
        memcpy(p, msg->siblings_blob, msg->siblings_blob_length);
        return p + msg->siblings_blob_length;
    }
    return siblings_write(&msg->siblings, p);
}

/* Indices strictly increasing, below 2^level (level 32: any u32), at most DYN_AE_LIST_MAX. */
static int indices_check(const dyn_msg_t *msg, unsigned level)
{
    if (msg->index_count > DYN_AE_LIST_MAX || (msg->index_count && !msg->indices))
        return DYN_EINVAL;
    for (uint32_t i = 0; i < msg->index_count; i++) {
        if (level < 32 && msg->indices[i] >= (1u << level))
            return DYN_EINVAL;
        if (i > 0 && msg->indices[i] <= msg->indices[i - 1])
            return DYN_EINVAL;
    }
    if (msg->type == DYN_MSG_AE_HASHES && !msg->hashes)
        return DYN_EINVAL;
    return DYN_OK;
}

static int ae_keys_check(const dyn_msg_t *msg, size_t *bound)
{
    if (msg->key_count > DYN_AE_KEYS_MAX || (msg->key_count && !msg->keys))
        return DYN_EINVAL;
    for (uint32_t i = 0; i < msg->key_count; i++) {
        const dyn_ae_key_t *k = &msg->keys[i];
        if (k->key_length > DYN_KEY_MAX)
            return DYN_ETOOBIG;
        if (k->key_length == 0 || !k->key)
            return DYN_EINVAL;
        if (msg->type == DYN_MSG_AE_PULL && k->print != 0)
            return DYN_EINVAL; /* a pull carries no prints: one spelling */
        *bound += KEY_LENGTH_BOUND + k->key_length;
    }
    return DYN_OK;
}

static size_t ae_keys_size(const dyn_msg_t *msg, bool prints)
{
    size_t n = varint_size(msg->key_count);
    for (uint32_t i = 0; i < msg->key_count; i++)
        n += varint_size(msg->keys[i].key_length) + msg->keys[i].key_length + (prints ? 8 : 0);
    return n;
}

static size_t indices_size(const dyn_msg_t *msg)
{
    size_t n = varint_size(msg->index_count);
    for (uint32_t i = 0; i < msg->index_count; i++)
        n += varint_size(msg->indices[i]) + (msg->type == DYN_MSG_AE_HASHES ? 8 : 0);
    return n;
}

/* Validate every field the type carries and compute an upper bound on the encoded size. */
static int msg_check(const dyn_msg_t *msg, size_t *bound)
{
    size_t n = HEADER_SIZE + U64_BOUND;
    switch (msg->type) {
    case DYN_MSG_CLIENT_GET:
        TRY(opts_check(&msg->opts));
        TRY(key_check(msg));
        n += OPTS_SIZE + KEY_LENGTH_BOUND + msg->key_length;
        break;
    case DYN_MSG_CLIENT_PUT:
        TRY(opts_check(&msg->opts));
        TRY(key_check(msg));
        if (msg->put_flags & ~(unsigned)DYN_VERSION_TOMBSTONE)
            return DYN_EINVAL;
        if ((msg->put_flags & DYN_VERSION_TOMBSTONE) && msg->value_length != 0)
            return DYN_EINVAL;
        TRY(value_check(msg->value, msg->value_length));
        TRY(vclock_check(&msg->context, &n));
        n += OPTS_SIZE + KEY_LENGTH_BOUND + msg->key_length + 1 + VALUE_LENGTH_BOUND +
             msg->value_length;
        break;
    case DYN_MSG_CLIENT_REPLY:
        TRY(status_check(msg->status));
        TRY(vclock_check(&msg->context, &n));
        TRY(msg_siblings_check(msg, &n));
        if (msg->written.counter == 0 && (msg->written.node || msg->written.epoch))
            return DYN_EINVAL; /* "no dot" has one spelling */
        n += STATUS_BOUND + U32_BOUND + 2 * U32_BOUND + U64_BOUND;
        break;
    case DYN_MSG_REPLICA_GET:
        TRY(key_check(msg));
        n += U32_BOUND + KEY_LENGTH_BOUND + msg->key_length;
        break;
    case DYN_MSG_REPLICA_GET_REPLY:
        TRY(status_check(msg->status));
        TRY(msg_siblings_check(msg, &n));
        n += STATUS_BOUND;
        break;
    case DYN_MSG_REPLICA_PUT:
        if (msg->replica_flags & ~(unsigned)DYN_REPLICA_FLAGS_ALL_)
            return DYN_EINVAL;
        TRY(key_check(msg));
        TRY(version_check(&msg->version, &n));
        n += 1 + U32_BOUND + KEY_LENGTH_BOUND + msg->key_length;
        break;
    case DYN_MSG_REPLICA_PUT_REPLY:
    case DYN_MSG_REAP_REPLY:
        TRY(status_check(msg->status));
        n += STATUS_BOUND;
        break;
    case DYN_MSG_REAP:
        if (msg->reap_phase > DYN_REAP_COMMIT)
            return DYN_EINVAL;
        TRY(key_check(msg));
        n += 1 + KEY_LENGTH_BOUND + msg->key_length + 8;
        break;
    case DYN_MSG_PING_REQ:
        if (msg->hint == 0)
            return DYN_EINVAL;
        n += U32_BOUND;
        break;
    case DYN_MSG_GOSSIP:
        if (msg->gossip_flags & ~DYN_GOSSIP_FLAGS_ALL_)
            return DYN_EINVAL;
        if (msg->gossip_flags & DYN_GOSSIP_STATE) {
            if (!msg->members_blob ||
                dyn_codec_check_membership(msg->members_blob, msg->members_length) != DYN_OK)
                return DYN_EINVAL;
            n += msg->members_length;
        }
        n += 1 + 8;
        break;
    case DYN_MSG_PING:
    case DYN_MSG_PONG:
        break;
    case DYN_MSG_AE_HASHES:
        if (msg->level > DYN_AE_LEVEL_MAX || msg->index_count == 0)
            return DYN_EINVAL;
        TRY(indices_check(msg, msg->level));
        n += U32_BOUND + 1 + U32_BOUND + (size_t)msg->index_count * (U32_BOUND + 8);
        break;
    case DYN_MSG_AE_KEYS:
        TRY(indices_check(msg, 32));
        TRY(ae_keys_check(msg, &n));
        n += U32_BOUND + U32_BOUND + (size_t)msg->index_count * U32_BOUND + U32_BOUND +
             (size_t)msg->key_count * 8;
        break;
    case DYN_MSG_AE_PULL:
        if (msg->key_count == 0)
            return DYN_EINVAL;
        TRY(ae_keys_check(msg, &n));
        n += U32_BOUND + U32_BOUND;
        break;
    case DYN_MSG_HANDOFF:
    case DYN_MSG_AE_PUSH:
        TRY(key_check(msg));
        TRY(msg_siblings_check(msg, &n));
        n += KEY_LENGTH_BOUND + msg->key_length;
        break;
    default:
        return DYN_EINVAL;
    }
    *bound = n;
    return DYN_OK;
}

/* The exact encoded size of a message that passed msg_check(). */
static size_t msg_size(const dyn_msg_t *msg)
{
    size_t n = HEADER_SIZE + varint_size(msg->request_id);
    switch (msg->type) {
    case DYN_MSG_CLIENT_GET:
        return n + OPTS_SIZE + varint_size(msg->key_length) + msg->key_length;
    case DYN_MSG_CLIENT_PUT:
        return n + OPTS_SIZE + varint_size(msg->key_length) + msg->key_length + 1 +
               vclock_size(&msg->context) + varint_size(msg->value_length) + msg->value_length;
    case DYN_MSG_CLIENT_REPLY:
        return n + varint_size(zigzag32(msg->status)) + varint_size(msg->coordinator) +
               varint_size(msg->written.node) + varint_size(msg->written.epoch) +
               varint_size(msg->written.counter) + vclock_size(&msg->context) +
               msg_siblings_size(msg);
    case DYN_MSG_REPLICA_GET:
        return n + varint_size(msg->hint) + varint_size(msg->key_length) + msg->key_length;
    case DYN_MSG_REPLICA_GET_REPLY:
        return n + varint_size(zigzag32(msg->status)) + msg_siblings_size(msg);
    case DYN_MSG_REPLICA_PUT:
        return n + 1 + varint_size(msg->hint) + varint_size(msg->key_length) + msg->key_length +
               version_size(&msg->version);
    case DYN_MSG_REPLICA_PUT_REPLY:
    case DYN_MSG_REAP_REPLY:
        return n + varint_size(zigzag32(msg->status));
    case DYN_MSG_REAP:
        return n + 1 + varint_size(msg->key_length) + msg->key_length + 8;
    case DYN_MSG_PING_REQ:
        return n + varint_size(msg->hint);
    case DYN_MSG_GOSSIP:
        return n + 1 + 8 +
               (msg->gossip_flags & DYN_GOSSIP_STATE ? msg->members_length : 0);
    case DYN_MSG_HANDOFF:
    case DYN_MSG_AE_PUSH:
        return n + varint_size(msg->key_length) + msg->key_length + msg_siblings_size(msg);
    case DYN_MSG_AE_HASHES:
        return n + varint_size(msg->range) + 1 + indices_size(msg);
    case DYN_MSG_AE_KEYS:
        return n + varint_size(msg->range) + indices_size(msg) + ae_keys_size(msg, true);
    case DYN_MSG_AE_PULL:
        return n + varint_size(msg->range) + ae_keys_size(msg, false);
    case DYN_MSG_PING:
    case DYN_MSG_PONG:
        return n;
    default:
        DYN_ASSERT(!"msg_check accepted an unknown type");
        return 0;
    }
}

/*
 * Decide whether an encoding checked to at most `bound` bytes fits `capacity` (and `limit`, the
 * largest encoding allowed). Only when the bound is not enough is the exact size computed, into
 * *exact; otherwise *exact stays 0, meaning "not measured".
 */
static int fits(size_t bound, size_t capacity, size_t limit, size_t (*size_fn)(const void *),
                const void *obj, size_t *exact)
{
    *exact = 0;
    if (bound <= capacity && bound <= limit)
        return DYN_OK;
    *exact = size_fn(obj);
    return *exact <= capacity && *exact <= limit ? DYN_OK : DYN_ETOOBIG;
}

/* After a write: never past capacity or the bound, and exactly the measured size if measured. */
static int written(const uint8_t *buf, const uint8_t *end, size_t capacity, size_t bound,
                   size_t exact)
{
    size_t n = (size_t)(end - buf);
    DYN_ASSERT(n <= capacity && n <= bound);
    DYN_ASSERT(exact == 0 || n == exact);
    DYN_ASSERT(n <= (size_t)INT32_MAX); /* 128 versions of at most 1 MiB each */
    return (int)n;
}

static uint8_t *put_opts(uint8_t *p, const dyn_req_opts_t *opts)
{
    p[0] = opts->n;
    p[1] = opts->r;
    p[2] = opts->w;
    p[3] = opts->flags;
    p[4] = opts->pr;
    p[5] = opts->pw;
    return p + OPTS_SIZE;
}

static size_t msg_size_fn(const void *msg) { return msg_size(msg); }
static size_t siblings_size_fn(const void *set) { return siblings_size(set); }
static size_t vclock_size_fn(const void *vc) { return vclock_size(vc); }

size_t dyn_codec_encoded_size(const dyn_msg_t *msg)
{
    size_t bound;
    if (msg_check(msg, &bound) != DYN_OK)
        return 0;
    size_t size = msg_size(msg);
    return size <= DYN_MSG_MAX ? size : 0;
}

int dyn_codec_encode(const dyn_msg_t *msg, uint8_t *buf, size_t capacity)
{
    size_t bound, exact;
    TRY(msg_check(msg, &bound));
    TRY(fits(bound, capacity, DYN_MSG_MAX, msg_size_fn, msg, &exact));
    uint8_t *p = buf;
    *p++ = DYN_WIRE_MAGIC;
    *p++ = DYN_WIRE_VERSION;
    *p++ = (uint8_t)msg->type;
    p = put_varint(p, msg->request_id);
    switch (msg->type) {
    case DYN_MSG_CLIENT_GET:
        p = put_opts(p, &msg->opts);
        p = put_bytes(p, msg->key, msg->key_length);
        break;
    case DYN_MSG_CLIENT_PUT:
        p = put_opts(p, &msg->opts);
        p = put_bytes(p, msg->key, msg->key_length);
        *p++ = msg->put_flags;
        p = vclock_write(&msg->context, p);
        p = put_bytes(p, msg->value, msg->value_length);
        break;
    case DYN_MSG_CLIENT_REPLY:
        p = put_varint(p, zigzag32(msg->status));
        p = put_varint(p, msg->coordinator);
        p = put_varint(p, msg->written.node);
        p = put_varint(p, msg->written.epoch);
        p = put_varint(p, msg->written.counter);
        p = vclock_write(&msg->context, p);
        p = msg_siblings_write(msg, p);
        break;
    case DYN_MSG_REPLICA_GET:
        p = put_varint(p, msg->hint);
        p = put_bytes(p, msg->key, msg->key_length);
        break;
    case DYN_MSG_REPLICA_GET_REPLY:
        p = put_varint(p, zigzag32(msg->status));
        p = msg_siblings_write(msg, p);
        break;
    case DYN_MSG_REPLICA_PUT:
        *p++ = msg->replica_flags;
        p = put_varint(p, msg->hint);
        p = put_bytes(p, msg->key, msg->key_length);
        p = version_write(&msg->version, p);
        break;
    case DYN_MSG_REPLICA_PUT_REPLY:
    case DYN_MSG_REAP_REPLY:
        p = put_varint(p, zigzag32(msg->status));
        break;
    case DYN_MSG_REAP:
        *p++ = msg->reap_phase;
        p = put_bytes(p, msg->key, msg->key_length);
        p = put_le(p, msg->print, 8);
        break;
    case DYN_MSG_PING_REQ:
        p = put_varint(p, msg->hint);
        break;
    case DYN_MSG_GOSSIP:
        *p++ = msg->gossip_flags;
        p = put_le(p, msg->print, 8);
        if (msg->gossip_flags & DYN_GOSSIP_STATE) {
            memcpy(p, msg->members_blob, msg->members_length);
            p += msg->members_length;
        }
        break;
    case DYN_MSG_HANDOFF:
    case DYN_MSG_AE_PUSH:
        p = put_bytes(p, msg->key, msg->key_length);
        p = msg_siblings_write(msg, p);
        break;
    case DYN_MSG_AE_HASHES:
        p = put_varint(p, msg->range);
        *p++ = msg->level;
        p = put_varint(p, msg->index_count);
        for (uint32_t i = 0; i < msg->index_count; i++) {
            p = put_varint(p, msg->indices[i]);
            p = put_le(p, msg->hashes[i], 8);
        }
        break;
    case DYN_MSG_AE_KEYS:
    case DYN_MSG_AE_PULL:
        p = put_varint(p, msg->range);
        if (msg->type == DYN_MSG_AE_KEYS) {
            p = put_varint(p, msg->index_count);
            for (uint32_t i = 0; i < msg->index_count; i++)
                p = put_varint(p, msg->indices[i]);
        }
        p = put_varint(p, msg->key_count);
        for (uint32_t i = 0; i < msg->key_count; i++) {
            p = put_bytes(p, msg->keys[i].key, msg->keys[i].key_length);
            if (msg->type == DYN_MSG_AE_KEYS)
                p = put_le(p, msg->keys[i].print, 8);
        }
        break;
    case DYN_MSG_PING:
    case DYN_MSG_PONG:
        break;
    default:
        DYN_ASSERT(!"msg_check accepted an unknown type");
    }
    return written(buf, p, capacity, bound, exact);
}

dyn_msg_type_t dyn_codec_peek_type(const uint8_t *bytes, size_t length)
{
    if (length < HEADER_SIZE || bytes[0] != DYN_WIRE_MAGIC || bytes[1] != DYN_WIRE_VERSION ||
        bytes[2] == 0 || bytes[2] > DYN_MSG_TYPE_MAX_)
        return (dyn_msg_type_t)0;
    return (dyn_msg_type_t)bytes[2];
}

static int get_status(reader_t *r, int32_t *out);

/* Every message type starts with its request id right after the header. */
static int read_header_and_id(const uint8_t *bytes, size_t length, reader_t *r, uint64_t *id)
{
    if (dyn_codec_peek_type(bytes, length) == 0 || length > DYN_MSG_MAX)
        return DYN_EBADMSG;
    *r = (reader_t){bytes + HEADER_SIZE, bytes + length};
    return get_varint(r, id);
}

int dyn_codec_peek_key(const uint8_t *bytes, size_t length, const uint8_t **key,
                       size_t *key_length, uint32_t *hint)
{
    reader_t r;
    uint64_t id, h = 0;
    dyn_msg_type_t type = dyn_codec_peek_type(bytes, length);
    /* Replies are half of all messages: turn them away before reading anything else. */
    if (type != DYN_MSG_CLIENT_GET && type != DYN_MSG_CLIENT_PUT && type != DYN_MSG_REPLICA_GET &&
        type != DYN_MSG_REPLICA_PUT)
        return DYN_EBADMSG;
    TRY(read_header_and_id(bytes, length, &r, &id));
    switch (type) {
    case DYN_MSG_CLIENT_GET:
    case DYN_MSG_CLIENT_PUT:
        if (remaining(&r) < OPTS_SIZE)
            return DYN_EBADMSG;
        r.p += OPTS_SIZE;
        break;
    case DYN_MSG_REPLICA_PUT:
        if (remaining(&r) < 1)
            return DYN_EBADMSG;
        r.p++; /* replica_flags */
        /* fall through */
    case DYN_MSG_REPLICA_GET:
        TRY(get_varint(&r, &h));
        if (h > UINT32_MAX)
            return DYN_EBADMSG;
        break;
    default:
        return DYN_EBADMSG;
    }
    const uint8_t *k;
    uint32_t n;
    TRY(get_bytes(&r, DYN_KEY_MAX, &k, &n));
    *key = k;
    *key_length = n;
    *hint = (uint32_t)h;
    return DYN_OK;
}

int dyn_codec_peek_reply(const uint8_t *bytes, size_t length, uint64_t *request_id,
                         int32_t *status)
{
    reader_t r;
    TRY(read_header_and_id(bytes, length, &r, request_id));
    dyn_msg_type_t type = (dyn_msg_type_t)bytes[2];
    if (type != DYN_MSG_CLIENT_REPLY && type != DYN_MSG_REPLICA_GET_REPLY &&
        type != DYN_MSG_REPLICA_PUT_REPLY)
        return DYN_EBADMSG;
    return get_status(&r, status);
}

int dyn_codec_with_request_id(const uint8_t *bytes, size_t length, uint64_t request_id,
                              uint8_t *out, size_t capacity)
{
    reader_t r;
    uint64_t old_id;
    TRY(read_header_and_id(bytes, length, &r, &old_id));
    size_t rest = remaining(&r);
    size_t total = HEADER_SIZE + varint_size(request_id) + rest;
    if (total > capacity || total > DYN_MSG_MAX)
        return DYN_ETOOBIG;
    memcpy(out, bytes, HEADER_SIZE);
    uint8_t *p = put_varint(out + HEADER_SIZE, request_id);
    if (rest)
        memcpy(p, r.p, rest);
    DYN_ASSERT((size_t)(p + rest - out) == total);
    return (int)total;
}

int dyn_codec_forward_request(const uint8_t *bytes, size_t length, uint64_t request_id,
                              uint8_t flags, uint8_t *out, size_t capacity)
{
    dyn_msg_type_t type = dyn_codec_peek_type(bytes, length);
    if (type != DYN_MSG_CLIENT_GET && type != DYN_MSG_CLIENT_PUT)
        return DYN_EBADMSG;
    if (flags & ~(unsigned)DYN_REQ_FLAGS_ALL_)
        return DYN_EINVAL;
    reader_t r;
    uint64_t old_id;
    TRY(read_header_and_id(bytes, length, &r, &old_id));
    /* The options follow the id: n, r, w, flags, pr, pw. */
    if (remaining(&r) < OPTS_SIZE)
        return DYN_EBADMSG;
    int n = dyn_codec_with_request_id(bytes, length, request_id, out, capacity);
    if (n < 0)
        return n;
    out[HEADER_SIZE + varint_size(request_id) + 3] |= flags;
    return n;
}

static int get_status(reader_t *r, int32_t *out)
{
    uint64_t z;
    TRY(get_varint(r, &z));
    if (z == 0) {
        *out = DYN_OK;
        return DYN_OK;
    }
    /* Odd zigzag values are negative; even nonzero ones would be positive, which no status is. */
    if ((z & 1u) == 0 || z > (uint64_t)zigzag32(WIRE_STATUS_MIN))
        return DYN_EBADMSG;
    *out = -(int32_t)((z + 1) / 2);
    return DYN_OK;
}

static int get_key(reader_t *r, dyn_msg_t *out)
{
    TRY(get_bytes(r, DYN_KEY_MAX, &out->key, &out->key_length));
    return out->key_length == 0 ? DYN_EBADMSG : DYN_OK;
}

static int get_opts(reader_t *r, dyn_req_opts_t *opts)
{
    if (remaining(r) < OPTS_SIZE)
        return DYN_EBADMSG;
    opts->n = r->p[0];
    opts->r = r->p[1];
    opts->w = r->p[2];
    opts->flags = r->p[3];
    opts->pr = r->p[4];
    opts->pw = r->p[5];
    r->p += OPTS_SIZE;
    return (opts->flags & ~(unsigned)DYN_REQ_FLAGS_ALL_) ? DYN_EBADMSG : DYN_OK;
}

static int get_msg_siblings(reader_t *r, dyn_msg_t *out)
{
    const uint8_t *start = r->p;
    TRY(siblings_read(r, &out->siblings));
    out->siblings_blob = start;
    out->siblings_blob_length = (uint32_t)(r->p - start);
    return DYN_OK;
}

/* The arrays an anti-entropy message decodes into: allocated on first use, kept by the message. */
typedef struct ae_store {
    uint32_t indices[DYN_AE_LIST_MAX];
    uint64_t hashes[DYN_AE_LIST_MAX];
    dyn_ae_key_t keys[DYN_AE_KEYS_MAX];
} ae_store_t;

static ae_store_t *ae_store(dyn_msg_t *out)
{
    if (!out->ae_store_)
        out->ae_store_ = malloc(sizeof(ae_store_t));
    return out->ae_store_;
}

static int get_indices(reader_t *r, dyn_msg_t *out, unsigned level)
{
    uint64_t count;
    TRY(get_varint(r, &count));
    unsigned min_entry = out->type == DYN_MSG_AE_HASHES ? 9u : 1u;
    if (count > DYN_AE_LIST_MAX || count > remaining(r) / min_entry)
        return DYN_EBADMSG;
    ae_store_t *st = ae_store(out);
    if (!st)
        return DYN_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t index;
        TRY(get_u32(r, &index));
        if ((level < 32 && index >= (1u << level)) || (i > 0 && index <= st->indices[i - 1]))
            return DYN_EBADMSG;
        st->indices[i] = index;
        if (out->type == DYN_MSG_AE_HASHES) {
            uint64_t hash;
            TRY(get_le(r, 8, &hash));
            st->hashes[i] = hash;
        }
    }
    out->index_count = (uint32_t)count;
    out->indices = st->indices;
    out->hashes = out->type == DYN_MSG_AE_HASHES ? st->hashes : NULL;
    return DYN_OK;
}

static int get_ae_keys(reader_t *r, dyn_msg_t *out)
{
    uint64_t count;
    TRY(get_varint(r, &count));
    bool prints = out->type == DYN_MSG_AE_KEYS;
    if (count > DYN_AE_KEYS_MAX || count > remaining(r) / (prints ? 10u : 2u))
        return DYN_EBADMSG;
    ae_store_t *st = ae_store(out);
    if (!st)
        return DYN_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        dyn_ae_key_t *k = &st->keys[i];
        TRY(get_bytes(r, DYN_KEY_MAX, &k->key, &k->key_length));
        if (k->key_length == 0)
            return DYN_EBADMSG;
        k->print = 0;
        if (prints)
            TRY(get_le(r, 8, &k->print));
    }
    out->key_count = (uint32_t)count;
    out->keys = st->keys;
    return DYN_OK;
}

static int decode_body(reader_t *r, dyn_msg_t *out)
{
    TRY(get_varint(r, &out->request_id));
    switch (out->type) {
    case DYN_MSG_CLIENT_GET:
        TRY(get_opts(r, &out->opts));
        TRY(get_key(r, out));
        break;
    case DYN_MSG_CLIENT_PUT:
        TRY(get_opts(r, &out->opts));
        TRY(get_key(r, out));
        TRY(get_u8(r, &out->put_flags));
        if (out->put_flags & ~(unsigned)DYN_VERSION_TOMBSTONE)
            return DYN_EBADMSG;
        TRY(vclock_read(r, &out->context));
        TRY(get_bytes(r, DYN_VALUE_MAX, &out->value, &out->value_length));
        if ((out->put_flags & DYN_VERSION_TOMBSTONE) && out->value_length != 0)
            return DYN_EBADMSG;
        break;
    case DYN_MSG_CLIENT_REPLY:
        TRY(get_status(r, &out->status));
        TRY(get_u32(r, &out->coordinator));
        TRY(get_u32(r, &out->written.node));
        TRY(get_u32(r, &out->written.epoch));
        TRY(get_varint(r, &out->written.counter));
        if (out->written.counter == 0 && (out->written.node || out->written.epoch))
            return DYN_EBADMSG;
        TRY(vclock_read(r, &out->context));
        TRY(get_msg_siblings(r, out));
        break;
    case DYN_MSG_REPLICA_GET:
        TRY(get_u32(r, &out->hint));
        TRY(get_key(r, out));
        break;
    case DYN_MSG_REPLICA_GET_REPLY:
        TRY(get_status(r, &out->status));
        TRY(get_msg_siblings(r, out));
        break;
    case DYN_MSG_REPLICA_PUT:
        TRY(get_u8(r, &out->replica_flags));
        if (out->replica_flags & ~(unsigned)DYN_REPLICA_FLAGS_ALL_)
            return DYN_EBADMSG;
        TRY(get_u32(r, &out->hint));
        TRY(get_key(r, out));
        TRY(version_read(r, &out->version));
        break;
    case DYN_MSG_REPLICA_PUT_REPLY:
    case DYN_MSG_REAP_REPLY:
        TRY(get_status(r, &out->status));
        break;
    case DYN_MSG_REAP:
        TRY(get_u8(r, &out->reap_phase));
        if (out->reap_phase > DYN_REAP_COMMIT)
            return DYN_EBADMSG;
        TRY(get_key(r, out));
        TRY(get_le(r, 8, &out->print));
        break;
    case DYN_MSG_PING_REQ:
        TRY(get_u32(r, &out->hint));
        if (out->hint == 0)
            return DYN_EBADMSG;
        break;
    case DYN_MSG_GOSSIP:
        TRY(get_u8(r, &out->gossip_flags));
        if (out->gossip_flags & ~DYN_GOSSIP_FLAGS_ALL_)
            return DYN_EBADMSG;
        TRY(get_le(r, 8, &out->print));
        if (out->gossip_flags & DYN_GOSSIP_STATE) {
            TRY(dyn_codec_check_membership(r->p, remaining(r)));
            out->members_blob = r->p;
            out->members_length = (uint32_t)remaining(r);
            r->p = r->end;
        }
        break;
    case DYN_MSG_HANDOFF:
    case DYN_MSG_AE_PUSH:
        TRY(get_key(r, out));
        TRY(get_msg_siblings(r, out));
        break;
    case DYN_MSG_AE_HASHES:
        TRY(get_u32(r, &out->range));
        TRY(get_u8(r, &out->level));
        if (out->level > DYN_AE_LEVEL_MAX)
            return DYN_EBADMSG;
        TRY(get_indices(r, out, out->level));
        if (out->index_count == 0)
            return DYN_EBADMSG;
        break;
    case DYN_MSG_AE_KEYS:
        TRY(get_u32(r, &out->range));
        TRY(get_indices(r, out, 32));
        TRY(get_ae_keys(r, out));
        break;
    case DYN_MSG_AE_PULL:
        TRY(get_u32(r, &out->range));
        TRY(get_ae_keys(r, out));
        if (out->key_count == 0)
            return DYN_EBADMSG;
        break;
    case DYN_MSG_PING:
    case DYN_MSG_PONG:
        break;
    default:
        return DYN_EBADMSG;
    }
    return r->p == r->end ? DYN_OK : DYN_EBADMSG;
}

int dyn_codec_decode(const uint8_t *bytes, size_t length, dyn_msg_t *out)
{
    /* Drop what a previous decode left (its array is kept for reuse). */
    siblings_empty(&out->siblings);
    msg_reset(out, (dyn_msg_type_t)0);
    if (length < 1 || bytes[0] != DYN_WIRE_MAGIC)
        return DYN_EBADMSG;
    /* Judge the version before anything else: a future format may lay out the rest differently. */
    if (length >= 2 && bytes[1] != DYN_WIRE_VERSION)
        return DYN_EVERSION;
    if (length < HEADER_SIZE || length > DYN_MSG_MAX || bytes[2] == 0 ||
        bytes[2] > DYN_MSG_TYPE_MAX_)
        return DYN_EBADMSG;
    out->type = (dyn_msg_type_t)bytes[2];
    reader_t r = {bytes + HEADER_SIZE, bytes + length};
    int rc = decode_body(&r, out);
    if (rc != DYN_OK) {
        siblings_reset(&out->siblings);
        free(out->ae_store_);
        out->ae_store_ = NULL;
        msg_reset(out, (dyn_msg_type_t)0);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Membership views                                                                             */

static size_t member_size(const dyn_member_t *e)
{
    return varint_size(e->id) + 1 + varint_size(e->zone) + varint_size(e->version) +
           varint_size(e->addr_length) + e->addr_length;
}

size_t dyn_codec_membership_size(const dyn_membership_t *m)
{
    size_t n = varint_size(dyn_membership_count(m));
    for (size_t i = 0; i < dyn_membership_count(m); i++)
        n += member_size(dyn_membership_at(m, i));
    uint32_t partitions;
    const uint32_t *table = dyn_membership_ring(m, &partitions);
    n += varint_size(dyn_membership_ring_version(m));
    if (table) {
        n += varint_size(partitions);
        for (uint32_t i = 0; i < partitions; i++)
            n += varint_size(table[i]);
    }
    return n;
}

int dyn_codec_encode_membership(const dyn_membership_t *m, uint8_t *buf, size_t capacity)
{
    size_t size = dyn_codec_membership_size(m);
    if (size > capacity || size > INT32_MAX)
        return DYN_ETOOBIG;
    uint8_t *p = put_varint(buf, dyn_membership_count(m));
    for (size_t i = 0; i < dyn_membership_count(m); i++) {
        const dyn_member_t *e = dyn_membership_at(m, i);
        p = put_varint(p, e->id);
        *p++ = e->status;
        p = put_varint(p, e->zone);
        p = put_varint(p, e->version);
        p = put_varint(p, e->addr_length);
        memcpy(p, e->addr, e->addr_length);
        p += e->addr_length;
    }
    uint32_t partitions;
    const uint32_t *table = dyn_membership_ring(m, &partitions);
    p = put_varint(p, dyn_membership_ring_version(m));
    if (table) {
        p = put_varint(p, partitions);
        for (uint32_t i = 0; i < partitions; i++)
            p = put_varint(p, table[i]);
    }
    DYN_ASSERT((size_t)(p - buf) == size);
    return (int)size;
}

/*
 * Parse a view, merging each member into out (NULL: only validate). *changed (may be NULL) counts
 * the members that changed out.
 */
static int membership_read(const uint8_t *bytes, size_t length, dyn_membership_t *out,
                           int *changed)
{
    reader_t r = {bytes, bytes + length};
    uint64_t count;
    TRY(get_varint(&r, &count));
    if (count > DYN_MEMBERS_MAX)
        return DYN_EBADMSG;
    uint32_t last = 0;
    for (uint64_t i = 0; i < count; i++) {
        dyn_member_t e;
        memset(&e, 0, sizeof(e));
        uint64_t zone;
        const uint8_t *addr;
        uint32_t addr_length;
        TRY(get_u32(&r, &e.id));
        TRY(get_u8(&r, &e.status));
        TRY(get_varint(&r, &zone));
        TRY(get_varint(&r, &e.version));
        TRY(get_bytes(&r, DYN_MEMBER_ADDR_MAX, &addr, &addr_length));
        if (e.id <= last || e.status < DYN_MEMBER_JOINING || e.status > DYN_MEMBER_REMOVED ||
            zone > UINT16_MAX || e.version == 0)
            return DYN_EBADMSG;
        last = e.id;
        e.zone = (uint16_t)zone;
        e.addr_length = (uint8_t)addr_length;
        if (addr_length) /* an empty address may come with a NULL pointer */
            memcpy(e.addr, addr, addr_length);
        if (out) {
            int rc = dyn_membership_apply(out, &e);
            if (rc < 0)
                return rc == DYN_ENOMEM ? DYN_ENOMEM : DYN_EBADMSG;
            if (changed)
                *changed += rc;
        }
    }
    /* The ring table: its version, and at a nonzero version the partition count and owners. */
    uint64_t ring_version, partitions;
    TRY(get_varint(&r, &ring_version));
    if (ring_version == 0)
        return r.p == r.end ? DYN_OK : DYN_EBADMSG;
    TRY(get_varint(&r, &partitions));
    if (partitions == 0 || partitions > DYN_RING_TABLE_MAX)
        return DYN_EBADMSG;
    uint32_t *table = out ? malloc(partitions * sizeof(*table)) : NULL;
    if (out && !table)
        return DYN_ENOMEM;
    int rc = DYN_OK;
    for (uint64_t i = 0; i < partitions && rc == DYN_OK; i++) {
        uint32_t owner = 0;
        rc = get_u32(&r, &owner);
        if (rc == DYN_OK && owner == 0)
            rc = DYN_EBADMSG;
        if (table)
            table[i] = owner;
    }
    if (rc == DYN_OK && r.p != r.end)
        rc = DYN_EBADMSG;
    if (rc == DYN_OK && out) {
        rc = dyn_membership_set_ring(out, ring_version, table, (uint32_t)partitions);
        if (rc > 0 && changed)
            *changed += rc;
        rc = rc < 0 ? (rc == DYN_ENOMEM ? DYN_ENOMEM : DYN_EBADMSG) : DYN_OK;
    }
    free(table);
    return rc;
}

int dyn_codec_check_membership(const uint8_t *bytes, size_t length)
{
    return membership_read(bytes, length, NULL, NULL);
}

int dyn_codec_decode_membership(const uint8_t *bytes, size_t length, dyn_membership_t *out)
{
    dyn_membership_clear(out);
    int rc = membership_read(bytes, length, out, NULL);
    if (rc != DYN_OK)
        dyn_membership_clear(out);
    return rc;
}

int dyn_codec_merge_membership(const uint8_t *bytes, size_t length, dyn_membership_t *view)
{
    /* Validated whole first, so a bad view changes nothing rather than half the view. */
    int rc = membership_read(bytes, length, NULL, NULL);
    if (rc != DYN_OK)
        return rc;
    int changed = 0;
    rc = membership_read(bytes, length, view, &changed);
    return rc == DYN_OK ? changed : rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Bare sibling sets and clocks                                                                 */

size_t dyn_codec_siblings_size(const dyn_siblings_t *set)
{
    size_t bound = 0;
    return siblings_check(set, &bound) == DYN_OK ? siblings_size(set) : 0;
}

int dyn_codec_encode_siblings(const dyn_siblings_t *set, uint8_t *buf, size_t capacity)
{
    size_t bound = 0, exact;
    TRY(siblings_check(set, &bound));
    /* No message bound here: a stored set may be larger than any one message. */
    TRY(fits(bound, capacity, SIZE_MAX, siblings_size_fn, set, &exact));
    return written(buf, siblings_write(set, buf), capacity, bound, exact);
}

int dyn_codec_decode_siblings(const uint8_t *bytes, size_t length, dyn_siblings_t *out)
{
    siblings_empty(out);
    reader_t r = {bytes, bytes + length};
    int rc = siblings_read(&r, out);
    if (rc == DYN_OK && r.p != r.end)
        rc = DYN_EBADMSG;
    if (rc != DYN_OK)
        siblings_reset(out);
    return rc;
}

size_t dyn_codec_vclock_size(const dyn_vclock_t *vc)
{
    size_t bound = 0;
    return vclock_check(vc, &bound) == DYN_OK ? vclock_size(vc) : 0;
}

int dyn_codec_encode_vclock(const dyn_vclock_t *vc, uint8_t *buf, size_t capacity)
{
    size_t bound = 0, exact;
    TRY(vclock_check(vc, &bound));
    TRY(fits(bound, capacity, SIZE_MAX, vclock_size_fn, vc, &exact));
    return written(buf, vclock_write(vc, buf), capacity, bound, exact);
}

int dyn_codec_decode_vclock(const uint8_t *bytes, size_t length, dyn_vclock_t *out)
{
    reader_t r = {bytes, bytes + length};
    int rc = vclock_read(&r, out);
    if (rc == DYN_OK && r.p != r.end)
        rc = DYN_EBADMSG;
    if (rc != DYN_OK)
        out->count = 0;
    return rc;
}
