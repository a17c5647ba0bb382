//! Surrogates as annealing objectives: [`ExpOf`] maps a predictor of a logarithm back, and
//! [`Predictor`] is any of the surrogates behind one [`FlipObjective`].

use crate::{IncrementalAdditive, IncrementalBucketBias, IncrementalMlp};
use attnprune_anneal::{Evaluation, FlipObjective};

/// Reports `exp(value)` of a predictor of a logarithm (the surrogates predict ln bias
/// and ln perplexity).
#[derive(Clone)]
pub struct ExpOf<T>(pub T);

impl<T> ExpOf<T> {
    fn map(e: Evaluation) -> Evaluation {
        let v = e.value.exp();
        Evaluation {
            value: v,
            feasible: e.feasible,
            extras: [v, e.extras[1]],
        }
    }
}

impl<T: FlipObjective> FlipObjective for ExpOf<T> {
    fn n_bits(&self) -> usize {
        self.0.n_bits()
    }
    fn reset(&mut self, state: &[bool]) -> Evaluation {
        Self::map(self.0.reset(state))
    }
    fn score_flip(&mut self, i: usize) -> Evaluation {
        Self::map(self.0.score_flip(i))
    }
    fn commit_flip(&mut self, i: usize) -> Evaluation {
        Self::map(self.0.commit_flip(i))
    }
    fn current(&self) -> Evaluation {
        Self::map(self.0.current())
    }
}

/// One surrogate as the annealer sees it: the paper's MLP (of a logarithm), the structured
/// ln-perplexity model, or the structured bucket-bias model.
#[derive(Clone)]
pub enum Predictor {
    /// `exp` of an MLP.
    Mlp(ExpOf<IncrementalMlp>),
    /// `exp` of the additive ln-perplexity model.
    Additive(ExpOf<IncrementalAdditive>),
    /// `exp` of the additive ln-perplexity model's pessimistic bound.
    AdditiveUpper(ExpOf<UpperBound>),
    /// The bias from the additive bucket means.
    Buckets(IncrementalBucketBias),
}

macro_rules! each_predictor {
    ($self:expr, $p:ident => $body:expr) => {
        match $self {
            Predictor::Mlp($p) => $body,
            Predictor::Additive($p) => $body,
            Predictor::AdditiveUpper($p) => $body,
            Predictor::Buckets($p) => $body,
        }
    };
}

impl FlipObjective for Predictor {
    fn n_bits(&self) -> usize {
        each_predictor!(self, p => p.n_bits())
    }
    fn reset(&mut self, state: &[bool]) -> Evaluation {
        each_predictor!(self, p => p.reset(state))
    }
    fn score_flip(&mut self, i: usize) -> Evaluation {
        each_predictor!(self, p => p.score_flip(i))
    }
    fn commit_flip(&mut self, i: usize) -> Evaluation {
        each_predictor!(self, p => p.commit_flip(i))
    }
    fn current(&self) -> Evaluation {
        each_predictor!(self, p => p.current())
    }
}

impl Predictor {
    /// The prediction for one mask (not incremental).
    pub fn predict(&self, mask: &[bool]) -> f64 {
        let mut p = self.clone();
        p.reset(mask).value
    }
}

/// An additive model's prediction plus `z` times its posterior standard deviation from the
/// main effects (`sqrt(x' C x)` over the pruned heads' block of the covariance): a pessimistic
/// predictor, higher where the model has seen little of the pruned heads. Used for the
/// perplexity constraint, so the search keeps away from masks the surrogate cannot vouch for.
/// Flips cost O(1) to score and O(heads) to commit.
#[derive(Debug, Clone)]
pub struct UpperBound {
    inner: IncrementalAdditive,
    /// The main-effect block of the covariance, `n x n`, row-major (shared).
    cov: std::sync::Arc<Vec<f64>>,
    n: usize,
    z: f64,
    /// `C x` for the current state.
    cx: Vec<f64>,
    /// `x' C x` for the current state.
    q: f64,
}

