//! f32 -> quantized encoders used by the writer (currently Q8_0 only).

/// Quantize f32 values (length a multiple of 32) to Q8_0 blocks the way
/// ggml's reference quantizer does: `d = max|x| / 127`, `q = round(x / d)`
/// with ties away from zero, `d` stored as f16.
pub(crate) fn quantize_q8_0(data: &[f32]) -> Vec<u8> {
    let (blocks, _) = data.as_chunks::<32>();
    let mut out = Vec::with_capacity(blocks.len() * 34);
    for block in blocks {
        let amax = block.iter().fold(0f32, |m, &x| m.max(x.abs()));
        let d = amax / 127.0;
        let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&half::f16::from_f32(d).to_bits().to_le_bytes());
        out.extend(block.iter().map(|&x| ((x * inv).round() as i8) as u8));
    }
    out
}
