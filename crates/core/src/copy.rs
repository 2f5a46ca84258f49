//! Server-side copy: copy_file_range into a temporary file next to the
//! target (a reflink, no data moved, where the filesystem can), published
//! like a PUT.

use std::os::fd::{AsFd, OwnedFd};
use std::time::SystemTime;

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
        let (mut from, mut to, mut left) = (0u64, 0u64, info.size);
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(1 << 30);
            let n = rfs::copy_file_range(&src, Some(&mut from), &out, Some(&mut to), want)?;
            if n == 0 {
                // The source shrank under us (written over POSIX in place).
                return Err(StoreError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            left -= n as u64;
        }
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
