/* admin.c: the admin requests' framing (admin.h). */
#include "net/admin.h"

#include "core/status.h"

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int net_admin_is(const uint8_t *bytes, size_t length)
{
    return length > 0 && bytes[0] == NET_ADMIN_MAGIC;
}

size_t net_admin_encode_request(net_admin_op_t op, uint64_t request_id,
                                const net_admin_args_t *args,
                                uint8_t out[NET_ADMIN_MEMBER_SET_BYTES])
{
    out[0] = NET_ADMIN_MAGIC;
    out[1] = NET_ADMIN_VERSION;
    out[2] = (uint8_t)op;
    put_u64le(out + 3, request_id);
    if (op == NET_ADMIN_PLAN || op == NET_ADMIN_COMMIT)
        return 0; /* their changes do not fit `out`: net_admin_encode_changes() */
    if (op != NET_ADMIN_MEMBER_SET)
        return NET_ADMIN_REQUEST_BYTES;
    for (int i = 0; i < 4; i++)
        out[11 + i] = (uint8_t)(args->member >> (8 * i));
    out[15] = args->status;
    return NET_ADMIN_MEMBER_SET_BYTES;
}

size_t net_admin_encode_changes(net_admin_op_t op, uint64_t request_id,
                                const net_admin_args_t *args, uint8_t out[NET_ADMIN_REQUEST_MAX])
{
    if ((op != NET_ADMIN_PLAN && op != NET_ADMIN_COMMIT) ||
        args->change_count > NET_ADMIN_CHANGES_MAX)
        return 0;
    out[0] = NET_ADMIN_MAGIC;
    out[1] = NET_ADMIN_VERSION;
    out[2] = (uint8_t)op;
    put_u64le(out + 3, request_id);
    out[11] = args->change_count;
    uint8_t *p = out + NET_ADMIN_REQUEST_BYTES + 1;
    for (size_t i = 0; i < args->change_count; i++, p += NET_ADMIN_CHANGE_BYTES) {
        p[0] = args->changes[i].kind;
        put_u32le(p + 1, args->changes[i].id);
        put_u32le(p + 5, args->changes[i].to);
    }
    return (size_t)(p - out);
}

static int known_op(uint8_t op)
{
    return op >= NET_ADMIN_STATS && op <= NET_ADMIN_RING_STATUS;
}

/* The changes of a PLAN or COMMIT request, after its 11-byte head: exactly count of them, each
 * one well formed, so that what decodes encodes back to the same bytes. */
static int decode_changes(const uint8_t *bytes, size_t length, net_admin_args_t *args)
{
    if (length < NET_ADMIN_REQUEST_BYTES + 1)
        return DYN_EBADMSG;
    uint8_t count = bytes[NET_ADMIN_REQUEST_BYTES];
    if (count > NET_ADMIN_CHANGES_MAX ||
        length != NET_ADMIN_REQUEST_BYTES + 1 + (size_t)count * NET_ADMIN_CHANGE_BYTES)
        return DYN_EBADMSG;
    const uint8_t *p = bytes + NET_ADMIN_REQUEST_BYTES + 1;
    for (size_t i = 0; i < count; i++, p += NET_ADMIN_CHANGE_BYTES) {
        net_admin_change_t ch = {.kind = p[0], .id = get_u32le(p + 1), .to = get_u32le(p + 5)};
        if (ch.kind < NET_ADMIN_JOIN || ch.kind > NET_ADMIN_REPLACE || ch.id == 0)
            return DYN_EBADMSG;
        if (ch.kind == NET_ADMIN_REPLACE ? ch.to == 0 || ch.to == ch.id : ch.to != 0)
            return DYN_EBADMSG;
        args->changes[i] = ch;
    }
    args->change_count = count;
    return DYN_OK;
}

int net_admin_decode_request(const uint8_t *bytes, size_t length, net_admin_op_t *op,
                             uint64_t *request_id, net_admin_args_t *args)
{
    *args = (net_admin_args_t){0};
    if (length < 2 || bytes[0] != NET_ADMIN_MAGIC)
        return DYN_EBADMSG;
    if (bytes[1] != NET_ADMIN_VERSION)
        return DYN_EVERSION;
    if (length < 3 || !known_op(bytes[2]))
        return DYN_EBADMSG;
    if (bytes[2] == NET_ADMIN_PLAN || bytes[2] == NET_ADMIN_COMMIT) {
        int rc = decode_changes(bytes, length, args);
        if (rc != DYN_OK) {
            *args = (net_admin_args_t){0};
            return rc;
        }
    } else if (length != (bytes[2] == NET_ADMIN_MEMBER_SET ? NET_ADMIN_MEMBER_SET_BYTES
                                                           : NET_ADMIN_REQUEST_BYTES)) {
        return DYN_EBADMSG;
    }
    *op = (net_admin_op_t)bytes[2];
    *request_id = get_u64le(bytes + 3);
    if (*op == NET_ADMIN_MEMBER_SET) {
        args->member = get_u32le(bytes + 11);
        args->status = bytes[15];
    }
    return DYN_OK;
}

void net_admin_encode_reply_header(net_admin_op_t op, uint64_t request_id, uint32_t node_id,
                                   uint8_t out[NET_ADMIN_REPLY_HEADER_BYTES])
{
    out[0] = NET_ADMIN_MAGIC;
    out[1] = NET_ADMIN_VERSION;
    out[2] = (uint8_t)((unsigned)op | NET_ADMIN_REPLY);
    put_u64le(out + 3, request_id);
    for (int i = 0; i < 4; i++)
        out[11 + i] = (uint8_t)(node_id >> (8 * i));
}

int net_admin_decode_reply(const uint8_t *bytes, size_t length, net_admin_op_t *op,
                           uint64_t *request_id, uint32_t *node_id, const uint8_t **body,
                           size_t *body_length)
{
    if (length < 2 || bytes[0] != NET_ADMIN_MAGIC)
        return DYN_EBADMSG;
    if (bytes[1] != NET_ADMIN_VERSION)
        return DYN_EVERSION;
    if (length < NET_ADMIN_REPLY_HEADER_BYTES || !(bytes[2] & NET_ADMIN_REPLY) ||
        !known_op((uint8_t)(bytes[2] & ~NET_ADMIN_REPLY)))
        return DYN_EBADMSG;
    *op = (net_admin_op_t)(bytes[2] & ~NET_ADMIN_REPLY);
    *request_id = get_u64le(bytes + 3);
    *node_id = (uint32_t)bytes[11] | (uint32_t)bytes[12] << 8 | (uint32_t)bytes[13] << 16 |
               (uint32_t)bytes[14] << 24;
    *body = bytes + NET_ADMIN_REPLY_HEADER_BYTES;
    *body_length = length - NET_ADMIN_REPLY_HEADER_BYTES;
    return DYN_OK;
}
