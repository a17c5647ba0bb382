//! The Llama-family decoder in burn, with per-sequence head masks.
//!
//! Reference: HF transformers `modeling_llama.py` / `modeling_qwen2.py`
//! (RMSNorm, rotate-half rotary embeddings, grouped-query attention, SwiGLU).
//! A pruned head's attention output is zeroed before `o_proj`, which is the
//! same as zeroing that head's slice of `o_proj`'s input (FASP's definition).
//!
//! Weights are stored pre-transposed (`[in, out]`). On the CPU backend each
//! projection is also packed once for [`crate::packed`]'s matrix kernel.

use crate::cache::{KvCache, LayerKv};
use crate::config::LlamaConfig;
use crate::device::{AttentionOp, Precision};
use crate::packed::PackedMatrix;
use crate::reuse::{CallShape, LayerReuse};
use crate::weights::WeightMap;
use crate::LmError;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::module::{attention, embedding};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType, FloatDType, Int, Tensor, TensorData};
pub(crate) use fused::{host_f32, is_cpu_backend};

mod fused;
pub mod profile;

/// The rotary (cos, sin) rows of one forward call, `[batch * seq, heads, head_dim]` each.
type RopeRows<B> = (Tensor<B, 3>, Tensor<B, 3>);

/// Most bytes of f32 logits [`LlamaModel::forward_picked`] materializes at once (1,365
/// positions of SmolLM2's 49,152-token vocabulary).
pub const LOGIT_BLOCK_BYTES: usize = 256 << 20;

/// One decoder layer's weights.
///
/// Every projection is its own `[in, out]` matrix, so each product's output is
/// contiguous and the element-wise work after it (rotary, SwiGLU) runs on
/// burn-flex's SIMD fast paths instead of strided iteration over slices.
#[derive(Debug, Clone)]
struct DecoderLayer<B: Backend> {
    /// `input_layernorm.weight`, `[hidden]`.
    attn_norm: Tensor<B, 1>,
    /// `self_attn.q_proj.weight` transposed, `[hidden, Hq * head_dim]`.
    q_proj: Tensor<B, 2>,
    /// `self_attn.k_proj.weight` transposed, `[hidden, Hkv * head_dim]`.
    k_proj: Tensor<B, 2>,
    /// `self_attn.v_proj.weight` transposed, `[hidden, Hkv * head_dim]`.
    v_proj: Tensor<B, 2>,
    /// `self_attn.{q,k,v}_proj.bias` (Qwen2 only).
    qkv_bias: Option<[Tensor<B, 1>; 3]>,
    /// `self_attn.o_proj.weight` transposed, `[Hq * head_dim, hidden]`.
    o_proj: Tensor<B, 2>,
    /// `post_attention_layernorm.weight`, `[hidden]`.
    mlp_norm: Tensor<B, 1>,
    /// `mlp.gate_proj.weight` transposed, `[hidden, intermediate]`.
    gate: Tensor<B, 2>,
    /// `mlp.up_proj.weight` transposed, `[hidden, intermediate]`.
    up: Tensor<B, 2>,
    /// `mlp.down_proj.weight` transposed, `[intermediate, hidden]`.
    down: Tensor<B, 2>,
}

impl<B: Backend> DecoderLayer<B> {
    /// The query, key and value projections of normed hidden states
    /// `[rows, hidden]`, with their biases where the architecture has them.
    fn qkv(&self, h: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 2>) {
        let mut q = h.clone().matmul(self.q_proj.clone());
        let mut k = h.clone().matmul(self.k_proj.clone());
        let mut v = h.matmul(self.v_proj.clone());
        if let Some([qb, kb, vb]) = &self.qkv_bias {
            q = q + qb.clone().unsqueeze();
            k = k + kb.clone().unsqueeze();
            v = v + vb.clone().unsqueeze();
        }
        (q, k, v)
    }

    /// The heads' outputs `[b, Hq, s, hd]` back to token rows and through
    /// `o_proj`: `[b*s, hidden]`.
    fn project_heads(&self, out: Tensor<B, 4>) -> Tensor<B, 2> {
        let [b, hq, s, hd] = out.dims();
        out.swap_dims(1, 2)
            .reshape([b * s, hq * hd])
            .matmul(self.o_proj.clone())
    }

    /// The SwiGLU MLP of normed hidden states `[rows, hidden]`, with
    /// `silu(gate) * up` in one kernel where [`crate::cube`] has one.
    fn mlp(&self, h: Tensor<B, 2>, gpu_kernels: bool) -> Tensor<B, 2> {
        let gate = h.clone().matmul(self.gate.clone());
        let up = h.matmul(self.up.clone());
        let fused = if gpu_kernels {
            crate::cube::swiglu(gate.clone(), up.clone())
        } else {
            None
        };
        let act = fused.unwrap_or_else(|| silu(gate) * up);
        act.matmul(self.down.clone())
    }
}

/// Which output positions need logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Every position (perplexity, teacher forcing).
    All,
    /// Only the last position of each sequence (generation).
    Last,
}

