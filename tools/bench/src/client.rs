//! A keep-alive HTTP/1.1 S3 client on monoio, signing with sluice-sigv4.
//!
//! One [`Conn`] is one TCP connection, reopened when the server closes it.
//! Response bodies are either kept (XML answers, errors) or streamed through
//! CRC32C and dropped (object data), so a 64 MiB GET costs one 1 MiB buffer.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use monoio::buf::{IoBuf, IoBufMut, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::BufResult;
use monoio_rustls::{ClientTlsStream, TlsConnector};
use rustls::pki_types::{CertificateDer, ServerName};
use sluice_http::{httparse, BodyEvent, ChunkedDecoder, Limits};
use sluice_sigv4::{
    format_amz_date, sign_headers, Checksum, ChecksumAlgorithm, Credentials, SignedRequest,
    EMPTY_SHA256,
};

/// Bodies up to this size are sent in the same write as the head.
const INLINE_BODY: usize = 64 << 10;
/// The receive buffer of a connection.
const READ_BUF: usize = 1 << 20;
/// Longest wait for one request's whole answer.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Where and how requests are signed.
#[derive(Clone, Debug)]
pub struct Signer {
    /// Keys.
    pub creds: Credentials,
    /// Region in the credential scope.
    pub region: String,
}

/// A request body.
pub enum Body {
    /// None.
    Empty,
    /// A slice of the benchmark's generated data.
    Static(&'static [u8]),
    /// A small body built for this request (multipart completion).
    Owned(Vec<u8>),
}

impl Body {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Empty => &[],
            Body::Static(b) => b,
            Body::Owned(b) => b,
        }
    }
}

/// One request to send.
pub struct Request<'a> {
    /// Method.
    pub method: &'static str,
    /// Path, already URI-encoded (`/bucket/key`).
    pub path: &'a str,
    /// Query string, already encoded, without `?`.
    pub query: &'a str,
    /// Body.
    pub body: Body,
    /// The x-amz-content-sha256 value: a hex digest, UNSIGNED-PAYLOAD, or
    /// None for the empty body's digest.
    pub payload_hash: Option<&'a str>,
    /// Extra headers (Content-MD5, x-amz-checksum-*), signed with the rest.
    pub extra: &'a [(&'static str, String)],
}

/// What to do with the response body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Keep it (XML answers); error bodies are always kept.
    Body,
    /// Stream it through CRC32C and drop it.
    Crc,
}

/// A response.
#[derive(Debug, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body bytes received.
    pub len: u64,
    /// The body, when kept.
    pub body: Vec<u8>,
    /// CRC32C of the body, when streamed.
    pub crc32c: Option<u32>,
    /// The ETag header.
    pub etag: Option<String>,
    /// Content-Length of a HEAD answer.
    pub content_length: Option<u64>,
    /// The server said the body is generated (`sluice serve --null`).
    pub generated: bool,
    /// When the first byte of the response arrived.
    pub first_byte: Option<Instant>,
}

impl Response {
    /// The S3 error code of an error answer (`HTTP 503` when there is none).
    pub fn error_code(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        text.split_once("<Code>")
            .and_then(|(_, r)| r.split_once("</Code>"))
            .map_or_else(|| format!("HTTP {}", self.status), |(c, _)| c.to_owned())
    }

    /// The text of the first `<tag>` element of a kept body.
    pub fn element(&self, tag: &str) -> Option<String> {
        let text = std::str::from_utf8(&self.body).ok()?;
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let (_, rest) = text.split_once(&open)?;
        let (value, _) = rest.split_once(&close)?;
        Some(xml_unescape(value))
    }
}

