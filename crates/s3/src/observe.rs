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
    /// From the whole head having arrived to the answer being ready to
    /// write (its first byte leaves then).
    pub time_to_first_byte: Duration,
    /// Who sent it (Anonymous when authentication did not get that far).
    pub identity: &'a Identity,
    /// The peer's address.
    pub remote: Option<SocketAddr>,
    /// The query string as sent (percent-encoded), without the `?`.
    pub query: &'a str,
    /// The request's header fields, as sent (secrets included: an observer
    /// that keeps them must remove what it must not keep).
    pub request_headers: &'a [(String, Vec<u8>)],
    /// The answer's header fields; empty unless [`Observer::wants_headers`].
    pub response_headers: &'a [(String, String)],
    /// Whether the request came over TLS.
    pub secure: bool,
}

/// Receives every answered request. Runs on the request's runtime thread:
/// an implementation MUST NOT block (hand the event to a queue instead).
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// Called once per request.
    fn observe(&self, event: &RequestEvent<'_>);
    /// Whether [`RequestEvent::response_headers`] should be filled (a copy
    /// of them per request). By default not.
    fn wants_headers(&self) -> bool {
        false
    }
}

/// Observes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn observe(&self, _event: &RequestEvent<'_>) {}
}