/// A batch for [`LlamaModel::forward`].
#[derive(Debug, Clone)]
pub struct ForwardBatch<B: Backend> {
    /// Token ids, `[batch, seq]`.
    pub tokens: Tensor<B, 2, Int>,
    /// Rotary positions of those tokens, `[batch, seq]`.
    pub positions: Tensor<B, 2, Int>,
    /// Padding over all keys seen so far (cache + these tokens), `[batch, keys]`, `true` = padding.
    pub key_padding: Option<Tensor<B, 2, Bool>>,
    /// Head keep factors `[layers, batch, heads]` (1 kept, 0 pruned); `None` = nothing pruned.
    /// With [`ForwardBatch::fan_out`], `batch` counts the fanned-out rows (copies x sequences).
    pub head_keep: Option<Tensor<B, 3>>,
    /// Several masks over the same sequences (see [`crate::batch::MaskGroup`]); `None` = one
    /// row per sequence throughout.
    pub fan_out: Option<FanOut>,
}

/// A forward call over `n` sequences that becomes `copies * n` rows at `layer`:
/// the layers below it run once on the `n` sequences (the head keep factors of
/// the first `n` rows apply there, which every copy must share), and from
/// `layer` on the hidden states, positions and padding are repeated
/// copy-major (row `c * n + i` is sequence `i` under copy `c`'s head keep
/// factors). The outputs, and the KV cache of layers from `layer` on, have
/// `copies * n` rows; the cache of the layers below keeps `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// The first layer that runs once per copy (the number of layers = after the last).
    pub layer: usize,
    /// Copies of every sequence from `layer` on.
    pub copies: usize,
}

/// A Llama-family decoder ready to run on device `B`.
#[derive(Debug, Clone)]
pub struct LlamaModel<B: Backend> {
    /// The hyper-parameters.
    pub config: LlamaConfig,
    embed: Tensor<B, 2>,
    layers: Vec<DecoderLayer<B>>,
    norm: Tensor<B, 1>,
    lm_head: Tensor<B, 2>,
    rope_cos: Tensor<B, 2>,
    rope_sin: Tensor<B, 2>,
    /// `[head_dim, head_dim]` signed permutation: `x @ rotate_half = cat(-x2, x1)`.
    rotate_half: Tensor<B, 2>,
    /// Host copies for the fused CPU kernels (`None`: the generic burn path).
    fused: Option<FusedCpu>,
    /// How the generic path computes attention (`Auto` until set).
    attention: AttentionOp,
    /// Whether the generic path runs [`crate::cube`]'s GPU kernels (RMSNorm,
    /// rotary, SwiGLU, eager attention's softmax) instead of the chains of
    /// burn ops they replace: on by default on the backends that have them.
    gpu_kernels: bool,
    device: B::Device,
}

/// What the fused CPU path ([`crate::kernels`]) reads besides the matrices:
/// the norm weights and the rotary tables as plain vectors.
#[derive(Debug, Clone)]
struct FusedCpu {
    /// Per layer: (`input_layernorm`, `post_attention_layernorm`) weights.
    norms: Vec<(Vec<f32>, Vec<f32>)>,
    /// `model.norm.weight`.
    final_norm: Vec<f32>,
    /// Rotary cos table `[positions, head_dim / 2]`.
    cos: Vec<f32>,
    /// Rotary sin table `[positions, head_dim / 2]`.
    sin: Vec<f32>,
    /// Per layer: the projections packed for the CPU matrix kernel.
    layers: Vec<PackedLayer>,
    /// The output layer, packed.
    lm_head: PackedMatrix,
}

/// A decoder layer's projections packed for [`crate::packed`]'s kernel
/// (each `[out, in]` as in the checkpoint), and its q/k/v biases (Qwen2).
#[derive(Debug, Clone)]
struct PackedLayer {
    /// q, k and v stacked (`[q_out + 2 kv_out, in]`): one product computes
    /// all three, packing the normed activations once instead of three
    /// times. Each output is still its own sum in input order, so the bits
    /// are those of three separate products.
    qkv: PackedMatrix,
    /// The q, k and v biases, concatenated like the outputs of `qkv`.
    qkv_bias: Option<Vec<f32>>,
    o: PackedMatrix,
    gate: PackedMatrix,
    up: PackedMatrix,
    down: PackedMatrix,
}

/// One forward call's per-token inputs, read to the host once for all layers.
struct FusedCall {
    /// Rotary position of each token, `[batch * seq]`.
    positions: Vec<usize>,
    /// Key padding `[batch, keys]` (`true` = padding), if any.
    key_padding: Option<Vec<bool>>,
    /// Head keep factors `[layers, batch, heads]`, if any head is pruned.
    keep: Option<Vec<f32>>,
}

