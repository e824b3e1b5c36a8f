/*
 * frag.c: the reassembly table (frag.h). Messages under way sit in a fixed array of
 * `messages_max` slots searched linearly: the table is small (64 by default) and a fragment
 * arrives at most every 64 KB of data, so a scan costs nothing next to the copy.
 */
#define _POSIX_C_SOURCE 200809L /* uv.h, through uv_env.h */
#include "net/frag.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

typedef struct partial {
    bool used;
    uint32_t sender;
    uint64_t epoch;
    uint32_t id;
    uint32_t count, received;
    uint32_t length;
    uint64_t started_us;
    uint8_t *bytes;
    uint8_t seen[(NET_FRAG_COUNT_MAX + 7) / 8];
} partial_t;

struct net_frag {
    net_frag_config_t config;
    partial_t *slots;
    uint8_t *done;       /* the last completed message, freed at the next call */
    uint32_t pending;
    size_t bytes;
    net_frag_stats_t stats;
};

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int net_frag_create(const net_frag_config_t *config, net_frag_t **out)
{
    *out = NULL;
    net_frag_t *f = calloc(1, sizeof(*f));
    if (!f)
        return DYN_ENOMEM;
    f->config = *config;
    net_frag_config_t *c = &f->config;
    if (!c->messages_max)
        c->messages_max = NET_FRAG_MESSAGES_DEFAULT;
    if (!c->per_sender_max)
        c->per_sender_max = NET_FRAG_PER_SENDER_DEFAULT;
    if (!c->bytes_max)
        c->bytes_max = NET_FRAG_BYTES_DEFAULT;
    if (!c->timeout_us)
        c->timeout_us = NET_FRAG_TIMEOUT_DEFAULT_US;
    if (!c->chunk_bytes || c->chunk_bytes > NET_FRAG_CHUNK_BYTES)
        c->chunk_bytes = NET_FRAG_CHUNK_BYTES;
    f->slots = calloc(c->messages_max, sizeof(*f->slots));
    if (!f->slots) {
        free(f);
        return DYN_ENOMEM;
    }
    *out = f;
    return DYN_OK;
}

static void release(net_frag_t *f, partial_t *p)
{
    free(p->bytes);
    f->bytes -= p->length;
    f->pending--;
    memset(p, 0, sizeof(*p));
}

void net_frag_destroy(net_frag_t *f)
{
    if (!f)
        return;
    for (uint32_t i = 0; i < f->config.messages_max; i++)
        if (f->slots[i].used)
            release(f, &f->slots[i]);
    free(f->done);
    free(f->slots);
    free(f);
}

uint32_t net_frag_count(const net_frag_t *f, size_t length)
{
    if (length <= f->config.chunk_bytes + NET_FRAG_HEADER_BYTES)
        return 1; /* with the default chunk: length <= NET_UV_PLAIN_MAX */
    return (uint32_t)((length + f->config.chunk_bytes - 1) / f->config.chunk_bytes);
}

size_t net_frag_build(const net_frag_t *f, uint32_t id, uint32_t index, const uint8_t *message,
                      size_t length, uint8_t *out)
{
    size_t chunk = f->config.chunk_bytes;
    uint32_t count = (uint32_t)((length + chunk - 1) / chunk);
    size_t offset = (size_t)index * chunk;
    size_t part = length - offset < chunk ? length - offset : chunk;
    out[0] = NET_FRAG_MARKER;
    put_le(out + 1, id, 4);
    put_le(out + 5, index, 2);
    put_le(out + 7, count, 2);
    put_le(out + 9, length, 4);
    memcpy(out + NET_FRAG_HEADER_BYTES, message + offset, part);
    return NET_FRAG_HEADER_BYTES + part;
}

uint32_t net_frag_expire(net_frag_t *f, uint64_t now_us)
{
    uint32_t dropped = 0;
    for (uint32_t i = 0; i < f->config.messages_max; i++) {
        partial_t *p = &f->slots[i];
        if (p->used && now_us - p->started_us >= f->config.timeout_us) {
            release(f, p);
            f->stats.timed_out++;
            dropped++;
        }
    }
    return dropped;
}

