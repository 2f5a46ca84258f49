//! Writing an object: a [`Sink`] into an unnamed temporary file next to the
//! target, published atomically at the end.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, SystemTime};

use rustix::fs as rfs;
use rustix::io::Errno;

use crate::buf::AlignedBuf;
use crate::error::{Conflict, Result, StoreError};
use crate::fsys::{self, TempFile, DIR_XATTR};
use crate::meta::ObjectMeta;
use crate::names::ObjectKey;
use crate::publish::{publish, Source, WriteCondition};
use sluice_http::hex_encode as hex;

use crate::sink::{Sink, Tail};
use crate::store::{Device, ObjectInfo, OpenBucket, Store};

/// Bodies of at most this many bytes are written through the page cache
/// when their sync is shared (group commit) or skipped: one `pwrite`
/// instead of a preallocation and an O_DIRECT write. Measured with
/// tools/group_commit_bench.py on a journaled ext4, 64 PUTs in flight:
/// server CPU a PUT went down by 15% at 4 KiB and 10% at 16 KiB, and the
/// CPU of the whole machine (writeback threads included) down at 4 KiB,
/// level at 16 KiB; at 64 KiB the machine spent as much or more.
pub const INLINE_UP_TO: u64 = 16 << 10;

/// Objects written through the page cache by [`INLINE_UP_TO`]'s rule.
static INLINE_WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Objects written through the page cache since the process started
/// (small bodies whose sync was to be shared: see [`INLINE_UP_TO`]).
#[must_use]
pub fn inline_writes() -> u64 {
    INLINE_WRITES.load(std::sync::atomic::Ordering::Relaxed)
}

/// An object being written. Nothing is visible until [`ObjectWriter::finish`]
/// succeeds; dropping the writer (after an error, a bad checksum, a client
/// that went away) leaves nothing behind.
pub struct ObjectWriter {
    store: Store,
    bucket_fd: OwnedFd,
    key: ObjectKey,
    /// Absent for directory objects, which hold no data.
    target: Option<Target>,
}

/// The temporary file being written.
pub(crate) struct Target {
    pub(crate) parent: OwnedFd,
    pub(crate) temp: TempFile,
    pub(crate) sink: Sink,
    /// The parent directories this write created (the bucket and the
    /// parent's path in it), removed again if it never publishes.
    made_dirs: Option<(OwnedFd, String)>,
    published: bool,
    /// What is known of its filesystem.
    device: Device,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Starts writing `key` in `bucket`. `size_hint` (the Content-Length when
    /// known) lets the file be preallocated as the data arrives, which keeps
    /// ext4's O_DIRECT writes from being handed to worker threads.
    ///
    /// # Errors
    /// Invalid names, [`StoreError::NoSuchBucket`], [`StoreError::KeyConflict`]
    /// when a parent of the key is an object file.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        size_hint: Option<u64>,
    ) -> Result<ObjectWriter> {
        let key = ObjectKey::new(key)?;
        let bucket_fd = self.bucket_fd(bucket)?;
        self.write_object(bucket_fd, key, size_hint)
    }

    /// [`Store::put_object`] in a bucket already open.
    ///
    /// # Errors
    /// As [`Store::put_object`].
    pub fn put_object_in(
        &self,
        bucket: OpenBucket,
        key: &str,
        size_hint: Option<u64>,
    ) -> Result<ObjectWriter> {
        let key = ObjectKey::new(key)?;
        self.write_object(bucket.0, key, size_hint)
    }

    fn write_object(
        &self,
        bucket_fd: OwnedFd,
        key: ObjectKey,
        size_hint: Option<u64>,
    ) -> Result<ObjectWriter> {
        if size_hint.is_some_and(|n| n > self.inner.opts.max_object_size) {
            return Err(StoreError::EntityTooLarge);
        }
        let target = if key.is_dir_marker() {
            None
        } else {
            Some(self.new_target(bucket_fd.as_fd(), &key, size_hint)?)
        };
        Ok(ObjectWriter {
            store: self.clone(),
            bucket_fd,
            key,
            target,
        })
    }

