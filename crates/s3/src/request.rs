//! A request as the stages see it: the owned head, and the connection's
//! input (bytes read and not yet consumed, over any byte stream).

use std::time::Duration;

use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRent, AsyncWriteRent};

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
            let write = self.stream.write(IoBuf::slice(buf, pos..end));
            let (result, slice) = match monoio::time::timeout(timeout, write).await {
                Ok(done) => done,
                Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
            };
            buf = slice.into_inner();
            match result? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                n => pos += n,
            }
        }
        Ok(())
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
