//! sluice-bench: an S3 load generator whose benchmarks and flags follow MinIO
//! warp, built on the same thread-per-core monoio runtime as sluice.
//!
//! ```text
//! sluice-bench get|put|delete|list|stat|mixed|multipart --host H[,H...]
//!     --access-key K --secret-key S [--bucket B] [--obj.size 10MiB] [--obj.randsize]
//!     [--objects 2500] [--concurrent 20] [--duration 5m] [--autoterm]
//!     [--noprefix] [--prefix P] [--disable-sha256-payload] [--checksum CRC32C]
//!     [--part.size 5MiB] [--tls [--insecure | --cacert PEM]] [--region us-east-1]
//!     [--count N] [--cores N] [--noclear] [--server-pid PID] [--json] [--csv FILE]
//! ```
//!
//! Every benchmark but `put` and `multipart` first uploads `--objects`
//! objects (not measured); the measured phase then runs `--concurrent`
//! connections spread over `--cores` runtime threads until `--duration`
//! passes, `--count` operations were issued, `--autoterm` finds the
//! throughput stable, or (for `delete`) the objects run out. Everything the
//! benchmark made is deleted afterwards unless `--noclear`.
//!
//! GETs are verified: the CRC32C of every body received is compared with
//! that of the bytes put. With `--server-pid` the report adds the server's
//! CPU time and peak RSS over the measured phase, read from /proc, and the
//! CPU other processes used meanwhile.

mod client;
mod procfs;
mod stats;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::{Body, Conn, Keep, Request, Response, Signer};
use sluice_sigv4::{sha256_hex, uri_encode, Checksum, ChecksumAlgorithm, Credentials};
use stats::{Op, Record};

/// Distinct bodies: object n is a slice of the generated data starting at
/// `(n % VARIANTS) * STRIDE`, so objects differ without generating data per
/// request and each body's digests are computed once.
const VARIANTS: u64 = 32;
const STRIDE: u64 = 4099;

/// The benchmarks, as warp names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Bench {
    Get,
    Put,
    Delete,
    List,
    Stat,
    Mixed,
    Multipart,
}

#[derive(Clone, Debug)]
struct Options {
    bench: Bench,
    bench_name: String,
    hosts: Vec<String>,
    signer: Signer,
    bucket: String,
    obj_size: u64,
    randsize: bool,
    objects: usize,
    concurrent: usize,
    duration: Duration,
    autoterm: bool,
    autoterm_dur: Duration,
    autoterm_pct: f64,
    prefix: String,
    sign_payload: bool,
    checksum: Option<ChecksumAlgorithm>,
    part_size: u64,
    count: Option<u64>,
    cores: usize,
    noclear: bool,
    server_pid: Option<u32>,
    json: bool,
    csv: Option<String>,
    tls: bool,
    insecure: bool,
    cacert: Option<String>,
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "ki" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" | "mi" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" | "gi" => 1 << 30,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    let v = n * mult as f64;
    (v.is_finite() && v >= 0.0 && v < 2f64.powi(63)).then_some(v as u64)
}

fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(split);
        let n: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        total += n * match unit {
            "ms" => 0.001,
            "" | "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = tail;
    }
    Duration::try_from_secs_f64(total).ok()
}

fn random_prefix() -> String {
    let mut rng = Rng::seeded(0);
    (0..8)
        .map(|_| char::from(b'a' + (rng.next() % 26) as u8))
        .collect::<String>()
        + "/"
}

