//! A request as the stages see it: the owned head, and the connection's
//! input (bytes read and not yet consumed, over any byte stream).

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{CancelableAsyncReadRent, CancelableAsyncWriteRent, Canceller};
use monoio::BufResult;

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
    /// It came over TLS (`aws:SecureTransport`).
    pub secure: bool,
}

impl Request {
    /// Whether the request carries no signature at all (no SigV4 or SigV2
    /// Authorization header, no presigned query).
    pub(crate) fn is_unsigned(&self) -> bool {
        let signed = sluice_sigv4::SignedRequest {
            method: &self.method_str,
            path: &self.raw_path,
            query: &self.raw_query,
            headers: &self.headers[..],
        };
        sluice_sigv4::auth_kind(&signed) == sluice_sigv4::AuthKind::Anonymous
            && !sluice_sigv4::is_sigv2(&signed)
    }

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
/// module names a concrete stream type. Its operations must be cancelable:
/// an operation that times out is cancelled and awaited to its end, so no
/// operation outlives its connection (see [`Input::timed`]).
pub trait Stream: CancelableAsyncReadRent + CancelableAsyncWriteRent {}

impl<T: CancelableAsyncReadRent + CancelableAsyncWriteRent> Stream for T {}

/// The connection's input: bytes read and not yet consumed, and the stream
/// (answers are written to it too).
pub(crate) struct Input<S> {
    pub buf: Vec<u8>,
    pub stream: S,
    /// Bytes of requests taken so far (heads and bodies), for the observe
    /// stage's byte counts.
    pub consumed: u64,
    /// Cancels the operation in flight when it times out (one per
    /// connection: a fresh one after each cancellation).
    canceller: Canceller,
}

/// The input buffer a connection starts with, and returns to when idle: a
/// request head with a small body arrives in one read. Idle connections
/// (thousands of them, under a flood) hold this much each, not more.
pub(crate) const FIRST_READ: usize = 8 << 10;

/// What the input buffer grows by when a head or a framed body needs more.
const GROWN_READ: usize = 64 << 10;

/// Most time a connection spends, after answering a request whose body it
/// did not read, reading what the client still sends (see [`Input::linger`]).
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Most bytes it reads then.
const LINGER_BYTES: u64 = 64 << 20;

/// What a timed operation came to.
enum Timed<T> {
    Done(std::io::Result<usize>, T),
    /// Timed out and cancelled; the operation has ended and its buffer is
    /// back. Bytes it moved in the race with its cancellation are counted
    /// in the result (a read that landed is kept, not lost).
    TimedOut(std::io::Result<usize>, T),
}

/// Runs `op`, an I/O operation made with a handle of `canceller`, for at
/// most `timeout`. When it times out it is cancelled and then awaited to its
/// end: dropping it instead would leave the kernel operation (and with it
/// the socket) alive until the cancellation lands, after the connection has
/// ended and its slot under the per-thread cap was given back. So when a
/// connection ends nothing of it is in flight, and its socket is closed as
/// its stream drops.
///
/// `stop` ends the wait early the same way (a shutdown closing idle
/// connections); `std::future::pending()` when nothing but the timeout may.
async fn timed<T>(
    canceller: &mut Canceller,
    timeout: Duration,
    stop: impl Future<Output = ()>,
    op: impl Future<Output = BufResult<usize, T>>,
) -> Timed<T> {
    let mut op = std::pin::pin!(op);
    let sleep = monoio::time::sleep(timeout);
    let mut sleep = std::pin::pin!(sleep);
    let mut stop = std::pin::pin!(stop);
    let first = std::future::poll_fn(|cx| {
        if let Poll::Ready(done) = op.as_mut().poll(cx) {
            return Poll::Ready(Some(done));
        }
        if sleep.as_mut().poll(cx).is_ready() || stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match first {
        Some((result, buf)) => Timed::Done(result, buf),
        None => {
            *canceller = std::mem::take(canceller).cancel();
            let (result, buf) = op.await;
            Timed::TimedOut(result, buf)
        }
    }
}

/// Reads the PROXY protocol header a load balancer sends before anything
/// else, byte for byte as the parser asks (what follows may be a TLS
/// handshake another reader takes), within `timeout`: the client's address
/// it names (None: the balancer's own connection). Err when it is missing,
/// malformed or late: the connection is to be closed.
pub(crate) async fn read_proxy_header<S: Stream>(
    stream: &mut S,
    timeout: Duration,
) -> Result<Option<std::net::SocketAddr>, ()> {
    use sluice_http::proxy::{parse, ProxyStatus};
    let started = std::time::Instant::now();
    let mut canceller = Canceller::new();
    let mut have = Vec::new();
    loop {
        let want = match parse(&have) {
            Ok(ProxyStatus::Complete { source, .. }) => return Ok(source),
            Ok(ProxyStatus::Partial(n)) => n,
            Err(_) => return Err(()),
        };
        let left = timeout.saturating_sub(started.elapsed());
        // At most `want` bytes: never past the header.
        let slice = Vec::with_capacity(want).slice_mut(0..want);
        let op = stream.cancelable_read(slice, canceller.handle());
        match timed(&mut canceller, left, std::future::pending(), op).await {
            Timed::Done(Ok(n), slice) if n > 0 => have.extend_from_slice(&slice.into_inner()),
            _ => return Err(()),
        }
    }
}

impl<S: Stream> Input<S> {
    pub(crate) fn new(stream: S) -> Self {
        Input {
            buf: Vec::new(),
            stream,
            consumed: 0,
            canceller: Canceller::new(),
        }
    }

    /// Between requests, with nothing buffered: a buffer grown for a large
    /// head or a framed body goes back to the allocator, so an idle
    /// connection holds [`FIRST_READ`] bytes, not what its largest request
    /// needed.
    pub(crate) fn shrink_when_idle(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > FIRST_READ {
            self.buf = Vec::new();
        }
    }

    /// Takes `n` bytes off the front of the buffer.
    pub(crate) fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.consumed = self.consumed.saturating_add(n as u64);
    }

    /// Reads more bytes; Ok(0) at end of stream, TimedOut when nothing came
    /// for `timeout`.
    pub(crate) async fn fill(&mut self, timeout: Duration) -> std::io::Result<usize> {
        self.fill_until(timeout, std::future::pending()).await
    }

    /// [`Input::fill`], ending early (TimedOut) when `stop` completes; no
    /// byte that arrived is lost to the cancellation.
    pub(crate) async fn fill_until(
        &mut self,
        timeout: Duration,
        stop: impl Future<Output = ()>,
    ) -> std::io::Result<usize> {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(FIRST_READ);
        } else if self.buf.capacity().saturating_sub(self.buf.len()) < FIRST_READ / 2 {
            self.buf.reserve(GROWN_READ);
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let slice = monoio::buf::IoBufMut::slice_mut(buf, len..);
        let op = self.stream.cancelable_read(slice, self.canceller.handle());
        match timed(&mut self.canceller, timeout, stop, op).await {
            Timed::Done(result, slice) => {
                self.buf = slice.into_inner();
                result
            }
            Timed::TimedOut(result, slice) => {
                self.buf = slice.into_inner();
                match result {
                    // The read landed as it was being cancelled: keep it.
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(std::io::ErrorKind::TimedOut.into()),
                }
            }
        }
    }

    /// Reads straight from the stream into `buf[start..end]` (a body into
    /// an aligned buffer, bypassing the input buffer); Ok(0) at end of
    /// stream, TimedOut when nothing came for `timeout`.
    pub(crate) async fn read_into<T: IoBuf + IoBufMut + 'static>(
        &mut self,
        buf: T,
        start: usize,
        end: usize,
        timeout: Duration,
    ) -> (std::io::Result<usize>, T) {
        let slice = monoio::buf::IoBufMut::slice_mut(buf, start..end);
        let op = self.stream.cancelable_read(slice, self.canceller.handle());
        match timed(&mut self.canceller, timeout, std::future::pending(), op).await {
            Timed::Done(result, slice) => (result, slice.into_inner()),
            Timed::TimedOut(result, slice) => match result {
                Ok(n) if n > 0 => (Ok(n), slice.into_inner()),
                _ => (Err(std::io::ErrorKind::TimedOut.into()), slice.into_inner()),
            },
        }
    }

    /// Writes `buf[start..end]`, failing with TimedOut when a single write
    /// makes no progress for `timeout`: a client that stops reading cannot
    /// hold the connection and its buffers.
    pub(crate) async fn send<T: IoBuf + 'static>(
        &mut self,
        mut buf: T,
        start: usize,
        end: usize,
        timeout: Duration,
    ) -> std::io::Result<()> {
        let mut pos = start;
        while pos < end {
            let slice = IoBuf::slice(buf, pos..end);
            let op = self.stream.cancelable_write(slice, self.canceller.handle());
            let (result, slice) =
                match timed(&mut self.canceller, timeout, std::future::pending(), op).await {
                    Timed::Done(result, slice) => (result, slice),
                    Timed::TimedOut(..) => return Err(std::io::ErrorKind::TimedOut.into()),
                };
            buf = slice.into_inner();
            match result? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                n => pos = pos.saturating_add(n),
            }
        }
        Ok(())
    }

    /// A lingering close, as nginx does it, after an answer to a request
    /// whose body was not read (a refusal before or during the body): the
    /// write side is shut (the client sees the answer end), and what the
    /// client still sends is read and dropped for at most [`LINGER_TIME`]
    /// and [`LINGER_BYTES`]. Closing at once with unread bytes makes the
    /// kernel reset the connection, and a client still sending (a browser
    /// posting a form, which does not wait for 100-continue) then loses the
    /// answer to the reset instead of reading the error.
    pub(crate) async fn linger(&mut self) {
        self.linger_for(LINGER_TIME).await;
    }

    /// [`Input::linger`] for at most `time`.
    pub(crate) async fn linger_for(&mut self, time: Duration) {
        if self
            .stream
            .cancelable_shutdown(self.canceller.handle())
            .await
            .is_err()
        {
            return;
        }
        let deadline = std::time::Instant::now().checked_add(time);
        let mut read = 0u64;
        while read < LINGER_BYTES {
            let left = deadline.map_or(Duration::ZERO, |d| {
                d.saturating_duration_since(std::time::Instant::now())
            });
            if left.is_zero() {
                return;
            }
            self.buf.clear();
            match self.fill(left).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read = read.saturating_add(n as u64),
            }
        }
    }

    /// Closes the write side after the last answer, within `timeout`: over
    /// TLS a close_notify first, so that a client can tell the end from a
    /// truncation (a plain socket just sends its FIN earlier).
    pub(crate) async fn close_write(&mut self, timeout: Duration) {
        let Input {
            stream, canceller, ..
        } = self;
        let op = stream.cancelable_shutdown(canceller.handle());
        let op = async move { (op.await.map(|()| 0usize), ()) };
        let _ = timed(canceller, timeout, std::future::pending(), op).await;
    }

    /// Writes all of `data` (see [`Input::send`]).
    pub(crate) async fn write_all(
        &mut self,
        data: Vec<u8>,
        timeout: Duration,
    ) -> std::io::Result<()> {
        let end = data.len();
        self.send(data, 0, end, timeout).await
    }
}
