//! Filesystem glue on rustix's safe syscall wrappers: resolving keys beneath
//! a bucket without following symlinks out of it, creating parents, the
//! O_TMPFILE + linkat publish, xattrs. Metadata operations are plain
//! syscalls; data moves through io_uring elsewhere.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::{Conflict, Result, StoreError};
use crate::names::RESERVED_PREFIX;

/// Resolution for every path under a bucket: never above the starting
/// directory, never through a symlink (a symlink planted in a bucket cannot
/// lead outside the root, or anywhere).
const BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// The xattr holding an object's metadata.
pub const META_XATTR: &str = "user.sluice.meta";
/// The xattr marking a directory the store created (removed when emptied)
/// or a directory object (`key/`).
pub const DIR_XATTR: &str = "user.sluice.dir";

/// What a read of an object needs of its file's attributes.
#[derive(Debug, Clone, Copy)]
pub struct FileStat {
    pub file_type: rfs::FileType,
    pub size: u64,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, u64),
    pub ino: u64,
    pub dev: u64,
}

/// The attributes of an open file as its filesystem has them now, not as
/// this host cached them: `statx` with `AT_STATX_FORCE_SYNC`. Local
/// filesystems answer it like `fstat`; a network or FUSE filesystem asks
/// its server, so a file another node replaced moments ago is not read
/// with the old file's size (a FUSE mount keeps attributes a second by
/// default, an NFS mount without close-to-open longer). Falls back to
/// `fstat` where statx is refused.
///
/// # Errors
/// The file cannot be stat'ed.
pub fn fresh_stat(fd: BorrowedFd<'_>) -> rustix::io::Result<FileStat> {
    match rfs::statx(
        fd,
        "",
        AtFlags::EMPTY_PATH | AtFlags::STATX_FORCE_SYNC,
        rfs::StatxFlags::BASIC_STATS,
    ) {
        Ok(st) => Ok(FileStat {
            file_type: rfs::FileType::from_raw_mode(u32::from(st.stx_mode)),
            size: st.stx_size,
            mtime: (st.stx_mtime.tv_sec, u64::from(st.stx_mtime.tv_nsec)),
            ino: st.stx_ino,
            dev: rfs::makedev(st.stx_dev_major, st.stx_dev_minor),
        }),
        Err(Errno::NOSYS | Errno::PERM | Errno::INVAL) => {
            let st = rfs::fstat(fd)?;
            Ok(FileStat {
                file_type: rfs::FileType::from_raw_mode(st.st_mode),
                size: st.st_size as u64,
                mtime: (st.st_mtime, st.st_mtime_nsec),
                ino: st.st_ino,
                dev: st.st_dev,
            })
        }
        Err(e) => Err(e),
    }
}

/// Opens `path` beneath `dir` with `flags`, never following symlinks.
pub fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
    mode: Mode,
) -> rustix::io::Result<OwnedFd> {
    rfs::openat2(
        dir,
        path,
        flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        mode,
        BENEATH,
    )
}

