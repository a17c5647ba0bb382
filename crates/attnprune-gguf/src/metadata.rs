//! Metadata values: the typed key/value pairs in a GGUF header.

use crate::cursor::{capped, utf8, Cursor};
use crate::error::GgufError;

/// Deepest array nesting accepted when reading (guards the stack against
/// forged files; real files nest at most one level).
pub const MAX_ARRAY_DEPTH: usize = 8;

/// One metadata value, mirroring GGUF's value types.
///
/// Kept as a plain enum so callers can match on the exact stored type; the
/// `as_*` helpers offer lenient numeric access.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    /// GGUF type 0.
    U8(u8),
    /// GGUF type 1.
    I8(i8),
    /// GGUF type 2.
    U16(u16),
    /// GGUF type 3.
    I16(i16),
    /// GGUF type 4.
    U32(u32),
    /// GGUF type 5.
    I32(i32),
    /// GGUF type 6.
    F32(f32),
    /// GGUF type 7 (one byte, non-zero is true).
    Bool(bool),
    /// GGUF type 8 (UTF-8, length-prefixed).
    String(String),
    /// GGUF type 9 (homogeneous when written by this crate).
    Array(Vec<MetadataValue>),
    /// GGUF type 10.
    U64(u64),
    /// GGUF type 11.
    I64(i64),
    /// GGUF type 12.
    F64(f64),
}

