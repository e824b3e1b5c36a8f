/*
 * membership.c: a view is an array sorted by id; the digest is recomputed lazily after changes.
 */
#include "core/membership.h"

#include <stdlib.h>
#include <string.h>

#include "core/prng.h"
#include "core/status.h"

struct dyn_membership {
    dyn_member_t *members;
    size_t count, capacity;
    uint64_t digest;      /* 0: stale */
    uint64_t ring_version;
    uint32_t *ring;       /* partition -> owner id; NULL at version 0 */
    uint32_t partitions;
    uint64_t ring_hash;   /* of the table: orders tables of one version, feeds the digest */
};

dyn_membership_t *dyn_membership_create(void) { return calloc(1, sizeof(dyn_membership_t)); }

void dyn_membership_destroy(dyn_membership_t *m)
{
    if (!m)
        return;
    free(m->members);
    free(m->ring);
    free(m);
}

void dyn_membership_clear(dyn_membership_t *m)
{
    m->count = 0;
    m->digest = 0;
    free(m->ring);
    m->ring = NULL;
    m->ring_version = 0;
    m->partitions = 0;
    m->ring_hash = 0;
}

size_t dyn_membership_count(const dyn_membership_t *m) { return m->count; }

const dyn_member_t *dyn_membership_at(const dyn_membership_t *m, size_t index)
{
    DYN_ASSERT(index < m->count);
    return &m->members[index];
}

/* The index of the first member with id >= id. */
static size_t lower_bound(const dyn_membership_t *m, uint32_t id)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->members[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const dyn_member_t *dyn_membership_find(const dyn_membership_t *m, uint32_t id)
{
    size_t i = lower_bound(m, id);
    return i < m->count && m->members[i].id == id ? &m->members[i] : NULL;
}

/* Total order on two entries of one member: version first, then content, so ties pick alike. */
static int compare_entry(const dyn_member_t *a, const dyn_member_t *b)
{
    if (a->version != b->version)
        return a->version < b->version ? -1 : 1;
    if (a->status != b->status)
        return a->status < b->status ? -1 : 1;
    if (a->zone != b->zone)
        return a->zone < b->zone ? -1 : 1;
    if (a->addr_length != b->addr_length)
        return a->addr_length < b->addr_length ? -1 : 1;
    return memcmp(a->addr, b->addr, a->addr_length);
}

static int valid(const dyn_member_t *e)
{
    return e->id != 0 && e->version != 0 && e->status >= DYN_MEMBER_JOINING &&
           e->status <= DYN_MEMBER_REMOVED && e->addr_length <= DYN_MEMBER_ADDR_MAX;
}

int dyn_membership_apply(dyn_membership_t *m, const dyn_member_t *member)
{
    if (!valid(member))
        return DYN_EINVAL;
    size_t i = lower_bound(m, member->id);
    if (i < m->count && m->members[i].id == member->id) {
        if (compare_entry(member, &m->members[i]) <= 0)
            return 0;
    } else {
        if (m->count == DYN_MEMBERS_MAX)
            return DYN_EFULL;
        if (m->count == m->capacity) {
            size_t cap = m->capacity ? m->capacity * 2 : 8;
            dyn_member_t *grown = realloc(m->members, cap * sizeof(*grown));
            if (!grown)
                return DYN_ENOMEM;
            m->members = grown;
            m->capacity = cap;
        }
        memmove(&m->members[i + 1], &m->members[i], (m->count - i) * sizeof(dyn_member_t));
        m->count++;
    }
    /* Copied field by field so the unused address bytes are zero and the digest is canonical. */
    dyn_member_t *e = &m->members[i];
    memset(e, 0, sizeof(*e));
    e->id = member->id;
    e->status = member->status;
    e->zone = member->zone;
    e->version = member->version;
    e->addr_length = member->addr_length;
    memcpy(e->addr, member->addr, member->addr_length);
    m->digest = 0;
    return 1;
}

static uint64_t table_hash(const uint32_t *owners, uint32_t partitions)
{
    uint64_t h = dyn_seed_derive(0x72696e67ULL /* "ring" */, partitions);
    for (uint32_t i = 0; i < partitions; i++)
        h = dyn_seed_derive(h, owners[i]);
    return h;
}

int dyn_membership_set_ring(dyn_membership_t *m, uint64_t version, const uint32_t *owners,
                            uint32_t partitions)
{
    if (version == 0 || partitions == 0 || partitions > DYN_RING_TABLE_MAX)
        return DYN_EINVAL;
    for (uint32_t i = 0; i < partitions; i++)
        if (owners[i] == 0)
            return DYN_EINVAL;
    uint64_t h = table_hash(owners, partitions);
    if (version < m->ring_version)
        return 0;
    if (version == m->ring_version) {
        /* One version, two tables: the greater (hash, then size, then content) wins everywhere. */
        int order = h != m->ring_hash ? (h > m->ring_hash ? 1 : -1)
                    : partitions != m->partitions ? (partitions > m->partitions ? 1 : -1)
                    : memcmp(owners, m->ring, partitions * sizeof(*owners));
        if (order <= 0)
            return 0;
    }
    uint32_t *copy = malloc(partitions * sizeof(*copy));
    if (!copy)
        return DYN_ENOMEM;
    memcpy(copy, owners, partitions * sizeof(*copy));
    free(m->ring);
    m->ring = copy;
    m->partitions = partitions;
    m->ring_version = version;
    m->ring_hash = h;
    m->digest = 0;
    return 1;
}

uint64_t dyn_membership_ring_version(const dyn_membership_t *m) { return m->ring_version; }
uint64_t dyn_membership_ring_hash(const dyn_membership_t *m) { return m->ring_hash; }

const uint32_t *dyn_membership_ring(const dyn_membership_t *m, uint32_t *partitions)
{
    if (partitions)
        *partitions = m->partitions;
    return m->ring;
}

int dyn_membership_merge(dyn_membership_t *dst, const dyn_membership_t *src)
{
    int changed = 0;
    if (src->ring_version) {
        int rc = dyn_membership_set_ring(dst, src->ring_version, src->ring, src->partitions);
        if (rc < 0)
            return rc;
        changed += rc;
    }
    for (size_t i = 0; i < src->count; i++) {
        int rc = dyn_membership_apply(dst, &src->members[i]);
        if (rc < 0)
            return rc;
        changed += rc;
    }
    return changed;
}

uint64_t dyn_membership_digest(const dyn_membership_t *m)
{
    dyn_membership_t *mut = (dyn_membership_t *)m; /* the cache is not part of the value */
    if (mut->digest)
        return mut->digest;
    uint64_t h = dyn_seed_derive(0x6d656d62657273ULL /* "members" */, m->count);
    for (size_t i = 0; i < m->count; i++) {
        const dyn_member_t *e = &m->members[i];
        /* The address length too: "a" and "\0a" pack to one word. */
        h = dyn_seed_derive(h, (uint64_t)e->id << 32 | (uint64_t)e->addr_length << 24 |
                                   (uint64_t)e->status << 16 | e->zone);
        h = dyn_seed_derive(h, e->version);
        for (size_t j = 0; j < e->addr_length; j += 8) {
            uint64_t word = 0;
            for (size_t k = j; k < j + 8 && k < e->addr_length; k++)
                word = word << 8 | (uint8_t)e->addr[k];
            h = dyn_seed_derive(h, word);
        }
    }
    h = dyn_seed_derive(h, m->ring_version);
    h = dyn_seed_derive(h, m->ring_hash);
    mut->digest = h ? h : 1;
    return mut->digest;
}
