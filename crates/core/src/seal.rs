//! The encrypted form of an object's bytes (encryption at rest): AES-256-GCM
//! in frames, sans-IO over the aligned buffers of the data path.
//!
//! An object's bytes are one or more *segments* (a single PUT is one, a
//! multipart object one per part, each sealed when its part was uploaded).
//! A segment of P plaintext bytes is stored as ⌈P / [`PLAIN`]⌉ frames, each
//! `nonce (12) | ciphertext | tag (16)`: every frame but a segment's last
//! holds [`PLAIN`] bytes and is exactly [`FRAME`] (64 KiB) long, so stored
//! frames start on block boundaries and O_DIRECT reads and writes of
//! whole frames need no realignment. An empty segment has no frame.
//!
//! Each frame is sealed with the object's data key, a nonce of its own (a
//! random 8-byte prefix per segment and the frame's index) and, as
//! associated data, the segment's part number, the frame's index in the
//! segment and whether it is the segment's last. So a flipped byte fails
//! the tag; a frame moved to another place, or another object's frame,
//! fails it too (another index or part, or another key); and a segment cut
//! at a frame boundary lacks the frame marked last. The layout (segments'
//! part numbers and sizes) is kept beside the object under a MAC by the
//! same key ([`Layout::mac`]), so it cannot be edited to match a cut file.
//!
//! A range of plaintext is read by opening only the frames it touches
//! ([`Layout::frames_for`] gives their stored span; [`Opener`] decrypts
//! them in the buffers they were read into and trims them to the range).

use std::collections::VecDeque;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;

use crate::buf::{AlignedBuf, BufPool};
use crate::reader::Chunk;

/// Stored length of a whole frame.
pub const FRAME: usize = 64 * 1024;
/// Bytes a frame adds: its nonce and its tag.
pub const OVERHEAD: usize = NONCE_LEN + aead::MAX_TAG_LEN;
/// Plaintext bytes of a whole frame.
pub const PLAIN: usize = FRAME - OVERHEAD;

/// Why stored bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A frame failed authentication (changed, moved, or of another key).
    #[error(
        "a frame of the stored object failed authentication (frame {frame} of segment {segment})"
    )]
    Tampered {
        /// Segment index (0-based).
        segment: usize,
        /// Frame index in the segment.
        frame: u64,
    },
    /// The stored bytes are not as long as the layout says.
    #[error("the stored object has {found} bytes where its layout says {expected}")]
    Length {
        /// Bytes the layout implies.
        expected: u64,
        /// Bytes found.
        found: u64,
    },
    /// The layout kept with the object is malformed or fails its MAC.
    #[error("the encryption layout kept with the object is invalid")]
    Layout,
}

impl From<SealError> for crate::StoreError {
    fn from(e: SealError) -> Self {
        crate::StoreError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// Stored length of a segment of `plain` bytes; None on overflow.
#[must_use]
pub fn stored_len(plain: u64) -> Option<u64> {
    let frames = plain.div_ceil(PLAIN as u64);
    plain.checked_add(frames.checked_mul(OVERHEAD as u64)?)
}

/// An object's data key: 32 random bytes, sealing its frames.
pub struct DataKey {
    raw: [u8; 32],
    aead: LessSafeKey,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        DataKey::from_bytes(self.raw)
    }
}

impl DataKey {
    /// A fresh random key.
    ///
    /// # Panics
    /// When the system has no randomness (getrandom fails): nothing can be
    /// sealed safely then.
    #[must_use]
    pub fn generate() -> Self {
        Self::from_bytes(random())
    }

    /// The key of these bytes.
    #[must_use]
    pub fn from_bytes(raw: [u8; 32]) -> Self {
        let aead = match UnboundKey::new(&AES_256_GCM, &raw) {
            Ok(k) => LessSafeKey::new(k),
            // 32 bytes is AES-256's key length: cannot fail.
            Err(_) => unreachable!("AES-256 takes 32-byte keys"),
        };
        DataKey { raw, aead }
    }

    /// The key's bytes (to be wrapped by a master key).
    #[must_use]
    pub fn bytes(&self) -> &[u8; 32] {
        &self.raw
    }

