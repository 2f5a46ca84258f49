//! A minimal keep-alive HTTP/1.1 S3 client over std TCP, signing with
//! sluice-sigv4.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_sigv4::{
    format_amz_date, sha256_hex, sign_headers, Credentials, SignedRequest, EMPTY_SHA256,
};

/// Where requests go.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port`.
    pub host: String,
    /// Keys.
    pub creds: Credentials,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            host: String::new(),
            creds: Credentials::new("", ""),
        }
    }
}

/// One connection, reopened when the server closes it.
pub struct Client {
    target: Target,
    conn: Option<BufReader<TcpStream>>,
    sink: Vec<u8>,
}

impl Client {
    pub fn new(target: Target) -> Self {
        Client {
            target,
            conn: None,
            sink: vec![0u8; 1 << 20],
        }
    }

    fn stream(&mut self) -> Result<&mut BufReader<TcpStream>, String> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.target.host)
                .map_err(|e| format!("connect {}: {e}", self.target.host))?;
            let _ = s.set_nodelay(true);
            self.conn = Some(BufReader::with_capacity(1 << 20, s));
        }
        self.conn.as_mut().ok_or_else(|| "no connection".to_owned())
    }

    fn head(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        sign_payload: bool,
    ) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let payload = if sign_payload {
            String::from_utf8_lossy(&sha256_hex(body)).into_owned()
        } else if body.is_empty() {
            EMPTY_SHA256.to_owned()
        } else {
            "UNSIGNED-PAYLOAD".to_owned()
        };
        let headers = [
            ("host", self.target.host.as_bytes().to_vec()),
            ("x-amz-content-sha256", payload.as_bytes().to_vec()),
            ("x-amz-date", format_amz_date(now).into_bytes()),
        ];
        let req = SignedRequest {
            method,
            path,
            query,
            headers: &headers[..],
        };
        let sig = sign_headers(
            &req,
            "host;x-amz-content-sha256;x-amz-date",
            &payload,
            &self.target.creds,
            "us-east-1",
            now,
        );
        let target = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nx-amz-content-sha256: {payload}\r\nx-amz-date: {}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
            self.target.host,
            format_amz_date(now),
            sig.authorization,
            body.len()
        )
    }

    /// Sends a request; returns the status and the number of body bytes
    /// received (the body itself is discarded).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        sign_payload: bool,
    ) -> Result<(u16, u64), String> {
        let (status, len, _) = self.exchange(method, path, "", body, sign_payload, false)?;
        Ok((status, len))
    }

    /// GETs a small body as text.
    pub fn get_body(&mut self, path: &str, query: &str) -> Result<String, String> {
        let (status, _, body) = self.exchange("GET", path, query, &[], false, true)?;
        if status != 200 {
            return Err(format!("GET {path}?{query} answered {status}: {body}"));
        }
        Ok(body)
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        sign: bool,
        keep: bool,
    ) -> Result<(u16, u64, String), String> {
        let head = self.head(method, path, query, body, sign);
        let result = self.try_exchange(&head, method, body, keep);
        if result.is_err() {
            // The server may have closed a kept-alive connection: retry once on a new one.
            self.conn = None;
            return self.try_exchange(&head, method, body, keep);
        }
        result
    }

    fn try_exchange(
        &mut self,
        head: &str,
        method: &str,
        body: &[u8],
        keep: bool,
    ) -> Result<(u16, u64, String), String> {
        let io = |e: std::io::Error| e.to_string();
        let mut sink = std::mem::take(&mut self.sink);
        let out = (|| {
            let s = self.stream()?;
            s.get_mut().write_all(head.as_bytes()).map_err(io)?;
            s.get_mut().write_all(body).map_err(io)?;
            let mut line = String::new();
            if s.read_line(&mut line).map_err(io)? == 0 {
                return Err("connection closed".to_owned());
            }
            let status: u16 = line
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or("bad status line")?;
            let (mut len, mut close) = (0u64, false);
            loop {
                let mut h = String::new();
                s.read_line(&mut h).map_err(io)?;
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().map_err(|_| "bad content-length")?;
                }
                close |= lower.starts_with("connection:") && lower.contains("close");
            }
            if method == "HEAD" {
                len = 0;
            }
            let mut text = String::new();
            let mut left = len;
            while left > 0 {
                let want = sink.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = s.read(&mut sink[..want]).map_err(io)?;
                if n == 0 {
                    return Err("body cut short".to_owned());
                }
                if keep {
                    text.push_str(&String::from_utf8_lossy(&sink[..n]));
                }
                left -= n as u64;
            }
            if close {
                self.conn = None;
            }
            Ok((status, len, text))
        })();
        self.sink = sink;
        out
    }
}