fn tensor2<B: Backend>(
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

fn tensor1<B: Backend>(data: Vec<f32>, device: &B::Device) -> Tensor<B, 1> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

/// A `[out, in]` checkpoint matrix as a `[in, out]` tensor.
fn transposed<B: Backend>(
    data: Vec<f32>,
    out: usize,
    inp: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    tensor2::<B>(data, out, inp, device).transpose()
}

impl<B: Backend> LlamaModel<B> {
    /// Builds the model from HF-named weights, checking every shape.
    pub fn from_weights(
        config: LlamaConfig,
        mut weights: WeightMap,
        device: &B::Device,
    ) -> Result<Self, LmError> {
        let c = &config;
        let (d, v) = (c.hidden_size, c.vocab_size);
        let embed_data = weights.take("model.embed_tokens.weight", &[v, d])?;
        let pack = is_cpu_backend::<B>();
        let head_data = if c.tie_word_embeddings {
            weights.tensors.remove("lm_head.weight");
            embed_data.clone()
        } else {
            weights.take("lm_head.weight", &[v, d])?
        };
        let packed_lm_head = pack.then(|| packed_matrix(&head_data, v, d)).transpose()?;
        let lm_head = transposed::<B>(head_data, v, d, device);
        let (layers, packed_layers): (Vec<DecoderLayer<B>>, Vec<Option<PackedLayer>>) = (0..c
            .num_layers)
            .map(|l| load_layer(c, &mut weights, l, device, pack))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();
        let norm = tensor1::<B>(weights.take("model.norm.weight", &[d])?, device);
        let (rope_cos, rope_sin) = rope_tables::<B>(c, device);
        let rotate_half = rotate_half_matrix::<B>(c.head_dim, device);
        let fused = match (packed_lm_head, packed_layers.into_iter().collect()) {
            (Some(lm_head), Some(packed_layers)) => Some(FusedCpu {
                norms: layers
                    .iter()
                    .map(|l: &DecoderLayer<B>| {
                        Ok((
                            host_f32(l.attn_norm.to_data())?,
                            host_f32(l.mlp_norm.to_data())?,
                        ))
                    })
                    .collect::<Result<_, LmError>>()?,
                final_norm: host_f32(norm.to_data())?,
                cos: host_f32(rope_cos.to_data())?,
                sin: host_f32(rope_sin.to_data())?,
                layers: packed_layers,
                lm_head,
            }),
            _ => None,
        };
        Ok(Self {
            embed: tensor2::<B>(embed_data, v, d, device),
            layers,
            norm,
            lm_head,
            rope_cos,
            rope_sin,
            rotate_half,
            fused,
            attention: AttentionOp::Auto,
            gpu_kernels: crate::cube::available::<B>(),
            device: device.clone(),
            config,
        })
    }

    /// The device the model lives on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Whether the fused CPU kernels ([`crate::kernels`]) run the layers.
    pub fn uses_fused_kernels(&self) -> bool {
        self.fused.is_some()
    }

    /// The model with the fused CPU kernels and the GPU kernels turned off:
    /// every op through burn's generic path (the reference the kernels are
    /// tested against).
    pub fn with_generic_ops(mut self) -> Self {
        self.fused = None;
        self.gpu_kernels = false;
        self
    }

    /// Whether the generic path runs attnprune's own GPU kernels
    /// ([`crate::cube`]: on burn's plain CUDA and wgpu backends).
    pub fn uses_gpu_kernels(&self) -> bool {
        self.gpu_kernels
    }

    /// The model with attnprune's own GPU kernels on (where the backend has
    /// them) or off (burn's generic ops in their place; the comparison
    /// `device-check --gpu-kernels false` measures).
    pub fn with_gpu_kernels(mut self, on: bool) -> Self {
        self.gpu_kernels = on && crate::cube::available::<B>();
        self
    }

    /// The model with its generic path computing attention by `op`
    /// ([`AttentionOp`]; the fused CPU kernels are unaffected).
    pub fn with_attention(mut self, op: AttentionOp) -> Self {
        self.attention = op;
        self
    }

    /// The attention op the generic path runs: `Auto` resolved for the
    /// model's precision.
    pub fn attention_op(&self) -> AttentionOp {
        self.attention.resolve(self.precision())
    }

    /// A copy of the model on the generic path, without copying the fused
    /// kernels' host matrices (the tensors are shared, not copied).
    fn generic_view(&self) -> Self {
        Self {
            config: self.config.clone(),
            embed: self.embed.clone(),
            layers: self.layers.clone(),
            norm: self.norm.clone(),
            lm_head: self.lm_head.clone(),
            rope_cos: self.rope_cos.clone(),
            rope_sin: self.rope_sin.clone(),
            rotate_half: self.rotate_half.clone(),
            fused: None,
            attention: self.attention,
            gpu_kernels: self.gpu_kernels,
            device: self.device.clone(),
        }
    }

    /// The model computing in `precision`. `Bf16` rounds every weight to
    /// bfloat16 and turns the fused CPU kernels off (they are f32 only); the
    /// activations follow the weights' format, with f32 kept in RMSNorm, the
    /// attention softmax and the logits. `F32` returns the model unchanged.
    pub fn in_precision(self, precision: Precision) -> Self {
        let dtype = match precision {
            Precision::F32 => return self,
            Precision::Bf16 => FloatDType::BF16,
        };
        let cast2 = |t: Tensor<B, 2>| t.cast(dtype);
        let cast1 = |t: Tensor<B, 1>| t.cast(dtype);
        let layers = self
            .layers
            .into_iter()
            .map(|l| DecoderLayer {
                attn_norm: cast1(l.attn_norm),
                q_proj: cast2(l.q_proj),
                k_proj: cast2(l.k_proj),
                v_proj: cast2(l.v_proj),
                qkv_bias: l.qkv_bias.map(|b| b.map(cast1)),
                o_proj: cast2(l.o_proj),
                mlp_norm: cast1(l.mlp_norm),
                gate: cast2(l.gate),
                up: cast2(l.up),
                down: cast2(l.down),
            })
            .collect();
        Self {
            config: self.config,
            embed: cast2(self.embed),
            layers,
            norm: cast1(self.norm),
            lm_head: cast2(self.lm_head),
            rope_cos: cast2(self.rope_cos),
            rope_sin: cast2(self.rope_sin),
            rotate_half: cast2(self.rotate_half),
            fused: None,
            attention: self.attention,
            gpu_kernels: self.gpu_kernels,
            device: self.device,
        }
    }

    /// The number format the model computes in.
    pub fn precision(&self) -> Precision {
        match self.embed.dtype() {
            DType::BF16 => Precision::Bf16,
            _ => Precision::F32,
        }
    }

    /// Runs the decoder over a batch, appending to `cache` if given.
    ///
    /// # Shapes
    /// - tokens, positions: `[batch, seq]`; returns logits `[batch, seq or 1, vocab]`.
    pub fn forward(
        &self,
        batch: ForwardBatch<B>,
        cache: Option<&mut KvCache<B>>,
        logits: Logits,
    ) -> Tensor<B, 3> {
        self.forward_reusing(batch, cache, logits, &mut LayerReuse::off())
    }

    /// [`forward`](Self::forward) that records or replays the unpruned
    /// model's lower layers through `reuse` (see [`crate::reuse`]).
    pub fn forward_reusing(
        &self,
        batch: ForwardBatch<B>,
        cache: Option<&mut KvCache<B>>,
        logits: Logits,
        reuse: &mut LayerReuse<B>,
    ) -> Tensor<B, 3> {
        let mut x = self.hidden_states(batch, cache, reuse);
        let [b, s, d] = x.dims();
        if logits == Logits::Last {
            x = x.slice([0..b, s - 1..s]);
        }
        let s = x.dims()[1];
        self.logits_of(x.reshape([b * s, d]))
            .reshape([b, s, self.config.vocab_size])
    }

    /// `ln p(targets[k])` at chosen positions only: position `rows[k]` of the flattened
    /// `[batch * seq]` tokens. The output layer (a 49,152-wide product for SmolLM2) runs
    /// only where a token is scored, not at padding or unscored positions, and over at
    /// most [`LOGIT_BLOCK_BYTES`] of logits at a time, so a tall batch (many masks per
    /// pass) never holds all its logits at once.
    pub fn forward_picked(
        &self,
        batch: ForwardBatch<B>,
        cache: Option<&mut KvCache<B>>,
        (rows, targets): (&[usize], &[u32]),
        reuse: &mut LayerReuse<B>,
    ) -> Result<Vec<f32>, LmError> {
        if rows.len() != targets.len() {
            return Err(LmError::Usage(format!(
                "{} scored positions but {} targets",
                rows.len(),
                targets.len()
            )));
        }
        let x = self.hidden_states(batch, cache, reuse);
        let [b, s, d] = x.dims();
        if let Some(&bad) = rows.iter().find(|&&r| r >= b * s) {
            return Err(LmError::Usage(format!(
                "scored position {bad} is outside the batch's {} positions",
                b * s
            )));
        }
        let flat = x.reshape([b * s, d]);
        let block = (LOGIT_BLOCK_BYTES / (self.config.vocab_size * 4).max(1)).max(1);
        let mut out = Vec::with_capacity(rows.len());
        for (rows, targets) in rows.chunks(block).zip(targets.chunks(block)) {
            let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
            let n = ids.len();
            let ids = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [n]), &self.device);
            let logits = self.logits_of(flat.clone().select(0, ids));
            out.extend(crate::logprob::picked_logprobs(logits, targets)?);
        }
        Ok(out)
    }

    /// The final norm and output layer over hidden states `[rows, hidden]`.
    fn logits_of(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.fused {
            Some(fused) => self.logits_fused(fused, x),
            // Logits leave the model as f32 (a no-op in f32), so every log-softmax
            // downstream sums in f32 whatever the model computes in.
            None => self
                .rms_norm(x.unsqueeze::<3>(), &self.norm)
                .squeeze_dim(0)
                .matmul(self.lm_head.clone())
                .cast(FloatDType::F32),
        }
    }

    /// The hidden states after the last layer, `[batch, seq, hidden]`.
    fn hidden_states(
        &self,
        batch: ForwardBatch<B>,
        mut cache: Option<&mut KvCache<B>>,
        reuse: &mut LayerReuse<B>,
    ) -> Tensor<B, 3> {
        let [b, s] = batch.tokens.dims();
        let cached = cache.as_deref().map(KvCache::len).unwrap_or(0);
        let (first_layer, mut x) = match reuse.start_call(CallShape {
            batch: b,
            tokens: s,
            cached,
        }) {
            Some((layer, state)) => (layer, state),
            None => (0, embedding(self.embed.clone(), batch.tokens.clone())),
        };
        if let Some(fused) = &self.fused {
            return self.hidden_fused(fused, batch, cache, reuse, (first_layer, x));
        }
        if let Some(c) = cache.as_deref_mut() {
            if c.share() > 1 {
                // The generic path reads one stored row per batch row.
                *c = c.materialized();
            }
        }
        let c = &self.config;
        // Rotary tables for these positions, materialized once per forward at
        // the shapes of q and k so every layer's rotary is same-shape SIMD work.
        let mut rope_q = self.rope_rows(&batch.positions, c.num_heads);
        let mut rope_k = self.rope_rows(&batch.positions, c.num_kv_heads);
        let mut mask = self.call_mask(batch.key_padding.as_ref(), (b, s, cached));
        let mut rows = b;
        for (l, layer) in self.layers.iter().enumerate().skip(first_layer) {
            reuse.offer(l, &x);
            if let Some(fan) = batch.fan_out.filter(|f| f.layer.max(first_layer) == l) {
                // Every per-row input becomes `copies` copies, copy-major.
                let copies = fan.copies;
                let repeat = |(cos, sin): RopeRows<B>| {
                    (cos.repeat_dim(0, copies), sin.repeat_dim(0, copies))
                };
                x = x.repeat_dim(0, copies);
                rope_q = repeat(rope_q);
                rope_k = repeat(rope_k);
                mask = mask.map(|m| m.repeat_dim(0, copies));
                rows = b * copies;
            }
            let keep = batch.head_keep.as_ref().map(|k| {
                k.clone()
                    .narrow(0, l, 1)
                    .narrow(1, 0, rows)
                    .reshape([rows, c.num_heads, 1])
            });
            let layer_cache = cache.as_deref_mut().map(|c| c.layer_mut(l));
            x = self.layer_forward(
                layer,
                x,
                (&rope_q, &rope_k),
                mask.clone(),
                keep,
                layer_cache,
            );
        }
        fan_out_after_last(x, batch.fan_out, self.layers.len())
    }

    /// cos and sin (each duplicated over both halves) at `positions`, as
    /// `[batch * seq, heads, head_dim]` contiguous tensors.
    fn rope_rows(
        &self,
        positions: &Tensor<B, 2, Int>,
        heads: usize,
    ) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let [b, s] = positions.dims();
        let hd = self.config.head_dim;
        let ids = positions.clone().reshape([b * s]);
        let rows = |table: &Tensor<B, 2>| {
            let half = table.clone().select(0, ids.clone());
            let full = Tensor::cat(vec![half.clone(), half], 1);
            let rows = full.reshape([b * s, 1, hd]).expand([b * s, heads, hd]);
            if self.gpu_kernels {
                // The rotary kernel reads the view in place.
                rows
            } else {
                // `+ 0` materializes the broadcast view as a contiguous tensor.
                rows.add_scalar(0.0)
            }
        };
        (rows(&self.rope_cos), rows(&self.rope_sin))
    }

    /// Rotate-half rotary embedding of `x [rows, heads, head_dim]` (contiguous).
    fn apply_rope(
        &self,
        x: Tensor<B, 3>,
        (cos, sin): &(Tensor<B, 3>, Tensor<B, 3>),
    ) -> Tensor<B, 3> {
        if self.gpu_kernels {
            if let Some(rotated) = crate::cube::rotary(x.clone(), cos, sin) {
                return rotated;
            }
        }
        let [n, h, hd] = x.dims();
        let rotated = x
            .clone()
            .reshape([n * h, hd])
            .matmul(self.rotate_half.clone())
            .reshape([n, h, hd]);
        x * cos.clone() + rotated * sin.clone()
    }

    fn layer_forward(
        &self,
        layer: &DecoderLayer<B>,
        x: Tensor<B, 3>,
        rope: (&RopeRows<B>, &RopeRows<B>),
        mask: Option<Tensor<B, 4, Bool>>,
        keep: Option<Tensor<B, 3>>,
        cache: Option<&mut LayerKv<B>>,
    ) -> Tensor<B, 3> {
        let c = &self.config;
        let [b, s, d] = x.dims();
        let (hq, hkv, hd) = (c.num_heads, c.num_kv_heads, c.head_dim);
        let h = self
            .rms_norm(x.clone(), &layer.attn_norm)
            .reshape([b * s, d]);
        let (q, k, v) = layer.qkv(h);
        let q = self.apply_rope(q.reshape([b * s, hq, hd]), rope.0);
        let k = self.apply_rope(k.reshape([b * s, hkv, hd]), rope.1);
        let mut out = self.attend((q, k, v), b, mask, cache);
        if let Some(keep) = keep {
            out = apply_head_keep(out, keep);
        }
        let x = x + layer.project_heads(out).reshape([b, s, d]);
        let h = self
            .rms_norm(x.clone(), &layer.mlp_norm)
            .reshape([b * s, d]);
        x + layer.mlp(h, self.gpu_kernels).reshape([b, s, d])
    }

    /// RMSNorm over the last dimension ([`rms_norm`]), in one kernel where
    /// [`crate::cube`] has one.
    fn rms_norm(&self, x: Tensor<B, 3>, weight: &Tensor<B, 1>) -> Tensor<B, 3> {
        let eps = self.config.rms_norm_eps;
        if self.gpu_kernels {
            let [b, s, d] = x.dims();
            if let Some(normed) = crate::cube::rms_norm(x.clone().reshape([b * s, d]), weight, eps)
            {
                return normed.reshape([b, s, d]);
            }
        }
        rms_norm(x, weight, eps)
    }

    /// Causal attention of one layer's rotated queries and keys `[b*s, heads, hd]` and
    /// values `[b*s, Hkv*hd]` over the cache and these tokens; `[b, Hq, s, hd]`.
    fn attend(
        &self,
        (q, k, v): (Tensor<B, 3>, Tensor<B, 3>, Tensor<B, 2>),
        b: usize,
        mask: Option<Tensor<B, 4, Bool>>,
        cache: Option<&mut LayerKv<B>>,
    ) -> Tensor<B, 4> {
        let c = &self.config;
        let (hq, hkv, hd) = (c.num_heads, c.num_kv_heads, c.head_dim);
        let s = q.dims()[0] / b;
        // [b*s, heads, hd] -> [b, heads, s, hd] for attention.
        let heads_first =
            |t: Tensor<B, 3>, heads: usize| t.reshape([b, s, heads, hd]).swap_dims(1, 2);
        let q = heads_first(q, hq);
        let mut k = heads_first(k, hkv);
        let mut v = heads_first(v.reshape([b * s, hkv, hd]), hkv);
        if let Some((ck, cv)) = cache {
            k = append(ck.take(), k);
            v = append(cv.take(), v);
            *ck = Some(k.clone());
            *cv = Some(v.clone());
        }
        match self.attention_op() {
            AttentionOp::Backend => {
                let (k, v) = (repeat_kv(k, hq / hkv), repeat_kv(v, hq / hkv));
                let keys = k.dims()[2];
                let options = AttentionModuleOptions {
                    scale: None,
                    softcap: None,
                    // Only without cached keys: burn-cuda's flash kernel aligns
                    // the causal boundary top-left, its fallback and burn-flex
                    // bottom-right; with a cache `call_mask` spells the future out.
                    is_causal: keys == s,
                };
                // Every (batch, head) pair named: a kernel indexing the mask by
                // head must not read past a one-head mask (a broadcast view).
                let mask = mask.map(|m| m.expand([b, hq, s, keys]));
                attention(q, k, v, mask, None, options)
            }
            AttentionOp::Eager | AttentionOp::Auto => {
                attention_f32_softmax(q, k, v, mask, self.gpu_kernels)
            }
        }
    }

    /// The attention mask of a generic-path call (`None`: causal only, no
    /// padding): from the key padding, with the future added where the
    /// attention op needs it spelt out (eager attention always; the backend's
    /// op over cached keys).
    fn call_mask(
        &self,
        key_padding: Option<&Tensor<B, 2, Bool>>,
        (b, s, cached): (usize, usize, usize),
    ) -> Option<Tensor<B, 4, Bool>> {
        let mask = key_padding.map(|p| attention_mask(p, s));
        if self.attention_op() == AttentionOp::Backend && cached == 0 {
            return mask;
        }
        // Built once per call.
        Some(with_future(mask, b, s, cached + s, &self.device))
    }
}