    /// The MAC key derived from this key, for what is kept beside the data
    /// (it reveals nothing of this key, so it may be kept wrapped where the
    /// data key is not at hand, as for a customer's key).
    #[must_use]
    pub fn mac_key(&self) -> [u8; 32] {
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &self.raw),
            b"sluice layout key",
        );
        let mut out = [0u8; 32];
        out.copy_from_slice(derived.as_ref());
        out
    }

    /// A 16-byte keyed digest of `data` (an ETag that reveals nothing of
    /// the plaintext's MD5).
    #[must_use]
    pub fn tag16(&self, data: &[u8]) -> [u8; 16] {
        let full = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.mac_key()), data);
        let mut out = [0u8; 16];
        out.copy_from_slice(&full.as_ref()[..16]);
        out
    }

    fn seal_frame(&self, nonce: [u8; NONCE_LEN], aad: [u8; 17], body: &mut [u8]) -> aead::Tag {
        match self.aead.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            body,
        ) {
            Ok(tag) => tag,
            // ring refuses only inputs over GCM's 64 GiB limit; a frame is 64 KiB.
            Err(_) => unreachable!("a frame is within AES-GCM's limits"),
        }
    }
}

/// 32 random bytes from the system.
///
/// # Panics
/// When the system has no randomness.
#[must_use]
pub fn random<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom as _;
    let mut out = [0u8; N];
    #[allow(clippy::expect_used)]
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .expect("the system's random number generator failed");
    out
}

fn frame_aad(part: u32, index: u64, last: bool) -> [u8; 17] {
    let mut aad = [0u8; 17];
    aad[..4].copy_from_slice(b"sse1");
    aad[4..8].copy_from_slice(&part.to_be_bytes());
    aad[8..16].copy_from_slice(&index.to_be_bytes());
    aad[16] = u8::from(last);
    aad
}

/// Seals a segment's plaintext as it arrives, into buffers of whole frames.
pub struct Sealer {
    key: DataKey,
    part: u32,
    prefix: [u8; 8],
    /// Index of the frame being filled.
    index: u64,
    out: Option<AlignedBuf>,
    /// Where the frame being filled starts in `out`, when one is open.
    open: Option<usize>,
    /// Plaintext bytes in the open frame.
    fill: usize,
    plain: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("part", &self.part)
            .field("plain", &self.plain)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer of segment `part` (0 for an object written whole).
    #[must_use]
    pub fn new(key: DataKey, part: u32) -> Self {
        Sealer {
            key,
            part,
            prefix: random(),
            index: 0,
            out: None,
            open: None,
            fill: 0,
            plain: 0,
        }
    }

    /// Plaintext bytes taken so far.
    #[must_use]
    pub fn plain_len(&self) -> u64 {
        self.plain
    }

    /// Takes `data`; buffers of sealed frames that filled up are pushed to
    /// `ready` (each from `pool`, whose buffer size must be a multiple of
    /// [`FRAME`]).
    pub fn push(&mut self, mut data: &[u8], pool: &BufPool, ready: &mut Vec<AlignedBuf>) {
        debug_assert_eq!(pool.buf_size() % FRAME, 0);
        self.plain = self.plain.saturating_add(data.len() as u64);
        while !data.is_empty() {
            if self.fill == PLAIN {
                // A whole frame and more data: it was not the last.
                self.seal_open(false);
            }
            if self.open.is_none() {
                if self.out.as_ref().is_some_and(|o| o.len() == o.capacity()) {
                    ready.extend(self.out.take());
                }
                let out = self.out.get_or_insert_with(|| pool.get());
                let at = out.len();
                out.extend_from_slice(&[0u8; NONCE_LEN]);
                self.open = Some(at);
            }
            let Some(out) = self.out.as_mut() else { break };
            let n = (PLAIN - self.fill).min(data.len());
            out.extend_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
        }
    }

    fn seal_open(&mut self, last: bool) {
        let (Some(at), Some(out)) = (self.open.take(), self.out.as_mut()) else {
            return;
        };
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&self.prefix);
        // A segment of 2^32 frames is 256 TiB: past any object size limit.
        nonce[8..].copy_from_slice(&(self.index as u32).to_be_bytes());
        let aad = frame_aad(self.part, self.index, last);
        let body_start = at + NONCE_LEN;
        let tag = {
            let whole = out.spare_mut();
            whole[at..body_start].copy_from_slice(&nonce);
            self.key
                .seal_frame(nonce, aad, &mut whole[body_start..body_start + self.fill])
        };
        out.extend_from_slice(tag.as_ref());
        self.index += 1;
        self.fill = 0;
    }

    /// Seals the last frame and hands out what is left.
    pub fn finish(&mut self, ready: &mut Vec<AlignedBuf>) {
        self.seal_open(true);
        ready.extend(self.out.take().filter(|o| !o.is_empty()));
    }
}

