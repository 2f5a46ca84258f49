//! HTTPS: a connection's first bytes decide whether it speaks TLS (a
//! handshake record starts with 0x16) or plain HTTP (answered with a 400
//! saying this port speaks HTTPS, as nginx does, rather than a reset);
//! TLS connections are served by rustls (through monoio-rustls) over the
//! same thread-per-core runtime, with the configuration a [`TlsSource`]
//! hands out at the moment of the handshake, so a certificate replaced
//! while the server runs is used by new connections and open ones keep
//! theirs.
//!
//! Every operation of a connection must be cancelable (see
//! [`crate::request::Stream`]): a read that times out is cancelled and
//! awaited to its end. monoio-rustls drives the socket with plain reads
//! and writes, so the socket under it is wrapped in [`Cancelable`], which
//! issues them with the cancel handle of the TLS operation in progress.

use std::cell::RefCell;
use std::future::Future;
use std::io::Cursor;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, CancelHandle, CancelableAsyncReadRent, CancelableAsyncWriteRent,
    Canceller, PrefixedReadIo,
};
use monoio::BufResult;

/// Where the server's TLS configuration comes from: asked once per
/// handshake, so an implementation that reloads its certificate hands the
/// new one to the next connection.
pub trait TlsSource: Send + Sync + std::fmt::Debug {
    /// The configuration for a connection starting now.
    fn server_config(&self) -> Arc<rustls::ServerConfig>;
}

/// A fixed configuration.
#[derive(Debug, Clone)]
pub struct FixedTls(pub Arc<rustls::ServerConfig>);

impl TlsSource for FixedTls {
    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.0)
    }
}

/// A rustls configuration for a server: TLS 1.2 and 1.3 only, ring as the
/// provider, HTTP/1.1 offered by ALPN.
///
/// # Errors
/// The key does not match the certificate, or rustls refuses either.
pub fn server_config(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The answer to plain HTTP sent to the HTTPS port.
fn plain_http_answer() -> Vec<u8> {
    let text = "This port speaks HTTPS: the request was sent as plain HTTP. Use https://.\n";
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

/// A socket whose reads and writes use the cancel handle of the TLS
/// operation in progress (none between operations).
pub(crate) struct Cancelable<IO> {
    io: IO,
    handle: Rc<RefCell<Option<CancelHandle>>>,
}

impl<IO: CancelableAsyncReadRent> AsyncReadRent for Cancelable<IO> {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let handle = self.handle.borrow().clone();
        match handle {
            Some(c) => self.io.cancelable_read(buf, c).await,
            None => self.io.read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let handle = self.handle.borrow().clone();
        match handle {
            Some(c) => self.io.cancelable_readv(buf, c).await,
            None => self.io.readv(buf).await,
        }
    }
}

impl<IO: CancelableAsyncWriteRent> AsyncWriteRent for Cancelable<IO> {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let handle = self.handle.borrow().clone();
        match handle {
            Some(c) => self.io.cancelable_write(buf, c).await,
            None => self.io.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let handle = self.handle.borrow().clone();
        match handle {
            Some(c) => self.io.cancelable_writev(buf, c).await,
            None => self.io.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.io.flush().await
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        self.io.shutdown().await
    }
}

type Socket = PrefixedReadIo<monoio::net::TcpStream, Cursor<Vec<u8>>>;

/// A TLS connection whose operations can be cancelled.
pub(crate) struct TlsConnection {
    tls: monoio_rustls::ServerTlsStream<Cancelable<Socket>>,
    handle: Rc<RefCell<Option<CancelHandle>>>,
}

/// Runs one TLS operation with `$c` as the cancel handle of the socket
/// operations it makes, and none after it.
macro_rules! with_handle {
    ($self:ident, $c:expr, $op:expr) => {{
        *$self.handle.borrow_mut() = Some($c);
        let out = $op.await;
        *$self.handle.borrow_mut() = None;
        out
    }};
}

impl AsyncReadRent for TlsConnection {
    fn read<T: IoBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.tls.read(buf)
    }

    fn readv<T: IoVecBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.tls.readv(buf)
    }
}

impl AsyncWriteRent for TlsConnection {
    fn write<T: IoBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.tls.write(buf)
    }

    fn writev<T: IoVecBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.tls.writev(buf)
    }

    fn flush(&mut self) -> impl Future<Output = std::io::Result<()>> {
        self.tls.flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = std::io::Result<()>> {
        self.tls.shutdown()
    }
}

