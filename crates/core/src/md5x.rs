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
            let runs: [Option<&[[u8; 64]]>; LANES] =
                std::array::from_fn(|l| blocks[l].map(std::slice::from_ref));
            compress_run(engine, state, &runs, 1);
        }
        #[cfg(target_arch = "x86_64")]
        Engine::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            let runs: [Option<&[[u8; 64]]>; LANES] =
                std::array::from_fn(|l| blocks[l].map(std::slice::from_ref));
            compress_run(engine, state, &runs, 1);
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

/// Advances every lane whose slot is `Some` by its first `n` blocks (each
/// such slot must hold at least `n`), with `engine` (one this CPU has).
/// Lanes without blocks keep their state. The AVX-512 engine runs the `n`
/// blocks in one call, the state kept in registers; the others go block by
/// block through [`compress`].
pub fn compress_run(
    engine: Engine,
    state: &mut State,
    blocks: &[Option<&[[u8; 64]]>; LANES],
    n: usize,
) {
    if n == 0 {
        return;
    }
    let n = blocks.iter().flatten().map(|b| b.len()).fold(n, usize::min);
    match engine {
        #[cfg(target_arch = "x86_64")]
        Engine::Avx512 | Engine::Avx2
            if std::arch::is_x86_feature_detected!("avx2")
                && (engine == Engine::Avx2 || std::arch::is_x86_feature_detected!("avx512f")) =>
        {
            // Idle lanes read one block of zeros over and over; their state
            // is put back afterwards.
            static ZERO: [u8; 64] = [0; 64];
            let ptrs: [*const u8; LANES] = std::array::from_fn(|l| {
                blocks[l].map_or(ZERO.as_ptr(), |b| b.as_ptr().cast::<u8>())
            });
            let stride: [usize; LANES] =
                std::array::from_fn(|l| if blocks[l].is_some() { 64 } else { 0 });
            let idle = blocks.iter().any(Option::is_none);
            let before = idle.then(|| state.clone());
            // SAFETY: the CPU has the engine's instructions (checked above:
            // AVX2, and AVX-512F for that engine); each busy lane's pointer
            // starts a slice of at least `n` blocks of 64 bytes read at
            // stride 64, each idle lane's the 64 bytes of ZERO at stride 0.
            unsafe {
                if engine == Engine::Avx512 {
                    x86::compress_run_avx512(state, &ptrs, &stride, n);
                } else {
                    x86::compress_run_avx2(state, &ptrs, &stride, n);
                }
            }
            if let Some(before) = before {
                for (lane, b) in blocks.iter().enumerate() {
                    if b.is_none() {
                        state.set_lane(lane, before.lane(lane));
                    }
                }
            }
        }
        _ => {
            for k in 0..n {
                let one: [Option<&[u8; 64]>; LANES] =
                    std::array::from_fn(|l| blocks[l].map(|b| &b[k]));
                compress(engine, state, &one);
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

/// MD5's 64 steps (RFC 1321 section 3.4): round, the four state words in
/// their turn, the message word, the step's constant, the rotation. Each
/// SIMD kernel supplies `$step` for its register width.
#[cfg(target_arch = "x86_64")]
macro_rules! rounds {
    ($step:ident, $w:ident, $a:ident, $b:ident, $c:ident, $d:ident) => {
        $step!($w, 0, $a, $b, $c, $d, 0, 0, 7);
        $step!($w, 0, $d, $a, $b, $c, 1, 1, 12);
        $step!($w, 0, $c, $d, $a, $b, 2, 2, 17);
        $step!($w, 0, $b, $c, $d, $a, 3, 3, 22);
        $step!($w, 0, $a, $b, $c, $d, 4, 4, 7);
        $step!($w, 0, $d, $a, $b, $c, 5, 5, 12);
        $step!($w, 0, $c, $d, $a, $b, 6, 6, 17);
        $step!($w, 0, $b, $c, $d, $a, 7, 7, 22);
        $step!($w, 0, $a, $b, $c, $d, 8, 8, 7);
        $step!($w, 0, $d, $a, $b, $c, 9, 9, 12);
        $step!($w, 0, $c, $d, $a, $b, 10, 10, 17);
        $step!($w, 0, $b, $c, $d, $a, 11, 11, 22);
        $step!($w, 0, $a, $b, $c, $d, 12, 12, 7);
        $step!($w, 0, $d, $a, $b, $c, 13, 13, 12);
        $step!($w, 0, $c, $d, $a, $b, 14, 14, 17);
        $step!($w, 0, $b, $c, $d, $a, 15, 15, 22);
        $step!($w, 1, $a, $b, $c, $d, 1, 16, 5);
        $step!($w, 1, $d, $a, $b, $c, 6, 17, 9);
        $step!($w, 1, $c, $d, $a, $b, 11, 18, 14);
        $step!($w, 1, $b, $c, $d, $a, 0, 19, 20);
        $step!($w, 1, $a, $b, $c, $d, 5, 20, 5);
        $step!($w, 1, $d, $a, $b, $c, 10, 21, 9);
        $step!($w, 1, $c, $d, $a, $b, 15, 22, 14);
        $step!($w, 1, $b, $c, $d, $a, 4, 23, 20);
        $step!($w, 1, $a, $b, $c, $d, 9, 24, 5);
        $step!($w, 1, $d, $a, $b, $c, 14, 25, 9);
        $step!($w, 1, $c, $d, $a, $b, 3, 26, 14);
        $step!($w, 1, $b, $c, $d, $a, 8, 27, 20);
        $step!($w, 1, $a, $b, $c, $d, 13, 28, 5);
        $step!($w, 1, $d, $a, $b, $c, 2, 29, 9);
        $step!($w, 1, $c, $d, $a, $b, 7, 30, 14);
        $step!($w, 1, $b, $c, $d, $a, 12, 31, 20);
        $step!($w, 2, $a, $b, $c, $d, 5, 32, 4);
        $step!($w, 2, $d, $a, $b, $c, 8, 33, 11);
        $step!($w, 2, $c, $d, $a, $b, 11, 34, 16);
        $step!($w, 2, $b, $c, $d, $a, 14, 35, 23);
        $step!($w, 2, $a, $b, $c, $d, 1, 36, 4);
        $step!($w, 2, $d, $a, $b, $c, 4, 37, 11);
        $step!($w, 2, $c, $d, $a, $b, 7, 38, 16);
        $step!($w, 2, $b, $c, $d, $a, 10, 39, 23);
        $step!($w, 2, $a, $b, $c, $d, 13, 40, 4);
        $step!($w, 2, $d, $a, $b, $c, 0, 41, 11);
        $step!($w, 2, $c, $d, $a, $b, 3, 42, 16);
        $step!($w, 2, $b, $c, $d, $a, 6, 43, 23);
        $step!($w, 2, $a, $b, $c, $d, 9, 44, 4);
        $step!($w, 2, $d, $a, $b, $c, 12, 45, 11);
        $step!($w, 2, $c, $d, $a, $b, 15, 46, 16);
        $step!($w, 2, $b, $c, $d, $a, 2, 47, 23);
        $step!($w, 3, $a, $b, $c, $d, 0, 48, 6);
        $step!($w, 3, $d, $a, $b, $c, 7, 49, 10);
        $step!($w, 3, $c, $d, $a, $b, 14, 50, 15);
        $step!($w, 3, $b, $c, $d, $a, 5, 51, 21);
        $step!($w, 3, $a, $b, $c, $d, 12, 52, 6);
        $step!($w, 3, $d, $a, $b, $c, 3, 53, 10);
        $step!($w, 3, $c, $d, $a, $b, 10, 54, 15);
        $step!($w, 3, $b, $c, $d, $a, 1, 55, 21);
        $step!($w, 3, $a, $b, $c, $d, 8, 56, 6);
        $step!($w, 3, $d, $a, $b, $c, 15, 57, 10);
        $step!($w, 3, $c, $d, $a, $b, 6, 58, 15);
        $step!($w, 3, $b, $c, $d, $a, 13, 59, 21);
        $step!($w, 3, $a, $b, $c, $d, 4, 60, 6);
        $step!($w, 3, $d, $a, $b, $c, 11, 61, 10);
        $step!($w, 3, $c, $d, $a, $b, 2, 62, 15);
        $step!($w, 3, $b, $c, $d, $a, 9, 63, 21);
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{State, K, LANES};
    use std::arch::x86_64::*;

    /// `n` blocks of every lane (AVX-512F, 16 lanes in one register): lane
    /// `l`'s block `k` is the 64 bytes at `ptrs[l] + k * stride[l]`. Each
    /// lane's 16 words are loaded whole and transposed in registers (64
    /// shuffles, which overlap the rounds' chain of dependent adds), and the
    /// state stays in registers from block to block.
    ///
    /// # Safety
    /// The CPU must have AVX512F, and for every lane the `n` blocks at
    /// `ptrs[l] + k * stride[l]` (k < n) must be readable.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn compress_run_avx512(
        state: &mut State,
        ptrs: &[*const u8; LANES],
        stride: &[usize; LANES],
        n: usize,
    ) {
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
        // SAFETY: the state rows are 16 u32 each (one register); the block
        // loads are within what the caller guarantees readable.
        unsafe {
            let row = |r: &[u32; LANES]| _mm512_loadu_si512(r.as_ptr().cast());
            let mut s = [
                row(&state.abcd[0]),
                row(&state.abcd[1]),
                row(&state.abcd[2]),
                row(&state.abcd[3]),
            ];
            for k in 0..n {
                // Row l: lane l's 16 words.
                let r: [__m512i; LANES] =
                    std::array::from_fn(|l| _mm512_loadu_si512(ptrs[l].add(k * stride[l]).cast()));
                // 32-bit then 64-bit interleaves: u[4g + j] holds, in its
                // 128-bit quarter q, word 4q + j of rows 4g..4g+3.
                let t: [__m512i; LANES] = std::array::from_fn(|i| {
                    let (x, y) = (r[i & !1], r[i | 1]);
                    if i & 1 == 0 {
                        _mm512_unpacklo_epi32(x, y)
                    } else {
                        _mm512_unpackhi_epi32(x, y)
                    }
                });
                let u: [__m512i; LANES] = std::array::from_fn(|i| {
                    let (g, j) = (i / 4, i % 4);
                    let (x, y) = (t[4 * g + (j >> 1)], t[4 * g + 2 + (j >> 1)]);
                    if j & 1 == 0 {
                        _mm512_unpacklo_epi64(x, y)
                    } else {
                        _mm512_unpackhi_epi64(x, y)
                    }
                });
                // Then the 4x4 transpose of quarters: w[4q + j] holds word
                // 4q + j of every row, row g's group in quarter g.
                let mut w = [_mm512_setzero_si512(); 16];
                for j in 0..4 {
                    let (a, b, c, d) = (u[j], u[4 + j], u[8 + j], u[12 + j]);
                    let e = _mm512_shuffle_i32x4::<0x44>(a, b);
                    let f = _mm512_shuffle_i32x4::<0xEE>(a, b);
                    let g = _mm512_shuffle_i32x4::<0x44>(c, d);
                    let h = _mm512_shuffle_i32x4::<0xEE>(c, d);
                    w[j] = _mm512_shuffle_i32x4::<0x88>(e, g);
                    w[4 + j] = _mm512_shuffle_i32x4::<0xDD>(e, g);
                    w[8 + j] = _mm512_shuffle_i32x4::<0x88>(f, h);
                    w[12 + j] = _mm512_shuffle_i32x4::<0xDD>(f, h);
                }
                let [mut a, mut b, mut c, mut d] = s;
                rounds!(step, w, a, b, c, d);
                s = [
                    _mm512_add_epi32(a, s[0]),
                    _mm512_add_epi32(b, s[1]),
                    _mm512_add_epi32(c, s[2]),
                    _mm512_add_epi32(d, s[3]),
                ];
            }
            for (r, v) in s.into_iter().enumerate() {
                _mm512_storeu_si512(state.abcd[r].as_mut_ptr().cast(), v);
            }
        }
    }

    /// `n` blocks of every lane (AVX2, 8 lanes a register: lanes 0-7, then
    /// 8-15), with the same addressing as [`compress_run_avx512`]: each
    /// lane's block loaded as two registers and the words transposed in
    /// registers (two 8x8 transposes), the state kept in registers.
    ///
    /// # Safety
    /// The CPU must have AVX2, and for every lane the `n` blocks at
    /// `ptrs[l] + k * stride[l]` (k < n) must be readable.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn compress_run_avx2(
        state: &mut State,
        ptrs: &[*const u8; LANES],
        stride: &[usize; LANES],
        n: usize,
    ) {
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
            // SAFETY: the state loads and stores touch the u32 at
            // `at..at + 8` of a row of 16; the block loads are within what
            // the caller guarantees readable (64 bytes at each address).
            unsafe {
                let row = |r: &[u32; LANES]| _mm256_loadu_si256(r.as_ptr().add(at).cast());
                let mut s = [
                    row(&state.abcd[0]),
                    row(&state.abcd[1]),
                    row(&state.abcd[2]),
                    row(&state.abcd[3]),
                ];
                for k in 0..n {
                    let mut w = [_mm256_setzero_si256(); 16];
                    for half in 0..2 {
                        // Row l: words 8 * half .. 8 * half + 8 of lane at + l.
                        let r: [__m256i; 8] = std::array::from_fn(|l| {
                            _mm256_loadu_si256(
                                ptrs[at + l].add(k * stride[at + l] + 32 * half).cast(),
                            )
                        });
                        let t: [__m256i; 8] = std::array::from_fn(|i| {
                            let (x, y) = (r[i & !1], r[i | 1]);
                            if i & 1 == 0 {
                                _mm256_unpacklo_epi32(x, y)
                            } else {
                                _mm256_unpackhi_epi32(x, y)
                            }
                        });
                        // u[4g + j]: word 4q + j of rows 4g..4g+3 in half q.
                        let u: [__m256i; 8] = std::array::from_fn(|i| {
                            let (g, j) = (i / 4, i % 4);
                            let (x, y) = (t[4 * g + (j >> 1)], t[4 * g + 2 + (j >> 1)]);
                            if j & 1 == 0 {
                                _mm256_unpacklo_epi64(x, y)
                            } else {
                                _mm256_unpackhi_epi64(x, y)
                            }
                        });
                        for j in 0..4 {
                            w[8 * half + j] = _mm256_permute2x128_si256::<0x20>(u[j], u[4 + j]);
                            w[8 * half + 4 + j] = _mm256_permute2x128_si256::<0x31>(u[j], u[4 + j]);
                        }
                    }
                    let [mut a, mut b, mut c, mut d] = s;
                    rounds!(step, w, a, b, c, d);
                    s = [
                        _mm256_add_epi32(a, s[0]),
                        _mm256_add_epi32(b, s[1]),
                        _mm256_add_epi32(c, s[2]),
                        _mm256_add_epi32(d, s[3]),
                    ];
                }
                for (r, v) in s.into_iter().enumerate() {
                    _mm256_storeu_si256(state.abcd[r].as_mut_ptr().add(at).cast(), v);
                }
            }
        }
    }
}

/// Blocks of one stream, alone: md-5's assembly core where there is one
/// (what `md-5` itself runs), the scalar compression elsewhere.
fn compress_alone(state: &mut [u32; 4], blocks: &[[u8; 64]]) {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    md5_asm::compress(state, blocks);
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    for block in blocks {
        compress_scalar(state, block);
    }
}

/// One MD5 stream that owns its state: hashed alone with
/// [`Stream::update`], or side by side with others by [`hash_streams`],
/// in any mix (the state moves into a lane for a pass and back).
#[derive(Clone, Debug)]
pub struct Stream {
    abcd: [u32; 4],
    /// Bytes not yet a whole block.
    tail: [u8; 64],
    tail_len: usize,
    /// Bytes given so far.
    total: u64,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            abcd: INIT,
            tail: [0; 64],
            tail_len: 0,
            total: 0,
        }
    }
}

