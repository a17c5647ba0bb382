//! [`crate::cube`] in a build without a GPU backend: no kernel is available,
//! so every caller runs burn's generic ops.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

/// Never: this build has no CubeCL backend (`B` is kept for the same call as
/// with one).
#[allow(clippy::extra_unused_type_parameters)]
pub(crate) fn available<B: Backend>() -> bool {
    false
}

/// `None`: the generic RMSNorm runs.
pub(crate) fn rms_norm<B: Backend>(
    _x: Tensor<B, 2>,
    _weight: &Tensor<B, 1>,
    _eps: f64,
) -> Option<Tensor<B, 2>> {
    None
}

/// `None`: the generic rotary embedding runs.
pub(crate) fn rotary<B: Backend>(
    _x: Tensor<B, 3>,
    _cos: &Tensor<B, 3>,
    _sin: &Tensor<B, 3>,
) -> Option<Tensor<B, 3>> {
    None
}

/// `None`: the generic SwiGLU runs.
pub(crate) fn swiglu<B: Backend>(_gate: Tensor<B, 2>, _up: Tensor<B, 2>) -> Option<Tensor<B, 2>> {
    None
}

/// `None`: the generic masked softmax runs.
pub(crate) fn masked_softmax<B: Backend>(
    _scores: Tensor<B, 4>,
    _mask: &Tensor<B, 4, Bool>,
    _scale: f32,
) -> Option<Tensor<B, 4>> {
    None
}
