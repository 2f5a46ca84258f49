//! Writing a byte stream into a file region: O_DIRECT writes of aligned
//! buffers through io_uring, several in flight, MD5 in the same pass.
//! Objects and multipart parts both write through a [`Sink`].

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use md5::{Digest as _, Md5};
use monoio::task::JoinHandle;

use crate::buf::{AlignedBuf, ALIGN};
use crate::error::{Result, StoreError};

type WriteResult = (io::Result<()>, AlignedBuf);

/// How the last, unaligned block is written.
pub(crate) enum Tail {
    /// Padded with zeros to a whole block; the caller truncates afterwards.
    Pad,
    /// Written exactly through this buffered descriptor (the region is
    /// followed by other data that padding would overwrite).
    Buffered(OwnedFd),
}

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
    md5: Md5,
    max_size: u64,
    writes_in_flight: usize,
    /// Hash and count, write nothing (benchmark mode).
    discard: bool,
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
            md5: Md5::new(),
            max_size,
            writes_in_flight: writes_in_flight.max(1),
            discard,
        })
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn md5(&self) -> [u8; 16] {
        self.md5.clone().finalize().into()
    }

    pub(crate) fn file(&self) -> &monoio::fs::File {
        &self.file
    }

    /// Bytes written past `base` including padding.
    pub(crate) fn written(&self) -> u64 {
        self.offset
    }

    pub(crate) async fn write(&mut self, buf: AlignedBuf) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.total += buf.len() as u64;
        if self.total > self.max_size {
            return Err(StoreError::EntityTooLarge);
        }
        self.md5.update(buf.as_slice());
        if self.discard {
            return Ok(());
        }
        if self.carry.is_none() && buf.len() % ALIGN == 0 {
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
        let file = Rc::clone(&self.file);
        let at = self.base + self.offset;
        self.offset += buf.len() as u64;
        self.in_flight.push_back(monoio::spawn(
            async move { file.write_all_at(buf, at).await },
        ));
        Ok(())
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
