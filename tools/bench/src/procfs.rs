//! What a measured phase cost on this machine, read from /proc: the server
//! process's CPU time and peak RSS, this process's CPU time, and the CPU
//! that every other process used meanwhile (a disturbed measurement).

use std::time::Instant;

/// CPU counters at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    at: Instant,
    /// Server utime+stime, in clock ticks (None without --server-pid).
    server: Option<u64>,
    /// This process's utime+stime.
    client: u64,
    /// Busy time of all CPUs from /proc/stat (idle and iowait excluded).
    busy: u64,
}

/// The cost of a phase.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cost {
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Server CPU seconds.
    pub server_cpu: Option<f64>,
    /// Peak server RSS during the phase, in KiB (VmHWM after a reset).
    pub server_peak_rss_kib: Option<u64>,
    /// This client's CPU seconds.
    pub client_cpu: f64,
    /// CPU seconds of every other process.
    pub other_cpu: f64,
}

fn ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

/// utime + stime of `/proc/<pid>/stat` (`self` for this process).
fn process_ticks(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from after its ')'.
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn busy_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    // user nice system idle iowait irq softirq steal ...
    line.split_whitespace()
        .skip(1)
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum()
}

/// Reads the counters now. For the server, also resets its peak RSS so the
/// phase's own peak can be read at the end (needs the right to write its
/// clear_refs: the same user or root).
pub fn begin(server_pid: Option<u32>) -> Sample {
    if let Some(pid) = server_pid {
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
    sample(server_pid)
}

fn sample(server_pid: Option<u32>) -> Sample {
    Sample {
        at: Instant::now(),
        server: server_pid.and_then(|p| process_ticks(&p.to_string())),
        client: process_ticks("self").unwrap_or(0),
        busy: busy_ticks(),
    }
}

/// The peak RSS of `pid` in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The cost between `start` and now.
pub fn end(start: &Sample, server_pid: Option<u32>) -> Cost {
    let now = sample(server_pid);
    let hz = ticks_per_second();
    let server = match (start.server, now.server) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let client = now.client.saturating_sub(start.client);
    let busy = now.busy.saturating_sub(start.busy);
    let other = busy.saturating_sub(client + server.unwrap_or(0));
    Cost {
        seconds: now.at.duration_since(start.at).as_secs_f64(),
        server_cpu: server.map(|t| t as f64 / hz),
        server_peak_rss_kib: server_pid.and_then(peak_rss_kib),
        client_cpu: client as f64 / hz,
        other_cpu: other as f64 / hz,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_measured() {
        let pid = std::process::id();
        let start = begin(Some(pid));
        // Burn some CPU so the counters move.
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed().as_millis() < 200 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert_ne!(x, 1);
        let cost = end(&start, Some(pid));
        let server = cost.server_cpu.unwrap();
        assert!(server > 0.05, "{cost:?}");
        assert!(cost.client_cpu > 0.05, "{cost:?}");
        assert!(cost.server_peak_rss_kib.unwrap() > 0);
        assert!(cost.seconds >= 0.2);
    }
}
