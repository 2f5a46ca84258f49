//! Server-side copy: copy_file_range into a temporary file next to the
//! target (a reflink, no data moved, where the filesystem can), published
//! like a PUT.
//!
//! copy_file_range has no io_uring opcode, and it holds its thread for as
//! long as the kernel copies, waiting for the disk: 1 GiB in one call on
//! the runtime thread kept every connection of the core waiting 0.6 s from
//! the page cache and seconds from the disk (issue 12). [`copy_range`] runs
//! a large copy on a thread of its own while the task waits on a socket
//! (crate::free frees the large files a copy leaves behind).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use monoio::io::AsyncReadRent;
use rustix::fs::{self as rfs, Mode, OFlags};

use crate::error::{Conflict, Result, StoreError};
use crate::meta::ObjectMeta;
use crate::names::ObjectKey;
use crate::publish::WriteCondition;
use crate::store::{ObjectInfo, Store};

impl Store {
    /// Copies an object. `headers` replaces the metadata (S3's REPLACE
    /// directive); None keeps the source's (COPY). The ETag is the source's.
    /// The copy is published only if `cond` holds of the target then.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`], [`StoreError::NoSuchKey`] for the
    /// source, invalid names, [`StoreError::KeyConflict`] for the target,
    /// [`StoreError::PreconditionFailed`].
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        headers: Option<Vec<(String, String)>>,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let src_key = ObjectKey::new(src_key)?;
        let (src, info, _) = self.open_key(src_bucket, &src_key)?;
        let meta = ObjectMeta {
            etag: info.meta.etag.clone(),
            headers: headers.unwrap_or(info.meta.headers),
        };
        let dst_key_checked = ObjectKey::new(dst_key)?;
        if src_key.is_dir_marker() || dst_key_checked.is_dir_marker() {
            if !(src_key.is_dir_marker() && dst_key_checked.is_dir_marker()) {
                return Err(StoreError::KeyConflict(Conflict::DirectoryObjectCopy));
            }
            let w = self.put_object(dst_bucket, dst_key, Some(0))?;
            return w.finish_with_etag(meta.etag, meta.headers, cond).await;
        }
        let dst_bucket_fd = self.bucket_fd(dst_bucket)?;
        let mut target =
            self.new_target(dst_bucket_fd.as_fd(), &dst_key_checked, Some(info.size))?;
        let out = buffered_reopen(&target.temp.fd)?;
        copy_range(&src, 0, &out, 0, info.size).await?;
        rfs::ftruncate(&out, info.size)?;
        self.publish_target(&mut target, &dst_bucket_fd, &dst_key_checked, &meta, cond)
            .await?;
        Ok(ObjectInfo {
            size: info.size,
            modified: SystemTime::now(),
            meta,
            derived: false,
        })
    }
}

