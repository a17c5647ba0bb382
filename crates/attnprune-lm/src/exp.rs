//! `exp` for the CPU kernels, one vector at a time.
//!
//! The fused CPU path calls `exp` once per attention score, once per SwiGLU
//! element and once per vocabulary entry of every scored position: tens of
//! millions of calls per forward pass. The C library's `expf` is one scalar
//! call each (5–7% of a prefill's or an evaluation's time in the profiles of
//! BENCHMARKS.md). [`exp_f32s`] computes a whole vector with the same few
//! fused multiply-adds per lane; [`exp`] is the same computation on one
//! value, so a scalar tail or a reference gives the same bits as the vector
//! body, on every SIMD level.
//!
//! The method is Cephes' `expf`: `x = n ln 2 + r` with `n` the nearest
//! integer to `x / ln 2` and `|r| ≤ ln 2 / 2`, `e^r` from a degree-7
//! polynomial, and `2^n` put straight into the exponent bits. The error is
//! at most 1.01 units in the last place of the exact value over the normal
//! range (every third `f32` checked once; the unit test checks every 97th
//! against 1.5). Results below the smallest normal `f32` (`x <
//! -87.336`) are flushed to 0 rather than made subnormal; above
//! [`MAX_ARGUMENT`] (88.376, where the exact value is 2.7e38, so within a
//! factor 1.3 of `f32::MAX`) the result is `+inf`. Neither end matters to a
//! softmax (arguments ≤ 0) or to SiLU (`exp(-g)` overflowing makes
//! `silu(g)` a signed zero instead of about `-1e-37`).

use pulp::Simd;

/// `log2(e)`.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split in two for an exact `x - n ln 2`: a high part with few
/// significant bits (so `n * LN2_HI` is exact) and the rest.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Added to `x log2(e)` to round it to an integer in the low mantissa bits
/// (`1.5 * 2^23`: any value within ±2^22 of it has an ulp of 1).
const ROUNDER: f32 = 12_582_912.0;
/// The bits of [`ROUNDER`] less the exponent bias: subtracted from the bits
/// of `x log2(e) + ROUNDER` to give `n + 127`, the biased exponent of `2^n`.
const ROUNDER_BITS_LESS_BIAS: u32 = 0x4B40_0000 - 127;
/// Largest argument with a finite result (Cephes' `MAXLOGF`).
pub const MAX_ARGUMENT: f32 = 88.376_26;
/// Smallest argument with a normal result (`ln(f32::MIN_POSITIVE)`); below
/// it the result is 0.
pub const MIN_ARGUMENT: f32 = -87.336_54;
/// Cephes' coefficients of `(e^r - 1 - r) / r^2`, highest degree first.
const POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// `e^x` of every lane of `x` (see the module docs for the accuracy and the
/// ends of the range). NaN lanes stay NaN.
#[inline(always)]
pub fn exp_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let clamped = simd.max_f32s(
        simd.min_f32s(x, simd.splat_f32s(MAX_ARGUMENT)),
        simd.splat_f32s(MIN_ARGUMENT),
    );
    let shifted = simd.mul_add_f32s(clamped, simd.splat_f32s(LOG2_E), simd.splat_f32s(ROUNDER));
    let n = simd.sub_f32s(shifted, simd.splat_f32s(ROUNDER));
    let r = simd.mul_add_f32s(simd.neg_f32s(n), simd.splat_f32s(LN2_HI), clamped);
    let r = simd.mul_add_f32s(simd.neg_f32s(n), simd.splat_f32s(LN2_LO), r);
    let mut p = simd.splat_f32s(POLY[0]);
    for &c in &POLY[1..] {
        p = simd.mul_add_f32s(p, r, simd.splat_f32s(c));
    }
    let r2 = simd.mul_f32s(r, r);
    let e_r = simd.add_f32s(simd.mul_add_f32s(p, r2, r), simd.splat_f32s(1.0));
    let biased = simd.sub_u32s(
        simd.transmute_u32s_f32s(shifted),
        simd.splat_u32s(ROUNDER_BITS_LESS_BIAS),
    );
    let two_n = simd.transmute_f32s_u32s(simd.wrapping_dyn_shl_u32s(biased, simd.splat_u32s(23)));
    let value = simd.mul_f32s(e_r, two_n);
    let value = simd.select_f32s(
        simd.greater_than_f32s(x, simd.splat_f32s(MAX_ARGUMENT)),
        simd.splat_f32s(f32::INFINITY),
        value,
    );
    let value = simd.select_f32s(
        simd.less_than_f32s(x, simd.splat_f32s(MIN_ARGUMENT)),
        simd.splat_f32s(0.0),
        value,
    );
    // NaN compares unequal to itself: those lanes keep `x`.
    simd.select_f32s(simd.equal_f32s(x, x), value, x)
}

