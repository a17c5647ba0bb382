//! Legacy block quantizations with 32-element blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
//!
//! Low nibbles hold elements `0..16`, high nibbles elements `16..32`; the
//! 5-bit types keep the fifth bit of element `j` in bit `j` of a `u32`.

use super::f16;

/// Q4_0: f16 scale `d`, 16 bytes of nibbles; `x = (q - 8) * d`.
pub(super) fn q4_0(b: &[u8; 18], y: &mut [f32; 32]) {
    let d = f16(b[0], b[1]);
    for j in 0..16 {
        let q = b[2 + j];
        y[j] = (i32::from(q & 0x0F) - 8) as f32 * d;
        y[j + 16] = (i32::from(q >> 4) - 8) as f32 * d;
    }
}

/// Q4_1: f16 scale `d`, f16 minimum `m`, 16 bytes of nibbles; `x = q * d + m`.
pub(super) fn q4_1(b: &[u8; 20], y: &mut [f32; 32]) {
    let d = f16(b[0], b[1]);
    let m = f16(b[2], b[3]);
    for j in 0..16 {
        let q = b[4 + j];
        y[j] = f32::from(q & 0x0F) * d + m;
        y[j + 16] = f32::from(q >> 4) * d + m;
    }
}

/// The two 5-bit values of byte `j` of the nibble array, given the high bits `qh`.
fn five_bit(q: u8, qh: u32, j: usize) -> (i32, i32) {
    let lo_high = ((qh >> j) << 4) & 0x10;
    let hi_high = (qh >> (j + 12)) & 0x10;
    let lo = u32::from(q & 0x0F) | lo_high;
    let hi = u32::from(q >> 4) | hi_high;
    (lo as i32, hi as i32)
}

/// Q5_0: f16 scale `d`, 32 high bits, 16 bytes of nibbles; `x = (q - 16) * d`.
pub(super) fn q5_0(b: &[u8; 22], y: &mut [f32; 32]) {
    let d = f16(b[0], b[1]);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for j in 0..16 {
        let (lo, hi) = five_bit(b[6 + j], qh, j);
        y[j] = (lo - 16) as f32 * d;
        y[j + 16] = (hi - 16) as f32 * d;
    }
}

/// Q5_1: f16 scale `d`, f16 minimum `m`, 32 high bits, 16 bytes of nibbles;
/// `x = q * d + m`.
pub(super) fn q5_1(b: &[u8; 24], y: &mut [f32; 32]) {
    let d = f16(b[0], b[1]);
    let m = f16(b[2], b[3]);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for j in 0..16 {
        let (lo, hi) = five_bit(b[8 + j], qh, j);
        y[j] = lo as f32 * d + m;
        y[j + 16] = hi as f32 * d + m;
    }
}

/// Q8_0: f16 scale `d`, 32 signed bytes; `x = q * d`.
pub(super) fn q8_0(b: &[u8; 34], y: &mut [f32; 32]) {
    let d = f16(b[0], b[1]);
    for j in 0..32 {
        y[j] = f32::from(b[2 + j] as i8) * d;
    }
}
