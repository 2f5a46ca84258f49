//! One connection: read a head, hand the request to the stages
//! ([`crate::dispatch`]), write the response, observe it; keep-alive and
//! pipelining until the client closes or asks to. The only module that
//! knows a concrete byte stream (TCP, through [`serve`]).

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use monoio::net::TcpListener;
use sluice_http::{BodyDecoder, RequestHead, ResponseHead, Status};

use crate::context::{ThreadContext, SMALL_BUF_SIZE};
use crate::dispatch;
use crate::error::S3Error;
use crate::observe::RequestEvent;
use crate::request::{read_proxy_header, Input, Request, Stream};
use crate::response::{error_response, Body, Response};
use crate::storage::{ObjectRead, Storage};
use crate::tls::{accept, Accepted, TlsSource};

/// Runs a future, turning a panic inside it into `Err`: the runtime does not
/// catch a task's panic, and one would stop the thread with every
/// connection on it.
struct CatchUnwind<'a, T>(Pin<Box<dyn Future<Output = T> + 'a>>);

impl<T> Future for CatchUnwind<'_, T> {
    type Output = Result<T, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// ENOMEM, ENFILE, EMFILE, ENOBUFS (Linux): accept fails for want of
/// resources, not because of the connection.
const OUT_OF_RESOURCES: [i32; 4] = [12, 23, 24, 105];

/// Accepts connections on `listener` forever, one task per connection.
pub async fn serve<B: Storage>(listener: TcpListener, ctx: Rc<ThreadContext<B>>) {
    serve_on(listener, ctx, None).await;
}

/// [`serve`] for HTTPS: each connection's handshake uses the configuration
/// `tls` gives at that moment; plain HTTP gets a 400 saying so.
pub async fn serve_tls<B: Storage>(
    listener: TcpListener,
    ctx: Rc<ThreadContext<B>>,
    tls: Arc<dyn TlsSource>,
) {
    serve_on(listener, ctx, Some(tls)).await;
}

