//! Weight matrices packed once, at load, for the CPU matrix product.
//!
//! A general matrix-product library (gemm, behind burn-flex's `matmul`)
//! repacks the weight matrix at every call, allocates its work buffers, and
//! does not know that the same weights come back at every layer of every
//! forward pass. Here each `[out, in]` checkpoint matrix is rearranged once
//! into panels of [`PANEL`] output columns (`[in, PANEL]` each, contiguous),
//! the layout the register-blocked kernel streams through. A call then packs
//! only the activations (a few hundred kilobytes) and runs the micro-kernel:
//! a tile of `MR` rows × [`PANEL`] columns held in vector registers
//! (12 × 32 = 24 AVX-512 registers; on AVX2, 6 × 16 = 12 registers over each
//! half of the panel in turn), one FMA per register per input element. The
//! same path serves every row count, from a decoding step's 16 rows (where
//! the product is bound by reading the weights once) to a prefill's
//! thousands.
//!
//! Each output is `sum_k x[k] * w[k]` accumulated in `k` order with fused
//! multiply-adds, whatever the machine's vector width: the result does not
//! depend on the thread count or on AVX2 against AVX-512.

use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::Arc;

/// Output columns per panel: two AVX-512 vectors, four AVX2 vectors.
pub const PANEL: usize = 32;

/// Bytes of packed activations a task keeps hot while it sweeps the panels
/// (about half of a core's L2 on the machines we run on).
const ACTIVATION_BLOCK_BYTES: usize = 1 << 20;

/// Rows per task below which a product splits its columns (panels) between
/// threads instead of its rows: with few rows the weights dominate the
/// traffic, and splitting the columns reads each of them once.
const MIN_ROWS_PER_TASK: usize = 96;

/// `f32`s per 64-byte cache line.
const CACHE_LINE_FLOATS: usize = 16;

/// Elements to skip from the start of `values` to reach a 64-byte boundary.
fn cache_line_offset(values: &[f32]) -> usize {
    let misalignment = (values.as_ptr() as usize % 64) / std::mem::size_of::<f32>();
    (CACHE_LINE_FLOATS - misalignment) % CACHE_LINE_FLOATS
}

