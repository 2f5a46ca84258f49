//! Reading an object as a stream of aligned buffers, with one read ahead.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use monoio::buf::IoBufMut;
use monoio::task::JoinHandle;
use rustix::fs::{Mode, OFlags};

use crate::buf::{AlignedBuf, BufPool, ALIGN};
use crate::error::{Result, StoreError};
use crate::names::ObjectKey;
use crate::store::{ObjectInfo, Store};

/// A piece of an object: `buf[start..start + len]` holds the data.
#[derive(Debug)]
pub struct Chunk {
    /// The buffer (aligned reads may start before the wanted offset).
    pub buf: AlignedBuf,
    /// Offset of the data in `buf`.
    pub start: usize,
    /// Data length.
    pub len: usize,
}

impl Chunk {
    /// The data.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.buf.as_slice()[self.start..self.start + self.len]
    }
}

type ReadResult = (io::Result<usize>, AlignedBuf);

/// Objects from this size on are read with O_DIRECT (streaming them
/// through the page cache would evict hotter data and cost a copy); smaller
/// ones go through the cache.
pub const DIRECT_READ_MIN: u64 = 256 * 1024;

/// An open object. The file stays readable even if the object is replaced
/// or deleted meanwhile: a reader sees the version it opened, whole.
pub struct ObjectReader {
    info: ObjectInfo,
    source: Source,
    direct: bool,
    /// Next offset to hand out, and the end of the range.
    pos: u64,
    end: u64,
    /// Offset the next read is submitted at.
    next_read: u64,
    /// Offset, length and handle of the read in flight.
    pending: Option<(u64, u64, JoinHandle<ReadResult>)>,
    _fd: Option<OwnedFd>,
}

