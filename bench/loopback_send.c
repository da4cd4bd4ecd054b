/*
 * loopback_send: the kernel's floor under a realtime fan-out on this
 * machine. Opens N loopback TCP connection pairs (TCP_NODELAY, non-blocking
 * sender, as the server's streams are), then R rounds of one ~250-byte
 * send() to each of the N sockets, as one event to N subscribers; between
 * rounds it reads every receiver empty and pauses, so each round starts on
 * idle sockets. Prints the fastest round's cost per send: the least CPU a
 * single-threaded server on this kernel needs per stream and event, before
 * any work of its own (on loopback this includes the receiver's TCP
 * processing and its ACK, which the kernel runs on the sender's CPU).
 *
 *   loopback_send [-n N] [-r ROUNDS]
 *
 * Output: "loopback_send n=<N> best_us_per_send=<x> median_us_per_send=<y>".
 * Pin it like the server (taskset -c 0). Build: cc -O2 -o loopback_send
 * loopback_send.c
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n = 2000, rounds = 20, opt;
    while ((opt = getopt(argc, argv, "n:r:")) != -1) {
        if (opt == 'n')
            n = atoi(optarg);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else
            n = 0;
    }
    if (n <= 0 || rounds <= 0 || rounds > 1000) {
        fprintf(stderr, "usage: loopback_send [-n N] [-r ROUNDS<=1000]\n");
        return 1;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4096) ||
        getsockname(l, (struct sockaddr *)&a, &al)) {
        perror("listen");
        return 1;
    }
    int *srv = calloc((size_t)n, sizeof(int)), *cli = calloc((size_t)n, sizeof(int));
    double *cost = calloc((size_t)rounds, sizeof(double));
    if (!srv || !cli || !cost)
        return 1;
    for (int i = 0; i < n; i++) {
        int one = 1;
        cli[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (cli[i] < 0 || connect(cli[i], (struct sockaddr *)&a, sizeof(a)) ||
            (srv[i] = accept(l, NULL, NULL)) < 0) {
            perror("connect (raise ulimit -n?)");
            return 1;
        }
        setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(srv[i], F_SETFL, fcntl(srv[i], F_GETFL) | O_NONBLOCK);
    }
    char msg[250], drain[65536];
    memset(msg, 'x', sizeof(msg));
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (int i = 0; i < n; i++)
            if (send(srv[i], msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL) !=
                (ssize_t)sizeof(msg)) {
                perror("send");
                return 1;
            }
        cost[r] = (now_s() - t0) / n * 1e6;
        for (int i = 0; i < n; i++)
            if (read(cli[i], drain, sizeof(drain)) <= 0) {
                perror("read");
                return 1;
            }
        usleep(100 * 1000);
    }
    qsort(cost, (size_t)rounds, sizeof(double), cmp_d);
    printf("loopback_send n=%d best_us_per_send=%.2f median_us_per_send=%.2f\n", n, cost[0],
           cost[rounds / 2]);
    return 0;
}
