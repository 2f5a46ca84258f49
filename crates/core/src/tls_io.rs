//! TLS over an owned-buffer byte stream (monoio's rent API), server side,
//! with rustls: the I/O glue between rustls's buffered connection and the
//! socket. Two things a generic adapter does not do, and sluice needs:
//!
//! - Every socket operation carries the cancel handle of the caller's
//!   operation, so a read or write that times out is cancelled and awaited
//!   to its end like a plain socket's (no operation outlives its
//!   connection).
//! - Socket operations are sized to the caller's buffers: a 1 MiB GET
//!   buffer leaves as one socket write of its 64 records, a 1 MiB body
//!   buffer is filled from socket reads of about its size; an idle
//!   connection waits with a read of one record's size. (monoio-rustls
//!   moves everything through 16 KiB buffers: one io_uring operation per
//!   record, which cost HTTPS GETs 60% of their throughput here.)
//!
//! The plaintext is copied once each way (into the records rustls encrypts,
//! out of the records it decrypts), as rustls's buffered API does.
#![allow(unsafe_code)]

use std::io::{self, Read as _, Write as _};
use std::sync::Arc;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, CancelHandle, CancelableAsyncReadRent, CancelableAsyncWriteRent,
};
use monoio::BufResult;
use rustls::ServerConnection;

/// Smallest socket read. A record (up to 16 KiB and its framing) may take
/// several; an idle connection waits with no more than this.
const MIN_READ: usize = 4 << 10;
/// Reads this small are those of a connection between requests (its input
/// buffer back to 8 KiB): what a busy one kept is given back first.
const IDLE_READ: usize = 17 << 10;
/// Largest socket read.
const MAX_READ: usize = 1 << 20;
/// Most plaintext encrypted and written per write.
const WRITE_CHUNK: usize = 256 << 10;
/// Most received bytes rustls may leave untaken: more means a peer that
/// sends what rustls will not take, and the connection fails.
const MAX_PENDING: usize = MAX_READ;

