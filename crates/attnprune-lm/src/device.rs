//! Choosing where the model runs: `--device cpu|cuda[:N]|wgpu|wgpu-gl`.
//!
//! Stages are written once, generic over the burn backend, as an
//! [`OnDevice`] task; [`run_on_device`] instantiates it for the CPU backend
//! (`flex`), in a build with the `cuda` feature for burn-cuda, and in a build
//! with the `wgpu` feature for burn-wgpu.

use crate::LmError;
use burn::tensor::backend::Backend;
use std::fmt;
use std::str::FromStr;

/// A device named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The CPU backend, all cores.
    #[default]
    Cpu,
    /// NVIDIA GPU number N through burn-cuda.
    Cuda(usize),
    /// burn-wgpu on its default graphics API (Vulkan on Linux).
    Wgpu,
    /// burn-wgpu on OpenGL. With Mesa's llvmpipe this runs burn's CubeCL
    /// kernels (the GPU code path) on the CPU: a check without a GPU.
    WgpuGl,
}

impl FromStr for DeviceSpec {
    type Err = LmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            LmError::Usage(format!(
                "unknown device `{s}`: use `cpu`, `cuda`, `cuda:N`, `wgpu` or `wgpu-gl`"
            ))
        };
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            "wgpu" => Ok(Self::Wgpu),
            "wgpu-gl" => Ok(Self::WgpuGl),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(bad),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Wgpu => write!(f, "wgpu"),
            Self::WgpuGl => write!(f, "wgpu-gl"),
        }
    }
}

/// The number format the model computes in (`--precision`).
///
/// `bf16` stores weights and activations in bfloat16 and keeps f32 where
/// rounding would accumulate: RMSNorm's mean of squares, the attention
/// softmax and the log-probabilities (logits leave the model as f32), as
/// transformers does in bf16. It is the GPU's fast path (tensor cores); on the
/// CPU it runs burn's generic ops (the fused kernels are f32 only) and serves
/// to check its numbers without a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// 32-bit floats everywhere (the reference; the CPU's fused kernels).
    #[default]
    F32,
    /// bfloat16 weights and activations, f32 accumulation where it matters.
    Bf16,
}

impl FromStr for Precision {
    type Err = LmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            _ => Err(LmError::Usage(format!(
                "unknown precision `{s}`: use `f32` or `bf16`"
            ))),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::F32 => write!(f, "f32"),
            Self::Bf16 => write!(f, "bf16"),
        }
    }
}

/// How burn's generic path (the GPU; bf16 on the CPU) computes attention
/// (`--attention`). The CPU's fused f32 kernels have their own and ignore it.
///
/// The two differ in speed, and in bf16 by rounding: `Eager` spells the
/// attention out as separate ops, `Backend` hands it to one op of the backend,
/// which on burn-cuda with autotuning (`--features cuda-tuned`) may be flash
/// attention (one kernel, f32 accumulation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionOp {
    /// `Backend` in f32, `Eager` in bf16 (burn-cuda's op without autotuning
    /// runs its softmax in the input format).
    #[default]
    Auto,
    /// Separate burn ops: q·kᵀ, the scaled and masked softmax in f32, then ·v,
    /// as transformers' eager attention does in bf16.
    Eager,
    /// The backend's attention op (`burn::tensor::module::attention`):
    /// burn-flex computes it in f32; burn-cuda autotunes between flash attention
    /// and a fallback of separate kernels when built with `cuda-tuned`.
    Backend,
}

impl AttentionOp {
    /// The op a model in `precision` runs: `Auto` resolved.
    pub fn resolve(self, precision: Precision) -> Self {
        match (self, precision) {
            (Self::Auto, Precision::F32) => Self::Backend,
            (Self::Auto, Precision::Bf16) => Self::Eager,
            (op, _) => op,
        }
    }
}

impl FromStr for AttentionOp {
    type Err = LmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "eager" => Ok(Self::Eager),
            "backend" => Ok(Self::Backend),
            _ => Err(LmError::Usage(format!(
                "unknown attention op `{s}`: use `auto`, `eager` or `backend`"
            ))),
        }
    }
}

impl fmt::Display for AttentionOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => write!(f, "auto"),
            Self::Eager => write!(f, "eager"),
            Self::Backend => write!(f, "backend"),
        }
    }
}

