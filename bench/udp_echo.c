/*
 * A bare UDP "echo" server: the ceiling for a UDP tracker on this loopback.
 *
 * One blocking socket, one recvfrom() and one sendto() per datagram, no
 * state, no threads. It answers each BEP 15 request with a reply of the
 * right shape, so aquatic_udp_load_test (which parses every reply and
 * counts only well-formed ones) and bench/udp_latency.rs count it as a
 * response:
 *   connect  (action 0) -> action 0, transaction id, a fixed connection id
 *   announce (action 1) -> action 1, transaction id, interval, 0, 0 (no peers)
 *   scrape   (action 2) -> action 2, transaction id, 12 zero bytes per hash
 * Anything else is dropped. The connection id is not checked: this measures
 * the socket path, not a tracker.
 *
 * Build: gcc -O2 -o udp_echo bench/udp_echo.c
 * Run:   udp_echo 127.0.0.1 PORT        (SIGTERM/SIGINT stop it)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
    unsigned char in[2048], out[1500];
    for (;;) {
        struct sockaddr_in from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&from, &from_len);
        if (n < 16)
            continue;
        uint32_t action;
        memcpy(&action, in + 8, 4);
        action = ntohl(action);
        size_t len;
        memcpy(out, in + 8, 8); /* action and transaction id, as received */
        switch (action) {
        case 0: /* connect: a fixed connection id */
            memcpy(out + 8, "echo-cid", 8);
            len = 16;
            break;
        case 1: { /* announce: interval 1800 s, no leechers, no seeders, no peers */
            uint32_t fixed[3] = {htonl(1800), 0, 0};
            memcpy(out + 8, fixed, sizeof fixed);
            len = 20;
            break;
        }
        case 2: { /* scrape: zero counts for each of the (at most 74) hashes */
            size_t hashes = (size_t)(n - 16) / 20;
            if (hashes == 0)
                continue;
            if (hashes > 74)
                hashes = 74;
            len = 8 + 12 * hashes;
            memset(out + 8, 0, len - 8);
            break;
        }
        default:
            continue;
        }
        sendto(fd, out, len, 0, (struct sockaddr *)&from, from_len);
    }
}