/// An S3 load generator whose benchmarks and flags follow MinIO warp.
#[derive(Debug, clap::Parser)]
#[command(name = "sluice-bench", version, about)]
struct Cli {
    /// The benchmark.
    #[arg(value_enum)]
    bench: Bench,
    /// Servers, HOST:PORT, comma-separated (requests go round robin).
    #[arg(long, default_value = "127.0.0.1:9000", value_delimiter = ',')]
    host: Vec<String>,
    /// Access key.
    #[arg(long)]
    access_key: String,
    /// Secret key.
    #[arg(long)]
    secret_key: String,
    /// Region to sign for.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Bucket (created if missing).
    #[arg(long, default_value = "sluice-bench")]
    bucket: String,
    /// Object size, e.g. 4KiB, 64MiB, 10MB.
    #[arg(long = "obj.size", default_value = "10MiB", value_parser = size_arg)]
    obj_size: u64,
    /// Random object sizes, uniform in 1..=obj.size.
    #[arg(long = "obj.randsize")]
    obj_randsize: bool,
    /// Objects uploaded before a get, stat, list, delete or mixed run.
    #[arg(long, default_value_t = 2500)]
    objects: usize,
    /// Connections, spread over --cores threads.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    concurrent: u64,
    /// How long the measured phase runs at most, e.g. 30s, 1m30s.
    #[arg(long, default_value = "5m", value_parser = duration_arg)]
    duration: Duration,
    /// Stop once throughput is stable.
    #[arg(long)]
    autoterm: bool,
    /// Window over which --autoterm judges stability.
    #[arg(long = "autoterm.dur", default_value = "10s", value_parser = duration_arg)]
    autoterm_dur: Duration,
    /// Largest change, in percent, that --autoterm takes for stable.
    #[arg(long = "autoterm.pct", default_value_t = 7.5)]
    autoterm_pct: f64,
    /// No random prefix for object names.
    #[arg(long)]
    noprefix: bool,
    /// Prefix for object names (default: a random one).
    #[arg(long)]
    prefix: Option<String>,
    /// Send UNSIGNED-PAYLOAD instead of the body's SHA-256.
    #[arg(long)]
    disable_sha256_payload: bool,
    /// Flexible checksum: CRC32, CRC32C, CRC64NVME, SHA1 or SHA256.
    #[arg(long, value_parser = checksum_arg)]
    checksum: Option<ChecksumAlgorithm>,
    /// Part size of multipart uploads.
    #[arg(long = "part.size", default_value = "5MiB", value_parser = size_arg)]
    part_size: u64,
    /// Stop after this many operations.
    #[arg(long)]
    count: Option<u64>,
    /// Runtime threads [default: the machine's cores].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    cores: Option<u64>,
    /// Keep the objects afterwards.
    #[arg(long)]
    noclear: bool,
    /// The server's process id: its CPU and peak memory are reported.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Every operation to this CSV file.
    #[arg(long)]
    csv: Option<String>,
    /// HTTPS (rustls).
    #[arg(long)]
    tls: bool,
    /// With --tls: accept any certificate.
    #[arg(long, requires = "tls")]
    insecure: bool,
    /// With --tls: trust these roots (PEM) [default: SSL_CERT_FILE or the system's].
    #[arg(long, requires = "tls")]
    cacert: Option<String>,
}

fn size_arg(text: &str) -> Result<u64, String> {
    parse_size(text).ok_or_else(|| format!("{text:?} is not a size like 4KiB"))
}

fn duration_arg(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| format!("{text:?} is not a duration like 30s"))
}

fn checksum_arg(text: &str) -> Result<ChecksumAlgorithm, String> {
    let name = text.to_ascii_uppercase();
    let name = name.trim_end_matches("-FO").trim_end_matches("-C");
    ChecksumAlgorithm::from_name(name.as_bytes())
        .ok_or_else(|| "expected CRC32, CRC32C, CRC64NVME, SHA1 or SHA256".to_owned())
}

/// Parses the command line (after the program name).
fn parse_args(args: impl Iterator<Item = String>) -> Result<Options, clap::Error> {
    use clap::Parser as _;
    let cli = Cli::try_parse_from(std::iter::once("sluice-bench".to_owned()).chain(args))?;
    let hosts: Vec<String> = cli
        .host
        .iter()
        .map(|h| {
            h.trim()
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned()
        })
        .filter(|h| !h.is_empty())
        .collect();
    let invalid = |m: &str| clap::Error::raw(clap::error::ErrorKind::ValueValidation, m);
    if hosts.is_empty() {
        return Err(invalid("--host takes HOST:PORT[,HOST:PORT...]\n"));
    }
    if cli.bench == Bench::Multipart && cli.obj_size == 0 {
        return Err(invalid("multipart needs --obj.size above 0\n"));
    }
    if cli.part_size == 0 {
        return Err(invalid("--part.size must be above 0\n"));
    }
    let prefix = match (cli.prefix, cli.noprefix) {
        (_, true) => String::new(),
        (Some(p), false) => format!("{}/", p.trim_end_matches('/')),
        (None, false) => random_prefix(),
    };
    Ok(Options {
        bench: cli.bench,
        bench_name: format!("{:?}", cli.bench).to_ascii_lowercase(),
        hosts,
        signer: Signer {
            creds: Credentials::new(&cli.access_key, &cli.secret_key),
            region: cli.region,
        },
        bucket: cli.bucket,
        obj_size: cli.obj_size,
        randsize: cli.obj_randsize,
        objects: cli.objects,
        concurrent: usize::try_from(cli.concurrent).unwrap_or(usize::MAX),
        duration: cli.duration,
        autoterm: cli.autoterm,
        autoterm_dur: cli.autoterm_dur,
        autoterm_pct: cli.autoterm_pct,
        prefix,
        sign_payload: !cli.disable_sha256_payload,
        checksum: cli.checksum,
        part_size: cli.part_size,
        count: cli.count,
        cores: cli.cores.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |c| usize::try_from(c).unwrap_or(1),
        ),
        noclear: cli.noclear,
        server_pid: cli.server_pid,
        json: cli.json,
        csv: cli.csv,
        tls: cli.tls,
        insecure: cli.insecure,
        cacert: cli.cacert,
    })
}

/// xorshift64*: enough randomness for picking objects and sizes.
struct Rng(u64);