/// Opens a directory beneath `dir` (O_PATH is enough to be a dirfd, but xattrs
/// and listing need a real descriptor).
pub fn open_dir(dir: BorrowedFd<'_>, path: &str) -> rustix::io::Result<OwnedFd> {
    open_beneath(dir, path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
}

/// Opens the parent directory `parent` (relative to the bucket), creating
/// missing directories, each marked as created by the store. A component
/// that exists as a file is a key conflict.
pub fn open_or_create_parent(
    bucket: BorrowedFd<'_>,
    parent: Option<&str>,
    owner: Option<crate::store::Owner>,
) -> Result<OwnedFd> {
    create_parent(bucket, parent, owner).map(|(fd, _)| fd)
}

/// [`open_or_create_parent`], also saying whether any directory was
/// created (a write that fails removes them again). A concurrent delete
/// may remove a directory the moment it is made (it is empty and marked
/// `created`): the walk starts again then.
pub fn create_parent(
    bucket: BorrowedFd<'_>,
    parent: Option<&str>,
    owner: Option<crate::store::Owner>,
) -> Result<(OwnedFd, bool)> {
    let mut made_any = false;
    for _ in 0..8 {
        match create_parent_once(bucket, parent, owner) {
            Ok((fd, made)) => return Ok((fd, made || made_any)),
            Err(StoreError::Io(e)) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
                made_any = true;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Errno::NOENT.into())
}

fn create_parent_once(
    bucket: BorrowedFd<'_>,
    parent: Option<&str>,
    owner: Option<crate::store::Owner>,
) -> Result<(OwnedFd, bool)> {
    let Some(parent) = parent else {
        return Ok((open_dir(bucket, ".")?, false));
    };
    match open_dir(bucket, parent) {
        Ok(fd) => return Ok((fd, false)),
        Err(Errno::NOENT) => {}
        Err(Errno::NOTDIR) => return Err(StoreError::KeyConflict(Conflict::ParentIsObject)),
        Err(e) => return Err(e.into()),
    }
    let mut dir = open_dir(bucket, ".")?;
    let mut made = false;
    for segment in parent.split('/') {
        match rfs::mkdirat(&dir, segment, Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                let created = open_dir(dir.as_fd(), segment)?;
                // Best effort: without the mark the directory is only kept
                // when emptied, nothing breaks.
                let _ = rfs::fsetxattr(&created, DIR_XATTR, b"created", rfs::XattrFlags::empty());
                if let Some(o) = owner {
                    o.chown(created.as_fd())?;
                }
                dir = created;
                made = true;
                continue;
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        dir = match open_dir(dir.as_fd(), segment) {
            Ok(fd) => fd,
            Err(Errno::NOTDIR) => return Err(StoreError::KeyConflict(Conflict::ParentIsObject)),
            Err(e) => return Err(e.into()),
        };
    }
    Ok((dir, made))
}

/// Whether the directory `fd` was removed (a concurrent delete emptied it):
/// nothing can be created in it any more.
pub fn is_removed(fd: BorrowedFd<'_>) -> bool {
    rfs::fstat(fd).is_ok_and(|st| st.st_nlink == 0)
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name for a temporary file inside a bucket directory; keys cannot use
/// the reserved prefix and listings skip it.
pub fn temp_name() -> String {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{RESERVED_PREFIX}-tmp-{}-{n}", std::process::id())
}

/// A new file that is not yet visible: an unnamed O_TMPFILE in the target
/// directory, or, where the filesystem has none, a reserved temporary name
/// in the store's internal `tmp` folder (or, across filesystems, in the
/// target directory).
#[derive(Debug)]
pub struct TempFile {
    pub fd: OwnedFd,
    /// The temporary name and the directory holding it, when O_TMPFILE was
    /// not available. Cleared once published.
    pub name: Option<(String, OwnedFd)>,
}

impl TempFile {
    /// Removes a named temporary file (an O_TMPFILE needs nothing: it
    /// vanishes with its descriptors).
    pub fn discard(&mut self) {
        if let Some((name, dir)) = self.name.take() {
            let _ = rfs::unlinkat(&dir, name.as_str(), AtFlags::empty());
        }
    }
}

fn same_device(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    matches!((rfs::fstat(a), rfs::fstat(b)), (Ok(x), Ok(y)) if x.st_dev == y.st_dev)
}

/// Creates a [`TempFile`] for `dir`, with O_DIRECT when `direct`.
/// `internal` is the store's own temporary folder.
pub fn create_temp(
    dir: BorrowedFd<'_>,
    internal: BorrowedFd<'_>,
    direct: bool,
) -> Result<TempFile> {
    let direct_flag = if direct {
        OFlags::DIRECT
    } else {
        OFlags::empty()
    };
    let mode = Mode::from_raw_mode(0o644);
    match rfs::openat(
        dir,
        ".",
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC | direct_flag,
        mode,
    ) {
        Ok(fd) => return Ok(TempFile { fd, name: None }),
        // No O_TMPFILE here (NFS, some FUSE filesystems): fall back to a name.
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => {}
        Err(e) => return Err(e.into()),
    }
    // Named temporary files live in the internal folder, where a crash
    // leaves them invisible, unless that is on another filesystem.
    let home = if same_device(dir, internal) {
        internal
    } else {
        dir
    };
    let name = temp_name();
    let flags = OFlags::CREATE
        | OFlags::EXCL
        | OFlags::RDWR
        | OFlags::CLOEXEC
        | OFlags::NOFOLLOW
        | direct_flag;
    let fd = rfs::openat(home, name.as_str(), flags, mode)?;
    Ok(TempFile {
        fd,
        name: Some((name, rustix::io::dup(home)?)),
    })
}

/// Whether O_DIRECT works on the filesystem of `dir` (ramfs refuses it).
pub fn probe_direct(dir: BorrowedFd<'_>) -> bool {
    match create_temp(dir, dir, true) {
        Ok(mut t) => {
            t.discard();
            true
        }
        Err(_) => false,
    }
}

/// Whether a `syncfs` of the filesystem holding `fd` makes everything
/// written there durable, so that writes may share one (group commit): the
/// local filesystems whose `sync_fs` commits their journal or log and
/// flushes the device (ext2/3/4, XFS, Btrfs, F2FS, ZFS, bcachefs), and
/// tmpfs (nothing to sync). Not FUSE, whose `syncfs` promises nothing of
/// the daemon (it is forwarded only to a daemon implementing FUSE_SYNCFS;
/// recent kernels mark FUSE as giving sync no data-integrity guarantee),
/// while its `fsync` is forwarded as FUSE_FSYNC; nor network or cluster
/// filesystems, whose `syncfs` semantics vary while their `fsync` is what
/// they promise: writes there sync their own file and directory.
pub fn syncfs_suffices(fd: BorrowedFd<'_>) -> bool {
    const EXT4: u64 = 0xEF53;
    const XFS: u64 = 0x5846_5342;
    const BTRFS: u64 = 0x9123_683E;
    const F2FS: u64 = 0xF2F5_2010;
    const ZFS: u64 = 0x2FC1_2FC1;
    const BCACHEFS: u64 = 0xCA45_1A4E;
    const TMPFS: u64 = 0x0102_1994;
    rfs::fstatfs(fd).is_ok_and(|st| {
        // f_type is signed on some targets: compare its 32 bits.
        let kind = u64::from(st.f_type as u32);
        matches!(kind, EXT4 | XFS | BTRFS | F2FS | ZFS | BCACHEFS | TMPFS)
    })
}

/// Set once linkat(AT_EMPTY_PATH) was refused (kernels before 6.10 without
/// CAP_DAC_READ_SEARCH): /proc/self/fd is used from then on.
static EMPTY_PATH_REFUSED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Gives the open file `fd` the name `name` in `dir`.
pub(crate) fn link_fd(
    fd: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &str,
) -> rustix::io::Result<()> {
    if !EMPTY_PATH_REFUSED.load(Ordering::Relaxed) {
        match rfs::linkat(fd, "", dir, name, AtFlags::EMPTY_PATH) {
            Err(Errno::PERM | Errno::NOENT | Errno::INVAL) => {
                // Refused, or `dir` is gone: the /proc path tells which.
                let via_proc = link_via_proc(fd, dir, name);
                if via_proc.is_ok() {
                    EMPTY_PATH_REFUSED.store(true, Ordering::Relaxed);
                }
                return via_proc;
            }
            other => return other,
        }
    }
    link_via_proc(fd, dir, name)
}

fn link_via_proc(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &str) -> rustix::io::Result<()> {
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    rfs::linkat(
        rfs::CWD,
        proc_path.as_str(),
        dir,
        name,
        AtFlags::SYMLINK_FOLLOW,
    )
}

/// Stores an object's encoded metadata in its [`META_XATTR`].
///
/// # Errors
/// [`StoreError::MetadataTooLarge`] when the filesystem cannot keep that
/// much in a file's xattrs (ext4 gives all of a file's xattrs one 4 KiB
/// block: E2BIG past it, ENOSPC when other xattrs share it); other
/// errors as they come.
pub fn set_meta(fd: BorrowedFd<'_>, encoded: &[u8]) -> crate::Result<()> {
    match rfs::fsetxattr(fd, META_XATTR, encoded, rfs::XattrFlags::empty()) {
        Ok(()) => Ok(()),
        Err(Errno::TOOBIG | Errno::RANGE) => Err(StoreError::MetadataTooLarge),
        // ENOSPC of a full disk and of a full xattr block look alike; a
        // few hundred bytes always fit beside the store's other xattrs.
        Err(Errno::NOSPC) if encoded.len() > 512 => Err(StoreError::MetadataTooLarge),
        Err(e) => Err(e.into()),
    }
}

/// Reads an xattr into a Vec; None when absent or unsupported.
pub fn get_xattr(fd: BorrowedFd<'_>, name: &str) -> Option<Vec<u8>> {
    // Metadata is usually small: read it into 1 KiB of spare capacity
    // (nothing to zero first); ERANGE asks for the real size.
    let mut small = Vec::with_capacity(1024);
    match rfs::fgetxattr(fd, name, rustix::buffer::spare_capacity(&mut small)) {
        Ok(_) => Some(small),
        Err(Errno::RANGE) => {
            let size = rfs::fgetxattr_query(fd, name).ok()?;
            let mut buf = vec![0u8; size];
            let n = rfs::fgetxattr(fd, name, &mut buf[..]).ok()?;
            buf.truncate(n);
            Some(buf)
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncfs_suffices_only_where_it_reaches_the_disk() {
        let open = |p: &str| {
            rfs::open(
                p,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        // procfs, sysfs: not where syncs are shared.
        assert!(!syncfs_suffices(open("/proc").unwrap().as_fd()));
        assert!(!syncfs_suffices(open("/sys").unwrap().as_fd()));
        // tmpfs, where there is one: nothing to sync, so sharing is right.
        if let Ok(shm) = open("/dev/shm") {
            let tmpfs = rfs::fstatfs(&shm).is_ok_and(|st| st.f_type as u32 == 0x0102_1994);
            assert_eq!(syncfs_suffices(shm.as_fd()), tmpfs);
        }
    }
}
