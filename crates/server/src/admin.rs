//! The admin commands, in the order a cluster is set up:
//! `sluice cluster create` -> `sluice bucket create` -> `sluice user add`
//! -> `sluice policy attach readwrite USER` -> `sluice serve`. They work on
//! the config directory whether or not a server runs; servers see each
//! change within a second.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::Value;
use sluice_core::{Store, StoreOptions};
use sluice_iam::{Policy, PolicyKind, BUILTIN_POLICIES};

use crate::config::{self, ConfigDir};
use crate::iam::{Role, UserRecord};

/// Where the cluster's config directory is.
#[derive(Debug, Clone, Args)]
pub struct Where {
    /// The cluster's config directory [default: the cluster `sluice cluster
    /// create` made last for this user]
    #[arg(long, env = "SLUICE_CONFIG_DIR", global = true)]
    config_dir: Option<PathBuf>,
}

/// `sluice cluster ...`
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster: its config directory, its admin user, and this
    /// user's default cluster.
    Create {
        /// The directory served: its directories are buckets.
        #[arg(long)]
        root: PathBuf,
        /// The cluster's name.
        #[arg(long, default_value = "default")]
        name: String,
        /// The admin user's name (its access key).
        #[arg(long, default_value = "admin")]
        admin_user: String,
        /// A file holding the admin user's password (its secret key)
        /// [default: one is generated and printed once]
        #[arg(long)]
        root_password_file: Option<PathBuf>,
        /// Every host that starts `sluice serve` with this config directory
        /// serves the cluster (the default).
        #[arg(long, conflicts_with = "servers")]
        all_servers: bool,
        /// Only these hosts serve the cluster (host names, comma-separated):
        /// `sluice serve` elsewhere refuses to start.
        #[arg(long, value_delimiter = ',')]
        servers: Vec<String>,
        /// A host name or IP address the HTTPS certificate covers, besides
        /// localhost, 127.0.0.1, ::1 and this host's name (repeatable).
        #[arg(long = "tls-san")]
        tls_san: Vec<String>,
    },
    /// Show the cluster record and the nodes serving it (each server
    /// writes a heartbeat every two seconds).
    Show,
    /// Take the cluster apart: its record, users, policies, sessions,
    /// service accounts, certificates, audit settings and node list are
    /// removed from the config directory. Refused while a node serves it.
    /// Stops nothing and deletes no data: the buckets and objects stay,
    /// and so does `keys/master.json` (encrypted objects need it).
    Destroy {
        /// Say yes: the cluster's users and policies cannot be brought back.
        #[arg(long)]
        yes: bool,
    },
    /// Forget a node that no longer serves (stops nothing, deletes no data).
    RemoveServer {
        /// Its node name, as `cluster show` lists it.
        name: String,
    },
}

/// `sluice tls ...`
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Write the certificate clients should trust (PEM) to PATH.
    Download {
        /// Where to write it.
        path: PathBuf,
    },
    /// Show the certificate served: subject, names, issuer, expiry.
    Show,
    /// Install a certificate of your own (a PEM chain, server certificate
    /// first, and its key); running servers use it for new connections
    /// within a second.
    Set {
        /// The chain (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Its private key (PEM).
        #[arg(long)]
        key: PathBuf,
    },
    /// Make a new server certificate (signed by the cluster CA); running
    /// servers use it for new connections within a second.
    Renew {
        /// A host name or IP address it covers, besides localhost,
        /// 127.0.0.1, ::1 and this host's name (repeatable).
        #[arg(long = "tls-san")]
        tls_san: Vec<String>,
    },
}

/// `sluice tls ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn tls(cmd: TlsCommand, w: &Where) -> Result<(), String> {
    let dir = existing(w)?;
    match cmd {
        TlsCommand::Download { path } => {
            crate::tls::download(&dir, &path)?;
            println!("wrote {}", path.display());
            Ok(())
        }
        TlsCommand::Show => {
            let pem = dir
                .read_text(crate::tls::CERT)?
                .ok_or("the cluster has no certificate: sluice tls renew makes one")?;
            let (chain, info) = crate::tls::read_chain(pem.as_bytes())?;
            println!(
                "certificate: {}",
                dir.path().join(crate::tls::CERT).display()
            );
            print_cert(&info);
            println!("chain: {} certificate(s)", chain.len());
            Ok(())
        }
        TlsCommand::Set { cert, key } => {
            let read = |p: &Path| {
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            };
            let (chain, key) = (read(&cert)?, read(&key)?);
            let lock = dir.lock()?;
            let info = crate::tls::set(&lock, &chain, &key)?;
            lock.bump()?;
            println!("installed {}", dir.path().join(crate::tls::CERT).display());
            print_cert(&info);
            Ok(())
        }
        TlsCommand::Renew { tls_san } => {
            let name = crate::tls::cluster_label(&dir)?;
            let lock = dir.lock()?;
            crate::tls::renew(&lock, &dir, &name, &tls_san)?;
            lock.bump()?;
            println!(
                "new certificate in {}",
                dir.path().join(crate::tls::CERT).display()
            );
            Ok(())
        }
    }
}

fn print_cert(info: &crate::x509::CertInfo) {
    println!("subject: {}", info.subject);
    println!("names: {}", info.names.join(", "));
    println!("issuer: {}", info.issuer);
    println!(
        "valid: {} to {}",
        sluice_sigv4::format_amz_date(info.not_before),
        sluice_sigv4::format_amz_date(info.not_after)
    );
}

