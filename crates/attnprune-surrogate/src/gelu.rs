//! Table-based GELU for the fast path: linear interpolation in a table of exact values.

use crate::config::Activation;

/// Table covers `[-RANGE, RANGE]`; outside it GELU is `0` (left) or `x` (right) to f32 precision.
const RANGE: f32 = 10.0;
/// Table points per unit of `x` (interpolation error <= h^2/8 * max|gelu''| ~ 4e-7).
const PER_UNIT: f32 = 512.0;
/// Index of the last table point.
const LAST: usize = (2.0 * RANGE * PER_UNIT) as usize;

/// Exact GELU values on a uniform grid, computed in f64.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GeluTable {
    values: Vec<f32>,
}

impl GeluTable {
    /// Builds the table (`LAST + 1` points).
    pub(crate) fn new() -> Self {
        let values = (0..=LAST)
            .map(|k| {
                let x = f64::from(-RANGE) + k as f64 / f64::from(PER_UNIT);
                (0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))) as f32
            })
            .collect();
        Self { values }
    }

    /// An empty table for models that do not use GELU ([`eval`](Self::eval) then computes exactly).
    pub(crate) fn empty() -> Self {
        Self { values: Vec::new() }
    }

    /// GELU of `x` by linear interpolation (NaN stays NaN).
    #[inline]
    pub(crate) fn eval(&self, x: f32) -> f32 {
        let pos = (x + RANGE) * PER_UNIT;
        if pos >= 0.0 && pos < LAST as f32 {
            let i = pos as usize;
            let frac = pos - i as f32;
            match (self.values.get(i), self.values.get(i + 1)) {
                (Some(&a), Some(&b)) => a + frac * (b - a),
                _ => Activation::Gelu.apply(x),
            }
        } else if x > 0.0 {
            x
        } else if x <= 0.0 {
            0.0
        } else {
            x
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_exact_gelu() {
        let table = GeluTable::new();
        let mut worst = 0.0f32;
        for k in -40_000..=40_000 {
            let x = k as f32 * 0.000_37;
            worst = worst.max((table.eval(x) - Activation::Gelu.apply(x)).abs());
        }
        assert!(worst < 2e-6, "max error {worst}");
        assert_eq!(table.eval(50.0), 50.0);
        assert_eq!(table.eval(-50.0), 0.0);
        assert!(table.eval(f32::NAN).is_nan());
    }
}
