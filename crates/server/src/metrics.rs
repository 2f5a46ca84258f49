//! Metrics in Prometheus's text format and health checks, on an admin
//! listener of their own (`--metrics-listen`, off the S3 port):
//! `GET /metrics` (with `--metrics-token-file`, only with
//! `Authorization: Bearer <token>`), `GET /health/live` and
//! `GET /health/ready`.
//!
//! The counts are updated in the observe stage (one relaxed atomic add
//! each, no lock) and by the connection layer ([`sluice_s3::Stats`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_s3::{Observer, RequestEvent, S3ErrorCode, Stats};

use crate::audit::spool::Spool;

/// Latency buckets (seconds).
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

/// API families of the latency histograms.
const FAMILIES: [&str; 6] = [
    "object_read",
    "object_write",
    "multipart",
    "list",
    "bucket",
    "other",
];

fn family(api: &str) -> usize {
    match api {
        "GetObject" | "HeadObject" | "GetObjectAttributes" => 0,
        "PutObject" | "CopyObject" | "DeleteObject" | "DeleteObjects" | "PostObject" => 1,
        "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "ListParts"
        | "ListMultipartUploads" => 2,
        "ListObjects" | "ListObjectsV2" | "ListObjectVersions" | "ListBuckets" => 3,
        a if a.contains("Bucket") => 4,
        _ => 5,
    }
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// The counts.
#[derive(Debug)]
pub struct Metrics {
    names: Vec<&'static str>,
    index: HashMap<&'static str, usize>,
    /// Per API (the last: unrouted), per status class 1xx..5xx.
    requests: Vec<[AtomicU64; 5]>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    server_errors: AtomicU64,
    /// Per S3 error code answered ([`S3ErrorCode::index`]).
    errors: Vec<AtomicU64>,
    latency: [Histogram; FAMILIES.len()],
    stats: Arc<Stats>,
    spool: Option<Arc<Spool>>,
    driver: &'static str,
}

impl Metrics {
    /// Counts of a server whose connection layer counts in `stats`, with
    /// the audit spool when there is one.
    #[must_use]
    pub fn new(stats: Arc<Stats>, spool: Option<Arc<Spool>>, driver: &'static str) -> Self {
        let mut names: Vec<&'static str> = sluice_s3::ALL_OPS.iter().map(|o| o.name()).collect();
        names.extend(["CopyObject", "UploadPartCopy", "HealthCheck", "unrouted"]);
        names.dedup();
        let index = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let requests = names.iter().map(|_| Default::default()).collect();
        Metrics {
            names,
            index,
            requests,
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            errors: S3ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            latency: Default::default(),
            stats,
            spool,
            driver,
        }
    }

    fn record(&self, e: &RequestEvent<'_>) {
        let api = if e.operation.is_empty() {
            "unrouted"
        } else {
            e.operation
        };
        let i = self.index.get(api).copied().unwrap_or(self.names.len() - 1);
        let class = usize::from(e.status / 100).clamp(1, 5) - 1;
        self.requests[i][class].fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(e.bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(e.bytes_out, Ordering::Relaxed);
        if e.status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(n) = e.error.and_then(|c| self.errors.get(c.index())) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        let h = &self.latency[family(api)];
        let secs = e.time_to_response.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|&b| secs <= b) {
            h.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_ns.fetch_add(
            u64::try_from(e.time_to_response.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        let _ = writeln!(
            out,
            "# HELP sluice_build_info The running build.\n# TYPE sluice_build_info gauge"
        );
        let _ = writeln!(
            out,
            "sluice_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(
            out,
            "# HELP sluice_io_driver The I/O driver in use.\n# TYPE sluice_io_driver gauge"
        );
        let _ = writeln!(out, "sluice_io_driver{{driver=\"{}\"}} 1", self.driver);
        let _ = writeln!(out, "# HELP sluice_requests_total S3 requests answered, by API and status class.\n# TYPE sluice_requests_total counter");
        for (name, counts) in self.names.iter().zip(&self.requests) {
            for (c, n) in counts.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "sluice_requests_total{{api=\"{name}\",status=\"{}xx\"}} {n}",
                        c + 1
                    );
                }
            }
        }
        let _ = writeln!(out, "# HELP sluice_request_errors_total Requests answered with an S3 error, by its code: refusals (AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed, ExpiredToken, InvalidToken, AuthorizationHeaderMalformed, AuthorizationQueryParametersError, XAmzContentSHA256Mismatch, SlowDown, ...) and failures alike.\n# TYPE sluice_request_errors_total counter");
        for (code, n) in S3ErrorCode::ALL.iter().zip(&self.errors) {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "sluice_request_errors_total{{code=\"{}\"}} {n}",
                    code.as_str()
                );
            }
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "sluice_received_bytes_total",
            "Bytes received (heads and bodies).",
            self.bytes_in.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sluice_sent_bytes_total",
            "Bytes sent (heads and bodies).",
            self.bytes_out.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sluice_server_errors_total",
            "Requests answered 5xx (store and internal errors).",
            self.server_errors.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sluice_auth_failures_total",
            "Failed authentications (a wrong signature or an unknown access key; what the per-address throttle counts).",
            self.stats.auth_failures.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sluice_connections_shed_total",
            "Connections refused because their thread held --max-connections (answered 503 SlowDown over HTTP, closed over HTTPS).",
            self.stats.connections_shed.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sluice_log_lines_dropped_total",
            "Log lines dropped because stderr was not read as fast as they came (the server's threads never wait for it).",
            crate::logging::dropped_lines(),
        );
        let (syncs, covered) = sluice_core::durable::stats();
        counter(
            &mut out,
            "sluice_group_syncs_total",
            "syncfs calls of the group commit (each makes durable every write that waited for it).",
            syncs,
        );
        counter(
            &mut out,
            "sluice_group_sync_waits_total",
            "Waits the group commit's syncs answered (a PUT waits twice: for its data, then for its name).",
            covered,
        );
        counter(
            &mut out,
            "sluice_inline_writes_total",
            "Small objects written through the page cache with one write, because their sync was to be shared by the group commit (the group's syncfs writes them back before they are linked).",
            sluice_core::inline_writes(),
        );
        counter(
            &mut out,
            "sluice_unlinks_on_ring_total",
            "Object deletes whose unlink went through io_uring because unlinks on that filesystem were timed waiting (a discard, a network round trip).",
            sluice_core::free::unlinks_on_ring(),
        );
        counter(
            &mut out,
            "sluice_large_files_freed_total",
            "Deleted or replaced files of over 16 MiB freed by a thread of their own, off the runtime threads.",
            sluice_core::free::large_files_freed(),
        );
        let md5 = sluice_core::hasher::stats();
        counter(
            &mut out,
            "sluice_md5_passes_total",
            "Passes of the threads' MD5 hashers (each over the body buffers that filled in one turn of its runtime).",
            md5.passes,
        );
        let _ = writeln!(out, "# HELP sluice_md5_bytes_total Body bytes MD5-hashed, side by side in SIMD lanes or alone.\n# TYPE sluice_md5_bytes_total counter");
        let _ = writeln!(
            out,
            "sluice_md5_bytes_total{{how=\"side_by_side\"}} {}",
            md5.bytes_side_by_side
        );
        let _ = writeln!(
            out,
            "sluice_md5_bytes_total{{how=\"alone\"}} {}",
            md5.bytes_alone
        );
        let _ = writeln!(out, "# HELP sluice_request_duration_seconds Time from a request's head to its answer written, by API family.\n# TYPE sluice_request_duration_seconds histogram");
        for (fam, h) in FAMILIES.iter().zip(&self.latency) {
            let mut cumulative = 0u64;
            for (b, n) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let _ = writeln!(out, "sluice_request_duration_seconds_bucket{{family=\"{fam}\",le=\"{b}\"}} {cumulative}");
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "sluice_request_duration_seconds_bucket{{family=\"{fam}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "sluice_request_duration_seconds_sum{{family=\"{fam}\"}} {}",
                h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "sluice_request_duration_seconds_count{{family=\"{fam}\"}} {count}"
            );
        }
        let _ = writeln!(out, "# HELP sluice_open_connections Connections open, per runtime thread.\n# TYPE sluice_open_connections gauge");
        if let Ok(all) = self.stats.connections.lock() {
            for (thread, n) in all.iter() {
                let _ = writeln!(
                    out,
                    "sluice_open_connections{{thread=\"{thread}\"}} {}",
                    n.load(Ordering::Relaxed)
                );
            }
        }
        if let Some(s) = &self.spool {
            let appended = s.appended.load(Ordering::Relaxed);
            let delivered = s.delivered.load(Ordering::Relaxed);
            let _ = writeln!(out, "# HELP sluice_audit_queue_events Audit events spooled by this run and not yet delivered.\n# TYPE sluice_audit_queue_events gauge\nsluice_audit_queue_events {}", appended.saturating_sub(delivered));
            let _ = writeln!(out, "# HELP sluice_audit_spool_bytes Bytes of undelivered audit events in the spool.\n# TYPE sluice_audit_spool_bytes gauge\nsluice_audit_spool_bytes {}", s.bytes.load(Ordering::Relaxed));
            counter(
                &mut out,
                "sluice_audit_events_total",
                "Audit events spooled.",
                appended,
            );
            counter(
                &mut out,
                "sluice_audit_delivered_total",
                "Audit events the webhook took.",
                delivered,
            );
            counter(
                &mut out,
                "sluice_audit_dropped_total",
                "Audit events dropped (the spool was full).",
                s.dropped.load(Ordering::Relaxed),
            );
        }
        out
    }
}