/// A layer's attention output `[b, Hq, s, hd]` with pruned heads zeroed by
/// `keep` `[b, Hq, 1]` (1 kept, 0 pruned).
fn apply_head_keep<B: Backend>(out: Tensor<B, 4>, keep: Tensor<B, 3>) -> Tensor<B, 4> {
    let [b, hq, s, hd] = out.dims();
    // [b, hq, s*hd] * [b, hq, 1]: a per-row scale, one of burn-flex's SIMD broadcast paths.
    let keep = keep.cast(out.dtype());
    (out.reshape([b, hq, s * hd]) * keep).reshape([b, hq, s, hd])
}

fn load_layer<B: Backend>(
    c: &LlamaConfig,
    w: &mut WeightMap,
    l: usize,
    device: &B::Device,
    pack: bool,
) -> Result<(DecoderLayer<B>, Option<PackedLayer>), LmError> {
    let p = format!("model.layers.{l}");
    let (d, hd, i) = (c.hidden_size, c.head_dim, c.intermediate_size);
    let (q_out, kv_out) = (c.num_heads * hd, c.num_kv_heads * hd);
    let q = w.take(&format!("{p}.self_attn.q_proj.weight"), &[q_out, d])?;
    let k = w.take(&format!("{p}.self_attn.k_proj.weight"), &[kv_out, d])?;
    let v = w.take(&format!("{p}.self_attn.v_proj.weight"), &[kv_out, d])?;
    let o = w.take(&format!("{p}.self_attn.o_proj.weight"), &[d, q_out])?;
    let qkv_bias = if c.attention_bias {
        Some([
            w.take(&format!("{p}.self_attn.q_proj.bias"), &[q_out])?,
            w.take(&format!("{p}.self_attn.k_proj.bias"), &[kv_out])?,
            w.take(&format!("{p}.self_attn.v_proj.bias"), &[kv_out])?,
        ])
    } else {
        None
    };
    let gate = w.take(&format!("{p}.mlp.gate_proj.weight"), &[i, d])?;
    let up = w.take(&format!("{p}.mlp.up_proj.weight"), &[i, d])?;
    let down = w.take(&format!("{p}.mlp.down_proj.weight"), &[d, i])?;
    let packed = if pack {
        Some(PackedLayer {
            qkv: packed_matrix(&[&q[..], &k, &v].concat(), q_out + 2 * kv_out, d)?,
            qkv_bias: qkv_bias.as_ref().map(|b| b.concat()),
            o: packed_matrix(&o, d, q_out)?,
            gate: packed_matrix(&gate, i, d)?,
            up: packed_matrix(&up, i, d)?,
            down: packed_matrix(&down, d, i)?,
        })
    } else {
        None
    };
    let layer = DecoderLayer {
        attn_norm: tensor1::<B>(
            w.take(&format!("{p}.input_layernorm.weight"), &[d])?,
            device,
        ),
        q_proj: transposed::<B>(q, q_out, d, device),
        k_proj: transposed::<B>(k, kv_out, d, device),
        v_proj: transposed::<B>(v, kv_out, d, device),
        qkv_bias: qkv_bias.map(|b| b.map(|b| tensor1::<B>(b, device))),
        o_proj: transposed::<B>(o, d, q_out, device),
        mlp_norm: tensor1::<B>(
            w.take(&format!("{p}.post_attention_layernorm.weight"), &[d])?,
            device,
        ),
        gate: transposed::<B>(gate, i, d, device),
        up: transposed::<B>(up, i, d, device),
        down: transposed::<B>(down, d, i, device),
    };
    Ok((layer, packed))
}

