/*
 * A bare UDP "echo" server: the ceiling for a UDP tracker on this loopback.
 *
 * One blocking socket, no state, no threads, and the same batched socket
 * path as chihaya's UDP frontend: one recvmmsg() takes every datagram
 * waiting (up to 64), one sendmmsg() sends their replies. (It used to do one
 * recvfrom() and one sendto() per datagram; batching is what any fast
 * server does, so the batched echo is the honest ceiling. Its CPU use in a
 * run says who was the bottleneck: well under a whole core, the load tester
 * was.) It answers each BEP 15 request with a reply of the right shape, so
 * aquatic_udp_load_test (which parses every reply and counts only
 * well-formed ones) and bench/udp_latency.rs count it as a response:
 *   connect  (action 0) -> action 0, transaction id, a fixed connection id
 *   announce (action 1) -> action 1, transaction id, interval, 0, 0 (no peers)
 *   scrape   (action 2) -> action 2, transaction id, 12 zero bytes per hash
 * Anything else is dropped. The connection id is not checked: this measures
 * the socket path, not a tracker.
 *
 * Build: gcc -O2 -o udp_echo bench/udp_echo.c
 * Run:   udp_echo 127.0.0.1 PORT        (SIGTERM/SIGINT stop it)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64

/* The reply to the request `in` (`n` bytes) in `out`; its length, or 0 for none. */
static size_t reply(const unsigned char *in, size_t n, unsigned char *out) {
    if (n < 16)
        return 0;
    uint32_t action;
    memcpy(&action, in + 8, 4);
    action = ntohl(action);
    memcpy(out, in + 8, 8); /* action and transaction id, as received */
    switch (action) {
    case 0: /* connect: a fixed connection id */
        memcpy(out + 8, "echo-cid", 8);
        return 16;
    case 1: { /* announce: interval 1800 s, no leechers, no seeders, no peers */
        uint32_t fixed[3] = {htonl(1800), 0, 0};
        memcpy(out + 8, fixed, sizeof fixed);
        return 20;
    }
    case 2: { /* scrape: zero counts for each of the (at most 74) hashes */
        size_t hashes = (n - 16) / 20;
        if (hashes == 0)
            return 0;
        if (hashes > 74)
            hashes = 74;
        memset(out + 8, 0, 12 * hashes);
        return 8 + 12 * hashes;
    }
    default:
        return 0;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s IPV4_ADDR PORT\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    int size = 8 << 20; /* as chihaya asks; the kernel caps it at rmem_max */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "not an IPv4 address: %s\n", argv[1]);
        return 2;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    static unsigned char in[BATCH][2048], out[BATCH][1500];
    static struct sockaddr_in from[BATCH];
    static struct iovec in_iov[BATCH], out_iov[BATCH];
    static struct mmsghdr in_msg[BATCH], out_msg[BATCH];
    for (int i = 0; i < BATCH; i++) {
        in_iov[i] = (struct iovec){.iov_base = in[i], .iov_len = sizeof in[i]};
        in_msg[i].msg_hdr.msg_iov = &in_iov[i];
        in_msg[i].msg_hdr.msg_iovlen = 1;
        in_msg[i].msg_hdr.msg_name = &from[i];
    }
    for (;;) {
        for (int i = 0; i < BATCH; i++)
            in_msg[i].msg_hdr.msg_namelen = sizeof from[i];
        /* Block for the first datagram only, then take what is queued. */
        int got = recvmmsg(fd, in_msg, BATCH, MSG_WAITFORONE, NULL);
        if (got <= 0)
            continue;
        int replies = 0;
        for (int i = 0; i < got; i++) {
            size_t len = reply(in[i], in_msg[i].msg_len, out[replies]);
            if (len == 0)
                continue;
            out_iov[replies] = (struct iovec){.iov_base = out[replies], .iov_len = len};
            out_msg[replies].msg_hdr = (struct msghdr){
                .msg_name = &from[i],
                .msg_namelen = in_msg[i].msg_hdr.msg_namelen,
                .msg_iov = &out_iov[replies],
                .msg_iovlen = 1,
            };
            replies++;
        }
        /* A reply the kernel refuses is skipped, as chihaya does. */
        for (int done = 0; done < replies;) {
            int sent = sendmmsg(fd, out_msg + done, replies - done, 0);
            done += sent > 0 ? sent : 1;
        }
    }
}
