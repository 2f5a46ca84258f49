//! Logs with `tracing` on stderr: a start-up summary at info, one line per
//! request at debug (from the observe stage), warnings for internal errors.
//!
//! A thread of its own writes the lines: the thread that logs only queues
//! its line. A reader of stderr that stops reading (a full pipe) then costs
//! lines, counted and said once it reads again, never a runtime thread
//! blocked in a write with its connections.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sluice_s3::{Observer, RequestEvent};
use tracing_subscriber::EnvFilter;

/// Lines that may wait for the log thread (a few MiB): past them, a line
/// is dropped rather than its thread made to wait.
const QUEUED_LINES: usize = 8192;

/// The log thread's queue.
struct Queue {
    tx: SyncSender<Vec<u8>>,
    /// Lines queued and not yet written.
    queued: AtomicU64,
    /// Lines dropped because the queue was full.
    dropped: AtomicU64,
}

static QUEUE: OnceLock<Queue> = OnceLock::new();

/// Lines dropped since the process started because stderr was not read
/// as fast as they came (for the metrics).
#[must_use]
pub fn dropped_lines() -> u64 {
    QUEUE.get().map_or(0, |q| q.dropped.load(Ordering::Relaxed))
}

/// Waits, up to two seconds, until the queued lines are written: before
/// the process exits.
pub fn flush() {
    let Some(q) = QUEUE.get() else { return };
    let deadline = Instant::now() + Duration::from_secs(2);
    while q.queued.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts the log thread; None where no thread can start (lines are then
/// written by the thread that logs them).
fn start() -> Option<&'static Queue> {
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(QUEUED_LINES);
    let queue: &'static Queue = QUEUE.get_or_init(|| Queue {
        tx,
        queued: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
    });
    std::thread::Builder::new()
        .name("sluice-log".into())
        .spawn(move || {
            let q = queue;
            let mut said = 0;
            for line in rx {
                let mut err = std::io::stderr().lock();
                let dropped = q.dropped.load(Ordering::Relaxed);
                if dropped > said {
                    let _ = writeln!(
                        err,
                        "sluice: {} log line(s) dropped: stderr was not read as fast as they came",
                        dropped - said
                    );
                    said = dropped;
                }
                let _ = err.write_all(&line);
                drop(err);
                q.queued.fetch_sub(1, Ordering::Release);
            }
        })
        .ok()
        .map(|_| queue)
}

/// One event's line, handed to the log thread when the formatter is done
/// with it.
struct Line(Vec<u8>);

impl std::io::Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.0);
        let Some(q) = QUEUE.get() else {
            let _ = std::io::stderr().write_all(&line);
            return;
        };
        q.queued.fetch_add(1, Ordering::AcqRel);
        match q.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                q.queued.fetch_sub(1, Ordering::AcqRel);
                q.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(line)) => {
                q.queued.fetch_sub(1, Ordering::AcqRel);
                let _ = std::io::stderr().write_all(&line);
            }
        }
    }
}

/// Installs the subscriber: `RUST_LOG` when set, else `level`; `format` is
/// `text` or `json`.
pub fn init(level: &str, format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = start();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Line(Vec::new()))
        .with_target(false);
    if format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
}

/// The observe stage's logger: one debug line per request (never a secret:
/// the access key, not the signature or the token); with `access`, one
/// info line per request in an access-log form instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLog {
    /// Log every request at info, as an access log.
    pub access: bool,
}

impl Observer for RequestLog {
    fn observe(&self, e: &RequestEvent<'_>) {
        if self.access {
            // remote access-key "METHOD path" status bytes-out ms op id
            tracing::info!(
                target: "access",
                "{} {} \"{} {}{}{}\" {} {} {:.3} {} {}",
                e.remote.map(|r| r.ip().to_string()).unwrap_or_else(|| "-".into()),
                e.identity.access_key().unwrap_or("-"),
                e.method,
                escaped(e.path),
                if e.query.is_empty() { "" } else { "?" },
                escaped(&redacted_query(e.query)),
                e.status,
                e.bytes_out,
                e.time_to_response.as_secs_f64() * 1000.0,
                if e.operation.is_empty() { "-" } else { e.operation },
                e.request_id,
            );
            return;
        }
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        tracing::debug!(
            request_id = e.request_id,
            method = e.method,
            path = e.path,
            operation = e.operation,
            bucket = e.bucket.unwrap_or_default(),
            key = e.key.unwrap_or_default(),
            status = e.status,
            bytes_in = e.bytes_in,
            bytes_out = e.bytes_out,
            micros = u64::try_from(e.time_to_response.as_micros()).unwrap_or(u64::MAX),
            access_key = e.identity.access_key().unwrap_or("-"),
            remote = %e.remote.map(|r| r.to_string()).unwrap_or_default(),
            "request"
        );
    }
}

/// A query string without its signature and token parameters (their
/// names compared decoded: `X%2DAmz%2DSignature` is one too).
fn redacted_query(query: &str) -> String {
    query
        .split('&')
        .filter(|p| {
            let name = p.split('=').next().unwrap_or_default();
            let name = sluice_http::percent_decode(name, true).unwrap_or_else(|_| name.into());
            !["x-amz-signature", "signature", "x-amz-security-token"]
                .iter()
                .any(|s| name.eq_ignore_ascii_case(s))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `s` with quotes, backslashes and control characters escaped, so that a
/// request cannot forge the fields of its log line.
fn escaped(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_cannot_be_forged_nor_leak_signatures() {
        assert_eq!(escaped("/b/k\" 200 x"), "/b/k\\\" 200 x");
        assert_eq!(escaped("/b/\n"), "/b/\\x0a");
        assert_eq!(
            redacted_query("a=1&X%2DAmz%2DSignature=s&Signature=t&x-amz-security-token=u"),
            "a=1"
        );
    }
}
