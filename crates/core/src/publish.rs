//! Making a written file visible under its key: atomically, under the
//! write's condition, and over what a crash or a failed write left behind.
//!
//! A new key is a `linkat`, which fails with EEXIST when anything holds the
//! name, so `If-None-Match: *` is decided by the kernel at the moment of
//! publishing. Replacing an object takes an exclusive `flock` on the file
//! being replaced (checked to still be the key's file once locked), so that
//! an `If-Match` compare and the rename that follows are one step for every
//! other publisher of the key, on this node or another over the same
//! filesystem. Readers never lock: they see the old file or the new one.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, FlockOperation, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::error::{Conflict, Result, StoreError};
use crate::fsys::{self, TempFile, DIR_XATTR, META_XATTR};
use crate::meta::{derived_etag, ObjectMeta};
use crate::store::system_time;

/// What must hold of the key's current object when a write is published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteCondition {
    /// Publish whatever is there (last writer wins).
    #[default]
    Always,
    /// `If-None-Match: *`: no object may exist at the key.
    Absent,
    /// `If-Match`: the current object's ETag must be this one (`*`: any
    /// object); no object at the key is [`StoreError::NoSuchKey`].
    EtagMatches(String),
}

impl WriteCondition {
    /// Whether the condition holds of a key whose current object has ETag
    /// `current` (None: no object), for backends that publish under a lock
    /// of their own.
    ///
    /// # Errors
    /// [`StoreError::PreconditionFailed`]; [`StoreError::NoSuchKey`] for
    /// If-Match with no object.
    pub fn check(&self, current: Option<&str>) -> Result<()> {
        match (self, current) {
            (WriteCondition::Absent, Some(_)) => Err(StoreError::PreconditionFailed),
            (WriteCondition::EtagMatches(_), None) => Err(StoreError::NoSuchKey),
            (WriteCondition::EtagMatches(e), Some(c)) if e != "*" && e != c => {
                Err(StoreError::PreconditionFailed)
            }
            _ => Ok(()),
        }
    }
}

/// The file to publish.
pub(crate) enum Source<'a> {
    /// A temporary file: an unnamed O_TMPFILE, or a named temporary where
    /// the filesystem has no O_TMPFILE.
    Temp(&'a mut TempFile),
    /// A file with a name of its own (a multipart upload's staging `data`).
    Named(BorrowedFd<'a>, &'a str),
}

/// Directory levels [`remove_created_tree`] descends at most.
const MAX_DEBRIS_DEPTH: usize = 32;

