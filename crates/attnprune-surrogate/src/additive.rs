//! Structured surrogate: additive main effects plus sparse pairwise terms, fitted by ridge.
//!
//! The model is `y(x) = a + sum_i w_i x_i + sum_{(i, j) in P} v_ij x_i x_j` over a mask
//! `x in {0, 1}^n` (`true` = pruned). [`fit_additive`] fits it by ridge regression towards a
//! prior (the intercept is unpenalised), picking the ridge strength by seeded k-fold
//! cross-validation and the pair set `P` from a first main-effects-only fit.
//! [`BucketBiasModel`] predicts an axis' bias from one additive model per bucket.
//! [`IncrementalAdditive`] and [`IncrementalBucketBias`] score single-bit flips in
//! `O(pair partners)` and implement [`FlipObjective`] for the annealer.
//!
//! The normal equations `(X'X + Lambda) beta = X'y + Lambda beta0` (X centred) are solved with a
//! dense Cholesky factorisation. The Gram matrix is built from each row's list of active
//! features, and the Gram of a cross-validation fold is the total Gram minus the held-out one.

use std::sync::Arc;

use attnprune_anneal::{Evaluation, FlipObjective};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{invalid, SurrogateError};

/// Commits between exact recomputations of the incremental value (bounds rounding drift).
const REFRESH_INTERVAL: usize = 2048;

/// Settings of an additive fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdditiveConfig {
    /// Ridge strengths tried; k-fold cross-validation on the training rows picks one.
    pub lambdas: Vec<f64>,
    /// Pairwise terms are fitted among the `pair_heads` heads with the largest |main effect| in
    /// a first main-effects-only fit (all `k (k - 1) / 2` pairs); 0 or 1 = no pairs.
    pub pair_heads: usize,
    /// Pair terms are penalised with `lambda * pair_penalty_factor` (shrunk towards 0).
    pub pair_penalty_factor: f64,
    /// Cross-validation folds; with fewer rows than folds every row is its own fold
    /// (leave-one-out). With fewer than 2 effective folds, or a single lambda, no
    /// cross-validation is run and the middle lambda (`lambdas[len / 2]`) is taken.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
}

impl Default for AdditiveConfig {
    fn default() -> Self {
        Self {
            lambdas: vec![0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0],
            pair_heads: 12,
            pair_penalty_factor: 4.0,
            folds: 5,
            seed: 0,
        }
    }
}

impl AdditiveConfig {
    /// Checks that `lambdas` is non-empty with finite positive entries and that
    /// `pair_penalty_factor` is finite and positive.
    pub fn validate(&self) -> Result<(), SurrogateError> {
        if self.lambdas.is_empty() {
            return Err(invalid("lambdas", "[]", "must not be empty"));
        }
        if let Some(l) = self.lambdas.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
            return Err(invalid("lambdas", l, "must be finite and > 0"));
        }
        if !(self.pair_penalty_factor.is_finite() && self.pair_penalty_factor > 0.0) {
            return Err(invalid(
                "pair_penalty_factor",
                self.pair_penalty_factor,
                "must be finite and > 0",
            ));
        }
        Ok(())
    }
}

/// A fitted additive model: `intercept + sum_i weights[i] x_i + sum_(i, j, v) v x_i x_j`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdditiveModel {
    /// Mask length.
    pub n_bits: usize,
    /// Value of the all-false mask.
    pub intercept: f64,
    /// Main effects, one per bit.
    pub weights: Vec<f64>,
    /// Pairwise terms `(i, j, v_ij)` with `i < j`; pairs that violate `i < j < n_bits` are
    /// ignored by every evaluation.
    pub pairs: Vec<(u32, u32, f64)>,
    /// The chosen ridge strength.
    pub lambda: f64,
    /// `sqrt(RSS / max(1, n - effective dof))` on the training rows (dof counts the intercept).
    pub residual_sd: f64,
    /// Posterior covariance of the coefficients, row-major `p x p` with
    /// `p = n_bits + pairs.len()` (weights first, then pairs):
    /// `residual_sd^2 * (X'X + Lambda)^-1` with `X` centred. Empty when not computed.
    pub covariance: Vec<f64>,
}

impl AdditiveModel {
    /// Errors unless `len == n_bits`.
    fn check_len(&self, len: usize) -> Result<(), SurrogateError> {
        if len == self.n_bits {
            Ok(())
        } else {
            Err(SurrogateError::MaskLength {
                row: 0,
                expected: self.n_bits,
                found: len,
            })
        }
    }

    /// Pairs that satisfy `i < j < n_bits`, with their position in `pairs`.
    fn valid_pairs(&self) -> impl Iterator<Item = (usize, usize, usize, f64)> + '_ {
        let n = self.n_bits;
        self.pairs
            .iter()
            .enumerate()
            .filter_map(move |(k, &(i, j, v))| {
                let (i, j) = (i as usize, j as usize);
                (i < j && j < n).then_some((k, i, j, v))
            })
    }

    /// The model's value for a mask of the right length.
    fn value(&self, mask: &[bool]) -> f64 {
        let main: f64 = self
            .weights
            .iter()
            .zip(mask)
            .filter(|(_, &b)| b)
            .map(|(w, _)| w)
            .sum();
        let pair: f64 = self
            .valid_pairs()
            .filter(|&(_, i, j, _)| mask[i] && mask[j])
            .map(|(_, _, _, v)| v)
            .sum();
        self.intercept + main + pair
    }

    /// Predicted target for one mask; errors if its length is not `n_bits`.
    pub fn predict(&self, mask: &[bool]) -> Result<f64, SurrogateError> {
        self.check_len(mask.len())?;
        Ok(self.value(mask))
    }

    /// Predictions for many masks (the error names the offending row).
    pub fn predict_batch(&self, masks: &[Vec<bool>]) -> Result<Vec<f64>, SurrogateError> {
        masks
            .iter()
            .enumerate()
            .map(|(row, m)| {
                self.predict(m).map_err(|_| SurrogateError::MaskLength {
                    row,
                    expected: self.n_bits,
                    found: m.len(),
                })
            })
            .collect()
    }

    /// Posterior standard deviation of the coefficient part of a prediction,
    /// `sqrt(phi' C phi)` with `phi` the features (bits, then pair products) and `C` the
    /// covariance; 0 when the covariance is empty. Errors on a wrong mask length or a
    /// covariance that is not `p x p`.
    pub fn predict_sd(&self, mask: &[bool]) -> Result<f64, SurrogateError> {
        self.check_len(mask.len())?;
        if self.covariance.is_empty() {
            return Ok(0.0);
        }
        let p = self.n_bits + self.pairs.len();
        if self.covariance.len() != p * p {
            return Err(invalid(
                "covariance",
                self.covariance.len(),
                "must hold p * p entries, p = n_bits + pairs.len()",
            ));
        }
        let active: Vec<usize> = mask
            .iter()
            .enumerate()
            .filter(|(_, &b)| b)
            .map(|(i, _)| i)
            .chain(
                self.valid_pairs()
                    .filter(|&(_, i, j, _)| mask[i] && mask[j])
                    .map(|(k, _, _, _)| self.n_bits + k),
            )
            .collect();
        let var: f64 = active
            .iter()
            .map(|&a| {
                let row = &self.covariance[a * p..(a + 1) * p];
                active.iter().map(|&b| row[b]).sum::<f64>()
            })
            .sum();
        Ok(var.max(0.0).sqrt())
    }

    /// An incremental flip evaluator (current state all-false) sharing this model.
    pub fn incremental(self: &Arc<Self>) -> IncrementalAdditive {
        IncrementalAdditive::new(Arc::clone(self))
    }
}

