//! HTTPS: a connection's first bytes decide whether it speaks TLS (a
//! handshake record starts with 0x16) or plain HTTP (answered with a 400
//! saying this port speaks HTTPS, as nginx does, rather than a reset);
//! TLS connections are served by rustls (through monoio-rustls) over the
//! same thread-per-core runtime, with the configuration a [`TlsSource`]
//! hands out at the moment of the handshake, so a certificate replaced
//! while the server runs is used by new connections and open ones keep
//! theirs.
//!
//! The TLS stream itself is sluice-core's [`sluice_core::TlsStream`]: its
//! socket operations carry the caller's cancel handles (a read that times
//! out is cancelled and awaited to its end, as on a plain socket) and are
//! sized to the caller's buffers.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use monoio::io::{AsyncWriteRent, CancelableAsyncReadRent, CancelableAsyncWriteRent, Canceller};
use sluice_core::TlsStream;

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

/// What a new connection on the HTTPS port turned out to be.
pub(crate) enum Accepted {
    /// A completed TLS handshake.
    Tls(Box<TlsStream<monoio::net::TcpStream>>),
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
    let Ok((Ok(n), first)) =
        cancel_after(&mut canceller, timeout, tcp.cancelable_read(first, handle)).await
    else {
        return Accepted::Closed;
    };
    match first.first() {
        Some(0x16) if n > 0 => {}
        Some(b) if b.is_ascii_uppercase() => {
            let handle = canceller.handle();
            let _ = cancel_after(
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
    let config = source.server_config();
    let handshake = TlsStream::accept(tcp, config, first, canceller.handle());
    // A cancelled handshake fails: either way it has ended.
    let (Ok(done) | Err(done)) = cancel_after(&mut canceller, timeout, handshake).await;
    match done {
        Ok(tls) => Accepted::Tls(Box::new(tls)),
        Err(e) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            Accepted::Closed
        }
    }
}

/// Runs an operation for at most `timeout`; past it the operation is
/// cancelled and awaited to its end (Err with what it came to): no
/// operation of a connection outlives it.
async fn cancel_after<F: Future>(
    canceller: &mut Canceller,
    timeout: Duration,
    op: F,
) -> Result<F::Output, F::Output> {
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
        Some(done) => Ok(done),
        None => {
            *canceller = std::mem::take(canceller).cancel();
            Err(op.await)
        }
    }
}