impl MetadataValue {
    /// The value as an unsigned integer if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetadataValue::U8(v) => Some(v.into()),
            MetadataValue::U16(v) => Some(v.into()),
            MetadataValue::U32(v) => Some(v.into()),
            MetadataValue::U64(v) => Some(v),
            _ => self.as_i64().and_then(|v| u64::try_from(v).ok()),
        }
    }

    /// The value as a signed integer if it is an integer of any width that fits `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            MetadataValue::I8(v) => Some(v.into()),
            MetadataValue::I16(v) => Some(v.into()),
            MetadataValue::I32(v) => Some(v.into()),
            MetadataValue::I64(v) => Some(v),
            MetadataValue::U8(v) => Some(v.into()),
            MetadataValue::U16(v) => Some(v.into()),
            MetadataValue::U32(v) => Some(v.into()),
            MetadataValue::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as `f64` if it is a float or an integer (large 64-bit
    /// integers are rounded to the nearest `f64`).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetadataValue::F32(v) => Some(v.into()),
            MetadataValue::F64(v) => Some(v),
            MetadataValue::U64(v) => Some(v as f64),
            MetadataValue::I64(v) => Some(v as f64),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The value as a string slice if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetadataValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements if the value is an array.
    pub fn as_array(&self) -> Option<&[MetadataValue]> {
        match self {
            MetadataValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The value as a bool if it is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetadataValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Short type name (`u32`, `string`, `array<f32>`...) for error messages.
    pub fn type_name(&self) -> String {
        match self {
            MetadataValue::Array(items) => match items.first() {
                Some(first) => format!("array<{}>", first.type_name()),
                None => "array<>".to_string(),
            },
            other => other.type_id_name().1.to_string(),
        }
    }

    /// GGUF numeric type id and lowercase name of this value.
    pub(crate) fn type_id_name(&self) -> (u32, &'static str) {
        match self {
            MetadataValue::U8(_) => (0, "u8"),
            MetadataValue::I8(_) => (1, "i8"),
            MetadataValue::U16(_) => (2, "u16"),
            MetadataValue::I16(_) => (3, "i16"),
            MetadataValue::U32(_) => (4, "u32"),
            MetadataValue::I32(_) => (5, "i32"),
            MetadataValue::F32(_) => (6, "f32"),
            MetadataValue::Bool(_) => (7, "bool"),
            MetadataValue::String(_) => (8, "string"),
            MetadataValue::Array(_) => (9, "array"),
            MetadataValue::U64(_) => (10, "u64"),
            MetadataValue::I64(_) => (11, "i64"),
            MetadataValue::F64(_) => (12, "f64"),
        }
    }
}

/// GGUF value type id of arrays.
pub(crate) const TYPE_ARRAY: u32 = 9;
/// GGUF value type id of strings.
pub(crate) const TYPE_STRING: u32 = 8;

/// Smallest encoded size in bytes of one value of GGUF type `type_id`,
/// or `None` for an unknown type.
fn min_encoded_size(type_id: u32) -> Option<u64> {
    match type_id {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        TYPE_STRING | 10..=12 => Some(8),
        TYPE_ARRAY => Some(12),
        _ => None,
    }
}

/// Reads metadata values for one key, carrying the key for error messages.
pub(crate) struct ValueReader<'k> {
    /// The key whose value is being read.
    pub(crate) key: &'k str,
}

impl ValueReader<'_> {
    /// Read one value of GGUF type `type_id` at `depth` levels of array nesting.
    pub(crate) fn read(
        &self,
        cur: &mut Cursor<'_>,
        type_id: u32,
        depth: usize,
    ) -> Result<MetadataValue, GgufError> {
        let short =
            |s: crate::cursor::Short| s.with(format!("value of metadata key `{}`", self.key));
        let v = match type_id {
            0 => MetadataValue::U8(cur.u8().map_err(short)?),
            1 => MetadataValue::I8(i8::from_le_bytes(cur.array().map_err(short)?)),
            2 => MetadataValue::U16(cur.u16().map_err(short)?),
            3 => MetadataValue::I16(i16::from_le_bytes(cur.array().map_err(short)?)),
            4 => MetadataValue::U32(cur.u32().map_err(short)?),
            5 => MetadataValue::I32(i32::from_le_bytes(cur.array().map_err(short)?)),
            6 => MetadataValue::F32(f32::from_le_bytes(cur.array().map_err(short)?)),
            7 => MetadataValue::Bool(cur.u8().map_err(short)? != 0),
            TYPE_STRING => MetadataValue::String(self.string(cur)?),
            TYPE_ARRAY => MetadataValue::Array(self.array(cur, depth)?),
            10 => MetadataValue::U64(cur.u64().map_err(short)?),
            11 => MetadataValue::I64(i64::from_le_bytes(cur.array().map_err(short)?)),
            12 => MetadataValue::F64(f64::from_le_bytes(cur.array().map_err(short)?)),
            _ => return Err(self.unknown(type_id)),
        };
        Ok(v)
    }

    /// Read a string value.
    fn string(&self, cur: &mut Cursor<'_>) -> Result<String, GgufError> {
        let start = cur.pos();
        let bytes = cur
            .string_bytes()
            .map_err(|s| s.with(format!("string value of metadata key `{}`", self.key)))?;
        let s = utf8(bytes, start, || {
            format!("string value of metadata key `{}`", self.key)
        })?;
        Ok(s.to_owned())
    }

    /// Read an array value: element type, count, then the elements.
    fn array(&self, cur: &mut Cursor<'_>, depth: usize) -> Result<Vec<MetadataValue>, GgufError> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(GgufError::NestingTooDeep {
                key: self.key.to_owned(),
                max: MAX_ARRAY_DEPTH,
            });
        }
        let what = || format!("array header of metadata key `{}`", self.key);
        let elem_type = cur.u32().map_err(|s| s.with(what()))?;
        let count = cur.u64().map_err(|s| s.with(what()))?;
        let min = min_encoded_size(elem_type).ok_or_else(|| self.unknown(elem_type))?;
        cur.check_count(count, min).map_err(|s| {
            s.with(format!(
                "`{count}` array elements of metadata key `{}`",
                self.key
            ))
        })?;
        let mut items = Vec::with_capacity(capped(count));
        for _ in 0..count {
            items.push(self.read(cur, elem_type, depth + 1)?);
        }
        Ok(items)
    }

    /// The error for an unknown value type id.
    fn unknown(&self, type_id: u32) -> GgufError {
        GgufError::UnknownValueType {
            key: self.key.to_owned(),
            type_id,
        }
    }
}
