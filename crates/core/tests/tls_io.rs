//! The TLS stream against a real rustls client over real TCP on 127.0.0.1,
//! with io_uring and with epoll: bytes arrive exactly, whatever the sizes
//! of the writes on one side and the buffers on the other; a read waiting
//! for data ends as soon as it is cancelled; a client that trusts another
//! certificate is refused.
#![allow(clippy::unwrap_used)]

use std::future::Future as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::{CancelableAsyncReadRent, CancelableAsyncWriteRent, Canceller};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sluice_core::{block_on, AlignedBuf, Driver, TlsStream};

struct Pki {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

fn pki() -> Pki {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.der().to_vec()))
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Pki {
        server: Arc::new(server),
        client: Arc::new(client),
    }
}

fn client(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let conn =
        rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// The server reads `total` bytes into buffers of `buf_size` (aligned, as
/// bodies are read), then writes them back in writes of `write_size`.
async fn echo(
    listener: monoio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    total: usize,
    buf_size: usize,
    write_size: usize,
) -> Vec<u8> {
    let (tcp, _) = listener.accept().await.unwrap();
    let canceller = Canceller::new();
    let mut tls = TlsStream::accept(tcp, config, Vec::new(), canceller.handle())
        .await
        .unwrap();
    let mut got = Vec::with_capacity(total);
    while got.len() < total {
        let buf = AlignedBuf::new(buf_size);
        let end = buf_size.min(total - got.len());
        let (n, buf) = tls
            .cancelable_read(
                monoio::buf::IoBufMut::slice_mut(buf, 0..end),
                canceller.handle(),
            )
            .await;
        let n = n.unwrap();
        assert!(n > 0, "early end after {}", got.len());
        got.extend_from_slice(&buf.into_inner().as_slice()[..n]);
    }
    for piece in got.chunks(write_size) {
        let mut pos = 0;
        while pos < piece.len() {
            let (n, _) = tls
                .cancelable_write(piece[pos..].to_vec(), canceller.handle())
                .await;
            pos += n.unwrap();
        }
    }
    got
}

fn round_trip(driver: Driver, total: usize, buf_size: usize, write_size: usize) {
    let pki = pki();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let server_config = Arc::clone(&pki.server);
    let server = std::thread::spawn(move || {
        block_on(driver, async move {
            let listener = monoio::net::TcpListener::bind(addr).unwrap();
            echo(listener, server_config, total, buf_size, write_size).await
        })
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut c = client(addr, Arc::clone(&pki.client));
    let data = pattern(total);
    // The client writes in odd sizes, as a network cuts records anyway.
    for piece in data.chunks(70_001) {
        c.write_all(piece).unwrap();
    }
    c.flush().unwrap();
    let mut back = vec![0u8; total];
    c.read_exact(&mut back).unwrap();
    assert!(back == data, "the echo differs");
    let seen = server.join().unwrap();
    assert!(seen == data, "the server read other bytes");
}

#[test]
fn bytes_cross_exactly_with_any_buffer_sizes() {
    for driver in [Driver::Auto, Driver::Legacy] {
        for (total, buf_size, write_size) in [
            (1, 4096, 1),
            (100_000, 4096, 1000),
            (3 << 20, 1 << 20, 1 << 20),
            ((5 << 20) + 7, 64 << 10, 300_000),
        ] {
            round_trip(driver, total, buf_size, write_size);
        }
    }
}

#[test]
fn a_waiting_read_ends_when_cancelled() {
    let pki = pki();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = Arc::clone(&pki.server);
    let server = std::thread::spawn(move || {
        block_on(Driver::Auto, async move {
            let listener = monoio::net::TcpListener::bind(addr).unwrap();
            let (tcp, _) = listener.accept().await.unwrap();
            let mut canceller = Canceller::new();
            let mut tls = TlsStream::accept(tcp, config, Vec::new(), canceller.handle())
                .await
                .unwrap();
            let read = tls.cancelable_read(Vec::<u8>::with_capacity(4096), canceller.handle());
            let read = std::pin::pin!(read);
            let started = Instant::now();
            let mut read = read;
            let outcome = std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready((r, _)) = read.as_mut().poll(cx) {
                    return std::task::Poll::Ready(Some(r));
                }
                std::task::Poll::Ready(None)
            })
            .await;
            assert!(outcome.is_none(), "nothing was sent, yet the read ended");
            monoio::time::sleep(Duration::from_millis(100)).await;
            canceller = canceller.cancel();
            drop(canceller);
            let (r, _) = read.await;
            (r.is_err(), started.elapsed())
        })
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut c = client(addr, Arc::clone(&pki.client));
    // Complete the handshake, then send nothing.
    c.flush().unwrap();
    while c.conn.is_handshaking() {
        c.conn.complete_io(&mut c.sock).unwrap();
    }
    let (failed, took) = server.join().unwrap();
    assert!(failed, "a cancelled read must fail");
    assert!(
        took < Duration::from_secs(5),
        "the read ended after {took:?}"
    );
}

#[test]
fn a_client_trusting_another_certificate_is_refused() {
    let (ours, theirs) = (pki(), pki());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = Arc::clone(&ours.server);
    let server = std::thread::spawn(move || {
        block_on(Driver::Auto, async move {
            let listener = monoio::net::TcpListener::bind(addr).unwrap();
            let (tcp, _) = listener.accept().await.unwrap();
            TlsStream::accept(tcp, config, Vec::new(), Canceller::new().handle())
                .await
                .is_err()
        })
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut c = client(addr, theirs.client);
    assert!(c.write_all(b"x").and_then(|()| c.flush()).is_err());
    assert!(
        server.join().unwrap(),
        "the handshake must fail on the server too"
    );
}
