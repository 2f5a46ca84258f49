//! The metadata syscalls of PUT, GET and LIST on io_uring against direct
//! calls (issue 19): on one monoio io_uring runtime, over 20,000 files of one
//! directory, each way, once one task at a time and once with 64 tasks in
//! flight (where the ring can batch submissions):
//! - GET's open: openat, statx, close (direct: rustix on the runtime
//!   thread; ring: IORING_OP_OPENAT, IORING_OP_STATX, IORING_OP_CLOSE);
//! - PUT's namespace work: create a file, rename it, unlink it (ring:
//!   OPENAT with O_CREAT, RENAMEAT, UNLINKAT).
//!
//! Prints wall time and process CPU (every thread, io_uring's workers
//! included) per operation.
//!
//!     cargo bench -p sluice-benches --bench metadata

use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, StatxFlags};

const FILES: usize = 20_000;

/// CPU of the whole process (io_uring's worker threads are its threads).
fn cpu_s() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// One task switch, as an await on the ring makes.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

/// Runs `op(i)` for every file, `tasks` at once; (wall µs, CPU µs) per op.
fn measure<F, Fut>(tasks: usize, op: F) -> (f64, f64)
where
    F: Fn(usize) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let op = Rc::new(op);
    sluice_core::block_on(sluice_core::Driver::IoUring, async move {
        let (t0, c0) = (Instant::now(), cpu_s());
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let op = Rc::clone(&op);
                monoio::spawn(async move {
                    let mut i = t;
                    while i < FILES {
                        op(i).await;
                        i += tasks;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        let n = FILES as f64;
        (
            t0.elapsed().as_secs_f64() * 1e6 / n,
            (cpu_s() - c0) * 1e6 / n,
        )
    })
    .unwrap_or((0.0, 0.0))
}

fn name(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("file-{i:05}"))
}

fn main() {
    let base = std::env::var_os("SLUICE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let dir = base.join(format!("metadata-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench directory");
    for i in 0..FILES {
        std::fs::write(name(&dir, i), b"x").expect("file");
    }
    let dirfd = Rc::new(
        rfs::open(&dir, OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty()).expect("open dir"),
    );
    println!("| operation | tasks in flight | direct µs wall | direct µs CPU | ring µs wall | ring µs CPU |");
    println!("|---|---|---|---|---|---|");
    for tasks in [1usize, 64] {
        // Warm the dentry cache once.
        let _ = measure(1, {
            let d = Rc::clone(&dirfd);
            move |i| {
                let d = Rc::clone(&d);
                async move {
                    let _ = rfs::statat(d.as_fd(), format!("file-{i:05}"), AtFlags::empty());
                }
            }
        });
        let direct = measure(tasks, {
            let d = Rc::clone(&dirfd);
            move |i| {
                let d = Rc::clone(&d);
                async move {
                    let fd = rfs::openat(
                        d.as_fd(),
                        format!("file-{i:05}"),
                        OFlags::RDONLY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .expect("openat");
                    let _ = rfs::statx(&fd, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS)
                        .expect("statx");
                    drop(fd);
                    yield_once().await;
                }
            }
        });
        let ring = measure(tasks, {
            let dir = dir.clone();
            move |i| {
                let path = name(&dir, i);
                async move {
                    let f = monoio::fs::File::open(&path).await.expect("open");
                    let _ = f.metadata().await.expect("statx");
                    f.close().await.expect("close");
                }
            }
        });
        println!(
            "| GET's open (openat, statx, close) | {tasks} | {:.2} | {:.2} | {:.2} | {:.2} |",
            direct.0, direct.1, ring.0, ring.1
        );
        let direct = measure(tasks, {
            let d = Rc::clone(&dirfd);
            move |i| {
                let d = Rc::clone(&d);
                async move {
                    let (a, b) = (format!("new-{i:05}"), format!("moved-{i:05}"));
                    let fd = rfs::openat(
                        d.as_fd(),
                        &a,
                        OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o644),
                    )
                    .expect("create");
                    drop(fd);
                    rfs::renameat(d.as_fd(), &a, d.as_fd(), &b).expect("rename");
                    rfs::unlinkat(d.as_fd(), &b, AtFlags::empty()).expect("unlink");
                    yield_once().await;
                }
            }
        });
        let ring = measure(tasks, {
            let dir = dir.clone();
            move |i| {
                let (a, b) = (
                    dir.join(format!("new-{i:05}")),
                    dir.join(format!("moved-{i:05}")),
                );
                async move {
                    let f = monoio::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .open(&a)
                        .await
                        .expect("create");
                    f.close().await.expect("close");
                    monoio::fs::rename(&a, &b).await.expect("rename");
                    monoio::fs::remove_file(&b).await.expect("unlink");
                }
            }
        });
        println!(
            "| PUT's namespace (create, rename, unlink) | {tasks} | {:.2} | {:.2} | {:.2} | {:.2} |",
            direct.0, direct.1, ring.0, ring.1
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
