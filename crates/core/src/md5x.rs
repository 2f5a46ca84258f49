//! Multi-buffer MD5: up to [`LANES`] independent MD5 streams advanced side
//! by side, one 64-byte block of each per pass, in the 32-bit lanes of a
//! SIMD register (AVX-512F: 16 lanes, `vpternlogd` for each round function
//! and `vprold` for the rotate; AVX2: 8 lanes, twice). MD5 cannot be
//! parallelised within one stream, but a core that receives several bodies
//! at once can hash them together. Without either instruction set the
//! lanes are advanced one by one with the scalar compression of `md-5`
//! (the reference the tests compare with).
//!
//! This is the one module of the crate with `std::arch` code; each
//! `unsafe` block says why it is sound.
#![allow(unsafe_code)]

use md5::{Digest as _, Md5};

/// Streams advanced in one pass.
pub const LANES: usize = 16;

/// The MD5 initial state.
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Per-step additive constants, `floor(abs(sin(i + 1)) * 2^32)`.
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// The message word each step reads.
const WORD: [usize; 64] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, //
    1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, //
    5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2, //
    0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9,
];

/// The state of every lane, one array per MD5 word (lane `i` is element
/// `i` of each): the layout the SIMD code loads whole.
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct State {
    abcd: [[u32; LANES]; 4],
}

impl Default for State {
    fn default() -> Self {
        State {
            abcd: INIT.map(|w| [w; LANES]),
        }
    }
}

impl State {
    /// Lane `lane` back to MD5's initial state.
    pub fn reset(&mut self, lane: usize) {
        for (w, init) in self.abcd.iter_mut().zip(INIT) {
            w[lane] = init;
        }
    }

    /// Lane `lane`'s state (a, b, c, d).
    #[must_use]
    pub fn lane(&self, lane: usize) -> [u32; 4] {
        self.abcd.map(|w| w[lane])
    }

    fn set_lane(&mut self, lane: usize, v: [u32; 4]) {
        for (w, x) in self.abcd.iter_mut().zip(v) {
            w[lane] = x;
        }
    }
}

/// Which implementation [`compress`] uses on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// 16 lanes in one AVX-512 register.
    Avx512,
    /// 8 lanes in one AVX2 register, two passes.
    Avx2,
    /// One lane at a time (md-5's compression).
    Scalar,
}

/// The best engine this CPU has (checked once per call; cheap).
#[must_use]
pub fn engine() -> Engine {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Engine::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Engine::Avx2;
        }
    }
    Engine::Scalar
}

/// Advances every lane whose block is `Some` by that block, with `engine`
/// (which must be one this CPU has: [`engine`] or [`Engine::Scalar`]).
/// Lanes without a block keep their state.
pub fn compress(engine: Engine, state: &mut State, blocks: &[Option<&[u8; 64]>; LANES]) {
    match engine {
        #[cfg(target_arch = "x86_64")]
        Engine::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
            let words = transpose(blocks);
            let before = state.clone();
            // SAFETY: the CPU has AVX-512F (checked on this line).
            unsafe { x86::compress_avx512(state, &words) };
            keep_idle(state, &before, blocks);
        }
        #[cfg(target_arch = "x86_64")]
        Engine::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            let words = transpose(blocks);
            let before = state.clone();
            // SAFETY: the CPU has AVX2 (checked on this line).
            unsafe { x86::compress_avx2(state, &words) };
            keep_idle(state, &before, blocks);
        }
        _ => {
            for (lane, block) in blocks.iter().enumerate() {
                if let Some(block) = block {
                    let mut s = state.lane(lane);
                    compress_scalar(&mut s, block);
                    state.set_lane(lane, s);
                }
            }
        }
    }
}

