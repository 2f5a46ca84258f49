// The kernel's share of a durable 4 KiB PUT on a filesystem, with nothing of
// HTTP: per object an O_TMPFILE, one 4 KiB pwrite through the page cache, the
// 38-byte metadata xattr and a linkat to a new name; per batch of BATCH objects
// one syncfs before the links and one after (what sluice's group commit does).
// With LOOKUPS 1, each object also makes the lookups of a sluice PUT: openat2
// of the bucket and of the key's parent directory, the bucket's encryption
// xattr (absent), a shared flock and an fstat of the parent, and the closes.
//
// usage: fs_floor DIR OBJECTS BATCH LOOKUPS
// prints: <µs of CPU per object> <objects per second>
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static double cpu_seconds(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

static double wall_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int open_beneath(int dir, const char *name) {
    struct open_how how = {
        .flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_DIRECTORY,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dir, name, &how, sizeof how);
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: fs_floor DIR OBJECTS BATCH LOOKUPS\n");
        return 2;
    }
    int objects = atoi(argv[2]), batch = atoi(argv[3]), lookups = atoi(argv[4]);
    if (objects <= 0 || batch <= 0) return 2;
    int root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) die(argv[1]);
    if (mkdirat(root, "bucket", 0755) && errno != EEXIST) die("mkdir bucket");
    int bucket = open_beneath(root, "bucket");
    if (bucket < 0) die("bucket");
    if (mkdirat(bucket, "prefix", 0755) && errno != EEXIST) die("mkdir prefix");
    int parent = open_beneath(bucket, "prefix");
    if (parent < 0) die("prefix");

    char data[4096], meta[38], name[64], config[1024];
    memset(data, 'x', sizeof data);
    memset(meta, 1, sizeof meta);
    int *temp = calloc((size_t)batch, sizeof(int));
    int *dirs = calloc((size_t)batch, sizeof(int));
    if (!temp || !dirs) die("calloc");

    double cpu0 = cpu_seconds(), wall0 = wall_seconds();
    for (int done = 0; done < objects; done += batch) {
        for (int i = 0; i < batch; i++) {
            int dir = parent;
            if (lookups) {
                int b = open_beneath(root, "bucket");
                if (b < 0) die("openat2 bucket");
                (void)fgetxattr(b, "user.sluice.bucket.encryption", config, sizeof config);
                dir = open_beneath(b, "prefix");
                if (dir < 0) die("openat2 parent");
                (void)flock(dir, LOCK_SH);
                struct stat st;
                if (fstat(dir, &st)) die("fstat");
                close(b);
            }
            dirs[i] = dir;
            temp[i] = openat(dir, ".", O_RDWR | O_TMPFILE | O_CLOEXEC, 0644);
            if (temp[i] < 0) die("O_TMPFILE");
            if (pwrite(temp[i], data, sizeof data, 0) != (ssize_t)sizeof data) die("pwrite");
            if (fsetxattr(temp[i], "user.sluice.meta", meta, sizeof meta, 0)) die("fsetxattr");
        }
        if (syncfs(parent)) die("syncfs");
        for (int i = 0; i < batch; i++) {
            snprintf(name, sizeof name, "%d-%08d.obj", (int)getpid(), done + i);
            if (linkat(temp[i], "", dirs[i], name, AT_EMPTY_PATH)) die("linkat");
            close(temp[i]);
        }
        if (syncfs(parent)) die("syncfs");
        if (lookups)
            for (int i = 0; i < batch; i++) close(dirs[i]);
    }
    double cpu = cpu_seconds() - cpu0, wall = wall_seconds() - wall0;
    printf("%.2f %.0f\n", cpu / objects * 1e6, objects / wall);
    return 0;
}
