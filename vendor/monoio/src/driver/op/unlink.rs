use std::{
    ffi::CString,
    io,
    os::fd::{AsRawFd, OwnedFd},
    path::Path,
};

#[cfg(all(target_os = "linux", feature = "iouring"))]
use io_uring::{opcode, squeue::Entry, types::Fd};
#[cfg(all(target_os = "linux", feature = "iouring"))]
use libc::{AT_FDCWD, AT_REMOVEDIR};

use super::{Op, OpAble};
use crate::driver::util::cstr;
#[cfg(any(feature = "legacy", feature = "poll-io"))]
use crate::{driver::ready::Direction, syscall_u32};

pub(crate) struct Unlink {
    path: CString,
    remove_dir: bool,
    /// The directory `path` is relative to (sluice's addition); the
    /// operation owns it until it completes, so that a cancelled unlink
    /// never resolves its name in a descriptor reused meanwhile.
    pub(crate) dir: Option<OwnedFd>,
}

impl Op<Unlink> {
    pub(crate) fn unlink<P: AsRef<Path>>(path: P) -> io::Result<Op<Unlink>> {
        let path = cstr(path.as_ref())?;
        Op::submit_with(Unlink {
            path,
            remove_dir: false,
            dir: None,
        })
    }

    /// `name` unlinked in `dir` (sluice's addition).
    pub(crate) fn unlink_at(dir: OwnedFd, name: &Path) -> io::Result<Op<Unlink>> {
        let path = cstr(name)?;
        Op::submit_with(Unlink {
            path,
            remove_dir: false,
            dir: Some(dir),
        })
    }

    pub(crate) fn rmdir<P: AsRef<Path>>(path: P) -> io::Result<Op<Unlink>> {
        let path = cstr(path.as_ref())?;
        Op::submit_with(Unlink {
            path,
            remove_dir: true,
            dir: None,
        })
    }
}

impl OpAble for Unlink {
    #[cfg(all(target_os = "linux", feature = "iouring"))]
    fn uring_op(&mut self) -> Entry {
        let dir = self.dir.as_ref().map_or(AT_FDCWD, AsRawFd::as_raw_fd);
        opcode::UnlinkAt::new(Fd(dir), self.path.as_c_str().as_ptr())
            .flags(if self.remove_dir { AT_REMOVEDIR } else { 0 })
            .build()
    }

    #[cfg(any(feature = "legacy", feature = "poll-io"))]
    fn legacy_interest(&self) -> Option<(Direction, usize)> {
        None
    }

    #[cfg(any(feature = "legacy", feature = "poll-io"))]
    fn legacy_call(&mut self) -> io::Result<u32> {
        if let Some(dir) = &self.dir {
            let flags = if self.remove_dir { libc::AT_REMOVEDIR } else { 0 };
            return syscall_u32!(unlinkat(dir.as_raw_fd(), self.path.as_c_str().as_ptr(), flags));
        }
        if self.remove_dir {
            syscall_u32!(rmdir(self.path.as_c_str().as_ptr()))
        } else {
            syscall_u32!(unlink(self.path.as_c_str().as_ptr()))
        }
    }
}
