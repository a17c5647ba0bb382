//! The decoder on the CPU backend through the fused kernels of
//! [`crate::kernels`] and the packed matrix products of [`crate::packed`]:
//! a layer runs on plain host buffers from its input to its output, every
//! step one multi-threaded pass (burn-flex hands a unique tensor's buffer
//! over without a copy, and takes the result back the same way).

use super::{FusedCall, FusedCpu, LlamaModel, PackedLayer};
use crate::cache::{KvCache, LayerKv};
use crate::kernels::{self, AttentionShape};
use crate::reuse::LayerReuse;
use crate::LmError;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};
use std::any::{Any, TypeId};

/// Whether `B` is the CPU backend (burn-flex), whose tensors the fused
/// kernels can read and write in place.
pub(crate) fn is_cpu_backend<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<burn::backend::Flex>()
}

/// The elements of `data` as `f32`.
pub(crate) fn host_f32(data: TensorData) -> Result<Vec<f32>, LmError> {
    data.convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| LmError::Backend(format!("{e:?}")))
}

/// An `f32` buffer of the CPU backend, taken from a tensor without a copy
/// when the tensor is unique and contiguous (burn-flex hands its bytes over).
struct HostF32(TensorData);

impl HostF32 {
    /// Takes `t`'s buffer. The fused path only runs on burn-flex, whose float
    /// tensors the model creates as `f32`; a buffer whose address does not
    /// suit `f32` (never seen: allocations are aligned) is copied.
    fn take<B: Backend, const D: usize>(t: Tensor<B, D>) -> Self {
        let data = t.into_data();
        debug_assert_eq!(data.dtype, DType::F32);
        if data.as_slice::<f32>().is_ok() {
            return Self(data);
        }
        let shape = data.shape.clone();
        match host_f32(data) {
            Ok(v) => Self(TensorData::new(v, shape)),
            Err(e) => unreachable!("the CPU path holds f32 tensors only: {e}"),
        }
    }

    /// The elements.
    fn get(&self) -> &[f32] {
        match self.0.as_slice::<f32>() {
            Ok(s) => s,
            Err(e) => unreachable!("checked when taken: {e:?}"),
        }
    }

    /// The elements, to change in place.
    fn get_mut(&mut self) -> &mut [f32] {
        match self.0.as_mut_slice::<f32>() {
            Ok(s) => s,
            Err(e) => unreachable!("checked when taken: {e:?}"),
        }
    }
}

/// How a forward call uses its KV cache (see [`KvCache::shared_read_only`]).
#[derive(Debug, Clone, Copy)]
struct CacheMode {
    /// Batch rows per stored cache row.
    share: usize,
    /// Read the cache, do not extend it.
    read_only: bool,
}

impl Default for CacheMode {
    fn default() -> Self {
        Self {
            share: 1,
            read_only: false,
        }
    }
}

/// Runs `f` on the elements of a CPU-backend tensor, borrowing its buffer
/// (a cached key/value tensor is shared by the cache and its repeats, so
/// taking it would copy); other backends' tensors are copied to the host.
fn read_f32<B: Backend, const D: usize, R>(t: &Tensor<B, D>, f: impl FnOnce(&[f32]) -> R) -> R {
    let primitive: Box<dyn Any> = Box::new(t.clone().into_primitive().tensor());
    match primitive.downcast::<burn_flex::FlexTensor>() {
        Ok(flex) => match flex.as_slice::<f32>() {
            Some(slice) => f(slice),
            None => match flex.to_contiguous().as_slice::<f32>() {
                Some(slice) => f(slice),
                None => f(HostF32::take(t.clone()).get()),
            },
        },
        Err(_) => f(HostF32::take(t.clone()).get()),
    }
}

impl FusedCall {
    /// Reads a batch's positions, padding and head mask to the host.
    fn read<B: Backend>(batch: &super::ForwardBatch<B>) -> Self {
        let ints = |data: TensorData| -> Vec<i64> {
            match data.convert::<i64>().into_vec::<i64>() {
                Ok(v) => v,
                Err(e) => unreachable!("int tensors convert to i64: {e:?}"),
            }
        };
        let positions = ints(batch.positions.to_data())
            .into_iter()
            .map(|p| p.max(0) as usize)
            .collect();
        let key_padding = batch.key_padding.as_ref().map(|p| {
            ints(p.clone().int().into_data())
                .into_iter()
                .map(|v| v != 0)
                .collect()
        });
        let keep = batch
            .head_keep
            .as_ref()
            .map(|k| HostF32::take(k.clone()).get().to_vec());
        Self {
            positions,
            key_padding,
            keep,
        }
    }

