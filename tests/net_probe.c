/*
 * net_probe: helpers for the net tests (net_cluster.sh, net_forged.sh).
 *
 *   net_probe ports N                          print N free UDP ports on 127.0.0.1, one a line
 *   net_probe forge ADDR KEY_FILE CLUSTER      send a live node forged, damaged, replayed,
 *                                              truncated and oversized datagrams
 *   net_probe client-key ADDR CLUSTER_KEY CLIENT_KEY CLUSTER
 *                                              against a node with a client key: a client
 *                                              under the client key is answered; a client
 *                                              under the cluster key, a node id under the
 *                                              client key, and a client sending a node's
 *                                              messages are not
 *
 * forge checks that no refused datagram is answered (it waits for a reply after each) and that
 * one genuine request is, then prints the drop counts the node must report, one "name=count"
 * per line; the calling script compares them with the node's stats lines. Exit 0 when every
 * expectation held, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/status.h"
#include "net/bundle.h"
#include "net/seal.h"
#include "net/uv_env.h"

static int failures;

static int ports(int n)
{
    int fds[64];
    if (n < 1 || n > 64)
        return 2;
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&a, &len) != 0) {
            perror("net_probe ports");
            return 1;
        }
        printf("%u\n", ntohs(a.sin_port));
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return 0;
}

typedef struct probe {
    int fd;
    struct sockaddr_storage node;
    socklen_t node_len;
    net_seal_t *good; /* the real key and cluster: what replies are opened with */
    uint8_t frame[NET_UV_DATAGRAM_MAX];
} probe_t;

/* Wait up to ms for a datagram; return its length, or -1 if none came. */
static ssize_t wait_reply(probe_t *p, uint8_t *buf, size_t cap, int ms)
{
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) <= 0)
        return -1;
    return recv(p->fd, buf, cap, 0);
}

static void send_expect_silence(probe_t *p, const uint8_t *bytes, size_t len, const char *what)
{
    if (sendto(p->fd, bytes, len, 0, (struct sockaddr *)&p->node, p->node_len) != (ssize_t)len) {
        fprintf(stderr, "FAIL: could not send the %s datagram (%zu bytes)\n", what, len);
        failures++;
        return;
    }
    static uint8_t reply[65536];
    ssize_t n = wait_reply(p, reply, sizeof(reply), 150);
    if (n >= 0) {
        fprintf(stderr, "FAIL: the node answered a %s datagram (%zd bytes)\n", what, n);
        failures++;
    }
}

static net_seal_t *make_seal(const char *cluster, uint32_t sender, uint32_t key_id,
                             const uint8_t *key)
{
    net_seal_t *s;
    net_seal_config_t sc = {.cluster = cluster, .sender_id = sender,
                            .sender_epoch = net_uv_wall_now()};
    if (net_seal_create(&sc, &s) != DYN_OK || net_seal_add_key(s, key_id, key) != DYN_OK) {
        fprintf(stderr, "net_probe: cannot create a seal context\n");
        exit(2);
    }
    return s;
}

static size_t seal_into(net_seal_t *s, const uint8_t *plain, size_t len, uint8_t *frame)
{
    size_t out;
    if (net_seal(s, plain, len, frame, NET_UV_DATAGRAM_MAX, &out) != DYN_OK) {
        fprintf(stderr, "net_probe: seal failed\n");
        exit(2);
    }
    return out;
}