/// A checkpoint matrix `[out, in]` packed for the CPU matrix kernel.
fn packed_matrix(data: &[f32], out: usize, inp: usize) -> Result<PackedMatrix, LmError> {
    PackedMatrix::from_out_in(data, out, inp).ok_or_else(|| {
        LmError::Backend(format!(
            "a weight of {} values cannot be a [{out}, {inp}] matrix",
            data.len()
        ))
    })
}

/// RMSNorm over the last dimension: `x / sqrt(mean(x^2) + eps) * weight`.
/// The normalisation runs in f32 whatever `x`'s precision (as transformers
/// does in bf16); the result is rounded back before the weight is applied.
fn rms_norm<B: Backend>(x: Tensor<B, 3>, weight: &Tensor<B, 1>, eps: f64) -> Tensor<B, 3> {
    let dtype = x.dtype();
    let x = x.cast(FloatDType::F32);
    let scale = (x.clone() * x.clone())
        .mean_dim(2)
        .add_scalar(eps)
        .sqrt()
        .recip();
    (x * scale).cast(dtype) * weight.clone().unsqueeze()
}

/// Eager attention ([`AttentionOp::Eager`]) of queries `[batch, heads, queries,
/// head_dim]` over keys and values `[batch, kv_heads, keys, head_dim]`: the
/// products run in the model's format, the scores are scaled, masked and
/// softmaxed in f32, and the probabilities are rounded back once before the
/// value product (transformers' eager attention in bf16 does the same; in f32
/// the casts are no-ops). `mask` (`true` = masked, `[batch or 1, 1, queries,
/// keys]`) must hold the future as well as the padding: [`with_future`].
///
/// Grouped queries are not given repeated keys: the query heads that share a
/// key head are stacked along the query axis, so each key head takes one
/// product of `groups × queries` rows. That saves copying the keys and values
/// per query head and gives the matrix kernels taller products. A power-of-two
/// scale (head_dim 64 or 256) is applied to the queries, where it is exact in
/// any format and touches `head_dim` values per row instead of `keys`.
fn attention_f32_softmax<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: Option<Tensor<B, 4, Bool>>,
    gpu_kernels: bool,
) -> Tensor<B, 4> {
    let [b, h, queries, hd] = q.dims();
    let [_, kv_heads, keys, _] = k.dims();
    let groups = h / kv_heads;
    let dtype = q.dtype();
    let scale = 1.0 / (hd as f64).sqrt();
    let exact_scale = scale.log2().fract() == 0.0;
    let q = if exact_scale { q.mul_scalar(scale) } else { q };
    // Query head `kv * groups + g`, row `i` -> key head `kv`, row `g * queries + i`.
    let q = q.reshape([b, kv_heads, groups * queries, hd]);
    let scores = q.matmul(k.swap_dims(2, 3));
    if let (true, Some(mask)) = (gpu_kernels, &mask) {
        let scale = if exact_scale { 1.0 } else { scale as f32 };
        if let Some(probabilities) = crate::cube::masked_softmax(scores.clone(), mask, scale) {
            return probabilities.matmul(v).reshape([b, h, queries, hd]);
        }
    }
    let mut scores = scores.cast(FloatDType::F32);
    if !exact_scale {
        scores = scores.mul_scalar(scale);
    }
    if let Some(mask) = mask {
        let mask = if groups > 1 {
            mask.repeat_dim(2, groups)
        } else {
            mask
        };
        scores = scores.mask_fill(
            mask.expand([b, kv_heads, groups * queries, keys]),
            f32::NEG_INFINITY,
        );
    }
    softmax(scores, 3)
        .cast(dtype)
        .matmul(v)
        .reshape([b, h, queries, hd])
}