/// Fits an [`AdditiveModel`] by ridge regression towards a prior.
///
/// Minimises `sum_r (y_r - a - f(x_r))^2 + lambda ||w - prior||^2 + lambda factor ||v||^2`
/// with the intercept `a` unpenalised (X and y are centred). `lambda` is picked by k-fold
/// cross-validation (MSE on the held-out rows), first for a main-effects-only fit whose
/// largest |w| choose the `pair_heads` heads, then again for the fit with their pairs.
/// `prior`: optional per-head prior main effects (e.g. measured single-knockout changes); `None`
/// = zeros. Errors: no rows, mask lengths or row counts that differ, a non-finite target, a
/// prior of the wrong length or with non-finite entries, an invalid config, or a ridge system
/// that is numerically singular for every lambda.
pub fn fit_additive(
    masks: &[Vec<bool>],
    targets: &[f64],
    prior: Option<&[f64]>,
    config: &AdditiveConfig,
) -> Result<AdditiveModel, SurrogateError> {
    config.validate()?;
    let n_bits = check_data(masks, targets)?;
    let prior = match prior {
        None => vec![0.0; n_bits],
        Some(p) if p.len() != n_bits => {
            return Err(invalid(
                "prior",
                p.len(),
                "length must equal the mask length",
            ))
        }
        Some(p) => {
            if let Some(v) = p.iter().find(|v| !v.is_finite()) {
                return Err(invalid("prior", v, "entries must be finite"));
            }
            p.to_vec()
        }
    };
    let active: Vec<Vec<u32>> = masks
        .iter()
        .map(|m| {
            m.iter()
                .enumerate()
                .filter(|(_, &b)| b)
                .map(|(i, _)| i as u32)
                .collect()
        })
        .collect();
    let folds = fold_rows(masks.len(), config.folds, config.seed);

    let main_only = Problem::new(&active, targets, n_bits, Vec::new(), &prior, config);
    let k = config.pair_heads.min(n_bits);
    if k < 2 {
        return main_only.finish(&folds, config);
    }
    let lambda = main_only.choose_lambda(&folds, config)?;
    let (beta, _, _) = main_only.fit_all(lambda)?;
    let mut order: Vec<usize> = (0..n_bits).collect();
    order.sort_by(|&a, &b| beta[b].abs().total_cmp(&beta[a].abs()).then(a.cmp(&b)));
    let mut top: Vec<u32> = order[..k].iter().map(|&i| i as u32).collect();
    top.sort_unstable();
    let pairs: Vec<(u32, u32)> = top
        .iter()
        .enumerate()
        .flat_map(|(a, &i)| top[a + 1..].iter().map(move |&j| (i, j)))
        .collect();
    Problem::new(&active, targets, n_bits, pairs, &prior, config).finish(&folds, config)
}

/// Validates rows and targets; returns the mask length.
fn check_data(masks: &[Vec<bool>], targets: &[f64]) -> Result<usize, SurrogateError> {
    if masks.len() != targets.len() {
        return Err(SurrogateError::RowCountMismatch {
            inputs: masks.len(),
            targets: targets.len(),
        });
    }
    let n_bits = masks.first().ok_or(SurrogateError::EmptyData)?.len();
    if let Some((row, m)) = masks.iter().enumerate().find(|(_, m)| m.len() != n_bits) {
        return Err(SurrogateError::MaskLength {
            row,
            expected: n_bits,
            found: m.len(),
        });
    }
    if let Some((row, &value)) = targets.iter().enumerate().find(|(_, t)| !t.is_finite()) {
        return Err(SurrogateError::NonFinite { row, value });
    }
    Ok(n_bits)
}

/// Held-out rows of each fold: a seeded shuffle dealt round-robin into `min(folds, n)` folds.
/// Empty when fewer than 2 folds result.
fn fold_rows(n: usize, folds: usize, seed: u64) -> Vec<Vec<usize>> {
    let k = folds.min(n);
    if k < 2 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut out = vec![Vec::new(); k];
    for (pos, row) in order.into_iter().enumerate() {
        out[pos % k].push(row);
    }
    out
}

/// Sufficient statistics of a set of rows: Gram, column sums, `X'y`, `sum y`, row count.
#[derive(Debug, Clone)]
struct Stats {
    n: f64,
    gram: Vec<f64>,
    colsum: Vec<f64>,
    xy: Vec<f64>,
    ysum: f64,
}

impl Stats {
    fn new(p: usize) -> Self {
        Self {
            n: 0.0,
            gram: vec![0.0; p * p],
            colsum: vec![0.0; p],
            xy: vec![0.0; p],
            ysum: 0.0,
        }
    }

    /// `self - other` (the statistics of the rows in `self` but not in `other`).
    fn minus(&self, other: &Self) -> Self {
        let sub = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x - y).collect();
        Self {
            n: self.n - other.n,
            gram: sub(&self.gram, &other.gram),
            colsum: sub(&self.colsum, &other.colsum),
            xy: sub(&self.xy, &other.xy),
            ysum: self.ysum - other.ysum,
        }
    }
}