/// [`exp_f32s`] of one value: the same operations in the same order, so the
/// same bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > MAX_ARGUMENT {
        return f32::INFINITY;
    }
    if x < MIN_ARGUMENT {
        return 0.0;
    }
    let shifted = x.mul_add(LOG2_E, ROUNDER);
    let n = shifted - ROUNDER;
    let r = (-n).mul_add(LN2_HI, x);
    let r = (-n).mul_add(LN2_LO, r);
    let p = POLY[1..].iter().fold(POLY[0], |p, &c| p.mul_add(r, c));
    let e_r = p.mul_add(r * r, r) + 1.0;
    let biased = shifted.to_bits().wrapping_sub(ROUNDER_BITS_LESS_BIAS);
    e_r * f32::from_bits(biased << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units in the last place between `got` and the exact `e^x`.
    fn ulps(got: f32, x: f32) -> f64 {
        let exact = (x as f64).exp();
        let ulp = f64::from(f32::EPSILON) * 2f64.powi(exact.log2().floor() as i32);
        (got as f64 - exact).abs() / ulp
    }

    /// Every `step`-th `f32` from `lo` to `hi` (by bits, so every binade
    /// is covered alike).
    fn sweep(lo: f32, hi: f32, step: usize) -> Vec<f32> {
        let mut values = Vec::new();
        let mut x = lo;
        while x < hi {
            values.push(x);
            x = if x < 0.0 {
                f32::from_bits(x.to_bits().saturating_sub(step as u32)).min(-0.0)
            } else {
                f32::from_bits(x.to_bits() + step as u32)
            };
            if x == -0.0 {
                x = 0.0;
            }
        }
        values
    }

    #[test]
    fn within_one_and_a_half_ulps_of_the_exact_value_over_the_normal_range() {
        let mut worst = (0.0f64, 0.0f32);
        for x in sweep(MIN_ARGUMENT, MAX_ARGUMENT, 97) {
            let u = ulps(exp(x), x);
            if u > worst.0 {
                worst = (u, x);
            }
        }
        assert!(worst.0 <= 1.5, "{} ulps at x = {}", worst.0, worst.1);
    }

    #[test]
    fn ends_of_the_range_and_special_values() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert!(exp(MAX_ARGUMENT).is_finite());
        assert!(exp(MIN_ARGUMENT) >= f32::MIN_POSITIVE);
        assert!(exp(f32::NAN).is_nan());
        assert!((exp(1.0) - std::f32::consts::E).abs() <= f32::EPSILON * 4.0);
    }

    /// The vector body on `simd`, lane by lane, of `xs`.
    fn vector_exp<S: Simd>(simd: S, xs: &[f32]) -> Vec<f32> {
        struct Run<'a>(&'a [f32]);
        impl pulp::WithSimd for Run<'_> {
            type Output = Vec<f32>;
            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) -> Vec<f32> {
                let mut out = self.0.to_vec();
                let (body, tail) = S::as_mut_simd_f32s(&mut out);
                for v in body {
                    *v = exp_f32s(simd, *v);
                }
                for x in tail {
                    *x = exp(*x);
                }
                out
            }
        }
        simd.vectorize(Run(xs))
    }

    #[test]
    fn every_simd_level_gives_the_scalar_bits() {
        let mut xs = sweep(-90.0, 90.0, 4099);
        xs.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            MAX_ARGUMENT,
            MIN_ARGUMENT,
        ]);
        let want: Vec<u32> = xs.iter().map(|&x| exp(x).to_bits()).collect();
        let check = |got: Vec<f32>, level: &str| {
            let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
            let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 0, "{level}: {differ} of {} values differ", xs.len());
        };
        check(vector_exp(pulp::Scalar, &xs), "scalar");
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(simd) = pulp::x86::V3::try_new() {
                check(vector_exp(simd, &xs), "AVX2");
            }
            if let Some(simd) = pulp::x86::V4::try_new() {
                check(vector_exp(simd, &xs), "AVX-512");
            }
        }
    }
}
