//! Hex and percent-encoding: the one implementation of each in sluice.
//!
//! Routing, SigV4 canonicalisation and storage all decode through these
//! functions, so the key a signature covers is the key that is authorized
//! and the key that is stored: two decoders of different strictness would
//! let them differ. Nothing here allocates unless it returns an owned value.

use std::borrow::Cow;

use crate::error::{Error, Result};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `HEX_VALUES[b]` is the value of the hex digit `b`, or `NOT_HEX`.
const NOT_HEX: u8 = 0xff;
const HEX_VALUES: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// The value of a hex digit of either case.
///
/// ```
/// assert_eq!(sluice_http::hex_value(b'F'), Some(15));
/// assert_eq!(sluice_http::hex_value(b'g'), None);
/// ```
#[must_use]
#[inline]
pub const fn hex_value(b: u8) -> Option<u8> {
    match HEX_VALUES[b as usize] {
        NOT_HEX => None,
        v => Some(v),
    }
}

/// The lowercase hex digits of the high and the low half of `b`.
#[inline]
pub(crate) fn hex_pair(b: u8) -> [u8; 2] {
    [
        HEX_DIGITS[usize::from(b >> 4)],
        HEX_DIGITS[usize::from(b & 0xf)],
    ]
}

/// The lowercase hex digit of the low half of `v`.
#[inline]
pub(crate) fn hex_digit(v: u8) -> u8 {
    HEX_DIGITS[usize::from(v & 0xf)]
}

/// Appends the lowercase hex of `bytes` to `out`.
pub fn hex_encode_into(bytes: &[u8], out: &mut String) {
    // A capacity hint: a slice holds at most isize::MAX bytes, so twice that
    // fits a usize and never saturates.
    out.reserve(bytes.len().saturating_mul(2));
    for &b in bytes {
        let [hi, lo] = hex_pair(b);
        out.push(char::from(hi));
        out.push(char::from(lo));
    }
}

/// The lowercase hex of `bytes`.
///
/// ```
/// assert_eq!(sluice_http::hex_encode(&[0, 0xab, 0xff]), "00abff");
/// ```
#[must_use]
pub fn hex_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    hex_encode_into(bytes, &mut out);
    out
}

/// The lowercase hex of a 32-byte digest (a SHA-256 or an HMAC-SHA256), on
/// the stack.
#[must_use]
pub fn hex_encode32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&hex_pair(b));
    }
    out
}

fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    Some(hex_value(hi)? << 4 | hex_value(lo)?)
}

/// Decodes hex digits of either case; None for an odd length or anything
/// that is not a hex digit (no sign, no prefix, no whitespace).
///
/// ```
/// assert_eq!(sluice_http::hex_decode(b"00aBff").as_deref(), Some(&[0, 0xab, 0xff][..]));
/// assert_eq!(sluice_http::hex_decode(b"+f"), None);
/// ```
#[must_use]
pub fn hex_decode(text: &[u8]) -> Option<Vec<u8>> {
    let pairs = text.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| match *pair {
            [hi, lo] => hex_byte(hi, lo),
            _ => None,
        })
        .collect()
}

/// Decodes exactly `2 * N` hex digits of either case into `N` bytes; None
/// for any other length or a non-digit.
///
/// ```
/// assert_eq!(sluice_http::hex_decode_array::<2>(b"C0fe"), Some([0xc0, 0xfe]));
/// assert_eq!(sluice_http::hex_decode_array::<2>(b"c0f"), None);
/// ```
#[must_use]
pub fn hex_decode_array<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let mut pairs = text.chunks_exact(2);
    for slot in &mut out {
        let &[hi, lo] = pairs.next()? else {
            return None;
        };
        *slot = hex_byte(hi, lo)?;
    }
    (pairs.next().is_none() && pairs.remainder().is_empty()).then_some(out)
}

/// Percent-decodes `raw` into bytes.
///
/// With `plus_as_space`, `+` becomes a space, as in query strings of HTML
/// forms (S3 decodes query parameters this way); in paths `+` is literal.
/// Borrows `raw` when nothing needs decoding.
///
/// # Errors
/// [`Error::MalformedPercentEncoding`] for a `%` not followed by two hex
/// digits. It is never kept literally: a caller that did so would read a
/// different name than one that refused it.
///
/// ```
/// use sluice_http::percent_decode_bytes;
/// assert_eq!(percent_decode_bytes(b"a%FFb", false).unwrap().as_ref(), b"a\xffb");
/// assert!(percent_decode_bytes(b"%2", false).is_err());
/// ```
pub fn percent_decode_bytes(raw: &[u8], plus_as_space: bool) -> Result<Cow<'_, [u8]>> {
    let first = if plus_as_space {
        memchr::memchr2(b'%', b'+', raw)
    } else {
        memchr::memchr(b'%', raw)
    };
    let Some(first) = first else {
        return Ok(Cow::Borrowed(raw));
    };
    let (plain, mut rest) = raw.split_at(first);
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(plain);
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'%' => {
                let [hi, lo, tail @ ..] = rest else {
                    return Err(Error::MalformedPercentEncoding);
                };
                out.push(hex_byte(*hi, *lo).ok_or(Error::MalformedPercentEncoding)?);
                rest = tail;
            }
            b'+' if plus_as_space => out.push(b' '),
            b => out.push(b),
        }
    }
    Ok(Cow::Owned(out))
}

