/*
 * fuzz_codec.c: libFuzzer target for the wire codec.
 *
 * Any input is decoded as a message, as a stored sibling set, as a client context and as a
 * membership view (what GOSSIP carries and a node persists). The decoder
 * must never crash or read out of bounds (ASan and UBSan watch), and whatever it accepts must be
 * canonical: re-encoding gives back exactly the input bytes. For messages with siblings that is
 * checked twice, through the blob passthrough and through the decoded set, so a decoder that
 * accepted something its encoder would write differently cannot hide behind the blob.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DDYN_FUZZ=ON && cmake --build build-fuzz -t fuzz_codec
 * Run:   ./build-fuzz/tests/fuzz_codec tests/corpus/codec -max_total_time=60
 * (give a scratch directory first to keep new finds out of the committed seed corpus).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_codec: %s\n", what);
        abort();
    }
}

/* Encode with exactly `size` bytes of room (so ASan catches an overrun) and compare. */
static void check_message(dyn_msg_t *m, const uint8_t *data, size_t size)
{
    uint8_t *out = malloc(size);
    check(out != NULL, "out of memory");
    check(dyn_codec_peek_type(data, size) == m->type, "peek_type disagrees with decode");
    check(dyn_codec_encoded_size(m) == size, "encoded_size differs from the input length");
    check(dyn_codec_encode(m, out, size) == (int)size, "re-encode length differs");
    check(memcmp(out, data, size) == 0, "re-encode bytes differ (blob path)");
    if (m->siblings_blob != NULL) {
        m->siblings_blob = NULL;
        check(dyn_codec_encode(m, out, size) == (int)size, "re-encode length differs (set)");
        check(memcmp(out, data, size) == 0, "re-encode bytes differ (decoded set)");
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dyn_msg_t m;
    dyn_msg_init(&m, (dyn_msg_type_t)0);
    int rc = dyn_codec_decode(data, size, &m);
    check(rc == DYN_OK || rc == DYN_EBADMSG || rc == DYN_EVERSION || rc == DYN_ENOMEM,
          "decode returned an undocumented status");
    if (rc == DYN_OK)
        check_message(&m, data, size);
    else
        check(m.siblings.items == NULL && m.siblings.count == 0, "failed decode left siblings");
    dyn_msg_clear(&m);

    dyn_siblings_t set;
    dyn_siblings_init(&set);
    rc = dyn_codec_decode_siblings(data, size, &set);
    if (rc == DYN_OK) {
        uint8_t *out = malloc(size ? size : 1);
        check(out != NULL, "out of memory");
        check(dyn_codec_siblings_size(&set) == size, "siblings_size differs");
        check(dyn_codec_encode_siblings(&set, out, size) == (int)size, "siblings length differs");
        check(memcmp(out, data, size) == 0, "siblings bytes differ");
        free(out);
    } else {
        check(rc == DYN_EBADMSG || rc == DYN_ENOMEM, "decode_siblings undocumented status");
        check(set.items == NULL && set.count == 0, "failed siblings decode left items");
    }
    dyn_siblings_clear(&set);

    dyn_vclock_t vc;
    rc = dyn_codec_decode_vclock(data, size, &vc);
    if (rc == DYN_OK) {
        uint8_t out[1 + DYN_VCLOCK_MAX * 30];
        check(dyn_codec_vclock_size(&vc) == size, "vclock_size differs");
        check(dyn_codec_encode_vclock(&vc, out, sizeof out) == (int)size, "vclock length differs");
        check(memcmp(out, data, size) == 0, "vclock bytes differ");
    } else {
        check(rc == DYN_EBADMSG && vc.count == 0, "failed vclock decode");
    }

    /* A view the checker accepts must decode, re-encode to the same bytes, and merge idempotently. */
    dyn_membership_t *view = dyn_membership_create();
    check(view != NULL, "out of memory");
    int checked = dyn_codec_check_membership(data, size);
    rc = dyn_codec_decode_membership(data, size, view);
    check(rc == checked || rc == DYN_ENOMEM, "check_membership and decode disagree");
    if (rc == DYN_OK) {
        uint8_t *out = malloc(size ? size : 1);
        check(out != NULL, "out of memory");
        check(dyn_codec_membership_size(view) == size, "membership_size differs");
        check(dyn_codec_encode_membership(view, out, size) == (int)size, "view length differs");
        check(memcmp(out, data, size) == 0, "view bytes differ");
        check(dyn_codec_merge_membership(data, size, view) == 0, "merging a view into itself changed it");
        free(out);
    } else {
        check(rc == DYN_EBADMSG || rc == DYN_ENOMEM, "decode_membership undocumented status");
        check(dyn_membership_count(view) == 0, "failed view decode left members");
    }
    dyn_membership_destroy(view);
    return 0;
}