/// Work that runs on any burn backend.
pub trait OnDevice {
    /// What the work returns.
    type Output;
    /// Runs the work on `device` of backend `B`.
    fn run<B: Backend>(self, device: B::Device) -> Self::Output;
}

/// The CPU backend.
pub type CpuBackend = burn::backend::Flex;

/// Whether `B` is the CPU backend. Work for any other backend (a GPU) should
/// stay on the thread that created the model's tensors: burn-cuda gives every
/// thread its own stream with its own memory pools, and tensors used across
/// streams by short-lived threads made cubecl 0.10 lose track of their memory
/// (BENCHMARKS.md, "GPU in bf16").
pub fn is_cpu_backend<B: Backend>() -> bool {
    crate::model::is_cpu_backend::<B>()
}

/// Runs `task` on the device `spec` names. Asking for CUDA from a build
/// without the `cuda` feature, or on a machine without a usable GPU, is an
/// error, not a panic.
pub fn run_on_device<T: OnDevice>(spec: DeviceSpec, task: T) -> Result<T::Output, LmError> {
    match spec {
        DeviceSpec::Cpu => Ok(task.run::<CpuBackend>(Default::default())),
        DeviceSpec::Cuda(index) => run_cuda(index, task),
        DeviceSpec::Wgpu => run_wgpu(false, task),
        DeviceSpec::WgpuGl => run_wgpu(true, task),
    }
}

/// Fails early, before any heavy loading, when `spec` cannot work in this build
/// or cannot compute in `precision` (wgpu's shader languages have no bfloat16).
pub fn check_device(spec: DeviceSpec, precision: Precision) -> Result<(), LmError> {
    if matches!(spec, DeviceSpec::Wgpu | DeviceSpec::WgpuGl) && precision != Precision::F32 {
        return Err(LmError::Usage(format!(
            "--precision {precision} is not available on --device {spec}: wgpu's shaders have no bfloat16; use f32"
        )));
    }
    match spec {
        DeviceSpec::Cpu => Ok(()),
        DeviceSpec::Cuda(_) if cfg!(feature = "cuda") => Ok(()),
        DeviceSpec::Cuda(_) => Err(not_built("CUDA", "cuda")),
        DeviceSpec::Wgpu | DeviceSpec::WgpuGl if cfg!(feature = "wgpu") => Ok(()),
        DeviceSpec::Wgpu | DeviceSpec::WgpuGl => Err(not_built("wgpu", "wgpu")),
    }
}

/// Runs `task` on burn-wgpu, on OpenGL when `gl` is set. A machine without a
/// usable adapter gets an error, not a panic. The runtime is set up once per
/// process (cubecl refuses a second setup); later tasks reuse it.
#[cfg(feature = "wgpu")]
fn run_wgpu<T: OnDevice>(gl: bool, task: T) -> Result<T::Output, LmError> {
    use burn::backend::wgpu::graphics::{AutoGraphicsApi, OpenGl};
    use burn::backend::wgpu::{init_setup, Wgpu, WgpuDevice};
    use std::sync::OnceLock;
    // The graphics API set up first, with its adapter or why there is none.
    static SETUP: OnceLock<(bool, Result<(), String>)> = OnceLock::new();
    let device = WgpuDevice::DefaultDevice;
    let (set_up_gl, adapter) = SETUP.get_or_init(|| {
        let api = if gl { "OpenGL" } else { "the default graphics API" };
        let setup = std::panic::catch_unwind(|| {
            if gl {
                init_setup::<OpenGl>(&device, Default::default())
            } else {
                init_setup::<AutoGraphicsApi>(&device, Default::default())
            }
        });
        let adapter = match setup {
            Ok(setup) => {
                let info = setup.adapter.get_info();
                log::info!(
                    "wgpu adapter: {} ({:?}, {})",
                    info.name,
                    info.backend,
                    info.driver_info
                );
                Ok(())
            }
            Err(_) => Err(format!(
                "wgpu found no adapter on {api} (no GPU or driver; for OpenGL on the CPU, Mesa's llvmpipe)"
            )),
        };
        (gl, adapter)
    });
    if *set_up_gl != gl {
        return Err(LmError::Device(
            "wgpu was already set up on the other graphics API in this process".into(),
        ));
    }
    match adapter {
        Ok(()) => Ok(task.run::<Wgpu>(device)),
        Err(why) => Err(LmError::Device(why.clone())),
    }
}