/// `sluice user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user: its name is its access key, its password its secret key.
    Add {
        /// The user name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -).
        name: String,
        /// s3: what its policies allow; admin: everything.
        #[arg(long, default_value = "s3")]
        role: String,
        /// A file holding the password [default: asked for]
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// POSIX owner of what the user creates.
        #[arg(long)]
        posix_uid: Option<u32>,
        /// POSIX group of what the user creates.
        #[arg(long)]
        posix_gid: Option<u32>,
    },
    /// List the users.
    List,
    /// Show a user (never its secret).
    Show { name: String },
    /// Delete a user.
    Delete { name: String },
    /// Change a user's password.
    Passwd {
        name: String,
        /// A file holding the new password [default: asked for]
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// `sluice policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Add (or replace) a custom policy from a JSON file.
    Add { name: String, file: PathBuf },
    /// List the policies, built-in and custom.
    List,
    /// Print a policy's document.
    Show { name: String },
    /// Remove a custom policy (detaching it from every user).
    Remove { name: String },
    /// Attach a policy to a user.
    Attach { policy: String, user: String },
    /// Detach a policy from a user.
    Detach { policy: String, user: String },
}

/// `sluice bucket ...`
#[derive(Debug, Subcommand)]
pub enum BucketCommand {
    /// Create a bucket.
    Create {
        name: String,
        /// Store its new objects encrypted (SSE-S3, AES-256-GCM) by default.
        #[arg(long)]
        encrypt: bool,
    },
    /// List the buckets.
    List,
    /// Delete a bucket (refused when it holds objects, unless --force).
    Delete {
        name: String,
        /// Delete its objects too.
        #[arg(long)]
        force: bool,
    },
    /// Set or show a bucket's policy (what anonymous requests and users
    /// may do with it).
    Policy {
        #[command(subcommand)]
        cmd: BucketPolicyCommand,
    },
    /// Set, show or unset a bucket's default encryption.
    Encryption {
        #[command(subcommand)]
        cmd: BucketEncryptionCommand,
    },
}

/// `sluice bucket encryption ...`
#[derive(Debug, Subcommand)]
pub enum BucketEncryptionCommand {
    /// New objects are stored encrypted (SSE-S3) unless a request asks
    /// for a customer key; objects stored before stay as they are.
    Set { bucket: String },
    /// Print it.
    Show { bucket: String },
    /// New objects are stored as sent (objects stored encrypted stay so).
    Unset { bucket: String },
}

/// `sluice audit-webhook ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Send an audit event of every S3 request to URL, in batches (running
    /// servers start within a second or two).
    Enable {
        /// `http://HOST[:PORT]/PATH` or `https://...`
        #[arg(long)]
        url: String,
        /// A file holding the token the webhook wants (first line).
        #[arg(long)]
        auth_token_file: Option<PathBuf>,
        /// How the token is sent: `Authorization: Bearer T`, or `Splunk T`
        /// (Splunk's HTTP Event Collector).
        #[arg(long, default_value = "bearer", value_parser = ["bearer", "splunk"])]
        auth_scheme: String,
        /// Most events per POST.
        #[arg(long, default_value = "100", value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch: u64,
        /// Longest an event waits for its batch to fill: 500ms, 2s, 1m.
        #[arg(long, default_value = "1s", value_parser = parse_interval)]
        flush_interval: std::time::Duration,
        /// A JSON array per POST, or one event per line (ndjson).
        #[arg(long, default_value = "json", value_parser = ["json", "ndjson"])]
        format: String,
        /// The CA certificate(s) (PEM) an https:// webhook's chain ends in.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
    /// Stop sending events (what is spooled stays, and goes out when
    /// enabled again).
    Disable,
    /// Print the settings (never the token).
    Show,
}

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not an interval such as 500ms, 2s, 1m");
    let (num, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => n,
        "" | "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        _ => return Err(bad()),
    };
    if !(10..=3_600_000).contains(&ms) {
        return Err(format!(
            "{text:?}: the interval must be between 10ms and 1h"
        ));
    }
    Ok(std::time::Duration::from_millis(ms))
}

