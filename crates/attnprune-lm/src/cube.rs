//! attnprune's own GPU kernels, written in CubeCL (the kernel language of
//! burn-cuda and burn-wgpu). Each replaces a chain of burn's generic kernels
//! on the forward's hot path by one kernel that reads its inputs once and
//! writes its output once, with f32 arithmetic inside whatever the tensors'
//! format (bf16 on a GPU):
//!
//! - [`rms_norm`]: RMSNorm of each row, the mean of squares in f32 (burn's
//!   generic ops: a cast, a square, a mean, an add, a square root, a
//!   reciprocal, a product, a cast back and the weight's product).
//! - [`rotary`]: the rotate-half rotary embedding (a product with a
//!   signed-permutation matrix and three element-wise kernels).
//! - [`swiglu`]: `silu(gate) * up` (a sigmoid and two products).
//! - [`masked_softmax`]: eager attention's softmax over scaled, masked scores,
//!   in f32 and rounded back once (a cast, a mask, burn's five-kernel softmax
//!   and a cast back, each over the whole score tensor).
//!
//! They run on burn's plain CubeCL backends (`Cuda` and `Wgpu` without
//! burn's fusion): every function returns `None` for another backend (the
//! CPU, or a `cuda-tuned`/`wgpu-tuned` build, whose tensors are burn-fusion
//! handles), and the caller runs the generic ops. The generic ops are their
//! reference: `tests/cube_kernels.rs` compares the two on burn-wgpu in f32
//! (Mesa's llvmpipe runs it on a machine without a GPU).

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorPrimitive};
use burn_cubecl::cubecl::{calculate_cube_count_elemwise, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;
use std::any::{Any, TypeId};

/// Units (threads) of the cube that reduces one row; a power of two.
const ROW_UNITS: usize = 64;

/// The device code: CubeCL functions, compiled to CUDA C++, WGSL or GLSL at
/// the first launch.
mod device_code {
    use burn_cubecl::cubecl;
    use cubecl::prelude::*;

    /// The sum (`max` false) or maximum (`max` true) of `value` over the
    /// cube's `units` units, through shared memory; every unit gets it.
    #[cube]
    fn cube_reduce(value: f32, #[comptime] units: usize, #[comptime] max: bool) -> f32 {
        let mut shared = SharedMemory::<f32>::new(units);
        let unit = UNIT_POS as usize;
        shared[unit] = value;
        sync_cube();
        // A runtime counter (the cube's size is `units`): a comptime value cannot change.
        let mut stride = CUBE_DIM as usize / 2;
        while stride > 0 {
            if unit < stride {
                if max {
                    shared[unit] = f32::max(shared[unit], shared[unit + stride]);
                } else {
                    shared[unit] += shared[unit + stride];
                }
            }
            sync_cube();
            stride /= 2;
        }
        shared[0]
    }

    /// RMSNorm of the contiguous rows `[rows, width]` of `input`: one cube
    /// per row. `x / sqrt(mean(x²) + eps)` in f32, rounded to `E`, times the
    /// weight in `E` (transformers' order).
    #[cube(launch)]
    pub fn rms_norm_kernel<E: Float>(
        input: &Tensor<E>,
        weight: &Tensor<E>,
        output: &mut Tensor<E>,
        rows: usize,
        width: usize,
        eps: f32,
        #[comptime] units: usize,
        #[define(E)] _dtype: StorageType,
    ) {
        let row = CUBE_POS;
        if row >= rows {
            terminate!();
        }
        let base = row * width;
        let mut squares = f32::new(0.0);
        let mut j = UNIT_POS as usize;
        while j < width {
            let x = f32::cast_from(input[base + j]);
            squares += x * x;
            j += units;
        }
        let total = cube_reduce(squares, units, false);
        let inverse = f32::new(1.0) / f32::sqrt(total / f32::cast_from(width) + eps);
        let mut j = UNIT_POS as usize;
        while j < width {
            let x = f32::cast_from(input[base + j]);
            output[base + j] = E::cast_from(x * inverse) * weight[j];
            j += units;
        }
    }

    /// The rotate-half rotary embedding of contiguous `x` `[rows, heads,
    /// head_dim]`: `x * cos + rotate_half(x) * sin`, with `cos` and `sin`
    /// read through their strides (a view broadcast over heads is fine).
    #[cube(launch)]
    pub fn rotary_kernel<E: Float>(
        x: &Tensor<E>,
        cos: &Tensor<E>,
        sin: &Tensor<E>,
        output: &mut Tensor<E>,
        total: usize,
        heads: usize,
        head_dim: usize,
        #[define(E)] _dtype: StorageType,
    ) {
        let pos = ABSOLUTE_POS;
        if pos >= total {
            terminate!();
        }
        let j = pos % head_dim;
        let head = (pos / head_dim) % heads;
        let row = pos / (head_dim * heads);
        let half = head_dim / 2;
        // The other half's value, negated for the first half (no read out of
        // bounds: the index not taken is never read).
        let first_half = j < half;
        let other = x[select(first_half, pos + half, pos - half)];
        let partner = select(first_half, -other, other);
        let c = cos[row * cos.stride(0) + head * cos.stride(1) + j * cos.stride(2)];
        let s = sin[row * sin.stride(0) + head * sin.stride(1) + j * sin.stride(2)];
        output[pos] = x[pos] * c + partner * s;
    }

    /// `silu(gate) * up` over contiguous tensors of `total` values: the SiLU
    /// in f32, rounded to `E`, times `up` in `E`.
    #[cube(launch)]
    pub fn swiglu_kernel<E: Float>(
        gate: &Tensor<E>,
        up: &Tensor<E>,
        output: &mut Tensor<E>,
        total: usize,
        #[define(E)] _dtype: StorageType,
    ) {
        let pos = ABSOLUTE_POS;
        if pos >= total {
            terminate!();
        }
        let g = f32::cast_from(gate[pos]);
        let silu = g / (f32::new(1.0) + f32::exp(-g));
        output[pos] = E::cast_from(silu) * up[pos];
    }

    /// Softmax over the keys of each contiguous row of `scores` `[rows,
    /// keys]`, one cube per row, in f32: the score times `scale`, keys whose
    /// `mask` value is not 0 left out (probability 0), the result rounded to
    /// `E`. Row `r` is query `r % queries` of batch row `r / rows_per_batch`;
    /// `mask` `[batch, 1, queries, keys]` (burn's booleans, stored as
    /// integers) is read through its strides.
    #[cube(launch)]
    pub fn masked_softmax_kernel<E: Float, M: Int>(
        scores: &Tensor<E>,
        mask: &Tensor<M>,
        output: &mut Tensor<E>,
        rows: usize,
        keys: usize,
        queries: usize,
        rows_per_batch: usize,
        scale: f32,
        #[comptime] units: usize,
        #[define(E, M)] _dtypes: [StorageType; 2],
    ) {
        let row = CUBE_POS;
        if row >= rows {
            terminate!();
        }
        let base = row * keys;
        let mask_base = (row / rows_per_batch) * mask.stride(0) + (row % queries) * mask.stride(2);
        let mask_step = mask.stride(3);
        // A finite "lowest" (WGSL has no infinity literal); every real score is above it.
        let mut best = f32::new(-3.0e38);
        let mut j = UNIT_POS as usize;
        while j < keys {
            if u32::cast_from(mask[mask_base + j * mask_step]) == 0 {
                best = f32::max(best, f32::cast_from(scores[base + j]) * scale);
            }
            j += units;
        }
        let best = cube_reduce(best, units, true);
        let mut sum = f32::new(0.0);
        let mut j = UNIT_POS as usize;
        while j < keys {
            if u32::cast_from(mask[mask_base + j * mask_step]) == 0 {
                sum += f32::exp(f32::cast_from(scores[base + j]) * scale - best);
            }
            j += units;
        }
        let sum = cube_reduce(sum, units, false);
        let mut j = UNIT_POS as usize;
        while j < keys {
            let mut p = f32::new(0.0);
            if u32::cast_from(mask[mask_base + j * mask_step]) == 0 {
                p = f32::exp(f32::cast_from(scores[base + j]) * scale - best) / sum;
            }
            output[base + j] = E::cast_from(p);
            j += units;
        }
    }
}

/// Whether `B`'s float tensors are CubeCL tensors of runtime `R`.
fn is_runtime<B: Backend, R: CubeRuntime>() -> bool {
    TypeId::of::<B::FloatTensorPrimitive>() == TypeId::of::<CubeTensor<R>>()
}

/// Whether [`rms_norm`] and the other kernels run on backend `B` (burn's
/// plain CUDA or wgpu backend in a build with that feature).
pub(crate) fn available<B: Backend>() -> bool {
    #[cfg(feature = "cuda")]
    if is_runtime::<B, burn_cubecl::cubecl::cuda::CudaRuntime>() {
        return true;
    }
    #[cfg(feature = "wgpu")]
    if is_runtime::<B, burn_cubecl::cubecl::wgpu::WgpuRuntime>() {
        return true;
    }
    false
}

/// Runs `$kernel::<B, R>(args)` for the runtime whose tensors `$b` holds:
/// `Some(result)`, or `None` when `$b` is no plain CubeCL backend.
macro_rules! on_runtime {
    ($b:ty, $kernel:ident ( $($arg:expr),* $(,)? )) => {{
        #[cfg(feature = "cuda")]
        if is_runtime::<$b, burn_cubecl::cubecl::cuda::CudaRuntime>() {
            return Some($kernel::<$b, burn_cubecl::cubecl::cuda::CudaRuntime>($($arg),*));
        }
        #[cfg(feature = "wgpu")]
        if is_runtime::<$b, burn_cubecl::cubecl::wgpu::WgpuRuntime>() {
            return Some($kernel::<$b, burn_cubecl::cubecl::wgpu::WgpuRuntime>($($arg),*));
        }
        None
    }};
}

/// `t`'s CubeCL tensor; only called after [`is_runtime`] said so.
fn cube_tensor<B: Backend, R: CubeRuntime, const D: usize>(t: Tensor<B, D>) -> CubeTensor<R> {
    same_type(t.into_primitive().tensor())
}

/// `t` itself as type `T`, which it is: the caller checked (a backend's
/// primitive and the CubeCL tensor of its runtime are one type).
fn same_type<T: Any>(t: impl Any) -> T {
    let t: Box<dyn Any> = Box::new(t);
    match t.downcast::<T>() {
        Ok(t) => *t,
        Err(_) => unreachable!("the caller checked the backend's runtime"),
    }
}

/// `t` as a tensor of `B`; only called after [`is_runtime`] said so.
fn burn_tensor<B: Backend, R: CubeRuntime, const D: usize>(t: CubeTensor<R>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(same_type(t)))
}

