//! Freeing the blocks of large unlinked files off the runtime thread.
//!
//! The last close of an unlinked file frees its blocks in the calling
//! thread, and that takes time: 1 GiB freed by one close held the thread
//! 140 ms on ext4 here, and where ext4 runs without a journal and is
//! mounted with `discard`, each freed range also waits for the device's
//! discard. On a runtime thread every connection of the core waits that
//! long. A large file is therefore held open through its unlink, and its
//! blocks are freed by a thread of its own, truncated in steps of
//! [`FREE_STEP`] (each step holds the filesystem's journal only briefly),
//! then closed.
//!
//! [`free`] is awaited by what answers a client (DeleteObject, a PUT that
//! replaced an object): the runtime serves its other connections while the
//! task waits, and the answer still comes once the space is back, as it did
//! when the close was made in place. [`free_off_thread`] does not wait
//! (leftovers of a Complete or a copy, whose space nobody waits for).

use std::os::fd::{BorrowedFd, OwnedFd};

use monoio::io::AsyncReadRent;
use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};

/// Bytes freed per truncate when a file is freed off the runtime thread.
/// Freeing holds the filesystem's journal, and the runtime thread's own
/// metadata calls (an open, an rmdir) wait behind it: 1 GiB freed by one
/// close held them 140 ms on ext4 here, 16 MiB holds them about 3 ms.
/// Files of this size or less are closed in place.
pub(crate) const FREE_STEP: u64 = 16 << 20;

/// Bytes allocated to a file (`st_blocks` counts 512-byte units).
pub(crate) fn allocated(st: &rfs::Stat) -> u64 {
    u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512)
}

/// The regular file `name`, open for writing (its blocks are freed by
/// truncating it), when it holds more than [`FREE_STEP`]
/// bytes. None otherwise, or when it cannot be opened: it is then freed by
/// the unlink, as any small file.
pub(crate) fn hold_if_large(dir: BorrowedFd<'_>, name: &str) -> Option<OwnedFd> {
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    hold_if_large_stat(dir, name, &st)
}

/// [`hold_if_large`] of a file whose `stat` the caller has.
pub(crate) fn hold_if_large_stat(
    dir: BorrowedFd<'_>,
    name: &str,
    st: &rfs::Stat,
) -> Option<OwnedFd> {
    if rfs::FileType::from_raw_mode(st.st_mode) != rfs::FileType::RegularFile
        || allocated(st) <= FREE_STEP
    {
        return None;
    }
    rfs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Whether `files` hold more than [`FREE_STEP`] bytes in all.
fn large(files: &[OwnedFd]) -> bool {
    let size: u64 = files
        .iter()
        .filter_map(|fd| rfs::fstat(fd).ok())
        .map(|st| allocated(&st))
        .sum();
    size > FREE_STEP
}

/// Frees files that are unlinked but still open on a thread of its own,
/// and returns once they are freed (see the module documentation). Files
/// of [`FREE_STEP`] or less in all, or when no thread can be started, are
/// closed here. Dropping the future leaves the thread to finish.
pub(crate) async fn free(files: Vec<OwnedFd>) {
    if !large(&files) {
        return;
    }
    let Ok((ours, theirs)) = std::os::unix::net::UnixStream::pair() else {
        return;
    };
    if ours.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(mut ours) = monoio::net::UnixStream::from_std(ours) else {
        return;
    };
    if spawn_free(files, theirs) {
        // EOF (or an error) once the thread is done.
        let _ = ours.read(vec![0u8; 1]).await;
    }
}

/// [`free`] without waiting for it.
pub(crate) fn free_off_thread(files: Vec<OwnedFd>) {
    if large(&files) {
        spawn_free(files, ());
    }
}

/// Starts a `sluice-free` thread that frees `files`, closes them, then
/// drops `then` (the socket whose end wakes a waiting task). False when no
/// thread could be started: the files are closed here.
fn spawn_free<T: Send + 'static>(files: Vec<OwnedFd>, then: T) -> bool {
    std::thread::Builder::new()
        .name("sluice-free".into())
        .spawn(move || {
            for fd in &files {
                truncate_in_steps(fd);
            }
            drop(files);
            drop(then);
        })
        .is_ok()
}

/// Truncates an unlinked file to nothing in steps of [`FREE_STEP`]. A file
/// that still has a name (linked again over POSIX meanwhile, or replaced
/// under its name between our open and our unlink) is left whole: only
/// the close that follows is made.
fn truncate_in_steps(fd: &OwnedFd) {
    let Ok(stat) = rfs::fstat(fd) else {
        return;
    };
    if stat.st_nlink != 0 {
        return;
    }
    LARGE_FREED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // A descriptor open for reading only (a replaced object's, opened to
    // lock it) cannot truncate: the file is opened again for writing
    // through /proc, which reaches it without a name.
    let reopened;
    let fd = match rfs::fcntl_getfl(fd) {
        Ok(flags) if flags.contains(OFlags::WRONLY) || flags.contains(OFlags::RDWR) => fd,
        _ => {
            let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
            match rfs::open(
                path.as_str(),
                OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(w) => {
                    reopened = w;
                    &reopened
                }
                Err(_) => return,
            }
        }
    };
    let mut size = u64::try_from(stat.st_size).unwrap_or(0);
    while size > 0 {
        size = size.saturating_sub(FREE_STEP);
        if rfs::ftruncate(fd, size).is_err() {
            return;
        }
    }
}