#[cfg(not(feature = "wgpu"))]
fn run_wgpu<T: OnDevice>(_gl: bool, _task: T) -> Result<T::Output, LmError> {
    Err(not_built("wgpu", "wgpu"))
}

/// The error for a device whose backend (`what`) this build left out.
fn not_built(what: &str, feature: &str) -> LmError {
    LmError::Device(format!(
        "this binary was built without {what}; rebuild with `--features {feature}` (or use --device cpu)"
    ))
}

#[cfg(feature = "cuda")]
fn run_cuda<T: OnDevice>(index: usize, task: T) -> Result<T::Output, LmError> {
    use burn::backend::cuda::CudaDevice;
    use burn::backend::Cuda;
    let device = CudaDevice::new(index);
    let probe = std::panic::catch_unwind(|| {
        let t = burn::tensor::Tensor::<Cuda, 1>::from_floats([1.0f32, 2.0], &device);
        t.sum().into_scalar()
    });
    // A missing driver or GPU shows up as a panic inside the runtime's first use.
    if probe.is_err() {
        return Err(LmError::Device(format!(
            "CUDA device {index} could not be used (no NVIDIA GPU or driver found?)"
        )));
    }
    Ok(task.run::<Cuda>(device))
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<T: OnDevice>(_index: usize, _task: T) -> Result<T::Output, LmError> {
    Err(not_built("CUDA", "cuda"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        for spec in [DeviceSpec::Wgpu, DeviceSpec::WgpuGl] {
            assert_eq!(spec.to_string().parse::<DeviceSpec>().unwrap(), spec);
        }
        assert!("gpu".parse::<DeviceSpec>().is_err());
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
    }

    #[test]
    fn parses_precisions() {
        assert_eq!("f32".parse::<Precision>().unwrap(), Precision::F32);
        assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
        let err = "fp16".parse::<Precision>().unwrap_err().to_string();
        assert!(err.contains("`f32` or `bf16`"), "{err}");
        assert_eq!(Precision::Bf16.to_string(), "bf16");
    }

    #[test]
    fn attention_op_parses_prints_and_resolves() {
        for op in [AttentionOp::Auto, AttentionOp::Eager, AttentionOp::Backend] {
            assert_eq!(op.to_string().parse::<AttentionOp>().unwrap(), op);
        }
        let err = "flash".parse::<AttentionOp>().unwrap_err().to_string();
        assert!(err.contains("`flash`"), "{err}");
        assert_eq!(
            AttentionOp::Auto.resolve(Precision::F32),
            AttentionOp::Backend
        );
        assert_eq!(
            AttentionOp::Auto.resolve(Precision::Bf16),
            AttentionOp::Eager
        );
        assert_eq!(
            AttentionOp::Backend.resolve(Precision::Bf16),
            AttentionOp::Backend
        );
        assert_eq!(
            AttentionOp::Eager.resolve(Precision::F32),
            AttentionOp::Eager
        );
    }

    /// A task that does nothing: what a build without a backend must refuse.
    #[cfg(any(not(feature = "cuda"), not(feature = "wgpu")))]
    struct Nothing;
    #[cfg(any(not(feature = "cuda"), not(feature = "wgpu")))]
    impl OnDevice for Nothing {
        type Output = ();
        fn run<B: Backend>(self, _device: B::Device) {}
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_an_error() {
        let err = run_on_device(DeviceSpec::Cuda(0), Nothing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }

    #[cfg(not(feature = "wgpu"))]
    #[test]
    fn wgpu_without_the_feature_is_an_error() {
        for spec in [DeviceSpec::Wgpu, DeviceSpec::WgpuGl] {
            let err = run_on_device(spec, Nothing).unwrap_err().to_string();
            assert!(err.contains("--features wgpu"), "{err}");
            assert!(check_device(spec, Precision::F32).is_err());
            let bf16 = check_device(spec, Precision::Bf16).unwrap_err().to_string();
            assert!(bf16.contains("bfloat16"), "{bf16}");
        }
    }
}
