//! Fused CPU kernels of the decoder layer, on plain `f32` slices.
//!
//! burn's generic ops run one element-wise op at a time, each allocating its
//! output, and its CPU attention handles one (batch, head) pair at a time on
//! one thread over the full score matrix. These kernels do the work between
//! the matrix products in single passes, multi-threaded with rayon:
//! RMSNorm, the rotary embedding fused with the move to heads-first layout,
//! causal grouped-query attention that skips pruned heads entirely and never
//! computes the masked upper half, residual adds in place, and the SiLU·up
//! of one element that the packed gate/up product applies tile by tile.
//!
//! The inner loops with dot products run inside [`pulp::Arch::dispatch`]
//! (structs implementing [`pulp::WithSimd`], whose bodies are inlined into
//! functions compiled for AVX2/FMA or AVX-512), so the compiler uses the
//! machine's vector instructions chosen at run time ([`crate::simd`]), while
//! the binary still runs on any x86-64. Inside those bodies, a closure that
//! carries vector work and is not inlined is a function of its own, compiled
//! without the SIMD level, every intrinsic in it a call (it happened to a
//! `std::array::from_fn` building the SwiGLU tile's row); plain loops are
//! safe. Every function here is checked against the generic burn path by the
//! tests of `crate::model`.

use rayon::prelude::*;

/// Lanes of the manual accumulators: wide enough for AVX-512, and it keeps
/// the summation order fixed (the same result on every machine).
const LANES: usize = 16;

/// Rows per rayon task for the row-wise kernels (enough work per task to
/// amortise scheduling, small enough to balance two to a few dozen threads).
fn rows_per_task(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(threads * 8).max(1)
}

/// Elements per rayon task for the element-wise kernels.
const ELEMENTS_PER_TASK: usize = 1 << 15;

/// Items of `item_len` elements each below which a task is not split
/// further: a decoding step's few rows run on the calling thread instead of
/// waking the pool for microseconds of work.
fn min_items(item_len: usize) -> usize {
    (ELEMENTS_PER_TASK / 2).div_ceil(item_len.max(1))
}

/// Sum of `a[i] * b[i]`, accumulated in [`LANES`] fixed lanes.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = a.len() / LANES * LANES;
    for (ac, bc) in a[..chunks]
        .chunks_exact(LANES)
        .zip(b[..chunks].chunks_exact(LANES))
    {
        for l in 0..LANES {
            acc[l] = ac[l].mul_add(bc[l], acc[l]);
        }
    }
    let mut total = acc.iter().sum::<f32>();
    for (x, y) in a[chunks..].iter().zip(&b[chunks..]) {
        total = x.mul_add(*y, total);
    }
    total
}

/// `RMSNorm` of each `weight.len()`-wide row of `x` into `out`:
/// `x / sqrt(mean(x²) + eps) * weight`, as transformers computes it in f32.
pub fn rms_norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let d = weight.len();
    let rows = x.len() / d.max(1);
    let chunk = rows_per_task(rows) * d;
    out.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .with_min_len(min_items(chunk))
        .for_each(|(out, x)| {
            crate::simd::arch().dispatch(RmsNormRows {
                x,
                weight,
                eps,
                out,
            })
        });
}

/// [`rms_norm_rows`] on one task's rows, compiled for the machine's SIMD level.
struct RmsNormRows<'a> {
    x: &'a [f32],
    weight: &'a [f32],
    eps: f32,
    out: &'a mut [f32],
}

impl pulp::WithSimd for RmsNormRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let d = self.weight.len();
        for (o, xr) in self.out.chunks_exact_mut(d).zip(self.x.chunks_exact(d)) {
            let mean = dot(xr, xr) / d as f32;
            let scale = 1.0 / (mean + self.eps).sqrt();
            for ((o, &v), &w) in o.iter_mut().zip(xr).zip(self.weight) {
                *o = v * scale * w;
            }
        }
    }
}

/// The shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    /// Sequences in the batch.
    pub batch: usize,
    /// Query heads.
    pub q_heads: usize,
    /// Key/value heads (each serves `q_heads / kv_heads` query heads).
    pub kv_heads: usize,
    /// New tokens per sequence (queries).
    pub queries: usize,
    /// Keys per sequence: cached positions plus the new tokens.
    pub keys: usize,
    /// Width of one head.
    pub head_dim: usize,
}

