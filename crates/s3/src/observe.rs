//! The observe stage: called once per request, after its answer was
//! written, with what the audit log and the metrics need. Today's
//! implementation does nothing; the audit webhook and metrics hang here.

use std::net::SocketAddr;
use std::time::Duration;

use crate::access::Identity;

/// One answered request.
#[derive(Debug, Clone)]
pub struct RequestEvent<'a> {
    /// The `x-amz-request-id` answered.
    pub request_id: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The path as sent (percent-encoded), without the query.
    pub path: &'a str,
    /// The S3 operation (`PutObject`, `CopyObject`, ...); empty when the
    /// request could not be routed.
    pub operation: &'static str,
    /// The bucket named, if any.
    pub bucket: Option<&'a str>,
    /// The key named, if any.
    pub key: Option<&'a str>,
    /// The HTTP status answered.
    pub status: u16,
    /// Bytes received for the request (head and body).
    pub bytes_in: u64,
    /// Bytes sent for the answer (head and body).
    pub bytes_out: u64,
    /// From the whole head having arrived to the answer written.
    pub time_to_response: Duration,
    /// Who sent it (Anonymous when authentication did not get that far).
    pub identity: &'a Identity,
    /// The peer's address.
    pub remote: Option<SocketAddr>,
}

/// Receives every answered request. Runs on the request's runtime thread:
/// an implementation MUST NOT block (hand the event to a queue instead).
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// Called once per request.
    fn observe(&self, event: &RequestEvent<'_>);
}

/// Observes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn observe(&self, _event: &RequestEvent<'_>) {}
}