    /// A temporary file beside `key` (its parent created as needed) with a
    /// sink writing it.
    pub(crate) fn new_target(
        &self,
        bucket_fd: BorrowedFd<'_>,
        key: &ObjectKey,
        size_hint: Option<u64>,
    ) -> Result<Target> {
        let parent_rel = key.split_parent().0;
        let opts = &self.inner.opts;
        let small = size_hint.is_some_and(|n| n <= INLINE_UP_TO) && !opts.null_data;
        let mut attempts = 0;
        let (parent, made, temp, device, inline) = loop {
            let (parent, made) = self.open_parent(bucket_fd, parent_rel)?;
            let device = self.device_of(parent.as_fd());
            // A small body whose sync is shared, or not made at all, goes
            // through the page cache with one inline write: cheaper than a
            // preallocation and an O_DIRECT write through the ring, and the
            // group's syncfs writes it back. One synced alone stays
            // O_DIRECT: an fdatasync that must write back pages costs more.
            let inline =
                small && (!opts.fdatasync || crate::durable::likely_grouped(device.shared_syncs));
            let direct = !inline && device.direct;
            match fsys::create_temp(parent.as_fd(), self.inner.tmp_fd.as_fd(), direct) {
                Ok(temp) => {
                    if let Some(o) = self.owner {
                        o.chown(temp.fd.as_fd())?;
                    }
                    break (parent, made, temp, device, inline);
                }
                // A concurrent delete emptied and removed the parent between
                // our open and the create (O_TMPFILE in a removed directory
                // fails): make it again.
                Err(e) if attempts < 8 && fsys::is_removed(parent.as_fd()) => {
                    attempts += 1;
                    drop(e);
                }
                Err(_) if fsys::is_removed(bucket_fd) => return Err(StoreError::NoSuchBucket),
                Err(e) => return Err(e),
            }
        };
        let mut sink = Sink::new(
            &temp.fd,
            !inline && device.direct,
            0,
            Tail::Pad,
            opts.max_object_size,
            opts.writes_in_flight,
            opts.null_data,
        )?;
        if inline {
            sink.write_inline();
            INLINE_WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else if let Some(n) = size_hint {
            sink.preallocate(n);
        }
        let made_dirs = match (made, parent_rel) {
            (true, Some(rel)) => Some((rustix::io::dup(bucket_fd)?, rel.to_owned())),
            _ => None,
        };
        Ok(Target {
            parent,
            temp,
            sink,
            made_dirs,
            published: false,
            device,
        })
    }

    /// Opens (creating) the parent `rel` of a key, telling a removed bucket
    /// apart: a bucket deleted under a write is NoSuchBucket, not an I/O error.
    ///
    /// The parent is returned with a shared `flock`, held until the write
    /// is published or dropped: a delete removes an empty directory only
    /// under an exclusive lock it gets without waiting, so it leaves alone
    /// a directory that a write is about to fill. (Without it, deletes in a
    /// busy directory removed it between a PUT's mkdir and its O_TMPFILE,
    /// every time of a PUT's eight retries.) A remover holds its lock for
    /// one rmdir only, so waiting for it here is short.
    fn open_parent(&self, bucket_fd: BorrowedFd<'_>, rel: Option<&str>) -> Result<(OwnedFd, bool)> {
        match fsys::create_parent(bucket_fd, rel, self.owner) {
            Err(StoreError::Io(e))
                if e.raw_os_error() == Some(Errno::NOENT.raw_os_error())
                    && fsys::is_removed(bucket_fd) =>
            {
                Err(StoreError::NoSuchBucket)
            }
            Ok((parent, made)) => {
                // A filesystem without flock on directories keeps the old
                // behaviour (the retries).
                let _ = rfs::flock(&parent, rfs::FlockOperation::LockShared);
                Ok((parent, made))
            }
            other => other,
        }
    }
}

impl ObjectWriter {
    /// Bytes written so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.target.as_ref().map_or(0, |t| t.sink.total())
    }

    /// Whether nothing was written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The MD5 of the bytes written so far (for checking Content-MD5 before
    /// [`ObjectWriter::finish`]).
    #[must_use]
    pub fn md5(&self) -> [u8; 16] {
        match &self.target {
            Some(t) => t.sink.md5(),
            None => {
                use md5::Digest as _;
                md5::Md5::new().finalize().into()
            }
        }
    }

