//! Bounds-checked little-endian reading over an in-memory file.

use crate::error::GgufError;

/// A read that ran past the end of the input; turned into
/// [`GgufError::Truncated`] once the caller adds context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Short {
    offset: usize,
    needed: u64,
    available: usize,
}

impl Short {
    /// Attach a description of what was being read.
    pub(crate) fn with(self, what: impl Into<String>) -> GgufError {
        GgufError::Truncated {
            what: what.into(),
            offset: self.offset as u64,
            needed: self.needed,
            available: self.available as u64,
        }
    }
}

/// Forward-only cursor; every read checks the remaining length first.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Start reading at the beginning of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// Current byte offset.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// The error describing a failed read of `needed` bytes here.
    pub(crate) fn short(&self, needed: u64) -> Short {
        Short {
            offset: self.pos,
            needed,
            available: self.remaining(),
        }
    }

    /// Consume exactly `n` bytes.
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], Short> {
        let len = usize::try_from(n).map_err(|_| self.short(n))?;
        let end = self.pos.checked_add(len).ok_or_else(|| self.short(n))?;
        let slice = self.bytes.get(self.pos..end).ok_or_else(|| self.short(n))?;
        self.pos = end;
        Ok(slice)
    }

    /// Consume a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let slice = self.take(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Read a `u8`.
    pub(crate) fn u8(&mut self) -> Result<u8, Short> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    /// Read a little-endian `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Read a little-endian `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Read a little-endian `u64`.
    pub(crate) fn u64(&mut self) -> Result<u64, Short> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Read a GGUF string (u64 length + bytes) as raw bytes.
    ///
    /// The length is checked against the remaining input before anything is
    /// allocated, so a forged length cannot cause a huge allocation.
    pub(crate) fn string_bytes(&mut self) -> Result<&'a [u8], Short> {
        let len = self.u64()?;
        self.take(len)
    }

    /// Check that `count` items of at least `min_size` bytes each can still
    /// fit in the input; used before pre-allocating for a declared count.
    pub(crate) fn check_count(&self, count: u64, min_size: u64) -> Result<(), Short> {
        let needed = count.saturating_mul(min_size);
        if needed > self.remaining() as u64 {
            return Err(self.short(needed));
        }
        Ok(())
    }
}

/// Upper bound on elements pre-allocated for any count read from a file.
pub(crate) const MAX_PREALLOC: usize = 1 << 16;

/// Capacity to reserve for a (validated) count read from a file.
pub(crate) fn capped(count: u64) -> usize {
    usize::try_from(count)
        .unwrap_or(MAX_PREALLOC)
        .min(MAX_PREALLOC)
}

/// Decode bytes as UTF-8, naming the string on failure.
pub(crate) fn utf8(
    bytes: &[u8],
    offset: usize,
    what: impl FnOnce() -> String,
) -> Result<&str, GgufError> {
    std::str::from_utf8(bytes).map_err(|_| GgufError::InvalidUtf8 {
        what: what(),
        offset: offset as u64,
    })
}