impl Rng {
    fn seeded(salt: u64) -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng((t ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// An object the benchmark put.
#[derive(Clone, Debug)]
struct Obj {
    key: String,
    size: u64,
    variant: u64,
    crc: u32,
}

/// What a body is sent with, computed once per (variant, offset, size).
struct Facts {
    sha256: String,
    checksum: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// Upload `--objects` objects for the benchmark to use.
    Prepare,
    /// The measured benchmark.
    Measure,
    /// Delete what the benchmark made.
    Cleanup,
}

/// One phase's shared state.
struct Phase {
    work: Work,
    o: Arc<Options>,
    data: &'static [u8],
    t0: Instant,
    stop: AtomicBool,
    issued: AtomicU64,
    next: AtomicUsize,
    key_seq: Arc<AtomicU64>,
    /// Objects to read, stat, list or delete.
    objs: Vec<Obj>,
    ops: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    generated: AtomicU64,
    /// The first few distinct failures, for the progress output.
    first_errors: Mutex<Vec<String>>,
    tls: Option<monoio_rustls::TlsConnector>,
}

/// What one thread hands back.
#[derive(Default)]
struct Outcome {
    records: Vec<Record>,
    /// Objects that exist after the phase (for the next phase or cleanup).
    made: Vec<Obj>,
}

/// Per-thread state shared by its tasks.
struct ThreadCtx {
    phase: Arc<Phase>,
    thread: u16,
    facts: RefCell<HashMap<(u64, u64, u64), Rc<Facts>>>,
    /// For `mixed`: the objects this thread may read and delete.
    pool: RefCell<Vec<Obj>>,
    /// For `mixed`: keys of the pool being read now, which a DELETE must
    /// not take from under the reader.
    reading: RefCell<HashMap<String, u32>>,
}

impl ThreadCtx {
    fn now(&self) -> u64 {
        self.phase.t0.elapsed().as_nanos() as u64
    }

    fn body(&self, variant: u64, offset: u64, len: u64) -> &'static [u8] {
        let start = (variant * STRIDE + offset) as usize;
        &self.phase.data[start..start + len as usize]
    }

    fn facts(&self, variant: u64, offset: u64, len: u64) -> Rc<Facts> {
        let key = (variant, offset, len);
        if let Some(f) = self.facts.borrow().get(&key) {
            return Rc::clone(f);
        }
        let body = self.body(variant, offset, len);
        let o = &self.phase.o;
        let facts = Rc::new(Facts {
            sha256: if o.sign_payload {
                String::from_utf8_lossy(&sha256_hex(body)).into_owned()
            } else {
                "UNSIGNED-PAYLOAD".into()
            },
            checksum: o.checksum.map(|alg| {
                let mut c = Checksum::new(alg);
                c.update(body);
                c.finish().to_base64()
            }),
        });
        // Random sizes would fill the cache with single-use entries.
        if !o.randsize {
            self.facts.borrow_mut().insert(key, Rc::clone(&facts));
        }
        facts
    }

    fn record(
        &self,
        op: Op,
        start: u64,
        resp: Option<&Response>,
        bytes: u64,
        objects: u64,
        error: Option<String>,
    ) -> Record {
        let end = self.now();
        let p = &self.phase;
        if let Some(e) = &error {
            p.errors.fetch_add(1, Ordering::Relaxed);
            let mut first = p.first_errors.lock().unwrap_or_else(|e| e.into_inner());
            if first.len() < 5 && !first.contains(e) {
                first.push(e.clone());
            }
        } else {
            p.ops.fetch_add(1, Ordering::Relaxed);
            p.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        Record {
            op,
            thread: self.thread,
            start,
            end,
            first_byte: resp
                .and_then(|r| r.first_byte)
                .map(|f| f.duration_since(p.t0).as_nanos() as u64),
            bytes,
            objects,
            error,
        }
    }

    fn path(&self, key: &str) -> String {
        format!(
            "/{}/{}",
            uri_encode(&self.phase.o.bucket, false),
            uri_encode(key, true)
        )
    }

    fn new_obj(&self, rng: &mut Rng) -> Obj {
        let o = &self.phase.o;
        let n = self.phase.key_seq.fetch_add(1, Ordering::Relaxed);
        let size = if o.randsize {
            1 + rng.below(o.obj_size.max(1))
        } else {
            o.obj_size
        };
        let variant = n % VARIANTS;
        Obj {
            key: format!("{}{n:08}.obj", o.prefix),
            size,
            variant,
            // What GETs are checked against (CRC32C runs at tens of GiB/s:
            // not worth a cache).
            crc: {
                let mut crc = Checksum::new(ChecksumAlgorithm::Crc32c);
                crc.update(self.body(variant, 0, size));
                client::crc_value(crc)
            },
        }
    }

    async fn put(&self, conn: &mut Conn, rng: &mut Rng) -> (Record, Option<Obj>) {
        let obj = self.new_obj(rng);
        let facts = self.facts(obj.variant, 0, obj.size);
        let mut extra = Vec::new();
        if let (Some(alg), Some(value)) = (self.phase.o.checksum, &facts.checksum) {
            extra.push((alg.header_name(), value.clone()));
        }
        let path = self.path(&obj.key);
        let req = Request {
            method: "PUT",
            path: &path,
            query: "",
            body: Body::Static(self.body(obj.variant, 0, obj.size)),
            payload_hash: Some(&facts.sha256),
            extra: &extra,
        };
        let start = self.now();
        match conn.send(&req, &self.phase.o.signer, Keep::Body).await {
            Ok(r) if r.status == 200 => (
                self.record(Op::Put, start, Some(&r), obj.size, 1, None),
                Some(obj),
            ),
            Ok(r) => (
                self.record(Op::Put, start, Some(&r), 0, 1, Some(r.error_code())),
                None,
            ),
            Err(e) => (self.record(Op::Put, start, None, 0, 1, Some(e)), None),
        }
    }

    async fn get(&self, conn: &mut Conn, obj: &Obj) -> Record {
        let path = self.path(&obj.key);
        let req = Request::bare("GET", &path, "");
        let start = self.now();
        match conn.send(&req, &self.phase.o.signer, Keep::Crc).await {
            Ok(r) if r.status == 200 => {
                let error = if r.len != obj.size {
                    Some(format!(
                        "VerifyFailed: {} bytes, expected {}",
                        r.len, obj.size
                    ))
                } else if r.generated {
                    self.phase.generated.fetch_add(1, Ordering::Relaxed);
                    None
                } else if r.crc32c != Some(obj.crc) {
                    Some("VerifyFailed: CRC32C differs from the bytes put".into())
                } else {
                    None
                };
                let bytes = if error.is_none() { r.len } else { 0 };
                self.record(Op::Get, start, Some(&r), bytes, 1, error)
            }
            Ok(r) => self.record(Op::Get, start, Some(&r), 0, 1, Some(r.error_code())),
            Err(e) => self.record(Op::Get, start, None, 0, 1, Some(e)),
        }
    }

    async fn stat(&self, conn: &mut Conn, obj: &Obj) -> Record {
        let path = self.path(&obj.key);
        let req = Request::bare("HEAD", &path, "");
        let start = self.now();
        match conn.send(&req, &self.phase.o.signer, Keep::Body).await {
            Ok(r) if r.status == 200 && r.content_length == Some(obj.size) => {
                self.record(Op::Stat, start, Some(&r), 0, 1, None)
            }
            Ok(r) if r.status == 200 => self.record(
                Op::Stat,
                start,
                Some(&r),
                0,
                1,
                Some(format!(
                    "VerifyFailed: size {:?}, expected {}",
                    r.content_length, obj.size
                )),
            ),
            Ok(r) => self.record(
                Op::Stat,
                start,
                Some(&r),
                0,
                1,
                Some(format!("HTTP {}", r.status)),
            ),
            Err(e) => self.record(Op::Stat, start, None, 0, 1, Some(e)),
        }
    }

    async fn delete(&self, conn: &mut Conn, obj: &Obj) -> Record {
        let path = self.path(&obj.key);
        let req = Request::bare("DELETE", &path, "");
        let start = self.now();
        match conn.send(&req, &self.phase.o.signer, Keep::Body).await {
            Ok(r) if r.status == 204 || r.status == 200 => {
                self.record(Op::Delete, start, Some(&r), 0, 1, None)
            }
            Ok(r) => self.record(Op::Delete, start, Some(&r), 0, 1, Some(r.error_code())),
            Err(e) => self.record(Op::Delete, start, None, 0, 1, Some(e)),
        }
    }

    /// One page of ListObjectsV2 under the benchmark's prefix; `token`
    /// carries the continuation between calls and is cleared at the end.
    async fn list_page(&self, conn: &mut Conn, token: &mut Option<String>) -> Record {
        let o = &self.phase.o;
        let mut query = String::new();
        if let Some(t) = token.as_deref() {
            query.push_str("continuation-token=");
            query.push_str(&uri_encode(t, false));
            query.push('&');
        }
        query.push_str("list-type=2&max-keys=1000");
        if !o.prefix.is_empty() {
            query.push_str("&prefix=");
            query.push_str(&uri_encode(&o.prefix, false));
        }
        let path = format!("/{}", uri_encode(&o.bucket, false));
        let req = Request::bare("GET", &path, &query);
        let start = self.now();
        match conn.send(&req, &o.signer, Keep::Body).await {
            Ok(r) if r.status == 200 => {
                let text = String::from_utf8_lossy(&r.body);
                let keys = text.matches("<Key>").count() as u64;
                *token = if r.element("IsTruncated").as_deref() == Some("true") {
                    r.element("NextContinuationToken")
                } else {
                    None
                };
                self.record(Op::List, start, Some(&r), 0, keys, None)
            }
            Ok(r) => {
                *token = None;
                self.record(Op::List, start, Some(&r), 0, 0, Some(r.error_code()))
            }
            Err(e) => {
                *token = None;
                self.record(Op::List, start, None, 0, 0, Some(e))
            }
        }
    }

    /// A whole multipart upload of one new object: create, parts of
    /// `--part.size` in order on this connection, complete.
    async fn multipart(&self, conn: &mut Conn, rng: &mut Rng) -> (Record, Option<Obj>) {
        let start = self.now();
        let obj = self.new_obj(rng);
        match self.try_multipart(conn, &obj).await {
            Ok(()) => (
                self.record(Op::Multipart, start, None, obj.size, 1, None),
                Some(obj),
            ),
            Err(e) => (self.record(Op::Multipart, start, None, 0, 1, Some(e)), None),
        }
    }

    async fn try_multipart(&self, conn: &mut Conn, obj: &Obj) -> Result<(), String> {
        let o = &self.phase.o;
        let path = self.path(&obj.key);
        let req = Request::bare("POST", &path, "uploads=");
        let r = conn.send(&req, &o.signer, Keep::Body).await?;
        let upload = match r.element("UploadId") {
            Some(id) if r.status == 200 => id,
            _ => return Err(r.error_code()),
        };
        let upload_q = uri_encode(&upload, false);
        let result = self.upload_parts(conn, obj, &path, &upload_q).await;
        if result.is_err() {
            // Leave no parts behind on the server.
            let query = format!("uploadId={upload_q}");
            let req = Request::bare("DELETE", &path, &query);
            let _ = conn.send(&req, &o.signer, Keep::Body).await;
        }
        result
    }

    /// The parts and the completion of a multipart upload.
    async fn upload_parts(
        &self,
        conn: &mut Conn,
        obj: &Obj,
        path: &str,
        upload_q: &str,
    ) -> Result<(), String> {
        let o = &self.phase.o;
        let mut complete = String::from("<CompleteMultipartUpload>");
        let mut offset = 0;
        let mut number = 1;
        while offset < obj.size {
            let len = o.part_size.min(obj.size - offset);
            let facts = self.facts(obj.variant, offset, len);
            let query = format!("partNumber={number}&uploadId={upload_q}");
            // Each part with its own checksum, as boto3 sends it.
            let mut extra = Vec::new();
            if let (Some(alg), Some(value)) = (o.checksum, &facts.checksum) {
                extra.push((alg.header_name(), value.clone()));
            }
            let req = Request {
                method: "PUT",
                path,
                query: &query,
                body: Body::Static(self.body(obj.variant, offset, len)),
                payload_hash: Some(&facts.sha256),
                extra: &extra,
            };
            let r = conn.send(&req, &o.signer, Keep::Body).await?;
            let etag = match r.etag {
                Some(e) if r.status == 200 => e,
                _ => return Err(r.error_code()),
            };
            complete.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
                etag.replace('&', "&amp;").replace('"', "&quot;")
            ));
            offset += len;
            number += 1;
        }
        complete.push_str("</CompleteMultipartUpload>");
        let body = complete.into_bytes();
        let hash = String::from_utf8_lossy(&sha256_hex(&body)).into_owned();
        let query = format!("uploadId={upload_q}");
        let req = Request {
            method: "POST",
            path,
            query: &query,
            body: Body::Owned(body),
            payload_hash: Some(&hash),
            extra: &[],
        };
        let r = conn.send(&req, &o.signer, Keep::Body).await?;
        // S3 may answer 200 with an error document.
        if r.status != 200 || r.element("Code").is_some() {
            return Err(r.error_code());
        }
        Ok(())
    }
}

/// One connection's loop.
async fn task(ctx: Rc<ThreadCtx>, host: String, salt: u64) -> Outcome {
    let mut conn = Conn::new(host, ctx.phase.tls.clone());
    let mut rng = Rng::seeded(salt);
    let mut out = Outcome::default();
    let p = Arc::clone(&ctx.phase);
    let o = Arc::clone(&p.o);
    let mut token = None;
    while !p.stop.load(Ordering::Relaxed) {
        match p.work {
            Work::Prepare => {
                if p.next.fetch_add(1, Ordering::Relaxed) >= o.objects {
                    break;
                }
                let (rec, obj) = ctx.put(&mut conn, &mut rng).await;
                if let Some(e) = rec.error {
                    // Preparing must succeed for the benchmark to mean anything.
                    p.first_errors
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("preparing: {e}"));
                    p.stop.store(true, Ordering::Relaxed);
                }
                out.made.extend(obj);
            }
            Work::Cleanup => {
                let i = p.next.fetch_add(1, Ordering::Relaxed);
                let Some(obj) = p.objs.get(i) else { break };
                ctx.delete(&mut conn, obj).await;
            }
            Work::Measure => {
                if let Some(limit) = o.count {
                    if p.issued.fetch_add(1, Ordering::Relaxed) >= limit {
                        break;
                    }
                }
                let rec = match o.bench {
                    Bench::Put => {
                        let (rec, obj) = ctx.put(&mut conn, &mut rng).await;
                        out.made.extend(obj);
                        rec
                    }
                    Bench::Multipart => {
                        let (rec, obj) = ctx.multipart(&mut conn, &mut rng).await;
                        out.made.extend(obj);
                        rec
                    }
                    Bench::Get | Bench::Stat => {
                        let Some(obj) = p.objs.get(rng.below(p.objs.len() as u64) as usize) else {
                            break;
                        };
                        if o.bench == Bench::Get {
                            ctx.get(&mut conn, obj).await
                        } else {
                            ctx.stat(&mut conn, obj).await
                        }
                    }
                    Bench::Delete => {
                        let i = p.next.fetch_add(1, Ordering::Relaxed);
                        let Some(obj) = p.objs.get(i) else { break };
                        let rec = ctx.delete(&mut conn, obj).await;
                        if rec.error.is_some() {
                            // Still there: cleaned up afterwards.
                            out.made.push(obj.clone());
                        }
                        rec
                    }
                    Bench::List => ctx.list_page(&mut conn, &mut token).await,
                    Bench::Mixed => mixed_step(&ctx, &mut conn, &mut rng).await,
                };
                out.records.push(rec);
            }
        }
    }
    out
}

