//! ggml tensor element types and their block layouts.

use std::fmt;

/// A ggml tensor type: the ones this crate dequantizes, plus a catch-all
/// holding the numeric id of any other type.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float (id 0).
    F32,
    /// IEEE half float (id 1).
    F16,
    /// bfloat16 (id 30).
    BF16,
    /// 4-bit, blocks of 32 with one f16 scale (id 2).
    Q4_0,
    /// 4-bit, blocks of 32 with f16 scale and minimum (id 3).
    Q4_1,
    /// 5-bit, blocks of 32 with one f16 scale (id 6).
    Q5_0,
    /// 5-bit, blocks of 32 with f16 scale and minimum (id 7).
    Q5_1,
    /// 8-bit, blocks of 32 with one f16 scale (id 8).
    Q8_0,
    /// 4-bit k-quant, super-blocks of 256 (id 12).
    Q4K,
    /// 5-bit k-quant, super-blocks of 256 (id 13).
    Q5K,
    /// 6-bit k-quant, super-blocks of 256 (id 14).
    Q6K,
    /// Any other ggml type id (known to ggml or not); cannot be dequantized here.
    Unsupported(u32),
}

/// ggml type names indexed by id (empty string: id never assigned).
const NAMES: [&str; 42] = [
    "F32",
    "F16",
    "Q4_0",
    "Q4_1",
    "Q4_2",
    "Q4_3",
    "Q5_0",
    "Q5_1",
    "Q8_0",
    "Q8_1", // 0-9
    "Q2_K",
    "Q3_K",
    "Q4_K",
    "Q5_K",
    "Q6_K",
    "Q8_K",
    "IQ2_XXS",
    "IQ2_XS",
    "IQ3_XXS",
    "IQ1_S", // 10-19
    "IQ4_NL",
    "IQ3_S",
    "IQ2_S",
    "IQ4_XS",
    "I8",
    "I16",
    "I32",
    "I64",
    "F64",
    "IQ1_M", // 20-29
    "BF16",
    "Q4_0_4_4",
    "Q4_0_4_8",
    "Q4_0_8_8",
    "TQ1_0",
    "TQ2_0",
    "IQ4_NL_4_4",
    "IQ4_NL_4_8",
    "IQ4_NL_8_8",
    "MXFP4", // 30-39
    "NVFP4",
    "Q1_0", // 40-41
];

/// (elements per block, bytes per block) by type id; `(0, 0)` where the
/// layout is unknown or disputed (types removed from ggml, and Q8_1, an
/// internal type whose size differs between ggml and gguf-py).
const LAYOUTS: [(u64, u64); 42] = [
    (1, 4),
    (1, 2),
    (32, 18),
    (32, 20),
    (0, 0),
    (0, 0),
    (32, 22),
    (32, 24),
    (32, 34),
    (0, 0),
    (256, 84),
    (256, 110),
    (256, 144),
    (256, 176),
    (256, 210),
    (256, 292),
    (256, 66),
    (256, 74),
    (256, 98),
    (256, 50),
    (32, 18),
    (256, 110),
    (256, 82),
    (256, 136),
    (1, 1),
    (1, 2),
    (1, 4),
    (1, 8),
    (1, 8),
    (256, 56),
    (1, 2),
    (0, 0),
    (0, 0),
    (0, 0),
    (256, 54),
    (256, 66),
    (0, 0),
    (0, 0),
    (0, 0),
    (32, 17),
    (64, 36),
    (128, 18),
];

impl GgmlType {
    /// Map a numeric ggml type id to a type.
    pub fn from_id(id: u32) -> GgmlType {
        match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            30 => GgmlType::BF16,
            other => GgmlType::Unsupported(other),
        }
    }

    /// The numeric ggml type id, as stored in GGUF.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q4K => 12,
            GgmlType::Q5K => 13,
            GgmlType::Q6K => 14,
            GgmlType::BF16 => 30,
            GgmlType::Unsupported(id) => id,
        }
    }

    /// ggml's name for the type (`Q4_K`, `IQ2_XXS`, ...), or `unknown`.
    pub fn name(self) -> &'static str {
        usize::try_from(self.id())
            .ok()
            .and_then(|i| NAMES.get(i))
            .copied()
            .unwrap_or("unknown")
    }

    /// Whether [`crate::GgufFile::dequantize`] supports this type.
    pub fn is_supported(self) -> bool {
        !matches!(self, GgmlType::Unsupported(_))
    }

    /// `(elements per block, bytes per block)`, or `None` if the layout of
    /// this type id is unknown.
    pub fn block_layout(self) -> Option<(u64, u64)> {
        let i = usize::try_from(self.id()).ok()?;
        LAYOUTS.get(i).copied().filter(|&(n, _)| n > 0)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GgmlType::Unsupported(id) if self.name() == "unknown" => write!(f, "unknown({id})"),
            _ => f.write_str(self.name()),
        }
    }
}
