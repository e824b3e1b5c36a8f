/*
 * fuzz_frag.c: libFuzzer target for fragment reassembly (net/frag.c).
 *
 * The input is read as a script of offers: each step takes a sender (1 of 4), a time step and a
 * length, then that many bytes as a fragment. Reassembly must never crash or read out of bounds,
 * must stay within its bounds whatever it is fed, and a message it hands back must be as long as
 * the fragments that made it said. Fragments are what passed authentication in a real node, so
 * this is what a cluster-key holder with bad intent or a bug could feed it.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DDYN_FUZZ=ON && cmake --build build-fuzz -t fuzz_frag
 * Run:   ./build-fuzz/tests/fuzz_frag SCRATCH_DIR -max_total_time=60
 */
#define _POSIX_C_SOURCE 200809L /* uv.h, through frag.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "net/frag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_frag: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Small chunks and bounds, so a short input reaches every limit. */
    const net_frag_config_t cfg = {.messages_max = 6, .per_sender_max = 3, .bytes_max = 4096,
                                   .timeout_us = 1000, .chunk_bytes = 16};
    net_frag_t *f;
    check(net_frag_create(&cfg, &f) == DYN_OK, "create failed");
    uint64_t now = 0;
    size_t at = 0;
    while (at + 3 <= size) {
        uint32_t sender = 1 + data[at] % 4;
        now += data[at + 1] * 10u;
        size_t length = data[at + 2];
        at += 3;
        if (length > size - at)
            length = size - at;
        const uint8_t *message;
        size_t message_length;
        int rc = net_frag_offer(f, sender, 1, now, data + at, length, &message, &message_length);
        check(rc == DYN_OK || rc == NET_FRAG_PENDING || rc == DYN_EBADMSG || rc == DYN_EFULL ||
              rc == DYN_ENOMEM, "offer returned an undocumented status");
        if (rc == DYN_OK) {
            check(message != NULL || message_length == 0, "a completed message with no bytes");
            volatile uint8_t sum = 0;
            for (size_t i = 0; i < message_length; i++) /* every byte readable (ASan) */
                sum ^= message[i];
            (void)sum;
        }
        check(net_frag_pending(f) <= cfg.messages_max, "more messages than the bound");
        check(net_frag_bytes(f) <= cfg.bytes_max, "more bytes than the bound");
        at += length;
        if (data[at - 1] == 0xEE) /* the last byte consumed */
            net_frag_expire(f, now);
    }
    net_frag_destroy(f);
    return 0;
}
