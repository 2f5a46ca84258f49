//! Writing an object: O_DIRECT writes of aligned buffers through io_uring,
//! several in flight, MD5 in the same pass, published atomically at the end.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::time::SystemTime;

use md5::{Digest as _, Md5};
use monoio::task::JoinHandle;
use rustix::fs::{self as rfs, AtFlags, FallocateFlags};
use rustix::io::Errno;

use crate::buf::{AlignedBuf, ALIGN};
use crate::error::{Result, StoreError};
use crate::fsys::{self, TempFile, DIR_XATTR, META_XATTR};
use crate::meta::ObjectMeta;
use crate::names::ObjectKey;
use crate::store::{ObjectInfo, Store};

type WriteResult = (io::Result<()>, AlignedBuf);

/// An object being written. Nothing is visible until [`ObjectWriter::finish`]
/// succeeds; dropping the writer (after an error, a bad checksum, a client
/// that went away) leaves nothing behind.
pub struct ObjectWriter {
    store: Store,
    bucket_fd: OwnedFd,
    key: ObjectKey,
    target: Option<Target>,
    total: u64,
    md5: Md5,
}

/// The file being written (absent for directory objects).
struct Target {
    parent: OwnedFd,
    temp: TempFile,
    file: Rc<monoio::fs::File>,
    direct: bool,
    /// Bytes submitted to the file, always a multiple of ALIGN before the end.
    offset: u64,
    in_flight: VecDeque<JoinHandle<WriteResult>>,
    /// Bytes waiting to fill a whole block when the caller's buffers were not
    /// block-sized (copied; the aligned path copies nothing).
    carry: Option<AlignedBuf>,
    carry_size: usize,
    preallocated: bool,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("key", &self.key)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Starts writing `key` in `bucket`. `size_hint` (the Content-Length when
    /// known) lets the file be preallocated, which keeps ext4's O_DIRECT
    /// writes from being handed to worker threads.
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
        if size_hint.is_some_and(|n| n > self.inner.opts.max_object_size) {
            return Err(StoreError::EntityTooLarge);
        }
        let target = if key.is_dir_marker() {
            None
        } else {
            let parent = fsys::open_or_create_parent(bucket_fd.as_fd(), key.split_parent().0)?;
            let direct = self.direct_for(parent.as_fd());
            let temp = fsys::create_temp(parent.as_fd(), direct)?;
            let preallocated = match size_hint {
                Some(n) if n > 0 => rfs::fallocate(
                    &temp.fd,
                    FallocateFlags::empty(),
                    0,
                    n.next_multiple_of(ALIGN as u64),
                )
                .is_ok(),
                _ => false,
            };
            let file = monoio::fs::File::from_std(std::fs::File::from(temp.fd.try_clone()?))?;
            Some(Target {
                parent,
                temp,
                file: Rc::new(file),
                direct,
                offset: 0,
                in_flight: VecDeque::new(),
                carry: None,
                carry_size: 0,
                preallocated,
            })
        };
        Ok(ObjectWriter {
            store: self.clone(),
            bucket_fd,
            key,
            target,
            total: 0,
            md5: Md5::new(),
        })
    }
}

impl ObjectWriter {
    /// Bytes written so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The MD5 of the bytes written so far (for checking Content-MD5 before
    /// [`ObjectWriter::finish`]).
    #[must_use]
    pub fn md5(&self) -> [u8; 16] {
        self.md5.clone().finalize().into()
    }

