//! What `sluice tls show` and `sluice tls set` read of a certificate:
//! subject, issuer, validity, subject alternative names, and whether it is
//! a CA. A small DER reader over the X.509 structure (RFC 5280 §4.1), not a
//! validator: rustls checks that a key matches its certificate, and
//! clients validate chains.

/// The fields of a certificate sluice shows and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// `CN=..., O=...`.
    pub subject: String,
    /// The issuer's name, as the subject.
    pub issuer: String,
    /// Valid from, seconds since the epoch.
    pub not_before: i64,
    /// Valid until, seconds since the epoch.
    pub not_after: i64,
    /// DNS names and IP addresses of its subjectAltName extension.
    pub names: Vec<String>,
    /// Its basicConstraints say it is a CA.
    pub is_ca: bool,
}

/// One DER element: tag, content, and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = (rest.get(..n)?, rest.get(n..)?);
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// The element, when it has `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, content, rest) = tlv(input)?;
    (t == tag).then_some((content, rest))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// An OID's dotted text.
fn dotted(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut value = 0u64;
    for (i, &b) in oid.iter().enumerate() {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() && i < oid.len() {
                let first = value.min(80) / 40;
                parts.push(first);
                parts.push(value.saturating_sub(first * 40));
            } else {
                parts.push(value);
            }
            value = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A Name as `CN=..., O=...`.
fn name(mut rdns: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let (set, rest) = expect(rdns, SET)?;
        rdns = rest;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (atv, rest) = expect(atvs, SEQUENCE)?;
            atvs = rest;
            let (oid, value) = expect(atv, OID)?;
            let (_, text, _) = tlv(value)?;
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN".to_owned(),
                [0x55, 0x04, 0x06] => "C".to_owned(),
                [0x55, 0x04, 0x07] => "L".to_owned(),
                [0x55, 0x04, 0x08] => "ST".to_owned(),
                [0x55, 0x04, 0x0a] => "O".to_owned(),
                [0x55, 0x04, 0x0b] => "OU".to_owned(),
                other => dotted(other),
            };
            out.push(format!("{label}={}", String::from_utf8_lossy(text)));
        }
    }
    Some(out.join(", "))
}

/// UTCTime or GeneralizedTime, as seconds since the epoch.
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let full = match (tag, text.len()) {
        // UTCTime: YYMMDDHHMMSSZ, years 1950-2049.
        (0x17, 13) => {
            let yy: u32 = text.get(..2)?.parse().ok()?;
            let century = if yy < 50 { "20" } else { "19" };
            format!("{century}{text}")
        }
        // GeneralizedTime: YYYYMMDDHHMMSSZ.
        (0x18, 15) => text.to_owned(),
        _ => return None,
    };
    let compact = format!("{}T{}", full.get(..8)?, full.get(8..)?);
    sluice_sigv4::parse_amz_date(compact.as_bytes())
}

/// Reads a DER certificate; None when it is not one.
#[must_use]
pub fn parse(der: &[u8]) -> Option<CertInfo> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut r = tbs;
    if r.first() == Some(&0xa0) {
        r = tlv(r)?.2;
    }
    let (_serial, rest) = expect(r, 0x02)?;
    let (_alg, rest) = expect(rest, SEQUENCE)?;
    let (issuer, rest) = expect(rest, SEQUENCE)?;
    let (validity, rest) = expect(rest, SEQUENCE)?;
    let (subject, rest) = expect(rest, SEQUENCE)?;
    let (_spki, mut rest) = expect(rest, SEQUENCE)?;
    let (t1, v1, after) = tlv(validity)?;
    let (t2, v2, _) = tlv(after)?;
    let mut info = CertInfo {
        subject: name(subject)?,
        issuer: name(issuer)?,
        not_before: time(t1, v1)?,
        not_after: time(t2, v2)?,
        names: Vec::new(),
        is_ca: false,
    };
    while let Some((tag, content, next)) = tlv(rest) {
        rest = next;
        if tag != 0xa3 {
            continue;
        }
        let (mut exts, _) = expect(content, SEQUENCE)?;
        while !exts.is_empty() {
            let (ext, more) = expect(exts, SEQUENCE)?;
            exts = more;
            let (oid, mut body) = expect(ext, OID)?;
            if body.first() == Some(&0x01) {
                body = tlv(body)?.2;
            }
            let (value, _) = expect(body, 0x04)?;
            match oid {
                // subjectAltName
                [0x55, 0x1d, 0x11] => {
                    let (mut general, _) = expect(value, SEQUENCE)?;
                    while !general.is_empty() {
                        let (t, v, more) = tlv(general)?;
                        general = more;
                        match (t, v.len()) {
                            (0x82, _) => info.names.push(String::from_utf8_lossy(v).into_owned()),
                            (0x87, 4) => {
                                let ip: [u8; 4] = v.try_into().ok()?;
                                info.names.push(std::net::Ipv4Addr::from(ip).to_string());
                            }
                            (0x87, 16) => {
                                let ip: [u8; 16] = v.try_into().ok()?;
                                info.names.push(std::net::Ipv6Addr::from(ip).to_string());
                            }
                            _ => {}
                        }
                    }
                }
                // basicConstraints
                [0x55, 0x1d, 0x13] => {
                    let (bc, _) = expect(value, SEQUENCE)?;
                    info.is_ca = matches!(tlv(bc), Some((0x01, [b], _)) if *b != 0);
                }
                _ => {}
            }
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

    #[test]
    fn reads_what_rcgen_wrote() {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "leaf one");
        p.distinguished_name
            .push(DnType::OrganizationName, "sluice");
        p.subject_alt_names = vec![
            SanType::DnsName("s3.example.test".try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
            SanType::IpAddress("::1".parse().unwrap()),
        ];
        p.not_before = rcgen::date_time_ymd(2026, 1, 2);
        p.not_after = rcgen::date_time_ymd(2051, 3, 4);
        p.is_ca = IsCa::ExplicitNoCa;
        let cert = p.self_signed(&key).unwrap();
        let info = parse(cert.der()).unwrap();
        assert!(info.subject.contains("CN=leaf one") && info.subject.contains("O=sluice"));
        assert_eq!(info.issuer, info.subject);
        assert_eq!(info.names, ["s3.example.test", "127.0.0.1", "::1"]);
        assert_eq!(info.not_before, 1_767_312_000);
        assert_eq!(
            info.not_after,
            sluice_sigv4::parse_amz_date(b"20510304T000000Z").unwrap()
        );
        assert!(!info.is_ca);
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&key).unwrap();
        assert!(parse(ca.der()).unwrap().is_ca);
    }

    #[test]
    fn garbage_is_no_certificate() {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::default().self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        for cut in 0..der.len() {
            // Never a panic, whatever is cut off.
            let _ = parse(&der[..cut]);
        }
        assert!(parse(b"\x30\x84\xff\xff\xff\xff").is_none());
        assert!(parse(b"").is_none());
    }
}