/// Where reads go.
enum Source {
    /// Nothing to read (directory objects).
    None,
    /// A buffered descriptor not handed to the runtime yet: cached bytes are
    /// read from it directly, without blocking (preadv2 RWF_NOWAIT).
    Plain(OwnedFd),
    /// Reads through io_uring (the runtime's file).
    Uring(Rc<monoio::fs::File>),
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("info", &self.info)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens an object for reading.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`], [`StoreError::NoSuchKey`], invalid names.
    pub fn get_object(&self, bucket: &str, key: &str) -> Result<ObjectReader> {
        let key = ObjectKey::new(key)?;
        let (fd, info, dev) = self.open_key(bucket, &key)?;
        if key.is_dir_marker() {
            return Ok(ObjectReader {
                info,
                source: Source::None,
                direct: false,
                pos: 0,
                end: 0,
                next_read: 0,
                pending: None,
                _fd: None,
            });
        }
        // A second descriptor with O_DIRECT where the filesystem allows it
        // and the object is large; small objects are read through the page
        // cache, which serves the hot ones without touching the disk. The
        // first descriptor (plain) is what proved the object a regular file.
        let direct = info.size >= DIRECT_READ_MIN && self.direct_for_dev(dev, fd.as_fd());
        let (source, keep) = if direct {
            let self_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
            let flags = OFlags::RDONLY | OFlags::DIRECT | OFlags::CLOEXEC;
            let direct_fd = rustix::fs::open(self_path.as_str(), flags, Mode::empty())
                .map_err(StoreError::from)?;
            let file = monoio::fs::File::from_std(std::fs::File::from(direct_fd))?;
            (Source::Uring(Rc::new(file)), Some(fd))
        } else {
            (Source::Plain(fd), None)
        };
        let end = info.size;
        Ok(ObjectReader {
            info,
            source,
            direct,
            pos: 0,
            end,
            next_read: 0,
            pending: None,
            _fd: keep,
        })
    }
}

impl ObjectReader {
    /// Size, time and metadata of the opened version.
    #[must_use]
    pub fn info(&self) -> &ObjectInfo {
        &self.info
    }

    /// Restricts reading to `start..end` (clamped to the object); call before
    /// the first [`ObjectReader::next_chunk`].
    pub fn set_range(&mut self, start: u64, end: u64) {
        self.end = end.min(self.info.size);
        self.pos = start.min(self.end);
        self.next_read = self.pos;
    }

    /// The next piece of the range, or None at its end. One more read is
    /// kept in flight so the disk works while the caller sends.
    ///
    /// # Errors
    /// Read errors, or [`StoreError::Io`] with `UnexpectedEof` when the file
    /// shrank under the reader.
    pub async fn next_chunk(&mut self, pool: &BufPool) -> Result<Option<Chunk>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        if let Some(chunk) = self.read_cached(pool)? {
            return Ok(Some(chunk));
        }
        let (read_at, want, (result, buf)) = match self.pending.take() {
            Some((at, want, handle)) => (at, want, handle.await),
            None => {
                let Some((at, want, read)) = self.next_read(pool) else {
                    return Err(StoreError::Io(io::Error::other(
                        "the object's file could not be handed to the runtime",
                    )));
                };
                if self.next_read < self.end {
                    // More follows: read this piece in the background too, and
                    // the next one right after it.
                    let handle = monoio::spawn(read);
                    self.submit(pool);
                    (at, want, handle.await)
                } else {
                    // The whole range in one read (small objects): no task.
                    (at, want, read.await)
                }
            }
        };
        let n = result? as u64;
        // A short read before the end of the range: the file shrank under us
        // (written over POSIX in place). Never hand out a gap.
        if n < want && read_at + n < self.end {
            return Err(StoreError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        let start = (self.pos - read_at) as usize;
        let len = (n - start as u64).min(self.end - self.pos) as usize;
        self.pos += len as u64;
        if self.pending.is_none() && self.next_read < self.end {
            self.submit(pool);
        }
        Ok(Some(Chunk { buf, start, len }))
    }

    /// Serves the next piece from the page cache when it is there, without
    /// blocking and without a trip through io_uring; None to read normally.
    fn read_cached(&mut self, pool: &BufPool) -> Result<Option<Chunk>> {
        let Source::Plain(fd) = &self.source else {
            return Ok(None);
        };
        if self.pending.is_some() {
            return Ok(None);
        }
        let mut buf = pool.get();
        let want = (buf.capacity() as u64).min(self.end - self.pos) as usize;
        let mut slices = [std::io::IoSliceMut::new(&mut buf.spare_mut()[..want])];
        match rustix::io::preadv2(
            fd,
            &mut slices,
            self.pos,
            rustix::io::ReadWriteFlags::NOWAIT,
        ) {
            Ok(0) => Err(StoreError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => {
                buf.set_len(n);
                self.pos += n as u64;
                self.next_read = self.pos;
                Ok(Some(Chunk {
                    buf,
                    start: 0,
                    len: n,
                }))
            }
            // Not (all) in the cache: read through io_uring.
            Err(_) => Ok(None),
        }
    }

    /// The file for io_uring reads, handing the descriptor to the runtime on
    /// first use.
    fn uring_file(&mut self) -> Option<Rc<monoio::fs::File>> {
        if let Source::Plain(_) = self.source {
            let Source::Plain(fd) = std::mem::replace(&mut self.source, Source::None) else {
                return None;
            };
            let file = monoio::fs::File::from_std(std::fs::File::from(fd)).ok()?;
            self.source = Source::Uring(Rc::new(file));
        }
        match &self.source {
            Source::Uring(file) => Some(Rc::clone(file)),
            _ => None,
        }
    }

    /// The next read of the range: offset, length and the read itself.
    fn next_read(
        &mut self,
        pool: &BufPool,
    ) -> Option<(
        u64,
        u64,
        impl std::future::Future<Output = ReadResult> + 'static,
    )> {
        let file = self.uring_file()?;
        let buf = pool.get();
        let cap = buf.capacity() as u64;
        let (at, want) = if self.direct {
            let at = self.next_read - self.next_read % ALIGN as u64;
            (at, (self.end - at).next_multiple_of(ALIGN as u64).min(cap))
        } else {
            (self.next_read, (self.end - self.next_read).min(cap))
        };
        self.next_read = at + want;
        let read = async move {
            let (result, slice) = file.read_at(buf.slice_mut(0..want as usize), at).await;
            (result, slice.into_inner())
        };
        Some((at, want, read))
    }

    fn submit(&mut self, pool: &BufPool) {
        if let Some((at, want, read)) = self.next_read(pool) {
            self.pending = Some((at, want, monoio::spawn(read)));
        }
    }
}