/// One operation of `mixed`: 45% GET, 30% STAT, 15% PUT, 10% DELETE over
/// this thread's pool of objects.
async fn mixed_step(ctx: &ThreadCtx, conn: &mut Conn, rng: &mut Rng) -> Record {
    let roll = rng.below(100);
    let picked = {
        let pool = ctx.pool.borrow();
        (!pool.is_empty()).then(|| rng.below(pool.len() as u64) as usize)
    };
    let Some(i) = picked.filter(|_| roll < 85) else {
        let (rec, obj) = ctx.put(conn, rng).await;
        ctx.pool.borrow_mut().extend(obj);
        return rec;
    };
    if roll < 75 {
        let obj = ctx.pool.borrow()[i].clone();
        *ctx.reading.borrow_mut().entry(obj.key.clone()).or_insert(0) += 1;
        let rec = if roll < 45 {
            ctx.get(conn, &obj).await
        } else {
            ctx.stat(conn, &obj).await
        };
        let mut reading = ctx.reading.borrow_mut();
        if let Some(n) = reading.get_mut(&obj.key) {
            *n -= 1;
            if *n == 0 {
                reading.remove(&obj.key);
            }
        }
        rec
    } else {
        // An object nobody is reading; a few tries, else a PUT instead.
        let free = (0..4).find_map(|attempt| {
            let pool = ctx.pool.borrow();
            let j = if attempt == 0 {
                i
            } else {
                rng.below(pool.len() as u64) as usize
            };
            (!ctx.reading.borrow().contains_key(&pool[j].key)).then_some(j)
        });
        let Some(j) = free else {
            let (rec, obj) = ctx.put(conn, rng).await;
            ctx.pool.borrow_mut().extend(obj);
            return rec;
        };
        let obj = ctx.pool.borrow_mut().swap_remove(j);
        let rec = ctx.delete(conn, &obj).await;
        if rec.error.is_some() {
            ctx.pool.borrow_mut().push(obj);
        }
        rec
    }
}