static int forge(const char *addr_text, const char *key_file, const char *cluster)
{
    probe_t *p = calloc(1, sizeof(*p));
    char err[256];
    uint8_t key[NET_SEAL_KEY_BYTES], wrong_key[NET_SEAL_KEY_BYTES];
    if (!p || net_uv_parse_addr(addr_text, &p->node, err, sizeof(err)) != DYN_OK ||
        net_seal_load_key_file(key_file, key, err, sizeof(err)) != DYN_OK) {
        fprintf(stderr, "net_probe: %s\n", err);
        return 2;
    }
    p->node_len = p->node.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                 : sizeof(struct sockaddr_in);
    p->fd = socket(p->node.ss_family, SOCK_DGRAM, 0);
    if (p->fd < 0) {
        perror("socket");
        return 2;
    }
    if (sodium_init() < 0)
        return 2;
    randombytes_buf(wrong_key, sizeof(wrong_key));
    uint32_t client = NET_UV_CLIENT_BASE | randombytes_uniform(1u << 30);
    p->good = make_seal(cluster, client, 1, key);
    net_seal_t *other_cluster = make_seal("not-this-cluster", client + 1, 1, key);
    net_seal_t *other_key_id = make_seal(cluster, client + 2, 7, key);
    net_seal_t *wrong = make_seal(cluster, client + 3, 1, wrong_key);
    net_seal_t *stranger = make_seal(cluster, 99, 1, key); /* a node id not in the table */

    /* A real request: put forge = "evil" (what forged frames carry) and forge = "x". */
    uint8_t evil[256], put[256];
    dyn_msg_t msg;
    dyn_msg_init(&msg, DYN_MSG_CLIENT_PUT);
    msg.request_id = 42;
    msg.key = (const uint8_t *)"forge";
    msg.key_length = 5;
    msg.value = (const uint8_t *)"evil";
    msg.value_length = 4;
    int evil_len = dyn_codec_encode(&msg, evil, sizeof(evil));
    msg.value = (const uint8_t *)"x";
    msg.value_length = 1;
    int put_len = dyn_codec_encode(&msg, put, sizeof(put));
    if (evil_len <= 0 || put_len <= 0)
        return 2;

    uint8_t *junk = malloc(NET_UV_DATAGRAM_MAX);
    uint8_t *f = p->frame;
    size_t n;
    randombytes_buf(junk, NET_UV_DATAGRAM_MAX);
    junk[0] = 0x00; /* not NET_SEAL_FORMAT */

    send_expect_silence(p, junk, 0, "empty");                               /* too_short */
    send_expect_silence(p, junk, 10, "10-byte");                            /* too_short */
    send_expect_silence(p, junk, 200, "unknown-format");                    /* bad_format */
    send_expect_silence(p, junk, NET_UV_DATAGRAM_MAX, "oversized junk");    /* bad_format */
    n = seal_into(other_cluster, evil, (size_t)evil_len, f);
    send_expect_silence(p, f, n, "other-cluster");                          /* wrong_cluster */
    n = seal_into(other_key_id, evil, (size_t)evil_len, f);
    send_expect_silence(p, f, n, "unknown-key-id");                         /* unknown_key */
    n = seal_into(wrong, evil, (size_t)evil_len, f);
    send_expect_silence(p, f, n, "wrong-key");                              /* bad_auth */
    n = seal_into(p->good, evil, (size_t)evil_len, f);
    f[n - 20] ^= 0x01;
    send_expect_silence(p, f, n, "flipped-ciphertext-bit");                 /* bad_auth */
    n = seal_into(p->good, evil, (size_t)evil_len, f);
    f[13] ^= 0x01; /* the sender id, in the authenticated header */
    send_expect_silence(p, f, n, "flipped-sender-bit");                     /* bad_auth */
    n = seal_into(p->good, evil, (size_t)evil_len, f);
    send_expect_silence(p, f, n - 1, "truncated");                          /* bad_auth */
    n = seal_into(stranger, evil, (size_t)evil_len, f);
    send_expect_silence(p, f, n, "unknown-node");                           /* unknown_sender */
    n = seal_into(p->good, junk + 1, 50, f);
    send_expect_silence(p, f, n, "authentic-garbage");                      /* bad_messages */
    n = seal_into(p->good, junk + 1, NET_UV_PLAIN_MAX, f);
    send_expect_silence(p, f, n, "authentic-oversized-garbage");            /* bad_messages */
    /* Bundles (bundle.h): one that claims three messages and holds two is refused whole; a
     * well-formed one of two garbage messages is opened, and core refuses each. */
    const uint8_t short_bundle[] = {NET_BUNDLE_MARKER, 3, 0, 2, 0, 0xD7, 1, 2, 0, 0xD7, 2};
    n = seal_into(p->good, short_bundle, sizeof(short_bundle), f);
    send_expect_silence(p, f, n, "authentic-malformed-bundle");             /* bundles_refused */
    const uint8_t junk_bundle[] = {NET_BUNDLE_MARKER, 2, 0, 3, 0, 0xD7, 0xEE, 0xEE,
                                   3, 0, 0xD7, 0xAA, 0xAA};
    n = seal_into(p->good, junk_bundle, sizeof(junk_bundle), f);
    send_expect_silence(p, f, n, "authentic-bundle-of-garbage");            /* bad_messages */

    /* The genuine request is answered... */
    n = seal_into(p->good, put, (size_t)put_len, f);
    uint8_t *genuine = malloc(n);
    memcpy(genuine, f, n);
    size_t genuine_len = n;
    sendto(p->fd, genuine, genuine_len, 0, (struct sockaddr *)&p->node, p->node_len);
    static uint8_t reply[65536], plain[65536];
    ssize_t got = wait_reply(p, reply, sizeof(reply), 2000);
    size_t plain_len = 0;
    dyn_msg_t rx;
    dyn_msg_init(&rx, DYN_MSG_CLIENT_REPLY);
    if (got < 0) {
        fprintf(stderr, "FAIL: the genuine put got no answer\n");
        failures++;
    } else if (net_unseal(p->good, reply, (size_t)got, plain, sizeof(plain), &plain_len, NULL) !=
                   DYN_OK ||
               dyn_codec_decode(plain, plain_len, &rx) != DYN_OK ||
               rx.type != DYN_MSG_CLIENT_REPLY || rx.request_id != 42 || rx.status != DYN_OK) {
        fprintf(stderr, "FAIL: the genuine put's answer is not a successful reply\n");
        failures++;
    }
    dyn_msg_clear(&rx);
    /* ...and its replay is not. */
    send_expect_silence(p, genuine, genuine_len, "replayed");               /* replayed */

    printf("too_short=2\nbad_format=2\nwrong_cluster=1\nunknown_key=1\nbad_auth=4\n"
           "replayed=1\nunknown_sender=1\nbad_messages=4\nbundles_refused=1\n"
           "bundles_received=1\n");
    free(genuine);
    free(junk);
    net_seal_destroy(p->good);
    net_seal_destroy(other_cluster);
    net_seal_destroy(other_key_id);
    net_seal_destroy(wrong);
    net_seal_destroy(stranger);
    close(p->fd);
    free(p);
    return failures ? 1 : 0;
}