/// The centred system of a set of rows.
struct Centred {
    /// `Xc'Xc`, row-major.
    gram: Vec<f64>,
    /// `Xc'yc`.
    rhs: Vec<f64>,
    /// Column means.
    xbar: Vec<f64>,
    /// Target mean.
    ybar: f64,
}

impl Centred {
    fn new(st: &Stats) -> Self {
        let p = st.colsum.len();
        let n = st.n.max(1.0);
        let xbar: Vec<f64> = st.colsum.iter().map(|s| s / n).collect();
        let ybar = st.ysum / n;
        let mut gram = st.gram.clone();
        for (a, row) in gram.chunks_exact_mut(p.max(1)).enumerate().take(p) {
            let sa = st.colsum[a];
            for (g, &mb) in row.iter_mut().zip(&xbar) {
                *g -= sa * mb;
            }
        }
        let rhs = st
            .xy
            .iter()
            .zip(&st.colsum)
            .map(|(xy, s)| xy - s * ybar)
            .collect();
        Self {
            gram,
            rhs,
            xbar,
            ybar,
        }
    }

    /// Solves `(G + diag(pen)) beta = rhs + pen * beta0`; returns `beta`, the intercept and the
    /// Cholesky factor, or `None` if the system is numerically singular.
    fn solve(&self, pen: &[f64], beta0: &[f64]) -> Option<(Vec<f64>, f64, Vec<f64>)> {
        let p = self.rhs.len();
        let mut l = self.gram.clone();
        for (a, &pa) in pen.iter().enumerate() {
            l[a * p + a] += pa;
        }
        if !cholesky(&mut l, p) {
            return None;
        }
        let mut beta: Vec<f64> = self
            .rhs
            .iter()
            .zip(pen.iter().zip(beta0))
            .map(|(r, (pa, b0))| r + pa * b0)
            .collect();
        cholesky_solve(&l, p, &mut beta);
        if beta.iter().any(|b| !b.is_finite()) {
            return None;
        }
        let intercept = self.ybar - dot(&self.xbar, &beta);
        Some((beta, intercept, l))
    }
}

/// One regression problem: the rows' active features, targets, penalty shape and prior.
struct Problem<'a> {
    n_bits: usize,
    pairs: Vec<(u32, u32)>,
    /// Active feature indices of each row (bits, then `n_bits + pair index`), ascending.
    rows: Vec<Vec<u32>>,
    targets: &'a [f64],
    /// Penalty multiplier of each feature (1 for bits, the pair factor for pairs).
    pen_shape: Vec<f64>,
    /// Prior coefficients (the prior for bits, 0 for pairs).
    beta0: Vec<f64>,
    /// Statistics of all rows.
    total: Stats,
}

impl<'a> Problem<'a> {
    fn new(
        active: &[Vec<u32>],
        targets: &'a [f64],
        n_bits: usize,
        pairs: Vec<(u32, u32)>,
        prior: &[f64],
        config: &AdditiveConfig,
    ) -> Self {
        let p = n_bits + pairs.len();
        let mut on = vec![false; n_bits];
        let rows: Vec<Vec<u32>> = active
            .iter()
            .map(|bits| {
                bits.iter().for_each(|&i| on[i as usize] = true);
                let mut feats = bits.clone();
                feats.extend(
                    pairs
                        .iter()
                        .enumerate()
                        .filter(|(_, &(i, j))| on[i as usize] && on[j as usize])
                        .map(|(k, _)| (n_bits + k) as u32),
                );
                bits.iter().for_each(|&i| on[i as usize] = false);
                feats
            })
            .collect();
        let mut pen_shape = vec![1.0; n_bits];
        pen_shape.resize(p, config.pair_penalty_factor);
        let mut beta0 = prior.to_vec();
        beta0.resize(p, 0.0);
        let mut out = Self {
            n_bits,
            pairs,
            rows,
            targets,
            pen_shape,
            beta0,
            total: Stats::new(p),
        };
        out.total = out.stats(0..out.rows.len());
        out
    }

    fn p(&self) -> usize {
        self.pen_shape.len()
    }

    /// Statistics of the given rows.
    fn stats(&self, rows: impl IntoIterator<Item = usize>) -> Stats {
        let p = self.p();
        let mut st = Stats::new(p);
        for r in rows {
            let (feats, y) = (&self.rows[r], self.targets[r]);
            st.n += 1.0;
            st.ysum += y;
            for &a in feats {
                let a = a as usize;
                st.colsum[a] += 1.0;
                st.xy[a] += y;
                let g = &mut st.gram[a * p..(a + 1) * p];
                for &b in feats {
                    g[b as usize] += 1.0;
                }
            }
        }
        st
    }

    fn penalty(&self, lambda: f64) -> Vec<f64> {
        self.pen_shape.iter().map(|s| s * lambda).collect()
    }

    fn row_prediction(&self, r: usize, beta: &[f64], intercept: f64) -> f64 {
        intercept + self.rows[r].iter().map(|&a| beta[a as usize]).sum::<f64>()
    }

    /// The lambda with the smallest cross-validated squared error (the middle one without CV).
    fn choose_lambda(
        &self,
        folds: &[Vec<usize>],
        config: &AdditiveConfig,
    ) -> Result<f64, SurrogateError> {
        let lambdas = &config.lambdas;
        let middle = lambdas[lambdas.len() / 2];
        if folds.len() < 2 || lambdas.len() == 1 {
            return Ok(middle);
        }
        let mut sse = vec![0.0; lambdas.len()];
        for held in folds {
            let train = Centred::new(&self.total.minus(&self.stats(held.iter().copied())));
            for (err, &lambda) in sse.iter_mut().zip(lambdas) {
                match train.solve(&self.penalty(lambda), &self.beta0) {
                    Some((beta, intercept, _)) => {
                        *err += held
                            .iter()
                            .map(|&r| {
                                (self.targets[r] - self.row_prediction(r, &beta, intercept)).powi(2)
                            })
                            .sum::<f64>();
                    }
                    None => *err = f64::INFINITY,
                }
            }
        }
        sse.iter()
            .zip(lambdas)
            .filter(|(e, _)| e.is_finite())
            .min_by(|a, b| a.0.total_cmp(b.0))
            .map(|(_, &l)| l)
            .ok_or_else(|| {
                invalid(
                    "lambdas",
                    format!("{lambdas:?}"),
                    "every cross-validation ridge system was numerically singular",
                )
            })
    }

