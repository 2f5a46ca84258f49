//! Writing a byte stream into a file region: O_DIRECT writes of aligned
//! buffers through io_uring, several in flight, MD5 in the same pass.
//! Objects and multipart parts both write through a [`Sink`].

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use monoio::task::JoinHandle;

use crate::buf::{AlignedBuf, ALIGN};
use crate::error::{Result, StoreError};
use crate::hasher::BodyMd5;

type WriteResult = (io::Result<()>, AlignedBuf);

/// How the last, unaligned block is written.
pub(crate) enum Tail {
    /// Padded with zeros to a whole block; the caller truncates afterwards.
    Pad,
    /// Written exactly through this buffered descriptor (the region is
    /// followed by other data that padding would overwrite).
    Buffered(OwnedFd),
}

/// Preallocation of the file as data arrives: at most one step ahead of
/// what was written, so a client that announces a large body and then
/// stalls holds no more space than it sent plus one step.
struct Prealloc {
    /// Bytes preallocated past `base`.
    done: u64,
    /// The length to reach (the announced size, rounded up to a block).
    goal: u64,
    /// A fallocate failed (no space, no support): extend by writing.
    stopped: bool,
}

/// How far preallocation runs ahead of the data.
pub(crate) const PREALLOC_STEP: u64 = 8 << 20;

/// A file region being filled; see the module documentation.
pub(crate) struct Sink {
    file: Rc<monoio::fs::File>,
    direct: bool,
    /// Where the region starts in the file (a multiple of ALIGN).
    base: u64,
    /// Bytes submitted past `base`; a multiple of ALIGN until the end.
    offset: u64,
    in_flight: VecDeque<JoinHandle<WriteResult>>,
    /// Bytes waiting to fill a whole block when the caller's buffers were not
    /// block-sized (copied; the aligned path copies nothing).
    carry: Option<AlignedBuf>,
    tail: Tail,
    total: u64,
    md5: BodyMd5,
    max_size: u64,
    writes_in_flight: usize,
    /// Hash and count, write nothing (benchmark mode).
    discard: bool,
    /// Whether the MD5 is computed (not for bytes stored in another form,
    /// whose caller hashes the plaintext).
    hash: bool,
    prealloc: Option<Prealloc>,
    /// Buffers are written at once by `pwrite` on this thread rather than
    /// through the ring ([`Sink::write_inline`]).
    inline: bool,
}

impl Sink {
    pub(crate) fn new(
        fd: &OwnedFd,
        direct: bool,
        base: u64,
        tail: Tail,
        max_size: u64,
        writes_in_flight: usize,
        discard: bool,
    ) -> Result<Self> {
        let file = monoio::fs::File::from_std(std::fs::File::from(fd.try_clone()?))?;
        Ok(Sink {
            file: Rc::new(file),
            direct,
            base,
            offset: 0,
            in_flight: VecDeque::new(),
            carry: None,
            tail,
            total: 0,
            md5: BodyMd5::new(),
            max_size,
            writes_in_flight: writes_in_flight.max(1),
            discard,
            hash: true,
            prealloc: None,
            inline: false,
        })
    }

    /// Preallocates the region up to `len` bytes (rounded up to a block), a
    /// step at a time as the data arrives: a file-extending O_DIRECT write
    /// is handed to io_uring's worker threads on ext4, one within the
    /// preallocated length is not.
    pub(crate) fn preallocate(&mut self, len: u64) {
        if len == 0 || self.discard {
            return;
        }
        self.prealloc = Some(Prealloc {
            done: 0,
            goal: len.next_multiple_of(ALIGN as u64),
            stopped: false,
        });
        self.grow(1);
    }

    /// Writes each buffer at once with `pwrite` on the runtime thread, not
    /// through the ring: for a small body on a descriptor without O_DIRECT,
    /// where the write only copies into the page cache. (A buffered write
    /// through the ring is handed to a worker thread on ext4, which costs
    /// more than the copy.)
    pub(crate) fn write_inline(&mut self) {
        self.inline = true;
    }