/// One block of one stream, in plain Rust (the fallback, and each lane's
/// padding at its end).
pub fn compress_scalar(state: &mut [u32; 4], block: &[u8; 64]) {
    const SHIFT: [[u32; 4]; 4] = [
        [7, 12, 17, 22],
        [5, 9, 14, 20],
        [4, 11, 16, 23],
        [6, 10, 15, 21],
    ];
    let mut w = [0u32; 16];
    for (x, b) in w.iter_mut().zip(block.chunks_exact(4)) {
        *x = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let round = i / 16;
        let f = match round {
            0 => (b & c) | (!b & d),
            1 => (d & b) | (!d & c),
            2 => b ^ c ^ d,
            _ => c ^ (b | !d),
        };
        let t = a
            .wrapping_add(f)
            .wrapping_add(w[WORD[i]])
            .wrapping_add(K[i]);
        let new_b = b.wrapping_add(t.rotate_left(SHIFT[round][i % 4]));
        a = d;
        d = c;
        c = b;
        b = new_b;
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d]) {
        *s = s.wrapping_add(v);
    }
}

/// Lanes that had no block get their state back (the SIMD pass advanced
/// them over zeros).
fn keep_idle(state: &mut State, before: &State, blocks: &[Option<&[u8; 64]>; LANES]) {
    for (lane, block) in blocks.iter().enumerate() {
        if block.is_none() {
            state.set_lane(lane, before.lane(lane));
        }
    }
}

