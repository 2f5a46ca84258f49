//! Group commit: the writes of one runtime thread made durable together.
//!
//! A write that needs what it wrote durable calls [`synced`] and waits for a
//! `syncfs` of its filesystem that *started after* the call: one sync covers
//! every write that was waiting when it began, however many. A sync runs
//! while others gather for the next, so under load each sync is shared by
//! all the writes of its interval, and the number of syncs a second is set
//! by how long one takes, not by the number of writes.
//!
//! `syncfs` blocks, so each runtime thread has a helper thread per
//! filesystem that runs it; the runtime asks and is answered over a socket
//! pair (io_uring reads it), the same way large copies report back.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::task::{Poll, Waker};

use monoio::io::{AsyncReadRentExt as _, AsyncWriteRentExt as _};
use rustix::fs::{self as rfs, Mode, OFlags};

/// One write waiting for a sync.
#[derive(Default)]
struct Slot {
    result: Cell<Option<Result<(), i32>>>,
    waker: RefCell<Option<Waker>>,
}

/// The group commit of one filesystem on this thread.
struct Gate {
    /// Writes waiting for the next sync to start.
    pending: RefCell<Vec<Rc<Slot>>>,
    running: Cell<bool>,
    /// The helper thread's end: ask with one byte, read a 4-byte errno
    /// (0: synced). None once the helper is gone.
    line: RefCell<Option<monoio::net::UnixStream>>,
    /// A descriptor on the filesystem, for a new helper.
    fd: OwnedFd,
}

thread_local! {
    static GATES: RefCell<HashMap<u64, Rc<Gate>>> = RefCell::new(HashMap::new());
}

// Writes of this thread between their data and their answer: those that
// a group sync would take together.
thread_local! {
    static SYNCING: Cell<usize> = const { Cell::new(0) };
}

/// From how many writes syncing at once on a thread a `syncfs` shared by
/// all of them costs less than each syncing its own file and directory.
/// Measured with tools/group_commit_bench.py: at 8 PUTs in flight the
/// shared syncs (two waits of one and a half syncs each) were slower than
/// eight fdatasyncs that the journal commits together (1,381 against 2,660
/// PUTs/s on a journaled ext4), at 64 faster and cheaper (118 against 135
/// µs of CPU a PUT).
pub const GROUP_FROM: usize = 16;

/// Whether a write starting now on this thread will likely sync with the
/// group ([`Syncing::enter`] decides when it gets there): its filesystem's
/// syncs may be shared (`shared`: group commit on, and a filesystem whose
/// `syncfs` suffices) and enough writes are syncing already. A wrong guess
/// costs time, never durability.
pub(crate) fn likely_grouped(shared: bool) -> bool {
    shared && SYNCING.with(Cell::get).saturating_add(1) >= GROUP_FROM
}

/// A write syncing on this thread, counted until dropped.
pub(crate) struct Syncing(());

impl Syncing {
    /// Counts this write; whether it should use the group's syncs
    /// (`shared`: its filesystem's syncs may be shared, see
    /// [`likely_grouped`]; and at least [`GROUP_FROM`] writes syncing).
    pub(crate) fn enter(shared: bool) -> (Self, bool) {
        let n = SYNCING.with(|c| {
            let n = c.get().saturating_add(1);
            c.set(n);
            n
        });
        (Syncing(()), shared && n >= GROUP_FROM)
    }
}

