//! Dequantization of tensor data to f32, bit-exact with ggml's reference code.
//!
//! Each family lives in its own module; this module checks lengths once and
//! then hands fixed-size blocks to per-block functions, so the block code can
//! index fixed-size arrays without any fallible slicing.

mod kquants;
mod legacy;

use crate::types::GgmlType;

/// Dequantize `n` elements of type `dtype` stored in `data`.
///
/// Returns a reason string if the byte length does not match `n` (the
/// caller adds the tensor name) or the type is not supported.
pub(crate) fn dequantize(dtype: GgmlType, data: &[u8], n: usize) -> Result<Vec<f32>, String> {
    let (block, bytes) = dtype
        .block_layout()
        .filter(|_| dtype.is_supported())
        .ok_or_else(|| format!("type `{}` cannot be dequantized", dtype.name()))?;
    let n64 = n as u64;
    let expected = (n64 / block).checked_mul(bytes);
    if !n64.is_multiple_of(block) || expected != Some(data.len() as u64) {
        return Err(format!(
            "`{}` bytes of type `{}` do not hold `{n}` elements",
            data.len(),
            dtype.name()
        ));
    }
    let mut out = vec![0f32; n];
    match dtype {
        GgmlType::F32 => blocks(data, &mut out, |b: &[u8; 4], y: &mut [f32; 1]| {
            y[0] = f32::from_le_bytes(*b);
        }),
        GgmlType::F16 => blocks(data, &mut out, |b: &[u8; 2], y: &mut [f32; 1]| {
            y[0] = f16(b[0], b[1]);
        }),
        GgmlType::BF16 => blocks(data, &mut out, |b: &[u8; 2], y: &mut [f32; 1]| {
            y[0] = f32::from_bits(u32::from(u16::from_le_bytes(*b)) << 16);
        }),
        GgmlType::Q4_0 => blocks(data, &mut out, legacy::q4_0),
        GgmlType::Q4_1 => blocks(data, &mut out, legacy::q4_1),
        GgmlType::Q5_0 => blocks(data, &mut out, legacy::q5_0),
        GgmlType::Q5_1 => blocks(data, &mut out, legacy::q5_1),
        GgmlType::Q8_0 => blocks(data, &mut out, legacy::q8_0),
        GgmlType::Q4K => blocks(data, &mut out, kquants::q4_k),
        GgmlType::Q5K => blocks(data, &mut out, kquants::q5_k),
        GgmlType::Q6K => blocks(data, &mut out, kquants::q6_k),
        GgmlType::Unsupported(_) => {}
    }
    Ok(out)
}

/// Apply `f` to each `B`-byte input block and its `E`-element output block.
///
/// Lengths were checked by the caller; any ragged tail (impossible after
/// that check) is simply left at zero rather than panicking.
fn blocks<const B: usize, const E: usize>(
    data: &[u8],
    out: &mut [f32],
    f: impl Fn(&[u8; B], &mut [f32; E]),
) {
    let (ins, _) = data.as_chunks::<B>();
    let (outs, _) = out.as_chunks_mut::<E>();
    for (b, y) in ins.iter().zip(outs.iter_mut()) {
        f(b, y);
    }
}

/// Decode a little-endian IEEE half float from two bytes.
fn f16(lo: u8, hi: u8) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([lo, hi])).to_f32()
}