/// Runs `phase` over `--cores` threads with `--concurrent` connections.
fn run_phase(
    phase: &Arc<Phase>,
    pools: Vec<Vec<Obj>>,
    label: &str,
) -> Result<Vec<Outcome>, String> {
    let o = &phase.o;
    let threads = o.cores.min(o.concurrent).max(1);
    let mut pools = pools.into_iter();
    let mut handles = Vec::new();
    for t in 0..threads {
        let tasks = o.concurrent / threads + usize::from(t < o.concurrent % threads);
        let phase = Arc::clone(phase);
        let pool = pools.next().unwrap_or_default();
        let handle = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || -> Result<Vec<Outcome>, String> {
                let ctx = Rc::new(ThreadCtx {
                    phase: Arc::clone(&phase),
                    thread: t as u16,
                    facts: RefCell::new(HashMap::new()),
                    pool: RefCell::new(pool),
                    reading: RefCell::new(HashMap::new()),
                });
                let hosts = phase.o.hosts.clone();
                sluice_core::block_on(sluice_core::Driver::Auto, async move {
                    let mut joins = Vec::new();
                    for k in 0..tasks {
                        let n = t + k * threads;
                        let host = hosts[n % hosts.len()].clone();
                        joins.push(monoio::spawn(task(Rc::clone(&ctx), host, n as u64)));
                    }
                    let mut outs = Vec::new();
                    for j in joins {
                        outs.push(j.await);
                    }
                    let mut pool = ctx.pool.borrow_mut();
                    if !pool.is_empty() {
                        outs.push(Outcome {
                            records: Vec::new(),
                            made: std::mem::take(&mut *pool),
                        });
                    }
                    outs
                })
                .map_err(|e| format!("cannot start a runtime: {e}"))
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        handles.push(handle);
    }
    watch(phase, &handles, label);
    let mut outs = Vec::new();
    for h in handles {
        outs.extend(
            h.join()
                .map_err(|_| "a client thread panicked".to_owned())??,
        );
    }
    if phase.stop.load(Ordering::Relaxed) && phase.work == Work::Prepare {
        let errors = phase.first_errors.lock().unwrap_or_else(|e| e.into_inner());
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
    }
    Ok(outs)
}

/// Prints progress every second and stops the phase at its duration or
/// when `--autoterm` finds the throughput stable.
fn watch<T>(phase: &Phase, handles: &[std::thread::JoinHandle<T>], label: &str) {
    let o = &phase.o;
    let tty = std::io::stderr().is_terminal();
    let mut per_second: Vec<f64> = Vec::new();
    let (mut last_ops, mut last_bytes) = (0, 0);
    let mut next_tick = Duration::from_secs(1);
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = phase.t0.elapsed();
        if phase.work == Work::Measure && elapsed >= o.duration {
            phase.stop.store(true, Ordering::Relaxed);
        }
        if elapsed < next_tick {
            continue;
        }
        next_tick += Duration::from_secs(1);
        let ops = phase.ops.load(Ordering::Relaxed);
        let bytes = phase.bytes.load(Ordering::Relaxed);
        let errors = phase.errors.load(Ordering::Relaxed);
        let (d_ops, d_bytes) = (ops - last_ops, bytes - last_bytes);
        (last_ops, last_bytes) = (ops, bytes);
        per_second.push(if d_bytes > 0 {
            d_bytes as f64
        } else {
            d_ops as f64
        });
        let line = format!(
            "{label}: {:.0}s, {ops} ops, {:.1} MiB/s, {d_ops} ops/s, {errors} errors",
            elapsed.as_secs_f64(),
            d_bytes as f64 / (1 << 20) as f64
        );
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r{line}    ")
        } else {
            writeln!(err, "{line}")
        };
        let window = o.autoterm_dur.as_secs().max(2) as usize;
        if phase.work == Work::Measure && o.autoterm && per_second.len() >= window {
            let last = &per_second[per_second.len() - window..];
            let mean = last.iter().sum::<f64>() / window as f64;
            let limit = mean * o.autoterm_pct / 100.0;
            if mean > 0.0 && last.iter().all(|v| (v - mean).abs() <= limit) {
                let _ = writeln!(
                    err,
                    "\nthroughput stable for {window}s: stopping (--autoterm)"
                );
                phase.stop.store(true, Ordering::Relaxed);
            }
        }
    }
    if tty {
        let _ = writeln!(std::io::stderr());
    }
}