/// The message words of every lane, word-major: `words[j][lane]` is word
/// `j` (little-endian) of that lane's block.
fn transpose(blocks: &[Option<&[u8; 64]>; LANES]) -> [[u32; LANES]; 16] {
    let mut words = [[0u32; LANES]; 16];
    for (lane, block) in blocks.iter().enumerate() {
        if let Some(block) = block {
            for (j, w) in block.chunks_exact(4).enumerate() {
                words[j][lane] = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            }
        }
    }
    words
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{State, K, LANES};
    use std::arch::x86_64::*;

    /// One block of every lane (AVX-512F, 16 lanes in one register).
    ///
    /// # Safety
    /// The CPU must have AVX512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn compress_avx512(state: &mut State, words: &[[u32; LANES]; 16]) {
        macro_rules! f {
            (0, $b:ident, $c:ident, $d:ident) => {
                _mm512_ternarylogic_epi32::<0xCA>($b, $c, $d)
            };
            (1, $b:ident, $c:ident, $d:ident) => {
                _mm512_ternarylogic_epi32::<0xCA>($d, $b, $c)
            };
            (2, $b:ident, $c:ident, $d:ident) => {
                _mm512_ternarylogic_epi32::<0x96>($b, $c, $d)
            };
            (3, $b:ident, $c:ident, $d:ident) => {
                _mm512_ternarylogic_epi32::<0x39>($b, $c, $d)
            };
        }
        macro_rules! step {
            ($m:ident, $r:tt, $a:ident, $b:ident, $c:ident, $d:ident, $w:literal, $i:literal, $s:literal) => {
                let t = _mm512_add_epi32(
                    _mm512_add_epi32($a, f!($r, $b, $c, $d)),
                    _mm512_add_epi32($m[$w], _mm512_set1_epi32(K[$i] as i32)),
                );
                $a = _mm512_add_epi32($b, _mm512_rol_epi32::<$s>(t));
            };
        }
        for at in [0] {
            // SAFETY: every load and store touches the u32 at `at..at + W`
            // (W the lanes of one register) of a row of 16.
            unsafe {
                let w: [__m512i; 16] =
                    std::array::from_fn(|j| _mm512_loadu_si512(words[j].as_ptr().add(at).cast()));
                let row = |r: &[u32; LANES]| _mm512_loadu_si512(r.as_ptr().add(at).cast());
                let start = [
                    row(&state.abcd[0]),
                    row(&state.abcd[1]),
                    row(&state.abcd[2]),
                    row(&state.abcd[3]),
                ];
                let [mut a, mut b, mut c, mut d] = start;
                step!(w, 0, a, b, c, d, 0, 0, 7);
                step!(w, 0, d, a, b, c, 1, 1, 12);
                step!(w, 0, c, d, a, b, 2, 2, 17);
                step!(w, 0, b, c, d, a, 3, 3, 22);
                step!(w, 0, a, b, c, d, 4, 4, 7);
                step!(w, 0, d, a, b, c, 5, 5, 12);
                step!(w, 0, c, d, a, b, 6, 6, 17);
                step!(w, 0, b, c, d, a, 7, 7, 22);
                step!(w, 0, a, b, c, d, 8, 8, 7);
                step!(w, 0, d, a, b, c, 9, 9, 12);
                step!(w, 0, c, d, a, b, 10, 10, 17);
                step!(w, 0, b, c, d, a, 11, 11, 22);
                step!(w, 0, a, b, c, d, 12, 12, 7);
                step!(w, 0, d, a, b, c, 13, 13, 12);
                step!(w, 0, c, d, a, b, 14, 14, 17);
                step!(w, 0, b, c, d, a, 15, 15, 22);
                step!(w, 1, a, b, c, d, 1, 16, 5);
                step!(w, 1, d, a, b, c, 6, 17, 9);
                step!(w, 1, c, d, a, b, 11, 18, 14);
                step!(w, 1, b, c, d, a, 0, 19, 20);
                step!(w, 1, a, b, c, d, 5, 20, 5);
                step!(w, 1, d, a, b, c, 10, 21, 9);
                step!(w, 1, c, d, a, b, 15, 22, 14);
                step!(w, 1, b, c, d, a, 4, 23, 20);
                step!(w, 1, a, b, c, d, 9, 24, 5);
                step!(w, 1, d, a, b, c, 14, 25, 9);
                step!(w, 1, c, d, a, b, 3, 26, 14);
                step!(w, 1, b, c, d, a, 8, 27, 20);
                step!(w, 1, a, b, c, d, 13, 28, 5);
                step!(w, 1, d, a, b, c, 2, 29, 9);
                step!(w, 1, c, d, a, b, 7, 30, 14);
                step!(w, 1, b, c, d, a, 12, 31, 20);
                step!(w, 2, a, b, c, d, 5, 32, 4);
                step!(w, 2, d, a, b, c, 8, 33, 11);
                step!(w, 2, c, d, a, b, 11, 34, 16);
                step!(w, 2, b, c, d, a, 14, 35, 23);
                step!(w, 2, a, b, c, d, 1, 36, 4);
                step!(w, 2, d, a, b, c, 4, 37, 11);
                step!(w, 2, c, d, a, b, 7, 38, 16);
                step!(w, 2, b, c, d, a, 10, 39, 23);
                step!(w, 2, a, b, c, d, 13, 40, 4);
                step!(w, 2, d, a, b, c, 0, 41, 11);
                step!(w, 2, c, d, a, b, 3, 42, 16);
                step!(w, 2, b, c, d, a, 6, 43, 23);
                step!(w, 2, a, b, c, d, 9, 44, 4);
                step!(w, 2, d, a, b, c, 12, 45, 11);
                step!(w, 2, c, d, a, b, 15, 46, 16);
                step!(w, 2, b, c, d, a, 2, 47, 23);
                step!(w, 3, a, b, c, d, 0, 48, 6);
                step!(w, 3, d, a, b, c, 7, 49, 10);
                step!(w, 3, c, d, a, b, 14, 50, 15);
                step!(w, 3, b, c, d, a, 5, 51, 21);
                step!(w, 3, a, b, c, d, 12, 52, 6);
                step!(w, 3, d, a, b, c, 3, 53, 10);
                step!(w, 3, c, d, a, b, 10, 54, 15);
                step!(w, 3, b, c, d, a, 1, 55, 21);
                step!(w, 3, a, b, c, d, 8, 56, 6);
                step!(w, 3, d, a, b, c, 15, 57, 10);
                step!(w, 3, c, d, a, b, 6, 58, 15);
                step!(w, 3, b, c, d, a, 13, 59, 21);
                step!(w, 3, a, b, c, d, 4, 60, 6);
                step!(w, 3, d, a, b, c, 11, 61, 10);
                step!(w, 3, c, d, a, b, 2, 62, 15);
                step!(w, 3, b, c, d, a, 9, 63, 21);
                for (r, (v, v0)) in [a, b, c, d].into_iter().zip(start).enumerate() {
                    _mm512_storeu_si512(
                        state.abcd[r].as_mut_ptr().add(at).cast(),
                        _mm512_add_epi32(v, v0),
                    );
                }
            }
        }
    }

    /// One block of every lane (AVX2, 8 lanes a register, two registers).
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn compress_avx2(state: &mut State, words: &[[u32; LANES]; 16]) {
        macro_rules! f {
            (0, $b:ident, $c:ident, $d:ident) => {
                _mm256_xor_si256($d, _mm256_and_si256($b, _mm256_xor_si256($c, $d)))
            };
            (1, $b:ident, $c:ident, $d:ident) => {
                _mm256_xor_si256($c, _mm256_and_si256($d, _mm256_xor_si256($b, $c)))
            };
            (2, $b:ident, $c:ident, $d:ident) => {
                _mm256_xor_si256(_mm256_xor_si256($b, $c), $d)
            };
            (3, $b:ident, $c:ident, $d:ident) => {
                _mm256_xor_si256(
                    $c,
                    _mm256_or_si256($b, _mm256_xor_si256($d, _mm256_set1_epi32(-1))),
                )
            };
        }
        macro_rules! step {
            ($m:ident, $r:tt, $a:ident, $b:ident, $c:ident, $d:ident, $w:literal, $i:literal, $s:literal) => {
                let t = _mm256_add_epi32(
                    _mm256_add_epi32($a, f!($r, $b, $c, $d)),
                    _mm256_add_epi32($m[$w], _mm256_set1_epi32(K[$i] as i32)),
                );
                $a = _mm256_add_epi32(
                    $b,
                    _mm256_or_si256(
                        _mm256_slli_epi32::<$s>(t),
                        _mm256_srli_epi32::<{ 32 - $s }>(t),
                    ),
                );
            };
        }
        for at in [0, 8] {
            // SAFETY: every load and store touches the u32 at `at..at + W`
            // (W the lanes of one register) of a row of 16.
            unsafe {
                let w: [__m256i; 16] =
                    std::array::from_fn(|j| _mm256_loadu_si256(words[j].as_ptr().add(at).cast()));
                let row = |r: &[u32; LANES]| _mm256_loadu_si256(r.as_ptr().add(at).cast());
                let start = [
                    row(&state.abcd[0]),
                    row(&state.abcd[1]),
                    row(&state.abcd[2]),
                    row(&state.abcd[3]),
                ];
                let [mut a, mut b, mut c, mut d] = start;
                step!(w, 0, a, b, c, d, 0, 0, 7);
                step!(w, 0, d, a, b, c, 1, 1, 12);
                step!(w, 0, c, d, a, b, 2, 2, 17);
                step!(w, 0, b, c, d, a, 3, 3, 22);
                step!(w, 0, a, b, c, d, 4, 4, 7);
                step!(w, 0, d, a, b, c, 5, 5, 12);
                step!(w, 0, c, d, a, b, 6, 6, 17);
                step!(w, 0, b, c, d, a, 7, 7, 22);
                step!(w, 0, a, b, c, d, 8, 8, 7);
                step!(w, 0, d, a, b, c, 9, 9, 12);
                step!(w, 0, c, d, a, b, 10, 10, 17);
                step!(w, 0, b, c, d, a, 11, 11, 22);
                step!(w, 0, a, b, c, d, 12, 12, 7);
                step!(w, 0, d, a, b, c, 13, 13, 12);
                step!(w, 0, c, d, a, b, 14, 14, 17);
                step!(w, 0, b, c, d, a, 15, 15, 22);
                step!(w, 1, a, b, c, d, 1, 16, 5);
                step!(w, 1, d, a, b, c, 6, 17, 9);
                step!(w, 1, c, d, a, b, 11, 18, 14);
                step!(w, 1, b, c, d, a, 0, 19, 20);
                step!(w, 1, a, b, c, d, 5, 20, 5);
                step!(w, 1, d, a, b, c, 10, 21, 9);
                step!(w, 1, c, d, a, b, 15, 22, 14);
                step!(w, 1, b, c, d, a, 4, 23, 20);
                step!(w, 1, a, b, c, d, 9, 24, 5);
                step!(w, 1, d, a, b, c, 14, 25, 9);
                step!(w, 1, c, d, a, b, 3, 26, 14);
                step!(w, 1, b, c, d, a, 8, 27, 20);
                step!(w, 1, a, b, c, d, 13, 28, 5);
                step!(w, 1, d, a, b, c, 2, 29, 9);
                step!(w, 1, c, d, a, b, 7, 30, 14);
                step!(w, 1, b, c, d, a, 12, 31, 20);
                step!(w, 2, a, b, c, d, 5, 32, 4);
                step!(w, 2, d, a, b, c, 8, 33, 11);
                step!(w, 2, c, d, a, b, 11, 34, 16);
                step!(w, 2, b, c, d, a, 14, 35, 23);
                step!(w, 2, a, b, c, d, 1, 36, 4);
                step!(w, 2, d, a, b, c, 4, 37, 11);
                step!(w, 2, c, d, a, b, 7, 38, 16);
                step!(w, 2, b, c, d, a, 10, 39, 23);
                step!(w, 2, a, b, c, d, 13, 40, 4);
                step!(w, 2, d, a, b, c, 0, 41, 11);
                step!(w, 2, c, d, a, b, 3, 42, 16);
                step!(w, 2, b, c, d, a, 6, 43, 23);
                step!(w, 2, a, b, c, d, 9, 44, 4);
                step!(w, 2, d, a, b, c, 12, 45, 11);
                step!(w, 2, c, d, a, b, 15, 46, 16);
                step!(w, 2, b, c, d, a, 2, 47, 23);
                step!(w, 3, a, b, c, d, 0, 48, 6);
                step!(w, 3, d, a, b, c, 7, 49, 10);
                step!(w, 3, c, d, a, b, 14, 50, 15);
                step!(w, 3, b, c, d, a, 5, 51, 21);
                step!(w, 3, a, b, c, d, 12, 52, 6);
                step!(w, 3, d, a, b, c, 3, 53, 10);
                step!(w, 3, c, d, a, b, 10, 54, 15);
                step!(w, 3, b, c, d, a, 1, 55, 21);
                step!(w, 3, a, b, c, d, 8, 56, 6);
                step!(w, 3, d, a, b, c, 15, 57, 10);
                step!(w, 3, c, d, a, b, 6, 58, 15);
                step!(w, 3, b, c, d, a, 13, 59, 21);
                step!(w, 3, a, b, c, d, 4, 60, 6);
                step!(w, 3, d, a, b, c, 11, 61, 10);
                step!(w, 3, c, d, a, b, 2, 62, 15);
                step!(w, 3, b, c, d, a, 9, 63, 21);
                for (r, (v, v0)) in [a, b, c, d].into_iter().zip(start).enumerate() {
                    _mm256_storeu_si256(
                        state.abcd[r].as_mut_ptr().add(at).cast(),
                        _mm256_add_epi32(v, v0),
                    );
                }
            }
        }
    }
}

