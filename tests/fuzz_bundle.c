/*
 * fuzz_bundle.c: libFuzzer target for the bundle parser (net/bundle.c).
 *
 * Any bytes, as the plaintext of an authentic datagram that starts with the bundle marker. The
 * check must never read out of bounds, and when it accepts, walking the items must end exactly
 * at the end, with every item non-empty and inside the input; building the same items again must
 * give back the same bytes.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DDYN_FUZZ=ON && cmake --build build-fuzz -t fuzz_bundle
 * Run:   ./build-fuzz/tests/fuzz_bundle SCRATCH_DIR -max_total_time=60
 */
#define _POSIX_C_SOURCE 200809L /* uv.h, through frag.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "net/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_bundle: %s\n", what);
        abort();
    }
}

static net_bundle_t again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t count;
    if (net_bundle_check(data, size, &count) != DYN_OK)
        return 0;
    check(count >= 2, "a bundle of fewer than two accepted");
    net_bundle_reset(&again);
    size_t at = NET_BUNDLE_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *m;
        size_t n;
        net_bundle_next(data, &at, &m, &n);
        check(n > 0 && m >= data && m + n <= data + size, "an item outside the input");
        check(net_bundle_fits(&again, n), "an accepted item does not fit a bundle");
        net_bundle_add(&again, m, n);
    }
    check(at == size, "items do not end at the end");
    size_t length;
    const uint8_t *plain = net_bundle_plain(&again, &length);
    check(length == size && memcmp(plain, data, size) == 0, "rebuilt bytes differ");
    return 0;
}
