//! The tensor table: names, shapes, types and data offsets.

use std::collections::HashSet;

use crate::cursor::{capped, utf8, Cursor};
use crate::error::GgufError;
use crate::types::GgmlType;

/// ggml's maximum number of tensor dimensions.
pub const MAX_DIMS: u32 = 4;

/// Smallest encoded size of one tensor-table entry (empty name, no dims).
const MIN_INFO_SIZE: u64 = 8 + 4 + 4 + 8;

/// Description of one tensor stored in a GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in GGUF order: `dims[0]` varies fastest.
    pub dims: Vec<u64>,
    /// Element type of the stored data.
    pub dtype: GgmlType,
    /// Byte offset of the data relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Shape in row-major (PyTorch) order, i.e. `dims` reversed.
    ///
    /// Dimensions were validated to fit `usize` when the file was parsed.
    pub fn shape(&self) -> Vec<usize> {
        self.dims
            .iter()
            .rev()
            .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
            .collect()
    }

    /// Number of elements (product of dims; 1 for a zero-dimensional tensor).
    ///
    /// Saturates instead of overflowing; parsed files are validated so this
    /// is exact for every tensor of a [`crate::GgufFile`].
    pub fn num_elements(&self) -> usize {
        let n = self.checked_elements().unwrap_or(u64::MAX);
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// Size of the stored data in bytes, or `None` if the type's layout is
    /// unknown or the size overflows.
    pub fn byte_size(&self) -> Option<u64> {
        let (block, bytes) = self.dtype.block_layout()?;
        let n = self.checked_elements()?;
        (n / block).checked_mul(bytes)
    }

    /// Element count with overflow detection.
    fn checked_elements(&self) -> Option<u64> {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// Check dimensions and block divisibility (independent of the file layout).
    pub(crate) fn validate_shape(&self) -> Result<(), GgufError> {
        let overflow = || GgufError::SizeOverflow {
            name: self.name.clone(),
            dims: self.dims.clone(),
        };
        let n = self.checked_elements().ok_or_else(overflow)?;
        if n > i64::MAX as u64 || usize::try_from(n).is_err() {
            return Err(overflow());
        }
        let Some((block, _)) = self.dtype.block_layout() else {
            return Ok(());
        };
        let row_len = self.dims.first().copied().unwrap_or(1);
        if !row_len.is_multiple_of(block) {
            return Err(GgufError::NotBlockMultiple {
                name: self.name.clone(),
                dtype: self.dtype.name(),
                row_len,
                block,
            });
        }
        self.byte_size().map(|_| ()).ok_or_else(overflow)
    }
}

/// Parse `count` tensor-table entries starting at the cursor.
pub(crate) fn read_tensor_infos(
    cur: &mut Cursor<'_>,
    count: u64,
) -> Result<Vec<TensorInfo>, GgufError> {
    cur.check_count(count, MIN_INFO_SIZE)
        .map_err(|s| s.with(format!("tensor table of `{count}` entries")))?;
    let mut infos = Vec::with_capacity(capped(count));
    let mut seen = HashSet::new();
    for index in 0..count {
        let info = read_tensor_info(cur, index)?;
        if !seen.insert(info.name.clone()) {
            return Err(GgufError::DuplicateTensor(info.name));
        }
        info.validate_shape()?;
        infos.push(info);
    }
    Ok(infos)
}

/// Parse one tensor-table entry (`index` is used in error messages).
fn read_tensor_info(cur: &mut Cursor<'_>, index: u64) -> Result<TensorInfo, GgufError> {
    let start = cur.pos();
    let name_bytes = cur
        .string_bytes()
        .map_err(|s| s.with(format!("name of tensor #{index}")))?;
    let name = utf8(name_bytes, start, || format!("name of tensor #{index}"))?.to_owned();
    let what = || format!("header of tensor `{name}`");
    let n_dims = cur.u32().map_err(|s| s.with(what()))?;
    if n_dims > MAX_DIMS {
        return Err(GgufError::TooManyDims { name, n_dims });
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(cur.u64().map_err(|s| s.with(what()))?);
    }
    let dtype = GgmlType::from_id(cur.u32().map_err(|s| s.with(what()))?);
    let offset = cur.u64().map_err(|s| s.with(what()))?;
    Ok(TensorInfo {
        name,
        dims,
        dtype,
        offset,
    })
}

/// Check that a tensor's data is aligned and lies inside the file.
///
/// Tensors of unknown layout are only checked for alignment.
pub(crate) fn check_data_range(
    info: &TensorInfo,
    data_start: u64,
    alignment: u64,
    file_len: u64,
) -> Result<(), GgufError> {
    if !info.offset.is_multiple_of(alignment) {
        return Err(GgufError::MisalignedTensor {
            name: info.name.clone(),
            offset: info.offset,
            alignment,
        });
    }
    let Some(size) = info.byte_size() else {
        return Ok(());
    };
    let start = data_start.saturating_add(info.offset);
    let end = start.saturating_add(size);
    if end > file_len {
        return Err(GgufError::TruncatedTensor {
            name: info.name.clone(),
            start,
            end,
            file_len,
        });
    }
    Ok(())
}