/// `sluice audit-webhook ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn audit(cmd: AuditCommand, w: &Where) -> Result<(), String> {
    let dir = existing(w)?;
    match cmd {
        AuditCommand::Enable {
            url,
            auth_token_file,
            auth_scheme,
            batch,
            flush_interval,
            format,
            ca_file,
        } => {
            let parsed = crate::audit::Url::parse(&url)?;
            let token = match &auth_token_file {
                Some(f) => {
                    let text = std::fs::read_to_string(f)
                        .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                    let t = text.lines().next().unwrap_or_default().trim().to_owned();
                    if t.is_empty() || t.chars().any(|c| c.is_ascii_control()) {
                        return Err(format!("{} holds no usable token", f.display()));
                    }
                    Some(t)
                }
                None => None,
            };
            let ca_pem = match &ca_file {
                Some(f) => Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| format!("cannot read {}: {e}", f.display()))?,
                ),
                None => None,
            };
            if parsed.tls && ca_pem.is_none() {
                return Err(
                    "an https:// webhook needs --ca-file (the CA its certificate chains to)".into(),
                );
            }
            let settings = crate::audit::Settings {
                url: url.clone(),
                authorization: token.map(|t| {
                    if auth_scheme == "splunk" {
                        format!("Splunk {t}")
                    } else {
                        format!("Bearer {t}")
                    }
                }),
                batch: usize::try_from(batch).unwrap_or(100),
                flush_interval,
                format: if format == "ndjson" {
                    crate::audit::Format::Ndjson
                } else {
                    crate::audit::Format::Json
                },
                ca_pem,
            };
            if let Some(pem) = &settings.ca_pem {
                use sluice_s3::rustls::pki_types::pem::PemObject as _;
                let n =
                    sluice_s3::rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
                        .map(|c| c.map_err(|e| format!("the CA file: {e}")))
                        .collect::<Result<Vec<_>, _>>()?
                        .len();
                if n == 0 {
                    return Err("the CA file holds no certificate".into());
                }
            }
            let lock = dir.lock()?;
            lock.write_json(crate::audit::FILE, &settings.to_json())?;
            lock.bump()?;
            println!("audit webhook enabled: {}", crate::audit::shown_url(&url));
        }
        AuditCommand::Disable => {
            let lock = dir.lock()?;
            let was = lock.remove(crate::audit::FILE)?;
            lock.bump()?;
            println!(
                "{}",
                if was {
                    "audit webhook disabled"
                } else {
                    "the audit webhook was not enabled"
                }
            );
        }
        AuditCommand::Show => match crate::audit::load(&dir)? {
            None => println!("audit webhook: disabled"),
            Some(s) => {
                println!("audit webhook: {}", crate::audit::shown_url(&s.url));
                println!(
                    "  batch {} events, flush every {} ms, format {}",
                    s.batch,
                    s.flush_interval.as_millis(),
                    match s.format {
                        crate::audit::Format::Json => "json",
                        crate::audit::Format::Ndjson => "ndjson",
                    }
                );
                println!(
                    "  authorization: {}",
                    match s.authorization.as_deref() {
                        Some(a) if a.starts_with("Splunk ") => "Splunk token",
                        Some(_) => "bearer token",
                        None => "none",
                    }
                );
                if s.ca_pem.is_some() {
                    println!("  CA: given");
                }
            }
        },
    }
    Ok(())
}

/// `sluice key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a new master key and re-wrap every encrypted object's data key
    /// with it (the data is not rewritten; older keys stay in the ring).
    Rotate,
    /// Print the key ids and which is current (never the keys).
    Show,
}

/// `sluice key ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn key(cmd: KeyCommand, w: &Where) -> Result<(), String> {
    let dir = existing(w)?;
    match cmd {
        KeyCommand::Rotate => {
            let root = cluster_root(&dir)?;
            let store = Store::open(&root, StoreOptions::default())
                .map_err(|e| format!("cannot open the store in {}: {e}", root.display()))?;
            let done = crate::keys::rotate(&dir, &store)?;
            println!(
                "master key {} is current; {} objects re-wrapped{}",
                done.key,
                done.rewrapped,
                if done.failed > 0 {
                    format!(
                        ", {} could not be (they stay readable with their old key)",
                        done.failed
                    )
                } else {
                    String::new()
                }
            );
        }
        KeyCommand::Show => match crate::keys::load(&dir)? {
            None => println!("no master key yet (the first server or encrypted bucket makes one)"),
            Some(ring) => {
                for id in ring.keys.keys() {
                    let mark = if *id == ring.current {
                        " (current)"
                    } else {
                        ""
                    };
                    println!("master key {id}{mark}");
                }
            }
        },
    }
    Ok(())
}

const ENCRYPTION: &str = "encryption";

/// `sluice bucket policy ...`
#[derive(Debug, Subcommand)]
pub enum BucketPolicyCommand {
    /// Set it: `none` (remove), `download` (anyone may read objects),
    /// `upload` (anyone may write objects), `public` (anyone may list,
    /// read, write and delete), or a JSON policy file.
    Set { bucket: String, policy: String },
    /// Print it.
    Show { bucket: String },
}

/// The canned bucket policies of `sluice bucket policy set`, as MinIO's
/// `mc anonymous set` has them.
fn canned_policy(bucket: &str, name: &str) -> Option<String> {
    let objects: &[&str] = match name {
        "download" => &["s3:GetObject"],
        "upload" => &[
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
        ],
        "public" => &[
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
        ],
        _ => return None,
    };
    let on_bucket: &[&str] = match name {
        "download" => &["s3:GetBucketLocation"],
        "upload" => &["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
        _ => &[
            "s3:GetBucketLocation",
            "s3:ListBucket",
            "s3:ListBucketMultipartUploads",
        ],
    };
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": on_bucket,
             "Resource": [format!("arn:aws:s3:::{bucket}")]},
            {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": objects,
             "Resource": [format!("arn:aws:s3:::{bucket}/*")]},
        ]
    });
    serde_json::to_string_pretty(&doc).ok()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

use crate::iam::random_text;

/// IAM's name rules: 1 to `max` of A-Z a-z 0-9 + = , . @ _ - (which also
/// keeps names safe as file names in the config directory).
fn check_name(what: &str, name: &str, max: usize) -> Result<(), String> {
    let ok = (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} name {name:?}: 1 to {max} of A-Z a-z 0-9 + = , . @ _ -"
        ))
    }
}

fn check_user_name(name: &str) -> Result<(), String> {
    check_name("user", name, 64)
}

fn check_policy_name(name: &str) -> Result<(), String> {
    check_name("policy", name, 128)
}

/// A password: 8 to 128 characters, no control characters, no surrounding
/// spaces (an S3 secret key is sent by every client as given).
fn check_password(p: &str) -> Result<(), String> {
    if !(8..=128).contains(&p.chars().count()) {
        return Err("the password must have 8 to 128 characters".into());
    }
    if p.chars().any(char::is_control) || p.trim() != p {
        return Err(
            "the password must have no control characters and no leading or trailing spaces".into(),
        );
    }
    Ok(())
}