/// Where [`to_heads_first`] finds its heads in each token's row of the
/// matrix product's output: `width` values per row, the heads from column
/// `offset` on (the q, k and v projections come out of one product, side by
/// side in each row).
#[derive(Debug, Clone, Copy)]
pub struct RowColumns {
    /// Values per token row.
    pub width: usize,
    /// First column of the heads.
    pub offset: usize,
}

/// Moves the heads of `src` (`[batch * seq, columns.width]`, token-major, as
/// a matrix product leaves it; the `heads * head_dim` values from
/// `columns.offset` on) to heads-first `[batch, heads, seq, head_dim]` in
/// `out`, applying the rotate-half rotary embedding at each token's position
/// when `rope` (`cos`, `sin`: `[positions, head_dim / 2]`) is given.
pub fn to_heads_first(
    (src, columns): (&[f32], RowColumns),
    (batch, seq, heads, hd): (usize, usize, usize, usize),
    positions: &[usize],
    rope: Option<(&[f32], &[f32])>,
    out: &mut [f32],
) {
    let half = hd / 2;
    debug_assert_eq!(src.len(), batch * seq * columns.width);
    debug_assert!(columns.offset + heads * hd <= columns.width);
    out.par_chunks_mut(seq * hd)
        .enumerate()
        .with_min_len(min_items(seq * hd))
        .for_each(|(bh, block)| {
            let (b, h) = (bh / heads, bh % heads);
            for (i, row) in block.chunks_exact_mut(hd).enumerate() {
                let token = b * seq + i;
                let x = &src[token * columns.width + columns.offset + h * hd..][..hd];
                match rope {
                    None => row.copy_from_slice(x),
                    Some((cos, sin)) => {
                        let p = positions[token];
                        let (c, s) = (&cos[p * half..][..half], &sin[p * half..][..half]);
                        let (x1, x2) = x.split_at(half);
                        let (o1, o2) = row.split_at_mut(half);
                        for j in 0..half {
                            // x·cos + rotate_half(x)·sin, rotate_half(x) = cat(-x2, x1).
                            o1[j] = x1[j] * c[j] + -x2[j] * s[j];
                            o2[j] = x2[j] * c[j] + x1[j] * s[j];
                        }
                    }
                }
            }
        });
}

/// Appends heads-first `new` (`[batch, heads, seq, hd]`) after `past`
/// (`[batch, heads, past_len, hd]`) along the sequence: the KV cache update.
pub fn append_positions(
    past: &[f32],
    new: &[f32],
    (batch, heads, hd): (usize, usize, usize),
) -> Vec<f32> {
    let rows = batch * heads;
    let past_len = past.len() / (rows * hd).max(1);
    let new_len = new.len() / (rows * hd).max(1);
    let mut out = Vec::with_capacity(past.len() + new.len());
    for r in 0..rows {
        out.extend_from_slice(&past[r * past_len * hd..][..past_len * hd]);
        out.extend_from_slice(&new[r * new_len * hd..][..new_len * hd]);
    }
    out
}

/// Cached keys and values an attention call reads before the new tokens'.
#[derive(Debug, Clone, Copy)]
pub struct PastKeyValues<'a> {
    /// Keys `[stored rows, kv_heads, past_len, hd]`.
    pub keys: &'a [f32],
    /// Values, same layout.
    pub values: &'a [f32],
    /// Cached positions.
    pub len: usize,
    /// Batch rows per stored row: batch row `b` reads stored row `b / share`
    /// (a prompt's cache shared by its replies, never copied).
    pub share: usize,
}