/// Up to [`LANES`] MD5 streams hashed side by side: bytes are given to a
/// lane with [`MultiMd5::update`], which advances every lane that holds a
/// whole block in passes of the SIMD engine (a lane with data waits for the
/// others only within one call), and [`MultiMd5::finish`] pads a lane and
/// returns its digest, freeing it.
#[derive(Debug)]
pub struct MultiMd5 {
    engine: Engine,
    state: State,
    /// Bytes of each lane not yet a whole block.
    tail: [[u8; 64]; LANES],
    tail_len: [usize; LANES],
    /// Bytes each lane was given.
    total: [u64; LANES],
}

impl Default for MultiMd5 {
    fn default() -> Self {
        Self::new(engine())
    }
}

impl MultiMd5 {
    /// Lanes hashed with `engine` (one this CPU has).
    #[must_use]
    pub fn new(engine: Engine) -> Self {
        MultiMd5 {
            engine,
            state: State::default(),
            tail: [[0; 64]; LANES],
            tail_len: [0; LANES],
            total: [0; LANES],
        }
    }

    /// Gives each lane the bytes of its slot in `data` (None: nothing) and
    /// hashes what makes whole blocks, all lanes side by side.
    pub fn update(&mut self, data: &[Option<&[u8]>; LANES]) {
        let mut rest: [&[u8]; LANES] = [&[]; LANES];
        for (lane, d) in data.iter().enumerate() {
            let Some(d) = d else { continue };
            self.total[lane] = self.total[lane].wrapping_add(d.len() as u64);
            // Fill the lane's partial block first.
            let have = self.tail_len[lane];
            let take = (64 - have).min(d.len());
            if have > 0 || d.len() < 64 {
                self.tail[lane][have..have + take].copy_from_slice(&d[..take]);
                self.tail_len[lane] = have + take;
                rest[lane] = &d[take..];
            } else {
                rest[lane] = d;
            }
        }
        // Lanes whose partial block is full go first, with nothing else.
        let full: [bool; LANES] = std::array::from_fn(|l| self.tail_len[l] == 64);
        if full.iter().any(|&f| f) {
            let tails = self.tail;
            let blocks: [Option<&[u8; 64]>; LANES] =
                std::array::from_fn(|l| full[l].then_some(&tails[l]));
            compress(self.engine, &mut self.state, &blocks);
            for (l, f) in full.iter().enumerate() {
                if *f {
                    self.tail_len[l] = 0;
                }
            }
        }
        // Then whole blocks from each lane's data, a pass per block index.
        loop {
            let blocks: [Option<&[u8; 64]>; LANES] = std::array::from_fn(|l| {
                (self.tail_len[l] == 0)
                    .then(|| rest[l].first_chunk::<64>())
                    .flatten()
            });
            if blocks.iter().all(Option::is_none) {
                break;
            }
            compress(self.engine, &mut self.state, &blocks);
            for (l, b) in blocks.iter().enumerate() {
                if b.is_some() {
                    rest[l] = &rest[l][64..];
                }
            }
        }
        // What is left of each lane (under a block) waits in its tail.
        for (l, r) in rest.iter().enumerate() {
            if !r.is_empty() {
                let have = self.tail_len[l];
                self.tail[l][have..have + r.len()].copy_from_slice(r);
                self.tail_len[l] = have + r.len();
            }
        }
    }

