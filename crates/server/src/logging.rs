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
                e.path,
                if e.query.is_empty() { "" } else { "?" },
                redacted_query(e.query),
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

/// A query string without its signature and token parameters.
fn redacted_query(query: &str) -> String {
    query
        .split('&')
        .filter(|p| {
            let name = p.split('=').next().unwrap_or_default();
            !["x-amz-signature", "signature", "x-amz-security-token"]
                .iter()
                .any(|s| name.eq_ignore_ascii_case(s))
        })
        .collect::<Vec<_>>()
        .join("&")
}