impl CancelableAsyncReadRent for TlsConnection {
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        with_handle!(self, c, self.tls.read(buf))
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        with_handle!(self, c, self.tls.readv(buf))
    }
}

impl CancelableAsyncWriteRent for TlsConnection {
    async fn cancelable_write<T: IoBuf>(&mut self, buf: T, c: CancelHandle) -> BufResult<usize, T> {
        with_handle!(self, c, self.tls.write(buf))
    }

    async fn cancelable_writev<T: IoVecBuf>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        with_handle!(self, c, self.tls.writev(buf))
    }

    async fn cancelable_flush(&mut self, c: CancelHandle) -> std::io::Result<()> {
        with_handle!(self, c, self.tls.flush())
    }

    async fn cancelable_shutdown(&mut self, c: CancelHandle) -> std::io::Result<()> {
        with_handle!(self, c, self.tls.shutdown())
    }
}

/// What a new connection on the HTTPS port turned out to be.
pub(crate) enum Accepted {
    /// A completed TLS handshake.
    Tls(Box<TlsConnection>),
    /// Nothing to serve: plain HTTP (answered), garbage, silence or a
    /// failed handshake.
    Closed,
}

/// Reads a new connection's first bytes (within `timeout`) and completes
/// a TLS handshake (within `timeout` more), or answers plain HTTP with a
/// 400.
pub(crate) async fn accept(
    mut tcp: monoio::net::TcpStream,
    source: &dyn TlsSource,
    timeout: Duration,
) -> Accepted {
    let mut canceller = Canceller::new();
    let first = Vec::with_capacity(4096);
    let handle = canceller.handle();
    let (read, first) =
        cancel_after(&mut canceller, timeout, tcp.cancelable_read(first, handle)).await;
    let Ok(n) = read else {
        return Accepted::Closed;
    };
    match first.first() {
        Some(0x16) if n > 0 => {}
        Some(b) if b.is_ascii_uppercase() => {
            let handle = canceller.handle();
            let (_, _) = cancel_after(
                &mut canceller,
                timeout,
                tcp.cancelable_write(plain_http_answer(), handle),
            )
            .await;
            let _ = tcp.shutdown().await;
            return Accepted::Closed;
        }
        _ => return Accepted::Closed,
    }
    let handle = Rc::new(RefCell::new(Some(canceller.handle())));
    let socket = Cancelable {
        io: PrefixedReadIo::new(tcp, Cursor::new(first)),
        handle: Rc::clone(&handle),
    };
    let acceptor = monoio_rustls::TlsAcceptor::from(source.server_config());
    let handshake = acceptor.accept(socket);
    let mut handshake = std::pin::pin!(handshake);
    let sleep = monoio::time::sleep(timeout);
    let mut sleep = std::pin::pin!(sleep);
    let done = std::future::poll_fn(|cx| {
        if let Poll::Ready(done) = handshake.as_mut().poll(cx) {
            return Poll::Ready(Some(done));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    // A handshake that timed out is cancelled and awaited to its end: no
    // operation of the connection outlives it.
    let done = match done {
        Some(done) => done,
        None => {
            let _ = std::mem::take(&mut canceller).cancel();
            handshake.await
        }
    };
    *handle.borrow_mut() = None;
    match done {
        Ok(tls) => Accepted::Tls(Box::new(TlsConnection { tls, handle })),
        Err(e) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            Accepted::Closed
        }
    }
}

/// Runs a socket operation for at most `timeout`; past it the operation is
/// cancelled and awaited to its end.
async fn cancel_after<T>(
    canceller: &mut Canceller,
    timeout: Duration,
    op: impl Future<Output = BufResult<usize, T>>,
) -> BufResult<usize, T> {
    let mut op = std::pin::pin!(op);
    let sleep = monoio::time::sleep(timeout);
    let mut sleep = std::pin::pin!(sleep);
    let first = std::future::poll_fn(|cx| {
        if let Poll::Ready(done) = op.as_mut().poll(cx) {
            return Poll::Ready(Some(done));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match first {
        Some(done) => done,
        None => {
            *canceller = std::mem::take(canceller).cancel();
            let (_, buf) = op.await;
            (Err(std::io::ErrorKind::TimedOut.into()), buf)
        }
    }
}