/* A slot for a new message from sender, or NULL when a bound holds (after expiring the old). */
static partial_t *admit(net_frag_t *f, uint32_t sender, uint64_t epoch, uint32_t length,
                        uint64_t now_us)
{
    for (int pass = 0; pass < 2; pass++) {
        uint32_t of_sender = 0;
        partial_t *free_slot = NULL;
        for (uint32_t i = 0; i < f->config.messages_max; i++) {
            partial_t *p = &f->slots[i];
            if (!p->used) {
                if (!free_slot)
                    free_slot = p;
            } else if (p->sender == sender && p->epoch == epoch) {
                of_sender++;
            }
        }
        if (free_slot && of_sender < f->config.per_sender_max &&
            f->bytes + length <= f->config.bytes_max)
            return free_slot;
        if (pass == 0 && net_frag_expire(f, now_us) == 0)
            break;
    }
    return NULL;
}

int net_frag_offer(net_frag_t *f, uint32_t sender, uint64_t epoch, uint64_t now_us,
                   const uint8_t *bytes, size_t length, const uint8_t **message,
                   size_t *message_length)
{
    free(f->done);
    f->done = NULL;
    f->stats.fragments++;
    if (length < NET_FRAG_HEADER_BYTES || bytes[0] != NET_FRAG_MARKER) {
        f->stats.malformed++;
        return DYN_EBADMSG;
    }
    uint32_t id = (uint32_t)get_le(bytes + 1, 4);
    uint32_t index = (uint32_t)get_le(bytes + 5, 2);
    uint32_t count = (uint32_t)get_le(bytes + 7, 2);
    uint32_t total = (uint32_t)get_le(bytes + 9, 4);
    size_t chunk = f->config.chunk_bytes;
    size_t part = length - NET_FRAG_HEADER_BYTES;
    /* The header must describe a message this layer would have cut this way. */
    if (count < 2 || count > NET_FRAG_COUNT_MAX || total > NET_FRAG_MESSAGE_MAX ||
        index >= count || count != (total + chunk - 1) / chunk ||
        part != (index + 1 < count ? chunk : total - (size_t)index * chunk)) {
        f->stats.malformed++;
        return DYN_EBADMSG;
    }
    partial_t *p = NULL;
    for (uint32_t i = 0; i < f->config.messages_max && !p; i++) {
        partial_t *q = &f->slots[i];
        if (q->used && q->id == id && q->sender == sender && q->epoch == epoch)
            p = q;
    }
    if (p && now_us - p->started_us >= f->config.timeout_us) {
        release(f, p);           /* too late: this message is lost, and so a new one */
        f->stats.timed_out++;
        p = NULL;
    }
    if (p && (p->count != count || p->length != total)) {
        release(f, p);
        f->stats.malformed++;
        return DYN_EBADMSG;
    }
    if (!p) {
        p = admit(f, sender, epoch, total, now_us);
        if (!p) {
            f->stats.refused_full++;
            return DYN_EFULL;
        }
        p->bytes = malloc(total);
        if (!p->bytes)
            return DYN_ENOMEM;
        p->used = true;
        p->sender = sender;
        p->epoch = epoch;
        p->id = id;
        p->count = count;
        p->length = total;
        p->started_us = now_us;
        f->bytes += total;
        f->pending++;
    }
    if (p->seen[index / 8] & (1u << (index % 8))) {
        f->stats.duplicates++;
        return NET_FRAG_PENDING;
    }
    p->seen[index / 8] |= (uint8_t)(1u << (index % 8));
    memcpy(p->bytes + (size_t)index * chunk, bytes + NET_FRAG_HEADER_BYTES, part);
    if (++p->received < p->count)
        return NET_FRAG_PENDING;
    f->done = p->bytes;
    p->bytes = NULL;
    *message = f->done;
    *message_length = p->length;
    release(f, p);
    f->stats.completed++;
    return DYN_OK;
}

uint32_t net_frag_pending(const net_frag_t *f) { return f->pending; }
size_t net_frag_bytes(const net_frag_t *f) { return f->bytes; }
net_frag_stats_t net_frag_stats(const net_frag_t *f) { return f->stats; }