thread_local! {
    /// Each thread's buffer of packed activation rows, kept between calls:
    /// a fresh megabyte per call would be fresh pages to fault in and clear.
    static PACKED_ROWS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A `[out, in]` weight matrix in the layout of the CPU matrix kernel.
#[derive(Clone)]
pub struct PackedMatrix {
    /// `ceil(out / PANEL)` panels, each `[in, PANEL]` row-major; the columns
    /// past `out` in the last panel are zero. Shared: a cloned model does
    /// not copy its weights. They start at `offset`, the first element on a
    /// 64-byte boundary, so that no vector load straddles two cache lines.
    storage: Arc<[f32]>,
    offset: usize,
    inputs: usize,
    outputs: usize,
}

impl std::fmt::Debug for PackedMatrix {
    /// The shape only (a model's debug print must not list its weights).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedMatrix")
            .field("outputs", &self.outputs)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

impl PackedMatrix {
    /// Packs a row-major `[outputs, inputs]` matrix (a checkpoint's layout
    /// for `y = x Wᵀ`). `None` if `w` does not hold `outputs * inputs` values.
    pub fn from_out_in(w: &[f32], outputs: usize, inputs: usize) -> Option<Self> {
        if outputs.checked_mul(inputs)? != w.len() {
            return None;
        }
        let panel_len = inputs * PANEL;
        let len = outputs.div_ceil(PANEL) * panel_len;
        // Collected straight into the shared allocation (no temporary copy).
        let mut storage: Arc<[f32]> =
            std::iter::repeat_n(0.0f32, len + CACHE_LINE_FLOATS).collect();
        let offset = cache_line_offset(&storage);
        let Some(whole) = Arc::get_mut(&mut storage) else {
            unreachable!("a new Arc is unique")
        };
        let panels = &mut whole[offset..offset + len];
        if panel_len > 0 {
            panels
                .par_chunks_mut(panel_len)
                .enumerate()
                .for_each(|(p, panel)| {
                    for j in 0..PANEL.min(outputs - p * PANEL) {
                        let row = &w[(p * PANEL + j) * inputs..][..inputs];
                        for (slot, &value) in panel.iter_mut().skip(j).step_by(PANEL).zip(row) {
                            *slot = value;
                        }
                    }
                });
        }
        Some(Self {
            storage,
            offset,
            inputs,
            outputs,
        })
    }

    /// The panels.
    fn panels(&self) -> &[f32] {
        let len = self.outputs.div_ceil(PANEL) * self.inputs * PANEL;
        &self.storage[self.offset..self.offset + len]
    }

    /// Input width (`in`).
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Output width (`out`).
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `x Wᵀ` for row-major `x` `[rows, in]`: a row-major `[rows, out]`.
    /// Rows are `x.len() / in`; a trailing partial row is ignored.
    pub fn matmul(&self, x: &[f32]) -> Vec<f32> {
        // Zeroed by the allocator (fresh pages for a large result), so that
        // `matmul_into` finds the right length and does not clear it again.
        let rows = x.len().checked_div(self.inputs).unwrap_or(0);
        let mut out = vec![0.0f32; rows * self.outputs];
        self.matmul_into(x, &mut out);
        out
    }

    /// [`Self::matmul`] into `out`, reusing its allocation: a buffer that
    /// already has the result's length is overwritten without being cleared
    /// (what a layer loop wants: the same shapes at every layer).
    pub fn matmul_into(&self, x: &[f32], out: &mut Vec<f32>) {
        self.product_into(x, None, out);
    }

    /// The SwiGLU activation of `x`: `silu(x Gᵀ) ⊙ (x Uᵀ)` with `self` = G
    /// (gate) and `up` = U, into `out` `[rows, out]`. Each tile of the two
    /// products is combined in registers' reach, so the two `[rows, out]`
    /// intermediates are never written out and read back (for a prefill,
    /// megabytes per layer that do not fit the caches). The same numbers as
    /// the two products followed by `silu(g) * u`.
    ///
    /// # Panics
    /// If `up`'s shape differs from `self`'s.
    pub fn swiglu_into(&self, up: &PackedMatrix, x: &[f32], out: &mut Vec<f32>) {
        assert_eq!(
            (self.inputs, self.outputs),
            (up.inputs, up.outputs),
            "gate and up projections of different shapes"
        );
        self.product_into(x, Some(up), out);
    }

    /// `x Wᵀ`, or with `up` the SwiGLU of the two products, into `out`.
    fn product_into(&self, x: &[f32], up: Option<&PackedMatrix>, out: &mut Vec<f32>) {
        let (k, n) = (self.inputs, self.outputs);
        let m = x.len().checked_div(k).unwrap_or(0);
        if out.len() != m * n {
            out.clear();
            out.resize(m * n, 0.0);
        }
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            out.fill(0.0);
            return;
        }
        let x = &x[..m * k];
        let threads = rayon::current_num_threads().max(1);
        if m >= threads * MIN_ROWS_PER_TASK {
            let rows_per_task = m.div_ceil(threads);
            out.par_chunks_mut(rows_per_task * n)
                .zip(x.par_chunks(rows_per_task * k))
                .for_each(|(out, x)| {
                    product_task(x, k, (self.panels(), up.map(Self::panels), n), out)
                });
            return;
        }
        let n_panels = n.div_ceil(PANEL);
        let panels_per_task = n_panels.div_ceil(threads * 4).max(1);
        let task_len = panels_per_task * k * PANEL;
        let parts: Vec<(usize, Vec<f32>)> = (0..n_panels.div_ceil(panels_per_task))
            .into_par_iter()
            .map(|t| {
                let first_col = t * panels_per_task * PANEL;
                let cols = (n - first_col).min(panels_per_task * PANEL);
                let mut part = vec![0.0f32; m * cols];
                product_task(
                    x,
                    k,
                    (
                        task_slice(self.panels(), t, task_len),
                        up.map(|up| task_slice(up.panels(), t, task_len)),
                        cols,
                    ),
                    &mut part,
                );
                (first_col, part)
            })
            .collect();
        for (first_col, part) in parts {
            let cols = part.len() / m;
            for (row, src) in out.chunks_exact_mut(n).zip(part.chunks_exact(cols)) {
                row[first_col..first_col + cols].copy_from_slice(src);
            }
        }
    }
}

/// Task `t`'s `len` elements of `all` (the last task's may be shorter).
fn task_slice(all: &[f32], t: usize, len: usize) -> &[f32] {
    &all[t * len..((t + 1) * len).min(all.len())]
}

/// One task's product: rows `x` `[m, k]` times the `cols` output columns
/// held by `panels`, into `out` `[m, cols]`.
struct Product<'a> {
    x: &'a [f32],
    k: usize,
    panels: &'a [f32],
    /// The up projection's panels for a SwiGLU product (`panels` = gate).
    up_panels: Option<&'a [f32]>,
    cols: usize,
    out: &'a mut [f32],
    /// Work buffer for the packed activation rows (grown as needed).
    packed: &'a mut Vec<f32>,
}

