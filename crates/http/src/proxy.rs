//! The PROXY protocol header (versions 1 and 2) a load balancer sends
//! before a connection's first byte to pass on the client's address
//! (haproxy's `send-proxy`/`send-proxy-v2`, AWS NLB, nginx's stream
//! `proxy_protocol`), per haproxy's specification "The PROXY protocol".
//!
//! Push parser like the rest of this crate, with one difference: the bytes
//! after the header are not the parser's (they may be a TLS handshake read
//! by someone else), so [`parse`] says how many more bytes to read *at
//! most* without reading past the header. The caller reads exactly that
//! many and calls again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Version 2's signature, the first twelve bytes.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's start.
const V1_PREFIX: &[u8; 6] = b"PROXY ";
/// Longest version 1 line, CRLF included (the specification's 107).
pub const V1_MAX: usize = 107;
/// Largest version 2 address block taken (addresses and TLVs; TLVs are
/// skipped). The specification allows 65,535; balancers send well under
/// this.
pub const V2_MAX_BLOCK: usize = 2048;

/// What the bytes so far come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyStatus {
    /// Read this many more bytes (never past the header's end) and parse
    /// the whole again.
    Partial(usize),
    /// The header is the first `len` bytes. `source` is the client's
    /// address; None for a connection the balancer made itself (version 2
    /// LOCAL, its health checks) or an address family without one (version
    /// 1 UNKNOWN, UNIX sockets): the connection's own peer is the source.
    Complete {
        /// Length of the header.
        len: usize,
        /// The client's address, when the header carries one.
        source: Option<SocketAddr>,
    },
}

/// Why the bytes are no PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The connection does not start with either version's signature.
    #[error("the connection does not start with a PROXY protocol header")]
    NotProxy,
    /// It starts like one but breaks the grammar.
    #[error("malformed PROXY protocol header")]
    Malformed,
}

/// Parses the start of a connection. See the module documentation.
///
/// # Errors
/// [`ProxyError`].
pub fn parse(buf: &[u8]) -> Result<ProxyStatus, ProxyError> {
    // Eight bytes tell the versions apart and are within either header
    // (version 1's shortest, "PROXY UNKNOWN\r\n", is fifteen).
    let probe = buf.len().min(8);
    let v1 = buf[..probe.min(6)] == V1_PREFIX[..probe.min(6)];
    let v2 = buf[..probe] == V2_SIGNATURE[..probe];
    if !v1 && !v2 {
        return Err(ProxyError::NotProxy);
    }
    if buf.len() < 8 {
        return Ok(ProxyStatus::Partial(8usize.saturating_sub(buf.len())));
    }
    if v2 {
        parse_v2(buf)
    } else {
        parse_v1(buf)
    }
}

fn parse_v1(buf: &[u8]) -> Result<ProxyStatus, ProxyError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err(ProxyError::Malformed);
        }
        // A lone CR must be followed by LF; otherwise at least CRLF is to
        // come. Either way one byte cannot pass the header's end.
        return Ok(ProxyStatus::Partial(1));
    };
    let len = end.saturating_add(2);
    if len > V1_MAX {
        return Err(ProxyError::Malformed);
    }
    let line = std::str::from_utf8(&buf[6..end]).map_err(|_| ProxyError::Malformed)?;
    let mut fields = line.split(' ');
    let source = match fields.next() {
        Some("UNKNOWN") => None,
        Some(family @ ("TCP4" | "TCP6")) => {
            let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(ProxyError::Malformed);
            };
            // The destination is checked, not used.
            let src: IpAddr = if family == "TCP4" {
                v4(dst)?;
                v4(src)?.into()
            } else {
                v6(dst)?;
                v6(src)?.into()
            };
            let sport = port(sport)?;
            port(dport)?;
            Some(SocketAddr::new(src, sport))
        }
        _ => return Err(ProxyError::Malformed),
    };
    Ok(ProxyStatus::Complete { len, source })
}

fn v4(s: &str) -> Result<Ipv4Addr, ProxyError> {
    s.parse().map_err(|_| ProxyError::Malformed)
}

fn v6(s: &str) -> Result<Ipv6Addr, ProxyError> {
    s.parse().map_err(|_| ProxyError::Malformed)
}

/// A decimal port, 0 to 65535, without leading zeros (as the specification
/// writes them).
fn port(s: &str) -> Result<u16, ProxyError> {
    if s.is_empty() || s.len() > 5 || (s.len() > 1 && s.starts_with('0')) {
        return Err(ProxyError::Malformed);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProxyError::Malformed);
    }
    s.parse().map_err(|_| ProxyError::Malformed)
}