/// The value of a finished CRC32C as a number.
pub fn crc_value(crc: Checksum) -> u32 {
    let value = crc.finish();
    let b = value.as_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl<'a> Request<'a> {
    /// A request without a body or extra headers.
    pub fn bare(method: &'static str, path: &'a str, query: &'a str) -> Self {
        Request {
            method,
            path,
            query,
            body: Body::Empty,
            payload_hash: None,
            extra: &[],
        }
    }
}

/// Undoes XML's five entity escapes.
pub fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// TLS settings: `--tls`, with `--cacert` roots, or `--insecure`.
pub fn tls_connector(insecure: bool, cacert: Option<&str>) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        // The roots: --cacert (a server's downloaded certificate, say), else
        // SSL_CERT_FILE, else the system's bundle.
        let path = cacert
            .map(str::to_owned)
            .or_else(|| std::env::var("SSL_CERT_FILE").ok())
            .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
        let mut roots = rustls::RootCertStore::empty();
        let certs = {
            use rustls::pki_types::pem::PemObject as _;
            CertificateDer::pem_file_iter(&path)
                .map_err(|e| format!("--cacert {path}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("--cacert {path}: {e}"))?
        };
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!("--cacert {path}: no certificate in it"));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// `--insecure`: any certificate is accepted; signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A plain or TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<ClientTlsStream<TcpStream>>),
}

impl Stream {
    async fn write_all<T: IoBuf + 'static>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.write_all(buf).await,
            Stream::Tls(s) => s.write_all(buf).await,
        }
    }

    async fn read<T: IoBufMut + 'static>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }
}

/// One connection to one host.
pub struct Conn {
    host: String,
    tls: Option<TlsConnector>,
    stream: Option<Stream>,
    /// Received bytes not yet consumed are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    head: Vec<u8>,
}

impl Conn {
    /// A connection to `host` (`ip:port`), opened on first use, over TLS
    /// when `tls` is given.
    pub fn new(host: String, tls: Option<TlsConnector>) -> Self {
        Conn {
            host,
            tls,
            stream: None,
            buf: Vec::with_capacity(READ_BUF),
            pos: 0,
            head: Vec::with_capacity(INLINE_BODY + 2048),
        }
    }

    fn build_head(&mut self, req: &Request<'_>, signer: &Signer) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let date = format_amz_date(now);
        let payload = req.payload_hash.unwrap_or(EMPTY_SHA256);
        // Every header sent is signed: S3 (and sluice) refuse unsigned
        // x-amz-* headers such as the checksums in `extra`.
        let mut headers: Vec<(String, Vec<u8>)> = vec![
            ("host".to_owned(), self.host.as_bytes().to_vec()),
            (
                "x-amz-content-sha256".to_owned(),
                payload.as_bytes().to_vec(),
            ),
            ("x-amz-date".to_owned(), date.as_bytes().to_vec()),
        ];
        let names = if req.extra.is_empty() {
            "host;x-amz-content-sha256;x-amz-date".to_owned()
        } else {
            for (name, value) in req.extra {
                headers.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
            }
            headers.sort_by(|a, b| a.0.cmp(&b.0));
            headers
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(";")
        };
        let signed = SignedRequest {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: &headers[..],
        };
        let sig = sign_headers(&signed, &names, payload, &signer.creds, &signer.region, now);
        let body = req.body.bytes();
        let h = &mut self.head;
        h.clear();
        h.extend_from_slice(req.method.as_bytes());
        h.push(b' ');
        h.extend_from_slice(req.path.as_bytes());
        if !req.query.is_empty() {
            h.push(b'?');
            h.extend_from_slice(req.query.as_bytes());
        }
        h.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        h.extend_from_slice(self.host.as_bytes());
        h.extend_from_slice(b"\r\nx-amz-content-sha256: ");
        h.extend_from_slice(payload.as_bytes());
        h.extend_from_slice(b"\r\nx-amz-date: ");
        h.extend_from_slice(date.as_bytes());
        h.extend_from_slice(b"\r\nAuthorization: ");
        h.extend_from_slice(sig.authorization.as_bytes());
        for (name, value) in req.extra {
            h.extend_from_slice(b"\r\n");
            h.extend_from_slice(name.as_bytes());
            h.extend_from_slice(b": ");
            h.extend_from_slice(value.as_bytes());
        }
        if !body.is_empty() || matches!(req.method, "PUT" | "POST") {
            h.extend_from_slice(b"\r\nContent-Length: ");
            h.extend_from_slice(body.len().to_string().as_bytes());
        }
        h.extend_from_slice(b"\r\n\r\n");
        if body.len() <= INLINE_BODY {
            h.extend_from_slice(body);
        }
    }

