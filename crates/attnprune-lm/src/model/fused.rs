//! The decoder on the CPU backend through the fused kernels of
//! [`crate::kernels`]: the four matrix products of a layer stay burn's
//! (`gemm`), everything between them is one multi-threaded pass each, on
//! the host buffers the products leave (no copies: burn-flex hands its
//! buffers over when a tensor is unique).

use super::{DecoderLayer, FusedCall, FusedCpu, LlamaModel};
use crate::cache::KvCache;
use crate::kernels::{self, AttentionShape};
use crate::reuse::LayerReuse;
use crate::LmError;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};
use std::any::TypeId;

/// Whether `B` is the CPU backend (burn-flex), whose tensors the fused
/// kernels can read and write in place.
pub(crate) fn is_cpu_backend<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<burn::backend::Flex>()
}

/// The elements of `data` as `f32`.
pub(super) fn host_f32(data: TensorData) -> Result<Vec<f32>, LmError> {
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
        for (l, layer) in self.layers.iter().enumerate().skip(first_layer) {
            reuse.offer(l, &x);
            let layer_cache = cache.as_deref_mut().map(|c| c.layer_mut(l));
            x = self.fused_layer(l, layer, fused, &call, x, layer_cache);
        }
        x
    }

    /// The final RMSNorm of hidden states `[rows, hidden]`.
    pub(super) fn final_norm_fused(&self, fused: &FusedCpu, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let shape = x.dims();
        let x = HostF32::take(x);
        let mut h = vec![0.0f32; x.get().len()];
        let eps = self.config.rms_norm_eps as f32;
        kernels::rms_norm_rows(x.get(), &fused.final_norm, eps, &mut h);
        self.cpu_tensor::<2>(h, shape)
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
        layer: &DecoderLayer<B>,
        fused: &FusedCpu,
        call: &FusedCall,
        x: Tensor<B, 3>,
        cache: Option<&mut (Option<Tensor<B, 4>>, Option<Tensor<B, 4>>)>,
    ) -> Tensor<B, 3> {
        let c = &self.config;
        let eps = c.rms_norm_eps as f32;
        let [b, s, d] = x.dims();
        let (hq, hkv, hd) = (c.num_heads, c.num_kv_heads, c.head_dim);
        let (attn_norm, mlp_norm) = &fused.norms[l];
        let mut x = HostF32::take(x);
        let mut h = vec![0.0f32; x.get().len()];
        kernels::rms_norm_rows(x.get(), attn_norm, eps, &mut h);
        let h = self.cpu_tensor::<2>(h, [b * s, d]);
        let mut q = h.clone().matmul(layer.q_proj.clone());
        let mut k = h.clone().matmul(layer.k_proj.clone());
        let mut v = h.matmul(layer.v_proj.clone());
        if let Some([qb, kb, vb]) = &layer.qkv_bias {
            q = q + qb.clone().unsqueeze();
            k = k + kb.clone().unsqueeze();
            v = v + vb.clone().unsqueeze();
        }
        let rope = Some((fused.cos.as_slice(), fused.sin.as_slice()));
        let heads_first = |t: Tensor<B, 2>, heads: usize, rope| {
            let src = HostF32::take(t);
            let mut out = vec![0.0f32; src.get().len()];
            kernels::to_heads_first(
                src.get(),
                (b, s, heads, hd),
                &call.positions,
                rope,
                &mut out,
            );
            out
        };
        let q = heads_first(q, hq, rope);
        let mut k = heads_first(k, hkv, rope);
        let mut v = heads_first(v, hkv, None);
        let mut keys = s;
        if let Some((ck, cv)) = cache {
            if let (Some(past_k), Some(past_v)) = (ck.take(), cv.take()) {
                keys += past_k.dims()[2];
                k = kernels::append_positions(HostF32::take(past_k).get(), &k, (b, hkv, hd));
                v = kernels::append_positions(HostF32::take(past_v).get(), &v, (b, hkv, hd));
            }
            *ck = Some(self.cpu_tensor::<4>(k.clone(), [b, hkv, keys, hd]));
            *cv = Some(self.cpu_tensor::<4>(v.clone(), [b, hkv, keys, hd]));
        }
        let shape = AttentionShape {
            batch: b,
            q_heads: hq,
            kv_heads: hkv,
            queries: s,
            keys,
            head_dim: hd,
        };
        let keep = call.keep.as_ref().map(|k| &k[l * b * hq..][..b * hq]);
        let mut attn = vec![0.0f32; b * s * hq * hd];
        kernels::causal_attention(
            &q,
            &k,
            &v,
            call.key_padding.as_deref(),
            keep,
            shape,
            &mut attn,
        );
        let attn = self
            .cpu_tensor::<2>(attn, [b * s, hq * hd])
            .matmul(layer.o_proj.clone());
        kernels::add_assign(x.get_mut(), HostF32::take(attn).get());
        let mut h = vec![0.0f32; x.get().len()];
        kernels::rms_norm_rows(x.get(), mlp_norm, eps, &mut h);
        let h = self.cpu_tensor::<2>(h, [b * s, d]);
        let up = HostF32::take(h.clone().matmul(layer.up.clone()));
        let mut gate = HostF32::take(h.matmul(layer.gate.clone()));
        kernels::silu_mul(gate.get_mut(), up.get());
        let down = Tensor::<B, 2>::from_data(gate.0, &self.device).matmul(layer.down.clone());
        kernels::add_assign(x.get_mut(), HostF32::take(down).get());
        Tensor::<B, 3>::from_data(x.0, &self.device)
    }
}