/// The password from `file` (its first line), else asked for on the
/// terminal without echo (twice), else read from standard input.
fn read_password(file: Option<&Path>, what: &str) -> Result<String, String> {
    if let Some(f) = file {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let p = text.lines().next().unwrap_or_default().to_owned();
        check_password(&p)?;
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let p = line.trim_end_matches(['\r', '\n']).to_owned();
        check_password(&p)?;
        return Ok(p);
    }
    let ask = |prompt: &str| -> Result<String, String> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let fd = std::io::stdin();
        let old = rustix::termios::tcgetattr(&fd).map_err(|e| e.to_string())?;
        let mut quiet = old.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &quiet)
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        let read = fd.lock().read_line(&mut line);
        let _ = rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &old);
        eprintln!();
        read.map_err(|e| e.to_string())?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    let p = ask(&format!("{what}: "))?;
    check_password(&p)?;
    if ask("Again: ")? != p {
        return Err("the passwords differ".into());
    }
    Ok(p)
}

fn user_path(name: &str) -> String {
    format!("users/{name}.json")
}

fn read_user(dir: &ConfigDir, name: &str) -> Result<UserRecord, String> {
    check_user_name(name)?;
    let v = dir
        .read(&user_path(name))?
        .ok_or_else(|| format!("no user named {name}"))?;
    UserRecord::from_json(&v)
}

fn cluster_root(dir: &ConfigDir) -> Result<PathBuf, String> {
    let c = dir.read("cluster.json")?.ok_or_else(|| {
        format!(
            "no cluster in {}: run `sluice cluster create` first",
            dir.path().display()
        )
    })?;
    c.get("root")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(|| "the cluster record has no root".into())
}

fn existing(w: &Where) -> Result<ConfigDir, String> {
    let dir = config::resolve(w.config_dir.as_deref())?;
    if !dir.has_cluster() {
        return Err(format!(
            "no cluster in {}: run `sluice cluster create` first",
            dir.path().display()
        ));
    }
    Ok(dir)
}

/// `sluice cluster ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn cluster(cmd: ClusterCommand, w: &Where) -> Result<(), String> {
    match cmd {
        ClusterCommand::Create {
            root,
            name,
            admin_user,
            root_password_file,
            all_servers: _,
            servers,
            tls_san,
        } => {
            if servers.iter().any(|h| {
                h.is_empty()
                    || !h
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
            }) {
                return Err("--servers takes host names: letters, digits, - and .".into());
            }
            check_user_name(&admin_user)?;
            // Everything that can be refused is refused before anything is
            // written.
            crate::tls::check_names(&tls_san)?;
            std::fs::create_dir_all(&root)
                .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
            let root = root
                .canonicalize()
                .map_err(|e| format!("cannot use {}: {e}", root.display()))?;
            let dir = ConfigDir::at(
                w.config_dir
                    .clone()
                    .unwrap_or_else(|| root.join(".sluice").join("config")),
            );
            if dir.has_cluster() {
                return Err(format!(
                    "a cluster exists in {} already",
                    dir.path().display()
                ));
            }
            Store::open(&root, StoreOptions::default())
                .map_err(|e| format!("cannot open the store in {}: {e}", root.display()))?;
            let generated = root_password_file.is_none();
            let secret = match &root_password_file {
                Some(f) => read_password(Some(f), "Admin password")?,
                None => random_text(
                    40,
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                )?,
            };
            let account = random_text(12, b"0123456789")?;
            dir.create()?;
            let dir = ConfigDir::at(
                dir.path()
                    .canonicalize()
                    .map_err(|e| format!("cannot use {}: {e}", dir.path().display()))?,
            );
            let lock = dir.lock()?;
            let admin = UserRecord {
                name: admin_user.clone(),
                role: Role::Admin,
                secret: secret.clone(),
                policies: Vec::new(),
                uid: None,
                gid: None,
                created: now(),
            };
            lock.write_json(&user_path(&admin_user), &admin.to_json())?;
            let record = serde_json::json!({
                "name": name,
                "root": root.to_string_lossy(),
                "account": account,
                "admin": admin_user,
                "created": now(),
                "servers": servers,
            });
            lock.write_json("cluster.json", &record)?;
            crate::tls::generate(&lock, &crate::tls::label(&name, &account), &tls_san)?;
            lock.bump()?;
            drop(lock);
            if let Some(pointer) = config::default_pointer() {
                if let Some(parent) = pointer.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                std::fs::write(&pointer, format!("{}\n", dir.path().display())).map_err(|e| {
                    format!("cannot remember the cluster in {}: {e}", pointer.display())
                })?;
            }
            println!("cluster {name} created");
            println!("  root: {}", root.display());
            println!("  config dir: {}", dir.path().display());
            println!("  admin access key: {admin_user}");
            println!(
                "  HTTPS certificate: {} (clients trust {}: sluice tls download PATH)",
                dir.path().join(crate::tls::CERT).display(),
                dir.path().join(crate::tls::CA).display()
            );
            if generated {
                println!("  admin secret key: {secret}   (shown once: keep it)");
            }
            println!("next: sluice bucket create NAME; sluice user add NAME; sluice policy attach readwrite NAME; sluice serve --root {} --config-dir {}", root.display(), dir.path().display());
            Ok(())
        }
        ClusterCommand::Show => {
            let dir = existing(w)?;
            let c = dir.read("cluster.json")?.unwrap_or_default();
            println!("config dir: {}", dir.path().display());
            for k in ["name", "root", "account", "admin"] {
                println!("{k}: {}", c.get(k).and_then(Value::as_str).unwrap_or("-"));
            }
            let servers: Vec<&str> = c["servers"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if servers.is_empty() {
                println!("servers: all (any host that starts sluice serve with this config)");
            } else {
                println!("servers: {}", servers.join(","));
            }
            println!("users: {}", dir.list("users")?.len());
            let nodes = crate::nodes::list(dir.path());
            let serving = nodes
                .iter()
                .filter(|(_, age)| *age <= crate::nodes::STALE_SECS)
                .count();
            println!("nodes: {serving} serving");
            for (v, age) in &nodes {
                println!("  {}", crate::nodes::describe(v, *age));
            }
            Ok(())
        }
        ClusterCommand::Destroy { yes } => {
            let dir = existing(w)?;
            let serving: Vec<String> = crate::nodes::list(dir.path())
                .into_iter()
                .filter(|(_, age)| *age <= crate::nodes::STALE_SECS)
                .filter_map(|(v, _)| v["name"].as_str().map(str::to_owned))
                .collect();
            if !serving.is_empty() {
                return Err(format!(
                    "nodes serve this cluster now ({}): stop them first; this command stops nothing",
                    serving.join(", ")
                ));
            }
            if !yes {
                return Err(format!(
                    "this removes the cluster in {} (its users, policies, certificates and settings; \
                     no bucket or object): run it again with --yes",
                    dir.path().display()
                ));
            }
            let lock = dir.lock()?;
            for item in ["cluster.json"]
                .into_iter()
                .chain(crate::config::RECORD_DIRS)
                .chain(["tls", "nodes", crate::audit::FILE])
            {
                let p = dir.path().join(item);
                let gone = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                if let Err(e) = gone {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(format!("cannot remove {}: {e}", p.display()));
                    }
                }
            }
            lock.bump()?;
            drop(lock);
            if let Some(pointer) = config::default_pointer() {
                let points_here = std::fs::read_to_string(&pointer)
                    .is_ok_and(|t| std::path::Path::new(t.trim()) == dir.path());
                if points_here {
                    let _ = std::fs::remove_file(&pointer);
                }
            }
            let keys = dir.path().join("keys").join("master.json");
            println!(
                "cluster in {} destroyed; buckets and objects untouched",
                dir.path().display()
            );
            if keys.exists() {
                println!("kept {}: encrypted objects need it", keys.display());
            }
            Ok(())
        }
        ClusterCommand::RemoveServer { name } => {
            let dir = existing(w)?;
            let known = crate::nodes::list(dir.path());
            let Some((_, age)) = known
                .iter()
                .find(|(v, _)| v["name"].as_str() == Some(name.as_str()))
            else {
                return Err(format!(
                    "no node named {name} (sluice cluster show lists them)"
                ));
            };
            if *age <= crate::nodes::STALE_SECS {
                return Err(format!(
                    "node {name} is serving now (heard {age} s ago): stop its sluice serve first; \
                     this command stops nothing"
                ));
            }
            let lock = dir.lock()?;
            lock.remove(&format!("nodes/{name}.json"))?;
            println!("node {name} removed from the cluster's list (its data and audit spool stay)");
            Ok(())
        }
    }
}

