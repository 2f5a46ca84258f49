// The kernel's share of listing one key the way sluice does (openat2, fstat,
// fgetxattr of the metadata, close), over every name of DIR, best of 5 passes.
//
// usage: list_floor DIR
// prints: <µs per key> <keys>
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static double wall_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: list_floor DIR\n");
        return 2;
    }
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        perror(argv[1]);
        return 1;
    }
    DIR *d = fdopendir(dup(dir));
    size_t n = 0, cap = 1024;
    char (*names)[256] = malloc(cap * 256);
    struct dirent *e;
    while (d && names && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) names = realloc(names, (cap *= 2) * 256);
        if (!names) return 1;
        memcpy(names[n], e->d_name, 256);
        n++;
    }
    if (n == 0) return 1;
    char buf[1024];
    double best = 1e9;
    for (int pass = 0; pass < 5; pass++) {
        double t0 = wall_seconds();
        for (size_t i = 0; i < n; i++) {
            struct open_how how = {
                .flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
            };
            int fd = (int)syscall(SYS_openat2, dir, names[i], &how, sizeof how);
            if (fd < 0) continue;
            struct stat st;
            (void)fstat(fd, &st);
            (void)fgetxattr(fd, "user.sluice.meta", buf, sizeof buf);
            close(fd);
        }
        double t = (wall_seconds() - t0) / (double)n * 1e6;
        if (t < best) best = t;
    }
    printf("%.2f %zu\n", best, n);
    return 0;
}
