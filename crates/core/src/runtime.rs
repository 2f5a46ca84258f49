//! Thread-per-core runtimes: one monoio runtime per chosen core, pinned to
//! it; io_uring where the kernel allows it, epoll otherwise.

use std::future::Future;
use std::path::Path;
use std::thread::JoinHandle;

/// Which monoio driver to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring when available (probed once), epoll otherwise.
    Auto,
    /// io_uring only (fails where it is unavailable or disabled).
    IoUring,
    /// epoll (mio) only.
    Legacy,
}

/// Runs `fut` to completion on a new runtime of `driver` on this thread.
///
/// # Errors
/// When the runtime cannot be built (io_uring refused with
/// [`Driver::IoUring`]).
pub fn block_on<F: Future>(driver: Driver, fut: F) -> std::io::Result<F::Output> {
    const ENTRIES: u32 = 1024;
    let uring = match driver {
        Driver::Auto => monoio::utils::detect_uring(),
        Driver::IoUring => true,
        Driver::Legacy => false,
    };
    if uring {
        let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(ENTRIES)
            .enable_timer()
            .build()?;
        Ok(rt.block_on(fut))
    } else {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()?;
        Ok(rt.block_on(fut))
    }
}

/// Starts one thread per core in `cores`, pins it there, and runs
/// `make(index)`'s future on a runtime of `driver`. Join the handles to wait.
///
/// # Errors
/// When a thread cannot be spawned.
pub fn start_runtimes<F, Fut>(
    cores: &[usize],
    driver: Driver,
    make: F,
) -> std::io::Result<Vec<JoinHandle<std::io::Result<()>>>>
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let mut handles = Vec::with_capacity(cores.len());
    for (index, &core) in cores.iter().enumerate() {
        let make = make.clone();
        let handle = std::thread::Builder::new()
            .name(format!("sluice-{index}"))
            .spawn(move || {
                pin_to(core)?;
                block_on(driver, make(index))
            })?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Pins the calling thread to `core`.
///
/// # Errors
/// When the core does not exist or is not allowed.
pub fn pin_to(core: usize) -> std::io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(core);
    rustix::thread::sched_setaffinity(None, &set)?;
    Ok(())
}

/// Parses a Linux CPU list (`0-3,8,10-11`). Malformed parts are skipped.
#[must_use]
pub fn parse_cpu_list(text: &str) -> Vec<usize> {
    let mut cores = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                    cores.extend(a..=b.min(a + 4096));
                }
            }
            None => cores.extend(part.trim().parse::<usize>()),
        }
    }
    cores.sort_unstable();
    cores.dedup();
    cores
}

/// The cores of the NUMA node that owns the block device holding `path`,
/// read from /sys; None when it cannot be told (virtual devices, no NUMA).
#[must_use]
pub fn numa_cores_for_path(path: &Path) -> Option<Vec<usize>> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).ok()?.dev();
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let block = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    // A partition's device directory is its parent's.
    let node = [
        block.join("device/numa_node"),
        block.parent()?.join("device/numa_node"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())?;
    let node: i64 = node.trim().parse().ok()?;
    if node < 0 {
        return None;
    }
    let list =
        std::fs::read_to_string(format!("/sys/devices/system/node/node{node}/cpulist")).ok()?;
    let cores = parse_cpu_list(&list);
    (!cores.is_empty()).then_some(cores)
}

/// The cores to run on: `requested` when given, else the NUMA node of
/// `path`'s device, else every core this process may use.
#[must_use]
pub fn pick_cores(path: &Path, requested: Option<&[usize]>) -> Vec<usize> {
    if let Some(r) = requested.filter(|r| !r.is_empty()) {
        return r.to_vec();
    }
    if let Some(cores) = numa_cores_for_path(path) {
        return cores;
    }
    let allowed = rustix::thread::sched_getaffinity(None).ok();
    let all: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| allowed.as_ref().is_some_and(|s| s.is_set(c)))
        .collect();
    if all.is_empty() {
        (0..std::thread::available_parallelism().map_or(1, usize::from)).collect()
    } else {
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list("2,1,1"), [1, 2]);
        assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("x,3"), [3]);
    }

    #[test]
    fn picks_requested_or_something() {
        assert_eq!(pick_cores(Path::new("/"), Some(&[1])), [1]);
        assert!(!pick_cores(Path::new("/"), None).is_empty());
    }
}