    /// Sends `req` and reads the whole response. A kept-alive connection
    /// the server closed before answering is reopened and the request sent
    /// once more.
    pub async fn send(
        &mut self,
        req: &Request<'_>,
        signer: &Signer,
        keep: Keep,
    ) -> Result<Response, String> {
        self.build_head(req, signer);
        let reused = self.stream.is_some();
        match self.exchange_in_time(req, keep).await {
            // A kept-alive connection the server had closed: send again on a
            // new one, unless it is a POST (not idempotent: multipart
            // create and complete).
            Err(Failure::BeforeAnswer(_)) if reused && req.method != "POST" => {
                self.reset();
                self.exchange_in_time(req, keep)
                    .await
                    .map_err(Failure::text)
            }
            other => other.map_err(Failure::text),
        }
    }

    /// One exchange, given up after [`REQUEST_TIMEOUT`] so that a stalled
    /// server cannot hold a run past its end.
    async fn exchange_in_time(
        &mut self,
        req: &Request<'_>,
        keep: Keep,
    ) -> Result<Response, Failure> {
        match monoio::time::timeout(REQUEST_TIMEOUT, self.exchange(req, keep)).await {
            Ok(result) => result,
            Err(_) => {
                self.reset();
                Err(Failure::After(format!(
                    "Timeout: no complete answer in {} s",
                    REQUEST_TIMEOUT.as_secs()
                )))
            }
        }
    }

    fn reset(&mut self) {
        self.stream = None;
        self.buf.clear();
        self.pos = 0;
    }