fn new_phase(
    o: &Arc<Options>,
    work: Work,
    data: &'static [u8],
    seq: &Arc<AtomicU64>,
    objs: Vec<Obj>,
    tls: &Option<monoio_rustls::TlsConnector>,
) -> Arc<Phase> {
    Arc::new(Phase {
        work,
        o: Arc::clone(o),
        data,
        t0: Instant::now(),
        stop: AtomicBool::new(false),
        issued: AtomicU64::new(0),
        next: AtomicUsize::new(0),
        key_seq: Arc::clone(seq),
        objs,
        ops: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        generated: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
        tls: tls.clone(),
    })
}

/// Creates the bucket (an existing one of ours is fine).
fn create_bucket(o: &Options, tls: &Option<monoio_rustls::TlsConnector>) -> Result<(), String> {
    let (o, tls) = (o.clone(), tls.clone());
    sluice_core::block_on(sluice_core::Driver::Auto, async move {
        let mut conn = Conn::new(o.hosts[0].clone(), tls);
        let path = format!("/{}", uri_encode(&o.bucket, false));
        let req = Request::bare("PUT", &path, "");
        let r = conn.send(&req, &o.signer, Keep::Body).await?;
        match r.status {
            200 => Ok(()),
            // Servers differ on what an existing bucket of ours is called.
            409 if matches!(
                r.error_code().as_str(),
                "BucketAlreadyOwnedByYou" | "BucketAlreadyExists"
            ) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "cannot create bucket {}: {}",
                o.bucket,
                r.error_code()
            )),
        }
    })
    .map_err(|e| format!("cannot start a runtime: {e}"))?
}