/// A segment of an object: the part number its frames are bound to (0 for
/// an object written whole) and its plaintext length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Part number bound into its frames.
    pub part: u32,
    /// Plaintext bytes.
    pub plain: u64,
}

/// The segments of an encrypted object, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    segments: Vec<Segment>,
}

impl Layout {
    /// The layout of an object written whole.
    #[must_use]
    pub fn single(plain: u64) -> Self {
        Layout {
            segments: vec![Segment { part: 0, plain }],
        }
    }

    /// A multipart object's layout.
    #[must_use]
    pub fn parts(segments: Vec<Segment>) -> Self {
        Layout { segments }
    }

    /// The segments.
    #[must_use]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Plaintext length.
    #[must_use]
    pub fn plain_len(&self) -> u64 {
        self.segments
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.plain))
    }

    /// Stored length; None on overflow.
    #[must_use]
    pub fn stored_len(&self) -> Option<u64> {
        self.segments
            .iter()
            .try_fold(0u64, |a, s| a.checked_add(stored_len(s.plain)?))
    }

    /// The compact text form: `size` for an object written whole, else
    /// runs of consecutive part numbers of one size, `first:size*count`,
    /// comma-separated.
    #[must_use]
    pub fn encode(&self) -> String {
        if let [Segment { part: 0, plain }] = self.segments[..] {
            return plain.to_string();
        }
        let mut out = String::new();
        let mut i = 0;
        while i < self.segments.len() {
            let s = self.segments[i];
            let mut n = 1usize;
            while self.segments.get(i + n).is_some_and(|t| {
                t.plain == s.plain && u64::from(t.part) == u64::from(s.part) + n as u64
            }) {
                n += 1;
            }
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&format!("{}:{}", s.part, s.plain));
            if n > 1 {
                out.push_str(&format!("*{n}"));
            }
            i += n;
        }
        out
    }

    /// Parses [`Layout::encode`]'s form (at most 10,000 segments).
    ///
    /// # Errors
    /// [`SealError::Layout`].
    pub fn decode(text: &str) -> Result<Self, SealError> {
        if !text.contains(':') {
            let plain = text.parse().map_err(|_| SealError::Layout)?;
            return Ok(Layout::single(plain));
        }
        let mut segments = Vec::new();
        for run in text.split(',') {
            let (part, rest) = run.split_once(':').ok_or(SealError::Layout)?;
            let (plain, count) = match rest.split_once('*') {
                Some((p, c)) => (p, c.parse::<u32>().map_err(|_| SealError::Layout)?),
                None => (rest, 1),
            };
            let part: u32 = part.parse().map_err(|_| SealError::Layout)?;
            let plain: u64 = plain.parse().map_err(|_| SealError::Layout)?;
            if count == 0 || segments.len().saturating_add(count as usize) > 10_000 {
                return Err(SealError::Layout);
            }
            for k in 0..count {
                let part = part.checked_add(k).ok_or(SealError::Layout)?;
                segments.push(Segment { part, plain });
            }
        }
        Ok(Layout { segments })
    }

    /// The MAC of this layout under a data key's [`DataKey::mac_key`] (hex).
    #[must_use]
    pub fn mac(&self, mac_key: &[u8; 32]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, mac_key);
        let tag = hmac::sign(&key, self.encode().as_bytes());
        sluice_http::hex_encode(&tag.as_ref()[..16])
    }

    /// Checks a MAC made by [`Layout::mac`].
    ///
    /// # Errors
    /// [`SealError::Layout`] when it does not match.
    pub fn verify(&self, key: &DataKey, mac: &str) -> Result<(), SealError> {
        let want = self.mac(&key.mac_key());
        if want.len() == mac.len()
            && want
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        {
            Ok(())
        } else {
            Err(SealError::Layout)
        }
    }

    /// The frames a plaintext range `start..end` touches: their stored span
    /// and where reading it starts.
    #[must_use]
    pub fn frames_for(&self, start: u64, end: u64) -> (u64, u64, Cursor) {
        let mut stored = 0u64;
        let mut plain = 0u64;
        let mut first: Option<(u64, Cursor)> = None;
        let mut stored_end = 0u64;
        for (i, s) in self.segments.iter().enumerate() {
            let seg_end = plain.saturating_add(s.plain);
            if s.plain > 0 && seg_end > start && plain < end {
                let lo = start.saturating_sub(plain) / PLAIN as u64;
                let hi = (end.min(seg_end) - plain).div_ceil(PLAIN as u64);
                if first.is_none() {
                    let at = stored.saturating_add(lo.saturating_mul(FRAME as u64));
                    first = Some((
                        at,
                        Cursor {
                            segment: i,
                            frame: lo,
                            plain_at: plain.saturating_add(lo.saturating_mul(PLAIN as u64)),
                        },
                    ));
                }
                // The span ends after frame hi-1 of this segment.
                let last_plain = s.plain.min(hi.saturating_mul(PLAIN as u64));
                stored_end = stored
                    .saturating_add(last_plain)
                    .saturating_add(hi.saturating_mul(OVERHEAD as u64));
            }
            stored = stored.saturating_add(stored_len(s.plain).unwrap_or(u64::MAX));
            plain = seg_end;
        }
        match first {
            Some((at, cursor)) => (at, stored_end, cursor),
            None => (
                0,
                0,
                Cursor {
                    segment: self.segments.len(),
                    frame: 0,
                    plain_at: plain,
                },
            ),
        }
    }
}