    /// Fit on all rows: coefficients, intercept, Cholesky factor.
    fn fit_all(&self, lambda: f64) -> Result<(Vec<f64>, f64, Vec<f64>), SurrogateError> {
        Centred::new(&self.total)
            .solve(&self.penalty(lambda), &self.beta0)
            .ok_or_else(|| {
                invalid(
                    "lambdas",
                    lambda,
                    "the ridge system is numerically singular for this lambda",
                )
            })
    }

    /// Chooses lambda, fits on all rows and assembles the model with its covariance.
    fn finish(
        &self,
        folds: &[Vec<usize>],
        config: &AdditiveConfig,
    ) -> Result<AdditiveModel, SurrogateError> {
        let lambda = self.choose_lambda(folds, config)?;
        let (beta, intercept, l) = self.fit_all(lambda)?;
        let p = self.p();
        let pen = self.penalty(lambda);
        // (X'X + Lambda)^-1 column by column.
        let mut inv = vec![0.0; p * p];
        let mut col = vec![0.0; p];
        for c in 0..p {
            col.iter_mut().for_each(|v| *v = 0.0);
            col[c] = 1.0;
            cholesky_solve(&l, p, &mut col);
            for (r, v) in col.iter().enumerate() {
                inv[r * p + c] = *v;
            }
        }
        // Effective dof: 1 (intercept) + tr(A^-1 X'X) = 1 + p - sum_k pen_k (A^-1)_kk.
        let shrink: f64 = pen
            .iter()
            .enumerate()
            .map(|(k, pk)| pk * inv[k * p + k])
            .sum();
        let dof = 1.0 + p as f64 - shrink;
        let rss: f64 = (0..self.rows.len())
            .map(|r| (self.targets[r] - self.row_prediction(r, &beta, intercept)).powi(2))
            .sum();
        let residual_sd = (rss / (self.rows.len() as f64 - dof).max(1.0)).sqrt();
        let s2 = residual_sd * residual_sd;
        inv.iter_mut().for_each(|v| *v *= s2);
        let (weights, pair_coefs) = beta.split_at(self.n_bits);
        Ok(AdditiveModel {
            n_bits: self.n_bits,
            intercept,
            weights: weights.to_vec(),
            pairs: self
                .pairs
                .iter()
                .zip(pair_coefs)
                .map(|(&(i, j), &v)| (i, j, v))
                .collect(),
            lambda,
            residual_sd,
            covariance: inv,
        })
    }
}

/// Dot product with four accumulators (lets the compiler vectorise).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// In-place Cholesky factorisation `A = L L'` of a row-major symmetric `p x p` matrix (only the
/// lower triangle is read; `L` is written there, the upper triangle is left as is). Returns
/// `false` if a pivot is not clearly positive (relative to the diagonal entry) or not finite.
fn cholesky(a: &mut [f64], p: usize) -> bool {
    for i in 0..p {
        let (done, rest) = a.split_at_mut(i * p);
        let row_i = &mut rest[..p];
        for j in 0..i {
            let row_j = &done[j * p..j * p + j + 1];
            let s = row_i[j] - dot(&row_i[..j], &row_j[..j]);
            row_i[j] = s / row_j[j];
        }
        let diag = row_i[i];
        let d = diag - dot(&row_i[..i], &row_i[..i]);
        if !(d.is_finite() && d > 1e-13 * diag.abs()) {
            return false;
        }
        row_i[i] = d.sqrt();
    }
    true
}

/// Solves `L L' x = b` in place given the factor from [`cholesky`].
fn cholesky_solve(l: &[f64], p: usize, b: &mut [f64]) {
    for i in 0..p {
        let row = &l[i * p..i * p + i + 1];
        b[i] = (b[i] - dot(&row[..i], &b[..i])) / row[i];
    }
    for i in (0..p).rev() {
        let mut s = b[i];
        for (k, bk) in b.iter().enumerate().skip(i + 1) {
            s -= l[k * p + i] * bk;
        }
        b[i] = s / l[i * p + i];
    }
}

/// Per-bit pair partners of an additive model, for `O(partners)` flip deltas.
#[derive(Debug, Clone, Default)]
struct FlipTable {
    partners: Vec<Vec<(usize, f64)>>,
}

impl FlipTable {
    fn new(model: &AdditiveModel) -> Self {
        let mut partners = vec![Vec::new(); model.n_bits];
        for (_, i, j, v) in model.valid_pairs() {
            partners[i].push((j, v));
            partners[j].push((i, v));
        }
        Self { partners }
    }

    /// Change of the model's value when bit `i` of `state` flips.
    #[inline]
    fn delta(&self, model: &AdditiveModel, state: &[bool], i: usize) -> f64 {
        let mut d = model.weights.get(i).copied().unwrap_or(0.0);
        if let Some(list) = self.partners.get(i) {
            d += list
                .iter()
                .filter(|&&(j, _)| state[j])
                .map(|&(_, v)| v)
                .sum::<f64>();
        }
        if state[i] {
            -d
        } else {
            d
        }
    }
}

/// Incremental evaluator of an [`AdditiveModel`] over single-bit flips (an anneal
/// [`FlipObjective`]); a flip costs `O(1 + pair partners of the bit)`.
///
/// The value is the prediction, always feasible, `extras = [prediction, 0]`. The value is
/// recomputed from scratch every few thousand commits to stop rounding drift.
#[derive(Debug, Clone)]
pub struct IncrementalAdditive {
    model: Arc<AdditiveModel>,
    table: Arc<FlipTable>,
    state: Vec<bool>,
    value: f64,
    commits: usize,
}

impl IncrementalAdditive {
    /// Creates the evaluator with current state all-false.
    pub fn new(model: Arc<AdditiveModel>) -> Self {
        let table = Arc::new(FlipTable::new(&model));
        let n = model.n_bits;
        let value = model.intercept;
        Self {
            model,
            table,
            state: vec![false; n],
            value,
            commits: 0,
        }
    }

    /// The shared model.
    pub fn model(&self) -> &Arc<AdditiveModel> {
        &self.model
    }

    /// The current state.
    pub fn state(&self) -> &[bool] {
        &self.state
    }
}

impl FlipObjective for IncrementalAdditive {
    fn n_bits(&self) -> usize {
        self.model.n_bits
    }