fn generate_data(len: u64) -> &'static [u8] {
    let mut rng = Rng::seeded(7);
    let mut data = Vec::with_capacity(len as usize + 8);
    while (data.len() as u64) < len {
        data.extend_from_slice(&rng.next().to_le_bytes());
    }
    data.truncate(len as usize);
    // The data lives as long as the program; requests borrow it while in
    // flight on the runtimes.
    Box::leak(data.into_boxed_slice())
}

fn run(o: Options) -> Result<bool, String> {
    let o = Arc::new(o);
    let tls = if o.tls {
        Some(client::tls_connector(o.insecure, o.cacert.as_deref())?)
    } else {
        None
    };
    create_bucket(&o, &tls)?;
    let data = generate_data(o.obj_size + VARIANTS * STRIDE);
    let seq = Arc::new(AtomicU64::new(0));
    let needs_objects = !matches!(o.bench, Bench::Put | Bench::Multipart);
    let mut objs = Vec::new();
    if needs_objects && o.objects > 0 {
        let prep = new_phase(&o, Work::Prepare, data, &seq, Vec::new(), &tls);
        let outs = run_phase(&prep, Vec::new(), "preparing")?;
        objs = outs.into_iter().flat_map(|x| x.made).collect();
        eprintln!(
            "prepared {} objects of {} bytes{}",
            objs.len(),
            o.obj_size,
            if o.randsize { " at most" } else { "" }
        );
    }
    // `mixed` gives each thread its own share of the objects.
    let threads = o.cores.min(o.concurrent).max(1);
    let mut pools = vec![Vec::new(); threads];
    if o.bench == Bench::Mixed {
        for (i, obj) in std::mem::take(&mut objs).into_iter().enumerate() {
            pools[i % threads].push(obj);
        }
    }
    let before = procfs::begin(o.server_pid);
    let phase = new_phase(&o, Work::Measure, data, &seq, objs, &tls);
    let outs = run_phase(&phase, pools, &o.bench_name)?;
    let cost = procfs::end(&before, o.server_pid);
    let seconds = phase.t0.elapsed().as_secs_f64().min(cost.seconds.max(1e-9));
    let mut records = Vec::new();
    let mut left = Vec::new();
    for out in outs {
        records.extend(out.records);
        left.extend(out.made);
    }
    let generated = phase.generated.load(Ordering::Relaxed);
    let summaries = stats::summarize(&records, seconds);
    if o.json {
        println!(
            "{}",
            stats::json(&o.bench_name, &summaries, &cost, o.concurrent, generated)
        );
    } else {
        print!(
            "{}",
            stats::text(&summaries, &cost, o.concurrent, generated)
        );
    }
    if let Some(path) = &o.csv {
        std::fs::write(path, stats::csv(&records)).map_err(|e| format!("{path}: {e}"))?;
    }
    // What still exists: the prepared objects nobody deleted, and new ones.
    let phase_next = phase.next.load(Ordering::Relaxed);
    let Phase { objs, .. } = Arc::try_unwrap(phase).map_err(|_| "phase still shared")?;
    if o.bench == Bench::Delete {
        // Those the run did not reach (it stopped at its duration or count).
        let reached = phase_next.min(objs.len());
        left.extend(objs.into_iter().skip(reached));
    } else {
        left.extend(objs);
    }
    if !o.noclear && !left.is_empty() {
        let clean = new_phase(&o, Work::Cleanup, data, &seq, left, &tls);
        run_phase(&clean, Vec::new(), "cleaning up")?;
    }
    let verify_failed = records.iter().any(|r| {
        r.error
            .as_deref()
            .is_some_and(|e| e.starts_with("VerifyFailed"))
    });
    Ok(!verify_failed)
}