/// A buffered (non-O_DIRECT) descriptor of the same file, for
/// copy_file_range.
pub(crate) fn buffered_reopen(fd: &OwnedFd) -> Result<OwnedFd> {
    let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
    Ok(rfs::open(
        path.as_str(),
        OFlags::RDWR | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Copies up to this size are made on the runtime thread itself: 0.3 ms
/// from the page cache, a few from the disk, not much more than starting a
/// thread.
const INLINE_COPY: u64 = 1 << 20;
/// Bytes per copy_file_range call on a copy thread: between two calls it
/// sees whether the copy is still wanted; a reflink of this much is still
/// one metadata update.
const THREAD_STEP: u64 = 64 << 20;
/// Copy threads running at once in the process; more copies wait for one
/// to end. A few saturate the disk or the memory bus.
const MAX_COPY_THREADS: usize = 16;
/// How often a copy waiting for a copy thread looks again.
const SLOT_POLL: Duration = Duration::from_millis(5);
/// Copies `len` bytes at `from` of `src` to `to` of `dst` with
/// copy_file_range (a reflink where the filesystem can). Beyond
/// [`INLINE_COPY`] the copy runs on a thread of its own, in calls of up to
/// [`THREAD_STEP`], while the task waits for the thread's end of a socket
/// pair to close: the runtime thread serves its other connections
/// meanwhile. The thread inherits the runtime thread's CPU affinity, so the
/// copy's CPU time stays on the core that took the request, and the kernel
/// runs the runtime thread whenever it has work. Dropping the future stops
/// the copy before its next call.
///
/// # Errors
/// I/O errors; `UnexpectedEof` when `src` ends before `from + len` (a file
/// truncated over POSIX during the copy).
pub(crate) async fn copy_range(
    src: &impl AsFd,
    from: u64,
    dst: &impl AsFd,
    to: u64,
    len: u64,
) -> Result<()> {
    let inline = || {
        let never = AtomicBool::new(false);
        Ok(copy_blocking(
            src.as_fd(),
            from,
            dst.as_fd(),
            to,
            len,
            &never,
        )?)
    };
    if len <= INLINE_COPY {
        return inline();
    }
    let slot = CopySlot::claim().await;
    let (their_src, their_dst) = (
        src.as_fd().try_clone_to_owned()?,
        dst.as_fd().try_clone_to_owned()?,
    );
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    let mut ours = monoio::net::UnixStream::from_std(ours)?;
    let result = Arc::new(Mutex::new(None));
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let (their_result, their_stop) = (Arc::clone(&result), Arc::clone(&stop.0));
    let spawned = std::thread::Builder::new()
        .name("sluice-copy".into())
        .spawn(move || {
            let copied = copy_blocking(
                their_src.as_fd(),
                from,
                their_dst.as_fd(),
                to,
                len,
                &their_stop,
            );
            if let Ok(mut guard) = their_result.lock() {
                *guard = Some(copied);
            }
            // The descriptors close here, with what they alone hold (a
            // target dropped meanwhile is freed by this thread), then the
            // socket, which wakes the task.
            drop((their_src, their_dst, slot));
            drop(theirs);
        });
    if spawned.is_err() {
        // No thread to be had (a limit on threads): copy here, as before.
        return inline();
    }
    // EOF (or an error) once the thread is done.
    let (read, _) = ours.read(vec![0u8; 1]).await;
    read?;
    let copied = result.lock().ok().and_then(|mut r| r.take());
    copied.unwrap_or_else(|| {
        Err(std::io::Error::other(
            "the copy thread ended without a result",
        ))
    })?;
    Ok(())
}

fn copy_blocking(
    src: BorrowedFd<'_>,
    mut from: u64,
    dst: BorrowedFd<'_>,
    mut to: u64,
    len: u64,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut left = len;
    while left > 0 {
        if stop.load(Ordering::Relaxed) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let want = usize::try_from(left.min(THREAD_STEP)).unwrap_or(usize::MAX);
        let n = rfs::copy_file_range(src, Some(&mut from), dst, Some(&mut to), want)?;
        if n == 0 {
            // The source shrank under us (written over POSIX in place).
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        left -= n as u64;
    }
    Ok(())
}

/// Sets the flag when dropped: a copy whose task went away stops.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

static COPY_THREADS: AtomicUsize = AtomicUsize::new(0);

/// One of [`MAX_COPY_THREADS`], given back when dropped.
struct CopySlot;

impl CopySlot {
    async fn claim() -> Self {
        loop {
            let taken = COPY_THREADS.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_COPY_THREADS).then_some(n + 1)
            });
            if taken.is_ok() {
                return CopySlot;
            }
            monoio::time::sleep(SLOT_POLL).await;
        }
    }
}

impl Drop for CopySlot {
    fn drop(&mut self) {
        COPY_THREADS.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{ErrorKind, Write as _};

    use super::*;
    use crate::runtime::{block_on, Driver};

    /// A file of `len` bytes (a repeating pattern) in the system's
    /// temporary directory, and an empty one to copy into.
    fn files(tag: &str, len: usize) -> (std::path::PathBuf, std::fs::File, std::fs::File) {
        let dir = std::env::temp_dir().join(format!("sluice-copy-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut src = std::fs::File::create(dir.join("src")).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        src.write_all(&data).unwrap();
        let src = std::fs::File::open(dir.join("src")).unwrap();
        let dst = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("dst"))
            .unwrap();
        (dir, src, dst)
    }

    #[test]
    fn a_copy_is_exact_inline_and_on_a_thread() {
        for driver in [Driver::IoUring, Driver::Legacy] {
            for len in [1000, INLINE_COPY as usize + 4097] {
                let (dir, src, dst) = files("exact", len + 10);
                block_on(driver, copy_range(&src, 10, &dst, 3, len as u64))
                    .unwrap()
                    .unwrap();
                let got = std::fs::read(dir.join("dst")).unwrap();
                let want: Vec<u8> = (10..len + 10).map(|i| (i % 251) as u8).collect();
                assert_eq!(got[..3], [0, 0, 0]);
                assert!(got[3..] == want[..], "{len} bytes");
                std::fs::remove_dir_all(dir).unwrap();
            }
        }
    }

    /// A source cut short over POSIX (its size was read before the copy).
    #[test]
    fn a_source_shorter_than_the_copy_fails_it() {
        for driver in [Driver::IoUring, Driver::Legacy] {
            for len in [1000, INLINE_COPY + 4097] {
                let (dir, src, dst) = files("short", 500);
                let copied = block_on(driver, copy_range(&src, 0, &dst, 0, len)).unwrap();
                assert!(
                    matches!(&copied, Err(StoreError::Io(e)) if e.kind() == ErrorKind::UnexpectedEof),
                    "{copied:?}"
                );
                std::fs::remove_dir_all(dir).unwrap();
            }
        }
    }

    #[test]
    fn a_stopped_copy_stops_before_its_next_step() {
        let (dir, src, dst) = files("stop", 4096);
        let stop = AtomicBool::new(true);
        let copied = copy_blocking(src.as_fd(), 0, dst.as_fd(), 0, 4096, &stop);
        assert_eq!(copied.unwrap_err().kind(), ErrorKind::Interrupted);
        assert_eq!(dst.metadata().unwrap().len(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
