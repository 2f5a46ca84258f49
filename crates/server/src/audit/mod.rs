//! The audit webhook: one event per answered S3 request ([`event`]),
//! appended to this node's spool on the request's thread ([`spool`]) and
//! POSTed in batches by a delivery thread, in order, retried with backoff
//! until the webhook takes them.
//!
//! Settings live in the config directory (`audit.json`, mode 0600: it may
//! hold the webhook's token), made by `sluice audit-webhook enable`;
//! running servers read them again within a second of a change. The spool
//! is `<root>/.sluice/audit/<node>/` on the served filesystem: a node that
//! takes the place of a dead one (same `--node-name`) delivers what the
//! dead one spooled.

pub mod event;
pub mod spool;

use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use sluice_s3::{Observer, RequestEvent};

use crate::config::ConfigDir;
use spool::Spool;

/// The settings file in the config directory.
pub const FILE: &str = "audit.json";

/// How batches are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of events.
    Json,
    /// One event per line (what Splunk's HTTP Event Collector takes).
    Ndjson,
}

/// The webhook's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `http://` or `https://` URL events are POSTed to.
    pub url: String,
    /// `Authorization` header value (`Bearer T` or `Splunk T`).
    pub authorization: Option<String>,
    /// Most events per POST.
    pub batch: usize,
    /// Longest an event waits for its batch to fill.
    pub flush_interval: Duration,
    /// Framing.
    pub format: Format,
    /// PEM of the CA(s) an `https://` webhook's certificate chains to.
    pub ca_pem: Option<String>,
}

impl Settings {
    /// Parses what [`Settings::to_json`] wrote.
    ///
    /// # Errors
    /// A malformed file.
    pub fn parse(v: &Value) -> Result<Self, String> {
        let bad = |what: &str| format!("{FILE}: {what}");
        let url = v["url"].as_str().ok_or_else(|| bad("no url"))?.to_owned();
        Url::parse(&url)?;
        Ok(Settings {
            url,
            authorization: v["authorization"].as_str().map(str::to_owned),
            batch: v["batch"]
                .as_u64()
                .map_or(100, |b| b.clamp(1, 10_000) as usize),
            flush_interval: Duration::from_millis(v["flush_interval_ms"].as_u64().unwrap_or(1000)),
            format: match v["format"].as_str() {
                Some("ndjson") => Format::Ndjson,
                _ => Format::Json,
            },
            ca_pem: v["ca_pem"].as_str().map(str::to_owned),
        })
    }

    /// The stored form.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "url": self.url,
            "authorization": self.authorization,
            "batch": self.batch,
            "flush_interval_ms": u64::try_from(self.flush_interval.as_millis()).unwrap_or(u64::MAX),
            "format": match self.format { Format::Json => "json", Format::Ndjson => "ndjson" },
            "ca_pem": self.ca_pem,
        })
    }
}

/// The settings in `dir`, None when auditing is off.
///
/// # Errors
/// The file cannot be read or is malformed.
pub fn load(dir: &ConfigDir) -> Result<Option<Settings>, String> {
    dir.read(FILE)?.map(|v| Settings::parse(&v)).transpose()
}

/// A webhook URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Over TLS.
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query.
    pub path: String,
}

impl Url {
    /// Parses `http[s]://host[:port][/path]`.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(url: &str) -> Result<Self, String> {
        let bad = || format!("{url} is not an http:// or https:// URL");
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let (authority, path) = rest
            .find('/')
            .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        let bad_char = |c: char| c.is_ascii_control() || c == ' ';
        if authority.is_empty()
            || authority.contains('@')
            || authority.chars().any(bad_char)
            || path.chars().any(bad_char)
        {
            return Err(bad());
        }
        let default = if tls { 443 } else { 80 };
        let (host, port) = if authority.starts_with('[') {
            // [v6] or [v6]:port
            match authority.rsplit_once("]:") {
                Some((h, p)) => (format!("{h}]"), p.parse::<u16>().map_err(|_| bad())?),
                None if authority.ends_with(']') => (authority.to_owned(), default),
                None => return Err(bad()),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse::<u16>().map_err(|_| bad())?),
                None => (authority.to_owned(), default),
            }
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Url {
            tls,
            host,
            port,
            path: path.to_owned(),
        })
    }
}

/// `url` without its query (which may hold a token), for logs and `show`.
#[must_use]
pub fn shown_url(url: &str) -> String {
    match url.split_once('?') {
        Some((u, _)) => format!("{u}?..."),
        None => url.to_owned(),
    }
}

/// The observe stage's auditor: each event appended to the spool.
#[derive(Debug)]
pub struct Auditor {
    spool: Arc<Spool>,
    node: event::Node,
    /// Whether a webhook is set (events are spooled only then).
    enabled: Arc<AtomicBool>,
    /// The request log, called too.
    log: crate::logging::RequestLog,
}

