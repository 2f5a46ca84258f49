// The kernel's share of a small PUT's loopback TCP: CONNS connections (a client
// process on CPU 1), each with one request in flight: it sends 4,400 bytes (a
// 4 KiB body and its head) and reads a 300-byte answer; the server (one thread
// on CPU 0, epoll) reads each request whole and answers. Nothing is parsed.
//
// usage: tcp_floor CONNS REQUESTS_PER_CONNECTION
// prints: <µs of server CPU per request> <requests>
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQUEST 4400
#define ANSWER 300

static double cpu_seconds(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

static void nodelay(int fd) {
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void client(struct sockaddr_in addr, int conns, int per) {
    pin(1);
    int ep = epoll_create1(0);
    int *fd = calloc((size_t)conns, sizeof(int)), *got = calloc((size_t)conns, sizeof(int)),
        *left = calloc((size_t)conns, sizeof(int));
    static char request[REQUEST], buf[65536];
    memset(request, 'r', sizeof request);
    for (int i = 0; i < conns; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        nodelay(fd[i]);
        if (connect(fd[i], (struct sockaddr *)&addr, sizeof addr)) _exit(1);
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &e);
        left[i] = per;
        if (write(fd[i], request, REQUEST) != REQUEST) _exit(1);
    }
    int live = conns;
    struct epoll_event ev[256];
    while (live) {
        int n = epoll_wait(ep, ev, 256, -1);
        for (int j = 0; j < n; j++) {
            int i = (int)ev[j].data.u32;
            ssize_t r = read(fd[i], buf, sizeof buf);
            if (r <= 0) {
                close(fd[i]);
                live--;
                continue;
            }
            got[i] += (int)r;
            if (got[i] >= ANSWER) {
                got[i] -= ANSWER;
                if (--left[i] > 0) {
                    if (write(fd[i], request, REQUEST) != REQUEST) _exit(1);
                } else {
                    close(fd[i]);
                    live--;
                }
            }
        }
    }
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: tcp_floor CONNS REQUESTS_PER_CONNECTION\n");
        return 2;
    }
    int conns = atoi(argv[1]), per = atoi(argv[2]);
    if (conns <= 0 || conns > 4096 || per <= 0) return 2;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 4096) ||
        getsockname(listener, (struct sockaddr *)&addr, &len)) {
        perror("listen");
        return 1;
    }
    pid_t child = fork();
    if (child == 0) client(addr, conns, per);
    pin(0);
    int ep = epoll_create1(0);
    static char buf[65536], answer[ANSWER];
    memset(answer, 'a', sizeof answer);
    int *got = calloc(65536, sizeof(int));
    struct epoll_event e = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &e);
    long answered = 0;
    int accepted = 0, closed = 0;
    double cpu0 = 0;
    struct epoll_event ev[256];
    while (closed < conns) {
        int n = epoll_wait(ep, ev, 256, -1);
        for (int j = 0; j < n; j++) {
            int f = ev[j].data.fd;
            if (f == listener) {
                int c = accept(listener, NULL, NULL);
                if (c < 0 || c >= 65536) return 1;
                nodelay(c);
                struct epoll_event ec = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ec);
                if (++accepted == conns) cpu0 = cpu_seconds();
                continue;
            }
            ssize_t r = read(f, buf, sizeof buf);
            if (r <= 0) {
                close(f);
                closed++;
                continue;
            }
            got[f] += (int)r;
            while (got[f] >= REQUEST) {
                got[f] -= REQUEST;
                if (write(f, answer, ANSWER) != ANSWER) return 1;
                answered++;
            }
        }
    }
    double cpu = cpu_seconds() - cpu0;
    waitpid(child, NULL, 0);
    printf("%.2f %ld\n", cpu / (double)answered * 1e6, answered);
    return 0;
}
