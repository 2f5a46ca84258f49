//! Base64, the encoding of S3 checksums, and a constant-time comparison.
//! Hex is sluice-http's ([`sluice_http::hex_encode`] and siblings), shared
//! with routing and storage.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `B64_VALUES[c]` is the value of the base64 digit `c`, or `NOT_B64`.
const NOT_B64: u8 = 0xff;
const B64_VALUES: [u8; 256] = {
    let mut table = [NOT_B64; 256];
    let mut i = 0;
    while i < B64.len() {
        table[B64[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Standard base64 with padding.
#[must_use]
pub fn base64_encode(bytes: &[u8]) -> String {
    // A capacity hint: a third of a slice's length, times four, fits a usize.
    let mut out = String::with_capacity(bytes.len().div_ceil(3).saturating_mul(4));
    for chunk in bytes.chunks(3) {
        let mut block = [0u8; 3];
        block[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from_be_bytes([0, block[0], block[1], block[2]]);
        // A chunk of k bytes makes k + 1 digits, then padding.
        for (i, sextet) in [n >> 18, n >> 12, n >> 6, n].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(B64[(sextet & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard padded base64; None for anything else (wrong alphabet,
/// missing padding, non-zero trailing bits).
#[must_use]
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    // A capacity hint: a quarter of a slice's length, times three, fits.
    let mut out = Vec::with_capacity((text.len() / 4).saturating_mul(3));
    let mut quads = text.chunks_exact(4).peekable();
    while let Some(quad) = quads.next() {
        let (digits, padding) =
            quad.split_at(quad.iter().position(|&c| c == b'=').unwrap_or(quad.len()));
        // Padding: one or two `=`, in the last quad only.
        if padding.len() > 2
            || (!padding.is_empty() && quads.peek().is_some())
            || padding.iter().any(|&c| c != b'=')
        {
            return None;
        }
        let mut n = 0u32;
        for &c in digits {
            let v = B64_VALUES[usize::from(c)];
            if v == NOT_B64 {
                return None;
            }
            n = n << 6 | u32::from(v);
        }
        for _ in padding {
            n <<= 6;
        }
        let [_, bytes @ ..] = n.to_be_bytes();
        let keep = match padding.len() {
            0 => 3,
            1 => 2,
            _ => 1,
        };
        let (kept, under_padding) = bytes.split_at(keep);
        // Canonical form only: the bits under the padding are zero.
        if under_padding.iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(kept);
    }
    Some(out)
}

/// Compares two byte strings in time that depends only on their lengths.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_rejects() {
        for (raw, text) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw.as_bytes()), text);
            assert_eq!(base64_decode(text.as_bytes()).unwrap(), raw.as_bytes());
        }
        for bad in ["Zg=", "Zh==", "Zg==Zg==", "Z===", "Zm9v!A==", "Zm 9"] {
            assert_eq!(base64_decode(bad.as_bytes()), None, "{bad}");
        }
    }

    /// The decoder as it was before its arithmetic was restructured, kept
    /// to show the new one decides alike.
    fn reference_decode(text: &[u8]) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(4) {
            return None;
        }
        let mut out = Vec::new();
        let quads = text.len() / 4;
        for (qi, quad) in text.chunks_exact(4).enumerate() {
            let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
            if pad > 2 || (pad > 0 && qi + 1 != quads) {
                return None;
            }
            let mut n = 0u32;
            for &c in &quad[..4 - pad] {
                let v = u32::try_from(B64.iter().position(|&d| d == c)?).ok()?;
                n = n << 6 | v;
            }
            n <<= 6 * pad as u32;
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            if bytes[3 - pad..].iter().any(|&b| b != 0) {
                return None;
            }
            out.extend_from_slice(&bytes[..3 - pad]);
        }
        Some(out)
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #[test]
        fn base64_decides_as_before(
            text in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(b"AQgw/+9z==!".to_vec()), 4),
                0..4,
            ).prop_map(|quads| quads.concat()),
            cut in 0usize..4,
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            proptest::prop_assert_eq!(base64_decode(&text), reference_decode(&text));
            let cut = &text[..text.len().saturating_sub(cut)];
            proptest::prop_assert_eq!(base64_decode(cut), reference_decode(cut));
            let encoded = base64_encode(&bytes);
            proptest::prop_assert_eq!(encoded.len(), bytes.len().div_ceil(3) * 4);
            proptest::prop_assert_eq!(base64_decode(encoded.as_bytes()), Some(bytes));
        }
    }

    #[test]
    fn compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