/// A server-side TLS stream over `IO`.
pub struct TlsStream<IO> {
    io: IO,
    conn: ServerConnection,
    /// TLS bytes read from the socket that rustls has not taken yet.
    pending: Vec<u8>,
    taken: usize,
    /// Decrypted bytes rustls holds for the reader.
    plaintext: usize,
    /// The records being written (kept between writes while the
    /// connection is busy: a fresh megabyte per write costs its page
    /// faults every time).
    out: Vec<u8>,
    /// The peer closed its side.
    eof: bool,
    /// The peer sent close_notify: nothing it sends after is read.
    peer_closed: bool,
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<IO: CancelableAsyncReadRent + CancelableAsyncWriteRent> TlsStream<IO> {
    /// Completes a server handshake on `io`. `received` are bytes already
    /// read from it (the first ones, looked at to tell TLS from plain
    /// HTTP); `c` cancels the handshake's socket operations.
    ///
    /// # Errors
    /// The peer's TLS is refused or broken, the socket fails or is closed,
    /// or `c` was cancelled.
    pub async fn accept(
        io: IO,
        config: Arc<rustls::ServerConfig>,
        received: Vec<u8>,
        c: CancelHandle,
    ) -> io::Result<Self> {
        let mut conn = ServerConnection::new(config).map_err(invalid)?;
        // Whole buffers are encrypted in one call (sized by the caller).
        conn.set_buffer_limit(None);
        let mut s = TlsStream {
            io,
            conn,
            pending: received,
            taken: 0,
            plaintext: 0,
            out: Vec::new(),
            eof: false,
            peer_closed: false,
        };
        while s.conn.is_handshaking() {
            let fed = s.feed();
            // An alert rustls queued for a refused handshake goes out first.
            if s.conn.wants_write() {
                s.flush(Some(&c)).await?;
            }
            fed?;
            if !s.conn.is_handshaking() {
                break;
            }
            if !s.conn.wants_read() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the handshake stalled",
                ));
            }
            if s.read_socket(IDLE_READ, Some(&c)).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        s.flush(Some(&c)).await?;
        Ok(s)
    }

    /// Gives rustls the received bytes it can take, and has it process
    /// them. Stops early when its buffers are full (the reader must take
    /// plaintext first).
    fn feed(&mut self) -> io::Result<()> {
        while self.taken < self.pending.len() {
            let mut rest = &self.pending[self.taken..];
            let n = match self.conn.read_tls(&mut rest) {
                Ok(n) => n,
                // Its buffers are full until plaintext is read.
                Err(_) => break,
            };
            self.taken = self.taken.saturating_add(n);
            let state = self.conn.process_new_packets().map_err(invalid)?;
            self.plaintext = state.plaintext_bytes_to_read();
            self.peer_closed = state.peer_has_closed();
            if n == 0 {
                break;
            }
        }
        if self.taken == self.pending.len() {
            self.taken = 0;
            self.pending.clear();
        }
        Ok(())
    }

    /// Reads from the socket into `pending` (about `want` bytes); Ok(0) at
    /// the end of the stream, which rustls is told.
    async fn read_socket(&mut self, want: usize, c: Option<&CancelHandle>) -> io::Result<usize> {
        if self.taken > 0 {
            self.pending.drain(..self.taken);
            self.taken = 0;
        }
        if self.pending.len() > MAX_PENDING {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the peer sent more than TLS takes",
            ));
        }
        let want = want.clamp(MIN_READ, MAX_READ);
        if want <= IDLE_READ {
            // A small read (a connection waiting for its next request):
            // what a busy one kept is given back, as nginx releases
            // OpenSSL's buffers on idle connections.
            if self.pending.is_empty() && self.pending.capacity() > want {
                self.pending = Vec::new();
            }
            self.out = Vec::new();
        }
        let len = self.pending.len();
        self.pending.reserve(want);
        let slice = std::mem::take(&mut self.pending).slice_mut(len..);
        let (result, slice) = match c {
            Some(c) => self.io.cancelable_read(slice, c.clone()).await,
            None => self.io.read(slice).await,
        };
        self.pending = slice.into_inner();
        let n = result?;
        if n == 0 {
            self.eof = true;
            // An empty read tells rustls the peer's side ended.
            let _ = self.conn.read_tls(&mut io::empty());
            let state = self.conn.process_new_packets().map_err(invalid)?;
            self.plaintext = state.plaintext_bytes_to_read();
        }
        Ok(n)
    }

    /// Writes everything rustls has to send.
    async fn flush(&mut self, c: Option<&CancelHandle>) -> io::Result<()> {
        if !self.conn.wants_write() {
            return Ok(());
        }
        // All the records rustls holds, gathered for one socket write.
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut out)?;
        }
        let mut pos = 0;
        while pos < out.len() {
            let slice = out.slice(pos..);
            let (result, slice) = match c {
                Some(c) => self.io.cancelable_write(slice, c.clone()).await,
                None => self.io.write(slice).await,
            };
            out = slice.into_inner();
            match result? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => pos = pos.saturating_add(n),
            }
        }
        self.out = out;
        Ok(())
    }

    async fn read_buf<T: IoBufMut>(
        &mut self,
        mut buf: T,
        c: Option<&CancelHandle>,
    ) -> BufResult<usize, T> {
        let total = buf.bytes_total();
        loop {
            if let Err(e) = self.feed() {
                return (Err(e), buf);
            }
            // Whatever rustls wants to say (a key update, an alert) goes out.
            if self.conn.wants_write() {
                if let Err(e) = self.flush(c).await {
                    return (Err(e), buf);
                }
            }
            let n = self.plaintext.min(total);
            if n > 0 {
                let ptr = buf.write_ptr();
                // SAFETY: an IoBufMut's write_ptr is valid for writes of
                // bytes_total bytes, and n <= bytes_total. The n bytes are
                // zeroed through the raw pointer before a slice of them is
                // made, so the slice covers initialized memory only.
                let dst = unsafe {
                    std::ptr::write_bytes(ptr, 0, n);
                    std::slice::from_raw_parts_mut(ptr, n)
                };
                let got = match self.conn.reader().read(dst) {
                    Ok(got) => got,
                    Err(e) => return (Err(e), buf),
                };
                self.plaintext = self.plaintext.saturating_sub(got);
                // SAFETY: the first `got` bytes were written just above
                // (got <= n, the bytes zeroed then filled by rustls).
                unsafe { buf.set_init(got) };
                return (Ok(got), buf);
            }
            if self.eof || total == 0 || self.peer_closed {
                return (Ok(0), buf);
            }
            // rustls refused received bytes while it has nothing to read:
            // a peer sending what TLS does not take. Fail rather than read
            // more of it.
            if self.taken < self.pending.len() {
                return (
                    Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the peer sent what TLS does not take",
                    )),
                    buf,
                );
            }
            match self.read_socket(total.saturating_add(total / 32), c).await {
                Ok(_) => {}
                Err(e) => return (Err(e), buf),
            }
        }
    }

    async fn write_buf<T: IoBuf>(
        &mut self,
        buf: T,
        c: Option<&CancelHandle>,
    ) -> BufResult<usize, T> {
        // SAFETY: an IoBuf's read_ptr is valid for reads of bytes_init
        // initialized bytes while the buffer is held, and it is held here.
        let all = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        // At most WRITE_CHUNK at a time: the plaintext, its records and the
        // buffer gathering them stay in the core's cache while they are
        // copied and encrypted (the caller writes the rest next).
        let data = &all[..all.len().min(WRITE_CHUNK)];
        // Room for the records of all of it (16 KiB each, 22 bytes of
        // framing and tag), so they are gathered without reallocating.
        self.out.reserve(
            data.len()
                .saturating_add(data.len() / 512)
                .saturating_add(256),
        );
        let n = match self.conn.writer().write(data) {
            Ok(n) => n,
            Err(e) => return (Err(e), buf),
        };
        match self.flush(c).await {
            Ok(()) => (Ok(n), buf),
            Err(e) => (Err(e), buf),
        }
    }

    async fn shutdown_with(&mut self, c: Option<&CancelHandle>) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush(c).await?;
        match c {
            Some(c) => self.io.cancelable_shutdown(c.clone()).await,
            None => self.io.shutdown().await,
        }
    }
}