/// Causal grouped-query attention.
///
/// - `q`: `[batch, q_heads, queries, hd]`; `new_k`, `new_v`: the new tokens'
///   keys and values `[batch, kv_heads, queries, hd]`, after the `past` ones
///   (keys = past + queries; bottom-right causal alignment).
/// - `key_padding`: `[batch, keys]`, `true` = padding, masked for every query but
///   its own position (a padding row never becomes all-masked).
/// - `keep`: `[batch, q_heads]` factors; a head with factor 0 is not computed at
///   all and its output is zero (pruned), any other factor scales the output.
/// - `out`: `[batch * queries, q_heads * hd]`, token-major, ready for `o_proj`.
#[allow(clippy::too_many_arguments)]
pub fn causal_attention(
    q: &[f32],
    (new_k, new_v): (&[f32], &[f32]),
    past: Option<PastKeyValues<'_>>,
    key_padding: Option<&[bool]>,
    keep: Option<&[f32]>,
    shape: AttentionShape,
    out: &mut [f32],
) {
    let row_width = shape.q_heads * shape.head_dim;
    let rows = out.len() / row_width.max(1);
    let chunk = rows_per_task(rows);
    // Work per row grows with the keys each query reads.
    out.par_chunks_mut(chunk * row_width)
        .enumerate()
        .with_min_len(min_items(chunk * row_width * shape.keys.max(1) / 4))
        .for_each(|(task, block)| {
            crate::simd::arch().dispatch(AttentionRows {
                q,
                new_k,
                new_v,
                past,
                key_padding,
                keep,
                shape,
                first_row: task * chunk,
                out: block,
            })
        });
}

/// [`causal_attention`] for one task's output rows, compiled for the
/// machine's SIMD level.
struct AttentionRows<'a> {
    q: &'a [f32],
    new_k: &'a [f32],
    new_v: &'a [f32],
    past: Option<PastKeyValues<'a>>,
    key_padding: Option<&'a [bool]>,
    keep: Option<&'a [f32]>,
    shape: AttentionShape,
    first_row: usize,
    out: &'a mut [f32],
}

impl<'a> pulp::WithSimd for AttentionRows<'a> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let AttentionShape {
            batch: _,
            q_heads: hq,
            kv_heads: hkv,
            queries: s,
            keys: t,
            head_dim: hd,
        } = self.shape;
        let groups = (hq / hkv.max(1)).max(1);
        let offset = t - s;
        let past_len = self.past.map_or(0, |p| p.len);
        let scale = 1.0 / (hd as f32).sqrt();
        // Whole vectors per head row: the head runs in registers.
        let vectors = if hd % S::F32_LANES == 0 {
            hd / S::F32_LANES
        } else {
            0
        };
        let mut scores = vec![0.0f32; t];
        for (r, out_row) in self.out.chunks_exact_mut(hq * hd).enumerate() {
            let token = self.first_row + r;
            let (b, i) = (token / s, token % s);
            let last = offset + i;
            let padding = self.key_padding.map(|p| &p[b * t..][..t]);
            let allowed = |j: usize| j == last || padding.is_none_or(|p| !p[j]);
            for (h, o) in out_row.chunks_exact_mut(hd).enumerate() {
                let factor = self.keep.map_or(1.0, |k| k[b * hq + h]);
                if factor == 0.0 {
                    o.fill(0.0);
                    continue;
                }
                let g = h / groups;
                let new_k = &self.new_k[(b * hkv + g) * s * hd..][..s * hd];
                let new_v = &self.new_v[(b * hkv + g) * s * hd..][..s * hd];
                let (past_k, past_v) = match self.past {
                    Some(p) => {
                        let at = ((b / p.share.max(1)) * hkv + g) * p.len * hd;
                        (&p.keys[at..][..p.len * hd], &p.values[at..][..p.len * hd])
                    }
                    None => (&[][..], &[][..]),
                };
                let head = HeadRow {
                    q: &self.q[((b * hq + h) * s + i) * hd..][..hd],
                    keys: KeyRows {
                        past: past_k,
                        new: new_k,
                        past_len,
                    },
                    values: KeyRows {
                        past: past_v,
                        new: new_v,
                        past_len,
                    },
                    scale,
                    factor,
                };
                // Keys after `last` are in this query's future.
                let scores = &mut scores[..=last];
                match vectors {
                    1 => head.attend_vectors::<S, 1>(simd, &allowed, scores, o),
                    2 => head.attend_vectors::<S, 2>(simd, &allowed, scores, o),
                    4 => head.attend_vectors::<S, 4>(simd, &allowed, scores, o),
                    8 => head.attend_vectors::<S, 8>(simd, &allowed, scores, o),
                    _ => head.attend(simd, &allowed, scores, o),
                }
            }
        }
    }
}

/// The keys (or values) one query reads: the cached ones, then the new ones.
#[derive(Clone, Copy)]
struct KeyRows<'a> {
    past: &'a [f32],
    new: &'a [f32],
    past_len: usize,
}