impl UpperBound {
    /// Wraps `model` (its covariance must be `p x p`, or empty for no uncertainty).
    pub fn new(model: std::sync::Arc<crate::AdditiveModel>, z: f64) -> Self {
        let n = model.n_bits;
        let p = n + model.pairs.len();
        let cov = if model.covariance.len() == p * p {
            (0..n)
                .flat_map(|i| model.covariance[i * p..i * p + n].to_vec())
                .collect()
        } else {
            vec![0.0; n * n]
        };
        let inner = model.incremental();
        Self {
            inner,
            cov: std::sync::Arc::new(cov),
            n,
            z,
            cx: vec![0.0; n],
            q: 0.0,
        }
    }

    fn sign(&self, i: usize) -> f64 {
        if self.inner.state()[i] {
            -1.0
        } else {
            1.0
        }
    }

    fn value(&self, mean: Evaluation, q: f64) -> Evaluation {
        let v = mean.value + self.z * q.max(0.0).sqrt();
        Evaluation {
            value: v,
            feasible: mean.feasible,
            extras: [v, mean.extras[1]],
        }
    }
}

impl FlipObjective for UpperBound {
    fn n_bits(&self) -> usize {
        self.n
    }
    fn reset(&mut self, state: &[bool]) -> Evaluation {
        let mean = self.inner.reset(state);
        let on: Vec<usize> = (0..self.n)
            .filter(|&i| state.get(i).copied().unwrap_or(false))
            .collect();
        self.cx = (0..self.n)
            .map(|r| on.iter().map(|&c| self.cov[r * self.n + c]).sum())
            .collect();
        self.q = on.iter().map(|&i| self.cx[i]).sum();
        self.value(mean, self.q)
    }
    fn score_flip(&mut self, i: usize) -> Evaluation {
        let s = self.sign(i);
        let q = self.q + 2.0 * s * self.cx[i] + self.cov[i * self.n + i];
        let mean = self.inner.score_flip(i);
        self.value(mean, q)
    }
    fn commit_flip(&mut self, i: usize) -> Evaluation {
        let s = self.sign(i);
        self.q += 2.0 * s * self.cx[i] + self.cov[i * self.n + i];
        for r in 0..self.n {
            self.cx[r] += s * self.cov[r * self.n + i];
        }
        let mean = self.inner.commit_flip(i);
        self.value(mean, self.q)
    }
    fn current(&self) -> Evaluation {
        self.value(self.inner.current(), self.q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fit_additive, AdditiveConfig};
    use rand::{Rng, SeedableRng};

    #[test]
    fn upper_bound_is_the_mean_plus_z_sd_after_any_flips() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let n = 12;
        let masks: Vec<Vec<bool>> = (0..40)
            .map(|_| (0..n).map(|_| rng.random_bool(0.3)).collect())
            .collect();
        let y: Vec<f64> = masks
            .iter()
            .map(|m| {
                m.iter()
                    .enumerate()
                    .filter(|(_, &b)| b)
                    .map(|(i, _)| 0.1 * i as f64)
                    .sum::<f64>()
                    + rng.random::<f64>() * 0.01
            })
            .collect();
        let config = AdditiveConfig {
            pair_heads: 0,
            ..AdditiveConfig::default()
        };
        let model = std::sync::Arc::new(fit_additive(&masks, &y, None, &config).unwrap());
        let mut ub = UpperBound::new(model.clone(), 2.0);
        let mut state = vec![false; n];
        ub.reset(&state);
        for step in 0..500 {
            let i = rng.random_range(0..n);
            let scored = ub.score_flip(i).value;
            let committed = ub.commit_flip(i).value;
            state[i] = !state[i];
            let want = model.predict(&state).unwrap() + 2.0 * model.predict_sd(&state).unwrap();
            assert!(
                (scored - want).abs() < 1e-9 && (committed - want).abs() < 1e-9,
                "step {step}: {scored} {committed} {want}"
            );
        }
        assert!(model.predict_sd(&state).unwrap() > 0.0 || state.iter().all(|b| !b));
    }
}