/// `padding` ([`attention_mask`], if any) with the future masked too: key `j`
/// is hidden from query `i` when `j > i + keys - queries` (the queries are the
/// last of the keys). `[batch, 1, queries, keys]`.
fn with_future<B: Backend>(
    padding: Option<Tensor<B, 4, Bool>>,
    batch: usize,
    queries: usize,
    keys: usize,
    device: &B::Device,
) -> Tensor<B, 4, Bool> {
    let offset = keys - queries;
    let future: Vec<bool> = (0..queries)
        .flat_map(|i| (0..keys).map(move |j| j > i + offset))
        .collect();
    let future = Tensor::<B, 2, Bool>::from_data(TensorData::new(future, [queries, keys]), device)
        .reshape([1, 1, queries, keys])
        .expand([batch, 1, queries, keys]);
    match padding {
        Some(padding) => padding.bool_or(future),
        None => future,
    }
}

/// cos/sin tables `[max_positions, head_dim / 2]` of the rotary embedding.
fn rope_tables<B: Backend>(c: &LlamaConfig, device: &B::Device) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let half = c.head_dim / 2;
    let n = c.max_position_embeddings.max(1);
    let inv_freq: Vec<f64> = (0..half)
        .map(|j| 1.0 / c.rope_theta.powf(2.0 * j as f64 / c.head_dim as f64))
        .collect();
    // Like transformers: frequencies in f32, angle = position * inv_freq in f32.
    let angles: Vec<f32> = (0..n)
        .flat_map(|p| inv_freq.iter().map(move |&f| p as f32 * f as f32))
        .collect();
    let cos = angles.iter().map(|a| a.cos()).collect();
    let sin = angles.iter().map(|a| a.sin()).collect();
    (
        tensor2::<B>(cos, n, half, device),
        tensor2::<B>(sin, n, half, device),
    )
}