    /// The call with its per-sequence inputs (positions, padding) repeated
    /// `copies` times, copy-major, for the layers after a fan-out; the head
    /// keep factors already cover every copy.
    fn fanned_out(self, copies: usize) -> Self {
        Self {
            positions: self.positions.repeat(copies),
            key_padding: self.key_padding.map(|p| p.repeat(copies)),
            keep: self.keep,
        }
    }
}

impl<B: Backend> LlamaModel<B> {
    /// The hidden states after the last layer, from layer `first_layer` with
    /// hidden state `x`, through the fused kernels.
    pub(super) fn hidden_fused(
        &self,
        fused: &FusedCpu,
        batch: super::ForwardBatch<B>,
        mut cache: Option<&mut KvCache<B>>,
        reuse: &mut LayerReuse<B>,
        (first_layer, mut x): (usize, Tensor<B, 3>),
    ) -> Tensor<B, 3> {
        let call = FusedCall::read(&batch);
        if let Some(c) = cache.as_deref_mut() {
            if c.share() > 1 && !c.is_read_only() {
                *c = c.materialized();
            }
        }
        let mode = cache
            .as_deref()
            .map_or(CacheMode::default(), |c| CacheMode {
                share: c.share(),
                read_only: c.is_read_only(),
            });
        let mut buffers = LayerBuffers::default();
        let mut call = call;
        for l in first_layer..self.layers.len() {
            reuse.offer(l, &x);
            if let Some(fan) = batch.fan_out.filter(|f| f.layer.max(first_layer) == l) {
                x = x.repeat_dim(0, fan.copies);
                call = call.fanned_out(fan.copies);
            }
            let layer_cache = cache.as_deref_mut().map(|c| c.layer_mut(l));
            x = self.fused_layer(l, (fused, &call, &mut buffers), x, (layer_cache, mode));
        }
        super::fan_out_after_last(x, batch.fan_out, self.layers.len())
    }

    /// The logits of hidden states `[rows, hidden]`: final norm, then the
    /// packed output layer.
    pub(super) fn logits_fused(&self, fused: &FusedCpu, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let rows = x.dims()[0];
        let x = HostF32::take(x);
        let mut h = vec![0.0f32; x.get().len()];
        kernels::rms_norm_rows(
            x.get(),
            &fused.final_norm,
            self.config.rms_norm_eps as f32,
            &mut h,
        );
        let logits = fused.lm_head.matmul(&h);
        self.cpu_tensor::<2>(logits, [rows, fused.lm_head.outputs()])
    }

    /// A host buffer as a tensor on this model's device (no copy on burn-flex).
    fn cpu_tensor<const D: usize>(&self, data: Vec<f32>, shape: [usize; D]) -> Tensor<B, D> {
        Tensor::from_data(TensorData::new(data, shape), &self.device)
    }

