//! One connection: read a head, authenticate, answer 100-continue, run the
//! operation with its body, write the response; keep-alive and pipelining
//! until the client closes or asks to.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpListener;
use sluice_core::{BufPool, Store};
use sluice_http::{BodyDecoder, Limits, RequestHead, ResponseHead, Status};
use sluice_sigv4::{Result as SigResult, SecretLookup, Verifier};

use crate::access::{Authorizer, RootOnly};
use crate::error::S3Error;
use crate::handlers::{self, Response};
use crate::observe::{Observer, RequestEvent, Unobserved};
use crate::xml;

/// Access keys and their secrets.
#[derive(Debug, Clone, Default)]
pub struct Credentials(pub Vec<(String, String)>);

impl SecretLookup for Credentials {
    fn secret_key(&self, access_key: &str, session_token: Option<&str>) -> SigResult<String> {
        if session_token.is_some() {
            return Err(sluice_sigv4::Error::InvalidToken);
        }
        self.0
            .iter()
            .find(|(k, _)| k == access_key)
            .map(|(_, s)| s.clone())
            .ok_or(sluice_sigv4::Error::InvalidAccessKeyId)
    }
}

/// What every thread serves with.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Region reported and accepted (requests signed for any region pass).
    pub region: String,
    /// Domain for virtual-hosted-style requests (`bucket.domain`).
    pub domain: Option<String>,
    /// HTTP limits.
    pub limits: Limits,
    /// Users' keys.
    pub credentials: Credentials,
    /// Time allowed to send a request head.
    pub header_timeout: Duration,
    /// Time a kept-alive connection may stay idle.
    pub idle_timeout: Duration,
    /// Connections per thread; more are closed at once.
    pub max_connections: usize,
    /// Set when the server shuts down: no new connections, none kept alive.
    pub draining: Arc<AtomicBool>,
    /// Connections open, across threads (for a graceful shutdown to wait on).
    pub active: Arc<AtomicUsize>,
    /// Decides what each identity may do (the authorize stage).
    pub authorizer: Arc<dyn Authorizer>,
    /// Sees every answered request (the observe stage).
    pub observer: Arc<dyn Observer>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            region: "us-east-1".into(),
            domain: None,
            limits: Limits::default(),
            credentials: Credentials::default(),
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections: 4096,
            draining: Arc::new(AtomicBool::new(false)),
            active: Arc::new(AtomicUsize::new(0)),
            authorizer: Arc::new(RootOnly),
            observer: Arc::new(Unobserved),
        }
    }
}

/// Bodies up to this size are carried in buffers of this size.
pub(crate) const SMALL_BUF_SIZE: usize = 64 << 10;

/// Per-thread state: the store handle, a verifier with its key cache, a
/// buffer pool, counters.
pub struct ThreadContext {
    pub(crate) store: Store,
    pub(crate) config: ServiceConfig,
    pub(crate) verifier: RefCell<Verifier>,
    pub(crate) pool: BufPool,
    small_pool: BufPool,
    connections: Cell<usize>,
    requests: Cell<u64>,
    id_prefix: u64,
}

impl std::fmt::Debug for ThreadContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadContext")
            .field("connections", &self.connections.get())
            .finish_non_exhaustive()
    }
}

impl ThreadContext {
    /// Context for one runtime thread.
    #[must_use]
    pub fn new(store: Store, config: ServiceConfig, thread: usize) -> Rc<Self> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rc::new(ThreadContext {
            verifier: RefCell::new(Verifier::new(None, "s3")),
            pool: BufPool::new(sluice_core::DEFAULT_BUF_SIZE, 16),
            small_pool: BufPool::new(SMALL_BUF_SIZE, 256),
            store,
            config,
            connections: Cell::new(0),
            requests: Cell::new(0),
            id_prefix: now ^ ((thread as u64) << 56),
        })
    }

    /// The pool for a body of `len` bytes: small bodies take small buffers,
    /// so many small requests in flight neither pin nor allocate (and zero)
    /// a megabyte each.
    pub(crate) fn pool_for(&self, len: u64) -> &BufPool {
        if len <= SMALL_BUF_SIZE as u64 {
            &self.small_pool
        } else {
            &self.pool
        }
    }

    pub(crate) fn request_id(&self) -> String {
        let n = self.requests.get() + 1;
        self.requests.set(n);
        format!(
            "{:016X}",
            self.id_prefix
                .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        )
    }
}