/// The `[head_dim, head_dim]` matrix `R` with `x @ R = cat(-x[half..], x[..half])`.
fn rotate_half_matrix<B: Backend>(hd: usize, device: &B::Device) -> Tensor<B, 2> {
    let half = hd / 2;
    let mut r = vec![0.0f32; hd * hd];
    for j in 0..half {
        r[(j + half) * hd + j] = -1.0; // output j = -x[j + half]
        r[j * hd + j + half] = 1.0; // output j + half = x[j]
    }
    tensor2::<B>(r, hd, hd, device)
}

/// `x` repeated for a fan-out that starts after the last layer (every copy
/// keeps every head: nothing to compute once per copy, only rows to return).
fn fan_out_after_last<B: Backend>(
    x: Tensor<B, 3>,
    fan: Option<FanOut>,
    layers: usize,
) -> Tensor<B, 3> {
    match fan {
        Some(fan) if fan.layer >= layers => x.repeat_dim(0, fan.copies),
        _ => x,
    }
}

fn append<B: Backend>(past: Option<Tensor<B, 4>>, new: Tensor<B, 4>) -> Tensor<B, 4> {
    match past {
        Some(past) => Tensor::cat(vec![past, new], 2),
        None => new,
    }
}

/// `[batch, kv_heads, seq, hd]` -> `[batch, kv_heads * groups, seq, hd]` (each kv head serves `groups` query heads).
fn repeat_kv<B: Backend>(x: Tensor<B, 4>, groups: usize) -> Tensor<B, 4> {
    if groups == 1 {
        return x;
    }
    let [b, h, s, d] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .expand([b, h, groups, s, d])
        .reshape([b, h * groups, s, d])
}

/// Boolean attention mask `[batch, 1, queries, keys]` (`true` = masked; the
/// attention broadcasts it over heads without copying) from key padding:
/// padded keys are masked, except a query's own position so that a padding
/// row never becomes all-masked (which would give NaN).
fn attention_mask<B: Backend>(
    key_padding: &Tensor<B, 2, Bool>,
    queries: usize,
) -> Tensor<B, 4, Bool> {
    let [b, keys] = key_padding.dims();
    let device = key_padding.device();
    let offset = keys - queries;
    let diag: Vec<bool> = (0..queries)
        .flat_map(|q| (0..keys).map(move |k| k == q + offset))
        .collect();
    let diag = Tensor::<B, 2, Bool>::from_data(TensorData::new(diag, [queries, keys]), &device);
    let pad = key_padding
        .clone()
        .reshape([b, 1, 1, keys])
        .expand([b, 1, queries, keys]);
    let not_diag = diag
        .bool_not()
        .reshape([1, 1, queries, keys])
        .expand([b, 1, queries, keys]);
    pad.bool_and(not_diag)
}
