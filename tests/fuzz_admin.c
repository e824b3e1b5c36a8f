/*
 * fuzz_admin.c: libFuzzer target for the admin requests' and replies' decoders (net/admin.c).
 *
 * Admin requests reach dynamod after authentication (any key holder, clients included, can send
 * them), so their decoder meets whatever such a sender builds: PLAN and COMMIT requests carry a
 * count and that many changes, each checked (kind, ids). Decoding must never crash or read
 * out of bounds; a request that decodes must encode back to the same bytes (so nothing in it goes
 * unchecked), and a reply's body must lie inside the input.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DDYN_FUZZ=ON && cmake --build build-fuzz -t fuzz_admin
 * Run:   ./build-fuzz/tests/fuzz_admin SCRATCH_DIR tests/corpus/admin -max_total_time=60
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "net/admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_admin: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    net_admin_op_t op;
    uint64_t id;
    net_admin_args_t args;
    int rc = net_admin_decode_request(data, size, &op, &id, &args);
    check(rc == DYN_OK || rc == DYN_EBADMSG || rc == DYN_EVERSION, "request: unexpected status");
    if (rc == DYN_OK) {
        /* PLAN and COMMIT carry their changes (up to NET_ADMIN_REQUEST_MAX bytes); every other
         * op fits the short form. */
        uint8_t again[NET_ADMIN_REQUEST_MAX];
        size_t n = op == NET_ADMIN_PLAN || op == NET_ADMIN_COMMIT
                       ? net_admin_encode_changes(op, id, &args, again)
                       : net_admin_encode_request(op, id, &args, again);
        check(args.change_count <= NET_ADMIN_CHANGES_MAX, "request: too many changes");
        for (size_t i = 0; i < args.change_count; i++)
            check(args.changes[i].id != 0 && (args.changes[i].kind == NET_ADMIN_REPLACE) ==
                                                 (args.changes[i].to != 0),
                  "request: a malformed change decoded");
        check(n == size && memcmp(again, data, size) == 0, "request: re-encoding differs");
        check(net_admin_is(data, size), "request: decoded but not an admin message");
    }
    uint32_t node;
    const uint8_t *body;
    size_t body_length;
    rc = net_admin_decode_reply(data, size, &op, &id, &node, &body, &body_length);
    check(rc == DYN_OK || rc == DYN_EBADMSG || rc == DYN_EVERSION, "reply: unexpected status");
    if (rc == DYN_OK) {
        check(body >= data && body + body_length == data + size, "reply: body outside input");
        uint8_t header[NET_ADMIN_REPLY_HEADER_BYTES];
        net_admin_encode_reply_header(op, id, node, header);
        check(memcmp(header, data, sizeof(header)) == 0, "reply: header re-encoding differs");
    }
    return 0;
}
