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
    /// The S3 error code answered, if the answer is an error document
    /// (what refused a request: `AccessDenied`, `SignatureDoesNotMatch`,
    /// `SlowDown`, ...).
    pub error: Option<crate::S3ErrorCode>,
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
    /// Whether the observer gathers what it observes on each thread and
    /// must be given [`Observer::flush`] before the connection of an
    /// observed request goes on. The connection layer then waits, after
    /// observing, until the thread's gathered events were flushed: once
    /// per turn of the thread's runtime, by a task queued behind every
    /// request ready in that turn (a group commit: one flush for all the
    /// requests a busy thread answered meanwhile). By default not.
    fn wants_flush(&self) -> bool {
        false
    }
    /// Flushes what this thread gathered (see [`Observer::wants_flush`]).
    fn flush(&self) {}
}

/// The group commit of [`Observer::wants_flush`]: per runtime thread, the
/// flush queued (its number) and the last one done, and who waits.
#[derive(Debug, Default)]
pub(crate) struct FlushGate {
    queued: std::cell::Cell<Option<u64>>,
    done: std::cell::Cell<u64>,
    waiters: std::cell::RefCell<Vec<std::task::Waker>>,
}

impl FlushGate {
    /// Waits until a flush that started after this call has completed
    /// (queuing one when none is).
    pub(crate) async fn settle(
        gate: &std::rc::Rc<FlushGate>,
        observer: &std::sync::Arc<dyn Observer>,
    ) {
        let target = match gate.queued.get() {
            Some(n) => n,
            None => {
                let n = gate.done.get().wrapping_add(1);
                gate.queued.set(Some(n));
                let (g, o) = (std::rc::Rc::clone(gate), std::sync::Arc::clone(observer));
                // Spawned tasks run after those already ready: the requests
                // answered in this turn gather their events first.
                monoio::spawn(async move {
                    o.flush();
                    g.queued.set(None);
                    g.done.set(n);
                    for w in g.waiters.take() {
                        w.wake();
                    }
                });
                n
            }
        };
        std::future::poll_fn(|cx| {
            if gate.done.get() >= target {
                std::task::Poll::Ready(())
            } else {
                gate.waiters.borrow_mut().push(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await;
    }
}

/// Observes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn observe(&self, _event: &RequestEvent<'_>) {}
}