/// An uninitialised contiguous tensor of `like`'s shape and format.
fn empty_like<R: CubeRuntime>(like: &CubeTensor<R>) -> CubeTensor<R> {
    empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        like.meta.shape().clone(),
        like.dtype,
    )
}

/// RMSNorm over the last dimension of `x` `[rows, width]` with `weight`
/// `[width]`: the generic `rms_norm`'s result in one kernel.
pub(crate) fn rms_norm<B: Backend>(
    x: Tensor<B, 2>,
    weight: &Tensor<B, 1>,
    eps: f64,
) -> Option<Tensor<B, 2>> {
    on_runtime!(B, rms_norm_on(x, weight.clone(), eps))
}

fn rms_norm_on<B: Backend, R: CubeRuntime>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, 2> {
    let [rows, width] = x.dims();
    let x = into_contiguous(cube_tensor::<B, R, 2>(x));
    let weight = into_contiguous(cube_tensor::<B, R, 1>(weight));
    let output = empty_like(&x);
    let cube_dim = CubeDim::new_1d(ROW_UNITS as u32);
    let cube_count = calculate_cube_count_elemwise(&x.client, rows * ROW_UNITS, cube_dim);
    let dtype = x.dtype;
    device_code::rms_norm_kernel::launch::<R>(
        &x.client.clone(),
        cube_count,
        cube_dim,
        x.into_tensor_arg(),
        weight.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        rows,
        width,
        eps as f32,
        ROW_UNITS,
        dtype.into(),
    );
    burn_tensor::<B, R, 2>(output)
}