    /// The digest of lane `lane`, which is then free (its state reset).
    #[must_use]
    pub fn finish(&mut self, lane: usize) -> [u8; 16] {
        let bits = self.total[lane].wrapping_mul(8);
        let mut pad = [0u8; 128];
        let have = self.tail_len[lane];
        pad[..have].copy_from_slice(&self.tail[lane][..have]);
        pad[have] = 0x80;
        let len = if have < 56 { 64 } else { 128 };
        pad[len - 8..len].copy_from_slice(&bits.to_le_bytes());
        let mut s = self.state.lane(lane);
        for block in pad[..len].chunks_exact(64) {
            if let Ok(block) = block.try_into() {
                compress_scalar(&mut s, block);
            }
        }
        self.state.reset(lane);
        self.tail_len[lane] = 0;
        self.total[lane] = 0;
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(s) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// The MD5 of each of `inputs` (at most [`LANES`]), hashed side by side.
#[must_use]
pub fn digest_all(engine: Engine, inputs: &[&[u8]]) -> Vec<[u8; 16]> {
    let mut m = MultiMd5::new(engine);
    let data: [Option<&[u8]>; LANES] = std::array::from_fn(|l| inputs.get(l).copied());
    m.update(&data);
    (0..inputs.len().min(LANES)).map(|l| m.finish(l)).collect()
}

/// md-5's digest of `data`, for comparison.
#[must_use]
pub fn reference(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}