/// The observe stage with metrics: counts, then the next observer.
#[derive(Debug)]
pub struct Counted {
    /// The counts.
    pub metrics: Arc<Metrics>,
    /// The observer after (audit, request log).
    pub next: Arc<dyn Observer>,
}

impl Observer for Counted {
    fn observe(&self, e: &RequestEvent<'_>) {
        self.metrics.record(e);
        self.next.observe(e);
    }

    fn wants_headers(&self) -> bool {
        self.next.wants_headers()
    }

    fn wants_flush(&self) -> bool {
        self.next.wants_flush()
    }

    fn flush(&self) {
        self.next.flush();
    }
}

/// Readiness: the root writable, the config directory readable. Checked
/// at most once a second (the answer is kept meanwhile), each check with a
/// probe file of its own.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The store's root.
    pub root: PathBuf,
    /// The config directory, when the server has a cluster.
    pub config: Option<PathBuf>,
    /// The last answer and when (milliseconds since `epoch`, +1; 0: none).
    pub cache: Arc<(AtomicU64, std::sync::atomic::AtomicBool)>,
    /// The start of the cache's clock.
    pub epoch: std::time::Instant,
}

impl Ready {
    /// Readiness of the store in `root` with its config directory.
    #[must_use]
    pub fn new(root: PathBuf, config: Option<PathBuf>) -> Self {
        Ready {
            root,
            config,
            cache: Arc::default(),
            epoch: std::time::Instant::now(),
        }
    }

