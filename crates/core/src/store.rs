//! The store: buckets are directories under the root, objects are files.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Result, StoreError};
use crate::fsys::{self, DIR_XATTR, META_XATTR};
use crate::meta::{derived_etag, guess_content_type, ObjectMeta};
use crate::names::{is_valid_bucket_name, BucketName, ObjectKey};

/// Name of the store's own folder under the root; not a valid bucket name.
pub const INTERNAL_DIR: &str = ".sluice";

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// fdatasync every object before it becomes visible (on by default; off
    /// trades durability on power loss for latency).
    pub fdatasync: bool,
    /// Use O_DIRECT where the filesystem allows it (buffered I/O elsewhere).
    pub direct_io: bool,
    /// O_DIRECT writes in flight per object.
    pub writes_in_flight: usize,
    /// Largest object accepted, in bytes.
    pub max_object_size: u64,
    /// Smallest size of a multipart part other than the last (S3: 5 MiB).
    pub min_part_size: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            fdatasync: true,
            direct_io: true,
            writes_in_flight: 4,
            max_object_size: 5 << 40,
            min_part_size: 5 << 20,
        }
    }
}

/// A bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    /// Name.
    pub name: String,
    /// Creation time (the directory's birth time where the filesystem keeps
    /// one, else its modification time).
    pub created: SystemTime,
}

/// An object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub modified: SystemTime,
    /// Metadata: stored, or derived for files written over POSIX.
    pub meta: ObjectMeta,
    /// True when the metadata was derived (no `user.sluice.meta` xattr).
    pub derived: bool,
}

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) root_fd: OwnedFd,
    /// `<root>/.sluice/tmp`: intermediate names of publishes.
    pub(crate) tmp_fd: OwnedFd,
    root_dev: u64,
    root_direct: bool,
    pub(crate) opts: StoreOptions,
    /// O_DIRECT support of filesystems mounted below the root (rare).
    devices: Mutex<HashMap<u64, bool>>,
    /// Sorted entries of large directories, between listing pages.
    pub(crate) dir_cache: crate::list::DirCache,
}

/// A handle on the store. Cheap to clone; every runtime thread holds one.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.inner.root)
            .field("direct", &self.inner.root_direct)
            .finish()
    }
}

pub(crate) fn system_time(sec: i64, nsec: u64) -> SystemTime {
    if sec >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(sec.unsigned_abs(), nsec as u32)
    } else {
        SystemTime::UNIX_EPOCH - Duration::new(sec.unsigned_abs(), 0)
    }
}

fn no_bucket(e: Errno) -> StoreError {
    match e {
        Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV => StoreError::NoSuchBucket,
        other => other.into(),
    }
}