    fn reset(&mut self, state: &[bool]) -> Evaluation {
        self.state.clear();
        self.state.extend_from_slice(state);
        self.value = self.model.value(&self.state);
        self.commits = 0;
        self.current()
    }

    fn score_flip(&mut self, i: usize) -> Evaluation {
        Evaluation::plain(self.value + self.table.delta(&self.model, &self.state, i))
    }

    fn commit_flip(&mut self, i: usize) -> Evaluation {
        self.value += self.table.delta(&self.model, &self.state, i);
        self.state[i] = !self.state[i];
        self.commits += 1;
        if self.commits >= REFRESH_INTERVAL {
            self.commits = 0;
            self.value = self.model.value(&self.state);
        }
        self.current()
    }

    fn current(&self) -> Evaluation {
        Evaluation::plain(self.value)
    }
}

/// `sum_b |m_bar - m_b|` with `m_bar = sum_b c_b m_b / sum_b c_b`.
fn bias_of(counts: &[f64], means: &[f64]) -> f64 {
    let total: f64 = counts.iter().sum();
    let mbar = counts.iter().zip(means).map(|(c, m)| c * m).sum::<f64>() / total;
    means.iter().map(|m| (mbar - m).abs()).sum()
}

/// Predicts an axis' bias from per-bucket additive models:
/// `bias = sum_b |m_bar - m_b(x)|` where `m_bar = sum_b c_b m_b / sum_b c_b`
/// (`c_b` = prompts in bucket `b`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketBiasModel {
    /// Bucket names.
    pub buckets: Vec<String>,
    /// Prompts per bucket (the weights of the mean).
    pub counts: Vec<f64>,
    /// One model of the bucket's mean score per bucket.
    pub models: Vec<AdditiveModel>,
}

impl BucketBiasModel {
    /// Fits one additive model per bucket. `bucket_means[r][b]` is bucket `b`'s mean score for
    /// mask `r`; `priors` (optional) holds one prior main-effect vector per bucket. Errors on no
    /// buckets, counts of the wrong length or not finite and `>= 0` with a positive sum, rows
    /// with the wrong number of bucket means, priors of the wrong count, and everything
    /// [`fit_additive`] rejects.
    pub fn fit(
        masks: &[Vec<bool>],
        bucket_means: &[Vec<f64>],
        buckets: Vec<String>,
        counts: Vec<f64>,
        priors: Option<&[Vec<f64>]>,
        config: &AdditiveConfig,
    ) -> Result<Self, SurrogateError> {
        let nb = buckets.len();
        if nb == 0 {
            return Err(invalid("buckets", 0, "need at least one bucket"));
        }
        if counts.len() != nb {
            return Err(invalid("counts", counts.len(), "need one count per bucket"));
        }
        if let Some(c) = counts.iter().find(|c| !(c.is_finite() && **c >= 0.0)) {
            return Err(invalid("counts", c, "must be finite and >= 0"));
        }
        let total: f64 = counts.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            return Err(invalid("counts", total, "must have a positive sum"));
        }
        if masks.len() != bucket_means.len() {
            return Err(SurrogateError::RowCountMismatch {
                inputs: masks.len(),
                targets: bucket_means.len(),
            });
        }
        if let Some(row) = bucket_means.iter().position(|r| r.len() != nb) {
            return Err(invalid(
                "bucket_means",
                format!("row {row} has {} values", bucket_means[row].len()),
                "need one mean per bucket in every row",
            ));
        }
        if let Some(p) = priors {
            if p.len() != nb {
                return Err(invalid("priors", p.len(), "need one prior per bucket"));
            }
        }
        let models = (0..nb)
            .map(|b| {
                let targets: Vec<f64> = bucket_means.iter().map(|r| r[b]).collect();
                let prior = priors.map(|p| p[b].as_slice());
                fit_additive(masks, &targets, prior, config)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            buckets,
            counts,
            models,
        })
    }

    /// Mask length (0 without models).
    pub fn n_bits(&self) -> usize {
        self.models.first().map_or(0, |m| m.n_bits)
    }

    /// Predicted bias of a mask.
    pub fn predict(&self, mask: &[bool]) -> Result<f64, SurrogateError> {
        Ok(bias_of(&self.counts, &self.predict_buckets(mask)?))
    }

    /// Predicted mean score of each bucket.
    pub fn predict_buckets(&self, mask: &[bool]) -> Result<Vec<f64>, SurrogateError> {
        self.models.iter().map(|m| m.predict(mask)).collect()
    }

    /// An incremental flip evaluator (current state all-false) sharing this model.
    pub fn incremental(self: &Arc<Self>) -> IncrementalBucketBias {
        IncrementalBucketBias::new(Arc::clone(self))
    }
}

/// Incremental evaluator of a [`BucketBiasModel`] over single-bit flips (an anneal
/// [`FlipObjective`]): keeps every bucket's current mean and recomputes the bias in
/// `O(buckets)` per flip (plus the pair partners of the flipped bit in each bucket model).
///
/// The value is the predicted bias, always feasible, `extras = [bias, 0]`.
#[derive(Debug, Clone)]
pub struct IncrementalBucketBias {
    model: Arc<BucketBiasModel>,
    tables: Arc<Vec<FlipTable>>,
    state: Vec<bool>,
    means: Vec<f64>,
    trial: Vec<f64>,
    value: f64,
    commits: usize,
}

impl IncrementalBucketBias {
    /// Creates the evaluator with current state all-false.
    pub fn new(model: Arc<BucketBiasModel>) -> Self {
        let tables = Arc::new(model.models.iter().map(FlipTable::new).collect());
        let n = model.n_bits();
        let mut out = Self {
            model,
            tables,
            state: Vec::new(),
            means: Vec::new(),
            trial: Vec::new(),
            value: 0.0,
            commits: 0,
        };
        out.reset(&vec![false; n]);
        out
    }

    /// The shared model.
    pub fn model(&self) -> &Arc<BucketBiasModel> {
        &self.model
    }

    /// The current state.
    pub fn state(&self) -> &[bool] {
        &self.state
    }

    /// The current predicted mean of each bucket.
    pub fn bucket_means(&self) -> &[f64] {
        &self.means
    }

    /// Recomputes every bucket mean and the bias from the state.
    fn refresh(&mut self) {
        self.means.clear();
        self.means
            .extend(self.model.models.iter().map(|m| m.value(&self.state)));
        self.value = bias_of(&self.model.counts, &self.means);
    }