/// `sluice user ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn user(cmd: UserCommand, w: &Where) -> Result<(), String> {
    let dir = existing(w)?;
    match cmd {
        UserCommand::Add {
            name,
            role,
            password_file,
            posix_uid,
            posix_gid,
        } => {
            check_user_name(&name)?;
            let role =
                Role::parse(&role).ok_or_else(|| format!("unknown role {role:?}: s3 or admin"))?;
            if posix_uid.is_some() != posix_gid.is_some() {
                return Err("give both --posix-uid and --posix-gid, or neither".into());
            }
            if posix_uid == Some(u32::MAX) || posix_gid == Some(u32::MAX) {
                return Err("4294967295 is no POSIX id".into());
            }
            let secret = read_password(password_file.as_deref(), "Password")?;
            let lock = dir.lock()?;
            if dir.read(&user_path(&name))?.is_some() {
                return Err(format!("a user named {name} exists already"));
            }
            let record = UserRecord {
                name: name.clone(),
                role,
                secret,
                policies: Vec::new(),
                uid: posix_uid,
                gid: posix_gid,
                created: now(),
            };
            lock.write_json(&user_path(&name), &record.to_json())?;
            lock.bump()?;
            println!("user {name} added (role {}); its access key is {name}, its secret key its password", role.name());
            if role == Role::S3 {
                println!("it has no policy yet: sluice policy attach readwrite {name}");
            }
            Ok(())
        }
        UserCommand::List => {
            for name in dir.list("users")? {
                if let Ok(u) = read_user(&dir, &name) {
                    println!("{}\t{}\t{}", u.name, u.role.name(), u.policies.join(","));
                }
            }
            Ok(())
        }
        UserCommand::Show { name } => {
            let u = read_user(&dir, &name)?;
            println!("name: {}", u.name);
            println!("role: {}", u.role.name());
            println!(
                "policies: {}",
                if u.policies.is_empty() {
                    "-".into()
                } else {
                    u.policies.join(", ")
                }
            );
            if let (Some(uid), Some(gid)) = (u.uid, u.gid) {
                println!("posix: uid {uid} gid {gid}");
            }
            println!(
                "created: {}",
                sluice_s3::iso8601(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(u.created)
                )
            );
            Ok(())
        }
        UserCommand::Delete { name } => {
            check_user_name(&name)?;
            let lock = dir.lock()?;
            let admin = dir
                .read("cluster.json")?
                .and_then(|c| c.get("admin").and_then(Value::as_str).map(str::to_owned));
            if admin.as_deref() == Some(name.as_str()) {
                return Err(format!(
                    "{name} is the cluster's admin user and cannot be deleted"
                ));
            }
            if !lock.remove(&user_path(&name))? {
                return Err(format!("no user named {name}"));
            }
            // Its service accounts and sessions go with it, at once.
            for folder in crate::iam::KEY_FOLDERS {
                for key in dir.list(folder)? {
                    let rel = format!("{folder}/{key}.json");
                    let parent =
                        dir.read(&rel).ok().flatten().and_then(|v| {
                            v.get("parent").and_then(Value::as_str).map(str::to_owned)
                        });
                    if parent.as_deref() == Some(name.as_str()) {
                        lock.remove(&rel)?;
                    }
                }
            }
            lock.bump()?;
            println!("user {name} deleted");
            Ok(())
        }
        UserCommand::Passwd {
            name,
            password_file,
        } => {
            read_user(&dir, &name)?;
            let secret = read_password(password_file.as_deref(), "New password")?;
            let lock = dir.lock()?;
            let mut u = read_user(&dir, &name)?;
            u.secret = secret;
            lock.write_json(&user_path(&name), &u.to_json())?;
            // Sessions made with the old password end with it (service
            // accounts have secrets of their own and stay).
            let mut ended = 0;
            for key in dir.list("sessions")? {
                let rel = format!("sessions/{key}.json");
                let parent = dir
                    .read(&rel)
                    .ok()
                    .flatten()
                    .and_then(|v| v.get("parent").and_then(Value::as_str).map(str::to_owned));
                if parent.as_deref() == Some(name.as_str()) && lock.remove(&rel)? {
                    ended += 1;
                }
            }
            lock.bump()?;
            println!("password of {name} changed ({ended} session(s) ended)");
            Ok(())
        }
    }
}

