//! The key/value cache of generation: per layer, the keys and values of every
//! position seen so far, `[batch, kv_heads, positions, head_dim]`.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Cached keys and values for each layer.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    layers: Vec<(Option<Tensor<B, 4>>, Option<Tensor<B, 4>>)>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for a model of `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![(None, None); num_layers],
        }
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
    pub(crate) fn layer_mut(
        &mut self,
        layer: usize,
    ) -> &mut (Option<Tensor<B, 4>>, Option<Tensor<B, 4>>) {
        &mut self.layers[layer]
    }
}

impl<B: Backend> KvCache<B> {
    /// The cache of a batch-1 context repeated for `n` sequences that continue it.
    pub fn repeat(&self, n: usize) -> Self {
        let rep = |t: &Option<Tensor<B, 4>>| t.as_ref().map(|t| t.clone().repeat_dim(0, n));
        Self {
            layers: self.layers.iter().map(|(k, v)| (rep(k), rep(v))).collect(),
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
        }
    }
}
