//! K-quants with 256-element super-blocks: Q4_K, Q5_K, Q6_K.
//!
//! Q4_K and Q5_K split a super-block into eight sub-blocks of 32, each with a
//! 6-bit scale and 6-bit minimum packed into 12 bytes; Q6_K uses sixteen
//! sub-blocks of 16 with signed 8-bit scales.

use super::f16;

/// Unpack the 6-bit scale and minimum of sub-block `j` (0..8) from the
/// 12-byte packed array: sub-blocks 0..4 use the low 6 bits of bytes
/// `j` and `j+4`; sub-blocks 4..8 combine a nibble of byte `j+4` with the
/// top two bits of bytes `j-4` and `j`.
fn scale_min(j: usize, s: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        let sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        let m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        (sc, m)
    }
}

/// The packed scales of a Q4_K/Q5_K block (bytes 4..16).
fn scales(b: &[u8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for (dst, src) in s.iter_mut().zip(b.iter().skip(4)) {
        *dst = *src;
    }
    s
}

/// Per-sub-block multipliers `(d * scale, dmin * min)` for the two halves
/// of 64-element chunk `chunk`.
fn chunk_factors(d: f32, dmin: f32, s: &[u8; 12], chunk: usize) -> [(f32, f32); 2] {
    let (sc1, m1) = scale_min(2 * chunk, s);
    let (sc2, m2) = scale_min(2 * chunk + 1, s);
    [
        (d * f32::from(sc1), dmin * f32::from(m1)),
        (d * f32::from(sc2), dmin * f32::from(m2)),
    ]
}

/// Q4_K: f16 `d`, f16 `dmin`, 12 bytes of scales, 128 bytes of nibbles.
/// Each 64-element chunk takes low then high nibbles of 32 bytes;
/// `x = d*sc*q - dmin*m`.
pub(super) fn q4_k(b: &[u8; 144], y: &mut [f32; 256]) {
    let d = f16(b[0], b[1]);
    let dmin = f16(b[2], b[3]);
    let s = scales(b);
    for chunk in 0..4 {
        let [(d1, m1), (d2, m2)] = chunk_factors(d, dmin, &s, chunk);
        for l in 0..32 {
            let q = b[16 + 32 * chunk + l];
            y[64 * chunk + l] = d1 * f32::from(q & 0x0F) - m1;
            y[64 * chunk + 32 + l] = d2 * f32::from(q >> 4) - m2;
        }
    }
}

/// Q5_K: like Q4_K plus 32 bytes of fifth bits; bit `2*chunk` of byte `l`
/// belongs to the low half of the chunk, bit `2*chunk+1` to the high half.
pub(super) fn q5_k(b: &[u8; 176], y: &mut [f32; 256]) {
    let d = f16(b[0], b[1]);
    let dmin = f16(b[2], b[3]);
    let s = scales(b);
    for chunk in 0..4 {
        let [(d1, m1), (d2, m2)] = chunk_factors(d, dmin, &s, chunk);
        let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
        for l in 0..32 {
            let q = b[48 + 32 * chunk + l];
            let h = b[16 + l];
            let lo = (q & 0x0F) + if h & u1 != 0 { 16 } else { 0 };
            let hi = (q >> 4) + if h & u2 != 0 { 16 } else { 0 };
            y[64 * chunk + l] = d1 * f32::from(lo) - m1;
            y[64 * chunk + 32 + l] = d2 * f32::from(hi) - m2;
        }
    }
}

/// Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 signed
/// scales, f16 `d`; `x = d * scale * (q - 32)`. Processed as two halves of
/// 128 elements, each split into four interleaved groups of 32.
pub(super) fn q6_k(b: &[u8; 210], y: &mut [f32; 256]) {
    let d = f16(b[208], b[209]);
    for half in 0..2 {
        let (ql, qh, sc, out) = (64 * half, 128 + 32 * half, 192 + 8 * half, 128 * half);
        for l in 0..32 {
            let is = l / 16;
            let (a, c, h) = (b[ql + l], b[ql + l + 32], b[qh + l]);
            let q = [
                (a & 0x0F) | ((h & 3) << 4),
                (c & 0x0F) | (((h >> 2) & 3) << 4),
                (a >> 4) | (((h >> 4) & 3) << 4),
                (c >> 4) | (((h >> 6) & 3) << 4),
            ];
            for (k, qk) in q.into_iter().enumerate() {
                let scale = f32::from(b[sc + is + 2 * k] as i8);
                y[out + l + 32 * k] = d * scale * (i32::from(qk) - 32) as f32;
            }
        }
    }
}