impl Auditor {
    /// The spool (for metrics).
    #[must_use]
    pub fn spool(&self) -> Arc<Spool> {
        Arc::clone(&self.spool)
    }
}

thread_local! {
    /// The events this thread observed since its last flush (lines) and
    /// how many.
    static GATHERED: std::cell::RefCell<(String, u64)> = const { std::cell::RefCell::new((String::new(), 0)) };
}

impl Observer for Auditor {
    fn observe(&self, e: &RequestEvent<'_>) {
        self.log.observe(e);
        // Load balancers' health probes are not S3 calls.
        if self.enabled.load(Ordering::Relaxed) && e.operation != "HealthCheck" {
            GATHERED.with(|g| {
                let mut g = g.borrow_mut();
                event::append_json(&mut g.0, e, &self.node, SystemTime::now());
                g.0.push('\n');
                g.1 += 1;
            });
        }
    }

    fn wants_headers(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn wants_flush(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// One write of everything this thread gathered: the connection layer
    /// calls it once per turn of the runtime, before the connections whose
    /// events it holds go on.
    fn flush(&self) {
        GATHERED.with(|g| {
            let mut g = g.borrow_mut();
            if g.1 > 0 {
                self.spool.append_lines(g.0.as_bytes(), g.1);
                g.0.clear();
                g.1 = 0;
                // A burst's buffer is not kept.
                if g.0.capacity() > 1 << 20 {
                    g.0 = String::new();
                }
            }
        });
    }
}

/// The spool directory of node `base` under `dir`, locked for this
/// process (flock, held until it exits): `base`, or when another running
/// server holds that, `base.1`, `base.2`, ... The name taken is returned
/// too. A server restarted under its name takes its spool back.
///
/// # Errors
/// The directory cannot be made, or a hundred names are taken.
pub fn claim_spool(dir: &Path, base: &str) -> Result<(std::path::PathBuf, String), String> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    for i in 0..100u32 {
        let name = if i == 0 {
            base.to_owned()
        } else {
            format!("{base}.{i}")
        };
        let path = dir.join(&name);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .map_err(|e| format!("cannot create the audit spool {}: {e}", path.display()))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path.join("lock"))
            .map_err(|e| format!("cannot lock the audit spool {}: {e}", path.display()))?;
        if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            // Held for the life of the process.
            std::mem::forget(lock);
            return Ok((path, name));
        }
    }
    Err(format!(
        "a hundred audit spools in {} are in use",
        dir.display()
    ))
}

/// Starts auditing for a server: the spool in `spool_dir` and the delivery
/// thread reading the settings from `dir`. The returned observer goes in
/// the service config.
///
/// # Errors
/// The spool cannot be opened.
pub fn start(
    dir: ConfigDir,
    spool_dir: &Path,
    cap: u64,
    node: event::Node,
    log: crate::logging::RequestLog,
    cores: &[usize],
) -> Result<Arc<Auditor>, String> {
    let spool = Arc::new(Spool::open(spool_dir, cap)?);
    let settings = load(&dir).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the audit webhook settings cannot be read");
        None
    });
    let enabled = Arc::new(AtomicBool::new(settings.is_some()));
    let dir2 = dir.clone();
    let auditor = Arc::new(Auditor {
        spool: Arc::clone(&spool),
        node,
        enabled: Arc::clone(&enabled),
        log,
    });
    // Delivery runs on the server's cores: what it costs is the server's,
    // not taken from other work on the machine.
    let cores = cores.to_vec();
    std::thread::Builder::new()
        .name("sluice-audit".into())
        .spawn(move || {
            let mut set = rustix::thread::CpuSet::new();
            for &c in &cores {
                set.set(c);
            }
            let _ = rustix::thread::sched_setaffinity(None, &set);
            deliver(&dir, &spool, &enabled, settings);
        })
        .map_err(|e| format!("cannot start the audit thread: {e}"))?;
    // Spools of the same name that no running server holds (a server that
    // ran beside this one under `name.1`, and stopped) are delivered too.
    let parent = spool_dir.parent().map(Path::to_owned);
    let own = spool_dir.to_owned();
    if let Some(parent) = parent {
        let base = node_base(&own);
        std::thread::Builder::new()
            .name("sluice-audit-adopt".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                if let Ok(Some(s)) = load(&dir2) {
                    adopt_siblings(&parent, &own, &base, &s);
                }
            })
            .map_err(|e| format!("cannot start the audit thread: {e}"))?;
    }
    Ok(auditor)
}

/// The name a spool directory was claimed under, without its `.K`.
fn node_base(dir: &Path) -> String {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    match name.rsplit_once('.') {
        Some((b, k)) if k.parse::<u32>().is_ok() => b.to_owned(),
        _ => name.to_owned(),
    }
}