/* Encode msg into buf (exit 2 if it does not encode); its length. */
static size_t encode_or_die(const dyn_msg_t *msg, uint8_t *buf, size_t cap)
{
    int n = dyn_codec_encode(msg, buf, cap);
    if (n <= 0) {
        fprintf(stderr, "net_probe: cannot encode a message of type %d\n", (int)msg->type);
        exit(2);
    }
    return (size_t)n;
}

static int client_key(const char *addr_text, const char *cluster_key_file,
                      const char *client_key_file, const char *cluster)
{
    probe_t *p = calloc(1, sizeof(*p));
    char err[256];
    uint8_t cluster_key[NET_SEAL_KEY_BYTES], ckey[NET_SEAL_KEY_BYTES];
    if (!p || net_uv_parse_addr(addr_text, &p->node, err, sizeof(err)) != DYN_OK ||
        net_seal_load_key_file(cluster_key_file, cluster_key, err, sizeof(err)) != DYN_OK ||
        net_seal_load_key_file(client_key_file, ckey, err, sizeof(err)) != DYN_OK) {
        fprintf(stderr, "net_probe: %s\n", err);
        return 2;
    }
    p->node_len = p->node.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                 : sizeof(struct sockaddr_in);
    p->fd = socket(p->node.ss_family, SOCK_DGRAM, 0);
    if (p->fd < 0 || sodium_init() < 0)
        return 2;
    uint32_t client = NET_UV_CLIENT_BASE | randombytes_uniform(1u << 30);
    p->good = make_seal(cluster, client, NET_UV_KEY_ID_CLIENT, ckey);
    net_seal_t *as_cluster = make_seal(cluster, client + 1, NET_UV_KEY_ID_CLUSTER, cluster_key);
    net_seal_t *as_node = make_seal(cluster, 1, NET_UV_KEY_ID_CLIENT, ckey);

    uint8_t good[256], evil[256], rput[256], rget[256];
    dyn_msg_t msg;
    dyn_msg_init(&msg, DYN_MSG_CLIENT_PUT);
    msg.request_id = 7;
    msg.key = (const uint8_t *)"ck";
    msg.key_length = 2;
    msg.value = (const uint8_t *)"genuine";
    msg.value_length = 7;
    size_t good_len = encode_or_die(&msg, good, sizeof(good));
    msg.key = (const uint8_t *)"ck-evil";
    msg.key_length = 7;
    msg.value = (const uint8_t *)"evil";
    msg.value_length = 4;
    size_t evil_len = encode_or_die(&msg, evil, sizeof(evil));
    /* A replica's write of ck-evil, as a coordinator would send it: only nodes may. */
    dyn_msg_init(&msg, DYN_MSG_REPLICA_PUT);
    msg.request_id = 8;
    msg.key = (const uint8_t *)"ck-evil";
    msg.key_length = 7;
    msg.version.dot = (dyn_vclock_entry_t){.node = 1, .epoch = 1, .counter = 1};
    msg.version.value = (const uint8_t *)"evil";
    msg.version.value_length = 4;
    size_t rput_len = encode_or_die(&msg, rput, sizeof(rput));
    dyn_msg_init(&msg, DYN_MSG_REPLICA_GET);
    msg.request_id = 9;
    msg.key = (const uint8_t *)"ck";
    msg.key_length = 2;
    size_t rget_len = encode_or_die(&msg, rget, sizeof(rget));

    uint8_t *f = p->frame;
    size_t n = seal_into(as_cluster, evil, evil_len, f);
    send_expect_silence(p, f, n, "client-under-the-cluster-key");       /* wrong_key */
    n = seal_into(as_node, evil, evil_len, f);
    send_expect_silence(p, f, n, "node-id-under-the-client-key");       /* wrong_key */
    n = seal_into(p->good, rput, rput_len, f);
    send_expect_silence(p, f, n, "replica-put-from-a-client");          /* client_refused */
    n = seal_into(p->good, rget, rget_len, f);
    send_expect_silence(p, f, n, "replica-get-from-a-client");          /* client_refused */

    /* The genuine request under the client key is answered, under the client key. */
    n = seal_into(p->good, good, good_len, f);
    sendto(p->fd, f, n, 0, (struct sockaddr *)&p->node, p->node_len);
    static uint8_t reply[65536], plain[65536];
    ssize_t got = wait_reply(p, reply, sizeof(reply), 2000);
    size_t plain_len = 0;
    dyn_msg_t rx;
    dyn_msg_init(&rx, DYN_MSG_CLIENT_REPLY);
    net_seal_origin_t origin;
    if (got < 0) {
        fprintf(stderr, "FAIL: the genuine put under the client key got no answer\n");
        failures++;
    } else if (net_unseal(p->good, reply, (size_t)got, plain, sizeof(plain), &plain_len,
                          &origin) != DYN_OK ||
               origin.key_id != NET_UV_KEY_ID_CLIENT ||
               dyn_codec_decode(plain, plain_len, &rx) != DYN_OK ||
               rx.type != DYN_MSG_CLIENT_REPLY || rx.request_id != 7 || rx.status != DYN_OK) {
        fprintf(stderr, "FAIL: the genuine put's answer is not a successful reply under the "
                "client key\n");
        failures++;
    }
    dyn_msg_clear(&rx);
    printf("wrong_key=2\nclient_refused=2\n");
    net_seal_destroy(p->good);
    net_seal_destroy(as_cluster);
    net_seal_destroy(as_node);
    sodium_memzero(cluster_key, sizeof(cluster_key));
    sodium_memzero(ckey, sizeof(ckey));
    close(p->fd);
    free(p);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "ports") == 0)
        return ports(atoi(argv[2]));
    if (argc == 5 && strcmp(argv[1], "forge") == 0)
        return forge(argv[2], argv[3], argv[4]);
    if (argc == 6 && strcmp(argv[1], "client-key") == 0)
        return client_key(argv[2], argv[3], argv[4], argv[5]);
    fprintf(stderr, "usage: net_probe ports N | net_probe forge ADDR KEY_FILE CLUSTER\n"
                    "       net_probe client-key ADDR CLUSTER_KEY CLIENT_KEY CLUSTER\n");
    return 2;
}