    /// Bucket means with bit `i` flipped, into `self.trial`.
    fn fill_trial(&mut self, i: usize) {
        self.trial.clear();
        let (models, tables, state) = (&self.model.models, &self.tables, &self.state);
        self.trial.extend(
            self.means
                .iter()
                .zip(models.iter().zip(tables.iter()))
                .map(|(m, (model, table))| m + table.delta(model, state, i)),
        );
    }
}

impl FlipObjective for IncrementalBucketBias {
    fn n_bits(&self) -> usize {
        self.model.n_bits()
    }

    fn reset(&mut self, state: &[bool]) -> Evaluation {
        self.state.clear();
        self.state.extend_from_slice(state);
        self.commits = 0;
        self.refresh();
        self.current()
    }

    fn score_flip(&mut self, i: usize) -> Evaluation {
        self.fill_trial(i);
        Evaluation::plain(bias_of(&self.model.counts, &self.trial))
    }

    fn commit_flip(&mut self, i: usize) -> Evaluation {
        self.fill_trial(i);
        std::mem::swap(&mut self.means, &mut self.trial);
        self.state[i] = !self.state[i];
        self.commits += 1;
        if self.commits >= REFRESH_INTERVAL {
            self.commits = 0;
            self.refresh();
        } else {
            self.value = bias_of(&self.model.counts, &self.means);
        }
        self.current()
    }

    fn current(&self) -> Evaluation {
        Evaluation::plain(self.value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::Rng;

    const N: usize = 270;

    fn gauss(rng: &mut ChaCha8Rng) -> f64 {
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// A mask with a uniformly random number of pruned heads in `[0, max_k]`.
    fn random_mask(rng: &mut ChaCha8Rng, n: usize, max_k: usize) -> Vec<bool> {
        let k = rng.random_range(0..=max_k);
        let mut m = vec![false; n];
        for i in rand::seq::index::sample(rng, n, k) {
            m[i] = true;
        }
        m
    }

    /// Planted main effects: mostly small, a few large ones.
    fn planted_weights(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let base = 0.02 * gauss(rng);
                if i % 27 == 5 {
                    base + 0.3 * gauss(rng)
                } else {
                    base
                }
            })
            .collect()
    }

    fn additive(w: &[f64], a: f64, m: &[bool]) -> f64 {
        a + w
            .iter()
            .zip(m)
            .filter(|(_, &b)| b)
            .map(|(w, _)| w)
            .sum::<f64>()
    }

    /// 300 random masks, the single knockouts and the all-false mask.
    fn training_masks(rng: &mut ChaCha8Rng, n: usize, random: usize) -> Vec<Vec<bool>> {
        let mut masks: Vec<Vec<bool>> = (0..random).map(|_| random_mask(rng, n, 40)).collect();
        for i in 0..n {
            let mut m = vec![false; n];
            m[i] = true;
            masks.push(m);
        }
        masks.push(vec![false; n]);
        masks
    }

    fn r2(model: &AdditiveModel, masks: &[Vec<bool>], y: &[f64]) -> f64 {
        crate::metrics::metrics(&model.predict_batch(masks).unwrap(), y)
            .unwrap()
            .r2
    }

    #[test]
    fn planted_additive_is_recovered() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let w = planted_weights(&mut rng, N);
        let masks = training_masks(&mut rng, N, 300);
        let y: Vec<f64> = masks
            .iter()
            .map(|m| additive(&w, 2.5, m) + 0.01 * gauss(&mut rng))
            .collect();
        let model = fit_additive(&masks, &y, None, &AdditiveConfig::default()).unwrap();
        let test: Vec<Vec<bool>> = (0..200).map(|_| random_mask(&mut rng, N, 40)).collect();
        let yt: Vec<f64> = test.iter().map(|m| additive(&w, 2.5, m)).collect();
        let r = r2(&model, &test, &yt);
        assert!(r > 0.95, "held-out R^2 {r}");
        assert_eq!(model.weights.len(), N);
        assert_eq!(model.pairs.len(), 66);
        let p = N + 66;
        assert_eq!(model.covariance.len(), p * p);
        assert!(model.residual_sd > 0.0 && model.residual_sd < 0.05);
        assert!((model.intercept - 2.5).abs() < 0.05, "{}", model.intercept);
        let sd = model.predict_sd(&test[0]).unwrap();
        assert!(sd.is_finite() && sd >= 0.0);
        assert_eq!(model.predict_sd(&vec![false; N]).unwrap(), 0.0);
    }