    /// One decoder layer: attention block then MLP block, each with its
    /// residual connection.
    fn fused_layer(
        &self,
        l: usize,
        (fused, call, buf): (&FusedCpu, &FusedCall, &mut LayerBuffers),
        x: Tensor<B, 3>,
        (cache, mode): (Option<&mut LayerKv<B>>, CacheMode),
    ) -> Tensor<B, 3> {
        let c = &self.config;
        let eps = c.rms_norm_eps as f32;
        let [b, s, d] = x.dims();
        let (hq, hkv, hd) = (c.num_heads, c.num_kv_heads, c.head_dim);
        let (attn_norm, mlp_norm) = &fused.norms[l];
        let weights: &PackedLayer = &fused.layers[l];
        let mut x = HostF32::take(x);
        resize(&mut buf.h, x.get().len());
        kernels::rms_norm_rows(x.get(), attn_norm, eps, &mut buf.h);
        weights.qkv.matmul_into(&buf.h, &mut buf.qkv);
        if let Some(bias) = &weights.qkv_bias {
            kernels::add_row_bias(&mut buf.qkv, bias);
        }
        let rope = Some((fused.cos.as_slice(), fused.sin.as_slice()));
        let width = (hq + 2 * hkv) * hd;
        let heads_first = |(offset, heads): (usize, usize), rope, out: &mut Vec<f32>| {
            resize(out, b * s * heads * hd);
            let columns = kernels::RowColumns { width, offset };
            let src = (buf.qkv.as_slice(), columns);
            kernels::to_heads_first(src, (b, s, heads, hd), &call.positions, rope, out);
        };
        heads_first((0, hq), rope, &mut buf.q_heads);
        heads_first((hq * hd, hkv), rope, &mut buf.k_heads);
        heads_first(((hq + hkv) * hd, hkv), None, &mut buf.v_heads);
        // The keep factors' rows cover the fanned-out batch; before a fan-out this call's
        // rows are the first of them (every copy keeps every head there).
        let keep = call.keep.as_ref().map(|k| {
            let rows = k.len() / (self.layers.len() * hq);
            &k[l * rows * hq..][..b * hq]
        });
        resize(&mut buf.attn, b * s * hq * hd);
        let past = cache
            .as_ref()
            .and_then(|c| Some((c.0.clone()?, c.1.clone()?)));
        let past_len = past.as_ref().map_or(0, |(pk, _)| pk.dims()[2]);
        let shape = AttentionShape {
            batch: b,
            q_heads: hq,
            kv_heads: hkv,
            queries: s,
            keys: past_len + s,
            head_dim: hd,
        };
        let (q, k, v) = (&buf.q_heads, &buf.k_heads, &buf.v_heads);
        let attend = |past: Option<kernels::PastKeyValues<'_>>, out: &mut [f32]| {
            let padding = call.key_padding.as_deref();
            kernels::causal_attention(q, (k, v), past, padding, keep, shape, out);
        };
        let writes_cache = cache.is_some() && !mode.read_only;
        // The cache after this call: past + new keys/values (none when read-only).
        let extended = match &past {
            None => {
                attend(None, &mut buf.attn);
                writes_cache.then(|| {
                    (
                        std::mem::take(&mut buf.k_heads),
                        std::mem::take(&mut buf.v_heads),
                    )
                })
            }
            Some((pk, pv)) => read_f32(pk, |pk| {
                read_f32(pv, |pv| {
                    let past = kernels::PastKeyValues {
                        keys: pk,
                        values: pv,
                        len: past_len,
                        share: mode.share,
                    };
                    attend(Some(past), &mut buf.attn);
                    writes_cache.then(|| {
                        (
                            kernels::append_positions(pk, k, (b, hkv, hd)),
                            kernels::append_positions(pv, v, (b, hkv, hd)),
                        )
                    })
                })
            }),
        };
        if let (Some((ck, cv)), Some((k, v))) = (cache, extended) {
            let keys = past_len + s;
            *ck = Some(self.cpu_tensor::<4>(k, [b, hkv, keys, hd]));
            *cv = Some(self.cpu_tensor::<4>(v, [b, hkv, keys, hd]));
        }
        weights.o.matmul_into(&buf.attn, &mut buf.projected);
        kernels::add_assign(x.get_mut(), &buf.projected);
        kernels::rms_norm_rows(x.get(), mlp_norm, eps, &mut buf.h);
        weights.gate.swiglu_into(&weights.up, &buf.h, &mut buf.gate);
        weights.down.matmul_into(&buf.gate, &mut buf.projected);
        kernels::add_assign(x.get_mut(), &buf.projected);
        debug_assert_eq!(x.get().len(), b * s * d);
        Tensor::<B, 3>::from_data(x.0, &self.device)
    }
}

/// The work buffers of [`LlamaModel::fused_layer`], kept across the layers
/// of one forward call: every layer has the same shapes, so after the first
/// one nothing is allocated, faulted in or cleared (a prefill's layer moves
/// about 30 MB through them).
#[derive(Debug, Default)]
struct LayerBuffers {
    /// Normed hidden states `[rows, hidden]` (attention, then MLP).
    h: Vec<f32>,
    /// q, k and v side by side in each token's row, as their product
    /// leaves them (`[rows, (q_heads + 2 kv_heads) * head_dim]`).
    qkv: Vec<f32>,
    /// q, k, v heads-first (rotary applied to q and k).
    q_heads: Vec<f32>,
    k_heads: Vec<f32>,
    v_heads: Vec<f32>,
    /// Attention output `[rows, q_heads * head_dim]`.
    attn: Vec<f32>,
    /// `o_proj` then `down_proj` output `[rows, hidden]`.
    projected: Vec<f32>,
    /// SiLU(gate)·up `[rows, intermediate]`.
    gate: Vec<f32>,
}

/// Sets `buffer`'s length to `len`; its contents are left for the caller to
/// overwrite (a reused buffer of the right length is not touched).
fn resize(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() != len {
        buffer.clear();
        buffer.resize(len, 0.0);
    }
}