    /// Appends `buf`'s bytes. Buffers whose length is a multiple of
    /// [`ALIGN`] go to disk as they are (zero copies); others are gathered
    /// into whole blocks first. The buffer comes back to the pool once its
    /// write completed.
    ///
    /// # Errors
    /// Write errors of earlier buffers, [`StoreError::EntityTooLarge`], data
    /// for a directory object.
    pub async fn write(&mut self, buf: AlignedBuf) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.total += buf.len() as u64;
        if self.total > self.store.inner.opts.max_object_size {
            return Err(StoreError::EntityTooLarge);
        }
        let Some(t) = self.target.as_mut() else {
            return Err(StoreError::KeyConflict(
                "a key ending in / is a directory object and holds no data",
            ));
        };
        self.md5.update(buf.as_slice());
        if t.carry.is_none() && buf.len() % ALIGN == 0 {
            return t.submit(buf, self.store.inner.opts.writes_in_flight).await;
        }
        let mut rest = buf.as_slice();
        while !rest.is_empty() {
            let carry = t
                .carry
                .get_or_insert_with(|| AlignedBuf::new(t.carry_size.max(buf.capacity())));
            let n = carry.extend_from_slice(rest);
            rest = &rest[n..];
            if carry.len() == carry.capacity() {
                t.carry_size = carry.capacity();
                let full = t.carry.take().unwrap_or_else(|| AlignedBuf::new(ALIGN));
                t.submit(full, self.store.inner.opts.writes_in_flight)
                    .await?;
            }
        }
        Ok(())
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
        self.finish_with_etag(etag, headers).await
    }

    /// [`ObjectWriter::finish`] with a given ETag (multipart completion).
    ///
    /// # Errors
    /// As [`ObjectWriter::finish`].
    pub async fn finish_with_etag(
        mut self,
        etag: String,
        headers: Vec<(String, String)>,
    ) -> Result<ObjectInfo> {
        let meta = ObjectMeta { etag, headers };
        let encoded = meta.encode();
        let Some(mut t) = self.target.take() else {
            return self.finish_dir_marker(meta);
        };
        if let Some(mut last) = t.carry.take() {
            if t.direct {
                last.pad_to_block();
            }
            t.submit(last, 1).await?;
        }
        t.drain().await?;
        if t.offset != self.total || t.preallocated {
            rfs::ftruncate(&t.temp.fd, self.total)?;
        }
        rfs::fsetxattr(&t.temp.fd, META_XATTR, &encoded, rfs::XattrFlags::empty())?;
        if self.store.inner.opts.fdatasync {
            t.file.sync_data().await?;
        }
        let (parent_rel, name) = self.key.split_parent();
        let mut attempts = 0;
        loop {
            match fsys::publish(t.parent.as_fd(), &t.temp, name) {
                Ok(()) => break,
                // A concurrent delete removed the parent directory between
                // our open and the link (versitygw#1988): recreate, retry.
                Err(StoreError::Io(e))
                    if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) && attempts < 3 =>
                {
                    attempts += 1;
                    t.parent = fsys::open_or_create_parent(self.bucket_fd.as_fd(), parent_rel)?;
                }
                Err(e) => return Err(e),
            }
        }
        t.temp.name = None;
        Ok(ObjectInfo {
            size: self.total,
            modified: SystemTime::now(),
            meta,
            derived: false,
        })
    }

    fn finish_dir_marker(&self, meta: ObjectMeta) -> Result<ObjectInfo> {
        let (parent, name) = self.key.split_parent();
        let parent_fd = fsys::open_or_create_parent(self.bucket_fd.as_fd(), parent)?;
        match rfs::mkdirat(&parent_fd, name, rfs::Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let dir = fsys::open_dir(parent_fd.as_fd(), name).map_err(|_| {
            StoreError::KeyConflict("the key of a directory object is an existing object file")
        })?;
        rfs::fsetxattr(&dir, META_XATTR, &meta.encode(), rfs::XattrFlags::empty())?;
        rfs::fsetxattr(&dir, DIR_XATTR, b"object", rfs::XattrFlags::empty())?;
        Ok(ObjectInfo {
            size: 0,
            modified: SystemTime::now(),
            meta,
            derived: false,
        })
    }
}

impl Target {
    async fn submit(&mut self, buf: AlignedBuf, max_in_flight: usize) -> Result<()> {
        while self.in_flight.len() >= max_in_flight.max(1) {
            self.wait_oldest().await?;
        }
        let file = Rc::clone(&self.file);
        let offset = self.offset;
        self.offset += buf.len() as u64;
        self.in_flight.push_back(monoio::spawn(async move {
            file.write_all_at(buf, offset).await
        }));
        Ok(())
    }

    async fn wait_oldest(&mut self) -> Result<()> {
        if let Some(handle) = self.in_flight.pop_front() {
            let (result, _buf) = handle.await;
            result?;
        }
        Ok(())
    }

    async fn drain(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.wait_oldest().await?;
        }
        Ok(())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // An O_TMPFILE vanishes with its descriptors; a named temporary file
        // of a filesystem without O_TMPFILE is removed here.
        if let Some(name) = self.temp.name.take() {
            let _ = rfs::unlinkat(&self.parent, name.as_str(), AtFlags::empty());
        }
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| {
            [
                HEX[usize::from(b >> 4)] as char,
                HEX[usize::from(b & 0xf)] as char,
            ]
        })
        .collect()
}