/// The rotate-half rotary embedding of `x` `[rows, heads, head_dim]` with
/// `cos` and `sin` of the same shape (views broadcast over heads are read in
/// place): `x * cos + rotate_half(x) * sin` in one kernel.
pub(crate) fn rotary<B: Backend>(
    x: Tensor<B, 3>,
    cos: &Tensor<B, 3>,
    sin: &Tensor<B, 3>,
) -> Option<Tensor<B, 3>> {
    on_runtime!(B, rotary_on(x, cos.clone(), sin.clone()))
}

fn rotary_on<B: Backend, R: CubeRuntime>(
    x: Tensor<B, 3>,
    cos: Tensor<B, 3>,
    sin: Tensor<B, 3>,
) -> Tensor<B, 3> {
    let [rows, heads, head_dim] = x.dims();
    let x = into_contiguous(cube_tensor::<B, R, 3>(x));
    let (cos, sin) = (cube_tensor::<B, R, 3>(cos), cube_tensor::<B, R, 3>(sin));
    let output = empty_like(&x);
    let total = rows * heads * head_dim;
    let cube_dim = CubeDim::new(&x.client, total);
    let cube_count = calculate_cube_count_elemwise(&x.client, total, cube_dim);
    let dtype = x.dtype;
    device_code::rotary_kernel::launch::<R>(
        &x.client.clone(),
        cube_count,
        cube_dim,
        x.into_tensor_arg(),
        cos.into_tensor_arg(),
        sin.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        total,
        heads,
        head_dim,
        dtype.into(),
    );
    burn_tensor::<B, R, 3>(output)
}