    /// The fitted coefficients are a stationary point of the penalised objective.
    #[test]
    fn fit_solves_the_ridge_objective() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 30;
        let masks: Vec<Vec<bool>> = (0..80).map(|_| random_mask(&mut rng, n, 12)).collect();
        let y: Vec<f64> = masks.iter().map(|_| gauss(&mut rng)).collect();
        let prior: Vec<f64> = (0..n).map(|_| 0.3 * gauss(&mut rng)).collect();
        let config = AdditiveConfig {
            lambdas: vec![0.7],
            pair_heads: 5,
            pair_penalty_factor: 3.0,
            ..AdditiveConfig::default()
        };
        let m = fit_additive(&masks, &y, Some(&prior), &config).unwrap();
        assert_eq!(m.lambda, 0.7);
        assert_eq!(m.pairs.len(), 10);
        let resid: Vec<f64> = masks
            .iter()
            .zip(&y)
            .map(|(x, y)| y - m.predict(x).unwrap())
            .collect();
        // d/da: -2 sum r = 0.
        assert!(resid.iter().sum::<f64>().abs() < 1e-8);
        for i in 0..n {
            let g = -2.0
                * masks
                    .iter()
                    .zip(&resid)
                    .filter(|(x, _)| x[i])
                    .map(|(_, r)| r)
                    .sum::<f64>()
                + 2.0 * 0.7 * (m.weights[i] - prior[i]);
            assert!(g.abs() < 1e-8, "gradient of w_{i}: {g}");
        }
        for &(i, j, v) in &m.pairs {
            let g = -2.0
                * masks
                    .iter()
                    .zip(&resid)
                    .filter(|(x, _)| x[i as usize] && x[j as usize])
                    .map(|(_, r)| r)
                    .sum::<f64>()
                + 2.0 * 0.7 * 3.0 * v;
            assert!(g.abs() < 1e-8, "gradient of v_({i},{j}): {g}");
        }
    }

    #[test]
    fn planted_pair_is_found() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut w = planted_weights(&mut rng, N);
        let (pi, pj, pv) = (40usize, 200usize, 0.6);
        w[pi] = 0.5;
        w[pj] = 0.45;
        let f = |m: &[bool]| additive(&w, 2.5, m) + if m[pi] && m[pj] { pv } else { 0.0 };
        let biased = |rng: &mut ChaCha8Rng| {
            let mut m = random_mask(rng, N, 40);
            m[pi] |= rng.random_bool(0.3);
            m[pj] |= rng.random_bool(0.3);
            m
        };
        let mut masks = training_masks(&mut rng, N, 0);
        masks.extend((0..400).map(|_| biased(&mut rng)));
        let y: Vec<f64> = masks
            .iter()
            .map(|m| f(m) + 0.01 * gauss(&mut rng))
            .collect();
        let with = fit_additive(&masks, &y, None, &AdditiveConfig::default()).unwrap();
        let without = fit_additive(
            &masks,
            &y,
            None,
            &AdditiveConfig {
                pair_heads: 0,
                ..AdditiveConfig::default()
            },
        )
        .unwrap();
        assert!(without.pairs.is_empty());
        let v = with
            .pairs
            .iter()
            .find(|&&(i, j, _)| (i as usize, j as usize) == (pi, pj))
            .map(|p| p.2)
            .unwrap();
        assert!((v - pv).abs() < 0.25 * pv, "fitted pair {v}, planted {pv}");
        let test: Vec<Vec<bool>> = (0..200).map(|_| biased(&mut rng)).collect();
        let yt: Vec<f64> = test.iter().map(|m| f(m)).collect();
        let (r_with, r_without) = (r2(&with, &test, &yt), r2(&without, &test, &yt));
        assert!(
            r_with > 0.98 && r_with - r_without > 0.02,
            "R^2 with pairs {r_with}, without {r_without}"
        );
    }

    #[test]
    fn prior_rescues_a_tiny_training_set() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let w = planted_weights(&mut rng, N);
        let masks: Vec<Vec<bool>> = (0..20).map(|_| random_mask(&mut rng, N, 40)).collect();
        let y: Vec<f64> = masks
            .iter()
            .map(|m| additive(&w, 2.5, m) + 0.01 * gauss(&mut rng))
            .collect();
        let test: Vec<Vec<bool>> = (0..200).map(|_| random_mask(&mut rng, N, 40)).collect();
        let yt: Vec<f64> = test.iter().map(|m| additive(&w, 2.5, m)).collect();
        let config = AdditiveConfig::default();
        let with_prior = fit_additive(&masks, &y, Some(&w), &config).unwrap();
        let zero_prior = fit_additive(&masks, &y, None, &config).unwrap();
        let (r_prior, r_zero) = (r2(&with_prior, &test, &yt), r2(&zero_prior, &test, &yt));
        assert!(r_prior > 0.9, "R^2 with the true prior {r_prior}");
        assert!(
            r_zero < r_prior - 0.3,
            "R^2 zero prior {r_zero}, true prior {r_prior}"
        );
    }

    fn check_incremental<O: FlipObjective>(
        obj: &mut O,
        exact: impl Fn(&[bool]) -> f64,
        rng: &mut ChaCha8Rng,
    ) {
        let n = obj.n_bits();
        let mut state = random_mask(rng, n, 40);
        let e = obj.reset(&state);
        assert!((e.value - exact(&state)).abs() < 1e-9);
        for step in 0..10_000 {
            let i = rng.random_range(0..n);
            let scored = obj.score_flip(i).value;
            state[i] = !state[i];
            let want = exact(&state);
            assert!(
                (scored - want).abs() < 1e-9,
                "step {step}: {scored} vs {want}"
            );
            if rng.random_bool(0.7) {
                let got = obj.commit_flip(i).value;
                assert!((got - want).abs() < 1e-9, "step {step}: {got} vs {want}");
            } else {
                state[i] = !state[i];
            }
            assert!((obj.current().value - exact(&state)).abs() < 1e-9);
        }
    }

    fn assert_clone_send_sync<T: Clone + Send + Sync>() {}

    #[test]
    fn incremental_additive_matches_predict() {
        assert_clone_send_sync::<IncrementalAdditive>();
        assert_clone_send_sync::<IncrementalBucketBias>();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let n = 60;
        let masks: Vec<Vec<bool>> = (0..150).map(|_| random_mask(&mut rng, n, 30)).collect();
        let y: Vec<f64> = masks.iter().map(|_| gauss(&mut rng)).collect();
        let model = Arc::new(fit_additive(&masks, &y, None, &AdditiveConfig::default()).unwrap());
        assert!(model.pairs.iter().any(|p| p.2.abs() > 1e-6));
        let mut inc = model.incremental();
        assert_eq!(inc.current().value, model.intercept);
        check_incremental(&mut inc, |s| model.predict(s).unwrap(), &mut rng);
    }

    fn bucket_data(
        rng: &mut ChaCha8Rng,
        ws: &[Vec<f64>],
        rows: usize,
    ) -> (Vec<Vec<bool>>, Vec<Vec<f64>>) {
        let masks = training_masks(rng, N, rows);
        let means = masks
            .iter()
            .map(|m| {
                ws.iter()
                    .enumerate()
                    .map(|(b, w)| additive(w, b as f64 * 0.1, m) + 0.005 * gauss(rng))
                    .collect()
            })
            .collect();
        (masks, means)
    }

    #[test]
    fn bucket_bias_model_predicts_the_bias_of_the_predicted_means() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let ws: Vec<Vec<f64>> = (0..3).map(|_| planted_weights(&mut rng, N)).collect();
        let counts = vec![10.0, 20.0, 30.0];
        let (masks, means) = bucket_data(&mut rng, &ws, 300);
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let config = AdditiveConfig {
            pair_heads: 6,
            ..AdditiveConfig::default()
        };
        let model =
            BucketBiasModel::fit(&masks, &means, names, counts.clone(), None, &config).unwrap();
        assert_eq!(model.models.len(), 3);
        let test: Vec<Vec<bool>> = (0..200).map(|_| random_mask(&mut rng, N, 40)).collect();
        let mut pred = Vec::new();
        let mut truth = Vec::new();
        for m in &test {
            let b = model.predict_buckets(m).unwrap();
            let mbar = (10.0 * b[0] + 20.0 * b[1] + 30.0 * b[2]) / 60.0;
            let want: f64 = b.iter().map(|v| (mbar - v).abs()).sum();
            let got = model.predict(m).unwrap();
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
            pred.push(got);
            let tm: Vec<f64> = ws
                .iter()
                .enumerate()
                .map(|(b, w)| additive(w, b as f64 * 0.1, m))
                .collect();
            truth.push(bias_of(&counts, &tm));
        }
        let fit = crate::metrics::metrics(&pred, &truth).unwrap();
        assert!(fit.r2 > 0.9, "bias R^2 {}", fit.r2);

        let model = Arc::new(model);
        let mut inc = model.incremental();
        assert_eq!(inc.n_bits(), N);
        check_incremental(&mut inc, |s| model.predict(s).unwrap(), &mut rng);
        assert_eq!(inc.bucket_means().len(), 3);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let config = AdditiveConfig::default();
        let masks = vec![vec![false, true, false], vec![true, true, false]];
        assert!(matches!(
            fit_additive(&masks, &[1.0, f64::NAN], None, &config),
            Err(SurrogateError::NonFinite { row: 1, .. })
        ));
        assert!(matches!(
            fit_additive(&masks, &[1.0], None, &config),
            Err(SurrogateError::RowCountMismatch { .. })
        ));
        assert!(matches!(
            fit_additive(&[], &[], None, &config),
            Err(SurrogateError::EmptyData)
        ));
        let ragged = vec![vec![false, true, false], vec![true]];
        assert!(matches!(
            fit_additive(&ragged, &[1.0, 2.0], None, &config),
            Err(SurrogateError::MaskLength { row: 1, .. })
        ));
        assert!(fit_additive(&masks, &[1.0, 2.0], Some(&[0.0; 2]), &config).is_err());
        assert!(fit_additive(&masks, &[1.0, 2.0], Some(&[0.0, f64::NAN, 0.0]), &config).is_err());
        for bad in [
            AdditiveConfig {
                lambdas: vec![],
                ..config.clone()
            },
            AdditiveConfig {
                lambdas: vec![1.0, -1.0],
                ..config.clone()
            },
            AdditiveConfig {
                pair_penalty_factor: f64::NAN,
                ..config.clone()
            },
        ] {
            assert!(fit_additive(&masks, &[1.0, 2.0], None, &bad).is_err());
        }
        let model = fit_additive(&masks, &[1.0, 2.0], None, &config).unwrap();
        assert!(matches!(
            model.predict(&[true]),
            Err(SurrogateError::MaskLength {
                expected: 3,
                found: 1,
                ..
            })
        ));
        assert!(model.predict_sd(&[true; 4]).is_err());
        assert!(model.predict(&[true, false, false]).unwrap().is_finite());

        let names = vec!["a".to_string(), "b".to_string()];
        let means = vec![vec![1.0, 2.0], vec![1.5, f64::NAN]];
        let fit = |means: &[Vec<f64>], counts: Vec<f64>| {
            BucketBiasModel::fit(&masks, means, names.clone(), counts, None, &config)
        };
        assert!(fit(&means, vec![1.0, 1.0]).is_err());
        let good = vec![vec![1.0, 2.0], vec![1.5, 2.5]];
        assert!(fit(&good, vec![1.0]).is_err());
        assert!(fit(&good, vec![0.0, 0.0]).is_err());
        assert!(fit(&good[..1], vec![1.0, 1.0]).is_err());
        assert!(fit(&[vec![1.0], vec![2.0]], vec![1.0, 1.0]).is_err());
        let bias = fit(&good, vec![1.0, 1.0]).unwrap();
        assert!(bias.predict(&[true, false]).is_err());
        assert!(bias.predict_buckets(&[true, false, true, true]).is_err());
        assert!(bias.predict(&[true, false, true]).unwrap().is_finite());
    }

    #[test]
    fn models_round_trip_through_json() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let n = 40;
        let ws: Vec<Vec<f64>> = (0..2).map(|_| planted_weights(&mut rng, n)).collect();
        let masks: Vec<Vec<bool>> = (0..80).map(|_| random_mask(&mut rng, n, 15)).collect();
        let means: Vec<Vec<f64>> = masks
            .iter()
            .map(|m| {
                ws.iter()
                    .map(|w| additive(w, 1.0, m) + 0.01 * gauss(&mut rng))
                    .collect()
            })
            .collect();
        let config = AdditiveConfig {
            pair_heads: 4,
            ..AdditiveConfig::default()
        };
        let names = vec!["x".to_string(), "y".to_string()];
        let bias =
            BucketBiasModel::fit(&masks, &means, names, vec![3.0, 5.0], None, &config).unwrap();
        let single = bias.models[0].clone();
        let s: AdditiveModel =
            serde_json::from_str(&serde_json::to_string(&single).unwrap()).unwrap();
        assert_eq!(s, single);
        let b: BucketBiasModel =
            serde_json::from_str(&serde_json::to_string(&bias).unwrap()).unwrap();
        assert_eq!(b, bias);
        let c: AdditiveConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(c, config);
        for m in &masks[..10] {
            assert_eq!(s.predict(m).unwrap(), single.predict(m).unwrap());
            assert_eq!(s.predict_sd(m).unwrap(), single.predict_sd(m).unwrap());
            assert_eq!(b.predict(m).unwrap(), bias.predict(m).unwrap());
        }
    }

    /// Timing of a realistic fit (n = 270, ~600 rows, 9 lambdas, 5 folds, 12 pair heads).
    #[test]
    fn fit_timing_270_bits_600_rows() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let w = planted_weights(&mut rng, N);
        let masks = training_masks(&mut rng, N, 330);
        let y: Vec<f64> = masks
            .iter()
            .map(|m| additive(&w, 2.5, m) + 0.01 * gauss(&mut rng))
            .collect();
        let start = std::time::Instant::now();
        let model = fit_additive(&masks, &y, None, &AdditiveConfig::default()).unwrap();
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "fit_additive: n_bits {N}, rows {}, p {}: {secs:.3} s (lambda {})",
            masks.len(),
            N + model.pairs.len(),
            model.lambda
        );
        assert!(secs < 30.0, "fit took {secs} s");
    }
}