    async fn exchange(&mut self, req: &Request<'_>, keep: Keep) -> Result<Response, Failure> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.host.as_str())
                .await
                .map_err(|e| Failure::BeforeAnswer(format!("connect {}: {e}", self.host)))?;
            let _ = s.set_nodelay(true);
            let stream = match &self.tls {
                None => Stream::Plain(s),
                Some(connector) => {
                    let name = self
                        .host
                        .rsplit_once(':')
                        .map_or(self.host.as_str(), |(h, _)| h)
                        .trim_start_matches('[')
                        .trim_end_matches(']');
                    let name = ServerName::try_from(name.to_owned())
                        .map_err(|e| Failure::After(format!("TLS name {name}: {e}")))?;
                    // A failed handshake is not worth a second try.
                    let tls = connector
                        .connect(name, s)
                        .await
                        .map_err(|e| Failure::After(format!("TLS handshake: {e:?}")))?;
                    Stream::Tls(Box::new(tls))
                }
            };
            self.stream = Some(stream);
            self.buf.clear();
            self.pos = 0;
        }
        let out = self.exchange_on(req, keep).await;
        if out.is_err() {
            self.reset();
        }
        out
    }

    async fn exchange_on(&mut self, req: &Request<'_>, keep: Keep) -> Result<Response, Failure> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::BeforeAnswer("no connection".into()));
        };
        let head = std::mem::take(&mut self.head);
        let (res, head) = stream.write_all(head).await;
        self.head = head;
        res.map_err(|e| Failure::BeforeAnswer(format!("send: {e}")))?;
        let body = req.body.bytes();
        if body.len() > INLINE_BODY {
            let res = match &req.body {
                Body::Static(b) => stream.write_all(*b).await.0,
                Body::Owned(b) => stream.write_all(b.clone()).await.0,
                Body::Empty => Ok(0),
            };
            res.map_err(|e| Failure::BeforeAnswer(format!("send body: {e}")))?;
        }
        let mut resp = Response::default();
        let (framing, close) = self.read_head(&mut resp).await?;
        let keep_body = keep == Keep::Body || resp.status >= 300;
        let mut crc = (!keep_body).then(|| Checksum::new(ChecksumAlgorithm::Crc32c));
        let no_body = req.method == "HEAD" || resp.status == 204 || resp.status == 304;
        let framing = if no_body { Framing::Length(0) } else { framing };
        let mut sink = |data: &[u8], resp: &mut Response| {
            resp.len += data.len() as u64;
            match crc.as_mut() {
                Some(c) => c.update(data),
                None => resp.body.extend_from_slice(data),
            }
        };
        match framing {
            Framing::Length(mut left) => {
                while left > 0 {
                    if self.pos == self.buf.len() {
                        self.fill().await?;
                    }
                    let n = (self.buf.len() - self.pos)
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    sink(&self.buf[self.pos..self.pos + n], &mut resp);
                    self.pos += n;
                    left -= n as u64;
                }
            }
            Framing::Chunked => {
                let mut dec = ChunkedDecoder::http(&Limits::default());
                while !dec.is_done() {
                    if self.pos == self.buf.len() {
                        self.fill().await?;
                    }
                    let (used, event) = dec
                        .decode(&self.buf[self.pos..])
                        .map_err(|e| Failure::After(format!("chunked response: {e}")))?;
                    if let Some(BodyEvent::Data(d)) = event {
                        sink(d, &mut resp);
                    }
                    self.pos += used;
                }
            }
            Framing::UntilClose => loop {
                if self.pos < self.buf.len() {
                    sink(&self.buf[self.pos..], &mut resp);
                    self.pos = self.buf.len();
                }
                if self.fill().await.is_err() {
                    break;
                }
            },
        }
        resp.crc32c = crc.map(crc_value);
        if close || matches!(framing, Framing::UntilClose) {
            self.reset();
        } else if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        Ok(resp)
    }

    /// Reads more bytes into the buffer, compacting it first.
    async fn fill(&mut self) -> Result<(), Failure> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.buf.len() == self.buf.capacity() {
            self.buf.drain(..self.pos);
            self.pos = 0;
            if self.buf.len() == self.buf.capacity() {
                return Err(Failure::After("response head too large".into()));
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::After("no connection".into()));
        };
        // Read after what is there: a Vec given whole would be filled from
        // its start, over a head that arrived in pieces.
        let buf = std::mem::take(&mut self.buf);
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice): (_, SliceMut<Vec<u8>>) = stream.read(buf.slice_mut(len..cap)).await;
        self.buf = slice.into_inner();
        match res {
            Ok(0) => Err(Failure::After("connection closed".into())),
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::After(format!("receive: {e}"))),
        }
    }

    async fn read_head(&mut self, resp: &mut Response) -> Result<(Framing, bool), Failure> {
        let mut first = true;
        loop {
            if self.pos < self.buf.len() {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut parsed = httparse::Response::new(&mut headers);
                match parsed.parse(&self.buf[self.pos..]) {
                    Ok(httparse::Status::Complete(n)) => {
                        let facts = head_facts(&parsed, resp)?;
                        self.pos += n;
                        return Ok(facts);
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => return Err(Failure::After(format!("bad response head: {e}"))),
                }
            }
            match self.fill().await {
                Ok(()) => {}
                // Nothing of an answer arrived: the server closed a kept-alive
                // connection, the request may be sent again.
                Err(Failure::After(e)) if first && self.buf.len() == self.pos => {
                    return Err(Failure::BeforeAnswer(e))
                }
                Err(e) => return Err(e),
            }
            if first {
                resp.first_byte = Some(Instant::now());
                first = false;
            }
        }
    }
}

fn head_facts(
    parsed: &httparse::Response<'_, '_>,
    resp: &mut Response,
) -> Result<(Framing, bool), Failure> {
    resp.status = parsed.code.unwrap_or(0);
    let mut framing = Framing::UntilClose;
    let mut close = parsed.version == Some(0);
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse()
                .map_err(|_| Failure::After(format!("bad Content-Length {value:?}")))?;
            resp.content_length = Some(n);
            if framing != Framing::Chunked {
                framing = Framing::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            framing = Framing::Chunked;
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        } else if h.name.eq_ignore_ascii_case("etag") {
            resp.etag = Some(value.to_owned());
        } else if h.name.eq_ignore_ascii_case("x-sluice-generated") {
            resp.generated = true;
        }
    }
    Ok((framing, close))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

enum Failure {
    /// Nothing was answered: a fresh connection may be tried.
    BeforeAnswer(String),
    After(String),
}

impl Failure {
    fn text(self) -> String {
        match self {
            Failure::BeforeAnswer(s) | Failure::After(s) => s,
        }
    }
}