impl<'a> KeyRows<'a> {
    /// Row `j` (`hd` wide).
    #[inline(always)]
    fn row(&self, j: usize, hd: usize) -> &'a [f32] {
        if j < self.past_len {
            &self.past[j * hd..][..hd]
        } else {
            &self.new[(j - self.past_len) * hd..][..hd]
        }
    }
}

/// One query row of one (kept) head in [`causal_attention`].
struct HeadRow<'a> {
    q: &'a [f32],
    keys: KeyRows<'a>,
    values: KeyRows<'a>,
    scale: f32,
    factor: f32,
}

impl HeadRow<'_> {
    /// Softmax of `scores` in place (a key the query may not read holds
    /// `-inf`, so it becomes 0), returning `factor / Σ`, the scale of the
    /// weighted sum. One vector of [`crate::exp::exp_f32s`] at a time.
    #[inline(always)]
    fn softmax<S: pulp::Simd>(&self, simd: S, scores: &mut [f32], max: f32) -> f32 {
        let (body, tail) = S::as_mut_simd_f32s(scores);
        let shift = simd.splat_f32s(max);
        let mut sums = simd.splat_f32s(0.0);
        for v in body {
            *v = crate::exp::exp_f32s(simd, simd.sub_f32s(*v, shift));
            sums = simd.add_f32s(sums, *v);
        }
        let mut sum = simd.reduce_sum_f32s(sums);
        for score in tail {
            *score = crate::exp::exp(*score - max);
            sum += *score;
        }
        self.factor / sum
    }

    /// The head's output row `o` (`hd` wide), any head width.
    #[inline(always)]
    fn attend<S: pulp::Simd>(
        &self,
        simd: S,
        allowed: &impl Fn(usize) -> bool,
        scores: &mut [f32],
        o: &mut [f32],
    ) {
        let hd = self.q.len();
        let mut max = f32::NEG_INFINITY;
        for (j, score) in scores.iter_mut().enumerate() {
            *score = if allowed(j) {
                dot(self.q, self.keys.row(j, hd)) * self.scale
            } else {
                f32::NEG_INFINITY
            };
            max = max.max(*score);
        }
        let norm = self.softmax(simd, scores, max);
        o.fill(0.0);
        for (j, &score) in scores.iter().enumerate() {
            if allowed(j) {
                let p = score * norm;
                for (o, &x) in o.iter_mut().zip(self.values.row(j, hd)) {
                    *o = p.mul_add(x, *o);
                }
            }
        }
    }

    /// [`Self::attend`] for a head width of exactly `NV` vectors: the query
    /// and the output row stay in registers, each score is one vector
    /// reduction. The weighted sum adds the values in the same order.
    #[inline(always)]
    fn attend_vectors<S: pulp::Simd, const NV: usize>(
        &self,
        simd: S,
        allowed: &impl Fn(usize) -> bool,
        scores: &mut [f32],
        o: &mut [f32],
    ) {
        let hd = self.q.len();
        let vectors = |row: &[f32]| -> [S::f32s; NV] {
            let (v, _) = S::as_simd_f32s(row);
            std::array::from_fn(|i| v[i])
        };
        let q = vectors(self.q);
        let mut max = f32::NEG_INFINITY;
        for (j, score) in scores.iter_mut().enumerate() {
            *score = if allowed(j) {
                let k = vectors(self.keys.row(j, hd));
                let mut acc = simd.mul_f32s(q[0], k[0]);
                for v in 1..NV {
                    acc = simd.mul_add_f32s(q[v], k[v], acc);
                }
                simd.reduce_sum_f32s(acc) * self.scale
            } else {
                f32::NEG_INFINITY
            };
            max = max.max(*score);
        }
        let norm = self.softmax(simd, scores, max);
        let mut acc = [simd.splat_f32s(0.0); NV];
        for (j, &score) in scores.iter().enumerate() {
            if allowed(j) {
                let p = simd.splat_f32s(score * norm);
                let x = vectors(self.values.row(j, hd));
                for v in 0..NV {
                    acc[v] = simd.mul_add_f32s(p, x[v], acc[v]);
                }
            }
        }
        let (out, _) = S::as_mut_simd_f32s(o);
        for (out, acc) in out.iter_mut().zip(acc) {
            *out = acc;
        }
    }
}

