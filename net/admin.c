/* admin.c: the admin requests' framing (admin.h). */
#include "net/admin.h"

#include "core/status.h"

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
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
    if (op != NET_ADMIN_MEMBER_SET)
        return NET_ADMIN_REQUEST_BYTES;
    for (int i = 0; i < 4; i++)
        out[11 + i] = (uint8_t)(args->member >> (8 * i));
    out[15] = args->status;
    return NET_ADMIN_MEMBER_SET_BYTES;
}

static int known_op(uint8_t op)
{
    return op == NET_ADMIN_STATS || op == NET_ADMIN_MEMBERS || op == NET_ADMIN_MEMBER_SET;
}

int net_admin_decode_request(const uint8_t *bytes, size_t length, net_admin_op_t *op,
                             uint64_t *request_id, net_admin_args_t *args)
{
    *args = (net_admin_args_t){0};
    if (length < 2 || bytes[0] != NET_ADMIN_MAGIC)
        return DYN_EBADMSG;
    if (bytes[1] != NET_ADMIN_VERSION)
        return DYN_EVERSION;
    if (length < 3 || !known_op(bytes[2]) ||
        length != (bytes[2] == NET_ADMIN_MEMBER_SET ? NET_ADMIN_MEMBER_SET_BYTES
                                                    : NET_ADMIN_REQUEST_BYTES))
        return DYN_EBADMSG;
    *op = (net_admin_op_t)bytes[2];
    *request_id = get_u64le(bytes + 3);
    if (*op == NET_ADMIN_MEMBER_SET) {
        args->member = (uint32_t)bytes[11] | (uint32_t)bytes[12] << 8 |
                       (uint32_t)bytes[13] << 16 | (uint32_t)bytes[14] << 24;
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