    /// Extends the preallocation to cover `upto` bytes past `base` (and up
    /// to one step beyond, never past the goal).
    fn grow(&mut self, upto: u64) {
        let base = self.base;
        let Some(p) = self.prealloc.as_mut() else {
            return;
        };
        while !p.stopped && p.done < upto.min(p.goal) {
            let len = PREALLOC_STEP.min(p.goal - p.done);
            match rustix::fs::fallocate(
                &*self.file,
                rustix::fs::FallocateFlags::empty(),
                base + p.done,
                len,
            ) {
                Ok(()) => p.done += len,
                Err(_) => p.stopped = true,
            }
        }
    }

    /// The preallocated length past `base`, when preallocation ran.
    pub(crate) fn preallocated(&self) -> Option<u64> {
        self.prealloc.as_ref().map(|p| p.done).filter(|&n| n > 0)
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Stops hashing what is written (the caller hashes the plaintext of
    /// bytes stored encrypted); [`Sink::md5`] is then meaningless.
    pub(crate) fn skip_md5(&mut self) {
        self.hash = false;
    }

    pub(crate) fn md5(&self) -> [u8; 16] {
        self.md5.digest()
    }

    pub(crate) fn file(&self) -> &monoio::fs::File {
        &self.file
    }

    /// Bytes written past `base` including padding.
    pub(crate) fn written(&self) -> u64 {
        self.offset
    }

    pub(crate) async fn write(&mut self, mut buf: AlignedBuf) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.total += buf.len() as u64;
        if self.total > self.max_size {
            return Err(StoreError::EntityTooLarge);
        }
        if self.hash {
            buf = self.md5.update(buf).await;
        }
        if self.discard {
            return Ok(());
        }
        if self.carry.is_none() && buf.len().is_multiple_of(ALIGN) {
            return self.submit(buf).await;
        }
        let mut rest = buf.as_slice();
        while !rest.is_empty() {
            let carry = self
                .carry
                .get_or_insert_with(|| AlignedBuf::new(buf.capacity()));
            let n = carry.extend_from_slice(rest);
            rest = &rest[n..];
            if carry.len() == carry.capacity() {
                if let Some(full) = self.carry.take() {
                    self.submit(full).await?;
                }
            }
        }
        Ok(())
    }

    /// Writes what is left and waits for every write.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        if let Some(mut last) = self.carry.take() {
            let aligned = last.len() - last.len() % ALIGN;
            match &self.tail {
                Tail::Buffered(fd) if aligned < last.len() => {
                    // The bytes past the last whole block go through the page
                    // cache at their exact offset; the blocks before them as usual.
                    let at = self.base + self.offset + aligned as u64;
                    let mut rest = &last.as_slice()[aligned..];
                    let mut pos = at;
                    while !rest.is_empty() {
                        let n = rustix::io::pwrite(fd, rest, pos)?;
                        rest = &rest[n..];
                        pos += n as u64;
                    }
                    last.set_len(aligned);
                    if aligned > 0 {
                        self.submit(last).await?;
                    }
                }
                _ => {
                    if self.direct {
                        last.pad_to_block();
                    }
                    self.submit(last).await?;
                }
            }
        }
        while let Some(handle) = self.in_flight.pop_front() {
            let (result, _buf) = handle.await;
            result?;
        }
        Ok(())
    }

    async fn submit(&mut self, buf: AlignedBuf) -> Result<()> {
        while self.in_flight.len() >= self.writes_in_flight {
            if let Some(handle) = self.in_flight.pop_front() {
                let (result, _buf) = handle.await;
                result?;
            }
        }
        self.grow(self.offset + buf.len() as u64);
        let at = self.base + self.offset;
        self.offset += buf.len() as u64;
        if self.inline {
            if let Some(e) = crate::faults::inject(crate::faults::FaultOp::Write) {
                return Err(e.into());
            }
            let mut rest = buf.as_slice();
            let mut pos = at;
            while !rest.is_empty() {
                let n = rustix::io::pwrite(&*self.file, rest, pos)?;
                if n == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                }
                rest = &rest[n..];
                pos += n as u64;
            }
            return Ok(());
        }
        let file = Rc::clone(&self.file);
        self.in_flight.push_back(monoio::spawn(async move {
            if let Some(e) = crate::faults::inject(crate::faults::FaultOp::Write) {
                return (Err(e), buf);
            }
            file.write_all_at(buf, at).await
        }));
        Ok(())
    }
}