/// Where an [`Opener`] is: the next frame expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    segment: usize,
    frame: u64,
    /// Plaintext offset (in the object) of the frame's first byte.
    plain_at: u64,
}

/// Opens the frames of a stored span as they are read, handing out the
/// plaintext of a range in the same buffers.
pub struct Opener {
    key: DataKey,
    layout: Layout,
    cursor: Cursor,
    start: u64,
    end: u64,
    /// Part of a frame that straddled two reads.
    carry: Option<AlignedBuf>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("cursor", &self.cursor)
            .field("range", &(self.start..self.end))
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// An opener of plaintext `start..end`; the caller reads the stored
    /// span [`Layout::frames_for`] gives.
    #[must_use]
    pub fn new(key: DataKey, layout: Layout, start: u64, end: u64) -> Self {
        let end = end.min(layout.plain_len());
        let (_, _, cursor) = layout.frames_for(start, end);
        Opener {
            key,
            layout,
            cursor,
            start,
            end,
            carry: None,
        }
    }

    /// Stored length of the frame the cursor is at and its plaintext
    /// length; None when the range is done.
    fn current(&self) -> Option<(usize, usize, bool)> {
        if self.cursor.plain_at >= self.end {
            return None;
        }
        let s = self.layout.segments.get(self.cursor.segment)?;
        let done = self.cursor.frame.saturating_mul(PLAIN as u64);
        let plain = s.plain.saturating_sub(done).min(PLAIN as u64) as usize;
        let last = done.saturating_add(plain as u64) >= s.plain;
        Some((plain + OVERHEAD, plain, last))
    }

    fn advance(&mut self, plain: usize, last: bool) {
        self.cursor.plain_at = self.cursor.plain_at.saturating_add(plain as u64);
        if last {
            self.cursor.segment += 1;
            self.cursor.frame = 0;
            // Empty segments hold no frame.
            while self
                .layout
                .segments
                .get(self.cursor.segment)
                .is_some_and(|s| s.plain == 0)
            {
                self.cursor.segment += 1;
            }
        } else {
            self.cursor.frame += 1;
        }
    }