/// Delivers the spools `base` and `base.K` under `parent` that no running
/// server holds, one at a time, while holding their lock.
fn adopt_siblings(parent: &Path, own: &Path, base: &str, s: &Settings) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == own || node_base(&path) != base {
            continue;
        }
        let Ok(lock) = std::fs::OpenOptions::new()
            .write(true)
            .open(path.join("lock"))
        else {
            continue;
        };
        if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            continue;
        }
        let Ok(spool) = Spool::adopt(&path) else {
            continue;
        };
        if spool.is_empty() {
            continue;
        }
        tracing::info!(spool = %path.display(), "delivering the audit events of a spool no server holds");
        let mut pos = spool.cursor();
        let mut failures = 0u32;
        while !spool.is_empty() && failures < 10 {
            let (events, count, next) = spool.read(pos.0, pos.1, s.batch);
            if count == 0 {
                if next == pos || spool.commit(next.0, next.1, 0, 0).is_err() {
                    break;
                }
                pos = next;
                continue;
            }
            let bytes = events.len() as u64;
            match post(s, events) {
                Ok(()) => {
                    let _ = spool.commit(next.0, next.1, count as u64, bytes);
                    pos = next;
                    failures = 0;
                }
                Err(_) => {
                    failures += 1;
                    std::thread::sleep(Duration::from_millis(500) * failures);
                }
            }
        }
        drop(lock);
    }
}

/// The delivery loop: batches from the spool, POSTed in order; a failure
/// is retried (100 ms doubling to 30 s) with the same batch.
fn deliver(dir: &ConfigDir, spool: &Spool, enabled: &AtomicBool, mut settings: Option<Settings>) {
    let mut checked = Instant::now();
    let mut generation = dir.generation();
    let mut mtime = settings_mtime(dir);
    let mut backoff = Duration::ZERO;
    let mut next_attempt = Instant::now();
    let mut waiting_since: Option<Instant> = None;
    // While waiting: the events read, and the spool's count then.
    let (mut pending, mut seen) = (0usize, 0u64);
    let mut failing = false;
    let mut pos = spool.cursor();
    // Whether this thread gave its free memory back since it last posted.
    let mut trimmed = true;
    loop {
        if checked.elapsed() >= Duration::from_millis(500) {
            checked = Instant::now();
            let (g, m) = (dir.generation(), settings_mtime(dir));
            if g != generation || m != mtime {
                generation = g;
                mtime = m;
                match load(dir) {
                    Ok(s) => {
                        if s != settings {
                            tracing::info!(
                                url = s.as_ref().map_or("(off)".to_owned(), |s| shown_url(&s.url)),
                                "audit webhook settings changed"
                            );
                            next_attempt = Instant::now();
                            backoff = Duration::ZERO;
                        }
                        enabled.store(s.is_some(), Ordering::Relaxed);
                        settings = s;
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        "the audit webhook settings cannot be read; keeping the ones read before"
                    ),
                }
            }
        }
        let Some(s) = settings.as_ref() else {
            std::thread::sleep(Duration::from_millis(250));
            continue;
        };
        let now = Instant::now();
        if now < next_attempt {
            std::thread::sleep((next_attempt - now).min(Duration::from_millis(250)));
            continue;
        }
        // A batch not yet full waits up to the flush interval: the spool is
        // read again only once enough events were appended to fill it.
        if let Some(since) = waiting_since {
            let appended = spool.appended.load(Ordering::Relaxed);
            if appended.saturating_sub(seen) < (s.batch - pending) as u64
                && since.elapsed() < s.flush_interval
            {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        }
        let (events, count, next) = spool.read(pos.0, pos.1, s.batch);
        if count == 0 {
            waiting_since = None;
            // Caught up: the batches' buffers go back to the system (the
            // allocator keeps an idle thread's freed pages otherwise).
            if !trimmed {
                sluice_core::heap::trim();
                trimmed = true;
            }
            if next != pos {
                // Past a finished segment: record it, so it is removed.
                if spool.commit(next.0, next.1, 0, 0).is_ok() {
                    pos = next;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if count < s.batch && waiting_since.is_none_or(|t| t.elapsed() < s.flush_interval) {
            waiting_since.get_or_insert(now);
            seen = spool.appended.load(Ordering::Relaxed);
            pending = count;
            continue;
        }
        waiting_since = None;
        trimmed = false;
        let bytes = events.len() as u64;
        match post(s, events) {
            Ok(()) => {
                if let Err(e) = spool.commit(next.0, next.1, count as u64, bytes) {
                    tracing::error!(error = %e, "cannot record audit delivery: events may be sent again");
                }
                pos = next;
                backoff = Duration::ZERO;
                if failing {
                    failing = false;
                    tracing::info!(url = %shown_url(&s.url), "the audit webhook takes events again");
                }
            }
            Err(e) => {
                if !failing {
                    failing = true;
                    tracing::warn!(error = %e, url = %shown_url(&s.url), "the audit webhook did not take a batch; retrying with backoff");
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
                next_attempt = Instant::now() + backoff;
            }
        }
    }
}

fn settings_mtime(dir: &ConfigDir) -> Option<SystemTime> {
    std::fs::metadata(dir.path().join(FILE))
        .and_then(|m| m.modified())
        .ok()
}

/// A batch's body: its lines (each ending in a newline, as spooled: an
/// event's JSON holds no raw newline), and what goes before and after
/// them. For a JSON array the newlines between events become commas.
fn body(format: Format, mut lines: Vec<u8>) -> (&'static [u8], Vec<u8>, &'static [u8]) {
    match format {
        Format::Ndjson => (b"", lines, b""),
        Format::Json => {
            if lines.last() == Some(&b'\n') {
                lines.pop();
            }
            let at: Vec<usize> = memchr::memchr_iter(b'\n', &lines).collect();
            for i in at {
                lines[i] = b',';
            }
            (b"[", lines, b"]")
        }
    }
}

/// POSTs one batch; Ok on a 2xx answer.
fn post(s: &Settings, events: Vec<u8>) -> Result<(), String> {
    let url = Url::parse(&s.url)?;
    let (before, lines, after) = body(s.format, events);
    let length = before.len() + lines.len() + after.len();
    let content_type = match s.format {
        Format::Json => "application/json",
        Format::Ndjson => "application/x-ndjson",
    };
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nUser-Agent: sluice/{}\r\nConnection: close\r\n",
        url.path,
        if url.host.contains(':') { format!("[{}]", url.host) } else { url.host.clone() },
        url.port,
        length,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(a) = &s.authorization {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    let mut head = head.into_bytes();
    head.extend_from_slice(before);
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", url.host))?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let answer = if url.tls {
        let config = client_config(s.ca_pem.as_deref())?;
        let name = sluice_s3::rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| format!("{}: {e}", url.host))?;
        let conn =
            sluice_s3::rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let mut stream = sluice_s3::rustls::StreamOwned::new(conn, tcp);
        exchange(&mut stream, &head, &lines, after)?
    } else {
        let mut tcp = tcp;
        exchange(&mut tcp, &head, &lines, after)?
    };
    let status = answer
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.trim().parse::<u16>().ok())
        .ok_or("the webhook's answer is not HTTP")?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("the webhook answered {status}"))
    }
}

/// Sends the request and reads the answer's status line.
fn exchange(
    stream: &mut (impl std::io::Read + std::io::Write),
    head: &[u8],
    body: &[u8],
    after: &[u8],
) -> Result<Vec<u8>, String> {
    stream.write_all(head).map_err(|e| format!("send: {e}"))?;
    stream.write_all(body).map_err(|e| format!("send: {e}"))?;
    stream.write_all(after).map_err(|e| format!("send: {e}"))?;
    stream.flush().map_err(|e| format!("send: {e}"))?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") && line.len() < 512 {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(format!("answer: {e}")),
        }
    }
    Ok(line)
}