impl Stream {
    /// A stream with nothing hashed.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes hashed so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was hashed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Hashes `data` alone.
    pub fn update(&mut self, data: &[u8]) {
        let rest = self.take_tail(data);
        let (blocks, left) = rest.as_chunks::<64>();
        compress_alone(&mut self.abcd, blocks);
        self.keep(left);
    }

    /// Fills the partial block from the front of `data` (hashing it once
    /// whole) and returns what follows; the tail is then empty unless
    /// `data` ran out first.
    fn take_tail<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        self.total = self.total.wrapping_add(data.len() as u64);
        let have = self.tail_len;
        if have == 0 {
            return data;
        }
        let take = (64 - have).min(data.len());
        self.tail[have..have + take].copy_from_slice(&data[..take]);
        self.tail_len = have + take;
        if self.tail_len == 64 {
            let block = self.tail;
            compress_alone(&mut self.abcd, &[block]);
            self.tail_len = 0;
        }
        &data[take..]
    }

    /// Keeps `left` (under a block) for the next update. When `left` is
    /// not empty the tail is (`take_tail` filled and hashed it); when it
    /// is, the tail may hold what the data's end left there.
    fn keep(&mut self, left: &[u8]) {
        if !left.is_empty() {
            self.tail[..left.len()].copy_from_slice(left);
            self.tail_len = left.len();
        }
    }

    /// The digest of what was hashed (the stream can go on).
    #[must_use]
    pub fn digest(&self) -> [u8; 16] {
        let bits = self.total.wrapping_mul(8);
        let mut pad = [0u8; 128];
        let have = self.tail_len;
        pad[..have].copy_from_slice(&self.tail[..have]);
        pad[have] = 0x80;
        let len = if have < 56 { 64 } else { 128 };
        pad[len - 8..len].copy_from_slice(&bits.to_le_bytes());
        let mut s = self.abcd;
        let (blocks, _) = pad[..len].as_chunks::<64>();
        compress_alone(&mut s, blocks);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(s) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Fewest streams with blocks left for which a pass of `engine` costs less
/// than hashing each alone with md-5's assembly core (the criterion bench
/// `md5x`: in AVX-512 lanes 1 stream runs at 0.76x md-5, 2 at 1.49x; in
/// AVX2 lanes 2 at 0.93x, 4 at 1.87x).
#[must_use]
pub fn min_side_by_side(engine: Engine) -> usize {
    match engine {
        Engine::Avx512 => 2,
        Engine::Avx2 => 3,
        Engine::Scalar => usize::MAX,
    }
}

/// What one call of [`hash_streams`] did, for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Bytes hashed in lanes, side by side.
    pub side_by_side: u64,
    /// Bytes hashed alone.
    pub alone: u64,
}