/// Percent-decodes `raw` to UTF-8 (see [`percent_decode_bytes`]).
///
/// # Errors
/// [`Error::MalformedPercentEncoding`] for `%` not followed by two hex digits
/// or for decoded bytes that are not UTF-8.
///
/// ```
/// use sluice_http::percent_decode;
/// assert_eq!(percent_decode("a%2Fb+c", false).unwrap(), "a/b+c");
/// assert_eq!(percent_decode("a%20b+c", true).unwrap(), "a b c");
/// assert!(percent_decode("%zz", false).is_err());
/// ```
pub fn percent_decode(raw: &str, plus_as_space: bool) -> Result<Cow<'_, str>> {
    match percent_decode_bytes(raw.as_bytes(), plus_as_space)? {
        Cow::Borrowed(_) => Ok(Cow::Borrowed(raw)),
        Cow::Owned(bytes) => String::from_utf8(bytes)
            .map(Cow::Owned)
            .map_err(|_| Error::MalformedPercentEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_values_of_every_byte() {
        for b in 0..=u8::MAX {
            let expected = char::from(b).to_digit(16).map(|d| d as u8);
            assert_eq!(hex_value(b), expected, "{b:#x}");
        }
    }

    #[test]
    fn hex_encodes_lowercase() {
        assert_eq!(hex_encode(&[]), "");
        assert_eq!(hex_encode(&[0, 0x0f, 0xab, 0xff]), "000fabff");
        let mut out = String::from("etag-");
        hex_encode_into(&[0xde, 0xad], &mut out);
        assert_eq!(out, "etag-dead");
        let digest: [u8; 32] = core::array::from_fn(|i| i as u8 * 8);
        assert_eq!(
            hex_encode32(&digest).as_slice(),
            hex_encode(&digest).as_bytes()
        );
    }

    #[test]
    fn hex_decode_refuses_what_is_not_plain_hex() {
        assert_eq!(hex_decode(b"").as_deref(), Some(&[][..]));
        assert_eq!(hex_decode(b"0aFf").as_deref(), Some(&[0x0a, 0xff][..]));
        // u8::from_str_radix, which the list token decoder used, takes a sign.
        for bad in [&b"+f"[..], b"-1", b"0", b"0x", b" 1", b"g0", b"\xc3\xbc"] {
            assert_eq!(hex_decode(bad), None, "{bad:?}");
        }
        assert_eq!(hex_decode_array::<0>(b""), Some([]));
        assert_eq!(hex_decode_array::<1>(b""), None);
        assert_eq!(hex_decode_array::<1>(b"abc"), None);
        assert_eq!(hex_decode_array::<1>(b"abcd"), None);
        assert_eq!(hex_decode_array::<2>(b"abcd"), Some([0xab, 0xcd]));
    }

    #[test]
    fn percent_decode_cases() {
        assert!(matches!(
            percent_decode("plain", true).unwrap(),
            Cow::Borrowed("plain")
        ));
        assert!(matches!(
            percent_decode("a+b", false).unwrap(),
            Cow::Borrowed("a+b")
        ));
        assert_eq!(percent_decode("%E2%82%AC", false).unwrap(), "€");
        assert_eq!(percent_decode("%e2%82%ac", false).unwrap(), "€");
        for bad in ["%", "%4", "a%", "%zz", "%2", "%%41", "%4g", "% 41", "%FF"] {
            assert_eq!(
                percent_decode(bad, false),
                Err(Error::MalformedPercentEncoding),
                "{bad}"
            );
        }
        assert_eq!(
            percent_decode_bytes(b"%FF%fe", false).unwrap().as_ref(),
            b"\xff\xfe"
        );
        assert_eq!(percent_decode("a%2Bb+c", true).unwrap(), "a+b c");
        assert_eq!(percent_decode("+%2B+", true).unwrap(), " + ");
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let text = hex_encode(&bytes);
            prop_assert_eq!(hex_decode(text.as_bytes()), Some(bytes.clone()));
            prop_assert_eq!(hex_decode(text.to_ascii_uppercase().as_bytes()), Some(bytes));
        }

        /// Every byte escaped, in either case, decodes back to itself; `%`
        /// before anything but two hex digits is refused.
        #[test]
        fn percent_escapes_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..64), upper: bool) {
            let mut text = String::new();
            for &b in &bytes {
                text.push('%');
                let pair = hex_encode(&[b]);
                text.push_str(&if upper { pair.to_ascii_uppercase() } else { pair });
            }
            let decoded = percent_decode_bytes(text.as_bytes(), true).unwrap();
            prop_assert_eq!(decoded.as_ref(), &bytes[..]);
            let cut = &text[..text.len().saturating_sub(1)];
            prop_assert_eq!(
                percent_decode_bytes(cut.as_bytes(), false).is_err(),
                !bytes.is_empty()
            );
        }
    }
}