/// `silu(gate) * up` for `gate` and `up` of the same shape `[rows, width]`.
pub(crate) fn swiglu<B: Backend>(gate: Tensor<B, 2>, up: Tensor<B, 2>) -> Option<Tensor<B, 2>> {
    on_runtime!(B, swiglu_on(gate, up))
}

fn swiglu_on<B: Backend, R: CubeRuntime>(gate: Tensor<B, 2>, up: Tensor<B, 2>) -> Tensor<B, 2> {
    let gate = into_contiguous(cube_tensor::<B, R, 2>(gate));
    let up = into_contiguous(cube_tensor::<B, R, 2>(up));
    let output = empty_like(&gate);
    let total = gate.meta.num_elements();
    let cube_dim = CubeDim::new(&gate.client, total);
    let cube_count = calculate_cube_count_elemwise(&gate.client, total, cube_dim);
    let dtype = gate.dtype;
    device_code::swiglu_kernel::launch::<R>(
        &gate.client.clone(),
        cube_count,
        cube_dim,
        gate.into_tensor_arg(),
        up.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        total,
        dtype.into(),
    );
    burn_tensor::<B, R, 2>(output)
}

/// Softmax over the last axis of attention scores `[batch, kv_heads,
/// groups × queries, keys]` (row `g × queries + i` is query `i` of a query
/// head), in f32 after multiplying by `scale`, leaving out the keys that
/// `mask` `[batch, 1, queries, keys]` (`true` = masked) hides, rounded back
/// to the scores' format: eager attention's probabilities in one kernel.
pub(crate) fn masked_softmax<B: Backend>(
    scores: Tensor<B, 4>,
    mask: &Tensor<B, 4, Bool>,
    scale: f32,
) -> Option<Tensor<B, 4>> {
    let batch = scores.dims()[0];
    let [_, _, queries, keys] = mask.dims();
    // A view: a mask broadcast over the batch is read in place.
    let mask = mask.clone().expand([batch, 1, queries, keys]);
    on_runtime!(B, masked_softmax_on(scores, mask, queries, scale))
}

fn masked_softmax_on<B: Backend, R: CubeRuntime>(
    scores: Tensor<B, 4>,
    mask: Tensor<B, 4, Bool>,
    queries: usize,
    scale: f32,
) -> Tensor<B, 4> {
    let [batch, heads, rows_per_head, keys] = scores.dims();
    let rows = batch * heads * rows_per_head;
    let scores = into_contiguous(cube_tensor::<B, R, 4>(scores));
    let mask: CubeTensor<R> = same_type(mask.into_primitive());
    let mask_dtype = mask.dtype;
    let output = empty_like(&scores);
    let cube_dim = CubeDim::new_1d(ROW_UNITS as u32);
    let cube_count = calculate_cube_count_elemwise(&scores.client, rows * ROW_UNITS, cube_dim);
    let dtype = scores.dtype;
    device_code::masked_softmax_kernel::launch::<R>(
        &scores.client.clone(),
        cube_count,
        cube_dim,
        scores.into_tensor_arg(),
        mask.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        rows,
        keys,
        queries,
        heads * rows_per_head,
        scale,
        ROW_UNITS,
        [dtype.into(), mask_dtype.into()],
    );
    burn_tensor::<B, R, 4>(output)
}
