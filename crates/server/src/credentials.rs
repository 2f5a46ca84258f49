//! The root user's credentials: from `SLUICE_ROOT_USER` and
//! `SLUICE_ROOT_PASSWORD` (as MinIO users expect), else read from
//! `<root>/.sluice/config/root-credentials`, else generated there on first
//! start (mode 0600).

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Where the root credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `SLUICE_ROOT_USER` / `SLUICE_ROOT_PASSWORD`.
    Environment,
    /// The credentials file, from an earlier start.
    File,
    /// Made now (the banner shows the secret once).
    Generated,
}

/// The root access key and secret.
#[derive(Debug, Clone)]
pub struct RootCredentials {
    pub access: String,
    pub secret: String,
    pub origin: Origin,
    pub path: PathBuf,
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

/// The environment's root credentials, when set: both or neither.
///
/// # Errors
/// Only one of the two is set, or a value that S3 clients cannot send.
pub fn from_env() -> Result<Option<(String, String)>, String> {
    let user = std::env::var("SLUICE_ROOT_USER").ok();
    let password = std::env::var("SLUICE_ROOT_PASSWORD").ok();
    match (user, password) {
        (None, None) => Ok(None),
        (Some(u), Some(p)) => {
            if u.len() < 3 || u.contains(|c: char| c.is_whitespace() || c == '/') {
                return Err(
                    "SLUICE_ROOT_USER must be at least 3 characters, without spaces or '/'".into(),
                );
            }
            if p.len() < 8 || p.contains(char::is_whitespace) {
                return Err(
                    "SLUICE_ROOT_PASSWORD must be at least 8 characters, without spaces".into(),
                );
            }
            Ok(Some((u, p)))
        }
        _ => Err("set both SLUICE_ROOT_USER and SLUICE_ROOT_PASSWORD, or neither".into()),
    }
}

/// The root credentials for a store at `root`.
///
/// # Errors
/// The credentials file cannot be read or written.
pub fn root_credentials(
    root: &Path,
    env: Option<(String, String)>,
) -> Result<RootCredentials, String> {
    let dir = root.join(".sluice").join("config");
    let path = dir.join("root-credentials");
    if let Some((access, secret)) = env {
        return Ok(RootCredentials {
            access,
            secret,
            origin: Origin::Environment,
            path,
        });
    }
    let io =
        |what: &str, p: &Path, e: std::io::Error| format!("cannot {what} {}: {e}", p.display());
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut lines = text.lines();
        if let (Some(a), Some(s)) = (lines.next(), lines.next()) {
            return Ok(RootCredentials {
                access: a.trim().to_owned(),
                secret: s.trim().to_owned(),
                origin: Origin::File,
                path,
            });
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
    let access = format!(
        "SLUICE{}",
        random_text(14, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").map_err(|e| e.to_string())?
    );
    let secret = random_text(
        40,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    )
    .map_err(|e| e.to_string())?;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = dir.join("root-credentials.new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("write", &tmp, e))?;
    writeln!(f, "{access}\n{secret}").map_err(|e| io("write", &tmp, e))?;
    f.sync_all().map_err(|e| io("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io("write", &path, e))?;
    Ok(RootCredentials {
        access,
        secret,
        origin: Origin::Generated,
        path,
    })
}