    /// Stops hashing the bytes written: they are stored in another form
    /// (encrypted) and the caller gives the ETag
    /// ([`ObjectWriter::finish_with_etag`]).
    pub fn skip_md5(&mut self) {
        if let Some(t) = self.target.as_mut() {
            t.sink.skip_md5();
        }
    }

    /// Appends `buf`'s bytes. Buffers whose length is a multiple of
    /// [`ALIGN`] go to disk as they are (zero copies); others are gathered
    /// into whole blocks first. The buffer is dropped (back to its pool) once
    /// its write completed.
    ///
    /// # Errors
    /// Write errors of earlier buffers, [`StoreError::EntityTooLarge`], data
    /// for a directory object.
    pub async fn write(&mut self, buf: AlignedBuf) -> Result<()> {
        match self.target.as_mut() {
            Some(t) => t.sink.write(buf).await,
            None if buf.is_empty() => Ok(()),
            None => Err(StoreError::KeyConflict(
                Conflict::DirectoryObjectHoldsNoData,
            )),
        }
    }

    /// Writes the last bytes, stores `headers` with an ETag of the data's
    /// MD5, syncs (unless disabled) and makes the object visible in one step,
    /// replacing any earlier version.
    ///
    /// # Errors
    /// I/O errors; [`StoreError::KeyConflict`] when the key is now a
    /// directory holding other objects. Nothing is visible after an error.
    pub async fn finish(self, headers: Vec<(String, String)>) -> Result<ObjectInfo> {
        let etag = hex(&self.md5());
        self.finish_with_etag(etag, headers, &WriteCondition::Always)
            .await
    }

    /// [`ObjectWriter::finish`], publishing only if `cond` holds at that
    /// moment (checked atomically with the publish).
    ///
    /// # Errors
    /// As [`ObjectWriter::finish`], and [`StoreError::PreconditionFailed`] or
    /// [`StoreError::NoSuchKey`] when `cond` does not hold.
    pub async fn finish_if(
        self,
        headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let etag = hex(&self.md5());
        self.finish_with_etag(etag, headers, cond).await
    }

    /// [`ObjectWriter::finish_if`] with a given ETag.
    ///
    /// # Errors
    /// As [`ObjectWriter::finish_if`].
    pub async fn finish_with_etag(
        mut self,
        etag: String,
        headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let meta = ObjectMeta { etag, headers };
        let Some(mut t) = self.target.take() else {
            return self.finish_dir_marker(meta);
        };
        t.sink.flush().await?;
        let total = t.sink.total();
        // The length is right already when whole blocks were written and the
        // preallocation (if any) was of exactly that length.
        if t.sink.written() != total || t.sink.preallocated().is_some_and(|n| n != total) {
            rfs::ftruncate(&t.temp.fd, total)?;
        }
        self.store
            .publish_target(&mut t, &self.bucket_fd, &self.key, &meta, cond)
            .await?;
        Ok(ObjectInfo {
            size: total,
            modified: SystemTime::now(),
            meta,
            derived: false,
        })
    }

