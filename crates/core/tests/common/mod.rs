//! Helpers shared by the store tests: temporary roots, running a test on
//! both drivers, writing and reading whole objects.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sluice_core::{AlignedBuf, BufPool, Driver, ObjectInfo, Result, Store, StoreOptions};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under `base` (default: target/test-tmp, on the same
/// disk as the build, where O_DIRECT works), removed on drop.
pub struct TempRoot(pub PathBuf);

impl TempRoot {
    pub fn new(tag: &str) -> Self {
        Self::under(Path::new(env!("CARGO_TARGET_TMPDIR")), tag)
    }

    pub fn under(base: &Path, tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("sluice-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempRoot(dir)
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `test` on a fresh store, once on io_uring and once on epoll.
pub fn on_both_drivers<F, Fut>(tag: &str, test: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for driver in [Driver::IoUring, Driver::Legacy] {
        let root = TempRoot::new(tag);
        let store = Store::open(&root.0, StoreOptions::default()).unwrap();
        sluice_core::block_on(driver, test(store)).unwrap();
    }
}

/// Deterministic content: `len` bytes derived from `seed`.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `data` cut into buffers of `piece` bytes.
pub async fn put(
    store: &Store,
    bucket: &str,
    key: &str,
    data: &[u8],
    piece: usize,
) -> Result<ObjectInfo> {
    let mut w = store.put_object(bucket, key, Some(data.len() as u64))?;
    for part in data.chunks(piece.max(1)) {
        let mut buf = AlignedBuf::new(piece.max(1));
        buf.extend_from_slice(part);
        w.write(buf).await?;
    }
    w.finish(vec![("content-type".into(), "application/test".into())])
        .await
}

/// Reads `start..end` of an object.
pub async fn get_range(
    store: &Store,
    bucket: &str,
    key: &str,
    start: u64,
    end: u64,
) -> Result<Vec<u8>> {
    let pool = BufPool::new(256 * 1024, 4);
    let mut r = store.get_object(bucket, key)?;
    r.set_range(start, end);
    let mut out = Vec::new();
    while let Some(chunk) = r.next_chunk(&pool).await? {
        out.extend_from_slice(chunk.data());
    }
    Ok(out)
}

pub async fn get(store: &Store, bucket: &str, key: &str) -> Result<Vec<u8>> {
    get_range(store, bucket, key, 0, u64::MAX).await
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