    fn check(&self) -> bool {
        static PROBES: AtomicU64 = AtomicU64::new(0);
        let n = PROBES.fetch_add(1, Ordering::Relaxed);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let probe = self
            .root
            .join(sluice_core::INTERNAL_DIR)
            .join("tmp")
            .join(format!(".ready-{}-{}-{n}", host.trim(), std::process::id()));
        let writable = std::fs::write(&probe, b"").is_ok() && std::fs::remove_file(&probe).is_ok();
        let readable = self
            .config
            .as_ref()
            .is_none_or(|c| std::fs::read_dir(c).is_ok());
        writable && readable
    }
}

impl sluice_s3::Health for Ready {
    fn ready(&self) -> bool {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let (at, ok) = &*self.cache;
        let last = at.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < 1000 {
            return ok.load(Ordering::Relaxed);
        }
        let answer = self.check();
        ok.store(answer, Ordering::Relaxed);
        at.store(now, Ordering::Relaxed);
        answer
    }
}

/// Serves the admin listener on its own thread.
///
/// # Errors
/// The address cannot be listened on.
pub fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    ready: Ready,
    token: Option<String>,
) -> Result<SocketAddr, String> {
    let listener =
        TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let token: Option<Arc<str>> = token.map(Arc::from);
    std::thread::Builder::new()
        .name("sluice-admin".into())
        .spawn(move || {
            // A thread per connection (at most 32 at once), each with a
            // deadline for the whole request: a slow or idle client holds
            // its own thread only.
            let busy = Arc::new(AtomicU64::new(0));
            for stream in listener.incoming().flatten() {
                if busy.load(Ordering::Relaxed) >= 32 {
                    continue;
                }
                busy.fetch_add(1, Ordering::Relaxed);
                let (metrics, ready, token, mine) = (
                    Arc::clone(&metrics),
                    ready.clone(),
                    token.clone(),
                    Arc::clone(&busy),
                );
                let spawned = std::thread::Builder::new()
                    .name("sluice-admin-conn".into())
                    .spawn(move || {
                        if let Err(e) = answer(stream, &metrics, &ready, token.as_deref()) {
                            tracing::debug!(error = %e, "admin request");
                        }
                        mine.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    busy.fetch_sub(1, Ordering::Relaxed);
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(bound)
}

fn answer(
    mut stream: TcpStream,
    metrics: &Metrics,
    ready: &Ready,
    token: Option<&str>,
) -> std::io::Result<()> {
    // The whole head within 5 seconds, however slowly it trickles in.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || head.len() > 16 << 10 {
            return Ok(());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (method, path) = (
        first.next().unwrap_or_default(),
        first.next().unwrap_or_default(),
    );
    let path = path.split('?').next().unwrap_or_default();
    let authorized = token.is_none_or(|t| {
        lines.any(|l| {
            l.split_once(':').is_some_and(|(n, v)| {
                n.trim().eq_ignore_ascii_case("authorization")
                    && sluice_sigv4::constant_time_eq(
                        v.trim().as_bytes(),
                        format!("Bearer {t}").as_bytes(),
                    )
            })
        })
    });
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") if !authorized => (
            "401 Unauthorized",
            "text/plain",
            "a bearer token is needed\n".to_owned(),
        ),
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        ("GET" | "HEAD", "/health/live") => ("200 OK", "text/plain", "live\n".to_owned()),
        ("GET" | "HEAD", "/health/ready") => {
            if sluice_s3::Health::ready(ready) {
                ("200 OK", "text/plain", "ready\n".to_owned())
            } else {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    "not ready\n".to_owned(),
                )
            }
        }
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_owned(),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&out)
}