/// `silu(g) * u`, the SwiGLU activation of one element, as transformers
/// computes it in f32, with [`crate::exp::exp`] (the scalar form of
/// [`silu_times_f32s`], which [`crate::packed`]'s fused gate/up product
/// applies tile by tile).
#[inline(always)]
pub fn silu_times(g: f32, u: f32) -> f32 {
    g * (1.0 / (1.0 + crate::exp::exp(-g))) * u
}

/// [`silu_times`] of every lane: the same operations, so the same bits.
#[inline(always)]
pub fn silu_times_f32s<S: pulp::Simd>(simd: S, g: S::f32s, u: S::f32s) -> S::f32s {
    let one = simd.splat_f32s(1.0);
    let e = crate::exp::exp_f32s(simd, simd.neg_f32s(g));
    let sigmoid = simd.div_f32s(one, simd.add_f32s(one, e));
    simd.mul_f32s(simd.mul_f32s(g, sigmoid), u)
}

/// Values per block of [`PickedLogSoftmax`]'s exponentials (1 KiB on the
/// stack).
const SOFTMAX_BLOCK: usize = 256;

/// `ln softmax(row k)[targets[k]]` of each `vocab`-wide row of `logits`:
/// `x[t] - max - ln Σ exp(x - max)`, the sum accumulated in f64.
pub fn picked_log_softmax(logits: &[f32], vocab: usize, targets: &[u32]) -> Vec<f32> {
    logits
        .par_chunks(vocab)
        .zip(targets.par_iter())
        .with_min_len(min_items(vocab))
        .map(|(row, &t)| crate::simd::arch().dispatch(PickedLogSoftmax { row, target: t }))
        .collect()
}

/// [`picked_log_softmax`] of one row, compiled for the machine's SIMD level.
struct PickedLogSoftmax<'a> {
    row: &'a [f32],
    target: u32,
}

impl pulp::WithSimd for PickedLogSoftmax<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> f32 {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let chunks = self.row.len() / LANES * LANES;
        for c in self.row[..chunks].chunks_exact(LANES) {
            for l in 0..LANES {
                lanes[l] = lanes[l].max(c[l]);
            }
        }
        let max = self.row[chunks..].iter().fold(
            lanes.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)),
            |m, &x| m.max(x),
        );
        // exp(x - max) a block at a time, vectorized, into a buffer on the
        // stack; the block then summed in f64 in fixed lanes (the same bits
        // on every SIMD level: the exponentials are, and the sum's order
        // does not depend on the vector width).
        let shift = simd.splat_f32s(max);
        let mut exps = [0.0f32; SOFTMAX_BLOCK];
        let mut sums = [0.0f64; 4];
        for block in self.row.chunks(SOFTMAX_BLOCK) {
            let exps = &mut exps[..block.len()];
            let (body, tail) = S::as_mut_simd_f32s(exps);
            let (x_body, x_tail) = S::as_simd_f32s(block);
            for (e, &x) in body.iter_mut().zip(x_body) {
                *e = crate::exp::exp_f32s(simd, simd.sub_f32s(x, shift));
            }
            for (e, &x) in tail.iter_mut().zip(x_tail) {
                *e = crate::exp::exp(x - max);
            }
            for group in exps.chunks(sums.len()) {
                for (sum, &e) in sums.iter_mut().zip(group) {
                    *sum += f64::from(e);
                }
            }
        }
        let sum = (sums[0] + sums[1]) + (sums[2] + sums[3]);
        self.row[self.target as usize] - max - sum.ln() as f32
    }
}

/// Adds `bias` to every `bias.len()`-wide row of `x` (Qwen2's q/k/v biases).
pub fn add_row_bias(x: &mut [f32], bias: &[f32]) {
    if bias.is_empty() {
        return;
    }
    for row in x.chunks_exact_mut(bias.len()) {
        for (x, &b) in row.iter_mut().zip(bias) {
            *x += b;
        }
    }
}