impl<IO: CancelableAsyncReadRent + CancelableAsyncWriteRent> AsyncReadRent for TlsStream<IO> {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        self.read_buf(buf, None).await
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        (
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "vectored reads over TLS",
            )),
            buf,
        )
    }
}

impl<IO: CancelableAsyncReadRent + CancelableAsyncWriteRent> AsyncWriteRent for TlsStream<IO> {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        self.write_buf(buf, None).await
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        (
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "vectored writes over TLS",
            )),
            buf,
        )
    }

    async fn flush(&mut self) -> io::Result<()> {
        TlsStream::flush(self, None).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.shutdown_with(None).await
    }
}

impl<IO: CancelableAsyncReadRent + CancelableAsyncWriteRent> CancelableAsyncReadRent
    for TlsStream<IO>
{
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        self.read_buf(buf, Some(&c)).await
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        _c: CancelHandle,
    ) -> BufResult<usize, T> {
        self.readv(buf).await
    }
}

impl<IO: CancelableAsyncReadRent + CancelableAsyncWriteRent> CancelableAsyncWriteRent
    for TlsStream<IO>
{
    async fn cancelable_write<T: IoBuf>(&mut self, buf: T, c: CancelHandle) -> BufResult<usize, T> {
        self.write_buf(buf, Some(&c)).await
    }

    async fn cancelable_writev<T: IoVecBuf>(
        &mut self,
        buf: T,
        _c: CancelHandle,
    ) -> BufResult<usize, T> {
        self.writev(buf).await
    }

    async fn cancelable_flush(&mut self, c: CancelHandle) -> io::Result<()> {
        TlsStream::flush(self, Some(&c)).await
    }

    async fn cancelable_shutdown(&mut self, c: CancelHandle) -> io::Result<()> {
        self.shutdown_with(Some(&c)).await
    }
}