/// `sluice policy ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn policy(cmd: PolicyCommand, w: &Where) -> Result<(), String> {
    let dir = existing(w)?;
    let custom = |name: &str| format!("policies/{name}.json");
    match cmd {
        PolicyCommand::Add { name, file } => {
            check_policy_name(&name)?;
            if BUILTIN_POLICIES.contains(&name.as_str()) {
                return Err(format!("{name} is a built-in policy"));
            }
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            Policy::parse(&text, PolicyKind::Identity)
                .map_err(|e| format!("invalid policy {}: {e}", file.display()))?;
            let lock = dir.lock()?;
            lock.write(&custom(&name), text.as_bytes())?;
            lock.bump()?;
            println!("policy {name} added");
            Ok(())
        }
        PolicyCommand::List => {
            for n in BUILTIN_POLICIES {
                println!("{n}\tbuilt-in");
            }
            for n in dir.list("policies")? {
                println!("{n}\tcustom");
            }
            Ok(())
        }
        PolicyCommand::Show { name } => {
            check_policy_name(&name)?;
            let text = match sluice_iam::builtin_document(&name) {
                Some(d) => d.to_owned(),
                None => dir
                    .read_text(&custom(&name))?
                    .ok_or_else(|| format!("no policy named {name}"))?,
            };
            println!("{}", text.trim_end());
            Ok(())
        }
        PolicyCommand::Remove { name } => {
            check_policy_name(&name)?;
            if BUILTIN_POLICIES.contains(&name.as_str()) {
                return Err(format!("{name} is a built-in policy"));
            }
            let lock = dir.lock()?;
            if !lock.remove(&custom(&name))? {
                return Err(format!("no policy named {name}"));
            }
            for user in dir.list("users")? {
                let mut u = read_user(&dir, &user)?;
                if u.policies.contains(&name) {
                    u.policies.retain(|p| *p != name);
                    lock.write_json(&user_path(&user), &u.to_json())?;
                }
            }
            lock.bump()?;
            println!("policy {name} removed");
            Ok(())
        }
        PolicyCommand::Attach { policy, user } => {
            check_policy_name(&policy)?;
            crate::iam::load_policy(&dir, &policy)?;
            let lock = dir.lock()?;
            let mut u = read_user(&dir, &user)?;
            if !u.policies.contains(&policy) {
                u.policies.push(policy.clone());
                lock.write_json(&user_path(&user), &u.to_json())?;
                lock.bump()?;
            }
            println!("policy {policy} attached to {user}");
            Ok(())
        }
        PolicyCommand::Detach { policy, user } => {
            let lock = dir.lock()?;
            let mut u = read_user(&dir, &user)?;
            if !u.policies.contains(&policy) {
                return Err(format!("{user} does not have policy {policy}"));
            }
            u.policies.retain(|p| *p != policy);
            lock.write_json(&user_path(&user), &u.to_json())?;
            lock.bump()?;
            println!("policy {policy} detached from {user}");
            Ok(())
        }
    }
}