fn main() {
    let o = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        // --help and --version print on stdout and exit 0; errors exit 2.
        Err(e) => e.exit(),
    };
    match run(o) {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("sluice-bench: data read back differed from what was written");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("sluice-bench: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> impl Iterator<Item = String> + '_ {
        s.split_whitespace().map(str::to_owned)
    }

    #[test]
    fn warp_style_flags() {
        let o = parse_args(args(
            "get --host 127.0.0.1:1,http://127.0.0.1:2/ --access-key a --secret-key=b --obj.size 4KiB --objects=50 --concurrent 64 --duration 1m30s --autoterm --noprefix --disable-sha256-payload --checksum crc32c --part.size 8MiB",
        ))
        .unwrap();
        assert_eq!(o.bench, Bench::Get);
        assert_eq!(o.hosts, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(o.obj_size, 4096);
        assert_eq!(o.objects, 50);
        assert_eq!(o.concurrent, 64);
        assert_eq!(o.duration, Duration::from_secs(90));
        assert!(o.autoterm && !o.sign_payload);
        assert_eq!(o.prefix, "");
        assert_eq!(o.checksum, Some(ChecksumAlgorithm::Crc32c));
        assert_eq!(o.part_size, 8 << 20);
        let o = parse_args(args("put --access-key a --secret-key b")).unwrap();
        assert_eq!(o.prefix.len(), 9);
        assert!(o.prefix.ends_with('/'));
        assert!(parse_args(args("get --access-key a")).is_err());
        assert!(parse_args(args("warp --access-key a --secret-key b")).is_err());
        assert!(parse_args(args("get --access-key a --secret-key b --obj.size 4QB")).is_err());
        let o = parse_args(args("get --access-key a --secret-key b --tls --insecure")).unwrap();
        assert!(o.tls && o.insecure);
        assert!(parse_args(args("get --access-key a --secret-key b --insecure")).is_err());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("1.5KiB"), Some(1536));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("5x"), None);
    }
}