impl Drop for Syncing {
    fn drop(&mut self) {
        SYNCING.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Syncs run, on every thread (for the metrics).
static SYNCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Writes the syncs covered.
static COVERED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// (syncs run, writes they covered) since the process started.
#[must_use]
pub fn stats() -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (SYNCS.load(Relaxed), COVERED.load(Relaxed))
}

/// The topmost directory of the filesystem that holds directory `dir`
/// (whose device is `dev`): the descriptor a gate keeps. Not `dir` itself,
/// which a delete may remove, nor a file, whose space a kept descriptor
/// would hold after its object is deleted.
fn mount_root(dir: BorrowedFd<'_>, dev: u64) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut cur = rfs::openat(dir, ".", flags, Mode::empty())?;
    for _ in 0..4096 {
        let up = rfs::openat(&cur, "..", flags, Mode::empty())?;
        let (above, here) = (rfs::fstat(&up)?, rfs::fstat(&cur)?);
        if above.st_dev != dev || (above.st_ino == here.st_ino && above.st_dev == here.st_dev) {
            break;
        }
        cur = up;
    }
    Ok(cur)
}

/// Waits until a `syncfs` of the filesystem holding directory `fd` (whose
/// device is `dev`) that
/// started after this call has completed: everything written there before
/// the call is then durable (data, inodes, directory entries).
///
/// # Errors
/// The sync's error, or the helper thread's failure to start.
pub(crate) async fn synced(dev: u64, fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let gate = match GATES.with(|g| g.borrow().get(&dev).cloned()) {
        Some(g) => g,
        None => {
            let fd = mount_root(fd, dev)?;
            let gate = Rc::new(Gate {
                pending: RefCell::new(Vec::new()),
                running: Cell::new(false),
                line: RefCell::new(Some(helper(fd.try_clone()?)?)),
                fd,
            });
            GATES.with(|g| g.borrow_mut().insert(dev, Rc::clone(&gate)));
            gate
        }
    };
    let slot = Rc::new(Slot::default());
    gate.pending.borrow_mut().push(Rc::clone(&slot));
    if !gate.running.replace(true) {
        monoio::spawn(run(Rc::clone(&gate)));
    }
    let result = std::future::poll_fn(|cx| match slot.result.take() {
        Some(r) => Poll::Ready(r),
        None => {
            *slot.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await;
    result.map_err(std::io::Error::from_raw_os_error)
}

/// Makes the entries of directory `dir` (on device `dev`) durable (a name just linked
/// there): by the group commit's next sync, or by an fsync of the directory
/// through io_uring.
pub(crate) async fn entries_synced(
    group: bool,
    dev: u64,
    dir: BorrowedFd<'_>,
) -> std::io::Result<()> {
    if group {
        return synced(dev, dir).await;
    }
    // A duplicate of the caller's descriptor: opening the directory anew
    // would be an opendir on a FUSE view (bindfs), after which that view
    // kept seeing the directory once another node removed it. The
    // duplicate shares the caller's open file and its flock, so it is
    // closed before this returns.
    let dup = dir.try_clone_to_owned()?;
    let file = monoio::fs::File::from_std(std::fs::File::from(dup))?;
    let synced = file.sync_all().await;
    let closed = file.close().await;
    synced.and(closed)
}

/// Clears `running` when the sync loop's task ends, however it ends (a
/// runtime that ends drops its tasks unrun: a later runtime on this thread
/// then starts its own loop).
struct Stopped(Rc<Gate>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.running.set(false);
    }
}

/// Syncs while writes wait: each sync takes the writes that were waiting
/// when it started.
async fn run(gate: Rc<Gate>) {
    let stopped = Stopped(gate);
    let gate = &stopped.0;
    loop {
        let batch = std::mem::take(&mut *gate.pending.borrow_mut());
        if batch.is_empty() {
            return;
        }
        let result = sync_once(gate).await;
        SYNCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        COVERED.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for slot in batch {
            slot.result.set(Some(result));
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }
}

/// One sync through the helper thread. A line that fails (its helper
/// gone, or made under another runtime this thread ran before) is replaced
/// by a new helper once.
async fn sync_once(gate: &Gate) -> Result<(), i32> {
    const EIO: i32 = 5;
    for _ in 0..2 {
        let line = gate.line.borrow_mut().take();
        let mut line = match line {
            Some(l) => l,
            None => match gate.fd.try_clone().and_then(helper) {
                Ok(l) => l,
                Err(_) => return Err(EIO),
            },
        };
        let (written, _) = line.write_all(vec![1u8]).await;
        if written.is_err() {
            continue;
        }
        let (read, buf) = line.read_exact(vec![0u8; 4]).await;
        if read.is_err() {
            continue;
        }
        *gate.line.borrow_mut() = Some(line);
        return match i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) {
            0 => Ok(()),
            errno => Err(errno),
        };
    }
    // No helper answers: the writes fail rather than being acknowledged
    // without a sync.
    Err(EIO)
}

/// Starts the helper thread that syncs the filesystem of `fd`.
fn helper(fd: OwnedFd) -> std::io::Result<monoio::net::UnixStream> {
    let (ours, mut theirs) = StdUnixStream::pair()?;
    std::thread::Builder::new()
        .name("sluice-sync".into())
        .spawn(move || {
            let mut ask = [0u8; 1];
            // Asked once per sync; ends when the runtime's end closes.
            while matches!(theirs.read(&mut ask), Ok(1)) {
                let errno = match rustix::fs::syncfs(fd.as_fd()) {
                    Ok(()) => 0,
                    Err(e) => e.raw_os_error(),
                };
                if theirs.write_all(&errno.to_le_bytes()).is_err() {
                    break;
                }
            }
        })?;
    ours.set_nonblocking(true)?;
    monoio::net::UnixStream::from_std(ours)
}