/// Accepts connections on `listener` forever, one task per connection.
pub async fn serve(listener: TcpListener, ctx: Rc<ThreadContext>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        if ctx.connections.get() >= ctx.config.max_connections
            || ctx.config.draining.load(Ordering::Relaxed)
        {
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let ctx = Rc::clone(&ctx);
        ctx.config.active.fetch_add(1, Ordering::SeqCst);
        monoio::spawn(async move {
            ctx.connections.set(ctx.connections.get() + 1);
            serve_connection(stream, Some(peer), &ctx).await;
            ctx.connections.set(ctx.connections.get() - 1);
            ctx.config.active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// The request as owned data, once its head is parsed.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: sluice_http::Method,
    pub method_str: String,
    pub raw_path: String,
    pub raw_query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub has_body: bool,
    /// The body is exactly this many plain bytes (Content-Length, no
    /// aws-chunked coding): it can be read straight into aligned buffers.
    pub plain_length: Option<u64>,
    pub decoded_length: Option<u64>,
    /// The body is aws-chunked (as `x-amz-content-sha256: STREAMING-*` says).
    pub aws_chunked: bool,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }
}

/// The byte stream a connection runs over: TCP today, TLS or anything else
/// with monoio's owned-buffer read and write tomorrow. Nothing outside this
/// module names a concrete stream type.
pub trait Stream: AsyncReadRent + AsyncWriteRent {}

impl<T: AsyncReadRent + AsyncWriteRent> Stream for T {}

/// The connection's input: bytes read and not yet consumed, and the stream
/// (answers are written to it too).
pub(crate) struct Input<S> {
    pub buf: Vec<u8>,
    pub stream: S,
    /// Bytes of requests taken so far (heads and bodies), for the observe
    /// stage's byte counts.
    pub consumed: u64,
}

impl<S: Stream> Input<S> {
    /// Takes `n` bytes off the front of the buffer.
    pub(crate) fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.consumed += n as u64;
    }

    /// Reads more bytes; Ok(0) at end of stream.
    pub(crate) async fn fill(&mut self, timeout: Duration) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 16 * 1024 {
            self.buf.reserve(64 * 1024);
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let read = self
            .stream
            .read(monoio::buf::IoBufMut::slice_mut(buf, len..));
        match monoio::time::timeout(timeout, read).await {
            Ok((result, slice)) => {
                self.buf = slice.into_inner();
                result
            }
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    pub(crate) async fn write_all(&mut self, data: Vec<u8>) -> std::io::Result<()> {
        let (result, _) = self.stream.write_all(data).await;
        result.map(|_| ())
    }
}

/// Serves one connection from `peer` until it closes. The stages of each
/// request: read the head (here), route, authenticate, authorize and run
/// it ([`handlers::handle`]), write the response and observe it (here).
pub async fn serve_connection<S: Stream>(stream: S, peer: Option<SocketAddr>, ctx: &ThreadContext) {
    let mut input = Input {
        buf: Vec::with_capacity(64 * 1024),
        stream,
        consumed: 0,
    };
    let limits = ctx.config.limits;
    let mut first = true;
    loop {
        // The head.
        // The whole head must arrive within the header timeout, however
        // slowly it trickles in (slowloris); it starts with its first byte.
        let mut deadline: Option<std::time::Instant> = None;
        let (request, decoder, head_len) = loop {
            if !input.buf.is_empty() {
                let mut fields = [httparse::EMPTY_HEADER; 128];
                match RequestHead::parse(&input.buf, &mut fields, &limits) {
                    Ok(Status::Complete(head)) => {
                        let request = owned_request(&head);
                        let decoder = BodyDecoder::for_head(&head, &limits);
                        break (request, decoder, head.len());
                    }
                    Ok(Status::Partial) => {}
                    Err(e) => {
                        let id = ctx.request_id();
                        let resp = handlers::error_response(&S3Error::from(e), "", &id);
                        let _ = write_response(&mut input, resp, ctx, false, &id).await;
                        return;
                    }
                }
            }
            if input.buf.is_empty() && !first {
                // Idle between requests: wait in short slices so that a
                // shutdown closes idle connections promptly.
                if !wait_idle(&mut input, ctx).await {
                    return;
                }
                deadline = Some(std::time::Instant::now() + ctx.config.header_timeout);
                continue;
            }
            let now = std::time::Instant::now();
            let deadline = *deadline.get_or_insert(now + ctx.config.header_timeout);
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return;
            }
            match input.fill(left).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        first = false;
        let started = std::time::Instant::now();
        let consumed_before = input.consumed;
        input.consume(head_len);
        let id = ctx.request_id();
        let outcome = handlers::handle(ctx, &request, decoder, &mut input, &id, peer).await;
        // A body left unread (an error before it) leaves the stream's position
        // unknown: the connection closes after the answer.
        let keep_alive = request.keep_alive
            && outcome.body_consumed
            && !ctx.config.draining.load(Ordering::Relaxed);
        let status = outcome.response.status;
        let written = write_response(&mut input, outcome.response, ctx, keep_alive, &id).await;
        let route = outcome.route.as_ref();
        ctx.config.observer.observe(&RequestEvent {
            request_id: &id,
            operation: outcome.operation,
            bucket: route.and_then(|r| r.bucket.as_deref()),
            key: route.and_then(|r| r.key.as_deref()),
            status,
            bytes_in: input.consumed - consumed_before,
            bytes_out: *written.as_ref().unwrap_or(&0),
            time_to_response: started.elapsed(),
            identity: &outcome.identity,
            remote: peer,
        });
        if written.is_err() || !keep_alive {
            return;
        }
    }
}

/// Waits for the next request on an idle connection. False when the
/// connection should close: the peer closed, the idle timeout passed, or the
/// server is shutting down. (A read abandoned here is never followed by
/// another on this connection, so its bytes cannot be lost to a later read.)
async fn wait_idle(input: &mut Input<impl Stream>, ctx: &ThreadContext) -> bool {
    let draining = Arc::clone(&ctx.config.draining);
    let watch = async move {
        while !draining.load(Ordering::Relaxed) {
            monoio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    monoio::select! {
        filled = input.fill(ctx.config.idle_timeout) => matches!(filled, Ok(n) if n > 0),
        () = watch => false,
    }
}

fn owned_request(head: &RequestHead<'_, '_>) -> Request {
    let headers = head
        .headers()
        .iter()
        .map(|(n, v)| (n.to_owned(), v.to_vec()))
        .collect();
    Request {
        method: head.method(),
        method_str: head.method_str().to_owned(),
        raw_path: head.raw_path().to_owned(),
        raw_query: head.raw_query().to_owned(),
        headers,
        keep_alive: head.keep_alive(),
        expect_continue: head.expect_continue(),
        has_body: !matches!(
            head.framing(),
            sluice_http::Framing::Empty | sluice_http::Framing::Length(0)
        ),
        plain_length: match (head.framing(), head.aws_chunked()) {
            (sluice_http::Framing::Length(n), None) => Some(n),
            _ => None,
        },
        aws_chunked: head.aws_chunked().is_some(),
        decoded_length: head
            .aws_chunked()
            .map(|a| a.decoded_length)
            .or(match head.framing() {
                sluice_http::Framing::Length(n) => Some(n),
                _ => None,
            }),
    }
}

/// Writes the response head and body; the bytes written.
async fn write_response(
    input: &mut Input<impl Stream>,
    resp: Response,
    ctx: &ThreadContext,
    keep_alive: bool,
    id: &str,
) -> std::io::Result<u64> {
    let mut head = vec![0u8; 8192];
    let len = {
        let mut h = ResponseHead::new(&mut head, resp.status);
        h.header("x-amz-request-id", id)
            .header("x-amz-id-2", id)
            .header("Date", crate::time::http_date(SystemTime::now()));
        h.header("Server", "sluice");
        for (name, value) in &resp.headers {
            h.header(name, value);
        }
        let body_len = match &resp.body {
            handlers::Body::Bytes(b) => b.len() as u64,
            handlers::Body::Object { len, .. } => *len,
            handlers::Body::HeadOnly(n) => *n,
            handlers::Body::Empty => 0,
        };
        if !(resp.status == 204 || resp.status == 304) || body_len > 0 {
            h.content_length(body_len);
        }
        if !keep_alive {
            h.close();
        }
        match h.finish() {
            Ok(n) => n,
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
    };
    head.truncate(len);
    let total = len as u64
        + match &resp.body {
            handlers::Body::Bytes(b) => b.len() as u64,
            handlers::Body::Object { len, .. } => *len,
            handlers::Body::HeadOnly(_) | handlers::Body::Empty => 0,
        };
    match resp.body {
        handlers::Body::Bytes(b) => {
            head.extend_from_slice(&b);
            input.write_all(head).await.map(|()| total)
        }
        handlers::Body::Object { mut reader, len } => {
            let pool = ctx.pool_for(len);
            if len <= SMALL_BUF_SIZE as u64 {
                // A small object leaves with its head in one write.
                while let Some(chunk) = reader
                    .next_chunk(pool)
                    .await
                    .map_err(std::io::Error::from)?
                {
                    head.extend_from_slice(chunk.data());
                }
                return input.write_all(head).await.map(|()| total);
            }
            input.write_all(head).await?;
            while let Some(chunk) = reader
                .next_chunk(pool)
                .await
                .map_err(std::io::Error::from)?
            {
                let (start, len) = (chunk.start, chunk.len);
                let (result, _) = input
                    .stream
                    .write_all(monoio::buf::IoBuf::slice(chunk.buf, start..start + len))
                    .await;
                result?;
            }
            Ok(total)
        }
        handlers::Body::HeadOnly(_) | handlers::Body::Empty => {
            input.write_all(head).await.map(|()| total)
        }
    }
}

/// The error document as a response body.
pub(crate) fn error_body(err: &S3Error, resource: &str, id: &str) -> Vec<u8> {
    let detail = err.detail.as_ref().map(|(n, v)| (*n, v.as_str()));
    xml::error(err.code.as_str(), &err.message, detail, resource, id).into_bytes()
}