fn parse_v2(buf: &[u8]) -> Result<ProxyStatus, ProxyError> {
    if buf.len() < 16 {
        return Ok(ProxyStatus::Partial(16usize.saturating_sub(buf.len())));
    }
    if buf[..12] != V2_SIGNATURE[..] {
        return Err(ProxyError::NotProxy);
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 || command > 1 {
        return Err(ProxyError::Malformed);
    }
    let block = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if block > V2_MAX_BLOCK {
        return Err(ProxyError::Malformed);
    }
    let len = block.saturating_add(16);
    if buf.len() < len {
        return Ok(ProxyStatus::Partial(len.saturating_sub(buf.len())));
    }
    let addrs = &buf[16..len];
    if command == 0 {
        // LOCAL: the balancer's own connection (a health check).
        return Ok(ProxyStatus::Complete { len, source: None });
    }
    let source = match buf[13] {
        // TCP or UDP over IPv4: source, destination, source port, destination port.
        0x11 | 0x12 => {
            let a = addrs.get(..12).ok_or(ProxyError::Malformed)?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Some(SocketAddr::new(ip.into(), u16::from_be_bytes([a[8], a[9]])))
        }
        0x21 | 0x22 => {
            let a = addrs.get(..36).ok_or(ProxyError::Malformed)?;
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&a[..16]);
            Some(SocketAddr::new(
                Ipv6Addr::from(ip).into(),
                u16::from_be_bytes([a[32], a[33]]),
            ))
        }
        // UNSPEC, UNIX sockets: no address to take.
        0x00 | 0x31 | 0x32 => None,
        _ => return Err(ProxyError::Malformed),
    };
    Ok(ProxyStatus::Complete { len, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `header` followed by `rest` the way a connection does: only as
    /// many bytes as `parse` asks for.
    fn feed(header_and_rest: &[u8]) -> Result<(usize, Option<SocketAddr>), ProxyError> {
        let mut have = 0;
        loop {
            match parse(&header_and_rest[..have])? {
                ProxyStatus::Partial(n) => {
                    assert!(n > 0);
                    have = have.saturating_add(n);
                    assert!(have <= header_and_rest.len(), "asked past the input");
                }
                ProxyStatus::Complete { len, source } => {
                    assert_eq!(len, have, "read past the header");
                    return Ok((len, source));
                }
            }
        }
    }

    fn v2(command: u8, family: u8, addrs: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
        h.extend_from_slice(addrs);
        h
    }

    #[test]
    fn version_1() {
        let line = b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n";
        let (len, source) = feed(line).unwrap();
        assert_eq!(&line[len..len + 3], b"GET");
        assert_eq!(source, Some("203.0.113.7:56324".parse().unwrap()));
        let line = b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n\x16\x03\x01";
        let (len, source) = feed(line).unwrap();
        assert_eq!(line[len], 0x16);
        assert_eq!(source, Some("[2001:db8::1]:1".parse().unwrap()));
        assert_eq!(feed(b"PROXY UNKNOWN\r\nX").unwrap(), (15, None));
        assert_eq!(
            feed(b"PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n")
                .unwrap()
                .1,
            None
        );
    }

    #[test]
    fn version_1_refusals() {
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 9\r\n",
            b"PROXY TCP4 2001:db8::1 5.6.7.8 80 443\r\n",
            b"PROXY TCP6 1.2.3.4 2001:db8::1 80 443\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 443\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            assert_eq!(feed(bad), Err(ProxyError::Malformed), "{bad:?}");
        }
        let long = [&b"PROXY UNKNOWN "[..], &[b'a'; 120]].concat();
        assert_eq!(feed(&long), Err(ProxyError::Malformed));
        for not in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x16\x03\x01\x02\x00",
            b"PROXY\r\n",
        ] {
            assert_eq!(parse(not), Err(ProxyError::NotProxy), "{not:?}");
        }
    }

    #[test]
    fn version_2() {
        let addrs = [203, 0, 113, 7, 10, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb];
        let mut h = v2(1, 0x11, &addrs);
        h.extend_from_slice(b"GET");
        let (len, source) = feed(&h).unwrap();
        assert_eq!(len, 28);
        assert_eq!(source, Some("203.0.113.7:56324".parse().unwrap()));
        // TLVs after the addresses are skipped.
        let with_tlv = [&addrs[..], &[0x04, 0x00, 0x02, 0xaa, 0xbb]].concat();
        assert_eq!(feed(&v2(1, 0x11, &with_tlv)).unwrap().1, source);
        let mut a6 = [0u8; 36];
        a6[..16].copy_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        a6[32..34].copy_from_slice(&443u16.to_be_bytes());
        assert_eq!(
            feed(&v2(1, 0x21, &a6)).unwrap().1,
            Some("[2001:db8::7]:443".parse().unwrap())
        );
        // LOCAL (health checks) and UNSPEC: no client address.
        assert_eq!(feed(&v2(0, 0x00, &[])).unwrap(), (16, None));
        assert_eq!(feed(&v2(0, 0x11, &addrs)).unwrap().1, None);
        assert_eq!(feed(&v2(1, 0x00, &[])).unwrap().1, None);
    }

    #[test]
    fn version_2_refusals() {
        let addrs = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2];
        assert_eq!(feed(&v2(1, 0x11, &addrs[..11])), Err(ProxyError::Malformed));
        assert_eq!(feed(&v2(1, 0x21, &addrs)), Err(ProxyError::Malformed));
        assert_eq!(feed(&v2(2, 0x11, &addrs)), Err(ProxyError::Malformed));
        assert_eq!(feed(&v2(1, 0x41, &addrs)), Err(ProxyError::Malformed));
        let mut h = v2(1, 0x11, &addrs);
        h[12] = 0x11;
        assert_eq!(feed(&h), Err(ProxyError::Malformed));
        let huge = v2(1, 0x11, &vec![0; V2_MAX_BLOCK + 1]);
        assert_eq!(feed(&huge), Err(ProxyError::Malformed));
        let mut h = v2(1, 0x11, &addrs);
        h[11] = b'X';
        assert_eq!(feed(&h), Err(ProxyError::NotProxy));
    }
}