/// `x += y`, in place: a residual connection.
pub fn add_assign(x: &mut [f32], y: &[f32]) {
    x.par_chunks_mut(ELEMENTS_PER_TASK)
        .zip(y.par_chunks(ELEMENTS_PER_TASK))
        .for_each(|(x, y)| {
            for (x, &y) in x.iter_mut().zip(y) {
                *x += y;
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_sequential_sum_closely() {
        let a: Vec<f32> = (0..70).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..70).map(|i| (i as f32 * 0.11).cos()).collect();
        let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        assert!((dot(&a, &b) as f64 - exact).abs() < 1e-5);
    }

    #[test]
    fn rms_norm_of_constant_row_is_weight() {
        let x = vec![3.0f32; 8];
        let w: Vec<f32> = (0..4).map(|i| i as f32).collect();
        let mut out = vec![0.0; 8];
        rms_norm_rows(&x, &w, 0.0, &mut out);
        for (o, e) in out.iter().zip(w.iter().chain(&w)) {
            assert!((o - e).abs() < 1e-6);
        }
    }

    #[test]
    fn attention_with_one_key_returns_its_value_and_pruned_heads_are_zero() {
        // batch 1, 2 query heads sharing 1 kv head, 1 query, 1 key, hd 2.
        let shape = AttentionShape {
            batch: 1,
            q_heads: 2,
            kv_heads: 1,
            queries: 1,
            keys: 1,
            head_dim: 2,
        };
        let (q, k, v) = (vec![1.0, 2.0, 3.0, 4.0], vec![0.5, 0.5], vec![7.0, -1.0]);
        let mut out = vec![9.0; 4];
        causal_attention(&q, (&k, &v), None, None, Some(&[1.0, 0.0]), shape, &mut out);
        assert_eq!(out, vec![7.0, -1.0, 0.0, 0.0]);
    }

    #[test]
    fn attention_is_causal_and_skips_padding() {
        // batch 1, 1 head, 2 queries, 2 keys, hd 1; key 0 is padding.
        let shape = AttentionShape {
            batch: 1,
            q_heads: 1,
            kv_heads: 1,
            queries: 2,
            keys: 2,
            head_dim: 1,
        };
        let (q, k, v) = (vec![1.0, 1.0], vec![1.0, 1.0], vec![10.0, 20.0]);
        let mut out = vec![0.0; 2];
        causal_attention(&q, (&k, &v), None, None, None, shape, &mut out);
        assert_eq!(out[0], 10.0); // query 0 sees key 0 only
        assert!((out[1] - 15.0).abs() < 1e-5); // equal scores: the mean
        causal_attention(
            &q,
            (&k, &v),
            None,
            Some(&[true, false]),
            None,
            shape,
            &mut out,
        );
        assert_eq!(out, vec![10.0, 20.0]); // own position kept; padding skipped after
    }

    /// Attention computed the plain way in f64: `[batch * queries, q_heads * hd]`.
    fn reference_attention(
        q: &[f32],
        (k, v): (&[f32], &[f32]),
        padding: &[bool],
        keep: &[f32],
        (b, hq, hkv, s, hd): (usize, usize, usize, usize, usize),
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; b * s * hq * hd];
        for bi in 0..b {
            for h in 0..hq {
                let g = h / (hq / hkv);
                for i in 0..s {
                    let at = |j: usize| ((bi * hkv + g) * s + j) * hd;
                    let qr = &q[((bi * hq + h) * s + i) * hd..][..hd];
                    let seen: Vec<usize> = (0..=i)
                        .filter(|&j| j == i || !padding[bi * s + j])
                        .collect();
                    let scores: Vec<f64> = seen
                        .iter()
                        .map(|&j| {
                            let dot: f64 =
                                (0..hd).map(|d| qr[d] as f64 * k[at(j) + d] as f64).sum();
                            dot / (hd as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = scores.iter().map(|x| (x - max).exp()).sum();
                    for d in 0..hd {
                        let value: f64 = seen
                            .iter()
                            .zip(&scores)
                            .map(|(&j, x)| (x - max).exp() / sum * v[at(j) + d] as f64)
                            .sum();
                        out[(bi * s + i) * hq * hd + h * hd + d] =
                            (value * keep[bi * hq + h] as f64) as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn attention_matches_a_plain_f64_computation_at_every_head_width() {
        // Head widths that take the vector path (whole vectors of 4, 8 or 16
        // lanes) and ones that do not; grouped heads, padding, a pruned head.
        for hd in [1, 3, 8, 16, 32, 64, 128, 20] {
            let (b, hq, hkv, s) = (2, 4, 2, 5);
            let values = |n: usize, seed: f32| -> Vec<f32> {
                (0..n).map(|i| ((i as f32 + seed) * 0.377).sin()).collect()
            };
            let q = values(b * hq * s * hd, 1.0);
            let k = values(b * hkv * s * hd, 2.0);
            let v = values(b * hkv * s * hd, 3.0);
            let mut padding = vec![false; b * s];
            padding[s] = true; // batch row 1, position 0
            let mut keep = vec![1.0f32; b * hq];
            keep[1] = 0.0;
            keep[6] = 0.5;
            let shape = AttentionShape {
                batch: b,
                q_heads: hq,
                kv_heads: hkv,
                queries: s,
                keys: s,
                head_dim: hd,
            };
            let mut out = vec![f32::NAN; b * s * hq * hd];
            causal_attention(
                &q,
                (&k, &v),
                None,
                Some(&padding),
                Some(&keep),
                shape,
                &mut out,
            );
            let expected = reference_attention(&q, (&k, &v), &padding, &keep, (b, hq, hkv, s, hd));
            for (i, (o, e)) in out.iter().zip(&expected).enumerate() {
                assert!((o - e).abs() < 1e-5, "hd {hd}, element {i}: {o} vs {e}");
            }
        }
    }

    #[test]
    fn a_shared_past_reads_as_its_copies() {
        // 2 batch rows sharing one stored past of 2 positions; 1 head, hd 2, 1 new query each.
        let shape = AttentionShape {
            batch: 2,
            q_heads: 1,
            kv_heads: 1,
            queries: 1,
            keys: 3,
            head_dim: 2,
        };
        let q = vec![0.3, -0.2, 0.5, 0.1];
        let (pk, pv) = (vec![1.0, 0.0, 0.0, 1.0], vec![1.0, 2.0, 3.0, 4.0]);
        let (nk, nv) = (vec![0.5, 0.5, -1.0, 2.0], vec![5.0, 6.0, 7.0, 8.0]);
        let past = PastKeyValues {
            keys: &pk,
            values: &pv,
            len: 2,
            share: 2,
        };
        let mut shared = vec![0.0; 4];
        causal_attention(&q, (&nk, &nv), Some(past), None, None, shape, &mut shared);
        // Reference: each row's past copied, all three positions run as new tokens;
        // the last query of each row is the one above (the earlier queries' q is 0).
        let full_k = [&pk[..], &nk[..2], &pk[..], &nk[2..]].concat();
        let full_v = [&pv[..], &nv[..2], &pv[..], &nv[2..]].concat();
        let q_all = [&[0.0; 4][..], &q[..2], &[0.0; 4][..], &q[2..]].concat();
        let all = AttentionShape {
            queries: 3,
            ..shape
        };
        let mut out_all = vec![0.0; 12];
        causal_attention(
            &q_all,
            (&full_k, &full_v),
            None,
            None,
            None,
            all,
            &mut out_all,
        );
        let reference = [&out_all[4..6], &out_all[10..12]].concat();
        for (a, b) in shared.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn heads_first_moves_and_rotates() {
        // batch 1, seq 1, 2 heads, hd 2, position 0 (cos 1, sin 0): a pure move.
        let src = vec![1.0, 2.0, 3.0, 4.0];
        let mut out = vec![0.0; 4];
        let (cos, sin) = (vec![1.0, 0.0], vec![0.0, 1.0]);
        let whole = RowColumns {
            width: 4,
            offset: 0,
        };
        to_heads_first(
            (&src, whole),
            (1, 1, 2, 2),
            &[0],
            Some((&cos, &sin)),
            &mut out,
        );
        assert_eq!(out, src);
        // position 1: cos 0, sin 1 -> (x1, x2) becomes (-x2, x1).
        to_heads_first(
            (&src, whole),
            (1, 1, 2, 2),
            &[1],
            Some((&cos, &sin)),
            &mut out,
        );
        assert_eq!(out, vec![-2.0, 1.0, -4.0, 3.0]);
    }

    #[test]
    fn heads_first_reads_its_columns_of_wider_rows() {
        // 2 tokens; each row: 2 other values, then 2 heads of width 2.
        let src = vec![9.0, 9.0, 1.0, 2.0, 3.0, 4.0, 9.0, 9.0, 5.0, 6.0, 7.0, 8.0];
        let columns = RowColumns {
            width: 6,
            offset: 2,
        };
        let mut out = vec![0.0; 8];
        to_heads_first((&src, columns), (1, 2, 2, 2), &[0, 1], None, &mut out);
        assert_eq!(out, vec![1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
    }
}