/// One task's [`Product`] with this thread's packed-rows buffer (taken out
/// of the thread-local for the call, so that the kernel itself, compiled for
/// the machine's SIMD level, touches no thread-local machinery).
fn product_task(
    x: &[f32],
    k: usize,
    (panels, up_panels, cols): (&[f32], Option<&[f32]>, usize),
    out: &mut [f32],
) {
    let mut packed = PACKED_ROWS.take();
    crate::simd::arch().dispatch(Product {
        x,
        k,
        panels,
        up_panels,
        cols,
        out,
        packed: &mut packed,
    });
    PACKED_ROWS.set(packed);
}

impl pulp::WithSimd for Product<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let rows = self.x.len() / self.k;
        match S::F32_LANES {
            // 12-row tiles fill the registers; 8-row tiles when 12-row ones
            // would compute over an eighth more padding rows (a decoding
            // step's 16 rows: 2 tiles of 8, not 24 rows).
            16 if rows.div_ceil(12) * 12 > rows.div_ceil(8) * 8 + rows / 8 => {
                self.run::<S, 8, 2>(simd)
            }
            16 => self.run::<S, 12, 2>(simd),
            // AVX2's 16 registers: 6 rows × 2 vectors (12 accumulators, 2
            // panel vectors, 1 broadcast) over each half of the panel; a
            // whole-panel tile (3 × 4) loads more than it multiplies.
            8 => self.run::<S, 6, 2>(simd),
            4 => self.run::<S, 2, 8>(simd),
            _ => self.run_scalar(),
        }
    }
}

