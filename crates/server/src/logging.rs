//! Logs with `tracing` on stderr: a start-up summary at info, one line per
//! request at debug (from the observe stage), warnings for internal errors.

use sluice_s3::{Observer, RequestEvent};
use tracing_subscriber::EnvFilter;

/// Installs the subscriber: `RUST_LOG` when set, else `level`; `format` is
/// `text` or `json`.
pub fn init(level: &str, format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
}

/// The observe stage's logger: one debug line per request (never a secret:
/// the access key, not the signature or the token).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLog;

impl Observer for RequestLog {
    fn observe(&self, e: &RequestEvent<'_>) {
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