impl Store {
    /// Opens (creating if needed) a store on `root`.
    ///
    /// # Errors
    /// When the root cannot be created or opened.
    pub fn open(root: impl AsRef<Path>, opts: StoreOptions) -> Result<Store> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(root.join(INTERNAL_DIR).join("multipart"))?;
        std::fs::create_dir_all(root.join(INTERNAL_DIR).join("tmp"))?;
        let root_fd = rfs::open(
            &root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let root_dev = rfs::fstat(&root_fd)?.st_dev;
        let tmp_fd = fsys::open_dir(root_fd.as_fd(), &format!("{INTERNAL_DIR}/tmp"))?;
        remove_old_temporaries(tmp_fd.as_fd());
        let root_direct = opts.direct_io && fsys::probe_direct(root_fd.as_fd());
        Ok(Store {
            inner: Arc::new(Inner {
                root,
                root_fd,
                tmp_fd,
                root_dev,
                root_direct,
                opts,
                devices: Mutex::new(HashMap::new()),
                dir_cache: crate::list::DirCache::default(),
            }),
        })
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Whether O_DIRECT is used on the root's filesystem.
    #[must_use]
    pub fn direct_io(&self) -> bool {
        self.inner.root_direct
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &StoreOptions {
        &self.inner.opts
    }

    pub(crate) fn bucket_fd(&self, bucket: &str) -> Result<OwnedFd> {
        let name = BucketName::new(bucket)?;
        fsys::open_dir(self.inner.root_fd.as_fd(), name.as_str()).map_err(no_bucket)
    }

    /// Whether O_DIRECT is usable for files in `dir`.
    pub(crate) fn direct_for(&self, dir: BorrowedFd<'_>) -> bool {
        match rfs::fstat(dir) {
            Ok(st) => self.direct_for_dev(st.st_dev, dir),
            Err(_) => false,
        }
    }

    /// Whether O_DIRECT is usable on device `dev`; `dir` (on that device) is
    /// probed the first time a device other than the root's is seen.
    pub(crate) fn direct_for_dev(&self, dev: u64, dir: BorrowedFd<'_>) -> bool {
        if !self.inner.opts.direct_io {
            return false;
        }
        if dev == self.inner.root_dev {
            return self.inner.root_direct;
        }
        let mut devices = self
            .inner
            .devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *devices
            .entry(dev)
            .or_insert_with(|| fsys::probe_direct(dir))
    }

    /// Opens `key` of `bucket` in one path resolution from the root (the
    /// bucket is one validated path component), with its metadata.
    pub(crate) fn open_key(
        &self,
        bucket: &str,
        key: &ObjectKey,
    ) -> Result<(OwnedFd, ObjectInfo, u64)> {
        let name = BucketName::new(bucket)?;
        let path = format!("{}/{}", name.as_str(), key.rel_path());
        match open_object(self.inner.root_fd.as_fd(), &path, key) {
            Err(StoreError::NoSuchKey) => {
                // Tell a missing bucket from a missing key (errors only).
                self.bucket_fd(bucket)?;
                Err(StoreError::NoSuchKey)
            }
            other => other,
        }
    }

    /// Creates a bucket.
    ///
    /// # Errors
    /// [`StoreError::InvalidBucketName`], [`StoreError::BucketAlreadyExists`].
    pub fn create_bucket(&self, bucket: &str) -> Result<()> {
        let name = BucketName::new(bucket)?;
        match rfs::mkdirat(
            &self.inner.root_fd,
            name.as_str(),
            Mode::from_raw_mode(0o755),
        ) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Err(StoreError::BucketAlreadyExists),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an empty bucket.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`], [`StoreError::BucketNotEmpty`].
    pub fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let name = BucketName::new(bucket)?;
        match rfs::unlinkat(&self.inner.root_fd, name.as_str(), AtFlags::REMOVEDIR) {
            Ok(()) => Ok(()),
            Err(Errno::NOTEMPTY | Errno::EXIST) => Err(StoreError::BucketNotEmpty),
            Err(e) => Err(no_bucket(e)),
        }
    }

    /// A bucket configuration document (CORS, ...) kept in the bucket
    /// directory's `user.sluice.bucket.<name>` xattr; None when unset.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`].
    pub fn bucket_config(&self, bucket: &str, name: &str) -> Result<Option<Vec<u8>>> {
        let fd = self.bucket_fd(bucket)?;
        Ok(fsys::get_xattr(
            fd.as_fd(),
            &format!("user.sluice.bucket.{name}"),
        ))
    }

    /// Sets (Some) or removes (None) a bucket configuration document.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`], xattr errors.
    pub fn set_bucket_config(&self, bucket: &str, name: &str, value: Option<&[u8]>) -> Result<()> {
        let fd = self.bucket_fd(bucket)?;
        let attr = format!("user.sluice.bucket.{name}");
        match value {
            Some(v) => rfs::fsetxattr(&fd, attr.as_str(), v, rfs::XattrFlags::empty())?,
            None => match rfs::fremovexattr(&fd, attr.as_str()) {
                Ok(()) | Err(Errno::NODATA) => {}
                Err(e) => return Err(e.into()),
            },
        }
        Ok(())
    }

    /// The bucket's information.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`].
    pub fn head_bucket(&self, bucket: &str) -> Result<BucketInfo> {
        let fd = self.bucket_fd(bucket)?;
        Ok(BucketInfo {
            name: bucket.to_owned(),
            created: birth_time(fd.as_fd())?,
        })
    }

    /// All buckets, by name: the root's directories whose names are valid
    /// bucket names (so directories made over POSIX are buckets too).
    ///
    /// # Errors
    /// When the root cannot be read.
    pub fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let mut out = Vec::new();
        for entry in rfs::Dir::read_from(&self.inner.root_fd)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if !is_valid_bucket_name(name) {
                continue;
            }
            if let Ok(fd) = fsys::open_dir(self.inner.root_fd.as_fd(), name) {
                out.push(BucketInfo {
                    name: name.to_owned(),
                    created: birth_time(fd.as_fd())?,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The object's size, time and metadata.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`], [`StoreError::NoSuchKey`], invalid names.
    pub fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        let key = ObjectKey::new(key)?;
        Ok(self.open_key(bucket, &key)?.1)
    }

    /// Replaces an object's kept headers (tagging, for one) without touching
    /// its data or ETag. A file written over POSIX gets stored metadata with
    /// its derived ETag.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`], [`StoreError::NoSuchKey`], invalid names.
    pub fn update_headers(
        &self,
        bucket: &str,
        key: &str,
        update: impl FnOnce(&mut Vec<(String, String)>),
    ) -> Result<ObjectInfo> {
        let key = ObjectKey::new(key)?;
        let (fd, mut info, _) = self.open_key(bucket, &key)?;
        update(&mut info.meta.headers);
        rfs::fsetxattr(
            &fd,
            META_XATTR,
            &info.meta.encode(),
            rfs::XattrFlags::empty(),
        )?;
        info.derived = false;
        Ok(info)
    }

    /// Deletes an object, then the parent directories the store created that
    /// are now empty.
    ///
    /// # Errors
    /// [`StoreError::NoSuchKey`] when there is no such object (S3 answers
    /// 204 all the same; the protocol layer decides), invalid names.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let key = ObjectKey::new(key)?;
        let bucket_fd = self.bucket_fd(bucket)?;
        let (parent, name) = key.split_parent();
        let parent_fd = match parent {
            Some(p) => fsys::open_dir(bucket_fd.as_fd(), p).map_err(|_| StoreError::NoSuchKey)?,
            None => fsys::open_dir(bucket_fd.as_fd(), ".")?,
        };
        if key.is_dir_marker() {
            let dir = fsys::open_dir(parent_fd.as_fd(), name).map_err(|_| StoreError::NoSuchKey)?;
            if fsys::get_xattr(dir.as_fd(), DIR_XATTR).as_deref() != Some(b"object") {
                return Err(StoreError::NoSuchKey);
            }
            match rfs::unlinkat(&parent_fd, name, AtFlags::REMOVEDIR) {
                Ok(()) => {}
                // Other objects live below: the marker goes, the directory stays.
                Err(Errno::NOTEMPTY | Errno::EXIST) => {
                    let _ = rfs::fremovexattr(&dir, META_XATTR);
                    rfs::fsetxattr(&dir, DIR_XATTR, b"created", rfs::XattrFlags::empty())?;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            match rfs::unlinkat(&parent_fd, name, AtFlags::empty()) {
                Ok(()) => {}
                Err(Errno::NOENT | Errno::ISDIR | Errno::PERM) => {
                    return Err(StoreError::NoSuchKey)
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(parent) = parent {
            remove_empty_parents(bucket_fd.as_fd(), parent);
        }
        Ok(())
    }
}

/// Removes what crashed publishes left in the internal temporary folder.
/// Only files older than an hour go: other nodes sharing the filesystem may
/// be publishing through it right now.
fn remove_old_temporaries(tmp: BorrowedFd<'_>) {
    let Ok(dir) = rfs::Dir::read_from(tmp) else {
        return;
    };
    let cutoff = SystemTime::now() - Duration::from_secs(3600);
    for entry in dir.flatten() {
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if !name.starts_with(crate::names::RESERVED_PREFIX) {
            continue;
        }
        if let Ok(st) = rfs::statat(tmp, name, AtFlags::SYMLINK_NOFOLLOW) {
            if system_time(st.st_mtime, st.st_mtime_nsec) < cutoff {
                let _ = rfs::unlinkat(tmp, name, AtFlags::empty());
            }
        }
    }
}

/// Removes the store-created directories of `parent` from the deepest up,
/// stopping at the first that is not empty or was not made by the store.
fn remove_empty_parents(bucket: BorrowedFd<'_>, parent: &str) {
    let mut path = parent;
    loop {
        let Ok(dir) = fsys::open_dir(bucket, path) else {
            return;
        };
        if fsys::get_xattr(dir.as_fd(), DIR_XATTR).as_deref() != Some(b"created") {
            return;
        }
        drop(dir);
        if rfs::unlinkat(bucket, path, AtFlags::REMOVEDIR).is_err() {
            return;
        }
        match path.rsplit_once('/') {
            Some((up, _)) => path = up,
            None => return,
        }
    }
}

fn birth_time(fd: BorrowedFd<'_>) -> Result<SystemTime> {
    let st = rfs::fstat(fd)?;
    Ok(system_time(st.st_mtime, st.st_mtime_nsec))
}

/// Opens the file (or marker directory) of `key` beneath the bucket and
/// reads its size, time and metadata (one open, one fstat, one xattr read).
pub(crate) fn open_object(
    dir: BorrowedFd<'_>,
    path: &str,
    key: &ObjectKey,
) -> Result<(OwnedFd, ObjectInfo, u64)> {
    let flags = if key.is_dir_marker() {
        OFlags::RDONLY | OFlags::DIRECTORY
    } else {
        OFlags::RDONLY
    };
    let fd = match fsys::open_beneath(dir, path, flags, Mode::empty()) {
        Ok(fd) => fd,
        // Missing, a parent that is a file, a symlink on the way: no object.
        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV | Errno::ISDIR) => {
            return Err(StoreError::NoSuchKey)
        }
        Err(e) => return Err(e.into()),
    };
    let st = rfs::fstat(&fd)?;
    let file_type = rfs::FileType::from_raw_mode(st.st_mode);
    let is_object = if key.is_dir_marker() {
        file_type == rfs::FileType::Directory
            && fsys::get_xattr(fd.as_fd(), DIR_XATTR).as_deref() == Some(b"object")
    } else {
        file_type == rfs::FileType::RegularFile
    };
    if !is_object {
        return Err(StoreError::NoSuchKey);
    }
    let info = object_info(fd.as_fd(), &st, key);
    Ok((fd, info, st.st_dev))
}

/// Size, time and metadata of an open object.
fn object_info(fd: BorrowedFd<'_>, st: &rfs::Stat, key: &ObjectKey) -> ObjectInfo {
    let modified = system_time(st.st_mtime, st.st_mtime_nsec);
    let size = if key.is_dir_marker() {
        0
    } else {
        st.st_size as u64
    };
    if let Some(meta) = fsys::get_xattr(fd, META_XATTR).and_then(|raw| ObjectMeta::decode(&raw)) {
        return ObjectInfo {
            size,
            modified,
            meta,
            derived: false,
        };
    }
    let meta = ObjectMeta {
        etag: derived_etag(st.st_ino, size, modified),
        headers: vec![(
            "content-type".to_owned(),
            guess_content_type(key.rel_path()).to_owned(),
        )],
    };
    ObjectInfo {
        size,
        modified,
        meta,
        derived: true,
    }
}
