/* bundle.c: the bundle's layout (bundle.h), built and checked. */
#define _POSIX_C_SOURCE 200809L /* uv.h, through frag.h */
#include "net/bundle.h"

#include <string.h>

#include "core/status.h"
#include "net/frag.h"

DYN_STATIC_ASSERT(NET_BUNDLE_COUNT_MAX <= UINT16_MAX, "a bundle's count fits its u16");
DYN_STATIC_ASSERT(NET_BUNDLE_MARKER != NET_FRAG_MARKER, "bundles and fragments are told apart");

void net_bundle_reset(net_bundle_t *b)
{
    b->length = NET_BUNDLE_HEADER_BYTES;
    b->count = 0;
    b->bytes[0] = NET_BUNDLE_MARKER;
}

int net_bundle_fits(const net_bundle_t *b, size_t length)
{
    return length > 0 && length <= NET_BUNDLE_BYTES_MAX &&
           NET_BUNDLE_ITEM_HEADER_BYTES + length <= NET_BUNDLE_BYTES_MAX - b->length;
}

void net_bundle_add(net_bundle_t *b, const uint8_t *message, size_t length)
{
    DYN_ASSERT(net_bundle_fits(b, length));
    uint8_t *p = b->bytes + b->length;
    p[0] = (uint8_t)length;
    p[1] = (uint8_t)(length >> 8);
    memcpy(p + NET_BUNDLE_ITEM_HEADER_BYTES, message, length);
    b->length += (uint32_t)(NET_BUNDLE_ITEM_HEADER_BYTES + length);
    b->count++;
    b->bytes[1] = (uint8_t)b->count;
    b->bytes[2] = (uint8_t)(b->count >> 8);
}

const uint8_t *net_bundle_plain(const net_bundle_t *b, size_t *length)
{
    if (b->count == 0)
        return NULL;
    if (b->count == 1) {
        *length = b->length - NET_BUNDLE_HEADER_BYTES - NET_BUNDLE_ITEM_HEADER_BYTES;
        return b->bytes + NET_BUNDLE_HEADER_BYTES + NET_BUNDLE_ITEM_HEADER_BYTES;
    }
    *length = b->length;
    return b->bytes;
}

static size_t get_u16(const uint8_t *p) { return (size_t)p[0] | (size_t)p[1] << 8; }

int net_bundle_check(const uint8_t *plain, size_t length, uint32_t *count)
{
    /* No sender makes a longer one: refusing it keeps what is accepted what could be built. */
    if (length < NET_BUNDLE_HEADER_BYTES || length > NET_BUNDLE_BYTES_MAX ||
        plain[0] != NET_BUNDLE_MARKER)
        return DYN_EBADMSG;
    size_t n = get_u16(plain + 1);
    if (n < 2 || n > NET_BUNDLE_COUNT_MAX)
        return DYN_EBADMSG;
    size_t at = NET_BUNDLE_HEADER_BYTES;
    for (size_t i = 0; i < n; i++) {
        if (length - at < NET_BUNDLE_ITEM_HEADER_BYTES)
            return DYN_EBADMSG;
        size_t item = get_u16(plain + at);
        at += NET_BUNDLE_ITEM_HEADER_BYTES;
        if (item == 0 || item > length - at)
            return DYN_EBADMSG;
        /* One level only: a bundle or a fragment inside a bundle is refused. */
        if (plain[at] == NET_BUNDLE_MARKER || plain[at] == NET_FRAG_MARKER)
            return DYN_EBADMSG;
        at += item;
    }
    if (at != length)
        return DYN_EBADMSG;
    *count = (uint32_t)n;
    return DYN_OK;
}

void net_bundle_next(const uint8_t *plain, size_t *offset, const uint8_t **message,
                     size_t *message_length)
{
    size_t item = get_u16(plain + *offset);
    *message = plain + *offset + NET_BUNDLE_ITEM_HEADER_BYTES;
    *message_length = item;
    *offset += NET_BUNDLE_ITEM_HEADER_BYTES + item;
}
