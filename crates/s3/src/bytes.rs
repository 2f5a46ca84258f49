//! Ready-made reader and writer for backends that hold whole objects as
//! byte vectors (a key-value store, a cache, a test double): the backend
//! supplies the bytes to read, or a function that stores what was written.

use std::sync::Arc;
use std::time::SystemTime;

use md5::{Digest as _, Md5};
use sluice_core::{
    AlignedBuf, BufPool, Chunk, ObjectInfo, ObjectMeta, Result, StoreError, WriteCondition,
};

use crate::storage::{BodyWrite, ObjectRead, ObjectWrite};

/// An object held in memory, read out in the thread's pool buffers.
#[derive(Debug)]
pub struct BytesReader {
    info: ObjectInfo,
    data: Arc<Vec<u8>>,
    pos: u64,
    end: u64,
}

impl BytesReader {
    /// A reader of `data`, described by `info` (whose size is `data`'s).
    #[must_use]
    pub fn new(info: ObjectInfo, data: Arc<Vec<u8>>) -> Self {
        let end = data.len() as u64;
        BytesReader {
            info,
            data,
            pos: 0,
            end,
        }
    }
}

impl ObjectRead for BytesReader {
    fn info(&self) -> &ObjectInfo {
        &self.info
    }

    fn set_range(&mut self, start: u64, end: u64) {
        let len = self.data.len() as u64;
        self.pos = start.min(len);
        self.end = end.clamp(self.pos, len);
    }

    async fn next_chunk(&mut self, pool: &BufPool) -> Result<Option<Chunk>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let mut buf = pool.get();
        let from = usize::try_from(self.pos).unwrap_or(usize::MAX);
        let to = usize::try_from(self.end).unwrap_or(usize::MAX);
        let len = buf.extend_from_slice(&self.data[from..to]);
        self.pos = self.pos.saturating_add(len as u64);
        Ok(Some(Chunk { buf, start: 0, len }))
    }
}

/// A body collected in memory with its MD5, at most `limit` bytes.
#[derive(Debug, Clone)]
pub(crate) struct Collected {
    pub(crate) data: Vec<u8>,
    md5: Md5,
    pub(crate) limit: Option<u64>,
}

impl Collected {
    pub(crate) fn new(limit: Option<u64>) -> Self {
        Collected {
            data: Vec::new(),
            md5: Md5::new(),
            limit,
        }
    }

    pub(crate) fn write(&mut self, buf: &AlignedBuf) -> Result<()> {
        if self
            .limit
            .is_some_and(|l| (self.data.len().saturating_add(buf.len())) as u64 > l)
        {
            return Err(StoreError::EntityTooLarge);
        }
        self.md5.update(buf.as_slice());
        self.data.extend_from_slice(buf.as_slice());
        Ok(())
    }

    pub(crate) fn md5(&self) -> [u8; 16] {
        self.md5.clone().finalize().into()
    }
}

/// What a [`BytesWriter`] does with a whole body: store `data` described by
/// `info` if `cond` holds (check it under the backend's own lock, for
/// instance with [`WriteCondition::check`]).
pub type Publish = Box<dyn FnOnce(Vec<u8>, ObjectInfo, &WriteCondition) -> Result<()>>;

/// An object body collected in memory, its MD5 computed as it comes, then
/// handed to the backend's [`Publish`] function.
pub struct BytesWriter {
    body: Collected,
    publish: Publish,
}

impl std::fmt::Debug for BytesWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BytesWriter")
            .field("len", &self.body.data.len())
            .finish_non_exhaustive()
    }
}

impl BytesWriter {
    /// A writer of at most `limit` bytes (the Content-Length, when known)
    /// that ends in `publish`.
    pub fn new(
        limit: Option<u64>,
        publish: impl FnOnce(Vec<u8>, ObjectInfo, &WriteCondition) -> Result<()> + 'static,
    ) -> Self {
        BytesWriter {
            body: Collected::new(limit),
            publish: Box::new(publish),
        }
    }
}

impl BodyWrite for BytesWriter {
    async fn write(&mut self, buf: AlignedBuf) -> Result<()> {
        self.body.write(&buf)
    }

    fn md5(&self) -> [u8; 16] {
        self.body.md5()
    }
}

impl ObjectWrite for BytesWriter {
    async fn finish_if(
        self,
        headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let etag = sluice_http::hex_encode(&self.md5());
        let info = ObjectInfo {
            size: self.body.data.len() as u64,
            modified: SystemTime::now(),
            meta: ObjectMeta { etag, headers },
            derived: false,
        };
        (self.publish)(self.body.data, info.clone(), cond)?;
        Ok(info)
    }
}
