//! Which nodes serve a cluster now: each `sluice serve` of a cluster writes
//! a heartbeat, `nodes/<node-name>.json` in the config directory, every two
//! seconds (its own file, replaced by rename: no lock, and no change of the
//! config generation, which would make every server reload). `sluice
//! cluster show` lists them; a node whose heartbeat is older than ten
//! seconds is shown as gone.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::config::ConfigDir;

/// Seconds after which a node's heartbeat says it is gone.
pub const STALE_SECS: u64 = 10;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a node says of itself.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its node name.
    pub name: String,
    /// `https://IP:PORT` or `http://...`.
    pub address: String,
    /// The cores its threads run on.
    pub cores: Vec<usize>,
    /// The NUMA node of the root, when known.
    pub numa: Option<u32>,
}

/// Writes `node`'s heartbeat now and every two seconds on a thread of its
/// own, until the process ends.
///
/// # Errors
/// The first one cannot be written.
pub fn start(dir: &ConfigDir, node: Node) -> Result<(), String> {
    let started = now();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let folder = dir.path().join("nodes");
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    }
    let write = move || -> std::io::Result<()> {
        let record = json!({
            "name": node.name,
            "address": node.address,
            "host": host.trim(),
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
            "started": started,
            "updated": now(),
            "cores": node.cores,
            "numa": node.numa,
        });
        let path = folder.join(format!("{}.json", node.name));
        let tmp = folder.join(format!(".{}.json.tmp", node.name));
        std::fs::write(&tmp, record.to_string())?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| format!("cannot write the node heartbeat: {e}"))?;
    std::thread::Builder::new()
        .name("sluice-heartbeat".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(2));
            if let Err(e) = write() {
                tracing::warn!(error = %e, "cannot write the node heartbeat");
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The heartbeats in `dir`: each record and its age in seconds.
#[must_use]
pub fn list(dir: &Path) -> Vec<(Value, u64)> {
    let mut out: Vec<(Value, u64)> = std::fs::read_dir(dir.join("nodes"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(".json") && !n.starts_with('.'))
        })
        .filter_map(|e| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
            let age = now().saturating_sub(v["updated"].as_u64().unwrap_or(0));
            Some((v, age))
        })
        .collect();
    out.sort_by(|a, b| a.0["name"].as_str().cmp(&b.0["name"].as_str()));
    out
}

/// A node's line in `cluster show`.
#[must_use]
pub fn describe(v: &Value, age: u64) -> String {
    let uptime = v["updated"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(v["started"].as_u64().unwrap_or(0));
    let cores: Vec<String> = v["cores"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|c| c.to_string())
                .collect()
        })
        .unwrap_or_default();
    let state = if age <= STALE_SECS {
        "serving".to_owned()
    } else {
        format!("gone (last heard {age} s ago)")
    };
    format!(
        "{} {} {} version {} up {}h{:02}m cores {} numa {} pid {} on {}",
        v["name"].as_str().unwrap_or("?"),
        state,
        v["address"].as_str().unwrap_or("?"),
        v["version"].as_str().unwrap_or("?"),
        uptime / 3600,
        uptime % 3600 / 60,
        if cores.is_empty() {
            "-".to_owned()
        } else {
            cores.join(",")
        },
        v["numa"].as_u64().map_or("-".to_owned(), |n| n.to_string()),
        v["pid"].as_u64().unwrap_or(0),
        v["host"].as_str().unwrap_or("?"),
    )
}