    fn finish_dir_marker(&self, meta: ObjectMeta) -> Result<ObjectInfo> {
        let (parent, name) = self.key.split_parent();
        let mut attempts = 0;
        // The directory is marked under a shared lock: DeleteBucket removes
        // an unmarked directory only under an exclusive one, and checks the
        // mark again under it. One it removed before we locked is made
        // again, so a 200 always leaves a directory object behind.
        let dir = loop {
            let owner = self.store.owner;
            let parent_fd = match fsys::open_or_create_parent(self.bucket_fd.as_fd(), parent, owner)
            {
                Err(_) if fsys::is_removed(self.bucket_fd.as_fd()) => {
                    return Err(StoreError::NoSuchBucket)
                }
                other => other?,
            };
            let made = match rfs::mkdirat(&parent_fd, name, rfs::Mode::from_raw_mode(0o755)) {
                Ok(()) => true,
                Err(Errno::EXIST) => false,
                Err(_) if fsys::is_removed(self.bucket_fd.as_fd()) => {
                    return Err(StoreError::NoSuchBucket)
                }
                Err(Errno::NOENT) if attempts < 8 => {
                    attempts += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let dir = match fsys::open_dir(parent_fd.as_fd(), name) {
                Ok(dir) => dir,
                Err(_) if attempts < 8 && fsys::is_removed(parent_fd.as_fd()) => {
                    attempts += 1;
                    continue;
                }
                Err(_) => return Err(StoreError::KeyConflict(Conflict::DirectoryObjectIsFile)),
            };
            if let (true, Some(o)) = (made, owner) {
                o.chown(dir.as_fd())?;
            }
            let _ = rfs::flock(&dir, rfs::FlockOperation::LockShared);
            if !fsys::is_removed(dir.as_fd()) {
                break dir;
            }
            if fsys::is_removed(self.bucket_fd.as_fd()) {
                return Err(StoreError::NoSuchBucket);
            }
            if attempts >= 8 {
                return Err(StoreError::Busy);
            }
            attempts += 1;
        };
        fsys::set_meta(dir.as_fd(), &meta.encode())?;
        rfs::fsetxattr(&dir, DIR_XATTR, b"object", rfs::XattrFlags::empty())?;
        drop(dir);
        Ok(ObjectInfo {
            size: 0,
            modified: SystemTime::now(),
            meta,
            derived: false,
        })
    }
}

/// How long a publish waits, in all, for another publish of the same key
/// to let go of it before answering [`StoreError::Busy`].
pub(crate) const BUSY_WAIT: Duration = Duration::from_secs(5);

impl Store {
    /// Stores the metadata, syncs and links the target's file as `key`
    /// under `cond`.
    pub(crate) async fn publish_target(
        &self,
        t: &mut Target,
        bucket_fd: &OwnedFd,
        key: &ObjectKey,
        meta: &ObjectMeta,
        cond: &WriteCondition,
    ) -> Result<()> {
        fsys::set_meta(t.temp.fd.as_fd(), &meta.encode())?;
        let opts = &self.inner.opts;
        // Shared syncs when enough writes of this thread sync at once.
        let (_syncing, group) = crate::durable::Syncing::enter(t.device.shared_syncs);
        // Durable before it is visible: a sync that fails leaves the key as
        // it was.
        if opts.fdatasync {
            crate::faults::check(crate::faults::FaultOp::Fsync)?;
            if group {
                crate::durable::synced(t.device.dev, t.parent.as_fd()).await?;
            } else {
                t.sink.file().sync_data().await?;
            }
        }
        let (parent_rel, name) = key.split_parent();
        let mut reopened = 0;
        let waited = std::time::Instant::now();
        loop {
            let src = Source::Temp(&mut t.temp);
            match publish(t.parent.as_fd(), self.inner.tmp_fd.as_fd(), src, name, cond) {
                Ok(replaced) => {
                    t.published = true;
                    // Then its name: the directory entry durable before the
                    // answer. A failure here is answered as an error though
                    // the object is in place (whole: the new bytes or, over
                    // an existing key, never a mix), as S3 answers 500 for a
                    // write that may have happened.
                    if opts.fdatasync {
                        crate::durable::entries_synced(group, t.device.dev, t.parent.as_fd())
                            .await?;
                    }
                    // The object replaced, a large one freed off this thread.
                    crate::free::free(replaced.into_iter().collect()).await;
                    return Ok(());
                }
                // A concurrent delete removed the parent directory between
                // our open and the link (versitygw#1988): recreate, retry.
                Err(StoreError::Io(_)) if fsys::is_removed(bucket_fd.as_fd()) => {
                    return Err(StoreError::NoSuchBucket)
                }
                Err(StoreError::Io(e))
                    if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) && reopened < 8 =>
                {
                    reopened += 1;
                    t.parent = self.open_parent(bucket_fd.as_fd(), parent_rel)?.0;
                }
                Err(StoreError::Busy) if waited.elapsed() < BUSY_WAIT => {
                    monoio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // An O_TMPFILE vanishes with its descriptors; a named temporary file
        // of a filesystem without O_TMPFILE is removed here.
        self.temp.discard();
        // Directories made for a write that never published go again, or a
        // later PUT of their own name would find them in its way. Our own
        // lock on the parent goes first, or it would keep them.
        if let (false, Some((bucket, rel))) = (self.published, &self.made_dirs) {
            let _ = rfs::flock(&self.parent, rfs::FlockOperation::Unlock);
            crate::store::remove_empty_parents(bucket.as_fd(), rel, None);
        }
    }
}
