//! The bias surrogate's target transform: ln of the bias with a floor, and its inverse. It
//! travels with the surrogates (the floor is recorded in their provenance), so every reader
//! of a bias surrogate maps its output back the same way.

/// The bias surrogate's training target: ln(max(bias, floor)). A bias is a sum of
/// absolute differences, never negative, and skewed (most masks near the unpruned value,
/// a few far above); fitted in log space the surrogate cannot predict a negative bias for
/// `anneal` to chase, and the rare large values do not dominate the fit. `floor` (see
/// [`bias_floor`]) keeps a bias of exactly 0 finite.
pub fn bias_target(bias: f64, floor: f64) -> f64 {
    bias.max(floor).ln()
}

/// The floor of [`bias_target`] for a table: a thousandth of its median bias (so the
/// floor sits far below every bias the table measured, whatever the model's scale),
/// or the smallest positive f64 when the median is 0.
pub fn bias_floor(biases: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = biases.iter().copied().filter(|b| b.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    (median * 1e-3).max(f64::MIN_POSITIVE)
}

/// The transform as the surrogates' provenance records it (`settings.bias_target`), so a
/// reader maps the bias surrogate's output back the way it was trained.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BiasTargetTransform {
    /// The formula, `ln(max(bias, floor))`.
    pub transform: String,
    /// The floor of [`bias_target`].
    pub floor: f64,
    /// The bias scale the target is on (`logit` or `prob`).
    pub scale: String,
}

impl BiasTargetTransform {
    /// The record of [`bias_target`] with `floor`, on `scale`.
    pub fn new(floor: f64, scale: &str) -> Self {
        Self {
            transform: "ln(max(bias, floor))".into(),
            floor,
            scale: scale.into(),
        }
    }
}

/// The inverse of [`bias_target`] for predictions: `exp(target)`.
pub fn bias_from_target(target: f64) -> f64 {
    target.exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_and_floor() {
        assert_eq!(bias_floor(&[2.0, 1.0, 3.0]), 2e-3);
        assert_eq!(bias_floor(&[0.0, 0.0]), f64::MIN_POSITIVE);
        assert!((bias_from_target(bias_target(0.25, 1e-3)) - 0.25).abs() < 1e-15);
        assert_eq!(bias_target(0.0, 1e-3), 1e-3f64.ln());
    }
}