/// Publishes `src` as `name` in `dir` under `cond`. `internal` is the
/// store's temporary folder (intermediate names of replacements live there).
/// Returns the object replaced, when there was one the server could open:
/// unlinked, unlocked and still open, for the caller to free with
/// [`crate::free::free`] (dropped, its blocks are freed in place).
///
/// # Errors
/// [`StoreError::PreconditionFailed`], [`StoreError::NoSuchKey`] (If-Match
/// with no object), [`StoreError::KeyConflict`] (a directory holding
/// objects), [`StoreError::Busy`] (another publish of the key holds its
/// lock: the caller waits and calls again), ENOENT as
/// [`StoreError::Io`] when `dir` was removed (the caller recreates it),
/// EXDEV when a named source is on another filesystem.
pub(crate) fn publish(
    dir: BorrowedFd<'_>,
    internal: BorrowedFd<'_>,
    mut src: Source<'_>,
    name: &str,
    cond: &WriteCondition,
) -> Result<Option<OwnedFd>> {
    crate::faults::check(crate::faults::FaultOp::Rename)?;
    for _ in 0..4 {
        if !matches!(cond, WriteCondition::EtagMatches(_)) {
            match link_new(dir, &mut src, name) {
                Ok(()) => return Ok(None),
                Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Something holds the name.
        let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) if matches!(cond, WriteCondition::EtagMatches(_)) => {
                return Err(StoreError::NoSuchKey)
            }
            // It went away meanwhile: link again.
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        match rfs::FileType::from_raw_mode(st.st_mode) {
            rfs::FileType::Directory => {
                // Directories a failed or killed PUT created, and nothing
                // else, go; a directory that holds objects is a conflict.
                if remove_created_tree(dir, name, 0) {
                    continue;
                }
                return Err(StoreError::KeyConflict(Conflict::KeyIsDirectory));
            }
            rfs::FileType::RegularFile => {}
            // A FIFO, socket or device planted over POSIX is no object.
            _ if *cond == WriteCondition::Always => {
                return replace(dir, internal, &mut src, name).map(|()| None)
            }
            _ => return Err(StoreError::KeyConflict(Conflict::SpecialFile)),
        }
        if *cond == WriteCondition::Absent {
            return Err(StoreError::PreconditionFailed);
        }
        let current = match lock_current(dir, name)? {
            Current::Locked(fd) => Some(fd),
            Current::Gone => continue,
            // A file written over POSIX that the server may not read: it
            // cannot be locked or its ETag read, but it can be replaced.
            Current::Unreadable if *cond == WriteCondition::Always => None,
            Current::Unreadable => return Err(StoreError::PreconditionFailed),
        };
        if let (WriteCondition::EtagMatches(expected), Some(fd)) = (cond, &current) {
            if expected != "*" && current_etag(fd.as_fd())? != *expected {
                return Err(StoreError::PreconditionFailed);
            }
        }
        replace(dir, internal, &mut src, name)?;
        // Unlocked now: a publisher that opened the old file before the
        // rename looks again at once instead of waiting while it is freed.
        if let Some(fd) = &current {
            let _ = rfs::flock(fd, FlockOperation::Unlock);
        }
        return Ok(current);
    }
    Err(StoreError::KeyConflict(Conflict::KeyIsDirectory))
}

/// Links `src` as `name`, failing with EEXIST when the name is taken.
fn link_new(dir: BorrowedFd<'_>, src: &mut Source<'_>, name: &str) -> rustix::io::Result<()> {
    match src {
        Source::Temp(temp) => match temp.name.take() {
            None => fsys::link_fd(temp.fd.as_fd(), dir, name),
            Some((tmp, home)) => {
                let linked = rfs::linkat(&home, tmp.as_str(), dir, name, AtFlags::empty());
                if linked.is_ok() {
                    let _ = rfs::unlinkat(&home, tmp.as_str(), AtFlags::empty());
                } else {
                    temp.name = Some((tmp, home));
                }
                linked
            }
        },
        Source::Named(from, from_name) => {
            // One atomic step where the filesystem has it: the name leaves
            // the staging folder as it appears in the bucket.
            match rfs::renameat_with(*from, *from_name, dir, name, RenameFlags::NOREPLACE) {
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
                other => return other,
            }
            rfs::linkat(*from, *from_name, dir, name, AtFlags::empty())?;
            let _ = rfs::unlinkat(*from, *from_name, AtFlags::empty());
            Ok(())
        }
    }
}

/// Puts `src` in place of whatever `name` is now (rename is atomic).
fn replace(
    dir: BorrowedFd<'_>,
    internal: BorrowedFd<'_>,
    src: &mut Source<'_>,
    name: &str,
) -> Result<()> {
    match src {
        Source::Named(from, from_name) => rename_over(*from, from_name, dir, name),
        Source::Temp(temp) => {
            if let Some((tmp, home)) = temp.name.take() {
                let result = rename_over(home.as_fd(), &tmp, dir, name);
                if result.is_err() {
                    temp.name = Some((tmp, home));
                }
                return result;
            }
            // An unnamed file gets a name in the internal folder first.
            let tmp = fsys::temp_name();
            let home = match fsys::link_fd(temp.fd.as_fd(), internal, tmp.as_str()) {
                Ok(()) => internal,
                Err(Errno::XDEV) => {
                    fsys::link_fd(temp.fd.as_fd(), dir, tmp.as_str())?;
                    dir
                }
                Err(e) => return Err(e.into()),
            };
            let result = rename_over(home, &tmp, dir, name);
            if result.is_err() {
                let _ = rfs::unlinkat(home, tmp.as_str(), AtFlags::empty());
            }
            result
        }
    }
}

fn rename_over(from: BorrowedFd<'_>, tmp: &str, dir: BorrowedFd<'_>, name: &str) -> Result<()> {
    rfs::renameat(from, tmp, dir, name).map_err(|e| match e {
        Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => {
            StoreError::KeyConflict(Conflict::KeyIsDirectory)
        }
        other => other.into(),
    })
}

/// The file a publish replaces.
enum Current {
    /// Open and exclusively locked, and still the file under its name.
    Locked(OwnedFd),
    /// Replaced or removed meanwhile: look again.
    Gone,
    /// Not readable by the server.
    Unreadable,
}

/// Opens and exclusively locks the regular file `name`, checked to still be
/// the file under that name once locked.
fn lock_current(dir: BorrowedFd<'_>, name: &str) -> Result<Current> {
    let open = |access: OFlags| {
        rfs::openat(
            dir,
            name,
            access | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let fd = match open(OFlags::RDONLY) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::LOOP) => return Ok(Current::Gone),
        Err(Errno::ACCESS | Errno::PERM) => return Ok(Current::Unreadable),
        Err(e) => return Err(e.into()),
    };
    let fd = match rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => fd,
        Err(Errno::WOULDBLOCK) => return Err(StoreError::Busy),
        // NFS emulates flock with byte-range locks, which need a writable
        // descriptor for an exclusive lock.
        Err(Errno::BADF) => {
            let rw = match open(OFlags::RDWR) {
                Ok(fd) => fd,
                Err(Errno::ACCESS | Errno::PERM) => return Ok(Current::Unreadable),
                Err(e) => return Err(e.into()),
            };
            match rfs::flock(&rw, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => rw,
                Err(Errno::WOULDBLOCK) => return Err(StoreError::Busy),
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let locked = rfs::fstat(&fd)?;
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(now) if now.st_ino == locked.st_ino && now.st_dev == locked.st_dev => {
            Ok(Current::Locked(fd))
        }
        Ok(_) | Err(Errno::NOENT) => Ok(Current::Gone),
        Err(e) => Err(e.into()),
    }
}

/// The ETag of an open object file: stored, or derived for a file written
/// over POSIX.
fn current_etag(fd: BorrowedFd<'_>) -> Result<String> {
    if let Some(etag) = fsys::get_xattr(fd, META_XATTR).and_then(|m| ObjectMeta::decode_etag(&m)) {
        return Ok(etag);
    }
    let st = rfs::fstat(fd)?;
    Ok(derived_etag(
        st.st_ino,
        st.st_size as u64,
        system_time(st.st_mtime, st.st_mtime_nsec),
    ))
}

/// Removes `name` in `dir` when it is a directory the store created (marked
/// `created`, not a directory object) holding nothing but such directories:
/// what a PUT that failed or was killed before publishing leaves. True when
/// it is gone.
pub(crate) fn remove_created_tree(dir: BorrowedFd<'_>, name: &str, depth: usize) -> bool {
    if depth > MAX_DEBRIS_DEPTH {
        return false;
    }
    let Ok(fd) = fsys::open_dir(dir, name) else {
        return false;
    };
    if fsys::get_xattr(fd.as_fd(), DIR_XATTR).as_deref() != Some(b"created") {
        return false;
    }
    let Ok(entries) = rfs::Dir::read_from(&fd) else {
        return false;
    };
    for entry in entries {
        let Ok(entry) = entry else {
            return false;
        };
        let child = entry.file_name().to_bytes();
        if child == b"." || child == b".." {
            continue;
        }
        let Ok(child) = std::str::from_utf8(child) else {
            return false;
        };
        if entry.file_type() != rfs::FileType::Directory
            || !remove_created_tree(fd.as_fd(), child, depth + 1)
        {
            return false;
        }
    }
    rfs::unlinkat(dir, name, AtFlags::REMOVEDIR).is_ok()
}