/// `sluice bucket ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn bucket(cmd: BucketCommand, w: &Where) -> Result<(), String> {
    let dir = existing(w)?;
    let root = cluster_root(&dir)?;
    let store = Store::open(&root, StoreOptions::default())
        .map_err(|e| format!("cannot open the store in {}: {e}", root.display()))?;
    match cmd {
        BucketCommand::Create { name, encrypt } => {
            if encrypt {
                crate::keys::ensure(&dir, &root)?;
            }
            store
                .create_bucket(&name)
                .map_err(|e| format!("cannot create bucket {name}: {e}"))?;
            if encrypt {
                store
                    .set_bucket_config(&name, ENCRYPTION, Some(b"AES256"))
                    .map_err(|e| format!("cannot set bucket {name}'s encryption: {e}"))?;
                println!("bucket {name} created, its objects stored encrypted (AES256)");
            } else {
                println!("bucket {name} created");
            }
        }
        BucketCommand::Encryption { cmd } => {
            let (bucket, value) = match &cmd {
                BucketEncryptionCommand::Set { bucket } => (bucket, Some(&b"AES256"[..])),
                BucketEncryptionCommand::Unset { bucket } => (bucket, None),
                BucketEncryptionCommand::Show { bucket } => {
                    let v = store
                        .bucket_config(bucket, ENCRYPTION)
                        .map_err(|e| format!("bucket {bucket}: {e}"))?;
                    match v {
                        Some(_) => {
                            println!("bucket {bucket}: new objects stored encrypted (AES256)")
                        }
                        None => println!("bucket {bucket}: no default encryption"),
                    }
                    return Ok(());
                }
            };
            if value.is_some() {
                crate::keys::ensure(&dir, &root)?;
            }
            store
                .set_bucket_config(bucket, ENCRYPTION, value)
                .map_err(|e| format!("bucket {bucket}: {e}"))?;
            match value {
                Some(_) => println!("bucket {bucket}: new objects stored encrypted (AES256)"),
                None => println!("bucket {bucket}: no default encryption"),
            }
        }
        BucketCommand::List => {
            for b in store.list_buckets().map_err(|e| e.to_string())? {
                println!("{}", b.name);
            }
        }
        BucketCommand::Policy { cmd } => {
            let policies = crate::iam::ClusterBucketPolicies(dir.clone());
            let s3 = |e: sluice_s3::S3Error| e.message.into_owned();
            use sluice_s3::BucketPolicyStore as _;
            match cmd {
                BucketPolicyCommand::Set { bucket, policy } => {
                    store
                        .head_bucket(&bucket)
                        .map_err(|e| format!("bucket {bucket}: {e}"))?;
                    if policy == "none" {
                        policies.delete(&bucket).map_err(s3)?;
                        println!("bucket {bucket}: no policy");
                        return Ok(());
                    }
                    let text = match canned_policy(&bucket, &policy) {
                        Some(t) => t,
                        None => std::fs::read_to_string(&policy).map_err(|e| {
                            format!(
                                "{policy} is none, download, upload, public or a policy file: {e}"
                            )
                        })?,
                    };
                    policies
                        .put(&bucket, &text)
                        .map_err(|e| format!("invalid bucket policy: {}", s3(e)))?;
                    println!("bucket {bucket}: policy {policy} set");
                }
                BucketPolicyCommand::Show { bucket } => {
                    store
                        .head_bucket(&bucket)
                        .map_err(|e| format!("bucket {bucket}: {e}"))?;
                    match policies.get(&bucket).map_err(s3)? {
                        Some(t) => println!("{}", t.trim_end()),
                        None => println!("bucket {bucket} has no policy"),
                    }
                }
            }
        }
        BucketCommand::Delete { name, force } => {
            match store.delete_bucket(&name) {
                Ok(()) => {}
                Err(sluice_core::StoreError::BucketNotEmpty) if force => {
                    store.head_bucket(&name).map_err(|e| e.to_string())?;
                    let path = root.join(&name);
                    std::fs::remove_dir_all(&path)
                        .map_err(|e| format!("cannot delete {}: {e}", path.display()))?;
                }
                Err(sluice_core::StoreError::BucketNotEmpty) => {
                    return Err(format!(
                        "bucket {name} is not empty (--force deletes its objects too)"
                    ))
                }
                Err(e) => return Err(format!("cannot delete bucket {name}: {e}")),
            }
            use sluice_s3::BucketPolicyStore as _;
            let policies = crate::iam::ClusterBucketPolicies(dir.clone());
            policies.delete(&name).map_err(|e| e.message.into_owned())?;
            policies
                .set_public_access_block(&name, None)
                .map_err(|e| e.message.into_owned())?;
            println!("bucket {name} deleted");
        }
    }
    Ok(())
}

/// `sluice presign s3://BUCKET/KEY`: a presigned GET URL.
#[derive(Debug, Args)]
pub struct PresignArgs {
    /// The object, as s3://BUCKET/KEY.
    url: String,
    /// How long the URL works: 90s, 15m, 12h, 7d (at most 7 days).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    expires: u32,
    /// The user whose rights the URL carries [default: the admin user]
    #[arg(long)]
    user: Option<String>,
    /// The server the URL points at.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    /// The region to sign for.
    #[arg(long, default_value = "us-east-1")]
    region: String,
}

/// Seconds of `90s`, `15m`, `12h`, `7d`, `1w` (or plain seconds), at most
/// seven days (S3's limit for presigned URLs and sessions).
pub fn parse_duration(text: &str) -> Result<u32, String> {
    parse_span(text, 604_800, "7 days")
}

/// A service account's lifetime: as [`parse_duration`], at most 10 years.
pub fn parse_expiry(text: &str) -> Result<u32, String> {
    parse_span(text, 10 * 366 * 86_400, "10 years")
}