async fn serve_on<B: Storage>(
    listener: TcpListener,
    ctx: Rc<ThreadContext<B>>,
    tls: Option<Arc<dyn TlsSource>>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors or memory: the pending connection stays
                // in the backlog and accept fails again at once. Back off
                // instead of spinning; open connections go on being served.
                if e.raw_os_error()
                    .is_some_and(|n| OUT_OF_RESOURCES.contains(&n))
                {
                    tracing::warn!(error = %e, "accept failed; backing off");
                    monoio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        if ctx.config.draining.load(Ordering::Relaxed) {
            drop(stream);
            continue;
        }
        if ctx.connections.get() >= ctx.config.max_connections {
            shed(stream, &ctx, tls.is_none());
            continue;
        }
        let _ = stream.set_nodelay(true);
        let ctx = Rc::clone(&ctx);
        let tls = tls.clone();
        // Counted from the accept until its socket is closed: the task
        // drops the stream with no operation of it in flight (every timed
        // operation is awaited to its end, see `Input::timed`), so the
        // close is submitted before the count goes down.
        ctx.connections.set(ctx.connections.get().saturating_add(1));
        ctx.gauge.fetch_add(1, Ordering::Relaxed);
        ctx.config.active.fetch_add(1, Ordering::SeqCst);
        monoio::spawn(async move {
            // A panic in a request closes its connection only (the
            // request's state is unknown, so no answer); the thread and its
            // other connections go on. One guard per connection, not per
            // request: it costs nothing on the request path.
            let last_id = RefCell::new(String::new());
            let served = CatchUnwind(Box::pin(async {
                let mut stream = stream;
                let Some(client) = Box::pin(client_address(&mut stream, peer, &ctx)).await else {
                    return;
                };
                // Each kind of connection's state boxed on its own: the task
                // of a plain one does not hold the room of a TLS one.
                match tls {
                    None => {
                        Box::pin(serve_tracked(stream, Some(client), &ctx, &last_id, false)).await
                    }
                    Some(tls) => {
                        let timeout = ctx.config.header_timeout;
                        let accepted = Box::pin(accept(stream, &*tls, timeout)).await;
                        if let Accepted::Tls(conn) = accepted {
                            Box::pin(serve_tracked(*conn, Some(client), &ctx, &last_id, true))
                                .await;
                        }
                    }
                }
            }))
            .await;
            if let Err(panic) = served {
                ctx.config.panics.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    request_id = %last_id.borrow(),
                    peer = %peer,
                    panic = panic_message(&*panic),
                    "request panicked; connection closed"
                );
            }
            ctx.connections.set(ctx.connections.get().saturating_sub(1));
            ctx.gauge.fetch_sub(1, Ordering::Relaxed);
            ctx.config.active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Connections being answered 503 SlowDown at once, per thread, over the
/// cap: past them the ones over the cap are closed without an answer, so a
/// flood of connections costs at most these few more sockets.
const SHEDDING_AT_ONCE: usize = 64;

/// How long what a shed connection's client sent is read after the answer
/// (so that closing does not reset the answer away before the client
/// reads it; see [`Input::linger`]).
const SHED_LINGER: Duration = Duration::from_secs(1);

/// A connection over the thread's cap (`max_connections`): counted, and
/// over plain HTTP answered 503 SlowDown (what S3 answers a client to back
/// off, which SDKs retry with backoff) without reading its request, then
/// closed; over HTTPS closed at once (an answer would need a handshake).
fn shed<B: Storage>(stream: monoio::net::TcpStream, ctx: &Rc<ThreadContext<B>>, plain: bool) {
    ctx.config
        .stats
        .connections_shed
        .fetch_add(1, Ordering::Relaxed);
    if !plain || ctx.shedding.get() >= SHEDDING_AT_ONCE {
        drop(stream);
        return;
    }
    let _ = stream.set_nodelay(true);
    ctx.shedding.set(ctx.shedding.get().saturating_add(1));
    let ctx = Rc::clone(ctx);
    monoio::spawn(async move {
        let mut input = Input::new(stream);
        let id = ctx.request_id();
        let err = S3Error::new(
            crate::error::S3ErrorCode::SlowDown,
            "The server holds as many connections as it serves; retry later.",
        );
        let mut resp: Response = error_response(&err, "", &id);
        resp.headers
            .push(("Retry-After".to_owned(), "1".to_owned()));
        // A few hundred bytes into a fresh socket's empty buffer: the
        // write does not wait on the client.
        if write_response(&mut input, resp, &ctx, false, &id)
            .await
            .is_ok()
        {
            input.linger_for(SHED_LINGER).await;
        }
        ctx.shedding.set(ctx.shedding.get().saturating_sub(1));
    });
}

/// The address a connection is from: its peer's, or, from a load balancer
/// that sends the PROXY protocol (`proxy_protocol_from`), the client's the
/// header names. None when such a connection's header is missing or bad
/// (it is closed).
async fn client_address<S: Stream>(
    stream: &mut S,
    peer: SocketAddr,
    ctx: &ThreadContext<impl Storage>,
) -> Option<SocketAddr> {
    let ip = peer.ip().to_canonical();
    let trusted = ctx
        .config
        .proxy_protocol_from
        .iter()
        .any(|&(net, bits)| in_network(ip, net, bits));
    if !trusted {
        return Some(peer);
    }
    match read_proxy_header(stream, ctx.config.header_timeout).await {
        Ok(client) => Some(client.unwrap_or(peer)),
        Err(()) => {
            tracing::debug!(peer = %peer, "no valid PROXY protocol header from a load balancer; closed");
            None
        }
    }
}

/// Whether `ip` is within `net`/`bits`.
pub(crate) fn in_network(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u8) -> bool {
    use std::net::IpAddr::{V4, V6};
    match (ip.to_canonical(), net) {
        (V4(a), V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32u32.saturating_sub(u32::from(bits)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (V6(a), V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128u32.saturating_sub(u32::from(bits)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Serves one connection from `peer` until it closes. The stages of each
/// request: read the head (here), route, authenticate, authorize and run
/// it ([`handlers::handle`]), write the response and observe it (here).
pub async fn serve_connection<S: Stream>(
    stream: S,
    peer: Option<SocketAddr>,
    ctx: &ThreadContext<impl Storage>,
) {
    serve_tracked(stream, peer, ctx, &RefCell::new(String::new()), false).await;
}

/// [`serve_connection`], keeping the id of the request in progress in
/// `last_id` for the panic guard to log.
async fn serve_tracked<S: Stream>(
    stream: S,
    peer: Option<SocketAddr>,
    ctx: &ThreadContext<impl Storage>,
    last_id: &RefCell<String>,
    secure: bool,
) {
    let mut input = Input::new(stream);
    let limits = ctx.config.limits;
    let mut first = true;
    loop {
        // The head.
        // The whole head must arrive within the header timeout, however
        // slowly it trickles in (slowloris); it starts with its first byte.
        let mut deadline: Option<std::time::Instant> = None;
        let (request, decoder, head_len) = loop {
            if !input.buf.is_empty() {
                // Parsed in a block of its own, so that the header array
                // is not part of the connection's state across an await.
                let parsed = {
                    let mut fields = [httparse::EMPTY_HEADER; 128];
                    match RequestHead::parse(&input.buf, &mut fields, &limits) {
                        Ok(Status::Complete(head)) => Ok(Some((
                            owned_request(&head, secure),
                            BodyDecoder::for_head(&head, &limits),
                            head.len(),
                        ))),
                        Ok(Status::Partial) => Ok(None),
                        Err(e) => Err(S3Error::from(e)),
                    }
                };
                match parsed {
                    Ok(Some(complete)) => break complete,
                    Ok(None) => {}
                    Err(e) => {
                        Box::pin(refuse_head(&mut input, e, peer, ctx, secure)).await;
                        return;
                    }
                }
            }
            if input.buf.is_empty() && !first {
                // Idle between requests: wait in short slices so that a
                // shutdown closes idle connections promptly.
                input.shrink_when_idle();
                if !Box::pin(wait_idle(&mut input, ctx)).await {
                    return;
                }
                deadline = Some(after(ctx.config.header_timeout));
                continue;
            }
            let now = std::time::Instant::now();
            let deadline = *deadline.get_or_insert_with(|| after(ctx.config.header_timeout));
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
        let _in_flight = ctx.in_flight();
        last_id.borrow_mut().clone_from(&id);
        // Boxed: the request's state machine (routing, authentication, the
        // handlers) is allocated while a request runs, so an idle
        // connection's task holds only this loop's state.
        let outcome = Box::pin(dispatch::handle(
            ctx, &request, decoder, &mut input, &id, peer,
        ))
        .await;
        // A body left unread (an error before it) leaves the stream's position
        // unknown: the connection closes after the answer.
        let keep_alive = request.keep_alive
            && outcome.body_consumed
            && !ctx.config.draining.load(Ordering::Relaxed);
        let status = outcome.response.status;
        let time_to_first_byte = started.elapsed();
        let response_headers = if ctx.config.observer.wants_headers() {
            outcome.response.headers.clone()
        } else {
            Vec::new()
        };
        let route = outcome.route.as_ref();
        let bytes_in = input.consumed.saturating_sub(consumed_before);
        let observe = |bytes_out: u64| {
            ctx.config.observer.observe(&RequestEvent {
                request_id: &id,
                method: &request.method_str,
                path: &request.raw_path,
                operation: outcome.operation,
                bucket: route.and_then(|r| r.bucket.as_deref()),
                key: route.and_then(|r| r.key.as_deref()),
                status,
                error: outcome.error,
                bytes_in,
                bytes_out,
                time_to_response: started.elapsed(),
                time_to_first_byte,
                identity: &outcome.identity,
                remote: peer,
                query: &request.raw_query,
                request_headers: &request.headers,
                response_headers: &response_headers,
                secure,
            });
        };
        let written = match response_head(outcome.response, keep_alive, &id) {
            Err(e) => {
                observe(0);
                settle(ctx).await;
                Err(e)
            }
            Ok((head, total, body)) => {
                // An observer that flushes (the audit spool) has the event
                // of an answer that leaves in one write (every answer but a
                // streamed object's) before the client can read it: what a
                // client was told is never missing from the audit trail,
                // whatever happens to the server after. A streamed object's
                // event is made once it was sent, with the bytes that left.
                let before = ctx.config.observer.wants_flush()
                    && !matches!(&body, Body::Object { len, .. } if *len > SMALL_BUF_SIZE as u64);
                if before {
                    observe(total);
                    settle(ctx).await;
                }
                let written = Box::pin(send_response(&mut input, head, total, body, ctx)).await;
                if !before {
                    observe(*written.as_ref().unwrap_or(&0));
                    settle(ctx).await;
                }
                written
            }
        };
        if written.is_err() {
            return;
        }
        if !keep_alive {
            if outcome.body_consumed {
                input.close_write(ctx.config.send_timeout).await;
            } else {
                input.linger().await;
            }
            return;
        }
    }
}

/// Answers a request head that could not be read with its error, and
/// observes it (audited, counted) as what it is: a request that could not
/// be read. The connection closes after.
async fn refuse_head<S: Stream>(
    input: &mut Input<S>,
    e: S3Error,
    peer: Option<SocketAddr>,
    ctx: &ThreadContext<impl Storage>,
    secure: bool,
) {
    let started = std::time::Instant::now();
    let id = ctx.request_id();
    let resp = error_response(&e, "", &id);
    let status = resp.status;
    let error = Some(e.code);
    let written = write_response(input, resp, ctx, false, &id).await;
    let identity = crate::access::Identity::Anonymous;
    ctx.config.observer.observe(&RequestEvent {
        request_id: &id,
        method: "",
        path: "",
        operation: "",
        bucket: None,
        key: None,
        status,
        error,
        bytes_in: input.buf.len() as u64,
        bytes_out: *written.as_ref().unwrap_or(&0),
        time_to_response: started.elapsed(),
        time_to_first_byte: std::time::Duration::ZERO,
        identity: &identity,
        remote: peer,
        query: "",
        request_headers: &[],
        response_headers: &[],
        secure,
    });
    settle(ctx).await;
}

/// Waits, when the observer gathers events per thread, until what it
/// gathered was flushed ([`crate::Observer::wants_flush`]).
async fn settle(ctx: &ThreadContext<impl Storage>) {
    if ctx.config.observer.wants_flush() {
        crate::observe::FlushGate::settle(&ctx.flush_gate, &ctx.config.observer).await;
    }
}

/// The instant `wait` from now. Timeouts are checked to be finite when
/// configured; one too far to represent is a year (practically never).
fn after(wait: Duration) -> std::time::Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    let now = std::time::Instant::now();
    now.checked_add(wait.min(YEAR)).unwrap_or(now)
}

/// Waits for the next request on an idle connection. False when the
/// connection should close: the peer closed, the idle timeout passed, or the
/// server is shutting down. One read waits for the whole idle timeout; a
/// watch of the shutdown flag (every 250 ms, a timer only) cancels it, so
/// that a shutdown closes idle connections promptly and no byte is lost.
async fn wait_idle(input: &mut Input<impl Stream>, ctx: &ThreadContext<impl Storage>) -> bool {
    let draining = &ctx.config.draining;
    if draining.load(Ordering::Relaxed) {
        return false;
    }
    let watch = async {
        while !draining.load(Ordering::Relaxed) {
            monoio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    matches!(input.fill_until(ctx.config.idle_timeout, watch).await, Ok(n) if n > 0)
}

fn owned_request(head: &RequestHead<'_, '_>, secure: bool) -> Request {
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
        secure,
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
async fn write_response<R: ObjectRead>(
    input: &mut Input<impl Stream>,
    resp: Response<R>,
    ctx: &ThreadContext<impl Storage>,
    keep_alive: bool,
    id: &str,
) -> std::io::Result<u64> {
    let (head, total, body) = response_head(resp, keep_alive, id)?;
    send_response(input, head, total, body, ctx).await
}

/// The head of `resp` as it is sent, the bytes the whole answer will take,
/// and its body.
fn response_head<R: ObjectRead>(
    resp: Response<R>,
    keep_alive: bool,
    id: &str,
) -> std::io::Result<(Vec<u8>, u64, Body<R>)> {
    // Most heads fit 1 KiB; one with much metadata gets up to 8 KiB.
    let mut head = vec![0u8; 1024];
    let len = loop {
        let mut h = ResponseHead::new(&mut head, resp.status);
        h.header("x-amz-request-id", id)
            .header("x-amz-id-2", id)
            .header("Date", crate::time::http_date(SystemTime::now()));
        h.header("Server", "sluice");
        for (name, value) in &resp.headers {
            h.header(name, value);
        }
        let body_len = match &resp.body {
            Body::Bytes(b) => b.len() as u64,
            Body::Object { len, .. } => *len,
            Body::HeadOnly(n) => *n,
            Body::Empty => 0,
        };
        if !(resp.status == 204 || resp.status == 304) || body_len > 0 {
            h.content_length(body_len);
        }
        if !keep_alive {
            h.close();
        }
        match h.finish() {
            Ok(n) => break n,
            Err(sluice_http::Error::ResponseBufferFull) if head.len() < 8192 => {
                head = vec![0u8; 8192];
            }
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
    };
    head.truncate(len);
    let total = (len as u64).saturating_add(match &resp.body {
        Body::Bytes(b) => b.len() as u64,
        Body::Object { len, .. } => *len,
        Body::HeadOnly(_) | Body::Empty => 0,
    });
    Ok((head, total, resp.body))
}

/// Sends an answer made by [`response_head`]; the bytes sent.
async fn send_response<R: ObjectRead>(
    input: &mut Input<impl Stream>,
    mut head: Vec<u8>,
    total: u64,
    body: Body<R>,
    ctx: &ThreadContext<impl Storage>,
) -> std::io::Result<u64> {
    match body {
        Body::Bytes(b) => {
            head.extend_from_slice(&b);
            input
                .write_all(head, ctx.config.send_timeout)
                .await
                .map(|()| total)
        }
        Body::Object { mut reader, len } => {
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
                return input
                    .write_all(head, ctx.config.send_timeout)
                    .await
                    .map(|()| total);
            }
            input.write_all(head, ctx.config.send_timeout).await?;
            while let Some(chunk) = reader
                .next_chunk(pool)
                .await
                .map_err(std::io::Error::from)?
            {
                let (start, end) = (chunk.start, chunk.start.saturating_add(chunk.len));
                input
                    .send(chunk.buf, start, end, ctx.config.send_timeout)
                    .await?;
            }
            Ok(total)
        }
        Body::HeadOnly(_) | Body::Empty => input
            .write_all(head, ctx.config.send_timeout)
            .await
            .map(|()| total),
    }
}

#[cfg(test)]
mod tests {
    use super::in_network;

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(in_network(ip("10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(!in_network(ip("11.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_network(ip("10.1.2.3"), ip("10.1.2.3"), 32));
        assert!(!in_network(ip("10.1.2.4"), ip("10.1.2.3"), 32));
        assert!(in_network(ip("1.2.3.4"), ip("0.0.0.0"), 0));
        assert!(in_network(ip("::ffff:10.0.0.1"), ip("10.0.0.0"), 24));
        assert!(in_network(ip("2001:db8::5"), ip("2001:db8::"), 32));
        assert!(!in_network(ip("2001:db9::5"), ip("2001:db8::"), 32));
        assert!(!in_network(ip("10.0.0.1"), ip("::"), 0));
    }
}