impl Product<'_> {
    /// The register-blocked product: `MR` rows × `NV` vectors per tile, the
    /// vectors a group of a panel's [`PANEL`] columns (the whole panel, or
    /// each half in turn).
    #[inline(always)]
    fn run<S: pulp::Simd, const MR: usize, const NV: usize>(self, simd: S) {
        if NV * S::F32_LANES == 0 || !PANEL.is_multiple_of(NV * S::F32_LANES) {
            return self.run_scalar();
        }
        let Product {
            x,
            k,
            panels,
            up_panels,
            cols,
            out,
            packed,
        } = self;
        let m = x.len() / k;
        let max_rows = (ACTIVATION_BLOCK_BYTES / (k * 4)).max(MR);
        let rows_per_block = m.div_ceil(m.div_ceil(max_rows)).next_multiple_of(MR);
        if packed.len() < rows_per_block * k {
            packed.resize(rows_per_block * k, 0.0);
        }
        let packed = &mut packed[..rows_per_block * k];
        Self::blocks::<S, MR, NV>(simd, (x, k), packed, (panels, up_panels, cols), out);
    }

    /// [`Self::run`] over blocks of `packed.len() / k` rows: each block's
    /// rows packed once, then multiplied by every panel.
    #[inline(always)]
    fn blocks<S: pulp::Simd, const MR: usize, const NV: usize>(
        simd: S,
        (x, k): (&[f32], usize),
        packed: &mut [f32],
        (panels, up_panels, cols): (&[f32], Option<&[f32]>, usize),
        out: &mut [f32],
    ) {
        let m = x.len() / k;
        let panel_len = k * PANEL;
        let rows_per_block = packed.len() / k;
        for block_start in (0..m).step_by(rows_per_block) {
            let rows = (m - block_start).min(rows_per_block);
            pack_rows::<MR>(&x[block_start * k..][..rows * k], k, packed);
            let group = NV * S::F32_LANES;
            for (p, panel) in panels.chunks_exact(panel_len).enumerate() {
                for first_col in (0..PANEL).step_by(group) {
                    let col0 = p * PANEL + first_col;
                    if col0 >= cols {
                        break;
                    }
                    let width = (cols - col0).min(group);
                    for (t, tile) in packed.chunks_exact(MR * k).enumerate() {
                        let r0 = t * MR;
                        if r0 >= rows {
                            break;
                        }
                        let acc = tile_product::<S, MR, NV>(simd, tile, panel, first_col);
                        let mut up = None;
                        if let Some(up_panels) = up_panels {
                            let up_panel = &up_panels[p * panel_len..][..panel_len];
                            up = Some(tile_product::<S, MR, NV>(simd, tile, up_panel, first_col));
                        }
                        for (r, acc_row) in acc.iter().enumerate().take(rows - r0) {
                            let start = (block_start + r0 + r) * cols + col0;
                            let dst = &mut out[start..start + width];
                            // A plain loop, not a closure: a closure here was not
                            // inlined and ran without the SIMD level (kernels.rs).
                            let mut activated = *acc_row;
                            if let Some(up) = &up {
                                for (a, &u) in activated.iter_mut().zip(&up[r]) {
                                    *a = crate::kernels::silu_times_f32s(simd, *a, u);
                                }
                            }
                            let acc_row = &activated;
                            if width == group {
                                let (vectors, _) = S::as_mut_simd_f32s(dst);
                                for (v, a) in vectors.iter_mut().zip(acc_row) {
                                    *v = *a;
                                }
                            } else {
                                let mut full = [0.0f32; PANEL];
                                let (vectors, _) = S::as_mut_simd_f32s(&mut full);
                                for (v, a) in vectors.iter_mut().zip(acc_row) {
                                    *v = *a;
                                }
                                dst.copy_from_slice(&full[..width]);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The same product without vectors (a machine whose vector width does
    /// not divide [`PANEL`]): same summation order.
    fn run_scalar(self) {
        let Product {
            x,
            k,
            panels,
            up_panels,
            cols,
            out,
            packed: _,
        } = self;
        let panel_len = k * PANEL;
        let column = |panels: &[f32], row: &[f32], c: usize| -> f32 {
            let panel = &panels[(c / PANEL) * panel_len..][..panel_len];
            row.iter()
                .zip(panel.iter().skip(c % PANEL).step_by(PANEL))
                .fold(0.0f32, |acc, (&a, &b)| a.mul_add(b, acc))
        };
        for (row, out_row) in x.chunks_exact(k).zip(out.chunks_exact_mut(cols)) {
            for (c, o) in out_row.iter_mut().enumerate() {
                let g = column(panels, row, c);
                *o = match up_panels {
                    Some(up) => crate::kernels::silu_times(g, column(up, row, c)),
                    None => g,
                };
            }
        }
    }
}

/// Rearranges `rows` rows of `x` (`[rows, k]`) into tiles of `MR` rows,
/// each `[k, MR]` (the `MR` values of one input index side by side), zero
/// past the last row.
fn pack_rows<const MR: usize>(x: &[f32], k: usize, packed: &mut [f32]) {
    let rows = x.len() / k;
    for (t, tile) in packed.chunks_exact_mut(MR * k).enumerate() {
        for r in 0..MR {
            let row = t * MR + r;
            let slots = tile.iter_mut().skip(r).step_by(MR);
            if row < rows {
                for (slot, &value) in slots.zip(&x[row * k..][..k]) {
                    *slot = value;
                }
            } else {
                slots.for_each(|slot| *slot = 0.0);
            }
        }
    }
}

/// The micro-kernel: one tile of packed rows (`[k, MR]`) times `NV`
/// vectors of one panel (`[k, PANEL]`) from column `first_col` on,
/// accumulated in registers.
#[inline(always)]
fn tile_product<S: pulp::Simd, const MR: usize, const NV: usize>(
    simd: S,
    tile: &[f32],
    panel: &[f32],
    first_col: usize,
) -> [[S::f32s; NV]; MR] {
    let mut acc = [[simd.splat_f32s(0.0); NV]; MR];
    let (a_steps, _) = tile.as_chunks::<MR>();
    let (b_steps, _) = panel.as_chunks::<PANEL>();
    for (a, b) in a_steps.iter().zip(b_steps) {
        let (b, _) = S::as_simd_f32s(&b[first_col..]);
        let b: [S::f32s; NV] = std::array::from_fn(|v| b[v]);
        for (acc_row, &a) in acc.iter_mut().zip(a) {
            let a = simd.splat_f32s(a);
            for (acc, &b) in acc_row.iter_mut().zip(&b) {
                *acc = simd.mul_add_f32s(a, b, *acc);
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x Wᵀ` summed in `k` order with fused multiply-adds.
    fn reference(x: &[f32], w: &[f32], n: usize, k: usize) -> Vec<f32> {
        let m = x.len() / k;
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] =
                    (0..k).fold(0.0f32, |acc, c| x[i * k + c].mul_add(w[j * k + c], acc));
            }
        }
        out
    }

    fn values(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 + seed) * 0.731).sin())
            .collect()
    }

    #[test]
    fn product_matches_reference_bit_for_bit_for_every_shape() {
        // Rows below and above a tile and the row-split threshold; columns
        // below, at and past a panel; widths that are not multiples of a vector.
        for &(m, n, k) in &[
            (1, 1, 1),
            (1, 32, 16),
            (5, 33, 7),
            (13, 70, 24),
            (16, 576, 64),
            (200, 96, 40),
            (301, 45, 33),
        ] {
            let x = values(m * k, 1.0);
            let w = values(n * k, 2.0);
            let packed = PackedMatrix::from_out_in(&w, n, k).expect("shape");
            assert_eq!(packed.matmul(&x), reference(&x, &w, n, k), "{m}x{n}x{k}");
        }
    }

    /// The product of `x` and `packed` through `simd` (`None`: the scalar path).
    fn product_with<S: pulp::Simd>(simd: Option<S>, x: &[f32], packed: &PackedMatrix) -> Vec<f32> {
        let (k, n) = (packed.inputs, packed.outputs);
        let mut out = vec![0.0; x.len() / k * n];
        let mut buffer = Vec::new();
        let task = Product {
            x,
            k,
            panels: packed.panels(),
            up_panels: None,
            cols: n,
            out: &mut out,
            packed: &mut buffer,
        };
        match simd {
            Some(simd) => simd.vectorize(|| pulp::WithSimd::with_simd(task, simd)),
            None => task.run_scalar(),
        }
        out
    }

    #[test]
    fn every_simd_level_gives_the_same_bits() {
        // The last panel 6 wide (within AVX2's first half-panel group) and
        // 26 wide (a full group, then a partial one).
        for (m, n, k) in [(29, 70, 19), (13, 90, 7)] {
            let x = values(m * k, 3.0);
            let w = values(n * k, 4.0);
            let packed = PackedMatrix::from_out_in(&w, n, k).expect("shape");
            let expected = reference(&x, &w, n, k);
            assert_eq!(
                product_with::<pulp::Scalar>(None, &x, &packed),
                expected,
                "scalar"
            );
            #[cfg(target_arch = "x86_64")]
            {
                if let Some(simd) = pulp::x86::V3::try_new() {
                    assert_eq!(product_with(Some(simd), &x, &packed), expected, "AVX2");
                }
                if let Some(simd) = pulp::x86::V4::try_new() {
                    assert_eq!(product_with(Some(simd), &x, &packed), expected, "AVX-512");
                }
            }
        }
    }

    #[test]
    fn swiglu_is_the_two_products_then_silu_bit_for_bit() {
        for &(m, n, k) in &[(1, 32, 16), (16, 70, 24), (200, 96, 40), (301, 45, 33)] {
            let x = values(m * k, 5.0);
            let (wg, wu) = (values(n * k, 6.0), values(n * k, 7.0));
            let gate = PackedMatrix::from_out_in(&wg, n, k).expect("shape");
            let up = PackedMatrix::from_out_in(&wu, n, k).expect("shape");
            let expected: Vec<f32> = gate
                .matmul(&x)
                .into_iter()
                .zip(up.matmul(&x))
                .map(|(g, u)| crate::kernels::silu_times(g, u))
                .collect();
            let mut out = Vec::new();
            gate.swiglu_into(&up, &x, &mut out);
            assert_eq!(out, expected, "{m}x{n}x{k}");
        }
    }

    #[test]
    fn debug_print_shows_the_shape_not_the_weights() {
        let packed = PackedMatrix::from_out_in(&[0.5; 6], 2, 3).expect("shape");
        assert_eq!(
            format!("{packed:?}"),
            "PackedMatrix { outputs: 2, inputs: 3, .. }"
        );
    }

    #[test]
    fn wrong_length_is_refused_and_empty_shapes_work() {
        assert!(PackedMatrix::from_out_in(&[1.0; 5], 2, 3).is_none());
        let empty = PackedMatrix::from_out_in(&[], 0, 3).expect("shape");
        assert!(empty.matmul(&[1.0; 6]).is_empty());
        let no_inputs = PackedMatrix::from_out_in(&[], 4, 0).expect("shape");
        assert!(no_inputs.matmul(&[]).is_empty());
    }
}