fn parse_span(text: &str, max: u64, max_text: &str) -> Result<u32, String> {
    let (num, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 15m, 12h, 7d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "{text:?} is not a duration such as 90s, 15m, 12h, 7d"
            ))
        }
    };
    let secs = n.saturating_mul(scale);
    if secs == 0 || secs > max {
        return Err(format!("{text} is not between 1 second and {max_text}"));
    }
    u32::try_from(secs).map_err(|e| e.to_string())
}

/// `sluice presign ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn presign(args: PresignArgs, w: &Where) -> Result<(), String> {
    let dir = existing(w)?;
    let user = match args.user {
        Some(u) => u,
        None => dir
            .read("cluster.json")?
            .and_then(|c| c.get("admin").and_then(Value::as_str).map(str::to_owned))
            .ok_or("the cluster record names no admin user")?,
    };
    let record = read_user(&dir, &user)?;
    let rest = args
        .url
        .strip_prefix("s3://")
        .ok_or("the object is s3://BUCKET/KEY")?;
    let (bucket, key) = rest
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or("the object is s3://BUCKET/KEY")?;
    let endpoint = args.endpoint.trim_end_matches('/');
    let host = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .ok_or("the endpoint is http://HOST:PORT or https://HOST:PORT")?;
    let raw_path = format!(
        "/{}/{}",
        sluice_sigv4::uri_encode(bucket, false),
        sluice_sigv4::uri_encode(key, true)
    );
    let now = i64::try_from(now()).map_err(|e| e.to_string())?;
    let query = sluice_sigv4::presign(
        &sluice_sigv4::PresignRequest {
            method: "GET",
            host,
            raw_path: &raw_path,
            raw_query: "",
            region: &args.region,
            time: now,
            expires: args.expires,
        },
        &sluice_sigv4::Credentials {
            access_key: record.name.clone(),
            secret_key: record.secret.clone(),
            session_token: None,
        },
    );
    println!("{endpoint}{raw_path}?{query}");
    Ok(())
}

/// `sluice sts ...`
#[derive(Debug, Subcommand)]
pub enum StsCommand {
    /// Temporary credentials acting as a user, narrowed by --policy.
    AssumeRole {
        /// The user they act for.
        #[arg(long)]
        user: String,
        /// How long they work: 900s to 1w (15m, 60m, 12h, 2d, ...).
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        duration: u32,
        /// A JSON policy narrowing what they may do.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

/// `sluice service-account ...`
#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// An access key and secret acting as a user, narrowed by --policy;
    /// the secret is shown once.
    Add {
        /// The user it acts for.
        #[arg(long)]
        user: String,
        /// A JSON policy narrowing what it may do.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// When it stops working (90s, 12h, 30d, 52w; at most 10 years)
        /// [default: never]
        #[arg(long, value_parser = parse_expiry)]
        expiry: Option<u32>,
    },
    /// List service accounts (of one user).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Remove a service account.
    Remove { access_key: String },
}

fn read_policy_file(p: Option<&Path>) -> Result<Option<String>, String> {
    p.map(|f| std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display())))
        .transpose()
}

/// `sluice sts ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn sts(cmd: StsCommand, w: &Where) -> Result<(), String> {
    let dir = existing(w)?;
    let StsCommand::AssumeRole {
        user,
        duration,
        policy,
    } = cmd;
    check_user_name(&user)?;
    if duration < 900 {
        return Err("sessions last 15 minutes (900s) to a week".into());
    }
    let policy = read_policy_file(policy.as_deref())?;
    let key = crate::iam::issue_key(
        &dir,
        &user,
        policy.as_deref(),
        Some(u64::from(duration)),
        true,
    )?;
    println!("AccessKeyId: {}", key.access_key);
    println!("SecretAccessKey: {}", key.secret);
    println!("SessionToken: {}", key.token.unwrap_or_default());
    println!(
        "Expiration: {}",
        sluice_s3::iso8601(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(key.expires.unwrap_or(0))
        )
    );
    Ok(())
}

/// `sluice service-account ...`
///
/// # Errors
/// What went wrong, for the user.
pub fn service_account(cmd: ServiceAccountCommand, w: &Where) -> Result<(), String> {
    let dir = existing(w)?;
    match cmd {
        ServiceAccountCommand::Add {
            user,
            policy,
            expiry,
        } => {
            check_user_name(&user)?;
            let policy = read_policy_file(policy.as_deref())?;
            let key = crate::iam::issue_key(
                &dir,
                &user,
                policy.as_deref(),
                expiry.map(u64::from),
                false,
            )?;
            println!("service account of {user} added");
            println!("  access key: {}", key.access_key);
            println!("  secret key: {}   (shown once: keep it)", key.secret);
        }
        ServiceAccountCommand::List { user } => {
            for key in dir.list("service-accounts")? {
                let Some(v) = dir.read(&format!("service-accounts/{key}.json"))? else {
                    continue;
                };
                let parent = v.get("parent").and_then(Value::as_str).unwrap_or("-");
                if user.as_deref().is_some_and(|u| u != parent) {
                    continue;
                }
                let narrowed = if v.get("policy").is_some() {
                    "policy"
                } else {
                    "-"
                };
                println!("{key}\t{parent}\t{narrowed}");
            }
        }
        ServiceAccountCommand::Remove { access_key } => {
            if !access_key.starts_with("SVC")
                || !access_key.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(format!("no service account {access_key}"));
            }
            let lock = dir.lock()?;
            if !lock.remove(&format!("service-accounts/{access_key}.json"))? {
                return Err(format!("no service account {access_key}"));
            }
            lock.bump()?;
            println!("service account {access_key} removed");
        }
    }
    Ok(())
}