    /// Opens the frame in `buf[at..at + len]` in place; the plaintext of
    /// the range in it, as offsets in `buf`.
    fn open_at(
        &mut self,
        buf: &mut AlignedBuf,
        at: usize,
        stored: usize,
    ) -> Result<(usize, usize), SealError> {
        let (_, plain, last) = self.current().ok_or(SealError::Layout)?;
        let part = self.layout.segments[self.cursor.segment].part;
        let aad = frame_aad(part, self.cursor.frame, last);
        let frame = &mut buf.spare_mut()[at..at + stored];
        let (nonce, body) = frame.split_at_mut(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        let tampered = SealError::Tampered {
            segment: self.cursor.segment,
            frame: self.cursor.frame,
        };
        self.key
            .aead
            .open_in_place(Nonce::assume_unique_for_key(n), Aad::from(aad), body)
            .map_err(|_| tampered)?;
        let fp = self.cursor.plain_at;
        let lo = self.start.saturating_sub(fp).min(plain as u64) as usize;
        let hi = (self.end.saturating_sub(fp)).min(plain as u64) as usize;
        self.advance(plain, last);
        Ok((at + NONCE_LEN + lo, at + NONCE_LEN + hi))
    }

    /// Takes a chunk of the stored span; pushes the plaintext in it (in its
    /// buffer, or for a frame that straddled reads, in one from `pool`).
    ///
    /// # Errors
    /// A frame failed authentication, or more bytes came than the layout has.
    pub fn absorb(
        &mut self,
        chunk: Chunk,
        pool: &BufPool,
        ready: &mut VecDeque<Chunk>,
    ) -> Result<(), SealError> {
        let Chunk {
            mut buf,
            start,
            len,
        } = chunk;
        let mut pos = start;
        let end = start + len;
        if let Some(mut carry) = self.carry.take() {
            let (stored, _, _) = self.current().ok_or(SealError::Layout)?;
            let take = (stored - carry.len()).min(end - pos);
            carry.extend_from_slice(&buf.as_slice()[pos..pos + take]);
            pos += take;
            if carry.len() < stored {
                self.carry = Some(carry);
                return Ok(());
            }
            let (lo, hi) = self.open_at(&mut carry, 0, stored)?;
            if hi > lo {
                ready.push_back(Chunk {
                    buf: carry,
                    start: lo,
                    len: hi - lo,
                });
            }
        }
        let out_start = pos;
        let mut w = pos;
        while pos < end {
            let Some((stored, _, _)) = self.current() else {
                // Bytes past the range's frames: the reader was given the
                // span, so a longer file says the layout is wrong.
                return Err(SealError::Layout);
            };
            if end - pos < stored {
                let mut carry = pool.get();
                if carry.capacity() < stored {
                    carry = AlignedBuf::new(FRAME);
                }
                carry.extend_from_slice(&buf.as_slice()[pos..end]);
                self.carry = Some(carry);
                break;
            }
            let (lo, hi) = self.open_at(&mut buf, pos, stored)?;
            buf.spare_mut().copy_within(lo..hi, w);
            w += hi - lo;
            pos += stored;
        }
        if w > out_start {
            ready.push_back(Chunk {
                buf,
                start: out_start,
                len: w - out_start,
            });
        }
        Ok(())
    }

    /// Whether every frame of the range was opened (and none is half read).
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.current().is_none() && self.carry.is_none()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn seal(key: &DataKey, part: u32, data: &[u8], pieces: usize, pool: &BufPool) -> Vec<u8> {
        let mut s = Sealer::new(key.clone(), part);
        let mut ready = Vec::new();
        for piece in data.chunks(pieces.max(1)) {
            s.push(piece, pool, &mut ready);
        }
        s.finish(&mut ready);
        ready.iter().flat_map(|b| b.as_slice().to_vec()).collect()
    }

    fn open(
        key: &DataKey,
        layout: &Layout,
        stored: &[u8],
        start: u64,
        end: u64,
        read: usize,
    ) -> Result<Vec<u8>, SealError> {
        let pool = BufPool::new(FRAME * 2, 4);
        let (s, e, _) = layout.frames_for(start, end);
        let mut op = Opener::new(key.clone(), layout.clone(), start, end);
        let mut ready = VecDeque::new();
        let span = &stored[s as usize..(e as usize).min(stored.len())];
        for piece in span.chunks(read) {
            let mut buf = AlignedBuf::new(read + 8192);
            buf.extend_from_slice(&[0u8; 100]);
            buf.extend_from_slice(piece);
            op.absorb(
                Chunk {
                    buf,
                    start: 100,
                    len: piece.len(),
                },
                &pool,
                &mut ready,
            )?;
        }
        if !op.is_done() {
            return Err(SealError::Length {
                expected: e - s,
                found: span.len() as u64,
            });
        }
        Ok(ready.iter().flat_map(|c| c.data().to_vec()).collect())
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + i / 7) as u8).collect()
    }

    #[test]
    fn round_trips_and_ranges_across_frames() {
        let key = DataKey::generate();
        let pool = BufPool::new(FRAME * 4, 4);
        for n in [0, 1, PLAIN - 1, PLAIN, PLAIN + 1, 3 * PLAIN + 17, 9 * PLAIN] {
            let d = data(n);
            let stored = seal(&key, 0, &d, 10_000, &pool);
            assert_eq!(stored.len() as u64, stored_len(n as u64).unwrap());
            let layout = Layout::single(n as u64);
            if n == 0 {
                continue;
            }
            assert_eq!(
                open(&key, &layout, &stored, 0, n as u64, 70_000).unwrap(),
                d
            );
            for (s, e) in [(0, 1), (PLAIN - 3, PLAIN + 3), (n - 1, n), (1, n)] {
                let (s, e) = (s.min(n - 1), e.min(n).max(s.min(n - 1) + 1));
                for read in [4096, FRAME, 100_000] {
                    let got = open(&key, &layout, &stored, s as u64, e as u64, read).unwrap();
                    assert_eq!(got, &d[s..e], "n {n} range {s}..{e} reads {read}");
                }
            }
        }
    }

    #[test]
    fn segments_of_parts_round_trip() {
        let key = DataKey::generate();
        let pool = BufPool::new(FRAME * 16, 4);
        let sizes = [2 * PLAIN + 5, 0, 7, PLAIN * 3];
        let mut stored = Vec::new();
        let mut plain = Vec::new();
        let mut segs = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let d = data(n + i);
            let d = &d[i..];
            stored.extend(seal(&key, i as u32 + 3, d, 5000, &pool));
            plain.extend_from_slice(d);
            segs.push(Segment {
                part: i as u32 + 3,
                plain: n as u64,
            });
        }
        let layout = Layout::parts(segs);
        assert_eq!(Layout::decode(&layout.encode()).unwrap(), layout);
        assert_eq!(layout.stored_len().unwrap(), stored.len() as u64);
        let total = plain.len() as u64;
        for (s, e) in [
            (0, total),
            (PLAIN as u64, total - 1),
            (2 * PLAIN as u64 + 3, 2 * PLAIN as u64 + 9),
        ] {
            assert_eq!(
                open(&key, &layout, &stored, s, e, 8192).unwrap(),
                &plain[s as usize..e as usize]
            );
        }
    }

    #[test]
    fn tampering_is_refused() {
        let key = DataKey::generate();
        let pool = BufPool::new(FRAME * 4, 4);
        let n = 3 * PLAIN + 100;
        let d = data(n);
        let stored = seal(&key, 0, &d, 65_536, &pool);
        let layout = Layout::single(n as u64);
        // A flipped byte.
        let mut t = stored.clone();
        t[FRAME + 500] ^= 1;
        assert!(matches!(
            open(&key, &layout, &t, 0, n as u64, FRAME),
            Err(SealError::Tampered { frame: 1, .. })
        ));
        // Two frames swapped.
        let mut t = stored.clone();
        let (a, b) = t.split_at_mut(FRAME);
        a.swap_with_slice(&mut b[..FRAME]);
        assert!(open(&key, &layout, &t, 0, n as u64, FRAME).is_err());
        // Cut after three whole frames, the layout edited to match.
        let cut = Layout::single(3 * PLAIN as u64);
        assert!(open(&key, &cut, &stored[..3 * FRAME], 0, 3 * PLAIN as u64, FRAME).is_err());
        assert!(cut.verify(&key, &layout.mac(&key.mac_key())).is_err());
        layout.verify(&key, &layout.mac(&key.mac_key())).unwrap();
        // Another key.
        assert!(open(&DataKey::generate(), &layout, &stored, 0, 10, FRAME).is_err());
        // Part numbers bind segments.
        let moved = Layout::parts(vec![Segment {
            part: 1,
            plain: n as u64,
        }]);
        assert!(open(&key, &moved, &stored, 0, 10, FRAME).is_err());
    }
}
