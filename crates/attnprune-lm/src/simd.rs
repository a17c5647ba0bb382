//! The SIMD level of the CPU kernels ([`crate::kernels`], [`crate::packed`],
//! [`crate::exp`]).
//!
//! By default the kernels run at the best level the machine has (AVX-512,
//! else AVX2 with FMA, else scalar), chosen at run time, so one binary runs
//! on any x86-64. The environment variable [`SIMD_ENV`] caps the level:
//! `avx2` runs the AVX2 code path on an AVX-512 machine (how `make bench
//! BENCH_SIMD=avx2` times the AVX2 kernels, side by side with PyTorch capped
//! the same way, when no AVX2-only machine is at hand), `scalar` the plain
//! one. A level the machine lacks falls back to the best one below it. The
//! matrix products, `exp` and the normalisations give the same bits at every
//! level; the attention's dot products sum their lanes in a width-dependent
//! order (within rounding).

use std::sync::OnceLock;

/// The environment variable that caps the kernels' SIMD level: `auto`
/// (default), `avx512`, `avx2` or `scalar`.
pub const SIMD_ENV: &str = "ATTNPRUNE_SIMD";

/// The level the kernels run at, read once per process.
static ARCH: OnceLock<(pulp::Arch, &'static str)> = OnceLock::new();

/// The dispatcher of the kernels' SIMD code at the chosen level.
#[inline]
pub fn arch() -> pulp::Arch {
    chosen().0
}

/// The level the kernels run at: `avx512`, `avx2` or `scalar` (for logs
/// and benchmark records).
pub fn level() -> &'static str {
    chosen().1
}

fn chosen() -> (pulp::Arch, &'static str) {
    *ARCH.get_or_init(|| {
        let wanted = std::env::var(SIMD_ENV).unwrap_or_default();
        let cap = match wanted.trim().to_ascii_lowercase().as_str() {
            "" | "auto" | "avx512" => 2,
            "avx2" => 1,
            "scalar" => 0,
            other => {
                log::warn!(
                    "{SIMD_ENV}={other:?} is not one of auto, avx512, avx2, scalar: \
                     using the best level the machine has"
                );
                2
            }
        };
        best_up_to(cap)
    })
}

/// The best level at or below `cap` (2 = AVX-512, 1 = AVX2, 0 = scalar).
fn best_up_to(cap: u8) -> (pulp::Arch, &'static str) {
    #[cfg(target_arch = "x86_64")]
    {
        if cap >= 2 {
            if let Some(simd) = pulp::x86::V4::try_new() {
                return (pulp::Arch::V4(simd), "avx512");
            }
        }
        if cap >= 1 {
            if let Some(simd) = pulp::x86::V3::try_new() {
                return (pulp::Arch::V3(simd), "avx2");
            }
        }
        (pulp::Arch::Scalar, "scalar")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cap;
        (pulp::Arch::new(), "native")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_cap_never_picks_a_higher_level() {
        let rank = |name: &str| match name {
            "avx512" => 2,
            "avx2" => 1,
            _ => 0,
        };
        for cap in 0..=2u8 {
            let (_, name) = best_up_to(cap);
            assert!(rank(name) <= cap, "cap {cap} chose {name}");
        }
        assert_eq!(best_up_to(0).1, "scalar");
    }
}