/// A direct `unlinkat` that took longer than this waited for something
/// (the device's discard, a journal, a network filesystem's round trip):
/// after [`STRIKES`] such in a row, the unlinks on that filesystem go
/// through io_uring. A small
/// file's unlink takes 15 to 25 µs of CPU on ext4 here; where ext4 runs
/// without a journal and is mounted with `discard` it waits about 100 µs
/// more for the discard of each freed range.
const SLOW_UNLINK: std::time::Duration = std::time::Duration::from_micros(60);
/// While unlinks go through io_uring, every this many is made directly
/// again and timed, to come back once they are fast.
const RETIME_EVERY: u32 = 64;
/// Slow direct unlinks in a row that send the next ones to io_uring: one
/// alone may be the thread preempted in the call (a loop device's worker
/// on the same core did that here to one unlink in a few hundred).
const STRIKES: u8 = 2;

/// Whether one filesystem's unlinks wait, as this thread last timed them.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
struct UnlinkTiming {
    slow: bool,
    since: u32,
    /// Slow direct unlinks in a row.
    strikes: u8,
}

static UNLINKS_ON_RING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static LARGE_FREED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Object unlinks made through io_uring since the process started (see
/// [`unlink`]).
#[must_use]
pub fn unlinks_on_ring() -> u64 {
    UNLINKS_ON_RING.load(std::sync::atomic::Ordering::Relaxed)
}

/// Large files freed off the runtime threads since the process started
/// (see [`free`]).
#[must_use]
pub fn large_files_freed() -> u64 {
    LARGE_FREED.load(std::sync::atomic::Ordering::Relaxed)
}

impl UnlinkTiming {
    /// After a direct unlink that `waited` (took over [`SLOW_UNLINK`]).
    fn timed(self, waited: bool) -> Self {
        if !waited {
            // Quick: direct calls from now on.
            return Self::default();
        }
        let strikes = self.strikes.saturating_add(1);
        if !self.slow && strikes >= STRIKES {
            return Self {
                slow: true,
                since: 0,
                strikes,
            };
        }
        Self { strikes, ..self }
    }
}

thread_local! {
    static UNLINKS: std::cell::RefCell<std::collections::HashMap<u64, UnlinkTiming>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Unlinks `name` in `dir`, on filesystem `dev`: directly on this thread
/// (timed) while unlinks there are quick, through io_uring while they
/// wait (see [`SLOW_UNLINK`]). On io_uring a kernel worker waits instead
/// of the runtime thread, and several unlinks wait at once; it costs more
/// CPU than a direct call that does not wait (6 to 10 µs a DELETE here),
/// hence the timing. `dir` comes back for the caller to go on with (None
/// only when the ring could not take the operation).
pub(crate) async fn unlink(
    dev: u64,
    dir: OwnedFd,
    name: &str,
) -> (rustix::io::Result<()>, Option<OwnedFd>) {
    let on_ring = UNLINKS.with(|u| {
        let mut u = u.borrow_mut();
        let t = u.entry(dev).or_default();
        if !t.slow {
            return false;
        }
        t.since = t.since.wrapping_add(1);
        t.since % RETIME_EVERY != 0
    });
    if on_ring {
        UNLINKS_ON_RING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (unlinked, dir) = monoio::fs::remove_file_at(dir, std::path::Path::new(name)).await;
        let unlinked = unlinked
            .map_err(|e| rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO));
        return (unlinked, dir);
    }
    let began = std::time::Instant::now();
    let unlinked = rfs::unlinkat(&dir, name, AtFlags::empty());
    let waited = began.elapsed() > SLOW_UNLINK;
    UNLINKS.with(|u| {
        let mut u = u.borrow_mut();
        let t = u.entry(dev).or_default();
        *t = t.timed(waited);
    });
    (unlinked, Some(dir))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::fd::AsFd as _;

    use super::*;
    use crate::runtime::{block_on, Driver};

    fn dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sluice-free-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A file of `len` allocated bytes, open for writing.
    fn allocated_file(dir: &std::path::Path, name: &str, len: u64) -> OwnedFd {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.join(name))
            .unwrap();
        rfs::fallocate(&f, rfs::FallocateFlags::empty(), 0, len).unwrap();
        f.into()
    }

    #[test]
    fn an_unlinked_large_file_is_freed_before_free_returns() {
        let d = dir("large");
        let fd = allocated_file(&d, "big", 64 << 20);
        let dup = fd.try_clone().unwrap();
        std::fs::remove_file(d.join("big")).unwrap();
        block_on(Driver::IoUring, free(vec![fd])).unwrap();
        // The thread truncated the file it was given before answering.
        let st = rfs::fstat(&dup).unwrap();
        assert_eq!(st.st_size, 0);
        assert_eq!(allocated(&st), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_open_for_reading_only_is_freed_all_the_same() {
        let d = dir("readonly");
        drop(allocated_file(&d, "big", 48 << 20));
        let fd: OwnedFd = std::fs::File::open(d.join("big")).unwrap().into();
        let dup = fd.try_clone().unwrap();
        std::fs::remove_file(d.join("big")).unwrap();
        block_on(Driver::IoUring, free(vec![fd])).unwrap();
        let st = rfs::fstat(&dup).unwrap();
        assert_eq!((st.st_size, allocated(&st)), (0, 0));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_that_still_has_a_name_is_left_whole() {
        let d = dir("named");
        let fd = allocated_file(&d, "kept", 32 << 20);
        let dirfd = rfs::open(&d, OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        // Linked again under another name after "its" unlink.
        rfs::linkat(&dirfd, "kept", &dirfd, "again", AtFlags::empty()).unwrap();
        rfs::unlinkat(&dirfd, "kept", AtFlags::empty()).unwrap();
        block_on(Driver::IoUring, free(vec![fd])).unwrap();
        let st = rfs::statat(dirfd.as_fd(), "again", AtFlags::empty()).unwrap();
        assert_eq!(st.st_size, 32 << 20);
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn timing(dev: u64) -> (bool, u32) {
        UNLINKS.with(|u| {
            let t = u.borrow().get(&dev).copied().unwrap_or_default();
            (t.slow, t.since)
        })
    }

    #[test]
    fn unlinks_go_through_the_ring_once_one_waited_and_come_back_when_quick() {
        let d = dir("unlink");
        for name in ["a", "b", "c"] {
            std::fs::write(d.join(name), name).unwrap();
        }
        let dirfd = rfs::open(&d, OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let dev = rfs::fstat(&dirfd).unwrap().st_dev;
        for driver in [Driver::IoUring, Driver::Legacy] {
            block_on(driver, async {
                // As if a direct unlink had just waited.
                UNLINKS.with(|u| {
                    u.borrow_mut().insert(
                        dev,
                        UnlinkTiming {
                            slow: true,
                            since: 0,
                            strikes: STRIKES,
                        },
                    )
                });
                let before = unlinks_on_ring();
                let name = if driver == Driver::IoUring { "a" } else { "b" };
                let (unlinked, back) = unlink(dev, dirfd.try_clone().unwrap(), name).await;
                unlinked.unwrap();
                // The directory comes back, still open.
                assert_eq!(rfs::fstat(back.unwrap()).unwrap().st_dev, dev);
                assert!(!d.join(name).exists());
                // Errors come back as the direct call gives them.
                let missing = unlink(dev, dirfd.try_clone().unwrap(), "missing").await.0;
                assert_eq!(missing, Err(rustix::io::Errno::NOENT));
                assert_eq!(unlinks_on_ring() - before, 2);
                assert_eq!(timing(dev), (true, 2));
                // The next to be timed is made directly; quick, it ends the
                // ring's turn (a few tries: a thread preempted in the call
                // times it slow).
                for _ in 0..10 {
                    UNLINKS.with(|u| {
                        let retime = UnlinkTiming {
                            slow: true,
                            since: RETIME_EVERY - 1,
                            strikes: STRIKES,
                        };
                        u.borrow_mut().insert(dev, retime)
                    });
                    let direct = unlink(dev, dirfd.try_clone().unwrap(), "missing").await.0;
                    assert_eq!(direct, Err(rustix::io::Errno::NOENT));
                    assert_eq!(unlinks_on_ring() - before, 2);
                    if !timing(dev).0 {
                        break;
                    }
                }
                assert_eq!(timing(dev), (false, 0));
            })
            .unwrap();
        }
        block_on(Driver::IoUring, unlink(dev, dirfd, "c"))
            .unwrap()
            .0
            .unwrap();
        assert!(!d.join("c").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn one_slow_unlink_is_not_enough_and_one_quick_one_ends_the_ring() {
        let quick = UnlinkTiming::default();
        let once = quick.timed(true);
        assert!(!once.slow, "one slow unlink may be a preemption");
        let twice = once.timed(true);
        assert_eq!(
            twice,
            UnlinkTiming {
                slow: true,
                since: 0,
                strikes: 2
            }
        );
        // A retimed unlink that waited again keeps the ring's turn going.
        let on = UnlinkTiming {
            since: RETIME_EVERY,
            ..twice
        };
        assert!(on.timed(true).slow && on.timed(true).since == RETIME_EVERY);
        // A quick one, anywhere, goes back to direct calls.
        assert_eq!(on.timed(false), quick);
        assert_eq!(once.timed(false), quick);
    }

    #[test]
    fn small_files_are_closed_in_place() {
        let d = dir("small");
        let fd = allocated_file(&d, "small", 1 << 20);
        let dup = fd.try_clone().unwrap();
        std::fs::remove_file(d.join("small")).unwrap();
        block_on(Driver::IoUring, free(vec![fd])).unwrap();
        // Not truncated: closed as it was (the duplicate still holds it).
        assert_eq!(rfs::fstat(&dup).unwrap().st_size, 1 << 20);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
