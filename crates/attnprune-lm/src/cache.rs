//! The key/value cache of generation: per layer, the keys and values of every
//! position seen so far, `[batch, kv_heads, positions, head_dim]`.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// One layer's cached (keys, values), each `[batch, kv_heads, positions, head_dim]`.
pub type LayerKv<B> = (Option<Tensor<B, 4>>, Option<Tensor<B, 4>>);

/// Cached keys and values for each layer.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    layers: Vec<LayerKv<B>>,
    /// Batch rows served by each stored row (rows `i * share .. (i + 1) * share`
    /// read stored row `i`); 1 = one stored row per batch row.
    share: usize,
    /// The cache is read by the next forward call but not extended (see
    /// [`KvCache::shared_read_only`]).
    read_only: bool,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for a model of `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![(None, None); num_layers],
            share: 1,
            read_only: false,
        }
    }

    /// Each sequence's cache serving `n` consecutive batch rows (as
    /// [`KvCache::repeat_interleave`]) without copying it, for one last
    /// forward call that reads the cache and does not extend it (scoring
    /// continuations). Only the fused CPU path reads such a cache
    /// ([`crate::LlamaModel::uses_fused_kernels`]); other paths materialize it.
    pub fn shared_read_only(&self, n: usize) -> Self {
        Self {
            layers: self.layers.clone(),
            share: self.share * n.max(1),
            read_only: true,
        }
    }

    /// Batch rows per stored row (1 unless [`KvCache::shared_read_only`]).
    pub(crate) fn share(&self) -> usize {
        self.share
    }

    /// Whether the next forward call must leave the cache as it is.
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The same cache with one stored row per batch row (copies rows if shared).
    pub(crate) fn materialized(&self) -> Self {
        if self.share == 1 {
            return Self {
                read_only: false,
                ..self.clone()
            };
        }
        Self {
            share: 1,
            read_only: false,
            ..self.clone()
        }
        .repeat_interleave(self.share)
    }

    /// Number of positions cached (0 when empty).
    pub fn len(&self) -> usize {
        // The first filled layer: a replayed evaluation (crate::reuse) leaves the layers below its start empty.
        self.layers
            .iter()
            .find_map(|(k, _)| k.as_ref())
            .map(|k| k.dims()[2])
            .unwrap_or(0)
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The (keys, values) slot of one layer, filled by the forward pass.
    pub(crate) fn layer_mut(&mut self, layer: usize) -> &mut LayerKv<B> {
        &mut self.layers[layer]
    }
}

impl<B: Backend> KvCache<B> {
    /// The cache of a batch-1 context repeated for `n` sequences that continue it.
    pub fn repeat(&self, n: usize) -> Self {
        let rep = |t: &Option<Tensor<B, 4>>| t.as_ref().map(|t| t.clone().repeat_dim(0, n));
        Self {
            layers: self.layers.iter().map(|(k, v)| (rep(k), rep(v))).collect(),
            share: self.share,
            read_only: self.read_only,
        }
    }
}

impl<B: Backend> KvCache<B> {
    /// Each sequence's cache repeated `n` times in a row (sequence `i` becomes
    /// rows `i * n .. (i + 1) * n`), for scoring `n` continuations of each.
    pub fn repeat_interleave(&self, n: usize) -> Self {
        let rep = |t: &Option<Tensor<B, 4>>| {
            t.as_ref().map(|t| {
                let [b, h, s, d] = t.dims();
                t.clone()
                    .unsqueeze_dim::<5>(1)
                    .expand([b, n, h, s, d])
                    .reshape([b * n, h, s, d])
            })
        };
        Self {
            layers: self.layers.iter().map(|(k, v)| (rep(k), rep(v))).collect(),
            share: self.share,
            read_only: self.read_only,
        }
    }
}