fn client_config(ca_pem: Option<&str>) -> Result<Arc<sluice_s3::rustls::ClientConfig>, String> {
    use sluice_s3::rustls::pki_types::pem::PemObject as _;
    use sluice_s3::rustls::pki_types::CertificateDer;
    let pem = ca_pem.ok_or("an https:// webhook needs its CA (--ca-file)")?;
    let mut roots = sluice_s3::rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("the webhook CA: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("the webhook CA: {e}"))?;
    }
    let provider = Arc::new(sluice_s3::rustls::crypto::ring::default_provider());
    let config = sluice_s3::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Url::parse("http://127.0.0.1:8080/hook?x=1").unwrap(),
            Url {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/hook?x=1".into()
            }
        );
        assert_eq!(Url::parse("https://splunk.local").unwrap().port, 443);
        assert_eq!(Url::parse("http://[::1]:9/").unwrap().host, "::1");
        assert_eq!(Url::parse("http://[::1]/h").unwrap().port, 80);
        for bad in [
            "ftp://x",
            "http://",
            "http://a b/",
            "http://u:p@h/",
            "http://h:99999/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn batches() {
        let e = b"{\"a\":1}\n{\"b\":2}\n".to_vec();
        let whole = |(a, b, c): (&[u8], Vec<u8>, &[u8])| [a, &b[..], c].concat();
        assert_eq!(
            whole(body(Format::Json, e.clone())),
            b"[{\"a\":1},{\"b\":2}]"
        );
        assert_eq!(whole(body(Format::Ndjson, e)), b"{\"a\":1}\n{\"b\":2}\n");
    }
}
