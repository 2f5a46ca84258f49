//! `sluice`: the S3 server binary.
//!
//! `sluice serve [--root DIR] [--listen ADDR] [--cores LIST] [--domain NAME]
//! [--region NAME]` serves the directory `--root` (default `./data`, created)
//! over S3 on `--listen` (default 127.0.0.1:9000). On first start it creates
//! a root access key and secret under `<root>/.sluice/config` (mode 0600),
//! later starts reuse them; both are printed with a ready aws-cli line.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use sluice_core::{Driver, Store, StoreOptions};
use sluice_s3::{Credentials, ServiceConfig, ThreadContext};

struct Args {
    root: PathBuf,
    listen: String,
    cores: Option<Vec<usize>>,
    domain: Option<String>,
    region: String,
    header_timeout: Duration,
    idle_timeout: Duration,
}

const USAGE: &str = "usage: sluice serve [--root DIR] [--listen ADDR] [--cores LIST] [--domain NAME] [--region NAME] [--header-timeout SECS] [--idle-timeout SECS]";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("serve") => {}
        Some("--help" | "-h") | None => return Err(USAGE.to_owned()),
        Some(other) => return Err(format!("unknown command {other:?}\n{USAGE}")),
    }
    let mut out = Args {
        root: PathBuf::from("data"),
        listen: "127.0.0.1:9000".into(),
        cores: None,
        domain: None,
        region: "us-east-1".into(),
        header_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(120),
    };
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--root" => out.root = PathBuf::from(value()?),
            "--listen" => out.listen = value()?,
            "--cores" => {
                let cores = sluice_core::parse_cpu_list(&value()?);
                if cores.is_empty() {
                    return Err("--cores needs a list such as 0-3,8".into());
                }
                out.cores = Some(cores);
            }
            "--domain" => out.domain = Some(value()?),
            "--region" => out.region = value()?,
            "--header-timeout" | "--idle-timeout" => {
                let secs: f64 = value()?
                    .parse()
                    .map_err(|_| format!("{flag} takes seconds"))?;
                let d = Duration::from_secs_f64(secs.clamp(0.01, 86_400.0));
                if flag == "--header-timeout" {
                    out.header_timeout = d;
                } else {
                    out.idle_timeout = d;
                }
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(out)
}

/// Random characters from `alphabet`.
fn random_text(len: usize, alphabet: &[u8]) -> std::io::Result<String> {
    let mut bytes = vec![0u8; len];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())?;
    Ok(bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect())
}

/// The root credentials: read, or created on first start (mode 0600).
fn root_credentials(root: &Path) -> std::io::Result<(String, String)> {
    let dir = root.join(".sluice").join("config");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("root-credentials");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut lines = text.lines();
        if let (Some(a), Some(s)) = (lines.next(), lines.next()) {
            return Ok((a.trim().to_owned(), s.trim().to_owned()));
        }
    }
    let access = format!(
        "SLUICE{}",
        random_text(14, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")?
    );
    let secret = random_text(
        40,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    )?;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = dir.join("root-credentials.new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    writeln!(f, "{access}\n{secret}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok((access, secret))
}

fn run(args: Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.root)
        .map_err(|e| format!("cannot create {}: {e}", args.root.display()))?;
    let store = Store::open(&args.root, StoreOptions::default())
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let (access, secret) = root_credentials(&args.root)
        .map_err(|e| format!("cannot read or create credentials: {e}"))?;
    let config = ServiceConfig {
        region: args.region.clone(),
        domain: args.domain.clone(),
        credentials: Credentials(vec![(access.clone(), secret.clone())]),
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        ..ServiceConfig::default()
    };
    let cores = sluice_core::pick_cores(&args.root, args.cores.as_deref());
    let mut listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    let mut threads = Vec::new();
    for (index, &core) in cores.iter().enumerate() {
        let (tx, rx) = mpsc::channel();
        let (store, config) = (store.clone(), config.clone());
        let addr = listen;
        let handle = std::thread::Builder::new()
            .name(format!("sluice-{index}"))
            .spawn(move || {
                let _ = sluice_core::pin_to(core);
                let serve = async move {
                    let opts = monoio::net::ListenerOpts::new()
                        .reuse_port(true)
                        .reuse_addr(true)
                        .backlog(1024);
                    let listener = match monoio::net::TcpListener::bind_with_config(addr, &opts) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = tx.send(listener.local_addr().map_err(|e| e.to_string()));
                    sluice_s3::serve(listener, ThreadContext::new(store, config, index)).await;
                };
                sluice_core::block_on(Driver::Auto, serve)
            })
            .map_err(|e| e.to_string())?;
        // Threads bind one after another: the first learns the port when
        // port 0 was asked for, the others share it (SO_REUSEPORT).
        listen = rx
            .recv()
            .map_err(|_| "a server thread died at start".to_owned())??;
        threads.push(handle);
    }
    // SIGTERM or SIGINT: stop accepting, let requests in flight finish (at
    // most 30 s), close idle connections, exit.
    let signal = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&signal))
            .map_err(|e| format!("cannot handle signals: {e}"))?;
    }
    println!(
        "sluice: serving {} on http://{listen} with {} thread(s) (O_DIRECT: {})",
        args.root.display(),
        cores.len(),
        store.direct_io()
    );
    println!("  access key: {access}");
    println!("  secret key: {secret}");
    println!("  try: AWS_ACCESS_KEY_ID={access} AWS_SECRET_ACCESS_KEY={secret} aws --endpoint-url http://{listen} s3 ls");
    let _ = std::io::stdout().flush();
    while !signal.load(Ordering::Relaxed) {
        if threads.iter().any(std::thread::JoinHandle::is_finished) {
            return Err("a server thread stopped".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    config.draining.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    while config.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "sluice: stopped ({} connection(s) cut at the deadline)",
        config.active.load(Ordering::SeqCst)
    );
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}