/// Advances each stream over its data, in order: side by side in the lanes
/// of `engine` while at least [`min_side_by_side`] of them have whole
/// blocks left (a lane whose data is done takes the next waiting stream),
/// each alone otherwise. Every stream ends exactly as if it had hashed its
/// data with [`Stream::update`].
pub fn hash_streams(engine: Engine, jobs: &mut [(&mut Stream, &[u8])]) -> PassStats {
    hash_streams_from(engine, min_side_by_side(engine), jobs)
}

/// [`hash_streams`] with lanes used from `side_by_side_from` streams with
/// blocks left (at least 1; for the tests and the bench, which measure
/// where lanes start to pay).
pub fn hash_streams_from(
    engine: Engine,
    side_by_side_from: usize,
    jobs: &mut [(&mut Stream, &[u8])],
) -> PassStats {
    let from = side_by_side_from.max(1);
    let mut stats = PassStats::default();
    // First each stream's partial block; then whole blocks; the rest waits
    // in the tail.
    let mut work: Vec<Piece<'_>> = Vec::with_capacity(jobs.len());
    for (job, (stream, data)) in jobs.iter_mut().enumerate() {
        let rest = stream.take_tail(data);
        let (blocks, left) = rest.as_chunks::<64>();
        stats.alone += (data.len() - blocks.len() * 64) as u64;
        work.push(Piece { job, blocks, left });
    }
    let with_blocks = work.iter().filter(|w| !w.blocks.is_empty()).count();
    let mut waiting: Vec<usize> = (0..work.len())
        .filter(|&w| !work[w].blocks.is_empty())
        .collect();
    if engine != Engine::Scalar && with_blocks >= from {
        // Longest first: the lanes then run full for longest.
        waiting.sort_by_key(|&w| std::cmp::Reverse(work[w].blocks.len()));
        waiting.reverse();
        let mut state = State::default();
        // Each lane: which entry of `work`, and how many blocks it has done.
        let mut lanes: [Option<(usize, usize)>; LANES] = [None; LANES];
        for (at, lane) in lanes.iter_mut().enumerate() {
            *lane = waiting.pop().map(|w| {
                state.set_lane(at, jobs[work[w].job].0.abcd);
                (w, 0)
            });
        }
        loop {
            let active = lanes.iter().flatten().count();
            if active < from {
                break;
            }
            // Passes until the first lane's data is done.
            let run = lanes
                .iter()
                .flatten()
                .map(|&(w, done)| work[w].blocks.len() - done)
                .min()
                .unwrap_or(0);
            let blocks: [Option<&[[u8; 64]]>; LANES] =
                std::array::from_fn(|l| lanes[l].map(|(w, done)| &work[w].blocks[done..]));
            compress_run(engine, &mut state, &blocks, run);
            stats.side_by_side += (run * active * 64) as u64;
            for (at, lane) in lanes.iter_mut().enumerate() {
                let Some((w, done)) = *lane else {
                    continue;
                };
                if done + run < work[w].blocks.len() {
                    *lane = Some((w, done + run));
                    continue;
                }
                // Done: its state back to its stream, the lane to the next.
                jobs[work[w].job].0.abcd = state.lane(at);
                *lane = waiting.pop().map(|next| {
                    state.set_lane(at, jobs[work[next].job].0.abcd);
                    (next, 0)
                });
            }
        }
        // Too few lanes left busy: the rest of each, alone.
        for (at, lane) in lanes.iter().enumerate() {
            if let Some((w, done)) = *lane {
                let mut abcd = state.lane(at);
                compress_alone(&mut abcd, &work[w].blocks[done..]);
                stats.alone += ((work[w].blocks.len() - done) * 64) as u64;
                jobs[work[w].job].0.abcd = abcd;
            }
        }
    }
    for w in waiting {
        compress_alone(&mut jobs[work[w].job].0.abcd, work[w].blocks);
        stats.alone += (work[w].blocks.len() * 64) as u64;
    }
    for piece in &work {
        jobs[piece.job].0.keep(piece.left);
    }
    stats
}

/// One stream's data in a pass: its whole blocks, then what is left.
struct Piece<'a> {
    job: usize,
    blocks: &'a [[u8; 64]],
    left: &'a [u8],
}

/// The MD5 of each of `inputs`, hashed side by side (in lanes however
/// few they are).
#[must_use]
pub fn digest_all(engine: Engine, inputs: &[&[u8]]) -> Vec<[u8; 16]> {
    let mut streams = vec![Stream::new(); inputs.len()];
    let mut jobs: Vec<(&mut Stream, &[u8])> =
        streams.iter_mut().zip(inputs.iter().copied()).collect();
    hash_streams_from(engine, 1, &mut jobs);
    streams.iter().map(Stream::digest).collect()
}

/// md-5's digest of `data`, for comparison.
#[must_use]
pub fn reference(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}
